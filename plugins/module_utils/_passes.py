# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The copy passes of a data-root move.  Internal to dockyard.migrate.

The first pass into an empty target is a tar pipe (rsync when a bandwidth limit is set); every later pass
is rsync.  Every copy command runs at the CPU and I/O priority the options ask for.
While Docker runs, passes repeat while each moves much less than the one
before; each records the image layers committed when it started (``settled``),
which later passes skip (see _layout.settled_layers and _copy).  The pass with
Docker stopped then has little left to do.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import abc

from ansible_collections.dockyard.migrate.plugins.module_utils import _copy, _local, _systemd, _units
from ansible_collections.dockyard.migrate.plugins.module_utils._move import RelocationError


def differences(src, dst, host=None):
    """The entries in which DST is not an exact copy of SRC (contents, types, links, owners, modes, ACLs,
    extended attributes, entries missing or extra), as rsync itemises them; empty when DST is complete.  The
    sentinel the switch writes into the copy is the one entry the original never holds."""
    compare = host.differences if host is not None else _copy.differences
    try:
        return compare(src, dst, ["/%s" % _systemd.SENTINEL_NAME])
    except _copy.CopyError as exc:
        raise RelocationError(str(exc), "switch")


class CopyEngine(abc.ABC):
    """How one pass copies a move's source onto its target.  ``copy`` returns the pass's statistics (its
    ``engine`` name, files and bytes transferred, seconds, rc, the command run) or raises _copy.CopyError."""

    name = None

    @abc.abstractmethod
    def copy(self, host, m, opts, status, phase, allow_vanished, skip, deadline):
        """One pass of move M on HOST at OPTS' priority; SKIP lists layer directories it need not walk (None:
        all); DEADLINE (a host.time() value, or None) cuts it short."""


class TarPipe(CopyEngine):
    """A first copy into an empty target: two tars joined by a kernel pipe (it walks everything; SKIP is
    ignored, as nothing is there to skip)."""

    name = "tar"

    def copy(self, host, m, opts, status, phase, allow_vanished, skip, deadline):
        stats = host.tar_copy(m.source, m.target, status=status, phase=phase, allow_changed=allow_vanished,
                              total_bytes=m.size, prefix=opts.priority_prefix, deadline=deadline)
        stats["files_transferred"] = m.files
        return stats


class Rsync(CopyEngine):
    """Every later pass, and every pass of a throttled move or with copy_engine rsync."""

    name = "rsync"

    def copy(self, host, m, opts, status, phase, allow_vanished, skip, deadline):
        return host.rsync(m.source, m.target, status=status, phase=phase, extra_args=opts.rsync_args,
                          allow_vanished=allow_vanished, total_bytes=m.size, skip=skip, prefix=opts.priority_prefix,
                          deadline=deadline)


