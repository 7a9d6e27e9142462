# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Docker's services under systemd: stop, start, wait, drop-ins.  Internal to dockyard.migrate.

Commands run through a ``runner(argv) -> (rc, out, err)`` as argument lists.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import os
import re
import sys
import tempfile
import time

from ansible_collections.dockyard.migrate.plugins.module_utils import _facts, _fileops, _local, _mountinfo
from ansible_collections.dockyard.migrate.plugins.module_utils._move import RelocationError

DROPIN_NAME = "dockyard-data-root.conf"
# A file only a moved root holds: the switch writes it into the target, the drop-in asserts it.  A mount unit
# alone does not keep the service off an empty root (systemd creates a missing bind source and mounts it).
SENTINEL_NAME = ".dockyard-data-root"
SENTINEL_TEXT = ("This directory is a data root moved by dockyard.migrate.  The service's drop-in asserts that "
                 "this file exists, so that it never starts on an empty directory when the disk is missing.\n")
DROPIN_DIRS = {"docker": "/etc/systemd/system/docker.service.d",
               "containerd": "/etc/systemd/system/containerd.service.d"}
RUNTIME_UNIT_DIR = "/run/systemd/system"
VIEW_DIR = "/run/dockyard-migrate"  # where a view beneath a mount point is made for a moment
# States of a unit that is running or on its way up or down (systemctl is-active).
LIVE_STATES = ("active", "activating", "deactivating", "reloading", "refreshing")


class SystemdError(RelocationError):
    """A systemctl, mount or umount command failed."""


def dropin_path(service):
    """The drop-in that ties SERVICE ("docker" or "containerd") to its data root's mount."""
    return os.path.join(DROPIN_DIRS[service], DROPIN_NAME)


_PLAIN = re.compile(r"^[A-Za-z0-9/._+:@,=-]+$")


def unit_quote(path):
    """PATH as one word of a unit file's list setting: as it is when plain, else double-quoted (spaces stay
    inside), backslash and quote escaped, ``%`` doubled (specifiers).  A control character is refused."""
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise ValueError("a path with a control character cannot be written into a unit file: %r" % path)
    if _PLAIN.match(path):
        return path
    return '"%s"' % path.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")


def unit_path(path):
    """PATH as the value of a single-path setting (AssertPathExists=): taken verbatim by systemd, so never quoted;
    ``%`` doubled (specifiers).  A control character is refused."""
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise ValueError("a path with a control character cannot be written into a unit file: %r" % path)
    return path.replace("%", "%%")


# Run before dockerd when data-root in daemon.json is what points Docker at its moved root: a daemon.json
# rewritten without it (a configuration-management run templating the file) would start Docker on an empty
# /var/lib/docker, which the sentinel of the moved root cannot tell.  No % nor $ (unit specifiers), no double quote.
DATA_ROOT_CHECK = (
    "import json,os,sys; p,t=sys.argv[1:3]; m=p+' does not set data-root to '+t+' (where dockyard.migrate moved "
    "Docker) or cannot be read: Docker is not started on another root. Set data-root again (run the move again, "
    "state moved) or roll the move back (state restored)'; sys.excepthook=lambda *a: sys.stderr.write(m+chr(10)); "
    "d=json.load(open(p,encoding='utf-8-sig')) if os.path.exists(p) else {}; "
    "sys.exit(0 if os.path.normpath(d.get('data-root') or d.get('graph') or '.')==t else m)")


def python_for_units():
    """The interpreter a unit's check runs with: the distribution's stable name (/usr/bin/python3, which an upgrade
    keeps pointing at its python3) when there is one, not a versioned binary an upgrade removes."""
    for path in ("/usr/bin/python3", "/usr/libexec/platform-python"):
        if os.access(path, os.X_OK):
            return path
    return sys.executable or "/usr/bin/python3"


def exec_quote(word):
    """WORD as one argument of an Exec line (ExecStartPre=): unit_quote, with ``$`` doubled (systemd expands
    ``$NAME`` and ``${NAME}`` there)."""
    quoted = unit_quote(word)
    return quoted.replace("$", "$$")


def dropin_text(mount_path, daemon_json=None):
    """The drop-in for a service whose root is MOUNT_PATH: it never starts without that mount and the sentinel
    there; with DAEMON_JSON (the daemon_json method), nor unless that file still sets data-root to MOUNT_PATH."""
    text = ("# Managed by dockyard.migrate: the service must never start on an empty data root.\n"
            "[Unit]\nRequiresMountsFor=%s\n" % unit_quote(mount_path)
            + "AssertPathExists=%s\n" % unit_path(os.path.join(mount_path, SENTINEL_NAME)))
    if daemon_json:
        text += "[Service]\nExecStartPre=%s -I -c \"%s\" %s %s\n" % (
            exec_quote(python_for_units()), DATA_ROOT_CHECK, exec_quote(daemon_json), exec_quote(mount_path))
    return text


