"""``kmsi evidence list|verify|anchor``: the arguments (:func:`add_arguments`) and the work
(:func:`main`), wired into the one ``kmsi`` parser by :mod:`kmsi_lib.cli`. Only this
module of the package prints.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kmsi_lib.errors import EvidenceError

from .ledger import LEDGER_FILE, anchor_ledger, read_ledger
from .verify import verify

__all__ = ["add_arguments", "format_table", "list_table", "main"]

EXIT_OK, EXIT_FAILED = 0, 1


def format_table(rows: list[list[str]], headers: list[str]) -> str:
    """Rows under headers, columns padded to the widest cell."""
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
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
        rows.append(
            [
                str(entry.get("seq", "")),
                str(entry.get("time", "")),
                str(entry.get("change_id", "")),
                str(entry.get("notebook", "")),
                str(entry.get("mode", "")),
                outcome,
            ]
        )
    headers = ["seq", "time", "change", "notebook", "mode", "outcome"]
    if not rows:
        return f"no evidence recorded in {root}"
    return format_table(rows, headers)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``kmsi evidence``: an action, each with ``--root``."""
    parser.description = "list or verify recorded evidence"
    sub = parser.add_subparsers(dest="action", required=True)
    for action, help_ in (
        ("list", "show every recorded run"),
        ("verify", "check the ledger hash chain and every file; exit 0 only when intact"),
        (
            "anchor",
            "anchor a root that has no ledger.anchor at its ledger's "
            "head (check it with verify first)",
        ),
    ):
        p = sub.add_parser(action, help=help_)
        p.add_argument(
            "--root",
            type=Path,
            default=Path("evidence"),
            help="evidence directory (default: ./evidence)",
        )
        if action == "verify":
            p.add_argument(
                "--expect",
                action="append",
                default=[],
                metavar="HASH",
                help="a ledger hash recorded earlier (e.g. in the change ticket) "
                "that must still be in the chain; repeatable",
            )


def main(args: argparse.Namespace) -> int:
    """``kmsi evidence list|verify|anchor [--root DIR]``: 0 when done (verify: intact), else 1."""
    if args.action == "list":
        try:
            print(list_table(args.root))
        except EvidenceError as exc:
            print(f"kmsi evidence: {exc}", file=sys.stderr)
            return EXIT_FAILED
        return EXIT_OK
    if args.action == "anchor":
        try:
            head = anchor_ledger(args.root)
        except EvidenceError as exc:
            print(f"kmsi evidence: {exc}", file=sys.stderr)
            return EXIT_FAILED
        print(f"anchored {args.root / LEDGER_FILE} at seq {head['seq']}, hash {head['hash']}")
        return EXIT_OK
    report = verify(args.root, expect=args.expect)
    print(report.to_text())
    return EXIT_OK if report.ok else EXIT_FAILED
