# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _disk, _local, _mountinfo, _move, _options, _preflight, _switch, _switches)


class Host(_local.Files):
    """The host these checks ask (_host.Host's part they use): Docker's UNITS, the block DEVICES ({device:
    (MAJOR:MINOR, UUID)}, as blkid finds them), the mount table MOUNTS, the PROGRAMS installed ({name: path or
    None}; others as on this machine), and the commands run (ARGVS).  Files are this machine's."""

    def __init__(self, units=("docker.service",), devices=None, mounts=(), programs=None, boot_fstab=None):
        super(Host, self).__init__()
        self.boot_fstab = boot_fstab  # the fstab the boot mounts from (None: the test's own will do)
        self.units = units
        self.devices = dict(devices or {})
        self.mounts = list(mounts)
        self.programs = dict(programs or {})
        self.argvs = []

    def unit_exists(self, unit):
        return unit in self.units

    def which(self, name):
        return self.programs[name] if name in self.programs else super(Host, self).which(name)

    def blkid(self, argv):
        if "-t" in argv:  # the devices an fstab source names
            src = argv[argv.index("-t") + 1]
            return sorted(d for d, (_n, u) in self.devices.items() if src == "UUID=" + u)
        uuid = self.devices.get(argv[-1], ("", ""))[1]  # the UUID on a device
        return [uuid] if uuid else []

    def device_number(self, device):
        return self.devices.get(device, ("", ""))[0]

    def exists(self, path):
        return path in self.devices or os.path.exists(path)

    def realpath(self, path):
        return path if path in self.devices else os.path.realpath(path)

    def mountinfo(self):
        return list(self.mounts)

    def run(self, argv, what=None):
        self.argvs.append(argv)


def opts(tmp_path, **kw):
    p = dict(target="/mnt/data/docker", fstab=str(tmp_path / "fstab"))
    p.update(kw)
    return _options.Options(p)


def facts(engine=None, **cfg):
    config = {"snap": False, "daemon_json_error": None, "flag_data_root": None, "flag_source": None,
              "running_root_differs": False, "configured_root": "/var/lib/docker"}
    config.update(cfg)
    return {"engine": dict({"running": True, "docker_root_dir": "/var/lib/docker", "swarm": "inactive"},
                           **(engine or {})), "config": config}


def moves(method="bind"):
    return [_move.Move("docker", "/var/lib/docker", "/mnt/data/docker", _switches.make(method))]


def refused(fn, *args):
    with pytest.raises(_move.RelocationError) as exc:
        fn(*args)
    assert exc.value.phase == "preflight"
    return str(exc.value)


@pytest.mark.parametrize("path", ["/mnt/x\n[Service]", "/mnt/a\tb", "/mnt/\x1b[31m", "/mnt/del\x7f"])
def test_control_characters_are_refused(path):
    assert "holds a control character" in refused(_preflight.path_name, path)


def test_long_names_are_refused_and_spaces_pass():
    assert "a file name holds at most 255" in refused(_preflight.path_name, "/mnt/" + "x" * 256)
    assert "Linux paths end at 4095" in refused(_preflight.path_name, "/m" * 2100)
    _preflight.path_name("/mnt/data disk/dätä/" + "ü" * 127)


def test_flags_are_refused_naming_where_they_are(tmp_path):
    msg = refused(_preflight.host_config, opts(tmp_path), facts(flag_data_root="/srv/d"), Host(), moves())
    assert msg.startswith("docker.service sets the data root with a flag (/srv/d) in the ExecStart")
    msg = refused(_preflight.host_config, opts(tmp_path),
                  facts(flag_data_root="/srv/d", flag_source="OPTIONS in /etc/sysconfig/docker"), Host(), moves())
    assert msg.startswith("OPTIONS in /etc/sysconfig/docker (read by docker.service) sets the data root")


def test_running_root_other_than_the_configured_one_is_refused(tmp_path):
    differing = facts(engine={"docker_root_dir": "/old"}, running_root_differs=True)
    msg = refused(_preflight.host_config, opts(tmp_path), differing, Host(), moves())
    assert "the running Docker uses /old but its configuration names /var/lib/docker" in msg


