# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The containers' part of an image store conversion (_store_convert.Conversion's steps 4 and 5): each container
made again in the new store with its writable layer copied, the ones that ran started, and the verification.
Internal to dockyard.migrate."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import json
import os
import threading

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _container_spec, _fileops, _docker_api, _layer_store, _store_plan, _stores, _testhooks, _vfs_layer)
from ansible_collections.dockyard.migrate.plugins.module_utils._stores import StoreError

CARRIERS = 4  # writable layers copied at once, while the next containers are made
COPY = ["-aHAXS", "--numeric-ids", "--delete"] + ["--filter=-x %s" % x for x in _stores.OVERLAY_XATTRS]


class Workers:
    """WORK(item) for every item added, WIDTH at a time, while the caller goes on (``with Workers(...) as w:
    w.add(item)``).  Once one fails no other begins, and the next add raises that failure; the first failure is
    raised in the calling thread once the others under way have ended: an exception, or anything else a thread
    ended with (a SystemExit from a module's fail_json, which a thread would otherwise swallow).  A block that
    raises ends the workers without beginning another item.  Every item added must have been worked, or the block's
    end raises."""

    def __init__(self, work, width, what):
        self.work, self.width, self.what = work, max(1, width), what
        self.queue, self.added, self.done, self.failed, self.closed = [], 0, 0, [], False
        self.cond = threading.Condition()
        self.threads = []

    def add(self, item):
        with self.cond:
            if self.failed:
                raise self.failed[0]
            self.queue.append(item)
            self.added += 1
            if len(self.threads) < self.width:
                thread = threading.Thread(target=self.worker)
                thread.start()
                self.threads.append(thread)  # only a thread that started is waited for
            self.cond.notify()

    def worker(self):
        while True:
            with self.cond:
                while not (self.queue or self.closed or self.failed):
                    self.cond.wait()
                if self.failed or not self.queue:
                    return
                item = self.queue.pop(0)
            try:
                self.work(item)
            except BaseException as exc:  # pylint: disable=broad-except  # raised in the calling thread
                with self.cond:
                    self.failed.append(exc)
                    self.cond.notify_all()
                return
            with self.cond:
                self.done += 1

    def __enter__(self):
        return self

    def __exit__(self, kind, _value, _tb):
        with self.cond:
            self.closed = True
            if kind is not None:
                del self.queue[:]
            self.cond.notify_all()
        for t in self.threads:
            t.join()
        if kind is None and self.failed:
            raise self.failed[0]
        if kind is None and self.done != self.added:
            raise StoreError("%s: %d of %d done" % (self.what, self.done, self.added), "containers")
        return False


def in_threads(items, work, width, what):
    """WORK(item) for every one of ITEMS, WIDTH at a time (Workers)."""
    with Workers(work, width, what) as workers:
        for item in items:
            workers.add(item)


EXIT_KEYS = ("ExitCode", "Error", "StartedAt", "FinishedAt", "OOMKilled")


def exit_state(old, new):
    """The config.v2.json NEW (a container made again, never started) with the state OLD (its old store's) shows
    once it ran and ended; None when there is none to give (OLD never ran, or runs; NEW ran since)."""
    state = old.get("State") or {}
    if not old.get("HasBeenStartedBefore") or any(state.get(k) for k in ("Running", "Paused", "Restarting")):
        return None
    if new.get("HasBeenStartedBefore") or (new.get("State") or {}).get("Running"):
        return None
    return dict(new, State=dict(new.get("State") or {}, **dict((k, state[k]) for k in EXIT_KEYS if k in state)),
                HasBeenStartedBefore=True, HasBeenManuallyStopped=bool(old.get("HasBeenManuallyStopped")),
                RestartCount=old.get("RestartCount") or 0)


def renamed_refs(containers):
    """{reference: what it becomes in the new store} for the references containers make to others (_stores.
    dependencies): a name stays the name, an ID or an ID's prefix becomes the new container's ID (once made)."""
    out = {}
    for c in containers:
        for ref in _stores.dependencies(c["inspect"]):
            dep = _stores.resolve(ref, containers)
            if dep is not None and ref == dep["name"]:
                out[ref] = ref
            elif dep is not None and dep.get("new_id"):
                out[ref] = dep["new_id"]
    return out


