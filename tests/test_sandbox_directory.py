"""Sandbox apps, brands and sign-in pages, users, groups, sessions and the well-known document."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from kmsi_lib.sandbox import Sandbox, SandboxConfig


@pytest.fixture
def sb() -> Sandbox:
    return Sandbox(seed="default")


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
    policy = client.post(
        "/api/v1/policies", json={"type": "ACCESS_POLICY", "name": "Slack only"}
    ).json()
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


def test_customized_page_absent_is_404_and_default_shows_kmsi_prompt(client: httpx.Client) -> None:
    brand = _brand(client, True)
    r = client.get(f"/api/v1/brands/{brand['id']}/pages/sign-in/customized")
    assert r.status_code == 404 and r.json()["errorCode"] == "E0000007"
    default = client.get(f"/api/v1/brands/{brand['id']}/pages/sign-in/default").json()
    assert default["widgetVersion"] == "^7"
    assert default["widgetCustomizations"]["postAuthKeepMeSignedInPrompt"] == {
        "title": "Keep me signed in",
        "subtitle": "Sign in and enter security methods less frequently.",
        "acceptButtonText": "Stay signed in",
        "rejectButtonText": "Don't stay signed in",
    }


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
    r = client.put(
        url,
        json={
            "widgetCustomizations": {
                "helpLabel": "Help URL Test",
                "helpUrl": "https://helpurltest.com",
                "showPasswordVisibilityToggle": False,
                "showUserIdentifier": False,
                "widgetGeneration": "G3",
            }
        },
    )
    assert r.status_code == 200
    put = r.json()
    assert put["pageContent"] is None and put["widgetVersion"] is None
    assert "postAuthKeepMeSignedInPrompt" not in put["widgetCustomizations"]
    assert put["widgetCustomizations"]["signInLabel"] is None
    assert put["widgetCustomizations"]["helpLabel"] == "Help URL Test"
    got = client.get(url).json()
    assert got["widgetCustomizations"]["postAuthKeepMeSignedInPrompt"] == {
        "title": None,
        "subtitle": None,
        "acceptButtonText": None,
        "rejectButtonText": None,
    }
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


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"widgetVersion": "seven"}, id="bad-version"),
        pytest.param({"widgetCustomizations": {"widgetGeneration": "G9"}}, id="bad-generation"),
        pytest.param({"widgetCustomizations": {"showUserIdentifier": "yes"}}, id="bad-bool"),
        pytest.param(
            {"widgetCustomizations": {"postAuthKeepMeSignedInPrompt": {"title": 5}}},
            id="bad-prompt",
        ),
        pytest.param({"contentSecurityPolicySetting": {"mode": "strict"}}, id="bad-csp"),
    ],
)
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
    assert set(brand) == {
        "id",
        "name",
        "removePoweredByOkta",
        "customPrivacyPolicyUrl",
        "agreeToCustomPrivacyPolicy",
        "isDefault",
        "defaultApp",
        "_links",
    }
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
    r = client.post(
        "/api/v1/brands", content=b"{nope", headers={"Content-Type": "application/json"}
    )
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
    body = {
        "agreeToCustomPrivacyPolicy": False,
        "customPrivacyPolicyUrl": "",
        "defaultApp": {},
        "locale": "en",
        "name": "testBrand",
        "removePoweredByOkta": False,
    }
    r = client.put(f"/api/v1/brands/{brand['id']}", json=body)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["customPrivacyPolicyUrl"] is None and got["locale"] == "en"
    assert got["defaultApp"] == dict.fromkeys(
        ("appInstanceId", "appLinkName", "classicApplicationUri")
    )
    assert client.get(f"/api/v1/brands/{brand['id']}").json()["locale"] == "en"
    r = client.put(f"/api/v1/brands/{brand['id']}", json={"name": "Acme Partners"})
    assert r.status_code == 409 and r.json()["errorCode"] == "E0000202"
    r = client.put(f"/api/v1/brands/{brand['id']}", json={"removePoweredByOkta": True})
    assert r.status_code == 400 and r.json()["errorCode"] == "E0000001"
    assert client.get(f"/api/v1/brands/{brand['id']}").json()["removePoweredByOkta"] is False


def test_create_brand_needs_brands_manage(sb: Sandbox) -> None:
    r = sb.client(headers={"Authorization": "SSWS wrong"}).post(
        "/api/v1/brands", json={"name": "x"}
    )
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
        "Not found: Resource not found: nobody@acme.example.com (User)"
    )


def test_seed_has_100_plus_users_with_pagination(client: httpx.Client) -> None:
    r = client.get("/api/v1/users", params={"limit": 50})
    assert len(r.json()) == 50 and "next" in r.links
    everyone = _all_pages(client, "/api/v1/users", {"limit": 50})
    assert len(everyone) >= 100
    assert len({u["id"] for u in everyone}) == len(everyone)
    assert all(u["status"] != "DEPROVISIONED" for u in everyone)
    with_search = _all_pages(client, "/api/v1/users", {"search": 'status eq "DEPROVISIONED"'})
    assert with_search and all(u["status"] == "DEPROVISIONED" for u in with_search)


@pytest.mark.parametrize(
    "param,expr",
    [
        pytest.param("search", 'profile.login eq "{login}"', id="search-login"),
        pytest.param("search", 'profile.email eq "{upper}"', id="search-email-case-insensitive"),
        pytest.param("filter", 'profile.login eq "{login}"', id="filter-login"),
        pytest.param("search", 'id eq "{id}" and status eq "ACTIVE"', id="search-and"),
        pytest.param(
            "search",
            '(id eq "{id}" or id eq "00unone") and profile.login sw "{first}"',
            id="search-or-sw",
        ),
    ],
)
def test_user_search_expressions(client: httpx.Client, param: str, expr: str) -> None:
    user = client.get("/api/v1/users", params={"search": 'status eq "ACTIVE"', "limit": 1}).json()[
        0
    ]
    login = user["profile"]["login"]
    value = expr.format(login=login, upper=login.upper(), id=user["id"], first=login[:3])
    found = client.get("/api/v1/users", params={param: value}).json()
    assert [u["id"] for u in found] == [user["id"]]


# Each form Okta's listUsers documentation rules out (spec: the search, filter and sortBy
# parameters; core API "Filter"/"Operators"). Okta answers them 400 E0000031.
REFUSED_USER_QUERIES = [
    pytest.param("search", 'status ne "ACTIVE"', id="search-ne"),
    pytest.param("search", 'profile.city co "Lon"', id="search-co-on-city"),
    pytest.param("search", 'id co "00u"', id="search-co-on-id"),
    pytest.param("search", 'status co "ACT"', id="search-co-on-status"),
    pytest.param("search", 'status ew "IVE"', id="search-ew-is-system-log-only"),
    pytest.param("search", 'Status eq "ACTIVE"', id="search-name-case-sensitive"),
    pytest.param("search", 'profile.Login eq "a@b.c"', id="search-profile-name-case-sensitive"),
    pytest.param("search", 'profile.noSuchThing eq "x"', id="search-unknown-profile-attr"),
    pytest.param("search", 'lastLogin gt "2020-01-01T00:00:00.000Z"', id="search-lastLogin"),
    pytest.param("search", "status eq ACTIVE", id="search-unquoted-value"),
    pytest.param("search", 'lastUpdated gt "2014-01-01"', id="search-date-without-time"),
    pytest.param("search", "lastUpdated gt 2014", id="search-date-as-number"),
    pytest.param("search", 'lastUpdated sw "2025"', id="search-sw-on-date"),
    pytest.param("search", "profile.login sw 5", id="search-sw-with-number"),
    pytest.param("search", 'not (status eq "ACTIVE")', id="search-not"),
    pytest.param("search", "profile.login eq", id="search-no-value"),
    pytest.param("search", '"x" eq profile.login', id="search-value-first"),
    pytest.param("search", '(status eq "ACTIVE"', id="search-unclosed-paren"),
    pytest.param("search", 'status eq "ACTIVE" and', id="search-dangling-and"),
    pytest.param("filter", 'profile.nickName eq "x"', id="filter-nickName"),
    pytest.param("filter", 'created gt "2014-01-01T00:00:00.000Z"', id="filter-created"),
    pytest.param("filter", 'type.id eq "oty"', id="filter-type-id"),
    pytest.param("filter", 'status sw "ACT"', id="filter-sw"),
    pytest.param("filter", 'profile.login co "a"', id="filter-co"),
    pytest.param("filter", "profile.email pr", id="filter-pr"),
    pytest.param("filter", 'status ne "ACTIVE"', id="filter-ne"),
    pytest.param("filter", 'id gt "00u"', id="filter-gt-on-id"),
    pytest.param("filter", "status eq ACTIVE", id="filter-unquoted-value"),
    pytest.param("filter", 'lastUpdated gt "yesterday"', id="filter-bad-date"),
    pytest.param("filter", 'not (status eq "ACTIVE")', id="filter-not"),
    pytest.param("filter", 'Status eq "ACTIVE"', id="filter-name-case-sensitive"),
]


@pytest.mark.parametrize("param,expr", REFUSED_USER_QUERIES)
def test_refused_user_query_is_400_e0000031(client: httpx.Client, param: str, expr: str) -> None:
    r = client.get("/api/v1/users", params={param: expr})
    assert r.status_code == 400, r.text
    body = r.json()
    assert (body["errorCode"], body["errorSummary"], body["errorCauses"]) == (
        "E0000031",
        "Invalid search criteria.",
        [],
    )


def _ids(users: list[dict[str, Any]]) -> list[str]:
    return [u["id"] for u in users]


SEED_TIME = "2025-06-26T15:51:35.000Z"  # every seeded user's timestamps


# (param, expression, which users Okta returns): the result must be exactly those users.
ACCEPTED_USER_QUERIES = [
    pytest.param(
        "search",
        'status eq "locked_out"',
        lambda u: u["status"] == "LOCKED_OUT",
        id="search-value-case-insensitive",
    ),
    pytest.param(
        "search",
        'status EQ "ACTIVE" AND profile.firstName SW "r"',
        lambda u: u["status"] == "ACTIVE" and u["profile"]["firstName"][0] == "R",
        id="search-operators-case-insensitive",
    ),
    pytest.param(
        "search",
        'profile.login co "SINGH"',
        lambda u: "singh" in u["profile"]["login"],
        id="search-co-on-login",
    ),
    pytest.param(
        "search",
        'profile.lastName co "ing" or profile.email co "okta."',
        lambda u: "ing" in u["profile"]["lastName"].lower() or "okta." in u["profile"]["email"],
        id="search-co-or",
    ),
    pytest.param(
        "search",
        '(status lt "STAGED" or status gt "STAGED")',
        lambda u: True,
        id="search-spec-ne-workaround-includes-deprovisioned",
    ),
    pytest.param(
        "search",
        'status gt "PROVISIONED"',
        lambda u: u["status"] == "SUSPENDED",
        id="search-gt-on-string",
    ),
    pytest.param(
        "search", 'lastUpdated ge "2025-06-26T15:51:35.000Z"', lambda u: True, id="search-ge-date"
    ),
    pytest.param(
        "search", 'created lt "2014-01-01T00:00:00.000Z"', lambda u: False, id="search-lt-date"
    ),
    pytest.param(
        "search",
        "activated pr and profile.mobilePhone pr",
        lambda u: False,
        id="search-pr-null-is-absent",
    ),
    pytest.param("search", "activated pr", lambda u: u["activated"] is not None, id="search-pr"),
    pytest.param(
        "search",
        'type.id eq "otynkw1sdzpoFCZMq1d7" and status eq "DEPROVISIONED"',
        lambda u: u["status"] == "DEPROVISIONED",
        id="search-type-id",
    ),
    pytest.param(
        "search",
        'profile.department eq "Engineering"',
        lambda u: False,
        id="search-schema-attr-nobody-has",
    ),
    pytest.param(
        "filter",
        'status eq "LOCKED_OUT" or status eq "SUSPENDED"',
        lambda u: u["status"] in ("LOCKED_OUT", "SUSPENDED"),
        id="filter-or",
    ),
    pytest.param(
        "filter", 'status eq "locked_out"', lambda u: False, id="filter-value-case-sensitive"
    ),
    pytest.param(
        "filter",
        'status EQ "DEPROVISIONED"',
        lambda u: u["status"] == "DEPROVISIONED",
        id="filter-operator-case-insensitive-and-deprovisioned",
    ),
    pytest.param(
        "filter",
        'profile.lastName eq "Singh" and profile.firstName eq "Rosa"',
        lambda u: (u["profile"]["firstName"], u["profile"]["lastName"]) == ("Rosa", "Singh"),
        id="filter-profile-names",
    ),
    pytest.param(
        "filter",
        'lastUpdated gt "2025-06-26T16:51:34.000+01:00"',
        lambda u: True,
        id="filter-date-with-offset-compares-in-time",
    ),
    pytest.param(
        "filter", 'lastUpdated lt "2025-06-26T15:51:35.000Z"', lambda u: False, id="filter-lt-date"
    ),
    pytest.param(
        "filter",
        'lastUpdated le "2025-06-26T15:51:35.000Z" and status eq "ACTIVE"',
        lambda u: u["status"] == "ACTIVE",
        id="filter-le-date",
    ),
]


@pytest.mark.parametrize("param,expr,expected", ACCEPTED_USER_QUERIES)
def test_accepted_user_query_returns_exactly_the_matching_users(
    sb: Sandbox,
    client: httpx.Client,
    param: str,
    expr: str,
    expected: Callable[[dict[str, Any]], bool],
) -> None:
    everyone = sorted(sb.admin.snapshot()["users"].values(), key=lambda u: u["id"])
    assert {u["lastUpdated"] for u in everyone} == {SEED_TIME}
    found = _all_pages(client, "/api/v1/users", {param: expr, "limit": 50})
    assert _ids(found) == [u["id"] for u in everyone if expected(u)]


def test_filter_values_are_case_sensitive_search_values_are_not(client: httpx.Client) -> None:
    user = client.get("/api/v1/users", params={"filter": 'status eq "ACTIVE"', "limit": 1}).json()[
        0
    ]
    login = user["profile"]["login"]
    for param, value, want in (
        ("filter", login, [user["id"]]),
        ("filter", login.upper(), []),
        ("search", login.upper(), [user["id"]]),
        ("search", login.title(), [user["id"]]),
    ):
        found = client.get("/api/v1/users", params={param: f'profile.login eq "{value}"'})
        assert _ids(found.json()) == want, (param, value)


def test_filter_on_last_updated_sees_a_newer_user(sb: Sandbox, client: httpx.Client) -> None:
    added = sb.admin.add_user("late.comer@acme.example.com")
    assert added["lastUpdated"] > SEED_TIME
    for expr in (f'lastUpdated gt "{SEED_TIME}"', f'lastUpdated eq "{added["lastUpdated"]}"'):
        assert _ids(client.get("/api/v1/users", params={"filter": expr}).json()) == [added["id"]]


def test_search_custom_array_number_and_boolean_attributes(
    sb: Sandbox, client: httpx.Client
) -> None:
    """Spec: custom attributes are searchable, and an array matches when one element does."""
    snapshot = sb.admin.snapshot()
    uid = sorted(snapshot["users"])[7]
    snapshot["users"][uid]["profile"].update(
        {"skills": ["Python", "Go"], "level": 3, "contractor": True}
    )
    sb.admin.load(snapshot)
    for expr in (
        'profile.skills eq "python"',
        'profile.skills sw "g"',
        "profile.level gt 2",
        "profile.level eq 3",
        "profile.contractor eq true",
        "profile.skills pr",
    ):
        assert _ids(client.get("/api/v1/users", params={"search": expr}).json()) == [uid], expr
    for expr in ('profile.skills eq "rust"', "profile.level lt 3", "profile.contractor eq false"):
        assert client.get("/api/v1/users", params={"search": expr}).json() == [], expr
    for expr in ('profile.skills co "yth"', "profile.contractor gt true"):
        r = client.get("/api/v1/users", params={"search": expr})
        assert r.status_code == 400 and r.json()["errorCode"] == "E0000031", expr


def test_search_and_filter_together_is_400_e0000033(client: httpx.Client) -> None:
    r = client.get(
        "/api/v1/users", params={"search": 'status eq "ACTIVE"', "filter": 'status eq "ACTIVE"'}
    )
    assert r.status_code == 400
    assert r.json()["errorCode"] == "E0000033"


def _by_last_name(users: list[dict[str, Any]], desc: bool = False) -> list[str]:
    ordered = sorted(users, key=lambda u: u["id"])
    ordered.sort(key=lambda u: u["profile"]["lastName"].lower(), reverse=desc)
    return _ids(ordered)


def test_search_sort_by_and_sort_order_across_pages(sb: Sandbox, client: httpx.Client) -> None:
    """sortBy orders a search case-insensitively, ties by id, and the order survives paging."""
    lower = sb.admin.add_user("zed.aaronson@acme.example.com", last_name="aaronson")
    matching = [u for u in sb.admin.snapshot()["users"].values() if u["status"] == "ACTIVE"]
    search = {"search": 'status eq "ACTIVE"', "sortBy": "profile.lastName", "limit": 7}
    asc = _all_pages(client, "/api/v1/users", search)
    assert _ids(asc) == _by_last_name(matching)
    assert asc[0]["id"] == lower["id"]  # "aaronson" before "Adams": case does not count
    desc = _all_pages(client, "/api/v1/users", {**search, "sortOrder": "desc"})
    assert _ids(desc) == _by_last_name(matching, desc=True)
    assert _ids(_all_pages(client, "/api/v1/users", {**search, "sortOrder": "ASC"})) == _ids(asc)


def test_sort_order_needs_sort_by_and_sort_needs_a_search(client: httpx.Client) -> None:
    by_id = _ids(_all_pages(client, "/api/v1/users", {"search": 'status eq "ACTIVE"'}))
    assert by_id == sorted(by_id)
    assert (
        _ids(
            _all_pages(
                client, "/api/v1/users", {"search": 'status eq "ACTIVE"', "sortOrder": "desc"}
            )
        )
        == by_id
    )
    assert (
        _ids(
            _all_pages(
                client,
                "/api/v1/users",
                {"filter": 'status eq "ACTIVE"', "sortBy": "profile.lastName"},
            )
        )
        == by_id
    )


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"sortBy": "profile.noSuchThing"}, id="unknown-sortBy"),
        pytest.param({"sortBy": "Status"}, id="sortBy-name-case-sensitive"),
        pytest.param({"sortBy": "profile.lastName", "sortOrder": "up"}, id="bad-sortOrder"),
    ],
)
def test_bad_sort_is_400_e0000031(client: httpx.Client, params: dict[str, str]) -> None:
    r = client.get("/api/v1/users", params={"search": 'status eq "ACTIVE"', **params})
    assert r.status_code == 400 and r.json()["errorCode"] == "E0000031"


def test_user_query_rules_over_loopback(sb: Sandbox) -> None:
    """The same answers over real HTTP, where the expressions travel percent-encoded."""
    with (
        sb.serve() as url,
        httpx.Client(base_url=url, headers={"Authorization": f"SSWS {sb.token}"}) as c,
    ):
        r = c.get("/api/v1/users", params={"search": 'status ne "ACTIVE"'})
        assert r.status_code == 400 and r.json()["errorCode"] == "E0000031"
        r = c.get("/api/v1/users", params={"filter": 'profile.login co "a"'})
        assert r.status_code == 400 and r.json()["errorCode"] == "E0000031"
        r = c.get("/api/v1/users", params={"filter": 'status eq "locked_out"'})
        assert r.status_code == 200 and r.json() == []
        r = c.get(
            "/api/v1/users",
            params={
                "search": 'profile.email co "@ACME" and status eq "active"',
                "sortBy": "profile.lastName",
                "sortOrder": "desc",
                "limit": 200,
            },
        )
        assert r.status_code == 200
        active = [u for u in sb.admin.snapshot()["users"].values() if u["status"] == "ACTIVE"]
        assert _ids(r.json()) == _by_last_name(active, desc=True)


def test_users_q_is_a_name_prefix_with_default_10(client: httpx.Client) -> None:
    r = client.get("/api/v1/users", params={"q": "a"})
    found = r.json()
    assert len(found) == 10
    assert "next" not in r.links  # q is not paginated
    assert len(client.get("/api/v1/users", params={"q": "a", "limit": 15}).json()) == 15
    assert all(
        any(
            str(u["profile"][f]).lower().startswith("a") for f in ("firstName", "lastName", "email")
        )
        for u in found
    )


def test_revoke_sessions_is_recorded_with_effective_defaults(
    sb: Sandbox, client: httpx.Client
) -> None:
    user = client.get("/api/v1/users", params={"limit": 1}).json()[0]
    r = client.delete(f"/api/v1/users/{user['id']}/sessions")
    assert r.status_code == 204 and r.content == b""
    r = client.delete(
        f"/api/v1/users/{user['id']}/sessions",
        params={"oauthTokens": "true", "forgetDevices": "false"},
    )
    assert r.status_code == 204
    log = sb.admin.session_revocations()
    assert [(e["userId"], e["oauthTokens"], e["forgetDevices"]) for e in log] == [
        (user["id"], False, True),
        (user["id"], True, False),
    ]
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


def test_users_me_is_the_api_tokens_owner() -> None:
    """``/api/v1/users/me`` names the user behind the credential: for an API token, the
    admin who created it (the System Log's actor for its writes)."""
    sb = Sandbox(seed="default")
    me = sb.client().get("/api/v1/users/me")
    assert me.status_code == 200
    assert me.json()["profile"]["login"] == "okta.admin@acme.example.com"
    assert sb.client().get(f"/api/v1/users/{me.json()['id']}").json() == me.json()
