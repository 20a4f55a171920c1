"""What a runbook shows in a notebook: HTML fragments that also read as text outside Jupyter.

The runbook (:mod:`kmsi_lib.runbooks.runbook`) and its forms
(:mod:`kmsi_lib.runbooks.forms`) both show notices; they import them from here,
so that neither imports the other at run time.
"""

from __future__ import annotations

from html import escape

__all__ = ["Html", "notice", "show"]


def _in_ipython() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # IPython comes with ipykernel; a bare install may lack it
        return False
    return get_ipython() is not None


class Html:
    """An HTML fragment that also reads as text outside Jupyter."""

    def __init__(self, markup: str, text: str) -> None:
        self.markup = markup
        self.text = text

    def _repr_html_(self) -> str:
        return self.markup

    def to_text(self) -> str:
        return self.text


def show(obj: object) -> None:
    """Display ``obj``: rich HTML inside IPython, ``obj.to_text()`` (or str) elsewhere."""
    if _in_ipython():
        from IPython.display import display

        display(obj)  # type: ignore[no-untyped-call]
        return
    to_text = getattr(obj, "to_text", None)
    print(to_text() if callable(to_text) else obj)


def notice(kind: str, title: str, body: str = "") -> Html:
    """A coloured box (``info``, ``ok``, ``warn``, ``error``) that reads as text outside Jupyter."""
    colours = {"info": "#e8f0fe", "ok": "#e6f4ea", "warn": "#fef7e0", "error": "#fce8e6"}
    markup = (
        f'<div class="kmsi-{kind}" style="background:{colours[kind]};padding:6px 10px;'
        f'border-radius:4px;margin:4px 0"><b>{escape(title)}</b>'
        + (f"<br>{escape(body)}" if body else "")
        + "</div>"
    )
    return Html(markup, f"{title}\n{body}" if body else title)
