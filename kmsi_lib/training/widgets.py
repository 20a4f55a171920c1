"""Buttons for a training notebook: Check my work, Hint, Reset this exercise.

ipywidgets is imported when the buttons are built, so the checks run without it (papermill,
tests). ``reset`` is the notebook's to give: the facilitator's reset when the workspace has
one, else the exercise's own set-up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from kmsi_lib import training

if TYPE_CHECKING:
    import ipywidgets

__all__ = ["buttons"]


def buttons(key: str, *, reset: Callable[[], object] | None = None) -> ipywidgets.VBox:
    """A row of buttons and an output area for exercise ``key``."""
    import ipywidgets as widgets
    from IPython.display import display

    out = widgets.Output()
    check = widgets.Button(description="Check my work", button_style="primary")
    hint = widgets.Button(description="Hint", icon="question")
    again = widgets.Button(description="Reset this exercise", button_style="warning")

    def run(action: Callable[[], object]) -> None:
        out.clear_output()
        with out:
            try:
                display(action())  # type: ignore[no-untyped-call]  # IPython is untyped
            except Exception as exc:  # noqa: BLE001 - shown to the trainee, not swallowed
                print(f"{type(exc).__name__}: {exc}")

    check.on_click(lambda _: run(lambda: training.check(key)))
    hint.on_click(lambda _: run(lambda: training.hint(key)))
    again.on_click(lambda _: run(reset or (lambda: training.reset(key))))
    return widgets.VBox([widgets.HBox([check, hint, again]), out])
