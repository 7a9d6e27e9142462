# -*- coding: utf-8 -*-
"""Builds small overlay2 data roots for the unit tests."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type


def add_layer(root, chain, cache_id, files):
    """A committed image layer: its layerdb entry (with cache-id) and its diff tree holding FILES."""
    db = root / "image" / "overlay2" / "layerdb" / "sha256" / chain
    db.mkdir(parents=True)
    (db / "cache-id").write_text(cache_id)
    diff = root / "overlay2" / cache_id / "diff"
    diff.mkdir(parents=True)
    for name, text in files.items():
        (diff / name).write_text(text)
