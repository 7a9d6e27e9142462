# -*- coding: utf-8 -*-
"""A rerun of a bind move that finds the move switched, with the original left under the bind (a run killed between
writing fstab's bind line and setting the original aside, then a boot that mounted the line): Relocation sets the
original aside before anything else, and when that cannot be done it rolls nothing back, starts Docker on the new
root and says so.

The FakeHost makes no mount: the bind is a line of its mount table, and the directory beneath it is the source
directory itself (what a view beneath the bind shows on a real host), so the backup beside it is the real one."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _inventory, _mountinfo, _switch, _switches, _systemd, _transaction)
from ansible_collections.dockyard.migrate.plugins.module_utils._move import Move, RelocationError

from fake_host import FakeClient, FakeHost, context  # pylint: disable=import-error

BEFORE_SWITCH = ["record", "online_copy", "stop", "final_copy"]
AFTER_VERIFY = BEFORE_SWITCH + ["switch", "start", "verify"]


class BoundHost(FakeHost):
    """A FakeHost whose umount takes the mount off its table (a rollback's unbind would otherwise never end)."""

    def run(self, argv, what=None):
        out = super(BoundHost, self).run(argv, what)
        if argv and argv[0] == "umount":
            at = os.path.normpath(argv[-1])
            for i in range(len(self.mounts) - 1, -1, -1):
                if self.mounts[i].mount_point == at:
                    del self.mounts[i]
                    break
        return out


class Engine(FakeClient):
    """A Docker with nothing in it, reporting ROOT as its root: the inventory recorded before is what it shows."""

    def get(self, path, params=None, timeout=None):
        return {"Volumes": []} if path == "/volumes" else []


class Rerun:
    """The host a rerun finds: the bind of TARGET on SOURCE mounted and in fstab, the original's entries beneath
    it, the journal of the killed run in PHASE with DONE done."""

    def __init__(self, tmp_path, phase, done, client_root=None, hidden=("image", "volumes"), backup=None,
                 journal=None, params=None):
        self.source = str(tmp_path / "var" / "lib" / "docker")
        self.target = str(tmp_path / "disk" / "docker")
        os.makedirs(self.source)
        for name in hidden:
            os.mkdir(os.path.join(self.source, name))
            with open(os.path.join(self.source, name, "data"), "w") as f:
                f.write(name)
        os.makedirs(self.target)
        with open(os.path.join(self.target, _systemd.SENTINEL_NAME), "w") as f:
            f.write("moved")  # as the switch leaves it
        self.fstab = str(tmp_path / "fstab")
        self.fstab_text = "# the host's own\n%s %s none bind 0 0\n" % (self.target, self.source)
        with open(self.fstab, "w") as f:
            f.write(self.fstab_text)
        dockerd = str(tmp_path / "dockerd")
        with open(dockerd, "w") as f:
            f.write("")
        self.mount_lines = ("1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
                            "30 1 8:1 %s %s rw - ext4 /dev/sda1 rw\n" % (self.target, self.source))
        self.host = BoundHost(mounts=_mountinfo.parse(self.mount_lines), beneath={self.source: self.source},
                              lock_dir=str(tmp_path / "lock"))
        facts = {"engine": {"running": False},
                 "config": {"snap": False, "unit_exec_start": [dockerd + " -H fd://"], "daemon_json": {},
                            "daemon_json_data_root": None, "configured_root": self.source,
                            "configured_real_root": self.source, "bind": None},
                 "containerd": {"image_store": False, "root": "/var/lib/containerd"}}
        self.client = Engine(running=False, root=client_root or self.source)
        move = Move("docker", self.source, self.target, _switches.make("bind"), backup=backup)
        ctx = context(dict({"target": self.target, "fstab": self.fstab, "daemon_json": str(tmp_path / "daemon.json"),
                            "method": "bind"}, **(params or {})),
                      host=self.host, client=self.client, lock_dir=str(tmp_path / "lock"), facts=lambda: facts,
                      moves=[move])
        ctx.journal.start(0, "bind")
        ctx.journal["inventory"] = _inventory.collect(self.client)
        ctx.journal["phases_done"] = list(done)
        ctx.journal.data.update(journal or {})
        ctx.journal.save(phase=phase)
        self.ctx = ctx
        self.relocation = _transaction.Relocation(ctx)

    def saved(self):
        with open(self.ctx.journal.path) as f:
            return json.load(f)

    def acted(self):
        """The calls that change the host a rollback would make, in order."""
        return [a for a in self.host.args
                if a[0] in ("run", "mask", "stop_docker", "restore_file", "write_dropin", "daemon_reload")]


def collided(tmp_path, phase, done, client_root=None, params=None, journal=None):
    """A rerun whose set-aside of the hidden original was started by an earlier rerun (the journal names the
    backup) and whose backup holds a 'volumes' of its own: the set-aside stops with the original split (image
    moved, volumes left beneath the bind)."""
    backup = str(tmp_path / "var" / "lib" / "docker.dockyard-backup-20260101T000000")
    r = Rerun(tmp_path, phase, done, client_root=client_root, backup=backup,
              journal=dict({"hidden_set_aside": True}, **(journal or {})), params=params)
    os.mkdir(backup)
    with open(os.path.join(backup, "volumes"), "w") as f:
        f.write("kept")
    return r, backup


def assert_nothing_rolled_back(r):
    assert r.acted() == [], r.host.args  # no unbind/umount, no mask, no stop, no file put back, no drop-in
    assert [m.to_dict() for m in r.host.mountinfo()] == [m.to_dict() for m in _mountinfo.parse(r.mount_lines)]
    with open(r.fstab) as f:
        assert f.read() == r.fstab_text
    assert r.saved()["phase"] not in ("rollback", "rolled_back")


@pytest.mark.parametrize("phase,done", [("switch", BEFORE_SWITCH), ("source", AFTER_VERIFY)],
                         ids=["in-the-window", "after-the-switch"])
def test_a_set_aside_that_fails_rolls_nothing_back_starts_docker_and_says_where_it_serves(tmp_path, phase, done):
    # keep_source=false with the copy proved: had the run gone on to phase source, it would remove the backup,
    # which now holds half of the original.
    r, backup = collided(tmp_path, phase, done, params={"keep_source": False}, journal={"copy_checked": True})
    with pytest.raises(RelocationError) as exc:
        r.relocation.run()
    err = exc.value
    assert err.phase == "source" and err.rolled_back is not True
    assert "neither is overwritten" in str(err)
    assert str(err).endswith("; Docker serves from %s" % r.source), str(err)
    assert "start_docker" in r.host.calls and "wait_docker" in r.host.calls
    assert r.host.calls.index("view_beneath") < r.host.calls.index("start_docker")  # set aside first
    assert "started Docker on %s" % r.source in r.ctx.actions
    assert_nothing_rolled_back(r)
    # The original is split, neither half lost: what was moved is in the backup, the rest beneath the bind.
    assert sorted(os.listdir(backup)) == ["image", "volumes"]
    with open(os.path.join(backup, "volumes")) as f:
        assert f.read() == "kept"
    with open(os.path.join(backup, "image", "data")) as f:
        assert f.read() == "image"
    assert os.listdir(r.source) == ["volumes"]
    with open(os.path.join(r.source, "volumes", "data")) as f:
        assert f.read() == "volumes"
    saved = r.saved()
    # Verified on the new root, and not called finished: the next run sets the rest aside and handles the original.
    assert saved["phase"] == "verify" and "verify" in saved["phases_done"] and "source" not in saved["phases_done"]
    assert saved["hidden_set_aside"] is True and saved["moves"][0]["backup"] == backup
    assert not any(a.startswith("set aside the original") for a in r.ctx.actions)


def test_a_set_aside_that_fails_rolls_nothing_back_even_when_the_window_then_fails_to_verify(tmp_path):
    """In the killed run's window a failing verify would roll the window back; with the original split by a
    failed set-aside nothing is rolled back (a rollback would put a half original back in place)."""
    r, backup = collided(tmp_path, "switch", BEFORE_SWITCH, client_root="/var/lib/somewhere-else")
    with pytest.raises(RelocationError) as exc:
        r.relocation.run()
    assert exc.value.rolled_back is not True
    assert "start_docker" in r.host.calls
    assert_nothing_rolled_back(r)
    assert sorted(os.listdir(backup)) == ["image", "volumes"] and os.listdir(r.source) == ["volumes"]


def test_a_set_aside_that_fails_is_reported_even_when_verify_fails_too(tmp_path):
    r, _backup = collided(tmp_path, "switch", BEFORE_SWITCH, client_root="/var/lib/somewhere-else")
    with pytest.raises(RelocationError) as exc:
        r.relocation.run()
    assert "Docker reports its root as /var/lib/somewhere-else" in str(exc.value)
    assert "neither is overwritten" in str(exc.value)


def test_a_rerun_sets_the_original_left_under_the_bind_aside_then_finishes_the_move(tmp_path):
    r = Rerun(tmp_path, "switch", BEFORE_SWITCH)
    result = r.relocation.run()
    backup = _switch.backup_name(Move("docker", r.source, r.target, _switches.make("bind")), r.ctx.journal.stamp)
    assert sorted(os.listdir(backup)) == ["image", "volumes"] and os.listdir(r.source) == []
    for name in ("image", "volumes"):
        with open(os.path.join(backup, name, "data")) as f:
            assert f.read() == name
    said = "set aside the original %s, left under the bind of %s by an interrupted run, as %s (2 entries)" % (
        r.source, r.target, backup)
    assert said in result["actions"], result["actions"]
    assert result["actions"].index(said) < result["actions"].index("started Docker on %s" % r.source)
    assert r.host.calls.index("view_closed") < r.host.calls.index("start_docker")
    assert result["original"] == [{"name": "docker", "source": r.source, "removed": False, "backup": backup}]
    assert result["changed"] is True
    saved = r.saved()
    assert saved["phase"] == "done" and "source" in saved["phases_done"]
    assert saved["moves"][0]["backup"] == backup and saved["hidden_set_aside"] is True
    assert_nothing_rolled_back(r)
