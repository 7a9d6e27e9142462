# -*- coding: utf-8 -*-
"""The AWX assets: read by awxkit's own code (the awx CLI's import format), shaped as the
infra.controller_configuration roles read them, matching the playbooks; ansible-builder accepts the
execution environment."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import types

import pytest
import yaml

from awxkit import yaml_file as awx_yaml
from awxkit.api import utils as awx_utils
from awxkit.api.client import Connection
from awxkit.api.pages import page as awx_page
from awxkit.api.pages.api import EXPORTABLE_RESOURCES
from awxkit.api.pages.job_templates import JobTemplate
from awxkit.api.resources import resources
from awxkit.cli.client import CLI

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}
# Objects every AWX has, and the one the docs ask the operator to create (it holds a secret).
PREREQUISITES = [
    {"name": "Default", "type": "organization"},
    {"name": "Machine", "kind": "ssh", "type": "credential_type"},
    {"organization": {"name": "Default", "type": "organization"}, "name": "Docker hosts SSH", "type": "credential",
     "credential_type": {"name": "Machine", "kind": "ssh", "type": "credential_type"}},
]
# The asset type of each top-level key of an export (the AWX API root names these list endpoints).
RESOURCE_TYPES = {"projects": "project", "inventory": "inventory", "job_templates": "job_template",
                  "execution_environments": "execution_environment"}
# Never contacted: awxkit's page objects need a connection object to exist.
CONNECTION = Connection("http://127.0.0.1:9")


def path(rel):
    return os.path.join(ROOT, rel)


def load_with_awxkit(rel):
    """Read the file the way `awx import --conf.format yaml` does (awxkit.cli.resource.Import.handle)."""
    with open(path(rel)) as f:
        return yaml.load(f, Loader=awx_yaml.Loader)


EXPORT = load_with_awxkit("awx/job_templates.yml")
with open(path("awx/controller_configuration.yml")) as _f:
    CONTROLLER = yaml.safe_load(_f)
TEMPLATES = EXPORT["job_templates"]


def page_class(natural_key):
    """The awxkit page class that get_by_natural_key would query for this natural key."""
    detail = getattr(resources, natural_key["type"], None)
    assert detail is not None, "awxkit knows no object type %r" % natural_key["type"]
    return awx_page.get_registered_page(detail.replace(r"\d+", "1"))


def references(obj):
    """Every natural-key reference inside an asset (fields and related lists), not the asset's own key."""
    for key, value in obj.items():
        if key == "natural_key":
            continue
        if isinstance(value, dict) and "type" in value:
            yield value
        elif key == "related":
            for rel in value.values():
                if isinstance(rel, list):
                    for item in rel:
                        if "natural_key" in item:
                            yield from references(item)
                        else:
                            yield item


def all_assets():
    for resource, assets in EXPORT.items():
        for asset in assets:
            yield resource, asset
            for rel in asset.get("related", {}).values():
                if isinstance(rel, list):
                    for item in rel:
                        if "natural_key" in item:
                            yield resource + ".related", item


def playbook_variables(rel):
    """Variables a playbook documents in its header comment or uses with default()."""
    with open(path(rel)) as f:
        text = f.read()
    documented = set(re.findall(r"^#\s+(\w+)\s{2,}\S", text, re.M))
    used = set(re.findall(r"\b(\w+) \| default\(", text)) | set(re.findall(r"\b(docker_root_\w+|migrate_\w+|report_\w+)\b", text))
    for imported in re.findall(r"import_playbook: (\S+\.yml)", text):  # a playbook made of another (rollback)
        more = playbook_variables(os.path.join(os.path.dirname(rel), imported))
        documented, used = documented | more[0], used | more[1]
    return documented, used


# awx import (awxkit)

def test_the_documented_import_command_reads_our_file_as_yaml():
    with open(path("docs/awx.md")) as f:
        lines = [ln for ln in f.read().splitlines() if re.match(r"\s*awx .* import\b", ln)]
    assert lines, "docs/awx.md shows no awx import command"
    for line in lines:
        command, stdin = line.split("<", 1)
        assert stdin.strip() == "awx/job_templates.yml", line
        cli = CLI()
        cli.parse_args(shlex.split(command))  # awxkit's own argument parser
        assert cli.get_config("format") == "yaml", "%s: awx import would parse the YAML file as JSON" % line
    with open(path("awx/job_templates.yml")) as f:
        with pytest.raises(ValueError):
            json.load(f)  # so without --conf.format yaml the import fails before it starts


