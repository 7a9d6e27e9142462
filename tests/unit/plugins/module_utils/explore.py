# -*- coding: utf-8 -*-
"""The crash-point explorations' cases, run several at a time.

A case spends most of its time waiting: on rsync, which sleeps while its processes end, and on the forks of a
private mount namespace.  ``run_cases`` runs a list of cases in WIDTH forked explorer processes, each taking the
next case when it has finished one, and returns what each did: its value, its skip or its failure (with the
explorer's traceback), and what the unit suite's audit (tests/unit/audit.py) saw the collection's code do in it.

``ahead`` makes a parametrized test an exploration: the first of its cases that pytest runs runs every case of the
same test selected in this session (in one process: the test is put in an xdist group of its own), and each case
then reports its own outcome, as if it had run alone: its audit handed to its own auditors, its skip, its failure.
A test whose only selected case is the one running (``-k`` one case, to debug it) runs it in place.
DOCKYARD_EXPLORE_WIDTH sets the width (1: every case in place, one after the other)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import atexit
import fcntl
import functools
import inspect
import json
import os
import pathlib
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import traceback

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _mountinfo

import audit  # pylint: disable=import-error

WIDTH = int(os.environ.get("DOCKYARD_EXPLORE_WIDTH", "6"))
CASE_TIMEOUT = 120  # seconds an explorer may spend on one case before it is killed and the case reported
_DONE = {}  # nodeid -> the outcome of a case run ahead, until its own test reports it
# The simulated machines live in memory where the machine has a tmpfs for it: a case fsyncs its journal and
# syncfs(2)s its copies, and on a disk's filesystem those wait on the disk (and on each other's journal commits).
SHM = os.environ.get("DOCKYARD_EXPLORE_TMPFS", "/dev/shm")
SHM_FREE = 2 << 30  # bytes the tmpfs must have free to be used
PREFIX = "dockyard-explore-"
_SCRATCH = []  # this process's directory on the tmpfs and the descriptor of its lock, made on first use


def _tmpfs(path):
    """Whether PATH is the mount point of a tmpfs with SHM_FREE bytes free."""
    try:
        here = _mountinfo.mount_at(_mountinfo.read(), path)
        st = os.statvfs(path)
    except (OSError, ValueError):
        return False
    return here is not None and here.fstype == "tmpfs" and st.f_bavail * st.f_frsize >= SHM_FREE


def _drop(path, pid):
    if os.getpid() == pid:  # not in a forked explorer
        shutil.rmtree(path, ignore_errors=True)


def _sweep(shm):
    """Remove the scratch directories under SHM whose process is gone (killed before its exit handler ran): the
    ones whose lock can be taken.  A directory kept on purpose (DOCKYARD_EXPLORE_KEEP=1: a file named keep) stays."""
    for name in os.listdir(shm):
        path = os.path.join(shm, name)
        if not name.startswith(PREFIX) or os.path.exists(os.path.join(path, "keep")):
            continue
        try:
            fd = os.open(os.path.join(path, ".lock"), os.O_RDONLY)
        except OSError:
            continue  # being made, or not one of ours
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # its process runs (in this PID namespace or another)
        finally:
            os.close(fd)
        shutil.rmtree(path, ignore_errors=True)


def scratch(factory, name):
    """A new directory for simulated machines: on the tmpfs SHM (DOCKYARD_EXPLORE_TMPFS; empty: pytest's basetemp)
    when there is one, in a directory of this process's own, locked while it runs and removed when it ends
    (DOCKYARD_EXPLORE_KEEP=1 keeps it until removed by hand); else FACTORY's (tmp_path_factory) mktemp(NAME)."""
    if not SHM or not _tmpfs(SHM):
        return factory.mktemp(name)
    if not _SCRATCH:
        _sweep(SHM)
        path = tempfile.mkdtemp(prefix=PREFIX, dir=SHM)
        fd = os.open(os.path.join(path, ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)  # held until this process and its explorers end
        _SCRATCH.extend([path, fd])
        if os.environ.get("DOCKYARD_EXPLORE_KEEP") == "1":
            open(os.path.join(path, "keep"), "w").close()
        else:
            atexit.register(_drop, path, os.getpid())
    return pathlib.Path(tempfile.mkdtemp(prefix=name + "-", dir=_SCRATCH[0]))


@pytest.fixture(name="tmp_path")
def scratch_tmp_path(tmp_path_factory, request):
    """pytest's tmp_path, for the tests of an exploration's file that are not explorations (the known bugs put back,
    single cases): their machines on the same storage as the explorations' (``scratch``)."""
    return scratch(tmp_path_factory, request.node.name[:30])


def keep_failed(factory, base):
    """A copy of BASE (an exploration's directory, some of whose cases failed) under pytest's basetemp, which keeps
    the last runs' (BASE itself goes with this process when it is on the tmpfs): the copy's path."""
    kept = factory.getbasetemp() / ("failed-" + base.name)
    if str(base).startswith(str(factory.getbasetemp()) + os.sep):
        return base
    subprocess.run(["cp", "-a", str(base), str(kept)], timeout=300, check=False)
    return kept


def _outcome(fn, kwargs):
    """FN(**KWARGS) here: {"ok": value} | {"skip": reason} | {"error": ..., "type": ..., "tb": ...}, and "audit":
    what the audit saw in it, taken from the auditors watching now (the test that reports the case gets it)."""
    marks = [len(a.violations) for a in audit._ACTIVE]  # pylint: disable=protected-access
    started = time.time()
    try:
        out = {"ok": fn(**kwargs)}
        json.dumps(out)
    except pytest.skip.Exception as exc:
        out = {"skip": str(exc.msg)}
    except BaseException as exc:  # pylint: disable=broad-except
        out = {"error": "%s: %s" % (type(exc).__name__, exc), "type": type(exc).__name__,
               "tb": traceback.format_exc()[-6000:]}
    out["seconds"] = round(time.time() - started, 3)
    out["audit"] = [[list(v) for v in a.violations[n:]]
                    for a, n in zip(audit._ACTIVE, marks)]  # pylint: disable=protected-access
    for a, n in zip(audit._ACTIVE, marks):  # pylint: disable=protected-access
        del a.violations[n:]
    return out


def _explorer(fn, cases, cmd, res):
    """A forked explorer: runs the case whose index the parent writes on CMD, answers a JSON line on RES; ends at
    index -1 or when the parent is gone.  Never returns into the test runner."""
    code = 0
    try:
        while True:
            data = b""
            while len(data) < 4:
                chunk = os.read(cmd, 4 - len(data))
                if not chunk:
                    raise EOFError("the parent is gone")
                data += chunk
            i = struct.unpack("=i", data)[0]
            if i < 0:
                break
            out = _outcome(fn, cases[i][1])
            out["i"] = i
            line = (json.dumps(out) + "\n").encode("utf-8")
            while line:
                line = line[os.write(res, line):]
    except BaseException:  # pylint: disable=broad-except
        code = 1
    finally:
        os._exit(code)  # pylint: disable=protected-access


def run_cases(fn, cases, width=None, timeout=CASE_TIMEOUT):
    """Every case of CASES ([(key, kwargs)]) of FN, WIDTH at a time in forked explorers: {key: outcome}.  A case
    an explorer does not finish within TIMEOUT seconds is reported as such (the explorer is killed; its next cases
    go to the others, or to a new one)."""
    width = WIDTH if width is None else width
    if width <= 1 or len(cases) <= 1:
        return dict((key, _outcome(fn, kwargs)) for key, kwargs in cases)
    results = {}
    todo = list(range(len(cases)))
    todo.reverse()
    explorers = {}  # result fd -> [pid, cmd fd, case index, started, buffer]

    def spawn():
        cmd_r, cmd_w = os.pipe()
        res_r, res_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(cmd_w)
            os.close(res_r)
            for other in explorers.values():
                os.close(other[1])
            for fd in explorers:
                os.close(fd)
            _explorer(fn, cases, cmd_r, res_w)
        os.close(cmd_r)
        os.close(res_w)
        explorers[res_r] = [pid, cmd_w, None, None, b""]
        give(res_r)

    def give(fd):
        e = explorers[fd]
        i = todo.pop() if todo else -1
        e[2], e[3] = (i, time.time()) if i >= 0 else (None, None)
        os.write(e[1], struct.pack("=i", i))

    def end(fd):
        e = explorers.pop(fd)
        for f in (fd, e[1]):
            os.close(f)
        os.waitpid(e[0], 0)

    try:
        for _n in range(min(width, len(cases))):
            spawn()
        while explorers:
            ready, _w, _x = select.select(list(explorers), [], [], min(5, timeout))
            now = time.time()
            for fd, e in list(explorers.items()):
                if fd not in ready and e[2] is not None and now - e[3] > timeout:
                    os.kill(e[0], signal.SIGKILL)
                    results[cases[e[2]][0]] = {"error": "the case did not finish within %d s" % timeout,
                                               "type": "Timeout", "tb": "", "audit": []}
                    end(fd)
                    if todo:
                        spawn()
            for fd in ready:
                if fd not in explorers:
                    continue
                e = explorers[fd]
                chunk = os.read(fd, 65536)
                if not chunk:  # the explorer died
                    if e[2] is not None:
                        results[cases[e[2]][0]] = {"error": "the explorer died running this case", "type": "Died",
                                                   "tb": "", "audit": []}
                    end(fd)
                    if todo:
                        spawn()
                    continue
                e[4] += chunk
                while b"\n" in e[4]:
                    line, e[4] = e[4].split(b"\n", 1)
                    out = json.loads(line.decode("utf-8"))
                    results[cases[out.pop("i")][0]] = out
                    give(fd)
    finally:
        for fd, e in list(explorers.items()):
            try:
                os.kill(e[0], signal.SIGKILL)
            except OSError:
                pass
            end(fd)
    return results


def report(out):
    """The outcome OUT of a case run ahead, reported by the test running now: its audit handed to this test's
    auditors, then its value, skip or failure."""
    for auditor, seen in zip(audit._ACTIVE, out.get("audit", [])):  # pylint: disable=protected-access
        auditor.violations.extend(tuple(v) for v in seen)
    if "skip" in out:  # reported at the test, as a skip inside it would be
        raise pytest.skip.Exception(out["skip"], _use_item_location=True)
    if "error" in out:
        pytest.fail("%s\n(in its explorer process, %.1f s%s)\n%s" % (
            out["error"], out.get("seconds", 0), "; its directory kept: %s" % out["dir"] if "dir" in out else "",
            out["tb"]), pytrace=False)
    return out["ok"]


def failures(outcomes, keys):
    """The cases of OUTCOMES (run_cases's) that failed an assertion, in the order of KEYS: [(key, the assertion's
    first line)].  What the audit saw in every case is handed to the auditors of the test running now; a case that
    failed other than by an assertion (or was skipped) fails it."""
    found = []
    for key in keys:
        out = outcomes[key]
        for auditor, seen in zip(audit._ACTIVE, out.get("audit", [])):  # pylint: disable=protected-access
            auditor.violations.extend(tuple(v) for v in seen)
        assert "skip" not in out, "case %s skipped: %s" % (key, out["skip"])
        if "error" in out:
            assert out["type"] == "AssertionError", "case %s: %s\n%s" % (key, out["error"], out["tb"])
            found.append((key, out["error"].split(": ", 1)[-1].splitlines()[0] if ": " in out["error"] else ""))
    return found


def ahead(fn):
    """The parametrized test FN as an exploration (see the module's text).  FN's arguments are its fixtures
    (module-scoped: the same for every case), its parameters, and tmp_path: a directory of each case's own, made
    here (under ``scratch``), not by pytest for each of the exploration's items."""
    sig = inspect.signature(fn)
    wants_request = "request" in sig.parameters
    wants_tmp = "tmp_path" in sig.parameters

    @functools.wraps(fn)
    def test(**kwargs):
        request = kwargs["request"] if wants_request else kwargs.pop("request")
        item = request.node
        if item.nodeid not in _DONE:
            siblings = [i for i in request.session.items
                        if i.parent is item.parent and getattr(i, "originalname", None) == item.originalname]
            base = scratch(request.getfixturevalue("tmp_path_factory"), item.originalname[:40])
            cases = []
            for n, sibling in enumerate(siblings):
                case = dict(kwargs, **sibling.callspec.params)
                if wants_request:
                    case["request"] = request
                if wants_tmp:
                    case["tmp_path"] = base / ("case%d" % n)
                    case["tmp_path"].mkdir()
                cases.append((sibling.nodeid, case))
            if [i.nodeid for i in siblings] == [item.nodeid]:
                return fn(**cases[0][1])
            outcomes = run_cases(fn, cases)
            failed = [n for n, (nodeid, _case) in enumerate(cases) if "error" in outcomes[nodeid]]
            kept = None
            if failed and wants_tmp:  # the failed cases' machines, to be looked at
                kept = keep_failed(request.getfixturevalue("tmp_path_factory"), base)
                for n in failed:
                    outcomes[cases[n][0]]["dir"] = str(kept / ("case%d" % n))
            if kept != base:
                shutil.rmtree(str(base), ignore_errors=True)
            _DONE.update(outcomes)
        return report(_DONE.pop(item.nodeid))

    params = [p for p in sig.parameters.values() if p.name != "tmp_path"]
    if not wants_request:
        params.append(inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY))
    test.__signature__ = sig.replace(parameters=params)
    return pytest.mark.xdist_group("explore-%s-%s" % (fn.__module__, fn.__name__))(test)
