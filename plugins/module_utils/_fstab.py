# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Parse and edit /etc/fstab without disturbing anything else in it.

Internal to the dockyard.migrate collection.  Every line is kept as written
(comments, blank lines, spacing); only the line for the managed mount point is
added, replaced or removed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

_ESCAPE = re.compile(r"\\([0-7]{3})")


class FstabError(ValueError):
    pass


def unescape(field):
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def escape(field):
    out = []
    for ch in field:
        if ch in " \t\n\\#":
            out.append("\\%03o" % ord(ch))
        else:
            out.append(ch)
    return "".join(out)


class FstabLine:
    """One line; ``fields`` is None for comments and blank lines."""

    def __init__(self, raw, fields=None, lineno=0):
        self.raw = raw
        self.fields = fields
        self.lineno = lineno

    @property
    def is_entry(self):
        return self.fields is not None

    @property
    def src(self):
        return unescape(self.fields[0])

    @property
    def path(self):
        return os.path.normpath(unescape(self.fields[1]))

    @property
    def fstype(self):
        return self.fields[2]

    @property
    def opts(self):
        return self.fields[3] if len(self.fields) > 3 else "defaults"

    def to_dict(self):
        return {"src": self.src, "path": self.path, "fstype": self.fstype, "opts": self.opts,
                "dump": self.fields[4] if len(self.fields) > 4 else "0",
                "passno": self.fields[5] if len(self.fields) > 5 else "0",
                "line": self.lineno}


def parse(text, strict_path=None):
    """Parse fstab text.

    Lines that are not comments must have 2 to 6 fields.  A malformed line is
    kept as it is unless it concerns ``strict_path`` (the mount point we are
    about to manage), which raises FstabError naming the line.
    """
    lines = []
    for n, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            lines.append(FstabLine(raw, None, n))
            continue
        fields = stripped.split()
        if len(fields) < 3 or len(fields) > 6:
            if strict_path is not None and len(fields) >= 2 and \
                    os.path.normpath(unescape(fields[1])) == os.path.normpath(strict_path):
                raise FstabError("fstab line %d cannot be parsed (%d fields, expected 3 to 6): %r"
                                 % (n, len(fields), raw))
            if strict_path is not None and len(fields) < 2:
                raise FstabError("fstab line %d cannot be parsed (%d field, expected 3 to 6): %r"
                                 % (n, len(fields), raw))
            lines.append(FstabLine(raw, None, n))
            continue
        lines.append(FstabLine(raw, fields, n))
    return lines


def render(lines):
    text = "\n".join(line.raw for line in lines)
    return text + "\n" if lines else ""


def entries_for(lines, path):
    path = os.path.normpath(path)
    return [line for line in lines if line.is_entry and line.path == path]


def make_line(src, path, fstype="none", opts="bind", dump="0", passno="0"):
    fields = [escape(src), escape(os.path.normpath(path)), fstype, opts, str(dump), str(passno)]
    return FstabLine(" ".join(fields), fields)


def is_bind_of(line, src):
    """Whether LINE binds the directory SRC (spelled as given, after unescaping)."""
    return bool(line.is_entry and line.src and os.path.normpath(line.src) == os.path.normpath(src) and
                set(line.opts.split(",")) & {"bind", "rbind"})


def set_entry(lines, src, path, fstype="none", opts="bind", dump="0", passno="0", disable_note=None):
    """Return (new_lines, changed): exactly one line for path, as given.

    An equal existing line is kept byte for byte (its spacing too); a different
    one is replaced in place; duplicates for the same path are dropped; a new
    line goes at the end.  With ``disable_note``, a different line is not
    dropped but kept as a comment (``# disabled by dockyard.migrate (NOTE): LINE``)
    with the wanted line after it.
    """
    wanted = make_line(src, path, fstype, opts, dump, passno)
    out = []
    placed = False
    changed = False
    for line in lines:
        if line.is_entry and line.path == os.path.normpath(path):
            if disable_note is not None and not is_bind_of(line, src):
                out.append(FstabLine("# disabled by dockyard.migrate (%s): %s" % (disable_note, line.raw.strip()),
                                     None, line.lineno))
                if not placed:
                    out.append(wanted)
                    placed = True
                changed = True
                continue
            if placed:
                changed = True
                continue
            same = (line.src == src and line.fstype == fstype and
                    sorted(line.opts.split(",")) == sorted(opts.split(",")) and
                    (line.fields[4:5] or ["0"])[0] == str(dump) and
                    (line.fields[5:6] or ["0"])[0] == str(passno))
            if same:
                out.append(line)
            else:
                out.append(wanted)
                changed = True
            placed = True
        else:
            out.append(line)
    if not placed:
        out.append(wanted)
        changed = True
    return out, changed


