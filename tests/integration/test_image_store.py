# -*- coding: utf-8 -*-
"""image_store on Docker 26.1 (Debian trixie) and 28.5 (forky's packages on trixie): a seeded host converted from the classic store to containerd's image
store and back, its containers kept with their writable layers (a file added, one changed, one deleted, a directory
deleted and made again, a hard link, an extended attribute), the running set kept, a reboot after the conversion,
and reruns that change nothing.  Each result is checked with Docker's own client and the kernel's view of the
containers' files, not with the module's report."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
import threading

import pytest

# kind: (host, fleet suite)
KINDS = {"docker26": ("h14", "trixie"), "docker28": ("h15", "docker28")}
MODULE = "dockyard.migrate.image_store"
CHANGES = ("echo added > /added.txt && echo changed > /etc/seed-release && busybox rm /bin/wc && "
           "busybox rm -rf /app && mkdir /app && echo fresh > /app/fresh && mkdir /hl && echo hl > /hl/a && "
           "ln /hl/a /hl/b")


FAILPOINT = "DOCKYARD_MIGRATE_FAILPOINT"


class On:
    """A fleet and one of its hosts."""

    def __init__(self, fleet, host):
        self.fleet = fleet
        self.host = host

    def sh(self, *argv, **kwargs):
        return self.fleet.sh(self.host, *argv, **kwargs)

    def module(self, *args, **kwargs):
        return self.fleet.module(self.host, *args, **kwargs)


def sh(fleet, script):
    return fleet.sh("sh", "-c", script)


def run_paused(fleet, args, point, change):
    """The module run with ARGS in a thread of its own, paused at POINT while CHANGE(fleet) runs on the host (as a
    busy host would change meanwhile), then released; its result, once it ended (within 600 s)."""
    box = {}
    t = threading.Thread(target=lambda: box.update(r=fleet.module(MODULE, args, diff=True, env={
        "DOCKYARD_MIGRATE_PAUSE": point})))
    t.start()
    try:
        sh(fleet, "for i in $(seq 1 1200); do test -e /run/dockyard-migrate/paused.%s && exit 0; sleep 0.1; done; "
                  "exit 1" % point)
        change(fleet)
    finally:
        sh(fleet, "rm -f /run/dockyard-migrate/paused.%s" % point)
        t.join(600)
    assert not t.is_alive(), "the module did not end within 600 s of its release"
    return box["r"]


def journal(fleet):
    return json.loads(sh(fleet, "cat /var/lib/.docker.dockyard-image-store.json"))


def store(fleet):
    """The store Docker runs, as `docker info` says."""
    info = json.loads(sh(fleet, "docker info --format '{{json .}}'"))
    types = [v for k, v in info.get("DriverStatus") or [] if k == "driver-type"]
    return info["Driver"], "containerd" if types == ["io.containerd.snapshotter.v1"] else "classic"


def state(fleet):
    """Tags, containers with their state, and what the web container's files show."""
    tags = sorted(sh(fleet, "docker image ls --format '{{.Repository}}:{{.Tag}}'").split())
    # An exited container comes back created (its exit code is not carried): the running set is what is kept.
    running = "'{{.Names}}={{if eq .State \"running\"}}running{{else}}stopped{{end}}'"
    containers = sorted(sh(fleet, "docker ps -a --format " + running).split())
    files = sh(fleet, "docker exec web sh -c 'cat /added.txt /etc/seed-release /tmp/state /app/fresh; ls /app; "
                      "ls /bin/wc 2>&1 || true; busybox stat -c %i /hl/a /hl/b; cat /data/site/page.txt' && "
                      "getfattr -n user.k --only-values /proc/$(docker inspect -f '{{.State.Pid}}' web)/root/added.txt;"
                      " echo; docker cp batch:/tmp/out - | tar -xO")
    lines = files.splitlines()
    # The sidecar: in web's network namespace, named by web's ID as it is now, with web's volume (read-only).
    if "sidecar=running" in containers:
        lines += sh(fleet, "pid() { docker inspect -f '{{.State.Pid}}' $1; }; "
                           "[ $(readlink /proc/$(pid web)/ns/net) = $(readlink /proc/$(pid sidecar)/ns/net) ] && "
                           "echo same-netns; [ $(docker inspect -f '{{.HostConfig.NetworkMode}}' sidecar) = "
                           "container:$(docker inspect -f '{{.Id}}' web) ] && echo names-web; "
                           "docker exec sidecar cat /data/site/page.txt").splitlines()
    if [c for c in containers if c.startswith("hostnet=")]:  # on the host's network, in its network namespace
        lines += sh(fleet, "docker inspect -f '{{.HostConfig.NetworkMode}}' hostnet; [ $(readlink /proc/$(docker "
                           "inspect -f '{{.State.Pid}}' hostnet)/ns/net) = $(readlink /proc/1/ns/net) ] && "
                           "echo host-netns").splitlines()
    # Each container's image, by its layers (its ID differs between the stores); then the images without a tag, by
    # their labels and layers (the one no container uses has the label unused=1).
    images = sh(fleet, "for c in $(docker ps -aq); do docker image inspect -f '{{json .RootFS.Layers}}' "
                       "$(docker inspect -f '{{.Image}}' $c); done | sort; for i in $(docker image ls -q --filter "
                       "dangling=true); do docker image inspect -f '{{json .Config.Labels}} {{json .RootFS.Layers}}' "
                       "$i; done | sort")
    # the hard link pair: one inode (its number is the new store's own)
    return tags, containers, lines[:6] + ["hard-linked" if lines[6] == lines[7] else "apart"] + lines[8:], images


