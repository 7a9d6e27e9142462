"""The test fleet: real Docker hosts in containers that boot systemd.

Each host runs its own ``dockerd`` under ``docker.service``/``docker.socket``,
``sshd`` on its own ``127.0.0.1`` port with key authentication, Python 3 and
rsync, and has a real second filesystem (an ext4 image on a loop device)
mounted at ``/mnt/data``.  All traffic stays on loopback: hosts use host
networking and their inner daemons run with ``"bridge": "none"``.

Usage::

    fleet.py build [--suite bookworm]         build (or reuse) the host image
                                              suites: bookworm (docker.io 20.10), trixie (26.1),
                                              bullseye (20.10.5, Python 3.9), docker28 (trixie
                                              with forky's Docker 28.5 and containerd 2.1)
    fleet.py up [--hosts 2] [--suite S] [--containerd-store]
    fleet.py reset NAME... [--olddisk]        recreate hosts from nothing; --olddisk also gives each a
                                              block device of its own (an ext4 image on a loop device
                                              of the machine, passed with --device) for a data root
                                              on its own disk; a reset without it detaches that device
    fleet.py seed NAME...                     fill hosts with realistic data
    fleet.py reset NAME... --seed             recreate hosts already seeded: each host's /var/lib is a
                                              copy of its golden state (one per host, image, image store
                                              and seed recipe) taken from it seeded from nothing and
                                              shut down cleanly; the first reset of a kind seeds from
                                              nothing and keeps that state (DOCKYARD_FLEET_GOLDEN=0:
                                              always seed from nothing)
    fleet.py rm NAME...                       remove some hosts and their disks
    fleet.py down                             remove every host and disk
    fleet.py status                           one line per host
    fleet.py inventory                        print the inventory path
    fleet.py booted NAME...                   wait until rebooted hosts finished booting (Docker or not)

DOCKYARD_FLEET_WORKER=N (N > 0) gives a fleet of its own beside the default one (N = 0), for a parallel test
worker: the same host names (h1, h2, ...) in containers named dockyard-wN-hK, on ports 2200 + 100 N + K, with
their own disks, hosts file, inventory (inventory-wN.ini) and golden states (hosts seeded apart, so that no two
hosts of the machine run containers of one ID: inner engines share the machine's cgroup hierarchy).

Bring-up is idempotent: a running host is reused, a stopped one started, a
host built from another image recipe recreated, missing loop mounts and a
stopped outer engine are repaired.
"""

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
STATE = os.environ.get("DOCKYARD_FLEET_DIR", "/var/lib/dockyard-fleet")
MIRROR = os.environ.get("DOCKYARD_FLEET_MIRROR", "http://deb.debian.org/debian")
WORKER = int(os.environ.get("DOCKYARD_FLEET_WORKER", "0") or "0")
TAG = "w%d-" % WORKER if WORKER else ""  # a worker fleet's mark on its containers, directories and files
PREFIX = "dockyard-" + TAG
BASE_PORT = 2200 + 100 * WORKER
HOSTS_FILE = "hosts%s.json" % ("-w%d" % WORKER if WORKER else "")
INVENTORY = "inventory%s.ini" % ("-w%d" % WORKER if WORKER else "")
DISK_SIZE = os.environ.get("DOCKYARD_FLEET_DISK", "3G")
DOCKER = os.environ.get("DOCKYARD_DOCKER", "docker")
OLDDISK_SIZE = "400M"

INCLUDE = {
    "bookworm": ["python3", "rsync", "docker.io", "iproute2", "procps", "util-linux",
                 "mount", "ca-certificates", "attr", "acl", "busybox-static", "xfsprogs",
                 "e2fsprogs", "zstd", "xz-utils", "gzip"],
    "trixie": ["python3", "rsync", "docker.io", "docker-cli", "iproute2", "procps",
               "util-linux", "mount", "ca-certificates", "attr", "acl", "busybox-static",
               "xfsprogs", "e2fsprogs", "zstd", "xz-utils", "gzip"],
}
# The oldest Python the collection manages (3.9.2) with docker.io 20.10.5.
INCLUDE["bullseye"] = INCLUDE["bookworm"]
# Docker 28.5 and containerd 2.1: forky's packages on a trixie host (forky's own systemd 262
# cannot boot on cgroup v1 machines), installed by image-docker28.sh after image-setup.sh.
INCLUDE["docker28"] = INCLUDE["trixie"]
# Host kinds (the --suite option) built from another Debian suite, and their extra setup scripts.
BASE_SUITE = {"docker28": "trixie"}
EXTRA_SETUP = {"docker28": ["image-docker28.sh"]}

