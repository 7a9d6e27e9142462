# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The host-wide lock that keeps two data-root moves apart.  Internal to dockyard.migrate."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import os
import time

from ansible_collections.dockyard.migrate.plugins.module_utils._move import RelocationError

LOCK_PATH = "/run/lock/dockyard-migrate-data-root.lock"


def acquire(check_mode=False, path=None):
    """Take the lock (an flock on a file opened for appending, never rewritten but by its holder).

    Returns the open file, to be closed when the run ends, or None when the lock file cannot be opened.
    """
    path = path or LOCK_PATH
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        f = open(path, "a+")
    except OSError:
        return None
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
