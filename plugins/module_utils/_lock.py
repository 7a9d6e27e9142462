# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The host-wide lock that keeps two data-root moves apart.  Internal to dockyard.migrate."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import json
import os
import stat
import time

from ansible_collections.dockyard.migrate.plugins.module_utils._move import RelocationError

LOCK_DIR = "/run/lock/dockyard-migrate"
LOCK_NAME = "data-root.lock"


def refuse(msg):
    raise RelocationError(msg + "; the move does not run without the lock", "lock")


def _private_dir(path):
    """The lock's directory: made 0700 when missing; refused when it is a link, not a directory, or another
    user's (a lock file another user can replace or point elsewhere keeps nobody out)."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        refuse("the lock directory %s is not a directory (a symbolic link or a file is there)" % path)
    if st.st_uid != os.geteuid():
        refuse("the lock directory %s belongs to uid %d, not to this user" % (path, st.st_uid))
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(path, 0o700)


def acquire(check_mode=False, lock_dir=None):
    """Take the host-wide lock: an flock on LOCK_NAME in a private directory, opened without following links.

    Returns the open file, to be closed when the run ends.  A lock that cannot be taken is an error.
    """
    lock_dir = lock_dir or LOCK_DIR
    path = os.path.join(lock_dir, LOCK_NAME)
    try:
        _private_dir(lock_dir)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError as exc:
        refuse("cannot open the lock %s: %s" % (path, exc.strerror or exc))
    f = os.fdopen(fd, "r+")
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        f.seek(0)
        holder = f.read().strip()
        f.close()
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            raise RelocationError("another data-root move is running on this host (lock %s held by %s); wait for "
                                  "it to finish" % (path, holder or "another process"), "lock")
        raise
    if not check_mode:
        f.seek(0)
        f.truncate()
        f.write("pid %d since %s\n" % (os.getpid(), time.strftime("%Y-%m-%dT%H:%M:%S")))
        f.flush()
    return f


WINDOW_NAME = "window.json"


def note_window(marker, units, lock_dir=None):
    """Record, beside the lock, that the move journalled in MARKER holds UNITS masked for this boot.  The
    journal says so too, but it lives on the target disk: should that disk be missing on the next run, this
    note (in /run, which lasts exactly as long as a runtime mask) still names the move that stopped Docker."""
    path = os.path.join(lock_dir or LOCK_DIR, WINDOW_NAME)
    _private_dir(lock_dir or LOCK_DIR)
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"marker": marker, "masked": sorted(units), "pid": os.getpid(), "since": time.time()}, f)
    os.rename(path + ".tmp", path)


def window_note(lock_dir=None):
    """The note of a move that holds Docker's units masked, or None."""
    try:
        fd = os.open(os.path.join(lock_dir or LOCK_DIR, WINDOW_NAME), os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd) as f:
            note = json.load(f)
    except (OSError, ValueError):
        return None
    return note if isinstance(note, dict) and note.get("marker") else None


def clear_window(lock_dir=None):
    try:
        os.unlink(os.path.join(lock_dir or LOCK_DIR, WINDOW_NAME))
    except FileNotFoundError:
        pass
