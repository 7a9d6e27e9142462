# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

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
    assert "\nRequiresMountsFor=%s\n" % value in _systemd.dropin_text(path)


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


def test_daemons_match_the_program_name_only(tmp_path):
    for pid, argv in ((20, [b"/usr/sbin/dockerd", b"-H", b"fd://"]),
                      (21, [b"/usr/bin/containerd"]),
                      (22, [b"/usr/bin/containerd-shim-runc-v2", b"-namespace", b"moby"]),
                      (23, [b"/bin/sh", b"-c", b"dockerd"])):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "cmdline").write_bytes(b"\0".join(argv) + b"\0")
    assert _systemd.daemons(["dockerd"], str(tmp_path)) == [(20, "dockerd")]
    assert _systemd.daemons(["dockerd", "containerd"], str(tmp_path)) == [(20, "dockerd"), (21, "containerd")]


def test_mask_is_runtime_only_and_skips_units_already_masked(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "docker.socket").symlink_to("/dev/null")
    monkeypatch.setattr(_systemd, "RUNTIME_UNIT_DIR", str(run_dir))
    seen = []
    host = _systemd.Systemd(lambda argv: seen.append(argv) or (0, "", ""), client=None)
    assert host.mask(["docker.socket", "docker.service"]) == ["docker.service"]
    assert seen == [["systemctl", "mask", "--runtime", "docker.service"]]
    host.unmask(["docker.service"])
    assert seen[-1] == ["systemctl", "unmask", "--runtime", "docker.service"]
    seen[:] = []
    host.unmask([])
    assert seen == []


def test_check_stopped_names_what_still_runs(tmp_path):
    (tmp_path / "30").mkdir()
    (tmp_path / "30" / "cmdline").write_bytes(b"/usr/sbin/dockerd\0")

    def runner(argv):
        return (0, "active\n", "") if argv[-1] == "docker.service" else (3, "inactive\n", "")

    host = _systemd.Systemd(runner, client=None)
    with pytest.raises(_move.RelocationError, match=r"docker.service is active; dockerd \(pid 30\) runs"):
        host.check_stopped(["docker.socket", "docker.service"], 0, proc=str(tmp_path))
    (tmp_path / "30" / "cmdline").write_bytes(b"/bin/true\0")
    quiet = _systemd.Systemd(lambda argv: (3, "inactive\n", ""), client=None)
    assert quiet.check_stopped(["docker.socket", "docker.service"], 0, proc=str(tmp_path)) is None


def test_the_sentinel_assertion_names_the_path_verbatim():
    text = _systemd.dropin_text("/mnt/data disk/100%")
    assert '\nRequiresMountsFor="/mnt/data disk/100%%"\n' in text
    assert "\nAssertPathExists=/mnt/data disk/100%%/.dockyard-data-root\n" in text


def check_argv(text):
    """The ExecStartPre command line of a drop-in TEXT, split into words as systemd splits it (double quotes)."""
    import shlex
    lines = [line for line in text.splitlines() if line.startswith("ExecStartPre=")]
    assert len(lines) == 1, text
    return shlex.split(lines[0][len("ExecStartPre="):])


def test_the_daemon_json_drop_in_refuses_a_start_once_data_root_is_gone(tmp_path):
    """A daemon.json rewritten without data-root (a templating run) would start Docker on an empty root: the
    drop-in's check, run as systemd runs it, fails the start then, and only then."""
    import json
    import subprocess
    from ansible_collections.dockyard.migrate.plugins.module_utils import _move, _switches
    target, dj = str(tmp_path / "disk" / "docker"), tmp_path / "daemon.json"
    move = _move.Move("docker", "/var/lib/docker", target, _switches.make("daemon_json"))
    argv = check_argv(_systemd.dropin_for(move, str(dj)))
    assert argv[-2:] == [str(dj), target]

    def start(content):
        if content is None:
            if dj.exists():
                dj.unlink()
        else:
            dj.write_text(content)
        return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                              timeout=60, check=False)

    assert start(json.dumps({"data-root": target, "log-driver": "json-file"})).returncode == 0
    assert start(json.dumps({"data-root": target + "/"})).returncode == 0
    gone = start(json.dumps({"log-driver": "json-file"}))
    assert gone.returncode == 1 and "does not set data-root to %s" % target in gone.stderr, gone.stderr
    assert start(json.dumps({"data-root": "/var/lib/docker"})).returncode == 1
    assert start(None).returncode == 1
    assert start("{not json").returncode != 0
    bind = _move.Move("docker", "/var/lib/docker", target, _switches.make("bind"))
    assert "ExecStartPre" not in _systemd.dropin_for(bind, str(dj))
    containerd = _move.Move("containerd", "/var/lib/containerd", target + "-containerd", _switches.make("daemon_json"))
    assert "ExecStartPre" not in _systemd.dropin_for(containerd, str(dj))


