# -*- coding: utf-8 -*-
"""A simulated managed host for exploring every crash point of a move (tests/unit/.../test_crash_points.py).

Its files are real, under a directory of the test (the data roots, daemon.json, fstab, the marker); the copies,
measures and lock are the real ones (_local.Files). What it simulates is what a unit test cannot have: systemd
(Docker's units, their runtime masks, the drop-in's conditions at start), Docker itself (the root it serves,
fixed when it starts, and its images, containers and volumes, read from that root's files), the clock and the
boot. A kill is a SIGKILL of the module: every call that would change the host from the Nth on raises Killed,
so nothing the dead process would have done happens (not even its finally blocks' changes).  A reboot lifts the
runtime masks, gives a new boot id and starts Docker as systemd would.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import json
import os
import re
import shutil
import threading

from ansible_collections.dockyard.migrate.plugins.module_utils import _local, _systemd

DOCKER_UNITS = ("docker.socket", "docker.service")
EXEC_START = "{ path=/usr/sbin/dockerd ; argv[]=/usr/sbin/dockerd -H fd:// ; ignore_errors=no }"


class Killed(BaseException):
    """The module's process was killed (SIGKILL) at a host call."""


class Ticks(list):
    """The host's ``changes``: the Nth change (counted over the host's life) is where a kill lands."""

    def __init__(self, host):
        super(Ticks, self).__init__()
        self.host = host

    def append(self, name):
        self.host.tick(name)
        super(Ticks, self).append(name)