def same_dropin(now, want):
    """Whether the drop-in text NOW holds Docker to what WANT (dropin_text) does: the same mount and sentinel,
    and the same daemon.json check of the same file and root when WANT has one.  The interpreter of the check and
    the wording of its script may differ (another run found another python3, an older release wrote it)."""
    def meaning(text):
        lines = [ln.strip() for ln in (text or "").splitlines()]
        keys = sorted(ln for ln in lines if ln.startswith(("RequiresMountsFor=", "AssertPathExists=")))
        checks = [ln for ln in lines if ln.startswith("ExecStartPre=")]
        # The check's own arguments close its line: the daemon.json it reads and the root it wants.
        return keys, [" ".join(_last_words(c, 2)) for c in checks if "data-root" in c]
    return bool(now) and meaning(now) == meaning(want)


def _last_words(line, n):
    """The last N words of an Exec line, as written (quoted words kept whole)."""
    words = re.findall(r'"(?:[^"\\]|\\.)*"|\S+', line)
    return words[-n:]


def dropin_for(move, daemon_json):
    """The drop-in text for MOVE (the daemon.json check for Docker's own root moved by the daemon_json method)."""
    checked = move.name == "docker" and move.switch.kind == "daemon_json"
    return dropin_text(move.service_root, daemon_json if checked else None)


def write_sentinel(target):
    """Mark TARGET as a moved root: the file the drop-in asserts (see SENTINEL_NAME)."""
    return write_text(os.path.join(target, SENTINEL_NAME), SENTINEL_TEXT)


def _processes(proc="/proc"):
    """(pid, argv) of every process, argv as a list of bytes."""
    try:
        entries = os.listdir(proc)
    except OSError:
        return
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc, entry, "cmdline"), "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0]:
            yield int(entry), argv


def docker_shims(proc="/proc"):
    """PIDs of containerd shims that serve Docker's containers (namespace moby)."""
    return sorted(pid for pid, argv in _processes(proc)
                  if b"containerd-shim" in os.path.basename(argv[0]) and b"moby" in argv)


def daemons(names, proc="/proc"):
    """(pid, name) of the running processes whose program is one of NAMES (for example "dockerd")."""
    want = set(n.encode("ascii") for n in names)
    return sorted((pid, os.path.basename(argv[0]).decode("ascii", "replace")) for pid, argv in _processes(proc)
                  if os.path.basename(argv[0]) in want)


def masked_at_runtime(unit, run_dir=None):
    """Whether UNIT is masked until the next boot (a link to /dev/null under /run/systemd/system)."""
    path = os.path.join(run_dir or RUNTIME_UNIT_DIR, unit)
    return os.path.islink(path) and os.readlink(path) == "/dev/null"


def write_text(path, text, mover=None):
    """Write a configuration file atomically unless it already holds TEXT (its directory made if missing)."""
    if os.path.exists(path) and _fileops.read_text(path, default="") == text:
        return False
    d = os.path.dirname(path)
    if not os.path.isdir(d):
        os.makedirs(d, 0o755)
    _fileops.atomic_write(path, text, mode=0o644, mover=mover)
    return True


