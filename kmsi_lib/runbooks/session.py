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
from pathlib import Path
from typing import Any

from kmsi_lib.runbooks.contract import APPLIES_DIR, SESSION_APPLY_FILE, SESSION_DIR_ENV

__all__ = ["SessionApply", "applies_dir", "list_applies", "next_apply_path"]


def applies_dir(evidence_dir: Path, env: Mapping[str, str] | None = None) -> Path:
    """Where a session's applies are recorded: ``$KMSI_SESSION_DIR/applies`` when the
    variable is set, else ``<evidence_dir>/applies``."""
    shared = (os.environ if env is None else env).get(SESSION_DIR_ENV, "").strip()
    return (Path(shared).expanduser() if shared else Path(evidence_dir)) / APPLIES_DIR


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
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # a file being written or damaged: not offered
    applied = data.get("apply_result") if isinstance(data, dict) else None
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
