# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The images and containers on this host, looked up over the Engine API.

Internal to the dockyard.migrate collection.  Archives (save/load) live in _image_archive,
streamed loads in _image_stream, container snapshots in _snapshot and downloads in _download.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.dockyard.migrate.plugins.module_utils import _docker_api, _layer_store, _layers
from ansible_collections.dockyard.migrate.plugins.module_utils._docker_api import quote_ref


class ImageError(Exception):
    pass


def _inspect(client, kind, ref):
    """GET /KINDs/REF/json; a missing object is an ImageError naming it."""
    try:
        return client.get("/%ss/%s/json" % (kind, quote_ref(ref)))
    except _docker_api.DockerAPIError as exc:
        if exc.status == 404:
            raise ImageError("%s %s does not exist on this host" % (kind, ref))
        raise


def inspect(client, ref):
    return _inspect(client, "image", ref)


def inspect_container(client, ref):
    return _inspect(client, "container", ref)


def resolve(client, refs):
    """The images named by refs (names or IDs), each once: [{id, tags, size, refs}]; every ref must exist."""
    images, missing = info(client, refs)
    if missing:
        raise ImageError("image %s does not exist on this host" % missing[0])
    return images


def list_all(client, filters=None):
    params = {"filters": filters} if filters else None
    return [img["Id"] for img in client.get("/images/json", params=params) or []]


def wanted_of(images):
    return sorted((i["id"], tuple(i["tags"])) for i in images)


class Identity:
    """An image's identity that holds across image stores: the digest of its configuration.

    The classic store's image ID is that digest.  The containerd image store's ID is the digest of the image's
    manifest (or index), which differs between stores and between a save and a load: there the configuration's
    digest is read from the manifest in containerd's content store.
    """

    def __init__(self, client):
        self.client = client
        self._blobs = False

    def blobs(self):
        if self._blobs is False:
            self._blobs = _layers.containerd_blobs() if _layer_store.uses_containerd_store(self.client.info()) else None
        return self._blobs

    def config(self, inspected):
        """The config digest of an inspected image, or None when this host cannot tell it."""
        if self.blobs() is None:
            return inspected.get("Id")
        doc = self.manifest(inspected)
        return doc["config"].get("digest") if doc else None

    def layer_blobs(self, inspected):
        """The digests of the blobs that hold the image's layers, in order, where the containerd store keeps them
        (compressed, they are not the layers' diff IDs); None on the classic store or when they cannot be told."""
        doc = self.manifest(inspected) if self.blobs() is not None else None
        layers = [entry.get("digest") for entry in (doc or {}).get("layers") or [] if isinstance(entry, dict)]
        if not layers or len(layers) != len((inspected.get("RootFS") or {}).get("Layers") or []):
            return None
        return layers

    def manifest(self, inspected):
        """The image's manifest in containerd's content store (through an index, perhaps nested), or None."""
        digest = inspected.get("Id")
        for _step in range(3):
            doc = _read_blob(self.blobs(), digest) if digest else None
            if doc is None:
                return None
            if isinstance(doc.get("config"), dict):
                return doc
            digest = _platform_manifest(doc.get("manifests") or [], inspected)
        return None


def _read_blob(blob_dir, digest):
    path = os.path.join(blob_dir, str(digest).split(":", 1)[-1])
    try:
        if os.path.getsize(path) > (4 << 20):  # an index or manifest, never a layer
            return None
        with open(path, "rb") as f:
            doc = json.loads(f.read().decode("utf-8"))
    except (IOError, OSError, ValueError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def _platform_manifest(manifests, inspected):
    """The manifest of an index that is the inspected image's platform (the only one, when it names none)."""
    want = (inspected.get("Os"), inspected.get("Architecture"))
    images = [m for m in manifests if isinstance(m, dict) and m.get("digest")
              and (m.get("platform") or {}).get("os") != "unknown"]  # attestation manifests name os unknown
    for m in images:
        platform = m.get("platform") or {}
        if (platform.get("os"), platform.get("architecture")) == want:
            return m["digest"]
    return images[0]["digest"] if len(images) == 1 else None


def wanted_identity(img):
    """What a wanted image is, across stores: its config digest when the source gave it, else its ID."""
    return img.get("config") or img["id"]


def present(client, images):
    """Which of the wanted images are missing here or lack a tag.

    An image is found by its ID, or, where this host's image store gives it another ID (the containerd store),
    by its tags: each must name an image whose configuration digest is the wanted image's.
    """
    ident = Identity(client)
    missing = []
    for img in images:
        try:
            info = client.get("/images/%s/json" % quote_ref(img["id"]))
        except _docker_api.DockerAPIError as exc:
            if exc.status != 404:
                raise
            if not _tags_hold(client, ident, img):
                missing.append(img)
            continue
        have = set(info.get("RepoTags") or [])
        if not set(img.get("tags") or []) <= have:
            missing.append(img)
    return missing


def _tags_hold(client, ident, img):
    """True when every tag of IMG names, here, an image with IMG's configuration digest."""
    tags = img.get("tags") or []
    if not tags:
        return _untagged_present(client, ident, img)
    for tag in tags:
        try:
            found = client.get("/images/%s/json" % quote_ref(tag))
        except _docker_api.DockerAPIError as exc:
            if exc.status == 404:
                return False
            raise
        if ident.config(found) != wanted_identity(img):
            return False
    return True


def _untagged_present(client, ident, img):
    if ident.blobs() is None:
        return False  # the classic store's IDs are config digests: the lookup by ID was the whole answer
    for entry in client.get("/images/json", params={"all": True}) or []:
        if ident.config({"Id": entry.get("Id")}) == wanted_identity(img):
            return True
    return False


def info(client, refs):
    """The images refs name that exist here ([{id, config, blobs, tags, size, layers, refs}]) and the refs that
    name nothing.  config is the digest of the image's configuration (see Identity), None when it cannot be told;
    blobs the digests of the layers' blobs where the containerd store keeps them, else None."""
    ident = Identity(client)
    found = {}
    missing = []
    for ref in refs:
        try:
            img = inspect(client, ref)
        except ImageError:
            missing.append(ref)
            continue
        entry = found.setdefault(img["Id"], {"id": img["Id"], "config": ident.config(img),
                                             "blobs": ident.layer_blobs(img), "tags": sorted(
            t for t in img.get("RepoTags") or [] if t != "<none>:<none>"), "size": img.get("Size"),
            "layers": list((img.get("RootFS") or {}).get("Layers") or []), "refs": []})
        entry["refs"].append(ref)
    return sorted(found.values(), key=lambda e: e["id"]), missing
