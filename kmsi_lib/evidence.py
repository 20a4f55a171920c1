"""Evidence of runbook runs: the run record, the ledger (a hash chain) and the secret scan.

Layout under an evidence root (``evidence/`` by default)::

    evidence/
      ledger.jsonl                 append-only, one JSON object per line, hash-chained
      ledger.anchor                {seq, hash} of the ledger's head, moved by each append
      <change-id>/<run-id>/        one directory per run
        notebook.ipynb             the executed notebook
        notebook.html              its HTML export, readable without Jupyter
        result.json                what the notebook reported (written by the runbook)
        record.json                the run record assembled by the runner
        approved-plan.json         (apply with --approved-plan only) the plan that was approved
      .staging/<run-id>/           a run in progress; ignored by ``verify``

Each ledger line is ``{seq, run_id, change_id, path, kind, time, notebook, mode,
outcome, record_sha256, files: {name: sha256}, prev_hash, hash}`` where
``hash = sha256(prev_hash + canonical_json(entry without "hash"))``. Editing,
removing, adding or reordering a line or any file of a recorded run is reported
by :func:`verify`. A run whose files contained a secret is deleted and
recorded as ``kind: "quarantined"`` (no files, no secret).

``ledger.anchor`` names the head the ledger had after the last append. A
ledger that no longer holds that entry at that position was rewritten (or cut
short): :func:`verify` reports it, :func:`append_ledger` then leaves the
anchor where it was, and evidence is consumed (:func:`verified_run`) only from
a ledger that extends its anchor.

The functions here are pure over paths and dicts; only :func:`main` prints.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import hashlib
import html
import json
import os
import re
import shutil
import sys
import tempfile
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from kmsi_lib import _protocol, secret_shapes
from kmsi_lib.errors import EvidenceError

__all__ = [
    "ANCHOR_FILE",
    "GENESIS_HASH",
    "KEY_FILE_ENV",
    "LEDGER_FILE",
    "PLAN_ONLY_CHANGE",
    "RECORD_FILE",
    "RESULT_FILE",
    "SCHEMA",
    "SHAPE_KINDS",
    "STAGING_DIR",
    "Problem",
    "RecordedRun",
    "RunMeta",
    "SecretHit",
    "VerifiedRun",
    "VerifyReport",
    "anchor_ledger",
    "append_ledger",
    "canonical_json",
    "check_ledger",
    "describe_hits",
    "entry_hash",
    "file_digests",
    "find_run",
    "format_table",
    "known_secrets",
    "load_record",
    "main",
    "read_anchor",
    "read_ledger",
    "read_result",
    "record_run",
    "remove_tree",
    "scan_for_secrets",
    "scan_for_shapes",
    "secret_forms",
    "sha256_bytes",
    "sha256_file",
    "verification_passed",
    "verified_run",
    "verify",
    "write_json",
    "write_result",
]

SCHEMA = "kmsi-evidence/1"
LEDGER_FILE = "ledger.jsonl"
ANCHOR_FILE = "ledger.anchor"
LOCK_FILE = ".ledger.lock"
RECORD_FILE = "record.json"
RESULT_FILE = "result.json"
STAGING_DIR = ".staging"
# A plan run needs no ticket; its evidence is filed under this pseudo change id.
PLAN_ONLY_CHANGE = "PLAN-ONLY"
GENESIS_HASH = "0" * 64

# Shortest value treated as a secret: below this, matches would be noise, and no
# credential Okta issues is that short.
MIN_SECRET_LENGTH = 8


# ---------------------------------------------------------------- hashing


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: the form every hash is taken over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def file_digests(run_dir: Path, *, exclude: Iterable[str] = ()) -> dict[str, str]:
    """sha256 of every regular file under ``run_dir`` (relative POSIX names, sorted)."""
    skip = set(exclude)
    out: dict[str, str] = {}
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file()):
        name = path.relative_to(run_dir).as_posix()
        if name not in skip:
            out[name] = sha256_file(path)
    return out


def entry_hash(prev_hash: str, entry: Mapping[str, Any]) -> str:
    """The chain link: sha256 over the previous hash and this entry (minus its own hash)."""
    body = {k: v for k, v in entry.items() if k != "hash"}
    return sha256_bytes((prev_hash + canonical_json(body)).encode("utf-8"))


# ---------------------------------------------------------------- result / record files


def write_json(path: Path, value: Any) -> Path:
    """Write JSON atomically (temp file + rename) so a crash never leaves half a file."""
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


def write_result(evidence_dir: str | os.PathLike[str], result: Mapping[str, Any]) -> Path:
    """Write the notebook's ``result.json`` into ``evidence_dir`` (called by the runbook).

    ``result`` has the keys of the notebook/runner contract (docs/ARCHITECTURE.md):
    procedure, mode, change_id, params, org, plan, apply_result, verification,
    journal, error, outcome.
    """
    return write_json(Path(evidence_dir) / RESULT_FILE, dict(result))


def read_result(run_dir: Path) -> dict[str, Any] | None:
    """The notebook's result.json, or None when the notebook never wrote one."""
    path = run_dir / RESULT_FILE
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EvidenceError(f"{path}: unreadable result.json ({exc})") from exc
    if not isinstance(value, dict):
        raise EvidenceError(f"{path}: result.json is not a JSON object")
    return value


