# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""docker save and docker load over the Engine API, idempotent and checksummed.

Internal to the dockyard.migrate collection.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import shutil
import subprocess
import tempfile

from ansible.module_utils.six.moves.urllib.error import URLError
from ansible.module_utils.six.moves.urllib.parse import urlparse
from ansible.module_utils.urls import open_url

from ansible_collections.dockyard.migrate.plugins.module_utils import _archive, _copy, _docker_api, _units
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


def write_stream(client, path, dest, compression, params=None, after=None):
    """Stream GET path into dest through a temporary file beside it; return the sha256 on disk.

    ``after`` runs once the stream has ended, whatever happened (to unpause a container, say).
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
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except Exception:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return digest


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


def save(client, refs, dest, compression="none", check_mode=False, force=False):
    """Write the images into one archive at dest with a sidecar.  Returns a result dict."""
    if not refs:
        raise ImageError("no images to save: give names or IDs, or all with filters")
    directory = check_dest(dest, compression)
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
    digest = write_stream(client, "/images/get", dest, compression, params={"names": tuple(names)})
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
    if not _to_load(client, result, images, check_mode):
        return result
    stream = _archive.open_plain(src, compression)
    try:
        result["messages"], error = _post_load(client, stream)
    finally:
        try:
            stream.close()
        except _archive.ArchiveError as exc:
            raise ImageError(str(exc))
    if error:
        raise ImageError("Docker refused the archive %s: %s" % (src, error))
    _check_loaded(client, images, src)
    return result


def _to_load(client, result, images, check_mode):
    """Record which images are missing; True when they must be loaded now."""
    missing = present(client, images)
    result["loaded"] = missing
    result["changed"] = bool(missing)
    return bool(missing) and not check_mode


def _post_load(client, body):
    """Stream BODY into docker load; return Docker's messages and its error (None when it took the archive)."""
    messages, error = [], None
    with client.stream("POST", "/images/load", params={"quiet": True}, body=body,
                       headers={"Content-Type": "application/x-tar"}) as resp:
        for msg in resp.iter_json_lines():
            if msg.get("error") or msg.get("errorDetail"):
                error = error or msg.get("error") or msg["errorDetail"].get("message")
            elif msg.get("stream"):
                messages.append(msg["stream"].strip())
    return messages, error


def _check_loaded(client, images, what):
    still = present(client, images)
    if still:
        raise ImageError("after loading %s these images are still missing: %s" % (
            what, ", ".join(i["id"] for i in still)))


def load_command(client, argv, images, check_mode=False):
    """Stream the archive a command writes to its stdout (for example ``ssh SOURCE docker save ...``) into
    docker load, with no file in between.  IMAGES (id and tags) are what the stream must bring: when they are
    all present nothing runs; afterwards each must be present, or the load is an error."""
    if not argv or not all(isinstance(a, str) and a for a in argv):
        raise ImageError("src_command must be a non-empty list of arguments, got %r" % (argv,))
    if not images or not all(isinstance(i, dict) and i.get("id") for i in images):
        raise ImageError("images must list what src_command brings, each with an id")
    images = [{"id": i["id"], "tags": list(i.get("tags") or [])} for i in images]
    result = {"changed": False, "src_command": list(argv), "images": images, "verified": False,
              "compression": "none"}
    if not _to_load(client, result, images, check_mode):
        return result
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                close_fds=True)
    except OSError as exc:
        raise ImageError("src_command %s could not start: %s" % (argv[0], exc))
    _widen_pipe(proc.stdout)
    counted = _CountingReader(proc.stdout)
    err = []
    drain = _copy.drain_lines(proc.stderr, err)  # a chatty command must not block on a full stderr pipe
    failure = None
    try:
        messages, error = _post_load(client, counted)
        if error:
            failure = "Docker refused the stream of %s: %s" % (argv[0], error)
    finally:
        if not counted.eof and proc.poll() is None:
            proc.kill()  # Docker stopped reading before the end: the command must not hang on a full pipe
        proc.stdout.close()
        rc = proc.wait()
        drain.join(10)
    if rc != 0:
        # The command's own failure is the cause; what Docker made of the cut stream follows from it.
        said = " | ".join(line for line in err[-3:] if line.strip()) or "no message"
        failure = "src_command failed (rc=%d): %s%s" % (rc, said, "; %s" % failure if failure else "")
    if failure:
        raise ImageError(failure)
    result["messages"] = messages
    result["bytes"] = counted.count
    _check_loaded(client, images, "the stream of %s" % argv[0])
    return result


