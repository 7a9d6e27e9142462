# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: image_store_report
short_description: Build the JSON report of an image store conversion
version_added: 0.2.0
author:
  - Dockyard Maintainers (@dockyard)
description:
  - Turns the per-host results of C(convert_image_store.yml) into the report it writes and keeps as a job artifact.
  - Every host of the play has a row; a host without a result is V(not started) (the rollout stopped before it).
positional: results
options:
  _input:
    description: The play's host names.
    type: list
    elements: str
    required: true
  results:
    description: Each host's result (a dictionary with C(status), C(store_before), C(store_after), C(images),
      C(containers), C(left_over), C(inactive_store), C(actions) and C(error)), or an empty dictionary when it has
      none, in the order of the host names.
    type: list
    elements: raw
    required: true
  check_mode:
    description: Whether the run was made in check mode.
    type: bool
    default: false
  ended:
    description: When the run ended (ISO 8601, UTC).
    type: str
  store:
    description: The store the run asked for.
    type: str
'''

EXAMPLES = r'''
- name: Build the report
  ansible.builtin.set_fact:
    report: >-
      {{ ansible_play_hosts_all | dockyard.migrate.image_store_report(
           ansible_play_hosts_all | map('extract', hostvars) | map(attribute='__store_result', default={}) | list,
           store=docker_image_store) }}
'''

RETURN = r'''
_value:
  description:
    - The report, C(schema_version) V(1), C(kind) V(image_store); C(hosts) has one row per host with C(host),
      C(status) (V(converted), V(planned), V(unchanged), V(refused), V(failed), V(not started)), C(store_before),
      C(store_after), C(images) and C(containers) (how many were carried), C(left_over), C(inactive_store) (what the
      store the host no longer runs holds - C(store), C(bytes), C(containers) - or null), C(actions) and C(error);
      C(counts) per status and C(outcome) (V(success) or V(failed)).
  type: dict
'''

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.collections import is_sequence

SCHEMA_VERSION = 1
STATUSES = ("converted", "planned", "unchanged", "refused", "failed", "not started")


def _count(value):
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def row(host, result):
    result = dict(result or {})
    status = str(result.get("status") or "not started").strip()
    if status not in STATUSES:
        raise AnsibleFilterError("image_store_report: %s has the unknown status %r" % (host, status))
    error = result.get("error")
    if status == "not started" and not error:
        error = {"phase": None, "message": "the rollout stopped before this host"}
    return {"host": host, "status": status, "store_before": result.get("store_before") or None,
            "store_after": result.get("store_after") or None, "images": _count(result.get("images")),
            "containers": _count(result.get("containers")), "left_over": list(result.get("left_over") or []),
            "inactive_store": result.get("inactive_store") or None,
            "actions": list(result.get("actions") or []), "error": error}


def image_store_report(hosts, results, check_mode=False, ended=None, store=None):
    if not is_sequence(hosts) or not is_sequence(results) or len(hosts) != len(results):
        raise AnsibleFilterError("image_store_report: expects the host names and, in the same order, their results")
    rows = sorted((row(h, r) for h, r in zip(hosts, results)), key=lambda r: r["host"])
    counts = dict((s, sum(1 for r in rows if r["status"] == s)) for s in STATUSES)
    bad = counts["failed"] + counts["refused"] + counts["not started"]
    return {"schema_version": SCHEMA_VERSION, "kind": "image_store", "store": store, "ended": ended,
            "check_mode": bool(check_mode), "outcome": "failed" if bad else "success", "counts": counts,
            "hosts": rows}


class FilterModule(object):
    def filters(self):
        return {"image_store_report": image_store_report}
