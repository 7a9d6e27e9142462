#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: bind_mount
short_description: Manage a bind mount and its /etc/fstab line, idempotently
version_added: 0.1.0
description:
  - Keeps one bind mount of O(src) on O(path) in the fstab file and, as asked, mounted or not.
  - Whether O(src) is already bound on O(path) is decided from C(/proc/self/mountinfo) (the device and the
    directory inside it), not from the source string, so a second run never remounts and reports
    C(changed=false).
  - Other fstab lines, comments and spacing stay exactly as they were. The file is written atomically,
    keeping its owner, mode and SELinux label.
author:
  - Dockyard Maintainers (@dockyard)
extends_documentation_fragment:
  - dockyard.migrate.attributes
  - dockyard.migrate.attributes.platform
requirements:
  - C(mount) and C(umount) (util-linux) on the managed host, and root.
attributes:
  check_mode:
    support: full
    description: Reports what would change and the fstab diff; changes nothing.
  diff_mode:
    support: full
    description: Shows the fstab file before and after.
  idempotent:
    support: full
    description: A second run with the same options reports C(changed=false).
options:
  src:
    description:
      - The directory to bind. Required unless O(state=absent).
    type: path
    version_added: 0.1.0
  path:
    description:
      - The mount point, for example V(/var/lib/docker).
    type: path
    required: true
    version_added: 0.1.0
  state:
    description:
      - V(mounted) writes the fstab line and mounts it (creating the mount point).
      - V(present) writes the fstab line only.
      - V(unmounted) unmounts O(path) and keeps the fstab line.
      - V(absent) removes the fstab line and unmounts O(path) when it shows O(src) (or anything, without O(src)).
    type: str
    choices: [mounted, present, unmounted, absent]
    default: mounted
    version_added: 0.1.0
  opts:
    description:
      - Mount options for the fstab line; V(bind) is added when missing.
    type: str
    default: bind
    version_added: 0.1.0
  fstab:
    description:
      - The fstab file to manage.
    type: path
    default: /etc/fstab
    version_added: 0.1.0
  backup:
    description:
      - Keep a copy of the fstab file, beside it and no more readable than it, before changing it.
    type: bool
    default: false
    version_added: 0.1.0
notes:
  - The mount is made with C(mount -o OPTS -- SRC PATH); the fstab line makes it come back at boot.
seealso:
  - module: dockyard.migrate.data_root
  - module: dockyard.migrate.data_root_info
'''

EXAMPLES = r'''
- name: Bind the data disk's docker directory onto /var/lib/docker
  dockyard.migrate.bind_mount:
    src: /mnt/data/docker
    path: /var/lib/docker
    backup: true

- name: Keep the fstab line but unmount it for maintenance
  dockyard.migrate.bind_mount:
    src: /mnt/data/docker
    path: /var/lib/docker
    state: unmounted

- name: Remove the bind mount and its fstab line
  dockyard.migrate.bind_mount:
    path: /var/lib/docker
    state: absent
'''

RETURN = r'''
actions:
  description: What was done (or would be done in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: ["write the fstab line for /var/lib/docker", "bind-mount /mnt/data/docker on /var/lib/docker"]
mounted:
  description: Whether O(path) is a mount point when the module ends (in check mode, as it would be).
  returned: always
  type: bool
  sample: true
backup_file:
  description: The copy of the fstab file made before changing it.
  returned: when O(backup) is true and the file changed
  type: str
  sample: /etc/fstab.dockyard-20261128T101500
'''

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.migrate.plugins.module_utils._bind import BindError, BindMount
from ansible_collections.dockyard.migrate.plugins.module_utils._common import make_runner
from ansible_collections.dockyard.migrate.plugins.module_utils._fstab import FstabError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            src=dict(type="path"),
            path=dict(type="path", required=True),
            state=dict(type="str", default="mounted", choices=["mounted", "present", "unmounted", "absent"]),
            opts=dict(type="str", default="bind"),
            fstab=dict(type="path", default="/etc/fstab"),
            backup=dict(type="bool", default=False),
        ),
        required_if=[("state", "mounted", ["src"]), ("state", "present", ["src"]),
                     ("state", "unmounted", ["src"])],
        supports_check_mode=True,
    )
    p = module.params
    bm = BindMount(p["src"], p["path"], p["state"], p["opts"], p["fstab"], p["backup"], make_runner(module))
    try:
        actions, before, after = bm.plan()
    except (BindError, FstabError, OSError) as exc:
        module.fail_json(msg=str(exc), actions=[])
    changed = bool(actions)
    result = dict(changed=changed, actions=actions)
    if module._diff:
        result["diff"] = dict(before=before, after=after, before_header=p["fstab"], after_header=p["fstab"])
    if changed and not module.check_mode:
        try:
            bm.apply(actions, before, after)
        except (BindError, OSError) as exc:
            module.fail_json(msg=str(exc), exception=traceback.format_exc(), **result)
        if bm.backup_file:
            result["backup_file"] = bm.backup_file
    if module.check_mode:
        result["mounted"] = p["state"] == "mounted" or (p["state"] == "present" and bm.is_mounted())
    else:
        result["mounted"] = bm.is_mounted()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
