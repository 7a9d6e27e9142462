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

import audit

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLUGINS = sorted(glob.glob(os.path.join(ROOT, "plugins", "*", "*.py")))


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
RUNNERS = {"run", "Popen", "call", "check_call", "check_output", "run_command", "getoutput", "getstatusoutput"}


def shell_uses(source):
    """Where the source runs a command through a shell: the patterns above in its code; every list or tuple (an
    argv) that audit.shell_command() reads as a shell given -c, whatever options come first (``["bash", "-o",
    "pipefail", "-c", cmd]``, ``["bash", "--norc", "-c", cmd]``, ``("/bin/sh", "-ec", ...)``, ``["env", "sh",
    "-c", ...]``), however it is spread over lines; a whole command line given as one string to a runner
    (``run("rsync -a a b")``); and ``shell`` set through a dict (``**{"shell": True}``)."""
    found = ["matches %s" % pattern for pattern in SHELL_PATTERNS if re.search(pattern, code_of_text(source))]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.List, ast.Tuple)):
            words = [e.value if isinstance(e, ast.Constant) and isinstance(e.value, str) else "ARG"
                     for e in node.elts]
            why = audit.shell_command(words) if len(words) > 1 else None
            if why:
                found.append("line %d: %s" % (node.lineno, why))
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value in ("shell", "use_unsafe_shell") and \
                        not (isinstance(value, ast.Constant) and value.value is False):
                    found.append("line %d sets %s through a dict" % (node.lineno, key.value))
        elif isinstance(node, ast.Call) and (dotted(node.func) or "").rsplit(".", 1)[-1] in RUNNERS and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str) and " " in first.value.strip():
                found.append("line %d runs a command line as one string: %r" % (node.lineno, first.value))
            elif isinstance(first, ast.JoinedStr):
                found.append("line %d runs a command line built as one string" % node.lineno)
    return found


def test_the_shell_check_finds_a_shell():
    """The check below can fail: each way of running a shell is caught, plain commands are not."""
    bad = ('run(["bash", "-c", cmd])\n'
           'run(("/bin/sh", "-ec", cmd))\n'
           'run(["/usr/bin/bash", "-l", "-c",\n     cmd])\n'
           'run(["env", "dash", "-c", cmd])\n'
           'module.run_command(["sh", "-c", cmd])\n'
           'subprocess.run(cmd, shell=True)\n'
           'run(["bash", "-o", "pipefail", "-c", cmd])\n'
           'run(["bash", "--norc", "-c", cmd])\n'
           'subprocess.run("rsync -a src dst")\n'
           'subprocess.run(argv, **{"shell": True})\n'
           'module.run_command(f"tar -cf {dest} .")\n')
    found = shell_uses(bad)
    assert sorted(int(f.split()[1].rstrip(":")) for f in found if f.startswith("line ")) == [
        1, 2, 3, 5, 6, 8, 9, 10, 11, 12], found
    assert any("shell" in f for f in found if f.startswith("matches")), found
    fine = ('run(["bash", "--version"])\nrun(["sh", "script.sh", "-c"])\nrun(["ssh", "-c", "aes128-ctr", "h"])\n'
            'run(["rsync", "-c", "a", "b"])\nrun(["docker", "exec", "web", "sh"])\nrun(argv, **{"shell": False})\n'
            'run(["nice", "-n", "19", "rsync", "-a", "a", "b"])\nrun("rsync")\n')
    assert shell_uses(fine) == []


@pytest.mark.parametrize("path", PLUGINS, ids=[os.path.relpath(p, ROOT) for p in PLUGINS])
def test_no_command_goes_through_a_shell(path):
    found = shell_uses(open(path).read())
    assert not found, "%s: %s" % (path, "; ".join(found))


WRITE_OPENERS = {"open", "io.open", "codecs.open", "os.fdopen", "gzip.open", "lzma.open", "bz2.open", "tarfile.open"}
# Openers whose mode is their second argument, and classes that open a file by name.
FILE_CLASSES = {"gzip.GzipFile", "lzma.LZMAFile", "bz2.BZ2File", "tarfile.TarFile", "zipfile.ZipFile",
                "GzipFile", "LZMAFile", "BZ2File", "TarFile", "ZipFile"}
