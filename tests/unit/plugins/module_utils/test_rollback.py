# -*- coding: utf-8 -*-
"""Recovery decided from what the host shows, not from what the journal remembers: a rollback finished after a
kill and a reboot, a start that never answered, a rerun that cannot start Docker on a switched host, a killed
switch resumed only while Docker has not run since."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import subprocess
import time

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _journal, _mountinfo, _rollback, _switches, _systemd, _transaction)
from ansible_collections.dockyard.migrate.plugins.module_utils._move import Move, RelocationError

from fake_host import FakeClient, FakeHost, context  # pylint: disable=import-error


def relocation(tmp_path, monkeypatch, method="daemon_json", started=False, bound=False, running=False, complete=True,
               host=None, **journal):
    """A move of src to disk/docker by METHOD, journalled with JOURNAL's fields, on a FakeHost; the copy engine's runs
    recorded in ``r.copies`` instead of made; the bind's mount table answer given by BOUND; the new root marked
    by the switch's sentinel (a final copy finished) when COMPLETE."""
    src, target = tmp_path / "src", tmp_path / "disk" / "docker"
    target.mkdir(parents=True)
    if complete:
        (target / _systemd.SENTINEL_NAME).write_text("moved")
    src.mkdir()
    daemon_json = tmp_path / "daemon.json"
    daemon_json.write_text(json.dumps({"data-root": str(target)} if bound else {}))
    ctx = context({"target": str(target), "method": method, "fstab": str(tmp_path / "fstab"),
                   "daemon_json": str(daemon_json)},
                  host=host or FakeHost(started=started, lock_dir=str(tmp_path / "lock")),
                  client=FakeClient(running=running, root=str(target if bound else src)),
                  moves=[Move("docker", str(src), str(target), _switches.make(method))])
    ctx.journal.start(0, method)
    ctx.journal.save(**journal)
    r = _transaction.Relocation(ctx)
    r.copies = []
    monkeypatch.setattr(_transaction._passes.Passes, "run",
                        lambda self, phase, allow, skips=None: r.copies.append(phase) or (0, 0))
    monkeypatch.setattr(_switches._mountinfo, "same_bind", lambda mounts, src_, path: bound)
    return r


def test_a_rollback_killed_then_rebooted_onto_the_new_root_copies_back_what_docker_wrote(tmp_path, monkeypatch):
    """Scenario: the rollback of a move that failed before its start is killed once the bind is lifted; the boot
    mounts fstab's bind line again and Docker runs on the new root.  The journal says "not served"; the host says
    Docker started since and the bind is there: the rerun copies back before it undoes anything."""
    r = relocation(tmp_path, monkeypatch, method="bind", started=True, bound=True, phase="rollback", served=False)
    updated = r.ctx.journal.get("updated")
    at_copy = []
    monkeypatch.setattr(_transaction._passes.Passes, "run", lambda self, phase, allow, skips=None: at_copy.append(
        (phase, json.loads(open(r.ctx.journal.path).read()).get("served"), list(r.ctx.host.calls))) or (0, 0))
    r.rollback.finish_rollback()
    assert [(p, served) for p, served, _calls in at_copy] == [("copy_back", True)], at_copy
    assert "restore_file" not in at_copy[0][2], "the copy back came after the switch was undone: %s" % at_copy
    calls = r.ctx.host.calls
    assert r.ctx.host.args[0] == ("started_since", updated, "docker.service"), r.ctx.host.args
    assert calls.index("stop_docker") < calls.index("start_docker"), calls
    assert r.ctx.journal.get("copied_back") is True and r.ctx.journal.phase == "rolled_back"
    assert any("Docker ran since" in a for a in r.ctx.actions), r.ctx.actions


def test_a_rollback_killed_then_rebooted_onto_the_original_copies_nothing_back(tmp_path, monkeypatch):
    r = relocation(tmp_path, monkeypatch, method="bind", started=True, bound=False, phase="rollback", served=False)
    r.rollback.finish_rollback()
    assert r.copies == [] and r.ctx.journal.phase == "rolled_back"


def test_a_docker_answering_on_the_new_root_is_copied_back_whatever_systemd_says(tmp_path, monkeypatch):
    """Docker answers now (started by hand, or socket-activated where started_since sees nothing) and reports the
    new root: what it wrote there is copied back."""
    r = relocation(tmp_path, monkeypatch, started=False, running=True, bound=True, phase="rollback", served=False)
    r.rollback.finish_rollback()
    assert r.copies == ["copy_back"]


