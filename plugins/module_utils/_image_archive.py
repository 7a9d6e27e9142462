# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""docker save into an archive file and docker load from one, over the Engine API, idempotent and checksummed.

Internal to the dockyard.migrate collection.  The archive format and its sidecar are in _archive.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile

from ansible.module_utils.common.text.formatters import bytes_to_human

from ansible_collections.dockyard.migrate.plugins.module_utils import _archive
from ansible_collections.dockyard.migrate.plugins.module_utils._images import ImageError, present, resolve, wanted_of


def check_dest(dest, compression):
    """Refuse an archive destination that cannot be written; return its directory."""
    if compression not in ("none", "gzip", "zstd"):
        raise ImageError("compression %r is not one of none, gzip, zstd" % compression)
    if compression == "zstd" and not _archive.zstd_available():
        raise ImageError("compression zstd needs the zstd command on this host; use gzip or install zstd")
    directory = os.path.dirname(os.path.abspath(dest))
    if not os.path.isdir(directory):
        raise ImageError("the directory %s for dest does not exist" % directory)
    if os.path.isdir(dest):
        raise ImageError("dest %s is a directory; give the archive's file name" % dest)
    return directory


def write_stream(client, path, dest, compression, params=None, after=None, mode=_archive.DEFAULT_MODE):
    """Stream GET path into dest through a temporary file beside it; return the sha256 on disk.

    ``after`` runs once the stream has ended, whatever happened (to unpause a container, say).  The temporary
    file is private from the start (mkstemp) and gets ``mode`` before it is renamed into place.
    """
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(dest), suffix=".tmp",
                               dir=os.path.dirname(os.path.abspath(dest)))
    os.close(fd)
    try:
        writer = _archive.HashingWriter(tmp, compression)
        try:
            with client.stream("GET", path, params=params) as resp:
                for chunk in resp.iter_chunks():
                    writer.feed(chunk)
        finally:
            digest = writer.close()
            if after is not None:
                after()
        os.chmod(tmp, mode)
        os.replace(tmp, dest)
    except Exception:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return digest


def _saved_already(dest, images, compression):
    """The sidecar of an archive at dest that already holds these images, verified; None otherwise."""
    try:
        side = _archive.read_sidecar(dest)
        if side and wanted_of(side.get("images", [])) == wanted_of(images) and \
                side.get("compression") == compression:
            return _archive.verify(dest, side)
    except _archive.ArchiveError:
        pass
    return None


def parse_mode(value):
    """The ``mode`` option as permission bits, or ImageError naming the bad value."""
    try:
        return _archive.parse_mode(value)
    except _archive.ArchiveError as exc:
        raise ImageError(str(exc))


def keep_archive(result, dest, mode, check_mode):
    """An archive that still stands: only its and its sidecar's modes may need setting.  Returns result."""
    fix = _archive.modes_to_fix(dest, mode)
    result["changed"] = bool(fix)
    if fix and not check_mode:
        _archive.set_modes(fix, mode)
    return result


def save(client, refs, *, dest, compression="none", check_mode=False, force=False, mode=_archive.DEFAULT_MODE):
    """Write the images into one archive at dest with a sidecar.  Returns a result dict."""
    mode = parse_mode(mode)
    if not refs:
        raise ImageError("no images to save: give names or IDs, or all with filters")
    directory = check_dest(dest, compression)
    images = resolve(client, refs)
    result = {"changed": False, "dest": dest, "images": images, "sidecar": _archive.sidecar_path(dest),
              "mode": _archive.format_mode(mode)}
    side = _saved_already(dest, images, compression) if os.path.exists(dest) and not force else None
    if side:
        result.update(sha256=side["sha256"], size=side["size"])
        return keep_archive(result, dest, mode, check_mode)
    result["changed"] = True
    need = sum(i.get("size") or 0 for i in images)
    st = os.statvfs(directory)
    free = st.f_bavail * st.f_frsize
    if free < need:
        raise ImageError("not enough space in %s for the archive: %s free, up to %s needed" % (
            directory, bytes_to_human(free), bytes_to_human(need)))
    if check_mode:
        return result
    names = []
    for img in images:
        # Save by tag so the tags travel; an untagged image by its ID.
        names.extend(img["tags"] or [img["id"]])
    digest = write_stream(client, "/images/get", dest, compression, params={"names": tuple(names)}, mode=mode)
    side = _archive.write_sidecar(dest, [{"id": i["id"], "tags": i["tags"], "size": i["size"]} for i in images],
                                  compression, digest, mode=mode)
    result.update(sha256=digest, size=side["size"])
    return result


def _archive_images(src, verify_sidecar):
    """The archive's sidecar (when verified), its compression and the images it holds."""
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
    return side, compression, images


def load(client, src, *, check_mode=False, verify_sidecar=True):
    """Load an archive (plain, gzip, zstd or xz); refuse it when its sidecar does not match."""
    if not os.path.isfile(src):
        raise ImageError("src %s does not exist or is not a file" % src)
    side, compression, images = _archive_images(src, verify_sidecar)
    result = {"changed": False, "src": src, "images": images, "verified": side is not None,
              "compression": compression}
    if not to_load(client, result, images, check_mode):
        return result
    stream = _archive.open_plain(src, compression)
    try:
        result["messages"], error = post_load(client, stream)
    finally:
        try:
            stream.close()
        except _archive.ArchiveError as exc:
            raise ImageError(str(exc))
    if error:
        raise ImageError("Docker refused the archive %s: %s" % (src, error))
    check_loaded(client, images, src)
    return result


def to_load(client, result, images, check_mode):
    """Record which images are missing; True when they must be loaded now."""
    missing = present(client, images)
    result["loaded"] = missing
    result["changed"] = bool(missing)
    return bool(missing) and not check_mode


def post_load(client, body, timeout=None):
    """Stream BODY into docker load; return Docker's messages and its error (None when it took the archive).
    TIMEOUT (seconds, the client's own when None) bounds each wait: Docker answers only once it registered an
    image's layers."""
    messages, error = [], None
    with client.stream("POST", "/images/load", params={"quiet": True}, body=body,
                       headers={"Content-Type": "application/x-tar"}, timeout=timeout) as resp:
        for msg in resp.iter_json_lines():
            if msg.get("error") or msg.get("errorDetail"):
                error = error or msg.get("error") or msg["errorDetail"].get("message")
            elif msg.get("stream"):
                messages.append(msg["stream"].strip())
    return messages, error


def check_loaded(client, images, what):
    still = present(client, images)
    if still:
        raise ImageError("after loading %s these images are still missing: %s" % (
            what, ", ".join(i["id"] for i in still)))
