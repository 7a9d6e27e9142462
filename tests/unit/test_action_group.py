# -*- coding: utf-8 -*-
"""The docker action group holds exactly the modules that share docker_host, timeout and api_version."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import glob
import importlib
import json
import os
import subprocess
import sys

import pytest
import yaml

from ansible.module_utils import basic

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
MODULES = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py")))
SHARED = ("docker_host", "timeout", "api_version")
GROUP = "dockyard.migrate.docker"


def doc_string(path, name="DOCUMENTATION"):
    with open(path) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == name:
            return node.value.value
    for node in tree.body:  # a doc fragment class
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.Assign) and getattr(item.targets[0], "id", "") == name:
                    return item.value.value
    raise AssertionError("%s has no %s" % (path, name))


FRAGMENT = yaml.safe_load(doc_string(os.path.join(ROOT, "plugins", "doc_fragments", "docker.py")))["options"]


def runtime_group():
    with open(os.path.join(ROOT, "meta", "runtime.yml")) as f:
        return yaml.safe_load(f)["action_groups"]["docker"]


@pytest.fixture(scope="module")
def docs():
    """Each module's documentation as ansible-doc renders it, doc fragments included."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "collections"),
               PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    env.pop("ANSIBLE_CONFIG", None)
    out = subprocess.run(["ansible-doc", "--json"] + ["dockyard.migrate." + m for m in MODULES], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True, timeout=120).stdout
    data = json.loads(out)
    return {name.rsplit(".", 1)[1]: entry["doc"] for name, entry in data.items()}


class _Spec(Exception):
    pass


def argument_spec(name, monkeypatch):
    """The argument spec a module builds, caught as it creates its AnsibleModule; None for an action's docs."""
    mod = importlib.import_module("ansible_collections.dockyard.migrate.plugins.modules." + name)
    if not hasattr(mod, "main"):
        return None

    def capture(self, argument_spec=None, **kwargs):
        raise _Spec(argument_spec)

    monkeypatch.setattr(basic.AnsibleModule, "__init__", capture)
    with pytest.raises(_Spec) as caught:
        mod.main()
    return caught.value.args[0]


def shares_docker_options(doc, spec):
    """docker_host, timeout and api_version documented and accepted with the Engine API meaning."""
    for opt in SHARED:
        mine = doc.get("options", {}).get(opt)
        if not mine or mine.get("description") != FRAGMENT[opt]["description"] or \
                mine.get("type") != FRAGMENT[opt]["type"]:
            return False
        if spec is not None:
            if opt not in spec or spec[opt].get("type", "str") != FRAGMENT[opt]["type"] or \
                    spec[opt].get("default") != FRAGMENT[opt].get("default"):
                return False
    return True


def test_the_group_is_the_modules_that_share_the_docker_options(docs, monkeypatch):
    sharing = sorted(m for m in MODULES if shares_docker_options(docs[m], argument_spec(m, monkeypatch)))
    assert sharing, "no module shares the docker options: the check would prove nothing"
    assert sorted(runtime_group()) == sharing
    # The two that do not: bind_mount has no Engine API options, job_progress's timeout is the wait for a job.
    assert "bind_mount" not in sharing and "job_progress" not in sharing
    assert docs["job_progress"]["options"]["timeout"]["description"] != FRAGMENT["timeout"]["description"]


@pytest.mark.parametrize("module", MODULES)
def test_each_module_documents_its_membership(docs, module):
    attrs = docs[module].get("attributes", {})
    for std in ("check_mode", "diff_mode", "platform"):
        assert std in attrs and attrs[std].get("support") in ("full", "partial", "none", "N/A"), (module, std)
    if module in runtime_group():
        assert attrs.get("action_group", {}).get("membership") == [GROUP], module
    else:
        assert "action_group" not in attrs, module


def test_module_defaults_for_the_group_reach_its_modules(tmp_path):
    """A play with module_defaults for the group: image_info gets the group's docker_host, bind_mount is untouched."""
    sock = str(tmp_path / "no-such-docker.sock")
    play = [{"name": "Defaults for the docker group", "hosts": "localhost", "gather_facts": False,
             "module_defaults": {"group/" + GROUP: {"docker_host": "unix://" + sock, "timeout": 5}},
             "tasks": [
                 {"name": "Ask an engine that is not there", "dockyard.migrate.image_info": {"images": ["x"]},
                  "register": "info", "ignore_errors": True},
                 {"name": "bind_mount takes no docker_host: the group's defaults must not reach it",
                  "dockyard.migrate.bind_mount": {"src": str(tmp_path), "path": str(tmp_path / "mnt"),
                                                  "state": "present", "fstab": str(tmp_path / "fstab")},
                  "check_mode": True, "register": "bind", "ignore_errors": True},
                 {"name": "Keep the results", "ansible.builtin.copy": {
                     "content": "{{ {'info': info, 'bind': bind} | to_json }}", "dest": str(tmp_path / "out.json")}}]}]
    (tmp_path / "play.yml").write_text(json.dumps(play))
    (tmp_path / "fstab").write_text("")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "collections"),
               PATH=BIN + os.pathsep + os.environ.get("PATH", ""), ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    env.pop("ANSIBLE_CONFIG", None)
    res = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e",
                          "ansible_python_interpreter=" + sys.executable, str(tmp_path / "play.yml")],
                         cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, timeout=300, check=False)
    assert res.returncode == 0, res.stdout[-4000:]
    with open(str(tmp_path / "out.json")) as f:
        out = json.load(f)
    assert out["info"].get("failed"), out["info"]
    assert sock in out["info"]["msg"], out["info"]["msg"]  # the group's docker_host was used
    assert "Unsupported parameters" not in out["bind"].get("msg", ""), out["bind"]