def _widen_pipe(stream, size=1 << 20):
    """A larger pipe lets the command keep writing while the last chunk goes to Docker (Linux only)."""
    try:
        import fcntl
        fcntl.fcntl(stream.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), size)
    except (ImportError, OSError, ValueError):
        pass


class _CountingReader:
    """Hands on what the command has written so far (read1: no waiting for a full chunk), counting it."""

    def __init__(self, raw):
        self.raw = raw
        self.count = 0
        self.eof = False

    def read(self, size=-1):
        data = self.raw.read1(size) if hasattr(self.raw, "read1") else self.raw.read(size)
        self.count += len(data)
        self.eof = self.eof or not data
        return data


# ---------------------------------------------------------------- export / import

EXPORT_CONFIG_KEYS = ("Cmd", "Entrypoint", "Env", "WorkingDir", "User", "ExposedPorts", "Labels", "Volumes",
                      "StopSignal", "Healthcheck")
IMPORT_INSTRUCTIONS = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "USER", "VOLUME", "WORKDIR")
LABEL_SHA = "io.dockyard.migrate.archive-sha256"
LABEL_CHANGES = "io.dockyard.migrate.changes-sha256"


def inspect_container(client, ref):
    return _inspect(client, "container", ref)


def export_signature(info, changes):
    """What decides whether an earlier export of this container still stands."""
    state = info.get("State") or {}
    return {"id": info["Id"], "started": state.get("StartedAt"), "finished": state.get("FinishedAt"),
            "running": bool(state.get("Running")),
            "changes": sorted("%s %s" % (c.get("Kind"), c.get("Path")) for c in changes or [])}


def export_container(client, ref, dest, pause=False, compression="none", check_mode=False, force=False):
    """docker export with a sidecar holding the configuration export drops."""
    check_dest(dest, compression)
    info = inspect_container(client, ref)
    cid = info["Id"]
    changes = client.get("/containers/%s/changes" % cid) or []
    sig = export_signature(info, changes)
    config = dict((k, (info.get("Config") or {}).get(k)) for k in EXPORT_CONFIG_KEYS)
    mounts = [{"type": m.get("Type"), "name": m.get("Name"), "source": m.get("Source"),
               "destination": m.get("Destination")} for m in info.get("Mounts") or []]
    warnings = []
    if mounts:
        warnings.append("container %s has %d volume(s) or bind mount(s) (%s) whose data the archive does not hold"
                        % (info.get("Name", "").lstrip("/"), len(mounts),
                           ", ".join(m["destination"] for m in mounts)))
    result = {"changed": False, "dest": dest, "sidecar": _archive.sidecar_path(dest), "container": cid,
              "config": config, "mounts": mounts, "warnings": warnings}
    if os.path.exists(dest) and not force and not sig["running"]:
        try:
            side = _archive.read_sidecar(dest)
            if side and side.get("kind") == "docker-export" and side.get("signature") == sig and \
                    side.get("compression") == compression:
                _archive.verify(dest, side)
                result.update(sha256=side["sha256"], size=side["size"])
                return result
        except _archive.ArchiveError:
            pass
    result["changed"] = True
    if check_mode:
        return result
    paused = False
    if pause and sig["running"] and not (info.get("State") or {}).get("Paused"):
        client.post("/containers/%s/pause" % cid)
        paused = True
    unpause = (lambda: client.post("/containers/%s/unpause" % cid)) if paused else None
    digest = write_stream(client, "/containers/%s/export" % cid, dest, compression, after=unpause)
    side = _archive.write_sidecar(dest, [], compression, digest, kind="docker-export", extra={
        "container": {"id": cid, "name": info.get("Name", "").lstrip("/"),
                      "image": (info.get("Config") or {}).get("Image"), "image_id": info.get("Image")},
        "config": config, "mounts": mounts, "signature": sig, "paused": paused})
    result.update(sha256=digest, size=side["size"], paused=paused)
    return result


