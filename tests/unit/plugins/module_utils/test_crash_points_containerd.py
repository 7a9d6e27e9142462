# -*- coding: utf-8 -*-
"""Every crash point of a move that carries containerd's root with Docker's, explored as test_crash_points_bind.py
explores a bind move: on sim_containerd.CtdSimHost (Docker on containerd's image store: its images and the running
container's writable layer in containerd's root, containerd a service of its own that starts at boot), each case in
a forked child with a private mount namespace.  Both methods for Docker's root (bind, daemon_json); containerd's
root always moves by a bind.  A kill before each change of a move, and of a move whose verification fails and that
rolls back; then nothing, a reboot (fstab's bind lines mounted, containerd and Docker started as the host points
them, the container writing into its volume and its writable layer), or that reboot after hand edits of daemon.json
and fstab; then the same move again.  It must converge: Docker
and containerd serve the new roots (containerd's through the bind at its old path) with every image and every
write, both originals reported kept and nothing hidden beneath a mount, the hand edits kept, no unit masked, and a
further run changes nothing."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import json
import os

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _cleanup, _copy, _journal, _move, _mountinfo, _options, _restore, _rollback, _run, _switch, _transaction)

import explore  # pylint: disable=import-error
import sim_bind  # pylint: disable=import-error
import sim_containerd as sc  # pylint: disable=import-error
import sim_host  # pylint: disable=import-error
import test_crash_points as tcp  # pylint: disable=import-error
import test_crash_points_bind as tcb  # pylint: disable=import-error

# The tmp_path of this file's tests that are not explorations: on the explorations' storage (explore.scratch).
scratch_tmp_path = explore.scratch_tmp_path

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts need root")

METHODS = ("bind", "daemon_json")
FAULTS = ("none", "verify")
THEN = ("nothing", "reboot", "edit")
POINTS = list(range(1, 81))


def params(machine, method):
    return dict(tcp.params(machine), method=method, containerd="auto")


def ctd_target(machine):
    return os.path.join(machine, "mnt", "data", "containerd")


def move(host, method, check_mode=False):
    opts = _options.Options(dict(params(host.machine, method), state="moved"))
    ctx = _run.Run(opts, host.client(), host.runner, host, _journal.Journal(opts.target, check_mode, host),
                   _copy.Status(None), check_mode=check_mode)
    return _transaction.Relocation(ctx).run()


def machine_at(seeded, machine, lock):
    sc.install(seeded, machine)
    host = sc.CtdSimHost(machine, lock)
    assert host.reboot() and host.ctd_root == sc.ctd_default(machine)
    return host


def inventory(host):
    """What Docker serves now: its root's names and volume, containerd's images and the writable layer."""
    names, files = tcp.inventory(host.root)
    return names, files, sc.content(host.ctd_dir), sc.layer(host.ctd_dir)


def probe(seeded, base, method, fault):
    """An uninterrupted move of FAULT on a fresh machine: (how many changes, their names)."""
    host = machine_at(seeded, os.path.join(base, "probe-%s-%s" % (method, fault)),
                      os.path.join(base, "lock-%s-%s" % (method, fault)))
    host.new_process()
    if fault == "verify":
        with pytest.raises(_move.RelocationError) as exc:
            tcb.with_fault(fault, move, host, method)
        assert exc.value.rolled_back and host.ctd_serves(sc.ctd_default(host.machine)), str(exc.value)
    else:
        result = move(host, method)
        assert result["changed"] and sorted(m["name"] for m in result["moves"]) == ["containerd", "docker"], result
        assert _mountinfo.same_bind(_mountinfo.read(), ctd_target(host.machine), sc.ctd_default(host.machine))
    return host.count, list(host.changes)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    sim_bind.need_namespace()
    base = str(explore.scratch(tmp_path_factory, "sim-ctd"))
    seeded = os.path.join(base, "seeded")
    sc.seed(seeded)
    counts = dict(((m, f), sim_bind.in_namespace(probe, seeded, base, m, f)) for m in METHODS for f in FAULTS)
    return seeded, counts


def killed_move(seeded, machine, lock, method, k, fault, then):
    """The SEEDED machine at MACHINE, a move by METHOD (with FAULT) killed before its change K, then THEN: (the
    host, what it served before, the change the kill came before)."""
    host = machine_at(seeded, machine, lock)
    before = inventory(host)
    host.new_process(kill_at=k)
    with pytest.raises(sim_host.Killed):
        tcb.with_fault(fault, move, host, method)
    assert host.dead and host.count == host.kill_at, (host.count, host.kill_at)  # killed where it claims
    killed_before = host.killed_before
    tcb.perturb(host, then)
    return host, before, killed_before


def case(seeded, machine, lock, method, k, fault, then):
    """The SEEDED machine at MACHINE, a move by METHOD (with FAULT) killed before its change K, THEN, the move
    again: the name of the change the kill came before."""
    host, before, killed_before = killed_move(seeded, machine, lock, method, k, fault, then)
    converged(host, method, before)
    if then == "edit":
        with open(host.daemon_json) as f:
            assert json.load(f).get("debug") is True, "the key added to daemon.json by hand was lost"
        with open(os.path.join(machine, "etc", "fstab")) as f:
            assert tcb.HAND in f.read().splitlines(), "the line added to fstab by hand was lost"
    return killed_before


def converged(host, method, before):
    """The same move again on HOST converges."""
    machine = host.machine
    source, target = sim_host.default_root(machine), params(machine, method)["target"]
    csource, ctarget = sc.ctd_default(machine), ctd_target(machine)
    host.new_process()
    result = move(host, method)
    served = source if method == "bind" else target
    assert host.running and host.root == served, (host.running, host.root, result.get("actions"))
    assert host.ctd_running and host.ctd_serves(csource), "containerd does not serve what %s shows" % csource
    mounts = _mountinfo.read()
    assert _mountinfo.same_bind(mounts, ctarget, csource), "containerd's root is not the bind of %s" % ctarget
    if method == "bind":
        assert _mountinfo.same_bind(mounts, target, source), "Docker's root is not the bind of %s" % target
    names, files, images, layer = inventory(host)
    assert (names, images) == (before[0], before[2]), (names, images)
    assert files == host.model, "the served root's volume is not what the container last wrote: %s, not %s" % (
        files, host.model)
    assert layer == host.layer_model, "the served writable layer is not what the container last wrote: %s, not %s" % (
        layer, host.layer_model)
    originals = dict((o.get("name"), o) for o in result.get("original") or [])
    for name, target_of in (("docker", target), ("containerd", ctarget)):
        kept = (originals.get(name) or {}).get("backup")
        assert kept and kept != target_of and _mountinfo.mount_at(mounts, kept) is None, \
            "%s's original is not reported kept apart from its new root: %s" % (name, result.get("original"))
        # The original as the move found it: what Docker held before the kill, not a copy or an empty root.
        held = tcp.inventory(kept)[0] if name == "docker" else (sc.content(kept), sc.layer(kept).get("motd"))
        assert held == (before[0] if name == "docker" else (before[2], before[3]["motd"])), (name, kept, held)
    for point in [csource] + ([source] if method == "bind" else []):
        with host.view_beneath(point) as below:
            hidden = os.listdir(below) if os.path.isdir(below) else []
        assert hidden == [], "left beneath the mount at %s: %s" % (point, hidden)
    assert not host.masked_units, host.masked_units
    host.new_process()
    again = move(host, method)
    assert not again["changed"], again.get("actions")


# The hand edits follow the kills of a plain move inside its window (fstab's lines and daemon.json written beside
# the hand's): by a bind, two fstab lines; by daemon_json, daemon.json and containerd's fstab line.  A daemon_json
# move whose verification fails is explored with the reboot (its rollback's copy back is the bind move's).  Docker
# stopped by hand after the reboot is explored without containerd's root (test_crash_points.py,
# test_crash_points_bind.py).
CASES = [(m, f, t) for m in METHODS for f in FAULTS for t in THEN
         if (t == "reboot" or (t == "nothing" and (m, f) != ("daemon_json", "verify")) or f == "none")]


def same_as_plain(counts, method, fault, k):
    return tcp.same_as_plain({"none": counts[(method, "none")], "verify": counts[(method, "verify")]}, fault, k)


@pytest.mark.parametrize("method,fault,then", CASES, ids=["%s-%s-%s" % c for c in CASES])
@pytest.mark.parametrize("k", POINTS)
@explore.ahead
def test_a_kill_before_any_change_of_a_move_with_containerd_then_the_same_move_converges(
        template, tmp_path, k, method, fault, then):
    n = template[1][(method, fault)][0]
    if k > n:
        pytest.skip("that run makes %d changes" % n)
    if same_as_plain(template[1], method, fault, k):
        pytest.skip("the same case as the plain move's (fault none)")
    if then == "edit" and k <= template[1][(method, fault)][1].index("stop_docker"):
        pytest.skip("before the window: the move writes fstab and daemon.json later, from what it finds then")
    sim_bind.in_namespace(case, template[0], str(tmp_path / "machine"), str(tmp_path / "lock"), method, k, fault,
                          then)


def rollback_case(seeded, machine, lock, method, k, fault, then):
    """A move by METHOD (FAULT) with containerd's root killed before its change K, then THEN, then the rollback
    playbook's path (the plan in check mode, changing nothing, then the real run): both originals served at their
    paths, nothing mounted there and no bind line left, with every image and every write.  Only a move killed before
    its journal's first write may be refused ("no record of a move"): it never stopped Docker."""
    host, before, _killed_before = killed_move(seeded, machine, lock, method, k, fault, then)
    source, csource = sim_host.default_root(machine), sc.ctd_default(machine)
    host.new_process()
    try:
        plan = run(host, "restored", check_mode=True, method=method)
    except _move.RelocationError as exc:
        assert exc.phase == "preflight" and "no record of a move" in str(exc) and host.changes == [], str(exc)
        outcome = "refused"
    else:
        assert host.changes == [], "the plan (check mode) changed the host: %s" % host.changes
        if plan["changed"]:
            host.new_process()
            run(host, "restored", method=method)
        outcome = "restored"
    assert host.running and host.root == source, (host.running, host.root)
    assert host.ctd_running and host.ctd_serves(csource), "containerd does not serve what %s shows" % csource
    names, files, images, layer = inventory(host)
    assert (names, images) == (before[0], before[2]), (names, images)
    assert files == host.model, "the volume is not what the container last wrote: %s, not %s" % (files, host.model)
    assert layer == host.layer_model, "the writable layer is not what the container last wrote: %s, not %s" % (
        layer, host.layer_model)
    mounts = _mountinfo.read()
    for point in (source, csource):
        assert _mountinfo.mount_at(mounts, point) is None, "a mount is left at %s" % point
    with open(os.path.join(machine, "etc", "fstab")) as f:
        assert [ln for ln in f.read().splitlines() if ln and not ln.startswith("#")] == [], "a bind line is left"
    with open(host.daemon_json) as f:
        assert os.path.normpath(json.load(f).get("data-root") or source) == source, "data-root is not the original"
    assert not host.masked_units, host.masked_units
    if outcome == "restored":
        host.new_process()
        assert not run(host, "restored", method=method)["changed"]
    return outcome


