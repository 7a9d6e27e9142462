# -*- coding: utf-8 -*-
"""One name per setting: the playbook maps every role variable from its docker_root_/migrate_ name with the
role's own default, and docs/settings.md has one table row for each."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
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
    allowed = ("docker_root_", "docker_image_store", "migrate_", "transfer_", "dockyard_", "relocate_data_root_", "__",
               "ansible_")
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


# --- The options reach the module -------------------------------------------------------------------------------

MODULES = os.path.join(ROOT, "plugins", "modules")
WAIVERS_AND_PATHS = ("allow_swarm_manager", "allow_same_filesystem", "daemon_json", "fstab")


def module_options(name):
    """The options a module documents (its DOCUMENTATION's options, without the doc fragments')."""
    with open(os.path.join(MODULES, name + ".py")) as f:
        tree = ast.parse(f.read())
    doc = next(node.value.value for node in tree.body
               if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "DOCUMENTATION")
    return yaml.safe_load(doc)["options"]


def argument_spec():
    from ansible_collections.dockyard.migrate.plugins.module_utils._options import ARGUMENT_SPEC
    return ARGUMENT_SPEC


def other_state_only(option):
    """True when data_root documents option as only for a state other than moved (soak_days: "With
    O(state=cleaned), ...")."""
    text = " ".join(module_options("data_root").get(option, {}).get("description", []))
    return bool(re.match(r"^With O\(state=(?!moved\))\w+\)", text))


def walk_tasks(items):
    """Every task of a list of plays or tasks, blocks opened (block, rescue, always)."""
    for item in items or []:
        for key in ("tasks", "pre_tasks", "post_tasks", "handlers", "block", "rescue", "always"):
            if key in item:
                yield from walk_tasks(item[key])
        if not any(k in item for k in ("tasks", "pre_tasks", "post_tasks", "handlers", "block")):
            yield item


class _KeepAnchors(yaml.SafeLoader):  # pylint: disable=too-many-ancestors
    """Composes a document and keeps its anchors (the composer forgets them at the document's end)."""

    def compose_document(self):
        self.get_event()
        node = self.compose_node(None, None)
        self.get_event()
        self.kept_anchors, self.anchors = dict(self.anchors), {}
        return node


def anchored_args(path, anchor):
    """The mapping written once under &anchor in path, and the key it is the value of (the module it is the
    arguments of)."""
    with open(path) as f:
        loader = _KeepAnchors(f.read())
    try:
        root = loader.get_single_node()
        target = loader.kept_anchors.get(anchor)
        assert target is not None, "%s has no &%s" % (path, anchor)
        stack = [root]
        while stack:
            node = stack.pop()
            if isinstance(node, yaml.MappingNode):  # in document order: the anchor comes before its aliases
                for key, value in node.value:
                    if value is target:
                        return key.value, loader.construct_document(value)
                stack.extend(reversed([value for _key, value in node.value]))
            elif isinstance(node, yaml.SequenceNode):
                stack.extend(reversed(node.value))
    finally:
        loader.dispose()
    raise AssertionError("&%s of %s is no mapping's value" % (anchor, path))


MOVE = os.path.join(ROLE, "tasks", "move.yml")


def move_options():
    """The data_root options the role exposes as relocate_data_root_<option>, but those only for another state."""
    return sorted(o for o in argument_spec() if "relocate_data_root_" + o in SPEC and not other_state_only(o))


def test_the_role_exposes_data_root_options():
    exposed = move_options()
    # Enough to mean something: the options of the move the role's argument spec offers.
    assert len(exposed) >= 15 and {"target", "daemon_json", "fstab", "allow_swarm_manager"} <= set(exposed), exposed
    # Only soak_days is set aside, and only because data_root documents it for state=cleaned.
    assert sorted(o for o in argument_spec() if "relocate_data_root_" + o in SPEC and other_state_only(o)) == \
        ["soak_days"]


@pytest.mark.parametrize("option", move_options())
def test_move_passes_every_exposed_option_to_data_root(option):
    module, args = anchored_args(MOVE, "relocate_data_root_args")
    assert module == "dockyard.migrate.data_root", module
    value = args.get(option)
    assert value is not None, "move.yml does not pass %s: to data_root (the role exposes relocate_data_root_%s)" % (
        option, option)
    assert re.match(r"^\{\{\s*relocate_data_root_%s\b" % re.escape(option), str(value)), \
        "%s: is not taken from relocate_data_root_%s: %r" % (option, option, value)
    # Every data_root task of the move (the plan and the move itself, which merges the anchor) passes it the same.
    tasks = [t for t in walk_tasks(load(MOVE)) if "dockyard.migrate.data_root" in t]
    assert len(tasks) >= 2
    for task in tasks:
        assert task["dockyard.migrate.data_root"].get(option) == value, (task["name"], option)


def header(playbook):
    with open(os.path.join(PLAYBOOKS, playbook)) as f:
        lines = f.read().splitlines()
    return "\n".join(line for line in lines[1:next(i for i, l in enumerate(lines) if i and not l.startswith("#"))])


@pytest.mark.parametrize("playbook", ["precheck_docker_root.yml", "rollback_docker_root.yml",
                                      "cleanup_docker_root.yml"])
def test_playbooks_pass_the_waivers_and_paths_they_document(playbook):
    documented = sorted(set(re.findall(r"\bdocker_root_(%s)\b" % "|".join(WAIVERS_AND_PATHS), header(playbook))))
    assert {"daemon_json", "fstab"} <= set(documented), (playbook, documented)
    if playbook == "precheck_docker_root.yml":
        assert {"allow_swarm_manager", "allow_same_filesystem"} <= set(documented), documented
    calls = [(name, task[name]) for task in walk_tasks(load(os.path.join(PLAYBOOKS, playbook)))
             for name in task if name in ("dockyard.migrate.data_root", "dockyard.migrate.data_root_info")]
    assert calls, "%s calls no data_root module" % playbook
    for option in documented:
        takers = [(name, args) for name, args in calls if option in module_options(name.rsplit(".", 1)[1])]
        assert takers, "%s documents docker_root_%s but calls no module that takes %s" % (playbook, option, option)
        for name, args in takers:
            value = args.get(option)
            assert value is not None, "%s documents docker_root_%s; a %s call does not pass %s" % (
                playbook, option, name, option)
            m = re.match(r"^\{\{\s*docker_root_%s(?:\s*\|\s*default\((.*?)\))?" % option, str(value))
            assert m, "%s: %s %s is not taken from docker_root_%s: %r" % (playbook, name, option, option, value)
            default = module_options(name.rsplit(".", 1)[1])[option].get("default", False)
            assert m.group(1) is not None and yaml.safe_load(m.group(1)) == default, (
                "%s: docker_root_%s defaults to %s, %s's own default is %r" % (
                    playbook, option, m.group(1), name, default))
