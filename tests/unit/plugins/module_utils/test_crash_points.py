# -*- coding: utf-8 -*-
"""Every crash point of a move, explored on a simulated host (sim_host.SimHost): a kill (SIGKILL) before each
change the move makes to the host, then nothing or a reboot after which Docker runs wherever the host points it
and a container writes, then the same move again.  It must converge: Docker serving the new root with every
image, container and volume, the write kept, the original kept, no unit left masked, and a further run changing
nothing.  The same for a move whose verification fails and that rolls back (killed in its rollback), a move with
keep_source=false, state=restored and state=cleaned.  The method is daemon_json: the simulated host has no mounts
(the bind method's crash points run on the sandbox fleet, make crash-matrix)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _cleanup, _copy, _journal, _move, _options, _restore, _rollback, _run, _switches, _transaction)

import explore  # pylint: disable=import-error
import sim_host  # pylint: disable=import-error

# The tmp_path of this file's tests that are not explorations: on the explorations' storage (explore.scratch).
scratch_tmp_path = explore.scratch_tmp_path


def params(machine):
    return {"target": os.path.join(machine, "mnt", "data", "docker"), "method": "daemon_json",
            "daemon_json": os.path.join(machine, "etc", "docker", "daemon.json"),
            "fstab": os.path.join(machine, "etc", "fstab"), "allow_same_filesystem": True,
            "containerd": "never", "verify_timeout": 5, "stop_timeout": 5,
            # One online pass: a second is the same kind of change before the window, and each costs an rsync.
            "online_passes": 1}


def move(host, state="moved", keep_source=True, check_mode=False):
    """One run of the data_root module (STATE moved or restored) on HOST; its result."""
    opts = _options.Options(dict(params(host.machine), state=state, keep_source=keep_source))
    ctx = _run.Run(opts, sim_host.SimClient(host), host.runner, host, _journal.Journal(opts.target, check_mode, host),
                   _copy.Status(None), check_mode=check_mode)
    return (_restore.Restore if state == "restored" else _transaction.Relocation)(ctx).run()


def inventory(root):
    """What the simulated Docker holds under ROOT, and the volume's files with their text."""
    names = dict((part, sorted(os.listdir(os.path.join(root, part)))) for part in ("image", "containers", "volumes"))
    data = os.path.join(root, "volumes", "site", "_data")
    return names, dict((n, open(os.path.join(data, n)).read()) for n in sorted(os.listdir(data)))


