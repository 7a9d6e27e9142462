# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Facts about the filesystem under a path.  Internal to the dockyard.migrate collection.

Whether overlay2 can live there: the filesystem must return d_type in
directory entries (xfs only with ``ftype=1``), must not be an overlay itself,
and must not be a network filesystem.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ctypes
import ctypes.util
import os
import shutil
import tempfile

from ansible_collections.dockyard.migrate.plugins.module_utils import _mountinfo

NETWORK_FS = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "fuse.sshfs", "glusterfs", "ceph",
              "afs", "lustre")
NO_OVERLAY_FS = ("overlay", "aufs", "ecryptfs")
DT_UNKNOWN = 0


def existing_ancestor(path):
    """path itself when it exists, else its nearest existing parent."""
    path = os.path.abspath(path)
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


class _Dirent64(ctypes.Structure):
    _fields_ = [("d_ino", ctypes.c_uint64), ("d_off", ctypes.c_int64),
                ("d_reclen", ctypes.c_ushort), ("d_type", ctypes.c_ubyte),
                ("d_name", ctypes.c_char * 256)]


_LIBC = []  # the C library, loaded once: find_library runs ldconfig in a child process at every call


def _libc():
    if not _LIBC:
        name = ctypes.util.find_library("c") or "libc.so.6"
        libc = ctypes.CDLL(name, use_errno=True)
        libc.opendir.restype = ctypes.c_void_p
        libc.opendir.argtypes = [ctypes.c_char_p]
        libc.readdir64.restype = ctypes.POINTER(_Dirent64)
        libc.readdir64.argtypes = [ctypes.c_void_p]
        libc.closedir.argtypes = [ctypes.c_void_p]
        _LIBC.append(libc)
    return _LIBC[0]


def dir_types(directory):
    """Map of entry name to its d_type as readdir returns it (None when unreadable)."""
    try:
        libc = _libc()
    except (OSError, AttributeError):
        return None
    d = libc.opendir(os.fsencode(directory))
    if not d:
        return None
    out = {}
    try:
        while True:
            ent = libc.readdir64(d)
            if not ent:
                break
            name = ent.contents.d_name.decode("utf-8", "replace")
            if name not in (".", ".."):
                out[name] = ent.contents.d_type
    finally:
        libc.closedir(d)
    return out


def supports_d_type(path):
    """True/False when d_type support could be tested under path, None when it could not.

    Creates a scratch directory with one file in path's nearest existing
    directory and reads it back, as dockerd does.  Nothing is left behind,
    and that directory's times are put back as they were.
    """
    base = existing_ancestor(path)
    if not os.path.isdir(base):
        base = os.path.dirname(base)
    try:
        times = os.stat(base)
        scratch = tempfile.mkdtemp(prefix=".dockyard-dtype-", dir=base)
    except OSError:
        return None
    try:
        return _probe_d_type(scratch)
    finally:
        try:
            os.utime(base, ns=(times.st_atime_ns, times.st_mtime_ns))
        except OSError:
            pass


def _probe_d_type(scratch):
    """Whether a file made in SCRATCH is listed with its type (None when it cannot be told); SCRATCH is removed."""
    try:
        open(os.path.join(scratch, "probe"), "w").close()
        types = dir_types(scratch)
        if types is None or "probe" not in types:
            return None
        return types["probe"] != DT_UNKNOWN
    finally:
        try:
            os.unlink(os.path.join(scratch, "probe"))
        except OSError:
            pass
        os.rmdir(scratch)


def xfs_ftype(xfs_info_output):
    """ftype from ``xfs_info`` output, or None."""
    for token in xfs_info_output.replace(",", " ").split():
        if token.startswith("ftype="):
            try:
                return int(token.split("=", 1)[1])
            except ValueError:
                return None
    return None


def describe(path, entries=None, probe_dtype=True):
    """Mount point, device, type, size and free space of the filesystem holding path."""
    entries = entries if entries is not None else _mountinfo.read()
    where = existing_ancestor(path)
    m = _mountinfo.mount_containing(entries, where)
    out = {"path": path, "exists": os.path.exists(path), "checked_path": where,
           "mount_point": m.mount_point if m else None,
           "device": m.source if m else None,
           "major_minor": m.major_minor if m else None,
           "fstype": m.fstype if m else None,
           "mount_root": m.root if m else None,
           "mount_options": m.options if m else None}
    try:
        sv = os.statvfs(where)
        out.update({"size_bytes": sv.f_blocks * sv.f_frsize,
                    "free_bytes": sv.f_bavail * sv.f_frsize,
                    "used_bytes": (sv.f_blocks - sv.f_bfree) * sv.f_frsize,
                    "inodes_free": sv.f_favail})
    except OSError:
        out.update({"size_bytes": None, "free_bytes": None, "used_bytes": None, "inodes_free": None})
    out["network_fs"] = bool(m and (m.fstype in NETWORK_FS or m.fstype.startswith("nfs")))
    out["d_type"] = supports_d_type(where) if probe_dtype else None
    return out


def overlay2_verdict(fs, xfs_ftype_value=None):
    """(ok, reason) on whether overlay2 can keep its layers on this filesystem."""
    fstype = fs.get("fstype") or "unknown"
    if fs.get("network_fs"):
        return False, "%s is a network filesystem (%s); overlay2 needs a local one" % (
            fs.get("mount_point"), fstype)
    if fstype in NO_OVERLAY_FS:
        return False, "%s is %s; overlay2 cannot stack on it" % (fs.get("mount_point"), fstype)
    if fstype == "xfs" and xfs_ftype_value == 0:
        return False, "%s is xfs formatted with ftype=0; overlay2 needs ftype=1" % fs.get("mount_point")
    if fs.get("d_type") is False:
        return False, "%s does not return d_type in directory entries" % fs.get("mount_point")
    if fs.get("d_type") is None:
        return True, "d_type could not be tested on %s (%s)" % (fs.get("mount_point"), fstype)
    return True, "%s (%s) supports d_type" % (fs.get("mount_point"), fstype)


def xfs_ftype_of(runner, fs):
    """The ftype of the xfs filesystem FS (as describe gives it), from xfs_info run through RUNNER; None when it is
    not xfs or cannot be told."""
    if fs.get("fstype") != "xfs" or not shutil.which("xfs_info"):
        return None
    rc, out, _err = runner(["xfs_info", fs["mount_point"]])
    return xfs_ftype(out) if rc == 0 else None


def filesystem_facts(runner, path, mounts):
    """describe(PATH), with the xfs ftype and whether overlay2 can live there (overlay2_ok, overlay2_reason)."""
    fs = describe(path, mounts)
    fs["xfs_ftype"] = xfs_ftype_of(runner, fs)
    ok, reason = overlay2_verdict(fs, fs["xfs_ftype"])
    fs["overlay2_ok"] = ok
    fs["overlay2_reason"] = reason
    return fs
