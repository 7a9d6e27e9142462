# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.dockyard.migrate.plugins.module_utils import _local, _move, _options, _plan


def opts(**kw):
    p = dict(path="/mnt/data/docker")
    p.update(kw)
    return _options.Options(p)


def facts(store=False, root="/var/lib/docker"):
    return {"config": {"configured_root": root}, "containerd": {"root": "/var/lib/containerd", "image_store": store}}


def test_plan_bind_moves_only_docker_without_the_containerd_store():
    moves = _plan.plan_moves(opts(), facts())
    assert [(m.name, m.source, m.target, m.switch.kind, m.service_root) for m in moves] == [
        ("docker", "/var/lib/docker", "/mnt/data/docker", "bind", "/var/lib/docker")]


def test_plan_moves_containerd_with_the_store_beside_the_target():
    moves = _plan.plan_moves(opts(method="daemon_json"), facts(store=True))
    assert [(m.name, m.target, m.switch.kind, m.service_root) for m in moves] == [
        ("docker", "/mnt/data/docker", "daemon_json", "/mnt/data/docker"),
        ("containerd", "/mnt/data/containerd", "bind", "/var/lib/containerd")]


def test_containerd_modes():
    for mode, store, count in (("never", True, 1), ("always", False, 2), ("auto", False, 1)):
        assert len(_plan.plan_moves(opts(containerd=mode, containerd_path="/srv/ctd"), facts(store=store))) == count


def test_inside():
    assert _move.inside("/var/lib/docker/x", "/var/lib/docker")
    assert _move.inside("/var/lib/docker", "/var/lib/docker/")
    assert not _move.inside("/var/lib/docker2", "/var/lib/docker")


def test_config_texts_show_fstab_daemon_json_and_dropin(tmp_path):
    fstab = tmp_path / "fstab"
    fstab.write_text("# keep me\n")
    dj = tmp_path / "daemon.json"
    dj.write_text(json.dumps({"log-driver": "journald"}))
    o = opts(method="daemon_json", fstab=str(fstab), daemon_json=str(dj))
    before, after = _plan.config_texts(_local.Files(), o, _plan.plan_moves(o, facts()))
    assert after[str(fstab)] == "# keep me\n"
    assert json.loads(after[str(dj)]) == {"log-driver": "journald", "data-root": "/mnt/data/docker"}
    dropin = "/etc/systemd/system/docker.service.d/dockyard-data-root.conf"
    assert "RequiresMountsFor=/mnt/data/docker" in after[dropin]
    o = opts(fstab=str(fstab), daemon_json=str(dj))
    before, after = _plan.config_texts(_local.Files(), o, _plan.plan_moves(o, facts()))
    assert after[str(fstab)] == "# keep me\n/mnt/data/docker /var/lib/docker none bind 0 0\n"
    assert after[str(dj)] == before[str(dj)]


def test_describe_names_each_switch_and_what_happens_to_the_original():
    o = opts(keep_source=False)
    steps = _plan.describe(o, _plan.plan_moves(o, facts(store=True)), resuming=False)
    assert "write the fstab line /mnt/data/docker /var/lib/docker none bind 0 0 and mount it" in steps
    assert "stop docker.socket and docker.service and containerd.service" in steps
    assert steps[-1] == "remove the original once verified"
    o = opts(method="daemon_json", two_phase=False)
    steps = _plan.describe(o, _plan.plan_moves(o, facts()), resuming=True)
    assert steps[0] == "set data-root to /mnt/data/docker in /etc/docker/daemon.json"
    assert not any("while Docker runs" in s for s in steps)


def test_a_symlinked_root_moves_the_real_directory():
    f = facts()
    f["config"]["configured_real_root"] = "/srv/docker"
    for method in ("bind", "daemon_json"):
        (m,) = _plan.plan_moves(opts(method=method), f)
        assert (m.source, m.mount_point) == ("/srv/docker", "/srv/docker")
        assert m.service_root == ("/srv/docker" if method == "bind" else "/mnt/data/docker")


def test_describe_says_how_the_copies_are_held_back():
    o = opts(bwlimit="50M", nice=19, ionice="idle")
    steps = _plan.describe(o, _plan.plan_moves(o, facts()), resuming=False)
    assert steps[1] == ("make every copy at most 50.0M per second (rsync --bwlimit), the first copy by rsync and "
                        "under ionice -c 3 nice -n 19")
    o = opts(rsync_opts=["--bwlimit=20M"])
    assert _plan.describe(o, _plan.plan_moves(o, facts()), resuming=False)[1] == (
        "make every copy at most 20M per second (rsync --bwlimit), the first copy by rsync")
    o = opts()
    assert not any(s.startswith("make every copy") for s in _plan.describe(o, _plan.plan_moves(o, facts()), False))
