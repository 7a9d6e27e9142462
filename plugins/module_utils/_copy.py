# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The copy engine: rsync passes with progress.  Internal to the dockyard.migrate collection.

Every pass is ``rsync -aHAXS --numeric-ids -x --delete SRC/ DST/``: hard links,
ACLs, extended attributes, holes and numeric owners are kept, nothing on
another filesystem (a running container's overlay mount) is crossed into, and
the target ends as an exact copy.  While it runs, a small JSON status file
(phase, bytes done and total, percent, rate) is rewritten about once a second
for a role to poll.

An image layer's content is immutable once Docker has committed it: a layer
committed before a pass started was copied whole by that pass.  Later passes
can then skip those layers' ``diff`` trees (``_layout.settled_layers``), which hold
nearly every file of a data root, and walk only what can still change:
container layers, volumes, Docker's metadata, the few files beside each diff
(``link``, ``lower``, and ``committed``, which Docker writes into a layer when
a container or layer is created on top of it), and layers added or removed
since.  rsync neither walks nor deletes what it excludes, so the
result is the same tree as a full pass gives, in a fraction of the time.

Every rsync runs with glibc's mmap threshold fixed (RSYNC_ENV), which keeps
its memory to a little more than the lists of the directories in flight.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import subprocess
import threading
import time

from ansible_collections.dockyard.migrate.plugins.module_utils import _testhooks, _fileops

BASE_ARGS = ["-aHAXS", "--numeric-ids", "--one-file-system", "--delete", "--info=progress2", "--stats"]
_PROGRESS = re.compile(r"^\s*([\d,]+)\s+(\d+)%\s+(\S+/s)\s+")
_STAT = {
    "files": re.compile(r"^Number of files: ([\d,]+)"),
    "files_transferred": re.compile(r"^Number of regular files transferred: ([\d,]+)"),
    "bytes_total": re.compile(r"^Total file size: ([\d,]+)"),
    "bytes_transferred": re.compile(r"^Total transferred file size: ([\d,]+)"),
}
VANISHED = 24
# rsync's memory.  Incremental recursion (which none of these options turns off: not -H, not --delete, which runs
# during the walk, nor the excludes) keeps the lists of only the directories in flight, about 1,000 files ahead of the
# copy.  But rsync 3.2 (3.2.7 on Debian 12) takes a block of about 256 KB for each of those lists in its receiver, and
# with -H in its generator too, and glibc's malloc, whose mmap threshold rises once it has freed a block that large
# (the threshold is dynamic unless it is set), then serves those blocks from the heap, where they stay resident.  A
# tree of small directories keeps hundreds of lists in flight: measured with rsync 3.2.7, a pass over 200,000 files
# five to a directory (a volume of small files) peaked at 106 MB over the three processes, one over 20,000
# directories of one file at 405 MB, and as much for any number of files beyond.  With the threshold fixed at glibc's
# default, the blocks stay mmapped: only the pages a list uses are resident, and a finished list goes back to the
# system; the same passes peak at 36 MB and 26 MB, and 1,000,000 files five to a directory at 116 MB (what grows is
# the list of every directory walked, which incremental recursion keeps: about 500 bytes a directory).  rsync's
# output is the same; rsync 3.5 peaks low either way, and another allocator ignores the variable.
# --no-inc-recursive bounds nothing: it holds every file (298 MB for the 1,000,000).
RSYNC_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072"}


class CopyError(Exception):
    pass


def _int(text):
    return int(text.replace(",", ""))


def parse_stats(text):
    out = {}
    for line in text.splitlines():
        for key, rx in _STAT.items():
            m = rx.match(line.strip())
            if m:
                out[key] = _int(m.group(1))
    return out


def parse_progress(line):
    m = _PROGRESS.match(line)
    if not m:
        return None
    return {"bytes_done": _int(m.group(1)), "rsync_percent": int(m.group(2)), "rate": m.group(3)}


class Status:
    """The status file a role polls: phase, bytes done and total, percent, rate."""

    def __init__(self, path, total_bytes=None):
        self.path = path
        self.total = total_bytes
        self.last = 0
        self.state = {}

    def write(self, force=False, **fields):
        self.state.update(fields)
        self.state["updated"] = time.time()
        if not self.path:
            return
        if not force and time.time() - self.last < 1.0:
            return
        self.last = time.time()
        try:
            parent = os.path.dirname(self.path)
            if parent and not os.path.isdir(parent):
                os.makedirs(parent, 0o755)
            _fileops.atomic_write(self.path, json.dumps(self.state, sort_keys=True) + "\n", mode=0o644)
        except OSError:
            pass


_VERSIONS = {}


def exact_args(rsync_bin="rsync", final=True):
    """rsync's quick check compares sizes and whole-second times by default, so a file rewritten in place
    within the second an earlier pass copied it would be skipped.  Since 3.1.3, --modify-window=-1 compares
    nanoseconds; an older rsync verifies content instead (--checksum) in the pass that makes the copy final."""
    version = _VERSIONS.get(rsync_bin)
    if version is None:
        version = _VERSIONS[rsync_bin] = rsync_version(rsync_bin) or "0"
    if tuple(int(x) for x in version.split(".")) >= (3, 1, 3):
        return ["--modify-window=-1"]
    return ["--checksum"] if final else []


class TimeLimitReached(CopyError):
    """The online copy ran into the run's time limit and was stopped (its children killed)."""


class Watchdog:
    """Kills PROCS when DEADLINE (a time.time() value, or None for none) passes; ``fired`` says whether it did."""

    def __init__(self, deadline, procs):
        self.fired = False
        self.procs = procs
        self.timer = None
        if deadline is not None:
            self.timer = threading.Timer(max(deadline - time.time(), 0), self._fire)
            self.timer.daemon = True
            self.timer.start()

    def _fire(self):
        self.fired = True
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()

    def cancel(self):
        if self.timer is not None:
            self.timer.cancel()

    def check(self, what):
        self.cancel()
        if self.fired:
            raise TimeLimitReached("the time limit ended %s, which was stopped there" % what)


def rsync_env():
    """The environment every rsync of a pass or a comparison runs in: this process's, with RSYNC_ENV."""
    env = dict(os.environ)
    env.update(RSYNC_ENV)
    return env


def _start(argv, feed):
    """Start rsync; FEED (bytes) is written to its stdin, which it reads before it starts walking."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE if feed is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True, env=rsync_env())
    if feed is not None:
        try:
            proc.stdin.write(feed)
        except BrokenPipeError:
            pass  # rsync failed at once; its exit status and stderr say why
        finally:
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass
    return proc


def _follow(proc, phase, status, total_bytes):
    """Read rsync's progress lines into STATUS until it closes stdout; returns the other lines (the stats)."""
    tail = []
    buf = b""
    while True:
        chunk = proc.stdout.read1(65536) if hasattr(proc.stdout, "read1") else proc.stdout.read(65536)
        if not chunk:
            break
        buf += chunk
        parts = re.split(rb"[\r\n]", buf)
        buf = parts.pop()
        for raw in parts:
            line = raw.decode("utf-8", "replace")
            prog = parse_progress(line)
            if prog is None:
                if line.strip():
                    tail.append(line)
                continue
            if phase == "online_copy" and prog["bytes_done"] > 0:
                _testhooks.reached("during_online_copy")
            if status:
                pct = prog["rsync_percent"]
                if total_bytes:
                    pct = min(100, int(prog["bytes_done"] * 100 / max(total_bytes, 1)))
                status.write(phase=phase, bytes_done=prog["bytes_done"], bytes_total=total_bytes,
                             percent=pct, rate=prog["rate"])
    tail.append(buf.decode("utf-8", "replace"))
    return tail


def rsync(src, dst, status=None, phase="copy", extra_args=None, allow_vanished=False, total_bytes=None,
          rsync_bin="rsync", skip=None, prefix=None, deadline=None):
    """Run one pass; return its statistics (files, bytes transferred, seconds, the command run).

    SKIP lists directories, relative to SRC, known to be identical in DST already: they are neither walked
    nor deleted.  PREFIX runs rsync under it (``ionice -c 3 nice -n 19``: Options.priority_prefix)."""
    started = time.time()
    extra = exact_args(rsync_bin, final=not allow_vanished) + list(extra_args or [])
    feed = None
    if skip:
        # rsync reads the list from its stdin before it starts walking.
        extra.append("--exclude-from=-")
        feed = "".join("/%s/\n" % rel.strip("/") for rel in skip).encode("utf-8")
    argv = list(prefix or []) + [rsync_bin] + BASE_ARGS + extra + ["--", src.rstrip("/") + "/", dst.rstrip("/") + "/"]
    if status:
        status.write(force=True, phase=phase, bytes_done=0, bytes_total=total_bytes, percent=0, rate=None)
    proc = _start(argv, feed)
    watchdog = Watchdog(deadline, [proc])
    err_lines = []
    drain = drain_lines(proc.stderr, err_lines)  # many "vanished" warnings must not block rsync on stderr
    tail = _follow(proc, phase, status, total_bytes)
    rc = proc.wait()
    drain.join(10)
    watchdog.check("during an rsync pass from %s to %s" % (src, dst))
    err = "\n".join(err_lines)
    seconds = time.time() - started
    stats = parse_stats("\n".join(tail))
    stats["seconds"] = round(seconds, 3)
    stats["rc"] = rc
    stats["skipped_dirs"] = len(skip or [])
    stats["engine"] = "rsync"
    stats["command"] = argv
    if status:
        status.write(force=True, phase=phase, bytes_done=stats.get("bytes_transferred"),
                     bytes_total=total_bytes, percent=100 if rc in (0, VANISHED) else None)
    if rc == 0 or (rc == VANISHED and allow_vanished):
        return stats
    if "No space left on device" in err or "ENOSPC" in err:
        raise CopyError("the copy to %s ran out of space: %s" % (dst, _last_lines(err)))
    raise CopyError("rsync from %s to %s failed (rc=%d): %s" % (src, dst, rc, _last_lines(err)))


def _last_lines(text, n=5):
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-n:])