# A plain bind move with nothing after its kill, and every move with a reboot after it.
ROLLBACK_CASES = [(m, f, t) for m in METHODS for f in FAULTS for t in ("nothing", "reboot")
                  if t == "reboot" or (m, f) == ("bind", "none")]


@pytest.mark.parametrize("method,fault,then", ROLLBACK_CASES, ids=["%s-%s-%s" % c for c in ROLLBACK_CASES])
@pytest.mark.parametrize("k", POINTS)
@explore.ahead
def test_a_killed_move_with_containerd_then_the_rollback_playbook_serves_both_originals_with_every_write(
        template, tmp_path, method, fault, then, k):
    n, names = template[1][(method, fault)]
    if k > n:
        pytest.skip("that run makes %d changes" % n)
    if same_as_plain(template[1], method, fault, k):
        pytest.skip("the same case as the plain move's (fault none)")
    outcome = sim_bind.in_namespace(rollback_case, template[0], str(tmp_path / "machine"), str(tmp_path / "lock"),
                                    method, k, fault, then)
    assert outcome == "restored" or k <= names.index("write_file") + 1, outcome


def test_the_containerd_exploration_covers_every_change_of_both_moves(template):
    for method in METHODS:
        plain, failing = template[1][(method, "none")], template[1][(method, "verify")]
        assert 10 < plain[0] < failing[0] <= max(POINTS), (method, plain, failing)
        assert {"stop_docker", "write_file", "write_dropin", "start_docker", "rsync", "rename", "run"} <= \
            set(plain[1]), plain[1]


