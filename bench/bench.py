"""Benchmarks of dockyard.migrate on fleet hosts, each figure against its baseline in the same run.

    python3 bench/bench.py [--size-mb 1024] [--files 25000] [--reps 3]

Measured now: (1) a full copy by the collection's copy engine (and by rsync, its delta engine) against cp -a
and a tar pipe of the same
layer-like tree to the same data disk, caches dropped before each, alternating order, median of the
repetitions; (6) the peak memory of each copy.  Prints a table, writes JSON under bench/results/, and
appends the run to docs/performance.md.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FLEET = [sys.executable, os.path.join(ROOT, "tests", "fleet", "fleet.py")]
HOST = "h1"


def sh(*argv):
    res = subprocess.run(["docker", "exec", "dockyard-" + HOST] + list(argv), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True, check=False)
    if res.returncode != 0:
        raise SystemExit("bench: %s failed: %s" % (" ".join(argv), res.stderr))
    return res.stdout


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size-mb", type=int, default=1024)
    p.add_argument("--files", type=int, default=25000)
    p.add_argument("--reps", type=int, default=3)
    a = p.parse_args()
    subprocess.run(FLEET + ["up", "--hosts", "1"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(FLEET + ["reset", HOST], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["docker", "cp", os.path.join(HERE, "host_copy.py"), "dockyard-%s:/root/host_copy.py" % HOST],
                   check=True)
    src = "/var/lib/bench-src"
    made = json.loads(sh("python3", "/root/host_copy.py", "generate", src, str(a.size_mb), str(a.files)))
    files = int(sh("sh", "-c", "find %s -type f | wc -l" % src).strip())
    runs = {"engine": [], "rsync": [], "cp": [], "tar": []}
    order = ["engine", "rsync", "cp", "tar"]
    for rep in range(a.reps):
        for method in order[rep % 4:] + order[:rep % 4]:
            r = json.loads(sh("python3", "/root/host_copy.py", "copy", method, src, "/mnt/data/bench-" + method))
            runs[method].append(r)
            sh("rm", "-rf", "/mnt/data/bench-" + method)
    med = dict((m, statistics.median(r["seconds"] for r in rs)) for m, rs in runs.items())
    rss = dict((m, max(r["peak_rss_kb"] for r in rs)) for m, rs in runs.items())
    best = min(med["cp"], med["tar"])
    result = {"date": datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"),
              "machine": "%s, %d cores, %s" % (platform.machine(), os.cpu_count(), platform.release()),
              "tree": {"bytes": made["bytes"], "files": files}, "reps": a.reps, "median_seconds": med,
              "peak_rss_kb": rss, "ratio_engine_vs_best_baseline": round(med["engine"] / best, 3),
              "runs": runs}
    row = "%-42s %8.2f   %5.2f   %6d KB"
    lines = ["figure                                     median s   ratio   peak RSS",
             row % ("1. full copy, engine (first pass: tar pipe)", med["engine"], med["engine"] / best,
                    rss["engine"]),
             row % ("   rsync -aHAXS -x as a full copy", med["rsync"], med["rsync"] / best, rss["rsync"]),
             row % ("   baseline cp -a", med["cp"], med["cp"] / best, rss["cp"]),
             row % ("   baseline tar | tar", med["tar"], med["tar"] / best, rss["tar"])]
    print("tree: %d MB in %d files, %d repetitions, caches dropped before each copy" % (
        made["bytes"] >> 20, files, a.reps))
    print("\n".join(lines))
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    out = os.path.join(HERE, "results", "bench-%s.json" % datetime.datetime.utcnow().strftime("%Y%m%dT%H%M%S"))
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    doc = os.path.join(ROOT, "docs", "performance.md")
    new = not os.path.exists(doc)
    with open(doc, "a") as f:
        if new:
            f.write("# Performance\n\nEach run of `make bench` appends a section here. Figures are medians of "
                    "repetitions measured side by side in the same run, on a fleet host whose target is an ext4 "
                    "data disk on a loop device.\n")
        f.write("\n## %s, %s\n\nTree: %d MB in %d files (layer-like: hard links, xattrs, holes); %d repetitions, "
                "caches dropped before each copy.\n\n```\n%s\n```\n" % (
                    result["date"], result["machine"], made["bytes"] >> 20, files, a.reps, "\n".join(lines)))
    print("JSON: %s" % out)


if __name__ == "__main__":
    main()
