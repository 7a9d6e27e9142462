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
    "_layer_filter.py": "opens /dev/null for writing, to discard the layers a destination already has",
}


def code_of_text(text):
    """The text without its DOCUMENTATION, EXAMPLES and RETURN strings (samples may show shells)."""
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") in ("DOCUMENTATION", "EXAMPLES",
                                                                                   "RETURN"):
            text = text.replace(node.value.value, "")
    return text


def test_there_are_plugins():
    assert len(PLUGINS) > 10


SHELL_PATTERNS = (r"shell\s*=\s*True", r"use_unsafe_shell\s*=\s*True", r"\bos\.system\(", r"\bos\.popen\(",
                  r"[\"']/bin/sh[\"']", r"[\"']sh[\"'],\s*[\"']-c[\"']")
SHELLS = {"sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish"}


def shell_uses(source):
    """Where the source runs a command through a shell: the patterns above in its code, and every list or tuple
    (an argv) in which a shell is followed by options that hold -c (``["bash", "-c", ...]``,
    ``("/bin/sh", "-ec", ...)``, ``["env", "sh", "-l", "-c", ...]``), however it is spread over lines."""
    found = ["matches %s" % pattern for pattern in SHELL_PATTERNS if re.search(pattern, code_of_text(source))]
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.List, ast.Tuple)):
            continue
        words = [e.value if isinstance(e, ast.Constant) and isinstance(e.value, str) else None for e in node.elts]
        for i, word in enumerate(words):
            if not word or os.path.basename(word) not in SHELLS:
                continue
            for opt in words[i + 1:]:
                if not opt or not opt.startswith("-") or opt.startswith("--"):
                    break
                if "c" in opt[1:]:
                    found.append("line %d runs %s %s" % (node.lineno, word, opt))
                    break
    return found


def test_the_shell_check_finds_a_shell():
    """The check below can fail: each way of running a shell in an argv is caught, plain commands are not."""
    bad = ('run(["bash", "-c", cmd])\n'
           'run(("/bin/sh", "-ec", cmd))\n'
           'run(["/usr/bin/bash", "-l", "-c",\n     cmd])\n'
           'run(["env", "dash", "-c", cmd])\n'
           'module.run_command(["sh", "-c", cmd])\n'
           'subprocess.run(cmd, shell=True)\n')
    found = shell_uses(bad)
    assert [f for f in found if f.startswith("line ")] == [
        "line 1 runs bash -c", "line 2 runs /bin/sh -ec", "line 3 runs /usr/bin/bash -c", "line 5 runs dash -c",
        "line 6 runs sh -c"], found
    assert any("shell" in f for f in found if f.startswith("matches")), found
    fine = ('run(["bash", "--version"])\nrun(["sh", "script.sh", "-c"])\nrun(["ssh", "-c", "aes128-ctr", "h"])\n'
            'run(["rsync", "-c", "a", "b"])\nrun(["docker", "exec", "web", "sh"])\n')
    assert shell_uses(fine) == []


@pytest.mark.parametrize("path", PLUGINS, ids=[os.path.relpath(p, ROOT) for p in PLUGINS])
def test_no_command_goes_through_a_shell(path):
    found = shell_uses(open(path).read())
    assert not found, "%s: %s" % (path, "; ".join(found))


WRITE_OPENERS = {"open", "io.open", "codecs.open", "os.fdopen", "gzip.open", "lzma.open", "bz2.open", "tarfile.open"}
WRITE_FLAGS = {"O_WRONLY", "O_RDWR", "O_CREAT", "O_APPEND", "O_TRUNC"}


def dotted(func):
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return func.value.id + "." + func.attr
    return getattr(func, "attr", None)


def argument(call, index, name):
    if len(call.args) > index:
        return call.args[index]
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def file_writes(source):
    """The lines that open a file for writing: open() and its kin with a writing mode, positional or
    ``mode=`` (a mode that is not a literal counts as writing), ``os.open`` with a writing flag, and
    ``write_text``/``write_bytes``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = dotted(node.func) or ""
        if name in WRITE_OPENERS:
            mode = argument(node, 1, "mode")
            if mode is None:
                continue
            if not (isinstance(mode, ast.Constant) and isinstance(mode.value, str)) or \
                    any(c in mode.value for c in "wax+"):
                found.append(node.lineno)
        elif name == "os.open":
            flags = argument(node, 1, "flags")
            if flags is None or any(getattr(n, "attr", getattr(n, "id", None)) in WRITE_FLAGS for n in ast.walk(flags)):
                found.append(node.lineno)
        elif isinstance(node.func, ast.Attribute) and node.func.attr in ("write_text", "write_bytes"):
            found.append(node.lineno)  # pathlib's; a function of our own by that name is not a method
    return sorted(found)


def test_the_writer_check_finds_each_way_of_writing():
    """The check below can fail: each form of opening for writing is caught, reading is not."""
    bad = ('open(p, "w")\n'
           'open(p, mode="ab")\n'
           'io.open(p, "w+")\n'
           'os.fdopen(fd, "wb")\n'
           'os.fdopen(fd, mode="x")\n'
           'open(p, m)\n'
           'os.open(p, os.O_WRONLY | os.O_CREAT, 0o600)\n'
           'os.open(p, flags=O_RDWR)\n'
           'pathlib.Path(p).write_text("x")\n'
           'gzip.open(p, "wb")\n'
           'codecs.open(p, "w", "utf-8")\n')
    assert file_writes(bad) == list(range(1, 12))
    fine = ('open(p)\nopen(p, "rb")\nio.open(p, mode="r")\nos.fdopen(fd)\nos.open(p, os.O_RDONLY | os.O_NOFOLLOW)\n'
            'gzip.open(p, "rb")\ntarfile.open(fileobj=s, mode="r|")\nwrite_text(p, text)\n')
    assert file_writes(fine) == []


@pytest.mark.parametrize("path", PLUGINS, ids=[os.path.relpath(p, ROOT) for p in PLUGINS])
def test_files_are_written_only_by_the_atomic_writer_or_to_temporary_files(path):
    lines = file_writes(open(path).read())
    assert not lines or os.path.basename(path) in WRITERS, "%s:%s opens a file for writing" % (path, lines)


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
