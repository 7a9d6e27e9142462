# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Removing the original a move kept, after a soak period (``state: cleaned``).  Internal to dockyard.migrate.

A move with ``keep_source`` leaves the original beside it as ``ROOT.dockyard-backup-STAMP`` and records it
in the marker.  Once the host has run from the new root long enough, that backup only takes space.  Before
anything is removed, every check must hold:

- the marker records a finished move (phase ``done``, a ``finished`` time) at least ``soak_days`` ago;
- Docker runs now, reports the moved root as its own, and every move's switch is applied (bind mounted and
  in fstab, or data-root in daemon.json);
- each backup is a backup this collection made (its name), is neither Docker's root nor contains nor lies
  inside any root in service or any target, and has nothing mounted under it (a removal would reach into
  another filesystem).

Otherwise nothing is touched and the refusal names the reason.  The removal is recorded in the marker
(``cleanup``) before it starts and when it ends; a run killed part way through passes the same checks when
run again and removes the rest.  Removing the backup ends the chance of ``state: restored``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _mountinfo, _preflight, _rollback, _run, _switches, _testhooks, _units)
from ansible_collections.dockyard.migrate.plugins.module_utils._move import inside

DAY = 86400
BACKUP_MARK = ".dockyard-backup-"


def soak_refusal(journal, soak_days, now, target):
    """Why the move to TARGET recorded in JOURNAL does not allow a cleanup yet, or None when it does."""
    phase = journal.get("phase")
    finished = journal.get("finished")
    if phase != "done" or not finished or not journal.done("source"):
        return ("the move to %s has not finished (the marker %s is in phase %s): only the original of a finished, "
                "verified move is removed" % (target, journal.path, phase))
    age = now - float(finished)
    need = float(soak_days) * DAY
    if age < need:
        return ("the host has run from the moved root for %.1f days (the move finished %s); soak_days=%s asks for "
                "%s days, so the original is kept until %s" % (
                    max(age, 0) / DAY, stamp(finished), fmt_days(soak_days), fmt_days(soak_days),
                    stamp(float(finished) + need)))
    return None


def serving_refusal(moves, engine, applied):
    """Why Docker is not serving from the moved root right now, or None.  APPLIED maps a move's name to
    whether its switch is in place."""
    if not engine.get("running"):
        return "Docker is not running, so it cannot be shown to serve from the moved root; start it and run again"
    docker = moves[0]
    reported = os.path.normpath(engine.get("docker_root_dir") or "")
    if reported != docker.service_root:
        return "Docker serves from %s, not from the moved root %s (%s -> %s)" % (
            reported, docker.service_root, docker.source, docker.target)
    for m in moves:
        if not applied.get(m.name):
            return "the %s switch of %s -> %s is not in place (%s), so the host does not run from %s" % (
                m.switch.kind, m.source, m.target,
                "the fstab bind line or the bind mount is missing" if m.switch.kind == "bind"
                else "daemon.json does not set data-root to it", m.target)
    return None


def backup_refusal(host, m, moves, reported_root, mounts):
    """Why the backup of move M may not be removed, or None."""
    return kept_refusal(host, m.backup, BACKUP_MARK, "the original", moves, reported_root, mounts)


def kept_refusal(host, path, mark, what, moves, reported_root, mounts):
    """Why PATH, a directory this collection kept (WHAT: the original, or a copy back's), whose name holds MARK,
    may not be removed, or None."""
    backup = os.path.normpath(path)
    if host.islink(backup) or not host.isdir(backup):
        return "%s %s is not a directory (a link or a file); it is not removed" % (what, backup)
    if mark not in os.path.basename(backup):
        return "%s is not a backup this collection made (no %s in its name); it is not removed" % (
            backup, mark.strip("."))
    live = set([os.path.normpath(reported_root)] if reported_root else [])
    for other in moves:
        live.update([other.service_root, other.target])
    for live_path in sorted(live):
        if os.path.dirname(backup) == os.path.normpath(live_path) and os.path.basename(backup).startswith(mark):
            continue  # at the top of a root that is a disk of its own (a copy back's there); Docker names none so
        if inside(live_path, backup) or inside(backup, live_path):
            return "%s %s overlaps %s, which Docker serves from; it is not removed" % (what, backup, live_path)
        try:
            if host.exists(live_path) and host.samefile(live_path, backup):
                return "%s %s is the same directory as %s, which Docker serves from" % (what, backup, live_path)
        except OSError:
            pass
    mounted = [e.mount_point for e in _mountinfo.mounts_under(mounts, backup)]
    if _mountinfo.mount_at(mounts, backup) is not None:
        mounted.insert(0, backup)
    if mounted:
        return "%s is mounted under %s %s; unmount it first (a removal would reach into it)" % (
            ", ".join(mounted[:3]), what, backup)
    return None


def stamp(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(t)))


def fmt_days(days):
    return ("%g" % float(days))


