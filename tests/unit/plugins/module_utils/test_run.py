# -*- coding: utf-8 -*-
"""The run context (_run.Run) and the Window collaborator built on it."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _move, _run, _switches, _systemd
from ansible_collections.dockyard.migrate.plugins.module_utils._move import RelocationError

from fake_host import FakeHost, context  # pylint: disable=import-error


def test_the_module_builds_one_context_with_the_real_host_and_no_run_state_in_the_options(tmp_path):
    ctx = _run.Run.build({"target": str(tmp_path / "t"), "time_limit": 600, "status_file": None}, client=None,
                         runner=lambda argv: (0, "", ""), now=1000.0)
    assert isinstance(ctx.host, _systemd.Systemd)
    assert ctx.deadline == 1600.0 and not hasattr(ctx.opts, "deadline")
    assert ctx.journal.path == str(tmp_path / ".t.dockyard-migrate.json")
    assert ctx.result["actions"] is ctx.actions and ctx.moves == []
    assert _run.Run.build({"target": str(tmp_path / "t")}, None, None).deadline is None


def test_every_operation_has_its_own_collaborators_over_the_same_context(tmp_path):
    ctx = context({"target": str(tmp_path / "t")})
    op = _run.Operation(ctx)
    assert op.window.ctx is ctx and op.verification.ctx is ctx and op.rollback.ctx is ctx
    assert op.rollback.window is op.window and op.rollback.verification is op.verification
    with pytest.raises(NotImplementedError):
        op._run()


class Stuck(FakeHost):
    def wait_quiet(self, root, timeout):
        self._call("wait_quiet", root)
        return ["%s/overlay2/x/merged" % root]

    def wait_docker(self, timeout):
        self._call("wait_docker", timeout)
        return False

    def start_docker(self, with_containerd=False):
        super(Stuck, self).start_docker(with_containerd)
        with open(self.journal.path) as f:  # what the record on disk says when Docker is started
            self.journal_at_start = json.load(f)


def test_the_window_stops_until_nothing_is_mounted_and_fails_a_start_that_never_answers(tmp_path):
    target = str(tmp_path / "t")
    ctx = context({"target": target}, host=Stuck(),
                  moves=[_move.Move("containerd", "/var/lib/containerd", target, _switches.make("bind"))])
    window = _run.Operation(ctx).window
    ctx.journal.start(0, "bind")
    ctx.host.journal = ctx.journal
    with pytest.raises(RelocationError, match="mounts remain under /r: /r/overlay2/x/merged") as exc:
        window.stop_quiet(["/r"], "stop")
    assert exc.value.phase == "stop"
    assert ctx.host.args[:3] == [("stop_docker", True), ("window_units", True),
                                 ("check_stopped", ["docker.socket", "docker.service"])]
    with pytest.raises(RelocationError, match="did not answer") as exc:
        window.serve()
    # A start that never answers may still have let containers write on the new root: it counts as served from
    # the attempt on, and the journal said so before Docker was started.
    assert exc.value.phase == "start" and ctx.served_new_root and ctx.served_since is not None
    assert ctx.host.journal_at_start.get("served") is True, ctx.host.journal_at_start
    assert ctx.host.journal_at_start.get("copied_back") is False, ctx.host.journal_at_start


def test_the_real_host_and_the_fake_one_implement_the_whole_host_interface():
    from ansible_collections.dockyard.migrate.plugins.module_utils import _host
    assert issubclass(_systemd.Systemd, _host.Host) and isinstance(FakeHost(), _host.Host)
    partial = type("Partial", (_host.Host,), {"run": lambda self, argv, what=None: ""})
    with pytest.raises(TypeError, match="abstract"):
        partial()  # pylint: disable=abstract-class-instantiated
    host = FakeHost(masked=["docker.service"])
    host.unmask(["docker.service"])
    assert not host.masked("docker.service") and host.calls == ["unmask"]
