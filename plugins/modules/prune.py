#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: prune
short_description: Reclaim space before a move (dangling images, the build cache or unused images)
version_added: 0.1.0
description:
  - Removes what O(what) names through the Engine API, as C(docker image prune), C(docker builder prune) and
    C(docker image prune --all) do, and reports the bytes the engine reclaimed. Volumes are never pruned.
  - The C(relocate_data_root) role runs it before a move when C(relocate_data_root_prune) asks for it, so the move
    copies less.
author:
  - Dockyard Maintainers (@dockyard)
extends_documentation_fragment:
  - dockyard.migrate.docker
  - dockyard.migrate.attributes
  - dockyard.migrate.attributes.platform
  - dockyard.migrate.attributes.docker_action_group
attributes:
  check_mode:
    support: full
    description: Lists what would be removed and the bytes Docker reports for it; removes nothing.
  diff_mode:
    support: full
    description: The images or build cache entries removed (or that would be), one per line.
  idempotent:
    support: full
    description: A second run finds nothing left to remove and reports no change.
options:
  what:
    description:
      - V(dangling) removes images with no tag that no container uses.
      - V(build_cache) removes the build cache entries not in use.
      - V(unused_images) removes every image no container (running or stopped) uses, tagged or not.
    type: str
    choices: [dangling, build_cache, unused_images]
    required: true
    version_added: 0.1.0
seealso:
  - module: dockyard.migrate.data_root
'''

EXAMPLES = r'''
- name: Reclaim the space of untagged images before the move
  dockyard.migrate.prune:
    what: dangling
  register: pruned

- name: Say how much
  ansible.builtin.debug:
    msg: "{{ pruned.reclaimed_bytes }} bytes reclaimed"
'''

RETURN = r'''
removed:
  description:
    - What was removed, one line each (image ID with its tags, or build cache entry); in check mode what would be.
  returned: always
  type: list
  elements: str
reclaimed_bytes:
  description:
    - The bytes the engine says it reclaimed; in check mode the sum of the sizes Docker reports for what would go
      (layers shared with images that stay are counted, so the real figure may be lower).
  returned: always
  type: int
'''

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.migrate.plugins.module_utils import _prune
from ansible_collections.dockyard.migrate.plugins.module_utils._common import client_from_params, docker_args
from ansible_collections.dockyard.migrate.plugins.module_utils._docker_api import DockerError


def main():
    module = AnsibleModule(argument_spec=docker_args(what=dict(type="str", required=True, choices=list(_prune.KINDS))),
                           supports_check_mode=True)
    kind = module.params["what"]
    try:
        client = client_from_params(module.params)
        items, planned = _prune.plan(client, kind)
        lines = _prune.describe(kind, items)
        if not items:
            module.exit_json(changed=False, removed=[], reclaimed_bytes=0)
        diff = {"before": "\n".join(lines) + "\n", "after": ""}
        if module.check_mode:
            module.exit_json(changed=True, removed=lines, reclaimed_bytes=planned, diff=diff)
        _removed, reclaimed = _prune.apply(client, kind)
        left, _bytes = _prune.plan(client, kind)
    except DockerError as exc:
        module.fail_json(msg="pruning %s failed: %s" % (kind.replace("_", " "), exc), exception=traceback.format_exc())
    gone = set(i["id"] for i in items) - set(i["id"] for i in left)
    module.exit_json(changed=bool(gone) or reclaimed > 0,
                     removed=[line for line, i in zip(lines, items) if i["id"] in gone],
                     reclaimed_bytes=reclaimed, diff=diff)


if __name__ == "__main__":
    main()