def test_the_check_survives_paths_systemd_would_otherwise_split(tmp_path):
    from ansible_collections.dockyard.migrate.plugins.module_utils import _move, _switches
    target = str(tmp_path / "data disk" / "100% docker")
    move = _move.Move("docker", "/var/lib/docker", target, _switches.make("daemon_json"))
    text = _systemd.dropin_for(move, "/etc/docker/daemon.json")
    line = [x for x in text.splitlines() if x.startswith("ExecStartPre=")][0]
    assert "100%% docker" in line and '"' in line, line  # quoted, the specifier escaped
    assert "$" not in _systemd.DATA_ROOT_CHECK and "%" not in _systemd.DATA_ROOT_CHECK


def test_the_check_names_what_to_do_on_any_daemon_json_it_cannot_read(tmp_path):
    """An unreadable file, a JSON array, a byte-order mark (which dockerd accepts): no traceback, the same message
    naming the operator's ways out; a byte-order mark with data-root set passes."""
    import json
    import subprocess
    from ansible_collections.dockyard.migrate.plugins.module_utils import _move, _switches
    target, dj = str(tmp_path / "t"), tmp_path / "daemon.json"
    move = _move.Move("docker", "/var/lib/docker", target, _switches.make("daemon_json"))
    argv = check_argv(_systemd.dropin_for(move, str(dj)))
    assert argv[1] == "-I"
    for content in ("{not json", "[1, 2]", ""):
        dj.write_text(content)
        res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                             timeout=60, check=False)
        assert res.returncode == 1 and "Traceback" not in res.stderr and "roll the move back (state restored)" \
            in res.stderr, (content, res.stderr)
    dj.write_bytes(b"\xef\xbb\xbf" + json.dumps({"data-root": target}).encode())
    assert subprocess.run(argv, timeout=60, check=False).returncode == 0


def test_exec_lines_double_the_dollar_sign():
    assert _systemd.exec_quote("/mnt/a$b") == '"/mnt/a$$b"'
    assert _systemd.exec_quote("/mnt/plain") == "/mnt/plain"
    assert _systemd.python_for_units() in ("/usr/bin/python3", "/usr/libexec/platform-python") or \
        _systemd.python_for_units().startswith("/")


def test_the_view_beneath_a_mount_binds_the_parent_alone_privately_and_is_always_undone(tmp_path, monkeypatch):
    """A plain (not recursive) bind of the parent directory, made private, unmounted and removed however the
    block ends; a view a killed run left mounted is unmounted first."""
    ran = []
    view_dir = str(tmp_path / "views")
    monkeypatch.setattr(_systemd, "VIEW_DIR", view_dir)
    left = "%s/beneath-old" % view_dir
    monkeypatch.setattr(_systemd._mountinfo, "read", lambda: _systemd._mountinfo.parse(
        "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
        "2 1 8:1 /var/lib %s rw - ext4 /dev/sda1 rw\n" % left))
    host = _systemd.Systemd(lambda argv: ran.append(list(argv)) or (0, "", ""), None)
    with pytest.raises(RuntimeError, match="inside"):
        with host.view_beneath("/var/lib/docker") as under:
            view = os.path.dirname(under)
            assert os.path.basename(under) == "docker" and os.path.dirname(view) == view_dir
            assert ran == [["umount", "--", left], ["mount", "--bind", "--", "/var/lib", view],
                           ["mount", "--make-private", "--", view]]
            raise RuntimeError("a failure inside the block")
    assert ran[-1] == ["umount", "--", view] and not os.path.exists(view)
    assert not any(a[:2] == ["mount", "--rbind"] for a in ran)


def test_the_view_beneath_a_mount_is_unmounted_and_removed_when_the_block_ends_normally(tmp_path, monkeypatch):
    """The normal exit: once the with-block is done, the view made for it is unmounted (once) and its directory
    removed; nothing else is mounted or unmounted."""
    ran = []
    view_dir = str(tmp_path / "views")
    monkeypatch.setattr(_systemd, "VIEW_DIR", view_dir)
    monkeypatch.setattr(_systemd._mountinfo, "read", lambda: _systemd._mountinfo.parse(
        "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"))
    host = _systemd.Systemd(lambda argv: ran.append(list(argv)) or (0, "", ""), None)
    with host.view_beneath("/var/lib/docker/") as under:
        view = os.path.dirname(under)
        assert under == os.path.join(view, "docker") and os.path.dirname(view) == view_dir
        assert os.path.basename(view).startswith("beneath-") and os.path.isdir(view)
        assert ran == [["mount", "--bind", "--", "/var/lib", view], ["mount", "--make-private", "--", view]]
    assert ran == [["mount", "--bind", "--", "/var/lib", view], ["mount", "--make-private", "--", view],
                   ["umount", "--", view]]
    assert not os.path.exists(view) and os.listdir(view_dir) == []
