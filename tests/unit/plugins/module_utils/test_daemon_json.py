# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _daemon_json as dj


def test_empty_is_an_empty_object():
    assert dj.parse("  \n") == {}


@pytest.mark.parametrize("text,match", [
    ('{"a": 1,}', "is not valid JSON"),
    ("[1, 2]", "must hold a JSON object, not list"),
])
def test_invalid(text, match):
    with pytest.raises(dj.DaemonJsonError, match=match):
        dj.parse(text, "/etc/docker/daemon.json")


def test_merge_keeps_every_other_key_and_drops_graph():
    data = {"log-driver": "journald", "graph": "/old", "features": {"buildkit": True}}
    out = dj.with_data_root(data, "/mnt/data/docker")
    assert out == {"log-driver": "journald", "features": {"buildkit": True}, "data-root": "/mnt/data/docker"}
    assert data["graph"] == "/old"
    assert dj.data_root(data) == "/old"
    assert dj.data_root(out) == "/mnt/data/docker"
    assert dj.without_data_root(out) == {"log-driver": "journald", "features": {"buildkit": True}}


def test_load_missing_file(tmp_path):
    assert dj.load(str(tmp_path / "none.json")) == ({}, "", False)
