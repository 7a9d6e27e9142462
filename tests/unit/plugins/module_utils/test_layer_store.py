# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import gzip
import hashlib
import io
import errno
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _layer_filter, _layer_store


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
    """The tar-split record of a tar in the shape Docker's layer store writes (vbatts/tar-split's disassembler,
    Go's encoding/json): for every member, a segment (type 2) with the bytes before its content (the padding of the
    one before, its extended and ustar headers) and a file entry (type 1) with its name and, for content, its size
    and checksum; size left out when 0, payload null; then a segment with the end.  Written from the tar's own
    offsets, independently of the code under test."""
    lines, pos = [], 0
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for member in tar.getmembers():
            lines.append({"type": 2, "payload": base64.b64encode(data[pos:member.offset_data]).decode()})
            entry = {"type": 1, "name": member.name}
            if member.isreg() and member.size:
                entry.update(size=member.size, payload="AAAAAAAAAAA=")
                pos = member.offset_data + member.size
            else:
                entry["payload"] = None
                pos = member.offset_data
            lines.append(entry)
    lines.append({"type": 2, "payload": base64.b64encode(data[pos:]).decode()})
    return b"".join(json.dumps(dict(line, position=n), separators=(",", ":")).encode() + b"\n"
                    for n, line in enumerate(lines))


class FakeRoot:
    """A classic data root on disk: image/DRIVER/{imagedb,layerdb} and, with overlay2, overlay2/<cache>/diff holding
    each layer's own files; with vfs, vfs/dir/<cache> holding the whole tree as of that layer (its parent's copied,
    the layer extracted over it)."""

    def __init__(self, path, driver="overlay2"):
        self.path = str(path)
        self.driver = driver
        self.meta = os.path.join(self.path, "image", driver)
        os.makedirs(os.path.join(self.meta, "layerdb", "sha256"))
        os.makedirs(os.path.join(self.meta, "imagedb", "content", "sha256"))
        self.tars = {}
        self.trees = {}  # chain ID -> the layer's directory

    def add_layer(self, chain, members, parent=None):
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
        if self.driver == "vfs":
            tree = os.path.join(self.path, "vfs", "dir", cache)
            if parent:
                shutil.copytree(parent, tree, symlinks=True)
            else:
                os.makedirs(tree)
        else:
            tree = os.path.join(self.path, "overlay2", cache, "diff")
            os.makedirs(tree)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            tar.extractall(tree)
        self.tars[diff] = data
        return diff, tree

    def add_image(self, layer_members):
        diffs, tree = [], None
        for members in layer_members:
            data = layer_tar(members)
            diffs.append(sha(data))
            chain = _layer_store.chain_ids(diffs)[-1]
            rec = os.path.join(self.meta, "layerdb", "sha256", chain[7:])
            if not os.path.isdir(rec):
                diff, tree = self.add_layer(chain, members, parent=tree)
                assert diff == diffs[-1]
            else:
                tree = self.trees[chain]
            self.trees[chain] = tree
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": diffs}}).encode()
        with open(os.path.join(self.meta, "imagedb", "content", "sha256", sha(config)[7:]), "wb") as f:
            f.write(config)
        return sha(config), diffs, config

    def split(self, diff):
        records = os.path.join(self.meta, "layerdb", "sha256")
        for chain in os.listdir(records):
            with open(os.path.join(records, chain, "diff")) as f:
                if f.read() == diff:
                    return os.path.join(records, chain, "tar-split.json.gz")
        raise AssertionError("no layer record for %s" % diff)

    def info(self, **over):
        return dict({"Driver": self.driver, "DriverStatus": [["Backing Filesystem", "extfs"]],
                     "DockerRootDir": self.path}, **over)


BASE = [("etc", None), ("etc/hostname", b"base\n"), ("bin", None), ("bin/sh", b"#!" + b"x" * 3000),
        ("bin/link", "sym", "sh"), ("bin/hard", "hard", "bin/sh"), ("empty", b""),
        ("usr/share/a/very/long/path/" + "n" * 120, b"long name, in a GNU long-name header")]
TOP = [("app", None), ("app/data", b"\x00\x01" * 4000), ("app/.wh.old", b"")]


@pytest.fixture(autouse=True)
def as_root(monkeypatch):
    """The store is read only by root; the tests run the code as root would."""
    monkeypatch.setattr(_layer_store.os, "geteuid", lambda: 0)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)


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