def test_swarm_manager_refused_unless_allowed_worker_warned(tmp_path):
    manager = facts(engine={"swarm": "active", "swarm_manager": True})
    assert "swarm manager" in refused(_preflight.host_config, opts(tmp_path), manager, Host(), moves())
    warnings = _preflight.host_config(opts(tmp_path, allow_swarm_manager=True), manager, Host(), moves())
    assert warnings and "swarm manager" in warnings[0]
    worker = facts(engine={"swarm": "active", "swarm_manager": False})
    assert "swarm worker" in _preflight.host_config(opts(tmp_path), worker, Host(), moves())[0]


def test_snap_and_missing_unit(tmp_path):
    assert "installed as a snap" in refused(_preflight.host_config, opts(tmp_path), facts(snap=True), Host(), moves())
    assert "no docker.service unit" in refused(_preflight.host_config, opts(tmp_path), facts(), Host(()), moves())


def recorded_bind_move(tmp_path, phase):
    """A bind move from src to disk/docker (a partial copy there) recorded by a journal in PHASE: (move, journal)."""
    from ansible_collections.dockyard.migrate.plugins.module_utils import _journal, _switches
    src, target = tmp_path / "src", tmp_path / "disk" / "docker"
    src.mkdir()
    (target / "volumes").mkdir(parents=True)
    move = _move.Move("docker", str(src), str(target), _switches.make("bind"), mount_point=str(src))
    journal = _journal.Journal(str(target))
    journal.moves = [move]
    journal.start(0, "bind")
    journal.save(phase=phase)
    return move, journal


@pytest.mark.parametrize("phase,taken", [("online_copy", True), ("final_copy", True), ("rolled_back", True),
                                         ("restored", True), ("done", False), ("source", False),
                                         ("restore_record", False), ("restore_switch", False)])
def test_a_target_docker_may_have_written_to_is_never_taken_as_a_partial_copy(tmp_path, phase, taken):
    move, journal = recorded_bind_move(tmp_path, phase)
    assert _preflight.owns_partial(journal, move) is taken
    if taken:
        _preflight.target_path(Host(), move, journal, [])
    else:
        with pytest.raises(_move.RelocationError, match="ended in phase %s.*never overwritten" % phase):
            _preflight.target_path(Host(), move, journal, [])


def test_put_back_is_done_once_and_refuses_a_full_stand_in(tmp_path):
    src, backup = tmp_path / "docker", tmp_path / "docker.dockyard-backup-1"
    (backup / "volumes").mkdir(parents=True)
    src.mkdir()  # the empty stand-in the bind was mounted on
    move = _move.Move("docker", str(src), str(tmp_path / "disk"), _switches.make("bind"), backup=str(backup))
    _switch.put_back(move, Host())
    assert (src / "volumes").is_dir() and not backup.exists()
    _switch.put_back(move, Host())  # a rerun: done already
    (backup / "x").mkdir(parents=True)
    with pytest.raises(_move.RelocationError, match="in the way of the kept original"):
        _switch.put_back(move, Host())
    assert (src / "volumes").is_dir() and (backup / "x").is_dir()


@pytest.mark.parametrize("version,target,refused", [
    ("20.10.24+dfsg1", "/mnt/data/100%/docker", True),
    ("25.0.3", "/mnt/data/a%sb/docker", True),
    ("26.1.5+dfsg1", "/mnt/data/100%/docker", False),
    ("20.10.24+dfsg1", "/mnt/data/say \"q\" x/docker", False),
    (None, "/mnt/data/100%/docker", False),  # Docker down: the run is refused for that, or resumes a checked one
])
def test_daemon_json_refuses_a_percent_sign_docker_would_misread(tmp_path, version, target, refused):
    move = _move.Move("docker", "/var/lib/docker", target, _switches.make("daemon_json"), "/var/lib/docker")
    f = facts(engine={"version": version}, bind=None)
    if refused:
        with pytest.raises(_move.RelocationError) as exc:
            move.switch.refuse_conflicts(move, f, opts(tmp_path, target=target, method="daemon_json"))
        assert "holds a % sign" in str(exc.value) and version in str(exc.value) and "method bind" in str(exc.value)
    else:
        move.switch.refuse_conflicts(move, f, opts(tmp_path, target=target, method="daemon_json"))
    # The bind method keeps Docker's root where it is: it accepts the same path.
    bind = _move.Move("docker", "/var/lib/docker", target, _switches.make("bind"), "/var/lib/docker")
    bind.switch.refuse_conflicts(bind, facts(engine={"version": version}, daemon_json_data_root=None),
                                 opts(tmp_path, target=target))


