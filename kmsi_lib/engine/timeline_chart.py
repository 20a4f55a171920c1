"""A chart of :class:`~kmsi_lib.engine.timeline.Timeline` s: what users meet, before and after.

:func:`timeline_svg` draws the working weeks on a day axis, one row per
timeline (typically before and after a change, each for a user who stays signed
in and one who does not), one marker per event, a marker shape and colour per
kind of event, and a legend. :func:`timeline_html` wraps the SVG in an
``<img>`` for a notebook or a report.

The picture is an SVG document built with drawsvg (a small library without
dependencies of its own), not a plot library's figure: a plan draws its chart
in the kernel and the report draws it again in the runner, and matplotlib cost
about half a second each time (most of it its import). The text is the same
for the same timelines (no ids, no dates, coordinates rounded), so a chart
hashes the same when drawn again; it scales without blurring and its labels
stay text. drawsvg is imported when a chart is drawn, not with the engine.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

from kmsi_lib.engine.timeline import DAY, EVENT_KINDS, EventKind, Timeline

if TYPE_CHECKING:
    import drawsvg

__all__ = ["timeline_html", "timeline_svg"]

#: kind -> (marker, colour, legend text)
_STYLE: dict[EventKind, tuple[str, str, str]] = {
    "app_access": ("|", "#9e9e9e", "opens the app"),
    "sign_in": ("o", "#1f77b4", "signs in (password)"),
    "mfa_prompt": ("^", "#d62728", "MFA prompt"),
    "kmsi_prompt": ("s", "#2ca02c", '"Stay signed in?" prompt'),
    "reauthenticate": ("D", "#ff7f0e", "app re-authentication"),
    "session_expired": ("x", "#7f7f7f", "Okta session ends"),
}
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _rows(
    before: Timeline | Sequence[Timeline] | None, after: Timeline | Sequence[Timeline]
) -> list[tuple[str, Timeline]]:
    def listed(found: Timeline | Sequence[Timeline] | None) -> list[Timeline]:
        if found is None:
            return []
        return [found] if isinstance(found, Timeline) else list(found)

    rows = [("before", t) for t in listed(before)] + [("after", t) for t in listed(after)]
    if not rows:
        raise ValueError("timeline_svg needs at least one timeline")
    return rows


def _row_label(side: str, found: Timeline) -> str:
    counts = found.counts()
    said = (
        f"{counts['sign_in']} sign-ins, {counts['mfa_prompt']} MFA, {counts['kmsi_prompt']} KMSI"
        if found.decided
        else "not decided"
    )
    return f"{side}: {found.choice}\n{said}"


# the layout, in pixels: 1200 wide, a row 70 high, the rest title, days and legend
_WIDTH, _ROW, _TOP, _BOTTOM = 1200, 70, 40, 85
_LEFT, _RIGHT = 240, 1176  # the plot area's left and right edges
_FONT = {"font_family": "DejaVu Sans, Verdana, sans-serif", "font_size": 12}
_MARK = 3.5  # a marker's half size


def _marker(kind: EventKind, x: float, y: float) -> drawsvg.DrawingBasicElement:
    """The marker of one event: its kind's shape and colour, centred on (x, y)."""
    import drawsvg

    shape, colour, _ = _STYLE[kind]
    m = _MARK
    if shape == "|":
        return drawsvg.Line(x, y - 2 * m, x, y + 2 * m, stroke=colour, stroke_width=1.5)
    if shape == "o":
        return drawsvg.Circle(x, y, m, fill=colour)
    if shape == "^":
        return drawsvg.Lines(x, y - m, x + m, y + m, x - m, y + m, close=True, fill=colour)
    if shape == "s":
        return drawsvg.Rectangle(x - m, y - m, 2 * m, 2 * m, fill=colour)
    if shape == "D":
        return drawsvg.Lines(x, y - m, x + m, y, x, y + m, x - m, y, close=True, fill=colour)
    cross = f"M{x - m},{y - m} L{x + m},{y + m} M{x - m},{y + m} L{x + m},{y - m}"
    return drawsvg.Path(cross, stroke=colour, stroke_width=1.5)


