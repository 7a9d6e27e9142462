# -*- coding: utf-8 -*-
"""state=cleaned: every check before the kept original is removed, the removal, its rerun and check mode."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import time

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _cleanup, _journal, _move, _mountinfo, _switches, _testhooks)
from ansible_collections.dockyard.migrate.plugins.module_utils._move import RelocationError

from fake_host import FakeHost, context  # pylint: disable=import-error

DAY = 86400


def _moved(tmp_path, finished_days_ago=10, phase="done", method="daemon_json"):
    """A host after a move kept its original: the target, the backup, and the marker recording both."""
    source = tmp_path / "var" / "lib" / "docker"
    backup = tmp_path / "var" / "lib" / "docker.dockyard-backup-20261101T000000"
    target = tmp_path / "data" / "docker"
    for d in (backup / "overlay2" / "l1", target / "overlay2" / "l1", source):
        d.mkdir(parents=True)
    (backup / "overlay2" / "l1" / "f").write_text("old")
    (backup / "z").write_text("old")
    j = _journal.Journal(str(target))
    j.start(time.time() - 30 * DAY, method)
    j.moves = [_move.Move("docker", str(source), str(target), _switches.make(method), str(source), str(backup))]
    j.data["phases_done"] = ["record", "online_copy", "stop", "final_copy", "switch", "start", "verify", "source"]
    j.save(phase=phase, finished=time.time() - finished_days_ago * DAY)
    return source, backup, target


def _cleanup_run(tmp_path, target, monkeypatch, check_mode=False, root=None, running=True, mounts=(), **kw):
    params = dict(path=str(target), state="cleaned", status_file=None, soak_days=7)
    params.update(kw)
    facts = {"engine": {"running": running, "docker_root_dir": str(root or target)},
             "config": {"daemon_json": {"data-root": str(target)}}}
    c = _cleanup.Cleanup(context(params, host=FakeHost(mounts=mounts), check_mode=check_mode, facts=lambda: facts))
    return c


def test_the_original_is_removed_after_the_soak_and_a_rerun_changes_nothing(tmp_path, monkeypatch):
    source, backup, target = _moved(tmp_path)
    c = _cleanup_run(tmp_path, target, monkeypatch)
    result = c._run()
    assert result["changed"] and not backup.exists() and (target / "overlay2" / "l1").is_dir()
    assert result["original"] == [{"name": "docker", "source": str(source), "removed": True, "backup": None}]
    assert result["freed_bytes"] > 0
    marker = json.load(open(_journal.marker_path(str(target))))
    assert marker["phase"] == "done" and marker["cleanup"]["removed"] == [str(backup)]
    again = _cleanup_run(tmp_path, target, monkeypatch)._run()
    assert not again["changed"] and again["actions"] == ["no kept original left to remove"]


def test_check_mode_reports_the_removal_and_changes_nothing(tmp_path, monkeypatch):
    source, backup, target = _moved(tmp_path)
    before = open(_journal.marker_path(str(target))).read()
    c = _cleanup_run(tmp_path, target, monkeypatch, check_mode=True)
    result = c._run()
    assert result["changed"] and result["actions"][0].startswith("remove the kept original %s" % backup)
    assert c.ctx.diff["before"][str(backup)] and c.ctx.diff["after"][str(backup)] == ""
    assert (backup / "z").read_text() == "old"
    assert open(_journal.marker_path(str(target))).read() == before


@pytest.mark.parametrize("case,match", [
    ("young", r"has run from the moved root for 2\.0 days .* soak_days=7 asks for 7 days"),
    ("unfinished", "has not finished .* in phase final_copy"),
    ("restored", "has not finished .* in phase restored"),
    ("stopped", "Docker is not running"),
    ("elsewhere", "Docker serves from /var/lib/elsewhere, not from the moved root"),
    ("unswitched", "the daemon_json switch of .* is not in place"),
    ("mounted", "is mounted under the original"),
    ("foreign", "is not a backup this collection made"),
    ("link", "is not a directory"),
    ("overlap", "overlaps"),
])
def test_each_refusal_names_its_reason_and_changes_nothing(tmp_path, monkeypatch, case, match):
    kw = {}
    source, backup, target = _moved(tmp_path, finished_days_ago=2 if case == "young" else 10,
                                    phase={"unfinished": "final_copy", "restored": "restored"}.get(case, "done"))
    if case == "stopped":
        kw["running"] = False
    if case == "elsewhere":
        kw["root"] = "/var/lib/elsewhere"
    if case == "mounted":
        kw["mounts"] = [_mountinfo.MountEntry(mount_point=str(backup / "overlay2" / "l1" / "merged"))]
    marker = _journal.marker_path(str(target))
    data = json.load(open(marker))
    if case in ("foreign", "link", "overlap"):
        new = {"foreign": tmp_path / "var" / "lib" / "docker.old",
               "link": tmp_path / "var" / "lib" / "docker.dockyard-backup-link",
               "overlap": target / "x.dockyard-backup-1"}[case]
        if case == "link":
            os.symlink(str(backup), str(new))
        else:
            new.mkdir(parents=True)
        data["moves"][0]["backup"] = str(new)
    if case == "unswitched":
        data["moves"][0]["target"] = str(tmp_path / "data" / "other")
        kw["root"] = str(tmp_path / "data" / "other")
    with open(marker, "w") as f:
        json.dump(data, f)
    before = open(marker).read()
    c = _cleanup_run(tmp_path, target, monkeypatch, **kw)
    with pytest.raises(RelocationError, match=match) as exc:
        c._run()
    assert exc.value.phase == "preflight"
    assert (backup / "z").read_text() == "old" and (backup / "overlay2" / "l1" / "f").exists()
    if case in ("foreign", "overlap"):
        assert new.is_dir()  # the directory the marker names is kept too
    if case == "link":
        assert new.is_symlink()
    assert open(marker).read() == before


def test_a_large_soak_refuses_and_zero_days_allows(tmp_path):
    j = _journal.Journal(str(tmp_path / "t"))
    j.start(0, "bind")
    j.data.update(phase="done", finished=1000.0, phases_done=["source"])
    assert _cleanup.soak_refusal(j, 0, 1000.0, "/t") is None
    assert "kept until 1970-01-02T00:16:40Z" in _cleanup.soak_refusal(j, 1, 1000.0, "/t")
    assert _cleanup.soak_refusal(j, 365, 1000.0 + 364 * DAY, "/t").startswith(
        "the host has run from the moved root for 364.0 days")
    assert _cleanup.soak_refusal(j, 365, 1000.0 + 365 * DAY, "/t") is None


def test_a_removal_killed_part_way_is_finished_by_a_rerun(tmp_path, monkeypatch):
    source, backup, target = _moved(tmp_path)

    class Killed(Exception):
        pass

    def kill(point):
        if point == "during_cleanup":
            raise Killed()
    monkeypatch.setattr(_testhooks, "reached", kill)
    with pytest.raises(Killed):
        _cleanup_run(tmp_path, target, monkeypatch)._run()
    assert backup.exists() and sorted(os.listdir(str(backup))) == ["z"]
    marker = json.load(open(_journal.marker_path(str(target))))
    assert marker["cleanup"]["removing"] == str(backup)
    monkeypatch.setattr(_testhooks, "reached", lambda point: None)
    result = _cleanup_run(tmp_path, target, monkeypatch)._run()
    assert result["changed"] and not backup.exists()
    marker = json.load(open(_journal.marker_path(str(target))))
    assert "removing" not in marker["cleanup"] and marker["cleanup"]["removed"] == [str(backup)]


def test_a_copy_back_directory_at_the_top_of_the_served_root_may_go_and_nothing_deeper(tmp_path):
    """A root that is a disk of its own keeps its copy back's directory at its top: removable, while any other
    path inside the root Docker serves is refused."""
    root = tmp_path / "var" / "lib" / "docker"
    for d in (".dockyard-copyback-20260101T000000", "volumes/.dockyard-copyback-20260101T000000",
              "x.dockyard-copyback-1"):
        (root / d).mkdir(parents=True)
    host = FakeHost()
    moves = [_move.Move("docker", str(root), str(tmp_path / "data" / "docker"), _switches.BindSwitch())]

    def refusal(name):
        return _cleanup.kept_refusal(host, str(root / name), ".dockyard-copyback-", "the copy back's directory",
                                     moves, str(root), [])

    assert refusal(".dockyard-copyback-20260101T000000") is None
    assert "overlaps %s, which Docker serves from" % root in refusal("volumes/.dockyard-copyback-20260101T000000")
    assert "overlaps" in refusal("x.dockyard-copyback-1")
