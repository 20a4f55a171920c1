"""The sandbox's System Log (``GET /api/v1/logs``) and ``kmsi_lib.okta.resources.logs`` over it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from key_forms import oauth_env
from okta_spec import SpecCheckingTransport, unexcused

from kmsi_lib import errors
from kmsi_lib.okta.auth import SSWSAuth
from kmsi_lib.okta.client import OktaClient
from kmsi_lib.okta.resources import logs
from kmsi_lib.sandbox import SANDBOX_URL, Sandbox
from kmsi_lib.sandbox._app import TABLE
from kmsi_lib.sandbox._syslog import AUDITS

#: An hour ago: a since Okta accepts (at most 180 days back) before every test event.
RECENT = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
PAGE = {"pageContent": "<html></html>", "widgetVersion": "^7", "widgetCustomizations": {}}
RULE = {
    "type": "ACCESS_POLICY",
    "name": "Logs: KMSI",
    "priority": 0,
    "actions": {"appSignOn": {"access": "ALLOW"}},
}


def _ids(c: httpx.Client) -> dict[str, str]:
    policies = c.get("/api/v1/policies", params={"type": "ACCESS_POLICY"}).json()
    slack = c.get("/api/v1/apps", params={"q": "Slack"}).json()[0]
    brands = c.get("/api/v1/brands").json()
    user = c.get("/api/v1/users", params={"limit": "1"}).json()[0]
    return {
        "partners": next(p["id"] for p in policies if p["name"] == "Partner apps"),
        "slack": slack["id"],
        "brand": brands[1]["id"],
        "user": user["id"],
        "login": user["profile"]["login"],
    }


def _events(sb: Sandbox, request_id: str) -> list[dict[str, Any]]:
    return [e for e in sb.admin.log_events() if e["transaction"]["id"] == request_id]


def _writes(c: httpx.Client, ids: dict[str, str]) -> list[tuple[str, httpx.Response, list[str]]]:
    """One of every logged write: (expected event type, response, expected target ids)."""
    out: list[tuple[str, httpx.Response, list[str]]] = []
    r = c.post("/api/v1/policies", json={"type": "ACCESS_POLICY", "name": "Logs: new"})
    pid = r.json()["id"]
    out.append(("policy.lifecycle.create", r, [pid]))
    body = {k: v for k, v in r.json().items() if k != "_links"} | {"description": "changed"}
    out.append(("policy.lifecycle.update", c.put(f"/api/v1/policies/{pid}", json=body), [pid]))
    for action in ("deactivate", "activate"):
        out.append(
            (
                f"policy.lifecycle.{action}",
                c.post(f"/api/v1/policies/{pid}/lifecycle/{action}"),
                [pid],
            )
        )
    r = c.post(f"/api/v1/policies/{pid}/rules", json=RULE)
    rid = r.json()["id"]
    out.append(("policy.rule.add", r, [rid, pid]))
    out.append(
        (
            "policy.rule.update",
            c.put(f"/api/v1/policies/{pid}/rules/{rid}", json=RULE | {"name": "Logs: 2"}),
            [rid, pid],
        )
    )
    for action in ("deactivate", "activate"):
        out.append(
            (
                f"policy.rule.{action}",
                c.post(f"/api/v1/policies/{pid}/rules/{rid}/lifecycle/{action}"),
                [rid, pid],
            )
        )
    out.append(("policy.rule.delete", c.delete(f"/api/v1/policies/{pid}/rules/{rid}"), [rid, pid]))
    previous = c.get(f"/api/v1/apps/{ids['slack']}").json()["_links"]["accessPolicy"]["href"]
    out.append(
        (
            "policy.mapping.create",
            c.put(f"/api/v1/apps/{ids['slack']}/policies/{ids['partners']}"),
            [ids["partners"], previous.rsplit("/", 1)[-1], ids["slack"]],
        )
    )
    brand = ids["brand"]
    for kind in ("customized", "preview"):
        path = f"/api/v1/brands/{brand}/pages/sign-in/{kind}"
        out.append(("system.custom_signin.update", c.put(path, json=PAGE), [brand, kind]))
        out.append(("system.custom_signin.delete", c.delete(path), [brand, kind]))
    out.append(
        ("user.session.clear", c.delete(f"/api/v1/users/{ids['user']}/sessions"), [ids["user"]])
    )
    out.append(("policy.lifecycle.delete", c.delete(f"/api/v1/policies/{pid}"), [pid]))
    return out


def test_every_write_leaves_its_event_with_the_response_request_id(sandbox: Sandbox) -> None:
    """Each write: one event of the catalogue's type, its targets, the SSWS token's admin as
    actor, and transaction.id = debugData.requestId = the response's X-Okta-Request-Id."""
    with sandbox.client() as c:
        writes = _writes(c, _ids(c))
    admin = next(
        u
        for u in sandbox.admin.snapshot()["users"].values()
        if u["profile"]["login"].startswith("okta.admin@")
    )
    for event_type, response, target_ids in writes:
        assert response.status_code < 300, response.text
        request_id = response.headers["X-Okta-Request-Id"]
        (event,) = _events(sandbox, request_id)
        assert event["eventType"] == event_type
        assert [t["id"] for t in event["target"]] == target_ids, event_type
        assert event["debugContext"]["debugData"]["requestId"] == request_id
        assert event["transaction"]["type"] == "WEB"
        assert event["actor"] == {
            "id": admin["id"],
            "type": "User",
            "alternateId": admin["profile"]["login"],
            "displayName": "Okta Admin",
            "detailEntry": None,
        }
        assert event["transaction"]["detail"]["requestApiTokenId"].startswith("00T")
        assert event["outcome"] == {"result": "SUCCESS", "reason": None}
    assert len(sandbox.admin.log_events()) == len(writes)


