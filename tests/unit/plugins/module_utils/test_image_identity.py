# -*- coding: utf-8 -*-
"""An image is the same across image stores when its configuration's digest is: the classic store's ID is that
digest, the containerd store's ID is its manifest's (read from containerd's content store)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.dockyard.migrate.plugins.filter.images_lacking import images_lacking
from ansible_collections.dockyard.migrate.plugins.module_utils import _images, _layers
from ansible_collections.dockyard.migrate.plugins.module_utils._docker_api import DockerAPIError

CONFIG, MANIFEST, INDEX, OTHER = ("sha256:" + x * 64 for x in "cmio")
CONTAINERD = [["driver-type", "io.containerd.snapshotter.v1"]]


class Engine:
    """GET /images/REF/json and /images/json answered from a dict of inspected images."""

    def __init__(self, images, driver_status=None):
        self.images = images  # ref -> inspect
        self.driver_status = driver_status or []

    def info(self):
        return {"DriverStatus": self.driver_status}

    def get(self, path, params=None):
        if path == "/images/json":
            return [{"Id": i["Id"]} for i in self.images.values()]
        ref = path[len("/images/"):-len("/json")].replace("%3A", ":").replace("%2F", "/")
        if ref not in self.images:
            raise DockerAPIError(404, "No such image: %s" % ref)
        return self.images[ref]


def blobs(tmp_path, monkeypatch, docs):
    for digest, doc in docs.items():
        (tmp_path / digest.split(":")[1]).write_text(json.dumps(doc))
    monkeypatch.setattr(_layers, "containerd_blobs", lambda: str(tmp_path))


def manifest(config):
    return {"mediaType": "application/vnd.oci.image.manifest.v1+json", "config": {"digest": config}, "layers": []}


def test_the_containerd_store_gives_the_layers_blobs_in_order(tmp_path, monkeypatch):
    doc = dict(manifest(CONFIG), layers=[{"digest": "sha256:" + "1" * 64}, {"digest": "sha256:" + "2" * 64}])
    blobs(tmp_path, monkeypatch, {MANIFEST: doc})
    ident = _images.Identity(Engine({}, CONTAINERD))
    assert ident.layer_blobs({"Id": MANIFEST, "RootFS": {"Layers": ["sha256:a", "sha256:b"]}}) == [
        "sha256:" + "1" * 64, "sha256:" + "2" * 64]
    assert ident.layer_blobs({"Id": MANIFEST, "RootFS": {"Layers": ["sha256:a"]}}) is None  # not one to one
    assert _images.Identity(Engine({})).layer_blobs({"Id": CONFIG, "RootFS": {"Layers": ["sha256:a"]}}) is None


def test_the_classic_store_id_is_the_config_digest():
    engine = Engine({"app:1": {"Id": CONFIG, "RepoTags": ["app:1"]}})
    assert _images.Identity(engine).config(engine.images["app:1"]) == CONFIG


def test_the_containerd_store_reads_the_config_from_the_manifest_and_through_an_index(tmp_path, monkeypatch):
    blobs(tmp_path, monkeypatch, {MANIFEST: manifest(CONFIG), INDEX: {"manifests": [
        {"digest": OTHER, "platform": {"os": "unknown", "architecture": "unknown"}},  # an attestation
        {"digest": MANIFEST, "platform": {"os": "linux", "architecture": "amd64"}}]}})
    engine = Engine({}, CONTAINERD)
    ident = _images.Identity(engine)
    assert ident.config({"Id": MANIFEST}) == CONFIG
    assert ident.config({"Id": INDEX, "Os": "linux", "Architecture": "amd64"}) == CONFIG
    assert ident.config({"Id": OTHER}) is None  # no such blob: cannot tell, never a guess


def test_an_image_under_another_id_is_present_when_its_tags_name_its_config(tmp_path, monkeypatch):
    blobs(tmp_path, monkeypatch, {MANIFEST: manifest(CONFIG), INDEX: manifest(OTHER)})
    engine = Engine({"app:1": {"Id": MANIFEST, "RepoTags": ["app:1"]}, MANIFEST: {"Id": MANIFEST},
                     "old:1": {"Id": INDEX, "RepoTags": ["old:1"]}}, CONTAINERD)
    # From a classic source the wanted ID is the config digest; from a containerd source config says it.
    assert _images.present(engine, [{"id": CONFIG, "tags": ["app:1"]}]) == []
    assert _images.present(engine, [{"id": INDEX + "x", "config": CONFIG, "tags": ["app:1"]}]) == []
    # A tag naming another image, a missing tag, an untagged image not here: missing.
    assert len(_images.present(engine, [{"id": CONFIG, "tags": ["old:1"]}])) == 1
    assert len(_images.present(engine, [{"id": CONFIG, "tags": ["app:1", "app:2"]}])) == 1
    assert len(_images.present(engine, [{"id": "sha256:" + "f" * 64, "tags": []}])) == 1
    assert _images.present(engine, [{"id": CONFIG, "tags": []}]) == []  # found among all images


def test_the_classic_store_finds_by_id_only():
    engine = Engine({"app:1": {"Id": OTHER, "RepoTags": ["app:1"]}})
    assert len(_images.present(engine, [{"id": CONFIG, "tags": ["app:1"]}])) == 1
    assert len(_images.present(engine, [{"id": CONFIG, "tags": []}])) == 1


def test_images_lacking_matches_by_config_across_stores():
    wanted = [{"id": MANIFEST, "config": CONFIG, "tags": ["app:1"]}, {"id": CONFIG, "tags": ["tool:1"]}]
    present = [{"id": CONFIG, "config": CONFIG, "tags": ["app:1"]},  # a classic host, from a containerd source
               {"id": INDEX, "config": CONFIG, "tags": ["app:1"]}]  # tool:1 is not among its tags
    assert images_lacking(wanted, present) == [wanted[1]]
    assert images_lacking(wanted, [{"id": INDEX, "config": OTHER, "tags": ["app:1", "tool:1"]}]) == wanted
