# -*- coding: utf-8 -*-
"""transfer_images.yml between two fleet hosts: only what the destination lacks moves; a rerun moves nothing."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRANSFER = os.path.join(ROOT, "playbooks", "transfer_images.yml")


def image_id(fleet, host, ref):
    return fleet.sh(host, "docker", "image", "inspect", "-f", "{{.Id}}", ref).strip()


def row(stdout, host):
    m = re.search(r'"%s\s+h1\s+(\d+)\s+(\d+)\s+(\S+)\s+(\w+)"' % host, stdout)
    assert m, stdout[-3000:]
    return m.groups()


def test_transfer_moves_only_what_is_missing(fleet_hosts):
    fleet_hosts.reset("h1", "h2")
    app_h1 = image_id(fleet_hosts, "h1", "seed/app:2")
    assert image_id(fleet_hosts, "h2", "seed/app:2") != app_h1  # seeded apart: other IDs
    res = fleet_hosts.playbook(TRANSFER, extra={"transfer_source": "h1", "transfer_to": "h2",
                                                "transfer_images": ["seed/app:2"], "transfer_compression": "zstd"})
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
                                                "transfer_images": ["seed/app:2", "seed/tool:1"]})
    assert row(res.stdout, "h2")[:2] == ("2", "1")
    assert row(res.stdout, "h2")[3] == "loaded"
    assert image_id(fleet_hosts, "h2", "seed/tool:1") == tool_h1
    assert image_id(fleet_hosts, "h2", "seed/app:2") == app_h1


def test_transfer_refuses_an_image_the_source_lacks(fleet_hosts):
    res = fleet_hosts.playbook(TRANSFER, check=False, extra={"transfer_source": "h1", "transfer_to": "h2",
                                                             "transfer_images": ["no/such:image"]})
    assert res.returncode != 0
    assert "h1 has no image named no/such:image" in res.stdout
