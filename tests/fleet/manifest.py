"""A manifest of a directory tree, to prove two trees are the same.

Runs on a fleet host (python3, standard library only):

    python3 manifest.py TREE > manifest.json
    python3 manifest.py --compare TREE_A TREE_B [--ignore GLOB ...] [--no-dir-mtime]
    python3 manifest.py --save FILE TREE
    python3 manifest.py --against FILE TREE [--ignore GLOB ...] [--no-dir-mtime]

Each entry records its path, type, mode, owner, group, size, mtime (files and
symlinks), a sha256 of the content, the symlink target, device numbers, its
hard-link group, every extended attribute (ACLs are ``system.posix_acl_*``
attributes) and, for regular files, the map of data and holes.  The walk does
not cross into other filesystems.  The sentinel a move writes at the top of
the moved root (``.dockyard-data-root``) is not Docker's data and is never
compared.  ``--compare`` prints the differences and
exits 1 when there are any.
"""
import argparse
import fnmatch
import hashlib
import json
import os
import stat
import sys

# The file a data-root move writes into the moved root for its drop-in's AssertPathExists=; not Docker's data.
ALWAYS_IGNORED = (".dockyard-data-root",)


def holes(path, size):
    """The data segments of a sparse file, as [start, end] pairs."""
    segs = []
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        pos = 0
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                break
            end = os.lseek(fd, start, os.SEEK_HOLE)
            segs.append([start, end])
            pos = end
    finally:
        os.close(fd)
    return segs


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def xattrs(path):
    out = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return out
    for n in sorted(names):
        try:
            out[n] = hashlib.sha256(os.getxattr(path, n, follow_symlinks=False)).hexdigest()[:16]
        except OSError:
            out[n] = "?"
    return out


def manifest(root):
    root = os.path.abspath(root)
    dev = os.lstat(root).st_dev
    entries = {}
    links = {}
    for cur, dirs, files in os.walk(root):
        keep = []
        for d in sorted(dirs):
            if os.lstat(os.path.join(cur, d)).st_dev == dev:
                keep.append(d)
        dirs[:] = keep
        for name in [""] + sorted(dirs) + sorted(files):
            full = os.path.join(cur, name) if name else cur
            if name == "" and cur != root:
                continue
            rel = os.path.relpath(full, root)
            if rel in ALWAYS_IGNORED:
                continue  # neither listed nor counted: the moved root holds it, the original never does
            st = os.lstat(full)
            e = {"type": stat.S_IFMT(st.st_mode), "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid,
                 "gid": st.st_gid, "xattrs": xattrs(full)}
            if stat.S_ISREG(st.st_mode):
                e.update(size=st.st_size, mtime=st.st_mtime_ns, sha256=digest(full),
                         holes=holes(full, st.st_size))
                if st.st_nlink > 1:
                    key = (st.st_dev, st.st_ino)
                    e["link_group"] = links.setdefault(key, rel)
            elif stat.S_ISLNK(st.st_mode):
                e.update(target=os.readlink(full), mtime=st.st_mtime_ns)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                e.update(rdev=[os.major(st.st_rdev), os.minor(st.st_rdev)])
            elif stat.S_ISDIR(st.st_mode):
                e.update(dir_mtime=st.st_mtime_ns)
            entries[rel] = e
    return entries


def compare(a, b, ignore, dir_mtime):
    def ignored(path):
        return path in ALWAYS_IGNORED or any(fnmatch.fnmatch(path, g) for g in ignore)
    diffs = []
    for path in sorted(set(a) | set(b)):
        if ignored(path):
            continue
        if path not in a:
            diffs.append("only in B: %s" % path)
        elif path not in b:
            diffs.append("only in A: %s" % path)
        else:
            ea, eb = dict(a[path]), dict(b[path])
            if not dir_mtime:
                ea.pop("dir_mtime", None)
                eb.pop("dir_mtime", None)
            if ea != eb:
                keys = sorted(k for k in set(ea) | set(eb) if ea.get(k) != eb.get(k))
                diffs.append("differs: %s (%s)" % (path, ", ".join(keys)))
    return diffs


def main():
    p = argparse.ArgumentParser()
    p.add_argument("trees", nargs="+")
    p.add_argument("--compare", action="store_true")
    p.add_argument("--ignore", action="append", default=[])
    p.add_argument("--no-dir-mtime", action="store_true")
    p.add_argument("--save", metavar="FILE")
    p.add_argument("--against", metavar="FILE")
    a = p.parse_args()
    if a.save:
        with open(a.save, "w") as f:
            json.dump(manifest(a.trees[0]), f, sort_keys=True)
        return
    if a.against:
        with open(a.against) as f:
            ma = json.load(f)
        mb = manifest(a.trees[0])
    elif a.compare:
        ma, mb = manifest(a.trees[0]), manifest(a.trees[1])
    else:
        json.dump(manifest(a.trees[0]), sys.stdout, sort_keys=True)
        return
    diffs = compare(ma, mb, a.ignore, not a.no_dir_mtime)
    hl = sum(1 for e in ma.values() if "link_group" in e)
    sparse = sum(1 for e in ma.values() if e.get("holes") is not None and e.get("size")
                 and sum(s[1] - s[0] for s in e["holes"]) < e["size"])
    xa = sum(1 for e in ma.values() if e["xattrs"])
    print(json.dumps({"entries_a": len(ma), "entries_b": len(mb), "hard_linked": hl, "sparse": sparse,
                      "with_xattrs": xa, "differences": diffs[:50], "difference_count": len(diffs)}))
    sys.exit(1 if diffs else 0)


if __name__ == "__main__":
    main()