def validate_changes(changes):
    """Check Dockerfile instructions for docker import; return them, or raise naming the bad one."""
    out = []
    for change in changes or []:
        text = str(change).strip()
        word = text.split(None, 1)[0].upper() if text else ""
        if word not in IMPORT_INSTRUCTIONS:
            raise ImageError("changes entry %r: %s is not an instruction docker import accepts (%s)" % (
                change, word or "an empty line", ", ".join(IMPORT_INSTRUCTIONS)))
        arg = text[len(word):].strip()
        if not arg:
            raise ImageError("changes entry %r: %s needs an argument" % (change, word))
        if arg.startswith("[") and word in ("CMD", "ENTRYPOINT", "VOLUME"):
            try:
                value = json.loads(arg)
            except ValueError as exc:
                raise ImageError("changes entry %r: the JSON array is not valid: %s" % (change, exc))
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ImageError("changes entry %r: the JSON form must be an array of strings" % (change,))
        if word in ("ENV", "LABEL") and "=" not in arg and len(arg.split(None, 1)) < 2:
            raise ImageError("changes entry %r: %s needs KEY=VALUE" % (change, word))
        out.append(word + " " + arg)
    return out


def config_changes(config):
    """Dockerfile instructions that restore what docker export dropped (as far as import allows)."""
    out = []
    if config.get("Entrypoint"):
        out.append("ENTRYPOINT " + json.dumps(config["Entrypoint"]))
    if config.get("Cmd"):
        out.append("CMD " + json.dumps(config["Cmd"]))
    for env in config.get("Env") or []:
        key, _sep, value = env.partition("=")
        out.append("ENV %s=%s" % (key, json.dumps(value)))
    if config.get("WorkingDir"):
        out.append("WORKDIR " + config["WorkingDir"])
    if config.get("User"):
        out.append("USER " + config["User"])
    for port in sorted(config.get("ExposedPorts") or {}):
        out.append("EXPOSE " + port)
    for key, value in sorted((config.get("Labels") or {}).items()):
        out.append("LABEL %s=%s" % (json.dumps(key), json.dumps(value)))
    if config.get("Volumes"):
        out.append("VOLUME " + json.dumps(sorted(config["Volumes"])))
    return out


def split_name(name):
    """repo and tag of name:tag (tag 'latest' when absent)."""
    if not name or name != name.strip() or " " in name:
        raise ImageError("name %r is not an image name such as test/ubuntu:v1.0" % (name,))
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = name.rsplit(":", 1)
    else:
        repo, tag = name, "latest"
    if not repo or not tag or repo != repo.lower():
        raise ImageError("name %r is not an image name such as test/ubuntu:v1.0 (repository names are lower case)"
                         % (name,))
    return repo, tag


