# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _move, _selinux


class Runner:
    def __init__(self, answers=None):
        self.calls = []
        self.answers = answers or {}

    def __call__(self, argv):
        self.calls.append(argv)
        return self.answers.get(argv[1] if len(argv) > 1 and argv[1] != "fcontext" else argv[2], (0, "", ""))


@pytest.fixture
def tools(monkeypatch):
    monkeypatch.setattr(_selinux, "_bin", lambda name: "/usr/sbin/" + name)


def test_nothing_runs_when_selinux_is_off():
    r = Runner()
    assert not _selinux.label_like(r, "/var/lib/docker", "/mnt/data/docker", is_enabled=lambda: False)
    assert not _selinux.unlabel(r, "/var/lib/docker", "/mnt/data/docker", is_enabled=lambda: False)
    assert r.calls == []


def test_the_new_root_is_made_equivalent_to_the_original_path_and_relabelled(tools):
    r = Runner()
    assert _selinux.label_like(r, "/var/lib/docker", "/mnt/data/docker", is_enabled=lambda: True)
    assert r.calls == [["/usr/sbin/semanage", "fcontext", "-a", "-e", "/var/lib/docker", "/mnt/data/docker"],
                       ["/usr/sbin/restorecon", "-R", "-F", "/mnt/data/docker"]]


def test_an_existing_equivalence_is_fine_and_a_failed_relabel_is_an_error(tools):
    r = Runner({"-a": (1, "", "ValueError: Equivalence class for /mnt/data/docker already exists"),
                "-R": (255, "", "restorecon: lstat(/mnt/data/docker) failed")})
    with pytest.raises(_move.RelocationError, match="restorecon -R -F /mnt/data/docker failed"):
        _selinux.label_like(r, "/var/lib/docker", "/mnt/data/docker", is_enabled=lambda: True)
    assert len(r.calls) == 2


def test_rollback_deletes_the_equivalence(tools):
    r = Runner()
    assert _selinux.unlabel(r, "/var/lib/docker", "/mnt/data/docker", is_enabled=lambda: True)
    assert r.calls == [["/usr/sbin/semanage", "fcontext", "-d", "-e", "/var/lib/docker", "/mnt/data/docker"]]
    r = Runner({"-d": (1, "", "ValueError: Equivalence class for /mnt/data/docker is not defined")})
    assert not _selinux.unlabel(r, "/var/lib/docker", "/mnt/data/docker", is_enabled=lambda: True)
    r = Runner({"-d": (1, "", "OSError: No such file or directory")})
    with pytest.raises(_move.RelocationError, match="semanage fcontext -d -e"):
        _selinux.unlabel(r, "/var/lib/docker", "/mnt/data/docker", is_enabled=lambda: True)


def test_any_other_semanage_failure_is_an_error(tools):
    r = Runner({"-a": (1, "", "OSError: [Errno 30] Read-only file system")})
    with pytest.raises(_move.RelocationError, match="semanage fcontext -a -e /var/lib/docker /mnt/data/docker failed"):
        _selinux.label_like(r, "/var/lib/docker", "/mnt/data/docker", is_enabled=lambda: True)
    assert len(r.calls) == 1
