# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import shutil
import threading
import time

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _failpoints, _relocate

BASE = dict(path="/mnt/data/docker", method="bind", containerd="auto", containerd_path=None, source="keep",
            two_phase=True, margin="5%", stop_timeout=120, verify_timeout=90, rsync_opts=[],
            status_file=None, daemon_json="/etc/docker/daemon.json", fstab="/etc/fstab")


def reloc(**kw):
    p = dict(BASE)
    p.update(kw)
    return _relocate.Relocation(p, client=None, runner=None)


@pytest.mark.parametrize("kw,match", [
    (dict(path="docker"), "path 'docker' must be an absolute path"),
    (dict(path="/"), "path / cannot be"),
    (dict(method="copy"), "method 'copy' is not one of bind, daemon_json"),
    (dict(containerd="sometimes"), "containerd 'sometimes' is not one of"),
    (dict(source="shred"), "source 'shred' is not one of keep, remove"),
    (dict(containerd_path="rel/ctd"), "containerd_path 'rel/ctd' must be an absolute path"),
    (dict(margin="plenty"), "margin 'plenty'"),
    (dict(rsync_opts=["--remove-source-files"]), "rsync_opts entry '--remove-source-files'"),
    (dict(rsync_opts=["not-an-option"]), "rsync_opts entry 'not-an-option'"),
    (dict(online_passes=0), "online_passes must be 1 or more"),
    (dict(final_copy="some"), "final_copy 'some' is not one of mutable, full"),
])
def test_bad_options_are_refused_before_anything(kw, match):
    with pytest.raises(_relocate.RelocationError, match=match) as exc:
        reloc(**kw).validate_options()
    assert exc.value.phase == "preflight"


def facts(store=False, root="/var/lib/docker"):
    return {"config": {"configured_root": root}, "containerd": {"root": "/var/lib/containerd", "image_store": store}}


def test_plan_bind_moves_only_docker_without_the_containerd_store():
    moves = reloc().plan_moves(facts())
    assert [(m.name, m.source, m.target, m.switch, m.service_root) for m in moves] == [
        ("docker", "/var/lib/docker", "/mnt/data/docker", "bind", "/var/lib/docker")]


def test_plan_moves_containerd_with_the_store_beside_the_target():
    moves = reloc(method="daemon_json").plan_moves(facts(store=True))
    assert [(m.name, m.target, m.switch, m.service_root) for m in moves] == [
        ("docker", "/mnt/data/docker", "daemon_json", "/mnt/data/docker"),
        ("containerd", "/mnt/data/containerd", "bind", "/var/lib/containerd")]


@pytest.mark.parametrize("mode,store,count", [("never", True, 1), ("always", False, 2), ("auto", False, 1)])
def test_containerd_modes(mode, store, count):
    assert len(reloc(containerd=mode, containerd_path="/srv/ctd").plan_moves(facts(store=store))) == count


def test_marker_sits_beside_the_target():
    assert _relocate.marker_path("/mnt/data/docker/") == "/mnt/data/.docker.dockyard-migrate.json"


def test_inside():
    assert _relocate.inside("/var/lib/docker/x", "/var/lib/docker")
    assert _relocate.inside("/var/lib/docker", "/var/lib/docker/")
    assert not _relocate.inside("/var/lib/docker2", "/var/lib/docker")


def test_dropin_requires_the_mount():
    assert "RequiresMountsFor=/var/lib/docker\n" in _relocate.dropin_text("/var/lib/docker")


def test_config_texts_show_fstab_daemon_json_and_dropin(tmp_path):
    fstab = tmp_path / "fstab"
    fstab.write_text("# keep me\n")
    dj = tmp_path / "daemon.json"
    dj.write_text(json.dumps({"log-driver": "journald"}))
    r = reloc(method="daemon_json", fstab=str(fstab), daemon_json=str(dj))
    r.moves = r.plan_moves(facts())
    before, after = r.config_texts()
    assert after[str(fstab)] == "# keep me\n"
    assert json.loads(after[str(dj)]) == {"log-driver": "journald", "data-root": "/mnt/data/docker"}
    dropin = "/etc/systemd/system/docker.service.d/dockyard-data-root.conf"
    assert "RequiresMountsFor=/mnt/data/docker" in after[dropin]
    r = reloc(fstab=str(fstab), daemon_json=str(dj))
    r.moves = r.plan_moves(facts())
    before, after = r.config_texts()
    assert after[str(fstab)] == "# keep me\n/mnt/data/docker /var/lib/docker none bind 0 0\n"
    assert after[str(dj)] == before[str(dj)]


def test_docker_shims_reads_proc(tmp_path):
    for pid, argv in ((10, [b"/usr/bin/containerd-shim-runc-v2", b"-namespace", b"moby", b"-id", b"abc"]),
                      (11, [b"/usr/bin/containerd-shim-runc-v2", b"-namespace", b"k8s.io"]),
                      (12, [b"/usr/sbin/sshd", b"moby"])):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "cmdline").write_bytes(b"\0".join(argv) + b"\0")
    (tmp_path / "self").mkdir()
    assert _relocate.docker_shims(str(tmp_path)) == [10]


