"""The timeline of a plan's impact: one cohort's two working weeks, before and after.

A plan's impact lists who is affected in words; the timeline shows it for the
first cohort whose sign-in changes, on one app it reaches: sign-ins, MFA
prompts, the stay-signed-in prompt, session ends and re-authentications over
two working weeks, for a user who answers the prompt "yes" and one who answers
"no", before and after the change (:mod:`.timeline` plays the outcome). The
timelines are kept in the plan as plain data (:func:`timeline_data`, read back
by :func:`timelines_from`), so that the evidence holds what was shown and the
chart (:func:`timeline_figure`) can be drawn again from it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from kmsi_lib.engine.timeline import (
    EVENT_KINDS,
    Timeline,
    TimelineEvent,
    UsagePattern,
    timeline,
)
from kmsi_lib.jsontypes import JsonMap, JsonObject, JsonValue, arr, obj

if TYPE_CHECKING:
    from kmsi_lib.engine.outcome import SignInOutcome

__all__ = ["TIMELINE_FILE", "timeline_data", "timeline_figure", "timeline_lines", "timelines_from"]

#: The chart's file beside ``result.json`` in a run's evidence.
TIMELINE_FILE = "timeline.svg"


def _dump(played: Timeline) -> JsonObject:
    return {
        "label": played.label,
        "stay_signed_in": played.stay_signed_in,
        "events": [[e.minute, e.kind, e.text] for e in played.events],
        "undecided": list(played.undecided),
        "notes": list(played.notes),
    }


def _load(data: JsonMap) -> Timeline:
    return Timeline(
        label=str(data["label"]),
        stay_signed_in=bool(data["stay_signed_in"]),
        pattern=UsagePattern(),
        events=tuple(_event(row) for row in arr(data.get("events"))),
        undecided=tuple(str(u) for u in arr(data.get("undecided"))),
        notes=tuple(str(n) for n in arr(data.get("notes"))),
    )


def _event(row: JsonValue) -> TimelineEvent:
    """One ``[minute, kind, text]`` row of :func:`_dump` read back."""
    minute, kind, said = arr(row)
    known = next((k for k in EVENT_KINDS if k == kind), None)
    if isinstance(minute, bool) or not isinstance(minute, int | float | str) or known is None:
        raise ValueError(f"not a timeline event: {row!r}")
    return TimelineEvent(int(minute), known, str(said))


def timeline_data(before: SignInOutcome | None, after: SignInOutcome, *, title: str) -> JsonObject:
    """Both answers to the prompt, played before and after, as JSON-ready data.

    ``before`` None: only the org as it is (the audit), shown as "now".
    """
    return {
        "title": title,
        "before": (
            [_dump(timeline(before, stay_signed_in=s)) for s in (False, True)] if before else []
        ),
        "after": [_dump(timeline(after, stay_signed_in=s)) for s in (False, True)],
    }


def timelines_from(data: JsonMap) -> tuple[list[Timeline], list[Timeline]]:
    """The before and after timelines of :func:`timeline_data`'s output."""
    return _loaded(data.get("before")), _loaded(data.get("after"))


def _loaded(played: object) -> list[Timeline]:
    return [_load(obj(t)) for t in arr(played)]


def timeline_lines(data: JsonMap) -> list[str]:
    """The timelines in words: one line each, the counts (or why it was not played)."""
    if not data:
        return []
    before, after = timelines_from(data)
    lines = [f"two working weeks of {data.get('title', '')}:"]
    for when, played in (("before", before), ("after" if before else "now", after)):
        lines.extend(f"  {when}, the user {t.choice}: {t.summary()}" for t in played)
    return lines


def timeline_figure(data: JsonMap) -> str:
    """The chart of :func:`timeline_data`'s output as an SVG document.

    The text is deterministic, so a chart already drawn for the same data (the plan's
    HTML, then its evidence file) is given again instead of drawn twice.
    """
    key = json.dumps(data, sort_keys=True, default=str)
    drawn = _DRAWN.get(key)
    if drawn is None:
        drawn = _draw(data)
        _DRAWN.clear()  # one chart is kept: a plan's display and its evidence share it
        _DRAWN[key] = drawn
    return drawn


_DRAWN: dict[str, str] = {}


def _draw(data: JsonMap) -> str:
    from kmsi_lib.engine.timeline_chart import timeline_svg

    before, after = timelines_from(data)
    rows: Sequence[Timeline] = after
    return timeline_svg(before or None, rows, title=str(data.get("title", "")))
