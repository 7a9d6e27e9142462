# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: fanout_tree
short_description: Who serves whom when images fan out from one source as a binary tree
version_added: 0.1.0
author:
  - Dockyard Maintainers (@dockyard)
description:
  - Given the destinations in the order they are to be served and the source, places each destination in a binary
    tree rooted at the source, so that no host serves more than two others.
  - The source serves the first two destinations; the destination at position n (from 0) serves those at 2n+2 and
    2n+3. A destination's C(depth) is the round in which it receives (1 for the source's children), so N
    destinations take about log2(N) rounds, and in each round every sender streams to at most two hosts.
  - Returns a dictionary keyed by destination, each value with C(parent), C(depth) and C(children).
positional: source
options:
  _input:
    description: The destinations, each named once, in the order they are to be served.
    type: list
    elements: str
    required: true
  source:
    description: The host that has the images, the root of the tree; not one of the destinations.
    type: str
    required: true
'''

EXAMPLES = r'''
- name: Place each destination below its parent
  ansible.builtin.set_fact:
    tree: "{{ ansible_play_hosts | reject('equalto', 'build01') | sort | dockyard.migrate.fanout_tree('build01') }}"
# ['h2', 'h3', 'h4', 'h5', 'h6'] from h1 gives
#   h2: {parent: h1, depth: 1, children: [h4, h5]}, h3: {parent: h1, depth: 1, children: [h6]},
#   h4: {parent: h2, depth: 2, children: []}, h5: {parent: h2, depth: 2, children: []},
#   h6: {parent: h3, depth: 2, children: []}
'''

RETURN = r'''
_value:
  description: Each destination's C(parent), C(depth) (its round, from 1) and C(children), keyed by destination.
  type: dict
'''

from ansible.errors import AnsibleFilterError
from ansible.module_utils.six import string_types

# How many hosts one sender serves: the source and every destination.
WIDTH = 2


def parent_index(position):
    """The position of the destination that serves the one at POSITION, or None for the source."""
    return None if position < WIDTH else (position - WIDTH) // WIDTH


def fanout_tree(destinations, source):
    if not isinstance(destinations, list) or not all(isinstance(d, string_types) and d for d in destinations):
        raise AnsibleFilterError("fanout_tree: the destinations must be a list of host names, got %r" % (destinations,))
    if not isinstance(source, string_types) or not source:
        raise AnsibleFilterError("fanout_tree: the source must be a host name, got %r" % (source,))
    seen = set()
    for d in destinations:
        if d in seen:
            raise AnsibleFilterError("fanout_tree: %s is named twice among the destinations" % d)
        seen.add(d)
    if source in seen:
        raise AnsibleFilterError("fanout_tree: the source %s is also a destination" % source)
    tree = {}
    for n, host in enumerate(destinations):
        up = parent_index(n)
        parent = source if up is None else destinations[up]
        depth = 1 if up is None else tree[parent]["depth"] + 1
        tree[host] = {"parent": parent, "depth": depth, "children": []}
        if up is not None:
            tree[parent]["children"].append(host)
    return tree


class FilterModule(object):
    def filters(self):
        return {"fanout_tree": fanout_tree}
