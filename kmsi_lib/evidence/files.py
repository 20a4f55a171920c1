"""The evidence root's layout and the careful file handling it needs.

Names of the files and directories a root holds (the ledger's own are in
:mod:`.ledger`), an atomic JSON write, and reading a recorded run's files
once, refusing symbolic links, so that what is hashed is what is parsed.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import tempfile
import zlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from kmsi_lib.errors import EvidenceError
from kmsi_lib.jsontypes import JsonMap, JsonObject
from kmsi_lib.runbooks.contract import (
    JOURNAL_FILE,
    JOURNAL_FILES,
    JOURNAL_GZIP_FILE,
    RESULT_FILE,
    STAGING_DIR,
    JournalSummary,
)

from .hashing import sha256_bytes

__all__ = [
    "JOURNAL_GZIP_ABOVE",
    "PLAN_ONLY_CHANGE",
    "RECORD_FILE",
    "RESULT_FILE",
    "SCHEMA",
    "STAGING_DIR",
    "journal_lines",
    "journal_summary",
    "read_journal",
    "read_json",
    "read_run_files",
    "remove_tree",
    "run_dirs_on_disk",
    "symlink_on_the_way",
    "write_journal",
    "write_json",
]

SCHEMA = "kmsi-evidence/1"
RECORD_FILE = "record.json"
# A plan run needs no ticket; its evidence is filed under this pseudo change id.
PLAN_ONLY_CHANGE = "PLAN-ONLY"


#: JSON larger than this (bytes, on one line) is written without indentation: a bulk
#: change's result and record would otherwise be half spaces (``jq .`` indents it again).
INDENT_UP_TO = 256 * 1024


def write_json(path: Path, value: object) -> Path:
    """Write JSON atomically (temp file + rename) so a crash never leaves half a file.

    ``value`` is whatever :func:`json.dump` encodes; anything else is written as ``str``.
    Keys are sorted; the text is indented unless it exceeds :data:`INDENT_UP_TO` bytes.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=str)
    if len(text) <= INDENT_UP_TO:
        text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    _write_bytes(path, (text + "\n").encode("utf-8"))
    return path


def read_json(path: Path, what: str, *, missing: str | None = None) -> object:
    """The JSON value ``path`` holds, parsed; its shape is the caller's to check.

    A file that cannot be read or is not JSON is an :class:`EvidenceError` naming
    the file and ``what`` it should have held (``"{path}: unreadable {what} (...)"``);
    with ``missing``, a file that is not there says ``"{path}: {missing}"`` instead.
    """
    try:
        value: object = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        if missing is not None and isinstance(exc, FileNotFoundError):
            raise EvidenceError(f"{path}: {missing}") from exc
        raise EvidenceError(f"{path}: unreadable {what} ({exc})") from exc
    return value


#: A journal larger than this (bytes, uncompressed) is written gzip-compressed.
JOURNAL_GZIP_ABOVE = 256 * 1024


def journal_summary(entries: Sequence[JsonMap], *, file: str, sha256: str) -> JournalSummary:
    """Pure: the summary of journal ``entries`` written to ``file`` (whose sha256 is given)."""
    methods = Counter(str(e.get("method")) for e in entries)
    statuses = Counter("none" if e.get("status") is None else str(e.get("status")) for e in entries)
    times = [str(e["started_at"]) for e in entries if e.get("started_at")]
    return JournalSummary(
        file=file,
        sha256=sha256,
        entries=len(entries),
        by_method=dict(sorted(methods.items())),
        by_status=dict(sorted(statuses.items())),
        first_at=min(times, default=None),
        last_at=max(times, default=None),
    )


def _write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` whole or not at all (temp file + rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_journal(run_dir: Path, entries: Sequence[JsonMap]) -> JournalSummary:
    """Write the journal into ``run_dir`` as JSON lines and return its summary.

    Above :data:`JOURNAL_GZIP_ABOVE` bytes it goes to :data:`JOURNAL_GZIP_FILE`
    (gzip, no timestamp in the header, so the same entries give the same bytes), else
    to :data:`JOURNAL_FILE`; the other name is removed, so a run has one journal file.
    """
    text = "".join(
        json.dumps(e, sort_keys=True, ensure_ascii=False, default=str) + "\n" for e in entries
    )
    data = text.encode("utf-8")
    name = JOURNAL_FILE
    if len(data) > JOURNAL_GZIP_ABOVE:
        name, data = JOURNAL_GZIP_FILE, gzip.compress(data, compresslevel=6, mtime=0)
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_bytes(run_dir / name, data)
    for other in JOURNAL_FILES:
        if other != name:
            (run_dir / other).unlink(missing_ok=True)
    return journal_summary(entries, file=name, sha256=sha256_bytes(data))


def journal_lines(name: str, data: bytes) -> bytes:
    """The JSON lines a journal file holds: ``data`` itself, or decompressed for ``.gz``.

    A ``.gz`` file that does not decompress raises :class:`EvidenceError`.
    """
    if not name.endswith(".gz"):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise EvidenceError(f"{name}: not a gzip file ({exc})") from None


def read_journal(run_dir: Path, journal: object) -> list[JsonObject]:
    """The journal entries of a run: ``journal`` is ``result.json``'s or ``record.json``'s
    ``journal`` (a summary naming the file in ``run_dir``, or, in evidence written before
    the journal had a file, the entries themselves).

    The file must be one of :data:`JOURNAL_FILES`, have the summary's sha256 and hold
    as many entries as it says; otherwise :class:`EvidenceError`.
    """
    if journal is None:
        return []
    if isinstance(journal, list):
        return [dict(e) for e in journal if isinstance(e, dict)]
    summary = (
        journal if isinstance(journal, JournalSummary) else JournalSummary.model_validate(journal)
    )
    if summary.file not in JOURNAL_FILES:
        raise EvidenceError(f"the journal is named {summary.file!r}, not one of {JOURNAL_FILES}")
    path = run_dir / summary.file
    if path.is_symlink() or not path.is_file():
        raise EvidenceError(f"{summary.file}: missing (the record names it)")
    data = path.read_bytes()
    if sha256_bytes(data) != summary.sha256:
        raise EvidenceError(f"{summary.file}: sha256 differs from the record's journal summary")
    entries: list[JsonObject] = []
    for number, line in enumerate(journal_lines(summary.file, data).splitlines(), 1):
        try:
            entry = json.loads(line)
        except ValueError:
            raise EvidenceError(f"{summary.file}: line {number} is not JSON") from None
        if not isinstance(entry, dict):
            raise EvidenceError(f"{summary.file}: line {number} is not an object")
        entries.append(entry)
    if len(entries) != summary.entries:
        raise EvidenceError(
            f"{summary.file}: {len(entries)} entries, the record's summary says {summary.entries}"
        )
    return entries


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
