# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess

from ansible_collections.dockyard.migrate.plugins.module_utils import _layout

from overlay_tree import add_layer  # pylint: disable=import-error


def make_root(base):
    root = base / "docker"
    for name in ("overlay2/l", "image/overlay2", "containers/abc", "volumes/v/_data", "aufs/diff", "mystery"):
        (root / name).mkdir(parents=True)
    (root / "overlay2" / "blob").write_bytes(os.urandom(100000))
    os.link(str(root / "overlay2" / "blob"), str(root / "overlay2" / "blob.hl"))
    with open(str(root / "volumes" / "v" / "_data" / "sparse"), "wb") as f:
        f.truncate(50 * 1024 * 1024)
        f.seek(10 * 1024 * 1024)
        f.write(b"x" * 4096)
    (root / "containers" / "abc" / "config.v2.json").write_text("{}")
    return root


def du_bytes(path):
    out = subprocess.run(["du", "-s", "-x", "--block-size=1", str(path)], check=True,
                         stdout=subprocess.PIPE, timeout=60).stdout.decode()
    return int(out.split()[0])


def test_scan_names_components_and_matches_du(tmp_path):
    root = make_root(tmp_path)
    comps, totals, legacy = _layout.scan(str(root))
    byname = dict((c["name"], c) for c in comps)
    assert set(byname) == {"overlay2", "image", "containers", "volumes", "aufs", "mystery"}
    assert byname["overlay2"]["kind"] == "storage-driver"
    assert byname["aufs"]["kind"] == "legacy"
    assert byname["mystery"]["known"] is False
    assert legacy == ["aufs"]
    # Hard links count once, holes do not count: the same answer as du -x.
    assert totals["bytes"] == du_bytes(root)
    assert byname["overlay2"]["bytes"] == du_bytes(root / "overlay2")
    assert byname["volumes"]["apparent_bytes"] > 50 * 1024 * 1024
    assert byname["volumes"]["bytes"] < 1024 * 1024
    assert byname["overlay2"]["files"] == 2


def test_scan_without_sizes(tmp_path):
    root = make_root(tmp_path)
    comps, totals, _legacy = _layout.scan(str(root), sizes=False)
    assert totals is None
    assert "bytes" not in comps[0]


def test_scan_missing_root(tmp_path):
    assert _layout.scan(str(tmp_path / "none")) == ([], None, [])


def test_settled_layers_lists_committed_overlay2_layers_only(tmp_path):
    root = tmp_path / "docker"
    a, b, c = "a" * 64, "b" * 64, "c" * 64
    add_layer(root, "1" * 64, a, {"f": "x"})
    add_layer(root, "2" * 64, b, {"g": "y"})
    # An entry still being written (no cache-id yet), a stray name, and a cache-id without its directory.
    (root / "image" / "overlay2" / "layerdb" / "sha256" / ("3" * 64)).mkdir()
    (root / "image" / "overlay2" / "layerdb" / "sha256" / "tmp").mkdir()
    (root / "image" / "overlay2" / "layerdb" / "sha256" / "tmp" / "cache-id").write_text(c)
    gone = root / "image" / "overlay2" / "layerdb" / "sha256" / ("4" * 64)
    gone.mkdir()
    (gone / "cache-id").write_text(c)
    # A container's read-write layer is not an image layer.
    (root / "image" / "overlay2" / "layerdb" / "mounts" / "cid").mkdir(parents=True)
    (root / "image" / "overlay2" / "layerdb" / "mounts" / "cid" / "mount-id").write_text("d" * 64)
    (root / "overlay2" / ("d" * 64) / "diff").mkdir(parents=True)
    assert _layout.settled_layers(str(root)) == ["overlay2/%s/diff" % a, "overlay2/%s/diff" % b]


def test_settled_layers_is_none_for_other_layouts(tmp_path):
    (tmp_path / "vfs" / "dir").mkdir(parents=True)
    assert _layout.settled_layers(str(tmp_path)) is None
    assert _layout.settled_layers(str(tmp_path / "missing")) is None
