"""The sandbox org answers like real Okta: auth, errors, headers, policies and rules.

Every expectation here comes from ``reference/okta`` (``docs/OKTA-API.md`` sections and recorded
traffic), never from our own client.
"""

from __future__ import annotations

import ast
import pathlib
from typing import Any

import httpx
import pytest
from key_forms import jwk_of
from recordings import load_recordings
from sandbox_support import assert_unknown_bearer_refused

from kmsi_lib.sandbox import SANDBOX_URL, Sandbox, SandboxConfig

SANDBOX_DIR = pathlib.Path(__file__).resolve().parents[1] / "kmsi_lib" / "sandbox"


@pytest.fixture
def sb() -> Sandbox:
    return Sandbox(seed="default", token="test-token-123")


def _policy_by_name(client: httpx.Client, ptype: str, name: str) -> dict[str, Any]:
    policies = client.get("/api/v1/policies", params={"type": ptype}).json()
    return next(p for p in policies if p["name"] == name)


def _access_rule(name: str, **app_sign_on: Any) -> dict[str, Any]:
    actions = {"access": "ALLOW", "verificationMethod": {"type": "ASSURANCE", "factorMode": "2FA"}}
    actions.update(app_sign_on)
    return {"type": "ACCESS_POLICY", "name": name, "actions": {"appSignOn": actions}}


def _new_access_policy(client: httpx.Client, name: str = "KMSI test policy") -> dict[str, Any]:
    r = client.post(
        "/api/v1/policies", json={"type": "ACCESS_POLICY", "name": name, "description": "test"}
    )
    assert r.status_code == 200, r.text
    policy: dict[str, Any] = r.json()
    return policy


# ---- rule zero -------------------------------------------------------------------------------


def test_sandbox_imports_nothing_else_from_kmsi_lib() -> None:
    """Every module under kmsi_lib/sandbox imports only stdlib, third parties or itself."""
    files = sorted(SANDBOX_DIR.rglob("*.py"))
    assert len(files) > 5
    for path in files:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith("kmsi_lib") or alias.name.startswith(
                        "kmsi_lib.sandbox"
                    ), f"{path.name} imports {alias.name}"
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                assert node.level <= 1, f"{path.name} imports from outside the sandbox"
                if node.level == 0:
                    assert not module.startswith("kmsi_lib") or module.startswith(
                        "kmsi_lib.sandbox"
                    ), f"{path.name} imports {module}"
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
                arg = node.args[0] if node.args else None
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    assert arg.value.startswith("."), f"{path.name} imports {arg.value}"


