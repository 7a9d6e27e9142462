# -*- coding: utf-8 -*-
"""The move on older and newer Docker and Python than the default fleet's.

Host kinds (tests/fleet/fleet.py --suite):
  bullseye  Debian 11, docker.io 20.10.5 on Python 3.9 (the oldest Python the collection manages)
  docker28  Debian 13 with forky's Docker 28.5 and containerd 2.1 (with and without the containerd
            image store)

On each: the move with both methods, proved by a manifest of the whole data root taken before it
(paths, types, modes, owners, sizes, content, hard links, xattrs, ACLs, holes), a rerun that
changes nothing, and the rollback (state=restored), proved by the same manifest.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import subprocess
import time

import pytest

from conftest import container, unchanged

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MANIFEST = os.path.join(ROOT, "tests", "fleet", "manifest.py")
# Files dockerd rewrites at every start; layers, image metadata and volume data are compared exactly.
DOCKERD_REWRITES = ["containers/*/config.v2.json", "containers/*/hostconfig.json", "containers/*/hostname",
                    "containers/*/hosts", "containers/*/resolv.conf", "containers/*/resolv.conf.hash",
                    "containers/*/*-json.log", "network/files/local-kv.db", "volumes/metadata.db",
                    "volumes/backingFsBlockDev", "buildkit/*.db"]
# containerd rewrites its two bolt databases at start.
CONTAINERD_REWRITES = ["io.containerd.metadata.v1.bolt/meta.db", "io.containerd.snapshotter.v1.overlayfs/metadata.db"]

# kind: (host, fleet options, the versions the host must report: docker, python, containerd)
KINDS = {
    "bullseye": ("h11", ["--suite", "bullseye"], (r"20\.10\.5\b", r"3\.9\.", None)),
    "docker28": ("h12", ["--suite", "docker28"], (r"28\.5\.", r"3\.13\.", r"2\.1\.")),
    "docker28-containerd-store": ("h13", ["--suite", "docker28", "--containerd-store"],
                                  (r"28\.5\.", r"3\.13\.", r"2\.1\.")),
}
# Hosts whose last test left them as seeded (moved back and proved equal to the seed).
CLEAN = set()
# host -> the versions it reported: Docker, Python, containerd
SEEN = {}


def host_of(fleet, kind):
    """The kind's host, brought up (its image built on first use) and seeded unless a test just left it
    clean; checks that it runs the versions this kind stands for."""
    host, options, versions = KINDS[kind]
    fleet.up_extra("--first", host[1:], "--hosts", "1", *options)
    if host not in CLEAN:
        fleet.reset(host)
    CLEAN.discard(host)
    seen = fleet.sh(host, "sh", "-c", "docker version --format '{{.Server.Version}}'; python3 -V; "
                    "containerd --version").splitlines()
    docker, python, containerd = versions
    assert re.match(docker, seen[0]), seen
    assert re.match(r"Python " + python, seen[1]), seen
    assert containerd is None or re.search(r"\s" + containerd, seen[2]), seen
    SEEN[host] = "Docker %s, %s, containerd %s" % (seen[0], seen[1], seen[2].split()[2] if len(seen) > 2 else "?")
    subprocess.run(["docker", "cp", MANIFEST, container(host) + ":/root/manifest.py"], check=True, timeout=60)
    return host


def stopped(services, command):
    """command, run on the host with the services stopped, then the services started again."""
    return ("systemctl stop docker.socket docker.service %s && %s; rc=$?; "
            "systemctl reset-failed docker.service docker.socket; "
            "systemctl start %s docker.socket docker.service; exit $rc" % (services, command, services))


def save_manifests(fleet, host, roots):
    """Manifests of each root (name -> path), taken with Docker and containerd stopped."""
    fleet.sh(host, "sh", "-c", stopped("containerd.service", " && ".join(
        "python3 /root/manifest.py --save /root/m0-%s.json %s" % (name, path) for name, path in roots.items())))


def same_as_saved(fleet, host, roots):
    """Each root (name -> path where it is served now) equals its saved manifest, entry by entry.
    Returns the number of entries compared, by name."""
    counts = {}
    for name, path in roots.items():
        ignores = DOCKERD_REWRITES if name == "docker" else CONTAINERD_REWRITES
        flags = " ".join("--ignore='%s'" % g for g in ignores)
        out = fleet.sh(host, "sh", "-c", stopped("containerd.service", "python3 /root/manifest.py --against "
                       "/root/m0-%s.json %s --no-dir-mtime %s" % (name, path, flags)), check=False)
        summary = json.loads([line for line in out.splitlines() if line.startswith("{")][-1])
        assert summary["difference_count"] == 0, "%s differs from its manifest: %s" % (path, summary)
        assert summary["entries_a"] > 20 and summary["entries_a"] == summary["entries_b"], summary
        if name == "docker":  # the seed's volume holds hard links, holes and xattrs: they must have come along
            assert summary["hard_linked"] > 0 and summary["sparse"] > 0 and summary["with_xattrs"] > 0, summary
        counts[name] = summary["entries_a"]
    return counts


def served(fleet, host):
    """Docker's root, the mounts on /var/lib/docker and /var/lib/containerd, the running containers."""
    return fleet.sh(host, "sh", "-c", "docker info --format '{{.DockerRootDir}} {{.Driver}}'; "
                    "findmnt --noheadings --output SOURCE /var/lib/docker || echo not-mounted; "
                    "findmnt --noheadings --output SOURCE /var/lib/containerd || echo not-mounted; "
                    "docker ps --format '{{.Names}}' | sort | xargs").splitlines()


