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


@pytest.mark.parametrize("option,plan_source", [("auto", "auto"), ("docker_save", "save")])
def test_the_source_is_told_how_to_write_its_archive(monkeypatch, option, plan_source):
    """source_archive reaches the program on the source as the plan's "source"."""
    import json
    seen = {}
    images = [{"id": "sha256:" + "a" * 64, "tags": ["app:1"], "layers": ["sha256:" + "b" * 64]}]

    def to_load(_client, result, imgs, _check):
        result["loaded"] = imgs
        return True

    def run(_client, argv, stdin, _err):
        seen["argv"], seen["plan"] = argv, json.loads(stdin.decode("utf-8"))
        return [], 0
    monkeypatch.setattr(_image_stream, "to_load", to_load)
    monkeypatch.setattr(_image_stream, "_layer_plan", lambda _c, _m: {"mode": "missing", "reason": None, "drop": []})
    monkeypatch.setattr(_image_stream, "_run_into_load", run)
    monkeypatch.setattr(_image_stream, "check_loaded", lambda *_a: None)
    _image_stream.load_from_source(None, ["ssh", "src"], images, source=option)
    assert seen["plan"] == {"names": ["app:1"], "drop": [], "source": plan_source}
    assert seen["argv"][:3] == ["ssh", "src", "python3"]


def test_a_bad_source_archive_is_refused_before_touching_docker(monkeypatch):
    monkeypatch.setattr(_image_stream, "to_load", lambda *_a: pytest.fail("Docker was asked"))
    with pytest.raises(_images.ImageError, match="source_archive must be auto or docker_save, got 'tar'"):
        _image_stream.load_from_source(None, ["ssh", "src"], [{"id": "sha256:" + "a" * 64}], source="tar")
