# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
import shutil

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _inventory, _restore, _rollback, _run, _switch, _switches, _systemd, _transaction, _verify)
from ansible_collections.dockyard.migrate.plugins.module_utils._move import Move, RelocationError

from fake_host import FakeClient, FakeHost, context  # pylint: disable=import-error


def test_the_fake_host_has_the_real_ones_methods_and_fails_on_any_other():
    """FakeHost's methods are _systemd.Systemd's, with the same parameters; a call it does not know fails."""
    import inspect
    mine = {n: f for n, f in vars(FakeHost).items() if inspect.isfunction(f) and not n.startswith("_")}
    for name, func in mine.items():
        real = getattr(_systemd.Systemd, name, None)
        assert real is not None, "FakeHost.%s is not a method of _systemd.Systemd" % name
        assert list(inspect.signature(func).parameters) == list(inspect.signature(real).parameters), name
    with pytest.raises(AssertionError, match="called reboot, which this fake does not implement and"):
        FakeHost().reboot()
    with pytest.raises(AssertionError, match="called systemctl, which this fake does not implement$"):
        FakeHost().systemctl("start", "docker.service")


def relocation(tmp_path, client=None):
    """A move of src to disk/docker with daemon.json, planned and journalled, on a FakeHost."""
    ctx = context({"target": str(tmp_path / "disk" / "docker"), "fstab": str(tmp_path / "fstab"),
                   "daemon_json": str(tmp_path / "daemon.json")}, client=client, lock_dir=str(tmp_path / "lock"),
                  moves=[Move("docker", str(tmp_path / "src"), str(tmp_path / "disk" / "docker"),
                              _switches.make("daemon_json"))])
    ctx.journal.start(0, "daemon_json")
    (tmp_path / "disk" / "docker").mkdir(parents=True, exist_ok=True)
    (tmp_path / "disk" / "docker" / _systemd.SENTINEL_NAME).write_text("moved")  # as the switch leaves it
    return _transaction.Relocation(ctx)


def test_rollback_starts_docker_before_the_marker_and_survives_a_marker_it_cannot_write(tmp_path, monkeypatch):
    r = relocation(tmp_path)
    shutil.rmtree(str(tmp_path / "disk"))
    (tmp_path / "disk").write_text("a full disk: no marker can be written under it")
    try_save = r.ctx.journal.try_save

    def marked(**fields):
        r.ctx.host.calls.append("marker:%s" % fields.get("phase"))
        return try_save(**fields)

    monkeypatch.setattr(r.ctx.journal, "try_save", marked)
    r.rollback.roll_back()
    # Every call, in order: the window held (units masked, Docker stopped), the drop-in taken back, systemd
    # reloaded, the units let go, Docker started and answering, and only then the marker's last word.
    assert r.ctx.host.calls == ["started_since", "marker:rollback", "window_units", "marker:None", "mask", "stop_docker", "restore_file",
                                "daemon_reload", "unmask", "marker:None", "start_docker", "wait_docker",
                                "marker:rolled_back"], r.ctx.host.calls
    assert ("unmask", ["docker.service", "docker.socket"]) in r.ctx.host.args, r.ctx.host.args
    assert any("could not write" in a for a in r.ctx.actions), r.ctx.actions


def test_every_way_out_of_a_run_unmasks_what_a_killed_run_left_masked(tmp_path, monkeypatch):
    r = relocation(tmp_path)
    r.ctx.journal["masked"] = ["docker.service", "docker.socket"]
    r.ctx.journal.save()

    def boom():
        raise RelocationError("refused", "preflight")

    monkeypatch.setattr(r, "_run", boom)
    with pytest.raises(RelocationError, match="refused"):
        r.run()
    assert r.ctx.host.calls == ["unmask"]
    assert r.ctx.journal.load()["masked"] == []