def test_a_removed_docker_whose_init_script_systemd_still_runs_is_not_installed(tmp_path):
    script = tmp_path / "docker"
    script.write_text("#!/bin/sh\n")
    f = facts(engine={"running": False}, unit_exec_start=["%s start" % script])
    with pytest.raises(_move.RelocationError) as exc:
        _preflight.docker_installed(f, Host(programs={"dockerd": None}))
    assert "docker.service runs %s, and there is no dockerd program" % script in str(exc.value)
    # an init script that starts an installed dockerd
    _preflight.docker_installed(f, Host(programs={"dockerd": "/usr/sbin/dockerd"}))
    with pytest.raises(_move.RelocationError) as exc:
        _preflight.docker_installed(f, Host(units=()))
    assert "no docker.service unit" in str(exc.value)


# ---------------------------------------------------------------- a data root that is its own disk
DISK_MOUNTS = "\n".join([
    "20 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
    "36 20 7:3 / /var/lib/docker rw,relatime shared:2 - ext4 /dev/loop3 rw",
    "37 20 8:17 / /mnt/data rw,relatime shared:3 - ext4 /dev/sdb1 rw"])
DISK_LINE = "UUID=0c0ffee0-aaaa-4bad-beef-000000000002 /var/lib/docker ext4 defaults,nofail 0 2"


UUID = "0c0ffee0-aaaa-4bad-beef-000000000002"


def disk_move(method="bind"):
    return _move.Move("docker", "/var/lib/docker", "/mnt/data/docker", _switches.make(method))


@pytest.fixture
def disk_host():
    """A host whose block devices blkid finds as {device: (MAJOR:MINOR, UUID)} (tests change them)."""
    return Host(devices={"/dev/loop3": ("7:3", UUID), "/dev/sdb1": ("8:17", "5ca1ab1e-0000-4000-8000-00000000d474")})


def test_a_root_on_its_own_disk_records_that_disk_for_the_bind_switch_and_the_journal(disk_host):
    m = disk_move()
    m.switch.preflight(disk_host, m, _mountinfo.parse(DISK_MOUNTS), "# comment\n" + DISK_LINE + "\n")
    assert m.disk == {"line": DISK_LINE, "src": "UUID=0c0ffee0-aaaa-4bad-beef-000000000002", "fstype": "ext4",
                      "opts": "defaults,nofail", "device": "/dev/loop3", "major_minor": "7:3", "uuid": UUID}
    # A rerun inside the window reads it back from the journal (fstab may hold only the bind line by then).
    again = _switches.move_from_dict(m.to_dict())
    assert again.disk == m.disk
    again.switch.preflight(disk_host, again, _mountinfo.parse(DISK_MOUNTS),
                           "/mnt/data/docker /var/lib/docker none bind 0 0\n")
    assert again.disk == m.disk
    assert _disk.disk_mounted_at(disk_host, m, _mountinfo.parse(DISK_MOUNTS), "/var/lib/docker")
    assert not _disk.disk_mounted_at(disk_host, m, _mountinfo.parse(DISK_MOUNTS), "/mnt/data")
    assert "the data root moved off this disk on " in _switch.note_for(m)


@pytest.mark.parametrize("fstab, message", [
    ("", "/var/lib/docker is the mount point of its own filesystem (/dev/loop3, ext4), and fstab holds no line for "
         "/var/lib/docker"),
    (DISK_LINE.replace("ext4", "xfs") + "\n", "its fstab line 1 (%s) mounts a xfs filesystem there" %
     DISK_LINE.replace("ext4", "xfs")),
    ("/srv/d /var/lib/docker none bind 0 0\n", "does not mount a disk by UUID=, LABEL= or device path"),
])
def test_a_root_on_its_own_disk_without_one_matching_disk_line_is_refused(fstab, message, disk_host):
    m = disk_move()
    assert message in refused(m.switch.preflight, disk_host, m, _mountinfo.parse(DISK_MOUNTS), fstab)
    assert m.disk is None


