# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Image archives and their sidecar manifests.  Internal to the dockyard.migrate collection.

An archive written by this collection has a sidecar ``ARCHIVE.json`` with its
sha256, compression, size, the images it holds (IDs, tags, sizes) and when it
was made.  Reading checks the sidecar first, so a truncated, flipped or
swapped archive is refused before anything is loaded.  Everything streams:
no archive is read whole into memory.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import hashlib
import json
import lzma
import os
import shutil
import stat
import subprocess
import tarfile
import time

from ansible_collections.dockyard.migrate.plugins.module_utils import _fileops

CHUNK = 1024 * 1024
MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\xfd7zXZ\x00", "xz"),
)
SIDECAR_FORMAT = "dockyard.migrate/image-archive/1"
# Archives and sidecars hold image and container configurations, whose environment often carries credentials:
# only their owner reads them unless told otherwise.
DEFAULT_MODE = 0o600


class ArchiveError(Exception):
    pass


def parse_mode(value):
    """The permission bits of an archive and its sidecar from the ``mode`` option, or ArchiveError naming it.

    An octal string (V('0600'), V('640')) or a number as YAML reads an unquoted 0600 (384).  Only the
    permission bits (no setuid, setgid or sticky bit), and the owner must be able to read the files (a rerun
    verifies them).
    """
    if value is None:
        return DEFAULT_MODE
    if isinstance(value, bool):
        raise ArchiveError("mode %r is not an octal mode such as '0600'" % (value,))
    if isinstance(value, int):
        mode = value
    else:
        text = str(value).strip()
        digits = text[2:] if text[:2] in ("0o", "0O") else text
        if not digits or len(digits) > 4 or any(c not in "01234567" for c in digits):
            raise ArchiveError("mode %r is not an octal mode such as '0600' (symbolic modes are not taken)"
                               % (value,))
        mode = int(digits, 8)
    if mode < 0 or mode > 0o777:
        raise ArchiveError("mode %r is not a permission mode from 0000 to 0777 (an unquoted 600 in YAML is the "
                           "number 600, octal 01130: write '0600' in quotes)" % (value,))
    if not mode & 0o400:
        raise ArchiveError("mode %s does not let the owner read the archive and its sidecar, which a rerun "
                           "verifies" % format_mode(mode))
    return mode


def format_mode(mode):
    return None if mode is None else "%04o" % mode


def file_mode(path):
    """The permission bits of path, or None when it does not exist."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None


def sidecar_path(archive):
    return archive + ".json"


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def detect_compression(path):
    """gzip, zstd, xz, or none (a plain tar); ArchiveError for anything else."""
    with open(path, "rb") as f:
        head = f.read(512)
    for magic, name in MAGIC:
        if head.startswith(magic):
            return name
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "none"
    raise ArchiveError("%s is neither a tar archive nor gzip, zstd or xz compressed" % path)


def zstd_path():
    """The zstd command's full path on the host, or None."""
    return shutil.which("zstd")


def zstd_available():
    return zstd_path() is not None


