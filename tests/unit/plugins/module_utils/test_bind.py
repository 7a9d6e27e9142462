# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _bind

# The test's tmp directory plays the data disk: it is mounted at TMP, device 7:0.
MOUNTS = """\
22 1 254:0 / / rw - ext4 /dev/vda rw
30 22 7:0 / TMP rw - ext4 /dev/loop0 rw
"""
BOUND = MOUNTS + "31 22 7:0 /src /var/lib/docker rw - ext4 /dev/loop0 rw\n"
OTHER = MOUNTS + "31 22 7:0 /elsewhere /var/lib/docker rw - ext4 /dev/loop0 rw\n"


@pytest.fixture
def host(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "fstab").write_text("# comment\nUUID=x / ext4 defaults 0 1\n")
    return tmp_path


def make(host, text, state="mounted", src=None, path="/var/lib/docker"):
    mi = host / "mountinfo"
    mi.write_text(text.replace("TMP", str(host)))
    return _bind.BindMount(src or str(host / "src"), path, state, "bind", str(host / "fstab"),
                           mountinfo=str(mi))


def test_plan_new_mount(host):
    actions, before, after = make(host, MOUNTS).plan()
    assert actions[0] == "write the fstab line for /var/lib/docker"
    assert any(a.startswith("bind-mount") for a in actions)
    assert after == before + "%s /var/lib/docker none bind 0 0\n" % (host / "src")


def test_plan_recognises_an_existing_bind_from_mountinfo(host):
    (host / "fstab").write_text("%s/src /var/lib/docker none bind 0 0\n" % host)
    # Spelled differently: the same directory all the same.
    bm = make(host, BOUND, src="%s/./src/" % host)
    actions, before, after = bm.plan()
    assert actions == []
    assert before == after


def test_plan_remounts_when_another_directory_is_bound(host):
    (host / "fstab").write_text("%s/src /var/lib/docker none bind 0 0\n" % host)
    actions, _b, _a = make(host, OTHER).plan()
    assert actions == ["unmount /var/lib/docker (it shows another directory)",
                       "bind-mount %s/src on /var/lib/docker" % host]


def test_plan_absent_removes_line_and_unmounts(host):
    (host / "fstab").write_text("# c\n%s/src /var/lib/docker none bind 0 0\n" % host)
    bm = make(host, BOUND, state="absent")
    actions, _before, after = bm.plan()
    assert after == "# c\n"
    assert actions == ["remove the fstab line for /var/lib/docker", "unmount /var/lib/docker"]


@pytest.mark.parametrize("kw,match", [
    (dict(path="relative/path"), "must be an absolute path"),
    (dict(path="/"), "cannot be a bind mount target"),
    (dict(src="/does/not/exist"), "does not exist or is not a directory"),
    (dict(state="sideways"), "is not one of"),
])
def test_bad_input(host, kw, match):
    bm = make(host, MOUNTS, **kw)
    with pytest.raises(_bind.BindError, match=match):
        bm.plan()


def test_src_same_as_path(host):
    bm = make(host, MOUNTS, src="/var/lib/docker")
    with pytest.raises(_bind.BindError, match="the same directory"):
        bm.plan()


def test_opts_always_include_bind():
    assert _bind._opts_list("ro") == ["bind", "ro"]
    assert _bind._opts_list("rbind,ro") == ["rbind", "ro"]