class SimHost(_local.Local):
    """The machine under MACHINE (a directory): Docker's default root MACHINE/var/lib/docker, daemon.json at
    MACHINE/etc/docker/daemon.json (which names the root Docker serves), fstab at MACHINE/etc/fstab."""

    stop_timeout = 1
    boot_fstab = None

    def __init__(self, machine, lock_dir):
        super(SimHost, self).__init__(runner=self.runner, lock_dir=lock_dir)
        self.machine = machine
        self.daemon_json = os.path.join(machine, "etc", "docker", "daemon.json")
        self.default_root = os.path.join(machine, "var", "lib", "docker")
        self.changes = Ticks(self)
        self.count = 0  # the changes made, over every run
        self.kill_at = None  # the count at which the process dies
        self.killed_before = None
        self.dead = False
        self.masked_units = set()
        self.dropins = {}
        self.running = False
        self.root = None  # the root Docker serves, fixed when it started
        self.boot = 1
        self.clock = 1000.0
        self.started_at = None  # (boot, time) of Docker's last start
        self.open_locks = []
        # The volume's files as Docker's containers last left them ({name: text}): every write they made, in
        # order.  A recovery must end with the root Docker serves holding exactly these.
        self.model = None
        self.stops = 0
        self.written_on = set()  # the roots containers wrote to (a test clears it to watch a stretch of time)

    def lock(self, check_mode=False):
        f = super(SimHost, self).lock(check_mode)
        self.open_locks.append(f)
        return f

    # ------------------------------------------------------------ the process: kills and new runs
    def tick(self, name):
        if self.dead:
            raise Killed("the process is dead (%s)" % name)
        self.count += 1
        if self.kill_at is not None and self.count >= self.kill_at:
            self.dead = True
            self.killed_before = name  # the change the kill came before
            raise Killed("killed before change %d (%s)" % (self.count, name))

    def new_process(self, kill_at=None):
        """A new run of the module on this host: alive, with a kill at the change KILL_AT (counted from now).
        The last process's descriptors are closed (its lock with them), as its death closed them."""
        for f in self.open_locks:
            f.close()
        self.open_locks = []
        self.dead = False
        self.changes = Ticks(self)
        self.kill_at = None if kill_at is None else self.count + kill_at

    def reboot(self, start=True):
        """The runtime masks go, the boot id changes, and systemd starts Docker as it is configured now (the
        drop-in may keep it from starting).  A running Docker is stopped first, as the shutdown stops it."""
        self.shut_down()
        self.masked_units = set()
        self.running = False
        self.boot += 1
        self.clock += 100
        self.at_boot(start)
        return self.running

    def at_boot(self, start):
        """systemd starts Docker as it is configured now, unless not START (Docker disabled for this boot, or its
        start left to the operator); a start that fails leaves it down."""
        if not start:
            return
        try:
            self._start()
        except _systemd.SystemdError:
            pass

    # ------------------------------------------------------------ Docker as the host configures it
    def configured_root(self):
        try:
            with open(self.daemon_json) as f:
                data = json.load(f)
        except (OSError, ValueError):
            data = {}
        return os.path.normpath(data.get("data-root") or self.default_root)

    def _start(self):
        if "docker.service" in self.masked_units:
            raise _systemd.SystemdError("Failed to start docker.service: Unit docker.service is masked.")
        root = self.configured_root()
        dropin = self.dropins.get("docker")
        if dropin:
            held = re.search(r"^RequiresMountsFor=(.*)$", dropin, re.M).group(1)
            if not os.path.exists(os.path.join(held, _systemd.SENTINEL_NAME)):
                raise _systemd.SystemdError("docker.service: assertion failed (no sentinel in %s)" % held)
            if "ExecStartPre=" in dropin and root != held:
                raise _systemd.SystemdError("docker.service: daemon.json does not set data-root to %s" % held)
        if not os.path.isdir(root):  # dockerd makes the root it is given, empty
            for part in ("image", "containers", "volumes"):
                os.makedirs(os.path.join(root, part))
        self.running, self.root, self.started_at = True, root, (self.boot, self.time())
        if self.model is None:
            self.model = volume(root)

    def shut_down(self):
        """Docker stops: its containers' last writes land first (a file added, one rewritten, one deleted)."""
        if not self.running:
            return
        self.stops += 1
        self.write_in_a_container("stop.txt", "stopped %d times" % self.stops)
        self.write_in_a_container("index.html", "hello %d\n" % self.stops)
        self.delete_in_a_container("old.txt")
        self.running = False

    def start_by_hand(self):
        """systemctl start docker, by the operator."""
        self._start()

    def edit_daemon_json(self, **keys):
        """daemon.json edited by hand or by configuration management: KEYS set, the rest as it is."""
        with open(self.daemon_json) as f:
            data = json.load(f)
        data.update(keys)
        with open(self.daemon_json, "w") as f:
            json.dump(data, f)

    def template_daemon_json(self):
        """daemon.json written anew by configuration management from its own template, which does not know the
        move: data-root is Docker's default root again (named: the simulated machine's default root is not
        /var/lib/docker, which an absent data-root would mean to the module)."""
        with open(self.daemon_json) as f:
            data = json.load(f)
        data["data-root"] = self.default_root
        with open(self.daemon_json, "w") as f:
            json.dump(data, f, indent=2)

    def remove_dropin(self):
        """The operator removes the move's drop-in by hand (and reloads systemd): nothing keeps Docker from
        starting on whatever root daemon.json names."""
        self.dropins.pop("docker", None)

    def write_in_a_container(self, name, text):
        """A container writes a file into its volume on the root Docker serves now."""
        assert self.running, "no container writes while Docker is down"
        path = os.path.join(self.root, "volumes", "site", "_data", name)
        if not os.path.isdir(os.path.dirname(path)):
            return False  # a root without the container (Docker started on an empty one): nothing writes
        self.written_on.add(self.root)

        def write():
            with open(path, "w") as f:
                f.write(text)
        in_a_container(write)
        self.model[name] = text
        return True

    def delete_in_a_container(self, name):
        """A container deletes a file of its volume (if it is there)."""
        assert self.running, "no container writes while Docker is down"
        path = os.path.join(self.root, "volumes", "site", "_data", name)
        if os.path.exists(path):
            self.written_on.add(self.root)
            in_a_container(lambda: os.unlink(path))
        self.model.pop(name, None)

    # ------------------------------------------------------------ commands (what systemctl show answers)
    def runner(self, argv):
        if argv[:2] == ["systemctl", "show"]:
            prop = argv[-2] if argv[-1] == "--value" else argv[-1]
            if argv[2] == "docker.service" and prop == "--property=ExecStart":
                return 0, EXEC_START + "\n", ""
            if prop == "--property=LoadState":
                return 0, ("loaded" if argv[2] in DOCKER_UNITS else "not-found") + "\n", ""
            return 0, "\n", ""
        return 0, "", ""

    def run(self, argv, what=None):
        self.changes.append("run")
        return ""

    def gather(self, daemon_json_path, fstab_path):
        from ansible_collections.dockyard.migrate.plugins.module_utils import _facts
        return _facts.gather(self.client(), self.runner, daemon_json_path=daemon_json_path, fstab_path=fstab_path,
                             sizes=False, inventory=False,
                             containerd_config=os.path.join(self.machine, "etc", "containerd", "config.toml"))

    def client(self):
        """Docker's Engine API on this host."""
        return SimClient(self)

    def which(self, name):
        return "/usr/sbin/%s" % name if name == "dockerd" else super(SimHost, self).which(name)

    # ------------------------------------------------------------ Docker's units
    def unit_exists(self, unit):
        return unit in DOCKER_UNITS

    def docker_units(self):
        return list(DOCKER_UNITS)

    def window_units(self, with_containerd=False):
        return list(DOCKER_UNITS)

    def masked(self, unit):
        return unit in self.masked_units

    def mask(self, units):
        new = [u for u in units if u not in self.masked_units]
        if new:
            self.changes.append("mask")
            self.masked_units |= set(new)
        return new

    def unmask(self, units):
        if units:
            self.changes.append("unmask")
            self.masked_units -= set(units)

    def stop_docker(self, with_containerd=False):
        self.changes.append("stop_docker")
        self.shut_down()

    def check_stopped(self, units, timeout, proc="/proc"):
        if self.running:
            raise _systemd.SystemdError("Docker is not stopped", "stop")

    def start_docker(self, with_containerd=False):
        self.changes.append("start_docker")
        self._start()

    def started_since(self, when, unit="docker.service", boot_id=None):
        if self.started_at is None or self.started_at[0] != self.boot:
            return False
        return boot_id != self.boot_id() or self.started_at[1] > (when or 0)

    def wait_docker(self, timeout):
        return self.running

    def wait_quiet(self, root, timeout):
        return []

    @contextlib.contextmanager
    def view_beneath(self, path):
        raise AssertionError("SimHost: no view beneath a mount (no mounts here)")

    def drop_self_bind(self, root):
        self.changes.append("drop_self_bind")

    def daemon_reload(self):
        self.changes.append("daemon_reload")

    def write_dropin(self, service, text):
        self.changes.append("write_dropin")
        self.dropins[service] = text

    def dropin(self, service):
        return self.dropins.get(service, "")

    def read_text(self, path, default=None):
        for service in ("docker", "containerd"):  # the drop-ins are systemd's, simulated
            if path == _systemd.dropin_path(service):
                return self.dropins.get(service, "")
        return super(SimHost, self).read_text(path, default)

    def write_sentinel(self, target):
        self.write_file(os.path.join(target, _systemd.SENTINEL_NAME), _systemd.SENTINEL_TEXT)

    def restore_file(self, path, text, keep_empty=False):
        self.changes.append("restore_file")
        for service in ("docker", "containerd"):
            if path == _systemd.dropin_path(service):
                if text:
                    self.dropins[service] = text
                else:
                    self.dropins.pop(service, None)
                return
        if text or keep_empty:
            _local.Files.write_file(self, path, text, config=True)
        elif os.path.exists(path):
            os.unlink(path)

    def mountinfo(self):
        return []

    # ------------------------------------------------------------ the clock and the boot
    def time(self):
        self.clock += 1
        return self.clock

    def sleep(self, seconds):
        self.clock += seconds

    def boot_id(self):
        return "boot-%d" % self.boot


