"""``POST /api/v1/policies/simulate``: the sandbox's own policy evaluator, hand-checked.

Every expected answer below is worked out by hand from the default seed: the Okta Admin
Console's app sign-in policy has "Admins: 2FA every 2 hours" (IT Admins) above its
Catch-all Rule, and the global session policy is the system Default Policy with its
Default Rule only.
"""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
from okta_spec import (
    DOCUMENTED_DEPARTURES,
    SIMULATE_TEMPLATE,
    SpecValidator,
    departures_for,
    load_spec,
    spec_validator,
    unexcused,
)

from kmsi_lib.sandbox import Sandbox
from kmsi_lib.sandbox._app import API

Json = dict[str, Any]
URL = "/api/v1/policies/simulate"
ZONE = "nzo1a2b3c4d5e6f7g8h9"  # the sandbox has no zones: any zone id is just compared


@pytest.fixture
def sb() -> Sandbox:
    return Sandbox(seed="default")


def _ids(sb: Sandbox) -> Json:
    state = sb.state
    app = next(a for a in state.apps.values() if a["label"] == "Okta Admin Console")
    groups = {g["profile"]["name"]: gid for gid, g in state.groups.items()}
    admins = set(state.group_members[groups["IT Admins"]])
    admin = state.org["apiTokenOwnerId"]
    other = next(
        u for u in state.users if u not in admins and u in state.group_members[groups["Sales"]]
    )
    policy = state.app_policy[app["id"]]["policyId"]
    rules = {r["name"]: rid for rid, r in state.rules[policy].items()}
    gsp = next(p for p in state.policies.values() if p["type"] == "OKTA_SIGN_ON")
    gsp_rule = next(iter(state.rules[gsp["id"]]))
    return {
        "app": app["id"],
        "admin": admin,
        "other": other,
        "groups": groups,
        "policy": policy,
        "admins_rule": rules["Admins: 2FA every 2 hours"],
        "catch_all": rules["Catch-all Rule"],
        "gsp": gsp["id"],
        "gsp_rule": gsp_rule,
    }


def _simulate(client: httpx.Client, body: Any, expand: str | None = None, status: int = 200) -> Any:
    params = {"expand": expand} if expand else {}
    r = client.post(URL, json=body, params=params)
    assert r.status_code == status, r.text
    if status == 200:
        assert unexcused(spec_validator().validate("POST", str(r.url), 200, r.json())) == []
    return r.json()


def _by_type(answer: Json) -> dict[str, Json]:
    return {e["policyType"]: e for e in answer["evaluation"]}


def _matched(entry: Json) -> list[tuple[str, str]]:
    """(policy id, rule id) of the result (one policy, at most one rule)."""
    return [(p["id"], r["id"]) for p in entry["result"]["policies"] for r in p["rules"]]


def _user_body(ids: Json, user: str, types: list[str] | None = None) -> Json:
    body: Json = {"appInstance": ids["app"], "policyContext": {"user": {"id": user}}}
    if types is not None:
        body["policyTypes"] = types
    return body


# ---- hand-computed evaluations on the default seed --------------------------------------------


def test_admin_matches_the_admins_rule_and_the_default_session_rule(sb: Sandbox) -> None:
    """An IT admin: the admins rule of the Admin Console policy; the GSP's Default Rule."""
    ids = _ids(sb)
    types = ["OKTA_SIGN_ON", "ACCESS_POLICY"]
    answer = _by_type(_simulate(sb.client(), _user_body(ids, ids["admin"], types)))
    assert list(answer) == types
    assert _matched(answer["ACCESS_POLICY"]) == [(ids["policy"], ids["admins_rule"])]
    (rule,) = answer["ACCESS_POLICY"]["result"]["policies"][0]["rules"]
    assert rule == {
        "id": ids["admins_rule"],
        "name": "Admins: 2FA every 2 hours",
        "status": "MATCH",
        "conditions": [{"type": "people.groups.include", "status": "MATCH"}],
    }
    assert _matched(answer["OKTA_SIGN_ON"]) == [(ids["gsp"], ids["gsp_rule"])]
    for entry in answer.values():
        assert entry["status"] is None
        assert entry["undefined"] == {"policies": []}
        assert entry["evaluated"] == {"policies": []}  # not asked for


