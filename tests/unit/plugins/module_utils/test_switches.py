# -*- coding: utf-8 -*-
"""BindSwitch and DaemonJsonSwitch on their own: what each plans, refuses, applies, recognises and undoes, on files in
a temporary directory and mount tables written out (no mount is made: the bind itself is proved on the fleet)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _journal, _local, _mountinfo, _switch, _switches
from ansible_collections.dockyard.migrate.plugins.module_utils._move import Move, RelocationError


def mounts(*lines):
    """A mount table: the system disk (8:1) at /, the data disk (7:0) at /mnt/data, and LINES."""
    base = ["1 0 8:1 / / rw - ext4 /dev/sda1 rw", "2 1 7:0 / /mnt/data rw - ext4 /dev/loop0 rw"]
    return _mountinfo.parse("\n".join(base + list(lines)))


BOUND = "3 1 7:0 /docker /var/lib/docker rw - ext4 /dev/loop0 rw"  # /mnt/data/docker bound on /var/lib/docker


class Host(_local.Files):
    """What a switch asks of the host: its files and directories (this machine's, under the test's directory),
    and the units, commands and mounts below, recorded; any other call fails the test."""

    def __init__(self):
        super(Host, self).__init__()
        self.calls = []

    def daemon_reload(self):
        self.calls.append(("daemon_reload",))

    def run(self, argv, what=None):
        self.calls.append(("run", list(argv)))
        return ""

    def drop_self_bind(self, root):
        self.calls.append(("drop_self_bind", root))

    def mountinfo(self):
        return _mountinfo.read()  # the table each test sets

    def __getattr__(self, name):
        raise AssertionError("the switch called host.%s, which it should not" % name)

    def write_sentinel(self, target):
        raise AssertionError("the switch wrote a sentinel, which the transaction does")


class Opts:
    def __init__(self, tmp):
        self.fstab = str(tmp / "fstab")
        self.daemon_json = str(tmp / "docker" / "daemon.json")


class Ctx:
    def __init__(self, tmp, host=None):
        self.host = host or Host()
        self.opts = Opts(tmp)
        self.journal = _journal.Journal(str(tmp / "data" / "docker"), host=self.host)
        self.journal.start(0, "bind")
        self.runner = None
        self.mover = None
        self.actions = []


@pytest.fixture
def ctx(tmp_path):
    (tmp_path / "data").mkdir()
    src = tmp_path / "var" / "lib" / "docker"
    (src / "volumes").mkdir(parents=True)
    (src / "volumes" / "v").write_text("data")
    return Ctx(tmp_path)


def move_of(tmp, kind):
    src = str(tmp / "var" / "lib" / "docker")
    return Move("docker", src, str(tmp / "data" / "docker"), _switches.make(kind))


# ---------------------------------------------------------------- DaemonJsonSwitch

def test_daemon_json_apply_merges_data_root_keeps_the_rest_and_backs_the_file_up(tmp_path, ctx):
    move = move_of(tmp_path, "daemon_json")
    os.makedirs(os.path.dirname(ctx.opts.daemon_json))
    with open(ctx.opts.daemon_json, "w") as f:
        json.dump({"bridge": "none", "log-driver": "json-file"}, f)
    move.switch.apply(move, ctx)
    data = json.load(open(ctx.opts.daemon_json))
    assert data == {"bridge": "none", "log-driver": "json-file", "data-root": move.target}
    backup = ctx.journal["daemon_json_backup"]
    assert json.load(open(backup)) == {"bridge": "none", "log-driver": "json-file"}
    assert move.switch.is_applied(move, ctx, mounts(), data)
    before = os.stat(ctx.opts.daemon_json).st_ino
    move.switch.apply(move, ctx)  # applied already: the file is not rewritten
    assert os.stat(ctx.opts.daemon_json).st_ino == before
    assert ctx.host.calls == []


def test_daemon_json_apply_creates_a_missing_file_with_no_backup(tmp_path, ctx):
    move = move_of(tmp_path, "daemon_json")
    move.switch.apply(move, ctx)
    assert json.load(open(ctx.opts.daemon_json)) == {"data-root": move.target}
    assert ctx.journal.get("daemon_json_backup") is None


def test_daemon_json_set_aside_then_switch_back_puts_the_original_and_an_earlier_data_root_back(tmp_path, ctx):
    move = move_of(tmp_path, "daemon_json")
    os.makedirs(os.path.dirname(ctx.opts.daemon_json))
    before_text = json.dumps({"data-root": "/srv/old", "debug": True})
    with open(ctx.opts.daemon_json, "w") as f:
        f.write(before_text)
    move.switch.apply(move, ctx)
    move.switch.set_aside(move, ctx)
    assert move.backup and os.path.isdir(move.backup) and not os.path.exists(move.source)
    assert open(os.path.join(move.backup, "volumes", "v")).read() == "data"
    move.switch.switch_back(move, ctx, {ctx.opts.daemon_json: before_text})
    assert json.load(open(ctx.opts.daemon_json)) == {"data-root": "/srv/old", "debug": True}
    assert open(os.path.join(move.source, "volumes", "v")).read() == "data" and not os.path.exists(move.backup)
    move.switch.switch_back(move, ctx, {ctx.opts.daemon_json: before_text})  # done already: nothing changes
    assert json.load(open(ctx.opts.daemon_json))["data-root"] == "/srv/old"


def volume_config(root, where):
    """A container in ROOT whose named volume (mounted with :z) is recorded under WHERE; the file's path."""
    d = os.path.join(root, "containers", "c" * 64)
    os.makedirs(d)
    path = os.path.join(d, "config.v2.json")
    with open(path, "w") as f:
        json.dump({"MountPoints": {"/data": {"Type": "volume", "Name": "v", "Driver": "local", "Mode": "z",
                                             "Source": where + "/volumes/v/_data"}}}, f)
    return path


