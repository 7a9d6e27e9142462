# -*- coding: utf-8 -*-
"""Faults that prove what they claim: kills from outside during a copy that really is partial, kills with
the daemon_json and containerd methods, kills inside the automatic rollback and inside ``state: restored``,
and a boot with the data disk missing.

Every kill is checked where it happened (the module died of SIGKILL, and the marker beside the target
records the phase it reached), and every case ends with a rerun that converges, proven by a manifest of the
whole tree taken before (tests/fleet/manifest.py) and the inventory.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import random
import re
import subprocess
import threading
import time

from conftest import container, host_disk, unchanged
from test_reliability import DOCKERD_REWRITES, MANIFEST, assert_killed, record

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLEET_PY = os.path.join(ROOT, "tests", "fleet", "fleet.py")
TARGET = "/mnt/data/docker"
MARKER = "/mnt/data/.docker.dockyard-migrate.json"
STATUS = "/run/dockyard-migrate/data_root.status.json"
SENTINEL = ".dockyard-data-root"
CONTAINERD_REWRITES = ["io.containerd.metadata.v1.bolt/meta.db", "io.containerd.snapshotter.v1.overlayfs/metadata.db"]
MOVE = {"path": TARGET}
RESTORE = {"path": TARGET, "state": "restored"}
FAULT_DROPIN = "/etc/systemd/system/docker.service.d/zz-fault.conf"


def host_sh(host, script, timeout=600, check=True):
    # Bounded inside the host too: killing the docker client would leave the command running there.
    res = subprocess.run(["docker", "exec", container(host), "timeout", "-k", "10", str(timeout), "sh", "-c",
                          script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                         timeout=timeout + 30, check=False)
    if check and res.returncode != 0:
        raise AssertionError("%s on %s failed (rc=%d): %s %s" % (
            script[:200], host, res.returncode, res.stdout[-2000:], res.stderr[-2000:]))
    return res


def units(containerd):
    return "docker.socket docker.service" + (" containerd.service" if containerd else "")


def still(host, script, containerd=False, timeout=900):
    """Run SCRIPT on HOST with Docker (and containerd) stopped, then start them again; returns the result."""
    return host_sh(host, "systemctl stop %s && { %s; }; rc=$?; systemctl reset-failed docker.service "
                   "docker.socket; systemctl start %s; exit $rc" % (
                       units(containerd), script, " ".join(reversed(units(containerd).split()))),
                   timeout=timeout, check=False)


def save_manifests(host, trees, name="m0", containerd=False):
    """Manifests of TREES (Docker stopped), kept on the host as /root/NAME-I.json."""
    subprocess.run(["docker", "cp", MANIFEST, container(host) + ":/root/manifest.py"], check=True, timeout=60)
    res = still(host, " && ".join("python3 /root/manifest.py --save /root/%s-%d.json %s" % (name, i, t)
                                  for i, t in enumerate(trees)), containerd)
    assert res.returncode == 0, res.stdout + res.stderr


def against(host, trees, name="m0", containerd=False):
    """Each tree now against its saved manifest, ignoring only what dockerd and containerd rewrite at start;
    returns the summaries."""
    ignores = " ".join("--ignore='%s'" % g for g in DOCKERD_REWRITES + CONTAINERD_REWRITES)
    script = "; ".join("python3 /root/manifest.py --against /root/%s-%d.json %s --no-dir-mtime %s || exit 1" % (
        name, i, t, ignores) for i, t in enumerate(trees))
    res = still(host, script, containerd)
    assert res.returncode == 0, "the tree differs from its manifest: " + res.stdout[-4000:] + res.stderr[-2000:]
    summaries = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    assert len(summaries) == len(trees)
    return summaries


def prepare(fleet, host="h1", containerd=False):
    """A fresh seeded host with the manifests of its roots and its inventory's fingerprint."""
    fleet.reset(host)
    trees = ["/var/lib/docker"] + (["/var/lib/containerd"] if containerd else [])
    save_manifests(host, trees, containerd=containerd)
    info = fleet.module(host, "dockyard.migrate.data_root_info", {"sizes": False})
    assert info["inventory"]["running"] == ["web", "worker"], info["inventory"]
    return info["inventory"]["fingerprint"]


def marker(host):
    return json.loads(host_sh(host, "cat " + MARKER).stdout)


def assert_phase(host, phase, last_done):
    m = marker(host)
    assert m["phase"] == phase and (m["phases_done"] or [None])[-1] == last_done, (
        "the marker says phase %s, done %s; expected %s after %s" % (m["phase"], m["phases_done"], phase, last_done))
    return m


def kill_at(fleet, host, args, point, phase, last_done=None, env=None):
    """Run the module with a failpoint (and ENV); it must die there, with the marker at PHASE (after LAST_DONE
    when given).  Returns the run's result."""
    res = fleet.module(host, "dockyard.migrate.data_root", args, env=dict(env or {}, DOCKYARD_MIGRATE_FAILPOINT=point),
                       expect="interrupted")
    assert_killed(res, point)
    if last_done is not None:
        assert_phase(host, phase, last_done)
    else:
        assert marker(host)["phase"] == phase, "killed at %s, the marker says phase %s, expected %s" % (
            point, marker(host)["phase"], phase)
    return res


def look(host):
    """What Docker serves from: [root dir, source of the mount on /var/lib/docker or '-', running names]."""
    out = host_sh(host, "docker info --format '{{.DockerRootDir}}'; "
                  "findmnt --noheadings --list --output SOURCE /var/lib/docker | xargs | sed 's/^$/-/'; "
                  "docker ps --format '{{.Names}}' | sort | xargs").stdout.splitlines()
    return out


def converged(fleet, host, fingerprint, method="bind", containerd=False, manifest_name="m0", running="web worker"):
    """Docker serves from the target (a bind mount or daemon.json's data-root) with the tree and inventory
    it had before; a further run changes nothing."""
    seen = look(host)
    if method == "bind":
        assert seen[0] == "/var/lib/docker" and re.match(r"/dev/loop\d+\[/docker\]$", seen[1]), seen
    else:
        assert seen[0] == TARGET and seen[1] == "-", seen
    assert seen[2] == running, seen
    info = fleet.module(host, "dockyard.migrate.data_root_info", {"sizes": False})
    assert info["inventory"]["fingerprint"] == fingerprint
    assert info["config"]["method"] == method, info["config"]
    trees = [TARGET if method == "daemon_json" else "/var/lib/docker"]
    if containerd:
        mnt = host_sh(host, "findmnt --noheadings --output SOURCE /var/lib/containerd").stdout.strip()
        assert re.match(r"/dev/loop\d+\[/containerd\]$", mnt), mnt
        trees.append("/var/lib/containerd")
    summaries = against(host, trees, manifest_name, containerd)
    again = fleet.module(host, "dockyard.migrate.data_root", dict(MOVE, method=method))
    unchanged(again)
    return summaries