def test_lock_keeps_a_second_run_off(tmp_path, monkeypatch):
    monkeypatch.setattr(_relocate, "LOCK_PATH", str(tmp_path / "lock"))
    first = reloc().lock()
    try:
        with pytest.raises(_relocate.RelocationError, match="another data-root move is running") as exc:
            reloc().lock()
        assert exc.value.phase == "lock"
        assert "pid" in open(str(tmp_path / "lock")).read()
    finally:
        first.close()
    reloc().lock().close()


def _layer(root, chain, cache_id, text):
    db = root / "image" / "overlay2" / "layerdb" / "sha256" / chain
    db.mkdir(parents=True)
    (db / "cache-id").write_text(cache_id)
    (root / "overlay2" / cache_id / "diff").mkdir(parents=True)
    (root / "overlay2" / cache_id / "diff" / "f").write_text(text)


def _moving(tmp_path, **kw):
    src = tmp_path / "docker"
    _layer(src, "1" * 64, "a" * 64, "layer a")
    _layer(src, "2" * 64, "b" * 64, "layer b")
    (src / "volumes" / "v").mkdir(parents=True)
    (src / "volumes" / "v" / "data").write_text("rows")
    r = reloc(path=str(tmp_path / "data" / "docker"), online_passes=3, final_copy="mutable", **kw)
    r.moves = [_relocate.Move("docker", str(src), str(tmp_path / "data" / "docker"), "bind", str(src))]
    r.marker = {"version": _relocate.MARKER_VERSION, "phases_done": ["record"]}
    return r, src, tmp_path / "data" / "docker"


def test_online_passes_settle_the_layers_and_the_final_pass_skips_them(tmp_path):
    r, src, dst = _moving(tmp_path)
    r.phase_online_copy()
    first, second = r.result["passes"]
    assert first["engine"] == "tar" and second["walk"] == "mutable" and second["skipped_dirs"] == 2
    # The second pass found next to nothing to move and was quick: no third pass.
    assert r.result["online_passes"] == 2
    assert r.marker["settled"] == {"docker": ["overlay2/%s/diff" % ("a" * 64), "overlay2/%s/diff" % ("b" * 64)]}
    on_disk = json.load(open(_relocate.marker_path(str(dst))))
    assert on_disk["settled"] == r.marker["settled"] and "online_copy" in on_disk["phases_done"]
    # Between the phases: a volume changes, layer b is removed, layer c is added.
    (src / "volumes" / "v" / "data").write_text("more rows")
    shutil.rmtree(str(src / "overlay2" / ("b" * 64)))
    shutil.rmtree(str(src / "image" / "overlay2" / "layerdb" / "sha256" / ("2" * 64)))
    _layer(src, "3" * 64, "c" * 64, "layer c")
    (dst / "overlay2" / ("a" * 64) / "diff" / "f").write_text("untouched by a walk")
    r.phase_final_copy()
    final = r.result["passes"][-1]
    assert final["phase"] == "final_copy" and final["walk"] == "mutable" and final["skipped_dirs"] == 1
    assert (dst / "volumes" / "v" / "data").read_text() == "more rows"
    assert not (dst / "overlay2" / ("b" * 64)).exists()
    assert (dst / "overlay2" / ("c" * 64) / "diff" / "f").read_text() == "layer c"
    assert (dst / "overlay2" / ("a" * 64) / "diff" / "f").read_text() == "untouched by a walk"


def test_final_copy_full_walks_everything(tmp_path):
    r, src, dst = _moving(tmp_path)
    r.p["final_copy"] = "full"
    r.phase_online_copy()
    assert all(p["walk"] == "full" for p in r.result["passes"][1:])
    (dst / "overlay2" / ("a" * 64) / "diff" / "f").write_text("mended by a full walk")
    r.phase_final_copy()
    assert r.result["passes"][-1]["walk"] == "full"
    assert (dst / "overlay2" / ("a" * 64) / "diff" / "f").read_text() == "layer a"


def test_final_copy_without_a_finished_online_pass_walks_everything(tmp_path):
    r, src, dst = _moving(tmp_path)
    r.marker["settled"] = {"docker": ["overlay2/%s/diff" % ("a" * 64)]}  # recorded, but the pass never finished
    r.copy_pass("online_copy", True)
    (dst / "overlay2" / ("a" * 64) / "diff" / "f").write_text("stale")
    r.phase_final_copy()
    assert r.result["passes"][-1]["walk"] == "full"
    assert (dst / "overlay2" / ("a" * 64) / "diff" / "f").read_text() == "layer a"


def test_pause_waits_until_its_file_is_removed(tmp_path):
    flag = tmp_path / "paused.after_online_copy"
    released = []

    def release():
        for _attempt in range(100):
            if flag.exists():
                released.append(time.time())
                flag.unlink()
                return
            time.sleep(0.05)

    t = threading.Thread(target=release)
    t.start()
    _failpoints.pause("after_online_copy", limit=10, pause_dir=str(tmp_path))
    t.join()
    assert released and not flag.exists()
