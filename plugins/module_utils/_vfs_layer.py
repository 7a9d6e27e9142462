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
longer has is deleted.  What changed is copied (rsync, from a list of paths: owners, modes, times, hard links,
ACLs and extended attributes kept; the directories on the way too, with their own attributes), and what was
deleted becomes a whiteout (a 0:0 character device, as overlay2 writes one).  A hard link group is copied whole
when one of its paths changed, so that the links stay links.

The check does not trust the copy: the upper directory is mounted, read-only, over the old parent directory (an
overlay of the two, no upper), and rsync in dry-run mode must find that view identical to the old container's
directory, path by path, attributes, hard links and extended attributes included.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import shutil
import stat
import tempfile

OVERLAY_XATTRS = ("trusted.overlay.origin", "trusted.overlay.impure", "trusted.overlay.uuid")
RSYNC = ["-aHAXS", "--numeric-ids", "--modify-window=-1"] + ["--filter=-x %s" % x for x in OVERLAY_XATTRS]
# Where the check's read-only overlay is mounted: /run is a tmpfs, so a mount left by a kill goes with a reboot.
SCRATCH = "/run"


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


def changes(base, tree):
    """(paths to copy, paths deleted) that make TREE out of BASE as an overlay upper directory: relative paths as
    bytes, sorted; the paths to copy include every directory on the way (``.`` first)."""
    base, tree = os.fsencode(base), os.fsencode(tree)
    copy, deleted, links = set(), [], {}

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
            if signature(tp, tst) != signature(bp, bst):
                copy.add(p)
            if stat.S_ISDIR(tst.st_mode):
                stack.append(p)
        deleted.extend(os.path.join(rel, name) for name in in_base - in_tree)
    for group in links.values():
        if any(p in copy for p in group):
            copy.update(group)
    for p in list(copy) + deleted:
        parent = os.path.dirname(p)
        while parent and parent not in copy:
            copy.add(parent)
            parent = os.path.dirname(parent)
    return [b"."] + sorted(copy), sorted(deleted)


def build(runner, base, tree, dest):
    """DEST (an empty overlay upper directory) made to hold TREE's difference from BASE; returns (copied,
    deleted) counts."""
    paths, deleted = changes(base, tree)
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
        rc, out, err = runner(["rsync"] + RSYNC + ["--from0", "--files-from=" + listing.name, "--",
                                                    tree.rstrip("/") + "/", dest.rstrip("/") + "/"])
    if rc == 0:  # the top directory's own attributes last (rsync's --files-from would copy what "." holds)
        rc, out, err = runner(["rsync"] + RSYNC + ["--exclude=*", "--", tree.rstrip("/") + "/", dest.rstrip("/") + "/"])
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
    point = tempfile.mkdtemp(prefix="dockyard-vfs-check-", dir=SCRATCH if os.path.isdir(SCRATCH) else None)
    try:
        rc, out, err = runner(["mount", "-t", "overlay", "overlay", "-o", "ro,lowerdir=%s:%s" % (
            overlay_option(dest), overlay_option(base)), point])
        if rc != 0:
            raise LayerError("mounting the new layer over its parent to check it failed (rc=%d): %s" % (
                rc, (err or out).strip()[-300:]))
        try:
            rc, out, err = runner(["rsync", "--dry-run", "--itemize-changes", "--delete"] + RSYNC + [
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
        runner(["umount", os.path.join(scratch, "merged")])
        return None
    except (OSError, LayerError) as exc:
        return "overlayfs cannot be tried on the filesystem of %s: %s" % (root, exc)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
