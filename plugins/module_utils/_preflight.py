# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The refusals of a data-root move, made before anything changes.  Internal to dockyard.migrate.

Each check raises RelocationError (phase ``preflight``) naming the problem and
what to do about it; a host that passes them all can be moved.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _facts, _fstab, _mountinfo, _units)
from ansible_collections.dockyard.migrate.plugins.module_utils._move import RelocationError, inside

NO_FS = ("tmpfs", "ramfs", "devtmpfs", "squashfs", "iso9660", "proc", "sysfs")
SNAP = ("Docker is installed as a snap (snapd's unit %s is known to systemd); its data lives under "
        "/var/snap/docker and is managed by snapd, which this module does not change" % _facts.SNAP_UNIT)
NAME_MAX = 255
PATH_MAX = 4095


def refuse(msg):
    raise RelocationError(msg, "preflight")


def docker_installed(facts, host):
    """Docker must be installed as a systemd service, not as a snap."""
    if facts["config"]["snap"]:
        refuse(SNAP)
    if not facts["engine"].get("running"):
        starts = facts["config"].get("unit_exec_start") or []
        binary = starts[0].split()[0] if starts and starts[0].split() else None
        if not host.unit_exists("docker.service") or not binary or not host.exists(binary):
            refuse("Docker is not installed here: no docker.service unit or no dockerd binary (%s)" % (
                binary or "no ExecStart"))
        if not os.path.basename(binary).startswith("dockerd") and not host.which("dockerd"):
            # A package removed but not purged keeps /etc/init.d/docker, from which systemd makes a docker.service.
            refuse("Docker is not installed here: docker.service runs %s, and there is no dockerd program" % binary)


def has_rsync(host):
    if not host.which("rsync"):
        refuse("rsync is not installed on this host; install it (apt-get install rsync)")


def host_config(opts, facts, host, moves):
    """How Docker is configured: one place naming its root that both methods can change.

    Returns warnings (texts) about what the move handles but the operator should know.
    """
    cfg = facts["config"]
    engine = facts["engine"]
    warnings = []
    if cfg["snap"]:
        refuse(SNAP)
    if not host.unit_exists("docker.service"):
        refuse("Docker is not installed here: systemd knows no docker.service unit")
    if cfg["daemon_json_error"]:
        refuse("%s; fix it before moving the data root" % cfg["daemon_json_error"])
    if cfg["flag_data_root"]:
        where = cfg.get("flag_source") or "the ExecStart of docker.service"
        unit = "docker.service sets" if where.startswith("the ExecStart") else "%s (read by docker.service) sets" % where
        refuse("%s the data root with a flag (%s) in %s; remove --data-root/-g/--graph from there and restart "
               "Docker first (use daemon.json to set a root), since a flag overrides both methods" % (
                   unit, cfg["flag_data_root"], where))
    if cfg.get("running_root_differs"):
        refuse("the running Docker uses %s but its configuration names %s (changed without a restart?); restart "
               "Docker (systemctl restart docker) so that both agree, then run again" % (
                   engine.get("docker_root_dir"), cfg["configured_root"]))
    if engine.get("swarm") not in (None, "inactive"):
        if engine.get("swarm_manager") and not opts.allow_swarm_manager:
            refuse("this host is a swarm manager (node state %s): stopping Docker takes a manager away from the "
                   "swarm's quorum. Move a manager only when the swarm can spare it, with allow_swarm_manager: true"
                   % engine["swarm"])
        warnings.append("this host is a swarm %s (node state %s): its tasks stop while Docker is stopped and "
                        "the swarm may reschedule them elsewhere" % (
                            "manager" if engine.get("swarm_manager") else "worker", engine["swarm"]))
    has_rsync(host)
    boot = host.boot_fstab
    if moves[0].switch.kind == "bind" and boot and host.realpath(opts.fstab) != host.realpath(boot):
        refuse("fstab %s is not the file this host mounts from at boot (%s): a bind line written there is mounted "
               "by this run but not after a reboot, when the drop-in would keep Docker from starting. Use method bind "
               "with fstab: %s, or method daemon_json" % (opts.fstab, boot, boot))
    try:
        _fstab.parse(host.read_text(opts.fstab, default=""), strict_path=moves[0].mount_point)
    except _fstab.FstabError as exc:
        refuse("%s: %s" % (opts.fstab, exc))
    return warnings


def path_name(path, what="path"):
    """A path systemd units and fstab can hold: no newline or control character, no overlong part."""
    bad = [c for c in path if ord(c) < 32 or ord(c) == 127]
    if bad:
        refuse("%s %r holds a control character (%r); fstab and systemd units cannot name it safely, choose a "
               "name without newlines, tabs or other control characters" % (what, path, bad[0]))
    raw = path.encode("utf-8", "surrogateescape")
    if len(raw) > PATH_MAX:
        refuse("%s is %d bytes long; Linux paths end at %d" % (what, len(raw), PATH_MAX))
    for part in path.split("/"):
        if len(part.encode("utf-8", "surrogateescape")) > NAME_MAX:
            refuse("%s has a component of %d bytes (%s...); a file name holds at most %d" % (
                what, len(part.encode("utf-8", "surrogateescape")), part[:40], NAME_MAX))


# The phases after which the target holds only a copy this module made and nothing else wrote to: a copy under
# way, a window not finished, or a move that was rolled back or restored (what Docker wrote on the target was
# carried back).  After "done" (or a restore under way) Docker may have written there since: never overwritten.
PARTIAL_PHASES = ("record", "online_copy", "online_copy_failed", "stop", "final_copy", "switch", "start", "verify",
                  "rolled_back", "restored")


def owns_partial(journal, move):
    return bool(journal and journal.phase in PARTIAL_PHASES and
                any(x.get("target") == move.target and x.get("source") == move.source
                    for x in journal.recorded_moves()))


