"""Benchmarks of dockyard.migrate on fleet hosts, each figure against its baseline in the same run.

    python3 bench/bench.py [--figures 1,6,2,3,5,7] [--size-mb 512] [--files 12000] [--reps 5]
                           [--large-files 200000] [--images 5] [--fleet-mb 128] [--scale-mb 1024] [--fanout-mb 64]

Every figure is repeated --reps times (5), alternating the method and its baseline within each repetition; the
table gives medians and the ratio of each repetition as min / median / max, and one verdict for every figure:
met when the whole spread clears the target, within noise when it straddles it, not met otherwise.
With the defaults a run takes about 35 minutes on a 2-core machine.

Figures:
  1. the first copy of a data root by the data_root module as Ansible runs it (one online pass: its tar pipe and
     the flush to disk; the module's own timing, checked against its tar's lifetime seen by a sampler on the
     host) against the faster of cp -a and tar | tar of the same root to the same disk; target <= 1.05.
  2. Docker's downtime in a two-phase move by the data_root module (stop until the containers run again on the
     new root), with about 1% of the root changed between the online passes and the stop (files rewritten, an
     image imported and one removed, a container created and one removed), against the classic offline
     procedure's copy time (stop, one rsync -aXS, bind mount, start); target <= 0.10.  Again on --scale-mb.
  3. N images sharing a base moved from one host to another by the transfer_images playbook (via=stream) against
     docker save | ssh | docker load, bytes on the wire counted by ssh itself: with nothing on the destination
     (time <= 1.10) and with the base, about 90% of the layer bytes, already there (bytes <= 0.12, time <= 0.8);
     a rerun moves 0 bytes.
  4. a no-op rerun of migrate_docker_root.yml on 4 migrated hosts (each verified from a fresh analysis) against
     ansible -m ansible.builtin.setup on the same hosts; target <= 2.0.
  5. migrating 4 hosts at once against 1 host with migrate_docker_root.yml, wall time; target <= 2.0.
  6. peak memory of the data_root module as Ansible runs it (the AnsiballZ python and its tar and rsync
     children, RSS summed every 20 ms by a sampler on the host) on a root with a volume of --large-files small
     files, over the first copy and the rsync passes; target <= 50 MB + 256 bytes per file in the root.
  7. one source to 8 destinations by transfer_images.yml (via=stream): as a tree, where destinations that
     received the images serve the next ones, against every destination streaming from the source; the most
     bytes any one host sent, counted by the destinations' ssh, against the set; target <= 2.1x the set
     (bench/fanout.py); wall time beside it, no target.
  8. converting a host (10 images sharing a base, --store-mb MB, 8 containers, 5 running, data in their writable
     layers) to containerd's image store with the image_store module: Docker's downtime against a plain
     systemctl restart docker (target <= 2.0); bytes written for the images against what the new store holds
     (target <= 1.10); a rerun's bytes; the remove-and-reload route as an anchor (bench/store.py).  Not in the
     default --figures.
Prints a table, writes JSON under bench/results/, and appends the run to docs/performance.md.
"""
import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from conftest import Fleet, container, fleet  # noqa: E402  pylint: disable=wrong-import-position

TARGET = "/mnt/data/docker"
KEY = "/var/lib/dockyard-fleet/id_ed25519"


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def spread(values):
    """min, median, max of VALUES."""
    values = list(values)
    return min(values), statistics.median(values), max(values)


def verdict(values, target):
    """The verdict of a figure whose every repetition gave one of VALUES against an upper TARGET: met only when
    the whole spread clears it, within noise when the spread straddles it, not met when none of it does."""
    lo, _med, hi = spread(values)
    if hi <= target:
        return "met"
    if lo <= target:
        return "within noise"
    return "not met"