def booted(fleet, by_hand, always=True):
    """The host after a boot: web runs again, the containers with no restart policy that ran (BY_HAND) started by
    hand, as a boot leaves them stopped; the stopped container with the restart policy always (ALWAYS) was started
    by Docker's start, as the old store's Docker would have started it (the conversion gave its new container its
    exited state), and is stopped again.  Returns the exit code and end time of the container ended."""
    sh(fleet, "for i in $(seq 1 120); do docker exec web true 2>/dev/null && exit 0; sleep 0.5; done; exit 1")
    sh(fleet, "docker start %s >/dev/null" % by_hand)
    if always:
        sh(fleet, "for i in $(seq 1 100); do [ \"$(docker inspect -f '{{.State.Running}}' always)\" = true ] && "
                  "exit 0; sleep 0.1; done; echo 'always was not started by the boot' >&2; exit 1")
        sh(fleet, "docker stop -t 1 always >/dev/null")
    return sh(fleet, "docker inspect -f '{{.State.ExitCode}} {{.State.FinishedAt}}' ended").strip()


def held(fleet, other):
    """What the store Docker does not run holds, as the host's files and containerd show it."""
    made_with = "grep -l '\"Driver\":\"%s\"' /var/lib/docker/containers/*/config.v2.json 2>/dev/null | wc -l" % (
        "overlay2" if other == "classic" else "overlayfs")
    if other == "classic":
        return sh(fleet, "cd /var/lib/docker && ls -d overlay2 image/overlay2 2>/dev/null; " + made_with).split()
    # containerd's images, then its snapshots (a container's own, its -init one, the images' unpacked layers)
    return sh(fleet, "ctr -n moby images ls -q | wc -l; ctr -n moby snapshots --snapshotter overlayfs ls | "
                     "tail -n +2 | grep -c . || true; " + made_with).split()


def untouched(fleet, other):
    """A fingerprint of the store Docker does not run and of the journal: every path (with its size in the classic
    store's layers), containerd's snapshots and images."""
    paths = "find /var/lib/docker/containers -printf '%p\\n'; "
    if other == "classic":
        paths += "find /var/lib/docker/overlay2 /var/lib/docker/image/overlay2 -printf '%p %s\\n'; "
    else:
        paths += "ctr -n moby snapshots --snapshotter overlayfs ls; ctr -n moby images ls -q; "
    return sh(fleet, "(%s cat /var/lib/.docker.dockyard-image-store.json) | sort | md5sum" % paths)