def blob(digest):
    return "blobs/sha256/" + digest[7:]


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
    split = root.split(diff)
    assert _layer_store.tar_size(split) == len(root.tars[diff])
    out = tmp_path / "layer.tar"
    with open(str(out), "wb") as f:
        w = _layer_store.Writer(f.fileno())
        assert w.layer(split, tree) == len(root.tars[diff])
    assert sha(out.read_bytes()) == diff


def test_the_copy_without_the_kernel_gives_the_same_bytes(tmp_path):
    root = FakeRoot(tmp_path / "root")
    diff, tree = root.add_layer("sha256:" + "d" * 64, BASE)
    split = root.split(diff)
    out = tmp_path / "layer.tar"
    with open(str(out), "wb") as f:
        w = _layer_store.Writer(f.fileno())
        w.kernel = False
        assert w.layer(split, tree) == len(root.tars[diff])
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
    # The shared base is dropped once; every other layer is there, byte for byte.
    assert blob(diffs1[0]) not in got
    assert got[blob(diffs1[1])] == root.tars[diffs1[1]] and got[blob(diffs2[1])] == root.tars[diffs2[1]]
    # dropped_bytes as the docker save filter counts them: the member's header and its padded content.
    assert (stats["source"], stats["dropped_layers"], stats["dropped_bytes"]) == (
        "store", 1, 512 + len(root.tars[diffs1[0]]))
    assert stats["sent_bytes"] == len(data) and data.endswith(b"\0" * 1024)
    assert got[blob(one)] == config1 and got[blob(two)] == config2
    manifest = json.loads(got["manifest.json"])
    assert manifest == [
        {"Config": blob(one), "RepoTags": ["app/web:1", "other:2"], "Layers": [blob(d) for d in diffs1]},
        {"Config": blob(two), "RepoTags": ["app/api:1"], "Layers": [blob(d) for d in diffs2]}]
    index = json.loads(got["index.json"])
    names = [(m["annotations"]["io.containerd.image.name"], m["annotations"]["org.opencontainers.image.ref.name"])
             for m in index["manifests"]]
    assert names == [("docker.io/app/web:1", "1"), ("docker.io/library/other:2", "2"), ("docker.io/app/api:1", "1")]
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
    # Every layer before any configuration or manifest, the index and manifest.json last: an archive cut short (a
    # killed writer) lacks what names an image, and ctr or docker load refuse it whole.
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        order = [m.name for m in tar.getmembers()]
    layers = [blob(d) for d in (diffs1[1], diffs2[1])]
    assert order[-3:] == ["index.json", "manifest.json", "oci-layout"], order
    assert sorted(order[:len(layers)]) == sorted(layers), order


def test_a_vfs_store_gives_each_layer_from_its_own_tree(tmp_path, monkeypatch):
    """With vfs each layer's directory is the whole tree as of that layer: every layer's tar is put together from
    its own directory, byte for byte, though a later layer rewrote the same files (one with the same size)."""
    root = FakeRoot(tmp_path / "root", driver="vfs")
    later = [("etc", None), ("etc/hostname", b"a later layer rewrote this file\n"), ("bin", None),
             ("bin/sh", b"#!" + b"y" * 3000)]
    one, diffs, config = root.add_image([BASE, TOP, later])
    assert open(os.path.join(root.trees[_layer_store.chain_ids(diffs)[0]], "bin", "sh"), "rb").read() != \
        open(os.path.join(root.trees[_layer_store.chain_ids(diffs)[2]], "bin", "sh"), "rb").read()
    inspect = [{"Id": one, "RepoTags": ["app:1"], "RootFS": {"Layers": diffs}}]
    data, stats = write(archive_for(root, monkeypatch, inspect, ["app:1"]), tmp_path)
    got = members(data)
    assert [got[blob(d)] for d in diffs] == [root.tars[d] for d in diffs]
    assert got[blob(one)] == config and stats["source"] == "store" and stats["sent_bytes"] == len(data)


def test_an_image_named_by_its_id_carries_no_tag(tmp_path, monkeypatch):
    root = FakeRoot(tmp_path / "root")
    one, diffs, _config = root.add_image([BASE])
    archive = archive_for(root, monkeypatch, [{"Id": one, "RepoTags": ["x:1"], "RootFS": {"Layers": diffs}}],
                          [one[7:19]])
    got = members(write(archive, tmp_path)[0])
    assert json.loads(got["manifest.json"])[0]["RepoTags"] is None
    assert "annotations" not in json.loads(got["index.json"])["manifests"][0]


