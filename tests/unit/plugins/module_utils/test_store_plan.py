# -*- coding: utf-8 -*-
"""What a conversion knows as its own in the other store (_store_plan)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.dockyard.migrate.plugins.module_utils import _store_plan


def test_a_container_is_known_by_the_id_recorded_when_it_was_made_or_left():
    journal = {"made": {"containerd": {"web": {"id": "n1", "at": 100}}}, "sources": {"containerd": {"db": "d0"}}}
    assert _store_plan.made_here(journal, "containerd", "web", "n1", 50)
    assert _store_plan.made_here(journal, "containerd", "db", "d0", 50)
    assert not _store_plan.made_here(journal, "containerd", "web", "other", 500)
    assert not _store_plan.made_here(journal, "classic", "web", "n1", 500)
    assert not _store_plan.made_here({}, "containerd", "web", "n1", 500)


def test_a_container_made_by_a_run_killed_before_it_recorded_the_id_is_known_by_its_creation_time():
    journal = {"made": {"containerd": {"web": {"id": None, "at": 100}}}}
    assert _store_plan.made_here(journal, "containerd", "web", "n9", 101)
    assert not _store_plan.made_here(journal, "containerd", "web", "n9", 99)  # there before that run


def test_the_creation_time_is_read_from_the_containers_config(tmp_path):
    d = tmp_path / "containers" / "c1"
    d.mkdir(parents=True)
    (d / "config.v2.json").write_text(json.dumps({"Created": "2026-01-01T00:00:10.123456789Z"}))
    assert _store_plan.created_at(str(tmp_path), "c1") == 1767225610
    assert _store_plan.created_at(str(tmp_path), "missing") == 0


class Conv:
    """What _store_plan.untagged reads of a conversion: its runner (ctr's answers by argv) and containerd's socket."""

    socket = "/run/c.sock"

    def __init__(self, answers):
        self.answers, self.runs = answers, []

    def runner(self, argv):
        self.runs.append(argv)
        for key, out in self.answers.items():
            if key in argv:
                return 0, out, ""
        return 1, "", "not found"


def test_images_without_a_tag_are_found_in_containerd_by_their_manifest_and_carried_by_config_digest():
    manifest = json.dumps({"config": {"digest": "sha256:c1"}, "layers": []})
    conv = Conv({"ls": "REF TYPE DIGEST SIZE\nmoby-dangling@sha256:m1 application/x sha256:m1 1 kB\n"
                       "docker.io/library/x:1 application/x sha256:m2 1 kB\n", "sha256:m1": manifest})
    problems = []
    assert _store_plan.untagged(conv, "containerd", ["sha256:m1"], problems) == {
        "sha256:m1": {"name": "moby-dangling@sha256:m1", "config": "sha256:c1"}} and problems == []
    # an ID containerd does not name, or whose manifest cannot be read: refused, by its short ID
    assert _store_plan.untagged(conv, "containerd", ["sha256:m2", "sha256:m3"], problems) == {}
    assert problems == ["containers use images with no tag that containerd's store does not name or cannot read "
                        "(m2, m3): tag them (docker tag) and run again"], problems


def test_images_without_a_tag_go_to_containerd_under_a_tag_of_their_own_and_from_a_driver_by_id(monkeypatch):
    monkeypatch.setattr(_store_plan._layer_store, "Archive", lambda names, drop, **kw: names)
    problems = []
    assert _store_plan.untagged(Conv({}), "classic", ["sha256:a1"], problems) == {
        "sha256:a1": {"carry": "dockyard-migrate-untagged:a1"}} and problems == []
    assert _store_plan.untagged(Conv({}), "vfs", ["sha256:a1"], problems) == {"sha256:a1": {"config": "sha256:a1"}}
    assert _store_plan.untagged(Conv({}), "classic", [], problems) == {} and problems == []


def test_stopped_containers_docker_would_start_at_its_next_start_are_named():
    """Docker starts a stopped (exited) container with the restart policy always at each of its starts, never a
    created one, nor a stopped one with another policy (measured on Docker 26.1)."""
    def c(name, status, policy):
        return {"Name": "/" + name, "State": {"Status": status}, "HostConfig": {"RestartPolicy": {"Name": policy}}}
    containers = [c("ra", "exited", "always"), c("rb", "created", "always"), c("ru", "exited", "unless-stopped"),
                  c("up", "running", "always"), c("aa", "exited", "always")]
    assert _store_plan.stopped_always(containers) == ["aa", "ra"]
    assert _store_plan.stopped_always([{"Name": "/x"}]) == []
