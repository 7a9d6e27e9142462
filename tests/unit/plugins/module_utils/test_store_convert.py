# -*- coding: utf-8 -*-
"""The conversion's decisions (_store_convert.Conversion) on a fake engine and host: a host already on the asked
store, the plan of a check run, the refusals that change nothing, and the switch back after a failure.  The
conversion itself runs on the fleet (tests/integration/test_image_store.py)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import itertools
import json
import os
import re
import sys
import tarfile
import threading

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _container_spec, _copy, _docker_api, _fileops, _layer_store, _store_containers, _store_convert, _store_images,
    _store_plan, _stores)
from ansible_collections.dockyard.migrate.plugins.module_utils._stores import StoreError

import test_layer_store as tls  # pylint: disable=import-error

CLASSIC = {"Driver": "overlay2", "DriverStatus": [["Backing Filesystem", "extfs"]]}
CONTAINERD = {"Driver": "overlayfs", "DriverStatus": [["driver-type", _stores.SNAPSHOTTER_TYPE]]}
MOUNTS = "mount -t overlay overlay /x -o index=off,workdir=/c/4/work,upperdir=/c/4/fs,lowerdir=/c/3/fs\n"


class Engine:
    """GET answers by path; every other call is recorded."""

    api_version = "1.45"

    def __init__(self, info, root, containers=(), images=()):
        self.answers = {"/containers/json": [dict(c, State="running" if (c.get("State") or {}).get("Running") else
                                                  "exited") for c in containers], "/images/json": list(images),
                        "/system/df": {"LayersSize": 0, "Containers": []}}
        for c in containers:
            self.answers["/containers/%s/json" % c["Id"]] = c
            self.answers["/images/%s/json" % c["Image"]] = {"RootFS": {"Layers": ["sha256:l1"]}}
        self.info_ = dict(info, DockerRootDir=str(root))
        self.calls = []
        self.bodies = []

    def info(self):
        return self.info_

    def version(self):
        return {"Version": "26.1.5"}

    def get(self, path, params=None):
        return self.answers[path]

    def post(self, path, params=None, body=None):
        self.calls.append(("POST", path))
        self.bodies.append((path, params, body))
        return {"Id": "new"}

    def delete(self, path, params=None):
        self.calls.append(("DELETE", path, params))


class Host:
    """The host methods the conversion calls (_systemd.Systemd's, with their parameters), recorded; any other call
    fails the test (AttributeError)."""

    def __init__(self):
        self.calls = []
        self.boot = "boot-1"

    def window_units(self, with_containerd=False):
        return ["docker.socket", "docker.service"]

    def masked(self, unit):  # masked at runtime before the conversion: none
        return False

    def mask(self, units):
        self.calls.append(("mask", list(units)))
        return list(units)

    def unmask(self, units):
        self.calls.append(("unmask", list(units)))

    def stop_docker(self, with_containerd=False):
        self.calls.append(("stop_docker",))

    def start_docker(self, with_containerd=False):
        self.calls.append(("start_docker",))

    def write_file(self, path, data, mode=0o644, config=False):
        self.calls.append(("write_file", path))
        _fileops.atomic_write(path, data, mode=mode)

    def wait_docker(self, timeout):
        return True

    def lock(self, check_mode=False):
        self.calls.append(("lock", check_mode))

    def check_stopped(self, units, timeout, proc="/proc"):
        self.calls.append(("check_stopped", list(units)))

    def sync(self, paths, timeout=60):
        self.calls.append(("sync", list(paths)))

    def boot_id(self):
        return self.boot

    def time(self):
        return 1767225600.0


@pytest.fixture(autouse=True)
def no_driver_flags(monkeypatch):
    """This machine's own dockerds are not the fake engine's: no driver given on a command line (a test says
    otherwise where it means to)."""
    monkeypatch.setattr(_stores, "dockerd_choices", lambda **_kw: [])


def container(cid, name, upper="/d/overlay2/x/diff", image="seed/app:2"):
    return {"Id": cid, "Name": "/" + name, "Image": "sha256:" + cid, "Config": {"Image": image},
            "State": {"Running": True}, "GraphDriver": {"Data": {"UpperDir": upper}}, "HostConfig": {}}


def conversion(tmp_path, info, store, daemon_json=None, check_mode=False, containers=(), images=()):
    path = tmp_path / "daemon.json"
    root = tmp_path / "docker"
    path.write_text(json.dumps(dict(daemon_json or {"bridge": "none"}, **{"data-root": str(root)})))
    (root / "containers").mkdir(parents=True)
    runs = []
    conv = _store_convert.Conversion(Engine(info, root, containers, images), Host(),
                                     lambda argv: runs.append(argv) or (0, MOUNTS if "mounts" in argv else "", ""),
                                     {"store": store, "daemon_json": str(path), "allow_swarm": False},
                                     check_mode=check_mode)
    return conv, path, root, runs


def test_a_host_on_the_asked_store_is_unchanged(tmp_path):
    conv, path, _root, runs = conversion(tmp_path, CONTAINERD, "containerd",
                                         {"features": {"containerd-snapshotter": True}})
    before = path.read_text()
    res = conv.run()
    assert res["changed"] is False and res["store_after"] == "containerd"
    assert conv.host.calls == [("lock", False)] and runs == [] and path.read_text() == before


def test_a_classic_host_without_a_word_in_daemon_json_is_on_the_classic_store(tmp_path):
    conv, _path, _root, _runs = conversion(tmp_path, CLASSIC, "classic")
    assert conv.run()["changed"] is False and conv.host.calls == [("lock", False)]


def test_check_mode_plans_the_carry_and_changes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(_stores, "containerd_socket", lambda: "/run/containerd/containerd.sock")
    conv, path, root, runs = conversion(
        tmp_path, CLASSIC, "containerd", check_mode=True, containers=[container("a1", "web")],
        images=[{"Id": "sha256:a1", "RepoTags": ["seed/app:2"]}, {"Id": "sha256:zz", "RepoTags": None}])
    before = path.read_text()
    res = conv.run()
    assert res["changed"] and res["images"] == ["seed/app:2"] and res["containers"] == ["web"]
    assert res["not_carried"] == ["sha256:zz"]
    assert json.loads(res["diff"]["after"])["features"] == {"containerd-snapshotter": True}
    assert json.loads(res["diff"]["after"])["data-root"] == str(root)
    assert res["diff"]["before"] == before == path.read_text()
    assert conv.host.calls == [("lock", True)] and conv.client.calls == []
    assert all("mounts" not in argv for argv in runs) and runs == []  # a classic container's layer is in its inspect
    assert not (tmp_path / ".docker.dockyard-image-store.json").exists()


@pytest.mark.parametrize("case, words", [
    # carried from the classic store's files only: unreadable here, refused
    ("untagged", "containers use images with no tag (a1), which are carried only from the classic store's files"),
    ("foreign", "the containerd store already holds containers named web, which this collection did not make"),
    ("socket", "containerd's socket is not found"),
])
def test_each_refusal_changes_nothing(tmp_path, monkeypatch, case, words):
    monkeypatch.setattr(_stores, "containerd_socket", lambda: None if case == "socket" else "/run/c.sock")

    def unusable(names, drop, **_kw):
        raise _layer_store.Unusable("the store's files are not readable")
    monkeypatch.setattr(_store_plan._layer_store, "Archive", unusable)
    images = [{"Id": "sha256:a1", "RepoTags": [] if case == "untagged" else ["seed/app:2"]}]
    conv, path, root, runs = conversion(tmp_path, CLASSIC, "containerd", containers=[container("a1", "web")],
                                        images=images)
    if case == "foreign":
        (root / "containers" / "b2").mkdir()
        (root / "containers" / "b2" / "config.v2.json").write_text(json.dumps({"Name": "/web", "Driver": "overlayfs"}))
    before = path.read_text()
    with pytest.raises(StoreError, match=re.escape(words)) as exc:
        conv.run()
    assert exc.value.phase == "preflight"
    assert conv.host.calls == [("lock", False)] and conv.client.calls == [] and path.read_text() == before
    assert not (tmp_path / ".docker.dockyard-image-store.json").exists()


def test_a_failure_after_the_switch_puts_daemon_json_back_and_starts_docker(tmp_path, monkeypatch):
    monkeypatch.setattr(_stores, "containerd_socket", lambda: "/run/c.sock")
    conv, path, _root, _runs = conversion(tmp_path, CONTAINERD, "classic", containers=[container("a1", "web")],
                                          images=[{"Id": "sha256:a1", "RepoTags": ["seed/app:2"]}])
    before = path.read_text()
    written = []
    real = conv.host.write_file
    conv.host.write_file = lambda p, text, config=False: written.append(text) or real(p, text, config=config)
    # Docker comes back on the containerd store although daemon.json asks for the classic one.
    with pytest.raises(StoreError, match="Docker started on the containerd store after the switch") as exc:
        conv.run()
    assert exc.value.phase == "switch" and conv.result["rolled_back"] is True
    assert json.loads(written[0])["features"]["containerd-snapshotter"] is False and written[1] == before
    assert path.read_text() == before
    names = [c[0] for c in conv.host.calls]
    assert names.count("start_docker") == 2 and names.index("stop_docker") < names.index("start_docker")
    journal = json.loads((tmp_path / ".docker.dockyard-image-store.json").read_text())
    assert journal["phase"] == "rolled_back" and "after the switch" in journal["error"]


def journal(root, **fields):
    path = root.parent / ".docker.dockyard-image-store.json"
    path.write_text(json.dumps(fields))
    return path


def test_a_kill_before_the_new_stores_containers_ran_is_rolled_back_to_the_old_store(tmp_path, monkeypatch):
    monkeypatch.setattr(_stores, "containerd_socket", lambda: "/run/c.sock")
    conv, path, root, _runs = conversion(tmp_path, CLASSIC, "classic")
    before = path.read_text()
    path.write_text(json.dumps(_stores.with_store(json.loads(before), "containerd")))  # switched, killed
    jpath = journal(root, phase="containers", target="containerd", daemon_json_before=before, containers=[], tags=[])
    res = conv.run()
    assert path.read_text() == before and res["changed"] and res["rolled_back"] is True
    assert "rolled back the conversion interrupted in phase containers" in res["actions"]
    names = [c[0] for c in conv.host.calls]
    assert names.index("stop_docker") < names.index("start_docker")
    assert json.loads(jpath.read_text())["phase"] == "rolled_back"


def test_a_kill_after_the_new_stores_containers_started_is_finished_forward(tmp_path, monkeypatch):
    monkeypatch.setattr(_stores, "containerd_socket", lambda: "/run/c.sock")
    old = container("a1", "web")
    conv, path, root, _runs = conversion(tmp_path, CONTAINERD, "containerd", images=[
        {"Id": "sha256:m1", "RepoTags": ["seed/app:2"]}])
    switched = path.read_text()
    conv.client.answers["/containers/n1/json"] = dict(old, Id="n1", State={"Running": False})
    conv.client.answers["/containers/n1/changes"] = [{"Path": "/a", "Kind": 1}]
    conv.client.ping = lambda: True
    conv.client.answers["/images/sha256:n1/json"] = {"RootFS": {"Layers": ["sha256:l1"]}}
    conv.client.answers["/containers/n1/json"]["Image"] = "sha256:n1"
    record = {"name": "web", "id": "a1", "inspect": old, "running": True, "new_id": "n1", "ref": "seed/app:2",
              "layers": ["sha256:l1"], "upper": "/d/overlay2/x/diff"}
    jpath = journal(root, phase="start", target="containerd", daemon_json_before="{}", containers=[record],
                    tags=["seed/app:2"], masked=["docker.socket"])
    # The container starts: the verification sees it running.
    conv.client.post = lambda p, params=None, body=None: conv.client.calls.append(("POST", p)) or \
        conv.client.answers["/containers/n1/json"].update(State={"Running": True})
    res = conv.run()
    assert res["store_after"] == "containerd" and res["changed"]
    assert conv.client.calls == [("POST", "/containers/n1/start")] and path.read_text() == switched
    assert "stop_docker" not in [c[0] for c in conv.host.calls]
    assert ("unmask", ["docker.socket"]) in conv.host.calls  # only what the killed run masked
    assert json.loads(jpath.read_text())["phase"] == "done"


def test_a_kill_after_the_containers_started_is_finished_only_towards_its_own_store(tmp_path, monkeypatch):
    monkeypatch.setattr(_stores, "containerd_socket", lambda: "/run/c.sock")
    conv, path, root, _runs = conversion(tmp_path, CLASSIC, "classic")
    before = path.read_text()
    journal(root, phase="verify", target="containerd", daemon_json_before="{}", containers=[], tags=[])
    with pytest.raises(StoreError, match="interrupted after its containers started; it can only be finished: "
                       "run again with store: containerd") as exc:
        conv.run()
    assert exc.value.phase == "preflight" and conv.host.calls == [("lock", False)] and path.read_text() == before


def test_a_host_switched_back_by_hand_since_the_last_conversion_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(_stores, "containerd_socket", lambda: "/run/c.sock")
    conv, path, root, _runs = conversion(tmp_path, CLASSIC, "containerd", containers=[container("a1", "web")],
                                         images=[{"Id": "sha256:a1", "RepoTags": ["seed/app:2"]}])
    journal(root, phase="done", target="containerd")
    with pytest.raises(StoreError, match="the last conversion went to the containerd store, but Docker runs the "
                       "classic store: it was switched back by hand since"):
        conv.run()
    assert conv.client.calls == []


def test_a_container_is_made_without_a_restart_policy_until_its_layer_is_whole(tmp_path, monkeypatch):
    """Made from its own tag (pointed at its image for the create, then back: the tag moved since), with no
    restart policy, given its own once its writable layer is copied and compared; the container the journal
    left there under its name is removed first, never its volumes."""
    monkeypatch.setattr(_stores, "containerd_socket", lambda: "/run/c.sock")
    old = dict(container("a1", "web"), HostConfig={"RestartPolicy": {"Name": "always", "MaximumRetryCount": 0}})
    conv, _path, root, runs = conversion(tmp_path, CONTAINERD, "containerd")
    conv.socket = "/run/c.sock"
    conv.jpath = str(tmp_path / "journal.json")
    conv.client.answers.update({"/images/seed/app:2/json": {"Id": "sha256:y"},
                                "/images/seed/app:kept/json": {"Id": "sha256:x"},
                                "/containers/new/json": {"Id": "new"}})
    record = {"name": "web", "id": "a1", "inspect": old, "running": True, "ref": "seed/app:kept", "layers": [],
              "upper": "/d/overlay2/x/diff"}
    conv.recreate([record], {"web": "old1"}, "containerd")
    calls = conv.client.calls
    assert calls[0] == ("DELETE", "/containers/old1", {"force": True, "v": False})
    paths = [b[0] for b in conv.client.bodies]
    assert paths == ["/images/sha256:x/tag", "/containers/create", "/images/sha256:y/tag", "/containers/new/update"]
    tags = [b[1] for b in conv.client.bodies if b[0].endswith("/tag")]
    assert tags == [{"repo": "seed/app", "tag": "2"}, {"repo": "seed/app", "tag": "2"}]
    create = conv.client.bodies[1][2]
    assert create["Image"] == "seed/app:2" and create["HostConfig"]["RestartPolicy"] == {"Name": "no"}
    assert conv.client.bodies[3][2] == {"RestartPolicy": {"Name": "always", "MaximumRetryCount": 0}}
    rsyncs = [argv for argv in runs if argv[0] == "rsync"]
    assert len(rsyncs) == 2 and "--dry-run" in rsyncs[1] and rsyncs[0][-2:] == ["/d/overlay2/x/diff/", "/c/4/fs/"]
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert journal["made"]["containerd"]["web"]["id"] == "new" and record["new_id"] == "new"


# ---------------------------------------------------------------- the whole conversion, its calls in one order
def whole(tmp_path, monkeypatch, dry_run="", running_after=True, verify_layers=("sha256:l1",), hidden=None):
    """A classic host with one running container (restart always) converted to containerd, every call to the engine,
    the host and the runner in one ordered LOG.  DRY_RUN is what the copy's dry run prints; RUNNING_AFTER whether the
    new container runs once started; VERIFY_LAYERS the new container's image layers; HIDDEN the containerd store's
    containers ({id: (name, restart policy)})."""
    monkeypatch.setattr(_stores, "containerd_socket", lambda: "/run/c.sock")
    monkeypatch.setattr(_store_plan, "CONTAINERD_ROOT", str(tmp_path / "no-containerd"))
    old = dict(container("a1", "web"), HostConfig={"RestartPolicy": {"Name": "always", "MaximumRetryCount": 0}})
    conv, path, root, _runs = conversion(tmp_path, CLASSIC, "containerd", containers=[old],
                                         images=[{"Id": "sha256:a1", "RepoTags": ["seed/app:2"]}])
    for cid, (name, policy) in (hidden or {}).items():
        (root / "containers" / cid).mkdir()
        (root / "containers" / cid / "config.v2.json").write_text(json.dumps({"Name": "/" + name,
                                                                             "Driver": "overlayfs"}))
        (root / "containers" / cid / "hostconfig.json").write_text(json.dumps({"RestartPolicy": {"Name": policy}}))
    log = []
    engine, host = conv.client, conv.host
    new = dict(old, Id="new", Image="sha256:m1", State={"Running": False})
    engine.answers.update({"/containers/new/json": new, "/images/sha256:m1/json": {
        "RootFS": {"Layers": list(verify_layers)}}, "/images/seed/app:2/json": {"Id": "sha256:m1"}})
    # Docker runs the store daemon.json names, as it is on disk (what it was started with, in these tests)
    engine.info = lambda: dict(CONTAINERD if (json.loads(path.read_text()).get("features") or {}).get(
        "containerd-snapshotter") else CLASSIC, DockerRootDir=str(root))

    def post(p, params=None, body=None):
        log.append(("POST", p))
        if p == "/containers/new/start" and running_after:
            new["State"] = {"Running": True}
        return {"Id": "new"}
    engine.post = post
    engine.delete = lambda p, params=None: log.append(("DELETE", p, params))
    for name in ("sync", "mask", "stop_docker", "check_stopped", "write_file", "start_docker", "unmask"):
        real = getattr(host, name)
        setattr(host, name, lambda *a, _n=name, _r=real, **k: log.append((_n,)) or _r(*a, **k))

    def runner(argv):
        if argv[0] == "rsync":
            log.append(("rsync", "--dry-run" in argv))
            return 0, dry_run if "--dry-run" in argv else "", ""
        if "mounts" in argv:
            return 0, MOUNTS, ""
        log.append(("run", argv[0]))
        return 0, "", ""
    conv.runner = runner
    monkeypatch.setattr(_store_convert.Conversion, "import_into_containerd", lambda self, tags, untagged=None: log.append(
        ("import", tuple(tags))))
    return conv, path, log


def test_a_conversion_masks_stops_checks_switches_and_gives_the_restart_policy_only_after_the_copy(
        tmp_path, monkeypatch):
    conv, path, log = whole(tmp_path, monkeypatch)
    before = path.read_text()
    res = conv.run()
    assert res["store_after"] == "containerd" and json.loads(path.read_text())["features"] == {
        "containerd-snapshotter": True} and before != path.read_text()
    names = [e[0] for e in log]
    order = ["import", "sync", "mask", "stop_docker", "check_stopped", "write_file", "unmask", "start_docker"]
    assert [n for n in names if n in order][:len(order)] == order, log
    i_copy, i_check = log.index(("rsync", False)), log.index(("rsync", True))
    i_update, i_start = log.index(("POST", "/containers/new/update")), log.index(("POST", "/containers/new/start"))
    assert log.index(("POST", "/containers/create")) < i_copy < i_check < i_update < i_start, log


def test_a_copy_that_a_dry_run_finds_incomplete_switches_back(tmp_path, monkeypatch):
    conv, path, _log = whole(tmp_path, monkeypatch, dry_run=">f+++++++++ added.txt\n")
    before = path.read_text()
    with pytest.raises(StoreError, match="the writable layer of web differs after its copy: >f\\+{9} added.txt"):
        conv.run()
    assert conv.result["rolled_back"] is True and path.read_text() == before


@pytest.mark.parametrize("case, words", [
    ("stopped", "container web ran and does not run now"),
    ("layers", "container web runs another image than before"),
])
def test_a_failure_once_the_new_containers_started_is_never_switched_back(tmp_path, monkeypatch, case, words):
    conv, path, log = whole(tmp_path, monkeypatch, running_after=case != "stopped",
                            verify_layers=("sha256:other",) if case == "layers" else ("sha256:l1",))
    with pytest.raises(StoreError, match=words) as exc:
        conv.run()
    assert exc.value.phase == "verify" and "rolled_back" not in conv.result
    assert json.loads(path.read_text())["features"] == {"containerd-snapshotter": True}  # still switched
    assert [e[0] for e in log].count("stop_docker") == 1  # stopped once, for the switch; never for a switch back
    journal = json.loads((tmp_path / ".docker.dockyard-image-store.json").read_text())
    assert journal["phase"] == "verify"


@pytest.mark.parametrize("case, words", [
    ("moved", "tags naming an image with other layers than when recorded: seed/app:2"),
    ("missing", "tags missing: seed/app:2"),
])
def test_a_tag_the_new_store_lacks_or_names_another_image_switches_back_before_any_container_is_made(
        tmp_path, monkeypatch, case, words):
    """Once the images are in the new store, every tag must name an image with the layers recorded (a tag moved on
    the old store while they were carried would not): checked before any container is made, so a failure switches
    Docker back to the old store."""
    conv, path, log = whole(tmp_path, monkeypatch)
    before = path.read_text()
    imported = _store_convert.Conversion.import_into_containerd

    def import_other(self, tags, untagged=None):
        imported(self, tags)
        self.client.answers.update({
            "/images/json": [{"Id": "sha256:t2", "RepoTags": ["seed/app:2"]}] if case == "moved" else [],
            "/images/sha256:t2/json": {"RootFS": {"Layers": ["sha256:l1", "sha256:l2"]}}})
    monkeypatch.setattr(_store_convert.Conversion, "import_into_containerd", import_other)
    with pytest.raises(StoreError, match=words) as exc:
        conv.run()
    assert exc.value.phase == "switch" and conv.result["rolled_back"] is True and path.read_text() == before
    assert [e for e in log if e[0] == "start_docker"] and not [e for e in log if e[:2] == ("POST", "/containers/create")]


def test_the_tags_of_images_the_engine_cannot_inspect_are_not_compared():
    class Engine:
        @staticmethod
        def get(path):
            if path == "/images/sha256:bad/json":
                raise _docker_api.DockerAPIError(500, "no matching manifest for linux/amd64")
            return {"RootFS": {"Layers": ["sha256:l1"]}}
    images = [{"Id": "sha256:ok", "RepoTags": ["a:1", "a:2"]}, {"Id": "sha256:bad", "RepoTags": ["b:1"]},
              {"Id": "sha256:zz", "RepoTags": ["<none>:<none>"]}]
    now = _stores.tag_layers(Engine(), images)
    assert now == {"a:1": ["sha256:l1"], "a:2": ["sha256:l1"]}
    assert _stores.moved_tags({"a:1": ["sha256:l1"], "a:2": ["sha256:l0"], "b:1": ["sha256:x"]}, now) == ["a:2"]


def test_the_new_stores_earlier_containers_are_kept_from_starting_and_anothers_left_alone(tmp_path, monkeypatch):
    hidden = {"ours": ("web", "always"), "gone": ("db", "always"), "theirs": ("cache", "always")}
    conv, _path, log = whole(tmp_path, monkeypatch, hidden=hidden)
    conv.journal = {}
    journal_path = tmp_path / ".docker.dockyard-image-store.json"
    journal_path.write_text(json.dumps({"phase": "done", "target": "classic", "sources": {
        "containerd": {"web": "ours", "db": "gone"}}}))
    res = conv.run()
    root = tmp_path / "docker" / "containers"

    def policy(cid):
        return json.loads((root / cid / "hostconfig.json").read_text())["RestartPolicy"]["Name"]
    assert (policy("ours"), policy("gone"), policy("theirs")) == ("no", "no", "always")
    assert res["left_over"] == ["db"]
    assert ("DELETE", "/containers/ours", {"force": True, "v": False}) in log
    assert not [e for e in log if e[0] == "DELETE" and e[1] != "/containers/ours"]


def test_a_switch_back_starts_the_containers_that_ran(tmp_path, monkeypatch):
    monkeypatch.setattr(_stores, "containerd_socket", lambda: "/run/c.sock")
    conv, path, root, _runs = conversion(tmp_path, CLASSIC, "classic")
    before = path.read_text()
    stopped = dict(container("a1", "web"), State={"Running": False})
    conv.client.answers["/containers/a1/json"] = stopped
    conv.client.answers["/containers/s1/json"] = dict(container("s1", "side"), State={"Running": False})
    # side joins web's network (listed first): started after web
    journal(root, phase="containers", target="containerd", daemon_json_before=before, tags=[],
            containers=[{"name": "side", "id": "s1", "running": True,
                         "inspect": {"HostConfig": {"NetworkMode": "container:a1"}}},
                        {"name": "web", "id": "a1", "running": True}, {"name": "batch", "id": "b1", "running": False}])
    conv.run()
    starts = [c[1] for c in conv.client.calls if c[1].endswith("/start")]
    assert starts == ["/containers/a1/start", "/containers/s1/start"], conv.client.calls


def test_the_copy_leaves_out_the_overlay_attributes_that_point_into_the_old_store():
    for attr in ("trusted.overlay.origin", "trusted.overlay.impure", "trusted.overlay.uuid"):
        assert "--filter=-x %s" % attr in _store_convert.COPY
    assert {"-aHAXS", "--numeric-ids", "--delete"} <= set(_store_convert.COPY)


def test_the_plan_names_each_container_it_cannot_carry_and_knows_its_own_in_the_other_store(tmp_path, monkeypatch):
    monkeypatch.setattr(_stores, "containerd_socket", lambda: "/run/c.sock")
    monkeypatch.setattr(_store_plan, "CONTAINERD_ROOT", str(tmp_path / "no-containerd"))
    linked = dict(container("b2", "app"), HostConfig={"NetworkMode": "container:db"})
    lost = dict(container("c3", "lost"), GraphDriver={"Data": None})
    images = [{"Id": "sha256:%s" % c, "RepoTags": ["x/%s:1" % c]} for c in ("a1", "b2", "c3")]
    conv, _path, root, _runs = conversion(tmp_path, CLASSIC, "containerd", images=images,
                                          containers=[container("a1", "web"), linked, lost])
    for c in ("b2", "c3"):
        conv.client.answers["/images/sha256:%s/json" % c] = {"RootFS": {"Layers": []}}
    (root / "containers" / "n1").mkdir()
    (root / "containers" / "n1" / "config.v2.json").write_text(json.dumps({"Name": "/web", "Driver": "overlayfs"}))
    conv.journal = {"made": {"containerd": {"web": {"id": "n1", "at": 1}}}}
    conv.client.answers["/system/df"] = {"LayersSize": 1 << 60, "Containers": []}
    plan = _store_plan.plan(conv, str(root), "classic", "containerd")
    problems = plan["problems"]
    assert any("containers name others this host does not hold: db (named by app)" in p for p in problems), problems
    assert any("the writable layer of container lost cannot be found" in p for p in problems), problems
    assert any(p.startswith("not enough space for the containerd store") and str(tmp_path / "docker") in p
               for p in problems), problems
    assert not [p for p in problems if "already holds containers named" in p], problems  # n1 is this collection's
    conv.journal = {}
    assert any("already holds containers named web" in p for p in _store_plan.plan(conv, str(root), "classic",
                                                                                   "containerd")["problems"])


def test_the_status_file_follows_the_phases_of_a_conversion(tmp_path, monkeypatch):
    """With status_file set, each phase is written as the conversion enters it (the containers with a percent), and
    the file ends at done, 100%: what job_progress shows while the module runs in the background."""
    conv, _path, _log = whole(tmp_path, monkeypatch)
    status = tmp_path / "run" / "image_store.status.json"
    conv.status = _copy.Status(str(status))
    seen = []
    real = conv.status.write

    def write(force=False, **fields):
        real(force=force, **fields)
        seen.append((conv.status.state.get("phase"), conv.status.state.get("percent")))
    conv.status.write = write
    conv.run()
    phases = [p for p, _pc in seen]
    assert [p for i, p in enumerate(phases) if i == 0 or phases[i - 1] != p] == [
        "record", "images", "stop", "switch", "containers", "start", "verify", "done"], seen
    assert sorted(conv.result["phase_seconds"]) == sorted(["record", "images", "stop", "switch", "containers",
                                                          "start", "verify"]), conv.result["phase_seconds"]
    assert ("containers", 0) in seen and json.loads(status.read_text())["phase"] == "done" and \
        json.loads(status.read_text())["percent"] == 100


def test_check_mode_writes_no_status_file(tmp_path):
    conv, _path, _root, _runs = conversion(tmp_path, CLASSIC, "classic", check_mode=True)
    conv.opts["status_file"] = str(tmp_path / "status.json")
    conv = _store_convert.Conversion(conv.client, conv.host, conv.runner, conv.opts, check_mode=True)
    conv.progress("record")
    assert not (tmp_path / "status.json").exists()


def no_store_files(monkeypatch, why="the source's storage driver is vfs, not overlay2"):
    def unusable(names, drop, **_kw):
        raise _layer_store.Unusable(why)
    monkeypatch.setattr(_layer_store, "Archive", unusable)


def test_the_images_streamed_into_containerd_are_counted_in_the_status_file(tmp_path, monkeypatch):
    """While the images stream into containerd the status file says how many bytes went, of about how many (the
    layers' size), and the rate; where the store's files cannot give the images, docker save does, and the actions
    say why."""
    no_store_files(monkeypatch)
    conv, _path, _root, _runs = conversion(tmp_path, CLASSIC, "containerd")
    status = tmp_path / "status.json"
    conv.status = _copy.Status(str(status))
    conv.client.answers["/system/df"] = {"LayersSize": 4000}
    chunks = [b"x" * 1000, b"y" * 1000, b"z" * 500]

    class Resp:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        @staticmethod
        def iter_chunks():
            return iter(chunks)
    conv.client.stream = lambda method, path, params=None: Resp()
    monkeypatch.setattr(_stores, "ctr_argv", lambda *a: ["tee", str(tmp_path / "imported")])
    conv.socket = "/run/c.sock"
    monkeypatch.setattr(_copy.time, "time", iter(range(0, 1000, 2)).__next__)  # every write is a second on
    conv.import_into_containerd(["seed/app:2"])
    st = json.loads(status.read_text())
    assert (st["phase"], st["bytes_done"], st["bytes_total"], st["percent"]) == ("images", 2500, 4000, 62), st
    assert st["rate"].endswith("/s") and (tmp_path / "imported").read_bytes() == b"".join(chunks)
    assert conv.result["actions"][-1] == ("imported 1 tags into containerd's image store, from docker save (the "
                                          "source's storage driver is vfs, not overlay2)"), conv.result["actions"]


def test_the_images_go_into_containerd_from_the_classic_stores_files_without_docker_save(tmp_path, monkeypatch):
    """On overlay2 the tags are read from the store's own files (_layer_store) and piped to ctr: docker save (which
    spools every layer to a temporary directory of Docker's) is not asked, the archive holds each layer's exact
    tar once, and the status file counts the layers' bytes against their total."""
    monkeypatch.setattr(_layer_store.os, "geteuid", lambda: 0)
    for var in ("DOCKER_HOST", "DOCKER_CONTEXT"):
        monkeypatch.delenv(var, raising=False)
    store = tls.FakeRoot(tmp_path / "docker")
    image_id, diffs, _config = store.add_image([tls.BASE, tls.TOP])
    inspect = [{"Id": image_id, "RepoTags": ["seed/app:2"], "RootFS": {"Layers": diffs}}]
    monkeypatch.setattr(_layer_store, "_docker_json", lambda argv: store.info() if argv[1] == "info" else inspect)
    conv, _path, _root, _runs = conversion(tmp_path, CLASSIC, "containerd")
    status = tmp_path / "status.json"
    conv.status = _copy.Status(str(status))

    def no_save(*args, **kwargs):
        raise AssertionError("docker save was asked")
    conv.client.stream = no_save
    monkeypatch.setattr(_stores, "ctr_argv", lambda *a: ["tee", str(tmp_path / "imported")])
    conv.socket = "/run/c.sock"
    monkeypatch.setattr(_copy.time, "time", itertools.count(0, 2).__next__)  # every write is a second on
    conv.import_into_containerd(["seed/app:2"])
    with tarfile.open(str(tmp_path / "imported")) as tar:
        members = dict((m.name, tar.extractfile(m).read()) for m in tar.getmembers() if m.isfile())
    assert [members["blobs/sha256/" + d[7:]] for d in diffs] == [store.tars[d] for d in diffs]
    index = json.loads(members["index.json"])
    assert [m["annotations"]["io.containerd.image.name"] for m in index["manifests"]] == [
        "docker.io/seed/app:2"], index
    st = json.loads(status.read_text())
    total = sum(len(store.tars[d]) for d in diffs)
    assert (st["phase"], st["bytes_total"]) == ("images", total) and st["bytes_done"] >= total, st
    assert conv.result["actions"][-1] == ("imported 1 tags into containerd's image store, read from the classic "
                                          "store's files"), conv.result["actions"]


# ---------------------------------------------------------------- the containers' steps with several containers
def three(tmp_path, monkeypatch, runner):
    """A conversion about to make three containers (restart always) in containerd's store; RUNNER runs commands."""
    monkeypatch.setattr(_stores, "containerd_socket", lambda: "/run/c.sock")
    conv, _path, _root, _runs = conversion(tmp_path, CONTAINERD, "containerd")
    conv.socket = "/run/c.sock"
    conv.jpath = str(tmp_path / "journal.json")
    conv.runner = runner
    conv.client.answers.update({"/containers/new/json": {"Id": "new"}, "/images/seed/app:2/json": {"Id": "sha256:m"}})
    conv.journal["tags"] = ["seed/app:2"]
    records = []
    for i in range(3):
        inspect = dict(container("a%d" % i, "c%d" % i),
                       HostConfig={"RestartPolicy": {"Name": "always", "MaximumRetryCount": 0}})
        inspect["Config"]["Image"] = "seed/app:2"
        records.append({"name": "c%d" % i, "id": "a%d" % i, "inspect": inspect, "running": True,
                        "ref": "seed/app:2", "layers": [], "upper": "/d/overlay2/a%d/diff" % i})
    return conv, records


def test_each_layer_is_copied_after_its_container_is_made_while_the_next_are_made_and_policies_come_after_the_last(
        tmp_path, monkeypatch):
    """The copies overlap the creates (the window is shorter): the last container is made only once the first
    layer's copy has begun (it waits for that, and would time out were every container made first); each copy
    follows its own container's create; no restart policy is given before every copy was compared."""
    log, first_copy = [], threading.Event()

    def runner(argv):
        if argv[0] == "rsync":
            log.append(("rsync-dry" if "--dry-run" in argv else "rsync", argv[-2].split("/")[-3]))
            first_copy.set()
        return 0, MOUNTS if "mounts" in argv else "", ""

    conv, records = three(tmp_path, monkeypatch, runner)
    post = conv.client.post
    made = iter(["a0", "a1", "a2"])

    def logged(path, params=None, body=None):
        if path.endswith("/create"):
            old = next(made)
            if old == "a2":
                assert first_copy.wait(10), "the first layer was not being copied while the last container was made"
            log.append(("create", old))
        elif path.endswith("/update"):
            log.append(("update", path.split("/")[2]))
        return post(path, params, body)

    conv.client.post = logged
    conv.recreate(records, {}, "containerd")
    creates = [log.index(("create", a)) for a in ("a0", "a1", "a2")]
    for i, a in enumerate(("a0", "a1", "a2")):
        assert creates[i] < log.index(("rsync", a)) < log.index(("rsync-dry", a)), log
    assert log.index(("rsync", "a0")) < creates[2], log
    updates = [i for i, e in enumerate(log) if e[0] == "update"]
    assert len(updates) == 3 and min(updates) > max(i for i, e in enumerate(log) if e[0] == "rsync-dry"), log


@pytest.mark.parametrize("fault", [StoreError, SystemExit])
def test_a_copy_that_fails_or_ends_the_module_stops_the_copies_and_gives_no_policy(tmp_path, monkeypatch, fault):
    """An rsync that fails, or a runner that ends the module in a thread (fail_json's SystemExit, when the command
    cannot be started), is raised in the module's thread once the copies under way have ended; no copy begins after
    it, and no container is given its restart policy (a boot starts none of them)."""
    copies = []

    def runner(argv):
        if argv[0] == "rsync" and "--dry-run" not in argv:
            copies.append(argv[-2])
            if len(copies) == 1:
                raise fault("rsync: command not found") if fault is SystemExit else fault("copy failed", "containers")
        return 0, MOUNTS if "mounts" in argv else "", ""

    conv, records = three(tmp_path, monkeypatch, runner)
    with pytest.raises(fault):
        conv.recreate(records, {}, "containerd")
    assert not [b for b in conv.client.bodies if b[0].endswith("/update")]
    assert len(copies) <= _store_containers.CARRIERS, copies  # the ones under way when it failed, no more


def test_the_threads_helper_raises_what_a_thread_ended_with_and_works_nothing_after_it():
    worked = []

    def work(item):
        worked.append(item)
        if item == 1:
            raise SystemExit(1)

    with pytest.raises(SystemExit):
        _store_containers.in_threads([1, 2, 3, 4], work, 1, "working")
    assert worked == [1]
    _store_containers.in_threads([], work, 0, "nothing")
    done = []
    _store_containers.in_threads(list(range(7)), done.append, 3, "all")
    assert sorted(done) == list(range(7))


def test_workers_raise_a_failure_at_the_next_add_and_a_block_that_raises_begins_no_queued_item():
    gate, worked = threading.Event(), []

    def fail(item):
        worked.append(item)
        raise StoreError("item %d failed" % item, "containers")

    with pytest.raises(StoreError, match="item 1 failed"):
        with _store_containers.Workers(fail, 1, "failing") as workers:
            workers.add(1)
            for _i in range(200):  # until the worker ended with its failure
                if workers.failed:
                    break
                gate.wait(0.05)
            workers.add(2)  # raises it: nothing more is added
            worked.append("added after the failure")
    assert worked == [1]

    started, box = threading.Event(), []

    def slow(item):
        worked.append(item)
        started.set()
        for _i in range(1000):  # a ends only once the block's end closed the workers (and dropped b)
            if box[0].closed:
                return
            gate.wait(0.01)
        raise AssertionError("the block's end never closed the workers")

    worked[:] = []
    with pytest.raises(KeyError):
        with _store_containers.Workers(slow, 1, "slow") as workers:
            box.append(workers)
            workers.add("a")
            workers.add("b")  # queued behind a
            assert started.wait(10)
            raise KeyError("the caller failed")
    assert worked == ["a"]  # b was never begun


def test_the_containers_that_ran_are_started_together_and_a_failed_start_is_raised(tmp_path, monkeypatch):
    conv, records = three(tmp_path, monkeypatch, lambda argv: (0, "", ""))
    for i, r in enumerate(records):
        r["new_id"] = "n%d" % i
        conv.client.answers["/containers/n%d/json" % i] = {"State": {"Running": i == 2}}
    conv.start_containers(records)
    assert sorted(b[0] for b in conv.client.bodies) == ["/containers/n0/start", "/containers/n1/start"]

    def refuse(path, params=None, body=None):
        raise StoreError("no such image", "start")

    conv.client.post = refuse
    with pytest.raises(StoreError, match="no such image"):
        conv.start_containers(records)


@pytest.mark.parametrize("missing", ["rsync", "ctr"])
def test_a_tool_the_conversion_needs_missing_refuses_in_preflight(tmp_path, monkeypatch, missing):
    monkeypatch.setattr(_stores, "containerd_socket", lambda: "/run/c.sock")
    monkeypatch.setattr(_store_convert.shutil, "which", lambda tool: None if tool == missing else "/usr/bin/" + tool)
    conv, path, _root, _runs = conversion(tmp_path, CLASSIC, "containerd", containers=[container("a1", "web")],
                                          images=[{"Id": "sha256:a1", "RepoTags": ["seed/app:2"]}])
    before = path.read_text()
    with pytest.raises(StoreError) as err:
        conv.run()
    assert err.value.phase == "preflight" and "%s is not installed" % missing in str(err.value), str(err.value)
    assert path.read_text() == before and conv.client.calls == [] and conv.host.calls == [("lock", False)]


# ---------------------------------------------------------------- back to classic: what the classic store still holds
@pytest.mark.parametrize("recorded", [None, ["sha256:l1"], ["sha256:l0", "sha256:l1"]])
def test_converting_back_tags_the_images_the_classic_store_still_holds_and_loads_only_the_others(
        tmp_path, monkeypatch, recorded):
    """An image the classic store still holds (its ID is the config digest of the containerd image, an index read for
    the host's platform) is tagged there, not loaded again, unless its layers are not the ones recorded for the tag
    (RECORDED, when known: another variant's manifest); the others stream from containerd into docker load."""
    conv, _path, _root, _runs = conversion(tmp_path, CLASSIC, "classic")
    conv.socket = "/run/c.sock"
    held, other = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    conv.client.answers["/images/json"] = [{"Id": held, "RepoTags": ["seed/app:old"]}]
    conv.client.answers["/images/%s/json" % held] = {"RootFS": {"Layers": ["sha256:l1"]}}
    tag = recorded in (None, ["sha256:l1"])
    blobs = {"sha256:t1": {"config": {"digest": held}},
             "sha256:t2": {"manifests": [  # an index: the arm64 manifest names the held config, amd64 another
                 {"digest": "sha256:m-arm", "platform": {"os": "linux", "architecture": "arm64"}},
                 {"digest": "sha256:m-amd", "platform": {"os": "linux", "architecture": "amd64"}}]},
             "sha256:m-arm": {"config": {"digest": held}}, "sha256:m-amd": {"config": {"digest": other}}}
    listing = ("REF TYPE DIGEST SIZE PLATFORMS LABELS\n"
               "docker.io/seed/app:1 application/vnd.oci.image.manifest.v1+json sha256:t1 1.0 MiB linux/amd64 -\n"
               "docker.io/seed/app:2 application/vnd.oci.image.index.v1+json sha256:t2 1.0 MiB linux/amd64 -\n")

    def runner(argv):
        if argv[-2:] == ["images", "ls"]:
            return 0, listing, ""
        if argv[-3:-1] == ["content", "get"] and argv[-1] in blobs:
            return 0, json.dumps(blobs[argv[-1]]), ""
        return 1, "", "not found"
    conv.runner = runner
    monkeypatch.setattr(_stores, "goarch", lambda: "amd64")
    monkeypatch.setattr(_stores, "ctr_argv", lambda socket, *args: ["printf", "%s\\n"] + list(args))
    loaded = []

    def post_load(client, stream, timeout=None):
        assert timeout == _store_images.LOAD_WAIT  # not the engine's 60 s: Docker answers once layers are in
        loaded.extend(stream.read().decode().split())
        return [], None
    monkeypatch.setattr(_store_images._image_archive, "post_load", post_load)
    conv.export_from_containerd(["seed/app:1", "seed/app:2", "seed/app:3"],
                                None if recorded is None else {"seed/app:1": recorded})
    assert [(p, params) for p, params, _b in conv.client.bodies] == ([
        ("/images/%s/tag" % held, {"repo": "seed/app", "tag": "1"})] if tag else []), conv.client.bodies
    assert loaded == ["images", "export", "-"] + ([] if tag else ["docker.io/seed/app:1"]) + [
        "docker.io/seed/app:2", "docker.io/seed/app:3"], loaded
    # The bytes that went into docker load, counted for the status file as they went.
    assert (conv.status.state["phase"], conv.status.state["bytes_done"]) == (
        "images", sum(len(word) + 1 for word in loaded)), conv.status.state
    assert conv.result["actions"] == (["tagged 1 tags whose images the classic store still held",
                                       "loaded 2 tags into the classic store"] if tag else [
        "loaded 3 tags into the classic store"]), conv.result["actions"]


@pytest.mark.parametrize("text", [None, "not json", "[]", json.dumps({"manifests": [{"digest": "sha256:x"}]})])
def test_an_image_whose_config_cannot_be_told_has_none(text):
    assert _stores.config_digest(lambda digest: text, "sha256:t", "amd64") is None


def test_the_hosts_architecture_as_platforms_name_it():
    assert [_stores.goarch(m) for m in ("x86_64", "aarch64", "riscv64")] == ["amd64", "arm64", "riscv64"]


# ---------------------------------------------------------------- containers that name others
def test_a_container_that_joins_another_is_made_after_it_named_anew_started_after_it_and_verified(
        tmp_path, monkeypatch):
    """c0 joins c1's network namespace by c1's old ID and takes c2's volumes by name: the plan's order makes c1 and
    c2 first; c0 is made naming c1's new ID (its volumes still by name), started only once c1 runs, and the
    verification compares it through the same renaming."""
    conv, records = three(tmp_path, monkeypatch, lambda argv: (0, MOUNTS if "mounts" in argv else "", ""))
    records[0]["inspect"]["HostConfig"].update(NetworkMode="container:a1", VolumesFrom=["c2:ro"])
    ordered, unresolved = _stores.in_order(records)
    assert unresolved == [] and [c["name"] for c in ordered] == ["c1", "c2", "c0"]
    made, started, new_ids = [], [], iter(["n1", "n2", "n0"])
    inspects = {}

    def post(path, params=None, body=None):
        if path == "/containers/create":
            hc = body["HostConfig"]
            made.append((params["name"], hc.get("NetworkMode"), hc.get("VolumesFrom")))
            new = next(new_ids)
            inspects[new] = {"body": body}
            return {"Id": new}
        if path.endswith("/start"):
            started.append(path.split("/")[2])
        return {}
    conv.client.post = post
    for new in ("n0", "n1", "n2"):
        conv.client.answers["/containers/%s/json" % new] = {"Id": new, "State": {"Running": False}}
    conv.recreate(ordered, {}, "containerd")
    assert made == [("c1", None, None), ("c2", None, None), ("c0", "container:n1", ["c2:ro"])], made
    assert _store_containers.renamed_refs(ordered) == {"a1": "n1", "c2": "c2"}
    waves = []
    real = _store_containers.in_threads
    monkeypatch.setattr(_store_containers, "in_threads", lambda items, work, width, what: (
        waves.append([c["name"] for c in items]), real(items, work, width, what)))
    conv.start_containers(ordered)
    assert waves == [["c1", "c2"], ["c0"]] and sorted(started[:2]) == ["n1", "n2"] and started[2:] == ["n0"], (
        waves, started)
    # The new c0, as Docker would show it: its references in the new store's terms, nothing else changed.
    shared = dict(records[0]["inspect"]["HostConfig"], NetworkMode="container:n1")
    new_c0 = dict(records[0]["inspect"], Id="n0", HostConfig=shared)
    assert _container_spec.differences(records[0]["inspect"], new_c0,
                                       renamed=_store_containers.renamed_refs(ordered)) == []
    assert _container_spec.differences(records[0]["inspect"], new_c0) != []


def test_a_driver_goes_with_the_classic_store_only(tmp_path):
    conv, path, _root, runs = conversion(tmp_path, CLASSIC, "containerd")
    conv.opts["driver"] = "overlay2"
    before = path.read_text()
    with pytest.raises(StoreError, match="driver is the classic store's graph driver: it goes with store: classic"):
        conv.run()
    assert path.read_text() == before and runs == []


def test_a_driver_asked_of_a_host_already_on_it_changes_nothing(tmp_path):
    conv, path, _root, runs = conversion(tmp_path, CLASSIC, "classic", {"storage-driver": "overlay2"})
    conv.opts["driver"] = "overlay2"
    before = path.read_text()
    res = conv.run()
    assert res["changed"] is False and res["store_before"] == "classic" and path.read_text() == before and runs == []


class FakeArchive:
    def __init__(self, names, drop):
        self.names = list(names)

    def size(self):
        return 1000


def test_check_mode_plans_a_vfs_host_onto_overlay2(tmp_path, monkeypatch):
    monkeypatch.setattr(_store_plan._stores, "dockerd_choices", lambda **_kw: [])
    (tmp_path / "again").mkdir()
    monkeypatch.setattr(_store_plan._layer_store, "Archive", FakeArchive)
    monkeypatch.setattr(_store_plan._vfs_layer, "overlay_works", lambda runner, root: None)
    conv, path, _root, runs = conversion(tmp_path, dict(CLASSIC, Driver="vfs"), "classic",
                                         {"bridge": "none", "storage-driver": "vfs"}, check_mode=True)
    conv.opts["driver"] = "overlay2"
    before = path.read_text()
    res = conv.run()
    assert res["changed"] and res["store_before"] == "vfs" and res["store"] == "classic", res
    after = json.loads(res["diff"]["after"])
    assert after["storage-driver"] == "overlay2" and "features" not in after, after
    assert "would try an overlay mount on the filesystem of %s" % _root in res["actions"], res["actions"]
    assert path.read_text() == before and runs == []
    # Without driver, the classic store on vfs is the classic store: nothing to do.
    conv, path, _root, runs = conversion(tmp_path / "again", dict(CLASSIC, Driver="vfs"), "classic",
                                         {"bridge": "none", "storage-driver": "vfs"}, check_mode=True)
    assert conv.run()["changed"] is False and runs == []


def test_a_vfs_host_whose_images_cannot_be_read_from_its_files_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(_store_plan._stores, "dockerd_choices", lambda **_kw: [])

    def unusable(names, drop, **_kw):
        raise _store_plan._layer_store.Unusable("layer sha256:1: no tar-split record")
    monkeypatch.setattr(_store_plan._layer_store, "Archive", unusable)
    monkeypatch.setattr(_store_plan._vfs_layer, "overlay_works", lambda runner, root: "overlayfs cannot be mounted")
    conv, path, _root, runs = conversion(tmp_path, dict(CLASSIC, Driver="vfs"), "classic",
                                         {"bridge": "none", "storage-driver": "vfs", "storage-opts": ["vfs.size=1G"]},
                                         images=[{"Id": "sha256:a1", "RepoTags": ["seed/app:2"]}])
    conv.client.answers["/images/sha256:a1/json"] = {"RootFS": {"Layers": ["sha256:l1"]}}
    conv.opts["driver"] = "overlay2"
    before = path.read_text()
    with pytest.raises(StoreError) as err:
        conv.run()
    assert "cannot be read from the vfs store's files (layer sha256:1: no tar-split record)" in str(err.value)
    assert "overlayfs cannot be mounted: the overlay2 driver cannot run here" in str(err.value)
    assert "daemon.json sets storage-opts (vfs.size=1G) for the vfs driver" in str(err.value)
    assert err.value.phase == "preflight" and path.read_text() == before and runs == []


def previous_run(tmp_path, journal):
    conv, path, root, runs = conversion(tmp_path, CLASSIC, "previous", check_mode=True)
    if journal is not None:
        with open(_store_convert.journal_path(str(root)), "w") as f:
            json.dump(journal, f)
    return conv, path, runs


def test_previous_goes_back_to_the_store_the_last_conversion_came_from(tmp_path, monkeypatch):
    monkeypatch.setattr(_stores, "containerd_socket", lambda: "/run/containerd/containerd.sock")
    monkeypatch.setattr(_store_convert.shutil, "which", lambda tool: "/usr/bin/" + tool)
    conv, path, runs = previous_run(tmp_path, {"phase": "done", "source": "containerd", "target": "classic"})
    before = path.read_text()
    res = conv.run()
    assert res["changed"] and res["store"] == "containerd" and res["store_before"] == "classic", res
    assert json.loads(res["diff"]["after"])["features"]["containerd-snapshotter"] is True
    assert path.read_text() == before and runs == []


def test_previous_after_going_back_changes_nothing(tmp_path):
    conv, path, runs = previous_run(tmp_path, {"phase": "done", "source": "containerd", "target": "classic",
                                               "undo": True})
    res = conv.run()
    assert res["changed"] is False and res["store"] == "classic" and runs == [], res


@pytest.mark.parametrize("journal, words", [
    (None, "no conversion is recorded on this host"),
    ({"phase": "done", "source": "vfs", "target": "classic"}, "the last conversion came from the vfs driver"),
])
def test_previous_is_refused_where_there_is_none_to_go_back_to(tmp_path, journal, words):
    conv, path, runs = previous_run(tmp_path, journal)
    before = path.read_text()
    with pytest.raises(StoreError, match=words) as err:
        conv.run()
    assert err.value.phase == "preflight" and path.read_text() == before and runs == []


def test_the_storage_driver_taken_away_going_to_containerd_comes_back_even_after_a_failed_return(
        tmp_path, monkeypatch):
    """Going to containerd's store records the storage-driver (overlay2) it takes away, apart from the conversion's
    own record: a conversion back that fails (switched back to containerd's store) and the next one still put it
    back."""
    monkeypatch.setattr(_stores, "containerd_socket", lambda: "/run/c.sock")
    monkeypatch.setattr(_store_convert.shutil, "which", lambda tool: "/usr/bin/" + tool)
    monkeypatch.setattr(_stores, "dockerd_choices", lambda **_kw: [])
    images = [{"Id": "sha256:a1", "RepoTags": ["seed/app:2"]}]

    def failing(self, tags, untagged=None):
        raise StoreError("the images could not be imported", "images")
    monkeypatch.setattr(_store_convert.Conversion, "import_into_containerd", failing)
    (tmp_path / "a").mkdir()
    forward, path, root, _runs = conversion(tmp_path / "a", CLASSIC, "containerd",
                                            {"bridge": "none", "storage-driver": "overlay2"},
                                            containers=[container("a1", "web")], images=images)
    with pytest.raises(StoreError, match="could not be imported"):
        forward.run()
    assert "storage-driver" not in json.loads(forward.result["diff"]["after"]), forward.result["diff"]
    with open(_store_convert.journal_path(str(root))) as f:
        recorded = json.load(f)
    assert recorded["classic_driver"] == "overlay2" and json.loads(path.read_text())["storage-driver"] == "overlay2"

    (tmp_path / "b").mkdir()
    back, path, root, _runs = conversion(tmp_path / "b", CONTAINERD, "classic",
                                         {"bridge": "none", "features": {"containerd-snapshotter": True}},
                                         containers=[container("a1", "web")], images=images)
    with open(_store_convert.journal_path(str(root)), "w") as f:
        json.dump(dict(recorded, phase="done"), f)
    written = []
    real = back.host.write_file
    back.host.write_file = lambda p, text, config=False: written.append(text) or real(p, text, config=config)
    with pytest.raises(StoreError, match="Docker started on the containerd store after the switch"):
        back.run()  # the engine comes back on containerd's store: switched back
    assert json.loads(written[0])["storage-driver"] == "overlay2" and "storage-driver" not in json.loads(written[1])
    again = _store_convert.Conversion(back.client, Host(), lambda argv: (0, MOUNTS, ""),
                                      {"store": "classic", "daemon_json": str(path), "allow_swarm": False},
                                      check_mode=True)
    plan = again.run()
    assert json.loads(plan["diff"]["after"])["storage-driver"] == "overlay2", plan["diff"]


def test_a_root_holding_another_graph_drivers_layers_gets_overlay2_named_going_back_to_the_classic_store(
        tmp_path, monkeypatch):
    """No journal says what daemon.json named (removed, or a root moved since): Docker would not pick a driver
    between overlay2 and another one holding layers, so the conversion names overlay2."""
    monkeypatch.setattr(_stores, "containerd_socket", lambda: "/run/c.sock")
    monkeypatch.setattr(_store_convert.shutil, "which", lambda tool: "/usr/bin/" + tool)
    conv, _path, root, _runs = conversion(tmp_path, CONTAINERD, "classic",
                                          {"features": {"containerd-snapshotter": True}}, check_mode=True)
    assert "storage-driver" not in json.loads(conv.run()["diff"]["after"])
    (root / "btrfs" / "subvolumes").mkdir(parents=True)
    conv = _store_convert.Conversion(conv.client, Host(), lambda argv: (0, MOUNTS, ""),
                                     dict(conv.opts), check_mode=True)
    assert json.loads(conv.run()["diff"]["after"])["storage-driver"] == "overlay2"


@pytest.mark.parametrize("case", ["vfs-left", "dockerd-flag", "dockerd-flag-back", "vfs-rolled-back"])
def test_going_to_containerd_is_refused_while_a_vfs_store_is_left_or_dockerd_names_its_driver(
        tmp_path, monkeypatch, case):
    """The vfs store a finished conversion to overlay2 left, not removed yet (the journal of a conversion to
    containerd's store would no longer name it, so nothing would remove it), and a driver given on dockerd's command
    line (it would name a snapshotter; going back, it would conflict with daemon.json's): refused in preflight,
    nothing changed.  A vfs conversion that was rolled back left no store of its own to clean: not that refusal."""
    monkeypatch.setattr(_stores, "containerd_socket", lambda: "/run/c.sock")
    monkeypatch.setattr(_store_convert.shutil, "which", lambda tool: "/usr/bin/" + tool)
    flag = ["-s overlay2 on dockerd's command line"] if case.startswith("dockerd-flag") else []
    monkeypatch.setattr(_stores, "dockerd_choices", lambda **_kw: flag)
    back = case == "dockerd-flag-back"
    conv, path, root, _runs = conversion(tmp_path, CONTAINERD if back else CLASSIC, "classic" if back else "containerd",
                                         {"features": {"containerd-snapshotter": True}} if back else
                                         {"storage-driver": "overlay2"})
    jpath = _store_convert.journal_path(str(root))
    with open(jpath, "w") as f:
        json.dump({"phase": "rolled_back" if case == "vfs-rolled-back" else "done", "source": "vfs",
                   "target": "classic", "done_at": 1}, f)
    (root / "vfs" / "dir" / "abc").mkdir(parents=True)
    (root / "containers" / "v1").mkdir()
    (root / "containers" / "v1" / "config.v2.json").write_text(json.dumps({"Name": "/old", "Driver": "vfs"}))
    if case == "vfs-rolled-back":
        conv.check_mode = True
        res = conv.run()
        assert res["changed"] and res["store"] == "containerd", res
        return
    before, journal_before = path.read_text(), open(jpath).read()
    words = "the vfs store the conversion to overlay2 left is still here" if case == "vfs-left" else \
        "dockerd's graph driver is chosen outside daemon.json (-s overlay2 on dockerd's command line)"
    with pytest.raises(StoreError, match=re.escape(words)) as exc:
        conv.run()
    assert exc.value.phase == "preflight" and path.read_text() == before and open(jpath).read() == journal_before
    assert conv.host.calls == [("lock", False)] and conv.client.calls == []
    if case == "vfs-left":  # what to remove by hand where that store's cleanup refuses for good
        assert "nothing mounted under them, remove by hand %s, %s" % (root / "vfs", root / "containers" / "v1") in \
            str(exc.value)


# ---------------------------------------------------------------- the image a container is made again from
class Store404(Engine):
    """An engine whose GET of a path it has no answer for is Docker's 404."""

    def get(self, path, params=None):
        if path not in self.answers:
            raise _docker_api.DockerAPIError(404, "No such image", "GET", path)
        return self.answers[path]

    def delete(self, path, params=None):
        self.calls.append(("DELETE", path, params))
        if path not in self.deletable:
            raise _docker_api.DockerAPIError(404, "No such image", "DELETE", path)


def made_from(tmp_path, monkeypatch, given, ref, untagged=None, images=None, deletable=(), tags=()):
    """The engine's calls (after the create's) and the create's Image when a container made from GIVEN (its
    Config.Image; its image sha256:a1 in the old store, with the tag REF there or none) is made again in the new
    store, which holds IMAGES ({path: answer})."""
    monkeypatch.setattr(_stores, "containerd_socket", lambda: "/run/c.sock")
    tmp_path = tmp_path / str(len(list(tmp_path.iterdir())))
    tmp_path.mkdir()
    conv, _path, _root, _runs = conversion(tmp_path, CONTAINERD, "containerd")
    engine = Store404(CONTAINERD, tmp_path, ())
    engine.deletable = set(deletable)
    engine.answers.update(dict({"/containers/new/json": {"Id": "new"}}, **(images or {})))
    conv.client, conv.socket, conv.jpath = engine, "/run/c.sock", str(tmp_path / "journal.json")
    conv.journal["tags"] = list(tags)  # the old store's, as recorded
    inspect = dict(container("a1", "web", image=given), HostConfig={})
    conv.recreate([{"name": "web", "id": "a1", "inspect": inspect, "running": False, "ref": ref, "layers": [],
                    "untagged": untagged, "upper": "/d/overlay2/x/diff"}], {}, "containerd")
    create = [b for b in engine.bodies if b[0] == "/containers/create"][0][2]
    calls = [(c[0], c[1], (c[2] or {}).get("noprune")) if c[0] == "DELETE" else c for c in engine.calls]
    return [c for c in calls if c[1] not in ("/containers/create",)], create["Image"]


@pytest.mark.parametrize("given", ["sha256:a1", "a1"])
def test_a_container_made_from_its_images_id_is_made_from_that_images_id_in_the_new_store(
        tmp_path, monkeypatch, given):
    """IDs differ between the stores: no tag is moved (`sha256:a1` is no tag to point anywhere)."""
    calls, image = made_from(tmp_path, monkeypatch, given, "seed/app:2",
                             images={"/images/seed/app:2/json": {"Id": "sha256:m1"}})
    assert image == "sha256:m1" and not [c for c in calls if "/images/" in c[1]], calls


def test_a_container_whose_tag_names_nothing_now_is_made_from_it_the_tag_taken_away_after(tmp_path, monkeypatch):
    """seed/app:1 named its image once (seed/app:2 does now, and the new store has no seed/app:1): pointed at the
    image for the create, then taken away (the image keeps seed/app:2), the container recording seed/app:1."""
    calls, image = made_from(tmp_path, monkeypatch, "seed/app:1", "seed/app:2", images={
        "/images/seed/app:2/json": {"Id": "sha256:m1"}, "/images/sha256:m1/json": {"Id": "sha256:m1"}},
        deletable={"/images/seed/app:1"}, tags=["seed/app:2"])
    assert image == "seed/app:1"
    assert calls[:2] == [("POST", "/images/sha256:m1/tag"), ("DELETE", "/images/seed/app:1", True)], calls


def test_a_container_on_an_image_without_a_tag_is_made_from_the_image_it_was_carried_as(tmp_path, monkeypatch):
    """Its image has no tag: made from the image's ID in the new store (the one its carry tag names), never by
    a tag the classic store could not take away again."""
    carry = _store_plan.carry_tag("sha256:a1")
    calls, image = made_from(tmp_path, monkeypatch, "seed/gone:1", None, untagged={"carry": carry},
                             images={"/images/%s/json" % carry: {"Id": "sha256:m9"}})
    assert image == "sha256:m9" and not [c for c in calls if "/images/" in c[1]], calls
    # its own tag names another image in the new store: pointed at this one for the create, then back
    calls, image = made_from(tmp_path, monkeypatch, "seed/gone:1", None, untagged={"config": "sha256:c1"},
                             images={"/images/sha256:c1/json": {"Id": "sha256:c1"},
                                     "/images/seed/gone:1/json": {"Id": "sha256:other"}})
    assert image == "seed/gone:1"
    assert [c[1] for c in calls[:2]] == ["/images/sha256:c1/tag", "/images/sha256:other/tag"], calls


@pytest.mark.parametrize("given, tags, digests, dropped", [
    ("seed/app:1", [], [], True),                                  # a kill left it: taken away after
    ("seed/app:1", ["seed/app:1", "seed/app:2"], [], False),       # the old store has it: kept
    ("docker.io/library/busy:1", ["busy:1"], [], False),           # the same tag, as docker lists it
    ("seed/app:1", [], ["seed/app@sha256:d1"], None),              # taking it would take the digest: from the ID
])
def test_a_tag_the_old_store_lacks_is_not_left_in_the_new_one(tmp_path, monkeypatch, given, tags, digests, dropped):
    """The container's own tag names its image in the new store already (a run killed between putting it there
    and taking it away): taken away after the create unless the old store has it too, or the image's digests of
    that repository would go with it (then made from the ID where the tag names nothing)."""
    images = {"/images/seed/app:2/json": {"Id": "sha256:m1"}, "/images/sha256:m1/json": {"Id": "sha256:m1",
                                                                                         "RepoDigests": digests}}
    if dropped is not None:
        images["/images/%s/json" % given] = {"Id": "sha256:m1"}
    calls, image = made_from(tmp_path, monkeypatch, given, "seed/app:2", images=images, tags=tags,
                             deletable={"/images/%s" % given})
    deletes = [c for c in calls if c[0] == "DELETE"]
    assert deletes == ([("DELETE", "/images/%s" % given, True)] if dropped else []), calls
    assert image == ("sha256:m1" if dropped is None else given), image


def test_an_image_id_prefix_is_told_from_a_name():
    assert _store_plan.by_id("sha256:ab12", "sha256:ab12cd") and _store_plan.by_id("ab12cd", "sha256:ab12cd")
    assert not _store_plan.by_id("seed/app:2", "sha256:ab12") and not _store_plan.by_id("ab13", "sha256:ab12cd")
    assert not _store_plan.by_id("", "sha256:ab12")


def test_the_carry_tags_go_once_the_conversion_to_containerd_is_done(tmp_path, monkeypatch):
    """Every carry tag the store shows (this run's, and one an earlier failed run left) taken away with force
    (Docker keeps an image a container uses, without a tag), no other tag; one gone meanwhile is no failure (a
    rerun after a kill between them)."""
    monkeypatch.setattr(_stores, "containerd_socket", lambda: "/run/c.sock")
    conv, _path, _root, _runs = conversion(tmp_path, CONTAINERD, "containerd")
    engine = Store404(CONTAINERD, tmp_path, ())
    carry = [_store_plan.carry_tag(i) for i in ("sha256:a1", "sha256:b2", "sha256:c3")]
    engine.answers["/images/json"] = [{"Id": "sha256:n1", "RepoTags": [carry[0], "seed/app:1"]},
                                      {"Id": "sha256:n2", "RepoTags": [carry[2], carry[1]]},
                                      {"Id": "sha256:n3", "RepoTags": None}]
    engine.deletable = {"/images/" + carry[0], "/images/" + carry[2]}  # carry[1] went meanwhile: a 404
    engine.answers["/system/df"] = {}
    conv.client, conv.jpath = engine, str(tmp_path / "journal.json")
    monkeypatch.setattr(_store_convert._store_cleanup, "report", lambda conv, target: None)
    conv.done("containerd")
    assert engine.calls == [("DELETE", "/images/" + t, {"force": True, "noprune": True}) for t in carry], engine.calls
    assert json.loads((tmp_path / "journal.json").read_text())["phase"] == "done"
    engine.calls[:] = []
    conv.done("classic")  # going to the classic store, no tag was carried
    assert engine.calls == []


def through_nameless(src):
    """(what _store_images.nameless writes of the archive read from SRC, the failures it reported)."""
    rfd, wfd = os.pipe()
    failed = []
    writer = threading.Thread(target=_store_images.nameless, args=(src, wfd, failed))
    writer.start()
    with os.fdopen(rfd, "rb") as out:
        data = out.read()
    writer.join()
    return data, failed


def test_an_export_from_containerd_loses_the_names_that_are_no_tags_on_its_way_to_docker_load(tmp_path):
    """containerd names an image without a tag moby-dangling@<digest>, which docker load refuses as a tag: left
    out, the image is loaded without one; a real tag and every other member pass byte for byte."""
    src = io.BytesIO()
    manifest = [{"Config": "blobs/sha256/c1", "RepoTags": ["moby-dangling@sha256:m1"], "Layers": []},
                {"Config": "blobs/sha256/c2", "RepoTags": ["docker.io/library/x:1", "moby-dangling@sha256:m2"]}]
    blob = os.urandom(100000)
    with tarfile.open(fileobj=src, mode="w") as tar:
        for name, data in (("blobs/sha256/c1", blob), ("manifest.json", json.dumps(manifest).encode()),
                           ("index.json", b"{}")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    src.seek(0)
    data, failed = through_nameless(src)
    assert failed == []
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        got = dict((m.name, tar.extractfile(m).read()) for m in tar.getmembers())
    assert got["blobs/sha256/c1"] == blob and got["index.json"] == b"{}"
    assert [e["RepoTags"] for e in json.loads(got["manifest.json"])] == [None, ["docker.io/library/x:1"]]
    # a stream that is no archive: the failure is handed over, the pipe closed
    rfd, wfd = os.pipe()
    writer = threading.Thread(target=_store_images.nameless, args=(io.BytesIO(b"x" * 700), wfd, failed))
    writer.start()
    with os.fdopen(rfd, "rb") as out:
        out.read()
    writer.join()
    assert len(failed) == 1 and isinstance(failed[0], tarfile.TarError), failed


@pytest.mark.parametrize("case", ["plain", "killed", "start-fails", "ran-since"])
def test_a_switch_back_keeps_the_stopped_containers_from_starting_with_docker(tmp_path, monkeypatch, case):
    """Docker starts a stopped container with the restart policy always at each of its starts: held (policy no in
    its hostconfig.json, the policy the host shows journalled first) while Docker starts on the old store, given it
    back once Docker runs.  killed: a run killed once it held them, the rerun's switch back releases them.
    start-fails: a container that ran does not start again; the policy is given back all the same.  ran-since:
    recorded stopped, but running when Docker was stopped for the window: not held, started again."""
    monkeypatch.setattr(_stores, "containerd_socket", lambda: "/run/c.sock")
    conv, path, root, _runs = conversion(tmp_path, CLASSIC, "classic")
    before = path.read_text()
    path.write_text(json.dumps(_stores.with_store(json.loads(before), "containerd")))
    always, later = {"Name": "always", "MaximumRetryCount": 0}, {"Name": "unless-stopped", "MaximumRetryCount": 0}
    records = [{"id": cid, "name": cid, "running": running, "inspect": {"HostConfig": {"RestartPolicy": policy}}}
               for cid, running, policy in (("s1", False, always), ("r1", True, always), ("n1", False, {"Name": "no"}))]
    for c in records:
        (root / "containers" / c["id"]).mkdir()
        (root / "containers" / c["id"] / "hostconfig.json").write_text(json.dumps(c["inspect"]["HostConfig"]))
    # the host says unless-stopped for s1 now (changed since the record): that is what it gets back
    (root / "containers" / "s1" / "hostconfig.json").write_text(json.dumps({"RestartPolicy": later}))
    conv.client.answers.update(("/containers/%s/json" % c["id"], {"State": {"Running": False}}) for c in records)
    seen = []
    real = conv.host.start_docker
    conv.host.start_docker = lambda *a, **k: seen.append(json.loads(
        (root / "containers" / "s1" / "hostconfig.json").read_text())["RestartPolicy"]["Name"]) or real(*a, **k)
    post = conv.client.post

    def failing(path_, params=None, body=None):
        if path_ == "/containers/r1/start":
            raise StoreError("port is already allocated", "rollback")
        return post(path_, params, body)
    if case == "start-fails":
        conv.client.post = failing
    jpath = journal(root, phase="containers", target="containerd", daemon_json_before=before, containers=records,
                    tags=[], held={"s1": later} if case == "killed" else {},
                    ran=["r1", "s1"] if case == "ran-since" else ["r1"])
    if case == "killed":  # held, then killed: its hostconfig.json says no
        _stores.disarm(str(root), "s1")
    if case == "start-fails":
        with pytest.raises(StoreError, match="switching back failed too"):
            conv.run()
    else:
        assert conv.run()["rolled_back"] is True and path.read_text() == before
    updates = [b for b in conv.client.bodies if b[0].endswith("/update")]
    starts = [b[0] for b in conv.client.bodies if b[0].endswith("/start")]
    if case == "ran-since":
        assert seen == ["unless-stopped"] and updates == [], (seen, updates)
        assert sorted(starts) == ["/containers/r1/start", "/containers/s1/start"], starts
        return
    assert seen == ["no"], seen  # Docker started with s1 held
    assert updates == [("/containers/s1/update", None, {"RestartPolicy": later})], conv.client.bodies
    assert json.loads(jpath.read_text())["held"] == {}
    assert json.loads((root / "containers" / "n1" / "hostconfig.json").read_text())["RestartPolicy"]["Name"] == "no"


@pytest.mark.parametrize("opts, refused", [(["overlay2.size=10G", "overlay2.override_kernel_check=true"], True),
                                           (["Overlay2.Size=10G"], True),
                                           (["overlay2.override_kernel_check=true"], False)])
def test_a_size_limit_on_the_writable_layers_is_refused_going_to_containerd(tmp_path, monkeypatch, opts, refused):
    """containerd's store starts with overlay2's storage-opts and ignores them (Docker 26.1): a size limit would be
    lost without a word, so it is refused, nothing changed; another overlay2 option is harmless."""
    monkeypatch.setattr(_stores, "containerd_socket", lambda: "/run/c.sock")
    monkeypatch.setattr(_store_convert.shutil, "which", lambda tool: "/usr/bin/" + tool)
    monkeypatch.setattr(_stores, "dockerd_choices", lambda **_kw: [])
    monkeypatch.setattr(_store_plan, "CONTAINERD_ROOT", str(tmp_path / "no-containerd"))
    conv, path, _root, _runs = conversion(tmp_path, CLASSIC, "containerd", {"storage-opts": opts}, check_mode=True)
    before = path.read_text()
    if not refused:
        assert conv.run()["changed"] is True and path.read_text() == before
        return
    with pytest.raises(StoreError, match=re.escape("daemon.json's storage-opts limit each container's writable layer "
                                                   "(%s), which containerd's store does not apply" % opts[0])) as exc:
        conv.run()
    assert exc.value.phase == "preflight" and path.read_text() == before and conv.client.calls == []


def test_a_load_that_gives_up_part_way_ends_the_export_from_containerd_without_waiting_on_it(tmp_path, monkeypatch):
    """docker load stops reading (an error) while ctr still writes its archive and a long message: ctr is ended,
    its message read from a file (never a pipe it would block on), the error raised, nothing left waiting."""
    part = io.BytesIO()
    with tarfile.open(fileobj=part, mode="w") as tar:
        info = tarfile.TarInfo("blobs/sha256/aa")
        info.size = 200000
        tar.addfile(info, io.BytesIO(os.urandom(info.size)))
    (tmp_path / "part.tar").write_bytes(part.getvalue()[:30000])
    monkeypatch.setattr(_stores, "ctr_argv", lambda *a: [  # ctr: one process, as ctr is
        sys.executable, "-c", "import sys, time; sys.stdout.buffer.write(open(%r, 'rb').read()); sys.stdout.flush(); "
        "sys.stderr.write('x' * 200000); sys.stderr.flush(); time.sleep(30)" % str(tmp_path / "part.tar")])

    def post_load(client, body, timeout=None):
        body.read(5000)
        return [], "invalid tar header"
    monkeypatch.setattr(_store_images._image_archive, "post_load", post_load)
    conv, _path, _root, _runs = conversion(tmp_path, CLASSIC, "classic")
    conv.client.answers["/images/json"] = []
    conv.socket, conv.status = "/run/c.sock", _copy.Status(None)
    raised = []

    def export():
        try:
            conv.export_from_containerd([], None, {"sha256:m": {"name": "moby-dangling@sha256:m", "config": "sha256:c"}})
        except StoreError as exc:
            raised.append(exc)
    thread = threading.Thread(target=export, daemon=True)
    thread.start()
    thread.join(20)
    assert not thread.is_alive(), "the export waits on a load that gave up"
    assert len(raised) == 1 and "invalid tar header" in str(raised[0]), raised
