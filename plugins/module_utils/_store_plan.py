# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What an image store conversion carries, read from the engine before anything changes, and what stands in its
way.  Internal to dockyard.migrate (used by _store_convert)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import os
import time

from ansible_collections.dockyard.migrate.plugins.module_utils import _layer_store, _stores, _vfs_layer

CONTAINERD_ROOT = "/var/lib/containerd"


def made_here(journal, target, name, cid, created):
    """Whether the container CID named NAME in the TARGET store is one this collection made there or left there:
    recorded with its ID, or recorded as about to be made (a kill between the create and the journal's next
    write) and created since."""
    made = ((journal.get("made") or {}).get(target) or {}).get(name) or {}
    left = ((journal.get("sources") or {}).get(target) or {}).get(name)
    if cid in (made.get("id"), left):
        return True
    return made.get("id") is None and bool(made.get("at")) and created >= made["at"]


def timestamp(text):
    """Seconds since the epoch of one of Docker's UTC times (``2026-01-01T00:00:00.123Z``); 0 when it is none."""
    try:
        return calendar.timegm(time.strptime(str(text or "")[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return 0


def created_at(root, cid):
    """The time a container of either store was created, from its config.v2.json (0 when it cannot be read)."""
    return timestamp((_stores.container_config(root, cid) or {}).get("Created"))


def plan(conv, root, source, target):
    """The tags, the containers (each recorded with what it needs to be made again) and the problems."""
    client = conv.client
    listed = client.get("/containers/json", params={"all": True})
    containers = [client.get("/containers/%s/json" % c["Id"]) for c in listed]
    images = client.get("/images/json")
    tags, untagged_used, untagged_unused = _stores.images_to_carry(images, containers)
    problems = []
    if untagged_used:
        problems.append("containers use images with no tag (%s), which cannot be carried by name: tag them "
                        "(docker tag) and run again" % ", ".join(i[:19] for i in untagged_used))
    hidden = _stores.hidden_containers(root, _stores.DRIVERS[target])
    names = [_stores.container_name(c) for c in containers]
    foreign = sorted(n for n, cid in hidden.items() if n in names and
                     not made_here(conv.journal, target, n, cid, created_at(root, cid)))
    if foreign:
        problems.append("the %s store already holds containers named %s, which this collection did not make; "
                        "remove or rename them there first (switch Docker to that store by hand to do so)" % (
                            target, ", ".join(foreign)))
    recorded = []
    for c in containers:
        name = _stores.container_name(c)
        ref = _stores.image_ref(c, images)
        upper = conv.upper(c, source)
        base = _stores.vfs_dirs(root, c["Id"])[1] if source == "vfs" else None
        if not upper or (source == "vfs" and not base):
            problems.append("the writable layer of container %s cannot be found" % name)
        layers = ((client.get("/images/%s/json" % c["Image"]) or {}).get("RootFS") or {}).get("Layers") \
            if ref else None
        recorded.append({"name": name, "id": c["Id"], "inspect": c, "upper": upper, "ref": ref, "layers": layers,
                         "running": bool((c.get("State") or {}).get("Running"))})
        if base:  # vfs: the layer is the difference of the container's tree from this one (_vfs_layer)
            recorded[-1]["base"] = base
    recorded, unresolved = _stores.in_order(recorded)  # each after the containers it names
    if unresolved:
        problems.append("containers name others this host does not hold: %s" % ", ".join(unresolved))
    archive = None
    if source in _stores.DRIVER_SOURCES:
        # The images are loaded after the switch, from the old driver's files: everything they need is checked now.
        try:
            archive = _layer_store.Archive(tags, ()) if tags else None
        except (_layer_store.Unusable, ValueError) as exc:
            problems.append("the images cannot be read from the %s store's files (%s), and the engine that could "
                            "save them is stopped by then: this host is not converted" % (source, exc))
        why = _vfs_layer.overlay_works(conv.runner, root)
        if why:
            problems.append(why + ": the overlay2 driver cannot run here")
    problems += room(conv, root, target, archive.size() if archive else (0 if source in _stores.DRIVER_SOURCES
                                                                          else None))
    return {"tags": tags, "tag_layers": _stores.tag_layers(client, images), "untagged_unused": untagged_unused,
            "containers": recorded, "problems": problems, "hidden": hidden, "archive": archive}


def room(conv, root, target, layers=None):
    """[] or why the new store's filesystem has no room for what is carried (LAYERS: the images' bytes, when
    known)."""
    where = CONTAINERD_ROOT if target == "containerd" and os.path.isdir(CONTAINERD_ROOT) else root
    try:
        st = os.statvfs(where)
        free = st.f_bavail * st.f_frsize
    except OSError:
        free = None
    why = _stores.room(target, conv.client.get("/system/df") or {}, free, layers)
    return [why + " on the filesystem of %s" % where] if why else []
