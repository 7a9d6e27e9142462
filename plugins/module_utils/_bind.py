# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bind mounts kept in /etc/fstab.  Internal to the dockyard.migrate collection.

Whether ``src`` is already bound on ``path`` is decided from mountinfo (the
device and the root inside it), never from the source string, so a bind made
by hand or spelled differently is recognised and nothing is remounted.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.dockyard.migrate.plugins.module_utils import _fileops, _fstab, _mountinfo

STATES = ("mounted", "present", "unmounted", "absent")


class BindError(Exception):
    pass


def _opts_list(opts):
    items = [o.strip() for o in (opts or "bind").split(",") if o.strip()]
    if "bind" not in items and "rbind" not in items:
        items.insert(0, "bind")
    return items


class BindMount:
    """Plan and apply one bind mount.  ``runner(argv) -> (rc, out, err)``."""

    def __init__(self, src, path, state="mounted", opts="bind", fstab="/etc/fstab", backup=False,
                 runner=None, mountinfo=_mountinfo.MOUNTINFO):
        self.src = os.path.normpath(src) if src else None
        self.path = os.path.normpath(path) if path else None
        self.state = state
        self.opts = ",".join(_opts_list(opts))
        self.fstab = fstab
        self.backup = backup
        self.runner = runner
        self.mountinfo = mountinfo
        self.backup_file = None

    # -- validation ----------------------------------------------------
    def validate(self):
        if self.state not in STATES:
            raise BindError("state %r is not one of %s" % (self.state, ", ".join(STATES)))
        if not self.path or not os.path.isabs(self.path):
            raise BindError("path %r must be an absolute path" % (self.path,))
        if self.path == "/":
            raise BindError("path / cannot be a bind mount target")
        if self.state in ("mounted", "present", "unmounted"):
            if not self.src or not os.path.isabs(self.src):
                raise BindError("src %r must be an absolute path when state is %s" % (self.src, self.state))
            if self.src == self.path:
                raise BindError("src and path are the same directory (%s)" % self.src)
        if self.state == "mounted":
            if not os.path.isdir(self.src):
                raise BindError("src %s does not exist or is not a directory" % self.src)
            if os.path.exists(self.path) and not os.path.isdir(self.path):
                raise BindError("path %s exists and is not a directory" % self.path)
        if os.path.isdir(self.fstab):
            raise BindError("fstab %s is a directory" % self.fstab)

    # -- state ---------------------------------------------------------
    def read_fstab(self):
        text = _fileops.read_text(self.fstab, default="")
        return text, _fstab.parse(text, strict_path=self.path)

    def mounts(self):
        return _mountinfo.read(self.mountinfo)

    def is_mounted(self, mounts=None):
        return _mountinfo.mount_at(mounts if mounts is not None else self.mounts(), self.path) is not None

    def is_bound(self, mounts=None):
        mounts = mounts if mounts is not None else self.mounts()
        return _mountinfo.same_bind(mounts, self.src, self.path)

    def plan(self):
        """Return (actions, before_text, after_text) without changing anything."""
        self.validate()
        before, lines = self.read_fstab()
        if self.state == "absent":
            new_lines, fstab_changed = _fstab.remove_entry(lines, self.path)
        else:
            new_lines, fstab_changed = _fstab.set_entry(lines, self.src, self.path, "none", self.opts)
        after = _fstab.render(new_lines) if fstab_changed else before
        actions = []
        if fstab_changed:
            actions.append("%s the fstab line for %s" % ("remove" if self.state == "absent" else "write", self.path))
        mounts = self.mounts()
        mounted = self.is_mounted(mounts)
        if self.state == "mounted":
            if mounted and not self.is_bound(mounts):
                actions.append("unmount %s (it shows another directory)" % self.path)
                actions.append("bind-mount %s on %s" % (self.src, self.path))
            elif not mounted:
                if not os.path.isdir(self.path):
                    actions.append("create the mount point %s" % self.path)
                actions.append("bind-mount %s on %s" % (self.src, self.path))
            elif self._needs_remount(mounts):
                actions.append("remount %s with %s" % (self.path, self.opts))
        elif self.state in ("unmounted", "absent") and mounted and \
                (self.state == "unmounted" or self.src is None or self.is_bound(mounts)):
            actions.append("unmount %s" % self.path)
        return actions, before, after

    def _needs_remount(self, mounts):
        e = _mountinfo.mount_at(mounts, self.path)
        want_ro = "ro" in self.opts.split(",")
        have_ro = "ro" in e.options.split(",")
        return want_ro != have_ro

    # -- apply ---------------------------------------------------------
    def _run(self, argv):
        rc, out, err = self.runner(argv)
        if rc != 0:
            raise BindError("%s failed (rc=%d): %s" % (" ".join(argv), rc, (err or out).strip()))

    def unmount(self):
        mounts = self.mounts()
        while _mountinfo.mount_at(mounts, self.path) is not None:
            self._run(["umount", self.path])
            mounts = self.mounts()

    def mount(self):
        if not os.path.isdir(self.path):
            os.makedirs(self.path, 0o711)
        self._run(["mount", "-o", self.opts, "--", self.src, self.path])
        if "ro" in self.opts.split(","):
            self._run(["mount", "-o", "remount,bind,ro", "--", self.path])

    def apply(self, actions, before, after):
        if before != after:
            if self.backup and os.path.exists(self.fstab):
                self.backup_file = _fileops.backup_file(self.fstab)
            _fileops.atomic_write(self.fstab, after, mode=0o644)
        for action in actions:
            if action.startswith("unmount"):
                self.unmount()
            elif action.startswith("bind-mount"):
                self.mount()
            elif action.startswith("remount"):
                self._run(["mount", "-o", "remount," + self.opts, "--", self.path])
        if self.state == "mounted" and not self.is_bound():
            raise BindError("after mounting, %s does not show %s (mountinfo disagrees)" % (self.path, self.src))