def test_an_image_named_by_its_id_is_listed_under_the_alias_it_is_given(tmp_path, monkeypatch):
    """The tag an image with none travels under into containerd's store (whose import keeps named images only)."""
    root = FakeRoot(tmp_path / "root")
    one, diffs, _config = root.add_image([BASE])
    monkeypatch.setattr(_layer_store, "_docker_json", lambda argv: root.info() if argv[1] == "info" else [
        {"Id": one, "RepoTags": [], "RootFS": {"Layers": diffs}}])
    archive = _layer_store.Archive([one], set(), aliases={one: "dockyard-migrate-untagged:" + one[7:]})
    got = members(write(archive, tmp_path)[0])
    assert json.loads(got["manifest.json"])[0]["RepoTags"] == ["dockyard-migrate-untagged:" + one[7:]]


@pytest.mark.parametrize("name,expected", [
    ("app", "app:latest"), ("docker.io/library/app:1", "app:1"), ("docker.io/team/app:1", "team/app:1"),
    ("registry.local:5000/app", "registry.local:5000/app:latest"), ("library/app:2", "app:2"),
    ("team/library/app:2", "team/library/app:2")])
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
    assert "without a tag" in unusable(root, monkeypatch, good, ["app"])
    with open(os.path.join(root.path, "engine-id"), "w") as f:
        f.write("ENGINE-A")
    assert "another engine" in unusable(root, monkeypatch, good, ["app:1"], ID="ENGINE-B")
    os.remove(os.path.join(root.path, "engine-id"))
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.1:2376")
    assert "DOCKER_HOST" in unusable(root, monkeypatch, good, ["app:1"])
    monkeypatch.delenv("DOCKER_HOST")
    monkeypatch.setattr(_layer_store.os, "geteuid", lambda: 1000)
    assert "not root" in unusable(root, monkeypatch, good, ["app:1"])
    monkeypatch.setattr(_layer_store.os, "geteuid", lambda: 0)
    assert len(inspect_count(root, monkeypatch, good)) == 1
    assert "gave 1 images for 2 names" in unusable(root, monkeypatch, good, ["app:1", "app:1"])
    assert "containerd" in unusable(root, monkeypatch, good, ["app:1"],
                                    DriverStatus=[["driver-type", "io.containerd.snapshotter.v1"]])
    assert "btrfs, not overlay2 or vfs" in unusable(root, monkeypatch, good, ["app:1"], Driver="btrfs")
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
    with open(os.path.join(rec, "diff"), "w") as f:
        f.write(diffs[1])
    # A record without its tar-split, or a tar-split cut short.
    split = os.path.join(rec, "tar-split.json.gz")
    whole = open(split, "rb").read()
    os.remove(split)
    assert "no tar-split record" in unusable(root, monkeypatch, good, ["app:1"])
    with open(split, "wb") as f:
        f.write(whole[:len(whole) // 2])
    assert "cannot be read" in unusable(root, monkeypatch, good, ["app:1"])
    with open(split, "wb") as f:
        f.write(whole)
    with open(os.path.join(rec, "cache-id"), "w") as f:
        f.write("../../etc")
    assert "names another layer" in unusable(root, monkeypatch, good, ["app:1"])


def inspect_count(root, monkeypatch, inspect):
    monkeypatch.setattr(_layer_store, "_docker_json", lambda argv: root.info() if argv[1] == "info" else inspect)
    return _layer_store.Archive(["app:1"], set()).images


def test_a_store_that_cannot_be_read_is_not_used(tmp_path, monkeypatch):
    root = FakeRoot(tmp_path / "root")
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert "is not readable here" in unusable(root, monkeypatch, [], ["app:1"])


@pytest.mark.parametrize("change", ["longer", "shorter", "symlink", "symlink-same-size", "fifo", "parent-link"])
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
    elif change == "symlink-same-size":  # a link to a file outside the layer, of the very size recorded
        outside = tmp_path / "outside"
        outside.write_bytes(b"y" * os.path.getsize(target))
        os.remove(target)
        os.symlink(str(outside), target)
    elif change == "fifo":  # a pipe in its place: refused at once, not waited on
        os.remove(target)
        os.mkfifo(target)
    elif change == "parent-link":  # the file's directory leads out of the layer
        outside = tmp_path / "elsewhere"
        outside.mkdir()
        (outside / "sh").write_bytes(open(target, "rb").read())
        shutil.rmtree(os.path.join(tree, "bin"))
        os.symlink(str(outside), os.path.join(tree, "bin"))
    else:
        with open(target, "r+b") as f:
            f.truncate(10 if change == "shorter" else 5000)
    with pytest.raises(OSError) as err:
        write(archive, tmp_path)
    assert "layer %s of app:1" % diffs[0] in str(err.value)


@pytest.mark.parametrize("name", ["../etc/shadow", "a/../../x", "/"])
def test_an_unsafe_name_in_the_record_is_refused(name):
    with pytest.raises(OSError):
        _layer_store._safe_name({"name": name})
    assert _layer_store._safe_name({"name": "./usr//bin/x"}) == b"usr/bin/x"
    assert _layer_store._safe_name({"name": u"caf\u00e9"}) == u"caf\u00e9".encode("utf-8")
    raw = base64.b64encode(b"caf\xe9").decode()
    assert _layer_store._safe_name({"name_raw": raw}) == b"caf\xe9"


def test_a_record_naming_a_path_out_of_the_layer_is_refused_while_writing(tmp_path):
    (tmp_path / "secret").write_bytes(b"s" * 10)
    tree = tmp_path / "tree"
    tree.mkdir()
    split = tmp_path / "split.json.gz"
    with gzip.open(str(split), "wb") as f:
        f.write(b'{"type":1,"name":"../secret","size":10,"payload":"AAAAAAAAAAA=","position":0}\n')
    out = tmp_path / "out"
    with open(str(out), "wb") as f:
        with pytest.raises(OSError, match="unsafe path"):
            _layer_store.Writer(f.fileno()).layer(str(split), str(tree))
    assert out.read_bytes() == b""


@pytest.mark.parametrize("kernel", [True, False])
def test_files_larger_than_a_step_are_copied_whole(tmp_path, monkeypatch, kernel):
    """Many steps per file (STEP made 7 bytes): each from where the last ended, counted once."""
    monkeypatch.setattr(_layer_store, "STEP", 7)
    root = FakeRoot(tmp_path / "root")
    diff, tree = root.add_layer("sha256:" + "c" * 64, BASE + TOP)
    out = tmp_path / "layer.tar"
    with open(str(out), "wb") as f:
        w = _layer_store.Writer(f.fileno())
        w.kernel = kernel
        assert w.layer(root.split(diff), tree) == len(root.tars[diff])
    assert sha(out.read_bytes()) == diff


def test_a_kernel_that_refuses_sendfile_falls_back_to_a_copy(tmp_path, monkeypatch):
    root = FakeRoot(tmp_path / "root")
    diff, tree = root.add_layer("sha256:" + "c" * 64, BASE + TOP)

    def refuse(*_args):
        raise OSError(errno.EINVAL, "Invalid argument")
    monkeypatch.setattr(_layer_store.os, "sendfile", refuse)
    out = tmp_path / "layer.tar"
    with open(str(out), "wb") as f:
        w = _layer_store.Writer(f.fileno())
        assert w.layer(root.split(diff), tree) == len(root.tars[diff]) and w.kernel is False
    assert sha(out.read_bytes()) == diff


def test_a_size_record_that_disagrees_with_the_layer_stops_the_archive(tmp_path, monkeypatch):
    root = FakeRoot(tmp_path / "root")
    one, diffs, _config = root.add_image([BASE])
    archive = archive_for(root, monkeypatch, [{"Id": one, "RepoTags": ["app:1"], "RootFS": {"Layers": diffs}}],
                          ["app:1"])
    split, tree, size = archive.images[0]["layers"][0]
    archive.images[0]["layers"][0] = (split, tree, size + 512)
    with pytest.raises(OSError, match="came to %d bytes, its record says %d" % (size, size + 512)):
        write(archive, tmp_path)


def run_program(tmp_path, docker, plan):
    """The program as the source runs it (python3 -I -c, no collection importable), fed PLAN, with a docker command
    on its PATH that answers each subcommand as DOCKER ([(subcommand, shell text)]) says."""
    from ansible_collections.dockyard.migrate.plugins.module_utils import _image_stream
    fake = tmp_path / "docker"
    fake.write_text(u"#!/bin/sh\ncase $1 in\n" + u"".join(u"  %s) %s;;\n" % case for case in docker)
                    + u"  *) exit 3;;\nesac\n")
    fake.chmod(0o755)
    code = shlex.split(_image_stream.filter_program())[0]
    return subprocess.run([sys.executable, "-I", "-c", code], input=json.dumps(plan).encode(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env={"PATH": "%s:/usr/bin:/bin" % tmp_path}, cwd=str(tmp_path),
                          timeout=60, check=False)


def test_the_program_runs_alone_and_falls_back_to_docker_save(tmp_path):
    """With a docker whose info names the containerd store, the program runs docker save, drops the planned layer
    and says why the store was not used."""
    layer, kept = b"L" * 1024, b"K" * 512
    digest = sha(layer)
    archive = tmp_path / "save.tar"
    with tarfile.open(str(archive), "w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in ((blob(digest), layer), ("manifest.json", kept)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    info = json.dumps({"Driver": "overlayfs", "DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]]})
    out = run_program(tmp_path, [("info", "echo '%s'" % info), ("save", "cat %s" % archive)],
                      {"names": ["app:1"], "drop": [{"diff": digest, "chain": digest, "blobs": [digest]}]})
    assert out.returncode == 0, out.stderr
    with tarfile.open(fileobj=io.BytesIO(out.stdout), mode="r:") as tar:
        assert tar.getnames() == ["manifest.json"]
    stats = json.loads(out.stderr.decode().split(_layer_filter.MARK, 1)[1])
    assert (stats["source"], stats["dropped_layers"]) == ("save", 1)
    assert "containerd's image store" in stats["source_reason"]