class ContainerSteps:
    """Mixed into _store_convert.Conversion, whose client, host, runner, journal, result, save, progress and upper
    these steps use."""

    def recreate(self, containers, hidden, target):
        """Each container made again in the new store (the one an earlier conversion or run left there under its
        name removed first, never its volumes), its writable layer copied and compared.  It is made with no
        restart policy, and given its own once its layer is whole: a boot in between never starts a container
        whose layer is half copied."""
        policies = []
        # The earlier ones go first, those that name others (a container: mode, volumes from) before those others.
        for c in reversed(containers):
            if hidden.get(c["name"]):
                try:
                    self.client.delete("/containers/%s" % hidden[c["name"]], params={"force": True, "v": False})
                except _docker_api.DockerAPIError as exc:  # gone already (a --rm one Docker removed at its start)
                    if exc.status != 404 or os.path.isdir(self.container_dir(hidden[c["name"]])):
                        raise  # one Docker did not load while its directory is there: never given a twin
        made = dict(self.journal.get("made") or {})
        if containers:
            self.about_to_make(made, target, containers[0])
            self.save(made=made)

        def carry(c):  # each layer copied (CARRIERS at a time) while the next containers are made
            self.carry(c, self.upper(self.client.get("/containers/%s/json" % c["new_id"]), target))
        with Workers(carry, CARRIERS, "copying the writable layers") as copy:
            for i, c in enumerate(containers):  # in order: each after the containers it names (_store_plan)
                self.progress("containers", percent=i * 90 // len(containers))
                policies.append(self.make(c, containers, target, made, (containers[i + 1:] or [None])[0]))
                copy.add(c)
        for new, policy in policies:
            if policy and policy.get("Name") not in (None, "", "no"):
                self.client.post("/containers/%s/update" % new, body={"RestartPolicy": policy})
        self.result["actions"].append("recreated %d containers in the %s store, their writable layers copied" % (
            len(containers), target))

    def about_to_make(self, made, target, c):
        """C recorded in MADE (the journal's) as about to be made now: one a kill leaves unrecorded is known by its
        creation time, after this (_store_plan.made_here)."""
        made.setdefault(target, {})[c["name"]] = {"id": None, "at": int(self.host.time())}

    def make(self, c, containers, target, made, after=None):
        """The container of record C made in the new store with no restart policy, its ID recorded in MADE (the
        journal's), in the same write as AFTER, the next one, about to be made; its new ID and the restart policy
        it is to be given.  A name another container took meanwhile (409) is never taken for this run's."""
        given = str(c["inspect"]["Config"].get("Image") or "")  # as the container was made: kept as it is
        own, image = _stores.with_tag(given), self.image_here(c)
        if _store_plan.by_id(given, c["inspect"].get("Image")) or "@" in own:
            given = own = c["ref"] if c.get("ref") and "@" in own else image  # an ID: the new store's own
        name, body = _container_spec.create_body(c["inspect"], given, renamed=renamed_refs(containers),
                                                 api_version=self.client.api_version)
        policy = (body.get("HostConfig") or {}).get("RestartPolicy")
        body.setdefault("HostConfig", {})["RestartPolicy"] = {"Name": "no"}
        try:
            new = self.create(name, body, own, image, tagged=bool(c.get("ref")))
        except _docker_api.DockerAPIError as exc:
            if exc.status == 409:
                made[target].pop(name, None)
                self.save(made=made)
            raise
        made[target][name]["id"] = c["new_id"] = new
        if after is not None:
            self.about_to_make(made, target, after)
        self.save(made=made, containers=containers)
        _testhooks.reached("store_during_containers")
        for path, connect in _container_spec.connect_bodies(c["inspect"], renamed=renamed_refs(containers),
                                                            api_version=self.client.api_version):
            self.client.post(path, body=connect)
        return new, policy

    def image_here(self, c):
        """The ID, in the store Docker runs now, of the image container C was made from: found by its tag, or, for
        an image without one, by the tag it was carried under (into containerd's store) or its config digest (the
        classic store's ID)."""
        how = c.get("untagged") or {}
        return self.client.get("/images/%s/json" % (c.get("ref") or how.get("carry") or how["config"]))["Id"]

    def create(self, name, body, own, image, tagged=True):
        """The container NAME made from BODY: from its own tag OWN, pointed at IMAGE (the image's ID) for the create
        when that tag names another image now, or put there for the create and taken away after when the old store
        has no such tag (a kill left it, or it names nothing now) and the image keeps another (TAGGED).  Never
        taken away where it would leave the image without a tag (which the classic store would not take away
        again) or take the image's digests of that repository with it: then the container is made from IMAGE, the
        new store's ID, instead."""
        try:
            here = self.client.get("/images/%s/json" % own)["Id"] if own != image else image
        except _docker_api.DockerAPIError as exc:
            if exc.status != 404:
                raise
            here = None
        if here not in (None, image):
            with self.tag_for_create(own, image, here):
                return self.client.post("/containers/create", params={"name": name}, body=body)["Id"]
        known = set(_layer_store.familiar(t) for t in self.journal.get("tags") or ())
        passing = own != image and _layer_store.familiar(own) not in known  # the old store has no such tag
        removable = (here is None or passing) and tagged and not self.repo_digests(image, own)
        if here is None and not removable:
            body["Image"] = image
        elif passing and removable:
            with self.tag_for_create(own, image, None):
                return self.client.post("/containers/create", params={"name": name}, body=body)["Id"]
        return self.client.post("/containers/create", params={"name": name}, body=body)["Id"]

    def repo_digests(self, image, tag):
        """The digest references of IMAGE in the repository of TAG (taken away with that repository's last tag)."""
        repo = _layer_store.familiar(tag).rpartition(":")[0]
        digests = (self.client.get("/images/%s/json" % image) or {}).get("RepoDigests") or []
        return [d for d in digests if _layer_store.familiar(d.partition("@")[0] + ":x").rpartition(":")[0] == repo]

    @contextlib.contextmanager
    def tag_for_create(self, tag, image, back):
        """TAG pointed at IMAGE while a container is made from it, then back at BACK, the image it named, or taken
        away when it named none (IMAGE keeps another tag): the container records the tag it was made from, as it
        did in the old store.  A kill in between is healed by the next conversion's import, which sets every tag
        again (a tag that named nothing stays: the report of the run names it)."""
        repo, _sep, name = tag.rpartition(":")
        self.client.post("/images/%s/tag" % image, params={"repo": repo, "tag": name})
        try:
            yield
        finally:
            if back:
                self.client.post("/images/%s/tag" % back, params={"repo": repo, "tag": name})
            else:
                self.client.delete("/images/%s" % tag, params={"noprune": True})

    @contextlib.contextmanager
    def carry_tags_dropped(self, target):
        """The carry tags taken away once the block ends (in containerd's store, TARGET), whether it failed or not:
        a start or a verification that fails again and again never leaves them (best effort then: the failure is
        what is raised)."""
        try:
            yield
        except BaseException:
            if target == "containerd":
                try:
                    self.drop_carry_tags()
                except _docker_api.DockerError:
                    pass  # done() takes them away once the conversion is finished
            raise
        if target == "containerd":
            self.drop_carry_tags()

    def drop_carry_tags(self):
        """The tags images without one were carried into containerd's store under, every one the store shows (this
        run's, and one a run that failed before its containers were made left), taken away: Docker keeps each
        image a container uses without a tag, as it was."""
        for image in self.client.get("/images/json", params={"all": True}) or []:
            for tag in sorted(t for t in image.get("RepoTags") or [] if _store_plan.is_carry(t)):
                try:
                    self.client.delete("/images/%s" % tag, params={"force": True, "noprune": True})
                except _docker_api.DockerAPIError as exc:
                    if exc.status != 404:
                        raise

    def carry(self, c, dest):
        """The writable layer of C copied into DEST, then compared: a dry run must find nothing left to copy."""
        if not dest:
            raise StoreError("the writable layer of the new container %s cannot be found" % c["name"], "containers")
        if c.get("base"):  # a vfs container: its tree's difference from its parent's
            try:
                _vfs_layer.build(self.runner, c["base"], c["upper"], dest, c.get("since"), c.get("forced") or ())
                _vfs_layer.check(self.runner, c["base"], c["upper"], dest)
            except (_vfs_layer.LayerError, OSError) as exc:
                raise StoreError("carrying the writable layer of %s from vfs: %s" % (c["name"], exc), "containers")
            return
        paths = ["--", c["upper"].rstrip("/") + "/", dest.rstrip("/") + "/"]
        rc, out, err = self.runner(["rsync"] + COPY + paths)
        if rc != 0:
            raise StoreError("copying the writable layer of %s failed (rc=%d): %s" % (
                c["name"], rc, (err or out).strip()[-500:]), "containers")
        rc, out, err = self.runner(["rsync", "--dry-run", "--itemize-changes"] + COPY + paths)
        if rc != 0 or out.strip():
            raise StoreError("the writable layer of %s differs after its copy: %s" % (
                c["name"], (out or err).strip()[:500]), "containers")

    def start_containers(self, containers):
        """The containers that ran, started in the new store all at once, as Docker starts them at its own start
        (one already running is left as it is)."""
        todo = [c for c in containers if c["running"] and not (
            self.client.get("/containers/%s/json" % c["new_id"]).get("State") or {}).get("Running")]
        for wave in _stores.start_waves(todo):  # one that joins another's namespaces after that one
            in_threads(wave, lambda c: self.client.post("/containers/%s/start" % c["new_id"]), len(wave),
                       "starting the containers")

    def give_exit_states(self, containers):
        """Each container that had run and ended in the old store, made again (created) in the new one, given that
        state in its config.v2.json once no call to the engine writes it any more: Docker reads the file at its next
        start, which then starts the container or not as it would have (a stopped ``always`` container at each of
        Docker's starts, one only created never) and shows its exit code and times.  Until then Docker shows it
        created.  One that runs now or ran since is left alone, and so is one removed since."""
        given, root = [], self.docker_root()
        for c in containers:
            if c.get("running") or not c.get("new_id"):
                continue
            now = self.inspect_or_none(c["new_id"])
            state = (now or {}).get("State") or {}
            if now is None or state.get("Running") or _store_plan.timestamp(state.get("StartedAt")) > 0:
                continue
            old, new = (_stores.container_config(root, cid) for cid in (c["id"], c["new_id"]))
            conf = exit_state(old or {}, new) if new else None
            path = os.path.join(self.container_dir(c["new_id"]), "config.v2.json")
            if conf and os.path.isfile(path):
                _fileops.atomic_write(path, json.dumps(conf), mode=0o600)
                given.append(c["name"])
        if given:
            self.result["actions"].append("gave %d containers that had run and ended that state (%s), which Docker "
                                          "reads at its next start" % (len(given), ", ".join(given)))
        return given

    def check_tags(self, plan, source):
        """Every tag in the new store, naming an image with the layers it named when recorded (a tag moved on the
        old store while the images were carried, or a wrong image found for it): checked before any container is
        made, while a failure still switches Docker back to the old store."""
        images = self.client.get("/images/json", params={"all": True}) or []  # an image with children too
        have = set(t for i in images for t in (i.get("RepoTags") or []))
        missing = [t for t in plan["tags"] if t not in have]
        ids = set(i.get("Id") for i in images)
        missing += ["the image %s" % i.split(":")[-1][:12] for i, how in sorted((plan.get("untagged") or {}).items())
                    if how.get("carry") not in have and not ids & set((how.get("config"), how.get("id")))]
        moved = _stores.moved_tags(plan.get("tag_layers"), _stores.tag_layers(self.client, images))
        problems = (["tags missing: %s" % ", ".join(missing)] if missing else []) + (
            ["tags naming an image with other layers than when recorded: %s" % ", ".join(moved)] if moved else [])
        if problems:
            raise StoreError("the new store's images are not the ones recorded (%s); no container was made, Docker "
                             "goes back to the %s store: run again" % ("; ".join(problems), source), "switch")

    def verify(self, plan):
        have = set(t for i in self.client.get("/images/json") for t in (i.get("RepoTags") or []))
        missing = [t for t in plan["tags"] if t not in have]
        problems = ["tags missing: %s" % ", ".join(missing)] if missing else []
        renamed = renamed_refs(plan["containers"])
        for c in plan["containers"]:
            new = self.client.get("/containers/%s/json" % c["new_id"])
            diffs = [d for d in _container_spec.differences(c["inspect"], new, renamed=renamed)
                     if not (d.startswith("Config.Image:") and "@" in str(c["inspect"]["Config"].get("Image")))]
            if diffs:
                problems.append("container %s differs: %s" % (c["name"], "; ".join(diffs[:3])))
            layers = ((self.client.get("/images/%s/json" % new["Image"]) or {}).get("RootFS") or {}).get("Layers")
            if layers != c["layers"]:
                problems.append("container %s runs another image than before (its layers differ)" % c["name"])
            if c["running"] and not (new.get("State") or {}).get("Running"):
                problems.append("container %s ran and does not run now" % c["name"])
        if problems:
            raise StoreError("after the conversion: %s. The new store's containers have run, so the conversion is not "
                             "switched back: fix the cause and run again, or remove %s to accept the host as it is" % (
                                 "; ".join(problems), self.jpath), "verify")
        self.result["actions"].append("verified: %d tags, %d containers (%d running)" % (
            len(plan["tags"]), len(plan["containers"]), sum(1 for c in plan["containers"] if c["running"])))