@pytest.mark.timeout(2400)  # the first use of a kind builds its image (about 2 minutes each)
@pytest.mark.parametrize("kind,method", [("bullseye", "bind"), ("bullseye", "daemon_json"),
                                         ("docker28", "bind"), ("docker28", "daemon_json")])
def test_move_rerun_and_rollback(fleet_hosts, reliability_rows, kind, method):
    t0 = time.time()
    host = host_of(fleet_hosts, kind)
    target = "/mnt/data/docker-" + method
    save_manifests(fleet_hosts, host, {"docker": "/var/lib/docker"})
    before = served(fleet_hosts, host)
    assert before[1:] == ["not-mounted", "not-mounted", "web worker"], before
    move = {"path": target, "method": method}

    moved = fleet_hosts.module(host, "dockyard.migrate.data_root", move)
    assert not moved.get("failed") and moved["changed"], moved
    assert moved["fingerprint_before"] == moved["fingerprint_after"], moved
    now = served(fleet_hosts, host)
    if method == "bind":
        assert now[0] == before[0] and re.match(r"/dev/loop\d+\[/docker-bind\]$", now[1]), now
    else:
        assert now[0] == "%s %s" % (target, before[0].split()[1]) and now[1] == "not-mounted", now
    assert now[3] == "web worker", now
    there = same_as_saved(fleet_hosts, host, {"docker": target})

    rerun = fleet_hosts.module(host, "dockyard.migrate.data_root", move)
    unchanged(rerun)

    back = fleet_hosts.module(host, "dockyard.migrate.data_root", dict(move, state="restored"))
    assert not back.get("failed") and back["changed"], back
    assert served(fleet_hosts, host) == before
    assert "/var/lib/docker" not in fleet_hosts.sh(host, "cat", "/etc/fstab")
    home = same_as_saved(fleet_hosts, host, {"docker": "/var/lib/docker"})
    again = fleet_hosts.module(host, "dockyard.migrate.data_root", dict(move, state="restored"))
    unchanged(again)
    CLEAN.add(host)
    case = "7. %s (%s), method %s: move, rerun, rollback" % (kind, SEEN[host], method)
    result = "moved: Docker serves %s (%s), %s running, manifest equal (%d entries); rerun changed=false; " \
        "state=restored: %s again, manifest equal (%d entries), its rerun changed=false; %.0f s" % (
            now[0], "bind " + now[1] if method == "bind" else "daemon.json", now[3], there["docker"],
            before[0].split()[0], home["docker"], time.time() - t0)
    reliability_rows.append({"kind": "version", "case": case, "result": result})


@pytest.mark.timeout(2400)
def test_containerd_image_store_on_docker28(fleet_hosts, reliability_rows):
    """Docker 28.5 keeps its images in containerd 2.1: both roots move, and come back."""
    t0 = time.time()
    host = host_of(fleet_hosts, "docker28-containerd-store")
    info = fleet_hosts.module(host, "dockyard.migrate.data_root_info", {"sizes": True})
    assert info["engine"]["containerd_store"] and info["containerd"]["image_store"], info
    assert info["containerd"]["root"] == "/var/lib/containerd"
    roots = {"docker": "/var/lib/docker", "containerd": "/var/lib/containerd"}
    save_manifests(fleet_hosts, host, roots)
    before = served(fleet_hosts, host)
    assert before == ["/var/lib/docker overlayfs", "not-mounted", "not-mounted", "web worker"], before

    moved = fleet_hosts.module(host, "dockyard.migrate.data_root", {"path": "/mnt/data/docker"})
    assert not moved.get("failed") and moved["changed"], moved
    assert [m["name"] for m in moved["moves"]] == ["docker", "containerd"], moved["moves"]
    now = served(fleet_hosts, host)
    assert now[0] == "/var/lib/docker overlayfs" and now[3] == "web worker", now
    assert re.match(r"/dev/loop\d+\[/docker\]$", now[1]) and re.match(r"/dev/loop\d+\[/containerd\]$", now[2]), now
    run = fleet_hosts.sh(host, "docker", "run", "--rm", "--network", "none", "seed/app:2", "cat", "/app/version")
    assert run.strip() == "v2"
    there = same_as_saved(fleet_hosts, host, roots)

    rerun = fleet_hosts.module(host, "dockyard.migrate.data_root", {"path": "/mnt/data/docker"})
    unchanged(rerun)

    back = fleet_hosts.module(host, "dockyard.migrate.data_root", {"path": "/mnt/data/docker", "state": "restored"})
    assert not back.get("failed") and back["changed"], back
    assert served(fleet_hosts, host) == before
    home = same_as_saved(fleet_hosts, host, roots)
    CLEAN.add(host)
    case = "7. docker28 with the containerd image store (%s), method bind: move, rerun, rollback" % SEEN[host]
    result = "both roots moved: binds %s and %s, seed/app:2 runs from the moved store (prints %s), manifests " \
        "equal (docker %d, containerd %d entries); rerun changed=false; state=restored: both back, manifests " \
        "equal (%d, %d entries); %.0f s" % (
            now[1], now[2], run.strip(), there["docker"], there["containerd"], home["docker"], home["containerd"],
            time.time() - t0)
    reliability_rows.append({"kind": "version", "case": case, "result": result})
