"""Post-authentication KMSI against the sandbox org: plan, apply, verify, rollback, drift."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from procedure_support import (
    ATTESTATION,
    Org,
    apply_acknowledged,
    comparable_snapshot,
    loopback_org,
    make_org,
)

from kmsi_lib.engine import ApplyResult, Plan
from kmsi_lib.errors import ClassicEngineError, ParameterError, StalePlanError
from kmsi_lib.errors import ValidationError as OktaValidationError
from kmsi_lib.procedures import post_auth, pre_auth, rollback

PARAMS: dict[str, Any] = {
    "apps": {"labels": ["Slack", "Zoom", "Okta Dashboard"]},
    "prompt_frequency": "P7D",
    "reauthenticate_in": "PT12H",
}
KMSI = "actions.appSignOn.keepMeSignedIn"


@pytest.fixture
def org() -> Org:
    return make_org()


def test_plan_on_a_fresh_org_lists_each_field_and_writes_nothing(org: Org) -> None:
    plan = post_auth.plan(org.client, PARAMS)
    shared = org.app_policy_id("Slack")
    assert org.app_policy_id("Zoom") == shared, "the seed has Slack and Zoom share a policy"
    dashboard = org.app_policy_id("Okta Dashboard")
    assert sorted(c.ref.parent_id or "" for c in plan.changes) == sorted([shared, dashboard])
    for change in plan.changes:
        assert change.action == "update" and change.ref.name == "Catch-all Rule"
        paths = {d.path: (d.before, d.after) for d in change.diffs}
        assert paths[f"{KMSI}.postAuth"] == ("NOT_ALLOWED", "ALLOWED")
        assert paths[f"{KMSI}.postAuthPromptFrequency"] == (None, "P7D")
    assert any("share authentication policy" in n for n in plan.notes)
    assert org.api_writes() == []
    assert [s for s in org.wire.sent if s.is_write] == []


def test_apply_verify_and_second_apply_writes_nothing(org: Org) -> None:
    result = apply_acknowledged(post_auth, org.client, post_auth.plan(org.client, PARAMS))
    assert result.outcome == "applied"
    assert result.verification.ok, result.verification.to_text()
    rule = org.rule(org.app_policy_id("Slack"), "Catch-all Rule")
    assert rule["actions"]["appSignOn"]["keepMeSignedIn"] == {
        "postAuth": "ALLOWED",
        "postAuthPromptFrequency": "P7D",
    }
    assert post_auth.verify(org.client, PARAMS).ok

    org.clear_logs()
    again = post_auth.plan(org.client, PARAMS)
    assert again.is_empty
    second = apply_acknowledged(post_auth, org.client, again)
    assert second.outcome == "no-op"
    assert org.api_writes() == []


def test_durations_are_compared_by_meaning(org: Org) -> None:
    apply_acknowledged(post_auth, org.client, post_auth.plan(org.client, PARAMS))
    same = {**PARAMS, "prompt_frequency": "PT168H", "reauthenticate_in": "PT720M"}
    assert post_auth.plan(org.client, same).is_empty
    longer = {**PARAMS, "prompt_frequency": "P30D"}
    plan = post_auth.plan(org.client, longer)
    assert {d.path for c in plan.changes for d in c.diffs} == {f"{KMSI}.postAuthPromptFrequency"}


def test_rollback_restores_the_org_exactly(org: Org) -> None:
    before = comparable_snapshot(org.sandbox)
    result = apply_acknowledged(post_auth, org.client, post_auth.plan(org.client, PARAMS))
    assert comparable_snapshot(org.sandbox) != before
    saved = json.loads(json.dumps(result.to_dict()))  # as evidence would keep it
    undo = rollback.plan(org.client, {"apply_result": saved})
    assert len(undo.changes) == 2
    done = rollback.apply(org.client, undo)
    assert done.verification.ok, done.verification.to_text()
    assert comparable_snapshot(org.sandbox) == before
    assert rollback.verify(org.client, {"apply_result": saved}).ok


def test_drift_between_plan_and_apply_is_refused_before_any_write(org: Org) -> None:
    plan = post_auth.plan(org.client, PARAMS)
    policy_id, _ = org.edit_app_rule(
        "Okta Dashboard",
        "Catch-all Rule",
        lambda rule: rule["actions"]["appSignOn"]["verificationMethod"].update(factorMode="1FA"),
    )
    with pytest.raises(StalePlanError) as info:
        apply_acknowledged(post_auth, org.client, plan)
    message = str(info.value)
    assert f"rules of policy {policy_id}" in message
    assert "['Catch-all Rule'].actions.appSignOn.verificationMethod.factorMode" in message
    assert "was 2FA, now 1FA" in message
    assert org.api_writes() == []


def test_plan_survives_json_round_trip_and_a_tampered_plan_is_refused(org: Org) -> None:
    plan = post_auth.plan(org.client, PARAMS)
    reloaded = Plan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert apply_acknowledged(post_auth, org.client, reloaded).verification.ok
    data = plan.to_dict()
    data["observations"][0]["value"] = {"tampered": True}
    with pytest.raises(ParameterError, match="fingerprint"):
        Plan.from_dict(data)


def test_fields_the_library_does_not_own_survive_apply_and_rollback(org: Org) -> None:
    """Constraints and inactivityPeriod set by someone else stay through apply and rollback."""
    policy_id = org.app_policy_id("Okta Dashboard")
    rule = org.rule(policy_id, "Catch-all Rule")
    method = rule["actions"]["appSignOn"]["verificationMethod"]
    method["inactivityPeriod"] = "PT30M"
    method["constraints"] = [
        {"knowledge": {"types": ["password"], "reauthenticateIn": "PT2H", "required": False}}
    ]
    org.replace_rule(policy_id, rule)
    seeded = org.rule(policy_id, "Catch-all Rule")["actions"]["appSignOn"]["verificationMethod"]
    before = comparable_snapshot(org.sandbox)

    result = apply_acknowledged(post_auth, org.client, post_auth.plan(org.client, PARAMS))
    after = org.rule(policy_id, "Catch-all Rule")["actions"]["appSignOn"]["verificationMethod"]
    assert after["inactivityPeriod"] == seeded["inactivityPeriod"]
    assert after["constraints"] == seeded["constraints"]
    assert after["reauthenticateIn"] == "PT12H"

    rollback.apply(org.client, rollback.plan(org.client, {"apply_result": result.to_dict()}))
    assert comparable_snapshot(org.sandbox) == before


def test_given_constraints_replace_the_existing_ones(org: Org) -> None:
    constraints = [{"possession": {"phishingResistant": "REQUIRED"}}]
    params = {**PARAMS, "apps": {"labels": ["Okta Dashboard"]}, "constraints": constraints}
    apply_acknowledged(post_auth, org.client, post_auth.plan(org.client, params))
    rule = org.rule(org.app_policy_id("Okta Dashboard"), "Catch-all Rule")
    sent = rule["actions"]["appSignOn"]["verificationMethod"]["constraints"]
    assert sent[0]["possession"]["phishingResistant"] == "REQUIRED"
    assert post_auth.verify(org.client, params).ok


def test_default_rule_persistent_cookie_is_sent_back_unchanged(org: Org) -> None:
    """usePersistentCookie is read-only on the Default Rule: kept, never a planned change."""
    snap = org.sandbox.admin.snapshot()
    default = next(p for p in snap["policies"].values() if p["name"] == "Default Policy")
    rule = next(r for r in snap["rules"][default["id"]].values() if r["system"])
    rule["actions"]["signon"]["session"]["usePersistentCookie"] = True
    org.sandbox.admin.load(snap)

    params = {**PARAMS, "max_session_idle_minutes": 240}
    plan = post_auth.plan(org.client, params)
    default_change = next(c for c in plan.changes if c.ref.parent_id == default["id"])
    assert [d.path for d in default_change.diffs] == [
        "actions.signon.session.maxSessionIdleMinutes"
    ]
    assert default_change.after is not None
    assert default_change.after["actions"]["signon"]["session"]["usePersistentCookie"] is True
    assert any("persistent session cookies" in n for n in plan.notes)
    org.clear_logs()
    result = apply_acknowledged(post_auth, org.client, plan)
    assert result.verification.ok
    put = next(s for s in org.wire.writes() if default["id"] in s.path)
    assert put.body["actions"]["signon"]["session"]["usePersistentCookie"] is True
    assert "system" not in put.body and "id" not in put.body


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        pytest.param(
            {"apps": {"labels": ["Slak"]}},
            "apps.labels[0]",
            "no app labelled 'Slak' in this org; did you mean 'Slack'?",
            id="unknown-app",
        ),
        pytest.param(
            {"apps": {"ids": ["0oaDoesNotExist"]}},
            "apps.ids[0]",
            "no app with id '0oaDoesNotExist'",
            id="unknown-app-id",
        ),
        pytest.param(
            {"apps": {"policies": ["No such policy"]}},
            "apps.policies[0]",
            "no authentication policy named 'No such policy'",
            id="unknown-policy",
        ),
        pytest.param({"apps": {}}, "apps", "choose at least one app", id="empty-selection"),
        pytest.param(
            {"apps": {"labels": ["Slack"]}, "prompt_frequency": "7 days"},
            "prompt_frequency",
            "'7 days' is not an ISO-8601 duration",
            id="bad-duration",
        ),
        pytest.param(
            {"apps": {"labels": ["Slack"]}, "max_session_idle_minutes": "120"},
            "max_session_idle_minutes",
            "must be a whole number of minutes (got '120')",
            id="non-integer-minutes",
        ),
        pytest.param(
            {"apps": {"labels": ["Slack"]}, "rule_name": "Nope"},
            "rule_name",
            "no rule named 'Nope'",
            id="unknown-rule",
        ),
        pytest.param(
            {"apps": {"labels": ["Slack"]}, "factor_mode": "3FA"},
            "factor_mode",
            "must be one of '1FA' or '2FA'",
            id="bad-enum",
        ),
    ],
)
def test_invalid_parameters_fail_before_any_write(
    org: Org, params: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ParameterError) as info:
        post_auth.plan(org.client, params)
    assert info.value.field == field
    assert message in info.value.message
    assert org.api_writes() == []


def test_apps_sharing_a_policy_change_it_once_by_policy_name(org: Org) -> None:
    plan = post_auth.plan(org.client, {"apps": {"policies": ["Any two factors"]}})
    (change,) = plan.changes  # the seeded Default Rule already matches
    assert change.ref.name == "Catch-all Rule"
    assert change.ref.parent_id == org.app_policy_id("Slack")
    assert "app(s) using policy 'Any two factors'" in change.note


def test_classic_engine_org_is_refused() -> None:
    org = make_org("classic")
    with pytest.raises(ClassicEngineError):
        post_auth.plan(org.client, PARAMS)


def test_over_loopback_http() -> None:
    with loopback_org() as org:
        result = apply_acknowledged(post_auth, org.client, post_auth.plan(org.client, PARAMS))
        assert result.verification.ok
        assert post_auth.plan(org.client, PARAMS).is_empty
        undo = rollback.apply(
            org.client, rollback.plan(org.client, {"apply_result": result.to_dict()})
        )
        assert undo.verification.ok


def test_apply_result_renders_and_round_trips(org: Org) -> None:
    result = apply_acknowledged(post_auth, org.client, post_auth.plan(org.client, PARAMS))
    data = json.loads(json.dumps(result.to_dict()))
    assert ApplyResult.from_dict(copy.deepcopy(data)).to_dict() == data
    assert "postAuthPromptFrequency" in result.to_text()
    assert "<table>" in result._repr_html_()


def test_a_future_field_is_sent_back_on_apply_and_on_rollback(org: Org) -> None:
    """A field no version of the library knows (added to the org's rule out of band) is in
    every PUT body and is still in the org after the apply and after the rollback. The
    sandbox plays a newer Okta release that knows the field (``future_fields``); without
    that it would drop the field, as Okta drops fields it does not know."""
    org.sandbox.admin.set_future_fields(
        {"ACCESS_POLICY rule": ["futureField", "actions.appSignOn.futureAction"]}
    )
    policy_id = org.app_policy_id("Okta Dashboard")
    snap = org.sandbox.admin.snapshot()
    rule = next(r for r in snap["rules"][policy_id].values() if r["name"] == "Catch-all Rule")
    rule["futureField"] = {"introduced": "2027.01.0"}
    rule["actions"]["appSignOn"]["futureAction"] = True
    org.sandbox.admin.load(snap)
    rule_url = f"/api/v1/policies/{policy_id}/rules/{rule['id']}"

    def assert_org_keeps_the_future_fields() -> None:
        with org.sandbox.client() as direct:
            in_org = direct.get(rule_url).json()
        assert in_org["futureField"] == {"introduced": "2027.01.0"}
        assert in_org["actions"]["appSignOn"]["futureAction"] is True

    params = {**PARAMS, "apps": {"labels": ["Okta Dashboard"]}}
    result = apply_acknowledged(post_auth, org.client, post_auth.plan(org.client, params))
    (put,) = [s for s in org.wire.writes() if s.path.endswith(rule["id"])]
    assert put.body["futureField"] == {"introduced": "2027.01.0"}
    assert put.body["actions"]["appSignOn"]["futureAction"] is True
    assert_org_keeps_the_future_fields()

    org.clear_logs()
    saved = result.to_dict()
    saved_before = saved["before_state"][0]["before"]
    assert saved_before["futureField"] == {"introduced": "2027.01.0"}
    undo = rollback.plan(org.client, {"apply_result": saved})
    assert rollback.apply(org.client, undo).verification.ok
    (put,) = [s for s in org.wire.writes() if s.path.endswith(rule["id"])]
    assert put.body["futureField"] == {"introduced": "2027.01.0"}
    assert put.body["actions"]["appSignOn"]["futureAction"] is True
    assert_org_keeps_the_future_fields()


def test_admin_console_choice_is_flagged_in_the_plan(org: Org) -> None:
    plan = post_auth.plan(org.client, {"apps": {"labels": ["Okta Admin Console"]}})
    assert any("Okta Admin Console lets administrators stay signed in" in n for n in plan.notes)
    assert not any("Admin Console" in n for n in post_auth.plan(org.client, PARAMS).notes)


def test_verify_names_each_field_that_no_longer_matches(org: Org) -> None:
    apply_acknowledged(post_auth, org.client, post_auth.plan(org.client, PARAMS))
    org.edit_app_rule(
        "Okta Dashboard",
        "Catch-all Rule",
        lambda rule: rule["actions"]["appSignOn"].update(
            keepMeSignedIn={"postAuth": "NOT_ALLOWED"}
        ),
    )
    verification = post_auth.verify(org.client, PARAMS)
    failed = {
        c.name.rsplit(" ", 1)[-1].strip("()"): (c.expected, c.actual)
        for c in verification.checks
        if not c.ok
    }
    assert failed == {
        f"{KMSI}.postAuth": ("ALLOWED", "NOT_ALLOWED"),
        f"{KMSI}.postAuthPromptFrequency": ("P7D", None),
    }
    assert "FAILED" in verification.to_text()
    assert org.api_writes() == [], "verify only reads"


def test_an_inactive_rule_is_reported_not_silently_accepted(org: Org) -> None:
    policy_id = org.app_policy_id("Okta Dashboard")
    rule = org.rule(policy_id, "Everyone else")
    org.client.request(
        "POST", f"/api/v1/policies/{policy_id}/rules/{rule['id']}/lifecycle/deactivate"
    )
    params = {"apps": {"labels": ["Okta Dashboard"]}, "rule_name": "Everyone else"}
    plan = post_auth.plan(org.client, params)
    assert any("is INACTIVE: it has no effect until it is activated" in n for n in plan.notes)
    apply_acknowledged(post_auth, org.client, plan)
    verification = post_auth.verify(org.client, params)
    assert [c.name for c in verification.checks if not c.ok] == [
        f"rule 'Everyone else' ({rule['id']}) in {policy_id} status"
    ]


def test_org_without_the_kmsi_feature_is_noted_and_the_refusal_keeps_what_was_written(
    org: Org,
) -> None:
    """Okta refuses KMSI fields when the feature is off; the plan warns, the apply stops with
    the partial result attached so the Default Rule change can be rolled back."""
    org.sandbox.admin.set_org_settings({"kmsiFeature": False})
    snap = org.sandbox.admin.snapshot()  # rules read without KMSI fields, as such an org has
    for rules in snap["rules"].values():
        for rule in rules.values():
            rule.get("actions", {}).get("appSignOn", {}).pop("keepMeSignedIn", None)
    org.sandbox.admin.load(snap)
    before = comparable_snapshot(org.sandbox)
    params = {**PARAMS, "max_session_idle_minutes": 60}
    plan = post_auth.plan(org.client, params)
    assert any("has no keepMeSignedIn settings" in n for n in plan.notes)
    with pytest.raises(OktaValidationError) as info:
        apply_acknowledged(post_auth, org.client, plan)
    assert "keepMeSignedIn" in str(info.value)
    partial = info.value.apply_result  # type: ignore[attr-defined]
    assert partial.outcome == "failed"
    assert [r.ref.name for r in partial.before_state] == ["Default Rule"]
    rollback.apply(org.client, rollback.plan(org.client, {"apply_result": partial.to_dict()}))
    assert comparable_snapshot(org.sandbox) == before


def test_without_a_rule_name_the_catch_all_rule_is_chosen_and_the_plan_says_why(org: Org) -> None:
    plan = post_auth.plan(org.client, {"apps": {"labels": ["Okta Dashboard"]}})
    assert [c.ref.name for c in plan.changes if c.ref.parent_id != _gsp(org)] == ["Catch-all Rule"]
    assert any("'Catch-all Rule' chosen, no active rule kmsi manages" in n for n in plan.notes)


def test_without_a_rule_name_the_top_rule_kmsi_manages_is_chosen(org: Org) -> None:
    """After pre-auth KMSI created its app rule, post-auth changes that rule, not the catch-all."""
    org.sandbox.admin.set_org_settings({"preAuthKmsi": True})  # the Admin Console step
    made = pre_auth.plan(org.client, {"groups": ["KMSI Pilot"], "apps": {"labels": ["Slack"]}})
    apply_acknowledged(pre_auth, org.client, made, attestation=ATTESTATION)
    managed = post_auth.MANAGED_RULE_NAMES[0]
    assert managed == "KMSI pre-auth: once per session"
    policy_id = org.app_policy_id("Slack")
    plan = post_auth.plan(org.client, {"apps": {"labels": ["Slack"]}, "update_default_rule": False})
    assert [(c.ref.parent_id, c.ref.name) for c in plan.changes] == [(policy_id, managed)]
    assert any(f"{managed!r} chosen, the top-priority rule kmsi manages" in n for n in plan.notes)
    apply_acknowledged(post_auth, org.client, plan)
    assert org.rule(policy_id, managed)["actions"]["appSignOn"]["keepMeSignedIn"]["postAuth"] == (
        "ALLOWED"
    )
    assert (
        org.rule(policy_id, "Catch-all Rule")["actions"]["appSignOn"]["keepMeSignedIn"]["postAuth"]
        == "NOT_ALLOWED"
    )
    # naming the rule still wins, and then no choice is noted
    named_params = {"apps": {"labels": ["Slack"]}, "update_default_rule": False}
    named = post_auth.plan(org.client, {**named_params, "rule_name": "Catch-all Rule"})
    assert [c.ref.name for c in named.changes] == ["Catch-all Rule"]
    assert not any("chosen" in n for n in named.notes)


def _gsp(org: Org) -> str:
    """Id of the default global session policy (its Default Rule is also planned)."""
    state = org.sandbox.admin.snapshot()
    return next(
        pid for pid, p in state["policies"].items() if p["type"] == "OKTA_SIGN_ON" and p["system"]
    )


def test_a_plan_says_first_when_a_shared_policy_reaches_apps_not_named(org: Org) -> None:
    """Salesforce.com uses the org's default authentication policy, shared by 16 apps: the
    plan's first lines give the reach and name the 15 others before any field diff."""
    plan = post_auth.plan(org.client, {"apps": {"labels": ["Salesforce.com"]}})
    reach, warning = plan.warnings
    assert "on 16 of the org" in reach and "acknowledge_reach: 16" in reach
    assert "'Any two factors' is shared" in warning and "reaches 15 app(s)" in warning
    assert "Slack" in warning and "Salesforce.com" not in warning
    assert plan.to_text().splitlines()[1:3] == [f"ATTENTION: {reach}", f"ATTENTION: {warning}"]
    assert org.api_writes() == []


def test_no_reach_warning_when_the_policy_is_named_or_not_shared(org: Org) -> None:
    by_policy = post_auth.plan(org.client, {"apps": {"policies": ["Any two factors"]}})
    assert by_policy.warnings == [], "naming the policy names every app that uses it"
    alone = post_auth.plan(org.client, {"apps": {"labels": ["Okta Admin Console"]}})
    assert alone.warnings == []
