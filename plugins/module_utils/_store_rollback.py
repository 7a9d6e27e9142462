# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""An image store conversion's way back (_store_convert.Conversion's switch back, after a failure or a kill before
the new store's containers ran): Docker on the old store again, its containers as they were when Docker was
stopped for the window, running or held from starting with Docker.  Internal to dockyard.migrate."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.dockyard.migrate.plugins.module_utils import _daemon_json, _docker_api, _store_plan, _stores
from ansible_collections.dockyard.migrate.plugins.module_utils._stores import StoreError


def restart_policy(root, cid):
    """The restart policy the container CID's hostconfig.json under Docker's ROOT gives (None when unread)."""
    try:
        with open(os.path.join(root, "containers", cid, "hostconfig.json")) as f:
            return json.load(f).get("RestartPolicy")
    except (OSError, ValueError, AttributeError):
        return None


class RollbackSteps:
    """Mixed into _store_convert.Conversion, whose client, host, journal, opts, result, root, save and start these
    steps use."""

    def running_at_stop(self, containers):
        """The IDs of the containers running now, Docker about to be stopped; each of CONTAINERS (the record) told
        whether it runs, so that both directions start the same set.  Containers made or removed since the record
        (while the images were carried) stop the run here, nothing switched: the rerun records them.  But one made
        since that Docker removes once it ends (``docker run --rm``, a job) is left to Docker's stop, as a restart
        of Docker would end it, as the plan leaves out those it found (_store_plan.auto_removed): it is recorded
        among the old store's (``sources``), so that its cleanup knows it, and named in ``ephemeral``."""
        now = dict((c["Id"], c) for c in self.client.get("/containers/json", params={"all": True}) or [])
        recorded = set(c["id"] for c in containers)
        known = recorded | set(((self.journal.get("sources") or {}).get(self.journal.get("source")) or {}).values())
        made = [self.inspect_or_none(i) for i in sorted(set(now) - known)]  # the plan's --rm ones are no news
        left = dict((_stores.container_name(c), c["Id"]) for c in made if c and _store_plan.auto_removed(c))
        made = sorted(c["Id"] for c in made if c and not _store_plan.auto_removed(c))
        gone = sorted(recorded - set(now))
        if made or gone:
            raise StoreError("containers were %s while the images were carried; nothing was switched: run again" % (
                "; ".join(what % _store_plan.short(ids) for what, ids in (
                    ("made (%s)", made), ("removed (%s)", gone)) if ids)), "images")
        if left:
            sources = dict(self.journal.get("sources") or {})
            sources[self.journal["source"]] = dict(sources.get(self.journal["source"]) or {}, **left)
            self.save(sources=sources)
            self.result["ephemeral"] = sorted(set(self.result.get("ephemeral") or ()) | set(left))
            self.result["actions"].append("left out %d containers that Docker removes once they end, made while the "
                                          "images were carried: %s" % (len(left), ", ".join(sorted(left))))
        for c in containers:
            c["running"] = now[c["id"]].get("State") in ("running", "paused", "restarting")  # State.Running
        return sorted(c["id"] for c in containers if c["running"])

    def not_running(self, containers):
        """Those of CONTAINERS (records of the old store's) that do not run now; one Docker does not know any more
        (removed since) is named in ``not_started``, never a reason to stop starting the others."""
        todo = []
        for c in containers:
            now = self.inspect_or_none(c["id"])
            if now is None:
                self.result.setdefault("not_started", []).append(c["name"])
            elif not (now.get("State") or {}).get("Running"):
                todo.append(c)
        return todo

    def inspect_or_none(self, cid):
        """The container CID's inspect; None when it is gone."""
        try:
            return self.client.get("/containers/%s/json" % cid)
        except _docker_api.DockerAPIError as exc:
            if exc.status != 404:
                raise
            return None

    def mask_window(self):
        """Docker's window units masked, the ones this run masks journalled first (a kill between leaves no unit
        masked that the journal does not name; unmasking one that is not is harmless); a unit masked before is
        left to whoever masked it."""
        masked = list(self.journal.get("masked") or [])
        todo = [u for u in self.host.window_units() if not self.host.masked(u)]  # a boot took this run's away
        self.save(masked=masked + [u for u in todo if u not in masked])
        self.host.mask(todo)

    def ran(self):
        """The IDs of the old store's containers that ran when Docker was stopped for the window (recorded then);
        those recorded running, for a journal of an older version."""
        if self.journal.get("ran") is not None:
            return set(self.journal["ran"])
        return set(c["id"] for c in self.journal.get("containers") or [] if c.get("running"))

    def serving_source(self, text_before):
        """Whether Docker answers on the store the conversion came from with daemon.json as it was (a run killed
        before it stopped Docker)."""
        if not self.journal.get("source") or self.journal.get("stopping") is not False:
            return False  # Docker was stopped (and may have been started since: its containers are not all back)
        try:
            if _daemon_json.load(self.opts["daemon_json"])[1] != text_before or not self.client.ping():
                return False
            info = self.client.info()
        except (_docker_api.DockerError, _daemon_json.DaemonJsonError):
            return False
        return self.journal["source"] in (_stores.kind_of(info), _stores.store_of(info))

    def hold_stopped(self, ran):
        """Docker stopped: the recorded containers that did not run (not in RAN) and have a restart policy are kept
        from starting with Docker on the old store (policy ``no`` in their hostconfig.json; Docker starts a stopped
        ``always`` one at each of its starts).  The policy the host shows is journalled first (``held``; one held
        already keeps its entry): a kill before release_stopped is healed by the rerun's switch back."""
        held = dict(self.journal.get("held") or {})
        for c in self.journal.get("containers") or []:
            policy = restart_policy(self.docker_root(), c["id"]) if c["id"] not in ran else None
            if (policy or {}).get("Name") not in (None, "", "no"):
                held.setdefault(c["id"], policy)
        self.save(held=held)
        for cid in sorted(held):
            _stores.disarm(self.docker_root(), cid)

    def docker_root(self):
        """Docker's root as the conversion recorded it (the engine's), else as daemon.json says."""
        return self.journal.get("root") or self.root

    def container_dir(self, cid):
        """The directory of the container CID (either store's) under Docker's recorded root."""
        return os.path.join(self.docker_root(), "containers", cid)

    def release_stopped(self):
        """The containers hold_stopped held given their restart policy back, Docker running.  One the engine does
        not know while its directory is there (Docker did not load it) is named in the result with its policy, to
        give back by hand, and stays in the journal; one removed since has nothing to give back."""
        left = {}
        for cid, policy in sorted((self.journal.get("held") or {}).items()):
            try:
                self.client.post("/containers/%s/update" % cid, body={"RestartPolicy": policy})
            except _docker_api.DockerAPIError as exc:
                if exc.status != 404:
                    raise  # held until a rerun gives it back
                if os.path.isdir(self.container_dir(cid)):
                    left[cid] = policy
        if left:
            self.result["not_released"] = dict((cid, p.get("Name")) for cid, p in left.items())
            self.result["actions"].append("could not give back the restart policy of %s (Docker does not know them): "
                                          "docker update --restart <policy> once it does" % ", ".join(
                                              "%s (%s)" % (cid[:12], p.get("Name")) for cid, p in sorted(left.items())))
        self.save(held=left)

    def roll_back(self, text_before, exc):
        """Docker back on the old store, where nothing was written: daemon.json as it was, Docker started, the
        containers that ran started again, and only those (the stopped ones kept from starting with Docker).  One
        that does not start is named (``not_started``) and the others are started; the switch back is recorded
        done, and then this run fails, so that no conversion goes on from a host missing one of them: once it is
        started by hand, the next run records the host as it is."""
        failed = []
        try:
            if self.serving_source(text_before):  # killed before the stop: nothing to put back but the masks
                self.host.unmask(self.journal.get("masked") or [])
                self.release_stopped()
                self.save(phase="rolled_back", error=str(exc), masked=[])
                self.result["rolled_back"] = True
                return
            self.mask_window()
            self.save(stopping=True)
            self.host.stop_docker()
            ran = self.ran()
            self.hold_stopped(ran)
            self.host.write_file(self.opts["daemon_json"], text_before, config=True)
            self.start()
            info = self.client.info()
            if self.journal.get("source") not in (None, _stores.kind_of(info), _stores.store_of(info)):
                raise StoreError("Docker started on the %s store, not the %s store it ran" % (
                    _stores.store_of(info), self.journal["source"]), "rollback")
            self.release_stopped()  # Docker has started what it starts by itself: a start failing below loses none
            todo = self.not_running([c for c in self.journal.get("containers") or [] if c["id"] in ran])
            for wave in _stores.start_waves(todo):  # one that joins another's namespaces after that one
                for c in wave:
                    try:
                        self.client.post("/containers/%s/start" % c["id"])
                    except _docker_api.DockerAPIError as start_exc:  # named; the others still started
                        failed.append("%s (%s)" % (c["name"], start_exc))
            self.result.setdefault("not_started", []).extend(failed)
            self.save(phase="rolled_back", error=str(exc), masked=[])
            self.result["rolled_back"] = True
        except Exception as rb_exc:  # the message says both
            self.result["rolled_back"] = False
            raise StoreError("%s; and switching back failed too: %s" % (exc, rb_exc), "rollback")
        if failed:
            raise StoreError("%s; switched back to the %s store, but containers that ran did not start: %s. Start "
                             "them by hand, then run again" % (exc, self.journal.get("source") or "old", "; ".join(failed)),
                             "rollback")
