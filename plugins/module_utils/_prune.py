# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Space reclaimed before a move, through the Engine API: dangling images, the build cache, or every image no
container uses.  Volumes are never pruned.  Internal to the dockyard.migrate collection."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

KINDS = ("dangling", "build_cache", "unused_images")


def _tags(img):
    return sorted(t for t in (img.get("RepoTags") or []) if t and t != "<none>:<none>")


def plan(client, kind):
    """What a prune of KIND would remove now: ([{"id", "tags", "size"} or build cache entries], bytes).  The bytes
    are the sum of the sizes Docker reports: layers an image shares with another that stays are counted, so a
    prune may reclaim less."""
    if kind not in KINDS:
        raise ValueError("unknown prune kind %r (expected one of %s)" % (kind, ", ".join(KINDS)))
    if kind == "build_cache":
        entries = [{"id": b.get("ID"), "type": b.get("Type"), "size": int(b.get("Size") or 0)}
                   for b in ((client.get("/system/df") or {}).get("BuildCache") or []) if not b.get("InUse")]
        return entries, sum(e["size"] for e in entries)
    used = set(c.get("ImageID") for c in client.get("/containers/json", params={"all": True}) or [])
    out = []
    for img in client.get("/images/json", params={"all": False}) or []:
        tags = _tags(img)
        if img.get("Id") in used or (kind == "dangling" and tags):
            continue
        out.append({"id": img.get("Id"), "tags": tags, "size": int(img.get("Size") or 0)})
    out.sort(key=lambda i: i["id"] or "")
    return out, sum(i["size"] for i in out)


def apply(client, kind):
    """Prune KIND: (what was removed as the engine names it, bytes the engine reclaimed)."""
    if kind == "build_cache":
        res = client.post("/build/prune") or {}
        return sorted(res.get("CachesDeleted") or []), int(res.get("SpaceReclaimed") or 0)
    dangling = "true" if kind == "dangling" else "false"
    res = client.post("/images/prune", params={"filters": json.dumps({"dangling": [dangling]})}) or {}
    removed = sorted(d.get("Deleted") or d.get("Untagged") for d in (res.get("ImagesDeleted") or [])
                     if d.get("Deleted") or d.get("Untagged"))
    return removed, int(res.get("SpaceReclaimed") or 0)


def describe(kind, items):
    """One line per thing a prune of KIND removes (or would), for the diff and the report."""
    if kind == "build_cache":
        return ["build cache %s (%s, %d bytes)" % (e["id"], e["type"], e["size"]) for e in items]
    return ["image %s%s (%d bytes)" % (i["id"], (" " + ", ".join(i["tags"])) if i["tags"] else " (untagged)",
                                       i["size"]) for i in items]
