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

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _mountinfo, _store_cleanup, _store_convert, _store_plan, _stores, _testhooks)
from ansible_collections.dockyard.migrate.plugins.module_utils._stores import StoreError

import test_store_convert as tsc  # pylint: disable=import-error

NOW = tsc.Host().time()
DAY = 86400


@pytest.fixture(autouse=True)
def containerd_root(tmp_path, monkeypatch):
    """containerd's root, with a blob that a fake ctr never removes (as another namespace's would stay)."""
    root = tmp_path / "containerd"
    (root / _store_cleanup.CONTAINERD_DIRS[0] / "blobs").mkdir(parents=True)
    (root / _store_cleanup.CONTAINERD_DIRS[0] / "blobs" / "other").write_text("z" * 10000)
    monkeypatch.setattr(_store_plan, "CONTAINERD_ROOT", str(root))
    return root


def make_container(root, cid, name, driver):
    d = root / "containers" / cid
    d.mkdir(parents=True)
    (d / "config.v2.json").write_text(json.dumps({"Name": "/" + name, "Driver": driver, "Created": "2026-01-01T00:00:00Z"}))
    (d / "hostconfig.json").write_text("{}")
    (d / ("%s-json.log" % cid)).write_text("x" * 5000)


def tree(root):
    """Every path under ROOT with the content of each file (the journal beside Docker's root included)."""
    out = []
    for d, dirs, files in os.walk(str(root)):
        out += [(os.path.relpath(os.path.join(d, n), str(root)), None) for n in dirs]
        for n in files:
            with open(os.path.join(d, n), "rb") as f:
                out.append((os.path.relpath(os.path.join(d, n), str(root)), f.read()))
    return sorted(out)


def converted(tmp_path, running="containerd", journal=None, soak_age=8 * DAY, runner=None):
    """A host whose conversion to RUNNING finished SOAK_AGE seconds ago: the old store's web (carried) on disk beside
    the new store's web, and the old classic store's layers."""
    info = tsc.CONTAINERD if running == "containerd" else tsc.CLASSIC
    daemon = {"features": {"containerd-snapshotter": True}} if running == "containerd" else {"bridge": "none"}
    conv, path, root, runs = tsc.conversion(tmp_path, info, running, daemon)
    old = "classic" if running == "containerd" else "containerd"
    make_container(root, "aaa1", "web", _stores.DRIVERS[old])
    make_container(root, "ccc3", "left", _stores.DRIVERS[old])  # left there by an earlier conversion towards it
    make_container(root, "bbb2", "web", _stores.DRIVERS[running])
    # The classic store's layers: the old store's, or the running one's (which must stay).
    (root / "overlay2" / "l1" / "diff").mkdir(parents=True)
    (root / "overlay2" / "l1" / "diff" / "big").write_text("y" * 20000)
    (root / "image" / "overlay2").mkdir(parents=True)
    (root / "image" / "overlay2" / "repositories.json").write_text("{}")
    record = {"phase": "done", "target": running, "done_at": NOW - soak_age, "sources": {old: {"web": "aaa1"}},
              "made": {running: {"web": {"id": "bbb2", "at": 1}}, old: {"left": {"id": "ccc3", "at": 1}}}}
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
    conv.root = str(root)
    held = _store_cleanup.Inactive(conv, "containerd").measure()
    assert held >= 35000
    res = conv.run()
    assert res["changed"] and res["freed_bytes"] == held, (res, held)
    assert not (root / "overlay2").exists() and not (root / "image" / "overlay2").exists()
    assert not (root / "containers" / "aaa1").exists() and not (root / "containers" / "ccc3").exists()
    assert (root / "containers" / "bbb2" / "config.v2.json").exists()
    assert res["inactive_store"] == {"store": "classic", "bytes": 0, "containers": []}
    journal = json.load(open(jpath))
    assert "classic" not in journal["sources"] and journal["made"] == {"containerd": {"web": {"id": "bbb2", "at": 1}}}
    assert journal["cleanup"] == {"store": "classic", "finished": NOW} and runs == []
    again = _store_convert.Conversion(conv.client, conv.host, conv.runner, conv.opts)
    assert again.run()["changed"] is False


