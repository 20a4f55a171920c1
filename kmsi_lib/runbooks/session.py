"""The applies of one form session, each recorded as its own result.

A form (:mod:`kmsi_lib.runbooks.forms`) may apply several times in one session:
a trainee tries, rolls back, tries again. ``result.json`` holds the latest step
only, so each apply also leaves ``applies/<NN>-<procedure>-result.json`` (the
result as it stood after that apply and its verification), numbered in the
order they happened (:data:`~kmsi_lib.runbooks.contract.SESSION_APPLY_FILE`).
The rollback form lists them, newest first, so that an admin rolls back the
last apply, then the one before, back to where the exercise started.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from kmsi_lib.errors import ParameterError
from kmsi_lib.runbooks.contract import APPLIES_DIR, SESSION_APPLY_FILE, SESSION_DIR_ENV
from kmsi_lib.runbooks.workspace import TRAINEE_ENV, WORKSPACE_ROOT_ENV, workspace_for

if TYPE_CHECKING:  # the picker builds widgets; listing the applies needs none
    import ipywidgets as w

__all__ = ["ApplyPicker", "SessionApply", "applies_dir", "list_applies", "next_apply_path"]


def applies_dir(evidence_dir: Path, env: Mapping[str, str] | None = None) -> Path:
    """Where a session's applies are recorded, shared by every runbook of the session:
    ``$KMSI_SESSION_DIR/applies`` when that is set; else, in a trainee's workspace
    (``kmsi lab --trainee``: ``KMSI_TRAINEE`` and ``KMSI_WORKSPACE_ROOT``), its hidden
    ``.session/applies``, so the rollback runbook lists what the other runbooks applied;
    else ``<evidence_dir>/applies``."""
    env = os.environ if env is None else env
    shared = env.get(SESSION_DIR_ENV, "").strip()
    if shared:
        return Path(shared).expanduser() / APPLIES_DIR
    trainee, root = env.get(TRAINEE_ENV, "").strip(), env.get(WORKSPACE_ROOT_ENV, "").strip()
    if trainee and root:
        try:
            return workspace_for(trainee, Path(root)).path / WORKSPACE_SESSION_DIR / APPLIES_DIR
        except ParameterError:  # not a trainee's name: the runbook's own directory
            pass
    return Path(evidence_dir) / APPLIES_DIR


#: A trainee workspace's folder for its session's records (hidden in the file browser).
WORKSPACE_SESSION_DIR = ".session"


def next_apply_path(directory: Path, procedure: str) -> Path:
    """The file for the next apply in ``directory``: one number past the highest there."""
    numbers = [
        int(found["n"])
        for path in (directory.iterdir() if directory.is_dir() else ())
        if (found := SESSION_APPLY_FILE.match(path.name))
    ]
    return directory / f"{max(numbers, default=0) + 1:02d}-{procedure}-result.json"


@dataclass(frozen=True)
class SessionApply:
    """One recorded apply of a session, described for a list to choose from."""

    path: Path
    number: int
    procedure: str
    change_id: str
    outcome: str
    started_at: str
    written: int  # objects the apply wrote (what a rollback would put back)

    def describe(self) -> str:
        """``#3 post_auth under CHG-12 at 2026-12-02T01:10:00Z: applied, 2 object(s) written``."""
        return (
            f"#{self.number} {self.procedure} under {self.change_id or '(no ticket)'}"
            f" at {self.started_at or '?'}: {self.outcome}, {self.written} object(s) written"
        )


def _described(path: Path, number: int, procedure: str) -> SessionApply | None:
    try:
        data: object = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # a file being written or damaged: not offered
    if not isinstance(data, dict):
        return None
    applied = data.get("apply_result")
    if not isinstance(applied, dict):
        return None
    return SessionApply(
        path=path,
        number=number,
        procedure=procedure,
        change_id=str(data.get("change_id") or ""),
        outcome=str(applied.get("outcome") or data.get("outcome") or ""),
        started_at=str(applied.get("started_at") or ""),
        written=len(applied.get("before_state") or []),
    )


def list_applies(directory: Path) -> list[SessionApply]:
    """The session's recorded applies in ``directory``, newest first (unreadable ones left out)."""
    found: list[SessionApply] = []
    for path in directory.iterdir() if directory.is_dir() else ():
        match = SESSION_APPLY_FILE.match(path.name)
        if match and path.is_file() and not path.is_symlink():
            item = _described(path, int(match["n"]), match["procedure"])
            if item is not None:
                found.append(item)
    return sorted(found, key=lambda a: a.number, reverse=True)


class ApplyPicker:
    """The rollback form's choice of the apply to roll back, from this session's applies.

    A dropdown of :func:`list_applies`, newest first, that writes the chosen file's
    path into the ``apply_result`` input; when that input is empty, the newest apply
    (the last one made) is chosen, which is what an admin undoing a step expects. The
    text says how to return to the start of an exercise: one rollback per apply,
    newest first. ``refresh`` reads the directory again (after another apply).
    """

    def __init__(self, directory: Path, target: w.ValueWidget) -> None:
        import ipywidgets as w  # only a form needs them; a headless run never builds this

        self.directory = directory
        self.target = target
        self.choice = w.Dropdown(
            options=[],
            description="Apply to roll back",
            style={"description_width": "17em"},
            layout=w.Layout(width="54em"),
        )
        self.refresh_button = w.Button(description="Refresh the list", icon="refresh")
        self.text = w.HTML(value="")
        self.widget = w.VBox([w.HBox([self.choice, self.refresh_button]), self.text])
        self.widget.add_class("kmsi-applies")
        self.choice.observe(self._chosen, names="value")
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.refresh()

    def refresh(self) -> list[SessionApply]:
        """Read the session's applies again; choose the newest when nothing is named yet."""
        found = list_applies(self.directory)
        named = str(self.target.value).strip()
        self.choice.options = [(a.describe(), str(a.path)) for a in found]
        paths = [str(a.path) for a in found]
        if named in paths:
            self.choice.value = named
        elif found and not named:
            self.choice.value = paths[0]  # the last apply: what an admin undoing a step means
        else:
            self.choice.value = None
        if found:
            self.text.value = (
                f"<small>{len(found)} apply(ies) recorded in this session"
                f" ({escape(str(self.directory))}), newest first. To return to where the"
                " exercise started, roll them back one at a time, newest first.</small>"
            )
        else:
            self.text.value = (
                "<small>No apply recorded in this session yet"
                f" ({escape(str(self.directory))}): name an apply run's result.json.</small>"
            )
        return found

    def _chosen(self, change: Mapping[str, object]) -> None:
        """The dropdown's observer: ``change`` is traitlets' (``new`` is the value chosen)."""
        if change.get("new"):
            self.target.value = str(change["new"])
