# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: jmespath
short_description: Evaluate a JMESPath expression
version_added: 0.1.0
author:
  - Dockyard Maintainers (@dockyard)
description:
  - Evaluates a L(JMESPath,https://jmespath.org/specification.html) expression over the input and returns the result,
    as C(community.general.json_query) does, without needing another collection.
  - With O(truth=true) it returns whether the result is true by JMESPath's rules (anything but C(false), C(null),
    an empty string, list or object), which is how C(migrate_docker_root.yml) reads C(docker_root_select).
  - Needs the Python library C(jmespath) on the controller.
positional: expression
options:
  _input:
    description: The data to query (for example a M(dockyard.migrate.data_root_info) result, or a list of rows).
    type: raw
    required: true
  expression:
    description: The JMESPath expression.
    type: str
    required: true
  truth:
    description: Return C(true) or C(false) by JMESPath's truth rules instead of the result itself.
    type: bool
    default: false
requirements:
  - jmespath (Python library, on the controller)
'''

EXAMPLES = r'''
- name: Hosts whose data root holds more than 50 GB
  ansible.builtin.debug:
    msg: "{{ info | dockyard.migrate.jmespath('layout.totals.bytes > `50000000000`', truth=true) }}"

- name: Only the host and its free space, for hosts whose root is on the system disk
  ansible.builtin.debug:
    msg: "{{ rows | dockyard.migrate.jmespath(\"[?device=='/dev/sda1'].{host: host, free: free}\") }}"
'''

RETURN = r'''
_value:
  description: What the expression selects (C(null) when nothing), or a boolean with O(truth).
  type: raw
'''

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.six import string_types

try:
    import jmespath as _jmespath
    from jmespath.exceptions import JMESPathError
except ImportError:  # pragma: no cover - exercised by a test that hides the library
    _jmespath = None
    JMESPathError = Exception


def _plain(value):
    """Copy Ansible's own containers and strings into plain Python ones, which jmespath's type checks expect."""
    if isinstance(value, dict) or (hasattr(value, "items") and hasattr(value, "keys")):
        return dict((to_native(k) if isinstance(k, string_types) else k, _plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, string_types):
        return to_native(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value


def truthy(value):
    """JMESPath's truth: false, null, and empty strings, lists and objects are false; everything else is true."""
    return not (value is False or value is None or value == "" or value == [] or value == {})


def jmespath(data, expression, truth=False):
    if _jmespath is None:
        raise AnsibleFilterError("dockyard.migrate.jmespath needs the Python library jmespath on the controller "
                                 "(in the Python that runs Ansible): pip install jmespath")
    if not isinstance(expression, string_types) or not expression.strip():
        raise AnsibleFilterError("dockyard.migrate.jmespath: the expression must be a non-empty string, got %r"
                                 % (expression,))
    try:
        compiled = _jmespath.compile(to_native(expression))
    except JMESPathError as exc:
        raise AnsibleFilterError("dockyard.migrate.jmespath: invalid expression %r: %s" % (
            to_native(expression), " ".join(to_native(exc).split())))
    try:
        result = compiled.search(_plain(data))
    except JMESPathError as exc:
        raise AnsibleFilterError("dockyard.migrate.jmespath: evaluating %r failed: %s" % (
            to_native(expression), " ".join(to_native(exc).split())))
    return truthy(result) if truth else result


class FilterModule(object):
    def filters(self):
        return {"jmespath": jmespath}
