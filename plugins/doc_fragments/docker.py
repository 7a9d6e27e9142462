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
      - When not set, the module uses E(DOCKER_HOST) from the managed host's environment, then
        C(/var/run/docker.sock).
      - Only unix sockets are supported; the modules run on the Docker host itself.
    type: str
    version_added: 0.1.0
  timeout:
    description:
      - Seconds to wait for an answer from the Engine API.
    type: int
    default: 60
    version_added: 0.1.0
  api_version:
    description:
      - The Engine API version to speak, for example V(1.41).
      - When not set, the version is negotiated with the daemon.
    type: str
    version_added: 0.1.0
'''