def test_the_app_assignment_names_the_new_and_the_previous_policy(sandbox: Sandbox) -> None:
    with sandbox.client() as c:
        ids = _ids(c)
        r = c.put(f"/api/v1/apps/{ids['slack']}/policies/{ids['partners']}")
    new, old, app = _events(sandbox, r.headers["X-Okta-Request-Id"])[0]["target"]
    assert (new["type"], new["detailEntry"]["isPreviousPolicy"]) == ("PolicyEntity", False)
    assert (old["type"], old["detailEntry"]["isPreviousPolicy"]) == ("PolicyEntity", True)
    assert (app["type"], app["displayName"]) == ("AppInstance", "Slack")


def test_every_write_route_but_the_token_endpoint_is_audited() -> None:
    """A write route without an event would hide an out-of-band change from the engine."""
    unaudited = {
        ep.handler.__name__
        for methods in TABLE.values()
        for ep in methods.values()
        if ep.write and ep.audit is None
    }
    # POST .../mappings always answers 400 in the sandbox; the token grant writes no object
    assert unaudited == {"create_mapping", "_token_endpoint"}
    handlers = {ep.handler.__name__ for methods in TABLE.values() for ep in methods.values()}
    assert set(AUDITS) <= handlers


def test_refused_writes_leave_no_event(sandbox_client: httpx.Client, sandbox: Sandbox) -> None:
    assert sandbox_client.post("/api/v1/policies", json={"type": "NOPE"}).status_code == 400
    assert sandbox_client.delete("/api/v1/policies/00pDOESNOTEXIST12345").status_code == 404
    assert sandbox_client.delete("/api/v1/users/nobody/sessions").status_code == 404
    assert sandbox.admin.log_events() == []


def test_an_oauth_service_app_is_the_actor_of_its_writes(sandbox: Sandbox) -> None:
    service = next(
        a
        for a in sandbox.admin.snapshot()["apps"].values()
        if a["settings"].get("oauthClient", {}).get("application_type") == "service"
    )
    key = ec.generate_private_key(ec.SECP256R1())
    scopes = ["okta.users.manage", "okta.logs.read"]
    env = oauth_env(sandbox, service["id"], key, "k1", scopes, url=SANDBOX_URL)
    with OktaClient.from_env(
        scopes=tuple(scopes), env=env, transport=sandbox.transport()
    ) as client:
        user = client.get_json("/api/v1/users", params={"limit": "1"})[0]
        response = client.request("DELETE", f"/api/v1/users/{user['id']}/sessions")
        (event,) = logs.list_log_events(
            client,
            since=datetime.now(UTC) - timedelta(minutes=1),
            filter='eventType eq "user.session.clear"',
        )
    assert event["transaction"]["id"] == response.headers["X-Okta-Request-Id"]
    assert event["actor"] == {
        "id": service["id"],
        "type": "PublicClientApp",
        "alternateId": service["id"],
        "displayName": service["label"],
        "detailEntry": None,
    }
    assert event["client"]["id"] == service["id"]
    assert event["authenticationContext"]["credentialType"] == "OAuth 2.0"


