# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Walking a relocation back, and holding Docker's units down meanwhile.  Internal to dockyard.migrate.

Part of the relocation transaction (_transaction.Relocation): the units masked
for the window and unmasked on every way out, the rollback (the switches'
undo, the files' original texts from the journal, Docker started first), and
the copy back of what Docker wrote on the new root before a rollback.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import os
import time

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _copy, _fileops, _lock, _passes, _selinux, _switches, _systemd, _testhooks, _units)
from ansible_collections.dockyard.migrate.plugins.module_utils._move import Move, RelocationError


class FailedForward(RelocationError):
    """Docker served from the new root and what it wrote there could not be carried back: Docker is left
    serving from the new root."""


class Rollback:
    """Needs the transaction's ``host``, ``journal``, ``opts``, ``moves``, ``runner``, ``status``, ``result``,
    ``actions``, ``served_new_root`` and its ``start_and_wait``, ``settle`` and ``with_containerd``."""

    # ------------------------------------------------------------ Docker's units held down in the window
    def hold_units(self, best_effort=False):
        """From the stop until the switch is done nothing may start Docker (an agent, a timer, a socket, a
        dependent unit would start it on the old root, half copied): its units, and containerd's when its
        root moves, are masked for this boot.  The journal records them first, so that a rerun after a kill
        unmasks what the killed run left masked."""
        units = [u for u in self.host.window_units(self.with_containerd) if not _systemd.masked_at_runtime(u)]
        if not units:
            return
        masked = sorted(set(self.journal.get("masked") or []) | set(units))
        if best_effort:
            self.journal.try_save(masked=masked)
        else:
            self.journal.save(masked=masked)
        try:
            _lock.note_window(self.journal.path, masked, self.lock_dir)
        except OSError as exc:  # the journal holds the record as well
            self.actions.append("could not note the masked units in %s: %s" % (self.lock_dir, exc))
        self.host.mask(units)
        self.actions.append("masked %s until the switch is done" % ", ".join(units))

    def window_held_elsewhere(self):
        """Refuse when the note beside the lock names a move whose window still holds Docker's units masked and
        whose journal this run cannot continue: another target's, or this one's when its disk is missing."""
        note = _lock.window_note(self.lock_dir)
        if not note:
            return
        held = [u for u in note.get("masked") or [] if _systemd.masked_at_runtime(u)]
        if not held:
            _lock.clear_window(self.lock_dir)  # unmasked since (by hand): the note is stale
            return
        if note["marker"] == self.journal.path and self.journal:
            return
        raise RelocationError(
            "Docker's units %s are held masked by an interrupted move journalled in %s%s. Run that move again "
            "(path: the directory beside that marker) to finish or roll it back; should that marker be lost for "
            "good, lift the masks by hand (systemctl unmask --runtime %s) once you know which root Docker must "
            "serve. This run changes nothing" % (
                ", ".join(held), note["marker"],
                " which cannot be read (is its data disk mounted?)" if not os.path.exists(note["marker"]) else "",
                " ".join(held)),
            "preflight")

    def holding_units(self):
        """Whether units this run's journal recorded as masked are masked now (a killed run's window)."""
        return any(_systemd.masked_at_runtime(u) for u in self.journal.get("masked") or [])

    def release_units(self, quietly=False):
        """Unmask what hold_units masked (in this run or in a killed one).  Never fails the run for its
        record: the journal may sit on a full disk, and unmasking a unit that is not masked changes
        nothing.  QUIETLY (on the way out of a run) a failing systemctl is not raised either."""
        masked = self.journal.get("masked") or []
        if not masked or self.check_mode:
            return
        note = _lock.window_note(self.lock_dir)
        if note and note["marker"] != self.journal.path:
            return  # the units are held for another move's window now: never lifted from here
        try:
            self.host.unmask(masked)
        except RelocationError:
            if not quietly:
                raise
            return
        self.journal["masked"] = []
        self.journal.try_save()
        if note:
            _lock.clear_window(self.lock_dir)
        self.actions.append("unmasked %s" % ", ".join(masked))

    # ------------------------------------------------------------ rollback
    def refused_in_window(self, exc):
        """A rerun that cannot continue the window a killed run left open (the host changed meanwhile) rolls
        that window back, so that the refusal never leaves Docker stopped."""
        if self.journal.done("start"):
            raise RelocationError("%s; the interrupted move had started Docker on the new root, so its window is not "
                                  "rolled back blindly: see %s" % (exc, self.journal.path), "preflight",
                                  rolled_back=False)
        try:
            self.rollback()
        except Exception as rb_exc:
            raise RelocationError("%s; the window of the interrupted move (Docker stopped since phase %s) could "
                                  "not be rolled back either: %s" % (exc, self.journal.phase, rb_exc), "preflight",
                                  rolled_back=False)
        raise RelocationError("%s; the interrupted move was rolled back instead: Docker serves from %s again" % (
            exc, self.moves[0].source), "preflight", rolled_back=True)

    def rollback(self):
        """Walk back what the window did and start Docker on the original root.  Docker is started before
        anything is written to the journal, and those writes are best-effort: the journal sits on the target
        disk, which may be the full disk that failed the move."""
        self.actions.append("rolling back")
        # A run killed from here on is finished by the next run, which must not take the window for a move's.
        self.journal.try_save(phase="rollback", served=self.served_new_root)
        try:
            self.hold_units(best_effort=True)
        except RelocationError as exc:  # the units were held for the window already; never a reason to stop here
            self.actions.append("could not mask Docker's units for the rollback: %s" % exc)
        try:
            self.host.stop_docker(with_containerd=self.with_containerd)
        except RelocationError:
            pass
        if self.served_new_root:
            self.copy_back()
        try:
            self.walk_back()
        except Exception as exc:
            raise RelocationError(self.start_anyway("the rollback stopped: %s" % exc))
        self.release_units()
        self.start_and_wait(self.moves, "Docker did not start on the original root")
        if not self.journal.try_save(phase="rolled_back",
                                     phases_done=self.journal.keep_only_phases("record", "online_copy")):
            # A marker left saying the window is open would have a later run continue a move that is over.
            self.actions.append("could not write %s (rolled back all the same); %s" % (
                self.journal.path, "removed it" if self.journal.discard() else "it still names the window"))
        if self.journal.get("inventory"):
            _inv, problems, _started = self.settle(self.journal["inventory"])
            if problems:
                raise RelocationError("after the rollback the inventory differs: %s" % "; ".join(problems[:5]))
        self.actions.append("rolled back to %s" % self.moves[0].source)

    def finish_rollback(self):
        """A run killed inside its rollback: finish that rollback (each step is skipped when done)."""
        self.served_new_root = bool(self.journal.get("served"))
        self.rollback()
        self.actions.append("finished the rollback of an interrupted run; moving again")

    def walk_back(self):
        """Undo each switch, then put the files the switch changed back as the journal froze them."""
        texts = self.journal.get("texts_before") or {}
        for m in self.moves:
            m.switch.undo(m, self)
            try:
                _selinux.unlabel(self.runner, m.source, m.target)
            except RelocationError as exc:  # a label left behind must not keep Docker down
                self.actions.append("could not remove the SELinux equivalence: %s" % exc)
        _testhooks.reached("rollback_after_undo")
        for path, keep_empty in ((self.opts.fstab, True), (self.opts.daemon_json, False)):
            if path in texts and _fileops.read_text(path, default="") != texts[path]:
                self.host.restore_file(path, texts[path], keep_empty=keep_empty)
        for m in self.moves:
            self.host.restore_file(_systemd.dropin_path(m.name), texts.get(_systemd.dropin_path(m.name), ""))
        self.host.daemon_reload()
        _testhooks.reached("rollback_after_files")

    def start_anyway(self, problem):
        """A step of the rollback failed: Docker is started all the same, wherever the host now points it (the
        drop-in's sentinel keeps it off an empty stand-in), and the message says where it serves from."""
        try:
            self.release_units()
            self.start_and_wait(self.moves, "Docker did not answer")
            where = "Docker was started all the same and serves from %s" % self.client.info().get("DockerRootDir")
        except Exception as exc:
            where = "Docker could not be started: %s" % exc
        return "%s; %s" % (problem, where)

    def copy_back(self, back=None, serve=None, served=None, where="the new root"):
        """Docker served from the new root before the failure: what its containers wrote there is copied back
        onto the original (a delta: the original was an exact copy when Docker stopped) before the switch is
        undone, as state=restored does.  When that cannot be done, Docker is started again where it served
        (FailedForward): nothing written is thrown away.

        BACK are the copies to make (from where Docker served onto where it goes back to), SERVE the moves to
        start Docker with when they fail, SERVED the paths Docker served from; by default those of a rollback."""
        serve = serve or self.moves
        served = served or [m.service_root for m in self.moves]
        try:
            back = back or [Move(m.name, m.target, _switches.original_home(m, self), m.switch, m.mount_point)
                            for m in self.moves]
            self.host.check_stopped(self.host.window_units(self.with_containerd), self.host.stop_timeout)
            for path in served:
                left = self.host.wait_quiet(path, self.host.stop_timeout)
                if left:
                    raise RelocationError("mounts remain under %s: %s" % (path, ", ".join(left[:5])))
            for m in back:
                self.host.drop_self_bind(m.source)
            secs = moved = 0
            for m in back:
                # Nothing is destroyed where the copy lands: what it replaces or deletes there is kept in a
                # directory beside it.
                keep = "%s.dockyard-copyback-%s" % (m.target, time.strftime("%Y%m%dT%H%M%S"))
                opts = copy.copy(self.opts)
                opts.rsync_opts = list(self.opts.rsync_opts) + ["--backup", "--backup-dir=%s" % keep]
                s, b = _passes.Passes(opts, [m], self.status, self.result).run("copy_back", False)
                secs, moved = secs + s, moved + b
        except (RelocationError, _copy.CopyError, OSError) as exc:
            self.release_units()
            self.start_and_wait(serve, "Docker did not start where it served either")
            raise FailedForward(str(exc))
        self.actions.append("copied what Docker wrote on %s back onto %s (%s in %.1f s)" % (
            where, ", ".join(m.target for m in back), _units.human(moved), secs))
