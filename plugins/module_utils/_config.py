# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""How Docker was told where its data root is.  Internal to the dockyard.migrate collection.

Four ways, in the order dockerd honours them: a ``--data-root``/``-g``/
``--graph`` flag on the daemon's command line (in the unit's ExecStart, or in
``DOCKER_OPTS`` of /etc/default/docker or ``OPTIONS`` of /etc/sysconfig/docker,
which units expand into it), ``data-root`` (or the old ``graph``) in
daemon.json, and otherwise the default ``/var/lib/docker``, which may itself be
a bind mount of a directory on another disk (from /etc/fstab or made by hand).
dockerd resolves symbolic links in its root: so does ``determine``.
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


# Environment files docker.service reads (Debian's, Red Hat's) and the variable that carries the flags.
ENV_FILES = (("/etc/default/docker", "DOCKER_OPTS"), ("/etc/sysconfig/docker", "OPTIONS"))


def env_data_root(text, name="DOCKER_OPTS"):
    """A root flag inside the variable NAME of an environment file (DOCKER_OPTS, OPTIONS), or None."""
    for line in (text or "").splitlines():
        line = line.strip()
        if line.startswith("export "):
            line = line[len("export "):].strip()
        if line.startswith(name + "="):
            value = line.split("=", 1)[1].strip()
            try:
                return flag_data_root(shlex.split(" ".join(shlex.split(value))))
            except ValueError:
                return flag_data_root(value.strip("\"'").split())
    return None


def default_opts_data_root(text):
    """A root flag inside DOCKER_OPTS of /etc/default/docker."""
    return env_data_root(text, "DOCKER_OPTS")


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


def service_flag(exec_argvs, env_texts):
    """(the --data-root/-g value the service is started with, where it was found), or (None, None): the
    ExecStart of docker.service first, then the environment files of ENV_FILES."""
    flag = flag_source = None
    for argv in exec_argvs or []:
        if flag_data_root(argv):
            flag, flag_source = flag_data_root(argv), "the ExecStart of docker.service"
    for path, name in ENV_FILES:
        value = env_data_root(env_texts.get(path), name)
        if value and not flag:
            flag, flag_source = value, "%s in %s" % (name, path)
    return flag, flag_source


def bind_of(root, fstab_lines, mounts):
    """The bind mount onto ROOT, from fstab and from MOUNTS (None when mountinfo was not read), or None."""
    fstab_entry = None
    for line in fstab_lines or []:
        if line.is_entry and line.path == root:
            fstab_entry = line.to_dict()
    active = None
    if mounts is not None:
        active = _mountinfo.bind_source(mounts, root)
    fstab_is_bind = bool(fstab_entry and "bind" in fstab_entry["opts"].split(","))
    if not (fstab_is_bind or active):
        return None
    return {"fstab": fstab_entry, "active": bool(active),
            "source": (fstab_entry or {}).get("src") or (active or {}).get("source_path"),
            "mount": active,
            "active_matches_fstab": bool(active and fstab_entry and mounts is not None and
                                         _mountinfo.same_bind(mounts, fstab_entry["src"], root))}


def determine(daemon_json=None, exec_argvs=None, default_opts_text=None, fstab_lines=None,
              mounts=None, api_root=None, env_texts=None, resolve=None):
    """Describe how the data root was chosen.

    ``env_texts`` maps an environment file of ENV_FILES to its text (``default_opts_text`` is
    /etc/default/docker's); ``resolve`` (os.path.realpath on a host) resolves symbolic links.
    Returns a dict: ``method`` (flag, daemon_json, bind, default), the configured root and where it
    really is (``configured_real_root``), the flag (and ``flag_source``, where it was found) and
    daemon.json values, the bind mount (from fstab and from mountinfo), ``running_root_differs``
    and ``conflicts`` (messages).
    """
    daemon_json = daemon_json or {}
    env_texts = dict(env_texts or {})
    if default_opts_text is not None:
        env_texts.setdefault(ENV_FILES[0][0], default_opts_text)
    flag, flag_source = service_flag(exec_argvs, env_texts)
    dj = daemon_json.get("data-root") or daemon_json.get("graph")
    configured = flag or dj or DEFAULT_ROOT
    real = os.path.normpath(resolve(configured) if resolve else configured)
    root = os.path.normpath(api_root or real)
    conflicts = []
    if flag and dj:
        conflicts.append("the data root is set both by a %s flag in the service (%s) and in "
                         "daemon.json (%s); dockerd refuses to start like that" % (
                             "--data-root", flag, dj))
    differs = bool(api_root and os.path.normpath(api_root) not in (real, os.path.normpath(configured)))
    if differs:
        conflicts.append("the running daemon uses %s but the configuration says %s "
                         "(changed without a restart?)" % (api_root, configured))
    bind = bind_of(root, fstab_lines, mounts)
    if flag:
        method = "flag"
    elif dj:
        method = "daemon_json"
    elif bind:
        method = "bind"
    else:
        method = "default"
    return {"method": method, "root": root, "configured_root": configured, "configured_real_root": real,
            "flag_data_root": flag, "flag_source": flag_source, "daemon_json_data_root": dj, "bind": bind,
            "running_root_differs": differs, "conflicts": conflicts}
