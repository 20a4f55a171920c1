"""What a check says, and what an exercise is made of.

A :class:`Verdict` is solved or not (None: the check could not decide, e.g. the exercise
was never set up), with what is right, what is wrong and why, in words. It shows as HTML in
JupyterLab (green when solved, red lines for what is wrong) and as text elsewhere. A check
notes its findings in :class:`Marks` as it looks, then gives ``marks.verdict()``. An
:class:`Exercise` is data: its key, title, task, the runbooks to open, its hints in order
(a nudge first, then the way) and its ``setup`` and ``check`` functions.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from kmsi_lib.jsontypes import JsonObject

if TYPE_CHECKING:
    from kmsi_lib.okta.client import OktaClient

__all__ = ["Check", "Exercise", "Marks", "PrettyPrinter", "Setup", "Verdict"]


class PrettyPrinter(Protocol):
    """What ``_repr_pretty_`` uses of IPython's ``RepresentationPrinter`` (untyped there)."""

    def text(self, obj: str) -> None:
        """Append ``obj`` to the output."""


@dataclass(frozen=True)
class Verdict:
    """A check's answer for one exercise."""

    exercise: str
    solved: bool | None
    right: tuple[str, ...] = ()
    wrong: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def headline(self) -> str:
        """One line: solved, not yet, or could not check."""
        if self.solved:
            return f"{self.exercise}: solved. Well done."
        if self.solved is None:
            return f"{self.exercise}: could not check yet."
        return f"{self.exercise}: not solved yet."

    def to_dict(self) -> JsonObject:
        """JSON-ready."""
        return {
            "exercise": self.exercise,
            "solved": self.solved,
            "right": list(self.right),
            "wrong": list(self.wrong),
            "notes": list(self.notes),
        }

    def __str__(self) -> str:
        lines = [self.headline]
        lines += [f"  wrong: {w}" for w in self.wrong]
        lines += [f"  right: {r}" for r in self.right]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _repr_pretty_(self, printer: PrettyPrinter, cycle: bool) -> None:
        """IPython's plain-text form (papermill, terminals): the text, not the dataclass."""
        printer.text(str(self))

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.solved else ("#9a6700" if self.solved is None else "#cf222e")
        parts = [f'<p style="color:{colour};font-weight:bold">{html.escape(self.headline)}</p>']
        if self.wrong:
            items = "".join(f'<li style="color:#cf222e">{html.escape(w)}</li>' for w in self.wrong)
            parts.append(f"<p>What is wrong, and why:</p><ul>{items}</ul>")
        if self.right:
            items = "".join(f'<li style="color:#1a7f37">{html.escape(r)}</li>' for r in self.right)
            parts.append(f"<p>What is right:</p><ul>{items}</ul>")
        if self.notes:
            items = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
            parts.append(f"<ul>{items}</ul>")
        return "".join(parts)


#: ``setup(client) -> start``: bring the org to the exercise's start (idempotent) and return
#: what the check compares with later (JSON-ready; kept in the progress file).
Setup = Callable[["OktaClient"], JsonObject]
#: ``check(client, start) -> Verdict``: read the org and judge it against the start.
Check = Callable[["OktaClient", JsonObject], Verdict]


@dataclass
class Marks:
    """What one exercise's check found right and wrong, in the order it looked."""

    exercise: str
    right: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)

    def judge(self, ok: bool, *, right: str, wrong: str) -> None:
        """Note ``right`` when ``ok``, else ``wrong``."""
        if ok:
            self.right.append(right)
        else:
            self.wrong.append(wrong)

    def verdict(self) -> Verdict:
        """The verdict: solved when nothing is wrong."""
        return Verdict(self.exercise, not self.wrong, tuple(self.right), tuple(self.wrong))


@dataclass(frozen=True)
class Exercise:
    """One guided exercise, as data."""

    key: str
    title: str
    task: str
    runbooks: tuple[str, ...]
    hints: tuple[str, ...]
    setup: Setup = field(repr=False)
    check: Check = field(repr=False)
    notebook: str = ""

    def hint(self, level: int) -> str:
        """The hint at ``level`` (1: a nudge; the last one is the way); past the last, the last."""
        if level < 1:
            raise ValueError("hint levels start at 1")
        index = min(level, len(self.hints)) - 1
        more = "" if level >= len(self.hints) else " (ask again for a more direct hint)"
        return f"Hint {index + 1} of {len(self.hints)}: {self.hints[index]}{more}"
