# -*- coding: utf-8 -*-
"""The images without a tag and the held containers of an image store conversion, through the steps that pass
them on: the plan, the journal, the import into containerd, the export from it, the tags for a create, the switch
back (_store_convert, _store_containers, _store_images, on the fake engine of test_store_convert)."""
import io
import json
import os
import shutil
import sys
import tarfile

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _docker_api, _layer_store, _store_convert, _store_images, _store_plan, _stores)
from ansible_collections.dockyard.migrate.plugins.module_utils._stores import StoreError

from test_store_convert import (  # noqa: E402  pylint: disable=import-error
    CLASSIC, CONTAINERD, Store404, container, conversion, journal)

CARRY = {"sha256:a1": {"carry": "dockyard-migrate-untagged:a1"}}


def test_an_image_carried_without_a_tag_the_new_store_lacks_is_found_missing(tmp_path):
    conv, _p, _r, _runs = conversion(tmp_path, CONTAINERD, "containerd")
    conv.client.answers.update({"/images/json": [], "/images/sha256:m9/json": {}})
    plan = {"tags": [], "tag_layers": {}, "untagged": CARRY}
    with pytest.raises(StoreError, match="tags missing: the image a1"):
        conv.check_tags(plan, "classic")
    conv.client.answers["/images/json"] = [{"Id": "sha256:m9", "RepoTags": ["dockyard-migrate-untagged:a1"]}]
    conv.check_tags(plan, "classic")


def make(tmp_path, monkeypatch, fail=False):
    monkeypatch.setattr(_stores, "containerd_socket", lambda: "/run/c.sock")
    conv, _p, _r, _runs = conversion(tmp_path, CONTAINERD, "containerd")
    engine = Store404(CONTAINERD, tmp_path, ())
    engine.deletable = {"/images/seed/app:1"}
    engine.answers.update({"/containers/new/json": {"Id": "new"}, "/images/seed/app:2/json": {"Id": "sha256:m1"},
                           "/images/sha256:m1/json": {"Id": "sha256:m1"}})
    post = engine.post

    def failing(path, params=None, body=None):
        r = post(path, params, body)
        if fail and path == "/containers/create":
            raise _docker_api.DockerAPIError(500, "boom", "POST", path)
        return r
    engine.post = failing
    conv.client, conv.socket, conv.jpath = engine, "/run/c.sock", str(tmp_path / "journal.json")
    inspect = dict(container("a1", "web", image="seed/app:1"), HostConfig={})
    rec = {"name": "web", "id": "a1", "inspect": inspect, "running": False, "ref": "seed/app:2", "layers": [],
           "untagged": None, "upper": "/d/overlay2/x/diff"}
    return conv, engine, rec


def test_the_tag_that_named_nothing_is_taken_away_after_the_create_not_before(tmp_path, monkeypatch):
    conv, engine, rec = make(tmp_path, monkeypatch)
    conv.recreate([rec], {}, "containerd")
    assert [c[1] for c in engine.calls[:3]] == ["/images/sha256:m1/tag", "/containers/create", "/images/seed/app:1"]


def test_the_tag_is_taken_away_even_when_the_create_fails(tmp_path, monkeypatch):
    conv, engine, rec = make(tmp_path, monkeypatch, fail=True)
    with pytest.raises(_docker_api.DockerAPIError):
        conv.recreate([rec], {}, "containerd")
    assert engine.calls[-1][:2] == ("DELETE", "/images/seed/app:1")


def switch_back(tmp_path, monkeypatch, gone=False):
    monkeypatch.setattr(_stores, "containerd_socket", lambda: "/run/c.sock")
    conv, path, root, _runs = conversion(tmp_path, CLASSIC, "classic")
    before = path.read_text()
    path.write_text(json.dumps(_stores.with_store(json.loads(before), "containerd")))
    always = {"Name": "always", "MaximumRetryCount": 0}
    rec = {"id": "s1", "name": "s1", "running": False, "inspect": {"HostConfig": {"RestartPolicy": always}}}
    (root / "containers" / "s1").mkdir()
    (root / "containers" / "s1" / "hostconfig.json").write_text(json.dumps(rec["inspect"]["HostConfig"]))
    post = conv.client.post

    def ordered(p, params=None, body=None):
        conv.host.calls.append(("POST", p))
        if gone and p == "/containers/s1/update":
            raise _docker_api.DockerAPIError(404, "No such container", "POST", p)
        return post(p, params, body)
    conv.client.post = ordered
    jpath = journal(root, phase="containers", target="containerd", daemon_json_before=before, containers=[rec], tags=[])
    return conv, jpath


def test_a_held_container_gets_its_policy_back_once_docker_runs(tmp_path, monkeypatch):
    conv, _j = switch_back(tmp_path, monkeypatch)
    conv.run()
    calls = conv.host.calls
    assert calls.index(("start_docker",)) < calls.index(("POST", "/containers/s1/update")), calls


