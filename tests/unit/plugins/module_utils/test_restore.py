# -*- coding: utf-8 -*-
"""state=restored (_restore.Restore): its refusal, and what a rerun does with a restore interrupted in its window,
decided from what the host shows (Docker running, or started since the journal's last write)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _passes, _restore, _switches, _systemd
from ansible_collections.dockyard.migrate.plugins.module_utils._move import Move, RelocationError

from fake_host import FakeClient, FakeHost, context  # pylint: disable=import-error


def restore(tmp_path, monkeypatch, phase, started=False, backup_kept=True):
    """A daemon_json move from src to disk/docker, recorded as done, then a restore journalled up to PHASE: the
    original kept as src.bak (or put back at src already), Docker's units recorded as masked and masked now."""
    src, target = tmp_path / "src", tmp_path / "disk" / "docker"
    target.mkdir(parents=True)
    (target / "image").mkdir()
    backup = tmp_path / "src.bak"
    (backup if backup_kept else src).mkdir()
    ((backup if backup_kept else src) / "image").mkdir()
    daemon_json = tmp_path / "daemon.json"
    daemon_json.write_text(json.dumps({"data-root": str(target)}))
    masked = {"docker.service", "docker.socket"}
    monkeypatch.setattr(_systemd, "dropin_path", lambda name: str(tmp_path / ("%s-dropin.conf" % name)))
    ctx = context({"target": str(target), "state": "restored", "daemon_json": str(daemon_json),
                   "fstab": str(tmp_path / "fstab")}, host=FakeHost(masked=masked, started=started, lock_dir=str(tmp_path / "lock")),
                  client=FakeClient(root=str(src)))
    r = _restore.Restore(ctx)
    r.fwd = [Move("docker", str(src), str(target), _switches.make("daemon_json"), backup=str(backup))]
    ctx.journal.moves = r.fwd
    ctx.journal.start(0, "daemon_json")
    ctx.journal.save(phase=phase, masked=sorted(masked), texts_before={str(daemon_json): "{}\n"},
                     restore_texts={str(daemon_json): daemon_json.read_text()})
    restarted = []
    monkeypatch.setattr(r, "_run", lambda: restarted.append(ctx.journal.phase) or ctx.result)
    return r, restarted, daemon_json


def test_a_restore_without_a_kept_original_is_refused_before_anything_is_touched(tmp_path, monkeypatch):
    r, _restarted, daemon_json = restore(tmp_path, monkeypatch, "done", backup_kept=False)
    r.fwd[0].backup = None  # the move ran with keep_source=false
    before = daemon_json.read_text()
    with pytest.raises(RelocationError, match="was not kept .*keep_source=false") as exc:
        r.preflight(True, r.fwd, {"engine": {}})
    assert exc.value.phase == "preflight"
    assert r.ctx.host.calls == []
    assert daemon_json.read_text() == before


def test_a_restore_killed_after_its_switch_back_starts_docker_on_the_original_and_finishes(tmp_path, monkeypatch):
    r, restarted, _daemon_json = restore(tmp_path, monkeypatch, "restore_start", backup_kept=False)
    r.resume(running=False, switched=[])
    # The masks of the killed run lifted, Docker started and answering on the original: nothing copied or switched.
    assert r.ctx.host.calls == ["started_since", "unmask", "start_docker", "wait_docker"], r.ctx.host.calls
    assert restarted == []
    assert r.ctx.journal.phase == "restored"
    assert r.ctx.result["original"][0]["left_copy"] == r.fwd[0].target


def test_a_switch_back_docker_has_not_run_through_is_finished(tmp_path, monkeypatch):
    r, restarted, daemon_json = restore(tmp_path, monkeypatch, "restore_switch", started=False)
    r.resume(running=False, switched=r.fwd)
    calls = r.ctx.host.calls
    # Held and stopped before the switch back (containerd, started at boot, would hold a bind busy).
    assert calls[0] == "started_since" and "stop_docker" in calls and "check_stopped" in calls, calls
    assert calls[calls.index("check_stopped"):].count("restore_file") == 1, calls
    assert calls[calls.index("restore_file"):] == ["restore_file", "daemon_reload", "unmask", "start_docker",
                                                   "wait_docker"], calls
    assert json.loads(daemon_json.read_text()) == {}, "data-root is still in daemon.json"
    assert (tmp_path / "src" / "image").is_dir() and not (tmp_path / "src.bak").exists(), "the original is not back"
    assert restarted == [] and r.ctx.journal.phase == "restored"


