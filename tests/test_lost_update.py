"""No silent lost update: two operators at once, and writes behind an apply's back.

Okta's PUT replaces the whole object and has no ``If-Match``, so the drift
check alone cannot stop operator B's write landing between operator A's
drift check and A's own write. Before claiming verified, an apply asks Okta's
System Log (and ``lastUpdated``) whether anyone else wrote its objects while
it ran; these tests stage the races against the sandbox and check that the
run that lost says so, by object.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from procedure_support import apply_acknowledged, sandbox_writes

from kmsi_lib.engine import Plan
from kmsi_lib.engine import conflicts as _conflicts
from kmsi_lib.okta.auth import SSWSAuth
from kmsi_lib.okta.client import OktaClient
from kmsi_lib.procedures import post_auth
from kmsi_lib.sandbox import SANDBOX_URL, Sandbox

Hook = Callable[[httpx.Request, str], None]


class HookTransport(httpx.BaseTransport):
    """Calls ``hook(request, "before"|"after")`` around each request it forwards."""

    def __init__(self, inner: httpx.BaseTransport, hook: Hook) -> None:
        self.inner, self.hook = inner, hook

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.hook(request, "before")
        response = self.inner.handle_request(request)
        self.hook(request, "after")
        return response


def _client(sb: Sandbox, hook: Hook | None = None) -> OktaClient:
    transport: httpx.BaseTransport = sb.transport()
    if hook is not None:
        transport = HookTransport(transport, hook)
    return OktaClient(SANDBOX_URL, SSWSAuth(sb.token), transport=transport)


def _params(frequency: str) -> dict[str, Any]:
    return {
        "apps": {"labels": ["Slack"]},
        "prompt_frequency": frequency,
        "update_default_rule": False,
    }


def _approved(plan: Plan) -> Plan:
    return Plan.from_dict(json.loads(json.dumps(plan.to_dict())))


def _once(when: str, method: str, action: Callable[[], None]) -> Hook:
    fired: list[bool] = []

    def hook(request: httpx.Request, moment: str) -> None:
        if moment == when and request.method == method and not fired:
            fired.append(True)
            action()

    return hook


def _failed(result: Any) -> list[Any]:
    return [c for c in result.verification.checks if not c.ok]


def test_a_write_between_drift_check_and_write_fails_the_run_that_overwrote_it() -> None:
    """The race from the issue: A passes its drift check, B plans and applies a conflicting
    change, then A's delayed write lands. A must not say verified; it names the rule."""
    sb = Sandbox(seed="default")
    b = _client(sb)
    b_result: list[Any] = []

    def operator_b() -> None:
        b_result.append(
            apply_acknowledged(post_auth, b, _approved(post_auth.plan(b, _params("P1D"))))
        )

    a = _client(sb, _once("before", "PUT", operator_b))
    plan_a = _approved(post_auth.plan(a, _params("P7D")))
    result_a = apply_acknowledged(post_auth, a, plan_a)

    (result_b,) = b_result
    assert result_b.verification.ok, "B verified before A's write landed: true when it said it"
    failed = _failed(result_a)
    assert failed, "A overwrote B's write and must not claim verified"
    assert all("nobody else wrote" in c.name for c in failed), [c.name for c in failed]
    rule = plan_a.changes[0].ref
    assert any(rule.id in c.name for c in failed), [c.name for c in failed]
    (event,) = failed[0].actual
    assert event["eventType"] == "policy.rule.update" and event["actor"]
    # the org holds A's values, and B's parameters no longer verify: nobody is left believing
    # that B's change is in place
    assert not post_auth.verify(b, _params("P1D")).ok