READ_FLAGS = {"O_RDONLY", "O_NOFOLLOW", "O_NONBLOCK", "O_DIRECTORY", "O_CLOEXEC", "O_NOCTTY", "O_PATH", "O_NOATIME",
              "O_LARGEFILE", "O_BINARY"}
# Calls that write or make a file whatever their arguments.
ALWAYS_WRITES = {"os.write", "os.pwrite", "os.writev", "tempfile.mkstemp", "mkstemp", "tempfile.NamedTemporaryFile",
                 "NamedTemporaryFile", "tempfile.TemporaryFile", "shutil.copyfile", "shutil.copy", "shutil.copy2",
                 "shutil.copytree", "shutil.move", "os.link", "os.symlink", "os.mknod", "os.mkfifo",
                 "os.truncate", "os.ftruncate"}
RENAMES = {"os.rename", "os.replace", "os.renames", "shutil.move"}
WRITE_METHODS = {"write_text", "write_bytes", "extractall", "extract", "touch", "symlink_to", "hardlink_to"}


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


def writing_mode(mode):
    """A mode argument that writes: one holding w, a, x or +, or one that is not a literal string."""
    return not (isinstance(mode, ast.Constant) and isinstance(mode.value, str)) or any(c in mode.value for c in "wax+")


def writing_flags(flags):
    """os.open's flags, unless they are read-only flags the reader can see (a variable counts as writing)."""
    for n in ast.walk(flags):
        if isinstance(n, (ast.Name, ast.Attribute)):
            name = getattr(n, "attr", getattr(n, "id", None))
            if name in ("os", "getattr"):
                continue
            if name not in READ_FLAGS:
                return True
        elif isinstance(n, ast.Constant) and isinstance(n.value, int) and n.value != 0:
            return True
    return False


def functions_of(tree):
    """{id(node): "Class.function"} for every node inside a function or class (``<module>`` at the top)."""
    owner = {}

    def visit(node, stack):
        for child in ast.iter_child_nodes(node):
            inner = stack + [child.name] if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                               ast.ClassDef)) else stack
            owner[id(child)] = ".".join(inner) or "<module>"
            visit(child, inner)
    visit(tree, [])
    return owner


