# -*- coding: utf-8 -*-
"""transfer_images.yml between two fleet hosts: only what the destination lacks moves; a rerun moves nothing."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import subprocess

import jsonschema

from conftest import FLEET_KEY, container

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with open(os.path.join(ROOT, "docs", "transfer-report.schema.json")) as _f:
    SCHEMA = json.load(_f)
TRANSFER = os.path.join(ROOT, "playbooks", "transfer_images.yml")


def image_id(fleet, host, ref):
    return fleet.sh(host, "docker", "image", "inspect", "-f", "{{.Id}}", ref).strip()


def row(stdout, host):
    m = re.search(r'"%s\s+h1\s+\w+\s+(\d+)\s+(\d+)\s+(\S+)\s+(\w+)"' % host, stdout)
    assert m, stdout[-3000:]
    return m.groups()


STAGED = re.compile(r"Create this run's staging directory on the controller\] \**\nchanged: \[h2 -> localhost\] => "
                    r"(\{.*\})\n")


def staged_in(res, tmpdir):
    """The controller's staging directory of a run (shown with -v): made for the run, private, gone after it."""
    m = STAGED.search(res.stdout)
    assert m, res.stdout[-3000:]
    made = json.loads(m.group(1))
    path = made["path"]
    assert os.path.dirname(path) == tmpdir and os.path.basename(path).startswith("dockyard-transfer-"), path
    assert made["mode"] == "0700" and made["state"] == "directory", made
    assert not os.path.exists(path), "%s was left on the controller" % path
    assert not re.search(r"(?<!/var)/tmp/dockyard-transfer/", res.stdout)  # the fixed path of earlier versions
    return path


def test_transfer_moves_only_what_is_missing(fleet_hosts, tmp_path):
    fleet_hosts.reset("h1", "h2")
    app_h1 = image_id(fleet_hosts, "h1", "seed/app:2")
    assert image_id(fleet_hosts, "h2", "seed/app:2") != app_h1  # seeded apart: other IDs
    # The controller's temporary directory of these runs: the staging directories are made in it.
    tmpdir = str(tmp_path)
    started_in = tmp_path / "run"
    started_in.mkdir()
    res = fleet_hosts.playbook(TRANSFER, extra={"transfer_source": "h1", "transfer_to": "h2",
                                                "transfer_images": ["seed/app:2"], "transfer_compression": "zstd"},
                               env={"TMPDIR": tmpdir}, options=["-v"], cwd=str(started_in))
    first = staged_in(res, tmpdir)
    # The report, with no transfer_report_file, is written where the run was started.
    with open(str(started_in / "docker_root_transfer.json")) as f:
        report = json.load(f)
    jsonschema.validate(report, SCHEMA)
    assert report["kind"] == "transfer" and report["check_mode"] is False, report
    assert report["source"] == "h1" and [h["host"] for h in report["hosts"]] == ["h2"], report
    assert "Report: %s/docker_root_transfer.json" % started_in in res.stdout
    assert '"dest": "%s/transfer-' % first in res.stdout, "the archive was not fetched into it"
    wanted, loaded, _moved, status = row(res.stdout, "h2")
    assert (wanted, loaded, status) == ("1", "1", "loaded")
    assert image_id(fleet_hosts, "h2", "seed/app:2") == app_h1
    out = fleet_hosts.sh("h2", "docker", "run", "--rm", "--network", "none", "seed/app:2", "cat", "/app/version")
    assert out.strip() == "v2"
    # Nothing is left behind on either host.
    for host in ("h1", "h2"):
        assert fleet_hosts.sh(host, "sh", "-c", "ls -A /var/tmp/dockyard-transfer 2>/dev/null | wc -l").strip() == "0"
    # The rerun moves nothing and changes nothing.
    res = fleet_hosts.playbook(TRANSFER, extra={"transfer_source": "h1", "transfer_to": "h2",
                                                "transfer_images": ["seed/app:2"]})
    assert row(res.stdout, "h2")[1:] == ("0", "0B", "unchanged")
    assert re.search(r"^h2\s+: ok=\d+\s+changed=0\s", res.stdout, re.M), res.stdout[-2000:]
    # With one image already there, only the other moves.
    tool_h1 = image_id(fleet_hosts, "h1", "seed/tool:1")
    res = fleet_hosts.playbook(TRANSFER, extra={"transfer_source": "h1", "transfer_to": "h2",
                                                "transfer_images": ["seed/app:2", "seed/tool:1"]},
                               env={"TMPDIR": tmpdir}, options=["-v"])
    assert row(res.stdout, "h2")[:2] == ("2", "1")
    assert row(res.stdout, "h2")[3] == "loaded"
    assert image_id(fleet_hosts, "h2", "seed/tool:1") == tool_h1
    assert image_id(fleet_hosts, "h2", "seed/app:2") == app_h1
    assert staged_in(res, tmpdir) != first, "each run stages in a directory of its own"
    assert [n for n in os.listdir(tmpdir) if n.startswith("dockyard-transfer")] == []


