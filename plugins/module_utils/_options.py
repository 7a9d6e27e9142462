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

from ansible_collections.dockyard.migrate.plugins.module_utils import _units

ARGUMENT_SPEC = dict(
    path=dict(type="path", required=True),
    state=dict(type="str", default="moved", choices=["moved", "restored"]),
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


class OptionError(Exception):
    pass


class Options:
    """The parameters as attributes; a missing or None value takes the spec's default."""

    deadline = None  # time.time() at which the run's time_limit ends (set by the run that starts the clock)

    def __init__(self, params):
        for name, spec in ARGUMENT_SPEC.items():
            value = params.get(name)
            if value is None:
                value = copy.deepcopy(spec.get("default"))
            setattr(self, name, value)
        if self.path:
            self.path = os.path.normpath(self.path)

    def validate(self):
        """Raise OptionError naming the first option that cannot be used."""
        if not self.path or not os.path.isabs(self.path):
            raise OptionError("path %r must be an absolute path (for example /mnt/data/docker)" % (self.path,))
        if self.path == "/":
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

    @property
    def walk_mutable(self):
        """Whether passes after the first may skip the image layers an earlier pass settled."""
        return self.final_copy != "full"

    def margin_for(self, data_bytes):
        return _units.margin_bytes(self.margin or "0", data_bytes)
