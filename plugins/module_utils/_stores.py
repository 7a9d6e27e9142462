# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Docker's two image stores, read from the host: which one the engine runs, what each holds, what keeps a host
from being converted, and where a container's writable layer lies in each.  Internal to dockyard.migrate.

The classic store keeps images and layers under Docker's root (image/overlay2, overlay2); containerd's image store
(``features.containerd-snapshotter`` in daemon.json) keeps them in containerd's content store and snapshotter,
namespace ``moby``.  Both keep containers in ``DockerRootDir/containers``, each recording the driver it was made
with (``Driver`` in config.v2.json): an engine loads only the containers of its own store, so the other store's
stay on disk, hidden, until the engine is switched back.  Both stores use the kernel's overlayfs, so a writable
layer (an overlay upper directory: whiteouts as 0:0 character devices, opaque directories as
``trusted.overlay.opaque``) means the same in either.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re

from ansible_collections.dockyard.migrate.plugins.module_utils import _docker_api, _fileops

SNAPSHOTTER_TYPE = "io.containerd.snapshotter.v1"
FEATURE = "containerd-snapshotter"
STORES = ("containerd", "classic")
# The graph driver of each store this collection converts between.
DRIVERS = {"classic": "overlay2", "containerd": "overlayfs", "vfs": "vfs"}
# The classic store's other graph drivers a host is converted from to overlay2 (``driver: overlay2``); each is a
# store of its own to the conversion (its layers under DockerRootDir/DRIVER, its images under image/DRIVER).
DRIVER_SOURCES = ("vfs",)
MIN_DOCKER = 24
NAMESPACE = "moby"
# containerd's socket: the system containerd Debian's and Docker's packages run, or the one dockerd starts itself.
CONTAINERD_SOCKETS = ("/run/containerd/containerd.sock", "/var/run/docker/containerd/containerd.sock")
# Extended attributes of an overlay upper directory that point at the inodes of the store it was made in.
OVERLAY_XATTRS = ("trusted.overlay.origin", "trusted.overlay.impure", "trusted.overlay.uuid")
NONE_TAG = "<none>:<none>"
GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "armv6l": "arm", "i686": "386", "i386": "386"}


class StoreError(Exception):
    def __init__(self, msg, phase=None):
        self.phase = phase
        super(StoreError, self).__init__(msg)


def store_of(info):
    """``containerd`` when the engine runs containerd's image store (its DriverStatus names the snapshotter type),
    else ``classic``."""
    for pair in info.get("DriverStatus") or []:
        if len(pair) == 2 and pair[0] == "driver-type" and pair[1] == SNAPSHOTTER_TYPE:
            return "containerd"
    return "classic"


def kind_of(info):
    """The store the engine runs as the conversion tells them apart: ``containerd``, ``classic`` (overlay2), or the
    classic store's graph driver when it is another (``vfs``, ``btrfs``...)."""
    store = store_of(info)
    driver = info.get("Driver")
    if store == "classic" and driver and driver != DRIVERS["classic"]:
        return driver
    return store


def with_driver(data, driver):
    """daemon.json's DATA with the classic store's graph driver set to DRIVER (``storage-driver``: explicit, since
    Docker refuses to pick one when two drivers' directories hold data)."""
    out = dict(data)
    out["storage-driver"] = driver
    return out


def with_store(data, store, driver_before=None):
    """daemon.json's DATA with the image store set to STORE (``features.containerd-snapshotter``); a storage-driver
    overlay2 goes with containerd's store (a snapshotter's name there), DRIVER_BEFORE comes back with the classic."""
    out = dict(data)
    features = dict(out.get("features") or {})
    features[FEATURE] = store == "containerd"
    out["features"] = features
    if store == "containerd" and out.get("storage-driver") == DRIVERS["classic"]:
        del out["storage-driver"]
    elif store == "classic" and driver_before and "storage-driver" not in out:
        out["storage-driver"] = driver_before
    return out


# Graph drivers whose directory beside overlay2's stops Docker guessing its driver ("contains several valid
# graphdrivers"); vfs is never counted among the prior drivers.
OTHER_DRIVERS = ("aufs", "btrfs", "devicemapper", "fuse-overlayfs", "overlay", "zfs")