def test_another_user_falls_through_to_the_catch_all(sb: Sandbox) -> None:
    """A Sales user is not an IT admin: the admins rule does not match, the catch-all does."""
    ids = _ids(sb)
    body = _user_body(ids, ids["other"], ["ACCESS_POLICY", "OKTA_SIGN_ON"])
    answer = _by_type(_simulate(sb.client(), body))
    assert list(answer) == ["OKTA_SIGN_ON", "ACCESS_POLICY"]  # always in sign-in order
    assert _matched(answer["ACCESS_POLICY"]) == [(ids["policy"], ids["catch_all"])]
    assert _matched(answer["OKTA_SIGN_ON"]) == [(ids["gsp"], ids["gsp_rule"])]


def test_expand_evaluated_lists_every_rule_tried_and_rule_says_why(sb: Sandbox) -> None:
    """EVALUATED lists the rules tried in order; RULE adds the conditions that failed."""
    ids = _ids(sb)
    c = sb.client()
    body = _user_body(ids, ids["other"], ["ACCESS_POLICY"])
    (entry,) = _simulate(c, body, "EVALUATED")["evaluation"]
    (policy,) = entry["evaluated"]["policies"]
    assert (policy["id"], policy["status"]) == (ids["policy"], "MATCH")
    assert [(r["id"], r["status"], r["conditions"]) for r in policy["rules"]] == [
        (ids["admins_rule"], "NOT_MATCH", []),
        (ids["catch_all"], "MATCH", []),
    ]
    for expand in ("EVALUATED,RULE", "RULE,EVALUATED"):
        (entry,) = _simulate(c, body, expand)["evaluation"]
        first = entry["evaluated"]["policies"][0]["rules"][0]
        assert first["conditions"] == [{"type": "people.groups.include", "status": "NOT_MATCH"}]
    r = c.post(URL, json=body, params=[("expand", "EVALUATED"), ("expand", "RULE")])
    assert r.json()["evaluation"][0]["evaluated"]["policies"][0]["rules"][0]["conditions"]


def test_a_deactivated_rule_is_skipped(sb: Sandbox) -> None:
    """With the admins rule deactivated, the admin gets the catch-all; EVALUATED omits it."""
    ids = _ids(sb)
    c = sb.client()
    path = f"/api/v1/policies/{ids['policy']}/rules/{ids['admins_rule']}/lifecycle/deactivate"
    assert c.post(path).status_code == 204
    (entry,) = _simulate(c, _user_body(ids, ids["admin"], ["ACCESS_POLICY"]), "EVALUATED")[
        "evaluation"
    ]
    assert _matched(entry) == [(ids["policy"], ids["catch_all"])]
    assert [r["id"] for r in entry["evaluated"]["policies"][0]["rules"]] == [ids["catch_all"]]


