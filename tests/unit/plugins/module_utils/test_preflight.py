# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _move, _options, _preflight


class Host:
    def __init__(self, units=("docker.service",)):
        self.units = units

    def unit_exists(self, unit):
        return unit in self.units


def opts(tmp_path, **kw):
    p = dict(path="/mnt/data/docker", fstab=str(tmp_path / "fstab"))
    p.update(kw)
    return _options.Options(p)


def facts(engine=None, **cfg):
    config = {"snap": False, "daemon_json_error": None, "flag_data_root": None, "flag_source": None,
              "running_root_differs": False, "configured_root": "/var/lib/docker"}
    config.update(cfg)
    return {"engine": dict({"running": True, "docker_root_dir": "/var/lib/docker", "swarm": "inactive"},
                           **(engine or {})), "config": config}


def moves():
    return [_move.Move("docker", "/var/lib/docker", "/mnt/data/docker", None)]


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


@pytest.mark.parametrize("phase,taken", [("online_copy", True), ("final_copy", True), ("rolled_back", True),
                                         ("restored", True), ("done", False), ("source", False),
                                         ("restore_record", False), ("restore_switch", False)])
def test_a_target_docker_may_have_written_to_is_never_taken_as_a_partial_copy(tmp_path, phase, taken):
    from ansible_collections.dockyard.migrate.plugins.module_utils import _journal, _switches
    src, target = tmp_path / "src", tmp_path / "disk" / "docker"
    src.mkdir()
    (target / "volumes").mkdir(parents=True)
    move = _move.Move("docker", str(src), str(target), _switches.make("bind"), mount_point=str(src))
    journal = _journal.Journal(str(target))
    journal.moves = [move]
    journal.start(0, "bind")
    journal.save(phase=phase)
    assert _preflight.owns_partial(journal, move) is taken
    if taken:
        _preflight.target_path(move, journal, [])
    else:
        with pytest.raises(_move.RelocationError, match="ended in phase %s.*never overwritten" % phase):
            _preflight.target_path(move, journal, [])


def test_put_back_is_done_once_and_refuses_a_full_stand_in(tmp_path):
    from ansible_collections.dockyard.migrate.plugins.module_utils import _switches
    src, backup = tmp_path / "docker", tmp_path / "docker.dockyard-backup-1"
    (backup / "volumes").mkdir(parents=True)
    src.mkdir()  # the empty stand-in the bind was mounted on
    move = _move.Move("docker", str(src), str(tmp_path / "disk"), _switches.make("bind"), backup=str(backup))
    _switches.put_back(move)
    assert (src / "volumes").is_dir() and not backup.exists()
    _switches.put_back(move)  # a rerun: done already
    (backup / "x").mkdir(parents=True)
    with pytest.raises(_move.RelocationError, match="in the way of the kept original"):
        _switches.put_back(move)
    assert (src / "volumes").is_dir() and (backup / "x").is_dir()


@pytest.mark.parametrize("version,target,refused", [
    ("20.10.24+dfsg1", "/mnt/data/100%/docker", True),
    ("25.0.3", "/mnt/data/a%sb/docker", True),
    ("26.1.5+dfsg1", "/mnt/data/100%/docker", False),
    ("20.10.24+dfsg1", "/mnt/data/say \"q\" x/docker", False),
    (None, "/mnt/data/100%/docker", False),  # Docker down: the run is refused for that, or resumes a checked one
])
def test_daemon_json_refuses_a_percent_sign_docker_would_misread(tmp_path, version, target, refused):
    from ansible_collections.dockyard.migrate.plugins.module_utils import _switches
    move = _move.Move("docker", "/var/lib/docker", target, _switches.make("daemon_json"), "/var/lib/docker")
    f = facts(engine={"version": version}, bind=None)
    if refused:
        with pytest.raises(_move.RelocationError) as exc:
            move.switch.refuse_conflicts(move, f, opts(tmp_path, path=target, method="daemon_json"))
        assert "holds a % sign" in str(exc.value) and version in str(exc.value) and "method bind" in str(exc.value)
    else:
        move.switch.refuse_conflicts(move, f, opts(tmp_path, path=target, method="daemon_json"))
    # The bind method keeps Docker's root where it is: it accepts the same path.
    bind = _move.Move("docker", "/var/lib/docker", target, _switches.make("bind"), "/var/lib/docker")
    bind.switch.refuse_conflicts(bind, facts(engine={"version": version}, daemon_json_data_root=None),
                                 opts(tmp_path, path=target))


def test_a_removed_docker_whose_init_script_systemd_still_runs_is_not_installed(monkeypatch, tmp_path):
    script = tmp_path / "docker"
    script.write_text("#!/bin/sh\n")

    def no_dockerd(name):
        raise ValueError("no %s" % name)

    monkeypatch.setattr(_preflight, "get_bin_path", no_dockerd)
    f = facts(engine={"running": False}, unit_exec_start=["%s start" % script])
    with pytest.raises(_move.RelocationError) as exc:
        _preflight.docker_installed(f, Host())
    assert "docker.service runs %s, and there is no dockerd program" % script in str(exc.value)
    monkeypatch.setattr(_preflight, "get_bin_path", lambda name: "/usr/sbin/dockerd")
    _preflight.docker_installed(f, Host())  # an init script that starts an installed dockerd
    with pytest.raises(_move.RelocationError) as exc:
        _preflight.docker_installed(f, Host(units=()))
    assert "no docker.service unit" in str(exc.value)
