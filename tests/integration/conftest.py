# -*- coding: utf-8 -*-
"""Integration tests: drive the collection over SSH against the real test fleet."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLEET = [sys.executable, os.path.join(ROOT, "tests", "fleet", "fleet.py")]
HOSTS = int(os.environ.get("DOCKYARD_TEST_HOSTS", "2"))
# The tests' Ansible configuration (the fleet's inventory, no host key checking); a user's runs
# from a clone get Ansible's defaults.
ANSIBLE_CONFIG = os.path.join(ROOT, "tests", "ansible.cfg")


# A parallel worker (pytest-xdist: gw0, gw1, ...) drives a fleet of its own: worker K > 0 gets the hosts of
# DOCKYARD_FLEET_WORKER=K (tests/fleet/fleet.py), with the same names, in containers dockyard-wK-hN on ports
# 2200 + 100 K + N; worker gw0, and a run without workers, the default fleet.  The names, ports and paths are
# fleet.py's own, read from it once the worker is set.
_XDIST = os.environ.get("PYTEST_XDIST_WORKER", "")
if _XDIST.startswith("gw") and _XDIST[2:].isdigit():
    os.environ["DOCKYARD_FLEET_WORKER"] = _XDIST[2:]
sys.path.insert(0, os.path.join(ROOT, "tests", "fleet"))
import fleet as _fleet_py  # noqa: E402  pylint: disable=wrong-import-position,import-error

FLEET_STATE = _fleet_py.STATE
FLEET_KEY = os.path.join(FLEET_STATE, "id_ed25519")
FLEET_INVENTORY = os.path.join(FLEET_STATE, _fleet_py.INVENTORY)
container = _fleet_py.container  # the machine's container of a fleet host of this worker (h1 -> dockyard-wK-h1)


def host_port(host):
    """The SSH port of a fleet host of this worker."""
    return _fleet_py.BASE_PORT + int(host[1:])


def host_disk(host):
    """The machine's mount point of a fleet host's data disk (the host's /mnt/data)."""
    return os.path.join(_fleet_py.host_dir(host), "disk")


def port_host(port):
    """The fleet host of this worker listening on PORT."""
    return "h%d" % (int(port) - _fleet_py.BASE_PORT)


# Time limits (seconds) of the commands the tests run.  `up` may build a host image first
# (debootstrap and apt: several minutes on a fresh machine).
FLEET_TIMEOUTS = {"up": 2400, "build": 2400, "reset": 1200, "seed": 900}
PLAYBOOK_TIMEOUT = 900
SH_TIMEOUT = 300


def run_bounded(argv, timeout, **kwargs):
    """subprocess.run in a session of its own, killed with all its children (ansible's workers, ssh)
    when it outlives ``timeout`` seconds or the test is interrupted (pytest-timeout)."""
    kwargs.setdefault("universal_newlines", True)
    proc = subprocess.Popen(argv, start_new_session=True, **kwargs)
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException as exc:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # a child that left the session still holds the pipes
            out, err = "", ""
        if isinstance(exc, subprocess.TimeoutExpired):
            raise AssertionError("%s timed out after %d s and was killed:\n%s\n%s" % (
                " ".join(argv), timeout, (out or "")[-20000:], (err or "")[-5000:]))
        raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def fleet(*args, check=True, timeout=None):
    res = run_bounded(FLEET + list(args), timeout or FLEET_TIMEOUTS.get(args[0], 600), cwd=ROOT,
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and res.returncode != 0:
        raise AssertionError("fleet %s failed:\n%s\n%s" % (" ".join(args), res.stdout, res.stderr))
    return res.stdout.strip()


# What a test may ask of a module run (Fleet.module's ``expect``): the outcomes it accepts.
EXPECT = {
    "ok": ("ok",),  # reached the host and did not fail: the default
    "failed": ("failed",),  # reached the host and failed (a refusal, a rollback)
    "interrupted": ("failed", "unreachable"),  # killed on the host (rc 137) or cut off (the connection dropped)
}
CALLBACKS = os.path.join(ROOT, "tests", "integration", "callback")


def result_env(path):
    """The environment that makes ansible-playbook write every task result, with its outcome, to ``path``."""
    return {"ANSIBLE_CALLBACK_PLUGINS": CALLBACKS, "ANSIBLE_CALLBACKS_ENABLED": "dockyard_result",
            "DOCKYARD_RESULT_FILE": path}


def read_results(path):
    """The results the harness's callback wrote, one dict per task result ([] when none was written)."""
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except OSError:
        return []


class ModuleResult(dict):
    """A module's result; ``outcome`` is how Ansible reported it: ok, failed or unreachable."""

    def __init__(self, result, outcome):
        super().__init__(result)
        self.outcome = outcome


def module_outcome(records, host, name, expect, output=""):
    """The one result of ``name`` on ``host`` among a run's records, as a ModuleResult, when its outcome is one
    ``expect`` accepts; an AssertionError naming what happened otherwise (no result at all included)."""
    mine = [r for r in records if r["host"] == host]
    if len(mine) != 1:
        raise AssertionError("%s on %s: expected one result, the run reported %d (%s)\n%s" % (
            name, host, len(mine), [r["outcome"] for r in mine], output[-5000:]))
    rec = mine[0]
    if rec["outcome"] not in EXPECT[expect]:
        raise AssertionError("%s on %s was %s, the test expects %s: %s" % (
            name, host, rec["outcome"], "/".join(EXPECT[expect]), json.dumps(rec["result"])[-5000:]))
    result = dict(rec["result"])
    # A registered result says so too; the callback's copy of a failed one may not carry the key.
    if rec["outcome"] in ("failed", "unreachable"):
        result.setdefault(rec["outcome"], True)
    return ModuleResult(result, rec["outcome"])


def unchanged(res):
    """A rerun that reached its host, did not fail and changed nothing."""
    assert getattr(res, "outcome", None) == "ok" and not res.get("failed") and res.get("changed") is False, \
        ("a rerun that changes nothing was expected", getattr(res, "outcome", None), res)


class Fleet:
    def __init__(self, inventory):
        self.inventory = inventory

    def up_extra(self, *args):
        """Bring up (or reuse) hosts of another kind beside the default ones."""
        self.inventory = fleet("up", *args).splitlines()[-1]

    def reboot(self, host):
        """Restart the host's container (its systemd boots again: fstab, units, Docker as configured) and wait
        until it finished booting, whatever became of Docker; never recreates the host."""
        res = run_bounded(["docker", "restart", container(host)], 180, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)
        if res.returncode != 0:
            raise AssertionError("docker restart %s failed: %s" % (container(host), res.stderr))
        fleet("booted", host, timeout=300)

    def reset(self, *names, seed=True, olddisk=False):
        """Recreate hosts (with a block device of their own with OLDDISK, see fleet.py reset --olddisk)."""
        fleet("reset", *(names + (("--olddisk",) if olddisk else ()) + (("--seed",) if seed else ())))

    def sh(self, host, *argv, check=True, timeout=SH_TIMEOUT):
        """Run argv on a fleet host (through the outer engine, independent of the collection).
        timeout(1) on the host ends the command there; the docker client is given 30 s more."""
        res = run_bounded(["docker", "exec", container(host), "timeout", "-k", "10", str(timeout)] + list(argv),
                          timeout + 30, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if check and res.returncode != 0:
            raise AssertionError("%s on %s failed: %s" % (argv, host, res.stderr))
        return res.stdout

    def playbook(self, playbook, limit=None, extra=None, check=True, env=None, options=None,
                 timeout=PLAYBOOK_TIMEOUT, cwd=ROOT):
        """Run a playbook against this fleet from CWD; ENV's entries are added to the environment (None removes
        one)."""
        argv = ["ansible-playbook", "-i", self.inventory, playbook] + list(options or [])
        if limit:
            argv += ["--limit", limit]
        if extra:
            argv += ["-e", json.dumps(extra)]
        e = dict(os.environ)
        e["ANSIBLE_CONFIG"] = ANSIBLE_CONFIG
        for key, value in (env or {}).items():
            if value is None:
                e.pop(key, None)
            else:
                e[key] = value
        res = run_bounded(argv, timeout, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=e)
        if check and res.returncode != 0:
            raise AssertionError("ansible-playbook %s failed (rc=%d):\n%s" % (
                playbook, res.returncode, res.stdout[-20000:]))
        return res

    def module(self, host, name, args=None, env=None, check_mode=False, timeout=600, diff=False, expect="ok"):
        """Run one module on one host through a one-task playbook; return its result (a ModuleResult: the
        module's dict, with the outcome Ansible reported in ``.outcome``).

        The outcome is taken from the event Ansible reported (the harness's result callback), not from the
        result's keys: a result with ``changed: false`` may come from a run that failed or never reached the
        host.  ``expect`` says which outcomes the test accepts (see EXPECT); any other fails the test."""
        if expect not in EXPECT:
            raise ValueError("expect must be one of %s, not %r" % (", ".join(sorted(EXPECT)), expect))
        work = tempfile.mkdtemp(prefix="dockyard-module-")
        out = os.path.join(work, "result.jsonl")
        play = [{"name": "Run one module", "hosts": host, "gather_facts": False, "tasks": [
            {"name": "Run the module", name: args or {}, "ignore_errors": True, "ignore_unreachable": True,
             "check_mode": check_mode, "diff": diff, "environment": env or {}}]}]
        path = os.path.join(work, "play.yml")
        with open(path, "w") as f:
            json.dump(play, f)
        try:
            res = self.playbook(path, check=False, timeout=timeout, env=result_env(out))
            return module_outcome(read_results(out), host, name, expect, res.stdout)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def snapshot(self, host):
        """What a bad input must leave alone: fstab, daemon.json, drop-ins, the data root's listing."""
        return self.sh(host, "sh", "-c",
                       "sha256sum /etc/fstab /etc/docker/daemon.json /etc/systemd/system/docker.service.d/* 2>&1; "
                       "ls -A /etc/systemd/system/docker.service.d /var/lib/docker /mnt/data 2>&1; "
                       "findmnt --noheadings --output TARGET,SOURCE /var/lib/docker 2>&1; "
                       "docker info --format '{{.DockerRootDir}}' 2>&1", check=False)


def close_ssh_master(host):
    """Close the controller's multiplexed SSH connection to one fleet host (the ControlPersist master Ansible keeps
    at a path it derives from address, port and user), as a network cut would have ended it; the next run connects
    afresh.  Other hosts' connections are left alone.  Returns ssh -O exit's status (255: there was none)."""
    from ansible.plugins.connection.ssh import Connection
    port = host_port(host)
    path = Connection._create_control_path("127.0.0.1", port, "root") % {
        "directory": os.path.expanduser("~/.ansible/cp")}
    res = run_bounded(["ssh", "-O", "exit", "-o", "ControlPath=%s" % path, "root@127.0.0.1"], 30,
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return res.returncode


@pytest.fixture
def background():
    """subprocess.Popen for a command that runs beside the test, in a session of its own: whatever of it still
    runs when the test ends (passed, failed or interrupted by pytest-timeout) is killed with its children.
    A command run on a fleet host through ``docker exec`` must bound itself there too (``timeout N``): killing
    the docker client does not end what it started in the container."""
    procs = []

    def start(argv, **kwargs):
        proc = subprocess.Popen(argv, start_new_session=True, **kwargs)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is not None:
            continue
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # a child that left the session still holds the pipes
            pass


@pytest.fixture(scope="session")
def bounded():
    """run_bounded, for tests that run a command of their own."""
    return run_bounded


@pytest.fixture(scope="session")
def fleet_hosts():
    inventory = fleet("up", "--hosts", str(HOSTS))
    return Fleet(inventory.splitlines()[-1])


RELIABILITY_JSON = os.path.join(ROOT, "tests", "output", "reliability.json")
RELIABILITY_DOC = os.path.join(ROOT, "docs", "reliability.md")
REPORTED = ("test_reliability.py", "test_window.py", "test_faults.py", "test_bad_input.py", "test_hosts.py",
            "test_versions.py", "test_recovery.py")  # the files whose rows make the report


class Rows(list):
    """Rows of the reliability report, each {"kind", "case", "result"}."""

    @staticmethod
    def clip(text, limit):
        """text on one line, shortened to about ``limit`` characters at a word boundary."""
        text = " ".join(str(text).split())
        if len(text) <= limit:
            return text
        cut = text.rfind(" ", 0, limit + 1)
        if cut < limit // 2:  # one very long word: cut inside it
            cut = limit
        return text[:cut].rstrip(" ,;:") + "…"


@pytest.fixture(scope="session")
def reliability_rows(request):
    """Rows of the reliability report: every fault and bad input tried, with its result.

    docs/reliability.md is written only when DOCKYARD_WRITE_RELIABILITY=1 (set by `make reliability`)
    and both suites ran whole and passed; any other run (`make test`, -k, one file) leaves it alone."""
    rows = Rows()
    yield rows
    os.makedirs(os.path.dirname(RELIABILITY_JSON), exist_ok=True)
    # each parallel worker writes its own rows (reliability-gw1.json); a run without workers, reliability.json
    with open(RELIABILITY_JSON.replace(".json", "-%s.json" % _XDIST if _XDIST else ".json"), "w") as f:
        json.dump(rows, f, indent=1)
    failed = request.session.testsfailed
    wanted = [i for i in request.session.items
              if os.path.basename(str(i.fspath)) in REPORTED]
    files = set(os.path.basename(str(i.fspath)) for i in wanted)
    selected = request.config.getoption("keyword") or request.config.getoption("markexpr") or \
        any("::" in str(a) for a in request.config.args)
    if os.environ.get("DOCKYARD_WRITE_RELIABILITY") != "1" or _XDIST:
        return  # only `make reliability` (one process, every row) rewrites the tracked report
    if not rows or len(rows) != len(wanted) or selected or files != set(REPORTED):
        return  # a partial run (-k, -m, single tests, one file, or a failure) does not rewrite the report
    lines = ["# Reliability", "",
             "Generated by `make reliability` (`tests/integration/test_reliability.py`, `test_window.py`, `test_faults.py`, "
             "`test_bad_input.py`, `test_hosts.py`, `test_versions.py` and `test_recovery.py`)"
             " from the rows each case records when it passes. %d cases passed in the last run%s." % (
                 len(rows), "" if not failed else " (%d tests of the session failed)" % failed), "",
             "Faults are injected on real fleet hosts (systemd, dockerd, rsync, an ext4 data disk). A fault or "
             "host case starts from a freshly reset, seeded host (`fleet.py reset --seed`: a copy of that host's "
             "own golden seeded state, taken once from it seeded from nothing; a host given an old disk of its own is "
             "seeded from nothing), except where it says otherwise "
             "here: the bad-input cases share h2, reset once for their file, and each compares a snapshot taken "
             "just before and just after it; the damaged-archive cases use h2 as the cases before them left it "
             "(seeded when it was not); a version case reuses its host when the case before it on that host "
             "moved it back and proved it equal to its seed. Each case checks the end state with independent "
             "tools: "
             "`docker info`, `findmnt`, `docker ps`, and a manifest of the whole data root (paths, types, modes, "
             "owners, sizes, content hashes, hard links, extended attributes and ACLs, holes) compared with the "
             "one taken before, ignoring only the files dockerd rewrites at every start.", ""]
    for kind, title in (("fault", "Faults"), ("bad input", "Bad input"), ("security", "Security"),
                        ("host", "Real-world hosts"), ("version", "Docker and Python versions")):
        sel = [r for r in rows if r["kind"] == kind]
        if not sel:
            continue
        lines += ["## %s" % title, "", "| case | result |", "| --- | --- |"]
        lines += ["| %s | %s |" % (Rows.clip(r["case"], 200).replace("|", "\\|"),
                                   Rows.clip(r["result"], 400).replace("|", "\\|")) for r in sel]
        lines.append("")
    with open(RELIABILITY_DOC, "w") as f:
        f.write("\n".join(lines))


# Files run last: what they need is built beside the earlier tests (scripts/test.sh builds the execution
# environment while they run), so no test waits for it at the start.
LAST = ("test_awx_ee.py",)


# DOCKYARD_TEST_ORDER=reverse runs the files in reverse order and each file's tests in reverse order (a file whose
# tests build on one another says IN_ORDER = True and keeps its own order); DOCKYARD_TEST_ORDER=shuffle:SEED does
# the same with a seeded shuffle.  Running the suite twice, in two orders, shows that no test depends on what an
# earlier file left behind.
def reorder(items, how):
    files = {}
    for item in items:
        files.setdefault(str(item.fspath), []).append(item)
    groups = list(files.values())
    if how == "reverse":
        shuffle = reversed
    elif how.startswith("shuffle:"):
        rng = random.Random(how.split(":", 1)[1])

        def shuffle(seq):
            seq = list(seq)
            rng.shuffle(seq)
            return seq
    else:
        raise pytest.UsageError("DOCKYARD_TEST_ORDER: expected reverse or shuffle:SEED, got %r" % how)
    out = []
    for group in shuffle(groups):
        out += group if getattr(group[0].module, "IN_ORDER", False) else list(shuffle(group))
    return out


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook, which reads the groups
def pytest_collection_modifyitems(items):
    how = os.environ.get("DOCKYARD_TEST_ORDER", "")
    if how:
        items[:] = reorder(items, how)
    items.sort(key=lambda item: os.path.basename(str(item.fspath)) in LAST)  # stable: the order is kept otherwise
    # With --dist loadgroup (scripts/test.sh) a fleet test file stays on one worker, in its order, with its fleet;
    # the unit tests, which share nothing, are spread over both workers one by one, and so are the tests of a file
    # that says SPREAD = True (each of its tests sets its host up afresh; a test that holds something the whole
    # machine shares, such as the swarm port, names a group of its own).
    for item in items:
        if os.sep + "integration" + os.sep in str(item.fspath) and not getattr(item.module, "SPREAD", False):
            item.add_marker(pytest.mark.xdist_group(os.path.basename(str(item.fspath))))


# Wall time per test file (setup, call and teardown of its tests), written to tests/output/durations-by-file.json
# and listed at the end of the run: docs/testing.md records them.
FILE_SECONDS = {}


def pytest_runtest_logreport(report):
    name = os.path.basename(report.nodeid.split("::", 1)[0])
    FILE_SECONDS[name] = FILE_SECONDS.get(name, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter):
    if not FILE_SECONDS or _XDIST:
        return  # a parallel worker's reports reach the controller, which lists them all
    os.makedirs(os.path.dirname(RELIABILITY_JSON), exist_ok=True)
    with open(os.path.join(os.path.dirname(RELIABILITY_JSON), "durations-by-file.json"), "w") as f:
        json.dump(FILE_SECONDS, f, indent=1, sort_keys=True)
    terminalreporter.write_sep("=", "wall time per integration test file")
    for name, seconds in sorted(FILE_SECONDS.items(), key=lambda kv: -kv[1]):
        terminalreporter.write_line("%8.1f s  %s" % (seconds, name))
