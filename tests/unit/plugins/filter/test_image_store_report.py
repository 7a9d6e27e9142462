# -*- coding: utf-8 -*-
"""The image store conversion's report: a row for every host, what each carried, and why a host failed."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.dockyard.migrate.plugins.filter.image_store_report import image_store_report


def test_converted_refused_and_not_started_hosts():
    results = [
        {"status": "converted", "store_before": "classic", "store_after": "containerd", "images": "4",
         "containers": 5, "actions": ["imported 4 tags"], "error": None,
         "inactive_store": {"store": "classic", "bytes": 4096, "containers": ["web"]}},
        {"status": " refused", "store_before": "classic", "error": {"phase": "preflight", "message": "live-restore"}},
        {},
    ]
    doc = image_store_report(["h2", "h1", "h3"], results, ended="2026-12-06T00:00:00Z", store="containerd")
    assert [r["host"] for r in doc["hosts"]] == ["h1", "h2", "h3"]
    h1, h2, h3 = doc["hosts"]
    assert (h2["status"], h2["images"], h2["containers"], h2["store_after"]) == ("converted", 4, 5, "containerd")
    assert h2["inactive_store"] == {"store": "classic", "bytes": 4096, "containers": ["web"]}
    assert h1["status"] == "refused" and h1["error"]["message"] == "live-restore" and h1["inactive_store"] is None
    assert h3["status"] == "not started" and "stopped before this host" in h3["error"]["message"]
    assert doc["outcome"] == "failed" and doc["counts"]["converted"] == 1 and doc["counts"]["not started"] == 1
    assert doc["kind"] == "image_store" and doc["store"] == "containerd" and doc["check_mode"] is False


def test_a_run_where_every_host_converted_or_ran_the_store_already_succeeds():
    doc = image_store_report(["h1", "h2"], [{"status": "converted"}, {"status": "unchanged"}], check_mode=True)
    assert doc["outcome"] == "success" and doc["check_mode"] is True


def test_a_status_it_does_not_know_and_mismatched_lists_are_errors():
    with pytest.raises(AnsibleFilterError, match="h1 has the unknown status 'moved'"):
        image_store_report(["h1"], [{"status": "moved"}])
    with pytest.raises(AnsibleFilterError, match="expects the host names"):
        image_store_report(["h1", "h2"], [{}])


@pytest.mark.parametrize("bad", ["refused", "failed", "not started"])
def test_every_status_is_counted_and_each_bad_one_fails_the_run(bad):
    """One host of each status: each counted once; a run with any refused, failed or not started host fails, one
    with only the others succeeds."""
    statuses = ["converted", "planned", "unchanged", "refused", "failed", "not started"]
    doc = image_store_report(["h%d" % i for i in range(len(statuses))], [{"status": s} for s in statuses])
    assert doc["counts"] == dict((s, 1) for s in statuses) and doc["outcome"] == "failed", doc["counts"]
    good = image_store_report(["a", "b", "c"], [{"status": s} for s in ("converted", "planned", "unchanged")])
    assert good["outcome"] == "success" and sum(good["counts"].values()) == 3
    one_bad = image_store_report(["a", "b"], [{"status": "converted"}, {"status": bad}])
    assert one_bad["outcome"] == "failed" and one_bad["counts"][bad] == 1 and one_bad["counts"]["converted"] == 1
