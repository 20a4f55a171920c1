"""Resource functions: the exact requests they send and how they read Okta's answers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from kmsi_lib import errors
from kmsi_lib.okta.auth import SSWSAuth
from kmsi_lib.okta.client import OktaClient
from kmsi_lib.okta.resources import apps, brands, groups, policies, users

ORG = "https://example.okta.com"
NOT_FOUND = {"errorCode": "E0000007", "errorSummary": "Not found: Resource not found: x (User)"}


class Routes:
    """Strict routes on a respx router: raw path+query -> (status, json); a request that
    matches no route fails, and so does a route never called (:meth:`all_called`)."""

    def __init__(self, routes: dict[tuple[str, str], tuple[int, Any]]) -> None:
        self.router = respx.Router(base_url=ORG, assert_all_called=True, assert_all_mocked=True)
        for key, reply in routes.items():
            self[key] = reply

    def __setitem__(self, key: tuple[str, str], reply: tuple[int, Any]) -> None:
        (method, target), (status, body) = key, reply
        answer = httpx.Response(status) if body is None else httpx.Response(status, json=body)
        self.router.route(method=method, url__eq=ORG + target).mock(return_value=answer)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        return self.router.handler(request)

    @property
    def bodies(self) -> list[bytes]:
        return [call.request.content for call in self.router.calls]

    def all_called(self) -> None:
        self.router.assert_all_called()


def client_for(routes: Routes) -> OktaClient:
    return OktaClient(ORG, SSWSAuth("fake-token"), transport=httpx.MockTransport(routes))


def test_find_group_by_name_uses_exact_search_and_compares_case_sensitively() -> None:
    query = "/api/v1/groups?search=profile.name+eq+%22Sales+%5C%22EMEA%5C%22%22"
    routes = Routes(
        {
            ("GET", query): (
                200,
                [
                    {"id": "g1", "profile": {"name": 'SALES "EMEA"'}},
                    {"id": "g2", "profile": {"name": 'Sales "EMEA"'}},
                ],
            ),
        }
    )
    group = groups.find_group_by_name(client_for(routes), 'Sales "EMEA"')
    assert group is not None and group["id"] == "g2"
    routes.all_called()


def test_find_group_by_name_none_when_no_exact_match() -> None:
    """Only a case-sensitive exact name counts: "ops" and "Ops X" are not "Ops"."""
    found = [{"id": "g1", "profile": {"name": "ops"}}, {"id": "g2", "profile": {"name": "Ops X"}}]
    routes = Routes({("GET", "/api/v1/groups?search=profile.name+eq+%22Ops%22"): (200, found)})
    assert groups.find_group_by_name(client_for(routes), "Ops") is None
    routes.all_called()


def test_find_group_by_name_refuses_to_guess_between_duplicates() -> None:
    same = [{"id": "g1", "profile": {"name": "Ops"}}, {"id": "g2", "profile": {"name": "Ops"}}]
    routes = Routes({("GET", "/api/v1/groups?search=profile.name+eq+%22Ops%22"): (200, same)})
    with pytest.raises(errors.KmsiError, match="g1, g2"):
        groups.find_group_by_name(client_for(routes), "Ops")


def test_search_expression_escapes_backslash_and_quote() -> None:
    assert groups.search_expression('a\\b"c') == 'profile.name eq "a\\\\b\\"c"'


def test_find_user_encodes_the_login_and_maps_404_to_none() -> None:
    routes = Routes(
        {
            ("GET", "/api/v1/users/ann%2Btest%40example.com"): (200, {"id": "00u1"}),
            ("GET", "/api/v1/users/nobody%40example.com"): (404, NOT_FOUND),
        }
    )
    c = client_for(routes)
    assert users.find_user(c, "ann+test@example.com") == {"id": "00u1"}
    assert users.find_user(c, "nobody@example.com") is None
    with pytest.raises(errors.NotFoundError):
        users.get_user(c, "nobody@example.com")
    routes.all_called()


def test_get_user_refuses_a_login_with_a_slash() -> None:
    with pytest.raises(errors.ParameterError, match="by id"):
        users.get_user(client_for(Routes({})), "a/b@example.com")


@pytest.mark.parametrize(("oauth", "forget"), [(False, False), (True, False), (False, True)])
def test_revoke_sessions_always_sends_both_flags(oauth: bool, forget: bool) -> None:
    query = f"oauthTokens={str(oauth).lower()}&forgetDevices={str(forget).lower()}"
    routes = Routes({("DELETE", f"/api/v1/users/00u1/sessions?{query}"): (204, None)})
    users.revoke_sessions(client_for(routes), "00u1", oauth_tokens=oauth, forget_devices=forget)
    routes.all_called()


def test_customized_sign_in_page_none_on_404() -> None:
    routes = Routes({("GET", "/api/v1/brands/bnd1/pages/sign-in/customized"): (404, NOT_FOUND)})
    assert brands.get_customized_sign_in_page(client_for(routes), "bnd1") is None


def test_sign_in_page_root_expand() -> None:
    routes = Routes(
        {
            ("GET", "/api/v1/brands/bnd1/pages/sign-in?expand=default%2Ccustomized"): (
                200,
                {"_embedded": {}},
            )
        }
    )
    got = brands.get_sign_in_page_root(client_for(routes), "bnd1", expand=("default", "customized"))
    assert got == {"_embedded": {}}


def test_replace_customized_page_sends_the_whole_page() -> None:
    page = {"pageContent": "<html/>", "widgetCustomizations": {"signInLabel": "Hi", "x": None}}
    routes = Routes({("PUT", "/api/v1/brands/bnd1/pages/sign-in/customized"): (200, page)})
    assert brands.replace_customized_sign_in_page(client_for(routes), "bnd1", page) == page
    assert httpx.Response(200, content=routes.bodies[0]).json() == page


def test_find_policy_by_name_is_exact_and_refuses_duplicates() -> None:
    listing = [{"id": "p1", "name": "KMSI"}, {"id": "p2", "name": "KMSI weekly"}]
    routes = Routes({("GET", "/api/v1/policies?type=ACCESS_POLICY&q=KMSI"): (200, listing)})
    c = client_for(routes)
    assert policies.find_policy_by_name(c, "ACCESS_POLICY", "KMSI") == listing[0]
    routes[("GET", "/api/v1/policies?type=ACCESS_POLICY&q=KMSI")] = (
        200,
        [{"id": "p1", "name": "KMSI"}, {"id": "p3", "name": "KMSI"}],
    )
    with pytest.raises(errors.KmsiError, match="p1, p3"):
        policies.find_policy_by_name(c, "ACCESS_POLICY", "KMSI")


def test_create_rule_sends_activate_explicitly_and_rules_by_name() -> None:
    routes = Routes(
        {
            ("POST", "/api/v1/policies/p1/rules?activate=false"): (200, {"id": "r1", "name": "R"}),
            ("GET", "/api/v1/policies/p1/rules"): (
                200,
                [{"id": "r1", "name": "R"}, {"id": "r2", "name": "r"}],
            ),
            ("POST", "/api/v1/policies/p1/rules/r1/lifecycle/activate"): (204, None),
        }
    )
    c = client_for(routes)
    assert policies.create_rule(c, "p1", {"name": "R"}, activate=False)["id"] == "r1"
    assert policies.find_rule_by_name(c, "p1", "r") == {"id": "r2", "name": "r"}
    policies.activate_rule(c, "p1", "r1")
    routes.all_called()


def test_list_policy_app_ids_from_mappings() -> None:
    mappings = [
        {"id": "m1", "_links": {"application": {"href": f"{ORG}/api/v1/apps/0oa1"}}},
        {"id": "m2", "_links": {"application": {"href": f"{ORG}/api/v1/apps/0oa2/"}}},
        {"id": "m3", "_links": {}},
    ]
    routes = Routes({("GET", "/api/v1/policies/rst1/mappings"): (200, mappings)})
    assert policies.list_policy_app_ids(client_for(routes), "rst1") == ["0oa1", "0oa2"]


@pytest.mark.parametrize(
    ("app", "expected"),
    [
        pytest.param(
            {"_links": {"accessPolicy": {"href": f"{ORG}/api/v1/policies/rst9"}}},
            "rst9",
            id="linked",
        ),
        pytest.param({"_links": {}}, None, id="no-link"),
        pytest.param({}, None, id="no-links"),
        pytest.param({"_links": {"accessPolicy": {"href": "garbage"}}}, None, id="garbage"),
    ],
)
def test_access_policy_id(app: dict[str, Any], expected: str | None) -> None:
    assert apps.access_policy_id(app) == expected


def test_assign_access_policy_is_a_bodyless_put() -> None:
    routes = Routes({("PUT", "/api/v1/apps/0oa1/policies/rst1"): (204, None)})
    apps.assign_access_policy(client_for(routes), "0oa1", "rst1")
    assert routes.bodies == [b""]


def test_ids_are_path_encoded() -> None:
    routes = Routes({("GET", "/api/v1/policies/..%2Fusers"): (404, NOT_FOUND)})
    with pytest.raises(errors.NotFoundError):
        policies.get_policy(client_for(routes), "../users")
