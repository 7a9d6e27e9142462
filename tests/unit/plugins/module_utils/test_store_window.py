# -*- coding: utf-8 -*-
"""The window of an image store conversion kept short and its journal exact: the stores' filesystems flushed before
the stop and before the journal says done (never waiting on a filesystem that hangs), each container recorded as
about to be made in the write that records the one before, a name another container took never taken for this
run's, the carry tags taken away whatever the start does (_store_convert, _store_containers, _local; on the fake
engine of test_store_convert)."""
import io
import json
import os
import tarfile
import threading
import time

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _copy, _docker_api, _layer_store, _local, _store_containers, _store_convert, _store_plan, _stores)
from ansible_collections.dockyard.migrate.plugins.module_utils._stores import StoreError

from test_store_convert import (  # noqa: E402  pylint: disable=import-error
    CLASSIC, CONTAINERD, MOUNTS, container, conversion, journal, three, through_nameless, whole)
from test_store_untagged import CARRY, CHECK, UNUSED, ctr_log  # noqa: E402  pylint: disable=import-error


def test_the_hosts_sync_flushes_each_filesystem_and_never_waits_past_its_time(monkeypatch):
    flushed, release = [], threading.Event()
    monkeypatch.setattr(_copy, "flush", flushed.append)
    files = _local.Files()
    assert files.sync(["/a", "/b"], timeout=10) is None and flushed == ["/a", "/b"]

    def hangs(path):
        release.wait(10)
    monkeypatch.setattr(_copy, "flush", hangs)
    assert files.sync(["/a"], timeout=0.2) == "not done within 0.2 s"
    release.set()

    def fails(path):
        raise OSError(5, "Input/output error")
    monkeypatch.setattr(_copy, "flush", fails)
    assert "Input/output error" in files.sync(["/a"], timeout=10)


def test_a_flush_that_does_not_finish_warns_before_the_stop_and_keeps_the_journal_from_saying_done(
        tmp_path, monkeypatch):
    """Before the stop, a flush that does not end is a warning and the conversion goes on; the last one (the copied
    writable layers) keeps the journal in verify: the run fails, and the rerun flushes again before it says done."""
    conv, _path, log = whole(tmp_path, monkeypatch)
    answers = ["not done within 60 s", "not done within 60 s", None]
    monkeypatch.setattr(conv.host, "sync", lambda paths, timeout=60: log.append(("sync", list(paths))) or (
        answers.pop(0)))
    with pytest.raises(StoreError, match="the conversion is not recorded done: writing the new store to disk") as exc:
        conv.run()
    assert exc.value.phase == "verify" and "rolled_back" not in conv.result
    assert [w.split(" to disk")[0] for w in conv.result["warnings"]] == [
        "writing the images imported", "writing the new store"], conv.result["warnings"]
    names = [e[0] for e in log]
    assert names.index("sync") < names.index("stop_docker") and names.count("sync") == 2, log
    assert json.loads(open(conv.jpath).read())["phase"] == "verify"
    conv.result = {"changed": False, "actions": []}
    conv.client.ping = lambda: True
    starts = log.count(("POST", "/containers/new/start"))
    res = conv.run()  # the rerun flushes and says done: verified already, nothing started or verified again
    assert res["store_after"] == "containerd" and json.loads(open(conv.jpath).read())["phase"] == "done", res
    assert answers == [] and names.count("stop_docker") == 1 and log.count(("POST", "/containers/new/start")) == starts


def test_the_journal_says_done_only_after_the_new_store_was_flushed(tmp_path, monkeypatch):
    conv, _path, _log = whole(tmp_path, monkeypatch)
    seen = []

    def sync(paths, timeout=60):
        seen.append(json.loads(open(conv.jpath).read()).get("phase"))
    monkeypatch.setattr(conv.host, "sync", sync)
    conv.run()
    assert seen == ["images", "verify"], seen


