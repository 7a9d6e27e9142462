# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The options of a data-root move, declared once.  Internal to dockyard.migrate.

``ARGUMENT_SPEC`` is the data_root module's argument spec; ``Options`` is the
typed view of the parameters that every other part of the relocation reads,
with each default taken from the spec, so no default is repeated at a point
of use.  ``Options.validate`` checks what an argument spec cannot express.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import os
import re
import shutil

from ansible_collections.dockyard.migrate.plugins.module_utils import _units

ARGUMENT_SPEC = dict(
    target=dict(type="path", required=True, aliases=["path"]),
    state=dict(type="str", default="moved", choices=["moved", "restored", "cleaned"]),
    method=dict(type="str", default="bind", choices=["bind", "daemon_json"]),
    containerd=dict(type="str", default="auto", choices=["auto", "always", "never"]),
    containerd_path=dict(type="path"),
    keep_source=dict(type="bool", default=True),
    two_phase=dict(type="bool", default=True),
    margin=dict(type="str", default="5%"),
    stop_timeout=dict(type="int", default=120),
    verify_timeout=dict(type="int", default=90),
    copy_engine=dict(type="str", default="auto", choices=["auto", "rsync"]),
    online_passes=dict(type="int", default=3, no_log=False),
    final_copy=dict(type="str", default="mutable", choices=["mutable", "full"]),
    rsync_opts=dict(type="list", elements="str", default=[]),
    bwlimit=dict(type="str", default=""),
    nice=dict(type="int", default=0),
    ionice=dict(type="str", default="none"),
    soak_days=dict(type="float", default=7),
    status_file=dict(type="path", default="/run/dockyard-migrate/data_root.status.json"),
    daemon_json=dict(type="path", default="/etc/docker/daemon.json"),
    fstab=dict(type="path", default="/etc/fstab"),
    allow_same_filesystem=dict(type="bool", default=False),
    allow_swarm_manager=dict(type="bool", default=False),
    time_limit=dict(type="int", default=0),
)

# The rsync options passed on: a rate limit and what rsync prints.  Any other option could make a pass copy
# less than everything (-n, --existing, --max-size, --exclude, ...) or lose the source.
RSYNC_OPTS_WITH_VALUE = ("--bwlimit", "--info")
RSYNC_OPTS_ALONE = ("-v", "--verbose", "-q", "--quiet")


# The I/O scheduling classes of ionice(1) a copy may run in: lower than normal, never higher.
IONICE_CLASSES = {"best-effort": "2", "idle": "3"}
_IONICE = re.compile(r"^(none|idle|best-effort)(?::([0-7]))?$")
# Where nice (coreutils) and ionice (util-linux) are looked for, beyond PATH.
SBIN_PATHS = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class OptionError(Exception):
    pass


def find_bin(name):
    return shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), SBIN_PATHS]))


def bwlimit_kib(text):
    """A rate per second ('50M', '512K', '2G'; plain numbers are bytes) as the KiB rsync's --bwlimit takes;
    0 for no limit.  Raises OptionError naming the value."""
    text = str(text if text is not None else "").strip()
    if text in ("", "0"):
        return 0
    try:
        rate = _units.parse_size(text)
    except ValueError:
        raise OptionError("bwlimit %r is not a rate per second: use a size such as 512K, 50M or 1G "
                          "(plain numbers are bytes), or leave it empty for no limit" % (text,))
    if rate < 1024:
        raise OptionError("bwlimit %r is below 1K per second, the smallest rate rsync can hold" % (text,))
    return rate // 1024


def parse_ionice(text):
    """'none' -> None; 'idle' -> ('3', None); 'best-effort' -> ('2', '7'); 'best-effort:N' -> ('2', 'N')."""
    m = _IONICE.match(str(text if text is not None else "none").strip())
    if not m or (m.group(1) != "best-effort" and m.group(2)):
        raise OptionError("ionice %r is not one of none, idle, best-effort or best-effort:N (N from 0, the "
                          "highest, to 7, the lowest level of the class)" % (text,))
    if m.group(1) == "none":
        return None
    if m.group(1) == "idle":
        return (IONICE_CLASSES["idle"], None)
    return (IONICE_CLASSES["best-effort"], m.group(2) or "7")


