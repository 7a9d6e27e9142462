# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pieces every module of the collection shares.  Internal to dockyard.migrate."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import env_fallback

from ansible_collections.dockyard.migrate.plugins.module_utils._docker_api import DockerClient

# The connection options as community.docker names them (aliases and environment variables included), so that a
# module_defaults entry written for its modules carries over.  Unix sockets only (_docker_api.parse_docker_host).
DOCKER_ARGS = dict(
    docker_host=dict(type="str", aliases=["docker_url"], fallback=(env_fallback, ["DOCKER_HOST"])),
    timeout=dict(type="int", default=60, fallback=(env_fallback, ["DOCKER_TIMEOUT"])),
    api_version=dict(type="str", aliases=["docker_api_version"], fallback=(env_fallback, ["DOCKER_API_VERSION"])),
)


def docker_args(**extra):
    spec = dict(DOCKER_ARGS)
    spec.update(extra)
    return spec


def builtin_kind(value):
    """The name of VALUE's builtin type (a templated dict is an _AnsibleTaggedDict: this says dict)."""
    return next(c.__name__ for c in type(value).__mro__ if c.__module__ == "builtins")


def client_from_params(params):
    """The Engine API client the connection options name; api_version V(auto) (community.docker's default)
    negotiates, as leaving it unset does."""
    version = params.get("api_version")
    if version is not None and str(version).strip().lower() in ("", "auto"):
        version = None
    return DockerClient(docker_host=params.get("docker_host"), timeout=params.get("timeout") or 60,
                        api_version=version)


def make_runner(module):
    """A command runner for module_utils: argv list in, (rc, stdout, stderr) out, never a shell."""
    def runner(argv, check=False, data=None):
        rc, out, err = module.run_command(argv, check_rc=False, data=data, binary_data=data is not None,
                                          expand_user_and_vars=False)
        if check and rc != 0:
            raise RuntimeError("%s failed (rc=%d): %s" % (" ".join(argv), rc, (err or out).strip()))
        return rc, out, err
    return runner
