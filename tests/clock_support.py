"""A clock and a sleep that tests move by hand: time passes only when the code sleeps."""

from __future__ import annotations


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