def clean_after_soak(fleet, running, before, kill=False):
    """The store a conversion to RUNNING left behind: kept until the soak is over, then removed (a kill part way
    finished by a rerun), the host's images, containers and their files as they were."""
    other = "classic" if running == "containerd" else "containerd"
    kept, print_ = held(fleet, other), untouched(fleet, other)
    assert kept != (["0", "0", "0"] if other == "containerd" else ["0"]), kept
    no = fleet.module(MODULE, {"store": running, "state": "cleaned"}, expect="failed")
    assert no.get("failed_phase") == "preflight" and "soak_days=7" in no["msg"] and not no["changed"], no
    assert untouched(fleet, other) == print_
    plan = fleet.module(MODULE, {"store": running, "state": "cleaned", "soak_days": 0}, check_mode=True, diff=True)
    assert plan["changed"] and plan["inactive_store"]["store"] == other and plan["inactive_store"]["bytes"] > 0, plan
    assert plan["removed"] and plan["diff"]["after"] == "" and untouched(fleet, other) == print_, plan
    if kill:
        killed = fleet.module(MODULE, {"store": running, "state": "cleaned", "soak_days": 0},
                              env={FAILPOINT: "store_during_cleanup"}, expect="failed")
        assert killed.get("rc") in (137, -9) and "Killed" in killed.get("module_stderr", ""), (killed.get("msg"), killed)
        assert journal(fleet)["cleanup"]["store"] == other and "finished" not in journal(fleet)["cleanup"]
        # Killed once the first container's directory is gone: the store's layers or images are all still there.
        now = held(fleet, other)
        assert now[:-1] == kept[:-1] and int(now[-1]) == int(kept[-1]) - 1, (now, kept)
    res = fleet.module(MODULE, {"store": running, "state": "cleaned", "soak_days": 0})
    assert res["changed"] and res["freed_bytes"] > 0 and res["inactive_store"]["containers"] == [], res
    assert held(fleet, other) == (["0", "0", "0"] if other == "containerd" else ["0"]), held(fleet, other)
    assert state(fleet) == before
    again = fleet.module(MODULE, {"store": running, "state": "cleaned", "soak_days": 0})
    assert again["changed"] is False and not again.get("failed"), again


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_classic_to_containerd_and_back_keeps_images_containers_and_writable_layers(fleet_hosts, kind, tmp_path):
    host, suite = KINDS[kind]
    fleet_hosts.up_extra("--first", host[1:], "--hosts", "1", "--suite", suite)
    fleet_hosts.reset(host)
    fleet = On(fleet_hosts, host)
    sh(fleet, "docker exec web sh -c '%s' && setfattr -n user.k -v v "
              "/proc/$(docker inspect -f '{{.State.Pid}}' web)/root/added.txt" % CHANGES)
    # A running container without a restart policy (a switch back must start it again), and web's tag moved to
    # another image since web was made (web comes back on its own image, through the tag that still names it).
    sh(fleet, "docker run -d --name norestart --network none seed/tool:1 sh -c 'trap \"exit 0\" TERM; "
              "while true; do sleep 1; done' >/dev/null && docker tag seed/app:2 seed/app:kept && "
              "docker tag seed/app:1 seed/app:2")
    # A sidecar in web's network namespace (named by web's ID) with web's volumes (by name): made after web in the
    # new store, naming web's new ID, and started after it.
    sh(fleet, "docker run -d --name sidecar --network container:$(docker inspect -f '{{.Id}}' web) --volumes-from "
              "web:ro seed/tool:1 sh -c 'trap \"exit 0\" TERM; while true; do sleep 1; done' >/dev/null")
    # A container on the host's network (the machine's own, as the fleet host's is): its mode carried as it is.
    sh(fleet, "docker run -d --name hostnet --network host --restart unless-stopped seed/tool:1 sh -c "
              "'trap \"exit 0\" TERM; while true; do sleep 1; done' >/dev/null")
    # Containers made from an image by its ID (one with a tag, one without), on an image whose only tag moved to
    # another since or was taken away while it ran, and from a tag taken away from an image that keeps another.
    untagged = sh(fleet, "docker commit spare").strip()
    loop = "sh -c 'trap \"exit 0\" TERM; while true; do sleep 1; done' >/dev/null"
    sh(fleet, " && ".join((
        "docker run -d --name byid --network none %s %s" % (untagged[7:19], loop),
        "docker create --name byid2 --network none $(docker image inspect -f '{{.Id}}' seed/tool:1) true >/dev/null",
        "docker tag %s seed/rebuilt:1" % untagged,
        "docker create --name rebuilt --network none seed/rebuilt:1 >/dev/null",
        "docker tag seed/tool:1 seed/rebuilt:1",
        "docker tag %s seed/once:1" % untagged,
        "docker run -d --name once --network none seed/once:1 %s" % loop,
        "docker rmi -f seed/once:1 >/dev/null",  # it runs: the image stays, without a tag
        "docker tag seed/tool:1 seed/tool:gone",
        "docker create --name gone --network none seed/tool:gone true >/dev/null",
        "docker rmi seed/tool:gone >/dev/null",
        # stopped, restart policy always: Docker would start it at its next start; made again, it is created
        "docker run -d --name always --network none --restart always seed/tool:1 %s" % loop,
        "docker stop -t 1 always >/dev/null")))
    # An image without a tag that no container uses (a rebuild left it): carried too.
    unused = sh(fleet, "docker commit --change 'LABEL unused=1' spare").strip()
    assert sorted(sh(fleet, "docker image ls -q --no-trunc --filter dangling=true").split()) == sorted(
        [untagged, unused])
    # ended: ran, and ended with exit code 3
    sh(fleet, "docker run --pull never --name ended --network none seed/tool:1 sh -c 'exit 3' || true")
    exited = sh(fleet, "docker inspect -f '{{.State.ExitCode}} {{.State.FinishedAt}}' ended").strip()
    assert exited.startswith("3 ") and not exited.endswith("0001-01-01T00:00:00Z"), exited
    assert store(fleet) == ("overlay2", "classic")
    before = state(fleet)
    tags, containers, files, _images = before
    assert files[:4] == ["added", "changed", "runtime", "fresh"] and files[4] == "fresh", files
    assert "No such file" in files[5] and files[6:] == ["hard-linked", "hello", "v", "done", "same-netns",
                                                        "names-web", "hello", "host", "host-netns"], files
    assert "web=running" in containers and "norestart=running" in containers and "spare=stopped" in containers
    assert "sidecar=running" in containers and "hostnet=running" in containers
    assert "byid=running" in containers and "once=running" in containers and "<none>:<none>" in tags
    daemon_json = sh(fleet, "cat /etc/docker/daemon.json")
    # Refused in preflight, nothing changed: daemon.json naming a storage driver would decide the new store's (but
    # overlay2, which the switch takes away: the vfs test).
    sh(fleet, "cp /etc/docker/daemon.json /root/daemon.json && python3 -c 'import json; p=\"/etc/docker/daemon.json\"; "
              "d=json.load(open(p)); d[\"storage-driver\"]=\"btrfs\"; d[\"storage-opts\"]=[\"overlay2.size=8G\"]; "
              "json.dump(d, open(p, \"w\"))'")
    edited = sh(fleet, "cat /etc/docker/daemon.json")
    try:
        no = fleet.module(MODULE, {"store": "containerd"}, expect="failed")
        assert no.get("failed_phase") == "preflight" and "daemon.json sets storage-driver (btrfs)" in no["msg"], no
        # a size limit on the writable layers, which containerd's store would ignore (it starts with it)
        assert "daemon.json's storage-opts limit each container's writable layer (overlay2.size=8G)" in no["msg"], no
        assert sh(fleet, "cat /etc/docker/daemon.json") == edited and store(fleet) == ("overlay2", "classic")
        assert not no["changed"] and state(fleet) == before
    finally:
        sh(fleet, "cp /root/daemon.json /etc/docker/daemon.json")

    plan = fleet.module(MODULE, {"store": "containerd"}, check_mode=True, diff=True)
    assert plan["changed"] and sorted(plan["containers"]) == [
        "always", "batch", "byid", "byid2", "ended", "gone", "hostnet", "norestart", "once", "rebuilt", "sidecar",
        "spare", "web", "worker"], plan
    assert plan["untagged_images"] == sorted([untagged, unused]) and plan["not_carried"] == [], plan
    assert plan["stopped_always"] == ["always"] and plan["restarted_by_docker"] == ["always"], plan
    assert "containers always are stopped, and their restart policy has Docker start them at its next start" in \
        " ".join(plan.get("warnings") or []), plan
    assert plan["containers"].index("web") < plan["containers"].index("sidecar"), plan["containers"]
    assert sorted(plan["images"] + ["<none>:<none>"] * 2) == tags, plan
    assert json.loads(plan["diff"]["after"])["features"]["containerd-snapshotter"] is True, plan["diff"]
    assert sh(fleet, "cat /etc/docker/daemon.json") == daemon_json and store(fleet)[1] == "classic"

    # Killed (SIGKILL) with Docker stopped and daemon.json switched: the rerun puts the old store back in
    # service first (nothing ran on the new one), then converts.
    killed = fleet.module(MODULE, {"store": "containerd"}, env={FAILPOINT: "store_after_switch"},
                          expect="failed")
    assert killed.get("rc") in (137, -9) and "Killed" in killed.get("module_stderr", ""), killed
    assert journal(fleet)["phase"] == "switch"
    assert fleet.sh("systemctl", "is-active", "docker.service", check=False).strip() == "inactive"
    res = fleet.module(MODULE, {"store": "containerd"})
    assert not res.get("failed") and res["changed"] and res["store_after"] == "containerd", res
    assert "rolled back the conversion interrupted in phase switch" in res["actions"], res["actions"]
    assert 0 < res["downtime_seconds"] and 0 < res["images_seconds"], res
    # The images went from the classic store's own files (no docker save, which spools them to disk first).
    assert "imported 1 images without a tag that containers use, each under a tag of its own until the conversion " \
        "is done" in res["actions"] and "imported 1 images without a tag that no container uses, kept without one" \
        in res["actions"], res["actions"]
    assert "imported %d tags into containerd's image store, read from the classic store's files" % (len(tags) - 2) in \
        res["actions"], res["actions"]
    assert store(fleet) == ("overlayfs", "containerd")
    assert state(fleet) == before
    again = fleet.module(MODULE, {"store": "containerd"})
    assert not again.get("failed") and again["changed"] is False, again

    fleet_hosts.reboot(host)
    assert booted(fleet, "norestart sidecar byid once") == exited, exited  # ended: its exit code and end time kept
    assert store(fleet)[1] == "containerd" and state(fleet) == before

    # Converted back: what the containers wrote on the containerd store comes along.
    sh(fleet, "docker exec web sh -c 'echo later > /later.txt'")
    # Killed once the containers are made in the classic store, before they start: the rerun finishes forward.
    killed = fleet.module(MODULE, {"store": "classic"}, env={FAILPOINT: "store_before_start"},
                          expect="failed")
    assert killed.get("rc") in (137, -9) and "Killed" in killed.get("module_stderr", ""), (killed.get("msg"), killed)
    assert journal(fleet)["phase"] == "start" and store(fleet)[1] == "classic"
    back = fleet.module(MODULE, {"store": "classic"})
    assert not back.get("failed") and back["changed"] and back["store_after"] == "classic", back
    assert "finished the conversion interrupted in phase start" in back["actions"], back["actions"]
    assert store(fleet) == ("overlay2", "classic")
    assert state(fleet) == before
    assert sh(fleet, "docker exec web cat /later.txt").strip() == "later"
    # The playbook on a host that runs the asked store: unchanged, and its report says so.
    report = str(tmp_path / "report.json")
    out = fleet_hosts.playbook("playbooks/convert_image_store.yml", extra={
        "docker_image_store": "classic", "migrate_hosts": host, "migrate_report_file": report})
    with open(report) as f:
        doc = json.load(f)
    assert doc["outcome"] == "success" and doc["store"] == "classic", (doc, out.stdout[-3000:])
    assert [(r["host"], r["status"], r["store_before"]) for r in doc["hosts"]] == [(host, "unchanged", "classic")]
    if kind != "docker26":
        # Killed (SIGKILL) in each phase, the directions in turn, and run again: the kill landed where claimed (the
        # journal's phase; while the images stream, the status file's), the rerun rolls back or finishes forward as the phase
        # says, and everything is as it was.  Back to classic, the images the classic store still holds are tagged
        # there, not loaded again.
        status = "/root/image_store.status.json"
        for target, point, phase, then in (
                ("containerd", "store_after_record", "record", None),
                ("classic", "store_during_images", "switch", "rolled back"),
                ("containerd", "store_during_images", "images", None),
                ("classic", "store_after_stop", "stop", "rolled back"),
                ("containerd", "store_during_containers", "containers", "rolled back"),
                ("classic", "store_before_verify", "verify", "finished")):
            killed = fleet.module(MODULE, {"store": target, "status_file": status}, env={FAILPOINT: point},
                                  expect="failed")
            assert killed.get("rc") in (137, -9) and "Killed" in killed.get("module_stderr", ""), (
                point, killed.get("msg"), killed)
            assert (journal(fleet)["phase"], journal(fleet)["target"]) == (phase, target), (point, journal(fleet))
            if (target, point) == ("containerd", "store_during_images"):
                shown = json.loads(sh(fleet, "cat " + status))
                assert shown["phase"] == "images", shown
            res = fleet.module(MODULE, {"store": target})
            assert not res.get("failed") and res["changed"] and res["store_after"] == target, (point, res)
            assert not then or "%s the conversion interrupted in phase %s" % (then, phase) in res["actions"], (
                point, res["actions"])
            if target == "classic" and not then == "finished":
                assert "tagged %d tags whose images the classic store still held" % (len(tags) - 2) in \
                    res["actions"] and not [a for a in res["actions"] if a.startswith("loaded")], res["actions"]
            assert store(fleet)[1] == target and state(fleet) == before, point
        # The containerd store the conversion back left behind, removed by the cleanup playbook once the soak is
        # over; before that the host is refused and left as it was.
        kept, cleanup = held(fleet, "containerd"), str(tmp_path / "cleanup.json")
        assert kept[0] != "0", kept
        for soak, status, rc in ((7, "failed", 2), (0, "removed", 0)):
            out = fleet_hosts.playbook("playbooks/cleanup_image_store.yml", check=False, extra={
                "docker_image_store": "classic", "docker_image_store_soak_days": soak, "migrate_hosts": host,
                "migrate_report_file": cleanup})
            with open(cleanup) as f:
                doc = json.load(f)
            assert out.returncode == rc and [r["status"] for r in doc["hosts"]] == [status], (doc, out.stdout[-3000:])
            assert held(fleet, "containerd") == (kept if soak else ["0", "0", "0"]), held(fleet, "containerd")
            assert not soak or "soak_days=7" in doc["hosts"][0]["error"]["message"], doc
        assert doc["freed_bytes"] > 0 and doc["settings"] == {"store": "classic", "soak_days": 0.0}, doc
        assert state(fleet) == before
        # The rollback playbook puts the host back on the store its last conversion came from (containerd, whose
        # store was just removed: everything is carried anew); run again, it changes nothing.
        rollback = str(tmp_path / "rollback.json")
        for status in ("converted", "unchanged"):
            out = fleet_hosts.playbook("playbooks/rollback_image_store.yml", extra={
                "migrate_hosts": host, "migrate_report_file": rollback})
            with open(rollback) as f:
                doc = json.load(f)
            assert [(r["host"], r["status"]) for r in doc["hosts"]] == [(host, status)], (doc, out.stdout[-3000:])
            assert store(fleet)[1] == "containerd" and state(fleet) == before
        assert doc["hosts"][0]["store_before"] == "containerd" and journal(fleet)["undo"] is True, doc
        return
    # The playbook converting the host, with the migration's hooks around it and the conversion's progress shown.
    pre, post = tmp_path / "pre.yml", tmp_path / "post.yml"
    pre.write_text("- name: Drain\n  ansible.builtin.copy:\n    content: \"drained\\n\"\n    dest: /root/pre-hook\n"
                   "    mode: \"0644\"\n")
    post.write_text("- name: Back in service\n  ansible.builtin.copy:\n"
                    "    content: \"{{ image_store_result.status }}\\n\"\n    dest: /root/post-hook\n    mode: \"0644\"\n")
    out = fleet_hosts.playbook("playbooks/convert_image_store.yml", extra={
        "docker_image_store": "containerd", "migrate_hosts": host, "migrate_report_file": report,
        "migrate_pre_host_tasks": str(pre), "migrate_post_host_tasks": str(post),
        "docker_root_progress_interval": 0.2})
    with open(report) as f:
        doc = json.load(f)
    assert [(r["host"], r["status"], r["store_after"]) for r in doc["hosts"]] == [(host, "converted", "containerd")], \
        (doc, out.stdout[-3000:])
    assert sh(fleet, "cat /root/pre-hook /root/post-hook").split() == ["drained", "converted"]
    shown = re.findall(r"%s: (record|images|stop|switch|containers|start|verify|done)\b" % host, out.stdout)
    # Lines are printed when the status file has changed since the last poll: some phases, not every one.
    assert len(set(shown)) >= 2, (shown, out.stdout[-3000:])
    assert store(fleet) == ("overlayfs", "containerd") and state(fleet) == before
    assert doc["hosts"][0]["inactive_store"]["store"] == "classic" and doc["hosts"][0]["inactive_store"]["bytes"] > 0

    # After the soak, the classic store the conversion left behind is removed; back to classic from an empty classic
    # store, everything carried anew, a reboot after it; then the containerd store it left is removed.
    clean_after_soak(fleet, "containerd", before, kill=True)
    back = fleet.module(MODULE, {"store": "classic"})
    assert back["changed"] and back["store_after"] == "classic" and back["inactive_store"]["store"] == "containerd"
    # The classic store was removed: every image is loaded again, none found there to tag.
    assert "loaded %d tags into the classic store, and 2 images without a tag" % (
        len(tags) - 2) in back["actions"] and not [
        a for a in back["actions"] if a.startswith("tagged")], back["actions"]
    fleet_hosts.reboot(host)
    assert booted(fleet, "norestart sidecar byid once") == exited, exited
    assert store(fleet) == ("overlay2", "classic") and state(fleet) == before
    clean_after_soak(fleet, "classic", before)


