# -*- coding: utf-8 -*-
"""The explorations' runner (explore.py): cases run several at a time report what each did, as it would have alone.
A case's failure, skip, hang, death and what the audit saw in it are its own, and reach the test that reports it."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib.util
import os
import shutil
import subprocess
import sys
import time

import ansible_collections
import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _fileops

import audit  # pylint: disable=import-error
import explore  # pylint: disable=import-error

HERE = os.path.dirname(os.path.abspath(__file__))


def a_case(n, path=None):
    """Case N: even ones pass (returning their pid), 3 fails an assertion, 5 skips, 7 raises something else;
    PATH, when given, is written the collection's way first."""
    if path:
        _fileops.atomic_write(path, "case %d\n" % n)
    if n == 3:
        assert n == 4, "case 3 is not 4"
    if n == 5:
        pytest.skip("five is skipped")
    if n == 7:
        raise OSError("seven broke")
    return os.getpid()


@pytest.mark.parametrize("width", [1, 3])
def test_every_case_reports_its_own_outcome(width):
    outcomes = explore.run_cases(a_case, [(n, {"n": n}) for n in range(8)], width=width)
    assert sorted(outcomes) == list(range(8))
    assert [n for n in range(8) if "ok" in outcomes[n]] == [0, 1, 2, 4, 6]
    assert outcomes[3]["type"] == "AssertionError" and "case 3 is not 4" in outcomes[3]["error"], outcomes[3]
    assert "assert n == 4" in outcomes[3]["tb"], outcomes[3]["tb"]
    assert outcomes[5]["skip"] == "five is skipped", outcomes[5]
    assert outcomes[7]["type"] == "OSError" and "seven broke" in outcomes[7]["error"], outcomes[7]
    pids = set(outcomes[n]["ok"] for n in (0, 1, 2, 4, 6))
    if width == 1:
        assert pids == {os.getpid()}, pids  # in place
    else:
        assert os.getpid() not in pids and 1 < len(pids) <= 3, pids  # in forked explorers, several


def test_the_failures_are_the_assertions_in_order_and_anything_else_fails_the_test():
    outcomes = explore.run_cases(a_case, [(n, {"n": n}) for n in (0, 3, 4)], width=2)
    assert explore.failures(outcomes, [0, 3, 4]) == [(3, "case 3 is not 4")]
    outcomes = explore.run_cases(a_case, [(n, {"n": n}) for n in (0, 7)], width=2)
    with pytest.raises(AssertionError, match="seven broke"):
        explore.failures(outcomes, [0, 7])
    outcomes = explore.run_cases(a_case, [(n, {"n": n}) for n in (0, 5)], width=2)
    with pytest.raises(AssertionError, match="five is skipped"):
        explore.failures(outcomes, [0, 5])


def hang_or_die(n):
    if n == 1:
        time.sleep(60)
    if n == 2:
        os._exit(3)  # pylint: disable=protected-access
    return n


def test_a_case_that_hangs_or_kills_its_explorer_is_reported_and_the_others_still_run():
    started = time.time()
    outcomes = explore.run_cases(hang_or_die, [(n, {"n": n}) for n in range(6)], width=2, timeout=2)
    assert time.time() - started < 30
    assert outcomes[1]["type"] == "Timeout" and "did not finish within 2 s" in outcomes[1]["error"], outcomes[1]
    assert outcomes[2]["type"] == "Died", outcomes[2]
    assert [outcomes[n].get("ok") for n in (0, 3, 4, 5)] == [0, 3, 4, 5], outcomes


def test_what_the_collection_does_in_a_case_reaches_the_reporting_tests_auditors(tmp_path):
    """An auditor that allows no writer, watching while the cases run and while their outcomes are reported, sees
    each forked case's atomic write once, at the report."""
    strict = audit.Auditor(writers={}, renamers={}, removers={})
    with audit.watching(strict):
        outcomes = explore.run_cases(a_case, [(n, {"n": n, "path": str(tmp_path / str(n))}) for n in (0, 2)], width=2)
        assert strict.violations == []  # the writes were the explorers'
        explore.failures(outcomes, [0, 2])
    assert (tmp_path / "0").read_text() == "case 0\n" and (tmp_path / "2").read_text() == "case 2\n"
    assert [(k, who) for k, who, _d in strict.violations] == [("write", "_fileops.py:atomic_write"),
                                                              ("rename", "_fileops.py:atomic_write")] * 2, \
        strict.violations


