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

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _copy, _fileops, _passes, _selinux, _systemd, _testhooks, _units)
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
        self.host.mask(units)
        self.actions.append("masked %s until the switch is done" % ", ".join(units))

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
        try:
            self.host.unmask(masked)
        except RelocationError:
            if not quietly:
                raise
            return
        self.journal["masked"] = []
        self.journal.try_save()
        self.actions.append("unmasked %s" % ", ".join(masked))

    # ------------------------------------------------------------ rollback
    def rollback(self):
        """Walk back what the window did and start Docker on the original root.  Docker is started before
        anything is written to the journal, and those writes are best-effort: the journal sits on the target
        disk, which may be the full disk that failed the move."""
        self.actions.append("rolling back")
        self.hold_units(best_effort=True)
        try:
            self.host.stop_docker(with_containerd=self.with_containerd)
        except RelocationError:
            pass
        if self.served_new_root:
            self.copy_back()
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

    def copy_back(self):
        """Docker served from the new root before the failure: what its containers wrote there is copied back
        onto the original (a delta: the original was an exact copy when Docker stopped) before the switch is
        undone, as state=restored does.  When that cannot be done, Docker is started on the new root again
        (FailedForward): nothing written is thrown away."""
        back = [Move(m.name, m.target, m.backup if m.backup_kept else m.source, m.switch, m.mount_point)
                for m in self.moves]
        try:
            self.host.check_stopped(self.host.window_units(self.with_containerd), self.host.stop_timeout)
            for m in self.moves:
                left = self.host.wait_quiet(m.service_root, self.host.stop_timeout)
                if left:
                    raise RelocationError("mounts remain under %s: %s" % (m.service_root, ", ".join(left[:5])))
                self.host.drop_self_bind(m.target)
            secs = moved = 0
            for m in back:
                # Nothing on the original is destroyed: what the copy back replaces or deletes there is kept in a
                # directory beside it.
                keep = "%s.dockyard-copyback-%s" % (m.target, self.journal.stamp)
                opts = copy.copy(self.opts)
                opts.rsync_opts = list(self.opts.rsync_opts) + ["--backup", "--backup-dir=%s" % keep]
                s, b = _passes.Passes(opts, [m], self.status, self.result).run("copy_back", False)
                secs, moved = secs + s, moved + b
        except (RelocationError, _copy.CopyError, OSError) as exc:
            self.release_units()
            self.start_and_wait(self.moves, "Docker did not start on the new root either")
            raise FailedForward(str(exc))
        self.actions.append("copied what Docker wrote on the new root back onto the original (%s in %.1f s)" % (
            _units.human(moved), secs))
