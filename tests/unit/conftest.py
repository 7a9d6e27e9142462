# -*- coding: utf-8 -*-
"""The unit suite runs under an audit hook (tests/unit/audit.py): a test during which the collection's code wrote a
file outside its atomic writer (or the few functions allowed to), renamed outside them, or ran a shell fails."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

import audit


@pytest.fixture(autouse=True)
def audited():
    auditor = audit.Auditor()
    with audit.watching(auditor):
        yield auditor
    if auditor.violations:
        pytest.fail("the collection's code, observed during this test:\n%s" % "\n".join(
            "  %s in %s: %s" % v for v in auditor.violations), pytrace=False)