def recorded(path):
    with open(path) as f:
        return json.load(f)["MountPoints"]["/data"]["Source"]


def test_daemon_json_apply_points_the_targets_volume_paths_at_it_and_leaves_the_original_alone(tmp_path, ctx):
    move = move_of(tmp_path, "daemon_json")
    original = volume_config(move.source, move.source)
    copied = volume_config(move.target, move.source)  # the final copy: the original's files as they are
    move.switch.apply(move, ctx)
    assert recorded(copied) == move.target + "/volumes/v/_data"
    assert recorded(original) == move.source + "/volumes/v/_data"
    assert ctx.actions == ["pointed the volume paths recorded by containers at %s" % move.target]
    move.switch.apply(move, ctx)  # a rerun: nothing more to point
    assert len(ctx.actions) == 1 and recorded(copied) == move.target + "/volumes/v/_data"


def test_daemon_json_switch_back_points_the_put_back_originals_volume_paths_at_it(tmp_path, ctx):
    move = move_of(tmp_path, "daemon_json")
    os.makedirs(os.path.dirname(ctx.opts.daemon_json))
    move.switch.apply(move, ctx)
    move.switch.set_aside(move, ctx)
    # A restore copied the target, served from its own path, onto the original set aside.
    config = volume_config(move.backup, move.target)
    move.switch.switch_back(move, ctx, {})
    assert recorded(os.path.join(move.source, os.path.relpath(config, move.backup))) == \
        move.source + "/volumes/v/_data"


def test_a_bind_apply_leaves_the_recorded_volume_paths_alone(tmp_path, ctx, monkeypatch):
    move = move_of(tmp_path, "bind")
    copied = volume_config(move.target, move.source)
    disk = os.path.dirname(move.target)

    def ran():
        return [c[1] for c in ctx.host.calls if c[0] == "run"]

    monkeypatch.setattr(_switches._mountinfo, "read", lambda: mounts(
        "4 1 7:1 / %s rw - ext4 /dev/loop1 rw" % disk,
        *(["5 1 7:1 /docker %s rw - ext4 /dev/loop1 rw" % move.source] if ran() else [])))
    move.switch.apply(move, ctx)
    assert ran() == [["mount", "-o", "bind", "--", move.target, move.source]]  # the switch ran: the bind is there
    assert recorded(copied) == move.source + "/volumes/v/_data"


def test_daemon_json_set_aside_leaves_a_mount_point_alone(tmp_path, ctx, monkeypatch):
    move = move_of(tmp_path, "daemon_json")
    monkeypatch.setattr(_switches._mountinfo, "read", lambda: mounts(
        "3 1 9:0 / %s rw - ext4 /dev/sdb1 rw" % move.source))
    move.switch.set_aside(move, ctx)
    assert move.backup is None and os.path.isdir(move.source)


