# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A container's writable layer of the vfs graph driver, carried into an overlay2 container.  Internal to
dockyard.migrate (used by _store_containers when a host moves from vfs to overlay2).

vfs keeps no layer as a difference: a container's directory (``vfs/dir/MOUNT``) is a whole copy of its parent (the
``MOUNT-init`` directory: the image with Docker's init files) that the container then wrote to.  An overlay upper
directory holds only what differs from the layers below it.  So the writable layer is the difference of the two
trees, found as Docker itself finds a vfs container's changes (``docker diff``): a path is changed when it is new,
of another type, or differs in mode, owner, device number, link target, extended attributes, or (for all but
directories, whose size means nothing) size or modification time; a path of the parent that the container no
longer has is deleted.  And a path whose inode changed (its ctime, which no one can set back) after the container's
tree was copied from its parent is changed too, whatever its times and size say: a file rewritten with its old
modification time put back (``cp -p``, ``tar``, ``touch -r``) is carried.  Where ctimes tell nothing (the trees
were copied since the container was made: a data root moved, a backup restored), the content of every file that
looks unchanged is compared once before the window (prepare()), and ctimes count from then.  What changed is
copied (rsync, from a list of paths: owners, modes, times, hard links, ACLs and extended attributes kept; the
directories on the way too, with their own attributes), and what was deleted becomes a whiteout (a 0:0 character
device, as overlay2 writes one).  A hard link group is copied whole
when one of its paths changed, so that the links stay links.

The check does not trust the copy's list: the upper directory is mounted, read-only, over the old parent directory
(an overlay of the two, no upper), and rsync in dry-run mode must find that view identical to the old container's
directory, path by path: types, attributes, sizes and times to the nanosecond, hard links and extended attributes
(rsync's quick check: a file's content is compared through its size and times, and rsync checks each file it
copies against its own checksum).

A tree overlay would read otherwise than vfs does is refused (a 0:0 character device is a whiteout to overlay, an
extended attribute of ``trusted.overlay.`` one of its markers).  The check's mount lives in /run (gone at a boot),
and a run sweeps what a killed one left (sweep()).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import shutil
import stat
import tempfile
import time

from ansible_collections.dockyard.migrate.plugins.module_utils import _copy, _mountinfo, _stores

RSYNC = ["-aHAXS", "--numeric-ids"] + ["--filter=-x %s" % x for x in _stores.OVERLAY_XATTRS]
# Where the check's read-only overlay is mounted: /run is a tmpfs, so a mount left by a kill goes with a reboot.
SCRATCH = "/run"
# ctimes come from the kernel's coarse clock, behind time.time_ns() by up to a tick: a cutoff taken now is moved
# back by this much, so that a change made right after it is not taken for one made before.
CTIME_SLACK = 10 ** 9
CHECK_PREFIX = "dockyard-vfs-check-"
PROBE_PREFIX = ".dockyard-overlay-probe-"


def rsync_args():
    """RSYNC, with times compared to the nanosecond (or, with an rsync older than 3.1.3, content by checksum)."""
    return RSYNC + _copy.exact_args()


class LayerError(Exception):
    pass


def xattrs(path):
    """The extended attributes of PATH (not followed if a link), as sorted (name, value) pairs."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return ()
        raise
    return tuple(sorted((n, os.getxattr(path, n, follow_symlinks=False)) for n in names))


def signature(path, st):
    """What makes a path the same in both trees (see the module's text)."""
    sig = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns)
    if not stat.S_ISDIR(st.st_mode):
        sig += (st.st_size,)
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        sig += (st.st_rdev,)
    if stat.S_ISLNK(st.st_mode):
        sig += (os.readlink(path),)
    return sig + (xattrs(path),)


def _names(path):
    try:
        return set(os.listdir(path))
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return set()
        raise


def refusal(tree, rel):
    """Why overlay would read the path REL of TREE otherwise than vfs does, or None."""
    full = os.path.join(tree, rel)
    st = os.lstat(full)
    if stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0):
        return "/%s is a 0:0 character device, which overlay reads as a deleted file" % os.fsdecode(rel)
    marks = [n for n, _v in xattrs(full) if n.startswith("trusted.overlay.")]
    if marks:
        return "/%s has overlay's own extended attributes (%s)" % (os.fsdecode(rel), ", ".join(marks))
    return None


def same_content(a, b):
    """Whether the regular files A and B hold the same bytes."""
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def touched_after(top, since):
    """Whether an inode under TOP changed after SINCE (ns): for a parent tree, which Docker never writes once the
    container is made, this says the trees were copied (a data root moved, a backup restored) since, so that
    their ctimes no longer tell what the container changed."""
    stack = [os.fsencode(top)]
    while stack:
        cur = stack.pop()
        st = os.lstat(cur)
        if st.st_ctime_ns > since:
            return True
        if stat.S_ISDIR(st.st_mode):
            stack.extend(os.path.join(cur, n) for n in os.listdir(cur))
    return False


