# -*- coding: utf-8 -*-
"""Reliability: interruptions at every phase converge, faults roll back, bad input changes nothing.

Each case adds a row to tests/output/reliability.json; when the whole suite ran, conftest renders
docs/reliability.md from those rows.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import subprocess
import threading

import pytest

from conftest import close_ssh_master, container, unchanged

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MANIFEST = os.path.join(ROOT, "tests", "fleet", "manifest.py")
TARGET = "/mnt/data/docker"
DOCKERD_REWRITES = ["containers/*/config.v2.json", "containers/*/hostconfig.json", "containers/*/hostname",
                    "containers/*/hosts", "containers/*/resolv.conf", "containers/*/resolv.conf.hash",
                    "containers/*/*-json.log", "network/files/local-kv.db", "volumes/metadata.db",
                    "volumes/backingFsBlockDev", "buildkit/*.db"]
MOVE = {"path": TARGET}
MIGRATE = os.path.join(ROOT, "playbooks", "migrate_docker_root.yml")


def finish(proc, timeout=120):
    """The output of a helper started with Popen; killed if it is still running after ``timeout`` s."""
    try:
        return proc.communicate(timeout=timeout)[0].strip()
    except BaseException:
        proc.kill()
        proc.communicate()
        raise


def record(rows, kind, case, result):
    rows.append({"kind": kind, "case": case, "result": result})


def prepare(fleet, host="h1"):
    """A fresh seeded host; its root's manifest (Docker stopped) and its inventory."""
    fleet.reset(host)
    subprocess.run(["docker", "cp", MANIFEST, container(host) + ":/root/manifest.py"], check=True, timeout=60)
    fleet.sh(host, "sh", "-c", "systemctl stop docker.socket docker.service && "
             "python3 /root/manifest.py --save /root/m0.json /var/lib/docker && "
             "systemctl start docker.socket docker.service")
    info = fleet.module(host, "dockyard.migrate.data_root_info", {"sizes": False})
    assert info["inventory"]["running"] == ["web", "worker"]
    return info["inventory"]["fingerprint"]


