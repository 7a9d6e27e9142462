# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import gzip
import hashlib
import io
import json
import os
import tarfile

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _layer_store


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(members, fmt=tarfile.GNU_FORMAT):
    """A layer's tar: members are (name, bytes), (name, None) for a directory, (name, 'sym', target) or
    (name, 'hard', target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for m in members:
            info = tarfile.TarInfo(m[0])
            info.mtime, info.mode = 1700000000, 0o644
            if len(m) == 3:
                info.type = tarfile.SYMTYPE if m[1] == "sym" else tarfile.LNKTYPE
                info.linkname = m[2]
                tar.addfile(info)
            elif m[1] is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size = len(m[1])
                tar.addfile(info, io.BytesIO(m[1]))
    return buf.getvalue()


def tar_split(data):
    """The tar-split record of a tar, cut as Docker's layer store cuts it: every byte that is not a regular file's
    content (headers, extended headers, padding, the end) in segments (type 2), each file's content as its name,
    size and checksum (type 1).  Written from the tar's own offsets, independently of the code under test."""
    lines, pos = [], 0
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for member in tar.getmembers():
            if member.isreg() and member.size:
                lines.append({"type": 2, "payload": base64.b64encode(data[pos:member.offset_data]).decode()})
                lines.append({"type": 1, "name": member.name, "size": member.size, "payload": "AAAAAAAAAAA="})
                pos = member.offset_data + member.size
    lines.append({"type": 2, "payload": base64.b64encode(data[pos:]).decode()})
    return b"".join(json.dumps(line, separators=(",", ":")).encode() + b"\n" for line in lines)


class FakeRoot:
    """A classic data root on disk: image/overlay2/{imagedb,layerdb} and overlay2/<cache>/diff."""

    def __init__(self, path):
        self.path = str(path)
        self.meta = os.path.join(self.path, "image", "overlay2")
        os.makedirs(os.path.join(self.meta, "layerdb", "sha256"))
        os.makedirs(os.path.join(self.meta, "imagedb", "content", "sha256"))
        self.tars = {}

    def add_layer(self, chain, members):
        data = layer_tar(members)
        diff = sha(data)
        cache = hashlib.md5(chain.encode()).hexdigest()
        rec = os.path.join(self.meta, "layerdb", "sha256", chain[7:])
        os.makedirs(rec)
        with open(os.path.join(rec, "diff"), "w") as f:
            f.write(diff)
        with open(os.path.join(rec, "cache-id"), "w") as f:
            f.write(cache)
        with gzip.open(os.path.join(rec, "tar-split.json.gz"), "wb") as f:
            f.write(tar_split(data))
        tree = os.path.join(self.path, "overlay2", cache, "diff")
        os.makedirs(tree)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            tar.extractall(tree)
        self.tars[diff] = data
        return diff, tree

    def add_image(self, layer_members):
        diffs = []
        for members in layer_members:
            data = layer_tar(members)
            diffs.append(sha(data))
            chain = _layer_store.chain_ids(diffs)[-1]
            rec = os.path.join(self.meta, "layerdb", "sha256", chain[7:])
            if not os.path.isdir(rec):
                assert self.add_layer(chain, members)[0] == diffs[-1]
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": diffs}}).encode()
        with open(os.path.join(self.meta, "imagedb", "content", "sha256", sha(config)[7:]), "wb") as f:
            f.write(config)
        return sha(config), diffs, config

    def info(self, **over):
        return dict({"Driver": "overlay2", "DriverStatus": [["Backing Filesystem", "extfs"]],
                     "DockerRootDir": self.path}, **over)


BASE = [("etc", None), ("etc/hostname", b"base\n"), ("bin", None), ("bin/sh", b"#!" + b"x" * 3000),
        ("bin/link", "sym", "sh"), ("bin/hard", "hard", "bin/sh"), ("empty", b""),
        ("usr/share/a/very/long/path/" + "n" * 120, b"long name, in a GNU long-name header")]
TOP = [("app", None), ("app/data", b"\x00\x01" * 4000), ("app/.wh.old", b"")]


def archive_for(root, monkeypatch, inspect, names, drop=()):
    def fake(argv):
        return root.info() if argv[1] == "info" else inspect
    monkeypatch.setattr(_layer_store, "_docker_json", fake)
    return _layer_store.Archive(names, set(drop))


def write(archive, tmp_path):
    out = tmp_path / "out.tar"
    with open(str(out), "wb") as f:
        stats = archive.write(f.fileno())
    return out.read_bytes(), stats


