# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A switch's contract, and what the switches share.  Internal to dockyard.migrate.

``Switch`` states what every way of pointing a service at its moved root
implements (_switches.BindSwitch, _switches.DaemonJsonSwitch); the functions
below put an original back at its path or aside again, unmount what is over a
path, and name the notes and backups the switches leave.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import abc
import os
import time

from ansible_collections.dockyard.migrate.plugins.module_utils import _disk, _fstab, _mountinfo
from ansible_collections.dockyard.migrate.plugins.module_utils._move import RelocationError


NOTE = "the data root moved; see the bind line below"


def disk_note():
    return _fstab.disk_note(time.strftime("%Y-%m-%d"))


def note_for(move):
    """The note beside the fstab line a bind move comments out: an old disk's names the day it was left."""
    return disk_note() if move.disk else NOTE


def unmount_all(ctx, path):
    mounts = ctx.host.mountinfo()
    while _mountinfo.mount_at(mounts, path) is not None:
        ctx.host.run(["umount", path])
        mounts = ctx.host.mountinfo()


def unstage(ctx, move):
    """The original disk's mount beside its root (_disk.staging_path) undone: unmounted, its empty mount point
    removed."""
    staging = _disk.staging_path(move)
    unmount_all(ctx, staging)
    drop_empty(ctx.host, staging)


def bound(mounts, src, path):
    """Whether PATH is a mount point, bound from SRC, in MOUNTS."""
    return _mountinfo.mount_at(mounts, path) is not None and _mountinfo.same_bind(mounts, src, path)


def unbind(ctx, src, path):
    """Unmount every bind of SRC stacked on PATH (a boot and a rerun may each have mounted it)."""
    while bound(ctx.host.mountinfo(), src, path):
        ctx.host.run(["umount", path])


def set_aside_all_hidden(ctx):
    """An original a killed run left under the bind is set aside first, whole, before anything may roll the
    window back (which puts the backup back in place): every move's, whether or not another's failed.  Returns
    the errors that stopped it (joined in one), or None: then nothing is rolled back (an original is split),
    and Docker is still started on the new root before the run fails.  A move with no bind over its source
    has nothing hidden."""
    errors = []
    for m in ctx.moves:  # each move's original, also when another's could not be set aside
        try:
            set_aside_hidden(m, ctx)
        except (RelocationError, OSError) as exc:
            errors.append(exc)
    if len(errors) > 1:
        return RelocationError("; ".join(str(e) for e in errors), "source")
    return errors[0] if errors else None


def set_aside_hidden(move, ctx):
    """An original left under the bind of its target: a run killed between writing fstab's bind line and setting
    the original aside, then a boot that mounted the line.  Docker ran on the target since (it holds everything);
    the original, stale and hidden, is what a rollback and the cleanup need, and it holds the space.  Its entries
    are moved, through a view beneath the bind, into the backup directory beside it (renames on its own
    filesystem: Docker may keep running), and the directory under the bind is left as the empty stand-in.  A kill
    part way is finished by the next run (the journal names the backup).  Returns whether anything was moved."""
    if move.disk or not bound(ctx.host.mountinfo(), move.target, move.source):
        return False
    if move.backup and ctx.host.lexists(move.backup) and not ctx.journal.get("hidden_set_aside"):
        return False  # set aside by the switch itself: the directory under the bind is its own stand-in
    with ctx.host.view_beneath(move.source) as under:
        if not ctx.host.isdir(under) or ctx.host.islink(under) or not ctx.host.listdir(under):
            return False
        if not ctx.journal.get("hidden_set_aside"):
            # A name the switch recorded but never renamed to (killed in between) is taken as it is.
            move.backup = move.backup or backup_name(move, ctx.journal.stamp)
            ctx.journal["hidden_set_aside"] = True
            ctx.journal.save()
        aside = os.path.join(os.path.dirname(under), os.path.basename(move.backup))
        st = ctx.host.stat(under)
        if not ctx.host.isdir(aside):
            ctx.host.mkdir(aside, 0o700)
        ctx.host.chmod(aside, st.st_mode & 0o7777)  # also after a kill between the mkdir and here
        ctx.host.chown(aside, st.st_uid, st.st_gid)
        names = sorted(ctx.host.listdir(under))
        for name in names:
            if ctx.host.lexists(os.path.join(aside, name)):
                raise RelocationError(
                    "the original %s left under the bind of %s holds %s, and the backup %s holds an entry of that "
                    "name too: neither is overwritten. %s is the new root (through the bind); the hidden original is "
                    "reached by binding %s at a directory D of your choice (mount --bind %s D, not recursive) and "
                    "looking at D/%s. Compare the two, keep one, and run again" % (
                        move.source, move.target, name, move.backup, move.source, os.path.dirname(move.source),
                        os.path.dirname(move.source), os.path.join(os.path.basename(move.source), name)), "source")
            ctx.host.rename(os.path.join(under, name), os.path.join(aside, name))
        ctx.host.fsync_dir(under)
        ctx.host.fsync_dir(aside)
    ctx.actions.append("set aside the original %s, left under the bind of %s by an interrupted run, as %s (%d "
                       "entries)" % (move.source, move.target, move.backup, len(names)))
    return True


