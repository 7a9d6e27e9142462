# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import stat

from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.module_utils.six import string_types
from ansible.plugins.action import ActionBase

from ansible_collections.dockyard.migrate.plugins.module_utils import _fileops
from ansible_collections.dockyard.migrate.plugins.module_utils._common import builtin_kind

DIFF_LIMIT = 1 << 20


class ActionModule(ActionBase):
    """Write a report (text) to a file on the controller, atomically, in the controller's own process: no module
    runs, where ansible.builtin.copy delegated to localhost runs two."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("dest", "content", "mode"))
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        try:
            dest, data, mode = self._inputs()
            result.update(self._write(dest, data, mode))
        except ValueError as exc:
            result.update(failed=True, changed=False, msg=str(exc))
        return result

    def _inputs(self):
        args = self._task.args
        dest, content, mode = args.get("dest"), args.get("content"), args.get("mode", "0644")
        if not isinstance(dest, string_types) or not dest.strip():
            raise ValueError("dest must be the path of the report on the controller, got %r" % (dest,))
        if not isinstance(content, string_types):
            raise ValueError("content must be a string (the report's text), got %s" % builtin_kind(content))
        if isinstance(mode, int) and not isinstance(mode, bool):
            mode = "%04o" % mode  # YAML's 0644 arrives as the number 420
        if not isinstance(mode, string_types) or not re.match(r"^0?[0-7]{3}$", mode):
            raise ValueError("mode must be octal permissions such as '0644', got %r" % (mode,))
        dest = os.path.abspath(os.path.expanduser(dest))
        parent = os.path.dirname(dest)
        if not os.path.isdir(parent):
            raise ValueError("the directory for the report does not exist on the controller: %s" % parent)
        if os.path.isdir(dest):
            raise ValueError("dest is a directory on the controller: %s" % dest)
        if os.path.lexists(dest) and not (os.path.islink(dest) or stat.S_ISREG(os.stat(dest).st_mode)):
            raise ValueError("dest exists on the controller and is not a regular file: %s" % dest)
        return dest, to_bytes(content, errors="surrogate_or_strict"), int(mode, 8)

    def _write(self, dest, data, mode):
        before = None
        try:
            st = os.lstat(dest)
        except OSError:
            st = None
        if st is not None and stat.S_ISREG(st.st_mode):  # a link is replaced, never read through
            try:
                with open(dest, "rb") as f:
                    before = f.read()
            except (IOError, OSError) as exc:
                raise ValueError("the report at %s could not be read: %s" % (dest, exc))
        changed = before != data or st is None or not stat.S_ISREG(st.st_mode) or stat.S_IMODE(st.st_mode) != mode
        out = {"changed": changed, "dest": dest, "size": len(data)}
        if self._task.diff or self._play_context.diff:
            if max(len(data), len(before or b"")) <= DIFF_LIMIT:
                out["diff"] = {"before_header": dest, "after_header": dest,
                               "before": to_text(before or b"", errors="surrogate_or_replace"),
                               "after": to_text(data, errors="surrogate_or_replace")}
        if changed and not self._play_context.check_mode:
            _atomic_write(dest, data, mode)
        return out


def _atomic_write(dest, data, mode):
    """The collection's atomic writer: a file beside DEST, flushed, renamed over it, the directory synced; an
    existing report's owner and group are kept.  A reader sees the old report or the new."""
    try:
        _fileops.atomic_write(dest, data, mode=mode, keep_mode=False)
    except (IOError, OSError) as exc:
        raise ValueError("the report could not be written to %s: %s" % (dest, exc))