def test_a_disk_line_that_names_another_device_than_the_mounted_one_is_refused(disk_host):
    """fstab says UUID=A but disk B is mounted there (mounted by hand, or the disk was replaced): a rollback
    would mount A, so the move is refused."""
    disk_host.devices["/dev/loop3"] = ("7:3", "b0000000-0000-4000-8000-00000000000b")
    disk_host.devices["/dev/sdc1"] = ("8:33", UUID)
    m = disk_move()
    msg = refused(m.switch.preflight, disk_host, m, _mountinfo.parse(DISK_MOUNTS), DISK_LINE + "\n")
    assert "names /dev/sdc1, not the device mounted there (7:3)" in msg and m.disk is None
    del disk_host.devices["/dev/sdc1"]
    msg = refused(m.switch.preflight, disk_host, m, _mountinfo.parse(DISK_MOUNTS), DISK_LINE + "\n")
    assert "names no device, not the device mounted there (7:3)" in msg


class Ctx:
    def __init__(self, host):
        self.host = host


def test_the_original_disk_is_mounted_again_only_when_it_is_itself_and_unused(disk_host, tmp_path):
    m = disk_move()
    m.switch.preflight(disk_host, m, _mountinfo.parse(DISK_MOUNTS), DISK_LINE + "\n")
    after_move = _mountinfo.parse(DISK_MOUNTS.replace("36 20 7:3 / /var/lib/docker rw,relatime shared:2 - ext4 /dev/loop3",
                                                      "36 20 8:17 /docker /var/lib/docker rw,relatime shared:2 - ext4 "
                                                      "/dev/sdb1"))
    path = str(tmp_path / "staging")
    # Reused at /srv by the user since: nothing is mounted (a copy back with --delete would wipe it).
    disk_host.mounts = _mountinfo.parse(DISK_MOUNTS.replace("36 20 7:3 / /var/lib/docker", "36 20 7:3 / /srv"))
    ctx = Ctx(disk_host)
    with pytest.raises(_move.RelocationError) as exc:
        _disk.mount_disk(m, ctx, path)
    assert "is mounted at /srv: it is in use again" in str(exc.value) and ctx.host.argvs == []
    # Another filesystem under that name now (reformatted, or a LABEL= that moved): refused too.
    disk_host.mounts = after_move
    disk_host.devices["/dev/loop3"] = ("7:3", "f0000000-0000-4000-8000-00000000000f")
    m.disk["src"] = "/dev/loop3"
    with pytest.raises(_move.RelocationError) as exc:
        _disk.mount_disk(m, ctx, path)
    assert "holds another filesystem now (UUID f0000000" in str(exc.value) and ctx.host.argvs == []
    # That disk, mounted nowhere, under another device number after a reboot: mounted by its checked device.
    disk_host.devices["/dev/loop3"] = ("7:4", UUID)
    _disk.mount_disk(m, ctx, path, "preflight")
    assert ctx.host.argvs == [["mount", "-t", "ext4", "-o", "defaults,nofail", "--", "/dev/loop3", path]]
    # Known where it is mounted by its filesystem's UUID, whatever its number.
    moved_number = _mountinfo.parse(DISK_MOUNTS.replace("36 20 7:3 / /var/lib/docker", "36 20 7:9 / /var/lib/docker"))
    assert _disk.disk_mounted_at(disk_host, m, moved_number, "/var/lib/docker")
    disk_host.devices["/dev/loop3"] = ("7:9", "f0000000-0000-4000-8000-00000000000f")
    assert not _disk.disk_mounted_at(disk_host, m, moved_number, "/var/lib/docker")


def test_a_btrfs_root_on_its_own_disk_is_known_by_its_source_not_its_anonymous_number(disk_host):
    m = disk_move()
    btrfs = DISK_MOUNTS.replace("36 20 7:3 / /var/lib/docker rw,relatime shared:2 - ext4",
                                "36 20 0:45 / /var/lib/docker rw,relatime shared:2 - btrfs")
    m.switch.preflight(disk_host, m, _mountinfo.parse(btrfs), DISK_LINE.replace("ext4", "btrfs") + "\n")
    assert m.disk["uuid"] == UUID and m.disk["fstype"] == "btrfs"
    elsewhere = _mountinfo.parse(btrfs.replace("/var/lib/docker rw", "/srv rw"))
    with pytest.raises(_move.RelocationError) as exc:
        _disk.disk_device(disk_host, m, elsewhere, "rollback")
    assert "is mounted at /srv" in str(exc.value)