def test_a_switch_back_already_undone_on_the_host_is_finished_without_a_stop(tmp_path, monkeypatch):
    """Nothing the host shows switched any more: the switch back's remaining steps are finished, Docker (down)
    started, and nothing is stopped first."""
    r, restarted, daemon_json = restore(tmp_path, monkeypatch, "restore_switch", started=False)
    r.resume(running=False, switched=[])
    assert "stop_docker" not in r.ctx.host.calls and r.ctx.host.calls[-2:] == ["start_docker", "wait_docker"], \
        r.ctx.host.calls
    assert json.loads(daemon_json.read_text()) == {} and restarted == [] and r.ctx.journal.phase == "restored"


def test_a_switch_back_is_not_finished_after_a_boot_between(tmp_path, monkeypatch):
    """The journal was last written in another boot, and the host still shows the forward switch: in a boot between,
    the moved root served (fstab's bind mounted, containerd started at boot, Docker perhaps started and stopped
    again), unseen from this boot.  Its writes are kept: the moved root stays in service and the restore starts
    over, as when Docker is seen to have started since."""
    r, restarted, daemon_json = restore(tmp_path, monkeypatch, "restore_switch", started=False)
    r.ctx.journal.data["boot_id"] = "an-earlier-boot"
    r.resume(running=False, switched=r.fwd)
    assert "restore_file" not in r.ctx.host.calls, "a file was switched back: %s" % r.ctx.host.calls
    assert json.loads(daemon_json.read_text()) == {"data-root": r.fwd[0].target}
    assert (tmp_path / "src.bak" / "image").is_dir(), "the original was put back although it may be stale"
    assert restarted == ["restore_record"], "the restore did not start over"


def test_a_recovery_that_puts_the_moved_root_back_records_it_before_any_change(tmp_path, monkeypatch):
    """Docker ran on the moved root since (seen now): the decision to put it back in service, not finish the switch
    back, is in the journal before the first change, whose own journal writes hide that evidence from a rerun."""
    r, _restarted, _daemon_json = restore(tmp_path, monkeypatch, "restore_switch", started=True)
    seen = []

    def killed():
        seen.append((r.ctx.journal.phase, list(r.ctx.host.calls)))
        raise KeyboardInterrupt("killed")
    monkeypatch.setattr(r, "reapply_forward", killed)
    with pytest.raises(KeyboardInterrupt):
        r.resume(running=False, switched=r.fwd)
    assert seen == [("restore_reapply", ["started_since"])], seen
    with open(r.ctx.journal.path) as f:
        assert json.load(f)["phase"] == "restore_reapply"


def test_a_switch_back_that_cannot_stop_docker_first_changes_nothing_and_says_what_to_do(tmp_path, monkeypatch):
    r, restarted, daemon_json = restore(tmp_path, monkeypatch, "restore_switch", started=False)

    def busy(units, timeout, proc="/proc"):
        raise _systemd.SystemdError("Docker is not stopped: containerd (pid 42) runs", "stop")
    monkeypatch.setattr(r.ctx.host, "check_stopped", busy)
    with pytest.raises(RelocationError) as exc:
        r.resume(running=False, switched=r.fwd)
    assert "could not stop Docker to finish switching back" in str(exc.value) and \
        "run state=restored again" in str(exc.value) and exc.value.rolled_back is False, str(exc.value)
    assert "restore_file" not in r.ctx.host.calls and r.ctx.journal.phase == "restore_switch", r.ctx.host.calls
    assert json.loads(daemon_json.read_text()) == {"data-root": r.fwd[0].target} and restarted == []


def test_a_switch_back_is_not_finished_when_docker_ran_on_the_moved_root_since(tmp_path, monkeypatch):
    """A reboot lifted the masks and Docker served the moved root after the kill: the original put back is
    stale, so the moved root goes back in service and the restore starts over (its copy back takes the writes)."""
    r, restarted, daemon_json = restore(tmp_path, monkeypatch, "restore_switch", started=True)
    r.resume(running=False, switched=r.fwd)
    assert "started_since" in r.ctx.host.calls
    assert "restore_file" not in r.ctx.host.calls, "a file was switched back: %s" % r.ctx.host.calls
    assert json.loads(daemon_json.read_text()) == {"data-root": r.fwd[0].target}
    assert (tmp_path / "src.bak" / "image").is_dir(), "the original was put back although it is stale"
    assert r.ctx.host.calls[-2:] == ["start_docker", "wait_docker"], r.ctx.host.calls
    assert restarted == ["restore_record"], "the restore did not start over"