def test_the_containerd_exploration_finds_a_rollback_that_copies_back_docker_s_root_only(
        template, tmp_path, monkeypatch, capsys):
    """It can fail: with a rollback that copies back only Docker's root (what the container wrote into its writable
    layer on containerd's new root while the failed move's Docker ran there is left behind), the exploration of a
    bind move whose verification fails finds the lost writes, naming the crash points: every kill before the
    rollback's copy back, and only those."""
    copy_back = _rollback.Rollback.copy_back

    def docker_only(self, back=None, serve=None, served=None, where="the new root", roots=None):
        if back is None:
            moves = [m for m in self.ctx.moves if m.name == "docker"]
            back = [_move.Move(m.name, m.target, _switch.original_home(m, self.ctx), m.switch, m.mount_point)
                    for m in moves]
            roots = [(m.service_root, m.source) for m in moves]
        return copy_back(self, back, serve, served, where, roots)
    monkeypatch.setattr(_rollback.Rollback, "copy_back", docker_only)
    seeded, counts = template
    names = counts[("bind", "verify")][1]
    n = sim_bind.in_namespace(probe, seeded, str(tmp_path), "bind", "verify")[0]  # the mutated run's changes
    cases = [(k, dict(seeded=seeded, machine=str(tmp_path / ("m%d" % k)), lock=str(tmp_path / ("l%d" % k)),
                      method="bind", k=k, fault="verify", then="nothing"))
             for k in range(1, n + 1) if not same_as_plain(counts, "bind", "verify", k)]
    found = explore.failures(explore.run_cases(functools.partial(sim_bind.in_namespace, case), cases),
                             [k for k, _kwargs in cases])
    with capsys.disabled():
        for k, violation in found:
            print("\nwith a rollback that copies back Docker's root only: a kill before change %d (%s): %s" % (
                k, names[k - 1], violation[:200]))
    # Killed after the failed verification was recorded and before the rollback's stop: the rerun rolls back
    # (with the bug) and the writes the container made on containerd's new root are lost.
    first_start = names.index("start_docker")
    stop = names.index("stop_docker", first_start) + 1
    assert found and all(first_start + 1 < k <= stop for k, _v in found), found
    assert all("writable layer is not what the container last wrote" in v for _k, v in found), found


