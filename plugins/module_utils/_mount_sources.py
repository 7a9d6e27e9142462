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

from ansible_collections.dockyard.migrate.plugins.module_utils._move import inside

CONFIG = "config.v2.json"


def container_dirs(host, root):
    """The containers directories of a data root, each with the root its volumes live in: (ROOT/containers, ROOT),
    and (ROOT/UID.GID/containers, ROOT/UID.GID) for each userns-remap root inside it."""
    out = [(os.path.join(root, "containers"), root)]
    try:
        names = sorted(host.listdir(root))
    except OSError:
        return []
    for name in names:
        parts = name.split(".")
        if len(parts) == 2 and all(p.isdigit() for p in parts):
            out.append((os.path.join(root, name, "containers"), os.path.join(root, name)))
    return [(d, home) for d, home in out if host.isdir(d)]


def rebased(config, old_root, new_root, home=None):
    """CONFIG (a parsed config.v2.json) with each volume mount point's Source moved from OLD_ROOT to NEW_ROOT,
    and how many were; CONFIG itself is not changed.  A volume of the local driver lives at
    HOME/volumes/NAME/_data whatever root it was recorded under (an earlier move of the same root): with HOME (the
    root its containers directory belongs to, as it will be served) that is the path recorded."""
    points = config.get("MountPoints")
    if not isinstance(points, dict):
        return config, 0
    old_root, new_root = old_root.rstrip("/"), new_root.rstrip("/")
    changed = 0
    new_points = {}
    for dest, point in points.items():
        if isinstance(point, dict) and point.get("Type", "volume") == "volume" and point.get("Name") and \
                isinstance(point.get("Source"), str):
            source = point["Source"]
            tail = "/volumes/%s/_data" % point["Name"]
            if home is not None and point.get("Driver") in ("local", None, "") and source.endswith(tail):
                wanted = home.rstrip("/") + tail
            elif inside(source, old_root):
                wanted = new_root + source[len(old_root):]
            else:
                wanted = source
            if wanted != source:
                point = dict(point, Source=wanted)
                changed += 1
        new_points[dest] = point
    if not changed:
        return config, 0
    return dict(config, MountPoints=new_points), changed


def rebase(host, root, old_root, new_root):
    """Rewrite the volume paths recorded by the containers held in ROOT, served from OLD_ROOT until now, for
    NEW_ROOT (Docker stopped).  Returns the number of containers rewritten; nothing when the roots are the same
    path.  A file that is not JSON Docker could read is left alone (Docker would not start that container either
    way).  Each file is replaced atomically with its owner, mode and extended attributes (its SELinux label among
    them) kept; any failure is an OSError, which the callers' recovery handles."""
    if os.path.normpath(old_root) == os.path.normpath(new_root):
        return 0
    rewritten = 0
    try:
        for cdir, home in container_dirs(host, root):
            served_home = new_root.rstrip("/") + home[len(root.rstrip("/")):]
            for cid in sorted(host.listdir(cdir)):
                path = os.path.join(cdir, cid, CONFIG)
                try:
                    config = json.loads(host.read_text(path))
                except (OSError, ValueError):
                    continue
                if not isinstance(config, dict):
                    continue
                new, changed = rebased(config, old_root, new_root, served_home)
                if changed:
                    host.write_file(path, json.dumps(new, separators=(",", ":")), mode=0o600)
                    rewritten += 1
    except OSError:
        raise
    except Exception as exc:  # pylint: disable=broad-except
        raise OSError("pointing the volume paths recorded under %s at %s failed: %s" % (root, new_root, exc))
    return rewritten
