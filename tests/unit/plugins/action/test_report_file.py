# -*- coding: utf-8 -*-
"""The report_file action plugin writes a report on the controller atomically, in its own process: check mode and
diff mode, a second run unchanged, and every bad input refused with a message naming it, the file untouched.

The plugin runs as Ansible runs it: a real Task and PlayContext; then once more through ansible-playbook on the
controller's implicit localhost."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import stat
import subprocess
import sys

import pytest
from ansible.errors import AnsibleActionFail
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task
from ansible.plugins.loader import connection_loader
from ansible.template import Templar

from ansible_collections.dockyard.migrate.plugins.action import report_file
from ansible_collections.dockyard.migrate.plugins.action.report_file import ActionModule

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def run(args, check_mode=False, diff=False):
    task = Task()
    task.action = "dockyard.migrate.report_file"
    task.args = args
    task.diff = diff
    play_context = PlayContext()
    play_context.check_mode = check_mode
    loader = DataLoader()
    connection = connection_loader.get("ansible.builtin.local", play_context, None)
    action = ActionModule(task, connection, play_context, loader, Templar(loader=loader), None)
    return action.run(task_vars={})


def test_the_report_is_written_then_a_rerun_changes_nothing(tmp_path):
    dest = tmp_path / "report.json"
    res = run({"dest": str(dest), "content": u'{"h\u00e9": 1}\n', "mode": "0600"})
    assert res["changed"] and not res.get("failed"), res
    assert dest.read_bytes() == u'{"h\u00e9": 1}\n'.encode("utf-8")
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert (res["dest"], res["size"]) == (str(dest), len(u'{"h\u00e9": 1}\n'.encode("utf-8")))
    again = run({"dest": str(dest), "content": u'{"h\u00e9": 1}\n', "mode": "0600"})
    assert again["changed"] is False, again
    # Only the mode differs: changed, and set.
    res = run({"dest": str(dest), "content": u'{"h\u00e9": 1}\n', "mode": 0o644})
    assert res["changed"] and stat.S_IMODE(dest.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temporary file left beside it


def test_check_mode_writes_nothing_and_diff_shows_the_change(tmp_path):
    dest = tmp_path / "report.json"
    dest.write_text(u"old\n")
    res = run({"dest": str(dest), "content": "new\n"}, check_mode=True, diff=True)
    assert res["changed"] and dest.read_text() == u"old\n", res
    assert res["diff"] == {"before_header": str(dest), "after_header": str(dest), "before": "old\n", "after": "new\n"}
    res = run({"dest": str(dest), "content": "new\n"}, diff=True)
    assert res["changed"] and dest.read_text() == u"new\n"
    assert "diff" not in run({"dest": str(dest), "content": "new\n"})


def test_the_old_report_stays_whole_when_the_write_fails(tmp_path, monkeypatch):
    dest = tmp_path / "report.json"
    dest.write_text(u"old\n")

    def refuse(*_args):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(report_file.os, "replace", refuse)
    res = run({"dest": str(dest), "content": "new\n"})
    assert res["failed"] and "could not be written to %s" % dest in res["msg"] and "No space" in res["msg"], res
    assert dest.read_text() == u"old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


@pytest.mark.parametrize("args,message", [
    ({"content": "x"}, "dest must be the path of the report"),
    ({"dest": "", "content": "x"}, "dest must be the path of the report"),
    ({"dest": "{d}/r.json", "content": {"a": 1}}, "content must be a string (the report's text), got dict"),
    ({"dest": "{d}/r.json", "content": "x", "mode": "rw-r--r--"}, "mode must be octal permissions"),
    ({"dest": "{d}/r.json", "content": "x", "mode": "0844"}, "mode must be octal permissions"),
    ({"dest": "{d}/none/r.json", "content": "x"}, "the directory for the report does not exist on the controller"),
    ({"dest": "{d}", "content": "x"}, "dest is a directory on the controller"),
    ({"dest": "{d}/fifo", "content": "x"}, "dest exists on the controller and is not a regular file"),
])
def test_bad_input_is_refused_naming_it_and_nothing_is_written(tmp_path, args, message):
    os.mkfifo(str(tmp_path / "fifo"))
    args = dict((k, v.format(d=tmp_path) if isinstance(v, str) else v) for k, v in args.items())
    before = sorted(os.listdir(str(tmp_path)))
    res = run(args)
    assert res["failed"] and message in res["msg"] and res["changed"] is False, res
    assert sorted(os.listdir(str(tmp_path))) == before


def test_an_unknown_option_is_refused(tmp_path):
    with pytest.raises(AnsibleActionFail, match="Invalid options for dockyard.migrate.report_file: owner"):
        run({"dest": str(tmp_path / "r"), "content": "x", "owner": "root"})


def test_in_a_play_with_check_mode_false_the_report_is_written_in_a_check_run(tmp_path):
    dest = tmp_path / "r.json"
    play = [{"name": "Report", "hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "Write", "dockyard.migrate.report_file": {"dest": str(dest), "content": "{{ doc | to_nice_json }}\n"},
         "check_mode": False, "register": "wrote"},
        {"name": "Check", "ansible.builtin.assert": {"that": ["wrote is changed", "wrote.size > 0"]}}]}]
    path = tmp_path / "play.yml"
    path.write_text(json.dumps(play))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "tests", "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    res = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                          "-c", "local", "--check", "-e", json.dumps({"doc": {"hosts": 2},
                                                                     "ansible_python_interpreter": sys.executable}),
                          str(path)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, env=env,
                         timeout=180, check=False)
    assert res.returncode == 0, res.stdout[-3000:]
    assert json.loads(dest.read_text()) == {"hosts": 2}


def test_a_link_at_dest_is_replaced_by_the_report_and_its_target_left_alone(tmp_path):
    target = tmp_path / "elsewhere.json"
    target.write_text(u"theirs\n")
    link = tmp_path / "report.json"
    link.symlink_to(target)
    res = run({"dest": str(link), "content": "ours\n"})
    assert res["changed"] and not link.is_symlink() and link.read_text() == u"ours\n", res
    assert target.read_text() == u"theirs\n"
