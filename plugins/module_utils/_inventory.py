# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a Docker engine holds, and a stable fingerprint of it.

Internal to the dockyard.migrate collection.  The fingerprint covers what a
data-root move must keep: every image with its tags, every container with its
name, image and restart policy, every volume with its driver.  Container
states are kept apart (``running``) so a move can check that exactly the
containers that ran before run again.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json


def collect(client):
    images = []
    for img in client.get("/images/json", params={"all": False}) or []:
        images.append({"id": img.get("Id"),
                       "tags": sorted(t for t in (img.get("RepoTags") or []) if t != "<none>:<none>"),
                       "size": img.get("Size"),
                       "created": img.get("Created")})
    containers = []
    for c in client.get("/containers/json", params={"all": True}) or []:
        detail = client.get("/containers/%s/json" % c["Id"])
        policy = ((detail.get("HostConfig") or {}).get("RestartPolicy") or {}).get("Name") or "no"
        containers.append({"id": c["Id"],
                           "name": (detail.get("Name") or "").lstrip("/"),
                           "image": detail.get("Image"),
                           "image_name": (detail.get("Config") or {}).get("Image"),
                           "state": (detail.get("State") or {}).get("Status"),
                           "running": bool((detail.get("State") or {}).get("Running")),
                           "restart_policy": policy})
    vols = (client.get("/volumes") or {}).get("Volumes") or []
    volumes = [{"name": v.get("Name"), "driver": v.get("Driver"), "mountpoint": v.get("Mountpoint")}
               for v in vols]
    images.sort(key=lambda i: i["id"])
    containers.sort(key=lambda c: c["id"])
    volumes.sort(key=lambda v: v["name"])
    inv = {"images": images, "containers": containers, "volumes": volumes,
           "running": sorted(c["name"] for c in containers if c["running"])}
    inv["fingerprint"] = fingerprint(inv)
    return inv


def fingerprint(inv):
    """sha256 over the parts of an inventory that a move must keep."""
    canon = {
        "images": sorted([i["id"], sorted(i["tags"])] for i in inv["images"]),
        "containers": sorted([c["id"], c["name"], c["image"], c["restart_policy"]]
                             for c in inv["containers"]),
        "volumes": sorted([v["name"], v["driver"]] for v in inv["volumes"]),
    }
    data = json.dumps(canon, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return "sha256:" + hashlib.sha256(data).hexdigest()


def compare(before, after):
    """Human-readable differences between two inventories (empty when equal)."""
    out = []
    for key, ident in (("images", "id"), ("containers", "name"), ("volumes", "name")):
        b = set(x[ident] for x in before.get(key, []))
        a = set(x[ident] for x in after.get(key, []))
        for missing in sorted(b - a):
            out.append("%s %s is missing" % (key[:-1], missing))
        for extra in sorted(a - b):
            out.append("%s %s is new" % (key[:-1], extra))
    bt = dict((i["id"], i["tags"]) for i in before.get("images", []))
    for i in after.get("images", []):
        if i["id"] in bt and sorted(bt[i["id"]]) != sorted(i["tags"]):
            out.append("image %s has tags %s, expected %s" % (i["id"], i["tags"], bt[i["id"]]))
    b_run = set(before.get("running", []))
    a_run = set(after.get("running", []))
    for name in sorted(b_run - a_run):
        out.append("container %s ran before and does not run now" % name)
    return out