def test_containers_made_or_removed_meanwhile_are_set_apart():
    def inv(*containers):
        cs = [{"id": n, "name": n, "image": "i", "restart_policy": "no", "running": run} for n, run in containers]
        out = {"images": [], "volumes": [], "containers": cs, "running": sorted(n for n, run in containers if run)}
        out["fingerprint"] = _inventory.fingerprint(out)
        return out

    before, now = inv(("web", True), ("spare", False)), inv(("web", True), ("late", False))
    ctx = context({"target": "/mnt/data/docker"})
    ctx.served_since = 0.0
    v = _verify.Verification(ctx)
    v.destroyed_since = lambda: {"spare"}
    new, removed = v.made_or_removed(before, now)
    assert (new, removed) == (["late"], ["spare"])
    b, a = _verify.comparable(before, removed), _verify.comparable(now, new)
    assert _inventory.compare(b, a) == [] and a["fingerprint"] == b["fingerprint"]
    v.destroyed_since = set  # a container gone without a destroy event is a loss
    ctx.apart = {"new": [], "removed": []}
    assert v.made_or_removed(before, now) == (["late"], [])


def test_a_rerun_knows_the_units_a_killed_run_still_holds(tmp_path, monkeypatch):
    r = relocation(tmp_path)
    assert not r.window.holding_units()
    r.ctx.journal["masked"] = ["docker.service", "docker.socket"]
    r.ctx.host.masked_units = {"docker.service"}
    assert r.window.holding_units()
    r.ctx.host.masked_units = set()  # after a reboot
    assert not r.window.holding_units()


def test_rollback_copies_back_only_after_docker_reported_the_new_root(tmp_path, monkeypatch):
    """...and keeps on the side what the copy back replaces on the original."""
    r = relocation(tmp_path)
    ran = []
    monkeypatch.setattr(_transaction._passes.Passes, "run",
                        lambda self, phase, allow, skips=None: ran.append((phase, list(self.opts.rsync_opts))) or (0, 0))
    r.rollback.roll_back()  # Docker never reported the new root: nothing is copied onto the original
    assert ran == []
    r = relocation(tmp_path)
    r.ctx.served_new_root = True
    r.rollback.roll_back()
    assert len(ran) == 1 and ran[0][0] == "copy_back" and ran[0][1][0] == "--backup", ran
    assert re.match(r"--backup-dir=%s\.dockyard-copyback-\d{8}T\d{6}$" % re.escape(str(tmp_path / "src")),
                    ran[0][1][1]), ran
    # Each attempt keeps what it replaces in a directory of its own: a later attempt of the same move (same
    # journal stamp) never overwrites it.
    clock = iter(["20260101T000001", "20260101T000002"])
    monkeypatch.setattr(_rollback.time, "strftime", lambda fmt, *a: next(clock))
    ran[:] = []
    for attempt in (1, 2):
        r.ctx.served_new_root = attempt > 0
        r.rollback.roll_back()
    assert [x[1][1] for x in ran] == ["--backup-dir=%s.dockyard-copyback-20260101T00000%d" % (tmp_path / "src", i)
                                      for i in (1, 2)], ran


def test_an_original_with_a_mount_under_it_is_never_removed(tmp_path, monkeypatch):
    backup = tmp_path / "src.dockyard-backup-1"
    (backup / "volumes" / "nfs").mkdir(parents=True)
    (backup / "volumes" / "nfs" / "row").write_text("on another filesystem")
    ctx = context({"target": str(tmp_path / "disk" / "docker"), "keep_source": False},
                  moves=[Move("docker", str(tmp_path / "src"), str(tmp_path / "disk" / "docker"),
                              _switches.make("bind"), backup=str(backup))])
    ctx.journal.start(0, "bind")
    ctx.journal["copy_checked"] = True
    r = _transaction.Relocation(ctx)

    class Mount:
        mount_point = str(backup / "volumes" / "nfs")

    monkeypatch.setattr(_transaction._mountinfo, "mounts_under", lambda mounts, path: [Mount()] if path == str(backup)
                        else [])
    r.phase_source()
    assert (backup / "volumes" / "nfs" / "row").exists()
    assert r.ctx.result["original"] == [{"name": "docker", "source": str(tmp_path / "src"), "removed": False,
                                         "backup": str(backup)}]
    monkeypatch.setattr(_transaction._mountinfo, "mounts_under", lambda mounts, path: [])
    r.phase_source()
    assert not backup.exists() and r.ctx.result["original"][0]["removed"]


