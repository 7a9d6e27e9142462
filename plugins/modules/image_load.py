#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: image_load
short_description: Load images from an archive (docker load), verified first
version_added: 0.1.0
description:
  - Loads a C(docker save) archive, plain or compressed with gzip, zstd or xz, streaming it to the Engine API.
  - When the archive has a sidecar (C(SRC.json), written by M(dockyard.migrate.image_save)), its size and sha256 are
    checked first; a truncated, damaged or swapped archive is refused and nothing is loaded.
  - When every image of the archive is already present with its tags, nothing is loaded.
author:
  - Dockyard Maintainers (@dockyard)
extends_documentation_fragment:
  - dockyard.migrate.docker
attributes:
  check_mode:
    support: full
    description: Verifies the archive and reports which images would load.
  diff_mode:
    support: none
    description: Nothing to diff.
  idempotent:
    support: full
    description: Images already present with their tags are not loaded again.
options:
  src:
    description:
      - The archive on the host.
    type: path
    required: true
    version_added: 0.1.0
  verify:
    description:
      - Check the archive against its sidecar when there is one.
    type: bool
    default: true
    version_added: 0.1.0
seealso:
  - module: dockyard.migrate.image_save
'''

EXAMPLES = r'''
- name: Load an image set saved on another host
  dockyard.migrate.image_load:
    src: /mnt/data/images/app-1.4.tar.zst
  register: loaded
'''

RETURN = r'''
images:
  description: The images the archive holds, with C(id) and C(tags).
  returned: always
  type: list
  elements: dict
  sample: [{id: "sha256:d832...", tags: ["app/web:1.4"]}]
loaded:
  description: The images that were missing and were loaded (in check mode, that would be loaded).
  returned: always
  type: list
  elements: dict
  sample: [{id: "sha256:d832...", tags: ["app/web:1.4"]}]
verified:
  description: Whether the archive was checked against a sidecar.
  returned: always
  type: bool
  sample: true
compression:
  description: The archive's compression as detected from its first bytes.
  returned: always
  type: str
  sample: zstd
'''

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.migrate.plugins.module_utils._common import client_from_params, docker_args
from ansible_collections.dockyard.migrate.plugins.module_utils._docker_api import DockerError
from ansible_collections.dockyard.migrate.plugins.module_utils._images import ImageError, load


def main():
    module = AnsibleModule(
        argument_spec=docker_args(
            src=dict(type="path", required=True),
            verify=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        result = load(client_from_params(p), p["src"], module.check_mode, p["verify"])
    except ImageError as exc:
        module.fail_json(msg=str(exc))
    except DockerError as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
