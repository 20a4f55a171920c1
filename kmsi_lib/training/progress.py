"""A trainee's progress: one small JSON file in the workspace, shown as a table.

``kmsi-training.json`` (in the working directory, which is the trainee's workspace when
JupyterLab runs a training notebook) holds, per exercise, when it was set up, the start
state its check compares with, how many checks and hints were asked, and when it was
solved. Written atomically (a temporary file, then a rename), so a kernel stopped half-way
leaves the previous file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from kmsi_lib.engine import html_table
from kmsi_lib.errors import ConfigError
from kmsi_lib.jsontypes import JsonObject, JsonValue

if TYPE_CHECKING:
    from kmsi_lib.training.verdict import PrettyPrinter

__all__ = ["PROGRESS_FILE", "Progress", "ProgressTable", "now"]

PROGRESS_FILE = "kmsi-training.json"
_VERSION = 1


def now() -> str:
    """The current UTC time, ISO-8601 with seconds."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Progress:
    """The progress file's content; :meth:`load` and :meth:`save` read and write it."""

    path: Path
    exercises: dict[str, JsonObject] = field(default_factory=dict)

    @classmethod
    def load(cls, workdir: str | Path | None = None) -> Progress:
        """The progress in ``workdir`` (default: the working directory); empty if none yet."""
        path = Path(workdir or ".") / PROGRESS_FILE
        if not path.exists():
            return cls(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the training progress {path}: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("exercises"), dict):
            raise ConfigError(f"{path} is not a training progress file")
        return cls(path, {str(k): dict(v) for k, v in data["exercises"].items()})

    def save(self) -> Path:
        """Write the file atomically; its path."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"version": _VERSION, "exercises": self.exercises}, indent=2)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".kmsi-training-")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text + "\n")
        os.replace(tmp, self.path)
        return self.path

    def entry(self, key: str) -> JsonObject:
        """The record of one exercise (created empty)."""
        return self.exercises.setdefault(key, {})

    def started(self, key: str, start: JsonObject) -> None:
        """Record a set-up: the start state; the exercise is open again."""
        entry = self.entry(key)
        entry.update({"set_up_at": now(), "start": start, "solved_at": None})

    def checked(self, key: str, solved: bool) -> None:
        """Record one check; the first solved check sets ``solved_at``."""
        entry = self.entry(key)
        entry["checks"] = _count(entry.get("checks", 0)) + 1
        if solved and not entry.get("solved_at"):
            entry["solved_at"] = now()
        if not solved:
            entry["solved_at"] = None

    def hinted(self, key: str) -> int:
        """Count one more hint; the hint level now reached (1, 2, …)."""
        entry = self.entry(key)
        hints = _count(entry.get("hints", 0)) + 1
        entry["hints"] = hints
        return hints

    def start(self, key: str) -> JsonObject | None:
        """The start state recorded by the exercise's set-up, or None."""
        start = self.exercises.get(key, {}).get("start")
        return dict(start) if isinstance(start, dict) else None

    def table(self, titles: Iterable[tuple[str, str]]) -> ProgressTable:
        """One row per exercise ``(key, title)``: status, checks, hints."""
        rows = []
        for key, title in titles:
            entry = self.exercises.get(key, {})
            if entry.get("solved_at"):
                status = f"solved {entry['solved_at']}"
            elif entry.get("set_up_at"):
                status = "started"
            else:
                status = "not started"
            rows.append(
                (key, title, status, str(entry.get("checks", 0)), str(entry.get("hints", 0)))
            )
        return ProgressTable(tuple(rows))


def _count(value: JsonValue) -> int:
    """A count kept in the progress file (a number; a string of digits is read as one)."""
    if isinstance(value, int | float | str):
        return int(value)
    raise ConfigError(f"the training progress holds {value!r} where a count belongs")


@dataclass(frozen=True)
class ProgressTable:
    """The progress as a table that shows as HTML in JupyterLab and as text elsewhere."""

    rows: tuple[tuple[str, str, str, str, str], ...]
    headers: tuple[str, ...] = ("exercise", "task", "status", "checks", "hints")

    @property
    def solved(self) -> int:
        """How many exercises are solved."""
        return sum(1 for row in self.rows if row[2].startswith("solved"))

    def __str__(self) -> str:
        widths = [max(len(r[i]) for r in (self.headers, *self.rows)) for i in range(5)]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
            for row in (self.headers, *self.rows)
        ]
        lines.append(f"{self.solved} of {len(self.rows)} exercises solved")
        return "\n".join(lines)

    def _repr_pretty_(self, printer: PrettyPrinter, cycle: bool) -> None:
        """IPython's plain-text form (papermill, terminals): the text, not the dataclass."""
        printer.text(str(self))

    def _repr_html_(self) -> str:
        summary = f"<p>{self.solved} of {len(self.rows)} exercises solved</p>"
        return html_table(self.headers, self.rows) + summary
