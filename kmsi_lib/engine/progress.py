"""Write progress as it happens, and the apply result recovered from it.

An apply interrupted mid-way (a cell timeout, Ctrl-C, a dead kernel) still
leaves a record of every write that landed and its before-state: the
runbook listens (:func:`watch_writes`) and the runner rebuilds the failed
result from the events (:func:`recover_apply_result`).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

from kmsi_lib.engine.model import (
    AppliedChange,
    ApplyResult,
    BeforeRecord,
    Change,
    ObjectRef,
    Plan,
    utc_now,
)
from kmsi_lib.jsontypes import JsonMap, JsonObject, JsonValue

__all__ = ["WriteListener", "recover_apply_result", "report_write", "watch_writes"]

#: Who hears about each write as it happens (the runbook's ``apply-progress.jsonl``), so
#: that an apply interrupted mid-way (a cell timeout, Ctrl-C, a dead kernel) still leaves
#: a record of every write that landed and its before-state.
WriteListener = Callable[[JsonObject], None]
_write_listener: contextvars.ContextVar[WriteListener | None] = contextvars.ContextVar(
    "kmsi_write_listener", default=None
)


@contextmanager
def watch_writes(listener: WriteListener) -> Iterator[None]:
    """Call ``listener(event)`` for each write of applies run inside the block.

    Events are JSON-ready dicts: ``{"event": "sending"|"landed"|"failed", "index": i,
    "action", "kind", "ref", "answer"?, "error"?}``, ``index`` being the change's
    position in the plan. A listener that raises is ignored (the write goes on).
    """
    token = _write_listener.set(listener)
    try:
        yield
    finally:
        _write_listener.reset(token)


def report_write(
    event: str, index: int, change: Change, ref: ObjectRef, **extra: JsonValue
) -> None:
    """Tell the listener (if any) about one write; see :func:`watch_writes`."""
    listener = _write_listener.get()
    if listener is None:
        return
    payload: JsonObject = {
        "event": event,
        "index": index,
        "action": change.action,
        "kind": change.kind,
        "ref": ref.to_dict(),
        **extra,
    }
    try:
        listener(payload)
    except Exception:  # noqa: S110 - a broken listener must not stop or repeat a write
        pass


def recover_apply_result(plan: Plan, events: Sequence[JsonMap], *, why: str) -> ApplyResult:
    """The failed :class:`ApplyResult` of an apply that stopped mid-way, from its write events.

    Every write reported ``landed`` is listed with its before-state (the object the plan
    read, which the drift check had just confirmed); one reported ``sending`` and never
    answered may or may not have landed and is listed as such, so a rollback (which
    re-reads every object) can undo it too. No request is made.
    """
    result = ApplyResult(plan=plan, outcome="failed", error=why, notes=[why])
    state: dict[int, JsonMap] = {}
    for event in events:
        index = event.get("index")
        if isinstance(index, int) and 0 <= index < len(plan.changes):
            if event.get("event") == "sending" and index in state:
                continue  # a retry of the same write reports again
            state[index] = event
    for index in sorted(state):
        event, change = state[index], plan.changes[index]
        seen_ref, seen_answer = event.get("ref"), event.get("answer")
        ref = ObjectRef.from_dict(seen_ref) if isinstance(seen_ref, Mapping) else change.ref
        answer = seen_answer if isinstance(seen_answer, dict) else None
        if event.get("event") == "failed":
            continue
        if event.get("event") == "sending":
            result.notes.append(
                f"{change.action} of {ref.label()} was sent and not answered: it may have"
                " landed; a rollback re-reads it first"
            )
        result.applied.append(AppliedChange(change.with_ref(ref), answer))
        if change.action in ("create", "update", "delete"):
            result.before_state.append(BeforeRecord(ref, change.action, change.before, answer))
        if change.action == "create" and ref.id:
            result.created.append(ref)
    result.finished_at = utc_now()
    return result
