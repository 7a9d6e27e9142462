"""Runs on a fleet host: a Docker data root to migrate, the classic procedure, and a reset.  Standard library only.

    python3 host_root.py build SIZE_MB FILES     images made of a layer-like tree (docker import), beside the seed
    python3 host_root.py images MB FILES N TOP   N images sharing a base of MB (plus busybox), each TOP MB on top
    python3 host_root.py churn MB                about MB of change while Docker runs: files rewritten in a volume
                                                 and in a running container's writable layer, an image imported
                                                 and the previous churn's removed, a container created and the
                                                 previous churn's removed
    python3 host_root.py classic TARGET          stop Docker (socket and service), one rsync -aXS, bind-mount the
                                                 copy through /etc/fstab, start Docker, wait for the containers;
                                                 prints JSON: copy_seconds, downtime_seconds
    python3 host_root.py reset TARGET            undo a move of /var/lib/docker to TARGET (the module's or the
                                                 classic one), so the next run starts from the same place
    python3 host_root.py size                    bytes and files under /var/lib/docker
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import host_copy  # noqa: E402  pylint: disable=wrong-import-position

ROOT = "/var/lib/docker"
FSTAB = "/etc/fstab"
DROPIN = "/etc/systemd/system/docker.service.d/dockyard-data-root.conf"
RUNNING = ("web", "worker")


def run(*argv, check=True):
    return subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          check=check).stdout


def build(size_mb, files):
    gen = "/root/bench-gen"
    made = host_copy.generate(gen, size_mb, files, sparse=False)  # image layers do not keep holes
    layers = sorted(glob.glob(os.path.join(gen, "overlay2", "layer*")))
    groups = 10
    for g in range(groups):
        part = layers[g::groups]
        if not part:
            continue
        tar = subprocess.Popen(["tar", "--xattrs", "--sparse", "-C", gen, "-cf", "-"] +
                               [os.path.relpath(p, gen) for p in part], stdout=subprocess.PIPE)
        subprocess.run(["docker", "import", "-", "bench/layers:%d" % g], stdin=tar.stdout, check=True,
                       stdout=subprocess.DEVNULL)
        tar.stdout.close()
        tar.wait()
    shutil.rmtree(gen)
    return {"bytes": made}


def images(size_mb, files, count, top_mb):
    """COUNT images sharing one base: the seed's busybox plus a layer-like tree of SIZE_MB, each with a
    TOP_MB layer of its own.  Returns their names and the bytes of their unique layers."""
    gen = "/root/bench-gen"
    host_copy.generate(gen, size_mb, files, sparse=False)
    cid = run("docker", "create", "seed/base:1").strip()
    exp = subprocess.Popen(["docker", "export", cid], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-C", gen, "-xf", "-"], stdin=exp.stdout, check=True)
    exp.stdout.close()
    exp.wait()
    run("docker", "rm", cid)
    tar = subprocess.Popen(["tar", "--xattrs", "--sparse", "-C", gen, "-cf", "-", "."], stdout=subprocess.PIPE)
    subprocess.run(["docker", "import", "-c", "CMD [\"/bin/sh\"]", "-", "bench/base:1"], stdin=tar.stdout,
                   check=True, stdout=subprocess.DEVNULL)
    tar.stdout.close()
    tar.wait()
    shutil.rmtree(gen)
    names = []
    for i in range(1, count + 1):
        name = "bench/app%d:1" % i
        run("docker", "run", "--name", "bench-mk", "--network", "none", "bench/base:1", "/bin/sh", "-c",
            "dd if=/dev/urandom of=/top bs=1048576 count=%d 2>/dev/null" % top_mb)
        run("docker", "commit", "bench-mk", name)
        run("docker", "rm", "bench-mk")
        names.append(name)
    base = int(run("docker", "image", "inspect", "--format", "{{json .Size}}", "bench/base:1"))
    content = base
    for name in names:
        content += int(run("docker", "image", "inspect", "--format", "{{json .Size}}", name)) - base
    return {"images": names, "base": "bench/base:1", "unique_bytes": unique_layer_bytes(names),
            "content_bytes": content}


def unique_layer_bytes(names):
    """The bytes of the distinct layers (as layer tars) of NAMES: read from one docker save of them all,
    in which each layer appears once, by the layer list of its manifest.json."""
    import tarfile
    save = subprocess.Popen(["docker", "save"] + names, stdout=subprocess.PIPE)
    sizes, layers = {}, set()
    with tarfile.open(fileobj=save.stdout, mode="r|") as tar:
        for member in tar:
            sizes[member.name] = member.size
            if member.name == "manifest.json":
                for entry in json.load(tar.extractfile(member)):
                    layers.update(entry["Layers"])
    save.wait()
    return sum(sizes[name] for name in layers)


def churn(mb):
    """What a host does between the online passes and the stop, about MB in all: files rewritten in place (a
    volume and a running container's writable layer), an image imported (no registry) and the one the
    previous churn imported removed, a container created (its writable layer written) and the previous one
    removed."""
    quarter = max(1, mb // 4)
    for name, where in (("web", "/data/churn"), ("web", "/tmp/churn")):
        subprocess.run(["docker", "exec", name, "sh", "-c", "mkdir -p %s && for i in $(seq 1 %d); do dd "
                        "if=/dev/urandom of=%s/c$i bs=1024 count=1024 2>/dev/null; done" % (where, quarter, where)],
                       check=True)
    tag = "%d" % (time.time() * 1000)
    old_images = run("docker", "images", "--format", "{{.Repository}}:{{.Tag}}", "bench/churn").split()
    old_containers = run("docker", "ps", "-a", "--filter", "name=bench-churn-", "--format", "{{.Names}}").split()
    gen = "/root/bench-churn"
    shutil.rmtree(gen, ignore_errors=True)
    os.makedirs(os.path.join(gen, "blob"))
    for i in range(quarter):
        with open(os.path.join(gen, "blob", "b%d" % i), "wb") as f:
            f.write(os.urandom(1 << 20))
    tar = subprocess.Popen(["tar", "-C", gen, "-cf", "-", "."], stdout=subprocess.PIPE)
    subprocess.run(["docker", "import", "-", "bench/churn:" + tag], stdin=tar.stdout, check=True,
                   stdout=subprocess.DEVNULL)
    tar.stdout.close()
    tar.wait()
    shutil.rmtree(gen)
    run("docker", "run", "--name", "bench-churn-" + tag, "--network", "none", "seed/base:1", "sh", "-c",
        "dd if=/dev/urandom of=/written bs=1048576 count=%d 2>/dev/null" % quarter)
    if old_containers:
        run("docker", "rm", "-f", *old_containers)
    if old_images:
        run("docker", "rmi", *old_images)
    return {"changed_mb": 4 * quarter, "removed_images": old_images, "removed_containers": old_containers}


def containers_running():
    out = run("docker", "ps", "--format", "{{.Names}}", check=False).split()
    return all(n in out for n in RUNNING)


def wait_running(timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if containers_running():
            return True
        time.sleep(0.05)
    raise SystemExit("the containers did not run again within %d s" % timeout)


def classic(target):
    os.makedirs(target, exist_ok=True)
    t0 = time.time()
    run("systemctl", "stop", "docker.socket", "docker.service")
    c0 = time.time()
    run("rsync", "-aXS", ROOT + "/", target.rstrip("/") + "/")
    copy_seconds = time.time() - c0
    with open(FSTAB, "a") as f:
        f.write("%s %s none bind 0 0\n" % (target, ROOT))
    run("mount", ROOT)
    run("systemctl", "start", "docker.socket", "docker.service")
    wait_running()
    return {"copy_seconds": round(copy_seconds, 3), "downtime_seconds": round(time.time() - t0, 3)}


def reset(target):
    run("systemctl", "stop", "docker.socket", "docker.service")
    while subprocess.run(["mountpoint", "-q", ROOT], check=False).returncode == 0:
        run("umount", ROOT)
    with open(FSTAB) as f:
        lines = [line for line in f if not (len(line.split()) > 1 and line.split()[1] == ROOT)]
    with open(FSTAB, "w") as f:
        f.writelines(lines)
    backups = sorted(glob.glob(ROOT + ".dockyard-backup-*"))
    if backups:
        shutil.rmtree(ROOT)
        os.rename(backups[-1], ROOT)
    for path in [DROPIN] + glob.glob(os.path.join(os.path.dirname(target), ".*.dockyard-migrate.json")):
        if os.path.exists(path):
            os.unlink(path)
    if os.path.isdir(target):
        shutil.rmtree(target)
    run("systemctl", "daemon-reload")
    run("systemctl", "start", "docker.socket", "docker.service")
    wait_running()
    return {"reset": True}


def size():
    total = files = 0
    for base, _dirs, names in os.walk(ROOT):
        for n in names:
            try:
                st = os.lstat(os.path.join(base, n))
            except OSError:
                continue
            files += 1
            total += st.st_blocks * 512
    return {"bytes": total, "files": files}


def main():
    cmd = sys.argv[1]
    if cmd == "build":
        out = build(int(sys.argv[2]), int(sys.argv[3]))
    elif cmd == "images":
        out = images(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    elif cmd == "churn":
        out = churn(int(sys.argv[2]))
    elif cmd == "classic":
        out = classic(sys.argv[2])
    elif cmd == "reset":
        out = reset(sys.argv[2])
    elif cmd == "size":
        out = size()
    elif cmd == "drop":
        host_copy.drop_caches()
        out = {}
    else:
        raise SystemExit(__doc__)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
