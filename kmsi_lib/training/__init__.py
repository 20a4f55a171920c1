"""Hands-on KMSI training on the sandbox: exercises, their self-checks, hints and progress.

Used by the training notebooks only (nothing else in kmsi_lib imports it)::

    from kmsi_lib import training
    training.setup("E1")        # bring the sandbox to the exercise's start, record it
    training.check("E1")        # read the sandbox: solved or not, what is right, what is wrong
    training.hint("E1")         # a nudge first; ask again for the way
    training.progress()         # every exercise: status, checks, hints

The client is built from ``OKTA_ORG_URL`` / ``OKTA_API_TOKEN`` like the runbooks' (pass
``client=`` in tests); it must be the sandbox. Progress is kept in ``kmsi-training.json``
in ``workdir`` (default: the working directory, the trainee's workspace).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from kmsi_lib.errors import ConfigError
from kmsi_lib.training import console
from kmsi_lib.training.exercises import EXERCISES
from kmsi_lib.training.org import connect
from kmsi_lib.training.progress import PROGRESS_FILE, Progress, ProgressTable
from kmsi_lib.training.verdict import Exercise, Verdict

if TYPE_CHECKING:
    from kmsi_lib.okta.client import OktaClient

__all__ = [
    "EXERCISES",
    "PROGRESS_FILE",
    "Exercise",
    "Progress",
    "ProgressTable",
    "Verdict",
    "check",
    "connect",
    "console",
    "exercise",
    "hint",
    "progress",
    "reset",
    "setup",
]


def exercise(key: str) -> Exercise:
    """The exercise ``key`` (``"E1"`` … ``"E6"``)."""
    try:
        return EXERCISES[key.strip().upper()]
    except KeyError:
        raise ConfigError(f"no exercise {key!r}; choose one of {', '.join(EXERCISES)}") from None


def setup(key: str, *, client: OktaClient | None = None, workdir: str | Path | None = None) -> str:
    """Bring the sandbox to the start of exercise ``key`` and record that start; a sentence.

    Safe to repeat: a set-up brings the exercise's objects back to where it starts (a
    facilitator's reset of one exercise is a reseed, or an undo, then this).
    """
    ex = exercise(key)
    start = ex.setup(connect(client))
    state = Progress.load(workdir)
    state.started(ex.key, start)
    state.save()
    return f"{ex.key} is set up: {ex.task}"


def reset(key: str) -> str:
    """Start exercise ``key`` over: in a trainee's workspace (``KMSI_TRAINEE`` set by
    ``kmsi lab --trainee``) the facilitator's reset first (this exercise's notebook copy
    and the org back to the seed, :func:`kmsi_lib.runbooks.workspace.reset_trainee`), then
    the exercise's set-up."""
    from kmsi_lib.runbooks.workspace import TRAINEE_ENV, reset_trainee

    if os.environ.get(TRAINEE_ENV):
        reset_trainee(None, None, exercise=exercise(key).key)
    return setup(key)


def check(
    key: str, *, client: OktaClient | None = None, workdir: str | Path | None = None
) -> Verdict:
    """Read the sandbox and judge exercise ``key`` against its recorded start."""
    ex = exercise(key)
    state = Progress.load(workdir)
    start = state.start(ex.key)
    if start is None:
        return Verdict(ex.key, None, notes=("set up this exercise first (its first cell)",))
    verdict = ex.check(connect(client), start)
    if verdict.solved is not None:
        state.checked(ex.key, verdict.solved)
        state.save()
    return verdict


def hint(key: str, *, level: int | None = None, workdir: str | Path | None = None) -> str:
    """The next hint for ``key`` (a nudge first, the way last), or the one at ``level``."""
    ex = exercise(key)
    state = Progress.load(workdir)
    reached = state.hinted(ex.key) if level is None else level
    state.save()
    return ex.hint(reached)


def progress(workdir: str | Path | None = None) -> ProgressTable:
    """Every exercise with its status (not started, started, solved), checks and hints."""
    return Progress.load(workdir).table((e.key, e.title) for e in EXERCISES.values())