def test_the_staging_directory_goes_when_the_transfer_fails(fleet_hosts, tmp_path):
    """The archive's name is forced into a directory the source lacks: the save fails after the controller's
    staging directory was made, and the run removes it all the same."""
    fleet_hosts.sh("h1", "docker", "tag", "seed/base:1", "fail/stage:1")
    fleet_hosts.sh("h2", "sh", "-c", "docker rmi -f fail/stage:1 >/dev/null 2>&1; true")
    tmpdir = str(tmp_path)
    res = fleet_hosts.playbook(TRANSFER, check=False, env={"TMPDIR": tmpdir}, options=["-v"], extra={
        "transfer_source": "h1", "transfer_to": "h2", "transfer_images": ["fail/stage:1"],
        "__transfer_images_archive": "missing/transfer.tar"})
    assert res.returncode != 0
    assert "the directory /var/tmp/dockyard-transfer/missing for dest does not exist" in res.stdout, \
        res.stdout[-3000:]
    staged_in(res, tmpdir)
    assert [n for n in os.listdir(tmpdir) if n.startswith("dockyard-transfer")] == []


def test_transfer_refuses_an_image_the_source_lacks(fleet_hosts):
    res = fleet_hosts.playbook(TRANSFER, check=False, extra={"transfer_source": "h1", "transfer_to": "h2",
                                                             "transfer_images": ["no/such:image"]})
    assert res.returncode != 0
    assert "h1 has no image named no/such:image" in res.stdout


def test_transfer_straight_between_hosts(fleet_hosts):
    """via=direct: h2 pulls the archive from h1 over SSH on loopback; the controller holds nothing."""
    key = FLEET_KEY
    subprocess.run(["docker", "cp", key, container("h2") + ":/root/.ssh/fleet_key"], check=True, timeout=60)
    fleet_hosts.sh("h2", "chmod", "600", "/root/.ssh/fleet_key")
    base_h1 = image_id(fleet_hosts, "h1", "seed/base:1")
    fleet_hosts.sh("h2", "sh", "-c", "docker rmi -f base/direct:1 >/dev/null 2>&1; true")
    fleet_hosts.sh("h1", "docker", "tag", "seed/base:1", "base/direct:1")
    res = fleet_hosts.playbook(TRANSFER, extra={
        "transfer_source": "h1", "transfer_to": "h2", "transfer_images": ["base/direct:1"], "transfer_via": "direct",
        "transfer_ssh_key": "/root/.ssh/fleet_key",
        "transfer_ssh_args": "-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"})
    assert re.search(r'"h2\s+h1\s+direct\s+1\s+1\s+\S+\s+loaded"', res.stdout), res.stdout[-3000:]
    assert re.search(r"Pull the archive and its sidecar straight from the source\] \**\nchanged: \[h2\]", res.stdout)
    assert re.search(r"Bring the archive and its sidecar to the controller\] \**\nskipping: \[h2\]", res.stdout)
    assert image_id(fleet_hosts, "h2", "base/direct:1") == base_h1
    assert fleet_hosts.sh("h2", "sh", "-c", "ls -A /var/tmp/dockyard-transfer | wc -l").strip() == "0"


