"""Figure 7 of the bench: one source to 8 destinations, transfer_images.yml with via=stream as a tree
(transfer_fanout=tree: destinations that received the images serve the next ones, each at most two) against every
destination streaming from the source (transfer_fanout=source), side by side, alternating.

Measured: the most bytes any one host sent, from each destination's own ssh log (-v -E LOG: the port it connected
to tells the sender, "Transferred: ... received N bytes" the bytes), against the bytes of the image set (docker save
on the source); target <= 2.1x the set for the tree, against 8x for one source.  Wall time of each playbook run is
reported beside it (on a 2-core machine the destinations' loads compete for the same cores, so time is no target).
Every run ends with each destination's image IDs compared with the source's.

Called with the Bench object of bench/bench.py:

    from fanout import figure7
    figure7(bench)                      # 8 destinations, --fanout-mb (default 128) MB set, max(5, --reps) reps
    figure7(bench, size_mb=16, reps=1)  # a quick smoke run

It brings up its own hosts h21 (the source) and h22..h29 (bookworm, Docker 20.10), apart from the tests' hosts.
"""
import os
import re
import statistics
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY = "/var/lib/dockyard-fleet/id_ed25519"
FIRST = 21  # the source; the destinations follow
OPTS = "-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
LOG = "/root/bench-fanout-ssh.log"
TARGET = 2.1


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def figure7(bench, dests=8, size_mb=None, reps=None, images=4):
    """Add figure 7's rows (bench.row) and its data (bench.result["figures"]["7"])."""
    size_mb = size_mb or getattr(bench.a, "fanout_mb", None) or 128
    reps = reps or max(5, getattr(bench.a, "reps", 5))
    src = "h%d" % FIRST
    hosts = ["h%d" % (FIRST + 1 + i) for i in range(dests)]
    log("figure 7: bringing up %s and %d destinations" % (src, dests))
    bench.fleet.up_extra("--first", str(FIRST), "--hosts", str(dests + 1))
    subprocess.run(["python3", "tests/fleet/fleet.py", "seed", src], check=True, timeout=900,
                   stdout=subprocess.DEVNULL, cwd=ROOT)
    port_of = dict((h, bench.fleet_port(h)) for h in [src] + hosts)
    host_at = dict((p, h) for h, p in port_of.items())
    for host in [src] + hosts:
        subprocess.run(["docker", "cp", KEY, "%s:/root/.ssh/fleet_key" % bench.container(host)], check=True, timeout=60)
        bench.sh(host, "chmod", "600", "/root/.ssh/fleet_key")

    # The set: IMAGES images on seed/base, each with its own layer of random bytes, SIZE_MB in all.
    names = ["fanout/app:%d" % (i + 1) for i in range(images)]
    each = max(1, size_mb * 1024 // images)
    bench.sh(src, "sh", "-c", "docker rmi %s >/dev/null 2>&1; true" % " ".join(names))
    for name in names:
        bench.sh(src, "sh", "-c", "c=$(docker create --network none seed/base:1 sh -c 'head -c %d /dev/urandom > "
                 "/blob') && docker start -a $c >/dev/null && docker commit $c %s >/dev/null && docker rm $c >/dev/null"
                 % (each * 1024, name))
    set_bytes = int(bench.sh(src, "sh", "-c", "docker save %s | wc -c" % " ".join(names)).strip())
    ids = bench.sh(src, "docker", "image", "inspect", "-f", "{{.Id}}", *names).split()
    log("figure 7: %d images, %.1f MB as docker save writes them" % (images, set_bytes / 1e6))

    def one(fanout):
        for host in hosts:
            bench.sh(host, "sh", "-c", "rm -f %s; docker rmi -f %s >/dev/null 2>&1; docker image prune -af >/dev/null; "
                     "true" % (LOG, " ".join(names)))
        extra = {"transfer_source": src, "transfer_to": ":".join(hosts), "transfer_images": names,
                 "transfer_via": "stream", "transfer_fanout": fanout, "transfer_ssh_key": "/root/.ssh/fleet_key",
                 "transfer_ssh_args": "%s -v -E %s" % (OPTS, LOG)}
        secs, _res = bench.playbook("transfer_images.yml", None, extra)
        sent = {}
        for host in hosts:
            text = bench.sh(host, "sh", "-c", "cat %s 2>/dev/null; true" % LOG)
            ports = re.findall(r"Connecting to \S+ \[\S+\] port (\d+)", text)
            got = [int(n) for n in re.findall(r"Transferred: sent \d+, received (\d+) bytes", text)]
            if len(ports) != 1 or len(got) != 1:
                raise SystemExit("bench: figure 7: %s's ssh log shows %d connections, %d counts" % (
                    host, len(ports), len(got)))
            sender = host_at[int(ports[0])]
            sent[sender] = sent.get(sender, 0) + got[0]
            have = bench.sh(host, "docker", "image", "inspect", "-f", "{{.Id}}", *names).split()
            if have != ids:
                raise SystemExit("bench: figure 7: %s ended with %s, not %s" % (host, have, ids))
        top = max(sent, key=sent.get)
        return {"seconds": round(secs, 3), "sent": sent, "max_host": top, "max_bytes": sent[top],
                "ratio": sent[top] / float(set_bytes), "senders": len(sent)}

    runs = {"tree": [], "source": []}
    for rep in range(reps):
        for kind in (("tree", "source") if rep % 2 == 0 else ("source", "tree")):
            runs[kind].append(one(kind))
            r = runs[kind][-1]
            log("figure 7 %-6s: %.1f s, most sent by one host %s %.1f MB = %.2fx the set (%d senders)" % (
                kind, r["seconds"], r["max_host"], r["max_bytes"] / 1e6, r["ratio"], r["senders"]))
    bench.result["figures"]["7"] = {"destinations": hosts, "source": src, "images": names, "set_bytes": set_bytes,
                                    "reps": reps, "runs": runs}
    tree, single = runs["tree"], runs["source"]
    med_t = statistics.median(r["seconds"] for r in tree)
    med_s = statistics.median(r["seconds"] for r in single)
    bench.row("7", "%d destinations, tree: most bytes sent by one host" % dests,
              statistics.median(r["max_bytes"] for r in tree) / 1e6, "MB", [r["ratio"] for r in tree], TARGET,
              "ratio: x the set (%.1f MB); wall %.1f s" % (set_bytes / 1e6, med_t))
    bench.row("7", "%d destinations, one source: bytes the source sent" % dests,
              statistics.median(r["max_bytes"] for r in single) / 1e6, "MB", [r["ratio"] for r in single], None,
              "ratio: x the set; wall %.1f s" % med_s)
    bench.row("7", "%d destinations: wall time, tree / one source" % dests, med_t, "s",
              [t["seconds"] / s["seconds"] for t, s in zip(tree, single)], None,
              "reported, not a target: the loads share 2 cores")
    return bench.result["figures"]["7"]