def other_drivers(root):
    """The graph drivers of OTHER_DRIVERS whose directory under Docker's ROOT holds something."""
    return [name for name in OTHER_DRIVERS if os.path.isdir(os.path.join(root, name)) and os.listdir(
        os.path.join(root, name))]


def configured_store(data):
    """The store daemon.json asks for: ``containerd``, ``classic``, or None when it does not say."""
    value = (data.get("features") or {}).get(FEATURE)
    return None if value is None else ("containerd" if value else "classic")


def refusals(info, version, daemon_json, target, allow_swarm=False, source=None):
    """Why this host cannot be converted to TARGET (from SOURCE, the store kind_of() names; a driver of
    DRIVER_SOURCES when the classic store's driver is converted), in words (an empty list when it can)."""
    out = []
    server = str(version.get("Version") or "0")
    try:
        major = int(server.split(".", 1)[0])
    except ValueError:
        major = 0
    if major < MIN_DOCKER:
        out.append("Docker %s is older than %d: its containerd image store is not complete enough to convert to "
                   "or from; upgrade Docker first" % (server, MIN_DOCKER))
    if any("name=userns" in str(s) for s in info.get("SecurityOptions") or []):
        out.append("the engine runs with userns-remap, which containerd's image store does not support (its "
                   "writable layers hold a re-owned copy of the image)")
    swarm = (info.get("Swarm") or {}).get("LocalNodeState") or "inactive"
    if swarm not in ("inactive", "") and not allow_swarm:
        out.append("this engine is part of a swarm (%s): swarm recreates service tasks itself; leave the swarm, "
                   "or set allow_swarm to convert the other containers" % swarm)
    running = store_of(info)
    driver = info.get("Driver")
    if source in DRIVER_SOURCES:  # the classic store's own driver is what is converted, through daemon.json
        if daemon_json.get("storage-driver") != source:
            # dockerd's -s, DOCKER_DRIVER or Docker's own guess (the one driver directory holding data) chose it.  A
            # storage-driver written to daemon.json beside a flag stops dockerd from starting, DOCKER_DRIVER
            # overrides daemon.json, and the guess fails once both drivers' directories hold data (a rollback).
            out.append("Docker runs the %s driver but daemon.json does not set \"storage-driver\": \"%s\" (it is "
                       "chosen on dockerd's command line, by DOCKER_DRIVER or by Docker's guess from its "
                       "directories); set it in daemon.json (and nowhere else), restart Docker and run again" % (
                           source, source))
    elif running == "classic" and driver in DRIVER_SOURCES and target == "containerd":
        out.append("the engine runs the classic store with the %s driver; convert it to overlay2 first (store: "
                   "classic, driver: overlay2), then to containerd's store" % driver)
    elif running in DRIVERS and driver != DRIVERS[running]:
        out.append("the engine runs the %s store with the %s driver; only %s (classic) and %s (containerd) are "
                   "converted%s" % (running, driver, DRIVERS["classic"], DRIVERS["containerd"],
                                    ", and %s to overlay2" % ", ".join(DRIVER_SOURCES) if running == "classic" else ""))
    if info.get("LiveRestoreEnabled"):
        out.append("live-restore is on: its containers would keep running (and writing) while Docker stops, so "
                   "their writable layers could not be copied whole; set \"live-restore\": false for the "
                   "conversion")
    # Going to containerd's store, a storage-driver naming overlay2 (left by a conversion from vfs) is taken away
    # (with_store); any other would decide the store's driver.
    if "storage-driver" in daemon_json and source not in DRIVER_SOURCES and not (
            target == "containerd" and daemon_json["storage-driver"] == DRIVERS["classic"]):
        out.append("daemon.json sets storage-driver (%s), which would decide the store's driver after the switch; "
                   "remove it (the store's default driver is %s)" % (
                       daemon_json["storage-driver"], DRIVERS[target]))
    return out


def containerd_socket(exists=os.path.exists):
    return next((s for s in CONTAINERD_SOCKETS if exists(s)), None)


def ctr_argv(socket, *args):
    """A ctr command in Docker's namespace of the containerd at SOCKET."""
    return ["ctr", "--address", socket, "--namespace", NAMESPACE] + list(args)


def full_name(tag):
    """A Docker tag as containerd names it (``busybox:1`` is ``docker.io/library/busybox:1``)."""
    name, sep, rest = tag.partition("/")
    if not sep:
        return "docker.io/library/" + tag
    if "." in name or ":" in name or name == "localhost":
        return tag
    return "docker.io/" + tag


