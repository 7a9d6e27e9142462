# -*- coding: utf-8 -*-
"""The host's files, clock and lock (_local.Files): each call that changes the host is noted, in order; reads are
not; configuration files alone go through the mover."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.dockyard.migrate.plugins.module_utils import _host, _local, _systemd


def test_changes_are_noted_in_order_and_reads_are_not(tmp_path):
    host = _local.Files(lock_dir=str(tmp_path / "lock"))
    d = str(tmp_path / "d")
    host.makedirs(d, 0o711)
    host.write_file(os.path.join(d, "a"), "one")
    assert host.read_text(os.path.join(d, "a")) == "one" and host.listdir(d) == ["a"] and host.isdir(d)
    assert host.exists(os.path.join(d, "a")) and not host.lexists(os.path.join(d, "b"))
    host.rename(os.path.join(d, "a"), os.path.join(d, "b"))
    host.chmod(os.path.join(d, "b"), 0o600)
    host.unlink(os.path.join(d, "b"))
    host.rmdir(d)
    assert host.changes == ["makedirs", "write_file", "rename", "chmod", "unlink", "rmdir"]
    assert not os.path.exists(d)
    # The lock and the note beside it are the run's own housekeeping in /run, not changes to the host's data.
    lock = host.lock()
    host.note_window(str(tmp_path / "marker"), ["docker.service"])
    assert host.window_note()["masked"] == ["docker.service"]
    host.clear_window()
    lock.close()
    assert host.window_note() is None and len(host.changes) == 6


def test_a_configuration_file_alone_is_put_in_place_by_the_mover(tmp_path):
    moved = []

    def mover(tmp, path):
        moved.append(path)
        os.rename(tmp, path)

    host = _local.Files(mover=mover)
    host.write_file(str(tmp_path / "fstab"), "x\n", config=True)
    host.write_file(str(tmp_path / "marker.json"), "{}\n", mode=0o600)
    assert moved == [str(tmp_path / "fstab")]
    assert oct(os.stat(str(tmp_path / "marker.json")).st_mode & 0o777) == "0o600"


def test_the_real_hosts_implement_the_whole_interface():
    abstract = set(_host.Host.__abstractmethods__)
    assert abstract and not _systemd.Systemd.__abstractmethods__
    assert abstract - set(dir(_local.Files)) <= set(dir(_systemd.Systemd))
    assert _local.Local.__abstractmethods__ and _local.Local.__abstractmethods__ < abstract  # units are Systemd's
