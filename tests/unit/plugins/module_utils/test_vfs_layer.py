# -*- coding: utf-8 -*-
"""_vfs_layer: a vfs container's tree turned into an overlay upper directory, on real directories, with the real
rsync; the check mounts a real overlay when the test runs as root."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import stat
import subprocess

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _vfs_layer

needs_rsync = pytest.mark.skipif(not shutil.which("rsync"), reason="rsync is not installed")


def runner(argv):
    res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120, check=False)
    return res.returncode, res.stdout.decode("utf-8", "replace"), res.stderr.decode("utf-8", "replace")


def can_xattr(path):
    try:
        os.setxattr(path, "user.probe", b"1")
        os.removexattr(path, "user.probe")
        return True
    except OSError:
        return False


def write(path, text, mtime=1700000000):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.utime(path, (mtime, mtime))


@pytest.fixture
def trees(tmp_path):
    """(base, tree): an image with Docker's init files, and the container's copy of it, changed in every way a
    container changes its files."""
    base = str(tmp_path / "init")
    for rel, text in (("etc/os-release", "debian\n"), ("etc/keep", "keep\n"), ("bin/wc", "wc\n"),
                      ("app/old", "old\n"), ("app/sub/deep", "deep\n"), ("lib/file-to-dir", "f\n"),
                      ("srv/linked", "shared\n"), ("usr/untouched", "same\n"), ("var/log/x", "x\n"),
                      ("opt/mode", "m\n")):
        write(os.path.join(base, rel), text)
    os.mkdir(os.path.join(base, "dir-to-file"))
    write(os.path.join(base, "dir-to-file", "inner"), "i\n")
    os.symlink("os-release", os.path.join(base, "etc", "link"))
    os.link(os.path.join(base, "usr", "untouched"), os.path.join(base, "usr", "untouched.hl"))
    for d, _dirs, _files in os.walk(base):
        os.utime(d, (1700000000, 1700000000))
    tree = str(tmp_path / "container")
    subprocess.run(["cp", "-a", base, tree], check=True, timeout=60)
    write(os.path.join(tree, "added.txt"), "added\n", mtime=1800000000)
    write(os.path.join(tree, "etc", "os-release"), "changed\n", mtime=1800000000)
    os.unlink(os.path.join(tree, "bin", "wc"))
    shutil.rmtree(os.path.join(tree, "app"))
    write(os.path.join(tree, "app", "fresh"), "fresh\n", mtime=1800000000)
    os.unlink(os.path.join(tree, "lib", "file-to-dir"))
    write(os.path.join(tree, "lib", "file-to-dir", "now"), "a dir\n")
    shutil.rmtree(os.path.join(tree, "dir-to-file"))
    write(os.path.join(tree, "dir-to-file"), "a file\n")
    os.link(os.path.join(tree, "srv", "linked"), os.path.join(tree, "srv", "linked.new"))  # a link to a kept file
    os.chmod(os.path.join(tree, "opt", "mode"), 0o600)
    os.unlink(os.path.join(tree, "etc", "link"))
    os.symlink("keep", os.path.join(tree, "etc", "link"))
    os.utime(os.path.join(tree, "var", "log"), (1800000000, 1800000000))  # a file made and deleted in it
    # Rewritten to another size, its time put back; a link pointed elsewhere, its time put back too.
    write(os.path.join(tree, "usr", "sized"), "longer than before\n")
    write(os.path.join(base, "usr", "sized"), "short\n")
    os.symlink("untouched", os.path.join(base, "usr", "relink"))
    os.symlink("sized", os.path.join(tree, "usr", "relink"))
    for top in (base, tree):
        os.utime(os.path.join(top, "usr", "relink"), (1700000000, 1700000000), follow_symlinks=False)
        os.utime(os.path.join(top, "usr"), (1700000000, 1700000000))
    if os.geteuid() == 0:
        assert can_xattr(os.path.join(tree, "added.txt")), "root, and no user extended attributes here"
    if can_xattr(os.path.join(tree, "added.txt")):
        os.setxattr(os.path.join(tree, "added.txt"), "user.k", b"v")
    return base, tree


def test_changes_name_what_the_container_changed_and_nothing_else(trees):
    base, tree = trees
    copy, deleted = _vfs_layer.changes(base, tree)
    copy = [p.decode() for p in copy]
    assert copy[0] == "." and sorted(copy[1:]) == sorted([
        "added.txt", "etc", "etc/os-release", "etc/link", "app", "app/fresh", "bin", "lib", "lib/file-to-dir",
        "lib/file-to-dir/now", "dir-to-file", "srv", "srv/linked", "srv/linked.new", "opt", "opt/mode", "var",
        "var/log", "usr", "usr/sized", "usr/relink"]), copy
    assert [p.decode() for p in deleted] == ["app/old", "app/sub", "bin/wc"]
    # Unchanged paths (the hard-linked pair both kept, a kept file beside a changed one) are not copied.
    assert "usr/untouched" not in copy and "usr/untouched.hl" not in copy and "etc/keep" not in copy


def test_changes_see_an_extended_attribute(trees):
    base, tree = trees
    path = os.path.join(tree, "etc", "keep")
    if not can_xattr(path):
        pytest.skip("this filesystem takes no user extended attributes (the fixture fails on it as root)")
    assert b"etc/keep" not in _vfs_layer.changes(base, tree)[0]
    os.setxattr(path, "user.k", b"v")
    assert b"etc/keep" in _vfs_layer.changes(base, tree)[0]


def test_changes_see_an_owner(trees):
    if os.geteuid() != 0:
        pytest.skip("only root gives a file away")
    base, tree = trees
    os.lchown(os.path.join(tree, "etc", "keep"), 1234, 1234)
    assert b"etc/keep" in _vfs_layer.changes(base, tree)[0]


def test_identical_trees_have_no_changes(tmp_path):
    base = str(tmp_path / "a")
    write(os.path.join(base, "x", "y"), "y\n")
    tree = str(tmp_path / "b")
    subprocess.run(["cp", "-a", base, tree], check=True, timeout=60)
    assert _vfs_layer.changes(base, tree) == ([b"."], [])


@needs_rsync
def test_build_writes_an_overlay_upper_directory(trees, tmp_path):
    base, tree = trees
    dest = str(tmp_path / "upper")
    os.mkdir(dest)
    copied, deleted = _vfs_layer.build(runner, base, tree, dest)
    assert (copied, deleted) == (21, 3)
    if can_xattr(os.path.join(tree, "added.txt")):
        assert os.getxattr(os.path.join(dest, "added.txt"), "user.k") == b"v"
    for rel in ("app/old", "app/sub", "bin/wc"):
        st = os.lstat(os.path.join(dest, rel))
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0), rel
    with open(os.path.join(dest, "etc", "os-release")) as f:
        assert f.read() == "changed\n"
    assert os.path.isfile(os.path.join(dest, "dir-to-file"))
    assert os.path.isdir(os.path.join(dest, "lib", "file-to-dir"))
    assert os.readlink(os.path.join(dest, "etc", "link")) == "keep"
    assert stat.S_IMODE(os.lstat(os.path.join(dest, "opt", "mode")).st_mode) == 0o600
    a, b = os.lstat(os.path.join(dest, "srv", "linked")), os.lstat(os.path.join(dest, "srv", "linked.new"))
    assert a.st_ino == b.st_ino
    assert sorted(os.listdir(os.path.join(dest, "usr"))) == ["relink", "sized"]
    assert not os.path.exists(os.path.join(dest, "etc", "keep"))
    # The directories on the way carry the container's own times, made after the whiteouts in them.
    assert os.lstat(os.path.join(dest, "bin")).st_mtime_ns == os.lstat(os.path.join(tree, "bin")).st_mtime_ns
    assert os.lstat(os.path.join(dest, "var", "log")).st_mtime == 1800000000


def test_build_fails_when_rsync_fails(trees, tmp_path):
    base, tree = trees
    dest = str(tmp_path / "upper")
    os.mkdir(dest)
    with pytest.raises(_vfs_layer.LayerError, match=r"rc=23\): boom"):
        _vfs_layer.build(lambda argv: (23, "", "boom"), base, tree, dest)


def overlay_here(tmp_path):
    """Whether the check's overlay can be tried here: as root (as the test machines run) it must."""
    if os.geteuid() != 0:
        return False
    assert shutil.which("rsync") and _vfs_layer.overlay_works(runner, str(tmp_path)) is None
    return True


