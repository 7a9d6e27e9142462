"""Runs on a fleet host for figure 8 (an image store conversion): the host to convert, the baselines, and what the
disk was given.  Standard library only; every command prints one JSON line last.

    python3 host_store.py build MB IMAGES CONTAINERS RUNNING RW_MB
                                     IMAGES images sharing a base (about MB in all with the base), CONTAINERS
                                     containers made from them, RUNNING of them running (restart policy
                                     unless-stopped), each with RW_MB written to its writable layer
    python3 host_store.py restart RUNNING
                                     systemctl restart docker; the seconds until RUNNING containers run again
    python3 host_store.py io         after a sync, the bytes written to the machine's disks (/proc/diskstats), and
                                     those containerd and dockerd have written (their /proc/PID/io write_bytes)
    python3 host_store.py usage      bytes allocated by containerd's content store and overlayfs snapshots, and by
                                     the classic store (overlay2/, image/overlay2/); the containers' SizeRw
    python3 host_store.py reload RUNNING
                                     the remove-and-reload route to containerd's store: docker save of every tag
                                     to a file, stop, daemon.json switched, start, docker load, each container made
                                     again from its inspect (command, restart policy; not its writable layer) and
                                     the running ones started; then the containerd store emptied and daemon.json
                                     put back (Docker back on the classic store)
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import host_copy  # noqa: E402  pylint: disable=wrong-import-position

DAEMON_JSON = "/etc/docker/daemon.json"
ARCHIVE = "/var/tmp/bench-store.tar"


def run(*argv, check=True, stdin=None):
    return subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          check=check, input=stdin).stdout


def build(total_mb, images, containers, running, rw_mb):
    base_mb = total_mb // 2
    top_mb = max(1, (total_mb - base_mb) // images)
    # Only what the figure builds: every other container and image (the seed's) removed, seed/base:1 kept.
    run("sh", "-c", "docker rm -f $(docker ps -aq) >/dev/null 2>&1; docker rmi $(docker images --format "
        "'{{.Repository}}:{{.Tag}}' | grep -vx 'seed/base:1') >/dev/null 2>&1; docker image prune -f >/dev/null; true")

    def commit(src, name, mb, path):
        cid = run("docker", "create", "--network", "none", src, "sh", "-c",
                  "head -c %d /dev/urandom > %s" % (mb << 20, path)).strip()
        run("docker", "start", "-a", cid)
        run("docker", "commit", cid, name)
        run("docker", "rm", cid)

    commit("seed/base:1", "bench/base:1", base_mb, "/base.bin")
    for i in range(images):
        commit("bench/base:1", "bench/app:%d" % (i + 1), top_mb, "/app.bin")
    for i in range(containers):
        image = "bench/app:%d" % (i % images + 1)
        argv = ["docker", "create", "--name", "bench%d" % (i + 1), "--label", "bench.store=1", "--network", "none"]
        if i < running:
            argv += ["--restart", "unless-stopped"]
        run(*(argv + [image, "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]))
        run("docker", "start", "bench%d" % (i + 1))
        run("docker", "exec", "bench%d" % (i + 1), "sh", "-c", "head -c %d /dev/urandom > /rw.bin" % (rw_mb << 20))
        if i >= running:
            run("docker", "stop", "-t", "1", "bench%d" % (i + 1))
    return {"base_mb": base_mb, "top_mb": top_mb, "images": images + 1, "containers": containers,
            "running": running, "rw_mb": rw_mb}


def running_count():
    out = run("docker", "ps", "-q", "--filter", "label=bench.store", "--filter", "status=running", check=False)
    return len(out.split())


def wait_running(n, t0, limit=600):
    while running_count() < n:
        if time.time() - t0 > limit:
            raise SystemExit("host_store: %d containers did not run again within %d s" % (n, limit))
        time.sleep(0.05)
    return round(time.time() - t0, 3)


def restart(n):
    t0 = time.time()
    run("systemctl", "restart", "docker")
    return {"downtime_seconds": wait_running(n, t0)}


def pids(name):
    return [pid for pid in os.listdir("/proc") if pid.isdigit() and host_copy._comm(int(pid)) == name]  # pylint: disable=protected-access


def disk_written():
    """Bytes written to the machine's disks (whole disks in /sys/block: no partitions, loop, RAM or device-mapper
    devices, whose writes reach a disk counted already), from /proc/diskstats: what reached the disk."""
    disks = set(d for d in os.listdir("/sys/block") if not d.startswith(("loop", "ram", "zram", "dm-", "md")))
    n = 0
    with open("/proc/diskstats") as f:
        for line in f:
            fields = line.split()
            if fields[2] in disks:
                n += int(fields[9]) * 512
    return n


def io():
    """After a sync: what reached the disks, and what containerd and dockerd wrote."""
    run("sync")
    total = {"disk": disk_written()}
    for name in ("containerd", "dockerd"):
        n = 0
        for pid in pids(name):
            with open("/proc/%s/io" % pid) as f:
                n += int([line.split()[1] for line in f if line.startswith("write_bytes:")][0])
        total[name] = n
    return total


def allocated(path):
    seen, n = set(), 0
    for d, dirs, files in os.walk(path):
        for name in dirs + files:
            try:
                st = os.lstat(os.path.join(d, name))
            except OSError:
                continue
            if st.st_nlink > 1:
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
            n += st.st_blocks * 512
    return n


def usage():
    """What the stores hold, and (``rw``) what the containers' writable layers hold (Docker's SizeRw), which the
    conversion copies with rsync rather than writing through containerd."""
    c = "/var/lib/containerd/"
    ids = run("docker", "ps", "-aq").split()
    rw = sum(int(x or 0) for x in run("docker", "inspect", "--size", "-f", "{{.SizeRw}}", *ids).split()) if ids else 0
    stores = ("io.containerd.content.v1.content", "io.containerd.snapshotter.v1.overlayfs")
    return {"containerd": sum(allocated(c + d) for d in stores),
            "classic": allocated("/var/lib/docker/overlay2") + allocated("/var/lib/docker/image/overlay2"),
            "rw": rw}


def set_store(containerd):
    with open(DAEMON_JSON) as f:
        data = json.load(f)
    features = dict(data.get("features") or {})
    if containerd:
        features["containerd-snapshotter"] = True
    else:
        features.pop("containerd-snapshotter", None)
    if features:
        data["features"] = features
    else:
        data.pop("features", None)
    with open(DAEMON_JSON, "w") as f:
        json.dump(data, f, indent=2)


def reload(n):
    """The remove-and-reload route, timed; then the host put back on the classic store, as it was."""
    tags = sorted(t for t in run("docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}").split()
                  if not t.endswith(":<none>"))
    ids = run("docker", "ps", "-aq", "--filter", "label=bench.store").split()
    inspects = json.loads(run("docker", "inspect", *ids))
    before = io()
    t0 = time.time()
    run("docker", "save", "-o", ARCHIVE, *tags)
    saved = time.time() - t0
    archive = os.path.getsize(ARCHIVE)
    down = time.time()
    run("systemctl", "stop", "docker.socket", "docker.service")
    set_store(True)
    run("systemctl", "start", "docker")
    run("docker", "load", "-q", "-i", ARCHIVE)
    for c in inspects:
        cfg, hc = c["Config"], c["HostConfig"]
        argv = ["docker", "create", "--name", c["Name"].lstrip("/"), "--network", "none"]
        argv += ["--label=%s=%s" % kv for kv in sorted((cfg.get("Labels") or {}).items())]
        if (hc.get("RestartPolicy") or {}).get("Name") not in (None, "", "no"):
            argv += ["--restart", hc["RestartPolicy"]["Name"]]
        if cfg.get("Entrypoint"):
            argv += ["--entrypoint", cfg["Entrypoint"][0]]
        run(*(argv + [cfg["Image"]] + list(cfg.get("Cmd") or [])))
        if c["State"]["Running"]:
            run("docker", "start", c["Name"].lstrip("/"))
    downtime = wait_running(n, down)
    after = io()
    os.unlink(ARCHIVE)
    # Back as it was: the containerd store emptied, the classic store running.
    run("sh", "-c", "docker rm -f $(docker ps -aq) >/dev/null; docker rmi -f $(docker images -q) >/dev/null; true")
    run("systemctl", "stop", "docker.socket", "docker.service")
    set_store(False)
    run("systemctl", "start", "docker")
    wait_running(n, time.time())
    return {"downtime_seconds": downtime, "save_seconds": round(saved, 3), "archive_bytes": archive,
            "written_bytes": after["disk"] - before["disk"]}


def main():
    cmd, args = sys.argv[1], [int(a) for a in sys.argv[2:]]
    out = {"build": build, "restart": restart, "io": io, "usage": usage, "reload": reload}[cmd](*args)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