def test_community_docker_names_and_environment_variables_carry_over(tmp_path):
    """community.docker's spellings reach the modules: the docker_url and docker_api_version aliases (api_version
    auto negotiates), DOCKER_HOST and DOCKER_TIMEOUT from the task's environment; a TCP address is refused."""
    aliased, from_env = str(tmp_path / "aliased.sock"), str(tmp_path / "from-env.sock")
    play = [{"name": "community.docker's names", "hosts": "localhost", "gather_facts": False,
             "module_defaults": {"group/" + GROUP: {"docker_url": "unix://" + aliased, "docker_api_version": "auto"}},
             "tasks": [
                 {"name": "The aliases from module_defaults", "dockyard.migrate.image_info": {"images": ["x"]},
                  "register": "aliased", "ignore_errors": True},
                 {"name": "DOCKER_HOST from the environment", "dockyard.migrate.image_info": {
                     "images": ["x"], "docker_url": None},
                  "environment": {"DOCKER_HOST": "unix://" + from_env, "DOCKER_TIMEOUT": "7"},
                  "register": "env", "ignore_errors": True},
                 {"name": "A TCP address", "dockyard.migrate.image_info": {
                     "images": ["x"], "docker_url": "tcp://127.0.0.1:2375"}, "register": "tcp", "ignore_errors": True},
                 {"name": "Keep the results", "ansible.builtin.copy": {
                     "content": "{{ {'aliased': aliased, 'env': env, 'tcp': tcp} | to_json }}",
                     "dest": str(tmp_path / "out.json")}}]}]
    (tmp_path / "play.yml").write_text(json.dumps(play))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "collections"),
               PATH=BIN + os.pathsep + os.environ.get("PATH", ""), ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    env.pop("ANSIBLE_CONFIG", None)
    for var in ("DOCKER_HOST", "DOCKER_TIMEOUT", "DOCKER_API_VERSION"):
        env.pop(var, None)
    res = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e",
                          "ansible_python_interpreter=" + sys.executable, str(tmp_path / "play.yml")],
                         cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, timeout=300, check=False)
    assert res.returncode == 0, res.stdout[-4000:]
    with open(str(tmp_path / "out.json")) as f:
        out = json.load(f)
    assert out["aliased"].get("failed") and aliased in out["aliased"]["msg"], out["aliased"]
    assert out["env"].get("failed") and from_env in out["env"]["msg"], out["env"]
    assert out["tcp"].get("failed") and "only unix sockets" in out["tcp"]["msg"], out["tcp"]


@pytest.mark.parametrize("given,asked", [(None, None), ("auto", None), ("AUTO", None), ("1.41", "1.41")])
def test_api_version_auto_negotiates_as_unset_does(given, asked):
    from ansible_collections.dockyard.migrate.plugins.module_utils import _common
    client = _common.client_from_params({"docker_host": "unix:///run/none.sock", "timeout": 5, "api_version": given})
    assert client._requested_version == asked  # pylint: disable=protected-access


def module_params(spec, args):
    """The parameters an AnsibleModule built from spec takes from args (and from its fallbacks: the environment),
    as a module's own main() builds them."""
    from ansible.module_utils.testing import patch_module_args
    with patch_module_args(args):
        return basic.AnsibleModule(argument_spec=spec).params


@pytest.mark.parametrize("module", sorted(runtime_group()))
def test_docker_timeout_and_api_version_come_from_the_environment(module, monkeypatch):
    """DOCKER_TIMEOUT and DOCKER_API_VERSION, as community.docker reads them, set the timeout and the API version
    the client asks for when the task does not; an option the task gives wins."""
    from ansible_collections.dockyard.migrate.plugins.module_utils import _common
    with pytest.MonkeyPatch.context() as mp:
        spec = argument_spec(module, mp)
    shared = dict((opt, spec[opt]) for opt in SHARED)
    for var in ("DOCKER_HOST", "DOCKER_TIMEOUT", "DOCKER_API_VERSION", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY"):
        monkeypatch.delenv(var, raising=False)
    sock = {"docker_host": "unix:///run/none.sock"}

    unset = module_params(shared, sock)  # the control: without the environment, the documented defaults
    assert unset["timeout"] == FRAGMENT["timeout"]["default"] and unset["timeout"] != 7
    assert _common.client_from_params(unset)._requested_version is None  # pylint: disable=protected-access

    monkeypatch.setenv("DOCKER_TIMEOUT", "7")
    monkeypatch.setenv("DOCKER_API_VERSION", "1.41")
    params = module_params(shared, sock)
    assert params["timeout"] == 7 and params["api_version"] == "1.41", params
    client = _common.client_from_params(params)
    assert client.timeout == 7
    assert client._requested_version == "1.41"  # pylint: disable=protected-access

    given = module_params(shared, dict(sock, timeout=5, api_version="1.43"))
    client = _common.client_from_params(given)
    assert (client.timeout, client._requested_version) == (5, "1.43")  # pylint: disable=protected-access