def test_export_holds_only_what_awx_import_reads():
    assert set(EXPORT) <= set(EXPORTABLE_RESOURCES), set(EXPORT) - set(EXPORTABLE_RESOURCES)
    for resource, assets in EXPORT.items():
        assert isinstance(assets, list) and assets, resource
        for asset in assets:
            assert asset["natural_key"]["type"] == RESOURCE_TYPES[resource], asset["name"]


def page_for(resource, asset, number):
    """The awxkit page AWX would return for an object once imported (fields as in the file, no related links)."""
    key = asset["natural_key"]
    fields = dict(asset, type=key["type"], related={})
    if resource == "inventory.related":  # a group is nested in its inventory, which AWX sets from the URL
        assert key["type"] == "group"
        fields["inventory"] = [a for a in EXPORT["inventory"] if asset in a["related"]["groups"]][0]["natural_key"]
    if key["type"] == "job_template":  # AWX gives a template the organization of its project
        fields["organization"] = asset["project"]["organization"]
    detail = getattr(resources, key["type"]).replace(r"\d+", str(number))
    return page_class(key)(CONNECTION, endpoint=detail, json=fields)


def imported():
    """awxkit's page cache holding every object of the file and the prerequisites, as after an import."""
    cache = awx_page.PageCache(connection=CONNECTION)
    pages = []
    prerequisites = [("prerequisites", dict(p, natural_key=p)) for p in PREREQUISITES]
    for number, (resource, asset) in enumerate(list(all_assets()) + prerequisites, 1):
        pages.append((asset, cache.set_page(page_for(resource, asset, number))))
    return cache, pages


@pytest.mark.parametrize("resource,asset", list(all_assets()),
                         ids=[p[1]["natural_key"]["type"] + ":" + p[1]["name"] for p in all_assets()])
def test_natural_key_is_the_one_awxkit_computes(resource, asset):
    key = asset["natural_key"]
    cls = page_class(key)
    assert set(key) - {"type"} == set(cls.NATURAL_KEY), "%s: awxkit's %s is keyed by %s" % (
        asset["name"], cls.__name__, cls.NATURAL_KEY)
    cache = awx_page.PageCache(connection=CONNECTION)
    computed = page_for(resource, asset, 1).get_natural_key(cache=cache)
    assert awx_utils.freeze(computed) == awx_utils.freeze(key), (computed, key)


def test_every_reference_resolves_through_awxkit_to_an_object_of_the_file_or_a_prerequisite():
    """PageCache.get_by_natural_key is what awx import uses to turn a reference into an id. With the cache
    holding what the import creates, a reference that resolves to nothing would send a query to the (closed)
    connection and fail the test."""
    cache, pages = imported()
    by_key = dict((awx_utils.freeze(asset["natural_key"]), page) for asset, page in pages)
    used = set()
    for pair in all_assets():
        asset = pair[1]
        for ref in references(asset):
            cls = page_class(ref)
            assert set(ref) - {"type"} == set(cls.NATURAL_KEY), (asset["name"], ref, cls.NATURAL_KEY)
            found = cache.get_by_natural_key(ref)
            assert found is by_key[awx_utils.freeze(ref)], (asset["name"], ref)
            used.add(awx_utils.freeze(ref))
    # the templates run in the imported project, inventory and execution environment
    for resource in ("projects", "inventory", "execution_environments"):
        for asset in EXPORT[resource]:
            assert awx_utils.freeze(asset["natural_key"]) in used, asset["name"]


