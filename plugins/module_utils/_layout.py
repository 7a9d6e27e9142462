# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What lives in a Docker data root and how big each part is.

Internal to the dockyard.migrate collection.  Sizes are counted the way
``du -x`` counts them: allocated blocks, each hard-linked inode once, never
crossing into another filesystem (a running container's overlay mount, say).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import stat

COMPONENTS = {
    "overlay2": ("storage-driver", "image and container layers of the overlay2 driver"),
    "fuse-overlayfs": ("storage-driver", "layers of the fuse-overlayfs driver"),
    "btrfs": ("storage-driver", "subvolumes of the btrfs driver"),
    "zfs": ("storage-driver", "datasets of the zfs driver"),
    "vfs": ("storage-driver", "full copies of layers (vfs driver)"),
    "aufs": ("legacy", "layers of the aufs driver (removed in Docker 24)"),
    "devicemapper": ("legacy", "thin-pool data of the devicemapper driver (removed in Docker 25)"),
    "graph": ("legacy", "image metadata of Docker before 1.10"),
    "image": ("metadata", "image and layer metadata per storage driver"),
    "containers": ("state", "container configuration, logs and mounts"),
    "volumes": ("data", "named and anonymous volumes"),
    "buildkit": ("cache", "BuildKit build cache and metadata"),
    "builder": ("cache", "classic builder cache"),
    "network": ("state", "network configuration (libnetwork)"),
    "plugins": ("state", "managed plugins"),
    "swarm": ("state", "swarm raft data and certificates"),
    "tmp": ("scratch", "temporary files of the daemon"),
    "runtimes": ("state", "runtime binaries and state"),
    "trust": ("state", "content trust data"),
    "containerd": ("state", "containerd state of the daemon's own containerd"),
    "engine-id": ("state", "the engine's identity"),
    "linkgraph.db": ("legacy", "container links database of old Docker"),
    "repositories-aufs": ("legacy", "tag index of old Docker (aufs)"),
    "repositories-devicemapper": ("legacy", "tag index of old Docker (devicemapper)"),
}
LEGACY_LAYOUTS = ("aufs", "graph", "devicemapper")


class Usage:
    __slots__ = ("bytes", "apparent_bytes", "files", "dirs", "entries", "skipped_mounts")

    def __init__(self):
        self.bytes = 0
        self.apparent_bytes = 0
        self.files = 0
        self.dirs = 0
        self.entries = 0
        self.skipped_mounts = 0

    def to_dict(self):
        return dict((k, getattr(self, k)) for k in self.__slots__)


def measure(path, seen=None, usage=None):
    """Walk path like ``du -x``: allocated bytes, hard links once, one filesystem."""
    usage = usage or Usage()
    seen = set() if seen is None else seen
    try:
        st = os.lstat(path)
    except OSError:
        return usage
    dev = st.st_dev
    _account(st, usage, seen)
    if not stat.S_ISDIR(st.st_mode):
        return usage
    stack = [path]
    while stack:
        current = stack.pop()
        try:
            it = os.scandir(current)
        except OSError:
            continue
        with it:
            for entry in it:
                try:
                    est = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if est.st_dev != dev:
                    usage.skipped_mounts += 1
                    continue
                _account(est, usage, seen)
                if stat.S_ISDIR(est.st_mode):
                    stack.append(entry.path)
    return usage


def _account(st, usage, seen):
    usage.entries += 1
    if stat.S_ISDIR(st.st_mode):
        usage.dirs += 1
    elif stat.S_ISREG(st.st_mode):
        usage.files += 1
    if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
        key = (st.st_dev, st.st_ino)
        if key in seen:
            return
        seen.add(key)
    usage.bytes += st.st_blocks * 512
    usage.apparent_bytes += st.st_size


def scan(root, sizes=True):
    """Describe each top-level entry of a data root.

    Returns (components, totals, legacy) where components is a list of dicts
    (name, kind, description, known, type and, with sizes, bytes, files...),
    totals the whole root's usage (or None without sizes) and legacy the names
    of legacy layouts found.
    """
    components = []
    legacy = []
    seen = set()
    total = Usage() if sizes else None
    if total is not None:
        try:
            _account(os.lstat(root), total, seen)
        except OSError:
            pass
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return components, None, legacy
    for name in names:
        full = os.path.join(root, name)
        kind, description = COMPONENTS.get(name, ("unknown", "not a known part of a Docker data root"))
        try:
            st = os.lstat(full)
            ftype = "directory" if stat.S_ISDIR(st.st_mode) else (
                "symlink" if stat.S_ISLNK(st.st_mode) else "file")
        except OSError:
            ftype = "missing"
        comp = {"name": name, "kind": kind, "description": description,
                "known": name in COMPONENTS, "type": ftype}
        if name in LEGACY_LAYOUTS:
            legacy.append(name)
        if sizes:
            u = measure(full, seen=seen)
            comp.update(u.to_dict())
            for k in ("bytes", "apparent_bytes", "files", "dirs", "entries", "skipped_mounts"):
                setattr(total, k, getattr(total, k) + getattr(u, k))
        components.append(comp)
    return components, (total.to_dict() if total else None), legacy


_LAYER_ID = re.compile(r"^[0-9a-f]{64}$")
LAYER_DRIVERS = ("overlay2",)


def settled_layers(root):
    """The content trees of the image layers Docker has committed under ROOT, as paths relative to it
    (``overlay2/CACHE_ID/diff``), or None when the root's layout is not one whose layers are known to be
    immutable (only overlay2 is: other drivers and containerd's snapshotter get full passes)."""
    for driver in LAYER_DRIVERS:
        layerdb = os.path.join(root, "image", driver, "layerdb", "sha256")
        if not os.path.isdir(layerdb) or not os.path.isdir(os.path.join(root, driver)):
            continue
        found = []
        for chain in sorted(os.listdir(layerdb)):
            try:
                with open(os.path.join(layerdb, chain, "cache-id")) as f:
                    cache_id = f.read().strip()
            except (OSError, UnicodeDecodeError):
                continue  # not committed (Docker writes cache-id before it renames the entry in place)
            if _LAYER_ID.match(chain) and _LAYER_ID.match(cache_id) and \
                    os.path.isdir(os.path.join(root, driver, cache_id, "diff")):
                found.append("%s/%s/diff" % (driver, cache_id))
        return found
    return None