def remove_entry(lines, path):
    out = [line for line in lines if not (line.is_entry and line.path == os.path.normpath(path))]
    return out, len(out) != len(lines)


# The sources a filesystem of its own is named by in fstab (a bind or a network share is no disk to unmount).
DISK_TAGS = ("UUID=", "LABEL=", "PARTUUID=", "PARTLABEL=", "ID=")


def disk_entry(lines, path):
    """The one fstab line that mounts a filesystem of its own (by ``UUID=``, ``LABEL=`` or a device path) at
    PATH.  Raises FstabError naming what is wrong when there is none, more than one, or a line that is not a
    disk's (a bind, a network share, a memory filesystem)."""
    found = entries_for(lines, path)
    if not found:
        raise FstabError("fstab holds no line for %s, so the disk mounted there would not be mounted again at the "
                         "next boot nor after a rollback" % path)
    if len(found) > 1:
        raise FstabError("fstab holds %d lines for %s (%s); keep only the one of the disk mounted there" % (
            len(found), path, "; ".join("line %d" % x.lineno for x in found)))
    line = found[0]
    if set(line.opts.split(",")) & {"bind", "rbind"} or \
            not (line.src.startswith(DISK_TAGS) or line.src.startswith("/dev/")):
        raise FstabError("fstab line %d (%s) does not mount a disk by UUID=, LABEL= or device path" % (
            line.lineno, line.raw.strip()))
    return line


def disk_note(day):
    """The note beside a disk's line that a move commented out; DAY is YYYY-MM-DD."""
    return "the data root moved off this disk on %s; see the bind line below" % day


def undo_entry(lines, src, path, before=()):
    """Return (new_lines, changed): what set_entry(lines, src, path, disable_note=...) added taken back, and
    nothing else: the bind lines of SRC at PATH dropped, and the lines for PATH it kept as comments in force again
    in their place (a comment already in BEFORE, the lines set_entry was given, is an earlier move's: kept as a
    comment).  Every other line, an edit made since included, is kept as it is."""
    out = []
    prefix = "# disabled by dockyard.migrate ("
    earlier = set(x.raw.strip() for x in before)
    for line in lines:
        text = line.raw.strip()
        if line.is_entry and line.path == os.path.normpath(path) and is_bind_of(line, src):
            continue
        if not line.is_entry and text.startswith(prefix) and "): " in text and text not in earlier:
            raw = text.split("): ", 1)[1]
            kept = FstabLine(raw, raw.split(), line.lineno)
            if len(kept.fields) >= 2 and kept.path == os.path.normpath(path):
                out.append(kept)
                continue
        out.append(line)
    return out, [x.raw for x in out] != [x.raw for x in lines]


def enable_disk_line(lines, path, raw):
    """Return (new_lines, changed): the disk's line RAW for PATH back in force, as a move commented it out (the
    comment becomes the line again, in its place), and every other line for PATH dropped.  RAW is added at the
    end when its comment is gone."""
    out = []
    placed = False
    for line in lines:
        text = line.raw.strip()
        if not line.is_entry and text.startswith("# disabled by dockyard.migrate (") and text.endswith("): " + raw):
            if not placed:
                out.append(FstabLine(raw, raw.split(), line.lineno))
                placed = True
            continue
        if line.is_entry and line.path == os.path.normpath(path):
            if line.raw.strip() == raw and not placed:
                out.append(line)
                placed = True
            continue
        out.append(line)
    if not placed:
        out.append(FstabLine(raw, raw.split()))
    return out, [x.raw for x in out] != [x.raw for x in lines]
