# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Sizes written by people.  Internal to the dockyard.migrate collection."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.module_utils.common.text.formatters import human_to_bytes


def parse_size(text):
    """'512M' -> 536870912; plain numbers are bytes (ansible-core's human_to_bytes, which also takes
    '512MB'; '512MiB' is read as the same).  Raises ValueError naming the text."""
    m = re.match(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$", str(text), re.IGNORECASE)
    if not m:
        raise ValueError("%r is not a size: use bytes or a number with K, M, G or T" % (text,))
    return int(human_to_bytes(m.group(1) + m.group(2).upper()))


def margin_bytes(spec, data_bytes):
    """A free-space margin: bytes, a size with a unit, or a percentage of data_bytes."""
    s = str(spec).strip()
    if s.endswith("%"):
        try:
            pct = float(s[:-1])
        except ValueError:
            raise ValueError("margin %r is not a percentage such as 10%%" % (spec,))
        if pct < 0:
            raise ValueError("margin %r must not be negative" % (spec,))
        return int(data_bytes * pct / 100.0)
    try:
        return parse_size(s)
    except ValueError:
        raise ValueError("margin %r is neither a size (512M, 2G) nor a percentage (10%%)" % (spec,))


def human(n):
    if n is None:
        return "-"
    n = float(n)
    for unit in ("B", "K", "M", "G", "T"):
        if abs(n) < 1024 or unit == "T":
            return ("%.0f%s" % (n, unit)) if unit == "B" else ("%.1f%s" % (n, unit))
        n /= 1024
    return str(n)
