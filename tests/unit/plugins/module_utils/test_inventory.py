# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.dockyard.migrate.plugins.module_utils import _inventory

INV = {
    "images": [{"id": "sha256:a", "tags": ["x:1", "x:latest"]}, {"id": "sha256:b", "tags": []}],
    "containers": [{"id": "c1", "name": "web", "image": "sha256:a", "restart_policy": "always", "running": True}],
    "volumes": [{"name": "data", "driver": "local"}],
    "running": ["web"],
}


def test_fingerprint_ignores_order_and_state():
    other = copy.deepcopy(INV)
    other["images"].reverse()
    other["images"][1]["tags"].reverse()
    other["containers"][0]["running"] = False
    assert _inventory.fingerprint(INV) == _inventory.fingerprint(other)


def test_fingerprint_sees_a_lost_tag_image_or_policy():
    base = _inventory.fingerprint(INV)
    for mutate in (lambda i: i["images"][0]["tags"].pop(),
                   lambda i: i["images"].pop(),
                   lambda i: i["containers"][0].update(restart_policy="no"),
                   lambda i: i["volumes"].pop()):
        other = copy.deepcopy(INV)
        mutate(other)
        assert _inventory.fingerprint(other) != base


def test_compare_names_what_differs():
    after = copy.deepcopy(INV)
    after["images"].pop()
    after["running"] = []
    diff = _inventory.compare(INV, after)
    assert "image sha256:b is missing" in diff
    assert "container web ran before and does not run now" in diff
    assert _inventory.compare(INV, INV) == []
