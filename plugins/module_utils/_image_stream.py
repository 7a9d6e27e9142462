# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""docker load of the archive a command writes to its stdout (docker save on another host over SSH), no file
in between.  Internal to the dockyard.migrate collection.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os
import select
import subprocess
import threading
import zlib

from ansible_collections.dockyard.migrate.plugins.module_utils import _copy, _layer_filter, _layer_store, _layers
from ansible_collections.dockyard.migrate.plugins.module_utils._image_archive import check_loaded, post_load, to_load
from ansible_collections.dockyard.migrate.plugins.module_utils._images import ImageError


def _check_input(argv, images):
    if not argv or not all(isinstance(a, str) and a for a in argv):
        raise ImageError("src_command must be a non-empty list of arguments, got %r" % (argv,))
    if not images or not all(isinstance(i, dict) and i.get("id") for i in images):
        raise ImageError("images must list what src_command brings, each with an id")
    return [dict({"id": i["id"], "tags": list(i.get("tags") or [])}, **({"config": i["config"]} if i.get("config") else {}))
            for i in images]


def load_command(client, argv, images, *, check_mode=False):
    """Stream the archive a command writes to its stdout (for example ``ssh SOURCE docker save ...``) into
    docker load, with no file in between.  IMAGES (id and tags) are what the stream must bring: when they are
    all present nothing runs; afterwards each must be present, or the load is an error."""
    images = _check_input(argv, images)
    result = {"changed": False, "src_command": list(argv), "images": images, "verified": False,
              "compression": "none"}
    if not to_load(client, result, images, check_mode):
        return result
    result["messages"], result["bytes"] = _run_into_load(client, argv)
    check_loaded(client, images, "the stream of %s" % argv[0])
    return result


def _run_into_load(client, argv, stdin=None, err=None):
    """Run argv (fed STDIN) and stream its stdout into docker load; return Docker's messages and the bytes it
    carried.  The command's stderr lines are kept in ERR."""
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True)
    except OSError as exc:
        raise ImageError("src_command %s could not start: %s" % (argv[0], exc))
    if stdin is not None:
        feeder = threading.Thread(target=_feed, args=(proc.stdin, stdin))
        feeder.daemon = True
        feeder.start()
    _widen_pipe(proc.stdout)
    counted = _CountingReader(proc.stdout)
    err = [] if err is None else err
    drain = _copy.drain_lines(proc.stderr, err)  # a chatty command must not block on a full stderr pipe
    failure = None
    messages = []
    try:
        messages, error = post_load(client, counted)
        if error:
            failure = "Docker refused the stream of %s: %s" % (argv[0], error)
    finally:
        if not counted.eof and proc.poll() is None:
            proc.kill()  # Docker stopped reading before the end: the command must not hang on a full pipe
        proc.stdout.close()
        rc = proc.wait()
        drain.join(10)
    if rc != 0:
        # The command's own failure is the cause; what Docker made of the cut stream follows from it.
        said = " | ".join(line for line in err[-3:] if line.strip()) or "no message"
        failure = "src_command failed (rc=%d): %s%s" % (rc, said, "; %s" % failure if failure else "")
    if failure:
        raise ImageError(failure)
    return messages, counted.count


def _feed(pipe, data):
    try:
        pipe.write(data)
        pipe.close()
    except (IOError, OSError):
        pass  # the command ended without reading: its exit status tells why


def load_from_source(client, ssh, images, *, check_mode=False, source="auto"):
    """Stream the images from the host SSH (an argv that runs a command there) into docker load, sending only
    the layers this host lacks where its engine is known to load such an archive, whole images elsewhere.
    IMAGES: [{id, tags, layers}] as image_info on the source gives them.  SOURCE auto lets the source write the
    archive from its image store's files where it can (_layer_store); docker_save always runs docker save."""
    if source not in ("auto", "docker_save"):
        raise ImageError("source_archive must be auto or docker_save, got %r" % (source,))
    images = [dict(_check_input(ssh, [i])[0], layers=list(i.get("layers") or []), blobs=list(i.get("blobs") or []))
              for i in images or [{}]]
    result = {"changed": False, "src_ssh": list(ssh), "images": images, "verified": False, "compression": "none"}
    if not to_load(client, result, images, check_mode):
        return result
    missing = result["loaded"]
    result["layers"] = layers = _layer_plan(client, missing)
    names = [n for img in missing for n in (img["tags"] or [img["id"]])]
    if layers["mode"] == "whole":
        argv, stdin = list(ssh) + ["docker", "save"] + names, None
    else:
        argv, stdin = list(ssh) + ["python3", "-c", filter_program()], json.dumps(
            {"names": names, "drop": layers.pop("drop"), "source": "auto" if source == "auto" else "save"}).encode("utf-8")
    err = []
    result["messages"], result["bytes"] = _run_into_load(client, argv, stdin, err)
    for line in err:
        if line.startswith(_layer_filter.MARK):
            layers.update(json.loads(line[len(_layer_filter.MARK):]))
    check_loaded(client, missing, "the stream from %s" % ssh[-1])
    return result