def timeline_svg(
    before: Timeline | Sequence[Timeline] | None,
    after: Timeline | Sequence[Timeline],
    *,
    title: str,
) -> str:
    """An SVG document of the timelines, ``before`` rows on top, then ``after``.

    Each side is one :class:`Timeline` or several (e.g. the user who stays
    signed in and the one who does not); ``before`` may be ``None`` (a new
    rule). A timeline that could not be played shows why instead of markers.
    Raises :class:`ValueError` when there is no timeline at all.
    """
    import drawsvg

    rows = _rows(before, after)
    days = max(t.pattern.minutes for _, t in rows) // DAY
    workdays = set().union(*(t.pattern.workdays for _, t in rows))
    plot_height = _ROW * len(rows) + 25
    height = _TOP + plot_height + _BOTTOM
    span = len(rows) + 0.2  # rows run from -0.6 to len - 0.4, the top row highest

    def x_of(day: float) -> float:
        return round(_LEFT + (_RIGHT - _LEFT) * day / days, 1)

    def y_of(value: float) -> float:
        return round(_TOP + plot_height * (len(rows) - 0.4 - value) / span, 1)

    picture = drawsvg.Drawing(_WIDTH, height)
    picture.append_title(title)
    picture.append(drawsvg.Rectangle(0, 0, _WIDTH, height, fill="white"))
    bottom = _TOP + plot_height
    for day in range(days):
        if day % 7 not in workdays:
            picture.append(
                drawsvg.Rectangle(
                    x_of(day), _TOP, x_of(day + 1) - x_of(day), plot_height, fill="#eeeeee"
                )
            )
        picture.append(
            drawsvg.Line(x_of(day), _TOP, x_of(day), bottom, stroke="#dddddd", stroke_width=0.6)
        )
        centre = x_of(day + 0.5)
        picture.append(
            drawsvg.Text(
                [_DAY_NAMES[day % 7], f"w{day // 7 + 1}"],
                x=centre,
                y=bottom + 16,
                text_anchor="middle",
                **_FONT,
            )
        )
    offsets = {k: (i - (len(EVENT_KINDS) - 1) / 2) * 0.1 for i, k in enumerate(EVENT_KINDS)}
    for row, (side, found) in enumerate(rows):
        value = len(rows) - 1 - row
        label = _row_label(side, found).split("\n")
        picture.append(
            drawsvg.Text(label, x=_LEFT - 8, y=y_of(value) - 4, text_anchor="end", **_FONT)
        )
        if not found.decided:
            why = "; ".join(found.undecided)
            picture.append(
                drawsvg.Text(
                    f"not played: {why[:150]}",
                    x=x_of(0.1),
                    y=y_of(value) + 4,
                    fill="#555555",
                    **_FONT,
                )
            )
        for kind in EVENT_KINDS:
            y = y_of(value + offsets[kind])
            for event in found.events:
                if event.kind == kind:
                    picture.append(_marker(kind, x_of(event.minute / DAY), y))
    picture.append(
        drawsvg.Rectangle(
            _LEFT,
            _TOP,
            _RIGHT - _LEFT,
            plot_height,
            fill="none",
            stroke="#333333",
            stroke_width=0.8,
        )
    )
    picture.append(
        drawsvg.Text(
            title,
            x=(_LEFT + _RIGHT) / 2,
            y=_TOP - 12,
            text_anchor="middle",
            font_weight="bold",
            **_FONT,
        )
    )
    step = _WIDTH / len(EVENT_KINDS)
    for i, kind in enumerate(EVENT_KINDS):
        x, y = round(step * i + 24, 1), height - 20
        picture.append(_marker(kind, x, y))
        picture.append(drawsvg.Text(_STYLE[kind][2], x=x + 10, y=y + 4, **_FONT))
    return str(picture.as_svg())


def timeline_html(svg: str, alt: str) -> str:
    """An ``<img>`` holding ``svg`` as a data URL, with ``alt`` escaped for HTML.

    Raises :class:`ValueError` when ``svg`` is not an SVG document.
    """
    if not isinstance(svg, str) or "<svg" not in svg[:400]:
        raise ValueError("timeline_html takes the text of an SVG document")
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return f'<img src="data:image/svg+xml;base64,{data}" alt="{html.escape(alt, quote=True)}">'
