# -*- coding: utf-8 -*-
"""rsync's memory in a pass (issue #23): every rsync of a pass or a comparison runs with glibc's mmap threshold
fixed (_copy.RSYNC_ENV), with incremental recursion kept, and a pass over a tree of small directories stays an exact
copy (hard links across directories far apart in the walk, deletions at every level, xattrs, ACLs), as the real
comparison (_passes.differences) proves."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _copy, _passes

RSYNC = shutil.which("rsync")
needs_rsync = pytest.mark.skipif(not RSYNC, reason="rsync is not installed")

WRAPPER = """#!%s
import json, os, sys
with open(%r, "a") as f:
    f.write(json.dumps({"argv": sys.argv[1:], "env": dict(os.environ)}) + "\\n")
os.execv(%r, [%r] + sys.argv[1:])
"""


def recording_rsync(tmp_path):
    """An rsync that notes its arguments and environment in a file, then runs the real one."""
    log = tmp_path / "calls.jsonl"
    path = tmp_path / "rsync-recorded"
    path.write_text(WRAPPER % (sys.executable, str(log), RSYNC, RSYNC))
    path.chmod(0o755)
    return str(path), log


def calls(log):
    return [json.loads(line) for line in log.read_text().splitlines()]


def small_dirs(root, dirs, files_per_dir=1):
    for d in range(dirs):
        leaf = root / ("d%03d" % (d % 50)) / ("e%05d" % d)
        leaf.mkdir(parents=True, exist_ok=True)
        for f in range(files_per_dir):
            (leaf / ("f%d" % f)).write_bytes(b"%d.%d" % (d, f))


def test_the_environment_fixes_the_mmap_threshold_and_keeps_the_rest(monkeypatch):
    monkeypatch.setenv("DOCKYARD_TEST_KEPT", "yes")
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", str(64 << 20))  # a caller's own value would undo the bound
    env = _copy.rsync_env()
    assert env["MALLOC_MMAP_THRESHOLD_"] == "131072" == _copy.RSYNC_ENV["MALLOC_MMAP_THRESHOLD_"]
    assert env["DOCKYARD_TEST_KEPT"] == "yes" and env["PATH"] == os.environ["PATH"]
    assert os.environ["MALLOC_MMAP_THRESHOLD_"] == str(64 << 20)  # the module's own environment is left alone


@needs_rsync
def test_every_pass_and_comparison_runs_rsync_with_the_threshold_and_incremental_recursion(tmp_path):
    rsync_bin, log = recording_rsync(tmp_path)
    src, dst = tmp_path / "src", tmp_path / "dst"
    small_dirs(src, 30)
    stats = _copy.rsync(str(src), str(dst), rsync_bin=rsync_bin, skip=["d001"])
    assert stats["rc"] == 0
    assert _copy.differences(str(src), str(dst), ["/d001"], rsync_bin=rsync_bin) == []
    runs = [c for c in calls(log) if "--version" not in c["argv"]]
    assert len(runs) == 2  # the pass, then the comparison
    # Nothing that turns rsync's incremental recursion off (compat.c, set_allow_inc_recurse).
    off = ("--no-inc-recursive", "--no-i-r", "--delete-before", "--delete-after", "--delay-updates",
           "--prune-empty-dirs")
    for run in runs:
        assert run["env"]["MALLOC_MMAP_THRESHOLD_"] == "131072"
        assert not [a for a in run["argv"] if a in off]
    assert runs[0]["argv"][:len(_copy.BASE_ARGS)] == _copy.BASE_ARGS
    assert runs[1]["argv"][:len(_copy.CHECK_ARGS)] == _copy.CHECK_ARGS


def _acl(path, spec):
    subprocess.run(["setfacl", "-m", spec, str(path)], check=True)


def _build_source(src):
    """Small directories, hard links between the first and the last directories of the walk, xattrs, an ACL."""
    small_dirs(src, 400, files_per_dir=2)
    first, last = src / "d000" / "e00000", src / "d049" / "e00399"
    os.link(str(first / "f0"), str(last / "link-to-first"))
    os.link(str(last / "f1"), str(first / "link-to-last"))
    os.setxattr(str(src / "d007" / "e00007" / "f0"), "user.k", b"v")
    if shutil.which("setfacl"):
        _acl(src / "d009" / "e00009" / "f1", "u:12345:r")
        _acl(src / "d009", "d:u:12345:rx")


def _stale_target(dst):
    """What the target holds that the source no longer does, at every level, and entries whose type changed."""
    (dst / "stale-top").write_text("old")
    shutil.rmtree(str(dst / "d003"))  # a whole directory missing
    (dst / "d004" / "stale-mid").mkdir()
    (dst / "d004" / "stale-mid" / "deep").mkdir()
    (dst / "d004" / "stale-mid" / "deep" / "x").write_text("old")
    (dst / "d005" / "e00005" / "stale-leaf").write_text("old")
    shutil.rmtree(str(dst / "d006" / "e00006"))
    (dst / "d006" / "e00006").write_text("a file where the source has a directory")
    os.unlink(str(dst / "d008" / "e00008" / "f0"))
    (dst / "d008" / "e00008" / "f0").mkdir()  # a directory where the source has a file
    os.unlink(str(dst / "d049" / "e00399" / "link-to-first"))
    (dst / "d049" / "e00399" / "link-to-first").write_bytes(b"0.0")  # the same content, no longer a hard link
    (dst / "d010" / "e00010" / "f0").write_bytes(b"changed!")


@needs_rsync
def test_a_pass_over_small_directories_leaves_an_exact_copy(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    _build_source(src)
    _copy.rsync(str(src), str(dst))
    assert _passes.differences(str(src), str(dst)) == []
    _stale_target(dst)
    found = _passes.differences(str(src), str(dst))
    for name in ("stale-top", "d003/", "d004/stale-mid/deep/x", "d005/e00005/stale-leaf", "d006/e00006",
                 "d008/e00008/f0", "d049/e00399/link-to-first", "d010/e00010/f0"):
        assert [line for line in found if name in line], (name, found)
    # The source changes too, meanwhile: a file removed, a directory added.
    os.unlink(str(src / "d011" / "e00011" / "f1"))
    small_dirs(src / "new", 3)
    stats = _copy.rsync(str(src), str(dst), phase="final_copy")
    assert stats["rc"] == 0 and stats["files_transferred"] >= 4
    assert _passes.differences(str(src), str(dst)) == []
    first, last = dst / "d000" / "e00000", dst / "d049" / "e00399"
    assert os.stat(str(first / "f0")).st_ino == os.stat(str(last / "link-to-first")).st_ino
    assert os.stat(str(last / "f1")).st_ino == os.stat(str(first / "link-to-last")).st_ino
    assert os.getxattr(str(dst / "d007" / "e00007" / "f0"), "user.k") == b"v"
    assert not (dst / "stale-top").exists() and not (dst / "d004" / "stale-mid").exists()


@needs_rsync
def test_a_copy_back_with_a_backup_dir_keeps_what_it_replaces_and_deletes(tmp_path):
    """_rollback.copy_back's pass: --backup --backup-dir beside the target, under the same environment."""
    src, dst, keep = tmp_path / "src", tmp_path / "dst", tmp_path / "dst.dockyard-copyback"
    _build_source(src)
    _copy.rsync(str(src), str(dst))
    (dst / "d004" / "only-here").write_text("written on the original")
    (src / "d010" / "e00010" / "f0").write_bytes(b"written on the new root")
    _copy.rsync(str(src), str(dst), phase="copy_back", extra_args=["--backup", "--backup-dir=%s" % keep])
    assert _passes.differences(str(src), str(dst)) == []
    assert (keep / "d004" / "only-here").read_text() == "written on the original"
    assert (keep / "d010" / "e00010" / "f0").read_bytes() == b"10.0"