@pytest.fixture
def program_host(tmp_path):
    """The program with a docker command that answers for a FakeRoot and whose save only leaves a mark."""
    if os.geteuid() != 0:
        pytest.skip("the store is read as root")
    root = FakeRoot(tmp_path / "root")
    one, diffs, _config = root.add_image([BASE, TOP])
    (tmp_path / "info.json").write_text(json.dumps(root.info()))
    (tmp_path / "inspect.json").write_text(json.dumps([{"Id": one, "RepoTags": ["app:1"], "RootFS": {"Layers": diffs}}]))
    docker = [("info", "cat %s/info.json" % tmp_path), ("image", "cat %s/inspect.json" % tmp_path),
              ("save", "touch %s/saved; exit 1" % tmp_path)]

    def run(source, drop=()):
        return run_program(tmp_path, docker, {"names": ["app:1"], "drop": [{"diff": d, "chain": d} for d in drop],
                                              "source": source})
    return root, diffs, run, tmp_path / "saved"


def test_the_program_writes_from_the_store_without_docker_save(program_host):
    root, diffs, run, saved = program_host
    out = run("auto", drop=[diffs[0]])
    assert out.returncode == 0, out.stderr
    got = members(out.stdout)
    assert "blobs/sha256/" + diffs[0][7:] not in got and got["blobs/sha256/" + diffs[1][7:]] == root.tars[diffs[1]]
    stats = json.loads(out.stderr.decode().split("dockyard-layers: ", 1)[1])
    assert (stats["source"], stats["dropped_layers"]) == ("store", 1)
    assert not saved.exists()


def test_the_program_runs_docker_save_when_asked(program_host):
    _root, _diffs, run, saved = program_host
    out = run("save")
    assert saved.exists() and out.returncode != 0  # this docker's save fails: its status is the program's


def test_a_store_that_fails_mid_way_is_an_error_not_a_second_archive(program_host):
    """Once bytes have left, falling back to docker save would append a second archive: the program stops."""
    root, diffs, run, saved = program_host
    tree = [t for t in (os.path.join(root.path, "overlay2", c, "diff") for c in os.listdir(
        os.path.join(root.path, "overlay2"))) if os.path.exists(os.path.join(t, "app", "data"))][0]
    with open(os.path.join(tree, "app", "data"), "r+b") as f:
        f.truncate(10)
    out = run("auto")
    assert out.returncode == 1 and not saved.exists()
    assert b"the archive from the image store stopped: layer %s of app:1" % diffs[1].encode() in out.stderr
    assert b"dockyard-layers: " not in out.stderr
