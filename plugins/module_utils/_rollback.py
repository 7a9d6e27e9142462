# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Walking a relocation back.  Internal to dockyard.migrate.

A collaborator of the relocation (_transaction.Relocation) and of the restore
(_restore.Restore): the rollback (the switches' undo, the files' original texts
from the journal, Docker started first), and the copy back of what Docker
wrote on the new root before a rollback.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import os
import time

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _copy, _daemon_json, _disk, _fstab, _mount_sources, _mountinfo, _passes, _switch, _systemd, _testhooks,
    _units)
from ansible_collections.dockyard.migrate.plugins.module_utils._move import Move, RelocationError


# In the name of the directory beside a root where a copy back keeps what it replaced or deleted there.
COPYBACK_MARK = ".dockyard-copyback-"


def copyback_dir(copy_move, mounts, now):
    """(where the copy back of COPY_MOVE keeps what it replaces or deletes, where that directory is once the root
    is in service, the copy's extra rsync options).  Beside the root it lands on; inside it, at its top, when
    that root is a filesystem's mount point (an original disk, mounted beside its root for the copy): beside
    it would be the filesystem beneath, usually the system disk, and every file would be copied there.  At
    the top of the root, the copy leaves every such directory where it is."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(now))
    dest = copy_move.target
    if _mountinfo.mount_at(mounts, dest) is None:
        keep = "%s%s%s" % (dest, COPYBACK_MARK, stamp)
        return keep, keep, []
    name = COPYBACK_MARK + stamp
    home = copy_move.mount_point if dest == _disk.staging_for(copy_move.mount_point) else dest
    return os.path.join(dest, name), os.path.join(home, name), ["--exclude=/%s*" % COPYBACK_MARK]


class FailedForward(RelocationError):
    """Docker served from the new root and what it wrote there could not be carried back: Docker is left
    serving from the new root."""


class Rollback:
    """The rollback of CTX (a _run.Run): its WINDOW (_window.Window) holds and starts Docker, its
    VERIFICATION (_verify.Verification) checks the inventory once Docker is back."""

    def __init__(self, ctx, window, verification):
        self.ctx = ctx
        self.window = window
        self.verification = verification

    # ------------------------------------------------------------ rollback
    def refused_in_window(self, exc):
        """A rerun that cannot continue the window a killed run left open (the host changed meanwhile) rolls
        that window back, so that the refusal never leaves Docker stopped."""
        if self.ctx.journal.done("start"):
            raise RelocationError("%s; the interrupted move had started Docker on the new root, so its window is not "
                                  "rolled back blindly: see %s" % (exc, self.ctx.journal.path), "preflight",
                                  rolled_back=False)
        try:
            self.roll_back()
        except Exception as rb_exc:
            raise RelocationError("%s; the window of the interrupted move (Docker stopped since phase %s) could "
                                  "not be rolled back either: %s" % (exc, self.ctx.journal.phase, rb_exc), "preflight",
                                  rolled_back=False)
        raise RelocationError("%s; the interrupted move was rolled back instead: Docker serves from %s again" % (
            exc, self.ctx.moves[0].source), "preflight", rolled_back=True)

    def roll_back(self):
        """Walk back what the window did and start Docker on the original root.  Docker is started before
        anything is written to the journal, and those writes are best-effort: the journal sits on the target
        disk, which may be the full disk that failed the move."""
        served = self.must_copy_back()
        self.ctx.actions.append("rolling back")
        # A run killed from here on is finished by the next run, which must not take the window for a move's; a
        # copy back under way is recorded as not finished (an earlier one may have finished before Docker wrote
        # there again).
        stale = served and self.ctx.journal.get("copied_back")
        if not self.ctx.journal.try_save(phase="rollback", served=served, **({"copied_back": False} if served else {})) \
                and stale:
            self.keep_both("%s cannot be written to record the copy back this rollback needs (it says an earlier "
                           "one finished)" % self.ctx.journal.path)
        try:
            self.window.hold_units(best_effort=True)
        except RelocationError as exc:  # the units were held for the window already; never a reason to stop here
            self.ctx.actions.append("could not mask Docker's units for the rollback: %s" % exc)
        try:
            self.ctx.host.stop_docker(with_containerd=self.ctx.with_containerd)
        except RelocationError:
            pass
        if served:
            self.copy_back()
            self.ctx.journal.try_save(copied_back=True)
        try:
            self.walk_back()
        except Exception as exc:
            raise RelocationError(self.start_anyway("the rollback stopped: %s" % exc))
        self.window.release_units()
        self.window.start_and_wait(self.ctx.moves, "Docker did not start on the original root")
        if not self.ctx.journal.try_save(phase="rolled_back",
                                         phases_done=self.ctx.journal.keep_only_phases("record", "online_copy")):
            # A marker left saying the window is open would have a later run continue a move that is over.
            self.ctx.actions.append("could not write %s (rolled back all the same); %s" % (
                self.ctx.journal.path, "removed it" if self.ctx.journal.discard() else "it still names the window"))
        if self.ctx.journal.get("inventory"):
            _inv, problems, _started = self.verification.settle(self.ctx.journal["inventory"])
            if problems:
                raise RelocationError("after the rollback the inventory differs: %s" % "; ".join(problems[:5]))
        self.ctx.actions.append("rolled back to %s" % self.ctx.moves[0].source)

    def served_in_window(self, resuming):
        """Whether a killed run's window, not resumed, had Docker started on the new root (recorded before the
        start) with nothing copied back since."""
        return bool(self.ctx.journal.in_window and not resuming and self.ctx.journal.get("served")
                    and not self.ctx.journal.get("copied_back"))

    def roll_back_served_window(self):
        """A killed run's window in which Docker was started on the new root (the journal's served, recorded
        before the start), whose switch the host no longer shows (daemon.json rewritten, the drop-in removed by
        hand) and that cannot be resumed.  Walking it again from the stop would copy the original over what
        Docker wrote on the new root: it is rolled back instead, deciding from the host (what Docker wrote on the
        new root is copied back; when Docker has run on another root since, both roots are kept and the run
        stops).  Returns whether it rolled back (the move is then made again); check mode only says so."""
        self.ctx.result["changed"] = True
        why = ("Docker was started on %s in the window of an interrupted run and the host no longer points it "
               "there" % self.ctx.moves[0].target)
        if self.ctx.check_mode:
            self.ctx.actions.append("%s: roll that window back (what Docker wrote there copied back first), then "
                                    "move again" % why)
            return False
        in_way = [m for m in self.ctx.moves if _switch.path_taken(m, self.ctx.host)]
        if in_way:  # the original was set aside, and something made its path since: never renamed over
            self.keep_both("%s; the original was set aside as %s, and %s was made since (Docker makes a new root "
                           "where data-root no longer points it)" % (
                               why, ", ".join(m.backup for m in in_way), ", ".join(m.source for m in in_way)))
        self.ctx.actions.append("%s: rolling that window back" % why)
        self.finish_rollback()
        return True

    def must_copy_back(self):
        """Whether what Docker wrote on the new root must be copied back onto the original before the switch is
        undone (served_since_record), and only ever from a new root a final copy finished: one holding the
        sentinel the switch writes after the final copy (a later copy pass deletes it).  Otherwise both roots
        are kept and nothing is changed (keep_both)."""
        served = self.served_since_record()
        missing = [m.target for m in self.ctx.moves
                   if not self.ctx.host.exists(os.path.join(m.target, _systemd.SENTINEL_NAME))]
        if served and missing:
            self.keep_both("Docker may have written on %s, but it lacks %s, the mark a finished final copy leaves: "
                           "it may be a partial copy, which must not be copied over the original" % (
                               ", ".join(missing), _systemd.SENTINEL_NAME))
        return served

    def served_since_record(self):
        """Whether Docker may have written on the new root what the original lacks, decided from the host.  Yes
        when this run started Docker there (or tried to: a start that fails may have let containers write); when
        Docker answers now, or started since the journal's last write, with the host giving it the new root (a
        reboot mounts fstab's bind again and lifts the masks); when an earlier run recorded that Docker served
        there and no copy back finished since, and Docker has not run since.  When Docker ran since on the
        original while such writes were never copied back, or the host does not tell where it ran, both roots
        are kept (keep_both)."""
        if self.ctx.served_new_root:
            return True
        recorded = bool(self.ctx.journal.get("served")) and not self.ctx.journal.get("copied_back")
        answering = self.ctx.client.ping()
        if not (answering or self.ctx.host.started_since(**self.ctx.journal.since())):
            if recorded and self.ctx.journal.get("boot_id") not in (None, self.ctx.host.boot_id()) and \
                    not self.dropins_hold():
                # A start in a boot between is not seen from this one, and nothing kept it on the new root.
                self.keep_both("Docker was started on %s by an interrupted run in an earlier boot (%s), and with the "
                               "drop-in changed since nothing kept it off %s in a boot between, where what it wrote "
                               "cannot be seen from this boot" % (
                                   self.ctx.moves[0].target, self.ctx.journal.path, self.ctx.moves[0].source))
            return recorded
        there = self.host_serves_target(answering)
        if there is None:
            self.keep_both("Docker ran since %s was last written and the host does not tell on which root (%s "
                           "cannot be read)" % (self.ctx.journal.path, self.ctx.opts.daemon_json))
        if there:
            self.ctx.actions.append("Docker ran since %s was last written, on %s: what it wrote there is copied "
                                    "back" % (self.ctx.journal.path, self.ctx.moves[0].target))
            return True
        if recorded:
            self.keep_both("what Docker wrote on %s when an interrupted run served it there was never copied back, "
                           "and Docker has run on %s since (%s is older than the host): each root may hold writes "
                           "the other lacks" % (self.ctx.moves[0].target, self.ctx.moves[0].source,
                                                self.ctx.journal.path))
        return False

    def dropins_hold(self):
        """Whether every move's drop-in is as the move wrote it: Docker can then have started on the new roots
        only."""
        return all(_systemd.same_dropin(self.ctx.host.dropin(m.name), _systemd.dropin_for(m, self.ctx.opts.daemon_json))
                   for m in self.ctx.moves)

    def host_serves_target(self, answering):
        """Whether the host gives Docker the new root now: the root a running Docker reports (daemon_json), the
        bind mounted, data-root naming it; None when that cannot be read."""
        docker = self.ctx.moves[0]
        if answering and docker.switch.kind == "daemon_json":
            return os.path.normpath(self.ctx.client.info().get("DockerRootDir") or "") == docker.target
        mounts = self.ctx.host.mountinfo()
        answers = [m.switch.serves_target(m, self.ctx, mounts) for m in self.ctx.moves]
        return None if None in answers else any(answers)

    def keep_both(self, problem):
        """Stop with both roots as they are: nothing copied, nothing switched.  A Docker that is down is started
        where the host points it now (best effort), and the message says where it serves."""
        where = "Docker runs"
        if not self.ctx.client.ping():
            try:
                self.window.release_units()
                self.window.start_and_wait(self.ctx.moves, "Docker did not answer")
                where = "Docker was started where the host points it"
            except Exception as exc:  # the message names the operator's step either way
                where = "Docker is stopped (it could not be started: %s)" % exc
        raise RelocationError(
            "%s. Nothing was copied and both roots are kept; %s. Compare them (rsync -aHAXn --itemize-changes "
            "%s/ %s/), carry what the root Docker is to serve lacks onto it with Docker stopped, then remove %s and "
            "run again" % (problem, where, self.ctx.moves[0].target, self.ctx.moves[0].source, self.ctx.journal.path),
            "preflight", rolled_back=False)

    def finish_rollback(self):
        """A run killed inside its rollback: finish that rollback (each step is skipped when done), copying back
        whatever the host shows Docker wrote on the new root (must_copy_back)."""
        self.roll_back()
        self.ctx.actions.append("finished the rollback of an interrupted run; moving again")

    def walk_back(self):
        """Undo each switch, then put the files the switch changed back as the journal froze them."""
        texts = self.ctx.journal.get("texts_before") or {}
        for m in self.ctx.moves:
            m.switch.undo(m, self.ctx)
            try:
                self.ctx.host.unlabel(m.source, m.target)
            except RelocationError as exc:  # a label left behind must not keep Docker down
                self.ctx.actions.append("could not remove the SELinux equivalence: %s" % exc)
        _testhooks.reached("rollback_after_undo")
        after = self.ctx.journal.get("texts_after") or {}
        for path, keep_empty in ((self.ctx.opts.fstab, True), (self.ctx.opts.daemon_json, False)):
            now = self.ctx.host.read_text(path, default="")
            if path not in texts or now == texts[path] or after.get(path, now) == texts[path]:
                continue  # as it was, or a file the switch did not change (an edit since is kept)
            text = texts[path]
            if path not in after or now != after[path]:  # edited since the switch: only the move's lines go
                try:
                    edited = self.undone(path, now, texts[path])
                    # A journal without the text the switch left (a run killed before it recorded it): an
                    # edit shows as a difference beyond the move's own lines.
                    if path in after or edited != self.undone(path, texts[path], texts[path]):
                        text = edited
                        self.ctx.actions.append("%s was edited after the switch: the move's own changes were taken "
                                                "back and the edits kept" % path)
                except (ValueError, _daemon_json.DaemonJsonError, _fstab.FstabError) as exc:
                    self.ctx.actions.append("%s was edited after the switch and cannot be read (%s): put back as "
                                            "it was before the move, the edited text kept as %s" % (
                                                path, exc, self.ctx.host.backup_file(path)))
            self.ctx.host.restore_file(path, text, keep_empty=keep_empty)
        for m in self.ctx.moves:
            self.ctx.host.restore_file(_systemd.dropin_path(m.name), texts.get(_systemd.dropin_path(m.name), ""))
        self.ctx.host.daemon_reload()
        _testhooks.reached("rollback_after_files")

    def undone(self, path, now, before):
        """The text NOW of fstab or daemon.json (PATH) with what the moves changed taken back and the rest as it
        is: their bind lines dropped and the lines they kept as comments in force again; data-root as it was
        BEFORE."""
        if path == self.ctx.opts.fstab:
            lines = _fstab.parse(now)
            for m in self.ctx.moves:
                if m.switch.kind == "bind":
                    lines = _fstab.undo_entry(lines, m.target, m.mount_point, _fstab.parse(before))[0]
                    if m.disk:  # the disk's own line back in force, also when an edit removed its comment
                        lines = _fstab.enable_disk_line(lines, m.mount_point, m.disk["line"])[0]
            return _fstab.render(lines)
        new = _daemon_json.without_data_root(_daemon_json.parse(now, path))
        old = _daemon_json.data_root(_daemon_json.parse(before, path))
        if old:
            new["data-root"] = old
        return _daemon_json.render(new)

    def unbind_over(self, back, unbound):
        """The copies of BACK whose destination is hidden under a bind of their source (a rollback killed after
        it put the original back, then a boot that mounted fstab's bind line over it): with Docker stopped the
        bind is lifted, so that the copy reaches the original instead of the new root through the bind.  Each is
        added to UNBOUND as soon as its bind is lifted (it is mounted again should the copy fail)."""
        for m in back:
            if not _switch.bound(self.ctx.host.mountinfo(), m.source, m.target):
                continue
            unbound.append(m)
            _switch.unbind(self.ctx, m.source, m.target)
            self.ctx.actions.append("lifted the bind of %s over the original %s to copy back onto it" % (
                m.source, m.target))

    def start_anyway(self, problem):
        """A step of the rollback failed: Docker is started all the same, wherever the host now points it (the
        drop-in's sentinel keeps it off an empty stand-in), and the message says where it serves from."""
        try:
            self.window.release_units()
            self.window.start_and_wait(self.ctx.moves, "Docker did not answer")
            mounts = self.ctx.host.mountinfo()
            if any(m.switch.serves_target(m, self.ctx, mounts) is not False for m in self.ctx.moves):
                # Its containers write there from now on: a rerun copies that back before it undoes anything.
                self.ctx.journal.try_save(served=True, copied_back=False)
            where = "Docker was started all the same and serves from %s" % self.ctx.client.info().get("DockerRootDir")
        except Exception as exc:
            where = "Docker could not be started: %s" % exc
        return "%s; %s" % (problem, where)

    def copy_back(self, back=None, serve=None, served=None, where="the new root", roots=None):
        """Docker served from the new root before the failure: what its containers wrote there is copied back
        onto the original (a delta: the original was an exact copy when Docker stopped) before the switch is
        undone, as state=restored does.  When that cannot be done, Docker is started again where it served
        (FailedForward): nothing written is thrown away.

        BACK are the copies to make (from where Docker served onto where it goes back to), SERVE the moves to
        start Docker with when they fail, SERVED the paths Docker served from; by default those of a rollback.
        ROOTS, one per copy, are the path Docker served that copy's source from and the path it will serve the
        destination from: the volume paths containers recorded are moved from one to the other (_mount_sources)."""
        serve = serve or self.ctx.moves
        served = served or [m.service_root for m in self.ctx.moves]
        roots = roots or [(m.service_root, m.source) for m in self.ctx.moves]
        unbound = []
        try:
            back = back or [Move(m.name, m.target, _switch.original_home(m, self.ctx), m.switch, m.mount_point)
                            for m in self.ctx.moves]
            host = self.ctx.host
            host.check_stopped(host.window_units(self.ctx.with_containerd), host.stop_timeout)
            for path in served:
                left = self.ctx.host.wait_quiet(path, self.ctx.host.stop_timeout)
                if left:
                    raise RelocationError("mounts remain under %s: %s" % (path, ", ".join(left[:5])))
            for m in back:
                self.ctx.host.drop_self_bind(m.source)
            self.unbind_over(back, unbound)
            secs = moved = 0
            keeps = []
            mounts = self.ctx.host.mountinfo()
            for m in back:
                # Nothing is destroyed where the copy lands: what it replaces or deletes there is kept in a
                # directory on the same filesystem (moved there, not copied).
                keep, final, extra = copyback_dir(m, mounts, self.ctx.host.time())
                keeps.append((keep, final))
                opts = copy.copy(self.ctx.opts)
                # The sentinel stays where it is: on the original it would let the drop-in start Docker there.
                opts.rsync_opts = list(self.ctx.opts.rsync_opts) + ["--backup", "--backup-dir=%s" % keep,
                                                                    "--exclude=/%s" % _systemd.SENTINEL_NAME] + extra
                s, b = _passes.Passes(opts, [m], self.ctx.status, self.ctx.result, host=self.ctx.host).run(
                    "copy_back", False)
                secs, moved = secs + s, moved + b
            if len(roots) != len(back):
                raise RelocationError("copy_back: %d copies but %d pairs of roots" % (len(back), len(roots)))
            for m, (old_root, new_root) in zip(back, roots):
                if m.name == "docker":
                    _mount_sources.rebase(self.ctx.host, m.target, old_root, new_root)
        except (RelocationError, _copy.CopyError, OSError) as exc:
            for m in unbound:  # Docker goes back where it served: the bind it served through first
                try:
                    self.ctx.host.run(["mount", "--bind", m.source, m.target])
                except RelocationError as mount_exc:
                    exc = RelocationError("%s; the bind of %s over %s could not be mounted again either (%s)" % (
                        exc, m.source, m.target, mount_exc))
            self.window.release_units(quietly=True)  # a failing unmask must not keep Docker from being started
            self.window.start_and_wait(serve, "%s; and Docker did not start where it served either" % exc)
            raise FailedForward(str(exc))
        self.ctx.actions.append("copied what Docker wrote on %s back onto %s (%s in %.1f s)" % (
            where, ", ".join(m.target for m in back), _units.human(moved), secs))
        self.note_copybacks([final for keep, final in keeps if self.ctx.host.isdir(keep)])

    def note_copybacks(self, keeps):
        """The directories KEEPS where a copy back put what it replaced or deleted: reported (copyback_kept), and
        recorded in the journal, where state=cleaned finds them once the move they belong to has soaked."""
        if not keeps:
            return
        recorded = list(self.ctx.journal.get("copybacks") or [])
        recorded += [k for k in keeps if k not in recorded]
        self.ctx.journal.try_save(copybacks=recorded)
        self.ctx.result["copyback_kept"] = sorted(set(self.ctx.result.get("copyback_kept", []) + keeps))
        self.ctx.actions.append("what the copy back replaced or deleted is kept in %s (state=cleaned removes it "
                                "with the kept original once the move has soaked)" % ", ".join(keeps))