def run(host, state, check_mode=False, method="bind"):
    """One run of data_root with STATE (restored, or cleaned with no soak period left) after a move by METHOD."""
    opts = _options.Options(dict(params(host.machine, method), state=state, soak_days=0))
    ctx = _run.Run(opts, host.client(), host.runner, host, _journal.Journal(opts.target, check_mode, host),
                   _copy.Status(None), check_mode=check_mode)
    return (_restore.Restore if state == "restored" else _cleanup.Cleanup)(ctx).run()


def moved_machine(seeded, machine, lock, method="bind"):
    """The SEEDED machine at MACHINE moved by METHOD with containerd's root (always a bind), where the container
    then wrote."""
    host = machine_at(seeded, machine, lock)
    host.new_process()
    move(host, method)
    assert host.write_in_a_container("on-the-data-disk.txt", "written after the move")
    return host


def after_probe(seeded, base, method, state):
    host = moved_machine(seeded, os.path.join(base, "probe-%s-%s" % (method, state)),
                         os.path.join(base, "lock-%s-%s" % (method, state)), method)
    start = host.count
    host.new_process()
    assert run(host, state, method=method)["changed"]
    return host.count - start, list(host.changes)


@pytest.fixture(scope="module")
def afterwards(template, tmp_path_factory):
    """{(method, state): (how many changes a run of STATE makes after a move by METHOD with containerd's root,
    their names)}."""
    base = str(explore.scratch(tmp_path_factory, "sim-ctd-after"))
    return template[0], dict(((m, s), sim_bind.in_namespace(after_probe, template[0], base, m, s))
                             for m in METHODS for s in ("restored", "cleaned"))


def after_case(seeded, machine, lock, method, state, k, then):
    """A move by METHOD with containerd's root, then a run of STATE killed before its change K, then THEN, then
    the recovery: for restored the rollback playbook's path (the plan in check mode, changing nothing, then the
    real run), for cleaned the cleanup again.  Both roots served where STATE leaves them, with every write."""
    host = moved_machine(seeded, machine, lock, method)
    before = inventory(host)
    host.new_process(kill_at=k)
    with pytest.raises(sim_host.Killed):
        run(host, state, method=method)
    assert host.dead and host.count == host.kill_at, (host.count, host.kill_at)  # killed where it claims
    tcb.perturb(host, then)
    recovered(host, state, before, then, method)


