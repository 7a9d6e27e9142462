# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The images' part of an image store conversion (_store_convert.Conversion's step 2): every tag carried into the
new store as a stream, never an archive on disk.  Internal to dockyard.migrate."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import json
import os
import subprocess
import tarfile
import tempfile
import threading
import time

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _image_archive, _layer_store, _store_plan, _stores, _testhooks, _units)
from ansible_collections.dockyard.migrate.plugins.module_utils._stores import StoreError

# Seconds docker load may take to answer: the classic store registers a whole image's layers (minutes for large
# ones) before it says a word; the engine's own timeout (60 s) would end a sound load part way.
LOAD_WAIT = 3600
# The name Docker's containerd store gives an image without a tag (followed by its target's digest).
DANGLING = "moby-dangling@"


class Counted:
    """A stream read through, its bytes counted in the status file (phase images) as they go."""

    def __init__(self, raw, status):
        self.raw, self.status, self.done, self.t0 = raw, status, 0, time.time()

    def read(self, size=-1):
        data = self.raw.read(size)
        self.done += len(data)
        self.status.write(phase="images", bytes_done=self.done,
                          rate="%s/s" % _units.human(self.done / max(time.time() - self.t0, 0.001)))
        return data


def nameless(src, wfd, failed):
    """The image archive read from SRC written to the pipe WFD (closed at the end) with the names that are no tags
    (a digest's) left out of its manifest.json's RepoTags: docker load takes an image left with none without a
    tag.  What went wrong is appended to FAILED."""
    try:
        with os.fdopen(wfd, "wb") as dst, tarfile.open(fileobj=src, mode="r|") as tin, \
                tarfile.open(fileobj=dst, mode="w|", format=tarfile.PAX_FORMAT) as tout:
            for member in tin:
                data = tin.extractfile(member) if member.isreg() else None
                if member.name in ("manifest.json", "./manifest.json"):
                    doc = json.loads(data.read().decode("utf-8"))
                    for entry in doc:  # nor the carry tags a failed run may have left on it
                        entry["RepoTags"] = [t for t in entry.get("RepoTags") or ()
                                             if "@" not in t and not _store_plan.is_carry(t)] or None
                    raw = json.dumps(doc).encode("utf-8")
                    member.size, data = len(raw), io.BytesIO(raw)
                tout.addfile(member, data)
    except BaseException as exc:  # pylint: disable=broad-except  # raised by the caller, in its own thread
        failed.append(exc)