def test_global_session_policies_in_priority_order_active_only(sb: Sandbox) -> None:
    """An Engineering GSP above the default catches engineers only, and only while ACTIVE."""
    ids = _ids(sb)
    c = sb.client()
    eng = ids["groups"]["Engineering"]
    policy = c.post(
        "/api/v1/policies",
        json={
            "type": "OKTA_SIGN_ON",
            "name": "Engineering sessions",
            "conditions": {"people": {"groups": {"include": [eng]}}},
        },
    ).json()
    rule = c.post(
        f"/api/v1/policies/{policy['id']}/rules",
        json={
            "type": "SIGN_ON",
            "name": "Engineers: 8 hours",
            "actions": {"signon": {"access": "ALLOW", "requireFactor": False}},
        },
    ).json()
    engineer = sb.state.group_members[eng][0]
    outsider = next(u for u in sb.state.users if u not in sb.state.group_members[eng])
    types = ["OKTA_SIGN_ON"]
    (entry,) = _simulate(c, _user_body(ids, engineer, types))["evaluation"]
    assert _matched(entry) == [(policy["id"], rule["id"])]
    (entry,) = _simulate(c, _user_body(ids, outsider, types), "EVALUATED")["evaluation"]
    assert _matched(entry) == [(ids["gsp"], ids["gsp_rule"])]
    assert [(p["id"], p["status"]) for p in entry["evaluated"]["policies"]] == [
        (policy["id"], "NOT_MATCH"),
        (ids["gsp"], "MATCH"),
    ]
    assert c.post(f"/api/v1/policies/{policy['id']}/lifecycle/deactivate").status_code == 204
    (entry,) = _simulate(c, _user_body(ids, engineer, types))["evaluation"]
    assert _matched(entry) == [(ids["gsp"], ids["gsp_rule"])]


def test_a_session_policy_without_an_active_rule_is_passed_over(sb: Sandbox) -> None:
    """Policies with no rules are never applied (Policy API): the default policy decides."""
    ids = _ids(sb)
    c = sb.client()
    policy = c.post(
        "/api/v1/policies", json={"type": "OKTA_SIGN_ON", "name": "No rules yet"}
    ).json()
    types = ["OKTA_SIGN_ON"]
    (entry,) = _simulate(c, _user_body(ids, ids["other"], types), "EVALUATED")["evaluation"]
    assert _matched(entry) == [(ids["gsp"], ids["gsp_rule"])]
    assert [(p["id"], p["status"]) for p in entry["evaluated"]["policies"]] == [
        (policy["id"], "NOT_MATCH"),
        (ids["gsp"], "MATCH"),
    ]
    rule = c.post(
        f"/api/v1/policies/{policy['id']}/rules?activate=false",
        json={"type": "SIGN_ON", "name": "Off", "actions": {"signon": {"access": "ALLOW"}}},
    ).json()
    assert rule["status"] == "INACTIVE"
    (entry,) = _simulate(c, _user_body(ids, ids["other"], types))["evaluation"]
    assert _matched(entry) == [(ids["gsp"], ids["gsp_rule"])]


def _add_access_rule(c: httpx.Client, ids: Json, name: str, conditions: Json) -> str:
    r = c.post(
        f"/api/v1/policies/{ids['policy']}/rules",
        json={
            "type": "ACCESS_POLICY",
            "name": name,
            "priority": 0,
            "conditions": conditions,
            "actions": {"appSignOn": {"access": "ALLOW"}},
        },
    )
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def test_a_zone_rule_is_undefined_without_zones_and_decided_with_them(sb: Sandbox) -> None:
    """No zone in the context: the zone rule is UNDEFINED (listed) and evaluation goes on."""
    ids = _ids(sb)
    c = sb.client()
    zone_rule = _add_access_rule(
        c, ids, "Office only", {"network": {"connection": "ZONE", "include": [ZONE]}}
    )
    body = _user_body(ids, ids["other"], ["ACCESS_POLICY"])
    (entry,) = _simulate(c, body)["evaluation"]
    assert _matched(entry) == [(ids["policy"], ids["catch_all"])]
    (unsure,) = entry["undefined"]["policies"]
    assert unsure["id"] == ids["policy"]
    assert unsure["rules"] == [
        {
            "id": zone_rule,
            "name": "Office only",
            "status": "UNDEFINED",
            "conditions": [{"type": "network.include", "status": "UNDEFINED"}],
        }
    ]
    body["policyContext"]["zones"] = {"ids": [ZONE]}
    (entry,) = _simulate(c, body)["evaluation"]
    assert _matched(entry) == [(ids["policy"], zone_rule)]
    assert entry["undefined"] == {"policies": []}
    body["policyContext"]["zones"] = {"ids": ["nzoSomewhereElse0000"]}
    (entry,) = _simulate(c, body)["evaluation"]
    assert _matched(entry) == [(ids["policy"], ids["catch_all"])]
    body["policyContext"].pop("zones")
    body["policyContext"]["ip"] = "192.0.2.10"  # an address cannot be placed in a zone
    (entry,) = _simulate(c, body)["evaluation"]
    assert entry["undefined"]["policies"][0]["rules"][0]["id"] == zone_rule