def test_a_switch_back_is_not_finished_while_docker_runs(tmp_path, monkeypatch):
    """Docker running now (on the moved root: the switch back never reached daemon.json) is what the host says;
    the journal's phase alone would finish a switch back under it."""
    r, restarted, daemon_json = restore(tmp_path, monkeypatch, "restore_switch", started=False)
    r.resume(running=True, switched=r.fwd)
    assert "restore_file" not in r.ctx.host.calls, r.ctx.host.calls
    assert json.loads(daemon_json.read_text()) == {"data-root": r.fwd[0].target}
    assert restarted == ["restore_record"]


def test_the_host_is_asked_whether_docker_started_since_the_journals_last_write(tmp_path, monkeypatch):
    r, _restarted, _daemon_json = restore(tmp_path, monkeypatch, "restore_switch", started=False)
    updated = r.ctx.journal.get("updated")
    assert updated, "the journal records no time of its last write"
    r.resume(running=False, switched=r.fwd)
    asked = [a for a in r.ctx.host.args if a[0] == "started_since"]
    assert asked == [("started_since", updated, "docker.service")], asked


def test_a_switch_back_the_host_shows_done_is_finished_even_when_docker_ran_since(tmp_path, monkeypatch):
    """The host no longer points Docker at the moved root (nothing switched): whatever Docker ran on since the kill
    was the original, so the switch back is finished there and nothing is started over."""
    r, restarted, daemon_json = restore(tmp_path, monkeypatch, "restore_switch", started=True)
    r.resume(running=False, switched=[])
    assert "restore_file" in r.ctx.host.calls and r.ctx.host.calls[-2:] == ["start_docker", "wait_docker"]
    assert json.loads(daemon_json.read_text()) == {}
    assert restarted == [] and r.ctx.journal.phase == "restored"


def test_a_restore_killed_after_its_start_with_docker_running_starts_nothing(tmp_path, monkeypatch):
    """Docker already runs on the original (the kill came after its start): the rerun neither lifts masks nor
    starts Docker again; it checks the root Docker reports and finishes."""
    r, restarted, _daemon_json = restore(tmp_path, monkeypatch, "restore_start", backup_kept=False)
    r.resume(running=True, switched=[])
    assert "start_docker" not in r.ctx.host.calls and "unmask" not in r.ctx.host.calls, r.ctx.host.calls
    assert restarted == [] and r.ctx.journal.phase == "restored"


def test_a_restore_finished_on_a_root_docker_does_not_report_fails(tmp_path, monkeypatch):
    """Docker answers from another root than the original: the restore is not called finished."""
    r, _restarted, _daemon_json = restore(tmp_path, monkeypatch, "restore_start", backup_kept=False)
    r.ctx.client.root = str(tmp_path / "elsewhere")
    with pytest.raises(RelocationError, match=re.escape(str(tmp_path / "elsewhere"))):
        r.resume(running=True, switched=[])
    assert r.ctx.journal.phase != "restored"


def test_a_restore_whose_start_fails_carries_what_docker_may_have_written_on_the_original(tmp_path, monkeypatch):
    """The start on the original counts from its attempt: when it fails (dockerd may have restored containers that
    wrote before it gave up), what the original holds is carried onto the moved root before that goes back."""
    r, _restarted, _daemon_json = restore(tmp_path, monkeypatch, "done")
    r.ctx.moves = [m.reversed() for m in r.fwd]
    carried = []
    monkeypatch.setattr(r.verification, "record_inventory", lambda again=False: None)
    monkeypatch.setattr(_passes.Passes, "run", lambda self, phase, allow, skips=None: (0, 0))
    monkeypatch.setattr(_passes.Passes, "offline", lambda self, settled, actions: None)
    monkeypatch.setattr(_passes.Passes, "check_time_left", lambda self: None)
    monkeypatch.setattr(r, "carry_forward", lambda: carried.append(dict(r.ctx.journal.data)))
    monkeypatch.setattr(r, "reapply_forward", lambda: None)
    monkeypatch.setattr(r.ctx.host, "wait_docker", lambda timeout: False)
    monkeypatch.setattr(_passes.Passes, "committed_layers", lambda self: None)
    with pytest.raises(RelocationError, match="start failed"):
        r.restore()
    assert len(carried) == 1 and carried[0]["carry"] is True, carried


