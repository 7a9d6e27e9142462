# -*- coding: utf-8 -*-
"""A callback of the test harness: every task result of a run, with the event Ansible reported it by
(ok, failed, unreachable, skipped), written as JSON lines to the file DOCKYARD_RESULT_FILE names.

The harness reads the outcome from the event, never from the result's own keys: Ansible reports an
unreachable host and a failed task with ``changed: false`` too, so a result alone cannot tell a
run that changed nothing from one that never ran."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = """
name: dockyard_result
type: aggregate
short_description: Writes each task result and its outcome to a file (test harness)
description:
  - Writes one JSON line per task result to the file named by the environment variable C(DOCKYARD_RESULT_FILE).
requirements:
  - Enabled in callbacks_enabled by the test harness.
"""

import json
import os

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "dockyard_result"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self._path = os.environ.get("DOCKYARD_RESULT_FILE")

    def _record(self, outcome, result):
        if not self._path:
            return
        line = {"outcome": outcome, "host": result._host.get_name(), "task": result._task.get_name(),
                "result": result._result}
        with open(self._path, "a") as f:
            f.write(json.dumps(line, default=str) + "\n")

    def v2_runner_on_ok(self, result):
        self._record("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record("failed", result)

    def v2_runner_on_unreachable(self, result):
        self._record("unreachable", result)

    def v2_runner_on_skipped(self, result):
        self._record("skipped", result)
