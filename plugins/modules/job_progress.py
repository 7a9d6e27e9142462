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
  - This is an action plugin; it runs on the controller and reads the job's state over the connection.
author:
  - Dockyard Maintainers (@dockyard)
attributes:
  check_mode:
    support: none
    description: A job started in check mode is waited for like any other; this plugin changes nothing itself.
  diff_mode:
    support: none
    description: Nothing to diff.
  idempotent:
    support: full
    description: It only reads.
  action:
    support: full
    description: Runs on the controller.
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
  returned: always
  type: int
  sample: 12
'''
