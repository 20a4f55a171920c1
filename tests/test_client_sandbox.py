"""OktaClient against the sandbox org, in-process and over loopback HTTP, with injected faults.

The sandbox is an independent emulator of Okta; these tests check the
client's retry rules against what actually reaches it (its request log).
Waits are recorded and shortened so the suite stays fast; their computed
lengths are asserted.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from key_forms import oauth_env

from kmsi_lib import errors
from kmsi_lib.okta.auth import SSWSAuth
from kmsi_lib.okta.client import OktaClient, RetryPolicy
from kmsi_lib.okta.governor import Governor
from kmsi_lib.okta.resources import policies
from kmsi_lib.sandbox import SANDBOX_URL, Sandbox


@dataclass
class Sleeps:
    """Records requested waits; really sleeps only a little (the faults are count-based)."""

    cap: float = 0.01
    waits: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, seconds: float) -> None:
        with self.lock:
            self.waits.append(seconds)
        time.sleep(min(seconds, self.cap))


_OPEN: list[OktaClient] = []


def track(client: OktaClient) -> OktaClient:
    """Close this client after the test (loopback sockets must not outlive it)."""
    _OPEN.append(client)
    return client


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


@pytest.fixture(params=["in-process", "loopback"])
def org(request: pytest.FixtureRequest, sandbox: Sandbox) -> Iterator[tuple[Sandbox, str, Any]]:
    """(sandbox, base URL, transport or None) for both ways of reaching the sandbox."""
    if request.param == "in-process":
        yield sandbox, SANDBOX_URL, sandbox.transport()
    else:
        with sandbox.serve(port=0) as url:
            yield sandbox, url, None


def make_client(org: tuple[Sandbox, str, Any], **options: Any) -> tuple[OktaClient, Sleeps]:
    sb, url, transport = org
    sleeps = Sleeps()
    options.setdefault("timeout", 5.0)
    # Only the retry waits are recorded and shortened; the governor paces in real time.
    options.setdefault("governor", Governor())
    client = track(
        OktaClient(url, SSWSAuth(sb.token), transport=transport, sleep=sleeps, **options)
    )
    return client, sleeps


def log_for(sb: Sandbox, method: str, prefix: str) -> list[dict[str, Any]]:
    return [
        e for e in sb.admin.requests() if e["method"] == method and e["path"].startswith(prefix)
    ]


# ---------------------------------------------------------------- plain use


def test_reads_policies_and_org_type(org: tuple[Sandbox, str, Any]) -> None:
    client, _ = make_client(org)
    with client:
        client.require_identity_engine()
        found = policies.list_policies(client, "ACCESS_POLICY")
        assert found and all(p["type"] == "ACCESS_POLICY" for p in found)
        first = found[0]
        assert policies.find_policy_by_name(client, "ACCESS_POLICY", first["name"]) == first
        assert policies.get_policy(client, first["id"])["id"] == first["id"]
        assert client.journal.entries[-1].request_id


def test_classic_org_is_refused() -> None:
    sb = Sandbox(seed="classic")
    client = track(OktaClient(SANDBOX_URL, SSWSAuth(sb.token), transport=sb.transport()))
    with pytest.raises(errors.ClassicEngineError):
        client.require_identity_engine()


def test_bad_token_is_an_authentication_error(sandbox: Sandbox) -> None:
    client = track(
        OktaClient(SANDBOX_URL, SSWSAuth("not-the-token"), transport=sandbox.transport())
    )
    with pytest.raises(errors.AuthenticationError) as info:
        policies.list_policies(client, "OKTA_SIGN_ON")
    assert info.value.error_code == "E0000011"
    assert info.value.request_id
    assert "not-the-token" not in str(info.value)


def test_unknown_policy_is_not_found(sandbox: Sandbox) -> None:
    client = track(OktaClient(SANDBOX_URL, SSWSAuth(sandbox.token), transport=sandbox.transport()))
    with pytest.raises(errors.NotFoundError):
        policies.get_policy(client, "00pDoesNotExist00000")


def test_pagination_follows_the_sandbox_links(sandbox: Sandbox) -> None:
    client = track(OktaClient(SANDBOX_URL, SSWSAuth(sandbox.token), transport=sandbox.transport()))
    all_at_once = list(client.paginate("/api/v1/apps"))
    by_two = list(client.paginate("/api/v1/apps", {"limit": 2}))
    assert len(all_at_once) > 2
    assert [a["id"] for a in by_two] == [a["id"] for a in all_at_once]
    pages = [e for e in sandbox.admin.requests() if e["path"] == "/api/v1/apps"]
    assert len(pages) == 1 + -(-len(all_at_once) // 2)  # one listing + ceil(n / 2) pages


# ---------------------------------------------------------------- faults


def test_429_storm_is_waited_out_with_retry_headers(org: tuple[Sandbox, str, Any]) -> None:
    sb, _, _ = org
    client, sleeps = make_client(org)
    # retry_after_s 0: X-Rate-Limit-Reset equals the response's Date, so Okta's formula
    # (Reset - Date + 1) asks for exactly one second.
    sb.admin.add_fault(
        {
            "match": {"method": "GET", "path": "/api/v1/policies*"},
            "status": 429,
            "count": 3,
            "retry_after_s": 0,
        }
    )
    assert policies.list_policies(client, "OKTA_SIGN_ON")
    assert sleeps.waits == [1.0, 1.0, 1.0]
    statuses = [e["status"] for e in log_for(sb, "GET", "/api/v1/policies")]
    assert statuses == [429, 429, 429, 200]
    retries = [e.retry_count for e in client.journal.entries]
    assert retries == [0, 1, 2, 3]
    ids = [e.request_id for e in client.journal.entries]
    assert all(ids) and len(set(ids)) == 4


def test_429_storm_beyond_the_attempts_raises_rate_limited(org: tuple[Sandbox, str, Any]) -> None:
    sb, _, _ = org
    client, _ = make_client(org, retry=RetryPolicy(max_attempts=3))
    sb.admin.add_fault(
        {"match": {"path": "/api/v1/policies*"}, "status": 429, "count": 10, "retry_after_s": 0}
    )
    with pytest.raises(errors.RateLimitedError) as info:
        policies.list_policies(client, "OKTA_SIGN_ON")
    assert info.value.request_id
    assert info.value.request_id in str(info.value)
    assert len(log_for(sb, "GET", "/api/v1/policies")) == 3


def test_503s_are_retried_for_get_and_put(org: tuple[Sandbox, str, Any]) -> None:
    sb, _, _ = org
    client, sleeps = make_client(org)
    policy = policies.list_policies(client, "ACCESS_POLICY")[0]
    sb.admin.add_fault(
        {"match": {"method": "GET", "path": "/api/v1/policies/*"}, "status": 503, "count": 2}
    )
    sb.admin.add_fault(
        {"match": {"method": "PUT", "path": "/api/v1/policies/*"}, "status": 502, "count": 1}
    )
    got = policies.get_policy(client, policy["id"])
    replaced = policies.replace_policy(client, policy["id"], {**got, "description": "retried"})
    assert replaced["description"] == "retried"
    assert len(sleeps.waits) == 3
    assert [e["status"] for e in log_for(sb, "PUT", "/api/v1/policies/")] == [502, 200]


def test_post_503_is_not_retried(org: tuple[Sandbox, str, Any]) -> None:
    sb, _, _ = org
    client, sleeps = make_client(org)
    sb.admin.add_fault(
        {"match": {"method": "POST", "path": "/api/v1/policies"}, "status": 503, "count": 1}
    )
    body = {"type": "ACCESS_POLICY", "name": "KMSI test 503", "description": "x"}
    with pytest.raises(errors.ServerError) as info:
        policies.create_policy(client, body)
    assert info.value.ambiguous
    assert sleeps.waits == []
    assert len(log_for(sb, "POST", "/api/v1/policies")) == 1


def test_423_priority_reconciliation_is_retried(org: tuple[Sandbox, str, Any]) -> None:
    sb, _, _ = org
    client, sleeps = make_client(org)
    policy = policies.list_policies(client, "ACCESS_POLICY")[0]
    rule = policies.list_rules(client, policy["id"])[0]
    sb.admin.add_fault(
        {
            "match": {"method": "PUT", "path": "/api/v1/policies/*/rules/*"},
            "status": 423,
            "count": 2,
        }
    )
    assert policies.replace_rule(client, policy["id"], rule["id"], rule)["id"] == rule["id"]
    assert len(sleeps.waits) == 2
    assert [e["status"] for e in log_for(sb, "PUT", "/api/v1/policies/")] == [423, 423, 200]


def test_dropped_connection_on_get_is_retried(org: tuple[Sandbox, str, Any]) -> None:
    sb, _, _ = org
    client, _ = make_client(org)
    sb.admin.add_fault(
        {"match": {"method": "GET", "path": "/api/v1/policies*"}, "action": "drop", "count": 1}
    )
    assert policies.list_policies(client, "OKTA_SIGN_ON")
    assert [e.status for e in client.journal.entries] == [None, 200]


def test_post_dropped_after_it_took_effect_is_ambiguous_and_reconciled_by_name(
    org: tuple[Sandbox, str, Any],
) -> None:
    sb, _, _ = org
    client, _ = make_client(org)
    sb.admin.add_fault(
        {
            "match": {"method": "POST", "path": "/api/v1/policies"},
            "action": "drop",
            "when": "after",
            "count": 1,
        }
    )
    body = {"type": "ACCESS_POLICY", "name": "KMSI dropped create", "description": "x"}
    with pytest.raises(errors.TransportError) as info:
        policies.create_policy(client, body)
    assert info.value.ambiguous
    assert len(log_for(sb, "POST", "/api/v1/policies")) == 1
    # The caller reconciles by name: the policy was in fact created.
    found = policies.find_policy_by_name(client, "ACCESS_POLICY", "KMSI dropped create")
    assert found is not None and found["description"] == "x"


def test_delete_retried_after_a_lost_answer_counts_a_404_as_done(
    org: tuple[Sandbox, str, Any],
) -> None:
    """The first DELETE landed, its answer was lost; the retry's 404 means it is done."""
    sb, _, _ = org
    client, _ = make_client(org)
    made = policies.create_policy(client, {"type": "ACCESS_POLICY", "name": "KMSI to delete"})
    sb.admin.add_fault(
        {
            "match": {"method": "DELETE", "path": "/api/v1/policies/*"},
            "action": "drop",
            "when": "after",
            "count": 1,
        }
    )
    policies.delete_policy(client, made["id"])  # no error
    assert [e["status"] for e in log_for(sb, "DELETE", "/api/v1/policies/")][-1] == 404
    assert policies.find_policy_by_name(client, "ACCESS_POLICY", "KMSI to delete") is None


