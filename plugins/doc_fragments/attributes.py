# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The standard attributes. Each module states its own support (and, where useful, a description of it)."""

    DOCUMENTATION = r'''
options: {}
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
'''

    # Modules that run on the managed host.
    PLATFORM = r'''
options: {}
attributes:
  platform:
    description: Target OS/families that can be operated against.
    details: The managed host runs Linux; the module runs there, with Python 3.8 or later and its standard library.
    support: full
    platforms: linux
'''

    # Modules that share docker_host, timeout and api_version (the dockyard.migrate.docker fragment).
    DOCKER_ACTION_GROUP = r'''
options: {}
attributes:
  action_group:
    description: Use C(group/dockyard.migrate.docker) in C(module_defaults) to set defaults for this module.
    details: The group holds the modules that share O(docker_host), O(timeout) and O(api_version), so one
      C(module_defaults) entry sets the socket, the Engine API timeout and the API version for all of them.
    support: full
    membership:
      - dockyard.migrate.docker
'''
