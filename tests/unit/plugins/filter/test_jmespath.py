# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.dockyard.migrate.plugins.filter import jmespath as plugin
from ansible_collections.dockyard.migrate.plugins.filter.jmespath import jmespath

INFO = {"root": "/var/lib/docker", "config": {"method": "default", "snap": False},
        "filesystem": {"device": "/dev/sda1", "size_bytes": 1000, "used_bytes": 850, "free_bytes": 150,
                       "used_percent": 85.0},
        "layout": {"totals": {"bytes": 60 * 10 ** 9}}, "inventory": {"images": [{"id": "a"}, {"id": "b"}]}}
ROWS = [{"host": "h1", "device": "/dev/sda1", "free": 10}, {"host": "h2", "device": "/dev/loop0", "free": 20}]


@pytest.mark.parametrize("expr,expected", [
    ("root", "/var/lib/docker"),
    ("filesystem.used_percent > `80`", True),
    ("layout.totals.bytes > `50000000000`", True),
    ("config.method == 'bind'", False),
    ("length(inventory.images)", 2),
    ("missing.key", None),
])
def test_expressions_over_a_data_root_info_result(expr, expected):
    assert jmespath(INFO, expr) == expected


def test_filter_and_reshape_rows():
    assert jmespath(ROWS, "[?device=='/dev/sda1'].{host: host, free: free}") == [{"host": "h1", "free": 10}]
    assert jmespath(ROWS, "sort_by(@, &free)[-1].host") == "h2"


@pytest.mark.parametrize("expr,truth", [
    ("root", True), ("config.snap", False), ("missing", False), ("inventory.images[?id=='z']", False),
    ("`0`", True), ("''", False), ("`{}`", False),
])
def test_truth_follows_jmespath_rules(expr, truth):
    assert jmespath(INFO, expr, truth=True) is truth


@pytest.mark.parametrize("expr,message", [
    ("filesystem.used_percent >", "invalid expression 'filesystem.used_percent >'"),
    ("", "must be a non-empty string"),
    (None, "must be a non-empty string"),
    ("length(root, root)", "evaluating 'length(root, root)' failed"),
])
def test_bad_expressions_are_named(expr, message):
    with pytest.raises(AnsibleFilterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        jmespath(INFO, expr)


def test_missing_library_is_named(monkeypatch):
    monkeypatch.setattr(plugin, "_jmespath", None)
    with pytest.raises(AnsibleFilterError, match="needs the Python library jmespath on the controller"):
        jmespath(INFO, "root")
