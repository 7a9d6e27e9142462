# -*- coding: utf-8 -*-
"""The built collection: what ships, what stays in the repository, and one version for all."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import json
import os
import re
import subprocess
import sys
import tarfile

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GALAXY = os.path.join(os.path.dirname(sys.executable), "ansible-galaxy")
# Development-only: the test suite and its sandbox fleet, the benchmark, the repository's scripts, the tools'
# configuration and local build output. Everything else in the repository ships.
DEV_ONLY = re.compile(r"^(tests/|bench/|scripts/|\.ci/|awx/context/|\.venv/|collections/|build/|\.cache/|"
                      r"extensions/molecule/(bind|containerd_store|daemon_json|image_store|shared)/|"
                      r"Makefile$|requirements-dev\.txt$|ansible\.cfg$|pytest\.ini$|\.ansible-lint$|\.gitignore$)|"
                      r"(^|/)__pycache__/|\.pyc$|\.tar\.gz$|(^|/)\.pytest_cache/|^demo-report\.json|"
                      r"^docker_root_\w+\.json")
MUST_SHIP = ("LICENSE", "README.md", "CHANGELOG.rst", "meta/runtime.yml", "changelogs/changelog.yaml",
             "plugins/modules/data_root.py", "plugins/module_utils/_docker_api.py", "plugins/action/job_progress.py",
             "playbooks/migrate_docker_root.yml", "playbooks/docker_root_report.yml",
             "roles/relocate_data_root/tasks/main.yml", "roles/relocate_data_root/meta/argument_specs.yml",
             "docs/guide.md", "extensions/molecule/your_hosts/molecule.yml", "extensions/molecule/your_hosts/guard.yml")


def galaxy_version():
    with open(os.path.join(ROOT, "galaxy.yml")) as f:
        return str(yaml.safe_load(f)["version"])


def repository_files():
    """Tracked files and untracked ones git does not ignore: what a build of this tree may pick up."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, stdout=subprocess.PIPE,
                         check=True, timeout=60).stdout.decode()
    return {p for p in out.split("\0") if p and os.path.isfile(os.path.join(ROOT, p))}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    env = dict(os.environ, ANSIBLE_GALAXY_SERVER_LIST="", ANSIBLE_OFFLINE="1")
    subprocess.run([GALAXY, "collection", "build", "--output-path", str(out), ROOT], check=True, env=env,
                   stdout=subprocess.PIPE, timeout=300)
    tarballs = glob.glob(str(out / "*.tar.gz"))
    assert len(tarballs) == 1, tarballs
    with tarfile.open(tarballs[0]) as tar:
        members = {m.name: m for m in tar.getmembers()}
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    return {"path": tarballs[0], "members": members, "manifest": manifest}


def test_the_tarball_is_named_and_versioned_from_galaxy_yml(built):
    path, manifest = built["path"], built["manifest"]
    version = galaxy_version()
    assert os.path.basename(path) == "dockyard-migrate-%s.tar.gz" % version
    assert manifest["collection_info"]["version"] == version
    assert manifest["collection_info"]["license"] == ["GPL-3.0-or-later"]


def test_development_files_stay_out(built):
    members = built["members"]
    leaked = sorted(n for n in members if DEV_ONLY.search(n + ("/" if members[n].isdir() else "")))
    assert not leaked, "development-only files in the built collection: %s" % leaked


def test_everything_else_ships(built):
    members = built["members"]
    files = {n for n, m in members.items() if m.isfile()} - {"MANIFEST.json", "FILES.json"}
    for name in MUST_SHIP:
        assert name in files, name
    expected = {p for p in repository_files() if not DEV_ONLY.search(p)} - {"galaxy.yml"}
    assert files == expected, "missing: %s; unexpected: %s" % (sorted(expected - files), sorted(files - expected))


def test_the_license_is_the_gpl_3_text():
    with open(os.path.join(ROOT, "LICENSE")) as f:
        text = f.read()
    assert text.lstrip().startswith("GNU GENERAL PUBLIC LICENSE\n                       Version 3, 29 June 2007")
    assert "END OF TERMS AND CONDITIONS" in text and len(text) > 30000


def test_the_version_lives_in_galaxy_yml_and_every_mention_agrees():
    """Files that must name the version (the tarball and image names) carry the one in galaxy.yml."""
    version = galaxy_version()
    pattern = re.compile(r"dockyard-migrate(?:-ee)?[-:](\d+\.\d+\.\d+)(?![\d])")
    found = 0
    for rel in sorted(repository_files()):
        if rel == "tests/unit/test_packaging.py" or rel.startswith("changelogs/"):
            continue
        try:
            with open(os.path.join(ROOT, rel)) as f:
                text = f.read()
        except UnicodeDecodeError:
            continue
        for m in pattern.finditer(text):
            found += 1
            assert m.group(1) == version, "%s names version %s, galaxy.yml says %s" % (rel, m.group(1), version)
    assert found, "no file names the collection tarball: the check above would prove nothing"
