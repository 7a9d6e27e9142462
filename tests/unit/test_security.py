# -*- coding: utf-8 -*-
"""Security properties of the code that can be checked by reading it."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import glob
import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLUGINS = sorted(glob.glob(os.path.join(ROOT, "plugins", "*", "*.py")))
# Files that open files for writing, and why that is safe.
WRITERS = {
    "_fileops.py": "the atomic writer itself (temporary file, fsync, rename)",
    "_archive.py": "writes archives to a temporary file that is renamed into place when complete",
    "_download.py": "downloads into a fresh temporary directory",
    "_lock.py": "the lock file (opened with os.open, O_NOFOLLOW, in a private directory)",
    "_fsinfo.py": "an empty probe file in its own temporary directory (the d_type test)",
}


def code_of(path):
    """The file's text without its DOCUMENTATION, EXAMPLES and RETURN strings (samples may show shells)."""
    text = open(path).read()
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") in ("DOCUMENTATION", "EXAMPLES",
                                                                                   "RETURN"):
            text = text.replace(node.value.value, "")
    return text


def test_there_are_plugins():
    assert len(PLUGINS) > 10


@pytest.mark.parametrize("path", PLUGINS, ids=[os.path.relpath(p, ROOT) for p in PLUGINS])
def test_no_command_goes_through_a_shell(path):
    text = code_of(path)
    for pattern in (r"shell\s*=\s*True", r"use_unsafe_shell\s*=\s*True", r"\bos\.system\(", r"\bos\.popen\(",
                    r"[\"']/bin/sh[\"']", r"[\"']sh[\"'],\s*[\"']-c[\"']"):
        assert not re.search(pattern, text), "%s matches %s" % (path, pattern)


@pytest.mark.parametrize("path", PLUGINS, ids=[os.path.relpath(p, ROOT) for p in PLUGINS])
def test_files_are_written_only_by_the_atomic_writer_or_to_temporary_files(path):
    tree = ast.parse(open(path).read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "open" and len(node.args) > 1:
            mode = node.args[1]
            if isinstance(mode, ast.Constant) and any(c in str(mode.value) for c in "wa+"):
                assert os.path.basename(path) in WRITERS, "%s:%d opens a file for writing" % (path, node.lineno)


# Option names that hold secrets; such an option must be declared no_log=True.
SECRET_NAME = re.compile(r"(^|_)(pass(word|wd|phrase)?|secret|token|credentials?|private|api_?key)(_|$)")
SPEC_KEYS = {"type", "default", "required", "choices", "elements", "no_log", "aliases", "options"}


def option_specs(source):
    """Every option declared in the source's argument specs, as {name: {spec key: value}}.

    An option is a keyword argument whose value is a ``dict(...)`` call with spec keys
    (``name=dict(type="str", no_log=True)``), wherever it appears: AnsibleModule's argument_spec,
    a helper such as docker_args(), or module_utils' DOCKER_ARGS; and an action plugin's _VALID_ARGS."""
    found = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "_VALID_ARGS":
            # An action plugin's arguments: they cannot be no_log, so a secret among them is caught too.
            found.update((c.value, {}) for c in ast.walk(node.value) if isinstance(c, ast.Constant))
        if not isinstance(node, ast.Call):
            continue
        for kw in node.keywords:
            val = kw.value
            if kw.arg and isinstance(val, ast.Call) and getattr(val.func, "id", None) == "dict":
                keys = {k.arg: k.value for k in val.keywords if k.arg}
                if keys and set(keys) <= SPEC_KEYS:
                    found[kw.arg] = {k: (v.value if isinstance(v, ast.Constant) else None) for k, v in keys.items()}
    return found


def unprotected_secrets(specs):
    return sorted(name for name, spec in specs.items() if SECRET_NAME.search(name) and spec.get("no_log") is not True)


def documented_options(path):
    tree = ast.parse(open(path).read())
    doc = [n.value.value for n in tree.body if isinstance(n, ast.Assign)
           and getattr(n.targets[0], "id", "") == "DOCUMENTATION"][0]
    return set(yaml.safe_load(doc).get("options") or {})


MODULES = sorted(glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py")))
ACTIONS = sorted(glob.glob(os.path.join(ROOT, "plugins", "action", "*.py")))
SPEC_SOURCES = MODULES + ACTIONS + [os.path.join(ROOT, "plugins", "module_utils", "_common.py"),
                                    os.path.join(ROOT, "plugins", "module_utils", "_options.py")]


def imported_specs(path):
    """The module_utils files a module takes an argument spec from (``from ..._x import ARGUMENT_SPEC``)."""
    out = []
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.ImportFrom) and ".module_utils." in (node.module or "") and \
                any(a.name.endswith(("_SPEC", "_ARGS")) for a in node.names):
            out.append(os.path.join(ROOT, "plugins", "module_utils", node.module.rsplit(".", 1)[1] + ".py"))
    return out


def test_the_secret_check_finds_an_unprotected_secret():
    """The check below can fail: a spec with a secret option and no no_log is caught."""
    bad = ("AnsibleModule(argument_spec=dict(path=dict(type='path'), api_token=dict(type='str'),\n"
           "    login_password=dict(type='str', no_log=False), private_key=dict(no_log=True),\n"
           "    online_passes=dict(type='int', no_log=False)))\n"
           "_VALID_ARGS = frozenset(('jid', 'secret'))")
    assert unprotected_secrets(option_specs(bad)) == ["api_token", "login_password", "secret"]


def test_the_spec_reader_sees_every_documented_option():
    """option_specs() reads each module's whole spec, so the secret check looks at every option."""
    common = option_specs(open(SPEC_SOURCES[-2]).read())
    assert set(common) == {"docker_host", "timeout", "api_version"}
    for path in MODULES:
        seen = set(option_specs(open(path).read())) | set(common)
        for spec in imported_specs(path):
            seen |= set(option_specs(open(spec).read()))
        action = os.path.join(ROOT, "plugins", "action", os.path.basename(path))
        if os.path.exists(action):  # a module carried out by its action plugin
            seen |= set(option_specs(open(action).read()))
        missing = documented_options(path) - seen
        assert not missing, "%s: options %s not found in its argument spec" % (path, sorted(missing))


@pytest.mark.parametrize("path", SPEC_SOURCES, ids=[os.path.relpath(p, ROOT) for p in SPEC_SOURCES])
def test_no_secret_option_is_logged(path):
    bad = unprotected_secrets(option_specs(open(path).read()))
    assert not bad, "%s: options %s hold secrets but are not no_log=True" % (path, bad)
