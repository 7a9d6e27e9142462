# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _mountinfo as mi

SAMPLE = """\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 22 7:0 / /mnt/data rw,relatime shared:5 - ext4 /dev/loop0 rw
31 22 7:0 /docker /var/lib/docker rw,relatime shared:5 - ext4 /dev/loop0 rw
40 31 0:50 / /var/lib/docker/overlay2/abc/merged rw,relatime - overlay overlay rw,lowerdir=x
41 22 0:60 / /mnt/with\\040space rw - tmpfs tmpfs rw
"""


def test_parse_fields_and_escapes():
    entries = mi.parse(SAMPLE)
    assert len(entries) == 5
    assert entries[2].root == "/docker"
    assert entries[2].mount_point == "/var/lib/docker"
    assert entries[2].fstype == "ext4"
    assert entries[2].source == "/dev/loop0"
    assert entries[4].mount_point == "/mnt/with space"


def test_bad_line_is_rejected():
    with pytest.raises(ValueError):
        mi.parse_line("not a mountinfo line")


def test_mount_containing_picks_longest_prefix():
    entries = mi.parse(SAMPLE)
    assert mi.mount_containing(entries, "/var/lib/docker/volumes").mount_point == "/var/lib/docker"
    assert mi.mount_containing(entries, "/var/lib/dockerx").mount_point == "/"
    assert mi.mount_containing(entries, "/mnt/data/docker").mount_point == "/mnt/data"


def test_mounts_under():
    entries = mi.parse(SAMPLE)
    assert [e.mount_point for e in mi.mounts_under(entries, "/var/lib/docker")] == [
        "/var/lib/docker/overlay2/abc/merged"]


def test_bind_source_finds_where_the_directory_lives():
    entries = mi.parse(SAMPLE)
    b = mi.bind_source(entries, "/var/lib/docker")
    assert b["source_path"] == "/mnt/data/docker"
    assert b["device"] == "/dev/loop0"
    assert mi.bind_source(entries, "/mnt/data") is None
    assert mi.bind_source(entries, "/nowhere") is None


@pytest.mark.parametrize("src,expected", [
    ("/mnt/data/docker", True),
    ("/mnt/data/docker/", True),
    ("/mnt/data/./docker", True),
    ("/mnt/data/other", False),
    ("/srv/docker", False),
])
def test_same_bind_compares_device_and_root(src, expected):
    assert mi.same_bind(mi.parse(SAMPLE), src, "/var/lib/docker") is expected


def test_same_bind_through_nested_source_mount():
    text = SAMPLE + "50 22 7:0 /pool /srv/pool rw - ext4 /dev/loop0 rw\n"
    entries = mi.parse(text)
    # /srv/pool/../ is not on the device; /mnt/data/docker is, via the 30 mount
    assert mi.same_bind(entries, "/mnt/data/docker", "/var/lib/docker")


def test_self_bind_made_by_dockerd_is_not_a_relocation():
    text = ("22 1 254:0 / / rw - ext4 /dev/vda rw\n"
            "30 22 7:0 / /mnt/data rw - ext4 /dev/loop0 rw\n"
            "35 30 7:0 /dj-root /mnt/data/dj-root rw shared:9 - ext4 /dev/loop0 rw\n")
    assert mi.bind_source(mi.parse(text), "/mnt/data/dj-root") is None


def test_self_bind_on_top_of_a_real_bind_keeps_the_real_source():
    text = SAMPLE + "60 31 7:0 /docker /var/lib/docker rw shared:9 - ext4 /dev/loop0 rw\n"
    b = mi.bind_source(mi.parse(text), "/var/lib/docker")
    assert b["source_path"] == "/mnt/data/docker"
