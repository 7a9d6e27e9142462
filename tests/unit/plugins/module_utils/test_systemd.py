# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _move, _systemd


def test_dropin_requires_the_mount():
    assert "RequiresMountsFor=/var/lib/docker\n" in _systemd.dropin_text("/var/lib/docker")
    assert _systemd.dropin_path("containerd") == "/etc/systemd/system/containerd.service.d/dockyard-data-root.conf"


def test_dropin_asserts_the_sentinel_only_the_moved_root_holds(tmp_path):
    text = _systemd.dropin_text("/var/lib/docker")
    assert "AssertPathExists=/var/lib/docker/.dockyard-data-root\n" in text
    assert text.index("RequiresMountsFor=") < text.index("AssertPathExists=")
    target = tmp_path / "docker"
    target.mkdir()
    assert _systemd.write_sentinel(str(target)) is True
    assert (target / ".dockyard-data-root").read_text() == _systemd.SENTINEL_TEXT
    assert _systemd.write_sentinel(str(target)) is False  # already there: not rewritten


def test_docker_shims_reads_proc(tmp_path):
    for pid, argv in ((10, [b"/usr/bin/containerd-shim-runc-v2", b"-namespace", b"moby", b"-id", b"abc"]),
                      (11, [b"/usr/bin/containerd-shim-runc-v2", b"-namespace", b"k8s.io"]),
                      (12, [b"/usr/sbin/sshd", b"moby"])):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "cmdline").write_bytes(b"\0".join(argv) + b"\0")
    (tmp_path / "self").mkdir()
    assert _systemd.docker_shims(str(tmp_path)) == [10]


def test_commands_are_argument_lists_and_failures_are_relocation_errors():
    seen = []

    def runner(argv):
        seen.append(argv)
        return (1, "", "Unit docker.socket not loaded.") if "stop" in argv else (0, "loaded\n", "")

    host = _systemd.Systemd(runner, client=None)
    with pytest.raises(_move.RelocationError, match="systemctl stop docker.socket docker.service failed"):
        host.stop_docker()
    assert seen == [["systemctl", "stop", "docker.socket", "docker.service"]]


def test_restore_file_writes_removes_or_keeps_empty(tmp_path):
    host = _systemd.Systemd(lambda argv: (0, "", ""), client=None)
    f = tmp_path / "d" / "x.conf"
    host.restore_file(str(f), "[Unit]\n")
    assert f.read_text() == "[Unit]\n"
    host.restore_file(str(f), "", keep_empty=True)
    assert f.exists() and f.read_text() == ""
    host.restore_file(str(f), "")
    assert not f.exists()