# ---- auth ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(None, id="missing"),
        pytest.param("SSWS wrong-token", id="wrong-ssws"),
        pytest.param("test-token-123", id="no-scheme"),
        pytest.param("Basic dGVzdA==", id="basic"),
    ],
)
def test_bad_or_missing_token_is_401_e0000011(sb: Sandbox, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    with httpx.Client(base_url=SANDBOX_URL, transport=sb.transport()) as c:
        r = c.get("/api/v1/policies", params={"type": "OKTA_SIGN_ON"}, headers=headers)
    assert r.status_code == 401
    body = r.json()
    assert body["errorCode"] == "E0000011"
    assert body["errorSummary"] == "Invalid token provided"
    assert body["errorLink"] == "E0000011"
    assert body["errorId"].startswith("oae") and len(body["errorId"]) == 25
    assert body["errorCauses"] == []


def test_unknown_bearer_token_is_401(sb: Sandbox) -> None:
    with httpx.Client(base_url=SANDBOX_URL, transport=sb.transport()) as c:
        assert_unknown_bearer_refused(c, "OKTA_SIGN_ON")


def test_every_api_response_has_request_id_date_and_rate_limit_headers(
    client: httpx.Client,
) -> None:
    for r in (
        client.get("/api/v1/policies", params={"type": "OKTA_SIGN_ON"}),
        client.get("/api/v1/policies/00pnotthere0000000000"),
        client.post("/api/v1/policies", content=b"{not json"),
    ):
        assert r.headers["X-Okta-Request-Id"]
        assert r.headers["Date"].endswith("GMT")
        assert int(r.headers["X-Rate-Limit-Limit"]) > 0
        assert int(r.headers["X-Rate-Limit-Remaining"]) >= 0
        assert int(r.headers["X-Rate-Limit-Reset"]) > 1_700_000_000


def test_remaining_counts_down_per_bucket(client: httpx.Client) -> None:
    a = client.get("/api/v1/policies", params={"type": "OKTA_SIGN_ON"})
    b = client.get("/api/v1/policies", params={"type": "OKTA_SIGN_ON"})
    apps = client.get("/api/v1/apps")
    remaining = int(a.headers["X-Rate-Limit-Remaining"])
    assert int(b.headers["X-Rate-Limit-Remaining"]) == remaining - 1
    assert (
        int(apps.headers["X-Rate-Limit-Remaining"]) == int(apps.headers["X-Rate-Limit-Limit"]) - 1
    )


# ---- errors ----------------------------------------------------------------------------------


def test_malformed_json_is_e0000003(client: httpx.Client) -> None:
    r = client.post(
        "/api/v1/policies", content=b'{"name": ', headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()["errorCode"] == "E0000003"
    assert r.json()["errorSummary"] == "The request body was not well-formed."


def test_unknown_policy_is_e0000007_with_recorded_summary(client: httpx.Client) -> None:
    r = client.get("/api/v1/policies/00pmissing1234567890")
    assert r.status_code == 404
    assert r.json()["errorCode"] == "E0000007"
    assert r.json()["errorSummary"] == (
        "Not found: Resource not found: 00pmissing1234567890 (Policy)"
    )


@pytest.mark.parametrize(
    "query",
    [{}, {"type": "NOPE"}, {"type": "okta_sign_on"}],
    ids=["missing", "unknown", "lowercase"],
)
def test_bad_policy_type_is_e0000002(client: httpx.Client, query: dict[str, str]) -> None:
    r = client.get("/api/v1/policies", params=query)
    assert r.status_code == 400
    assert r.json()["errorCode"] == "E0000002"
    assert r.json()["errorSummary"] == "The request was not valid: Invalid policy type specified"


def test_wrong_method_is_e0000022(client: httpx.Client) -> None:
    r = client.patch("/api/v1/policies", json={})
    assert r.status_code == 405
    assert r.json()["errorCode"] == "E0000022"


# ---- policies --------------------------------------------------------------------------------


def test_seeded_default_global_session_policy_is_system_and_last(client: httpx.Client) -> None:
    policies = client.get("/api/v1/policies", params={"type": "OKTA_SIGN_ON"}).json()
    default = policies[-1]
    assert default["name"] == "Default Policy"
    assert default["system"] is True
    assert default["priority"] == len(policies)
    assert default["_links"]["self"]["hints"]["allow"] == ["GET", "PUT"]
    assert "deactivate" not in default["_links"]
    rules = client.get(default["_links"]["rules"]["href"]).json()
    assert [r["name"] for r in rules] == ["Default Rule"]
    assert rules[0]["system"] is True
    assert rules[0]["_links"]["self"]["hints"]["allow"] == ["GET", "PUT"]


def test_new_global_session_policy_takes_last_custom_slot(client: httpx.Client) -> None:
    """Recorded: priority 2 then 3 as custom policies pile up above the default one."""
    before = client.get("/api/v1/policies", params={"type": "OKTA_SIGN_ON"}).json()
    r = client.post(
        "/api/v1/policies", json={"type": "OKTA_SIGN_ON", "name": "New GSP", "status": "ACTIVE"}
    )
    assert r.status_code == 200
    created = r.json()
    assert created["priority"] == len(before)
    assert created["system"] is False
    assert created["id"].startswith("00p") and len(created["id"]) == 20
    assert created["created"].endswith(".000Z")
    assert list(created["_links"]) == ["mappings", "self", "rules", "deactivate"]
    after = client.get("/api/v1/policies", params={"type": "OKTA_SIGN_ON"}).json()
    assert after[-1]["name"] == "Default Policy"
    assert after[-1]["priority"] == len(after)
    assert sorted(p["priority"] for p in after) == list(range(1, len(after) + 1))
    first = client.post(
        "/api/v1/policies", json={"type": "OKTA_SIGN_ON", "name": "Top", "priority": 1}
    ).json()
    assert first["priority"] == 1
    names = [
        p["name"] for p in client.get("/api/v1/policies", params={"type": "OKTA_SIGN_ON"}).json()
    ]
    assert names[0] == "Top" and names[-1] == "Default Policy"


def _recorded_catch_all_rule() -> dict[str, object]:
    """The catch-all rule real Okta gave a new app sign-in policy: the first listing of the
    policy's rules in the priority-concurrency recording, before any rule of its own."""
    (recording,) = [
        r
        for r in load_recordings()
        if r.name == "TestAccResourceOktaAppSignOnPolicyRule_priority_concurrency"
    ]
    for interaction in recording.interactions:
        if interaction.method == "GET" and interaction.path.endswith("/rules"):
            (rule,) = interaction.response_json()
            assert isinstance(rule, dict)
            return rule
    raise AssertionError("the recording lists no rules")


def test_new_access_policy_gets_recorded_catch_all_rule(client: httpx.Client) -> None:
    policy = _new_access_policy(client)
    assert policy["id"].startswith("rst")
    assert policy["priority"] == 1
    assert policy["conditions"] is None
    rules = client.get(f"/api/v1/policies/{policy['id']}/rules").json()
    assert len(rules) == 1
    rule = rules[0]
    assert rule["id"].startswith("rul")
    recorded = _recorded_catch_all_rule()
    fields = ("name", "priority", "system", "conditions", "actions")
    assert (recorded["name"], recorded["priority"], recorded["system"]) == (
        "Catch-all Rule",
        99,
        True,
    )
    assert {k: rule[k] for k in fields} == {k: recorded[k] for k in fields}
    assert rule["_links"] == {
        "self": {
            "href": f"{SANDBOX_URL}/api/v1/policies/{policy['id']}/rules/{rule['id']}",
            "hints": {"allow": ["GET", "PUT"]},
        }
    }


def test_system_policy_and_rule_refuse_delete(client: httpx.Client) -> None:
    default = _policy_by_name(client, "OKTA_SIGN_ON", "Default Policy")
    r = client.delete(f"/api/v1/policies/{default['id']}")
    assert r.status_code == 403 and r.json()["errorCode"] == "E0000006"
    rule = client.get(f"/api/v1/policies/{default['id']}/rules").json()[0]
    r = client.delete(f"/api/v1/policies/{default['id']}/rules/{rule['id']}")
    assert r.status_code == 403 and r.json()["errorCode"] == "E0000006"
    assert client.get(f"/api/v1/policies/{default['id']}/rules/{rule['id']}").status_code == 200


def test_system_delete_error_is_configurable() -> None:
    sb = Sandbox(config=SandboxConfig(system_delete_error="E0000001"))
    c = sb.client()
    default = _policy_by_name(c, "ACCESS_POLICY", "Any two factors")
    r = c.delete(f"/api/v1/policies/{default['id']}")
    assert r.status_code == 400 and r.json()["errorCode"] == "E0000001"


def test_delete_and_lifecycle_of_custom_policy(client: httpx.Client) -> None:
    policy = _new_access_policy(client)
    pid = policy["id"]
    assert client.post(f"/api/v1/policies/{pid}/lifecycle/deactivate").status_code == 204
    got = client.get(f"/api/v1/policies/{pid}").json()
    assert got["status"] == "INACTIVE" and "activate" in got["_links"]
    assert client.post(f"/api/v1/policies/{pid}/lifecycle/activate").status_code == 204
    assert client.delete(f"/api/v1/policies/{pid}").status_code == 204
    assert client.get(f"/api/v1/policies/{pid}").status_code == 404


# ---- rules: defaults and normalisation -------------------------------------------------------


def test_access_rule_defaults_match_recordings(client: httpx.Client) -> None:
    """keepMeSignedIn defaults to NOT_ALLOWED, reauthenticateIn to PT12H, conditions filled."""
    pid = _new_access_policy(client)["id"]
    body = _access_rule("defaults")
    body["conditions"] = {"network": {"connection": "ANYWHERE"}, "platform": {}}
    r = client.post(f"/api/v1/policies/{pid}/rules", json=body)
    assert r.status_code == 200, r.text
    rule = r.json()
    assert rule["actions"]["appSignOn"]["keepMeSignedIn"] == {"postAuth": "NOT_ALLOWED"}
    assert rule["actions"]["appSignOn"]["verificationMethod"] == {
        "factorMode": "2FA",
        "type": "ASSURANCE",
        "reauthenticateIn": "PT12H",
    }
    assert rule["conditions"] == {
        "people": {"users": {"exclude": []}},
        "network": {"connection": "ANYWHERE"},
        "userType": {"include": [], "exclude": []},
    }
    assert rule["priority"] == 0
    assert rule["status"] == "ACTIVE"
    assert list(rule["_links"]) == ["self", "deactivate"]
    assert rule["_links"]["self"]["hints"]["allow"] == ["GET", "PUT", "DELETE"]


def test_not_allowed_drops_prompt_frequency(client: httpx.Client) -> None:
    pid = _new_access_policy(client)["id"]
    rule = client.post(
        f"/api/v1/policies/{pid}/rules",
        json=_access_rule(
            "kmsi", keepMeSignedIn={"postAuth": "ALLOWED", "postAuthPromptFrequency": "PT168H"}
        ),
    ).json()
    assert rule["actions"]["appSignOn"]["keepMeSignedIn"] == {
        "postAuth": "ALLOWED",
        "postAuthPromptFrequency": "PT168H",
    }
    put = _access_rule(
        "kmsi", keepMeSignedIn={"postAuth": "NOT_ALLOWED", "postAuthPromptFrequency": "PT168H"}
    )
    r = client.put(f"/api/v1/policies/{pid}/rules/{rule['id']}", json=put)
    assert r.json()["actions"]["appSignOn"]["keepMeSignedIn"] == {"postAuth": "NOT_ALLOWED"}
    # a PUT that omits keepMeSignedIn is a full replace: KMSI goes back to the default (off)
    client.put(
        f"/api/v1/policies/{pid}/rules/{rule['id']}",
        json=_access_rule(
            "kmsi", keepMeSignedIn={"postAuth": "ALLOWED", "postAuthPromptFrequency": "PT50H"}
        ),
    )
    r = client.put(f"/api/v1/policies/{pid}/rules/{rule['id']}", json=_access_rule("kmsi"))
    assert r.json()["actions"]["appSignOn"]["keepMeSignedIn"] == {"postAuth": "NOT_ALLOWED"}


def _rule_with_prompt_frequency(client: httpx.Client, name: str, value: str) -> httpx.Response:
    """POST an access rule named ``name`` offering KMSI every ``value`` to a new policy."""
    pid = _new_access_policy(client)["id"]
    return client.post(
        f"/api/v1/policies/{pid}/rules",
        json=_access_rule(
            name, keepMeSignedIn={"postAuth": "ALLOWED", "postAuthPromptFrequency": value}
        ),
    )


@pytest.mark.parametrize("value", ["P", "PT", "7 days", "PT1.5H", "P1DT", "pt2h", ""])
def test_invalid_durations_are_rejected(client: httpx.Client, value: str) -> None:
    r = _rule_with_prompt_frequency(client, "bad", value)
    assert r.status_code == 400
    assert r.json()["errorCode"] == "E0000001"
    assert (
        "actions.appSignOn.keepMeSignedIn.postAuthPromptFrequency"
        in (r.json()["errorCauses"][0]["errorSummary"])
    )


@pytest.mark.parametrize("value", ["PT168H", "P30D", "PT43800H", "P1W", "PT0S", "P1Y2M3DT4H5M6S"])
def test_valid_durations_are_echoed(client: httpx.Client, value: str) -> None:
    r = _rule_with_prompt_frequency(client, "ok", value)
    assert r.status_code == 200, r.text
    assert r.json()["actions"]["appSignOn"]["keepMeSignedIn"]["postAuthPromptFrequency"] == value


def _sign_on_rule(name: str, **signon: Any) -> dict[str, Any]:
    return {"type": "SIGN_ON", "name": name, "actions": {"signon": {"access": "ALLOW", **signon}}}


def test_sign_on_rule_defaults_match_recordings(client: httpx.Client) -> None:
    pid = client.post("/api/v1/policies", json={"type": "OKTA_SIGN_ON", "name": "GSP"}).json()["id"]
    r = client.post(
        f"/api/v1/policies/{pid}/rules",
        json=_sign_on_rule(
            "r1",
            requireFactor=False,
            rememberDeviceByDefault=False,
            session={
                "maxSessionIdleMinutes": 120,
                "maxSessionLifetimeMinutes": 120,
                "usePersistentCookie": False,
            },
        ),
    )
    assert r.status_code == 200, r.text
    rule = r.json()
    assert rule["id"].startswith("0pr")
    assert rule["priority"] == 1
    assert rule["conditions"] == {
        "people": {"users": {"exclude": []}},
        "network": {"connection": "ANYWHERE"},
        "authContext": {"authType": "ANY"},
        "identityProvider": {"provider": "ANY"},
    }
    assert rule["actions"] == {
        "signon": {
            "access": "ALLOW",
            "requireFactor": False,
            "primaryFactor": "PASSWORD_IDP_ANY_FACTOR",
            "rememberDeviceByDefault": False,
            "session": {
                "usePersistentCookie": False,
                "maxSessionIdleMinutes": 120,
                "maxSessionLifetimeMinutes": 120,
            },
        }
    }


def test_factor_lifetime_must_be_an_integer(client: httpx.Client) -> None:
    """The guide's "factorLifetime": "200" is a 400 naming the field (docs/OKTA-API.md §12.1)."""
    pid = client.post("/api/v1/policies", json={"type": "OKTA_SIGN_ON", "name": "GSP"}).json()["id"]
    r = client.post(
        f"/api/v1/policies/{pid}/rules",
        json=_sign_on_rule(
            "mfa", requireFactor=True, factorPromptMode="SESSION", factorLifetime="200"
        ),
    )
    assert r.status_code == 400
    body = r.json()
    assert body["errorCode"] == "E0000001"
    assert body["errorSummary"] == "Api validation failed: actions.signon.factorLifetime"
    assert body["errorCauses"][0]["errorSummary"].startswith("actions.signon.factorLifetime:")
    r = client.post(
        f"/api/v1/policies/{pid}/rules",
        json=_sign_on_rule(
            "mfa", requireFactor=True, factorPromptMode="SESSION", factorLifetime=200
        ),
    )
    assert r.status_code == 200
    assert r.json()["actions"]["signon"]["factorLifetime"] == 200


def test_default_rule_persistent_cookie_is_read_only(client: httpx.Client) -> None:
    default = _policy_by_name(client, "OKTA_SIGN_ON", "Default Policy")
    rule = client.get(f"/api/v1/policies/{default['id']}/rules").json()[0]
    body = {k: rule[k] for k in ("type", "name", "conditions", "actions")}
    body["actions"]["signon"]["session"]["usePersistentCookie"] = True
    r = client.put(f"/api/v1/policies/{default['id']}/rules/{rule['id']}", json=body)
    assert r.status_code == 400
    assert "actions.signon.session.usePersistentCookie" in r.json()["errorSummary"]
    body["actions"]["signon"]["session"]["usePersistentCookie"] = False
    body["actions"]["signon"]["session"]["maxSessionIdleMinutes"] = 30
    r = client.put(f"/api/v1/policies/{default['id']}/rules/{rule['id']}", json=body)
    assert r.status_code == 200
    assert r.json()["actions"]["signon"]["session"]["maxSessionIdleMinutes"] == 30


def test_inserting_at_taken_priority_shifts_others_down(client: httpx.Client) -> None:
    pid = _new_access_policy(client)["id"]
    ids = []
    for n in range(3):
        body = _access_rule(f"r{n}")
        body["priority"] = n
        ids.append(client.post(f"/api/v1/policies/{pid}/rules", json=body).json()["id"])
    body = _access_rule("new")
    body["priority"] = 1
    new = client.post(f"/api/v1/policies/{pid}/rules", json=body).json()
    assert new["priority"] == 1
    by_name = {r["name"]: r["priority"] for r in client.get(f"/api/v1/policies/{pid}/rules").json()}
    assert by_name == {"r0": 0, "new": 1, "r1": 2, "r2": 3, "Catch-all Rule": 99}
    # a sparse priority is kept as sent (recorded PUT with priority 98 answered 98)
    body = _access_rule("r0")
    body["priority"] = 98
    moved = client.put(f"/api/v1/policies/{pid}/rules/{ids[0]}", json=body).json()
    assert moved["priority"] == 98


def test_access_rule_priority_out_of_range(client: httpx.Client) -> None:
    pid = _new_access_policy(client)["id"]
    body = _access_rule("far")
    body["priority"] = 100
    r = client.post(f"/api/v1/policies/{pid}/rules", json=body)
    assert r.status_code == 400 and "priority" in r.json()["errorSummary"]


def test_kmsi_feature_off_rejects_keep_me_signed_in(sb: Sandbox, client: httpx.Client) -> None:
    sb.admin.set_org_settings({"kmsiFeature": False})
    pid = _new_access_policy(client)["id"]
    r = client.post(
        f"/api/v1/policies/{pid}/rules",
        json=_access_rule("kmsi", keepMeSignedIn={"postAuth": "ALLOWED"}),
    )
    assert r.status_code == 400
    assert r.json()["errorSummary"] == "Api validation failed: actions.appSignOn.keepMeSignedIn"
    r = client.post(f"/api/v1/policies/{pid}/rules", json=_access_rule("plain"))
    assert r.status_code == 200
    assert "keepMeSignedIn" not in r.json()["actions"]["appSignOn"]
    dashboard = _policy_by_name(client, "ACCESS_POLICY", "Okta Dashboard")
    for rule in client.get(f"/api/v1/policies/{dashboard['id']}/rules").json():
        assert "keepMeSignedIn" not in rule["actions"]["appSignOn"]


def test_activate_false_creates_inactive_rule(client: httpx.Client) -> None:
    pid = _new_access_policy(client)["id"]
    r = client.post(
        f"/api/v1/policies/{pid}/rules", params={"activate": "false"}, json=_access_rule("off")
    )
    assert r.json()["status"] == "INACTIVE"
    assert "activate" in r.json()["_links"]


def test_links_use_the_request_host(sb: Sandbox) -> None:
    with httpx.Client(
        base_url="https://acme.okta.example",
        transport=sb.transport(),
        headers={"Authorization": f"SSWS {sb.token}"},
    ) as c:
        policy = c.get("/api/v1/policies", params={"type": "OKTA_SIGN_ON"}).json()[0]
    assert policy["_links"]["self"]["href"].startswith("https://acme.okta.example/api/v1/")


# ---- transport and loopback ------------------------------------------------------------------


def test_drop_fault_raises_remote_protocol_error(sb: Sandbox, client: httpx.Client) -> None:
    sb.admin.add_fault(
        {"match": {"method": "GET", "path": "/api/v1/policies*"}, "action": "drop", "count": 1}
    )
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/api/v1/policies", params={"type": "OKTA_SIGN_ON"})
    assert client.get("/api/v1/policies", params={"type": "OKTA_SIGN_ON"}).status_code == 200


def test_timeout_fault_raises_read_timeout(sb: Sandbox, client: httpx.Client) -> None:
    sb.admin.add_fault({"action": "timeout", "seconds": 30, "count": 1})
    with pytest.raises(httpx.ReadTimeout):
        client.get("/api/v1/apps", timeout=2.0)
    assert client.get("/api/v1/apps", timeout=2.0).status_code == 200


def test_serve_answers_real_http(sb: Sandbox) -> None:
    with sb.serve(port=0) as url:
        assert url.startswith("http://127.0.0.1:")
        r = httpx.get(
            f"{url}/api/v1/policies",
            params={"type": "ACCESS_POLICY"},
            headers={"Authorization": f"SSWS {sb.token}"},
        )
        assert r.status_code == 200
        assert r.json()[0]["_links"]["self"]["href"].startswith(url)
        assert r.headers["X-Okta-Request-Id"]


# ---- OAuth service apps through the app (token endpoint + bearer scope checks) ----------------


def _service_token(sb: Sandbox, client: httpx.Client, scopes: str) -> str:
    import time
    import uuid

    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sb.admin.register_client(
        "0oaservicetest000001",
        jwk_of(key, "k1", public=True),
        ["okta.apps.read", "okta.policies.read"],
    )
    now = int(time.time())
    assertion = jwt.encode(
        {
            "iss": "0oaservicetest000001",
            "sub": "0oaservicetest000001",
            "aud": f"{SANDBOX_URL}/oauth2/v1/token",
            "iat": now,
            "exp": now + 300,
            "jti": str(uuid.uuid4()),
        },
        key,
        algorithm="RS256",
        headers={"kid": "k1"},
    )
    r = client.post(
        "/oauth2/v1/token",
        data={
            "grant_type": "client_credentials",
            "scope": scopes,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "Bearer"
    token: str = r.json()["access_token"]
    return token


def test_bearer_token_scope_is_enforced_with_okta_challenge(sb: Sandbox) -> None:
    with httpx.Client(base_url=SANDBOX_URL, transport=sb.transport()) as c:
        token = _service_token(sb, c, "okta.apps.read")
        bearer = {"Authorization": f"Bearer {token}"}
        assert c.get("/api/v1/apps", headers=bearer).status_code == 200
        r = c.get("/api/v1/policies", params={"type": "OKTA_SIGN_ON"}, headers=bearer)
    assert r.status_code == 403
    assert r.content == b""
    assert r.headers["WWW-Authenticate"] == (
        f'Bearer authorization_uri="{SANDBOX_URL}/oauth2/v1/authorize", realm="{SANDBOX_URL}", '
        'scope="okta.policies.read", error="insufficient_scope", error_description="The access '
        'token provided does not contain the required scopes.", resource="/api/v1/policies"'
    )
    assert r.headers["X-Rate-Limit-Limit"]


def test_manage_scope_includes_read() -> None:
    from kmsi_lib.sandbox._app import granted

    assert granted(["okta.policies.manage"], "okta.policies.read")
    assert not granted(["okta.policies.read"], "okta.policies.manage")
    assert not granted(["okta.apps.manage"], "okta.policies.read")
    assert granted(["okta.apps.manage"], "okta.apps.manage")


# ---- policies list pages ---------------------------------------------------------------------


def _policy_pages(client: httpx.Client, params: dict[str, Any]) -> list[list[dict[str, Any]]]:
    pages = []
    r = client.get("/api/v1/policies", params=params)
    while True:
        assert r.status_code == 200, r.text
        pages.append(r.json())
        if "next" not in r.links:
            return pages
        assert "after=" in r.links["next"]["url"] and "type=" in r.links["next"]["url"]
        r = client.get(r.links["next"]["url"])


def test_policies_without_limit_are_one_page_with_only_self(client: httpx.Client) -> None:
    """As recorded (docs/OKTA-API.md §4): 60+ app sign-in policies came in one page, rel="self"."""
    for n in range(30):
        _new_access_policy(client, f"Bulk {n:02}")
    r = client.get("/api/v1/policies", params={"type": "ACCESS_POLICY"})
    assert len(r.json()) > 30
    assert set(r.links) == {"self"}
    assert r.links["self"]["url"].endswith("/api/v1/policies?type=ACCESS_POLICY")


@pytest.mark.parametrize("ptype", ["ACCESS_POLICY", "OKTA_SIGN_ON"])
def test_policies_with_limit_are_paged_in_list_order(client: httpx.Client, ptype: str) -> None:
    for n in range(7):
        if ptype == "ACCESS_POLICY":
            _new_access_policy(client, f"Paged {n}")
        else:
            r = client.post(
                "/api/v1/policies", json={"type": ptype, "name": f"Paged {n}", "priority": 1}
            )
            assert r.status_code == 200, r.text
    whole = client.get("/api/v1/policies", params={"type": ptype}).json()
    pages = _policy_pages(client, {"type": ptype, "limit": "3"})
    assert all(len(p) == 3 for p in pages[:-1]) and 1 <= len(pages[-1]) <= 3
    assert [p["id"] for page in pages for p in page] == [p["id"] for p in whole]
    # filters stay applied across pages
    named = _policy_pages(client, {"type": ptype, "q": "Paged", "limit": "2"})
    assert [p["name"] for page in named for p in page] == [
        p["name"] for p in whole if p["name"].startswith("Paged")
    ]
    assert len(named) == 4


def test_policies_limit_validation_and_after_alone(client: httpx.Client) -> None:
    for bad in ("0", "x", "-5"):
        r = client.get("/api/v1/policies", params={"type": "ACCESS_POLICY", "limit": bad})
        assert r.status_code == 400 and r.json()["errorCode"] == "E0000001", bad
    whole = client.get("/api/v1/policies", params={"type": "ACCESS_POLICY"}).json()
    rest = client.get("/api/v1/policies", params={"type": "ACCESS_POLICY", "after": whole[1]["id"]})
    assert [p["id"] for p in rest.json()] == [p["id"] for p in whole[2:]]
    assert set(rest.links) == {"self"}