def test_the_journals_served_decides_when_docker_has_not_run_since(tmp_path, monkeypatch):
    r = relocation(tmp_path, monkeypatch, phase="rollback", served=True)
    r.rollback.finish_rollback()
    assert r.copies == ["copy_back"]
    r = relocation(tmp_path / "again", monkeypatch, phase="rollback", served=True, copied_back=True)
    r.rollback.finish_rollback()
    assert r.copies == [], "a copy back that finished was made again over the original"


def test_writes_on_both_roots_are_refused_with_nothing_changed(tmp_path, monkeypatch):
    """The journal says Docker served the new root and nothing was copied back; the host says Docker has run on
    the original since.  Copying back would overwrite the original's newer writes, not copying back would drop
    the new root's: both are kept and the rerun changes nothing."""
    r = relocation(tmp_path, monkeypatch, started=True, running=True, bound=False, phase="rollback", served=True)
    before = r.ctx.journal.load()
    with pytest.raises(RelocationError, match="each root may hold writes the other lacks") as exc:
        r.rollback.finish_rollback()
    assert exc.value.rolled_back is False and exc.value.phase == "preflight"
    assert r.ctx.host.calls == [], "Docker answers: nothing on the host is touched, %s" % r.ctx.host.calls
    assert r.copies == [] and r.ctx.journal.load() == before


def test_a_start_on_the_new_root_counts_as_served_before_it_answers(tmp_path, monkeypatch):
    """A start that fails after dockerd restored containers: what they wrote is copied back by the rollback."""
    r = relocation(tmp_path, monkeypatch)
    answers = iter([False, True])  # the start on the new root never answers; the rollback's on the original does
    monkeypatch.setattr(r.ctx.host, "wait_docker", lambda timeout: next(answers))
    with pytest.raises(RelocationError, match="did not answer"):
        r.phase_start()
    assert r.ctx.journal.load()["served"] is True
    r.rollback.roll_back()
    assert r.copies == ["copy_back"]


def test_a_fresh_move_forgets_an_earlier_runs_served_and_copied_back(tmp_path):
    j = _journal.Journal(str(tmp_path / "t"))
    j.start(0, "bind")
    j.save(served=True, copied_back=True, phase="rolled_back")
    j.fresh_start()
    assert "served" not in j.data and "copied_back" not in j.data


def test_a_rollback_step_that_fails_records_that_docker_now_serves_the_new_root(tmp_path, monkeypatch):
    r = relocation(tmp_path, monkeypatch, method="bind", bound=True, phase="rollback", served=False)

    def busy():
        raise RelocationError("umount: busy")

    monkeypatch.setattr(r.rollback, "walk_back", busy)
    r.ctx.host.started = False
    with pytest.raises(RelocationError, match="umount: busy"):
        r.rollback.roll_back()
    assert r.ctx.journal.load()["served"] is True and r.ctx.journal.get("copied_back") is False


def test_a_rollback_step_that_fails_with_docker_back_on_the_original_records_no_service(tmp_path, monkeypatch):
    r = relocation(tmp_path, monkeypatch, method="bind", bound=False, phase="rollback", served=False)

    def busy():
        raise RelocationError("fstab: read-only file system")

    monkeypatch.setattr(r.rollback, "walk_back", busy)
    with pytest.raises(RelocationError, match="read-only"):
        r.rollback.roll_back()
    assert r.ctx.journal.load()["served"] is False


def test_a_switched_host_whose_docker_will_not_start_is_rolled_back(tmp_path, monkeypatch):
    """Killed after the switch (during a slow start); the rerun finds the host switched, Docker down, and Docker
    does not start there: the window is rolled back (copying back), never left down."""
    r = relocation(tmp_path, monkeypatch, bound=True, phase="switch",
                   phases_done=["record", "online_copy", "stop", "final_copy", "switch"],
                   inventory={"fingerprint": "f", "images": [], "containers": [], "volumes": [], "running": []},
                   texts_before={})
    waits = []

    def wait_docker(timeout):
        waits.append(r.ctx.host.calls.count("start_docker"))
        return len(waits) > 1  # the first start (on the new root) never answers; the rollback's does

    monkeypatch.setattr(r.ctx.host, "wait_docker", wait_docker)
    monkeypatch.setattr(r.verification, "settle", lambda inventory: (inventory, [], True))
    with pytest.raises(RelocationError, match="start failed: Docker did not answer.*rolled back") as exc:
        r.converge_switched({"engine": {"running": False}})
    assert exc.value.rolled_back is True
    assert r.copies == ["copy_back"] and r.ctx.host.calls.count("start_docker") == 2, r.ctx.host.calls
    assert r.ctx.journal.phase == "rolled_back"


