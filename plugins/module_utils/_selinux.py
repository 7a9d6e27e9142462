# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""SELinux file contexts for a moved data root.  Internal to dockyard.migrate.

A moved root must carry the labels of the path Docker knew (container_var_lib_t
and friends), or confined containers cannot read their layers: the new path is
declared equivalent to the original path (``semanage fcontext -a -e``), never
to the backup the original was renamed to, and relabelled (``restorecon -R
-F``).  A rollback deletes the equivalence (``semanage fcontext -d -e``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.process import get_bin_path

from ansible_collections.dockyard.migrate.plugins.module_utils._move import RelocationError


class SELinuxError(RelocationError):
    """Labelling the new root failed."""


def enabled():
    """Whether SELinux is enabled, asked of libselinux the way ansible-core's modules ask."""
    try:
        from ansible.module_utils.compat import selinux
        return bool(selinux.is_selinux_enabled())
    except (ImportError, OSError, AttributeError):
        return False


def _bin(name):
    try:
        return get_bin_path(name)
    except ValueError:
        return None


def unlabel(runner, old, new, is_enabled=enabled):
    """Delete the equivalence label_like declared.  Returns False when there was nothing to do."""
    if not is_enabled():
        return False
    semanage = _bin("semanage")
    if not semanage:
        return False
    rc, out, err = runner([semanage, "fcontext", "-d", "-e", old, new])
    if rc != 0 and "not defined" not in (err + out) and "does not exist" not in (err + out):
        raise SELinuxError("semanage fcontext -d -e %s %s failed: %s" % (old, new, (err or out).strip()))
    return rc == 0


def label_like(runner, old, new, is_enabled=enabled):
    """Give NEW the SELinux file context of OLD.  Returns False when SELinux is off (nothing to do)."""
    if not is_enabled():
        return False
    semanage = _bin("semanage")
    if semanage:
        rc, out, err = runner([semanage, "fcontext", "-a", "-e", old, new])
        if rc != 0 and "already" not in (err + out):
            raise SELinuxError("semanage fcontext -a -e %s %s failed: %s" % (old, new, (err or out).strip()))
    restorecon = _bin("restorecon") or "restorecon"
    rc, out, err = runner([restorecon, "-R", "-F", new])
    if rc != 0:
        raise SELinuxError("restorecon -R -F %s failed: %s" % (new, (err or out).strip()))
    return True
