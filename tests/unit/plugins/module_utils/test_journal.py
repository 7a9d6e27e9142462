# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import stat

from ansible_collections.dockyard.migrate.plugins.module_utils import _journal, _move, _switches


def test_marker_sits_beside_the_target():
    assert _journal.marker_path("/mnt/data/docker/") == "/mnt/data/.docker.dockyard-migrate.json"


def test_journal_saves_moves_and_phases_and_reads_them_back(tmp_path):
    target = str(tmp_path / "data" / "docker")
    j = _journal.Journal(target)
    assert j.load() is None and not j
    j.start(1700000000, "bind")
    j.moves = [_move.Move("docker", "/var/lib/docker", target, _switches.make("bind"))]
    j.mark("record")
    j["texts_before"] = {"/etc/fstab": ""}
    j.save(phase="switch")
    assert stat.S_IMODE(os.stat(j.path).st_mode) == 0o600
    again = _journal.Journal(target)
    assert again.load()["phases_done"] == ["record"] and again.phase == "switch" and again.done("record")
    assert [_switches.move_from_dict(d).to_dict() for d in again.recorded_moves()] == [m.to_dict() for m in j.moves]
    again.fresh_start()
    assert again.get("phases_done") == [] and "texts_before" not in again.data


def test_check_mode_writes_nothing_and_other_versions_are_ignored(tmp_path):
    target = str(tmp_path / "docker")
    j = _journal.Journal(target, check_mode=True)
    j.start(1700000000, "bind")
    j.save(phase="record")
    assert not os.path.exists(j.path)
    with open(j.path, "w") as f:
        json.dump({"version": 99, "phase": "done"}, f)
    assert _journal.Journal(target).load() is None


def test_try_save_tells_whether_the_marker_was_written(tmp_path):
    j = _journal.Journal(str(tmp_path / "docker"))
    j.start(0, "bind")
    assert j.try_save(phase="stop") is True
    (tmp_path / "disk").write_text("not a directory")
    j.path = str(tmp_path / "disk" / ".docker.dockyard-migrate.json")  # a write that fails, even for root
    assert j.try_save(phase="rolled_back") is False


def test_only_a_run_that_stopped_docker_and_did_not_end_is_in_its_window(tmp_path):
    j = _journal.Journal(str(tmp_path / "docker"))
    assert not j.in_window
    j.start(0, "bind")
    for phase, open_window in (("record", False), ("online_copy", False), ("stop", True), ("final_copy", True),
                               ("switch", True), ("start", True), ("verify", True), ("source", True),
                               ("done", False), ("rolled_back", False), ("online_copy_failed", False)):
        j.save(phase=phase)
        again = _journal.Journal(str(tmp_path / "docker"))
        assert again.load() and again.in_window is open_window and j.in_window is open_window, phase


def test_discard_removes_the_marker(tmp_path):
    j = _journal.Journal(str(tmp_path / "docker"))
    j.start(0, "bind")
    j.save(phase="final_copy")
    assert j.discard() and not os.path.exists(j.path)
    assert j.discard()


def test_data_root_info_reads_a_candidate_s_marker(tmp_path):
    """What the role's preflight sees of a move to the target: no marker, a move killed in its window, a finished one."""
    from ansible_collections.dockyard.migrate.plugins.module_utils import _facts
    target = str(tmp_path / "docker")
    assert _facts.move_state(target) == {"phase": None, "in_window": False}
    j = _journal.Journal(target)
    j.start(1700000000.0, "bind")
    j.save(phase="switch")
    assert _facts.move_state(target) == {"phase": "switch", "in_window": True}
    j.save(phase="done", finished=1700000100.0)
    assert _facts.move_state(target) == {"phase": "done", "in_window": False}
    with open(_journal.marker_path(target), "w") as f:
        f.write("{not json")
    assert _facts.move_state(target) == {"phase": None, "in_window": False}
