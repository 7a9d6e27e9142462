# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The paths of named volumes that containers' configurations record, moved with the root that holds them.

Internal to the dockyard.migrate collection.  Docker records, in each container's ``config.v2.json``, the path
of every named volume it mounts (``MountPoints[...].Source``, such as ``/var/lib/docker/volumes/NAME/_data``)
when the container is created, and never recomputes it.  When a data root is served from another path (the
daemon_json method sets ``data-root``), those paths still name the old root.  Docker 20.10 relabels a volume
mounted with ``:z`` or ``:Z`` through that recorded path: once the original is set aside, such a container
cannot start ("error evaluating symlinks from mount source"); every version reports the stale path in
``docker inspect``.  Whenever a root's copy is about to be served from another path (the switch, a rollback's
copy back, a restore), the recorded paths under the root it was served from are rewritten to the root it will be
served from, with Docker stopped, each file atomically.  Only volume mount points are touched; bind mounts name
the user's own paths.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.dockyard.migrate.plugins.module_utils import _fileops

CONFIG = "config.v2.json"


def container_dirs(root):
    """The containers directories of a data root: ROOT/containers, and ROOT/UID.GID/containers for each
    userns-remap root inside it."""
    out = [os.path.join(root, "containers")]
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    for name in names:
        parts = name.split(".")
        if len(parts) == 2 and all(p.isdigit() for p in parts):
            out.append(os.path.join(root, name, "containers"))
    return [d for d in out if os.path.isdir(d)]


def under(path, root):
    """PATH lies inside ROOT (both absolute)."""
    root = root.rstrip("/")
    return path == root or path.startswith(root + "/")


def rebased(config, old_root, new_root):
    """CONFIG (a parsed config.v2.json) with each volume mount point's Source under OLD_ROOT moved under
    NEW_ROOT, and how many were; CONFIG itself is not changed."""
    points = config.get("MountPoints")
    if not isinstance(points, dict):
        return config, 0
    old_root, new_root = old_root.rstrip("/"), new_root.rstrip("/")
    changed = 0
    new_points = {}
    for dest, point in points.items():
        if isinstance(point, dict) and point.get("Type", "volume") == "volume" and point.get("Name") and \
                isinstance(point.get("Source"), str) and under(point["Source"], old_root):
            point = dict(point, Source=new_root + point["Source"][len(old_root):])
            changed += 1
        new_points[dest] = point
    if not changed:
        return config, 0
    return dict(config, MountPoints=new_points), changed


def rebase(root, old_root, new_root, mover=None):
    """Rewrite the volume paths recorded by the containers held in ROOT from OLD_ROOT to NEW_ROOT (Docker
    stopped).  Returns the number of containers rewritten; nothing when the roots are the same path.  A file
    that is not JSON Docker could read is left alone (Docker would not start that container either way)."""
    if os.path.normpath(old_root) == os.path.normpath(new_root):
        return 0
    rewritten = 0
    for cdir in container_dirs(root):
        for cid in sorted(os.listdir(cdir)):
            path = os.path.join(cdir, cid, CONFIG)
            try:
                with open(path, "rb") as f:
                    config = json.loads(f.read().decode("utf-8"))
            except (OSError, ValueError):
                continue
            if not isinstance(config, dict):
                continue
            new, changed = rebased(config, old_root, new_root)
            if changed:
                _fileops.atomic_write(path, json.dumps(new, separators=(",", ":")), mode=0o600, mover=mover)
                rewritten += 1
    return rewritten