def load_record(path: Path) -> tuple[Path, dict[str, Any]]:
    """Load a run record from a ``record.json`` path or its run directory."""
    record_path = path / RECORD_FILE if path.is_dir() else path
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise EvidenceError(f"{record_path}: no such evidence record") from exc
    except (OSError, ValueError) as exc:
        raise EvidenceError(f"{record_path}: unreadable evidence record ({exc})") from exc
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        raise EvidenceError(f"{record_path}: not a kmsi evidence record (schema {SCHEMA})")
    return record_path, record


# ---------------------------------------------------------------- ledger


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Serialise appenders (two runs finishing together must not fork the chain)."""
    root.mkdir(parents=True, exist_ok=True)
    lock_path = root / LOCK_FILE
    with lock_path.open("a+") as fh:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no advisory lock, best effort
            yield
            return
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def read_ledger(root: Path) -> list[dict[str, Any]]:
    """Every ledger entry in file order (raises EvidenceError on a line that is not JSON)."""
    path = root / LEDGER_FILE
    if not path.exists():
        return []
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError as exc:
            raise EvidenceError(f"{path}:{number}: not JSON ({exc})") from exc
        if not isinstance(entry, dict):
            raise EvidenceError(f"{path}:{number}: not a JSON object")
        entries.append(entry)
    return entries


def append_ledger(root: Path, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Append one entry (seq, prev_hash and hash are filled in here) and return it."""
    with _locked(root):
        entries = read_ledger(root)
        # A ledger that does not extend its anchor was rewritten: appending must not
        # bless it, so the anchor stays where it was and verify keeps saying so.
        extends = not _anchor_problems(root, entries)
        prev = entries[-1] if entries else None
        entry: dict[str, Any] = {
            **fields,
            "seq": (int(prev["seq"]) + 1) if prev else 1,
            "prev_hash": str(prev["hash"]) if prev else GENESIS_HASH,
        }
        entry["hash"] = entry_hash(entry["prev_hash"], entry)
        with (root / LEDGER_FILE).open("a", encoding="utf-8") as fh:
            fh.write(canonical_json(entry) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        if extends:
            _write_anchor(root, entry)
    return entry


def find_run(root: Path, run_dir: Path) -> dict[str, Any] | None:
    """The ledger entry that recorded ``run_dir`` (None if the ledger does not list it)."""
    try:
        rel = run_dir.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None
    for entry in read_ledger(root):
        if entry.get("path") == rel and entry.get("kind") == "run":
            return entry
    return None


# ---------------------------------------------------------------- verify


@dataclasses.dataclass(frozen=True)
class Problem:
    """One thing wrong with the evidence: what kind, where, and in words."""

    kind: str  # chain | seq | hash | missing-run | missing-file | changed-file | unlisted-file
    #            | unlisted-run | record | duplicate | unreadable | anchor
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclasses.dataclass(frozen=True)
class VerifyReport:
    """The outcome of :func:`verify`: what was checked and every problem found."""

    root: Path
    entries: int
    runs: int
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def to_text(self) -> str:
        """The report for a terminal."""
        if self.ok:
            return (f"evidence intact: {self.entries} ledger entries, {self.runs} runs "
                    f"in {self.root}")
        lines = [f"evidence NOT intact ({len(self.problems)} problems) in {self.root}:"]
        lines += [f"  - [{p.kind}] {p}" for p in self.problems]
        return "\n".join(lines)


def _run_dirs_on_disk(root: Path) -> set[str]:
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


def verify(root: Path, *, expect: Sequence[str] = ()) -> VerifyReport:
    """Check the ledger chain and every recorded file against it.

    Reports a broken or reordered chain, an edited or removed ledger line, an
    edited, removed or added file in a recorded run, a run directory the ledger
    does not list, and a record.json that disagrees with its ledger entry.

    ``expect`` are ledger hashes copied elsewhere earlier (a change ticket):
    each must still be in the chain. A chain is only tamper-evident up to its
    last copied hash; someone able to rewrite the whole ledger from an edited
    line onwards is caught only this way.
    """
    root = Path(root)
    problems: list[Problem] = []
    try:
        entries = read_ledger(root)
    except EvidenceError as exc:
        return VerifyReport(root, 0, 0, (Problem("unreadable", LEDGER_FILE, str(exc)),))

    problems += _chain_problems(entries)
    listed: set[str] = set()
    runs = 0
    for index, entry in enumerate(entries, start=1):
        if entry.get("kind") != "run":
            continue
        runs += 1
        rel = str(entry.get("path", ""))
        listed.add(rel)
        problems += _verify_run(root, rel, entry, _where(index, entry))

    problems += _anchor_problems(root, entries) + _expect_problems(entries, expect)
    for rel in sorted(_run_dirs_on_disk(root) - listed):
        problems.append(
            Problem("unlisted-run", rel, "run directory is not in the ledger (added afterwards?)")
        )
    for name in _stray_root_files(root):
        problems.append(Problem("unlisted-file", name, "file is not part of any recorded run "
                                "(added afterwards?)"))
    return VerifyReport(root, len(entries), runs, tuple(problems))


def _where(index: int, entry: Mapping[str, Any]) -> str:
    return f"{LEDGER_FILE} line {index} (seq {entry.get('seq')}, run {entry.get('run_id')})"


def _chain_problems(entries: Sequence[Mapping[str, Any]]) -> list[Problem]:
    """What is wrong with the chain itself: sequence, links, hashes, a run listed twice."""
    problems: list[Problem] = []
    prev_hash = GENESIS_HASH
    listed: set[str] = set()
    for index, entry in enumerate(entries, start=1):
        where = _where(index, entry)
        if entry.get("seq") != index:
            problems.append(
                Problem("seq", where, f"sequence number should be {index}: lines removed, "
                        "inserted or reordered")
            )
        if entry.get("prev_hash") != prev_hash:
            problems.append(
                Problem("chain", where, "prev_hash does not match the previous line's hash: "
                        "the chain is broken (a line was removed, inserted or reordered)")
            )
        if entry.get("hash") != entry_hash(str(entry.get("prev_hash")), entry):
            problems.append(Problem("hash", where, "hash does not match the entry: it was edited"))
        prev_hash = str(entry.get("hash"))
        if entry.get("kind") == "run":
            rel = str(entry.get("path", ""))
            if rel in listed:
                problems.append(Problem("duplicate", where, f"run directory {rel} is listed twice"))
            listed.add(rel)
    return problems


def _expect_problems(entries: Sequence[Mapping[str, Any]], expect: Sequence[str]) -> list[Problem]:
    hashes = {str(e.get("hash")) for e in entries}
    return [
        Problem("anchor", LEDGER_FILE, f"the expected hash {pinned} is not in the ledger: it was "
                "rewritten (or this is another ledger)")
        for pinned in expect if pinned not in hashes
    ]


# ---------------------------------------------------------------- anchor


def read_anchor(root: Path) -> dict[str, Any] | None:
    """``{seq, hash}`` of the head the ledger had after its last append (None: no anchor)."""
    path = Path(root) / ANCHOR_FILE
    if not path.exists():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EvidenceError(f"{path}: unreadable anchor ({exc})") from exc
    if not isinstance(value, dict) or not isinstance(value.get("seq"), int) or not isinstance(
        value.get("hash"), str
    ):
        raise EvidenceError(f"{path}: not a ledger anchor ({{seq, hash}})")
    return value


def _write_anchor(root: Path, entry: Mapping[str, Any]) -> None:
    write_json(root / ANCHOR_FILE, {"seq": entry["seq"], "hash": entry["hash"]})


def _anchor_problems(root: Path, entries: Sequence[Mapping[str, Any]]) -> list[Problem]:
    """Does the ledger extend its anchor (hold the anchored entry at the anchored position)?"""
    try:
        anchor = read_anchor(root)
    except EvidenceError as exc:
        return [Problem("anchor", ANCHOR_FILE, str(exc))]
    if anchor is None:
        if not entries:
            return []
        return [Problem("anchor", ANCHOR_FILE, "the ledger has entries but no anchor: it was "
                        "deleted (or the root predates anchors; once `kmsi evidence verify` "
                        "shows nothing else wrong, `kmsi evidence anchor` sets it)")]
    seq, pinned = anchor["seq"], anchor["hash"]
    if seq > len(entries):
        return [Problem("anchor", ANCHOR_FILE, f"the anchor is at seq {seq} but the ledger has "
                        f"{len(entries)} lines: lines were removed from its end")]
    if seq < 1 or entries[seq - 1].get("hash") != pinned:
        return [Problem("anchor", ANCHOR_FILE, f"the ledger's line {seq} is not the anchored "
                        f"entry (hash {pinned}): the ledger was rewritten")]
    return []


def check_ledger(root: Path, *, expect: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The ledger's entries, if its chain is intact, it extends its anchor and holds ``expect``.

    Raises EvidenceError naming every problem. Only the ledger is checked here,
    not the files of each run (:func:`verify` does both).
    """
    root = Path(root)
    entries = read_ledger(root)
    problems = _chain_problems(entries) + _anchor_problems(root, entries)
    problems += _expect_problems(entries, expect)
    if problems:
        raise EvidenceError(f"the ledger {root / LEDGER_FILE} does not verify: "
                            + "; ".join(f"[{p.kind}] {p}" for p in problems))
    return entries


def anchor_ledger(root: Path) -> dict[str, Any]:
    """Anchor the ledger at its head (``kmsi evidence anchor``): for a root without an anchor.

    Refuses a broken chain. Anchoring says "I trust this ledger as it is now":
    check it with ``kmsi evidence verify`` (and any hash copied earlier) first.
    """
    root = Path(root)
    with _locked(root):
        entries = read_ledger(root)
        problems = _chain_problems(entries)
        if problems or not entries:
            raise EvidenceError(f"cannot anchor {root / LEDGER_FILE}: "
                                + ("; ".join(str(p) for p in problems) or "it is empty"))
        _write_anchor(root, entries[-1])
    return entries[-1]


# ---------------------------------------------------------------- consuming evidence


@dataclasses.dataclass(frozen=True)
class VerifiedRun:
    """A recorded run whose files were read once, hashed and found as the ledger lists them.

    ``name`` is the file the caller named (``record.json`` for a run directory);
    :meth:`json` parses a JSON file of the run from the very bytes that were hashed.
    """

    root: Path
    run_dir: Path
    rel: str
    name: str
    entry: dict[str, Any]
    position: int  # 1-based line of the entry in the ledger
    head: dict[str, Any]
    record: dict[str, Any]
    contents: Mapping[str, bytes]

    def json(self, name: str | None = None) -> Any:
        """The parsed JSON of a file of the run (default: the file the caller named)."""
        name = name or self.name
        if name not in self.contents:
            raise EvidenceError(f"{self.rel}/{name}: not a JSON file of the run")
        return _parse(self.rel, name, self.contents[name])


def _parse(rel: str, name: str, data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except ValueError as exc:
        raise EvidenceError(f"{rel}/{name}: not JSON ({exc})") from exc


def _symlink_on_the_way(root: Path, given: Path) -> Path | None:
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


def _read_run_files(run_dir: Path, rel: str) -> tuple[dict[str, str], dict[str, bytes]]:
    """sha256 of every file of a run, and the bytes of its JSON files (read once, no links)."""
    digests: dict[str, str] = {}
    contents: dict[str, bytes] = {}
    for here, dirs, names in os.walk(run_dir, followlinks=False):
        for name in sorted(dirs + names):
            path = Path(here) / name
            if path.is_symlink():
                raise EvidenceError(f"{rel}/{path.relative_to(run_dir).as_posix()} is a "
                                    "symbolic link: a run's files are never links")
        for name in names:
            path = Path(here) / name
            data = path.read_bytes()
            key = path.relative_to(run_dir).as_posix()
            digests[key] = sha256_bytes(data)
            if key.endswith(".json"):
                contents[key] = data
    return digests, contents


def verified_run(root: Path, path: Path, *, expect: Sequence[str] = ()) -> VerifiedRun:
    """Check one recorded run of ``root`` before its evidence is used; raise EvidenceError if not.

    ``path`` is a run directory ``<change>/<run>`` of ``root`` or a file in it,
    and must lie inside ``root`` itself (no symbolic link on the way; evidence
    that verifies in some other root is refused). The ledger's chain must be
    intact, extend its anchor and hold every ``expect`` hash, with the run at
    or before the last of them (the approver saw that head); the run must be
    listed; its files (no links) must be exactly those its entry lists, with
    those hashes; and its record must agree with the entry. The files are read
    once: :meth:`VerifiedRun.json` returns the bytes that were hashed.
    """
    root = Path(root)
    given = Path(path).expanduser()
    link = _symlink_on_the_way(root, given)
    if link is not None:
        raise EvidenceError(f"{link} is a symbolic link: evidence is read only from the files "
                            f"inside the evidence root {root}")
    if not given.exists():
        raise EvidenceError(f"{given}: no such file or directory")
    real, base = given.resolve(), root.resolve()
    try:
        parts = real.relative_to(base).parts
    except ValueError:
        raise EvidenceError(
            f"{given} is not in the evidence root {root}: only evidence recorded in the root "
            "this run writes to (--evidence-root) is accepted, whatever another root's ledger "
            "says") from None
    if len(parts) == 2 and real.is_dir():
        name = RECORD_FILE
    elif len(parts) == 3 and real.is_file():
        name = parts[2]
    else:
        raise EvidenceError(f"{given} is not a recorded run directory (<change>/<run>) of "
                            f"{root}, nor a file directly in one")
    rel = f"{parts[0]}/{parts[1]}"
    if parts[0].startswith("."):
        raise EvidenceError(f"{given} is a run in progress ({STAGING_DIR}), not recorded evidence")

    entries = check_ledger(root, expect=expect)
    found = [(i, e) for i, e in enumerate(entries, start=1)
             if e.get("kind") == "run" and e.get("path") == rel]
    if not found:
        raise EvidenceError(f"the run {rel} is not in the ledger {root / LEDGER_FILE} (only "
                            "recorded evidence is accepted)")
    position, entry = found[0]
    if expect:
        seen = max(i for i, e in enumerate(entries, start=1) if e.get("hash") in expect)
        if position > seen:
            raise EvidenceError(f"the run {rel} (ledger line {position}) was recorded after the "
                                f"ledger head the approver saw (--expect, line {seen})")

    run_dir = base / parts[0] / parts[1]
    digests, contents = _read_run_files(run_dir, rel)
    listed = entry.get("files") if isinstance(entry.get("files"), Mapping) else {}
    assert isinstance(listed, Mapping)
    problems = [f"{n}: removed" for n in sorted(set(listed) - set(digests))]
    problems += [f"{n}: not in the ledger (added)" for n in sorted(set(digests) - set(listed))]
    problems += [f"{n}: edited (sha256 differs from the ledger)"
                 for n in sorted(set(listed) & set(digests)) if listed[n] != digests[n]]
    if digests.get(RECORD_FILE) != entry.get("record_sha256"):
        problems.append(f"{RECORD_FILE}: sha256 differs from the ledger's record_sha256")
    if problems or RECORD_FILE not in contents:
        problems += [] if RECORD_FILE in contents else [f"{RECORD_FILE}: missing"]
        raise EvidenceError(f"the evidence of run {rel} does not verify: " + "; ".join(problems))
    record = _parse(rel, RECORD_FILE, contents[RECORD_FILE])
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        raise EvidenceError(f"{rel}/{RECORD_FILE}: not a kmsi evidence record (schema {SCHEMA})")
    if (record.get("run_id"), record.get("change_id")) != (entry.get("run_id"),
                                                           entry.get("change_id")) or (
        rel != f"{record.get('change_id')}/{record.get('run_id')}"
    ):
        raise EvidenceError(f"{rel}/{RECORD_FILE}: its run id and change id are not those of "
                            "its ledger entry and directory (a record moved between runs?)")
    if record.get("files") != {k: v for k, v in listed.items() if k != RECORD_FILE}:
        raise EvidenceError(f"{rel}/{RECORD_FILE}: its file list differs from the ledger's")
    if name not in digests:
        raise EvidenceError(f"{given}: not a file of the run")
    return VerifiedRun(base, run_dir, rel, name, dict(entry), position, dict(entries[-1]),
                       record, contents)


def _stray_root_files(root: Path) -> list[str]:
    """Files directly under ``root`` other than the ledger, its anchor and its lock."""
    if not root.is_dir():
        return []
    expected = {LEDGER_FILE, ANCHOR_FILE, LOCK_FILE}
    return sorted(p.name for p in root.iterdir() if p.is_file() and p.name not in expected)


def _verify_run(root: Path, rel: str, entry: Mapping[str, Any], where: str) -> list[Problem]:
    run_dir = root / rel
    if not rel or ".." in Path(rel).parts or Path(rel).is_absolute() or not run_dir.is_dir():
        return [Problem("missing-run", where, f"run directory {rel or '?'} is missing")]
    problems: list[Problem] = []
    expected = entry.get("files")
    expected = dict(expected) if isinstance(expected, Mapping) else {}
    actual = file_digests(run_dir)
    for name in sorted(expected):
        if name not in actual:
            problems.append(Problem("missing-file", f"{rel}/{name}", "file was removed"))
        elif actual[name] != expected[name]:
            problems.append(Problem("changed-file", f"{rel}/{name}", "file was edited (sha256 "
                                    "differs from the ledger)"))
    for name in sorted(set(actual) - set(expected)):
        problems.append(Problem("unlisted-file", f"{rel}/{name}", "file is not in the ledger "
                                "(added after the run)"))
    # With record.json in both file lists, the comparison above already reports an edit.
    listed_both = RECORD_FILE in actual and RECORD_FILE in expected
    if actual.get(RECORD_FILE) != entry.get("record_sha256") and not listed_both:
        problems.append(Problem("record", f"{rel}/{RECORD_FILE}",
                                "record sha256 differs from the ledger's record_sha256"))
    record_path = run_dir / RECORD_FILE
    if record_path.is_file():
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
        except ValueError:
            record = None
        if not isinstance(record, dict):
            problems.append(Problem("record", f"{rel}/{RECORD_FILE}", "record is not JSON"))
        else:
            if record.get("run_id") != entry.get("run_id") or (
                record.get("change_id") != entry.get("change_id")
            ):
                problems.append(Problem("record", f"{rel}/{RECORD_FILE}",
                                        "run id or change id differs from the ledger entry"))
            listed_in_record = record.get("files")
            others = {k: v for k, v in expected.items() if k != RECORD_FILE}
            if listed_in_record != others:
                problems.append(Problem("record", f"{rel}/{RECORD_FILE}",
                                        "the record's file list differs from the ledger's"))
    return problems


# ---------------------------------------------------------------- secret scan


_SECRET_ENV = re.compile(
    r"^OKTA_.*(TOKEN|SECRET|PASSWORD|PRIVATE_KEY|ASSERTION|JWK)(?!.*_(FILE|PATH)$)", re.I
)
KEY_FILE_ENV = re.compile(r"^OKTA_.*(KEY_FILE|KEY_PATH|JWK_FILE)$", re.I)


@dataclasses.dataclass(frozen=True)
class SecretHit:
    """A secret found in a file; says which file and which encoding, never the value."""

    file: str
    # A known value's encoding (raw | base64 | base64url | url-encoded | json-escaped
    # | html-escaped | pem-line), or a shape (one of SHAPE_KINDS) for a credential
    # this process never saw.
    form: str

    @property
    def kind(self) -> str:
        """What was found, in words: never the value itself."""
        if self.form in SHAPE_KINDS:
            return SHAPE_KINDS[self.form]
        return f"a known secret value ({self.form} form)"

    def __str__(self) -> str:
        return f"{self.file}: {self.kind}"


# Credentials the runner never saw (an access token the kernel obtained by OAuth,
# a key the notebook read itself) cannot be matched by value, only by shape: the
# shapes are those the params loader refuses (kmsi_lib.secret_shapes).
SHAPE_KINDS = secret_shapes.SHAPE_KINDS


def scan_for_shapes(data: bytes) -> list[str]:
    """The kinds (keys of :data:`SHAPE_KINDS`) of credential-shaped values in ``data``."""
    return secret_shapes.find_secret_shapes(data)


def known_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """Every secret value this process knows: credentials, token variables, key files, JWK parts.

    Sources: ``Credentials.from_env().secret_values()`` when the client's auth
    module can build credentials, plus every ``OKTA_*TOKEN/SECRET/PASSWORD/
    PRIVATE_KEY`` variable, the contents of key files named by ``OKTA_*KEY_FILE``
    variables, and the private members of any JWK among those.
    """
    env = dict(os.environ if environ is None else environ)
    values: list[str] = []
    with contextlib.suppress(Exception):  # no credentials configured is not an error here
        from kmsi_lib.auth import Credentials

        creds = Credentials.from_env(env)
        values += [str(v) for v in creds.secret_values()]
    for name, value in env.items():
        if _SECRET_ENV.search(name) and value:
            values.append(value)
            values += secret_shapes.jwk_private_values(value)
        if KEY_FILE_ENV.search(name) and value:
            with contextlib.suppress(OSError):
                content = Path(value).read_text(encoding="utf-8")
                values.append(content.strip())
                values += secret_shapes.jwk_private_values(content)
    seen: dict[str, None] = {}
    for value in values:
        if len(value) >= MIN_SECRET_LENGTH:
            seen.setdefault(value, None)
    return list(seen)


def _b64_fragments(raw: bytes) -> list[tuple[str, bytes]]:
    """Base64 forms of ``raw`` wherever it sits in a longer encoded string.

    Base64 encodes 3 bytes at a time, so a secret embedded in a longer value
    (``client:secret`` in a Basic header) encodes differently at each of the
    three alignments; the middle of each alignment's encoding is stable.
    """
    out: list[tuple[str, bytes]] = []
    for shift in range(3):
        encoded = base64.b64encode(b"\x00" * shift + raw).rstrip(b"=")
        head = 4 if shift else 0  # the first group mixes in the padding bytes
        tail = 4  # the last group depends on what follows the secret
        core = encoded[head:-tail] if len(encoded) > head + tail + 8 else b""
        if shift == 0:
            out.append(("base64", encoded))
            out.append(("base64url", base64.urlsafe_b64encode(raw).rstrip(b"=")))
        if core:
            out.append(("base64", core))
            out.append(("base64url", core.replace(b"+", b"-").replace(b"/", b"_")))
    return out


def secret_forms(secret: str) -> list[tuple[str, bytes]]:
    """The byte strings to look for: the raw value and its usual encodings."""
    raw = secret.encode("utf-8")
    forms: list[tuple[str, bytes]] = [("raw", raw)]
    forms.append(("url-encoded", urllib.parse.quote(secret, safe="").encode()))
    forms.append(("url-encoded", urllib.parse.quote_plus(secret).encode()))
    forms.append(("json-escaped", json.dumps(secret)[1:-1].encode()))
    forms.append(("json-escaped", json.dumps(secret, ensure_ascii=False)[1:-1].encode()))
    forms.append(("html-escaped", html.escape(secret).encode()))
    forms += _b64_fragments(raw)
    # A PEM key in a notebook output is split into lines (and JSON-escaped):
    # any one body line of it is already a leak.
    if "-----BEGIN" in secret:
        for line in secret.splitlines():
            line = line.strip()
            if len(line) >= 16 and not line.startswith("-----"):
                forms.append(("pem-line", line.encode()))
    unique: dict[bytes, str] = {}
    for form, needle in forms:
        if len(needle) >= MIN_SECRET_LENGTH:
            unique.setdefault(needle, form)
    return [(form, needle) for needle, form in unique.items()]


def scan_for_secrets(
    paths: Iterable[Path], secrets: Sequence[str], *, extra: Mapping[str, bytes] | None = None,
    base: Path | None = None,
) -> list[SecretHit]:
    """Find every (file, encoding) where a secret occurs; ``extra`` scans captured output too.

    Besides the known ``secrets`` (first hit per file), every blob is scanned for
    credential shapes (:func:`scan_for_shapes`), one hit per file and kind.
    """
    needles = [pair for secret in secrets for pair in secret_forms(secret)]
    blobs: list[tuple[str, bytes]] = []
    for path in paths:
        name = path.relative_to(base).as_posix() if base else str(path)
        blobs.append((name, path.read_bytes()))
    blobs += list((extra or {}).items())
    hits: list[SecretHit] = []
    for name, data in blobs:
        for form, needle in needles:
            if needle in data:
                hits.append(SecretHit(name, form))
                break
        hits += [SecretHit(name, kind) for kind in scan_for_shapes(data)]
    return hits


def describe_hits(hits: Iterable[SecretHit]) -> str:
    """``file (kind; kind), file (kind)``: where and what, never the value."""
    by_file: dict[str, dict[str, None]] = {}
    for hit in hits:
        by_file.setdefault(hit.file, {})[hit.kind] = None
    return ", ".join(f"{f} ({'; '.join(kinds)})" for f, kinds in sorted(by_file.items()))


# ---------------------------------------------------------------- assembling a run


def _before_state(result: Mapping[str, Any]) -> Any:
    applied = result.get("apply_result")
    if isinstance(applied, Mapping) and applied.get("before_state") is not None:
        return applied["before_state"]
    plan = result.get("plan")
    if isinstance(plan, Mapping):
        return [
            {"ref": c.get("ref"), "action": c.get("action"), "before": c.get("before")}
            for c in plan.get("changes", [])
            if isinstance(c, Mapping)
        ]
    return None


def _verification(result: Mapping[str, Any]) -> Any:
    if result.get("verification") is not None:
        return result["verification"]
    applied = result.get("apply_result")
    return applied.get("verification") if isinstance(applied, Mapping) else None


def verification_passed(result: Mapping[str, Any] | None) -> bool | None:
    """True/False when the run verified or not; None when it made no verification."""
    found = _verification(result or {})
    if not isinstance(found, Mapping) or "ok" not in found:
        return None
    return bool(found["ok"])


@dataclasses.dataclass(frozen=True)
class RunMeta:
    """What the runner knows about a run, besides what the notebook reported."""

    run_id: str
    change_id: str
    mode: str
    procedure: str
    notebook: str
    template_sha256: str
    parameters: Mapping[str, Any]
    started_at: str
    finished_at: str
    operator: str
    org_url: str
    approved_plan: Mapping[str, Any] | None = None


def build_record(
    meta: RunMeta,
    result: Mapping[str, Any] | None,
    *,
    succeeded: bool,
    error: Mapping[str, Any] | None,
    files: Mapping[str, str],
) -> dict[str, Any]:
    """The run record (record.json): everything a reviewer needs, in one JSON object."""
    res: Mapping[str, Any] = result or {}
    org = res.get("org") if isinstance(res.get("org"), Mapping) else {}
    assert isinstance(org, Mapping)
    outcome = str(res.get("outcome") or "failed")
    if not succeeded:
        outcome = "failed"
    return {
        "schema": SCHEMA,
        "run_id": meta.run_id,
        "change_id": meta.change_id,
        "status": "succeeded" if succeeded else "failed",
        "outcome": outcome,
        "mode": meta.mode,
        "procedure": meta.procedure,
        "started_at": meta.started_at,
        "finished_at": meta.finished_at,
        "operator": meta.operator,
        "org": {
            "url": org.get("url") or meta.org_url,
            "pipeline": org.get("pipeline"),
            "type": _protocol.engine_name(org.get("pipeline")),
        },
        "notebook": {"path": meta.notebook, "template_sha256": meta.template_sha256},
        "parameters": dict(meta.parameters),
        "approved_plan": dict(meta.approved_plan) if meta.approved_plan else None,
        "plan": res.get("plan"),
        "before_state": _before_state(res),
        "apply_result": res.get("apply_result"),
        "verification": _verification(res),
        "journal": res.get("journal") or [],
        "error": dict(error) if error else res.get("error"),
        "result_reported": result is not None,
        "files": dict(files),
    }


def evidence_header(record: Mapping[str, Any]) -> str:
    """An HTML banner with the run's record: what a reviewer reads before the notebook.

    Every value is escaped; the banner names ``record.json`` and the command that
    checks it, since the HTML itself is only as trustworthy as the ledger says.
    """
    org = record.get("org") if isinstance(record.get("org"), Mapping) else {}
    notebook = record.get("notebook") if isinstance(record.get("notebook"), Mapping) else {}
    approved = record.get("approved_plan")
    error = record.get("error")
    passed = verification_passed({"verification": record.get("verification")})
    assert isinstance(org, Mapping) and isinstance(notebook, Mapping)
    rows: list[tuple[str, str]] = [
        ("Run", str(record.get("run_id", ""))),
        ("Change", str(record.get("change_id", ""))),
        ("Procedure / mode", f"{record.get('procedure', '')} / {record.get('mode', '')}"),
        ("Status / outcome", f"{record.get('status', '')} / {record.get('outcome', '')}"),
        ("Verification", {True: "passed", False: "FAILED", None: "none made"}[passed]),
        ("Operator", str(record.get("operator", ""))),
        ("Started / finished (UTC)",
         f"{record.get('started_at', '')} / {record.get('finished_at', '')}"),
        ("Org", f"{org.get('url', '')} ({org.get('type') or 'engine unknown'})"),
        ("Runbook", f"{notebook.get('path', '')} (template sha256 "
                    f"{notebook.get('template_sha256', '')})"),
    ]
    if isinstance(approved, Mapping):
        rows.append(("Approved plan", f"run {approved.get('run_id', '')}, record sha256 "
                                      f"{approved.get('record_sha256', '')}"))
    if isinstance(error, Mapping):
        rows.append(("Error", f"{error.get('type', '')}: {error.get('message', '')}"))
    ok = record.get("status") == "succeeded" and passed is not False
    colour = "#1b5e20" if ok else "#b3261e"
    cells = "".join(
        f'<tr><th style="text-align:left;padding:2px 12px 2px 0">{html.escape(k)}</th>'
        f'<td style="font-family:monospace">{html.escape(v)}</td></tr>'
        for k, v in rows
    )
    run_id = html.escape(str(record.get("run_id", "")))
    return (
        f'<div class="kmsi-evidence-header" style="border:2px solid {colour};'
        f'padding:8px 16px;margin:8px 16px 16px;font-family:sans-serif">'
        f'<h2 style="color:{colour};margin:4px 0">Evidence of run {run_id}</h2>'
        f"<table>{cells}</table>"
        "<p style=\"font-size:90%\">The full record (parameters, plan, before-state, request "
        "journal, file hashes) is <code>record.json</code> next to this file. Check that "
        "nothing was edited with <code>kmsi evidence verify</code>.</p></div>"
    )


_BODY_TAG = re.compile(r"<body[^>]*>", re.IGNORECASE)


def export_html(notebook_path: Path, html_path: Path, *, header: str = "") -> None:
    """Render an executed notebook as a standalone HTML page (nbconvert).

    ``header`` (HTML, e.g. :func:`evidence_header`) is put first in the page's body.
    """
    import nbconvert
    import nbformat

    # nbformat and nbconvert ship without type hints for these two calls.
    node = nbformat.read(str(notebook_path), as_version=4)  # type: ignore[no-untyped-call]
    exporter = nbconvert.HTMLExporter()  # type: ignore[no-untyped-call]
    body, _ = exporter.from_notebook_node(node)
    if header:
        found = _BODY_TAG.search(body)
        at = found.end() if found else 0
        body = body[:at] + header + body[at:]
    html_path.write_text(body, encoding="utf-8")


@dataclasses.dataclass(frozen=True)
class RecordedRun:
    """The result of :func:`record_run`: where the evidence went and what the ledger says."""

    run_dir: Path | None  # None when quarantined
    record: dict[str, Any] | None
    entry: dict[str, Any]
    secret_hits: tuple[SecretHit, ...]

    @property
    def quarantined(self) -> bool:
        return bool(self.secret_hits)


def record_run(
    root: Path,
    staging: Path,
    meta: RunMeta,
    *,
    succeeded: bool,
    error: Mapping[str, Any] | None = None,
    secrets: Sequence[str] = (),
    captured: Mapping[str, bytes] | None = None,
    notebook_file: str = "notebook.ipynb",
) -> RecordedRun:
    """Turn a staging directory into recorded evidence (or quarantine it).

    Exports the HTML, writes record.json, scans every file and ``captured``
    output for ``secrets``; on a hit deletes the files and appends a
    ``quarantined`` ledger entry, otherwise moves the directory to
    ``root/<change>/<run>`` and appends a ``run`` entry.
    """
    notebook = staging / notebook_file
    problems: list[str] = []  # recorded as the error when the run reported none
    try:
        result = read_result(staging)
    except EvidenceError as exc:
        result, succeeded = None, False
        problems.append(str(exc))

    def assemble(files: Mapping[str, str]) -> dict[str, Any]:
        found = {"type": "EvidenceError", "message": "; ".join(problems)} if problems else None
        return build_record(meta, result, succeeded=succeeded, error=error or found, files=files)

    if notebook.is_file():
        try:
            # The banner is the record so far: the files are hashed once the export exists.
            export_html(notebook, notebook.with_suffix(".html"),
                        header=evidence_header(assemble({})))
        except Exception as exc:  # a broken export must not lose the rest of the evidence
            problems.append(f"HTML export failed: {type(exc).__name__}: {exc}")
    record = assemble(file_digests(staging, exclude=[RECORD_FILE]))
    write_json(staging / RECORD_FILE, record)

    files = sorted(p for p in staging.rglob("*") if p.is_file())
    hits = scan_for_secrets(files, secrets, extra=captured, base=staging)
    common = {
        "run_id": meta.run_id,
        "change_id": meta.change_id,
        "time": meta.finished_at,
        "notebook": Path(meta.notebook).name,
        "mode": meta.mode,
    }
    if hits:
        remove_tree(staging)
        entry = append_ledger(root, {
            **common, "kind": "quarantined", "path": None, "outcome": "quarantined",
            "record_sha256": None, "files": {},
            "reason": f"a secret was found in {len({h.file for h in hits})} file(s): "
                      + describe_hits(hits),
        })
        return RecordedRun(None, None, entry, tuple(hits))

    final = root / meta.change_id / meta.run_id
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging, final)
    digests = file_digests(final)
    entry = append_ledger(root, {
        **common, "kind": "run", "path": f"{meta.change_id}/{meta.run_id}",
        "outcome": record["outcome"], "status": record["status"],
        "record_sha256": digests[RECORD_FILE], "files": digests,
    })
    return RecordedRun(final, record, entry, ())


# ---------------------------------------------------------------- command line


def format_table(rows: list[list[str]], headers: list[str]) -> str:
    """Rows under headers, columns padded to the widest cell."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def list_table(root: Path) -> str:
    """The ledger as a table: seq, time, change, notebook, mode, outcome."""
    rows = []
    for entry in read_ledger(root):
        outcome = str(entry.get("outcome", ""))
        if entry.get("kind") == "quarantined":
            outcome = "QUARANTINED (secret found; files deleted)"
        rows.append([
            str(entry.get("seq", "")), str(entry.get("time", "")),
            str(entry.get("change_id", "")), str(entry.get("notebook", "")),
            str(entry.get("mode", "")), outcome,
        ])
    headers = ["seq", "time", "change", "notebook", "mode", "outcome"]
    if not rows:
        return f"no evidence recorded in {root}"
    return format_table(rows, headers)


def main(argv: Sequence[str] | None = None) -> int:
    """``kmsi evidence list|verify|anchor [--root DIR]``."""
    parser = argparse.ArgumentParser(prog="kmsi evidence",
                                     description="list or verify recorded evidence")
    sub = parser.add_subparsers(dest="action", required=True)
    for action, help_ in (("list", "show every recorded run"),
                          ("verify", "check the ledger hash chain and every file; exit 0 only "
                                     "when intact"),
                          ("anchor", "anchor a root that has no ledger.anchor at its ledger's "
                                     "head (check it with verify first)")):
        p = sub.add_parser(action, help=help_)
        p.add_argument("--root", type=Path, default=Path("evidence"),
                       help="evidence directory (default: ./evidence)")
        if action == "verify":
            p.add_argument("--expect", action="append", default=[], metavar="HASH",
                           help="a ledger hash recorded earlier (e.g. in the change ticket) "
                                "that must still be in the chain; repeatable")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.action == "list":
        try:
            print(list_table(args.root))
        except EvidenceError as exc:
            print(f"kmsi evidence: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.action == "anchor":
        try:
            head = anchor_ledger(args.root)
        except EvidenceError as exc:
            print(f"kmsi evidence: {exc}", file=sys.stderr)
            return 1
        print(f"anchored {args.root / LEDGER_FILE} at seq {head['seq']}, hash {head['hash']}")
        return 0
    report = verify(args.root, expect=args.expect)
    print(report.to_text())
    return 0 if report.ok else 1


def remove_tree(path: Path) -> None:
    """Delete a run directory (quarantine); missing is fine."""
    shutil.rmtree(path, ignore_errors=True)
