# -*- coding: utf-8 -*-
"""Integration tests: drive the collection over SSH against the real test fleet."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLEET = [sys.executable, os.path.join(ROOT, "tests", "fleet", "fleet.py")]
HOSTS = int(os.environ.get("DOCKYARD_TEST_HOSTS", "2"))


def fleet(*args, check=True):
    res = subprocess.run(FLEET + list(args), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, check=False)
    if check and res.returncode != 0:
        raise AssertionError("fleet %s failed:\n%s\n%s" % (" ".join(args), res.stdout, res.stderr))
    return res.stdout.strip()


class Fleet:
    def __init__(self, inventory):
        self.inventory = inventory

    def up_extra(self, *args):
        """Bring up (or reuse) hosts of another kind beside the default ones."""
        self.inventory = fleet("up", *args).splitlines()[-1]

    def reset(self, *names, seed=True):
        fleet("reset", *names)
        if seed:
            fleet("seed", *names)

    def sh(self, host, *argv, check=True):
        """Run argv on a fleet host (through the outer engine, independent of the collection)."""
        res = subprocess.run(["docker", "exec", "dockyard-" + host] + list(argv), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, universal_newlines=True, check=False)
        if check and res.returncode != 0:
            raise AssertionError("%s on %s failed: %s" % (argv, host, res.stderr))
        return res.stdout

    def playbook(self, playbook, limit=None, extra=None, check=True, env=None, options=None):
        argv = ["ansible-playbook", "-i", self.inventory, playbook] + list(options or [])
        if limit:
            argv += ["--limit", limit]
        if extra:
            argv += ["-e", json.dumps(extra)]
        e = dict(os.environ)
        e["ANSIBLE_CONFIG"] = os.path.join(ROOT, "ansible.cfg")
        e.update(env or {})
        res = subprocess.run(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             universal_newlines=True, env=e, check=False)
        if check and res.returncode != 0:
            raise AssertionError("ansible-playbook %s failed (rc=%d):\n%s" % (
                playbook, res.returncode, res.stdout[-20000:]))
        return res


@pytest.fixture(scope="session")
def fleet_hosts():
    inventory = fleet("up", "--hosts", str(HOSTS))
    return Fleet(inventory.splitlines()[-1])
