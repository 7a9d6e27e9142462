# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _copy

from overlay_tree import add_layer  # pylint: disable=import-error

STATS = """
Number of files: 1,311 (reg: 1,200, dir: 100, link: 11)
Number of created files: 1,311
Number of regular files transferred: 1,200
Total file size: 15,429,487 bytes
Total transferred file size: 14,314,330 bytes
"""


def test_parse_stats():
    assert _copy.parse_stats(STATS) == {"files": 1311, "files_transferred": 1200, "bytes_total": 15429487,
                                        "bytes_transferred": 14314330}


def test_parse_progress():
    assert _copy.parse_progress("     32,768  45%   10.00MB/s    0:00:01 (xfr#1, ir-chk=1000/1002)") == {
        "bytes_done": 32768, "rsync_percent": 45, "rate": "10.00MB/s"}
    assert _copy.parse_progress("sending incremental file list") is None


needs_rsync = pytest.mark.skipif(not shutil.which("rsync"), reason="rsync is not installed")


@needs_rsync
def test_rsync_keeps_hard_links_xattrs_holes_and_deletes(tmp_path):
    src = tmp_path / "src"
    dst = tmp_path / "dst"
    src.mkdir()
    (src / "a").write_bytes(os.urandom(5000))
    os.link(str(src / "a"), str(src / "a.link"))
    os.setxattr(str(src / "a"), "user.k", b"v")
    with open(str(src / "sparse"), "wb") as f:
        f.truncate(20 * 1024 * 1024)
        f.write(b"x")
    dst.mkdir()
    (dst / "stale").write_text("old")
    status = _copy.Status(str(tmp_path / "run" / "status.json"))
    stats = _copy.rsync(str(src), str(dst), status, "online_copy", total_bytes=5000)
    assert stats["rc"] == 0
    assert stats["files_transferred"] == 2
    assert not (dst / "stale").exists()
    assert os.stat(str(dst / "a")).st_ino == os.stat(str(dst / "a.link")).st_ino
    assert os.getxattr(str(dst / "a"), "user.k") == b"v"
    assert os.stat(str(dst / "sparse")).st_blocks * 512 < 1024 * 1024
    st = json.loads((tmp_path / "run" / "status.json").read_text())
    assert st["phase"] == "online_copy"
    assert st["percent"] == 100


@needs_rsync
def test_rsync_failure_is_a_copy_error(tmp_path):
    with pytest.raises(_copy.CopyError, match="rsync from .* failed"):
        _copy.rsync(str(tmp_path / "missing"), str(tmp_path / "dst"))


@pytest.mark.skipif(not shutil.which("tar"), reason="tar is not installed")
def test_tar_copy_keeps_hard_links_xattrs_holes_and_times(tmp_path):
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "a").write_bytes(os.urandom(5000))
    os.link(str(src / "d" / "a"), str(src / "d" / "a.link"))
    os.setxattr(str(src / "d" / "a"), "user.k", b"v")
    with open(str(src / "sparse"), "wb") as f:
        f.truncate(20 * 1024 * 1024)
        f.write(b"x")
    os.utime(str(src / "d" / "a"), ns=(1500000000123456789, 1500000000123456789))
    dst = tmp_path / "dst"
    status = _copy.Status(str(tmp_path / "run" / "s.json"))
    stats = _copy.tar_copy(str(src), str(dst), status, "online_copy", total_bytes=10000)
    assert stats["engine"] == "tar" and stats["rc"] == 0 and stats["bytes_transferred"] > 5000
    assert os.stat(str(dst / "d" / "a")).st_ino == os.stat(str(dst / "d" / "a.link")).st_ino
    assert os.getxattr(str(dst / "d" / "a"), "user.k") == b"v"
    assert os.stat(str(dst / "sparse")).st_blocks * 512 < 1024 * 1024
    assert os.stat(str(dst / "d" / "a")).st_mtime_ns == 1500000000123456789
    assert json.loads((tmp_path / "run" / "s.json").read_text())["percent"] == 100
    # rsync finds nothing left to do after the tar copy: the times and sizes match to the nanosecond.
    if shutil.which("rsync"):
        assert _copy.rsync(str(src), str(dst))["files_transferred"] == 0


def test_tar_copy_failure_is_a_copy_error(tmp_path):
    with pytest.raises(_copy.CopyError, match="tar copy from"):
        _copy.tar_copy(str(tmp_path / "missing"), str(tmp_path / "dst"))


def test_is_empty_dir(tmp_path):
    assert _copy.is_empty_dir(str(tmp_path / "none"))
    assert _copy.is_empty_dir(str(tmp_path))
    (tmp_path / "x").write_text("x")
    assert not _copy.is_empty_dir(str(tmp_path))


