# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _inventory, _switches, _transaction, _verify
from ansible_collections.dockyard.migrate.plugins.module_utils._move import Move, RelocationError


class FakeHost:
    """Records what the transaction asks of systemd, in order."""

    stop_timeout = 1

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        def call(*args, **kwargs):
            self.calls.append(name)
            return {"window_units": ["docker.socket", "docker.service"], "mask": ["docker.socket",
                                                                                  "docker.service"],
                    "wait_docker": True, "wait_quiet": []}.get(name)
        return call


def relocation(tmp_path):
    r = _transaction.Relocation({"path": str(tmp_path / "disk" / "docker")}, client=None,
                                runner=lambda argv: (0, "", ""))
    r.host = FakeHost()
    r.moves = [Move("docker", str(tmp_path / "src"), str(tmp_path / "disk" / "docker"), _switches.make("daemon_json"))]
    r.journal.moves = r.moves
    r.journal.start(0, "daemon_json")
    r.opts.fstab = str(tmp_path / "fstab")
    r.opts.daemon_json = str(tmp_path / "daemon.json")
    return r


def test_rollback_starts_docker_before_the_marker_and_survives_a_marker_it_cannot_write(tmp_path, monkeypatch):
    r = relocation(tmp_path)
    (tmp_path / "disk").write_text("a full disk: no marker can be written under it")
    monkeypatch.setattr(_transaction._systemd, "masked_at_runtime", lambda unit: False)
    try_save = r.journal.try_save

    def marked(**fields):
        r.host.calls.append("marker:%s" % fields.get("phase"))
        return try_save(**fields)

    monkeypatch.setattr(r.journal, "try_save", marked)
    r.rollback()
    calls = [c for c in r.host.calls if c in ("mask", "stop_docker", "daemon_reload", "unmask", "start_docker",
                                              "marker:rolled_back")]
    assert calls == ["mask", "stop_docker", "daemon_reload", "unmask", "start_docker", "marker:rolled_back"], \
        r.host.calls
    assert any("could not write" in a for a in r.actions), r.actions


def test_every_way_out_of_a_run_unmasks_what_a_killed_run_left_masked(tmp_path, monkeypatch):
    r = relocation(tmp_path)
    r.journal["masked"] = ["docker.service", "docker.socket"]
    r.journal.save()

    def boom():
        raise RelocationError("refused", "preflight")

    monkeypatch.setattr(r, "_run", boom)
    monkeypatch.setattr(_transaction._lock, "acquire", lambda check_mode: None)
    with pytest.raises(RelocationError, match="refused"):
        r.run()
    assert r.host.calls == ["unmask"]
    assert r.journal.load()["masked"] == []


def test_containers_made_or_removed_meanwhile_are_set_apart():
    def inv(*containers):
        cs = [{"id": n, "name": n, "image": "i", "restart_policy": "no", "running": run} for n, run in containers]
        out = {"images": [], "volumes": [], "containers": cs, "running": sorted(n for n, run in containers if run)}
        out["fingerprint"] = _inventory.fingerprint(out)
        return out

    before, now = inv(("web", True), ("spare", False)), inv(("web", True), ("late", False))
    r = _transaction.Relocation({"path": "/mnt/data/docker"}, client=None, runner=None)
    r.served_since = 0.0
    r.destroyed_since = lambda: {"spare"}
    new, removed = r.made_or_removed(before, now)
    assert (new, removed) == (["late"], ["spare"])
    b, a = _verify.comparable(before, removed), _verify.comparable(now, new)
    assert _inventory.compare(b, a) == [] and a["fingerprint"] == b["fingerprint"]
    r.destroyed_since = set  # a container gone without a destroy event is a loss
    r.apart = {"new": [], "removed": []}
    assert r.made_or_removed(before, now) == (["late"], [])


def test_a_rerun_knows_the_units_a_killed_run_still_holds(tmp_path, monkeypatch):
    r = relocation(tmp_path)
    assert not r.holding_units()
    r.journal["masked"] = ["docker.service", "docker.socket"]
    monkeypatch.setattr(_transaction._systemd, "masked_at_runtime", lambda unit: unit == "docker.service")
    assert r.holding_units()
    monkeypatch.setattr(_transaction._systemd, "masked_at_runtime", lambda unit: False)  # after a reboot
    assert not r.holding_units()


def test_rollback_copies_back_only_after_docker_reported_the_new_root(tmp_path, monkeypatch):
    """...and keeps on the side what the copy back replaces on the original."""
    monkeypatch.setattr(_transaction._systemd, "masked_at_runtime", lambda unit: False)
    r = relocation(tmp_path)
    ran = []
    monkeypatch.setattr(_transaction._passes.Passes, "run",
                        lambda self, phase, allow, skips=None: ran.append((phase, list(self.opts.rsync_opts))) or (0, 0))
    r.rollback()  # Docker never reported the new root: nothing is copied onto the original
    assert ran == []
    r = relocation(tmp_path)
    r.served_new_root = True
    r.rollback()
    keep = "%s.dockyard-copyback-%s" % (tmp_path / "src", r.journal.stamp)
    assert ran == [("copy_back", ["--backup", "--backup-dir=%s" % keep])]


def test_an_original_with_a_mount_under_it_is_never_removed(tmp_path, monkeypatch):
    r = _transaction.Relocation({"path": str(tmp_path / "disk" / "docker"), "keep_source": False}, client=None,
                                runner=lambda argv: (0, "", ""))
    backup = tmp_path / "src.dockyard-backup-1"
    (backup / "volumes" / "nfs").mkdir(parents=True)
    (backup / "volumes" / "nfs" / "row").write_text("on another filesystem")
    r.moves = r.journal.moves = [Move("docker", str(tmp_path / "src"), str(tmp_path / "disk" / "docker"),
                                      _switches.make("bind"), backup=str(backup))]
    r.journal.start(0, "bind")
    r.journal["copy_checked"] = True

    class Mount:
        mount_point = str(backup / "volumes" / "nfs")

    monkeypatch.setattr(_transaction._mountinfo, "mounts_under", lambda mounts, path: [Mount()] if path == str(backup)
                        else [])
    r.phase_source()
    assert (backup / "volumes" / "nfs" / "row").exists()
    assert r.result["original"] == [{"name": "docker", "source": str(tmp_path / "src"), "removed": False,
                                     "backup": str(backup)}]
    monkeypatch.setattr(_transaction._mountinfo, "mounts_under", lambda mounts, path: [])
    r.phase_source()
    assert not backup.exists() and r.result["original"][0]["removed"]
