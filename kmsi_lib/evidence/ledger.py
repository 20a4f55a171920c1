"""The ledger: an append-only, hash-chained list of recorded runs, its anchor and its lock.

Each line of ``ledger.jsonl`` is ``{seq, run_id, change_id, path, kind, time,
notebook, mode, outcome, record_sha256, files: {name: sha256}, prev_hash,
hash}`` where ``hash = sha256(prev_hash + canonical_json(entry without
"hash"))``. ``ledger.anchor`` holds ``{seq, hash}`` of the head after the last
append; a ledger that no longer holds that entry at that position was
rewritten (or cut short), and :func:`append_ledger` then leaves the anchor
where it was. Appenders in several processes are serialised by a file lock
(the filelock package) on ``.ledger.lock``, so two runs finishing together never
fork the chain.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TypedDict

import filelock

from kmsi_lib.errors import EvidenceError
from kmsi_lib.jsontypes import JsonMap, JsonObject

from .files import read_json, write_json
from .hashing import canonical_json, sha256_bytes

__all__ = [
    "ANCHOR_FILE",
    "GENESIS_HASH",
    "LEDGER_FILE",
    "LOCK_FILE",
    "Anchor",
    "Problem",
    "anchor_ledger",
    "anchor_problems",
    "append_ledger",
    "chain_problems",
    "entry_hash",
    "expect_problems",
    "find_run",
    "line_label",
    "locked",
    "read_anchor",
    "read_ledger",
]

LEDGER_FILE = "ledger.jsonl"
ANCHOR_FILE = "ledger.anchor"
LOCK_FILE = ".ledger.lock"
GENESIS_HASH = "0" * 64


class Anchor(TypedDict):
    """The ledger's anchor file: the head the ledger had after its last append."""

    seq: int
    hash: str


@dataclasses.dataclass(frozen=True)
class Problem:
    """One thing wrong with the evidence: what kind, where, and in words."""

    kind: str  # chain | seq | hash | missing-run | missing-file | changed-file | unlisted-file
    #            | unlisted-run | record | journal | duplicate | unreadable | anchor
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def entry_hash(prev_hash: str, entry: JsonMap) -> str:
    """The chain link: sha256 over the previous hash and this entry (minus its own hash)."""
    body = {k: v for k, v in entry.items() if k != "hash"}
    return sha256_bytes((prev_hash + canonical_json(body)).encode("utf-8"))


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    """Hold the root's ledger lock: one appender (or anchorer) at a time, across processes."""
    root.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(root / LOCK_FILE):
        yield


def read_ledger(root: Path) -> list[JsonObject]:
    """Every ledger entry in file order (raises EvidenceError on a line that is not JSON)."""
    path = root / LEDGER_FILE
    if not path.exists():
        return []
    entries: list[JsonObject] = []
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