@pytest.mark.parametrize(
    ("conditions", "context", "expected"),
    [
        pytest.param(
            {"device": {"registered": True, "managed": True}},
            {"device": {"registered": True, "managed": True}},
            "MATCH",
            id="managed-device-given",
        ),
        pytest.param(
            {"device": {"registered": True}},
            {"device": {"registered": False}},
            "NOT_MATCH",
            id="unregistered-device",
        ),
        pytest.param({"device": {"registered": True}}, {}, "UNDEFINED", id="no-device"),
        pytest.param(
            {"platform": {"include": [{"type": "MOBILE", "os": {"type": "IOS"}}]}},
            {"device": {"platform": "IOS"}},
            "MATCH",
            id="ios-platform",
        ),
        pytest.param(
            {"platform": {"include": [{"type": "MOBILE", "os": {"type": "IOS"}}]}},
            {"device": {"platform": "WINDOWS"}},
            "NOT_MATCH",
            id="windows-not-ios",
        ),
        pytest.param(
            {"platform": {"include": [{"type": "DESKTOP"}]}}, {}, "UNDEFINED", id="no-platform"
        ),
        pytest.param(
            {"elCondition": {"condition": "user.profile.department == 'IT'"}},
            {"device": {"platform": "IOS"}},
            "UNDEFINED",
            id="expression-never-decided",
        ),
    ],
)
def test_device_platform_and_expression_conditions(
    sb: Sandbox, conditions: Json, context: Json, expected: str
) -> None:
    """Each condition is decided from the context when it can be, else UNDEFINED."""
    ids = _ids(sb)
    c = sb.client()
    rule = _add_access_rule(c, ids, "Under test", conditions)
    body = _user_body(ids, ids["other"], ["ACCESS_POLICY"])
    body["policyContext"].update(context)
    (entry,) = _simulate(c, body, "EVALUATED,RULE")["evaluation"]
    tried = entry["evaluated"]["policies"][0]["rules"][0]
    assert (tried["id"], tried["status"]) == (rule, expected)
    winner = rule if expected == "MATCH" else ids["catch_all"]
    assert _matched(entry) == [(ids["policy"], winner)]
    undefined_ids = [r["id"] for p in entry["undefined"]["policies"] for r in p["rules"]]
    assert undefined_ids == ([rule] if expected == "UNDEFINED" else [])


def test_risk_level_is_compared_when_given(sb: Sandbox) -> None:
    """A HIGH risk rule matches a HIGH context, not a LOW one, and is UNDEFINED without one."""
    ids = _ids(sb)
    c = sb.client()
    sb.admin.set_org_settings({"riskScoring": True})
    rule = _add_access_rule(c, ids, "High risk", {"riskScore": {"level": "HIGH"}})
    body = _user_body(ids, ids["other"], ["ACCESS_POLICY"])
    statuses = []
    for risk in ("HIGH", "LOW", None):
        if risk:
            body["policyContext"]["risk"] = {"level": risk}
        else:
            body["policyContext"].pop("risk")
        (entry,) = _simulate(c, body, "EVALUATED")["evaluation"]
        statuses.append(entry["evaluated"]["policies"][0]["rules"][0]["status"])
        assert entry["evaluated"]["policies"][0]["rules"][0]["id"] == rule
    assert statuses == ["MATCH", "NOT_MATCH", "UNDEFINED"]