def test_a_plain_404_on_delete_is_still_an_error(org: tuple[Sandbox, str, Any]) -> None:
    _, _, _ = org
    client, _ = make_client(org)
    with pytest.raises(errors.NotFoundError):
        policies.delete_policy(client, "00pNoSuchPolicy00000")


def test_timeouts_are_retried_for_get(org: tuple[Sandbox, str, Any]) -> None:
    sb, _, _ = org
    client, _ = make_client(org, timeout=0.3)
    sb.admin.add_fault(
        {
            "match": {"method": "GET", "path": "/api/v1/policies*"},
            "action": "timeout",
            "seconds": 0.6,
            "count": 1,
        }
    )
    assert policies.list_policies(client, "OKTA_SIGN_ON")
    failure, success = client.journal.entries
    assert failure.status is None and "Timeout" in (failure.error or "")
    assert success.status == 200 and success.retry_count == 1


def test_slow_responses_are_waited_for_and_timed(org: tuple[Sandbox, str, Any]) -> None:
    sb, _, _ = org
    client, _ = make_client(org)
    sb.admin.add_fault({"match": {"path": "/api/v1/policies*"}, "latency_ms": 150, "jitter_ms": 20})
    assert policies.list_policies(client, "OKTA_SIGN_ON")
    (entry,) = client.journal.entries
    assert entry.duration_ms is not None and entry.duration_ms >= 120


