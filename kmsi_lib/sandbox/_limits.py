"""Per-bucket rate limits and the org-wide concurrency limit."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass


@dataclass
class Window:
    limit: int
    window_s: float
    started: float = 0.0
    used: int = 0

    def reset_at(self) -> int:
        return math.ceil(self.started + self.window_s)


@dataclass
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset: int
    window: float = 0.0  # epoch second the window this request counted in started


def _window_start(now: float, window_s: float) -> float:
    """When a window opened by a request at ``now`` starts (see :class:`RateLimiter`)."""
    return float(math.floor(now)) if float(window_s).is_integer() else now


class RateLimiter:
    """Counts requests per bucket in fixed windows that start at the bucket's first request.

    A window of whole seconds starts at the whole second of that request, so that
    it ends exactly at the ``X-Rate-Limit-Reset`` it reports (an epoch second): a
    client that waits for the reset, as Okta asks, finds the new window open, and
    one that sends earlier is still counted in the old one. A window of a fraction
    of a second (tests only) starts at the request itself.
    """

    def __init__(self, limits: dict[str, tuple[int, float]]) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, Window] = {}
        self.configure(limits)

    def configure(self, limits: dict[str, tuple[int, float]]) -> None:
        with self._lock:
            for name, (limit, window_s) in limits.items():
                self._windows[name] = Window(limit=int(limit), window_s=float(window_s))

    def limits(self) -> dict[str, dict[str, float]]:
        with self._lock:
            return {
                n: {"limit": w.limit, "window_s": w.window_s, "used": w.used}
                for n, w in self._windows.items()
            }

    def bucket_for(self, path: str) -> str | None:
        best: str | None = None
        for name in self._windows:
            if path.startswith(name) and (best is None or len(name) > len(best)):
                best = name
        return best

    def hit(self, bucket: str, now: float | None = None) -> Verdict:
        now = time.time() if now is None else now
        with self._lock:
            w = self._windows[bucket]
            if now >= w.started + w.window_s:
                w.started = _window_start(now, w.window_s)
                w.used = 0
            w.used += 1
            allowed = w.used <= w.limit
            return Verdict(allowed, w.limit, max(0, w.limit - w.used), w.reset_at(), w.started)

    def peek(self, bucket: str, now: float | None = None) -> Verdict:
        now = time.time() if now is None else now
        with self._lock:
            w = self._windows[bucket]
            if now >= w.started + w.window_s:
                start = _window_start(now, w.window_s)
                return Verdict(True, w.limit, w.limit, math.ceil(start + w.window_s))
            return Verdict(True, w.limit, max(0, w.limit - w.used), w.reset_at())


class ConcurrencyGate:
    """Admits at most ``limit`` requests at once (None = no limit)."""

    def __init__(self, limit: int | None) -> None:
        self._lock = threading.Lock()
        self.limit = limit
        self.in_flight = 0

    def enter(self) -> bool:
        with self._lock:
            if self.limit is not None and self.in_flight >= self.limit:
                return False
            self.in_flight += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1