def test_a_rollback_step_that_fails_still_starts_docker_and_says_where_it_serves(tmp_path, monkeypatch):

    r = relocation(tmp_path, FakeClient(root=str(tmp_path / "disk" / "docker")))

    def busy(move, ctx):
        raise RelocationError("umount: target is busy")

    monkeypatch.setattr(r.ctx.moves[0].switch, "undo", busy)
    with pytest.raises(RelocationError) as exc:
        r.rollback.roll_back()
    assert "umount: target is busy" in str(exc.value)
    assert "serves from %s" % (tmp_path / "disk" / "docker") in str(exc.value)
    assert r.ctx.host.calls.index("unmask") < r.ctx.host.calls.index("start_docker")  # released, then started
    assert "marker:rolled_back" not in r.ctx.host.calls and r.ctx.journal.load().get("phase") != "rolled_back"


def test_the_files_are_frozen_when_the_window_opens_not_at_the_record(tmp_path, monkeypatch):
    """An edit made to fstab during a long online copy is what a rollback puts back, not the text of the record."""
    monkeypatch.setattr(_verify._inventory, "collect", lambda client: {
        "images": [], "containers": [], "running": [], "volumes": [], "fingerprint": "f"})
    r = relocation(tmp_path)
    fstab = tmp_path / "fstab"
    fstab.write_text("# as recorded\n")
    r.phase_record()
    assert "texts_before" not in r.ctx.journal.data
    fstab.write_text("# as recorded\nLABEL=logs /var/log/big ext4 defaults 0 2\n")  # edited during the copy

    def stop():
        raise RelocationError("stop made to fail", "stop")

    monkeypatch.setattr(r, "phase_stop", stop)
    monkeypatch.setattr(r.rollback, "roll_back", lambda: None)
    with pytest.raises(RelocationError):
        r.transaction(False)
    assert r.ctx.journal.load()["texts_before"][str(fstab)] == fstab.read_text()


def test_a_refusal_inside_a_killed_runs_window_rolls_that_window_back(tmp_path, monkeypatch):
    r = relocation(tmp_path)
    r.ctx.journal.save(phase="final_copy")
    rolled = []
    monkeypatch.setattr(r.rollback, "roll_back", lambda: rolled.append(True))
    with pytest.raises(RelocationError, match="rolled back instead") as exc:
        r.rollback.refused_in_window(RelocationError("path is full", "preflight"))
    assert rolled == [True] and exc.value.rolled_back is True and "path is full" in str(exc.value)


def test_a_refusal_in_a_window_whose_new_root_docker_served_is_not_rolled_back(tmp_path, monkeypatch):
    r = relocation(tmp_path)
    r.ctx.journal["phases_done"] = ["record", "online_copy", "stop", "final_copy", "switch", "start"]
    r.ctx.journal.save(phase="verify")
    monkeypatch.setattr(r.rollback, "roll_back",
                        lambda: pytest.fail("a window Docker served from must not be rolled back"))
    with pytest.raises(RelocationError, match="not rolled back blindly") as exc:
        r.rollback.refused_in_window(RelocationError("path is full", "preflight"))
    assert exc.value.rolled_back is False


def test_a_window_held_by_another_move_is_refused_and_a_stale_note_dropped(tmp_path, monkeypatch):
    r = relocation(tmp_path)
    r.ctx.journal.save(phase="stop")
    other = tmp_path / "elsewhere" / ".docker.dockyard-migrate.json"
    r.ctx.host.note_window(str(other), ["docker.service"])
    r.ctx.host.masked_units = {"docker.service", "docker.socket"}
    with pytest.raises(RelocationError, match="held masked by an interrupted move journalled in %s which cannot "
                                              r"be read \(is its data disk mounted\?\)" % other):
        r.window.window_held_elsewhere()
    r.ctx.host.note_window(r.ctx.journal.path, ["docker.service"])
    r.window.window_held_elsewhere()  # this run's own window: continued
    r.ctx.journal.data = None
    with pytest.raises(RelocationError, match="held masked"):  # its own marker, unreadable
        r.window.window_held_elsewhere()
    r.ctx.host.masked_units = set()  # unmasked by hand since: the note is stale
    r.window.window_held_elsewhere()
    assert r.ctx.host.window_note() is None


