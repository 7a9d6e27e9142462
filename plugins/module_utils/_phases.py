# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The phases of data_root, in one ordered list.  Internal to dockyard.migrate.

Every phase a run records in the journal, in the order runs go through them:
the move's (the transaction walks them), the rollback, and the restore's.
``window`` marks a phase with Docker held stopped by the run (a rerun
continues the plan the run froze, or rolls its window back); ``undo`` a phase
whose failure is rolled back.  The journal's window set and the restore's are
derived from this list.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import namedtuple

Phase = namedtuple("Phase", ["name", "op", "window", "undo"])

PHASES = (
    Phase("preflight", "move", window=False, undo=False),
    Phase("record", "move", window=False, undo=False),
    Phase("online_copy", "move", window=False, undo=False),
    Phase("stop", "move", window=True, undo=True),
    Phase("final_copy", "move", window=True, undo=True),
    Phase("switch", "move", window=True, undo=True),
    Phase("start", "move", window=True, undo=True),
    Phase("verify", "move", window=True, undo=True),
    Phase("source", "move", window=True, undo=False),
    Phase("rollback", "rollback", window=True, undo=False),
    Phase("restore_record", "restore", window=False, undo=False),
    Phase("restore_stop", "restore", window=True, undo=True),
    Phase("restore_final_copy", "restore", window=True, undo=True),
    Phase("restore_switch", "restore", window=True, undo=True),
    Phase("restore_start", "restore", window=True, undo=True),
    Phase("restore_reapply", "restore", window=True, undo=False),
)


def of(op):
    return tuple(p for p in PHASES if p.op == op)


# A run that stopped Docker and has not brought it back, as its journal tells: a move's or its rollback's...
WINDOW = tuple(p.name for p in PHASES if p.window and p.op != "restore")
# ...or a restore's: from restore_switch on the originals hold everything (the delta was copied back while
# Docker was stopped).
RESTORE_WINDOW = tuple(p.name for p in of("restore") if p.window)
