"""Checking evidence: the whole root (:func:`verify`), its ledger alone
(:func:`check_ledger`), or one run before its evidence is used (:func:`verified_run`).

A chain is only tamper-evident up to its last copied hash: ``expect`` are
ledger hashes copied elsewhere earlier (a change ticket) that must still be in
it. Evidence is consumed only from a ledger that extends its anchor.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kmsi_lib.errors import EvidenceError
from kmsi_lib.evidence.approvals import ALLOWED_SIGNERS, APPROVAL_KIND, signature_valid
from kmsi_lib.jsontypes import JsonValue

from .files import (
    RECORD_FILE,
    SCHEMA,
    STAGING_DIR,
    read_journal,
    read_run_files,
    run_dirs_on_disk,
    symlink_on_the_way,
)
from .hashing import file_digests
from .ledger import (
    ANCHOR_FILE,
    LEDGER_FILE,
    LOCK_FILE,
    Problem,
    anchor_problems,
    chain_problems,
    expect_problems,
    line_label,
    read_ledger,
)

__all__ = ["VerifiedRun", "VerifyReport", "check_ledger", "verified_run", "verify"]


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
            return (
                f"evidence intact: {self.entries} ledger entries, {self.runs} runs in {self.root}"
            )
        lines = [f"evidence NOT intact ({len(self.problems)} problems) in {self.root}:"]
        lines += [f"  - [{p.kind}] {p}" for p in self.problems]
        return "\n".join(lines)


def verify(root: Path, *, expect: Sequence[str] = ()) -> VerifyReport:
    """Check the ledger chain and every recorded file against it.

    Reports a broken or reordered chain, an approval whose signature does not
    verify (:mod:`.approvals`), an edited or removed ledger line, an
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

    problems += chain_problems(entries)
    listed: set[str] = set()
    runs = 0
    for index, entry in enumerate(entries, start=1):
        if entry.get("kind") == APPROVAL_KIND and not signature_valid(entry):
            problems.append(
                Problem(
                    "approval",
                    line_label(index, entry),
                    f"the approval of run {entry.get('run_id')} does not verify against its"
                    " public key (forged or edited)",
                )
            )
        if entry.get("kind") != "run":
            continue
        runs += 1
        rel = str(entry.get("path", ""))
        listed.add(rel)
        problems += _verify_run(root, rel, entry, line_label(index, entry))

    problems += anchor_problems(root, entries) + expect_problems(entries, expect)
    for rel in sorted(run_dirs_on_disk(root) - listed):
        problems.append(
            Problem("unlisted-run", rel, "run directory is not in the ledger (added afterwards?)")
        )
    for name in _stray_root_files(root):
        problems.append(
            Problem(
                "unlisted-file", name, "file is not part of any recorded run (added afterwards?)"
            )
        )
    return VerifyReport(root, len(entries), runs, tuple(problems))


