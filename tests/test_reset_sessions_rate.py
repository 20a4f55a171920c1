"""Reset KMSI at the rate limit's ceiling: requests per user, and pacing over real HTTP.

* By id or login list, users are resolved by batched ``search`` (one request for
  dozens of users), never one GET each: a whole plan-and-apply costs at most
  1.1 times the one DELETE per user it cannot do without.
* An id that Okta does not know when its DELETE is sent is a failed item that
  says "not found", and the others are still revoked.
* Over loopback with injected latency, the governor (default settings, no
  worker count) keeps every server window within the share, meets no 429, and
  reaches at least 0.8 of the allowed rate, all read from the sandbox's own
  request log.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kmsi_lib.okta.auth import SSWSAuth
from kmsi_lib.okta.client import OktaClient
from kmsi_lib.procedures import reset_sessions
from kmsi_lib.sandbox import SANDBOX_URL, Sandbox

BUCKET = "/api/v1/users"


def _bulk_org(n: int) -> tuple[Sandbox, list[dict[str, Any]]]:
    sb = Sandbox(seed="default")
    sb.admin.add_group("Bulk")
    users = [sb.admin.add_user(f"bulk{i:04d}@example.com", groups=["Bulk"]) for i in range(n)]
    return sb, users


@pytest.fixture
def org() -> Iterator[tuple[Sandbox, OktaClient, list[dict[str, Any]]]]:
    sb, users = _bulk_org(150)
    with OktaClient(SANDBOX_URL, SSWSAuth(sb.token), transport=sb.transport()) as client:
        yield sb, client, users


def _requests(sb: Sandbox) -> list[dict[str, Any]]:
    return sb.admin.requests()


@pytest.mark.parametrize("by", ["id", "login"])
def test_a_user_list_costs_at_most_a_tenth_more_than_one_delete_each(
    org: tuple[Sandbox, OktaClient, list[dict[str, Any]]], by: str
) -> None:
    sb, client, users = org
    named = [u["id"] if by == "id" else u["profile"]["login"] for u in users]
    sb.admin.clear_requests()
    planned = reset_sessions.plan(client, {"users": named})
    plan_log = _requests(sb)
    assert [c.ref.id for c in planned.changes] == [u["id"] for u in users]
    assert [c.ref.name for c in planned.changes] == [u["profile"]["login"] for u in users]
    reads = [e for e in plan_log if e["bucket"] == BUCKET]
    assert all(e["method"] == "GET" and e["path"] == BUCKET for e in reads), "no GET per user"
    assert len(reads) <= math.ceil(len(users) / 40)
    result = reset_sessions.apply(client, planned)
    assert result.outcome == "applied", result.error
    log = _requests(sb)
    deletes = [e for e in log if e["method"] == "DELETE"]
    assert len(deletes) == len(users)  # the minimum: one revocation per user
    # The System Log confirmation afterwards (engine.conflicts, by event type) is a
    # check of the writes, not part of making them; everything else is within 1.1x.
    change = [e for e in log if e["bucket"] != "/api/v1/logs"]
    assert len(change) <= 1.1 * len(users), Counter((e["method"], e["bucket"]) for e in log)


def test_unknown_entries_are_reported_from_the_batch_search(
    org: tuple[Sandbox, OktaClient, list[dict[str, Any]]],
) -> None:
    sb, client, users = org
    ghost_id = "00u" + "Z" * 17
    named = [users[0]["id"], ghost_id, "ghost@example.com", users[1]["profile"]["login"]]
    with pytest.raises(reset_sessions.ParameterError) as refused:
        reset_sessions.plan(client, {"users": named})
    assert refused.value.field == "users[1]" and ghost_id in refused.value.message
    assert "1 more not found" in refused.value.message
    planned = reset_sessions.plan(client, {"users": named, "skip_unknown_users": True})
    assert [c.ref.id for c in planned.changes] == [users[0]["id"], users[1]["id"]]
    skipped = [w for w in planned.warnings if w.startswith("skipped")]
    assert len(skipped) == 2 and ghost_id in skipped[0] and "ghost@example.com" in skipped[1]


def test_an_id_unknown_when_revoked_is_a_failed_item_saying_not_found(
    org: tuple[Sandbox, OktaClient, list[dict[str, Any]]],
) -> None:
    sb, client, users = org
    planned = reset_sessions.plan(client, {"users": [u["id"] for u in users[:5]]})
    gone = users[2]["id"]
    # Okta answers 404 for the DELETE of a user deleted after the plan was checked.
    sb.admin.add_fault(
        {"match": {"method": "DELETE", "path": f"/api/v1/users/{gone}/*"}, "status": 404}
    )
    result = reset_sessions.apply(client, planned)
    assert result.outcome == "failed"
    outcomes = {a.result["id"]: a.result for a in result.applied if a.result}
    assert outcomes[gone]["outcome"] == "failed"
    assert str(outcomes[gone]["error"]).startswith("not found:")
    assert sorted(r["userId"] for r in sb.admin.session_revocations()) == sorted(
        u["id"] for u in users[:5] if u["id"] != gone
    )


# --------------------------------------------------------------------------- real HTTP, paced

N = 300
LIMIT = 200  # per window, on the users bucket
WINDOW_S = 4.0
SHARE = 0.5  # the default max_api_capacity
LATENCY_MS = 100.0


def _windows(hits: list[float]) -> list[list[float]]:
    """Hits grouped into the sandbox's windows: one opens at the whole second of the first
    hit after the previous one closed, and lasts WINDOW_S."""
    windows: list[list[float]] = []
    end = -math.inf
    for at in sorted(hits):
        if at >= end:
            windows.append([])
            end = math.floor(at) + WINDOW_S
        windows[-1].append(at)
    return windows


@pytest.mark.timeout(60)
def test_reset_by_group_over_http_uses_the_share_and_no_more() -> None:
    sb, users = _bulk_org(N)
    with sb.serve(port=0) as url, httpx.Client(base_url=url) as admin:
        admin.put(
            "/_sandbox/rate-limits", json={BUCKET: {"limit": LIMIT, "window_s": WINDOW_S}}
        ).raise_for_status()
        admin.post(
            "/_sandbox/faults",
            json={"match": {"path": "/api/v1/*"}, "latency_ms": LATENCY_MS, "jitter_ms": 20},
        ).raise_for_status()
        with OktaClient(url, SSWSAuth(sb.token)) as client:  # default settings
            planned = reset_sessions.plan(client, {"group": "Bulk"})
            assert len(planned.changes) == N
            admin.delete("/_sandbox/requests").raise_for_status()
            started = time.monotonic()
            result = reset_sessions.apply(client, planned)
            elapsed = time.monotonic() - started
            journal = [e for e in client.journal.entries if e.method == "DELETE"]
        log = admin.get("/_sandbox/requests").json()
    assert result.outcome == "applied", result.error
    assert Counter(e["status"] for e in log)[429] == 0, "never refused, for rate or concurrency"
    deletes = [e for e in log if e["method"] == "DELETE"]
    assert len(deletes) == N and {e["status"] for e in deletes} == {204}
    budget = int(LIMIT * SHARE)
    # The limiter counts a request after the injected latency: at the end of its
    # logged duration (its handling takes well under a millisecond).
    windows = _windows([e["ts"] + e["ms"] / 1000 for e in deletes])
    counts = [len(w) for w in windows]
    assert max(counts) <= budget, counts
    # The same from the headers the sandbox sent: used = limit - lowest remaining.
    lowest: dict[str, int] = {}
    for entry in journal:
        rate = entry.rate_limit or {}
        reset, remaining = rate["x-rate-limit-reset"], int(rate["x-rate-limit-remaining"])
        lowest[reset] = min(lowest.get(reset, LIMIT), remaining)
    assert max(LIMIT - r for r in lowest.values()) <= budget, lowest
    # Throughput over the windows before the last (the last may end early): at least 0.8
    # of the allowed rate, so no window was left half used or idle.
    assert len(windows) >= 3, counts
    full = sum(counts[:-1])
    rate = full / (windows[-1][0] - windows[0][0])
    allowed = budget / WINDOW_S
    assert rate >= 0.8 * allowed, (rate, allowed, counts)
    assert elapsed < 30


def test_the_system_log_confirmation_of_300_resets_takes_a_few_requests() -> None:
    """Listed by event type (1,000 a page), not 25 target ids per query: 300 users' resets
    are confirmed by a handful of System Log requests, and every write is matched."""
    sb, users = _bulk_org(300)
    with OktaClient(SANDBOX_URL, SSWSAuth(sb.token), transport=sb.transport()) as client:
        planned = reset_sessions.plan(client, {"group": "Bulk"})
        sb.admin.clear_requests()
        result = reset_sessions.apply(client, planned)
    assert result.outcome == "applied", result.error
    log = _requests(sb)
    assert sum(e["method"] == "DELETE" for e in log) == len(users)
    syslog = [e for e in log if e["bucket"] == "/api/v1/logs"]
    assert 1 <= len(syslog) <= 5, len(syslog)  # 24 at 25 target ids per query
    assert len(result.system_log) == len(users)
    assert all(w["matched"] for w in result.system_log)
    assert result.verification is not None and result.verification.ok


def test_a_long_plan_and_apply_show_the_first_rows_and_count_the_rest() -> None:
    """120 users: the notebook's text and HTML list SHOWN_MOST of the changes, writes and
    checks and say how many more there are; the JSON keeps every one."""
    from kmsi_lib.engine import render

    sb, users = _bulk_org(120)
    with OktaClient(SANDBOX_URL, SSWSAuth(sb.token), transport=sb.transport()) as client:
        planned = reset_sessions.plan(client, {"group": "Bulk"})
        result = reset_sessions.apply(client, planned)
    assert result.outcome == "applied", result.error
    more = len(users) - render.SHOWN_MOST
    for shown in (render.plan_text(planned), render.plan_html(planned)):
        assert f"and {more} more change(s)" in shown
        assert sum(u["profile"]["login"] in shown for u in users) == render.SHOWN_MOST
    for shown in (render.apply_result_text(result), render.apply_result_html(result)):
        assert f"and {more} more change(s) written" in shown
        assert f"and {more} more write(s)" in shown
        assert "more check(s)" in shown
        assert len(shown) < 60_000, len(shown)
    assert len(result.to_dict()["applied"]) == len(users)
