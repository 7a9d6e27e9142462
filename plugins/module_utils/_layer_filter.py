# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Drop from a ``docker save`` tar stream the layer tars a destination already has.  Internal to the
dockyard.migrate collection.

This file runs on the SOURCE host as a program of its own (``python3 -c``, standard library only, with
_layer_store's text beside it): it reads a JSON plan on stdin ({"names": [...], "drop": [{"diff": DIFF_ID, "chain":
CHAIN_ID}, ...], "source": "auto" or "save"}) and writes the archive to stdout without the members holding those
layers.  With source auto the archive is written from the classic image store's files where _layer_store can read
them (only the layers sent are read); otherwise this runs ``docker save NAMES`` and filters its stream.  ``docker
load`` reads a layer's tar only when the engine lacks the layer (by chain ID), so the archive still loads.

Layouts (read member names, never assume one):
- Docker 20.10 and older: ``<v1 id>/layer.tar``.  The v1 ID is a hash of the ``<v1 id>/json`` member (which the
  tar holds just before the layer) with the layer's chain ID; the layer is identified by recomputing it.
- Docker 25 and newer, and the containerd image store: ``blobs/sha256/<digest>``; an uncompressed layer's
  digest is its diff ID, a compressed one's (the containerd store keeps committed layers gzip-compressed) is
  given in the plan's ``blobs``.  A blob the plan does not name is sent.
Everything else passes through unchanged.  Bytes move fd to fd with os.splice where the kernel has it.
On exit one line ``dockyard-layers: {JSON}`` on stderr says what was dropped.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import subprocess
import sys

if "Archive" not in globals():  # on the source host, filter_program() runs _layer_store's text beside this one
    from ansible_collections.dockyard.migrate.plugins.module_utils._layer_store import Archive, Unusable

BLOCK = 512
STEP = 1 << 20
EXTENDED = (b"x", b"g", b"L", b"K")
MARK = "dockyard-layers: "


def raw_pairs(text):
    """The members of a JSON object as (key, raw value text), in their order, values byte for byte."""
    dec = json.JSONDecoder()
    pos = text.index("{") + 1
    pairs = []
    while True:
        while text[pos] in " \t\r\n,":
            pos += 1
        if text[pos] == "}":
            return pairs
        key, pos = dec.raw_decode(text, pos)
        pos = text.index(":", pos) + 1
        while text[pos] in " \t\r\n":
            pos += 1
        _value, end = dec.raw_decode(text, pos)
        pairs.append((key, text[pos:end]))
        pos = end


def legacy_v1_ids(json_text, chain):
    """The v1 IDs Docker 20.10's save may give the layer whose ``<id>/json`` is json_text if its chain is chain.

    v1.CreateID hashes the v1 image without its id, with layer_id and the parent's digest, keys sorted, compact.
    Below the top layer the json member also carries "os", set after the ID was made: both forms are tried.
    """
    pairs = dict(raw_pairs(json_text))
    parent = json.loads(pairs.pop("parent", '""'))
    pairs.pop("id", None)
    pairs["layer_id"] = json.dumps(chain)
    if parent:
        pairs["parent"] = json.dumps("sha256:" + parent)
    out = set()
    for form in (pairs, dict((k, v) for k, v in pairs.items() if k != "os")):
        canon = "{" + ",".join("%s:%s" % (json.dumps(k), form[k]) for k in sorted(form)) + "}"
        out.add(hashlib.sha256(canon.encode("utf-8")).hexdigest())
    return out


