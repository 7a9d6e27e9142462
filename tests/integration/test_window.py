# -*- coding: utf-8 -*-
"""The window between Docker's stop and its start on the new root, on real fleet hosts.

Nothing may start Docker inside it, a rollback never leaves Docker down, no write made on the new root is
discarded, a rerun resumes from what was planned, and the original is removed only once the copy is proved
complete.  Each case records a row of the reliability report, like test_reliability.py.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import subprocess
import threading
import time

from conftest import container, unchanged
from test_reliability import MOVE, TARGET, assert_original_unchanged, converged, prepare, record, wait_paused

STATUS = "/run/dockyard-migrate/data_root.status.json"
MARKER = "/mnt/data/.docker.dockyard-migrate.json"


def run_paused(fleet, args, points, env=None, expect="ok"):
    """Start the module in a thread, paused at POINTS; returns (thread, box) with box["r"] its result (a run whose
    outcome is not ``expect`` leaves no result there)."""
    box = {}
    e = dict(env or {}, DOCKYARD_MIGRATE_PAUSE=",".join(points))
    t = threading.Thread(target=lambda: box.update(r=fleet.module("h1", "dockyard.migrate.data_root", args, env=e,
                                                                  expect=expect)))
    t.start()
    return t, box


def release(fleet, point):
    fleet.sh("h1", "rm", "-f", "/run/dockyard-migrate/paused.%s" % point)


def marker(fleet):
    return json.loads(fleet.sh("h1", "cat", MARKER))


def assert_killed(res):
    """The run died of the SIGKILL its failpoint sent (exit status 128 + 9), not of another failure."""
    assert res.outcome == "failed" and res.get("rc") == 137 and "Killed" in res.get("module_stderr", ""), \
        (res.outcome, res)


def unit_states(fleet):
    """is-enabled of Docker's two units: masked-runtime while the window is held."""
    return fleet.sh("h1", "sh", "-c", "systemctl is-enabled docker.service docker.socket; true").split()


