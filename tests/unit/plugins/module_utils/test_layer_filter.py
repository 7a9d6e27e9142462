# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import io
import json
import os
import tarfile
import tempfile
import threading

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _layer_filter


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_tar(members, fmt=tarfile.USTAR_FORMAT):
    """members: [(name, bytes)] or (name, None, target) for a symlink."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for m in members:
            info = tarfile.TarInfo(m[0])
            if len(m) == 3:
                info.type, info.linkname = tarfile.SYMTYPE, m[2]
                tar.addfile(info)
            else:
                info.size = len(m[1])
                tar.addfile(info, io.BytesIO(m[1]))
    return buf.getvalue()


def run_filter(data, drop):
    """Feed data through a pipe (as docker save's stdout is) and return the output and the stats."""
    rfd, wfd = os.pipe()

    def feed():
        with os.fdopen(wfd, "wb") as w:
            w.write(data)
    t = threading.Thread(target=feed)
    t.start()
    with tempfile.TemporaryFile() as out:
        try:
            stats = _layer_filter.Filter(rfd, out.fileno(), drop).run()
        finally:
            t.join()
            os.close(rfd)
        out.seek(0)
        return out.read(), stats


def names(data):
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        return [m.name for m in tar.getmembers()]


def oci_archive(layers):
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": [sha(x) for x in layers]}}).encode()
    members = [("blobs/sha256/" + sha(x)[7:], x) for x in layers]
    members += [("blobs/sha256/" + sha(config)[7:], config), ("index.json", b"{}"),
                ("manifest.json", json.dumps([{"Config": "blobs/sha256/" + sha(config)[7:],
                                               "Layers": ["blobs/sha256/" + sha(x)[7:] for x in layers]}]).encode())]
    return make_tar(members)


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.PAX_FORMAT, tarfile.GNU_FORMAT])
def test_oci_layers_the_destination_has_are_dropped_and_the_rest_is_byte_for_byte(fmt):
    base, top = b"B" * 5000, b"T" * 700
    data = oci_archive([base, top])
    drop = [{"diff": sha(base), "chain": sha(base)}]
    out, stats = run_filter(data, drop)
    assert "blobs/sha256/" + sha(base)[7:] not in names(out)
    assert names(out) == [n for n in names(data) if n != "blobs/sha256/" + sha(base)[7:]]
    with tarfile.open(fileobj=io.BytesIO(out)) as tar:
        assert tar.extractfile("blobs/sha256/" + sha(top)[7:]).read() == top
    assert stats["dropped_layers"] == 1 and stats["layout"] == "oci"
    assert stats["dropped_bytes"] == 512 + 5120
    assert stats["sent_bytes"] == len(out)
    assert len(out) == len(data) - stats["dropped_bytes"]


def test_a_compressed_blob_named_in_the_plan_is_dropped():
    base, top = b"G" * 3000, b"T" * 700  # base stands for a gzip blob: its digest is not the diff ID
    data = oci_archive([base, top])
    drop = [{"diff": "sha256:" + "d" * 64, "chain": "sha256:" + "d" * 64, "blobs": [sha(base)]}]
    out, stats = run_filter(data, drop)
    assert names(out) == [n for n in names(data) if n != "blobs/sha256/" + sha(base)[7:]]
    assert stats["dropped_layers"] == 1 and stats["planned"] == 1


def test_nothing_to_drop_passes_the_stream_unchanged():
    data = oci_archive([b"x" * 3000, b"y" * 10])
    out, stats = run_filter(data, [])
    assert out == data
    assert stats["dropped_layers"] == 0


def test_long_names_in_pax_and_gnu_headers_are_read():
    long = "blobs/sha256/" + "c" * 64 + "/" + "d" * 80
    for fmt in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
        data = make_tar([(long, b"1" * 600), ("manifest.json", b"[]")], fmt)
        out, _stats = run_filter(data, [{"diff": "sha256:" + "c" * 64, "chain": "x"}])
        assert names(out) == [long, "manifest.json"]  # four parts: not a blob, kept


def test_a_symlink_to_a_layer_is_kept():
    data = make_tar([("blobs/sha256/" + "e" * 64, None, "../other")])
    out, stats = run_filter(data, [{"diff": "sha256:" + "e" * 64, "chain": "x"}])
    assert names(out) == ["blobs/sha256/" + "e" * 64] and stats["dropped_layers"] == 0


def test_a_cut_stream_is_an_error():
    data = oci_archive([b"z" * 4000])
    with pytest.raises(EOFError):
        run_filter(data[:1536 + 100], [])


def test_raw_pairs_keep_values_byte_for_byte():
    text = '{"id":"x","config":{"b":1,"a":"\\u003c"},"n":1.50,"s":null}'
    assert _layer_filter.raw_pairs(text) == [("id", '"x"'), ("config", '{"b":1,"a":"\\u003c"}'), ("n", "1.50"),
                                             ("s", "null")]


# A layer's json member and chain ID from `docker save` on Docker 20.10.24 (its directory is its v1 ID).
V1_DIR = "b3fcb9218526129e44be7330950c1edaef8c70cb03b5a86acbc0c34135e46513"
V1_CHAIN = "sha256:2797f1e467e3a5351694794d1a39743b52d1d81112ade3de1a07377745cd1661"
V1_JSON = ('{"id":"b3fcb9218526129e44be7330950c1edaef8c70cb03b5a86acbc0c34135e46513","parent":"7771fed23bdc798867000'
           'bfb1c41368e03082b0ed3901f67b5da143a51697b95","created":"1970-01-01T00:00:00Z","container_config":{"Hostname'
           '":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"'
           'OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":null,"Image":"","Volumes":null,"WorkingDir":"","Entryp'
           'oint":null,"OnBuild":null,"Labels":null},"os":"linux"}')


def test_a_legacy_layer_is_known_by_its_v1_id():
    assert V1_DIR in _layer_filter.legacy_v1_ids(V1_JSON, V1_CHAIN)
    assert V1_DIR not in _layer_filter.legacy_v1_ids(V1_JSON, "sha256:" + "0" * 64)


def test_legacy_layers_are_dropped_by_chain_and_others_kept():
    data = make_tar([(V1_DIR + "/VERSION", b"1.0"), (V1_DIR + "/json", V1_JSON.encode()),
                     (V1_DIR + "/layer.tar", b"L" * 3000), ("c" * 64 + "/json", b'{"id":"x"}'),
                     ("c" * 64 + "/layer.tar", b"K" * 100), ("manifest.json", b"[]")])
    out, stats = run_filter(data, [{"diff": "sha256:" + "9" * 64, "chain": V1_CHAIN}])
    assert names(out) == [n for n in names(data) if n != V1_DIR + "/layer.tar"]
    assert stats["layout"] == "legacy" and stats["dropped_layers"] == 1