@pytest.mark.parametrize("jt", TEMPLATES, ids=[t["name"] for t in TEMPLATES])
def test_job_template_fields_are_awx_job_template_fields(jt):
    """awxkit's JobTemplate.payload keeps only the fields AWX takes when a template is created."""
    scalars = dict((k, v) for k, v in jt.items() if k not in ("natural_key", "related") and not isinstance(v, dict))
    refs = dict((k, types.SimpleNamespace(id=1)) for k, v in jt.items()
                if isinstance(v, dict) and k not in ("natural_key", "related"))
    assert set(refs) == {"inventory", "project", "execution_environment"}, refs
    payload = JobTemplate(CONNECTION).payload(**dict(scalars, **refs))
    assert set(scalars) | set(refs) <= set(payload), "awxkit drops %s" % (set(scalars) | set(refs)) - set(payload)


@pytest.mark.parametrize("jt", TEMPLATES, ids=[t["name"] for t in TEMPLATES])
def test_job_template_survey_and_prompts(jt):
    assert "survey_spec" not in jt, "awx import reads the survey from related.survey_spec only"
    spec = jt["related"]["survey_spec"]
    assert isinstance(spec, dict), "awx import posts a dict related entry as the survey"
    assert jt["survey_enabled"] is True
    assert set(spec) == {"name", "description", "spec"} and spec["spec"]
    assert jt["job_type"] == "run"
    assert jt["ask_job_type_on_launch"] is True, "the operator chooses check or run at launch"
    assert jt["ask_variables_on_launch"] is True, "docs/awx.md tells operators to pass extra variables"
    assert jt["ask_limit_on_launch"] is True
    assert os.path.isfile(path(jt["playbook"])), jt["playbook"]
    documented, used = playbook_variables(jt["playbook"])
    seen = set()
    for q in spec["spec"]:
        assert set(q) <= {"question_name", "question_description", "variable", "type", "required", "default",
                          "min", "max", "choices", "new_question"}, q
        assert str(q.get("question_description") or "").strip(), "%s: no description" % q["question_name"]
        assert q["type"] in SURVEY_TYPES
        assert q["variable"] not in seen, "duplicate survey variable %s" % q["variable"]
        seen.add(q["variable"])
        assert q["variable"] in used, "%s is not a variable of %s" % (q["variable"], jt["playbook"])
        assert q["variable"] in documented, "%s is not documented in %s" % (q["variable"], jt["playbook"])
        if q["type"] in ("multiplechoice", "multiselect"):
            assert q["default"] in q["choices"]
    without_target = ("docker_root_report.yml", "transfer_images.yml", "convert_image_store.yml",
                      "cleanup_image_store.yml", "rollback_image_store.yml")
    assert "docker_root_target" in seen or jt["playbook"].endswith(without_target)


def test_survey_choices_agree_with_the_playbook():
    with open(path("playbooks/migrate_docker_root.yml")) as f:
        text = f.read()
    migrate = [t for t in TEMPLATES if t["playbook"] == "playbooks/migrate_docker_root.yml"][0]
    qs = dict((q["variable"], q) for q in migrate["related"]["survey_spec"]["spec"])
    assert "docker_root_method | default('bind') in ['bind', 'daemon_json']" in text
    assert qs["docker_root_method"]["choices"] == ["bind", "daemon_json"]
    assert "docker_root_containerd | default('auto') in ['auto', 'always', 'never']" in text
    assert qs["docker_root_containerd"]["choices"] == ["auto", "always", "never"]


PLAYBOOKS = sorted("playbooks/" + p for p in os.listdir(path("playbooks")) if p.endswith(".yml"))


def test_the_job_templates_run_exactly_the_playbooks():
    """One template per playbook, in both formats: a playbook added without a template (or a template naming one
    that is gone) is caught."""
    assert len(PLAYBOOKS) == 9, PLAYBOOKS
    for rel, templates in (("awx/job_templates.yml", TEMPLATES),
                           ("awx/controller_configuration.yml", CONTROLLER["controller_templates"])):
        playbooks = [t["playbook"] for t in templates]
        assert sorted(set(playbooks)) == PLAYBOOKS, rel
        assert len(playbooks) == len(set(playbooks)), "%s: two templates run the same playbook" % rel


