# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""docker save and docker load over the Engine API, idempotent and checksummed.

Internal to the dockyard.migrate collection.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile

from ansible_collections.dockyard.migrate.plugins.module_utils import _archive, _docker_api, _units
from ansible_collections.dockyard.migrate.plugins.module_utils._docker_api import quote_ref


class ImageError(Exception):
    pass


def inspect(client, ref):
    try:
        return client.get("/images/%s/json" % quote_ref(ref))
    except _docker_api.DockerAPIError as exc:
        if exc.status == 404:
            raise ImageError("image %s does not exist on this host" % ref)
        raise


def resolve(client, refs):
    """The images named by refs (names or IDs), each once: [{id, tags, size, ref}]."""
    seen = {}
    for ref in refs:
        info = inspect(client, ref)
        iid = info["Id"]
        entry = seen.setdefault(iid, {"id": iid, "tags": sorted(t for t in info.get("RepoTags") or []
                                                                if t != "<none>:<none>"),
                                      "size": info.get("Size"), "refs": []})
        entry["refs"].append(ref)
    return sorted(seen.values(), key=lambda e: e["id"])


def list_all(client, filters=None):
    params = {"filters": filters} if filters else None
    return [img["Id"] for img in client.get("/images/json", params=params) or []]


def wanted_of(images):
    return sorted((i["id"], tuple(i["tags"])) for i in images)


def save(client, refs, dest, compression="none", check_mode=False, force=False):
    """Write the images into one archive at dest with a sidecar.  Returns a result dict."""
    if not refs:
        raise ImageError("no images to save: give names or IDs, or all with filters")
    if compression not in ("none", "gzip", "zstd"):
        raise ImageError("compression %r is not one of none, gzip, zstd" % compression)
    if compression == "zstd" and not _archive.zstd_available():
        raise ImageError("compression zstd needs the zstd command on this host; use gzip or install zstd")
    directory = os.path.dirname(os.path.abspath(dest))
    if not os.path.isdir(directory):
        raise ImageError("the directory %s for dest does not exist" % directory)
    if os.path.isdir(dest):
        raise ImageError("dest %s is a directory; give the archive's file name" % dest)
    images = resolve(client, refs)
    result = {"changed": False, "dest": dest, "images": images, "sidecar": _archive.sidecar_path(dest)}
    if os.path.exists(dest) and not force:
        try:
            side = _archive.read_sidecar(dest)
            if side and wanted_of(side.get("images", [])) == wanted_of(images) and \
                    side.get("compression") == compression:
                _archive.verify(dest, side)
                result.update(sha256=side["sha256"], size=side["size"])
                return result
        except _archive.ArchiveError:
            pass
    result["changed"] = True
    need = sum(i.get("size") or 0 for i in images)
    st = os.statvfs(directory)
    free = st.f_bavail * st.f_frsize
    if free < need:
        raise ImageError("not enough space in %s for the archive: %s free, up to %s needed" % (
            directory, _units.human(free), _units.human(need)))
    if check_mode:
        return result
    names = []
    for img in images:
        # Save by tag so the tags travel; an untagged image by its ID.
        names.extend(img["tags"] or [img["id"]])
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(dest), suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        writer = _archive.HashingWriter(tmp, compression)
        try:
            with client.stream("GET", "/images/get", params={"names": tuple(names)}) as resp:
                for chunk in resp.iter_chunks():
                    writer.feed(chunk)
        finally:
            digest = writer.close()
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except Exception:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    side = _archive.write_sidecar(dest, [{"id": i["id"], "tags": i["tags"], "size": i["size"]} for i in images],
                                  compression, digest)
    result.update(sha256=digest, size=side["size"])
    return result


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


def load(client, src, check_mode=False, verify_sidecar=True):
    """Load an archive (plain, gzip, zstd or xz); refuse it when its sidecar does not match."""
    if not os.path.isfile(src):
        raise ImageError("src %s does not exist or is not a file" % src)
    try:
        side = _archive.verify(src) if verify_sidecar else None
        compression = _archive.detect_compression(src)
        if side is not None and side.get("compression") not in (None, compression):
            raise _archive.ArchiveError("%s is %s compressed but its sidecar says %s" % (
                src, compression, side.get("compression")))
        images = side["images"] if side else [
            {"id": i["id"], "tags": i["tags"]} for i in _archive.read_save_manifest(src, compression)]
    except _archive.ArchiveError as exc:
        raise ImageError(str(exc))
    result = {"changed": False, "src": src, "images": images, "verified": side is not None,
              "compression": compression}
    missing = present(client, images)
    result["loaded"] = missing
    if not missing:
        return result
    result["changed"] = True
    if check_mode:
        return result
    stream = _archive.open_plain(src, compression)
    messages = []
    try:
        with client.stream("POST", "/images/load", params={"quiet": True}, body=stream,
                           headers={"Content-Type": "application/x-tar"}) as resp:
            for msg in resp.iter_json_lines():
                if msg.get("error") or msg.get("errorDetail"):
                    raise ImageError("Docker refused the archive %s: %s" % (
                        src, msg.get("error") or msg["errorDetail"].get("message")))
                if msg.get("stream"):
                    messages.append(msg["stream"].strip())
    finally:
        try:
            stream.close()
        except _archive.ArchiveError as exc:
            raise ImageError(str(exc))
    result["messages"] = messages
    still = present(client, images)
    if still:
        raise ImageError("after loading %s these images are still missing: %s" % (
            src, ", ".join(i["id"] for i in still)))
    return result
