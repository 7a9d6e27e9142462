# -*- coding: utf-8 -*-
"""The one list of phases, and the window sets derived from it."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import inspect

from ansible_collections.dockyard.migrate.plugins.module_utils import _journal, _phases, _restore, _transaction


def test_the_window_sets_are_those_of_the_list():
    assert _journal.WINDOW_PHASES == ("stop", "final_copy", "switch", "start", "verify", "source", "rollback")
    assert _restore.WINDOW == ("restore_stop", "restore_final_copy", "restore_switch", "restore_start",
                               "restore_reapply")
    assert len(set(p.name for p in _phases.PHASES)) == len(_phases.PHASES)


def test_every_phase_of_the_move_is_a_step_of_the_relocation_in_the_lists_order():
    steps = [p.name for p in _phases.of("move")]
    assert steps[0] == "preflight" and steps[-1] == "source"
    for name in steps[1:]:
        assert inspect.isfunction(getattr(_transaction.Relocation, "phase_" + name, None)), name
    # Only the window's phases up to verify are rolled back; source runs once Docker serves and is verified.
    assert [p.name for p in _phases.of("move") if p.undo] == ["stop", "final_copy", "switch", "start", "verify"]


class Steps:
    """Relocation.steps without a run: only the options it reads."""

    def __init__(self, two_phase):
        self.ctx = type("Ctx", (), {"opts": type("Opts", (), {"two_phase": two_phase})()})()


def test_a_resumed_switch_skips_what_the_killed_run_did_and_two_phase_false_skips_the_online_copy():
    steps = _transaction.Relocation.steps
    assert [p.name for p in steps(Steps(True), False)] == ["record", "online_copy", "stop", "final_copy", "switch",
                                                           "start", "verify", "source"]
    assert [p.name for p in steps(Steps(True), True)] == ["switch", "start", "verify", "source"]
    assert [p.name for p in steps(Steps(False), False)] == ["record", "stop", "final_copy", "switch", "start",
                                                            "verify", "source"]