def facts(running):
    """What gather() reads, for Restore._run (the helper's r._run stands for a restore started over)."""
    return lambda: {"engine": {"running": running}, "config": {"daemon_json": {}}}


def test_the_plan_of_an_interrupted_restore_says_it_will_finish_it(tmp_path, monkeypatch):
    """The rollback playbook plans in check mode first: a restore killed in its window (Docker down) is planned as
    finished by the real run, not refused because Docker is not running."""
    r, restarted, daemon_json = restore(tmp_path, monkeypatch, "restore_final_copy")
    r.ctx.check_mode = r.ctx.journal.check_mode = True
    r.ctx.facts = facts(False)
    before = daemon_json.read_text()
    res = _restore.Restore._run(r)
    assert res["changed"] is True and "finish the restore interrupted in phase restore_final_copy (Docker stopped)" \
        in res["actions"], res["actions"]
    assert r.ctx.host.calls == [] and restarted == [] and daemon_json.read_text() == before


@pytest.mark.parametrize("phase", ["final_copy", "switch", "rollback"])
def test_a_restore_over_a_move_killed_in_its_window_rolls_that_window_back(tmp_path, monkeypatch, phase):
    """The rollback playbook over a move killed with Docker stopped: the move's own rollback runs (Docker back on
    the original), in check mode the plan says so; nothing is refused for a kept original the move never made."""
    r, restarted, _daemon_json = restore(tmp_path, monkeypatch, phase)
    r.ctx.facts = facts(False)
    rolled = []
    monkeypatch.setattr(r.rollback, "roll_back", lambda: rolled.append(r.ctx.moves))
    r.ctx.check_mode = r.ctx.journal.check_mode = True
    plan = _restore.Restore._run(r)
    assert plan["changed"] is True and any(a.startswith("roll back the move interrupted in phase %s" % phase)
                                           for a in plan["actions"]), plan["actions"]
    assert rolled == []
    r.ctx.check_mode = r.ctx.journal.check_mode = False
    res = _restore.Restore._run(r)
    assert rolled == [r.fwd] and res["changed"] is True and restarted == []
    assert "rolled back the move interrupted in phase %s" % phase in res["actions"]


def test_a_restore_over_a_move_window_docker_answered_in_is_rolled_back(tmp_path, monkeypatch):
    """A move killed after Docker answered on the new root: the restore rolls that window back (the rollback
    decides from the host what to copy back first)."""
    r, _restarted, _daemon_json = restore(tmp_path, monkeypatch, "switch")
    r.ctx.journal.save(phases_done=["record", "stop", "final_copy", "switch", "start"])
    r.ctx.facts = facts(True)
    rolled = []
    monkeypatch.setattr(r.rollback, "roll_back", lambda: rolled.append(r.ctx.moves))
    res = _restore.Restore._run(r)
    assert rolled == [r.fwd] and res["changed"] is True, res


def test_a_restore_over_a_move_killed_while_it_removed_the_original_is_refused_unchanged(tmp_path, monkeypatch):
    r, _restarted, daemon_json = restore(tmp_path, monkeypatch, "source")
    r.ctx.journal.save(phases_done=["record", "stop", "final_copy", "switch", "start", "verify"],
                       removing={"docker": r.fwd[0].backup})
    r.ctx.facts = facts(True)
    monkeypatch.setattr(r.rollback, "roll_back", lambda: pytest.fail("rolled back"))
    before = daemon_json.read_text()
    with pytest.raises(RelocationError, match="while it removed the original .keep_source=false.") as exc:
        _restore.Restore._run(r)
    assert exc.value.phase == "preflight" and daemon_json.read_text() == before


@pytest.mark.parametrize("margin, refused", [("100T", True), ("0", False)])
def test_a_copy_back_that_would_not_fit_on_the_originals_filesystem_is_refused(tmp_path, monkeypatch, margin,
                                                                               refused):
    """The copy back is measured against the free space where it lands (the kept original's filesystem) before
    anything is copied: what the moved root holds beyond the original, plus the margin."""
    r, _restarted, daemon_json = restore(tmp_path, monkeypatch, "done")
    (tmp_path / "disk" / "docker" / "image" / "layer").write_bytes(b"x" * 65536)
    r.ctx.opts.margin = margin
    r.ctx.moves = [m.reversed() for m in r.fwd]
    before = daemon_json.read_text()
    if refused:
        with pytest.raises(RelocationError, match=r"not enough space on \S+ for the copy back onto %s: .* free, "
                           r"100\.0T needed" % re.escape(str(tmp_path / "src.bak"))) as exc:
            r.room()
        assert exc.value.phase == "preflight"
    else:
        r.room()
        assert r.ctx.moves[0].size >= 65536
    assert r.ctx.host.calls == []  # measured and refused: nothing acted on
    assert daemon_json.read_text() == before


