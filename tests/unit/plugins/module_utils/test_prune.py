# -*- coding: utf-8 -*-
"""_prune: what each kind of prune removes, planned from the engine's lists and applied through its endpoints."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _prune

IMAGES = [
    {"Id": "sha256:aaa", "RepoTags": ["app/web:1"], "Size": 100},       # used by a container
    {"Id": "sha256:bbb", "RepoTags": ["<none>:<none>"], "Size": 20},    # dangling
    {"Id": "sha256:ccc", "RepoTags": None, "Size": 30},                 # dangling
    {"Id": "sha256:ddd", "RepoTags": ["tool:2"], "Size": 40},           # tagged, unused
    {"Id": "sha256:eee", "RepoTags": None, "Size": 50},                 # untagged but a stopped container uses it
]
CONTAINERS = [{"ImageID": "sha256:aaa"}, {"ImageID": "sha256:eee"}]


class Engine:
    def __init__(self):
        self.posts = []

    def get(self, path, params=None):
        if path == "/containers/json":
            assert params == {"all": True}  # stopped containers count as users
            return CONTAINERS
        if path == "/images/json":
            return IMAGES
        if path == "/system/df":
            return {"BuildCache": [{"ID": "c1", "Type": "regular", "Size": 7, "InUse": False},
                                   {"ID": "c2", "Type": "source.local", "Size": 9, "InUse": True}]}
        raise AssertionError(path)

    def post(self, path, params=None, body=None):
        self.posts.append((path, params))
        if path == "/build/prune":
            return {"CachesDeleted": ["c1"], "SpaceReclaimed": 7}
        return {"ImagesDeleted": [{"Untagged": "tool:2"}, {"Deleted": "sha256:ddd"}], "SpaceReclaimed": 35}


@pytest.mark.parametrize("kind,ids,size", [
    ("dangling", ["sha256:bbb", "sha256:ccc"], 50),
    ("unused_images", ["sha256:bbb", "sha256:ccc", "sha256:ddd"], 90),
])
def test_images_no_container_uses_are_planned(kind, ids, size):
    items, planned = _prune.plan(Engine(), kind)
    assert [i["id"] for i in items] == ids and planned == size


def test_the_build_cache_plan_leaves_entries_in_use():
    items, planned = _prune.plan(Engine(), "build_cache")
    assert [i["id"] for i in items] == ["c1"] and planned == 7
    assert _prune.describe("build_cache", items) == ["build cache c1 (regular, 7 bytes)"]


@pytest.mark.parametrize("kind,path,params", [
    ("dangling", "/images/prune", {"filters": json.dumps({"dangling": ["true"]})}),
    ("unused_images", "/images/prune", {"filters": json.dumps({"dangling": ["false"]})}),
    ("build_cache", "/build/prune", None),
])
def test_each_kind_goes_to_its_endpoint_and_never_to_volumes(kind, path, params):
    engine = Engine()
    removed, reclaimed = _prune.apply(engine, kind)
    assert engine.posts == [(path, params)]
    assert reclaimed == (7 if kind == "build_cache" else 35) and removed


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="volumes"):
        _prune.plan(Engine(), "volumes")


def test_descriptions_name_the_tags_or_say_untagged():
    items = _prune.plan(Engine(), "unused_images")[0]
    assert _prune.describe("unused_images", items)[1:] == ["image sha256:ccc (untagged) (30 bytes)",
                                                           "image sha256:ddd tool:2 (40 bytes)"]
