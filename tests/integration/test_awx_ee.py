# -*- coding: utf-8 -*-
"""The execution environment, built with ansible-builder, runs the migration the way AWX runs a job.

AWX packs a job's private data directory (the project checkout, the inventory, extra variables, the machine
credential's key, the job type as command line) with ``ansible-runner transmit``, runs ``ansible-runner worker``
in a container of the execution environment, and reads the job's events back with ``ansible-runner process``.
This test does the same against a fleet host: a check, a move and a rerun that changes nothing.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import subprocess
import time

import ansible_runner
import pytest
import yaml

from conftest import FLEET_INVENTORY, FLEET_KEY

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK = "playbooks/migrate_docker_root.yml"
HOST = "h1"
TARGET = "/mnt/data/docker"


def build_ee():
    start = time.time()
    res = subprocess.run(["bash", os.path.join(ROOT, "awx", "build-ee.sh")], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True, timeout=2700, check=False)
    assert res.returncode == 0, "awx/build-ee.sh failed:\n%s" % res.stderr[-5000:]
    return res.stdout.strip().splitlines()[-1], res.stderr, time.time() - start


@pytest.fixture(scope="module")
def ee_image():
    image, log, seconds = build_ee()
    print("execution environment %s ready in %.0f s" % (image, seconds))
    return image


def test_the_image_is_cached_by_the_hash_of_its_inputs(ee_image):
    again, log, seconds = build_ee()
    assert again == ee_image
    assert "is up to date" in log, log
    assert seconds < 60, "an unchanged image took %.0f s to confirm" % seconds


def test_the_image_holds_the_collection_and_runs_as_an_execution_environment(ee_image):
    res = subprocess.run(["docker", "run", "--rm", "--network", "none", ee_image, "ansible-galaxy", "collection", "list",
                          "dockyard.migrate", "--format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    found = json.loads(res.stdout)
    with open(os.path.join(ROOT, "galaxy.yml")) as f:
        version = yaml.safe_load(f)["version"]
    assert found == {"/usr/share/ansible/collections/ansible_collections": {"dockyard.migrate": {"version": version}}}
    inspect = json.loads(subprocess.run(["docker", "image", "inspect", ee_image], stdout=subprocess.PIPE,
                                        universal_newlines=True, timeout=60, check=True).stdout)[0]
    assert inspect["Config"]["Labels"].get("ansible-execution-environment") == "true"
    assert inspect["Config"]["User"] == "1000"
    # Each tool runs and says what it is (exit status 0 and its own words), through the image's own entrypoint as
    # a job runs it (it gives the job's uid a passwd entry, without which ssh refuses to start); ssh-agent has no
    # version option, so it is started and asked by ssh-add for its keys: it has none (ssh-add's exit status 1).
    agent = ("eval \"$(ssh-agent -s)\" >/dev/null && ssh-add -l; rc=$?; ssh-agent -k >/dev/null; "
             "test $rc -eq 1")
    for tool, says in ((["ssh", "-V"], "OpenSSH_"), (["sh", "-c", agent], "The agent has no identities"),
                       (["rsync", "--version"], "rsync  version"), (["ansible-runner", "--version"], "2.4.3")):
        res = subprocess.run(["docker", "run", "--rm", "--network", "none", ee_image] + tool,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=60,
                             check=False)
        assert res.returncode == 0 and says in res.stdout, (tool, res.returncode, res.stdout)


def private_data_dir(work, extravars, cmdline=""):
    """What AWX writes for a job: the project as checked out from git, an inventory, the credential's key."""
    pdd = os.path.join(work, "pdd")
    if os.path.exists(pdd):
        shutil.rmtree(pdd)
    project = os.path.join(pdd, "project")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, stdout=subprocess.PIPE, timeout=60,
                             check=True).stdout.decode().split("\0")
    for rel in filter(None, tracked):
        src = os.path.join(ROOT, rel)
        if os.path.isfile(src):
            os.makedirs(os.path.dirname(os.path.join(project, rel)), exist_ok=True)
            shutil.copy2(src, os.path.join(project, rel))
    assert not os.path.exists(os.path.join(project, "collections")), "the collection must come from the image"
    os.makedirs(os.path.join(pdd, "inventory"))
    os.makedirs(os.path.join(pdd, "env"))
    with open(FLEET_INVENTORY) as f:
        inventory = [ln for ln in f.read().splitlines() if not ln.startswith("ansible_ssh_private_key_file=")]
    with open(os.path.join(pdd, "inventory", "hosts"), "w") as f:
        f.write("\n".join(inventory) + "\n")
    shutil.copy(FLEET_KEY, os.path.join(pdd, "env", "ssh_key"))
    with open(os.path.join(pdd, "env", "extravars"), "w") as f:
        json.dump(extravars, f)
    with open(os.path.join(pdd, "env", "envvars"), "w") as f:
        # Collections from the project's requirements, then the image's own, as AWX lays them out. AWX's RunJob
        # names the variable ANSIBLE_COLLECTIONS_PATHS, which ansible-core 2.19 no longer reads: with a
        # collections_path in the project's ansible.cfg the image's collections are then out of reach.
        json.dump({"ANSIBLE_COLLECTIONS_PATH": "/runner/requirements_collections:~/.ansible/collections:"
                                               "/usr/share/ansible/collections",
                   "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_FORCE_COLOR": "False"}, f)
    return pdd


