# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.dockyard.migrate.plugins.filter.precheck_rows import precheck_rows

MB = 1024 * 1024


def info(**over):
    base = {"engine": {"running": True}, "filesystem": {"mount_point": "/"},
            "config": {"snap": False, "flag_data_root": None, "daemon_json_error": None},
            "candidate": {"fits": True, "same_filesystem": False, "free_after_bytes": 900 * MB, "reason": "fits"},
            "layout": {"totals": {"bytes": 300 * MB},
                       "components": [{"name": "overlay2", "bytes": 250 * MB}, {"name": "volumes", "bytes": 30 * MB},
                                      {"name": "containers", "bytes": 20 * MB}]}}
    for k, v in over.items():
        base[k] = dict(base[k], **v)
    return base


PLAN = {"changed": True, "planned_bytes": 310 * MB, "free_after_bytes": {"/mnt/data": 800 * MB}}


def test_fits_with_bytes_free_space_and_estimates():
    doc = precheck_rows([{"host": "h1", "info": info(), "plan": PLAN}], ["h1"], target="/mnt/data/docker",
                        rate=100 * MB, restart_seconds=10)
    row = doc["hosts"][0]
    assert (row["status"], row["fits"], row["bytes"], row["free_after_bytes"]) == ("fits", True, 310 * MB, 800 * MB)
    assert row["copy_seconds"] == 3.1 and row["downtime_seconds"] == 10.5  # 10 s + (30 + 20) MB at 100 MB/s
    assert doc["counts"]["fits"] == 1 and doc["total_bytes"] == 310 * MB
    assert doc["summary"][0] == "1 of 1 hosts can move to /mnt/data/docker, 0 already there, 0 cannot move, " \
                                "0 unreachable; 310.0M to copy."
    one_phase = precheck_rows([{"host": "h1", "info": info(), "plan": PLAN}], ["h1"], rate=100 * MB,
                              restart_seconds=10, two_phase=False)
    assert one_phase["hosts"][0]["downtime_seconds"] == 13.1


def test_every_reason_is_named_and_no_host_stops_the_others():
    results = [
        {"host": "a", "info": info(config={"flag_data_root": "/srv/d"}), "plan": {},
         "refused": "a --data-root flag in the service overrides"},
        {"host": "b", "info": info(candidate={"same_filesystem": True}), "plan": PLAN},
        {"host": "c", "info": info(config={"snap": True}, engine={"running": False}), "plan": {}, "refused": "x"},
        {"host": "d", "info": info(candidate={"fits": False, "reason": "/mnt/data has 5 bytes free"}), "plan": {},
         "refused": "/mnt/data has 5 bytes free, the data needs 9"},
        {"host": "e", "unreachable": True, "message": "ssh: connect refused"},
        {"host": "f", "info": info(), "plan": {"changed": False}},
        None,
    ]
    doc = precheck_rows(results, ["a", "b", "c", "d", "e", "f", "g"], target="/mnt/data/docker")
    rows = dict((r["host"], r) for r in doc["hosts"])
    assert "a --data-root flag in the service (/srv/d)" in rows["a"]["why"]
    assert "own filesystem (/)" in rows["b"]["why"] and rows["b"]["status"] == "cannot move"
    assert rows["c"]["reasons"][:2] == ["Docker is not running (start it so its inventory can be recorded)",
                                        "Docker is a snap (not supported)"]
    assert rows["c"]["reasons"][-1] == "x"
    assert rows["d"]["reasons"] == ["/mnt/data has 5 bytes free"]  # the refusal repeats it: said once
    assert rows["e"]["status"] == "unreachable" and rows["f"]["status"] == "already done"
    assert rows["g"]["status"] == "unknown"
    assert doc["counts"] == {"fits": 0, "cannot move": 4, "already done": 1, "unreachable": 1, "unknown": 1}


def test_bad_input():
    with pytest.raises(AnsibleFilterError, match="same order"):
        precheck_rows([None], [])
    with pytest.raises(AnsibleFilterError, match="rate must be a positive"):
        precheck_rows([], [], rate=0)