def append_ledger(root: Path, fields: JsonMap) -> JsonObject:
    """Append one entry (seq, prev_hash and hash are filled in here) and return it."""
    with locked(root):
        entries = read_ledger(root)
        # A ledger that does not extend its anchor was rewritten: appending must not
        # bless it, so the anchor stays where it was and verify keeps saying so.
        extends = not anchor_problems(root, entries)
        prev = entries[-1] if entries else None
        prev_hash = str(prev["hash"]) if prev else GENESIS_HASH
        entry: JsonObject = {
            **_as_json(fields),
            "seq": (_seq_of(prev) + 1) if prev else 1,
            "prev_hash": prev_hash,
        }
        entry["hash"] = entry_hash(prev_hash, entry)
        with (root / LEDGER_FILE).open("a", encoding="utf-8") as fh:
            fh.write(canonical_json(entry) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        if extends:
            _write_anchor(root, entry)
    return entry


def _seq_of(entry: JsonMap) -> int:
    """An entry's ``seq`` as a number (a missing one raises KeyError, as it always did)."""
    seq = entry["seq"]
    if isinstance(seq, bool) or not isinstance(seq, int | float | str):
        raise EvidenceError(f"the ledger's last entry has no sequence number: {seq!r}")
    return int(seq)


def _as_json(fields: JsonMap) -> JsonObject:
    """``fields`` as the ledger line will hold them (tuples as lists, keys as strings)."""
    decoded = json.loads(canonical_json(fields))
    if not isinstance(decoded, dict):  # pragma: no cover - a mapping encodes as an object
        raise EvidenceError("ledger fields are not a JSON object")
    return decoded


def find_run(root: Path, run_dir: Path) -> JsonObject | None:
    """The ledger entry that recorded ``run_dir`` (None if the ledger does not list it)."""
    try:
        rel = run_dir.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None
    for entry in read_ledger(root):
        if entry.get("path") == rel and entry.get("kind") == "run":
            return entry
    return None


def line_label(index: int, entry: JsonMap) -> str:
    """How a problem names a ledger line: its position, seq and run."""
    return f"{LEDGER_FILE} line {index} (seq {entry.get('seq')}, run {entry.get('run_id')})"


def chain_problems(entries: Sequence[JsonMap]) -> list[Problem]:
    """What is wrong with the chain itself: sequence, links, hashes, a run listed twice."""
    problems: list[Problem] = []
    prev_hash = GENESIS_HASH
    listed: set[str] = set()
    for index, entry in enumerate(entries, start=1):
        at = line_label(index, entry)
        if entry.get("seq") != index:
            problems.append(
                Problem(
                    "seq",
                    at,
                    f"sequence number should be {index}: lines removed, inserted or reordered",
                )
            )
        if entry.get("prev_hash") != prev_hash:
            problems.append(
                Problem(
                    "chain",
                    at,
                    "prev_hash does not match the previous line's hash: "
                    "the chain is broken (a line was removed, inserted or reordered)",
                )
            )
        if entry.get("hash") != entry_hash(str(entry.get("prev_hash")), entry):
            problems.append(Problem("hash", at, "hash does not match the entry: it was edited"))
        prev_hash = str(entry.get("hash"))
        if entry.get("kind") == "run":
            rel = str(entry.get("path", ""))
            if rel in listed:
                problems.append(Problem("duplicate", at, f"run directory {rel} is listed twice"))
            listed.add(rel)
    return problems


def expect_problems(entries: Sequence[JsonMap], expect: Sequence[str]) -> list[Problem]:
    """One problem per ``expect`` hash (copied elsewhere earlier) the ledger no longer holds."""
    hashes = {str(e.get("hash")) for e in entries}
    return [
        Problem(
            "anchor",
            LEDGER_FILE,
            f"the expected hash {pinned} is not in the ledger: it was "
            "rewritten (or this is another ledger)",
        )
        for pinned in expect
        if pinned not in hashes
    ]


def read_anchor(root: Path) -> Anchor | None:
    """``{seq, hash}`` of the head the ledger had after its last append (None: no anchor)."""
    path = Path(root) / ANCHOR_FILE
    if not path.exists():
        return None
    value = read_json(path, "anchor")
    seq = value.get("seq") if isinstance(value, dict) else None
    pinned = value.get("hash") if isinstance(value, dict) else None
    if not isinstance(seq, int) or not isinstance(pinned, str):
        raise EvidenceError(f"{path}: not a ledger anchor ({{seq, hash}})")
    return Anchor(seq=seq, hash=pinned)


def _write_anchor(root: Path, entry: JsonMap) -> None:
    write_json(root / ANCHOR_FILE, {"seq": entry["seq"], "hash": entry["hash"]})


def anchor_problems(root: Path, entries: Sequence[JsonMap]) -> list[Problem]:
    """Does the ledger extend its anchor (hold the anchored entry at the anchored position)?"""
    try:
        anchor = read_anchor(root)
    except EvidenceError as exc:
        return [Problem("anchor", ANCHOR_FILE, str(exc))]
    if anchor is None:
        if not entries:
            return []
        return [
            Problem(
                "anchor",
                ANCHOR_FILE,
                "the ledger has entries but no anchor: it was "
                "deleted (or the root predates anchors; once `kmsi evidence verify` "
                "shows nothing else wrong, `kmsi evidence anchor` sets it)",
            )
        ]
    seq, pinned = anchor["seq"], anchor["hash"]
    if seq > len(entries):
        return [
            Problem(
                "anchor",
                ANCHOR_FILE,
                f"the anchor is at seq {seq} but the ledger has "
                f"{len(entries)} lines: lines were removed from its end",
            )
        ]
    if seq < 1 or entries[seq - 1].get("hash") != pinned:
        return [
            Problem(
                "anchor",
                ANCHOR_FILE,
                f"the ledger's line {seq} is not the anchored "
                f"entry (hash {pinned}): the ledger was rewritten",
            )
        ]
    return []


def anchor_ledger(root: Path) -> JsonObject:
    """Anchor the ledger at its head (``kmsi evidence anchor``): for a root without an anchor.

    Refuses a broken chain. Anchoring says "I trust this ledger as it is now":
    check it with ``kmsi evidence verify`` (and any hash copied earlier) first.
    """
    root = Path(root)
    with locked(root):
        entries = read_ledger(root)
        problems = chain_problems(entries)
        if problems or not entries:
            raise EvidenceError(
                f"cannot anchor {root / LEDGER_FILE}: "
                + ("; ".join(str(p) for p in problems) or "it is empty")
            )
        _write_anchor(root, entries[-1])
    return entries[-1]
