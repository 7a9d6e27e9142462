# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What data_root asks of the managed host, as one interface.  Internal to dockyard.migrate.

``Host`` states the contract; _local.Local implements its files, clock, lock,
copies and measures on a real host, _systemd.Systemd adds Docker's units to it,
and the unit tests' FakeHost implements it without touching the host's units.
The run context (_run.Run) carries one, and every side effect of the relocation
(data_root's states moved, restored and cleaned) goes through it: the commands
run, the files read, written, renamed and removed, the directories made, the
mounts, the mount table, Docker's units, the lock and the note beside it, the
copies and their flushes, the clock.  The Docker Engine API is the other
object the run context is given (_docker_api.DockerClient, or a test's own).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import abc


class Host(abc.ABC):
    """Docker's units and the host's state as data_root reads and changes them.  ``stop_timeout`` is the time
    a stop (and a wait for nothing to be mounted under a root) may take, in seconds."""

    stop_timeout = 120
    # The names of the methods called that change the host (files, directories, copies, mounts, Docker's units,
    # commands run), in order; a run whose host has none changed nothing on it.
    changes = ()
    # The fstab the host's boot mounts from (systemd's fstab generator reads it); None when any file will do.
    boot_fstab = "/etc/fstab"

    # ------------------------------------------------------------ commands and files
    @abc.abstractmethod
    def run(self, argv, what=None):
        """Run ARGV (a list, never through a shell); its standard output, or a RelocationError naming WHAT."""

    @abc.abstractmethod
    def restore_file(self, path, text, keep_empty=False):
        """Put a configuration file back as TEXT (empty: it did not exist, removed unless KEEP_EMPTY)."""

    @abc.abstractmethod
    def mountinfo(self):
        """The mount table now (a list of _mountinfo entries)."""

    # ------------------------------------------------------------ Docker's units
    @abc.abstractmethod
    def unit_exists(self, unit):
        """Whether systemd knows UNIT."""

    @abc.abstractmethod
    def docker_units(self):
        """Docker's units present on the host, socket first."""

    @abc.abstractmethod
    def window_units(self, with_containerd=False):
        """The units held masked while Docker's data is moved (containerd's too when its root moves)."""

    @abc.abstractmethod
    def masked(self, unit):
        """Whether UNIT is masked until the next boot."""

    @abc.abstractmethod
    def mask(self, units):
        """Mask UNITS until the next boot; returns those masked."""

    @abc.abstractmethod
    def unmask(self, units):
        """Lift the runtime masks of UNITS."""

    @abc.abstractmethod
    def stop_docker(self, with_containerd=False):
        """Stop Docker (its socket first), and containerd when asked."""

    @abc.abstractmethod
    def check_stopped(self, units, timeout, proc="/proc"):
        """Raise unless UNITS are inactive and no Docker daemon or shim runs, waiting up to TIMEOUT."""

    @abc.abstractmethod
    def start_docker(self, with_containerd=False):
        """Start Docker (and containerd when asked)."""

    @abc.abstractmethod
    def started_since(self, when, unit="docker.service", boot_id=None):
        """Whether UNIT's main process started after WHEN (a time.time() value), written in the boot BOOT_ID: in
        another boot than this one, any start in this boot is after it."""

    @abc.abstractmethod
    def wait_docker(self, timeout):
        """Whether the Engine API answers within TIMEOUT seconds."""

    @abc.abstractmethod
    def wait_quiet(self, root, timeout):
        """Wait until nothing is mounted under ROOT; the mount points left at TIMEOUT."""

    @abc.abstractmethod
    def view_beneath(self, path):
        """A context manager: a directory that shows PATH as the filesystem holding its parent has it, beneath
        whatever is mounted at PATH (a private bind of that filesystem, removed when the block ends)."""

    @abc.abstractmethod
    def drop_self_bind(self, root):
        """Unmount a bind of ROOT onto itself (Docker's own, left behind)."""

    @abc.abstractmethod
    def daemon_reload(self):
        """Have systemd read its units again."""

    @abc.abstractmethod
    def write_dropin(self, service, text):
        """Tie SERVICE to its root with the drop-in TEXT."""

    @abc.abstractmethod
    def dropin(self, service):
        """The text of SERVICE's drop-in as it is now ("" when there is none)."""

    @abc.abstractmethod
    def write_sentinel(self, target):
        """Mark TARGET as a moved root: the file the drop-in asserts (_systemd.SENTINEL_NAME)."""

    # ------------------------------------------------------------ mounts and labels
    @abc.abstractmethod
    def bind_mount(self, src, path):
        """Bind-mount SRC on PATH (made when missing)."""

    @abc.abstractmethod
    def label_like(self, old, new):
        """Give NEW the SELinux file context of OLD (nothing when SELinux is off)."""

    @abc.abstractmethod
    def unlabel(self, old, new):
        """Drop the SELinux equivalence label_like declared."""

    @abc.abstractmethod
    def gather(self, daemon_json_path, fstab_path):
        """What the host says about Docker (_facts.gather, without sizes or inventory): engine, configuration,
        filesystems, containerd's image store."""

    # ------------------------------------------------------------ files and directories
    @abc.abstractmethod
    def exists(self, path):
        """Whether PATH exists (following links)."""

    @abc.abstractmethod
    def lexists(self, path):
        """Whether PATH exists (a dangling link too)."""

    @abc.abstractmethod
    def isdir(self, path):
        """Whether PATH is a directory (following links)."""

    @abc.abstractmethod
    def islink(self, path):
        """Whether PATH is a symbolic link."""

    @abc.abstractmethod
    def listdir(self, path):
        """The names in directory PATH."""

    @abc.abstractmethod
    def stat(self, path):
        """os.stat of PATH."""

    @abc.abstractmethod
    def lstat(self, path):
        """os.lstat of PATH."""

    @abc.abstractmethod
    def realpath(self, path):
        """PATH with every link resolved."""

    @abc.abstractmethod
    def samefile(self, a, b):
        """Whether A and B are the same file."""

    @abc.abstractmethod
    def which(self, name):
        """The path of program NAME (the sbin directories searched too), or None."""

    @abc.abstractmethod
    def read_text(self, path, default=None):
        """PATH's content as text; DEFAULT when it does not exist (None: the error is raised)."""

    @abc.abstractmethod
    def write_file(self, path, data, mode=0o644, config=False):
        """Write DATA to PATH atomically (_fileops.atomic_write); a CONFIG file (fstab, daemon.json) is put in
        place by the host's mover when it has one (AnsibleModule.atomic_move, which keeps its SELinux context)."""

    @abc.abstractmethod
    def backup_file(self, path, stamp=None):
        """Copy PATH beside itself as PATH.dockyard-STAMP; its path, or None when PATH does not exist."""

    @abc.abstractmethod
    def fsync_dir(self, path):
        """Make the entries of directory PATH durable."""

    @abc.abstractmethod
    def sync(self, paths, timeout=60):
        """Write what the filesystems of PATHS hold in memory to their disks (syncfs(2)), waiting TIMEOUT seconds
        at most: None when done, else why not."""

    @abc.abstractmethod
    def rename(self, src, dst):
        """Rename SRC to DST (one filesystem)."""

    @abc.abstractmethod
    def mkdir(self, path, mode=0o777):
        """Make directory PATH."""

    @abc.abstractmethod
    def makedirs(self, path, mode=0o777):
        """Make directory PATH and its missing parents."""

    @abc.abstractmethod
    def rmdir(self, path):
        """Remove the empty directory PATH."""

    @abc.abstractmethod
    def unlink(self, path):
        """Remove the file PATH."""

    @abc.abstractmethod
    def chmod(self, path, mode):
        """Set PATH's mode."""

    @abc.abstractmethod
    def chown(self, path, uid, gid):
        """Set PATH's owner."""

    @abc.abstractmethod
    def remove_tree(self, path, after_first=None):
        """Remove the tree PATH entry by entry; AFTER_FIRST is called once the first entry is gone."""

    # ------------------------------------------------------------ what a root holds, copies
    @abc.abstractmethod
    def measure(self, path):
        """The allocated size of the tree PATH (a _layout.Usage)."""

    @abc.abstractmethod
    def settled_layers(self, root):
        """The overlay2 layers of ROOT that no container writes to (_layout.settled_layers)."""

    @abc.abstractmethod
    def filesystem(self, path, entries=None, verdict=False):
        """The filesystem holding PATH (_fsinfo.describe, with ENTRIES the mount table); with VERDICT also
        whether overlay2 can live there (_fsinfo.filesystem_facts)."""

    @abc.abstractmethod
    def tar_copy(self, src, dst, **kwargs):
        """A first copy into an empty directory through a tar pipe (_copy.tar_copy); its statistics."""

    @abc.abstractmethod
    def rsync(self, src, dst, **kwargs):
        """One rsync pass (_copy.rsync); its statistics."""

    @abc.abstractmethod
    def differences(self, src, dst, exclude=()):
        """The entries in which DST is not an exact copy of SRC (_copy.differences); a _copy.CopyError when that
        cannot be told."""

    @abc.abstractmethod
    def flush(self, path):
        """Write the dirty pages of PATH's filesystem to disk; the seconds it took."""

    @abc.abstractmethod
    def is_empty_dir(self, path):
        """Whether PATH is an empty directory (or cannot be read)."""

    @abc.abstractmethod
    def blkid(self, argv):
        """blkid's words for ARGV ([] when it finds nothing)."""

    @abc.abstractmethod
    def device_number(self, device):
        """MAJOR:MINOR of the block device node DEVICE ("" when it is none)."""

    # ------------------------------------------------------------ the lock, the clock
    @abc.abstractmethod
    def lock(self, check_mode=False):
        """Take the host-wide lock that keeps two moves apart; the open lock, to be closed when the run ends."""

    @abc.abstractmethod
    def note_window(self, marker, units):
        """Record beside the lock that the move journalled in MARKER holds UNITS masked for this boot."""

    @abc.abstractmethod
    def window_note(self):
        """The note of a move that holds Docker's units masked, or None."""

    @abc.abstractmethod
    def clear_window(self):
        """Remove that note."""

    @abc.abstractmethod
    def boot_id(self):
        """This boot's id ("" when it cannot be read)."""

    @abc.abstractmethod
    def time(self):
        """The wall clock (seconds since the epoch)."""

    @abc.abstractmethod
    def sleep(self, seconds):
        """Wait SECONDS."""
