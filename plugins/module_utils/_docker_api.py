# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A small Docker Engine API client over the unix socket, standard library only.

Internal to the dockyard.migrate collection; not a public API.

- The socket comes from ``docker_host`` or ``DOCKER_HOST`` (``unix://PATH``),
  default ``/var/run/docker.sock``.
- The API version is negotiated: the lower of the daemon's version and the
  newest this client knows, never below the oldest it supports.
- Bodies stream in both directions: ``stream()`` returns the open response to
  be read in chunks, ``request(body=iterable)`` sends chunked; a body with a
  ``send_chunked(sock)`` method sends itself (a pipe spliced to the socket).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import socket

try:
    from http.client import HTTPConnection, HTTPException
    from urllib.parse import quote, urlencode
except ImportError:  # pragma: no cover - Python 2 is not supported on managed hosts
    HTTPConnection = object
    HTTPException = Exception
    quote = urlencode = None

DEFAULT_SOCKET = "/var/run/docker.sock"
MIN_API_VERSION = "1.40"
MAX_API_VERSION = "1.45"
CHUNK = 1024 * 1024


class DockerError(Exception):
    """Any failure talking to the Docker engine."""


class DockerUnavailable(DockerError):
    """The engine does not answer on its socket."""


class DockerAPIError(DockerError):
    """The engine answered with an error status."""

    def __init__(self, status, message, method=None, path=None):
        self.status = status
        self.message = message
        self.method = method
        self.path = path
        super(DockerAPIError, self).__init__(
            "Docker API %s %s failed with HTTP %s: %s" % (method, path, status, message))


def version_tuple(version):
    return tuple(int(p) for p in str(version).split("."))


def parse_docker_host(docker_host=None, environ=None):
    """Return the unix socket path named by docker_host or DOCKER_HOST."""
    environ = os.environ if environ is None else environ
    value = docker_host or environ.get("DOCKER_HOST") or ""
    if not value:
        return DEFAULT_SOCKET
    if value.startswith("unix://"):
        path = value[len("unix://"):]
        if not path.startswith("/"):
            raise DockerError("docker_host %r: the socket path must be absolute" % value)
        return path
    if value.startswith("/"):
        return value
    raise DockerError(
        "docker_host %r is not supported: only unix sockets (unix:///path/to/docker.sock) are; "
        "run the module on the Docker host itself" % value)


class UnixHTTPConnection(HTTPConnection):
    """An HTTPConnection over a unix domain socket."""

    def __init__(self, socket_path, timeout=60):
        HTTPConnection.__init__(self, "localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except Exception:
            sock.close()
            raise
        self.sock = sock


class DockerClient:
    """Engine API client.  Each request opens its own connection."""

    def __init__(self, docker_host=None, timeout=60, api_version=None, environ=None):
        self.socket_path = parse_docker_host(docker_host, environ)
        self.timeout = timeout
        self._requested_version = api_version
        self._api_version = None

    # -- connection ----------------------------------------------------
    def _connect(self, timeout=None):
        return UnixHTTPConnection(self.socket_path, timeout=self.timeout if timeout is None else timeout)

    def _send(self, method, url, body=None, headers=None, timeout=None):
        conn = self._connect(timeout)
        headers = dict(headers or {})
        try:
            if body is not None and not isinstance(body, (bytes, str)):
                # An iterable of chunks or a file object: send chunked.
                conn.putrequest(method, url)
                headers.setdefault("Transfer-Encoding", "chunked")
                for k, v in headers.items():
                    conn.putheader(k, v)
                conn.endheaders()
                spliced = getattr(body, "send_chunked", None)
                if spliced is None or not spliced(conn.sock):
                    reader = getattr(body, "read", None)
                    chunks = iter(lambda: reader(CHUNK), b"") if reader else body
                    for chunk in chunks:
                        if chunk:
                            conn.send(("%x\r\n" % len(chunk)).encode("ascii") + chunk + b"\r\n")
                    conn.send(b"0\r\n\r\n")
            else:
                conn.request(method, url, body=body, headers=headers)
            return conn, conn.getresponse()
        except (socket.error, OSError, HTTPException) as exc:
            conn.close()
            if isinstance(exc, (FileNotFoundError, ConnectionRefusedError)):
                raise DockerUnavailable(
                    "Docker is not running or not reachable at %s: %s" % (self.socket_path, exc))
            raise DockerError("Docker API %s %s: %s" % (method, url, exc))

    # -- version -------------------------------------------------------
    @property
    def api_version(self):
        if self._api_version is None:
            if self._requested_version:
                self._api_version = str(self._requested_version)
            else:
                info = self._raw_json("GET", "/version")
                server = info.get("ApiVersion", MIN_API_VERSION)
                chosen = min(version_tuple(server), version_tuple(MAX_API_VERSION))
                if chosen < version_tuple(MIN_API_VERSION):
                    raise DockerError(
                        "Docker API version %s is too old: dockyard.migrate needs %s or newer"
                        % (server, MIN_API_VERSION))
                self._api_version = ".".join(str(p) for p in chosen)
        return self._api_version

    def url(self, path, params=None, versioned=True):
        url = ("/v%s%s" % (self.api_version, path)) if versioned else path
        if params:
            clean = dict((k, v) for k, v in params.items() if v is not None)
            for k, v in list(clean.items()):
                if isinstance(v, bool):
                    clean[k] = "1" if v else "0"
                elif isinstance(v, dict):
                    clean[k] = json.dumps(v)
                elif isinstance(v, tuple):
                    clean[k] = list(v)  # a repeated parameter: names=a&names=b
                elif isinstance(v, list):
                    clean[k] = json.dumps(v)
            url += "?" + urlencode(clean, doseq=True)
        return url

    @staticmethod
    def _error(resp, method, path):
        raw = resp.read()
        try:
            message = json.loads(raw.decode("utf-8")).get("message", "")
        except (ValueError, AttributeError, UnicodeDecodeError):
            message = raw.decode("utf-8", "replace").strip()
        return DockerAPIError(resp.status, message, method, path)

    def _raw_json(self, method, path):
        conn, resp = self._send(method, path)
        try:
            if resp.status >= 400:
                raise self._error(resp, method, path)
            return json.loads(resp.read().decode("utf-8") or "null")
        finally:
            conn.close()

    # -- requests ------------------------------------------------------
    def request(self, method, path, params=None, body=None, headers=None, timeout=None,
                expect_json=True):
        """Send a request and return the decoded JSON body (or raw bytes)."""
        headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode("utf-8")
            headers.setdefault("Content-Type", "application/json")
        url = self.url(path, params)
        conn, resp = self._send(method, url, body=body, headers=headers, timeout=timeout)
        try:
            if resp.status >= 400:
                raise self._error(resp, method, path)
            data = resp.read()
            if not expect_json:
                return data
            if not data:
                return None
            return json.loads(data.decode("utf-8"))
        finally:
            conn.close()

    def get(self, path, params=None, **kwargs):
        return self.request("GET", path, params=params, **kwargs)

    def post(self, path, params=None, body=None, **kwargs):
        return self.request("POST", path, params=params, body=body, **kwargs)

    def delete(self, path, params=None, **kwargs):
        return self.request("DELETE", path, params=params, **kwargs)

    def stream(self, method, path, params=None, body=None, headers=None, timeout=None):
        """Return a StreamedResponse; the caller reads it in chunks and closes it."""
        url = self.url(path, params)
        conn, resp = self._send(method, url, body=body, headers=headers, timeout=timeout)
        if resp.status >= 400:
            try:
                raise self._error(resp, method, path)
            finally:
                conn.close()
        return StreamedResponse(conn, resp)

    # -- helpers -------------------------------------------------------
    def ping(self):
        """True when the engine answers, False when its socket is absent or dead."""
        try:
            conn, resp = self._send("GET", "/_ping", timeout=min(self.timeout, 10))
        except DockerUnavailable:
            return False
        except DockerError:
            return False
        try:
            resp.read()
            return resp.status == 200
        finally:
            conn.close()

    def info(self):
        return self.get("/info")

    def version(self):
        return self.get("/version")


class StreamedResponse:
    """An open response body, read in chunks so nothing large sits in memory."""

    def __init__(self, conn, resp):
        self._conn = conn
        self.response = resp
        self.status = resp.status
        self.headers = resp.headers

    def iter_chunks(self, size=CHUNK):
        while True:
            chunk = self.response.read(size)
            if not chunk:
                break
            yield chunk

    def iter_json_lines(self):
        """Decode a stream of JSON messages (one per line, as /images/load sends)."""
        buf = b""
        for chunk in self.iter_chunks(65536):
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                line = line.strip()
                if line:
                    yield json.loads(line.decode("utf-8"))
        if buf.strip():
            yield json.loads(buf.decode("utf-8"))

    def read(self, size=-1):
        return self.response.read(size)

    def close(self):
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def quote_ref(ref):
    """Quote an image or container reference for a URL path."""
    return quote(ref, safe="")
