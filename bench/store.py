"""Figure 8 of the bench: converting a host to containerd's image store with dockyard.migrate.image_store, against a
plain restart of Docker on the same host with the same containers, side by side, alternating.

The host: IMAGES images sharing a base (about --store-mb MB in all), CONTAINERS containers made from them, RUNNING of
them running (restart policy unless-stopped), each with RW_MB in its writable layer (bench/host_store.py build).

Measured, each repetition:
  - Docker's downtime in the conversion (the module's downtime_seconds: from the stop until every container that
    ran runs again on the new store) against `systemctl restart docker` timed the same way (until the same
    containers run again); target <= 2.0.
  - the bytes written to the machine's disks over the conversion (/proc/diskstats after a sync: everything, the
    images, the containers' writable layers, metadata, and whatever else the machine wrote meanwhile) against
    what containerd's store holds afterwards (its content store and overlayfs snapshots, allocated: the images
    and the writable layers); target <= 1.10: no temporary archive on disk.  containerd's and dockerd's own
    write_bytes are shown beside it.
  - a rerun: changed=false, and the bytes it writes (0 expected).
Then the host goes back (image_store store=classic) and the containerd store is removed (state=cleaned,
soak_days=0), so that every repetition starts from the same host.  Once, as an anchor with no target: the
remove-and-reload route (docker save of every tag to a file, switch, docker load, containers made again by hand from
their inspect, their writable layers lost) on the same host, its downtime and bytes written.

Called with the Bench object of bench/bench.py (figure 8):

    from store import figure8
    figure8(bench)                                   # --store-mb (1024) MB, --reps repetitions
    figure8(bench, size_mb=64, reps=1)               # a quick smoke run

It brings up its own host h31 (Debian trixie, Docker 26.1), apart from the tests' hosts.
"""
import statistics
import time

HOST = "h31"
MODULE = "dockyard.migrate.image_store"
IMAGES, CONTAINERS, RUNNING, RW_MB = 10, 8, 5, 8


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def convert(bench, store, **extra):
    """One run of the module, with what reached the disks meanwhile (synced), and what containerd and dockerd
    wrote."""
    before = bench.pyjson(HOST, "host_store.py", "io")
    r = bench.fleet.module(HOST, MODULE, dict({"store": store}, **extra))
    after = bench.pyjson(HOST, "host_store.py", "io")
    if r.get("failed"):
        raise SystemExit("bench: image_store %s failed: %s" % (store, r.get("msg")))
    return r, dict((k, after[k] - before[k]) for k in after)


def figure8(bench, size_mb=None, reps=None):
    """Add figure 8's rows (bench.row) and its data (bench.result["figures"]["8"])."""
    size_mb = size_mb or getattr(bench.a, "store_mb", None) or 1024
    reps = reps or getattr(bench.a, "reps", 3)
    log("figure 8: bringing up %s" % HOST)
    bench.fleet.up_extra("--first", HOST[1:], "--hosts", "1", "--suite", "trixie")
    bench.fleet.reset(HOST)
    bench.install(HOST)
    built = bench.pyjson(HOST, "host_store.py", "build", size_mb, IMAGES, CONTAINERS, RUNNING, RW_MB)
    log("figure 8: built %s" % built)
    runs = {"restart": [], "convert": [], "written": [], "daemons_written": [], "held": [], "rerun_written": [],
            "back": [], "phases": []}
    for rep in range(reps):
        order = ["restart", "convert"] if rep % 2 == 0 else ["convert", "restart"]
        for kind in order:
            if kind == "restart":
                r = bench.pyjson(HOST, "host_store.py", "restart", RUNNING)
                runs["restart"].append(r["downtime_seconds"])
                log("figure 8: restart  downtime %6.2f s" % r["downtime_seconds"])
                continue
            held0 = bench.pyjson(HOST, "host_store.py", "usage")["containerd"]
            r, written = convert(bench, "containerd")
            # What the new store holds: the images' blobs and snapshots and the containers' writable layers.
            held = bench.pyjson(HOST, "host_store.py", "usage")["containerd"] - held0
            again, rerun_written = convert(bench, "containerd")
            if again.get("changed"):
                raise SystemExit("bench: the rerun changed the host: %s" % again.get("actions"))
            runs["convert"].append(r["downtime_seconds"])
            runs["written"].append(written["disk"])
            runs["daemons_written"].append(written["containerd"] + written["dockerd"])
            runs["held"].append(held)
            runs["rerun_written"].append(rerun_written["disk"])
            runs["phases"].append(r["phase_seconds"])
            log("figure 8: convert  downtime %6.2f s, images %.2f s, written %d MB (containerd and dockerd %d MB), "
                "held %d MB, rerun %d KB; %s" % (
                    r["downtime_seconds"], r["images_seconds"], written["disk"] >> 20,
                    (written["containerd"] + written["dockerd"]) >> 20, held >> 20, rerun_written["disk"] >> 10,
                    r["phase_seconds"]))
            back, _written = convert(bench, "classic")
            runs["back"].append(back["downtime_seconds"])
            convert(bench, "classic", state="cleaned", soak_days=0)
    anchor = bench.pyjson(HOST, "host_store.py", "reload", RUNNING)
    log("figure 8: remove-and-reload %s" % anchor)
    med = dict((k, statistics.median(v)) for k, v in runs.items() if k != "phases")
    ratios = [c / r for c, r in zip(runs["convert"], runs["restart"])]
    bytes_ratios = [w / h for w, h in zip(runs["written"], runs["held"])]
    bench.result["figures"]["8"] = {"host": built, "runs": runs, "medians": med, "anchor": anchor,
                                    "target_downtime": 2.0, "target_bytes": 1.10}
    what = "%d images (%d MB), %d containers, %d running" % (built["images"], size_mb, CONTAINERS, RUNNING)
    bench.row("8", "downtime, conversion to containerd (%s)" % what, med["convert"], "s", ratios, 2.0,
              "vs a plain systemctl restart docker, until the same containers run")
    bench.row("8", "  plain restart", med["restart"], "s")
    bench.row("8", "  bytes written to disk / bytes the new store holds", med["written"] / (1 << 20), "MB",
              bytes_ratios, 1.10, "synced, /proc/diskstats; held: blobs, snapshots, writable layers")
    bench.row("8", "  of them by containerd and dockerd (write_bytes)", med["daemons_written"] / (1 << 20), "MB")
    bench.row("8", "  rerun: bytes written to disk", med["rerun_written"] / (1 << 20), "MB", None, None,
              "changed=false; anything the machine wrote meanwhile included")
    bench.row("8", "  back to classic: downtime", med["back"], "s")
    bench.row("8", "  anchor: remove-and-reload route, downtime", anchor["downtime_seconds"], "s",
              anchor["downtime_seconds"] / med["restart"], None,
              "save %.0f s before it; %d MB written; writable layers lost" % (
                  anchor["save_seconds"], anchor["written_bytes"] >> 20))