def _descendants_rss_kb(root, comm="rsync"):
    """The resident memory (KB) of the processes named COMM among ROOT's descendants: the test's own worker may
    have other children (a test run beside it), which are not rsync's."""
    kids, names = {}, {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                stat = f.read()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(pid))
        names[int(pid)] = stat[stat.find("(") + 1:stat.rfind(")")]
    total, todo = 0, list(kids.get(root, []))
    while todo:
        pid = todo.pop()
        todo.extend(kids.get(pid, []))
        if names.get(pid) != comm:
            continue
        try:
            with open("/proc/%d/status" % pid) as f:
                total += sum(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        except OSError:
            pass
    return total


@needs_rsync
def test_a_pass_over_thousands_of_one_file_directories_stays_small(tmp_path):
    """4,000 directories of one file each, a third of them rewritten: the worst shape for the lists in flight.  With
    rsync 3.2.7 this pass peaked at 406 MB without the fixed threshold and 23 MB with it (rsync 3.5.0: 28 MB
    without)."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    small_dirs(src, 4000)
    _copy.rsync(str(src), str(dst))
    for leaf in list(src.glob("d0*/e*"))[::3]:
        (leaf / "f0").write_bytes(b"rewritten")
    peak, done = [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _descendants_rss_kb(os.getpid()))
            time.sleep(0.01)
    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        _copy.rsync(str(src), str(dst), phase="final_copy")
    finally:
        done.set()
        sampler.join()
    assert _passes.differences(str(src), str(dst)) == []
    assert 0 < peak[0] < 100 * 1024, "rsync's three processes peaked at %d KB" % peak[0]