FAULT = "DOCKYARD_MIGRATE_FAULT"  # _testhooks: "verify" makes the verification fail, so the move rolls back


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A seeded machine, and how many changes an uninterrupted run makes to it: {fault: (count, changes)} for a
    move that succeeds (fault none) and one whose verification fails and that rolls back (fault verify)."""
    base = explore.scratch(tmp_path_factory, "sim")
    seeded = str(base / "seeded")
    sim_host.seed(seeded)
    counts = {}
    for fault in ("none", "verify", "remove"):
        machine = str(base / ("probe-" + fault))
        sim_host.install(seeded, machine)
        host = sim_host.SimHost(machine, str(base / ("lock-" + fault)))
        host.reboot()
        host.new_process()
        if fault == "verify":
            os.environ[FAULT] = fault
        try:
            if fault in ("none", "remove"):
                result = move(host, keep_source=fault != "remove")
                assert result["changed"] and host.root == params(machine)["target"], result
            else:
                with pytest.raises(_move.RelocationError) as exc:
                    move(host)
                assert exc.value.rolled_back and host.root == sim_host.default_root(machine), str(exc.value)
        finally:
            os.environ.pop(FAULT, None)
        counts[fault] = (host.count, list(host.changes))
    return seeded, counts


def kill_then(seeded, machine, lock, k, fault, then):
    """One case: the SEEDED machine installed at MACHINE, a move (with FAULT) killed before its change K, then
    THEN (nothing; a reboot after which Docker runs as the host points it and a container writes; or a key added
    to daemon.json, then that reboot), then the same move again, and once more.  Returns the name of the change the kill came before; raises AssertionError
    naming what the host shows wrong."""
    sim_host.install(seeded, machine)
    host = sim_host.SimHost(machine, lock)
    assert host.reboot()  # Docker serves the original
    before = inventory(host.root)
    host.new_process(kill_at=k)
    if fault == "verify":
        os.environ[FAULT] = fault
    try:
        with pytest.raises(sim_host.Killed) as killed:
            move(host, keep_source=fault != "remove")
    finally:
        os.environ.pop(FAULT, None)
    assert host.dead and host.count == host.kill_at, (host.count, host.kill_at)  # killed where it claims
    started = host.started_at
    perturb(host, then)
    # Docker started since on a root other than the new one, which lacks writes made there or may (unresolved).
    if then in UNGUARDED and host.started_at != started and host.root != params(machine)["target"] and (
            lacks(sim_host.volume(host.root), host.model) or unresolved(machine)):
        kept_both(host)
        return str(killed.value).rsplit("(", 1)[-1].rstrip(")")
    wrote = "late.txt" in host.model
    converged(host, before, wrote, keep_source=fault != "remove", stopped_by_hand=then in ("stopped", "unguarded-down"))
    if then == "edit":
        with open(host.daemon_json) as f:
            assert json.load(f).get("debug") is True, "the edit made to daemon.json was lost"
    return str(killed.value).rsplit("(", 1)[-1].rstrip(")")


def perturb(host, then):
    """What happens to HOST between a kill and the next run: THEN nothing; a reboot after which Docker runs as the
    host points it and a container writes; the same, then Docker stopped by hand (its containers write as it
    stops); a key added to daemon.json, then that reboot; daemon.json templated anew without data-root (a
    configuration-management run), then that reboot; templated and the drop-in removed by hand, then that reboot
    (nothing keeps Docker off the original); TWICE: the reboot, then a boot more with Docker left down.  A Docker
    left running by the kill has its containers write first."""
    if host.running:  # killed with Docker up: its containers go on writing
        host.write_in_a_container("killed.txt", "after the kill")
    if then == "edit":  # a key added to daemon.json meanwhile: no rollback may take it away
        host.edit_daemon_json(debug=True)
    if then in ("templated",) + UNGUARDED:
        host.template_daemon_json()
    if then in UNGUARDED:  # and the drop-in removed by hand: nothing keeps Docker off the original
        host.remove_dropin()
    if then in ("nothing", "unguarded-live"):  # no reboot: a Docker the kill left running goes on serving
        return
    if host.reboot():
        host.write_in_a_container("late.txt", "after the reboot")
        if then in ("stopped", "unguarded-down"):
            host.shut_down()
    if then in ("unguarded-down", "twice"):  # and a boot more, Docker left down: a start in the boot before is unseen
        host.reboot(start=False)


def lacks(files, model):
    """The last writes of the containers (MODEL) that FILES (a volume) lacks."""
    return dict((n, t) for n, t in model.items() if files.get(n) != t)


def unresolved(machine):
    """Whether the journal says Docker was started on the new root (recorded before the start) and not that what it
    wrote there was copied back: with Docker run on another root since (the drop-in gone), the host cannot tell
    whether that start happened, or that copy back finished, so both roots are kept, though one may hold nothing
    the other lacks (a kill between the record and the start, or between a copy back and its record)."""
    marker = _journal.marker_path(params(machine)["target"])
    if not os.path.exists(marker):
        return False
    with open(marker) as f:
        journal = json.load(f)
    return bool(journal.get("served")) and not journal.get("copied_back")


def tree(root):
    """Every file under ROOT with its content, to show that a run changed nothing there."""
    out = {}
    for d, _dirs, files in os.walk(root):
        for n in files:
            with open(os.path.join(d, n), "rb") as f:
                out[os.path.relpath(os.path.join(d, n), root)] = f.read()
    return out


def kept_both(host):
    """Docker serves a root without writes its containers made on the new root since the window started it there
    (the drop-in, removed by hand, no longer kept it off that root): the run must not copy either root over the
    other.  It refuses in preflight, with Docker running where it runs, both roots as they were, a message that
    names both, and so does the next run."""
    target = params(host.machine)["target"]
    served = host.root
    missing = lacks(sim_host.volume(served), host.model)
    assert all(sim_host.volume(target).get(n) == t for n, t in missing.items()), \
        "the writes %s are on neither root: %s" % (missing, sim_host.volume(target))
    trees = tree(target), tree(served)
    for _run_again in range(2):
        host.new_process()
        try:
            result = move(host)
        except _move.RelocationError as exc:
            named = target in str(exc) and sim_host.default_root(host.machine) in str(exc)
            assert "both roots are kept" in str(exc) and named and exc.phase == "preflight" and \
                exc.rolled_back is False, str(exc)
        else:
            raise AssertionError("the run went on (%s) where both roots were to be kept; the served root's volume "
                                 "lacks the writes %s, not %s" % (result.get("actions"), lacks(
                                     sim_host.volume(host.root), host.model), missing))
        assert host.running and host.root == served, (host.running, host.root)  # started there if it was down
        assert (tree(target), tree(served)) == trees, "a root changed though both were to be kept"
        assert not host.masked_units, host.masked_units


def converged(host, before, wrote, keep_source=True, stopped_by_hand=False):
    """The same move again on HOST converges.  Where Docker was STOPPED_BY_HAND outside a window the run refuses
    (Docker's inventory cannot be recorded), changing nothing, and says to start it: the operator does, and runs
    again."""
    target = params(host.machine)["target"]
    host.new_process()
    try:
        result = move(host, keep_source=keep_source)
    except _move.RelocationError as exc:
        if not (stopped_by_hand and "systemctl start docker" in str(exc) and exc.phase == "preflight"
                and exc.rolled_back is None and not host.changes and not host.running):
            raise
        host.start_by_hand()
        host.new_process()
        result = move(host, keep_source=keep_source)
    assert host.running and host.root == target, (host.running, host.root, result.get("actions"))
    names, files = inventory(target)
    assert names == before[0], names
    # Every write the containers made (before the stop, after a reboot), a rewrite and a deletion among them.
    assert files == host.model, "the served root's volume is not what its containers last wrote: %s, not %s" % (
        files, host.model)
    if wrote:
        assert files.get("late.txt") == "after the reboot", "the write made after the reboot was lost: %s" % files
    kept = [o for o in result.get("original") or [] if o.get("name") == "docker"]
    if keep_source:
        assert len(kept) == 1 and kept[0]["backup"] and os.listdir(kept[0]["backup"]), result.get("original")
    else:  # removed once the copy was proved complete, or kept (and said so) when it could not be
        assert len(kept) == 1 and (kept[0]["removed"] or os.listdir(kept[0]["backup"])), result.get("original")
        # A rollback's copy-back directory is reported (copyback_kept) and left to state=cleaned.
        reported = [os.path.basename(p) for p in result.get("copyback_kept") or []]
        leftovers = [n for n in os.listdir(os.path.dirname(sim_host.default_root(host.machine)))
                     if n.startswith("docker") and not (kept[0]["backup"] or "").endswith(n) and n not in reported]
        assert leftovers == [], "a part of the original is left, unreported: %s" % leftovers
    assert not host.masked_units, host.masked_units
    host.new_process()
    again = move(host, keep_source=keep_source)
    assert not again["changed"], again.get("actions")
    return result


def same_as_plain(counts, fault, k):
    """Whether the case of a move whose verification fails (FAULT verify), killed before its change K, is the plain
    move's (fault none) case K: the fault is read only at the verification, every change before the first that
    differs is the same change, and the rerun has no fault.  Such a case is explored once, as the plain move's.  The
    last change the two share by name may already write something else (the rollback's first journal save is a
    write_file, as the plain move's mark of its verification is): a kill before it is explored for both."""
    if fault != "verify":
        return False
    plain, failing = counts["none"][1], counts["verify"][1]
    shared = next((i for i, (a, b) in enumerate(zip(plain, failing)) if a != b), min(len(plain), len(failing)))
    return k < shared


POINTS = list(range(1, 51))
UNGUARDED = ("unguarded", "unguarded-live", "unguarded-down")
THEN = ["nothing", "reboot", "stopped", "edit", "templated"] + list(UNGUARDED)


@pytest.mark.parametrize("then", THEN)
@pytest.mark.parametrize("fault", ["none", "verify", "remove"])
@pytest.mark.parametrize("k", POINTS)
@explore.ahead
def test_a_kill_before_any_change_then_the_same_move_converges(template, tmp_path, k, fault, then):
    """FAULT verify: the first run's verification fails and it rolls back, killed before a change of the move or
    of its rollback; the second run has no fault.  FAULT remove: the moves are made with keep_source=false, and
    the original is removed once the copy is proved complete."""
    n = template[1][fault][0]
    if k > n:
        pytest.skip("that run makes %d changes" % n)
    if same_as_plain(template[1], fault, k):
        pytest.skip("the same case as the plain move's (fault none)")
    if then == "unguarded" and k <= template[1][fault][1].index("write_dropin"):
        pytest.skip("no drop-in to remove yet: the same case as templated")
    kill_then(template[0], str(tmp_path / "machine"), str(tmp_path / "lock"), k, fault, then)


# A kill inside the window before the switch, then a reboot after which Docker runs on the original and its
# containers write, then Docker stopped by hand: the next run walks the window again from the stop (Docker down,
# another boot).  That run is killed in turn, before each of its changes.
FIRST_KILLS = (("drop_self_bind", True), ("rsync", True), ("write_dropin", True), ("write_dropin", False))
STALE = ("copy_checked", "texts_after")  # what a killed run left in the journal about its own window


def killed_twice(seeded, machine, lock, k1, k2, first, keep_source=True):
    """The SEEDED machine at MACHINE: a move (KEEP_SOURCE) killed before its change K1 (named FIRST), then a
    reboot, a container's write and Docker stopped by hand; the same move again killed before its change K2 (None:
    not killed), then it converges.  Returns the changes of the second run (as far as it got)."""
    sim_host.install(seeded, machine)
    host = sim_host.SimHost(machine, lock)
    assert host.reboot()
    before = inventory(host.root)
    host.new_process(kill_at=k1)
    with pytest.raises(sim_host.Killed):
        move(host, keep_source=keep_source)
    assert host.dead and host.killed_before == first, host.killed_before  # killed where it claims
    perturb(host, "stopped")
    assert not host.running and "late.txt" in host.model
    host.new_process(kill_at=k2)
    if k2 is None:
        move(host, keep_source=keep_source)
        return list(host.changes)
    with pytest.raises(sim_host.Killed):
        move(host, keep_source=keep_source)
    assert host.dead and host.count == host.kill_at, (host.count, host.kill_at)
    changes = list(host.changes)  # made before the kill
    if "stop_docker" in changes and "rsync" not in changes:
        # Inside the window walked again, before its final copy: nothing of the killed run's window is taken
        # for this one's.
        with open(_journal.marker_path(params(machine)["target"])) as f:
            journal = json.load(f)
        assert "final_copy" not in journal.get("phases_done", []) and not set(STALE) & set(journal), journal
    converged(host, before, True, keep_source=keep_source)
    return changes


@pytest.fixture(scope="module")
def walked_again(template, tmp_path_factory):
    """For each first kill (FIRST_KILLS: the first run's change of that name inside the window, and whether the
    original is kept), its point and the changes the second run makes (a walk of the window from the stop)."""
    seeded, counts = template
    base = explore.scratch(tmp_path_factory, "sim-twice")
    out = {}
    for name, keep in FIRST_KILLS:
        names = counts["none" if keep else "remove"][1]
        k1 = names.index(name, names.index("stop_docker")) + 1
        here = base / ("%s-%s" % (name, keep))
        out[(name, keep)] = (k1, killed_twice(seeded, str(here / "machine"), str(here / "lock"), k1, None, name, keep))
    return seeded, out


@pytest.mark.parametrize("first", FIRST_KILLS, ids=["%s-%s" % (n, "keep" if k else "remove") for n, k in FIRST_KILLS])
@pytest.mark.parametrize("k2", list(range(1, 36)))
@explore.ahead
def test_a_window_walked_again_and_killed_again_converges(walked_again, tmp_path, first, k2):
    """A window walked again from the stop forgets what the killed run did in it (its final copy, its proof of the
    copy, the texts its switch left): killed again before its own final copy, the journal holds none of them,
    and the next run never takes the first run's final copy for its own (which would switch Docker to a target
    that lacks what the containers wrote after the first run's copy)."""
    seeded, runs = walked_again
    k1, changes = runs[first]
    if k2 > len(changes):
        pytest.skip("the second run makes %d changes" % len(changes))
    killed_twice(seeded, str(tmp_path / "machine"), str(tmp_path / "lock"), k1, k2, first[0], first[1])


def test_the_second_runs_walk_the_window_again(walked_again):
    for first, (k1, changes) in walked_again[1].items():
        assert k1 >= 10 and len(changes) <= 35 and {"stop_docker", "rsync", "write_dropin", "start_docker"} <= \
            set(changes), (first, k1, changes)


def killed_once(template, machine, fault, name, after):
    """The seeded machine installed at MACHINE, a move of FAULT's run (none: kept original; remove:
    keep_source=false) killed AFTER changes past its first change named NAME (1: right before it).  Returns the
    host and the inventory before the move."""
    seeded, counts = template
    names = counts[fault][1]
    sim_host.install(seeded, machine)
    host = sim_host.SimHost(machine, os.path.join(os.path.dirname(machine), "lock"))
    assert host.reboot()
    before = inventory(host.root)
    k = names.index(name) + after
    host.new_process(kill_at=k)
    with pytest.raises(sim_host.Killed):
        move(host, keep_source=fault != "remove")
    assert host.dead and host.killed_before == names[k - 1], host.killed_before  # killed where it claims
    return host, before


@pytest.mark.parametrize("keep_source", [True, False])
def test_an_original_whose_removal_was_killed_part_way_is_never_reported_whole(template, tmp_path, keep_source):
    """keep_source=false, the removal of the original killed part way (a part of it gone), then the same move
    again: with keep_source=false the removal is finished and reported; with keep_source=true what is left is kept
    and reported incomplete, in this run and the next."""
    machine = str(tmp_path / "machine")
    host = killed_once(template, machine, "remove", "remove_tree", 1)[0]
    marker = _journal.marker_path(params(machine)["target"])
    with open(marker) as f:
        journal = json.load(f)
    backup = journal["removing"]["docker"]
    shutil.rmtree(os.path.join(backup, "image"))  # the part the killed removal reached
    # The removal's record is what the rerun goes by (not the proof of the copy, which a walk of the window
    # again would have dropped).
    journal.pop("copy_checked", None)
    with open(marker, "w") as f:
        json.dump(journal, f)
    host.new_process()
    result = move(host, keep_source=keep_source)
    kept = [o for o in result["original"] if o["name"] == "docker"]
    if keep_source:
        assert kept == [{"name": "docker", "source": sim_host.default_root(machine), "removed": False,
                         "backup": backup, "incomplete": True}], kept
        assert any("may be incomplete" in a for a in result["actions"]), result["actions"]
        host.new_process()
        again = move(host, keep_source=keep_source)
        assert not again["changed"] and again["original"] == kept, again
    else:
        assert kept[0]["removed"] and not os.path.lexists(backup), kept
    assert host.running and host.root == params(machine)["target"]


def explore_move(seeded, base, fault, n, points=None, thens=None):
    """Every case of a move with FAULT (N changes), or those of POINTS and THENS: [(kill point, then, violation)].
    The cases run several at a time (explore.run_cases); what the audit saw in them is handed to this test's."""
    cases = []
    for k in points or range(1, n + 1):
        for then in thens or THEN:
            where = os.path.join(base, "%s-%d-%s" % (fault, k, then))
            cases.append(((k, then), dict(seeded=seeded, machine=where + "/machine", lock=where + "/lock", k=k,
                                          fault=fault, then=then)))
    outcomes = explore.run_cases(kill_then, cases)
    return [key + (violation,) for key, violation in explore.failures(outcomes, [key for key, _kwargs in cases])]


def test_the_exploration_finds_a_bug_put_back(template, tmp_path, monkeypatch, capsys, audited):
    """It can fail: with a fixed bug put back (the daemon_json switch skipping the rename to a backup name a killed
    run recorded, which left the original in place and unreported), the exploration reports the cases, at the
    change the bug is about, and nothing else."""
    def old_set_aside(self, move_, ctx):
        if not move_.backup and ctx.host.isdir(move_.source):
            move_.backup = _switches.backup_name(move_, ctx.journal.stamp)
            ctx.journal.save()
            ctx.host.rename(move_.source, move_.backup)

    monkeypatch.setattr(_switches.DaemonJsonSwitch, "set_aside", old_set_aside)
    seeded, counts = template
    found = explore_move(seeded, str(tmp_path), "none", counts["none"][0], thens=["nothing", "reboot", "unguarded-live"])
    # The renames of the bug put back are this test's own code, called from phase_source: not the collection's.
    audited.violations[:] = [v for v in audited.violations
                             if (v[0], v[1]) != ("rename", "_transaction.py:Relocation.phase_source")]
    with capsys.disabled():
        print("\ncrash points of a move: %d, cases: %d, violations with the bug put back: %d" % (
            counts["none"][0], counts["none"][0] * 3, len(found)))
    names = counts["none"][1]
    rename = names.index("rename") + 1
    # At the rename; and, with Docker left serving the new root (no reboot), after it: the rerun rolls the served
    # window back, putting the original back while its backup name stays recorded, and moves again.
    assert found and set(k for k, then, _v in found if then != "unguarded-live") == {rename}, found
    assert all(k >= rename for k, _then, _v in found), found
    assert all("original" in v or "[]" in v for _k, _then, v in found), found


def test_the_exploration_finds_a_rollback_trusting_the_journals_served(template, tmp_path, monkeypatch, capsys):
    """It can fail: with the rollback deciding from the journal alone whether Docker wrote on the new root (its
    "served", cleared once a copy back finished), never asking the host whether Docker started since, a rollback
    killed after its copy back, then a reboot after which Docker serves the new root and a container writes there,
    is finished without a second copy back: the exploration names those kill points and the write lost."""
    def trusting(self):
        recorded = self.ctx.journal.get("served") and not self.ctx.journal.get("copied_back")
        return bool(self.ctx.served_new_root or recorded)

    monkeypatch.setattr(_rollback.Rollback, "served_since_record", trusting)
    seeded, counts = template
    n, names = counts["verify"]
    rollback = names.index("mask", names.index("start_docker")) + 1  # the rollback's first change: the units held
    found = explore_move(seeded, str(tmp_path), "verify", n, points=range(rollback, n + 1), thens=["reboot"])
    with capsys.disabled():
        for k, then, violation in found:
            print("\nwith the journal's served trusted: a kill before change %d (%s), then a %s: %s" % (
                k, names[k - 1], then, violation[:300]))
    assert found, "the exploration found nothing"
    assert all("late.txt" in v and "after the reboot" not in v.split(", not ")[0] for _k, _t, v in found), found
    copied = names.index("rsync", rollback) + 1  # the rollback's copy back
    assert all(k > copied for k, _t, _v in found), found
    # The same points with the host asked (the code as it is): nothing lost.
    monkeypatch.undo()
    assert explore_move(seeded, str(tmp_path / "fixed"), "verify", n,
                        points=sorted(set(k for k, _t, _v in found)), thens=["reboot"]) == []


def test_the_exploration_finds_a_served_window_walked_again(template, tmp_path, monkeypatch, capsys):
    """It can fail: without the guard that rolls back, instead of walking again from the stop, a killed window in
    which Docker was started on the new root, a kill once Docker answered there, a container's write, daemon.json
    templated and the drop-in removed by hand, then a reboot (Docker back on the original, where a container
    writes) is walked again: its copy of the original erases the write made on the new root.  The exploration
    names those kill points and the write lost; with the guard, both roots are kept."""
    monkeypatch.setattr(_rollback.Rollback, "served_in_window", lambda self, resuming: False)
    seeded, counts = template
    n, names = counts["none"]
    started = names.index("start_docker") + 1
    found = explore_move(seeded, str(tmp_path), "none", n, points=range(started + 1, n + 1), thens=["unguarded"])
    with capsys.disabled():
        for k, then, violation in found:
            print("\nwithout the guard of a served window: a kill before change %d (%s), then %s: %s" % (
                k, names[k - 1], then, violation[-300:]))
    # Walked again, the window copies the original over the new root: the write made there is lost (after the
    # original was set aside, the empty root Docker then made there is moved over it: every container is lost).
    lost = [(k, v.split("lacks the writes ")[1]) for k, _t, v in found if "lacks the writes" in v]
    assert len(lost) >= 4 and all("'killed.txt': 'after the kill'" in v for _k, v in lost), found
    assert all(k > started for k, _t, _v in found), found
    monkeypatch.undo()
    assert explore_move(seeded, str(tmp_path / "fixed"), "none", n,
                        points=sorted(set(k for k, _t, _v in found)), thens=["unguarded"]) == []


def test_the_exploration_covers_every_change_of_a_run(template):
    """Every change an uninterrupted run makes is a kill point above (the list is long enough), and the runs
    explored change what a move and a rollback change."""
    counts = template[1]
    assert 10 < counts["none"][0] < counts["verify"][0] <= max(POINTS), counts
    assert {"stop_docker", "write_file", "write_dropin", "start_docker", "rsync", "rename"} <= set(counts["none"][1])
    assert {"restore_file", "unmask"} <= set(counts["verify"][1][counts["none"][0] - 10:]), counts["verify"][1]


def moved_machine(seeded, machine, lock):
    """The SEEDED machine installed at MACHINE and moved to its data disk, where a container then wrote."""
    sim_host.install(seeded, machine)
    host = sim_host.SimHost(machine, lock)
    host.reboot()
    host.new_process()
    move(host)
    host.write_in_a_container("on-the-data-disk.txt", "written after the move")
    return host


@pytest.fixture(scope="module")
def moved(tmp_path_factory):
    """A seeded machine, and how many changes an uninterrupted restore of its move makes."""
    base = explore.scratch(tmp_path_factory, "sim-moved")
    seeded = str(base / "seeded")
    sim_host.seed(seeded)
    host = moved_machine(seeded, str(base / "probe"), str(base / "lock"))
    start = host.count
    host.new_process()
    result = move(host, "restored")
    assert result["changed"] and host.root == sim_host.default_root(str(base / "probe")), result
    return seeded, host.count - start, list(host.changes)


@pytest.mark.parametrize("then", ["nothing", "reboot", "edit", "templated", "unguarded", "twice"])
@pytest.mark.parametrize("k", list(range(1, 31)))
@explore.ahead
def test_a_restore_killed_before_any_change_then_restored_again_keeps_every_write(moved, tmp_path, k, then):
    """state=restored, killed before each of its changes, then one of the perturbations of a move's (perturb), a
    container writing wherever Docker then runs, then restored again: Docker serves the original with what it
    held, what was written on the data disk after the move, and every write since."""
    seeded, n, _changes = moved
    if k > n:
        pytest.skip("a restore makes %d changes" % n)
    here = str(tmp_path / "machine")
    host = moved_machine(seeded, here, str(tmp_path / "lock"))
    before = inventory(host.root)
    host.new_process(kill_at=k)
    with pytest.raises(sim_host.Killed):
        move(host, "restored")
    assert host.dead and host.count == host.kill_at, (host.count, host.kill_at)
    perturb(host, then)
    wrote = "late.txt" in host.model
    restore_as_told(host, then)
    original = sim_host.default_root(here)
    assert host.running and host.root == original, (host.running, host.root)
    if then == "edit":
        with open(host.daemon_json) as f:
            assert json.load(f).get("debug") is True, "the key added to daemon.json by hand was lost"
    names, files = inventory(original)
    assert names == before[0] and files["on-the-data-disk.txt"] == "written after the move", (names, files)
    assert files == host.model, "the volume is not what its containers last wrote: %s, not %s" % (files, host.model)
    if wrote:
        assert files.get("late.txt") == "after the reboot", "the write made after the reboot was lost: %s" % files
    assert not host.masked_units, host.masked_units
    host.new_process()
    assert not move(host, "restored")["changed"]


def restore_recovery_killed(seeded, machine, lock, k1, then, k2):
    """A restore killed before its change K1 (inside its switch back), then THEN (a reboot after which Docker runs
    and a container writes, or that and a boot more with Docker down); its recovery killed before its change K2
    (None: not killed; returns how many changes it makes), then, in the same boot, restored as told: Docker serves
    the original with every write, that of the boot between too."""
    host = moved_machine(seeded, machine, lock)
    before = inventory(host.root)
    host.new_process(kill_at=k1)
    with pytest.raises(sim_host.Killed):
        move(host, "restored")
    with open(_journal.marker_path(params(machine)["target"])) as f:
        assert json.load(f)["phase"] == "restore_switch", "not killed inside the switch back"
    perturb(host, then)
    assert "late.txt" in host.model, "nothing was written in the boot after the kill"
    start = host.count
    host.new_process(kill_at=k2)
    if k2 is None:
        restore_as_told(host, then)
        return host.count - start
    try:
        move(host, "restored")
    except sim_host.Killed:
        assert host.dead and host.count == host.kill_at, (host.count, host.kill_at)  # killed where it claims
    except _move.RelocationError as exc:  # Docker left down by the last boot, and the recovery asks for it
        assert then == "twice" and "start" in str(exc) and not host.running and exc.phase == "preflight", str(exc)
    else:
        raise AssertionError("the recovery ended before its change %d" % k2)
    restore_as_told(host, then)
    original = sim_host.default_root(machine)
    assert host.running and host.root == original, (host.running, host.root)
    names, files = inventory(original)
    assert names == before[0], names
    assert files == host.model and files.get("late.txt") == "after the reboot", \
        "the volume is not what its containers last wrote: %s, not %s" % (files, host.model)
    assert not host.masked_units, host.masked_units
    host.new_process()
    assert not move(host, "restored")["changed"]
    return None


@pytest.fixture(scope="module")
def recovery_killed(moved, tmp_path_factory):
    """{(k1, then): how many changes the recovery makes}, for the kills inside the restore's switch back: before
    it sets the original back, and after."""
    seeded, _n, names = moved
    base = explore.scratch(tmp_path_factory, "sim-recovery")
    out = {}
    for k1 in (names.index("rename") + 1, names.index("rename") + 2):
        for then in ("reboot", "twice"):
            here = base / ("%d-%s" % (k1, then))
            out[(k1, then)] = restore_recovery_killed(seeded, str(here / "machine"), str(here / "lock"), k1, then,
                                                      None)
    return seeded, out


@pytest.mark.parametrize("at", ["before", "after"])
@pytest.mark.parametrize("then", ["reboot", "twice"])
@pytest.mark.parametrize("k2", list(range(1, 61)))
@explore.ahead
def test_a_restore_recovery_killed_again_in_the_same_boot_keeps_the_writes_of_the_boot_between(
        recovery_killed, tmp_path, at, then, k2):
    """The recovery of a restore killed inside its switch back, after a boot in which Docker wrote on the moved
    root, is killed before each of its changes; the next run, in the same boot, must not take Docker for not having
    run since (the killed recovery's own journal writes hide the boot and the start): it keeps those writes."""
    seeded, runs = recovery_killed
    k1 = sorted(set(k for k, _t in runs))[0 if at == "before" else 1]
    n = runs[(k1, then)]
    if k2 > n:
        pytest.skip("the recovery makes %d changes" % n)
    restore_recovery_killed(seeded, str(tmp_path / "machine"), str(tmp_path / "lock"), k1, then, k2)


def test_the_killed_recoveries_put_the_moved_root_back_and_restore_again(recovery_killed, moved):
    for (k1, then), n in recovery_killed[1].items():
        assert moved[1] < n <= 60, (k1, then, n)  # more than a restore's changes: the moved root put back first


def rollback_playbook(host):
    """The path of playbooks/rollback_docker_root.yml on HOST: data_root state=restored in check mode (its plan; a
    refusal there stops the host), changing nothing, then the real run when the plan says it changes something.
    Returns the real run's result, or the plan's."""
    host.new_process()
    plan = move(host, "restored", check_mode=True)
    assert host.changes == [], "the plan (check mode) changed the host: %s" % host.changes
    if not plan["changed"]:
        return plan
    host.new_process()
    return move(host, "restored")


@pytest.mark.parametrize("then", ["nothing", "reboot"])
@pytest.mark.parametrize("fault", ["none", "verify", "remove"])
@pytest.mark.parametrize("k", POINTS)
@explore.ahead
def test_a_killed_move_then_the_rollback_playbook_serves_the_original_with_every_write(
        template, tmp_path, k, fault, then):
    """A move (FAULT as above) killed before each of its changes, then nothing or a reboot after which Docker runs
    where the host points it and a container writes, then the rollback playbook's path: Docker serves the original
    with every write and its inventory, no unit is masked, and the playbook run again changes nothing.  Only a move
    with keep_source=false whose original is (being) removed may be refused, in preflight: then Docker serves the
    moved root with every write; and a move killed before its journal's first write has no record to go by."""
    seeded, counts = template
    if k > counts[fault][0]:
        pytest.skip("that run makes %d changes" % counts[fault][0])
    if same_as_plain(counts, fault, k):
        pytest.skip("the same case as the plain move's (fault none)")
    machine = str(tmp_path / "machine")
    sim_host.install(seeded, machine)
    host = sim_host.SimHost(machine, str(tmp_path / "lock"))
    assert host.reboot()
    before = inventory(host.root)
    host.new_process(kill_at=k)
    if fault == "verify":
        os.environ[FAULT] = fault
    try:
        with pytest.raises(sim_host.Killed):
            move(host, keep_source=fault != "remove")
    finally:
        os.environ.pop(FAULT, None)
    assert host.dead and host.count == host.kill_at, (host.count, host.kill_at)
    perturb(host, then)
    target, original = params(machine)["target"], sim_host.default_root(machine)
    try:
        rollback_playbook(host)
    except _move.RelocationError as exc:
        assert exc.phase == "preflight", str(exc)
        if "no record of a move" in str(exc):  # killed before its journal's first write: Docker never stopped
            assert host.running and host.root == original and sim_host.volume(original) == host.model, host.root
            return
        assert fault == "remove" and ("was not kept" in str(exc) or "while it removed the original" in str(exc)), \
            str(exc)
        marker = _journal.marker_path(target)
        with open(marker) as f:
            journal = json.load(f)
        if "while it removed the original" in str(exc):  # only once the removal began
            assert journal.get("removing"), journal
        else:  # only once it is gone
            assert not [n for n in os.listdir(os.path.dirname(original)) if n.startswith("docker")], \
                os.listdir(os.path.dirname(original))
        assert host.running and host.root == target and sim_host.volume(target) == host.model, host.root
        return
    assert host.running and host.root == original, (host.running, host.root)
    assert inventory(original)[0] == before[0], inventory(original)
    assert sim_host.volume(original) == host.model, "the volume is not what its containers last wrote: %s, not %s" % (
        sim_host.volume(original), host.model)
    assert not host.masked_units, host.masked_units
    assert not rollback_playbook(host)["changed"]


def started_as_told(host, then, plan):
    """THEN twice (the last boot left Docker down): the PLAN (a run in check mode) may ask for Docker, changing
    nothing, and the operator starts it, as told; then a new process for the next run."""
    if then == "twice" and not host.running:
        try:
            plan()
        except _move.RelocationError as exc:
            assert exc.phase == "preflight" and "start" in str(exc) and host.changes == [], str(exc)
            host.start_by_hand()
        host.new_process()


def restore_as_told(host, then):
    """state=restored on HOST until it is done, the operator doing what each refusal says.  Only a host whose
    drop-in was removed by hand (THEN unguarded), on which Docker may then serve another root, or whose last boot
    left Docker down (THEN twice: the operator starts it), may be refused, in preflight with nothing changed: the
    operator points Docker at the moved root again, or moves away the root Docker made at the original's path.  A
    restore killed in its window first puts the moved root back in service
    (Docker serving every write), then refuses the new restore in its preflight."""
    target = params(host.machine)["target"]
    original = sim_host.default_root(host.machine)
    for _told in range(3):
        try:
            return rollback_playbook(host)
        except _move.RelocationError as exc:
            if then == "twice" and exc.phase == "preflight" and "start" in str(exc) and not host.running:
                assert host.changes in ([], ["unmask", "write_file"]), host.changes
                host.start_by_hand()  # Docker left down by the last boot: the operator starts it, as told
                continue
            assert then == "unguarded" and exc.phase == "preflight", (then, str(exc))
            # Nothing changed, but for the journal's record of the killed run's masks (a reboot lifted them).
            assert host.changes in ([], ["unmask", "write_file"]) or (host.running and host.root == target and not lacks(
                sim_host.volume(target), host.model)), (host.changes, host.root, str(exc))
            if "no longer points it at the moved root" in str(exc) and host.root != target:
                host.edit_daemon_json(**{"data-root": target})
                host.shut_down()
                host.start_by_hand()
            elif "is in the way of the kept original" in str(exc):
                if host.running and host.root == original:
                    host.shut_down()
                os.rename(original, original + ".made-by-docker")
            else:
                raise
    raise AssertionError("still refused after doing what each refusal said")


def test_the_restore_exploration_covers_every_change_of_a_restore(moved):
    n, changes = moved[1], moved[2]
    assert 10 < n <= 30 and {"stop_docker", "rsync", "rename", "start_docker"} <= set(changes), (n, changes)


def clean(host):
    """One run of state=cleaned with no soak period left to wait."""
    opts = _options.Options(dict(params(host.machine), state="cleaned", soak_days=0))
    ctx = _run.Run(opts, sim_host.SimClient(host), host.runner, host, _journal.Journal(opts.target, False, host),
                   _copy.Status(None))
    return _cleanup.Cleanup(ctx).run()


@pytest.fixture(scope="module")
def cleaned(tmp_path_factory):
    """A seeded machine, and how many changes an uninterrupted cleanup of its moved root makes."""
    base = explore.scratch(tmp_path_factory, "sim-cleaned")
    seeded = str(base / "seeded")
    sim_host.seed(seeded)
    host = moved_machine(seeded, str(base / "probe"), str(base / "lock"))
    start = host.count
    host.new_process()
    result = clean(host)
    assert result["changed"] and result["original"][0]["removed"], result
    return seeded, host.count - start, list(host.changes)


@pytest.mark.parametrize("then", ["nothing", "reboot"])
@pytest.mark.parametrize("k", list(range(1, 7)))
@explore.ahead
def test_a_cleanup_killed_before_any_change_then_cleaned_again_removes_only_the_kept_original(
        cleaned, tmp_path, k, then):
    seeded, n, _changes = cleaned
    if k > n:
        pytest.skip("a cleanup makes %d changes" % n)
    here = str(tmp_path / "machine")
    host = moved_machine(seeded, here, str(tmp_path / "lock"))
    before = inventory(host.root)
    host.new_process(kill_at=k)
    with pytest.raises(sim_host.Killed):
        clean(host)
    assert host.dead and host.count == host.kill_at, (host.count, host.kill_at)
    if then == "reboot":
        assert host.reboot()
    host.new_process()
    result = clean(host)
    target = params(here)["target"]
    assert host.running and host.root == target and inventory(target)[0] == before[0], (host.root, result.get("actions"))
    assert sim_host.volume(target) == host.model, (sim_host.volume(target), host.model)
    assert [o["removed"] for o in result["original"]] == [True], result["original"]
    assert [n for n in os.listdir(os.path.dirname(sim_host.default_root(here))) if n.startswith("docker")] == []
    host.new_process()
    assert not clean(host)["changed"]


def test_the_cleanup_exploration_covers_every_change_of_a_cleanup(cleaned):
    n, changes = cleaned[1], cleaned[2]
    assert 1 < n <= 6 and "remove_tree" in changes, (n, changes)


@pytest.mark.parametrize("check_mode", [False, True])
def test_a_rollbacks_copy_back_directory_is_recorded_and_cleaned_with_the_kept_original(
        template, tmp_path, check_mode):
    """A move whose verification fails rolls back: its copy back replaces what Docker rewrote on the original and
    keeps the old files in a directory beside it, which the journal records.  The move is made again and, once
    soaked, state=cleaned removes that directory with the kept original (check mode: says so, removes nothing);
    the next cleanup has nothing left to do."""
    seeded = template[0]
    machine = str(tmp_path / "machine")
    sim_host.install(seeded, machine)
    host = sim_host.SimHost(machine, str(tmp_path / "lock"))
    assert host.reboot()
    host.new_process()
    os.environ[FAULT] = "verify"
    try:
        with pytest.raises(_move.RelocationError) as exc:
            move(host)
    finally:
        os.environ.pop(FAULT, None)
    assert exc.value.rolled_back and host.root == sim_host.default_root(machine), str(exc.value)
    marker = os.path.join(machine, "mnt", "data", ".docker.dockyard-migrate.json")
    with open(marker) as f:
        kept = json.load(f).get("copybacks")
    # The copy back replaced index.html (rewritten by the containers as Docker stopped on the new root).
    assert kept and all(os.path.isfile(os.path.join(k, "volumes", "site", "_data", "index.html")) for k in kept), kept
    host.new_process()
    assert move(host)["changed"] and host.root == params(machine)["target"]
    opts = _options.Options(dict(params(machine), state="cleaned", soak_days=0))
    host.new_process()
    ctx = _run.Run(opts, sim_host.SimClient(host), host.runner, host, _journal.Journal(opts.target, check_mode, host),
                   _copy.Status(None), check_mode=check_mode)
    result = _cleanup.Cleanup(ctx).run()
    assert result["changed"] and all(k in ctx.diff["before"] for k in kept), (result, ctx.diff)
    if check_mode:
        assert all(os.path.isdir(k) for k in kept) and host.changes == [], host.changes
        return
    assert result["copyback_removed"] == kept and not any(os.path.lexists(k) for k in kept), result
    host.new_process()
    again = clean(host)
    assert not again["changed"] and "copyback_removed" not in again, again


def test_a_switch_that_cannot_be_applied_again_rolls_the_window_back_with_every_write(
        template, tmp_path, monkeypatch):
    """Killed once Docker answered on the new root, daemon.json templated without data-root, a reboot (the
    drop-in keeps Docker down); the rerun cannot write daemon.json again: it rolls the window back, copying what
    Docker wrote on the new root onto the original, and Docker serves the original with every write."""
    machine = str(tmp_path / "machine")
    host, before = killed_once(template, machine, "none", "start_docker", 2)  # once Docker answered there
    assert host.running and host.root == params(machine)["target"], (host.running, host.root)
    host.write_in_a_container("late.txt", "on the new root")
    perturb(host, "templated")
    assert not host.running  # the drop-in kept Docker off the original

    def refused(self, move_, ctx):
        raise OSError(30, "Read-only file system", ctx.opts.daemon_json)

    monkeypatch.setattr(_switches.DaemonJsonSwitch, "apply", refused)
    host.new_process()
    with pytest.raises(_move.RelocationError) as exc:
        move(host)
    assert exc.value.rolled_back is True and "Read-only file system" in str(exc.value), str(exc.value)
    original = sim_host.default_root(machine)
    assert host.running and host.root == original, (host.running, host.root)
    assert inventory(original)[0] == before[0] and sim_host.volume(original) == host.model, sim_host.volume(original)
    assert host.model.get("late.txt") == "on the new root"
    assert not host.masked_units, host.masked_units


def failed_restore(template, tmp_path, machine):
    """The seeded machine at MACHINE moved, then restored with a verification that fails: the restore put the moved
    root back in service.  Returns the host and the moved root."""
    host = moved_machine(template[0], machine, str(tmp_path / "lock"))
    target = params(machine)["target"]
    host.new_process()
    os.environ[FAULT] = "restore_verify"
    try:
        with pytest.raises(_move.RelocationError) as exc:
            move(host, "restored")
    finally:
        os.environ.pop(FAULT, None)
    assert exc.value.rolled_back is True and host.running and host.root == target, (str(exc.value), host.root)
    return host, target


@pytest.mark.parametrize("state", ["restored", "moved"])
def test_a_failed_restore_then_daemon_json_templated_is_not_left_down(template, tmp_path, state):
    """A restore whose verification fails puts the moved root back in service; then daemon.json is templated
    without data-root and the host reboots: the drop-in keeps Docker off the original, so Docker is down.  The
    restore run again (or the move) sets data-root again, starts Docker on the moved root and goes on: Docker
    ends where STATE puts it, with every write."""
    machine = str(tmp_path / "machine")
    host, target = failed_restore(template, tmp_path, machine)
    host.write_in_a_container("late.txt", "after the failed restore")
    perturb(host, "templated")
    assert not host.running, "the drop-in let Docker start on the original"
    host.new_process()
    planned = move(host, state, check_mode=True)
    assert planned["changed"] and host.changes == [] and not host.running, (planned, host.changes)
    assert any("no longer sets data-root" in a for a in planned["actions"]), planned["actions"]
    host.new_process()
    result = move(host, state)
    want = sim_host.default_root(machine) if state == "restored" else target
    assert host.running and host.root == want, (host.running, host.root, result.get("actions"))
    assert sim_host.volume(want) == host.model and host.model["late.txt"] == "after the failed restore", \
        sim_host.volume(want)
    assert not host.masked_units, host.masked_units
    host.new_process()
    assert not move(host, state)["changed"]


def test_a_restore_after_the_switch_was_undone_by_hand_says_what_to_do(template, tmp_path):
    """A finished move, then daemon.json templated without data-root, the drop-in removed by hand and a reboot:
    Docker makes a new, empty root at the original's path and serves it.  A restore is refused in preflight with
    nothing changed (it is not reported restored: the original is still aside): it says to point Docker at the
    moved root again, then that the new root is in the way.  Done as told, the restore brings every write back."""
    machine = str(tmp_path / "machine")
    host = moved_machine(template[0], machine, str(tmp_path / "lock"))
    original = sim_host.default_root(machine)
    perturb(host, "unguarded")
    assert host.running and host.root == original and not os.listdir(os.path.join(original, "volumes"))
    for check_mode in (True, False):
        host.new_process()
        with pytest.raises(_move.RelocationError) as exc:
            move(host, "restored", check_mode=check_mode)
        assert "no longer points it at the moved root" in str(exc.value) and exc.value.phase == "preflight", \
            str(exc.value)
        assert host.changes == [] and host.root == original, host.changes
    restore_as_told(host, "unguarded")
    assert host.running and host.root == original and sim_host.volume(original) == host.model, (
        host.root, sim_host.volume(original))
    assert host.model["killed.txt"] == "after the kill" and os.path.isdir(original + ".made-by-docker")


def test_a_failed_restore_whose_drift_repair_cannot_start_docker_is_not_rolled_back(template, tmp_path, monkeypatch):
    """After a failed restore (the moved root back in service) daemon.json is templated and the host reboots;
    the move's rerun sets data-root again, and Docker fails to start once.  That is no window of a move to roll
    back: the run fails with the host pointing Docker at the moved root, the original still aside, and the next
    run starts Docker there."""
    machine = str(tmp_path / "machine")
    host, target = failed_restore(template, tmp_path, machine)
    perturb(host, "templated")
    assert not host.running
    real = host.start_docker
    fails = []

    def fails_once(with_containerd=False):
        if not fails:
            fails.append(1)
            host.changes.append("start_docker")
            raise _move.RelocationError("Failed to start docker.service (once)", "start")
        return real(with_containerd)

    monkeypatch.setattr(host, "start_docker", fails_once)
    host.new_process()
    with pytest.raises(_move.RelocationError) as exc:
        move(host)
    assert fails and "once" in str(exc.value) and exc.value.rolled_back is not True, str(exc.value)
    with open(host.daemon_json) as f:
        assert json.load(f)["data-root"] == target
    assert not os.path.exists(os.path.join(sim_host.default_root(machine), "volumes")), "the original was put back"
    host.new_process()
    move(host)
    assert host.running and host.root == target and sim_host.volume(target) == host.model


def test_a_failing_moves_cases_before_its_fault_are_the_plain_moves(template):
    """What same_as_plain skips is what the plain move explores: the same changes up to the verification."""
    counts = template[1]
    skipped = [k for k in POINTS if same_as_plain(counts, "verify", k)]
    failing = counts["verify"][1]
    assert skipped == list(range(1, len(skipped) + 1)) and "start_docker" in failing[:len(skipped)], skipped
    # None reaches the rollback: its first hold of the units comes after every skipped kill point.
    assert skipped[-1] < failing.index("mask", failing.index("start_docker")), (skipped, failing)
    assert not same_as_plain(counts, "none", 1) and not same_as_plain(counts, "remove", 1)


def test_a_served_window_whose_originals_path_was_taken_since_keeps_both_roots(template, tmp_path):
    """Killed after the original was set aside, Docker still serving the new root; daemon.json templated, the
    drop-in removed and something made at the original's path by hand.  Rolling the window back would have to
    rename the kept original over it: both roots are kept, nothing changed, Docker serving the new root."""
    machine = str(tmp_path / "machine")
    host, _before = killed_once(template, machine, "none", "rename", 2)  # once the original went aside
    target, original = params(machine)["target"], sim_host.default_root(machine)
    assert host.running and host.root == target and not os.path.exists(original), (host.root, os.listdir(
        os.path.dirname(original)))
    perturb(host, "unguarded-live")
    os.makedirs(os.path.join(original, "made-by-hand"))
    trees = tree(target), tree(original)
    host.new_process()
    with pytest.raises(_move.RelocationError) as exc:
        move(host)
    assert "both roots are kept" in str(exc.value) and "was made since" in str(exc.value), str(exc.value)
    assert exc.value.phase == "preflight" and host.running and host.root == target, (host.running, host.root)
    assert (tree(target), tree(original)) == trees and os.path.isdir(os.path.join(original, "made-by-hand"))
