# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Write a ``docker load`` archive of images straight from the classic image store's files, holding only the
layers a destination lacks.  Internal to the dockyard.migrate collection.

Like _layer_filter, this file runs on the SOURCE host inside the program _image_stream.filter_program() sends
(standard library only).  ``docker save`` reads every layer of the images and writes the whole archive to a
temporary directory before the first byte leaves; this reads only the layers that are sent, and streams them at
once.  A layer's tar is put together as Docker itself does (its layer store's tar-split record: the tar's headers
and padding verbatim, each file's bytes from the layer's ``diff`` directory), so it is byte for byte the tar whose
digest is the layer's diff ID.

Used only where every piece is where the classic store keeps it: the overlay2 driver (a layer's files in
``overlay2/CACHE/diff``) or vfs (in ``vfs/dir/CACHE``, the whole tree as of that layer, in which the files the layer
holds have the layer's content), the image's configuration in ``image/DRIVER/imagedb`` with the image's ID as its
digest, each layer's record in ``layerdb`` naming the same diff ID.  Everything is checked before the first byte
is written; anything else (the containerd image store, another driver, a store this user cannot read, a name given
by digest) raises Unusable and ``docker save`` is used.
The destination's engine checks every layer it loads against its diff ID and loads nothing from an archive that
fails; a file that changed size while it was read stops the stream here.

The archive is laid out as ``docker save`` of Docker 25 and newer writes it (blobs/sha256, an OCI index and
manifests, and manifest.json), which Docker 20.10 loads through manifest.json and the containerd image store
through the index.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import gzip
import hashlib
import json
import os
import re
import stat
import subprocess
import tarfile
import time
import zlib

BLOCK = 512
STEP = 1 << 20
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
_SIZE = re.compile(rb'"size":(\d+)')
_PAYLOAD = re.compile(rb'"payload":"([^"]*)"')
_ID = re.compile(r"^(sha256:)?[0-9a-f]{12,64}$")
# Where each graph driver keeps a layer's files: DockerRootDir/DIR/CACHE/INSIDE.
LAYER_DIRS = {"overlay2": ("overlay2", ("diff",)), "vfs": (os.path.join("vfs", "dir"), ())}


class Unusable(Exception):
    """The store's files cannot give these images; docker save must."""


def chain_ids(diff_ids):
    """The chain ID of each layer of an image, given its diff IDs in order."""
    out = []
    for diff in diff_ids:
        out.append(diff if not out else "sha256:" + hashlib.sha256(
            ("%s %s" % (out[-1], diff)).encode("ascii")).hexdigest())
    return out


def uses_containerd_store(info):
    """Whether the engine (its ``docker info``) keeps images in containerd's image store."""
    return any(pair and pair[-1] == "io.containerd.snapshotter.v1" for pair in info.get("DriverStatus") or [])


def familiar(name):
    """A reference as docker lists it in RepoTags: no docker.io/ (nor library/ under it), a tag always."""
    for prefix in ("docker.io/", "index.docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    if name.startswith("library/") and name.count("/") == 1:
        name = name[len("library/"):]
    if not tagged(name):
        name += ":latest"
    return name


def tagged(name):
    return ":" in name.rsplit("/", 1)[-1]


def _docker_json(argv):
    try:
        out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unusable("%s failed: %s" % (" ".join(argv[:3]), exc))
    if out.returncode != 0:
        raise Unusable("%s failed: %s" % (" ".join(argv[:3]), out.stderr.decode("utf-8", "replace").strip()[-300:]))
    return json.loads(out.stdout.decode("utf-8"))


class Store:
    """The classic store of the engine the docker CLI talks to, checked to hold what the archive needs."""

    def __init__(self, info):
        if uses_containerd_store(info):
            raise Unusable("the source keeps images in containerd's image store")
        driver = info.get("Driver")
        if driver not in LAYER_DIRS:
            raise Unusable("the source's storage driver is %s, not overlay2 or vfs" % driver)
        if os.environ.get("DOCKER_HOST") or os.environ.get("DOCKER_CONTEXT"):
            raise Unusable("DOCKER_HOST or DOCKER_CONTEXT is set: the engine may not be on this host")
        if os.geteuid() != 0:
            raise Unusable("the login is not root: a layer's files belong to the image's own users")
        root = info.get("DockerRootDir") or ""
        self.root = root
        self.meta = os.path.join(root, "image", driver)
        self.layers = os.path.join(root, LAYER_DIRS[driver][0])
        self.inside = LAYER_DIRS[driver][1]
        if not os.access(os.path.join(self.meta, "layerdb", "sha256"), os.R_OK | os.X_OK):
            raise Unusable("%s is not readable here" % self.meta)
        try:
            with open(os.path.join(root, "engine-id")) as f:
                engine = f.read().strip()
        except (IOError, OSError):
            engine = None
        if engine and info.get("ID") and engine != info["ID"]:
            raise Unusable("%s belongs to another engine than the one the docker command talks to" % root)

    def config(self, image_id):
        """The image's configuration, byte for byte, checked against its ID."""
        path = os.path.join(self.meta, "imagedb", "content", "sha256", image_id.split(":", 1)[-1])
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except (IOError, OSError) as exc:
            raise Unusable("no configuration for %s in the store: %s" % (image_id, exc))
        if "sha256:" + hashlib.sha256(raw).hexdigest() != image_id:
            raise Unusable("the configuration of %s in the store does not match its ID" % image_id)
        return raw

    def layer(self, diff, chain):
        """(tar-split record path, diff directory, tar size) of a layer, checked against its diff ID."""
        rec = os.path.join(self.meta, "layerdb", "sha256", chain.split(":", 1)[-1])
        try:
            with open(os.path.join(rec, "diff")) as f:
                recorded = f.read().strip()
            with open(os.path.join(rec, "cache-id")) as f:
                cache = f.read().strip()
        except (IOError, OSError) as exc:
            raise Unusable("layer %s has no record in the store: %s" % (diff, exc))
        if recorded != diff or not cache or "/" in cache or cache.startswith("."):
            raise Unusable("layer %s: the store's record names another layer" % diff)
        split = os.path.join(rec, "tar-split.json.gz")
        tree = os.path.join(self.layers, cache, *self.inside)
        if not os.path.isfile(split) or not os.path.isdir(tree):
            raise Unusable("layer %s: no tar-split record or diff directory in the store" % diff)
        try:
            size = tar_size(split)
        except (IOError, OSError, EOFError, ValueError, zlib.error) as exc:
            raise Unusable("layer %s: its tar-split record cannot be read: %s" % (diff, exc))
        return split, tree, size


def tar_size(split):
    """The size of the layer's tar, from its tar-split record alone (segments' bytes and files' sizes)."""
    total = 0
    with gzip.open(split, "rb") as f:
        for line in f:
            if line.startswith(b'{"type":1') or b'"type":1,' in line:
                m = _SIZE.search(line)
                total += int(m.group(1)) if m else 0
            else:
                m = _PAYLOAD.search(line)
                if m:
                    data = m.group(1)
                    total += len(data) // 4 * 3 - data[-2:].count(b"=")
    return total


def _entries(split):
    with gzip.open(split, "rb") as f:
        for line in f:
            if line.strip():
                yield json.loads(line.decode("utf-8"))


def _safe_name(entry):
    """The file's path in the layer, as bytes (the name's own bytes, whatever the locale)."""
    raw = entry.get("name_raw")
    name = base64.b64decode(raw) if raw else (entry.get("name") or "").encode("utf-8", "surrogateescape")
    parts = [p for p in name.split(b"/") if p not in (b"", b".")]
    if not parts or b".." in parts:
        raise OSError("the tar-split record names an unsafe path %r" % name)
    return b"/".join(parts)


def blob(digest):
    """The archive member that holds the blob of DIGEST (sha256:HEX)."""
    return "blobs/sha256/" + digest.split(":", 1)[1]


def header(name, size, mtime=0, mode=0o644):
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.type = size, mtime, mode, tarfile.REGTYPE
    return info.tobuf(tarfile.GNU_FORMAT)


class Writer:
    """Writes tar members to a file descriptor; file bytes go from file to file descriptor in the kernel."""

    def __init__(self, outfd, progress=None):
        self.outfd = outfd
        self.sent = 0
        self.progress = progress  # called with the bytes sent so far, after each write
        self.kernel = hasattr(os, "sendfile")
        self.parents = {}

    def write(self, data):
        view = memoryview(data)
        while view:
            view = view[os.write(self.outfd, view):]
        self.sent += len(data)
        if self.progress:
            self.progress(self.sent)

    def member(self, name, data, mtime=0):
        self.write(header(name, len(data), mtime))
        self.write(data + b"\0" * (-len(data) % BLOCK))

    def file_bytes(self, path, size):
        """Exactly SIZE bytes of the regular file at PATH (not followed if a link), which must be that long."""
        # Not a link, not a pipe (O_NONBLOCK: opening a FIFO must not wait for a writer).
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size != size:
                raise OSError("%s is no longer the %d-byte file the layer recorded" % (os.fsdecode(path), size))
            offset = 0
            while offset < size:
                moved = 0
                if self.kernel:
                    try:
                        moved = os.sendfile(self.outfd, fd, offset, min(size - offset, STEP))
                    except OSError:
                        self.kernel = False
                        continue
                    self.sent += moved
                    if self.progress:
                        self.progress(self.sent)
                else:
                    chunk = os.pread(fd, min(size - offset, STEP), offset)
                    moved = len(chunk)
                    self.write(chunk)
                if not moved:
                    raise OSError("%s ended before its recorded %d bytes" % (os.fsdecode(path), size))
                offset += moved
        finally:
            os.close(fd)

    def layer(self, split, tree):
        """The layer's tar as Docker assembles it from its tar-split record; returns its size."""
        start = self.sent
        top = os.fsencode(tree)
        for entry in _entries(split):
            if entry.get("type") == 1:
                size = entry.get("size") or 0
                if size:
                    self.file_bytes(self.inside(top, _safe_name(entry)), size)
            elif entry.get("payload"):
                self.write(base64.b64decode(entry["payload"]))
        return self.sent - start

    def inside(self, top, name):
        """TOP/NAME, once its directory is known to resolve inside TOP (a link on the way out is refused)."""
        parent, _sep, _base = name.rpartition(b"/")
        key = (top, parent)
        if key not in self.parents:
            real = os.path.realpath(os.path.join(top, parent) if parent else top)
            self.parents[key] = real == os.path.realpath(top) or real.startswith(os.path.realpath(top) + b"/")
        if not self.parents[key]:
            raise OSError("%s leads out of the layer's directory" % os.fsdecode(name))
        return os.path.join(top, name)


class Archive:
    """The archive of NAMES for ``docker load``, without the layers whose member digests are in DROP.  ALIASES
    ({image ID named: tag}) gives an image named by its ID the tag the archive lists it under (none otherwise)."""

    def __init__(self, names, drop_members, docker="docker", aliases=None):
        self.names = list(names)
        self.drop = set(drop_members)
        self.aliases = dict(aliases or {})
        if not self.names:
            raise Unusable("no images named")
        for name in self.names:
            if "@" in name:
                raise Unusable("%s is named by digest" % name)
            if not tagged(name) and not _ID.match(name):
                raise Unusable("%s names a repository without a tag (docker save sends each of its tags)" % name)
        self.store = Store(_docker_json([docker, "info", "--format", "{{json .}}"]))
        found = _docker_json([docker, "image", "inspect"] + self.names)
        self.images = self._group(found)

    def _group(self, found):
        images, by_id = [], {}
        if len(found) != len(self.names):
            raise Unusable("docker image inspect gave %d images for %d names" % (len(found), len(self.names)))
        for name, img in zip(self.names, found):
            image_id = img.get("Id") or ""
            tags = [t for t in img.get("RepoTags") or [] if familiar(t) == familiar(name)]
            if not tags and not (_ID.match(name) and image_id.split(":")[-1].startswith(name.split(":")[-1])):
                raise Unusable("%s is neither a tag nor the ID of the image docker gives for it" % name)
            tags = tags or ([self.aliases[name]] if name in self.aliases else [])
            if image_id not in by_id:
                raw = self.store.config(image_id)
                diffs = (json.loads(raw.decode("utf-8")).get("rootfs") or {}).get("diff_ids") or []
                if diffs != ((img.get("RootFS") or {}).get("Layers") or []):
                    raise Unusable("the configuration of %s lists other layers than docker gives" % image_id)
                by_id[image_id] = {"id": image_id, "config": raw, "diffs": diffs, "tags": [],
                                   "layers": [self.store.layer(d, c) for d, c in zip(diffs, chain_ids(diffs))]}
                images.append(by_id[image_id])
            for tag in tags[:1]:
                if familiar(tag) not in by_id[image_id]["tags"]:
                    by_id[image_id]["tags"].append(familiar(tag))
        return images

    def size(self):
        """The bytes of the layers the archive holds (each once): what write() sends, but for its small members."""
        seen = {}
        for img in self.images:
            for diff, layer in zip(img["diffs"], img["layers"]):
                if diff not in self.drop:
                    seen[diff] = layer[2]
        return sum(seen.values())

    def write(self, outfd, progress=None):
        """Write the archive; returns what it held and left out.  An error names the image and the layer.
        PROGRESS, if given, is called with the bytes sent so far."""
        out = Writer(outfd, progress)
        stats = {"layout": "oci", "source": "store", "dropped_layers": 0, "dropped_bytes": 0,
                 "planned": len(self.drop)}
        sizes, now = {}, int(time.time())
        for img in self.images:
            for diff, (split, tree, size) in zip(img["diffs"], img["layers"]):
                if diff in sizes:
                    continue
                sizes[diff] = size  # the manifests give every layer's size, the dropped ones' too
                padded = size + (-size % BLOCK)
                if diff in self.drop:
                    stats["dropped_layers"] += 1
                    stats["dropped_bytes"] += BLOCK + padded
                    continue
                out.write(header(blob(diff), size, now))
                try:
                    written = out.layer(split, tree)
                except (OSError, EOFError, ValueError, zlib.error) as exc:
                    raise OSError("layer %s of %s: %s (was the image removed on the source while it was read?)" % (
                        diff, (img["tags"] or [img["id"]])[0], exc))
                if written != size:
                    raise OSError("layer %s came to %d bytes, its record says %d" % (diff, written, size))
                out.write(b"\0" * (padded - size))
        index, manifest = [], []
        for img in self.images:
            out.member(blob(img["id"]), img["config"], now)
            layers = [{"mediaType": OCI_LAYER, "digest": d, "size": sizes[d]} for d in img["diffs"]]
            doc = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                              "config": {"mediaType": OCI_CONFIG, "digest": img["id"], "size": len(img["config"])},
                              "layers": layers}, separators=(",", ":")).encode("utf-8")
            digest = "sha256:" + hashlib.sha256(doc).hexdigest()
            out.member(blob(digest), doc, now)
            entry = {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(doc)}
            index.extend([dict(entry, annotations={"io.containerd.image.name": _full(tag),
                                                   "org.opencontainers.image.ref.name": tag.rsplit(":", 1)[1]})
                          for tag in img["tags"]] or [entry])
            manifest.append({"Config": blob(img["id"]), "RepoTags": img["tags"] or None,
                             "Layers": [blob(d) for d in img["diffs"]]})
        out.member("index.json", json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                                             "manifests": index}, separators=(",", ":")).encode("utf-8"), now)
        out.member("manifest.json", json.dumps(manifest, separators=(",", ":")).encode("utf-8"), now)
        out.member("oci-layout", b'{"imageLayoutVersion": "1.0.0"}', now)
        out.write(b"\0" * (2 * BLOCK))
        stats.update(sent_bytes=out.sent, splice=out.kernel)
        return stats


def _full(tag):
    """docker.io/library/x:1 for x:1, as the containerd image store names images."""
    first = tag.split("/", 1)[0]
    if "/" not in tag:
        return "docker.io/library/" + tag
    if "." in first or ":" in first or first == "localhost":
        return tag
    return "docker.io/" + tag
