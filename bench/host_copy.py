"""Runs on a fleet host: makes a layer-like tree and times copies of it.  Standard library only.

    python3 host_copy.py generate ROOT SIZE_MB FILES
    python3 host_copy.py copy METHOD SRC DST      (prints JSON: seconds, peak_rss_kb)

METHOD is one of: engine (the collection's first copy: a tar pipe keeping xattrs and ACLs), rsync (the
collection's delta pass, run as a full copy), cp (cp -a), tar (tar --sparse -cf - . | tar -xf -).
"""
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time

# The collection's copy engine (plugins/module_utils/_copy.py): a tar pipe for the first copy into an empty
# target, rsync for the passes after it.
RSYNC = ["rsync", "-aHAXS", "--numeric-ids", "--one-file-system", "--delete", "--stats"]
TAR_CREATE = ["tar", "--sparse", "--xattrs", "--xattrs-include=*", "--acls", "--numeric-owner",
              "--one-file-system", "-cf", "-"]
TAR_EXTRACT = ["tar", "--xattrs", "--xattrs-include=*", "--acls", "--numeric-owner", "-xpf", "-"]


def generate(root, size_mb, files):
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
        if i % 499 == 0:
            with open(path + ".sparse", "wb") as f:
                f.truncate(64 << 20)
                f.seek(32 << 20)
                f.write(b"x")
    return made


def drop_caches():
    subprocess.run(["sync"], check=True)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def copy(method, src, dst):
    if os.path.exists(dst):
        shutil.rmtree(dst)
    os.makedirs(dst)
    drop_caches()
    t0 = time.time()
    if method == "engine":
        a = subprocess.Popen(TAR_CREATE + ["-C", src, "."], stdout=subprocess.PIPE)
        subprocess.run(TAR_EXTRACT + ["-C", dst], stdin=a.stdout, check=True)
        a.stdout.close()
        if a.wait() != 0:
            raise SystemExit("tar -c failed")
    elif method == "rsync":
        subprocess.run(RSYNC + ["--", src.rstrip("/") + "/", dst.rstrip("/") + "/"], check=True,
                       stdout=subprocess.DEVNULL)
    elif method == "cp":
        subprocess.run(["cp", "-a", "--", src.rstrip("/") + "/.", dst], check=True)
    elif method == "tar":
        a = subprocess.Popen(["tar", "-C", src, "--sparse", "-cf", "-", "."], stdout=subprocess.PIPE)
        subprocess.run(["tar", "-C", dst, "-xf", "-"], stdin=a.stdout, check=True)
        a.stdout.close()
        if a.wait() != 0:
            raise SystemExit("tar -c failed")
    else:
        raise SystemExit("unknown method %s" % method)
    subprocess.run(["sync"], check=True)
    seconds = time.time() - t0
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"method": method, "seconds": round(seconds, 3), "peak_rss_kb": rss}


def main():
    cmd = sys.argv[1]
    if cmd == "generate":
        made = generate(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        print(json.dumps({"bytes": made}))
    elif cmd == "copy":
        print(json.dumps(copy(sys.argv[2], sys.argv[3], sys.argv[4])))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