@pytest.mark.parametrize("waiver", ["docker_root_allow_swarm_manager", "docker_root_allow_same_filesystem"])
def test_the_migrate_survey_offers_the_waivers(waiver):
    """The migration refuses a swarm manager and a target on the root's own filesystem unless waived: an AWX
    operator can waive each from the survey, refused by default as in the playbook."""
    with open(path("playbooks/migrate_docker_root.yml")) as f:
        assert "%s | default(false) | bool" % waiver in f.read()
    for rel, templates, survey in (
            ("awx/job_templates.yml", TEMPLATES, lambda t: t["related"]["survey_spec"]),
            ("awx/controller_configuration.yml", CONTROLLER["controller_templates"], lambda t: t["survey_spec"])):
        migrate = [t for t in templates if t["playbook"] == "playbooks/migrate_docker_root.yml"]
        assert len(migrate) == 1, rel
        questions = [q for q in survey(migrate[0])["spec"] if q["variable"] == waiver]
        assert len(questions) == 1, "%s: the migrate survey does not ask for %s" % (rel, waiver)
        q = questions[0]
        assert q["type"] == "multiplechoice" and sorted(q["choices"]) == ["false", "true"], (rel, q)
        assert q["default"] == "false", (rel, q)


# infra.controller_configuration
#
# The keys each role reads from an item of its list, and the ones it marks `mandatory`, as written in the roles'
# tasks of redhat-cop/infra.controller_configuration (roles/<role>/tasks/main.yml; job_templates at commit
# 793a047be276b96f300525c5f52dcc551c047350, projects 06848d7dbdbb1980eb8eb63abe2c0191ba21bf71, inventories
# 68cf460946e418259310f2454e2c860d662487b3, groups 059bc87b31c4b55694ea4351f59244e9da799c5b,
# execution_environments 6270c116fb984f8db5418a8e98e725fab09e3a00). The collection is not installable here
# (Galaxy is out of reach), so its structure is written down, not read at test time.
ROLES = {
    "controller_execution_environments": {
        "keys": {"name", "new_name", "description", "image", "organization", "credential", "pull", "state"},
        "mandatory": {"name", "image"}},
    "controller_projects": {
        "keys": {"name", "new_name", "copy_from", "description", "scm_type", "scm_url", "default_environment",
                 "local_path", "scm_branch", "scm_refspec", "credential", "scm_credential",
                 "signature_validation_credential", "scm_clean", "scm_delete_on_update", "scm_track_submodules",
                 "scm_update_on_launch", "scm_update_cache_timeout", "allow_override", "job_timeout", "timeout",
                 "custom_virtualenv", "organization", "state", "wait", "update_project", "interval",
                 "notification_templates_started", "notification_templates_success", "notification_templates_error",
                 "related"},
        "mandatory": {"name"}},
    "controller_inventories": {
        "keys": {"name", "new_name", "copy_from", "description", "organization", "instance_groups",
                 "input_inventories", "variables", "kind", "host_filter", "prevent_instance_group_fallback", "state"},
        "mandatory": {"name", "organization"}},
    "controller_groups": {
        "keys": {"name", "new_name", "description", "inventory", "variables", "hosts", "children",
                 "preserve_existing_hosts", "preserve_existing_children", "state"},
        "mandatory": {"name", "inventory"}},
    "controller_templates": {
        "keys": {"name", "new_name", "copy_from", "description", "execution_environment", "custom_virtualenv",
                 "job_type", "inventory", "organization", "project", "playbook", "credentials", "forks", "limit",
                 "verbosity", "extra_vars", "job_tags", "force_handlers", "skip_tags", "start_at_task", "diff_mode",
                 "use_fact_cache", "host_config_key", "ask_scm_branch_on_launch", "ask_diff_mode_on_launch",
                 "ask_variables_on_launch", "ask_limit_on_launch", "ask_tags", "ask_tags_on_launch", "ask_skip_tags",
                 "ask_skip_tags_on_launch", "ask_job_type_on_launch", "ask_verbosity_on_launch",
                 "ask_inventory_on_launch", "ask_credential_on_launch", "ask_execution_environment_on_launch",
                 "ask_forks_on_launch", "ask_instance_groups_on_launch", "ask_job_slice_count_on_launch",
                 "ask_labels_on_launch", "ask_timeout_on_launch", "prevent_instance_group_fallback",
                 "survey_enabled", "survey_spec", "survey", "become_enabled", "allow_simultaneous", "timeout",
                 "instance_groups", "job_slice_count", "webhook_service", "webhook_credential", "scm_branch",
                 "labels", "state", "notification_templates_started", "notification_templates_success",
                 "notification_templates_error", "related"},
        "mandatory": {"name"}},
}
# Reference fields the roles take as a name (a string) or as {name: ...}.
NAME_REFERENCES = {"controller_templates": ("inventory", "project", "execution_environment", "organization"),
                   "controller_projects": ("organization",), "controller_inventories": ("organization",),
                   "controller_groups": ("inventory",)}


