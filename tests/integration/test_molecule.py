# -*- coding: utf-8 -*-
"""Runs each Molecule scenario under extensions/molecule with `molecule test`."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXT = os.path.join(ROOT, "extensions")
SCENARIOS = sorted(d for d in os.listdir(os.path.join(EXT, "molecule"))
                   if os.path.isfile(os.path.join(EXT, "molecule", d, "molecule.yml")))


# Scenarios that bring no hosts of their own run against a freshly seeded fleet host named by inventory,
# as a user points them at theirs.
INVENTORY_DRIVEN = {"your_hosts": ("prepare", "check", "converge", "idempotence", "verify", "cleanup")}


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.timeout(1800)
def test_molecule_scenario(fleet_hosts, bounded, scenario):
    molecule = os.path.join(os.path.dirname(sys.executable), "molecule")
    env = dict(os.environ, NO_COLOR="1", PY_COLORS="0", ANSIBLE_FORCE_COLOR="0")
    if scenario in INVENTORY_DRIVEN:
        fleet_hosts.reset("h2")
        env.update(DOCKYARD_MOLECULE_INVENTORY=fleet_hosts.inventory, DOCKYARD_MOLECULE_LIMIT="h2",
                   DOCKYARD_MOLECULE_TARGET="/mnt/data/docker", ANSIBLE_HOST_KEY_CHECKING="False")
        # Molecule keeps "prepared" between runs when it creates nothing; start from a clean state.
        bounded([molecule, "reset", "-s", scenario], 120, cwd=EXT, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, env=env)
    res = bounded([molecule, "test", "-s", scenario], 1500, cwd=EXT, stdout=subprocess.PIPE,
                  stderr=subprocess.STDOUT, env=env)
    assert res.returncode == 0, res.stdout[-15000:]
    for step in INVENTORY_DRIVEN.get(scenario, ("converge", "idempotence", "verify")):
        assert "[%s > %s] Executed: Successful" % (scenario, step) in res.stdout, res.stdout[-5000:]
    if scenario in INVENTORY_DRIVEN:
        assert fleet_hosts.sh("h2", "docker", "info", "--format", "{{.DockerRootDir}}").strip() == "/var/lib/docker"
        assert fleet_hosts.sh("h2", "sh", "-c", "findmnt /var/lib/docker || echo not-mounted").strip() == "not-mounted"


@pytest.mark.parametrize("limit", [None, "all"])
def test_your_hosts_refuses_to_run_without_hosts_named_one_by_one(fleet_hosts, bounded, limit):
    """The scenario moves and rolls back each host it is given: with no DOCKYARD_MOLECULE_LIMIT, or "all", it
    fails before touching any host, naming the variable."""
    molecule = os.path.join(os.path.dirname(sys.executable), "molecule")
    env = dict(os.environ, NO_COLOR="1", PY_COLORS="0", ANSIBLE_FORCE_COLOR="0",
               DOCKYARD_MOLECULE_INVENTORY=fleet_hosts.inventory, ANSIBLE_HOST_KEY_CHECKING="False")
    env.pop("DOCKYARD_MOLECULE_LIMIT", None)
    if limit:
        env["DOCKYARD_MOLECULE_LIMIT"] = limit
    before = [fleet_hosts.snapshot(h) for h in ("h1", "h2")]
    bounded([molecule, "reset", "-s", "your_hosts"], 120, cwd=EXT, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, env=env)
    res = bounded([molecule, "converge", "-s", "your_hosts"], 600, cwd=EXT, stdout=subprocess.PIPE,
                  stderr=subprocess.STDOUT, env=env)
    assert res.returncode != 0 and "Set DOCKYARD_MOLECULE_LIMIT to the hosts to rehearse on" in res.stdout, \
        res.stdout[-5000:]
    assert "Migrate Docker data roots" not in res.stdout, res.stdout[-5000:]
    assert [fleet_hosts.snapshot(h) for h in ("h1", "h2")] == before
