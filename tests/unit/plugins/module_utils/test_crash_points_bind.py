# -*- coding: utf-8 -*-
"""Every crash point of a bind move, explored as test_crash_points.py explores a daemon_json move, on the simulated
host with the kernel's mounts (sim_bind.BindSimHost, each case in a forked child with a private mount namespace):
a kill (SIGKILL) before each change of a move, of a move whose verification fails and that rolls back, and of a
move with keep_source=false; then nothing or a reboot (fstab's bind line mounted as systemd mounts it, Docker
started as the host points it, a container's write), and for the plain move also that reboot with Docker stopped
by hand after it, or that reboot after a key added to daemon.json and a line to fstab by hand; then the same move
again.  It must converge: Docker serves
the original's path through the bind of the new root with every write its containers made, the inventory as it
was, the original kept (or removed, with keep_source=false) and nothing left beneath the mount, the hand edits kept,
no unit masked, and a further run changes nothing.  A bind move's restore (through the rollback playbook's path)
and its cleanup (state=cleaned) are explored the same way."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import json
import os

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import (
    _cleanup, _copy, _fileops, _journal, _move, _mountinfo, _options, _restore, _run, _switch, _switches, _transaction)

import audit  # pylint: disable=import-error
import explore  # pylint: disable=import-error
import sim_bind  # pylint: disable=import-error
import sim_host  # pylint: disable=import-error
import test_crash_points as tcp  # pylint: disable=import-error

# The tmp_path of this file's tests that are not explorations: on the explorations' storage (explore.scratch).
scratch_tmp_path = explore.scratch_tmp_path

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts need root")

FAULTS = ("none", "verify", "remove")
THEN = ("nothing", "reboot", "stopped", "edit")
POINTS = list(range(1, 61))
HAND = "# kept by hand"


def params(machine):
    return dict(tcp.params(machine), method="bind")


def move(host, keep_source=True, check_mode=False):
    opts = _options.Options(dict(params(host.machine), state="moved", keep_source=keep_source))
    ctx = _run.Run(opts, sim_host.SimClient(host), host.runner, host, _journal.Journal(opts.target, check_mode, host),
                   _copy.Status(None), check_mode=check_mode)
    return _transaction.Relocation(ctx).run()


def with_fault(fault, fn, *args, **kwargs):
    if fault == "verify":
        os.environ[tcp.FAULT] = fault
    try:
        return fn(*args, **kwargs)
    finally:
        os.environ.pop(tcp.FAULT, None)


def probe(seeded, base, fault):
    """An uninterrupted move of FAULT on a fresh machine: (how many changes, their names)."""
    machine = os.path.join(base, "probe-" + fault)
    sim_bind.install(seeded, machine)
    host = sim_bind.BindSimHost(machine, os.path.join(base, "lock-" + fault))
    assert host.reboot()
    host.new_process()
    if fault == "verify":
        with pytest.raises(_move.RelocationError) as exc:
            with_fault(fault, move, host)
        assert exc.value.rolled_back, str(exc.value)
    else:
        assert move(host, keep_source=fault != "remove")["changed"]
        assert _mountinfo.same_bind(_mountinfo.read(), params(machine)["target"], sim_host.default_root(machine))
    return host.count, list(host.changes)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    sim_bind.need_namespace()
    base = str(explore.scratch(tmp_path_factory, "sim-bind"))
    seeded = os.path.join(base, "seeded")
    sim_host.seed(seeded)
    return seeded, dict((f, sim_bind.in_namespace(probe, seeded, base, f)) for f in FAULTS)


def perturb(host, then):
    if then == "edit":
        with open(os.path.join(host.machine, "etc", "fstab"), "a") as f:
            f.write(HAND + "\n")
    tcp.perturb(host, then)


def killed_move(seeded, machine, lock, k, fault, then):
    """The SEEDED machine at MACHINE, a bind move of FAULT killed before its change K, then THEN: (the host, the
    inventory it served before, the change the kill came before)."""
    sim_bind.install(seeded, machine)
    host = sim_bind.BindSimHost(machine, lock)
    assert host.reboot()
    before = tcp.inventory(host.root)
    host.new_process(kill_at=k)
    with pytest.raises(sim_host.Killed):
        with_fault(fault, move, host, keep_source=fault != "remove")
    assert host.dead and host.count == host.kill_at, (host.count, host.kill_at)  # killed where it claims
    killed_before = host.killed_before
    perturb(host, then)
    return host, before, killed_before


def case(seeded, machine, lock, k, fault, then):
    """The SEEDED machine at MACHINE, a bind move of FAULT killed before its change K, THEN, the move again."""
    host, before, killed_before = killed_move(seeded, machine, lock, k, fault, then)
    converged(host, before, keep_source=fault != "remove", stopped_by_hand=then == "stopped")
    if then == "edit":
        with open(host.daemon_json) as f:
            assert '"debug": true' in f.read(), "the key added to daemon.json by hand was lost"
        with open(os.path.join(machine, "etc", "fstab")) as f:
            assert HAND in f.read().splitlines(), "the line added to fstab by hand was lost"
    return killed_before


def converged(host, before, keep_source=True, stopped_by_hand=False):
    source, target = sim_host.default_root(host.machine), params(host.machine)["target"]
    host.new_process()
    try:
        result = move(host, keep_source=keep_source)
    except _move.RelocationError as exc:
        if not (stopped_by_hand and "systemctl start docker" in str(exc) and exc.phase == "preflight"
                and not host.changes and not host.running):
            raise
        host.start_by_hand()
        host.new_process()
        result = move(host, keep_source=keep_source)
    assert host.running and host.root == source, (host.running, host.root, result.get("actions"))
    assert _mountinfo.same_bind(_mountinfo.read(), target, source), "Docker's root is not the bind of %s" % target
    names, files = tcp.inventory(source)
    assert names == before[0], names
    assert files == host.model, "the served root's volume is not what its containers last wrote: %s, not %s" % (
        files, host.model)
    kept = [o for o in result.get("original") or [] if o.get("name") == "docker"]
    if keep_source:
        assert len(kept) == 1 and kept[0]["backup"] and os.listdir(kept[0]["backup"]), \
            "the original is not reported kept: %s" % result.get("original")
    else:
        assert len(kept) == 1 and (kept[0]["removed"] or os.listdir(kept[0]["backup"])), \
            "the original is neither reported removed nor kept: %s" % result.get("original")
    with host.view_beneath(source) as below:
        hidden = os.listdir(below) if os.path.isdir(below) else []
    assert hidden == [], "left beneath the mount at %s: %s" % (source, hidden)
    assert not host.masked_units, host.masked_units
    host.new_process()
    again = move(host, keep_source=keep_source)
    assert not again["changed"], again.get("actions")


# Docker stopped by hand and the hand edits do not depend on what the killed run was: they follow the kills of a
# plain move only, which keeps the exploration's time within the suite's.
CASES = [(f, t) for f in FAULTS for t in THEN if f == "none" or t in ("nothing", "reboot")]


@pytest.mark.parametrize("fault,then", CASES, ids=["%s-%s" % c for c in CASES])
@pytest.mark.parametrize("k", POINTS)
@explore.ahead
def test_a_kill_before_any_change_of_a_bind_move_then_the_same_move_converges(template, tmp_path, k, fault, then):
    n = template[1][fault][0]
    if k > n:
        pytest.skip("that run makes %d changes" % n)
    if tcp.same_as_plain(template[1], fault, k):
        pytest.skip("the same case as the plain move's (fault none)")
    sim_bind.in_namespace(case, template[0], str(tmp_path / "machine"), str(tmp_path / "lock"), k, fault, then)


def test_the_bind_exploration_covers_every_change_of_a_bind_move(template):
    counts = template[1]
    assert 10 < counts["none"][0] < counts["verify"][0] <= max(POINTS), counts
    assert {"stop_docker", "write_file", "write_dropin", "start_docker", "rsync", "rename", "run"} <= \
        set(counts["none"][1]), counts["none"][1]


def test_the_bind_exploration_finds_an_original_left_under_the_bind(template, tmp_path, monkeypatch, capsys):
    """It can fail: with a fixed bug put back (an original a killed run left under the bind, which a boot then
    mounted over it, is not set aside), a kill between fstab's bind line and the move-aside, then a reboot, leaves
    the whole original hidden beneath the mount and unreported: the exploration names those kill points, and no
    other."""
    monkeypatch.setattr(_switch, "set_aside_hidden", lambda move_, ctx: False)
    monkeypatch.setattr(_switches, "set_aside_hidden", lambda move_, ctx: False)
    seeded, counts = template
    n, names = counts["none"]
    cases = [(k, dict(seeded=seeded, machine=str(tmp_path / ("m%d" % k)), lock=str(tmp_path / ("l%d" % k)), k=k,
                      fault="none", then="reboot")) for k in range(1, n + 1)]
    found = explore.failures(explore.run_cases(functools.partial(sim_bind.in_namespace, case), cases),
                             [k for k, _kwargs in cases])
    with capsys.disabled():
        for k, violation in found:
            print("\nwith the original left under the bind: a kill before change %d (%s), then a reboot: %s" % (
                k, names[k - 1], violation[:200]))
    fstab = names.index("write_file", names.index("backup_file"))  # fstab's bind line, written after its backup
    assert found and all(fstab < k <= names.index("rename") + 1 for k, _v in found), found
    assert all("not reported kept" in v or "left beneath the mount" in v for _k, v in found), found


def restore(host, check_mode=False):
    opts = _options.Options(dict(params(host.machine), state="restored"))
    ctx = _run.Run(opts, sim_host.SimClient(host), host.runner, host, _journal.Journal(opts.target, check_mode, host),
                   _copy.Status(None), check_mode=check_mode)
    return _restore.Restore(ctx).run()


def moved_machine(seeded, machine, lock):
    """The SEEDED machine at MACHINE moved to its data disk by a bind, where a container then wrote."""
    sim_bind.install(seeded, machine)
    host = sim_bind.BindSimHost(machine, lock)
    assert host.reboot()
    host.new_process()
    move(host)
    host.write_in_a_container("on-the-data-disk.txt", "written after the move")
    return host


def killed_after_move(seeded, machine, lock, k, then, run):
    """The SEEDED machine at MACHINE moved by a bind, RUN (restore or clean) killed before its change K, then THEN:
    (the host, the inventory it served before)."""
    host = moved_machine(seeded, machine, lock)
    before = tcp.inventory(host.root)
    host.new_process(kill_at=k)
    with pytest.raises(sim_host.Killed):
        run(host)
    assert host.dead and host.count == host.kill_at, (host.count, host.kill_at)  # killed where it claims
    perturb(host, then)
    return host, before


def restore_probe(seeded, base):
    host = moved_machine(seeded, os.path.join(base, "probe-restore"), os.path.join(base, "lock-restore"))
    start = host.count
    host.new_process()
    assert restore(host)["changed"]
    return host.count - start, list(host.changes)


@pytest.fixture(scope="module")
def restored(template, tmp_path_factory):
    base = str(explore.scratch(tmp_path_factory, "sim-bind-restore"))
    return template[0], sim_bind.in_namespace(restore_probe, template[0], base)


def restore_case(seeded, machine, lock, k, then):
    """A bind move's restore killed before its change K, then THEN, then the rollback playbook's path (the plan in
    check mode, changing nothing, then the real run): Docker serves the original at its path, no bind left, with
    what it held, what was written on the data disk after the move and every write since."""
    host, before = killed_after_move(seeded, machine, lock, k, then, restore)
    source = sim_host.default_root(machine)
    host.new_process()
    tcp.started_as_told(host, then, lambda: restore(host, check_mode=True))
    plan = restore(host, check_mode=True)
    assert host.changes == [], "the plan (check mode) changed the host: %s" % host.changes
    if plan["changed"]:
        host.new_process()
        restore(host)
    assert host.running and host.root == source, (host.running, host.root)
    assert _mountinfo.mount_at(_mountinfo.read(), source) is None, "a mount is left at %s" % source
    names, files = tcp.inventory(source)
    assert names == before[0] and files.get("on-the-data-disk.txt") == "written after the move", (names, files)
    assert files == host.model, "the volume is not what its containers last wrote: %s, not %s" % (files, host.model)
    with open(os.path.join(machine, "etc", "fstab")) as f:
        lines = f.read().splitlines()
    assert not [ln for ln in lines if params(machine)["target"] in ln and not ln.startswith("#")], lines
    if then == "edit":
        assert HAND in lines, "the line added to fstab by hand was lost"
    assert not host.masked_units, host.masked_units
    host.new_process()
    assert not restore(host)["changed"]


@pytest.mark.parametrize("then", ["nothing", "reboot", "edit", "twice"])
@pytest.mark.parametrize("k", list(range(1, 41)))
@explore.ahead
def test_a_bind_restore_killed_before_any_change_then_the_rollback_playbook_keeps_every_write(
        restored, tmp_path, k, then):
    seeded, (n, _changes) = restored
    if k > n:
        pytest.skip("a restore makes %d changes" % n)
    sim_bind.in_namespace(restore_case, seeded, str(tmp_path / "machine"), str(tmp_path / "lock"), k, then)


def rollback_case(seeded, machine, lock, k, fault, then):
    """A bind move (FAULT) killed before its change K, then THEN, then the rollback playbook's path (the plan in
    check mode, changing nothing, then the real run): Docker serves the original at its path, no bind left and no
    bind line, with what it held and every write since.  Only a move killed before its journal's first write may be
    refused, in the plan ("no record of a move"): Docker never stopped and serves the original with every write."""
    host, before, _killed_before = killed_move(seeded, machine, lock, k, fault, then)
    source, target = sim_host.default_root(machine), params(machine)["target"]
    host.new_process()
    try:
        plan = restore(host, check_mode=True)
    except _move.RelocationError as exc:
        assert exc.phase == "preflight" and host.changes == [], (str(exc), host.changes)
        if "no record of a move" in str(exc):  # killed before its journal's first write: Docker never stopped
            assert host.running and host.root == source, host.root
            assert tcp.inventory(source) == (before[0], host.model), tcp.inventory(source)
            return "refused"
        # keep_source=false, its original (being) removed: Docker serves the moved root, with every write.
        assert fault == "remove" and ("was not kept" in str(exc) or "while it removed the original" in str(exc)), \
            str(exc)
        if "while it removed the original" in str(exc):  # only once the removal began
            with open(_journal.marker_path(target)) as f:
                assert json.load(f).get("removing"), "refused as removing, but the journal does not say so"
        else:  # only once it is gone
            left = [n for n in os.listdir(os.path.dirname(source)) if n.startswith(os.path.basename(source) + ".")]
            assert left == [], "refused as not kept, but the original is there: %s" % left
        assert host.running and host.root == source, host.root
        assert _mountinfo.same_bind(_mountinfo.read(), target, source), "Docker's root is not the bind of %s" % target
        assert tcp.inventory(source) == (before[0], host.model), tcp.inventory(source)
        return "refused"
    assert host.changes == [], "the plan (check mode) changed the host: %s" % host.changes
    if plan["changed"]:
        host.new_process()
        restore(host)
    assert host.running and host.root == source, (host.running, host.root)
    assert _mountinfo.mount_at(_mountinfo.read(), source) is None, "a mount is left at %s" % source
    names, files = tcp.inventory(source)
    assert names == before[0], names
    assert files == host.model, "the volume is not what its containers last wrote: %s, not %s" % (files, host.model)
    with open(os.path.join(machine, "etc", "fstab")) as f:
        lines = f.read().splitlines()
    assert not [ln for ln in lines if target in ln and not ln.startswith("#")], lines
    assert not host.masked_units, host.masked_units
    host.new_process()
    assert not restore(host)["changed"]
    return "restored"


ROLLBACK_CASES = [(f, t) for f in FAULTS for t in ("nothing", "reboot")]


@pytest.mark.parametrize("fault,then", ROLLBACK_CASES, ids=["%s-%s" % c for c in ROLLBACK_CASES])
@pytest.mark.parametrize("k", POINTS)
@explore.ahead
def test_a_killed_bind_move_then_the_rollback_playbook_serves_the_original_with_every_write(
        template, tmp_path, k, fault, then):
    n = template[1][fault][0]
    if k > n:
        pytest.skip("that run makes %d changes" % n)
    if tcp.same_as_plain(template[1], fault, k):
        pytest.skip("the same case as the plain move's (fault none)")
    names = template[1][fault][1]
    outcome = sim_bind.in_namespace(rollback_case, template[0], str(tmp_path / "machine"), str(tmp_path / "lock"), k,
                                    fault, then)
    # Refused only before the journal's first write, or once a keep_source=false move removes its original.
    assert outcome == "restored" or k <= names.index("write_file") + 1 or fault == "remove", outcome


def test_the_bind_restore_exploration_covers_every_change_of_a_restore(restored):
    n, changes = restored[1]
    assert 10 < n <= 40 and {"stop_docker", "rsync", "rename", "start_docker", "run"} <= set(changes), (n, changes)


def clean(host, check_mode=False):
    """One run of state=cleaned of a bind move, with no soak period left to wait."""
    opts = _options.Options(dict(params(host.machine), state="cleaned", soak_days=0))
    ctx = _run.Run(opts, sim_host.SimClient(host), host.runner, host, _journal.Journal(opts.target, check_mode, host),
                   _copy.Status(None), check_mode=check_mode)
    return _cleanup.Cleanup(ctx).run()


def clean_probe(seeded, base):
    host = moved_machine(seeded, os.path.join(base, "probe-clean"), os.path.join(base, "lock-clean"))
    start = host.count
    host.new_process()
    result = clean(host)
    assert result["changed"] and [o["removed"] for o in result["original"]] == [True], result
    return host.count - start, list(host.changes)


@pytest.fixture(scope="module")
def bind_cleaned(template, tmp_path_factory):
    base = str(explore.scratch(tmp_path_factory, "sim-bind-clean"))
    return template[0], sim_bind.in_namespace(clean_probe, template[0], base)


def clean_case(seeded, machine, lock, k, then):
    """A bind move's cleanup killed before its change K, then THEN, then the cleanup again: Docker serves the
    original's path through the bind with every write, the kept original is gone and nothing else, and a further
    run changes nothing."""
    host, before = killed_after_move(seeded, machine, lock, k, then, clean)
    source, target = sim_host.default_root(machine), params(machine)["target"]
    host.new_process()
    result = clean(host)
    assert host.running and host.root == source, (host.running, host.root, result.get("actions"))
    assert _mountinfo.same_bind(_mountinfo.read(), target, source), "Docker's root is not the bind of %s" % target
    names, files = tcp.inventory(source)
    assert names == before[0] and files == host.model, (names, files, host.model)
    assert [o["removed"] for o in result["original"]] == [True], result["original"]
    left = [n for n in os.listdir(os.path.dirname(source)) if n.startswith("docker") and n != "docker"]
    assert left == [], "left beside the served root: %s" % left
    with host.view_beneath(source) as below:
        hidden = os.listdir(below) if os.path.isdir(below) else []
    assert hidden == [], "left beneath the mount at %s: %s" % (source, hidden)
    if then == "edit":
        with open(os.path.join(machine, "etc", "fstab")) as f:
            assert HAND in f.read().splitlines(), "the line added to fstab by hand was lost"
    assert not host.masked_units, host.masked_units
    host.new_process()
    assert not clean(host)["changed"]


@pytest.mark.parametrize("then", ["nothing", "reboot", "edit"])
@pytest.mark.parametrize("k", list(range(1, 9)))
@explore.ahead
def test_a_bind_cleanup_killed_before_any_change_then_cleaned_again_removes_only_the_kept_original(
        bind_cleaned, tmp_path, k, then):
    seeded, (n, _changes) = bind_cleaned
    if k > n:
        pytest.skip("a cleanup makes %d changes" % n)
    sim_bind.in_namespace(clean_case, seeded, str(tmp_path / "machine"), str(tmp_path / "lock"), k, then)


def test_the_bind_cleanup_exploration_covers_every_change_of_a_cleanup(bind_cleaned):
    n, changes = bind_cleaned[1]
    assert 1 < n <= 8 and "remove_tree" in changes, (n, changes)


def write_a_file(path):
    _fileops.atomic_write(path, "written in the child\n")
    return True


def test_what_the_collection_does_in_a_forked_case_is_audited(tmp_path):
    """The cases run in forked children: what the audit sees the collection's code do there reaches the test's
    auditors in the parent.  An auditor that allows no writer at all sees the child's atomic write."""
    sim_bind.need_namespace()
    strict = audit.Auditor(writers={}, renamers={}, removers={})
    with audit.watching(strict):
        assert sim_bind.in_namespace(write_a_file, str(tmp_path / "f"))
    assert (tmp_path / "f").read_text() == "written in the child\n"
    assert [(k, who) for k, who, _d in strict.violations] == [("write", "_fileops.py:atomic_write"),
                                                              ("rename", "_fileops.py:atomic_write")], \
        strict.violations
