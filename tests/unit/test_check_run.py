# -*- coding: utf-8 -*-
"""The controller-side check play (playbooks/tasks/check_run.yml) that every playbook imports first: a run that
would reach no host, or whose extra variables arrived split at their spaces, or whose docker_root_select is a bare
path, fails there, before any host task runs.

Each case runs the real playbook with ansible-playbook against a tiny inventory whose hosts point at 127.0.0.1
port 1: nothing listens there, so a host task that ran would show as UNREACHABLE (and never touches anything)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import json
import os
import re
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
PLAYBOOKS = sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "playbooks", "*.yml")))
# The variable that names each playbook's hosts (its header comment documents it); migrate_hosts for the others.
PATTERN_VAR = {"transfer_images.yml": "transfer_to"}
# What each playbook's hosts are when its pattern variable is not given: docker_hosts, without the source for the
# transfer (transfer_source=h1 in every transfer run below).
DEFAULT_PATTERN = {"transfer_images.yml": "docker_hosts:!h1"}
# The check play's tasks, by the check each makes.
SPLIT = "Refuse extra variables split at their spaces"
BARE = "Refuse a selection expression that is a bare path"
NO_HOST = "Refuse a host pattern that reaches no host"
INVENTORY = """\
[docker_hosts]
h1
h2

[others]
h3

[all:vars]
ansible_host=127.0.0.1
ansible_port=1
ansible_python_interpreter=%s
""" % sys.executable


def load(path):
    with open(path) as f:
        return yaml.safe_load(f)


CHECK_TASKS = [t["name"] for t in load(os.path.join(ROOT, "playbooks", "tasks", "check_run.yml"))]


def test_the_cases_cover_every_playbook_and_every_check():
    assert len(PLAYBOOKS) == 9, PLAYBOOKS
    assert set(PATTERN_VAR) | set(DEFAULT_PATTERN) <= set(PLAYBOOKS)
    assert sorted(CHECK_TASKS) == sorted([SPLIT, BARE, NO_HOST])


def plays_of(playbook):
    """The playbook's plays, those of a playbook it imports in its place."""
    out = []
    for play in load(os.path.join(ROOT, "playbooks", playbook)):
        out += plays_of(play["ansible.builtin.import_playbook"]) if "ansible.builtin.import_playbook" in play else [play]
    return out


def first_play(playbook):
    """The playbook's first play (through a playbook it imports first, as rollback_image_store.yml does)."""
    first = load(os.path.join(ROOT, "playbooks", playbook))[0]
    if "ansible.builtin.import_playbook" in first:
        return first_play(first["ansible.builtin.import_playbook"])
    return first


def source_args(playbook):
    """The transfer needs a source; it is excluded from the destinations."""
    return ["-e", "transfer_source=h1"] if playbook == "transfer_images.yml" else []


def run(tmp_path, playbook, *args):
    """Run a playbook; (the return code, the output, the plays started, the tasks started, the failed results)."""
    inventory = tmp_path / "inventory.ini"
    inventory.write_text(INVENTORY)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "tests", "ansible.cfg"),
               PATH=BIN + os.pathsep + os.environ.get("PATH", ""), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_DISPLAY_ARGS_TO_STDOUT="0")
    for var in ("ANSIBLE_INVENTORY", "ANSIBLE_LIMIT", "ANSIBLE_CALLBACKS_ENABLED"):
        env.pop(var, None)
    res = subprocess.run(["ansible-playbook", "-i", str(inventory), os.path.join(ROOT, "playbooks", playbook)]
                         + list(args), cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, timeout=180, check=False)
    plays, tasks, failed, task = [], [], [], None
    for line in res.stdout.splitlines():
        m = re.match(r"^PLAY \[(.*)\] \*+$", line)
        if m:
            plays.append(m.group(1))
        m = re.match(r"^TASK \[(.*)\] \*+$", line)
        if m:
            task = m.group(1)
            tasks.append(task)
        m = re.match(r"^fatal: \[([^\]]+)\]: (FAILED|UNREACHABLE)! => (\{.*\})$", line)
        if m:
            failed.append((task, m.group(1), m.group(2), json.loads(m.group(3))))
    return res.returncode, res.stdout, plays, tasks, failed


