# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Gather everything known about a host's Docker data root.

Internal to the dockyard.migrate collection.  The host is the source of truth:
the Engine API when the daemon answers, daemon.json, the service unit,
/etc/fstab and mountinfo always.  ``runner`` runs an argv list (never a shell)
and returns (rc, stdout, stderr).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _config, _daemon_json, _docker_api, _fileops, _fsinfo, _fstab, _inventory, _journal, _layout, _mountinfo, _units)

DOCKER_UNIT = "docker.service"


def engine_facts(client):
    """Engine facts from /info and /version, or {'running': False}."""
    if not client.ping():
        return {"running": False}
    info = client.info()
    ver = client.version()
    status = dict((k, v) for k, v in (info.get("DriverStatus") or []) if isinstance(k, str))
    driver = info.get("Driver")
    containerd_store = (status.get("driver-type") == "io.containerd.snapshotter.v1" or
                        driver in ("overlayfs", "stargz", "native", "zfs") and
                        "driver-type" in status)
    swarm = info.get("Swarm") or {}
    return {"running": True, "version": ver.get("Version"), "api_version": ver.get("ApiVersion"),
            "negotiated_api_version": client.api_version,
            "storage_driver": driver, "driver_status": status,
            "docker_root_dir": info.get("DockerRootDir"),
            "containerd_store": bool(containerd_store),
            "live_restore": bool(info.get("LiveRestoreEnabled")),
            "swarm": swarm.get("LocalNodeState") or "inactive",
            "swarm_manager": bool(swarm.get("ControlAvailable")),
            "containers_running": info.get("ContainersRunning"),
            "operating_system": info.get("OperatingSystem"), "kernel": info.get("KernelVersion")}


def unit_exec_start(runner):
    if not shutil.which("systemctl"):
        return None, []
    rc, out, _err = runner(["systemctl", "show", DOCKER_UNIT, "--property=ExecStart", "--value"])
    if rc != 0:
        return None, []
    return out.strip(), _config.parse_exec_start(out)


SNAP_UNIT = "snap.docker.dockerd.service"


def is_snap(runner):
    """Docker installed as a snap: snapd's unit for it is known to systemd, or the snap is mounted.

    A directory left under /var/snap/docker by a removed snap is no sign of it.
    """
    if os.path.isdir("/snap/docker/current/bin"):
        return True
    if not shutil.which("systemctl"):
        return False
    rc, out, _err = runner(["systemctl", "show", SNAP_UNIT, "--property=LoadState", "--value"])
    return rc == 0 and out.strip() not in ("", "not-found")


def config_facts(runner, daemon_json_path, fstab_path, mounts, api_root):
    out = {"daemon_json_path": daemon_json_path, "daemon_json_exists": os.path.exists(daemon_json_path),
           "daemon_json_error": None, "fstab_path": fstab_path, "snap": is_snap(runner)}
    try:
        data, _text, _exists = _daemon_json.load(daemon_json_path)
    except _daemon_json.DaemonJsonError as exc:
        data = {}
        out["daemon_json_error"] = str(exc)
    out["daemon_json"] = data
    raw, argvs = unit_exec_start(runner)
    out["unit_exec_start"] = [" ".join(a) for a in argvs]
    env_texts = dict((path, _fileops.read_text(path, default="")) for path, _name in _config.ENV_FILES)
    lines = _fstab.parse(_fileops.read_text(fstab_path, default=""))
    out.update(_config.determine(daemon_json=data, exec_argvs=argvs, env_texts=env_texts,
                                 fstab_lines=lines, mounts=mounts, api_root=api_root, resolve=os.path.realpath))
    return out


filesystem_facts = _fsinfo.filesystem_facts


def move_state(candidate):
    """What the marker of a move to CANDIDATE says: its phase (None without a marker) and whether the run that
    wrote it stopped Docker and neither finished nor rolled back (a rerun of the data_root module continues it)."""
    journal = _journal.Journal(candidate)
    if not journal.load():
        return {"phase": None, "in_window": False}
    return {"phase": journal.phase, "in_window": journal.in_window}