def test_groups_instead_of_a_user(sb: Sandbox) -> None:
    """A group context is a member of those groups; no subject at all leaves people UNDEFINED."""
    ids = _ids(sb)
    c = sb.client()
    body: Json = {
        "appInstance": ids["app"],
        "policyTypes": ["ACCESS_POLICY"],
        "policyContext": {"groups": {"ids": [ids["groups"]["IT Admins"]]}},
    }
    (entry,) = _simulate(c, body)["evaluation"]
    assert _matched(entry) == [(ids["policy"], ids["admins_rule"])]
    body["policyContext"]["groups"]["ids"] = [ids["groups"]["Everyone"]]
    (entry,) = _simulate(c, body)["evaluation"]
    assert _matched(entry) == [(ids["policy"], ids["catch_all"])]
    (entry,) = _simulate(c, {"appInstance": ids["app"], "policyTypes": ["ACCESS_POLICY"]})[
        "evaluation"
    ]
    assert _matched(entry) == [(ids["policy"], ids["catch_all"])]
    assert entry["undefined"]["policies"][0]["rules"] == [
        {
            "id": ids["admins_rule"],
            "name": "Admins: 2FA every 2 hours",
            "status": "UNDEFINED",
            "conditions": [{"type": "people.groups.include", "status": "UNDEFINED"}],
        }
    ]


def test_all_four_types_by_default_and_the_array_form(sb: Sandbox) -> None:
    """No ``policyTypes`` (or ``[]``) gives all four types; an array body is the same request."""
    ids = _ids(sb)
    c = sb.client()
    body = _user_body(ids, ids["admin"])
    everything = _simulate(c, body)
    assert [e["policyType"] for e in everything["evaluation"]] == [
        "OKTA_SIGN_ON",
        "MFA_ENROLL",
        "ACCESS_POLICY",
        "PROFILE_ENROLLMENT",
    ]
    assert _simulate(c, {**body, "policyTypes": []}) == everything
    assert _simulate(c, [body]) == everything
    mfa = _by_type(everything)["MFA_ENROLL"]["result"]["policies"]
    assert [(p["name"], p["status"], p["rules"]) for p in mfa] == [("Default Policy", "MATCH", [])]


def test_a_service_app_has_no_app_sign_in_policy(sb: Sandbox) -> None:
    """A client-credentials app takes no authentication policy: nothing to evaluate."""
    ids = _ids(sb)
    service = next(
        a["id"]
        for a in sb.state.apps.values()
        if (a.get("settings", {}).get("oauthClient") or {}).get("application_type") == "service"
    )
    body = {**_user_body(ids, ids["admin"], ["ACCESS_POLICY"]), "appInstance": service}
    (entry,) = _simulate(sb.client(), body)["evaluation"]
    assert entry["result"] == {"policies": []}


# ---- errors, scope, bucket, loopback ------------------------------------------------------------


def _fill(value: Any, names: dict[str, str]) -> Any:
    """``value`` with the placeholders ``APP`` and ``USER`` replaced by the seed's ids."""
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    return names.get(value, value) if isinstance(value, str) else value


@pytest.mark.parametrize(
    ("body", "status", "code", "cause"),
    [
        pytest.param({}, 400, "E0000001", "appInstance", id="no-app"),
        pytest.param({"appInstance": 7}, 400, "E0000001", "appInstance", id="app-not-a-string"),
        pytest.param(
            {"appInstance": "APP", "policyTypes": ["PASSWORD"]},
            400,
            "E0000001",
            "policyTypes",
            id="type-not-simulated",
        ),
        pytest.param(
            {
                "appInstance": "APP",
                "policyContext": {"user": {"id": "USER"}, "groups": {"ids": []}},
            },
            400,
            "E0000001",
            "policyContext",
            id="user-and-groups",
        ),
        pytest.param(
            {"appInstance": "APP", "policyContext": {"risk": {"level": "EXTREME"}}},
            400,
            "E0000001",
            "policyContext.risk.level",
            id="bad-risk",
        ),
        pytest.param([{"appInstance": "APP"}, {}], 400, "E0000001", "[1].appInstance", id="array"),
        pytest.param("nope", 400, "E0000003", None, id="not-an-object"),
        pytest.param({"appInstance": "0oaNoSuchApp00000000"}, 404, "E0000007", None, id="app"),
        pytest.param(
            {"appInstance": "APP", "policyContext": {"user": {"id": "00uNoSuchUser0000000"}}},
            404,
            "E0000007",
            None,
            id="user",
        ),
        pytest.param(
            {"appInstance": "APP", "policyContext": {"groups": {"ids": ["00gNoSuchGroup000000"]}}},
            404,
            "E0000007",
            None,
            id="group",
        ),
    ],
)
def test_bad_requests_get_okta_errors(
    sb: Sandbox, body: Any, status: int, code: str, cause: str | None
) -> None:
    """A bad body is 400 E0000001 naming the field; unknown ids are 404 E0000007."""
    ids = _ids(sb)
    error = _simulate(
        sb.client(), _fill(body, {"APP": ids["app"], "USER": ids["admin"]}), None, status
    )
    assert error["errorCode"] == code
    if cause is not None:
        assert error["errorCauses"][0]["errorSummary"].startswith(f"{cause}:")
    if status == 404:
        assert "Resource not found" in error["errorSummary"]


