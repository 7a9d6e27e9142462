# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One run of data_root: its context, built once and passed to every part.  Internal to dockyard.migrate.

``Run`` holds what a run is given (the options, the Docker client, the command
runner, the host (_host.Host: every side effect goes through it), the journal, the progress status, check mode, the
clock at its start) and what it builds up (the moves, whether Docker served the
new root and since when, the actions, the result, the diff).  The module builds
it with ``Run.build``; a test builds it with its own parts.  The operations
(_transaction.Relocation, _restore.Restore, _cleanup.Cleanup) and their
collaborators (_window.Window, _verify.Verification, _rollback.Rollback) read
and write it; none of them keeps run state of its own.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _copy, _journal, _passes, _rollback, _systemd, _verify, _window)
from ansible_collections.dockyard.migrate.plugins.module_utils._move import RelocationError
from ansible_collections.dockyard.migrate.plugins.module_utils._options import OptionError, Options


def new_result():
    return {"changed": False, "actions": [], "bytes_copied": 0, "files_copied": 0, "online_copy_seconds": 0.0,
            "offline_copy_seconds": 0.0, "downtime_seconds": 0.0, "fingerprint_before": None,
            "fingerprint_after": None, "original": None, "phases": [], "passes": []}


class Run:
    """The context of one run.  ``runner(argv) -> (rc, out, err)``; ``mover(tmp, path)`` puts configuration
    files in place (AnsibleModule.atomic_move in the module)."""

    def __init__(self, opts, client, runner, host, journal, status, check_mode=False, now=None, mover=None,
                 facts=None, moves=None):
        self.opts = opts
        self.client = client
        self.runner = runner
        self.host = host
        self.journal = journal
        self.status = status
        self.check_mode = check_mode
        self.now = now or host.time()
        # host.time() at which time_limit ends: an online pass is cut there, and the window is entered only
        # with the time to finish it.
        self.deadline = self.now + int(opts.time_limit) if opts.time_limit else None
        self.mover = mover
        self.facts = facts  # () -> the host's facts (by default the host's own gather())
        self.moves = list(moves or [])  # the moves planned (or continued): set by the operation's plan
        if moves:
            self.journal.moves = self.moves
        self.served_since = None  # when Docker was started on the new root
        self.served_new_root = False  # whether a start on the new root was tried (it may have written there)
        self.apart = {"new": [], "removed": []}  # containers made or removed meanwhile: reported
        self.result = new_result()
        self.actions = self.result["actions"]
        self.diff = {"before": {}, "after": {}}

    @classmethod
    def build(cls, params, client, runner, check_mode=False, mover=None, now=None):
        """The run the module makes from its parameters, with the real host."""
        opts = Options(params)
        host = _systemd.Systemd(runner, client, opts.stop_timeout, mover)
        return cls(opts, client, runner, host, _journal.Journal(opts.target or "/", check_mode, host),
                   _copy.Status(opts.status_file), check_mode=check_mode, now=now, mover=mover)

    @property
    def passes(self):
        return _passes.Passes(self.opts, self.moves, self.status, self.result, self.deadline, self.host)

    @property
    def with_containerd(self):
        return any(m.name == "containerd" for m in self.moves)

    def gather(self):
        if self.facts:
            return self.facts()
        return self.host.gather(self.opts.daemon_json, self.opts.fstab)


def refused(exc, ctx):
    """Whether EXC (a RelocationError) ended CTX's run as a refusal: a preflight check that stopped it before it
    changed anything on the host (the host noted no change), neither a rollback nor the walk back of a window an
    earlier run left.  The role skips such a host with migrate_on_refusal=skip; anything else is a failure."""
    return exc.phase == "preflight" and exc.rolled_back is None and not ctx.host.changes


class Operation:
    """One state of data_root (moved, restored, cleaned) run over CTX (a Run).  The operations are peers; each
    has the same collaborators, built here from CTX: the WINDOW (Docker's units), the VERIFICATION (Docker's
    inventory) and the ROLLBACK."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.window = _window.Window(ctx)
        self.verification = _verify.Verification(ctx)
        self.rollback = _rollback.Rollback(ctx, self.window, self.verification)

    def run(self):
        try:
            self.ctx.opts.validate()
        except OptionError as exc:
            raise RelocationError(str(exc), "preflight")
        lock = self.ctx.host.lock(self.ctx.check_mode)
        try:
            return self._run()
        finally:
            # Every way out unmasks what this run, or a killed run before it, masked.
            self.window.release_units(quietly=True)
            if lock is not None:
                lock.close()

    def _run(self):
        raise NotImplementedError
