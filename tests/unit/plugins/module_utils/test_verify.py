# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type


import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _docker_api, _inventory, _verify
from ansible_collections.dockyard.migrate.plugins.module_utils._move import RelocationError

from fake_host import FakeHost, context  # pylint: disable=import-error


class Engine:
    """A Docker engine's API as the inventory reads it: containers that start (or fail to), images, volumes."""

    def __init__(self, containers, images=("sha256:a",), cannot_start=()):
        self.containers = dict((c["Id"], dict(c)) for c in containers)
        self.images = list(images)
        self.cannot_start = set(cannot_start)
        self.starts = []

    def get(self, path, params=None):
        if path == "/images/json":
            return [{"Id": i, "RepoTags": ["x:1"]} for i in self.images]
        if path == "/containers/json":
            return [{"Id": i} for i in self.containers]
        if path == "/volumes":
            return {"Volumes": [{"Name": "data", "Driver": "local"}]}
        c = self.containers[path.split("/")[2]]
        return {"Name": "/" + c["Id"], "Image": "sha256:a", "Config": {"Image": "x:1"},
                "State": {"Status": c["Status"], "Running": c["Status"] == "running"},
                "HostConfig": {"RestartPolicy": {"Name": c["Policy"]}}}

    def post(self, path):
        cid = path.split("/")[2]
        self.starts.append(cid)
        if cid in self.cannot_start:
            raise _docker_api.DockerAPIError(400, "bind source path does not exist: /srv/gone")
        self.containers[cid]["Status"] = "running"


def verification(engine, before, timeout=30, clock=None):
    ctx = context({"target": "/mnt/data/docker", "verify_timeout": timeout}, client=engine, host=FakeHost(clock=clock))
    ctx.journal.start(0, "bind")
    ctx.journal["inventory"] = before
    return _verify.Verification(ctx)


def containers(**states):
    return [{"Id": name, "Status": st, "Policy": "always"} for name, st in sorted(states.items())]


@pytest.fixture
def fast():
    """The host's clock, which a wait moves on at once."""
    return [1000.0]


def test_a_container_that_cannot_start_again_is_reported_not_failed(fast):
    before = _inventory.collect(Engine(containers(web="running", cron="running")))
    engine = Engine(containers(web="running", cron="exited"), cannot_start=["cron"])
    v = verification(engine, before, clock=fast)
    inv = v.verified("/mnt/data/docker", "verify")
    assert engine.starts == ["cron"]  # tried once, not again
    assert v.ctx.result["containers_not_running"] == ["cron"]
    assert any("cron ran before and is not running now" in w for w in v.ctx.result["warnings"])
    assert inv["fingerprint"] == before["fingerprint"]
    assert fast[0] - 1000.0 < 10  # it gave up after the grace, not at the verify timeout


def test_a_container_started_once_runs_and_is_not_reported(fast):
    before = _inventory.collect(Engine(containers(web="running", loose="running")))
    engine = Engine(containers(web="running", loose="exited"))
    v = verification(engine, before, clock=fast)
    v.verified("/mnt/data/docker", "verify")
    assert "containers_not_running" not in v.ctx.result
    assert any(a.startswith("started loose") for a in v.ctx.actions), v.ctx.actions


def test_lost_data_still_fails_the_verification(fast):
    before = _inventory.collect(Engine(containers(web="running"), images=("sha256:a", "sha256:b")))
    v = verification(Engine(containers(web="running")), before, timeout=3, clock=fast)
    with pytest.raises(RelocationError) as exc:
        v.verified("/mnt/data/docker", "verify")
    assert "image sha256:b is missing" in str(exc.value)