class _ProcReader:
    """A file-like reader over a decompressing child process (zstd has no stdlib module)."""

    def __init__(self, argv, path):
        self.src = open(path, "rb")
        self.proc = subprocess.Popen(argv, stdin=self.src, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def read(self, size=-1):
        return self.proc.stdout.read(size)

    def close(self):
        self.proc.stdout.close()
        err = self.proc.stderr.read().decode("utf-8", "replace")
        rc = self.proc.wait()
        self.src.close()
        if rc != 0:
            raise ArchiveError("decompressing failed: %s" % err.strip())


def open_plain(path, compression=None):
    """A readable stream of the uncompressed tar."""
    compression = compression or detect_compression(path)
    if compression == "gzip":
        return gzip.open(path, "rb")
    if compression == "xz":
        return lzma.open(path, "rb")
    if compression == "zstd":
        if not zstd_available():
            raise ArchiveError("%s is zstd compressed but zstd is not installed on this host" % path)
        return _ProcReader([zstd_path(), "-dc", "-q"], path)
    return open(path, "rb")


def safe_member(name):
    """Refuse member names that could become host paths outside the archive's own tree."""
    if name.startswith("/") or name.split("/")[0] == ".." or "/../" in name or name.endswith("/..") \
            or "\x00" in name:
        raise ArchiveError("the archive holds an unsafe member name %r" % name)
    return name


def read_save_manifest(path, compression=None):
    """The images a ``docker save`` archive holds: [{config, id, tags, layers}], read as a stream."""
    stream = open_plain(path, compression)
    manifest = None
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                safe_member(member.name)
                if member.name in ("manifest.json", "./manifest.json") and member.isfile():
                    manifest = json.loads(tar.extractfile(member).read().decode("utf-8"))
    except (tarfile.TarError, EOFError, OSError, ValueError, lzma.LZMAError) as exc:
        raise ArchiveError("%s cannot be read as an image archive: %s" % (path, exc))
    finally:
        try:
            stream.close()
        except ArchiveError:
            if manifest is not None:
                raise
    if manifest is None:
        raise ArchiveError("%s holds no manifest.json: it is not a docker save archive" % path)
    out = []
    for entry in manifest:
        config = entry.get("Config", "")
        digest = os.path.basename(config).replace(".json", "")
        out.append({"config": config, "id": "sha256:" + digest, "tags": sorted(entry.get("RepoTags") or []),
                    "layers": entry.get("Layers") or []})
    return out


def write_sidecar(archive, images, compression, digest=None, kind="docker-save", extra=None, mode=DEFAULT_MODE):
    data = {"format": SIDECAR_FORMAT, "kind": kind, "archive": os.path.basename(archive),
            "sha256": digest or sha256_file(archive), "size": os.path.getsize(archive),
            "compression": compression, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "images": images}
    if extra:
        data.update(extra)
    _fileops.atomic_write(sidecar_path(archive), json.dumps(data, indent=2, sort_keys=True) + "\n", mode=mode,
                          keep_mode=False)
    return data


def modes_to_fix(archive, mode):
    """The archive and its sidecar when their permission bits are not ``mode``."""
    return [p for p in (archive, sidecar_path(archive)) if file_mode(p) not in (None, mode)]


def set_modes(paths, mode):
    for path in paths:
        os.chmod(path, mode)


def read_sidecar(archive):
    path = sidecar_path(archive)
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            data = json.load(f)
    except ValueError as exc:
        raise ArchiveError("the sidecar %s is not valid JSON: %s" % (path, exc))
    if not isinstance(data, dict) or data.get("format") != SIDECAR_FORMAT or "sha256" not in data:
        raise ArchiveError("%s is not a dockyard.migrate sidecar (format %r)" % (path, (data or {}).get("format")))
    return data


def verify(archive, sidecar=None):
    """Check the archive against its sidecar; returns the sidecar (or None when there is none)."""
    sidecar = sidecar if sidecar is not None else read_sidecar(archive)
    if sidecar is None:
        return None
    size = os.path.getsize(archive)
    if sidecar.get("size") is not None and size != sidecar["size"]:
        raise ArchiveError("%s is %d bytes but its sidecar says %d: the archive is truncated or was changed"
                           % (archive, size, sidecar["size"]))
    digest = sha256_file(archive)
    if digest != sidecar["sha256"]:
        raise ArchiveError("%s does not match its sidecar: sha256 %s, the sidecar says %s; the archive is "
                           "damaged or was changed" % (archive, digest, sidecar["sha256"]))
    return sidecar


class HashingWriter:
    """Writes to a file through an optional compressor, hashing what reaches the disk."""

    def __init__(self, path, compression="none", level=None):
        self.path = path
        self.compression = compression
        self.sha = hashlib.sha256()
        self.raw = open(path, "wb")
        self.proc = None
        self.gz = None
        if compression == "gzip":
            self.gz = gzip.GzipFile(fileobj=self, mode="wb", compresslevel=level or 6, mtime=0)
        elif compression == "zstd":
            if not zstd_available():
                raise ArchiveError("compression zstd needs the zstd command on the host")
            self.proc = subprocess.Popen([zstd_path(), "-q", "-c", "-T0", "-%d" % (level or 3)], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            import threading
            self.pump = threading.Thread(target=self._pump)
            self.pump.daemon = True
            self.pump.start()
        elif compression != "none":
            raise ArchiveError("compression %r is not one of none, gzip, zstd" % compression)

    def _pump(self):
        for chunk in iter(lambda: self.proc.stdout.read(CHUNK), b""):
            self._disk(chunk)

    def _disk(self, data):
        self.sha.update(data)
        self.raw.write(data)

    # file protocol for GzipFile
    def write(self, data):
        self._disk(data)
        return len(data)

    def flush(self):
        self.raw.flush()

    def feed(self, data):
        if self.gz is not None:
            self.gz.write(data)
        elif self.proc is not None:
            self.proc.stdin.write(data)
        else:
            self._disk(data)

    def close(self):
        if self.gz is not None:
            self.gz.close()
        if self.proc is not None:
            self.proc.stdin.close()
            self.pump.join()
            err = self.proc.stderr.read().decode("utf-8", "replace")
            if self.proc.wait() != 0:
                self.raw.close()
                raise ArchiveError("zstd failed: %s" % err.strip())
        self.raw.flush()
        os.fsync(self.raw.fileno())
        self.raw.close()
        return self.sha.hexdigest()
