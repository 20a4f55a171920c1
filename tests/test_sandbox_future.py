"""Fields of a newer Okta release (``SandboxConfig.future_fields``): kept when configured.

Real Okta drops input fields it does not know; a newer release knows more. The sandbox
can play that newer release for chosen paths, so the procedures' promise that "a field
unknown to the library survives apply and rollback" can be checked in the org itself.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from kmsi_lib.sandbox import Sandbox, SandboxConfig

FUTURE = {
    "ACCESS_POLICY rule": ["actions.appSignOn.futureSetting", "futureTop"],
    "SIGN_ON rule": ["actions.signon.futureSession"],
    "OKTA_SIGN_ON policy": ["conditions.futureCondition"],
    "sign-in page": ["widgetCustomizations.futureLabel", "futurePageField"],
}


@pytest.fixture
def sb() -> Sandbox:
    return Sandbox(seed="default", config=SandboxConfig(future_fields=FUTURE))


def _access_rule(name: str, **extra: Any) -> dict[str, Any]:
    app_sign_on: dict[str, Any] = {
        "access": "ALLOW",
        "verificationMethod": {"type": "ASSURANCE", "factorMode": "2FA"},
    }
    app_sign_on.update(extra.pop("app_sign_on", {}))
    return {"type": "ACCESS_POLICY", "name": name, "actions": {"appSignOn": app_sign_on}, **extra}


def _policy(client: httpx.Client) -> str:
    r = client.post("/api/v1/policies", json={"type": "ACCESS_POLICY", "name": "Future"})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def test_unconfigured_sandbox_drops_unknown_fields_like_okta() -> None:
    client = Sandbox(seed="default").client()
    pid = _policy(client)
    body = _access_rule("r", app_sign_on={"futureSetting": 1}, futureTop="x")
    rule = client.post(f"/api/v1/policies/{pid}/rules", json=body).json()
    assert "futureSetting" not in rule["actions"]["appSignOn"] and "futureTop" not in rule


def test_rule_future_fields_are_stored_returned_and_fully_replaced(client: httpx.Client) -> None:
    pid = _policy(client)
    body = _access_rule(
        "r", app_sign_on={"futureSetting": {"level": 2}}, futureTop=[1, 2], futureOther="dropped"
    )
    created = client.post(f"/api/v1/policies/{pid}/rules", json=body)
    assert created.status_code == 200, created.text
    rule = created.json()
    assert rule["actions"]["appSignOn"]["futureSetting"] == {"level": 2}
    assert rule["futureTop"] == [1, 2] and "futureOther" not in rule  # only configured paths
    url = f"/api/v1/policies/{pid}/rules/{rule['id']}"
    got = client.get(url).json()
    assert got["actions"]["appSignOn"]["futureSetting"] == {"level": 2}
    assert got["futureTop"] == [1, 2]
    # a PUT that sends them back keeps them, with the new value
    body["actions"]["appSignOn"]["futureSetting"] = {"level": 3}
    assert client.put(url, json=body).json()["actions"]["appSignOn"]["futureSetting"] == {
        "level": 3
    }
    # a PUT that leaves them out removes them (full replace)
    r = client.put(url, json=_access_rule("r"))
    assert r.status_code == 200
    got = client.get(url).json()
    assert "futureSetting" not in got["actions"]["appSignOn"] and "futureTop" not in got
    # the rule list shows what GET shows
    listed = client.get(f"/api/v1/policies/{pid}/rules").json()
    assert next(x for x in listed if x["id"] == rule["id"]) == got


def test_sign_on_rule_policy_and_page_future_fields(sb: Sandbox, client: httpx.Client) -> None:
    policies = client.get("/api/v1/policies", params={"type": "OKTA_SIGN_ON"}).json()
    default = next(p for p in policies if p["name"] == "Default Policy")
    rules = client.get(f"/api/v1/policies/{default['id']}/rules").json()
    rule = rules[0]
    body = {k: v for k, v in rule.items() if k != "_links"}
    body["actions"]["signon"]["futureSession"] = "PT1H"
    url = f"/api/v1/policies/{default['id']}/rules/{rule['id']}"
    r = client.put(url, json=body)
    assert r.status_code == 200, r.text
    assert client.get(url).json()["actions"]["signon"]["futureSession"] == "PT1H"

    created = client.post(
        "/api/v1/policies",
        json={
            "type": "OKTA_SIGN_ON",
            "name": "Future GSP",
            "conditions": {"people": {"groups": {"include": []}}, "futureCondition": {"on": True}},
        },
    )
    assert created.status_code == 200, created.text
    assert created.json()["conditions"]["futureCondition"] == {"on": True}

    brand = next(b for b in client.get("/api/v1/brands").json() if not b["isDefault"])
    page_url = f"/api/v1/brands/{brand['id']}/pages/sign-in/customized"
    page = {
        "widgetVersion": "7.13",
        "futurePageField": "kept",
        "widgetCustomizations": {"signInLabel": "Hi", "futureLabel": {"nested": [1]}},
    }
    put = client.put(page_url, json=page).json()
    assert put["futurePageField"] == "kept"
    got = client.get(page_url).json()
    assert got["widgetCustomizations"]["futureLabel"] == {"nested": [1]}
    assert got["futurePageField"] == "kept"
    stored = sb.admin.snapshot()["sign_in_pages"][brand["id"]]["customized"]
    assert stored["widgetCustomizations"]["futureLabel"] == {"nested": [1]}
    del page["futurePageField"]
    client.put(page_url, json=page)
    assert "futurePageField" not in client.get(page_url).json()


def test_set_future_fields_over_admin_http_and_python(sb: Sandbox) -> None:
    assert sb.admin.future_fields() == FUTURE
    assert sb.admin.set_future_fields({}) == {}
    client = sb.client()
    pid = _policy(client)
    body = _access_rule("r", app_sign_on={"futureSetting": 1})
    assert (
        "futureSetting"
        not in client.post(f"/api/v1/policies/{pid}/rules", json=body).json()["actions"][
            "appSignOn"
        ]
    )
    with sb.serve() as url:
        r = httpx.put(
            f"{url}/_sandbox/future-fields",
            json={"ACCESS_POLICY rule": ["actions.appSignOn.futureSetting"]},
        )
        assert r.status_code == 200 and r.json() == {
            "ACCESS_POLICY rule": ["actions.appSignOn.futureSetting"]
        }
        assert httpx.get(f"{url}/_sandbox/future-fields").json() == r.json()
        for bad in (
            {"a rule": ["x"]},
            {"SIGN_ON rule": "x"},
            {"SIGN_ON rule": ["id"]},
            {"SIGN_ON rule": ["a..b"]},
        ):
            r = httpx.put(f"{url}/_sandbox/future-fields", json=bad)
            assert r.status_code == 400 and r.json()["errorCode"] == "E0000001", bad
        r = httpx.put(f"{url}/_sandbox/future-fields", json=["x"])  # not an object
        assert r.status_code == 400 and r.json()["errorCode"] == "E0000003"
    body["name"] = "r2"
    rule = client.post(f"/api/v1/policies/{pid}/rules", json=body).json()
    assert rule["actions"]["appSignOn"]["futureSetting"] == 1


def test_bad_future_fields_config_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown object kind"):
        Sandbox(config=SandboxConfig(future_fields={"rule": ["x"]}))
