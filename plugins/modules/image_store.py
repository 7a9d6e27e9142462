#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: image_store
short_description: Convert a host between Docker's classic image store and containerd's, containers kept
version_added: 0.2.0
description:
  - Switches the engine between the classic store (the C(overlay2) graph driver) and containerd's image store
    (C(features.containerd-snapshotter) in daemon.json) and carries what the host holds across.
  - Every tagged image is streamed into the other store (no archive on disk); from classic to containerd this is done
    while Docker still runs, so nothing is copied inside the window.
  - Every container is recreated in the other store under its name, with the same configuration, the content of its
    writable layer (files added, changed and deleted, hard links, extended attributes) and the same running set.
    Volumes and bind mounts are shared by both stores and are not touched.
  - Until the new store's containers are started, a failure or a kill (on the rerun) switches daemon.json back and
    starts Docker on the old store, where nothing was written, with the containers that ran. Once they were started
    they may have written, and the conversion is only ever finished forward (a rerun starts what ran and
    verifies). Converting back carries what changed since the same way; the containers the earlier conversion left
    in the old store are replaced, and are kept from starting with Docker before that.
  - Refused in preflight, nothing changed, with a message naming the reason - Docker older than 24, userns-remap,
    live-restore, a swarm member (unless O(allow_swarm)), a driver other than overlay2 or containerd's overlayfs
    (vfs only with O(driver=overlay2)), C(storage-driver) set in daemon.json (but for a driver conversion, and
    overlay2 going to containerd's store, which takes it away and the conversion back puts back), a kernel
    that cannot mount overlayfs on Docker's root or gives no file types (for O(driver=overlay2)), vfs chosen outside
    daemon.json or vfs's storage-opts, images the vfs store's files cannot give, a vfs container tree overlay would
    misread, containers made with storage options, containers using images without a tag, a container naming another that
    the host does not hold, containers of the same name in the other store that this collection did not make, a
    store switched back by hand since the last conversion, not enough space in the new store, containerd's socket
    missing, C(ctr) or C(rsync) not installed.
  - With O(state=cleaned), the store a finished conversion to O(store) left behind (its images and layers, the
    directories of its containers) is removed once the host has run O(store) for O(soak_days) days; see O(state).
  - Needs C(ctr), which containerd's package installs beside Docker.
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
    description: Says what would be carried (images, containers) and the daemon.json change; changes nothing.
  diff_mode:
    support: full
    description: The daemon.json change; with O(state=cleaned), what would be removed.
  idempotent:
    support: full
    description: A host that runs the asked store already reports no change; a cleaned host too.
options:
  store:
    description:
      - V(containerd) converts to containerd's image store; V(classic) to the classic store (overlay2).
      - V(previous) goes back to the store the last conversion recorded on the host came from (the rollback
        playbook's choice) - a finished conversion is converted back, one interrupted before its containers started
        is rolled back; once back, running it again changes nothing. Refused when no conversion is recorded, and
        after a conversion from vfs.
    type: str
    choices: [containerd, classic, previous]
    required: true
    version_added: 0.2.0
  driver:
    description:
      - With O(store=classic), the classic store's graph driver to run. A host whose classic store runs another
        driver (V(vfs)) is converted to it the same way - its images loaded into overlay2 from the old driver's
        files after the switch (C(storage-driver) in daemon.json), every container made again with its writable
        layer (the difference of its vfs tree from its parent's, whiteouts for what it deleted, checked by mounting
        the new layer over the old parent), the running set kept. The old driver's store is the inactive store
        afterwards, removed by O(state=cleaned).
      - Unset, the classic store is left on whatever driver it runs.
    type: str
    choices: [overlay2]
    version_added: 0.2.0
  daemon_json:
    description: The engine's daemon.json.
    type: path
    default: /etc/docker/daemon.json
    version_added: 0.2.0
  allow_swarm:
    description:
      - Convert a swarm member's containers too. Swarm recreates its service tasks itself; they are carried as any
        container otherwise.
    type: bool
    default: false
    version_added: 0.2.0
  stop_timeout:
    description: Seconds to wait, after C(systemctl stop), until no dockerd runs.
    type: int
    default: 120
    version_added: 0.2.0
  state:
    description:
      - V(converted) makes the engine run O(store), carrying what the host holds.
      - V(cleaned) removes the other store, which a finished conversion to O(store) left behind, after these checks
        (any failing refuses the run, which then changes nothing) - the conversion's journal records it finished,
        Docker runs O(store) and daemon.json asks for it, the conversion finished at least O(soak_days) days ago,
        and every container the other store holds is one a conversion of this collection left there. Removed - the
        classic store's C(overlay2/) and C(image/overlay2/) under Docker's root, or containerd's images in the
        C(moby) namespace (containerd then removes their blobs and snapshots); and the old containers' directories
        (their configuration and logs), and for containerd's store their snapshots. A kill part way is finished by
        running again. Afterwards, converting back carries the host anew; nothing of the old store is left.
    type: str
    choices: [converted, cleaned]
    default: converted
    version_added: 0.2.0
  soak_days:
    description: With O(state=cleaned), days the host must have run O(store) since its conversion finished.
    type: float
    default: 7
    version_added: 0.2.0
  status_file:
    description:
      - A JSON file the conversion keeps its progress in (phase; while images stream into containerd, bytes done,
        an estimate of the total and the rate; while containers are made again, percent), for
        M(dockyard.migrate.job_progress) to show while the module runs with C(async). Nothing is written when
        unset or in check mode.
    type: path
    version_added: 0.2.0
notes:
  - A container that names another (a C(container:) network, IPC, PID or UTS mode, volumes from, links) is made
    after it, naming the new one, and started after it.
  - An exited container comes back created; its exited state is written for Docker's next start to read (Docker
    shows it created until then).
  - Not done by this version - other graph drivers than vfs (btrfs, zfs, devicemapper), from vfs straight to containerd (go through overlay2),
    back from overlay2 to vfs. The playbook is C(playbooks/convert_image_store.yml), the
    role C(dockyard.migrate.convert_image_store). See the collection's docs/image_store.md.
seealso:
  - module: dockyard.migrate.data_root
'''

EXAMPLES = r'''
- name: Move a host to containerd's image store, its containers kept
  dockyard.migrate.image_store:
    store: containerd

- name: Back to the classic store
  dockyard.migrate.image_store:
    store: classic

- name: Back to whichever store the host ran before its last conversion
  dockyard.migrate.image_store:
    store: previous

- name: A classic store on the vfs driver moved to overlay2, its containers kept
  dockyard.migrate.image_store:
    store: classic
    driver: overlay2

- name: Two weeks later, remove the classic store the conversion to containerd left behind
  dockyard.migrate.image_store:
    store: containerd
    state: cleaned
    soak_days: 14
'''

RETURN = r'''
store_before:
  description: The store the engine ran before the run (C(vfs) for the classic store on vfs, with O(driver)).
  returned: always
  type: str
  sample: classic
store_after:
  description: The store the engine runs after the run.
  returned: success
  type: str
  sample: containerd
images:
  description: The tags carried (or, in check mode, that would be).
  returned: when changed
  type: list
  elements: str
containers:
  description: The names of the containers carried (or, in check mode, that would be).
  returned: when changed
  type: list
  elements: str
untagged_images:
  description:
    - The IDs (in the old store) of images with no tag, carried without a tag. Into containerd's store those that
      containers use travel under a tag of their own, C(dockyard-migrate-untagged:<ID>), taken away once the
      conversion's containers are made; those that no container uses are named there as Docker names an image
      without a tag (C(moby-dangling@<digest>), listed as C(<none>:<none>)) right after their import. A container
      made from such an image by a tag that names nothing now is made from the image's ID in the new store (its
      C(Config.Image) is that ID).
  returned: when changed
  type: list
  elements: str
