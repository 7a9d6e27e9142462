# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _fsinfo


def test_d_type_probe_leaves_nothing_behind(tmp_path):
    assert _fsinfo.supports_d_type(str(tmp_path / "not" / "yet")) is True
    assert os.listdir(str(tmp_path)) == []


def test_dir_types_reads_real_entries(tmp_path):
    (tmp_path / "f").write_text("x")
    (tmp_path / "d").mkdir()
    types = _fsinfo.dir_types(str(tmp_path))
    assert types == {"f": 8, "d": 4}


def test_describe_a_real_path(tmp_path):
    fs = _fsinfo.describe(str(tmp_path / "sub"))
    assert fs["checked_path"] == str(tmp_path)
    assert fs["mount_point"] is not None
    assert fs["free_bytes"] > 0
    assert fs["d_type"] is True


@pytest.mark.parametrize("text,expected", [
    ("meta-data=/dev/sdb isize=512 agcount=4\nnaming =version 2 bsize=4096 ascii-ci=0, ftype=1", 1),
    ("naming   =version 2              bsize=4096   ascii-ci=0, ftype=0\n", 0),
    ("nothing here", None),
])
def test_xfs_ftype(text, expected):
    assert _fsinfo.xfs_ftype(text) == expected


@pytest.mark.parametrize("fs,ftype,ok,word", [
    ({"fstype": "ext4", "d_type": True, "mount_point": "/mnt"}, None, True, "supports d_type"),
    ({"fstype": "nfs4", "network_fs": True, "mount_point": "/mnt"}, None, False, "network filesystem"),
    ({"fstype": "overlay", "d_type": True, "mount_point": "/"}, None, False, "cannot stack"),
    ({"fstype": "xfs", "d_type": True, "mount_point": "/x"}, 0, False, "ftype=0"),
    ({"fstype": "weird", "d_type": False, "mount_point": "/w"}, None, False, "does not return d_type"),
])
def test_overlay2_verdict(fs, ftype, ok, word):
    got, reason = _fsinfo.overlay2_verdict(fs, ftype)
    assert got is ok
    assert word in reason


def test_the_d_type_probe_leaves_the_directory_it_probes_in_as_it_was(tmp_path):
    """A preflight that probes Docker's live root (or a refusal's) changes nothing there, its times included."""
    (tmp_path / "kept").write_text("x")
    os.utime(str(tmp_path), ns=(1000000000, 2000000000))
    assert _fsinfo.supports_d_type(str(tmp_path)) is True
    st = os.stat(str(tmp_path))
    assert (st.st_atime_ns, st.st_mtime_ns) == (1000000000, 2000000000)
    assert sorted(os.listdir(str(tmp_path))) == ["kept"]