def test_each_container_is_recorded_about_to_be_made_in_the_write_that_records_the_one_before(tmp_path, monkeypatch):
    """A kill between two creates leaves the next one recorded with the time it is made after, never the first
    one's: a container another made under its name before then is never taken for this run's."""
    conv, records = three(tmp_path, monkeypatch, lambda argv: (0, MOUNTS if "mounts" in argv else "", ""))
    clock = [100.0]
    conv.host.time = lambda: clock[0]
    writes = []
    save = conv.save

    def saved(**fields):
        save(**fields)
        if "made" in fields:
            writes.append(json.loads(json.dumps(fields["made"]["containerd"])))
    conv.save = saved
    post = conv.client.post

    def create(path, params=None, body=None):
        if path.endswith("/create"):
            clock[0] += 10  # each create takes ten seconds
        return post(path, params, body)
    conv.client.post = create
    conv.recreate(records, {}, "containerd")
    assert writes[0] == {"c0": {"id": None, "at": 100}}, writes
    assert writes[1] == {"c0": {"id": "new", "at": 100}, "c1": {"id": None, "at": 110}}, writes
    assert writes[2]["c2"] == {"id": None, "at": 120} and writes[-1]["c2"] == {"id": "new", "at": 120}, writes
    assert len(writes) == 4, writes  # one write before the first create, one after each


def test_a_name_another_container_took_is_not_recorded_as_this_runs(tmp_path, monkeypatch):
    conv, records = three(tmp_path, monkeypatch, lambda argv: (0, MOUNTS if "mounts" in argv else "", ""))
    post = conv.client.post

    def create(path, params=None, body=None):
        if path.endswith("/create") and params == {"name": "c1"}:
            raise _docker_api.DockerAPIError(409, "Conflict. The container name \"/c1\" is already in use", "POST",
                                             path)
        return post(path, params, body)
    conv.client.post = create
    with pytest.raises(_docker_api.DockerAPIError):
        conv.recreate(records, {}, "containerd")
    made = json.loads(open(conv.jpath).read())["made"]["containerd"]
    assert sorted(made) == ["c0"] and made["c0"]["id"] == "new", made


def test_another_failure_of_a_create_keeps_the_name_recorded_as_about_to_be_made(tmp_path, monkeypatch):
    """A create that failed otherwise may have made the container (an answer lost): it stays this run's."""
    conv, records = three(tmp_path, monkeypatch, lambda argv: (0, MOUNTS if "mounts" in argv else "", ""))
    post = conv.client.post

    def create(path, params=None, body=None):
        if path.endswith("/create") and params == {"name": "c1"}:
            raise _docker_api.DockerAPIError(500, "timeout", "POST", path)
        return post(path, params, body)
    conv.client.post = create
    with pytest.raises(_docker_api.DockerAPIError):
        conv.recreate(records, {}, "containerd")
    made = json.loads(open(conv.jpath).read())["made"]["containerd"]
    assert made["c1"]["id"] is None and made["c1"]["at"], made


def test_the_carry_tags_go_even_when_the_start_fails(tmp_path, monkeypatch):
    conv, _path, _root, _runs = conversion(tmp_path, CONTAINERD, "containerd")
    dropped = []
    monkeypatch.setattr(type(conv), "drop_carry_tags", lambda self: dropped.append(True))
    with pytest.raises(StoreError, match="no start"):
        with conv.carry_tags_dropped("containerd"):
            raise StoreError("no start", "start")
    assert dropped == [True]

    def broken(self):
        raise _docker_api.DockerAPIError(500, "engine gone", "GET", "/images/json")
    monkeypatch.setattr(type(conv), "drop_carry_tags", broken)
    with pytest.raises(StoreError, match="no start"):  # the start's failure is what is raised
        with conv.carry_tags_dropped("containerd"):
            raise StoreError("no start", "start")
    with conv.carry_tags_dropped("classic"):  # no carry tags in the classic store
        pass