EXPLORATION = '''
import os
import pytest
import explore
from ansible_collections.dockyard.migrate.plugins.module_utils import _fileops

@pytest.mark.parametrize("n", list(range(6)))
@explore.ahead
def test_case(tmp_path, n):
    with open(os.environ["DIRS"], "a") as f:
        f.write("%s\\n" % tmp_path)
    (tmp_path / "mine").write_text(str(n))
    assert sorted(os.listdir(str(tmp_path))) == ["mine"]  # a directory of its own
    if n == 3:
        assert n == 4, "case 3 is not 4"
    if n == 5:
        pytest.skip("five is skipped")
    if n == 2:  # the collection's code writes: the strict audit of conftest.py allows no writer
        _fileops.atomic_write(str(tmp_path / "written"), "by the collection")
    with open(os.environ["PIDS"], "a") as f:
        f.write("%d\\n" % os.getpid())


@pytest.mark.parametrize("n", list(range(3)))
@explore.ahead
def test_fine(tmp_path, n):
    with open(os.environ["DIRS"] + ".fine", "a") as f:
        f.write("%s\\n" % tmp_path)
'''

# The unit suite's audit (tests/unit/conftest.py), made strict: a test during which the collection wrote anything
# fails.
CONFTEST = '''
import pytest
import audit

@pytest.fixture(autouse=True)
def audited():
    auditor = audit.Auditor(writers={}, renamers={}, removers={})
    with audit.watching(auditor):
        yield auditor
    if auditor.violations:
        pytest.fail("the collection's code, observed during this test: %d events" % len(auditor.violations),
                    pytrace=False)
'''


@pytest.mark.parametrize("width", ["3", "1"])
def test_an_exploration_reports_each_case_under_its_own_name(tmp_path, width):
    """The cases of a test made an exploration (explore.ahead) pass, fail and skip under their own names, the
    failure with the explorer's message, and what the audit saw in a case fails that case alone (at its teardown,
    as for a test run alone); with WIDTH 3 they ran in explorers, not in pytest's process; one case selected alone
    runs in place."""
    (tmp_path / "test_exploration.py").write_text(EXPLORATION)
    (tmp_path / "conftest.py").write_text(CONFTEST)
    pids = tmp_path / "pids"
    collections = os.path.dirname(list(ansible_collections.__path__)[0])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([HERE, os.path.dirname(os.path.dirname(HERE)), collections]),
               PIDS=str(pids), DIRS=str(tmp_path / "dirs"), DOCKYARD_EXPLORE_WIDTH=width,
               PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", DOCKYARD_EXPLORE_KEEP="1")
    basetemp = tmp_path / "basetemp"

    def pytest_run(target):
        return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", "-q",
                               "-o", "addopts=", "--basetemp", str(basetemp), target],
                              cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=120, check=False).stdout.decode()

    try:
        exploration_reported(tmp_path, width, pytest_run, basetemp)
    finally:  # the scratch directories kept (DOCKYARD_EXPLORE_KEEP), which the assertions look into
        for d in (tmp_path / "dirs").read_text().split() if (tmp_path / "dirs").exists() else []:
            if d.startswith(explore.SHM + "/" + explore.PREFIX):
                shutil.rmtree(os.path.join(explore.SHM, d[len(explore.SHM) + 1:].split("/")[0]), ignore_errors=True)


