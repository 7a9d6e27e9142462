# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _image_stream, _images


@pytest.mark.parametrize("argv,images,match", [
    ([], [{"id": "sha256:" + "a" * 64}], "src_command must be a non-empty list"),
    (["ssh", ""], [{"id": "sha256:" + "a" * 64}], "src_command must be a non-empty list"),
    (["ssh", "h", "docker", "save", "x"], [], "images must list what src_command brings"),
    (["ssh", "h", "docker", "save", "x"], [{"tags": ["x:1"]}], "images must list what src_command brings"),
])
def test_load_command_refuses_bad_input_before_touching_docker(argv, images, match):
    with pytest.raises(_images.ImageError, match=match):
        _image_stream.load_command(None, argv, images)


def test_a_pipe_is_sent_as_http_chunks_without_passing_through_python():
    import socket
    import subprocess
    import threading
    data = bytes(bytearray(range(256))) * 12000  # 3 MB, more than one chunk
    proc = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    feeder = threading.Thread(target=lambda: (proc.stdin.write(data), proc.stdin.close()))
    feeder.start()
    ours, docker = socket.socketpair()
    ours.settimeout(30)  # a timeout makes the socket non-blocking underneath, as an HTTP connection's is
    got = []
    reader = threading.Thread(target=lambda: got.append(b"".join(iter(lambda: docker.recv(1 << 16), b""))))
    reader.start()
    body = _image_stream._CountingReader(proc.stdout)
    assert body.send_chunked(ours)
    ours.close()
    reader.join(30)
    feeder.join(30)
    proc.wait(30)
    raw, out = got[0], b""
    while True:
        size, raw = raw.split(b"\r\n", 1)
        n = int(size, 16)
        if not n:
            break
        out, raw = out + raw[:n], raw[n + 2:]
    assert out == data and raw == b"\r\n"
    assert body.count == len(data) and body.eof
