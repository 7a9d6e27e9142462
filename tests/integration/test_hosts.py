# -*- coding: utf-8 -*-
"""Real-world host configurations: each moves losslessly or is refused before anything changes.

Every move is checked with the whole-tree manifest and the inventory, and run again (changed=false);
where a case touches boot the host is rebooted, and where it can be rolled back it is.  Every refusal
comes from the preflight and leaves the host as it was: fstab, daemon.json, the drop-ins, the data
disk's listing (no target directory, no marker), Docker's root and the time Docker started.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import json
import os
import re
import shlex
import subprocess
import threading
import time

import pytest

from conftest import ROOT, Fleet, container, unchanged as rerun_unchanged
from test_operations import DANGLING
from test_reliability import DOCKERD_REWRITES, MANIFEST

HOST = "h2"
TARGET = "/mnt/data/docker"
# Each test sets its host up afresh (seeded): the tests are spread over both workers (conftest.py).
SPREAD = True
DATA_ROOT = "dockyard.migrate.data_root"


@pytest.fixture(scope="module")
def fleet(fleet_hosts):
    yield fleet_hosts
    fleet_hosts.reset(HOST)  # later tests expect a plain seeded host


@pytest.fixture
def row(reliability_rows):
    """Records the test's one row of the reliability report ("Real-world hosts"), once its checks passed:
    row(case, result), the time the test took appended to the result."""
    t0 = time.time()

    def add(case, result):
        reliability_rows.append({"kind": "host", "case": case,
                                 "result": "%s; %.0f s" % (result, time.time() - t0)})
    return add


def entries(res):
    """What a move's manifest comparison found, for the report."""
    return "manifest equal (%d entries)" % res["summary"]["entries_a"]


def unchanged(res, limit=100):
    """A refusal's message (its start) and what stayed as it was, for the report."""
    msg = " ".join(res["msg"].split())
    if len(msg) > limit:
        msg = msg[:msg.rfind(" ", 0, limit)] + "…"
    return "refused in preflight (\"%s\"); fstab, daemon.json, drop-ins, /mnt/data and Docker's start time (%s) " \
        "unchanged" % (msg, res["started"])


def sh(fleet, script, check=True):
    return fleet.sh(HOST, "sh", "-c", script, check=check)


def seeded(fleet, setup=None, root="/var/lib/docker", olddisk=False):
    """A fresh seeded host (with a block device of its own with OLDDISK) with SETUP (a shell script) run on it,
    and the manifest of its data root ROOT saved with Docker stopped.  Returns the inventory's fingerprint."""
    fleet.reset(HOST, olddisk=olddisk)
    subprocess.run(["docker", "cp", MANIFEST, container(HOST) + ":/root/manifest.py"], check=True, timeout=60)
    if setup:
        sh(fleet, setup)
    docker_units(fleet, "stop")
    sh(fleet, "python3 /root/manifest.py --save /root/m0.json '%s'" % root)
    docker_units(fleet, "start")
    info = fleet.module(HOST, "dockyard.migrate.data_root_info", {"sizes": False})
    assert "web" in info["inventory"]["running"] and "worker" in info["inventory"]["running"], info["inventory"]
    return info["inventory"]["fingerprint"]


def docker_units(fleet, verb):
    """Stop or start Docker with whatever units the host has (a host may lack docker.socket)."""
    units = "docker.socket docker.service" if verb == "stop" else "docker.service docker.socket"
    sh(fleet, "for u in %s; do systemctl cat $u >/dev/null 2>&1 || continue; systemctl reset-failed $u; "
       "systemctl %s $u; done" % (units, verb))