def goarch(machine=None):
    """The host's architecture as image platforms name it (amd64 for x86_64)."""
    machine = machine or os.uname()[4]
    return GOARCH.get(machine, machine)


def image_targets(text):
    """{name: target digest} from the table ``ctr images ls`` prints (REF TYPE DIGEST ...)."""
    out = {}
    for line in (text or "").splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 3 and cols[2].startswith("sha256:"):
            out[cols[0]] = cols[2]
    return out


def config_digest(read, digest, arch, nested=False):
    """The config digest of the image whose target is DIGEST: a manifest's own, or an index's manifest for
    linux/ARCH, the first whose blob is here.  READ(digest) gives a blob's text or None.  None when unknown."""
    try:
        doc = json.loads(read(digest) or "null")
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    if isinstance(doc.get("config"), dict):
        return doc["config"].get("digest")
    for entry in [] if nested else doc.get("manifests") or []:
        platform = entry.get("platform") or {}
        if (platform.get("os"), platform.get("architecture")) == ("linux", arch):
            found = config_digest(read, entry.get("digest"), arch, nested=True)
            if found:
                return found
    return None


def containerd_configs(runner, socket, tags, arch):
    """{tag: config digest} of TAGS in containerd's image store, for those it names and whose manifest is read:
    an image's ID in the classic store is its config digest."""
    rc, out, _err = runner(ctr_argv(socket, "images", "ls"))
    targets = image_targets(out) if rc == 0 else {}

    def read(digest):
        rc, out, _err = runner(ctr_argv(socket, "content", "get", digest))
        return out if rc == 0 else None
    found = {}
    for tag in tags:
        if full_name(tag) in targets:
            found[tag] = config_digest(read, targets[full_name(tag)], arch)
    return found


def upper_from_mounts(text):
    """The upper directory in the mount command ``ctr snapshots mounts`` prints, or None."""
    m = re.search(r"upperdir=([^,\s]+)", text or "")
    return m.group(1) if m else None


def vfs_dirs(root, cid):
    """(the container's tree, its parent's tree: the image with Docker's init files) of the vfs container CID,
    from the layer store's record of its mount under Docker's ROOT; (None, None) when it is not found."""
    rec = os.path.join(root, "image", "vfs", "layerdb", "mounts", cid)
    out = []
    for name in ("mount-id", "init-id"):
        try:
            with open(os.path.join(rec, name)) as f:
                mount = f.read().strip()
        except (OSError, IOError):
            return None, None
        path = os.path.join(root, "vfs", "dir", mount)
        if not mount or "/" in mount or mount.startswith(".") or not os.path.isdir(path):
            return None, None
        out.append(path)
    return tuple(out)


def vfs_since(root, cid):
    """When the vfs container CID's tree was copied from its parent (nanoseconds since the epoch): its layer
    record's mount-id is written right after the copy.  None when it cannot be read."""
    try:
        return os.stat(os.path.join(root, "image", "vfs", "layerdb", "mounts", cid, "mount-id")).st_mtime_ns
    except OSError:
        return None


def _pid_ns(proc, pid):
    try:
        return os.readlink(os.path.join(proc, pid, "ns", "pid"))
    except OSError:
        return None


DOCKER_PIDFILE = "/var/run/docker.pid"  # dockerd's own default, where daemon.json names no pidfile


def _pidfile_dockerd(proc, pidfile):
    """The pid PIDFILE (daemon.json's ``pidfile``, or Docker's) holds if it is a running dockerd's, else None."""
    try:
        with open(pidfile) as f:
            pid = f.read().strip()
        with open(os.path.join(proc, pid, "comm")) as f:
            return pid if pid.isdigit() and f.read().strip() == "dockerd" else None
    except (OSError, IOError):
        return None