@pytest.mark.parametrize("version,refused", [("20.10.24+dfsg1", True), ("26.1.5", False), ("", False)])
def test_daemon_json_refuses_a_percent_path_on_old_docker(tmp_path, version, refused):
    switch = _switches.make("daemon_json")
    move = Move("docker", "/var/lib/docker", "/mnt/data/doc%ker", switch)
    facts = {"config": {"bind": None}, "engine": {"version": version}, "root": "/var/lib/docker"}
    if refused:
        with pytest.raises(RelocationError, match="holds a % sign") as exc:
            switch.refuse_conflicts(move, facts, Opts(tmp_path))
        assert exc.value.phase == "preflight"
    else:
        switch.refuse_conflicts(move, facts, Opts(tmp_path))


def test_daemon_json_refuses_an_active_bind_and_a_root_on_its_own_disk(tmp_path):
    switch = _switches.make("daemon_json")
    move = Move("docker", "/var/lib/docker", "/mnt/data/docker", switch)
    facts = {"config": {"bind": {"active": True, "source": "/mnt/data/docker"}}, "engine": {}, "root": "/var/lib/docker"}
    with pytest.raises(RelocationError, match="is a bind mount of /mnt/data/docker"):
        switch.refuse_conflicts(move, facts, Opts(tmp_path))
    with pytest.raises(RelocationError, match="mount point of its own filesystem"):
        switch.preflight(Host(), move, mounts("3 1 9:0 / /var/lib/docker rw - ext4 /dev/sdb1 rw"))
    switch.preflight(Host(), move, mounts())  # a plain directory: fine


def test_daemon_json_plan_texts_and_describe(tmp_path):
    switch = _switches.make("daemon_json")
    move = Move("docker", "/var/lib/docker", "/mnt/data/docker", switch)
    planned = {"daemon_json": {"bridge": "none"}}
    switch.plan_texts(move, planned)
    assert planned == {"daemon_json": {"bridge": "none", "data-root": "/mnt/data/docker"}, "daemon_json_changed": True}
    switch.plan_texts(move, planned)
    assert planned["daemon_json_changed"] is True  # stays true once a move changed it
    assert switch.describe(move, Opts(tmp_path)) == ["set data-root to /mnt/data/docker in %s" %
                                                     Opts(tmp_path).daemon_json]
    assert switch.service_root(move) == "/mnt/data/docker"


def test_daemon_json_after_stop_drops_dockerds_self_bind(tmp_path, ctx):
    move = move_of(tmp_path, "daemon_json")
    move.switch.after_stop(move, ctx)
    assert ctx.host.calls == [("drop_self_bind", move.target)]


# ---------------------------------------------------------------- BindSwitch

def test_bind_plan_texts_write_the_bind_line_and_keep_another_as_a_comment():
    switch = _switches.make("bind")
    move = Move("docker", "/var/lib/docker", "/mnt/data/docker", switch)
    from ansible_collections.dockyard.migrate.plugins.module_utils import _fstab
    planned = {"fstab": _fstab.parse("/dev/sda1 / ext4 defaults 0 1\n")}
    switch.plan_texts(move, planned)
    text = _fstab.render(planned["fstab"])
    assert "/mnt/data/docker /var/lib/docker none bind 0 0" in text and planned["fstab_changed"] is True
    planned = {"fstab": _fstab.parse(text)}
    switch.plan_texts(move, planned)
    assert planned["fstab_changed"] is False and _fstab.render(planned["fstab"]) == text


def test_bind_is_applied_only_when_bound_and_fstab_names_only_the_bind(tmp_path, ctx):
    move = Move("docker", "/var/lib/docker", "/mnt/data/docker", _switches.make("bind"))
    line = "/mnt/data/docker /var/lib/docker none bind 0 0\n"
    with open(ctx.opts.fstab, "w") as f:
        f.write(line)
    assert move.switch.is_applied(move, ctx, mounts(BOUND), {})
    assert not move.switch.is_applied(move, ctx, mounts(), {})  # the line alone
    with open(ctx.opts.fstab, "w") as f:
        f.write(line + "UUID=0c0ffee0 /var/lib/docker ext4 defaults 0 2\n")
    assert not move.switch.is_applied(move, ctx, mounts(BOUND), {})  # a stale line would win at the next boot
    text = open(ctx.opts.fstab).read()
    assert "mounts /var/lib/docker from elsewhere" in move.switch.warnings(move, ctx.opts, text)[0]