def prepare(base, tree, since):
    """Read once before anything changes, Docker running: (the cutoff for changes() in the window, the paths
    whose content differs though nothing else does).  SINCE is when the container's tree was copied from BASE;
    when it is unknown, or BASE changed after it (the trees were copied since), the cutoff is now (less a
    second, for the coarse clock of ctimes), and every file that looks unchanged has its content compared now:
    changes() in the window then adds what changed after this reading.  Raises LayerError for a tree overlay
    would misread."""
    if since is None or touched_after(base, since):
        cutoff = time.time_ns() - CTIME_SLACK
        return cutoff, changes(base, tree, cutoff, by_content=True)[2]
    changes(base, tree, since)
    return since, []


def changes(base, tree, since=None, forced=(), by_content=False):
    """(paths to copy, paths deleted) that make TREE out of BASE as an overlay upper directory: relative paths as
    bytes, sorted; the paths to copy include every directory on the way (``.`` first).  A path whose inode changed
    after SINCE (nanoseconds since the epoch: when the tree was copied from BASE), and every path of FORCED, is
    copied whatever else it shows.  BY_CONTENT compares the content of regular files that look the same, and
    returns a third item: those whose content differs.  Raises LayerError when a path to copy is one overlay
    would misread."""
    base, tree = os.fsencode(base), os.fsencode(tree)
    copy, deleted, links = set(os.fsencode(p) for p in forced), [], {}
    differ = []

    def note_link(rel, st):
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
            links.setdefault((st.st_dev, st.st_ino), []).append(rel)

    def whole(rel):  # REL and everything under it: the base holds nothing of it
        stack = [rel]
        while stack:
            cur = stack.pop()
            copy.add(cur)
            full = os.path.join(tree, cur)
            st = os.lstat(full)
            note_link(cur, st)
            if stat.S_ISDIR(st.st_mode):
                stack.extend(os.path.join(cur, n) for n in os.listdir(full))

    stack = [b""]
    while stack:
        rel = stack.pop()
        in_tree, in_base = _names(os.path.join(tree, rel)), _names(os.path.join(base, rel))
        for name in sorted(in_tree):
            p = os.path.join(rel, name)
            tp, bp = os.path.join(tree, p), os.path.join(base, p)
            tst = os.lstat(tp)
            bst = os.lstat(bp) if name in in_base else None
            if bst is None or stat.S_IFMT(bst.st_mode) != stat.S_IFMT(tst.st_mode):
                whole(p)
                continue
            note_link(p, tst)
            if (since is not None and tst.st_ctime_ns > since) or signature(tp, tst) != signature(bp, bst):
                copy.add(p)
            elif by_content and stat.S_ISREG(tst.st_mode) and not same_content(tp, bp):
                copy.add(p)
                differ.append(p)
            if stat.S_ISDIR(tst.st_mode):
                stack.append(p)
        deleted.extend(os.path.join(rel, name) for name in in_base - in_tree)
    for group in links.values():
        if any(p in copy for p in group):
            copy.update(group)
    with_parents(tree, copy, deleted)
    if by_content:
        return [b"."] + sorted(copy), sorted(deleted), sorted(differ)
    return [b"."] + sorted(copy), sorted(deleted)


def with_parents(tree, copy, deleted):
    """COPY (a set) checked (LayerError for a path overlay would misread) and given every directory on the way to
    its paths and DELETED's."""
    for p in sorted(copy):
        why = refusal(tree, p)
        if why:
            raise LayerError(why + ": this container's layer cannot be carried into overlay2")
    for p in list(copy) + deleted:
        parent = os.path.dirname(p)
        while parent and parent not in copy:
            copy.add(parent)
            parent = os.path.dirname(parent)


def build(runner, base, tree, dest, since=None, forced=()):
    """DEST (an empty overlay upper directory) made to hold TREE's difference from BASE (see changes()); returns
    (copied, deleted) counts."""
    paths, deleted = changes(base, tree, since, forced)
    dest_b = os.fsencode(dest)
    for rel in deleted:
        target = os.path.join(dest_b, rel)
        parent = os.path.dirname(target)
        if not os.path.isdir(parent):
            os.makedirs(parent)
        if os.path.lexists(target):
            if os.path.isdir(target) and not os.path.islink(target):
                shutil.rmtree(target)
            else:
                os.unlink(target)
        os.mknod(target, stat.S_IFCHR, os.makedev(0, 0))
    with tempfile.NamedTemporaryFile(prefix="dockyard-vfs-") as listing:
        listing.write(b"".join(p + b"\0" for p in paths[1:]))
        listing.flush()
        listed = ["--from0", "--files-from=" + listing.name, "--", tree.rstrip("/") + "/", dest.rstrip("/") + "/"]
        rc, out, err = runner(["rsync"] + rsync_args() + listed)
    if rc == 0:  # the top directory's own attributes last (rsync's --files-from would copy what "." holds)
        top = ["--exclude=*", "--", tree.rstrip("/") + "/", dest.rstrip("/") + "/"]
        rc, out, err = runner(["rsync"] + rsync_args() + top)
    if rc != 0:
        raise LayerError("copying the changed files failed (rc=%d): %s" % (rc, (err or out).strip()[-500:]))
    return len(paths) - 1, len(deleted)


