# -*- coding: utf-8 -*-
"""The simulated host of sim_host.py with real mounts, for the bind method's crash points.

Each case runs in a forked child in a private mount namespace (``in_namespace``): the bind the move mounts, the
mount table the module reads, the view beneath a mount point and fstab's bind lines mounted at boot are the kernel's,
and they vanish with the child.  Docker, systemd and the clock stay simulated (sim_host.SimHost); Docker's root is the
path daemon.json names, so what it serves is whatever is mounted there, and unmounting a mount Docker's root is at or
under while Docker runs fails as it does on a host (target is busy).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ctypes
import json
import os
import select
import signal
import subprocess
import traceback

from ansible_collections.dockyard.migrate.plugins.module_utils import _config, _mountinfo, _systemd

import audit  # pylint: disable=import-error
import sim_host  # pylint: disable=import-error

CLONE_NEWNS = 0x00020000


def in_namespace(fn, *args, **kwargs):
    """FN(*ARGS) in a forked child with a private mount namespace; its JSON-able return value.  What it raised
    comes back as an AssertionError naming it (with the child's traceback); a child that does not answer within
    TIMEOUT seconds is killed and reported.  What the unit suite's audit (tests/unit/audit.py) saw the collection's
    code do wrong in the child is handed to the parent's auditors, as if it had happened there."""
    timeout = kwargs.pop("timeout", 120)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the test runner
        code = 0
        marks = [len(a.violations) for a in audit._ACTIVE]  # pylint: disable=protected-access
        try:
            os.close(r)
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.unshare(CLONE_NEWNS) != 0:
                raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS) failed")
            subprocess.run(["mount", "--make-rprivate", "/"], check=True, timeout=30)
            msg = {"ok": fn(*args, **kwargs)}
        except BaseException as exc:  # pylint: disable=broad-except
            msg = {"error": "%s: %s" % (type(exc).__name__, exc), "tb": traceback.format_exc()[-4000:]}
            code = 1
        msg["audit"] = [[list(v) for v in a.violations[n:]]
                        for a, n in zip(audit._ACTIVE, marks)]  # pylint: disable=protected-access
        data = json.dumps(msg).encode("utf-8")
        while data:
            data = data[os.write(w, data):]
        os._exit(code)  # pylint: disable=protected-access
    os.close(w)
    chunks = []
    try:
        while True:
            ready, _w, _x = select.select([r], [], [], timeout)
            if not ready:
                os.kill(pid, signal.SIGKILL)
                raise AssertionError("the case did not finish within %d s" % timeout)
            chunk = os.read(r, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    out = json.loads(b"".join(chunks).decode("utf-8") or '{"error": "the child said nothing", "tb": ""}')
    for auditor, seen in zip(audit._ACTIVE, out.get("audit", [])):  # pylint: disable=protected-access
        auditor.violations.extend(tuple(v) for v in seen)
    if "error" in out:
        raise AssertionError("%s\n%s" % (out["error"], out["tb"]))
    return out["ok"]


def need_namespace():
    """Skip the calling test where root may not make a mount namespace on this machine."""
    import pytest  # pylint: disable=import-outside-toplevel
    try:
        in_namespace(int)
    except AssertionError as exc:
        if "unshare" not in str(exc):
            raise
        pytest.skip("no private mount namespace here: %s" % str(exc).splitlines()[0])


def install(seeded, machine):
    """A copy of the SEEDED machine at MACHINE whose daemon.json names no data-root (Docker's default root is the
    machine's var/lib/docker)."""
    sim_host.install(seeded, machine)
    with open(os.path.join(machine, "etc", "docker", "daemon.json"), "w") as f:
        json.dump({"bridge": "none"}, f)


class BindSimHost(sim_host.SimHost):
    """sim_host.SimHost with the kernel's mounts (inside in_namespace only)."""

    def __init__(self, machine, lock_dir):
        super(BindSimHost, self).__init__(machine, lock_dir)
        # This child's own: where views beneath a mount are made, and Docker's default root (daemon.json names
        # none, as on a host whose root a bind moves).
        _systemd.VIEW_DIR = os.path.join(machine, "run", "views")
        _config.DEFAULT_ROOT = self.default_root

    def run(self, argv, what=None):
        self.changes.append("run")
        if argv[0] not in ("mount", "umount"):
            return ""
        if argv[0] == "umount" and self.running:
            point = os.path.normpath(argv[-1])
            if self.root == point or self.root.startswith(point + "/"):
                raise _systemd.SystemdError("%s failed (rc=32): umount: %s: target is busy." % (
                    what or " ".join(argv), point))
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        if p.returncode != 0:
            raise _systemd.SystemdError("%s failed (rc=%d): %s" % (what or " ".join(argv), p.returncode,
                                                                   (p.stderr or p.stdout).strip()))
        return p.stdout

    def mountinfo(self):
        """The kernel's mounts.  Where the machine's files live on a tmpfs (explore.scratch keeps them in memory),
        that tmpfs stands for the host's disk: its mounts, and the binds made from it, say ext4.  (Collection code
        that read the mount table other than through the host's mountinfo would see the tmpfs, and refuse it: a
        failure only on the tmpfs points there.)"""
        mounts = _mountinfo.read()
        for m in mounts:
            point = m.mount_point.rstrip("/") + "/"
            if m.fstype == "tmpfs" and ((self.machine + "/").startswith(point) or point.startswith(self.machine + "/")):
                m.fstype = "ext4"
        return mounts

    view_beneath = _systemd.Systemd.view_beneath
    drop_self_bind = _systemd.Systemd.drop_self_bind

    def fstab_binds(self):
        """fstab's bind lines for paths of this machine: [(source, mount point)]."""
        out = []
        try:
            with open(os.path.join(self.machine, "etc", "fstab")) as f:
                lines = f.read().splitlines()
        except OSError:
            return out
        for line in lines:
            fields = line.split()
            if len(fields) >= 4 and not fields[0].startswith("#") and "bind" in fields[3].split(",") and \
                    fields[1].startswith(self.machine + "/"):
                out.append((fields[0], fields[1]))
        return out

    def mounted(self, path):
        return _mountinfo.mount_at(_mountinfo.read(), path) is not None

    def reboot(self, start=True):
        """The shutdown (Docker's containers write as it stops), every mount of this machine gone, fstab's bind
        lines mounted as systemd mounts them at boot (a missing mount point made first; a line whose source is
        missing fails, and with it the units that require that path), then the boot as SimHost's."""
        self.shut_down()
        for e in sorted(_mountinfo.mounts_under(_mountinfo.read(), self.machine), key=lambda e: -len(e.mount_point)):
            subprocess.run(["umount", "-l", e.mount_point], check=False, timeout=30)
        self.failed_mounts = []
        for src, point in self.fstab_binds():
            if not os.path.isdir(point):  # systemd makes a mount point that is missing
                os.makedirs(point, 0o755)
            p = subprocess.run(["mount", "--bind", src, point], capture_output=True, check=False, timeout=30)
            if p.returncode != 0:
                self.failed_mounts.append(point)
        return super(BindSimHost, self).reboot(start)

    def _start(self):
        dropin = self.dropins.get("docker") or ""
        for point in getattr(self, "failed_mounts", []):
            if "RequiresMountsFor=%s" % point in dropin:
                raise _systemd.SystemdError("docker.service: dependency failed (mount of %s)" % point)
        return super(BindSimHost, self)._start()