def same_tree(fleet, root, ignore=(), stop=True):
    """The tree at ROOT equals the data root saved before the move (Docker stopped to compare, unless STOP is
    false: for a tree Docker does not serve)."""
    if stop:
        docker_units(fleet, "stop")
    try:
        res = subprocess.run(["docker", "exec", container(HOST), "python3", "/root/manifest.py", "--against",
                              "/root/m0.json", root, "--no-dir-mtime"] + ["--ignore=%s" % g for g in DOCKERD_REWRITES + list(ignore)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False,
                             timeout=300)
    finally:
        if stop:
            docker_units(fleet, "start")
    assert res.returncode == 0, res.stdout + res.stderr
    summary = json.loads(res.stdout)
    assert summary["hard_linked"] > 0 and summary["sparse"] > 0 and summary["with_xattrs"] > 0
    return summary


def serving(fleet, root, fingerprint, running=("web", "worker")):
    """Docker reports ROOT, runs the same containers and holds the same inventory."""
    assert sh(fleet, "docker info --format '{{.DockerRootDir}}'").strip() == root
    names = sh(fleet, "docker ps --format '{{.Names}}'").split()
    assert set(running) <= set(names), names
    info = fleet.module(HOST, "dockyard.migrate.data_root_info", {"sizes": False})
    assert info["inventory"]["fingerprint"] == fingerprint
    return info


def mount_source(fleet, path):
    return sh(fleet, "findmnt --noheadings --output SOURCE --mountpoint '%s' || echo not-mounted" % path).strip()


def snapshot(fleet):
    """fstab, daemon.json, drop-ins, listings and Docker's root (conftest), with /var/lib's and the data
    disk's whole listing, the environment files and the time Docker's main process started."""
    return fleet.snapshot(HOST) + sh(fleet, "ls -lAR --time-style=+%s /mnt/data 2>&1; ls -A /var/lib 2>&1; "
                                     "cat /etc/default/docker /etc/sysconfig/docker 2>&1; "
                                     "systemctl show docker.service --property=ExecMainPID "
                                     "--property=ExecMainStartTimestampMonotonic", check=False)


def refused(fleet, args, message):
    """The module refuses ARGS in the preflight with MESSAGE and changes nothing."""
    before = snapshot(fleet)
    res = fleet.module(HOST, DATA_ROOT, args, expect="failed")
    after = snapshot(fleet)
    assert res.get("failed") and res.get("failed_phase") == "preflight", res
    assert message in res["msg"], res["msg"]
    assert after == before
    started = re.search(r"ExecMainStartTimestampMonotonic=(\d+)", before)
    res["started"] = "%.1f s after boot" % (int(started.group(1)) / 1e6) if started else "not running"
    return res


def moved(fleet, args, root, fingerprint, tree=None, ignore=()):
    """Move, verify (root, inventory, tree), run again: changed=false.  Returns the first result."""
    res = fleet.module(HOST, DATA_ROOT, args)
    assert not res.get("failed") and res["changed"], (res.get("msg"), res.get("actions"))
    serving(fleet, root, fingerprint)
    summary = same_tree(fleet, tree or args["path"], ignore)
    again = fleet.module(HOST, DATA_ROOT, args)
    rerun_unchanged(again)
    res["summary"] = summary
    return res


@contextlib.contextmanager
def paused(fleet, args, point, env, expect="failed"):
    """The module run with ARGS and ENV in a thread of its own, paused at POINT: the block runs while it waits
    there, then it is released and must end within 600 s; its result is the yielded dict's "r"."""
    box = {}
    e = dict(env, DOCKYARD_MIGRATE_PAUSE=point)
    t = threading.Thread(target=lambda: box.update(r=fleet.module(HOST, DATA_ROOT, args, env=e, expect=expect)))
    t.start()
    try:
        sh(fleet, "for i in $(seq 1 1200); do test -e /run/dockyard-migrate/paused.%s && exit 0; sleep 0.1; done; "
           "exit 1" % point)
        yield box
    finally:
        sh(fleet, "rm -f /run/dockyard-migrate/paused.%s" % point)
        t.join(600)
    assert not t.is_alive(), "the module did not end within 600 s of its release"


def reboot(fleet):
    subprocess.run(["docker", "restart", container(HOST)], check=True, stdout=subprocess.PIPE, timeout=300)
    fleet.up_extra("--hosts", "2")  # waits until the host answers again
    sh(fleet, "for i in $(seq 1 120); do docker info >/dev/null 2>&1 && exit 0; sleep 0.5; done; exit 1")


# ---------------------------------------------------------------- 1. the root is a symlink
SYMLINKED = ("systemctl stop docker.socket docker.service && mv /var/lib/docker /var/lib/docker.real && "
             "ln -s docker.real /var/lib/docker && systemctl start docker.socket docker.service")


def test_symlinked_root_moves_the_real_directory(fleet, row):
    fingerprint = seeded(fleet, SYMLINKED, root="/var/lib/docker.real")
    real = "/var/lib/docker.real"
    assert sh(fleet, "docker info --format '{{.DockerRootDir}}'").strip() == real
    res = moved(fleet, {"path": TARGET}, real, fingerprint, tree=real)
    assert re.match(r"/dev/loop\d+\[/docker\]$", mount_source(fleet, real))
    assert sh(fleet, "readlink /var/lib/docker").strip() == "docker.real"
    assert "/mnt/data/docker /var/lib/docker.real none bind 0 0" in sh(fleet, "cat /etc/fstab")
    reboot(fleet)
    serving(fleet, real, fingerprint)
    mount_source_was = mount_source(fleet, real)
    assert re.match(r"/dev/loop\d+\[/docker\]$", mount_source_was)
    back = fleet.module(HOST, DATA_ROOT, {"path": TARGET, "state": "restored"})
    assert not back.get("failed") and back["changed"], back
    serving(fleet, real, fingerprint)
    assert mount_source(fleet, real) == "not-mounted"
    assert sh(fleet, "readlink /var/lib/docker").strip() == "docker.real"
    row("1. the root is a symlink (/var/lib/docker -> docker.real), method bind",
        "the real directory moved: bind %s on %s, the link kept; %s; rerun changed=false; after a reboot Docker "
        "serves %s, same inventory; state=restored unmounts the bind" % (mount_source_was, real, entries(res), real))


def test_symlinked_root_rolls_back_without_a_bind_left(fleet, row):
    fingerprint = seeded(fleet, SYMLINKED + " && mkdir -p /etc/systemd/system/docker.service.d && printf "
                         "'[Service]\\nExecStartPre=/bin/sh -c \"! mountpoint -q /var/lib/docker.real\"\\n' > "
                         "/etc/systemd/system/docker.service.d/zz-fault.conf && systemctl daemon-reload",
                         root="/var/lib/docker.real")
    fstab = sh(fleet, "cat /etc/fstab")
    res = fleet.module(HOST, DATA_ROOT, {"path": TARGET}, expect="failed")
    assert res.get("failed") and res["failed_phase"] == "start" and res["rolled_back"], res
    assert mount_source(fleet, "/var/lib/docker.real") == "not-mounted"
    assert sh(fleet, "cat /etc/fstab") == fstab
    sh(fleet, "rm /etc/systemd/system/docker.service.d/zz-fault.conf && systemctl daemon-reload")
    serving(fleet, "/var/lib/docker.real", fingerprint)
    summary = same_tree(fleet, "/var/lib/docker.real")
    row("1. the root is a symlink, Docker fails to start on the new root (an ExecStartPre refuses the bind)",
        "failed in phase %s, rolled back: no bind left on /var/lib/docker.real, fstab byte for byte as before, "
        "Docker serves the real directory; manifest equal (%d entries)" % (res["failed_phase"], summary["entries_a"]))


def test_running_root_other_than_the_configured_one_is_refused(fleet, row):
    fleet.reset(HOST, seed=False)
    sh(fleet, "python3 -c \"import json; p='/etc/docker/daemon.json'; d=json.load(open(p)); "
       "d['data-root']='/var/lib/docker-next'; open(p,'w').write(json.dumps(d))\"")
    res = refused(fleet, {"path": TARGET, "method": "daemon_json"},
                  "the running Docker uses /var/lib/docker but its configuration names /var/lib/docker-next")
    row("1. the running root differs from the configured one (daemon.json names /var/lib/docker-next), "
        "method daemon_json", unchanged(res))


# ---------------------------------------------------------------- 3. the target on the root's own filesystem
def test_target_on_the_roots_filesystem_is_refused_unless_allowed(fleet, row):
    fingerprint = seeded(fleet)
    res = refused(fleet, {"path": "/var/lib/docker-new"}, "is on the same filesystem as the docker root")
    devices = re.findall(r"device (\S+), mounted on (\S+)\)", res["msg"])
    assert len(devices) == 2 and devices[0][0] == devices[1][0], res["msg"]
    args = {"path": "/var/lib/docker-new", "method": "daemon_json", "allow_same_filesystem": True}
    done = moved(fleet, args, "/var/lib/docker-new", fingerprint)
    row("3. the target /var/lib/docker-new on the root's own filesystem; then allow_same_filesystem=true, "
        "method daemon_json", "%s; both devices named (%s); allowed: moved, %s, rerun changed=false" % (
            unchanged(res), devices[0][0], entries(done)))


# ---------------------------------------------------------------- 4. spaces, non-ASCII, long names
LONG = "/mnt/data/disk one/dätä-ü/" + "x" * 200 + "/docker"


def test_paths_with_spaces_non_ascii_and_long_names(fleet, row):
    fingerprint = seeded(fleet)
    refusals = []
    for bad in ("/mnt/data/doc\nker", "/mnt/data/dock\ter", "/mnt/data/" + "y" * 256):
        phrase = "control character" if len(bad) < 100 else "a file name holds at most 255"
        res = refused(fleet, {"path": bad}, phrase)
        refusals.append(res["msg"][res["msg"].index(phrase):].split(";")[0].split(".")[0][:50])
    res = moved(fleet, {"path": LONG}, "/var/lib/docker", fingerprint, tree=LONG)
    fstab = sh(fleet, "cat /etc/fstab")
    line = "/mnt/data/disk\\040one/dätä-ü/%s/docker /var/lib/docker none bind 0 0" % ("x" * 200)
    assert line in fstab, fstab
    reboot(fleet)
    info = serving(fleet, "/var/lib/docker", fingerprint)
    assert info["config"]["bind"]["active"] and info["config"]["bind"]["source"] == LONG, info["config"]["bind"]
    back = fleet.module(HOST, DATA_ROOT, {"path": LONG, "state": "restored"})
    assert not back.get("failed") and back["changed"], back
    assert mount_source(fleet, "/var/lib/docker") == "not-mounted"
    serving(fleet, "/var/lib/docker", fingerprint)
    row("4. a newline, a tab, a 256-character name; then a path with a space, non-ASCII and a 200-character "
        "name (%d characters), method bind" % len(LONG),
        "the three refused in preflight, host unchanged (%s); the long path moved: fstab line \"%s\", %s, "
        "rerun changed=false, bound again after a reboot, state=restored" % (
            "; ".join("\"… %s\"" % r for r in refusals), line.replace("x" * 200, "x…x"),
            entries(res)))


def test_daemon_json_target_with_spaces_and_quotes_moves_and_a_percent_sign_is_refused(fleet, row):
    """daemon_json names the target in daemon.json and in the drop-in: systemd must read it back as one path.
    Docker 20.10 (this host) formats its root into the path of its layer database, so a % there would leave
    it with no images: refused before anything changes."""
    fingerprint = seeded(fleet)
    assert sh(fleet, "docker version --format '{{.Server.Version}}'").startswith("20.10")
    res = refused(fleet, {"path": "/mnt/data/dj dir/100%/docker", "method": "daemon_json"},
                  "path /mnt/data/dj dir/100%/docker holds a % sign, and Docker 20.10")
    assert "use method bind" in res["msg"], res["msg"]
    spaced = "/mnt/data/dj dir/say \"q\" 2/docker"
    done = moved(fleet, {"path": spaced, "method": "daemon_json"}, spaced, fingerprint)
    mounts_for = sh(fleet, "systemctl show docker.service --property=RequiresMountsFor --value").strip()
    assert spaced in mounts_for or spaced in shlex.split(mounts_for), mounts_for  # one path, as written
    row("4. method daemon_json to a path with a %% sign, then to %s (Docker 20.10)" % spaced,
        "%s; the spaced and quoted path moved: RequiresMountsFor=%s (one path), %s, rerun changed=false" % (
            unchanged(res), mounts_for, entries(done)))


# ---------------------------------------------------------------- 5. other ways Docker is told its root
@pytest.mark.parametrize("setup,message", [
    ("echo 'DOCKER_OPTS=\"--log-level info -g /var/lib/docker\"' >> /etc/default/docker",
     "DOCKER_OPTS in /etc/default/docker (read by docker.service) sets the data root with a flag (/var/lib/docker)"),
    ("mkdir -p /etc/sysconfig && echo \"OPTIONS='--data-root=/var/lib/docker'\" > /etc/sysconfig/docker",
     "OPTIONS in /etc/sysconfig/docker (read by docker.service) sets the data root with a flag (/var/lib/docker)"),
], ids=["DOCKER_OPTS", "sysconfig OPTIONS"])
def test_root_flag_in_an_environment_file_is_refused(fleet, row, setup, message):
    fleet.reset(HOST, seed=False)
    sh(fleet, setup)
    for method in ("bind", "daemon_json"):
        res = refused(fleet, {"path": TARGET, "method": method}, message)
    row("5. the data root set by a flag in %s, methods bind and daemon_json" % message.split(" sets")[0],
        "both " + unchanged(res))


def test_stale_fstab_line_for_the_root_is_kept_as_a_comment_not_taken_as_switched(fleet, row):
    stale = "UUID=0c0ffee0-dead-4bad-beef-000000000001 /var/lib/docker ext4 defaults,nofail 0 2"
    fingerprint = seeded(fleet, "echo '%s' >> /etc/fstab" % stale)
    res = moved(fleet, {"path": TARGET}, "/var/lib/docker", fingerprint, tree=TARGET)
    assert any("UUID=0c0ffee0" in w for w in res.get("warnings", [])), res.get("warnings")
    fstab = sh(fleet, "cat /etc/fstab").splitlines()
    assert fstab[-2] == "# disabled by dockyard.migrate (the data root moved; see the bind line below): " + stale
    assert fstab[-1] == "/mnt/data/docker /var/lib/docker none bind 0 0"
    reboot(fleet)
    serving(fleet, "/var/lib/docker", fingerprint)
    assert re.match(r"/dev/loop\d+\[/docker\]$", mount_source(fleet, "/var/lib/docker"))
    # A bind made by hand with a stale line beside it is not "already switched".
    sh(fleet, "echo '%s' >> /etc/fstab" % stale)
    again = fleet.module(HOST, DATA_ROOT, {"path": TARGET}, expect="failed")
    assert again.get("failed") and again["failed_phase"] == "preflight", again
    assert "/var/lib/docker is bound from /mnt/data/docker already, but fstab holds other lines for it" in \
        again["msg"] and "UUID=0c0ffee0" in again["msg"], again["msg"]
    row("5. a stale fstab line for the root (%s), method bind" % stale.split()[0],
        "moved with a warning: the stale line kept as \"%s\" above \"%s\"; %s, rerun changed=false, bound after a "
        "reboot; the stale line added again beside a bind: not taken as switched, refused in preflight" % (
            fstab[-2].split(":")[0], fstab[-1], entries(res)))


# ---------------------------------------------------------------- 6. live-restore, no restart policy, swarm
LIVE_RESTORE = ("python3 -c \"import json; p='/etc/docker/daemon.json'; d=json.load(open(p)); d['live-restore']=True; "
                "open(p,'w').write(json.dumps(d))\" && systemctl restart docker.service && "
                "for i in $(seq 1 60); do [ \"$(docker ps -q | wc -l)\" -ge 2 ] && break; sleep 0.5; done && "
                "docker run -d --name loose --network none seed/base:1 >/dev/null")


def test_live_restore_and_a_container_without_restart_policy(fleet, row):
    fingerprint = seeded(fleet, LIVE_RESTORE)
    assert sh(fleet, "docker info --format '{{.LiveRestoreEnabled}}'").strip() == "true"
    # The containers ran through the manifest taken before (live-restore): their overlay mount points were
    # left out of it, and after the move they are plain directories of the target.
    res = moved(fleet, {"path": TARGET}, "/var/lib/docker", fingerprint, tree=TARGET, ignore=["overlay2/*/merged"])
    assert any("live-restore" in a for a in res["actions"]), res["actions"]
    assert any(a.startswith("started ") and "loose" in a for a in res["actions"]), res["actions"]
    names = sh(fleet, "docker ps --format '{{.Names}}'").split()
    assert sorted(names) == ["loose", "web", "worker"], names
    row("6. live-restore on, a running container without a restart policy (loose), method bind",
        "moved: %s; running after: %s; %s, rerun changed=false" % (
            "; ".join(a for a in res["actions"] if "live-restore" in a or a.startswith("started ")),
            " ".join(sorted(names)), entries(res)))


LABELED = ("docker run -d --name labeled --network none --restart always -v labeled:/data:z seed/app:2 >/dev/null && "
           "docker exec labeled sh -c 'echo before > /data/note'")


def volume_source(fleet, name):
    return sh(fleet, "docker inspect --format '{{range .Mounts}}{{.Source}}{{end}}' %s" % name).strip()


def test_a_volume_mounted_with_z_restarts_after_a_daemon_json_move_and_after_the_restore(fleet, row):
    """Docker records a named volume's path in the container's configuration and relabels a volume mounted with
    :z through that path (Docker 20.10 here): once the original is set aside, a container started from the old
    recorded path could not start.  The move points the recorded paths at the new root, the restore back."""
    fingerprint = seeded(fleet, LABELED)
    version = sh(fleet, "docker version --format '{{.Server.Version}}'").strip()
    assert version.startswith("20.10."), "the relabelling through the recorded path is Docker 20.10's: %s" % version
    assert volume_source(fleet, "labeled") == "/var/lib/docker/volumes/labeled/_data"
    res = moved(fleet, {"path": TARGET, "method": "daemon_json"}, TARGET, fingerprint)
    assert any("pointed the volume paths" in a for a in res["actions"]), res["actions"]
    assert sh(fleet, "test -e /var/lib/docker/volumes || echo set-aside").strip() == "set-aside"
    restarted = fleet.sh(HOST, "docker", "restart", "labeled", check=False)  # the failure's own message, if any
    assert sh(fleet, "docker inspect --format '{{.State.Running}}' labeled").strip() == "true", restarted
    assert volume_source(fleet, "labeled") == TARGET + "/volumes/labeled/_data"
    sh(fleet, "docker exec labeled sh -c 'echo moved >> /data/note'")
    back = fleet.module(HOST, DATA_ROOT, {"path": TARGET, "state": "restored"})
    assert back["changed"] and not back.get("failed"), back
    assert sh(fleet, "docker info --format '{{.DockerRootDir}}'").strip() == "/var/lib/docker"
    sh(fleet, "docker restart labeled >/dev/null")
    assert volume_source(fleet, "labeled") == "/var/lib/docker/volumes/labeled/_data"
    assert sh(fleet, "docker exec labeled cat /data/note").split() == ["before", "moved"]
    row("6b. a named volume mounted with :z (Docker %s), method daemon_json, then restored" % version,
        "moved: the recorded volume path followed the root (%s); the container restarted with the original set "
        "aside; restored: the path back at /var/lib/docker, restarted, the volume's writes kept; %s, rerun "
        "changed=false" % (TARGET + "/volumes/labeled/_data", entries(res)))


SWARM = "docker swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377 >/dev/null"
# The swarm port is the machine's (fleet hosts share its network namespace): the tests that listen on it run on one
# worker, one after the other.
ON_THE_SWARM_PORT = pytest.mark.xdist_group("swarm-port-2377")


@ON_THE_SWARM_PORT
def test_swarm_manager_refused_unless_accepted(fleet, row):
    fingerprint = seeded(fleet, SWARM)
    no = refused(fleet, {"path": TARGET}, "this host is a swarm manager")
    res = moved(fleet, {"path": TARGET, "allow_swarm_manager": True}, "/var/lib/docker", fingerprint, tree=TARGET,
                ignore=["swarm/*", "network/files/*"])  # a manager rewrites its raft log and ingress sandbox
    assert any("swarm manager" in w for w in res.get("warnings", [])), res.get("warnings")
    state = sh(fleet, "docker info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}'").split()
    assert state == ["active", "true"]
    row("6. a swarm manager; then allow_swarm_manager=true, method bind",
        "%s; accepted: moved with a warning, swarm state after: %s (control available: %s); %s, rerun "
        "changed=false" % (unchanged(no), state[0], state[1], entries(res)))


# ---------------------------------------------------------------- 7b. a team's own inventory
def team_inventory(fleet, path, hosts):
    """The fleet's inventory with the given hosts alone in a group of the team's own name (web), as a new user's
    is. Hosts other files left up stay out of it: with one host per batch, a host sorted between two of these
    (h10 comes before h2) could stop the rollout before the test's own hosts were reached."""
    with open(fleet.inventory) as f:
        text = f.read().replace("[docker_hosts]", "[web]").replace("[docker_hosts:vars]", "[web:vars]")
    lines = text.splitlines()
    own = dict((line.split()[0], line) for line in lines if re.match(r"h[0-9]+ ansible_host=", line))
    rest = [line for line in lines if line.split()[:1] not in [[h] for h in own]]
    assert rest[0] == "[web]" and "docker_hosts" not in text and all(h in own for h in hosts), lines
    # The group's hosts in the order given: one host per batch, in that order.
    path.write_text("\n".join(rest[:1] + [own[h] for h in hosts] + rest[1:]) + "\n")
    return Fleet(str(path))


def installed_collection(tmp_path):
    """The collection built and installed from its tarball into an empty collections path, and the environment
    that uses it alone (no project ansible.cfg): as a team installs it."""
    build, colls = tmp_path / "build", tmp_path / "collections"
    (tmp_path / "ansible.cfg").write_text("[defaults]\nhost_key_checking = False\n")
    env = {"ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg"), "ANSIBLE_COLLECTIONS_PATH": str(colls)}
    subprocess.run(["ansible-galaxy", "collection", "build", "--output-path", str(build), ROOT], check=True,
                   stdout=subprocess.PIPE, timeout=300, env=dict(os.environ, **env))
    tarball = [str(build / n) for n in os.listdir(str(build)) if n.endswith(".tar.gz")]
    subprocess.run(["ansible-galaxy", "collection", "install", "--offline", "-p", str(colls)] + tarball, check=True,
                   stdout=subprocess.PIPE, timeout=300, env=dict(os.environ, **env))
    assert os.path.isfile(str(colls / "ansible_collections" / "dockyard" / "migrate" / "playbooks" /
                              "migrate_docker_root.yml"))
    return env


