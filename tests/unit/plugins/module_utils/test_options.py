# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _options

BASE = dict(path="/mnt/data/docker")


def opts(**kw):
    p = dict(BASE)
    p.update(kw)
    return _options.Options(p)


@pytest.mark.parametrize("kw,match", [
    (dict(path="docker"), "path 'docker' must be an absolute path"),
    (dict(path="/"), "path / cannot be"),
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
        if name != "path":
            assert getattr(o, name) == spec.get("default"), name
    o.validate()


def test_a_none_parameter_takes_the_default_and_defaults_are_not_shared():
    a = opts(rsync_opts=None, keep_source=None)
    assert a.rsync_opts == [] and a.keep_source is True
    a.rsync_opts.append("--bwlimit=1M")
    assert opts().rsync_opts == []


def test_path_is_normalised_and_walk_follows_final_copy():
    assert opts(path="/mnt/data/docker/").path == "/mnt/data/docker"
    assert opts().walk_mutable and not opts(final_copy="full").walk_mutable
    assert opts(margin="10%").margin_for(1000) == 100
