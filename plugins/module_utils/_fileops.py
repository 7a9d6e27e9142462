# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Atomic file writes and backups.  Internal to the dockyard.migrate collection.

A file is written to a temporary file in its own directory, flushed to disk,
given the original's owner, mode and extended attributes (its SELinux label
among them), then renamed over the original.  A reader sees the old content or
the new, never a mix.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import shutil
import stat
import tempfile
import time


def _copy_xattrs(src_path, dst_fd):
    if not hasattr(os, "listxattr"):
        return
    try:
        names = os.listxattr(src_path)
    except OSError:
        return
    for name in names:
        try:
            os.setxattr(dst_fd, name, os.getxattr(src_path, name))
        except OSError:
            pass


def fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path, data, mode=0o644, owner=None, mover=None, keep_mode=True):
    """Write data (bytes or str) to path atomically.

    An existing file's owner, mode and xattrs are kept; a new file gets
    ``mode`` and ``owner`` (uid, gid) or root's.  With ``keep_mode=False``
    the file gets ``mode`` even when it exists (a file that may hold secrets
    is never left more readable than asked).  ``mover(tmp, path)``, when
    given, puts the written temporary file in place instead of a rename:
    modules pass ``AnsibleModule.atomic_move``, which also keeps the file's
    SELinux context the way the rest of Ansible does.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    directory = os.path.dirname(os.path.abspath(path)) or "."
    try:
        st = os.stat(path)
        uid, gid = st.st_uid, st.st_gid
        if keep_mode:
            mode = stat.S_IMODE(st.st_mode)
        existing = True
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise
        uid, gid = owner if owner else (os.getuid(), os.getgid())
        existing = False
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), mode)
            try:
                os.fchown(f.fileno(), uid, gid)
            except OSError:
                pass
            if existing:
                _copy_xattrs(path, f.fileno())
            os.fsync(f.fileno())
        if mover is not None:
            mover(tmp, path)
        else:
            os.replace(tmp, path)
    except Exception:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(directory)


def read_text(path, default=None):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8")
    except OSError as exc:
        if exc.errno == errno.ENOENT and default is not None:
            return default
        raise


def backup_file(path, stamp=None):
    """Copy path beside itself as ``PATH.dockyard-STAMP``, no more readable than it.

    Returns the backup's path, or None when path does not exist.
    """
    if not os.path.exists(path):
        return None
    stamp = stamp or time.strftime("%Y%m%dT%H%M%S")
    dest = "%s.dockyard-%s" % (path, stamp)
    n = 0
    while os.path.exists(dest):
        n += 1
        dest = "%s.dockyard-%s.%d" % (path, stamp, n)
    with open(path, "rb") as f:
        data = f.read()
    atomic_write(dest, data, mode=stat.S_IMODE(os.stat(path).st_mode),
                 owner=(os.stat(path).st_uid, os.stat(path).st_gid))
    return dest


def remove_tree(path, after_first=None):
    """Remove PATH entry by entry (a kill leaves part of it, which a rerun removes); AFTER_FIRST is called once
    the first entry is gone."""
    for i, name in enumerate(sorted(os.listdir(path))):
        child = os.path.join(path, name)
        if os.path.isdir(child) and not os.path.islink(child):
            shutil.rmtree(child)
        else:
            os.unlink(child)
        if i == 0 and after_first is not None:
            after_first()
    os.rmdir(path)