def test_a_held_container_removed_since_is_no_failure_of_the_switch_back(tmp_path, monkeypatch):
    """Held by a run killed since, then removed (its directory gone): nothing to give back.  One the engine does not
    know while its directory is there (Docker did not load it) is named with its policy to give back by hand, and
    stays in the journal; the switch back finishes."""
    conv, jpath = switch_back(tmp_path, monkeypatch, gone=True)
    held = {"s1": {"Name": "always", "MaximumRetryCount": 0}}
    jpath.write_text(json.dumps(dict(json.loads(jpath.read_text()), held=held)))
    res = conv.run()
    assert res["rolled_back"] is True and res["not_released"] == {"s1": "always"}, res
    assert "could not give back the restart policy of s1 (always)" in " ".join(res["actions"])
    assert json.loads(jpath.read_text())["held"] == held
    shutil.rmtree(str(tmp_path / "docker" / "containers" / "s1"))
    jpath.write_text(json.dumps(dict(json.loads(jpath.read_text()), phase="containers")))
    conv.result = {"changed": False, "actions": []}
    res = conv.run()
    assert res["rolled_back"] is True and "not_released" not in res and json.loads(jpath.read_text())["held"] == {}


def test_images_without_a_tag_go_into_containerd_under_their_carry_tag(tmp_path, monkeypatch):
    conv, _p, _r, _runs = conversion(tmp_path, CLASSIC, "containerd")
    made = []

    class FakeArchive:
        def __init__(self, names, drop, aliases=None):
            made.append((list(names), dict(aliases or {})))
            self.names = names

        def size(self):
            return 1

        def write(self, fd, tick):
            os.write(fd, b"x")
    monkeypatch.setattr(_layer_store, "Archive", FakeArchive)
    monkeypatch.setattr(_stores, "ctr_argv", lambda *a: ["tee", str(tmp_path / "imported")])
    conv.socket = "/run/c.sock"
    conv.import_into_containerd(["seed/app:2"], CARRY)
    assert made == [(["seed/app:2", "sha256:a1"], {"sha256:a1": "dockyard-migrate-untagged:a1"})]

    def unusable(names, drop, **_kw):
        raise _layer_store.Unusable("vfs")
    monkeypatch.setattr(_layer_store, "Archive", unusable)
    with pytest.raises(StoreError, match="cannot be read from the classic store's files"):
        conv.import_into_containerd(["seed/app:2"], CARRY)


def export(tmp_path, monkeypatch, held=(), tags=(), broken=False):
    conv, _p, _r, _runs = conversion(tmp_path, CONTAINERD, "classic")
    src = tmp_path / "export.tar"
    manifest = [{"Config": "blobs/sha256/c1", "RepoTags": ["moby-dangling@sha256:m1"], "Layers": []}]
    with tarfile.open(str(src), "w") as tar:
        raw = json.dumps(manifest).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    if broken:
        src.write_bytes(b"x" * 700)
    args = tmp_path / "args"
    script = tmp_path / "ctr.py"
    script.write_text("import sys, shutil\nopen(sys.argv[2], 'w').write(' '.join(sys.argv[3:]))\n"
                      "shutil.copyfileobj(open(sys.argv[1], 'rb'), sys.stdout.buffer)\n")
    monkeypatch.setattr(_stores, "ctr_argv", lambda socket, *a: [sys.executable, str(script), str(src), str(args)])
    monkeypatch.setattr(_stores, "containerd_configs", lambda *a: {})
    conv.client.get = lambda p, params=None: [{"Id": i} for i in held] if params == {"all": True} else []
    loaded = []

    def post_load(client, stream, timeout=None):
        data = stream.read()
        if not data:
            return [], None
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            loaded.append(json.loads(tar.extractfile("manifest.json").read()))
        return [], None
    monkeypatch.setattr(_store_images._image_archive, "post_load", post_load)
    conv.socket = "/run/c.sock"
    untagged = {"sha256:m1": {"name": "moby-dangling@sha256:m1", "config": "sha256:c1"}}
    conv.export_from_containerd(list(tags), None, untagged)
    return loaded, args.read_text().split() if args.exists() else None


def test_an_image_without_a_tag_is_exported_by_its_containerd_name_and_loaded_without_one(tmp_path, monkeypatch):
    loaded, args = export(tmp_path, monkeypatch)
    assert args == ["moby-dangling@sha256:m1"] and loaded == [[{"Config": "blobs/sha256/c1", "RepoTags": None,
                                                                "Layers": []}]]


def test_an_image_without_a_tag_the_classic_store_still_holds_is_not_exported(tmp_path, monkeypatch):
    assert export(tmp_path, monkeypatch, held=["sha256:c1"]) == ([], None)


