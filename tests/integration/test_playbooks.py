# -*- coding: utf-8 -*-
"""The fleet playbooks end to end: migrate, rerun, roll back, and a failure that stops the rollout."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re

import jsonschema
import pytest

from conftest import Fleet

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MIGRATE = os.path.join(ROOT, "playbooks", "migrate_docker_root.yml")
ROLLBACK = os.path.join(ROOT, "playbooks", "rollback_docker_root.yml")
REPORT = os.path.join(ROOT, "playbooks", "docker_root_report.yml")
with open(os.path.join(ROOT, "docs", "report.schema.json")) as _f:
    SCHEMA = json.load(_f)


def load_report(path):
    with open(path) as f:
        data = json.load(f)
    jsonschema.validate(data, SCHEMA)
    return data


def recap(stdout):
    out = {}
    for m in re.finditer(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", stdout, re.M):
        out[m.group(1)] = {"ok": int(m.group(2)), "changed": int(m.group(3)), "failed": int(m.group(5))}
    return out


def root_of(fleet, host):
    return fleet.sh(host, "sh", "-c", "docker info --format '{{.DockerRootDir}}'; "
                    "findmnt --noheadings --output SOURCE /var/lib/docker || echo not-mounted; "
                    "docker ps --format '{{.Names}}' | sort | xargs").split("\n")


@pytest.fixture(scope="module")
def seeded(fleet_hosts):
    fleet_hosts.reset("h1", "h2")
    return fleet_hosts


def test_migrate_rerun_and_rollback(seeded, tmp_path):
    report = str(tmp_path / "report.json")
    extra = {"docker_root_target": "/mnt/data/docker", "migrate_report_file": report,
             "docker_root_progress_interval": 1}
    # Check mode: a plan with the bytes to copy, and nothing touched.
    res = seeded.playbook(MIGRATE, limit="h1,h2", extra=extra, options=["--check"])
    for host in ("h1", "h2"):
        assert root_of(seeded, host)[1] == "not-mounted"
    plan = load_report(report)
    assert plan["check_mode"] and [h["status"] for h in plan["hosts"]] == ["planned", "planned"]
    assert all(h["bytes"] > 1000000 and h["bytes"] == h["planned_bytes"] for h in plan["hosts"]), plan["hosts"]
    # The table is printed as plain text lines, not as a JSON-quoted list.
    assert re.search(r"^HOST\s+OLD ROOT\s+NEW ROOT\s+METHOD\s+BYTES", res.stdout, re.M), res.stdout[-3000:]
    assert re.search(r"^h1\s+/var/lib/docker\s+/mnt/data/docker\s+bind\s+[\d.]+[KMG]\s+0(\.0)?\s+no\s+planned(\s|$)",
                     res.stdout, re.M), res.stdout[-3000:]
    # The real run.
    res = seeded.playbook(MIGRATE, limit="h1,h2", extra=extra)
    rc = recap(res.stdout)
    assert rc["h1"]["failed"] == 0 and rc["h2"]["failed"] == 0
    assert re.search(r"^h1: (online_copy|stop|final_copy|switch|start|verify|record)", res.stdout, re.M), \
        "no progress line was printed"
    data = load_report(report)
    assert [h["host"] for h in data["hosts"]] == ["h1", "h2"]
    assert data["outcome"] == "success" and not data["check_mode"] and data["started"] <= data["ended"]
    assert all(h["status"] == "moved" and h["verified"] for h in data["hosts"])
    assert all(h["bytes"] > 0 and h["downtime_seconds"] > 0 for h in data["hosts"])
    for h in data["hosts"]:
        assert {"online_copy", "stop", "switch", "start"} <= set(p["phase"] for p in h["phases"]), h["phases"]
    assert "2 moved, 0 already done" in res.stdout
    for host in ("h1", "h2"):
        root, source, running = root_of(seeded, host)[:3]
        assert root == "/var/lib/docker"
        assert re.match(r"/dev/loop\d+\[/docker\]$", source)
        assert running == "web worker"
    # The rerun changes nothing and says so.
    res = seeded.playbook(MIGRATE, limit="h1,h2", extra=extra)
    rc = recap(res.stdout)
    assert rc["h1"]["changed"] == 0 and rc["h2"]["changed"] == 0
    assert "Nothing changed: every host already runs Docker from /mnt/data/docker" in res.stdout
    # A host already moved is verified from this run's own look at it: on h2 the bind is not mounted and Docker is
    # stopped (as after a boot whose data disk did not mount), and the rerun fails h2 saying so, touching nothing.
    seeded.sh("h2", "sh", "-c", "systemctl stop docker.socket docker.service && umount /var/lib/docker")
    fstab = seeded.sh("h2", "cat", "/etc/fstab")
    res = seeded.playbook(MIGRATE, limit="h1,h2", extra=extra, check=False)
    rc = recap(res.stdout)
    assert res.returncode != 0 and rc["h2"]["failed"] == 1 and rc["h1"]["failed"] == 0, res.stdout[-3000:]
    assert re.search(r"Already moved, but h2 does not serve from /mnt/data/docker as expected: Docker not running, "
                     r"method bind, bind mount not mounted", res.stdout), res.stdout[-3000:]
    assert seeded.sh("h2", "cat", "/etc/fstab") == fstab
    failed = [h for h in load_report(report)["hosts"] if h["host"] == "h2"][0]
    assert (failed["status"], failed["error"]["phase"]) == ("failed", "verify"), failed
    assert seeded.sh("h2", "sh", "-c", "findmnt /var/lib/docker >/dev/null && echo mounted; "
                     "systemctl is-active docker.service; true").split() == ["inactive"]
    seeded.sh("h2", "sh", "-c", "mount /var/lib/docker && systemctl start docker.service")
    # The fleet report sees the bind mounts.
    res = seeded.playbook(REPORT, limit="h1,h2")
    assert re.search(r"^h1\s+/var/lib/docker\s+bind\s+overlay2\s+/dev/loop", res.stdout, re.M), res.stdout[-3000:]
    # A rollback to a root no move went to is refused by the module's own checks, before anything changed. h1 is
    # given such a root in the inventory (h2 the one it moved to): by default (stop) the refusal stops the
    # rollback before h2; with migrate_on_refusal=skip it goes on and h2 is restored.
    back = str(tmp_path / "rollback.json")
    with open(seeded.inventory) as f:
        text = f.read()
    text = re.sub(r"^(h1 .*)$", r"\1 docker_root_target=/mnt/data/elsewhere", text, flags=re.M)
    text = re.sub(r"^(h2 .*)$", r"\1 docker_root_target=/mnt/data/docker", text, flags=re.M)
    (tmp_path / "targets.ini").write_text(text)
    targets = Fleet(str(tmp_path / "targets.ini"))
    before = dict((h, (root_of(seeded, h), seeded.sh(h, "cat", "/etc/fstab"))) for h in ("h1", "h2"))
    # Run from a directory of its own, as cron would (PWD not that directory): the report goes there by default.
    res = targets.playbook(ROLLBACK, limit="h1,h2", check=False, cwd=str(tmp_path), env={"PWD": "/nonexistent"})
    assert res.returncode != 0 and "1 refused" in res.stdout, res.stdout[-3000:]
    rows = dict((h["host"], h) for h in load_report(str(tmp_path / "docker_root_rollback.json"))["hosts"])
    assert (rows["h1"]["status"], rows["h1"]["error"]["phase"], rows["h2"]["status"]) == \
        ("refused", "preflight", "not started"), rows
    assert "no record of a move to /mnt/data/elsewhere" in rows["h1"]["error"]["message"], rows
    assert re.search(r"^h1\s.*\srefused$", res.stdout, re.M), res.stdout[-3000:]
    assert dict((h, (root_of(seeded, h), seeded.sh(h, "cat", "/etc/fstab"))) for h in ("h1", "h2")) == before
    res = targets.playbook(ROLLBACK, limit="h1,h2", check=False, extra={"migrate_report_file": back,
                                                                        "migrate_on_refusal": "skip"})
    assert res.returncode != 0, res.stdout[-3000:]
    data = load_report(back)
    assert [(h["host"], h["status"]) for h in data["hosts"]] == [("h1", "refused"), ("h2", "restored")], data
    assert data["settings"]["on_refusal"] == "skip"
    assert (root_of(seeded, "h1"), seeded.sh("h1", "cat", "/etc/fstab")) == before["h1"]
    # Roll back, then roll back again (nothing to do).
    res = seeded.playbook(ROLLBACK, limit="h1,h2", extra={"docker_root_target": "/mnt/data/docker",
                                                          "migrate_report_file": back})
    assert re.search(r"^h1\s+/var/lib/docker\s+/mnt/data/docker\s+\S+\s+[\d.]+\s+yes\s+restored$", res.stdout, re.M)
    data = load_report(back)
    assert data["kind"] == "rollback" and [h["status"] for h in data["hosts"]] == ["restored", "unchanged"]
    for host in ("h1", "h2"):
        root, source, running = root_of(seeded, host)[:3]
        assert (root, source, running) == ("/var/lib/docker", "not-mounted", "web worker")
        assert seeded.sh(host, "cat", "/etc/fstab").find("/var/lib/docker") == -1
    res = seeded.playbook(ROLLBACK, limit="h1,h2", extra={"docker_root_target": "/mnt/data/docker",
                                                          "migrate_report_file": back})
    rc = recap(res.stdout)
    assert rc["h1"]["changed"] == 0 and rc["h2"]["changed"] == 0


def test_failure_rolls_back_and_stops_the_rollout(seeded, tmp_path):
    report = str(tmp_path / "report.json")
    # h1 cannot start Docker on a mounted /var/lib/docker: the move must roll back and stop the rollout.
    seeded.sh("h1", "sh", "-c", "mkdir -p /etc/systemd/system/docker.service.d && printf '[Service]\\n"
              "ExecStartPre=/bin/sh -c \"! mountpoint -q /var/lib/docker\"\\n' > "
              "/etc/systemd/system/docker.service.d/zz-test-fault.conf && systemctl daemon-reload")
    try:
        res = seeded.playbook(MIGRATE, limit="h1,h2", check=False,
                              extra={"docker_root_target": "/mnt/data/docker-b", "migrate_report_file": report})
        assert res.returncode != 0
        rc = recap(res.stdout)
        assert rc["h1"]["failed"] == 1 and rc["h2"]["failed"] == 0
        assert "Stopping the rollout: 1 of 1 hosts of this batch failed" in res.stdout
        with open(report + ".d/h1.json") as f:
            h1 = json.load(f)
        assert h1["status"] == "rolled back"
        assert h1["failed_phase"] == "start"
        assert not os.path.exists(report + ".d/h2.json")
        # The report survives the stop: the table, the JSON file, and h2 listed as not started.
        data = load_report(report)
        assert data["outcome"] == "failed"
        assert [(h["host"], h["status"]) for h in data["hosts"]] == [("h1", "rolled back"), ("h2", "not started")]
        assert data["hosts"][0]["error"]["phase"] == "start" and data["hosts"][0]["phases"]
        assert re.search(r"^h1\s+/var/lib/docker\s+/mnt/data/docker-b\s+bind\s.*\sno\s+rolled back(\s|$)", res.stdout, re.M)
        assert re.search(r"^h2\s.*\snot started(\s|$)", res.stdout, re.M), res.stdout[-3000:]
        assert "0 moved, 0 already done, 0 planned (check mode), 1 rolled back, 1 not started" in res.stdout
        for host in ("h1", "h2"):
            root, source, running = root_of(seeded, host)[:3]
            assert (root, source, running) == ("/var/lib/docker", "not-mounted", "web worker")
    finally:
        seeded.sh("h1", "sh", "-c", "rm -f /etc/systemd/system/docker.service.d/zz-test-fault.conf; "
                  "systemctl daemon-reload")