@pytest.fixture
def built(trees, tmp_path, monkeypatch):
    """(base, tree, dest): the trees, and DEST built from them; the check's mounts go under tmp_path."""
    if not overlay_here(tmp_path):
        pytest.skip("needs root, rsync and an overlay mount")
    monkeypatch.setattr(_vfs_layer, "SCRATCH", str(tmp_path))
    base, tree = trees
    dest = str(tmp_path / "upper")
    os.mkdir(dest)
    _vfs_layer.build(runner, base, tree, dest)
    return base, tree, dest


def test_check_passes_the_built_layer_and_fails_a_wrong_one(built, tmp_path):
    base, tree, dest = built
    _vfs_layer.check(runner, base, tree, dest)
    assert [p for p in os.listdir(str(tmp_path)) if p.startswith("dockyard-vfs-check-")] == []
    # A whiteout missing: the deleted file shows again through the overlay, and the check says where.
    os.unlink(os.path.join(dest, "bin", "wc"))
    os.utime(os.path.join(dest, "bin"), ns=(os.lstat(os.path.join(tree, "bin")).st_mtime_ns,) * 2)
    with pytest.raises(_vfs_layer.LayerError, match="bin/wc"):
        _vfs_layer.check(runner, base, tree, dest)
    assert [p for p in os.listdir(str(tmp_path)) if p.startswith("dockyard-vfs-check-")] == []