def rerun_converges(fleet, fingerprint, args=None):
    """Run the move again on h1: it must succeed and converge; returns the manifest summary."""
    again = fleet.module("h1", "dockyard.migrate.data_root", args or MOVE)
    assert not again.get("failed"), again
    return converged(fleet, "h1", fingerprint)[0]


def on_old_root(fleet, host, fingerprint, manifest_name="m0", containerd=False, running="web worker"):
    """Docker serves from /var/lib/docker itself (no mount there) with the tree of MANIFEST_NAME."""
    seen = look(host)
    assert seen == ["/var/lib/docker", "-", running], seen
    info = fleet.module(host, "dockyard.migrate.data_root_info", {"sizes": False})
    assert info["inventory"]["fingerprint"] == fingerprint
    trees = ["/var/lib/docker"] + (["/var/lib/containerd"] if containerd else [])
    if containerd:
        assert host_sh(host, "findmnt /var/lib/containerd", check=False).returncode != 0
    return against(host, trees, manifest_name, containerd)


# ------------------------------------------------------------------ kills from outside, during a real copy
BULK = r"""
import os, sys
root = sys.argv[1]
block = os.urandom(1 << 20)
for d in range(250):
    p = os.path.join(root, "d%03d" % d)
    os.makedirs(p)
    for i in range(200):
        n = d * 200 + i
        with open(os.path.join(p, "f%03d" % i), "wb") as f:
            f.write(block[(n * 4099) % 1000000:][:1024 + (n * 37) % 6000])
for i in range(9):
    with open(os.path.join(root, "big%d" % i), "wb") as f:
        for j in range(100):
            f.write(bytes([i, j]) + block[2:])
"""

# Waits for the run to reach PHASE (and a share of its bytes), then SIGKILLs the module's python process
# only: the process whose children are the copy's tar or rsync.  Prints what it saw.
KILLER = r"""
import json, os, signal, sys, time
phase, share, delay, limit = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), time.time() + float(sys.argv[4])
since = float(sys.argv[5])

def procs():
    out = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open("/proc/%s/stat" % p) as f:
                    st = f.read()
                comm = st[st.index("(") + 1:st.rindex(")")]
                out[int(p)] = (comm, int(st[st.rindex(")") + 2:].split()[1]))
            except (OSError, ValueError):
                pass
    return out

def status():
    try:
        with open("/run/dockyard-migrate/data_root.status.json") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}

def holder():
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                fds = os.listdir("/proc/%s/fd" % p)
            except OSError:
                continue
            for fd in fds:
                try:
                    link = os.readlink("/proc/%s/fd/%s" % (p, fd))
                except OSError:
                    continue
                if "dockyard-migrate" in link and "lock" in link:
                    return int(p)
    return None

def marker():
    try:
        with open("/mnt/data/.docker.dockyard-migrate.json") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}

if phase == "any":
    # Any moment of a run: DELAY seconds after it first rewrote the marker, whatever it is doing then.
    while time.time() < limit and marker().get("updated", 0) <= since:
        time.sleep(0.02)
    time.sleep(delay)
    module = holder()
    if module:
        # Frozen first (SIGSTOP), so that what the marker and the status say is what they say at its death.
        frozen = time.time()
        os.kill(module, signal.SIGSTOP)
        for _ in range(200):
            with open("/proc/%d/stat" % module) as f:
                st = f.read()
            if st[st.rindex(")") + 2] in "Tt":
                break
            time.sleep(0.01)
        ps = procs()
        children = sorted(p for p, (c, pp) in ps.items() if c in ("tar", "rsync"))
        s = status()
        m = marker()
        os.kill(module, signal.SIGKILL)
        time.sleep(0.3)
        print(json.dumps({"module": module, "children": children, "status": s, "at": time.time(),
                          "frozen_at": frozen, "marker_phase": m.get("phase"), "marker_updated": m.get("updated")}))
        sys.exit(0)
    print(json.dumps({"timeout": True, "status": status()}))
    sys.exit(1)

reached = None
while time.time() < limit:
    s = status()
    if s.get("phase") == phase and s.get("updated", 0) > since:
        total = s.get("bytes_total") or 0
        if share <= 0 or (total and (s.get("bytes_done") or 0) >= share * total):
            reached = reached or time.time()
            if time.time() - reached >= delay:
                ps = procs()
                kids = [p for p, (c, pp) in ps.items() if c in ("tar", "rsync") and ps.get(pp, ("",))[0].startswith("python")]
                if kids:
                    module = ps[kids[0]][1]
                    children = sorted(p for p, (c, pp) in ps.items() if c in ("tar", "rsync"))
                    # The copy's processes are frozen (SIGSTOP) before the module dies: left orphaned, they are
                    # certain to be there when the rerun starts; the test lets them run on from then (SIGCONT).
                    for c in children:
                        try:
                            os.kill(c, signal.SIGSTOP)
                        except OSError:
                            pass
                    os.kill(module, signal.SIGKILL)
                    time.sleep(0.3)
                    alive = [p for p in children if os.path.exists("/proc/%d" % p)]
                    print(json.dumps({"module": module, "children": children, "alive": alive, "status": s,
                                      "at": time.time()}))
                    sys.exit(0)
    time.sleep(0.02)
print(json.dumps({"timeout": True, "status": status()}))
sys.exit(1)
"""

# Waits until the marker is rewritten after AFTER (a rerun recorded), then resumes (SIGCONT) those of PIDS that are
# still there, at once, on the host's clock.  Prints which were there, which were resumed, and when.
RESUMER = r"""
import json, os, signal, sys, time
after, pids, limit = float(sys.argv[1]), [int(p) for p in sys.argv[2].split()], time.time() + float(sys.argv[3])
while time.time() < limit:
    try:
        with open("/mnt/data/.docker.dockyard-migrate.json") as f:
            updated = json.load(f).get("updated", 0)
    except (OSError, ValueError):
        updated = 0
    if updated > after:
        there = [p for p in pids if os.path.exists("/proc/%d" % p)]
        resumed = []
        for p in there:
            try:
                os.kill(p, signal.SIGCONT)
                resumed.append(p)
            except OSError:
                pass
        print(json.dumps({"there": there, "resumed": resumed, "at": time.time()}))
        sys.exit(0)
    time.sleep(0.01)
print(json.dumps({"timeout": True}))
sys.exit(1)
"""


