# -*- coding: utf-8 -*-
"""The image stores as the host shows them (_stores): which one runs, the daemon.json switch, what refuses a
conversion, names, writable layers and changes."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _stores

CONTAINERD_INFO = {"Driver": "overlayfs", "DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]]}
CLASSIC_INFO = {"Driver": "overlay2", "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]]}


def test_the_store_is_told_by_the_snapshotter_type():
    assert _stores.store_of(CONTAINERD_INFO) == "containerd"
    assert _stores.store_of(CLASSIC_INFO) == "classic"
    assert _stores.store_of({}) == "classic"


def test_the_switch_sets_the_feature_and_keeps_the_rest():
    data = {"bridge": "none", "features": {"buildkit": True}}
    on = _stores.with_store(data, "containerd")
    assert on == {"bridge": "none", "features": {"buildkit": True, "containerd-snapshotter": True}}
    assert _stores.with_store(on, "classic")["features"] == {"buildkit": True, "containerd-snapshotter": False}
    assert data == {"bridge": "none", "features": {"buildkit": True}}  # not changed in place
    assert [_stores.configured_store(d) for d in ({}, on, _stores.with_store(on, "classic"))] == \
        [None, "containerd", "classic"]


@pytest.mark.parametrize("info, version, daemon_json, allow, words", [
    (CLASSIC_INFO, {"Version": "20.10.24"}, {}, False, "Docker 20.10.24 is older than 24"),
    (dict(CLASSIC_INFO, SecurityOptions=["name=seccomp", "name=userns"]), {"Version": "26.1.5"}, {}, False,
     "userns-remap"),
    (dict(CLASSIC_INFO, Swarm={"LocalNodeState": "active"}), {"Version": "26.1.5"}, {}, False, "part of a swarm"),
    (dict(CLASSIC_INFO, Driver="vfs"), {"Version": "26.1.5"}, {}, False, "the classic store with the vfs driver"),
    (CLASSIC_INFO, {"Version": "26.1.5"}, {"storage-driver": "btrfs"}, False, "sets storage-driver (btrfs)"),
])
def test_each_refusal_names_its_reason(info, version, daemon_json, allow, words):
    problems = _stores.refusals(info, version, daemon_json, "containerd", allow)
    assert len(problems) == 1 and words in problems[0], problems


def test_a_storage_driver_naming_overlay2_goes_with_the_switch_to_containerd_and_comes_back_after():
    """Left by a conversion from vfs: not refused, taken away going to containerd's store (where it would name a
    snapshotter that does not exist), put back going back when told (the journal records it)."""
    data = {"bridge": "none", "storage-driver": "overlay2"}
    assert _stores.refusals(CLASSIC_INFO, {"Version": "26.1.5"}, data, "containerd") == []
    named = _stores.refusals(CONTAINERD_INFO, {"Version": "26.1.5"}, data, "classic")
    assert len(named) == 1 and "sets storage-driver (overlay2)" in named[0], named  # on containerd's store: named
    on = _stores.with_store(data, "containerd")
    assert on == {"bridge": "none", "features": {"containerd-snapshotter": True}} and "storage-driver" in data
    back = {"bridge": "none", "features": {"containerd-snapshotter": False}, "storage-driver": "overlay2"}
    assert _stores.with_store(on, "classic", "overlay2") == back
    assert _stores.with_store(on, "classic") == {"bridge": "none", "features": {"containerd-snapshotter": False}}
    kept = {"storage-driver": "btrfs"}
    assert _stores.with_store(kept, "containerd")["storage-driver"] == "btrfs"
    assert _stores.with_store(kept, "classic", "overlay2")["storage-driver"] == "btrfs"


def test_another_graph_drivers_layers_beside_overlay2_are_found_but_vfs_never(tmp_path):
    assert _stores.other_drivers(str(tmp_path)) == []
    for name in ("overlay2", "vfs", "btrfs", "zfs"):
        (tmp_path / name).mkdir()
    (tmp_path / "overlay2" / "l").mkdir()
    (tmp_path / "vfs" / "dir").mkdir()
    assert _stores.other_drivers(str(tmp_path)) == []  # empty ones, and vfs, are not Docker's prior drivers
    (tmp_path / "btrfs" / "subvolumes").mkdir()
    assert _stores.other_drivers(str(tmp_path)) == ["btrfs"]


@pytest.mark.parametrize("tag, name", [
    ("busybox:1", "docker.io/library/busybox:1"),
    ("seed/app:2", "docker.io/seed/app:2"),
    ("registry.example:5000/team/app:1", "registry.example:5000/team/app:1"),
    ("localhost/app:1", "localhost/app:1"),
])
def test_a_tag_is_named_as_containerd_names_it(tag, name):
    assert _stores.full_name(tag) == name


def test_the_upper_directory_is_read_from_the_mount_command():
    text = ("mount -t overlay overlay /x -o index=off,workdir=/var/lib/containerd/s/4/work,"
            "upperdir=/var/lib/containerd/s/4/fs,lowerdir=/var/lib/containerd/s/3/fs\n")
    assert _stores.upper_from_mounts(text) == "/var/lib/containerd/s/4/fs"
    assert _stores.upper_from_mounts("") is None
    assert _stores.classic_upper({"GraphDriver": {"Data": {"UpperDir": "/d/overlay2/a/diff"}}}) == "/d/overlay2/a/diff"
    assert _stores.classic_upper({"GraphDriver": {"Data": None}}) is None


def test_tagged_images_are_carried_and_untagged_ones_named():
    images = [{"Id": "sha256:a", "RepoTags": ["x:1", "x:latest"]}, {"Id": "sha256:b", "RepoTags": ["<none>:<none>"]},
              {"Id": "sha256:c", "RepoTags": None}]
    tags, used, unused = _stores.images_to_carry(images, [{"Image": "sha256:b"}, {"Image": "sha256:a"}])
    assert (tags, used, unused) == (["x:1", "x:latest"], ["sha256:b"], ["sha256:c"])


def test_the_other_stores_containers_are_found_by_their_driver(tmp_path):
    for cid, name, driver in (("a1", "/web", "overlay2"), ("b2", "/web", "overlayfs"), ("c3", "/db", "overlay2")):
        (tmp_path / "containers" / cid).mkdir(parents=True)
        (tmp_path / "containers" / cid / "config.v2.json").write_text(json.dumps({"Name": name, "Driver": driver}))
    (tmp_path / "containers" / "broken").mkdir()
    assert _stores.hidden_containers(str(tmp_path), "overlay2") == {"web": "a1", "db": "c3"}
    assert _stores.hidden_containers(str(tmp_path), "overlayfs") == {"web": "b2"}
    assert _stores.hidden_containers(str(tmp_path / "none"), "overlay2") == {}


def test_the_containers_a_container_names_are_its_dependencies():
    inspect = {"HostConfig": {"NetworkMode": "container:db", "IpcMode": "private", "VolumesFrom": ["data:ro", "9f3"],
                              "Links": ["/cache:/web/cache"]}}
    assert _stores.dependencies(inspect) == ["db", "data", "9f3", "cache"]
    assert _stores.dependencies({"HostConfig": {"NetworkMode": "none"}}) == []


def rec(name, cid, **host_config):
    return {"name": name, "id": cid, "inspect": {"HostConfig": host_config}}


def test_a_reference_is_resolved_as_docker_does_by_name_id_or_unique_prefix():
    records = [rec("web", "abc123"), rec("db", "abd456")]
    assert [(_stores.resolve(r, records) or {}).get("name") for r in ("web", "abd456", "abc", "ab", "zz")] == [
        "web", "db", "web", None, None]


def test_containers_are_ordered_after_the_ones_they_name_and_a_missing_one_is_named():
    records = [rec("side", "s1", NetworkMode="container:w1", VolumesFrom=["data:ro"]), rec("web", "w1"),
               rec("data", "d1"), rec("late", "l1", Links=["/side:/late/side"]), rec("lost", "x1", IpcMode="container:gone")]
    ordered, unresolved = _stores.in_order(records)
    names = [c["name"] for c in ordered]
    assert sorted(names) == sorted(r["name"] for r in records) and len(names) == len(set(names))
    assert names.index("web") < names.index("side") and names.index("data") < names.index("side") < \
        names.index("late"), names
    assert unresolved == ["gone (named by lost)"]


def test_containers_start_in_waves_after_the_ones_whose_namespaces_they_join():
    records = [rec("side", "s1", NetworkMode="container:w1"), rec("web", "w1"), rec("tail", "t1", PidMode="container:side"),
               rec("alone", "a1", NetworkMode="container:elsewhere")]
    assert [[c["name"] for c in wave] for wave in _stores.start_waves(records)] == [
        ["web", "alone"], ["side"], ["tail"]]


@pytest.mark.parametrize("own, image, ref", [
    ("seed/app:2", "sha256:a", "seed/app:2"),          # its tag still names its image
    ("seed/app", "sha256:b", "seed/app:latest"),       # the default tag
    ("seed/app:2", "sha256:c", "seed/old:1"),          # the tag moved since: another tag of its image
    ("seed/app@sha256:dd", "sha256:c", "seed/old:1"),  # a digest reference
    ("seed/app:2", "sha256:zz", None),                 # its image has no tag
])
def test_a_container_is_made_again_from_a_tag_of_its_own_image(own, image, ref):
    images = [{"Id": "sha256:a", "RepoTags": ["seed/app:2"]}, {"Id": "sha256:b", "RepoTags": ["seed/app:latest"]},
              {"Id": "sha256:c", "RepoTags": ["seed/old:2", "seed/old:1"]}, {"Id": "sha256:zz", "RepoTags": None}]
    assert _stores.image_ref({"Image": image, "Config": {"Image": own}}, images) == ref


def test_a_container_about_to_be_replaced_is_kept_from_starting_with_docker(tmp_path):
    d = tmp_path / "containers" / "c1"
    d.mkdir(parents=True)
    (d / "hostconfig.json").write_text(json.dumps({"RestartPolicy": {"Name": "always", "MaximumRetryCount": 0},
                                                   "Binds": ["/x:/y"]}))
    assert _stores.disarm(str(tmp_path), "c1") is True
    assert json.loads((d / "hostconfig.json").read_text()) == {
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}, "Binds": ["/x:/y"]}
    assert _stores.disarm(str(tmp_path), "c1") is False  # already
    assert _stores.disarm(str(tmp_path), "missing") is False


def test_the_new_store_must_have_room_for_what_is_carried():
    df = {"LayersSize": 100 << 20, "Containers": [{"SizeRw": 10 << 20}, {"SizeRw": None}]}
    # containerd keeps each layer twice: 210 MB plus 5 %
    assert "about 220 MB needed (layers 100 MB twice, writable layers 10 MB" in _stores.room("containerd", df, 200 << 20)
    assert _stores.room("containerd", df, 221 << 20) is None
    assert _stores.room("classic", df, 116 << 20) is None and _stores.room("classic", df, 100 << 20)
    assert _stores.room("classic", df, None) is None


def test_live_restore_is_refused():
    problems = _stores.refusals(dict(CLASSIC_INFO, LiveRestoreEnabled=True), {"Version": "26.1.5"}, {}, "containerd")
    assert len(problems) == 1 and "live-restore is on" in problems[0]


@pytest.mark.parametrize("status, store", [
    ([["driver-type", "io.containerd.snapshotter.v1"]], "containerd"),
    ([["Backing Filesystem", "extfs"], ["driver-type", "io.containerd.snapshotter.v1"]], "containerd"),
    ([["driver-type", "io.containerd.snapshotter.v2"]], "classic"),  # another value is not the snapshotter
    ([["Backing Filesystem", "io.containerd.snapshotter.v1"]], "classic"),  # the value under another key
    ([["driver-type"]], "classic"),
    (None, "classic"),
])
def test_the_store_is_containerd_only_for_the_snapshotter_type_under_driver_type(status, store):
    assert _stores.store_of({"Driver": "overlayfs", "DriverStatus": status}) == store


@pytest.mark.parametrize("ref, tagged", [
    ("busybox", "busybox:latest"),
    ("seed/app:2", "seed/app:2"),
    ("registry:5000/app", "registry:5000/app:latest"),  # the port is not a tag
    ("registry:5000/team/app:1", "registry:5000/team/app:1"),
    ("app@sha256:" + "a" * 64, "app@sha256:" + "a" * 64),
])
def test_a_reference_gets_the_default_tag_only_when_it_has_none(ref, tagged):
    assert _stores.with_tag(ref) == tagged


def test_a_registry_with_a_port_and_no_dot_is_a_registry_to_containerd():
    assert _stores.full_name("registry:5000/app:1") == "registry:5000/app:1"
    assert _stores.full_name(_stores.with_tag("registry:5000/app")) == "registry:5000/app:latest"


@pytest.mark.parametrize("key", ["NetworkMode", "IpcMode", "PidMode", "UTSMode"])
def test_each_namespace_shared_with_another_container_is_a_dependency(key):
    assert _stores.dependencies({"HostConfig": {key: "container:db"}}) == ["db"]
    # The host's namespace, or the container's own, ties it to no other container.
    assert _stores.dependencies({"HostConfig": {key: "host"}}) == []
    assert _stores.dependencies({"HostConfig": {key: ""}}) == []


VFS_INFO = {"Driver": "vfs", "DriverStatus": []}


def test_the_classic_store_on_another_driver_is_a_store_of_its_own():
    assert [_stores.kind_of(i) for i in (VFS_INFO, CLASSIC_INFO, CONTAINERD_INFO, dict(CLASSIC_INFO, Driver="btrfs"))] \
        == ["vfs", "classic", "containerd", "btrfs"]
    data = {"bridge": "none", "storage-driver": "vfs"}
    assert _stores.with_driver(data, "overlay2") == {"bridge": "none", "storage-driver": "overlay2"}
    assert data["storage-driver"] == "vfs"  # not changed in place


@pytest.mark.parametrize("info, daemon_json, target, source, words", [
    (VFS_INFO, {"storage-driver": "vfs"}, "containerd", "classic", "convert it to overlay2 first"),
    (dict(CLASSIC_INFO, Driver="btrfs"), {"storage-driver": "btrfs"}, "classic", "btrfs",
     "only overlay2 (classic) and overlayfs (containerd) are converted, and vfs to overlay2"),
    (VFS_INFO, {}, "classic", "vfs", "daemon.json does not set \"storage-driver\": \"vfs\""),
])
def test_a_driver_conversion_refuses_what_it_cannot_do(info, daemon_json, target, source, words):
    problems = _stores.refusals(info, {"Version": "26.1.5"}, daemon_json, target, source=source)
    assert [p for p in problems if words in p], problems


def test_a_vfs_host_set_in_daemon_json_is_not_refused():
    assert _stores.refusals(VFS_INFO, {"Version": "26.1.5"}, {"storage-driver": "vfs"}, "classic", source="vfs") == []


def test_a_vfs_containers_trees_are_read_from_the_layer_store(tmp_path):
    root = tmp_path / "docker"
    rec = root / "image" / "vfs" / "layerdb" / "mounts" / "c1"
    rec.mkdir(parents=True)
    (rec / "mount-id").write_text("m1")
    (rec / "init-id").write_text("m1-init")
    for d in ("m1", "m1-init"):
        (root / "vfs" / "dir" / d).mkdir(parents=True)
    assert _stores.vfs_dirs(str(root), "c1") == (str(root / "vfs" / "dir" / "m1"), str(root / "vfs" / "dir" / "m1-init"))
    assert _stores.vfs_dirs(str(root), "c2") == (None, None)
    (root / "vfs" / "escape").mkdir()
    (rec / "init-id").write_text("../escape")
    assert _stores.vfs_dirs(str(root), "c1") == (None, None)
    (rec / "init-id").write_text("m2-init")  # recorded, but not on disk
    assert _stores.vfs_dirs(str(root), "c1") == (None, None)


def test_dockerd_choosing_its_driver_outside_daemon_json_is_seen(tmp_path):
    def proc(pid, comm, argv, env):
        d = tmp_path / str(pid)
        d.mkdir()
        (d / "comm").write_text(comm + "\n")
        (d / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
        (d / "environ").write_bytes(b"\0".join(e.encode() for e in env) + b"\0")
    none = str(tmp_path / "no.pid")
    proc(10, "dockerd", ["/usr/bin/dockerd", "-H", "fd://", "--storage-driver=vfs"], ["PATH=/bin", "DOCKER_DRIVER=vfs"])
    proc(11, "sleep", ["sleep", "-s", "1"], ["DOCKER_DRIVER=x"])
    (tmp_path / "self").mkdir()
    assert _stores.dockerd_choices(str(tmp_path), none) == [
        "--storage-driver=vfs on dockerd's command line", "DOCKER_DRIVER=vfs in dockerd's environment"]
    proc(12, "dockerd", ["dockerd", "-H", "fd://"], ["PATH=/bin", "DOCKER_DRIVER="])  # empty: unset, for Docker
    (tmp_path / "10" / "comm").write_text("containerd\n")
    assert _stores.dockerd_choices(str(tmp_path), none) == []
    # A dockerd in a container (its own PID namespace: Docker in Docker) is another engine's, not this host's; one
    # whose namespace cannot be read is read.
    proc(13, "dockerd", ["dockerd", "-s", "vfs"], ["PATH=/bin"])
    proc(1, "systemd", ["/sbin/init"], [])
    for pid, ns in (("1", "pid:[4026531836]"), ("12", "pid:[4026531836]"), ("13", "pid:[4026532999]")):
        (tmp_path / pid / "ns").mkdir()
        (tmp_path / pid / "ns" / "pid").symlink_to(ns)
    assert _stores.dockerd_choices(str(tmp_path), none) == []
    (tmp_path / "13" / "ns" / "pid").unlink()
    assert _stores.dockerd_choices(str(tmp_path), none) == ["-s vfs on dockerd's command line"]
    (tmp_path / "13" / "ns" / "pid").symlink_to("pid:[4026531836]")
    (tmp_path / "13" / "environ").unlink()  # readable by its owner only: the command line still counts
    assert _stores.dockerd_choices(str(tmp_path), none) == ["-s vfs on dockerd's command line"]
    # Docker's pidfile names the host's dockerd: only that one is read (13 is another instance, rootless say); a
    # pidfile naming no running dockerd is not taken.
    pidfile = tmp_path / "docker.pid"
    pidfile.write_text("12\n")
    assert _stores.dockerd_choices(str(tmp_path), str(pidfile)) == []
    pidfile.write_text("11\n")
    assert _stores.dockerd_choices(str(tmp_path), str(pidfile)) == ["-s vfs on dockerd's command line"]


def test_a_vfs_containers_copy_time_is_its_mount_records(tmp_path):
    rec = tmp_path / "image" / "vfs" / "layerdb" / "mounts" / "c1"
    rec.mkdir(parents=True)
    (rec / "mount-id").write_text("m1")
    os.utime(str(rec / "mount-id"), ns=(1, 1700000000123456789))
    assert _stores.vfs_since(str(tmp_path), "c1") == 1700000000123456789
    assert _stores.vfs_since(str(tmp_path), "c2") is None