def test_a_write_after_ours_but_before_the_read_back_is_named() -> None:
    """Someone edits the rule (a field the runbook does not own) right after A's write."""
    sb = Sandbox(seed="default")
    raw = sb.client()

    def admin_console_edit() -> None:
        state = sb.admin.snapshot()
        slack = next(i for i, x in state["apps"].items() if x["label"] == "Slack")
        pid = state["app_policy"][slack]["policyId"]
        rule = next(
            r
            for r in raw.get(f"/api/v1/policies/{pid}/rules").json()
            if r["name"] == "Catch-all Rule"
        )
        rule.setdefault("conditions", None)
        assert (
            raw.put(
                f"/api/v1/policies/{pid}/rules/{rule['id']}",
                json={**rule, "name": "Catch-all Rule"},
            ).status_code
            == 200
        )

    a = _client(sb, _once("after", "PUT", admin_console_edit))
    result = apply_acknowledged(post_auth, a, _approved(post_auth.plan(a, _params("P7D"))))
    names = [c.name for c in _failed(result)]
    assert any("nobody else wrote" in n for n in names), names


def test_an_apply_nobody_interfered_with_shows_it() -> None:
    sb = Sandbox(seed="default")
    a = _client(sb)
    result = apply_acknowledged(post_auth, a, _approved(post_auth.plan(a, _params("P7D"))))
    assert result.verification.ok, result.to_text()
    witness = [c for c in result.verification.checks if "System Log" in c.name]
    assert witness and all(c.ok for c in witness)
    assert sandbox_writes(sb), "the apply wrote"


def test_when_the_log_cannot_be_read_the_run_says_so() -> None:
    sb = Sandbox(seed="default")
    sb.admin.add_fault(
        {"match": {"method": "GET", "path": "/api/v1/logs*"}, "status": 403, "count": 100}
    )
    a = _client(sb)
    result = apply_acknowledged(post_auth, a, _approved(post_auth.plan(a, _params("P7D"))))
    (failed,) = _failed(result)
    assert "could be read" in failed.name and str(failed.actual).startswith("not shown")


def test_when_the_log_does_not_show_our_own_writes_the_run_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Okta publishes events within seconds; if ours never show, nobody can be ruled out."""
    monkeypatch.setattr(_conflicts, "SYSLOG_WAIT_S", 0.0)
    sb = Sandbox(seed="default")
    inner = sb.transport()

    class Laggy(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = inner.handle_request(request)
            if request.url.path == "/api/v1/logs":
                response.read()
                return httpx.Response(200, json=[], headers={"Content-Type": "application/json"})
            return response

    a = OktaClient(SANDBOX_URL, SSWSAuth(sb.token), transport=Laggy())
    result = apply_acknowledged(post_auth, a, _approved(post_auth.plan(a, _params("P7D"))))
    names = [c.name for c in _failed(result)]
    assert names == [
        "Okta's System Log shows this apply's own writes, so other writers can be ruled out"
    ], names


def test_find_conflicts_is_pure_and_allows_one_event_per_lost_answer() -> None:
    target = _conflicts.Target("rul1", "rule 'x' (rul1)")

    def update(uuid: str, transaction: str, **more: Any) -> dict[str, Any]:
        """A System Log event: rule rul1 updated, by the request ``transaction``."""
        return {
            "uuid": uuid,
            "eventType": "policy.rule.update",
            "target": [{"id": "rul1"}],
            "transaction": {"id": transaction},
            **more,
        }

    events = [
        update("old", "theirs-before"),
        update("ours", "req-1"),
        update("lost", "unknown-1"),
        update("foreign", "theirs", actor={"alternateId": "bob"}),
    ]
    foreign, adopted = _conflicts.find_conflicts(
        [target], events, baseline={"old"}, own_request_ids={"req-1"}, lost_answers=1
    )
    assert [e["requestId"] for e in adopted] == ["unknown-1"]
    assert [e["actor"] for e in foreign["rul1"]] == ["bob"]
    policy = _conflicts.Target("pol1", "policy", primary_only=True)
    other_rule = {
        "uuid": "r",
        "target": [{"id": "rul9"}, {"id": "pol1"}],
        "transaction": {"id": "x"},
    }
    assert _conflicts.find_conflicts([policy], [other_rule], baseline=set(), own_request_ids=set())[
        0
    ] == {"pol1": []}
