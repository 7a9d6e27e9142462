# -*- coding: utf-8 -*-
"""Each role's meta/argument_specs.yml and defaults/main.yml describe the same inputs."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLES = sorted(os.path.basename(os.path.dirname(os.path.dirname(p)))
               for p in glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml")))


def load(role, rel):
    with open(os.path.join(ROOT, "roles", role, rel)) as f:
        return yaml.safe_load(f) or {}


def test_there_are_roles():
    assert ROLES


@pytest.mark.parametrize("role", ROLES)
def test_specs_and_defaults_agree(role):
    spec = load(role, "meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    defaults = load(role, "defaults/main.yml")
    # A required input has no default anywhere: with one (even "") the argument spec would never report it missing.
    assert sorted(n for n, o in spec.items() if not o.get("required")) == sorted(defaults), \
        "the optional inputs and defaults/main.yml name different variables"
    assert any(o.get("required") for o in spec.values()), "no required input: the check below proves nothing"
    for name, opt in spec.items():
        assert name.startswith(role + "_"), "%s lacks the role prefix" % name
        assert opt.get("description"), "%s is not described" % name
        if opt.get("required"):
            assert "default" not in opt and name not in defaults, "%s is required and has a default" % name
            continue
        assert opt.get("default") == defaults[name], "%s: spec default %r, defaults/main.yml %r" % (
            name, opt.get("default"), defaults[name])
        if "choices" in opt:
            assert defaults[name] in opt["choices"]
