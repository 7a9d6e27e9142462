# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: cwd
author:
  - Dockyard Maintainers (@dockyard)
short_description: The working directory of the controller's Ansible process
version_added: 0.1.0
description:
  - Returns the directory C(ansible-playbook) runs in, as the operating system knows it.
  - Unlike C(lookup('env', 'PWD')), it does not depend on a shell having set E(PWD). Under cron, a systemd unit
    or an AWX job the variable may be missing, and a path built from it would land in C(/).
  - The playbooks resolve their default report files and relative hook files against it.
options: {}
'''

EXAMPLES = r'''
- name: Write a report next to where the run was started
  ansible.builtin.copy:
    content: "{{ report | to_nice_json }}"
    dest: "{{ lookup('dockyard.migrate.cwd') }}/report.json"
    mode: "0644"
  delegate_to: localhost
'''

RETURN = r'''
_raw:
  description: The controller's working directory, an absolute path.
  type: list
  elements: str
'''

import os

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        if terms:
            raise AnsibleLookupError("dockyard.migrate.cwd takes no terms, got %r" % (terms,))
        try:
            return [os.getcwd()]
        except OSError as exc:  # the directory was removed under the running process
            raise AnsibleLookupError("the controller's working directory cannot be read: %s" % exc)