# ---------------------------------------------------------------- OAuth service app


@pytest.fixture(scope="module")
def app_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize("dpop", [False, True], ids=["bearer", "dpop"])
def test_oauth_service_app_end_to_end(
    org: tuple[Sandbox, str, Any], app_key: rsa.RSAPrivateKey, dpop: bool
) -> None:
    sb, url, transport = org
    env = oauth_env(
        sb, "0oaKmsiRunbooks01", app_key, "k1", ["okta.policies.read"], url=url, dpop=dpop
    )
    client = track(
        OktaClient.from_env(scopes=("okta.policies.read",), env=env, transport=transport)
    )
    assert policies.list_policies(client, "ACCESS_POLICY")
    assert policies.list_policies(client, "OKTA_SIGN_ON")
    tokens = [e for e in sb.admin.requests() if e["path"] == "/oauth2/v1/token"]
    assert tokens[-1]["status"] == 200
    assert len([t for t in tokens if t["status"] == 200]) == 1, "the token is cached"
    api = [e for e in sb.admin.requests() if e["path"] == "/api/v1/policies"]
    assert {e["auth"] for e in api} == {"DPoP" if dpop else "Bearer"}
    # The resource server rejects a write the token has no scope for, naming the scope.
    policy = policies.list_policies(client, "ACCESS_POLICY")[0]
    with pytest.raises(errors.InsufficientScopeError) as info:
        policies.replace_policy(client, policy["id"], policy)
    assert info.value.scope == "okta.policies.manage"
    assert "grant okta.policies.manage" in str(info.value)
    # Neither the key, the assertions nor the access token the sandbox issued leak.
    secrets = client.secret_values()
    assert client.credentials is not None
    issued = set(secrets) - set(client.credentials.secret_values())
    access_tokens = [t for t in issued if not t.startswith("eyJ")]  # not an assertion
    assert access_tokens, "the issued access token is known to the client"
    visible = [json.dumps(client.journal.to_dicts()), str(info.value), repr(client)]
    visible += [e.line() for e in client.journal.entries]
    for secret in secrets:
        assert all(secret not in text for text in visible)


