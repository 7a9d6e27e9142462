# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The store a finished image store conversion left inactive: how much it holds, and its removal after a soak period
(``image_store`` with ``state: cleaned``).  Internal to dockyard.migrate (used by _store_convert).

The inactive store is what the engine no longer loads: for the classic store, ``overlay2/`` and ``image/overlay2/``
under Docker's root and the directories of the containers made with overlay2; for containerd's, the images of
containerd's ``moby`` namespace, the snapshots of the containers made with overlayfs and their directories.  Only
what the conversion's journal names is removed: a container of the inactive store that it does not name refuses the
cleanup, which then changes nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _daemon_json, _fileops, _layout, _mountinfo, _store_plan, _stores, _testhooks, _units)
from ansible_collections.dockyard.migrate.plugins.module_utils._stores import StoreError

DAY = 86400
# containerd's blobs and unpacked layers, measured for the inactive containerd store (every namespace's).
CONTAINERD_DIRS = ("io.containerd.content.v1.content", "io.containerd.snapshotter.v1.overlayfs")


def other(store, journal=None):
    """The store a host running STORE leaves inactive: the other image store, or the graph driver the journal's
    conversion to the classic store came from (vfs)."""
    journal = journal or {}
    if store == "classic" and journal.get("target") == "classic" and journal.get("source") in _stores.DRIVER_SOURCES:
        return journal["source"]
    return "classic" if store == "containerd" else "containerd"


def classic_dirs(root, driver=None):
    """The classic store's image metadata and layers (of DRIVER, overlay2 by default) under Docker's ROOT, in the
    order they are removed: the layer database first, so that a store removed part way never lists a layer whose
    files are gone."""
    driver = driver or _stores.DRIVERS["classic"]
    return [os.path.join(root, "image", driver), os.path.join(root, driver)]


def ran_since(root, cid, since):
    """Whether the container CID (of either store) started or stopped after SINCE, from its config.v2.json."""
    state = (_stores.container_config(root, cid) or {}).get("State") or {}
    return any(_store_plan.timestamp(state.get(k)) > since for k in ("StartedAt", "FinishedAt"))


def known_ids(journal, store):
    """The IDs of the containers of STORE that the journal names: left there by a conversion away from it, or made
    there by one towards it."""
    ids = set(((journal.get("sources") or {}).get(store) or {}).values())
    ids |= set(m.get("id") for m in (((journal.get("made") or {}).get(store)) or {}).values())
    ids.discard(None)
    return ids


def done_at(journal, jpath):
    """When the conversion finished: recorded in the journal, or the journal's last write for one made before the
    time was recorded."""
    if journal.get("done_at"):
        return float(journal["done_at"])
    return os.stat(jpath).st_mtime


def soak_refusal(finished, soak_days, now, store):
    age = now - finished
    need = float(soak_days) * DAY
    if age < need:
        return ("the host has run the %s store for %.1f days since its conversion finished; soak_days=%s asks for "
                "more, so the other store is kept for %.1f more days" % (
                    store, max(age, 0) / DAY, soak_days, (need - age) / DAY))
    return None