def plain_clone(tmp_path):
    """A plain clone of the project: no bootstrap, no project ansible.cfg, an empty collections path. Its
    playbooks find the collection through playbooks/collections/ beside them."""
    clone, empty = tmp_path / "dockyard.migrate", tmp_path / "empty"
    subprocess.run(["git", "clone", "-q", ROOT, str(clone)], check=True, timeout=120)
    assert not (clone / "collections").exists() and not (clone / ".venv").exists()
    empty.mkdir()
    (tmp_path / "ansible.cfg").write_text("[defaults]\nhost_key_checking = False\n")
    return {"ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg"), "ANSIBLE_COLLECTIONS_PATH": str(empty)}, \
        str(clone / "playbooks" / "migrate_docker_root.yml")


@ON_THE_SWARM_PORT
@pytest.mark.parametrize("origin", ["installed", "clone"])
def test_a_teams_inventory_a_split_expression_and_a_refused_swarm_manager_skipped_then_allowed(
        fleet, row, tmp_path, origin):
    """From the installed tarball, by the playbook's collection name, and from a plain clone, by its path: a team's
    inventory has no docker_hosts group, and the run fails naming migrate_hosts and touches nothing. A selection
    expression split at its spaces fails the same way. With migrate_on_refusal=skip the swarm manager (h2) is
    refused and reported with its reason while h1 moves; allowed, h2 moves and its swarm stays active."""
    fleet.reset("h1", "h2")
    sh(fleet, SWARM)
    team = team_inventory(fleet, tmp_path / "team.ini", ("h2", "h1"))  # the manager first
    if origin == "installed":
        env, migrate = installed_collection(tmp_path), "dockyard.migrate.migrate_docker_root"
    else:
        env, migrate = plain_clone(tmp_path)
    before = {h: fleet.snapshot(h) for h in ("h1", "h2")}

    run = dict(env=env, cwd=str(tmp_path))
    nothing = team.playbook(migrate, extra={"docker_root_target": TARGET}, check=False, **run)
    assert nothing.returncode != 0 and "No host matched migrate_hosts=docker_hosts" in nothing.stdout, \
        nothing.stdout[-3000:]
    split = team.playbook(migrate, extra={"docker_root_target": TARGET, "migrate_hosts": "web"}, check=False,
                          options=["-e", "docker_root_select=config.method != 'default'"], **run)
    assert split.returncode != 0 and "split at its spaces" in split.stdout, split.stdout[-3000:]
    assert {h: fleet.snapshot(h) for h in ("h1", "h2")} == before, "a refused run touched a host"

    # An untagged image on each host, and a prune asked for: the refused host must keep its own.
    dangling = {h: fleet.sh(h, "sh", "-c", DANGLING).strip() for h in ("h1", "h2")}
    before = {h: fleet.snapshot(h) for h in ("h1", "h2")}
    report = str(tmp_path / "report.json")
    # The default, migrate_on_refusal=stop: the refused manager, first in its batch of one, stops the rollout.
    stopped = team.playbook(migrate, check=False, **run, extra={
        "docker_root_target": TARGET, "migrate_hosts": "web", "docker_root_prune": "dangling",
        "migrate_report_file": report})
    assert stopped.returncode != 0 and "Stopping the rollout: 1 of 1 hosts of this batch failed" in stopped.stdout, \
        stopped.stdout[-3000:]
    with open(report) as f:
        rows = {r["host"]: r for r in json.load(f)["hosts"]}
    assert (rows["h2"]["status"], rows["h1"]["status"]) == ("refused", "not started"), rows
    assert {h: fleet.snapshot(h) for h in ("h1", "h2")} == before, "a stopped rollout touched a host"
    # skip: reported refused, and the rollout goes on to h1.
    skipped = team.playbook(migrate, check=False, **run, extra={
        "docker_root_target": TARGET, "migrate_hosts": "web", "migrate_on_refusal": "skip",
        "docker_root_prune": "dangling", "migrate_report_file": report, "docker_root_soak_days": 3})
    assert skipped.returncode != 0, "a run with a refused host reported success"
    assert "Stopping the rollout" not in skipped.stdout, skipped.stdout[-3000:]
    with open(report) as f:
        doc = json.load(f)
    rows = {r["host"]: r for r in doc["hosts"]}
    assert sorted(rows) == ["h1", "h2"], sorted(rows)
    assert rows["h2"]["status"] == "refused" and "swarm manager" in rows["h2"]["error"]["message"], rows["h2"]
    assert rows["h1"]["status"] == "moved" and rows["h1"]["verified"] is True, rows["h1"]
    # Where the space went: the original kept on the system disk, its size, and when the cleanup may remove it.
    soak_ends = set(time.strftime("%Y-%m-%d", time.gmtime(time.time() + 3 * 86400 - back)) for back in (0, 600))
    # The kept original's size is what the move measured after the prune, not the analysis's before it.
    assert rows["h1"]["kept_bytes"] > 1000000 and rows["h1"]["kept_on"], rows["h1"]
    assert rows["h1"]["kept_bytes"] == rows["h1"]["planned_bytes"], rows["h1"]
    assert rows["h1"]["cleanup_from"] in soak_ends, rows["h1"]
    assert "CLEANUP FROM" in skipped.stdout and rows["h1"]["cleanup_from"] in skipped.stdout
    assert rows["h2"]["kept_bytes"] is None
    assert doc["counts"]["refused"] == 1 and doc["settings"]["on_refusal"] == "skip"
    assert fleet.snapshot("h2") == before["h2"], "the refused host was touched"
    assert fleet.sh("h2", "docker", "image", "inspect", "-f", "{{.Id}}", dangling["h2"]).strip() == dangling["h2"], \
        "the refused host's images were pruned"
    assert any(dangling["h1"] in p for p in rows["h1"]["pruned"]), rows["h1"]
    assert rows["h2"]["pruned"] == [] and rows["h2"]["pruned_bytes"] is None, rows["h2"]

    allowed = team.playbook(migrate, limit="h2", **run, extra={
        "docker_root_target": TARGET, "migrate_hosts": "web", "docker_root_allow_swarm_manager": True,
        "migrate_report_file": report})
    assert allowed.returncode == 0, allowed.stdout[-3000:]
    with open(report) as f:
        assert {r["host"]: r["status"] for r in json.load(f)["hosts"]}["h2"] == "moved"
    assert sh(fleet, "docker info --format '{{.Swarm.LocalNodeState}} {{.DockerRootDir}}'").split() == [
        "active", "/var/lib/docker"]
    assert sh(fleet, "findmnt --noheadings --output FSROOT --mountpoint /var/lib/docker").strip() == "/docker"
    row("7b. from the %s: a team's inventory (group web, no docker_hosts), a split -e expression, a swarm manager"
        % ("installed tarball" if origin == "installed" else "plain clone, without bootstrap"),
        "no host matched: failed naming migrate_hosts, nothing touched; split expression: failed naming the fix; "
        "migrate_on_refusal=stop (the default, h2 first): h2 refused, the rollout stopped, h1 not started; "
        "migrate_on_refusal=skip: h2 refused (\"%s\"), the rollout went on, h1 moved and verified, the run failed; "
        "docker_root_allow_swarm_manager=true: h2 moved, swarm active" % rows["h2"]["error"]["message"][:60])


