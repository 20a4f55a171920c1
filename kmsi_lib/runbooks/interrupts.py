"""Runs that stop half-way: Ctrl-C, SIGTERM, a cell's time limit, a dead kernel.

While an apply runs, the runbook logs each write to ``apply-progress.jsonl``
(flushed and synced before the write goes on). When the notebook stops before
recording its partial result, :func:`recover_writes` rebuilds it from that log,
so the evidence lists every write that landed with its before-state.
:func:`interrupt_on_sigterm` makes SIGTERM stop a run as Ctrl-C does,
:func:`stop_kernels` makes sure no write lands after the evidence is taken, and
:func:`shielded_from_signals` holds signals off while the evidence is recorded.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from kmsi_lib import evidence
from kmsi_lib.errors import KmsiError
from kmsi_lib.jsontypes import JsonMap, JsonObject
from kmsi_lib.runbooks.contract import OUTCOME_FAILED, PROGRESS_FILE, RunResult

__all__ = ["interrupt_on_sigterm", "recover_writes", "shielded_from_signals", "stop_kernels"]


def recover_writes(
    staging: Path, mode: str, result: RunResult | None, error: JsonMap | None
) -> RunResult | None:
    """An apply that stopped mid-way (timeout, Ctrl-C, dead kernel) without recording its
    partial result: rebuild it from the writes the runbook logged as they happened
    (``apply-progress.jsonl``), so that the evidence lists every write that landed with
    its before-state, and a rollback can undo them. ``result.json`` is rewritten."""
    from kmsi_lib.engine import Plan, recover_apply_result

    path = staging / PROGRESS_FILE
    if mode != "apply" or result is None or result.apply_result or not path.is_file():
        return result
    events: list[JsonObject] = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:  # the last line of a killed kernel may be torn
            continue
        if isinstance(event, dict):  # the runbook logs objects only
            events.append(event)
    if not events or result.plan is None:
        return result
    why = "the apply stopped before it finished ({}); recovered by the runner from {}".format(
        (error or {}).get("type") or "interrupted", PROGRESS_FILE
    )
    try:
        recovered = recover_apply_result(Plan.from_dict(result.plan), events, why=why)
    except KmsiError as exc:  # an edited plan: record the run without a recovered result
        logging.getLogger(__name__).warning("could not recover the apply's writes: %s", exc)
        return result
    result = result.model_copy(
        update={"apply_result": recovered.to_dict(), "outcome": OUTCOME_FAILED}
    )
    if not result.error:
        result.error = {
            "step": "apply",
            "type": str((error or {}).get("type", "Interrupted")),
            "message": why,
        }
    evidence.write_result(staging, result)
    return result


def stop_kernels(grace_s: float = 5.0) -> None:
    """Kill every process this run started (the kernel) and wait until they are gone.

    SIGKILL, not SIGTERM: the kernel must not go on to another write, and a terminated
    kernel only prints its own traceback. What it wrote is already on disk (each write
    is logged, flushed and synced before it is sent).
    """
    import psutil

    children = psutil.Process().children(recursive=True)
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.kill()
    psutil.wait_procs(children, timeout=grace_s)


@contextlib.contextmanager
def interrupt_on_sigterm() -> Iterator[None]:
    """While the notebook runs, SIGTERM stops it as Ctrl-C does, so both leave evidence."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def shielded_from_signals() -> Iterator[None]:
    """SIGINT and SIGTERM are ignored while the run's evidence is recorded: a second Ctrl-C
    must not leave a half-recorded run (the first one already stopped the notebook)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
