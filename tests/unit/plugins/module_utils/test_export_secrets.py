# -*- coding: utf-8 -*-
"""container_export and image_save keep Config.Env out of readable files and out of results: the archive and
its sidecar get ``mode`` (0600 by default), the result and the diff show Env names with redacted values.

The exports run through the collection's real Engine API client against a small engine on a unix socket that
answers the four calls an export makes (version, inspect, changes, export)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import json
import os
import stat
import tarfile

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _archive, _fileops, _image_archive, _images
from ansible_collections.dockyard.migrate.plugins.module_utils import _snapshot
from ansible_collections.dockyard.migrate.plugins.module_utils._docker_api import DockerClient

from unix_engine import JsonHandler, serving  # pylint: disable=import-error

CID = "c0ffee" * 10 + "abcd"
SECRET = "s3cr3t-Pa55"
CONFIG = {"Cmd": ["run"], "Env": ["PATH=/usr/bin", "DB_PASSWORD=" + SECRET, "EMPTY=", "NAME_ONLY"],
          "WorkingDir": "/srv", "User": "", "Image": "app:1"}


def _tar():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"hello\n"
        info = tarfile.TarInfo("etc/hello")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Engine(JsonHandler):
    exports = []
    _send = JsonHandler.reply

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/version":
            return self._send({"ApiVersion": "1.41", "Version": "x"})
        if path.endswith("/containers/app/json") or path.endswith("/containers/%s/json" % CID):
            return self._send({"Id": CID, "Name": "/app", "Image": "sha256:" + "1" * 64, "Config": CONFIG,
                               "State": {"Running": False, "StartedAt": "s", "FinishedAt": "f"}, "Mounts": []})
        if path.endswith("/containers/%s/changes" % CID):
            return self._send([])
        if path.endswith("/containers/%s/export" % CID):
            Engine.exports.append(path)
            return self._send(_tar(), "application/x-tar")
        return self._send({"message": "no such thing: %s" % path}, status=404)


@pytest.fixture
def client(tmp_path):
    with serving(str(tmp_path / "docker.sock"), Engine) as path:
        Engine.exports = []
        yield DockerClient(docker_host="unix://" + path)


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


# ---------------------------------------------------------------- redaction

def test_env_values_are_redacted_and_names_kept():
    assert _snapshot.redact_env(["KEY=VALUE", "A=b=c", "EMPTY=", "NAME_ONLY"]) == [
        "KEY=********", "A=********", "EMPTY=********", "NAME_ONLY"]
    config = {"Env": ["KEY=VALUE"], "Cmd": ["x"]}
    assert _snapshot.redacted_config(config) == {"Env": ["KEY=********"], "Cmd": ["x"]}
    assert config["Env"] == ["KEY=VALUE"], "the configuration itself is left as it was"
    assert _snapshot.redacted_config({"Env": None}) == {"Env": None}


@pytest.mark.parametrize("change,shown", [
    ('ENV DB_PASSWORD="s3cr3t"', "ENV DB_PASSWORD=********"),
    ('ENV A="x \\" y" B=2 C=\'q r\'', "ENV A=******** B=******** C=********"),
    ("ENV TOKEN some secret words", "ENV TOKEN ********"),
    ("env k=v", "env k=********"),
    ('CMD ["sh", "-c", "A=1 run"]', 'CMD ["sh", "-c", "A=1 run"]'),
    ("LABEL a=b", "LABEL a=b"),
])
def test_env_instructions_are_redacted(change, shown):
    assert _snapshot.redact_changes([change]) == [shown]


# ---------------------------------------------------------------- the mode option

@pytest.mark.parametrize("value,mode", [
    (None, 0o600), ("0600", 0o600), ("640", 0o640), ("0o644", 0o644), (" 0400 ", 0o400), (0o640, 0o640),
    (384, 0o600),
])
def test_good_modes(value, mode):
    assert _archive.parse_mode(value) == mode


@pytest.mark.parametrize("value,match", [
    ("u=rw", "is not an octal mode such as '0600'"),
    ("0608", "is not an octal mode"),
    ("", "is not an octal mode"),
    ("06000", "is not an octal mode"),
    (True, "is not an octal mode"),
    (600, "an unquoted 600 in YAML is the number 600"),
    ("4600", "is not a permission mode from 0000 to 0777"),
    ("0200", "does not let the owner read"),
])
def test_bad_modes_are_named(value, match):
    with pytest.raises(_archive.ArchiveError, match=match):
        _archive.parse_mode(value)


def test_atomic_write_keeps_an_existing_mode_unless_told_not_to(tmp_path):
    path = str(tmp_path / "f")
    _fileops.atomic_write(path, "a", mode=0o644)
    _fileops.atomic_write(path, "b", mode=0o600)
    assert mode_of(path) == 0o644
    _fileops.atomic_write(path, "c", mode=0o600, keep_mode=False)
    assert mode_of(path) == 0o600
    assert open(path).read() == "c"


# ---------------------------------------------------------------- container_export

def test_export_writes_private_files_and_a_redacted_result(client, tmp_path):
    dest = str(tmp_path / "app.tar")
    res = _snapshot.export_container(client, "app", dest=dest, diff=True)
    assert res["changed"] and res["mode"] == "0600"
    assert mode_of(dest) == 0o600 and mode_of(dest + ".json") == 0o600
    assert res["config"]["Env"] == ["PATH=********", "DB_PASSWORD=********", "EMPTY=********", "NAME_ONLY"]
    assert SECRET not in json.dumps(res)
    assert res["diff"]["before"] == {"dest": dest, "exists": False}
    assert res["diff"]["after"]["config"]["Env"][1] == "DB_PASSWORD=********"
    # The sidecar keeps the values: image_import restores them.
    with open(dest + ".json") as f:
        assert json.load(f)["config"]["Env"] == CONFIG["Env"]
    assert len(Engine.exports) == 1


def test_an_export_that_stands_gets_the_mode_without_a_new_export(client, tmp_path):
    dest = str(tmp_path / "app.tar")
    _snapshot.export_container(client, "app", dest=dest)
    # Check mode reports the mode change and leaves the files alone.
    res = _snapshot.export_container(client, "app", dest=dest, mode="0640", check_mode=True, diff=True)
    assert res["changed"] and mode_of(dest) == 0o600
    assert res["diff"]["before"]["mode"] == "0600" and res["diff"]["after"]["mode"] == "0640"
    assert SECRET not in json.dumps(res)
    res = _snapshot.export_container(client, "app", dest=dest, mode="0640")
    assert res["changed"] and res["mode"] == "0640"
    assert mode_of(dest) == 0o640 and mode_of(dest + ".json") == 0o640
    res = _snapshot.export_container(client, "app", dest=dest, mode="0640")
    assert not res["changed"]
    assert len(Engine.exports) == 1, "only the first run exported"


def test_a_fresh_export_is_written_with_the_mode_asked(client, tmp_path):
    dest = str(tmp_path / "app.tar")
    res = _snapshot.export_container(client, "app", dest=dest, mode="0640")
    assert res["changed"] and mode_of(dest) == 0o640 and mode_of(dest + ".json") == 0o640


def test_a_new_export_over_a_readable_one_is_private(client, tmp_path):
    """Files an earlier version left world-readable do not keep their mode when written again."""
    dest = str(tmp_path / "app.tar")
    _snapshot.export_container(client, "app", dest=dest)
    os.chmod(dest, 0o644)
    os.chmod(dest + ".json", 0o644)
    res = _snapshot.export_container(client, "app", dest=dest, force=True)
    assert res["changed"] and len(Engine.exports) == 2
    assert mode_of(dest) == 0o600 and mode_of(dest + ".json") == 0o600


def test_a_bad_mode_is_an_error_that_writes_nothing(client, tmp_path):
    dest = str(tmp_path / "app.tar")
    with pytest.raises(_images.ImageError, match=r"mode 'a\+r' is not an octal mode"):
        _snapshot.export_container(client, "app", dest=dest, mode="a+r")
    assert sorted(os.listdir(str(tmp_path))) == ["docker.sock"]
    assert Engine.exports == []


# ---------------------------------------------------------------- image_save's archives

def test_a_saved_archive_that_stands_only_gets_the_mode(tmp_path):
    dest = str(tmp_path / "set.tar")
    with open(dest, "wb") as f:
        f.write(_tar())
    _archive.write_sidecar(dest, [], "none")
    assert mode_of(dest + ".json") == 0o600
    os.chmod(dest, 0o644)
    result = _image_archive.keep_archive({}, dest, 0o600, check_mode=True)
    assert result["changed"] and mode_of(dest) == 0o644
    result = _image_archive.keep_archive({}, dest, 0o600, check_mode=False)
    assert result["changed"] and mode_of(dest) == 0o600
    assert not _image_archive.keep_archive({}, dest, 0o600, check_mode=False)["changed"]


def test_save_refuses_a_bad_mode_before_anything():
    with pytest.raises(_images.ImageError, match="is not an octal mode"):
        _image_archive.save(None, ["app:1"], dest="/nonexistent/x.tar", mode="rw-------")
