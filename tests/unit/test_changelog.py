# -*- coding: utf-8 -*-
"""The changelog: fragments antsibull-changelog accepts, and a CHANGELOG.rst made from them."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import re
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

import changelog  # noqa: E402  pylint: disable=wrong-import-position

ANTSIBULL = os.path.join(os.path.dirname(sys.executable), "antsibull-changelog")
FRAGMENTS = sorted(glob.glob(os.path.join(ROOT, "changelogs", "fragments", "*.y*ml")))


def section(text, title):
    """The lines of the CHANGELOG.rst section titled title (up to the next section of the same level)."""
    m = re.search(r"^%s\n-+\n(.*?)(?=^[^\n]+\n-+\n|\Z)" % re.escape(title), text, re.S | re.M)
    assert m, "no %r section in CHANGELOG.rst" % title
    return m.group(1)


def test_fragments_pass_antsibull_changelog_lint():
    proc = subprocess.run([ANTSIBULL, "lint"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_changelog_rst_is_generated_from_the_fragments():
    with open(os.path.join(ROOT, "CHANGELOG.rst")) as f:
        committed = f.read()
    assert committed == changelog.render(), "CHANGELOG.rst is out of date: run make changelog"


def test_new_modules_and_roles_come_from_antsibull_sections():
    with open(os.path.join(ROOT, "CHANGELOG.rst")) as f:
        text = f.read()
    modules = {os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py"))}
    roles = {os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "roles", "*")) if os.path.isdir(p)}
    listed_modules = set(re.findall(r"^- dockyard\.migrate\.(\w+) - ", section(text, "New Modules"), re.M))
    listed_roles = set(re.findall(r"^- dockyard\.migrate\.(\w+) - ", section(text, "New Roles"), re.M))
    if changelog.galaxy_version(ROOT) == "0.1.0":  # the first release brings every module and role
        assert listed_modules == modules
        assert listed_roles == roles
    # A fragment does not announce a new module or role by hand: antsibull-changelog lists them.
    for path in FRAGMENTS:
        with open(path) as f:
            data = yaml.safe_load(f) or {}
        for key, entries in data.items():
            for entry in entries if isinstance(entries, list) else []:
                assert not re.match(r"^[\w.]+( (module|role|action|filter|plugin|lookup))? - new "
                                    r"(module|role|action|filter|lookup|plugin)\b", entry), (path, key, entry)


def test_fragments_speak_to_users_not_about_development():
    words = re.compile(r"test suite|\btests?/|\bbench\b|make (bench|test)|benchmark|molecule test|"
                       r"docs/reliability|docs/performance", re.I)
    for path in FRAGMENTS:
        with open(path) as f:
            data = yaml.safe_load(f) or {}
        for key, entries in data.items():
            for entry in entries if isinstance(entries, list) else [entries]:
                assert not words.search(str(entry)), "%s (%s): %s" % (os.path.basename(path), key, entry)


def documented_versions(node, where):
    """Every version_added in a plugin's DOCUMENTATION (its own and its options', nested ones included)."""
    out = []
    if isinstance(node, dict):
        if "version_added" in node:
            out.append((where, str(node["version_added"])))
        for key, value in node.items():
            out += documented_versions(value, "%s.%s" % (where, key))
    elif isinstance(node, list):
        for value in node:
            out += documented_versions(value, where)
    return out


def first_shipped(released):
    """{(kind, name): version} for every module, plugin and role a recorded release lists, in the release that
    first listed it."""
    out = {}
    for version in sorted(released, key=lambda v: tuple(int(p) for p in str(v).split("."))):
        data = released[version] or {}
        for module in data.get("modules") or []:
            out.setdefault(("module", module["name"]), str(version))
        for kind, plugins in (data.get("plugins") or {}).items():
            for plugin in plugins:
                out.setdefault((kind, plugin["name"]), str(version))
    return out


def test_every_version_added_is_a_release_that_ships_it():
    """A plugin's version_added is the release changelogs/changelog.yaml first lists it in, or, for one no release
    lists yet, the version galaxy.yml names (the release being prepared); an option's is one of those too."""
    import ast
    with open(os.path.join(ROOT, "changelogs", "changelog.yaml")) as f:
        released = (yaml.safe_load(f) or {}).get("releases") or {}
    version = changelog.galaxy_version(ROOT)
    shipped = first_shipped(released)
    assert len(shipped) >= 10 or not released, shipped
    allowed = set(str(v) for v in released) | {version}
    found, own = [], {}
    for path in glob.glob(os.path.join(ROOT, "plugins", "*", "*.py")):
        kind, name = os.path.basename(os.path.dirname(path)), os.path.basename(path)[:-3]
        kind = kind[:-1] if kind.endswith("s") else kind  # modules -> module, filter, lookup, action
        tree = ast.parse(open(path).read())
        for node in tree.body:
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "DOCUMENTATION":
                doc = yaml.safe_load(node.value.value)
                found += documented_versions(doc, os.path.relpath(path, ROOT))
                own[(kind, name)] = str(doc.get("version_added"))
    assert len(found) > 50, "the walk found too few version_added to prove anything"
    assert [f for f in found if f[1] not in allowed] == []
    wrong = {k: (v, shipped.get(k, version)) for k, v in own.items() if v != shipped.get(k, version)}
    assert wrong == {}, "version_added differs from the release that first ships it: %s" % wrong