def overlay_option(path):
    if ":" in path or "," in path or "\\" in path:
        raise LayerError("%s holds a character an overlay mount option cannot take" % path)
    return path


def check(runner, base, tree, dest):
    """TREE must look exactly like DEST mounted over BASE (a read-only overlay of the two); raises LayerError
    naming the first differences."""
    point = tempfile.mkdtemp(prefix=CHECK_PREFIX, dir=SCRATCH if os.path.isdir(SCRATCH) else None)
    try:
        rc, out, err = runner(["mount", "-t", "overlay", "overlay", "-o", "ro,lowerdir=%s:%s" % (
            overlay_option(dest), overlay_option(base)), point])
        if rc != 0:
            raise LayerError("mounting the new layer over its parent to check it failed (rc=%d): %s" % (
                rc, (err or out).strip()[-300:]))
        try:
            rc, out, err = runner(["rsync", "--dry-run", "--itemize-changes", "--delete"] + rsync_args() + [
                "--", tree.rstrip("/") + "/", point + "/"])
        finally:
            urc, uout, uerr = runner(["umount", point])
        if rc != 0 or out.strip():
            raise LayerError("the new layer over its parent differs from the old container's files: %s" % (
                (out or err).strip()[:500]))
        if urc != 0:
            raise LayerError("unmounting %s failed (rc=%d): %s" % (point, urc, (uerr or uout).strip()[-300:]))
    finally:
        try:
            os.rmdir(point)
        except OSError:
            pass


def overlay_works(runner, root):
    """None, or why the kernel cannot mount overlayfs on the filesystem of Docker's ROOT (as overlay2 does: an
    upper and a work directory there)."""
    try:
        scratch = tempfile.mkdtemp(prefix=".dockyard-overlay-probe-", dir=root)
    except OSError as exc:
        return "a probe directory cannot be made in %s: %s" % (root, exc)
    try:
        for d in ("lower", "upper", "work", "merged"):
            os.mkdir(os.path.join(scratch, d))
        rc, out, err = runner(["mount", "-t", "overlay", "overlay", "-o", "lowerdir=%s,upperdir=%s,workdir=%s" % tuple(
            overlay_option(os.path.join(scratch, d)) for d in ("lower", "upper", "work")),
            os.path.join(scratch, "merged")])
        if rc != 0:
            return "overlayfs cannot be mounted on the filesystem of %s (rc=%d): %s" % (
                root, rc, (err or out).strip()[-300:])
        rc, out, err = runner(["umount", os.path.join(scratch, "merged")])
        if rc != 0:
            scratch = None  # left as it is, mounted: the next run's sweep() unmounts and removes it
            return "the overlay probe could not be unmounted (rc=%d): %s" % (rc, (err or out).strip()[-300:])
        return None
    except (OSError, LayerError) as exc:
        return "overlayfs cannot be tried on the filesystem of %s: %s" % (root, exc)
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def sweep(runner, root, mountinfo=None):
    """What a killed run left: the check's mounts in /run and the probe's under Docker's ROOT, unmounted and their
    directories removed (each only when it is a directory this module names so).  Returns what was swept."""
    entries = mountinfo if mountinfo is not None else _mountinfo.read()
    found = []
    for top, prefix, inner in ((SCRATCH, CHECK_PREFIX, ""), (root, PROBE_PREFIX, "merged")):
        try:
            names = [n for n in os.listdir(top) if n.startswith(prefix)]
        except OSError:
            continue
        for name in sorted(names):
            path = os.path.join(top, name)
            point = os.path.join(path, inner) if inner else path
            if _mountinfo.mount_at(entries, point) is not None:
                rc, out, err = runner(["umount", point])
                if rc != 0:
                    raise LayerError("unmounting %s, left by an earlier run, failed (rc=%d): %s" % (
                        point, rc, (err or out).strip()[-300:]))
            if inner:
                shutil.rmtree(path)
            else:
                os.rmdir(path)
            found.append(path)
    return found