class Stream:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    @staticmethod
    def iter_json_lines():
        return iter(())


class SimClient:
    """Docker's Engine API on the simulated host: it answers while Docker runs, from the root it serves."""

    api_version = "1.45"

    def __init__(self, host):
        self.host = host

    def ping(self):
        return self.host.running

    def _root(self, *parts):
        if not self.host.running:
            from ansible_collections.dockyard.migrate.plugins.module_utils._docker_api import DockerUnavailable
            raise DockerUnavailable("Docker is not running")
        return os.path.join(self.host.root, *parts)

    def info(self):
        self._root()
        return {"DockerRootDir": self.host.root, "Driver": "overlay2", "DriverStatus": [],
                "Swarm": {"LocalNodeState": "inactive"}, "LiveRestoreEnabled": False}

    def version(self):
        self._root()
        return {"Version": "26.1.5", "ApiVersion": "1.45"}

    def _names(self, *parts):
        d = self._root(*parts)
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def image_names(self):
        """The images Docker holds: the files of its root's image/."""
        return self._names("image")

    def get(self, path, params=None, **_kw):
        if path == "/images/json":
            return [{"Id": "sha256:" + n, "RepoTags": ["seed/%s:1" % n], "Size": 1, "Created": 0}
                    for n in self.image_names()]
        if path == "/containers/json":
            return [{"Id": n} for n in self._names("containers")]
        if path.startswith("/containers/") and path.endswith("/json"):
            name = path.split("/")[2]
            with open(self._root("containers", name, "state")) as f:
                state = f.read().strip()
            return {"Name": "/" + name, "Image": "sha256:base", "Config": {"Image": "seed/base:1"},
                    "State": {"Status": state, "Running": state == "running"},
                    "HostConfig": {"RestartPolicy": {"Name": "always"}}}
        if path == "/volumes":
            return {"Volumes": [{"Name": n, "Driver": "local", "Mountpoint": self._root("volumes", n, "_data")}
                                for n in self._names("volumes")]}
        raise AssertionError("SimClient: GET %s is not simulated" % path)

    def post(self, path, params=None, **_kw):
        m = re.match(r"^/containers/([^/]+)/(start|stop)$", path)
        if not m:
            raise AssertionError("SimClient: POST %s is not simulated" % path)
        with open(self._root("containers", m.group(1), "state"), "w") as f:
            f.write("running" if m.group(2) == "start" else "exited")

    def stream(self, method, path, **_kw):
        self._root()
        return Stream()


