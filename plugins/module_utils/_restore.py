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

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _daemon_json, _disk, _drift, _fstab, _phases, _plan, _preflight, _run, _switch, _switches, _systemd, _testhooks,
    _units)
from ansible_collections.dockyard.migrate.plugins.module_utils._move import Move, RelocationError
from ansible_collections.dockyard.migrate.plugins.module_utils._rollback import FailedForward

# With no switch applied, nothing to restore: a restore or rollback finished, a move never switched (killed or
# failed before its window: Docker kept serving the original), or a move whose switch was undone since.
FINISHED = ("restored", "rolled_back", "done", None, "preflight", "record", "online_copy", "online_copy_failed")
# The phases of a restore that stopped Docker and has not brought it back.  From restore_switch on, the originals
# hold everything (the delta was copied back while Docker was stopped): a rerun finishes the switch back.
WINDOW = _phases.RESTORE_WINDOW


class Restore(_run.Operation):
    """``state: restored`` over CTX (a _run.Run).  ``self.fwd`` are the moves as the forward move recorded them;
    the run's moves are the copies back."""

    def __init__(self, ctx):
        super(Restore, self).__init__(ctx)
        self.fwd = []

    def _run(self):
        self.ctx.journal.load()
        self.window.window_held_elsewhere()
        if not self.ctx.journal or not self.ctx.journal.recorded_moves():
            _preflight.refuse("no record of a move to %s (%s is missing): nothing to roll back" % (
                self.ctx.opts.target, self.ctx.journal.path))
        facts = self.ctx.gather()
        if _drift.drifted(self.ctx, facts["engine"]):
            if not self.repair_drift():
                return self.ctx.result
            facts = self.ctx.gather()
        running = facts["engine"].get("running")
        self.fwd = [_switches.move_from_dict(d) for d in self.ctx.journal.recorded_moves()]
        self.ctx.journal.moves = self.fwd
        mounts = self.ctx.host.mountinfo()
        switched = [m for m in self.fwd if m.switch.is_applied(m, self.ctx, mounts, facts["config"]["daemon_json"])]
        if self.ctx.journal.phase in WINDOW:
            if self.ctx.check_mode:  # the plan of the rollback playbook: what the real run will finish
                self.ctx.result.update(changed=True, moves=[m.to_dict() for m in self.fwd])
                self.ctx.actions.append("finish the restore interrupted in phase %s (Docker %s)" % (
                    self.ctx.journal.phase, "running" if running else "stopped"))
                return self.ctx.result
            return self.resume(running, switched)
        if self.ctx.journal.in_window:
            return self.roll_back_window()
        if not switched and self.ctx.journal.phase in FINISHED and not self.kept_aside():
            if not running:
                _preflight.refuse("Docker is not running; start it (systemctl start docker)")
            self.ctx.result["moves"] = [m.to_dict() for m in self.fwd]
            return self.ctx.result
        self.preflight(running, switched, facts)
        try:
            for m in self.fwd:
                if m.disk:  # the original disk is mounted beside its root to receive the copy back
                    m.backup = _disk.staging_path(m)
                    if not self.ctx.check_mode:
                        _disk.mount_disk(m, self.ctx, m.backup, "preflight")
            self.ctx.moves = [m.reversed() for m in self.fwd]
            self.room()
        except Exception:
            self.unstage()
            raise
        self.ctx.result["moves"] = [m.to_dict() for m in self.fwd]
        self.ctx.result["changed"] = True
        if self.ctx.check_mode:
            actions = self.ctx.actions
            for m in self.fwd:
                if m.disk:
                    actions.append("mount the original disk (%s) at %s, copy %s back onto it, stop Docker, copy the "
                                   "delta" % (m.disk["line"], m.backup, m.target))
                    actions.append("unmount the bind, put the disk's fstab line back in place of the bind line and "
                                   "mount the disk at %s" % m.source)
                    continue
                actions.append("copy %s back onto the kept original %s, stop Docker, copy the delta" % (
                    m.target, m.backup))
                actions.append("undo the %s switch and put %s back at %s" % (m.switch.kind, m.backup, m.source))
            self.ctx.actions.append("start Docker and verify the inventory")
            return self.ctx.result
        self.restore()
        return self.ctx.result

    def repair_drift(self):
        """Docker is down because daemon.json no longer names the moved root (rewritten since), which the drop-in
        keeps Docker from leaving: data-root is set again and Docker started there first, as the move's rerun does;
        then the restore goes on.  Returns whether it does (not in check mode, which only says so)."""
        _drift.repair(self.ctx, self.window, self.verification)
        if self.ctx.check_mode:
            self.ctx.actions.append("then copy what Docker holds back onto the kept original and switch back")
            return False
        return True

    def roll_back_window(self):
        """state=restored over a move killed inside its window (or inside its rollback): that move's rollback,
        the original serving again, as the move's own rerun would make it on a failure.  What Docker wrote on the
        new root since it started there is copied back first; the rollback decides that from the host.  A move
        killed while it removed the original (keep_source=false) has no whole original left: refused, nothing
        changed."""
        phase = self.ctx.journal.phase
        self.ctx.moves = self.fwd
        self.ctx.result["moves"] = [m.to_dict() for m in self.fwd]
        if self.ctx.journal.get("removing"):
            _preflight.refuse(
                "the move to %s was interrupted in phase %s while it removed the original (keep_source=false): there "
                "is no whole original to go back to; run the move again (state: moved, or "
                "playbooks/migrate_docker_root.yml), which finishes it" % (self.ctx.opts.target, phase))
        self.ctx.result["changed"] = True
        if self.ctx.journal.get("inventory"):
            self.ctx.result["fingerprint_before"] = self.ctx.journal["inventory"]["fingerprint"]
        what = "the move interrupted in phase %s" % phase
        if self.ctx.check_mode:
            self.ctx.actions.append("roll back %s: undo what its window did and start Docker on %s" % (
                what, self.fwd[0].source))
            return self.ctx.result
        self.rollback.roll_back()
        self.ctx.actions.append("rolled back %s" % what)
        return self.ctx.result

    def room(self):
        """The copy back must fit where it lands, before anything is copied: per filesystem, what the moved root
        holds beyond the kept original, plus the margin, against the free space there (a full original
        filesystem would stop the host's own services, and the system disk usually holds it).  An original
        disk is measured once mounted beside its root: in check mode that is left to the real run."""
        mounts = self.ctx.host.mountinfo()
        need = {}
        for m in self.ctx.moves:  # each from the moved root onto the kept original
            m.size = self.ctx.host.measure(m.source).bytes
            if not self.ctx.host.isdir(m.target):
                self.ctx.actions.append("the free space on %s is checked once it is mounted" % m.target)
                continue
            fs = self.ctx.host.filesystem(m.target, mounts)
            have = self.ctx.host.measure(m.target).bytes
            entry = need.setdefault(fs["major_minor"], {"mount_point": fs["mount_point"] or m.target, "need": 0,
                                                        "free": fs["free_bytes"] or 0, "roots": []})
            entry["need"] += max(0, m.size - have) + self.ctx.opts.margin_for(m.size)
            entry["roots"].append(m.target)
        for entry in need.values():
            if entry["free"] < entry["need"]:
                _preflight.refuse(
                    "not enough space on %s for the copy back onto %s: %s free, %s needed (what the moved root "
                    "holds beyond the original, plus margin %s); short by %s. Free space there (or lower margin) "
                    "and run again" % (
                        entry["mount_point"], ", ".join(entry["roots"]), _units.human(entry["free"]),
                        _units.human(entry["need"]), self.ctx.opts.margin,
                        _units.human(entry["need"] - entry["free"])))

    def unstage(self):
        """An original disk mounted beside its root for the copy back is unmounted again when the restore stops
        before its window (a refusal, a failed online copy): the host is left as it was."""
        mounts = self.ctx.host.mountinfo()
        for m in self.fwd:
            if m.disk and _disk.disk_mounted_at(self.ctx.host, m, mounts, _disk.staging_path(m)):
                _switch.unstage(self.ctx, m)

    def kept_aside(self):
        """Whether an original the move kept is still aside under its backup name (not put back by a restore)."""
        return any(not m.disk and m.backup and self.ctx.host.isdir(m.backup) for m in self.fwd)

    def preflight(self, running, switched, facts):
        missing = [m for m in self.fwd if not m.disk and not (m.backup and self.ctx.host.isdir(m.backup))]
        if missing:
            _preflight.refuse(
                "the original of %s was not kept (%s): the move ran with keep_source=false, so there is nothing to "
                "roll back to; move Docker again with dockyard.migrate.data_root instead" % (
                    ", ".join(m.source for m in missing), ", ".join(str(m.backup) for m in missing)))
        if not running:
            _preflight.refuse("Docker is not running, so its inventory cannot be recorded; start it first")
        unswitched = [m for m in self.fwd if m not in switched]
        if unswitched:
            # What is copied back is the moved root, and the inventory recorded is what Docker serves: they must be
            # the same root.
            _preflight.refuse(
                "Docker serves %s, and the host no longer points it at the moved root %s (%s changed since the "
                "move), so what it holds is not what a restore would copy back. Point Docker at %s again (%s), "
                "restart it, then restore" % (
                    facts["engine"].get("docker_root_dir") or "another root", ", ".join(m.target for m in unswitched),
                    ", ".join(sorted(set(self.ctx.opts.daemon_json if m.switch.kind == "daemon_json"
                                         else self.ctx.opts.fstab for m in unswitched))),
                    ", ".join(m.target for m in unswitched),
                    "; ".join(self.how_to_point(m) for m in unswitched)))
        self.refuse_in_way()
        _preflight.has_rsync(self.ctx.host)

    def how_to_point(self, m):
        """What points Docker at the moved root of M."""
        if m.switch.kind == "daemon_json":
            return "data-root in %s" % self.ctx.opts.daemon_json
        return "the line %s %s none bind 0 0 in %s, mounted" % (m.target, m.mount_point, self.ctx.opts.fstab)

    def refuse_in_way(self):
        """Refused, nothing changed: a kept original cannot be put back where something that is not an empty
        stand-in took its path (daemon_json moves: the original was renamed away, nothing is mounted there)."""
        in_way = [m for m in self.fwd if _switch.path_taken(m, self.ctx.host)]
        if in_way:
            _preflight.refuse(
                "%s is in the way of the kept original %s: something made it since the move (Docker, started "
                "there with data-root unset, makes a new root). Stop Docker if it serves it, look at what it holds, move it "
                "away, then restore" % (
                    ", ".join(m.source for m in in_way), ", ".join(m.backup for m in in_way)))

    def resume(self, running, switched):
        """A restore interrupted inside its window.  Once the switch back is done, or under way with the moved
        root no longer in service, the originals hold everything (the delta was copied back with Docker
        stopped): the switch back is finished.  Otherwise the moved root is put back in service and the
        restore starts over: before the switch back Docker serves from it, and when Docker has run on it since
        (a reboot lifts the masks and mounts the bind again) the original put back under it is stale.  SWITCHED are
        the moves whose forward switch the host still shows: where the switch back was under way with containerd's
        root too and Docker ran since on both kinds (the originals already back and the moved roots not yet), what
        it wrote on those originals is carried onto their moved roots first."""
        phase = self.ctx.journal.phase
        self.ctx.result["changed"] = True
        self.ctx.moves = self.fwd  # whose units are held and stopped here: containerd's too when its root moved
        ran = self.ran_since(running, switched, phase)
        if phase == "restore_start" or (phase == "restore_switch" and not (switched and ran)):
            if phase == "restore_switch":
                self.refuse_in_way()
                if switched:
                    # A forward switch is still to be undone, and nothing may run on what it serves while it is
                    # (containerd holds its bind busy): the units held and stopped first, as in the restore's
                    # window.
                    self.hold_and_stop(phase)
                self.switch_back()
                self.ctx.journal.save(phase="restore_start")
            if not running:
                self.window.release_units()
                self.window.start_and_wait(self.fwd, "Docker did not start on the original root after an interrupted "
                                           "restore", "start")
            self.ctx.actions.append("finished a restore interrupted in %s: Docker serves from %s" % (
                phase, self.fwd[0].source))
            self.verification.check_root(self.fwd[0].source, "verify")
            return self.finish()
        if phase == "restore_switch":
            # Decided from what the host showed (Docker ran since, the moved roots in service): recorded before any
            # change, so that a rerun after a kill or a failure in this recovery, whose own writes to the journal
            # hide that evidence (the boot, the time of Docker's start), puts the moved roots back in service too
            # instead of finishing the switch back onto stale originals.
            self.ctx.journal.save(phase="restore_reapply", carry=len(switched) < len(self.fwd), carried=False)
        # The originals the host shows in service (their forward switch undone) hold what Docker wrote since it
        # started on them: carried onto their moved roots before those go back in service, and carried again when
        # Docker ran since the last carry (a kill before the forward files were written, then a boot).
        back = [m for m in self.fwd if m not in switched]
        if phase in ("restore_switch", "restore_reapply") and back and (
                ran or (self.ctx.journal.get("carry") and not self.ctx.journal.get("carried"))):
            try:
                self.carry_forward(back)
            except FailedForward as ff:
                raise RelocationError(
                    "a restore interrupted in %s: Docker served from the original since, and what it wrote there "
                    "could not be copied onto the moved root: %s. NOT PUT BACK: Docker serves from the original %s"
                    % (phase, ff, ", ".join(m.source for m in back)), "reapply", rolled_back=False)
        self.reapply_forward()
        self.ctx.journal.save(phase="restore_record")
        self.ctx.actions.append("put the moved root back in service after a restore interrupted in %s; restoring "
                                "again" % phase)
        return self._run()

    def ran_since(self, running, switched, phase):
        """Whether Docker may have written on the roots the host shows in service since the journal's last write:
        it runs, or started since; or a boot since served them (the moved roots still SWITCHED: fstab's binds
        mounted, containerd started at boot; the originals already back, in a recovery putting the moved roots
        back, PHASE restore_reapply), Docker perhaps started and stopped again: what ran there is not seen from
        this boot, so it is taken to have written there."""
        if running or self.ctx.host.started_since(**self.ctx.journal.since()):
            return True
        return bool(switched or phase == "restore_reapply") and \
            self.ctx.journal.get("boot_id") not in (None, self.ctx.host.boot_id())

    def hold_and_stop(self, phase):
        """Docker's units (and containerd's) held and stopped to finish an interrupted switch back; a failure
        names what to do (the restore's record stays: the next run finishes it)."""
        try:
            self.window.hold_units()
            self.window.stop_quiet([m.service_root for m in self.fwd])
        except RelocationError as exc:
            raise RelocationError(
                "a restore interrupted in %s could not stop Docker to finish switching back: %s. Nothing was "
                "switched back in this run; once Docker and containerd can be stopped (systemctl stop docker "
                "containerd), run state=restored again to finish it" % (phase, exc), "stop", rolled_back=False)

    def finish(self):
        self.ctx.result["original"] = [{"name": m.name, "source": m.source, "removed": False, "backup": None,
                                        "left_copy": m.target} for m in self.fwd]
        self.ctx.actions.append("the copy at %s is left in place" % ", ".join(m.target for m in self.fwd))
        for m in self.fwd:
            m.backup = None
        self.ctx.moves = self.fwd
        self.ctx.journal.save(phase="restored", finished=self.ctx.host.time())
        self.ctx.result["moves"] = [m.to_dict() for m in self.fwd]
        return self.ctx.result

    def restore(self):
        try:
            self.ctx.journal.save(phase="restore_record")
            self.verification.record_inventory()
            settled = self.ctx.passes.committed_layers() if self.ctx.opts.walk_mutable else None
            self.ctx.result["online_copy_seconds"] = round(self.ctx.passes.run("online_copy", True)[0], 3)
            self.ctx.passes.check_time_left()
        except Exception:  # before the window: Docker still serves the moved root
            self.unstage()
            raise
        stopped_at = self.ctx.host.time()
        phase = "stop"
        served_original = False
        try:
            self.ctx.journal.save(phase="restore_stop", restore_texts=_plan.current_texts(self.ctx.host, self.ctx.opts, self.fwd))
            self.stop_back()
            _testhooks.reached("restore_after_stop")
            phase = "final_copy"
            self.ctx.journal.save(phase="restore_final_copy")
            self.ctx.passes.offline(settled, self.ctx.actions)  # flushed: the journal's next phase trusts the originals
            phase = "switch"
            self.ctx.journal.save(phase="restore_switch")
            self.switch_back()
            _testhooks.reached("restore_after_switch_back")
            phase = "start"
            self.ctx.journal.save(phase="restore_start")
            # From the start attempt on, Docker may have written on the original (a start that fails can still
            # have restored containers): a failure from here carries that onto the moved root.
            served_original = True
            self.window.serve(phase=None)  # the journal says restore_start: never the move's start
            phase = "verify"
            self.verification.check_root(self.fwd[0].source)
            self.verification.verified(self.fwd[0].source, problem="the inventory after the rollback differs")
            if _testhooks.fails("restore_verify"):
                raise RelocationError("the verification was made to fail (DOCKYARD_MIGRATE_FAULT=restore_verify)",
                                      "verify")
        except Exception as exc:
            self.ctx.journal.try_save(phase="restore_reapply", carry=served_original, carried=False)
            try:
                if served_original:
                    self.carry_forward()
                self.reapply_forward()
                self.ctx.journal.try_save(phase="restore_failed")
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
        self.ctx.result["downtime_seconds"] = round(self.ctx.host.time() - stopped_at, 3)
        self.finish()

    def carry_forward(self, back=None):
        """Docker served from the original before the restore failed: what it wrote there is copied onto the
        moved root before the moved root is put back (nothing written is thrown away): every root's, or BACK's
        (the originals the host shows in service after an interrupted switch back)."""
        self.window.hold_units(best_effort=True)
        try:
            self.ctx.host.stop_docker(with_containerd=any(m.name == "containerd" for m in self.fwd))
        except RelocationError:
            pass
        back = back or self.fwd
        self.ctx.journal.try_save(carry=True, carried=False)
        self.rollback.copy_back([Move(m.name, m.source, m.target, m.switch, m.mount_point) for m in back], self.fwd,
                                [m.source for m in back], where="the original",
                                roots=[(m.source, m.service_root) for m in back])
        self.ctx.journal.try_save(carried=True)

    def stop_back(self):
        self.window.hold_units()
        self.window.stop_quiet([m.service_root for m in self.fwd])
        for m in self.fwd:
            m.switch.after_stop(m, self.ctx)

    def switch_back(self):
        before = self.ctx.journal.get("texts_before") or {}
        for m in self.fwd:
            m.switch.switch_back(m, self.ctx, before)
            d = _systemd.dropin_path(m.name)
            self.ctx.host.restore_file(d, before.get(d, ""))
        self.ctx.host.daemon_reload()
        self.ctx.actions.append("switched back: %s" % ", ".join("%s -> %s" % (m.target, m.source) for m in self.fwd))

    def forward_text(self, path, now, recorded):
        """PATH (fstab or daemon.json) with the forward moves' switches in force again, made from what it holds NOW:
        an edit made since the restore began is kept.  RECORDED, the text the restore found, for a drop-in or a
        file that cannot be read that way."""
        try:
            if path == self.ctx.opts.fstab:
                lines = _fstab.parse(now)
                for m in self.fwd:
                    if m.switch.kind == "bind":
                        lines = _fstab.set_entry(lines, m.target, m.mount_point, "none", "bind",
                                                 disable_note=_switch.note_for(m))[0]
                return _fstab.render(lines)
            if path == self.ctx.opts.daemon_json:
                data = _daemon_json.parse(now, path)
                new = dict(data)
                for m in self.fwd:
                    if m.switch.kind == "daemon_json":
                        new = _daemon_json.with_data_root(new, m.target)
                return now if new == data else _daemon_json.render(new)
        except (ValueError, _fstab.FstabError, _daemon_json.DaemonJsonError):
            pass
        return recorded

    def reapply_forward(self):
        """A failed or interrupted restore puts the moved root back in service."""
        self.ctx.moves = self.ctx.moves or self.fwd  # whose units are stopped (containerd's too when its root moved)
        try:
            self.window.stop_quiet([m.service_root for m in self.fwd])  # a bind is lifted only once nothing is under it
        except RelocationError as exc:
            self.ctx.actions.append("stopping Docker to put the moved root back: %s" % exc)
        # The files first (the drop-in's sentinel guards the mount point from here), then the originals aside.
        for path, text in (self.ctx.journal.get("restore_texts") or {}).items():
            now = self.ctx.host.read_text(path, default="")
            want = self.forward_text(path, now, text)
            if now != want:
                self.ctx.host.restore_file(path, want)
        self.ctx.host.daemon_reload()
        for m in self.fwd:
            m.switch.reapply_prepare(m, self.ctx)
        for m in self.fwd:
            m.switch.reapply_finish(m, self.ctx)
        self.window.release_units()
        self.window.start_and_wait(self.fwd, "Docker did not start on the moved root")