class Filter:
    """One pass over a tar stream from infd to outfd, dropping the planned layer members."""

    def __init__(self, infd, outfd, drop):
        self.infd, self.outfd = infd, outfd
        self.diffs = set(d["diff"] for d in drop)
        self.members = self.diffs | set(b for d in drop for b in d.get("blobs") or [])
        self.chains = [d["chain"] for d in drop]
        self.legacy_drop = set()  # v1 directories whose layer.tar the destination has
        self.stats = {"dropped_layers": 0, "dropped_bytes": 0, "sent_bytes": 0, "layout": None,
                      "planned": len(self.diffs), "splice": hasattr(os, "splice")}
        self.null = os.open(os.devnull, os.O_WRONLY)

    def read_exact(self, n):
        parts, got = [], 0
        while got < n:
            chunk = os.read(self.infd, n - got)
            if not chunk:
                if got:
                    raise EOFError("the archive ends inside a tar block")
                return b""
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)

    def write(self, data):
        view = memoryview(data)
        while view:
            n = os.write(self.outfd, view)
            view = view[n:]
        self.stats["sent_bytes"] += len(data)

    def move(self, n, to=None):
        """Pass n bytes from infd to outfd (or to /dev/null), in the kernel where it can."""
        out = self.outfd if to is None else to
        while n > 0:
            moved = 0
            if self.stats["splice"]:
                try:
                    moved = os.splice(self.infd, out, min(n, STEP))
                except OSError:
                    self.stats["splice"] = False  # not a pipe at either end: copy instead
                    continue
            else:
                chunk = os.read(self.infd, min(n, STEP))
                moved = len(chunk)
                if moved:
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(out, view):]
            if not moved:
                raise EOFError("the archive ends inside a member")
            n -= moved
        return n

    def run(self):
        while True:
            header, name, size = self.next_member()
            if header is None:
                return self.stats
            padded = (size + BLOCK - 1) // BLOCK * BLOCK
            if self.dropped(name, header):
                self.move(padded, to=self.null)
                self.stats["dropped_layers"] += 1
                self.stats["dropped_bytes"] += len(header) + padded
                continue
            if name.endswith("/json") and name.count("/") == 1 and size < (1 << 20):
                body = self.read_exact(padded)
                self.note_legacy(name.split("/")[0], body[:size])
                self.write(header + body)
                continue
            self.write(header)
            self.move(padded)
            self.stats["sent_bytes"] += padded

    def next_member(self):
        """The raw header blocks of the next member (extended headers included), its name and size."""
        raw, longname, paxpath = b"", None, None
        while True:
            block = self.read_exact(BLOCK)
            if not block or block == b"\0" * BLOCK:
                self.write(block)
                self.rest()
                return None, None, 0
            size = parse_size(block[124:136])
            kind = block[156:157]
            if kind not in EXTENDED:
                break
            padded = (size + BLOCK - 1) // BLOCK * BLOCK
            data = self.read_exact(padded)
            raw += block + data
            if kind == b"L":
                longname = data[:size].rstrip(b"\0").decode("utf-8", "replace")
            elif kind == b"x":
                paxpath = pax_path(data[:size]) or paxpath
        name = paxpath or longname or ustar_name(block)
        return raw + block, name.lstrip("./") if name.startswith("./") else name, size

    def rest(self):
        """After the end marker: the rest of the stream (more zero blocks) as it is."""
        while True:
            chunk = os.read(self.infd, STEP)
            if not chunk:
                return
            self.write(chunk)

    def note_legacy(self, directory, body):
        self.stats["layout"] = self.stats["layout"] or "legacy"
        try:
            text = body.decode("utf-8")
            for chain in self.chains:
                if directory in legacy_v1_ids(text, chain):
                    self.legacy_drop.add(directory)
                    return
        except (ValueError, UnicodeDecodeError):
            return

    def dropped(self, name, header):
        if header[-BLOCK:][156:157] not in (b"0", b"\0"):
            return False  # only regular files are dropped; a symlink to a layer costs nothing
        parts = name.split("/")
        if len(parts) == 3 and parts[0] == "blobs":
            self.stats["layout"] = "oci"
            return "%s:%s" % (parts[1], parts[2]) in self.members
        return len(parts) == 2 and parts[1] == "layer.tar" and parts[0] in self.legacy_drop


def parse_size(field):
    if field[:1] and ord(field[:1]) & 0x80:  # base-256 (GNU), for members over 8 GiB
        value = 0
        for i, byte in enumerate(bytearray(field)):
            value = (value << 8) | (byte & 0x7f if i == 0 else byte)
        return value
    text = field.rstrip(b"\0 ").strip()
    return int(text, 8) if text else 0


def ustar_name(block):
    name = block[0:100].split(b"\0", 1)[0].decode("utf-8", "replace")
    if block[257:262] == b"ustar":
        prefix = block[345:500].split(b"\0", 1)[0].decode("utf-8", "replace")
        if prefix:
            name = prefix + "/" + name
    return name


def pax_path(data):
    """The path record of a pax extended header, if any."""
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            return None
        length = int(data[pos:space])
        record = data[space + 1:pos + length - 1]
        key, _sep, value = record.partition(b"=")
        if key == b"path":
            return value.decode("utf-8", "replace")
        pos += length
    return None


def main():
    """The plan on stdin: {"names", "drop", "source"}.  With source auto (the default) the archive is written from
    the classic image store's files where they can give it (_layer_store), else from docker save, filtered."""
    plan = json.loads(sys.stdin.read())
    drop = plan.get("drop") or []
    why = "docker save was asked for"
    if plan.get("source", "auto") == "auto":
        try:
            archive = Archive(plan["names"], set(d["diff"] for d in drop))
        except Unusable as exc:
            why = str(exc)
        except Exception as exc:  # nothing is written yet: docker save can still give the archive
            why = "the image store could not be read (%s: %s)" % (type(exc).__name__, exc)
        else:
            try:
                stats = archive.write(sys.stdout.fileno())
            except (OSError, ValueError) as exc:
                sys.stderr.write("the archive from the image store stopped: %s; source_archive docker_save makes "
                                 "the source run docker save instead\n" % exc)
                return 1
            sys.stderr.write(MARK + json.dumps(stats) + "\n")
            return 0
    proc = subprocess.Popen(["docker", "save"] + list(plan["names"]), stdout=subprocess.PIPE)
    stats = {}
    try:
        stats = Filter(proc.stdout.fileno(), sys.stdout.fileno(), drop).run()
    except (OSError, EOFError, ValueError) as exc:
        proc.kill()
        sys.stderr.write("the archive from docker save could not be filtered: %s\n" % exc)
        proc.wait()
        return 1
    rc = proc.wait()
    stats.update(source="save", source_reason=why)
    sys.stderr.write(MARK + json.dumps(stats) + "\n")
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