def test_a_broken_export_stream_fails_the_load(tmp_path, monkeypatch):
    with pytest.raises(StoreError, match="loading the images into the classic store failed"):
        export(tmp_path, monkeypatch, broken=True)


def hermetic(monkeypatch):
    """The preflight's look at the machine (tools on PATH, the host's dockerd) kept out of these tests."""
    monkeypatch.setattr(_stores, "containerd_socket", lambda: "/run/c.sock")
    monkeypatch.setattr(_store_convert.shutil, "which", lambda tool: "/usr/bin/" + tool)
    monkeypatch.setattr(_stores, "dockerd_choices", lambda **_kw: [])


def untagged_host(tmp_path, monkeypatch, check_mode=False):
    hermetic(monkeypatch)
    monkeypatch.setattr(_store_plan, "CONTAINERD_ROOT", str(tmp_path / "no-containerd"))
    monkeypatch.setattr(_store_plan._layer_store, "Archive", lambda names, drop, **kw: names)
    c = dict(container("a1", "web", image="seed/gone:1"), State={"Status": "exited", "Running": False},
             HostConfig={"RestartPolicy": {"Name": "always"}})
    return conversion(tmp_path, CLASSIC, "containerd", check_mode=check_mode, containers=[c],
                      images=[{"Id": "sha256:a1", "RepoTags": []}])


def test_the_result_names_the_untagged_images_and_the_stopped_always_containers(tmp_path, monkeypatch):
    conv, _p, _r, _runs = untagged_host(tmp_path, monkeypatch, check_mode=True)
    res = conv.run()
    assert res["untagged_images"] == ["sha256:a1"] and res["stopped_always"] == ["web"]


def test_the_journal_records_the_untagged_images_before_they_are_imported(tmp_path, monkeypatch):
    conv, _p, _r, _runs = untagged_host(tmp_path, monkeypatch)
    seen = []

    def imp(self, tags, untagged=None):
        j = json.loads(open(self.jpath).read())
        seen.append((tags, untagged, j.get("untagged"), j["containers"][0]["untagged"], j["containers"][0]["layers"]))
        raise StoreError("stop here", "images")
    monkeypatch.setattr(_store_convert.Conversion, "import_into_containerd", imp)
    with pytest.raises(StoreError, match="stop here"):
        conv.run()
    assert seen == [([], CARRY, CARRY, CARRY["sha256:a1"], ["sha256:l1"])], seen


def test_the_export_from_containerd_is_given_the_untagged_images(tmp_path, monkeypatch):
    hermetic(monkeypatch)
    monkeypatch.setattr(_store_plan, "from_containerd", lambda conv, ids, problems: dict(
        (i, {"name": "moby-dangling@" + i, "config": "sha256:c1"}) for i in ids))
    c = dict(container("a1", "web", image="seed/gone:1"), State={"Status": "running", "Running": True})
    conv, _p, root, _runs = conversion(tmp_path, CONTAINERD, "classic", containers=[c],
                                       images=[{"Id": "sha256:a1", "RepoTags": []}])
    infos = iter([CONTAINERD, CLASSIC, CLASSIC, CLASSIC, CLASSIC])
    conv.client.info = lambda: dict(next(infos), DockerRootDir=str(root))
    seen = []

    def exp(self, tags, layers=None, untagged=None):
        seen.append(untagged)
        raise StoreError("stop here", "images")
    monkeypatch.setattr(_store_convert.Conversion, "export_from_containerd", exp)
    with pytest.raises(StoreError, match="stop here"):
        conv.run()
    assert seen == [{"sha256:a1": {"name": "moby-dangling@sha256:a1", "config": "sha256:c1"}}], seen


def test_the_journal_names_a_held_container_before_its_policy_is_taken(tmp_path, monkeypatch):
    conv, jpath = switch_back(tmp_path, monkeypatch)
    real = _stores.disarm

    def disarm(root, cid):
        assert cid in json.loads(jpath.read_text())["held"]
        return real(root, cid)
    monkeypatch.setattr(_stores, "disarm", disarm)
    assert conv.run()["rolled_back"] is True


def test_a_policy_that_cannot_be_given_back_leaves_the_container_held(tmp_path, monkeypatch):
    conv, jpath = switch_back(tmp_path, monkeypatch)
    post = conv.client.post

    def refusing(p, params=None, body=None):
        if p.endswith("/update"):
            raise _docker_api.DockerAPIError(500, "boom", "POST", p)
        return post(p, params, body)
    conv.client.post = refusing
    with pytest.raises(StoreError):
        conv.run()
    j = json.loads(jpath.read_text())
    assert j["phase"] != "rolled_back" and j["held"] == {"s1": {"Name": "always", "MaximumRetryCount": 0}}, j