def run_job(image, work, name, extravars, check_mode=False):
    """transmit | docker run IMAGE ansible-runner worker | process, as AWX and receptor do; the command line
    holds what AWX adds for a template with privilege escalation and, for a check job, --check."""
    pdd = private_data_dir(work, extravars)
    stream = os.path.join(work, name + ".transmit")
    results = os.path.join(work, name + ".results")
    with open(stream, "wb") as out:
        ansible_runner.run(private_data_dir=pdd, playbook=PLAYBOOK, limit=HOST, streamer="transmit", _output=out,
                           cmdline="--become --check" if check_mode else "--become", ident=name, quiet=True)
    with open(stream, "rb") as inp, open(results, "wb") as out:
        worker = subprocess.run(["docker", "run", "--rm", "-i", "--network", "host", image,
                                 "ansible-runner", "worker", "--private-data-dir=/runner"],
                                stdin=inp, stdout=out, stderr=subprocess.PIPE, timeout=1200, check=False)
    assert worker.returncode == 0, worker.stderr.decode(errors="replace")[-5000:]
    processed = os.path.join(work, name + ".processed")
    events = []
    with open(results, "rb") as inp:
        runner = ansible_runner.run(private_data_dir=processed, streamer="process", _input=inp, ident=name,
                                    quiet=True, event_handler=events.append)
    stdout = "\n".join(e.get("stdout", "") for e in events)
    with open(os.path.join(processed, "artifacts", name, "rc")) as f:
        rc = int(f.read())  # the worker's ansible-playbook exit code, as AWX records it
    assert runner.status == "successful" and rc == 0, "%s: %s rc=%s\n%s" % (name, runner.status, rc, stdout[-8000:])
    stats = [e for e in events if e["event"] == "playbook_on_stats"]
    assert len(stats) == 1, name
    return stats[0]["event_data"], stdout


def data_root_state(fleet_hosts):
    return (fleet_hosts.sh(HOST, "docker", "info", "--format", "{{.DockerRootDir}}").strip(),
            fleet_hosts.sh(HOST, "findmnt", "--noheadings", "--output", "SOURCE", "/var/lib/docker",
                           check=False).strip(),
            fleet_hosts.sh(HOST, "docker", "ps", "--format", "{{.Names}}").split())


def test_migration_runs_in_the_execution_environment_as_an_awx_job(ee_image, fleet_hosts, tmp_path):
    fleet_hosts.reset(HOST)
    before = data_root_state(fleet_hosts)
    assert before[0] == "/var/lib/docker" and before[1] == "" and before[2], before
    extravars = {"docker_root_target": TARGET, "docker_root_method": "bind", "migrate_serial": "1"}
    timings = {}

    start = time.time()
    stats, out = run_job(ee_image, str(tmp_path), "check", extravars, check_mode=True)
    timings["check"] = time.time() - start
    assert "1 planned (check mode)" in out, out[-3000:]
    assert data_root_state(fleet_hosts) == before, "check mode changed the host"
    assert not stats.get("failures") and not stats.get("dark")

    start = time.time()
    stats, out = run_job(ee_image, str(tmp_path), "move", extravars)
    timings["move"] = time.time() - start
    assert stats["changed"].get(HOST, 0) > 0, stats
    assert "1 moved" in out, out[-3000:]
    root, source, running = data_root_state(fleet_hosts)
    assert root == "/var/lib/docker" and source.endswith("[/docker]"), (root, source)
    assert sorted(running) == sorted(before[2]), "containers running before the move are running again"
    # The report survives the job's container only as an artifact that AWX stores: the run must produce it.
    report = (stats.get("artifact_data") or {}).get("docker_root_migration")
    assert report and report["kind"] == "migration", stats.get("artifact_data")
    assert [(h["host"], h["status"]) for h in report["hosts"]] == [(HOST, "moved")], report["hosts"]

    start = time.time()
    stats, out = run_job(ee_image, str(tmp_path), "rerun", extravars)
    timings["rerun"] = time.time() - start
    assert stats["changed"].get(HOST, 0) == 0, stats
    assert "Nothing changed" in out, out[-3000:]
    assert data_root_state(fleet_hosts)[:2] == (root, source)
    print("AWX-style jobs in the execution environment: %s" % ", ".join(
        "%s %.0f s" % (k, v) for k, v in timings.items()))
