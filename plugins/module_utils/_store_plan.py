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

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _daemon_json, _fsinfo, _layer_store, _stores, _vfs_layer)

CONTAINERD_ROOT = "/var/lib/containerd"
# The repository an image without a tag travels under into containerd's store; the tag is removed once the
# conversion is done (Docker keeps an image a container uses when its last tag goes).
CARRY_REPO = "dockyard-migrate-untagged"


def is_carry(name):
    """Whether NAME (a tag as Docker or containerd writes it) is one of the carry tags."""
    return "@" not in name and _layer_store.familiar(name).startswith(CARRY_REPO + ":")


def carry_tag(image_id):
    """The tag the image IMAGE_ID, which has none, is imported into containerd's store under."""
    return "%s:%s" % (CARRY_REPO, image_id.split(":")[-1])


def by_id(given, image_id):
    """Whether GIVEN, the image a container was made from as its Config.Image says, names its image IMAGE_ID by
    that ID (whole or a prefix, with or without ``sha256:``) rather than by a name."""
    digits = given[len("sha256:"):] if given.startswith("sha256:") else given
    return bool(digits) and all(c in "0123456789abcdef" for c in digits) and \
        str(image_id).rsplit(":", maxsplit=1)[-1].startswith(digits)


def short(ids):
    return ", ".join(i.split(":")[-1][:12] for i in ids)


def listed_images(client, containers):
    """GET /images/json, with the images containers use that it leaves out (an image with children, as a commit
    makes, is listed with all=1 only), and without the carry tags a conversion killed part way left."""
    images = client.get("/images/json") or []
    missing = set(c.get("Image") for c in containers) - set(i.get("Id") for i in images)
    if missing:
        images += [i for i in client.get("/images/json", params={"all": True}) or [] if i.get("Id") in missing]
    return [dict(i, RepoTags=[t for t in i.get("RepoTags") or [] if not is_carry(t)]) for i in images]


def untagged(conv, source, ids, problems, tags=()):
    """{image ID: how the new store gets it} for IDS, the images without a tag that containers use: from the
    classic store, imported into containerd's from the store's files under a tag of its own (``carry``); from
    containerd's, exported by the name containerd keeps it under (``name``) and loaded into the classic store, where
    its ID is its config digest (``config``); from a graph driver's, loaded into overlay2 by its ID.  What cannot
    be carried is added to PROBLEMS."""
    if not ids:
        return {}
    if source == "containerd":
        return from_containerd(conv, ids, problems)
    if source != "classic":
        return dict((i, {"config": i}) for i in ids)
    try:  # docker save would send them without a name, and containerd's import keeps only named images
        _layer_store.Archive(list(tags) + list(ids), ())
    except (_layer_store.Unusable, ValueError) as exc:
        problems.append("containers use images with no tag (%s), which are carried only from the classic store's "
                        "files, not readable here (%s): tag them (docker tag) and run again" % (short(ids), exc))
    return dict((i, {"carry": carry_tag(i)}) for i in ids)


def unused(conv, source, ids, partial=()):
    """({image ID: how}, [not carried]) for IDS, the images without a tag that no container uses, carried as
    untagged() carries the used ones and marked ``unused``: in containerd's store each is kept under the name
    Docker gives an image without a tag (_store_images.keep_unused).  Each is checked on its own, and one that
    cannot be read (the old store's files; containerd's name or content, PARTIAL: the IDs whose content is not
    whole there) is left behind, not refused."""
    if source == "containerd":
        found = from_containerd(conv, [i for i in ids if i not in partial], [])
    else:
        found = dict((i, {"carry": carry_tag(i)} if source == "classic" else {"config": i})
                     for i in ids if readable(i))
    return dict((i, dict(how, unused=True)) for i, how in found.items()), [i for i in ids if i not in found]


def whole_content(conv, source, images, used, problems):
    """The IDs of the IMAGES of containerd's store (SOURCE) whose content it does not hold whole (incomplete());
    one with a tag, or one without that a container uses (USED), is added to PROBLEMS."""
    partial = incomplete(conv) if source == "containerd" else set()
    short_of = sorted(t for i in images if i.get("Id") in partial for t in i.get("RepoTags") or ()
                      if t != _stores.NONE_TAG)
    short_of += [short([i]) for i in used if i in partial]
    if short_of:
        problems.append("containerd's store does not hold the whole content of images %s (ctr images check), which "
                        "cannot be exported: pull them again or remove them, then run again" % ", ".join(short_of))
    return partial


def readable(image_id):
    """Whether the image IMAGE_ID can be read from the classic store's files (_layer_store)."""
    try:
        _layer_store.Archive([image_id], ())
    except (_layer_store.Unusable, ValueError):
        return False
    return True


