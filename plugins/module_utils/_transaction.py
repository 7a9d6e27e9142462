# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Relocating a Docker data root, as one transaction.  Internal to dockyard.migrate.

Phases, in order: preflight, record, online_copy, stop, final_copy, switch,
start, verify, source.  Each is recorded in the journal (the marker on the
target disk).  A failure after Docker was stopped walks back what was done
(the switches' undo), starts Docker on the old root and checks the old
inventory.  A run killed at any point converges when run again: it reads the
journal and looks at the host to see what is already done.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _copy, _facts, _fileops, _journal, _lock, _mountinfo, _passes, _plan, _preflight, _selinux, _switches,
    _systemd, _testhooks)
from ansible_collections.dockyard.migrate.plugins.module_utils._move import RelocationError
from ansible_collections.dockyard.migrate.plugins.module_utils._options import OptionError, Options
from ansible_collections.dockyard.migrate.plugins.module_utils._rollback import FailedForward, Rollback
from ansible_collections.dockyard.migrate.plugins.module_utils._verify import Verification


class Relocation(Verification, Rollback):
    """Plan and run one data-root move.  ``runner(argv) -> (rc, out, err)``; ``mover(tmp, path)`` puts
    configuration files in place (AnsibleModule.atomic_move in the module)."""

    def __init__(self, params, client, runner, check_mode=False, now=None, mover=None):
        self.opts = Options(params)
        self.now = now or time.time()
        if self.opts.time_limit:
            self.opts.deadline = self.now + int(self.opts.time_limit)
        self.client = client
        self.runner = runner
        self.mover = mover
        self.check_mode = check_mode
        self.lock_dir = _lock.LOCK_DIR
        self.host = _systemd.Systemd(runner, client, self.opts.stop_timeout, mover)
        self.journal = _journal.Journal(self.opts.path or "/", check_mode)
        self.status = _copy.Status(self.opts.status_file)
        self.moves = []
        self.served_since = None  # when Docker was started on the new root
        self.served_new_root = False  # whether Docker answered on the new root (then it may have written there)
        self.apart = {"new": [], "removed": []}  # containers made or removed meanwhile: reported
        self.actions = []
        self.result = {"changed": False, "actions": self.actions, "bytes_copied": 0, "files_copied": 0,
                       "online_copy_seconds": 0.0, "offline_copy_seconds": 0.0, "downtime_seconds": 0.0,
                       "fingerprint_before": None, "fingerprint_after": None, "original": None,
                       "phases": [], "passes": []}
        self.diff = {"before": {}, "after": {}}

    @property
    def passes(self):
        return _passes.Passes(self.opts, self.moves, self.status, self.result)

    @property
    def with_containerd(self):
        return any(m.name == "containerd" for m in self.moves)

    def run(self):
        try:
            self.opts.validate()
        except OptionError as exc:
            raise RelocationError(str(exc), "preflight")
        lock = _lock.acquire(self.check_mode)
        try:
            return self._run()
        finally:
            # Every way out unmasks what this run, or a killed run before it, masked.
            self.release_units(quietly=True)
            if lock is not None:
                lock.close()

    def gather(self):
        return _facts.gather(self.client, self.runner, daemon_json_path=self.opts.daemon_json,
                             fstab_path=self.opts.fstab, sizes=False, inventory=False)

    # ------------------------------------------------------------ plan
    def _run(self):
        facts = self.gather()
        self.journal.load()
        self.window_held_elsewhere()
        if not self.holding_units():  # a masked unit shows no ExecStart; a run that masked it knows Docker is there
            _preflight.docker_installed(facts, self.host)
        self.moves = _plan.plan_moves(self.opts, facts)
        if self.journal:
            self.moves = self.frozen_moves() or self.moves
            for move in self.moves:
                for old in self.journal.recorded_moves():
                    if old.get("target") != move.target:
                        continue
                    # The bind hides that the root was a disk of its own (not after a rollback or restore, which
                    # mounted the disk back: preflight then looks at it afresh).
                    if old.get("disk") and not move.disk and \
                            _mountinfo.same_bind(_mountinfo.read(), move.target, move.mount_point):
                        move.disk = old["disk"]
                    if old.get("backup") and not move.disk:
                        move.backup = old["backup"]
        self.journal.moves = self.moves
        if self.journal.phase == "rollback" and not self.check_mode:
            self.finish_rollback()
            return self._run()
        mounts = _mountinfo.read()
        if all(m.switch.is_applied(m, self, mounts, facts["config"]["daemon_json"]) for m in self.moves):
            return self.converge_switched(facts)
        engine = facts["engine"]
        resuming = bool(self.journal.done("final_copy") and not engine.get("running")
                        and self.journal.phase in ("final_copy", "switch"))
        if not engine.get("running") and not resuming and not self.journal.in_window:
            # Only a run that stopped Docker itself is continued with Docker down; the record of a finished or
            # rolled-back run describes a host that has changed since.
            _preflight.refuse("Docker is not running, so its images, containers and volumes cannot be recorded to "
                              "verify the move; start Docker (systemctl start docker) and run again%s" % (
                                  " (%s is from a run that ended in phase %s: it is not reused)" % (
                                      self.journal.path, self.journal.phase) if self.journal else ""))
        try:
            self.moves[0].switch.refuse_conflicts(self.moves[0], facts, self.opts)
            self.result["warnings"] = _preflight.moves_fit(self.opts, facts, self.host, self.moves, self.journal,
                                                           self.runner)
            self.plan_result(resuming)
        except RelocationError as exc:
            if self.journal.in_window and not engine.get("running") and not self.check_mode:
                self.refused_in_window(exc)
            raise
        if self.check_mode:
            self.actions.extend(_plan.describe(self.opts, self.moves, resuming))
            self.result["changed"] = True
            return self.result
        self.begin(engine, resuming)
        self.transaction(resuming)
        return self.result

    def frozen_moves(self):
        """The moves a run froze in the journal when it recorded the inventory, while that run is in its
        window: a rerun finishes what was planned, not what it sees (with Docker down containerd's image
        store cannot be seen, for one)."""
        recorded = self.journal.recorded_moves()
        if not (self.journal.in_window and recorded and recorded[0].get("target") == self.opts.path):
            return None
        moves = [_switches.move_from_dict(d) for d in recorded]
        self.actions.append("continuing the plan recorded in %s: %s" % (
            self.journal.path, ", ".join("%s -> %s (%s)" % (m.source, m.target, m.switch.kind) for m in moves)))
        return moves

    def plan_result(self, resuming):
        totals = {"bytes": 0, "files": 0, "free_after": {}}
        if not resuming:
            totals = _preflight.space(self.opts, self.moves)
        before, after = _plan.config_texts(self.opts, self.moves)
        for k in before:
            if before[k] != after[k]:
                self.diff["before"][k] = before[k]
                self.diff["after"][k] = after[k]
        self.result.update(planned_bytes=totals["bytes"], planned_files=totals["files"],
                           free_after_bytes=totals["free_after"], moves=[m.to_dict() for m in self.moves])

    def begin(self, engine, resuming):
        """Everything before the stop: record, copy online, record again (or pick up an interrupted run)."""
        if not self.journal:
            self.journal.start(self.now, self.opts.method)
        self.result["changed"] = True
        if resuming:
            self.actions.append("resume the interrupted switch recorded in %s" % self.journal.path)
            self.result["fingerprint_before"] = self.journal["inventory"]["fingerprint"]
            return
        if not engine.get("running"):
            self.actions.append("Docker was left stopped by an interrupted run; continuing from its record")
            self.result["fingerprint_before"] = self.journal["inventory"]["fingerprint"]
            return
        self.journal.fresh_start()
        self.phase_record()
        if self.opts.two_phase:
            try:
                self.phase_online_copy()
            except (RelocationError, _copy.CopyError, OSError) as exc:
                self.journal.try_save(phase="online_copy_failed")  # a full target disk may refuse this too
                raise RelocationError("online_copy failed: %s. Docker was not stopped and %s is untouched; the "
                                      "partial copy is kept so a rerun continues it" % (exc, self.moves[0].source),
                                      "online_copy", rolled_back=False)
        self.rerecord()
        self.passes.check_time_left()

    # ------------------------------------------------------------ phases while Docker runs
    def timed(self, name, fn, *args):
        t0 = time.time()
        self.status.write(force=True, phase=name, bytes_done=None, bytes_total=None, percent=None, rate=None)
        out = fn(*args)
        self.result["phases"].append({"phase": name, "seconds": round(time.time() - t0, 3)})
        return out

    def phase_record(self):
        self.record_inventory()  # the moves are frozen with it (saved with every write of the journal)
        self.journal.mark("record")
        _testhooks.reached("after_record")

    def phase_online_copy(self):
        self.journal.save(phase="online_copy", settled=None)
        self.journal["settled"] = self.passes.online(self.actions)
        self.journal.mark("online_copy")
        _testhooks.reached("after_online_copy")

    def rerecord(self):
        """What must survive is what Docker holds when it stops: images pulled, containers made or removed
        during the online copy count, so the inventory is recorded again right before the stop (while Docker
        still runs, so outside the downtime)."""
        if self.client.ping() and self.record_inventory(again=True):
            self.journal.save()

    # ------------------------------------------------------------ the window: Docker stopped
    def transaction(self, resuming):
        stopped_at = time.time()
        phase = "stop"
        try:
            if not resuming:
                if not self.journal.get("texts_before"):
                    # The files the switch will change, frozen as they are when the window opens (an edit made
                    # during a long online copy is kept), before this run writes any of them.
                    self.journal["texts_before"] = _plan.current_texts(self.opts, self.moves)
                self.journal.save(phase="stop")  # before anything stops: a rerun knows the window was open
            self.hold_units()
            steps = [] if resuming else [("stop", self.phase_stop), ("final_copy", self.phase_final_copy)]
            for phase, fn in steps + [("switch", self.phase_switch), ("start", self.phase_start),
                                      ("verify", self.phase_verify)]:
                self.timed(phase, fn)
        except Exception as exc:  # roll back whatever the failure was
            self.status.write(force=True, phase="rollback")
            try:
                self.rollback()
            except FailedForward as ff:
                raise RelocationError("%s failed: %s. Docker had already served from the new root, and what it "
                                      "wrote there could not be copied back onto the original: %s. NOT ROLLED "
                                      "BACK: Docker serves from %s again; the original at %s is older than it. "
                                      "See %s" % (phase, exc, ff, self.moves[0].service_root,
                                                  ", ".join((m.backup or m.source) for m in self.moves),
                                                  self.journal.path), phase, rolled_back=False)
            except Exception as rb_exc:
                raise RelocationError("%s failed: %s; the rollback failed too: %s. The original data is kept at "
                                      "%s; see %s" % (phase, exc, rb_exc, ", ".join((m.backup or m.source)
                                                                                    for m in self.moves),
                                                      self.journal.path), phase, rolled_back=False)
            raise RelocationError("%s failed: %s; rolled back: Docker serves from %s again with its inventory "
                                  "verified" % (phase, exc, self.moves[0].source), phase, rolled_back=True)
        self.result["downtime_seconds"] = round(time.time() - stopped_at, 3)
        self.timed("source", self.phase_source)
        self.status.write(force=True, phase="done", percent=100)

    def phase_stop(self):
        running_ids = [c["id"] for c in self.journal["inventory"]["containers"] if c["running"]]
        if self.client.ping() and self.client.info().get("LiveRestoreEnabled"):
            for cid in running_ids:
                self.client.post("/containers/%s/stop" % cid, params={"t": 30}, timeout=self.host.stop_timeout)
            self.actions.append("stopped %d running containers (live-restore keeps them running otherwise)"
                                % len(running_ids))
        self.stop_quiet([m.source for m in self.moves], "stop")
        for m in self.moves:
            self.host.drop_self_bind(m.source)
        self.journal.mark("stop")
        _testhooks.reached("after_stop")

    def stop_quiet(self, roots, phase=None):
        """Stop Docker (and containerd when its root moves), check its units are down and wait until nothing
        is mounted under ROOTS any more."""
        self.host.stop_docker(with_containerd=self.with_containerd)
        self.host.check_stopped(self.host.window_units(self.with_containerd), self.host.stop_timeout)
        self.actions.append("stopped Docker")
        for root in roots:
            left = self.host.wait_quiet(root, self.host.stop_timeout)
            if left:
                raise RelocationError("after stopping Docker, mounts remain under %s: %s" % (
                    root, ", ".join(left[:5])), phase)

    def phase_final_copy(self):
        self.journal.save(phase="final_copy")
        settled = self.journal.get("settled") if self.opts.walk_mutable and self.journal.done("online_copy") else None
        self.passes.offline(settled, self.actions)
        self.journal.mark("final_copy")
        _testhooks.reached("after_final_copy")

    def check_copy(self):
        """Before the original can be removed (keep_source=false), the copy is proved complete while Docker is
        stopped: a content-comparing dry run from the original onto the copy must find nothing to do."""
        for m in self.moves:
            original = m.backup if m.backup_kept else m.source
            diff = _passes.differences(original, m.target)
            if diff:
                raise RelocationError("the copy at %s is not an exact copy of %s (%d entries differ, first: %s); "
                                      "the original is kept" % (m.target, original, len(diff), "; ".join(diff[:5])),
                                      "switch")
        self.journal.save(copy_checked=True)
        self.actions.append("proved the copy complete (content-comparing rsync dry run found nothing to do)")

    def phase_switch(self):
        if not self.opts.keep_source and not self.journal.get("copy_checked"):
            self.check_copy()
        if not self.journal.get("texts_before"):  # frozen when the window opened; a resumed older marker lacks it
            self.journal["texts_before"] = _plan.current_texts(self.opts, self.moves)
        self.journal.save(phase="switch")
        for m in self.moves:
            # Drop-in first: from here on the service cannot start without its mount.
            _systemd.write_sentinel(m.target)
            self.host.write_dropin(m.name, m.service_root)
        self.host.daemon_reload()
        _testhooks.reached("switch_after_dropin")
        for m in self.moves:
            m.switch.apply(m, self)
            _selinux.label_like(self.runner, m.source, m.target)
        self.actions.append("switched: %s" % ", ".join("%s -> %s (%s)" % (m.source, m.target, m.switch.kind)
                                                       for m in self.moves))
        self.journal.mark("switch")
        _testhooks.reached("after_switch")

    def start_and_wait(self, moves, failure, phase=None):
        self.host.start_docker(with_containerd=any(m.name == "containerd" for m in moves))
        if not self.host.wait_docker(self.opts.verify_timeout):
            raise RelocationError(failure, phase)

    def phase_start(self):
        self.release_units()
        self.served_since = time.time()
        self.start_and_wait(self.moves, "Docker did not answer within %ss after starting on the new root" %
                            self.opts.verify_timeout, "start")
        self.served_new_root = True  # Docker answered there: its containers may have written since
        self.actions.append("started Docker")
        self.journal.mark("start")
        _testhooks.reached("after_start")

    def phase_verify(self):
        want = self.moves[0].service_root
        self.check_root(want, "verify")
        self.served_new_root = True
        mounts = _mountinfo.read()
        for m in self.moves:
            m.switch.verify(m, mounts)
        self.verified(want, "verify")
        if _testhooks.fails("verify"):
            raise RelocationError("the verification was made to fail (DOCKYARD_MIGRATE_FAULT=verify)", "verify")
        self.journal.mark("verify")
        _testhooks.reached("after_verify")

    def phase_source(self):
        originals = []
        for m in self.moves:
            m.switch.set_aside(m, self)
            if m.disk:
                self.actions.append("left the original disk %s unmounted with its contents; its fstab line (%s) is "
                                    "kept as a comment" % (m.disk["device"], m.disk["line"]))
                originals.append({"name": m.name, "source": m.source, "removed": False, "backup": None,
                                  "disk": m.disk["line"]})
                continue
            if not m.backup_kept:
                continue
            mounted = [e.mount_point for e in _mountinfo.mounts_under(_mountinfo.read(), m.backup)]
            if mounted:  # a removal would reach through the mount into another filesystem
                self.actions.append("the original %s is kept: %s mounted under it" % (m.backup, ", ".join(mounted[:3])))
                originals.append({"name": m.name, "source": m.source, "removed": False, "backup": m.backup})
                continue
            if not self.opts.keep_source and self.journal.get("copy_checked"):
                _fileops.remove_tree(m.backup, lambda: _testhooks.reached("during_source"))
                self.actions.append("removed the original %s" % m.backup)
                originals.append({"name": m.name, "source": m.source, "removed": True, "backup": None})
                m.backup = None
                continue
            _testhooks.reached("during_source")  # (a removal reaches it part way through, in remove_tree)
            if not self.opts.keep_source:
                self.actions.append("the copy was not proved complete before Docker started on it, so the original "
                                    "is kept as %s" % m.backup)
            else:
                self.actions.append("kept the original as %s" % m.backup)
            originals.append({"name": m.name, "source": m.source, "removed": False, "backup": m.backup})
        self.result["original"] = originals
        self.journal.mark("source")
        self.journal.save(phase="done", finished=time.time())

    # ------------------------------------------------------------ converge
    def converge_switched(self, facts):
        """Docker is configured for the target: make sure it runs and the move was finished."""
        running = facts["engine"].get("running")
        docker = self.moves[0]
        self.result["moves"] = [m.to_dict() for m in self.moves]
        pending = self.journal.phase not in ("done", None)
        if not pending and running:
            if os.path.normpath(facts["engine"].get("docker_root_dir") or "") != docker.service_root:
                raise RelocationError("the configuration points at %s but the running daemon uses %s; restart "
                                      "Docker to apply it" % (docker.service_root,
                                                              facts["engine"].get("docker_root_dir")), "verify")
            self.result["original"] = [{"name": m.name, "source": m.source,
                                        "removed": not m.backup_kept and not m.disk,
                                        "backup": m.backup if m.backup_kept else None} for m in self.moves]
            return self.result
        self.result["changed"] = True
        if self.check_mode:
            if not running:
                self.actions.append("start Docker on %s" % docker.service_root)
            if pending:
                self.actions.append("finish the interrupted move (verify, then handle the original)")
            return self.result
        if not running:
            self.release_units()
            self.start_and_wait(self.moves, "Docker did not answer after starting on %s" % docker.service_root,
                                "start")
            self.actions.append("started Docker on %s" % docker.service_root)
        if pending and self.journal.get("inventory"):
            self.result["fingerprint_before"] = self.journal["inventory"]["fingerprint"]
            self.phase_verify()
            self.phase_source()
        return self.result
