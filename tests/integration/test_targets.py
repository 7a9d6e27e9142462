# -*- coding: utf-8 -*-
"""Runs each target under tests/integration/targets/ against a fleet host.

A target's ``aliases`` file says which host it uses (``host/h1``), whether the
host is rebuilt and seeded first (``reset``), and ``needs/...`` notes.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def aliases(name):
    path = os.path.join(HERE, "targets", name, "aliases")
    with open(path) as f:
        return [line.split("#", 1)[0].strip() for line in f if line.split("#", 1)[0].strip()]


# A target on a host of another kind may build that kind's image first (several minutes).
TARGETS = [pytest.param(t, marks=pytest.mark.timeout(2400)) if any(a.startswith("fleet/") for a in aliases(t)) else t
           for t in sorted(os.listdir(os.path.join(HERE, "targets")))]


@pytest.mark.parametrize("target", TARGETS)
def test_target(fleet_hosts, target):
    al = aliases(target)
    hosts = [a.split("/", 1)[1] for a in al if a.startswith("host/")] or ["h1"]
    if "fleet/trixie-containerd-store" in al:
        fleet_hosts.up_extra("--first", hosts[0][1:], "--hosts", "1", "--suite", "trixie", "--containerd-store")
    if "reset" in al:
        fleet_hosts.reset(*hosts)
    res = fleet_hosts.playbook(os.path.join(HERE, "target.yml"), limit=",".join(hosts),
                               extra={"dockyard_target": target})
    assert "failed=0" in res.stdout