def test_check_mode_lists_what_would_go_and_removes_nothing(tmp_path):
    conv, root, _runs, jpath = converted(tmp_path)
    conv.check_mode = True
    before, journal = tree(root), open(jpath).read()
    res = conv.run()
    assert res["changed"] and res["removed"] == ["container left (ccc3)", "container web (aaa1)",
                                                 "%s/" % (root / "image" / "overlay2"), "%s/" % (root / "overlay2")], res
    assert res["diff"]["after"] == "" and "container web (aaa1)" in res["diff"]["before"]
    assert res["inactive_store"]["bytes"] >= 35000 and res["inactive_store"]["containers"] == ["left", "web"]
    assert tree(root) == before and open(jpath).read() == journal


@pytest.mark.parametrize("case, journal, soak_age, words", [
    ("no journal", False, 8 * DAY, "no finished conversion to the containerd store is recorded"),
    ("interrupted", {"phase": "switch"}, 8 * DAY, "interrupted in phase switch: run it again first"),
    ("other way", {"target": "classic"}, 8 * DAY, "phase done, to the classic store"),
    ("soak", {}, 2 * DAY, "run the containerd store for 2.0 days"),
    ("unknown", {"sources": {"classic": {"web": "zzz9"}}}, 8 * DAY, "no conversion of this collection left there (web)"),
    ("not made", {"made": {}}, 8 * DAY, "no conversion of this collection left there (left)"),
    ("soak_days", {}, 6.5 * DAY, "run the containerd store for 6.5 days"),
])
def test_each_check_refuses_with_nothing_changed(tmp_path, case, journal, soak_age, words):
    conv, root, runs, jpath = converted(tmp_path, journal=journal, soak_age=soak_age)
    before = tree(tmp_path)
    with pytest.raises(StoreError) as err:
        conv.run()
    assert err.value.phase == "preflight" and words in str(err.value), (case, str(err.value))
    assert tree(tmp_path) == before and runs == []


def test_the_soak_is_the_one_asked_for(tmp_path):
    conv, root, _runs, _jpath = converted(tmp_path, soak_age=6.5 * DAY)
    conv.opts["soak_days"] = 6
    assert conv.run()["changed"] and not (root / "overlay2").exists()


@pytest.mark.parametrize("engine, daemon, words", [
    (tsc.CLASSIC, {"features": {"containerd-snapshotter": True}},
     "Docker runs the classic store and daemon.json asks for the containerd store"),
    (tsc.CONTAINERD, {"bridge": "none"}, "Docker runs the containerd store and daemon.json asks for the classic"),
])
def test_docker_or_daemon_json_on_the_other_store_refuses(tmp_path, engine, daemon, words):
    conv, _root, _runs, _jpath = converted(tmp_path)
    conv.client.info_.update(engine)
    data = json.load(open(conv.opts["daemon_json"]))
    data.pop("features", None)
    data.update(daemon)
    with open(conv.opts["daemon_json"], "w") as f:
        json.dump(data, f)
    before = tree(tmp_path)
    with pytest.raises(StoreError) as err:
        conv.run()
    assert words in str(err.value) and tree(tmp_path) == before, str(err.value)


def test_something_mounted_under_the_old_store_refuses(tmp_path, monkeypatch):
    conv, root, _runs, _jpath = converted(tmp_path)

    class Entry:
        mount_point = str(root / "overlay2" / "l1" / "merged")

    monkeypatch.setattr(_mountinfo, "mounts_under", lambda entries, path: [Entry()] if path.endswith(
        os.path.join("image", "overlay2")) else [])
    before = tree(tmp_path)
    with pytest.raises(StoreError, match="something is mounted under the classic store, .*merged"):
        conv.run()
    assert tree(tmp_path) == before


