# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Relocating a Docker data root, as one transaction.  Internal to dockyard.migrate.

The planner turns the host's facts and the options into phases; the runner
does them in order, records each in a marker file on the target disk, and on a
failure after Docker was stopped walks back what was done, starts Docker on
the old root and checks the old inventory.  A run killed at any point
converges when run again: every phase first looks at the host to see whether
it is already done.

Phases: preflight, record, online_copy, stop, final_copy, switch, start,
verify, source.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import json
import os
import shutil
import time

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _bind, _copy, _daemon_json, _docker_api, _facts, _failpoints, _fileops, _fsinfo, _fstab, _inventory, _layout,
    _mountinfo, _units)

METHODS = ("bind", "daemon_json")
CONTAINERD_MODES = ("auto", "always", "never")
SOURCE_MODES = ("keep", "remove")
FINAL_COPY_MODES = ("mutable", "full")
LOCK_PATH = "/run/lock/dockyard-migrate-data-root.lock"
DROPIN_NAME = "dockyard-data-root.conf"
DROPIN_DIRS = {"docker": "/etc/systemd/system/docker.service.d",
               "containerd": "/etc/systemd/system/containerd.service.d"}
MARKER_VERSION = 1
NO_FS = ("tmpfs", "ramfs", "devtmpfs", "squashfs", "iso9660", "proc", "sysfs")


class RelocationError(Exception):
    def __init__(self, msg, phase=None, rolled_back=None):
        self.phase = phase
        self.rolled_back = rolled_back
        super(RelocationError, self).__init__(msg)


def marker_path(target):
    target = os.path.normpath(target)
    return os.path.join(os.path.dirname(target), ".%s.dockyard-migrate.json" % os.path.basename(target))


def dropin_text(mount_path):
    return ("# Managed by dockyard.migrate: the service must never start on an empty data root.\n"
            "[Unit]\nRequiresMountsFor=%s\n" % mount_path)


def inside(child, parent):
    child = os.path.normpath(child)
    parent = os.path.normpath(parent)
    return child == parent or child.startswith(parent.rstrip("/") + "/")


def docker_shims(proc="/proc"):
    """PIDs of containerd shims that serve Docker's containers (namespace moby)."""
    pids = []
    try:
        entries = os.listdir(proc)
    except OSError:
        return pids
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc, entry, "cmdline"), "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and b"containerd-shim" in os.path.basename(argv[0]) and b"moby" in argv:
            pids.append(int(entry))
    return sorted(pids)


class Move:
    """One directory to move: Docker's root, or containerd's."""

    def __init__(self, name, source, target, switch, mount_point=None):
        self.name = name
        self.source = os.path.normpath(source)
        self.target = os.path.normpath(target)
        self.switch = switch  # "bind" or "daemon_json"
        # Where the service looks for its data: the bind's mount point, or the target itself.
        self.mount_point = os.path.normpath(mount_point or source)
        self.backup = None

    @property
    def service_root(self):
        return self.mount_point if self.switch == "bind" else self.target

    def to_dict(self):
        return {"name": self.name, "source": self.source, "target": self.target, "switch": self.switch,
                "mount_point": self.mount_point, "backup": self.backup}


class Host:
    """Side effects on the managed host.  ``runner(argv) -> (rc, out, err)``."""

    def __init__(self, runner, client, stop_timeout=120):
        self.runner = runner
        self.client = client
        self.stop_timeout = stop_timeout

    def run(self, argv, what=None):
        rc, out, err = self.runner(argv)
        if rc != 0:
            raise RelocationError("%s failed (rc=%d): %s" % (what or " ".join(argv), rc, (err or out).strip()))
        return out

    def systemctl(self, *args):
        return self.run(["systemctl"] + list(args))

    def unit_exists(self, unit):
        rc, out, _err = self.runner(["systemctl", "show", unit, "--property=LoadState", "--value"])
        return rc == 0 and out.strip() not in ("not-found", "")

    def is_active(self, unit):
        rc, out, _err = self.runner(["systemctl", "is-active", unit])
        return out.strip() in ("active", "activating", "reloading")

    def stop_docker(self, with_containerd=False):
        self.systemctl("stop", "docker.socket", "docker.service")
        if with_containerd and self.unit_exists("containerd.service"):
            self.systemctl("stop", "containerd.service")

    def start_docker(self, with_containerd=False):
        self.runner(["systemctl", "reset-failed", "docker.service", "docker.socket"])
        if with_containerd and self.unit_exists("containerd.service"):
            self.systemctl("start", "containerd.service")
        self.systemctl("start", "docker.socket")
        self.systemctl("start", "docker.service")

    def daemon_reload(self):
        self.systemctl("daemon-reload")

    def wait_docker(self, timeout=90):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.client.ping():
                return True
            time.sleep(0.05)
        return False

    def wait_quiet(self, root, timeout):
        """Wait until no mount remains under root and no container shim of Docker's runs."""
        deadline = time.time() + timeout
        while True:
            left = [e.mount_point for e in _mountinfo.mounts_under(_mountinfo.read(), root)]
            left += ["shim pid %d" % pid for pid in docker_shims()]
            if not left:
                return []
            if time.time() > deadline:
                return left
            time.sleep(0.05)

    def selinux_enabled(self):
        if not shutil.which("selinuxenabled"):
            return False
        rc, _out, _err = self.runner(["selinuxenabled"])
        return rc == 0

    def label_like(self, old, new):
        """Give new the SELinux file context of old (semanage equivalence + restorecon)."""
        if not self.selinux_enabled():
            return False
        if shutil.which("semanage"):
            rc, out, err = self.runner(["semanage", "fcontext", "-a", "-e", old, new])
            if rc != 0 and "already" not in (err + out):
                raise RelocationError("semanage fcontext -a -e %s %s failed: %s" % (old, new, (err or out).strip()))
        self.run(["restorecon", "-R", "-F", new])
        return True


