# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Parse /proc/self/mountinfo.  Internal to the dockyard.migrate collection.

A bind mount is recognised by what the kernel says (device and root inside
that device), never by the source string someone wrote in fstab.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

MOUNTINFO = "/proc/self/mountinfo"
_ESCAPE = re.compile(r"\\([0-7]{3})")


def unescape(field):
    """Decode the octal escapes (\\040 for a space) the kernel uses."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


class MountEntry:
    __slots__ = ("mount_id", "parent_id", "major_minor", "root", "mount_point",
                 "options", "optional", "fstype", "source", "super_options")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))

    def to_dict(self):
        return dict((k, getattr(self, k)) for k in self.__slots__)

    def __repr__(self):
        return "MountEntry(%s on %s type %s root %s)" % (
            self.source, self.mount_point, self.fstype, self.root)


def parse_line(line):
    fields = line.split()
    if "-" not in fields:
        raise ValueError("not a mountinfo line: %r" % line)
    sep = fields.index("-")
    if sep < 6 or len(fields) < sep + 3:
        raise ValueError("not a mountinfo line: %r" % line)
    return MountEntry(
        mount_id=int(fields[0]), parent_id=int(fields[1]), major_minor=fields[2],
        root=unescape(fields[3]), mount_point=unescape(fields[4]), options=fields[5],
        optional=fields[6:sep], fstype=fields[sep + 1], source=unescape(fields[sep + 2]),
        super_options=fields[sep + 3] if len(fields) > sep + 3 else "")


def parse(text):
    return [parse_line(line) for line in text.splitlines() if line.strip()]


def read(path=MOUNTINFO):
    with open(path) as f:
        return parse(f.read())


def mount_at(entries, path):
    """The entry mounted exactly at path (the last one wins, as the kernel shows it)."""
    path = os.path.normpath(path)
    found = None
    for e in entries:
        if e.mount_point == path:
            found = e
    return found


def mount_containing(entries, path):
    """The mount that holds path: the longest mount point that is a prefix of it."""
    path = os.path.normpath(path)
    best = None
    for e in entries:
        mp = e.mount_point
        if path == mp or path.startswith(mp.rstrip("/") + "/") or mp == "/":
            if best is None or len(mp) > len(best.mount_point) or (
                    len(mp) == len(best.mount_point)):
                best = e
    return best


def mounts_under(entries, path):
    """Mount points strictly below path (live overlay mounts of containers, for example)."""
    prefix = os.path.normpath(path).rstrip("/") + "/"
    return [e for e in entries if e.mount_point.startswith(prefix)]


def _realpath_on_device(entries, major_minor, root):
    """A path through which the given device+root is visible, or None."""
    best = None
    for e in entries:
        if e.major_minor != major_minor:
            continue
        er = e.root.rstrip("/") or "/"
        if root == er or root.startswith(er.rstrip("/") + "/") or er == "/":
            rest = root[len(er):] if er != "/" else root
            cand = os.path.normpath(e.mount_point.rstrip("/") + "/" + rest.lstrip("/"))
            if best is None or len(er) > len(best[0]):
                best = (er, cand)
    return best[1] if best else None


def bind_source(entries, path):
    """When path is a bind mount of another directory, describe it.

    Returns a dict ``{device, root, fstype, source_path}`` where ``source_path``
    is where the same directory is visible elsewhere (for example
    ``/mnt/data/docker`` for ``/var/lib/docker``), or None when path is not a
    mount point or is the root of its own filesystem.
    """
    path = os.path.normpath(path)
    e = mount_at(entries, path)
    if e is None:
        return None
    if e.root in ("/", ""):
        return None
    others = [o for o in entries if o.mount_point != path]
    source_path = _realpath_on_device(others, e.major_minor, e.root)
    if source_path == path:
        # dockerd bind-mounts its root onto itself to set mount propagation
        # when the root's mount is private: that is not a relocation.
        return None
    return {"device": e.source, "major_minor": e.major_minor, "root": e.root,
            "fstype": e.fstype, "source_path": source_path}


def same_bind(entries, src, path):
    """True when path is mounted and shows the same directory as src.

    Compares the device and root of path's mount with where src lives, so
    ``/mnt/data/docker`` bound onto ``/var/lib/docker`` is recognised however
    the source was spelled.
    """
    e = mount_at(entries, path)
    if e is None:
        return False
    src = os.path.normpath(src)
    holder = mount_containing([o for o in entries if o.mount_id != e.mount_id], src)
    if holder is None or holder.major_minor != e.major_minor:
        return False
    rel = os.path.relpath(src, holder.mount_point)
    want = os.path.normpath(os.path.join(holder.root or "/", "" if rel == "." else rel))
    return os.path.normpath(e.root or "/") == want
