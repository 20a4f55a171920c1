"""Sandbox apps, brands and sign-in pages, users, groups, sessions and the well-known document."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest

from kmsi_lib.sandbox import Sandbox, SandboxConfig


@pytest.fixture
def sb() -> Sandbox:
    return Sandbox(seed="default")


@pytest.fixture
def client(sb: Sandbox) -> httpx.Client:
    return sb.client()


def _all_pages(client: httpx.Client, url: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    r = client.get(url, params=params)
    while True:
        assert r.status_code == 200, r.text
        out += r.json()
        if "next" not in r.links:
            return out
        r = client.get(r.links["next"]["url"])


def _brand(client: httpx.Client, default: bool) -> dict[str, Any]:
    brands: list[dict[str, Any]] = client.get("/api/v1/brands").json()
    return next(b for b in brands if b["isDefault"] is default)


# ---- apps ------------------------------------------------------------------------------------


def test_seed_has_realistic_apps_sharing_policies(client: httpx.Client) -> None:
    apps = _all_pages(client, "/api/v1/apps", {"limit": 7})
    assert len(apps) >= 20
    names = {a["name"] for a in apps}
    assert {"saasure", "okta_enduser", "salesforce", "slack"} <= names
    assert len({a["id"] for a in apps}) == len(apps)
    assert all(a["id"].startswith("0oa") and len(a["id"]) == 20 for a in apps)
    policies = {a["_links"]["accessPolicy"]["href"] for a in apps if "accessPolicy" in a["_links"]}
    assert 3 <= len(policies) < len(apps)


def test_apps_q_is_a_label_prefix(client: httpx.Client) -> None:
    r = client.get("/api/v1/apps", params={"q": "okta"})
    labels = sorted(a["label"] for a in r.json())
    assert labels == ["Okta Admin Console", "Okta Browser Plugin", "Okta Dashboard"]


def test_assign_policy_remaps_app_and_mappings(client: httpx.Client) -> None:
    app = client.get("/api/v1/apps", params={"q": "Slack"}).json()[0]
    policy = client.post("/api/v1/policies", json={"type": "ACCESS_POLICY",
                                                     "name": "Slack only"}).json()
    r = client.put(f"/api/v1/apps/{app['id']}/policies/{policy['id']}")
    assert r.status_code == 204 and r.content == b""
    got = client.get(f"/api/v1/apps/{app['id']}").json()
    assert got["_links"]["accessPolicy"]["href"].endswith(f"/api/v1/policies/{policy['id']}")
    mappings = client.get(f"/api/v1/policies/{policy['id']}/mappings").json()
    assert [m["_links"]["application"]["href"].rsplit("/", 1)[1] for m in mappings] == [app["id"]]
    apps = client.get(f"/api/v1/policies/{policy['id']}/app").json()
    assert [a["id"] for a in apps] == [app["id"]]
    # a policy in use cannot be deleted
    assert client.delete(f"/api/v1/policies/{policy['id']}").status_code == 400


def test_service_app_cannot_take_a_policy(client: httpx.Client) -> None:
    service = client.get("/api/v1/apps", params={"q": "Payroll Export"}).json()[0]
    assert "accessPolicy" not in service["_links"]
    policy = client.get("/api/v1/policies", params={"type": "ACCESS_POLICY"}).json()[0]
    r = client.put(f"/api/v1/apps/{service['id']}/policies/{policy['id']}")
    assert r.status_code == 400
    body = r.json()
    assert body["errorCode"] == "E0000001"
    assert body["errorCauses"][0]["reason"] == "INVALID_VALUE"
    assert body["errorCauses"][0]["location"] == "resourceType"


# ---- brands and sign-in pages ------------------------------------------------------------------


def test_brands_list_is_paginated_with_default_limit_20(client: httpx.Client) -> None:
    r = client.get("/api/v1/brands")
    assert [b["name"] for b in r.json()] == ["Acme Corp", "Acme Partners"]
    assert r.links["self"]["url"].endswith("/api/v1/brands?limit=20")
    assert "next" not in r.links


def test_customized_page_absent_is_404_and_default_shows_kmsi_prompt(
        client: httpx.Client) -> None:
    brand = _brand(client, True)
    r = client.get(f"/api/v1/brands/{brand['id']}/pages/sign-in/customized")
    assert r.status_code == 404 and r.json()["errorCode"] == "E0000007"
    default = client.get(f"/api/v1/brands/{brand['id']}/pages/sign-in/default").json()
    assert default["widgetVersion"] == "^7"
    assert default["widgetCustomizations"]["postAuthKeepMeSignedInPrompt"] == {
        "title": "Keep me signed in",
        "subtitle": "Sign in and enter security methods less frequently.",
        "acceptButtonText": "Stay signed in", "rejectButtonText": "Don't stay signed in"}


def test_customized_404_is_configurable() -> None:
    sb = Sandbox(config=SandboxConfig(customized_404_when_absent=False))
    c = sb.client()
    brand = _brand(c, True)
    r = c.get(f"/api/v1/brands/{brand['id']}/pages/sign-in/customized")
    assert r.status_code == 200 and r.json()["widgetVersion"] == "^7"


def test_sign_in_page_put_is_a_full_replace(client: httpx.Client) -> None:
    """Recorded (CustomizedSignInPage_crud #7/#10): unsent fields come back null."""
    brand = _brand(client, False)
    url = f"/api/v1/brands/{brand['id']}/pages/sign-in/customized"
    before = client.get(url).json()
    assert before["widgetCustomizations"]["postAuthKeepMeSignedInPrompt"]["title"]
    r = client.put(url, json={"widgetCustomizations": {
        "helpLabel": "Help URL Test", "helpUrl": "https://helpurltest.com",
        "showPasswordVisibilityToggle": False, "showUserIdentifier": False,
        "widgetGeneration": "G3"}})
    assert r.status_code == 200
    put = r.json()
    assert put["pageContent"] is None and put["widgetVersion"] is None
    assert "postAuthKeepMeSignedInPrompt" not in put["widgetCustomizations"]
    assert put["widgetCustomizations"]["signInLabel"] is None
    assert put["widgetCustomizations"]["helpLabel"] == "Help URL Test"
    got = client.get(url).json()
    assert got["widgetCustomizations"]["postAuthKeepMeSignedInPrompt"] == {
        "title": None, "subtitle": None, "acceptButtonText": None, "rejectButtonText": None}
    assert "contentSecurityPolicySetting" not in got
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404


def test_sign_in_page_put_keeps_what_is_sent(client: httpx.Client) -> None:
    brand = _brand(client, True)
    default = client.get(f"/api/v1/brands/{brand['id']}/pages/sign-in/default").json()
    default["widgetCustomizations"]["postAuthKeepMeSignedInPrompt"]["title"] = "Stay?"
    url = f"/api/v1/brands/{brand['id']}/pages/sign-in/customized"
    assert client.put(url, json=default).status_code == 200
    assert client.get(url).json() == default


@pytest.mark.parametrize("body", [
    pytest.param({"widgetVersion": "seven"}, id="bad-version"),
    pytest.param({"widgetCustomizations": {"widgetGeneration": "G9"}}, id="bad-generation"),
    pytest.param({"widgetCustomizations": {"showUserIdentifier": "yes"}}, id="bad-bool"),
    pytest.param({"widgetCustomizations": {"postAuthKeepMeSignedInPrompt": {"title": 5}}},
                 id="bad-prompt"),
    pytest.param({"contentSecurityPolicySetting": {"mode": "strict"}}, id="bad-csp"),
])
def test_sign_in_page_validation(client: httpx.Client, body: dict[str, Any]) -> None:
    brand = _brand(client, False)
    r = client.put(f"/api/v1/brands/{brand['id']}/pages/sign-in/customized", json=body)
    assert r.status_code == 400 and r.json()["errorCode"] == "E0000001"


def test_preview_and_root_and_widget_versions(client: httpx.Client) -> None:
    brand = _brand(client, False)
    base = f"/api/v1/brands/{brand['id']}/pages/sign-in"
    assert client.put(f"{base}/preview", json={"widgetVersion": "7.13"}).status_code == 200
    assert client.get(f"{base}/preview").json()["widgetVersion"] == "7.13"
    root = client.get(base, params={"expand": "default,customized,preview,previewUrl"}).json()
    assert set(root["_embedded"]) == {"default", "customized", "preview", "previewUrl"}
    assert client.delete(f"{base}/preview").status_code == 204
    versions = client.get(f"{base}/widget-versions").json()
    assert "7.13" in versions and all(v.count(".") == 1 for v in versions)


def test_create_brand_is_201_shaped_as_recorded(client: httpx.Client) -> None:
    """createBrand: 201, the recorded fields (no locale yet), then listed and gettable."""
    r = client.post("/api/v1/brands", json={"name": "testBrand"})
    assert r.status_code == 201, r.text
    brand = r.json()
    assert brand["id"].startswith("bnd") and len(brand["id"]) == 20
    # the exact key set of the recorded POST answer (CustomizedSignInPage_crud #0)
    assert set(brand) == {"id", "name", "removePoweredByOkta", "customPrivacyPolicyUrl",
                          "agreeToCustomPrivacyPolicy", "isDefault", "defaultApp", "_links"}
    assert brand["isDefault"] is False and brand["name"] == "testBrand"
    assert brand["_links"]["self"]["hints"]["allow"] == ["GET", "PUT", "DELETE"]
    assert client.get(f"/api/v1/brands/{brand['id']}").json()["name"] == "testBrand"
    assert brand["id"] in {b["id"] for b in _all_pages(client, "/api/v1/brands", {})}
    # a new brand has the default sign-in page and no customised one
    base = f"/api/v1/brands/{brand['id']}/pages/sign-in"
    assert client.get(f"{base}/customized").status_code == 404
    assert client.put(f"{base}/customized", json={"widgetVersion": "7.13"}).status_code == 200


def test_create_brand_validation_and_unique_name(client: httpx.Client) -> None:
    before = len(_all_pages(client, "/api/v1/brands", {}))
    assert client.post("/api/v1/brands", json={"name": "Acme Labs"}).status_code == 201
    for name in ("Acme Labs", "acme partners"):  # taken (seeded), whatever the case
        r = client.post("/api/v1/brands", json={"name": name})
        assert r.status_code == 409 and r.json()["errorCode"] == "E0000202", name
    for body in ({}, {"name": ""}, {"name": 7}):
        r = client.post("/api/v1/brands", json=body)
        assert r.status_code == 400 and r.json()["errorCode"] == "E0000001", body
    r = client.post("/api/v1/brands", content=b"{nope",
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["errorCode"] == "E0000003"
    assert len(_all_pages(client, "/api/v1/brands", {})) == before + 1


def test_delete_brand(sb: Sandbox, client: httpx.Client) -> None:
    created = client.post("/api/v1/brands", json={"name": "Short-lived"}).json()
    base = f"/api/v1/brands/{created['id']}"
    client.put(f"{base}/pages/sign-in/customized", json={"widgetVersion": "7.13"})
    assert client.delete(base).status_code == 204
    r = client.get(base)
    assert r.status_code == 404 and r.json()["errorCode"] == "E0000007"
    assert client.get(f"{base}/pages/sign-in/customized").status_code == 404
    assert created["id"] not in sb.admin.snapshot()["sign_in_pages"]
    assert client.delete(base).status_code == 404
    default = _brand(client, True)
    r = client.delete(f"/api/v1/brands/{default['id']}")
    assert r.status_code == 409 and r.json()["errorCode"] == "E0000200"
    assert client.get(f"/api/v1/brands/{default['id']}").status_code == 200


def test_replace_brand_is_a_full_replace_as_recorded(client: httpx.Client) -> None:
    """CustomizedSignInPage_crud #2: "" URL -> null, {} defaultApp -> nulls, locale appears."""
    brand = client.post("/api/v1/brands", json={"name": "testBrand"}).json()
    body = {"agreeToCustomPrivacyPolicy": False, "customPrivacyPolicyUrl": "", "defaultApp": {},
            "locale": "en", "name": "testBrand", "removePoweredByOkta": False}
    r = client.put(f"/api/v1/brands/{brand['id']}", json=body)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["customPrivacyPolicyUrl"] is None and got["locale"] == "en"
    assert got["defaultApp"] == dict.fromkeys(
        ("appInstanceId", "appLinkName", "classicApplicationUri"))
    assert client.get(f"/api/v1/brands/{brand['id']}").json()["locale"] == "en"
    r = client.put(f"/api/v1/brands/{brand['id']}", json={"name": "Acme Partners"})
    assert r.status_code == 409 and r.json()["errorCode"] == "E0000202"
    r = client.put(f"/api/v1/brands/{brand['id']}", json={"removePoweredByOkta": True})
    assert r.status_code == 400 and r.json()["errorCode"] == "E0000001"
    assert client.get(f"/api/v1/brands/{brand['id']}").json()["removePoweredByOkta"] is False


def test_create_brand_needs_brands_manage(sb: Sandbox) -> None:
    r = sb.client(headers={"Authorization": "SSWS wrong"}).post(
        "/api/v1/brands", json={"name": "x"})
    assert r.status_code == 401 and r.json()["errorCode"] == "E0000011"


def test_admin_add_brand(sb: Sandbox, client: httpx.Client) -> None:
    brand = sb.admin.add_brand("Acme Subsidiary")
    assert client.get(f"/api/v1/brands/{brand['id']}").json()["isDefault"] is False
    with pytest.raises(Exception, match="E0000202|already exists"):
        sb.admin.add_brand("Acme Subsidiary")
    with sb.serve() as url:
        r = httpx.post(f"{url}/_sandbox/brands", json={"name": "Over HTTP"})
        assert r.status_code == 201 and r.json()["name"] == "Over HTTP"
        r = httpx.post(f"{url}/_sandbox/brands", json={"name": "Over HTTP"})
        assert r.status_code == 409 and r.json()["errorCode"] == "E0000202"


# ---- users, groups, sessions -------------------------------------------------------------------


def test_get_user_by_id_and_by_url_encoded_login(client: httpx.Client) -> None:
    users = client.get("/api/v1/users", params={"limit": 3}).json()
    user = users[0]
    by_id = client.get(f"/api/v1/users/{user['id']}").json()
    by_login = client.get(f"/api/v1/users/{quote(user['profile']['login'], safe='')}").json()
    assert by_id == by_login
    r = client.get("/api/v1/users/nobody%40acme.example.com")
    assert r.status_code == 404
    assert r.json()["errorSummary"] == (
        "Not found: Resource not found: nobody@acme.example.com (User)")


def test_seed_has_100_plus_users_with_pagination(client: httpx.Client) -> None:
    r = client.get("/api/v1/users", params={"limit": 50})
    assert len(r.json()) == 50 and "next" in r.links
    everyone = _all_pages(client, "/api/v1/users", {"limit": 50})
    assert len(everyone) >= 100
    assert len({u["id"] for u in everyone}) == len(everyone)
    assert all(u["status"] != "DEPROVISIONED" for u in everyone)
    with_search = _all_pages(client, "/api/v1/users", {"search": 'status eq "DEPROVISIONED"'})
    assert with_search and all(u["status"] == "DEPROVISIONED" for u in with_search)


@pytest.mark.parametrize("param,expr", [
    pytest.param("search", 'profile.login eq "{login}"', id="search-login"),
    pytest.param("search", 'profile.email eq "{upper}"', id="search-email-case-insensitive"),
    pytest.param("filter", 'profile.login eq "{login}"', id="filter-login"),
    pytest.param("search", 'id eq "{id}" and status eq "ACTIVE"', id="search-and"),
    pytest.param("search", '(id eq "{id}" or id eq "00unone") and profile.login sw "{first}"',
                 id="search-or-sw"),
])
def test_user_search_expressions(client: httpx.Client, param: str, expr: str) -> None:
    user = client.get("/api/v1/users", params={"search": 'status eq "ACTIVE"', "limit": 1}
                      ).json()[0]
    login = user["profile"]["login"]
    value = expr.format(login=login, upper=login.upper(), id=user["id"], first=login[:3])
    found = client.get("/api/v1/users", params={param: value}).json()
    assert [u["id"] for u in found] == [user["id"]]


def test_bad_search_is_400(client: httpx.Client) -> None:
    for params in ({"search": 'profile.login eq'}, {"filter": 'profile.nickName eq "x"'},
                   {"search": '"x" eq profile.login'}):
        r = client.get("/api/v1/users", params=params)
        assert r.status_code == 400 and r.json()["errorCode"] == "E0000001"


def test_users_q_is_a_name_prefix_with_default_10(client: httpx.Client) -> None:
    r = client.get("/api/v1/users", params={"q": "a"})
    found = r.json()
    assert len(found) == 10
    assert "next" not in r.links  # q is not paginated
    assert len(client.get("/api/v1/users", params={"q": "a", "limit": 15}).json()) == 15
    assert all(any(str(u["profile"][f]).lower().startswith("a")
                   for f in ("firstName", "lastName", "email")) for u in found)


def test_revoke_sessions_is_recorded_with_effective_defaults(sb: Sandbox,
                                                             client: httpx.Client) -> None:
    user = client.get("/api/v1/users", params={"limit": 1}).json()[0]
    r = client.delete(f"/api/v1/users/{user['id']}/sessions")
    assert r.status_code == 204 and r.content == b""
    r = client.delete(f"/api/v1/users/{user['id']}/sessions",
                      params={"oauthTokens": "true", "forgetDevices": "false"})
    assert r.status_code == 204
    log = sb.admin.session_revocations()
    assert [(e["userId"], e["oauthTokens"], e["forgetDevices"]) for e in log] == [
        (user["id"], False, True), (user["id"], True, False)]
    assert client.delete("/api/v1/users/00unotauser000000000/sessions").status_code == 404


def test_revoke_sessions_forget_devices_defaults_false_on_classic() -> None:
    sb = Sandbox(seed="classic")
    c = sb.client()
    user = c.get("/api/v1/users", params={"limit": 1}).json()[0]
    assert c.delete(f"/api/v1/users/{user['id']}/sessions").status_code == 204
    assert sb.admin.session_revocations()[0]["forgetDevices"] is False


def test_groups_search_q_and_members(client: httpx.Client) -> None:
    exact = client.get("/api/v1/groups", params={"search": 'profile.name eq "Engineering"'})
    groups = exact.json()
    assert [g["profile"]["name"] for g in groups] == ["Engineering"]
    assert groups[0]["id"].startswith("00g") and groups[0]["type"] == "OKTA_GROUP"
    everyone = client.get("/api/v1/groups", params={"q": "Every"}).json()
    assert [(g["profile"]["name"], g["type"]) for g in everyone] == [("Everyone", "BUILT_IN")]
    # only OKTA_GROUPs have owners (the newer recording, GH2494, Nov 2025)
    assert "owners" not in everyone[0]["_links"] and "users" in everyone[0]["_links"]
    assert groups[0]["_links"]["owners"]["href"].endswith(f"/groups/{groups[0]['id']}/owners")
    assert "link" not in client.get("/api/v1/groups", params={"q": "E"}).headers
    members = _all_pages(client, f"/api/v1/groups/{groups[0]['id']}/users", {"limit": 5})
    assert len(members) > 5
    built_in = client.get("/api/v1/groups", params={"search": 'type eq "BUILT_IN"'}).json()
    assert len(built_in) == 1


def test_well_known_pipeline() -> None:
    for seed, pipeline in (("default", "idx"), ("classic", "v1")):
        sb = Sandbox(seed=seed)
        with httpx.Client(base_url="https://acme.example", transport=sb.transport()) as c:
            r = c.get("/.well-known/okta-organization")
        body = r.json()
        assert r.status_code == 200
        assert body["pipeline"] == pipeline
        assert body["id"].startswith("00o") and len(body["id"]) == 20
        assert body["_links"]["organization"]["href"] == "https://acme.example"
