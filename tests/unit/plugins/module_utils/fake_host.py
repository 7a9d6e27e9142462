# -*- coding: utf-8 -*-
"""The unit tests' stand-in for the managed host (_host.Host), and the run context built on it."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import os

import audit  # pylint: disable=import-error

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _copy, _journal, _local, _lock, _options, _run, _systemd)


class FakeHost(_local.Local):
    """The managed host as data_root sees it (_host.Host), without a host: every call that acts is recorded, in
    order, with its arguments; each answer is the one a host with both units, Docker answering and nothing left
    mounted gives.  The state it reads back (MASKED units, the MOUNTS table) is the fake's own, and lifting or
    setting a mask changes it.  A method the real class does not have, or this fake does not implement, fails the
    test.  Files, directories, copies and the clock are the real ones (_local.Local), on the test's own
    directories; the lock lives in LOCK_DIR."""

    stop_timeout = 1
    boot_fstab = None  # the tests' fstab is a file of their own

    def __init__(self, masked=(), mounts=(), started=False, beneath=None, lock_dir=None, clock=None):
        super(FakeHost, self).__init__(lock_dir=lock_dir)
        self.clock = clock  # [seconds]: the host's clock, which sleep moves on at once (None: the real one)
        self.calls = []
        self.started = started  # whether docker.service started after any time it is asked about
        self.args = []
        self.masked_units = set(masked)
        self.mounts = list(mounts)
        self.beneath = dict(beneath or {})
        self.dropins = {}  # service -> the text of its drop-in (write_dropin, or the test's own)  # path -> the directory a view beneath a mount at path shows

    def __getattr__(self, name):
        raise AssertionError("FakeHost: the code under test called %s, which this fake does not implement%s" % (
            name, "" if hasattr(_systemd.Systemd, name) else " and _systemd.Systemd does not have"))

    # The calls of this fake that change a host (as _local.acts notes them on a real one).
    ACTING = ("mask", "unmask", "stop_docker", "start_docker", "run", "daemon_reload", "drop_self_bind",
              "write_dropin", "restore_file")

    def _call(self, name, *args):
        if name in self.ACTING and not (name in ("mask", "unmask") and not args[0]):
            self.changes.append(name)
        self.calls.append(name)
        self.args.append((name,) + args)

    def unit_exists(self, unit):
        self._call("unit_exists", unit)
        return unit in ("docker.socket", "docker.service")

    def docker_units(self):
        self._call("docker_units")
        return ["docker.socket", "docker.service"]

    def stop_docker(self, with_containerd=False):
        self._call("stop_docker", with_containerd)

    def window_units(self, with_containerd=False):
        self._call("window_units", with_containerd)
        return ["docker.socket", "docker.service"]

    def mask(self, units):
        self._call("mask", list(units))
        self.masked_units |= set(units)
        return ["docker.socket", "docker.service"]

    def unmask(self, units):
        self._call("unmask", list(units or []))
        self.masked_units -= set(units or [])

    def masked(self, unit):
        return unit in self.masked_units

    def mountinfo(self):
        return list(self.mounts)

    def run(self, argv, what=None):
        self._call("run", list(argv))
        return ""

    def check_stopped(self, units, timeout, proc="/proc"):
        self._call("check_stopped", list(units))

    def start_docker(self, with_containerd=False):
        self._call("start_docker", with_containerd)

    def started_since(self, when, unit="docker.service", boot_id=None):
        self._call("started_since", when, unit)
        self.asked_boot = boot_id  # the boot the journal's last write was made in, as the code under test gave it
        return self.started

    def boot_id(self):
        return "boot-of-the-fake"

    def daemon_reload(self):
        self._call("daemon_reload")

    def wait_docker(self, timeout):
        self._call("wait_docker", timeout)
        return True

    def wait_quiet(self, root, timeout):
        self._call("wait_quiet", root)
        return []

    def drop_self_bind(self, root):
        self._call("drop_self_bind", root)

    @contextlib.contextmanager
    def view_beneath(self, path):
        self._call("view_beneath", path)
        if path not in self.beneath:
            raise AssertionError("FakeHost: no view beneath %s was given to the fake" % path)
        yield self.beneath[path]
        self._call("view_closed", path)

    def write_dropin(self, service, text):
        self._call("write_dropin", service, text)
        self.dropins[service] = text

    def dropin(self, service):
        return self.dropins.get(service, "")

    def restore_file(self, path, text, keep_empty=False):
        self._call("restore_file", path, text, keep_empty)

    def time(self):
        return self.clock[0] if self.clock is not None else super(FakeHost, self).time()

    def sleep(self, seconds):
        if self.clock is None:
            return super(FakeHost, self).sleep(seconds)
        self.clock[0] += seconds
        return None

    def gather(self, daemon_json_path, fstab_path):
        raise AssertionError("FakeHost: the code under test gathered the host's facts; give the context facts=")

    def write_sentinel(self, target):
        self.write_file(os.path.join(target, _systemd.SENTINEL_NAME), _systemd.SENTINEL_TEXT)


class FakeClient:
    """The Engine API as the relocation asks it when no test gives its own: whether Docker answers (RUNNING) and
    the root it reports (ROOT).  Any other call fails the test."""

    def __init__(self, running=False, root=None):
        self.running = running
        self.root = root

    def __getattr__(self, name):
        raise AssertionError("FakeClient: the code under test called %s, which this fake does not implement" % name)

    def ping(self):
        return self.running

    def info(self):
        return {"DockerRootDir": self.root}


def context(params, host=None, client=None, runner=None, check_mode=False, now=None, lock_dir=None, facts=None,
            moves=None):
    """A run context (_run.Run) for PARAMS (data_root's), on HOST (a FakeHost by default) with CLIENT (a
    FakeClient of a stopped Docker by default), with no status
    file unless PARAMS name one."""
    opts = _options.Options(params)
    answer = runner or (lambda argv: (0, "", ""))

    def checked(argv):
        # A command given to the runner never reaches subprocess here: the audit's shell check sees it instead.
        why = audit.shell_command(argv)
        assert why is None, "the code under test ran a shell through its runner: %s" % why
        return answer(argv)

    if host is None:
        host = FakeHost(lock_dir=lock_dir or _lock.LOCK_DIR)
    assert lock_dir is None or host.lock_dir == lock_dir, "give the lock directory to the FakeHost"
    return _run.Run(opts, FakeClient() if client is None else client, checked, host,
                    _journal.Journal(opts.target or "/", check_mode, host), _copy.Status(params.get("status_file")),
                    check_mode=check_mode, now=now, facts=facts, moves=moves)