# Every capability but SYS_RESOURCE, which the sandbox's bounding set lacks
# (so --privileged fails here).
CAPS = ["AUDIT_CONTROL", "AUDIT_READ", "AUDIT_WRITE", "BLOCK_SUSPEND", "CHOWN",
        "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "IPC_LOCK", "IPC_OWNER",
        "KILL", "LEASE", "LINUX_IMMUTABLE", "MAC_ADMIN", "MAC_OVERRIDE", "MKNOD",
        "NET_ADMIN", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_RAW", "SETFCAP", "SETGID",
        "SETPCAP", "SETUID", "SYS_ADMIN", "SYS_BOOT", "SYS_CHROOT", "SYS_MODULE",
        "SYS_NICE", "SYS_PACCT", "SYS_PTRACE", "SYS_RAWIO", "SYS_TIME",
        "SYS_TTY_CONFIG", "SYSLOG", "WAKE_ALARM"]


def log(msg):
    sys.stderr.write("fleet: %s\n" % msg)
    sys.stderr.flush()


# Every command has a time limit (seconds); the slow ones name theirs.
TIMEOUT = 300


def run(argv, check=True, capture=False, input_data=None, timeout=TIMEOUT, stdin=None):
    """Run argv; a command still running after ``timeout`` seconds is killed.  A timed-out command
    fails like one that exited 124 (the status of timeout(1)): an error when ``check``."""
    try:
        res = subprocess.run(argv, check=False, input=input_data, timeout=timeout, stdin=stdin,
                             stdout=subprocess.PIPE if capture else None,
                             stderr=subprocess.PIPE if capture else None)
    except subprocess.TimeoutExpired as exc:
        if check:
            raise SystemExit("fleet: command timed out after %d s: %s" % (timeout, " ".join(argv)))
        res = subprocess.CompletedProcess(argv, 124, exc.stdout or b"",
                                          (exc.stderr or b"") + b"timed out after %d s" % timeout)
    if check and res.returncode != 0:
        err = res.stderr.decode(errors="replace") if capture and res.stderr else ""
        raise SystemExit("fleet: command failed (%d): %s\n%s" % (res.returncode, " ".join(argv), err))
    return res


def out(argv, check=True, timeout=TIMEOUT):
    return run(argv, check=check, capture=True, timeout=timeout).stdout.decode().strip()


# ---------------------------------------------------------------- outer engine

# Every host's systemd takes inotify instances of the machine's root user; the kernel's default of 128 per user
# runs out at about a dozen hosts (two test workers bring up more), and systemd then exits at boot with status 255.
INOTIFY_LIMITS = {"/proc/sys/fs/inotify/max_user_instances": 8192,
                  "/proc/sys/fs/inotify/max_user_watches": 1048576}


def raise_inotify_limits():
    for path, want in INOTIFY_LIMITS.items():
        try:
            with open(path) as f:
                have = int(f.read().strip())
            if have < want:
                with open(path, "w") as f:
                    f.write("%d\n" % want)
                log("raised %s from %d to %d" % (os.path.basename(path), have, want))
        except (OSError, ValueError) as exc:
            log("could not raise %s: %s" % (path, exc))


def ensure_engine():
    """Make sure an outer Docker engine answers; start dockerd if needed."""
    raise_inotify_limits()
    if run([DOCKER, "info"], check=False, capture=True, timeout=30).returncode == 0:
        return
    if not shutil.which("dockerd"):
        raise SystemExit("fleet: no Docker engine answers and dockerd is not installed; "
                         "run 'make bootstrap' (apt-get install docker.io) first")
    log("starting the outer dockerd")
    logf = open("/var/log/dockyard-outer-dockerd.log", "ab")
    subprocess.Popen(["dockerd"], stdout=logf, stderr=logf, start_new_session=True)
    for _attempt in range(60):
        if run([DOCKER, "info"], check=False, capture=True, timeout=10).returncode == 0:
            return
        time.sleep(1)
    raise SystemExit("fleet: dockerd did not answer within 60 s; see /var/log/dockyard-outer-dockerd.log")


