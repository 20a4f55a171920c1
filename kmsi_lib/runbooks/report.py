"""The report of a run: what an auditor reads, without code (``report.html``, ``report.pdf``).

The executed notebook (``notebook.html``) holds every cell, for whoever wants
the detail. The report holds what a change board and an auditor look for, once:

1. the record's banner (run, ticket, procedure, mode, outcome, verification,
   operator, approver and the approval's status, attestation, org, times, the
   runbook's template hash);
2. the parameters in effect, once (the plan's own line);
3. the plan: the impact on people and the field diff (or the audit's report);
4. the apply: what was written, Okta's System Log confirmation of each write,
   and the verification with failed checks first;
5. how to roll it back.

:func:`report_files` gives the files for :func:`kmsi_lib.evidence.record_run`
to hash with the rest of the run. The PDF (for attaching to a ticket) is
printed by Debian's headless ``chromium`` when ``KMSI_REPORT_PDF=1`` (the demo
sets it); without a browser the report says so and no PDF is written.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from kmsi_lib import evidence
from kmsi_lib.jsontypes import JsonMap, obj

__all__ = ["PDF_ENV", "REPORT_HTML", "REPORT_PDF", "report_files", "report_html"]

REPORT_HTML = "report.html"
REPORT_PDF = "report.pdf"
PDF_ENV = "KMSI_REPORT_PDF"
_CHROMIUM = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")


def _section(title: str, body: str) -> str:
    return f"<section><h2>{html.escape(title)}</h2>{body}</section>"


def _approval_rows(record: JsonMap) -> str:
    approval = record.get("approval")
    attestation = obj(record.get("apply_result")).get("attestation")
    rows: list[tuple[str, str]] = []
    if isinstance(approval, Mapping):
        if approval.get("status") == "valid":
            rows.append(
                (
                    "Approval",
                    f"valid signature by {approval.get('approver')} at"
                    f" {approval.get('approved_at')}, expires {approval.get('expires_at')}"
                    f" (key sha256 {approval.get('key_sha256')})",
                )
            )
        else:
            rows.append(("Approval", str(approval.get("status"))))
    elif record.get("mode") == "apply":
        rows.append(("Approval", "none recorded"))
    if isinstance(attestation, Mapping):
        rows.append(
            (
                "Attestation",
                f"{attestation.get('by')} at {attestation.get('at')}: "
                f"{attestation.get('statement')}",
            )
        )
    cells = "".join(
        f'<tr><th style="text-align:left;padding:2px 12px 2px 0">{html.escape(k)}</th>'
        f"<td>{html.escape(v)}</td></tr>"
        for k, v in rows
    )
    return f'<table class="kmsi-approval">{cells}</table>' if rows else ""


def _plan_html(record: JsonMap) -> str:
    plan = record.get("plan")
    if not isinstance(plan, Mapping):
        return "<p>The run recorded no plan.</p>"
    try:
        if record.get("procedure") == "audit":
            from kmsi_lib.procedures.audit import AuditReport

            return AuditReport.from_dict(plan)._repr_html_()
        from kmsi_lib.engine import Plan

        return Plan.from_dict(plan)._repr_html_()
    except Exception as exc:  # a record from an older version: show it as data
        return (
            f"<p>The plan could not be rendered ({html.escape(type(exc).__name__)});"
            f" as recorded:</p><pre>{html.escape(json.dumps(plan, indent=1)[:20000])}</pre>"
        )


def _apply_html(record: JsonMap) -> str:
    result = record.get("apply_result")
    if not isinstance(result, Mapping):
        return ""
    try:
        from kmsi_lib.engine import ApplyResult

        applied = ApplyResult.from_dict(result)
    except Exception as exc:
        return f"<p>The apply result could not be rendered ({html.escape(str(exc))}).</p>"
    checks = applied.verification.checks
    applied.verification.checks = [c for c in checks if not c.ok] + [c for c in checks if c.ok]
    return applied._repr_html_()


def _rollback_html(record: JsonMap, run_path: str) -> str:
    if record.get("mode") != "apply" or record.get("procedure") in ("audit", "reset_sessions"):
        return ""
    result = f"{run_path}/result.json" if run_path else "<this run>/result.json"
    return _section(
        "Rolling it back",
        "<p>Plan the rollback from this run's recorded before-state, then apply it under a"
        " change ticket:</p><pre>"
        + html.escape(
            f"echo 'apply_result: {result}' > rollback.yaml\n"
            "kmsi run notebooks/90_rollback.ipynb -f rollback.yaml --mode plan --change CHG-…\n"
            "kmsi run notebooks/90_rollback.ipynb -f rollback.yaml --mode apply --change CHG-… "
            "--approved-plan <the rollback plan run>"
        )
        + "</pre>",
    )


def report_html(record: JsonMap) -> str:
    """The report page (self-contained HTML, no code) of a run's record."""
    run_path = f"{record.get('change_id', '')}/{record.get('run_id', '')}"
    params = json.dumps(record.get("parameters") or {}, indent=2, sort_keys=True, default=str)
    body = "".join(
        [
            evidence.evidence_header(record),
            _approval_rows(record),
            # the plan states every parameter in effect (defaults included) once; a run
            # that made no plan shows the ones the params file named
            ""
            if isinstance(record.get("plan"), Mapping)
            else _section("Parameters named", f"<pre>{html.escape(params)}</pre>"),
            _section("Plan", _plan_html(record)),
            _section("Apply", _apply_html(record)) if record.get("apply_result") else "",
            _rollback_html(record, run_path),
        ]
    )
    title = html.escape(f"Report of run {record.get('run_id', '')}")
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title>'
        "<style>body{font-family:sans-serif;margin:16px 32px}table{border-collapse:collapse}"
        "td,th{padding:2px 8px;vertical-align:top}pre{white-space:pre-wrap}</style>"
        f'</head><body class="kmsi-report">{body}</body></html>'
    )


def _chromium() -> str | None:
    for name in _CHROMIUM:
        found = (
            shutil.which(name)
            if not name.startswith("/")
            else (name if Path(name).exists() else None)
        )
        if found:
            return found
    return None


def _pdf(page: str) -> bytes | None:
    """The page printed to PDF by headless chromium; None when there is none."""
    browser = _chromium()
    if browser is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        source.write_text(page, encoding="utf-8")
        args = [
            browser, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", f"--user-data-dir={tmp}/profile", "--no-pdf-header-footer",
            f"--print-to-pdf={target}", source.as_uri(),
        ]  # fmt: skip
        try:
            subprocess.run(args, capture_output=True, timeout=60, check=False)  # noqa: S603
        except (OSError, subprocess.TimeoutExpired):
            return None
        return target.read_bytes() if target.is_file() else None


def report_files(record: JsonMap) -> dict[str, bytes]:
    """``report.html``, and ``report.pdf`` when ``KMSI_REPORT_PDF=1`` and chromium prints it."""
    page = report_html(record)
    files = {REPORT_HTML: page.encode("utf-8")}
    if os.environ.get(PDF_ENV, "").strip() == "1":
        printed = _pdf(page)
        if printed is not None:
            files[REPORT_PDF] = printed
    return files