def test_a_switched_host_docker_starts_on_but_that_fails_its_verification_is_rolled_back(tmp_path, monkeypatch):
    r = relocation(tmp_path, monkeypatch, bound=True, phase="switch",
                   phases_done=["record", "online_copy", "stop", "final_copy", "switch"],
                   inventory={"fingerprint": "f", "images": [], "containers": [], "volumes": [], "running": []},
                   texts_before={})

    def verify():
        raise RelocationError("the inventory differs: image busybox missing", "verify")

    monkeypatch.setattr(r, "phase_verify", verify)
    monkeypatch.setattr(r.verification, "settle", lambda inventory: (inventory, [], True))
    with pytest.raises(RelocationError, match="verify failed: the inventory differs.*rolled back") as exc:
        r.converge_switched({"engine": {"running": False}})
    assert exc.value.rolled_back is True and r.copies == ["copy_back"]


@pytest.mark.parametrize("journal,running", [
    ({"phase": "verify", "phases_done": ["record", "stop", "final_copy", "switch", "start", "verify"]}, False),
    ({"phase": "switch", "phases_done": ["record", "stop", "final_copy", "switch", "start"]}, True),
    ({"phase": "final_copy", "phases_done": ["record", "stop"]}, False),
], ids=["verified-then-killed-in-source", "docker-running", "final-copy-unfinished"])
def test_a_switched_host_is_not_rolled_back_where_that_could_lose_data(tmp_path, monkeypatch, journal, running):
    """Not once the move was verified (the original may be partly removed), not while Docker runs (it may have
    served for long: the failure is reported and Docker left serving), not before the final copy finished (the
    new root may be partial)."""
    r = relocation(tmp_path, monkeypatch, bound=True, running=running,
                   inventory={"fingerprint": "f", "images": [], "containers": [], "volumes": [], "running": []},
                   texts_before={}, **journal)

    def differs():
        raise RelocationError("differs", "verify")

    monkeypatch.setattr(r.ctx.host, "wait_docker", lambda timeout: False)
    monkeypatch.setattr(r, "phase_verify", differs)
    monkeypatch.setattr(r.rollback, "roll_back", lambda: pytest.fail("rolled back"))
    with pytest.raises(RelocationError, match="did not answer|differs") as exc:
        r.converge_switched({"engine": {"running": running}})
    assert not exc.value.rolled_back


def test_a_finished_moves_docker_that_will_not_start_is_not_rolled_back(tmp_path, monkeypatch):
    r = relocation(tmp_path, monkeypatch, bound=True, phase="done")
    monkeypatch.setattr(r.ctx.host, "wait_docker", lambda timeout: False)
    monkeypatch.setattr(r.rollback, "roll_back", lambda: pytest.fail("a finished move was rolled back"))
    with pytest.raises(RelocationError, match="did not answer") as exc:
        r.converge_switched({"engine": {"running": False}})
    assert exc.value.rolled_back is None or exc.value.rolled_back is False


@pytest.mark.parametrize("started,resumes", [(False, True), (True, False)])
def test_a_killed_switch_is_resumed_only_while_docker_has_not_run_since(tmp_path, monkeypatch, started, resumes):
    r = relocation(tmp_path, monkeypatch, started=started, phase="switch",
                   phases_done=["record", "online_copy", "stop", "final_copy"])
    assert r.resumes_switch({"running": False}) is resumes
    assert ("started_since", r.ctx.journal.get("updated"), "docker.service") in r.ctx.host.args


def test_daemon_json_serves_the_target_as_the_file_says_now(tmp_path, monkeypatch):
    r = relocation(tmp_path, monkeypatch, bound=True)
    m = r.ctx.moves[0]
    assert m.switch.serves_target(m, r.ctx, [])
    (tmp_path / "daemon.json").write_text(json.dumps({"log-driver": "json-file"}))  # rewritten without data-root
    assert not m.switch.serves_target(m, r.ctx, [])
    (tmp_path / "daemon.json").write_text("{not json")
    assert m.switch.serves_target(m, r.ctx, []) is None, "an unreadable daemon.json tells nothing"


