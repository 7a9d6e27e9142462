#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: report_file
short_description: Write a report to a file on the controller
version_added: 0.1.0
description:
  - Writes text (a JSON report, a summary) to a file on the controller, atomically (a file beside it, flushed, then
    renamed over it), in the controller's own process.
  - M(ansible.builtin.copy) delegated to localhost runs two modules for the same write; the collection's playbooks
    write their reports with this.
  - This is an action plugin; it runs on the controller and touches no host.
author:
  - Dockyard Maintainers (@dockyard)
attributes:
  check_mode:
    support: full
    description: Reports whether the file would change and writes nothing.
  diff_mode:
    support: full
    description: Shows the file's text before and after (up to 1 MiB).
  idempotent:
    support: full
    description: A second run with the same text and mode changes nothing.
  action:
    support: full
    description: Runs on the controller.
  platform:
    support: full
    platforms: posix
    description: Needs no connection to the host.
options:
  dest:
    description:
      - The report's path on the controller; a relative path is taken from the controller's working directory.
      - Its directory must exist. An existing file there is replaced (a symbolic link is replaced by the file, as
        M(ansible.builtin.copy) does); anything else there (a directory, a pipe, a device) is refused.
    type: path
    required: true
    version_added: 0.1.0
  content:
    description: The report's text.
    type: str
    required: true
    version_added: 0.1.0
  mode:
    description: The file's permissions, in octal.
    type: raw
    default: '0644'
    version_added: 0.1.0
seealso:
  - module: ansible.builtin.copy
'''

EXAMPLES = r'''
- name: Write the JSON report
  dockyard.migrate.report_file:
    dest: /srv/reports/migration.json
    content: "{{ report | to_nice_json }}\n"
  run_once: true
'''

RETURN = r'''
dest:
  description: The report's absolute path on the controller.
  returned: success
  type: str
  sample: /srv/reports/migration.json
size:
  description: The report's size in bytes.
  returned: success
  type: int
  sample: 2048
'''