def test_hold_and_release_keep_the_note_beside_the_lock(tmp_path, monkeypatch):
    r = relocation(tmp_path)
    r.window.hold_units()
    note = r.ctx.host.window_note()
    assert note["marker"] == r.ctx.journal.path and note["masked"] == ["docker.service", "docker.socket"]
    r.window.release_units()
    assert r.ctx.host.window_note() is None


def test_a_refusal_is_a_check_that_stopped_the_run_before_the_host_changed(tmp_path):
    """The host tells whether a run changed it: a restore with no move recorded is refused with nothing noted on
    the host; the same check after the host changed (a rerun that finished an earlier rollback first) is no
    refusal, and neither is a window walked back."""
    ctx = context({"target": str(tmp_path / "nowhere"), "state": "restored"}, lock_dir=str(tmp_path / "lock"))
    with pytest.raises(RelocationError, match="no record of a move") as exc:
        _restore.Restore(ctx).run()
    assert exc.value.phase == "preflight" and exc.value.rolled_back is None
    assert ctx.host.changes == [] and _run.refused(exc.value, ctx)
    ctx.host.write_file(str(tmp_path / "written"), "x")
    assert ctx.host.changes == ["write_file"] and not _run.refused(exc.value, ctx)
    r = relocation(tmp_path / "window")
    r.ctx.journal.save(phase="final_copy")
    with pytest.raises(RelocationError, match="rolled back instead") as walked:
        r.rollback.refused_in_window(RelocationError("path is full", "preflight"))
    assert not _run.refused(walked.value, r.ctx)
    assert "start_docker" in r.ctx.host.changes and "write_file" in r.ctx.host.changes, r.ctx.host.changes


def test_the_host_is_asked_about_starts_since_the_journals_write_in_its_boot(tmp_path):
    r = relocation(tmp_path)
    r.ctx.journal.save(phase="rollback", served=False)
    assert r.ctx.journal["boot_id"] == "boot-of-the-fake"
    r.rollback.served_since_record()
    assert r.ctx.host.asked_boot == "boot-of-the-fake" and "started_since" in r.ctx.host.calls


def test_a_rollback_keeps_edits_made_to_daemon_json_after_the_switch(tmp_path):
    """daemon.json edited after the switch (a key added by hand or by configuration management): the rollback
    takes back data-root alone and keeps the edit; unedited, the frozen text comes back byte for byte."""
    r = relocation(tmp_path)
    path = r.ctx.opts.daemon_json
    before = '{\n  "log-driver": "json-file"\n}\n'
    switched = json.dumps({"log-driver": "json-file", "data-root": r.ctx.opts.target}, indent=2) + "\n"
    r.ctx.journal["texts_before"] = {path: before}
    r.ctx.journal["texts_after"] = {path: switched}

    def put_back():  # what the rollback gave the host for daemon.json (the fake records it)
        return [a[2] for a in r.ctx.host.args if a[0] == "restore_file" and a[1] == path]

    with open(path, "w") as f:
        f.write(switched)
    r.rollback.walk_back()
    assert put_back() == [before]
    edited = json.dumps({"log-driver": "json-file", "data-root": r.ctx.opts.target, "debug": True}, indent=2)
    with open(path, "w") as f:
        f.write(edited)
    r.rollback.walk_back()
    assert json.loads(put_back()[-1]) == {"log-driver": "json-file", "debug": True}, put_back()
    assert any("edited after the switch" in a for a in r.ctx.actions), r.ctx.actions


