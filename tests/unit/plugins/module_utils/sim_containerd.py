# -*- coding: utf-8 -*-
"""The simulated host of sim_bind.py whose Docker keeps its images in containerd's image store, for the crash points
of a move that carries containerd's root too (test_crash_points_containerd.py).

containerd is a service of its own (containerd.service, with its runtime mask and the move's drop-in): it serves
the root its config.toml names (MACHINE/var/lib/containerd, where the move's bind is mounted), fixed when it starts,
and it starts at boot whether Docker does or not; Docker (docker.service wants containerd.service) starts it when it
is down, and does not start without it.  Docker's images are read from containerd's root (``content/``), and the
running container writes into its writable layer there (``snapshots/web/fs/``) as it writes into its volume on
Docker's root: a recovery must end with both roots served holding every write.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.dockyard.migrate.plugins.module_utils import _systemd

import sim_bind  # pylint: disable=import-error
import sim_host  # pylint: disable=import-error

UNITS = sim_host.DOCKER_UNITS + ("containerd.service",)
LAYER = ("snapshots", "web", "fs")


def ctd_default(machine):
    return os.path.join(machine, "var", "lib", "containerd")


def seed(machine):
    """sim_host.seed's machine, its images in containerd's root (content/) with the running container's writable
    layer there (a file it wrote), and config.toml naming that root."""
    sim_host.seed(machine)
    root = ctd_default(machine)
    os.makedirs(os.path.join(root, "content"))
    for image in ("base", "app"):
        with open(os.path.join(root, "content", image), "w") as f:
            f.write(image)
    os.makedirs(os.path.join(root, *LAYER))
    with open(os.path.join(root, *(LAYER + ("motd",))), "w") as f:
        f.write("written before the move\n")
    os.makedirs(os.path.join(machine, "etc", "containerd"))


def install(seeded, machine):
    """A copy of the SEEDED machine at MACHINE (sim_bind.install's), its config.toml naming its containerd root."""
    sim_bind.install(seeded, machine)
    with open(os.path.join(machine, "etc", "containerd", "config.toml"), "w") as f:
        f.write('version = 2\nroot = "%s"\n' % ctd_default(machine))


def layer(root):
    """The files of the running container's writable layer under containerd's ROOT, with their text."""
    return sim_host.files_in(os.path.join(root, *LAYER))


def content(root):
    d = os.path.join(root, "content")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


class CtdSimHost(sim_bind.BindSimHost):
    """sim_bind.BindSimHost with containerd.service and Docker's images and writable layers in containerd's root."""

    def __init__(self, machine, lock_dir):
        super(CtdSimHost, self).__init__(machine, lock_dir)
        self.ctd_config = os.path.join(machine, "etc", "containerd", "config.toml")
        self.ctd_running = False
        self.ctd_root = None  # the path of the root containerd was started on
        self.ctd_fd = None  # that root, held open: what containerd serves, wherever it is renamed or mounted over
        self.ctd_started_at = None
        self.layer_model = None  # the writable layer's files as the container last left them

    def client(self):
        return CtdSimClient(self)

    # ------------------------------------------------------------ containerd.service
    def configured_ctd_root(self):
        with open(self.ctd_config) as f:
            return os.path.normpath(re.search(r'^root = "(.*)"$', f.read(), re.M).group(1))

    def _start_containerd(self):
        if "containerd.service" in self.masked_units:
            raise _systemd.SystemdError("Failed to start containerd.service: Unit containerd.service is masked.")
        if self.ctd_running:  # systemctl start of a running unit does nothing: it keeps the root it holds
            return
        dropin = self.dropins.get("containerd")
        if dropin:
            held = re.search(r"^RequiresMountsFor=(.*)$", dropin, re.M).group(1)
            if held in getattr(self, "failed_mounts", []):
                raise _systemd.SystemdError("containerd.service: dependency failed (mount of %s)" % held)
            if not os.path.exists(os.path.join(held, _systemd.SENTINEL_NAME)):
                raise _systemd.SystemdError("containerd.service: assertion failed (no sentinel in %s)" % held)
        root = self.configured_ctd_root()
        if not os.path.isdir(root):  # containerd makes the root it is given, empty
            os.makedirs(os.path.join(root, "content"))
        self.ctd_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        self.ctd_running, self.ctd_root, self.ctd_started_at = True, root, (self.boot, self.time())
        if self.layer_model is None:
            self.layer_model = layer(self.ctd_dir)

    @property
    def ctd_dir(self):
        """The directory containerd serves, as it holds it (its root's path may show something else since)."""
        return "/proc/self/fd/%d" % self.ctd_fd if self.ctd_running else None

    def ctd_serves(self, path):
        """Whether the running containerd serves the directory PATH shows now (the same inode)."""
        held, there = os.fstat(self.ctd_fd), os.stat(path)
        return self.ctd_running and (held.st_dev, held.st_ino) == (there.st_dev, there.st_ino)

    def _start(self):
        if not self.ctd_running:  # docker.service wants containerd.service; dockerd waits for its socket
            self._start_containerd()
        return super(CtdSimHost, self)._start()

    def stop_containerd(self):
        """containerd stops (Docker with it: it cannot run without it)."""
        self.shut_down()
        if self.ctd_fd is not None:
            os.close(self.ctd_fd)
        self.ctd_running, self.ctd_fd = False, None

    def reboot(self, start=True):
        """As BindSimHost's, containerd stopped at the shutdown and started at the boot whether Docker is or not."""
        self.stop_containerd()
        return super(CtdSimHost, self).reboot(start)

    def at_boot(self, start):
        try:
            self._start_containerd()
        except _systemd.SystemdError:
            pass
        super(CtdSimHost, self).at_boot(start)

    def write_in_a_container(self, name, text):
        """The running container writes a file into its volume on Docker's root and the same into its writable
        layer on containerd's: where either root lacks it (a service started on an empty root), it does not run
        and writes nothing."""
        assert self.running and self.ctd_running, "no container writes while Docker is down"
        path = os.path.join(self.ctd_dir, *(LAYER + (name,)))
        if not (os.path.isdir(os.path.dirname(path)) and
                os.path.isdir(os.path.join(self.root, "volumes", "site", "_data"))):
            return False

        def write():
            with open(path, "w") as f:
                f.write(text)
        sim_host.in_a_container(write)
        self.layer_model[name] = text
        self.written_on.add(self.ctd_root)
        return super(CtdSimHost, self).write_in_a_container(name, text)

    # ------------------------------------------------------------ what the module asks systemd
    def runner(self, argv):
        if argv[:2] == ["systemctl", "show"] and argv[2] == "containerd.service" and "--property=LoadState" in argv:
            return 0, "loaded\n", ""
        return super(CtdSimHost, self).runner(argv)

    def unit_exists(self, unit):
        return unit in UNITS

    def window_units(self, with_containerd=False):
        return list(sim_host.DOCKER_UNITS) + (["containerd.service"] if with_containerd else [])

    def stop_docker(self, with_containerd=False):
        self.changes.append("stop_docker")
        self.shut_down()
        if with_containerd:
            self.stop_containerd()

    def check_stopped(self, units, timeout, proc="/proc"):
        if self.running or ("containerd.service" in units and self.ctd_running):
            raise _systemd.SystemdError("Docker is not stopped", "stop")

    def start_docker(self, with_containerd=False):
        self.changes.append("start_docker")
        if with_containerd:
            self._start_containerd()
        self._start()

    def started_since(self, when, unit="docker.service", boot_id=None):
        if unit != "containerd.service":
            return super(CtdSimHost, self).started_since(when, unit, boot_id)
        if self.ctd_started_at is None or self.ctd_started_at[0] != self.boot:
            return False
        return boot_id != self.boot_id() or self.ctd_started_at[1] > (when or 0)


class CtdSimClient(sim_host.SimClient):
    """The Engine API of a Docker on containerd's image store: its images are what containerd's root holds."""

    def info(self):
        out = super(CtdSimClient, self).info()
        out.update(Driver="overlayfs", DriverStatus=[["driver-type", "io.containerd.snapshotter.v1"]])
        return out

    def image_names(self):
        """The images Docker holds: the content of the root containerd serves."""
        self._root()
        return content(self.host.ctd_dir)