def serving(tmp_path, monkeypatch):
    """A classic host whose Docker answers, on the store daemon.json names as it is on disk; daemon.json's text."""
    hermetic(monkeypatch)
    conv, path, root, _runs = conversion(tmp_path, CLASSIC, "containerd")
    conv.client.ping = lambda: True
    conv.client.info = lambda: dict(CONTAINERD if (json.loads(path.read_text()).get("features") or {}).get(
        "containerd-snapshotter") else CLASSIC, DockerRootDir=str(root))
    conv.client.answers["/system/df"] = {}
    return conv, path, root, path.read_text()


def test_a_run_killed_before_it_stopped_docker_is_rolled_back_without_a_stop(tmp_path, monkeypatch):
    """Killed after the journal said stop (the units masked, say) while Docker still serves the old store with
    daemon.json as it was: the rerun unmasks, and stops nothing (the host is as it was)."""
    conv, path, root, before = serving(tmp_path, monkeypatch)
    journal(root, phase="stop", source="classic", target="containerd", daemon_json_before=before, containers=[],
            tags=[], ran=[], masked=["docker.service", "docker.socket"], stopping=False)
    res = conv.run()
    names = [c[0] for c in conv.host.calls]
    assert "rolled back the conversion interrupted in phase stop" in res["actions"], res["actions"]
    assert names.index("unmask") < names.index("stop_docker"), names  # the conversion that follows stops it
    assert conv.host.calls[names.index("unmask")] == ("unmask", ["docker.service", "docker.socket"])
    assert names.count("stop_docker") == 1 and path.read_text() != before  # one stop: the new conversion's


@pytest.mark.parametrize("stopping", [True, None])
def test_a_run_that_had_stopped_docker_is_rolled_back_with_a_stop_even_when_docker_serves(
        tmp_path, monkeypatch, stopping):
    """Docker stopped by the run, then started again (a reboot cleared the masks, a switch back that got part way):
    it serves the old store, but the containers that ran may not all be back; the switch back stops and starts it
    and starts them.  A journal without the mark (an older version's) is treated the same."""
    conv, path, root, before = serving(tmp_path, monkeypatch)
    record = {"id": "r1", "name": "r1", "running": True, "inspect": {"HostConfig": {}}}
    conv.client.answers["/containers/r1/json"] = {"State": {"Running": False}}
    journal(root, phase="switch", source="classic", target="containerd", daemon_json_before=before,
            containers=[record], tags=[], ran=["r1"], masked=[], **({"stopping": True} if stopping else {}))
    res = conv.run()
    assert "rolled back the conversion interrupted in phase switch" in res["actions"], res["actions"]
    names = [c[0] for c in conv.host.calls]
    assert names.index("stop_docker") < names.index("start_docker"), names
    assert ("POST", "/containers/r1/start") in [("POST", b[0]) for b in conv.client.bodies], conv.client.bodies


def test_containers_made_or_removed_while_the_images_were_carried_stop_the_run_before_the_stop(tmp_path, monkeypatch):
    """The window starts from the containers as they are: one made or removed since the record stops the run with
    Docker serving (nothing switched); the others are told whether they run now."""
    hermetic(monkeypatch)
    conv, path, _root, _runs = conversion(tmp_path, CLASSIC, "containerd")
    conv.jpath = str(tmp_path / "journal.json")
    records = [{"id": "a1", "running": True}, {"id": "b2", "running": False}]
    conv.client.answers["/containers/json"] = [{"Id": "a1", "State": "exited"}, {"Id": "b2", "State": "running"}]
    assert conv.running_at_stop(records) == ["b2"] and [c["running"] for c in records] == [False, True]
    conv.client.answers["/containers/json"] += [{"Id": "c3", "State": "running"}]
    conv.client.answers["/containers/c3/json"] = {"Id": "c3", "Name": "/c3", "HostConfig": {"AutoRemove": False}}
    with pytest.raises(StoreError, match=r"containers were made \(c3\) while the images were carried; nothing"):
        conv.running_at_stop(records)
    conv.client.answers["/containers/json"] = [{"Id": "a1", "State": "running"}]
    with pytest.raises(StoreError, match=r"containers were removed \(b2\) while the images were carried") as exc:
        conv.running_at_stop(records)
    assert exc.value.phase == "images" and conv.host.calls == []


def test_a_switch_back_that_finds_docker_on_the_other_store_gives_no_policy_back(tmp_path, monkeypatch):
    """Docker comes back on the store it was to leave: the held containers' IDs are unknown there, and giving
    their policies back would lose them; they stay held, the switch back fails."""
    conv, jpath = switch_back(tmp_path, monkeypatch)
    journal_now = json.loads(jpath.read_text())
    jpath.write_text(json.dumps(dict(journal_now, source="classic")))
    conv.client.info = lambda: dict(CONTAINERD, DockerRootDir=str(tmp_path / "docker"))
    with pytest.raises(StoreError, match="Docker started on the containerd store, not the classic store it ran"):
        conv.run()
    assert not [c for c in conv.host.calls if c[0] == "POST" and c[1].endswith("/update")]
    assert json.loads(jpath.read_text())["held"] == {"s1": {"Name": "always", "MaximumRetryCount": 0}}


