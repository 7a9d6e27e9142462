# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The host data_root runs on: its files, clock, lock, copies and measures (_host.Host).  Internal to
dockyard.migrate.

``Files`` is the one place the relocation reaches the host's filesystem and
clock; ``Local`` is that part of _host.Host, and _systemd.Systemd adds Docker's
units to it.  The journal and the copy passes use a bare ``Files`` when no host
is given (data_root_info reading a marker).  Each method is today's code of
_fileops, _layout, _fsinfo, _copy, _lock and _disk, called with the host's own
settings (the mover that puts files in place, the lock directory).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import os
import stat
import subprocess
import threading
import time

from ansible.module_utils.common.process import get_bin_path

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _copy, _fileops, _fsinfo, _host, _layout, _lock, _selinux)
from ansible_collections.dockyard.migrate.plugins.module_utils._move import RelocationError


BOOT_ID = "/proc/sys/kernel/random/boot_id"


def acts(method):
    """A method that changes the host: each call is noted in the host's ``changes`` (before it runs: an attempt
    that fails part way may have changed something too)."""
    @functools.wraps(method)
    def noted(self, *args, **kwargs):
        self.changes.append(method.__name__)
        return method(self, *args, **kwargs)
    return noted


class Files(object):
    """Files, clock, lock, copies, mounts and measures of the host this code runs on.  RUNNER(argv) -> (rc, out,
    err) runs commands; MOVER(tmp, path), when given, puts written configuration files in place
    (AnsibleModule.atomic_move in the module); LOCK_DIR holds the lock."""

    def __init__(self, runner=None, mover=None, lock_dir=None):
        self.changes = []  # the changing methods called, in order (see acts): none, and the run changed nothing
        self.runner = runner
        self.mover = mover
        self.lock_dir = lock_dir or _lock.LOCK_DIR

    # ------------------------------------------------------------ files and directories
    def exists(self, path):
        return os.path.exists(path)

    def lexists(self, path):
        return os.path.lexists(path)

    def isdir(self, path):
        return os.path.isdir(path)

    def islink(self, path):
        return os.path.islink(path)

    def listdir(self, path):
        return os.listdir(path)

    def stat(self, path):
        return os.stat(path)

    def lstat(self, path):
        return os.lstat(path)

    def realpath(self, path):
        return os.path.realpath(path)

    def samefile(self, a, b):
        return os.path.samefile(a, b)

    def which(self, name):
        try:
            return get_bin_path(name)
        except ValueError:
            return None

    def read_text(self, path, default=None):
        return _fileops.read_text(path, default)

    @acts
    def write_file(self, path, data, mode=0o644, config=False):
        _fileops.atomic_write(path, data, mode=mode, mover=self.mover if config else None)

    @acts
    def backup_file(self, path, stamp=None):
        return _fileops.backup_file(path, stamp)

    def fsync_dir(self, path):
        _fileops.fsync_dir(path)

    def sync(self, paths, timeout=60):
        flushed, failed = threading.Event(), []

        def work():
            try:
                for path in paths:
                    _copy.flush(path)
            except BaseException as exc:  # pylint: disable=broad-except  # told to the caller
                failed.append(exc)
            finally:
                flushed.set()
        threading.Thread(target=work, daemon=True).start()  # a filesystem that hangs keeps its thread, not the run
        if not flushed.wait(timeout):
            return "not done within %g s" % timeout
        return str(failed[0]) if failed else None

    @acts
    def rename(self, src, dst):
        os.rename(src, dst)

    @acts
    def mkdir(self, path, mode=0o777):
        os.mkdir(path, mode)

    @acts
    def makedirs(self, path, mode=0o777):
        os.makedirs(path, mode)

    @acts
    def rmdir(self, path):
        os.rmdir(path)

    @acts
    def unlink(self, path):
        os.unlink(path)

    @acts
    def chmod(self, path, mode):
        os.chmod(path, mode)

    @acts
    def chown(self, path, uid, gid):
        os.chown(path, uid, gid)

    @acts
    def remove_tree(self, path, after_first=None):
        _fileops.remove_tree(path, after_first)

    # ------------------------------------------------------------ what a root holds, copies
    def measure(self, path):
        return _layout.measure(path)

    def settled_layers(self, root):
        return _layout.settled_layers(root)

    def filesystem(self, path, entries=None, verdict=False):
        if verdict:
            return _fsinfo.filesystem_facts(self.runner, path, entries)
        return _fsinfo.describe(path, entries, probe_dtype=False)

    @acts
    def tar_copy(self, src, dst, **kwargs):
        return _copy.tar_copy(src, dst, **kwargs)

    @acts
    def rsync(self, src, dst, **kwargs):
        return _copy.rsync(src, dst, **kwargs)

    def differences(self, src, dst, exclude=()):
        return _copy.differences(src, dst, exclude)

    def flush(self, path):
        return _copy.flush(path)

    def is_empty_dir(self, path):
        return _copy.is_empty_dir(path)

    def blkid(self, argv):
        blkid = self.which("blkid")
        if not blkid:
            raise RelocationError("blkid (util-linux) is needed to know a data root's own disk again, and is not "
                                  "installed", "preflight")
        try:
            res = subprocess.run([blkid] + list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
                                 check=False)
        except (OSError, subprocess.TimeoutExpired):
            return []
        return [os.fsdecode(w) for w in res.stdout.split()] if res.returncode == 0 else []

    def device_number(self, device):
        try:
            st = os.stat(device)
        except OSError:
            return ""
        return "%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev)) if stat.S_ISBLK(st.st_mode) else ""

    # ------------------------------------------------------------ mounts and labels
    @acts
    def bind_mount(self, src, path):
        if not self.isdir(path):
            self.makedirs(path, 0o711)
        self.run(["mount", "-o", "bind", "--", src, path])

    @acts
    def label_like(self, old, new):
        _selinux.label_like(self.runner, old, new)

    @acts
    def unlabel(self, old, new):
        _selinux.unlabel(self.runner, old, new)

    # ------------------------------------------------------------ the lock, the clock
    def lock(self, check_mode=False):
        return _lock.acquire(check_mode, self.lock_dir)

    def note_window(self, marker, units):
        _lock.note_window(marker, units, self.lock_dir)

    def window_note(self):
        return _lock.window_note(self.lock_dir)

    def clear_window(self):
        _lock.clear_window(self.lock_dir)

    def boot_id(self):
        try:
            return _fileops.read_text(BOOT_ID).strip()
        except (OSError, ValueError):
            return ""

    def time(self):
        return time.time()

    def sleep(self, seconds):
        time.sleep(seconds)


class Local(Files, _host.Host):  # pylint: disable=abstract-method
    """The part of _host.Host that Files implements; _systemd.Systemd adds Docker's units (and the unit tests'
    FakeHost its own stand-ins for them)."""