def test_oauth_scope_not_granted_to_the_app_is_named(sandbox: Sandbox) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    env = oauth_env(sandbox, "0oaKmsiNarrow01", key, "e1", ["okta.policies.read"], url=SANDBOX_URL)
    client = track(
        OktaClient.from_env(
            scopes=("okta.policies.read", "okta.users.manage"),
            env=env,
            transport=sandbox.transport(),
        )
    )
    with pytest.raises(errors.InsufficientScopeError) as info:
        policies.list_policies(client, "ACCESS_POLICY")
    assert info.value.scope == "okta.users.manage"
    assert "okta.users.manage" in str(info.value)


def test_oauth_unknown_key_is_an_authentication_error(
    sandbox: Sandbox, app_key: rsa.RSAPrivateKey
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    env = oauth_env(
        sandbox,
        "0oaKmsiWrongKey",
        app_key,
        "k1",
        ["okta.policies.read"],
        url=SANDBOX_URL,
        signed_with=other,
    )
    client = track(
        OktaClient.from_env(scopes=("okta.policies.read",), env=env, transport=sandbox.transport())
    )
    with pytest.raises(errors.AuthenticationError) as info:
        policies.list_policies(client, "ACCESS_POLICY")
    assert "OKTA_CLIENT_ID" in str(info.value)


def test_governor_leaves_room_for_other_integrations(sandbox: Sandbox) -> None:
    """When others already use the bucket, the client stops at the org-wide half, not its own."""
    sandbox.admin.set_rate_limit("/api/v1/policies", 20, 2.0)
    with sandbox.client() as other:
        for _ in range(6):  # another integration takes 6 of the window's 20
            response = other.get("/api/v1/policies", params={"type": "OKTA_SIGN_ON"})
            assert response.status_code == 200
    client = track(OktaClient(SANDBOX_URL, SSWSAuth(sandbox.token), transport=sandbox.transport()))
    for _ in range(8):
        policies.list_policies(client, "OKTA_SIGN_ON")
    windows: dict[str, int] = {}
    for entry in client.journal.entries:
        assert entry.status == 200
        reset = (entry.rate_limit or {})["x-rate-limit-reset"]
        windows[reset] = windows.get(reset, 0) + 1
    first, *rest = windows.values()
    # Remaining fell to 10 (half of 20) after 6 + 4 requests: ours then waited for the reset.
    assert first == 4
    assert sum(rest) == 4
    assert client.governor.waited_seconds > 0
