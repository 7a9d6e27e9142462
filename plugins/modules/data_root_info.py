#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: data_root_info
short_description: Analyse a host's Docker data root
version_added: 0.1.0
description:
  - Reports what lives in Docker's data root (V(overlay2), V(image), V(containers), V(volumes),
    V(buildkit), ... and the legacy V(aufs), V(graph) and V(devicemapper) layouts), how big each part
    is, which filesystem and disk hold it, and how Docker was told where it is.
  - Reports the engine (version, storage driver, C(DockerRootDir), whether the containerd image store
    is in use and where containerd keeps its root, live-restore, swarm state) when the daemon answers.
  - With the daemon stopped it still reports what the disk and the configuration tell.
  - Optionally judges whether a candidate target path could hold the data.
  - Talks to the Docker Engine API over its unix socket with the Python standard library only.
author:
  - Dockyard Maintainers (@dockyard)
extends_documentation_fragment:
  - dockyard.migrate.docker
  - dockyard.migrate.attributes
  - dockyard.migrate.attributes.platform
  - dockyard.migrate.attributes.docker_action_group
requirements:
  - C(systemctl) (systemd), when present, to read the command line C(docker.service) starts C(dockerd) with;
    without it only C(daemon.json), C(/etc/default/docker) and fstab tell how Docker is configured.
attributes:
  check_mode:
    support: full
    description: The module only reads; it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to diff.
  idempotent:
    support: full
    description: Reading changes nothing.
