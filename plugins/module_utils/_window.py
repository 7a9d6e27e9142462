# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Docker's downtime window: its units held down, stopped and started.  Internal to dockyard.migrate.

A collaborator of every operation of data_root (moved, restored, cleaned) and of
the rollback: the units masked for the window and unmasked on every way out
(recorded in the journal first, and noted beside the lock), Docker stopped until
nothing is mounted under its roots, and started until it answers.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.dockyard.migrate.plugins.module_utils import _testhooks
from ansible_collections.dockyard.migrate.plugins.module_utils._move import RelocationError


class Window:
    """Docker's units for CTX (a _run.Run)."""

    def __init__(self, ctx):
        self.ctx = ctx

    def hold_units(self, best_effort=False):
        """From the stop until the switch is done nothing may start Docker (an agent, a timer, a socket, a
        dependent unit would start it on the old root, half copied): its units, and containerd's when its
        root moves, are masked for this boot.  The journal records them first, so that a rerun after a kill
        unmasks what the killed run left masked."""
        units = [u for u in self.ctx.host.window_units(self.ctx.with_containerd) if not self.ctx.host.masked(u)]
        if not units:
            return
        masked = sorted(set(self.ctx.journal.get("masked") or []) | set(units))
        if best_effort:
            self.ctx.journal.try_save(masked=masked)
        else:
            self.ctx.journal.save(masked=masked)
        try:
            self.ctx.host.note_window(self.ctx.journal.path, masked)
        except OSError as exc:  # the journal holds the record as well
            self.ctx.actions.append("could not note the masked units in %s: %s" % (self.ctx.host.lock_dir, exc))
        self.ctx.host.mask(units)
        self.ctx.actions.append("masked %s until the switch is done" % ", ".join(units))

    def window_held_elsewhere(self):
        """Refuse when the note beside the lock names a move whose window still holds Docker's units masked and
        whose journal this run cannot continue: another target's, or this one's when its disk is missing."""
        note = self.ctx.host.window_note()
        if not note:
            return
        held = [u for u in note.get("masked") or [] if self.ctx.host.masked(u)]
        if not held:
            self.ctx.host.clear_window()  # unmasked since (by hand): the note is stale
            return
        if note["marker"] == self.ctx.journal.path and self.ctx.journal:
            return
        raise RelocationError(
            "Docker's units %s are held masked by an interrupted move journalled in %s%s. Run that move again "
            "(path: the directory beside that marker) to finish or roll it back; should that marker be lost for "
            "good, lift the masks by hand (systemctl unmask --runtime %s) once you know which root Docker must "
            "serve. This run changes nothing" % (
                ", ".join(held), note["marker"],
                " which cannot be read (is its data disk mounted?)" if not self.ctx.host.exists(note["marker"]) else "",
                " ".join(held)),
            "preflight")

    def holding_units(self):
        """Whether units this run's journal recorded as masked are masked now (a killed run's window)."""
        return any(self.ctx.host.masked(u) for u in self.ctx.journal.get("masked") or [])

    def release_units(self, quietly=False):
        """Unmask what hold_units masked (in this run or in a killed one).  Never fails the run for its
        record: the journal may sit on a full disk, and unmasking a unit that is not masked changes
        nothing.  QUIETLY (on the way out of a run) a failing systemctl is not raised either."""
        masked = self.ctx.journal.get("masked") or []
        if not masked or self.ctx.check_mode:
            return
        note = self.ctx.host.window_note()
        if note and note["marker"] != self.ctx.journal.path:
            return  # the units are held for another move's window now: never lifted from here
        try:
            self.ctx.host.unmask(masked)
        except RelocationError:
            if not quietly:
                raise
            return
        self.ctx.journal["masked"] = []
        self.ctx.journal.try_save()
        if note:
            self.ctx.host.clear_window()
        self.ctx.actions.append("unmasked %s" % ", ".join(masked))

    def stop_quiet(self, roots, phase=None):
        """Stop Docker (and containerd when its root moves), check its units are down and wait until nothing
        is mounted under ROOTS any more."""
        self.ctx.host.stop_docker(with_containerd=self.ctx.with_containerd)
        self.ctx.host.check_stopped(self.ctx.host.window_units(self.ctx.with_containerd), self.ctx.host.stop_timeout)
        self.ctx.actions.append("stopped Docker")
        for root in roots:
            left = self.ctx.host.wait_quiet(root, self.ctx.host.stop_timeout)
            if left:
                raise RelocationError("after stopping Docker, mounts remain under %s: %s" % (
                    root, ", ".join(left[:5])), phase)

    def start_and_wait(self, moves, failure, phase=None):
        self.ctx.host.start_docker(with_containerd=any(m.name == "containerd" for m in moves))
        if not self.ctx.host.wait_docker(self.ctx.opts.verify_timeout):
            raise RelocationError(failure, phase)

    def serve(self, phase="start"):
        """Docker started on the roots of the run's moves and answering: from here its containers may write
        there (the move's start phase, and the restore's).  PHASE is marked done in the journal once Docker
        answers: the move's; a restore, which journals its own phases (restore_start), gives None."""
        # Served from the moment the start is attempted: a start that fails or times out may still have let
        # dockerd restore containers that wrote there (their shims outlive it).  Recorded before the start.
        self.ctx.served_new_root = True
        self.ctx.journal.save(served=True, copied_back=False)
        self.release_units()
        self.ctx.served_since = self.ctx.host.time()
        self.start_and_wait(self.ctx.moves, "Docker did not answer within %ss after starting on the new root" %
                            self.ctx.opts.verify_timeout, "start")
        self.ctx.actions.append("started Docker")
        if phase:
            self.ctx.journal.mark(phase)
        _testhooks.reached("after_start")
