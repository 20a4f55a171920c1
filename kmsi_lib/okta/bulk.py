"""Run many independent API calls concurrently, collecting every outcome.

The pacing is not done here: every call goes through the client, whose
governor keeps the run within its share of each rate-limit bucket and
decides how many requests are in flight (enough to use that share, by
Little's law). This module only offers enough worker threads for the
governor to choose from (:data:`DEFAULT_WORKERS` unless the caller bounds them)
and never lets one failed item abort the batch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["DEFAULT_WORKERS", "BulkItem", "BulkResult", "Progress", "run_bulk", "tqdm_progress"]

T = TypeVar("T")
R = TypeVar("R")

#: Worker threads when the caller sets no bound: more than any governor permits at once
#: (the client's default ``max_concurrency``), so the governor, not the pool, sets the pace.
DEFAULT_WORKERS = 64

#: ``progress(done, total)``, called after each item (from the calling thread).
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class BulkItem(Generic[T, R]):
    """The outcome for one input item: ``value`` when ok, ``error`` otherwise."""

    item: T
    ok: bool
    value: R | None = None
    error: BaseException | None = None


@dataclass
class BulkResult(Generic[T, R]):
    """Every item's outcome, in input order."""

    results: list[BulkItem[T, R]] = field(default_factory=list)

    @property
    def succeeded(self) -> list[BulkItem[T, R]]:
        """The items whose call returned."""
        return [r for r in self.results if r.ok]

    @property
    def failed(self) -> list[BulkItem[T, R]]:
        """The items whose call raised."""
        return [r for r in self.results if not r.ok]

    @property
    def ok(self) -> bool:
        """True when no item failed."""
        return all(r.ok for r in self.results)

    def summary(self) -> str:
        """``N succeeded, M failed of T``."""
        return f"{len(self.succeeded)} succeeded, {len(self.failed)} failed of {len(self.results)}"


def run_bulk(
    items: Iterable[T],
    fn: Callable[[T], R],
    *,
    max_workers: int | None = None,
    progress: Progress | None = None,
) -> BulkResult[T, R]:
    """Call ``fn(item)`` for every item on at most ``max_workers`` threads.

    ``max_workers`` None (the default) offers :data:`DEFAULT_WORKERS` threads and
    leaves the number of requests in flight to the client's governor; a number
    bounds it further (never more threads than items).

    Exceptions (``Exception`` subclasses) are caught per item and recorded;
    ``KeyboardInterrupt`` still stops the run (pending items are cancelled).
    """
    work = list(items)
    total = len(work)
    outcomes: list[BulkItem[T, R] | None] = [None] * total
    if progress is not None:
        progress(0, total)
    if not work:
        return BulkResult([])

    def call(index: int) -> tuple[int, BulkItem[T, R]]:
        item = work[index]
        try:
            return index, BulkItem(item, True, fn(item))
        except Exception as exc:  # one item's failure must not abort the batch
            return index, BulkItem(item, False, None, exc)

    done = 0
    workers = max(1, min(DEFAULT_WORKERS if max_workers is None else max_workers, total))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kmsi-bulk") as pool:
        futures = [pool.submit(call, i) for i in range(total)]
        try:
            for future in as_completed(futures):
                index, outcome = future.result()
                outcomes[index] = outcome
                done += 1
                if progress is not None:
                    progress(done, total)
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    return BulkResult([o for o in outcomes if o is not None])


def tqdm_progress(total: int, desc: str = "") -> Progress:
    """A progress callback drawing a tqdm bar (text in a terminal); closes itself at the end."""
    from tqdm.auto import tqdm  # imported lazily: only bulk runs with a bar need it

    bar = tqdm(total=total, desc=desc, unit="item")
    lock = threading.Lock()
    shown = [0]

    def update(done: int, total_: int) -> None:
        with lock:
            if done > shown[0]:
                bar.update(done - shown[0])
                shown[0] = done
            if done >= total_:
                bar.close()

    return update