def test_controller_configuration_uses_the_roles_variables_and_keys():
    assert set(CONTROLLER) == set(ROLES)
    for var, items in CONTROLLER.items():
        assert isinstance(items, list) and items, var
        for item in items:
            assert set(item) <= ROLES[var]["keys"], "%s: the role ignores %s" % (var, set(item) - ROLES[var]["keys"])
            assert ROLES[var]["mandatory"] <= set(item), "%s: %s missing" % (var, ROLES[var]["mandatory"] - set(item))
            for ref in NAME_REFERENCES.get(var, ()):
                if ref in item:
                    assert isinstance(item[ref], str), "%s.%s: a name" % (var, ref)
    for jt in CONTROLLER["controller_templates"]:
        assert all(isinstance(c, str) for c in jt["credentials"]), "the role passes credentials as names"
        assert "related" not in jt  # survey and credentials in the plain form, which the role reads first
    names = dict((var, set(i["name"] for i in items)) for var, items in CONTROLLER.items())
    for jt in CONTROLLER["controller_templates"]:
        assert jt["project"] in names["controller_projects"]
        assert jt["inventory"] in names["controller_inventories"]
        assert jt["execution_environment"] in names["controller_execution_environments"]
    for group in CONTROLLER["controller_groups"]:
        assert group["inventory"] in names["controller_inventories"]


def test_both_formats_describe_the_same_objects():
    def plain(jt):
        return {"name": jt["name"], "playbook": jt["playbook"], "job_type": jt["job_type"],
                "become_enabled": jt["become_enabled"], "survey_enabled": jt["survey_enabled"],
                "ask": dict((k, v) for k, v in jt.items() if k.startswith("ask_"))}
    ours = dict((t["name"], t) for t in TEMPLATES)
    theirs = dict((t["name"], t) for t in CONTROLLER["controller_templates"])
    assert set(ours) == set(theirs)
    for name, jt in ours.items():
        other = theirs[name]
        assert plain(jt) == plain(other), name
        assert jt["related"]["survey_spec"] == other["survey_spec"], name
        assert jt["project"]["name"] == other["project"] and jt["inventory"]["name"] == other["inventory"]
        assert jt["execution_environment"]["name"] == other["execution_environment"]
        assert [c["name"] for c in jt["related"]["credentials"]] == other["credentials"]
    for resource, var, fields in (("projects", "controller_projects", ("scm_type", "scm_url", "scm_branch")),
                                  ("execution_environments", "controller_execution_environments", ("image", "pull"))):
        assert [tuple(a[f] for f in ("name",) + fields) for a in EXPORT[resource]] == \
            [tuple(a[f] for f in ("name",) + fields) for a in CONTROLLER[var]]
    assert [i["name"] for i in EXPORT["inventory"]] == [i["name"] for i in CONTROLLER["controller_inventories"]]


def test_docs_say_where_the_report_goes():
    with open(path("docs/awx.md")) as f:
        text = f.read()
    assert "set_stats" in text and "artifact" in text
    assert "ask_job_type_on_launch" in text or "check mode" in text.lower()
    assert "awx/controller_configuration.yml" in text