def test_the_name_an_image_without_a_tag_is_exported_by_is_never_a_carry_tag(tmp_path, monkeypatch):
    conv, _path, _root, _runs = conversion(tmp_path, CONTAINERD, "classic")
    listed = ("REF TYPE DIGEST SIZE PLATFORMS LABELS\n"
              "docker.io/library/dockyard-migrate-untagged:a1 application/x sha256:m1 1 MiB linux/amd64 -\n"
              "moby-dangling@sha256:m1 application/x sha256:m1 1 MiB linux/amd64 -\n")
    conv.runner = lambda argv: (0, listed, "") if "ls" in argv else (0, "{}", "")
    monkeypatch.setattr(_stores, "config_digest", lambda read, digest, arch: "sha256:c1")
    assert _store_plan.from_containerd(conv, ["sha256:m1"], []) == {
        "sha256:m1": {"name": "moby-dangling@sha256:m1", "config": "sha256:c1"}}


def test_an_image_exported_without_a_tag_loses_its_digest_names_and_any_carry_tag():
    manifest = [{"Config": "c", "Layers": [], "RepoTags": [
        "docker.io/library/dockyard-migrate-untagged:a1", "moby-dangling@sha256:m1", "seed/app:1"]}]
    raw = json.dumps(manifest).encode()
    src = io.BytesIO()
    with tarfile.open(fileobj=src, mode="w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    src.seek(0)
    data, failed = through_nameless(src)
    assert not failed
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert json.loads(tar.extractfile("manifest.json").read())[0]["RepoTags"] == ["seed/app:1"]


# ---------------------------------------------------------------- the workers, and the copies they make


def until(cond, seconds=10):
    end = time.time() + seconds
    while not cond() and time.time() < end:
        time.sleep(0.01)
    return cond()


def test_a_worker_that_went_idle_takes_an_item_added_later_before_the_block_ends():
    seen = {"a": threading.Event(), "b": threading.Event()}
    with _store_containers.Workers(lambda item: seen[item].set(), 1, "idle") as workers:
        workers.add("a")
        assert seen["a"].wait(5) and until(lambda: workers.done == 1)  # the worker is idle now
        workers.add("b")
        assert seen["b"].wait(5), "b waited for the block's end (the pipeline stalls)"


def test_once_an_item_failed_no_worker_begins_a_queued_one():
    gate_a, gate_b, begun, worked = threading.Event(), threading.Event(), threading.Event(), []

    def work(item):
        worked.append(item)
        if item == "b":
            begun.set()
            assert gate_b.wait(10)
        if item == "a":
            assert gate_a.wait(10)
            raise StoreError("a failed", "containers")

    with pytest.raises(StoreError, match="a failed"):
        with _store_containers.Workers(work, 2, "two") as workers:
            workers.add("b")
            assert begun.wait(5)
            workers.add("a")
            assert until(lambda: "a" in worked)
            workers.add("c")  # queued: both workers busy
            gate_a.set()
            assert until(lambda: workers.failed)
            gate_b.set()  # b's worker ends b and must not take c
    assert "c" not in worked, worked


def test_the_block_s_own_exception_is_raised_not_a_workers():
    def work(item):
        raise StoreError("copy failed", "containers")

    with pytest.raises(KeyError):
        with _store_containers.Workers(work, 1, "one") as workers:
            workers.add(1)
            assert until(lambda: workers.failed)
            raise KeyError("the create failed")


def several(tmp_path, monkeypatch, runner, n):
    conv, records = three(tmp_path, monkeypatch, runner)
    for i in range(3, n):
        r = json.loads(json.dumps(records[0]))
        r["inspect"]["Id"], r["inspect"]["Name"] = "a%d" % i, "/c%d" % i
        r.update(name="c%d" % i, id="a%d" % i, upper="/d/overlay2/a%d/diff" % i)
        records.append(r)
    return conv, records


def test_four_layers_are_copied_at_once(tmp_path, monkeypatch):
    together = threading.Barrier(4, timeout=5)
    count = []

    def runner(argv):
        if argv[0] == "rsync" and "--dry-run" not in argv:
            count.append(1)
            if len(count) <= 4:
                together.wait()  # BrokenBarrierError unless four copies run at once
        return 0, "mount -o upperdir=/c/%s/fs\n" % argv[-1] if "mounts" in argv else "", ""
    conv, records = several(tmp_path, monkeypatch, runner, 5)
    conv.recreate(records, {}, "containerd")
    assert len(count) == 5


def test_the_journal_names_the_first_container_about_to_be_made_before_its_create_and_keeps_the_rest(
        tmp_path, monkeypatch):
    conv, records = three(tmp_path, monkeypatch, lambda argv: (
        0, "mount -o upperdir=/c/x/fs\n" if "mounts" in argv else "", ""))
    conv.journal["made"] = {"classic": {"old": {"id": "o1", "at": 1}}}
    post, seen = conv.client.post, []

    def first(path, params=None, body=None):
        if path.endswith("/create") and not seen:
            seen.append(json.loads(open(conv.jpath).read())["made"])
        return post(path, params, body)
    conv.client.post = first
    conv.recreate(records, {}, "containerd")
    assert seen == [{"classic": {"old": {"id": "o1", "at": 1}}, "containerd": {"c0": {"id": None, "at": 1767225600}}}], \
        seen


def test_each_layer_goes_to_its_own_new_container_queued_only_once_that_container_is_made(tmp_path, monkeypatch):
    copies = []

    def runner(argv):
        if argv[0] == "rsync" and "--dry-run" not in argv:
            copies.append((argv[-2].split("/")[-3], argv[-1]))
        return 0, "mount -o upperdir=/c/%s/fs\n" % argv[-1] if "mounts" in argv else "", ""
    conv, records = three(tmp_path, monkeypatch, runner)
    post, made = conv.client.post, iter(range(3))

    def slow_create(path, params=None, body=None):
        post(path, params, body)
        if path.endswith("/create"):
            i = next(made)
            time.sleep(0.2)  # a copy queued before its create returned would begin now
            conv.client.answers["/containers/n%d/json" % i] = {"Id": "n%d" % i}
            return {"Id": "n%d" % i}
        return {"Id": "new"}
    conv.client.post = slow_create
    conv.recreate(records, {}, "containerd")
    assert sorted(copies) == [("a%d" % i, "/c/n%d/fs/" % i) for i in range(3)], copies


def test_the_carry_tags_go_after_the_start_and_also_when_the_verification_fails(tmp_path, monkeypatch):
    for running_after in (True, False):
        sub = tmp_path / str(running_after)
        sub.mkdir()
        conv, _path, log = whole(sub, monkeypatch, running_after=running_after)
        conv.client.answers["/images/json"] = [dict(conv.client.answers["/images/json"][0], RepoTags=[
            "seed/app:2", "dockyard-migrate-untagged:zz"])]
        try:
            conv.run()
        except StoreError:
            assert not running_after
        drops = [i for i, e in enumerate(log) if e[:2] == ("DELETE", "/images/dockyard-migrate-untagged:zz")]
        assert drops and min(drops) > log.index(("POST", "/containers/new/start")), log


def test_the_import_keeps_the_unused_images_without_a_tag_and_counts_each_kind(tmp_path, monkeypatch):
    conv, _p, _r, _runs = conversion(tmp_path, CONTAINERD, "containerd")

    class FakeArchive:
        def __init__(self, names, drop, aliases=None):
            pass

        def size(self):
            return 1

        def write(self, fd, tick):
            os.write(fd, b"x")
    monkeypatch.setattr(_layer_store, "Archive", FakeArchive)
    log = ctr_log(tmp_path, monkeypatch, conv)
    real = _stores.ctr_argv
    monkeypatch.setattr(_stores, "ctr_argv", lambda s, *a: ["tee", os.devnull] if a[:2] == ("images", "import")
                        else real(s, *a))
    untagged = json.loads(json.dumps(dict(CARRY, **UNUSED)))
    conv.import_into_containerd(["seed/app:2"], untagged)
    assert ["rm", "docker.io/library/dockyard-migrate-untagged:b2"] in log, log
    assert untagged["sha256:b2"]["id"] == "sha256:t2"
    acts = conv.result["actions"]
    assert "imported 1 images without a tag that containers use, each under a tag of its own until the conversion " \
        "is done" in acts and "imported 1 images without a tag that no container uses, kept without one" in acts, acts


def test_an_image_without_a_tag_loaded_into_the_classic_store_is_found_by_its_config_digest(tmp_path):
    conv, _p, _r, _runs = conversion(tmp_path, CONTAINERD, "classic")
    conv.client.answers["/images/json"] = [{"Id": "sha256:c1", "RepoTags": []}]
    conv.check_tags({"tags": [], "tag_layers": {}, "untagged": {"sha256:m1": {
        "name": "moby-dangling@sha256:m1", "config": "sha256:c1", "unused": True}}}, "containerd")


# ---------------------------------------------------------------- the exited state, for Docker's next start
EXITED = {"HasBeenStartedBefore": True, "HasBeenManuallyStopped": True, "RestartCount": 2, "Driver": "overlay2",
          "State": {"Running": False, "ExitCode": 3, "Error": "", "StartedAt": "2026-12-01T10:00:00Z",
                    "FinishedAt": "2026-12-01T11:00:00Z", "OOMKilled": False, "Pid": 0}}
CREATED = {"HasBeenStartedBefore": False, "Driver": "overlayfs", "Name": "/spare",
           "State": {"Running": False, "ExitCode": 0, "StartedAt": "0001-01-01T00:00:00Z",
                     "FinishedAt": "0001-01-01T00:00:00Z", "Pid": 0}}


def test_the_exited_state_is_given_only_to_a_container_made_again_of_one_that_ran_and_ended():
    given = _store_containers.exit_state(EXITED, CREATED)
    assert given["State"] == dict(CREATED["State"], ExitCode=3, Error="", StartedAt="2026-12-01T10:00:00Z",
                                  FinishedAt="2026-12-01T11:00:00Z", OOMKilled=False)
    assert (given["HasBeenStartedBefore"], given["HasBeenManuallyStopped"], given["RestartCount"]) == (True, True, 2)
    assert given["Driver"] == "overlayfs" and given["Name"] == "/spare"  # the new store's own, kept
    assert _store_containers.exit_state(dict(EXITED, HasBeenStartedBefore=False), CREATED) is None  # only created
    assert _store_containers.exit_state(dict(EXITED, State=dict(EXITED["State"], Running=True)), CREATED) is None
    assert _store_containers.exit_state(EXITED, dict(CREATED, HasBeenStartedBefore=True)) is None  # ran since


def test_the_exited_state_is_written_once_the_conversion_is_done_for_the_stopped_containers_only(tmp_path):
    conv, _path, root, _runs = conversion(tmp_path, CONTAINERD, "containerd")
    conv.root = str(root)
    records = []
    for name, running, started in (("spare", False, False), ("web", True, False), ("late", False, True)):
        for cid, conf in (("o-" + name, EXITED), ("n-" + name, CREATED)):
            (root / "containers" / cid).mkdir()
            (root / "containers" / cid / "config.v2.json").write_text(json.dumps(conf))
        conv.client.answers["/containers/n-%s/json" % name] = {"State": {
            "Running": running, "StartedAt": "2026-12-08T04:00:00Z" if started else "0001-01-01T00:00:00Z"}}
        records.append({"name": name, "id": "o-" + name, "new_id": "n-" + name, "running": running})
    records.append({"name": "failed", "id": "o-failed", "running": False})  # never made: nothing to give
    before = dict((n, (root / "containers" / ("n-" + n) / "config.v2.json").read_text()) for n in ("web", "late"))
    assert conv.give_exit_states(records) == ["spare"]
    spare = json.loads((root / "containers" / "n-spare" / "config.v2.json").read_text())
    assert spare["State"]["ExitCode"] == 3 and spare["HasBeenStartedBefore"] is True
    assert dict((n, (root / "containers" / ("n-" + n) / "config.v2.json").read_text()) for n in before) == before
    assert "gave 1 containers that had run and ended that state (spare)" in conv.result["actions"][-1]


def test_the_exited_state_is_given_after_the_verification_and_before_the_journal_says_done(tmp_path, monkeypatch):
    conv, _path, log = whole(tmp_path, monkeypatch)
    seen = []
    monkeypatch.setattr(type(conv), "give_exit_states", lambda self, containers: seen.append(
        (json.loads(open(self.jpath).read())["phase"], [c["name"] for c in containers])))
    conv.run()
    assert seen == [("verify", ["web"])], seen


# ---------------------------------------------------------------- more, from a mutation audit


def test_an_exit_state_keeps_a_container_that_ended_by_itself_not_stopped_by_hand():  # C11
    given = _store_containers.exit_state(dict(EXITED, HasBeenManuallyStopped=False), CREATED)
    assert given["HasBeenManuallyStopped"] is False  # an always container then restarts at Docker's next start
    assert _store_containers.exit_state(dict(EXITED, HasBeenManuallyStopped=None), CREATED)[
        "HasBeenManuallyStopped"] is False


@pytest.mark.parametrize("flag", ["Paused", "Restarting"])
def test_no_exit_state_is_given_of_one_paused_or_restarting(flag):  # C12
    assert _store_containers.exit_state(dict(EXITED, State=dict(EXITED["State"], **{flag: True})), CREATED) is None


def test_a_worker_thread_that_cannot_start_is_not_joined_and_its_error_is_raised(monkeypatch):  # C6
    real, calls = threading.Thread.start, []

    def start(self):
        calls.append(self)
        if len(calls) == 2:
            raise RuntimeError("can't start new thread")
        return real(self)
    monkeypatch.setattr(_store_containers.threading.Thread, "start", start)
    with pytest.raises(RuntimeError, match="can't start new thread"):
        with _store_containers.Workers(lambda item: None, 2, "two") as workers:
            workers.add(1)
            workers.add(2)
    assert len(calls) == 2


def test_both_stores_are_flushed_with_the_full_time_limit(tmp_path, monkeypatch):  # V3, V5
    conv, _path, _log = whole(tmp_path, monkeypatch)
    croot = tmp_path / "containerd-root"
    croot.mkdir()
    monkeypatch.setattr(_store_plan, "CONTAINERD_ROOT", str(croot))
    calls = []
    monkeypatch.setattr(conv.host, "sync", lambda paths, timeout=60: calls.append((list(paths), timeout)))
    conv.run()
    assert calls and all(c == ([conv.root, str(croot)], 60) for c in calls), calls


def test_the_exit_states_are_written_before_the_last_flush(tmp_path, monkeypatch):  # V7
    conv, _path, log = whole(tmp_path, monkeypatch)
    monkeypatch.setattr(type(conv), "give_exit_states", lambda self, containers: log.append(("give",)) or [])
    conv.run()
    names = [e[0] for e in log]
    assert names.index("give") < len(names) - 1 - names[::-1].index("sync"), log


def test_a_resumed_start_that_fails_still_takes_the_carry_tags_away(tmp_path, monkeypatch):  # V4
    monkeypatch.setattr(_stores, "containerd_socket", lambda: "/run/c.sock")
    conv, _path, root, _runs = conversion(tmp_path, CONTAINERD, "containerd")
    conv.client.ping = lambda: True
    record = {"name": "web", "id": "a1", "inspect": container("a1", "web"), "running": True, "new_id": "n1",
              "ref": "seed/app:2", "layers": [], "upper": "/d/overlay2/x/diff"}
    journal(root, phase="start", target="containerd", daemon_json_before="{}", containers=[record],
            tags=["seed/app:2"], masked=[])
    dropped = []
    monkeypatch.setattr(_store_convert.Conversion, "drop_carry_tags", lambda self: dropped.append(True))

    def no_start(self, containers):
        raise StoreError("web did not start", "start")
    monkeypatch.setattr(_store_convert.Conversion, "start_containers", no_start)
    with pytest.raises(StoreError, match="web did not start"):
        conv.run()
    assert dropped == [True]


class Ctr:
    socket = "/run/c.sock"

    def __init__(self, rc, out):
        self.rc, self.out = rc, out

    def runner(self, argv):
        return self.rc, self.out, ""


def test_an_image_without_a_tag_a_container_uses_is_refused_when_its_content_is_not_whole():  # P6
    problems = []
    partial = _store_plan.whole_content(Ctr(0, CHECK), "containerd", [{"Id": "sha256:m3", "RepoTags": [
        "<none>:<none>"]}], ["sha256:m3"], problems)
    assert partial == {"sha256:m2", "sha256:m3"} and len(problems) == 1
    assert "images m3 (ctr images check)" in problems[0], problems


def test_a_digest_is_whole_when_any_of_its_names_is_whatever_the_order():  # P8
    out = CHECK.splitlines()[0] + "\nseed2 application/x sha256:m2 complete (3/3) 1 MiB true\n" + \
        "\n".join(CHECK.splitlines()[1:]) + "\n"
    assert _store_plan.incomplete(Ctr(0, out)) == {"sha256:m3"}


def test_an_image_whose_id_the_classic_store_refuses_is_unreadable(monkeypatch):  # P13
    def archive(names, drop, **kw):
        raise ValueError("not an image ID")
    monkeypatch.setattr(_store_plan._layer_store, "Archive", archive)
    assert _store_plan.readable("sha256:zz") is False
    assert _store_plan.unused(None, "classic", ["sha256:zz"]) == ({}, ["sha256:zz"])


def test_a_flush_that_hangs_keeps_only_a_daemon_thread(monkeypatch):  # L1
    release, threads = threading.Event(), []
    monkeypatch.setattr(_copy, "flush", lambda path: threads.append(threading.current_thread()) or release.wait(10))
    assert _local.Files().sync(["/a"], timeout=0.2) == "not done within 0.2 s"
    assert threads and threads[0].daemon and threads[0].is_alive()  # never holds up the interpreter's exit
    release.set()


def test_what_a_failing_check_printed_is_believed_line_by_line():
    """ctr images check fails when one image's check does, after printing the table: each line counts."""
    assert _store_plan.incomplete(Ctr(1, CHECK)) == {"sha256:m2", "sha256:m3"}


def test_a_container_is_taken_for_one_this_run_made_only_when_created_just_after_it_was_recorded():
    journal_now = {"made": {"containerd": {"web": {"id": None, "at": 1000}}}, "sources": {}}
    assert _store_plan.made_here(journal_now, "containerd", "web", "x1", 1000)
    assert _store_plan.made_here(journal_now, "containerd", "web", "x1", 1000 + _store_plan.MADE_WITHIN)
    assert not _store_plan.made_here(journal_now, "containerd", "web", "x1", 999)  # there before
    assert not _store_plan.made_here(journal_now, "containerd", "web", "x1", 1001 + _store_plan.MADE_WITHIN)


@pytest.mark.parametrize("policy, exit_code, by_hand, count, started", [
    ("always", 0, True, 0, True), ("unless-stopped", 0, False, 0, True), ("unless-stopped", 0, True, 0, False),
    ("on-failure", 1, True, 0, True), ("on-failure", 0, False, 0, False), ("on-failure:3", 1, False, 3, False),
    ("on-failure:3", 1, False, 2, True), ("no", 1, False, 0, False)])
def test_the_containers_docker_starts_at_its_next_start_follow_its_own_rule(
        tmp_path, policy, exit_code, by_hand, count, started):
    name, _sep, most = policy.partition(":")
    (tmp_path / "containers" / "c1").mkdir(parents=True)
    (tmp_path / "containers" / "c1" / "config.v2.json").write_text(json.dumps({
        "HasBeenStartedBefore": True, "HasBeenManuallyStopped": by_hand, "RestartCount": count}))
    c = {"Id": "c1", "Name": "/c1", "State": {"Status": "exited", "ExitCode": exit_code},
         "HostConfig": {"RestartPolicy": {"Name": name, "MaximumRetryCount": int(most or 0)}}}
    assert _store_plan.restarted(str(tmp_path), [c]) == (["c1"] if started else [])
    created = dict(c, State={"Status": "created", "ExitCode": 0})
    assert _store_plan.restarted(str(tmp_path), [created]) == []  # never started: Docker leaves it


def test_a_switch_back_starts_the_containers_that_ran_and_names_one_removed_since(tmp_path, monkeypatch):
    conv, _path, _root, _runs = conversion(tmp_path, CLASSIC, "containerd")
    conv.client.answers["/containers/a1/json"] = {"State": {"Running": False}}
    conv.client.answers["/containers/b2/json"] = {"State": {"Running": True}}
    get = conv.client.get

    def inspect(path, params=None):
        if path == "/containers/c3/json":
            raise _docker_api.DockerAPIError(404, "No such container: c3", "GET", path)
        return get(path, params)
    conv.client.get = inspect
    records = [{"id": i, "name": n} for i, n in (("a1", "web"), ("b2", "db"), ("c3", "job"))]
    assert conv.not_running(records) == [records[0]] and conv.result["not_started"] == ["job"]


def test_a_container_of_the_new_store_already_gone_is_no_failure_of_its_replacement(tmp_path, monkeypatch):
    """One an earlier conversion left under a name (a --rm one Docker removed at its start since): its DELETE's 404
    means it is gone already; another error is raised."""
    conv, records = three(tmp_path, monkeypatch, lambda argv: (0, MOUNTS if "mounts" in argv else "", ""))
    conv.root = str(tmp_path / "docker")  # the test's own, never the machine's
    deleted = []

    def delete(path, params=None):
        deleted.append(path)
        raise _docker_api.DockerAPIError(404, "No such container", "DELETE", path)
    conv.client.delete = delete
    conv.recreate(records, {"c0": "old0"}, "containerd")
    assert deleted == ["/containers/old0"] and all(r.get("new_id") for r in records)
    os.makedirs(os.path.join(conv.docker_root(), "containers", "old0"))  # there, but Docker did not load it
    with pytest.raises(_docker_api.DockerAPIError, match="No such container"):
        conv.recreate(records, {"c0": "old0"}, "containerd")

    def broken(path, params=None):
        raise _docker_api.DockerAPIError(500, "engine broken", "DELETE", path)
    conv.client.delete = broken
    with pytest.raises(_docker_api.DockerAPIError, match="engine broken"):
        conv.recreate(records, {"c0": "old0"}, "containerd")


@pytest.mark.parametrize("boot", ["same", "other"])
def test_a_rerun_after_the_last_flush_failed_starts_again_only_after_a_boot(tmp_path, monkeypatch, boot):
    """Verified in this boot: the rerun only flushes and records done.  After a boot (which started only the
    containers with a restart policy) it starts the containers that ran again, without verifying anew."""
    conv, _path, log = whole(tmp_path, monkeypatch)
    answers = [None, "not done within 60 s", None]
    monkeypatch.setattr(conv.host, "sync", lambda paths, timeout=60: answers.pop(0))
    with pytest.raises(StoreError, match="the conversion is not recorded done"):
        conv.run()
    assert json.loads(open(conv.jpath).read())["verified"] == "boot-1"
    conv.result = {"changed": False, "actions": []}
    conv.client.ping = lambda: True
    if boot == "other":
        conv.host.boot = "boot-2"
        conv.client.answers["/containers/new/json"]["State"] = {"Running": False}  # the boot left it stopped
    starts = log.count(("POST", "/containers/new/start"))
    verified = []
    monkeypatch.setattr(type(conv), "verify", lambda self, plan: verified.append(True))
    res = conv.run()
    assert res["store_after"] == "containerd" and verified == [], res
    assert log.count(("POST", "/containers/new/start")) == starts + (1 if boot == "other" else 0), log
