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

from ansible_collections.dockyard.migrate.plugins.module_utils import _docker_api
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


def present(client, images):
    """Which of the archive's images are missing (by ID) or lack a tag here."""
    missing = []
    for img in images:
        try:
            info = client.get("/images/%s/json" % quote_ref(img["id"]))
        except _docker_api.DockerAPIError as exc:
            if exc.status == 404:
                missing.append(img)
                continue
            raise
        have = set(info.get("RepoTags") or [])
        if not set(img.get("tags") or []) <= have:
            missing.append(img)
    return missing


def info(client, refs):
    """The images refs name that exist here ([{id, tags, size, layers, refs}]) and the refs that name nothing."""
    found = {}
    missing = []
    for ref in refs:
        try:
            img = inspect(client, ref)
        except ImageError:
            missing.append(ref)
            continue
        entry = found.setdefault(img["Id"], {"id": img["Id"], "tags": sorted(
            t for t in img.get("RepoTags") or [] if t != "<none>:<none>"), "size": img.get("Size"),
            "layers": list((img.get("RootFS") or {}).get("Layers") or []), "refs": []})
        entry["refs"].append(ref)
    return sorted(found.values(), key=lambda e: e["id"]), missing