ephemeral:
  description:
    - The containers that Docker removes once they end (C(docker run --rm)), found when the conversion was planned or
      made while the images were carried. They are never carried, since Docker's stop for the window ends them, as a
      restart of Docker would (a directory one leaves in the old store goes with that store's cleanup). A container
      that names one of them (its network, volumes from) is refused in preflight.
  returned: when there are such containers
  type: list
  elements: str
not_carried:
  description:
    - The IDs of images with no tag that no container uses and that could not be carried (the classic store's files
      cannot be read, or containerd's store does not name the image); they stay in the old store.
  returned: when changed
  type: list
  elements: str
actions:
  description: What the run did, in order.
  returned: always
  type: list
  elements: str
rolled_back:
  description: After a failure before the new store's containers were started, whether Docker was put back on the
    old store.
  returned: on such a failure
  type: bool
downtime_seconds:
  description:
    - Seconds from Docker's stop until every container that ran was started again on the new store.
  returned: when a conversion ran
  type: float
phase_seconds:
  description:
    - Seconds each phase of the run took (record, images, stop, switch, containers, start, verify).
    - C(images) is the stream into containerd before the stop; back to classic the images are loaded in C(switch).
  returned: when a conversion ran
  type: dict
  sample: {"record": 0.4, "images": 6.5, "stop": 0.9, "switch": 0.4, "containers": 0.8, "start": 0.4, "verify": 0.2}
images_seconds:
  description:
    - Seconds the images took to stream into the new store (into containerd while Docker still ran; back to the
      classic store inside the window).
  returned: when a conversion ran
  type: float
inactive_store:
  description:
    - What the store the engine does not run holds on disk, measured once the host runs O(store) - C(store), the
      bytes allocated (C(bytes); for containerd's store, its blobs and snapshots of every namespace, an estimate from
      above) and the names of its containers (C(containers)).
  returned: when the host runs O(store) after the run
  type: dict
  sample: {"store": "classic", "bytes": 1073741824, "containers": ["web"]}
freed_bytes:
  description: With O(state=cleaned), the bytes the removal freed (the inactive store measured before and after).
  returned: when the inactive store was removed
  type: int
removed:
  description: With O(state=cleaned), what is removed (or, in check mode, would be) - containers, directories, images.
  returned: when changed with O(state=cleaned)
  type: list
  elements: str
stopped_always:
  description:
    - Containers with the restart policy C(always) that ran once and are stopped. Docker starts such a container at
      each of its own starts (a reboot), but never one that was only created. The conversion keeps them stopped;
      made again in the new store, each is given its exited state (exit code, times, whether it was stopped by
      hand) in its C(config.v2.json) once the conversion is done, which Docker reads at its next start, so that start
      starts them as it would have. A warning names them.
  returned: when changed
  type: list
  elements: str
restarted_by_docker:
  description:
    - The stopped containers that ran once whose restart policy has Docker start them at its next start (a reboot),
      by Docker's own rule - C(always); C(unless-stopped) not stopped by hand; C(on-failure) that ended with an error,
      retries left. The conversion keeps them stopped; Docker's next start starts them, in the new store as in the
      old (their exited state is written for it). A warning names them.
  returned: when changed
  type: list
  elements: str
not_started:
  description:
    - After a switch back, the old store's containers that ran when Docker was stopped and that Docker does not know
      any more (removed since) or that did not start (with why); the others were started.
  returned: when there are such containers
  type: list
  elements: str
not_released:
  description:
    - After a switch back, the containers held from starting with Docker whose restart policy could not be given
      back because Docker does not know them while their directories are there, each with its policy (give it back
      with C(docker update --restart) once Docker does); the journal keeps them.
  returned: when there are any
  type: dict
left_over:
  description:
    - Containers an earlier conversion left in the new store whose counterpart is gone from the old one (removed
      since); they are kept, stopped, and not carried.
  returned: when there are any
  type: list
  elements: str
'''

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.migrate.plugins.module_utils import _store_convert, _systemd
from ansible_collections.dockyard.migrate.plugins.module_utils._common import (
    client_from_params, docker_args, make_runner)
from ansible_collections.dockyard.migrate.plugins.module_utils._docker_api import DockerError
from ansible_collections.dockyard.migrate.plugins.module_utils._stores import STORES, StoreError


def main():
    module = AnsibleModule(argument_spec=docker_args(
        store=dict(type="str", required=True, choices=list(STORES) + [_store_convert.PREVIOUS]),
        driver=dict(type="str", choices=["overlay2"]),
        daemon_json=dict(type="path", default="/etc/docker/daemon.json"),
        allow_swarm=dict(type="bool", default=False),
        stop_timeout=dict(type="int", default=120),
        status_file=dict(type="path"),
        state=dict(type="str", default="converted", choices=["converted", "cleaned"]),
        soak_days=dict(type="float", default=7),
    ), supports_check_mode=True)
    if not module.params["soak_days"] >= 0 or module.params["soak_days"] == float("inf"):
        module.fail_json(msg="soak_days must be a number of days, 0 or more (got %s)" % module.params["soak_days"])
    client = client_from_params(module.params)
    runner = make_runner(module)
    host = _systemd.Systemd(runner, client, module.params["stop_timeout"], module.atomic_move)
    conv = _store_convert.Conversion(client, host, runner, module.params, check_mode=module.check_mode)
    try:
        result = conv.run()
    except StoreError as exc:
        conv.result.pop("diff", None)
        module.fail_json(msg=str(exc), failed_phase=exc.phase, **conv.result)
    except (DockerError, _systemd.SystemdError, OSError) as exc:
        conv.result.pop("diff", None)
        module.fail_json(msg="the conversion failed: %s" % exc, exception=traceback.format_exc(), **conv.result)
    if not module._diff:
        result.pop("diff", None)
    for warning in result.pop("warnings", None) or ():
        module.warn(warning)
    if result.get("restarted_by_docker"):
        module.warn("containers %s are stopped, and their restart policy has Docker start them at its next start. The "
                    "conversion keeps them stopped; made again in the new store, they are given their exited state, "
                    "so Docker's next start (a reboot) starts them, as it would have" %
                    ", ".join(result["restarted_by_docker"]))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
