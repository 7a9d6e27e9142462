# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""How a service is pointed at its moved data root.  Internal to dockyard.migrate.

Two strategies, each knowing how to plan, apply, check, verify and undo itself,
so that no other part of the relocation asks which one it holds:

- ``BindSwitch``: an ``/etc/fstab`` bind line from the target onto the old
  path, which stays where the service looks (Docker's root, or containerd's).
  The original is renamed aside first, so nothing hides under the mount.
- ``DaemonJsonSwitch``: ``data-root`` in Docker's daemon.json; the original is
  renamed aside only once the move is verified.

Every method takes the move and a context ``ctx`` with ``opts`` (the
Options), ``journal`` (the marker), ``host`` (_systemd.Systemd) and ``runner``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _daemon_json, _disk, _fstab, _mount_sources, _mountinfo, _testhooks)
from ansible_collections.dockyard.migrate.plugins.module_utils._move import Move, RelocationError
from ansible_collections.dockyard.migrate.plugins.module_utils._switch import (
    Switch, backup_name, drop_empty, note_for, put_back, set_aside_again, set_aside_hidden, unbind, unmount_all,
    unstage)


# Docker before this major version formats its root into the path of its layer database (image/<driver>/layerdb),
# so a % in a data-root named by daemon.json leaves it with no images (measured: 20.10 does, 26.1 does not).
PERCENT_SAFE_MAJOR = 26


def read_daemon_json(host, path):
    """(data, text, exists) of daemon.json at PATH, read through HOST (_daemon_json.load's answer)."""
    if not host.exists(path):
        return {}, "", False
    text = host.read_text(path)
    return _daemon_json.parse(text, path), text, True


def _major(version):
    """The major number of a Docker version text ("20.10.24+dfsg1" -> 20); 0 when it has none."""
    head = str(version).split(".", 1)[0]
    return int(head) if head.isdigit() else 0