def members(data):
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        return dict((m.name, tar.extractfile(m).read()) for m in tar.getmembers())


def test_chain_ids_follow_docker():
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    chains = _layer_store.chain_ids([a, b])
    assert chains[0] == a
    assert chains[1] == "sha256:" + hashlib.sha256((a + " " + b).encode()).hexdigest()


def test_a_layer_is_put_together_byte_for_byte_and_its_size_is_known_before(tmp_path):
    root = FakeRoot(tmp_path / "root")
    diff, tree = root.add_layer("sha256:" + "c" * 64, BASE + TOP)
    split = os.path.join(root.meta, "layerdb", "sha256", "c" * 64, "tar-split.json.gz")
    assert _layer_store.tar_size(split) == len(root.tars[diff])
    out = tmp_path / "layer.tar"
    with open(str(out), "wb") as f:
        w = _layer_store.Writer(f.fileno())
        assert w.layer(split, tree) == len(root.tars[diff])
    assert sha(out.read_bytes()) == diff


def test_the_copy_without_the_kernel_gives_the_same_bytes(tmp_path):
    root = FakeRoot(tmp_path / "root")
    diff, tree = root.add_layer("sha256:" + "d" * 64, BASE)
    split = os.path.join(root.meta, "layerdb", "sha256", "d" * 64, "tar-split.json.gz")
    out = tmp_path / "layer.tar"
    with open(str(out), "wb") as f:
        w = _layer_store.Writer(f.fileno())
        w.kernel = False
        w.layer(split, tree)
    assert sha(out.read_bytes()) == diff


