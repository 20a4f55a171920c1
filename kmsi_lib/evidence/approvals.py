"""Signed approvals of plan runs: who approved which plan, for which ticket, until when.

An approval is a ledger entry of ``kind: "approval"`` naming a plan run (its run
id, path, change id and plan digest), the approver's identity, when it was
given and when it expires, signed with the approver's Ed25519 key over the
canonical JSON of exactly those fields (:data:`SIGNED_FIELDS`). The entry
carries the public key (OpenSSH form, ``ssh-ed25519 AAAA…``) and the signature
(base64). The ledger's hash chain then holds it like any other entry.

Who may approve is the evidence root's ``allowed-signers`` file, in git's
convention (``gpg.ssh.allowedSignersFile``): one line per signer,
``<identity> ssh-ed25519 <base64> [comment]``; ``#`` starts a comment.

:func:`approval_problems` says, in words, which of the requirements an approval
fails for an apply: a valid signature, a signer allowed under that identity,
the apply's ticket, not expired, and an approver other than the operator
(segregation of duties), compared by identity and by key. Keys are made by
``kmsi keys new`` (:func:`new_key`) or are existing OpenSSH Ed25519 keys.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from kmsi_lib.errors import EvidenceError, ParameterError
from kmsi_lib.jsontypes import JsonMap, JsonObject, JsonValue, instant

__all__ = [
    "ALLOWED_SIGNERS",
    "APPROVAL_KIND",
    "SIGNED_FIELDS",
    "AllowedSigner",
    "approval_problems",
    "approvals_for",
    "load_private_key",
    "new_key",
    "public_line",
    "read_allowed_signers",
    "sign_approval",
    "signature_valid",
]

APPROVAL_KIND = "approval"
ALLOWED_SIGNERS = "allowed-signers"
#: The fields an approval's signature covers, in the canonical JSON of :func:`_payload`.
SIGNED_FIELDS = (
    "kind",
    "run_id",
    "path",
    "change_id",
    "plan_digest",
    "approver",
    "approved_at",
    "expires_at",
)


@dataclass(frozen=True)
class AllowedSigner:
    """One line of ``allowed-signers``: an identity and its public key."""

    identity: str
    key: str  # "ssh-ed25519 <base64>"


def _payload(fields: JsonMap) -> bytes:
    missing = [f for f in SIGNED_FIELDS if f not in fields]
    if missing:
        raise EvidenceError(f"an approval lacks {', '.join(missing)}")
    signed = {f: fields[f] for f in SIGNED_FIELDS}
    return json.dumps(signed, sort_keys=True, separators=(",", ":")).encode("utf-8")


def public_line(key: Ed25519PublicKey) -> str:
    """The key as OpenSSH writes it: ``ssh-ed25519 AAAA…`` (no comment)."""
    raw = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return " ".join(raw.decode("ascii").split()[:2])


def _public_key(line: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_ssh_public_key(" ".join(line.split()[:2]).encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise EvidenceError(f"not an OpenSSH public key: {line[:40]!r} ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise EvidenceError("only Ed25519 keys (ssh-ed25519) sign approvals")
    return key


def new_key(path: Path, *, comment: str = "") -> str:
    """Write a new Ed25519 key: ``path`` (OpenSSH private key, mode 0600) and ``path.pub``.

    Refuses to overwrite either file. Returns the public line (with the comment).
    """
    pub = path.with_name(path.name + ".pub")
    for target in (path, pub):
        if target.exists():
            raise ParameterError("out", f"{target} exists; choose another path")
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(private)
    line = public_line(key.public_key()) + (f" {comment}" if comment else "")
    pub.write_text(line + "\n", encoding="ascii")
    return line


def load_private_key(path: Path, passphrase: str | None = None) -> Ed25519PrivateKey:
    """An Ed25519 private key from an OpenSSH (or PEM PKCS#8) file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ParameterError("key", f"cannot read {path}: {exc.strerror}") from None
    secret = passphrase.encode("utf-8") if passphrase else None
    key: object
    try:
        if b"OPENSSH PRIVATE KEY" in data:
            key = serialization.load_ssh_private_key(data, password=secret)
        else:
            key = serialization.load_pem_private_key(data, password=secret)
    except (ValueError, TypeError) as exc:
        raise ParameterError("key", f"{path} is not a usable private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ParameterError("key", f"{path} is not an Ed25519 key (approvals are Ed25519)")
    return key


def sign_approval(key: Ed25519PrivateKey, fields: Mapping[str, JsonValue]) -> JsonObject:
    """``fields`` with ``public_key`` and ``signature`` over :data:`SIGNED_FIELDS`."""
    signature = key.sign(_payload(fields))
    return {
        **{f: fields[f] for f in SIGNED_FIELDS},
        "public_key": public_line(key.public_key()),
        "signature": base64.b64encode(signature).decode("ascii"),
    }


def signature_valid(entry: JsonMap) -> bool:
    """Whether the entry's signature is its public key's over its signed fields."""
    try:
        key = _public_key(str(entry.get("public_key", "")))
        key.verify(base64.b64decode(str(entry.get("signature", ""))), _payload(entry))
    except (EvidenceError, InvalidSignature, ValueError):
        return False
    return True


def read_allowed_signers(root: Path) -> list[AllowedSigner]:
    """The evidence root's ``allowed-signers`` (empty when there is none)."""
    path = Path(root) / ALLOWED_SIGNERS
    if not path.is_file():
        return []
    signers: list[AllowedSigner] = []
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) < 3 or parts[1] != "ssh-ed25519":
            raise EvidenceError(
                f"{path} line {n}: expected '<identity> ssh-ed25519 <key> [comment]'"
            )
        for identity in parts[0].split(","):
            signers.append(AllowedSigner(identity, f"{parts[1]} {parts[2]}"))
    return signers


def approvals_for(entries: Sequence[JsonObject], run_id: str) -> list[JsonObject]:
    """The ledger's approval entries of the plan run ``run_id``, oldest first."""
    return [
        dict(e) for e in entries if e.get("kind") == APPROVAL_KIND and e.get("run_id") == run_id
    ]


def approval_problems(
    entry: JsonMap,
    *,
    allowed: Sequence[AllowedSigner],
    change_id: str,
    plan_digest: str,
    operator: str,
    operator_key: str | None = None,
    now: _dt.datetime | None = None,
) -> list[str]:
    """Each requirement ``entry`` fails for an apply under ``change_id`` by ``operator``."""
    problems: list[str] = []
    if not signature_valid(entry):
        problems.append("the signature does not verify (a forged or edited approval)")
    key = " ".join(str(entry.get("public_key", "")).split()[:2])
    approver = str(entry.get("approver", ""))
    if not any(s.identity == approver and s.key == key for s in allowed):
        problems.append(
            f"the signer {approver!r} with this key is not in the evidence root's"
            f" {ALLOWED_SIGNERS} file"
        )
    if entry.get("change_id") != change_id:
        problems.append(
            f"it approves the change {entry.get('change_id')!r}, not this run's {change_id!r}"
        )
    if entry.get("plan_digest") != plan_digest:
        problems.append("it approves another plan (its plan digest differs)")
    expires = instant(entry.get("expires_at"))
    moment = now or _dt.datetime.now(_dt.UTC)
    if expires is None or expires <= moment:
        problems.append(f"it expired at {entry.get('expires_at')}")
    if approver == operator or (operator_key and key == " ".join(operator_key.split()[:2])):
        problems.append(
            f"the approver {approver!r} is the operator: a change needs someone else's"
            " approval (segregation of duties)"
        )
    return problems