def test_nothing_starts_docker_during_the_window(fleet_hosts, reliability_rows, background):
    """A loop starts Docker every half second through the whole move, as an agent or a watchdog would."""
    t0 = time.time()
    fingerprint = prepare(fleet_hosts)
    since = fleet_hosts.sh("h1", "date", "+%s").strip()
    fleet_hosts.sh("h1", "rm", "-f", "/root/starter.log", "/run/stop-starter")
    starter = background(
        ["docker", "exec", container("h1"), "timeout", "300", "sh", "-c",
         "while [ ! -e /run/stop-starter ]; do timeout 20 systemctl start docker >/dev/null 2>&1; rc=$?; "
         "echo \"$(date +%s.%N) $rc $(systemctl is-active docker)\" >> /root/starter.log; sleep 0.5; done"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        t, box = run_paused(fleet_hosts, MOVE, ["after_stop"])
        try:
            wait_paused(fleet_hosts, "after_stop")
            held = unit_states(fleet_hosts)
            time.sleep(3)  # six starts tried with Docker stopped
            inside = fleet_hosts.sh("h1", "sh", "-c", "systemctl is-active docker; pgrep -x dockerd || echo none; "
                                    "tail -n 4 /root/starter.log").splitlines()
        finally:
            release(fleet_hosts, "after_stop")
            t.join(600)
    finally:
        fleet_hosts.sh("h1", "touch", "/run/stop-starter")
        starter.communicate(timeout=60)
    res = box["r"]
    # Inside the window: Docker stayed down although started every half second.
    assert inside[0] == "inactive" and inside[1] == "none", inside
    tries = [line.split() for line in inside[2:]]
    assert len(tries) == 4 and all(rc != "0" and state == "inactive" for _ts, rc, state in tries), tries
    assert held == ["masked-runtime", "masked-runtime"], held
    assert not res.get("failed"), res
    starts = fleet_hosts.sh("h1", "sh", "-c", "journalctl -u docker.service --since @%s -o cat | "
                            "grep -c '^Started' || true" % since).strip()
    # Docker started once after the stop: by the move, on the new root.
    assert starts == "1", starts
    after = unit_states(fleet_hosts)
    assert "masked-runtime" not in after and fleet_hosts.sh("h1", "sh", "-c", "ls /run/systemd/system/docker.* "
                                                            "2>/dev/null; true") == "", after
    summary = converged(fleet_hosts, fingerprint)
    assert marker(fleet_hosts).get("masked") == []
    record(reliability_rows, "fault", "a loop runs `systemctl start docker` every 0.5 s through the whole move",
           "docker.service and docker.socket masked (runtime) from the stop to the switch: every start inside the "
           "window refused, no dockerd ran; Docker started once, on the new root; unmasked after; manifest equal "
           "(%d entries)" % summary["entries_a"])
    print("duration %.1f s" % (time.time() - t0))


def test_a_rerun_unmasks_what_a_killed_run_left_masked(fleet_hosts, reliability_rows):
    t0 = time.time()
    fingerprint = prepare(fleet_hosts)
    first = fleet_hosts.module("h1", "dockyard.migrate.data_root", MOVE,
                               env={"DOCKYARD_MIGRATE_FAILPOINT": "after_final_copy"}, expect="interrupted")
    assert_killed(first)
    killed = marker(fleet_hosts)
    assert killed["phase"] == "final_copy" and killed["masked"] == ["docker.service", "docker.socket"], killed
    assert unit_states(fleet_hosts) == ["masked-runtime", "masked-runtime"]
    second = fleet_hosts.module("h1", "dockyard.migrate.data_root", MOVE)
    assert not second.get("failed"), second
    assert "masked-runtime" not in unit_states(fleet_hosts)
    converged(fleet_hosts, fingerprint)
    record(reliability_rows, "fault", "module killed (SIGKILL) in the window with Docker's units masked, then run "
           "again", "the marker named the masked units (phase final_copy); the rerun unmasked them, finished the "
           "move and converged (manifest and inventory equal)")
    print("duration %.1f s" % (time.time() - t0))


def test_rollback_starts_docker_when_the_target_disk_is_full(fleet_hosts, reliability_rows, background):
    """The target disk fills during the offline pass (Docker stopped, default engines) and stays full: the
    rollback cannot write its marker there, and still starts Docker on the original root."""
    t0 = time.time()
    fingerprint = prepare(fleet_hosts)
    late = "/var/lib/docker/volumes/webdata/_data/late.bin"
    t, box = run_paused(fleet_hosts, MOVE, ["after_online_copy"], expect="failed")
    filler = None
    try:
        wait_paused(fleet_hosts, "after_online_copy")
        # 200 MB written while Docker runs, after the online copy: the offline pass must carry it, into a
        # disk left with 100 MB.  Once the rollback begins, whatever space frees up is taken again.
        fleet_hosts.sh("h1", "sh", "-c", "head -c 200M /dev/urandom > %s && "
                       "fallocate -l $(( $(stat -f -c '%%f*%%S' /mnt/data) - 100*1024*1024 )) /mnt/data/filler"
                       % late)
        filler = background(
            ["docker", "exec", container("h1"), "timeout", "200", "sh", "-c",
             "until grep -q '\"phase\": \"rollback\"' %s 2>/dev/null; do sleep 0.02; done; echo rollback-seen; "
             "i=0; full=0; end=$(( $(date +%%s) + 20 )); while [ $(date +%%s) -lt $end ]; do i=$((i+1)); "
             "free=$(( $(stat -f -c '%%f*%%S' /mnt/data) )); "
             "if [ $free -gt 1048576 ]; then fallocate -l $(( free - 524288 )) /mnt/data/filler.$i 2>/dev/null; fi; "
             "dd if=/dev/zero of=/mnt/data/filler.$i.tail bs=64k 2>/dev/null; "
             "if ! dd if=/dev/zero of=/mnt/data/probe bs=4k count=1 conv=fsync 2>/dev/null; then full=$((full+1)); "
             "fi; rm -f /mnt/data/probe; sleep 0.02; done; "
             "echo full-seen $full" % STATUS], stdout=subprocess.PIPE, universal_newlines=True)
    finally:
        release(fleet_hosts, "after_online_copy")
        t.join(600)
    try:
        filled = filler.communicate(timeout=120)[0].strip()
        res = box["r"]
        on_disk = fleet_hosts.sh("h1", "sh", "-c", "test -e %s && echo present || echo absent" % MARKER).strip()
        seen = fleet_hosts.sh("h1", "sh", "-c", "systemctl is-active docker; docker ps --format '{{.Names}}' | "
                              "sort | xargs; mountpoint -q /var/lib/docker && echo mounted || echo not-mounted; "
                              "systemctl is-enabled docker.service docker.socket; true").splitlines()
    finally:
        fleet_hosts.sh("h1", "sh", "-c", "rm -f /mnt/data/filler /mnt/data/filler.* %s" % late)
    # The filler saw the rollback begin, then found the disk full (not one more 4 KiB block could be written) at
    # least once while the rollback ran.
    lines = filled.splitlines()
    assert lines[:1] == ["rollback-seen"] and lines[-1].startswith("full-seen "), filled
    assert int(lines[-1].split()[1]) > 0, filled
    assert res.get("failed") and res["failed_phase"] == "final_copy" and res["rolled_back"], res
    assert "filled up" in res["msg"], res["msg"]
    # The fault was where it is claimed: the disk was still full when the rollback came to write the marker,
    # which was then removed (left as it was, it would say the window is still open).
    assert any("could not write" in a and "removed it" in a for a in res["actions"]), res["actions"]
    assert on_disk == "absent"
    assert seen[:3] == ["active", "web worker", "not-mounted"], seen
    assert "masked-runtime" not in seen[3:], seen
    info = fleet_hosts.module("h1", "dockyard.migrate.data_root_info", {"sizes": False})
    assert info["inventory"]["fingerprint"] == fingerprint
    assert_original_unchanged()
    record(reliability_rows, "fault", "the target disk fills during the offline pass (Docker stopped, default "
           "engines) and stays full through the rollback",
           "rolled back (phase final_copy): the marker could not be written, Docker started all the same on the "
           "original root, inventory and manifest equal, web and worker running")
    print("duration %.1f s" % (time.time() - t0))


WRITER = ("trap 'exit 0' TERM; b=$(cat /proc/sys/kernel/random/uuid); i=0; "
          "while :; do i=$((i+1)); echo \"$b $i\" >> /data/writes.log; sleep 0.1; done")


def test_a_failed_verification_keeps_what_was_written_on_the_new_root(fleet_hosts, reliability_rows):
    """A container writes to a volume all the time; the verification fails after Docker served from the new
    root; the rollback carries those writes back onto the original before switching back."""
    t0 = time.time()
    prepare(fleet_hosts)
    fleet_hosts.sh("h1", "docker", "run", "-d", "--name", "writer", "--network", "none", "--restart", "always",
                   "-v", "webdata:/data", "seed/base:1", "sh", "-c", WRITER)
    t, box = run_paused(fleet_hosts, MOVE, ["after_start"], env={"DOCKYARD_MIGRATE_FAULT": "verify"},
                        expect="failed")
    try:
        wait_paused(fleet_hosts, "after_start")
        # Docker serves from the new root: a container is made and another removed, as users and agents do.
        fleet_hosts.sh("h1", "sh", "-c", "docker create --name late --network none seed/base:1 >/dev/null && "
                       "docker rm spare >/dev/null")
    finally:
        release(fleet_hosts, "after_start")
        t.join(600)
    res = box["r"]
    assert res.get("failed") and res["failed_phase"] == "verify" and res["rolled_back"], res
    assert any(a.startswith("started Docker") for a in res["actions"]), res["actions"]
    vol = "volumes/webdata/_data/writes.log"
    on_new = fleet_hosts.sh("h1", "cat", "%s/%s" % (TARGET, vol)).splitlines()
    seen = fleet_hosts.sh("h1", "sh", "-c", "docker info --format '{{.DockerRootDir}}'; "
                          "mountpoint -q /var/lib/docker && echo mounted || echo not-mounted; "
                          "docker ps --format '{{.Names}}' | sort | xargs").splitlines()
    on_old = set(fleet_hosts.sh("h1", "cat", "/var/lib/docker/" + vol).splitlines())
    # The writer ran on the new root: lines from a start of the container after the one before the move.
    assert len(set(line.split()[0] for line in on_new)) >= 2, on_new[:3] + on_new[-3:]
    assert on_new[-1] in on_old, "the last write made on the new root (%s) is not on the original" % on_new[-1]
    assert all(line in on_old for line in on_new)
    assert any(a.startswith("copied what Docker wrote on the new root back") for a in res["actions"]), res["actions"]
    # Reported, not a reason to fail: the failure is the one the test made.
    assert "made to fail" in res["msg"], res["msg"]
    assert res.get("containers_changed") == {"new": ["late"], "removed": ["spare"]}, res
    assert seen == ["/var/lib/docker", "not-mounted", "web worker writer"], seen
    names = fleet_hosts.sh("h1", "sh", "-c", "docker ps -a --format '{{.Names}}' | sort | xargs").strip()
    assert names == "batch late web worker writer", names
    record(reliability_rows, "fault", "the verification fails after Docker served from the new root, where a "
           "container writes to a volume every 0.1 s and containers are made and removed",
           "rolled back (phase verify) after copying the new root's changes back: all %d lines written on the new "
           "root, the last included, are on the original, so is the container made there, not the one removed; "
           "those two were reported, not counted as a failed verification" % len(on_new))
    print("duration %.1f s" % (time.time() - t0))


def test_a_marker_from_a_rolled_back_run_is_not_reused(fleet_hosts, reliability_rows):
    """A move rolled back; Docker is then stopped by hand.  A new run must not take the old marker for an
    interrupted window and move a stopped Docker against a stale inventory; started again, it moves."""
    t0 = time.time()
    fingerprint = prepare(fleet_hosts)
    first = fleet_hosts.module("h1", "dockyard.migrate.data_root", MOVE, env={"DOCKYARD_MIGRATE_FAULT": "verify"},
                               expect="failed")
    assert first.get("failed") and first["failed_phase"] == "verify" and first["rolled_back"], first
    old = marker(fleet_hosts)
    assert old["phase"] == "rolled_back" and old["texts_before"]["/etc/fstab"].find(TARGET) < 0, old
    fleet_hosts.sh("h1", "systemctl", "stop", "docker.socket", "docker.service")
    before = fleet_hosts.snapshot("h1")
    second = fleet_hosts.module("h1", "dockyard.migrate.data_root", MOVE, expect="failed")
    after = fleet_hosts.snapshot("h1")
    state = fleet_hosts.sh("h1", "sh", "-c", "systemctl is-active docker; true").strip()
    fleet_hosts.sh("h1", "systemctl", "start", "docker.socket", "docker.service")
    assert second.get("failed") and "Docker is not running" in second["msg"], second
    assert "is not reused" in second["msg"] and second["failed_phase"] == "preflight", second["msg"]
    assert before == after and state == "inactive", (before, after, state)
    third = fleet_hosts.module("h1", "dockyard.migrate.data_root", MOVE)
    assert not third.get("failed"), third
    # systemd was reloaded after the fstab write: its generator made the mount unit from the new line.
    unit = fleet_hosts.sh("h1", "sh", "-c", "systemctl show -p FragmentPath var-lib-docker.mount").strip()
    assert unit == "FragmentPath=/run/systemd/generator/var-lib-docker.mount", unit
    done = marker(fleet_hosts)
    assert done["phase"] == "done" and TARGET not in done["texts_before"]["/etc/fstab"], done
    converged(fleet_hosts, fingerprint)
    record(reliability_rows, "fault", "Docker stopped by hand after a rolled-back move, then run again",
           "refused before any change (the rolled-back run's marker is not reused; Docker left stopped); "
           "started again, the move converged; fstab's original text frozen at the record, systemd reloaded "
           "after the fstab write")
    print("duration %.1f s" % (time.time() - t0))


def test_the_original_is_kept_when_the_copy_is_not_exact(fleet_hosts, reliability_rows):
    """keep_source=false: one byte of the copy is changed after the offline pass (same size, same time, so no
    quick check sees it); the content check refuses to go on and the original stays."""
    t0 = time.time()
    fingerprint = prepare(fleet_hosts)
    page = "volumes/webdata/_data/site/page.txt"
    t, box = run_paused(fleet_hosts, dict(MOVE, keep_source=False), ["after_final_copy"], expect="failed")
    try:
        wait_paused(fleet_hosts, "after_final_copy")
        fleet_hosts.sh("h1", "python3", "-c", "import os, sys; p, ref = sys.argv[1:]; st = os.stat(ref); "
                       "d = bytearray(open(p, 'rb').read()); d[0] ^= 1; open(p, 'wb').write(bytes(d)); "
                       "os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))",
                       "%s/%s" % (TARGET, page), "/var/lib/docker/" + page)
    finally:
        release(fleet_hosts, "after_final_copy")
        t.join(600)
    res = box["r"]
    assert res.get("failed") and res["failed_phase"] == "switch" and res["rolled_back"], res
    assert "is not an exact copy" in res["msg"] and page in res["msg"], res["msg"]
    converged_back = fleet_hosts.sh("h1", "sh", "-c", "docker info --format '{{.DockerRootDir}}'; "
                                    "mountpoint -q /var/lib/docker && echo mounted || echo not-mounted; "
                                    "ls -d /var/lib/docker.dockyard-backup-* 2>/dev/null | wc -l").split()
    assert converged_back == ["/var/lib/docker", "not-mounted", "0"], converged_back
    info = fleet_hosts.module("h1", "dockyard.migrate.data_root_info", {"sizes": False})
    assert info["inventory"]["fingerprint"] == fingerprint
    assert_original_unchanged()
    record(reliability_rows, "fault", "keep_source=false and the copy differs from the original by one byte "
           "(same size and time)", "the content check before the switch found it; rolled back, the original in "
           "place and unchanged (manifest), inventory equal: %s" % res["msg"][:120])
    print("duration %.1f s" % (time.time() - t0))


def test_killed_while_removing_the_original_then_run_again(fleet_hosts, reliability_rows):
    t0 = time.time()
    fingerprint = prepare(fleet_hosts)
    args = dict(MOVE, keep_source=False)
    first = fleet_hosts.module("h1", "dockyard.migrate.data_root", args,
                               env={"DOCKYARD_MIGRATE_FAILPOINT": "during_source"}, expect="interrupted")
    assert_killed(first)
    killed = marker(fleet_hosts)
    left = fleet_hosts.sh("h1", "sh", "-c", "ls /var/lib/docker.dockyard-backup-*/").split()
    # Killed part way through the removal: the copy had been proved, some of the original is gone already.
    assert killed["phase"] == "verify" and killed["copy_checked"] is True, killed
    assert 0 < len(left) < len(fleet_hosts.sh("h1", "ls", TARGET).split()), left
    second = fleet_hosts.module("h1", "dockyard.migrate.data_root", args)
    assert not second.get("failed"), second
    assert [o["removed"] for o in second["original"]] == [True], second["original"]
    assert fleet_hosts.sh("h1", "sh", "-c", "ls -d /var/lib/docker.dockyard-backup-* 2>/dev/null | wc -l").strip() == "0"
    converged(fleet_hosts, fingerprint)
    third = fleet_hosts.module("h1", "dockyard.migrate.data_root", args)
    unchanged(third)
    record(reliability_rows, "fault", "keep_source=false, module killed (SIGKILL) part way through removing the "
           "original, then run again", "the marker said the copy had been proved; the rerun finished the "
           "removal and converged (manifest and inventory equal); third run changed=false")
    print("duration %.1f s" % (time.time() - t0))
