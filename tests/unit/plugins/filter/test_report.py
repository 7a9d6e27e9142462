# -*- coding: utf-8 -*-
"""The migration/rollback report: every host has a row with every key of the schema, and the schema validates it."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import jsonschema
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.dockyard.migrate.plugins.filter.fleet_report import fleet_report
from ansible_collections.dockyard.migrate.plugins.filter.report_summary import report_summary

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
with open(os.path.join(ROOT, "docs", "report.schema.json")) as f:
    SCHEMA = json.load(f)

MOVED = {"host": "h1", "status": "moved", "old_root": "/var/lib/docker", "new_root": "/mnt/data/docker",
         "method": "bind", "started": "2026-11-28T10:00:05Z", "ended": "2026-11-28T10:01:00Z", "bytes": "7340032",
         "planned_bytes": 7000000, "downtime_seconds": 6.8, "verified": True,
         "phases": [{"phase": "online_copy", "seconds": 3.2}, {"phase": "stop", "seconds": 2}],
         "actions": ["stopped Docker"]}
ROLLED = {"host": "h2", "status": "rolled back", "started": "2026-11-28T10:01:01Z", "failed_phase": "start",
          "message": "Docker did not start", "phases": [{"phase": "stop", "seconds": 1.0}]}


def test_rows_for_every_host_and_the_schema_holds():
    doc = fleet_report(["h3", "h1", "h2"], [None, MOVED, ROLLED], ended="2026-11-28T10:02:00Z",
                       settings={"target": "/mnt/data/docker"})
    jsonschema.validate(doc, SCHEMA)
    assert [h["host"] for h in doc["hosts"]] == ["h1", "h2", "h3"]
    h1, h2, h3 = doc["hosts"]
    assert h1["bytes"] == 7340032 and h1["error"] is None and h1["phases"][1] == {"phase": "stop", "seconds": 2}
    assert h2["error"] == {"phase": "start", "message": "Docker did not start"}
    assert h3["status"] == "not started" and h3["reason"]
    assert doc["started"] == "2026-11-28T10:00:05Z" and doc["outcome"] == "failed"
    assert doc["counts"]["moved"] == 1 and doc["counts"]["rolled back"] == 1 and doc["counts"]["not started"] == 1
    assert report_summary(doc) == ["1 moved, 0 already done, 0 planned (check mode), 1 rolled back, 1 not started"]


def test_a_container_that_did_not_run_again_is_named_and_the_move_still_counts():
    moved = dict(MOVED, containers_not_running=["cron"])
    doc = fleet_report(["h1", "h2"], [moved, dict(MOVED, host="h2")], ended="2026-11-28T10:02:00Z",
                       settings={"target": "/mnt/data/docker"})
    jsonschema.validate(doc, SCHEMA)
    assert doc["outcome"] == "success" and doc["counts"]["moved"] == 2
    assert doc["hosts"][0]["containers_not_running"] == ["cron"] and doc["hosts"][1]["containers_not_running"] == []
    assert report_summary(doc) == ["2 moved, 0 already done, 0 planned (check mode)",
                                   "Containers that ran before and do not run now (their data is there; see docker "
                                   "logs): h1: cron"]


def test_a_host_reached_without_a_result_was_lost():
    doc = fleet_report(["h1"], [None], ["2026-11-28T10:00:00Z"], ended="2026-11-28T10:02:00Z")
    jsonschema.validate(doc, SCHEMA)
    assert doc["hosts"][0]["status"] == "unreachable"
    assert "connection" in doc["hosts"][0]["error"]["message"]


def test_nothing_changed_and_rollback_wording():
    done = dict(MOVED, status="unchanged")
    doc = fleet_report(["h1"], [done], ended="2026-11-28T10:02:00Z", settings={"target": "/mnt/data/docker"})
    assert doc["outcome"] == "success"
    assert report_summary(doc) == ["Nothing changed: every host already runs Docker from /mnt/data/docker"]
    back = fleet_report(["h1", "h2"], [dict(MOVED, status="restored"), dict(MOVED, status="unchanged")],
                        kind="rollback", ended="2026-11-28T10:02:00Z")
    jsonschema.validate(back, SCHEMA)
    assert report_summary(back) == ["1 restored, 1 already back, 0 planned (check mode)"]


@pytest.mark.parametrize("args,message", [
    ((["h1"], []), "in the same order"),
    ((["h1"], ["x"]), "is not a dictionary"),
    ((["h1"], [None], [1, 2]), "reached must name"),
])
def test_bad_input_is_named(args, message):
    with pytest.raises(AnsibleFilterError, match=message):
        fleet_report(*args)
    with pytest.raises(AnsibleFilterError, match="kind must be"):
        fleet_report(["h1"], [None], kind="other")
    with pytest.raises(AnsibleFilterError, match="made by fleet_report"):
        report_summary({})


def test_a_refused_host_names_its_reason_and_the_run_does_not_succeed():
    refused = {"host": "h2", "status": "refused", "started": "2026-11-28T10:01:01Z", "failed_phase": "preflight",
               "message": "h2 is a swarm manager"}
    doc = fleet_report(["h1", "h2"], [MOVED, refused], ended="2026-11-28T10:02:00Z",
                       settings={"target": "/mnt/data/docker", "on_refusal": "skip"})
    jsonschema.validate(doc, SCHEMA)
    assert doc["hosts"][1]["error"] == {"phase": "preflight", "message": "h2 is a swarm manager"}
    assert doc["counts"]["refused"] == 1 and doc["outcome"] == "failed"
    assert report_summary(doc) == ["1 moved, 0 already done, 0 planned (check mode), 1 refused"]


def test_a_kept_original_says_how_much_it_holds_where_and_until_when():
    kept = dict(MOVED, kept_bytes="7340032", kept_on="/dev/sda1", cleanup_from="2026-12-05")
    doc = fleet_report(["h1", "h2"], [kept, dict(MOVED, host="h2")], ended="2026-11-28T10:02:00Z")
    jsonschema.validate(doc, SCHEMA)
    h1, h2 = doc["hosts"]
    assert (h1["kept_bytes"], h1["kept_on"], h1["cleanup_from"]) == (7340032, "/dev/sda1", "2026-12-05")
    assert (h2["kept_bytes"], h2["kept_on"], h2["cleanup_from"]) == (None, None, None)
