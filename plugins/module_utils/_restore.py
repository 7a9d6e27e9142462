# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Moving Docker back to the original an earlier move kept (``state: restored``).  Internal to dockyard.migrate.

What Docker holds now is copied back onto the kept original (a delta: the
original was an exact copy at the time of the move), then each move's switch
is undone (the bind mount and its fstab line, or data-root in daemon.json) and
the drop-ins are put back as they were.  The copy on the target disk is left
where it is.  On a failure the moved root is put back in service.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _disk, _fileops, _layout, _mountinfo, _plan, _preflight, _switches, _systemd)
from ansible_collections.dockyard.migrate.plugins.module_utils import _testhooks
from ansible_collections.dockyard.migrate.plugins.module_utils._move import Move, RelocationError
from ansible_collections.dockyard.migrate.plugins.module_utils._rollback import FailedForward
from ansible_collections.dockyard.migrate.plugins.module_utils._transaction import Relocation

FINISHED = ("restored", "rolled_back", "done", None)
# The phases of a restore that stopped Docker and has not brought it back.  From restore_switch on, the originals
# hold everything (the delta was copied back while Docker was stopped): a rerun finishes the switch back.
WINDOW = ("restore_stop", "restore_final_copy", "restore_switch", "restore_start", "restore_reapply")