def test_the_window_units_are_journalled_before_they_are_masked(tmp_path, monkeypatch):
    """A kill between masking and journalling left units masked that the journal did not name: the journal names
    them first.  A unit masked before (by whoever) is left alone; one this run masked that a boot unmasked is masked
    again."""
    conv, jpath = switch_back(tmp_path, monkeypatch)
    conv.jpath = str(jpath)
    conv.journal = json.loads(jpath.read_text())
    conv.journal["masked"] = []
    before = {"docker.socket": True, "docker.service": False}  # docker.socket masked by someone else
    monkeypatch.setattr(conv.host, "masked", lambda unit: before[unit])
    seen = []
    monkeypatch.setattr(conv.host, "mask", lambda units: seen.append((list(units), json.loads(jpath.read_text())[
        "masked"])) or list(units))
    conv.mask_window()
    assert seen == [(["docker.service"], ["docker.service"])], seen  # named in the journal when it is masked
    conv.mask_window()  # this run's, unmasked by a boot since: masked again, named once
    assert seen[-1] == (["docker.service"], ["docker.service"]), seen
    before["docker.service"] = True
    conv.mask_window()  # still masked: nothing to do
    assert seen[-1] == ([], ["docker.service"]), seen


# ---------------------------------------------------------------- images without a tag that no container uses
UNUSED = {"sha256:b2": {"carry": "dockyard-migrate-untagged:b2", "unused": True}}


def ctr_log(tmp_path, monkeypatch, conv, listed=True, fail=None):
    """conv.runner as ctr would answer: ``images ls`` lists the carry name (when LISTED); the command named FAIL
    fails.  Every command is logged."""
    log = []

    def runner(argv):
        log.append(argv[argv.index("images") + 1:])
        if argv[argv.index("images") + 1] == fail:
            return 1, "", "ctr: boom"
        if "ls" in argv:
            return 0, "REF TYPE DIGEST SIZE\n" + (
                "docker.io/library/dockyard-migrate-untagged:b2 application/vnd.oci.image.manifest.v1+json "
                "sha256:t2 1.0MiB linux/amd64 -\n" if listed else ""), ""
        return 0, "", ""
    conv.runner, conv.socket = runner, "/run/c.sock"
    conv.jpath = str(tmp_path / "journal.json")
    return log


def test_an_unused_image_is_kept_under_dockers_name_for_an_image_without_a_tag(tmp_path, monkeypatch):
    conv, _p, _r, _runs = conversion(tmp_path, CLASSIC, "containerd")
    log = ctr_log(tmp_path, monkeypatch, conv)
    untagged = json.loads(json.dumps(dict(CARRY, **UNUSED)))
    conv.keep_unused(untagged)
    full = "docker.io/library/dockyard-migrate-untagged:b2"
    assert log == [["ls"], ["tag", "--force", full, "moby-dangling@sha256:t2"], ["rm", full]], log
    # its ID in the new store recorded, in the journal too; the used image's carry tag left for after the create
    assert untagged["sha256:b2"]["id"] == "sha256:t2" and "id" not in untagged["sha256:a1"]
    assert json.loads(open(conv.jpath).read())["untagged"]["sha256:b2"]["id"] == "sha256:t2"
    # the new store's check finds it by that ID, without its carry tag
    conv.client.answers.update({"/images/json": [{"Id": "sha256:t2", "RepoTags": []}]})
    conv.check_tags({"tags": [], "tag_layers": {}, "untagged": {"sha256:b2": untagged["sha256:b2"]}}, "classic")
    conv.client.answers.update({"/images/json": [{"Id": "sha256:t9", "RepoTags": []}]})
    with pytest.raises(StoreError, match="tags missing: the image b2"):
        conv.check_tags({"tags": [], "tag_layers": {}, "untagged": {"sha256:b2": untagged["sha256:b2"]}}, "classic")


@pytest.mark.parametrize("fail", ["tag", "rm", None])
def test_an_unused_image_not_kept_fails_the_images_phase(tmp_path, monkeypatch, fail):
    conv, _p, _r, _runs = conversion(tmp_path, CLASSIC, "containerd")
    log = ctr_log(tmp_path, monkeypatch, conv, listed=fail is not None, fail=fail)
    with pytest.raises(StoreError, match="ctr images %s failed" % fail if fail else "is not in containerd's store") \
            as exc:
        conv.keep_unused(json.loads(json.dumps(UNUSED)))
    assert exc.value.phase == "images"
    if fail == "tag":  # the carry tag is never taken away before the image has its other name
        assert ["rm", "docker.io/library/dockyard-migrate-untagged:b2"] not in log, log


