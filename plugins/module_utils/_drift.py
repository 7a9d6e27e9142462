# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A move whose host drifted since its switch: daemon.json rewritten without data-root (a configuration-management
run templating the file).  Internal to dockyard.migrate.

The drop-in the switch writes keeps Docker from starting on any other root, so Docker is down and the moved root
is the only one it can have written to since the switch.  A rerun of the same move (state: moved) sets data-root
again: a finished move starts Docker there; a move killed after its switch goes on from there (start, verify,
the original).  Walking such a window again from the stop would copy the older original over what Docker wrote
on the new root.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.dockyard.migrate.plugins.module_utils import _daemon_json, _phases, _plan, _switches, _systemd

# The phases of a journal whose moved root is in service and no window is open: a finished move, and a restore that
# failed and put the moved root back in service.
SERVING = ("done", "restore_record", "restore_failed")


def drifted(ctx, engine):
    """Whether the host drifted from a move to this path after its switch, and only that: Docker down, the move's
    drop-ins in place as it wrote them (Docker can have run on no other root since), every moved root whole (its
    sentinel there: a finished final copy, no copy pass since), and a switch no longer applied.

    A finished move (phase done, or a failed restore that put the moved root back in service) counts only for the
    daemon_json method with data-root gone or naming the original root again, and nothing at the original root
    (Docker did not run there since); another data-root is an operator's choice.  A move killed in its window
    after the switch counts whatever daemon.json says now: the rerun finishes that move."""
    recorded = [_switches.move_from_dict(d) for d in ctx.journal.recorded_moves()]
    if engine.get("running") or not recorded or recorded[0].target != ctx.opts.target:
        return False
    finished = ctx.journal.phase in SERVING
    in_window = ctx.journal.phase in [p.name for p in _phases.of("move") if p.window]  # not a rollback's
    if not (finished or (in_window and ctx.journal.done("final_copy"))):
        return False
    try:
        data = _switches.read_daemon_json(ctx.host, ctx.opts.daemon_json)[0]
    except (_daemon_json.DaemonJsonError, OSError, ValueError):
        return False
    docker = recorded[0]
    if any(not _systemd.same_dropin(ctx.host.dropin(m.name), _systemd.dropin_for(m, ctx.opts.daemon_json))
           or not ctx.host.exists(os.path.join(m.target, _systemd.SENTINEL_NAME)) for m in recorded):
        return False
    mounts = ctx.host.mountinfo()
    applied = [m.switch.is_applied(m, ctx, mounts, data) for m in recorded]
    if all(applied):
        return False
    if not finished:
        return True
    if docker.switch.kind != "daemon_json" or applied[0] is not False or not all(applied[1:]):
        return False
    if _daemon_json.data_root(data) and os.path.normpath(_daemon_json.data_root(data)) != docker.source:
        return False
    # Docker ran on the default root since (the move set the original aside): never left behind.
    return not (ctx.host.isdir(docker.source) and ctx.host.listdir(docker.source))


def repair(ctx, window, verification):
    """Apply again every switch of the recorded moves that the host no longer shows (data-root merged into
    daemon.json as it is now, atomically).  A finished move then starts Docker on the moved root and returns the
    result; a move killed in its window returns None: the rerun goes on with the host switched."""
    ctx.moves = [_switches.move_from_dict(d) for d in ctx.journal.recorded_moves()]
    ctx.journal.moves = ctx.moves  # written with every save: the record of the moves stays what it was
    docker = ctx.moves[0]
    path = ctx.opts.daemon_json
    data, text, _exists = _switches.read_daemon_json(ctx.host, path)
    mounts = ctx.host.mountinfo()
    undone = [m for m in ctx.moves if not m.switch.is_applied(m, ctx, mounts, data)]
    finished = ctx.journal.phase in SERVING
    if any(m.switch.kind == "daemon_json" for m in undone):
        ctx.diff["before"][path] = text
        ctx.diff["after"][path] = _daemon_json.render(_daemon_json.with_data_root(data, docker.target))
    ctx.result.update(changed=True, moves=[m.to_dict() for m in ctx.moves])
    goes_on = "start Docker there" if finished else "the interrupted move goes on from its switch"
    for m in undone:
        if m.switch.kind == "daemon_json":
            ctx.actions.append("%s no longer sets data-root to %s, where the move put Docker (the file was rewritten "
                               "since; the drop-in kept Docker from starting on another root, so it wrote only "
                               "there): set it again; %s" % (path, m.target, goes_on))
        else:
            ctx.actions.append("%s no longer binds %s over %s as the move left it (the drop-in kept Docker from "
                               "starting without it, so it wrote only there): bound again; %s" % (
                                   ctx.opts.fstab, m.target, m.mount_point, goes_on))
    if ctx.check_mode:
        return ctx.result
    for m in undone:
        m.switch.apply(m, ctx)
    ctx.host.daemon_reload()
    if not finished:
        # As the killed switch would have finished: the new roots labelled like the originals (a kill may have
        # come before), the files as the switch leaves them recorded for a later rollback.
        for m in ctx.moves:
            ctx.host.label_like(m.source, m.target)
        ctx.journal["texts_after"] = _plan.current_texts(ctx.host, ctx.opts, ctx.moves)
        ctx.journal.save()
        return None
    window.start_and_wait(ctx.moves, "Docker did not answer after starting on %s" % docker.target, "start")
    verification.check_root(docker.service_root, "verify")
    if ctx.journal.phase != "done":  # a failed restore's record: the moved root serves, as after a finished move
        ctx.journal.save(phase="done", finished=ctx.host.time())
    ctx.result["original"] = [m.original(ctx.host) for m in ctx.moves]
    return ctx.result