def converged(fleet, fingerprint, host="h1"):
    """Docker serves from exactly one root, bound from the target, with the original tree and inventory."""
    seen = fleet.sh(host, "sh", "-c", "docker info --format '{{.DockerRootDir}}'; "
                    "findmnt --noheadings --list --output SOURCE /var/lib/docker; "
                    "docker ps --format '{{.Names}}' | sort | xargs").splitlines()
    assert seen[0] == "/var/lib/docker", seen
    assert len(seen) == 3 and re.match(r"/dev/loop\d+\[/docker\]$", seen[1]), "one bind mount expected: %s" % seen
    assert seen[2] == "web worker", seen
    info = fleet.module(host, "dockyard.migrate.data_root_info", {"sizes": False})
    assert info["inventory"]["fingerprint"] == fingerprint
    assert info["config"]["method"] == "bind" and info["config"]["bind"]["source"] == TARGET
    res = subprocess.run(["docker", "exec", container(host), "sh", "-c",
                          "systemctl stop docker.socket docker.service && python3 /root/manifest.py --against "
                          "/root/m0.json /var/lib/docker --no-dir-mtime %s; rc=$?; "
                          "systemctl reset-failed docker.service docker.socket; "
                          "systemctl start docker.socket docker.service; exit $rc"
                          % " ".join("--ignore='%s'" % g for g in DOCKERD_REWRITES)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False,
                         timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    summary = json.loads(res.stdout)
    assert summary["hard_linked"] > 0 and summary["sparse"] > 0 and summary["with_xattrs"] > 0
    return summary


FAILPOINTS = ["after_record", "during_online_copy", "after_online_copy", "after_stop", "after_final_copy",
              "switch_after_dropin", "switch_after_fstab", "switch_after_move_aside", "after_switch",
              "after_start", "after_verify", "during_source"]
# Where a kill at each point leaves the marker (its phase, the last phase done) and the host: Docker active,
# the drop-in written, the fstab line written, the original moved aside, /var/lib/docker mounted.
KILLED_AT = {
    "after_record": ("record", "record", (1, 0, 0, 0, 0)),
    "during_online_copy": ("online_copy", "record", (1, 0, 0, 0, 0)),
    "after_online_copy": ("online_copy", "online_copy", (1, 0, 0, 0, 0)),
    "after_stop": ("stop", "stop", (0, 0, 0, 0, 0)),
    "after_final_copy": ("final_copy", "final_copy", (0, 0, 0, 0, 0)),
    "switch_after_dropin": ("switch", "final_copy", (0, 1, 0, 0, 0)),
    "switch_after_fstab": ("switch", "final_copy", (0, 1, 1, 0, 0)),
    "switch_after_move_aside": ("switch", "final_copy", (0, 1, 1, 1, 0)),
    "after_switch": ("switch", "switch", (0, 1, 1, 1, 1)),
    "after_start": ("start", "start", (1, 1, 1, 1, 1)),
    "after_verify": ("verify", "verify", (1, 1, 1, 1, 1)),
    "during_source": ("verify", "verify", (1, 1, 1, 1, 1)),
}
HOST_STATE = ("systemctl is-active --quiet docker.service && echo 1 || echo 0; "
              "test -e /etc/systemd/system/docker.service.d/dockyard-data-root.conf && echo 1 || echo 0; "
              "grep -q ' /var/lib/docker ' /etc/fstab && echo 1 || echo 0; "
              "ls -d /var/lib/docker.dockyard-backup-* >/dev/null 2>&1 && echo 1 || echo 0; "
              "mountpoint -q /var/lib/docker && echo 1 || echo 0")
STATUS = "/run/dockyard-migrate/data_root.status.json"
# after_verify and during_source leave the same marker and host; the status file tells them apart: the module
# writes the phase it enters there (verify, then source).
STATUS_AT = {"after_verify": "verify", "during_source": "source"}


def assert_killed(res, where):
    """The module's process died of SIGKILL (the shell that ran it reports 128+9), not of an error it raised."""
    assert res.outcome == "failed", "the run at %s was not interrupted: %s %s" % (where, res.outcome, res)
    assert res.get("rc") in (137, -9) and "Killed" in res.get("module_stderr", ""), (
        "the run at %s did not die of SIGKILL: %s" % (where, res))


def marker(fleet, host="h1", target=TARGET):
    return json.loads(fleet.sh(host, "cat", os.path.join(os.path.dirname(target),
                                                         ".%s.dockyard-migrate.json" % os.path.basename(target))))


@pytest.mark.parametrize("point", FAILPOINTS)
def test_killed_at_each_point_converges(fleet_hosts, reliability_rows, point):
    fingerprint = prepare(fleet_hosts)
    first = fleet_hosts.module("h1", "dockyard.migrate.data_root", MOVE,
                               env={"DOCKYARD_MIGRATE_FAILPOINT": point}, expect="interrupted")
    assert_killed(first, point)
    phase, last_done, state = KILLED_AT[point]
    m = marker(fleet_hosts)
    assert (m["phase"], m["phases_done"][-1]) == (phase, last_done), (point, m["phase"], m["phases_done"])
    seen = tuple(int(x) for x in fleet_hosts.sh("h1", "sh", "-c", HOST_STATE).split())
    assert seen == state, "killed at %s, the host shows %s, expected %s (docker active, drop-in, fstab line, " \
                          "original aside, mounted)" % (point, seen, state)
    if point in STATUS_AT:
        status = json.loads(fleet_hosts.sh("h1", "cat", STATUS))
        assert status["phase"] == STATUS_AT[point], "killed at %s, the status file says phase %s, expected %s" % (
            point, status["phase"], STATUS_AT[point])
    second = fleet_hosts.module("h1", "dockyard.migrate.data_root", MOVE)
    assert not second.get("failed"), second
    summary = converged(fleet_hosts, fingerprint)
    third = fleet_hosts.module("h1", "dockyard.migrate.data_root", MOVE)
    unchanged(third)
    record(reliability_rows, "fault", "module killed (SIGKILL) at %s, then run again" % point,
           "died there (rc %s; marker phase %s after %s; Docker %s); the rerun converged: one root, manifest equal "
           "(%d entries), inventory equal, web and worker running; third run changed=false" % (
               first["rc"], phase, last_done, "running" if state[0] else "stopped", summary["entries_a"]))


def test_the_playbook_finishes_a_move_killed_after_the_switch(fleet_hosts, reliability_rows, tmp_path):
    """Killed after the switch, the host already has the fstab line and the bind (what the role's preflight calls
    done) while its marker is in the window and Docker is stopped: the playbook's rerun runs the module, which
    finishes the move, instead of failing the host as "already moved"."""
    fingerprint = prepare(fleet_hosts)
    first = fleet_hosts.module("h1", "dockyard.migrate.data_root", MOVE,
                               env={"DOCKYARD_MIGRATE_FAILPOINT": "after_switch"}, expect="interrupted")
    assert_killed(first, "after_switch")
    m = marker(fleet_hosts)
    assert (m["phase"], m["phases_done"][-1]) == ("switch", "switch"), (m["phase"], m["phases_done"])
    assert tuple(int(x) for x in fleet_hosts.sh("h1", "sh", "-c", HOST_STATE).split()) == (0, 1, 1, 1, 1)
    report = str(tmp_path / "report.json")
    # A prune asked for is not made over a move under way (Docker stopped by the killed run): the module finishes
    # the move first, and every image its journal recorded must still be there.
    extra = {"docker_root_target": TARGET, "migrate_report_file": report, "docker_root_prune": "dangling"}
    fleet_hosts.playbook(MIGRATE, limit="h1", extra=extra)
    with open(report) as f:
        host = json.load(f)["hosts"][0]
    assert (host["status"], host["verified"]) == ("moved", True), host
    assert (host["pruned"], host["pruned_bytes"]) == ([], None), host
    summary = converged(fleet_hosts, fingerprint)
    res = fleet_hosts.playbook(MIGRATE, limit="h1", extra=extra)
    assert "Nothing changed: every host already runs Docker from %s" % TARGET in res.stdout, res.stdout[-2000:]
    record(reliability_rows, "fault", "module killed (SIGKILL) after the switch, then migrate_docker_root.yml run",
           "died there (rc %s; marker phase switch; Docker stopped, bind mounted); the playbook ran the module, "
           "which finished the move (status moved, verified); one root, manifest equal (%d entries), inventory "
           "equal; the next run changed nothing" % (first["rc"], summary["entries_a"]))


@pytest.mark.parametrize("point", ["after_stop", "switch_after_move_aside"])
def test_host_rebooted_after_a_kill_converges(fleet_hosts, reliability_rows, point):
    fingerprint = prepare(fleet_hosts)
    first = fleet_hosts.module("h1", "dockyard.migrate.data_root", MOVE,
                               env={"DOCKYARD_MIGRATE_FAILPOINT": point}, expect="interrupted")
    assert_killed(first, point)
    m = marker(fleet_hosts)
    assert (m["phase"], m["phases_done"][-1]) == KILLED_AT[point][:2], (point, m["phase"], m["phases_done"])
    subprocess.run(["docker", "restart", container("h1")], check=True, stdout=subprocess.PIPE, timeout=180)
    fleet_hosts.up_extra("--hosts", "2")  # waits until h1 boots and answers again
    booted = fleet_hosts.sh("h1", "sh", "-c", "systemctl is-active docker; findmnt --noheadings /var/lib/docker "
                            "--output SOURCE || echo not-mounted").split()
    # The reboot lifted the runtime masks.  Killed before the switch, Docker boots on the original; killed after
    # the fstab line was written and the original set aside, the boot mounts the bind and Docker serves the copy
    # (the sentinel the switch wrote is there).
    assert booted[0] == "active", booted
    if point == "after_stop":
        assert booted[1] == "not-mounted", booted
    else:
        assert re.match(r"/dev/loop\d+\[/docker\]$", booted[1]), booted
    second = fleet_hosts.module("h1", "dockyard.migrate.data_root", MOVE)
    assert not second.get("failed"), second
    converged(fleet_hosts, fingerprint)
    record(reliability_rows, "fault", "module killed at %s, host rebooted, run again" % point,
           "after boot Docker was %s on %s; the rerun converged (manifest and inventory equal)"
           % (booted[0], "the bind mount" if booted[1] != "not-mounted" else "the original root"))


def test_ssh_connection_dropped_during_the_stop(fleet_hosts, reliability_rows):
    """The controller's connection is cut once the host's status file says the stop has begun: the controller's run
    is interrupted (the host unreachable, no result), while the module on the host, which no signal reached, carries
    the move through; a rerun after the network is back finds it done and changes nothing."""
    fingerprint = prepare(fleet_hosts)
    killer = subprocess.Popen(["docker", "exec", container("h1"), "timeout", "120", "sh", "-c",
                               "for i in $(seq 1 600); do if grep -q '\"phase\": \"stop\"' "
                               "/run/dockyard-migrate/data_root.status.json 2>/dev/null; then "
                               "pkill -HUP -f 'sshd: root@nott[y]' && echo dropped; pkill -f 'sshd: root@nott[y]'; "
                               "exit 0; fi; sleep 0.05; done; echo never-saw-the-stop"],
                              stdout=subprocess.PIPE, universal_newlines=True)
    first = fleet_hosts.module("h1", "dockyard.migrate.data_root", MOVE, expect="interrupted")
    dropped = finish(killer)
    assert dropped == "dropped"  # the connection was cut once the status file said the stop had begun
    # The interruption the controller saw: no result came back, the host was unreachable.
    assert first.outcome == "unreachable" and "rc" not in first, (first.outcome, first)
    # On the host the module went on; it ends with the move done (not rolled back).
    status = fleet_hosts.sh("h1", "sh", "-c", "for i in $(seq 1 1200); do p=$(python3 -c 'import json; "
                            "print(json.load(open(\"/run/dockyard-migrate/data_root.status.json\"))[\"phase\"])'); "
                            "case $p in done|rolled_back|failed) echo $p; exit 0;; esac; sleep 0.25; done; echo $p",
                            timeout=360).strip()
    m = marker(fleet_hosts)
    assert status == "done" and m["phase"] == "done", (status, m["phase"], m["phases_done"])
    assert "stop" in m["phases_done"] and "verify" in m["phases_done"], m["phases_done"]
    # The controller's multiplexed SSH connection to h1 died with the session: let the next run connect afresh,
    # as an operator's rerun after a network cut does (other hosts' connections are left alone).
    close_ssh_master("h1")
    second = fleet_hosts.module("h1", "dockyard.migrate.data_root", MOVE)
    unchanged(second)
    converged(fleet_hosts, fingerprint)
    record(reliability_rows, "fault", "SSH connection dropped while Docker was being stopped, then run again",
           "the controller's run was cut off (host unreachable, no result) once the status file said the stop had "
           "begun; the module on the host carried the move through (marker phase done); the rerun changed nothing "
           "and the host converged (manifest and inventory equal)")


def test_docker_cannot_start_at_the_new_root(fleet_hosts, reliability_rows):
    fingerprint = prepare(fleet_hosts)
    fleet_hosts.sh("h1", "sh", "-c", "mkdir -p /etc/systemd/system/docker.service.d && printf '[Service]\\n"
                   "ExecStartPre=/bin/sh -c \"! mountpoint -q /var/lib/docker\"\\n' > "
                   "/etc/systemd/system/docker.service.d/zz-fault.conf && systemctl daemon-reload")
    fstab = fleet_hosts.sh("h1", "cat", "/etc/fstab")
    res = fleet_hosts.module("h1", "dockyard.migrate.data_root", MOVE, expect="failed")
    assert res.get("failed") and res["failed_phase"] == "start" and res["rolled_back"], res
    seen = fleet_hosts.sh("h1", "sh", "-c", "docker info --format '{{.DockerRootDir}}'; "
                          "mountpoint -q /var/lib/docker && echo mounted || echo not-mounted; "
                          "docker ps --format '{{.Names}}' | sort | xargs").splitlines()
    assert seen == ["/var/lib/docker", "not-mounted", "web worker"]
    assert fleet_hosts.sh("h1", "cat", "/etc/fstab") == fstab
    info = fleet_hosts.module("h1", "dockyard.migrate.data_root_info", {"sizes": False})
    assert info["inventory"]["fingerprint"] == fingerprint
    fleet_hosts.sh("h1", "sh", "-c", "rm /etc/systemd/system/docker.service.d/zz-fault.conf; systemctl daemon-reload")
    record(reliability_rows, "fault", "Docker cannot start at the new root",
           "rolled back in the same run (phase start): old root serving, fstab unchanged, inventory equal, "
           "web and worker running; message: %s" % reliability_rows.clip(res["msg"], 120))


def test_target_fills_up_during_the_copy(fleet_hosts, reliability_rows):
    prepare(fleet_hosts)
    # Leave room for the preflight, then eat it while the (slowed) online copy runs.
    filler = subprocess.Popen(["docker", "exec", container("h1"), "timeout", "120", "sh", "-c",
                               "for i in $(seq 1 400); do grep -q '\"phase\": \"online_copy\"' "
                               "/run/dockyard-migrate/data_root.status.json 2>/dev/null && break; "
                               "test $i -lt 400 || { echo never-saw-the-copy; exit 1; }; sleep 0.05; done; "
                               "fallocate -l $(( $(stat -f -c '%f*%S' /mnt/data) - 64*1024*1024 )) /mnt/data/filler "
                               "|| exit 1; dd if=/dev/zero of=/mnt/data/filler2 bs=1M 2>/dev/null; "
                               "echo filled"], stdout=subprocess.PIPE, universal_newlines=True)
    # rsync for every pass, so that --bwlimit slows the first copy enough to fill the disk under it.
    res = fleet_hosts.module("h1", "dockyard.migrate.data_root", dict(MOVE, margin="0", copy_engine="rsync",
                                                                      rsync_opts=["--bwlimit=3000"]), expect="failed")
    filled = finish(filler)
    try:
        assert filled == "filled", "the filler did not fill the disk during the copy: %r" % filled
        assert res.get("failed") and res["failed_phase"] == "online_copy", res
        assert "/mnt/data" in res["msg"] and "filled up" in res["msg"] and "short by" in res["msg"], res["msg"]
        seen = fleet_hosts.sh("h1", "sh", "-c", "systemctl is-active docker; docker ps --format '{{.Names}}' | "
                              "sort | xargs; mountpoint -q /var/lib/docker && echo mounted || echo not-mounted")
        assert seen.split("\n")[:3] == ["active", "web worker", "not-mounted"]
        assert_original_unchanged(timeout=600)
    finally:
        fleet_hosts.sh("h1", "rm", "-f", "/mnt/data/filler", "/mnt/data/filler2")
    record(reliability_rows, "fault", "the target disk fills up during the online copy",
           "failed before any stop, Docker never stopped, source tree unchanged; message: %s"
           % reliability_rows.clip(res["msg"], 160))


def test_two_runs_at_once(fleet_hosts, reliability_rows):
    fingerprint = prepare(fleet_hosts)
    box = {}
    t = threading.Thread(target=lambda: box.update(r=fleet_hosts.module(
        "h1", "dockyard.migrate.data_root", dict(MOVE, copy_engine="rsync", rsync_opts=["--bwlimit=2000"]))))
    t.start()
    fleet_hosts.sh("h1", "sh", "-c", "for i in $(seq 1 400); do grep -q '\"phase\": \"online_copy\"' "
                   "/run/dockyard-migrate/data_root.status.json 2>/dev/null && exit 0; sleep 0.05; done; exit 1",
                   timeout=60)
    second = fleet_hosts.module("h1", "dockyard.migrate.data_root", MOVE, expect="failed")
    t.join(600)
    assert second.get("failed") and "another data-root move is running on this host" in second["msg"], second
    assert not box["r"].get("failed"), box["r"]
    converged(fleet_hosts, fingerprint)
    record(reliability_rows, "fault", "two runs against one host at once",
           "the second was refused (%s); the first completed and verified"
           % reliability_rows.clip(second["msg"], 90))


def assert_original_unchanged(timeout=300):
    """/var/lib/docker on h1 equals the manifest taken before the move (Docker stopped for the look)."""
    res = subprocess.run(["docker", "exec", container("h1"), "sh", "-c",
                          "systemctl stop docker.socket docker.service && python3 /root/manifest.py --against "
                          "/root/m0.json /var/lib/docker --no-dir-mtime %s; rc=$?; systemctl start docker; exit $rc"
                          % " ".join("--ignore='%s'" % g for g in DOCKERD_REWRITES)],
                         stdout=subprocess.PIPE, universal_newlines=True, check=False, timeout=timeout)
    assert res.returncode == 0, res.stdout


def wait_paused(fleet, point, host="h1"):
    fleet.sh(host, "sh", "-c", "for i in $(seq 1 1200); do test -e /run/dockyard-migrate/paused.%s && exit 0; "
             "sleep 0.1; done; exit 1" % point)


def test_changes_between_the_phases_arrive_through_the_mutable_final_pass(fleet_hosts, reliability_rows):
    """Images, containers and volumes change between the online copy and the stop; the offline pass walks
    only what can change, and the target is then proved identical to the source, entry by entry."""
    prepare(fleet_hosts)
    fleet_hosts.sh("h1", "sh", "-c", "docker run --name mk1 --network none seed/base:1 sh -c 'echo gone > /gone' && "
                   "docker commit mk1 seed/gone:1 >/dev/null && docker rm mk1 >/dev/null")
    box = {}
    t = threading.Thread(target=lambda: box.update(r=fleet_hosts.module(
        "h1", "dockyard.migrate.data_root", MOVE,
        env={"DOCKYARD_MIGRATE_PAUSE": "after_online_copy,after_final_copy"})))
    t.start()
    try:
        wait_paused(fleet_hosts, "after_online_copy")
        fleet_hosts.sh("h1", "sh", "-c", " && ".join([
            "docker exec web sh -c 'echo between > /tmp/between; echo more >> /data/site/page.txt'",
            "docker run --name mk2 --network none seed/base:1 sh -c 'echo new > /new'",
            "docker commit mk2 seed/new:1 >/dev/null", "docker rm mk2 >/dev/null",
            "docker rmi seed/gone:1 >/dev/null", "docker rm batch >/dev/null",
            "docker create --name late --network none seed/new:1 >/dev/null"]))
        fleet_hosts.sh("h1", "rm", "/run/dockyard-migrate/paused.after_online_copy")
        wait_paused(fleet_hosts, "after_final_copy")
        proof = subprocess.run(["docker", "exec", container("h1"), "python3", "/root/manifest.py", "--compare",
                                "/var/lib/docker", TARGET], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               universal_newlines=True, check=False, timeout=600)
    finally:
        fleet_hosts.sh("h1", "rm", "-f", "/run/dockyard-migrate/paused.after_online_copy",
                       "/run/dockyard-migrate/paused.after_final_copy")
        t.join(600)
    assert proof.returncode == 0, proof.stdout[-3000:] + proof.stderr[-2000:]
    res = box["r"]
    assert not res.get("failed"), res
    final = [p for p in res["passes"] if p["phase"] == "final_copy"]
    assert len(final) == 1 and final[0]["walk"] == "mutable" and final[0]["skipped_dirs"] >= 4, final
    assert any("recorded the inventory again before the stop" in a for a in res["actions"]), res["actions"]
    seen = fleet_hosts.sh("h1", "sh", "-c", "docker images --format '{{.Repository}}:{{.Tag}}' | sort | xargs; "
                          "docker ps -a --format '{{.Names}}' | sort | xargs; docker exec web cat /tmp/between; "
                          "docker exec web cat /data/site/page.txt").splitlines()
    assert seen[0] == "seed/app:1 seed/app:2 seed/base:1 seed/new:1 seed/tool:1", seen
    assert seen[1:3] == ["late spare web worker", "between"] and seen[-1] == "more", seen
    summary = json.loads(proof.stdout)
    record(reliability_rows, "fault", "images, containers and volumes change between the online copy and the stop",
           "offline pass skipped %d settled layers and moved %d bytes; target proved identical to the source "
           "(%d entries); new image, removed image, new container and writes all arrived" % (
               final[0]["skipped_dirs"], final[0].get("bytes_transferred", 0), summary["entries_a"]))


ARCHIVE_FAULTS = [
    ("truncated", "data = open(p, 'rb').read(); open(p, 'wb').write(data[:len(data) // 2])",
     "truncated or was changed"),
    ("one byte flipped", "d = bytearray(open(p, 'rb').read()); d[len(d) // 3] ^= 1; open(p, 'wb').write(bytes(d))",
     "does not match its sidecar"),
    ("wrong compression", "import json; s = json.load(open(p + '.json')); s['compression'] = 'gzip'; "
     "json.dump(s, open(p + '.json', 'w'))", "but its sidecar says gzip"),
    ("sidecar of another archive", "import json; s = json.load(open(p + '.json')); s['sha256'] = '0' * 64; "
     "json.dump(s, open(p + '.json', 'w'))", "does not match its sidecar"),
    ("sidecar that is not JSON", "open(p + '.json', 'w').write('{not json')", "is not valid JSON"),
]


@pytest.mark.parametrize("case,damage,message", ARCHIVE_FAULTS, ids=[c[0] for c in ARCHIVE_FAULTS])
def test_damaged_archives_are_refused(fleet_hosts, reliability_rows, case, damage, message):
    subprocess.run(["python3", os.path.join(ROOT, "tests", "fleet", "fleet.py"), "seed", "h2"], check=True,
                   stdout=subprocess.PIPE, timeout=900)
    fleet_hosts.sh("h2", "sh", "-c", "docker rmi -f af/img:1 >/dev/null 2>&1; docker tag seed/tool:1 af/img:1")
    saved = fleet_hosts.module("h2", "dockyard.migrate.image_save",
                               {"images": ["af/img:1"], "dest": "/mnt/data/af.tar.zst", "compression": "zstd",
                                "force": True})
    assert not saved.get("failed"), saved
    fleet_hosts.sh("h2", "sh", "-c", "docker rmi af/img:1 >/dev/null && python3 -c \"p = '/mnt/data/af.tar.zst'; %s\""
                   % damage.replace('"', '\\"'))
    res = fleet_hosts.module("h2", "dockyard.migrate.image_load", {"src": "/mnt/data/af.tar.zst"}, expect="failed")
    present = fleet_hosts.sh("h2", "sh", "-c", "docker image inspect af/img:1 >/dev/null 2>&1 && echo yes || echo no")
    fleet_hosts.sh("h2", "rm", "-f", "/mnt/data/af.tar.zst", "/mnt/data/af.tar.zst.json")
    assert res.get("failed") and message in res["msg"], res
    assert present.strip() == "no"
    reliability_rows.append({"kind": "fault", "case": "image archive: %s" % case,
                             "result": "refused before loading, nothing loaded: %s"
                                       % reliability_rows.clip(res["msg"], 120)})


def test_backups_are_no_more_readable_than_their_originals(fleet_hosts, reliability_rows):
    prepare(fleet_hosts)
    fleet_hosts.sh("h1", "chmod", "0600", "/etc/fstab")
    res = fleet_hosts.module("h1", "dockyard.migrate.data_root", MOVE)
    assert not res.get("failed"), res
    modes = fleet_hosts.sh("h1", "sh", "-c", "stat -c '%a %U' /etc/fstab /etc/fstab.dockyard-*; "
                           "stat -c '%a' /mnt/data/.docker.dockyard-migrate.json").split("\n")
    assert modes[0] == "600 root" and modes[1] == "600 root", modes
    assert modes[2] == "600", modes
    reliability_rows.append({"kind": "security", "case": "backups and the marker file",
                             "result": "an fstab of mode 600 keeps 600 after the atomic rewrite, its backup is 600 "
                                       "too, the marker (it records the inventory) is 600"})