options:
  sizes:
    description:
      - Measure each component of the data root (bytes as C(du -x) counts them, and file counts).
      - Set to V(false) on large roots when only the layout, configuration and filesystem are wanted.
    type: bool
    default: true
    version_added: 0.1.0
  inventory:
    description:
      - List images, containers and volumes and compute their fingerprint. Needs a running daemon.
    type: bool
    default: true
    version_added: 0.1.0
  target:
    description:
      - An absolute path where the data root might move (the O(dockyard.migrate.data_root#module:target) of a
        move). The module reports that path's filesystem and whether the current data fits there, with the
        reason, in C(candidate).
    type: path
    aliases: [candidate]
    version_added: 0.1.0
  margin:
    description:
      - Free space to keep on the candidate beyond the data itself, in bytes or with a unit
        (V(512M), V(2G)) or as a percentage of the data (V(10%)).
    type: str
    default: 5%
    version_added: 0.1.0
  daemon_json:
    description:
      - Path of the daemon configuration file.
    type: path
    default: /etc/docker/daemon.json
    version_added: 0.1.0
  fstab:
    description:
      - Path of the fstab file to look in for a bind mount of the data root.
    type: path
    default: /etc/fstab
    version_added: 0.1.0
notes:
  - Sizes are allocated bytes counted as C(du -x) counts them; each hard-linked file once and nothing
    on another filesystem (such as a running container's overlay mount).
seealso:
  - module: dockyard.migrate.data_root
  - module: dockyard.migrate.bind_mount
'''

EXAMPLES = r'''
- name: Analyse the Docker data root
  dockyard.migrate.data_root_info:
  register: docker_root

- name: Show where Docker keeps its data and how it was configured
  ansible.builtin.debug:
    msg: "{{ docker_root.root }} ({{ docker_root.config.method }}) on {{ docker_root.filesystem.device }}"

- name: Check whether the data would fit on the data disk, without measuring the inventory
  dockyard.migrate.data_root_info:
    target: /mnt/data/docker
    inventory: false
  register: docker_root_candidate

- name: Stop when it would not fit
  ansible.builtin.assert:
    that: docker_root_candidate.candidate.fits
    fail_msg: "{{ docker_root_candidate.candidate.reason }}"

- name: A quick look at a large root, without sizes
  dockyard.migrate.data_root_info:
    sizes: false
'''

RETURN = r'''
root:
  description: The data root Docker uses (from the running daemon, else from its configuration).
  returned: always
  type: str
  sample: /var/lib/docker
engine:
  description: Facts from the Engine API. Only C(running) when the daemon does not answer.
  returned: always
  type: dict
  sample:
    running: true
    version: 20.10.24+dfsg1
    api_version: "1.41"
    negotiated_api_version: "1.41"
    storage_driver: overlay2
    driver_status: {"Backing Filesystem": "extfs", "Supports d_type": "true"}
    docker_root_dir: /var/lib/docker
    containerd_store: false
    live_restore: false
    swarm: inactive
config:
  description:
    - How the data root was chosen. C(method) is V(flag) (a C(--data-root) flag in the service),
      V(daemon_json), V(bind) (the default path bind-mounted from elsewhere) or V(default).
  returned: always
  type: dict
  sample:
    method: bind
    root: /var/lib/docker
    configured_root: /var/lib/docker
    flag_data_root: null
    daemon_json_data_root: null
    daemon_json_path: /etc/docker/daemon.json
    daemon_json_exists: true
    daemon_json_error: null
    daemon_json: {"bridge": "none"}
    unit_exec_start: ["/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock"]
    snap: false
    conflicts: []
    bind:
      active: true
      active_matches_fstab: true
      source: /mnt/data/docker
      fstab: {src: /mnt/data/docker, path: /var/lib/docker, fstype: none, opts: bind, dump: "0",
              passno: "0", line: 3}
      mount: {device: /dev/loop0, major_minor: "7:0", root: /docker, fstype: ext4,
              source_path: /mnt/data/docker}
layout:
  description:
    - The top-level components of the data root. With O(sizes), each has C(bytes) (allocated),
      C(apparent_bytes), C(files), C(dirs), C(entries) and C(skipped_mounts); C(totals) sums the root.
  returned: always
  type: dict
  sample:
    exists: true
    sizes: true
    legacy_layouts: []
    totals: {bytes: 14680064, apparent_bytes: 12000000, files: 120, dirs: 80, entries: 230,
             skipped_mounts: 2}
    components:
      - {name: overlay2, kind: storage-driver, description: image and container layers of the overlay2 driver,
         known: true, type: directory, bytes: 13000000, apparent_bytes: 11000000, files: 60, dirs: 40,
         entries: 110, skipped_mounts: 2}
filesystem:
  description: The filesystem holding the data root and whether overlay2 can live on it.
  returned: always
  type: dict
  sample:
    path: /var/lib/docker
    mount_point: /var/lib/docker
    device: /dev/loop0
    fstype: ext4
    size_bytes: 3121205248
    free_bytes: 2900000000
    used_bytes: 20000000
    d_type: true
    xfs_ftype: null
    network_fs: false
    overlay2_ok: true
    overlay2_reason: /var/lib/docker (ext4) supports d_type
containerd:
  description:
    - containerd's root and whether Docker keeps its images there (the containerd image store).
      With O(sizes) it also has C(bytes) and C(files).
  returned: always
  type: dict
  sample: {root: /var/lib/containerd, exists: true, image_store: false}
candidate:
  description:
    - The candidate path's filesystem and whether the data fits there (C(fits) and C(reason)).
    - C(move) is what the marker of a move to it (written by M(dockyard.migrate.data_root) beside it) says, its
      C(phase) (C(done) for a finished move; null without a marker) and C(in_window) (a run stopped Docker and
      neither finished nor rolled back; running M(dockyard.migrate.data_root) again continues it).
  returned: always; null without O(target)
  type: dict
  sample:
    path: /mnt/data/docker
    fits: true
    reason: 14680064 bytes fit on /mnt/data (ext4) with 2800000000 bytes to spare
    needed_bytes: 15414067
    free_after_bytes: 2800000000
    same_filesystem: false
    move: {phase: done, in_window: false}
    filesystem: {mount_point: /mnt/data, fstype: ext4, free_bytes: 2815414067}
inventory:
  description:
    - Images, containers and volumes, the names of running containers, and a fingerprint over the images
      with their tags, the containers with their names, images and restart policies, and the volumes.
  returned: when O(inventory) is true and the daemon runs; null otherwise
  type: dict
  sample:
    fingerprint: sha256:0f3c...
    images: [{id: "sha256:e23a...", tags: ["seed/base:1"], size: 1980000, created: 1764288000}]
    containers: [{id: 167c1cc3..., name: web, image: "sha256:d832...", image_name: seed/app:2,
                  state: running, running: true, restart_policy: always}]
    volumes: [{name: webdata, driver: local, mountpoint: /var/lib/docker/volumes/webdata/_data}]
    running: [web, worker]
warnings_found:
  description: Problems noticed (an invalid daemon.json, a conflicting flag, a missing root, a stopped daemon).
  returned: always
  type: list
  elements: str
  sample: ["Docker did not answer: Docker is not running or not reachable at /var/run/docker.sock"]
'''

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.migrate.plugins.module_utils._common import (
    client_from_params, docker_args, make_runner)
from ansible_collections.dockyard.migrate.plugins.module_utils._docker_api import DockerError
from ansible_collections.dockyard.migrate.plugins.module_utils._facts import gather
from ansible_collections.dockyard.migrate.plugins.module_utils._units import margin_bytes


def main():
    module = AnsibleModule(
        argument_spec=docker_args(
            sizes=dict(type="bool", default=True),
            inventory=dict(type="bool", default=True),
            target=dict(type="path", aliases=["candidate"]),
            margin=dict(type="str", default="5%"),
            daemon_json=dict(type="path", default="/etc/docker/daemon.json"),
            fstab=dict(type="path", default="/etc/fstab"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        client = client_from_params(p)
    except DockerError as exc:
        module.fail_json(msg=str(exc))
    try:
        margin_bytes(p["margin"], 100)
        facts = gather(client, make_runner(module), daemon_json_path=p["daemon_json"], fstab_path=p["fstab"],
                       sizes=p["sizes"], inventory=p["inventory"], candidate=p["target"], margin=p["margin"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    except DockerError as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
    warnings = facts.pop("warnings")
    module.exit_json(changed=False, warnings_found=warnings, **facts)


if __name__ == "__main__":
    main()