def test_bind_preflight_refuses_a_bind_already_there(tmp_path):
    switch = _switches.make("bind")
    move = Move("docker", "/var/lib/docker", "/mnt/data/docker", switch)
    with pytest.raises(RelocationError, match="bound from /mnt/data/docker already, but fstab holds no line"):
        switch.preflight(Host(), move, mounts(BOUND), "")
    other = Move("docker", "/var/lib/docker", "/mnt/data/other", switch)
    with pytest.raises(RelocationError, match="is already a bind mount of /mnt/data/docker"):
        switch.preflight(Host(), other, mounts(BOUND), "")
    switch.preflight(Host(), move, mounts(), "")  # nothing mounted there: fine


def test_bind_refuses_data_root_in_daemon_json(tmp_path):
    switch = _switches.make("bind")
    move = Move("docker", "/var/lib/docker", "/mnt/data/docker", switch)
    with pytest.raises(RelocationError, match="daemon.json sets data-root to /srv/d"):
        switch.refuse_conflicts(move, {"config": {"daemon_json_data_root": "/srv/d"}}, Opts(tmp_path))


def test_bind_undo_puts_the_original_back_when_nothing_is_mounted(tmp_path, ctx, monkeypatch):
    move = move_of(tmp_path, "bind")
    monkeypatch.setattr(_switches._mountinfo, "read", mounts)
    move.backup = _switch.backup_name(move, "20260101T000000")
    os.rename(move.source, move.backup)
    os.mkdir(move.source)  # the empty stand-in the bind was mounted on
    move.switch.undo(move, ctx)
    assert move.backup is None and open(os.path.join(move.source, "volumes", "v")).read() == "data"
    assert ctx.host.calls == []


def test_bind_undo_unmounts_the_bind_first(tmp_path, ctx, monkeypatch):
    move = Move("docker", "/var/lib/docker", "/mnt/data/docker", _switches.make("bind"))
    tables = [mounts(BOUND), mounts()]
    monkeypatch.setattr(_switches._mountinfo, "read", lambda: tables.pop(0) if len(tables) > 1 else tables[0])
    move.switch.undo(move, ctx)
    assert ctx.host.calls == [("run", ["umount", "/var/lib/docker"])]


def test_bind_switch_back_puts_the_original_back_before_the_line_goes(tmp_path, ctx, monkeypatch):
    move = move_of(tmp_path, "bind")
    monkeypatch.setattr(_switches._mountinfo, "read", mounts)
    with open(ctx.opts.fstab, "w") as f:
        f.write("/dev/sda1 / ext4 defaults 0 1\n%s %s none bind 0 0\n" % (move.target, move.source))
    move.backup = _switch.backup_name(move, "20260101T000000")
    os.rename(move.source, move.backup)
    seen = []
    monkeypatch.setattr(_switches._testhooks, "reached",
                        lambda point: seen.append((point, os.path.isdir(move.source), open(ctx.opts.fstab).read())))
    move.switch.switch_back(move, ctx, {})
    # At the hook the original is back and the line still there; then the line goes and systemd reloads.
    assert seen == [("restore_after_put_back", True, "/dev/sda1 / ext4 defaults 0 1\n%s %s none bind 0 0\n" % (
        move.target, move.source))]
    assert open(ctx.opts.fstab).read() == "/dev/sda1 / ext4 defaults 0 1\n"
    assert ctx.host.calls == [("daemon_reload",)]
    assert open(os.path.join(move.source, "volumes", "v")).read() == "data"


def test_put_back_refuses_a_non_empty_directory_in_the_way(tmp_path, ctx):
    move = move_of(tmp_path, "bind")
    move.backup = str(tmp_path / "backup")
    os.mkdir(move.backup)
    with pytest.raises(RelocationError, match="is in the way of the kept original"):
        _switch.put_back(move, Host())
    os.rename(move.backup, move.backup + ".gone")
    os.rename(move.source, str(tmp_path / "elsewhere"))
    with pytest.raises(RelocationError, match="neither the kept original"):
        _switch.put_back(move, Host())