class Relocation:
    """Plan and run one data-root move."""

    def __init__(self, params, client, runner, check_mode=False, now=None):
        self.p = params
        self.client = client
        self.runner = runner
        self.check_mode = check_mode
        self.host = Host(runner, client, params.get("stop_timeout") or 120)
        self.actions = []
        self.result = {"changed": False, "actions": self.actions, "bytes_copied": 0, "files_copied": 0,
                       "online_copy_seconds": 0.0, "offline_copy_seconds": 0.0, "downtime_seconds": 0.0,
                       "fingerprint_before": None, "fingerprint_after": None, "original": None,
                       "phases": [], "passes": []}
        self.diff = {"before": {}, "after": {}}
        self.marker = None
        self.moves = []
        self.status = _copy.Status(params.get("status_file"))
        self.now = now or time.time()
        self.downtime_started = None

    # ------------------------------------------------------------ validate
    def validate_options(self):
        p = self.p
        path = p.get("path")
        if not path or not os.path.isabs(path):
            raise RelocationError("path %r must be an absolute path (for example /mnt/data/docker)" % (path,),
                                  "preflight")
        if os.path.normpath(path) == "/":
            raise RelocationError("path / cannot be a Docker data root", "preflight")
        if p.get("method") not in METHODS:
            raise RelocationError("method %r is not one of %s" % (p.get("method"), ", ".join(METHODS)),
                                  "preflight")
        if p.get("containerd") not in CONTAINERD_MODES:
            raise RelocationError("containerd %r is not one of %s" % (
                p.get("containerd"), ", ".join(CONTAINERD_MODES)), "preflight")
        if p.get("source") not in SOURCE_MODES:
            raise RelocationError("source %r is not one of %s" % (p.get("source"), ", ".join(SOURCE_MODES)),
                                  "preflight")
        cpath = p.get("containerd_path")
        if cpath and not os.path.isabs(cpath):
            raise RelocationError("containerd_path %r must be an absolute path" % (cpath,), "preflight")
        try:
            _units.margin_bytes(p.get("margin") or "0", 100)
        except ValueError as exc:
            raise RelocationError(str(exc), "preflight")
        passes = p.get("online_passes", 3)
        if passes is None or int(passes) < 1:
            raise RelocationError("online_passes must be 1 or more (got %r)" % (passes,), "preflight")
        if p.get("final_copy", "mutable") not in FINAL_COPY_MODES:
            raise RelocationError("final_copy %r is not one of %s" % (p.get("final_copy"), ", ".join(FINAL_COPY_MODES)),
                                  "preflight")
        refused = ("--delete-excluded", "--remove-source-files", "--dry-run", "-n", "--files-from")
        for opt in p.get("rsync_opts") or []:
            if not str(opt).startswith("-") or str(opt).split("=", maxsplit=1)[0] in refused:
                raise RelocationError("rsync_opts entry %r is not an option this module passes on" % (opt,),
                                      "preflight")

    # ------------------------------------------------------------ facts
    def gather(self):
        return _facts.gather(self.client, self.runner, daemon_json_path=self.p["daemon_json"],
                             fstab_path=self.p["fstab"], sizes=False, inventory=False)

    def plan_moves(self, facts):
        path = os.path.normpath(self.p["path"])
        cfg = facts["config"]
        method = self.p["method"]
        moves = []
        if method == "bind":
            point = os.path.normpath(cfg["configured_root"])
            moves.append(Move("docker", point, path, "bind", point))
        else:
            moves.append(Move("docker", cfg["configured_root"], path, "daemon_json"))
        mode = self.p["containerd"]
        ctd = facts["containerd"]
        if mode == "always" or (mode == "auto" and ctd["image_store"]):
            cpath = os.path.normpath(self.p.get("containerd_path") or
                                     os.path.join(os.path.dirname(path), "containerd"))
            moves.append(Move("containerd", ctd["root"], cpath, "bind", ctd["root"]))
        return moves

    def switched(self, move, mounts, daemon_json):
        """Is the service already told to use move.target?"""
        if move.switch == "bind":
            return _mountinfo.same_bind(mounts, move.target, move.mount_point) and \
                bool(_fstab.entries_for(_fstab.parse(_fileops.read_text(self.p["fstab"], default="")),
                                        move.mount_point))
        return os.path.normpath(_daemon_json.data_root(daemon_json) or "") == move.target

    # ------------------------------------------------------------ marker
    def load_marker(self, target):
        try:
            with open(marker_path(target)) as f:
                data = json.load(f)
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and data.get("version") == MARKER_VERSION else None

    def save_marker(self, **fields):
        if self.check_mode:
            return
        self.marker.update(fields)
        self.marker["updated"] = time.time()
        self.marker["moves"] = [m.to_dict() for m in self.moves]
        path = marker_path(self.moves[0].target)
        parent = os.path.dirname(path)
        if not os.path.isdir(parent):
            os.makedirs(parent, 0o711)
        _fileops.atomic_write(path, json.dumps(self.marker, indent=1, sort_keys=True) + "\n", mode=0o600)

    def phase_done(self, name):
        return name in (self.marker or {}).get("phases_done", [])

    def mark(self, name):
        done = self.marker.setdefault("phases_done", [])
        if name not in done:
            done.append(name)
        self.save_marker(phase=name)

    # ------------------------------------------------------------ preflight
    def preflight(self, facts):
        cfg = facts["config"]
        if facts["config"]["snap"]:
            raise RelocationError("Docker is installed as a snap; its data lives under /var/snap/docker and "
                                  "is managed by snapd, which this module does not change", "preflight")
        if not self.host.unit_exists("docker.service"):
            raise RelocationError("Docker is not installed here: systemd knows no docker.service unit",
                                  "preflight")
        if cfg["daemon_json_error"]:
            raise RelocationError("%s; fix it before moving the data root" % cfg["daemon_json_error"], "preflight")
        if cfg["flag_data_root"]:
            raise RelocationError(
                "docker.service sets the data root with a flag (%s); remove --data-root/-g from the unit or "
                "/etc/default/docker first, since a flag overrides both methods" % cfg["flag_data_root"],
                "preflight")
        if not shutil.which("rsync"):
            raise RelocationError("rsync is not installed on this host; install it (apt-get install rsync)",
                                  "preflight")
        try:
            _fstab.parse(_fileops.read_text(self.p["fstab"], default=""), strict_path=self.moves[0].mount_point)
        except _fstab.FstabError as exc:
            raise RelocationError("%s: %s" % (self.p["fstab"], exc), "preflight")
        mounts = _mountinfo.read()
        for move in self.moves:
            self.preflight_move(move, facts, mounts)

    def preflight_move(self, move, facts, mounts):
        t = move.target
        if os.path.islink(t):
            raise RelocationError("path %s is a symlink; give the real directory" % t, "preflight")
        real = os.path.realpath(t)
        if real != t:
            raise RelocationError("path %s resolves through a symlink to %s; give the real path" % (t, real),
                                  "preflight")
        src_real = os.path.realpath(move.source)
        if inside(t, src_real) or inside(t, move.source):
            raise RelocationError("path %s lies inside the %s root %s" % (t, move.name, move.source), "preflight")
        if inside(src_real, t) or inside(move.source, t):
            raise RelocationError("path %s contains the %s root %s" % (t, move.name, move.source), "preflight")
        if move.switch == "bind" and _mountinfo.mount_at(mounts, move.mount_point) is not None:
            b = _mountinfo.bind_source(mounts, move.mount_point)
            if b is not None:
                raise RelocationError(
                    "%s is already a bind mount of %s; move it back first (playbooks/rollback_docker_root.yml) "
                    "before binding another directory there" % (move.mount_point, b.get("source_path") or b["root"]),
                    "preflight")
        if not os.path.isdir(move.source) and not (move.backup and os.path.isdir(move.backup)):
            raise RelocationError("the %s root %s does not exist" % (move.name, move.source), "preflight")
        if os.path.exists(t):
            if not os.path.isdir(t):
                raise RelocationError("path %s exists and is not a directory" % t, "preflight")
            if os.listdir(t) and not self.owns_partial(move):
                raise RelocationError(
                    "path %s is not empty and holds no partial copy of an earlier run of this module "
                    "(no marker %s); give an empty or new directory" % (t, marker_path(self.moves[0].target)),
                    "preflight")
        fs = _facts.filesystem_facts(self.runner, t, mounts)
        if fs["fstype"] in NO_FS:
            raise RelocationError("path %s is on %s (%s), which does not keep data across a reboot or cannot "
                                  "be written; use a real disk" % (t, fs["fstype"], fs["mount_point"]), "preflight")
        if not fs["overlay2_ok"]:
            raise RelocationError("path %s cannot hold Docker's layers: %s" % (t, fs["overlay2_reason"]),
                                  "preflight")
        move.fs = fs

    def owns_partial(self, move):
        m = self.marker
        return bool(m and any(x.get("target") == move.target and x.get("source") == move.source
                              for x in m.get("moves", [])))

    def space_check(self):
        """Bytes to copy per target filesystem against its free space, with the margin."""
        need = {}
        totals = {"bytes": 0, "files": 0}
        for move in self.moves:
            u = _layout.measure(move.source)
            have = _layout.measure(move.target).bytes if os.path.isdir(move.target) else 0
            margin = _units.margin_bytes(self.p.get("margin") or "0", u.bytes)
            key = move.fs["major_minor"]
            entry = need.setdefault(key, {"mount_point": move.fs["mount_point"], "free": move.fs["free_bytes"] or 0,
                                          "need": 0})
            entry["need"] += max(0, u.bytes - have) + margin
            totals["bytes"] += u.bytes
            totals["files"] += u.files
            move.size = u.bytes
            move.files = u.files
        for entry in need.values():
            if entry["free"] < entry["need"]:
                raise RelocationError(
                    "not enough space on %s: %s free, %s needed (data plus margin %s); short by %s" % (
                        entry["mount_point"], _units.human(entry["free"]), _units.human(entry["need"]),
                        self.p.get("margin"), _units.human(entry["need"] - entry["free"])), "preflight")
        totals["free_after"] = dict((e["mount_point"], e["free"] - e["need"]) for e in need.values())
        return totals

    # ------------------------------------------------------------ diff
    def config_texts(self):
        """(before, after) of fstab, daemon.json and the drop-ins, as the switch would leave them."""
        before, after = {}, {}
        fstab_text = _fileops.read_text(self.p["fstab"], default="")
        lines = _fstab.parse(fstab_text)
        new_lines = lines
        dj_data, dj_text, _exists = _daemon_json.load(self.p["daemon_json"])
        new_dj = dj_data
        for move in self.moves:
            if move.switch == "bind":
                new_lines, _changed = _fstab.set_entry(new_lines, move.target, move.mount_point, "none", "bind")
            else:
                new_dj = _daemon_json.with_data_root(new_dj, move.target)
            d = os.path.join(DROPIN_DIRS[move.name], DROPIN_NAME)
            before[d] = _fileops.read_text(d, default="")
            after[d] = dropin_text(move.service_root)
        before[self.p["fstab"]] = fstab_text
        after[self.p["fstab"]] = _fstab.render(new_lines) if new_lines is not lines else fstab_text
        before[self.p["daemon_json"]] = dj_text
        after[self.p["daemon_json"]] = _daemon_json.render(new_dj) if new_dj is not dj_data else dj_text
        return before, after

    # ------------------------------------------------------------ run
    def run(self):
        self.validate_options()
        lock = self.lock()
        try:
            return self._run()
        finally:
            if lock is not None:
                lock.close()

    def lock(self):
        try:
            os.makedirs(os.path.dirname(LOCK_PATH), exist_ok=True)
            f = open(LOCK_PATH, "a+")
        except OSError:
            return None
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            f.seek(0)
            holder = f.read().strip()
            f.close()
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise RelocationError("another data-root move is running on this host (lock %s held by %s); "
                                      "wait for it to finish" % (LOCK_PATH, holder or "another process"), "lock")
            raise
        if not self.check_mode:
            f.seek(0)
            f.truncate()
            f.write("pid %d since %s\n" % (os.getpid(), time.strftime("%Y-%m-%dT%H:%M:%S")))
            f.flush()
        return f

    def _run(self):
        facts = self.gather()
        if facts["config"]["snap"]:
            raise RelocationError("Docker is installed as a snap; its data lives under /var/snap/docker and "
                                  "is managed by snapd, which this module does not change", "preflight")
        if not facts["engine"].get("running"):
            starts = facts["config"].get("unit_exec_start") or []
            binary = starts[0].split()[0] if starts and starts[0].split() else None
            if not self.host.unit_exists("docker.service") or not binary or not os.path.exists(binary):
                raise RelocationError("Docker is not installed here: no docker.service unit or no dockerd binary "
                                      "(%s)" % (binary or "no ExecStart"), "preflight")
        self.moves = self.plan_moves(facts)
        self.marker = self.load_marker(self.moves[0].target)
        if self.marker:
            for move in self.moves:
                for old in self.marker.get("moves", []):
                    if old.get("target") == move.target and old.get("backup"):
                        move.backup = old["backup"]
        mounts = _mountinfo.read()
        dj_data = facts["config"]["daemon_json"]
        all_switched = all(self.switched(m, mounts, dj_data) for m in self.moves)
        engine = facts["engine"]
        if all_switched:
            return self.converge_switched(facts)
        if self.p["method"] == "bind" and facts["config"]["daemon_json_data_root"]:
            raise RelocationError(
                "daemon.json sets data-root to %s; a bind mount over it would leave two places naming the root. "
                "Use method daemon_json, or remove data-root from %s and restart Docker first" % (
                    facts["config"]["daemon_json_data_root"], self.p["daemon_json"]), "preflight")
        if self.p["method"] == "daemon_json" and facts["config"]["bind"] and facts["config"]["bind"].get("active"):
            raise RelocationError(
                "the data root %s is a bind mount of %s; switching it to the daemon_json method is not "
                "supported: roll back the bind first" % (facts["root"], facts["config"]["bind"]["source"]),
                "preflight")
        resuming_switch = bool(self.marker and self.phase_done("final_copy") and not engine.get("running")
                               and self.marker.get("phase") in ("final_copy", "switch"))
        if not engine.get("running") and not resuming_switch and not (self.marker and self.marker.get("inventory")):
            raise RelocationError(
                "Docker is not running, so its images, containers and volumes cannot be recorded to verify the "
                "move; start Docker (systemctl start docker) and run again", "preflight")
        self.preflight(facts)
        totals = self.space_check() if not resuming_switch else {"bytes": 0, "files": 0, "free_after": {}}
        before, after = self.config_texts()
        for k in before:
            if before[k] != after[k]:
                self.diff["before"][k] = before[k]
                self.diff["after"][k] = after[k]
        self.result["planned_bytes"] = totals["bytes"]
        self.result["planned_files"] = totals["files"]
        self.result["free_after_bytes"] = totals["free_after"]
        self.result["moves"] = [m.to_dict() for m in self.moves]
        if self.check_mode:
            self.plan_actions(engine, resuming_switch)
            self.result["changed"] = True
            return self.result
        if not self.marker:
            self.marker = {"version": MARKER_VERSION, "started": self.now,
                           "stamp": time.strftime("%Y%m%dT%H%M%S", time.localtime(self.now)),
                           "method": self.p["method"], "phases_done": []}
        self.result["changed"] = True
        if resuming_switch:
            self.actions.append("resume the interrupted switch recorded in %s" % marker_path(self.moves[0].target))
            self.result["fingerprint_before"] = self.marker["inventory"]["fingerprint"]
        elif engine.get("running"):
            self.marker["phases_done"] = []
            # A fresh start: what an earlier, finished or rolled-back run saved no longer describes the host.
            for key in ("texts_before", "fstab_backup", "daemon_json_backup", "restore_texts"):
                self.marker.pop(key, None)
            self.phase_record()
            if self.p.get("two_phase", True):
                try:
                    self.phase_online_copy()
                except (RelocationError, _copy.CopyError, OSError) as exc:
                    try:
                        self.save_marker(phase="online_copy_failed")
                    except OSError:
                        pass  # a full target disk cannot take the marker either; the error below says why
                    raise RelocationError("online_copy failed: %s. Docker was not stopped and %s is untouched; "
                                          "the partial copy is kept so a rerun continues it" % (
                                              exc, self.moves[0].source), "online_copy", rolled_back=False)
        else:
            self.actions.append("Docker was left stopped by an interrupted run; continuing from its record")
            self.result["fingerprint_before"] = self.marker["inventory"]["fingerprint"]
        if not resuming_switch and engine.get("running"):
            self.rerecord()
        self.transaction(resuming_switch)
        return self.result

    def plan_actions(self, engine, resuming):
        if not resuming:
            self.actions.append("record the inventory of images, containers and volumes")
            if self.p.get("two_phase", True):
                for m in self.moves:
                    self.actions.append("copy %s to %s while Docker runs" % (m.source, m.target))
            self.actions.append("stop docker.socket and docker.service" +
                                (" and containerd.service" if len(self.moves) > 1 else ""))
            for m in self.moves:
                self.actions.append("copy what changed from %s to %s (rsync --delete%s)" % (
                    m.source, m.target, ", skipping settled image layers" if self.p.get("final_copy") != "full" and
                    self.p.get("two_phase", True) else ""))
        for m in self.moves:
            if m.switch == "bind":
                self.actions.append("move %s aside to %s.dockyard-backup-STAMP" % (m.source, m.source))
                self.actions.append("write the fstab line %s %s none bind 0 0 and mount it" % (m.target, m.mount_point))
            else:
                self.actions.append("set data-root to %s in %s" % (m.target, self.p["daemon_json"]))
            self.actions.append("write %s/%s (RequiresMountsFor=%s) and reload systemd" % (
                DROPIN_DIRS[m.name], DROPIN_NAME, m.service_root))
        self.actions.append("start Docker and verify the root, the inventory fingerprint and the running containers")
        if self.p["source"] == "keep":
            self.actions.append("keep the original as a dated backup beside it")
        else:
            self.actions.append("remove the original once verified")

    # ------------------------------------------------------------ phases
    def timed(self, name, fn, *args):
        t0 = time.time()
        self.status.write(force=True, phase=name, bytes_done=None, bytes_total=None, percent=None, rate=None)
        out = fn(*args)
        self.result["phases"].append({"phase": name, "seconds": round(time.time() - t0, 3)})
        return out

    def phase_record(self):
        inv = _inventory.collect(self.client)
        self.marker["inventory"] = inv
        self.result["fingerprint_before"] = inv["fingerprint"]
        self.actions.append("recorded %d images, %d containers (%d running) and %d volumes" % (
            len(inv["images"]), len(inv["containers"]), len(inv["running"]), len(inv["volumes"])))
        self.mark("record")
        _failpoints.reached("after_record")

    def copy_pass(self, phase, allow_vanished, skips=None):
        """One pass over every move.  SKIPS maps a move's name to the layer directories the pass need not
        walk (see _copy.settled_layers); a move without an entry gets a full pass."""
        total_files = 0
        total_bytes = 0
        seconds = 0.0
        for m in self.moves:
            if not os.path.isdir(m.target):
                os.makedirs(m.target, 0o711)
            skip = (skips or {}).get(m.name)
            try:
                if self.p.get("copy_engine", "auto") == "auto" and _copy.is_empty_dir(m.target):
                    stats = _copy.tar_copy(m.source, m.target, self.status, phase, allow_changed=allow_vanished,
                                           total_bytes=getattr(m, "size", None))
                    stats["files_transferred"] = getattr(m, "files", 0)
                else:
                    stats = _copy.rsync(m.source, m.target, self.status, phase, self.p.get("rsync_opts"),
                                        allow_vanished=allow_vanished, total_bytes=getattr(m, "size", None),
                                        skip=skip)
            except _copy.CopyError as exc:
                fs = _fsinfo.describe(m.target, probe_dtype=False)
                if "ran out of space" in str(exc):
                    need = _layout.measure(m.source).bytes
                    have = _layout.measure(m.target).bytes
                    raise RelocationError(
                        "the target disk %s (%s) filled up while copying %s: %s free, %s still to copy "
                        "(short by about %s)" % (fs["mount_point"], fs["device"], m.source,
                                                 _units.human(fs["free_bytes"]),
                                                 _units.human(max(need - have, 0)),
                                                 _units.human(max(need - have - (fs["free_bytes"] or 0), 0))), phase)
                raise RelocationError(str(exc), phase)
            stats["walk"] = "mutable" if skip is not None else "full"
            total_files += stats.get("files_transferred", 0)
            total_bytes += stats.get("bytes_transferred", 0)
            seconds += stats["seconds"]
            self.result["passes"].append(dict(stats, phase=phase, move=m.name))
        self.result["bytes_copied"] += total_bytes
        self.result["files_copied"] += total_files
        return seconds, total_bytes

    def committed_layers(self):
        """Per move, the image layers committed now (None for a layout without known-immutable layers)."""
        return dict((m.name, _copy.settled_layers(m.source)) for m in self.moves)

    def skips(self, settled):
        """What a pass may skip: the layers settled by an earlier pass that are still committed now."""
        if not settled:
            return {}
        now = self.committed_layers()
        out = {}
        for name, layers in now.items():
            if layers is not None and settled.get(name) is not None:
                out[name] = sorted(set(layers) & set(settled[name]))
        return out

    def online_pass(self, settled):
        """One pass while Docker runs; returns (seconds, bytes, the layers this pass settled)."""
        committed = self.committed_layers()
        secs, moved = self.copy_pass("online_copy", True, self.skips(settled))
        return secs, moved, committed

    def phase_online_copy(self):
        """The first pass copies everything; further passes walk only what can change and go on while each
        moves much less than the one before, so the pass with Docker stopped has little left to do."""
        self.save_marker(phase="online_copy", settled=None)
        t0 = time.time()
        limit = max(1, int(self.p.get("online_passes") or 1))
        secs, moved, settled = self.online_pass(None)
        done = 1
        self.actions.append("copied while Docker ran (%.1f s)" % secs)
        while done < limit:
            secs2, moved2, settled2 = self.online_pass(settled if self.p.get("final_copy") != "full" else None)
            settled = settled2
            done += 1
            self.actions.append("copied what changed meanwhile (pass %d, %s in %.1f s)" % (
                done, _units.human(moved2), secs2))
            if secs2 < 1.0 or moved2 == 0 or moved2 * 2 > moved:
                break  # nothing more to gain, or not converging: stop Docker now
            moved = moved2
        # The copy sits in the page cache; written back now, while Docker runs, it does not hold up Docker's
        # stop and start (their fsyncs would wait behind gigabytes of writeback).
        flushed = sum(_copy.flush(m.target) for m in self.moves)
        self.actions.append("flushed the copy to disk (%.1f s)" % flushed)
        self.result["flush_seconds"] = round(flushed, 3)
        total = time.time() - t0
        self.result["phases"].append({"phase": "online_copy", "seconds": round(total, 3)})
        self.result["online_copy_seconds"] = round(total, 3)
        self.result["online_passes"] = done
        self.marker["settled"] = settled
        self.mark("online_copy")
        _failpoints.reached("after_online_copy")

    def rerecord(self):
        """What must survive is what Docker holds when it stops: images pulled, containers made or removed
        during the online copy count, so the inventory is recorded again right before the stop (while Docker
        still runs, so outside the downtime)."""
        if not self.client.ping():
            return
        inv = _inventory.collect(self.client)
        if inv["fingerprint"] != self.marker["inventory"]["fingerprint"]:
            self.actions.append("recorded the inventory again before the stop, as it changed during the copy: "
                                "%d images, %d containers (%d running), %d volumes" % (
                                    len(inv["images"]), len(inv["containers"]), len(inv["running"]),
                                    len(inv["volumes"])))
            self.marker["inventory"] = inv
            self.result["fingerprint_before"] = inv["fingerprint"]
            self.save_marker()

    def phase_stop(self):
        inv = self.marker["inventory"]
        running_ids = [c["id"] for c in inv["containers"] if c["running"]]
        if self.client.ping():
            info = self.client.info()
            if info.get("LiveRestoreEnabled"):
                for cid in running_ids:
                    self.client.post("/containers/%s/stop" % cid, params={"t": 30},
                                     timeout=self.host.stop_timeout)
                self.actions.append("stopped %d running containers (live-restore keeps them running otherwise)"
                                    % len(running_ids))
        self.host.stop_docker(with_containerd=any(m.name == "containerd" for m in self.moves))
        self.actions.append("stopped Docker")
        for m in self.moves:
            left = self.host.wait_quiet(m.source, self.host.stop_timeout)
            if left:
                raise RelocationError("after stopping Docker, mounts remain under %s: %s" % (
                    m.source, ", ".join(left[:5])), "stop")
            self.drop_self_bind(m)
        self.mark("stop")
        _failpoints.reached("after_stop")

    def drop_self_bind(self, move):
        """dockerd may leave its root bind-mounted onto itself (to set propagation): undo that."""
        mounts = _mountinfo.read()
        e = _mountinfo.mount_at(mounts, move.source)
        if e is not None and _mountinfo.bind_source(mounts, move.source) is None and e.root not in ("/", ""):
            self.host.run(["umount", move.source])

    def phase_final_copy(self):
        self.save_marker(phase="final_copy")
        settled = None
        if self.p.get("final_copy") != "full" and self.phase_done("online_copy"):
            settled = self.marker.get("settled")
        skips = self.skips(settled)
        secs, moved = self.timed("final_copy", self.copy_pass, "final_copy", False, skips)
        # On disk before the switch points Docker at it.
        secs += sum(_copy.flush(m.target) for m in self.moves)
        self.result["offline_copy_seconds"] = round(secs, 3)
        self.actions.append("copied the delta with Docker stopped (%s in %.1f s, %s)" % (
            _units.human(moved), secs, "skipping %d settled image layers" % sum(len(v) for v in skips.values())
            if skips else "full walk"))
        self.mark("final_copy")
        _failpoints.reached("after_final_copy")

    def phase_switch(self):
        self.save_marker(phase="switch", texts_before=self.marker.get("texts_before") or self.config_texts()[0])
        for m in self.moves:
            # Drop-in first: from here on the service cannot start without its mount.
            self.write_text(os.path.join(DROPIN_DIRS[m.name], DROPIN_NAME), dropin_text(m.service_root))
        self.host.daemon_reload()
        _failpoints.reached("switch_after_dropin")
        for m in self.moves:
            if m.switch == "bind":
                self.switch_bind(m)
            else:
                self.switch_daemon_json(m)
            self.host.label_like(m.source if not m.backup else m.backup, m.target)
        self.actions.append("switched: %s" % ", ".join("%s -> %s (%s)" % (m.source, m.target, m.switch)
                                                       for m in self.moves))
        self.mark("switch")
        _failpoints.reached("after_switch")

    def write_text(self, path, text):
        if _fileops.read_text(path, default="") == text and os.path.exists(path):
            return
        d = os.path.dirname(path)
        if not os.path.isdir(d):
            os.makedirs(d, 0o755)
        _fileops.atomic_write(path, text, mode=0o644)

    def backup_name(self, m):
        return "%s.dockyard-backup-%s" % (m.source, self.marker["stamp"])

    def switch_bind(self, m):
        text = _fileops.read_text(self.p["fstab"], default="")
        lines, changed = _fstab.set_entry(_fstab.parse(text), m.target, m.mount_point, "none", "bind")
        if changed:
            if not self.marker.get("fstab_backup") and os.path.exists(self.p["fstab"]):
                self.marker["fstab_backup"] = _fileops.backup_file(self.p["fstab"], self.marker["stamp"])
                self.save_marker()
            _fileops.atomic_write(self.p["fstab"], _fstab.render(lines), mode=0o644)
        _failpoints.reached("switch_after_fstab")
        mounts = _mountinfo.read()
        if _mountinfo.same_bind(mounts, m.target, m.mount_point):
            return
        # Move the original aside so nothing hides under the mount.
        if os.path.isdir(m.source) and not os.path.islink(m.source) and \
                _mountinfo.mount_at(mounts, m.source) is None and os.listdir(m.source):
            st = os.stat(m.source)
            m.backup = self.backup_name(m)
            self.save_marker()
            os.rename(m.source, m.backup)
            _failpoints.reached("switch_after_move_aside")
            os.mkdir(m.source)
            os.chmod(m.source, st.st_mode & 0o7777)
            os.chown(m.source, st.st_uid, st.st_gid)
        elif not os.path.isdir(m.source):
            os.makedirs(m.source, 0o711)
        bm = _bind.BindMount(m.target, m.mount_point, "mounted", "bind", self.p["fstab"], runner=self.runner)
        try:
            bm.mount()
        except _bind.BindError as exc:
            raise RelocationError(str(exc), "switch")
        if not _mountinfo.same_bind(_mountinfo.read(), m.target, m.mount_point):
            raise RelocationError("after mounting, %s does not show %s" % (m.mount_point, m.target), "switch")

    def switch_daemon_json(self, m):
        data, text, exists = _daemon_json.load(self.p["daemon_json"])
        new = _daemon_json.with_data_root(data, m.target)
        if new == data:
            return
        if exists and not self.marker.get("daemon_json_backup"):
            self.marker["daemon_json_backup"] = _fileops.backup_file(self.p["daemon_json"], self.marker["stamp"])
            self.save_marker()
        d = os.path.dirname(self.p["daemon_json"])
        if not os.path.isdir(d):
            os.makedirs(d, 0o755)
        _fileops.atomic_write(self.p["daemon_json"], _daemon_json.render(new), mode=0o644)

    def phase_start(self):
        self.host.start_docker(with_containerd=any(m.name == "containerd" for m in self.moves))
        if not self.host.wait_docker(self.p.get("verify_timeout") or 90):
            raise RelocationError("Docker did not answer within %ss after starting on the new root" % (
                self.p.get("verify_timeout") or 90), "start")
        self.actions.append("started Docker")
        self.mark("start")
        _failpoints.reached("after_start")

    def settle(self, before):
        """Wait for the containers that ran before to run again, starting those without a restart policy.

        Returns (inventory, problems, started); problems is empty when the inventory matches ``before``.
        """
        deadline = time.time() + (self.p.get("verify_timeout") or 90)
        started = []
        while True:
            inv = _inventory.collect(self.client)
            for c in inv["containers"]:
                if c["name"] in before["running"] and not c["running"] and \
                        c["restart_policy"] in ("no", "on-failure") and c["name"] not in started:
                    try:
                        self.client.post("/containers/%s/start" % c["id"])
                        started.append(c["name"])
                    except _docker_api.DockerAPIError:
                        pass
            problems = _inventory.compare(before, inv)
            if inv["fingerprint"] != before["fingerprint"] and not problems:
                problems = ["the inventory fingerprint changed"]
            if not problems or time.time() > deadline:
                return inv, problems, started
            time.sleep(0.25)

    def phase_verify(self):
        inv_before = self.marker["inventory"]
        docker = self.moves[0]
        info = self.client.info()
        want = docker.service_root
        if os.path.normpath(info.get("DockerRootDir") or "") != want:
            raise RelocationError("Docker reports its root as %s, expected %s" % (info.get("DockerRootDir"), want),
                                  "verify")
        mounts = _mountinfo.read()
        for m in self.moves:
            if m.switch == "bind" and not _mountinfo.same_bind(mounts, m.target, m.mount_point):
                raise RelocationError("%s is not bound from %s" % (m.mount_point, m.target), "verify")
        inv, problems, started = self.settle(inv_before)
        if started:
            self.actions.append("started %s, which ran before and have no restart policy" % ", ".join(started))
        self.result["fingerprint_after"] = inv["fingerprint"]
        if problems:
            raise RelocationError("the inventory after the move differs: %s" % "; ".join(problems[:10]), "verify")
        self.actions.append("verified: root %s, %d images, %d containers (%d running), %d volumes" % (
            want, len(inv["images"]), len(inv["containers"]), len(inv["running"]), len(inv["volumes"])))
        self.mark("verify")
        _failpoints.reached("after_verify")

    def phase_source(self):
        originals = []
        for m in self.moves:
            if m.switch == "daemon_json" and not m.backup and os.path.isdir(m.source) and \
                    _mountinfo.mount_at(_mountinfo.read(), m.source) is None:
                m.backup = self.backup_name(m)
                self.save_marker()
                os.rename(m.source, m.backup)
            if m.backup and os.path.exists(m.backup):
                _failpoints.reached("during_source")
                if self.p["source"] == "remove":
                    shutil.rmtree(m.backup)
                    self.actions.append("removed the original %s" % m.backup)
                    originals.append({"name": m.name, "source": m.source, "removed": True, "backup": None})
                    m.backup = None
                else:
                    self.actions.append("kept the original as %s" % m.backup)
                    originals.append({"name": m.name, "source": m.source, "removed": False, "backup": m.backup})
        self.result["original"] = originals
        self.mark("source")
        self.save_marker(phase="done", finished=time.time())

    def transaction(self, resuming_switch):
        stopped_at = time.time()
        phase = "stop"
        try:
            if not resuming_switch:
                phase = "stop"
                self.timed("stop", self.phase_stop)
                phase = "final_copy"
                self.phase_final_copy()
            phase = "switch"
            self.timed("switch", self.phase_switch)
            phase = "start"
            self.timed("start", self.phase_start)
            phase = "verify"
            self.timed("verify", self.phase_verify)
        except Exception as exc:  # roll back whatever the failure was
            cause = str(exc)
            self.status.write(force=True, phase="rollback")
            try:
                self.rollback()
            except Exception as rb_exc:
                raise RelocationError(
                    "%s failed: %s; the rollback failed too: %s. The original data is untouched at %s; "
                    "see %s" % (phase, cause, rb_exc, ", ".join((m.backup or m.source) for m in self.moves),
                                marker_path(self.moves[0].target)), phase, rolled_back=False)
            raise RelocationError("%s failed: %s; rolled back: Docker serves from %s again with its inventory "
                                  "verified" % (phase, cause, self.moves[0].source), phase, rolled_back=True)
        self.result["downtime_seconds"] = round(time.time() - stopped_at, 3)
        self.timed("source", self.phase_source)
        self.status.write(force=True, phase="done", percent=100)

    # ------------------------------------------------------------ rollback
    def rollback(self):
        self.actions.append("rolling back")
        try:
            self.host.stop_docker(with_containerd=any(m.name == "containerd" for m in self.moves))
        except RelocationError:
            pass
        texts = self.marker.get("texts_before") or {}
        for m in self.moves:
            if m.switch == "bind":
                mounts = _mountinfo.read()
                while _mountinfo.mount_at(mounts, m.mount_point) is not None and \
                        _mountinfo.same_bind(mounts, m.target, m.mount_point):
                    self.host.run(["umount", m.mount_point])
                    mounts = _mountinfo.read()
                if m.backup and os.path.isdir(m.backup):
                    if os.path.isdir(m.source) and not os.listdir(m.source):
                        os.rmdir(m.source)
                    if not os.path.exists(m.source):
                        os.rename(m.backup, m.source)
                        m.backup = None
        for path in (self.p["fstab"], self.p["daemon_json"]):
            if path in texts and _fileops.read_text(path, default="") != texts[path]:
                if texts[path] == "" and path == self.p["daemon_json"]:
                    if os.path.exists(path):
                        os.unlink(path)
                else:
                    _fileops.atomic_write(path, texts[path], mode=0o644)
        for m in self.moves:
            d = os.path.join(DROPIN_DIRS[m.name], DROPIN_NAME)
            if texts.get(d):
                self.write_text(d, texts[d])
            elif os.path.exists(d):
                os.unlink(d)
        self.host.daemon_reload()
        self.save_marker(phase="rolled_back", phases_done=[p for p in self.marker.get("phases_done", [])
                                                           if p in ("record", "online_copy")])
        self.host.start_docker(with_containerd=any(m.name == "containerd" for m in self.moves))
        if not self.host.wait_docker(self.p.get("verify_timeout") or 90):
            raise RelocationError("Docker did not start on the original root")
        before = self.marker.get("inventory")
        if before:
            _inv, problems, _started = self.settle(before)
            if problems:
                raise RelocationError("after the rollback the inventory differs: %s" % "; ".join(problems[:5]))
        self.actions.append("rolled back to %s" % self.moves[0].source)

    # ------------------------------------------------------------ converge
    def converge_switched(self, facts):
        """Docker is configured for the target: make sure it runs and the move was finished."""
        engine = facts["engine"]
        docker = self.moves[0]
        self.result["moves"] = [m.to_dict() for m in self.moves]
        pending = self.marker and self.marker.get("phase") not in ("done", None)
        needs_start = not engine.get("running")
        if not pending and not needs_start:
            if os.path.normpath(engine.get("docker_root_dir") or "") != docker.service_root:
                raise RelocationError(
                    "the configuration points at %s but the running daemon uses %s; restart Docker to apply it"
                    % (docker.service_root, engine.get("docker_root_dir")), "verify")
            self.result["original"] = [
                {"name": m.name, "source": m.source, "removed": not (m.backup and os.path.exists(m.backup)),
                 "backup": m.backup if m.backup and os.path.exists(m.backup) else None} for m in self.moves]
            return self.result
        self.result["changed"] = True
        if self.check_mode:
            if needs_start:
                self.actions.append("start Docker on %s" % docker.service_root)
            if pending:
                self.actions.append("finish the interrupted move (verify, then handle the original)")
            return self.result
        if needs_start:
            self.host.start_docker(with_containerd=any(m.name == "containerd" for m in self.moves))
            if not self.host.wait_docker(self.p.get("verify_timeout") or 90):
                raise RelocationError("Docker did not answer after starting on %s" % docker.service_root, "start")
            self.actions.append("started Docker on %s" % docker.service_root)
        if pending and self.marker.get("inventory"):
            self.result["fingerprint_before"] = self.marker["inventory"]["fingerprint"]
            self.phase_verify()
            self.phase_source()
        return self.result


