# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read and merge /etc/docker/daemon.json.  Internal to the dockyard.migrate collection."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

DEFAULT_PATH = "/etc/docker/daemon.json"


class DaemonJsonError(ValueError):
    pass


def parse(text, path=DEFAULT_PATH):
    """Parse daemon.json text; an empty file counts as {}."""
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise DaemonJsonError("%s is not valid JSON: %s" % (path, exc))
    if not isinstance(data, dict):
        raise DaemonJsonError("%s must hold a JSON object, not %s" % (path, type(data).__name__))
    return data


def load(path=DEFAULT_PATH):
    """Return (data, text, exists)."""
    if not os.path.exists(path):
        return {}, "", False
    with open(path, "rb") as f:
        text = f.read().decode("utf-8")
    return parse(text, path), text, True


def data_root(data):
    """The data root daemon.json sets: ``data-root``, or the old ``graph`` key."""
    return data.get("data-root") or data.get("graph")


def render(data):
    return json.dumps(data, indent=2, sort_keys=False) + "\n"


def with_data_root(data, path):
    """A copy of data with data-root set to path (and the legacy ``graph`` key dropped)."""
    out = dict(data)
    out.pop("graph", None)
    out["data-root"] = path
    return out


def without_data_root(data):
    out = dict(data)
    out.pop("data-root", None)
    out.pop("graph", None)
    return out
