"""``kmsi approve`` and ``kmsi keys``: signed approvals of plan runs.

::

    kmsi keys new --out ~/.kmsi/ann [--comment ann@acme.example]
    kmsi approve evidence/CHG-1234/<plan-run> --key ~/.kmsi/ann --as ann@acme.example \\
        [--expires 72h] [--evidence-root evidence]

``approve`` checks that the run is a successful plan run recorded in the
evidence root (and that the root verifies), then appends an approval to the
ledger: the run, its change ticket and plan digest, the approver, the time and
the expiry, signed with the approver's Ed25519 key (:mod:`kmsi_lib.evidence.approvals`).
Only signers listed in the root's ``allowed-signers`` file count at apply; the
command warns when the approver is not listed. The key's passphrase, if it has
one, comes from ``KMSI_KEY_PASSPHRASE`` (never from an option).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import re
import sys
from pathlib import Path

from kmsi_lib import evidence
from kmsi_lib.errors import KmsiError, ParameterError
from kmsi_lib.evidence import approvals
from kmsi_lib.jsontypes import JsonObject

__all__ = ["add_arguments", "add_keys_arguments", "approve", "keys_main", "main"]

_DURATION = re.compile(r"^(\d+)([hd])$")


def _expiry(text: str, now: _dt.datetime) -> str:
    found = _DURATION.match(text.strip())
    if not found or int(found.group(1)) < 1:
        raise ParameterError("expires", f"a number of hours or days, e.g. 72h or 7d (got {text!r})")
    amount = int(found.group(1))
    delta = _dt.timedelta(hours=amount) if found.group(2) == "h" else _dt.timedelta(days=amount)
    if delta > _dt.timedelta(days=30):
        raise ParameterError("expires", "at most 30 days: approve again for a later window")
    return (now + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def approve(
    root: Path,
    run_dir: Path,
    *,
    key_path: Path,
    approver: str,
    expires: str = "72h",
    now: _dt.datetime | None = None,
) -> JsonObject:
    """Sign and append the approval of the plan run ``run_dir``; return the ledger entry."""
    if not approver.strip() or any(c.isspace() for c in approver.strip()):
        raise ParameterError("as", "the approver's identity: one word, e.g. ann@acme.example")
    verified = evidence.verified_run(root, run_dir)
    record = verified.record
    if record.get("mode") != "plan" or record.get("status") != "succeeded":
        raise KmsiError(
            f"{run_dir}: not a successful plan run (mode {record.get('mode')}, status"
            f" {record.get('status')}); approve the plan run the board reviewed"
        )
    plan = record.get("plan") or {}
    moment = now or _dt.datetime.now(_dt.UTC)
    key = approvals.load_private_key(key_path, os.environ.get("KMSI_KEY_PASSPHRASE") or None)
    fields = {
        "kind": approvals.APPROVAL_KIND,
        "run_id": str(record.get("run_id")),
        "path": str(verified.entry.get("path")),
        "change_id": str(record.get("change_id")),
        "plan_digest": str(plan.get("digest", "")),
        "approver": approver.strip(),
        "approved_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "expires_at": _expiry(expires, moment),
    }
    return evidence.append_ledger(root, approvals.sign_approval(key, fields))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="the plan run's directory (or record.json)")
    parser.add_argument("--key", type=Path, required=True, help="the approver's Ed25519 key")
    parser.add_argument(
        "--as", dest="approver", required=True, help="the approver's identity (allowed-signers)"
    )
    parser.add_argument("--expires", default="72h", help="how long it holds: 72h, 7d (<= 30d)")
    parser.add_argument("--evidence-root", type=Path, default=Path("evidence"))


def main(args: argparse.Namespace) -> int:
    root: Path = args.evidence_root
    run_dir = args.run_dir.parent if args.run_dir.name == evidence.RECORD_FILE else args.run_dir
    try:
        entry = approve(
            root, run_dir, key_path=args.key, approver=args.approver, expires=args.expires
        )
    except KmsiError as exc:
        print(f"kmsi approve: refused: {exc}", file=sys.stderr)
        return 2
    print(
        f"approved {entry['run_id']} (change {entry['change_id']}) as {entry['approver']}"
        f" until {entry['expires_at']}; ledger head: seq {entry['seq']} hash {entry['hash']}"
    )
    listed = approvals.read_allowed_signers(root)
    if not any(s.identity == entry["approver"] for s in listed):
        print(
            f"warning: {entry['approver']} is not in {root / approvals.ALLOWED_SIGNERS}:"
            " an apply will not accept this approval until the signer is listed",
            file=sys.stderr,
        )
    return 0


def add_keys_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="keys_command", required=True)
    made = sub.add_parser("new", help="make an Ed25519 key pair (OpenSSH format)")
    made.add_argument("--out", type=Path, required=True, help="the private key's path")
    made.add_argument("--comment", default="", help="a comment for the public key")


def keys_main(args: argparse.Namespace) -> int:
    try:
        line = approvals.new_key(args.out, comment=args.comment)
    except KmsiError as exc:
        print(f"kmsi keys new: refused: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} (private, mode 0600) and {args.out}.pub:\n{line}")
    print(f"to allow it, add a line to <evidence-root>/{approvals.ALLOWED_SIGNERS}:")
    print(f"  <identity> {' '.join(line.split()[:2])}")
    return 0
