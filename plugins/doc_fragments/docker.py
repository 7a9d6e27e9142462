# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  docker_host:
    description:
      - The Docker Engine API socket, as C(unix:///path/to/docker.sock) or an absolute path.
      - When not set, the module uses E(DOCKER_HOST) from the managed host's environment (the task's
        C(environment) included), then C(/var/run/docker.sock).
      - Only unix sockets are supported; the modules run on the Docker host itself. A C(tcp://) or C(ssh://)
        address is refused with a message that says so.
      - The name and alias are community.docker's, so a C(module_defaults) entry written for its modules carries over.
    type: str
    aliases: [docker_url]
    version_added: 0.1.0
  timeout:
    description:
      - Seconds to wait for an answer from the Engine API.
      - When not set, E(DOCKER_TIMEOUT) from the managed host's environment, then V(60).
    type: int
    default: 60
    version_added: 0.1.0
  api_version:
    description:
      - The Engine API version to speak, for example V(1.41).
      - When not set, E(DOCKER_API_VERSION) from the managed host's environment; when that is not set either, or
        the value is V(auto), the version is negotiated with the daemon.
    type: str
    aliases: [docker_api_version]
    version_added: 0.1.0
'''
