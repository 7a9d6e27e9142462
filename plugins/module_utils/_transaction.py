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

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _copy, _drift, _mountinfo, _passes, _phases, _plan, _preflight, _run, _switch, _switches,
    _systemd, _testhooks)
from ansible_collections.dockyard.migrate.plugins.module_utils._move import RelocationError
from ansible_collections.dockyard.migrate.plugins.module_utils._rollback import FailedForward


class Relocation(_run.Operation):
    """``state: moved``: plan and run one data-root move over CTX (a _run.Run)."""

    # ------------------------------------------------------------ plan
    def _run(self, repaired=False):
        facts = self.ctx.gather()
        self.ctx.journal.load()
        self.window.window_held_elsewhere()
        # A masked unit shows no ExecStart; a run that masked it knows Docker is there.
        if not self.window.holding_units():
            _preflight.docker_installed(facts, self.ctx.host)
        # A killed switch this boot can resume (Docker has not run since) is resumed as the killed run would have
        # gone on; drift is what a host shows once Docker may have run on the new root, or a boot came between.
        if not repaired and not self.resumes_switch(facts["engine"]) and _drift.drifted(self.ctx, facts["engine"]):
            return self.repair_drift()
        self.ctx.moves = _plan.plan_moves(self.ctx.opts, facts)
        if self.ctx.journal:
            self.ctx.moves = self.frozen_moves() or self.ctx.moves
            for move in self.ctx.moves:
                for old in self.ctx.journal.recorded_moves():
                    if old.get("target") != move.target:
                        continue
                    # The bind hides that the root was a disk of its own (not after a rollback or restore, which
                    # mounted the disk back: preflight then looks at it afresh).
                    if old.get("disk") and not move.disk and \
                            _mountinfo.same_bind(self.ctx.host.mountinfo(), move.target, move.mount_point):
                        move.disk = old["disk"]
                    if old.get("backup") and not move.disk:
                        move.backup = old["backup"]
        self.ctx.journal.moves = self.ctx.moves
        if self.ctx.journal.phase == "rollback" and not self.ctx.check_mode:
            self.rollback.finish_rollback()
            return self._run()
        mounts = self.ctx.host.mountinfo()
        if all(m.switch.is_applied(m, self.ctx, mounts, facts["config"]["daemon_json"]) for m in self.ctx.moves):
            return self.converge_switched(facts)
        engine = facts["engine"]
        resuming = self.resumes_switch(engine)
        if self.rollback.served_in_window(resuming):
            if self.rollback.roll_back_served_window():
                return self._run()
            return self.ctx.result
        if not engine.get("running") and not resuming and not self.ctx.journal.in_window:
            # Only a run that stopped Docker itself is continued with Docker down; the record of a finished or
            # rolled-back run describes a host that has changed since.
            _preflight.refuse("Docker is not running, so its images, containers and volumes cannot be recorded to "
                              "verify the move; start Docker (systemctl start docker) and run again%s" % (
                                  " (%s is from a run that ended in phase %s: it is not reused)" % (
                                      self.ctx.journal.path, self.ctx.journal.phase) if self.ctx.journal else ""))
        self.check_plan(facts, engine, resuming)
        if self.ctx.check_mode:
            self.ctx.actions.extend(_plan.describe(self.ctx.opts, self.ctx.moves, resuming))
            self.ctx.result["changed"] = True
            return self.ctx.result
        self.begin(engine, resuming)
        self.transaction(resuming)
        return self.ctx.result

    def repair_drift(self):
        """The switch applied again (_drift.repair): a finished move's result, or the interrupted move going on
        from its switch.  A failure inside a window rolls it back: never left with Docker down."""
        in_window = self.ctx.journal.phase not in _drift.SERVING
        try:
            result = _drift.repair(self.ctx, self.window, self.verification)
        except Exception as exc:
            if in_window and not self.ctx.check_mode:
                self.fail_window("switch", exc)
            raise
        if result is not None:
            return result
        return self._run(repaired=True)

    def check_plan(self, facts, engine, resuming):
        """The plan's checks.  A refusal, or any error reading the host, inside a killed run's window (Docker
        down) rolls that window back: it never leaves Docker stopped."""
        try:
            self.ctx.moves[0].switch.refuse_conflicts(self.ctx.moves[0], facts, self.ctx.opts)
            self.ctx.result["warnings"] = _preflight.moves_fit(self.ctx.opts, facts, self.ctx.host, self.ctx.moves,
                                                               self.ctx.journal, resuming)
            self.plan_result(resuming)
        except Exception as exc:
            if self.ctx.journal.in_window and not engine.get("running") and not self.ctx.check_mode:
                self.rollback.refused_in_window(exc)
            raise

    def resumes_switch(self, engine):
        """Whether a killed run's switch is picked up where it stopped: its final copy done, Docker down, and
        Docker not started since the journal's last write (a reboot lifts the masks, and Docker then writes to the
        original the final copy was taken from).  Otherwise a window left open is walked again from the stop."""
        return bool(self.ctx.journal.done("final_copy") and not engine.get("running")
                    and self.ctx.journal.phase in ("final_copy", "switch")
                    # Written in an earlier boot: Docker may have run on the original in a boot between (a start
                    # there is not seen from this one), so the final copy is taken again.
                    and self.ctx.journal.get("boot_id", self.ctx.host.boot_id()) == self.ctx.host.boot_id()
                    and not self.ctx.host.started_since(**self.ctx.journal.since()))

    def frozen_moves(self):
        """The moves a run froze in the journal when it recorded the inventory, while that run is in its
        window: a rerun finishes what was planned, not what it sees (with Docker down containerd's image
        store cannot be seen, for one)."""
        recorded = self.ctx.journal.recorded_moves()
        if not (self.ctx.journal.in_window and recorded and recorded[0].get("target") == self.ctx.opts.target):
            return None
        moves = [_switches.move_from_dict(d) for d in recorded]
        self.ctx.actions.append("continuing the plan recorded in %s: %s" % (
            self.ctx.journal.path, ", ".join("%s -> %s (%s)" % (m.source, m.target, m.switch.kind) for m in moves)))
        return moves

    def plan_result(self, resuming):
        totals = {"bytes": 0, "files": 0, "free_after": {}}
        if not resuming:
            totals = _preflight.space(self.ctx.host, self.ctx.opts, self.ctx.moves)
        before, after = _plan.config_texts(self.ctx.host, self.ctx.opts, self.ctx.moves)
        for k in before:
            if before[k] != after[k]:
                self.ctx.diff["before"][k] = before[k]
                self.ctx.diff["after"][k] = after[k]
        self.ctx.result.update(planned_bytes=totals["bytes"], planned_files=totals["files"],
                               free_after_bytes=totals["free_after"], moves=[m.to_dict() for m in self.ctx.moves])

    def steps(self, resuming):
        """The phases this run walks, in the order of _phases.PHASES (the preflight is the plan, done already).
        A run that resumes a killed one's switch skips what that run did: the phases before the stop, the stop
        and the final copy."""
        skip = {"preflight"}
        if resuming:
            skip |= {"record", "online_copy", "stop", "final_copy"}
        if not self.ctx.opts.two_phase:
            skip.add("online_copy")
        return [p for p in _phases.of("move") if p.name not in skip]

    def begin(self, engine, resuming):
        """Everything before the stop: record, copy online, record again (or pick up an interrupted run)."""
        if not self.ctx.journal:
            self.ctx.journal.start(self.ctx.now, self.ctx.opts.method)
        self.ctx.result["changed"] = True
        if resuming:
            self.ctx.actions.append("resume the interrupted switch recorded in %s" % self.ctx.journal.path)
            self.ctx.result["fingerprint_before"] = self.ctx.journal["inventory"]["fingerprint"]
            return
        if not engine.get("running"):
            self.ctx.actions.append("Docker was left stopped by an interrupted run; continuing from its record")
            self.ctx.result["fingerprint_before"] = self.ctx.journal["inventory"]["fingerprint"]
            return
        self.ctx.journal.fresh_start()
        for phase in self.steps(resuming):
            if not phase.window:
                getattr(self, "phase_" + phase.name)()
        self.rerecord()
        self.ctx.passes.check_time_left()

    # ------------------------------------------------------------ phases while Docker runs
    def timed(self, name, fn, *args):
        t0 = self.ctx.host.time()
        self.ctx.status.write(force=True, phase=name, bytes_done=None, bytes_total=None, percent=None, rate=None)
        out = fn(*args)
        self.ctx.result["phases"].append({"phase": name, "seconds": round(self.ctx.host.time() - t0, 3)})
        return out

    def phase_record(self):
        self.verification.record_inventory()  # the moves are frozen with it (saved with every write of the journal)
        self.ctx.journal.mark("record")
        _testhooks.reached("after_record")

    def phase_online_copy(self):
        try:
            self.ctx.journal.save(phase="online_copy", settled=None)
            self.ctx.journal["settled"] = self.ctx.passes.online(self.ctx.actions)
            self.ctx.journal.mark("online_copy")
            _testhooks.reached("after_online_copy")
        except (RelocationError, _copy.CopyError, OSError) as exc:
            self.ctx.journal.try_save(phase="online_copy_failed")  # a full target disk may refuse this too
            raise RelocationError("online_copy failed: %s. Docker was not stopped and %s is untouched; the "
                                  "partial copy is kept so a rerun continues it" % (exc, self.ctx.moves[0].source),
                                  "online_copy", rolled_back=False)

    def rerecord(self):
        """What must survive is what Docker holds when it stops: images pulled, containers made or removed
        during the online copy count, so the inventory is recorded again right before the stop (while Docker
        still runs, so outside the downtime)."""
        if self.ctx.client.ping() and self.verification.record_inventory(again=True):
            self.ctx.journal.save()

    # ------------------------------------------------------------ the window: Docker stopped
    def transaction(self, resuming):
        """The phases with Docker stopped: a failure in one that can be undone rolls the window back."""
        window = [p for p in self.steps(resuming) if p.window]
        stopped_at = self.ctx.host.time()
        phase = "stop"
        try:
            if not resuming:
                if not self.ctx.journal.get("texts_before"):
                    # The files the switch will change, frozen as they are when the window opens (an edit made
                    # during a long online copy is kept), before this run writes any of them.
                    self.ctx.journal["texts_before"] = _plan.current_texts(self.ctx.host, self.ctx.opts, self.ctx.moves)
                # Before anything stops: a rerun knows the window was open.  A window walked again from the stop
                # (a killed run's, with Docker down) forgets what that run did in it: its final copy, its proof of
                # the copy and the files as its switch left them describe a target this walk copies anew.
                for key in ("copy_checked", "texts_after"):
                    self.ctx.journal.data.pop(key, None)
                kept = self.ctx.journal.keep_only_phases("record", "online_copy")
                self.ctx.journal.save(phase="stop", phases_done=kept)
            self.window.hold_units()
            for step in window:
                if step.undo:
                    phase = step.name
                    self.timed(phase, getattr(self, "phase_" + phase))
        except Exception as exc:  # roll back whatever the failure was
            self.fail_window(phase, exc)
        self.ctx.result["downtime_seconds"] = round(self.ctx.host.time() - stopped_at, 3)
        for step in window:
            if not step.undo:
                self.timed(step.name, getattr(self, "phase_" + step.name))
        self.ctx.status.write(force=True, phase="done", percent=100)

    def fail_window(self, phase, exc):
        """PHASE of the window failed with EXC: roll the window back and raise what the host ends up with."""
        self.ctx.status.write(force=True, phase="rollback")
        try:
            self.rollback.roll_back()
        except FailedForward as ff:
            raise RelocationError("%s failed: %s. Docker had already served from the new root, and what it "
                                  "wrote there could not be copied back onto the original: %s. NOT ROLLED "
                                  "BACK: Docker serves from %s again; the original at %s is older than it. "
                                  "See %s" % (phase, exc, ff, self.ctx.moves[0].service_root,
                                              ", ".join((m.backup or m.source) for m in self.ctx.moves),
                                              self.ctx.journal.path), phase, rolled_back=False)
        except Exception as rb_exc:
            raise RelocationError("%s failed: %s; the rollback failed too: %s. The original data is kept at "
                                  "%s; see %s" % (phase, exc, rb_exc, ", ".join((m.backup or m.source)
                                                                                for m in self.ctx.moves),
                                                  self.ctx.journal.path), phase, rolled_back=False)
        raise RelocationError("%s failed: %s; rolled back: Docker serves from %s again with its inventory "
                              "verified" % (phase, exc, self.ctx.moves[0].source), phase, rolled_back=True)

    def phase_stop(self):
        running_ids = [c["id"] for c in self.ctx.journal["inventory"]["containers"] if c["running"]]
        if self.ctx.client.ping() and self.ctx.client.info().get("LiveRestoreEnabled"):
            for cid in running_ids:
                self.ctx.client.post("/containers/%s/stop" % cid, params={"t": 30}, timeout=self.ctx.host.stop_timeout)
            self.ctx.actions.append("stopped %d running containers (live-restore keeps them running otherwise)"
                                    % len(running_ids))
        self.window.stop_quiet([m.source for m in self.ctx.moves], "stop")
        for m in self.ctx.moves:
            self.ctx.host.drop_self_bind(m.source)
        self.ctx.journal.mark("stop")
        _testhooks.reached("after_stop")

    def phase_final_copy(self):
        self.ctx.journal.save(phase="final_copy")
        journal = self.ctx.journal
        settled = journal.get("settled") if self.ctx.opts.walk_mutable and journal.done("online_copy") else None
        self.ctx.passes.offline(settled, self.ctx.actions)
        self.ctx.journal.mark("final_copy")
        _testhooks.reached("after_final_copy")

    def check_copy(self):
        """Before the original can be removed (keep_source=false), the copy is proved complete while Docker is
        stopped: a content-comparing dry run from the original onto the copy must find nothing to do."""
        for m in self.ctx.moves:
            original = m.backup if m.backup_kept(self.ctx.host) else m.source
            diff = _passes.differences(original, m.target, self.ctx.host)
            if diff:
                raise RelocationError("the copy at %s is not an exact copy of %s (%d entries differ, first: %s); "
                                      "the original is kept" % (m.target, original, len(diff), "; ".join(diff[:5])),
                                      "switch")
        self.ctx.journal.save(copy_checked=True)
        self.ctx.actions.append("proved the copy complete (content-comparing rsync dry run found nothing to do)")

    def phase_switch(self):
        if not self.ctx.opts.keep_source and not self.ctx.journal.get("copy_checked"):
            self.check_copy()
        if not self.ctx.journal.get("texts_before"):  # frozen when the window opened; a resumed older marker lacks it
            self.ctx.journal["texts_before"] = _plan.current_texts(self.ctx.host, self.ctx.opts, self.ctx.moves)
        self.ctx.journal.save(phase="switch")
        for m in self.ctx.moves:
            # Drop-in first: from here on the service cannot start without its mount.
            self.ctx.host.write_sentinel(m.target)
            self.ctx.host.write_dropin(m.name, _systemd.dropin_for(m, self.ctx.opts.daemon_json))
        self.ctx.host.daemon_reload()
        _testhooks.reached("switch_after_dropin")
        for m in self.ctx.moves:
            m.switch.apply(m, self.ctx)
            self.ctx.host.label_like(m.source, m.target)
        # As the switch left them: a rollback later takes back only its own lines from a file edited since.
        self.ctx.journal["texts_after"] = _plan.current_texts(self.ctx.host, self.ctx.opts, self.ctx.moves)
        if _testhooks.fails("switch"):  # as a labelling error after the switch would
            raise RelocationError("the switch was made to fail (DOCKYARD_MIGRATE_FAULT=switch)", "switch")
        self.ctx.actions.append("switched: %s" % ", ".join("%s -> %s (%s)" % (m.source, m.target, m.switch.kind)
                                                           for m in self.ctx.moves))
        self.ctx.journal.mark("switch")
        _testhooks.reached("after_switch")

    def phase_start(self):
        self.window.serve()

    def phase_verify(self):
        want = self.ctx.moves[0].service_root
        self.verification.check_root(want, "verify")
        self.ctx.served_new_root = True
        mounts = self.ctx.host.mountinfo()
        for m in self.ctx.moves:
            m.switch.verify(m, mounts)
        self.verification.verified(want, "verify")
        if _testhooks.fails("verify"):
            raise RelocationError("the verification was made to fail (DOCKYARD_MIGRATE_FAULT=verify)", "verify")
        self.ctx.journal.mark("verify")
        _testhooks.reached("after_verify")

    def phase_source(self):
        originals = []
        for m in self.ctx.moves:
            m.switch.set_aside(m, self.ctx)
            if m.disk:
                self.ctx.actions.append("left the original disk %s unmounted with its contents; its fstab line (%s) is "
                                        "kept as a comment" % (m.disk["device"], m.disk["line"]))
                originals.append({"name": m.name, "source": m.source, "removed": False, "backup": None,
                                  "disk": m.disk["line"]})
                continue
            removing = (self.ctx.journal.get("removing") or {}).get(m.name)
            if not m.backup_kept(self.ctx.host):
                if removing and not self.ctx.host.lexists(removing):  # removed by a run killed before it said so
                    originals.append({"name": m.name, "source": m.source, "removed": True, "backup": None})
                continue
            mounted = [e.mount_point for e in _mountinfo.mounts_under(self.ctx.host.mountinfo(), m.backup)]
            if mounted:  # a removal would reach through the mount into another filesystem
                self.ctx.actions.append("the original %s is kept: %s mounted under it" % (
                    m.backup, ", ".join(mounted[:3])))
                originals.append({"name": m.name, "source": m.source, "removed": False, "backup": m.backup})
                continue
            if removing == m.backup and self.ctx.opts.keep_source:
                # A removal a run with keep_source=false began (its copy proved) and was killed in: what is left
                # may be a part of the original.  Kept, as this run asks, and said to be what it may be.
                self.ctx.actions.append("the original %s may be incomplete: an interrupted run (keep_source=false) "
                                        "had begun to remove it; it is kept as it is (remove it with "
                                        "state=cleaned)" % m.backup)
                originals.append({"name": m.name, "source": m.source, "removed": False, "backup": m.backup,
                                  "incomplete": True})
                continue
            if not self.ctx.opts.keep_source and (self.ctx.journal.get("copy_checked") or removing == m.backup):
                # Noted first: a rerun after a kill once it is gone still reports it removed.
                self.ctx.journal.save(removing=dict(self.ctx.journal.get("removing") or {}, **{m.name: m.backup}))
                self.ctx.host.remove_tree(m.backup, lambda: _testhooks.reached("during_source"))
                self.ctx.actions.append("removed the original %s" % m.backup)
                originals.append({"name": m.name, "source": m.source, "removed": True, "backup": None})
                m.backup = None
                continue
            _testhooks.reached("during_source")  # (a removal reaches it part way through, in remove_tree)
            if not self.ctx.opts.keep_source:
                self.ctx.actions.append("the copy was not proved complete before Docker started on it, so the original "
                                        "is kept as %s" % m.backup)
            else:
                self.ctx.actions.append("kept the original as %s" % m.backup)
            originals.append({"name": m.name, "source": m.source, "removed": False, "backup": m.backup})
        self.ctx.result["original"] = originals
        self.ctx.journal.mark("source")
        self.ctx.journal.save(phase="done", finished=self.ctx.host.time())

    def originals(self):
        """The result's entries for the originals of a finished move, as the host shows them; one a removal
        began on (journalled, killed part way) is said to be incomplete."""
        removing = self.ctx.journal.get("removing") or {}
        # The source the move recorded: a finished move's plan, made afresh, sees the moved root as the source.
        sources = dict((d.get("name"), d.get("source")) for d in self.ctx.journal.recorded_moves())
        out = []
        for m in self.ctx.moves:
            entry = m.original(self.ctx.host)
            entry["source"] = sources.get(m.name) or entry["source"]
            if entry["backup"] and removing.get(m.name) == entry["backup"]:
                entry["incomplete"] = True
            out.append(entry)
        return out

    # ------------------------------------------------------------ converge
    def converge_switched(self, facts):
        """Docker is configured for the target: make sure it runs and the move was finished."""
        running = facts["engine"].get("running")
        docker = self.ctx.moves[0]
        self.ctx.result["moves"] = [m.to_dict() for m in self.ctx.moves]
        pending = self.ctx.journal.phase not in ("done", None)
        if not pending and running:
            if os.path.normpath(facts["engine"].get("docker_root_dir") or "") != docker.service_root:
                raise RelocationError("the configuration points at %s but the running daemon uses %s; restart "
                                      "Docker to apply it" % (docker.service_root,
                                                              facts["engine"].get("docker_root_dir")), "verify")
            self.ctx.result["original"] = self.originals()
            return self.ctx.result
        self.ctx.result["changed"] = True
        if self.ctx.check_mode:
            if not running:
                self.ctx.actions.append("start Docker on %s" % docker.service_root)
            if pending:
                self.ctx.actions.append("finish the interrupted move (verify, then handle the original)")
            return self.ctx.result
        # A killed move's window, switched after its final copy but not verified, with Docker down, rolls back
        # when Docker cannot start or verify there, as it would have in the killed run: never left down.  A
        # Docker found running (it may have served for long since) is left serving and the failure reported.
        undoable = bool(pending and not running and self.ctx.journal.get("inventory") and
                        self.ctx.journal.phase == "switch" and self.ctx.journal.done("final_copy") and
                        not self.ctx.journal.done("verify"))
        hidden_error = _switch.set_aside_all_hidden(self.ctx) if pending else None
        undoable = undoable and hidden_error is None
        phase = "start"
        try:
            if not running:
                self.ctx.served_new_root = True  # a start is tried: containers may write there from here
                self.window.release_units()
                self.window.start_and_wait(self.ctx.moves, "Docker did not answer after starting on %s" %
                                           docker.service_root, "start")
                self.ctx.actions.append("started Docker on %s" % docker.service_root)
            if pending and self.ctx.journal.get("inventory"):
                self.ctx.result["fingerprint_before"] = self.ctx.journal["inventory"]["fingerprint"]
                phase = "verify"
                self.phase_verify()
        except Exception as exc:
            if hidden_error is not None:  # both: what needs the operator first is the split original
                raise RelocationError("%s; and then %s failed: %s" % (hidden_error, phase, exc), "source",
                                      rolled_back=False)
            if not undoable:
                raise
            self.ctx.served_new_root = True
            self.fail_window(phase, exc)
        if hidden_error is not None:
            raise RelocationError("%s; Docker serves from %s" % (hidden_error, docker.service_root), "source")
        if pending and self.ctx.journal.get("inventory"):
            self.phase_source()
        return self.ctx.result