class Inactive:
    """The store CONV's finished conversion to STORE left behind, as the host shows it now."""

    def __init__(self, conv, store):
        self.conv = conv
        self.store = other(store, conv.journal)
        self.containers = _stores.hidden_containers(conv.root, _stores.DRIVERS[self.store])  # name -> id
        # A cleanup killed part way may have left a container's directory without its config.v2.json.
        cleanup = conv.journal.get("cleanup") or {}
        if cleanup.get("store") == self.store and not cleanup.get("finished"):
            for cid in cleanup.get("containers") or []:
                if cid not in self.containers.values() and os.path.isdir(os.path.join(conv.root, "containers", cid)):
                    self.containers["(partly removed) %s" % cid[:12]] = cid

    def unknown(self):
        known = known_ids(self.conv.journal, self.store)
        return sorted(n for n, cid in self.containers.items() if cid not in known)

    def images(self):
        """containerd's images of the moby namespace (the inactive containerd store's); [] for the classic store."""
        if self.store != "containerd":
            return []
        rc, out, err = self.conv.runner(_stores.ctr_argv(self.conv.socket or "", "images", "list", "--quiet"))
        if rc != 0:
            raise StoreError("listing containerd's images failed (rc=%d): %s" % (rc, err.strip()[-300:]), "cleanup")
        return sorted(line.strip() for line in out.splitlines() if line.strip())

    def dirs(self):
        if self.store != "containerd":
            return [d for d in classic_dirs(self.conv.root, _stores.DRIVERS[self.store]) if os.path.isdir(d)]
        return []

    def measure(self):
        """The bytes the inactive store holds on disk: its containers' directories, and the classic store's layers
        or containerd's blobs and snapshots (all of containerd's namespaces: an estimate from above)."""
        seen = set()
        paths = [os.path.join(self.conv.root, "containers", cid) for cid in self.containers.values()]
        if self.store != "containerd":
            paths += self.dirs()
        else:
            paths += [os.path.join(_store_plan.CONTAINERD_ROOT, d) for d in CONTAINERD_DIRS]
        return sum(_layout.measure(p, seen).bytes for p in paths if os.path.exists(p))

    def empty(self):
        return not self.containers and not self.dirs() and not self.images()

    def summary(self, size):
        """``inactive_store`` in the result: the store, SIZE bytes, its containers' names."""
        return {"store": self.store, "bytes": size, "containers": sorted(self.containers)}


def report(conv, store):
    """What the inactive store holds (``inactive_store`` in the result), measured on the host."""
    inactive = Inactive(conv, store)
    conv.result["inactive_store"] = inactive.summary(inactive.measure())


def refusals(conv, info, store, soak_days, now):
    """Why the inactive store of the host may not be removed now (every check reads the host or the journal)."""
    journal, problems = conv.journal, []
    if journal.get("phase") != "done" or journal.get("target") != store:
        return ["no finished conversion to the %s store is recorded on this host (%s says %s): only the store such a "
                "conversion left behind is removed" % (
                    store, conv.jpath, "nothing" if not journal else "phase %s, to the %s store" % (
                        journal.get("phase"), journal.get("target")))]
    if os.path.normpath(info.get("DockerRootDir") or conv.root) != os.path.normpath(conv.root):
        problems.append("Docker runs from %s, but daemon.json names %s as its root (set elsewhere, on its command "
                        "line?): the cleanup is refused" % (info["DockerRootDir"], conv.root))
    data, _text, _exists = _daemon_json.load(conv.opts["daemon_json"])
    running = _stores.kind_of(info)
    asked = _stores.configured_store(data) or "classic"
    if asked == "classic" and data.get("storage-driver") not in (None, _stores.DRIVERS["classic"]):
        asked = data["storage-driver"]
    if running != store or asked != store:
        problems.append("Docker runs the %s store and daemon.json asks for the %s store: the cleanup removes the "
                        "store the conversion left, only while Docker runs and is set to run the %s store" % (
                            running, asked, store))
    finished = done_at(journal, conv.jpath)
    why = soak_refusal(finished, soak_days, now, store)
    if why:
        problems.append(why)
    inactive = Inactive(conv, store)
    unknown = inactive.unknown()
    if unknown:
        problems.append("the %s store holds containers that no conversion of this collection left there (%s); "
                        "switch Docker to that store by hand to keep or remove them first" % (
                            inactive.store, ", ".join(unknown)))
    ran = sorted(n for n, cid in inactive.containers.items() if ran_since(conv.root, cid, finished))
    if ran:
        problems.append("containers of the %s store ran after the conversion finished (%s): Docker was switched back "
                        "to it by hand since, so they may hold writes the %s store lacks; compare them and keep what "
                        "you need first" % (inactive.store, ", ".join(ran), store))
    mounts = _mountinfo.read()
    busy = [e.mount_point for d in inactive.dirs() for e in _mountinfo.mounts_under(mounts, d)]
    busy += [d for d in inactive.dirs() if os.path.islink(d) or os.path.ismount(d)]
    if busy:
        problems.append("something is mounted under the %s store, or it is a mount point or a link, which this "
                        "version does not remove: %s" % (inactive.store, ", ".join(busy[:5])))
    return problems


