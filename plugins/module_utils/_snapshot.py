# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Container snapshots: docker export with a sidecar holding what export drops, and docker import of such an
archive (or any tar, local or at a URL) into an image, idempotently.

Internal to the dockyard.migrate collection.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re
import shutil
import tempfile

from ansible_collections.dockyard.migrate.plugins.module_utils import _archive, _docker_api
from ansible_collections.dockyard.migrate.plugins.module_utils._docker_api import quote_ref
from ansible_collections.dockyard.migrate.plugins.module_utils._download import download
from ansible_collections.dockyard.migrate.plugins.module_utils._image_archive import check_dest, keep_archive, \
    parse_mode, write_stream
from ansible_collections.dockyard.migrate.plugins.module_utils._images import ImageError, inspect_container

EXPORT_CONFIG_KEYS = ("Cmd", "Entrypoint", "Env", "WorkingDir", "User", "ExposedPorts", "Labels", "Volumes",
                      "StopSignal", "Healthcheck")
IMPORT_INSTRUCTIONS = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "USER", "VOLUME", "WORKDIR")
LABEL_SHA = "io.dockyard.migrate.archive-sha256"
LABEL_CHANGES = "io.dockyard.migrate.changes-sha256"
REDACTED = "********"


# ---------------------------------------------------------------- redaction

def redact_env(env):
    """Config.Env with every value replaced (the names kept): environments usually carry credentials."""
    out = []
    for entry in env or []:
        key, sep, _value = str(entry).partition("=")
        out.append(key + sep + REDACTED if sep else key)
    return out


def redacted_config(config):
    """A copy of an exported configuration fit for a result or a diff: Env values redacted."""
    out = dict(config or {})
    if out.get("Env"):
        out["Env"] = redact_env(out["Env"])
    return out


def redact_changes(changes):
    """Dockerfile instructions fit for a result: the values of ENV instructions redacted, the names kept."""
    out = []
    for change in changes or []:
        word, _sep, arg = change.partition(" ")
        if word.upper() != "ENV":
            out.append(change)
        elif "=" in arg.split(None, 1)[0]:
            # ENV KEY=VALUE [KEY2=VALUE2 ...]: each value a word, or quoted with escapes inside.
            out.append(word + " " + _ENV_PAIR.sub(lambda m: m.group(1) + "=" + REDACTED, arg.strip()))
        else:
            # ENV KEY VALUE: everything after the name is the value.
            out.append("%s %s %s" % (word, arg.split(None, 1)[0], REDACTED))
    return out


_ENV_PAIR = re.compile(r'([^\s=]+)=("(?:[^"\\]|\\.)*"|\'[^\']*\'|\S*)')


# ---------------------------------------------------------------- export

def export_signature(info, changes):
    """What decides whether an earlier export of this container still stands."""
    state = info.get("State") or {}
    return {"id": info["Id"], "started": state.get("StartedAt"), "finished": state.get("FinishedAt"),
            "running": bool(state.get("Running")),
            "changes": sorted("%s %s" % (c.get("Kind"), c.get("Path")) for c in changes or [])}


def _mounts_of(info):
    mounts = [{"type": m.get("Type"), "name": m.get("Name"), "source": m.get("Source"),
               "destination": m.get("Destination")} for m in info.get("Mounts") or []]
    warnings = []
    if mounts:
        warnings.append("container %s has %d volume(s) or bind mount(s) (%s) whose data the archive does not hold"
                        % (info.get("Name", "").lstrip("/"), len(mounts),
                           ", ".join(m["destination"] for m in mounts)))
    return mounts, warnings


def _exported_already(dest, sig, compression):
    """The sidecar of an earlier export at dest that still stands, verified; None otherwise."""
    try:
        side = _archive.read_sidecar(dest)
        if side and side.get("kind") == "docker-export" and side.get("signature") == sig and \
                side.get("compression") == compression:
            return _archive.verify(dest, side)
    except _archive.ArchiveError:
        pass
    return None


def _export_state(dest):
    """What a diff shows of an archive at dest: its sha256, modes and recorded configuration (Env redacted)."""
    if not os.path.exists(dest):
        return {"dest": dest, "exists": False}
    try:
        side = _archive.read_sidecar(dest) or {}
    except _archive.ArchiveError:
        side = {}
    return {"dest": dest, "exists": True, "sha256": side.get("sha256"),
            "mode": _archive.format_mode(_archive.file_mode(dest)),
            "sidecar_mode": _archive.format_mode(_archive.file_mode(_archive.sidecar_path(dest))),
            "config": redacted_config(side.get("config")) if side.get("kind") == "docker-export" else None}