# ---------------------------------------------------------------- image

def recipe_hash(suite):
    h = hashlib.sha256()
    h.update(suite.encode())
    h.update(" ".join(INCLUDE[suite]).encode())
    for script in ["image-setup.sh"] + EXTRA_SETUP.get(suite, []):
        with open(os.path.join(HERE, script), "rb") as f:
            h.update(f.read())
    if suite in BASE_SUITE:
        h.update(("%s %s" % (BASE_SUITE[suite], MIRROR)).encode())
    return h.hexdigest()[:12]


def image_name(suite):
    return "dockyard-fleet-%s:%s" % (suite, recipe_hash(suite))


def build(suite):
    """Build SUITE's host image unless it exists; one build of a suite at a time (a lock per suite), so that a
    build started beside the tests and a test that needs the image share one."""
    ensure_engine()
    os.makedirs(STATE, exist_ok=True)
    with open(os.path.join(STATE, "build-%s.lock" % suite), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return build_locked(suite)


def build_locked(suite):
    name = image_name(suite)
    if run([DOCKER, "image", "inspect", name], check=False, capture=True).returncode == 0:
        log("image %s is up to date" % name)
        return name
    if not shutil.which("debootstrap"):
        raise SystemExit("fleet: debootstrap is missing; run 'make bootstrap' "
                         "(apt-get install debootstrap)")
    root = os.path.join(STATE, "rootfs-%s-%s" % (suite, recipe_hash(suite)))
    if os.path.isdir(root):
        shutil.rmtree(root)
    os.makedirs(root)
    base = BASE_SUITE.get(suite, suite)
    log("debootstrap %s into %s (about a minute)" % (base, root))
    t0 = time.time()
    run(["debootstrap", "--variant=minbase", "--include=" + ",".join(INCLUDE[suite]),
         base, root, MIRROR], capture=True, timeout=1800)
    shutil.copy("/etc/resolv.conf", os.path.join(root, "etc/resolv.conf"))
    for fs, target in (("proc", "proc"), ("sysfs", "sys")):
        run(["mount", "-t", fs, fs, os.path.join(root, target)])
    try:
        for script in ["image-setup.sh"] + EXTRA_SETUP.get(suite, []):
            shutil.copy(os.path.join(HERE, script), os.path.join(root, "tmp/setup.sh"))
            log("running %s in the image" % script)
            run(["chroot", root, "/bin/bash", "/tmp/setup.sh", MIRROR], timeout=1800)
            os.unlink(os.path.join(root, "tmp/setup.sh"))
    finally:
        for target in ("proc", "sys"):
            run(["umount", "-l", os.path.join(root, target)], check=False)
    with open(os.path.join(root, "etc/resolv.conf"), "w"):
        pass
    tar = subprocess.Popen(["tar", "--numeric-owner", "--xattrs", "-C", root, "-c", "."],
                           stdout=subprocess.PIPE)
    try:
        run([DOCKER, "import", "-c", 'CMD ["/lib/systemd/systemd"]', "-", name],
            stdin=tar.stdout, capture=True, timeout=900)
    finally:
        tar.stdout.close()
        try:
            tar.wait(timeout=60)
        except subprocess.TimeoutExpired:
            tar.kill()
            tar.wait()
    if tar.returncode != 0:
        raise SystemExit("fleet: tar of %s failed (%d)" % (root, tar.returncode))
    shutil.rmtree(root)
    log("built %s in %.0f s" % (name, time.time() - t0))
    return name


# ---------------------------------------------------------------- hosts

def host_dir(name):
    return os.path.join(STATE, "hosts", TAG + name)


def load_hosts():
    try:
        with open(os.path.join(STATE, HOSTS_FILE)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def save_hosts(hosts):
    os.makedirs(STATE, exist_ok=True)
    tmp = os.path.join(STATE, HOSTS_FILE + ".tmp")
    with open(tmp, "w") as f:
        json.dump(hosts, f, indent=2, sort_keys=True)
    os.replace(tmp, os.path.join(STATE, HOSTS_FILE))


def ensure_key():
    """The fleet's SSH key, shared by every worker's fleet (made once, under a lock)."""
    key = os.path.join(STATE, "id_ed25519")
    if not os.path.exists(key):
        os.makedirs(STATE, exist_ok=True)
        with open(os.path.join(STATE, "key.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not os.path.exists(key):
                run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "dockyard-fleet", "-f", key])
    return key


def is_mounted(path):
    with open("/proc/self/mountinfo") as f:
        for line in f:
            if line.split()[4] == path:
                return True
    return False


def ensure_disk(name, fresh=False):
    d = host_dir(name)
    img = os.path.join(d, "disk.img")
    mnt = os.path.join(d, "disk")
    os.makedirs(mnt, exist_ok=True)
    if fresh:
        while is_mounted(mnt):
            run(["umount", mnt], check=False)
            if is_mounted(mnt):
                run(["umount", "-l", mnt], check=False)
        if os.path.exists(img):
            os.unlink(img)
    if not os.path.exists(img):
        run(["truncate", "-s", DISK_SIZE, img])
        run(["mkfs.ext4", "-q", "-F", img])
    if not is_mounted(mnt):
        run(["mount", "-o", "loop", img, mnt])
    return mnt


def olddisk_devices(name):
    """The loop devices of the machine attached to NAME's old-disk image."""
    img = os.path.join(host_dir(name), "olddisk.img")
    if not os.path.exists(img):
        return []
    listed = out(["losetup", "-j", img], check=False)
    return [line.split(":", 1)[0] for line in listed.splitlines() if line.startswith("/dev/")]


def drop_olddisk(name):
    """Detach NAME's old-disk loop devices and remove the image (nothing when it has none)."""
    for dev in olddisk_devices(name):
        run(["losetup", "-d", dev], check=False, capture=True)
    img = os.path.join(host_dir(name), "olddisk.img")
    if os.path.exists(img):
        os.unlink(img)


def fresh_olddisk(name):
    """A new, empty ext4 image on a loop device of the machine; returns the device."""
    drop_olddisk(name)
    img = os.path.join(host_dir(name), "olddisk.img")
    run(["truncate", "-s", OLDDISK_SIZE, img])
    # 4 KiB blocks as on the data disk (a small ext4 gets 1 KiB ones): holes then fall on the same boundaries.
    run(["mkfs.ext4", "-q", "-F", "-b", "4096", img])
    return out(["losetup", "-f", "--show", img]).strip()


def container(name):
    return PREFIX + name


def container_state(name):
    res = run([DOCKER, "inspect", "-f", "{{.State.Running}} {{.Config.Image}}", container(name)],
              check=False, capture=True)
    if res.returncode != 0:
        return None, None
    running, image = res.stdout.decode().split()
    return running == "true", image


def remove_host(name):
    run([DOCKER, "rm", "-f", "-v", container(name)], check=False, capture=True)
    run([DOCKER, "volume", "rm", "-f", container(name) + "-varlib"], check=False, capture=True)


def inner_daemon_json(spec):
    conf = {"bridge": "none", "iptables": False, "ip6tables": False}
    if spec.get("containerd_store"):
        conf["features"] = {"containerd-snapshotter": True}
    if spec.get("driver"):
        conf["storage-driver"] = spec["driver"]
    return conf


def golden_dir(name, spec, profile):
    """Where NAME's golden /var/lib (SPEC's kind, seeded with PROFILE) is kept: keyed by the host, the image (its
    recipe hash), the image store and the seed script's own hash, so that a changed recipe is seeded afresh.  Each
    host has its own: hosts seeded apart hold different layers (the seed imports a root made at that moment), as
    the transfer tests need."""
    h = hashlib.sha256()
    with open(os.path.join(HERE, "seed.sh"), "rb") as f:
        h.update(f.read())
    h.update(("%s %s %s %s" % (name, spec["image"], bool(spec.get("containerd_store")), profile)).encode())
    if spec.get("driver"):
        h.update(("driver %s" % spec["driver"]).encode())
    return os.path.join(STATE, "golden", "%s%s-%s" % (TAG, name, h.hexdigest()[:16]))


def volume_path(name):
    """The machine's path of NAME's /var/lib volume (created empty when missing)."""
    vol = container(name) + "-varlib"
    run([DOCKER, "volume", "create", vol], capture=True)
    return out([DOCKER, "volume", "inspect", "-f", "{{.Mountpoint}}", vol])


def copy_tree(src, dest):
    """src's content into dest, everything kept: owners, modes, hard links, xattrs (overlay2's trusted.*), ACLs,
    holes, devices."""
    run(["cp", "-a", "--sparse=always", os.path.join(src, "."), dest], capture=True, timeout=900)


def keep_golden(name, golden):
    """Shut NAME down cleanly (systemd stops dockerd, which stops its containers) and keep its /var/lib as the
    golden state; the host is started again.  The engine's identity is not kept: each clone makes its own."""
    run([DOCKER, "stop", "-t", "60", container(name)], capture=True, timeout=120)
    tmp = golden + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    copy_tree(volume_path(name), tmp)
    if os.path.exists(os.path.join(tmp, "docker", "engine-id")):
        os.unlink(os.path.join(tmp, "docker", "engine-id"))
    os.replace(tmp, golden)
    run([DOCKER, "start", container(name)], capture=True)
    log("kept the seeded state of %s as %s" % (name, golden))


def create_host(name, spec, golden=None):
    """Create and start NAME; with GOLDEN, its /var/lib volume starts as a copy of that directory (Docker copies
    the image's /var/lib only into an empty volume)."""
    d = host_dir(name)
    mnt = ensure_disk(name, fresh=True)
    devices = []
    if spec.get("olddisk"):
        dev = fresh_olddisk(name)
        devices = ["--device", "%s:%s" % (dev, dev)]
    else:
        drop_olddisk(name)
    key = ensure_key()
    sshd = os.path.join(d, "sshd.conf")
    with open(sshd, "w") as f:
        f.write("ListenAddress 127.0.0.1\nPort %d\nPasswordAuthentication no\n"
                "PermitRootLogin prohibit-password\nUseDNS no\n" % spec["port"])
    argv = [DOCKER, "create", "--name", container(name), "--hostname", name,
            "--network", "host", "--security-opt", "seccomp=unconfined",
            "--security-opt", "apparmor=unconfined", "--security-opt", "systempaths=unconfined",
            "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--cgroupns", "host",
            "--tmpfs", "/run", "--tmpfs", "/run/lock", "-e", "container=docker",
            "-v", "%s-varlib:/var/lib" % container(name),
            "-v", "%s:/mnt/data" % mnt,
            "-v", "%s:/etc/ssh/sshd_config.d/fleet.conf:ro" % sshd,
            "-v", "%s.pub:/root/.ssh/authorized_keys:ro" % key,
            "--stop-signal", "SIGRTMIN+3", "--label", "dockyard.fleet=1",
            "--label", "dockyard.fleet.worker=%d" % WORKER] + devices
    for cap in CAPS:
        argv += ["--cap-add", cap]
    argv.append(spec["image"])
    if golden:
        copy_tree(golden, volume_path(name))
    run(argv, capture=True)
    tmp = os.path.join(d, "daemon.json")
    with open(tmp, "w") as f:
        json.dump(inner_daemon_json(spec), f, indent=2)
    run([DOCKER, "cp", tmp, container(name) + ":/etc/docker/daemon.json"], capture=True)
    run([DOCKER, "start", container(name)], capture=True)


def exec_host(name, argv, check=True, input_data=None, capture=True, timeout=TIMEOUT):
    """Run argv on a host.  timeout(1) inside the host ends the command there too (killing the
    docker client alone would leave it running); the client gets a little longer."""
    return run([DOCKER, "exec", "-i", container(name), "timeout", "-k", "10", str(timeout)] + argv,
               check=check, input_data=input_data, capture=capture, timeout=timeout + 30)


def wait_ready(name, timeout=120):
    """Wait until systemd runs, docker answers and sshd listens."""
    deadline = time.time() + timeout
    last = ""
    while time.time() < deadline:
        res = exec_host(name, ["sh", "-c", "systemctl is-system-running; docker info -f '{{.ServerVersion}}'"],
                        check=False, timeout=20)
        last = (res.stdout or b"").decode() + (res.stderr or b"").decode()
        state = last.split("\n", 1)[0].strip()
        if res.returncode == 0 or (state in ("running", "degraded") and "\n" in last and
                                   exec_host(name, ["docker", "info"], check=False, timeout=20).returncode == 0):
            if ssh_ok(name):
                return
        time.sleep(1)
    raise SystemExit("fleet: host %s not ready after %d s: %s" % (name, timeout, last.strip()))


def wait_booted(name, timeout=180):
    """Wait until a rebooted host finished booting (systemd running or degraded) and sshd listens, whatever
    became of Docker: a test that reboots a host checks Docker itself, and the host is never recreated."""
    deadline = time.time() + timeout
    last = ""
    while time.time() < deadline:
        res = exec_host(name, ["systemctl", "is-system-running", "--wait"], check=False, timeout=60)
        last = (res.stdout or b"").decode().strip()
        if last in ("running", "degraded") and ssh_ok(name):
            return
        time.sleep(1)
    raise SystemExit("fleet: host %s did not finish booting within %d s: %s" % (name, timeout, last))


def ssh_argv(name, hosts=None):
    hosts = hosts or load_hosts()
    return ["ssh", "-i", os.path.join(STATE, "id_ed25519"), "-p", str(hosts[name]["port"]),
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
            "root@127.0.0.1"]


def ssh_ok(name):
    return run(ssh_argv(name) + ["true"], check=False, capture=True, timeout=30).returncode == 0


def write_inventory(hosts):
    key = os.path.join(STATE, "id_ed25519")
    lines = ["[docker_hosts]"]
    for name in sorted(hosts):
        h = hosts[name]
        lines.append("%s ansible_host=127.0.0.1 ansible_port=%d fleet_suite=%s fleet_containerd_store=%s"
                     % (name, h["port"], h["suite"], str(bool(h.get("containerd_store"))).lower()))
    lines += ["", "[docker_hosts:vars]", "ansible_user=root",
              "ansible_ssh_private_key_file=%s" % key,
              "ansible_python_interpreter=/usr/bin/python3",
              "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'",
              ""]
    path = os.path.join(STATE, INVENTORY)
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(lines))
    os.replace(path + ".tmp", path)
    return path


def host_names(count, start=1):
    return ["h%d" % i for i in range(start, start + count)]


def up(count, suite, containerd_store, start=1, driver=None):
    ensure_engine()
    image = build(suite)
    hosts = load_hosts()
    for i, name in enumerate(host_names(count, start)):
        spec = {"port": BASE_PORT + start + i, "suite": suite, "image": image,
                "containerd_store": containerd_store}
        if driver:
            spec["driver"] = driver
        running, cur_image = container_state(name)
        old = hosts.get(name)
        same = old is not None and all(old.get(k) == spec.get(k) for k in set(spec) | {"driver"}) and \
            cur_image == image
        if running is None or not same:
            if running is not None:
                log("recreating %s (recipe or settings changed)" % name)
            remove_host(name)
            hosts[name] = spec
            save_hosts(hosts)
            create_host(name, spec)
        else:
            spec["olddisk"] = old.get("olddisk", False)
            ensure_disk(name)
            if not running:
                log("starting stopped host %s" % name)
                run([DOCKER, "start", container(name)], capture=True)
        hosts[name] = spec
        save_hosts(hosts)
    for name in host_names(count, start):
        try:
            wait_ready(name, timeout=60)
        except SystemExit as exc:
            # A leftover host whose daemon cannot come back (a test left it half
            # way): start from nothing rather than fail.
            log("%s; recreating it" % exc)
            remove_host(name)
            create_host(name, hosts[name])
            wait_ready(name)
        log("host %s ready on 127.0.0.1:%d" % (name, hosts[name]["port"]))
    return write_inventory(hosts)


def reset(names, olddisk=False, seeded=None):
    """Recreate NAMES from nothing; with SEEDED (a seed profile), seeded: from the golden state of their kind when
    there is one, else seeded from nothing and kept as that golden state."""
    raise_inotify_limits()
    hosts = load_hosts()
    use_golden = seeded and not olddisk and os.environ.get("DOCKYARD_FLEET_GOLDEN", "1") != "0"
    fresh = []
    for name in names:
        if name not in hosts:
            raise SystemExit("fleet: unknown host %s" % name)
        remove_host(name)
        hosts[name]["olddisk"] = olddisk
        save_hosts(hosts)
        golden = golden_dir(name, hosts[name], seeded) if use_golden else None
        if golden and not os.path.isdir(golden):
            golden = None
        if not golden:
            fresh.append(name)
        create_host(name, hosts[name], golden)
    for name in names:
        wait_ready(name)
    if seeded:
        seed(fresh, seeded)
        for name in fresh:
            golden = golden_dir(name, hosts[name], seeded)
            if use_golden and not os.path.isdir(golden):
                keep_golden(name, golden)
                wait_ready(name)
    return write_inventory(hosts)


def remove(names):
    """Remove some hosts with their disks."""
    hosts = load_hosts()
    for name in names:
        remove_host(name)
        drop_olddisk(name)
        mnt = os.path.join(host_dir(name), "disk")
        while is_mounted(mnt):
            run(["umount", "-l", mnt], check=False)
        shutil.rmtree(host_dir(name), ignore_errors=True)
        hosts.pop(name, None)
    save_hosts(hosts)
    write_inventory(hosts)


def down():
    hosts = load_hosts()
    names = set(hosts)
    listed = out([DOCKER, "ps", "-a", "--filter", "label=dockyard.fleet=1", "--format",
                  "{{.Names}} {{.Label \"dockyard.fleet.worker\"}}"], check=False)
    # this fleet's hosts only (containers made before workers had a label belong to the default fleet)
    listed = " ".join(parts[0] for parts in (line.split() for line in listed.splitlines())
                      if parts and (parts[1:] or ["0"])[0] == str(WORKER))
    names.update(n[len(PREFIX):] for n in listed.split() if n.startswith(PREFIX))
    for name in sorted(names):
        remove_host(name)
        drop_olddisk(name)
        mnt = os.path.join(host_dir(name), "disk")
        while is_mounted(mnt):
            run(["umount", "-l", mnt], check=False)
        shutil.rmtree(host_dir(name), ignore_errors=True)
    save_hosts({})
    write_inventory({})


def seed(names, profile="default"):
    script = os.path.join(HERE, "seed.sh")
    with open(script, "rb") as f:
        body = f.read()
    for name in names:
        res = exec_host(name, ["bash", "-s", profile], input_data=body, timeout=600)
        sys.stdout.write(res.stdout.decode())


def status():
    hosts = load_hosts()
    for name in sorted(hosts):
        running, image = container_state(name)
        print("%-4s port=%d suite=%s running=%s image=%s" % (
            name, hosts[name]["port"], hosts[name]["suite"], running, image))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--suite", default="bookworm", choices=sorted(INCLUDE))
    u = sub.add_parser("up")
    u.add_argument("--hosts", type=int, default=2)
    u.add_argument("--first", type=int, default=1, help="number of the first host (h1)")
    u.add_argument("--suite", default="bookworm", choices=sorted(INCLUDE))
    u.add_argument("--containerd-store", action="store_true")
    u.add_argument("--driver", choices=["vfs"], help="the classic store's graph driver (storage-driver)")
    r = sub.add_parser("reset")
    r.add_argument("names", nargs="+")
    r.add_argument("--olddisk", action="store_true")
    r.add_argument("--seed", nargs="?", const="default", default=None, metavar="PROFILE",
                   help="seeded as `seed` does (profile default)")
    s = sub.add_parser("seed")
    s.add_argument("names", nargs="+")
    s.add_argument("--profile", default="default")
    rm = sub.add_parser("rm")
    rm.add_argument("names", nargs="+")
    sub.add_parser("down")
    sub.add_parser("status")
    sub.add_parser("inventory")
    bt = sub.add_parser("booted")
    bt.add_argument("names", nargs="+")
    a = p.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("fleet: must run as root (it mounts loop devices and runs debootstrap)")
    if a.cmd == "build":
        print(build(a.suite))
    elif a.cmd == "up":
        print(up(a.hosts, a.suite, a.containerd_store, a.first, a.driver))
    elif a.cmd == "reset":
        print(reset(a.names, a.olddisk, a.seed))
    elif a.cmd == "seed":
        seed(a.names, a.profile)
    elif a.cmd == "rm":
        remove(a.names)
    elif a.cmd == "down":
        down()
    elif a.cmd == "status":
        status()
    elif a.cmd == "inventory":
        print(os.path.join(STATE, INVENTORY))
    elif a.cmd == "booted":
        for name in a.names:
            wait_booted(name)


if __name__ == "__main__":
    main()
