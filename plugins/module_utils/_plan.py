# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The planner of a data-root move: host facts and options in, the moves out.  Internal to dockyard.migrate.

Pure functions of their inputs, apart from reading the configuration files
whose texts they plan: what moves where (Docker's root, and containerd's when
images live in containerd's image store), with which switch, what the
switch's files will say, and the steps a run would take (check mode's plan).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _daemon_json, _fstab, _options, _switches, _systemd, _units)
from ansible_collections.dockyard.migrate.plugins.module_utils._move import Move


def plan_moves(opts, facts):
    """The moves for these options on a host with these facts (from _facts.gather).

    The root moved is the real directory behind the configured path (dockerd resolves symbolic links
    in it the same way), so a bind lands where Docker looks and the link stays as it was.
    """
    cfg = facts["config"]
    root = os.path.normpath(cfg.get("configured_real_root") or cfg["configured_root"])
    moves = [Move("docker", root, opts.target, _switches.make(opts.method), root)]
    ctd = facts["containerd"]
    if opts.containerd == "always" or (opts.containerd == "auto" and ctd["image_store"]):
        cpath = os.path.normpath(opts.containerd_path or os.path.join(os.path.dirname(opts.target), "containerd"))
        # containerd's root always moves by a bind mount: its config.toml is never edited.
        moves.append(Move("containerd", ctd["root"], cpath, _switches.make("bind"), ctd["root"]))
    return moves


def current_texts(host, opts, moves):
    """The texts, now, of every file a switch of these moves writes (a missing file reads as ""), read on HOST."""
    out = {opts.fstab: host.read_text(opts.fstab, default=""),
           opts.daemon_json: host.read_text(opts.daemon_json, default="")}
    for m in moves:
        d = _systemd.dropin_path(m.name)
        out[d] = host.read_text(d, default="")
    return out


def config_texts(host, opts, moves):
    """(before, after) of fstab, daemon.json and the drop-ins, as the switches would leave them."""
    before = current_texts(host, opts, moves)
    dj_data = _daemon_json.parse(before[opts.daemon_json], opts.daemon_json)
    planned = {"fstab": _fstab.parse(before[opts.fstab]), "daemon_json": dj_data}
    after = dict(before)
    for m in moves:
        m.switch.plan_texts(m, planned)
        after[_systemd.dropin_path(m.name)] = _systemd.dropin_for(m, opts.daemon_json)
    if planned.get("fstab_changed"):
        after[opts.fstab] = _fstab.render(planned["fstab"])
    if planned.get("daemon_json_changed"):
        after[opts.daemon_json] = _daemon_json.render(planned["daemon_json"])
    return before, after


def how_copies_run(opts):
    """A step saying how the copies are held back (bandwidth limit, priority), or None at full speed."""
    parts = []
    if opts.throttled:
        parts.append("at most %s per second (rsync --bwlimit), the first copy by rsync" % (
            _units.human(_options.bwlimit_kib(opts.bwlimit) * 1024) if _options.bwlimit_kib(opts.bwlimit)
            else opts.rsync_bwlimit.partition("=")[2]))
    prefix = opts.priority_prefix
    if prefix:
        parts.append("under %s" % " ".join(os.path.basename(a) if os.path.isabs(a) else a for a in prefix))
    return ("make every copy " + " and ".join(parts)) if parts else None


def describe(opts, moves, resuming):
    """What a run would do, in order: check mode's plan."""
    steps = []
    if not resuming:
        steps.append("record the inventory of images, containers and volumes")
        if opts.two_phase:
            steps += ["copy %s to %s while Docker runs" % (m.source, m.target) for m in moves]
        steps.append("stop docker.socket and docker.service" + (" and containerd.service" if len(moves) > 1 else ""))
        skipping = ", skipping settled image layers" if opts.walk_mutable and opts.two_phase else ""
        steps += ["copy what changed from %s to %s (rsync --delete%s)" % (m.source, m.target, skipping) for m in moves]
    for m in moves:
        steps += m.switch.describe(m, opts)
        steps.append("write %s (RequiresMountsFor=%s) and reload systemd" % (
            _systemd.dropin_path(m.name), m.service_root))
    steps.append("start Docker and verify the root, the inventory fingerprint and the running containers")
    held = how_copies_run(opts)
    if held and not resuming:
        steps.insert(1, held)
    steps.append("keep the original as a dated backup beside it" if opts.keep_source else
                 "remove the original once verified")
    return steps
