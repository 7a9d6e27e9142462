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


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.timeout(1800)
def test_molecule_scenario(fleet_hosts, bounded, scenario):
    molecule = os.path.join(os.path.dirname(sys.executable), "molecule")
    res = bounded([molecule, "test", "-s", scenario], 1500, cwd=EXT, stdout=subprocess.PIPE,
                  stderr=subprocess.STDOUT,
                  env=dict(os.environ, NO_COLOR="1", PY_COLORS="0", ANSIBLE_FORCE_COLOR="0"))
    assert res.returncode == 0, res.stdout[-15000:]
    for step in ("converge", "idempotence", "verify"):
        assert "[%s > %s] Executed: Successful" % (scenario, step) in res.stdout, res.stdout[-5000:]
