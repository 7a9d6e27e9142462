# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Named points where the reliability suite can kill a run.  Internal to dockyard.migrate.

When the environment variable DOCKYARD_MIGRATE_FAILPOINT names a point, the
process kills itself with SIGKILL on reaching it, exactly as a crash or an
OOM kill would, leaving whatever was half done.  Unset (as in any normal run)
a point does nothing.  The suite sets it with a task's ``environment:``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import signal

ENV = "DOCKYARD_MIGRATE_FAILPOINT"
POINTS = ("after_record", "during_online_copy", "after_online_copy", "after_stop", "after_final_copy",
          "switch_after_dropin", "switch_after_fstab", "switch_after_move_aside", "after_switch", "after_start",
          "after_verify", "during_source")


def reached(name):
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