# ---------------------------------------------------------------- 8. not installed, snap, no docker.socket
def test_docker_as_a_snap_is_refused(fleet, row):
    fleet.reset(HOST, seed=False)
    sh(fleet, "printf '[Unit]\\nDescription=snapd runs Docker\\n[Service]\\nExecStart=/bin/true\\n' > "
       "/etc/systemd/system/snap.docker.dockerd.service && systemctl daemon-reload")
    res = refused(fleet, {"path": TARGET}, "Docker is installed as a snap (snapd's unit snap.docker.dockerd.service")
    row("8. Docker installed as a snap (unit snap.docker.dockerd.service), method bind", unchanged(res))


# What a removed package leaves: no binaries, no units, its configuration (/etc/docker) kept.  Each is set
# aside in /root/hidden (not renamed in place: systemd would still read an init script's LSB "Provides: docker").
HIDDEN = ["/usr/sbin/dockerd", "/usr/bin/docker", "/lib/systemd/system/docker.service",
          "/lib/systemd/system/docker.socket", "/etc/systemd/system/multi-user.target.wants/docker.service",
          "/etc/systemd/system/sockets.target.wants/docker.socket", "/etc/init.d/docker"]


def hide(fleet, paths):
    sh(fleet, "mkdir -p /root/hidden && for f in %s; do mv $f /root/hidden/$(echo $f | tr / _); done && "
       "systemctl daemon-reload" % " ".join(paths))


