# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: precheck_rows
short_description: Judge each host of a fleet pre-check and estimate its move
version_added: 0.1.0
author:
  - Dockyard Maintainers (@dockyard)
description:
  - Used by C(precheck_docker_root.yml). From each host's M(dockyard.migrate.data_root_info) result (with the target
    as candidate) and M(dockyard.migrate.data_root) plan (check mode), says whether the move fits and why not, the
    bytes to copy, the free space after, and estimates of the copy time and the downtime (see C(docs/guide.md)).
positional: hosts
options:
  _input:
    description: Per host, C(null) or an empty dictionary (not analysed), C(host)/C(unreachable)/C(message), or
      C(host)/C(info)/C(plan)/C(refused).
    type: list
    elements: raw
    required: true
  hosts:
    description: The host names, in the order of the input.
    type: list
    elements: str
    required: true
  target:
    description: The target data root.
    type: str
  rate:
    description: Copy throughput assumed, bytes per second.
    type: int
    default: 104857600
  restart_seconds:
    description: Seconds assumed to stop Docker, switch, start it and verify.
    type: float
    default: 15
  two_phase:
    description: Whether the bulk of the copy happens while Docker runs.
    type: bool
    default: true
  ended:
    description: When the check ended (ISO 8601, UTC).
    type: str
'''

EXAMPLES = r'''
- name: Judge every host
  ansible.builtin.set_fact:
    precheck: "{{ results | dockyard.migrate.precheck_rows(ansible_play_hosts_all, target='/mnt/data/docker') }}"
'''

RETURN = r'''
_value:
  description: The pre-check report, with C(hosts) (one row each), C(counts), C(total_bytes) and C(summary) lines.
  type: dict
'''

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.collections import is_sequence

from ansible_collections.dockyard.migrate.plugins.module_utils._units import human

MUTABLE = ("containers", "volumes")


def _get(d, *path):
    for key in path:
        if not isinstance(d, dict):
            return None
        d = d.get(key)
    return d


def reasons_for(info, refused):
    """Why a host cannot move, in the words an operator needs (the module's refusal comes last)."""
    out = []
    if not _get(info, "engine", "running"):
        out.append("Docker is not running (start it so its inventory can be recorded)")
    if _get(info, "config", "snap"):
        out.append("Docker is a snap (not supported)")
    if _get(info, "config", "flag_data_root"):
        out.append("a --data-root flag in the service (%s) overrides any method; remove it first"
                   % _get(info, "config", "flag_data_root"))
    if _get(info, "config", "daemon_json_error"):
        out.append(str(_get(info, "config", "daemon_json_error")))
    if _get(info, "candidate", "same_filesystem"):
        out.append("the target is on the data root's own filesystem (%s): the move would free nothing there"
                   % (_get(info, "filesystem", "mount_point") or "?"))
    if _get(info, "candidate", "fits") is False:
        out.append(str(_get(info, "candidate", "reason")))
    if refused and not any(r in refused for r in out):
        out.append(refused)
    return out


def judge(host, res, rate, restart_seconds, two_phase):
    row = {"host": host, "status": "unknown", "fits": None, "bytes": None, "free_after_bytes": None,
           "copy_seconds": None, "downtime_seconds": None, "reasons": [], "why": None}
    if not res:
        row["why"] = "not analysed (the run ended before this host)"
        return row
    if res.get("unreachable"):
        row.update(status="unreachable", why=res.get("message") or "the host did not answer")
        row["reasons"] = [row["why"]]
        return row
    info, plan, refused = res.get("info") or {}, res.get("plan") or {}, res.get("refused") or ""
    if not refused and plan and not plan.get("changed"):
        row.update(status="already done", fits=True, bytes=0, copy_seconds=0, downtime_seconds=0,
                   why="Docker already runs from the target")
        return row
    reasons = reasons_for(info, refused)
    size = plan.get("planned_bytes")
    if size is None:
        size = _get(info, "layout", "totals", "bytes")
    free_after = plan.get("free_after_bytes")
    if isinstance(free_after, dict) and free_after:
        free_after = min(free_after.values())
    elif not isinstance(free_after, (int, float)):
        free_after = _get(info, "candidate", "free_after_bytes")
    mutable = sum(c.get("bytes") or 0 for c in (_get(info, "layout", "components") or [])
                  if isinstance(c, dict) and c.get("name") in MUTABLE)
    row.update(status="cannot move" if reasons else "fits", fits=not reasons, bytes=size, free_after_bytes=free_after,
               reasons=reasons, why="; ".join(reasons) if reasons else None)
    if size is not None:
        row["copy_seconds"] = round(float(size) / rate, 1)
        row["downtime_seconds"] = round(restart_seconds + float(mutable if two_phase else size) / rate, 1)
    return row


def precheck_rows(results, hosts, target=None, rate=104857600, restart_seconds=15, two_phase=True, ended=None):
    if not is_sequence(results) or not is_sequence(hosts) or len(results) != len(hosts):
        raise AnsibleFilterError("precheck_rows: expects each host's result and, in the same order, the host names")
    try:
        rate = int(rate)
        restart_seconds = float(restart_seconds)
    except (TypeError, ValueError):
        raise AnsibleFilterError("precheck_rows: rate and restart_seconds must be numbers")
    if rate <= 0:
        raise AnsibleFilterError("precheck_rows: rate must be a positive number of bytes per second, got %d" % rate)
    rows = sorted((judge(h, r, rate, restart_seconds, two_phase) for h, r in zip(hosts, results)),
                  key=lambda r: r["host"])
    counts = {"fits": 0, "cannot move": 0, "already done": 0, "unreachable": 0, "unknown": 0}
    for r in rows:
        counts[r["status"]] += 1
    total = sum(r["bytes"] or 0 for r in rows if r["status"] == "fits")
    summary = ["%d of %d hosts can move to %s, %d already there, %d cannot move, %d unreachable; %s to copy."
               % (counts["fits"], len(rows), target, counts["already done"], counts["cannot move"],
                  counts["unreachable"], human(total)),
               "Estimates assume %s/s and %g s to stop, switch, start and verify (docs/guide.md)."
               % (human(rate), restart_seconds)]
    return {"schema_version": 1, "kind": "precheck", "ended": ended, "target": target, "rate": rate,
            "restart_seconds": restart_seconds, "two_phase": bool(two_phase), "counts": counts, "total_bytes": total,
            "hosts": rows, "summary": summary}


class FilterModule(object):
    def filters(self):
        return {"precheck_rows": precheck_rows}
