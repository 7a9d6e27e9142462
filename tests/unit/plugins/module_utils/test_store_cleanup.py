# -*- coding: utf-8 -*-
"""The removal of the store a finished conversion left behind (_store_cleanup, image_store state=cleaned) on a fake
engine and a real directory tree: its checks, each refusing with nothing changed, what it removes and keeps, a kill
part way finished by a rerun, and the measure the conversion reports.  On real hosts: tests/integration/
test_image_store.py (clean_after_soak)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _mountinfo, _store_cleanup, _store_convert
from ansible_collections.dockyard.migrate.plugins.module_utils._stores import StoreError

import test_store_convert as tsc  # pylint: disable=import-error

NOW = tsc.Host().time()
DAY = 86400


def make_container(root, cid, name, driver):
    d = root / "containers" / cid
    d.mkdir(parents=True)
    (d / "config.v2.json").write_text(json.dumps({"Name": "/" + name, "Driver": driver, "Created": "2026-01-01T00:00:00Z"}))
    (d / "hostconfig.json").write_text("{}")
    (d / ("%s-json.log" % cid)).write_text("x" * 5000)


def tree(root):
    return sorted(os.path.relpath(os.path.join(d, f), str(root)) for d, dirs, files in os.walk(str(root))
                  for f in files + dirs)


def converted(tmp_path, running="containerd", journal=None, soak_age=8 * DAY, runner=None):
    """A host whose conversion to RUNNING finished SOAK_AGE seconds ago: the old store's web (carried) on disk beside
    the new store's web, and the old classic store's layers."""
    info = tsc.CONTAINERD if running == "containerd" else tsc.CLASSIC
    daemon = {"features": {"containerd-snapshotter": True}} if running == "containerd" else {"bridge": "none"}
    conv, path, root, runs = tsc.conversion(tmp_path, info, running, daemon)
    old = "classic" if running == "containerd" else "containerd"
    make_container(root, "aaa1", "web", "overlay2" if old == "classic" else "overlayfs")
    make_container(root, "bbb2", "web", "overlayfs" if old == "classic" else "overlay2")
    if old == "classic":
        (root / "overlay2" / "l1" / "diff").mkdir(parents=True)
        (root / "overlay2" / "l1" / "diff" / "big").write_text("y" * 20000)
        (root / "image" / "overlay2").mkdir(parents=True)
        (root / "image" / "overlay2" / "repositories.json").write_text("{}")
    record = {"phase": "done", "target": running, "done_at": NOW - soak_age,
              "sources": {old: {"web": "aaa1"}}, "made": {running: {"web": {"id": "bbb2", "at": 1}}}}
    record.update(journal or {})
    jpath = _store_convert.journal_path(str(root))
    if journal is not False:
        with open(jpath, "w") as f:
            json.dump(record, f)
    if runner is not None:
        conv.runner = runner
    conv.opts.update(state="cleaned", soak_days=7)
    return conv, root, runs, jpath


def test_the_classic_store_a_conversion_left_is_removed_after_the_soak_and_the_rerun_changes_nothing(tmp_path):
    conv, root, runs, jpath = converted(tmp_path)
    res = conv.run()
    assert res["changed"] and res["freed_bytes"] >= 25000, res
    assert not (root / "overlay2").exists() and not (root / "image" / "overlay2").exists()
    assert not (root / "containers" / "aaa1").exists() and (root / "containers" / "bbb2" / "config.v2.json").exists()
    assert res["inactive_store"] == {"store": "classic", "bytes": 0, "containers": []}
    journal = json.load(open(jpath))
    assert "classic" not in journal["sources"] and journal["made"] == {"containerd": {"web": {"id": "bbb2", "at": 1}}}
    assert journal["cleanup"]["finished"] == NOW and journal["phase"] == "done" and runs == []
    again = _store_convert.Conversion(conv.client, conv.host, conv.runner, conv.opts)
    assert again.run()["changed"] is False


def test_check_mode_lists_what_would_go_and_removes_nothing(tmp_path):
    conv, root, _runs, jpath = converted(tmp_path)
    conv.check_mode = True
    before, journal = tree(root), open(jpath).read()
    res = conv.run()
    assert res["changed"] and res["removed"] == ["container web (aaa1)", "%s/" % (root / "overlay2"),
                                                 "%s/" % (root / "image" / "overlay2")], res
    assert res["diff"]["after"] == "" and "container web (aaa1)" in res["diff"]["before"]
    assert res["inactive_store"]["bytes"] >= 25000 and res["inactive_store"]["containers"] == ["web"]
    assert tree(root) == before and open(jpath).read() == journal


@pytest.mark.parametrize("case, journal, soak_age, words", [
    ("no journal", False, 8 * DAY, "no finished conversion to the containerd store is recorded"),
    ("interrupted", {"phase": "switch"}, 8 * DAY, "interrupted in phase switch: run it again first"),
    ("other way", {"target": "classic"}, 8 * DAY, "phase done, to the classic store"),
    ("soak", {}, 2 * DAY, "run the containerd store for 2.0 days"),
    ("unknown", {"sources": {"classic": {"web": "zzz9"}}}, 8 * DAY, "holds containers that no conversion"),
])
def test_each_check_refuses_with_nothing_changed(tmp_path, case, journal, soak_age, words):
    conv, root, runs, jpath = converted(tmp_path, journal=journal, soak_age=soak_age)
    before = tree(tmp_path)
    with pytest.raises(StoreError) as err:
        conv.run()
    assert err.value.phase == "preflight" and words in str(err.value), (case, str(err.value))
    assert tree(tmp_path) == before and runs == [] and not conv.result["changed"]


def test_docker_running_the_other_store_refuses(tmp_path):
    conv, root, _runs, _jpath = converted(tmp_path)
    conv.client.info_.update(tsc.CLASSIC)
    before = tree(root)
    with pytest.raises(StoreError, match="Docker runs the classic store and daemon.json asks for the containerd"):
        conv.run()
    assert tree(root) == before


def test_something_mounted_under_the_old_store_refuses(tmp_path, monkeypatch):
    conv, root, _runs, _jpath = converted(tmp_path)

    class Entry:
        mount_point = str(root / "overlay2" / "l1" / "merged")

    monkeypatch.setattr(_mountinfo, "mounts_under", lambda entries, path: [Entry()] if path.endswith("overlay2")
                        and "image" not in path else [])
    before = tree(root)
    with pytest.raises(StoreError, match="something is mounted under the classic store: .*merged"):
        conv.run()
    assert tree(root) == before


def test_a_cleanup_killed_part_way_is_finished_by_a_rerun(tmp_path):
    """Killed with the first container's directory partly removed (its config.v2.json gone): the journal's list
    still names it, and the rerun removes what is left."""
    pending = {"cleanup": {"store": "classic", "started": NOW, "containers": ["aaa1"]}}
    conv, root, _runs, jpath = converted(tmp_path, journal=pending)
    os.unlink(str(root / "containers" / "aaa1" / "config.v2.json"))
    assert (root / "containers" / "aaa1" / "hostconfig.json").exists()
    res = conv.run()
    assert res["changed"] and res["removed"][0] == "container (partly removed) aaa1 (aaa1)", res
    assert not (root / "containers" / "aaa1").exists() and not (root / "overlay2").exists()
    assert json.load(open(jpath))["cleanup"]["finished"] == NOW


def ctr_runner(images, snapshot_err=""):
    calls = []

    def run(argv):
        calls.append(argv)
        if "list" in argv:
            return 0, "".join("%s\n" % i for i in images), ""
        if "snapshots" in argv:
            return (1, "", snapshot_err) if snapshot_err else (0, "", "")
        return 0, "", ""
    return run, calls


def test_the_containerd_store_left_by_a_conversion_back_loses_its_snapshots_containers_and_images(tmp_path):
    run, calls = ctr_runner(["docker.io/seed/app:1", "docker.io/seed/tool:1"])
    conv, root, _runs, _jpath = converted(tmp_path, running="classic", runner=run)
    res = conv.run()
    assert res["changed"] and res["inactive_store"]["store"] == "containerd", res
    tails = [argv[argv.index("moby") + 1:] for argv in calls]
    assert tails == [["images", "list", "--quiet"],
                     ["snapshots", "--snapshotter", "overlayfs", "rm", "aaa1"],
                     ["images", "rm", "--sync", "docker.io/seed/app:1", "docker.io/seed/tool:1"]], tails
    assert not (root / "containers" / "aaa1").exists() and (root / "containers" / "bbb2").exists()


def test_a_snapshot_already_gone_is_no_error_and_another_failure_stops_the_cleanup(tmp_path):
    run, _calls = ctr_runner([], snapshot_err="ctr: snapshot aaa1 does not exist: not found")
    conv, root, _runs, _jpath = converted(tmp_path, running="classic", runner=run)
    assert conv.run()["changed"] and not (root / "containers" / "aaa1").exists()
    run, _calls = ctr_runner([], snapshot_err="ctr: connection refused")
    (tmp_path / "again").mkdir()
    conv, root, _runs, _jpath = converted(tmp_path / "again", running="classic", runner=run)
    with pytest.raises(StoreError, match="removing the snapshot of container aaa1 failed .*connection refused"):
        conv.run()
    assert (root / "containers" / "aaa1" / "config.v2.json").exists()


def test_a_journal_without_its_finish_time_soaks_from_its_last_write(tmp_path):
    conv, _root, _runs, jpath = converted(tmp_path, journal={"done_at": None})
    os.utime(jpath, (NOW - 3 * DAY, NOW - 3 * DAY))
    with pytest.raises(StoreError, match="for 3.0 days"):
        conv.run()
    assert _store_cleanup.done_at({}, jpath) == NOW - 3 * DAY


def test_the_host_on_the_asked_store_reports_what_the_other_holds(tmp_path):
    conv, _root, runs, _jpath = converted(tmp_path)
    conv.opts["state"] = "converted"
    res = conv.run()
    assert res["changed"] is False and res["inactive_store"]["store"] == "classic"
    assert res["inactive_store"]["bytes"] >= 25000 and res["inactive_store"]["containers"] == ["web"] and runs == []