def test_docker_not_installed_is_refused(fleet, row):
    fleet.reset(HOST, seed=False)
    docker_units(fleet, "stop")
    try:
        # The package's programs are gone, its unit is still known (a removal half done).
        hide(fleet, HIDDEN[:2])
        half = refused(fleet, {"path": TARGET}, "Docker is not installed here: no docker.service unit or no "
                       "dockerd binary (/usr/sbin/dockerd)")
        # Removed, not purged: its units are gone, systemd makes a docker.service of the kept /etc/init.d/docker.
        hide(fleet, HIDDEN[2:-1])
        unit = sh(fleet, "systemctl show docker.service --property=LoadState --property=SourcePath")
        assert "LoadState=loaded" in unit and "SourcePath=/etc/init.d/docker" in unit, unit
        removed = refused(fleet, {"path": TARGET}, "Docker is not installed here: docker.service runs "
                          "/etc/init.d/docker, and there is no dockerd program")
        # Purged: no unit at all.
        hide(fleet, HIDDEN[-1:])
        assert "LoadState=not-found" in sh(fleet, "systemctl show docker.service --property=LoadState")
        purged = refused(fleet, {"path": TARGET, "method": "daemon_json"}, "Docker is not installed here: no "
                         "docker.service unit")
    finally:
        sh(fleet, "for f in %s; do h=/root/hidden/$(echo $f | tr / _); if [ -e $h ] || [ -L $h ]; then mv $h $f; "
           "fi; done; systemctl daemon-reload" % " ".join(HIDDEN), check=False)
        docker_units(fleet, "start")
    assert sh(fleet, "docker info --format '{{.DockerRootDir}}'").strip() == "/var/lib/docker"
    row("8. Docker not installed: binaries removed, then its units (removed, not purged), then purged",
        "each refused in preflight, host unchanged: %s" % "; ".join(
            "\"%s\"" % " ".join(r["msg"].split())[:110] for r in (half, removed, purged)))