def test_check_fails_a_changed_file_left_out(built, tmp_path):
    base, tree, dest = built
    os.unlink(os.path.join(dest, "etc", "os-release"))
    os.utime(os.path.join(dest, "etc"), ns=(os.lstat(os.path.join(tree, "etc")).st_mtime_ns,) * 2)
    with pytest.raises(_vfs_layer.LayerError, match="etc/os-release"):
        _vfs_layer.check(runner, base, tree, dest)


def test_check_fails_a_lost_extended_attribute_and_a_failed_unmount(built, tmp_path):
    base, tree, dest = built

    def no_umount(argv):
        rc, out, err = runner(argv)
        return (32, "", "target is busy") if argv[0] == "umount" else (rc, out, err)
    try:
        with pytest.raises(_vfs_layer.LayerError, match="unmounting .* failed .*target is busy"):
            _vfs_layer.check(no_umount, base, tree, dest)
    finally:
        for point in os.listdir(str(tmp_path)):
            if point.startswith("dockyard-vfs-check-"):
                runner(["umount", str(tmp_path / point)])
                os.rmdir(str(tmp_path / point))
    os.removexattr(os.path.join(dest, "added.txt"), "user.k")
    with pytest.raises(_vfs_layer.LayerError, match="added.txt"):
        _vfs_layer.check(runner, base, tree, dest)


def test_overlay_option_refuses_separators():
    for bad in ("/a:b", "/a,b", "/a\\b"):
        with pytest.raises(_vfs_layer.LayerError, match="overlay mount option"):
            _vfs_layer.overlay_option(bad)
    assert _vfs_layer.overlay_option("/var/lib/docker/vfs/dir/abc-init") == "/var/lib/docker/vfs/dir/abc-init"


def test_overlay_works_says_why_not(tmp_path):
    def refuse(argv):
        return 32, "", "mount: unknown filesystem type 'overlay'"
    why = _vfs_layer.overlay_works(refuse, str(tmp_path))
    assert "overlayfs cannot be mounted" in why and "unknown filesystem type" in why
    assert os.listdir(str(tmp_path)) == []


def test_a_file_rewritten_with_its_old_size_and_time_is_seen_by_its_inode(trees):
    base, tree = trees
    path = os.path.join(tree, "etc", "keep")
    before = os.lstat(path)
    since = before.st_ctime_ns  # the tree as copied
    assert b"etc/keep" not in _vfs_layer.changes(base, tree, since)[0]
    with open(path, "w") as f:
        f.write("KEEP\n")  # the same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.lstat(path).st_ctime_ns > since
    assert b"etc/keep" not in _vfs_layer.changes(base, tree)[0]  # what docker diff would miss
    assert b"etc/keep" in _vfs_layer.changes(base, tree, since)[0]


