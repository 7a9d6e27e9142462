#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: data_root
short_description: Move Docker's data root to another place, verified, resumable and rolled back on failure
version_added: 0.1.0
description:
  - Moves the Docker data root (and containerd's root when images live in the containerd image store) to
    O(target) and switches Docker to it, either with an C(/etc/fstab) bind mount of O(target) onto the current
    root (O(method=bind), the classic procedure) or with C(data-root) in C(/etc/docker/daemon.json)
    (O(method=daemon_json)).
  - "In order: preflight checks (nothing is touched when one fails); record the inventory of images,
    containers and volumes; copy while Docker runs (O(two_phase)); stop C(docker.socket) and C(docker.service)
    (and C(containerd.service) when its root moves); copy the delta with C(rsync --delete); switch; start
    Docker; verify C(DockerRootDir), the bind mount, the inventory fingerprint and that exactly the containers
    that ran before run again; only then keep or remove the original (O(keep_source))."
  - Copies keep hard links, ACLs, extended attributes, holes and numeric owners and never cross into a running
    container's overlay mount. The first copy into an empty target goes through a tar pipe (see O(copy_engine));
    the delta passes use C(rsync -aHAXS --numeric-ids --one-file-system --delete).
  - The switch writes a systemd drop-in so that C(docker.service) C(RequiresMountsFor) the new root and asserts
    (C(AssertPathExists)) a file C(.dockyard-data-root) the switch writes into the moved root, so Docker never
    starts on an empty directory, not even on the empty stand-in systemd mounts when the data disk is missing.
  - Any failure after Docker was stopped rolls back (fstab, daemon.json and drop-in restored, the original
    moved back, Docker started and the old inventory checked), then fails naming the phase and the cause.
  - Progress is recorded in a marker file beside O(target) on the target disk, so a run that was killed at any
    point converges when run again. A lock keeps two runs off one host.
  - With O(state=cleaned), the original a finished move kept is removed once the host has run from O(target) for
    O(soak_days) days and Docker serves from O(target) now; see O(state).
author:
  - Dockyard Maintainers (@dockyard)
extends_documentation_fragment:
  - dockyard.migrate.docker
  - dockyard.migrate.attributes
  - dockyard.migrate.attributes.platform
  - dockyard.migrate.attributes.docker_action_group
requirements:
  - C(rsync) on the managed host, for every pass after the first copy (and for every pass with O(copy_engine=rsync)
    or a bandwidth limit).
  - GNU C(tar) on the managed host, for the first copy into an empty target with O(copy_engine=auto).
  - C(nice) (coreutils) with O(nice) above 0, and C(ionice) (util-linux) with O(ionice) other than V(none).
  - systemd on the managed host, running Docker as C(docker.service) and C(docker.socket) (and C(containerd.service)
    when containerd's root moves).
  - C(mount) and C(umount) (util-linux) on the managed host.
  - Root on the managed host.
attributes:
  check_mode:
    support: full
    description: Runs every preflight check and returns the plan (actions, bytes and files to copy, free space
      after) and the diff; nothing is touched and Docker is not stopped.
  diff_mode:
    support: full
    description: Shows fstab, daemon.json and the systemd drop-ins before and after.
  idempotent:
    support: full
    description: When Docker already runs from O(target) by the chosen method, nothing is done, Docker is not
      stopped and C(changed=false).
options:
  target:
    description:
      - The new data root, an absolute path on the target disk, for example V(/mnt/data/docker).
      - It must be empty, missing, or a partial copy left by an earlier run of this module.
      - With O(state=restored), the root an earlier move went to.
      - The same value is C(docker_root_target) in the playbooks and C(relocate_data_root_target) in the role.
    type: path
    required: true
    aliases: [path]
    version_added: 0.1.0
  state:
    description:
      - V(moved) moves Docker to O(target).
      - V(restored) moves Docker back from O(target) to the original that an earlier move kept (O(keep_source=true));
        what Docker holds now is copied back onto the kept original, the switch is undone (bind mount and fstab
        line, or data-root in daemon.json, and the drop-ins) and the inventory is verified. The copy at O(target) is
        left in place. Nothing to do when Docker already runs from the original.
      - V(cleaned) removes the original that a finished move kept (C(ROOT.dockyard-backup-STAMP), as recorded in
        the marker), once the move finished at least O(soak_days) days ago. First it checks that the marker
        records a finished move, that Docker runs and reports the moved root as its own, that each switch is in
        place, that the original is neither the root Docker serves from nor overlaps it, and that nothing is
        mounted under it; when any check fails the module fails naming the reason and changes nothing.
        A run killed during the removal removes the rest when run again; with nothing left to remove it reports
        C(changed=false). Afterwards O(state=restored) is no longer possible.
    type: str
    choices: [moved, restored, cleaned]
    default: moved
    version_added: 0.1.0
  method:
    description:
      - V(bind) bind-mounts O(target) onto the current root (usually C(/var/lib/docker)) through the fstab file;
        the original directory is moved aside first so nothing hides under the mount.
      - V(daemon_json) sets C(data-root) in O(daemon_json), keeping every other key and the file's owner and mode.
    type: str
    choices: [bind, daemon_json]
    default: bind
    version_added: 0.1.0
  containerd:
    description:
      - V(auto) also moves containerd's root when Docker keeps its images in the containerd image store.
      - V(always) moves containerd's root in any case; V(never) leaves it.
      - containerd's root is always switched with a bind mount (its own config stays untouched).
    type: str
    choices: [auto, always, never]
    default: auto
    version_added: 0.1.0
  containerd_path:
    description:
      - Where containerd's root goes. Defaults to C(containerd) beside O(target).
    type: path
    version_added: 0.1.0
  keep_source:
    description:
      - What happens to the original once the move is verified.
      - V(true) moves it aside to C(ROOT.dockyard-backup-STAMP) beside it (a later O(state=restored) needs it);
        V(false) deletes it.
    type: bool
    default: true
    version_added: 0.1.0
  two_phase:
    description:
      - Copy once while Docker runs, then stop Docker and copy only what changed, so Docker is down only for the
        second pass. With V(false) the whole copy happens with Docker stopped.
    type: bool
    default: true
    version_added: 0.1.0
  margin:
    description:
      - Free space to keep on the target disk beyond the data, as bytes, a size (V(512M), V(2G)) or a
        percentage of the data (V(10%)).
    type: str
    default: 5%
    version_added: 0.1.0
  stop_timeout:
    description:
      - Seconds to wait, after Docker stopped, for its container mounts to disappear.
    type: int
    default: 120
    version_added: 0.1.0
  verify_timeout:
    description:
      - Seconds to wait for Docker to answer after starting and for its containers to run again.
    type: int
    default: 90
    version_added: 0.1.0
  copy_engine:
    description:
      - V(auto) makes the first copy into an empty target with a tar pipe (POSIX format, keeping hard links,
        extended attributes including C(trusted.*), ACLs, holes, numeric owners and nanosecond times), which is much
        faster than rsync on many small files, and every later pass with rsync; V(rsync) uses rsync for every pass.
    type: str
    choices: [auto, rsync]
    default: auto
    version_added: 0.1.0
  online_passes:
    description:
      - Most copy passes made while Docker runs. After the first, each pass copies what changed meanwhile, and
        passes go on only while each moves less than half of what the one before moved and takes a second or
        more, so the pass with Docker stopped starts from a recent copy. V(1) makes only the first copy.
    type: int
    default: 3
    version_added: 0.1.0
  final_copy:
    description:
      - What the passes after the first, including the one made with Docker stopped, walk.
      - V(mutable) skips the directories of image layers that were already committed when an earlier pass
        started and are still committed (image layers never change once committed), and walks the rest
        (container layers, volumes, Docker's metadata, layers added or removed since), which takes a fraction
        of a full walk. It applies to the C(overlay2) storage driver; any other layout gets full passes.
      - V(full) walks the whole tree in every pass, as a plain C(rsync --delete) would.
    type: str
    choices: [mutable, full]
    default: mutable
    version_added: 0.1.0
  rsync_opts:
    description:
      - Extra options for every rsync pass. Only V(--bwlimit=RATE), V(--info=FLAGS), V(-v), V(--verbose),
        V(-q) and V(--quiet) are accepted; any other option could make a pass copy less than everything
        (C(--dry-run), C(--existing), C(--max-size), C(--exclude)) or lose the source, and is refused.
      - A V(--bwlimit) here throttles every pass as O(bwlimit) does (the first copy is then made with rsync);
        setting both is refused.
    type: list
    elements: str
    default: []
    version_added: 0.1.0
  bwlimit:
    description:
      - The most bytes per second every copy pass may read, as a size per second (V(512K), V(50M), V(1G); a plain
        number is bytes), handed to rsync as C(--bwlimit). Empty or V(0) means no limit.
      - A limit holds every pass, the first copy included. With a limit set, the first copy into an empty target
        is made by rsync instead of the tar pipe (which cannot be throttled), whatever O(copy_engine) says. It
        also holds the pass made with Docker stopped and the copy back of a rollback, so it lengthens the
        downtime.
    type: str
    default: ""
    version_added: 0.1.0
  nice:
    description:
      - The CPU priority (niceness) of the copy commands (tar and rsync), from V(0) (normal) to V(19) (lowest),
        run as C(nice -n N). A copy never runs above normal priority.
    type: int
    default: 0
    version_added: 0.1.0
  ionice:
    description:
      - The I/O scheduling class of the copy commands, run as C(ionice -c CLASS). V(none) leaves it as it is;
        V(idle) copies only when no other process wants the disk; V(best-effort) uses the lowest level (7) of the
        normal class, V(best-effort:N) level N from V(0) (highest) to V(7) (lowest).
      - The class takes effect with an I/O scheduler that honours it (BFQ; also CFQ on older kernels).
    type: str
    default: none
    version_added: 0.1.0
  soak_days:
    description:
      - With O(state=cleaned), days the host must have run from O(target) since the move finished before the kept
        original is removed. Fractions are allowed; V(0) removes it at once (the other checks still apply).
    type: float
    default: 7
    version_added: 0.1.0
  status_file:
    description:
      - A small JSON file the module rewrites while it works (phase, bytes done and total, percent, rate), for
        a role to poll when the module runs asynchronously.
    type: path
    default: /run/dockyard-migrate/data_root.status.json
    version_added: 0.1.0
  daemon_json:
    description:
      - Path of Docker's daemon configuration file.
    type: path
    default: /etc/docker/daemon.json
    version_added: 0.1.0
  fstab:
    description:
      - The fstab file that holds the bind mount.
    type: path
    default: /etc/fstab
    version_added: 0.1.0
  allow_same_filesystem:
    description:
      - Move even when O(target) is on the same filesystem as the data root. By default that is refused,
        naming both devices, since it most often means the data disk failed to mount and the move would
        free no space.
    type: bool
    default: false
    version_added: 0.1.0
  allow_swarm_manager:
    description:
      - Move a swarm manager. By default a manager is refused (stopping Docker takes it out of the swarm's
        quorum while the move runs); a worker is moved with a warning.
    type: bool
    default: false
    version_added: 0.1.0
  time_limit:
    description:
      - Seconds this run may take, counted from its start; V(0) means no limit. Set it a little below the
        C(async) time of a task that runs the module in the background, so that Ansible never kills the move
        while Docker is stopped.
      - An online pass still running when the limit ends is stopped (its C(tar) or C(rsync) killed) and the run
        fails with Docker untouched; the partial copy is kept and a rerun continues it.
      - Docker is stopped only when the time left covers the whole offline phase, estimated as the last online
        pass (twice with O(keep_source=false), for the content check), O(stop_timeout) once per root and once for
        the units, and O(verify_timeout) twice; otherwise the run fails before the stop, Docker untouched. Once
        Docker is stopped, the run is never cut short by the limit.
      - With O(two_phase=false) the whole copy runs while Docker is stopped and nothing measured tells how long it
        takes, so the limit cannot be kept; the result warns.
    type: int
    default: 0
    version_added: 0.1.0
notes:
  - On SELinux hosts the new root gets the old one's file context (C(semanage fcontext -e), C(restorecon)).
  - Docker installed as a snap is refused; so is a C(--data-root)/C(-g) flag in the service's C(ExecStart),
    in C(DOCKER_OPTS) of C(/etc/default/docker) or in C(OPTIONS) of C(/etc/sysconfig/docker), which would
    override either method.
  - A data root reached through a symbolic link is moved where it really is, as dockerd resolves it.
  - A data root that is the mount point of its own disk (its fstab line by C(UUID=), C(LABEL=) or device path)
    moves with O(method=bind) only; that line is replaced by the bind line (the old one kept as a comment naming
    the day), the old disk is unmounted with its contents kept, and a rollback puts the line back and mounts it
    again; O(state=restored) copies the delta back onto that disk, puts its line back and mounts it. O(keep_source=false)
    and O(method=daemon_json) are refused for it.
  - Paths with a newline or another control character are refused; spaces and other characters are
    escaped in fstab and in the systemd drop-in.
  - The marker file is C(.BASENAME.dockyard-migrate.json) in the directory that holds O(target).
seealso:
  - module: dockyard.migrate.data_root_info
  - module: dockyard.migrate.bind_mount
'''

EXAMPLES = r'''
- name: Move Docker to the data disk with a bind mount, keeping the original as a backup
  dockyard.migrate.data_root:
    target: /mnt/data/docker
  register: moved

- name: Show the downtime
  ansible.builtin.debug:
    msg: "Docker was down for {{ moved.downtime_seconds }} s; original at {{ moved.original }}"

- name: Move it with daemon.json instead and delete the original once verified
  dockyard.migrate.data_root:
    target: /srv/docker
    method: daemon_json
    keep_source: false

- name: Move Docker back to the original kept by the move above
  dockyard.migrate.data_root:
    target: /mnt/data/docker
    state: restored

- name: Move Docker at the lowest CPU and I/O priority, no faster than 50 MiB/s
  dockyard.migrate.data_root:
    target: /mnt/data/docker
    bwlimit: 50M
    nice: 19
    ionice: idle

- name: Two weeks later, remove the original the move kept
  dockyard.migrate.data_root:
    target: /mnt/data/docker
    state: cleaned
    soak_days: 14

- name: See the plan without touching anything
  dockyard.migrate.data_root:
    path: /mnt/data/docker
  check_mode: true
  diff: true
  register: plan
'''

RETURN = r'''
actions:
  description: What was done, in order (in check mode, what would be done).
  returned: always
  type: list
  elements: str
  sample: ["recorded 4 images, 4 containers (2 running) and 2 volumes", "copied while Docker ran (3.2 s)",
           "stopped Docker", "copied the delta with Docker stopped (0.4 s)", "started Docker"]
moves:
  description: The directories moved, each with C(name), C(source), C(target), C(switch), C(mount_point), C(backup),
    and C(disk) (the original disk's fstab line, source, type, options and device, when the root was its own
    mount point).
  returned: always
  type: list
  elements: dict
  sample: [{name: docker, source: /var/lib/docker, target: /mnt/data/docker, switch: bind,
            mount_point: /var/lib/docker, backup: /var/lib/docker.dockyard-backup-20261128T101500}]
bytes_copied:
  description: Bytes of file data rsync transferred over all passes.
  returned: always
  type: int
  sample: 7340032
files_copied:
  description: Regular files rsync transferred over all passes.
  returned: always
  type: int
  sample: 412
planned_bytes:
  description: Bytes (allocated) in the roots to move, as measured before copying.
  returned: when a move is planned
  type: int
  sample: 7340032
planned_files:
  description: Regular files in the roots to move.
  returned: when a move is planned
  type: int
  sample: 412
free_after_bytes:
  description: For each target filesystem (by mount point), the free space expected after the copy and margin.
  returned: when a move is planned
  type: dict
  sample: {"/mnt/data": 2900000000}
online_copy_seconds:
  description: Seconds of the copy made while Docker ran.
  returned: always
  type: float
  sample: 3.2
offline_copy_seconds:
  description: Seconds of the copy made with Docker stopped.
  returned: always
  type: float
  sample: 0.4
downtime_seconds:
  description: Seconds from stopping Docker until its containers ran again on the new root.
  returned: always
  type: float
  sample: 6.8
fingerprint_before:
  description: The inventory fingerprint recorded before the move.
  returned: when a move ran
  type: str
  sample: sha256:0f3c5d...
fingerprint_after:
  description: The inventory fingerprint on the new root; equal to RV(fingerprint_before) on success.
  returned: when a move ran
  type: str
  sample: sha256:0f3c5d...
original:
  description: Where each original went (C(backup) path, or C(removed=true)); C(disk) is the fstab line of an
    original disk the move left unmounted; C(incomplete=true) marks a kept original that a run with
    O(keep_source=false) had begun to remove when it was interrupted (it may lack part of its files).
  returned: when a move finished or was already done
  type: list
  elements: dict
  sample: [{name: docker, source: /var/lib/docker, removed: false, backup: /var/lib/docker.dockyard-backup-20261128T101500}]
containers_changed:
  description:
    - Containers made after the inventory was recorded (C(new)), or removed since Docker started on the new
      root (C(removed), from Docker's event log). They are reported, not counted as a failed verification.
  returned: when there were any
  type: dict
  sample: {new: [late], removed: [spare]}
containers_not_running:
  description:
    - Containers that ran before the move and do not run after it although they are there with their data
      (started once more, they did not stay up; for example a bind-mounted host path is gone, or the process
      exits at once). The move is not failed or undone for them; they are named here and in a warning.
  returned: when there were any
  type: list
  elements: str
  sample: [cron-job]
phases:
  description: Each phase with its duration in seconds.
  returned: always
  type: list
  elements: dict
  sample: [{phase: online_copy, seconds: 3.2}, {phase: stop, seconds: 2.1}]
passes:
  description:
    - Each copy pass with its statistics. C(walk) is V(mutable) when the pass skipped settled image
      layers (C(skipped_dirs) of them), V(full) otherwise; C(engine) is V(tar) for a first copy made by the tar
      pipe, V(rsync) otherwise; C(command) is the argv run (the two tar commands joined by V(|)), with the
      C(ionice) and C(nice) that set its priority.
  returned: always
  type: list
  elements: dict
  sample: [{phase: online_copy, move: docker, files: 1200, files_transferred: 412, bytes_transferred: 7340032,
            seconds: 3.2, rc: 0, walk: mutable, skipped_dirs: 31, engine: rsync,
            command: [ionice, -c, "3", rsync, -aHAXS, "...", --bwlimit=51200, --, /var/lib/docker/, /mnt/data/docker/]}]
freed_bytes:
  description: With O(state=cleaned), the bytes (allocated) of the kept originals and copy-back directories removed.
  returned: when an original or a copy-back directory was removed
  type: int
  sample: 7340032
copyback_kept:
  description:
    - The directories beside a root where a rollback's (or a failed restore's) copy back kept what it replaced or
      deleted there (rsync C(--backup-dir)). They are recorded in the marker; O(state=cleaned) removes them with the
      kept original once the move has soaked.
  returned: when a copy back replaced or deleted anything
  type: list
  elements: str
  sample: [/var/lib/docker.dockyard-copyback-20261128T101500]
copyback_removed:
  description: With O(state=cleaned), the copy-back directories removed.
  returned: when one was removed
  type: list
  elements: str
  sample: [/var/lib/docker.dockyard-copyback-20261128T101500]
online_passes:
  description: How many passes were made while Docker ran.
  returned: when the move copied
  type: int
  sample: 2
failed_phase:
  description: The phase that failed, when the module fails.
  returned: on failure
  type: str
  sample: start
rolled_back:
  description: Whether a failure was rolled back to the original root.
  returned: on failure after the preflight
  type: bool
  sample: true
refused:
  description:
    - On failure, whether the run was refused by its checks before it changed anything on the host (nothing
      written, renamed, copied, mounted, stopped or started). A failure that rolled back, or that walked back the
      window of an interrupted run, is not a refusal, and neither is a check that stops after an earlier step of
      this run changed the host.
  returned: on failure
  type: bool
  sample: true
  version_added: 0.2.0
'''

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.migrate.plugins.module_utils._cleanup import Cleanup
from ansible_collections.dockyard.migrate.plugins.module_utils._common import (
    client_from_params, docker_args, make_runner)
from ansible_collections.dockyard.migrate.plugins.module_utils._docker_api import DockerError
from ansible_collections.dockyard.migrate.plugins.module_utils._move import RelocationError
from ansible_collections.dockyard.migrate.plugins.module_utils._options import ARGUMENT_SPEC
from ansible_collections.dockyard.migrate.plugins.module_utils._restore import Restore
from ansible_collections.dockyard.migrate.plugins.module_utils._run import Run, refused
from ansible_collections.dockyard.migrate.plugins.module_utils._transaction import Relocation


def warn(module, result):
    """The preflight's warnings, shown as Ansible warnings."""
    for text in result.pop("warnings", None) or []:
        module.warn(text)


def main():
    module = AnsibleModule(argument_spec=docker_args(**ARGUMENT_SPEC), supports_check_mode=True)
    try:
        client = client_from_params(module.params)
    except DockerError as exc:
        module.fail_json(msg=str(exc))
    operation = {"restored": Restore, "cleaned": Cleanup}.get(module.params["state"], Relocation)
    ctx = Run.build(module.params, client, make_runner(module), check_mode=module.check_mode,
                    mover=module.atomic_move)
    try:
        result = operation(ctx).run()
    except RelocationError as exc:
        warn(module, ctx.result)
        # The host tells what this run changed on it: a refusal is a preflight check that stopped the run before
        # anything changed (not a rollback, nor a window an earlier run left, walked back).
        if ctx.host.changes:
            ctx.result["changed"] = True
        module.fail_json(msg=str(exc), failed_phase=exc.phase, rolled_back=exc.rolled_back,
                         refused=refused(exc, ctx), **ctx.result)
    except DockerError as exc:
        warn(module, ctx.result)
        module.fail_json(msg="Docker API: %s" % exc, exception=traceback.format_exc(), **ctx.result)
    warn(module, result)
    if module._diff and ctx.diff["before"]:
        result["diff"] = [dict(before=ctx.diff["before"][k], after=ctx.diff["after"][k],
                               before_header=k, after_header=k) for k in sorted(ctx.diff["before"])]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