def clean(conv, info, store, soak_days):
    """Remove the inactive store of a host converted to STORE, after its checks; the result says what was freed."""
    problems = refusals(conv, info, store, soak_days, conv.host.time())
    if problems:
        raise StoreError("; ".join(problems), "preflight")
    inactive = Inactive(conv, store)
    images = inactive.images()
    before = inactive.measure()
    conv.result.update(store_before=store, store_after=store, inactive_store=inactive.summary(before))
    if inactive.empty():
        return conv.result
    what = ["container %s (%s)" % (n, cid[:12]) for n, cid in sorted(inactive.containers.items())]
    what += ["%s/" % d for d in inactive.dirs()] + ["image %s" % i for i in images]
    conv.result.update(changed=True, removed=what, diff={
        "before": "".join("%s\n" % w for w in what), "after": "",
        "before_header": "the %s store" % inactive.store, "after_header": "the %s store" % inactive.store})
    if conv.check_mode:
        conv.result["actions"].append("remove the %s store (%s): %d containers, %d images%s" % (
            inactive.store, _units.human(before), len(inactive.containers), len(images),
            ", its layers" if inactive.store != "containerd" else ""))
        return conv.result
    conv.save(cleanup={"store": inactive.store, "started": conv.host.time(),
                       "containers": sorted(inactive.containers.values())})
    remove(conv, inactive, images)
    left = Inactive(conv, store)
    after = left.measure()
    sources = dict(conv.journal.get("sources") or {})
    made = dict(conv.journal.get("made") or {})
    sources.pop(inactive.store, None)
    made.pop(inactive.store, None)
    conv.save(sources=sources, made=made, cleanup={"store": inactive.store, "finished": conv.host.time()})
    conv.result["freed_bytes"] = max(before - after, 0)
    conv.result["inactive_store"] = left.summary(after)
    conv.result["actions"].append("removed the %s store: %d containers, %d images (%s freed)" % (
        inactive.store, len(inactive.containers), len(images), _units.human(conv.result["freed_bytes"])))
    return conv.result


def remove(conv, inactive, images):
    """The inactive store's containers (containerd: their snapshots first), then its layers or images.  Each step
    can be repeated: a rerun after a kill removes what is left."""
    snapshotter = _stores.DRIVERS["containerd"]
    for i, cid in enumerate(sorted(inactive.containers.values())):
        if inactive.store == "containerd":
            # Docker's containerd store makes a container's snapshot on an ``ID-init`` one, under a lease of the
            # container's ID, which keeps its image's layers from containerd's garbage collection.
            for what in (("snapshots", "--snapshotter", snapshotter, "rm", cid),
                         ("snapshots", "--snapshotter", snapshotter, "rm", cid + "-init"), ("leases", "rm", cid)):
                rc, _out, err = conv.runner(_stores.ctr_argv(conv.socket or "", *what))
                if rc != 0 and "not found" not in err:
                    raise StoreError("removing the %s of container %s failed (rc=%d): %s" % (
                        what[0][:-1], cid[:12], rc, err.strip()[-300:]), "cleanup")
        _fileops.remove_tree(os.path.join(conv.root, "containers", cid))
        if i == 0:
            _testhooks.reached("store_during_cleanup")
    for d in inactive.dirs():
        _fileops.remove_tree(d)
    if images:
        rc, _out, err = conv.runner(_stores.ctr_argv(conv.socket or "", "images", "rm", "--sync", *images))
        if rc != 0:
            raise StoreError("removing containerd's images failed (rc=%d): %s" % (rc, err.strip()[-300:]), "cleanup")
