"""The policy evaluator on the seeded sandbox org: hand-computed outcomes per cohort and app."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kmsi_lib.engine import evaluate as ev
from kmsi_lib.engine.evaluate import EVERYONE_ELSE, Cohort, OrgView
from kmsi_lib.engine.outcome import duration_words, minutes_words
from kmsi_lib.okta.auth import SSWSAuth
from kmsi_lib.okta.client import OktaClient
from kmsi_lib.okta.resources import apps, groups, policies
from kmsi_lib.sandbox import SANDBOX_URL, Sandbox

ADMIN_CONSOLE = "0oaXRvyN0w5kVq4mY1d7"
DASHBOARD = "0oaXRvyN0y2tL4WFH1d7"
PAYROLL_SERVICE = "0oaXRvyN1eVz28Wzb1d7"  # an API service app: no authentication policy
ADMIN_CONSOLE_POLICY = "rstXRvyN0bkFATOHx1d7"
DASHBOARD_POLICY = "rstXRvyN0ceiZEhKr1d7"
ANY_TWO_FACTORS = "rstXRvyN0eKPH4Dwy1d7"
DEFAULT_SESSION_POLICY = "00pXRvyN0WaCj42gE1d7"
EVERYONE = "00gXRvyN0M8l6hlvY1d7"
IT_ADMINS = "00gXRvyN0RiRLH9Dz1d7"
KMSI_PILOT = "00gXRvyN0TsMcGp2k1d7"
CONTRACTORS = "00gXRvyN0UTY7xO5Z1d7"
ADMINS_RULE = "rulXRvyN0k79eAohR1d7"
DASHBOARD_EVERYONE_RULE = "rulXRvyN0n7huYmHn1d7"


@pytest.fixture(scope="module")
def seed() -> dict[str, Any]:
    return Sandbox().admin.snapshot()


def view_of(snapshot: dict[str, Any]) -> OrgView:
    """An OrgView of a sandbox snapshot (its group members turned into user -> groups)."""
    memberships: dict[str, list[str]] = {}
    for group_id, members in snapshot["group_members"].items():
        for user_id in members:
            memberships.setdefault(user_id, []).append(group_id)
    return ev.org_view_from(
        snapshot["policies"],
        snapshot["rules"],
        {app: found["policyId"] for app, found in snapshot["app_policy"].items()},
        memberships,
        groups=snapshot["groups"],
    )


def member_of(snapshot: dict[str, Any], group_id: str, *, not_in: str = "") -> str:
    """A user of ``group_id`` (who is not in ``not_in``)."""
    others = set(snapshot["group_members"].get(not_in, []))
    return next(u for u in snapshot["group_members"][group_id] if u not in others)


def changed(snapshot: dict[str, Any], policy_id: str, rule_id: str, **fields: Any) -> OrgView:
    """The view of a copy of ``snapshot`` with fields of one rule replaced."""
    copied = copy.deepcopy(snapshot)
    copied["rules"][policy_id][rule_id].update(fields)
    return view_of(copied)


def test_admin_console_admins_rule_then_catch_all(seed: dict[str, Any]) -> None:
    """An IT Admins user gets the "Admins" rule; everyone else falls to the Catch-all Rule."""
    view = view_of(seed)
    admin = ev.evaluate(view, Cohort.of_user(member_of(seed, IT_ADMINS)), ADMIN_CONSOLE)
    other = ev.evaluate(view, EVERYONE_ELSE, ADMIN_CONSOLE)
    assert admin.app is not None and other.app is not None
    assert (admin.app.rule_name, admin.app.reauthenticate_in) == (
        "Admins: 2FA every 2 hours",
        "PT2H",
    )
    assert (other.app.rule_name, other.app.reauthenticate_in) == ("Catch-all Rule", "PT12H")
    assert admin.depends_on == () and other.depends_on == ()


def test_everyone_else_gets_the_default_rule_of_the_default_policy(seed: dict[str, Any]) -> None:
    """No custom global session policy: the Default Policy's Default Rule, as seeded."""
    outcome = ev.evaluate(view_of(seed), EVERYONE_ELSE, DASHBOARD)
    session = outcome.session
    assert session is not None
    assert (session.policy_id, session.rule_name) == (DEFAULT_SESSION_POLICY, "Default Rule")
    assert (session.mfa_required, session.idle_minutes, session.lifetime_minutes) == (
        False,
        120,
        0,
    )
    assert session.persistent_cookie is False


def test_a_deactivated_rule_is_skipped(seed: dict[str, Any]) -> None:
    """With the Admins rule INACTIVE, an admin gets the Catch-all Rule too."""
    view = changed(seed, ADMIN_CONSOLE_POLICY, ADMINS_RULE, status="INACTIVE")
    outcome = ev.evaluate(view, Cohort.of_group(IT_ADMINS), ADMIN_CONSOLE)
    assert outcome.app is not None and outcome.app.rule_name == "Catch-all Rule"
    assert ev.cohorts_for(view, ADMIN_CONSOLE) == (EVERYONE_ELSE,)


