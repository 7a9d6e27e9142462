"""Runs on a fleet host: makes a layer-like tree, times the baselines' copies of it, and watches a module.
Standard library only.

    python3 host_copy.py generate ROOT SIZE_MB FILES
    python3 host_copy.py copy METHOD SRC DST      (prints JSON: seconds, peak_rss_kb, peak_tree_rss_kb)
    python3 host_copy.py watch MARK OUT           until SIGTERM: every 20 ms, sum the resident memory of every
                                                  process whose environment holds MARK (the AnsiballZ python
                                                  of a module run with that variable, and the tar or rsync it
                                                  starts, which inherit it) and their descendants; write the
                                                  peaks (RSS, and PSS near the RSS peak) and the time tar and
                                                  rsync ran to OUT as JSON

METHOD is one of: cp (cp -a), tar (tar --sparse -cf - . | tar -xf -), rsync (rsync -aHAXS, as a full copy).
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
    t0 = time.time()
    with TreeRss() as tree:
        if method == "cp":
            subprocess.run(["cp", "-a", "--", src.rstrip("/") + "/.", dst], check=True)
        elif method == "tar":
            _pipe(["tar", "-C", src, "--sparse", "-cf", "-", "."], ["tar", "-C", dst, "-xf", "-"])
        elif method == "rsync":
            subprocess.run(["rsync", "-aHAXS", src.rstrip("/") + "/", dst.rstrip("/") + "/"], check=True)
        else:
            raise SystemExit("unknown method %s" % method)
        subprocess.run(["sync"], check=True)
    seconds = time.time() - t0
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"method": method, "seconds": round(seconds, 3), "peak_rss_kb": rss, "peak_tree_rss_kb": tree.peak}


def _marked(mark, me):
    """The pids whose environment holds MARK (not this watcher)."""
    out = []
    needle = mark.encode() + b"="
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            with open("/proc/%s/environ" % pid, "rb") as f:
                env = f.read()
        except OSError:
            continue
        if any(e.startswith(needle) for e in env.split(b"\0")):
            out.append(int(pid))
    return out


def _pss_kb(pid):
    """Proportional set size: pages shared between processes (rsync's forked halves) counted once in all."""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


def watch(mark, out):
    """Peak summed RSS of the marked processes and their descendants, overall and while tar or rsync run, and
    when those ran (first and last sample that saw them), written to OUT on SIGTERM."""
    me = os.getpid()
    state = {"peak_kb": 0, "peak_pss_kb": 0, "peak_tar_kb": 0, "peak_rsync_kb": 0, "samples": 0, "tar": [], "rsync": [],
             "pids_seen": 0}
    seen = set()

    def done(*_args):
        with open(out + ".tmp", "w") as f:
            json.dump(state, f)
        os.rename(out + ".tmp", out)
        os._exit(0)

    signal.signal(signal.SIGTERM, done)
    with open(out + ".pid", "w") as f:
        f.write(str(me))
    while True:
        now = time.time()
        kids = _children()
        todo = _marked(mark, me)
        tree = set()
        while todo:
            pid = todo.pop()
            if pid == me or pid in tree:
                continue
            tree.add(pid)
            todo.extend(kids.get(pid, []))
        total = sum(_rss_kb(pid) for pid in tree)
        names = set(_comm(pid) for pid in tree)
        seen.update(tree)
        state["pids_seen"] = len(seen)
        state["samples"] += 1
        state["peak_kb"] = max(state["peak_kb"], total)
        if total > state["peak_kb"] // 2:  # PSS costs more to read: only near the peak
            state["peak_pss_kb"] = max(state["peak_pss_kb"], sum(_pss_kb(pid) for pid in tree))
        for tool in ("tar", "rsync"):
            if tool in names:
                state["peak_%s_kb" % tool] = max(state["peak_%s_kb" % tool], total)
                windows = state[tool]
                if windows and now - windows[-1][1] < 0.2:
                    windows[-1][1] = now
                else:
                    windows.append([now, now])
        time.sleep(0.02)


def main():
    cmd = sys.argv[1]
    if cmd == "generate":
        made = generate(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        print(json.dumps({"bytes": made}))
    elif cmd == "copy":
        print(json.dumps(copy(sys.argv[2], sys.argv[3], sys.argv[4])))
    elif cmd == "sample":
        sample(int(sys.argv[2]))
    elif cmd == "watch":
        watch(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
