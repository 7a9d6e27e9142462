# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _lock, _move


def test_lock_keeps_a_second_run_off(tmp_path):
    d = str(tmp_path / "locks")
    first = _lock.acquire(lock_dir=d)
    try:
        with pytest.raises(_move.RelocationError, match="another data-root move is running") as exc:
            _lock.acquire(lock_dir=d)
        assert exc.value.phase == "lock"
        assert "pid" in open(os.path.join(d, _lock.LOCK_NAME)).read()
    finally:
        first.close()
    _lock.acquire(lock_dir=d).close()


def test_the_lock_lives_in_a_private_directory(tmp_path):
    d = tmp_path / "locks"
    d.mkdir(mode=0o777)
    os.chmod(str(d), 0o777)
    _lock.acquire(lock_dir=str(d)).close()
    assert stat.S_IMODE(os.stat(str(d)).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(str(d / _lock.LOCK_NAME)).st_mode) == 0o600


def test_a_linked_directory_or_lock_file_is_refused(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    os.symlink(str(tmp_path / "elsewhere"), str(tmp_path / "locks"))
    with pytest.raises(_move.RelocationError, match="is not a directory") as exc:
        _lock.acquire(lock_dir=str(tmp_path / "locks"))
    assert exc.value.phase == "lock"
    d = tmp_path / "private"
    d.mkdir(mode=0o700)
    os.symlink(str(tmp_path / "victim"), str(d / _lock.LOCK_NAME))
    with pytest.raises(_move.RelocationError, match="cannot open the lock .*does not run without the lock"):
        _lock.acquire(lock_dir=str(d))
    assert not (tmp_path / "victim").exists()


def test_a_lock_that_cannot_be_opened_stops_the_move(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(_move.RelocationError, match="does not run without the lock"):
        _lock.acquire(lock_dir=str(blocker / "locks"))