class BindSwitch(Switch):
    kind = "bind"

    def service_root(self, move):
        return move.mount_point

    def is_applied(self, move, ctx, mounts, daemon_json_data):
        """Bound now, and fstab's only line for the mount point binds the target (a stale line for the
        mount point, such as an old disk's UUID=, would win at the next boot)."""
        lines = _fstab.entries_for(_fstab.parse(ctx.host.read_text(ctx.opts.fstab, default="")), move.mount_point)
        return _mountinfo.same_bind(mounts, move.target, move.mount_point) and bool(lines) and \
            all(_fstab.is_bind_of(line, move.target) for line in lines)

    def warnings(self, move, opts, fstab_text=""):
        out = []
        for line in _fstab.entries_for(_fstab.parse(fstab_text), move.mount_point):
            if not _fstab.is_bind_of(line, move.target):
                out.append("%s line %d (%s) mounts %s from elsewhere but is not what Docker uses now; the move "
                           "keeps it as a comment and writes the bind line after it" % (
                               opts.fstab, line.lineno, line.raw.strip(), move.mount_point))
        return out

    def refuse_conflicts(self, move, facts, opts):
        if facts["config"]["daemon_json_data_root"]:
            raise RelocationError(
                "daemon.json sets data-root to %s; a bind mount over it would leave two places naming the root. "
                "Use method daemon_json, or remove data-root from %s and restart Docker first" % (
                    facts["config"]["daemon_json_data_root"], opts.daemon_json), "preflight")

    def preflight(self, host, move, mounts, fstab_text=""):
        here = _mountinfo.mount_at(mounts, move.mount_point)
        if here is None:
            return
        if here.root in ("/", ""):
            if not move.disk:  # a rerun continuing a recorded plan knows it already (fstab may be switched)
                move.disk = self.original_disk(host, move, here, fstab_text)
            return
        b = _mountinfo.bind_source(mounts, move.mount_point)
        if b is not None and _mountinfo.same_bind(mounts, move.target, move.mount_point):
            others = [line for line in _fstab.entries_for(_fstab.parse(fstab_text), move.mount_point)
                      if not _fstab.is_bind_of(line, move.target)]
            raise RelocationError(
                "%s is bound from %s already, but fstab %s: %s; remove or comment %s and run again" % (
                    move.mount_point, move.target,
                    "holds other lines for it, which would mount something else at the next boot" if others else
                    "holds no line for it, so the next boot would not mount it",
                    "; ".join("line %d (%s)" % (x.lineno, x.raw.strip()) for x in others) or "add the bind line",
                    "them" if others else "nothing"), "preflight")
        if b is not None:
            raise RelocationError(
                "%s is already a bind mount of %s; move it back first (playbooks/rollback_docker_root.yml) "
                "before binding another directory there" % (move.mount_point, b.get("source_path") or b["root"]),
                "preflight")

    @staticmethod
    def original_disk(host, move, here, fstab_text):
        """The root is the mount point of a filesystem of its own: the move replaces that disk's fstab line by
        the bind line and leaves the disk unmounted.  Returns what a rollback needs to mount it again."""
        what = "%s is the mount point of its own filesystem (%s, %s)" % (move.mount_point, here.source, here.fstype)
        try:
            line = _fstab.disk_entry(_fstab.parse(fstab_text), move.mount_point)
        except _fstab.FstabError as exc:
            raise RelocationError("%s, and %s; give it one fstab line by UUID=, LABEL= or device path (or move it "
                                  "by hand)" % (what, exc), "preflight")
        if line.fstype not in ("auto", here.fstype):
            raise RelocationError("%s, but its fstab line %d (%s) mounts a %s filesystem there; fix the line or the "
                                  "mount first" % (what, line.lineno, line.raw.strip(), line.fstype), "preflight")
        if here.fstype in ("tmpfs", "ramfs"):
            raise RelocationError("%s, which keeps nothing across a reboot; nothing there can be rolled back to"
                                  % what, "preflight")
        found = _disk.devices_for(host, line.src)
        if len(found) != 1 or not _disk.is_device(host, here, found[0]):
            raise RelocationError("%s, but its fstab line %d (%s) names %s, not the device mounted there (%s); a "
                                  "rollback would mount another disk: fix the line or the mount first" % (
                                      what, line.lineno, line.raw.strip(), ", ".join(found) or "no device",
                                      here.major_minor), "preflight")
        uuid = _disk.fs_uuid(host, found[0])
        if not uuid:
            raise RelocationError("%s, and its filesystem has no UUID to know it again by; give it one (tune2fs -U "
                                  "or xfs_admin -U) or move it by hand" % what, "preflight")
        return {"line": line.raw.strip(), "src": line.src, "fstype": here.fstype, "opts": line.opts,
                "device": here.source, "major_minor": here.major_minor, "uuid": uuid}

    def plan_texts(self, move, planned):
        planned["fstab"], changed = _fstab.set_entry(planned["fstab"], move.target, move.mount_point, "none", "bind",
                                                     disable_note=note_for(move))
        planned["fstab_changed"] = planned.get("fstab_changed") or changed

    def describe(self, move, opts):
        if move.disk:
            return ["replace the fstab line %s by %s %s none bind 0 0 (the old line kept as a comment)" % (
                move.disk["line"], move.target, move.mount_point),
                "unmount the original disk %s from %s (its contents are kept) and bind-mount %s there" % (
                    move.disk["device"], move.mount_point, move.target)]
        return ["move %s aside to %s.dockyard-backup-STAMP" % (move.source, move.source),
                "write the fstab line %s %s none bind 0 0 and mount it" % (move.target, move.mount_point)]

    def apply(self, move, ctx):
        text = ctx.host.read_text(ctx.opts.fstab, default="")
        lines, changed = _fstab.set_entry(_fstab.parse(text), move.target, move.mount_point, "none", "bind",
                                          disable_note=note_for(move))
        if changed:
            if not ctx.journal.get("fstab_backup") and ctx.host.exists(ctx.opts.fstab):
                ctx.journal["fstab_backup"] = ctx.host.backup_file(ctx.opts.fstab, ctx.journal.stamp)
                ctx.journal.save()
            ctx.host.write_file(ctx.opts.fstab, _fstab.render(lines), mode=0o644, config=True)
            ctx.host.daemon_reload()  # systemd's mount units follow fstab
        _testhooks.reached("switch_after_fstab")
        mounts = ctx.host.mountinfo()
        if _mountinfo.same_bind(mounts, move.target, move.mount_point):
            set_aside_hidden(move, ctx)  # a boot mounted the line before the original was set aside
            return
        if move.disk:
            # A mount point cannot be renamed aside: the original disk is unmounted (never emptied) instead.
            unmount_all(ctx, move.mount_point)
            _testhooks.reached("switch_after_unmount")
        # Move the original aside so nothing hides under the mount.
        elif ctx.host.isdir(move.source) and not ctx.host.islink(move.source) and \
                _mountinfo.mount_at(mounts, move.source) is None and ctx.host.listdir(move.source):
            st = ctx.host.stat(move.source)
            move.backup = backup_name(move, ctx.journal.stamp)
            ctx.journal.save()
            ctx.host.rename(move.source, move.backup)
            _testhooks.reached("switch_after_move_aside")
            ctx.host.mkdir(move.source)
            ctx.host.chmod(move.source, st.st_mode & 0o7777)
            ctx.host.chown(move.source, st.st_uid, st.st_gid)
        elif not ctx.host.isdir(move.source):
            ctx.host.makedirs(move.source, 0o711)
        try:
            ctx.host.bind_mount(move.target, move.mount_point)
        except RelocationError as exc:
            raise RelocationError(str(exc), "switch")
        if not _mountinfo.same_bind(ctx.host.mountinfo(), move.target, move.mount_point):
            raise RelocationError("after mounting, %s does not show %s" % (move.mount_point, move.target), "switch")

    def serves_target(self, move, ctx, mounts):
        """The bind mounted now (from fstab at boot, or left by a killed run)."""
        return _mountinfo.same_bind(mounts, move.target, move.mount_point)

    def verify(self, move, mounts):
        if not _mountinfo.same_bind(mounts, move.target, move.mount_point):
            raise RelocationError("%s is not bound from %s" % (move.mount_point, move.target), "verify")

    def set_aside(self, move, ctx):
        """The original went aside when the bind was applied."""

    def undo(self, move, ctx):
        """Rollback: unmount the bind and put the original back where it was.  An original disk is proved to be
        that disk before the bind is lifted: a disk that is not (reused, its filesystem remade) leaves Docker's
        root bound to the new one."""
        if move.disk:
            mounts = ctx.host.mountinfo()
            if not any(_disk.disk_mounted_at(ctx.host, move, mounts, p)
                       for p in (_disk.staging_path(move), move.mount_point)):
                _disk.disk_device(ctx.host, move, mounts, "rollback")
        unbind(ctx, move.target, move.mount_point)
        if move.disk:
            unstage(ctx, move)
            _disk.mount_disk(move, ctx, move.mount_point)
        if move.backup and ctx.host.isdir(move.backup):
            drop_empty(ctx.host, move.source)
            if not ctx.host.exists(move.source):
                ctx.host.rename(move.backup, move.source)
                move.backup = None

    def after_stop(self, move, ctx):
        """state=restored, Docker stopped: the bind stays until it is switched back."""

    def switch_back(self, move, ctx, before):
        """state=restored: drop the bind, put the kept original back, then drop the fstab line.  Each step is
        skipped when done, so a restore killed part way finishes on a rerun.  The original is in place before
        the line goes: at any moment, a boot mounts either the moved root or finds the original."""
        mounts = ctx.host.mountinfo()
        while _mountinfo.mount_at(mounts, move.mount_point) is not None and \
                not (move.disk and _disk.disk_mounted_at(ctx.host, move, mounts, move.mount_point)):
            ctx.host.run(["umount", move.mount_point])
            mounts = ctx.host.mountinfo()
        if move.disk:
            self.disk_back(move, ctx)
            return
        put_back(move, ctx.host)
        _testhooks.reached("restore_after_put_back")
        lines, changed = _fstab.remove_entry(_fstab.parse(ctx.host.read_text(ctx.opts.fstab, default="")),
                                             move.mount_point)
        if changed:
            ctx.host.write_file(ctx.opts.fstab, _fstab.render(lines), mode=0o644, config=True)
            ctx.host.daemon_reload()

    @staticmethod
    def disk_back(move, ctx):
        """state=restored of a root that was its own disk: the disk leaves its copy-back mount, its fstab line is
        put back in place of the bind line, and it is mounted on the root again."""
        unstage(ctx, move)
        lines, changed = _fstab.enable_disk_line(_fstab.parse(ctx.host.read_text(ctx.opts.fstab, default="")),
                                                 move.mount_point, move.disk["line"])
        if changed:
            ctx.host.write_file(ctx.opts.fstab, _fstab.render(lines), mode=0o644, config=True)
            ctx.host.daemon_reload()
        _testhooks.reached("restore_after_put_back")
        _disk.mount_disk(move, ctx, move.mount_point)

    def reapply_prepare(self, move, ctx):
        """A failed or interrupted state=restored: set the original aside again before the moved root is mounted
        back (when it was put back under the bind, the bind is lifted first).  An original disk is unmounted."""
        if move.disk:
            unstage(ctx, move)
            if _disk.disk_mounted_at(ctx.host, move, ctx.host.mountinfo(), move.mount_point):
                unmount_all(ctx, move.mount_point)
            return
        if _mountinfo.same_bind(ctx.host.mountinfo(), move.target, move.mount_point):
            if not move.backup or ctx.host.exists(move.backup):
                return
            mounts = ctx.host.mountinfo()
            while _mountinfo.mount_at(mounts, move.mount_point) is not None:
                ctx.host.run(["umount", move.mount_point])
                mounts = ctx.host.mountinfo()
        set_aside_again(move, ctx.host, stand_in=True)

    def reapply_finish(self, move, ctx):
        if not _mountinfo.same_bind(ctx.host.mountinfo(), move.target, move.mount_point):
            ctx.host.run(["mount", "-o", "bind", "--", move.target, move.mount_point])


