# -*- coding: utf-8 -*-
"""The AWX job templates match the playbooks, and ansible-builder accepts the execution environment."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}


def load(rel):
    with open(os.path.join(ROOT, rel)) as f:
        return yaml.safe_load(f)


def playbook_variables(rel):
    """Variables a playbook documents in its header comment or uses with default()."""
    with open(os.path.join(ROOT, rel)) as f:
        text = f.read()
    documented = set(re.findall(r"^#\s+(\w+)\s{2,}\S", text, re.M))
    used = set(re.findall(r"\b(\w+) \| default\(", text)) | set(re.findall(r"\b(docker_root_\w+|migrate_\w+|report_\w+)\b", text))
    return documented, used


TEMPLATES = load("awx/job_templates.yml")["job_templates"]


@pytest.mark.parametrize("jt", TEMPLATES, ids=[t["name"] for t in TEMPLATES])
def test_job_template_schema_and_variables(jt):
    for key in ("name", "job_type", "project", "inventory", "playbook", "survey_spec"):
        assert key in jt, "%s lacks %s" % (jt.get("name"), key)
    assert jt["job_type"] in ("run", "check")
    assert os.path.isfile(os.path.join(ROOT, jt["playbook"])), jt["playbook"]
    spec = jt["survey_spec"]
    assert spec["name"] and "description" in spec and spec["spec"]
    documented, used = playbook_variables(jt["playbook"])
    seen = set()
    for q in spec["spec"]:
        assert q["type"] in SURVEY_TYPES
        assert q["variable"] not in seen, "duplicate survey variable %s" % q["variable"]
        seen.add(q["variable"])
        assert q["variable"] in used, "%s is not a variable of %s" % (q["variable"], jt["playbook"])
        assert q["variable"] in documented, "%s is not documented in %s" % (q["variable"], jt["playbook"])
        if q["type"] in ("multiplechoice", "multiselect"):
            assert q["default"] in q["choices"]
    assert "docker_root_target" in seen or jt["playbook"].endswith("docker_root_report.yml")


def test_survey_choices_agree_with_the_playbook():
    with open(os.path.join(ROOT, "playbooks", "migrate_docker_root.yml")) as f:
        text = f.read()
    migrate = [t for t in TEMPLATES if t["playbook"] == "playbooks/migrate_docker_root.yml"][0]
    qs = dict((q["variable"], q) for q in migrate["survey_spec"]["spec"])
    assert "docker_root_method | default('bind') in ['bind', 'daemon_json']" in text
    assert qs["docker_root_method"]["choices"] == ["bind", "daemon_json"]
    assert "docker_root_containerd | default('auto') in ['auto', 'always', 'never']" in text
    assert qs["docker_root_containerd"]["choices"] == ["auto", "always", "never"]


def test_ansible_builder_accepts_the_execution_environment(tmp_path):
    builder = os.path.join(os.path.dirname(sys.executable), "ansible-builder")
    if not os.path.exists(builder):
        builder = shutil.which("ansible-builder")
    assert builder, "ansible-builder is not installed (requirements-dev.txt)"
    work = tmp_path / "awx"
    shutil.copytree(os.path.join(ROOT, "awx"), str(work))
    galaxy = os.path.join(os.path.dirname(sys.executable), "ansible-galaxy")
    src = tmp_path / "src"
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, stdout=subprocess.PIPE,
                         universal_newlines=True, check=True, timeout=60).stdout.split()
    for rel in out:
        if os.path.isfile(os.path.join(ROOT, rel)):
            dest = src / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(os.path.join(ROOT, rel), str(dest))
    subprocess.run([galaxy, "collection", "build", "--output-path", str(work), "--force"], cwd=str(src),
                   check=True, stdout=subprocess.PIPE, timeout=300)
    assert (work / "dockyard-migrate-0.1.0.tar.gz").exists()
    res = subprocess.run([builder, "create", "-f", str(work / "execution-environment.yml"),
                          "--context", str(work / "context")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, check=False, timeout=300)
    assert res.returncode == 0, res.stdout
    name = "Containerfile" if (work / "context" / "Containerfile").exists() else "Dockerfile"
    containerfile = (work / "context" / name).read_text()
    assert "dockyard-migrate-0.1.0.tar.gz" in containerfile
    assert (work / "context" / "_build" / "dockyard-migrate-0.1.0.tar.gz").exists()