def test_unused_images_go_along_and_those_that_cannot_be_read_stay_behind(tmp_path, monkeypatch):
    hermetic(monkeypatch)
    monkeypatch.setattr(_store_plan, "CONTAINERD_ROOT", str(tmp_path / "no-containerd"))
    read = []

    def archive(names, drop, **kw):
        read.append(list(names))
        return names
    monkeypatch.setattr(_store_plan._layer_store, "Archive", archive)
    images = [{"Id": "sha256:a1", "RepoTags": ["seed/app:1"]}, {"Id": "sha256:b2", "RepoTags": ["<none>:<none>"]}]
    conv, _p, _r, _runs = conversion(tmp_path, CLASSIC, "containerd", check_mode=True, images=images)
    conv.client.answers["/images/sha256:a1/json"] = {"RootFS": {"Layers": ["sha256:l1"]}}
    res = conv.run()
    assert res["untagged_images"] == ["sha256:b2"] and res["not_carried"] == [], res
    assert ["sha256:b2"] in read, read  # read on its own: another that cannot be read takes nothing with it

    def unusable(names, drop, **kw):
        if "sha256:b2" in names:
            raise _layer_store.Unusable("a layout this collection cannot read")
        return names
    monkeypatch.setattr(_store_plan._layer_store, "Archive", unusable)
    (tmp_path / "again").mkdir()
    conv, _p, _r, _runs = conversion(tmp_path / "again", CLASSIC, "containerd", check_mode=True, images=images)
    conv.client.answers["/images/sha256:a1/json"] = {"RootFS": {"Layers": ["sha256:l1"]}}
    res = conv.run()  # not refused: left behind, and said
    assert res["untagged_images"] == [] and res["not_carried"] == ["sha256:b2"] and not res.get("failed"), res


def test_unused_images_of_containerds_store_go_by_their_name_and_those_not_found_stay_behind(tmp_path, monkeypatch):
    conv, _p, _r, _runs = conversion(tmp_path, CONTAINERD, "classic")
    monkeypatch.setattr(_store_plan, "from_containerd", lambda conv, ids, problems: (
        problems.append("not found: sha256:c3"), dict((i, {"name": "moby-dangling@" + i, "config": "sha256:k"})
                                                      for i in ids if i != "sha256:c3"))[1])
    spare, left = _store_plan.unused(conv, "containerd", ["sha256:b2", "sha256:c3", "sha256:d4"], {"sha256:d4"})
    assert spare == {"sha256:b2": {"name": "moby-dangling@sha256:b2", "config": "sha256:k", "unused": True}}
    assert left == ["sha256:c3", "sha256:d4"]  # not named there; not whole there (never asked for)

    def archive(names, drop, **kw):
        if names != ["sha256:b2"]:
            raise _layer_store.Unusable("a layer's files are gone")
        return names
    monkeypatch.setattr(_store_plan._layer_store, "Archive", archive)
    spare, left = _store_plan.unused(conv, "vfs", ["sha256:b2", "sha256:e5"])
    assert spare == {"sha256:b2": {"config": "sha256:b2", "unused": True}} and left == ["sha256:e5"]


# ---------------------------------------------------------------- containers Docker removes once they end (--rm)
def test_containers_docker_removes_once_they_end_are_never_carried_and_the_old_stores_cleanup_knows_them(
        tmp_path, monkeypatch):
    """A --rm container (running or not) is left out of the plan, named in ephemeral, and recorded among the old
    store's containers with the carried ones; Docker's stop for the window ends it, as a restart would."""
    hermetic(monkeypatch)
    monkeypatch.setattr(_store_plan, "CONTAINERD_ROOT", str(tmp_path / "no-containerd"))
    web = container("a1", "web")
    job = dict(container("j1", "job"), HostConfig={"AutoRemove": True})
    conv, _p, _r, _runs = conversion(tmp_path, CLASSIC, "containerd", containers=[web, job],
                                     images=[{"Id": "sha256:a1", "RepoTags": ["seed/app:2"]}])
    conv.client.answers["/images/sha256:a1/json"] = {"RootFS": {"Layers": ["sha256:l1"]}}
    conv.jpath = str(tmp_path / "journal.json")
    seen = []

    def imp(self, tags, untagged=None):
        seen.append((self.result["containers"], self.result["ephemeral"],
                     json.loads(open(self.jpath).read())["sources"]["classic"]))
        raise StoreError("stop here", "images")
    monkeypatch.setattr(_store_convert.Conversion, "import_into_containerd", imp)
    with pytest.raises(StoreError, match="stop here"):
        conv.run()
    assert seen == [(["web"], ["job"], {"web": "a1", "job": "j1"})], seen


