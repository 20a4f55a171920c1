"""2,000 session revocations against the sandbox within half of its users rate limit.

The sandbox's ``/api/v1/users`` bucket is set to 1,000 requests per 2-second
window; with the default ``max_api_capacity`` of 0.5 the run may use at most
500 of each window. The test asserts that every item succeeded and, from the
sandbox's own accounting (exact times of its rate-limiter hits, and the
``X-Rate-Limit-*`` headers it sent), that no window saw more than 500.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import Counter
from typing import Any

import pytest

from kmsi_lib.okta.auth import SSWSAuth
from kmsi_lib.okta.bulk import run_bulk
from kmsi_lib.okta.client import OktaClient, RetryPolicy
from kmsi_lib.okta.governor import Governor
from kmsi_lib.okta.resources import users
from kmsi_lib.sandbox import SANDBOX_URL, Sandbox

LIMIT = 1000
WINDOW_S = 2.0
SHARE = 0.5
ITEMS = 2000
BUCKET = "/api/v1/users"


@pytest.mark.slow
def test_bulk_revocations_stay_within_the_share_of_the_bucket() -> None:
    sb = Sandbox(seed="large")
    user_ids = [u for u in sb.state.users][:ITEMS]
    assert len(user_ids) == ITEMS
    sb.admin.set_rate_limit(BUCKET, LIMIT, WINDOW_S)

    # Record the exact time of every rate-limiter hit (the request log keeps whole seconds).
    hits: list[tuple[float, Any]] = []
    lock = threading.Lock()
    limiter = sb.app.limiter
    real_hit = limiter.hit

    def recording_hit(bucket: str, now: float | None = None) -> Any:
        at = time.time() if now is None else now
        verdict = real_hit(bucket, at)
        if bucket == BUCKET:
            with lock:
                hits.append((at, verdict))
        return verdict

    limiter.hit = recording_hit  # type: ignore[method-assign]  # observe, not change, the sandbox

    client = OktaClient(
        SANDBOX_URL, SSWSAuth(sb.token), transport=sb.transport(), max_api_capacity=SHARE
    )
    progress: list[int] = []
    started = time.monotonic()
    result = run_bulk(
        user_ids,
        lambda uid: users.revoke_sessions(client, uid, oauth_tokens=False, forget_devices=False),
        max_workers=8,
        progress=lambda done, total: progress.append(done),
    )
    elapsed = time.monotonic() - started
    client.close()

    assert result.failed == []
    assert len(result.succeeded) == ITEMS
    assert progress[-1] == ITEMS
    revoked = sb.admin.session_revocations()
    assert sorted(r["userId"] for r in revoked) == sorted(user_ids)
    assert all(r["oauthTokensSent"] and r["forgetDevicesSent"] for r in revoked)
    log = [e for e in sb.admin.requests() if e["bucket"] == BUCKET]
    assert Counter(e["status"] for e in log) == {204: ITEMS}, "no 429 was ever needed"

    budget = int(LIMIT * SHARE)
    # 1. Windows as the sandbox defines them: a window opens at the whole second of the
    #    first hit after the previous one closed and lasts WINDOW_S.
    per_window: list[int] = []
    window_end = -1.0
    for at, _ in sorted(hits, key=lambda h: h[0]):
        if at >= window_end:
            per_window.append(0)
            window_end = math.floor(at) + WINDOW_S
        per_window[-1] += 1
    assert sum(per_window) == ITEMS
    assert max(per_window) <= budget, per_window
    # 2. The same from the headers the sandbox sent: used = limit - lowest remaining.
    lowest: dict[str, int] = {}
    for entry in client.journal.entries:
        rate = entry.rate_limit or {}
        reset, remaining = rate["x-rate-limit-reset"], int(rate["x-rate-limit-remaining"])
        lowest[reset] = min(lowest.get(reset, LIMIT), remaining)
    assert max(LIMIT - r for r in lowest.values()) <= budget
    # The governor really paced (the sandbox alone would do 2,000 in well under 4 s) ...
    assert len(per_window) >= ITEMS // budget
    assert client.governor.waited_seconds > 0
    # ... and the run still finished in reasonable time.
    assert elapsed < 60, elapsed


@pytest.mark.parametrize("mode", ["in-process", "loopback"])
def test_bulk_survives_a_429_storm_and_503s_without_failed_items(
    sandbox: Sandbox, mode: str
) -> None:
    """Transient refusals are retried per item; the batch ends with every user revoked."""
    with contextlib.ExitStack() as stack:
        if mode == "loopback":
            url, transport = stack.enter_context(sandbox.serve(port=0)), None
        else:
            url, transport = SANDBOX_URL, sandbox.transport()
        storm(sandbox, url, transport)


def storm(sandbox: Sandbox, url: str, transport: Any) -> None:
    ids = [sandbox.admin.add_user(f"storm{i}@example.com")["id"] for i in range(150)]
    waits: list[float] = []
    client = OktaClient(
        url,
        SSWSAuth(sandbox.token),
        transport=transport,
        sleep=lambda s: (waits.append(s), time.sleep(min(s, 0.01)))[-1],
        governor=Governor(),  # paces in real time; only retry waits are shortened
        # The 45 faults hit the first 45 requests, about 6 per worker: allow for that.
        retry=RetryPolicy(max_attempts=12),
    )
    sessions = {"method": "DELETE", "path": "/api/v1/users/*/sessions"}
    sandbox.admin.add_fault({"match": sessions, "status": 429, "count": 30, "retry_after_s": 0})
    sandbox.admin.add_fault({"match": sessions, "status": 503, "count": 10})
    sandbox.admin.add_fault({"match": sessions, "action": "drop", "count": 5})
    with client:
        result = run_bulk(
            ids,
            lambda uid: users.revoke_sessions(client, uid, oauth_tokens=True, forget_devices=False),
            max_workers=8,
        )
    assert result.failed == []
    assert {r["userId"] for r in sandbox.admin.session_revocations()} == set(ids)
    statuses = Counter(e["status"] for e in sandbox.admin.requests() if e["bucket"] == BUCKET)
    assert statuses == {204: 150, 429: 30, 503: 10, 0: 5}
    assert len(waits) == 45
