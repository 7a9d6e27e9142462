# -*- coding: utf-8 -*-
"""transfer_images fanout=tree: destinations that received the images serve the next ones, each at most two.

Source h1 (Docker 20.10), destinations h2, h3 (Docker 26.1, containerd image store), h4, h5 in name order: h1 serves
h2 and h3 in round 1, h2 serves h4 and h5 in round 2.  Who served whom and the bytes each host sent are read from
ssh's own log on each destination (-v -E LOG: the port it connected to, "Transferred: ... received N bytes"), not
from the collection."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import subprocess
import sys

import pytest

from conftest import container, port_host

from test_transfer_layers import KEY, LOG, ROOT, SSH_OPTS, TRANSFER, config_digest, save_size

SOURCE = "h1"
DESTS = ["h2", "h3", "h4", "h5"]
IMAGE = "fan/app:1"
RANDOM_KIB = 4096  # the image's own layer: random bytes, on no destination before the run


def bring_up(fleet):
    fleet.up_extra("--first", "3", "--hosts", "1", "--suite", "trixie", "--containerd-store")
    fleet.up_extra("--first", "4", "--hosts", "2")
    # Hosts are reused as they are; seeding a seeded host is a no-op.
    subprocess.run([sys.executable, os.path.join(ROOT, "tests", "fleet", "fleet.py"), "seed", SOURCE] + DESTS,
                   check=True, timeout=900, stdout=subprocess.DEVNULL)
    for host in [SOURCE] + DESTS:
        subprocess.run(["docker", "cp", KEY, container(host) + ":/root/.ssh/fleet_key"], check=True, timeout=60)
        fleet.sh(host, "chmod", "600", "/root/.ssh/fleet_key")


def make_image(fleet):
    fleet.sh(SOURCE, "sh", "-c", "docker rmi %s >/dev/null 2>&1; c=$(docker create --network none seed/base:1 sh -c "
             "'head -c %d /dev/urandom > /fan') && docker start -a $c >/dev/null && docker commit $c %s >/dev/null "
             "&& docker rm $c >/dev/null" % (IMAGE, RANDOM_KIB * 1024, IMAGE))


def clear(fleet, *hosts):
    for host in hosts:
        fleet.sh(host, "sh", "-c", "rm -f %s; docker rmi %s >/dev/null 2>&1; docker image prune -f >/dev/null; true"
                 % (LOG, IMAGE))


def ssh_log(fleet, host):
    """The hosts this destination's ssh connected to, and the bytes it received, from its log."""
    text = fleet.sh(host, "sh", "-c", "cat %s 2>/dev/null; true" % LOG)
    ports = re.findall(r"Connecting to 127\.0\.0\.1 \[127\.0\.0\.1\] port (\d+)", text)
    got = [int(n) for n in re.findall(r"Transferred: sent \d+, received (\d+) bytes", text)]
    return [port_host(p) for p in ports], got, text


def served(fleet):
    """{sender: {receiver: bytes}} from each destination's ssh log."""
    out = {}
    for host in DESTS:
        senders, got, text = ssh_log(fleet, host)
        assert len(senders) == len(got) <= 1, text[-2000:]
        if senders:
            out.setdefault(senders[0], {})[host] = got[0]
    return out


def run(fleet, check=True, options=None):
    args = {"transfer_source": SOURCE, "transfer_to": ",".join(DESTS), "transfer_via": "stream",
            "transfer_images": [IMAGE], "transfer_fanout": "tree", "transfer_ssh_key": "/root/.ssh/fleet_key",
            "transfer_ssh_args": " ".join(SSH_OPTS + ["-v", "-E", LOG])}
    return fleet.playbook(TRANSFER, extra=args, check=check, options=options)


def recap(stdout, host):
    m = re.search(r"^%s\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)" % host, stdout, re.M)
    assert m, stdout[-3000:]
    return {"ok": int(m.group(1)), "changed": int(m.group(2)), "failed": int(m.group(3))}


def has_image(fleet, host):
    return fleet.sh(host, "docker", "image", "inspect", IMAGE, check=False).strip() not in ("", "[]")


