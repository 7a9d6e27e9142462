# -*- coding: utf-8 -*-
"""Observed, not read: what the collection's code does while the unit tests run it.

An audit hook (PEP 578, installed once for the whole unit suite by tests/unit/conftest.py) sees every file opened
for writing (``open`` with a writing mode, ``os.open`` with writing flags, whatever the call's spelling:
``Path.open``, ``gzip.GzipFile``, ``shutil.copyfile``, ``tarfile``'s extraction...), every rename
(``os.rename``/``os.replace``) and every process started (``subprocess.Popen``, with its argv after ``shell=True``
has been turned into ``/bin/sh -c``).  Each event is charged to the innermost frame of the collection's own code
(plugins/) on the stack; events with none (the tests' own set-up, Python's libraries on their own) are not ours.
A write or rename is allowed only in a function named in WRITERS or RENAMERS, with the reason; a process whose argv
runs a shell is never allowed."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLUGINS = os.path.join(ROOT, "plugins")

# (file, function) -> why writing a file there is safe.  Per function, not per file: a new writer beside an
# allowed one is caught.
WRITERS = {
    ("_fileops.py", "atomic_write"): "the atomic writer itself (temporary file, fsync, rename)",
    ("_archive.py", "HashingWriter.__init__"):
        "an archive written to a temporary file renamed into place when complete",
    ("_image_archive.py", "write_stream"): "an archive streamed to a temporary file, renamed into place",
    ("_download.py", "download"): "a download into a fresh temporary directory",
    ("_lock.py", "acquire"): "the lock file (os.open, O_NOFOLLOW, in a private directory)",
    ("_lock.py", "note_window"): "the window note beside the lock (temporary file renamed)",
    ("_fsinfo.py", "_probe_d_type"): "an empty probe file in its own temporary directory (the d_type test)",
    ("_layer_filter.py", "Filter.__init__"): "/dev/null, to discard the layers a destination already has",
    ("_layer_filter.py", "Filter.write"): "the filtered stream, to the descriptor it was given (a pipe), no file",
    ("_layer_filter.py", "Filter.move"): "the filtered stream, to the descriptor it was given (a pipe), no file",
    ("_layer_store.py", "Writer.write"): "the archive stream, to standard output (the SSH channel), no file",
    ("_store_images.py", "nameless"): "an image archive stream, to the pipe it was given (into docker load), no file",
    ("_store_images.py", "ImageSteps.import_into_containerd"): "the image stream, to ctr's standard input (a pipe)",
    ("_store_images.py", "ImageSteps.export_from_containerd"):
        "ctr's messages, to an anonymous temporary file (tempfile.TemporaryFile: unnamed, gone when closed)",
    ("_vfs_layer.py", "build"): "the list of paths for rsync (a temporary file removed when closed)",
}
# (file, function) -> why renaming there is safe.
RENAMERS = {
    ("_fileops.py", "atomic_write"): "the atomic writer's rename into place",
    ("_image_archive.py", "write_stream"): "a complete archive renamed into place",
    ("_lock.py", "note_window"): "the window note renamed into place",
    ("_switch.py", "put_back"): "the original data root put back (a directory on its own filesystem)",
    ("_switch.py", "set_aside_again"): "the original data root set aside again",
    ("_switch.py", "set_aside_hidden"): "the entries of an original left under the bind moved into its backup",
    ("_switches.py", "BindSwitch.apply"): "the original data root set aside under the bind",
    ("_switches.py", "BindSwitch.undo"): "the original data root put back",
    ("_switches.py", "DaemonJsonSwitch.set_aside"): "the original data root set aside",
    ("_local.py", "Files.rename"): "the host's rename (_host.Host): it does what its caller asks, and the caller is "
                                   "the one checked (its host.rename call, and the frame that made it)",
}
# The host's own methods (_local.Files) do what their callers ask: the audit names the caller, not them.
SEAM = {"_local.py"}
# (file, function) -> why removing files or directories there is safe: every removal of data is one of these.
REMOVERS = {
    ("_fileops.py", "atomic_write"): "its own temporary file, when the write fails",
    ("_fileops.py", "remove_tree"): "a kept original, only after the checks of phase source or of state=cleaned",
    ("_image_archive.py", "write_stream"): "its own temporary file, when the stream fails",
    ("_download.py", "download"): "a partial download's own side file",
    ("_journal.py", "Journal.discard"): "the marker of a run that rolled back and could not record it",
    ("_lock.py", "clear_window"): "the window note, once the units it names are unmasked",
    ("_fsinfo.py", "_probe_d_type"): "its probe file and temporary directory",
    ("_snapshot.py", "snapshot"): "its own temporary directory",
    ("_systemd.py", "Systemd.restore_file"): "a file the run created (a drop-in), put back to not existing",
    ("_switch.py", "drop_empty"): "an empty stand-in directory (os.rmdir fails on anything else)",
    ("_systemd.py", "Systemd.view_beneath"): "its own empty mount point, once the view is unmounted",
    ("_vfs_layer.py", "build"): "a path of the new container's own layer where a whiteout goes (a fresh layer has "
                                "none), and its temporary list of paths",
    ("_vfs_layer.py", "check"): "its own empty mount point, once the check's overlay is unmounted",
    ("_vfs_layer.py", "overlay_works"): "its own probe directory",
    ("_vfs_layer.py", "sweep"): "the check's mount points and the probe's directories a killed run left, once "
                                "unmounted (only names of its own prefixes)",
}
SHELLS = {"sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "busybox"}
# Wrappers that run a later word of their argv as a command.
WRAPPERS = {"env", "nice", "ionice", "timeout", "nohup", "setsid", "stdbuf", "chroot", "sudo", "doas", "su", "runuser",
            "nsenter", "flock", "xargs", "unshare", "setpriv", "systemd-run", "chrt", "taskset", "numactl", "time"}
# Shell options that take the next word as their value.
VALUED = {"-o", "+o", "-O", "+O", "--rcfile", "--init-file"}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def shell_command(argv):
    """Why ``argv`` runs a command through a shell, or None: a shell (behind wrappers such as env or nice) given
    -c in any option cluster, however many options come first (``bash -o pipefail -c``, ``bash --norc -c``); or
    one word holding a whole command line (``"rsync -a src dst"``, which only a shell would split)."""
    words = [w.decode("utf-8", "replace") if isinstance(w, bytes) else str(w) for w in argv]
    if not words:
        return None
    if len(words) == 1 and " " in words[0].strip() and not os.path.exists(words[0]):
        return "a whole command line as one word: %r" % words[0]
    i = 0
    if os.path.basename(words[0]) in WRAPPERS:
        if os.path.basename(words[0]) in ("su", "runuser") and "-c" in words:
            return "%s -c runs its command through the user's shell" % words[0]
        # Whatever options and values the wrappers take, the shell is the first word that names one.
        i = next((k for k, w in enumerate(words) if os.path.basename(w) in SHELLS), len(words))
    if i >= len(words) or os.path.basename(words[i]) not in SHELLS:
        return None
    shell = words[i]
    j = i + 1
    if os.path.basename(shell) == "busybox" and j < len(words) and words[j] in SHELLS:
        j += 1
    while j < len(words):
        word = words[j]
        if word[:1] in "-+" and not word.startswith("--") and len(word) > 1 and ("c" in word[1:] or "s" in word[1:]):
            return "%s runs %s %s" % (" ".join(words[:i + 1]), word, " ".join(words[j + 1:j + 2]))
        if word in VALUED or (word[:1] in "-+" and not word.startswith("--") and word[-1:] in "oO" and len(word) > 2):
            j += 2  # -o pipefail, and a cluster ending in o (-eo pipefail)
            continue
        if word == "--" or not word[:1] in "-+" or len(word) == 1 or word in ("--version", "--help"):
            return None  # a script file, or a shell that only prints its version or help
        j += 1
    return "%s reads its commands from standard input" % " ".join(words[:i + 1])


# The audit events this audit is about, and what each does: write a file or rename one.
EVENT_KIND = {"open": "write", "shutil.copyfile": "write", "os.link": "write", "os.symlink": "write",
              "os.truncate": "write", "os.rename": "rename", "os.replace": "rename", "shutil.move": "rename",
              "os.remove": "remove", "os.rmdir": "remove", "shutil.rmtree": "remove"}


def writes(event, args):
    """The path an event of EVENT_KIND writes (or renames to), or None."""
    if event in ("os.remove", "os.rmdir", "shutil.rmtree", "os.truncate"):
        return args[0]
    if event != "open":
        return args[1]
    path, mode, flags = args
    if isinstance(path, int) or path == os.devnull:
        return None  # a descriptor already open (its opening was seen), or a write that keeps nothing
    if mode is not None:
        return path if any(c in mode for c in "wax+") else None
    return path if flags is not None and flags & WRITE_FLAGS else None


class Auditor:
    """Collects what the collection's code (files under ``roots``) does while it is watched.  ``violations``:
    [(kind, "file:function", detail)]."""

    def __init__(self, roots=(PLUGINS,), writers=None, renamers=None, removers=None):
        self.roots = tuple(os.path.realpath(r) + os.sep for r in roots)
        self.allowed = {"write": WRITERS if writers is None else writers,
                        "rename": RENAMERS if renamers is None else renamers,
                        "remove": REMOVERS if removers is None else removers}
        self.violations = []
        self.seen = []
        self._ours = {}

    def ours(self, filename):
        known = self._ours.get(filename)
        if known is None:
            known = self._ours[filename] = os.path.realpath(filename).startswith(self.roots)
        return known

    def owner(self, frame):
        """(file, qualified function name) of the innermost frame of our code, or None."""
        while frame is not None:
            code = frame.f_code
            if self.ours(code.co_filename) and os.path.basename(code.co_filename) not in SEAM:
                return os.path.basename(code.co_filename), getattr(code, "co_qualname", code.co_name)
            frame = frame.f_back
        return None

    def __call__(self, event, args, frame):
        if event == "subprocess.Popen":
            who = self.owner(frame)
            if who is None:
                return
            executable, argv = args[0], args[1]
            argv = list(argv) if isinstance(argv, (list, tuple)) else [argv]
            self.seen.append(("process", who, argv))
            # An executable given apart runs in argv[0]'s place: Popen(["x", "-c", cmd], executable="/bin/bash").
            why = shell_command(argv) or (shell_command([executable] + argv[1:]) if executable not in (None, argv[0])
                                          else None)
            if why:
                self.violations.append(("shell", "%s:%s" % who, why))
            return
        kind = EVENT_KIND.get(event)
        if kind is None:
            return
        path = writes(event, args)
        if path is None:
            return
        who = self.owner(frame)
        if who is None:
            return
        self.seen.append((kind, who, path))
        if who not in self.allowed[kind]:
            self.violations.append((kind, "%s:%s" % who, "%s %s" % (event, path)))


_ACTIVE = []


def _hook(event, args):
    if not _ACTIVE or event not in _EVENTS:
        return
    frame = sys._getframe(1)
    for auditor in list(_ACTIVE):
        auditor(event, args, frame)


_EVENTS = set(EVENT_KIND) | {"subprocess.Popen"}
_INSTALLED = []


def install():
    """Install the one audit hook of this process (audit hooks cannot be removed; later calls do nothing)."""
    if not _INSTALLED:
        sys.addaudithook(_hook)
        _INSTALLED.append(True)


class watching:
    """``with watching(auditor):`` the auditor sees every event until the block ends."""

    def __init__(self, auditor):
        self.auditor = auditor

    def __enter__(self):
        install()
        _ACTIVE.append(self.auditor)
        return self.auditor

    def __exit__(self, *exc):
        _ACTIVE.remove(self.auditor)
        return False