def recovered(host, state, before, then, method="bind"):
    """The recovery of STATE on HOST (moved by METHOD), and what it must leave."""
    machine = host.machine
    source, csource = sim_host.default_root(machine), sc.ctd_default(machine)
    target = params(machine, method)["target"]
    host.new_process()
    tcp.started_as_told(host, then, lambda: run(host, state, check_mode=True, method=method))
    if state == "restored":
        plan = run(host, state, check_mode=True, method=method)
        assert host.changes == [], "the plan (check mode) changed the host: %s" % host.changes
        if plan["changed"]:
            host.new_process()
            run(host, state, method=method)
    else:
        result = run(host, state, method=method)
        assert [o["removed"] for o in result["original"]] == [True, True], result["original"]
    # Docker's root: its original path after a restore or a bind; the target a daemon_json move named.
    served = target if (state, method) == ("cleaned", "daemon_json") else source
    assert host.running and host.root == served, (host.running, host.root)
    assert host.ctd_running and host.ctd_serves(csource), "containerd does not serve what %s shows" % csource
    names, files, images, layer = inventory(host)
    assert (names, images) == (before[0], before[2]), (names, images)
    assert files == host.model and files.get("on-the-data-disk.txt"), (files, host.model)
    assert layer == host.layer_model and layer.get("on-the-data-disk.txt"), (layer, host.layer_model)
    mounts = _mountinfo.read()
    binds = [(csource, ctd_target(machine))] + ([(source, target)] if method == "bind" else [])
    for point, moved in binds:
        if state == "restored":
            assert _mountinfo.mount_at(mounts, point) is None, "a mount is left at %s" % point
        else:
            assert _mountinfo.same_bind(mounts, moved, point), "%s is not the bind of %s" % (point, moved)
    if method == "daemon_json":
        assert _mountinfo.mount_at(mounts, source) is None, "a mount is left at %s" % source
    if state == "cleaned":
        for point in (source, csource):
            left = [n for n in os.listdir(os.path.dirname(point)) if n.startswith(os.path.basename(point) + ".")]
            assert left == [], "left beside %s: %s" % (point, left)
    with open(os.path.join(machine, "etc", "fstab")) as f:
        lines = [ln for ln in f.read().splitlines() if ln and not ln.startswith("#") and ln != tcb.HAND]
    assert len(lines) == (0 if state == "restored" else len(binds)), lines
    with open(host.daemon_json) as f:
        data_root = json.load(f).get("data-root")
    assert os.path.normpath(data_root or source) == (target if served == target else source), data_root
    if then == "edit":
        with open(os.path.join(machine, "etc", "fstab")) as f:
            assert tcb.HAND in f.read().splitlines(), "the line added to fstab by hand was lost"
        with open(host.daemon_json) as f:
            assert json.load(f).get("debug") is True, "the key added to daemon.json by hand was lost"
    assert not host.masked_units, host.masked_units
    host.new_process()
    assert not run(host, state, method=method)["changed"]


# The hand edits follow the restore's kills (it writes fstab's two lines away one after the other), not the
# cleanup's (it leaves fstab alone).
AFTER = [(m, s, t) for m in METHODS for s in ("restored", "cleaned") for t in ("nothing", "reboot", "edit", "twice")
         if s == "restored" or t in ("nothing", "reboot")]


@pytest.mark.parametrize("method,state,then", AFTER, ids=["%s-%s-%s" % c for c in AFTER])
@pytest.mark.parametrize("k", list(range(1, 51)))
@explore.ahead
def test_a_restore_or_cleanup_with_containerd_killed_before_any_change_then_recovered_keeps_every_write(
        afterwards, tmp_path, method, state, k, then):
    seeded, runs = afterwards
    if k > runs[(method, state)][0]:
        pytest.skip("that run makes %d changes" % runs[(method, state)][0])
    sim_bind.in_namespace(after_case, seeded, str(tmp_path / "machine"), str(tmp_path / "lock"), method, state, k,
                          then)


def test_the_restore_and_cleanup_explorations_cover_both_roots(afterwards):
    for method in METHODS:
        restored, cleaned = afterwards[1][(method, "restored")], afterwards[1][(method, "cleaned")]
        assert 10 < restored[0] <= 50 and restored[1].count("rsync") >= 2 and \
            restored[1].count("rename") >= 2, (method, restored)
        assert 1 < cleaned[0] <= 50 and cleaned[1].count("remove_tree") == 2, (method, cleaned)


