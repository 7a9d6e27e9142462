# -*- coding: utf-8 -*-
"""The README's "Using the collection" steps, as written, from a built and installed collection.

The collection is built, installed from its tarball into an empty collections path, and used from a directory
outside the repository with ANSIBLE_COLLECTIONS_PATH naming only that path and no ansible.cfg of the project:
the report playbook runs by its fully qualified name, and so does the README's example play.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import re
import shlex
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def readme_section():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    m = re.search(r"^## Using the collection\n(.*?)(?=^## )", text, re.S | re.M)
    assert m, "README.md has no 'Using the collection' section"
    return m.group(1)


def code_blocks(section, lang):
    return re.findall(r"^```%s\n(.*?)^```" % lang, section, re.S | re.M)


def commands(section):
    """The shell commands of the section's sh blocks, continuation lines joined."""
    out = []
    for block in code_blocks(section, "sh"):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line:
                out.append(line)
    return out


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    work = tmp_path_factory.mktemp("user")
    build, colls = work / "build", work / "collections"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(PATH=BIN + os.pathsep + env.get("PATH", ""), ANSIBLE_COLLECTIONS_PATH=str(colls),
               ANSIBLE_CONFIG=str(work / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    (work / "ansible.cfg").write_text("[defaults]\n")  # none of the project's settings
    section = readme_section()
    cmds = commands(section)
    assert "ansible-galaxy collection build" in cmds and "ansible-galaxy collection install dockyard-migrate-*.tar.gz" \
        in cmds, cmds
    subprocess.run(["ansible-galaxy", "collection", "build", "--output-path", str(build), ROOT], env=env, check=True,
                   stdout=subprocess.PIPE, timeout=300)
    tarball, = glob.glob(str(build / "dockyard-migrate-*.tar.gz"))
    subprocess.run(["ansible-galaxy", "collection", "install", "--offline", "-p", str(colls), tarball], env=env,
                   check=True, stdout=subprocess.PIPE, cwd=str(work), timeout=300)
    listed = subprocess.run(["ansible-galaxy", "collection", "list", "dockyard.migrate"], env=env, cwd=str(work),
                            stdout=subprocess.PIPE, universal_newlines=True, check=True, timeout=120).stdout
    paths = re.findall(r"^# (/\S+)", listed, re.M)
    assert paths == [str(colls / "ansible_collections")], listed  # the installed copy and no other
    return {"work": work, "env": env, "section": section}


@pytest.fixture(scope="module")
def fleet(fleet_hosts):
    """h1 as the fleet seeds it (an earlier file on this worker may have moved it)."""
    fleet_hosts.reset("h1")
    return fleet_hosts


def run(installed, argv, timeout=600):
    work, env = installed["work"], installed["env"]
    res = subprocess.run(argv, cwd=str(work), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, timeout=timeout, check=False)
    assert res.returncode == 0, "%s failed (rc=%d):\n%s" % (argv, res.returncode, res.stdout[-8000:])
    assert not re.search(r"^h1\s+: .*(failed|unreachable)=[1-9]", res.stdout, re.M), res.stdout[-8000:]
    return res.stdout


def test_every_playbook_in_the_readme_is_run_by_its_fqcn(installed):
    section = installed["section"]
    playbooks = sorted(os.path.basename(p)[:-4] for p in glob.glob(os.path.join(ROOT, "playbooks", "*.yml")))
    named = set()
    for cmd in commands(section):
        argv = shlex.split(cmd)
        if argv[0] != "ansible-playbook":
            continue
        target = [a for a in argv[1:] if a.startswith("dockyard.migrate.") or a.endswith(".yml")]
        assert target and target[0].startswith("dockyard.migrate."), cmd
        named.add(target[0][len("dockyard.migrate."):])
    assert named == set(playbooks), "README names %s; the collection has %s" % (sorted(named), playbooks)


def test_report_playbook_by_fqcn_from_the_installed_collection(installed, fleet):
    cmd, = [c for c in commands(installed["section"]) if c.startswith("ansible-playbook") and "docker_root_report" in c]
    argv = [fleet.inventory if a == "inventory" else a for a in shlex.split(cmd)] + ["--limit", "h1"]
    out = run(installed, argv)
    assert "PLAY [Analyse Docker data roots]" in out
    assert re.search(r"HOST\s+ROOT\s+CONFIGURED", out), out[-4000:]
    assert re.search(r"\bh1\s+/var/lib/docker\s+(default|daemon_json|flag|bind)\b", out), out[-4000:]


def test_readme_example_play_from_the_installed_collection(installed, fleet):
    work = installed["work"]
    block, = code_blocks(installed["section"], "yaml")
    play = yaml.safe_load(block)
    assert play[0]["tasks"][0].get("dockyard.migrate.data_root_info") is not None
    (work / "example.yml").write_text(block)
    out = run(installed, ["ansible-playbook", "-i", fleet.inventory, "example.yml", "--limit", "h1"])
    m = re.search(r'"msg": "(/\S+) \((\w+)\): (.+)"', out)
    assert m, out[-4000:]
    assert m.group(1) == "/var/lib/docker" and m.group(2) in ("default", "daemon_json", "flag", "bind") \
        and m.group(3), m.groups()


def test_report_playbook_by_path_from_a_plain_clone(tmp_path, fleet):
    """The README's plain-clone commands: a clone with no bootstrap, no project ansible.cfg and an empty collections
    path runs the playbooks by their paths (the collection found through playbooks/collections/)."""
    section = readme_section()
    block, = re.findall(r"^```plain-clone\n(.*?)^```", section, re.S | re.M)
    cmds = [line.strip() for line in block.splitlines() if line.strip()]
    assert cmds[0].startswith("git clone ") and all(c.startswith("ansible-playbook -i inventory playbooks/")
                                                    for c in cmds[1:]), cmds
    clone = tmp_path / "dockyard.migrate"
    subprocess.run(["git", "clone", "-q", ROOT, str(clone)], check=True, timeout=120)
    assert not (clone / "collections").exists() and not (clone / ".venv").exists()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    empty = tmp_path / "empty"
    empty.mkdir()
    env.update(PATH=BIN + os.pathsep + env.get("PATH", ""), ANSIBLE_COLLECTIONS_PATH=str(empty),
               ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="False")
    argv = [fleet.inventory if a == "inventory" else a for a in shlex.split(cmds[1])] + ["--limit", "h1"]
    res = subprocess.run(argv, cwd=str(clone), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, timeout=600, check=False)
    assert res.returncode == 0, res.stdout[-8000:]
    assert re.search(r"\bh1\s+/var/lib/docker\s+(default|daemon_json|flag|bind)\b", res.stdout), res.stdout[-4000:]
    # The migration, by its path from the clone, in check mode: the role and every module it calls are found.
    before = fleet.snapshot("h1")
    argv = [fleet.inventory if a == "inventory" else a for a in shlex.split(cmds[2])] + ["--limit", "h1", "--check"]
    res = subprocess.run(argv, cwd=str(clone), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, timeout=600, check=False)
    assert res.returncode == 0, res.stdout[-8000:]
    assert re.search(r"^h1\s+/var/lib/docker\s+/mnt/data/docker\s+bind\s.*\splanned(\s|$)", res.stdout, re.M), \
        res.stdout[-4000:]
    assert fleet.snapshot("h1") == before
