# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One directory a relocation moves, and the error every part of a relocation raises.

Internal to dockyard.migrate.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os


class RelocationError(Exception):
    def __init__(self, msg, phase=None, rolled_back=None):
        self.phase = phase
        self.rolled_back = rolled_back
        super(RelocationError, self).__init__(msg)


def inside(child, parent):
    child = os.path.normpath(child)
    parent = os.path.normpath(parent)
    return child == parent or child.startswith(parent.rstrip("/") + "/")


class Move:
    """One directory to move: Docker's root, or containerd's.

    ``switch`` is the strategy that points the service at the target (see _switches); ``mount_point`` is
    where the service looks for its data when the switch is a bind mount.  ``backup`` is where the
    original was set aside, once it was.  ``disk`` describes the original when it is a filesystem of its own
    mounted at the mount point (``line``: its fstab line as written; ``src``, ``fstype``, ``opts``; ``device``:
    the device the kernel showed), else None.  ``fs``, ``size`` and ``files`` are filled in by the preflight.
    """

    def __init__(self, name, source, target, switch, mount_point=None, backup=None, disk=None):
        self.name = name
        self.source = os.path.normpath(source)
        self.target = os.path.normpath(target)
        self.switch = switch
        self.mount_point = os.path.normpath(mount_point or source)
        self.backup = backup
        self.disk = disk
        self.fs = None
        self.size = None
        self.files = 0

    @property
    def service_root(self):
        """Where the service finds its data once switched."""
        return self.switch.service_root(self)

    def backup_kept(self, host):
        """Whether the original set aside under its backup name is still there, as HOST (_host.Host) shows it."""
        return bool(self.backup and host.exists(self.backup))

    def reversed(self):
        """The move back, for state=restored: from the target onto the kept original."""
        return Move(self.name, self.target, self.backup, self.switch, self.mount_point)

    def original(self, host):
        """The result's entry for the original of a finished move, as HOST shows it: removed, or kept and where."""
        kept = self.backup_kept(host)
        return {"name": self.name, "source": self.source, "removed": not kept and not self.disk,
                "backup": self.backup if kept else None}

    def to_dict(self):
        return {"name": self.name, "source": self.source, "target": self.target, "switch": self.switch.kind,
                "mount_point": self.mount_point, "backup": self.backup, "disk": self.disk}
