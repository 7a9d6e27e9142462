# -*- coding: utf-8 -*-
"""The changelog: fragments antsibull-changelog accepts, and a CHANGELOG.rst made from them."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import re
import subprocess
import sys

import pytest
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


def released():
    """The releases changelogs/changelog.yaml records (antsibull-changelog release), by version."""
    with open(os.path.join(ROOT, "changelogs", "changelog.yaml")) as f:
        return dict((str(v), data or {}) for v, data in ((yaml.safe_load(f) or {}).get("releases") or {}).items())


def version_block(text, version):
    """The part of CHANGELOG.rst under the title of one version (up to the next version's title)."""
    m = re.search(r"^v%s\n=+\n(.*?)(?=^v\d+\.\d+\.\d+\S*\n=+\n|\Z)" % re.escape(version), text, re.S | re.M)
    assert m, "CHANGELOG.rst has no v%s" % version
    return m.group(1)


def listed(block, title):
    """The dockyard.migrate names a "New Modules"/"New Roles" section of a version's block lists (none without
    the section)."""
    if not re.search(r"^%s\n-+\n" % re.escape(title), block, re.M):
        return set()
    return set(re.findall(r"^- dockyard\.migrate\.(\w+) - ", section(block, title), re.M))


def tree_modules():
    return {os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py"))}


def tree_roles():
    return {os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "roles", "*")) if os.path.isdir(p)}


def release_lists(data):
    """(modules, roles) a recorded release lists as new."""
    return ({m["name"] for m in data.get("modules") or []},
            {r["name"] for r in (data.get("objects") or {}).get("role") or []})


@pytest.mark.parametrize("version", sorted(released()))
def test_each_release_lists_the_modules_and_roles_its_changelog_section_does(version):
    """The modules and roles changelogs/changelog.yaml records for a release are exactly those CHANGELOG.rst's
    section for that version lists under New Modules and New Roles (antsibull-changelog's own sections)."""
    with open(os.path.join(ROOT, "CHANGELOG.rst")) as f:
        block = version_block(f.read(), version)
    modules, roles = release_lists(released()[version])
    assert listed(block, "New Modules") == modules, version
    assert listed(block, "New Roles") == roles, version


def test_the_first_release_is_recorded_with_its_modules_and_roles():
    releases = released()
    assert "0.1.0" in releases, sorted(releases)
    modules, roles = release_lists(releases["0.1.0"])
    assert modules and roles, "0.1.0 records no module or no role: the comparison above would prove nothing"


def role_version_added(role):
    with open(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")) as f:
        return str(yaml.safe_load(f)["argument_specs"]["main"].get("version_added"))


def module_version_added(module):
    import ast
    with open(os.path.join(ROOT, "plugins", "modules", module + ".py")) as f:
        tree = ast.parse(f.read())
    doc = next(node.value.value for node in tree.body
               if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "DOCUMENTATION")
    return str(yaml.safe_load(doc).get("version_added"))


def test_every_module_and_role_is_released_or_new_in_the_version_being_prepared():
    """A module or role of the tree is listed in a recorded release, or it is new in the version galaxy.yml names
    (not released yet) and its version_added says so."""
    releases = released()
    version = changelog.galaxy_version(ROOT)
    shipped_modules, shipped_roles = set(), set()
    for data in releases.values():
        modules, roles = release_lists(data)
        shipped_modules |= modules
        shipped_roles |= roles
    assert shipped_modules and shipped_roles
    unreleased = [("module", m, module_version_added(m)) for m in sorted(tree_modules() - shipped_modules)] + \
        [("role", r, role_version_added(r)) for r in sorted(tree_roles() - shipped_roles)]
    if unreleased:
        assert version not in releases, "%s is new but galaxy.yml's %s is already released: %s" % (
            unreleased[0][1], version, unreleased)
    assert [u for u in unreleased if u[2] != version] == [], \
        "new since the last release, version_added must be galaxy.yml's %s" % version
    # What a release lists is still there (a module or role removed is a breaking change, not an omission).
    assert shipped_modules <= tree_modules() and shipped_roles <= tree_roles()


def test_new_modules_and_roles_come_from_antsibull_sections():
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
        for role in (data.get("objects") or {}).get("role") or []:
            out.setdefault(("role", role["name"]), str(version))
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
    # Doc fragments: their DOCUMENTATION is a class attribute; the options they give every module that uses them.
    fragments = glob.glob(os.path.join(ROOT, "plugins", "doc_fragments", "*.py"))
    for path in fragments:
        for cls in ast.parse(open(path).read()).body:
            for node in (cls.body if isinstance(cls, ast.ClassDef) else []):
                if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "DOCUMENTATION":
                    found += documented_versions(yaml.safe_load(node.value.value), os.path.relpath(path, ROOT))
    # Roles: their argument spec's version_added (the entry point's and any option's).
    for path in glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml")):
        role = os.path.basename(os.path.dirname(os.path.dirname(path)))
        with open(path) as f:
            spec = yaml.safe_load(f)["argument_specs"]
        found += documented_versions(spec, os.path.relpath(path, ROOT))
        own[("role", role)] = str(spec["main"].get("version_added"))
    assert [f for f in found if f[0].startswith("plugins/doc_fragments/")], "no doc fragment version_added found"
    assert len([k for k in own if k[0] == "role"]) == len(glob.glob(os.path.join(ROOT, "roles", "*", "meta")))
    assert len(found) > 50, "the walk found too few version_added to prove anything"
    assert [f for f in found if f[1] not in allowed] == []
    wrong = {k: (v, shipped.get(k, version)) for k, v in own.items() if v != shipped.get(k, version)}
    assert wrong == {}, "version_added differs from the release that first ships it: %s" % wrong
