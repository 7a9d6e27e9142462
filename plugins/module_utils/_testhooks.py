# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test-only hooks: named points where the test suites can kill or pause a run.  Internal to dockyard.migrate.

Every hook is inert unless its environment variable is set; nothing else in
the collection reads these variables.

When the environment variable DOCKYARD_MIGRATE_FAILPOINT names a point, the
process kills itself with SIGKILL on reaching it, exactly as a crash or an
OOM kill would, leaving whatever was half done.  Unset (as in any normal run)
a point does nothing.  The suite sets it with a task's ``environment:``.

DOCKYARD_MIGRATE_PAUSE, a comma-separated list of points, makes the run wait
at each of them instead: it creates ``/run/dockyard-migrate/paused.POINT`` and
goes on once that file is removed (or after an hour).  The benchmarks and the
tests use it to change a host between two phases, as a busy host would.

DOCKYARD_MIGRATE_FAULT names a check that then fails as if it had found a
problem (``verify``: the verification after Docker started on the new root;
``switch``: the end of the switch, once it is applied and before Docker starts),
to drive the rollback from a state a real host reaches.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import signal
import time

from ansible_collections.dockyard.migrate.plugins.module_utils import _fileops

ENV = "DOCKYARD_MIGRATE_FAILPOINT"
PAUSE_ENV = "DOCKYARD_MIGRATE_PAUSE"
FAULT_ENV = "DOCKYARD_MIGRATE_FAULT"
PAUSE_DIR = "/run/dockyard-migrate"
PAUSE_LIMIT = 3600
_paused = set()
POINTS = ("after_record", "during_online_copy", "after_online_copy", "after_stop", "after_final_copy",
          "switch_after_dropin", "switch_after_fstab", "switch_after_move_aside", "switch_after_unmount",
          "after_switch", "after_start",
          "after_verify", "during_source")
# Inside the automatic rollback (Rollback.roll_back) and inside ``state: restored`` (Restore.restore).
ROLLBACK_POINTS = ("rollback_after_undo", "rollback_after_files")
RESTORE_POINTS = ("restore_after_stop", "restore_after_put_back", "restore_after_switch_back")
# Inside ``state: cleaned`` (Cleanup), after the first entry of a kept original was removed.
CLEANUP_POINTS = ("during_cleanup",)
# Inside image_store (_store_convert, _store_containers, _store_cleanup), in the order a conversion reaches them;
# store_during_images is reached once a MiB went to containerd, or back to classic once the kept images are tagged.
STORE_POINTS = ("store_after_record", "store_during_images", "store_after_stop", "store_after_switch",
                "store_during_containers", "store_before_start", "store_before_verify", "store_during_cleanup")


def reached(name):
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
    pauses = [p.strip() for p in os.environ.get(PAUSE_ENV, "").split(",")]
    if name in pauses and name not in _paused:
        _paused.add(name)
        pause(name)


def fails(name):
    """Whether the check NAME must fail (DOCKYARD_MIGRATE_FAULT names it)."""
    return os.environ.get(FAULT_ENV) == name


def pause(name, limit=PAUSE_LIMIT, pause_dir=PAUSE_DIR):
    if not os.path.isdir(pause_dir):
        os.makedirs(pause_dir, 0o755)
    flag = os.path.join(pause_dir, "paused." + name)
    _fileops.atomic_write(flag, "%d\n" % os.getpid(), mode=0o644)
    deadline = time.time() + limit
    while os.path.exists(flag) and time.time() < deadline:
        time.sleep(0.1)
