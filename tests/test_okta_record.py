"""Okta's own record in the evidence: each write matched to its System Log events.

After an apply, the System Log events of the objects written are listed and matched to
the run's writes by request id (``X-Okta-Request-Id`` = the event's ``transaction.id``);
the apply result keeps them (``system_log``) and its text and HTML show them. A write
with no matching event is flagged, and its check fails (here: one event suppressed on the
way back from the sandbox).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from procedure_support import apply_acknowledged, make_org

from kmsi_lib.engine import conflicts
from kmsi_lib.okta.auth import SSWSAuth
from kmsi_lib.okta.client import OktaClient
from kmsi_lib.procedures import post_auth, reset_sessions
from kmsi_lib.sandbox import SANDBOX_URL, Sandbox

SALESFORCE = {"apps": {"labels": ["Salesforce.com"]}, "max_session_idle_minutes": 60}


def test_each_write_of_an_apply_is_matched_to_its_event() -> None:
    org = make_org()
    result = apply_acknowledged(post_auth, org.client, post_auth.plan(org.client, SALESFORCE))
    assert result.outcome == "applied" and result.verification.ok
    record = result.system_log
    assert len(record) == 2 and all(w["matched"] for w in record)
    sent = {s.path for s in org.wire.writes()}
    assert {w["path"] for w in record} <= sent
    events = [e for w in record for e in w["events"]]
    assert {e["eventType"] for e in events} == {"policy.rule.update"}
    assert {e["outcome"] for e in events} == {"SUCCESS"}
    assert all(e["actor"] and e["published"] for e in events)
    assert "Okta's System Log: 2 of 2 write(s) confirmed" in result.to_text()
    assert 'class="kmsi-okta-record"' in result._repr_html_()
    again = type(result).from_dict(json.loads(json.dumps(result.to_dict())))
    assert again.system_log == record


def _hiding(
    sandbox: Sandbox, hidden: list[str], *, listings: int | None = None
) -> httpx.MockTransport:
    """The sandbox, but the System Log leaves out the events of the first write answered
    (from every listing, or from the first ``listings`` listings after that write)."""
    inner = sandbox.transport()
    listed_after: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        response = inner.handle_request(request)
        writes = request.method != "GET" and not request.url.path.endswith("/simulate")
        if writes and not hidden:
            hidden.append(response.headers.get("X-Okta-Request-Id", ""))
        if request.url.path == "/api/v1/logs" and hidden:
            listed_after.append(request)
        if request.url.path == "/api/v1/logs" and (
            listings is None or len(listed_after) <= listings
        ):
            response.read()
            kept = [
                e for e in response.json() if (e.get("transaction") or {}).get("id") not in hidden
            ]
            headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
            return httpx.Response(response.status_code, json=kept, headers=headers)
        return response

    return httpx.MockTransport(handler)


def test_a_write_the_log_does_not_show_is_flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conflicts, "SYSLOG_WAIT_S", 0.2)
    sandbox = Sandbox(seed="default")
    hidden: list[str] = []
    client = OktaClient(SANDBOX_URL, SSWSAuth(sandbox.token), transport=_hiding(sandbox, hidden))
    plan = reset_sessions.plan(client, {"group": "KMSI Pilot"})
    assert len(plan.changes) > 1
    result = reset_sessions.apply(client, plan)
    record: list[dict[str, Any]] = result.system_log
    flagged = [w for w in record if not w["matched"]]
    assert [w["request_id"] for w in flagged] == hidden
    assert len(record) - len(flagged) == len(plan.changes) - 1
    (check,) = [c for c in result.verification.checks if "System Log" in c.name]
    assert not check.ok and hidden[0] in str(check.actual)
    assert "NOT shown" in result.to_text() and "NO EVENT" in result.to_text()
    confirmed = {e["eventType"] for w in record for e in w["events"]}
    assert confirmed == {"user.session.clear"}


@pytest.mark.parametrize(
    ("procedure", "params"),
    [
        pytest.param(post_auth, SALESFORCE, id="targets-listed-lost-update-witness"),
        pytest.param(reset_sessions, {"group": "KMSI Pilot"}, id="listed-by-event-type"),
    ],
)
def test_a_write_the_log_shows_late_is_waited_for(procedure: Any, params: dict[str, Any]) -> None:
    """A write whose event is missing from the first listing after it is listed again
    and then matched: both ways of listing the log wait for it."""
    sandbox = Sandbox(seed="default")
    hidden: list[str] = []
    client = OktaClient(
        SANDBOX_URL, SSWSAuth(sandbox.token), transport=_hiding(sandbox, hidden, listings=1)
    )
    result = apply_acknowledged(procedure, client, procedure.plan(client, params))
    assert hidden and hidden[0] in {w["request_id"] for w in result.system_log}
    assert all(w["matched"] for w in result.system_log)
    assert result.verification.ok


def test_the_log_is_listed_again_until_every_write_shows() -> None:
    """Okta publishes events within seconds: a write not yet in the log is waited for,
    with a growing pause, and the wait ends as soon as every write shows."""
    from kmsi_lib.engine import conflicts

    event = {"transaction": {"id": "req-1"}}
    pages: list[list[dict[str, object]]] = [[], [], [event], [event, event]]
    pauses: list[float] = []

    def listed() -> list[dict[str, object]]:
        return pages[min(len(pauses), len(pages) - 1)]

    shown = conflicts._until_shown(listed, {"req-1"}, wait_s=60, sleep=pauses.append)
    assert shown == [event] and pauses == [0.5, 1.0]  # listed three times, not four
    pauses.clear()
    never = conflicts._until_shown(lambda: [], {"req-2"}, wait_s=0, sleep=pauses.append)
    assert never == [] and pauses == []  # past the deadline: given up, not waited for