def test_a_memory_filesystem_root_and_the_daemon_json_method_are_refused(disk_host):
    m = disk_move()
    tmpfs = DISK_MOUNTS.replace("ext4 /dev/loop3", "tmpfs olddisk")
    assert "keeps nothing across a reboot" in refused(m.switch.preflight, disk_host, m, _mountinfo.parse(tmpfs),
                                                      "/dev/loop3 /var/lib/docker tmpfs defaults 0 0\n")
    m = disk_move("daemon_json")
    msg = refused(m.switch.preflight, disk_host, m, _mountinfo.parse(DISK_MOUNTS), DISK_LINE + "\n")
    assert "is the mount point of its own filesystem (/dev/loop3, ext4)" in msg and "Use method bind" in msg


def test_keep_source_false_is_refused_for_a_root_on_its_own_disk(tmp_path, monkeypatch):
    (tmp_path / "fstab").write_text(DISK_LINE + "\n")
    m = disk_move()
    m.disk = {"line": DISK_LINE}
    monkeypatch.setattr(_preflight, "host_config", lambda *a: [])
    monkeypatch.setattr(_preflight, "target_path", lambda *a: None)
    host = Host(mounts=_mountinfo.parse(DISK_MOUNTS))
    msg = refused(_preflight.moves_fit, opts(tmp_path, keep_source=False), facts(), host, [m], None)
    assert "is the mount point of its own disk (%s)" % DISK_LINE in msg and "keep_source: true" in msg
    # The same root with keep_source true passes these checks.
    _preflight.moves_fit(opts(tmp_path, keep_source=True), facts(), host, [m], None)


def test_a_bind_move_writes_only_the_fstab_the_boot_mounts_from(tmp_path):
    """A bind line in another file than the one the boot reads would be mounted by the run and gone after a
    reboot, with Docker kept from starting by its drop-in: refused. daemon_json writes no fstab line."""
    boot = tmp_path / "etc-fstab"
    boot.write_text("")
    msg = refused(_preflight.host_config, opts(tmp_path), facts(), Host(boot_fstab=str(boot)), moves())
    assert "fstab %s is not the file this host mounts from at boot (%s)" % (tmp_path / "fstab", boot) in msg
    assert "method daemon_json" in msg
    assert _preflight.host_config(opts(tmp_path, method="daemon_json"), facts(), Host(boot_fstab=str(boot)),
                                  moves("daemon_json")) == []
    assert _preflight.host_config(opts(tmp_path, fstab=str(boot)), facts(), Host(boot_fstab=str(boot)), moves()) == []


@pytest.mark.parametrize("phase,resumed", [("switch", True), ("final_copy", True), ("done", False),
                                           ("rolled_back", False)])
def test_a_bind_this_moves_killed_switch_mounted_is_resumed_not_refused(tmp_path, phase, resumed):
    """A move with containerd's root binds Docker's root, then containerd's: killed between the two, the rerun that
    resumes the switch finds Docker's bind (fstab's line written before it) and goes on.  The same bind seen outside
    that run's window, or by a run that does not resume the switch, is refused as a bind made by someone else."""
    move, journal = recorded_bind_move(tmp_path, phase)
    src, target = move.source, move.target
    bound = _mountinfo.parse("1 0 8:1 / / rw - ext4 /dev/sda1 rw\n2 1 7:0 / %s rw - ext4 /dev/loop0 rw\n"
                             "3 1 7:0 /docker %s rw - ext4 /dev/loop0 rw" % (tmp_path / "disk", src))
    line = "%s %s none bind 0 0\n" % (target, src)
    if resumed:
        _preflight.target_path(Host(), move, journal, bound, line, resuming=True)
    else:
        with pytest.raises(_move.RelocationError, match="bound from %s already" % target):
            _preflight.target_path(Host(), move, journal, bound, line, resuming=True)
    # Not a resumed switch (Docker started since, on what the bind shows): refused, whatever the journal says.
    with pytest.raises(_move.RelocationError, match="bound from %s already" % target):
        _preflight.target_path(Host(), move, journal, bound, line)
    # A bind of another directory there, even in the resumed window, is not this move's: refused.
    other = _mountinfo.parse("1 0 8:1 / / rw - ext4 /dev/sda1 rw\n2 1 7:0 / %s rw - ext4 /dev/loop0 rw\n"
                             "3 1 7:0 /elsewhere %s rw - ext4 /dev/loop0 rw" % (tmp_path / "disk", src))
    with pytest.raises(_move.RelocationError, match="already a bind mount of"):
        _preflight.target_path(Host(), move, journal, other, line, resuming=True)
