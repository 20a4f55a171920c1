"""The audit's findings as a table: rows for CSV, the CSV and JSON files, text and HTML.

Pure functions over :class:`~kmsi_lib.procedures.audit_rules.Finding` lists.
The columns are stable (:data:`FINDING_COLUMNS`): tools that read
``findings.csv`` can rely on their names and order. A list cell (apps,
cohorts) holds the names joined by ``"; "``; ids are in the ``ids`` column.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Callable, Mapping, Sequence

from kmsi_lib.engine import html_table
from kmsi_lib.jsontypes import JsonObject
from kmsi_lib.procedures.audit_rules import SEVERITY_ORDER, Finding

__all__ = [
    "FINDINGS_CSV",
    "FINDINGS_JSON",
    "FINDING_COLUMNS",
    "NO_FINDINGS",
    "finding_rows",
    "findings_csv",
    "findings_document",
    "findings_files",
    "findings_html",
    "findings_text",
]

_SEPARATOR = "; "

#: Each column of ``findings.csv``, in order, and what a finding shows in it.
_CELLS: dict[str, Callable[[Finding], str]] = {
    "severity": lambda f: f.severity,
    "finding": lambda f: f.code,
    "policy": lambda f: f.policy_name,
    "rule": lambda f: f.object_name,
    "apps": lambda f: _SEPARATOR.join(f.apps),
    "cohorts": lambda f: _SEPARATOR.join(f.cohorts),
    "ids": lambda f: f.ids,
    "detail": lambda f: f.message,
}

#: The columns of ``findings.csv``, in order.
FINDING_COLUMNS: tuple[str, ...] = tuple(_CELLS)

#: The file names the audit writes beside ``result.json`` when it runs as a runbook.
FINDINGS_JSON = "findings.json"
FINDINGS_CSV = "findings.csv"

#: What an empty findings table says.
NO_FINDINGS = "No findings."


def finding_rows(findings: Sequence[Finding]) -> list[dict[str, str]]:
    """One dict per finding, keyed by :data:`FINDING_COLUMNS` (every value a string)."""
    return [{column: cell(f) for column, cell in _CELLS.items()} for f in findings]


def findings_csv(findings: Sequence[Finding]) -> str:
    """The findings as CSV text: a header of :data:`FINDING_COLUMNS`, one row per finding."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FINDING_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(finding_rows(findings))
    return out.getvalue()


def findings_document(findings: Sequence[Finding], *, org_url: str, created_at: str) -> JsonObject:
    """The content of ``findings.json``: the org, when, counts per severity, the findings."""
    counts = dict.fromkeys(SEVERITY_ORDER, 0)
    for f in findings:
        counts[f.severity] += 1
    return {
        "org_url": org_url,
        "created_at": created_at,
        "columns": list(FINDING_COLUMNS),
        "counts": {**counts},
        "findings": [f.to_dict() for f in findings],
    }


def findings_files(findings: Sequence[Finding], *, org_url: str, created_at: str) -> dict[str, str]:
    """``findings.json`` and ``findings.csv`` by file name, as text."""
    document = findings_document(findings, org_url=org_url, created_at=created_at)
    return {
        FINDINGS_JSON: json.dumps(document, indent=2, ensure_ascii=False) + "\n",
        FINDINGS_CSV: findings_csv(findings),
    }


def findings_text(findings: Sequence[Finding]) -> str:
    """The findings for a terminal: one block per finding, names first, ids last."""
    if not findings:
        return f"  {NO_FINDINGS}"
    lines: list[str] = []
    for row in finding_rows(findings):
        lines.append(f"  [{row['severity']}] {row['finding']}: {_where(row)}")
        lines.append(f"    apps: {row['apps'] or '-'}")
        lines.append(f"    cohorts: {row['cohorts'] or '-'}")
        lines.append(f"    {row['detail']}")
        lines.append(f"    ids: {row['ids']}")
    return "\n".join(lines)


def findings_html(findings: Sequence[Finding]) -> str:
    """The findings as an escaped HTML table, or a paragraph saying there are none."""
    if not findings:
        return f"<p>{html.escape(NO_FINDINGS)}</p>"
    headers = list(FINDING_COLUMNS)
    return html_table(headers, [[row[c] for c in headers] for row in finding_rows(findings)])


def _where(row: Mapping[str, str]) -> str:
    return f"policy {row['policy']!r} > rule {row['rule']!r}"