@needs_rsync
def test_rsync_skip_neither_walks_nor_deletes_skipped_dirs_and_syncs_the_rest(tmp_path):
    src = tmp_path / "src"
    dst = tmp_path / "dst"
    a, b, gone = "a" * 64, "b" * 64, "e" * 64
    add_layer(src, "1" * 64, a, {"f": "layer a"})
    add_layer(src, "2" * 64, b, {"g": "layer b"})
    (src / "volumes" / "v" / "_data").mkdir(parents=True)
    (src / "volumes" / "v" / "_data" / "db").write_text("new rows")
    _copy.rsync(str(src), str(dst))
    # The target's copy of the skipped layer is made different: a walk of it would put it back.
    (dst / "overlay2" / a / "diff" / "f").write_text("marked")
    # Meanwhile on the source: a volume changed, a layer was removed, one was added.
    (src / "volumes" / "v" / "_data" / "db").write_text("newer rows")
    shutil.rmtree(str(src / "overlay2" / b))
    shutil.rmtree(str(src / "image" / "overlay2" / "layerdb" / "sha256" / ("2" * 64)))
    add_layer(src, "5" * 64, gone, {"h": "layer e"})
    # Docker writes beside a layer's diff when something is created on top of it: that is still walked.
    (src / "overlay2" / a / "committed").write_text("")
    stats = _copy.rsync(str(src), str(dst), skip=["overlay2/%s/diff" % a])
    assert stats["skipped_dirs"] == 1
    assert (dst / "overlay2" / a / "diff" / "f").read_text() == "marked"
    assert (dst / "overlay2" / a / "committed").exists()
    assert (dst / "volumes" / "v" / "_data" / "db").read_text() == "newer rows"
    assert not (dst / "overlay2" / b).exists()
    assert (dst / "overlay2" / gone / "diff" / "h").read_text() == "layer e"
    # Without the skip, the same pass mends the marked file.
    _copy.rsync(str(src), str(dst))
    assert (dst / "overlay2" / a / "diff" / "f").read_text() == "layer a"


@needs_rsync
def test_rsync_skip_of_a_long_list_is_read_from_stdin(tmp_path):
    src = tmp_path / "src"
    (src / "overlay2").mkdir(parents=True)
    skip = ["overlay2/%064x/diff" % i for i in range(20000)]
    (src / "overlay2" / ("%064x" % 7) / "diff").mkdir(parents=True)
    (src / "overlay2" / ("%064x" % 7) / "diff" / "f").write_text("x")
    (src / "other").write_text("y")
    stats = _copy.rsync(str(src), str(tmp_path / "dst"), skip=skip)
    assert stats["rc"] == 0 and stats["skipped_dirs"] == 20000
    assert (tmp_path / "dst" / "other").exists()
    assert not (tmp_path / "dst" / "overlay2" / ("%064x" % 7) / "diff").exists()


def test_exact_args_follow_the_rsync_version(monkeypatch):
    monkeypatch.setattr(_copy, "_VERSIONS", {})
    monkeypatch.setattr(_copy, "rsync_version", lambda rsync_bin="rsync": "3.2.7")
    assert _copy.exact_args() == ["--modify-window=-1"]
    monkeypatch.setattr(_copy, "_VERSIONS", {})
    monkeypatch.setattr(_copy, "rsync_version", lambda rsync_bin="rsync": "3.1.2")
    assert _copy.exact_args(final=True) == ["--checksum"]
    assert _copy.exact_args(final=False) == []


@needs_rsync
def test_a_same_size_rewrite_within_the_second_is_copied(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    f = src / "page"
    f.write_bytes(b"A" * 4096)
    os.utime(str(f), ns=(1700000000100000000, 1700000000100000000))
    os.utime(str(src), ns=(1700000000100000000, 1700000000100000000))
    _copy.rsync(str(src), str(tmp_path / "dst"))
    # Rewritten in place: same size, a time in the same second.
    f.write_bytes(b"B" * 4096)
    os.utime(str(f), ns=(1700000000900000000, 1700000000900000000))
    os.utime(str(src), ns=(1700000000900000000, 1700000000900000000))
    _copy.rsync(str(src), str(tmp_path / "dst"))
    assert (tmp_path / "dst" / "page").read_bytes() == b"B" * 4096
    assert os.stat(str(tmp_path / "dst")).st_mtime_ns == 1700000000900000000


def test_a_copy_running_when_the_time_limit_ends_is_killed_and_reported(tmp_path, monkeypatch):
    import time
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x")
    # rsync that never ends by itself: the watchdog must kill it at the deadline.
    slow = tmp_path / "slow-rsync"
    slow.write_text('#!/bin/sh\n[ "$1" = --version ] && { echo "rsync  version 3.2.7  protocol version 31"; exit 0; }\n'
                    'exec sleep 30\n')
    slow.chmod(0o755)
    t0 = time.time()
    with pytest.raises(_copy.TimeLimitReached, match="the time limit ended during an rsync pass"):
        _copy.rsync(str(src), str(tmp_path / "dst"), rsync_bin=str(slow), deadline=time.time() + 0.5)
    assert time.time() - t0 < 10


def test_a_tar_copy_running_when_the_time_limit_ends_is_killed_and_reported(tmp_path, monkeypatch):
    import time
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "tar").write_text("#!/bin/sh\nexec sleep 30\n")  # a tar that never ends by itself
    (bin_dir / "tar").chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (bin_dir, os.environ["PATH"]))
    t0 = time.time()
    with pytest.raises(_copy.TimeLimitReached, match="the time limit ended during the tar copy"):
        _copy.tar_copy(str(src), str(tmp_path / "dst"), deadline=time.time() + 0.5)
    assert time.time() - t0 < 10
