# -*- coding: utf-8 -*-
"""The unit suite runs under an audit hook (tests/unit/audit.py): a test during which the collection's code wrote a
file outside its atomic writer (or the few functions allowed to), renamed outside them, or ran a shell fails."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

import audit


@pytest.fixture(autouse=True)
def audited():
    auditor = audit.Auditor()
    with audit.watching(auditor):
        yield auditor
    if auditor.violations:
        pytest.fail("the collection's code, observed during this test:\n%s" % "\n".join(
            "  %s in %s: %s" % v for v in auditor.violations), pytrace=False)


# The crash-point explorations (test_crash_points*.py): each case is a kill before one change of a run (a crash
# point), then one perturbation, then the recovery.  The summary counts the points explored (a case's parameters
# without its perturbation), the cases run and the violations (cases that failed), as the explorations report them.
PERTURBATIONS = ("unguarded-live", "unguarded-down", "unguarded", "templated", "stopped", "nothing", "reboot", "edit",
                 "twice")
EXPLORED = {"points": set(), "cases": 0, "violations": [], "skipped": 0}


def crash_point(nodeid):
    """(the test, its parameters without the perturbation) of an exploration's case NODEID, or None."""
    name, _sep, params = nodeid.partition("[")
    params = params.rsplit("]@", 1)[0] + "]" if "]@" in params else params  # xdist's "@group" suffix
    if "test_crash_points" not in name or not params:
        return None
    ids = params.rstrip("]").split("-")
    for p in PERTURBATIONS:
        words = p.split("-")
        for i in range(len(ids) - len(words) + 1):
            if ids[i:i + len(words)] == words:
                ids = ids[:i] + ids[i + len(words):]
                break
    return name, tuple(ids)


def pytest_runtest_logreport(report):
    point = crash_point(report.nodeid)
    if point is not None and report.skipped:
        EXPLORED["skipped"] += 1
    if point is None or report.skipped or not (report.when == "call" or report.failed):
        return
    if report.when == "call":
        EXPLORED["cases"] += 1
        EXPLORED["points"].add(point)
    if report.failed:
        EXPLORED["violations"].append(report.nodeid)


def pytest_terminal_summary(terminalreporter):
    if not (EXPLORED["cases"] or EXPLORED["skipped"]):
        return
    terminalreporter.write_line("crash-point exploration: %d points explored, %d cases, %d violations (%d skipped)" % (
        len(EXPLORED["points"]), EXPLORED["cases"], len(EXPLORED["violations"]), EXPLORED["skipped"]))
    for nodeid in EXPLORED["violations"]:
        terminalreporter.write_line("  violation: %s" % nodeid)