SSH_ARGS = "-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"


def test_transfer_streams_with_no_archive_and_reruns_as_a_no_op(fleet_hosts):
    """via=stream: docker save on h1 piped over SSH into h2's Engine API; no archive on any disk."""
    key = FLEET_KEY
    subprocess.run(["docker", "cp", key, container("h2") + ":/root/.ssh/fleet_key"], check=True, timeout=60)
    fleet_hosts.sh("h2", "chmod", "600", "/root/.ssh/fleet_key")
    fleet_hosts.sh("h2", "sh", "-c", "docker rmi -f stream/app:1 stream/app:1b stream/tool:1 >/dev/null 2>&1; true")
    fleet_hosts.sh("h1", "sh", "-c", "docker tag seed/app:2 stream/app:1 && docker tag seed/app:2 stream/app:1b && "
                   "docker tag seed/tool:1 stream/tool:1")
    extra = {"transfer_source": "h1", "transfer_to": "h2", "transfer_via": "stream",
             "transfer_images": ["stream/app:1", "stream/app:1b", "stream/tool:1"],
             "transfer_ssh_key": "/root/.ssh/fleet_key", "transfer_ssh_args": SSH_ARGS}
    res = fleet_hosts.playbook(TRANSFER, extra=extra)
    wanted, loaded, moved, status = row(res.stdout, "h2")
    assert (wanted, loaded, status) == ("2", "2", "loaded"), res.stdout[-3000:]  # two IDs, three tags
    assert moved not in ("0B", "0"), moved
    assert re.search(r"Stream the missing images straight from the source[^\n]*\**\nchanged: \[h2\]", res.stdout)
    assert re.search(r"Move the missing images through an archive\] \**\nskipping: \[h2\]", res.stdout)
    for ref in ("stream/app:1", "stream/app:1b", "stream/tool:1"):
        assert image_id(fleet_hosts, "h2", ref) == image_id(fleet_hosts, "h1", ref)
    for host in ("h1", "h2"):
        assert fleet_hosts.sh(host, "sh", "-c", "ls -A /var/tmp/dockyard-transfer 2>/dev/null | wc -l").strip() == "0"
    res = fleet_hosts.playbook(TRANSFER, extra=extra)
    assert row(res.stdout, "h2")[1:] == ("0", "0B", "unchanged")
    assert re.search(r"^h2\s+: ok=\d+\s+changed=0\s", res.stdout, re.M), res.stdout[-2000:]


def test_a_failing_stream_is_an_error_that_loads_nothing(fleet_hosts):
    fleet_hosts.sh("h2", "sh", "-c", "docker rmi -f stream/gone:1 >/dev/null 2>&1; true")
    app = image_id(fleet_hosts, "h1", "seed/app:2")
    listing = ["docker", "images", "--all", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"]
    before = sorted(fleet_hosts.sh("h2", *listing).splitlines())
    # The source does not answer on this port: ssh fails before a byte is sent.
    res = fleet_hosts.module("h2", "dockyard.migrate.image_load", {
        "src_command": ["ssh", "-p", "1", "-o", "BatchMode=yes", "root@127.0.0.1", "docker", "save", "seed/app:2"],
        "images": [{"id": app, "tags": ["stream/gone:1"]}]}, expect="failed")
    assert res.get("failed") and "src_command failed (rc=255)" in res["msg"], res
    # A stream that is not an archive is refused by Docker.
    res = fleet_hosts.module("h2", "dockyard.migrate.image_load", {
        "src_command": ["echo", "not a tar archive"], "images": [{"id": app, "tags": ["stream/gone:1"]}]},
        expect="failed")
    assert res.get("failed") and "Docker refused the stream of echo" in res["msg"], res
    assert sorted(fleet_hosts.sh("h2", *listing).splitlines()) == before