def incomplete(conv):
    """The IDs (target digests) of the images of containerd's store whose content it does not hold whole (``ctr
    images check``: a layer never fetched, as a build can leave): they cannot be exported.  An image ctr prints
    no line for is not one of them."""
    _rc, out, _err = conv.runner(_stores.ctr_argv(conv.socket or "", "images", "check"))
    status = {}  # ctr fails when one image's check does, after the table: each line it printed is believed
    for line in (out or "").splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 4 and cols[2].startswith("sha256:"):
            status[cols[2]] = status.get(cols[2]) or cols[3] == "complete"
    return set(d for d, whole in status.items() if not whole)


def from_containerd(conv, ids, problems):
    """The images IDS of containerd's store (IDs are their manifests' digests): a name of each, its config digest."""
    argv = _stores.ctr_argv(conv.socket or "", "images", "ls")
    rc, out, _err = conv.runner(argv)
    names = {}  # containerd's own name for an image without a tag before a carry tag a failed run left
    for name, digest in sorted(_stores.image_targets(out if rc == 0 else "").items(),
                               key=lambda item: (is_carry(item[0]), item[0])):
        names.setdefault(digest, name)

    def read(digest):
        rc, out, _err = conv.runner(_stores.ctr_argv(conv.socket or "", "content", "get", digest))
        return out if rc == 0 else None
    found = {}
    for i in ids:
        config = _stores.config_digest(read, i, _stores.goarch()) if i in names else None
        if config:
            found[i] = {"name": names[i], "config": config}
    lost = [i for i in ids if i not in found]
    if lost:
        problems.append("containers use images with no tag that containerd's store does not name or cannot read "
                        "(%s): tag them (docker tag) and run again" % short(lost))
    return found


# Seconds after a container was recorded as about to be made within which its create lands (it follows at once).
MADE_WITHIN = 120


def made_here(journal, target, name, cid, created):
    """Whether the container CID named NAME in the TARGET store is one this collection made there or left there:
    recorded with its ID, or recorded as about to be made (a kill between the create and the journal's next
    write) and created then (within MADE_WITHIN seconds: one made under that name later is another's)."""
    made = ((journal.get("made") or {}).get(target) or {}).get(name) or {}
    left = ((journal.get("sources") or {}).get(target) or {}).get(name)
    if cid in (made.get("id"), left):
        return True
    return made.get("id") is None and bool(made.get("at")) and made["at"] <= created <= made["at"] + MADE_WITHIN


def auto_removed(inspect):
    """Whether Docker removes the container INSPECT describes once it ends (``docker run --rm``): Docker's stop
    for the window ends it, so it is never carried."""
    return bool((inspect.get("HostConfig") or {}).get("AutoRemove"))


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
    images = listed_images(client, containers)  # with the images --rm containers use (unused, once they are out)
    ephemeral, containers = [c for c in containers if auto_removed(c)], [c for c in containers if not auto_removed(c)]
    tags, untagged_used, untagged_unused = _stores.images_to_carry(images, containers)
    problems = []
    partial = whole_content(conv, source, images, untagged_used, problems)
    carried = untagged(conv, source, [i for i in untagged_used if i not in partial], problems, tags)
    spare, not_carried = unused(conv, source, untagged_unused, partial)
    carried.update(spare)
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
        # vfs: the container's whole tree, and its parent's (the layer is their difference, _vfs_layer)
        upper, base = _stores.vfs_dirs(root, c["Id"]) if source == "vfs" else (conv.upper(c, source), None)
        if not upper:
            problems.append("the writable layer of container %s cannot be found" % name)
        layers = ((client.get("/images/%s/json" % c["Image"]) or {}).get("RootFS") or {}).get("Layers")
        if not ref and c["Image"] not in untagged_used:
            problems.append("the image of container %s (%s) is not in the store (removed with docker rmi -f?): the "
                            "container cannot be made again from it" % (name, short([c["Image"]])))
        recorded.append({"name": name, "id": c["Id"], "inspect": c, "upper": upper, "ref": ref, "layers": layers,
                         "untagged": carried.get(c["Image"]), "running": bool((c.get("State") or {}).get("Running"))})
        if base:
            try:  # walked now, Docker running: a tree overlay would misread is refused before anything changes
                since, forced = _vfs_layer.prepare(base, upper, _stores.vfs_since(root, c["Id"]))
                recorded[-1].update(base=base, since=since, forced=[os.fsdecode(p) for p in forced])
            except (_vfs_layer.LayerError, OSError) as exc:
                problems.append("container %s: %s" % (name, exc))
        opts = (c.get("HostConfig") or {}).get("StorageOpt")
        if opts:
            problems.append("container %s has storage options (%s) the %s store may not honour; make it again "
                            "without them first" % (name, ", ".join("%s=%s" % kv for kv in sorted(opts.items())),
                                                    target))
    gone = naming_ephemeral(recorded, ephemeral, problems)
    recorded, unresolved = _stores.in_order(recorded)  # each after the containers it names
    if unresolved:
        problems.append("containers name others this host does not hold: %s" % ", ".join(unresolved))
    archive = None
    if source in _stores.DRIVER_SOURCES:
        archive = driver_checks(conv, root, source, tags + sorted(carried), problems)
    # docker load (classic) unpacks the whole archive into Docker's tmp directory before it registers the layers.
    layers = 2 * archive.size() if archive else (0 if source in _stores.DRIVER_SOURCES else None)
    problems += room(conv, root, target, layers)
    return {"tags": tags, "tag_layers": _stores.tag_layers(client, images), "not_carried": not_carried,
            "untagged": carried, "stopped_always": stopped_always(containers), "containers": recorded,
            "ephemeral": dict((d["name"], d["id"]) for d in gone), "restarted": restarted(root, containers),
            "problems": problems, "hidden": hidden, "archive": archive}