def vfs_held(fleet):
    """What the vfs store holds: its directories under Docker's root, and the containers made with vfs."""
    return sh(fleet, "cd /var/lib/docker && ls -d vfs image/vfs 2>/dev/null; grep -l '\"Driver\":\"vfs\"' "
                     "containers/*/config.v2.json 2>/dev/null | wc -l").split()


@pytest.mark.timeout(1800)  # a first run builds and seeds its host
def test_vfs_to_overlay2_keeps_images_containers_and_writable_layers(fleet_hosts):
    """A classic store on the vfs driver (Docker 26.1) converted to overlay2 (driver: overlay2): refused while vfs
    is chosen outside daemon.json; the images loaded from the vfs store's files, each container's writable layer
    carried as the difference of its vfs tree from its parent's, a kill while the images load rolled back, a
    reboot, a rerun that changes nothing, and the vfs store removed after the soak; then to containerd's store and
    back, daemon.json's storage-driver taken away and put back."""
    host = "h17"
    fleet_hosts.up_extra("--first", host[1:], "--hosts", "1", "--suite", "trixie", "--driver", "vfs")
    fleet_hosts.reset(host)
    fleet = On(fleet_hosts, host)
    sh(fleet, "docker exec web sh -c '%s' && setfattr -n user.k -v v "
              "/proc/$(docker inspect -f '{{.State.Pid}}' web)/root/added.txt" % CHANGES)
    # norestart, made now (its tree's ctimes tell what it changed since), rewrites a file of its image with the same
    # size and puts its time back: only the inode's change time shows it.
    sh(fleet, "docker run -d --name norestart --network none seed/tool:1 sh -c 'trap \"exit 0\" TERM; "
              "while true; do sleep 1; done' >/dev/null && docker exec norestart sh -c 'cp -p /etc/seed-release "
              "/tmp/ref && echo SEED BASE > /etc/seed-release && touch -r /tmp/ref /etc/seed-release'")
    same_stat = "busybox stat -c '%s %Y' /tmp/ref /etc/seed-release"
    sizes = sh(fleet, "docker exec norestart " + same_stat).split("\n")[:2]
    assert sizes[0] == sizes[1] and sh(fleet, "docker exec norestart cat /etc/seed-release").strip() == "SEED BASE"
    # A container on an image whose only tag moved to another since (a rebuild): that image goes by its ID.
    untagged = sh(fleet, "docker commit spare").strip()
    sh(fleet, "docker tag %s seed/rebuilt:1 && docker create --name rebuilt --network none seed/rebuilt:1 >/dev/null "
              "&& docker tag seed/tool:1 seed/rebuilt:1" % untagged)
    unused = sh(fleet, "docker commit --change 'LABEL unused=1' spare").strip()  # no container uses it
    # ended: ran, and ended with exit code 3
    sh(fleet, "docker run --pull never --name ended --network none seed/tool:1 sh -c 'exit 3' || true")
    exited = sh(fleet, "docker inspect -f '{{.State.ExitCode}} {{.State.FinishedAt}}' ended").strip()
    assert exited.startswith("3 ") and not exited.endswith("0001-01-01T00:00:00Z"), exited
    assert store(fleet) == ("vfs", "classic")
    before = state(fleet)
    tags, containers, files, _images = before
    assert files[:5] == ["added", "changed", "runtime", "fresh", "fresh"] and "No such file" in files[5], files
    assert files[6:] == ["hard-linked", "hello", "v", "done"], files
    assert "web=running" in containers and "norestart=running" in containers and "spare=stopped" in containers
    daemon_json = sh(fleet, "cat /etc/docker/daemon.json")
    # vfs chosen outside daemon.json (DOCKER_DRIVER in docker.service's environment): a storage-driver written to
    # daemon.json would not be obeyed, so the conversion is refused, nothing changed.
    sh(fleet, "cp /etc/docker/daemon.json /root/daemon.json && python3 -c 'import json; p=\"/etc/docker/daemon.json\"; "
              "d=json.load(open(p)); del d[\"storage-driver\"]; json.dump(d, open(p, \"w\"))' && "
              "mkdir -p /etc/systemd/system/docker.service.d && printf '[Service]\\nEnvironment=DOCKER_DRIVER=vfs\\n' "
              "> /etc/systemd/system/docker.service.d/driver.conf && systemctl daemon-reload && systemctl restart docker"
              " && docker start norestart >/dev/null && "
              "for i in $(seq 1 120); do docker exec web true 2>/dev/null && exit 0; sleep 0.5; done; exit 1")
    try:
        assert store(fleet) == ("vfs", "classic") and "DOCKER_DRIVER=vfs" in sh(
            fleet, "systemctl show -p Environment docker.service")
        edited = sh(fleet, "cat /etc/docker/daemon.json")
        no = fleet.module(MODULE, {"store": "classic", "driver": "overlay2"}, expect="failed")
        assert no.get("failed_phase") == "preflight" and "does not set \"storage-driver\": \"vfs\"" in no["msg"], no
        assert not no["changed"] and sh(fleet, "cat /etc/docker/daemon.json") == edited and state(fleet) == before
    finally:
        sh(fleet, "rm /etc/systemd/system/docker.service.d/driver.conf && cp /root/daemon.json /etc/docker/daemon.json"
                  " && systemctl daemon-reload && systemctl restart docker && docker start norestart >/dev/null && "
                  "for i in $(seq 1 120); do docker exec web true 2>/dev/null && exit 0; sleep 0.5; done; exit 1")
    assert store(fleet) == ("vfs", "classic") and state(fleet) == before
    # Straight to containerd's store: refused, nothing changed; without driver the classic store is what runs.
    no = fleet.module(MODULE, {"store": "containerd"}, expect="failed")
    assert no.get("failed_phase") == "preflight" and "convert it to overlay2 first" in no["msg"], no
    assert not no["changed"] and sh(fleet, "cat /etc/docker/daemon.json") == daemon_json and state(fleet) == before
    same = fleet.module(MODULE, {"store": "classic"})
    assert same["changed"] is False and same["store_after"] == "classic", same
    plan = fleet.module(MODULE, {"store": "classic", "driver": "overlay2"}, check_mode=True, diff=True)
    assert plan["changed"] and plan["store_before"] == "vfs" and sorted(
        plan["images"] + ["<none>:<none>"] * 2) == tags
    assert plan["untagged_images"] == sorted([untagged, unused]), plan
    assert json.loads(plan["diff"]["after"])["storage-driver"] == "overlay2", plan["diff"]
    assert sh(fleet, "cat /etc/docker/daemon.json") == daemon_json and store(fleet) == ("vfs", "classic")

    # Killed while the images load into overlay2 (Docker already started on it): the next run puts Docker back on
    # vfs, then converts.
    status = "/root/image_store.status.json"
    killed = fleet.module(MODULE, {"store": "classic", "driver": "overlay2", "status_file": status},
                          env={FAILPOINT: "store_during_images"}, expect="failed")
    assert killed.get("rc") in (137, -9) and "Killed" in killed.get("module_stderr", ""), killed
    assert journal(fleet)["phase"] == "switch" and json.loads(sh(fleet, "cat " + status))["phase"] == "images"
    assert store(fleet) == ("overlay2", "classic")
    # Run again, killed while the containers are made (the kill lands in phase containers: the rerun first put
    # Docker back on vfs and converted anew), and again, killed before the verification (phase verify: the new
    # containers ran), then once more: the conversion is finished forward.
    for point, phase in (("store_during_containers", "containers"), ("store_before_verify", "verify")):
        killed = fleet.module(MODULE, {"store": "classic", "driver": "overlay2"}, env={FAILPOINT: point},
                              expect="failed")
        assert killed.get("rc") in (137, -9) and "Killed" in killed.get("module_stderr", ""), (point, killed)
        assert journal(fleet)["phase"] == phase and store(fleet) == ("overlay2", "classic"), (point, journal(fleet))
    res = fleet.module(MODULE, {"store": "classic", "driver": "overlay2"})
    assert not res.get("failed") and res["changed"] and res["store_after"] == "classic", res
    assert "finished the conversion interrupted in phase verify" in res["actions"], res["actions"]
    assert store(fleet) == ("overlay2", "classic")
    assert json.loads(sh(fleet, "cat /etc/docker/daemon.json"))["storage-driver"] == "overlay2"
    assert state(fleet) == before
    # The layers carried hold only what each container changed: web's upper directory has its own files and
    # whiteouts (0:0 character devices) for what it deleted, not the image's files.
    upper = sh(fleet, "cd $(docker inspect -f '{{.GraphDriver.Data.UpperDir}}' web) && find . -printf '%y %p\\n' | "
                      "sort && stat -c '%F %t:%T' bin/wc app/blob").splitlines()
    assert [p for p in upper if p.startswith(("f ", "c "))] == [
        "c ./app/blob", "c ./app/extra", "c ./app/extra.link", "c ./app/version", "c ./bin/wc", "f ./added.txt",
        "f ./app/fresh", "f ./etc/seed-release", "f ./hl/a", "f ./hl/b", "f ./tmp/state"], upper
    assert upper[-2:] == ["character special file 0:0"] * 2, upper
    assert sh(fleet, "docker exec norestart cat /etc/seed-release").strip() == "SEED BASE"
    kept = sh(fleet, "cd $(docker inspect -f '{{.GraphDriver.Data.UpperDir}}' norestart) && find . -type f | sort")
    assert kept.split() == ["./etc/seed-release", "./tmp/ref"], kept
    again = fleet.module(MODULE, {"store": "classic", "driver": "overlay2"})
    assert not again.get("failed") and again["changed"] is False, again

    fleet_hosts.reboot(host)
    assert booted(fleet, "norestart", always=False) == exited, exited  # ended: exit code and end time from vfs
    assert store(fleet) == ("overlay2", "classic") and state(fleet) == before

    # Going on to containerd's store is refused while the vfs store is left (that conversion's journal would no
    # longer name it, and nothing would remove it), nothing changed.
    no = fleet.module(MODULE, {"store": "containerd"}, expect="failed")
    assert no.get("failed_phase") == "preflight" and "the vfs store the conversion to overlay2 left is still here" \
        in no["msg"], no
    assert not no["changed"] and store(fleet) == ("overlay2", "classic") and state(fleet) == before

    # The vfs store is kept until the soak is over, then removed; the host is as it was.
    kept = vfs_held(fleet)
    assert kept[:2] == ["image/vfs", "vfs"] and int(kept[2]) == len(containers), kept
    no = fleet.module(MODULE, {"store": "classic", "state": "cleaned"}, expect="failed")
    assert no.get("failed_phase") == "preflight" and "soak_days=7" in no["msg"] and vfs_held(fleet) == kept, no
    assert not no["changed"] and state(fleet) == before
    gone = fleet.module(MODULE, {"store": "classic", "state": "cleaned", "soak_days": 0})
    assert gone["changed"] and gone["freed_bytes"] > 0 and gone["inactive_store"]["store"] == "vfs", gone
    assert vfs_held(fleet) == ["0"] and state(fleet) == before
    again = fleet.module(MODULE, {"store": "classic", "state": "cleaned", "soak_days": 0})
    assert again["changed"] is False and not again.get("failed"), again

    # daemon.json's storage-driver (overlay2, written by the conversion from vfs) would name a snapshotter that does
    # not exist under containerd's store: it goes with the conversion there, and comes back with the one back.
    # Jobs that Docker removes once they end (docker run --rm): job1, running when the conversion is planned, and job2,
    # begun while the images are carried. Neither is carried nor stops the conversion: Docker's stop ends both, as a
    # restart of Docker would, and both are named.
    assert json.loads(sh(fleet, "cat /etc/docker/daemon.json"))["storage-driver"] == "overlay2"
    job = "--rm --pull never --network none seed/tool:1 sh -c 'trap \"exit 0\" TERM; while true; do sleep 1; done' >/dev/null"
    sh(fleet, "docker run -d --name job1 " + job)
    on = run_paused(fleet, {"store": "containerd"}, "store_during_images", lambda f: sh(
        f, "docker run -d --name job2 " + job))
    assert on["changed"] and on["store_after"] == "containerd" and on["ephemeral"] == ["job1", "job2"], on
    assert "job1" not in on["containers"] and "job2" not in on["containers"], on["containers"]
    # Were their directories left in the classic store by Docker's stop (Docker 26.1 removed them there; under
    # containerd's store they stay until Docker starts on that store again), that store's cleanup knows them.
    assert set(journal(fleet)["sources"]["classic"]) >= {"job1", "job2"}, journal(fleet)["sources"]
    assert "storage-driver" not in json.loads(on["diff"]["after"]), on["diff"]
    assert "storage-driver" not in json.loads(sh(fleet, "cat /etc/docker/daemon.json"))
    assert store(fleet) == ("overlayfs", "containerd") and state(fleet) == before
    back = fleet.module(MODULE, {"store": "previous"})
    assert back["changed"] and back["store_after"] == "classic", back
    assert json.loads(sh(fleet, "cat /etc/docker/daemon.json"))["storage-driver"] == "overlay2"
    assert store(fleet) == ("overlay2", "classic") and state(fleet) == before
    again = fleet.module(MODULE, {"store": "classic"})
    assert again["changed"] is False and not again.get("failed"), again