NO_SOCKET = ("mkdir -p /var/snap/docker/common/var-lib-docker && "
             "systemctl stop docker.socket docker.service && "
             "sed -e '/^Requires=docker.socket/d' -e 's# docker.socket##' -e 's#-H fd://#-H unix:///run/docker.sock#' "
             "/lib/systemd/system/docker.service > /etc/systemd/system/docker.service && "
             "mv /lib/systemd/system/docker.socket /root/ && rm -f /etc/systemd/system/sockets.target.wants/docker.socket "
             "&& systemctl daemon-reload && systemctl start docker.service")
# A container that ran before the move and cannot start again after it: its bind-mounted host path is gone.
GONE = ("mkdir -p /srv/gone && docker run -d --name gone --restart always --network none "
        "--mount type=bind,source=/srv/gone,target=/data seed/base:1 >/dev/null")


def test_no_docker_socket_a_leftover_snap_directory_and_a_container_that_cannot_start_again(fleet, row):
    fingerprint = seeded(fleet, NO_SOCKET + " && " + GONE)
    assert sh(fleet, "systemctl show docker.socket --property=LoadState --value").strip() == "not-found"
    assert "gone" in sh(fleet, "docker ps --format '{{.Names}}'").split()
    sh(fleet, "rm -r /srv/gone")  # it runs on; Docker cannot start it again
    res = moved(fleet, {"path": TARGET}, "/var/lib/docker", fingerprint, tree=TARGET)
    assert sh(fleet, "systemctl is-active docker.service").strip() == "active"
    # Not a failure of the move, never rolled back for: named in the result and a warning, its data kept.
    assert res["containers_not_running"] == ["gone"], res
    assert any("gone ran before and is not running now" in w for w in res.get("warnings", [])), res.get("warnings")
    assert sh(fleet, "docker inspect --format '{{.State.Running}} {{.HostConfig.RestartPolicy.Name}}' gone").split() \
        == ["false", "always"]
    assert "does not exist" in sh(fleet, "docker start gone 2>&1 || true")
    row("8. no docker.socket unit, a leftover /var/snap/docker directory, a running container whose bind source "
        "is gone (gone), method bind", "moved, not taken for a snap: %s, rerun changed=false; "
        "containers_not_running: %s, named in a warning, not rolled back" % (
            entries(res), ", ".join(res["containers_not_running"])))


# ---------------------------------------------------------------- 2. the root is its own mount point
# The seeded root copied onto the host's own block device (fleet.py reset --olddisk), mounted by a UUID= line.
# systemd mounts no device line at boot inside a container: a reboot here proves the bind line only.
OLDDISK = ("dev=$(ls /dev/loop[0-9]* | head -n 1) && uuid=$(blkid -s UUID -o value $dev) && "
           "systemctl stop docker.socket docker.service && mkdir -p /root/old && mount $dev /root/old && "
           "rsync -aHAXS --numeric-ids /var/lib/docker/ /root/old/ && umount /root/old && find /var/lib/docker -mindepth 1 -delete && "
           "echo \"UUID=$uuid /var/lib/docker ext4 defaults 0 2\" >> /etc/fstab && mount /var/lib/docker && "
           "systemctl start docker.socket docker.service")
FAILPOINT = "DOCKYARD_MIGRATE_FAILPOINT"
MARKER = "/mnt/data/.docker.dockyard-migrate.json"


def old_disk(fleet):
    """A seeded host whose data root is its own disk: (fingerprint, the disk's fstab line, the device, fstab)."""
    fingerprint = seeded(fleet, OLDDISK, olddisk=True)
    fstab = sh(fleet, "cat /etc/fstab")
    line = [x for x in fstab.splitlines() if x.startswith("UUID=") and " /var/lib/docker " in x]
    device = mount_source(fleet, "/var/lib/docker")
    assert len(line) == 1 and re.match(r"/dev/loop\d+$", device), (fstab, device)
    return fingerprint, line[0], device, fstab


