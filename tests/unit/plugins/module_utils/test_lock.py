# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _lock, _move


def test_lock_keeps_a_second_run_off(tmp_path):
    path = str(tmp_path / "lock")
    first = _lock.acquire(path=path)
    try:
        with pytest.raises(_move.RelocationError, match="another data-root move is running") as exc:
            _lock.acquire(path=path)
        assert exc.value.phase == "lock"
        assert "pid" in open(path).read()
    finally:
        first.close()
    _lock.acquire(path=path).close()
