"""Fault injection: added latency, canned error statuses, dropped connections, timeouts."""

from __future__ import annotations

import fnmatch
import random
import threading
from dataclasses import asdict, dataclass

ACTIONS = ("status", "drop", "timeout", "latency")


class DroppedConnection(ConnectionResetError):
    """Raised by the app to close the connection without an answer."""


class InjectedTimeout(Exception):
    """Raised in-process when the injected delay exceeds the client's read timeout."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"sandbox fault: no answer for {seconds} s")


@dataclass
class Fault:
    """One injected fault; ``count`` None means every matching request, forever."""

    action: str
    method: str | None = None
    path: str = "*"
    count: int | None = None
    status: int = 503
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    seconds: float = 30.0  # timeout: how long the server stays silent
    retry_after_s: int = 1  # 429: seconds until X-Rate-Limit-Reset
    when: str = "before"  # drop: before or after the request takes effect

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return fnmatch.fnmatchcase(path, self.path)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def fault_from_json(data: object) -> Fault:
    """Build a fault from the admin JSON shape (see docs/SANDBOX.md); ValueError if invalid."""
    if not isinstance(data, dict):
        raise ValueError("a fault is a JSON object")
    match = data.get("match") or {}
    if not isinstance(match, dict):
        raise ValueError("'match' must be an object")
    if "action" in data:
        action = data["action"]
    elif "status" in data:
        action = "status"
    elif "latency_ms" in data:
        action = "latency"
    else:
        raise ValueError("a fault needs 'status', 'action' or 'latency_ms'")
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; use one of {', '.join(ACTIONS)}")
    count = data.get("count")
    if count is not None and (not isinstance(count, int) or count < 1):
        raise ValueError("'count' must be a positive integer")
    fault = Fault(
        action=action,
        method=match.get("method"),
        path=str(match.get("path", "*")),
        count=count,
        status=int(data.get("status", 503)),
        latency_ms=float(data.get("latency_ms", 0)),
        jitter_ms=float(data.get("jitter_ms", 0)),
        seconds=float(data.get("seconds", 30)),
        retry_after_s=int(data.get("retry_after_s", 1)),
        when=str(data.get("when", "before")),
    )
    if fault.when not in ("before", "after"):
        raise ValueError("'when' must be 'before' or 'after'")
    if action == "status" and not 400 <= fault.status <= 599:
        raise ValueError("'status' must be an HTTP error status (400-599)")
    return fault


class FaultTable:
    """The active faults, consumed in order; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._rng = random.Random(1234)  # noqa: S311 - jitter, not secrecy

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[dict[str, object]]:
        with self._lock:
            return [f.to_dict() for f in self._faults]

    def take(self, method: str, path: str) -> tuple[float, Fault | None]:
        """Seconds of latency to add and the one non-latency fault to apply (if any)."""
        delay = 0.0
        chosen: Fault | None = None
        with self._lock:
            if not self._faults:
                return 0.0, None
            for fault in list(self._faults):
                if not fault.matches(method, path):
                    continue
                if fault.action == "latency":
                    jitter = self._rng.uniform(-fault.jitter_ms, fault.jitter_ms)
                    delay += max(0.0, fault.latency_ms + jitter) / 1000.0
                elif chosen is None:
                    chosen = fault
                else:
                    continue
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
        return delay, chosen
