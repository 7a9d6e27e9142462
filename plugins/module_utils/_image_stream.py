# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""docker load of the archive a command writes to its stdout (docker save on another host over SSH), no file
in between.  Internal to the dockyard.migrate collection.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import subprocess

from ansible_collections.dockyard.migrate.plugins.module_utils import _copy
from ansible_collections.dockyard.migrate.plugins.module_utils._image_archive import check_loaded, post_load, to_load
from ansible_collections.dockyard.migrate.plugins.module_utils._images import ImageError


def _check_input(argv, images):
    if not argv or not all(isinstance(a, str) and a for a in argv):
        raise ImageError("src_command must be a non-empty list of arguments, got %r" % (argv,))
    if not images or not all(isinstance(i, dict) and i.get("id") for i in images):
        raise ImageError("images must list what src_command brings, each with an id")
    return [{"id": i["id"], "tags": list(i.get("tags") or [])} for i in images]


def load_command(client, argv, images, check_mode=False):
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


def _run_into_load(client, argv):
    """Run argv and stream its stdout into docker load; return Docker's messages and the bytes it carried."""
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                close_fds=True)
    except OSError as exc:
        raise ImageError("src_command %s could not start: %s" % (argv[0], exc))
    _widen_pipe(proc.stdout)
    counted = _CountingReader(proc.stdout)
    err = []
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


def _widen_pipe(stream, size=1 << 20):
    """A larger pipe lets the command keep writing while the last chunk goes to Docker (Linux only)."""
    try:
        import fcntl
        fcntl.fcntl(stream.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), size)
    except (ImportError, OSError, ValueError):
        pass


class _CountingReader:
    """Hands on what the command has written so far (read1: no waiting for a full chunk), counting it."""

    def __init__(self, raw):
        self.raw = raw
        self.count = 0
        self.eof = False

    def read(self, size=-1):
        data = self.raw.read1(size) if hasattr(self.raw, "read1") else self.raw.read(size)
        self.count += len(data)
        self.eof = self.eof or not data
        return data
