# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Converting a host from one Docker image store to the other, its containers kept (``image_store``).  Internal to
dockyard.migrate.

1. record: every container's inspect, its changes (GET /containers/{id}/changes) and its writable layer's path in
   the store Docker runs now; which ran.
2. images: from classic to containerd, every tagged image is streamed (``docker save``, no archive on disk) into
   containerd's ``moby`` namespace while Docker still runs; the other way, after the switch, from containerd's
   export into ``docker load``.
3. window: Docker's units masked and stopped, daemon.json's ``features.containerd-snapshotter`` switched (written
   atomically), Docker started and checked to run the new store.
4. containers: each recreated under its name with its configuration (_container_spec), not started; its writable
   layer copied from the old store's upper directory into the new one's (rsync, whiteouts and xattrs kept, the
   overlay xattrs that point into the old store dropped); then the ones that ran are started.
5. verify: every tag present, every container there with the same configuration and the same changes, the same
   running set.

The old store is never written to: a failure switches daemon.json back and starts Docker on it, where everything is
as it was.  The journal (beside Docker's root) records what the run made in the new store, so that a rerun after a
kill finds its own containers again; a container of the new store the journal does not name is never touched.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import tempfile

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _container_spec, _daemon_json, _fileops, _image_archive, _stores, _testhooks)
from ansible_collections.dockyard.migrate.plugins.module_utils._stores import StoreError

DEFAULT_ROOT = "/var/lib/docker"
# The phases in which a kill leaves Docker stopped, switched, or its containers half made.
WINDOW = ("stop", "switch", "containers", "start", "verify")
RSYNC = ["rsync", "-aHAXS", "--numeric-ids", "--delete"] + ["--filter=-x %s" % x for x in _stores.OVERLAY_XATTRS]


def journal_path(root):
    """The conversion's journal: beside Docker's root (``/var/lib/.docker.dockyard-image-store.json``)."""
    root = os.path.normpath(root)
    return os.path.join(os.path.dirname(root), ".%s.dockyard-image-store.json" % os.path.basename(root))