def rsync_version(rsync_bin="rsync"):
    try:
        out = subprocess.run([rsync_bin, "--version"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             check=False).stdout.decode("utf-8", "replace")
    except OSError:
        return None
    m = re.search(r"version\s+(\d+\.\d+\.\d+)", out)
    return m.group(1) if m else None


def flush(path):
    """Write the dirty pages of PATH's filesystem to disk (syncfs(2), or sync(2) where syncfs is missing)."""
    started = time.time()
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(path, os.O_RDONLY)
        try:
            if libc.syncfs(fd) != 0:
                os.sync()
        finally:
            os.close(fd)
    except (OSError, AttributeError):
        os.sync()
    return time.time() - started


TAR_CREATE = ["tar", "--sparse", "--xattrs", "--xattrs-include=*", "--acls", "--numeric-owner",
              "--one-file-system", "-cf", "-"]
TAR_EXTRACT = ["tar", "--xattrs", "--xattrs-include=*", "--acls", "--numeric-owner", "-xpf", "-"]


def is_empty_dir(path):
    try:
        return not os.listdir(path)
    except OSError:
        return not os.path.exists(path)


def _written(pid):
    """Bytes a process has written so far (``wchar`` of /proc/PID/io), or None when unknown."""
    try:
        with open("/proc/%d/io" % pid) as f:
            for line in f:
                if line.startswith("wchar:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def drain_lines(stream, keep):
    """Read a child's stderr to its end in a thread, keeping the last lines, so the child never blocks on it."""
    def run():
        for raw in iter(stream.readline, b""):
            keep.append(raw.decode("utf-8", "replace").rstrip("\n"))
            del keep[:-50]
    t = threading.Thread(target=run)
    t.daemon = True
    t.start()
    return t


_TOTAL = re.compile(r"^Total bytes written: (\d+)")


def _watch_tar(create, extract, phase, status, total_bytes, interval, started):
    """Wait for the tar pipe to end, writing its progress to STATUS; returns the bytes seen written."""
    done = 0
    nap = 0.01
    while create.poll() is None or extract.poll() is None:
        nap = min(interval, nap * 2)  # look early (a small tree is copied in a blink), then every interval
        try:
            extract.wait(timeout=nap)  # returns the moment the copy ends
        except subprocess.TimeoutExpired:
            pass
        seen = _written(create.pid) if create.returncode is None else None
        if seen is not None:
            done = max(done, seen)
        if done > 0:
            if phase == "online_copy":
                _testhooks.reached("during_online_copy")
            if status:
                elapsed = max(time.time() - started, 0.001)
                pct = min(100, int(done * 100 / total_bytes)) if total_bytes else None
                status.write(phase=phase, bytes_done=done, bytes_total=total_bytes, percent=pct,
                             rate="%.2fMB/s" % (done / elapsed / 1e6))
    return done


def tar_argvs(src, dst, prefix=None):
    """The two commands of the tar pipe, each under PREFIX (a CPU and I/O priority)."""
    return (list(prefix or []) + TAR_CREATE + ["--totals", "-C", src, "."],
            list(prefix or []) + TAR_EXTRACT + ["-C", dst])


def tar_copy(src, dst, status=None, phase="copy", allow_changed=False, total_bytes=None, interval=0.5,
             prefix=None, deadline=None):
    """A first copy into an empty directory through a tar pipe (pax: hard links, xattrs incl. trusted.*,
    ACLs, holes, numeric owners, nanosecond times), much faster than rsync on many small files.
    The two tars are joined by a kernel pipe (no copy through Python); progress is read from the bytes the
    first has written (/proc/PID/io).  rsync passes follow for the delta.  The pipe cannot be held to a
    bandwidth limit: a throttled move makes its first copy with rsync (Passes.copy_one)."""
    if not os.path.isdir(dst):
        os.makedirs(dst, 0o711)
    started = time.time()
    if status:
        status.write(force=True, phase=phase, bytes_done=0, bytes_total=total_bytes, percent=0, rate=None)
    argv_c, argv_x = tar_argvs(src, dst, prefix)
    create = subprocess.Popen(argv_c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True)
    try:
        extract = subprocess.Popen(argv_x, stdin=create.stdout, stderr=subprocess.PIPE, close_fds=True)
    except OSError:
        create.kill()
        create.wait()
        raise
    create.stdout.close()  # the extracting tar holds the read end; the creating one gets SIGPIPE if it dies
    watchdog = Watchdog(deadline, [create, extract])
    err_c, err_x = [], []
    threads = [drain_lines(create.stderr, err_c), drain_lines(extract.stderr, err_x)]
    done = _watch_tar(create, extract, phase, status, total_bytes, interval, started)
    for t in threads:
        t.join(10)
    watchdog.check("during the tar copy from %s to %s (%d bytes copied)" % (src, dst, done))
    rc_c, rc_x = create.returncode, extract.returncode
    for line in err_c:
        m = _TOTAL.match(line)
        if m:
            done = int(m.group(1))
    err_c = [line for line in err_c if not _TOTAL.match(line)]
    stats = {"engine": "tar", "bytes_transferred": done, "seconds": round(time.time() - started, 3),
             "rc": rc_c or rc_x, "command": argv_c + ["|"] + argv_x}
    if status:
        status.write(force=True, phase=phase, bytes_done=done, bytes_total=total_bytes, percent=100)
    # tar exits 1 when a file changed while it was read: expected while Docker runs; the rsync passes mend it.
    if rc_x == 0 and (rc_c == 0 or (rc_c == 1 and allow_changed)):
        return stats
    err = "\n".join(err_x or err_c).strip()
    if "No space left on device" in err:
        raise CopyError("the copy to %s ran out of space: %s" % (dst, _last_lines(err)))
    raise CopyError("the tar copy from %s to %s failed (create rc=%d, extract rc=%d): %s" % (
        src, dst, rc_c, rc_x, _last_lines(err)))


# A dry run that compares contents (not times): what it would change is what the copy lacks.
CHECK_ARGS = ["-rlpgoDHAXS", "--numeric-ids", "--one-file-system", "--delete", "--dry-run", "--itemize-changes",
              "--checksum"]


def differences(src, dst, exclude=(), rsync_bin="rsync"):
    """The entries in which DST is not an exact copy of SRC (contents, types, links, owners, modes, ACLs,
    extended attributes, entries missing or extra; EXCLUDE left out), as rsync itemises them; empty when DST is
    complete.  A CopyError when rsync cannot tell."""
    argv = [rsync_bin] + CHECK_ARGS + ["--exclude=%s" % e for e in exclude]
    proc = subprocess.run(argv + ["--", src.rstrip("/") + "/", dst.rstrip("/") + "/"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False, env=rsync_env())
    out = proc.stdout.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise CopyError("checking the copy %s against %s failed (rsync rc=%d): %s" % (
            dst, src, proc.returncode, proc.stderr.decode("utf-8", "replace").strip()[-500:]))
    return [line for line in out.splitlines() if line.strip()]
