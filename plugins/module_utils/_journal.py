# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The journal of a data-root move: the marker file beside the target.  Internal to dockyard.migrate.

The marker, ``.BASENAME.dockyard-migrate.json`` in the directory that holds
the target, records what a run planned and did: the moves, the inventory that
must survive, the phase reached and the phases done, the image layers an
online pass settled, the texts of the files the switch changes as they were
before, and the backups made.  It lives on the target disk, so it travels
with the copy and survives a reboot.  This file is its only reader and writer.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import time

from ansible_collections.dockyard.migrate.plugins.module_utils import _local, _phases

VERSION = 1
# The phases of a run that stopped Docker and has not brought it back: a rerun continues from the plan it froze.
WINDOW_PHASES = _phases.WINDOW
# What an earlier run saved about the host's files; stale once a new move starts from a running Docker.
FRESH_START_DROPS = ("texts_before", "fstab_backup", "daemon_json_backup", "restore_texts", "copy_checked", "served",
                     "copied_back", "hidden_set_aside", "removing", "texts_after")


def marker_path(target):
    target = os.path.normpath(target)
    return os.path.join(os.path.dirname(target), ".%s.dockyard-migrate.json" % os.path.basename(target))


class Journal:
    """The marker of the move to TARGET.  ``data`` is None until loaded or started."""

    def __init__(self, target, check_mode=False, host=None):
        self.path = marker_path(target)
        self.check_mode = check_mode
        # Its reads and writes go through HOST (a _host.Host); without one, through this host's files.
        self.host = host if host is not None else _local.Files()
        self.data = None
        self.moves = []  # the forward moves, written with every save

    def load(self):
        try:
            data = json.loads(self.host.read_text(self.path))
        except (OSError, ValueError):
            data = None
        self.data = data if isinstance(data, dict) and data.get("version") == VERSION else None
        return self.data

    def start(self, now, method):
        self.data = {"version": VERSION, "started": now, "stamp": time.strftime("%Y%m%dT%H%M%S", time.localtime(now)),
                     "method": method, "phases_done": []}

    def fresh_start(self):
        """A new move from a running Docker: what an earlier, finished or rolled-back run saved no longer
        describes the host."""
        self.data["phases_done"] = []
        for key in FRESH_START_DROPS:
            self.data.pop(key, None)

    def __bool__(self):
        return bool(self.data)

    __nonzero__ = __bool__

    def get(self, key, default=None):
        return (self.data or {}).get(key, default)

    def __getitem__(self, key):
        return self.data[key]

    def __setitem__(self, key, value):
        self.data[key] = value

    @property
    def phase(self):
        return self.get("phase")

    @property
    def stamp(self):
        return self.data["stamp"]

    def recorded_moves(self):
        return self.get("moves") or []

    @property
    def in_window(self):
        """Whether the run that wrote this journal stopped Docker and did not finish nor roll back."""
        return self.phase in WINDOW_PHASES

    def save(self, **fields):
        if self.check_mode:
            return
        self.data.update(fields)
        self.data["updated"] = self.host.time()
        self.data["boot_id"] = self.host.boot_id()  # the boot "updated" belongs to (Host.started_since)
        self.data["moves"] = [m.to_dict() for m in self.moves]
        parent = os.path.dirname(self.path)
        if not self.host.isdir(parent):
            self.host.makedirs(parent, 0o711)
        self.host.write_file(self.path, json.dumps(self.data, indent=1, sort_keys=True) + "\n", mode=0o600)

    def try_save(self, **fields):
        """Save, tolerating a target disk that cannot take the write (it may be the failure being reported).
        Returns whether the journal was written."""
        try:
            self.save(**fields)
        except OSError:
            return False
        return True

    def discard(self):
        """Remove the marker (a full disk still takes an unlink); returns whether it is gone."""
        try:
            self.host.unlink(self.path)
        except OSError:
            return not self.host.exists(self.path)
        return True

    def since(self):
        """When this journal was last written, as Host.started_since takes it: the time and the boot."""
        return {"when": self.get("updated"), "boot_id": self.get("boot_id")}

    def done(self, phase):
        return phase in self.get("phases_done", [])

    def mark(self, phase):
        done = self.data.setdefault("phases_done", [])
        if phase not in done:
            done.append(phase)
        self.save(phase=phase)

    def keep_only_phases(self, *phases):
        return [p for p in self.get("phases_done", []) if p in phases]
