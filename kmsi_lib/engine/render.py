"""Plans, apply results and verifications as terminal text and HTML tables.

The model's ``to_text()`` and ``_repr_html_()`` call these; the audit uses
:func:`html_table` too.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from kmsi_lib.engine.impact_render import impact_html, impact_text
from kmsi_lib.engine.labels import field_label, object_label, value_words
from kmsi_lib.engine.preview import (
    PromptTexts,
    change_texts,
    prompt_preview_html,
    prompt_preview_text,
)
from kmsi_lib.jsontypes import JsonMap, arr, obj

if TYPE_CHECKING:  # the model imports this module; these are annotations only
    from kmsi_lib.engine.model import ApplyResult, Change, Check, Plan, Verification

__all__ = [
    "SHOWN_MOST",
    "apply_result_html",
    "apply_result_text",
    "change_rows",
    "failed_checks_text",
    "html_table",
    "plan_html",
    "plan_text",
    "policy_names",
    "show",
    "verification_html",
    "verification_rows",
    "verification_text",
]

_CHANGE_HEADERS = ("action", "object", "field", "before", "after")

#: How many items of a long list (changes, checks, System Log writes) a plan or an apply
#: shows; the rest are counted in a line below them (failed checks and writes the log does
#: not show come first). Every item is in the run's ``result.json`` and ``record.json``.
SHOWN_MOST = 50


def _more(total: int, what: str) -> str:
    """The line under a list cut at :data:`SHOWN_MOST`; empty when nothing was cut."""
    more = total - SHOWN_MOST
    if more <= 0:
        return ""
    return f"... and {more} more {what} (all {total} are in result.json and record.json)"


def _more_html(total: int, what: str) -> str:
    line = _more(total, what)
    return f'<p class="kmsi-more"><i>{html.escape(line)}</i></p>' if line else ""


def _with_more(lines: list[str], total: int, what: str) -> list[str]:
    line = _more(total, what)
    return [*lines, "  " + line] if line else lines


def _params_text(params: JsonMap) -> str:
    """Every parameter of the plan, defaults included, as compact JSON (sorted keys)."""
    return json.dumps(params, sort_keys=True, separators=(", ", ": "), default=str)


#: The kinds of change that send a sign-in page (a brand's prompt texts live there).
_PAGE_KINDS = ("sign_in_page", "sign_in_preview_page")


def _previews(plan: Plan) -> list[tuple[PromptTexts | None, PromptTexts, str]]:
    """(before, after, brand) prompt texts for each change that sends a sign-in page."""
    found = []
    for change in plan.changes:
        if change.kind in _PAGE_KINDS and change.after is not None:
            before, after = change_texts(change)
            where = " (preview page)" if change.kind == "sign_in_preview_page" else ""
            found.append((before, after, f"{change.ref.name or change.ref.id or ''}{where}"))
    return found


def policy_names(plan: Plan | None) -> dict[str, str]:
    """Policy and group names by id, from the plan's impact section (empty without one).

    A policy the plan creates is listed under its placeholder id (``$created:N``).
    """
    impact = (plan.impact or {}) if plan is not None else {}
    names = {str(k): str(v) for k, v in obj(impact.get("group_names")).items()}
    names.update({str(obj(p)["id"]): str(obj(p)["name"]) for p in arr(impact.get("policies"))})
    return names


def _object(change: Change, names: Mapping[str, str]) -> str:
    ref = change.ref
    name = ref.name or (names.get(ref.id) if ref.id else None)
    parent = names.get(ref.parent_id) if ref.parent_id else None
    return object_label(ref.kind, name, ref.id, ref.parent_id, parent)


def _people(value: object, names: Mapping[str, str]) -> object:
    """Group ids in a people condition, with their names."""
    if isinstance(value, list) and names:
        return [f"{names[v]} ({v})" if isinstance(v, str) and v in names else v for v in value]
    return value


def _field(path: str) -> str:
    label = field_label(path)
    return path if label == path else f"{label} ({path})"


def _value(path: str, value: object) -> str:
    text = value_words(path, value)
    return text if len(text) <= 80 else text[:77] + "..."


def change_rows(
    changes: Iterable[Change], names: Mapping[str, str] | None = None
) -> list[tuple[str, str, str, str, str]]:
    """(action, object, field, before, after) rows, one per field diff, in words.

    ``names`` gives policy names by id (a plan's impact section has them).
    """
    out: list[tuple[str, str, str, str, str]] = []
    for change in changes:
        label = _object(change, names or {}) + (f" [{change.note}]" if change.note else "")
        if not change.diffs:
            out.append((change.action, label, "", "", ""))
        for d in change.diffs:
            out.append(
                (
                    change.action,
                    label,
                    _field(d.path),
                    _value(d.path, _people(d.before, names or {})),
                    _value(d.path, _people(d.after, names or {})),
                )
            )
    return out


def _change_text(changes: Iterable[Change], names: Mapping[str, str]) -> list[str]:
    """Changes grouped by object: a heading line, then ``field: before -> after`` lines."""
    lines: list[str] = []
    for change in changes:
        note = f"  [{change.note}]" if change.note else ""
        lines.append(f"  {change.action} {_object(change, names)}{note}")
        fields = [_field(d.path) for d in change.diffs]
        width = max((len(f) for f in fields), default=0)
        lines.extend(
            f"      {f.ljust(width)}  {_value(d.path, _people(d.before, names))}"
            f" -> {_value(d.path, _people(d.after, names))}"
            for f, d in zip(fields, change.diffs, strict=True)
        )
    return lines


def show(value: object) -> str:
    """A value for a table cell: ``(absent)`` for None, JSON cut at 80 characters."""
    if value is None:
        return "(absent)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


# JupyterLab and nbconvert right-align table cells by default; object names and field
# paths read better left-aligned, so every cell says so itself.
_CELL_STYLE = ' style="text-align:left"'


def html_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """An escaped HTML table with left-aligned cells (plans, results, the audit)."""
    head = "".join(f"<th{_CELL_STYLE}>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td{_CELL_STYLE}>{html.escape(c)}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def plan_text(plan: Plan) -> str:
    """The plan for a terminal: warnings first, then parameters, changes, manual steps."""
    lines = [f"Plan: {plan.procedure} on {plan.org_url} at {plan.created_at}"]
    lines.extend(f"ATTENTION: {w}" for w in plan.warnings)
    lines.append("parameters in effect: " + _params_text(plan.params))
    lines.extend(impact_text(plan.impact))
    for before, after, brand in _previews(plan):
        lines.append(f"What users will see, brand {brand}:")
        lines.append(prompt_preview_text(before, after, brand=brand))
    if plan.is_empty:
        lines.append("No changes: the org already matches the parameters.")
    else:
        lines.append(f"{len(plan.changes)} change(s):")
        shown = _change_text(plan.changes[:SHOWN_MOST], policy_names(plan))
        lines.extend(_with_more(shown, len(plan.changes), "change(s)"))
    for step in plan.manual_steps:
        lines.append(f"manual step (needs an attestation at apply): {step.title}")
        lines.extend(f"    {n}. {text}" for n, text in enumerate(step.instructions, 1))
    lines.extend(f"note: {n}" for n in plan.notes)
    lines.append(f"fingerprint: {plan.fingerprint}")
    return "\n".join(lines)


def plan_html(plan: Plan) -> str:
    """The plan as HTML (a notebook's rich display)."""
    parts = [
        f"<p><b>Plan: {html.escape(plan.procedure)}</b> on {html.escape(plan.org_url)}"
        f" at {html.escape(plan.created_at)}</p>"
    ]
    parts.extend(
        '<p class="kmsi-warning" style="background:#fef7e0;padding:4px 8px">'
        f"<b>Attention:</b> {html.escape(w)}</p>"
        for w in plan.warnings
    )
    parts.append(
        "<p><b>Parameters in effect</b> (given or the procedure's defaults):"
        f" <code>{html.escape(_params_text(plan.params))}</code></p>"
    )
    parts.append(impact_html(plan.impact))
    for before, after, brand in _previews(plan):
        parts.append(
            f"<p><b>What users will see</b>, brand {html.escape(brand)}:</p>"
            + prompt_preview_html(before, after, brand=brand)
        )
    if plan.is_empty:
        parts.append("<p>No changes: the org already matches the parameters.</p>")
    else:
        rows = change_rows(plan.changes[:SHOWN_MOST], policy_names(plan))
        parts.append(html_table(_CHANGE_HEADERS, rows) + _more_html(len(plan.changes), "change(s)"))
    for step in plan.manual_steps:
        items = "".join(f"<li>{html.escape(t)}</li>" for t in step.instructions)
        parts.append(
            f"<p><b>Manual step</b> (needs an attestation at apply):"
            f" {html.escape(step.title)}</p><ol>{items}</ol>"
        )
    parts.extend(f"<p>Note: {html.escape(n)}</p>" for n in plan.notes)
    return "".join(parts)


def _failed_first(verification: Verification) -> list[Check]:
    """The checks with the failed ones first (each group in its own order)."""
    checks = list(verification.checks)
    return [c for c in checks if not c.ok] + [c for c in checks if c.ok]


def failed_checks_text(verification: Verification, most: int = 5) -> str:
    """The failed checks in one line, each with what was expected and what was found:
    ``rule 'X' postAuthPromptFrequency: expected 'PT168H', found 'PT24H'; ...``."""
    failed = [c for c in verification.checks if not c.ok]
    shown = "; ".join(
        f"{c.name}: expected {show(c.expected)}, found {show(c.actual)}" for c in failed[:most]
    )
    return shown + (f"; and {len(failed) - most} more" if len(failed) > most else "")


def verification_rows(verification: Verification) -> list[tuple[str, str, str, str]]:
    """(result, check, expected, actual) rows, the failed checks first."""
    return [
        ("ok" if c.ok else "FAILED", c.name, show(c.expected), show(c.actual))
        for c in _failed_first(verification)
    ]


def verification_text(verification: Verification) -> str:
    """Passed or FAILED with counts, the failed checks first with expected and found, notes."""
    failed = sum(not c.ok for c in verification.checks)
    head = f"Verification: {'passed' if verification.ok else 'FAILED'}"
    head += f" ({len(verification.checks)} checks"
    head += f", {failed} failed)" if failed else ")"
    lines = [head]
    for c in _failed_first(verification)[:SHOWN_MOST]:
        lines.append(f"  {'ok    ' if c.ok else 'FAILED'}  {c.name}")
        if not c.ok:
            lines.append(f"          expected {show(c.expected)}, found {show(c.actual)}")
    lines = _with_more(lines, len(verification.checks), "check(s)")
    lines.extend(f"note: {n}" for n in verification.notes)
    return "\n".join(lines)


_FAILED_STYLE = ' style="text-align:left;color:#b3261e;font-weight:bold"'


def verification_html(verification: Verification) -> str:
    """The verification as HTML: a heading (red when it failed), the failed checks first and
    in red with expected and actual, then the others, then the notes."""
    failed = [c for c in verification.checks if not c.ok]
    if failed:
        head = (
            f'<p class="kmsi-verify-failed" style="color:#b3261e"><b>Verification: FAILED</b>'
            f" ({len(failed)} of {len(verification.checks)} checks did not pass)</p>"
        )
    else:
        head = "<p><b>Verification: passed</b></p>"
    notes = "".join(f"<p>Note: {html.escape(n)}</p>" for n in verification.notes)
    headers = ("result", "check", "expected", "actual")
    head_row = "".join(f"<th{_CELL_STYLE}>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        ('<tr class="kmsi-check-failed">' if row[0] == "FAILED" else "<tr>")
        + "".join(
            f"<td{_FAILED_STYLE if row[0] == 'FAILED' else _CELL_STYLE}>{html.escape(c)}</td>"
            for c in row
        )
        + "</tr>"
        for row in verification_rows(verification)[:SHOWN_MOST]
    )
    table = f"<table><thead><tr>{head_row}</tr></thead><tbody>{body}</tbody></table>"
    return head + table + _more_html(len(verification.checks), "check(s)") + notes


def apply_result_text(result: ApplyResult) -> str:
    """The apply for a terminal: outcome, error, attestation, writes, notes, verification."""
    lines = [f"Apply: {result.plan.procedure}: {result.outcome}"]
    failed = not result.verification.ok
    if failed:  # a failed read-back is the first thing to read, not the last row
        lines.append(verification_text(result.verification))
    if result.error:
        lines.append(f"error: {result.error}")
    if result.attestation:
        a = result.attestation
        lines.append(f"attested by {a.by} at {a.at}: {a.statement}")
    if result.applied:
        lines.append(f"{len(result.applied)} change(s) written:")
        written = (a.change for a in result.applied[:SHOWN_MOST])
        shown = _change_text(written, policy_names(result.plan))
        lines.extend(_with_more(shown, len(result.applied), "change(s) written"))
    else:
        lines.append("Nothing was written.")
    lines.extend(f"note: {n}" for n in result.notes)
    lines.extend(_okta_record_text(result.system_log))
    if not failed:
        lines.append(verification_text(result.verification))
    return "\n".join(lines)


_RECORD_HEADERS = ("write", "request id", "Okta's System Log", "actor", "time", "outcome")


def _record_rows(record: Sequence[JsonMap]) -> list[tuple[str, ...]]:
    """Rows of the first :data:`SHOWN_MOST` writes, those the log does not show first."""
    rows: list[tuple[str, ...]] = []
    for write in sorted(record, key=lambda w: bool(w.get("matched")))[:SHOWN_MOST]:
        sent = f"{write.get('method')} {write.get('path')}"
        rid = str(write.get("request_id") or "")
        events = [obj(event) for event in arr(write.get("events"))]
        if not events:
            rows.append((sent, rid, "NO EVENT: the log does not show this write", "", "", ""))
        for event in events:
            rows.append(
                (
                    sent,
                    rid,
                    f"{event.get('eventType')} ({event.get('target') or ''})",
                    str(event.get("actor") or ""),
                    str(event.get("published") or ""),
                    str(event.get("outcome") or ""),
                )
            )
    return rows


def _okta_record_text(record: Sequence[JsonMap]) -> list[str]:
    if not record:
        return []
    missing = sum(1 for w in record if not w.get("matched"))
    head = f"Okta's System Log: {len(record) - missing} of {len(record)} write(s) confirmed"
    lines = [head + (f", {missing} NOT shown" if missing else "")]
    lines.extend("  " + " | ".join(row) for row in _record_rows(record))
    return _with_more(lines, len(record), "write(s)")


def apply_result_html(result: ApplyResult) -> str:
    """The apply as HTML."""
    parts = [f"<p><b>Apply: {html.escape(result.plan.procedure)}: {result.outcome}</b></p>"]
    failed = not result.verification.ok
    if failed:
        parts.append(verification_html(result.verification))
    if result.error:
        parts.append(f"<p>Error: {html.escape(result.error)}</p>")
    if result.attestation:
        a = result.attestation
        parts.append(
            f"<p>Attested by {html.escape(a.by)} at {html.escape(a.at)}:"
            f" {html.escape(a.statement)}</p>"
        )
    if result.applied:
        parts.append(
            html_table(
                _CHANGE_HEADERS,
                change_rows(
                    (a.change for a in result.applied[:SHOWN_MOST]), policy_names(result.plan)
                ),
            )
            + _more_html(len(result.applied), "change(s) written")
        )
    else:
        parts.append("<p>Nothing was written.</p>")
    parts.extend(f"<p>Note: {html.escape(n)}</p>" for n in result.notes)
    if result.system_log:
        head = _okta_record_text(result.system_log)[0]
        parts.append(
            f'<p class="kmsi-okta-record"><b>{html.escape(head)}</b></p>'
            + html_table(_RECORD_HEADERS, _record_rows(result.system_log))
            + _more_html(len(result.system_log), "write(s)")
        )
    if not failed:
        parts.append(verification_html(result.verification))
    return "".join(parts)