def exploration_reported(tmp_path, width, pytest_run, basetemp):
    pids = tmp_path / "pids"
    out = pytest_run("test_exploration.py")
    assert "1 failed, 7 passed, 1 skipped" in out and ", 1 error in " in out, out
    assert "FAILED test_exploration.py::test_case[3]" in out and "AssertionError: case 3 is not 4" in out, out
    assert "SKIPPED [1] test_exploration.py" in out and "five is skipped" in out, out
    for n in (0, 1, 2, 4):
        assert "PASSED test_exploration.py::test_case[%d]" % n in out, out
    errors = [line for line in out.splitlines() if line.startswith("ERROR ")]
    assert len(errors) == 1 and errors[0].startswith("ERROR test_exploration.py::test_case[2]"), out
    assert "ERROR at teardown of test_case[2]" in out and "observed during this test: 2 events" in out, out
    ran = pids.read_text().split()
    assert len(ran) == 4 and (len(set(ran)) > 1 if width == "3" else len(set(ran)) == 1), ran
    # Each case's directory is the exploration's (pytest made none for its items), on the tmpfs where there is one,
    # and gone when the run ended.
    dirs = (tmp_path / "dirs").read_text().split()
    assert len(set(dirs)) == 6 and len(set(os.path.dirname(d) for d in dirs)) == 1, dirs
    assert not list(basetemp.glob("test_case_*")), list(basetemp.iterdir())
    if explore.SHM and explore._tmpfs(explore.SHM):  # pylint: disable=protected-access
        assert all(d.startswith(explore.SHM + "/dockyard-explore-") for d in dirs), dirs
    # Kept (DOCKYARD_EXPLORE_KEEP) the scratch stays, and still the explorations' directories are gone: the failing
    # one's copied to pytest's basetemp, the passing one's removed.
    assert not [d for d in dirs if os.path.exists(d)], dirs
    # The failed case's directory is kept under pytest's basetemp and named in its failure; the exploration whose
    # cases all passed left nothing.
    kept = list(basetemp.glob("failed-test_case*/case3/mine"))
    assert len(kept) == 1 and kept[0].read_text() == "3", list(basetemp.iterdir())
    assert "its directory kept: %s" % kept[0].parent in out, out
    assert not list(basetemp.glob("failed-test_fine*")), list(basetemp.iterdir())
    fine = (tmp_path / "dirs.fine").read_text().split()
    assert len(set(fine)) == 3 and not [d for d in fine if os.path.exists(d)], fine
    pids.unlink()
    out = pytest_run("test_exploration.py::test_case[3]")
    assert "1 failed" in out and "case 3 is not 4" in out and "in its explorer process" not in out, out


def test_the_summary_counts_a_case_by_its_parameters_whatever_xdist_appends(tmp_path):
    """An exploration's node id under xdist's loadgroup ends with "@" and its group: the crash point is the same."""
    spec = importlib.util.spec_from_file_location("unit_conftest", os.path.join(os.path.dirname(
        os.path.dirname(HERE)), "conftest.py"))
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)
    plain = "tests/unit/plugins/module_utils/test_crash_points.py::test_x[12-none-unguarded-down]"
    assert conftest.crash_point(plain) == (plain.split("[", maxsplit=1)[0], ("12", "none"))
    assert conftest.crash_point(plain + "@explore-test_crash_points-test_x") == conftest.crash_point(plain)
    assert conftest.crash_point("tests/unit/test_other.py::test_y[1]") is None


def test_a_scratch_directory_is_swept_only_when_its_process_is_gone_and_it_was_not_kept(tmp_path):
    """explore._sweep removes a scratch directory whose lock nobody holds (its process was killed before its exit
    handler), never one whose lock is held (a run going on, in this PID namespace or another) or one kept on
    purpose (DOCKYARD_EXPLORE_KEEP=1)."""
    made = {}
    for name in ("gone", "running", "kept"):
        path = tmp_path / (explore.PREFIX + name)
        path.mkdir()
        (path / ".lock").write_text("")
        (path / "machine").write_text(name)
        made[name] = path
    (made["kept"] / "keep").write_text("")
    other = tmp_path / "not-ours"
    other.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR); "
                               "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)",
                               str(made["running"] / ".lock")], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"held"
        explore._sweep(str(tmp_path))  # pylint: disable=protected-access
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            [explore.PREFIX + "running", explore.PREFIX + "kept", "not-ours"])
    finally:
        holder.kill()
        holder.wait(timeout=30)
    explore._sweep(str(tmp_path))  # pylint: disable=protected-access
    assert sorted(p.name for p in tmp_path.iterdir()) == [explore.PREFIX + "kept", "not-ours"]