class Passes:
    """Copies every move's source to its target on HOST (a _host.Host); statistics go to RESULT (the module's
    result).  DEADLINE is the host.time() at which the run's time_limit ends (None: no limit)."""

    def __init__(self, opts, moves, status, result, deadline=None, host=None):
        self.host = host if host is not None else _local.Files()
        self.opts = opts
        self.moves = moves
        self.status = status
        self.result = result
        self.deadline = deadline

    def committed_layers(self):
        """Per move, the image layers committed now (None for a layout without known-immutable layers)."""
        return dict((m.name, self.host.settled_layers(m.source)) for m in self.moves)

    def skips(self, settled):
        """What a pass may skip: the layers settled by an earlier pass that are still committed now."""
        if not settled:
            return {}
        out = {}
        for name, layers in self.committed_layers().items():
            if layers is not None and settled.get(name) is not None:
                out[name] = sorted(set(layers) & set(settled[name]))
        return out

    def engine(self, m):
        """The tar pipe for a first copy into an empty target (copy_engine auto), rsync otherwise.  A bandwidth
        limit holds every pass, so a throttled move makes its first copy with rsync too."""
        if self.opts.copy_engine == "auto" and not self.opts.throttled and self.host.is_empty_dir(m.target):
            return TarPipe()
        return Rsync()

    def copy_one(self, m, phase, allow_vanished, skip):
        # Only a pass while Docker runs is cut at the time limit; the window is never entered without the time
        # to finish it (Passes.check_time_left).
        deadline = self.deadline if phase == "online_copy" else None
        return self.engine(m).copy(self.host, m, self.opts, self.status, phase, allow_vanished, skip, deadline)

    def out_of_space(self, m, phase):
        fs = self.host.filesystem(m.target)
        need = self.host.measure(m.source).bytes
        have = self.host.measure(m.target).bytes
        return RelocationError(
            "the target disk %s (%s) filled up while copying %s: %s free, %s still to copy (short by about %s)" % (
                fs["mount_point"], fs["device"], m.source, _units.human(fs["free_bytes"]),
                _units.human(max(need - have, 0)), _units.human(max(need - have - (fs["free_bytes"] or 0), 0))),
            phase)

    def run(self, phase, allow_vanished, skips=None):
        """One pass over every move.  SKIPS maps a move's name to the layer directories the pass need not
        walk; a move without an entry gets a full pass.  Returns (seconds, bytes moved)."""
        total_files = total_bytes = 0
        seconds = 0.0
        for m in self.moves:
            if not self.host.isdir(m.target):
                self.host.makedirs(m.target, 0o711)
            elif self.host.isdir(m.source) and not self.host.listdir(m.source) and self.host.listdir(m.target):
                # An empty source is a stand-in (a mount point whose original went aside): a pass from it would
                # delete the copy.
                raise RelocationError("%s is empty while %s holds a copy: no pass is made from it (a pass would "
                                      "delete the copy)" % (m.source, m.target), phase)
            skip = (skips or {}).get(m.name)
            try:
                stats = self.copy_one(m, phase, allow_vanished, skip)
            except _copy.CopyError as exc:
                if "ran out of space" in str(exc):
                    raise self.out_of_space(m, phase)
                raise RelocationError(str(exc), phase)
            stats["walk"] = "mutable" if skip is not None else "full"
            total_files += stats.get("files_transferred", 0)
            total_bytes += stats.get("bytes_transferred", 0)
            seconds += stats["seconds"]
            self.result["passes"].append(dict(stats, phase=phase, move=m.name))
        self.result["bytes_copied"] += total_bytes
        self.result["files_copied"] += total_files
        return seconds, total_bytes

    def online_pass(self, settled):
        """One pass while Docker runs; returns (seconds, bytes, the layers this pass settled)."""
        committed = self.committed_layers()
        secs, moved = self.run("online_copy", True, self.skips(settled))
        return secs, moved, committed

    def online(self, actions):
        """The first pass copies everything; further passes walk only what can change and go on while each
        moves much less than the one before.  Returns the layers the last pass settled."""
        t0 = self.host.time()
        secs, moved, settled = self.online_pass(None)
        done = 1
        actions.append("copied while Docker ran (%.1f s)" % secs)
        while done < max(1, int(self.opts.online_passes)):
            if self.deadline is not None and self.host.time() + secs > self.deadline:
                break  # no time for another pass like the last one
            secs2, moved2, settled = self.online_pass(settled if self.opts.walk_mutable else None)
            done += 1
            actions.append("copied what changed meanwhile (pass %d, %s in %.1f s)" % (done, _units.human(moved2), secs2))
            if secs2 < 1.0 or moved2 == 0 or moved2 * 2 > moved:
                break  # nothing more to gain, or not converging: stop Docker now
            moved, secs = moved2, secs2
        # The copy sits in the page cache; written back now, while Docker runs, it does not hold up Docker's
        # stop and start (their fsyncs would wait behind gigabytes of writeback).
        flushed = sum(self.host.flush(m.target) for m in self.moves)
        actions.append("flushed the copy to disk (%.1f s)" % flushed)
        total = round(self.host.time() - t0, 3)
        self.result.update(flush_seconds=round(flushed, 3), online_copy_seconds=total, online_passes=done)
        self.result["phases"].append({"phase": "online_copy", "seconds": total})
        return settled

    def check_time_left(self):
        """The window is entered only when the time limit leaves room for all of it: the offline pass (at most
        the last online pass) and Docker's stop and start, up to their timeouts, and then a rollback (a copy back
        as long, Docker stopped and started again).  Otherwise the run ends here with Docker untouched; the copy
        is kept and a rerun continues it."""
        if self.deadline is None:
            return
        tail = []
        for p in reversed(self.result["passes"]):
            if p.get("phase") != "online_copy" or len(tail) == len(self.moves):
                break
            tail.append(p)
        if not tail:
            self.result.setdefault("warnings", []).append(
                "time_limit cannot be kept with two_phase=false: the whole copy runs while Docker is stopped, and "
                "nothing measured tells how long it takes")
            return
        last = sum(p.get("seconds", 0) for p in tail)
        # The offline pass (at most the last online pass; once more for the content check of keep_source=false),
        # the stop's waits (the units, then each root's mounts) and the start's (Docker, then its containers).
        copies = last * (1 if self.opts.keep_source else 2)
        waits = (len(self.moves) + 1) * self.opts.stop_timeout + 2 * self.opts.verify_timeout
        # A failure once Docker started on the new root rolls back inside the same limit: a copy back (a walk of
        # the tree, as the offline pass), Docker stopped and started again.  The caller's own limit (the role's
        # async) must never kill a rollback half way.
        rollback = last + waits
        need = copies + waits + rollback
        left = self.deadline - self.host.time()
        if left < need:
            raise RelocationError(
                "the time limit (time_limit %ss) leaves %.0f s, and the offline phase may take up to %.0f s with room "
                "for a rollback after it (%.0f s of copying after an online pass of %.0f s and a copy back as long, "
                "and Docker's stop and start, twice, allowed %.0f s each time by stop_timeout %ss and verify_timeout "
                "%ss): Docker was not stopped and nothing was switched. The copy at %s is kept: a rerun with more "
                "time continues from it" % (
                    self.opts.time_limit, max(left, 0), need, copies, last, waits, self.opts.stop_timeout,
                    self.opts.verify_timeout, self.moves[0].target), "stop", rolled_back=False)

    def offline(self, settled, actions):
        """The pass with Docker stopped, flushed to disk before the switch points Docker at it."""
        skips = self.skips(settled)
        secs, moved = self.run("final_copy", False, skips)
        secs += sum(self.host.flush(m.target) for m in self.moves)
        self.result["offline_copy_seconds"] = round(secs, 3)
        actions.append("copied the delta with Docker stopped (%s in %.1f s, %s)" % (
            _units.human(moved), secs, "skipping %d settled image layers" % sum(len(v) for v in skips.values())
            if skips else "full walk"))
        return secs
