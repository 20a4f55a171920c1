"""Pure arithmetic of the benchmark: the sandbox's request log turned into figures.

Every function here takes plain values (log entries as the sandbox's
``GET /_sandbox/requests`` returns them, counts, seconds) and returns plain
values, so the figures can be checked with literal inputs. The server's own
log is the witness: a window's share is counted from the window each request
counted in (the log's ``window``), not from the client's idea of it.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "WRITE_METHODS",
    "WindowStats",
    "count_requests",
    "median",
    "ratio",
    "reset_minimum",
    "rollout_minimum",
    "window_stats",
]

#: Methods that change the org (what "writes" counts).
WRITE_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH"})

#: Okta's page sizes the minimums assume (docs/OKTA-API.md; the sandbox serves the same).
APPS_PAGE = 200
MEMBERS_PAGE = 1000


@dataclass(frozen=True)
class WindowStats:
    """How one bucket's server windows were used during a phase."""

    windows: int  # server windows the phase's requests counted in
    max_allowed: int  # the most requests any one window admitted
    max_share: float  # max_allowed / the bucket's limit
    rejected: int  # requests the rate limiter refused (429 with a window)
    concurrency_429: int  # requests refused by the concurrency limit (no window)


def _entries(log: Iterable[Mapping[str, object]], bucket: str) -> list[Mapping[str, object]]:
    return [e for e in log if e.get("bucket") == bucket]


def window_stats(log: Iterable[Mapping[str, object]], bucket: str, limit: int) -> WindowStats:
    """Per server window of ``bucket``: the most admitted requests, as a share of ``limit``.

    A request the limiter admitted has a ``window`` and a status other than 429; one it
    refused has a ``window`` and 429; one refused at the concurrency gate has no window.
    """
    if limit < 1:
        raise ValueError("a bucket's limit is at least 1")
    admitted: Counter[object] = Counter()
    rejected = concurrency = 0
    for entry in _entries(log, bucket):
        window = entry.get("window")
        if window is None:
            concurrency += entry.get("status") == 429
            continue
        if entry.get("status") == 429:
            rejected += 1
        else:
            admitted[window] += 1
    most = max(admitted.values(), default=0)
    return WindowStats(
        windows=len(admitted),
        max_allowed=most,
        max_share=most / limit,
        rejected=rejected,
        concurrency_429=concurrency,
    )


def count_requests(
    log: Iterable[Mapping[str, object]], *, writes_only: bool = False, status: int | None = None
) -> int:
    """The API requests in ``log`` (admin calls are never logged); only writes, or one status."""
    return sum(
        1
        for e in log
        if (not writes_only or e.get("method") in WRITE_METHODS)
        and (status is None or e.get("status") == status)
    )


def reset_minimum(users: int, *, by_group: bool) -> int:
    """The fewest requests a reset of ``users`` users can make.

    By id list: one ``DELETE /users/{id}/sessions`` each (an unknown id answers 404 to
    the DELETE itself, so nothing needs reading first). By group: the group found by
    name (1), its members read in pages of 1,000, then one DELETE each.
    """
    if by_group:
        return 1 + max(1, math.ceil(users / MEMBERS_PAGE)) + users
    return users


def rollout_minimum(apps: int, policies: int, changes: int) -> dict[str, int]:
    """The fewest requests of a post-auth rollout over ``apps`` apps on ``policies`` policies.

    Plan: the apps in pages of 200 (each names its policy), each policy's rules once,
    the default global session policy found and its rules read (2). Apply: each of the
    plan's ``changes`` (rules) read again for the stale-plan check, and written.
    """
    plan = math.ceil(apps / APPS_PAGE) + policies + 2
    apply = 2 * changes
    return {"plan": plan, "apply": apply, "total": plan + apply}


def ratio(value: float | None, baseline: float | None) -> float | None:
    """``value / baseline``, None when either is missing or the baseline is 0."""
    if value is None or baseline is None or baseline == 0:
        return None
    return value / baseline


def median(values: Sequence[float]) -> float:
    """The median of some timings (ValueError on none)."""
    if not values:
        raise ValueError("no timings")
    return float(statistics.median(values))