def original_home(move, ctx):
    """Where what Docker wrote on the moved root is copied back to before a rollback: the kept original, or the
    original in place; an original disk is mounted beside the mount point for it when the bind is there."""
    if move.disk:
        if _disk.disk_mounted_at(ctx.host, move, ctx.host.mountinfo(), move.mount_point):
            return move.mount_point
        staging = _disk.staging_path(move)
        _disk.mount_disk(move, ctx, staging)
        return staging
    return move.backup if move.backup_kept(ctx.host) else move.source


def backup_name(move, stamp):
    return "%s.dockyard-backup-%s" % (move.source, stamp)


def drop_empty(host, path):
    if host.isdir(path) and not host.listdir(path):
        host.rmdir(path)


def path_taken(move, host):
    """Whether a daemon_json move's kept original cannot be renamed back: something that is not an empty stand-in
    took its path since it was set aside (Docker, started there with data-root unset, makes a new root)."""
    return bool(move.switch.kind == "daemon_json" and move.backup_kept(host) and host.lexists(move.source)
                and not (host.isdir(move.source) and not host.listdir(move.source)))


def put_back(move, host):
    """state=restored: the kept original back at its path (an empty stand-in there is removed first).  Done
    already when the backup is gone and the original is in place."""
    if move.backup and host.isdir(move.backup):
        drop_empty(host, move.source)
        if host.exists(move.source):
            raise RelocationError("%s is in the way of the kept original %s (it is not empty)" % (
                move.source, move.backup), "switch")
        host.rename(move.backup, move.source)
        host.fsync_dir(os.path.dirname(move.source))
    elif not host.isdir(move.source):
        raise RelocationError("neither the kept original %s nor %s exists" % (move.backup, move.source), "switch")


def set_aside_again(move, host, stand_in):
    """Undo put_back: the original goes back to its backup name (with an empty STAND_IN directory in its place,
    for a bind to be mounted on; made by the next run when a kill came between the rename and the directory)."""
    if move.backup and not host.exists(move.backup) and host.isdir(move.source) and host.listdir(move.source):
        host.rename(move.source, move.backup)
        host.fsync_dir(os.path.dirname(move.source))
    if stand_in and move.backup and host.isdir(move.backup) and not host.exists(move.source):
        st = host.stat(move.backup)
        host.mkdir(move.source)
        host.chmod(move.source, st.st_mode & 0o7777)
        host.fsync_dir(os.path.dirname(move.source))


class Switch(abc.ABC):
    """How a service is pointed at a moved root, and back.  Every method takes the MOVE (a _move.Move) and, where
    it acts on the host, the run context CTX (_run.Run: ``opts``, ``journal``, ``host``, ``runner``, ``mover``)."""

    kind = None

    @abc.abstractmethod
    def service_root(self, move):
        """The path the service reads its root from once switched."""

    # ------------------------------------------------------------ plan (nothing changes)
    @abc.abstractmethod
    def refuse_conflicts(self, move, facts, opts):
        """Raise a preflight RelocationError when the host's configuration conflicts with this switch."""

    @abc.abstractmethod
    def preflight(self, host, move, mounts, fstab_text=""):
        """Raise a preflight RelocationError when this move cannot be switched on this host."""

    @abc.abstractmethod
    def warnings(self, move, opts, fstab_text=""):
        """What the user should know before the move (a list of texts)."""

    @abc.abstractmethod
    def plan_texts(self, move, planned):
        """PLANNED (path -> text of the files the switch changes) with this move's change made."""

    @abc.abstractmethod
    def describe(self, move, opts):
        """The plan's steps for this switch, as texts (check mode)."""

    # ------------------------------------------------------------ the move
    @abc.abstractmethod
    def apply(self, move, ctx):
        """Point the service at the target (Docker stopped, the copy done)."""

    @abc.abstractmethod
    def is_applied(self, move, ctx, mounts, daemon_json_data):
        """Whether the host is switched to the target now (read from the host, not the journal)."""

    @abc.abstractmethod
    def serves_target(self, move, ctx, mounts):
        """Whether the host, as it is configured now, gives the service the target as its root whenever it
        starts (whatever the journal says): what a rerun reads to tell which root Docker wrote to since.  None
        when the host's configuration cannot be read."""

    @abc.abstractmethod
    def verify(self, move, mounts):
        """Raise a verify RelocationError when the switch is not in effect (Docker running on it)."""

    @abc.abstractmethod
    def set_aside(self, move, ctx):
        """Once verified: the original under its backup name, when the switch left it in place."""

    @abc.abstractmethod
    def after_stop(self, move, ctx):
        """With Docker stopped before a restore: what must not stay mounted over the roots."""

    # ------------------------------------------------------------ back
    @abc.abstractmethod
    def undo(self, move, ctx):
        """Rollback of a failed move: the switch taken back (the files follow from the journal)."""

    @abc.abstractmethod
    def switch_back(self, move, ctx, before):
        """state=restored: the service pointed at the original again, the files as BEFORE recorded them."""

    @abc.abstractmethod
    def reapply_prepare(self, move, ctx):
        """A failed restore, first step: the original aside again before the moved root goes back in service."""

    @abc.abstractmethod
    def reapply_finish(self, move, ctx):
        """A failed restore, last step: the switch to the moved root made again."""
