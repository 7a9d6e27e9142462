"""Write CHANGELOG.rst from the changelog fragments with antsibull-changelog.

Published releases are recorded in changelogs/changelog.yaml (antsibull-changelog
release). The release being prepared (the version in galaxy.yml) stays unreleased
there and its fragments stay in changelogs/fragments until it is published. This
script releases it in a temporary copy of the collection, so that
antsibull-changelog adds its own sections for new modules, plugins and roles, and
copies only the resulting CHANGELOG.rst back; with no fragment yet it renders the
published releases alone.

    .venv/bin/python scripts/changelog.py          # rewrite CHANGELOG.rst
    .venv/bin/python scripts/changelog.py --check  # exit 1 when CHANGELOG.rst is out of date
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What antsibull-changelog reads: the collection's metadata, fragments and everything it documents.
PARTS = ("galaxy.yml", "meta", "changelogs", "plugins", "roles")


def galaxy_version(root=ROOT):
    import yaml

    with open(os.path.join(root, "galaxy.yml")) as f:
        return str(yaml.safe_load(f)["version"])


def render(root=ROOT, timeout=300):
    """Return the CHANGELOG.rst that antsibull-changelog makes from root's fragments."""
    bindir = os.path.dirname(sys.executable)
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)
    with tempfile.TemporaryDirectory() as tmp:
        work = os.path.join(tmp, "collection")
        os.mkdir(work)
        for part in PARTS:
            src = os.path.join(root, part)
            if os.path.isdir(src):
                shutil.copytree(src, os.path.join(work, part),
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            elif os.path.exists(src):
                shutil.copy2(src, os.path.join(work, part))
        notes = os.path.join(work, "changelogs", "fragments")
        fragments = [n for n in os.listdir(notes) if n.endswith((".yml", ".yaml"))] if os.path.isdir(notes) else []
        # With no fragment yet, the version being prepared has nothing to say: the released notes alone.
        argv = ["release", "--version", galaxy_version(root)] if fragments else ["generate"]
        subprocess.run([os.path.join(bindir, "antsibull-changelog")] + argv,
                       cwd=work, env=env, check=True, timeout=timeout)
        with open(os.path.join(work, "CHANGELOG.rst")) as f:
            return f.read()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only tell whether CHANGELOG.rst is up to date")
    args = parser.parse_args(argv)
    path = os.path.join(ROOT, "CHANGELOG.rst")
    text = render()
    current = open(path).read() if os.path.exists(path) else None
    if args.check:
        if current != text:
            print("CHANGELOG.rst is out of date: run make changelog", file=sys.stderr)
            return 1
        return 0
    if current != text:
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.replace(path + ".tmp", path)
        print("CHANGELOG.rst written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