def test_set_aside_again_leaves_an_empty_stand_in_with_the_originals_mode(tmp_path, ctx):
    move = move_of(tmp_path, "bind")
    os.chmod(move.source, 0o710)
    move.backup = str(tmp_path / "var" / "lib" / "docker.dockyard-backup-1")
    _switch.set_aside_again(move, Host(), stand_in=True)
    assert os.path.isdir(move.backup) and os.listdir(move.source) == []
    assert os.stat(move.source).st_mode & 0o7777 == 0o710


# ---------------------------------------------------------------- an original left under the bind

def hidden_setup(tmp_path, monkeypatch, names=("image", "volumes")):
    """A bind move killed after fstab's line and before the move-aside, then a boot that mounted the line: the
    original's entries lie beneath the bind (the fake's view of tmp/beneath/var/lib/docker)."""
    from fake_host import FakeHost  # pylint: disable=import-error
    move = move_of(tmp_path, "bind")
    under = tmp_path / "beneath" / "var" / "lib" / "docker"
    under.mkdir(parents=True)
    for name in names:
        (under / name).mkdir()
        (under / name / "data").write_text(name)
    ctx = Ctx(tmp_path, host=FakeHost(beneath={move.source: str(under)}))
    monkeypatch.setattr(_switch, "bound", lambda mounts, src, path: (src, path) == (move.target, move.source))
    return move, ctx, under


def test_an_original_left_under_the_bind_is_set_aside_beside_it(tmp_path, monkeypatch):
    move, ctx, under = hidden_setup(tmp_path, monkeypatch)
    assert _switch.set_aside_hidden(move, ctx) is True
    aside = under.parent / os.path.basename(move.backup)
    assert move.backup == _switch.backup_name(move, ctx.journal.stamp)
    assert sorted(os.listdir(str(aside))) == ["image", "volumes"] and os.listdir(str(under)) == []
    assert (aside / "volumes" / "data").read_text() == "volumes"
    saved = json.load(open(ctx.journal.path))
    assert saved["hidden_set_aside"] is True and ctx.journal.get("hidden_set_aside") is True
    assert ctx.host.calls == ["view_beneath", "view_closed"]
    assert "set aside the original %s" % move.source in ctx.actions[0]
    assert _switch.set_aside_hidden(move, ctx) is False  # a rerun: nothing left beneath


def test_a_set_aside_killed_part_way_is_finished_into_the_same_backup(tmp_path, monkeypatch):
    move, ctx, under = hidden_setup(tmp_path, monkeypatch)
    move.backup = _switch.backup_name(move, ctx.journal.stamp)
    ctx.journal["hidden_set_aside"] = True
    aside = under.parent / os.path.basename(move.backup)
    aside.mkdir()
    os.rename(str(under / "image"), str(aside / "image"))  # the first run moved one entry, then was killed
    assert _switch.set_aside_hidden(move, ctx) is True
    assert sorted(os.listdir(str(aside))) == ["image", "volumes"] and os.listdir(str(under)) == []


def test_an_entry_in_both_places_is_never_overwritten(tmp_path, monkeypatch):
    move, ctx, under = hidden_setup(tmp_path, monkeypatch)
    move.backup = _switch.backup_name(move, ctx.journal.stamp)
    ctx.journal["hidden_set_aside"] = True
    aside = under.parent / os.path.basename(move.backup)
    aside.mkdir()
    (aside / "volumes").write_text("kept")
    with pytest.raises(RelocationError, match="neither is overwritten"):
        _switch.set_aside_hidden(move, ctx)
    assert (aside / "volumes").read_text() == "kept" and (under / "volumes" / "data").read_text() == "volumes"


def test_a_stand_in_the_switch_made_or_no_bind_is_left_alone(tmp_path, monkeypatch):
    move, ctx, under = hidden_setup(tmp_path, monkeypatch)
    move.backup = _switch.backup_name(move, ctx.journal.stamp)  # set aside by the switch: there, and no flag
    os.makedirs(move.backup)
    assert _switch.set_aside_hidden(move, ctx) is False
    os.rmdir(move.backup)
    move.backup = None
    monkeypatch.setattr(_switch, "bound", lambda mounts, src, path: False)
    assert _switch.set_aside_hidden(move, ctx) is False
    assert ctx.host.calls == [] and sorted(os.listdir(str(under))) == ["image", "volumes"]


