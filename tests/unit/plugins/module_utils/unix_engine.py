# -*- coding: utf-8 -*-
"""A fake Docker Engine on a unix socket for the unit tests: serves a request handler class."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import socketserver
import threading


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