def test_reading_the_log_needs_okta_logs_read(sandbox: Sandbox) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    env = oauth_env(sandbox, "0oaLogsNarrow001", key, "k1", ["okta.policies.read"], url=SANDBOX_URL)
    with OktaClient.from_env(
        scopes=("okta.policies.read", "okta.logs.read"), env=env, transport=sandbox.transport()
    ) as client:
        with pytest.raises(errors.InsufficientScopeError) as info:
            logs.list_log_events(client, since=RECENT)
    assert info.value.scope == "okta.logs.read"


# ---- queries ---------------------------------------------------------------------------------


@pytest.fixture
def logged(sandbox: Sandbox) -> tuple[httpx.Client, list[tuple[str, httpx.Response, list[str]]]]:
    c = sandbox.client()
    return c, _writes(c, _ids(c))


def _get(c: httpx.Client, **params: str) -> httpx.Response:
    r = c.get("/api/v1/logs", params=params)
    assert r.status_code == 200, r.text
    return r


def test_filters_by_event_type_target_and_actor(logged: Any) -> None:
    c, writes = logged
    rules = _get(c, filter='eventType sw "policy.rule" and eventType ne "policy.rule.add"').json()
    assert [e["eventType"] for e in rules] == [
        "policy.rule.update",
        "policy.rule.deactivate",
        "policy.rule.activate",
        "policy.rule.delete",
    ]
    pid = writes[0][2][0]
    by_target = _get(c, filter=logs.target_filter([pid, writes[-2][2][0]])).json()
    assert len(by_target) == 11  # the policy's 10 events (its rules' name it too) + the user's
    assert {e["eventType"] for e in _get(c, filter='event_type ew ".clear"').json()} == {
        "user.session.clear"
    }
    actor = by_target[0]["actor"]["id"]
    assert len(_get(c, filter=f'actor.id eq "{actor}"').json()) == len(writes)
    assert _get(c, filter=f'actor.id ne "{actor}"').json() == []
    grouped = '(eventType eq "policy.lifecycle.create" or eventType co "mapping") and target.id pr'
    assert len(_get(c, filter=grouped).json()) == 2


@pytest.mark.parametrize(
    ("params", "code", "summary"),
    [
        pytest.param(
            {"filter": 'eventType eqq "x"'},
            "E0000053",
            "Unrecognized attribute operator",
            id="bad-operator",
        ),
        pytest.param(
            {"filter": 'published gt "2026"'},
            "E0000053",
            "field is not valid",
            id="published-in-filter",
        ),
        pytest.param(
            {"filter": 'nosuch eq "x"'}, "E0000053", "field is not valid", id="unknown-field"
        ),
        pytest.param(
            {"since": "yesterday"}, "E0000001", "'since': The date format", id="bad-since"
        ),
        pytest.param({"until": "2026-13-01T00:00:00Z"}, "E0000001", "'until'", id="bad-until"),
        pytest.param(
            {"since": "2020-01-01T00:00:00.000Z"}, "E0000053", "over 180 days", id="since-too-old"
        ),
        pytest.param({"q": "x" * 41}, "E0000001", "longer than 40 characters", id="long-q"),
        pytest.param({"sortOrder": "UP"}, "E0000001", "sortOrder", id="bad-sort"),
        pytest.param({"limit": "ten"}, "E0000001", "limit", id="bad-limit"),
    ],
)
def test_bad_queries_are_refused_as_okta_does(
    sandbox_client: httpx.Client, params: dict[str, str], code: str, summary: str
) -> None:
    r = sandbox_client.get("/api/v1/logs", params=params)
    assert r.status_code == 400
    assert r.json()["errorCode"] == code
    assert summary in r.json()["errorSummary"]


