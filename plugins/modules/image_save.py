#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: image_save
short_description: Save images with their layers, history and tags into one archive (docker save)
version_added: 0.1.0
description:
  - Writes the images into one archive, as C(docker save) does, so that layers shared between them are stored once
    and every tag is kept. The archive streams from the Engine API to disk and is moved into place only when complete.
  - Beside it, a sidecar C(DEST.json) records the archive's sha256, size and compression and the images (IDs, tags,
    sizes) with the time it was made. M(dockyard.migrate.image_load) checks it before loading.
  - When the archive already holds exactly the wanted images (checked against the sidecar and its checksum),
    nothing is written.
  - The images' configurations in the archive hold their environment (C(ENV)), which may carry credentials. The
    archive and the sidecar are written readable by their owner only unless O(mode) says otherwise.
author:
  - Dockyard Maintainers (@dockyard)
extends_documentation_fragment:
  - dockyard.migrate.docker
  - dockyard.migrate.attributes
  - dockyard.migrate.attributes.platform
  - dockyard.migrate.attributes.docker_action_group
requirements:
  - The C(zstd) command on the managed host for O(compression=zstd).
attributes:
  check_mode:
    support: full
    description: Resolves the images and checks the space, writes nothing.
  diff_mode:
    support: none
    description: An archive has no readable diff.
  idempotent:
    support: full
    description:
      - An archive that already holds exactly the wanted images is left alone (only given O(mode) when its or
        its sidecar's mode differs).
options:
  images:
    description:
      - Names (with tags) or IDs of the images to save. Required unless O(all_images) is true.
    type: list
    elements: str
    default: []
    version_added: 0.1.0
  all_images:
    description:
      - Save every image on the host (narrowed by O(filters)).
    type: bool
    default: false
    version_added: 0.1.0
  filters:
    description:
      - "Engine API image filters for O(all_images), for example C({\"reference\": [\"app/*\"]})."
    type: dict
    version_added: 0.1.0
  dest:
    description:
      - The archive's path. Its directory must exist.
    type: path
    required: true
    version_added: 0.1.0
  compression:
    description:
      - V(none), V(gzip), or V(zstd) (needs the C(zstd) command on the host; much faster than gzip).
    type: str
    choices: [none, gzip, zstd]
    default: none
    version_added: 0.1.0
  force:
    description:
      - Write the archive even when it already holds the wanted images.
    type: bool
    default: false
    version_added: 0.1.0
  mode:
    description:
      - The permissions of the archive and its sidecar, as an octal string such as V('0600') or V('0640')
        (quote it in YAML; an unquoted C(0600) is taken too). Symbolic modes, setuid, setgid and sticky bits
        are refused, and the owner must be able to read the files.
      - An archive that already holds the wanted images is given this mode (and reported as changed) without
        being written again.
    type: raw
    default: '0600'
    version_added: 0.1.0
seealso:
  - module: dockyard.migrate.image_load
'''

EXAMPLES = r'''
- name: Save an image set to the data disk
  dockyard.migrate.image_save:
    images: [app/web:1.4, app/worker:1.4, debian:bookworm]
    dest: /mnt/data/images/app-1.4.tar.zst
    compression: zstd

- name: Save every image of a project
  dockyard.migrate.image_save:
    all_images: true
    filters: {reference: ["app/*"]}
    dest: /mnt/data/images/app-all.tar
'''

RETURN = r'''
dest:
  description: The archive.
  returned: always
  type: str
  sample: /mnt/data/images/app-1.4.tar.zst
sidecar:
  description: The sidecar manifest beside the archive.
  returned: always
  type: str
  sample: /mnt/data/images/app-1.4.tar.zst.json
images:
  description: The images in the archive, each with C(id), C(tags), C(size) and the C(refs) that named it.
  returned: always
  type: list
  elements: dict
  sample: [{id: "sha256:d832...", tags: ["app/web:1.4"], size: 5130000, refs: ["app/web:1.4"]}]
mode:
  description: The mode of the archive and its sidecar.
  returned: always
  type: str
  sample: "0600"
sha256:
  description: The archive's sha256.
  returned: unless in check mode with a change to make
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
size:
  description: The archive's size in bytes.
  returned: unless in check mode with a change to make
  type: int
  sample: 4404020
'''

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.migrate.plugins.module_utils._archive import ArchiveError
from ansible_collections.dockyard.migrate.plugins.module_utils._common import client_from_params, docker_args
from ansible_collections.dockyard.migrate.plugins.module_utils._docker_api import DockerError
from ansible_collections.dockyard.migrate.plugins.module_utils._image_archive import save
from ansible_collections.dockyard.migrate.plugins.module_utils._images import ImageError, list_all


def main():
    module = AnsibleModule(
        argument_spec=docker_args(
            images=dict(type="list", elements="str", default=[]),
            all_images=dict(type="bool", default=False),
            filters=dict(type="dict"),
            dest=dict(type="path", required=True),
            compression=dict(type="str", default="none", choices=["none", "gzip", "zstd"]),
            force=dict(type="bool", default=False),
            mode=dict(type="raw", default="0600"),
        ),
        mutually_exclusive=[("images", "all_images")],
        supports_check_mode=True,
    )
    p = module.params
    if not p["images"] and not p["all_images"]:
        module.fail_json(msg="images is empty: name the images to save, or set all_images: true")
    try:
        client = client_from_params(p)
        refs = list_all(client, p["filters"]) if p["all_images"] else p["images"]
        result = save(client, refs, dest=p["dest"], compression=p["compression"], check_mode=module.check_mode,
                      force=p["force"], mode=p["mode"])
    except (ImageError, ArchiveError) as exc:
        module.fail_json(msg=str(exc))
    except DockerError as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
