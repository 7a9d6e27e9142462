# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: cleanup_report
short_description: Build the JSON report of a cleanup run
version_added: 0.1.0
author:
  - Dockyard Maintainers (@dockyard)
description:
  - Turns the per-host results of C(cleanup_docker_root.yml) into the report it writes and keeps as a job artifact
    (C(docs/reports.md)).
  - Every host of the play has a row; a host without a result is V(not reached).
positional: results
options:
  _input:
    description: The play's host names.
    type: list
    elements: str
    required: true
  results:
    description: Each host's result (a dictionary with C(status), C(freed_bytes), C(original), C(actions) and
      C(error)), or an empty dictionary when it has none, in the order of the host names.
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
  settings:
    description: The settings of the run to record (target, soak days).
    type: dict
    default: {}
'''

EXAMPLES = r'''
- name: Build the report
  ansible.builtin.set_fact:
    report: >-
      {{ ansible_play_hosts_all | dockyard.migrate.cleanup_report(
           ansible_play_hosts_all | map('extract', hostvars) | map(attribute='__cleanup_result', default={}) | list,
           settings={'target': docker_root_target}) }}
'''

RETURN = r'''
_value:
  description:
    - The report (C(docs/cleanup-report.schema.json)), C(schema_version) V(1), C(kind) V(cleanup); C(hosts) has
      one row per host with C(host), C(status) (V(removed), V(planned), V(nothing to remove), V(failed),
      V(not reached)), C(freed_bytes), C(kept) (the originals still on disk), C(original), C(actions) and
      C(error); C(freed_bytes) at the top is their sum.
  type: dict
'''

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.collections import is_sequence

SCHEMA_VERSION = 1  # docs/cleanup-report.schema.json
STATUSES = ("removed", "planned", "nothing to remove", "failed", "not reached")


def row(host, result):
    result = dict(result or {})
    status = result.get("status") or "not reached"
    if status not in STATUSES:
        raise AnsibleFilterError("cleanup_report: %s has the unknown status %r" % (host, status))
    try:
        freed = int(float(result.get("freed_bytes") or 0))
    except (TypeError, ValueError):
        freed = 0
    original = [o for o in (result.get("original") or []) if isinstance(o, dict)]
    error = result.get("error")
    if status == "not reached" and not error:
        error = {"phase": None, "message": "the host was not reached"}
    return {"host": host, "status": status, "freed_bytes": freed, "original": original,
            "kept": ", ".join(str(o.get("backup")) for o in original if not o.get("removed") and o.get("backup"))
            or None,
            "actions": list(result.get("actions") or []), "error": error}


def cleanup_report(hosts, results, check_mode=False, ended=None, settings=None):
    if not is_sequence(hosts) or not is_sequence(results) or len(hosts) != len(results):
        raise AnsibleFilterError("cleanup_report: expects the host names and, in the same order, their results")
    rows = sorted((row(h, r) for h, r in zip(hosts, results)), key=lambda r: r["host"])
    counts = dict((s, sum(1 for r in rows if r["status"] == s)) for s in STATUSES)
    return {"schema_version": SCHEMA_VERSION, "kind": "cleanup", "ended": ended, "check_mode": bool(check_mode), "settings": dict(settings or {}),
            "outcome": "failed" if counts["failed"] or counts["not reached"] else "success",
            "counts": counts, "freed_bytes": sum(r["freed_bytes"] for r in rows), "hosts": rows}


class FilterModule(object):
    def filters(self):
        return {"cleanup_report": cleanup_report}