def stopped_always(containers):
    """The names of the containers (inspects) that ran once, are stopped, and have the restart policy ``always``:
    Docker starts those at each of its own starts, but never a container that was only created, as each is made
    again."""
    return sorted(_stores.container_name(c) for c in containers
                  if ((c.get("HostConfig") or {}).get("RestartPolicy") or {}).get("Name") == "always" and
                  (c.get("State") or {}).get("Status") == "exited")


def naming_ephemeral(recorded, ephemeral, problems):
    """The EPHEMERAL containers (inspects: Docker removes them once they end) as records; a container of RECORDED
    that names one of them is added to PROBLEMS."""
    gone = [{"name": _stores.container_name(c), "id": c["Id"]} for c in ephemeral]
    for c in recorded:
        named = [d["name"] for d in (_stores.resolve(ref, gone) for ref in _stores.dependencies(c["inspect"])) if d]
        if named:
            problems.append("container %s names %s, which Docker removes once it ends (docker run --rm): Docker's "
                            "stop ends it, and %s cannot be made again without it" % (c["name"], ", ".join(named),
                                                                                      c["name"]))
    return gone


def restarted(root, containers):
    """The names of the stopped containers (inspects) that ran once which Docker starts at its next start, by
    Docker's own rule, from their config.v2.json under ROOT: ``always``; ``unless-stopped`` not stopped by hand;
    ``on-failure`` that ended with an error, retries left."""
    out = []
    for c in containers:
        conf = _stores.container_config(root, c["Id"]) or {}
        state, policy = c.get("State") or {}, (c.get("HostConfig") or {}).get("RestartPolicy") or {}
        if state.get("Status") != "exited" or not conf.get("HasBeenStartedBefore"):
            continue
        most = policy.get("MaximumRetryCount") or 0
        if policy.get("Name") == "always" or (
                policy.get("Name") == "unless-stopped" and not conf.get("HasBeenManuallyStopped")) or (
                policy.get("Name") == "on-failure" and state.get("ExitCode") and (
                    not most or (conf.get("RestartCount") or 0) < most)):
            out.append(_stores.container_name(c))
    return sorted(out)


def driver_checks(conv, root, source, tags, problems):
    """The archive of TAGS (and image IDs) to load into overlay2 after the switch (None when there are none), made
    now, and what stands in the way of the SOURCE driver's conversion added to PROBLEMS."""
    archive = None
    try:  # the images are loaded after the switch, from the old driver's files: everything they need is checked now
        archive = _layer_store.Archive(tags, ()) if tags else None
    except (_layer_store.Unusable, ValueError) as exc:
        problems.append("the images cannot be read from the %s store's files (%s), and the engine that could save "
                        "them is stopped by then: this host is not converted" % (source, exc))
    data, _text, _exists = _daemon_json.load(conv.opts["daemon_json"])
    if data.get("storage-opts"):
        problems.append("daemon.json sets storage-opts (%s) for the %s driver, which overlay2 would refuse; remove "
                        "them first" % (", ".join(map(str, data["storage-opts"])), source))
    given = _stores.dockerd_choices(pidfile=data.get("pidfile"))
    if given:
        problems.append("dockerd is given its storage driver outside daemon.json (%s), which would keep it on %s "
                        "or stop it from starting after the switch; set it in daemon.json alone" % (
                            "; ".join(given), source))
    if _fsinfo.supports_d_type(root) is False:
        problems.append("the filesystem of %s does not give file types in directory listings (d_type; xfs made "
                        "with ftype=0?): overlay2 cannot run on it" % root)
    if conv.check_mode:
        conv.result["actions"].append("would try an overlay mount on the filesystem of %s" % root)
        return archive
    _vfs_layer.sweep(conv.runner, root)
    why = _vfs_layer.overlay_works(conv.runner, root)
    if why:
        problems.append(why + ": the overlay2 driver cannot run here")
    return archive


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
