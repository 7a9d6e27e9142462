# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: table
short_description: Render a list of dictionaries as an aligned text table
version_added: 0.1.0
author:
  - Dockyard Maintainers (@dockyard)
description:
  - Turns rows (dictionaries) into lines of text with aligned columns, for fleet reports.
  - Integer columns whose key ends in C(bytes) or is listed in O(sizes) are shown as human-readable sizes.
positional: columns
options:
  _input:
    description: The rows.
    type: list
    elements: dict
    required: true
  columns:
    description: The keys to show, in order. Each is a key or a C(key:HEADER) pair.
    type: list
    elements: str
    required: true
  sizes:
    description: Keys to show as human-readable sizes.
    type: list
    elements: str
    default: []
'''

EXAMPLES = r'''
- name: Print a table
  ansible.builtin.debug:
    msg: "{{ rows | dockyard.migrate.table(['host:HOST', 'root:ROOT', 'used:USED'], sizes=['used']) }}"
'''

RETURN = r'''
_value:
  description: The header line, then one line per row.
  type: list
  elements: str
'''

from ansible.errors import AnsibleFilterError

from ansible_collections.dockyard.migrate.plugins.module_utils._units import human


def cell(value, as_size):
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if as_size and isinstance(value, (int, float)):
        return human(value)
    if isinstance(value, float):
        return "%.1f" % value
    return str(value)


def table(rows, columns, sizes=None):
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise AnsibleFilterError("table: the input must be a list of dictionaries")
    sizes = set(sizes or [])
    keys, headers = [], []
    for col in columns:
        key, _sep, header = str(col).partition(":")
        keys.append(key)
        headers.append(header or key.upper())
    grid = [headers] + [[cell(r.get(k), k in sizes or k.endswith("bytes")) for k in keys] for r in rows]
    widths = [max(len(line[i]) for line in grid) for i in range(len(keys))]
    return ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in grid]


class FilterModule(object):
    def filters(self):
        return {"table": table}
