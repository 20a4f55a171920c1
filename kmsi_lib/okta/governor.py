"""Rate-limit governor: use at most a share of each Okta rate-limit bucket.

Okta's rate limits are per org and per endpoint family ("bucket"), shared by
every integration of the org. A bulk change that used a whole bucket would
starve the org's other integrations (and the admin console), so, like
Terraform's ``max_api_capacity``, this governor keeps the run to ``share`` of
each bucket's limit per window:

* it counts the requests *we* send in the bucket's current window and, once
  they reach ``share * limit``, waits until the window resets;
* it also waits when the server's ``X-Rate-Limit-Remaining`` falls to
  ``(1 - share) * limit`` (others are using the bucket too);
* a semaphore caps our concurrent requests (Okta also limits concurrency).

Bucket key: ``/api/v1/<resource>`` (the first three path segments, ids never
included), without the method. Okta's real buckets are at least this coarse
or finer; a coarser key can only make us more careful, never less, because
requests of several real buckets then share one budget. When one real bucket
spans several of our keys, the ``Remaining`` rule still holds us back.

Windows are taken from ``X-Rate-Limit-Reset`` relative to the response's
``Date`` (not our clock), plus ``margin`` seconds, so a skewed local clock
cannot make us start the next window early.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from kmsi_lib.okta import protocol as _protocol

__all__ = ["BucketState", "Governor", "bucket_key"]


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
    deadline: float | None = None  # local monotonic time when that window is over
    used: int = 0  # requests we started in the current window
    remaining: int | None = None  # lowest Remaining the server reported this window


class Governor:
    """Thread-safe pacing by bucket plus a concurrency cap."""

    def __init__(
        self,
        *,
        share: float = 0.5,
        max_concurrency: int = 8,
        margin: float = 0.1,
        unknown_wait: float = 1.0,
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
        self._clock = clock
        self._sleep = sleep
        self._wall = wall_clock
        self._lock = threading.Lock()
        self._buckets: dict[str, BucketState] = {}
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self.waited_seconds = 0.0

    def state(self, key: str) -> BucketState:
        """A copy of what is known about bucket ``key``."""
        with self._lock:
            return replace(self._buckets.get(key, BucketState()))

    def budget(self, limit: int) -> int:
        """Requests per window allowed for a bucket of ``limit``."""
        return max(1, math.floor(limit * self.share))

    def _wait_needed(self, st: BucketState, now: float) -> float:
        """Seconds to wait before one more request may start (0: go). Lock held."""
        if st.deadline is not None and now >= st.deadline:
            # The window we knew has ended; a new one starts with our next request.
            st.used, st.remaining, st.deadline = 0, None, None
        if st.limit is None or st.limit <= 0:
            return 0.0
        floor_remaining = math.ceil(st.limit * (1 - self.share))
        over_ours = st.used >= self.budget(st.limit)
        over_server = st.remaining is not None and st.remaining <= floor_remaining
        if not (over_ours or over_server):
            return 0.0
        if st.deadline is None:
            return self._unknown_wait
        return max(st.deadline - now, 0.0)

    def acquire(self, key: str) -> None:
        """Block until one more request in bucket ``key`` stays within the share."""
        while True:
            with self._lock:
                st = self._buckets.setdefault(key, BucketState())
                wait = self._wait_needed(st, self._clock())
                if wait <= 0:
                    st.used += 1
                    return
            with self._lock:
                self.waited_seconds += wait
            self._sleep(wait)

    def observe(self, key: str, headers: _protocol.HeadersLike) -> None:
        """Learn the bucket's limit, remaining and window from a response's headers."""
        limits = _protocol.header_ints(_protocol.header_values(headers, "x-rate-limit-limit"))
        remaining = _protocol.header_ints(
            _protocol.header_values(headers, "x-rate-limit-remaining")
        )
        reset = _protocol.rate_limit_reset(headers)
        if not limits or limits[0] <= 0:
            return  # no headers, or a concurrency rejection (Limit 0): says nothing of the bucket
        server_now = _protocol.http_date_epoch(_protocol.header_value(headers, "date"))
        with self._lock:
            st = self._buckets.setdefault(key, BucketState())
            now = self._clock()
            st.limit = limits[0]
            if reset is not None and (st.reset_epoch is None or reset > st.reset_epoch):
                # A newer window than the one we knew. ``used`` is kept when the server
                # rolled over before our (deliberately late) deadline: over-counting is safe.
                st.reset_epoch = reset
                st.remaining = None
                base = server_now if server_now is not None else self._wall()
                st.deadline = now + max(reset - base, 0.0) + self._margin
            # Remaining only counts for the window we are in; a late answer from an
            # ended window (deadline cleared) says nothing about the new one.
            if remaining and st.deadline is not None and reset == st.reset_epoch:
                value = min(remaining)
                st.remaining = value if st.remaining is None else min(st.remaining, value)

    @contextmanager
    def slot(self, key: str) -> Iterator[None]:
        """Hold one of the concurrency slots, then pace for bucket ``key``.

        Pacing comes second so that a request counted in a window is sent in it
        (not after queueing for a slot while the window rolls over).
        """
        with self._slots:
            self.acquire(key)
            yield
