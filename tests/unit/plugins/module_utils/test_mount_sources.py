# -*- coding: utf-8 -*-
"""_mount_sources: the volume paths containers' configurations record follow the root that holds them."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import stat

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _local, _mount_sources

HOST = _local.Files()

OLD = "/var/lib/docker"
NEW = "/mnt/data/docker"


def config(**points):
    """A config.v2.json as Docker writes it, with mount points POINTS (destination -> fields)."""
    return {"ID": "c1", "State": {"Running": False}, "MountPoints": points, "Name": "/web"}


def write_container(root, cid, conf, raw=None):
    d = os.path.join(root, "containers", cid)
    os.makedirs(d)
    path = os.path.join(d, "config.v2.json")
    with open(path, "w") as f:
        f.write(raw if raw is not None else json.dumps(conf))
    os.chmod(path, 0o600)
    return path


def test_only_volume_mount_points_under_the_old_root_move():
    conf = config(**{
        "/data": {"Type": "volume", "Name": "web-data", "Driver": "local", "Source": OLD + "/volumes/web-data/_data",
                  "Destination": "/data", "Mode": "z"},
        "/anon": {"Type": "volume", "Name": "3f2a", "Driver": "local", "Source": OLD + "/volumes/3f2a/_data"},
        "/old": {"Name": "legacy", "Driver": "local", "Source": OLD + "/volumes/legacy/_data"},  # no Type: a volume
        "/etc/app": {"Type": "bind", "Source": OLD + "/volumes/web-data/_data"},  # a bind names the user's path
        "/srv": {"Type": "volume", "Name": "other", "Source": "/var/lib/docker2/volumes/other/_data"},
        "/tmp": {"Type": "tmpfs", "Source": ""},
    })
    new, changed = _mount_sources.rebased(conf, OLD, NEW)
    points = new["MountPoints"]
    assert changed == 3
    assert points["/data"]["Source"] == NEW + "/volumes/web-data/_data"
    assert points["/data"]["Mode"] == "z" and points["/data"]["Name"] == "web-data"
    assert points["/anon"]["Source"] == NEW + "/volumes/3f2a/_data"
    assert points["/old"]["Source"] == NEW + "/volumes/legacy/_data"
    assert points["/etc/app"]["Source"] == OLD + "/volumes/web-data/_data"
    assert points["/srv"]["Source"] == "/var/lib/docker2/volumes/other/_data"
    assert points["/tmp"] == {"Type": "tmpfs", "Source": ""}
    assert list(new) == list(conf) and new["State"] == conf["State"]
    assert conf["MountPoints"]["/data"]["Source"] == OLD + "/volumes/web-data/_data", "the input was changed"


def test_a_config_with_nothing_to_move_is_returned_as_it_is():
    conf = config(**{"/etc/app": {"Type": "bind", "Source": "/etc/app"}})
    assert _mount_sources.rebased(conf, OLD, NEW) == (conf, 0)
    assert _mount_sources.rebased({"ID": "x"}, OLD, NEW) == ({"ID": "x"}, 0)
    assert _mount_sources.rebased({"MountPoints": None}, OLD, NEW) == ({"MountPoints": None}, 0)


def test_rebase_rewrites_each_container_of_the_root_and_of_its_remapped_roots(tmp_path):
    root = str(tmp_path / "docker")
    vol = {"Type": "volume", "Name": "v", "Driver": "local", "Source": OLD + "/volumes/v/_data", "Mode": "Z"}
    first = write_container(root, "a" * 64, config(**{"/v": vol}))
    bind_only = write_container(root, "b" * 64, config(**{"/e": {"Type": "bind", "Source": "/etc"}}))
    broken = write_container(root, "c" * 64, None, raw="{not json")
    remapped = write_container(os.path.join(root, "100000.100000"), "d" * 64, config(**{"/v": dict(
        vol, Source=OLD + "/100000.100000/volumes/v/_data")}))
    # A directory that is not a remapped root is not searched, even with a containers directory in it.
    elsewhere = write_container(os.path.join(root, "foo.bar"), "e" * 64, config(**{"/v": vol}))
    untouched_elsewhere = os.stat(elsewhere).st_mtime_ns
    untouched = {p: os.stat(p).st_mtime_ns for p in (bind_only, broken)}
    before_ino = os.stat(first).st_ino

    assert _mount_sources.rebase(HOST, root, OLD, NEW) == 2

    with open(first) as f:
        assert json.load(f)["MountPoints"]["/v"]["Source"] == NEW + "/volumes/v/_data"
    with open(remapped) as f:
        assert json.load(f)["MountPoints"]["/v"]["Source"] == NEW + "/100000.100000/volumes/v/_data"
    assert os.stat(first).st_ino != before_ino, "not replaced by a rename"
    assert stat.S_IMODE(os.stat(first).st_mode) == 0o600
    assert {p: os.stat(p).st_mtime_ns for p in (bind_only, broken)} == untouched
    assert os.stat(elsewhere).st_mtime_ns == untouched_elsewhere
    with open(broken) as f:
        assert f.read() == "{not json"
    assert sorted(os.listdir(os.path.dirname(first))) == ["config.v2.json"], "a temporary file was left"
    # Again: nothing left to move.  Back: the paths return.
    assert _mount_sources.rebase(HOST, root, OLD, NEW) == 0
    assert _mount_sources.rebase(HOST, root, NEW, OLD) == 2
    with open(first) as f:
        assert json.load(f)["MountPoints"]["/v"]["Source"] == OLD + "/volumes/v/_data"


def test_the_same_root_or_a_root_without_containers_changes_nothing(tmp_path):
    root = str(tmp_path / "docker")
    point = {"Type": "volume", "Name": "v", "Source": root + "/volumes/v/_data"}
    path = write_container(root, "a" * 64, config(**{"/v": point}))
    mtime = os.stat(path).st_mtime_ns
    assert _mount_sources.rebase(HOST, root, root, root + "/") == 0
    assert os.stat(path).st_mtime_ns == mtime
    assert _mount_sources.rebase(HOST, str(tmp_path / "missing"), OLD, NEW) == 0
    assert _mount_sources.container_dirs(HOST, str(tmp_path / "missing")) == []


def test_a_local_volume_recorded_under_an_earlier_root_is_pointed_at_where_it_lives_now(tmp_path):
    """A root moved before (to /mnt/a/docker) and now again: the local driver keeps every volume at
    HOME/volumes/NAME/_data, so that is the path recorded, whatever root the old one named."""
    conf = config(**{
        "/v": {"Type": "volume", "Name": "v", "Driver": "local", "Source": "/mnt/a/docker/volumes/v/_data"},
        "/p": {"Type": "volume", "Name": "p", "Driver": "vieux/sshfs", "Source": "/mnt/a/docker/volumes/p/_data"},
        "/q": {"Type": "volume", "Name": "q", "Driver": "local", "Source": "/srv/elsewhere/q"},
    })
    new, changed = _mount_sources.rebased(conf, OLD, NEW, home=NEW)
    assert changed == 1
    assert new["MountPoints"]["/v"]["Source"] == NEW + "/volumes/v/_data"
    assert new["MountPoints"]["/p"]["Source"] == "/mnt/a/docker/volumes/p/_data", "another driver's path was guessed"
    assert new["MountPoints"]["/q"]["Source"] == "/srv/elsewhere/q"


def test_a_failing_write_is_an_oserror_and_leaves_the_file_as_it_was(tmp_path):
    root = str(tmp_path / "docker")
    point = {"Type": "volume", "Name": "v", "Driver": "local", "Source": OLD + "/volumes/v/_data"}
    path = write_container(root, "a" * 64, config(**{"/v": point}))
    with open(path) as f:
        before = f.read()

    class Broken(_local.Files):
        def write_file(self, path, data, mode=0o644, config=False):
            raise Exception("Could not replace file")  # what AnsibleModule.atomic_move raises, for one

    with pytest.raises(OSError, match="Could not replace file"):
        _mount_sources.rebase(Broken(), root, OLD, root)
    with open(path) as f:
        assert f.read() == before


def test_rebase_points_a_volume_recorded_under_an_earlier_root_at_the_new_home(tmp_path):
    """rebase itself, not only rebased: a root moved once before (to /mnt/a/docker) and now from OLD to NEW; its
    containers, and those of its userns-remap root, recorded their local volumes under /mnt/a/docker, which is
    neither OLD nor NEW.  Each is pointed at the volume's home as it will be served: NEW/volumes/v/_data, and
    NEW/UID.GID/volumes/w/_data for the remapped root."""
    root = str(tmp_path / "docker")
    remap = "100000.100000"
    plain = write_container(root, "a" * 64, config(**{"/v": {
        "Type": "volume", "Name": "v", "Driver": "local", "Source": "/mnt/a/docker/volumes/v/_data", "Mode": "z"}}))
    remapped = write_container(os.path.join(root, remap), "b" * 64, config(**{"/w": {
        "Type": "volume", "Name": "w", "Driver": "local", "Source": "/mnt/a/docker/%s/volumes/w/_data" % remap}}))

    assert _mount_sources.rebase(HOST, root, OLD, NEW) == 2

    with open(plain) as f:
        point = json.load(f)["MountPoints"]["/v"]
    assert point["Source"] == NEW + "/volumes/v/_data"
    assert point["Mode"] == "z" and point["Name"] == "v"
    with open(remapped) as f:
        assert json.load(f)["MountPoints"]["/w"]["Source"] == NEW + "/%s/volumes/w/_data" % remap
    assert _mount_sources.rebase(HOST, root, OLD, NEW) == 0  # pointed already: nothing more to move
