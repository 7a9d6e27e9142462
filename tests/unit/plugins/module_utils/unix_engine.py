# -*- coding: utf-8 -*-
"""A fake Docker Engine on a unix socket for the unit tests: serves a request handler class."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import json
import socketserver
import threading
from http.server import BaseHTTPRequestHandler


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@contextlib.contextmanager
def serving(path, handler):
    """Serve HANDLER on the unix socket PATH while the block runs; yields PATH."""
    server = UnixServer(path, handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield path
    finally:
        server.shutdown()
        server.server_close()


class JsonHandler(BaseHTTPRequestHandler):
    """A quiet handler that answers with a JSON document (or raw bytes)."""

    def log_message(self, *args):
        pass

    def reply(self, body, ctype="application/json", status=200):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