def test_a_container_that_names_one_docker_removes_once_it_ends_is_refused(tmp_path, monkeypatch):
    hermetic(monkeypatch)
    side = dict(container("s1", "side"), HostConfig={"NetworkMode": "container:job"})
    job = dict(container("j1", "job"), HostConfig={"AutoRemove": True})
    conv, path, _r, runs = conversion(tmp_path, CLASSIC, "containerd", containers=[side, job],
                                      images=[{"Id": "sha256:a1", "RepoTags": ["seed/app:2"]}])
    conv.client.answers["/images/sha256:a1/json"] = {"RootFS": {"Layers": ["sha256:l1"]}}
    before = path.read_text()
    with pytest.raises(StoreError, match=r"container side names job, which Docker removes once it ends \(docker run "
                                         r"--rm\)") as exc:
        conv.run()
    assert exc.value.phase == "preflight" and path.read_text() == before and conv.host.calls == [("lock", False)]


def test_a_job_begun_while_the_images_were_carried_is_left_to_dockers_stop(tmp_path, monkeypatch):
    hermetic(monkeypatch)
    conv, _path, _root, _runs = conversion(tmp_path, CLASSIC, "containerd")
    conv.jpath = str(tmp_path / "journal.json")
    conv.journal.update(source="classic", sources={"classic": {"web": "a1", "job": "j1"}})
    records = [{"id": "a1", "name": "web", "running": True}, {"id": "s1", "name": "side", "running": True}]
    conv.client.answers["/containers/json"] = [{"Id": "a1", "State": "running"}, {"Id": "s1", "State": "exited"},
                                               {"Id": "j2", "State": "running"}]
    conv.client.answers["/containers/j2/json"] = {"Id": "j2", "Name": "/job2", "HostConfig": {"AutoRemove": True}}
    assert conv.running_at_stop(records) == ["a1"] and [c["running"] for c in records] == [True, False]
    assert conv.result["ephemeral"] == ["job2"], conv.result
    saved = json.loads(open(conv.jpath).read())
    assert saved["sources"]["classic"] == {"web": "a1", "job": "j1", "job2": "j2"} and conv.host.calls == []


@pytest.mark.parametrize("case", ["made", "gone", "gone-between", "inspect-fails"])
def test_only_containers_docker_removes_itself_may_be_made_meanwhile(tmp_path, monkeypatch, case):
    """A container that is no --rm one made since, or any recorded one removed since, still stops the run, nothing
    switched; one made and gone again before it could be looked at is no container to carry; an inspect that
    fails otherwise is raised."""
    hermetic(monkeypatch)
    conv, _path, _root, _runs = conversion(tmp_path, CLASSIC, "containerd")
    conv.jpath = str(tmp_path / "journal.json")
    conv.journal.update(source="classic", sources={})
    records = [{"id": "a1", "name": "web", "running": True}, {"id": "s1", "name": "side", "running": True}]
    now = [{"Id": "a1", "State": "running"}, {"Id": "s1", "State": "running"}, {"Id": "x9", "State": "running"}]
    answers = {"made": {"Id": "x9", "Name": "/x9", "HostConfig": {"AutoRemove": False}},
               "gone-between": _docker_api.DockerAPIError(404, "No such container: x9", "GET", "x9"),
               "inspect-fails": _docker_api.DockerAPIError(500, "engine broken", "GET", "x9")}
    if case == "gone":
        now = now[:1]
    get = conv.client.get

    def inspect(path, params=None):
        if path == "/containers/x9/json" and isinstance(answers[case], Exception):
            raise answers[case]
        return answers[case] if path == "/containers/x9/json" else get(path, params)
    conv.client.get = inspect
    conv.client.answers["/containers/json"] = now
    if case == "gone-between":
        assert conv.running_at_stop(records) == ["a1", "s1"] and "ephemeral" not in conv.result
        return
    if case == "inspect-fails":
        with pytest.raises(_docker_api.DockerAPIError, match="engine broken"):
            conv.running_at_stop(records)
        return
    words = {"made": r"containers were made \(x9\) while", "gone": r"containers were removed \(s1\) while"}[case]
    with pytest.raises(StoreError, match=words) as exc:
        conv.running_at_stop(records)
    assert exc.value.phase == "images" and not os.path.exists(conv.jpath)


CHECK = """REF TYPE DIGEST STATUS SIZE UNPACKED
docker.io/seed/app:1 application/vnd.oci.image.manifest.v1+json sha256:m1 complete (3/3) 3.9 MiB/3.9 MiB true
docker.io/seed/app:2 application/vnd.oci.image.manifest.v1+json sha256:m2 incomplete (2/3) 1.0 MiB/3.9 MiB true
moby-dangling@sha256:m3 application/vnd.oci.image.manifest.v1+json sha256:m3 incomplete (1/3) 1.0 MiB/3.9 MiB true
"""


