# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which layers of the images to bring this host already has, and whether its engine may be sent an archive
without them.  Internal to the dockyard.migrate collection.

``docker load`` reads a layer's tar only when the engine lacks the layer (checked by chain ID).  The collection's
tests verify it on Docker 20.10, 26.1 and 28.5 (the classic and the containerd image store); other versions get whole
images until they are verified here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.dockyard.migrate.plugins.module_utils._layer_store import chain_ids

# Engine versions on which an archive without the layers the engine has was loaded and checked.
VERIFIED = ("20.10", "26.1", "28.5")
CONTAINERD_CONFIG = "/etc/containerd/config.toml"
CONTAINERD_ROOT = "/var/lib/containerd"


def engine_verdict(version):
    """(True, None) when this engine may be sent only the layers it lacks, else (False, why)."""
    release = ".".join(str(version.get("Version") or "").split(".")[:2])
    if release not in VERIFIED:
        return False, ("Docker %s on this host: loading an archive without the layers the engine has is verified "
                       "on %s only, so whole images are sent" % (version.get("Version"), ", ".join(VERIFIED)))
    return True, None


def containerd_blobs(config=CONTAINERD_CONFIG):
    """The containerd content store's blob directory (its root from config.toml, or the default)."""
    root = CONTAINERD_ROOT
    try:
        with open(config) as f:
            for line in f:
                m = re.match(r'^\s*root\s*=\s*"([^"]+)"', line)
                if m:
                    root = m.group(1)
                    break
                if line.strip().startswith("["):
                    break  # root is a top-level key: past the first table it is not there
    except (IOError, OSError):
        pass
    return os.path.join(root, "io.containerd.content.v1.content", "blobs", "sha256")


def local_chains(client):
    """The chain ID of every layer of every image on this host."""
    have = set()
    for img in client.get("/images/json", params={"all": True}) or []:
        try:
            layers = (client.get("/images/%s/json" % img["Id"]).get("RootFS") or {}).get("Layers") or []
        except Exception:  # nosec B112
            continue  # an image removed while we look holds nothing for us
        have.update(chain_ids(layers))
    return have


def plan_drop(images, have, blob_dir=None):
    """The layers of IMAGES (each with its diff IDs in ``layers``) this host has, as [{diff, chain, blobs}].

    A diff ID is dropped only when every use of it in the images is present here (one member in the archive
    serves them all).  ``blobs`` are the digests of the members the source's archive holds the layer in: its diff
    ID, or, where the source's containerd store keeps it compressed (the image's ``blobs``), that blob's digest.
    With the containerd store here (blob_dir given) each of those blobs must be in the content store too: the store
    loads an image's blobs by their digests, not only its unpacked snapshots.
    """
    uses, members = {}, {}
    for img in images:
        layers = img.get("layers") or []
        blobs = img.get("blobs") or []
        if len(blobs) != len(layers):
            blobs = layers
        for diff, chain, blob in zip(layers, chain_ids(layers), blobs):
            uses.setdefault(diff, set()).add(chain)
            members.setdefault(diff, set()).add(blob or diff)
    drop = []
    for diff in sorted(uses):
        if not uses[diff] <= have:
            continue
        if blob_dir is not None and not all(os.path.exists(os.path.join(blob_dir, blob.split(":", 1)[-1]))
                                            for blob in members[diff]):
            continue
        drop.extend({"diff": diff, "chain": chain, "blobs": sorted(members[diff])} for chain in sorted(uses[diff]))
    return drop
