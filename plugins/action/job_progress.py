# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import time

from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.dockyard.migrate.plugins.module_utils._units import human

display = Display()

_HIDE = ("ansible_job_id", "started", "finished", "results_file", "stdout", "stderr", "erased")


def progress_line(host, st):
    parts = ["%s: %s" % (host, st.get("phase", "?"))]
    if st.get("percent") is not None:
        parts.append("%s%%" % st["percent"])
    if st.get("bytes_done") is not None and st.get("bytes_total"):
        parts.append("%s of %s" % (human(st.get("bytes_done")), human(st.get("bytes_total"))))
    if st.get("rate"):
        parts.append(st["rate"])
    return " ".join(parts)


class ActionModule(ActionBase):
    """Wait for an asynchronous job on the host, showing its status file as it goes."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("jid", "status_file", "interval", "timeout"))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = self._task.args
        jid = args.get("jid")
        if not jid:
            result.update(failed=True, msg="jid is required: the ansible_job_id of a task run with async and poll: 0")
            return result
        status_file = args.get("status_file")
        try:
            interval = float(args.get("interval", 5))
            timeout = float(args.get("timeout", 7200))
        except (TypeError, ValueError):
            result.update(failed=True, msg="interval and timeout must be numbers of seconds")
            return result
        if interval <= 0 or timeout <= 0:
            result.update(failed=True, msg="interval and timeout must be positive")
            return result
        host = task_vars.get("inventory_hostname", "?")
        async_dir = self._remote_expand_user(self.get_shell_option("async_dir", default="~/.ansible_async"))
        deadline = time.time() + timeout
        last = None
        polls = 0
        while True:
            st = self._execute_module(module_name="ansible.legacy.async_status",
                                      module_args={"jid": jid, "mode": "status", "_async_dir": async_dir},
                                      task_vars=task_vars)
            polls += 1
            if st.get("finished") or (st.get("failed") and "finished" not in st):
                self._execute_module(module_name="ansible.legacy.async_status",
                                     module_args={"jid": jid, "mode": "cleanup", "_async_dir": async_dir},
                                     task_vars=task_vars)
                for key in _HIDE:
                    st.pop(key, None)
                result.update(st)
                result["progress_polls"] = polls
                return result
            if status_file:
                slurped = self._execute_module(module_name="ansible.builtin.slurp", module_args={"src": status_file},
                                               task_vars=task_vars)
                if not slurped.get("failed"):
                    try:
                        data = json.loads(to_text(base64.b64decode(slurped["content"])))
                        line = progress_line(host, data)
                        if line != last:
                            display.display(line)
                            last = line
                    except (ValueError, KeyError, TypeError):
                        pass
            if time.time() > deadline:
                result.update(failed=True, msg="job %s did not finish within %d s; it may still be running on %s"
                              % (jid, timeout, host), ansible_job_id=jid)
                return result
            time.sleep(interval)