def test_images_whose_content_containerd_lacks_are_refused_or_left_behind(tmp_path, monkeypatch):
    """Going back to the classic store, an image containerd's store does not hold whole (a layer never fetched)
    cannot be exported: a tagged one is refused in preflight, nothing changed; one without a tag that no container
    uses is left behind (not_carried); ctr images check is what tells."""
    hermetic(monkeypatch)
    monkeypatch.setattr(_store_plan, "from_containerd", lambda conv, ids, problems: dict(
        (i, {"name": "moby-dangling@" + i, "config": "sha256:c" + i[-1]}) for i in ids))
    images = [{"Id": "sha256:m1", "RepoTags": ["seed/app:1"]}, {"Id": "sha256:m3", "RepoTags": ["<none>:<none>"]}]

    def converted(images):
        where = tmp_path / ("run%d" % len(images))
        where.mkdir()
        conv, _path, _root, runs = conversion(where, CONTAINERD, "classic", check_mode=True, images=images)
        conv.runner = lambda argv: runs.append(argv) or (0, CHECK if "check" in argv else "", "")
        for i in images:
            conv.client.answers["/images/%s/json" % i["Id"]] = {"RootFS": {"Layers": ["sha256:l1"]}}
        return conv, runs
    conv, runs = converted(images)
    res = conv.run()
    assert res["not_carried"] == ["sha256:m3"] and res["untagged_images"] == [] and res["images"] == ["seed/app:1"]
    assert [a for a in runs if "check" in a], runs
    conv, _runs = converted(images + [{"Id": "sha256:m2", "RepoTags": ["seed/app:2"]}])
    with pytest.raises(StoreError, match=r"containerd's store does not hold the whole content of images "
                                         r"seed/app:2 \(ctr images check\)") as exc:
        conv.run()
    assert exc.value.phase == "preflight"


def test_the_check_counts_a_digest_whole_when_any_name_of_it_is():
    class Conv:
        socket = "/run/c.sock"

        def runner(self, argv):
            return 0, CHECK + "seed2 application/x sha256:m2 complete (3/3) 1 MiB true\n", ""
    assert _store_plan.incomplete(Conv()) == {"sha256:m3"}
    Conv.runner = lambda self, argv: (1, "", "ctr: no socket")
    assert _store_plan.incomplete(Conv()) == set()


def test_a_switch_back_starts_every_container_that_ran_but_one_that_fails_to_start_which_it_names(
        tmp_path, monkeypatch):
    conv, jpath = switch_back(tmp_path, monkeypatch)
    pairs = (("a1", "web"), ("b2", "side"))
    recs = [{"id": i, "name": n, "running": True, "inspect": {"HostConfig": {}}} for i, n in pairs]
    jpath.write_text(json.dumps(dict(json.loads(jpath.read_text()), containers=recs, ran=["a1", "b2"])))
    for i in ("a1", "b2"):
        conv.client.answers["/containers/%s/json" % i] = {"State": {"Running": False}}
    post = conv.client.post

    def start(p, params=None, body=None):
        if p == "/containers/a1/start":
            raise _docker_api.DockerAPIError(500, "the container it joins is gone", "POST", p)
        return post(p, params, body)
    conv.client.post = start
    with pytest.raises(StoreError, match="switched back to the old store, but containers that ran did not start: "
                                         "web ") as exc:
        conv.run()  # the switch back done, the run fails: no conversion goes on from a host missing web
    res = conv.result
    assert exc.value.phase == "rollback" and res["rolled_back"] is True and len(res["not_started"]) == 1, res
    assert res["not_started"][0].startswith("web (") and "the container it joins is gone" in res["not_started"][0]
    assert ("POST", "/containers/b2/start") in conv.host.calls, conv.host.calls
    assert json.loads(jpath.read_text())["phase"] == "rolled_back"  # a rerun plans from the host as it is


def test_a_container_the_plan_left_out_that_still_runs_at_the_stop_is_no_news(tmp_path, monkeypatch):
    hermetic(monkeypatch)
    conv, _path, _root, _runs = conversion(tmp_path, CLASSIC, "containerd")
    conv.jpath = str(tmp_path / "journal.json")
    conv.journal.update(source="classic", sources={"classic": {"web": "a1", "job": "j1"}})
    conv.client.answers["/containers/json"] = [{"Id": "a1", "State": "running"}, {"Id": "j1", "State": "running"}]
    assert conv.running_at_stop([{"id": "a1", "name": "web", "running": True}]) == ["a1"]
    assert "ephemeral" not in conv.result and not os.path.exists(conv.jpath)
