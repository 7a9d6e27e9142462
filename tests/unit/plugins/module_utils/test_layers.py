# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import inspect
import re
import shlex
import zlib

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _image_stream, _layer_filter, _layer_store, _layers

A, B, C = ("sha256:" + x * 64 for x in "abc")


def chains(*diffs):
    return _layer_store.chain_ids(list(diffs))


def test_a_layer_is_dropped_only_when_every_use_of_it_is_here():
    images = [{"id": "i1", "layers": [A, B]}, {"id": "i2", "layers": [A, C]}]
    have = set(chains(A, B))  # the base and i1's top, not i2's top
    drop = _layers.plan_drop(images, have)
    assert drop == [{"diff": A, "chain": A, "blobs": [A]}, {"diff": B, "chain": chains(A, B)[1], "blobs": [B]}]


def test_the_same_diff_on_another_chain_is_kept_when_that_chain_is_missing():
    # B sits on A in one image and on C in the other: one member in the archive serves both.
    images = [{"id": "i1", "layers": [A, B]}, {"id": "i2", "layers": [C, B]}]
    have = set(chains(A, B)) | {C}
    assert [d["diff"] for d in _layers.plan_drop(images, have)] == [A, C]


def test_with_the_containerd_store_the_blob_must_be_in_the_content_store(tmp_path):
    (tmp_path / ("a" * 64)).write_text(u"")
    images = [{"id": "i1", "layers": [A, B]}]
    have = set(chains(A, B))
    assert [d["diff"] for d in _layers.plan_drop(images, have, str(tmp_path))] == [A]


def test_a_compressed_blob_of_the_source_is_named_and_must_be_in_the_content_store(tmp_path):
    gz_a, gz_b = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    images = [{"id": "i1", "layers": [A, B], "blobs": [gz_a, gz_b]}]
    have = set(chains(A, B))
    assert [d["blobs"] for d in _layers.plan_drop(images, have)] == [[gz_a], [gz_b]]
    # A containerd store here holds A's uncompressed blob, not the source's compressed one: A is sent.
    (tmp_path / ("a" * 64)).write_text(u"")
    (tmp_path / ("2" * 64)).write_text(u"")
    assert [d["diff"] for d in _layers.plan_drop(images, have, str(tmp_path))] == [B]
    # blobs that do not match the layers one to one are not trusted: the diff IDs are the members.
    assert [d["blobs"] for d in _layers.plan_drop([dict(images[0], blobs=[gz_a])], have)] == [[A], [B]]


@pytest.mark.parametrize("version,ok", [("20.10.24+dfsg1", True), ("26.1.5+dfsg1", True), ("28.5.2", True),
                                        ("24.0.7", False), ("27.5.1", False), ("29.0.0", False), ("", False)])
def test_engines_not_verified_get_whole_images(version, ok):
    verdict, why = _layers.engine_verdict({"Version": version})
    assert verdict is ok
    assert (why is None) is ok
    if not ok:
        assert "whole images are sent" in why


def test_containerd_root_is_read_from_its_config(tmp_path):
    conf = tmp_path / "config.toml"
    conf.write_text(u'version = 2\nroot = "/mnt/data/containerd"\n[grpc]\n  root = "/elsewhere"\n')
    assert _layers.containerd_blobs(str(conf)) == "/mnt/data/containerd/io.containerd.content.v1.content/blobs/sha256"
    assert _layers.containerd_blobs(str(tmp_path / "none")).startswith("/var/lib/containerd/")


def test_the_filter_program_is_one_shell_word_that_carries_the_store_reader_and_the_filter():
    program = _image_stream.filter_program()
    assert re.match(r"^'[A-Za-z0-9+/=,;()\"._ \[\]{}:]+'$", program), program[:80]
    code = shlex.split(program)[0]
    packed = re.findall(r'"([A-Za-z0-9+/=]{200,})"', code)
    assert [zlib.decompress(base64.b64decode(p)).decode("utf-8") for p in packed] == [
        inspect.getsource(_layer_store), inspect.getsource(_layer_filter)]
