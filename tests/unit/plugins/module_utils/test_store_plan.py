# -*- coding: utf-8 -*-
"""What a conversion knows as its own in the other store (_store_plan)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.dockyard.migrate.plugins.module_utils import _store_plan


def test_a_container_is_known_by_the_id_recorded_when_it_was_made_or_left():
    journal = {"made": {"containerd": {"web": {"id": "n1", "at": 100}}}, "sources": {"containerd": {"db": "d0"}}}
    assert _store_plan.made_here(journal, "containerd", "web", "n1", 50)
    assert _store_plan.made_here(journal, "containerd", "db", "d0", 50)
    assert not _store_plan.made_here(journal, "containerd", "web", "other", 500)
    assert not _store_plan.made_here(journal, "classic", "web", "n1", 500)
    assert not _store_plan.made_here({}, "containerd", "web", "n1", 500)


def test_a_container_made_by_a_run_killed_before_it_recorded_the_id_is_known_by_its_creation_time():
    journal = {"made": {"containerd": {"web": {"id": None, "at": 100}}}}
    assert _store_plan.made_here(journal, "containerd", "web", "n9", 101)
    assert not _store_plan.made_here(journal, "containerd", "web", "n9", 99)  # there before that run


def test_the_creation_time_is_read_from_the_containers_config(tmp_path):
    d = tmp_path / "containers" / "c1"
    d.mkdir(parents=True)
    (d / "config.v2.json").write_text(json.dumps({"Created": "2026-01-01T00:00:10.123456789Z"}))
    assert _store_plan.created_at(str(tmp_path), "c1") == 1767225610
    assert _store_plan.created_at(str(tmp_path), "missing") == 0
