# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _docker_api as api

from unix_engine import JsonHandler, serving  # pylint: disable=import-error


@pytest.mark.parametrize("value,expected", [
    (None, "/var/run/docker.sock"),
    ("unix:///run/user/1000/docker.sock", "/run/user/1000/docker.sock"),
    ("/tmp/d.sock", "/tmp/d.sock"),
])
def test_parse_docker_host(value, expected):
    assert api.parse_docker_host(value, environ={}) == expected


def test_parse_docker_host_from_environment():
    assert api.parse_docker_host(None, environ={"DOCKER_HOST": "unix:///x/y.sock"}) == "/x/y.sock"


@pytest.mark.parametrize("value", ["tcp://127.0.0.1:2375", "ssh://host", "unix://relative.sock"])
def test_parse_docker_host_rejects(value):
    with pytest.raises(api.DockerError) as exc:
        api.parse_docker_host(value, environ={})
    assert value in str(exc.value)


class FakeEngine(JsonHandler):
    """A tiny engine on a real unix socket: enough to test the client's wire behaviour."""
    api_version = "1.41"
    uploads = []

    def _send(self, status, body, ctype="application/json"):
        self.reply(body, ctype, status)

    def do_GET(self):
        if self.path == "/version":
            return self._send(200, {"ApiVersion": self.api_version, "Version": "x"})
        if self.path == "/_ping":
            return self._send(200, b"OK", "text/plain")
        if self.path.startswith("/v%s/info" % self.api_version) or self.path.startswith("/v1.45/info"):
            return self._send(200, {"path": self.path})
        if self.path.endswith("/images/nope/json"):
            return self._send(404, {"message": "No such image: nope"})
        if self.path.endswith("/stream"):
            return self._send(200, b'{"a":1}\n{"b":2}\n{"c":3}', "application/json")
        return self._send(404, {"message": "unknown %s" % self.path})

    def do_POST(self):
        if self.headers.get("Transfer-Encoding") == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        FakeEngine.uploads.append(body)
        return self._send(200, {"received": len(body), "path": self.path})


@pytest.fixture
def engine(tmp_path):
    with serving(str(tmp_path / "docker.sock"), FakeEngine) as path:
        yield path


def test_version_negotiation_uses_the_daemons_version(engine):
    FakeEngine.api_version = "1.41"
    client = api.DockerClient(docker_host="unix://" + engine)
    assert client.api_version == "1.41"
    assert client.info()["path"] == "/v1.41/info"


def test_version_negotiation_caps_at_the_clients_newest(engine):
    FakeEngine.api_version = "1.99"
    try:
        client = api.DockerClient(docker_host=engine)
        assert client.api_version == api.MAX_API_VERSION
    finally:
        FakeEngine.api_version = "1.41"


def test_too_old_daemon_is_refused(engine):
    FakeEngine.api_version = "1.24"
    try:
        with pytest.raises(api.DockerError, match="too old"):
            api.DockerClient(docker_host=engine).api_version
    finally:
        FakeEngine.api_version = "1.41"


def test_error_status_carries_the_engines_message(engine):
    client = api.DockerClient(docker_host=engine)
    with pytest.raises(api.DockerAPIError) as exc:
        client.get("/images/nope/json")
    assert exc.value.status == 404
    assert "No such image: nope" in str(exc.value)


def test_chunked_upload_streams_a_file(engine, tmp_path):
    blob = os.urandom(3 * api.CHUNK + 17)
    src = tmp_path / "blob"
    src.write_bytes(blob)
    FakeEngine.uploads = []
    client = api.DockerClient(docker_host=engine)
    with open(str(src), "rb") as f:
        res = client.post("/images/load", params={"quiet": True}, body=f)
    assert res["received"] == len(blob)
    assert FakeEngine.uploads[-1] == blob
    assert "quiet=1" in res["path"]


def test_json_lines_stream(engine):
    client = api.DockerClient(docker_host=engine)
    with client.stream("GET", "/stream") as resp:
        assert list(resp.iter_json_lines()) == [{"a": 1}, {"b": 2}, {"c": 3}]


def test_absent_socket_is_unavailable(tmp_path):
    client = api.DockerClient(docker_host=str(tmp_path / "none.sock"), api_version="1.41")
    assert client.ping() is False
    with pytest.raises(api.DockerUnavailable, match="not running or not reachable"):
        client.info()


def test_url_parameters():
    client = api.DockerClient(docker_host="/x.sock", api_version="1.41")
    assert client.url("/images/get", {"names": ("a:1", "b")}) == "/v1.41/images/get?names=a%3A1&names=b"
    assert client.url("/containers/json", {"all": True, "filters": {"status": ["running"]}}) == \
        "/v1.41/containers/json?all=1&filters=%7B%22status%22%3A+%5B%22running%22%5D%7D"
