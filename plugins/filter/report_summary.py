# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: report_summary
short_description: The sentence printed under a migration or rollback table
version_added: 0.1.0
author:
  - Dockyard Maintainers (@dockyard)
description:
  - Says in one line what a run did (how many hosts moved, were already done, planned, failed, not started, ...),
    from a report made by the P(dockyard.migrate.fleet_report#filter) filter.
options:
  _input:
    description: The report.
    type: dict
    required: true
'''

EXAMPLES = r'''
- name: Print the summary
  dockyard.migrate.print_lines:
    lines: "{{ report | dockyard.migrate.report_summary }}"
'''

RETURN = r'''
_value:
  description: The summary lines.
  type: list
  elements: str
'''

from ansible.errors import AnsibleFilterError

from ansible_collections.dockyard.migrate.plugins.filter.fleet_report import STATUSES


def report_summary(report):
    """The lines printed under the table: what happened, in a sentence."""
    if not isinstance(report, dict) or "counts" not in report:
        raise AnsibleFilterError("report_summary: expects a report made by fleet_report")
    c = report["counts"]
    target = (report.get("settings") or {}).get("target")
    if report["kind"] == "migration":
        if all(c.get(s, 0) == 0 for s in STATUSES if s != "unchanged") and c.get("unchanged"):
            return ["Nothing changed: every host already runs Docker from %s" % target]
        parts = ["%d moved" % c.get("moved", 0), "%d already done" % c.get("unchanged", 0),
                 "%d planned (check mode)" % c.get("planned", 0)]
    else:
        if all(c.get(s, 0) == 0 for s in STATUSES if s != "unchanged") and c.get("unchanged"):
            return ["Nothing to roll back: every host already runs Docker from its original root"]
        parts = ["%d restored" % c.get("restored", 0), "%d already back" % c.get("unchanged", 0),
                 "%d planned (check mode)" % c.get("planned", 0)]
    parts += ["%d %s" % (c[s], s) for s in STATUSES
              if s not in ("moved", "restored", "unchanged", "planned") and c.get(s)]
    down = ["%s: %s" % (h.get("host"), ", ".join(h["containers_not_running"])) for h in report.get("hosts") or []
            if isinstance(h, dict) and h.get("containers_not_running")]
    return [", ".join(parts)] + (["Containers that ran before and do not run now (their data is there; see docker "
                                  "logs): " + "; ".join(down)] if down else [])


class FilterModule(object):
    def filters(self):
        return {"report_summary": report_summary}
