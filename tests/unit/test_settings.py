# -*- coding: utf-8 -*-
"""One name per setting: the playbook maps every role variable from its docker_root_/migrate_ name with the
role's own default, and docs/settings.md has one table row for each."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLE = os.path.join(ROOT, "roles", "relocate_data_root")
PLAYBOOKS = os.path.join(ROOT, "playbooks")
HOOKS = {"relocate_data_root_pre_tasks": "migrate_pre_host_tasks",
         "relocate_data_root_post_tasks": "migrate_post_host_tasks"}


def load(path):
    with open(path) as f:
        return yaml.safe_load(f)


SPEC = load(os.path.join(ROLE, "meta", "argument_specs.yml"))["argument_specs"]["main"]["options"]


def include_role_vars():
    for play in load(os.path.join(PLAYBOOKS, "migrate_docker_root.yml")):
        for task in play.get("tasks", []):
            for inner in task.get("block", [task]):
                if "ansible.builtin.include_role" in inner:
                    return inner["vars"]
    raise AssertionError("migrate_docker_root.yml includes no role")


def playbook_name(role_var):
    return HOOKS.get(role_var, role_var.replace("relocate_data_root_", "docker_root_", 1))


@pytest.mark.parametrize("role_var", sorted(SPEC))
def test_playbook_passes_every_role_variable_under_its_one_name(role_var):
    value = include_role_vars().get(role_var)
    assert value is not None, "migrate_docker_root.yml does not pass %s" % role_var
    name = playbook_name(role_var)
    m = re.match(r"^\s*\{\{\s*%s(?:\s*\|\s*default\((.*?)\))?" % re.escape(name), value)
    assert m, "%s is not taken from %s: %r" % (role_var, name, value)
    if SPEC[role_var].get("required"):
        return
    default = yaml.safe_load(m.group(1)) if m.group(1) is not None else None
    assert default == SPEC[role_var]["default"], "%s: playbook default %r, role default %r" % (
        name, default, SPEC[role_var]["default"])


def test_no_unprefixed_playbook_variables():
    allowed = ("docker_root_", "migrate_", "transfer_", "dockyard_", "relocate_data_root_", "__", "ansible_")
    files = [os.path.join(d, p) for d in (PLAYBOOKS, os.path.join(PLAYBOOKS, "tasks"))
             for p in sorted(os.listdir(d)) if p.endswith(".yml")]
    assert len(files) > 6
    text = "".join(open(p).read() for p in files)
    used = set(re.findall(r"(?<![.\w'\"])([a-z][a-z0-9_]*)\s*\|\s*default\(", text))
    assert sorted(u for u in used if not u.startswith(allowed)) == []


def test_settings_table_has_a_row_per_role_variable():
    with open(os.path.join(ROOT, "docs", "settings.md")) as f:
        rows = [line for line in f if line.startswith("| ")]
    for role_var in SPEC:
        row = [r for r in rows if "`%s`" % role_var in r]
        assert len(row) == 1, "docs/settings.md: %d rows for %s" % (len(row), role_var)
        assert "`%s`" % playbook_name(role_var) in row[0]
