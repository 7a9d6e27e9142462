# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import threading
import time

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _fileops, _journal, _move, _passes, _switches, _testhooks)
from ansible_collections.dockyard.migrate.plugins.module_utils._transaction import Relocation

from fake_host import context  # pylint: disable=import-error
from overlay_tree import add_layer  # pylint: disable=import-error


def _moving(tmp_path, **kw):
    src = tmp_path / "docker"
    add_layer(src, "1" * 64, "a" * 64, {"f": "layer a"})
    add_layer(src, "2" * 64, "b" * 64, {"f": "layer b"})
    (src / "volumes" / "v").mkdir(parents=True)
    (src / "volumes" / "v" / "data").write_text("rows")
    dst = tmp_path / "data" / "docker"
    params = dict(path=str(dst), online_passes=3, final_copy="mutable", status_file=None)
    params.update(kw)
    r = Relocation(context(params, moves=[_move.Move("docker", str(src), str(dst), _switches.make("bind"), str(src))]))
    r.ctx.journal.start(time.time(), "bind")
    r.ctx.journal["phases_done"] = ["record"]
    return r, src, dst


def test_online_passes_settle_the_layers_and_the_final_pass_skips_them(tmp_path):
    r, src, dst = _moving(tmp_path)
    r.phase_online_copy()
    first, second = r.ctx.result["passes"]
    assert first["engine"] == "tar" and second["walk"] == "mutable" and second["skipped_dirs"] == 2
    # The second pass found next to nothing to move and was quick: no third pass.
    assert r.ctx.result["online_passes"] == 2
    assert r.ctx.journal["settled"] == {"docker": ["overlay2/%s/diff" % ("a" * 64), "overlay2/%s/diff" % ("b" * 64)]}
    on_disk = json.load(open(_journal.marker_path(str(dst))))
    assert on_disk["settled"] == r.ctx.journal["settled"] and "online_copy" in on_disk["phases_done"]
    # Between the phases: a volume changes, layer b is removed, layer c is added.
    (src / "volumes" / "v" / "data").write_text("more rows")
    shutil.rmtree(str(src / "overlay2" / ("b" * 64)))
    shutil.rmtree(str(src / "image" / "overlay2" / "layerdb" / "sha256" / ("2" * 64)))
    add_layer(src, "3" * 64, "c" * 64, {"f": "layer c"})
    (dst / "overlay2" / ("a" * 64) / "diff" / "f").write_text("untouched by a walk")
    r.phase_final_copy()
    final = r.ctx.result["passes"][-1]
    assert final["phase"] == "final_copy" and final["walk"] == "mutable" and final["skipped_dirs"] == 1
    assert (dst / "volumes" / "v" / "data").read_text() == "more rows"
    assert not (dst / "overlay2" / ("b" * 64)).exists()
    assert (dst / "overlay2" / ("c" * 64) / "diff" / "f").read_text() == "layer c"
    assert (dst / "overlay2" / ("a" * 64) / "diff" / "f").read_text() == "untouched by a walk"


def test_final_copy_full_walks_everything(tmp_path):
    r, src, dst = _moving(tmp_path, final_copy="full")
    r.phase_online_copy()
    assert all(p["walk"] == "full" for p in r.ctx.result["passes"][1:])
    (dst / "overlay2" / ("a" * 64) / "diff" / "f").write_text("mended by a full walk")
    r.phase_final_copy()
    assert r.ctx.result["passes"][-1]["walk"] == "full"
    assert (dst / "overlay2" / ("a" * 64) / "diff" / "f").read_text() == "layer a"


def test_final_copy_without_a_finished_online_pass_walks_everything(tmp_path):
    r, src, dst = _moving(tmp_path)
    r.ctx.journal["settled"] = {"docker": ["overlay2/%s/diff" % ("a" * 64)]}  # recorded, but the pass never finished
    r.ctx.passes.run("online_copy", True)
    (dst / "overlay2" / ("a" * 64) / "diff" / "f").write_text("stale")
    r.phase_final_copy()
    assert r.ctx.result["passes"][-1]["walk"] == "full"
    assert (dst / "overlay2" / ("a" * 64) / "diff" / "f").read_text() == "layer a"


def test_pause_waits_until_its_file_is_removed(tmp_path):
    flag = tmp_path / "paused.after_online_copy"
    released = []

    def release():
        for _attempt in range(100):
            if flag.exists():
                time.sleep(0.3)  # the paused run must still be waiting now
                released.append(time.time())
                flag.unlink()
                return
            time.sleep(0.05)

    t = threading.Thread(target=release)
    t.start()
    _testhooks.pause("after_online_copy", limit=10, pause_dir=str(tmp_path))
    returned = time.time()
    t.join()
    assert released and not flag.exists()
    assert returned >= released[0]