@pytest.mark.skipif(os.geteuid() != 0, reason="only root makes devices and trusted attributes")
def test_a_tree_overlay_would_misread_is_refused(trees):
    base, tree = trees
    os.mknod(os.path.join(tree, "etc", "dev0"), stat.S_IFCHR | 0o600, os.makedev(0, 0))
    with pytest.raises(_vfs_layer.LayerError, match="/etc/dev0 is a 0:0 character device"):
        _vfs_layer.changes(base, tree)
    os.unlink(os.path.join(tree, "etc", "dev0"))
    os.setxattr(os.path.join(tree, "added.txt"), "trusted.overlay.opaque", b"y")
    with pytest.raises(_vfs_layer.LayerError, match=r"/added.txt has overlay's own extended attributes \(trusted"):
        _vfs_layer.changes(base, tree)


def test_sweep_unmounts_and_removes_what_a_killed_run_left(tmp_path, monkeypatch):
    run_dir, root = tmp_path / "run", tmp_path / "docker"
    (run_dir / "dockyard-vfs-check-abc").mkdir(parents=True)
    (run_dir / "other").mkdir()
    (root / ".dockyard-overlay-probe-x" / "merged").mkdir(parents=True)
    (root / ".dockyard-overlay-probe-x" / "upper").mkdir()
    (root / "overlay2").mkdir()
    monkeypatch.setattr(_vfs_layer, "SCRATCH", str(run_dir))

    class Entry:
        def __init__(self, point):
            self.mount_point = point
    mounted = [Entry(str(run_dir / "dockyard-vfs-check-abc")), Entry(str(root / ".dockyard-overlay-probe-x" / "merged"))]
    calls = []
    swept = _vfs_layer.sweep(lambda argv: calls.append(argv) or (0, "", ""), str(root), mounted)
    assert calls == [["umount", str(run_dir / "dockyard-vfs-check-abc")],
                     ["umount", str(root / ".dockyard-overlay-probe-x" / "merged")]]
    assert swept == [str(run_dir / "dockyard-vfs-check-abc"), str(root / ".dockyard-overlay-probe-x")]
    assert sorted(os.listdir(str(run_dir))) == ["other"] and os.listdir(str(root)) == ["overlay2"]
    # A mount that will not go stops the run, with nothing removed.
    (run_dir / "dockyard-vfs-check-def").mkdir()
    with pytest.raises(_vfs_layer.LayerError, match="left by an earlier run, failed .*busy"):
        _vfs_layer.sweep(lambda argv: (32, "", "target is busy"), str(root),
                         [Entry(str(run_dir / "dockyard-vfs-check-def"))])
    assert (run_dir / "dockyard-vfs-check-def").is_dir()


def test_prepare_compares_content_once_the_trees_were_copied_since(trees, tmp_path, monkeypatch):
    monkeypatch.setattr(_vfs_layer, "CTIME_SLACK", 0)  # the copy below is made a moment before
    base, tree = trees
    path = os.path.join(tree, "etc", "keep")
    before = os.lstat(path)
    since = max(os.lstat(os.path.join(d, n)).st_ctime_ns for top in (base,) for d, dirs, files in os.walk(top)
                for n in dirs + files)
    # Trees as Docker left them: their ctimes tell, nothing is read.
    assert _vfs_layer.prepare(base, tree, since) == (since, [])
    with open(path, "w") as f:
        f.write("KEEP\n")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    # Both trees copied elsewhere (a data root moved): every ctime is new, so the content is compared instead.
    moved = tmp_path / "moved"
    moved.mkdir()
    for top in (base, tree):
        subprocess.run(["cp", "-a", top, str(moved)], check=True, timeout=60)
    mbase, mtree = str(moved / os.path.basename(base)), str(moved / os.path.basename(tree))
    cutoff, forced = _vfs_layer.prepare(mbase, mtree, since)
    assert forced == [b"etc/keep"] and cutoff > since
    assert b"usr/untouched" not in _vfs_layer.changes(mbase, mtree, cutoff, forced)[0]
    assert b"etc/keep" in _vfs_layer.changes(mbase, mtree, cutoff, forced)[0]
    assert b"etc/keep" not in _vfs_layer.changes(mbase, mtree, cutoff)[0]
    # Unknown copy time: the same.
    assert _vfs_layer.prepare(mbase, mtree, None)[1] == [b"etc/keep"]
