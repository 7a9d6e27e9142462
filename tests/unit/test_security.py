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
    "_relocate.py": "the lock file (append mode, never rewritten)",
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


def test_no_secret_option_is_logged():
    for path in glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py")):
        tree = ast.parse(open(path).read())
        doc = [n.value.value for n in tree.body if isinstance(n, ast.Assign)
               and getattr(n.targets[0], "id", "") == "DOCUMENTATION"][0]
        for name in (yaml.safe_load(doc).get("options") or {}):
            if re.search(r"(^|_)(pass(word|wd|phrase)?|secret|token|credentials?|private)(_|$)", name):
                assert "no_log=True" in open(path).read(), "%s: option %s is not no_log" % (path, name)
