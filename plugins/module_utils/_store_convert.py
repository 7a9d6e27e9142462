# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Converting a host from one Docker image store to the other, its containers kept (``image_store``).  Internal to
dockyard.migrate.

1. record (_store_plan): every container's inspect, the tag it is made again from and that image's layers, its
   writable layer's path in the store Docker runs now, which ran; what refuses the conversion.
2. images: from classic to containerd, every tag is streamed (from the classic store's files, as _layer_store
   puts the layers' tars together, or from ``docker save``; no archive on disk) into containerd's ``moby``
   namespace while Docker still runs; the other way, after the switch, from containerd's
   export into ``docker load``, but for the images the classic store still holds (the same config digest), which
   are only tagged.  Images without a tag that containers use go along (_store_plan.untagged): into containerd's
   store under a carry tag, taken away once its containers are made.
3. window: Docker's units masked, Docker stopped and checked to be (no dockerd left), the containers the other store
   holds under the names about to be carried kept from starting with Docker, daemon.json's
   ``features.containerd-snapshotter`` switched (written atomically), Docker started and checked to run the new
   store.
4. containers: each made again under its name with its configuration (_container_spec) from the same image, not
   started; its writable layer copied from the old store's upper directory into the new one's (rsync, whiteouts and
   xattrs kept, the overlay xattrs that point into the old store dropped) and compared; then the ones that ran are
   started.
5. verify: every tag present and naming an image with the same layers, every container with the same configuration and image layers, the same running set.

Until the new store's containers start, a failure or a kill is rolled back: daemon.json as it was, Docker started on
the old store, where nothing was written, and the containers that ran started.  From then on the new containers may
have written, and the conversion is only ever finished forward.  The journal (beside Docker's root) records what
each run made in each store, so that a rerun knows its own containers; a container of the other store the journal
does not name is never touched.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import time

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _copy, _daemon_json, _fileops, _store_cleanup, _store_containers, _store_images, _store_plan, _store_rollback,
    _stores, _testhooks)
from ansible_collections.dockyard.migrate.plugins.module_utils._stores import StoreError

DEFAULT_ROOT = "/var/lib/docker"
# The phases in which a kill leaves Docker stopped, switched, or its containers half made.
WINDOW = ("stop", "switch", "containers", "start", "verify")
FORWARD = ("start", "verify")  # the new store's containers may have run: finished forward only
COPY = _store_containers.COPY
PREVIOUS = "previous"  # store: previous, the store the last conversion came from


def journal_path(root):
    """The conversion's journal: beside Docker's root (``/var/lib/.docker.dockyard-image-store.json``)."""
    root = os.path.normpath(root)
    return os.path.join(os.path.dirname(root), ".%s.dockyard-image-store.json" % os.path.basename(root))


class Conversion(_store_containers.ContainerSteps, _store_images.ImageSteps, _store_rollback.RollbackSteps):
    """A conversion to OPTS.store on a host: CLIENT (_docker_api.DockerClient), HOST (_systemd.Systemd: units, files,
    commands, the lock), RUNNER (argv -> rc, out, err)."""

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
        self.root = DEFAULT_ROOT
        self._phase = (None, None)  # the phase being timed, since when
        # The status file a playbook polls while the conversion runs in the background (job_progress).
        self.status = _copy.Status(None if check_mode else opts.get("status_file"))

    def progress(self, phase, **fields):
        """The status file says PHASE, with FIELDS (percent, bytes_done, bytes_total, rate) or none of them."""
        self.status.state = {}
        self.status.write(force=True, phase=phase, **fields)

    def save(self, **fields):
        if fields.get("phase") not in (None, "containers"):
            self.progress(fields["phase"])
        if fields.get("phase"):  # how long each phase took (phase_seconds)
            now, (last, since) = time.time(), self._phase
            if last is not None:
                spent = self.result.setdefault("phase_seconds", {})
                spent[last] = round(spent.get(last, 0) + now - since, 3)
            self._phase = (fields["phase"], now)
        self.journal.update(fields)
        _fileops.atomic_write(self.jpath, json.dumps(self.journal, indent=1, sort_keys=True) + "\n", mode=0o600)

    def run(self):
        lock = self.host.lock(self.check_mode)
        try:
            return self._run()
        finally:
            if lock is not None:
                lock.close()

    def _run(self):
        target = self.opts["store"]
        data, _text, _exists = _daemon_json.load(self.opts["daemon_json"])
        self.root = _daemon_json.data_root(data) or DEFAULT_ROOT
        self.jpath = journal_path(self.root)
        self.journal = json.loads(_fileops.read_text(self.jpath, default="") or "{}")
        self.socket = _stores.containerd_socket()
        if target == PREVIOUS:
            target = self.previous()
        if self.opts.get("state") == "cleaned":
            if self.journal.get("phase") in WINDOW:
                raise StoreError("a conversion to the %s store was interrupted in phase %s: run it again first" % (
                    self.journal.get("target"), self.journal["phase"]), "preflight")
            return _store_cleanup.clean(self, self.client.info(), target, self.opts.get("soak_days", 7))
        if self.journal.get("phase") in WINDOW:
            if self.journal.get("target") != target and self.journal["phase"] in FORWARD:
                raise StoreError("a conversion to the %s store was interrupted after its containers started; it can "
                                 "only be finished: run again with store: %s" % (
                                     self.journal["target"], self.journal["target"]), "preflight")
            if self.check_mode:
                self.result.update(changed=True, store=target)
                self.result["actions"].append("%s the conversion interrupted in phase %s" % (
                    "finish" if self.journal["phase"] in FORWARD else "roll back", self.journal["phase"]))
                return self.result
            if self.resume():
                return self.result
        info, version = self.client.info(), self.client.version()
        data, text, _exists = _daemon_json.load(self.opts["daemon_json"])
        # With driver: overlay2, the classic store on another graph driver is a store of its own (vfs).
        source = _stores.kind_of(info) if self.opts.get("driver") else _stores.store_of(info)
        self.root = info.get("DockerRootDir") or self.root
        self.result.update(store_before=source, store=target)
        if self.opts.get("driver") and target != "classic":
            raise StoreError("driver is the classic store's graph driver: it goes with store: classic", "preflight")
        if source == target and _stores.configured_store(data) in ((target, None) if target == "classic" else (target,)):
            self.result["store_after"] = source
            _store_cleanup.report(self, target)
            return self.result
        problems = self.preflight(info, version, data, source, target)
        plan = _store_plan.plan(self, self.root, source, target)
        problems += plan.pop("problems")
        if problems:
            raise StoreError("; ".join(problems), "preflight")
        if source in _stores.DRIVER_SOURCES:
            after = _daemon_json.render(_stores.with_driver(data, _stores.DRIVERS[target]))
        else:
            after = _daemon_json.render(_stores.with_store(data, target, self.classic_driver()))
        self.result.update(changed=True, images=plan["tags"], containers=[c["name"] for c in plan["containers"]],
                           not_carried=plan["not_carried"], untagged_images=sorted(plan["untagged"]),
                           stopped_always=plan["stopped_always"], restarted_by_docker=plan["restarted"],
                           diff={"before": text, "after": after, "before_header": self.opts["daemon_json"],
                                 "after_header": self.opts["daemon_json"]})
        if plan["ephemeral"]:
            self.result["ephemeral"] = sorted(plan["ephemeral"])
        if self.check_mode:
            return self.result
        self.convert(plan, source, target, text, after)
        return self.result

    def previous(self):
        """The store ``store: previous`` asks for: the one the last conversion recorded here came from, or, when
        that conversion was itself one back (``undo`` in the journal), the one it went to, so that going back
        again changes nothing."""
        if self.opts.get("state") == "cleaned":
            raise StoreError("store: previous goes with state: converted (the cleanup names the store it keeps)",
                             "preflight")
        source = self.journal.get("source")
        if not source:
            raise StoreError("no conversion is recorded on this host (%s): there is no previous store to go back to" % (
                self.jpath), "preflight")
        if self.journal.get("undo"):
            return self.journal["target"]
        if source in _stores.DRIVER_SOURCES:
            raise StoreError("the last conversion came from the %s driver, and going back to it is not done by this "
                             "version (its store is kept until state: cleaned removes it)" % source, "preflight")
        return source

    def classic_driver(self):
        """The storage-driver a conversion to the classic store writes into daemon.json when it names none: the one
        the last conversion to containerd's store took away (recorded apart, so that a failed or killed conversion
        back does not forget it), or overlay2 where Docker's root holds another graph driver's layers beside it
        (Docker would not pick one); else None."""
        return self.journal.get("classic_driver") or (
            _stores.DRIVERS["classic"] if _stores.other_drivers(self.root) else None)

    def preflight(self, info, version, data, source, target):
        problems = _stores.refusals(info, version, data, target, self.opts.get("allow_swarm"), source)
        problems += self.store_refusals(info, source, target, data)
        uses_containerd = "containerd" in (source, target)
        if self.socket is None and uses_containerd:
            problems.append("containerd's socket is not found (%s): containerd's image store needs it" % (
                ", ".join(_stores.CONTAINERD_SOCKETS)))
        problems += ["%s is not installed (or not on PATH): the conversion needs it" % tool
                     for tool in (("ctr", "rsync") if uses_containerd else ("rsync", "mount"))
                     if not shutil.which(tool)]
        if source == target:  # daemon.json says otherwise than the engine runs: a restart would switch it
            problems.append("Docker runs the %s store but daemon.json asks for the other; restart Docker or fix "
                            "daemon.json first" % source)
        cleanup = self.journal.get("cleanup") or {}
        if cleanup.get("store") == target and not cleanup.get("finished"):
            problems.append("the removal of the %s store was interrupted: finish it first (state: cleaned, store: %s)" % (
                target, source))
        if self.journal.get("phase") == "done" and self.journal.get("target") not in (None, source):
            problems.append("the last conversion went to the %s store, but Docker runs the %s store: it was switched "
                            "back by hand since, so the containers of each store may hold writes the other lacks; "
                            "compare them, keep what you need, then remove %s and run again" % (
                                self.journal["target"], source, self.jpath))
        return problems

    def store_refusals(self, info, source, target, data):
        """What stands in the way of switching between the image stores beyond the engine's settings: a graph driver
        chosen on dockerd's command line or environment (it would name a snapshotter under containerd's store, and
        conflict with the storage-driver daemon.json may need under the classic one), and, going to containerd's
        store, a size limit on the writable layers in DATA's storage-opts (containerd's store ignores it) and the
        store a finished conversion from another graph driver left and that is not removed yet (the journal of the
        conversion to containerd's would no longer name it)."""
        if source in _stores.DRIVER_SOURCES:
            return []  # a driver conversion: _store_plan.driver_checks
        problems = []
        sizes = [str(o) for o in data.get("storage-opts") or ()
                 if str(o).replace(" ", "").lower().startswith("overlay2.size=")]
        if target == "containerd" and sizes:  # measured on Docker 26.1: started, containers run, no limit
            problems.append("daemon.json's storage-opts limit each container's writable layer (%s), which containerd's "
                            "store does not apply (it starts and ignores them): remove them to accept containers "
                            "without that limit, and run again" % ", ".join(sizes))
        choices = _stores.dockerd_choices(pidfile=data.get("pidfile"))
        if choices:
            problems.append("dockerd's graph driver is chosen outside daemon.json (%s): the conversion sets the store "
                            "in daemon.json, where Docker must find its driver too; remove it, restart Docker and run "
                            "again" % "; ".join(choices))
        if target == "containerd" and self.journal.get("phase") == "done" and \
                self.journal.get("target") == "classic" and self.journal.get("source") in _stores.DRIVER_SOURCES and \
                _stores.kind_of(info) == "classic":
            left = _store_cleanup.Inactive(self, "classic")
            if not left.empty():
                paths = left.dirs() + [os.path.join(self.root, "containers", cid)
                                       for _name, cid in sorted(left.containers.items())]
                problems.append("the %s store the conversion to overlay2 left is still here: remove it first (state: "
                                "cleaned, store: classic, once its soak is over), then convert to containerd's store "
                                "(its journal would no longer name the %s store). Where that cleanup refuses for good, "
                                "it says why (containers in it that ran since may hold writes the others lack): once "
                                "nothing there is needed, with Docker stopped and nothing mounted under them, remove "
                                "by hand %s" % (left.store, left.store, ", ".join(paths)))
        return problems

    def upper(self, inspect, store):
        if store == "classic":
            return _stores.classic_upper(inspect)
        rc, out, _err = self.runner(_stores.ctr_argv(self.socket or "", "snapshots", "--snapshotter",
                                                     _stores.DRIVERS["containerd"], "mounts",
                                                     "/nonexistent-dockyard", inspect["Id"]))
        return _stores.upper_from_mounts(out) if rc == 0 else None

    # ------------------------------------------------------------ after a kill
    def resume(self):
        """A run killed inside its window.  Until the new store's containers were started nothing ran on them: the
        window is rolled back and the conversion starts over (False).  From then on they may have written: the
        conversion is finished forward (True)."""
        phase = self.journal["phase"]
        self.result["changed"] = True
        if phase not in FORWARD:
            self.roll_back(self.journal["daemon_json_before"], "a conversion interrupted in phase %s" % phase)
            self.result["actions"].append("rolled back the conversion interrupted in phase %s" % phase)
            return False
        self.host.unmask(self.journal.get("masked") or [])
        if not self.client.ping():
            self.start()
        if _stores.kind_of(self.client.info()) != self.journal["target"]:
            raise StoreError("the conversion to the %s store was interrupted after its containers started, and Docker "
                             "runs the other store now (switched by hand?): put daemon.json back to the %s store "
                             "and run again" % (self.journal["target"], self.journal["target"]), "preflight")
        plan = {"tags": self.journal["tags"], "tag_layers": self.journal.get("tag_layers"),
                "containers": self.journal["containers"], "untagged": self.journal.get("untagged")}
        verified = self.journal.get("verified")  # then stopped short of done (its flush): done is what is left
        if not verified or verified != self.host.boot_id():  # a boot since started only what has a policy
            self.save(phase="start")
            with self.carry_tags_dropped(self.journal["target"]):
                self.start_containers(plan["containers"])
                self.save(phase="verify")
                if not verified:
                    self.verify(plan)
        self.done(self.journal["target"])
        self.result["store"] = self.journal["target"]
        self.result["actions"].append("finished the conversion interrupted in phase %s" % phase)
        return True

    # ------------------------------------------------------------ the conversion
    def convert(self, plan, source, target, text_before, text_after):
        sources = dict(self.journal.get("sources") or {})
        # the containers carried, and those Docker's stop ends (--rm), which the old store's cleanup must know
        sources[source] = dict(plan["ephemeral"], **dict((c["name"], c["id"]) for c in plan["containers"]))
        taken = {}
        if target == "containerd":  # what with_store takes away, for the conversion back (kept through its failures)
            driver = _daemon_json.parse(text_before).get("storage-driver")
            taken["classic_driver"] = driver if driver == _stores.DRIVERS["classic"] else None
        self.save(phase="record", source=source, target=target, daemon_json_before=text_before, tags=plan["tags"],
                  tag_layers=plan["tag_layers"], containers=plan["containers"], error=None, sources=sources, masked=[],
                  undo=self.opts["store"] == PREVIOUS, untagged=plan["untagged"], root=self.root, stopping=False,
                  verified=False, **taken)
        _testhooks.reached("store_after_record")
        t0 = time.time()
        if target == "containerd":
            self.save(phase="images")
            self.import_into_containerd(plan["tags"], plan["untagged"])
            self.flush_stores("the images imported")  # while Docker serves: the window's writes wait on none of it
        self.result["images_seconds"] = round(time.time() - t0, 3)
        self.save(phase="stop", ran=self.running_at_stop(plan["containers"]), containers=plan["containers"])
        self.mask_window()
        down = time.time()  # Docker served until here
        try:
            self.save(stopping=True)  # from now on a rerun never takes Docker for one that was not stopped
            self.host.stop_docker()
            self.host.check_stopped(self.host.window_units(), self.opts.get("stop_timeout") or 120)
            _testhooks.reached("store_after_stop")
            self.save(phase="switch")
            self.disarm(plan, target)
            self.host.write_file(self.opts["daemon_json"], text_after, config=True)
            _testhooks.reached("store_after_switch")
            self.start()
            running = _stores.kind_of(self.client.info())
            if running != target:
                raise StoreError("Docker started on the %s store after the switch" % running, "switch")
            if source in _stores.DRIVER_SOURCES:
                t0 = time.time()
                self.load_from_files(plan.get("archive"), source)
                self.result["images_seconds"] = round(time.time() - t0, 3)
            elif target == "classic":
                t0 = time.time()
                self.export_from_containerd(plan["tags"], plan["tag_layers"], plan["untagged"])
                self.result["images_seconds"] = round(time.time() - t0, 3)
            self.check_tags(plan, source)
            self.save(phase="containers")
            self.recreate(plan["containers"], plan["hidden"], target)
            self.save(phase="start")
            _testhooks.reached("store_before_start")
            with self.carry_tags_dropped(target):  # the containers hold their images now
                self.start_containers(plan["containers"])
                self.result["downtime_seconds"] = round(time.time() - down, 3)
                self.save(phase="verify")
                _testhooks.reached("store_before_verify")
                self.verify(plan)
        except Exception as exc:
            if self.journal.get("phase") in FORWARD:
                raise  # the new store's containers may have run: never thrown away by a switch back
            self.roll_back(text_before, exc)
            raise
        self.done(target)

    def done(self, target):
        """The conversion to TARGET recorded finished, when (the cleanup's soak counts from it), and what the old
        store holds reported.  Into containerd's store, the images carried without a tag lose the one they travelled
        under first (a kill between leaves the journal in verify: the rerun does it again)."""
        if target == "containerd":
            self.drop_carry_tags()
        self.give_exit_states(self.journal.get("containers") or [])
        self.save(verified=self.host.boot_id())  # a rerun after a flush that failed, in this boot, only flushes
        why = self.flush_stores("the new store")  # its writable layers, copied, on disk before the journal says done
        if why:
            raise StoreError("the conversion is not recorded done: %s; run again (the rerun writes it to disk "
                             "first)" % why, "verify")
        self.save(phase="done", done_at=self.host.time())
        self.progress("done", percent=100)
        self.result["store_after"] = target
        _store_cleanup.report(self, target)

    def flush_stores(self, what, timeout=60):
        """What the filesystems of Docker's root and containerd's hold in memory written to disk, TIMEOUT seconds
        at most; None when done, else why not (also said in a warning)."""
        paths = [p for p in (self.root, _store_plan.CONTAINERD_ROOT) if os.path.isdir(p)]
        why = self.host.sync(paths, timeout)
        if why:
            why = "writing %s to disk (syncfs of %s): %s" % (what, ", ".join(paths), why)
            self.result.setdefault("warnings", []).append(why)
        return why

    def disarm(self, plan, target):
        """The containers of the new store about to be replaced (this collection's, from an earlier conversion or
        run) must not start with Docker: their restart policy is set to no while Docker is stopped.  So must the
        ones an earlier conversion left there whose counterpart is gone from the store Docker runs now (removed
        since): they are kept, stopped, and reported (``left_over``)."""
        names = set(c["name"] for c in plan["containers"])
        left = ((self.journal.get("sources") or {}).get(target) or {})
        for name, cid in sorted(plan["hidden"].items()):
            if name not in names and left.get(name) != cid:
                continue  # another's, never touched
            if name not in names:
                self.result.setdefault("left_over", []).append(name)
            if _stores.disarm(self.root, cid):
                self.result["actions"].append("kept the %s store's earlier %s (%s) from starting with Docker" % (
                    target, name, cid[:12]))

    def start(self):
        self.host.unmask(self.journal.get("masked") or [])
        self.save(masked=[])
        self.host.start_docker()
        if not self.host.wait_docker(self.opts.get("timeout") or 60):
            raise StoreError("Docker did not answer after the switch", "start")
