"""The ``--state FILE`` of ``kmsi sandbox``: atomic saves that leave no temp file behind.

A save writes the whole snapshot to ``.sandbox-state-<pid>-<random>.json`` next to
FILE and renames it over FILE, so FILE is always a complete snapshot. A process
killed with SIGKILL between the two steps cannot remove its temp file itself, so:

* the snapshot is encoded before the temp file is created, which keeps the
  window to one write, an fsync and the rename;
* :class:`TempFileGuard` is a tiny helper process that waits for its parent to
  die (its stdin pipe reaches end-of-file however the parent ends) and then
  removes the parent's temp files;
* :func:`remove_stale_temp_files` runs at start and removes those of dead
  processes, in case the guard was killed too (``kill -9`` of both).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import subprocess
import sys
import time

from ._state import OrgState

TEMP_PREFIX = ".sandbox-state-"
_OURS = re.compile(r"\.sandbox-state-(\d+)-[0-9a-f]+\.json")
# mkstemp names written by versions before the pid was part of the name
_PIDLESS = re.compile(r"\.sandbox-state-[a-z0-9_]{8}\.json")
_PIDLESS_MIN_AGE_S = 60.0  # a live writer of that era finished long before this

# Runs with ``python -I -c``: stdlib only, no kmsi_lib import (a fast, small process).
_GUARD = """\
import os, sys
directory, prefix = sys.argv[1], sys.argv[2]
while os.read(0, 4096):
    pass
try:
    names = os.listdir(directory)
except OSError:
    names = []
for name in names:
    if name.startswith(prefix) and name.endswith(".json"):
        try:
            os.unlink(os.path.join(directory, name))
        except OSError:
            pass
"""


def load_state(path: str) -> OrgState | None:
    """The org saved in ``path``, or None when there is no such file (ValueError if broken)."""
    if not os.path.exists(path):
        return None
    state = OrgState()
    with open(path, encoding="utf-8") as fh:
        state.load(json.load(fh))
    return state


def _temp_prefix(pid: int) -> str:
    return f"{TEMP_PREFIX}{pid}-"


def save_atomically(state: OrgState, path: str) -> None:
    """Write the snapshot to ``path`` so that a crash never leaves half a file."""
    data = json.dumps(state.snapshot(), separators=(",", ":")).encode("utf-8")
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f"{_temp_prefix(os.getpid())}{secrets.token_hex(4)}.json")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def remove_stale_temp_files(directory: str) -> list[str]:
    """Remove temp files left in ``directory`` by killed sandboxes; returns their names.

    Temp files of live processes (another sandbox saving into the same folder) stay.
    """
    if os.name == "nt":
        return []  # os.kill(pid, 0) would terminate the process there, not probe it
    removed: list[str] = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        full = os.path.join(directory, name)
        ours = _OURS.fullmatch(name)
        try:
            if ours is not None:
                stale = not _alive(int(ours.group(1)))
            elif _PIDLESS.fullmatch(name):
                stale = time.time() - os.path.getmtime(full) > _PIDLESS_MIN_AGE_S
            else:
                continue
            if stale:
                os.unlink(full)
                removed.append(name)
        except OSError:
            continue  # gone already, or not ours to remove
    return removed


class TempFileGuard:
    """A helper process that removes this process's temp files once it has ended.

    The guard holds the read end of a pipe whose write end only this process
    has; when this process ends in any way, SIGKILL included, the guard reads
    end-of-file, removes ``.sandbox-state-<pid>-*.json`` in ``directory`` and
    exits. It runs in its own session so that Ctrl-C in a terminal (or a signal
    to the process group) does not end it before its parent.
    """

    def __init__(self, directory: str) -> None:
        self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(  # noqa: S603 (our own code)
            [sys.executable, "-I", "-c", _GUARD, directory, _temp_prefix(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def close(self) -> None:
        """End the guard now (it removes any temp file this process left, then exits)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
