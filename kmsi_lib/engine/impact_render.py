"""The impact section of a plan as terminal text and as HTML (see :mod:`.impact`)."""

from __future__ import annotations

import html

from kmsi_lib.engine.impact import PlanImpact, PolicyEntry, RuleEntry
from kmsi_lib.engine.impact_timeline import timeline_figure, timeline_lines
from kmsi_lib.jsontypes import JsonMap, arr, obj

__all__ = ["impact_html", "impact_text", "timeline_section_html"]


def _rule_line(rule: RuleEntry) -> str:
    priority = "-" if rule.priority is None else str(rule.priority)
    mark = " (changed by this plan)" if rule.changed else ""
    state = "" if rule.status == "ACTIVE" else f" [{rule.status}]"
    return f"{priority}. {rule.name!r}{state}: {rule.covers}{mark}"


def _apps_line(policy: PolicyEntry) -> str:
    if policy.kind == "global session policy":
        return "applies to every app its people sign in to"
    if not policy.apps:
        return "assigned to no app"
    shown = ", ".join(a.label + (" (named)" if a.selected else "") for a in policy.apps)
    return f"assigned to {len(policy.apps)} app(s): {shown}"


def impact_text(data: JsonMap) -> list[str]:
    """The impact section as lines for a terminal (empty for a plan with none)."""
    if not data:
        return []
    impact = PlanImpact.from_dict(data)
    lines = ["Impact on people (before -> after):"]
    if impact.error:
        lines.append(f"  could not be worked out: {impact.error}")
    for policy in impact.policies:
        made = " (created by this plan)" if policy.created else ""
        lines.append(f"  {policy.kind} {policy.name!r}{made} [{policy.id}]")
        lines.append(f"    {_apps_line(policy)}")
        lines.append("    rules in evaluation order:")
        lines.extend(f"      {_rule_line(r)}" for r in policy.rules)
    if impact.cohorts:
        for cohort in impact.cohorts:
            where = (
                "every app"
                if cohort.apps == ("every app",)
                else f"{cohort.app_count} app(s): {', '.join(cohort.apps)}"
            )
            lines.append(f"  {cohort.cohort}, on {where}:")
            lines.extend(f"    {c}" for c in cohort.changes)
    elif not impact.error:
        lines.append("  nobody's sign-in changes")
    lines.extend(f"  warning: {w}" for w in impact.warnings)
    lines.extend(f"  {line}" for line in timeline_lines(impact.timeline))
    lines.extend(f"  cross-check: {line}" for line in _crosscheck_lines(impact))
    return lines


def _crosscheck_lines(impact: PlanImpact) -> list[str]:
    data = impact.crosscheck
    if not data:
        return []
    texts = [str(obj(d).get("text", "")) for d in arr(data.get("disagreements"))]
    return [str(data.get("summary", "")), *texts]


def impact_html(data: JsonMap) -> str:
    """The impact section as HTML (empty for a plan with none)."""
    if not data:
        return ""
    impact = PlanImpact.from_dict(data)
    esc = html.escape
    parts = ['<div class="kmsi-impact"><p><b>Impact on people</b> (before &rarr; after)</p>']
    if impact.error:
        parts.append(f"<p>Could not be worked out: {esc(impact.error)}</p>")
    for policy in impact.policies:
        made = " (created by this plan)" if policy.created else ""
        rules = "".join(f"<li>{esc(_rule_line(r))}</li>" for r in policy.rules)
        parts.append(
            f"<p>{esc(policy.kind.capitalize())} <b>{esc(policy.name)}</b>{esc(made)}"
            f' <span style="color:#666">{esc(policy.id)}</span>: {esc(_apps_line(policy))}.'
            f' Rules in evaluation order:</p><ol style="list-style:none">{rules}</ol>'
        )
    if impact.cohorts:
        rows = []
        for cohort in impact.cohorts:
            where = (
                "every app"
                if cohort.apps == ("every app",)
                else f"{cohort.app_count} app(s): {', '.join(cohort.apps)}"
            )
            changes = "<br>".join(esc(c) for c in cohort.changes)
            rows.append(
                f'<tr><td style="text-align:left">{esc(cohort.cohort)}</td>'
                f'<td style="text-align:left">{esc(where)}</td>'
                f'<td style="text-align:left">{changes}</td></tr>'
            )
        parts.append(
            "<table><thead><tr><th>who</th><th>on</th><th>what changes</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
        )
    elif not impact.error:
        parts.append("<p>Nobody's sign-in changes.</p>")
    parts.extend(
        f'<p class="kmsi-warning" style="background:#fef7e0;padding:4px 8px">{esc(w)}</p>'
        for w in impact.warnings
    )
    parts.extend(
        f'<p class="kmsi-crosscheck"><i>Cross-check:</i> {esc(line)}</p>'
        for line in _crosscheck_lines(impact)
    )
    if impact.timeline:
        parts.append(timeline_section_html(impact.timeline))
    parts.append("</div>")
    return "".join(parts)


def timeline_section_html(data: JsonMap) -> str:
    """The chart (an SVG inline) and its lines in words; the words alone if it cannot be drawn."""
    from kmsi_lib.engine.timeline_chart import timeline_html

    words = "".join(f"<li>{html.escape(line.strip())}</li>" for line in timeline_lines(data)[1:])
    title = html.escape(str(data.get("title", "")))
    try:
        picture = timeline_html(timeline_figure(data), f"timeline: {data.get('title', '')}")
    except (ImportError, ValueError) as exc:  # no drawsvg, or nothing to draw
        picture = f"<p><i>The chart could not be drawn ({html.escape(str(exc))}).</i></p>"
    return (
        f'<div class="kmsi-timeline"><p><b>Two working weeks</b> of {title}'
        f"{', before and after,' if data.get('before') else ''}"
        " for a user who does and one who does not stay signed in:</p>"
        f"{picture}<ul>{words}</ul></div>"
    )
