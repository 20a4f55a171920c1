"""An approved plan, checked before an apply uses it (``kmsi run --approved-plan``).

The plan run must be recorded in the apply's own evidence root, verify there
(chain, anchor, ``--expect``), be a successful plan run under the same change,
and have been made for the same procedure, parameters and org.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kmsi_lib import evidence, secret_shapes
from kmsi_lib.errors import EvidenceError

__all__ = ["approved", "check_approved_plan"]


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/").lower() == b.rstrip("/").lower()


def check_approved_plan(
    plan_evidence: Path,
    *,
    procedure: str,
    params: Mapping[str, Any],
    org_url: str,
    evidence_root: Path,
    change_id: str = "",
    expect: Sequence[str] = (),
) -> dict[str, Any]:
    """Check a plan run's evidence before applying it; return the plan (``Plan.to_dict()``).

    Refuses (EvidenceError) unless the plan's run is recorded in
    ``evidence_root`` (the root this run writes to, not any root that
    verifies) and verifies there (:func:`kmsi_lib.evidence.verified_run`:
    chain, anchor, ``expect``, the run's files and record), it was a
    successful plan run under ``change_id`` (when given), and it was made for
    the same procedure, the same parameters (compared after filling in
    defaults) and the same org. The plan returned is parsed from the bytes
    whose hash the ledger holds.
    """
    return approved(
        plan_evidence,
        procedure=procedure,
        params=params,
        org_url=org_url,
        evidence_root=evidence_root,
        change_id=change_id,
        expect=expect,
    )[0]


def approved(
    plan_evidence: Path,
    *,
    procedure: str,
    params: Mapping[str, Any],
    org_url: str,
    evidence_root: Path,
    change_id: str,
    expect: Sequence[str],
) -> tuple[dict[str, Any], evidence.VerifiedRun]:
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
    theirs = normalized_params(procedure, record.get("parameters") or {})
    ours = normalized_params(procedure, params)
    if evidence.canonical_json(theirs) != evidence.canonical_json(ours):
        changed = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
        raise EvidenceError(
            "the approved plan was made with other parameters (differs in: "
            f"{', '.join(changed)}); plan again with these parameters"
        )
    planned_org = str((record.get("org") or {}).get("url") or plan.get("org_url") or "")
    if not _same_url(planned_org, org_url):
        raise EvidenceError(
            "the approved plan was made for the org "
            f"{secret_shapes.redact_config(planned_org)}, "
            f"not {org_url}"
        )
    return plan, verified


# ---------------------------------------------------------------- one run
