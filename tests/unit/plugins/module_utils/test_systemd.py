# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _move, _systemd


def test_dropin_requires_the_mount():
    assert "RequiresMountsFor=/var/lib/docker\n" in _systemd.dropin_text("/var/lib/docker")
    assert _systemd.dropin_path("containerd") == "/etc/systemd/system/containerd.service.d/dockyard-data-root.conf"


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
    assert seen == [["systemctl", "show", "docker.socket", "--property=LoadState", "--value"],
                    ["systemctl", "stop", "docker.socket", "docker.service"]]


def test_restore_file_writes_removes_or_keeps_empty(tmp_path):
    host = _systemd.Systemd(lambda argv: (0, "", ""), client=None)
    f = tmp_path / "d" / "x.conf"
    host.restore_file(str(f), "[Unit]\n")
    assert f.read_text() == "[Unit]\n"
    host.restore_file(str(f), "", keep_empty=True)
    assert f.exists() and f.read_text() == ""
    host.restore_file(str(f), "")
    assert not f.exists()


@pytest.mark.parametrize("path,value", [
    ("/var/lib/docker", "/var/lib/docker"),
    ("/mnt/data disk/docker", '"/mnt/data disk/docker"'),
    ("/mnt/dätä/dock\"er", '"/mnt/dätä/dock\\"er"'),
    ("/mnt/100%/back\\slash", '"/mnt/100%%/back\\\\slash"'),
])
def test_dropin_value_is_quoted_for_systemd(path, value):
    assert _systemd.dropin_text(path).endswith("\nRequiresMountsFor=%s\n" % value)


@pytest.mark.parametrize("path", ["/mnt/x\n[Service]\nExecStartPre=/bin/false", "/mnt/tab\there", "/mnt/cr\r"])
def test_dropin_refuses_control_characters(path):
    with pytest.raises(ValueError, match="control character"):
        _systemd.dropin_text(path)


def test_a_host_without_docker_socket_stops_and_starts_only_the_service():
    seen = []

    def runner(argv):
        seen.append(argv)
        if argv[:2] == ["systemctl", "show"]:
            return 0, ("not-found\n" if argv[2] == "docker.socket" else "loaded\n"), ""
        return 0, "", ""

    host = _systemd.Systemd(runner, client=None)
    host.stop_docker()
    host.start_docker()
    acts = [a for a in seen if a[1] != "show"]
    assert acts == [["systemctl", "stop", "docker.service"], ["systemctl", "reset-failed", "docker.service"],
                    ["systemctl", "start", "docker.service"]]