def file_writes(source):
    """[(line, function, kind)] where the source writes a file ("write") or renames one ("rename"): open() and its
    kin with a writing mode, positional or ``mode=`` (a mode that is not a literal counts as writing), a method
    ``.open()`` with one (``Path(p).open("w")``, ``f.open(mode="w")``), the compressed-file classes, ``os.open``
    with flags that are not plainly read-only (flags in a variable count), ``mkstemp``, ``os.write``,
    ``shutil``'s copies, archive extraction, ``write_text``/``write_bytes``, and ``os.rename``/``os.replace``."""
    tree = ast.parse(source)
    owner = functions_of(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = dotted(node.func) or ""
        attr = getattr(node.func, "attr", None)
        kind = None
        if attr == "open" and name not in (WRITE_OPENERS - {"open"}) | {"os.open"}:
            name = ".open"  # a method (Path(p).open, f.open): its mode is its first argument
        if name in WRITE_OPENERS:
            mode = argument(node, 1, "mode")
            if mode is not None and writing_mode(mode):
                kind = "write"
        elif name in FILE_CLASSES:
            mode = argument(node, 1, "mode")
            if mode is None or writing_mode(mode):
                kind = "write"  # GzipFile(p) without a mode follows the file object's: assume writing
        elif name == "os.open":
            flags = argument(node, 1, "flags")
            if flags is None or writing_flags(flags):
                kind = "write"
        elif name in RENAMES or (attr == "rename" and "host" in (
                getattr(node.func.value, "id", None), getattr(node.func.value, "attr", None))):
            kind = "rename"  # a rename through the host (_host.Host.rename) is the caller's
        elif name in ALWAYS_WRITES:
            kind = "write"
        elif name == ".open":
            mode = argument(node, 0, "mode")  # a method: Path.open(mode), a file-like's open
            if mode is not None and writing_mode(mode):
                kind = "write"
        elif isinstance(node.func, ast.Attribute) and attr in WRITE_METHODS:
            kind = "write"  # a function of our own by that name is not a method
        if kind:
            found.append((node.lineno, owner.get(id(node), "<module>"), kind))
    return sorted(found)


BAD_WRITES = ('open(p, "w")\n'
              'open(p, mode="ab")\n'
              'io.open(p, "w+")\n'
              'os.fdopen(fd, "wb")\n'
              'os.fdopen(fd, mode="x")\n'
              'open(p, m)\n'
              'os.open(p, os.O_WRONLY | os.O_CREAT, 0o600)\n'
              'os.open(p, flags=O_RDWR)\n'
              'pathlib.Path(p).write_text("x")\n'
              'gzip.open(p, "wb")\n'
              'codecs.open(p, "w", "utf-8")\n'
              'Path(p).open("w")\n'
              'f.open(mode="w")\n'
              'os.open(p, flags)\n'
              'gzip.GzipFile(p, "wb")\n'
              'fd, tmp = tempfile.mkstemp()\n'
              'os.write(fd, data)\n'
              'shutil.copyfile(a, b)\n'
              'tar.extractall(dest)\n'
              'os.replace(a, b)\n'
              'ctx.host.rename(a, b)\n'
              'host.rename(a, b)\n')


def test_the_writer_check_finds_each_way_of_writing():
    """The check below can fail: each form of writing is caught, reading is not."""
    found = file_writes(BAD_WRITES)
    assert [line for line, _f, _k in found] == list(range(1, 23)), found
    assert found[-3:] == [(20, "<module>", "rename"), (21, "<module>", "rename"), (22, "<module>", "rename")]
    fine = ('open(p)\nopen(p, "rb")\nio.open(p, mode="r")\nos.fdopen(fd)\nos.open(p, os.O_RDONLY | os.O_NOFOLLOW)\n'
            'gzip.open(p, "rb")\ntarfile.open(fileobj=s, mode="r|")\nwrite_text(p, text)\nPath(p).open()\n'
            'os.open(p, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))\nf.open("rb")\nhost.isdir(p)\nrenamed(a, b)\n')
    assert file_writes(fine) == []


def test_the_writer_check_is_per_function():
    """A new writer beside an allowed one, in the same file, is caught: the allow-list names functions."""
    source = 'def atomic_write(p):\n    open(p, "wb")\n\n\ndef helper(p):\n    open(p, "wb")\n'
    found = file_writes(source)
    assert [(f, k) for _l, f, k in found] == [("atomic_write", "write"), ("helper", "write")]
    allowed = [(f, k) for _l, f, k in found if ("_fileops.py", f) in audit.WRITERS]
    assert allowed == [("atomic_write", "write")]


@pytest.mark.parametrize("path", PLUGINS, ids=[os.path.relpath(p, ROOT) for p in PLUGINS])
def test_files_are_written_only_by_the_atomic_writer_or_to_temporary_files(path):
    base = os.path.basename(path)
    wrong = ["line %d in %s (%s)" % (line, func, kind) for line, func, kind in file_writes(open(path).read())
             if (base, func) not in (audit.WRITERS if kind == "write" else audit.RENAMERS)]
    assert not wrong, "%s: %s; allowed: tests/unit/audit.py WRITERS and RENAMERS" % (path, "; ".join(wrong))


# Option names that hold secrets; such an option must be declared no_log=True.
SECRET_NAME = re.compile(r"(^|_)(pass(word|wd|phrase)?|secret|token|credentials?|private|api_?key)(_|$)")
SPEC_KEYS = {"type", "default", "required", "choices", "elements", "no_log", "aliases", "options", "fallback"}


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
