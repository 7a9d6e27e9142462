# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.dockyard.migrate.plugins.filter.images_lacking import images_lacking
from ansible_collections.dockyard.migrate.plugins.filter.table import table

WANTED = [{"id": "sha256:a", "tags": ["app:1", "app:latest"]}, {"id": "sha256:b", "tags": []},
          {"id": "sha256:c", "tags": ["tool:1"]}]


def test_images_lacking_by_id_and_by_tag():
    present = [{"id": "sha256:a", "tags": ["app:1"]}, {"id": "sha256:b", "tags": []},
               {"id": "sha256:c", "tags": ["tool:1", "extra:2"]}]
    assert [i["id"] for i in images_lacking(WANTED, present)] == ["sha256:a"]
    assert images_lacking(WANTED, []) == WANTED
    assert images_lacking([], present) == []


def test_images_lacking_rejects_bad_input():
    with pytest.raises(AnsibleFilterError):
        images_lacking("x", [])
    with pytest.raises(AnsibleFilterError, match="needs an id"):
        images_lacking([{"tags": []}], [])


def test_table_aligns_and_formats_sizes():
    rows = [{"host": "h1", "bytes": 1536, "ok": True, "t": 1.25}, {"host": "host22", "bytes": None, "ok": False}]
    assert table(rows, ["host:HOST", "bytes", "ok", "t:SEC"]) == [
        "HOST    BYTES  OK   SEC",
        "h1      1.5K   yes  1.2",
        "host22  -      no   -",
    ]
    with pytest.raises(AnsibleFilterError):
        table("nope", ["a"])