class Bench:
    def __init__(self, args):
        self.a = args
        self.fleet = None
        self.result = {"date": datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"),
                       "machine": machine(), "args": vars(args), "figures": {}}
        self.rows = []

    # ------------------------------------------------------------ plumbing
    def up(self, hosts):
        self.fleet = Fleet(fleet("up", "--hosts", str(hosts)).splitlines()[-1])

    @staticmethod
    def container(host):
        """The machine's container of fleet host HOST, in this worker's fleet (DOCKYARD_FLEET_WORKER)."""
        return container(host)

    def sh(self, host, *argv):
        res = subprocess.run(["docker", "exec", container(host)] + list(argv), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, universal_newlines=True, check=False)
        if res.returncode != 0:
            raise SystemExit("bench: %s on %s failed: %s%s" % (" ".join(argv), host, res.stdout[-2000:],
                                                               res.stderr[-2000:]))
        return res.stdout

    def pyjson(self, host, script, *args):
        return json.loads(self.sh(host, "python3", "/root/bench/" + script, *[str(a) for a in args]).splitlines()[-1])

    def install(self, host):
        """The host-side scripts."""
        self.sh(host, "rm", "-rf", "/root/bench")
        subprocess.run(["docker", "cp", HERE, "%s:/root/bench" % container(host)], check=True)

    def prepare(self, hosts):
        self.fleet.reset(*hosts)
        for h in hosts:
            self.install(h)

    def playbook(self, playbook, limit, extra, env=None):
        t0 = time.time()
        res = self.fleet.playbook(os.path.join(ROOT, "playbooks", playbook), limit=limit, extra=extra, env=env)
        return time.time() - t0, res

    def row(self, figure, label, value, unit, ratios=None, target=None, note=""):
        """One line of the table: VALUE (a median) and, when given, the ratios of each repetition (their min /
        median / max) and, with a TARGET (an upper bound on the ratio), the verdict on the whole spread."""
        if ratios is not None and not isinstance(ratios, (list, tuple)):
            ratios = [ratios]
        ratios = [float(r) for r in ratios] if ratios else None
        verdict_text = verdict(ratios, target) if ratios and target is not None else ""
        self.rows.append((figure, label, value, unit, ratios, target, verdict_text, note))
        fig = self.result["figures"].setdefault(figure, {})
        fig.setdefault("rows", []).append({"label": label.strip(), "median": value, "unit": unit, "ratios": ratios,
                                           "target": target, "verdict": verdict_text or None, "note": note})

    # ------------------------------------------------------------ figures 1 and 6: the module as Ansible runs it
    WATCH = "/root/bench-watch.json"
    MARK = "DOCKYARD_BENCH_WATCH"

    def module_move(self, host, args):
        """One move by the data_root module, run by Ansible (a one-task playbook), watched on the host by a separate
        sampler: the AnsiballZ python (marked by an environment variable the task sets) and every process under
        it, their summed RSS every 20 ms, and when tar and rsync ran.  Returns the module's result, the wall time
        of ansible-playbook, and what the sampler saw."""
        self.sh(host, "rm", "-f", self.WATCH, self.WATCH + ".pid")
        self.pyjson(host, "host_root.py", "drop")
        subprocess.run(["docker", "exec", "-d", container(host), "python3", "/root/bench/host_copy.py", "watch",
                        self.MARK, self.WATCH], check=True)
        self.sh(host, "sh", "-c", "for i in $(seq 1 200); do test -s %s.pid && exit 0; sleep 0.05; done; exit 1"
                % self.WATCH)
        t0 = time.time()
        r = self.fleet.module(host, "dockyard.migrate.data_root", dict({"path": TARGET}, **args),
                              env={self.MARK: "1"})
        wall = time.time() - t0
        self.sh(host, "sh", "-c", "kill -TERM $(cat %s.pid); for i in $(seq 1 200); do test -s %s && exit 0; "
                "sleep 0.05; done; exit 1" % (self.WATCH, self.WATCH))
        seen = json.loads(self.sh(host, "cat", self.WATCH))
        if r.get("failed"):
            raise SystemExit("bench: the move failed: %s" % r.get("msg"))
        if not seen["pids_seen"]:
            raise SystemExit("bench: the sampler never saw the module's process")
        return r, wall, seen

    @staticmethod
    def window_seconds(seen, tool):
        """How long TOOL ran in the first stretch the sampler saw it (from outside the module)."""
        return round(seen[tool][0][1] - seen[tool][0][0], 3) if seen[tool] else 0.0

    # ------------------------------------------------------------ figure 1
    def figure1(self):
        """The first copy of a data root by the data_root module, as Ansible runs it (one online pass: the tar
        pipe, then the flush to disk), against cp -a and tar | tar of the same root to the same disk."""
        a = self.a
        h = "h1"
        self.prepare([h])
        log("figure 1: building a data root with %d MB in %d files" % (a.size_mb, a.files))
        self.pyjson(h, "host_root.py", "build", a.size_mb, a.files)
        size = self.pyjson(h, "host_root.py", "size")
        order = ["module", "cp", "tar"]
        runs = dict((m, []) for m in order)
        for rep in range(a.reps):
            for method in order[rep % len(order):] + order[:rep % len(order)]:
                if method == "module":
                    r, wall, seen = self.module_move(h, {"online_passes": 1})
                    first = [p for p in r["passes"] if p["phase"] == "online_copy"][0]
                    if first.get("walk") != "full" or self.window_seconds(seen, "tar") == 0:
                        raise SystemExit("bench: the first copy was not the tar pipe: %s" % first)
                    out = {"seconds": round(first["seconds"] + r.get("flush_seconds", 0), 3),
                           "pass_seconds": first["seconds"], "flush_seconds": r.get("flush_seconds"),
                           "tar_seen_seconds": self.window_seconds(seen, "tar"), "wall_seconds": round(wall, 3),
                           "downtime_seconds": r["downtime_seconds"], "peak_tree_rss_kb": seen["peak_kb"]}
                    # The module's own timing, checked against what the sampler saw from outside and the wall time.
                    if not out["tar_seen_seconds"] - 0.5 <= out["pass_seconds"] <= out["tar_seen_seconds"] + 1.0 \
                            or out["seconds"] > wall:
                        raise SystemExit("bench: the module's copy time disagrees with its tar's lifetime: %s" % out)
                    self.pyjson(h, "host_root.py", "reset", TARGET)
                else:
                    out = self.pyjson(h, "host_copy.py", "copy", method, "/var/lib/docker", "/mnt/data/bench-" + method)
                    self.sh(h, "rm", "-rf", "/mnt/data/bench-" + method)
                log("figure 1: %-8s %6.2f s %s" % (method, out["seconds"], json.dumps(out)))
                runs[method].append(out)
        med = dict((m, statistics.median(r["seconds"] for r in rs)) for m, rs in runs.items())
        ratios = [m["seconds"] / min(c["seconds"], t["seconds"])
                  for m, c, t in zip(runs["module"], runs["cp"], runs["tar"])]
        self.result["figures"]["1"] = {"root": size, "median_seconds": med, "runs": runs, "target": 1.05}
        best = min(med["cp"], med["tar"])
        self.row("1", "first copy by data_root via Ansible (%d MB, %d files)" % (size["bytes"] >> 20, size["files"]),
                 med["module"], "s", ratios, 1.05, "vs the faster of cp -a and tar | tar in the same repetition")
        self.row("1", "  its tar pipe's lifetime seen from outside", statistics.median(
            r["tar_seen_seconds"] for r in runs["module"]), "s", None, None, "flush %.2f s; ansible-playbook %.1f s" % (
                statistics.median(r["flush_seconds"] for r in runs["module"]),
                statistics.median(r["wall_seconds"] for r in runs["module"])))
        self.row("1", "  baseline cp -a", med["cp"], "s", [c / best for c in (r["seconds"] for r in runs["cp"])])
        self.row("1", "  baseline tar | tar", med["tar"], "s", [t / best for t in (r["seconds"] for r in runs["tar"])])

    # ------------------------------------------------------------ figure 6
    def figure6(self):
        """Peak memory of the data_root module as Ansible runs it (the AnsiballZ python and its tar or rsync
        children, summed) on a data root with many small files in one volume, whose later passes (online and
        offline) are rsync over that volume; limit 50 MB + 256 bytes per file."""
        a = self.a
        h = "h1"
        self.prepare([h])
        log("figure 6: a volume with %d small files" % a.large_files)
        vol = self.sh(h, "sh", "-c", "docker volume create bench-small >/dev/null && docker volume inspect -f "
                      "'{{.Mountpoint}}' bench-small").strip()
        self.pyjson(h, "host_copy.py", "generate", vol, max(64, a.large_files // 800), a.large_files)
        files = int(self.sh(h, "sh", "-c", "find /var/lib/docker -xdev -type f | wc -l").strip())
        vol_files = int(self.sh(h, "sh", "-c", "find %s -type f | wc -l" % vol).strip())
        limit_kb = (50 * 1024 * 1024 + 256 * files) / 1024.0
        order = ["module", "rsync"]
        runs = dict((m, []) for m in order)
        for rep in range(a.reps):
            for method in order[rep % len(order):] + order[:rep % len(order)]:
                if method == "module":
                    r, wall, seen = self.module_move(h, {})
                    if not seen["peak_tar_kb"] or not seen["peak_rsync_kb"] or len(r["passes"]) < 2:
                        raise SystemExit("bench: the move did not make both a tar copy and an rsync pass: %s" % seen)
                    out = {"peak_tree_rss_kb": seen["peak_kb"], "peak_pss_kb": seen["peak_pss_kb"],
                           "peak_tar_kb": seen["peak_tar_kb"],
                           "peak_rsync_kb": seen["peak_rsync_kb"], "wall_seconds": round(wall, 3),
                           "rsync_seconds": sum(b - a_ for a_, b in seen["rsync"]), "samples": seen["samples"],
                           "passes": [dict((k, p.get(k)) for k in ("phase", "walk", "seconds", "files_transferred"))
                                      for p in r["passes"]]}
                    self.pyjson(h, "host_root.py", "reset", TARGET)
                else:
                    out = self.pyjson(h, "host_copy.py", "copy", method, vol, "/mnt/data/bench-" + method)
                    self.sh(h, "rm", "-rf", "/mnt/data/bench-" + method)
                log("figure 6: %-8s peak %d KB %s" % (method, out["peak_tree_rss_kb"], json.dumps(out)))
                runs[method].append(out)
        self.sh(h, "docker", "volume", "rm", "bench-small")
        med = dict((m, statistics.median(r["peak_tree_rss_kb"] for r in rs)) for m, rs in runs.items())
        self.result["figures"]["6"] = {"files": files, "volume_files": vol_files, "limit_kb": round(limit_kb),
                                       "median_peak_kb": med, "runs": runs}
        mod = runs["module"]
        self.row("6", "peak memory, data_root via Ansible (%d files)" % files, med["module"] / 1024.0, "MB",
                 [r["peak_tree_rss_kb"] / limit_kb for r in mod], 1.0,
                 "of 50 MB + 256 B/file = %.0f MB; RSS of the module + children summed, every pass; PSS %.0f MB" % (
                     limit_kb / 1024, statistics.median(r["peak_pss_kb"] for r in mod) / 1024.0))
        self.row("6", "  while its first copy (tar pipe) ran", statistics.median(r["peak_tar_kb"] for r in mod) / 1024.0,
                 "MB", [r["peak_tar_kb"] / limit_kb for r in mod])
        self.row("6", "  while its rsync passes ran (%d-file volume)" % vol_files,
                 statistics.median(r["peak_rsync_kb"] for r in mod) / 1024.0, "MB",
                 [r["peak_rsync_kb"] / limit_kb for r in mod])
        self.row("6", "  plain rsync -aHAXS of the volume (a full copy)", med["rsync"] / 1024.0, "MB",
                 [r["peak_tree_rss_kb"] / limit_kb for r in runs["rsync"]])

    # ------------------------------------------------------------ figure 2
    def ours(self, host, final_copy, churn_mb):
        """One move by the data_root module; between the online passes and the stop, churn_mb change."""
        box = {}
        args = {"path": TARGET, "final_copy": final_copy}
        t = threading.Thread(target=lambda: box.update(r=self.fleet.module(
            host, "dockyard.migrate.data_root", args, env={"DOCKYARD_MIGRATE_PAUSE": "after_online_copy"})))
        t0 = time.time()
        t.start()
        self.sh(host, "sh", "-c", "for i in $(seq 1 36000); do test -e /run/dockyard-migrate/paused.after_online_copy"
                " && exit 0; sleep 0.05; done; exit 1")
        t_paused = time.time()
        self.pyjson(host, "host_root.py", "churn", churn_mb)
        t_churned = time.time()
        self.sh(host, "rm", "-f", "/run/dockyard-migrate/paused.after_online_copy")
        t.join()
        r = box["r"]
        if r.get("failed"):
            raise SystemExit("bench: the move failed: %s" % r.get("msg"))
        final = [p for p in r["passes"] if p["phase"] == "final_copy"]
        online = [p for p in r["passes"] if p["phase"] == "online_copy"]
        return {"downtime_seconds": r["downtime_seconds"], "offline_copy_seconds": r["offline_copy_seconds"],
                "online_copy_seconds": r["online_copy_seconds"], "online_passes": r.get("online_passes"),
                "online": [{"seconds": p["seconds"], "bytes": p.get("bytes_transferred"),
                            "walk": p.get("walk", "tar")} for p in online],
                "final_bytes": sum(p.get("bytes_transferred", 0) for p in final),
                "final_skipped_dirs": sum(p.get("skipped_dirs", 0) for p in final),
                "wall_seconds": round(time.time() - t0 - (t_churned - t_paused), 3),
                "phases": r["phases"]}

    def figure2(self, size_mb=None, files=None, key="2"):
        a = self.a
        size_mb = size_mb or a.size_mb
        files = files or a.files
        h = "h1"
        self.prepare([h])
        log("figure 2: building a data root with %d MB in %d files" % (size_mb, files))
        self.pyjson(h, "host_root.py", "build", size_mb, files)
        size = self.pyjson(h, "host_root.py", "size")
        churn_mb = max(2, int(size["bytes"] / 100 / (1 << 20)))
        runs = {"mutable": [], "full": [], "classic": []}
        order = ["mutable", "classic", "full"]
        for rep in range(a.reps):
            for kind in order[rep % 3:] + order[:rep % 3]:
                self.pyjson(h, "host_root.py", "drop")
                if kind == "classic":
                    self.pyjson(h, "host_root.py", "churn", churn_mb)
                    self.pyjson(h, "host_root.py", "drop")
                    r = self.pyjson(h, "host_root.py", "classic", TARGET)
                else:
                    r = self.ours(h, kind, churn_mb)
                log("figure 2: %-8s downtime %6.2f s %s" % (kind, r["downtime_seconds"], json.dumps(
                    dict((k, v) for k, v in r.items() if k not in ("phases", "downtime_seconds")))))
                runs[kind].append(r)
                self.pyjson(h, "host_root.py", "reset", TARGET)
        med = dict((k, statistics.median(r["downtime_seconds"] for r in rs)) for k, rs in runs.items())
        classic_copy = statistics.median(r["copy_seconds"] for r in runs["classic"])
        offline = dict((k, statistics.median(r["offline_copy_seconds"] for r in runs[k])) for k in ("mutable", "full"))
        online = dict((k, statistics.median(r["online_copy_seconds"] for r in runs[k])) for k in ("mutable", "full"))
        fig = {"root": size, "changed_mb": churn_mb, "median_downtime_seconds": med,
               "median_classic_copy_seconds": classic_copy, "median_offline_copy_seconds": offline,
               "median_online_copy_seconds": online, "ratio": round(med["mutable"] / classic_copy, 3),
               "ratio_downtime_vs_classic_downtime": round(med["mutable"] / med["classic"], 3), "runs": runs,
               "target": 0.10}
        self.result["figures"][key] = fig
        copies = [r["copy_seconds"] for r in runs["classic"]]
        root = "%d MB root, %d files, %d MB changed" % (size["bytes"] >> 20, size["files"], churn_mb)
        self.row(key, "downtime, two-phase move (%s)" % root, med["mutable"], "s",
                 [r["downtime_seconds"] / c for r, c in zip(runs["mutable"], copies)], 0.10,
                 "vs the classic procedure's copy time; the change: files rewritten, an image imported and one "
                 "removed, a container created and one removed")
        self.row(key, "  its offline pass (walks what can change)", offline["mutable"], "s",
                 [r["offline_copy_seconds"] / c for r, c in zip(runs["mutable"], copies)])
        self.row(key, "  its online passes (Docker running)", online["mutable"], "s")
        self.row(key, "  downtime with a plain full offline pass", med["full"], "s",
                 [r["downtime_seconds"] / c for r, c in zip(runs["full"], copies)])
        self.row(key, "  its offline pass (full walk)", offline["full"], "s",
                 [r["offline_copy_seconds"] / c for r, c in zip(runs["full"], copies)])
        self.row(key, "  classic: downtime (stop, rsync -aXS, start)", med["classic"], "s",
                 [r["downtime_seconds"] / c for r, c in zip(runs["classic"], copies)])
        self.row(key, "  classic: copy time", classic_copy, "s")

    # ------------------------------------------------------------ figure 3
    SSH_LOG = "/root/bench-ssh.log"

    def wire(self, host, word):
        """What ssh on host says it sent or received (its -v log), the log emptied after."""
        text = self.sh(host, "sh", "-c", "cat %s 2>/dev/null; rm -f %s" % (self.SSH_LOG, self.SSH_LOG))
        pairs = re.findall(r"Transferred: sent (\d+), received (\d+) bytes", text)
        return sum(int(sent if word == "sent" else got) for sent, got in pairs)

    def figure3(self):
        """transfer_images via=stream against docker save | ssh | docker load of the same images, bytes counted by
        ssh itself on both sides: with nothing on the destination, and with the shared base (about 90% of the
        layer bytes) already there; then a rerun."""
        a = self.a
        src, dst = "h1", "h2"
        reps = a.reps
        self.prepare([src, dst])
        base_mb = a.size_mb // 2
        top_mb = max(1, int(round(base_mb / 9.0 / a.images)))  # the base holds about 90% of the layer bytes
        log("figure 3: building %d images on a %d MB base, %d MB each on top" % (a.images, base_mb, top_mb))
        made = self.pyjson(src, "host_root.py", "images", base_mb, a.files // 2, a.images, top_mb)
        names = made["images"]
        for host in (src, dst):
            subprocess.run(["docker", "cp", KEY, "%s:/root/.ssh/fleet_key" % container(host)], check=True)
            self.sh(host, "chmod", "600", "/root/.ssh/fleet_key")
        opts = "-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
        extra = {"transfer_source": src, "transfer_to": dst, "transfer_images": names, "transfer_via": "stream",
                 "transfer_ssh_key": "/root/.ssh/fleet_key", "transfer_ssh_args": opts + " -v -E " + self.SSH_LOG}
        size = dict((k, int(self.sh(src, "sh", "-c", "docker save %s | wc -c" % " ".join(v)).strip()))
                    for k, v in (("all", names), ("base", [made["base"]])))
        fig = {"images": names, "save_bytes": size["all"], "lacking_bytes_warm": size["all"] - size["base"],
               "reps": reps, "scenarios": {}}

        def ours():
            self.sh(dst, "rm", "-f", self.SSH_LOG)
            secs, _res = self.playbook("transfer_images.yml", None, extra)
            return {"seconds": round(secs, 3), "bytes": self.wire(dst, "received")}

        def baseline():
            self.sh(src, "rm", "-f", self.SSH_LOG)
            pipe = "set -o pipefail; docker save %s | ssh -i /root/.ssh/fleet_key %s -v -E %s -p %d " \
                "root@127.0.0.1 docker load >/dev/null" % (" ".join(names), opts, self.SSH_LOG, self.fleet_port(dst))
            t0 = time.time()
            self.sh(src, "bash", "-c", pipe)
            return {"seconds": round(time.time() - t0, 3), "bytes": self.wire(src, "sent")}

        for scenario, keep in (("cold", ""), ("warm", made["base"])):
            if keep:  # the base comes from the source once, so its layers are the same there
                self.sh(dst, "sh", "-c", "docker rmi %s >/dev/null 2>&1; true" % " ".join(names))
                self.playbook("transfer_images.yml", None, dict(extra, transfer_images=[keep]))
            clean = "docker rmi %s >/dev/null 2>&1; %s docker image prune -f >/dev/null" % (
                " ".join(names), "" if keep else "docker rmi %s >/dev/null 2>&1;" % made["base"])
            runs = {"ours": [], "baseline": [], "rerun": [], "save_only": []}
            for rep in range(reps):
                for kind in (("ours", "baseline") if rep % 2 == 0 else ("baseline", "ours")):
                    self.sh(dst, "sh", "-c", clean)
                    runs[kind].append(ours() if kind == "ours" else baseline())
                    log("figure 3 %s: %-8s %s" % (scenario, kind, runs[kind][-1]))
                runs["rerun"].append(ours())
                t0 = time.time()
                self.sh(src, "sh", "-c", "docker save %s > /dev/null" % " ".join(names))
                runs["save_only"].append({"seconds": round(time.time() - t0, 3)})
            fig["scenarios"][scenario] = runs
        self.result["figures"]["3"] = fig
        self.figure3_rows(fig)

    def figure3_rows(self, fig):
        cold, warm = fig["scenarios"]["cold"], fig["scenarios"]["warm"]
        for name, runs in (("nothing on the destination", cold), ("base (~90%) on the destination", warm)):
            pairs = list(zip(runs["ours"], runs["baseline"]))
            t = [o["seconds"] / b["seconds"] for o, b in pairs]
            w = [o["bytes"] / float(b["bytes"]) for o, b in pairs]
            tt, wt = (0.8, 0.12) if runs is warm else (1.10, None)
            self.row("3", "%s: time, ours" % name, statistics.median(o["seconds"] for o in runs["ours"]), "s",
                     t, tt, "baseline %.1f s, docker save alone %.1f s" % (
                         statistics.median(b["seconds"] for b in runs["baseline"]),
                         statistics.median(s["seconds"] for s in runs["save_only"])))
            self.row("3", "%s: bytes on the wire, ours" % name,
                     statistics.median(o["bytes"] for o in runs["ours"]) / 1e6, "MB", w, wt,
                     "baseline %.0f MB" % (statistics.median(b["bytes"] for b in runs["baseline"]) / 1e6))
        self.row("3", "base on the destination: bytes it lacked (docker save sizes)", fig["lacking_bytes_warm"] / 1e6,
                 "MB", [o["bytes"] / float(fig["lacking_bytes_warm"]) for o in warm["ours"]], None,
                 "ratio: ours on the wire / lacking")
        rerun = [r["bytes"] for r in cold["rerun"] + warm["rerun"]]
        self.row("3", "rerun: bytes on the wire (max of %d)" % len(rerun), max(rerun), "B", None, None,
                 "met: target 0" if max(rerun) == 0 else "not met: target 0")

    def fleet_port(self, host):
        with open(self.fleet.inventory) as f:
            for line in f:
                if line.startswith(host + " "):
                    m = re.search(r"ansible_port=(\d+)", line)
                    if m:
                        return int(m.group(1))
        raise SystemExit("bench: no port for %s in %s" % (host, self.fleet.inventory))

    # ------------------------------------------------------------ figures 5 and 4
    def figure5_and_4(self):
        a = self.a
        hosts = ["h1", "h2", "h3", "h4"]
        self.up(4)
        self.prepare(hosts)
        for h in hosts:
            self.pyjson(h, "host_root.py", "build", a.fleet_mb, max(1000, a.files * a.fleet_mb // a.size_mb))
        size = self.pyjson("h1", "host_root.py", "size")
        report = os.path.join(tempfile.mkdtemp(prefix="dockyard-bench-"), "migration.json")
        runs = {"one": [], "four": []}
        for rep in range(a.reps):
            for kind in (["one", "four"] if rep % 2 == 0 else ["four", "one"]):
                used = hosts if kind == "four" else hosts[:1]
                extra = {"docker_root_target": TARGET, "migrate_serial": len(used), "migrate_report_file": report}
                secs, _res = self.playbook("migrate_docker_root.yml", ",".join(used), extra)
                runs[kind].append(round(secs, 3))
                log("figure 5: %-4s host(s) %6.2f s" % (len(used), secs))
                for h in used:
                    self.pyjson(h, "host_root.py", "reset", TARGET)
        # Figure 4 needs migrated hosts: one more (unmeasured) move of all four.
        self.playbook("migrate_docker_root.yml", ",".join(hosts), {
            "docker_root_target": TARGET, "migrate_serial": 4, "migrate_report_file": report})
        for h in hosts:
            self.sh(h, "mountpoint", "-q", "/var/lib/docker")
        med = dict((k, statistics.median(v)) for k, v in runs.items())
        self.result["figures"]["5"] = {"root_per_host": size, "median_seconds": med, "runs": runs,
                                       "ratio": round(med["four"] / med["one"], 3), "target": 2.0}
        self.row("5", "migrate 4 hosts at once (%d MB, %d files each)" % (size["bytes"] >> 20, size["files"]),
                 med["four"], "s", [f / o for f, o in zip(runs["four"], runs["one"])], 2.0, "vs 1 host")
        self.row("5", "  migrate 1 host", med["one"], "s")
        # Figure 4 on the same (now migrated) four hosts.
        noop = {"rerun": [], "setup": []}
        extra = {"docker_root_target": TARGET, "migrate_serial": 4, "migrate_report_file": report}
        for rep in range(a.reps):
            for kind in (["rerun", "setup"] if rep % 2 == 0 else ["setup", "rerun"]):
                if kind == "rerun":
                    secs, res = self.playbook("migrate_docker_root.yml", ",".join(hosts), extra)
                    if "Nothing changed" not in res.stdout:
                        raise SystemExit("bench: the rerun was not a no-op:\n%s" % res.stdout[-3000:])
                else:
                    t0 = time.time()
                    e = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "tests", "ansible.cfg"))
                    subprocess.run(["ansible", "-i", self.fleet.inventory, ",".join(hosts), "-m",
                                    "ansible.builtin.setup"], cwd=ROOT, env=e, check=True, stdout=subprocess.DEVNULL)
                    secs = time.time() - t0
                noop[kind].append(round(secs, 3))
                log("figure 4: %-6s %6.2f s" % (kind, secs))
        med4 = dict((k, statistics.median(v)) for k, v in noop.items())
        self.result["figures"]["4"] = {"median_seconds": med4, "runs": noop,
                                       "ratio": round(med4["rerun"] / med4["setup"], 3), "target": 2.0}
        self.row("4", "no-op rerun of migrate_docker_root.yml, 4 hosts", med4["rerun"], "s",
                 [r / s_ for r, s_ in zip(noop["rerun"], noop["setup"])], 2.0,
                 "vs ansible -m setup; each host verified from a fresh analysis")
        self.row("4", "  ansible -m ansible.builtin.setup, 4 hosts", med4["setup"], "s")
        for h in hosts:
            self.pyjson(h, "host_root.py", "reset", TARGET)

    # ------------------------------------------------------------ output
    def table(self):
        out = ["%-3s %-56s %9s %-3s %-23s %-7s %-12s %s" % ("fig", "measure", "median", "", "ratio min/median/max",
                                                            "target", "verdict", "")]
        for fig, label, value, unit, ratios, target, verdict_text, note in sorted(self.rows, key=lambda r: r[0]):
            if ratios:
                lo, med, hi = spread(ratios)
                cell = "%.3f/%.3f/%.3f" % (lo, med, hi) if len(ratios) > 1 else "%.3f" % med
            else:
                cell = ""
            out.append("%-3s %-56s %9.2f %-3s %-23s %-7s %-12s %s" % (
                fig, label[:56], value, unit, cell, "<= %g" % target if target is not None else "", verdict_text,
                note))
        return "\n".join(out)


def machine():
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) >> 20
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return "%s, %d cores (%s), %d GiB, kernel %s" % (platform.machine(), os.cpu_count(), model, mem,
                                                     platform.release())


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--figures", default="1,6,2,3,5,7")
    p.add_argument("--size-mb", type=int, default=512)
    p.add_argument("--files", type=int, default=12000)
    p.add_argument("--reps", type=int, default=5, help="alternating repetitions of each figure")
    p.add_argument("--large-files", type=int, default=200000)
    p.add_argument("--images", type=int, default=5)
    p.add_argument("--fleet-mb", type=int, default=128)
    p.add_argument("--fanout-mb", type=int, default=64, help="figure 7: the size of the image set sent to 8 hosts")
    p.add_argument("--store-mb", type=int, default=1024, help="figure 8: the images' size on the converted host")
    p.add_argument("--scale-mb", type=int, default=1024,
                   help="figure 2 again on a data root this large (0: skip), to show how the ratio scales")
    p.add_argument("--no-doc", action="store_true", help="do not append the run to docs/performance.md")
    a = p.parse_args()
    figures = [f.strip() for f in a.figures.split(",") if f.strip()]
    # The data disks of the bench's hosts must hold the largest target, and figure 6's files (ext4 gives a
    # 16 KB inode ratio: 64 K inodes per GB).
    os.environ.setdefault("DOCKYARD_FLEET_DISK", "%dG" % max(3, 3 * max(a.size_mb, a.scale_mb) // 1024 + 2,
                                                             a.large_files // 30000))
    b = Bench(a)
    fleet_done = False
    started = time.time()
    b.up(2)
    for f in figures:
        t0 = time.time()
        if f == "1":
            b.figure1()
        elif f == "6":
            b.figure6()
        elif f == "2":
            b.figure2()
            if a.scale_mb:
                b.figure2(a.scale_mb, a.files * a.scale_mb // a.size_mb, key="2b")
        elif f == "3":
            b.figure3()
        elif f in ("4", "5"):
            if not fleet_done:
                b.figure5_and_4()
                fleet_done = True
        elif f == "7":
            try:
                import fanout  # pylint: disable=import-outside-toplevel
            except ImportError:
                raise SystemExit("bench: figure 7 needs bench/fanout.py (fanout.figure7(bench))")
            fanout.figure7(b)
        elif f == "8":
            import store  # pylint: disable=import-outside-toplevel
            store.figure8(b)
        else:
            raise SystemExit("bench: no figure %s" % f)
        b.result.setdefault("figure_seconds", {})[f] = round(time.time() - t0)
        log("figure %s took %d s" % (f, time.time() - t0))
    b.result["seconds"] = round(time.time() - started)
    table = b.table()
    print(table)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    out = os.path.join(HERE, "results", "bench-%s.json" % datetime.datetime.utcnow().strftime("%Y%m%dT%H%M%S"))
    with open(out, "w") as f:
        json.dump(dict(b.result, table=table), f, indent=1)
    if not a.no_doc:
        with open(os.path.join(ROOT, "docs", "performance.md"), "a") as f:
            f.write("\n## %s\n\nMachine: %s. Figures %s, %d alternating repetitions each; medians, and the ratio of "
                    "each repetition as min/median/max; met only when the whole spread clears the target. Bench run "
                    "took %d min (per figure: %s).\n\n```\n%s\n```\n" % (
                        b.result["date"], b.result["machine"], ", ".join(figures), a.reps,
                        b.result["seconds"] // 60, ", ".join("%s %d s" % kv for kv in b.result["figure_seconds"].items()),
                        table))
    print("JSON: %s" % out)


if __name__ == "__main__":
    main()