def dockerd_choices(proc="/proc", pidfile=None):
    """Where the host's dockerd (PIDFILE's; else every one of PROC's init's PID namespace, not Docker in Docker's) was
    given its driver outside daemon.json: ``DOCKER_DRIVER`` in its environment, ``-s``/``--storage-driver``."""
    out = []
    own = _pidfile_dockerd(proc, pidfile or DOCKER_PIDFILE)
    try:
        pids = [own] if own else [p for p in os.listdir(proc) if p.isdigit()]
    except OSError:
        return out
    init = _pid_ns(proc, "1")
    for pid in pids:
        ns = _pid_ns(proc, pid)
        if init and ns and ns != init:  # skipped only when both are known and differ
            continue
        try:
            with open(os.path.join(proc, pid, "comm")) as f:
                if f.read().strip() != "dockerd":
                    continue
            with open(os.path.join(proc, pid, "cmdline"), "rb") as f:
                argv = [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
        except (OSError, IOError):
            continue
        try:  # readable by dockerd's owner only: its command line is read regardless
            with open(os.path.join(proc, pid, "environ"), "rb") as f:
                env = [e.decode("utf-8", "replace") for e in f.read().split(b"\0") if e]
        except (OSError, IOError):
            env = []
        out += ["%s in dockerd's environment" % e for e in env if e.startswith("DOCKER_DRIVER=") and e[14:]]
        for i, a in enumerate(argv):
            if a in ("-s", "--storage-driver"):
                out.append("%s %s on dockerd's command line" % (a, argv[i + 1] if i + 1 < len(argv) else ""))
            elif a.startswith(("--storage-driver=", "-s=")):
                out.append("%s on dockerd's command line" % a)
    return sorted(set(out))


def classic_upper(inspect):
    """The writable layer of a container of the classic (overlay2) store, from its inspect."""
    return ((inspect.get("GraphDriver") or {}).get("Data") or {}).get("UpperDir")


def images_to_carry(images, containers):
    """(tags, untagged_used, untagged_unused) from GET /images/json and the containers' inspects: every tag is
    carried; an image without one is named, since it cannot be carried by name."""
    tags = sorted(set(t for i in images for t in (i.get("RepoTags") or []) if t != NONE_TAG))
    used = set(c.get("Image") for c in containers)
    untagged = [i["Id"] for i in images if not [t for t in (i.get("RepoTags") or []) if t != NONE_TAG]]
    return tags, sorted(i for i in untagged if i in used), sorted(i for i in untagged if i not in used)


def tag_layers(client, images):
    """{tag: the diff IDs of the image it names} for every tag of IMAGES (GET /images/json), each image asked once:
    an image's identity both stores give alike.  A tag whose image the engine cannot inspect is left out
    (unknown, not compared)."""
    out = {}
    for image in images:
        tags = [t for t in (image.get("RepoTags") or []) if t != NONE_TAG]
        if tags:
            try:
                inspect = client.get("/images/%s/json" % image["Id"]) or {}
            except _docker_api.DockerError:
                continue
            layers = (inspect.get("RootFS") or {}).get("Layers") or []
            out.update((t, layers) for t in tags)
    return out


def moved_tags(before, now):
    """The tags of BEFORE ({tag: layers}) that NOW ({tag: layers}) names with other layers; a tag NOW does not
    know is not compared."""
    return sorted(t for t, layers in (before or {}).items() if t in now and now[t] != layers)


def image_layers(client, ref):
    """The diff IDs of the image REF names, or None when the engine cannot inspect it."""
    try:
        return ((client.get("/images/%s/json" % ref) or {}).get("RootFS") or {}).get("Layers")
    except _docker_api.DockerError:
        return None


def container_config(root, cid):
    """The config.v2.json of the container CID under Docker's ROOT (either store's), or None when it cannot be
    read."""
    try:
        with open(os.path.join(root, "containers", cid, "config.v2.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def hidden_containers(root, driver):
    """{name: id} of the containers under ROOT/containers made with DRIVER (the other store's, which the running
    engine does not show)."""
    out = {}
    try:
        ids = os.listdir(os.path.join(root, "containers"))
    except OSError:
        return out
    for cid in ids:
        conf = container_config(root, cid) or {}
        if conf.get("Driver") == driver:
            out[(conf.get("Name") or "").lstrip("/")] = cid
    return out


def container_name(inspect):
    return (inspect.get("Name") or "").lstrip("/")


def dependencies(inspect):
    """The other containers a container names (a ``container:`` mode, volumes from, links), as it names them
    (an ID, an ID's prefix or a name); each must be made before it, and the ones of its modes and links must run
    before it starts."""
    hc = inspect.get("HostConfig") or {}
    out = [str(hc.get(key))[len("container:"):] for key in ("NetworkMode", "IpcMode", "PidMode", "UTSMode")
           if str(hc.get(key) or "").startswith("container:")]
    out += [entry.partition(":")[0] for entry in hc.get("VolumesFrom") or ()]
    out += [link.partition(":")[0].lstrip("/") for link in hc.get("Links") or ()]
    return out


def resolve(ref, records):
    """The record of RECORDS ({"name", "id"}) that REF names as Docker would (a name, an ID, a unique ID prefix),
    or None."""
    for c in records:
        if ref in (c["name"], c["id"]):
            return c
    found = [c for c in records if c["id"].startswith(ref)]
    return found[0] if len(found) == 1 else None


def in_order(records):
    """(RECORDS ordered so that each comes after the ones it names, [names of references that name none of them]).
    Docker refuses a cycle, so none is met; a reference that names no record is returned, not followed."""
    done, out, unresolved = set(), [], []

    def visit(c, trail):
        if c["name"] in done or c["name"] in trail:
            return
        for ref in dependencies(c.get("inspect") or {}):
            dep = resolve(ref, records)
            if dep is None:
                unresolved.append("%s (named by %s)" % (ref, c["name"]))
            else:
                visit(dep, trail | {c["name"]})
        done.add(c["name"])
        out.append(c)
    for c in records:
        visit(c, frozenset())
    return out, unresolved


def start_waves(records):
    """RECORDS (the containers to start) in waves to start one after the other: each after those of them it names
    (a ``container:`` mode or a link needs the other running)."""
    left, waves, started = list(records), [], set()
    while left:
        wave = [c for c in left if all(dep is None or dep["name"] in started for dep in (
            resolve(ref, records) for ref in dependencies(c.get("inspect") or {})))]
        wave = wave or left  # never stuck (Docker refuses a cycle)
        waves.append(wave)
        started |= set(c["name"] for c in wave)
        left = [c for c in left if c not in wave]
    return waves


def with_tag(ref):
    """REF with Docker's default tag (``busybox`` is ``busybox:latest``)."""
    if "@" in ref or ":" in ref.rsplit("/", 1)[-1]:
        return ref
    return ref + ":latest"


def image_ref(inspect, images):
    """The tag a container is made again from: its own when that tag still names its image, else another tag of
    its image (a tag moved since, or a digest reference); None when its image has none."""
    tags = [t for i in images if i.get("Id") == inspect.get("Image") for t in (i.get("RepoTags") or [])
            if t != NONE_TAG]
    own = with_tag(str((inspect.get("Config") or {}).get("Image") or ""))
    return own if own in tags else (sorted(tags)[0] if tags else None)


def disarm(root, cid):
    """Set the restart policy of the container CID of the store Docker is about to start on to ``no`` in its
    hostconfig.json (Docker stopped): a container about to be replaced by the one carried from the other store
    must not start with Docker.  Returns whether the file was changed."""
    path = os.path.join(root, "containers", cid, "hostconfig.json")
    try:
        with open(path) as f:
            conf = json.load(f)
    except (OSError, ValueError):
        return False
    if (conf.get("RestartPolicy") or {}).get("Name") in (None, "", "no"):
        return False
    conf["RestartPolicy"] = {"Name": "no", "MaximumRetryCount": 0}
    _fileops.atomic_write(path, json.dumps(conf), mode=0o644)
    return True


def room(target, df, free_bytes, layers=None):
    """None, or why the new store has no room: containerd keeps each layer twice (its blob and its unpacked
    snapshot), the classic store once; each container's writable layer is copied.  DF is GET /system/df; LAYERS,
    when known, the bytes the images' layers need (from vfs: twice their tars, since docker load unpacks the
    archive before it registers the layers; vfs's own figure counts each layer's whole tree)."""
    layers = int(df.get("LayersSize") or 0) if layers is None else layers
    rw = sum(int(c.get("SizeRw") or 0) for c in df.get("Containers") or [])
    need = layers * (2 if target == "containerd" else 1) + rw
    need += need // 20  # a margin of 5%
    if free_bytes is not None and free_bytes < need:
        twice = " twice" if target == "containerd" else ""
        return "not enough space for the %s store: %d MB free, about %d MB needed (layers %d MB%s, writable " \
               "layers %d MB, plus 5%%)" % (target, free_bytes >> 20, need >> 20, layers >> 20, twice, rw >> 20)
    return None