def switched_off_the_disk(fleet, device, fstab, line, ignore=()):
    """After a move: fstab is the old one with the disk's line commented out (dated today) and the bind line in
    its place, the disk is mounted nowhere, and it still holds the whole original root (mounted aside to look)."""
    after = sh(fleet, "cat /etc/fstab")
    days = set(sh(fleet, "date +%F; date -d yesterday +%F").split())
    expected = [fstab.replace(line + "\n", "# disabled by dockyard.migrate (the data root moved off this disk on %s; "
                              "see the bind line below): %s\n%s /var/lib/docker none bind 0 0\n" % (day, line, TARGET))
                for day in days]
    assert after in expected and line not in after.splitlines(), (after, expected)
    assert sh(fleet, "findmnt -rn -o SOURCE | grep -cx '%s' || true" % device).strip() == "0"
    sh(fleet, "mkdir -p /root/look && mount -o ro %s /root/look" % device)
    try:
        summary = same_tree(fleet, "/root/look", ignore, stop=False)
    finally:
        sh(fleet, "umount /root/look")
    return after, summary


def disk_mounted_again(fleet, device, fstab, fingerprint):
    """After a rollback: fstab byte for byte, the old disk on the root, Docker serving it, nothing staged."""
    assert sh(fleet, "cat /etc/fstab") == fstab
    assert mount_source(fleet, "/var/lib/docker") == device
    serving(fleet, "/var/lib/docker", fingerprint)
    assert sh(fleet, "ls -d /var/lib/docker.dockyard-disk 2>/dev/null || true").strip() == ""


def test_root_on_its_own_disk_moves_by_bind_and_its_fstab_line_is_replaced(fleet, row):
    fingerprint, line, device, fstab = old_disk(fleet)
    refused(fleet, {"path": TARGET, "keep_source": False}, "is the mount point of its own disk (%s)" % line)
    refused(fleet, {"path": TARGET, "method": "daemon_json"},
            "/var/lib/docker is the mount point of its own filesystem (%s, ext4)" % device)
    plan = fleet.module(HOST, DATA_ROOT, {"path": TARGET}, check_mode=True, diff=True)
    assert plan["changed"] and any("replace the fstab line %s by" % line in a for a in plan["actions"]), plan
    fdiff = [d for d in plan["diff"] if d["before_header"] == "/etc/fstab"][0]
    assert fdiff["before"] == fstab and "# disabled by dockyard.migrate (the data root moved off this disk on " \
        in fdiff["after"] and fdiff["after"].endswith("/mnt/data/docker /var/lib/docker none bind 0 0\n")
    res = moved(fleet, {"path": TARGET}, "/var/lib/docker", fingerprint, tree=TARGET)
    assert res["original"] == [{"name": "docker", "source": "/var/lib/docker", "removed": False, "backup": None,
                                "disk": line}], res["original"]
    after, disk = switched_off_the_disk(fleet, device, fstab, line)
    assert after == fdiff["after"], (after, fdiff["after"])
    assert sh(fleet, "ls /etc/fstab.dockyard-*").split() and sh(fleet, "cat /etc/fstab.dockyard-*") == fstab
    assert re.match(r"/dev/loop\d+\[/docker\]$", mount_source(fleet, "/var/lib/docker"))
    reboot(fleet)
    serving(fleet, "/var/lib/docker", fingerprint)
    assert re.match(r"/dev/loop\d+\[/docker\]$", mount_source(fleet, "/var/lib/docker"))
    # state: restored, after Docker ran on the moved root: what it wrote goes back onto the old disk (mounted
    # beside the root for the copy), the disk's line comes back in place of the bind line, the disk is mounted.
    sh(fleet, "docker exec web sh -c 'echo late > /data/late.txt'")
    plan = fleet.module(HOST, DATA_ROOT, {"path": TARGET, "state": "restored"}, check_mode=True)
    assert any("mount the original disk (%s)" % line in a for a in plan["actions"]), plan
    assert sh(fleet, "cat /etc/fstab") == after
    # The copy back must fit on the old disk: measured once the disk is mounted beside the root, refused, and the
    # disk unmounted again (nothing left mounted or changed).
    staging = "/var/lib/docker.dockyard-disk"
    refused(fleet, {"path": TARGET, "state": "restored", "margin": "100T"},
            "not enough space on %s for the copy back onto %s" % (staging, staging))
    assert mount_source(fleet, staging) == "not-mounted" and not sh(fleet, "ls -d %s || true" % staging).strip()
    # An online copy back that fails (a file on the old disk its --delete cannot remove: immutable): the disk is
    # unmounted again, Docker keeps serving the moved root, fstab is as it was.
    old = "mkdir -p /root/old && mount %s /root/old && %%s && umount /root/old" % device
    sh(fleet, old % "touch /root/old/blocker && chattr +i /root/old/blocker")
    try:
        broke = fleet.module(HOST, DATA_ROOT, {"path": TARGET, "state": "restored"}, expect="failed")
    finally:
        sh(fleet, old % "chattr -i /root/old/blocker && rm /root/old/blocker")
    assert "delete_file: unlink(blocker) failed: Operation not permitted" in broke["msg"], broke["msg"]
    assert broke.get("failed") and broke.get("failed_phase") == "online_copy", broke
    assert mount_source(fleet, staging) == "not-mounted" and not sh(fleet, "ls -d %s || true" % staging).strip()
    assert sh(fleet, "cat /etc/fstab") == after
    serving(fleet, "/var/lib/docker", fingerprint)
    back = fleet.module(HOST, DATA_ROOT, {"path": TARGET, "state": "restored"})
    assert not back.get("failed") and back["changed"], (back.get("msg"), back.get("actions"))
    disk_mounted_again(fleet, device, fstab, fingerprint)
    assert sh(fleet, "docker exec web cat /data/late.txt").strip() == "late"
    again = fleet.module(HOST, DATA_ROOT, {"path": TARGET, "state": "restored"})
    rerun_unchanged(again)
    row("2. the root is its own disk (%s); keep_source=false and method daemon_json, then method bind" % line,
        "both refused in preflight, host unchanged; bind: moved, the disk's line commented (dated), then \"%s\", "
        "backup = old fstab, old disk unmounted, its tree equal to the root before the move (%d entries); %s, "
        "rerun changed=false, bound after a reboot; state=restored with margin 100T: refused once the disk was "
        "mounted beside the root, the disk unmounted again; one whose online copy back fails (rsync exit 23): the "
        "disk unmounted again, Docker on the moved root; then state=restored: the line back, %s mounted again, a "
        "file written after the move kept" % (after.splitlines()[-1], disk["entries_a"], entries(res), device))