def test_docker_ran_where_the_host_does_not_tell_keeps_both_roots(tmp_path, monkeypatch):
    """daemon.json unreadable after a reboot Docker ran through: neither root is copied over the other; Docker,
    down, is started where the host points it (best effort) and the message says so."""
    r = relocation(tmp_path, monkeypatch, started=True, phase="rollback", served=False)
    (tmp_path / "daemon.json").write_text("{not json")
    with pytest.raises(RelocationError, match="does not tell on which root .*both roots are kept; Docker was started "
                                              "where the host points it") as exc:
        r.rollback.finish_rollback()
    assert exc.value.rolled_back is False
    assert r.copies == [] and "stop_docker" not in r.ctx.host.calls and "restore_file" not in r.ctx.host.calls
    assert r.ctx.host.calls[-2:] == ["start_docker", "wait_docker"], r.ctx.host.calls


def test_a_new_root_without_the_switchs_sentinel_is_never_copied_back(tmp_path, monkeypatch):
    """Docker started since on the new root, but the new root lacks the sentinel the switch writes after a finished
    final copy (a later final copy deleted it, and was killed part way): it may be partial; both are kept."""
    r = relocation(tmp_path, monkeypatch, method="bind", started=True, bound=True, complete=False, phase="rollback",
                   served=False)
    with pytest.raises(RelocationError, match="lacks .dockyard-data-root.*both roots are kept"):
        r.rollback.finish_rollback()
    assert r.copies == [] and "stop_docker" not in r.ctx.host.calls


def test_a_rerun_copying_back_again_records_the_copy_as_unfinished_first(tmp_path, monkeypatch):
    """An earlier rollback copied back (copied_back) and was killed; Docker then wrote on the new root again after
    a reboot.  The rerun's copy back is recorded as unfinished before it starts: a kill during it leaves a
    journal that makes the next run copy back again, with no reboot to show it."""
    r = relocation(tmp_path, monkeypatch, method="bind", started=True, bound=True, phase="rollback", served=True,
                   copied_back=True)
    seen = []
    monkeypatch.setattr(_transaction._passes.Passes, "run", lambda self, phase, allow, skips=None: seen.append(
        dict((k, v) for k, v in json.loads(open(r.ctx.journal.path).read()).items()
             if k in ("served", "copied_back"))) or (0, 0))
    r.rollback.finish_rollback()
    assert seen == [{"served": True, "copied_back": False}], seen


class Bound(FakeHost):
    """A host where the new root is bind-mounted over the original (a boot mounted fstab's bind line) until
    umount is run on it."""

    def __init__(self, target, original, layers=1, **kw):
        super(Bound, self).__init__(**kw)
        self.stack = [(target, original)] * layers  # a boot and a rerun may each have mounted it

    @property
    def bind(self):
        return self.stack[-1] if self.stack else None

    def run(self, argv, what=None):
        self._call("run", list(argv))
        if argv[:1] == ["umount"] and self.bind and argv[1] == self.bind[1]:
            self.stack.pop()
        elif argv[:2] == ["mount", "--bind"]:
            self.stack.append((argv[2], argv[3]))
        return ""


def bound_relocation(tmp_path, monkeypatch, layers=1):
    src, target = str(tmp_path / "src"), str(tmp_path / "disk" / "docker")  # as relocation() makes them
    host = Bound(target, src, layers=layers, started=True, lock_dir=str(tmp_path / "lock"))
    r = relocation(tmp_path, monkeypatch, method="bind", started=True, phase="rollback", served=False, host=host)
    assert (r.ctx.moves[0].source, r.ctx.moves[0].target) == (src, target) and r.window.ctx.host is host
    monkeypatch.setattr(_mountinfo, "same_bind", lambda mounts, s, path: host.bind == (s, path))
    monkeypatch.setattr(_mountinfo, "mount_at",
                        lambda mounts, path: object() if host.bind and host.bind[1] == path else None)
    return r, host, src, target