@pytest.mark.parametrize("spare, refused", [(1, False), (-1, True)])
def test_the_copy_back_needs_room_for_what_the_moved_root_holds_beyond_the_original(tmp_path, monkeypatch, spare,
                                                                                    refused):
    """Free space one byte above or below what the moved root holds beyond the kept original (margin 0)."""
    r, _restarted, _daemon_json = restore(tmp_path, monkeypatch, "done")
    (tmp_path / "disk" / "docker" / "image" / "layer").write_bytes(b"x" * 65536)
    (tmp_path / "src.bak" / "image" / "old").write_bytes(b"y" * 8192)
    r.ctx.opts.margin = "0"
    r.ctx.moves = [m.reversed() for m in r.fwd]
    host = r.ctx.host
    beyond = host.measure(str(tmp_path / "disk" / "docker")).bytes - host.measure(str(tmp_path / "src.bak")).bytes
    assert beyond > 0
    monkeypatch.setattr(host, "filesystem", lambda path, mounts=None, verdict=False: {
        "major_minor": "8:1", "mount_point": "/", "free_bytes": beyond + spare})
    if refused:
        with pytest.raises(RelocationError, match="not enough space on / for the copy back"):
            r.room()
    else:
        r.room()


def test_a_switch_back_interrupted_between_two_roots_carries_only_what_is_back_in_service(tmp_path, monkeypatch):
    """A restore of Docker's and containerd's roots, killed after Docker's root was switched back and before
    containerd's, then Docker ran (a reboot): it wrote on Docker's original and on containerd's moved root.  The
    moved roots go back in service, but first what Docker wrote on its original is carried onto its moved root; the
    journal names that copy, so a kill during it resumes it.  containerd's root, still switched, is not copied onto
    itself."""
    r, restarted, _daemon_json = restore(tmp_path, monkeypatch, "restore_switch", started=True)
    ctd = Move("containerd", str(tmp_path / "ctd"), str(tmp_path / "disk" / "containerd"), _switches.make("bind"),
               backup=str(tmp_path / "ctd.bak"))
    r.fwd.append(ctd)
    copies = []
    monkeypatch.setattr(r.rollback, "copy_back", lambda back, serve, served, where, roots: copies.append(
        ([(m.name, m.source, m.target) for m in back], served, roots)))
    monkeypatch.setattr(r, "reapply_forward", lambda: copies.append("reapplied"))
    r.resume(running=False, switched=[ctd])
    src, target = r.fwd[0].source, r.fwd[0].target
    assert copies == [([("docker", src, target)], [src], [(src, target)]), "reapplied"], copies
    assert r.ctx.journal.get("carry") is True and r.ctx.journal.get("carried") is True
    assert restarted == ["restore_record"]
    del copies[:]
    r.ctx.journal.save(phase="restore_switch", carry=None, carried=None)
    r.resume(running=False, switched=list(r.fwd))  # both still switched: Docker served the moved roots only
    assert copies == ["reapplied"], copies


@pytest.mark.parametrize("started,carried_again", [(True, True), (False, False)])
def test_a_carry_done_then_a_boot_that_ran_docker_on_the_original_is_carried_again(
        tmp_path, monkeypatch, started, carried_again):
    """Killed after the carry and before the forward files were written, then a boot that started Docker on the
    original still in service: what it wrote since is carried again (the journal's "carried" is not trusted over
    the host).  With no start since, the carry is not made twice."""
    r, restarted, _daemon_json = restore(tmp_path, monkeypatch, "restore_reapply", started=started)
    r.ctx.journal.save(carry=True, carried=True)
    copies = []
    monkeypatch.setattr(r.rollback, "copy_back", lambda back, serve, served, where, roots: copies.append(
        [m.name for m in back]))
    monkeypatch.setattr(r, "reapply_forward", lambda: copies.append("reapplied"))
    r.resume(running=False, switched=[])
    assert copies == ([["docker"]] if carried_again else []) + ["reapplied"], copies
    assert restarted == ["restore_record"]