def split(names, method):
    """The restore's change once Docker's root is switched back (its original in place, fstab without its bind line
    or daemon.json without data-root, the drop-in gone for daemon_json) and containerd's not yet: a kill before it,
    then a boot, has Docker write on both kinds of root."""
    if method == "bind":
        k = names.index("rename") + 3
        assert names[k - 2] == "write_file", names
    else:
        k = names.index("restore_file") + 2
        assert names[k - 3:k] == ["write_file", "restore_file", "run"], names
    assert "rename" in names[k:], names
    return k


def split_then_recovery(seeded, machine, lock, method, k1, k2, then):
    """A move by METHOD with containerd's root; its restore killed between the two switches back (change K1), a
    boot after which Docker writes on Docker's original and on containerd's moved root; the recovery killed before
    its change K2 (None: not killed; returns how many changes it made), THEN; the recovery again."""
    host = moved_machine(seeded, machine, lock, method)
    before = inventory(host)
    host.new_process(kill_at=k1)
    with pytest.raises(sim_host.Killed):
        run(host, "restored", method=method)
    assert host.reboot() and host.write_in_a_container("late1.txt", "after the first boot")
    assert host.root == sim_host.default_root(machine), host.root  # Docker on its original, back
    start = host.count
    host.new_process(kill_at=k2)
    if k2 is None:
        run(host, "restored", method=method)
        return host.count - start
    with pytest.raises(sim_host.Killed):
        run(host, "restored", method=method)
    assert host.dead and host.count == host.kill_at, (host.count, host.kill_at)  # killed where it claims
    tcb.perturb(host, then)
    recovered(host, "restored", before, then, method)
    return None


@pytest.fixture(scope="module")
def split_restore(afterwards, tmp_path_factory):
    """{method: (the restore's split point, how many changes its recovery makes)}."""
    seeded, runs = afterwards
    base = str(explore.scratch(tmp_path_factory, "sim-ctd-split"))
    out = {}
    for method in METHODS:
        k1 = split(runs[(method, "restored")][1], method)
        out[method] = (k1, sim_bind.in_namespace(split_then_recovery, seeded, os.path.join(base, "m-" + method),
                                                 os.path.join(base, "l-" + method), method, k1, None, "nothing"))
    return seeded, out


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("k2", list(range(1, 61)))
@explore.ahead
def test_the_recovery_of_a_restore_split_between_two_roots_killed_again_then_a_boot_keeps_every_write(
        split_restore, tmp_path, method, k2):
    """The recovery carries what Docker wrote on its original onto its moved root, puts both moved roots back in
    service and restores again: killed before each of its changes, then a boot after which Docker writes again (on
    whatever the host serves then), the next recovery still keeps every write."""
    seeded, runs = split_restore
    k1, n = runs[method]
    if k2 > n:
        pytest.skip("the recovery makes %d changes" % n)
    sim_bind.in_namespace(split_then_recovery, seeded, str(tmp_path / "machine"), str(tmp_path / "lock"), method,
                          k1, k2, "reboot")


def test_the_split_restore_exploration_covers_the_carry(split_restore):
    for method, (k1, n) in split_restore[1].items():
        assert 10 < n <= 60, (method, k1, n)


def test_the_containerd_exploration_finds_a_window_that_leaves_containerd_running(template, tmp_path, monkeypatch):
    """It can fail: with a window that stops Docker but not containerd (nor checks that containerd stopped), the
    running containerd keeps the original it holds, which the switch sets aside: after the rerun it serves the
    backup, not what its root's path shows, for a kill anywhere in the window."""
    monkeypatch.setattr(_run.Run, "with_containerd", property(lambda self: False))
    seeded, counts = template
    names = counts[("bind", "none")][1]
    found = []
    for k in (names.index("stop_docker") + 2, names.index("start_docker")):
        try:
            sim_bind.in_namespace(case, seeded, str(tmp_path / ("m%d" % k)), str(tmp_path / ("l%d" % k)), "bind", k,
                                  "none", "nothing")
        except AssertionError as exc:
            found.append(str(exc).splitlines()[0])
    assert len(found) == 2 and all("containerd does not serve" in v for v in found), found
