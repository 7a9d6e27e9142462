# -*- coding: utf-8 -*-
"""Every file in plugins/ stays readable: at most 400 lines of code (its DOCUMENTATION, EXAMPLES and RETURN, blank
lines and comments aside), and no function over 60 lines."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import glob
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLUGINS = sorted(glob.glob(os.path.join(ROOT, "plugins", "**", "*.py"), recursive=True))
MAX_FILE, MAX_FUNCTION = 400, 60
DOCS = ("DOCUMENTATION", "EXAMPLES", "RETURN")


def code_lines(source):
    """Lines of code: not blank, not a comment, not inside the module's DOCUMENTATION, EXAMPLES or RETURN."""
    tree = ast.parse(source)
    docs = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) in DOCS:
            docs.update(range(node.lineno, node.end_lineno + 1))
    return sum(1 for n, line in enumerate(source.splitlines(), 1)
               if n not in docs and line.strip() and not line.strip().startswith("#"))


def long_functions(source, limit=MAX_FUNCTION):
    """[(name, lines)] of the functions (and methods) longer than LIMIT lines, docstrings included."""
    return [(node.name, node.end_lineno - node.lineno + 1) for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= limit]


def test_the_measures_count_what_they_say():
    doc = 'DOCUMENTATION = r"""\n' + "x\n" * 500 + '"""\n'
    body = "def f():\n" + "    x = 1\n" * 60 + "\n# a comment\n\ny = 2\n"
    assert code_lines(doc + body) == 62
    assert long_functions(body) == [("f", 61)] and long_functions(body, limit=61) == []


@pytest.mark.parametrize("path", PLUGINS, ids=[os.path.relpath(p, ROOT) for p in PLUGINS])
def test_files_and_functions_stay_short(path):
    with open(path) as f:
        source = f.read()
    assert code_lines(source) <= MAX_FILE, "%s has %d lines of code (at most %d)" % (path, code_lines(source), MAX_FILE)
    assert long_functions(source) == [], "%s: functions over %d lines: %s" % (path, MAX_FUNCTION, long_functions(source))


def test_every_module_utils_file_has_its_unit_tests_or_the_architecture_page_says_where():
    """A file _NAME.py has tests/unit/plugins/module_utils/test_NAME.py, or docs/architecture.md's opening names
    it with where it is tested (or why it is not)."""
    with open(os.path.join(ROOT, "docs", "architecture.md")) as f:
        opening = f.read().split("\n## ", 1)[0]
    missing = []
    for path in sorted(glob.glob(os.path.join(ROOT, "plugins", "module_utils", "_*.py"))):
        name = os.path.basename(path)
        own = os.path.join(ROOT, "tests", "unit", "plugins", "module_utils", "test%s" % name)
        if not os.path.exists(own) and "`%s`" % name not in opening:
            missing.append(name)
    assert missing == [], "no unit test file and not named in docs/architecture.md: %s" % ", ".join(missing)
