#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: container_export
short_description: Export a container's filesystem to an archive (docker export), keeping its configuration aside
version_added: 0.1.0
description:
  - Writes a container's flattened filesystem into an archive, as C(docker export) does, streamed to a temporary
    file and moved into place when complete.
  - C(docker export) drops the image configuration. The sidecar C(DEST.json) records it (C(Cmd), C(Entrypoint),
    C(Env), C(WorkingDir), C(User), C(ExposedPorts), C(Labels), C(Volumes), C(StopSignal), C(Healthcheck)) with the
    archive's sha256, so that M(dockyard.migrate.image_import) can restore it.
  - Warns when the container has volumes or bind mounts, whose data the archive does not hold.
  - A stopped container that has not run since its last export, with the same changes, is not exported again.
    A running container is exported on every run (its filesystem may change at any time).
  - The container's environment (C(Config.Env)) usually holds credentials. The archive and the sidecar are
    written readable by their owner only (O(mode)), and the module's result and diff show each variable's name
    with its value replaced by C(********). The sidecar keeps the values, for
    M(dockyard.migrate.image_import) with O(dockyard.migrate.image_import#module:restore_config=true).
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
    description: Reports whether an export would be written; writes nothing.
  diff_mode:
    support: partial
    description:
      - Shows the archive's sha256, its and the sidecar's modes and the recorded configuration (environment
        values redacted), not the archive's content.
  idempotent:
    support: partial
    description:
      - Idempotent for stopped containers; a running container is exported each time.
      - An export that still stands whose files have another mode only gets O(mode).
options:
  container:
    description: The container's name or ID.
    type: str
    required: true
    version_added: 0.1.0
  dest:
    description: The archive's path. Its directory must exist.
    type: path
    required: true
    version_added: 0.1.0
  pause:
    description: Pause a running container during the export for a consistent snapshot, and unpause it after.
    type: bool
    default: false
    version_added: 0.1.0
  compression:
    description: V(none), V(gzip) or V(zstd) (needs the C(zstd) command).
    type: str
    choices: [none, gzip, zstd]
    default: none
    version_added: 0.1.0
  force:
    description: Export even when an earlier export still stands.
    type: bool
    default: false
    version_added: 0.1.0
  mode:
    description:
      - The permissions of the archive and its sidecar, as an octal string such as V('0600') or V('0640')
        (quote it in YAML; an unquoted C(0600) is taken too). Symbolic modes, setuid, setgid and sticky bits
        are refused, and the owner must be able to read the files.
      - An earlier export that still stands is given this mode (and reported as changed) without being written
        again.
    type: raw
    default: '0600'
    version_added: 0.1.0
seealso:
  - module: dockyard.migrate.image_import
'''

EXAMPLES = r'''
- name: Snapshot a container to a file
  dockyard.migrate.container_export:
    container: web
    dest: /mnt/data/snapshots/web.tar
    pause: true

- name: Snapshot a container for a group that reads the archives
  dockyard.migrate.container_export:
    container: web
    dest: /srv/backups/web.tar.zst
    compression: zstd
    mode: '0640'
'''

RETURN = r'''
dest:
  description: The archive.
  returned: always
  type: str
  sample: /mnt/data/snapshots/web.tar
sidecar:
  description: The sidecar with the configuration and checksum.
  returned: always
  type: str
  sample: /mnt/data/snapshots/web.tar.json
container:
  description: The container's full ID.
  returned: always
  type: str
  sample: 167c1cc345895b320d2772f81679e097d92a1b02de0c55e64a09fbdc6a7a2a20
config:
  description:
    - The configuration that C(docker export) drops, as recorded in the sidecar, with the value of each C(Env)
      entry replaced by C(********) (the sidecar holds the values).
  returned: always
  type: dict
  sample: {Cmd: ["/bin/sh", "-c", "while true; do sleep 1; done"], Env: ["PATH=********"], WorkingDir: "", User: ""}
mode:
  description: The mode of the archive and its sidecar.
  returned: always
  type: str
  sample: "0600"
mounts:
  description: The container's volumes and bind mounts (not in the archive).
  returned: always
  type: list
  elements: dict
  sample: [{type: volume, name: webdata, source: /var/lib/docker/volumes/webdata/_data, destination: /data}]
sha256:
  description: The archive's sha256.
  returned: unless in check mode with a change to make
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
size:
  description: The archive's size in bytes.
  returned: unless in check mode with a change to make
  type: int
  sample: 5242880
'''

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.migrate.plugins.module_utils._archive import ArchiveError
from ansible_collections.dockyard.migrate.plugins.module_utils._common import client_from_params, docker_args
from ansible_collections.dockyard.migrate.plugins.module_utils._docker_api import DockerError
from ansible_collections.dockyard.migrate.plugins.module_utils._images import ImageError
from ansible_collections.dockyard.migrate.plugins.module_utils._snapshot import export_container


def main():
    module = AnsibleModule(
        argument_spec=docker_args(
            container=dict(type="str", required=True),
            dest=dict(type="path", required=True),
            pause=dict(type="bool", default=False),
            compression=dict(type="str", default="none", choices=["none", "gzip", "zstd"]),
            force=dict(type="bool", default=False),
            mode=dict(type="raw", default="0600"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        result = export_container(client_from_params(p), p["container"], dest=p["dest"], pause=p["pause"],
                                  compression=p["compression"], check_mode=module.check_mode, force=p["force"],
                                  mode=p["mode"], diff=module._diff)
    except (ImageError, ArchiveError) as exc:
        module.fail_json(msg=str(exc))
    except DockerError as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
    for warning in result.pop("warnings", []):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
