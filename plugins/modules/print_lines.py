#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: print_lines
short_description: Print lines of text as they are
version_added: 0.1.0
description:
  - Prints lines (a table made by the P(dockyard.migrate.table#filter) filter, a summary) to the play's output
    as plain text, one per line, where M(ansible.builtin.debug) would print a JSON-quoted list.
  - This is an action plugin; it runs on the controller and touches no host.
author:
  - Dockyard Maintainers (@dockyard)
attributes:
  check_mode:
    support: full
    description: Prints the same in check mode.
  diff_mode:
    support: none
    description: Nothing to diff.
  idempotent:
    support: full
    description: It only prints.
  action:
    support: full
    description: Runs on the controller.
  platform:
    support: full
    platforms: all
    description: Needs no connection to the host.
options:
  lines:
    description: The lines to print; a string is split at its line breaks.
    type: raw
    required: true
    version_added: 0.1.0
seealso:
  - module: ansible.builtin.debug
'''

EXAMPLES = r'''
- name: Print the fleet table
  dockyard.migrate.print_lines:
    lines: "{{ rows | dockyard.migrate.table(['host', 'root', 'used'], sizes=['used']) }}"
  run_once: true
'''

RETURN = r'''
lines:
  description: The lines printed.
  returned: always
  type: list
  elements: str
  sample: ["HOST  ROOT             USED", "h1    /var/lib/docker  1.2G"]
'''