def seed(machine):
    """A machine whose Docker serves MACHINE/var/lib/docker (daemon.json names it) with two images, two
    containers (one running) and a volume holding a file, and an empty data disk at MACHINE/mnt/data."""
    root = os.path.join(machine, "var", "lib", "docker")
    for image in ("base", "app"):
        os.makedirs(os.path.join(root, "image"), exist_ok=True)
        with open(os.path.join(root, "image", image), "w") as f:
            f.write(image)
    for name, state in (("web", "running"), ("cron", "exited")):
        os.makedirs(os.path.join(root, "containers", name))
        with open(os.path.join(root, "containers", name, "state"), "w") as f:
            f.write(state)
    os.makedirs(os.path.join(root, "volumes", "site", "_data"))
    for name, text in (("index.html", "hello\n"), ("old.txt", "deleted by the first stop\n")):
        with open(os.path.join(root, "volumes", "site", "_data", name), "w") as f:
            f.write(text)
    os.makedirs(os.path.join(machine, "etc", "docker"))
    open(os.path.join(machine, "etc", "fstab"), "w").close()
    os.makedirs(os.path.join(machine, "mnt", "data"))


def in_a_container(fn):
    """FN run by a container's process, not the module's: on a thread of its own, whose stack holds none of the
    collection's frames (the unit suite's audit charges a write to the collection frame that made it)."""
    failed = []

    def run():
        try:
            fn()
        except Exception as exc:  # pylint: disable=broad-except
            failed.append(exc)
    t = threading.Thread(target=run)
    t.start()
    t.join()
    if failed:
        raise failed[0]


def files_in(data):
    """The files of the directory DATA (none when it is missing), with their text."""
    out = {}
    for name in sorted(os.listdir(data)) if os.path.isdir(data) else []:
        with open(os.path.join(data, name)) as f:
            out[name] = f.read()
    return out


def volume(root):
    """The files of the volume under ROOT, with their text."""
    return files_in(os.path.join(root, "volumes", "site", "_data"))


def default_root(machine):
    return os.path.join(machine, "var", "lib", "docker")


def install(seeded, machine):
    """A copy of the SEEDED machine at MACHINE, its daemon.json naming its own default root."""
    shutil.copytree(seeded, machine, symlinks=True)
    with open(os.path.join(machine, "etc", "docker", "daemon.json"), "w") as f:
        json.dump({"data-root": os.path.join(machine, "var", "lib", "docker"), "bridge": "none"}, f)
