"""The HTML evidence: the executed notebook as a standalone page, with a banner of its record.

A reviewer reads ``notebook.html`` first; the banner says what ran, under
which change, how it ended, and that ``record.json`` and ``kmsi evidence
verify`` are what to trust.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from kmsi_lib.jsontypes import JsonMap

if TYPE_CHECKING:
    from nbconvert import HTMLExporter

__all__ = ["evidence_header", "export_html", "verification_ok", "warm_html_export"]


def verification_ok(verification: object) -> bool | None:
    """True/False when a verification (``{"ok": ..., ...}``) passed or not; None when none."""
    if not isinstance(verification, Mapping) or "ok" not in verification:
        return None
    return bool(verification["ok"])


def evidence_header(record: JsonMap) -> str:
    """An HTML banner with the run's record: what a reviewer reads before the notebook.

    Every value is escaped; the banner names ``record.json`` and the command that
    checks it, since the HTML itself is only as trustworthy as the ledger says.
    """
    org = record.get("org") if isinstance(record.get("org"), Mapping) else {}
    notebook = record.get("notebook") if isinstance(record.get("notebook"), Mapping) else {}
    approved = record.get("approved_plan")
    error = record.get("error")
    passed = verification_ok(record.get("verification"))
    assert isinstance(org, Mapping) and isinstance(notebook, Mapping)
    rows: list[tuple[str, str]] = [
        ("Run", str(record.get("run_id", ""))),
        ("Change", str(record.get("change_id", ""))),
        ("Procedure / mode", f"{record.get('procedure', '')} / {record.get('mode', '')}"),
        ("Status / outcome", f"{record.get('status', '')} / {record.get('outcome', '')}"),
        ("Verification", {True: "passed", False: "FAILED", None: "none made"}[passed]),
        ("Operator", str(record.get("operator", ""))),
        (
            "Started / finished (UTC)",
            f"{record.get('started_at', '')} / {record.get('finished_at', '')}",
        ),
        ("Org", f"{org.get('url', '')} ({org.get('type') or 'engine unknown'})"),
        (
            "Runbook",
            f"{notebook.get('path', '')} (template sha256 {notebook.get('template_sha256', '')})",
        ),
    ]
    if isinstance(approved, Mapping):
        rows.append(
            (
                "Approved plan",
                f"run {approved.get('run_id', '')}, record sha256 "
                f"{approved.get('record_sha256', '')}",
            )
        )
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
        '<p style="font-size:90%">The full record (parameters, plan, before-state, request '
        "journal, file hashes) is <code>record.json</code> next to this file. Check that "
        "nothing was edited with <code>kmsi evidence verify</code>.</p></div>"
    )


_BODY_TAG = re.compile(r"<body[^>]*>", re.IGNORECASE)


@functools.cache
def _html_exporter() -> HTMLExporter:
    """One nbconvert HTML exporter per process (its templates are compiled on first use)."""
    import nbconvert

    return nbconvert.HTMLExporter()  # type: ignore[no-untyped-call]  # nbconvert has no hints


def warm_html_export() -> None:
    """Import nbconvert and compile the exporter's templates now (an empty notebook rendered).

    ``kmsi run`` calls this on a thread while the kernel runs, so that the export of the
    executed notebook afterwards only renders it.
    """
    import nbformat

    _html_exporter().from_notebook_node(nbformat.v4.new_notebook())  # type: ignore[no-untyped-call]


def export_html(notebook_path: Path, html_path: Path, *, header: str = "") -> None:
    """Render an executed notebook as a standalone HTML page (nbconvert).

    ``header`` (HTML, e.g. :func:`evidence_header`) is put first in the page's body.
    """
    import nbformat

    # nbformat ships without type hints for this call.
    node = nbformat.read(str(notebook_path), as_version=4)  # type: ignore[no-untyped-call]
    body, _ = _html_exporter().from_notebook_node(node)
    if header:
        found = _BODY_TAG.search(body)
        at = found.end() if found else 0
        body = body[:at] + header + body[at:]
    html_path.write_text(body, encoding="utf-8")