def test_a_rollback_without_the_switchs_text_keeps_an_edit_all_the_same(tmp_path):
    """A journal that lacks the text the switch left (a run killed between the switch's write and its record):
    daemon.json that differs from the text before the move only by data-root comes back byte for byte; one edited
    beyond that keeps the edit, data-root alone taken back."""
    r = relocation(tmp_path)
    path = r.ctx.opts.daemon_json
    before = '{"log-driver":"json-file"}'  # not as the module renders JSON: it must come back as it was
    r.ctx.journal["texts_before"] = {path: before}
    r.ctx.journal.data.pop("texts_after", None)

    def put_back():
        return [a[2] for a in r.ctx.host.args if a[0] == "restore_file" and a[1] == path]

    with open(path, "w") as f:
        json.dump({"log-driver": "json-file", "data-root": r.ctx.opts.target}, f)
    r.rollback.walk_back()
    assert put_back() == [before] and not any("edited" in a for a in r.ctx.actions), (put_back(), r.ctx.actions)
    with open(path, "w") as f:
        json.dump({"log-driver": "json-file", "data-root": r.ctx.opts.target, "debug": True}, f)
    r.rollback.walk_back()
    assert json.loads(put_back()[-1]) == {"log-driver": "json-file", "debug": True}, put_back()
    assert any("edited after the switch" in a for a in r.ctx.actions), r.ctx.actions


def test_a_daemon_json_edited_into_something_unreadable_is_put_back_as_before_and_kept_beside(tmp_path):
    r = relocation(tmp_path)
    path = r.ctx.opts.daemon_json
    before = '{"log-driver": "json-file"}\n'
    r.ctx.journal["texts_before"] = {path: before}
    r.ctx.journal["texts_after"] = {path: '{"log-driver": "json-file", "data-root": "%s"}\n' % r.ctx.opts.target}
    with open(path, "w") as f:
        f.write('{"log-driver": "json-file", oops')
    r.rollback.walk_back()
    assert [a[2] for a in r.ctx.host.args if a[0] == "restore_file" and a[1] == path] == [before]
    kept = [a for a in r.ctx.actions if "cannot be read" in a]
    assert kept and open(kept[0].rsplit(" as ", 1)[1]).read() == '{"log-driver": "json-file", oops', r.ctx.actions


def test_a_switch_is_not_resumed_from_a_journal_written_in_another_boot(tmp_path):
    """Docker may have run on the original in a boot between (unseen from this one): the final copy again."""
    r = relocation(tmp_path)
    r.ctx.journal["phases_done"] = ["record", "online_copy", "stop", "final_copy"]
    r.ctx.journal.save(phase="final_copy")
    assert r.resumes_switch({"running": False})
    r.ctx.journal["boot_id"] = "an-earlier-boot"
    assert not r.resumes_switch({"running": False})


def test_every_hidden_original_is_set_aside_when_another_cannot_be(tmp_path, monkeypatch):
    """Docker's and containerd's originals under their binds: the first cannot be set aside, the second still is,
    and the error names both failures when both fail."""
    r = relocation(tmp_path)
    r.ctx.moves = [Move("docker", str(tmp_path / "src"), str(tmp_path / "disk" / "docker"), _switches.make("bind")),
                   Move("containerd", str(tmp_path / "ctr"), str(tmp_path / "disk" / "containerd"),
                        _switches.make("bind"))]
    tried = []
    failing = {"docker"}

    def set_aside_hidden(move, ctx):
        tried.append(move.name)
        if move.name in failing:
            raise RelocationError("%s: the rename failed" % move.source, "source")
        return True

    monkeypatch.setattr(_switch, "set_aside_hidden", set_aside_hidden)
    exc = _switch.set_aside_all_hidden(r.ctx)
    assert tried == ["docker", "containerd"] and "src: the rename failed" in str(exc), (tried, exc)
    failing.add("containerd")
    del tried[:]
    exc = _switch.set_aside_all_hidden(r.ctx)
    assert tried == ["docker", "containerd"] and "src: the rename failed" in str(exc) and \
        "ctr: the rename failed" in str(exc), (tried, exc)
    failing.clear()
    assert _switch.set_aside_all_hidden(r.ctx) is None