def target_path(host, move, journal, mounts, fstab_text="", resuming=False):
    """The target is a real, empty (or our own partial) directory outside the root it receives.  RESUMING: this run
    picks up a killed run's switch (Docker down and not started since)."""
    t = move.target
    path_name(t, "path %s" % t if move.name == "docker" else "the %s path %s" % (move.name, t))
    path_name(move.source, "the %s root %s" % (move.name, move.source))
    if host.islink(t):
        refuse("path %s is a symlink; give the real directory" % t)
    real = host.realpath(t)
    if real != t:
        refuse("path %s resolves through a symlink to %s; give the real path" % (t, real))
    src_real = host.realpath(move.source)
    if inside(t, src_real) or inside(t, move.source):
        refuse("path %s lies inside the %s root %s" % (t, move.name, move.source))
    if inside(src_real, t) or inside(move.source, t):
        refuse("path %s contains the %s root %s" % (t, move.name, move.source))
    # Bound already by the killed run whose switch this run resumes (a move with containerd's root binds one root
    # after the other): the switch goes on and writes fstab's line again if it must.  Anywhere else (Docker started
    # since, on what the bind shows) the bind is refused, as one this move did not make.
    if not (resuming and journal and journal.in_window and owns_partial(journal, move) and
            _mountinfo.same_bind(mounts, move.target, move.mount_point)):
        move.switch.preflight(host, move, mounts, fstab_text)
    if not host.isdir(move.source) and not (move.backup and host.isdir(move.backup)):
        refuse("the %s root %s does not exist" % (move.name, move.source))
    if host.exists(t):
        if not host.isdir(t):
            refuse("path %s exists and is not a directory" % t)
        if host.listdir(t) and not owns_partial(journal, move):
            if journal and journal.phase not in PARTIAL_PHASES:
                refuse("path %s holds the copy of a move that ended in phase %s (%s): Docker may have written "
                       "there since, so it is never overwritten; move it away or give an empty or new directory" % (
                           t, journal.phase, journal.path))
            refuse("path %s is not empty and holds no partial copy of an earlier run of this module (no marker "
                   "%s); give an empty or new directory" % (t, journal.path))


def target_filesystem(host, move, mounts):
    """The target's filesystem keeps data across a reboot and can hold overlay2's layers."""
    fs = host.filesystem(move.target, mounts, verdict=True)
    if fs["fstype"] in NO_FS:
        refuse("path %s is on %s (%s), which does not keep data across a reboot or cannot be written; use a "
               "real disk" % (move.target, fs["fstype"], fs["mount_point"]))
    if not fs["overlay2_ok"]:
        refuse("path %s cannot hold Docker's layers: %s" % (move.target, fs["overlay2_reason"]))
    return fs


def same_filesystem(host, opts, move, mounts):
    """The target must be on another filesystem than the root it receives (unless allowed): a target on
    the root's own disk is most often a data disk that failed to mount."""
    if opts.allow_same_filesystem or not host.isdir(move.source):
        return
    src = host.filesystem(move.source, mounts)
    if src["major_minor"] and src["major_minor"] == move.fs["major_minor"]:
        refuse("path %s (device %s, mounted on %s) is on the same filesystem as the %s root %s (device %s, mounted "
               "on %s): the move would free no space; is the data disk mounted? Mount it, or set "
               "allow_same_filesystem: true to move within one filesystem on purpose" % (
                   move.target, move.fs["device"], move.fs["mount_point"], move.name, move.source, src["device"],
                   src["mount_point"]))


def moves_fit(opts, facts, host, moves, journal, resuming=False):
    """Every move's own checks, then the refusals its switch makes (RESUMING: a killed run's switch is picked up).
    Returns warnings."""
    warnings = host_config(opts, facts, host, moves)
    mounts = host.mountinfo()
    fstab_text = host.read_text(opts.fstab, default="")
    for move in moves:
        target_path(host, move, journal, mounts, fstab_text, resuming)
        if move.disk and not opts.keep_source:
            refuse("the %s root %s is the mount point of its own disk (%s): the move leaves that disk unmounted with "
                   "its contents as they were (its fstab line kept as a comment), so a rollback can mount it again; "
                   "keep_source: false would have nothing to remove on the system disk. Run with keep_source: true "
                   "and reuse or wipe the old disk yourself once the move is done" % (
                       move.name, move.source, move.disk["line"]))
        move.fs = target_filesystem(host, move, mounts)
        same_filesystem(host, opts, move, mounts)
        warnings.extend(move.switch.warnings(move, opts, fstab_text))
    return warnings


def space(host, opts, moves):
    """Bytes to copy per target filesystem against its free space, with the margin."""
    need = {}
    totals = {"bytes": 0, "files": 0}
    for move in moves:
        u = host.measure(move.source)
        have = host.measure(move.target).bytes if host.isdir(move.target) else 0
        entry = need.setdefault(move.fs["major_minor"], {"mount_point": move.fs["mount_point"],
                                                         "free": move.fs["free_bytes"] or 0, "need": 0})
        entry["need"] += max(0, u.bytes - have) + opts.margin_for(u.bytes)
        totals["bytes"] += u.bytes
        totals["files"] += u.files
        move.size = u.bytes
        move.files = u.files
    for entry in need.values():
        if entry["free"] < entry["need"]:
            refuse("not enough space on %s: %s free, %s needed (data plus margin %s); short by %s" % (
                entry["mount_point"], _units.human(entry["free"]), _units.human(entry["need"]), opts.margin,
                _units.human(entry["need"] - entry["free"])))
    totals["free_after"] = dict((e["mount_point"], e["free"] - e["need"]) for e in need.values())
    return totals