@pytest.mark.parametrize("layers", [1, 2])
def test_the_copy_back_lifts_a_bind_over_the_original_before_it_copies(tmp_path, monkeypatch, layers):
    """The original was put back before the kill and the boot bound the new root over it (twice, when a rerun
    mounted it again): a copy onto the original's path would land in the new root itself.  Every such bind is
    lifted first (Docker stopped), and the copy goes from the new root onto the original."""
    r, host, src, target = bound_relocation(tmp_path, monkeypatch, layers)
    copied = []
    monkeypatch.setattr(_transaction._passes.Passes, "run",
                        lambda self, phase, allow, skips=None: copied.append(
                            (phase, self.moves[0].source, self.moves[0].target, host.bind)) or (0, 0))
    r.rollback.finish_rollback()
    assert copied == [("copy_back", target, src, None)], copied
    assert host.args.count(("run", ["umount", src])) == layers
    assert any(a.startswith("lifted the bind of %s" % target) for a in r.ctx.actions), r.ctx.actions
    assert host.calls.index("stop_docker") < host.args.index(("run", ["umount", src]))


def test_a_copy_back_that_fails_binds_the_new_root_again_before_docker_starts_there(tmp_path, monkeypatch):
    r, host, src, target = bound_relocation(tmp_path, monkeypatch)

    def fail(self, phase, allow, skips=None):
        raise _transaction._copy.CopyError("rsync: No space left on device")

    monkeypatch.setattr(_transaction._passes.Passes, "run", fail)
    with pytest.raises(RelocationError, match="No space left"):
        r.rollback.finish_rollback()
    assert host.bind == (target, src), "Docker was started without the bind it served through"
    assert host.args.index(("run", ["mount", "--bind", target, src])) < host.calls.index("start_docker")


def test_any_error_while_planning_inside_a_killed_window_rolls_that_window_back(tmp_path, monkeypatch):
    """Not only a refusal: an OSError reading the host while a killed run's window holds Docker down rolls the
    window back instead of leaving Docker stopped."""
    r = relocation(tmp_path, monkeypatch, phase="final_copy", phases_done=["record", "stop"])

    def unreadable(move, facts, opts):
        raise OSError(5, "Input/output error", "/etc/fstab")

    monkeypatch.setattr(r.ctx.moves[0].switch, "refuse_conflicts", unreadable)
    rolled = []
    monkeypatch.setattr(r.rollback, "roll_back", lambda: rolled.append(True))
    with pytest.raises(RelocationError, match="Input/output error.*rolled back instead") as exc:
        r.check_plan({}, {"running": False}, False)
    assert rolled == [True] and exc.value.rolled_back is True
    r2 = relocation(tmp_path / "b", monkeypatch, phase="done")
    monkeypatch.setattr(r2.ctx.moves[0].switch, "refuse_conflicts", unreadable)
    monkeypatch.setattr(r2.rollback, "roll_back", lambda: pytest.fail("no window is open: nothing to roll back"))
    with pytest.raises(OSError):
        r2.check_plan({}, {"running": False}, False)


def test_a_failed_copy_back_starts_docker_even_when_its_units_cannot_be_unmasked(tmp_path, monkeypatch):
    r, host, _src, _target = bound_relocation(tmp_path, monkeypatch)

    def fail(self, phase, allow, skips=None):
        raise _transaction._copy.CopyError("rsync: Input/output error")

    def unmask(units):
        host._call("unmask", list(units or []))
        raise RelocationError("systemctl unmask failed")

    monkeypatch.setattr(_transaction._passes.Passes, "run", fail)
    monkeypatch.setattr(host, "unmask", unmask)
    r.ctx.journal["masked"] = ["docker.service"]
    with pytest.raises(RelocationError, match="Input/output error"):
        r.rollback.finish_rollback()
    assert "unmask" in host.calls and host.calls.index("unmask") < host.calls.index("start_docker"), host.calls