class Conversion:
    """A conversion to OPTS.store on a host: CLIENT (_docker_api.DockerClient), HOST (_systemd.Systemd: units, files,
    commands), RUNNER (argv -> rc, out, err)."""

    def __init__(self, client, host, runner, opts, check_mode=False):
        self.client = client
        self.host = host
        self.runner = runner
        self.opts = opts
        self.check_mode = check_mode
        self.result = {"changed": False, "actions": []}
        self.journal = {}
        self.jpath = None
        self.socket = None

    # ------------------------------------------------------------ the host as it is
    def facts(self):
        info = self.client.info()
        version = self.client.version()
        data, text, _exists = _daemon_json.load(self.opts["daemon_json"])
        return info, version, data, text

    def save(self, **fields):
        self.journal.update(fields)
        _fileops.atomic_write(self.jpath, json.dumps(self.journal, indent=1, sort_keys=True) + "\n", mode=0o600)

    def run(self):
        target = self.opts["store"]
        data, _text, _exists = _daemon_json.load(self.opts["daemon_json"])
        self.jpath = journal_path(_daemon_json.data_root(data) or DEFAULT_ROOT)
        self.journal = json.loads(_fileops.read_text(self.jpath, default="") or "{}")
        if self.journal.get("phase") in WINDOW:
            if self.check_mode:
                self.result.update(changed=True, store=target)
                self.result["actions"].append("finish the conversion interrupted in phase %s" % self.journal["phase"])
                return self.result
            if self.resume():
                return self.result
        info, version, data, text = self.facts()
        source = _stores.store_of(info)
        self.result.update(store_before=source, store=target)
        if source == target and _stores.configured_store(data) in ((target, None) if target == "classic" else (target,)):
            self.result["store_after"] = source
            return self.result
        problems = _stores.refusals(info, version, data, target, self.opts.get("allow_swarm"))
        self.socket = _stores.containerd_socket()
        if self.socket is None:
            problems.append("containerd's socket is not found (%s): containerd's image store needs it" % (
                ", ".join(_stores.CONTAINERD_SOCKETS)))
        if source == target:  # daemon.json says otherwise than the engine runs: a restart would switch it
            problems.append("Docker runs the %s store but daemon.json asks for the other; restart Docker or fix "
                            "daemon.json first" % source)
        plan = self.plan(info.get("DockerRootDir") or DEFAULT_ROOT, source, target)
        problems += plan.pop("problems")
        if problems:
            raise StoreError("; ".join(problems), "preflight")
        after = _daemon_json.render(_stores.with_store(data, target))
        self.result.update(changed=True, images=plan["tags"], containers=[c["name"] for c in plan["containers"]],
                           not_carried=plan["untagged_unused"],
                           diff={"before": text, "after": after, "before_header": self.opts["daemon_json"],
                                 "after_header": self.opts["daemon_json"]})
        if self.check_mode:
            return self.result
        self.convert(plan, source, target, text, after)
        return self.result

    def resume(self):
        """A run killed inside its window.  Until the new store's containers were started nothing ran on them: the
        window is rolled back (daemon.json as it was, Docker started on the old store, untouched) and the
        conversion starts over (False).  From then on they may have written: the conversion is finished forward
        (True)."""
        phase = self.journal["phase"]
        self.result["changed"] = True
        self.socket = _stores.containerd_socket()
        if phase not in ("start", "verify"):
            self.roll_back(self.journal["daemon_json_before"],
                           "a conversion interrupted in phase %s" % phase)
            self.result["actions"].append("rolled back the conversion interrupted in phase %s" % phase)
            return False
        self.host.unmask(self.host.window_units())
        if not self.client.ping():
            self.start([])
        plan = {"tags": self.journal["tags"], "containers": self.journal["containers"]}
        self.save(phase="start")
        self.start_containers(plan["containers"])
        self.save(phase="verify")
        self.verify(plan)
        self.save(phase="done")
        self.result.update(store=self.journal["target"], store_after=self.journal["target"])
        self.result["actions"].append("finished the conversion interrupted in phase %s" % phase)
        return True

    def plan(self, root, source, target):
        """What the conversion carries, and what stands in its way."""
        containers = [self.client.get("/containers/%s/json" % c["Id"])
                      for c in self.client.get("/containers/json", params={"all": True})]
        images = self.client.get("/images/json")
        tags, untagged_used, untagged_unused = _stores.images_to_carry(images, containers)
        problems = []
        if untagged_used:
            problems.append("containers use images with no tag (%s), which cannot be carried by name: tag them "
                            "(docker tag) and run again" % ", ".join(i[:19] for i in untagged_used))
        ours = dict((c["name"], c.get("new_id")) for c in self.journal.get("containers") or [])
        hidden = _stores.hidden_containers(root, _stores.DRIVERS[target])
        left = (self.journal.get("sources") or {}).get(target) or {}  # the old containers of a conversion back
        foreign = sorted(n for n, cid in hidden.items() if n in [_stores.container_name(c) for c in containers]
                         and cid not in (ours.get(n), left.get(n)))
        if foreign:
            problems.append("the %s store already holds containers named %s, which this collection did not make; "
                            "remove or rename them there first" % (target, ", ".join(foreign)))
        recorded = []
        for c in containers:
            upper = self.upper(c, source)
            if not upper:
                problems.append("the writable layer of container %s cannot be found" % _stores.container_name(c))
            recorded.append({"name": _stores.container_name(c), "id": c["Id"], "inspect": c, "upper": upper,
                             "running": bool((c.get("State") or {}).get("Running")),
                             "changes": self.client.get("/containers/%s/changes" % c["Id"]) or []})
        return {"tags": tags, "untagged_unused": untagged_unused, "containers": recorded, "problems": problems,
                "hidden": hidden}

    def upper(self, inspect, store):
        if store == "classic":
            return _stores.classic_upper(inspect)
        rc, out, _err = self.runner(_stores.ctr_argv(self.socket or "", "snapshots", "--snapshotter",
                                                     _stores.DRIVERS["containerd"], "mounts",
                                                     "/nonexistent-dockyard", inspect["Id"]))
        return _stores.upper_from_mounts(out) if rc == 0 else None

    # ------------------------------------------------------------ the conversion
    def convert(self, plan, source, target, text_before, text_after):
        self.save(phase="record", source=source, target=target, daemon_json_before=text_before, tags=plan["tags"],
                  containers=plan["containers"], error=None,
                  sources=dict(self.journal.get("sources") or {}, **{
                      source: dict((c["name"], c["id"]) for c in plan["containers"])}))
        if target == "containerd":
            self.import_into_containerd(plan["tags"])
        self.save(phase="stop")
        units = self.host.mask(self.host.window_units())
        try:
            self.host.stop_docker()
            self.save(phase="switch")
            self.host.write_file(self.opts["daemon_json"], text_after, config=True)
            _testhooks.reached("store_after_switch")
            self.start(units)
            units = []
            if _stores.store_of(self.client.info()) != target:
                raise StoreError("Docker started on the %s store after the switch" % source, "switch")
            if target == "classic":
                self.export_from_containerd(plan["tags"])
            self.save(phase="containers")
            self.recreate(plan["containers"], plan["hidden"], target)
            self.save(phase="start")
            _testhooks.reached("store_before_start")
            self.start_containers(plan["containers"])
            self.save(phase="verify")
            self.verify(plan)
        except Exception as exc:
            if self.journal.get("phase") in ("start", "verify"):
                raise  # the new store's containers may have run: never thrown away by a switch back
            self.roll_back(text_before, exc)
            raise
        self.save(phase="done")
        self.result["store_after"] = target

    def start(self, units):
        self.host.unmask(units)
        self.host.start_docker()
        if not self.host.wait_docker(self.opts.get("timeout") or 60):
            raise StoreError("Docker did not answer after the switch", "start")

    def roll_back(self, text_before, exc):
        """Docker back on the old store, untouched: daemon.json as it was, Docker started."""
        try:
            self.host.mask(self.host.window_units())
            self.host.stop_docker()
            self.host.write_file(self.opts["daemon_json"], text_before, config=True)
            self.start(self.host.window_units())
            self.save(phase="rolled_back", error=str(exc))
            self.result["rolled_back"] = True
        except Exception as rb_exc:  # the message says both
            self.result["rolled_back"] = False
            raise StoreError("%s; and switching back failed too: %s" % (exc, rb_exc), "rollback")

    def import_into_containerd(self, tags):
        """Every tag streamed from the running classic store into containerd (no archive on disk)."""
        if not tags:
            return
        with tempfile.TemporaryFile() as log:
            proc = subprocess.Popen(_stores.ctr_argv(self.socket, "images", "import", "-"), stdin=subprocess.PIPE,
                                    stdout=log, stderr=log)
            try:
                with self.client.stream("GET", "/images/get", params={"names": tuple(tags)}) as resp:
                    for chunk in resp.iter_chunks():
                        proc.stdin.write(chunk)
            except (OSError, IOError) as exc:
                proc.kill()
                proc.wait()
                raise StoreError("streaming the images into containerd failed: %s" % exc, "images")
            finally:
                if not proc.stdin.closed:
                    proc.stdin.close()
            rc = proc.wait()
            log.seek(0)
            said = log.read().decode("utf-8", "replace").strip()
        if rc != 0:
            raise StoreError("ctr images import failed (rc=%d): %s" % (rc, said[-500:]), "images")
        self.result["actions"].append("imported %d tags into containerd's image store" % len(tags))

    def export_from_containerd(self, tags):
        """Every tag streamed from containerd into the classic store Docker runs now (docker load)."""
        if not tags:
            return
        proc = subprocess.Popen(_stores.ctr_argv(self.socket, "images", "export", "-") +
                                [_stores.full_name(t) for t in tags], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            _messages, error = _image_archive.post_load(self.client, proc.stdout)
        finally:
            proc.stdout.close()
            err = proc.stderr.read()
            proc.wait()
        if proc.returncode != 0 or error:
            raise StoreError("loading the images into the classic store failed: %s" % (
                error or err.decode("utf-8", "replace").strip()[-500:]), "images")
        self.result["actions"].append("loaded %d tags into the classic store" % len(tags))

    def recreate(self, containers, hidden, target):
        """Each container made again in the new store (an earlier run's, or the one the old store replaced there,
        removed first), its writable layer copied, and started when it ran."""
        mine = dict((c["name"], c.get("new_id")) for c in self.journal.get("containers") or [])
        for c in containers:
            old = mine.get(c["name"]) or hidden.get(c["name"])
            if old:
                self.client.delete("/containers/%s" % old, params={"force": True, "v": False})
            name, body = _container_spec.create_body(c["inspect"], c["inspect"]["Config"]["Image"],
                                                     api_version=self.client.api_version)
            new = self.client.post("/containers/create", params={"name": name}, body=body)["Id"]
            for path, connect in _container_spec.connect_bodies(c["inspect"], api_version=self.client.api_version):
                self.client.post(path, body=connect)
            c["new_id"] = new
            self.save(containers=containers)
            dest = self.upper(self.client.get("/containers/%s/json" % new), target)
            if not dest:
                raise StoreError("the writable layer of the new container %s cannot be found" % name, "containers")
            rc, out, err = self.runner(RSYNC + ["--", c["upper"].rstrip("/") + "/", dest.rstrip("/") + "/"])
            if rc != 0:
                raise StoreError("copying the writable layer of %s failed (rc=%d): %s" % (
                    name, rc, (err or out).strip()[-500:]), "containers")
        self.result["actions"].append("recreated %d containers in the %s store, their writable layers copied" % (
            len(containers), target))

    def start_containers(self, containers):
        """The containers that ran, started in the new store (one already running is left as it is)."""
        for c in containers:
            if c["running"] and not (self.client.get("/containers/%s/json" % c["new_id"]).get("State") or {}).get(
                    "Running"):
                self.client.post("/containers/%s/start" % c["new_id"])

    def verify(self, plan):
        have = set(t for i in self.client.get("/images/json") for t in (i.get("RepoTags") or []))
        missing = [t for t in plan["tags"] if t not in have]
        problems = ["tags missing: %s" % ", ".join(missing)] if missing else []
        for c in plan["containers"]:
            new = self.client.get("/containers/%s/json" % c["new_id"])
            diffs = _container_spec.differences(c["inspect"], new)
            if diffs:
                problems.append("container %s differs: %s" % (c["name"], "; ".join(diffs[:3])))
            differ = _stores.changes_differ(c["changes"], self.client.get("/containers/%s/changes" % c["new_id"]))
            if differ:
                problems.append("container %s: its writable layer differs (%s)" % (c["name"], ", ".join(differ[:5])))
            if c["running"] and not (new.get("State") or {}).get("Running"):
                problems.append("container %s ran and does not run now" % c["name"])
        if problems:
            raise StoreError("after the conversion: %s" % "; ".join(problems), "verify")
        self.result["actions"].append("verified: %d tags, %d containers (%d running)" % (
            len(plan["tags"]), len(plan["containers"]), sum(1 for c in plan["containers"] if c["running"])))
