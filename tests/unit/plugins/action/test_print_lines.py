# -*- coding: utf-8 -*-
"""The print_lines action plugin prints lines as they are and returns them; anything but a list or a string
fails with a message naming what it got.

The plugin runs as Ansible runs it: a real Task, PlayContext and local connection; then once more through
ansible-playbook on the controller's implicit localhost, where its output reaches the play's stdout."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys

import pytest
from ansible.errors import AnsibleActionFail
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task
from ansible.plugins.loader import connection_loader
from ansible.template import Templar

from ansible_collections.dockyard.migrate.plugins.action.print_lines import ActionModule

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def run(args, check_mode=False):
    task = Task()
    task.action = "dockyard.migrate.print_lines"
    task.args = args
    task.check_mode = check_mode
    play_context = PlayContext()
    loader = DataLoader()
    connection = connection_loader.get("ansible.builtin.local", play_context, None)
    action = ActionModule(task, connection, play_context, loader, Templar(loader=loader), None)
    return action.run(task_vars={})


@pytest.mark.parametrize("lines,printed", [
    (["HOST  ROOT", "h1    /var/lib/docker"], ["HOST  ROOT", "h1    /var/lib/docker"]),
    ("one\ntwo\n", ["one", "two"]),
    (["a", None, 3, u"\u00e9t\u00e9"], ["a", "", "3", u"\u00e9t\u00e9"]),
    ([], []),
])
def test_lines_are_printed_as_they_are(capsys, lines, printed):
    res = run({"lines": lines})
    assert res["changed"] is False and not res.get("failed"), res
    assert res["lines"] == printed
    out = capsys.readouterr().out
    assert out == "\n".join(printed) + "\n"
    assert '["' not in out  # not a JSON-quoted list, as debug would print


def test_check_mode_prints_the_same(capsys):
    res = run({"lines": ["x  y"]}, check_mode=True)
    assert res["lines"] == ["x  y"] and not res.get("failed") and not res.get("skipped"), res
    assert capsys.readouterr().out == "x  y\n"


@pytest.mark.parametrize("lines,kind", [({"a": 1}, "dict"), (7, "int"), (None, "NoneType")])
def test_anything_else_fails_naming_what_it_got(capsys, lines, kind):
    res = run({"lines": lines})
    assert res["failed"] and res["msg"] == "lines must be a list of strings or one string, got %s" % kind
    assert capsys.readouterr().out == ""


def test_an_unknown_option_is_refused():
    with pytest.raises(AnsibleActionFail, match="Invalid options for dockyard.migrate.print_lines: line"):
        run({"lines": ["x"], "line": "y"})


def test_in_a_play_the_lines_reach_the_output_unquoted(tmp_path):
    play = [{"name": "Print", "hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "Print the table", "dockyard.migrate.print_lines": {"lines": "{{ rows }}"}, "register": "printed"},
        {"name": "Print in check mode", "dockyard.migrate.print_lines": {"lines": "only  once"},
         "check_mode": True},
        {"name": "Refuse a dict", "dockyard.migrate.print_lines": {"lines": {"a": 1}}, "register": "bad",
         "ignore_errors": True},
        {"name": "Check", "ansible.builtin.assert": {"that": [
            "printed is not changed", "printed.lines == rows",
            "bad is failed", "'got dict' in bad.msg"]}}]}]
    path = tmp_path / "play.yml"
    path.write_text(json.dumps(play))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "tests", "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    res = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                          "-c", "local", "-e", json.dumps({"rows": ["HOST  USED", "h1    1.2G"],
                                                           "ansible_python_interpreter": sys.executable}),
                          str(path)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, env=env,
                         timeout=180, check=False)
    assert res.returncode == 0, res.stdout[-3000:]
    assert "\nHOST  USED\nh1    1.2G\n" in res.stdout, res.stdout
    assert "\nonly  once\n" in res.stdout, res.stdout
    assert "failed=0" in res.stdout and "ignored=1" in res.stdout, res.stdout
