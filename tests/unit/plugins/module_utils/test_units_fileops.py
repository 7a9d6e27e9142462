# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _fileops, _units


@pytest.mark.parametrize("text,expected", [("512", 512), ("2K", 2048), ("1.5G", int(1.5 * 1024 ** 3)),
                                           ("10MiB", 10 * 1024 ** 2), ("3 t", 3 * 1024 ** 4)])
def test_parse_size(text, expected):
    assert _units.parse_size(text) == expected


@pytest.mark.parametrize("spec,data,expected", [("10%", 1000, 100), ("1K", 5, 1024), ("0", 99, 0)])
def test_margin(spec, data, expected):
    assert _units.margin_bytes(spec, data) == expected


@pytest.mark.parametrize("spec", ["lots", "-5%", "5%%", ""])
def test_margin_rejects(spec):
    with pytest.raises(ValueError, match="margin"):
        _units.margin_bytes(spec, 100)


def test_atomic_write_keeps_mode_owner_and_xattrs(tmp_path):
    path = str(tmp_path / "f")
    with open(path, "w") as f:
        f.write("old")
    os.chmod(path, 0o640)
    os.chown(path, 1234, 4321)
    os.setxattr(path, "user.label", b"keep")
    _fileops.atomic_write(path, "new")
    st = os.stat(path)
    assert open(path).read() == "new"
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert (st.st_uid, st.st_gid) == (1234, 4321)
    assert os.getxattr(path, "user.label") == b"keep"
    assert os.listdir(str(tmp_path)) == ["f"]


def test_atomic_write_new_file_mode(tmp_path):
    path = str(tmp_path / "n")
    _fileops.atomic_write(path, b"x", mode=0o600)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_backup_is_no_more_readable_than_the_original(tmp_path):
    path = str(tmp_path / "secret")
    with open(path, "w") as f:
        f.write("s")
    os.chmod(path, 0o600)
    b1 = _fileops.backup_file(path, stamp="T")
    b2 = _fileops.backup_file(path, stamp="T")
    assert b1 != b2
    assert stat.S_IMODE(os.stat(b1).st_mode) == 0o600
    assert open(b1).read() == "s"
    assert _fileops.backup_file(str(tmp_path / "none")) is None
