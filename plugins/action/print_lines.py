# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.six import string_types
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.dockyard.migrate.plugins.module_utils._common import builtin_kind

display = Display()


class ActionModule(ActionBase):
    """Print lines of text (a table, a summary) as they are, not as a JSON-quoted list."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("lines",))
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        lines = self._task.args.get("lines")
        if isinstance(lines, string_types):
            lines = lines.splitlines()
        if not isinstance(lines, (list, tuple)):
            result.update(failed=True, msg="lines must be a list of strings or one string, got %s" % builtin_kind(lines))
            return result
        text = [to_text(line) if line is not None else "" for line in lines]
        display.display("\n".join(text))
        result.update(changed=False, lines=text)
        return result
