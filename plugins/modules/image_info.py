#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: image_info
short_description: Tell which images exist on a host, by name or ID
version_added: 0.1.0
description:
  - Looks up each name or ID with the Engine API and returns the images found (ID, tags, size, layers) and the
    references that name no image here. Used by the C(transfer_images) role to find what a destination lacks.
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
    description: Only reads.
  diff_mode:
    support: none
    description: Nothing changes.
  idempotent:
    support: full
    description: Only reads.
options:
  images:
    description: Names (with tags) or IDs.
    type: list
    elements: str
    required: true
    version_added: 0.1.0
seealso:
  - module: dockyard.migrate.image_save
'''

EXAMPLES = r'''
- name: Which of these images does the host have?
  dockyard.migrate.image_info:
    images: [app/web:1.4, "sha256:d83216d61273011cc5bad3c5b8a5d807e5f54ddee528c83737c49c1c42b4d385"]
  register: have
'''

RETURN = r'''
images:
  description:
    - The images found, each with C(id), C(config), C(tags), C(size), C(layers) (the diff IDs of its layers, in
      order) and the C(refs) that named it.
    - C(config) is the digest of the image's configuration, the identity that holds across image stores. The classic
      store's image ID is that digest, while the containerd image store's ID is its manifest's digest; there
      C(config) is read from the manifest in containerd's content store, and is null when it cannot be told.
    - C(blobs) are, on the containerd image store, the digests of the blobs that hold the layers (in the order of
      C(layers); compressed, they differ from the diff IDs), null on the classic store.
  returned: always
  type: list
  elements: dict
  sample: [{id: "sha256:d832...", config: "sha256:d832...", blobs: null, tags: ["app/web:1.4"], size: 5130000,
           layers: ["sha256:7b1e..."], refs: ["app/web:1.4"]}]
missing:
  description: The references that name no image on this host.
  returned: always
  type: list
  elements: str
  sample: ["app/worker:1.4"]
'''

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.migrate.plugins.module_utils._common import client_from_params, docker_args
from ansible_collections.dockyard.migrate.plugins.module_utils._docker_api import DockerError
from ansible_collections.dockyard.migrate.plugins.module_utils._images import info


def main():
    module = AnsibleModule(argument_spec=docker_args(images=dict(type="list", elements="str", required=True)),
                           supports_check_mode=True)
    try:
        images, missing = info(client_from_params(module.params), module.params["images"])
    except DockerError as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
    module.exit_json(changed=False, images=images, missing=missing)


if __name__ == "__main__":
    main()