def test_an_excluded_group_falls_through_to_the_catch_all(seed: dict[str, Any]) -> None:
    """Contractors excluded from the Dashboard's "Everyone else" rule reach the Catch-all Rule."""
    conditions = copy.deepcopy(
        seed["rules"][DASHBOARD_POLICY][DASHBOARD_EVERYONE_RULE]["conditions"]
    )
    conditions["people"]["groups"] = {"exclude": [CONTRACTORS]}
    view = changed(seed, DASHBOARD_POLICY, DASHBOARD_EVERYONE_RULE, conditions=conditions)
    by_cohort = {o.cohort: o.app for o in ev.evaluate_all(view, DASHBOARD)}
    assert list(by_cohort) == [
        Cohort.of_group(KMSI_PILOT),
        Cohort.of_group(CONTRACTORS),
        EVERYONE_ELSE,
    ]
    names = {cohort: rule.rule_name for cohort, rule in by_cohort.items() if rule is not None}
    assert names == {
        Cohort.of_group(KMSI_PILOT): "KMSI pilot: stay signed in",
        Cohort.of_group(CONTRACTORS): "Catch-all Rule",
        EVERYONE_ELSE: "Everyone else",
    }


def test_an_excluded_user_falls_through(seed: dict[str, Any]) -> None:
    """A pilot user named in ``people.users.exclude`` of the pilot rule gets "Everyone else"."""
    pilot = member_of(seed, KMSI_PILOT, not_in=CONTRACTORS)
    rule_id = "rulXRvyN0mGZty0hk1d7"
    conditions = copy.deepcopy(seed["rules"][DASHBOARD_POLICY][rule_id]["conditions"])
    conditions["people"]["users"] = {"exclude": [pilot]}
    view = changed(seed, DASHBOARD_POLICY, rule_id, conditions=conditions)
    outcome = ev.evaluate(view, Cohort.of_user(pilot), DASHBOARD)
    assert outcome.app is not None and outcome.app.rule_name == "Everyone else"
    assert Cohort.of_user(pilot) in ev.cohorts_for(view, DASHBOARD)


def test_a_network_zone_condition_makes_the_rule_a_possibility(seed: dict[str, Any]) -> None:
    """A ZONE rule above "Everyone else" is a possibility depending on the zone, then the next."""
    zone_rule = copy.deepcopy(seed["rules"][DASHBOARD_POLICY][DASHBOARD_EVERYONE_RULE])
    zone_rule.update(id="rulZONE0000000000001", name="Office network: 1FA", priority=0)
    zone_rule["conditions"]["network"] = {"connection": "ZONE", "include": ["nzoOFFICE00000000001"]}
    copied = copy.deepcopy(seed)
    copied["rules"][DASHBOARD_POLICY] = {
        zone_rule["id"]: zone_rule,
        **copied["rules"][DASHBOARD_POLICY],
    }
    outcome = ev.evaluate(view_of(copied), EVERYONE_ELSE, DASHBOARD)
    assert [(r.rule_name, r.depends_on) for r in outcome.app_rules] == [
        ("Office network: 1FA", ("network zone",)),
        ("Everyone else", ()),
    ]
    assert outcome.depends_on == ("network zone",)
    assert "if network zone match" in outcome.describe()


def test_a_custom_global_session_policy_comes_before_the_default(seed: dict[str, Any]) -> None:
    """A policy for IT Admins (MFA every sign-in) applies to them; others get the Default Rule."""
    copied = copy.deepcopy(seed)
    policy = {
        "id": "00pADMINS00000000001",
        "type": "OKTA_SIGN_ON",
        "name": "Admins",
        "status": "ACTIVE",
        "priority": 1,
        "system": False,
        "conditions": {"people": {"groups": {"include": [IT_ADMINS]}}},
    }
    rule = {
        "id": "0prADMINS00000000001",
        "type": "SIGN_ON",
        "name": "MFA always",
        "status": "ACTIVE",
        "priority": 1,
        "system": False,
        "conditions": {"network": {"connection": "ANYWHERE"}},
        "actions": {
            "signon": {
                "access": "ALLOW",
                "requireFactor": True,
                "factorPromptMode": "ALWAYS",
                "session": {"maxSessionIdleMinutes": 30, "maxSessionLifetimeMinutes": 480},
            }
        },
    }
    # Listed after the Default Policy and at the same priority: the system policy still comes last.
    copied["policies"][policy["id"]] = policy
    copied["rules"][policy["id"]] = {rule["id"]: rule}
    view = view_of(copied)
    admin = ev.evaluate(view, Cohort.of_group(IT_ADMINS), DASHBOARD).session
    other = ev.evaluate(view, EVERYONE_ELSE, DASHBOARD).session
    assert admin is not None and other is not None
    assert (admin.policy_name, admin.mfa_required, admin.prompt_mode) == ("Admins", True, "ALWAYS")
    assert other.rule_name == "Default Rule"
    assert "session lifetime 480 minutes (8 hours)" in admin.describe()