def test_keyword_search_matches_whole_words_case_insensitively(logged: Any) -> None:
    c, _ = logged
    assert {e["eventType"] for e in _get(c, q="CLEAR user").json()} == {"user.session.clear"}
    assert _get(c, q="clea").json() == []
    request_id = _get(c).json()[0]["transaction"]["id"]
    assert len(_get(c, q=request_id).json()) == 1
    # hyphenated values also match by their parts (a request id may hold no hyphen, so make one)
    uuid_part = _get(c).json()[0]["uuid"].split("-")[0]
    assert len(_get(c, q=uuid_part).json()) == 1


def test_since_and_until_bound_the_published_time(logged: Any) -> None:
    c, writes = logged
    events = _get(c).json()
    assert len(events) == len(writes)
    middle = events[len(events) // 2]["published"]
    later = _get(c, since=middle).json()
    earlier = _get(c, since=RECENT, until=middle).json()
    assert all(e["published"] >= middle for e in later)
    assert all(e["published"] < middle for e in earlier)
    assert len(later) + len(earlier) == len(events)
    future = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    assert _get(c, since=future).json() == []
    week_ago = (datetime.now(UTC) - timedelta(days=8)).isoformat()
    assert _get(c, until=week_ago).json() == [], "since defaults to 7 days before until"


def _follow(c: httpx.Client, first: httpx.Response, pages: int) -> list[list[dict[str, Any]]]:
    out, response = [first.json()], first
    for _ in range(pages):
        nxt = response.links.get("next")
        if nxt is None:
            break
        response = c.get(nxt["url"])
        out.append(response.json())
    return out


def test_bounded_queries_page_with_after_and_end(logged: Any) -> None:
    c, writes = logged
    until = (datetime.now(UTC) + timedelta(seconds=5)).isoformat()
    first = _get(c, since=RECENT, until=until, limit="4")
    assert first.links["self"]["url"].endswith("limit=4")
    pages = _follow(c, first, 20)
    assert [len(p) for p in pages][:-1] == [4] * (len(pages) - 1)
    assert sum(map(len, pages)) == len(writes)
    seen = [e["uuid"] for p in pages for e in p]
    assert len(set(seen)) == len(seen)
    last = c.get(first.links["next"]["url"])  # follow once more from page 1: same page 2
    assert [e["uuid"] for e in last.json()] == [e["uuid"] for e in pages[1]]
    down = _follow(c, _get(c, until=until, sortOrder="DESCENDING", limit="5"), 20)
    assert [e["uuid"] for p in down for e in p] == seen[::-1]


def test_a_polling_query_always_has_a_next_link(sandbox: Sandbox, logged: Any) -> None:
    c, writes = logged
    pages = _follow(c, _get(c, limit="10"), 5)
    assert [len(p) for p in pages][:3] == [10, len(writes) - 10, 0]
    empty = c.get(c.get(_get(c, limit="10").links["next"]["url"]).links["next"]["url"])
    assert empty.json() == [] and "next" in empty.links
    c.post("/api/v1/policies", json={"type": "ACCESS_POLICY", "name": "Logs: later"})
    newer = c.get(empty.links["next"]["url"]).json()  # the stream goes on from the cursor
    assert [e["eventType"] for e in newer] == ["policy.lifecycle.create"]


def test_the_logs_bucket_is_120_per_minute(sandbox: Sandbox, sandbox_client: httpx.Client) -> None:
    r = sandbox_client.get("/api/v1/logs")
    assert r.headers["X-Rate-Limit-Limit"] == "120"
    assert r.headers["X-Rate-Limit-Remaining"] == "119"
    assert int(r.headers["X-Rate-Limit-Reset"]) >= int(time.time())
    sandbox.admin.set_rate_limit("/api/v1/logs", 1)  # a new window: one more request
    assert sandbox_client.get("/api/v1/logs").is_success
    limited = sandbox_client.get("/api/v1/logs")
    assert limited.status_code == 429 and limited.json()["errorCode"] == "E0000047"
    assert sandbox_client.get("/api/v1/policies", params={"type": "ACCESS_POLICY"}).is_success


def test_responses_conform_to_the_spec(
    spec_client: httpx.Client, spec_transport: SpecCheckingTransport
) -> None:
    _writes(spec_client, _ids(spec_client))
    checked = spec_transport.checked
    for params in (
        {},
        {"limit": "3"},
        {"sortOrder": "DESCENDING", "until": "2099-01-01T00:00Z"},
        {"filter": 'eventType eq "policy.rule.add"'},
        {"q": "policy"},
    ):
        assert spec_client.get("/api/v1/logs", params=params).status_code == 200
    assert spec_client.get("/api/v1/logs", params={"since": "x"}).status_code == 400
    assert unexcused(spec_transport.violations) == []
    assert spec_transport.checked >= checked + 6


# ---- state, admin and loopback ---------------------------------------------------------------


def test_events_are_org_state_reset_clears_them(sandbox: Sandbox, tmp_path: Any) -> None:
    with sandbox.client() as c:
        c.delete(f"/api/v1/users/{_ids(c)['user']}/sessions")
    snap = sandbox.admin.snapshot()
    assert len(snap["log_events"]) == 1
    other = Sandbox(seed="classic")
    other.admin.load(json.loads(json.dumps(snap)))
    assert other.admin.log_events() == sandbox.admin.log_events()
    del snap["log_events"]  # a state file written before the System Log existed
    other.admin.load(snap)
    assert other.admin.log_events() == []
    sandbox.admin.reset()
    assert sandbox.admin.log_events() == []
    with sandbox.client() as c:
        assert c.get("/api/v1/logs").json() == []


def test_over_loopback_with_the_resource_function(live_sandbox: tuple[Sandbox, str]) -> None:
    sandbox, url = live_sandbox
    started = datetime.now(UTC) - timedelta(seconds=1)
    with OktaClient(url, SSWSAuth(sandbox.token)) as client:
        policy = client.request(
            "POST", "/api/v1/policies", json={"type": "ACCESS_POLICY", "name": "Logs: loopback"}
        )
        pid = policy.json()["id"]
        for _ in range(3):
            client.request("POST", f"/api/v1/policies/{pid}/lifecycle/deactivate")
        got = logs.list_log_events(client, since=started, filter=logs.target_filter([pid]), limit=2)
        bounded = logs.list_log_events(
            client, since=started, until=datetime.now(UTC) + timedelta(seconds=1), limit=1
        )
    assert [e["eventType"] for e in got] == ["policy.lifecycle.create"] + [
        "policy.lifecycle.deactivate"
    ] * 3
    assert got[0]["transaction"]["id"] == policy.headers["X-Okta-Request-Id"]
    assert got[0]["client"]["ipAddress"] == "127.0.0.1"
    assert [e["uuid"] for e in bounded] == [e["uuid"] for e in got]
    assert any(
        r["path"] == "/api/v1/logs" and "after=" in r["query"] for r in sandbox.admin.requests()
    )


# ---- the pure helpers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        pytest.param(["a"], 'target.id eq "a"', id="one"),
        pytest.param(["a", "b", "a"], 'target.id eq "a" or target.id eq "b"', id="dedup"),
        pytest.param(['x"y\\'], 'target.id eq "x\\"y\\\\"', id="escaped"),
    ],
)
def test_target_filter(ids: list[str], expected: str) -> None:
    assert logs.target_filter(ids) == expected


@pytest.mark.parametrize("bad", [[], [""], [None]], ids=["none", "empty", "not-a-string"])
def test_target_filter_refuses_no_ids(bad: list[Any]) -> None:
    with pytest.raises(errors.ParameterError):
        logs.target_filter(bad)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(
            datetime(2026, 5, 18, 9, 40, 10, 123456, tzinfo=UTC),
            "2026-05-18T09:40:10.123Z",
            id="utc",
        ),
        pytest.param(datetime(2026, 5, 18, 9, 40, 10), "2026-05-18T09:40:10.000Z", id="naive"),
        pytest.param("2026-05-18T09:40:10Z", "2026-05-18T09:40:10Z", id="string"),
    ],
)
def test_log_time(value: datetime | str, expected: str) -> None:
    assert logs.log_time(value) == expected


def test_list_log_events_refuses_a_limit_okta_would_not_take(sandbox: Sandbox) -> None:
    list_events: Callable[..., Any] = logs.list_log_events
    with OktaClient(SANDBOX_URL, SSWSAuth(sandbox.token), transport=sandbox.transport()) as c:
        with pytest.raises(errors.ParameterError):
            list_events(c, since=RECENT, limit=1001)