class Options:
    """The parameters as attributes; a missing or None value takes the spec's default."""

    def __init__(self, params):
        for name, spec in ARGUMENT_SPEC.items():
            value = params.get(name)
            for alias in spec.get("aliases", ()):  # as AnsibleModule takes an alias for its option
                value = params.get(alias) if value is None else value
            if value is None:
                value = copy.deepcopy(spec.get("default"))
            setattr(self, name, value)
        if self.target:
            self.target = os.path.normpath(self.target)

    def validate(self):
        """Raise OptionError naming the first option that cannot be used."""
        if not self.target or not os.path.isabs(self.target):
            raise OptionError("path %r must be an absolute path (for example /mnt/data/docker)" % (self.target,))
        if self.target == "/":
            raise OptionError("path / cannot be a Docker data root")
        for name, spec in ARGUMENT_SPEC.items():
            if spec.get("choices") and getattr(self, name) not in spec["choices"]:
                raise OptionError("%s %r is not one of %s" % (name, getattr(self, name), ", ".join(spec["choices"])))
        if self.containerd_path and not os.path.isabs(self.containerd_path):
            raise OptionError("containerd_path %r must be an absolute path" % (self.containerd_path,))
        try:
            _units.margin_bytes(self.margin or "0", 100)
        except ValueError as exc:
            raise OptionError(str(exc))
        if self.time_limit is None or int(self.time_limit) < 0:
            raise OptionError("time_limit must be 0 (no limit) or a number of seconds (got %r)" % (self.time_limit,))
        if self.online_passes is None or int(self.online_passes) < 1:
            raise OptionError("online_passes must be 1 or more (got %r)" % (self.online_passes,))
        for opt in self.rsync_opts:
            name, eq, value = str(opt).partition("=")
            if not (opt in RSYNC_OPTS_ALONE or (name in RSYNC_OPTS_WITH_VALUE and eq and value.strip())):
                raise OptionError("rsync_opts entry %r is not allowed: only --bwlimit=RATE, --info=FLAGS, -v, "
                                  "--verbose, -q and --quiet are passed on (others could make a pass copy less "
                                  "than everything)" % (opt,))
        if bwlimit_kib(self.bwlimit) and self.rsync_bwlimit:
            raise OptionError("bwlimit %r and rsync_opts %s both set a rate: set it once, in bwlimit" % (
                self.bwlimit, self.rsync_bwlimit))
        if self.nice is None or not 0 <= int(self.nice) <= 19:
            raise OptionError("nice must be from 0 (normal) to 19 (lowest CPU priority), got %r; a copy never "
                              "runs above normal priority" % (self.nice,))
        parse_ionice(self.ionice)
        for name, wanted in (("nice", int(self.nice) > 0), ("ionice", parse_ionice(self.ionice))):
            if wanted and not find_bin(name):
                raise OptionError("%s is set but the %s command is not installed on this host (%s); install it "
                                  "or leave %s at its default" % (
                                      name, name, "coreutils" if name == "nice" else "util-linux", name))
        if self.soak_days is None or float(self.soak_days) < 0:
            raise OptionError("soak_days must be 0 or more, got %r" % (self.soak_days,))

    @property
    def rsync_bwlimit(self):
        """The --bwlimit entry of rsync_opts, if any."""
        return next((o for o in self.rsync_opts if str(o).partition("=")[0] == "--bwlimit"), None)

    @property
    def throttled(self):
        """Whether a bandwidth limit is set (bwlimit, or --bwlimit in rsync_opts, unless it is 0)."""
        if bwlimit_kib(self.bwlimit):
            return True
        value = (self.rsync_bwlimit or "").partition("=")[2].strip()
        return bool(value) and value.rstrip("kKmMgGtTbB") not in ("0", "0.0", "")

    @property
    def rsync_args(self):
        """The options added to every rsync pass: rsync_opts, and --bwlimit from bwlimit."""
        kib = bwlimit_kib(self.bwlimit)
        return list(self.rsync_opts) + (["--bwlimit=%d" % kib] if kib else [])

    @property
    def priority_prefix(self):
        """The argv that runs a copy command at the chosen CPU and I/O priority: ``nice -n N`` (coreutils) and
        ``ionice -c CLASS [-n LEVEL]`` (util-linux) before it; empty at normal priority."""
        out = []
        io = parse_ionice(self.ionice)
        if io:
            out += [find_bin("ionice") or "ionice", "-c", io[0]] + (["-n", io[1]] if io[1] else [])
        if int(self.nice or 0) > 0:
            out += [find_bin("nice") or "nice", "-n", str(int(self.nice))]
        return out

    @property
    def walk_mutable(self):
        """Whether passes after the first may skip the image layers an earlier pass settled."""
        return self.final_copy != "full"

    def margin_for(self, data_bytes):
        return _units.margin_bytes(self.margin or "0", data_bytes)