def start_killer(host, phase, share, delay, since):
    return subprocess.Popen(["docker", "exec", container(host), "python3", "/root/killer.py", phase, str(share),
                             str(delay), "300", str(since)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True)


def killer_output(killer, timeout=400):
    """The killer's output; a killer that outlives its timeout is killed, and the test fails there."""
    try:
        return killer.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        killer.kill()
        killer.communicate()
        raise


def run_in_thread(fleet, host, args, box, key, expect="ok"):
    t = threading.Thread(target=lambda: box.update({key: fleet.module(host, "dockyard.migrate.data_root", args,
                                                                      expect=expect)}))
    t.start()
    return t


def test_kills_from_outside_during_a_partial_copy_of_a_large_root(fleet_hosts, reliability_rows):
    """A root of over 1 GiB and 50,000 entries; the module's process is SIGKILLed from outside at a random
    share of the first copy (its tar pipe, frozen just before, is left orphaned); the rerun is launched while the
    orphans are there and they run on beside it from the moment it recorded; the rerun is SIGKILLed at a random
    moment after it recorded (frozen first, so that its marker is read as it was at its death), and the third run
    converges."""
    t0 = time.time()
    fleet_hosts.reset("h1")
    host_sh("h1", "docker volume create bulk >/dev/null && python3 -c '%s' "
            "$(docker volume inspect -f '{{.Mountpoint}}' bulk)" % BULK.replace("'", "'\"'\"'"), timeout=600)
    host_sh("h1", "docker run -d --name bulky --network none --restart always -v bulk:/bulk seed/base:1 >/dev/null")
    size = host_sh("h1", "du -sb /var/lib/docker | cut -f1; find /var/lib/docker -xdev | wc -l").stdout.split()
    assert int(size[0]) >= 1 << 30 and int(size[1]) >= 50000, size
    host_sh("h1", "cat > /root/killer.py <<'EOF'\n%s\nEOF" % KILLER)
    host_sh("h1", "cat > /root/resumer.py <<'EOF'\n%s\nEOF" % RESUMER)
    save_manifests("h1", ["/var/lib/docker"])
    info = fleet_hosts.module("h1", "dockyard.migrate.data_root_info", {"sizes": False})
    fingerprint = info["inventory"]["fingerprint"]
    rng = random.Random()
    share = round(rng.uniform(0.1, 0.4), 2)
    box = {}

    # 1. Killed at a random share of the first copy (the tar pipe).
    since = float(host_sh("h1", "date +%s.%N").stdout)
    killer = start_killer("h1", "online_copy", share, 0, since)
    first = run_in_thread(fleet_hosts, "h1", MOVE, box, "first", expect="interrupted")
    out1 = killer_output(killer)
    k1 = json.loads(out1.strip().splitlines()[-1])
    alive = " ".join(map(str, k1.get("alive") or []))
    # The frozen orphans hold the killed run's SSH session open: its result comes back once they have run on.
    try:
        assert "module" in k1, "no copy to kill: %s" % out1
        assert_phase("h1", "online_copy", "record")
        done1, total1 = k1["status"]["bytes_done"], k1["status"]["bytes_total"]
        assert 0 < done1 < total1, k1
        assert k1["alive"], "the copy's children died with the module: %s" % k1

        # 2. The rerun starts while the orphaned tar pipe is there (frozen); from the moment the rerun has
        # recorded (its marker rewritten) the orphans run on beside it.  The rerun is killed at a random moment
        # after it recorded, within its first seconds: a rerun that has little left to copy finishes in a few.
        delay = round(rng.uniform(0.5, 3.0), 1)
        since = float(host_sh("h1", "date +%s.%N").stdout)
        killer = start_killer("h1", "any", 0, delay, since)
        t = run_in_thread(fleet_hosts, "h1", MOVE, box, "second", expect="interrupted")
        at_launch = host_sh("h1", "for p in %s; do test -d /proc/$p && echo $p; done" % alive,
                            check=False).stdout.split()
        # On the host, the moment the rerun's marker is rewritten: the orphans still there are resumed.
        out_r = host_sh("h1", "python3 /root/resumer.py %r '%s' 120" % (k1["at"], alive), timeout=150,
                        check=False).stdout.strip()
        woke = json.loads(out_r.splitlines()[-1]) if out_r else {}
        orphans_at_rerun, resumed = woke.get("there") or [], woke.get("resumed") or []
    finally:
        # Whatever happened above, nothing is left frozen (the first run's session waits for them).
        host_sh("h1", "for p in %s; do kill -CONT $p 2>/dev/null; done; true" % alive, check=False)
        first.join(600)
    assert_killed(box["first"], "the first copy")
    out2 = killer_output(killer)
    t.join(600)
    # What the docstring claims: the orphans were there when the rerun was launched and when it recorded, and
    # they ran on from then, while the rerun still ran: resumed before the killer froze it (both times on the
    # host's clock).
    assert at_launch and sorted(at_launch) == sorted(str(p) for p in k1["alive"]), (at_launch, k1["alive"])
    assert "at" in woke, "the rerun never rewrote the marker: %s" % out_r
    assert orphans_at_rerun and sorted(resumed) == sorted(orphans_at_rerun), (orphans_at_rerun, resumed)
    k2 = json.loads(out2.strip().splitlines()[-1])
    assert "module" in k2, "the rerun was not caught: %s" % out2
    assert woke["at"] < k2["frozen_at"], "the orphans were resumed %.3f s after the rerun was frozen: %s %s" % (
        woke["at"] - k2["frozen_at"], woke, k2)
    assert_killed(box["second"], "%.1f s into the rerun" % delay)
    # The marker as the killer read it with the rerun frozen, just before the kill, is the marker after its death:
    # the rerun died there, nothing wrote after it.
    after = marker("h1")
    assert (after["phase"], after.get("updated")) == (k2["marker_phase"], k2["marker_updated"]), (after, k2)
    phase2 = after["phase"]

    # 3. The third run converges.
    third = fleet_hosts.module("h1", "dockyard.migrate.data_root", MOVE)
    assert not third.get("failed"), third
    summary = converged(fleet_hosts, "h1", fingerprint, running="bulky web worker")[0]
    assert summary["entries_a"] >= 50000
    record(reliability_rows, "fault", "module SIGKILLed from outside at %d%% of the first copy of a %.1f GiB root of "
           "%d entries (tar pipe left running), the rerun SIGKILLed %.1f s after it recorded, run again" % (
               done1 * 100 // total1, int(size[0]) / 2.0 ** 30, int(size[1]), delay),
           "the first kill landed in online_copy (rc 137, marker phase online_copy, copy partial, %d tar processes "
           "left orphaned); %d of them were there when the rerun was launched, %d when it recorded its inventory, "
           "and ran on beside it; "
           "the rerun died in phase %s (status: %s); the third run converged: manifest equal (%d entries), "
           "inventory equal; %.0f s" % (
               len(k1["alive"]), len(at_launch), len(orphans_at_rerun), phase2, k2["status"].get("phase"),
               summary["entries_a"], time.time() - t0))


# ------------------------------------------------------------------ kills with the other methods
def test_daemon_json_move_killed_three_times_converges(fleet_hosts, reliability_rows):
    t0 = time.time()
    fingerprint = prepare(fleet_hosts)
    args = dict(MOVE, method="daemon_json")
    kill_at(fleet_hosts, "h1", args, "after_stop", "stop", "stop")
    assert host_sh("h1", "systemctl is-active docker.service", check=False).stdout.strip() != "active"
    kill_at(fleet_hosts, "h1", args, "switch_after_dropin", "switch", "final_copy")
    assert "data-root" not in json.loads(host_sh("h1", "cat /etc/docker/daemon.json").stdout)
    dropin = host_sh("h1", "cat /etc/systemd/system/docker.service.d/dockyard-data-root.conf").stdout
    assert "AssertPathExists=%s/%s" % (TARGET, SENTINEL) in dropin, dropin
    kill_at(fleet_hosts, "h1", args, "after_start", "start", "start")
    assert json.loads(host_sh("h1", "cat /etc/docker/daemon.json").stdout)["data-root"] == TARGET
    last = fleet_hosts.module("h1", "dockyard.migrate.data_root", args)
    assert not last.get("failed"), last
    summary = converged(fleet_hosts, "h1", fingerprint, method="daemon_json")[0]
    record(reliability_rows, "fault", "daemon_json move killed (SIGKILL) at after_stop, then at switch_after_dropin, "
           "then at after_start, then run again",
           "each kill landed where claimed (rc 137; marker phases stop, switch, start); the fourth run converged: "
           "data-root %s, manifest equal (%d entries), inventory equal; %.0f s" % (
               TARGET, summary["entries_a"], time.time() - t0))


def test_containerd_store_move_killed_twice_converges_and_restores(fleet_hosts, reliability_rows):
    """Both roots move (Docker's and containerd's image store); kills during the copy and after the start, then
    a state=restored after new data was written on the new roots, killed inside, then run again."""
    t0 = time.time()
    fleet_hosts.up_extra("--first", "3", "--hosts", "1", "--suite", "trixie", "--containerd-store")
    fingerprint = prepare(fleet_hosts, "h3", containerd=True)
    kill_at(fleet_hosts, "h3", MOVE, "during_online_copy", "online_copy", "record")
    kill_at(fleet_hosts, "h3", MOVE, "after_start", "start", "start")
    moved = fleet_hosts.module("h3", "dockyard.migrate.data_root", MOVE)
    assert not moved.get("failed"), moved
    summaries = converged(fleet_hosts, "h3", fingerprint, containerd=True)
    t1 = time.time()
    # New data on the new roots: a file in a volume, a new image (containerd's store) and a new container.
    host_sh("h3", "docker exec web sh -c 'echo on-the-new-root > /data/site/new.txt' && "
            "docker run --name mk --network none seed/base:1 sh -c 'echo new > /new' && "
            "docker commit mk seed/new:1 >/dev/null && docker rm mk >/dev/null")
    fp_new = fleet_hosts.module("h3", "dockyard.migrate.data_root_info", {"sizes": False})["inventory"]["fingerprint"]
    save_manifests("h3", ["/var/lib/docker", "/var/lib/containerd"], "m1", containerd=True)
    kill_at(fleet_hosts, "h3", RESTORE, "restore_after_switch_back", "restore_switch", "source")
    back = fleet_hosts.module("h3", "dockyard.migrate.data_root", RESTORE)
    assert not back.get("failed"), back
    after = on_old_root(fleet_hosts, "h3", fp_new, "m1", containerd=True)
    assert host_sh("h3", "docker exec web cat /data/site/new.txt").stdout.strip() == "on-the-new-root"
    record(reliability_rows, "fault", "containerd image store: both roots moved, killed at during_online_copy and "
           "after_start, run again; then new data written and state=restored killed at restore_after_switch_back, "
           "run again",
           "kills landed where claimed (rc 137; marker phases online_copy, start, restore_switch); the move converged "
           "(both manifests equal: %d and %d entries; %.0f s); the restore brought back a new image, a new "
           "container's layer and a volume write: both original roots equal the new roots' manifests (%d, %d "
           "entries; %.0f s)" % (summaries[0]["entries_a"], summaries[1]["entries_a"], t1 - t0,
                                 after[0]["entries_a"], after[1]["entries_a"], time.time() - t1))


def test_containerd_store_move_killed_with_docker_stopped_keeps_both_moves(fleet_hosts, reliability_rows):
    """Killed in the window with Docker and containerd stopped: the rerun cannot see the containerd image store
    (Docker is down), so it must continue the plan the killed run froze, containerd's move included."""
    t0 = time.time()
    fleet_hosts.up_extra("--first", "3", "--hosts", "1", "--suite", "trixie", "--containerd-store")
    fingerprint = prepare(fleet_hosts, "h3", containerd=True)
    kill_at(fleet_hosts, "h3", MOVE, "after_final_copy", "final_copy", "final_copy")
    assert host_sh("h3", "systemctl is-active containerd.service", check=False).stdout.strip() != "active"
    moved = fleet_hosts.module("h3", "dockyard.migrate.data_root", MOVE)
    assert not moved.get("failed"), moved
    names = sorted(m["name"] for m in moved.get("moves", []))
    assert names == ["containerd", "docker"], moved.get("moves")
    assert any("continuing the plan recorded" in a for a in moved["actions"]), moved["actions"]
    summaries = converged(fleet_hosts, "h3", fingerprint, containerd=True)
    record(reliability_rows, "fault", "containerd image store: killed (SIGKILL) at after_final_copy, with Docker and "
           "containerd stopped, then run again",
           "the kill landed where claimed (rc 137, marker phase final_copy, containerd stopped); the rerun continued "
           "the frozen plan with both moves (docker, containerd) although Docker was down; both roots bound from the "
           "data disk, manifests equal (%d and %d entries), inventory equal; %.0f s" % (
               summaries[0]["entries_a"], summaries[1]["entries_a"], time.time() - t0))


# ------------------------------------------------------------------ rollback as hard as the move
def add_fault(host, condition):
    """Docker refuses to start while CONDITION (a shell test) holds: the move's start fails and it rolls back."""
    host_sh("h1" if host is None else host,
            "mkdir -p /etc/systemd/system/docker.service.d && printf '[Service]\\nExecStartPre=/bin/sh -c \"! %s\"\\n' "
            "> %s && systemctl daemon-reload" % (condition, FAULT_DROPIN))


def remove_fault(host):
    host_sh(host, "rm -f %s && systemctl daemon-reload && systemctl reset-failed docker.service docker.socket; "
            "systemctl start docker.socket docker.service" % FAULT_DROPIN, check=False)


def test_automatic_rollback_killed_inside_converges(fleet_hosts, reliability_rows):
    """Docker cannot start on the new root, so the move rolls back; the rollback is killed after undoing the
    switch, the rerun's rollback is killed after putting the files back, and the third run finishes it."""
    t0 = time.time()
    fingerprint = prepare(fleet_hosts)
    fstab = host_sh("h1", "cat /etc/fstab").stdout
    add_fault("h1", "mountpoint -q /var/lib/docker")
    try:
        # The rollback journals itself first: a rerun finishes it instead of taking the window for a move's.
        kill_at(fleet_hosts, "h1", MOVE, "rollback_after_undo", "rollback", "switch")
        seen = host_sh("h1", "mountpoint -q /var/lib/docker && echo mounted || echo not-mounted; "
                       "test -e /etc/systemd/system/docker.service.d/dockyard-data-root.conf && echo dropin; "
                       "systemctl is-active docker.service", check=False).stdout.split()
        assert seen[:2] == ["not-mounted", "dropin"] and seen[2] != "active", seen
        kill_at(fleet_hosts, "h1", MOVE, "rollback_after_files", "rollback", "switch")
        seen = host_sh("h1", "test -e /etc/systemd/system/docker.service.d/dockyard-data-root.conf && echo dropin; "
                       "systemctl is-active docker.service", check=False).stdout.split()
        assert seen[0] != "dropin" and seen[-1] != "active", seen
        assert host_sh("h1", "cat /etc/fstab").stdout == fstab
        third = fleet_hosts.module("h1", "dockyard.migrate.data_root", MOVE, expect="failed")
        assert third.get("failed") and third.get("rolled_back") and third["failed_phase"] == "start", third
        assert "finished the rollback of an interrupted run; moving again" in third["actions"], third["actions"]
        assert marker("h1")["phase"] == "rolled_back"
        assert host_sh("h1", "cat /etc/fstab").stdout == fstab
        summary = on_old_root(fleet_hosts, "h1", fingerprint)[0]
    finally:
        remove_fault("h1")
    fourth = fleet_hosts.module("h1", "dockyard.migrate.data_root", MOVE)
    assert not fourth.get("failed"), fourth
    converged(fleet_hosts, "h1", fingerprint)
    record(reliability_rows, "fault", "automatic rollback killed (SIGKILL) at rollback_after_undo, the rerun's at "
           "rollback_after_files, run again",
           "each kill landed where claimed (rc 137, marker phase rollback; bind undone with the drop-in still there, "
           "then the files put back; Docker stopped); the third run finished the rollback, tried the move again and "
           "rolled that back too: old root serving, fstab as before, "
           "manifest equal (%d entries), inventory equal; once the fault was gone the move converged; %.0f s" % (
               summary["entries_a"], time.time() - t0))


def test_daemon_json_rollback_killed_inside_converges(fleet_hosts, reliability_rows):
    t0 = time.time()
    fingerprint = prepare(fleet_hosts)
    args = dict(MOVE, method="daemon_json")
    dj = host_sh("h1", "cat /etc/docker/daemon.json").stdout
    add_fault("h1", "grep -q data-root /etc/docker/daemon.json")
    try:
        kill_at(fleet_hosts, "h1", args, "rollback_after_files", "rollback", "switch")
        assert host_sh("h1", "cat /etc/docker/daemon.json").stdout == dj
        assert host_sh("h1", "systemctl is-active docker.service", check=False).stdout.strip() != "active"
        again = fleet_hosts.module("h1", "dockyard.migrate.data_root", args, expect="failed")
        assert again.get("failed") and again.get("rolled_back") and again["failed_phase"] == "start", again
        assert host_sh("h1", "cat /etc/docker/daemon.json").stdout == dj
        summary = on_old_root(fleet_hosts, "h1", fingerprint)[0]
    finally:
        remove_fault("h1")
    record(reliability_rows, "fault", "daemon_json move: Docker cannot start on the new root; the rollback killed "
           "(SIGKILL) at rollback_after_files, run again",
           "the kill landed where claimed (rc 137, marker phase rollback, daemon.json already put back, Docker "
           "stopped); the rerun finished the rollback, tried again and rolled back in full: "
           "daemon.json as before, old root serving, manifest equal (%d entries), inventory equal; %.0f s" % (
               summary["entries_a"], time.time() - t0))


def test_restore_after_new_data_killed_inside_converges(fleet_hosts, reliability_rows):
    """state=restored after containers wrote new data on the new root: killed after the stop, then after the
    switch back; the third run brings back everything the new root held."""
    t0 = time.time()
    prepare(fleet_hosts)
    moved = fleet_hosts.module("h1", "dockyard.migrate.data_root", MOVE)
    assert not moved.get("failed"), moved
    host_sh("h1", "docker exec web sh -c 'echo on-the-new-root > /data/site/new.txt; rm /data/site/page.txt' && "
            "docker run --name late --network none seed/base:1 sh -c 'echo late > /late'")
    fp_new = fleet_hosts.module("h1", "dockyard.migrate.data_root_info", {"sizes": False})["inventory"]["fingerprint"]
    save_manifests("h1", ["/var/lib/docker"], "m1")
    kill_at(fleet_hosts, "h1", RESTORE, "restore_after_stop", "restore_stop", "source")
    assert host_sh("h1", "systemctl is-active docker.service", check=False).stdout.strip() != "active"
    second = fleet_hosts.module("h1", "dockyard.migrate.data_root", RESTORE,
                                env={"DOCKYARD_MIGRATE_FAILPOINT": "restore_after_put_back"}, expect="interrupted")
    assert_killed(second, "restore_after_put_back")
    assert_phase("h1", "restore_switch", "source")
    # Killed between putting the original back and dropping the bind line: the original is in place.
    assert host_sh("h1", "test -d /var/lib/docker/volumes && ! findmnt /var/lib/docker >/dev/null && "
                   "grep -c ' /var/lib/docker none bind' /etc/fstab").stdout.strip() == "1"
    third = fleet_hosts.module("h1", "dockyard.migrate.data_root", RESTORE)
    assert not third.get("failed"), third
    summary = on_old_root(fleet_hosts, "h1", fp_new, "m1")[0]
    seen = host_sh("h1", "docker exec web cat /data/site/new.txt; docker exec web ls /data/site; "
                   "docker ps -a --format '{{.Names}}' | sort | xargs").stdout
    assert seen.startswith("on-the-new-root\n") and "page.txt" not in seen and "late" in seen, seen
    record(reliability_rows, "fault", "state=restored after new data was written on the new root, killed (SIGKILL) "
           "at restore_after_stop, the rerun between putting the original back and dropping the fstab line "
           "(restore_after_put_back), run again",
           "each kill landed where claimed (rc 137, marker phases restore_stop, then restore_switch with the "
           "original in place and the bind line still in fstab); the third run restored: the old "
           "root serves and equals the new root's manifest (%d entries: a volume write, a deleted file, a new "
           "container), inventory equal; %.0f s" % (summary["entries_a"], time.time() - t0))


def test_daemon_json_restore_after_new_data(fleet_hosts, reliability_rows):
    t0 = time.time()
    prepare(fleet_hosts)
    args = dict(MOVE, method="daemon_json")
    moved = fleet_hosts.module("h1", "dockyard.migrate.data_root", args)
    assert not moved.get("failed"), moved
    dj = host_sh("h1", "cat /etc/docker/daemon.json").stdout
    host_sh("h1", "docker exec web sh -c 'echo on-the-new-root > /data/site/new.txt'")
    fp_new = fleet_hosts.module("h1", "dockyard.migrate.data_root_info", {"sizes": False})["inventory"]["fingerprint"]
    save_manifests("h1", [TARGET], "m1")
    kill_at(fleet_hosts, "h1", dict(RESTORE, method="daemon_json"), "restore_after_stop", "restore_stop", "source")
    back = fleet_hosts.module("h1", "dockyard.migrate.data_root", dict(RESTORE, method="daemon_json"))
    assert not back.get("failed"), back
    assert "data-root" not in host_sh("h1", "cat /etc/docker/daemon.json").stdout, dj
    summary = on_old_root(fleet_hosts, "h1", fp_new, "m1")[0]
    record(reliability_rows, "fault", "daemon_json move, new data written on the new root, state=restored killed "
           "(SIGKILL) at restore_after_stop, run again",
           "the kill landed where claimed (rc 137, marker phase restore_stop, Docker stopped); the rerun restored: "
           "data-root gone from daemon.json, the old root equals the new root's manifest (%d entries), inventory "
           "equal; %.0f s" % (summary["entries_a"], time.time() - t0))


# ------------------------------------------------------------------ the drop-in's promise
def test_boot_without_the_data_disk_keeps_docker_off_an_empty_root(fleet_hosts, reliability_rows):
    """After a bind move the host boots with its data disk missing: systemd creates the missing bind source
    and mounts it, but the drop-in's AssertPathExists= (a file only the moved root holds) keeps Docker
    stopped.  With the disk back Docker starts with everything."""
    t0 = time.time()
    fingerprint = prepare(fleet_hosts)
    moved = fleet_hosts.module("h1", "dockyard.migrate.data_root", MOVE)
    assert not moved.get("failed"), moved
    assert host_sh("h1", "test -f %s/%s && echo yes" % (TARGET, SENTINEL)).stdout.strip() == "yes"
    disk = host_disk("h1")
    try:
        subprocess.run(["docker", "stop", container("h1")], check=True, timeout=120, stdout=subprocess.PIPE)
        subprocess.run(["umount", disk], check=True, timeout=60)
        subprocess.run(["docker", "start", container("h1")], check=True, timeout=120, stdout=subprocess.PIPE)
        # Boot finished (is-system-running --wait returns once systemd is done starting units), then: what is
        # mounted at the root, how much it holds, Docker's unit, whether its assertion was evaluated (a timestamp)
        # and failed, an answer through the socket, the unit again, and the journal's lines for the failure.
        booted = ""
        deadline = time.time() + 150
        while booted not in ("running", "degraded") and time.time() < deadline:
            booted = host_sh("h1", "timeout 30 systemctl is-system-running --wait", check=False).stdout.strip()
            time.sleep(0 if booted else 1)  # a container still starting: docker exec itself fails
        seen = host_sh("h1", "findmnt --noheadings --output SOURCE /var/lib/docker || echo not-mounted; "
                       "ls -A /var/lib/docker | wc -l; systemctl is-active docker.service; "
                       "systemctl show docker.service --property=AssertResult --value; "
                       "systemctl show docker.service --property=AssertTimestampMonotonic --value; "
                       "timeout 20 docker info --format '{{.Containers}}' 2>/dev/null || echo no-answer; "
                       "systemctl is-active docker.service; "
                       "journalctl -b -u docker.service -o cat | grep -c '^Assertion failed' || true",
                       check=False).stdout.split()
    finally:
        subprocess.run(["docker", "stop", container("h1")], check=False, timeout=120, stdout=subprocess.PIPE)
        # What systemd made on the system disk in place of the missing one (the empty bind source) goes.
        if not subprocess.run(["mountpoint", "-q", disk], check=False, timeout=30).returncode == 0:
            subprocess.run(["find", disk, "-mindepth", "1", "-depth", "-type", "d", "-empty", "-delete"],
                           check=False, timeout=60)
        subprocess.run(["python3", FLEET_PY, "up", "--hosts", "2"], check=True, timeout=600, cwd=ROOT,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert booted in ("running", "degraded"), "the host did not finish booting within 150 s: %r" % booted
    assert seen[1] == "0", "the root on the missing disk is not empty: %s" % seen
    # The assertion was evaluated (its timestamp is set: "no" alone also describes a unit never started) and
    # failed, as the journal says, at boot and again when the socket was asked.
    assert int(seen[4]) > 0 and seen[3] == "no" and int(seen[7]) >= 1, (
        "Docker's AssertPathExists= was not evaluated and failed: %s" % seen)
    assert seen[2] != "active" and seen[5] == "no-answer" and seen[6] != "active", (
        "Docker started on an empty root: %s" % seen)
    summary = converged(fleet_hosts, "h1", fingerprint)[0]
    record(reliability_rows, "fault", "host booted with its data disk missing after a bind move, then with it back",
           "systemd mounted an empty stand-in at /var/lib/docker (%s), the drop-in's AssertPathExists= failed and "
           "Docker stayed %s, also when asked through its socket (the journal: %s assertion failures); with the "
           "disk back it started with everything: manifest equal (%d entries), inventory equal, web and worker "
           "running; %.0f s" % (seen[0], seen[2], seen[7], summary["entries_a"], time.time() - t0))


# ------------------------------------------------------------------ the time limit (the role's async deadline)
def docker_started(host):
    """When docker.service last started (monotonic), to prove Docker was never stopped."""
    return host_sh(host, "systemctl show docker.service -p ExecMainStartTimestampMonotonic --value").stdout.strip()


def untouched(host, started):
    """Docker still runs as it did, nothing masked, no drop-in, fstab without a bind line, no copy child left."""
    assert docker_started(host) == started
    seen = host_sh(host, "systemctl is-enabled docker.service docker.socket | xargs; "
                   "ls /etc/systemd/system/docker.service.d 2>/dev/null | xargs echo dropins:; "
                   "echo binds: $(grep -c ' bind ' /etc/fstab); echo children: $(pgrep -x rsync; pgrep -x tar)"
                   ).stdout.splitlines()
    assert seen == ["enabled enabled", "dropins:", "binds: 0", "children:"], seen


def test_a_time_limit_ending_during_the_online_copy_stops_it_with_docker_untouched(fleet_hosts, reliability_rows):
    """A 300 MB volume copied at 30 MB/s, with 4 s allowed: the pass is stopped where the limit ends."""
    t0 = time.time()
    prepare(fleet_hosts)
    host_sh("h1", "docker volume create big >/dev/null && docker run --rm --network none -v big:/big seed/base:1 "
            "sh -c 'head -c 300000000 /dev/urandom > /big/blob'")
    save_manifests("h1", ["/var/lib/docker"])
    fingerprint = fleet_hosts.module("h1", "dockyard.migrate.data_root_info", {"sizes": False})["inventory"][
        "fingerprint"]
    started = docker_started("h1")
    res = fleet_hosts.module("h1", "dockyard.migrate.data_root", dict(
        MOVE, time_limit=4, copy_engine="rsync", rsync_opts=["--bwlimit=30m"]), expect="failed")
    assert res.get("failed") and res.get("failed_phase") == "online_copy", res
    assert "the time limit ended during an rsync pass" in res["msg"] and "Docker was not stopped" in res["msg"], res
    m = marker("h1")
    assert m["phase"] == "online_copy_failed", m["phase"]
    copied = int(host_sh("h1", "du -sb %s | cut -f1" % TARGET).stdout.split()[0])
    assert 0 < copied < 250000000, copied  # a partial copy, cut where the limit ended
    untouched("h1", started)
    summary = rerun_converges(fleet_hosts, fingerprint)
    record(reliability_rows, "fault", "time_limit 4 s on a root holding a 300 MB volume, copied by rsync at "
           "30 MB/s (the role's async deadline, passed to the module)",
           "the online pass was stopped at the limit (failed_phase online_copy, marker online_copy_failed, %d MB "
           "copied, no rsync left); Docker never stopped (same start time), nothing masked or switched; a rerun "
           "continued the copy and converged, manifest equal (%d entries); %.0f s" % (
               copied // 1000000, summary["entries_a"], time.time() - t0))


def test_a_time_limit_too_short_for_the_window_never_stops_docker(fleet_hosts, reliability_rows, tmp_path):
    """60 s allowed; the online copy takes seconds, but the window may wait up to 2 x stop_timeout (120 s) and
    2 x verify_timeout (90 s), and as long again for a rollback: the run ends before the stop."""
    t0 = time.time()
    fingerprint = prepare(fleet_hosts)
    started = docker_started("h1")
    res = fleet_hosts.module("h1", "dockyard.migrate.data_root", dict(MOVE, time_limit=60), expect="failed")
    assert res.get("failed") and res.get("failed_phase") == "stop", res
    assert "the offline phase may take up to" in res["msg"] and "Docker was not stopped" in res["msg"], res
    assert marker("h1")["phase"] == "online_copy"
    untouched("h1", started)
    # The role passes its timeout (the async limit) less 30 s: the playbook with docker_root_timeout 100 ends the
    # same way, before the stop.
    report = str(tmp_path / "report.json")
    play = fleet_hosts.playbook(os.path.join(ROOT, "playbooks", "migrate_docker_root.yml"), limit="h1", check=False,
                                extra={"docker_root_target": TARGET, "docker_root_timeout": 100,
                                       "migrate_report_file": report})
    assert play.returncode != 0 and "time_limit 70s" in play.stdout and "Docker was not stopped" in play.stdout, \
        play.stdout[-3000:]
    untouched("h1", started)
    summary = rerun_converges(fleet_hosts, fingerprint, dict(MOVE, time_limit=3600))
    record(reliability_rows, "fault", "time_limit 60 s, while the window and its rollback may take over 840 s "
           "(twice stop_timeout 120 and verify_timeout 90, twice, and the last pass); then the playbook with "
           "docker_root_timeout 100",
           "the run ended before the stop (failed_phase stop, marker online_copy); so did the playbook, whose role "
           "passed time_limit 70 s; Docker never stopped (same start time), nothing masked or switched; a rerun "
           "with time_limit 3600 converged, manifest equal (%d entries); %.0f s" % (
               summary["entries_a"], time.time() - t0))


# ------------------------------------------------------------------ what the review of the window found
def test_a_failed_restore_carries_what_docker_wrote_on_the_original_forward(fleet_hosts, reliability_rows):
    """state=restored: Docker serves from the original again, a container writes to a volume every 0.1 s, and
    the restore's verification fails.  The moved root is put back only after what Docker wrote on the original
    was copied onto it: the last write is on the moved root."""
    from test_window import WRITER, release, run_paused
    from test_reliability import wait_paused
    t0 = time.time()
    prepare(fleet_hosts)
    fleet_hosts.sh("h1", "docker", "run", "-d", "--name", "writer", "--network", "none", "--restart", "always",
                   "-v", "webdata:/data", "seed/base:1", "sh", "-c", WRITER)
    moved = fleet_hosts.module("h1", "dockyard.migrate.data_root", MOVE)
    assert not moved.get("failed"), moved
    vol = "volumes/webdata/_data/writes.log"
    # Each start of the writer writes under a new id: the ids seen before the restore are those of the new root.
    before = set(line.split()[0] for line in host_sh("h1", "cat %s/%s" % (TARGET, vol)).stdout.splitlines())
    t, box = run_paused(fleet_hosts, RESTORE, ["after_start"], env={"DOCKYARD_MIGRATE_FAULT": "restore_verify"},
                        expect="failed")
    try:
        wait_paused(fleet_hosts, "after_start")
        served = look("h1")
        time.sleep(2)  # the writer writes on the original meanwhile
    finally:
        release(fleet_hosts, "after_start")
        t.join(600)
    res = box["r"]
    assert served[:2] == ["/var/lib/docker", "-"], served  # paused while Docker served the original itself
    assert res.get("failed") and res["failed_phase"] == "verify" and res["rolled_back"], res
    assert "made to fail" in res["msg"] and "serves from %s again" % TARGET in res["msg"], res["msg"]
    assert any(a.startswith("copied what Docker wrote on the original back onto %s" % TARGET)
               for a in res["actions"]), res["actions"]
    seen = look("h1")
    assert seen[0] == "/var/lib/docker" and re.match(r"/dev/loop\d+\[/docker\]$", seen[1]), seen
    backup = [o for o in moved["original"] if o["name"] == "docker"][0]["backup"]
    on_original = host_sh("h1", "cat '%s/%s'" % (backup, vol)).stdout.splitlines()
    on_moved = set(host_sh("h1", "cat %s/%s" % (TARGET, vol)).stdout.splitlines())
    # The writer ran on the original during the restore: its last line there is from a start made there.
    assert on_original[-1].split()[0] not in before, (before, on_original[-3:])
    assert len(on_original) > 10 and on_original[-1] in on_moved, (
        "the last write made on the original (%s) is not on the moved root" % on_original[-1:])
    assert all(line in on_moved for line in on_original)
    record(reliability_rows, "fault", "state=restored whose verification fails after Docker served from the "
           "original again, where a container writes to a volume every 0.1 s",
           "put back on the moved root (phase verify, rolled back) after copying what Docker wrote on the original "
           "onto it: all %d lines on the original, the last included, are on the moved root; %.0f s" % (
               len(on_original), time.time() - t0))


def test_a_rollback_step_that_fails_still_starts_docker(fleet_hosts, reliability_rows):
    """The verification fails and the rollback cannot unmount the bind (a process has its working directory in
    it): Docker is started all the same, where the host still points it, and a rerun finishes the move."""
    from test_window import release, run_paused
    from test_reliability import wait_paused
    t0 = time.time()
    fingerprint = prepare(fleet_hosts)
    t, box = run_paused(fleet_hosts, MOVE, ["after_start"], env={"DOCKYARD_MIGRATE_FAULT": "verify"},
                        expect="failed")
    try:
        wait_paused(fleet_hosts, "after_start")
        host_sh("h1", "cd /var/lib/docker/volumes && { setsid sleep 300 </dev/null >/dev/null 2>&1 & "
                "echo $! > /run/holder.pid; }")
        release(fleet_hosts, "after_start")
        t.join(600)
        seen = look("h1")
    finally:
        release(fleet_hosts, "after_start")
        t.join(600)
        host_sh("h1", "test -e /run/holder.pid && kill $(cat /run/holder.pid); rm -f /run/holder.pid", check=False)
    res = box["r"]
    assert res.get("failed") and res["failed_phase"] == "verify" and res["rolled_back"] is False, res
    assert "the rollback stopped" in res["msg"] and "busy" in res["msg"], res["msg"]
    assert "Docker was started all the same and serves from /var/lib/docker" in res["msg"], res["msg"]
    # Docker runs, with its containers, on the moved root through the bind the rollback could not remove.
    assert re.match(r"/dev/loop\d+\[/docker\]$", seen[1]) and seen[2] == "web worker", seen
    summary = rerun_converges(fleet_hosts, fingerprint)
    record(reliability_rows, "fault", "the verification fails and the rollback cannot unmount the bind (a process "
           "holds its working directory in it)",
           "the rollback stopped at the unmount (target is busy) and started Docker all the same, serving the moved "
           "root through the bind it could not remove, containers running; a rerun finished the move, manifest "
           "equal (%d entries); %.0f s" % (summary["entries_a"], time.time() - t0))


def test_a_restore_killed_after_the_put_back_and_rebooted_restores_later_writes(fleet_hosts, reliability_rows):
    """state=restored killed between putting the original back and dropping the bind line, then the host
    reboots: the bind line mounts the moved root over the original and Docker serves from it again, and
    writes.  The rerun must not switch back onto the original as it was: it sets it aside again and restores."""
    t0 = time.time()
    prepare(fleet_hosts)
    moved = fleet_hosts.module("h1", "dockyard.migrate.data_root", MOVE)
    assert not moved.get("failed"), moved
    kill_at(fleet_hosts, "h1", RESTORE, "restore_after_put_back", "restore_switch", "source")
    subprocess.run(["docker", "restart", container("h1")], check=True, stdout=subprocess.PIPE, timeout=180)
    fleet_hosts.up_extra("--hosts", "2")  # waits until h1 boots and answers again
    seen = look("h1")
    assert seen[0] == "/var/lib/docker" and re.match(r"/dev/loop\d+\[/docker\]$", seen[1]), seen
    host_sh("h1", "docker exec web sh -c 'echo after-the-reboot > /data/site/late.txt'")
    fp = fleet_hosts.module("h1", "dockyard.migrate.data_root_info", {"sizes": False})["inventory"]["fingerprint"]
    save_manifests("h1", ["/var/lib/docker"], "m1")
    back = fleet_hosts.module("h1", "dockyard.migrate.data_root", RESTORE)
    assert not back.get("failed"), back
    assert any(a.startswith("put the moved root back in service after a restore interrupted in restore_switch")
               for a in back["actions"]), back["actions"]
    summary = on_old_root(fleet_hosts, "h1", fp, "m1")[0]
    assert host_sh("h1", "docker exec web cat /data/site/late.txt").stdout.strip() == "after-the-reboot"
    record(reliability_rows, "fault", "state=restored killed (SIGKILL) between putting the original back and "
           "dropping the bind line, host rebooted (Docker then served the moved root again and wrote to a volume), "
           "run again",
           "the kill landed where claimed (rc 137, marker phase restore_switch); after the boot the bind served the "
           "moved root; the rerun set the original aside again and restored: the old root serves and equals the "
           "moved root's manifest taken after the reboot (%d entries), the write made after the reboot included; "
           "%.0f s" % (summary["entries_a"], time.time() - t0))
