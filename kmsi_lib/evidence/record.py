"""The run record: what a run reported (``result.json``), what the runner knew
(:class:`RunMeta`), assembled into ``record.json`` and recorded (:func:`record_run`).

:func:`record_run` turns a staging directory into evidence: the HTML export
with its banner (:mod:`.report`), the record, the secret scan (:mod:`.scan`),
then either the move into ``<change>/<run>`` and a ``run`` ledger entry, or
the deletion of every file and a ``quarantined`` entry (:mod:`.ledger`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pydantic

from kmsi_lib.errors import EvidenceError
from kmsi_lib.jsontypes import JsonMap, JsonObject, JsonValue, arr
from kmsi_lib.okta import protocol as _protocol
from kmsi_lib.runbooks.contract import (
    OUTCOME_FAILED,
    RESULT_FILE,
    RecordNotebook,
    RunOrg,
    RunRecord,
    RunResult,
)

from .files import RECORD_FILE, SCHEMA, read_json, remove_tree, write_json
from .hashing import file_digests
from .ledger import append_ledger
from .report import evidence_header, export_html, verification_ok
from .scan import SecretHit, describe_hits, scan_for_secrets

__all__ = [
    "RecordedRun",
    "RunMeta",
    "build_record",
    "load_record",
    "read_result",
    "record_run",
    "verification_passed",
    "write_result",
]


def write_result(evidence_dir: str | os.PathLike[str], result: RunResult | JsonMap) -> Path:
    """Write the notebook's ``result.json`` into ``evidence_dir`` (called by the runbook).

    ``result`` is a :class:`~kmsi_lib.runbooks.contract.RunResult` (the keys of the
    notebook/runner contract, :data:`~kmsi_lib.runbooks.contract.RESULT_KEYS`); a plain
    mapping (a test's hand-made result) is written as it is.
    """
    data = result.to_dict() if isinstance(result, RunResult) else dict(result)
    return write_json(Path(evidence_dir) / RESULT_FILE, data)


def read_result(run_dir: Path) -> RunResult | None:
    """The notebook's result.json, or None when the notebook never wrote one.

    Keys it lacks take their defaults and keys it has beyond :class:`RunResult`'s
    are ignored (older and newer evidence load alike); a value of the wrong type
    is an :class:`EvidenceError`.
    """
    path = run_dir / RESULT_FILE
    if not path.is_file():
        return None
    value = read_json(path, "result.json")
    if not isinstance(value, dict):
        raise EvidenceError(f"{path}: result.json is not a JSON object")
    try:
        return RunResult.model_validate(value)
    except pydantic.ValidationError as exc:
        raise EvidenceError(f"{path}: result.json is not a run result ({exc})") from None


def load_record(path: Path) -> tuple[Path, dict[str, Any]]:
    """Load a run record from a ``record.json`` path or its run directory."""
    record_path = path / RECORD_FILE if path.is_dir() else path
    record = read_json(record_path, "evidence record", missing="no such evidence record")
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        raise EvidenceError(f"{record_path}: not a kmsi evidence record (schema {SCHEMA})")
    return record_path, record


def _before_state(result: RunResult) -> JsonValue:
    applied = result.apply_result
    if applied is not None and applied.get("before_state") is not None:
        return applied["before_state"]
    plan = result.plan
    if plan is not None:
        return [
            {"ref": c.get("ref"), "action": c.get("action"), "before": c.get("before")}
            for c in arr(plan.get("changes"))
            if isinstance(c, dict)
        ]
    return None


def verification_passed(result: RunResult | None) -> bool | None:
    """True/False when the run verified or not; None when it made no verification."""
    return verification_ok(result.verification_reported if result is not None else None)


@dataclasses.dataclass(frozen=True)
class RunMeta:
    """What the runner knows about a run, besides what the notebook reported."""

    run_id: str
    change_id: str
    mode: str
    procedure: str
    notebook: str
    template_sha256: str
    parameters: Mapping[str, JsonValue]
    started_at: str
    finished_at: str
    operator: str
    org_url: str
    approved_plan: Mapping[str, JsonValue] | None = None
    #: the signed approval the apply went ahead on, or why none was needed (the sandbox)
    approval: Mapping[str, JsonValue] | None = None


def build_record(
    meta: RunMeta,
    result: RunResult | None,
    *,
    succeeded: bool,
    error: Mapping[str, JsonValue] | None,
    files: Mapping[str, str],
) -> JsonObject:
    """The run record (record.json): everything a reviewer needs, in one JSON object."""
    res = result or RunResult()
    org = res.org or RunOrg(url="")
    outcome = res.outcome or OUTCOME_FAILED
    if not succeeded:
        outcome = OUTCOME_FAILED
    return RunRecord(
        schema=SCHEMA,
        run_id=meta.run_id,
        change_id=meta.change_id,
        status="succeeded" if succeeded else "failed",
        outcome=outcome,
        mode=meta.mode,
        procedure=meta.procedure,
        started_at=meta.started_at,
        finished_at=meta.finished_at,
        operator=meta.operator,
        org=RunOrg(
            url=org.url or meta.org_url,
            pipeline=org.pipeline,
            type=_protocol.engine_name(org.pipeline),
        ),
        notebook=RecordNotebook(path=meta.notebook, template_sha256=meta.template_sha256),
        parameters=dict(meta.parameters),
        approved_plan=dict(meta.approved_plan) if meta.approved_plan else None,
        approval=dict(meta.approval) if meta.approval else None,
        plan=res.plan,
        before_state=_before_state(res),
        apply_result=res.apply_result,
        verification=res.verification_reported,
        journal=res.journal,
        error=dict(error) if error else res.error,
        result_reported=result is not None,
        files=dict(files),
    ).to_dict()


@dataclasses.dataclass(frozen=True)
class RecordedRun:
    """The result of :func:`record_run`: where the evidence went and what the ledger says."""

    run_dir: Path | None  # None when quarantined
    record: JsonObject | None
    entry: JsonObject
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
    error: Mapping[str, JsonValue] | None = None,
    secrets: Sequence[str] = (),
    captured: Mapping[str, bytes] | None = None,
    notebook_file: str = "notebook.ipynb",
    report: Callable[[JsonObject], Mapping[str, bytes]] | None = None,
) -> RecordedRun:
    """Turn a staging directory into recorded evidence (or quarantine it).

    Exports the HTML, writes record.json, scans every file and ``captured``
    output for ``secrets``; on a hit deletes the files and appends a
    ``quarantined`` ledger entry, otherwise moves the directory to
    ``root/<change>/<run>`` and appends a ``run`` entry. ``report``, given the
    record so far, returns more files to write beside it (the run's report) before
    everything is hashed.
    """
    notebook = staging / notebook_file
    problems: list[str] = []  # recorded as the error when the run reported none
    try:
        result = read_result(staging)
    except EvidenceError as exc:
        result, succeeded = None, False
        problems.append(str(exc))

    def assemble(files: Mapping[str, str]) -> JsonObject:
        found = {"type": "EvidenceError", "message": "; ".join(problems)} if problems else None
        return build_record(meta, result, succeeded=succeeded, error=error or found, files=files)

    if notebook.is_file():
        try:
            # The banner is the record so far: the files are hashed once the export exists.
            export_html(
                notebook, notebook.with_suffix(".html"), header=evidence_header(assemble({}))
            )
        except Exception as exc:  # a broken export must not lose the rest of the evidence
            problems.append(f"HTML export failed: {type(exc).__name__}: {exc}")
    if report is not None:
        try:
            for name, data in report(assemble({})).items():
                if Path(name).name == name and name != RECORD_FILE:
                    (staging / name).write_bytes(data)
        except Exception as exc:  # the report is a reading aid: the record stands without it
            problems.append(f"report failed: {type(exc).__name__}: {exc}")
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
        entry = append_ledger(
            root,
            {
                **common,
                "kind": "quarantined",
                "path": None,
                "outcome": "quarantined",
                "record_sha256": None,
                "files": {},
                "reason": f"a secret was found in {len({h.file for h in hits})} file(s): "
                + describe_hits(hits),
            },
        )
        return RecordedRun(None, None, entry, tuple(hits))

    final = root / meta.change_id / meta.run_id
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging, final)
    digests = file_digests(final)
    entry = append_ledger(
        root,
        {
            **common,
            "kind": "run",
            "path": f"{meta.change_id}/{meta.run_id}",
            "outcome": record["outcome"],
            "status": record["status"],
            "record_sha256": digests[RECORD_FILE],
            "files": digests,
        },
    )
    return RecordedRun(final, record, entry, ())
