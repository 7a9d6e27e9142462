# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A finished move whose host drifted since: daemon.json rewritten without data-root.  Internal to
dockyard.migrate.

A rerun of the same move (state: moved) finds the move done, Docker down (the drop-in's check refused a start on
another root) and the moved root whole: it sets data-root again and starts Docker there.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.dockyard.migrate.plugins.module_utils import _daemon_json, _switches, _systemd


def drifted(ctx, engine):
    """A finished daemon_json move to this path whose daemon.json was rewritten without data-root since (a
    configuration-management run templating the file), Docker down (its drop-in refused a start on another
    root), the moved root whole (its sentinel there), nothing at the default root (Docker did not run there
    since) and every other move of it (containerd's root) still switched: the host drifted from the state asked
    for, and only that."""
    recorded = [_switches.move_from_dict(d) for d in ctx.journal.recorded_moves()]
    if ctx.journal.phase != "done" or engine.get("running") or not recorded or \
            recorded[0].target != ctx.opts.target or recorded[0].switch.kind != "daemon_json":
        return False
    try:
        data = _switches.read_daemon_json(ctx.host, ctx.opts.daemon_json)[0]
    except (_daemon_json.DaemonJsonError, OSError, ValueError):
        return False
    docker = recorded[0]
    if ctx.host.isdir(docker.source) and ctx.host.listdir(docker.source):
        return False  # Docker ran on the default root since (the move set the original aside): never left behind
    mounts = ctx.host.mountinfo()
    return not _daemon_json.data_root(data) and \
        all(ctx.host.exists(os.path.join(m.target, _systemd.SENTINEL_NAME)) for m in recorded) and \
        all(m.switch.is_applied(m, ctx, mounts, data) for m in recorded[1:])


def repair(ctx, window, verification):
    """Set data-root again (merged into daemon.json as it is now, atomically) and start Docker on the moved
    root: what a rerun of the same move converges to."""
    ctx.moves = [_switches.move_from_dict(d) for d in ctx.journal.recorded_moves()]
    docker = ctx.moves[0]
    path = ctx.opts.daemon_json
    data, text, _exists = _switches.read_daemon_json(ctx.host, path)
    ctx.diff["before"][path] = text
    ctx.diff["after"][path] = _daemon_json.render(_daemon_json.with_data_root(data, docker.target))
    ctx.result.update(changed=True, moves=[m.to_dict() for m in ctx.moves])
    ctx.actions.append("%s no longer sets data-root to %s, where the move put Docker (the file was rewritten since; "
                       "the drop-in kept Docker from starting on another root): set it again and start Docker there" % (
                           path, docker.target))
    if ctx.check_mode:
        return ctx.result
    docker.switch.apply(docker, ctx)
    window.start_and_wait(ctx.moves, "Docker did not answer after starting on %s" % docker.target, "start")
    verification.check_root(docker.service_root, "verify")
    ctx.result["original"] = [m.original(ctx.host) for m in ctx.moves]
    return ctx.result
