# -*- coding: utf-8 -*-
"""The unit suite's audit hook (tests/unit/audit.py) can fail: each way of writing a file or running a shell that a
check reading the code's spelling used to miss is observed when code of the watched tree runs it, and charged to
the function that did it; an allowed function is not charged, a new one beside it in the same file is."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib.util
import os
import sys

import pytest

import audit
from ansible_collections.dockyard.migrate.plugins.module_utils import _fileops

FAKE = '''
import gzip, io, os, pathlib, shutil, subprocess, sys, tarfile, tempfile


def path_open(p):
    with pathlib.Path(p).open("w") as f:
        f.write("x")


def path_open_mode(p):
    f = pathlib.Path(p)
    with f.open(mode="w") as out:
        out.write("x")


def os_open_flags_in_a_variable(p):
    flags = os.O_WRONLY | os.O_CREAT
    os.close(os.open(p, flags, 0o600))


def gzip_file(p):
    with gzip.GzipFile(p, "wb") as f:
        f.write(b"x")


def mkstemp_and_write(p):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(p))
    os.write(fd, b"x")
    os.close(fd)


def copyfile(p):
    shutil.copyfile(sys.executable, p)


def extractall(p):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        data = b"x"
        info = tarfile.TarInfo("member")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    buf.seek(0)
    with tarfile.open(fileobj=buf, mode="r") as t:
        t.extractall(os.path.dirname(p))


def rename(p):
    open(p, "rb").close()
    os.replace(p, p + ".moved")


def bash_pipefail(p):
    subprocess.run(["bash", "-o", "pipefail", "-c", "true"], check=False)


def bash_norc(p):
    subprocess.run(["bash", "--norc", "-c", "true"], check=False)


def one_string(p):
    subprocess.run("true && true", shell=True, check=False)


def one_word(p):
    try:
        subprocess.run(["rsync -a src dst"], check=False)
    except OSError:
        pass


def shell_in_a_dict(p):
    subprocess.run("true", check=False, **{"shell": True})


def shell_as_executable(p):
    subprocess.run(["x", "-c", "true"], executable="/bin/sh", check=False)


def truncate(p):
    os.truncate(p, 0)


def remove(p):
    os.remove(p)


def remove_tree(p):
    import shutil
    os.makedirs(p + ".d/a")
    shutil.rmtree(p + ".d")


def plain_command(p):
    subprocess.run([sys.executable, "-c", "pass"], check=False)


def allowed_writer(p):
    with open(p, "wb") as f:
        f.write(b"x")


def reader(p):
    with open(p, "rb") as f:
        f.read()
'''
CAUGHT = {
    "path_open": "write", "path_open_mode": "write", "os_open_flags_in_a_variable": "write", "gzip_file": "write",
    "mkstemp_and_write": "write", "copyfile": "write", "extractall": "write", "rename": "rename",
    "bash_pipefail": "shell", "bash_norc": "shell", "one_string": "shell", "one_word": "shell",
    "shell_in_a_dict": "shell", "shell_as_executable": "shell", "truncate": "write", "remove": "remove", "remove_tree": "remove",
}


@pytest.fixture
def fake(tmp_path):
    root = tmp_path / "plugins"
    root.mkdir()
    (root / "fake.py").write_text(FAKE)
    spec = importlib.util.spec_from_file_location("dockyard_audit_fake", str(root / "fake.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    auditor = audit.Auditor(roots=[str(root)], writers={("fake.py", "allowed_writer"): "a test's allowed writer"},
                            renamers={})
    return mod, auditor, tmp_path


@pytest.mark.parametrize("name,kind", sorted(CAUGHT.items()))
def test_each_way_is_observed(fake, name, kind):
    mod, auditor, tmp = fake
    (tmp / "out").write_bytes(b"x")
    with audit.watching(auditor):
        getattr(mod, name)(str(tmp / "out"))
    assert [(k, where) for k, where, _detail in auditor.violations][:1] == [(kind, "fake.py:%s" % name)], \
        auditor.violations


@pytest.mark.parametrize("name", ["plain_command", "allowed_writer", "reader"])
def test_allowed_ways_are_not_charged(fake, name):
    mod, auditor, tmp = fake
    (tmp / "out").write_bytes(b"x")
    with audit.watching(auditor):
        getattr(mod, name)(str(tmp / "out"))
    assert auditor.violations == []
    if name != "reader":
        assert auditor.seen, "the hook saw nothing"


def test_code_outside_the_watched_tree_is_not_charged(fake):
    _mod, auditor, tmp = fake
    with audit.watching(auditor):
        with open(str(tmp / "mine"), "w") as f:
            f.write("x")
    assert auditor.violations == [] and auditor.seen == []


def test_the_collections_atomic_writer_is_observed_and_allowed(tmp_path, audited):
    """The suite-wide auditor sees the collection's own code through its installed path (a symlink) and allows
    its atomic writer."""
    target = str(tmp_path / "file")
    _fileops.atomic_write(target, b"data")
    kinds = sorted(set((kind, who) for kind, who, _p in audited.seen))
    assert ("write", ("_fileops.py", "atomic_write")) in kinds and ("rename", ("_fileops.py", "atomic_write")) \
        in kinds, kinds
    assert audited.violations == []


@pytest.mark.parametrize("argv,why", [
    (["bash", "-o", "pipefail", "-c", "x"], True), (["bash", "--norc", "-c", "x"], True),
    (["/bin/sh", "-ec", "x"], True), (["env", "LC_ALL=C", "sh", "-c", "x"], True),
    (["nice", "-n", "19", "bash", "-c", "x"], True), (["busybox", "sh", "-c", "x"], True),
    (["rsync -a a b"], True), (["sh", "script.sh", "-c"], False), (["rsync", "-c", "a", "b"], False),
    (["bash", "--version"], False), ([sys.executable, "-c", "pass"], False), (["ssh", "-c", "aes", "h"], False),
    (["bash", "-eo", "pipefail", "-c", "x"], True), (["timeout", "30s", "sh", "-c", "x"], True),
    (["timeout", "1.5", "bash", "-c", "x"], True), (["sudo", "-u", "root", "sh", "-c", "x"], True),
    (["env", "-u", "X", "sh", "-c", "x"], True), (["chroot", "/mnt", "sh", "-c", "x"], True),
    (["su", "-c", "x"], True), (["sh"], True), (["bash", "-s"], True), (["flock", "/run/l", "bash", "-c", "x"], True),
    (["timeout", "30", "rsync", "-a", "a", "b"], False),
    (["bash", "-co", "pipefail", "x"], True), (["bash", "-s", "arg"], True), (["bash", "--help"], False),
    (["bash", "-x", "script.sh"], False),
])
def test_shell_command(argv, why):
    assert bool(audit.shell_command(argv)) is why, audit.shell_command(argv)


def test_the_hook_is_installed_for_the_suite():
    assert audit._INSTALLED and os.path.isdir(audit.PLUGINS)
