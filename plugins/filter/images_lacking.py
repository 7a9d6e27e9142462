# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: images_lacking
short_description: The wanted images a host lacks, by ID or by tag
version_added: 0.1.0
author:
  - Dockyard Maintainers (@dockyard)
description:
  - Given the wanted images (as M(dockyard.migrate.image_info) returns them on the source) and the images found on a
    host, returns the wanted images that the host does not have, or has without one of the wanted tags.
  - An image is matched by ID or, where both sides give it, by C(config), the digest of its configuration, because
    the containerd image store gives an image another ID than the classic store does.
positional: present
options:
  _input:
    description: The wanted images, each a dictionary with C(id), C(tags) and optionally C(config).
    type: list
    elements: dict
    required: true
  present:
    description: The images found on the host, each with C(id), C(tags) and optionally C(config).
    type: list
    elements: dict
    required: true
'''

EXAMPLES = r'''
- name: What does this host lack?
  ansible.builtin.set_fact:
    lacks: "{{ wanted.images | dockyard.migrate.images_lacking(here.images) }}"
'''

RETURN = r'''
_value:
  description: The wanted images this host lacks.
  type: list
  elements: dict
'''

from ansible.errors import AnsibleFilterError


def images_lacking(wanted, present):
    if not isinstance(wanted, list) or not isinstance(present, list):
        raise AnsibleFilterError("images_lacking: both arguments must be lists of images")
    have = {}
    for p in present:
        if isinstance(p, dict):
            for key in (p.get("id"), p.get("config")):
                if key:
                    have.setdefault(key, set()).update(p.get("tags") or [])
    out = []
    for w in wanted:
        if not isinstance(w, dict) or "id" not in w:
            raise AnsibleFilterError("images_lacking: each wanted image needs an id")
        tags = have.get(w["id"])
        if tags is None and w.get("config"):
            tags = have.get(w["config"])
        if tags is None or not set(w.get("tags") or []) <= tags:
            out.append(w)
    return out


class FilterModule(object):
    def filters(self):
        return {"images_lacking": images_lacking}