def test_differences_compare_contents_not_times(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f").write_text("abcdef")
    (src / "g").write_text("same")
    shutil.copytree(str(src), str(dst), symlinks=True)
    assert _passes.differences(str(src), str(dst)) == []
    st = (src / "d" / "f").stat()
    (dst / "d" / "f").write_text("abcdeX")  # same size, same time: only the contents tell
    os.utime(str(dst / "d" / "f"), ns=(st.st_atime_ns, st.st_mtime_ns))
    (dst / "g").unlink()
    (dst / "extra").write_text("x")
    os.utime(str(dst / "d"), (0, 0))  # a directory time alone is no difference
    diff = _passes.differences(str(src), str(dst))
    assert sorted(line.split()[-1] for line in diff) == ["d/f", "extra", "g"], diff


def test_remove_tree_is_killed_part_way_at_the_failpoint(tmp_path, monkeypatch):
    root = tmp_path / "orig"
    for name in ("a", "b", "c"):
        (root / name).mkdir(parents=True)
        (root / name / "f").write_text(name)
    (root / "z").write_text("file")
    seen = []
    monkeypatch.setattr(_testhooks, "reached", lambda point: seen.append((point, sorted(os.listdir(str(root))))))
    _fileops.remove_tree(str(root), lambda: _testhooks.reached("during_source"))
    assert seen == [("during_source", ["b", "c", "z"])] and not root.exists()


def test_the_window_is_entered_only_when_the_time_limit_covers_it(tmp_path):
    from ansible_collections.dockyard.migrate.plugins.module_utils import _options
    opts = _options.Options({"target": str(tmp_path / "t"), "stop_timeout": 20, "verify_timeout": 10})
    moves = [_move.Move("docker", str(tmp_path / "s"), str(tmp_path / "t"), _switches.make("bind"))]
    result = {"passes": [{"phase": "online_copy", "seconds": 500.0}, {"phase": "online_copy", "seconds": 7.0}]}
    passes = _passes.Passes(opts, moves, None, result)
    passes.check_time_left()  # no limit
    # The last pass (7 s) + 2 x 20 (the units, one root) + 2 x 10 = 67 s, and a rollback after it: a copy back as
    # long (7 s) and the same waits (60 s): 134 s fit in 140.
    passes.deadline = time.time() + 140
    passes.check_time_left()
    passes.deadline = time.time() + 120  # the window alone (67 s) fits; not with its rollback
    with pytest.raises(_move.RelocationError, match=r"leaves 120 s, and the offline phase may take up to 134 s with "
                                                    r"room for a rollback") as exc:
        passes.check_time_left()
    assert exc.value.phase == "stop" and exc.value.rolled_back is False
    opts.keep_source = False  # the content check reads it all once more
    passes.deadline = time.time() + 140
    with pytest.raises(_move.RelocationError, match=r"may take up to 141 s"):
        passes.check_time_left()
    result["passes"] = []  # two_phase=false: nothing measured; said, not guessed
    passes.check_time_left()
    assert "two_phase=false" in result["warnings"][0]


def test_a_throttled_move_makes_its_first_copy_with_rsync_at_the_chosen_priority(tmp_path):
    r, src, dst = _moving(tmp_path, bwlimit="100M", nice=7, ionice="best-effort:6", online_passes=1)
    r.phase_online_copy()
    first = r.ctx.result["passes"][0]
    assert first["engine"] == "rsync" and first["rc"] == 0
    cmd = first["command"]
    names = [os.path.basename(a) for a in cmd]
    assert names[:names.index("rsync")] == ["ionice", "-c", "2", "-n", "6", "nice", "-n", "7"]
    assert "--bwlimit=102400" in cmd
    assert (dst / "volumes" / "v" / "data").read_text() == "rows"
    assert (dst / "overlay2" / ("a" * 64) / "diff" / "f").read_text() == "layer a"


def test_the_tar_pipe_runs_both_tars_at_the_chosen_priority(tmp_path):
    r, src, dst = _moving(tmp_path, nice=3, online_passes=1)
    r.phase_online_copy()
    first = r.ctx.result["passes"][0]
    assert first["engine"] == "tar" and first["rc"] == 0
    create, extract = " ".join(first["command"]).split(" | ")
    for part in (create, extract):
        argv = part.split(" ")
        assert os.path.basename(argv[0]) == "nice" and argv[1:4] == ["-n", "3", "tar"]
    assert (dst / "volumes" / "v" / "data").read_text() == "rows"


def test_rsync_opts_bwlimit_also_holds_the_first_copy(tmp_path):
    r, src, dst = _moving(tmp_path, rsync_opts=["--bwlimit=50M"], online_passes=1)
    r.phase_online_copy()
    first = r.ctx.result["passes"][0]
    assert first["engine"] == "rsync" and "--bwlimit=50M" in first["command"]


def test_only_a_pass_while_docker_runs_is_cut_at_the_time_limit(tmp_path, monkeypatch):
    from ansible_collections.dockyard.migrate.plugins.module_utils import _copy, _options
    opts = _options.Options({"target": str(tmp_path / "t"), "copy_engine": "rsync"})
    deadline = time.time() + 5
    src, dst = tmp_path / "s", tmp_path / "t"
    src.mkdir()
    (src / "f").write_text("x")
    seen = []
    monkeypatch.setattr(_copy, "rsync", lambda *a, **kw: seen.append(kw["deadline"]) or {"seconds": 0})
    passes = _passes.Passes(opts, [_move.Move("docker", str(src), str(dst), _switches.make("bind"))], None,
                            {"passes": [], "bytes_copied": 0, "files_copied": 0}, deadline)
    for phase in ("online_copy", "final_copy", "copy_back"):
        passes.run(phase, phase == "online_copy")
    assert seen == [deadline, None, None]
