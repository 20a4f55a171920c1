"""Rate-limit governor: use a share of each Okta bucket, with just enough requests in flight.

Okta's rate limits are per org and per endpoint family ("bucket"), shared by
every integration of the org, plus an org-wide limit on concurrent requests.
A bulk change that used a whole bucket would starve the org's other
integrations (and the admin console), so, like Terraform's
``max_api_capacity``, this governor keeps the run to ``share`` of each
bucket's limit in every server window, and drives the concurrency that gets
there:

* **Budget.** It counts the requests *we* start in the server's current window
  and, once they reach ``share * limit``, waits until the window is over. It
  also waits when ``X-Rate-Limit-Remaining`` (minus our requests still in
  flight) falls to ``(1 - share) * limit``: others are using the bucket too.
* **Windows.** A response whose ``X-Rate-Limit-Reset`` is later than the one
  known opens a new window. Its count starts afresh, at the requests still in
  flight (each may land in it) plus this one; requests answered in the old
  window do not count in the new one, so two server windows never share one
  budget, and no server window gets more than the share: every request that
  lands in a window is either answered by then (and seen in it) or still in
  flight (and counted). When the window's end passes without such a
  response, the count restarts at the requests in flight.
* **Window ends** come from ``X-Rate-Limit-Reset`` and the server's clock, never
  ours: the offset between the server's ``Date`` and our monotonic clock is
  bounded below by ``Date - (the moment we read the answer)`` over every
  response (``Date`` has a resolution of one second, so the bound tightens as
  answers arrive at different fractions of a second). The window is taken to
  end at ``Reset - that bound + margin``, which is never before the server's
  own reset.
* **Concurrency (Little's law).** For each bucket it keeps ``permits`` requests
  in flight: the rate that spends what is left of the window's budget by the
  window's end, times the latency it observes (an exponentially weighted mean
  of request durations), plus a little; so a slow org gets more requests in
  flight and a fast one fewer, and the count follows ``Remaining`` and the
  latency as they change. Before a bucket's first answer, at most
  ``INITIAL_IN_FLIGHT`` are sent.
* **Concurrency limit.** All buckets together stay under ``max_concurrency``.
  Okta rejects a request over the org's concurrency limit with a 429 whose
  ``X-Rate-Limit-Limit`` is 0; then the cap drops to 90 % of what we had in
  flight, and grows back by one request per ``recover_seconds`` without such
  a rejection.

Bucket key: ``/api/v1/<resource>`` (the first three path segments, ids never
included), without the method. Okta's real buckets are at least this coarse
or finer; a coarser key can only make us more careful, never less, because
requests of several real buckets then share one budget. When one real bucket
spans several of our keys, the ``Remaining`` rule still holds us back.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from kmsi_lib.okta import protocol as _protocol

__all__ = ["INITIAL_IN_FLIGHT", "BucketState", "Governor", "Ticket", "bucket_key"]

#: Requests in flight for a bucket whose limit is not known yet (before its first answer).
INITIAL_IN_FLIGHT = 8
#: Weight of the newest duration in the latency's moving mean.
LATENCY_WEIGHT = 0.2
#: Little's law gives the in-flight count that just reaches the rate; this much more
#: (a factor, plus one request) absorbs jitter, so the budget is spent before the window ends.
HEADROOM = 1.25
#: Longest single wait for a permit before the state is looked at again (seconds, real time).
PERMIT_POLL = 0.5


def bucket_key(path: str) -> str:
    """``/api/v1/users/00u1/sessions`` -> ``/api/v1/users``; other paths by first segment."""
    segments = [s for s in path.split("?")[0].split("/") if s]
    if len(segments) >= 3 and segments[0] == "api":
        return "/" + "/".join(segments[:3])
    return "/" + "/".join(segments[:2])


@dataclass
class BucketState:
    """What we know about one bucket (guarded by the governor's lock)."""

    limit: int | None = None
    reset_epoch: int | None = None  # server's X-Rate-Limit-Reset of the current window
    deadline: float | None = None  # local monotonic time when that window is surely over
    used: int = 0  # requests we started that may count in the current window
    remaining: int | None = None  # lowest Remaining the server reported this window
    in_flight: int = 0  # requests started and not yet answered
    fresh: bool = True  # ``used`` counts a window no answer has shown yet
    latency: float | None = None  # moving mean of request durations, seconds
    window_rate: float | None = None  # requests/s that spend a whole window's budget


class Ticket:
    """One request's place in flight: :meth:`done` hands the governor its answer."""

    def __init__(self, governor: Governor, key: str, started: float) -> None:
        self._governor = governor
        self.key = key
        self.started = started
        self.answered = False

    def done(self, headers: _protocol.HeadersLike) -> None:
        """Learn from the answer's headers (limit, window, remaining) and its duration."""
        if not self.answered:
            self.answered = True
            self._governor.finish(self.key, headers, self.started)


class Governor:
    """Thread-safe pacing by bucket, with a dynamic number of requests in flight."""

    def __init__(
        self,
        *,
        share: float = 0.5,
        max_concurrency: int = 64,
        margin: float = 0.1,
        unknown_wait: float = 1.0,
        recover_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError("max_api_capacity must be in (0, 1]")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.share = share
        self.max_concurrency = max_concurrency
        self._margin = margin
        self._unknown_wait = unknown_wait
        self._recover = recover_seconds
        self._clock = clock
        self._sleep = sleep
        self._wall = wall_clock
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)
        self._buckets: dict[str, BucketState] = {}
        self._offset: float | None = None  # lower bound of (server epoch - our clock)
        self._cap = max_concurrency  # the concurrency we allow ourselves now
        self._cap_changed = 0.0
        self._in_flight = 0
        self.waited_seconds = 0.0
        self.concurrency_rejections = 0

    # -- reading the state ----------------------------------------------------------

    def state(self, key: str) -> BucketState:
        """A copy of what is known about bucket ``key``."""
        with self._lock:
            return replace(self._buckets.get(key, BucketState()))

    def budget(self, limit: int) -> int:
        """Requests per window allowed for a bucket of ``limit``."""
        return max(1, math.floor(limit * self.share))

    def concurrency_cap(self) -> int:
        """Requests in flight allowed over all buckets now."""
        with self._lock:
            return self._current_cap(self._clock())

    def permits(self, key: str) -> int:
        """Requests in flight allowed for bucket ``key`` now (Little's law, capped)."""
        with self._lock:
            st = self._buckets.setdefault(key, BucketState())
            now = self._clock()
            self._roll(st, now)
            return self._permits(st, now)

    # -- rules (lock held) ------------------------------------------------------------

    def _floor_remaining(self, limit: int) -> int:
        return math.ceil(limit * (1 - self.share))

    def _current_cap(self, now: float) -> int:
        if self._cap < self.max_concurrency and now - self._cap_changed >= self._recover:
            self._cap += 1
            self._cap_changed = now
        return self._cap

    def _roll(self, st: BucketState, now: float) -> None:
        """Start counting afresh once the window we knew has surely ended."""
        if st.deadline is not None and now >= st.deadline:
            # Requests still in flight may land in the next window: they count there.
            st.used, st.remaining, st.deadline, st.fresh = st.in_flight, None, None, True

    def _left(self, st: BucketState, limit: int) -> int:
        """Requests we may still start in the current window (0 or more)."""
        left = self.budget(limit) - st.used
        if st.remaining is not None:
            # The answers' Remaining may not count our requests still in flight.
            left = min(left, st.remaining - st.in_flight - self._floor_remaining(limit))
        return max(left, 0)

    def _wait_needed(self, st: BucketState, now: float) -> float:
        """Seconds to wait before one more request may start (0: go). Lock held."""
        self._roll(st, now)
        if st.limit is None or st.limit <= 0:
            return 0.0
        if self._left(st, st.limit) > 0:
            return 0.0
        if st.deadline is None:
            return self._unknown_wait
        return max(st.deadline - now, 0.0)

    def _permits(self, st: BucketState, now: float) -> int:
        cap = self._current_cap(now)
        if st.limit is None or st.limit <= 0 or st.latency is None:
            return min(cap, INITIAL_IN_FLIGHT)
        if st.deadline is not None:
            rate = self._left(st, st.limit) / max(st.deadline - now, st.latency)
        elif st.window_rate is not None:
            rate = st.window_rate  # a window no answer has shown yet: last window's pace
        else:
            return min(cap, INITIAL_IN_FLIGHT)
        need = math.ceil(rate * st.latency * HEADROOM) + 1
        return max(1, min(cap, need))

    # -- taking and returning a place ---------------------------------------------------

    def acquire(self, key: str) -> None:
        """Block until one more request in bucket ``key`` stays within the share; count it."""
        while True:
            with self._lock:
                st = self._buckets.setdefault(key, BucketState())
                wait = self._wait_needed(st, self._clock())
                if wait <= 0:
                    st.used += 1
                    return
                self.waited_seconds += wait
            self._sleep(wait)

    def _enter(self, key: str) -> Ticket:
        """Wait for the budget and a permit, then count the request in flight."""
        while True:
            with self._lock:
                st = self._buckets.setdefault(key, BucketState())
                now = self._clock()
                wait = self._wait_needed(st, now)
                if wait <= 0:
                    if st.in_flight < self._permits(st, now) and self._in_flight < self._cap:
                        st.used += 1
                        st.in_flight += 1
                        self._in_flight += 1
                        return Ticket(self, key, now)
                    # Someone is in flight (permits >= 1): their answer frees a place.
                    self._freed.wait(PERMIT_POLL)
                    continue
                self.waited_seconds += wait
            self._sleep(wait)

    def _leave(self, key: str) -> None:
        with self._lock:
            st = self._buckets[key]
            st.in_flight -= 1
            self._in_flight -= 1
            self._freed.notify_all()

    @contextmanager
    def slot(self, key: str) -> Iterator[Ticket]:
        """Hold a place in flight for one request of bucket ``key``.

        The place is taken only when the request fits the window's budget and
        the bucket's permits; call ``ticket.done(response.headers)`` before
        leaving the block, so the answer is counted while the request is still
        in flight (a new window then counts it exactly once).
        """
        ticket = self._enter(key)
        try:
            yield ticket
        finally:
            self._leave(key)

    # -- learning from answers -------------------------------------------------------------

    def finish(self, key: str, headers: _protocol.HeadersLike, started: float) -> None:
        """Learn from the answer to a request started at ``started`` (our clock)."""
        with self._lock:
            st = self._buckets.setdefault(key, BucketState())
            duration = max(self._clock() - started, 0.0)
            st.latency = (
                duration
                if st.latency is None
                else (1 - LATENCY_WEIGHT) * st.latency + LATENCY_WEIGHT * duration
            )
        self.observe(key, headers)

    def observe(self, key: str, headers: _protocol.HeadersLike) -> None:
        """Learn the bucket's limit, remaining and window from a response's headers."""
        limits = _protocol.header_ints(_protocol.header_values(headers, "x-rate-limit-limit"))
        remaining = _protocol.header_ints(
            _protocol.header_values(headers, "x-rate-limit-remaining")
        )
        reset = _protocol.rate_limit_reset(headers)
        if limits and limits[0] == 0:
            self._concurrency_rejected()
            return
        if not limits or limits[0] < 0:
            return  # no headers: nothing to learn about the bucket
        server_now = _protocol.http_date_epoch(_protocol.header_value(headers, "date"))
        with self._lock:
            st = self._buckets.setdefault(key, BucketState())
            now = self._clock()
            # Date is the second the answer was made, which is no later than now.
            low = (server_now if server_now is not None else self._wall()) - now
            self._offset = low if self._offset is None else max(self._offset, low)
            st.limit = limits[0]
            self._roll(st, now)
            opened = reset is not None and (st.reset_epoch is None or reset > st.reset_epoch)
            if opened:
                # A newer server window: it holds this request and, at most, those still
                # in flight; what was answered in the old window does not count in it.
                st.used = max(st.used, st.in_flight, 1) if st.fresh else max(st.in_flight, 1)
                st.reset_epoch = reset
                st.remaining = None
                st.fresh = False
            if st.reset_epoch is not None and not st.fresh:
                st.deadline = st.reset_epoch - self._offset + self._margin
                if opened:
                    # The pace of a whole window, for the start of the next one.
                    length = max(st.deadline - now, st.latency or 0.0, 1e-3)
                    st.window_rate = self.budget(st.limit) / length
            # Remaining only counts for the window we are in; a late answer from an
            # ended window says nothing about the new one.
            if remaining and not st.fresh and reset == st.reset_epoch:
                value = min(remaining)
                st.remaining = value if st.remaining is None else min(st.remaining, value)
            self._freed.notify_all()

    def _concurrency_rejected(self) -> None:
        """Okta refused a request over the org's concurrency limit: send fewer at once."""
        with self._lock:
            self.concurrency_rejections += 1
            self._cap = max(1, min(self._cap, math.floor((self._in_flight - 1) * 0.9)))
            self._cap_changed = self._clock()
