#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: job_progress
short_description: Wait for an asynchronous job and show its progress
version_added: 0.1.0
description:
  - Waits for a job started with C(async) and C(poll=0) (for example M(dockyard.migrate.data_root)) and prints
    one line whenever the job's status file (phase, percent, bytes done and total, rate) changes.
  - Returns the job's own result, so the task fails when the job failed and reports C(changed) as the job did.
    Every key of the result is one the job returned (for M(dockyard.migrate.data_root), its documented return
    values), except those documented below; the bookkeeping keys of C(async_status) (C(ansible_job_id),
    C(started), C(finished), C(results_file), C(stdout), C(stderr), C(erased)) are removed.
  - This is an action plugin; it runs on the controller and reads the job's state over the connection.
author:
  - Dockyard Maintainers (@dockyard)
extends_documentation_fragment:
  - dockyard.migrate.attributes
  - dockyard.migrate.attributes.platform
attributes:
  check_mode:
    support: full
    description: Waits in check mode too, for a job started in check mode; this plugin changes nothing itself.
  diff_mode:
    support: none
    description: Nothing to diff.
  idempotent:
    support: full
    description: It only reads.
  action:
    support: full
    description: Runs on the controller.
  platform:
    support: full
    platforms: posix
    details: Runs on the controller; on the managed host it runs C(async_status) and C(slurp), as waiting for a job does.
options:
  jid:
    description: The C(ansible_job_id) of the asynchronous task.
    type: str
    required: true
    version_added: 0.1.0
  status_file:
    description: The job's JSON status file on the host.
    type: path
    version_added: 0.1.0
  interval:
    description: Seconds between polls.
    type: float
    default: 5
    version_added: 0.1.0
  timeout:
    description: Seconds to wait before giving up (the job keeps running).
    type: float
    default: 7200
    version_added: 0.1.0
seealso:
  - module: dockyard.migrate.data_root
'''

EXAMPLES = r'''
- name: Start the move in the background
  dockyard.migrate.data_root:
    path: /mnt/data/docker
  async: 7200
  poll: 0
  register: move_job

- name: Wait for it, showing progress
  dockyard.migrate.job_progress:
    jid: "{{ move_job.ansible_job_id }}"
    status_file: /run/dockyard-migrate/data_root.status.json
  register: moved
'''

RETURN = r'''
progress_polls:
  description: How many times the job was polled.
  returned: when the job finished
  type: int
  sample: 12
changed:
  description: Whether the job changed something, as the job reported it.
  returned: when the job finished
  type: bool
  sample: true
failed:
  description:
    - True when the job failed, when it did not finish within O(timeout), or when the arguments are wrong.
  returned: when true
  type: bool
  sample: true
msg:
  description:
    - The job's own message when it has one.
    - When the job did not finish within O(timeout), says so and that it may still be running.
    - When the arguments are wrong, names the problem.
  returned: when the job returned one, or on failure
  type: str
  sample: job 123456789.1234 did not finish within 7200 s; it may still be running on h1
ansible_job_id:
  description: The job that did not finish within O(timeout), to wait for it again or clean it up.
  returned: when the job did not finish within O(timeout)
  type: str
  sample: "123456789.1234"
'''