def refused(tmp_path, playbook, task, *args):
    """Run a playbook that its check play must refuse in task; the refusal's message."""
    rc, out, plays, tasks, failed = run(tmp_path, playbook, *args)
    assert rc != 0, out[-4000:]
    play = first_play(playbook)
    assert play["tasks"][0]["ansible.builtin.import_tasks"] == "tasks/check_run.yml"
    assert plays == [play["name"]], "a play after the check play started:\n" + out[-4000:]
    assert tasks and set(tasks) <= set(CHECK_TASKS), "a task outside the check play ran:\n" + out[-4000:]
    assert "UNREACHABLE" not in out, out[-4000:]
    assert len(failed) == 1, out[-4000:]
    failed_task, _host, kind, result = failed[0]
    assert (failed_task, kind) == (task, "FAILED"), out[-4000:]
    assert tasks[-1] == task, "the check play went on after its refusal:\n" + out[-4000:]
    return result["msg"]


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_a_pattern_that_matches_no_host_fails_the_check_play(tmp_path, playbook):
    var = PATTERN_VAR.get(playbook, "migrate_hosts")
    msg = refused(tmp_path, playbook, NO_HOST, "-e", "%s=nomatch" % var, *source_args(playbook))
    assert msg.startswith("No host matched %s=nomatch" % var), msg
    assert "within --limit" not in msg, msg
    assert str(tmp_path / "inventory.ini") in msg, msg  # the inventory it looked in
    assert "-e %s=PATTERN" % var in msg, msg  # and how to name the hosts


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_a_limit_that_leaves_no_host_of_the_pattern_fails_the_check_play(tmp_path, playbook):
    """h3 is in the inventory but not in docker_hosts: Ansible alone would run the check play on it and stop,
    successfully, at the empty plays after."""
    var = PATTERN_VAR.get(playbook, "migrate_hosts")
    msg = refused(tmp_path, playbook, NO_HOST, "--limit", "h3", *source_args(playbook))
    pattern = DEFAULT_PATTERN.get(playbook, "docker_hosts")
    assert msg.startswith("No host matched %s=%s within --limit h3 " % (var, pattern)), msg


# -e VALUE as typed (shell quoting removed), and what the check play shows of what arrived split off: a value
# with spaces reaches Ansible as KEY=VALUE pairs, the rest as _raw_params or as variables named by the operator.
SPLITS = [
    ("docker_root_select=config.method != 'default'", "'default'"),  # _raw_params (and a variable "!")
    ("docker_root_select=config.method !='default'", "!"),            # a variable "!" only
    ("docker_root_select=config.method ==`bind`", "="),               # a variable "="
    ("docker_root_select=filesystem.used_percent <=`80`", "<"),       # a variable "<"
    ("docker_root_select=filesystem.used_percent > `80`", "> `80`"),  # _raw_params
]


@pytest.mark.parametrize("extra,debris", SPLITS, ids=["ne", "ne-var", "eq-var", "le-var", "gt"])
@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_extra_variables_split_at_their_spaces_fail_the_check_play(tmp_path, playbook, extra, debris):
    msg = refused(tmp_path, playbook, SPLIT, "-e", extra, *source_args(playbook))
    assert msg.startswith("An extra variable was split at its spaces"), msg
    assert "the rest of the value (%s) arrived as other variables" % debris in msg, msg
    # The fix: the value as JSON, or from a file.
    assert "-e '{\"docker_root_select\": " in msg and "-e @vars.yml" in msg, msg


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_a_selection_that_is_a_bare_path_fails_the_check_play(tmp_path, playbook):
    msg = refused(tmp_path, playbook, BARE, "-e", "docker_root_select=filesystem.used_percent",
                  *source_args(playbook))
    assert msg.startswith("docker_root_select=filesystem.used_percent is a bare path"), msg
    assert "-e '{\"docker_root_select\": " in msg, msg


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_a_sound_run_passes_the_check_play(tmp_path, playbook):
    """The control: hosts that match, an expression with spaces passed as JSON: the three checks pass and the
    playbook's next play starts (and finds its hosts unreachable)."""
    rc, out, plays, tasks, failed = run(
        tmp_path, playbook, "-e", "docker_root_target=/mnt/data/docker",
        "-e", json.dumps({"docker_root_select": "filesystem.used_percent > `80`", "transfer_images": ["app:1"],
                          "docker_image_store": "containerd"}),
        *source_args(playbook))
    assert tasks[:3] == CHECK_TASKS, out[-4000:]
    assert not [f for f in failed if f[0] in CHECK_TASKS], out[-4000:]
    assert plays[0] == first_play(playbook)["name"] and len(plays) > 1, out[-4000:]
    assert plays[1] == plays_of(playbook)[1]["name"], out[-4000:]
    assert "UNREACHABLE" in out  # the hosts were only tried after the check play: the inventory is as intended


def test_a_transfer_without_a_source_asks_for_one(tmp_path):
    rc, out, _plays, _tasks, failed = run(tmp_path, "transfer_images.yml", "-e", "transfer_to=h2")
    assert rc != 0, out[-4000:]
    assert "string index out of range" not in out, out[-4000:]
    assert failed and "transfer_source" in failed[0][3]["msg"], out[-4000:]


@pytest.mark.parametrize("store", [None, "overlay2"])
def test_the_conversion_asks_for_a_store_before_any_host_is_touched(tmp_path, store):
    rc, out, plays, _tasks, failed = run(tmp_path, "convert_image_store.yml",
                                         *(["-e", "docker_image_store=%s" % store] if store else []))
    assert rc != 0 and len(plays) == 1, out[-4000:]
    assert [f[0] for f in failed] == ["Check the playbook's variables"], out[-4000:]
    assert "Set docker_image_store to the store every host is to run" in failed[0][3]["msg"]
    assert "(got %s)" % (store or "nothing") in failed[0][3]["msg"]
