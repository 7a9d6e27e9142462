#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: image_import
short_description: Import a filesystem archive as an image (docker import), optionally restoring its configuration
version_added: 0.1.0
description:
  - Creates the image O(name) from a filesystem archive, as C(docker import) does, streaming it to the Engine API.
  - O(changes) takes the Dockerfile instructions import accepts (C(CMD), C(ENTRYPOINT), C(ENV), C(EXPOSE), C(LABEL),
    C(ONBUILD), C(USER), C(VOLUME), C(WORKDIR)); each is checked before the call.
  - With O(restore_config), the configuration M(dockyard.migrate.container_export) recorded in the sidecar is
    restored, so the image runs its original command instead of failing with "No command specified".
  - The archive's sha256 and the changes are kept in labels; an image of that name made from the same archive with
    the same changes is left alone.
  - An archive with a sidecar is checked against it first.
author:
  - Dockyard Maintainers (@dockyard)
extends_documentation_fragment:
  - dockyard.migrate.docker
  - dockyard.migrate.attributes
  - dockyard.migrate.attributes.platform
  - dockyard.migrate.attributes.docker_action_group
requirements:
  - The C(zstd) command on the managed host to import a zstd-compressed archive.
attributes:
  check_mode:
    support: full
    description: Validates the changes, verifies the archive and reports whether the image would be created.
  diff_mode:
    support: none
    description: Nothing to diff.
  idempotent:
    support: full
    description: The same archive and changes under the same name give C(changed=false).
options:
  src:
    description:
      - The archive on the host (plain, gzip, xz or zstd), or an C(http://) or C(https://) URL that the module
        downloads (with its sidecar C(URL.json) when the server has one) to a temporary directory on the host first.
    type: str
    required: true
    version_added: 0.1.0
  name:
    description: The image to create, C(repository:tag) (the tag defaults to C(latest)).
    type: str
    required: true
    version_added: 0.1.0
  changes:
    description: Dockerfile instructions to apply, for example C(CMD ["nginx", "-g", "daemon off;"]).
    type: list
    elements: str
    default: []
    version_added: 0.1.0
  restore_config:
    description:
      - Restore the configuration recorded by M(dockyard.migrate.container_export) (C(Entrypoint), C(Cmd), C(Env),
        C(WorkingDir), C(User), C(ExposedPorts), C(Labels), C(Volumes)), before O(changes).
      - C(StopSignal) and C(Healthcheck) cannot be set by an import and are not restored.
    type: bool
    default: false
    version_added: 0.1.0
  commit_message:
    description: The commit message of the new image.
    type: str
    version_added: 0.1.0
  verify:
    description: Check the archive against its sidecar when there is one.
    type: bool
    default: true
    version_added: 0.1.0
seealso:
  - module: dockyard.migrate.container_export
'''

EXAMPLES = r'''
- name: Snapshot a container and bring it back as test/ubuntu:v1.0, running its original command
  block:
    - name: Export the container
      dockyard.migrate.container_export:
        container: ubuntu-dev
        dest: /mnt/data/snapshots/ubuntu-dev.tar

    - name: Import it as an image
      dockyard.migrate.image_import:
        src: /mnt/data/snapshots/ubuntu-dev.tar
        name: test/ubuntu:v1.0
        restore_config: true
        changes:
          - LABEL snapshot=ubuntu-dev
'''

RETURN = r'''
name:
  description: The image created, as repository:tag.
  returned: always
  type: str
  sample: test/ubuntu:v1.0
id:
  description: The image's ID.
  returned: unless in check mode with a change to make
  type: str
  sample: sha256:6c3e...
changes:
  description:
    - The instructions applied (restored configuration first), with the values of C(ENV) instructions replaced
      by C(********) (the image gets them as they are).
  returned: always
  type: list
  elements: str
  sample: ['CMD ["/bin/sh", "-c", "while true; do sleep 1; done"]', "LABEL snapshot=ubuntu-dev"]
restored:
  description: The instructions that restore the recorded configuration, C(ENV) values redacted as in RV(changes).
  returned: always
  type: list
  elements: str
  sample: ['CMD ["/bin/sh", "-c", "while true; do sleep 1; done"]']
sha256:
  description: The archive's sha256 (kept in the image's label C(io.dockyard.migrate.archive-sha256)).
  returned: always
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
'''

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.migrate.plugins.module_utils._common import client_from_params, docker_args
from ansible_collections.dockyard.migrate.plugins.module_utils._docker_api import DockerError
from ansible_collections.dockyard.migrate.plugins.module_utils._images import ImageError
from ansible_collections.dockyard.migrate.plugins.module_utils._snapshot import import_image


def main():
    module = AnsibleModule(
        argument_spec=docker_args(
            src=dict(type="str", required=True),
            name=dict(type="str", required=True),
            changes=dict(type="list", elements="str", default=[]),
            restore_config=dict(type="bool", default=False),
            commit_message=dict(type="str"),
            verify=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        result = import_image(client_from_params(p), p["src"], name=p["name"], changes=p["changes"],
                              restore_config=p["restore_config"], message=p["commit_message"],
                              check_mode=module.check_mode, verify_sidecar=p["verify"])
    except ImageError as exc:
        module.fail_json(msg=str(exc))
    except DockerError as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
