# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checking that a moved (or restored) root serves everything it served before.  Internal to dockyard.migrate.

A collaborator of the relocation (_transaction.Relocation), the restore and the
rollback: Docker's own
report of its root, and the inventory recorded before the stop compared with
Docker's now, once the containers that ran before run again.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.dockyard.migrate.plugins.module_utils import _docker_api, _inventory
from ansible_collections.dockyard.migrate.plugins.module_utils._move import RelocationError


def comparable(inv, drop):
    """INV without the containers named in DROP (fingerprint recomputed)."""
    out = dict(inv)
    out["containers"] = [c for c in inv["containers"] if c["name"] not in drop]
    out["running"] = [n for n in inv["running"] if n not in drop]
    out["fingerprint"] = _inventory.fingerprint(out)
    return out


class Verification:
    """The checks of CTX (a _run.Run) against Docker, through its client.  ``not_running`` names the containers
    that ran before and, once settled, do not run although their data is there."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.not_running = []

    def record_inventory(self, again=False):
        inv = _inventory.collect(self.ctx.client)
        if again and inv["fingerprint"] == self.ctx.journal["inventory"]["fingerprint"]:
            return None
        self.ctx.journal["inventory"] = inv
        self.ctx.result["fingerprint_before"] = inv["fingerprint"]
        self.ctx.actions.append("%s %d images, %d containers (%d running) and %d volumes" % (
            "recorded the inventory again before the stop, as it changed during the copy:" if again else "recorded",
            len(inv["images"]), len(inv["containers"]), len(inv["running"]), len(inv["volumes"])))
        return inv

    def settle(self, before):
        """Wait for the containers that ran before to run again, starting once each one that does not come back
        by itself (no restart policy, or a start at Docker's own restore that failed).

        Returns (inventory, problems, started); problems is empty when the data matches ``before`` (images, tags,
        containers, volumes).  A container that ran before and is not running at the end although it is there is
        no problem of the data: it is named in ``self.not_running``.
        """
        deadline = self.ctx.host.time() + self.ctx.opts.verify_timeout
        started = []
        tried = {}
        self.not_running = []
        while True:
            inv = _inventory.collect(self.ctx.client)
            new, removed = self.made_or_removed(before, inv)
            for c in inv["containers"]:
                if c["name"] in before["running"] and not c["running"] and c["state"] != "restarting" and \
                        c["name"] not in tried:
                    tried[c["name"]] = self.ctx.host.time()
                    try:
                        self.ctx.client.post("/containers/%s/start" % c["id"])
                        started.append(c["name"])
                    except _docker_api.DockerAPIError:
                        pass
            b, a = comparable(before, removed), comparable(inv, new)
            problems = _inventory.compare(dict(b, running=[]), dict(a, running=[]))
            if a["fingerprint"] != b["fingerprint"] and not problems:
                problems = ["the inventory fingerprint changed"]
            down = [n for n in b["running"] if n not in a["running"]]
            if problems and self.ctx.host.time() > deadline:
                return inv, problems, started
            if not problems and (not down or self.ctx.host.time() > deadline or self.given_up(inv, down, tried)):
                self.not_running = down
                return inv, [], [n for n in started if n not in down]
            self.ctx.host.sleep(0.25)

    def given_up(self, inv, down, tried, grace=5.0):
        """Every container still down was started once at least GRACE seconds ago and is not being restarted by
        Docker: waiting longer would not bring it back."""
        states = dict((c["name"], c["state"]) for c in inv["containers"])
        now = self.ctx.host.time()
        return all(n in tried and now - tried[n] >= grace and states.get(n) != "restarting" for n in down)

    def made_or_removed(self, before, inv):
        """Containers made since the inventory was recorded, and those removed since Docker started on the
        new root (as its events tell), are no sign of a bad move: they are reported, not compared."""
        names_before = set(c["name"] for c in before["containers"])
        names_now = set(c["name"] for c in inv["containers"])
        new = sorted(names_now - names_before)
        gone = names_before - names_now
        if gone - set(self.ctx.apart["removed"]):
            self.ctx.apart["removed"] = sorted(set(self.ctx.apart["removed"]) | (gone & self.destroyed_since()))
        removed = sorted(gone & set(self.ctx.apart["removed"]))
        self.ctx.apart["new"] = sorted(set(self.ctx.apart["new"]) | set(new))
        return new, removed

    def destroyed_since(self):
        """Names of the containers removed since Docker started on the new root (its event log)."""
        if self.ctx.served_since is None:
            return set()
        names = set()
        try:
            with self.ctx.client.stream("GET", "/events", params={
                    "since": str(int(self.ctx.served_since) - 1), "until": str(int(self.ctx.host.time()) + 1),
                    "filters": json.dumps({"type": ["container"], "event": ["destroy"]})}, timeout=15) as resp:
                for ev in resp.iter_json_lines():
                    name = ((ev.get("Actor") or {}).get("Attributes") or {}).get("name")
                    if name:
                        names.add(name)
        except (_docker_api.DockerError, ValueError, OSError):
            pass
        return names

    def check_root(self, want, phase=None):
        info = self.ctx.client.info()
        if os.path.normpath(info.get("DockerRootDir") or "") != want:
            raise RelocationError("Docker reports its root as %s, expected %s" % (info.get("DockerRootDir"), want),
                                  phase)

    def verified(self, root, phase=None, problem="the inventory after the move differs"):
        """The inventory recorded before matches Docker's now; returns the inventory."""
        inv, problems, started = self.settle(self.ctx.journal["inventory"])
        if started:
            self.ctx.actions.append("started %s, which ran before and did not run again by themselves" %
                                    ", ".join(started))
        if self.not_running:
            self.ctx.result["containers_not_running"] = list(self.not_running)
            note = ("%s ran before and %s not running now, although %s data is there (started once, it did not "
                    "stay up): see docker logs and docker inspect; the move is not undone for it" % (
                        ", ".join(self.not_running), "is" if len(self.not_running) == 1 else "are",
                        "its" if len(self.not_running) == 1 else "their"))
            self.ctx.actions.append("not running: " + note)
            self.ctx.result.setdefault("warnings", []).append(note)
        self.ctx.result["fingerprint_after"] = inv["fingerprint"]
        if self.ctx.apart["new"] or self.ctx.apart["removed"]:
            self.ctx.result["containers_changed"] = dict(self.ctx.apart)
            apart = self.ctx.apart
            self.ctx.actions.append("not compared: containers made after the inventory was recorded (%s) or removed "
                                    "since Docker started (%s)" % (", ".join(apart["new"]) or "none",
                                                                   ", ".join(apart["removed"]) or "none"))
        if problems:
            raise RelocationError("%s: %s" % (problem, "; ".join(problems[:10])), phase)
        self.ctx.actions.append("verified: root %s, %d images, %d containers (%d running), %d volumes" % (
            root, len(inv["images"]), len(inv["containers"]), len(inv["running"]), len(inv["volumes"])))
        return inv