def import_image(client, src, name, changes=None, restore_config=False, message=None, check_mode=False,
                 verify_sidecar=True):
    """docker import of a local archive (or a URL the daemon fetches) into name:tag, idempotently."""
    repo, tag = split_name(name)
    changes = validate_changes(changes)
    if src.startswith(("http://", "https://")):
        tmpdir = tempfile.mkdtemp(prefix="dockyard-import-")
        try:
            local = download(src, tmpdir)
            result = import_image(client, local, name, changes, restore_config, message, check_mode, verify_sidecar)
            result["src"] = src
            return result
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
    if not os.path.isfile(src):
        raise ImageError("src %s does not exist or is not a file" % src)
    try:
        side = _archive.verify(src) if verify_sidecar else _archive.read_sidecar(src)
    except _archive.ArchiveError as exc:
        raise ImageError(str(exc))
    restored = []
    if restore_config:
        if not side or side.get("kind") != "docker-export":
            raise ImageError("restore_config needs the sidecar %s written by container_export" % (
                _archive.sidecar_path(src)))
        restored = config_changes(side.get("config") or {})
    all_changes = restored + changes
    digest = side["sha256"] if side else _archive.sha256_file(src)
    changes_sha = hashlib_sha256("\n".join(all_changes))
    result = {"changed": False, "name": "%s:%s" % (repo, tag), "src": src, "changes": all_changes,
              "restored": restored, "sha256": digest}
    try:
        existing = client.get("/images/%s/json" % quote_ref("%s:%s" % (repo, tag)))
    except _docker_api.DockerAPIError as exc:
        if exc.status != 404:
            raise
        existing = None
    if existing:
        labels = (existing.get("Config") or {}).get("Labels") or {}
        if labels.get(LABEL_SHA) == digest and labels.get(LABEL_CHANGES) == changes_sha:
            result["id"] = existing["Id"]
            return result
    result["changed"] = True
    if check_mode:
        return result
    final = all_changes + ['LABEL %s="%s"' % (LABEL_SHA, digest), 'LABEL %s="%s"' % (LABEL_CHANGES, changes_sha)]
    params = {"repo": repo, "tag": tag, "changes": tuple(final), "message": message, "fromSrc": "-"}
    try:
        body = _archive.open_plain(src)
    except _archive.ArchiveError as exc:
        raise ImageError(str(exc))
    try:
        with client.stream("POST", "/images/create", params=params, body=body,
                           headers={"Content-Type": "application/x-tar"}) as resp:
            for msg in resp.iter_json_lines():
                if msg.get("error") or msg.get("errorDetail"):
                    raise ImageError("Docker refused to import %s: %s" % (
                        src, msg.get("error") or msg["errorDetail"].get("message")))
    finally:
        try:
            body.close()
        except _archive.ArchiveError as exc:
            raise ImageError(str(exc))
    result["id"] = client.get("/images/%s/json" % quote_ref("%s:%s" % (repo, tag)))["Id"]
    return result


def hashlib_sha256(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def download(url, directory, timeout=60):
    """Fetch url (and its sidecar url.json, when there is one) into directory, streamed."""
    name = os.path.basename(urlparse(url).path) or "archive"
    dest = os.path.join(directory, name)
    try:
        with open_url(url, timeout=timeout) as resp, open(dest, "wb") as f:
            shutil.copyfileobj(resp, f, 1024 * 1024)
    except (URLError, OSError, ValueError) as exc:
        raise ImageError("cannot download %s: %s" % (url, exc))
    try:
        with open_url(url + ".json", timeout=timeout) as resp, open(dest + ".json", "wb") as f:
            shutil.copyfileobj(resp, f)
    except (URLError, OSError, ValueError):
        if os.path.exists(dest + ".json"):
            os.unlink(dest + ".json")
    return dest


def info(client, refs):
    """The images refs name that exist here ([{id, tags, size, refs}]) and the refs that name nothing."""
    found = {}
    missing = []
    for ref in refs:
        try:
            img = inspect(client, ref)
        except ImageError:
            missing.append(ref)
            continue
        entry = found.setdefault(img["Id"], {"id": img["Id"], "tags": sorted(
            t for t in img.get("RepoTags") or [] if t != "<none>:<none>"), "size": img.get("Size"), "refs": []})
        entry["refs"].append(ref)
    return sorted(found.values(), key=lambda e: e["id"]), missing
