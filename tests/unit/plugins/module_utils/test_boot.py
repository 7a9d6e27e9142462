# -*- coding: utf-8 -*-
"""Whether Docker started since the journal's last write, across a reboot: the journal records the boot it was
written in, and a start in another boot counts whatever the wall clock says."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.dockyard.migrate.plugins.module_utils import _journal, _local, _systemd


class Booted(_systemd.Systemd):
    """The real host's started_since over a given boot id and a unit started MONO seconds after its boot."""

    def __init__(self, boot, mono):
        runner = (lambda argv: (0, "%d\n" % int(mono * 1e6), "")) if mono is not None else None
        super(Booted, self).__init__(runner, client=None)
        self.boot = boot

    def boot_id(self):
        return self.boot


def test_a_start_in_another_boot_than_the_journals_counts_whatever_the_clock_says():
    ahead = time.time() + 3600  # a journal written with the clock an hour ahead, then a reboot with it right
    assert not Booted("b1", mono=1).started_since(ahead, boot_id="b1")  # same boot: the clock decides
    assert Booted("b2", mono=1).started_since(ahead, boot_id="b1")  # another boot: any start in this one
    assert not Booted("b2", mono=0).started_since(ahead, boot_id="b1")  # not started in this boot at all
    assert Booted("b1", mono=time.monotonic()).started_since(time.time() - 3600, boot_id=None)  # no boot recorded


def test_the_journal_records_the_boot_it_was_written_in(tmp_path):
    host = _local.Files()
    j = _journal.Journal(str(tmp_path / "docker"), host=host)
    j.start(0, "bind")
    j.save(phase="record")
    assert j.load()["boot_id"] == host.boot_id() and len(host.boot_id()) == 36
    assert j.since() == {"when": j["updated"], "boot_id": host.boot_id()}