def _layer_plan(client, missing):
    """Which layers to leave out of the stream, or mode whole with the reason none can be."""
    ok, reason = _layers.engine_verdict(client.version())
    if ok and not all(img["layers"] for img in missing):
        ok, reason = False, "the images do not list their layers (image_info gives them), so whole images are sent"
    if not ok:
        return {"mode": "whole", "reason": reason}
    blobs = _layers.containerd_blobs() if _layer_store.uses_containerd_store(client.info()) else None
    drop = _layers.plan_drop(missing, _layers.local_chains(client), blobs)
    return {"mode": "missing", "reason": None, "drop": drop, "store": "containerd" if blobs else "classic"}


def filter_program():
    """python3 -c source that runs _layer_store and _layer_filter on the other host, in one namespace; only
    shell-safe characters."""
    packed = []
    for mod in (_layer_store, _layer_filter):
        try:
            text = mod.__loader__.get_source(mod.__name__)
        except (AttributeError, ImportError, OSError):
            text = None
        if not text:
            with open(mod.__file__, "rb") as f:
                text = f.read()
        if not isinstance(text, bytes):
            text = text.encode("utf-8")
        packed.append(base64.b64encode(zlib.compress(text, 9)).decode("ascii"))
    return ("'import base64,zlib;g={\"__name__\":\"dockyard_layers\"};"
            "[exec(zlib.decompress(base64.b64decode(s)),g) for s in (%s)];"
            "raise SystemExit(g[\"main\"]())'" % ",".join('\"%s\"' % p for p in packed))


def _widen_pipe(stream, size=1 << 20):
    """A larger pipe lets the command keep writing while the last chunk goes to Docker (Linux only)."""
    try:
        import fcntl
        fd = stream if isinstance(stream, int) else stream.fileno()
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), size)
    except (ImportError, OSError, ValueError):
        pass


class _CountingReader:
    """Hands on what the command has written so far, counting it: spliced from its pipe to Docker's socket in the
    kernel where os.splice exists, else read (read1: no waiting for a full chunk)."""

    def __init__(self, raw):
        self.raw = raw
        self.count = 0
        self.eof = False

    def read(self, size=-1):
        data = self.raw.read1(size) if hasattr(self.raw, "read1") else self.raw.read(size)
        self.count += len(data)
        self.eof = self.eof or not data
        return data

    def send_chunked(self, sock):
        """Send the pipe to sock as HTTP chunks without reading it into Python: each chunk is spliced from the
        command's pipe into a pipe of our own (which tells its length), then from there to the socket."""
        if not hasattr(os, "splice"):
            return False
        mid_r, mid_w = os.pipe()
        try:
            _widen_pipe(mid_w)
            src, out = self.raw.fileno(), sock.fileno()
            while True:
                n = os.splice(src, mid_w, 1 << 20)
                if not n:
                    break
                sock.sendall(b"%x\r\n" % n)
                left = n
                while left:
                    left -= _splice_out(mid_r, out, left)
                sock.sendall(b"\r\n")
                self.count += n
            self.eof = True
            sock.sendall(b"0\r\n\r\n")
        finally:
            os.close(mid_r)
            os.close(mid_w)
        return True


def _splice_out(src, out, size):
    """os.splice into a socket that may be non-blocking (it has a timeout): wait until it can take bytes."""
    while True:
        try:
            return os.splice(src, out, size)
        except BlockingIOError:
            if not select.select([], [out], [], 300)[1]:
                raise OSError("Docker took no bytes of the stream for 300 s")
