# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""How Docker was told where its data root is.  Internal to the dockyard.migrate collection.

Four ways, in the order dockerd honours them: a ``--data-root``/``-g``/
``--graph`` flag on the daemon's command line, ``data-root`` (or the old
``graph``) in daemon.json, and otherwise the default ``/var/lib/docker``, which
may itself be a bind mount of a directory on another disk (from /etc/fstab or
made by hand).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shlex

from ansible_collections.dockyard.migrate.plugins.module_utils import _mountinfo

DEFAULT_ROOT = "/var/lib/docker"
DEFAULT_CONTAINERD_ROOT = "/var/lib/containerd"
ROOT_FLAGS = ("--data-root", "-g", "--graph")


def parse_exec_start(text):
    """The argv lists in ``systemctl show -p ExecStart --value`` output."""
    out = []
    for m in re.finditer(r"argv\[\]=(.*?) ;", text or ""):
        try:
            out.append(shlex.split(m.group(1)))
        except ValueError:
            out.append(m.group(1).split())
    return out


def flag_data_root(argv):
    """The data root named on a dockerd command line, or None."""
    found = None
    for i, arg in enumerate(argv):
        for flag in ROOT_FLAGS:
            if arg == flag and i + 1 < len(argv):
                found = argv[i + 1]
            elif arg.startswith(flag + "="):
                found = arg.split("=", 1)[1]
    return found


def default_opts_data_root(text):
    """A root flag inside DOCKER_OPTS of /etc/default/docker (sysvinit/upstart hosts)."""
    for line in (text or "").splitlines():
        line = line.strip()
        if line.startswith("DOCKER_OPTS="):
            value = line.split("=", 1)[1].strip().strip("\"'")
            try:
                return flag_data_root(shlex.split(value))
            except ValueError:
                return None
    return None


def containerd_root(config_text):
    """The top-level ``root`` of containerd's config.toml, or the default."""
    for line in (config_text or "").splitlines():
        s = line.strip()
        if s.startswith("["):
            break
        m = re.match(r'^root\s*=\s*["\']([^"\']+)["\']', s)
        if m:
            return m.group(1)
    return DEFAULT_CONTAINERD_ROOT


def determine(daemon_json=None, exec_argvs=None, default_opts_text=None, fstab_lines=None,
              mounts=None, api_root=None):
    """Describe how the data root was chosen.

    Returns a dict: ``method`` (flag, daemon_json, bind, default), the
    configured root, the flag and daemon.json values, the bind mount (from
    fstab and from mountinfo), and ``conflicts`` (messages).
    """
    daemon_json = daemon_json or {}
    flag = None
    for argv in exec_argvs or []:
        flag = flag_data_root(argv) or flag
    flag = flag or default_opts_data_root(default_opts_text)
    dj = daemon_json.get("data-root") or daemon_json.get("graph")
    configured = flag or dj or DEFAULT_ROOT
    root = os.path.normpath(api_root or configured)
    conflicts = []
    if flag and dj:
        conflicts.append("the data root is set both by a %s flag in the service (%s) and in "
                         "daemon.json (%s); dockerd refuses to start like that" % (
                             "--data-root", flag, dj))
    if api_root and os.path.normpath(api_root) != os.path.normpath(configured):
        conflicts.append("the running daemon uses %s but the configuration says %s "
                         "(changed without a restart?)" % (api_root, configured))
    fstab_entry = None
    for line in fstab_lines or []:
        if line.is_entry and line.path == root:
            fstab_entry = line.to_dict()
    active = None
    if mounts is not None:
        active = _mountinfo.bind_source(mounts, root)
    bind = None
    fstab_is_bind = bool(fstab_entry and "bind" in fstab_entry["opts"].split(","))
    if fstab_is_bind or active:
        bind = {"fstab": fstab_entry, "active": bool(active),
                "source": (fstab_entry or {}).get("src") or (active or {}).get("source_path"),
                "mount": active,
                "active_matches_fstab": bool(active and fstab_entry and mounts is not None and
                                             _mountinfo.same_bind(mounts, fstab_entry["src"], root))}
    if flag:
        method = "flag"
    elif dj:
        method = "daemon_json"
    elif bind:
        method = "bind"
    else:
        method = "default"
    return {"method": method, "root": root, "configured_root": configured,
            "flag_data_root": flag, "daemon_json_data_root": dj, "bind": bind,
            "conflicts": conflicts}