def test_a_kill_after_the_first_container_leaves_the_rest_listed_and_the_rerun_finishes(tmp_path, monkeypatch):
    conv, root, _runs, jpath = converted(tmp_path)

    class Killed(BaseException):
        pass

    def reached(point):
        if point == "store_during_cleanup":
            raise Killed(point)

    monkeypatch.setattr(_testhooks, "reached", reached)
    with pytest.raises(Killed):
        conv.run()
    journal = json.load(open(jpath))
    assert journal["cleanup"] == {"store": "classic", "started": NOW, "containers": ["aaa1", "ccc3"]}, journal
    assert not (root / "containers" / "aaa1").exists() and (root / "containers" / "ccc3" / "config.v2.json").exists()
    assert (root / "overlay2" / "l1" / "diff" / "big").exists() and journal["sources"]["classic"] == {"web": "aaa1"}
    monkeypatch.undo()
    again = _store_convert.Conversion(conv.client, conv.host, conv.runner, conv.opts)
    res = again.run()
    assert res["changed"] and res["removed"][0] == "container left (ccc3)", res
    assert not (root / "containers" / "ccc3").exists() and not (root / "overlay2").exists()


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
    conv.root = str(root)
    before = _store_cleanup.Inactive(conv, "classic").measure()
    res = conv.run()
    assert res["changed"] and res["inactive_store"]["store"] == "containerd", res
    # What stays in containerd's root (here a blob no ctr call removed) is still counted, and not as freed.
    assert res["inactive_store"]["bytes"] >= 10000 and res["freed_bytes"] == before - res["inactive_store"]["bytes"]
    tails = [argv[argv.index("moby") + 1:] for argv in calls]
    assert tails == [["images", "list", "--quiet"],
                     ["snapshots", "--snapshotter", "overlayfs", "rm", "aaa1"],
                     ["snapshots", "--snapshotter", "overlayfs", "rm", "aaa1-init"], ["leases", "rm", "aaa1"],
                     ["snapshots", "--snapshotter", "overlayfs", "rm", "ccc3"],
                     ["snapshots", "--snapshotter", "overlayfs", "rm", "ccc3-init"], ["leases", "rm", "ccc3"],
                     ["images", "rm", "--sync", "docker.io/seed/app:1", "docker.io/seed/tool:1"]], tails
    assert not (root / "containers" / "aaa1").exists() and (root / "containers" / "bbb2").exists()
    # The classic store Docker runs keeps its layers.
    assert (root / "overlay2" / "l1" / "diff" / "big").exists() and (root / "image" / "overlay2").exists()
    assert res["removed"] == ["container left (ccc3)", "container web (aaa1)", "image docker.io/seed/app:1",
                              "image docker.io/seed/tool:1"], res


def test_images_alone_are_removed_and_then_nothing_is_left(tmp_path):
    """A containerd store with no containers left but images still there (a kill before the images' removal)."""
    run, calls = ctr_runner(["docker.io/seed/app:1"])
    conv, root, _runs, _jpath = converted(tmp_path, running="classic", runner=run)
    for cid in ("aaa1", "ccc3"):
        _store_cleanup._fileops.remove_tree(str(root / "containers" / cid))
    res = conv.run()
    assert res["changed"] and res["removed"] == ["image docker.io/seed/app:1"], res
    assert calls[-1][-3:] == ["rm", "--sync", "docker.io/seed/app:1"]


@pytest.mark.parametrize("failing, words", [("list", "listing containerd's images failed"),
                                            ("rm", "removing containerd's images failed")])
def test_a_failing_ctr_stops_the_cleanup_with_its_message(tmp_path, failing, words):
    def run(argv):
        if failing in argv and "images" in argv:
            return 1, "", "ctr: connection refused"
        return 0, "docker.io/seed/app:1\n" if "list" in argv else "", ""
    conv, _root, _runs, jpath = converted(tmp_path, running="classic", runner=run)
    with pytest.raises(StoreError) as err:
        conv.run()
    assert words in str(err.value) and "connection refused" in str(err.value)
    assert "finished" not in json.load(open(jpath)).get("cleanup", {})


def test_a_refusal_on_a_host_back_on_classic_runs_no_ctr_removal(tmp_path):
    run, calls = ctr_runner(["docker.io/seed/app:1"])
    conv, _root, _runs, _jpath = converted(tmp_path, running="classic", runner=run, soak_age=DAY)
    before = tree(tmp_path)
    with pytest.raises(StoreError, match="soak_days=7"):
        conv.run()
    assert tree(tmp_path) == before and not [a for a in calls if "rm" in a]


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
    assert res["inactive_store"]["bytes"] >= 35000 and res["inactive_store"]["containers"] == ["left", "web"]
    assert runs == []


def test_a_container_of_the_old_store_that_ran_after_the_conversion_refuses(tmp_path):
    """Docker switched back to the old store by hand after the conversion finished, and its container ran there."""
    conv, root, _runs, _jpath = converted(tmp_path)
    path = root / "containers" / "aaa1" / "config.v2.json"
    conf = json.loads(path.read_text())
    conf["State"] = {"StartedAt": "2025-12-30T00:00:00.5Z", "FinishedAt": "2025-12-31T00:00:00.25Z"}  # 1 day ago
    path.write_text(json.dumps(conf))
    before = tree(tmp_path)
    with pytest.raises(StoreError, match=r"containers of the classic store ran after the conversion finished \(web\)"):
        conv.run()
    assert tree(tmp_path) == before
    conf["State"]["FinishedAt"] = conf["State"]["StartedAt"] = "2025-12-20T00:00:00Z"  # before the conversion ended
    path.write_text(json.dumps(conf))
    assert conv.run()["changed"]


