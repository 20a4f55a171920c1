"""A chart of :class:`~kmsi_lib.engine.timeline.Timeline` s: what users meet, before and after.

:func:`timeline_png` draws the working weeks on a day axis, one row per
timeline (typically before and after a change, each for a user who stays signed
in and one who does not), one marker per event, a marker shape and colour per
kind of event, and a legend. :func:`timeline_html` wraps the PNG in an
``<img>`` for a notebook or a report.

matplotlib is imported inside :func:`timeline_png` only, so importing this
module (and :mod:`kmsi_lib.engine`) costs nothing and works without matplotlib
installed. The figure is drawn on its own Agg canvas (no pyplot, no global
backend, no display needed), and the PNG carries no "Software" text, so the
same timelines give the same bytes with the same matplotlib and fonts.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence

from kmsi_lib.engine.timeline import DAY, EVENT_KINDS, EventKind, Timeline

__all__ = ["timeline_html", "timeline_png"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

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
        raise ValueError("timeline_png needs at least one timeline")
    return rows


def _row_label(side: str, found: Timeline) -> str:
    counts = found.counts()
    said = (
        f"{counts['sign_in']} sign-ins, {counts['mfa_prompt']} MFA, {counts['kmsi_prompt']} KMSI"
        if found.decided
        else "not decided"
    )
    return f"{side}: {found.choice}\n{said}"


def timeline_png(
    before: Timeline | Sequence[Timeline] | None,
    after: Timeline | Sequence[Timeline],
    *,
    title: str,
) -> bytes:
    """A PNG of the timelines, ``before`` rows on top, then ``after``.

    Each side is one :class:`Timeline` or several (e.g. the user who stays
    signed in and the one who does not); ``before`` may be ``None`` (a new
    rule). A timeline that could not be played shows why instead of markers.
    Raises :class:`ValueError` when there is no timeline at all.
    """
    rows = _rows(before, after)
    import matplotlib  # lazily: drawing is the only thing that needs it
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    days = max(t.pattern.minutes for _, t in rows) // DAY
    workdays = set().union(*(t.pattern.workdays for _, t in rows))
    # the font matplotlib ships, so a local font setting does not change the picture
    with matplotlib.rc_context({"font.size": 9, "font.family": "DejaVu Sans"}):
        height = 1.5 + 0.7 * len(rows)  # inches: 0.7 a row, the rest title, days and legend
        figure = Figure(figsize=(12, height), dpi=100)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        for day in range(days):
            if day % 7 not in workdays:
                axes.axvspan(day, day + 1, color="#eeeeee", linewidth=0)
            axes.axvline(day, color="#dddddd", linewidth=0.6)
        offsets = {k: (i - (len(EVENT_KINDS) - 1) / 2) * 0.1 for i, k in enumerate(EVENT_KINDS)}
        for row, (_, found) in enumerate(rows):
            y = len(rows) - 1 - row
            if not found.decided:
                why = "; ".join(found.undecided)
                axes.text(0.1, y, f"not played: {why[:150]}", va="center", color="#555555")
            for kind in EVENT_KINDS:
                marker, colour, _ = _STYLE[kind]
                xs = [e.minute / DAY for e in found.events if e.kind == kind]
                axes.plot(xs, [y + offsets[kind]] * len(xs), marker, color=colour, markersize=5)
        axes.set_ylim(-0.6, len(rows) - 0.4)
        axes.set_yticks(range(len(rows)))
        axes.set_yticklabels([_row_label(side, t) for side, t in reversed(rows)])
        axes.set_xlim(0, days)
        axes.set_xticks([d + 0.5 for d in range(days)])
        axes.set_xticklabels([f"{_DAY_NAMES[d % 7]}\nw{d // 7 + 1}" for d in range(days)])
        axes.tick_params(axis="x", length=0)
        axes.set_title(title)
        handles = [
            Line2D([], [], linestyle="none", marker=m, color=c, label=text)
            for m, c, text in (_STYLE[k] for k in EVENT_KINDS)
        ]
        figure.legend(handles=handles, loc="lower center", ncols=len(handles), frameon=False)
        figure.subplots_adjust(left=0.2, right=0.98, top=1 - 0.4 / height, bottom=0.85 / height)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def timeline_html(png: bytes, alt: str) -> str:
    """An ``<img>`` holding ``png`` as a data URL, with ``alt`` escaped for HTML.

    Raises :class:`ValueError` when ``png`` is not a PNG.
    """
    if not png.startswith(PNG_SIGNATURE):
        raise ValueError("timeline_html takes the bytes of a PNG image")
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt, quote=True)}">'