def check_ledger(root: Path, *, expect: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The ledger's entries, if its chain is intact, it extends its anchor and holds ``expect``.

    Raises EvidenceError naming every problem. Only the ledger is checked here,
    not the files of each run (:func:`verify` does both).
    """
    root = Path(root)
    entries = read_ledger(root)
    problems = chain_problems(entries) + anchor_problems(root, entries)
    problems += expect_problems(entries, expect)
    if problems:
        raise EvidenceError(
            f"the ledger {root / LEDGER_FILE} does not verify: "
            + "; ".join(f"[{p.kind}] {p}" for p in problems)
        )
    return entries


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


def _parse(rel: str, name: str, data: bytes) -> JsonValue:
    try:
        value: JsonValue = json.loads(data.decode("utf-8"))  # json.loads: JSON, typed Any
        return value
    except ValueError as exc:
        raise EvidenceError(f"{rel}/{name}: not JSON ({exc})") from exc


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
    link = symlink_on_the_way(root, given)
    if link is not None:
        raise EvidenceError(
            f"{link} is a symbolic link: evidence is read only from the files "
            f"inside the evidence root {root}"
        )
    if not given.exists():
        raise EvidenceError(f"{given}: no such file or directory")
    real, base = given.resolve(), root.resolve()
    try:
        parts = real.relative_to(base).parts
    except ValueError:
        raise EvidenceError(
            f"{given} is not in the evidence root {root}: only evidence recorded in the root "
            "this run writes to (--evidence-root) is accepted, whatever another root's ledger "
            "says"
        ) from None
    if len(parts) == 2 and real.is_dir():
        name = RECORD_FILE
    elif len(parts) == 3 and real.is_file():
        name = parts[2]
    else:
        raise EvidenceError(
            f"{given} is not a recorded run directory (<change>/<run>) of "
            f"{root}, nor a file directly in one"
        )
    rel = f"{parts[0]}/{parts[1]}"
    if parts[0].startswith("."):
        raise EvidenceError(f"{given} is a run in progress ({STAGING_DIR}), not recorded evidence")

    entries = check_ledger(root, expect=expect)
    found = [
        (i, e)
        for i, e in enumerate(entries, start=1)
        if e.get("kind") == "run" and e.get("path") == rel
    ]
    if not found:
        raise EvidenceError(
            f"the run {rel} is not in the ledger {root / LEDGER_FILE} (only "
            "recorded evidence is accepted)"
        )
    position, entry = found[0]
    if expect:
        seen = max(i for i, e in enumerate(entries, start=1) if e.get("hash") in expect)
        if position > seen:
            raise EvidenceError(
                f"the run {rel} (ledger line {position}) was recorded after the "
                f"ledger head the approver saw (--expect, line {seen})"
            )

    run_dir = base / parts[0] / parts[1]
    digests, contents = read_run_files(run_dir, rel)
    listed = entry.get("files") if isinstance(entry.get("files"), Mapping) else {}
    assert isinstance(listed, Mapping)
    problems = [f"{n}: removed" for n in sorted(set(listed) - set(digests))]
    problems += [f"{n}: not in the ledger (added)" for n in sorted(set(digests) - set(listed))]
    problems += [
        f"{n}: edited (sha256 differs from the ledger)"
        for n in sorted(set(listed) & set(digests))
        if listed[n] != digests[n]
    ]
    if digests.get(RECORD_FILE) != entry.get("record_sha256"):
        problems.append(f"{RECORD_FILE}: sha256 differs from the ledger's record_sha256")
    if problems or RECORD_FILE not in contents:
        problems += [] if RECORD_FILE in contents else [f"{RECORD_FILE}: missing"]
        raise EvidenceError(f"the evidence of run {rel} does not verify: " + "; ".join(problems))
    record = _parse(rel, RECORD_FILE, contents[RECORD_FILE])
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        raise EvidenceError(f"{rel}/{RECORD_FILE}: not a kmsi evidence record (schema {SCHEMA})")
    if (record.get("run_id"), record.get("change_id")) != (
        entry.get("run_id"),
        entry.get("change_id"),
    ) or (rel != f"{record.get('change_id')}/{record.get('run_id')}"):
        raise EvidenceError(
            f"{rel}/{RECORD_FILE}: its run id and change id are not those of "
            "its ledger entry and directory (a record moved between runs?)"
        )
    if record.get("files") != {k: v for k, v in listed.items() if k != RECORD_FILE}:
        raise EvidenceError(f"{rel}/{RECORD_FILE}: its file list differs from the ledger's")
    if name not in digests:
        raise EvidenceError(f"{given}: not a file of the run")
    return VerifiedRun(
        base, run_dir, rel, name, dict(entry), position, dict(entries[-1]), record, contents
    )


def _stray_root_files(root: Path) -> list[str]:
    """Files directly under ``root`` other than the ledger, its anchor, its lock and the
    ``allowed-signers`` file."""
    if not root.is_dir():
        return []
    expected = {LEDGER_FILE, ANCHOR_FILE, LOCK_FILE, ALLOWED_SIGNERS}
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
            problems.append(
                Problem(
                    "changed-file",
                    f"{rel}/{name}",
                    "file was edited (sha256 differs from the ledger)",
                )
            )
    for name in sorted(set(actual) - set(expected)):
        problems.append(
            Problem(
                "unlisted-file", f"{rel}/{name}", "file is not in the ledger (added after the run)"
            )
        )
    # With record.json in both file lists, the comparison above already reports an edit.
    listed_both = RECORD_FILE in actual and RECORD_FILE in expected
    if actual.get(RECORD_FILE) != entry.get("record_sha256") and not listed_both:
        problems.append(
            Problem(
                "record",
                f"{rel}/{RECORD_FILE}",
                "record sha256 differs from the ledger's record_sha256",
            )
        )
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
                problems.append(
                    Problem(
                        "record",
                        f"{rel}/{RECORD_FILE}",
                        "run id or change id differs from the ledger entry",
                    )
                )
            listed_in_record = record.get("files")
            others = {k: v for k, v in expected.items() if k != RECORD_FILE}
            if listed_in_record != others:
                problems.append(
                    Problem(
                        "record",
                        f"{rel}/{RECORD_FILE}",
                        "the record's file list differs from the ledger's",
                    )
                )
            problems += _journal_problems(run_dir, rel, record.get("journal"))
    return problems


def _journal_problems(run_dir: Path, rel: str, journal: object) -> list[Problem]:
    """The journal file against the record's summary of it (sha256, entries); an inline
    journal (evidence written before the journal had a file) has nothing to check."""
    if not isinstance(journal, Mapping):
        return []
    name = str(journal.get("file") or "journal")
    try:
        read_journal(run_dir, dict(journal))
    except (EvidenceError, ValueError) as exc:  # ValueError: a summary that does not parse
        return [
            Problem("journal", f"{rel}/{name}", f"the journal does not match the record: {exc}")
        ]
    return []