def test_an_app_without_a_policy_is_not_guessed(seed: dict[str, Any]) -> None:
    """An API service app has no authentication policy: no app rule, and a note says so."""
    outcome = ev.evaluate(view_of(seed), EVERYONE_ELSE, PAYROLL_SERVICE)
    assert outcome.app_rules == () and outcome.app is None
    assert outcome.notes == ("the view assigns the app no authentication policy (not evaluated)",)


def test_describe_reads_kmsi_and_durations_in_words(seed: dict[str, Any]) -> None:
    """The pilot's outcome says "once per Okta session" and the weekly KMSI prompt."""
    text = ev.evaluate(view_of(seed), Cohort.of_group(KMSI_PILOT), DASHBOARD).describe()
    assert "re-authentication PT43800H: once per Okta session" in text
    assert "post-auth KMSI prompt allowed, shown again PT168H: every 7 days" in text
    assert "session idle limit 120 minutes (2 hours)" in text


@pytest.mark.parametrize(
    ("iso", "reauth", "words"),
    [
        pytest.param("PT0S", True, "PT0S: at every sign-in", id="every-sign-in"),
        pytest.param("PT43800H", True, "PT43800H: once per Okta session", id="once-per-session"),
        pytest.param("P30D", False, "P30D: every 30 days", id="thirty-days"),
        pytest.param("PT12H", True, "PT12H: every 12 hours", id="hours"),
        pytest.param("soon", False, "soon (not an ISO-8601 duration)", id="not-a-duration"),
        pytest.param(None, False, "not set", id="absent"),
    ],
)
def test_duration_words(iso: str | None, reauth: bool, words: str) -> None:
    assert duration_words(iso, reauthentication=reauth) == words


def test_minutes_words() -> None:
    assert [minutes_words(15), minutes_words(90), minutes_words(0, zero="no limit")] == [
        "15 minutes",
        "90 minutes (1 hour, 30 minutes)",
        "no limit",
    ]


def test_impact_of_kmsi_on_the_shared_default_policy(seed: dict[str, Any]) -> None:
    """KMSI allowed on "Any two factors" reaches every app assigned to it, for Everyone, only."""
    catch_all = "rulXRvyN0faujKDfV1d7"
    actions = copy.deepcopy(seed["rules"][ANY_TWO_FACTORS][catch_all]["actions"])
    actions["appSignOn"]["keepMeSignedIn"] = {
        "postAuth": "ALLOWED",
        "postAuthPromptFrequency": "P7D",
    }
    before, after = view_of(seed), changed(seed, ANY_TWO_FACTORS, catch_all, actions=actions)
    found = ev.impact(before, after, seed["apps"])
    shared = {app for app, f in seed["app_policy"].items() if f["policyId"] == ANY_TWO_FACTORS}
    assert len(shared) == 16
    assert {i.app_id for i in found} == shared
    assert {i.cohort for i in found} == {EVERYONE_ELSE}
    assert len(found) == len(shared)
    assert (
        found[0]
        .describe()
        .endswith(
            'app sign-in "Catch-all Rule": post-auth KMSI prompt not allowed -> '
            "allowed, shown again P7D: every 7 days"
        )
    )


def test_impact_is_empty_when_only_names_change(seed: dict[str, Any]) -> None:
    """Renaming a rule changes no one's outcome."""
    after = changed(seed, ADMIN_CONSOLE_POLICY, ADMINS_RULE, name="Administrators")
    assert ev.impact(view_of(seed), after, [ADMIN_CONSOLE]) == ()


def test_a_view_read_through_the_api_evaluates_like_the_snapshot(seed: dict[str, Any]) -> None:
    """org_view_from takes the JSON the client reads (lists, app objects with _links) as well."""
    sandbox = Sandbox()
    with OktaClient(SANDBOX_URL, SSWSAuth(sandbox.token), transport=sandbox.transport()) as client:
        read = [
            *policies.list_policies(client, "OKTA_SIGN_ON"),
            *policies.list_policies(client, "ACCESS_POLICY"),
        ]
        rules = {p["id"]: policies.list_rules(client, p["id"]) for p in read}
        app_list = list(apps.list_apps(client))
        group_list = list(client.paginate("/api/v1/groups"))
        memberships: dict[str, list[str]] = {}
        for group in group_list:
            for user in groups.list_group_members(client, group["id"]):
                memberships.setdefault(user["id"], []).append(group["id"])
    view = ev.org_view_from(read, rules, app_list, memberships, groups=group_list)
    assert view.app_labels[ADMIN_CONSOLE] == "Okta Admin Console"
    for app_id in (ADMIN_CONSOLE, DASHBOARD, PAYROLL_SERVICE):
        api = [o.effect() for o in ev.evaluate_all(view, app_id)]
        assert api == [o.effect() for o in ev.evaluate_all(view_of(seed), app_id)]
