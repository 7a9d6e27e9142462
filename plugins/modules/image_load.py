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
  - With O(src_command) instead of O(src), the archive is whatever that command writes to its standard output, for
    example C(ssh SOURCE docker save IMAGES), streamed into the Engine API as it arrives, with no file in between;
    O(images) names what the stream must bring, so a rerun with those images present runs nothing.
  - With O(src_ssh), the module asks its own engine which layers of the missing images it already has, and runs on
    the source host a small Python program (standard library only) that drops those layers' tars from the
    C(docker save) stream before it leaves the source. C(docker load) reads a layer's tar only when the engine
    lacks the layer, which the collection's tests verify on Docker 20.10, 26.1 and 28.5, with the classic and the
    containerd image store; on other engine versions whole images are sent, and RV(layers) says so.
  - An image counts as present when this host has it by ID, or when each of its tags names an image with the same
    configuration digest (C(config)), because the containerd image store gives an image another ID than the classic
    store does.
author:
  - Dockyard Maintainers (@dockyard)
extends_documentation_fragment:
  - dockyard.migrate.docker
  - dockyard.migrate.attributes
  - dockyard.migrate.attributes.platform
  - dockyard.migrate.attributes.docker_action_group
requirements:
  - The C(zstd) command on the managed host to load a zstd-compressed archive.
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
      - The archive on the host. One of O(src), O(src_command) and O(src_ssh) is required.
    type: path
    version_added: 0.1.0
  src_command:
    description:
      - A command, as a list of arguments (run without a shell), whose standard output is a C(docker save) archive.
      - Docker checks every layer of the stream against the digests its image configuration records; the command
        must exit with status 0, or the load is an error.
    type: list
    elements: str
    version_added: 0.1.0
  src_ssh:
    description:
      - A command, as a list of arguments, that runs what follows it on the source host, for example
        C([ssh, -i, KEY, root@build01]). The source needs Python 3 and the docker command.
      - Only the layers this host lacks cross the wire (see the description); O(images) must give each image's
        C(layers) (its diff IDs, as M(dockyard.migrate.image_info) returns them), or whole images are sent.
    type: list
    elements: str
    version_added: 0.1.0
  source_archive:
    description:
      - With O(src_ssh), how the source writes the archive. C(auto) writes it from the files of the source's classic
        image store (the overlay2 driver), reading only the layers it sends, and starts sending at once; where
        that store is not there or cannot be read (the containerd image store, another storage driver, a user other
        than root on the source, an image named by digest) it runs C(docker save) and leaves the layers this host has
        out of its stream. C(docker_save) always does the latter.
      - Either way this host's engine checks every layer it loads against the digest the image's configuration
        records, and loads nothing from an archive that fails.
    type: str
    choices: [auto, docker_save]
    default: auto
    version_added: 0.1.0
  images:
    description:
      - With O(src_command) or O(src_ssh), the images the stream brings, each a dictionary with C(id)
        (C(sha256:...), required), C(tags) (the tags it must carry), C(config) (its configuration's digest, when
        the source's ID is not it) and, for O(src_ssh), C(layers) and C(blobs); other keys are ignored, so the
        C(images) list of
        M(dockyard.migrate.image_info) can be passed as it is.
      - When all are present with their tags, the command is not run; after the load, each must be present, or the
        module fails.
    type: list
    elements: dict
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

- name: Stream two images straight from another host, with no archive on either disk
  dockyard.migrate.image_load:
    src_command: [ssh, -i, /root/.ssh/transfer_key, root@build01, docker, save, "app/web:1.4", "app/worker:1.4"]
    images:
      - {id: "sha256:d8320b8a4c3f...", tags: ["app/web:1.4"]}
      - {id: "sha256:91ab07c2e6d1...", tags: ["app/worker:1.4"]}

- name: Stream only the layers this host lacks
  dockyard.migrate.image_load:
    src_ssh: [ssh, -i, /root/.ssh/transfer_key, root@build01]
    images: "{{ wanted.images }}"  # from dockyard.migrate.image_info on build01, with their layers
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
bytes:
  description: With O(src_command) or O(src_ssh), the bytes the stream carried into this host.
  returned: when a stream was loaded
  type: int
  sample: 289406976
layers:
  description:
    - With O(src_ssh), how the layers were sent. C(mode) is C(missing) (only the layers this host lacked) or
      C(whole) (every layer, C(reason) says why); C(planned) layers were to be left out, C(dropped_layers) and
      C(dropped_bytes) were, C(sent_bytes) is what the source wrote, C(layout) the archive's layout (C(legacy) or
      C(oci)), C(store) this engine's image store, C(splice) whether the source moved the bytes in the kernel.
    - C(source) says how the source wrote the archive, C(store) (from its image store's files) or C(save) (C(docker
      save), filtered), and with C(save), C(source_reason) says why the store was not used.
  returned: when a stream from O(src_ssh) was loaded
  type: dict
  sample: {mode: missing, reason: null, planned: 3, dropped_layers: 3, dropped_bytes: 31467520, sent_bytes: 10752,
           layout: oci, store: classic, splice: true, source: store}
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
from ansible_collections.dockyard.migrate.plugins.module_utils._image_archive import load
from ansible_collections.dockyard.migrate.plugins.module_utils._image_stream import load_command, load_from_source
from ansible_collections.dockyard.migrate.plugins.module_utils._images import ImageError


def main():
    module = AnsibleModule(
        argument_spec=docker_args(
            src=dict(type="path"),
            src_command=dict(type="list", elements="str"),
            src_ssh=dict(type="list", elements="str"),
            source_archive=dict(type="str", choices=["auto", "docker_save"], default="auto"),
            images=dict(type="list", elements="dict"),
            verify=dict(type="bool", default=True),
        ),
        mutually_exclusive=[("src", "src_command", "src_ssh")],
        required_one_of=[("src", "src_command", "src_ssh")],
        required_by={"src_command": "images", "src_ssh": "images"},
        supports_check_mode=True,
    )
    p = module.params
    try:
        if p["src_ssh"] is not None:
            result = load_from_source(client_from_params(p), p["src_ssh"], p["images"], check_mode=module.check_mode,
                                      source=p["source_archive"])
        elif p["src_command"] is not None:
            result = load_command(client_from_params(p), p["src_command"], p["images"], check_mode=module.check_mode)
        else:
            result = load(client_from_params(p), p["src"], check_mode=module.check_mode, verify_sidecar=p["verify"])
    except ImageError as exc:
        module.fail_json(msg=str(exc))
    except DockerError as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
