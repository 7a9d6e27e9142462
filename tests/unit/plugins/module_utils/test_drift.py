# -*- coding: utf-8 -*-
"""_drift: a daemon_json move whose daemon.json was rewritten without data-root after its switch (finished, or killed
in its window), repaired by a rerun."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _drift, _run, _switches, _systemd
from ansible_collections.dockyard.migrate.plugins.module_utils._move import Move

from fake_host import FakeClient, context  # pylint: disable=import-error


def moved(tmp_path, method="daemon_json", daemon_json=None, sentinel=True, phase="done", check_mode=False,
          dropin=True, phases_done=("record", "online_copy", "stop", "final_copy", "switch")):
    """A move of src to disk/docker by METHOD recorded as PHASE (PHASES_DONE); daemon.json as DAEMON_JSON says now
    (a templating run's output by default: no data-root); its drop-in in place (DROPIN)."""
    target = tmp_path / "disk" / "docker"
    target.mkdir(parents=True)
    if sentinel:
        (target / _systemd.SENTINEL_NAME).write_text("moved")
    dj = tmp_path / "daemon.json"
    dj.write_text(json.dumps(daemon_json if daemon_json is not None else {"log-driver": "json-file",
                                                                          "bridge": "none"}))
    ctx = context({"target": str(target), "method": method, "daemon_json": str(dj), "fstab": str(tmp_path / "fstab")},
                  client=FakeClient(running=True, root=str(target)), check_mode=check_mode,
                  lock_dir=str(tmp_path / "lock"))
    move = Move("docker", str(tmp_path / "src"), str(target), _switches.make(method),
                backup=str(tmp_path / "src.dockyard-backup-1"))
    ctx.journal.moves = [move]
    ctx.journal.start(0, method)
    ctx.journal.check_mode = False
    ctx.journal.save(phase=phase, daemon_json_backup=str(tmp_path / "daemon.json.bak"), phases_done=list(phases_done))
    ctx.journal.check_mode = check_mode
    if dropin:
        ctx.host.dropins["docker"] = _systemd.dropin_for(move, str(dj))
    return ctx, dj, str(target)


def test_a_daemon_json_rewritten_without_data_root_is_drift(tmp_path):
    ctx, _dj, _target = moved(tmp_path)
    assert _drift.drifted(ctx, {"running": False})


@pytest.mark.parametrize("case", ["docker-running", "points-elsewhere", "no-sentinel", "bind", "before-final-copy",
                                  "other-path", "no-dropin", "other-dropin", "rolled-back", "switched"])
def test_what_is_not_drift(tmp_path, case):
    """Docker running (it may have written on the root it runs on), data-root set to another root (an operator's
    choice, not a templating run's omission), a moved root without its sentinel, the bind method, a window killed
    before its final copy finished, another path, the drop-in gone or another (Docker may have run on another
    root since), a rollback, daemon.json still switched: none is repaired."""
    ctx, dj, _target = moved(tmp_path, method="bind" if case == "bind" else "daemon_json",
                             daemon_json={"data-root": "/srv/docker"} if case == "points-elsewhere" else None,
                             sentinel=case != "no-sentinel",
                             phase={"before-final-copy": "final_copy", "rolled-back": "rollback"}.get(case, "done"),
                             phases_done=("record", "online_copy", "stop") if case == "before-final-copy" else
                             ("record", "online_copy", "stop", "final_copy", "switch"), dropin=case != "no-dropin")
    if case == "other-dropin":
        ctx.host.dropins["docker"] = _systemd.dropin_text("/srv/docker")
    if case == "switched":
        dj.write_text(json.dumps({"data-root": _target}))
    if case == "other-path":
        ctx.opts.target = str(tmp_path / "elsewhere")
    assert not _drift.drifted(ctx, {"running": case == "docker-running"})


def test_the_repair_sets_data_root_again_keeping_the_rest_and_starts_docker(tmp_path):
    ctx, dj, target = moved(tmp_path)
    op = _run.Operation(ctx)
    res = _drift.repair(ctx, op.window, op.verification)
    assert json.loads(dj.read_text()) == {"log-driver": "json-file", "bridge": "none", "data-root": target}
    assert ctx.host.calls[-2:] == ["start_docker", "wait_docker"], ctx.host.calls
    assert res["changed"] is True and any("no longer sets data-root to %s" % target in a for a in res["actions"])
    assert json.loads(ctx.diff["after"][str(dj)])["data-root"] == target and \
        "data-root" not in json.loads(ctx.diff["before"][str(dj)])


def test_the_repair_in_check_mode_changes_nothing(tmp_path):
    ctx, dj, _target = moved(tmp_path, check_mode=True)
    before = dj.read_text()
    op = _run.Operation(ctx)
    res = _drift.repair(ctx, op.window, op.verification)
    assert res["changed"] is True and dj.read_text() == before and ctx.host.calls == []


def test_a_default_root_docker_wrote_to_since_is_not_drift(tmp_path):
    """Docker ran on /var/lib/docker after the rewrite (an older drop-in without the check, or one removed) and
    wrote there: pointing it back at the moved root would leave those writes behind; not repaired."""
    ctx, _dj, _target = moved(tmp_path)
    (tmp_path / "src" / "containers").mkdir(parents=True)
    assert not _drift.drifted(ctx, {"running": False})
    (tmp_path / "src" / "containers").rmdir()  # an empty directory: nothing written there
    assert _drift.drifted(ctx, {"running": False})


@pytest.mark.parametrize("phase", ["switch", "start", "verify", "source"])
@pytest.mark.parametrize("now", [None, {"data-root": "/srv/docker", "debug": True}])
def test_a_window_killed_after_its_switch_then_daemon_json_rewritten_is_switched_again(tmp_path, phase, now):
    """Killed after the switch (Docker may have served the new root and written there), daemon.json then rewritten
    (without data-root, or naming another root): the drop-in kept Docker off every other root, so the rerun
    switches again, whatever daemon.json names, keeps the rest of the file, and goes on (repair returns None)
    without starting Docker itself; walking the window again from the stop would copy the older original over
    the new root's writes."""
    ctx, dj, target = moved(tmp_path, phase=phase, daemon_json=now)
    assert _drift.drifted(ctx, {"running": False})
    op = _run.Operation(ctx)
    assert _drift.repair(ctx, op.window, op.verification) is None
    want = dict(now or {"log-driver": "json-file", "bridge": "none"}, **{"data-root": target})
    assert json.loads(dj.read_text()) == want
    assert "start_docker" not in ctx.host.calls and "daemon_reload" in ctx.host.calls, ctx.host.calls
    # As the killed switch would have finished: the new root labelled, the files as switched recorded.
    assert "label_like" in ctx.host.changes and ctx.journal["texts_after"][str(dj)] == dj.read_text(), \
        ctx.host.changes
    assert [m["target"] for m in ctx.journal.recorded_moves()] == [target]  # the record of the move is kept
    assert not _drift.drifted(ctx, {"running": False})  # switched: a second look finds nothing to repair


def test_a_window_killed_after_its_switch_in_check_mode_changes_nothing(tmp_path):
    ctx, dj, _target = moved(tmp_path, phase="start", check_mode=True)
    before = dj.read_text()
    op = _run.Operation(ctx)
    res = _drift.repair(ctx, op.window, op.verification)
    assert res["changed"] is True and dj.read_text() == before and ctx.host.calls == []


def test_a_dropin_written_with_another_interpreter_still_holds_docker_to_the_moved_root(tmp_path):
    """The check's interpreter is the one the switch found (/usr/bin/python3, or platform-python before python3 was
    installed): a drop-in that differs only there still keeps Docker off every other root.  One for another root,
    another daemon.json or without the check does not."""
    ctx, dj, target = moved(tmp_path, phase="start")
    want = ctx.host.dropins["docker"]
    line = [ln for ln in want.splitlines() if ln.startswith("ExecStartPre=")][0]
    interpreter = line.split("=", 1)[1].split(" ", 1)[0]
    ctx.host.dropins["docker"] = want.replace(interpreter, "/usr/libexec/platform-python")
    assert ctx.host.dropins["docker"] != want and _drift.drifted(ctx, {"running": False})
    for other in (_systemd.dropin_text(target), _systemd.dropin_text("/srv/docker", str(dj)),
                  _systemd.dropin_text(target, str(tmp_path / "other.json"))):
        ctx.host.dropins["docker"] = other
        assert not _drift.drifted(ctx, {"running": False}), other
