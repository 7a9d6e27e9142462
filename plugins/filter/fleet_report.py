# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: fleet_report
short_description: Build the JSON report of a migration or rollback run
version_added: 0.1.0
author:
  - Dockyard Maintainers (@dockyard)
description:
  - Turns the per-host results of P(dockyard.migrate.relocate_data_root#role) (or of the rollback playbook) into
    the versioned report that C(migrate_docker_root.yml) and C(rollback_docker_root.yml) write and keep as a job
    artifact. The schema is described in C(docs/reports.md) and C(docs/report.schema.json).
  - Every host of the play has a row; a host without a result is V(not started) (the rollout stopped before it).
positional: results
options:
  _input:
    description: The play's host names.
    type: list
    elements: str
    required: true
  results:
    description: Each host's result (a dictionary), or C(null) or an empty dictionary when it has none, in the order of
      the host names.
    type: list
    elements: raw
    required: true
  reached:
    description:
      - For each host, when the run reached it (or C(null)). A host that was reached but has no result lost its
        connection during the run and is reported V(unreachable).
    type: list
    elements: raw
  kind:
    description: V(migration) or V(rollback).
    type: str
    default: migration
  check_mode:
    description: Whether the run was made in check mode.
    type: bool
    default: false
  ended:
    description: When the run ended (ISO 8601, UTC).
    type: str
  settings:
    description: The settings of the run to record (target, method, selection, ...).
    type: dict
    default: {}
'''

EXAMPLES = r'''
- name: Build the report
  ansible.builtin.set_fact:
    report: >-
      {{ ansible_play_hosts_all | dockyard.migrate.fleet_report(
           ansible_play_hosts_all | map('extract', hostvars) | map(attribute='relocate_data_root_result', default={})
           | list, check_mode=ansible_check_mode, settings={'target': docker_root_target}) }}
'''

RETURN = r'''
_value:
  description: The report (schema version 1).
  type: dict
'''

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.collections import is_sequence
from ansible.module_utils.six import string_types

SCHEMA_VERSION = 1

# The statuses a host can end a run in, in the order the summary names them.
STATUSES = ("moved", "restored", "unchanged", "planned", "not selected", "cannot move", "refused", "failed",
            "rolled back", "unreachable", "not started")
FAILED = ("failed", "rolled back", "unreachable")
# Refused in the preflight, nothing touched (the reason in ``error``); the run does not succeed with one either.
REFUSED = ("refused",)

_ROW = (
    ("host", None), ("status", "not started"), ("old_root", None), ("new_root", None), ("method", None),
    ("started", None), ("ended", None), ("bytes", 0), ("planned_bytes", None), ("free_after_bytes", None),
    ("downtime_seconds", 0), ("online_copy_seconds", 0), ("offline_copy_seconds", 0), ("phases", None),
    ("verified", False), ("fingerprint_before", None), ("fingerprint_after", None), ("original", None),
    ("reason", None), ("error", None), ("containers_not_running", None),
    ("kept_bytes", None), ("kept_on", None), ("cleanup_from", None), ("pruned_bytes", None), ("pruned", None),
)


def _number(value, default=0):
    if value is None or value == "":
        return default
    try:
        f = float(value)
    except (TypeError, ValueError):
        return default
    return int(f) if f == int(f) and not isinstance(value, float) else f


def row(host, result):
    """One host's row with every key of the schema."""
    result = dict(result or {})
    out = {}
    for key, default in _ROW:
        out[key] = result.get(key, default)
    out["host"] = host
    out["bytes"] = _number(out["bytes"])
    out["downtime_seconds"] = _number(out["downtime_seconds"])
    out["online_copy_seconds"] = _number(out["online_copy_seconds"])
    out["offline_copy_seconds"] = _number(out["offline_copy_seconds"])
    if out["pruned_bytes"] is not None:
        out["pruned_bytes"] = _number(out["pruned_bytes"], None)
    out["pruned"] = [str(p) for p in (out["pruned"] or [])]
    if out["kept_bytes"] is not None:
        out["kept_bytes"] = _number(out["kept_bytes"], None)
    if out["planned_bytes"] is not None:
        out["planned_bytes"] = _number(out["planned_bytes"], None)
    out["phases"] = [{"phase": str(p.get("phase")), "seconds": _number(p.get("seconds"))}
                     for p in (out["phases"] or []) if isinstance(p, dict)]
    out["verified"] = bool(out["verified"]) if not isinstance(out["verified"], string_types) \
        else out["verified"].lower() in ("true", "yes", "1")
    out["containers_not_running"] = [str(n) for n in (out["containers_not_running"] or [])
                                     if isinstance(n, string_types)]
    if out["error"] is None and out["status"] in FAILED + REFUSED + ("cannot move",):
        out["error"] = {"phase": result.get("failed_phase"), "message": result.get("message") or "unknown error"}
    if out["status"] == "not started":
        out["reason"] = out["reason"] or "the rollout stopped before this host"
    return out


def fleet_report(hosts, results, reached=None, kind="migration", check_mode=False, ended=None, settings=None):
    if not is_sequence(hosts) or not is_sequence(results) or len(hosts) != len(results):
        raise AnsibleFilterError("fleet_report: expects the host names and, in the same order, their results")
    if reached is None:
        reached = [None] * len(hosts)
    if not is_sequence(reached) or len(reached) != len(hosts):
        raise AnsibleFilterError("fleet_report: reached must name, for each host, when the run reached it")
    if kind not in ("migration", "rollback"):
        raise AnsibleFilterError("fleet_report: kind must be migration or rollback, got %r" % (kind,))
    # An empty result is no result (Jinja's map(attribute=..., default=...) cannot give null).
    results = [r or None for r in results]
    for h, r in zip(hosts, results):
        if r is not None and not isinstance(r, dict):
            raise AnsibleFilterError("fleet_report: the result of %s is not a dictionary" % h)
    results = [r if r is not None or not when else
               {"status": "unreachable", "started": when, "failed_phase": None,
                "message": "the connection to the host was lost during the run; look at the host"}
               for r, when in zip(results, reached)]
    rows = sorted((row(h, r) for h, r in zip(hosts, results)), key=lambda r: r["host"])
    counts = dict((s, 0) for s in STATUSES)
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    started = sorted(r["started"] for r in rows if r["started"])
    failed = sum(counts.get(s, 0) for s in FAILED + REFUSED)
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": kind,
        "started": started[0] if started else ended,
        "ended": ended,
        "check_mode": bool(check_mode),
        "settings": dict(settings or {}),
        "outcome": "failed" if failed else "success",
        "counts": counts,
        "hosts": rows,
    }


class FilterModule(object):
    def filters(self):
        return {"fleet_report": fleet_report}