def test_root_on_its_own_disk_rolls_back_and_a_kill_in_the_window_converges(fleet, row):
    fingerprint, line, device, fstab = old_disk(fleet)
    # Docker served from the new root when the check failed: what it wrote is copied back onto the old disk
    # (mounted beside the root for that), fstab is put back and the disk mounted again.  The run waits after
    # Docker started on the new root, a container writes there, then the check fails.
    with paused(fleet, {"path": TARGET}, "after_start", {"DOCKYARD_MIGRATE_FAULT": "verify"}) as box:
        assert re.match(r"/dev/loop\d+\[/docker\]$", mount_source(fleet, "/var/lib/docker"))
        sh(fleet, "docker exec web sh -c 'echo written-on-the-new-root > /data/late.txt'")
    res = box["r"]
    assert res.get("failed") and res.get("failed_phase") == "verify" and "rolled back" in res["msg"], res
    disk_mounted_again(fleet, device, fstab, fingerprint)
    assert sh(fleet, "docker exec web cat /data/late.txt").strip() == "written-on-the-new-root"
    # What the copy back replaced on the old disk is kept on that disk, at the top of the root (beside it would
    # be the system disk), and reported for state=cleaned.
    kept = res.get("copyback_kept") or []
    assert kept and all(k.startswith("/var/lib/docker/.dockyard-copyback-") for k in kept), kept
    assert all(sh(fleet, "findmnt -n -o SOURCE -T %s" % k).strip() == device for k in kept), kept
    assert not sh(fleet, "ls -d /var/lib/docker.dockyard-disk.dockyard-copyback-* 2>/dev/null || true").strip()
    assert json.loads(sh(fleet, "cat " + MARKER)).get("copybacks") == kept
    copyback = (".dockyard-copyback-*",)
    summary = same_tree(fleet, "/var/lib/docker", ignore=("volumes/*/_data/late.txt",) + copyback)
    sh(fleet, "rm /var/lib/docker/volumes/*/_data/late.txt")
    # Killed with the old disk unmounted and the bind not yet mounted: the rerun finishes the move.
    res = fleet.module(HOST, DATA_ROOT, {"path": TARGET}, env={FAILPOINT: "switch_after_unmount"}, expect="failed")
    assert res.get("rc") in (137, -9) and "Killed" in res.get("module_stderr", ""), res
    m = json.loads(sh(fleet, "cat " + MARKER))
    assert m["phase"] == "switch" and m["phases_done"][-1] == "final_copy", m
    assert m["moves"][0]["disk"]["src"] == line.split()[0] and m["moves"][0]["disk"]["line"] == line, m
    assert mount_source(fleet, "/var/lib/docker") == "not-mounted"
    done = moved(fleet, {"path": TARGET}, "/var/lib/docker", fingerprint, tree=TARGET, ignore=copyback)
    assert re.match(r"/dev/loop\d+\[/docker\]$", mount_source(fleet, "/var/lib/docker"))
    switched_off_the_disk(fleet, device, fstab, line, copyback)
    row("2. the root is its own disk: the verification fails; then the module is killed (SIGKILL) with the old "
        "disk unmounted and the bind not yet mounted", "verify failure rolled back: a file a container wrote on "
        "the new root is on the old disk, fstab byte for byte, %s on "
        "/var/lib/docker again, manifest equal (%d entries); killed run left the marker at phase %s after %s, "
        "the rerun finished the move: fstab line replaced, old disk unmounted and intact, %s, rerun "
        "changed=false" % (
            device, summary["entries_a"], m["phase"], m["phases_done"][-1], entries(done)))


def test_a_rollback_proves_the_old_disk_before_it_lifts_the_bind(fleet, row):
    """The switch fails (as a labelling error would) after the old disk was unmounted and the bind mounted; by
    then the disk's filesystem is not the one the move recorded (its UUID changed while it was unmounted, as a
    reused disk's would).  The rollback proves the disk before it lifts the bind: the bind stays and Docker is
    started on the new root through it, the message names the disk, and the journal says Docker served there
    (a rerun copies that back once the disk is right)."""
    fingerprint, line, device, fstab = old_disk(fleet)
    with paused(fleet, {"path": TARGET}, "switch_after_unmount", {"DOCKYARD_MIGRATE_FAULT": "switch"}) as box:
        assert mount_source(fleet, "/var/lib/docker") == "not-mounted"
        sh(fleet, "e2fsck -fy %s >/dev/null 2>&1; tune2fs -U random %s >/dev/null" % (device, device))
        uuid = sh(fleet, "blkid -p -o value -s UUID %s" % device).strip()
        # Every mount and unmount on the root from here on, as the kernel reports it.
        sh(fleet, "setsid timeout 600 findmnt --poll --mountpoint /var/lib/docker -n -o ACTION "
           ">/run/root-polls.txt 2>&1 </dev/null & sleep 1")
    time.sleep(1)
    polls = sh(fleet, "pkill -x findmnt; cat /run/root-polls.txt").split()
    res = box["r"]
    # The switch mounted the bind; the rollback never lifted it (before, it did, and systemd mounted fstab's
    # bind line again to start Docker).
    assert polls == ["mount"], polls
    assert uuid and uuid not in line, (uuid, line)
    assert res.get("failed") and "made to fail" in res["msg"] and "the rollback stopped" in res["msg"], res
    assert "the original disk's fstab source %s names no device" % line.split()[0] in res["msg"], res["msg"]
    assert "Docker was started all the same and serves from /var/lib/docker" in res["msg"], res["msg"]
    assert re.match(r"/dev/loop\d+\[/docker\]$", mount_source(fleet, "/var/lib/docker"))
    serving(fleet, "/var/lib/docker", fingerprint)
    m = json.loads(sh(fleet, "cat " + MARKER))
    assert m["phase"] == "rollback" and m.get("served") is True and not m.get("copied_back"), m
    row("2. the root is its own disk; the switch fails after the bind is mounted, and the old disk's filesystem "
        "is no longer the one recorded (its UUID changed while unmounted)", "the rollback stopped before lifting "
        "the bind (\"%s names no device\"; the kernel saw the bind mounted once and never unmounted); Docker was "
        "started on the new root through it, containers running, inventory equal; the journal records that Docker "
        "served there" % line.split()[0])


def test_root_on_its_own_filesystem_without_an_fstab_line_is_refused(fleet, row):
    fleet.reset(HOST, seed=False)
    sh(fleet, "systemctl stop docker.socket docker.service && mount -t tmpfs -o size=300m olddisk /var/lib/docker && "
       "systemctl start docker.socket docker.service && docker info >/dev/null")
    res = refused(fleet, {"path": TARGET}, "/var/lib/docker is the mount point of its own filesystem (olddisk, "
                  "tmpfs), and fstab holds no line for /var/lib/docker")
    row("2. the root is its own filesystem (tmpfs) without an fstab line, method bind", unchanged(res))