@pytest.mark.timeout(2400)  # h4 and h5 may need the host image built first
def test_a_tree_fanout_lets_destinations_serve_the_next_ones(fleet_hosts):
    bring_up(fleet_hosts)
    make_image(fleet_hosts)
    set_bytes = save_size(fleet_hosts, SOURCE, IMAGE)
    clear(fleet_hosts, *DESTS)

    # Check mode: every destination would load, nothing crosses the wire, nothing is loaded.
    res = run(fleet_hosts, options=["--check"])
    assert served(fleet_hosts) == {}, res.stdout[-3000:]
    for host in DESTS:
        assert recap(res.stdout, host)["changed"] >= 1 and not has_image(fleet_hosts, host), res.stdout[-3000:]

    res = run(fleet_hosts)
    tree = served(fleet_hosts)
    sent = dict((k, sum(v.values())) for k, v in tree.items())
    print("set", set_bytes, "served", tree)
    assert dict((k, sorted(v)) for k, v in tree.items()) == {"h1": ["h2", "h3"], "h2": ["h4", "h5"]}, tree
    # Each sender really sent its children the image's own layer, no destination received more than the set, and
    # so no host sent more than twice the set (what each destination lacks differs with its image store).
    got = [b for v in tree.values() for b in v.values()]
    assert min(got) >= RANDOM_KIB * 1024 and max(got) <= set_bytes * 1.05 + 65536, (tree, set_bytes)
    assert max(sent.values()) <= 2 * set_bytes * 1.05 + 65536, (sent, set_bytes)
    digest = config_digest(fleet_hosts, SOURCE, IMAGE)
    assert [config_digest(fleet_hosts, h, IMAGE) for h in DESTS] == [digest] * len(DESTS)

    # The rerun: every destination holds the image (h3 under another ID in its containerd store), nothing moves.
    res = run(fleet_hosts)
    assert served(fleet_hosts) == tree
    for host in DESTS:
        assert recap(res.stdout, host)["changed"] == 0, res.stdout[-3000:]

    # h2 fails in round 1 (its key into the source is gone): its subtree h4, h5 fails, naming it, and loads
    # nothing; h3, served by the source, completes.
    clear(fleet_hosts, *DESTS)
    fleet_hosts.sh("h2", "mv", "/root/.ssh/fleet_key", "/root/.ssh/fleet_key.away")
    try:
        res = run(fleet_hosts, check=False)
    finally:
        fleet_hosts.sh("h2", "mv", "/root/.ssh/fleet_key.away", "/root/.ssh/fleet_key")
    assert res.returncode != 0
    out = res.stdout
    assert re.search(r"fatal: \[h2\]: FAILED!.*src_command failed \(rc=255\)", out), out[-4000:]
    for host in ("h4", "h5"):
        assert re.search(r"fatal: \[%s\]: FAILED!.*%s was to receive the images from h2 in round 2, but h2 "
                         r"failed" % (host, host), out), out[-4000:]
        assert recap(out, host)["failed"] == 1 and not has_image(fleet_hosts, host)
    assert recap(out, "h3") == dict(recap(out, "h3"), failed=0, changed=1), out[-4000:]
    assert config_digest(fleet_hosts, "h3", IMAGE) == digest and not has_image(fleet_hosts, "h2")
    senders, got, _text = ssh_log(fleet_hosts, "h3")
    assert senders == ["h1"] and got[0] >= RANDOM_KIB * 1024, (senders, got)
    assert ssh_log(fleet_hosts, "h2")[0] == ["h1"]  # it tried the source, and was refused
    assert [ssh_log(fleet_hosts, h)[0] for h in ("h4", "h5")] == [[], []]  # their ssh never ran

    # A destination already down when the run starts (h2's Docker stopped) is left out of the tree: the others are
    # placed without it (h1 serves h3 and h4, h3 serves h5) and complete.
    clear(fleet_hosts, *DESTS)
    fleet_hosts.sh("h2", "systemctl", "stop", "docker.socket", "docker.service")
    try:
        res = run(fleet_hosts, check=False)
    finally:
        fleet_hosts.sh("h2", "systemctl", "start", "docker.socket", "docker.service")
    assert recap(res.stdout, "h2")["failed"] == 1, res.stdout[-4000:]
    assert ssh_log(fleet_hosts, "h2")[0] == [] and not has_image(fleet_hosts, "h2")  # never streamed
    assert dict((k, sorted(v)) for k, v in served(fleet_hosts).items()) == {"h1": ["h3", "h4"], "h3": ["h5"]}
    for host in ("h3", "h4", "h5"):
        assert recap(res.stdout, host)["failed"] == 0 and config_digest(fleet_hosts, host, IMAGE) == digest
