# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A data root that is the mount point of a disk of its own: knowing that disk again (by its filesystem's UUID,
whatever its device is called or numbered now) and mounting it only when it is that disk and mounted nowhere
else.  Internal to dockyard.migrate."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.dockyard.migrate.plugins.module_utils import _mountinfo
from ansible_collections.dockyard.migrate.plugins.module_utils._move import RelocationError


def staging_path(move):
    """Where an original disk is mounted while what Docker wrote on the moved root is copied back onto it."""
    return staging_for(move.source)


def staging_for(root):
    """The staging path of the original disk of ROOT."""
    return "%s.dockyard-disk" % root


def fs_uuid(host, device):
    """The UUID of the filesystem on DEVICE, read from the device itself ("" when it has none)."""
    out = host.blkid(["-p", "-o", "value", "-s", "UUID", "--", device])
    return out[0] if out else ""


def devices_for(host, src):
    """The block devices an fstab source (UUID=, LABEL=, PARTUUID=, PARTLABEL=, ID= or a path) names now."""
    if src.startswith("ID="):
        src = "/dev/disk/by-id/" + src[3:]
    if src.startswith("/"):
        return [host.realpath(src)] if host.exists(src) else []
    return sorted(set(host.blkid(["-c", "/dev/null", "-o", "device", "-t", src])))


def is_device(host, entry, device):
    """Whether mountinfo's ENTRY is a filesystem on DEVICE: by its number, or by its source (btrfs shows an
    anonymous number)."""
    number = host.device_number(device)
    return bool(number and entry.major_minor == number) or \
        (entry.source.startswith("/") and host.realpath(entry.source) == device)


def disk_mounted_at(host, move, mounts, path):
    """Whether the original disk of MOVE is what is mounted at PATH (known by its filesystem's UUID, whatever
    number its device got at the last boot)."""
    e = _mountinfo.mount_at(mounts, path)
    if e is None or e.root not in ("/", ""):
        return False
    if e.major_minor == move.disk.get("major_minor") and not move.disk.get("uuid"):
        return True
    return bool(move.disk.get("uuid")) and fs_uuid(host, e.source) == move.disk["uuid"]


def disk_device(host, move, mounts, phase):
    """The device the original disk's fstab source names now, proved to be that disk (the filesystem UUID the
    move recorded) and mounted nowhere: a disk reused or renumbered since is never written to."""
    d = move.disk
    found = devices_for(host, d["src"])
    if len(found) != 1:
        raise RelocationError("the original disk's fstab source %s names %s now, not one device; nothing was "
                              "mounted or copied onto it" % (d["src"], ", ".join(found) or "no device"), phase)
    dev = found[0]
    if d.get("uuid") and fs_uuid(host, dev) != d["uuid"]:
        raise RelocationError("%s (the original disk's fstab source %s) holds another filesystem now (UUID %s, "
                              "recorded %s); nothing was mounted or copied onto it" % (
                                  dev, d["src"], fs_uuid(host, dev) or "none", d["uuid"]), phase)
    elsewhere = [e.mount_point for e in mounts if is_device(host, e, dev)]
    if elsewhere:
        raise RelocationError("the original disk %s (%s) is mounted at %s: it is in use again, so nothing is "
                              "copied onto it; unmount it (or give it back its place) and run again" % (
                                  dev, d["src"], ", ".join(elsewhere)), phase)
    return dev


def mount_disk(move, ctx, path, phase="rollback"):
    """Mount the original disk at PATH with the type and options of its fstab line, once disk_device proved it is
    that disk and mounted nowhere else."""
    mounts = ctx.host.mountinfo()
    if disk_mounted_at(ctx.host, move, mounts, path):
        return
    dev = disk_device(ctx.host, move, mounts, phase)
    if not ctx.host.isdir(path):
        ctx.host.makedirs(path, 0o711)
    d = move.disk
    ctx.host.run(["mount", "-t", d["fstype"], "-o", d["opts"], "--", dev, path])