def test_scope_bucket_and_no_state_change(sb: Sandbox) -> None:
    """Needs okta.policies.read, counts in the /api/v1/policies bucket, changes nothing."""
    (methods,) = [m for path, m in API if path == URL]
    assert methods["POST"].scope == "okta.policies.read" and not methods["POST"].write
    ids = _ids(sb)
    before = sb.admin.snapshot()
    _simulate(sb.client(), _user_body(ids, ids["admin"]))
    assert sb.admin.snapshot() == before
    assert sb.admin.requests()[-1]["bucket"] == "/api/v1/policies"


def test_over_loopback(sb: Sandbox) -> None:
    """Over real HTTP the admin still matches the admins rule."""
    ids = _ids(sb)
    with sb.serve(port=0) as url:
        r = httpx.post(
            f"{url}{URL}?expand=EVALUATED",
            json=_user_body(ids, ids["admin"], ["ACCESS_POLICY"]),
            headers={"Authorization": f"SSWS {sb.token}"},
        )
    assert r.status_code == 200
    assert r.headers["X-Rate-Limit-Limit"] and r.headers["X-Okta-Request-Id"]
    assert _matched(r.json()["evaluation"][0]) == [(ids["policy"], ids["admins_rule"])]
    assert unexcused(spec_validator().validate("POST", str(r.url), 200, r.json())) == []


# ---- spec conformance -----------------------------------------------------------------------


def _spec_example() -> Any:
    return load_spec(relaxed=False)["components"]["examples"]["SimulatePolicyResponse"]["value"]


def test_the_departure_is_the_specs_own_example() -> None:
    """The spec's response example breaks its schema only as the documented departure says."""
    strict = SpecValidator(load_spec(relaxed=False))
    url = f"https://acme.okta.com{URL}"
    (violation,) = strict.validate("POST", url, 200, _spec_example())
    assert violation.template == SIMULATE_TEMPLATE
    assert departures_for(violation) == {d.name for d in DOCUMENTED_DEPARTURES}


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda b: b["evaluation"][0].update(status="MAYBE"), id="bad-status"),
        pytest.param(
            lambda b: b["evaluation"][0]["result"]["policies"][0].update(rules={}), id="rules"
        ),
        pytest.param(lambda b: b["evaluation"][0].update(policyType="PASSWORD"), id="type"),
        pytest.param(lambda b: b.update(extra=[]), id="extra-key"),
    ],
)
def test_a_wrong_simulation_answer_is_not_excused(sb: Sandbox, mangle: Any) -> None:
    """The departure excuses the documented envelope only, not a wrong answer inside it."""
    ids = _ids(sb)
    body = copy.deepcopy(_simulate(sb.client(), _user_body(ids, ids["admin"]), "EVALUATED"))
    mangle(body)
    assert unexcused(spec_validator().validate("POST", f"https://x{URL}", 200, body))