def test_a_daemon_json_rollback_points_the_copied_back_volume_paths_at_the_original(tmp_path, monkeypatch):
    """Docker served the new root through data-root, so the configurations it wrote there record their volumes
    under it: copied back onto the original, they are pointed at the original (Docker 20.10 relabels a :z volume
    through that path, and finds none once the new root goes)."""
    r = relocation(tmp_path, monkeypatch, method="daemon_json", started=True, bound=True, phase="rollback",
                   served=True)
    src, target = r.ctx.moves[0].source, r.ctx.moves[0].target
    rel = "containers/%s/config.v2.json" % ("c" * 64)
    point = {"Type": "volume", "Name": "v", "Mode": "z", "Source": target + "/volumes/v/_data"}
    served = {"MountPoints": {"/data": point}}
    (tmp_path / "disk" / "docker" / "containers" / ("c" * 64)).mkdir(parents=True)
    (tmp_path / "disk" / "docker" / rel).write_text(json.dumps(served))

    def copy(self, phase, allow, skips=None):
        """The copy back, as rsync makes it (a process of its own: the audit charges the copy engine's writes to
        it, not to the code that runs it): the new root's file lands on the original."""
        r.copies.append(phase)
        subprocess.run(["cp", "-a", "--parents", rel, str(tmp_path / "src")], cwd=str(tmp_path / "disk" / "docker"),
                       check=True, timeout=30)
        return 0, 0

    monkeypatch.setattr(_transaction._passes.Passes, "run", copy)
    r.rollback.finish_rollback()
    assert r.copies == ["copy_back"]
    assert json.loads((tmp_path / "src" / rel).read_text())["MountPoints"]["/data"]["Source"] == \
        src + "/volumes/v/_data"
    assert json.loads((tmp_path / "disk" / "docker" / rel).read_text()) == served, "the new root was changed"


def test_a_copy_back_whose_volume_paths_cannot_be_rewritten_starts_docker_where_it_served(tmp_path, monkeypatch):
    """The rewrite after the copy back fails: Docker is started again where it served (nothing written there is
    lost) and the run fails saying so, instead of leaving Docker stopped and masked."""
    r = relocation(tmp_path, monkeypatch, method="daemon_json", started=True, bound=True, phase="rollback",
                   served=True)

    def broken(host, root, old_root, new_root):
        raise OSError("pointing the volume paths recorded under %s at %s failed: disk full" % (root, new_root))

    monkeypatch.setattr(_rollback._mount_sources, "rebase", broken)
    with pytest.raises(RelocationError, match="disk full") as caught:
        r.rollback.finish_rollback()
    assert isinstance(caught.value, _rollback.FailedForward), caught.value  # Docker serves where it served
    calls = r.ctx.host.calls
    assert r.copies == ["copy_back"] and "start_docker" in calls, calls
    assert calls.index("stop_docker") < calls.index("unmask") < calls.index("start_docker"), calls
    assert r.ctx.journal.get("copied_back") is not True
    # Docker went back where it served: daemon.json still names the new root.
    assert json.loads(open(r.ctx.opts.daemon_json).read()).get("data-root") == r.ctx.moves[0].target


MOUNTINFO = ("21 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
             "30 21 7:0 / /var/lib/docker.dockyard-disk rw - ext4 /dev/loop0 rw\n"
             "31 21 7:1 / /mnt/data rw - ext4 /dev/loop1 rw\n")


@pytest.mark.parametrize("dest, keep, final, excluded", [
    # beside a root that is a directory: the same filesystem
    ("/var/lib/docker.dockyard-backup-1", "/var/lib/docker.dockyard-backup-1.dockyard-copyback-{s}", None, False),
    # an original disk mounted beside its root: on that disk, where it is once the disk is on the root again
    ("/var/lib/docker.dockyard-disk", "/var/lib/docker.dockyard-disk/.dockyard-copyback-{s}",
     "/var/lib/docker/.dockyard-copyback-{s}", True),
    # a root that is a mount point of its own (the data disk's): inside it, where it stays
    ("/mnt/data", "/mnt/data/.dockyard-copyback-{s}", None, True),
])
def test_a_copy_back_keeps_what_it_replaces_on_the_filesystem_it_lands_on(dest, keep, final, excluded):
    entries = _mountinfo.parse(MOUNTINFO)
    stamp = 1767225600.0  # 2026-01-01T00:00:00Z
    s = time.strftime("%Y%m%dT%H%M%S", time.localtime(stamp))
    got = _rollback.copyback_dir(Move("docker", "/mnt/data/docker", dest, None, "/var/lib/docker"), entries, stamp)
    assert got[0] == keep.format(s=s) and got[1] == (final or keep).format(s=s)
    # the copy's --delete leaves every such directory at the top of the root where it is
    assert got[2] == (["--exclude=/.dockyard-copyback-*"] if excluded else [])