def export_container(client, ref, *, dest, pause=False, compression="none", check_mode=False, force=False,
                     mode=_archive.DEFAULT_MODE, diff=False):
    """docker export with a sidecar holding the configuration export drops.

    The archive and the sidecar get ``mode`` (0600 unless told otherwise): the sidecar holds Config.Env.  The
    result, and the diff when asked for, show the configuration with the Env values redacted.
    """
    mode = parse_mode(mode)
    check_dest(dest, compression)
    info = inspect_container(client, ref)
    cid = info["Id"]
    sig = export_signature(info, client.get("/containers/%s/changes" % cid) or [])
    config = dict((k, (info.get("Config") or {}).get(k)) for k in EXPORT_CONFIG_KEYS)
    mounts, warnings = _mounts_of(info)
    result = {"changed": False, "dest": dest, "sidecar": _archive.sidecar_path(dest), "container": cid,
              "config": redacted_config(config), "mounts": mounts, "warnings": warnings,
              "mode": _archive.format_mode(mode)}
    before = _export_state(dest) if diff else None
    side = _exported_already(dest, sig, compression) if os.path.exists(dest) and not force and \
        not sig["running"] else None
    if side:
        result.update(sha256=side["sha256"], size=side["size"])
        keep_archive(result, dest, mode, check_mode)
    else:
        result["changed"] = True
        if not check_mode:
            paused = False
            if pause and sig["running"] and not (info.get("State") or {}).get("Paused"):
                client.post("/containers/%s/pause" % cid)
                paused = True
            unpause = (lambda: client.post("/containers/%s/unpause" % cid)) if paused else None
            digest = write_stream(client, "/containers/%s/export" % cid, dest, compression, after=unpause,
                                  mode=mode)
            side = _archive.write_sidecar(dest, [], compression, digest, kind="docker-export", mode=mode, extra={
                "container": {"id": cid, "name": info.get("Name", "").lstrip("/"),
                              "image": (info.get("Config") or {}).get("Image"), "image_id": info.get("Image")},
                "config": config, "mounts": mounts, "signature": sig, "paused": paused})
            result.update(sha256=digest, size=side["size"], paused=paused)
    if diff:
        result["diff"] = {"before": before, "after": {
            "dest": dest, "exists": True, "sha256": result.get("sha256", "(a new export)"),
            "mode": result["mode"], "sidecar_mode": result["mode"], "config": result["config"]}}
    return result


# ---------------------------------------------------------------- import

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


def import_image(client, src, *, name, changes=None, restore_config=False, message=None, check_mode=False,
                 verify_sidecar=True):
    """docker import of a local archive (or a URL the daemon fetches) into name:tag, idempotently."""
    repo, tag = split_name(name)
    changes = validate_changes(changes)
    if src.startswith(("http://", "https://")):
        tmpdir = tempfile.mkdtemp(prefix="dockyard-import-")
        try:
            local = download(src, tmpdir)
            result = import_image(client, local, name=name, changes=changes, restore_config=restore_config,
                                  message=message, check_mode=check_mode, verify_sidecar=verify_sidecar)
            result["src"] = src
            return result
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
    if not os.path.isfile(src):
        raise ImageError("src %s does not exist or is not a file" % src)
    side, restored = _import_sidecar(src, restore_config, verify_sidecar)
    all_changes = restored + changes
    digest = side["sha256"] if side else _archive.sha256_file(src)
    changes_sha = hashlib_sha256("\n".join(all_changes))
    # The result shows the instructions with ENV values redacted; the image gets them as they are.
    result = {"changed": False, "name": "%s:%s" % (repo, tag), "src": src, "changes": redact_changes(all_changes),
              "restored": redact_changes(restored), "sha256": digest}
    existing = _image_or_none(client, "%s:%s" % (repo, tag))
    if existing:
        labels = (existing.get("Config") or {}).get("Labels") or {}
        if labels.get(LABEL_SHA) == digest and labels.get(LABEL_CHANGES) == changes_sha:
            result["id"] = existing["Id"]
            return result
    result["changed"] = True
    if check_mode:
        return result
    final = all_changes + ['LABEL %s="%s"' % (LABEL_SHA, digest), 'LABEL %s="%s"' % (LABEL_CHANGES, changes_sha)]
    _post_import(client, src, {"repo": repo, "tag": tag, "changes": tuple(final), "message": message,
                               "fromSrc": "-"})
    result["id"] = client.get("/images/%s/json" % quote_ref("%s:%s" % (repo, tag)))["Id"]
    return result


def _import_sidecar(src, restore_config, verify_sidecar):
    """The archive's sidecar (verified unless told not to) and the instructions restoring its configuration."""
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
    return side, restored


def _image_or_none(client, ref):
    try:
        return client.get("/images/%s/json" % quote_ref(ref))
    except _docker_api.DockerAPIError as exc:
        if exc.status != 404:
            raise
        return None


def _post_import(client, src, params):
    """Stream the (decompressed) archive into POST /images/create?fromSrc=-."""
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


def hashlib_sha256(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
