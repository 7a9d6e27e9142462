# -*- coding: utf-8 -*-
"""Recovery that asks the host: a kill, then a reboot with Docker running (and writing) in between, or a host that
will not start Docker where the journal expects it.  Each case first shows the fault landed where it claims (the
kill's status, the marker's phase, what the boot did), then what the rerun made of the host: the write made after
the reboot is in the root Docker serves, Docker runs, a further run changes nothing."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import time

import pytest

from conftest import unchanged
from test_faults import host_sh, kill_at, look
from test_reliability import HOST_STATE, MOVE, marker, prepare, record

ROLLBACK = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "playbooks",
                        "rollback_docker_root.yml")
BOUND = r"/dev/loop\d+\[/docker\]$"
# A stand-in for a new root Docker cannot start on (a filesystem without what overlay2 needs, say): the start
# fails while /var/lib/docker is a mount point, and only then.
REFUSE_BIND = ("[Service]\nExecStartPre=/bin/sh -c '! mountpoint -q /var/lib/docker'\n")
REFUSE_BIND_PATH = "/etc/systemd/system/docker.service.d/zz-test-refuse-bind.conf"


def write_late(host="h1"):
    host_sh(host, "docker exec web sh -c 'echo after-the-reboot > /data/site/late.txt'")


def late(host="h1"):
    """The write made after the reboot, read through the container (which must be running)."""
    return host_sh(host, "docker exec web cat /data/site/late.txt || echo missing").stdout.strip()


def fingerprint_now(fleet, host="h1"):
    return fleet.module(host, "dockyard.migrate.data_root_info", {"sizes": False})["inventory"]["fingerprint"]


@pytest.mark.timeout(1800)  # a reset, a reboot and four runs
def test_a_rollback_killed_after_the_unbind_then_a_reboot_keeps_what_docker_wrote(fleet_hosts, reliability_rows):
    """The move fails at the end of its switch (before Docker starts: the journal says the new root was never
    served) and its rollback is killed once the bind is lifted, before fstab is put back.  The boot mounts the
    bind line again and Docker runs on the new root, and a container writes to a volume.  The rerun must copy that
    back before it undoes the switch, then move again: the write survives."""
    t0 = time.time()
    fingerprint = prepare(fleet_hosts)
    first = kill_at(fleet_hosts, "h1", MOVE, "rollback_after_undo", "rollback", env={"DOCKYARD_MIGRATE_FAULT": "switch"})
    assert marker(fleet_hosts).get("served") is False, marker(fleet_hosts)
    state = host_sh("h1", "mountpoint -q /var/lib/docker && echo bound || echo unbound; "
                    "grep -c ' /var/lib/docker ' /etc/fstab || true; "
                    "ls -d /var/lib/docker.dockyard-backup-* >/dev/null 2>&1 && echo aside || echo in-place; "
                    "systemctl is-active docker.service || true").stdout.split()
    # The undo lifted the bind and put the original back; fstab and the drop-in were not restored yet.
    assert state == ["unbound", "1", "in-place", "inactive"], "killed after the unbind: %s" % state
    fleet_hosts.reboot("h1")
    seen = look("h1")
    assert re.match(BOUND, seen[1]) and seen[2] == "web worker", "after the boot Docker serves the bind: %s" % seen
    write_late()
    second = fleet_hosts.module("h1", "dockyard.migrate.data_root", MOVE)
    assert any(a.startswith("Docker ran since") for a in second["actions"]), second["actions"]
    assert any(a.startswith("lifted the bind of /mnt/data/docker over the original") for a in second["actions"]), \
        second["actions"]
    assert any(a.startswith("copied what Docker wrote on the new root back") for a in second["actions"]), \
        second["actions"]
    seen = look("h1")
    assert re.match(BOUND, seen[1]) and seen[2] == "web worker", seen
    assert late() == "after-the-reboot", "the write made after the reboot was lost"
    assert fingerprint_now(fleet_hosts) == fingerprint
    unchanged(fleet_hosts.module("h1", "dockyard.migrate.data_root", MOVE))
    record(reliability_rows, "fault", "the switch fails before Docker starts, its rollback is killed (SIGKILL) "
           "after lifting the bind, the host reboots (the bind line mounts the moved root; Docker runs there and "
           "writes to a volume), run again",
           "killed where claimed (rc %s, marker phase rollback, served false, unbound with the fstab line left); "
           "after the boot Docker served the bind; the rerun saw Docker had run on the new root, copied that back, "
           "rolled back and moved again: the write made after the reboot is served; next run changed=false; %.0f s"
           % (first["rc"], time.time() - t0))


def test_a_switched_host_docker_will_not_start_on_is_rolled_back(fleet_hosts, reliability_rows):
    """Killed after the switch (as the role's async limit would during a slow start), and Docker cannot start on
    the new root: the rerun's start fails, and the rerun rolls the window back instead of leaving Docker down."""
    t0 = time.time()
    fingerprint = prepare(fleet_hosts)
    first = kill_at(fleet_hosts, "h1", MOVE, "after_switch", "switch", "switch")
    state = tuple(int(x) for x in fleet_hosts.sh("h1", "sh", "-c", HOST_STATE).split())
    assert state == (0, 1, 1, 1, 1), "killed after the switch: Docker down, drop-in, fstab line, original aside, " \
                                     "bound; the host shows %s" % (state,)
    host_sh("h1", "printf \"%s\" > %s && systemctl daemon-reload" % (REFUSE_BIND, REFUSE_BIND_PATH))
    try:
        second = fleet_hosts.module("h1", "dockyard.migrate.data_root", MOVE, expect="failed")
        assert second["failed_phase"] == "start" and second["rolled_back"] is True, second
        assert second["msg"].startswith("start failed: ") and \
            "rolled back: Docker serves from /var/lib/docker again" in second["msg"], second["msg"]
        assert not any(a.startswith(("resume the interrupted switch", "Docker was left stopped"))
                       for a in second["actions"]), second["actions"]
        assert any(a.startswith("copied what Docker wrote on the new root back") for a in second["actions"]), \
            second["actions"]
        seen = look("h1")
        assert seen == ["/var/lib/docker", "-", "web worker"], "Docker runs on the original again: %s" % seen
        info = fleet_hosts.module("h1", "dockyard.migrate.data_root_info", {"sizes": False})
        assert info["inventory"]["fingerprint"] == fingerprint
        assert marker(fleet_hosts)["phase"] == "rolled_back"
    finally:
        host_sh("h1", "rm -f %s && systemctl daemon-reload" % REFUSE_BIND_PATH)
    third = fleet_hosts.module("h1", "dockyard.migrate.data_root", MOVE)
    assert third.get("changed") is True and re.match(BOUND, look("h1")[1]), (third, look("h1"))
    assert fingerprint_now(fleet_hosts) == fingerprint
    unchanged(fleet_hosts.module("h1", "dockyard.migrate.data_root", MOVE))
    record(reliability_rows, "fault", "module killed (SIGKILL) after the switch, and Docker cannot start on the new "
           "root (a unit drop-in fails its start while /var/lib/docker is a mount point), run again",
           "killed where claimed (rc %s, marker phase switch); the rerun's start failed and it rolled the window "
           "back: Docker runs on the original, inventory equal, marker rolled_back; with the new root startable "
           "again the next run moved (%s), and the one after changed nothing; %.0f s"
           % (first["rc"], "changed" if third.get("changed") else "unchanged", time.time() - t0))


@pytest.mark.timeout(1800)  # a reset, a reboot and three runs
def test_a_final_copy_docker_ran_past_after_a_reboot_is_taken_again(fleet_hosts, reliability_rows):
    """Killed after the final copy; the boot lifts the masks and Docker runs on the original, and a container
    writes; Docker is stopped again before the rerun (so the journal's "Docker is stopped" looks true).  The
    rerun must not resume the switch with the copy taken before the reboot: it walks the window again."""
    t0 = time.time()
    fingerprint = prepare(fleet_hosts)
    first = kill_at(fleet_hosts, "h1", MOVE, "after_final_copy", "final_copy")
    fleet_hosts.reboot("h1")
    seen = look("h1")
    assert seen == ["/var/lib/docker", "-", "web worker"], "after the boot Docker serves the original: %s" % seen
    write_late()
    host_sh("h1", "systemctl stop docker.socket docker.service && ! systemctl is-active --quiet docker.service")
    # What the rerun reads: docker.service did start in this boot (after the marker's last write).
    started = host_sh("h1", "systemctl show docker.service --property=ExecMainStartTimestampMonotonic --value")
    assert int(started.stdout.strip() or 0) > 0, started.stdout
    second = fleet_hosts.module("h1", "dockyard.migrate.data_root", MOVE)
    assert not any(a.startswith("resume the interrupted switch") for a in second["actions"]), second["actions"]
    assert any(a.startswith("Docker was left stopped by an interrupted run") for a in second["actions"]), \
        second["actions"]
    assert "final_copy" in [p["phase"] for p in second["phases"]], second["phases"]
    seen = look("h1")
    assert re.match(BOUND, seen[1]) and seen[2] == "web worker", seen
    assert late() == "after-the-reboot", "the write made after the reboot was lost"
    assert fingerprint_now(fleet_hosts) == fingerprint
    unchanged(fleet_hosts.module("h1", "dockyard.migrate.data_root", MOVE))
    record(reliability_rows, "fault", "module killed (SIGKILL) after the final copy, host rebooted (Docker ran on the "
           "original and a container wrote to a volume), Docker stopped, run again",
           "killed where claimed (rc %s, marker phase final_copy); the rerun saw Docker had started since its "
           "journal's last write and walked the window again instead of resuming the switch: the write made after "
           "the reboot is served from the moved root; next run changed=false; %.0f s" % (first["rc"], time.time() - t0))


def rollback_playbook(fleet, tmp_path):
    report = str(tmp_path / "rollback.json")
    res = fleet.playbook(ROLLBACK, limit="h1", extra={"docker_root_target": "/mnt/data/docker",
                                                      "migrate_report_file": report})
    with open(report) as f:
        return res, json.load(f)["hosts"][0]


def test_the_rollback_playbook_rolls_back_a_move_killed_in_its_window(fleet_hosts, reliability_rows, tmp_path):
    """A move killed after its final copy leaves Docker stopped and its units masked.  The rollback playbook plans
    in check mode first; that plan must not refuse ("Docker is not running", or a kept original the move never
    made): the real run rolls the window back and Docker serves the original again."""
    t0 = time.time()
    fingerprint = prepare(fleet_hosts)
    first = kill_at(fleet_hosts, "h1", MOVE, "after_final_copy", "final_copy")
    state = tuple(int(x) for x in fleet_hosts.sh("h1", "sh", "-c", HOST_STATE).split())
    assert state == (0, 0, 0, 0, 0), "killed after the final copy, Docker is down and nothing switched: %s" % (state,)
    _res, host = rollback_playbook(fleet_hosts, tmp_path)
    assert host["status"] == "restored", host
    assert look("h1") == ["/var/lib/docker", "-", "web worker"], look("h1")
    assert fingerprint_now(fleet_hosts) == fingerprint
    assert marker(fleet_hosts)["phase"] == "rolled_back"
    again, _host = rollback_playbook(fleet_hosts, tmp_path)
    assert re.search(r"h1\s*:.*changed=0.*failed=0", again.stdout), again.stdout[-2000:]
    record(reliability_rows, "fault", "module killed (SIGKILL) after the final copy (Docker stopped, units masked), "
           "then rollback_docker_root.yml run",
           "killed where claimed (rc %s, marker phase final_copy, Docker down, nothing switched); the playbook's "
           "plan did not refuse, its run rolled the window back: Docker serves the original, inventory equal, marker "
           "rolled_back, report status restored; a second rollback run changed nothing; %.0f s"
           % (first["rc"], time.time() - t0))


def test_the_rollback_playbook_rolls_back_a_move_killed_after_docker_started_on_the_new_root(
        fleet_hosts, reliability_rows, tmp_path):
    """A bind move killed once Docker answered on the new root, where a container then writes: the rollback
    playbook rolls that window back (it refused before, telling the operator to run the move first), copying the
    write back before it lifts the bind: Docker serves the original with the write and its inventory."""
    t0 = time.time()
    fingerprint = prepare(fleet_hosts)
    first = kill_at(fleet_hosts, "h1", MOVE, "after_start", "start")
    seen = look("h1")
    assert re.match(BOUND, seen[1]), "killed after the start, Docker does not serve the bind: %s" % seen
    host_sh("h1", "docker start web >/dev/null")
    write_late()
    _res, host = rollback_playbook(fleet_hosts, tmp_path)
    assert host["status"] == "restored", host
    host_sh("h1", "docker start web >/dev/null")
    assert look("h1")[:2] == ["/var/lib/docker", "-"], look("h1")
    assert late() == "after-the-reboot", "the write made on the new root was lost"
    assert fingerprint_now(fleet_hosts) == fingerprint
    assert marker(fleet_hosts)["phase"] == "rolled_back"
    again, _host = rollback_playbook(fleet_hosts, tmp_path)
    assert re.search(r"h1\s*:.*changed=0.*failed=0", again.stdout), again.stdout[-2000:]
    record(reliability_rows, "fault", "bind move killed (SIGKILL) once Docker answered on the new root, a container "
           "wrote there, then rollback_docker_root.yml run",
           "killed where claimed (rc %s, marker phase start, Docker serving the bind); the playbook rolled the "
           "window back: Docker serves the original with the write, inventory equal, marker rolled_back, report "
           "status restored; a second rollback run changed nothing; %.0f s" % (first["rc"], time.time() - t0))


def test_the_rollback_playbook_finishes_a_restore_killed_in_its_window(fleet_hosts, reliability_rows, tmp_path):
    """state=restored killed right after it stopped Docker: the rollback playbook's plan says it will finish it
    (not "Docker is not running"), and its run does: Docker serves the original."""
    t0 = time.time()
    fingerprint = prepare(fleet_hosts)
    moved = fleet_hosts.module("h1", "dockyard.migrate.data_root", MOVE)
    assert moved.get("changed") is True, moved
    first = kill_at(fleet_hosts, "h1", dict(MOVE, state="restored"), "restore_after_stop", "restore_stop")
    assert fleet_hosts.sh("h1", "sh", "-c", "systemctl is-active docker.service || true").strip() == "inactive"
    _res, host = rollback_playbook(fleet_hosts, tmp_path)
    assert host["status"] == "restored", host
    assert look("h1") == ["/var/lib/docker", "-", "web worker"], look("h1")
    assert fingerprint_now(fleet_hosts) == fingerprint
    record(reliability_rows, "fault", "state=restored killed (SIGKILL) right after it stopped Docker, then "
           "rollback_docker_root.yml run",
           "killed where claimed (rc %s, marker phase restore_stop, Docker down); the playbook's plan said it would "
           "finish the restore, its run did: Docker serves the original, inventory equal, report status restored; "
           "%.0f s" % (first["rc"], time.time() - t0))


def test_a_daemon_json_rewritten_without_data_root_never_starts_docker_on_an_empty_root(fleet_hosts, reliability_rows):
    """After a daemon_json move, a configuration-management run templates daemon.json without data-root and
    restarts Docker.  The moved root's sentinel is still there, so only the drop-in's check of daemon.json stops
    Docker from starting on an empty /var/lib/docker.  A rerun of the move sets data-root again and starts Docker
    on the moved root; the one after changes nothing."""
    t0 = time.time()
    fingerprint = prepare(fleet_hosts)
    args = dict(MOVE, method="daemon_json")
    moved = fleet_hosts.module("h1", "dockyard.migrate.data_root", args)
    assert moved.get("changed") is True and look("h1")[0] == "/mnt/data/docker", look("h1")
    host_sh("h1", "python3 -c \"import json; p='/etc/docker/daemon.json'; d=json.load(open(p)); d.pop('data-root'); "
            "open(p, 'w').write(json.dumps(d))\" && ! grep -q data-root /etc/docker/daemon.json")
    restart = host_sh("h1", "systemctl restart docker.service", check=False)
    state = host_sh("h1", "systemctl is-active docker.service || true; "
                    "journalctl -u docker.service -n 50 --no-pager | grep -c 'does not set data-root to' || true; "
                    "ls /var/lib/docker 2>/dev/null | wc -l").stdout.split()
    assert restart.returncode != 0 and state[0] in ("failed", "inactive", "activating"), (restart.returncode, state)
    assert int(state[1]) >= 1, "the drop-in's check did not say why it refused: %s" % state
    assert state[2] == "0", "Docker created a root at /var/lib/docker: %s" % state
    second = fleet_hosts.module("h1", "dockyard.migrate.data_root", args)
    assert second.get("changed") is True and any("no longer sets data-root to /mnt/data/docker" in a
                                                 for a in second["actions"]), second
    # The restart stopped web and worker (they have no restart policy): Docker back on its root is all a repair
    # does, as after any restart of Docker.
    assert look("h1")[:2] == ["/mnt/data/docker", "-"], look("h1")
    assert fingerprint_now(fleet_hosts) == fingerprint
    unchanged(fleet_hosts.module("h1", "dockyard.migrate.data_root", args))
    record(reliability_rows, "fault", "daemon_json move, then daemon.json rewritten without data-root (as a "
           "templating configuration-management run would) and Docker restarted, then run again",
           "Docker refused to start (the drop-in's check said daemon.json no longer sets data-root; nothing created "
           "at /var/lib/docker); the rerun set data-root again and started Docker on the moved root, inventory "
           "equal; the next run changed nothing; %.0f s" % (time.time() - t0))


TEMPLATE = ("python3 -c \"import json; p='/etc/docker/daemon.json'; d=json.load(open(p)); d.pop('data-root', None); "
            "open(p, 'w').write(json.dumps(d))\" && ! grep -q data-root /etc/docker/daemon.json")


@pytest.mark.timeout(1800)  # a reset, a reboot and three runs
def test_a_move_killed_after_its_start_then_daemon_json_templated_and_a_reboot_keeps_the_new_roots_writes(
        fleet_hosts, reliability_rows):
    """A daemon_json move killed once Docker answered on the new root (before its verification): a container writes
    there.  A configuration-management run then templates daemon.json without data-root and the host reboots: the
    drop-in keeps Docker from starting on the original.  The rerun must not walk the window again from the stop
    (its final copy would put the older original over the new root and delete the write): it sets data-root again
    and finishes the move from its switch."""
    t0 = time.time()
    fingerprint = prepare(fleet_hosts)
    args = dict(MOVE, method="daemon_json")
    first = kill_at(fleet_hosts, "h1", args, "after_start", "start")
    assert look("h1")[0] == "/mnt/data/docker", "killed after the start, Docker does not serve the new root: %s" % (
        look("h1"),)
    host_sh("h1", "docker start web >/dev/null")
    write_late()
    assert late() == "after-the-reboot"
    host_sh("h1", TEMPLATE)
    fleet_hosts.reboot("h1")
    state = host_sh("h1", "systemctl is-active docker.service || true; "
                    "journalctl -u docker.service -n 100 --no-pager | grep -c 'does not set data-root to' || true; "
                    "test -e /var/lib/docker/.dockyard-data-root && echo sentinel || echo none").stdout.split()
    assert state[0] != "active" and int(state[1]) >= 1 and state[2] == "none", \
        "after the boot the drop-in did not keep Docker off the original: %s" % state
    second = fleet_hosts.module("h1", "dockyard.migrate.data_root", args)
    assert not second.get("failed"), second
    host_sh("h1", "docker start web >/dev/null")
    assert look("h1")[:2] == ["/mnt/data/docker", "-"], look("h1")
    assert late() == "after-the-reboot", "the write made on the new root before the reboot was lost"
    assert any("no longer sets data-root to /mnt/data/docker" in a for a in second.get("actions") or []), second
    assert fingerprint_now(fleet_hosts) == fingerprint
    kept = [o for o in second.get("original") or [] if o.get("name") == "docker"]
    assert len(kept) == 1 and kept[0]["backup"], second.get("original")
    unchanged(fleet_hosts.module("h1", "dockyard.migrate.data_root", args))
    record(reliability_rows, "fault", "daemon_json move killed after Docker started on the new root, a container "
           "wrote there, daemon.json templated without data-root, a reboot, then the same run again",
           "killed where claimed (rc %s, marker phase start); after the boot Docker refused the original (the "
           "drop-in's check); the rerun set data-root again and finished from the switch: Docker on the new root, "
           "the write kept, inventory equal, the original kept at %s; the next run changed nothing; %.0f s" % (
               first["rc"], kept[0]["backup"], time.time() - t0))


VOLUMES = "find %s/volumes -type f -printf '%%P %%s %%T@\\n' 2>/dev/null | sort | md5sum | cut -c1-12"


@pytest.mark.timeout(1800)  # a reset, a reboot and three runs
def test_a_move_killed_after_its_start_then_the_drop_in_removed_by_hand_keeps_both_roots(fleet_hosts, reliability_rows):
    """A daemon_json move killed once Docker answered on the new root: a container writes there.  daemon.json is
    then templated without data-root, the drop-in removed by hand and the host rebooted: nothing keeps Docker off
    the original, which it serves again, and a container writes there too.  Each root holds a write the other
    lacks: the rerun must not walk the window again (its copy would erase the new root's write) nor copy either
    root over the other.  It refuses in preflight with both roots as they were and Docker running, and again on
    the next run."""
    t0 = time.time()
    prepare(fleet_hosts)
    args = dict(MOVE, method="daemon_json")
    first = kill_at(fleet_hosts, "h1", args, "after_start", "start")
    assert marker(fleet_hosts).get("served") is True, marker(fleet_hosts)
    assert look("h1")[0] == "/mnt/data/docker", look("h1")
    host_sh("h1", "docker start web >/dev/null")
    write_late()  # on the new root
    host_sh("h1", TEMPLATE + " && rm /etc/systemd/system/docker.service.d/dockyard-data-root.conf && "
            "systemctl daemon-reload")
    fleet_hosts.reboot("h1")
    assert look("h1")[0] == "/var/lib/docker", "after the boot Docker does not serve the original: %s" % look("h1")
    host_sh("h1", "docker start web >/dev/null && docker exec web sh -c 'echo on-the-original > /data/site/fork.txt'")
    where = host_sh("h1", "find /mnt/data/docker/volumes -name late.txt | wc -l; "
                    "find /var/lib/docker/volumes -name fork.txt | wc -l; "
                    "find /var/lib/docker/volumes -name late.txt | wc -l").stdout.split()
    assert where == ["1", "1", "0"], "the two writes are not each on one root: %s" % where
    both = host_sh("h1", "%s; %s" % (VOLUMES % "/mnt/data/docker", VOLUMES % "/var/lib/docker")).stdout.split()
    for _again in range(2):
        res = fleet_hosts.module("h1", "dockyard.migrate.data_root", args, expect="failed")
        msg = res.get("msg") or ""
        assert "both roots are kept" in msg and "/mnt/data/docker" in msg, msg
        assert look("h1")[0] == "/var/lib/docker", look("h1")
        assert host_sh("h1", "systemctl is-active docker.service").stdout.strip() == "active"
        assert host_sh("h1", "%s; %s" % (VOLUMES % "/mnt/data/docker", VOLUMES % "/var/lib/docker")).stdout.split() \
            == both, "a root's volumes changed though both were to be kept"
    record(reliability_rows, "fault", "daemon_json move killed after Docker started on the new root, a container "
           "wrote there, daemon.json templated without data-root and the drop-in removed by hand, a reboot (Docker "
           "back on the original, where a container wrote too), then the same run twice",
           "killed where claimed (rc %s, marker phase start, served true); after the boot Docker served the "
           "original; each rerun refused in preflight (\"%s\"), both roots' volumes unchanged, Docker active on "
           "the original; %.0f s" % (first["rc"], msg[:90] + "…", time.time() - t0))
