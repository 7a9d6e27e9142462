# -*- coding: utf-8 -*-
# Copyright (c) dockyard.migrate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What data_root asks of the managed host, as one interface.  Internal to dockyard.migrate.

``Host`` states the contract; _systemd.Systemd implements it on a real host,
and the unit tests' FakeHost implements it without one.  The run context
(_run.Run) carries one, and the relocation's parts reach Docker's units, the
commands they run, the configuration files they put back and the mount table
through it.  Still reached directly, not through it: the copy passes (_copy,
_passes), the journal and the lock files, the files the switches write
(_fileops), directory renames and the Docker Engine API client.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import abc


class Host(abc.ABC):
    """Docker's units and the host's state as data_root reads and changes them.  ``stop_timeout`` is the time
    a stop (and a wait for nothing to be mounted under a root) may take, in seconds."""

    stop_timeout = 120

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
    def started_since(self, when, unit="docker.service"):
        """Whether UNIT's main process started in this boot after WHEN (a time.time() value)."""

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
