"""Time and concurrency for tests: a clock and a sleep that tests move by hand (time passes
only when the code sleeps), and a counter of how many threads are inside a block at once."""

from __future__ import annotations

import threading
from types import TracebackType


class FakeTime:
    """``clock()`` reads :attr:`now`; ``sleep(s)`` records ``s`` and moves :attr:`now` on."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Peak:
    """``with peak:`` around the work a thread does; :attr:`peak` is the most threads that
    were inside at the same time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.inside = 0
        self.peak = 0

    def __enter__(self) -> None:
        with self._lock:
            self.inside += 1
            self.peak = max(self.peak, self.inside)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        with self._lock:
            self.inside -= 1
