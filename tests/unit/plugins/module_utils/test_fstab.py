# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.dockyard.migrate.plugins.module_utils import _fstab

TEXT = """# /etc/fstab: static file system information.
UUID=abcd  /         ext4    errors=remount-ro 0       1

/dev/sdb1	/mnt/data	ext4	defaults	0	2
tmpfs /tmp tmpfs defaults
"""


def test_round_trip_is_byte_exact():
    assert _fstab.render(_fstab.parse(TEXT)) == TEXT


def test_set_entry_appends_and_keeps_everything_else():
    lines, changed = _fstab.set_entry(_fstab.parse(TEXT), "/mnt/data/docker", "/var/lib/docker")
    assert changed
    out = _fstab.render(lines)
    assert out.startswith(TEXT)
    assert out.endswith("/mnt/data/docker /var/lib/docker none bind 0 0\n")


def test_set_entry_is_idempotent_and_keeps_spacing():
    text = TEXT + "/mnt/data/docker\t/var/lib/docker   none  bind  0 0\n"
    lines, changed = _fstab.set_entry(_fstab.parse(text), "/mnt/data/docker", "/var/lib/docker/")
    assert not changed
    assert _fstab.render(lines) == text


def test_set_entry_replaces_in_place_and_drops_duplicates():
    text = ("/old /var/lib/docker none bind 0 0\n" + TEXT +
            "/older /var/lib/docker none bind 0 0\n")
    lines, changed = _fstab.set_entry(_fstab.parse(text), "/new", "/var/lib/docker")
    assert changed
    out = _fstab.render(lines).splitlines()
    assert out[0] == "/new /var/lib/docker none bind 0 0"
    assert sum(1 for line in out if "/var/lib/docker" in line) == 1


def test_remove_entry():
    text = TEXT + "/mnt/data/docker /var/lib/docker none bind 0 0\n"
    lines, changed = _fstab.remove_entry(_fstab.parse(text), "/var/lib/docker")
    assert changed
    assert _fstab.render(lines) == TEXT
    lines, changed = _fstab.remove_entry(lines, "/var/lib/docker")
    assert not changed


def test_spaces_are_escaped_and_read_back():
    lines, _changed = _fstab.set_entry([], "/mnt/my data/docker", "/var/lib/docker")
    out = _fstab.render(lines)
    assert "/mnt/my\\040data/docker" in out
    assert _fstab.parse(out)[0].src == "/mnt/my data/docker"


def test_malformed_line_for_the_managed_path_is_an_error():
    with pytest.raises(_fstab.FstabError, match="line 2 cannot be parsed"):
        _fstab.parse("UUID=x / ext4 defaults 0 1\n/src /var/lib/docker none bind 0 0 extra\n",
                     strict_path="/var/lib/docker")


def test_malformed_foreign_line_is_kept():
    text = "garbage-line-with-one-field\n/dev/sdb1 /mnt ext4 defaults 0 2\n"
    lines = _fstab.parse(text)
    assert _fstab.render(lines) == text
    with pytest.raises(_fstab.FstabError, match="line 1"):
        _fstab.parse(text, strict_path="/var/lib/docker")


def test_set_entry_keeps_a_stale_line_for_the_path_as_a_comment():
    lines = _fstab.parse("UUID=0a1b /var/lib/docker ext4 defaults 0 2\n/dev/sda1 / ext4 defaults 0 1\n")
    out, changed = _fstab.set_entry(lines, "/mnt/data/docker", "/var/lib/docker", disable_note="moved")
    assert changed
    assert _fstab.render(out) == ("# disabled by dockyard.migrate (moved): UUID=0a1b /var/lib/docker ext4 defaults 0 2\n"
                                  "/mnt/data/docker /var/lib/docker none bind 0 0\n/dev/sda1 / ext4 defaults 0 1\n")
    again, changed = _fstab.set_entry(_fstab.parse(_fstab.render(out)), "/mnt/data/docker", "/var/lib/docker",
                                      disable_note="moved")
    assert not changed and _fstab.render(again) == _fstab.render(out)


def test_is_bind_of_compares_the_unescaped_source():
    line = _fstab.parse("/mnt/my\\040disk/docker /var/lib/docker none bind 0 0\n")[0]
    assert _fstab.is_bind_of(line, "/mnt/my disk/docker")
    assert not _fstab.is_bind_of(line, "/mnt/my disk/other")
    assert not _fstab.is_bind_of(_fstab.parse("UUID=x /var/lib/docker ext4 defaults 0 2\n")[0], "UUID=x")


def test_a_path_with_spaces_and_non_ascii_round_trips():
    out, _changed = _fstab.set_entry([], "/mnt/dätä disk/dock\ter", "/var/lib/docker")
    text = _fstab.render(out)
    assert text == "/mnt/dätä\\040disk/dock\\011er /var/lib/docker none bind 0 0\n"
    assert _fstab.parse(text)[0].src == "/mnt/dätä disk/dock\ter"


# ---------------------------------------------------------------- a data root that is its own disk
OLD_DISK = "UUID=0c0ffee0-aaaa-4bad-beef-000000000002 /var/lib/docker ext4 defaults,nofail 0 2"


@pytest.mark.parametrize("line", [OLD_DISK, "LABEL=olddocker /var/lib/docker ext4 defaults 0 2",
                                  "/dev/sdc1\t/var/lib/docker\txfs\tdefaults\t0\t0",
                                  "PARTUUID=1234-01 /var/lib/docker/ auto defaults 0 2"])
def test_disk_entry_finds_the_one_line_of_a_disk(line):
    found = _fstab.disk_entry(_fstab.parse(TEXT + line + "\n"), "/var/lib/docker")
    assert found.raw == line and found.lineno == 6