class Cleanup(_run.Operation):
    """``state: cleaned`` over CTX (a _run.Run): the checks, then the removal of the kept originals."""

    def __init__(self, ctx):
        super(Cleanup, self).__init__(ctx)
        self.fwd = []

    def _run(self):
        if not self.ctx.journal.load() or not self.ctx.journal.recorded_moves():
            _preflight.refuse("no record of a move to %s (%s is missing): there is no kept original to remove" % (
                self.ctx.opts.target, self.ctx.journal.path))
        self.fwd = [_switches.move_from_dict(d) for d in self.ctx.journal.recorded_moves()]
        self.ctx.journal.moves = self.fwd
        self.ctx.result["moves"] = [m.to_dict() for m in self.fwd]
        kept = [m for m in self.fwd if m.backup and self.ctx.host.lexists(m.backup)]
        # What rollbacks' copies back replaced or deleted on the root they went back to, kept beside it.
        copybacks = [p for p in self.ctx.journal.get("copybacks") or [] if self.ctx.host.lexists(p)]
        self.ctx.result["original"] = [{"name": m.name, "source": m.source, "removed": m not in kept and not m.disk,
                                        "backup": m.backup if m in kept else None} for m in self.fwd]
        for m in self.fwd:
            if m.disk:  # never wiped: the disk is left unmounted as it was, to reuse or wipe by hand
                self.ctx.result["original"][self.fwd.index(m)]["disk"] = m.disk["line"]
                self.ctx.actions.append("the original of %s is its own disk (%s), left unmounted as it was; it is not "
                                        "wiped" % (m.source, m.disk["line"]))
        if not kept and not copybacks:
            self.ctx.actions.append("no kept original left to remove")
            return self.ctx.result
        refusal = soak_refusal(self.ctx.journal, self.ctx.opts.soak_days, self.ctx.now, self.ctx.opts.target)
        if refusal:
            _preflight.refuse(refusal)
        facts = self.ctx.gather()
        mounts = self.ctx.host.mountinfo()
        applied = dict((m.name, m.switch.is_applied(m, self.ctx, mounts, facts["config"]["daemon_json"]))
                       for m in self.fwd)
        refusal = serving_refusal(self.fwd, facts["engine"], applied)
        for m in kept:
            refusal = refusal or backup_refusal(self.ctx.host, m, self.fwd, facts["engine"].get("docker_root_dir"), mounts)
        for path in copybacks:
            refusal = refusal or kept_refusal(self.ctx.host, path, _rollback.COPYBACK_MARK, "the copy back's directory",
                                              self.fwd, facts["engine"].get("docker_root_dir"), mounts)
        if refusal:
            _preflight.refuse(refusal)
        self.ctx.result["changed"] = True
        self.remove_copybacks(copybacks)
        for m in kept:
            size = self.ctx.host.measure(m.backup).bytes
            self.ctx.diff["before"][m.backup] = "kept original of %s (moved aside when Docker moved to %s)\n" % (
                m.source, m.target)
            self.ctx.diff["after"][m.backup] = ""
            if self.ctx.check_mode:
                self.ctx.actions.append("remove the kept original %s (%s)" % (m.backup, _units.human(size)))
                continue
            self.remove(m.backup, size)
            self.ctx.actions.append("removed the kept original %s (%s)" % (m.backup, _units.human(size)))
        if not self.ctx.check_mode and kept:
            self.ctx.result["original"] = [{"name": m.name, "source": m.source, "removed": True, "backup": None}
                                           for m in self.fwd]
        return self.ctx.result

    def remove(self, path, size, **record):
        """Remove PATH (SIZE bytes), noted in the journal's cleanup before it starts and once it is done (with
        RECORD): a run killed part way is known to have begun it."""
        cleanup = dict(self.ctx.journal.get("cleanup") or {})
        cleanup.setdefault("started", self.ctx.host.time())
        cleanup["removing"] = path
        self.ctx.journal.save(cleanup=cleanup)
        self.ctx.host.remove_tree(path, lambda: _testhooks.reached("during_cleanup"))
        cleanup.pop("removing", None)
        cleanup.setdefault("removed", []).append(path)
        cleanup["finished"] = self.ctx.host.time()
        self.ctx.journal.save(cleanup=cleanup, **record)
        self.ctx.result["freed_bytes"] = self.ctx.result.get("freed_bytes", 0) + size

    def remove_copybacks(self, paths):
        """Remove PATHS, the directories where copies back kept what they replaced or deleted (checked as the
        kept originals are), each noted in the journal before and after."""
        for path in paths:
            size = self.ctx.host.measure(path).bytes
            self.ctx.diff["before"][path] = "what a copy back replaced or deleted on the root it went back to\n"
            self.ctx.diff["after"][path] = ""
            if self.ctx.check_mode:
                self.ctx.actions.append("remove the copy back's directory %s (%s)" % (path, _units.human(size)))
                continue
            self.remove(path, size, copybacks=[p for p in self.ctx.journal.get("copybacks") or [] if p != path])
            self.ctx.result.setdefault("copyback_removed", []).append(path)
            self.ctx.actions.append("removed the copy back's directory %s (%s)" % (path, _units.human(size)))