def test_a_root_other_than_daemon_json_names_refuses(tmp_path):
    conv, _root, _runs, _jpath = converted(tmp_path)
    conv.client.info_["DockerRootDir"] = "/srv/docker"
    before = tree(tmp_path)
    with pytest.raises(StoreError, match="Docker runs from /srv/docker, but daemon.json names .*docker as its root"):
        conv.run()
    assert tree(tmp_path) == before


def test_a_linked_old_layer_directory_refuses(tmp_path):
    conv, root, _runs, _jpath = converted(tmp_path)
    (root / "overlay2").rename(root / "elsewhere")
    (root / "overlay2").symlink_to(root / "elsewhere")
    before = tree(tmp_path)
    with pytest.raises(StoreError, match="or it is a mount point or a link.*overlay2"):
        conv.run()
    assert tree(tmp_path) == before


def test_a_conversion_back_onto_a_store_removed_part_way_refuses(tmp_path):
    pending = {"cleanup": {"store": "classic", "started": NOW, "containers": ["aaa1"]}}
    conv, _root, _runs, _jpath = converted(tmp_path, journal=pending)
    conv.opts.update(state="converted", store="classic")
    before = tree(tmp_path)
    with pytest.raises(StoreError, match=r"the removal of the classic store was interrupted: finish it first"):
        conv.run()
    assert tree(tmp_path) == before


def vfs_converted(tmp_path, engine=None, daemon=None):
    """A host converted from the classic store on vfs to overlay2 eight days ago: vfs's layers and images, its web,
    beside overlay2's web and layers."""
    conv, _path, root, runs = tsc.conversion(tmp_path, engine or tsc.CLASSIC, "classic",
                                             daemon or {"bridge": "none", "storage-driver": "overlay2"})
    make_container(root, "aaa1", "web", "vfs")
    make_container(root, "bbb2", "web", "overlay2")
    for d in ("vfs/dir/m1", "vfs/dir/m1-init", "image/vfs/layerdb", "overlay2/l1/diff", "image/overlay2"):
        (root / d).mkdir(parents=True)
    (root / "vfs" / "dir" / "m1" / "file").write_text("v" * 30000)
    (root / "overlay2" / "l1" / "diff" / "kept").write_text("k")
    with open(_store_convert.journal_path(str(root)), "w") as f:
        json.dump({"phase": "done", "source": "vfs", "target": "classic", "done_at": NOW - 8 * DAY,
                   "sources": {"vfs": {"web": "aaa1"}}, "made": {"classic": {"web": {"id": "bbb2", "at": 1}}}}, f)
    conv.opts.update(state="cleaned", soak_days=7)
    return conv, root, runs


def test_the_vfs_store_a_driver_conversion_left_is_removed_and_overlay2_kept(tmp_path):
    conv, root, runs = vfs_converted(tmp_path)
    res = conv.run()
    assert res["changed"] and res["inactive_store"] == {"store": "vfs", "bytes": 0, "containers": []}, res
    assert res["freed_bytes"] >= 30000 and runs == []
    assert not (root / "vfs").exists() and not (root / "image" / "vfs").exists()
    assert not (root / "containers" / "aaa1").exists()
    assert (root / "overlay2" / "l1" / "diff" / "kept").exists() and (root / "image" / "overlay2").is_dir()
    assert (root / "containers" / "bbb2" / "config.v2.json").exists()
    again = _store_convert.Conversion(conv.client, conv.host, conv.runner, conv.opts)
    assert again.run()["changed"] is False


@pytest.mark.parametrize("engine, daemon, words", [
    (dict(tsc.CLASSIC, Driver="vfs"), None, "Docker runs the vfs store and daemon.json asks for the classic store"),
    (tsc.CLASSIC, {"storage-driver": "vfs"}, "Docker runs the classic store and daemon.json asks for the vfs store"),
])
def test_the_vfs_store_is_kept_while_docker_runs_it_or_is_set_to(tmp_path, engine, daemon, words):
    conv, _root, _runs = vfs_converted(tmp_path, engine, daemon)
    before = tree(tmp_path)
    with pytest.raises(StoreError) as err:
        conv.run()
    assert words in str(err.value) and tree(tmp_path) == before, str(err.value)