# The execution environment

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
    built = [n for n in os.listdir(str(work)) if n.startswith("dockyard-migrate-") and n.endswith(".tar.gz")]
    assert len(built) == 1, built
    os.rename(str(work / built[0]), str(work / "dockyard-migrate.tar.gz"))  # as docs/awx.md and build-ee.sh do
    with open(os.path.join(ROOT, "galaxy.yml")) as f:
        version = yaml.safe_load(f)["version"]
    with open(str(work / "execution-environment.yml")) as f:
        assert version not in f.read(), "the definition repeats the collection's version"
    res = subprocess.run([builder, "create", "-f", str(work / "execution-environment.yml"),
                          "--context", str(work / "context")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, check=False, timeout=300)
    assert res.returncode == 0, res.stdout
    name = "Containerfile" if (work / "context" / "Containerfile").exists() else "Dockerfile"
    containerfile = (work / "context" / name).read_text()
    assert "dockyard-migrate.tar.gz" in containerfile
    assert (work / "context" / "_build" / "dockyard-migrate.tar.gz").exists()
    assert 'ARG PYCMD="/opt/ee/bin/python3"' in containerfile
    assert 'ARG PKGMGR="/usr/bin/apt-get"' in containerfile


@pytest.mark.parametrize("given", [["app/web:1.4", "app/worker:1.4"], "app/web:1.4\n  app/worker:1.4\n\n"])
def test_the_transfer_takes_the_images_as_a_list_or_one_per_line(given, tmp_path):
    """The transfer survey's text area gives one name per line; the playbook turns it into the role's list."""
    with open(path("playbooks/transfer_images.yml")) as f:
        plays = yaml.safe_load(f)
    task = [t for t in plays[1]["tasks"] if "ansible.builtin.include_role" in t][0]
    expr = task["vars"]["transfer_images_images"]
    play = [{"hosts": "localhost", "gather_facts": False, "vars": {"transfer_images": given},
             "tasks": [{"ansible.builtin.copy": {"content": "{{ (%s) | to_json }}" % expr.strip()[2:-2],
                                                 "dest": str(tmp_path / "out.json")}}]}]
    (tmp_path / "play.yml").write_text(json.dumps(play))
    env = dict(os.environ, ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    env.pop("ANSIBLE_CONFIG", None)
    res = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c",
                          "local", "-e", "ansible_python_interpreter=" + sys.executable, str(tmp_path / "play.yml")],
                         cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, timeout=300, check=False)
    assert res.returncode == 0, res.stdout[-3000:]
    with open(str(tmp_path / "out.json")) as f:
        assert json.load(f) == ["app/web:1.4", "app/worker:1.4"]


def test_ansible_navigator_runs_the_image_build_ee_tags():
    """ansible-navigator.yml names the image awx/build-ee.sh tags, never pulls a newer one over it, and prints as
    ansible-playbook does."""
    with open(os.path.join(ROOT, "ansible-navigator.yml")) as f:
        nav = yaml.safe_load(f)["ansible-navigator"]
    ee = nav["execution-environment"]
    with open(os.path.join(ROOT, "awx", "build-ee.sh")) as f:
        script = f.read()
    image, tag = ee["image"].rsplit(":", 1)
    assert ee["enabled"] is True and ee["pull"]["policy"] in ("missing", "never")
    assert 'image="%s:$hash"' % image in script and 'docker tag "$image" %s:%s' % (image, tag) in script
    assert nav["mode"] == "stdout"


def test_the_published_image_tag_is_the_collections_version():
    """The job templates, the controller configuration and docs/awx.md name the execution environment's image by
    the version galaxy.yml gives the collection inside it."""
    with open(os.path.join(ROOT, "galaxy.yml")) as f:
        version = str(yaml.safe_load(f)["version"])
    found = {}
    for rel in ("awx/job_templates.yml", "awx/controller_configuration.yml", "docs/awx.md"):
        with open(os.path.join(ROOT, rel)) as f:
            # The tag, also when punctuation follows it (a backtick, a full stop): it ends with a letter or digit.
            found[rel] = set(re.findall(
                r"registry\.example\.com/dockyard-migrate-ee:([A-Za-z0-9_][A-Za-z0-9_.-]*[A-Za-z0-9_])", f.read()))
    assert all(found.values()), found
    assert {rel: tags for rel, tags in found.items() if tags != {version}} == {}, (version, found)
