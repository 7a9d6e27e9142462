# -*- coding: utf-8 -*-
"""The cleanup's report: a row for every host, what was freed, what is still kept, and why a host was left."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import jsonschema
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.dockyard.migrate.plugins.filter.cleanup_report import cleanup_report

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
with open(os.path.join(ROOT, "docs", "cleanup-report.schema.json")) as f:
    SCHEMA = json.load(f)


def test_removed_kept_failed_and_not_reached_hosts():
    results = [
        {"status": "removed", "freed_bytes": "1048576", "actions": ["removed the kept original /x.bak"],
         "original": [{"name": "docker", "source": "/x", "removed": True, "backup": None}]},
        {"status": "failed", "error": {"phase": "preflight", "message": "soak_days=7 asks for 7 days"}},
        {},
        {"status": "nothing to remove", "freed_bytes": 0,
         "original": [{"name": "docker", "source": "/x", "removed": False, "backup": "/x.bak"}]},
    ]
    doc = cleanup_report(["h2", "h1", "h4", "h3"], results, ended="2026-12-06T00:00:00Z",
                         settings={"target": "/mnt/data/docker"})
    rows = {r["host"]: r for r in doc["hosts"]}
    assert [r["host"] for r in doc["hosts"]] == ["h1", "h2", "h3", "h4"]
    assert rows["h2"]["freed_bytes"] == 1048576 and rows["h2"]["kept"] is None and rows["h2"]["error"] is None
    assert rows["h1"]["status"] == "failed" and "7 days" in rows["h1"]["error"]["message"]
    assert rows["h4"]["status"] == "not reached" and rows["h4"]["error"]["message"] == "the host was not reached"
    assert rows["h3"]["kept"] == "/x.bak"
    assert doc["freed_bytes"] == 1048576 and doc["outcome"] == "failed" and doc["kind"] == "cleanup"
    assert doc["counts"] == {"removed": 1, "planned": 0, "nothing to remove": 1, "failed": 1, "not reached": 1}
    jsonschema.validate(doc, SCHEMA)


def test_the_schema_rejects_a_report_that_breaks_it():
    doc = cleanup_report(["h1"], [{"status": "removed", "freed_bytes": 5}])
    jsonschema.validate(doc, SCHEMA)
    for broken in (dict(doc, schema_version=2), dict(doc, freed_bytes=-1),
                   dict(doc, hosts=[dict(doc["hosts"][0], status="gone")])):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, SCHEMA)


def test_a_run_that_removed_or_had_nothing_to_remove_succeeds():
    doc = cleanup_report(["h1"], [{"status": "nothing to remove"}], check_mode=True)
    assert doc["outcome"] == "success" and doc["check_mode"] is True and doc["freed_bytes"] == 0
    jsonschema.validate(doc, SCHEMA)


@pytest.mark.parametrize("hosts,results,message", [
    (["h1"], [], "in the same order"),
    (["h1"], [{"status": "gone"}], "unknown status"),
])
def test_bad_input_is_named(hosts, results, message):
    with pytest.raises(AnsibleFilterError, match=message):
        cleanup_report(hosts, results)


@pytest.mark.parametrize("unreached", [{}, None, {"status": "not reached"}], ids=["no-result", "none", "status"])
def test_a_host_not_reached_alone_fails_the_run(unreached):
    """Every other host removed its original: one host not reached is enough for the outcome to be failed."""
    results = [{"status": "removed", "freed_bytes": 10}, unreached, {"status": "nothing to remove"}]
    doc = cleanup_report(["h1", "h2", "h3"], results)
    assert doc["counts"]["failed"] == 0 and doc["counts"]["not reached"] == 1, doc["counts"]
    assert doc["outcome"] == "failed"
    jsonschema.validate(doc, SCHEMA)
    # The same run with the host reached succeeds: the host not reached is what fails it.
    reached = cleanup_report(["h1", "h2", "h3"], results[:1] + [{"status": "removed"}] + results[2:])
    assert reached["outcome"] == "success"


def test_check_mode_defaults_to_false():
    doc = cleanup_report(["h1"], [{"status": "removed", "freed_bytes": 1}])
    assert doc["check_mode"] is False
    jsonschema.validate(doc, SCHEMA)
    assert cleanup_report(["h1"], [{"status": "planned"}], check_mode=True)["check_mode"] is True