class ImageSteps:
    """Mixed into _store_convert.Conversion, whose client, runner, socket, status, result and progress these steps
    use."""

    def image_ticker(self, total, hook_at=None):
        """A progress(done) for an image stream of about TOTAL bytes: the status file (phase images) says the bytes
        done and the rate, twice a second at most (an archive writes each file's header apart); past HOOK_AT bytes
        the test hook store_during_images is reached."""
        t0, due = time.time(), [0]

        def tick(done):
            if hook_at is not None and done >= hook_at:
                _testhooks.reached("store_during_images")
            now = time.time()
            if now < due[0]:
                return
            due[0] = now + 0.5
            self.status.write(phase="images", bytes_done=done, bytes_total=total,
                              percent=min(99, done * 100 // total) if total else None,
                              rate="%s/s" % _units.human(done / max(now - t0, 0.001)))
        return tick

    def import_into_containerd(self, tags, untagged=None):
        """Every tag streamed from the running classic store into containerd, no archive on disk: read from the
        store's own files (_layer_store) where it can, else from docker save, which spools every layer to a
        temporary directory of Docker's first.  UNTAGGED ({image ID: {"carry": tag}}), images without a tag that
        containers use, go from the store's files only, under their carry tag (containerd keeps named images
        alone)."""
        carry = dict((i, how["carry"]) for i, how in (untagged or {}).items())
        if not tags and not carry:
            return
        self.progress("images")
        try:
            archive, why = _layer_store.Archive(list(tags) + sorted(carry), (), aliases=carry), None
        except (_layer_store.Unusable, ValueError) as exc:
            archive, why = None, str(exc)
        if archive is None and carry:
            raise StoreError("the images without a tag that containers use (%s) cannot be read from the classic "
                             "store's files (%s)" % (", ".join(sorted(carry.values())), why), "images")
        with tempfile.TemporaryFile() as log:
            proc = subprocess.Popen(_stores.ctr_argv(self.socket, "images", "import", "-"), stdin=subprocess.PIPE,
                                    stdout=log, stderr=log)
            total = archive.size() if archive else (self.client.get("/system/df") or {}).get("LayersSize") or None
            tick = self.image_ticker(total, hook_at=1 << 20)
            try:
                if archive is not None:
                    archive.write(proc.stdin.fileno(), tick)
                else:
                    done = 0
                    with self.client.stream("GET", "/images/get", params={"names": tuple(tags)}) as resp:
                        for chunk in resp.iter_chunks():
                            proc.stdin.write(chunk)
                            done += len(chunk)
                            tick(done)
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
        self.result["actions"].append("imported %d tags into containerd's image store, %s" % (
            len(tags), "read from the classic store's files" if archive else "from docker save (%s)" % why))
        used = [i for i in carry if not untagged[i].get("unused")]
        if used:
            self.result["actions"].append("imported %d images without a tag that containers use, each under a tag "
                                          "of its own until the conversion is done" % len(used))
        self.keep_unused(untagged)

    def keep_unused(self, untagged):
        """The images of UNTAGGED ({image ID: how}) that no container uses, just imported under their carry tags,
        kept without one: containerd's image of each named as Docker's containerd store names an image without a
        tag (``moby-dangling@<digest>``, which it lists as ``<none>:<none>``), the carry tag taken away; taking it
        away through the engine would remove the image with it.  Each image's ID in the new store is recorded
        (``id``)."""
        spare = dict((i, how) for i, how in (untagged or {}).items() if how.get("unused") and how.get("carry"))
        if not spare:
            return
        rc, out, err = self.runner(_stores.ctr_argv(self.socket, "images", "ls"))
        targets = _stores.image_targets(out) if rc == 0 else {}
        for image_id, how in sorted(spare.items()):
            name = _stores.full_name(how["carry"])
            if name not in targets:
                raise StoreError("the image %s imported without a tag is not in containerd's store (%s)" % (
                    image_id.split(":")[-1][:12], (err or "").strip()[-300:] or name), "images")
            how["id"] = targets[name]
            for argv in (("images", "tag", "--force", name, DANGLING + targets[name]), ("images", "rm", name)):
                rc, out, err = self.runner(_stores.ctr_argv(self.socket, *argv))
                if rc != 0:
                    raise StoreError("ctr %s failed (rc=%d): %s" % (" ".join(argv[:2]), rc, (err or out).strip()[-300:]),
                                     "images")
        self.save(untagged=untagged)
        self.result["actions"].append("imported %d images without a tag that no container uses, kept without one"
                                      % len(spare))

    def load_from_files(self, archive, source):
        """Every tag loaded into the overlay2 store Docker runs now, streamed from the SOURCE driver's files (an
        _layer_store.Archive made while Docker still ran that driver) through a pipe: no archive on disk."""
        if archive is None:
            return
        self.progress("images")
        tick = self.image_ticker(archive.size())
        rfd, wfd = os.pipe()
        failed = []

        def feed():
            try:
                archive.write(wfd, tick)
            except BaseException as exc:  # pylint: disable=broad-except  # raised below, in the calling thread
                failed.append(exc)
            finally:
                os.close(wfd)
        writer = threading.Thread(target=feed)
        writer.start()
        try:
            with os.fdopen(rfd, "rb") as body:
                _testhooks.reached("store_during_images")
                _messages, error = _image_archive.post_load(self.client, body, timeout=LOAD_WAIT)
        finally:
            writer.join()
        if failed or error:
            raise StoreError("loading the images from the %s store's files failed: %s" % (
                source, failed[0] if failed else error), "images")
        self.result["actions"].append("loaded %d tags into the overlay2 store, read from the %s store's files" % (
            len(archive.names), source))

    def export_from_containerd(self, tags, layers=None, untagged=None):
        """Every tag into the classic store Docker runs now: tagged there when that store still holds its image (the
        same config digest, which is the classic image's ID, with the LAYERS ({tag: diff IDs}) recorded for the
        tag), else streamed from containerd (docker load).  UNTAGGED ({image ID: {"name", "config"}}), images
        without a tag that containers use, are streamed by the name containerd keeps them under, unless held; the
        classic store loads them without a tag."""
        held = set(i.get("Id") for i in self.client.get("/images/json", params={"all": True}) or [])
        names = sorted(how["name"] for how in (untagged or {}).values() if how["config"] not in held)
        if not tags and not names:
            return
        configs = _stores.containerd_configs(self.runner, self.socket, tags, _stores.goarch())
        kept = [t for t in tags if configs.get(t) in held and (
            (layers or {}).get(t) is None or _stores.image_layers(self.client, configs[t]) == layers[t])]
        for tag in kept:
            repo, _sep, name = tag.rpartition(":")
            self.client.post("/images/%s/tag" % configs[tag], params={"repo": repo, "tag": name})
        if kept:
            self.result["actions"].append("tagged %d tags whose images the classic store still held" % len(kept))
        _testhooks.reached("store_during_images")
        tags = [t for t in tags if t not in kept]
        if not tags and not names:
            return
        self.progress("images")
        with tempfile.TemporaryFile() as log:  # ctr's messages: never a pipe it could block on
            proc = subprocess.Popen(_stores.ctr_argv(self.socket, "images", "export", "-") +
                                    [_stores.full_name(t) for t in tags] + names, stdout=subprocess.PIPE, stderr=log)
            failed, error, writer = [], "the load ended early", None
            try:
                body = Counted(proc.stdout, self.status)
                if names:  # containerd's names for them (moby-dangling@digest) are no tags: docker load refuses them
                    rfd, wfd = os.pipe()
                    writer = threading.Thread(target=nameless, args=(body, wfd, failed))
                    writer.start()
                    body = os.fdopen(rfd, "rb")
                try:
                    _messages, error = _image_archive.post_load(self.client, body, timeout=LOAD_WAIT)
                finally:
                    if writer is not None:
                        body.close()  # the pipe's end: a writer the load stopped reading from ends (EPIPE)
            finally:
                if error:
                    proc.kill()  # the load ended early: ctr (and a writer reading from it) must not wait for it
                if writer is not None:
                    writer.join()
                proc.stdout.close()
                proc.wait()
                log.seek(0)
                err = log.read()
        if proc.returncode != 0 or error or failed:
            raise StoreError("loading the images into the classic store failed: %s" % (
                error or (failed and failed[0]) or err.decode("utf-8", "replace").strip()[-500:]), "images")
        self.result["actions"].append("loaded %d tags into the classic store" % len(tags) + (
            ", and %d images without a tag" % len(names) if names else ""))