class Restore(Relocation):
    """Move Docker back to the original root kept by an earlier move (``source: keep``).

    What Docker holds now is copied back onto the kept original (a delta: the
    original was an exact copy at the time of the move), then the switch is
    undone: the bind mount and its fstab line, or data-root in daemon.json,
    and the drop-ins.  The copy on the target disk is left where it is.
    """

    def _run(self):
        target = os.path.normpath(self.p["path"])
        self.marker = self.load_marker(target)
        if not self.marker or not self.marker.get("moves"):
            raise RelocationError("no record of a move to %s (%s is missing): nothing to roll back" % (
                target, marker_path(target)), "preflight")
        facts = self.gather()
        mounts = _mountinfo.read()
        fwd = []
        for d in self.marker["moves"]:
            m = Move(d["name"], d["source"], d["target"], d["switch"], d.get("mount_point"))
            m.backup = d.get("backup")
            fwd.append(m)
        self.fwd = fwd
        dj = facts["config"]["daemon_json"]
        still_switched = [m for m in fwd if self.switched(m, mounts, dj)]
        if not still_switched and self.marker.get("phase") in ("restored", "rolled_back", "done", None):
            if not facts["engine"].get("running"):
                raise RelocationError("Docker is not running; start it (systemctl start docker)", "preflight")
            self.result["moves"] = [m.to_dict() for m in fwd]
            return self.result
        missing = [m for m in fwd if not (m.backup and os.path.isdir(m.backup))]
        if missing:
            raise RelocationError(
                "the original of %s was not kept (%s): the move ran with source=remove, so there is nothing to "
                "roll back to; move Docker again with dockyard.migrate.data_root instead" % (
                    ", ".join(m.source for m in missing), ", ".join(str(m.backup) for m in missing)), "preflight")
        if not facts["engine"].get("running"):
            raise RelocationError("Docker is not running, so its inventory cannot be recorded; start it first",
                                  "preflight")
        # Reverse moves: from where the data is now onto the kept original.
        self.moves = [Move(m.name, m.target, m.backup, m.switch, m.mount_point) for m in fwd]
        if not shutil.which("rsync"):
            raise RelocationError("rsync is not installed on this host", "preflight")
        for m in self.moves:
            m.size = _layout.measure(m.source).bytes
        self.result["moves"] = [m.to_dict() for m in fwd]
        self.result["changed"] = True
        if self.check_mode:
            for m in fwd:
                self.actions.append("copy %s back onto the kept original %s, stop Docker, copy the delta" % (
                    m.target, m.backup))
                self.actions.append("undo the %s switch and put %s back at %s" % (m.switch, m.backup, m.source))
            self.actions.append("start Docker and verify the inventory")
            return self.result
        self.marker["restore_texts"] = self.current_texts()
        self.save_restore_marker(phase="restore_record")
        inv = _inventory.collect(self.client)
        self.marker["inventory"] = inv
        self.result["fingerprint_before"] = inv["fingerprint"]
        self.actions.append("recorded %d images, %d containers (%d running) and %d volumes" % (
            len(inv["images"]), len(inv["containers"]), len(inv["running"]), len(inv["volumes"])))
        settled = self.committed_layers() if self.p.get("final_copy") != "full" else None
        secs = self.copy_pass("online_copy", True)[0]
        self.result["online_copy_seconds"] = round(secs, 3)
        stopped_at = time.time()
        phase = "stop"
        try:
            self.phase_stop_simple()
            phase = "final_copy"
            self.result["offline_copy_seconds"] = round(
                self.copy_pass("final_copy", False, self.skips(settled))[0], 3)
            phase = "switch"
            self.switch_back()
            phase = "start"
            self.phase_start()
            phase = "verify"
            self.verify_back()
        except Exception as exc:
            cause = str(exc)
            try:
                self.reapply_forward()
            except Exception as rb_exc:
                raise RelocationError("%s failed: %s; putting the moved root back failed too: %s" % (
                    phase, cause, rb_exc), phase, rolled_back=False)
            raise RelocationError("%s failed: %s; Docker serves from %s again" % (
                phase, cause, ", ".join(m.target for m in self.fwd)), phase, rolled_back=True)
        self.result["downtime_seconds"] = round(time.time() - stopped_at, 3)
        self.result["original"] = [{"name": m.name, "source": m.source, "removed": False, "backup": None,
                                    "left_copy": m.target} for m in self.fwd]
        self.actions.append("the copy at %s is left in place" % ", ".join(m.target for m in self.fwd))
        for m in self.fwd:
            m.backup = None
        self.moves = self.fwd
        self.save_restore_marker(phase="restored", finished=time.time())
        return self.result

    def save_restore_marker(self, **fields):
        self.marker.update(fields)
        self.marker["updated"] = time.time()
        self.marker["moves"] = [m.to_dict() for m in self.fwd]
        _fileops.atomic_write(marker_path(self.fwd[0].target),
                              json.dumps(self.marker, indent=1, sort_keys=True) + "\n", mode=0o600)

    def current_texts(self):
        out = {}
        for path in (self.p["fstab"], self.p["daemon_json"]):
            out[path] = _fileops.read_text(path, default="")
        for m in self.fwd:
            d = os.path.join(DROPIN_DIRS[m.name], DROPIN_NAME)
            out[d] = _fileops.read_text(d, default="")
        return out

    def phase_stop_simple(self):
        self.host.stop_docker(with_containerd=any(m.name == "containerd" for m in self.fwd))
        self.actions.append("stopped Docker")
        for m in self.fwd:
            root = m.mount_point if m.switch == "bind" else m.target
            left = self.host.wait_quiet(root, self.host.stop_timeout)
            if left:
                raise RelocationError("after stopping Docker, mounts remain under %s: %s" % (root, ", ".join(left[:5])))
            if m.switch != "bind":
                self.drop_self_bind(Move(m.name, m.target, m.target, "daemon_json"))

    def switch_back(self):
        before = self.marker.get("texts_before") or {}
        for m in self.fwd:
            if m.switch == "bind":
                mounts = _mountinfo.read()
                while _mountinfo.mount_at(mounts, m.mount_point) is not None:
                    self.host.run(["umount", m.mount_point])
                    mounts = _mountinfo.read()
                lines, changed = _fstab.remove_entry(
                    _fstab.parse(_fileops.read_text(self.p["fstab"], default="")), m.mount_point)
                if changed:
                    _fileops.atomic_write(self.p["fstab"], _fstab.render(lines), mode=0o644)
                if os.path.isdir(m.source) and not os.listdir(m.source):
                    os.rmdir(m.source)
                os.rename(m.backup, m.source)
            else:
                data, _text, _exists = _daemon_json.load(self.p["daemon_json"])
                old = _daemon_json.parse(before.get(self.p["daemon_json"], ""), self.p["daemon_json"])
                new = _daemon_json.without_data_root(data)
                if _daemon_json.data_root(old):
                    new["data-root"] = _daemon_json.data_root(old)
                _fileops.atomic_write(self.p["daemon_json"], _daemon_json.render(new), mode=0o644)
                if os.path.isdir(m.source) and not os.listdir(m.source):
                    os.rmdir(m.source)
                if not os.path.exists(m.source):
                    os.rename(m.backup, m.source)
            d = os.path.join(DROPIN_DIRS[m.name], DROPIN_NAME)
            if before.get(d):
                self.write_text(d, before[d])
            elif os.path.exists(d):
                os.unlink(d)
        self.host.daemon_reload()
        self.actions.append("switched back: %s" % ", ".join("%s -> %s" % (m.target, m.source) for m in self.fwd))

    def verify_back(self):
        docker = self.fwd[0]
        info = self.client.info()
        if os.path.normpath(info.get("DockerRootDir") or "") != docker.source:
            raise RelocationError("Docker reports its root as %s, expected %s" % (
                info.get("DockerRootDir"), docker.source))
        inv, problems, _started = self.settle(self.marker["inventory"])
        self.result["fingerprint_after"] = inv["fingerprint"]
        if problems:
            raise RelocationError("the inventory after the rollback differs: %s" % "; ".join(problems[:10]))
        self.actions.append("verified: root %s, %d images, %d containers (%d running), %d volumes" % (
            docker.source, len(inv["images"]), len(inv["containers"]), len(inv["running"]), len(inv["volumes"])))

    def reapply_forward(self):
        """A failed rollback puts the moved root back in service."""
        try:
            self.host.stop_docker(with_containerd=any(m.name == "containerd" for m in self.fwd))
        except RelocationError:
            pass
        texts = self.marker.get("restore_texts") or {}
        for m in self.fwd:
            if m.switch == "bind":
                mounts = _mountinfo.read()
                if not _mountinfo.same_bind(mounts, m.target, m.mount_point):
                    if os.path.isdir(m.source) and os.listdir(m.source) and not os.path.exists(m.backup):
                        os.rename(m.source, m.backup)
                        os.mkdir(m.source)
        for path, text in texts.items():
            if _fileops.read_text(path, default="") != text:
                if text:
                    self.write_text(path, text)
                elif os.path.exists(path):
                    os.unlink(path)
        self.host.daemon_reload()
        for m in self.fwd:
            if m.switch == "bind" and not _mountinfo.same_bind(_mountinfo.read(), m.target, m.mount_point):
                self.host.run(["mount", "-o", "bind", "--", m.target, m.mount_point])
        self.host.start_docker(with_containerd=any(m.name == "containerd" for m in self.fwd))
        if not self.host.wait_docker(self.p.get("verify_timeout") or 90):
            raise RelocationError("Docker did not start on the moved root")
