"""The evidence root's layout and the careful file handling it needs.

Names of the files and directories a root holds (the ledger's own are in
:mod:`.ledger`), an atomic JSON write, and reading a recorded run's files
once, refusing symbolic links, so that what is hashed is what is parsed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from kmsi_lib.errors import EvidenceError
from kmsi_lib.runbooks.contract import RESULT_FILE

from .hashing import sha256_bytes

__all__ = [
    "PLAN_ONLY_CHANGE",
    "RECORD_FILE",
    "RESULT_FILE",
    "SCHEMA",
    "STAGING_DIR",
    "read_run_files",
    "remove_tree",
    "run_dirs_on_disk",
    "symlink_on_the_way",
    "write_json",
]

SCHEMA = "kmsi-evidence/1"
RECORD_FILE = "record.json"
STAGING_DIR = ".staging"
# A plan run needs no ticket; its evidence is filed under this pseudo change id.
PLAN_ONLY_CHANGE = "PLAN-ONLY"


def write_json(path: Path, value: object) -> Path:
    """Write JSON atomically (temp file + rename) so a crash never leaves half a file.

    ``value`` is whatever :func:`json.dump` encodes; anything else is written as ``str``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(value, fh, indent=2, sort_keys=True, ensure_ascii=False, default=str)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def symlink_on_the_way(root: Path, given: Path) -> Path | None:
    """The first symbolic link on ``given``'s path below ``root``, as written.

    A path that is not written below ``root`` is judged by where it resolves to.
    """
    lexical = Path(os.path.abspath(given))
    for base in (Path(os.path.abspath(root)), Path(root).resolve()):
        try:
            parts = lexical.relative_to(base).parts
        except ValueError:
            continue
        here = base
        for part in parts:
            here = here / part
            if here.is_symlink():
                return here
        return None
    return None


def read_run_files(run_dir: Path, rel: str) -> tuple[dict[str, str], dict[str, bytes]]:
    """sha256 of every file of a run, and the bytes of its JSON files (read once, no links)."""
    digests: dict[str, str] = {}
    contents: dict[str, bytes] = {}
    for here, dirs, names in os.walk(run_dir, followlinks=False):
        for name in sorted(dirs + names):
            path = Path(here) / name
            if path.is_symlink():
                raise EvidenceError(
                    f"{rel}/{path.relative_to(run_dir).as_posix()} is a "
                    "symbolic link: a run's files are never links"
                )
        for name in names:
            path = Path(here) / name
            data = path.read_bytes()
            key = path.relative_to(run_dir).as_posix()
            digests[key] = sha256_bytes(data)
            if key.endswith(".json"):
                contents[key] = data
    return digests, contents


def run_dirs_on_disk(root: Path) -> set[str]:
    """``change/run`` directories present under root (staging and dot-dirs excluded)."""
    found: set[str] = set()
    if not root.is_dir():
        return found
    for change in root.iterdir():
        if not change.is_dir() or change.name.startswith("."):
            continue
        for run in change.iterdir():
            found.add(f"{change.name}/{run.name}")
    return found


def remove_tree(path: Path) -> None:
    """Delete a run directory (quarantine); missing is fine."""
    shutil.rmtree(path, ignore_errors=True)