@pytest.mark.parametrize("extra, message", [
    ("", "fstab holds no line for /var/lib/docker"),
    (OLD_DISK + "\n" + OLD_DISK + "\n", "fstab holds 2 lines for /var/lib/docker (line 6; line 7)"),
    ("/srv/docker /var/lib/docker none bind 0 0\n",
     "line 6 (/srv/docker /var/lib/docker none bind 0 0) does not mount a disk"),
    ("nas:/export /var/lib/docker nfs defaults 0 0\n", "line 6 (nas:/export"),
    ("tmpfs /var/lib/docker tmpfs defaults 0 0\n", "does not mount a disk by UUID=, LABEL= or device path"),
])
def test_disk_entry_names_what_is_wrong(extra, message):
    with pytest.raises(_fstab.FstabError) as exc:
        _fstab.disk_entry(_fstab.parse(TEXT + extra), "/var/lib/docker")
    assert message in str(exc.value)


def test_a_disks_line_is_replaced_by_the_bind_line_and_kept_commented_with_the_day():
    text = TEXT + OLD_DISK + "\n"
    note = _fstab.disk_note("2026-11-28")
    lines, changed = _fstab.set_entry(_fstab.parse(text), "/mnt/data/docker", "/var/lib/docker", disable_note=note)
    out = _fstab.render(lines)
    assert changed and out == TEXT + (
        "# disabled by dockyard.migrate (the data root moved off this disk on 2026-11-28; see the bind line below): "
        + OLD_DISK + "\n/mnt/data/docker /var/lib/docker none bind 0 0\n")
    # A rerun (another day) finds the bind line and changes nothing; the comment is no entry.
    again, changed = _fstab.set_entry(_fstab.parse(out), "/mnt/data/docker", "/var/lib/docker",
                                      disable_note=_fstab.disk_note("2026-11-29"))
    assert not changed and _fstab.render(again) == out
    assert [x.raw for x in _fstab.entries_for(again, "/var/lib/docker")] == [
        "/mnt/data/docker /var/lib/docker none bind 0 0"]


def test_the_disks_line_is_put_back_in_place_of_its_comment_byte_for_byte():
    text = "# head\n" + OLD_DISK + "\n/dev/sdb1 /mnt/data ext4 defaults 0 2\n"
    moved, changed = _fstab.set_entry(_fstab.parse(text), "/mnt/data/docker", "/var/lib/docker",
                                      disable_note=_fstab.disk_note("2026-11-28"))
    assert changed
    back, changed = _fstab.enable_disk_line(moved, "/var/lib/docker", OLD_DISK)
    assert changed and _fstab.render(back) == text
    again, changed = _fstab.enable_disk_line(back, "/var/lib/docker", OLD_DISK)
    assert not changed and _fstab.render(again) == text
    # The comment edited away: the line comes back at the end, the bind line goes.
    bare = _fstab.parse("# head\n/mnt/data/docker /var/lib/docker none bind 0 0\n")
    back, changed = _fstab.enable_disk_line(bare, "/var/lib/docker", OLD_DISK)
    assert changed and _fstab.render(back) == "# head\n" + OLD_DISK + "\n"


def test_undo_entry_takes_back_only_what_the_move_wrote():
    before = "# system\nUUID=abc / ext4 defaults 0 1\n/dev/sdb1 /var/lib/docker ext4 defaults 0 2\n"
    moved, changed = _fstab.set_entry(_fstab.parse(before), "/mnt/data/docker", "/var/lib/docker", "none", "bind",
                                      disable_note="the data root moved; see the bind line below")
    assert changed
    undone, changed = _fstab.undo_entry(moved, "/mnt/data/docker", "/var/lib/docker")
    assert changed and _fstab.render(undone) == before
    # An edit made since (a line added, another removed) stays as it is; only the move's own lines go back.
    edited = _fstab.render(moved).replace("# system\n", "") + "nas:/srv /srv nfs defaults 0 0\n"
    undone, _changed = _fstab.undo_entry(_fstab.parse(edited), "/mnt/data/docker", "/var/lib/docker")
    assert _fstab.render(undone) == ("UUID=abc / ext4 defaults 0 1\n/dev/sdb1 /var/lib/docker ext4 defaults 0 2\n"
                                     "nas:/srv /srv nfs defaults 0 0\n")
    # A bind of another directory, and a line disabled for another path, are not the move's: kept.
    other = "/srv/x /var/lib/docker none bind 0 0\n# disabled by dockyard.migrate (n): /dev/sdc1 /srv ext4 d 0 2\n"
    kept, changed = _fstab.undo_entry(_fstab.parse(other), "/mnt/data/docker", "/var/lib/docker")
    assert not changed and _fstab.render(kept) == other


def test_undo_entry_leaves_an_earlier_moves_comment_a_comment():
    """A line an earlier move had already kept as a comment is not this move's to bring back."""
    before = ("# disabled by dockyard.migrate (an earlier move): UUID=old /var/lib/docker ext4 defaults 0 2\n"
              "/dev/sdb1 /var/lib/docker ext4 defaults 0 2\n")
    moved = _fstab.set_entry(_fstab.parse(before), "/mnt/data/docker", "/var/lib/docker", "none", "bind",
                             disable_note="this move")[0]
    edited = _fstab.render(moved) + "nas:/srv /srv nfs defaults 0 0\n"
    undone = _fstab.undo_entry(_fstab.parse(edited), "/mnt/data/docker", "/var/lib/docker", _fstab.parse(before))[0]
    assert _fstab.render(undone) == before + "nas:/srv /srv nfs defaults 0 0\n"
