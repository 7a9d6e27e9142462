# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _options

BASE = dict(target="/mnt/data/docker")


def opts(**kw):
    p = dict(BASE)
    p.update(kw)
    return _options.Options(p)


@pytest.mark.parametrize("kw,match", [
    (dict(target="docker"), "path 'docker' must be an absolute path"),
    (dict(target="/"), "path / cannot be"),
    (dict(method="copy"), "method 'copy' is not one of bind, daemon_json"),
    (dict(containerd="sometimes"), "containerd 'sometimes' is not one of"),
    (dict(containerd_path="rel/ctd"), "containerd_path 'rel/ctd' must be an absolute path"),
    (dict(margin="plenty"), "margin 'plenty'"),
    (dict(rsync_opts=["--remove-source-files"]), "rsync_opts entry '--remove-source-files'"),
    (dict(rsync_opts=["not-an-option"]), "rsync_opts entry 'not-an-option'"),
    (dict(rsync_opts=["-n"]), "rsync_opts entry '-n' is not allowed"),
    (dict(rsync_opts=["--existing"]), "rsync_opts entry '--existing'"),
    (dict(rsync_opts=["--max-size=1k"]), "rsync_opts entry '--max-size=1k'"),
    (dict(rsync_opts=["--exclude=volumes"]), "rsync_opts entry '--exclude=volumes'"),
    (dict(rsync_opts=["--info=progress2", "-vn"]), "rsync_opts entry '-vn'"),
    (dict(rsync_opts=["--bwlimit"]), "rsync_opts entry '--bwlimit'"),
    (dict(rsync_opts=["--bwlimit="]), "rsync_opts entry '--bwlimit='"),
    (dict(online_passes=0), "online_passes must be 1 or more"),
    (dict(final_copy="some"), "final_copy 'some' is not one of mutable, full"),
])
def test_bad_options_are_refused_before_anything(kw, match):
    with pytest.raises(_options.OptionError, match=match):
        opts(**kw).validate()


def test_rsync_opts_take_only_a_rate_limit_and_verbosity():
    opts(rsync_opts=["--bwlimit=100M", "--info=progress2,stats", "-v", "--verbose", "-q", "--quiet"]).validate()


def test_every_default_comes_from_the_argument_spec():
    o = opts()
    for name, spec in _options.ARGUMENT_SPEC.items():
        if name != "target":
            assert getattr(o, name) == spec.get("default"), name
    o.validate()


def test_a_none_parameter_takes_the_default_and_defaults_are_not_shared():
    a = opts(rsync_opts=None, keep_source=None)
    assert a.rsync_opts == [] and a.keep_source is True
    a.rsync_opts.append("--bwlimit=1M")
    assert opts().rsync_opts == []


def test_path_is_normalised_and_walk_follows_final_copy():
    assert opts(target="/mnt/data/docker/").target == "/mnt/data/docker"
    # path is target's alias, as the module's argument spec declares it.
    assert _options.Options({"path": "/mnt/data/docker/"}).target == "/mnt/data/docker"
    assert _options.ARGUMENT_SPEC["target"]["aliases"] == ["path"]
    assert opts().walk_mutable and not opts(final_copy="full").walk_mutable
    assert opts(margin="10%").margin_for(1000) == 100


@pytest.mark.parametrize("kw,match", [
    (dict(bwlimit="fast"), "bwlimit 'fast' is not a rate per second"),
    (dict(bwlimit="-5M"), "bwlimit '-5M' is not a rate per second"),
    (dict(bwlimit="100"), "bwlimit '100' is below 1K per second"),
    (dict(bwlimit="10M", rsync_opts=["--bwlimit=5M"]), "bwlimit '10M' and rsync_opts --bwlimit=5M both set a rate"),
    (dict(nice=-5), "nice must be from 0 .* got -5"),
    (dict(nice=20), "nice must be from 0 .* got 20"),
    (dict(ionice="realtime"), "ionice 'realtime' is not one of none, idle, best-effort"),
    (dict(ionice="idle:3"), "ionice 'idle:3' is not one of"),
    (dict(ionice="best-effort:8"), "ionice 'best-effort:8' is not one of"),
    (dict(soak_days=-1), "soak_days must be 0 or more"),
    (dict(state="gone"), "state 'gone' is not one of moved, restored, cleaned"),
])
def test_bad_throttle_priority_and_soak_values_are_refused(kw, match):
    with pytest.raises(_options.OptionError, match=match):
        opts(**kw).validate()


@pytest.mark.parametrize("bwlimit,rsync_opts,args,throttled", [
    ("", [], [], False),
    ("0", [], [], False),
    ("50M", [], ["--bwlimit=51200"], True),
    ("512K", ["-v"], ["-v", "--bwlimit=512"], True),
    ("1048576", [], ["--bwlimit=1024"], True),
    ("", ["--bwlimit=20M"], ["--bwlimit=20M"], True),
    ("", ["--bwlimit=0"], ["--bwlimit=0"], False),
])
def test_bwlimit_maps_onto_rsync_and_marks_the_move_throttled(bwlimit, rsync_opts, args, throttled):
    o = opts(bwlimit=bwlimit, rsync_opts=rsync_opts)
    o.validate()
    assert o.rsync_args == args
    assert o.throttled is throttled


@pytest.mark.parametrize("nice,ionice,prefix", [
    (0, "none", []),
    (19, "idle", ["ionice", "-c", "3", "nice", "-n", "19"]),
    (10, "none", ["nice", "-n", "10"]),
    (0, "best-effort", ["ionice", "-c", "2", "-n", "7"]),
    (5, "best-effort:4", ["ionice", "-c", "2", "-n", "4", "nice", "-n", "5"]),
])
def test_priority_prefix_runs_the_copy_under_ionice_and_nice(nice, ionice, prefix):
    o = opts(nice=nice, ionice=ionice)
    o.validate()
    got = o.priority_prefix
    assert [a if a.startswith("-") or a.isdigit() else a.rsplit("/", 1)[-1] for a in got] == prefix
    assert all(os.path.isabs(a) for a in got if not (a.startswith("-") or a.isdigit()))


def test_a_priority_whose_command_is_missing_is_refused(monkeypatch):
    monkeypatch.setattr(_options, "find_bin", lambda name: None if name == "ionice" else "/usr/bin/" + name)
    missing = r"ionice is set but the ionice command is not installed on this host \(util-linux\)"
    with pytest.raises(_options.OptionError, match=missing):
        opts(ionice="idle").validate()
    opts(nice=3).validate()  # nice is there