class Systemd(_local.Local):
    """The managed host as data_root sees it (_host.Host): Docker's units through systemctl, the commands run
    by RUNNER, the mount table of /proc, and (_local.Local) its files, clock, lock and copies.  ``client`` is
    the Engine API client (for waiting)."""

    def __init__(self, runner, client, stop_timeout=120, mover=None, lock_dir=None):
        super(Systemd, self).__init__(runner=runner, mover=mover, lock_dir=lock_dir)
        self.client = client
        self.stop_timeout = stop_timeout

    @_local.acts
    def run(self, argv, what=None):
        rc, out, err = self.runner(argv)
        if rc != 0:
            raise SystemdError("%s failed (rc=%d): %s" % (what or " ".join(argv), rc, (err or out).strip()))
        return out

    def mountinfo(self):
        return _mountinfo.read()

    def masked(self, unit):
        return masked_at_runtime(unit)

    def systemctl(self, *args):
        return self.run(["systemctl"] + list(args))

    def unit_exists(self, unit):
        rc, out, _err = self.runner(["systemctl", "show", unit, "--property=LoadState", "--value"])
        return rc == 0 and out.strip() not in ("not-found", "")

    def docker_units(self):
        """docker.socket (when the host has one) and docker.service, in the order they are stopped."""
        return (["docker.socket"] if self.unit_exists("docker.socket") else []) + ["docker.service"]

    def stop_docker(self, with_containerd=False):
        self.systemctl("stop", *self.docker_units())
        if with_containerd and self.unit_exists("containerd.service"):
            self.systemctl("stop", "containerd.service")

    def window_units(self, with_containerd=False):
        """The units that must not start while Docker's data is between two roots."""
        units = ["docker.socket", "docker.service"]
        if with_containerd and self.unit_exists("containerd.service"):
            units.append("containerd.service")
        return units

    def mask(self, units):
        """Mask UNITS until they are unmasked or the host boots (``systemctl mask --runtime``): no agent,
        timer, socket or dependency can start them meanwhile.  Units already masked at runtime are left
        alone; returns the units this call masked, the ones to unmask later."""
        new = [u for u in units if not masked_at_runtime(u)]
        if new:
            self.systemctl("mask", "--runtime", *new)
        return new

    def unmask(self, units):
        """Undo ``mask`` (a unit that is no longer masked, after a reboot, is left as it is)."""
        if units:
            self.systemctl("unmask", "--runtime", *units)

    def check_stopped(self, units, timeout, proc="/proc"):
        """Wait until UNITS are inactive and no dockerd (nor containerd, when its unit is among UNITS) runs;
        raise a RelocationError naming what still runs at the deadline."""
        names = ["dockerd"] + (["containerd"] if "containerd.service" in units else [])
        deadline = time.time() + timeout
        while True:
            live = []
            for unit in units:
                _rc, out, _err = self.runner(["systemctl", "is-active", unit])
                if out.strip() in LIVE_STATES:
                    live.append("%s is %s" % (unit, out.strip()))
            live += ["%s (pid %d) runs" % (name, pid) for pid, name in daemons(names, proc)]
            if not live:
                return
            if time.time() > deadline:
                raise SystemdError("Docker is not stopped: %s" % "; ".join(live), "stop")
            time.sleep(0.1)

    def start_docker(self, with_containerd=False):
        units = self.docker_units()
        self.runner(["systemctl", "reset-failed"] + units)
        if with_containerd and self.unit_exists("containerd.service"):
            self.systemctl("start", "containerd.service")
        for unit in units:
            self.systemctl("start", unit)

    def started_since(self, when, unit="docker.service", boot_id=None):
        """Whether UNIT's main process started after WHEN (a time.time() value) written in the boot BOOT_ID:
        a start in this boot after WHEN, or any start in this boot when WHEN was in another (whatever the wall
        clock did across the reboot).  When that cannot be told, it is taken to have started."""
        _rc, out, _err = self.runner(["systemctl", "show", unit, "--property=ExecMainStartTimestampMonotonic",
                                      "--value"])
        try:
            mono = int(out.strip()) / 1e6
        except ValueError:
            return True
        if mono <= 0:
            return False  # not started since the boot
        if boot_id and boot_id != self.boot_id():
            return True  # started in this boot, and WHEN was in an earlier one
        return time.time() - (time.monotonic() - mono) > (when or 0)

    def daemon_reload(self):
        self.systemctl("daemon-reload")

    def wait_docker(self, timeout):
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

    @contextlib.contextmanager
    def view_beneath(self, path):
        """The view is a bind of PATH's parent directory alone (not the filesystem's root), not recursive: PATH in
        it is the directory beneath whatever is mounted there.  A view a killed run left mounted is unmounted
        first."""
        path = os.path.normpath(path)
        for e in _mountinfo.mounts_under(_mountinfo.read(), VIEW_DIR):
            if os.path.basename(e.mount_point).startswith("beneath-"):
                self.run(["umount", "--", e.mount_point])
        os.makedirs(VIEW_DIR, 0o700, exist_ok=True)
        view = tempfile.mkdtemp(prefix="beneath-", dir=VIEW_DIR)
        try:
            self.run(["mount", "--bind", "--", os.path.dirname(path), view])
            try:
                self.run(["mount", "--make-private", "--", view])
                yield os.path.join(view, os.path.basename(path))
            finally:
                self.run(["umount", "--", view])
        finally:
            os.rmdir(view)

    def drop_self_bind(self, root):
        """dockerd may leave its root bind-mounted onto itself (to set propagation): undo that."""
        mounts = _mountinfo.read()
        e = _mountinfo.mount_at(mounts, root)
        if e is not None and _mountinfo.bind_source(mounts, root) is None and e.root not in ("/", ""):
            self.run(["umount", root])

    @_local.acts
    def write_dropin(self, service, text):
        """Tie SERVICE to its root with the drop-in TEXT (dropin_for): from the next daemon-reload it cannot
        start without that root's mount and sentinel."""
        write_text(dropin_path(service), text, mover=self.mover)

    def dropin(self, service):
        return _fileops.read_text(dropin_path(service), default="")

    @_local.acts
    def write_sentinel(self, target):
        write_sentinel(target)

    def gather(self, daemon_json_path, fstab_path):
        return _facts.gather(self.client, self.runner, daemon_json_path=daemon_json_path, fstab_path=fstab_path,
                             sizes=False, inventory=False)

    @_local.acts
    def restore_file(self, path, text, keep_empty=False):
        """Put a configuration file back as TEXT.  An empty TEXT means the file did not exist and it is
        removed, unless KEEP_EMPTY (fstab, which is written back empty rather than removed)."""
        if text or keep_empty:
            write_text(path, text, mover=self.mover)
        elif os.path.exists(path):
            os.unlink(path)