def candidate_facts(runner, candidate, root, root_fs, used_bytes, mounts, margin="5%"):
    fs = filesystem_facts(runner, candidate, mounts)
    cand = os.path.normpath(candidate)
    out = {"path": candidate, "filesystem": fs, "same_filesystem": fs["major_minor"] == root_fs["major_minor"],
           "move": move_state(candidate)}
    reasons = []
    fits = True
    if not os.path.isabs(candidate):
        fits = False
        reasons.append("the candidate %s is not an absolute path" % candidate)
    elif cand == root or cand.startswith(root.rstrip("/") + "/"):
        fits = False
        reasons.append("the candidate %s lies inside the data root %s" % (candidate, root))
    elif root.startswith(cand.rstrip("/") + "/"):
        fits = False
        reasons.append("the candidate %s contains the data root %s" % (candidate, root))
    if not fs["overlay2_ok"]:
        fits = False
        reasons.append(fs["overlay2_reason"])
    if used_bytes is None:
        out["needed_bytes"] = None
        if fits:
            fits = None
            reasons.append("sizes were skipped, so whether the data fits is unknown")
    else:
        margin_bytes = _units.margin_bytes(margin, used_bytes)
        needed = used_bytes + margin_bytes
        out["needed_bytes"] = needed
        free = fs.get("free_bytes") or 0
        if free < needed:
            fits = False
            reasons.append("%s has %d bytes free, the data needs %d (with a margin of %d)" % (
                fs["mount_point"], free, needed, margin_bytes))
        else:
            out["free_after_bytes"] = free - needed
    if fits:
        reasons.append("%s bytes fit on %s (%s) with %d bytes to spare" % (
            out["needed_bytes"], fs["mount_point"], fs["fstype"], out.get("free_after_bytes", 0)))
    out["fits"] = fits
    out["reason"] = "; ".join(reasons)
    return out


def gather(client, runner, daemon_json_path=_daemon_json.DEFAULT_PATH, fstab_path="/etc/fstab",
           sizes=True, inventory=True, candidate=None, margin="5%",
           containerd_config="/etc/containerd/config.toml"):
    warnings = []
    try:
        engine = engine_facts(client)
    except _docker_api.DockerError as exc:
        engine = {"running": False, "error": str(exc)}
        warnings.append("Docker did not answer: %s" % exc)
    mounts = _mountinfo.read()
    config = config_facts(runner, daemon_json_path, fstab_path, mounts, engine.get("docker_root_dir"))
    root = config["root"]
    if config["daemon_json_error"]:
        warnings.append(config["daemon_json_error"])
    warnings.extend(config["conflicts"])
    layout = {"exists": os.path.isdir(root), "sizes": sizes}
    if layout["exists"]:
        comps, totals, legacy = _layout.scan(root, sizes=sizes)
        layout.update({"components": comps, "totals": totals, "legacy_layouts": legacy})
    else:
        layout.update({"components": [], "totals": None, "legacy_layouts": []})
        warnings.append("the data root %s does not exist" % root)
    fs = filesystem_facts(runner, root, mounts)
    ctd_root = _config.containerd_root(_fileops.read_text(containerd_config, default=""))
    containerd = {"root": ctd_root, "exists": os.path.isdir(ctd_root),
                  "image_store": bool(engine.get("containerd_store"))}
    if containerd["exists"]:
        containerd["filesystem"] = filesystem_facts(runner, ctd_root, mounts)
        if sizes:
            containerd.update(_layout.measure(ctd_root).to_dict())
    used = (layout.get("totals") or {}).get("bytes")
    if containerd["image_store"] and sizes and containerd["exists"]:
        used = (used or 0) + containerd.get("bytes", 0)
    result = {"root": root, "engine": engine, "config": config, "layout": layout,
              "filesystem": fs, "containerd": containerd, "candidate": None, "inventory": None,
              "warnings": warnings}
    if candidate:
        result["candidate"] = candidate_facts(runner, candidate, root, fs, used if sizes else None,
                                              mounts, margin)
    if inventory and engine.get("running"):
        result["inventory"] = _inventory.collect(client)
    elif inventory:
        warnings.append("the inventory needs a running daemon; it was skipped")
    return result
