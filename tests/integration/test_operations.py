# -*- coding: utf-8 -*-
"""What operators reach for around the move, on real fleet hosts: the pre-check, choosing hosts with JMESPath,
the fleet report's query, hooks around each host, the copy engine, throttling and priority, and the cleanup
after a soak period."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import threading

import jsonschema
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MIGRATE = os.path.join(ROOT, "playbooks", "migrate_docker_root.yml")
ROLLBACK = os.path.join(ROOT, "playbooks", "rollback_docker_root.yml")
with open(os.path.join(ROOT, "docs", "cleanup-report.schema.json")) as _f:
    CLEANUP_SCHEMA = json.load(_f)
REPORT = os.path.join(ROOT, "playbooks", "docker_root_report.yml")
PRECHECK = os.path.join(ROOT, "playbooks", "precheck_docker_root.yml")
FLAG_ON = ("mkdir -p /etc/systemd/system/docker.service.d && printf '[Service]\\nExecStart=\\nExecStart=/usr/sbin/dockerd "
           "-H fd:// --data-root /var/lib/docker\\n' > /etc/systemd/system/docker.service.d/zz-flag.conf && "
           "systemctl daemon-reload")
FLAG_OFF = "rm -f /etc/systemd/system/docker.service.d/zz-flag.conf; systemctl daemon-reload"


DANGLING = ("c=$(docker create --network none seed/base:1 true) && docker commit $c junk:1 >/dev/null && "
            "old=$(docker image inspect -f '{{.Id}}' junk:1) && docker commit $c junk:1 >/dev/null && docker rm $c "
            ">/dev/null && echo $old")  # junk:1 is committed twice: the first image is left untagged


def state(fleet, host):
    return fleet.sh(host, "sh", "-c", "docker info --format '{{.DockerRootDir}}'; "
                    "findmnt --noheadings --output SOURCE /var/lib/docker || echo not-mounted; "
                    "docker ps --format '{{.Names}}' | sort | xargs").split("\n")[:3]


@pytest.fixture(scope="module")
def pair(fleet_hosts):
    fleet_hosts.reset("h1", "h2")
    return fleet_hosts


def test_precheck_judges_every_host_and_changes_nothing(pair, tmp_path):
    report = str(tmp_path / "precheck.json")
    pair.sh("h2", "sh", "-c", FLAG_ON)
    try:
        before = [pair.snapshot(h) for h in ("h1", "h2")]
        res = pair.playbook(PRECHECK, limit="h1,h2", extra={"docker_root_target": "/mnt/data/docker",
                                                            "migrate_report_file": report})
        assert [pair.snapshot(h) for h in ("h1", "h2")] == before
    finally:
        pair.sh("h2", "sh", "-c", FLAG_OFF)
    with open(report) as f:
        data = json.load(f)
    rows = dict((r["host"], r) for r in data["hosts"])
    h1, h2 = rows["h1"], rows["h2"]
    assert h1["status"] == "fits" and h1["bytes"] > 1000000 and h1["free_after_bytes"] > 0, h1
    assert h1["copy_seconds"] > 0 and h1["downtime_seconds"] >= 15, h1
    assert h2["status"] == "cannot move" and "--data-root flag in the service (/var/lib/docker)" in h2["why"], h2
    assert h2["bytes"] > 1000000  # h2 was analysed in full although it cannot move
    assert re.search(r"^h1\s+fits\s+[\d.]+M\s+[\d.]+[MG]\s+[\d.]+\s+[\d.]+\s+-$", res.stdout, re.M), res.stdout[-3000:]
    assert re.search(r"^h2\s+cannot move\s.*--data-root flag", res.stdout, re.M)
    assert "1 of 2 hosts can move to /mnt/data/docker, 0 already there, 1 cannot move, 0 unreachable" in res.stdout
    # A target on the root's own filesystem frees nothing: said so for every host.
    res = pair.playbook(PRECHECK, limit="h1,h2", extra={"docker_root_target": "/var/lib/docker-elsewhere",
                                                        "migrate_report_file": report})
    assert len(re.findall(r"^h[12]\s+cannot move\s.*on the data root's own filesystem", res.stdout, re.M)) == 2
    # A bandwidth limit caps the throughput the estimates assume.
    pair.playbook(PRECHECK, limit="h1", extra={"docker_root_target": "/mnt/data/docker", "docker_root_bwlimit": "1M",
                                               "migrate_report_file": report})
    with open(report) as f:
        slow = dict((r["host"], r) for r in json.load(f)["hosts"])["h1"]
    assert slow["status"] == "fits" and slow["bytes"] > 1000000, slow
    assert slow["copy_seconds"] == round(float(slow["bytes"]) / 1048576, 1), slow
    # A limit above the assumed rate changes nothing: the smaller of the two is assumed.  Run as cron or a systemd
    # unit would (no PWD, started in a directory of its own, no report file named), the report is written in
    # that directory (not in /).
    started_in = tmp_path / "cron"
    started_in.mkdir()
    pair.playbook(PRECHECK, limit="h1", extra={"docker_root_target": "/mnt/data/docker", "docker_root_bwlimit": "1G",
                                               "migrate_estimate_rate": 2097152},
                  env={"PWD": None}, cwd=str(started_in))
    report = str(started_in / "docker_root_precheck.json")
    with open(report) as f:
        fast = dict((r["host"], r) for r in json.load(f)["hosts"])["h1"]
    assert fast["copy_seconds"] == round(float(fast["bytes"]) / 2097152, 1), fast


def test_report_query_filters_reshapes_and_writes_json(pair, tmp_path):
    out = str(tmp_path / "rows.json")
    containers = int(pair.sh("h2", "sh", "-c", "docker ps -aq | wc -l").strip())
    res = pair.playbook(REPORT, limit="h1,h2", extra={
        "docker_root_report_query": "[?host=='h2'].{host: host, root: root, containers: containers}",
        "docker_root_report_file": out, "docker_root_report_sizes": False})
    with open(out) as f:
        assert json.load(f) == [{"host": "h2", "root": "/var/lib/docker", "containers": containers}]
    assert re.search(r"^HOST\s+ROOT\s+CONTAINERS$", res.stdout, re.M), res.stdout[-3000:]
    assert re.search(r"^h2\s+/var/lib/docker\s+%d$" % containers, res.stdout, re.M)
    assert not re.search(r"^h1\s+/var/lib/docker", res.stdout, re.M)
    res = pair.playbook(REPORT, limit="h1,h2", extra={"docker_root_report_query": "length(@)",
                                                      "docker_root_report_sizes": False})
    assert re.search(r"^2$", res.stdout, re.M), res.stdout[-3000:]
    res = pair.playbook(REPORT, limit="h1,h2", check=False, extra={"docker_root_report_query": "[?host=="})
    assert res.returncode != 0 and "invalid expression '[?host=='" in res.stdout, res.stdout[-3000:]


def test_a_failing_post_hook_fails_the_host_and_stops_the_rollout(pair, tmp_path):
    """A host the post hook could not return to service is never reported done: its row says failed in
    post_tasks with how the move itself ended, and the rollout stops before the next host (check mode: the same
    path as a real move, nothing changed)."""
    # Run from a directory of its own as cron would run it (PWD not that directory): the hook file named relative
    # to it, and the report written there by default.
    report = str(tmp_path / "docker_root_migration.json")
    post = tmp_path / "post.yml"
    post.write_text("- name: Put the host back behind the load balancer\n  ansible.builtin.fail:\n"
                    "    msg: the load balancer refused {{ inventory_hostname }}\n")
    res = pair.playbook(MIGRATE, limit="h1,h2", check=False, options=["--check"], cwd=str(tmp_path),
                        env={"PWD": "/nonexistent"}, extra={
                            "docker_root_target": "/mnt/data/docker", "migrate_post_host_tasks": "post.yml"})
    assert res.returncode != 0 and "Stopping the rollout: 1 of 1 hosts of this batch failed" in res.stdout, \
        res.stdout[-3000:]
    with open(report) as f:
        rows = dict((r["host"], r) for r in json.load(f)["hosts"])
    assert (rows["h1"]["status"], rows["h1"]["error"]["phase"], rows["h2"]["status"]) == \
        ("failed", "post_tasks", "not started"), rows
    assert "the load balancer refused h1" in rows["h1"]["error"]["message"], rows["h1"]
    assert "(the move itself: planned)" in rows["h1"]["error"]["message"], rows["h1"]


def test_select_hooks_and_copy_engine(pair, tmp_path):
    report = str(tmp_path / "report.json")
    log = tmp_path / "hooks.log"
    pre, post = tmp_path / "pre.yml", tmp_path / "post.yml"
    pre.write_text(
        "- name: Note the pre hook with the root Docker serves from now\n"
        "  ansible.builtin.command: findmnt --noheadings --output SOURCE /var/lib/docker\n"
        "  register: seen\n  changed_when: false\n  failed_when: false\n"
        "- name: Keep it\n  ansible.builtin.lineinfile:\n    path: %s\n    create: true\n    mode: '0644'\n"
        "    line: \"pre {{ inventory_hostname }} {{ seen.stdout | default('not-mounted', true) }}\"\n"
        "  delegate_to: localhost\n  become: false\n" % log)
    post.write_text(
        "- name: Note the post hook with how the move ended\n  ansible.builtin.lineinfile:\n    path: %s\n"
        "    create: true\n    mode: '0644'\n"
        "    line: \"post {{ inventory_hostname }} {{ relocate_data_root_result.status }}\"\n"
        "  delegate_to: localhost\n  become: false\n" % log)
    pair.sh("h1", "docker", "tag", "seed/app:2", "pick/me:1")
    dangling = pair.sh("h1", "sh", "-c", DANGLING).strip()
    select = "inventory.images[?contains(tags, 'pick/me:1')]"
    before_h2 = pair.snapshot("h2")
    # A bad expression stops the run before any host is touched.
    res = pair.playbook(MIGRATE, limit="h1,h2", check=False, extra={
        "docker_root_target": "/mnt/data/docker", "docker_root_select": "inventory.images[?",
        "migrate_report_file": report})
    assert res.returncode != 0 and "invalid expression 'inventory.images[?'" in res.stdout, res.stdout[-3000:]
    assert state(pair, "h1")[1] == "not-mounted"
    # Only h1 is chosen; the hooks run around its move only; the first copy uses rsync as asked.
    res = pair.playbook(MIGRATE, limit="h1,h2", extra={
        "docker_root_target": "/mnt/data/docker", "docker_root_select": select, "docker_root_copy_engine": "rsync",
        "docker_root_nice": 5, "docker_root_ionice": "best-effort:6", "docker_root_progress_interval": 1,
        "migrate_report_file": report, "migrate_pre_host_tasks": str(pre), "docker_root_prune": "dangling",
        "migrate_post_host_tasks": os.path.relpath(str(post), ROOT)})
    with open(report) as f:
        data = json.load(f)
    rows = dict((r["host"], r) for r in data["hosts"])
    assert rows["h1"]["status"] == "moved" and rows["h1"]["verified"]
    assert rows["h2"]["status"] == "not selected" and select in rows["h2"]["reason"]
    # docker_root_prune: the untagged image went before the move, and only on the host that moved.
    assert any(dangling in p for p in rows["h1"]["pruned"]) and rows["h1"]["pruned_bytes"] is not None, rows["h1"]
    assert rows["h2"]["pruned"] == [] and rows["h2"]["pruned_bytes"] is None
    assert pair.sh("h1", "sh", "-c", "docker image inspect %s >/dev/null 2>&1 || echo gone" % dangling).strip() == "gone"
    assert data["settings"]["select"] == select
    assert re.search(r"^h2\s.*\snot selected(\s|$)", res.stdout, re.M)
    assert "1 moved, 0 already done, 0 planned (check mode), 1 not selected" in res.stdout
    assert log.read_text().splitlines() == ["pre h1 not-mounted", "post h1 moved"]
    with open(report + ".d/h1.json") as f:
        passes = json.load(f)["passes"]
    assert passes and all(p.get("engine") != "tar" for p in passes), passes
    # The playbook's priority reaches every copy command.
    assert all([os.path.basename(a) for a in p["command"][:9]] == [
        "ionice", "-c", "2", "-n", "6", "nice", "-n", "5", "rsync"] for p in passes), passes
    assert re.match(r"/dev/loop\d+\[/docker\]$", state(pair, "h1")[1])
    assert pair.snapshot("h2") == before_h2
    # Put h1 back for the other tests, with the same hooks around its rollback; a second rollback changes
    # nothing, so its hooks do not run.
    for _run in range(2):
        pair.playbook(ROLLBACK, limit="h1", extra={"docker_root_target": "/mnt/data/docker",
                                                   "migrate_report_file": str(tmp_path / "rollback.json"),
                                                   "migrate_pre_host_tasks": str(pre),
                                                   "migrate_post_host_tasks": os.path.relpath(str(post), ROOT)})
    assert state(pair, "h1") == ["/var/lib/docker", "not-mounted", "web worker"]
    hooks = log.read_text().splitlines()
    assert len(hooks) == 4 and re.match(r"pre h1 /dev/loop\d+\[/docker\]$", hooks[2]) and \
        hooks[3] == "post h1 restored", hooks


CLEANUP = os.path.join(ROOT, "playbooks", "cleanup_docker_root.yml")
MARKER = "/mnt/data/.docker.dockyard-migrate.json"


def test_throttled_low_priority_move_then_cleanup_after_soak(pair, tmp_path):
    """A move held to a bandwidth limit at the lowest CPU and I/O priority: the first copy is made by rsync with
    --bwlimit, and every copy process runs at nice 19 in the idle I/O class (read from the host's /proc while the
    copy is paused). Then the kept original is removed by cleanup_docker_root.yml, only once it may be. To test the
    soak period without waiting, the test rewrites the finished time in the marker on the host."""

    pair.sh("h1", "rm", "-rf", "/mnt/data/docker", MARKER)
    size = int(pair.sh("h1", "du", "-sb", "/var/lib/docker").split()[0])
    kib = max(size // 10 // 1024, 1024)  # about ten seconds for the first copy
    box = {}
    args = {"path": "/mnt/data/docker", "bwlimit": "%dK" % kib, "nice": 19, "ionice": "idle"}
    t = threading.Thread(target=lambda: box.update(r=pair.module(
        "h1", "dockyard.migrate.data_root", args, env={"DOCKYARD_MIGRATE_PAUSE": "during_online_copy"})))
    t.start()
    try:
        pair.sh("h1", "sh", "-c", "for i in $(seq 1 1200); do test -e /run/dockyard-migrate/paused.during_online_copy"
                " && exit 0; sleep 0.1; done; exit 1")
        procs = pair.sh("h1", "sh", "-c", "for p in $(pgrep -x rsync); do echo \"$(ps -o ni= -p $p | tr -d ' ') "
                        "$(ionice -p $p) $(tr '\\0' ' ' < /proc/$p/cmdline)\"; done; echo tar $(pgrep -x tar | wc -l)")
    finally:
        pair.sh("h1", "rm", "-f", "/run/dockyard-migrate/paused.during_online_copy")
        t.join(600)
    lines = procs.strip().splitlines()
    assert lines[-1] == "tar 0", procs  # no tar pipe: the throttled first copy is rsync
    assert len(lines) >= 2, procs
    for line in lines[:-1]:
        assert line.startswith("19 idle rsync ") and "--bwlimit=%d " % kib in line, procs
    r = box["r"]
    assert not r.get("failed") and r["changed"], r
    first = r["passes"][0]
    assert first["engine"] == "rsync" and first["phase"] == "online_copy", first
    for p in r["passes"]:
        names = [os.path.basename(a) for a in p["command"]]
        assert names[:7] == ["ionice", "-c", "3", "nice", "-n", "19", "rsync"] and "--bwlimit=%d" % kib in names, p
    backup = r["original"][0]["backup"]
    assert backup.startswith("/var/lib/docker.dockyard-backup-")
    assert state(pair, "h1")[1].endswith("[/docker]")

    report = str(tmp_path / "cleanup.json")

    def cleanup(check=False, **extra):
        extra = dict({"docker_root_target": "/mnt/data/docker", "migrate_report_file": report}, **extra)
        return pair.playbook(CLEANUP, limit="h1", check=False, extra=extra, options=["--check", "--diff"] if check
                             else ["--diff"])

    def kept():
        return pair.sh("h1", "sh", "-c", "test -d %s && echo kept || echo gone" % backup).strip()

    # Before the soak period (7 days by default): refused, nothing changed.
    marker = pair.sh("h1", "sha256sum", MARKER)
    res = cleanup()
    assert res.returncode != 0 and "soak_days=7 asks for 7 days" in res.stdout, res.stdout[-3000:]
    assert kept() == "kept" and pair.sh("h1", "sha256sum", MARKER) == marker
    with open(report) as f:
        doc = json.load(f)
    jsonschema.validate(doc, CLEANUP_SCHEMA)
    assert doc["kind"] == "cleanup" and doc["outcome"] == "failed" and doc["freed_bytes"] == 0, doc
    assert doc["hosts"][0]["status"] == "failed" and "asks for 7 days" in doc["hosts"][0]["error"]["message"]
    # The move finished eight days ago, as far as the marker knows.
    pair.sh("h1", "python3", "-c", "import json, time; p = %r; d = json.load(open(p)); d['finished'] = "
            "time.time() - 8 * 86400; json.dump(d, open(p, 'w'))" % MARKER)
    marker = pair.sh("h1", "sha256sum", MARKER)
    # Docker not serving: refused, nothing changed.
    pair.sh("h1", "systemctl", "stop", "docker.socket", "docker.service")
    try:
        res = cleanup()
        assert res.returncode != 0 and "Docker is not running" in res.stdout, res.stdout[-3000:]
        assert kept() == "kept" and pair.sh("h1", "sha256sum", MARKER) == marker
    finally:
        pair.sh("h1", "systemctl", "start", "docker.service")
    # Check mode: says what it would remove, changes nothing.
    res = cleanup(check=True)
    assert res.returncode == 0 and "remove the kept original %s" % backup in res.stdout, res.stdout[-3000:]
    assert kept() == "kept" and pair.sh("h1", "sha256sum", MARKER) == marker
    # A removal killed part way (SIGKILL at its failpoint) leaves part of the original and the marker saying so ...

    def entries():
        return int(pair.sh("h1", "sh", "-c", "find %s | wc -l" % backup).strip())

    before = entries()
    killed = pair.module("h1", "dockyard.migrate.data_root", {"path": "/mnt/data/docker", "state": "cleaned"},
                         env={"DOCKYARD_MIGRATE_FAILPOINT": "during_cleanup"}, expect="failed")
    assert killed.get("rc") == 137 and "Killed" in killed.get("module_stderr", ""), killed
    # Killed part way: some of the original is gone, some is left.
    left = entries()
    assert 0 < left < before, (before, left)
    assert kept() == "kept" and json.loads(pair.sh("h1", "cat", MARKER))["cleanup"]["removing"] == backup
    # ... and, after the soak, with Docker serving from the target, a run removes the rest; a rerun changes nothing.
    res = cleanup()
    assert res.returncode == 0 and "removed the kept original %s" % backup in res.stdout, res.stdout[-3000:]
    assert re.search(r"h1\s*:.*changed=1", res.stdout), res.stdout[-3000:]
    assert kept() == "gone"
    with open(report) as f:
        doc = json.load(f)
    jsonschema.validate(doc, CLEANUP_SCHEMA)
    h1 = doc["hosts"][0]
    assert doc["outcome"] == "success" and h1["status"] == "removed" and h1["kept"] is None, doc
    assert h1["freed_bytes"] > 0 and doc["freed_bytes"] == h1["freed_bytes"], doc
    assert re.search(r"^h1\s+removed\s+[\d.]+[KMG]?\s+-$", res.stdout, re.M), res.stdout[-3000:]
    assert json.loads(pair.sh("h1", "cat", MARKER))["cleanup"]["removed"] == [backup]
    res = cleanup()
    assert res.returncode == 0 and re.search(r"h1\s*:.*changed=0", res.stdout), res.stdout[-3000:]
    now = state(pair, "h1")
    assert now[0] == "/var/lib/docker" and now[1].endswith("[/docker]") and now[2] == "web worker", now
    # No original is left for a rollback: put h1 back as the fleet seeds it, for the other tests.
    pair.reset("h1")


def test_prune_says_what_would_go_removes_it_and_spares_what_containers_use(pair):
    """dockyard.migrate.prune on a real engine: check mode lists the untagged image and removes nothing, the run
    removes it, a rerun changes nothing; unused_images also removes a tagged image no container uses, and keeps
    every image a container (running or stopped) uses. Volumes stay."""
    pair.reset("h2")
    dangling = pair.sh("h2", "sh", "-c", DANGLING).strip()
    used = set(pair.sh("h2", "sh", "-c", "docker ps -aq | xargs docker inspect -f '{{.Image}}'").split())
    volumes = pair.sh("h2", "docker", "volume", "ls", "-q")
    plan = pair.module("h2", "dockyard.migrate.prune", {"what": "dangling"}, check_mode=True, diff=True)
    assert plan["changed"] and any(dangling in r for r in plan["removed"]), plan
    assert dangling in plan["diff"]["before"] and plan["diff"]["after"] == ""
    assert pair.sh("h2", "docker", "image", "inspect", "-f", "{{.Id}}", dangling).strip() == dangling
    done = pair.module("h2", "dockyard.migrate.prune", {"what": "dangling"})
    assert done["changed"] and any(dangling in r for r in done["removed"]), done
    assert pair.sh("h2", "sh", "-c", "docker image inspect %s >/dev/null 2>&1 || echo gone" % dangling).strip() == "gone"
    again = pair.module("h2", "dockyard.migrate.prune", {"what": "dangling"})
    assert again["changed"] is False and again["removed"] == []
    every = pair.module("h2", "dockyard.migrate.prune", {"what": "unused_images"})
    assert every["changed"] and any("junk:1" in r for r in every["removed"]), every
    left = set(pair.sh("h2", "docker", "images", "-q", "--no-trunc").split())
    assert used <= left and not any("junk" in line for line in pair.sh("h2", "docker", "images").splitlines())
    assert pair.sh("h2", "docker", "volume", "ls", "-q") == volumes
    pair.reset("h2")  # the seeded images back, for later tests
