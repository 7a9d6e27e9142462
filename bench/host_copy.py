"""Runs on a fleet host: makes a layer-like tree and times copies of it.  Standard library only.

    python3 host_copy.py generate ROOT SIZE_MB FILES
    python3 host_copy.py copy METHOD SRC DST      (prints JSON: seconds, peak_rss_kb, peak_tree_rss_kb)

METHOD is one of: module (the collection's own copy code, _copy.tar_copy, with its Python relay and status
file, as the data_root module runs it for a first copy), module-rsync (_copy.rsync as a full copy), engine
(the same tar argv run directly, without the relay), cp (cp -a), tar (tar --sparse -cf - . | tar -xf -).
The collection's module_utils must sit under /root/bench-lib (bench.py puts them there).
"""
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, "/root/bench-lib")


def generate(root, size_mb, files, sparse=True):
    """Directories like overlay2 layers: many small files, some large ones, hard links, xattrs, holes."""
    rnd = random.Random(42)
    if os.path.exists(root):
        shutil.rmtree(root)
    budget = size_mb * 1024 * 1024
    # 90% of the bytes in 2% of the files, the rest spread over small files, as in image layers.
    big = max(1, files // 50)
    small = files - big
    small_bytes = budget // 10
    big_bytes = budget - small_bytes
    layers = max(1, files // 500)
    blob = os.urandom(1 << 20)
    made = 0
    for i in range(files):
        layer = os.path.join(root, "overlay2", "layer%04d" % (i % layers), "diff", "usr", "d%03d" % (i % 97))
        os.makedirs(layer, exist_ok=True)
        path = os.path.join(layer, "f%06d" % i)
        if i % 50 == 0 and big:
            size = big_bytes // big
        else:
            size = max(1, int(small_bytes / max(small, 1) * rnd.uniform(0.2, 1.8)))
        with open(path, "wb") as f:
            left = size
            off = rnd.randrange(0, len(blob) - 1)
            while left > 0:
                chunk = blob[off:off + min(left, len(blob) - off)]
                f.write(chunk)
                left -= len(chunk)
                off = 0
        made += size
        if i % 97 == 0:
            os.link(path, path + ".hardlink")
        if i % 89 == 0:
            os.setxattr(path, "user.bench", b"layer")
        if sparse and i % 499 == 0:
            with open(path + ".sparse", "wb") as f:
                f.truncate(64 << 20)
                f.seek(32 << 20)
                f.write(b"x")
    return made


def drop_caches():
    subprocess.run(["sync"], check=True)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def _children():
    kids = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(pid))
    return kids


def _rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def sample(root_pid):
    """Sum the resident memory of ROOT_PID and its descendants (not this sampler) every 20 ms; on SIGTERM
    print the peak in KB.  Runs as its own process so that it takes no time from the copy it watches."""
    peak = [0]
    me = os.getpid()

    def done(*_args):
        print(json.dumps({"peak_kb": peak[0]}), flush=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, done)
    while True:
        kids = _children()
        todo, total = [root_pid], 0
        while todo:
            pid = todo.pop()
            if pid == me:
                continue
            total += _rss_kb(pid)
            todo.extend(kids.get(pid, []))
        peak[0] = max(peak[0], total)
        time.sleep(0.02)


class TreeRss:
    """The peak summed resident memory of this process and its descendants, sampled by a separate process."""

    def __init__(self):
        self.peak = 0
        self.proc = None

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "sample", str(os.getpid())],
                                     stdout=subprocess.PIPE, universal_newlines=True)
        time.sleep(0.1)
        return self

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGTERM)
        out, _err = self.proc.communicate()
        self.peak = json.loads(out.strip().splitlines()[-1])["peak_kb"]


def _pipe(create, extract):
    a = subprocess.Popen(create, stdout=subprocess.PIPE)
    subprocess.run(extract, stdin=a.stdout, check=True)
    a.stdout.close()
    if a.wait() != 0:
        raise SystemExit("tar -c failed")


def copy(method, src, dst):
    if os.path.exists(dst):
        shutil.rmtree(dst)
    os.makedirs(dst)
    drop_caches()
    from ansible_collections.dockyard.migrate.plugins.module_utils import _copy
    t0 = time.time()
    with TreeRss() as tree:
        if method == "module":
            status = _copy.Status("/run/dockyard-migrate/bench.status.json")
            _copy.tar_copy(src, dst, status, "online_copy")
        elif method == "module-rsync":
            _copy.rsync(src, dst, _copy.Status("/run/dockyard-migrate/bench.status.json"), "online_copy")
        elif method == "engine":
            _pipe(_copy.TAR_CREATE + ["-C", src, "."], _copy.TAR_EXTRACT + ["-C", dst])
        elif method == "cp":
            subprocess.run(["cp", "-a", "--", src.rstrip("/") + "/.", dst], check=True)
        elif method == "tar":
            _pipe(["tar", "-C", src, "--sparse", "-cf", "-", "."], ["tar", "-C", dst, "-xf", "-"])
        else:
            raise SystemExit("unknown method %s" % method)
        subprocess.run(["sync"], check=True)
    seconds = time.time() - t0
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"method": method, "seconds": round(seconds, 3), "peak_rss_kb": rss, "peak_tree_rss_kb": tree.peak}


def main():
    cmd = sys.argv[1]
    if cmd == "generate":
        made = generate(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        print(json.dumps({"bytes": made}))
    elif cmd == "copy":
        print(json.dumps(copy(sys.argv[2], sys.argv[3], sys.argv[4])))
    elif cmd == "sample":
        sample(int(sys.argv[2]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