def test_the_archive_holds_what_docker_load_reads_and_leaves_out_the_dropped_layers(tmp_path, monkeypatch):
    root = FakeRoot(tmp_path / "root")
    one, diffs1, config1 = root.add_image([BASE, TOP])
    two, diffs2, config2 = root.add_image([BASE, [("srv", None), ("srv/x", b"two")]])
    inspect = [{"Id": one, "RepoTags": ["app/web:1", "other:2"], "RootFS": {"Layers": diffs1}},
               {"Id": two, "RepoTags": ["app/api:1"], "RootFS": {"Layers": diffs2}},
               {"Id": one, "RepoTags": ["app/web:1", "other:2"], "RootFS": {"Layers": diffs1}}]
    archive = archive_for(root, monkeypatch, inspect, ["docker.io/app/web:1", "app/api:1", "other:2"],
                          drop=[diffs1[0]])
    data, stats = write(archive, tmp_path)
    got = members(data)
    blob = lambda d: "blobs/sha256/" + d[7:]  # noqa: E731
    # The shared base is dropped once; every other layer is there, byte for byte.
    assert blob(diffs1[0]) not in got
    assert got[blob(diffs1[1])] == root.tars[diffs1[1]] and got[blob(diffs2[1])] == root.tars[diffs2[1]]
    assert (stats["source"], stats["dropped_layers"], stats["dropped_bytes"]) == ("store", 1, len(root.tars[diffs1[0]]))
    assert stats["sent_bytes"] == len(data)
    assert got[blob(one)] == config1 and got[blob(two)] == config2
    manifest = json.loads(got["manifest.json"])
    assert manifest == [
        {"Config": blob(one), "RepoTags": ["app/web:1", "other:2"], "Layers": [blob(d) for d in diffs1]},
        {"Config": blob(two), "RepoTags": ["app/api:1"], "Layers": [blob(d) for d in diffs2]}]
    index = json.loads(got["index.json"])
    names = [m["annotations"]["io.containerd.image.name"] for m in index["manifests"]]
    assert names == ["docker.io/app/web:1", "docker.io/library/other:2", "docker.io/app/api:1"]
    for entry in index["manifests"]:
        doc = got[blob(entry["digest"])]
        assert sha(doc) == entry["digest"] and len(doc) == entry["size"]
        oci = json.loads(doc)
        config = got[blob(oci["config"]["digest"])]
        assert oci["config"]["size"] == len(config)
        # Every layer's size is the tar's, the dropped one's too (the containerd store checks sizes).
        assert [(l["digest"], l["size"]) for l in oci["layers"]] == [
            (d, len(root.tars[d])) for d in json.loads(config)["rootfs"]["diff_ids"]]
    assert json.loads(got["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}


def test_an_image_named_by_its_id_carries_no_tag(tmp_path, monkeypatch):
    root = FakeRoot(tmp_path / "root")
    one, diffs, _config = root.add_image([BASE])
    archive = archive_for(root, monkeypatch, [{"Id": one, "RepoTags": ["x:1"], "RootFS": {"Layers": diffs}}],
                          [one[7:19]])
    got = members(write(archive, tmp_path)[0])
    assert json.loads(got["manifest.json"])[0]["RepoTags"] is None
    assert "annotations" not in json.loads(got["index.json"])["manifests"][0]


@pytest.mark.parametrize("name,expected", [
    ("app", "app:latest"), ("docker.io/library/app:1", "app:1"), ("docker.io/team/app:1", "team/app:1"),
    ("registry.local:5000/app", "registry.local:5000/app:latest"), ("library/app:2", "library/app:2")])
def test_names_are_compared_as_docker_lists_them(name, expected):
    assert _layer_store.familiar(name) == expected


def unusable(root, monkeypatch, inspect, names, **info):
    def fake(argv):
        return root.info(**info) if argv[1] == "info" else inspect
    monkeypatch.setattr(_layer_store, "_docker_json", fake)
    with pytest.raises(_layer_store.Unusable) as err:
        _layer_store.Archive(names, set())
    return str(err.value)


def test_the_store_is_not_used_where_it_cannot_give_the_images(tmp_path, monkeypatch):
    root = FakeRoot(tmp_path / "root")
    one, diffs, config = root.add_image([BASE, TOP])
    good = [{"Id": one, "RepoTags": ["app:1"], "RootFS": {"Layers": diffs}}]
    assert "containerd" in unusable(root, monkeypatch, good, ["app:1"],
                                    DriverStatus=[["driver-type", "io.containerd.snapshotter.v1"]])
    assert "vfs" in unusable(root, monkeypatch, good, ["app:1"], Driver="vfs")
    assert "by digest" in unusable(root, monkeypatch, good, ["app@sha256:" + "e" * 64])
    assert "neither a tag" in unusable(root, monkeypatch, good, ["other:1"])
    assert "other layers" in unusable(root, monkeypatch, [dict(good[0], RootFS={"Layers": diffs[:1]})], ["app:1"])
    # A configuration whose bytes do not give the image's ID.
    path = os.path.join(root.meta, "imagedb", "content", "sha256", one[7:])
    with open(path, "wb") as f:
        f.write(config + b" ")
    assert "does not match its ID" in unusable(root, monkeypatch, good, ["app:1"])
    with open(path, "wb") as f:
        f.write(config)
    # A layer record that names another diff ID.
    rec = os.path.join(root.meta, "layerdb", "sha256", _layer_store.chain_ids(diffs)[1][7:])
    with open(os.path.join(rec, "diff"), "w") as f:
        f.write("sha256:" + "f" * 64)
    assert "names another layer" in unusable(root, monkeypatch, good, ["app:1"])
    os.remove(os.path.join(rec, "diff"))
    assert "no record" in unusable(root, monkeypatch, good, ["app:1"])


def test_a_store_that_cannot_be_read_is_not_used(tmp_path, monkeypatch):
    root = FakeRoot(tmp_path / "root")
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert "cannot be read" in unusable(root, monkeypatch, [], ["app:1"])


@pytest.mark.parametrize("change", ["longer", "shorter", "symlink"])
def test_a_file_that_is_no_longer_what_the_layer_recorded_stops_the_archive(tmp_path, monkeypatch, change):
    root = FakeRoot(tmp_path / "root")
    one, diffs, _config = root.add_image([BASE])
    archive = archive_for(root, monkeypatch, [{"Id": one, "RepoTags": ["app:1"], "RootFS": {"Layers": diffs}}],
                          ["app:1"])
    tree = archive.images[0]["layers"][0][1]
    target = os.path.join(tree, "bin", "sh")
    if change == "symlink":
        os.remove(target)
        os.symlink(os.path.join(tree, "etc", "hostname"), target)
    else:
        with open(target, "r+b") as f:
            f.truncate(10 if change == "shorter" else 5000)
    with pytest.raises(OSError):
        write(archive, tmp_path)


@pytest.mark.parametrize("name", ["../etc/shadow", "a/../../x", "/"])
def test_an_unsafe_name_in_the_record_is_refused(name):
    with pytest.raises(OSError):
        _layer_store._safe_name({"name": name})
    assert _layer_store._safe_name({"name": "./usr//bin/x"}) == os.path.join("usr", "bin", "x")
    raw = base64.b64encode(b"caf\xe9").decode()
    assert _layer_store._safe_name({"name_raw": raw}) == b"caf\xe9".decode("utf-8", "surrogateescape")
