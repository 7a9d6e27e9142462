# -*- coding: utf-8 -*-
"""The harness's own checks can fail: a module run that failed, never reached its host or never ran fails the test
that did not ask for that outcome, and "the rerun changed nothing" fails on such a run.

Each case shows the run as the old check saw it (a result with ``changed: false`` and no ``failed`` key, or a
failed one, which ``result["changed"] is False`` alone accepted) and that the harness now refuses it.  No fleet
host is needed: an unreachable host is a closed port on loopback, a failed run is ``ansible.builtin.fail`` run
on the controller."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import sys

import pytest

from conftest import EXPECT, Fleet, module_outcome, unchanged


def closed_port():
    """A loopback port nothing listens on (bound, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def local_fleet(tmp_path):
    inv = tmp_path / "inventory.ini"
    inv.write_text("ghost ansible_host=127.0.0.1 ansible_port=%d ansible_user=root "
                   "ansible_ssh_common_args='-o ConnectTimeout=5 -o BatchMode=yes'\n"
                   "controller ansible_connection=local ansible_python_interpreter=%s\n" % (closed_port(), sys.executable))
    return Fleet(str(inv))


def test_an_unreachable_host_fails_the_test(local_fleet):
    with pytest.raises(AssertionError, match="was unreachable, the test expects ok"):
        local_fleet.module("ghost", "ansible.builtin.ping", timeout=120)
    res = local_fleet.module("ghost", "ansible.builtin.ping", timeout=120, expect="interrupted")
    assert res.outcome == "unreachable", res
    # What the old checks saw: no "failed" key and changed false, so "the rerun changed nothing" passed.
    assert not res.get("failed") and res["changed"] is False, res
    with pytest.raises(AssertionError, match="a rerun that changes nothing was expected"):
        unchanged(res)


def test_a_failed_run_fails_the_test(local_fleet):
    with pytest.raises(AssertionError, match="was failed, the test expects ok"):
        local_fleet.module("controller", "ansible.builtin.fail", {"msg": "broken on purpose"}, timeout=120)
    res = local_fleet.module("controller", "ansible.builtin.fail", {"msg": "broken on purpose"}, timeout=120,
                             expect="failed")
    assert res.outcome == "failed" and res["failed"] is True and res["msg"] == "broken on purpose", res
    # The old idempotency check, ``res["changed"] is False`` alone, passes this failed run: Ansible reports it with
    # changed false (the key is there, not defaulted here); the harness's check refuses it.
    assert "changed" in res and res["changed"] is False, res
    with pytest.raises(AssertionError, match="a rerun that changes nothing was expected"):
        unchanged(res)
    # A kill test accepts a failed or unreachable run, never one that completed.
    assert module_outcome([{"outcome": "failed", "host": "h", "result": {}}], "h", "m", "interrupted").outcome \
        == "failed"
    with pytest.raises(AssertionError, match="was ok, the test expects failed/unreachable"):
        module_outcome([{"outcome": "ok", "host": "h", "result": {}}], "h", "m", "interrupted")


def test_a_run_that_reached_no_host_fails_the_test(local_fleet):
    with pytest.raises(AssertionError, match="expected one result, the run reported 0"):
        local_fleet.module("nosuchhost", "ansible.builtin.ping", timeout=120)


def test_a_successful_run_passes_and_an_ok_rerun_is_unchanged(local_fleet):
    res = local_fleet.module("controller", "ansible.builtin.ping", timeout=120)
    assert res.outcome == "ok" and res["ping"] == "pong", res
    unchanged(res)
    with pytest.raises(AssertionError, match="expects failed"):
        local_fleet.module("controller", "ansible.builtin.ping", timeout=120, expect="failed")
    with pytest.raises(ValueError, match="expect must be one of"):
        local_fleet.module("controller", "ansible.builtin.ping", expect="anything")
    assert set(EXPECT) == {"ok", "failed", "interrupted"}