class Restore(Relocation):
    """``self.fwd`` are the moves as the forward move recorded them; ``self.moves`` the copies back."""

    fwd = ()

    def _run(self):
        self.journal.load()
        self.window_held_elsewhere()
        if not self.journal or not self.journal.recorded_moves():
            _preflight.refuse("no record of a move to %s (%s is missing): nothing to roll back" % (
                self.opts.path, self.journal.path))
        facts = self.gather()
        running = facts["engine"].get("running")
        self.fwd = [_switches.move_from_dict(d) for d in self.journal.recorded_moves()]
        self.journal.moves = self.fwd
        mounts = _mountinfo.read()
        switched = [m for m in self.fwd if m.switch.is_applied(m, self, mounts, facts["config"]["daemon_json"])]
        if self.journal.phase in WINDOW and not self.check_mode:
            return self.resume(running, bool(switched))
        if not switched and self.journal.phase in FINISHED:
            if not running:
                _preflight.refuse("Docker is not running; start it (systemctl start docker)")
            self.result["moves"] = [m.to_dict() for m in self.fwd]
            return self.result
        self.preflight(running)
        for m in self.fwd:
            if m.disk:  # the original disk is mounted beside its root to receive the copy back
                m.backup = _disk.staging_path(m)
                if not self.check_mode:
                    _disk.mount_disk(m, self, m.backup, "preflight")
        self.moves = [m.reversed() for m in self.fwd]
        for m in self.moves:
            m.size = _layout.measure(m.source).bytes
        self.result["moves"] = [m.to_dict() for m in self.fwd]
        self.result["changed"] = True
        if self.check_mode:
            for m in self.fwd:
                if m.disk:
                    self.actions.append("mount the original disk (%s) at %s, copy %s back onto it, stop Docker, copy "
                                        "the delta" % (m.disk["line"], m.backup, m.target))
                    self.actions.append("unmount the bind, put the disk's fstab line back in place of the bind line "
                                        "and mount the disk at %s" % m.source)
                    continue
                self.actions.append("copy %s back onto the kept original %s, stop Docker, copy the delta" % (
                    m.target, m.backup))
                self.actions.append("undo the %s switch and put %s back at %s" % (m.switch.kind, m.backup, m.source))
            self.actions.append("start Docker and verify the inventory")
            return self.result
        self.restore()
        return self.result

    def preflight(self, running):
        missing = [m for m in self.fwd if not m.disk and not (m.backup and os.path.isdir(m.backup))]
        if missing:
            _preflight.refuse(
                "the original of %s was not kept (%s): the move ran with keep_source=false, so there is nothing to "
                "roll back to; move Docker again with dockyard.migrate.data_root instead" % (
                    ", ".join(m.source for m in missing), ", ".join(str(m.backup) for m in missing)))
        if not running:
            _preflight.refuse("Docker is not running, so its inventory cannot be recorded; start it first")
        _preflight.has_rsync()

    def resume(self, running, switched):
        """A restore interrupted inside its window.  Once the switch back is done, or under way with the moved
        root no longer in service, the originals hold everything (the delta was copied back with Docker
        stopped): the switch back is finished.  Otherwise the moved root is put back in service and the
        restore starts over: before the switch back Docker serves from it, and when Docker has run on it since
        (a reboot lifts the masks and mounts the bind again) the original put back under it is stale."""
        phase = self.journal.phase
        self.result["changed"] = True
        ran = running or self.host.started_since(self.journal.get("updated"))
        if phase == "restore_start" or (phase == "restore_switch" and not (switched and ran)):
            if phase == "restore_switch":
                self.switch_back()
                self.journal.save(phase="restore_start")
            if not running:
                self.release_units()
                self.start_and_wait(self.fwd, "Docker did not start on the original root after an interrupted "
                                    "restore", "start")
            self.actions.append("finished a restore interrupted in %s: Docker serves from %s" % (
                phase, self.fwd[0].source))
            self.check_root(self.fwd[0].source, "verify")
            return self.finish()
        if phase == "restore_reapply" and self.journal.get("carry") and not self.journal.get("carried"):
            self.carry_forward()
        self.reapply_forward()
        self.journal.save(phase="restore_record")
        self.actions.append("put the moved root back in service after a restore interrupted in %s; restoring "
                            "again" % phase)
        return self._run()

    def finish(self):
        self.result["original"] = [{"name": m.name, "source": m.source, "removed": False, "backup": None,
                                    "left_copy": m.target} for m in self.fwd]
        self.actions.append("the copy at %s is left in place" % ", ".join(m.target for m in self.fwd))
        for m in self.fwd:
            m.backup = None
        self.moves = self.fwd
        self.journal.save(phase="restored", finished=time.time())
        self.result["moves"] = [m.to_dict() for m in self.fwd]
        return self.result

    def restore(self):
        self.journal.save(phase="restore_record")
        self.record_inventory()
        settled = self.passes.committed_layers() if self.opts.walk_mutable else None
        self.result["online_copy_seconds"] = round(self.passes.run("online_copy", True)[0], 3)
        self.passes.check_time_left()
        stopped_at = time.time()
        phase = "stop"
        served_original = False
        try:
            self.journal.save(phase="restore_stop", restore_texts=_plan.current_texts(self.opts, self.fwd))
            self.stop_back()
            _testhooks.reached("restore_after_stop")
            phase = "final_copy"
            self.journal.save(phase="restore_final_copy")
            self.passes.offline(settled, self.actions)  # flushed: the journal's next phase trusts the originals
            phase = "switch"
            self.journal.save(phase="restore_switch")
            self.switch_back()
            _testhooks.reached("restore_after_switch_back")
            phase = "start"
            self.journal.save(phase="restore_start")
            self.phase_start()
            served_original = True  # Docker answered on the original: from here it may have written there
            phase = "verify"
            self.check_root(self.fwd[0].source)
            self.verified(self.fwd[0].source, problem="the inventory after the rollback differs")
            if _testhooks.fails("restore_verify"):
                raise RelocationError("the verification was made to fail (DOCKYARD_MIGRATE_FAULT=restore_verify)",
                                      "verify")
        except Exception as exc:
            self.journal.try_save(phase="restore_reapply", carry=served_original, carried=False)
            try:
                if served_original:
                    self.carry_forward()
                self.reapply_forward()
                self.journal.try_save(phase="restore_failed")
            except FailedForward as ff:
                raise RelocationError("%s failed: %s. Docker had already served from the original, and what it "
                                      "wrote there could not be copied onto the moved root: %s. NOT PUT BACK: "
                                      "Docker serves from the original %s" % (
                                          phase, exc, ff, self.fwd[0].source), phase, rolled_back=False)
            except Exception as rb_exc:
                raise RelocationError("%s failed: %s; putting the moved root back failed too: %s" % (
                    phase, exc, rb_exc), phase, rolled_back=False)
            raise RelocationError("%s failed: %s; Docker serves from %s again" % (
                phase, exc, ", ".join(m.target for m in self.fwd)), phase, rolled_back=True)
        self.result["downtime_seconds"] = round(time.time() - stopped_at, 3)
        self.finish()

    def carry_forward(self):
        """Docker served from the original before the restore failed: what it wrote there is copied onto the
        moved root before the moved root is put back (nothing written is thrown away)."""
        self.hold_units(best_effort=True)
        try:
            self.host.stop_docker(with_containerd=any(m.name == "containerd" for m in self.fwd))
        except RelocationError:
            pass
        self.copy_back([Move(m.name, m.source, m.target, m.switch, m.mount_point) for m in self.fwd], self.fwd,
                       [m.source for m in self.fwd], where="the original")
        self.journal.try_save(carried=True)

    def stop_back(self):
        self.hold_units()
        self.stop_quiet([m.service_root for m in self.fwd])
        for m in self.fwd:
            m.switch.after_stop(m, self)

    def switch_back(self):
        before = self.journal.get("texts_before") or {}
        for m in self.fwd:
            m.switch.switch_back(m, self, before)
            d = _systemd.dropin_path(m.name)
            self.host.restore_file(d, before.get(d, ""))
        self.host.daemon_reload()
        self.actions.append("switched back: %s" % ", ".join("%s -> %s" % (m.target, m.source) for m in self.fwd))

    def reapply_forward(self):
        """A failed or interrupted restore puts the moved root back in service."""
        self.moves = self.moves or self.fwd  # whose units are stopped (containerd's too when its root moved)
        try:
            self.stop_quiet([m.service_root for m in self.fwd])  # a bind is lifted only once nothing is under it
        except RelocationError as exc:
            self.actions.append("stopping Docker to put the moved root back: %s" % exc)
        # The files first (the drop-in's sentinel guards the mount point from here), then the originals aside.
        for path, text in (self.journal.get("restore_texts") or {}).items():
            if _fileops.read_text(path, default="") != text:
                self.host.restore_file(path, text)
        self.host.daemon_reload()
        for m in self.fwd:
            m.switch.reapply_prepare(m, self)
        for m in self.fwd:
            m.switch.reapply_finish(m, self)
        self.release_units()
        self.start_and_wait(self.fwd, "Docker did not start on the moved root")