class DaemonJsonSwitch(Switch):
    kind = "daemon_json"

    def service_root(self, move):
        return move.target

    def is_applied(self, move, ctx, mounts, daemon_json_data):
        return os.path.normpath(_daemon_json.data_root(daemon_json_data) or "") == move.target

    def refuse_conflicts(self, move, facts, opts):
        bind = facts["config"]["bind"]
        if bind and bind.get("active"):
            raise RelocationError(
                "the data root %s is a bind mount of %s; switching it to the daemon_json method is not "
                "supported: roll back the bind first" % (facts["root"], bind["source"]), "preflight")
        version = facts["engine"].get("version")
        if "%" in move.target and version and _major(version) < PERCENT_SAFE_MAJOR:
            raise RelocationError(
                "path %s holds a %% sign, and Docker %s builds the path of its layer database with that root as a "
                "format string: started on it, it would find none of its images. Choose a path without %%, use "
                "method bind (Docker's root stays %s), or upgrade Docker to %d or later" % (
                    move.target, version, move.source, PERCENT_SAFE_MAJOR), "preflight")

    def preflight(self, host, move, mounts, fstab_text=""):
        """A root that is a disk of its own moves by the bind method only."""
        here = _mountinfo.mount_at(mounts, move.source)
        if here is not None and here.root in ("/", ""):
            raise RelocationError(
                "%s is the mount point of its own filesystem (%s, %s): with data-root in daemon.json that disk would "
                "stay mounted there, and named by fstab, holding a stale copy of the root. Use method bind, which "
                "replaces its fstab line by a bind line and unmounts it (a rollback mounts it again)" % (
                    move.source, here.source, here.fstype), "preflight")

    def warnings(self, move, opts, fstab_text=""):
        return []

    def plan_texts(self, move, planned):
        new = _daemon_json.with_data_root(planned["daemon_json"], move.target)
        planned["daemon_json_changed"] = planned.get("daemon_json_changed") or new != planned["daemon_json"]
        planned["daemon_json"] = new

    def describe(self, move, opts):
        return ["set data-root to %s in %s" % (move.target, opts.daemon_json)]

    def apply(self, move, ctx):
        path = ctx.opts.daemon_json
        data, _text, exists = read_daemon_json(ctx.host, path)
        new = _daemon_json.with_data_root(data, move.target)
        # Served from the target from now on: the volume paths its containers recorded follow (a rerun that
        # copied the original over them again rewrites them again).
        if move.name == "docker" and _mount_sources.rebase(ctx.host, move.target, move.source, move.target):
            ctx.actions.append("pointed the volume paths recorded by containers at %s" % move.target)
        if new == data:
            return
        if exists and not ctx.journal.get("daemon_json_backup"):
            ctx.journal["daemon_json_backup"] = ctx.host.backup_file(path, ctx.journal.stamp)
            ctx.journal.save()
        if not ctx.host.isdir(os.path.dirname(path)):
            ctx.host.makedirs(os.path.dirname(path), 0o755)
        ctx.host.write_file(path, _daemon_json.render(new), mode=0o644, config=True)

    def serves_target(self, move, ctx, mounts):
        """data-root in daemon.json names the target now; None when the file cannot be read."""
        try:
            data = read_daemon_json(ctx.host, ctx.opts.daemon_json)[0]
        except (_daemon_json.DaemonJsonError, OSError, ValueError):
            return None
        return self.is_applied(move, ctx, mounts, data)

    def verify(self, move, mounts):
        """Docker's own report of its root (checked by the transaction) is the proof."""

    def set_aside(self, move, ctx):
        """Once verified, the original is renamed to its backup name (a bind move did that at the switch).  A
        name recorded by a run killed before its rename is renamed to now; an original already there is never
        renamed over."""
        if move.backup and ctx.host.lexists(move.backup):
            return
        if ctx.host.isdir(move.source) and _mountinfo.mount_at(ctx.host.mountinfo(), move.source) is None:
            if not move.backup:
                move.backup = backup_name(move, ctx.journal.stamp)
                ctx.journal.save()
            ctx.host.rename(move.source, move.backup)

    def undo(self, move, ctx):
        """Rollback: daemon.json is restored with the other files.  The original moves only once the move is
        verified (set_aside): a rollback from there (a window that started Docker on the new root, rolled back
        by a rerun) puts it back first, refusing to rename over anything at its path."""
        if move.backup and ctx.host.isdir(move.backup):
            put_back(move, ctx.host)

    def after_stop(self, move, ctx):
        ctx.host.drop_self_bind(move.target)

    def switch_back(self, move, ctx, before):
        path = ctx.opts.daemon_json
        data, _text, _exists = read_daemon_json(ctx.host, path)
        old = _daemon_json.parse(before.get(path, ""), path)
        new = _daemon_json.without_data_root(data)
        if _daemon_json.data_root(old):
            new["data-root"] = _daemon_json.data_root(old)
        put_back(move, ctx.host)
        _testhooks.reached("restore_after_put_back")
        if move.name == "docker" and _mount_sources.rebase(ctx.host, move.source, move.target, move.source):
            ctx.actions.append("pointed the volume paths recorded by containers back at %s" % move.source)
        if new != data:
            ctx.host.write_file(path, _daemon_json.render(new), mode=0o644, config=True)

    def reapply_prepare(self, move, ctx):
        """daemon.json is written back with the other files; an original put back goes aside again."""
        set_aside_again(move, ctx.host, stand_in=False)

    def reapply_finish(self, move, ctx):
        """Nothing to mount."""


SWITCHES = {"bind": BindSwitch, "daemon_json": DaemonJsonSwitch}


def make(kind):
    return SWITCHES[kind]()


def move_from_dict(d):
    return Move(d["name"], d["source"], d["target"], make(d["switch"]), d.get("mount_point"), d.get("backup"),
                d.get("disk"))
