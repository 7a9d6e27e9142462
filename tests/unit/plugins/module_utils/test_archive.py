# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import io
import json
import lzma
import shutil
import subprocess
import tarfile

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _archive


def save_tar(path, manifest=None, extra=None):
    """A small archive shaped like docker save's output."""
    manifest = manifest if manifest is not None else [
        {"Config": "blobs/sha256/abc123", "RepoTags": ["app:1", "app:latest"], "Layers": ["blobs/sha256/l1"]}]
    with tarfile.open(str(path), "w") as tar:
        for name, data in [("blobs/sha256/l1", b"layer" * 1000), ("manifest.json", json.dumps(manifest).encode())] + \
                (extra or []):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return str(path)


def test_read_manifest_plain_gzip_xz(tmp_path):
    plain = save_tar(tmp_path / "a.tar")
    raw = open(plain, "rb").read()
    with gzip.open(str(tmp_path / "a.tar.gz"), "wb") as f:
        f.write(raw)
    with lzma.open(str(tmp_path / "a.tar.xz"), "wb") as f:
        f.write(raw)
    for name, comp in (("a.tar", "none"), ("a.tar.gz", "gzip"), ("a.tar.xz", "xz")):
        path = str(tmp_path / name)
        assert _archive.detect_compression(path) == comp
        assert _archive.read_save_manifest(path) == [
            {"config": "blobs/sha256/abc123", "id": "sha256:abc123", "tags": ["app:1", "app:latest"],
             "layers": ["blobs/sha256/l1"]}]


@pytest.mark.skipif(not shutil.which("zstd"), reason="zstd is not installed")
def test_read_manifest_zstd(tmp_path):
    plain = save_tar(tmp_path / "a.tar")
    subprocess.run(["zstd", "-q", plain, "-o", str(tmp_path / "a.tar.zst")], check=True, timeout=60)
    assert _archive.detect_compression(str(tmp_path / "a.tar.zst")) == "zstd"
    assert _archive.read_save_manifest(str(tmp_path / "a.tar.zst"))[0]["id"] == "sha256:abc123"


def test_legacy_config_name(tmp_path):
    path = save_tar(tmp_path / "a.tar", manifest=[{"Config": "def456.json", "RepoTags": None, "Layers": []}])
    assert _archive.read_save_manifest(path)[0]["id"] == "sha256:def456"


def test_not_an_archive(tmp_path):
    p = tmp_path / "x"
    p.write_bytes(b"hello world" * 100)
    with pytest.raises(_archive.ArchiveError, match="neither a tar archive nor gzip, zstd or xz"):
        _archive.detect_compression(str(p))


def test_no_manifest(tmp_path):
    path = str(tmp_path / "n.tar")
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("hello")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(_archive.ArchiveError, match="holds no manifest.json"):
        _archive.read_save_manifest(path)


@pytest.mark.parametrize("name", ["/etc/passwd", "../evil", "a/../../b", "x/.."])
def test_unsafe_member_names_are_refused(tmp_path, name):
    path = save_tar(tmp_path / "u.tar", extra=[(name, b"x")])
    with pytest.raises(_archive.ArchiveError, match="unsafe member name"):
        _archive.read_save_manifest(path)


def test_truncated_gzip_is_an_archive_error(tmp_path):
    plain = save_tar(tmp_path / "a.tar")
    with gzip.open(str(tmp_path / "a.tar.gz"), "wb") as f:
        f.write(open(plain, "rb").read())
    data = (tmp_path / "a.tar.gz").read_bytes()
    (tmp_path / "t.tar.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(_archive.ArchiveError, match="cannot be read"):
        _archive.read_save_manifest(str(tmp_path / "t.tar.gz"))


def test_sidecar_catches_a_flipped_byte_and_truncation(tmp_path):
    path = save_tar(tmp_path / "a.tar")
    side = _archive.write_sidecar(path, [{"id": "sha256:abc123", "tags": ["app:1"]}], "none")
    assert _archive.verify(path)["sha256"] == side["sha256"]
    data = bytearray(open(path, "rb").read())
    data[700] ^= 0x01
    open(path, "wb").write(bytes(data))
    with pytest.raises(_archive.ArchiveError, match="does not match its sidecar"):
        _archive.verify(path)
    open(path, "wb").write(bytes(data[:-10]))
    with pytest.raises(_archive.ArchiveError, match="truncated or was changed"):
        _archive.verify(path)


def test_foreign_sidecar_is_refused(tmp_path):
    path = save_tar(tmp_path / "a.tar")
    (tmp_path / "a.tar.json").write_text('{"sha256": "x"}')
    with pytest.raises(_archive.ArchiveError, match="not a dockyard.migrate sidecar"):
        _archive.verify(path)


@pytest.mark.parametrize("comp", ["none", "gzip"] + (["zstd"] if shutil.which("zstd") else []))
def test_hashing_writer_round_trip(tmp_path, comp):
    path = str(tmp_path / ("w." + comp))
    payload = open(save_tar(tmp_path / "src.tar"), "rb").read()
    w = _archive.HashingWriter(path, comp)
    for i in range(0, len(payload), 1000):
        w.feed(payload[i:i + 1000])
    digest = w.close()
    assert digest == _archive.sha256_file(path)
    assert _archive.detect_compression(path) == comp
    stream = _archive.open_plain(path)
    try:
        assert stream.read() == payload
    finally:
        stream.close()
