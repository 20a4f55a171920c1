"""An approved plan, checked before an apply uses it (``kmsi run --approved-plan``).

The plan run must be recorded in the apply's own evidence root, verify there
(chain, anchor, ``--expect``), be a successful plan run under the same change,
and have been made for the same procedure, parameters and org.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from kmsi_lib import evidence, secret_shapes
from kmsi_lib.errors import EvidenceError
from kmsi_lib.jsontypes import JsonMap, JsonObject, dig, obj

__all__ = [
    "ApprovedPlan",
    "approval_required",
    "check_approved_plan",
    "operator_key",
    "signed_approval",
]


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/").lower() == b.rstrip("/").lower()


class ApprovedPlan(NamedTuple):
    """An approved plan that passed :func:`check_approved_plan`, and the run it came from."""

    #: ``Plan.to_dict()``, parsed from the bytes whose hash the ledger holds.
    plan: JsonObject
    #: The plan run as verified (its record, ledger entry and directory).
    run: evidence.VerifiedRun


def check_approved_plan(
    plan_evidence: Path,
    *,
    procedure: str,
    params: JsonMap,
    org_url: str,
    evidence_root: Path,
    change_id: str = "",
    expect: Sequence[str] = (),
) -> ApprovedPlan:
    """Check a plan run's evidence before applying it; return the plan and the verified run.

    Refuses (EvidenceError) unless the plan's run is recorded in
    ``evidence_root`` (the root this run writes to, not any root that
    verifies) and verifies there (:func:`kmsi_lib.evidence.verified_run`:
    chain, anchor, ``expect``, the run's files and record), it was a
    successful plan run under ``change_id`` (when given), and it was made for
    the same procedure, the same parameters (compared after filling in
    defaults) and the same org. The plan returned (``Plan.to_dict()``) is
    parsed from the bytes whose hash the ledger holds.
    """
    from kmsi_lib.runbooks.params import normalized_params

    try:
        verified = evidence.verified_run(evidence_root, plan_evidence, expect=expect)
    except EvidenceError as exc:
        raise EvidenceError(f"the approved plan's evidence does not verify: {exc}") from None
    record, record_path = verified.record, verified.run_dir / evidence.RECORD_FILE
    if verified.name != evidence.RECORD_FILE:
        raise EvidenceError(f"{plan_evidence}: name the plan run's directory or its record.json")
    if change_id and record.get("change_id") != change_id:
        raise EvidenceError(
            f"the approved plan was recorded under the change "
            f"{record.get('change_id')!r}, not {change_id!r}: plan again "
            f"with --change {change_id}"
        )
    if record.get("mode") != "plan" or record.get("status") != "succeeded":
        raise EvidenceError(
            f"{record_path}: not a successful plan run (mode "
            f"{record.get('mode')}, status {record.get('status')})"
        )
    plan = record.get("plan")
    if not isinstance(plan, dict):
        raise EvidenceError(f"{record_path}: the run recorded no plan")
    if record.get("procedure") != procedure or plan.get("procedure") != procedure:
        raise EvidenceError(
            f"the approved plan is for the procedure {record.get('procedure')!r}, not {procedure!r}"
        )
    theirs = normalized_params(procedure, obj(record.get("parameters")))
    ours = normalized_params(procedure, params)
    if evidence.canonical_json(theirs) != evidence.canonical_json(ours):
        changed = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
        raise EvidenceError(
            "the approved plan was made with other parameters (differs in: "
            f"{', '.join(changed)}); plan again with these parameters"
        )
    planned_org = str(dig(record, "org", "url") or plan.get("org_url") or "")
    if not _same_url(planned_org, org_url):
        raise EvidenceError(
            "the approved plan was made for the org "
            f"{secret_shapes.redact_config(planned_org)}, "
            f"not {org_url}"
        )
    return ApprovedPlan(plan, verified)


# ---------------------------------------------------------------- one run


#: Set to ``1`` to require a signed approval against the sandbox too (training on approvals).
REQUIRE_ENV = "KMSI_REQUIRE_APPROVAL"
#: The operator's public key (a ``.pub`` file): compared with the approver's key.
OPERATOR_KEY_ENV = "KMSI_OPERATOR_KEY"


def approval_required(org_url: str, environ: Mapping[str, str]) -> bool:
    """A real org needs a signed approval; the sandbox (loopback) does not, unless asked."""
    from kmsi_lib.engine import is_local

    return not is_local(org_url) or environ.get(REQUIRE_ENV, "").strip() == "1"


def operator_key(environ: Mapping[str, str]) -> str | None:
    """The operator's public key line, from the file ``KMSI_OPERATOR_KEY`` names."""
    path = environ.get(OPERATOR_KEY_ENV, "").strip()
    if not path:
        return None
    try:
        return Path(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise EvidenceError(f"{OPERATOR_KEY_ENV}={path}: cannot read the key ({exc})") from None


def signed_approval(
    root: Path,
    run_id: str,
    *,
    change_id: str,
    plan_digest: str,
    operator: str,
    operator_public_key: str | None,
    required: bool,
) -> JsonObject:
    """The approval an apply goes ahead on, as recorded in its evidence.

    Required (a real org): a ledger approval of the plan run ``run_id`` that
    passes every check of :func:`kmsi_lib.evidence.approvals.approval_problems`,
    else :class:`EvidenceError` naming each failed check. Not required (the
    sandbox): the same check is made and recorded when an approval exists.
    """
    from kmsi_lib.evidence import approvals

    entries = approvals.approvals_for(evidence.read_ledger(root), run_id)
    allowed = approvals.read_allowed_signers(root)
    found: list[tuple[JsonObject, list[str]]] = []
    for entry in entries:
        problems = approvals.approval_problems(
            entry,
            allowed=allowed,
            change_id=change_id,
            plan_digest=plan_digest,
            operator=operator,
            operator_key=operator_public_key,
        )
        found.append((entry, problems))
    valid = [e for e, problems in found if not problems]
    if valid:
        entry = valid[-1]
        return {
            "required": required,
            "status": "valid",
            "approver": entry.get("approver"),
            "approved_at": entry.get("approved_at"),
            "expires_at": entry.get("expires_at"),
            # a fingerprint, not the key: the evidence scan takes long base64 runs for secrets
            "key_sha256": evidence.sha256_bytes(
                " ".join(str(entry.get("public_key", "")).split()[:2]).encode("ascii")
            ),
            "ledger_seq": entry.get("seq"),
        }
    if not required:
        reason = "; ".join(found[-1][1]) if found else "none given"
        return {
            "required": False,
            "status": "not required: a sandbox org (the training and demo path);"
            f" approval: {reason}",
        }
    if not found:
        raise EvidenceError(
            f"the plan run {run_id} has no signed approval in {root}: an apply to this org needs"
            " one by someone other than the operator (kmsi approve RUN_DIR --key KEY --as NAME)"
        )
    entry, problems = found[-1]
    raise EvidenceError(
        f"the approval of {run_id} by {entry.get('approver')!r} is not valid: "
        + "; ".join(problems)
    )
