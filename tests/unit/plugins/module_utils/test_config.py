# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _config, _fstab, _mountinfo

EXEC = ("{ path=/usr/sbin/dockerd ; argv[]=/usr/sbin/dockerd -H fd:// --data-root /srv/docker ; "
        "ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }")


@pytest.mark.parametrize("argv,expected", [
    (["dockerd", "--data-root", "/a"], "/a"),
    (["dockerd", "--data-root=/b"], "/b"),
    (["dockerd", "-g", "/c"], "/c"),
    (["dockerd", "--graph=/d"], "/d"),
    (["dockerd", "-H", "fd://"], None),
])
def test_flag_data_root(argv, expected):
    assert _config.flag_data_root(argv) == expected


def test_parse_exec_start():
    assert _config.parse_exec_start(EXEC) == [["/usr/sbin/dockerd", "-H", "fd://", "--data-root", "/srv/docker"]]


def test_default_opts():
    assert _config.default_opts_data_root('DOCKER_OPTS="--dns 8.8.8.8 -g /srv/g"\n') == "/srv/g"


def test_containerd_root():
    assert _config.containerd_root('version = 2\nroot = "/data/containerd"\n[plugins]\nroot = "x"') == "/data/containerd"
    assert _config.containerd_root("") == "/var/lib/containerd"


def test_method_flag_and_conflict():
    r = _config.determine(daemon_json={"data-root": "/x"}, exec_argvs=_config.parse_exec_start(EXEC))
    assert r["method"] == "flag"
    assert r["root"] == "/srv/docker"
    assert "refuses to start" in r["conflicts"][0]


def test_method_daemon_json():
    r = _config.determine(daemon_json={"data-root": "/mnt/data/docker"}, api_root="/mnt/data/docker")
    assert r["method"] == "daemon_json"
    assert r["conflicts"] == []


def test_method_bind_from_fstab_and_mountinfo():
    lines = _fstab.parse("/mnt/data/docker /var/lib/docker none bind 0 0\n")
    mounts = _mountinfo.parse(
        "22 1 254:0 / / rw - ext4 /dev/vda rw\n"
        "30 22 7:0 / /mnt/data rw - ext4 /dev/loop0 rw\n"
        "31 22 7:0 /docker /var/lib/docker rw - ext4 /dev/loop0 rw\n")
    r = _config.determine(fstab_lines=lines, mounts=mounts)
    assert r["method"] == "bind"
    assert r["bind"]["active"] is True
    assert r["bind"]["active_matches_fstab"] is True
    assert r["bind"]["source"] == "/mnt/data/docker"


def test_method_bind_in_fstab_not_active():
    lines = _fstab.parse("/mnt/data/docker /var/lib/docker none bind 0 0\n")
    r = _config.determine(fstab_lines=lines, mounts=_mountinfo.parse("22 1 254:0 / / rw - ext4 /dev/vda rw\n"))
    assert r["method"] == "bind"
    assert r["bind"]["active"] is False


def test_method_default_and_running_mismatch():
    r = _config.determine(api_root="/elsewhere")
    assert r["method"] == "default"
    assert "changed without a restart" in r["conflicts"][0]


@pytest.mark.parametrize("path,text,expected", [
    ("/etc/default/docker", 'DOCKER_OPTS="--dns 1.1.1.1 --data-root=/srv/a"\n', "/srv/a"),
    ("/etc/default/docker", "export DOCKER_OPTS='-g /srv/b'\n", "/srv/b"),
    ("/etc/sysconfig/docker", "OPTIONS='--selinux-enabled --data-root /srv/c'\n", "/srv/c"),
    ("/etc/sysconfig/docker", "# OPTIONS='--data-root /srv/d'\n", None),
])
def test_flag_in_environment_files_names_where_it_is(path, text, expected):
    r = _config.determine(env_texts={path: text})
    assert r["flag_data_root"] == expected
    if expected:
        name = "DOCKER_OPTS" if "default" in path else "OPTIONS"
        assert r["flag_source"] == "%s in %s" % (name, path)
        assert r["method"] == "flag"


def test_flag_in_the_unit_is_named_as_such():
    r = _config.determine(exec_argvs=_config.parse_exec_start(EXEC))
    assert r["flag_source"] == "the ExecStart of docker.service"


def test_symlinked_root_is_resolved_and_running_root_compared_with_the_real_path():
    def resolve(p):
        return p.replace("/var/lib/docker", "/srv/docker")

    r = _config.determine(resolve=resolve, api_root="/srv/docker")
    assert (r["configured_root"], r["configured_real_root"], r["root"]) == ("/var/lib/docker", "/srv/docker",
                                                                            "/srv/docker")
    assert not r["running_root_differs"] and not r["conflicts"]
    r = _config.determine(resolve=resolve, api_root="/elsewhere")
    assert r["running_root_differs"] and "the running daemon uses /elsewhere" in r["conflicts"][0]