def test_a_backup_name_recorded_but_never_renamed_to_is_where_the_hidden_original_goes(tmp_path, monkeypatch):
    """The switch saved the backup name, then was killed before its rename, and a boot mounted the bind: the
    name is taken as the set-aside's own."""
    move, ctx, under = hidden_setup(tmp_path, monkeypatch)
    recorded_name = _switch.backup_name(move, "20261201T000000")
    assert recorded_name != _switch.backup_name(move, ctx.journal.stamp)  # the name is told from a fresh one
    move.backup = recorded_name
    assert not os.path.lexists(recorded_name)
    assert _switch.set_aside_hidden(move, ctx) is True
    assert move.backup == recorded_name
    aside = under.parent / os.path.basename(recorded_name)
    assert sorted(os.listdir(str(aside))) == ["image", "volumes"] and os.listdir(str(under)) == []
    assert (aside / "image" / "data").read_text() == "image"
    assert ctx.journal.get("hidden_set_aside") is True


def test_the_backup_takes_the_originals_mode_and_owner_even_when_it_was_made_already(tmp_path, monkeypatch):
    move, ctx, under = hidden_setup(tmp_path, monkeypatch)
    os.chmod(str(under), 0o710)
    os.chown(str(under), 1234, 1234)  # the tests run as root
    move.backup = _switch.backup_name(move, ctx.journal.stamp)
    ctx.journal["hidden_set_aside"] = True
    aside = under.parent / os.path.basename(move.backup)
    aside.mkdir(mode=0o755)  # a kill between the mkdir and the chmod
    assert (os.stat(str(aside)).st_uid, os.stat(str(aside)).st_gid) != (1234, 1234)
    assert _switch.set_aside_hidden(move, ctx) is True
    st = os.stat(str(aside))
    assert st.st_mode & 0o7777 == 0o710
    assert (st.st_uid, st.st_gid) == (1234, 1234)


def test_a_bind_apply_that_finds_its_bind_mounted_sets_the_original_under_it_aside(tmp_path, monkeypatch):
    """The rerun's switch finds fstab's line mounted already (a boot did it): the original under it is set aside
    before the switch counts as done."""
    move, ctx, under = hidden_setup(tmp_path, monkeypatch)
    monkeypatch.setattr(_switches._mountinfo, "same_bind", lambda mounts, src, path: (src, path) == (
        move.target, move.mount_point))
    move.switch.apply(move, ctx)
    assert move.backup and os.listdir(str(under)) == []
    assert sorted(os.listdir(str(under.parent / os.path.basename(move.backup)))) == ["image", "volumes"]
    assert "view_beneath" in ctx.host.calls


def test_a_rerun_that_copied_the_original_again_points_the_paths_again(tmp_path, ctx):
    """Killed after the switch, a rerun takes the final copy again (the original's files over the target's) and
    switches again with daemon.json already naming the target: the paths are pointed at the target again."""
    move = move_of(tmp_path, "daemon_json")
    copied = volume_config(move.target, move.source)
    move.switch.apply(move, ctx)
    with open(copied, "w") as f:  # the final copy again
        json.dump({"MountPoints": {"/data": {"Type": "volume", "Name": "v", "Driver": "local", "Mode": "z",
                                             "Source": move.source + "/volumes/v/_data"}}}, f)
    move.switch.apply(move, ctx)
    assert recorded(copied) == move.target + "/volumes/v/_data"


def test_a_stand_in_a_killed_run_did_not_make_is_made_by_the_next(tmp_path):
    """A restore's recovery killed between setting the original aside again and making the empty directory the bind
    is mounted on: the next run makes it (with the original's mode), and leaves the original where it is."""
    src, backup = tmp_path / "docker", tmp_path / "docker.bak"
    (backup / "image").mkdir(parents=True)
    backup.chmod(0o710)
    move = Move("docker", str(src), str(tmp_path / "disk" / "docker"), _switches.make("bind"), backup=str(backup))
    _switch.set_aside_again(move, Host(), stand_in=True)
    assert src.is_dir() and os.listdir(str(src)) == [] and src.stat().st_mode & 0o7777 == 0o710
    assert os.listdir(str(backup)) == ["image"]
    _switch.set_aside_again(move, Host(), stand_in=False)  # daemon_json: nothing is mounted there, nothing made
    assert os.listdir(str(src)) == [] and os.listdir(str(backup)) == ["image"]
