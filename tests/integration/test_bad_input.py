# -*- coding: utf-8 -*-
"""Bad input: each case gets a clear message naming the problem, and changes nothing on the host.

A snapshot of fstab, daemon.json, the drop-in directory, the data root's and the data disk's listings,
the mount on /var/lib/docker and Docker's root is taken before and after each case.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MIGRATE = os.path.join(ROOT, "playbooks", "migrate_docker_root.yml")

# (case, module, args, setup, cleanup, expected message)
CASES = [
    ("relative target path", "dockyard.migrate.data_root", {"path": "mnt/data/docker"}, None, None,
     "path 'mnt/data/docker' must be an absolute path"),
    ("target inside the source", "dockyard.migrate.data_root", {"path": "/var/lib/docker/new"}, None, None,
     "lies inside the docker root /var/lib/docker"),
    ("source inside the target", "dockyard.migrate.data_root", {"path": "/var/lib"}, None, None,
     "contains the docker root /var/lib/docker"),
    ("target is a file", "dockyard.migrate.data_root", {"path": "/mnt/data/afile"},
     "touch /mnt/data/afile", "rm -f /mnt/data/afile", "exists and is not a directory"),
    ("target is a symlink", "dockyard.migrate.data_root", {"path": "/mnt/data/link"},
     "mkdir -p /mnt/data/real && ln -sfn /mnt/data/real /mnt/data/link", "rm -rf /mnt/data/link /mnt/data/real",
     "path /mnt/data/link is a symlink"),
    ("target holds foreign data", "dockyard.migrate.data_root", {"path": "/mnt/data/foreign"},
     "mkdir -p /mnt/data/foreign && echo x > /mnt/data/foreign/file", "rm -rf /mnt/data/foreign",
     "is not empty and holds no partial copy"),
    ("target on tmpfs", "dockyard.migrate.data_root", {"path": "/mnt/ram/docker"},
     "mkdir -p /mnt/ram && mount -t tmpfs tmpfs /mnt/ram", "umount /mnt/ram; rmdir /mnt/ram",
     "is on tmpfs"),
    ("target too small", "dockyard.migrate.data_root", {"path": "/mnt/data/docker", "margin": "100T"}, None, None,
     "not enough space on /mnt/data"),
    ("unknown method", "dockyard.migrate.data_root", {"path": "/mnt/data/docker", "method": "copy"}, None, None,
     "value of method must be one of: bind, daemon_json"),
    ("invalid daemon.json", "dockyard.migrate.data_root", {"path": "/mnt/data/docker"},
     "cp /etc/docker/daemon.json /root/dj.bak && printf '{\"bridge\": \"none\",' > /etc/docker/daemon.json",
     "cp /root/dj.bak /etc/docker/daemon.json", "/etc/docker/daemon.json is not valid JSON"),
    ("unparsable fstab line for the root", "dockyard.migrate.data_root", {"path": "/mnt/data/docker"},
     "cp /etc/fstab /root/fstab.bak && echo '/x /var/lib/docker none bind 0 0 extra' >> /etc/fstab",
     "cp /root/fstab.bak /etc/fstab", "fstab line 2 cannot be parsed"),
    ("conflicting --data-root flag in the unit", "dockyard.migrate.data_root", {"path": "/mnt/data/docker"},
     "mkdir -p /etc/systemd/system/docker.service.d && printf '[Service]\\nExecStart=\\nExecStart=/usr/sbin/dockerd "
     "-H fd:// --data-root /var/lib/docker\\n' > /etc/systemd/system/docker.service.d/zz-flag.conf && "
     "systemctl daemon-reload",
     "rm -f /etc/systemd/system/docker.service.d/zz-flag.conf; systemctl daemon-reload",
     "docker.service sets the data root with a flag (/var/lib/docker)"),
    ("Docker not running", "dockyard.migrate.data_root", {"path": "/mnt/data/docker"},
     "systemctl stop docker.socket docker.service", "systemctl start docker.socket docker.service",
     "Docker is not running, so its images, containers and volumes cannot be recorded"),
    ("Docker not installed", "dockyard.migrate.data_root", {"path": "/mnt/data/docker"},
     "systemctl stop docker.socket docker.service && mv /usr/sbin/dockerd /usr/sbin/dockerd.hidden",
     "mv /usr/sbin/dockerd.hidden /usr/sbin/dockerd && systemctl reset-failed docker.service docker.socket; "
     "systemctl start docker.socket docker.service",
     "Docker is not installed here: no docker.service unit or no dockerd binary (/usr/sbin/dockerd)"),
    ("rsync missing", "dockyard.migrate.data_root", {"path": "/mnt/data/docker"},
     "mv /usr/bin/rsync /usr/bin/rsync.hidden", "mv /usr/bin/rsync.hidden /usr/bin/rsync",
     "rsync is not installed on this host"),
    ("rsync option that would lose data", "dockyard.migrate.data_root",
     {"path": "/mnt/data/docker", "rsync_opts": ["--remove-source-files"]}, None, None,
     "rsync_opts entry '--remove-source-files' is not allowed"),
    ("margin that is not a size", "dockyard.migrate.data_root", {"path": "/mnt/data/docker", "margin": "lots"},
     None, None, "margin 'lots' is neither a size"),
    ("bandwidth limit that is not a rate", "dockyard.migrate.data_root",
     {"path": "/mnt/data/docker", "bwlimit": "fast"}, None, None, "bwlimit 'fast' is not a rate per second"),
    ("bandwidth limit set twice", "dockyard.migrate.data_root",
     {"path": "/mnt/data/docker", "bwlimit": "10M", "rsync_opts": ["--bwlimit=5M"]}, None, None,
     "bwlimit '10M' and rsync_opts --bwlimit=5M both set a rate"),
    ("I/O class above normal", "dockyard.migrate.data_root", {"path": "/mnt/data/docker", "ionice": "realtime"},
     None, None, "ionice 'realtime' is not one of none, idle, best-effort or best-effort:N"),
    ("cleanup with no record of a move", "dockyard.migrate.data_root",
     {"path": "/mnt/data/never", "state": "cleaned"}, None, None, "no record of a move to /mnt/data/never"),
    ("rollback with no record of a move", "dockyard.migrate.data_root",
     {"path": "/mnt/data/never", "state": "restored"}, None, None, "no record of a move to /mnt/data/never"),
    ("bind mount with a relative path", "dockyard.migrate.bind_mount", {"src": "/mnt/data", "path": "srv/x"},
     None, None, "path 'srv/x' must be an absolute path"),
    ("bind mount of a missing directory", "dockyard.migrate.bind_mount",
     {"src": "/mnt/data/missing", "path": "/srv/x"}, None, None,
     "src /mnt/data/missing does not exist or is not a directory"),
    ("image that does not exist", "dockyard.migrate.image_save",
     {"images": ["no/such:image"], "dest": "/mnt/data/x.tar"}, None, None,
     "image no/such:image does not exist on this host"),
    ("archive path in a missing directory", "dockyard.migrate.image_save",
     {"images": ["seed/base:1"], "dest": "/mnt/nowhere/x.tar"}, None, None,
     "the directory /mnt/nowhere for dest does not exist"),
    ("invalid changes instruction", "dockyard.migrate.image_import",
     {"src": "/root/snap.tar", "name": "test/x:1", "changes": ["RUN rm -rf /"]},
     "docker export spare > /root/snap.tar", "rm -f /root/snap.tar",
     "RUN is not an instruction docker import accepts"),
    ("a file that is no archive", "dockyard.migrate.image_load", {"src": "/etc/hostname"}, None, None,
     "neither a tar archive nor gzip, zstd or xz compressed"),
    ("container that does not exist", "dockyard.migrate.container_export",
     {"container": "ghost", "dest": "/mnt/data/ghost.tar"}, None, None, "container ghost does not exist"),
    ("candidate margin that is not a size", "dockyard.migrate.data_root_info", {"margin": "plenty"}, None, None,
     "margin 'plenty' is neither a size"),
]


@pytest.fixture(scope="module")
def host(fleet_hosts):
    fleet_hosts.reset("h2")
    return fleet_hosts


@pytest.mark.parametrize("case,module,args,setup,cleanup,message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_changes_nothing(host, reliability_rows, case, module, args, setup, cleanup, message):
    if setup:
        host.sh("h2", "sh", "-c", setup)
    try:
        before = host.snapshot("h2")
        res = host.module("h2", module, args, expect="failed")
        after = host.snapshot("h2")
    finally:
        if cleanup:
            host.sh("h2", "sh", "-c", cleanup, check=False)
    assert res.get("failed"), res
    assert message in res["msg"], res["msg"]
    assert after == before
    reliability_rows.append({"kind": "bad input", "case": "%s (%s)" % (case, module.split(".")[-1]),
                             "result": "refused, nothing changed: %s" % reliability_rows.clip(res["msg"], 150)})


@pytest.mark.parametrize("extra,message", [
    ({}, "Set docker_root_target to the new data root"),
    ({"docker_root_target": "/mnt/data/docker", "docker_root_method": "copy"},
     "docker_root_method must be bind or daemon_json"),
    ({"docker_root_target": "docker"}, "relocate_data_root_target must be an absolute path"),
], ids=["no target", "unknown method", "relative target"])
def test_bad_playbook_variables(host, reliability_rows, extra, message):
    before = host.snapshot("h2")
    res = host.playbook(MIGRATE, limit="h2", extra=extra, check=False)
    assert res.returncode != 0
    assert message in res.stdout, res.stdout[-3000:]
    assert host.snapshot("h2") == before
    reliability_rows.append({"kind": "bad input", "case": "migrate_docker_root.yml with %s" % (
        ", ".join("%s=%s" % kv for kv in sorted(extra.items())) or "no docker_root_target"),
        "result": "stopped before touching the host: %s" % message})
