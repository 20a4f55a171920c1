"""Pre-authentication KMSI against the sandbox org: plan, apply, verify, rollback, drift."""

from __future__ import annotations

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

from kmsi_lib.engine import witness
from kmsi_lib.errors import ClassicEngineError, ParameterError, StalePlanError
from kmsi_lib.procedures import pre_auth, rollback

PARAMS: dict[str, Any] = {
    "groups": ["KMSI Pilot"],
    "factor_lifetime_minutes": 200,
    "max_session_idle_minutes": 120,
    "apps": {"labels": ["Slack", "Workday"]},
}
SIGNON = "actions.signon"
METHOD = "actions.appSignOn.verificationMethod"


@pytest.fixture
def org() -> Org:
    """The sandbox org with the Admin Console step done (the pre-auth toggle on): against
    the sandbox an apply refuses while it is off (pinned in its own test)."""
    made = make_org()
    made.sandbox.admin.set_org_settings({"preAuthKmsi": True})
    return made


def _group_id(org: Org, name: str) -> str:
    groups = org.client.get_json("/api/v1/groups", params={"search": f'profile.name eq "{name}"'})
    return str(groups[0]["id"])


def test_plan_on_a_fresh_org(org: Org) -> None:
    plan = pre_auth.plan(org.client, PARAMS)
    actions = [(c.action, c.ref.kind, c.ref.name) for c in plan.changes]
    assert actions == [
        ("create", "policy", "KMSI pre-authentication"),
        ("create", "rule", "KMSI MFA lifetime"),
        ("create", "rule", "KMSI pre-auth: once per session"),
        ("create", "rule", "KMSI pre-auth: once per session"),
    ]
    policy, sign_on, *_ = plan.changes
    assert policy.after is not None and sign_on.after is not None
    assert policy.after["conditions"]["people"]["groups"]["include"] == [
        _group_id(org, "KMSI Pilot")
    ]
    assert policy.after["priority"] == 1
    assert sign_on.ref.parent_id == "$created:0", "the rule goes into the policy created first"
    signon = sign_on.after["actions"]["signon"]
    assert signon["factorPromptMode"] == "SESSION"
    assert signon["factorLifetime"] == 200
    assert signon["requireFactor"] is True
    assert signon["session"]["usePersistentCookie"] is False
    assert [s.title for s in plan.manual_steps] == [pre_auth.ORG_SETTING_STEP.title]
    assert "Security > General" in plan.to_text()
    assert org.api_writes() == []


def test_the_same_groups_in_another_order_plan_nothing(org: Org) -> None:
    """Group lists are compared as sets, for the session policy and the app rules alike."""
    groups = {**PARAMS, "groups": ["KMSI Pilot", "Engineering"]}
    apply_acknowledged(
        pre_auth, org.client, pre_auth.plan(org.client, groups), attestation=ATTESTATION
    )
    again = pre_auth.plan(org.client, {**groups, "groups": ["Engineering", "KMSI Pilot"]})
    assert again.changes == []


def test_apply_needs_an_attestation(org: Org) -> None:
    plan = pre_auth.plan(org.client, PARAMS)
    with pytest.raises(ParameterError) as info:
        apply_acknowledged(pre_auth, org.client, plan)
    assert info.value.field == "attestation"
    assert org.api_writes() == []


def test_sandbox_apply_refuses_while_the_toggle_is_off() -> None:
    """Against the sandbox, an attestation for the Admin Console step is not enough while the
    sandbox shows the toggle still off: the apply refuses before writing and says where to
    click; once it is switched on, the same plan applies."""
    org = make_org()
    plan = pre_auth.plan(org.client, PARAMS)
    console = "http://sandbox.okta.test/_sandbox/console/security/general"
    assert console in plan.manual_steps[0].instructions[0]
    org.clear_logs()
    with pytest.raises(ParameterError) as info:
        apply_acknowledged(pre_auth, org.client, plan, attestation=ATTESTATION)
    assert info.value.field == "attestation"
    assert "still shows" in info.value.message and console in info.value.message
    assert org.api_writes() == []
    org.sandbox.admin.set_org_settings({"preAuthKmsi": True})
    result = apply_acknowledged(pre_auth, org.client, plan, attestation=ATTESTATION)
    assert result.outcome == "applied" and result.verification.ok


def test_without_a_witness_the_attestation_stands(org: Org) -> None:
    """A real org cannot show the toggle: with no witness the apply goes ahead on the
    attestation alone (the verification notes the setting was not checked)."""
    org.sandbox.admin.set_org_settings({"preAuthKmsi": False})
    witness.install(None)
    plan = pre_auth.plan(org.client, PARAMS)
    assert not any("_sandbox" in line for line in plan.manual_steps[0].instructions)
    result = apply_acknowledged(pre_auth, org.client, plan, attestation=ATTESTATION)
    assert result.outcome == "applied" and pre_auth.ORG_SETTING_NOTE in result.verification.notes


def test_apply_verify_order_and_second_apply_writes_nothing(org: Org) -> None:
    result = apply_acknowledged(
        pre_auth, org.client, pre_auth.plan(org.client, PARAMS), attestation=ATTESTATION
    )
    assert result.outcome == "applied"
    assert result.attestation is not None and result.attestation.by == ATTESTATION["by"]
    assert result.verification.ok, "every API change and the sandbox toggle verified"

    policies = org.client.get_json("/api/v1/policies", params={"type": "OKTA_SIGN_ON"})
    order = [p["name"] for p in sorted(policies, key=lambda p: p["priority"])]
    assert order[0] == "KMSI pre-authentication"
    assert order[-1] == "Default Policy"
    workday_policy = org.app_policy_id("Workday")
    ours = org.rule(workday_policy, "KMSI pre-auth: once per session")
    assert ours["priority"] == 0
    assert ours["actions"]["appSignOn"]["verificationMethod"]["reauthenticateIn"] == "PT43800H"
    assert ours["conditions"]["people"]["groups"]["include"] == [_group_id(org, "KMSI Pilot")]

    assert pre_auth.verify(org.client, PARAMS).ok

    org.clear_logs()
    again = pre_auth.plan(org.client, PARAMS)
    assert again.is_empty
    assert (
        apply_acknowledged(pre_auth, org.client, again, attestation=ATTESTATION).outcome == "no-op"
    )
    assert org.api_writes() == []


def test_rollback_restores_the_org_exactly_including_shifted_priorities(org: Org) -> None:
    """Our rule at priority 0 pushes the seeded rule down; rollback puts it back at 0."""
    workday_policy = org.app_policy_id("Workday")
    seeded = {r["name"]: r["priority"] for r in org.rules(workday_policy)}
    before = comparable_snapshot(org.sandbox)
    result = apply_acknowledged(
        pre_auth, org.client, pre_auth.plan(org.client, PARAMS), attestation=ATTESTATION
    )
    shifted = {r["name"]: r["priority"] for r in org.rules(workday_policy)}
    assert (
        shifted["Engineering: phishing-resistant"] == seeded["Engineering: phishing-resistant"] + 1
    )

    saved = json.loads(json.dumps(result.to_dict()))
    undo = rollback.plan(org.client, {"apply_result": saved})
    kinds = [(c.action, c.ref.kind) for c in undo.changes]
    assert kinds.count(("delete", "rule")) == 3 and kinds.count(("delete", "policy")) == 1
    assert ("update", "rule") in kinds, "the shifted sibling rule is moved back"
    rollback.apply(org.client, undo)
    assert comparable_snapshot(org.sandbox) == before
    assert rollback.verify(org.client, {"apply_result": saved}).ok


def test_existing_policy_is_adopted_by_name_and_only_changed_fields_are_written(org: Org) -> None:
    apply_acknowledged(
        pre_auth, org.client, pre_auth.plan(org.client, PARAMS), attestation=ATTESTATION
    )
    plan = pre_auth.plan(org.client, {**PARAMS, "factor_lifetime_minutes": 60})
    (change,) = plan.changes
    assert change.action == "update" and change.ref.name == "KMSI MFA lifetime"
    assert [(d.path, d.before, d.after) for d in change.diffs] == [
        (f"{SIGNON}.factorLifetime", 200, 60)
    ]


def test_drift_a_policy_with_the_same_name_appears(org: Org) -> None:
    plan = pre_auth.plan(org.client, PARAMS)
    org.client.request(
        "POST",
        "/api/v1/policies",
        json={"type": "OKTA_SIGN_ON", "name": "KMSI pre-authentication", "status": "ACTIVE"},
    )
    org.clear_logs()
    with pytest.raises(StalePlanError, match="OKTA_SIGN_ON policies"):
        apply_acknowledged(pre_auth, org.client, plan, attestation=ATTESTATION)
    assert org.api_writes() == []


def test_unowned_rule_fields_survive_apply_and_rollback(org: Org) -> None:
    """Fields set by someone else on an adopted app rule stay through apply and rollback."""
    apply_acknowledged(
        pre_auth, org.client, pre_auth.plan(org.client, PARAMS), attestation=ATTESTATION
    )
    policy_id = org.app_policy_id("Slack")
    rule = org.rule(policy_id, "KMSI pre-auth: once per session")
    rule["actions"]["appSignOn"]["verificationMethod"]["factorMode"] = "1FA"  # drift we own
    rule["actions"]["appSignOn"]["verificationMethod"]["inactivityPeriod"] = "PT1H"  # not ours
    rule["conditions"]["network"] = {"connection": "ANYWHERE"}
    rule["actions"]["appSignOn"]["keepMeSignedIn"] = {
        "postAuth": "ALLOWED",
        "postAuthPromptFrequency": "PT50H",
    }
    org.replace_rule(policy_id, rule)
    before = comparable_snapshot(org.sandbox)

    result = apply_acknowledged(
        pre_auth, org.client, pre_auth.plan(org.client, PARAMS), attestation=ATTESTATION
    )
    (change,) = result.plan.changes
    assert [d.path for d in change.diffs] == [f"{METHOD}.factorMode"]
    now = org.rule(policy_id, "KMSI pre-auth: once per session")["actions"]["appSignOn"]
    assert now["verificationMethod"]["inactivityPeriod"] == "PT1H"
    assert now["keepMeSignedIn"]["postAuthPromptFrequency"] == "PT50H"

    rollback.apply(org.client, rollback.plan(org.client, {"apply_result": result.to_dict()}))
    assert comparable_snapshot(org.sandbox) == before


def test_future_fields_survive_apply_and_rollback(org: Org) -> None:
    """Fields no version of the library knows, set out of band on the adopted global session
    rule and app rule, are in every PUT body and still in the org after the apply and after
    the rollback. The sandbox plays a newer Okta release that knows them (``future_fields``)."""
    org.sandbox.admin.set_future_fields(
        {
            "SIGN_ON rule": ["actions.signon.futureSession"],
            "ACCESS_POLICY rule": ["actions.appSignOn.futureSetting"],
        }
    )
    apply_acknowledged(
        pre_auth, org.client, pre_auth.plan(org.client, PARAMS), attestation=ATTESTATION
    )
    gsp_id = org.policy("OKTA_SIGN_ON", "KMSI pre-authentication")["id"]
    signon = org.rule(gsp_id, "KMSI MFA lifetime")
    signon["actions"]["signon"]["factorLifetime"] = 100  # drift we own
    signon["actions"]["signon"]["futureSession"] = {"mode": "newer"}  # not ours, not known
    org.replace_rule(gsp_id, signon)
    app_policy_id = org.app_policy_id("Slack")
    app_rule = org.rule(app_policy_id, "KMSI pre-auth: once per session")
    app_rule["actions"]["appSignOn"]["verificationMethod"]["factorMode"] = "1FA"  # drift we own
    app_rule["actions"]["appSignOn"]["futureSetting"] = 7
    org.replace_rule(app_policy_id, app_rule)
    signon_path = f"/api/v1/policies/{gsp_id}/rules/{signon['id']}"
    app_path = f"/api/v1/policies/{app_policy_id}/rules/{app_rule['id']}"

    def assert_sent_and_kept() -> None:
        puts = {s.path: s.body for s in org.wire.writes() if s.method == "PUT"}
        assert puts[signon_path]["actions"]["signon"]["futureSession"] == {"mode": "newer"}
        assert puts[app_path]["actions"]["appSignOn"]["futureSetting"] == 7
        with org.sandbox.client() as direct:
            in_org_signon = direct.get(signon_path).json()
            in_org_app = direct.get(app_path).json()
        assert in_org_signon["actions"]["signon"]["futureSession"] == {"mode": "newer"}
        assert in_org_app["actions"]["appSignOn"]["futureSetting"] == 7

    org.clear_logs()
    result = apply_acknowledged(
        pre_auth, org.client, pre_auth.plan(org.client, PARAMS), attestation=ATTESTATION
    )
    assert_sent_and_kept()
    assert org.rule(gsp_id, "KMSI MFA lifetime")["actions"]["signon"]["factorLifetime"] == 200

    org.clear_logs()
    rollback.apply(org.client, rollback.plan(org.client, {"apply_result": result.to_dict()}))
    assert_sent_and_kept()
    assert org.rule(gsp_id, "KMSI MFA lifetime")["actions"]["signon"]["factorLifetime"] == 100


def test_ambiguous_create_is_adopted_not_duplicated(org: Org) -> None:
    """The policy POST takes effect but the answer is lost: apply finds it by name."""
    plan = pre_auth.plan(org.client, PARAMS)
    org.sandbox.admin.add_fault(
        {
            "action": "drop",
            "when": "after",
            "count": 1,
            "match": {"method": "POST", "path": "/api/v1/policies"},
        }
    )
    result = apply_acknowledged(pre_auth, org.client, plan, attestation=ATTESTATION)
    assert result.outcome == "applied"
    policies = org.client.get_json("/api/v1/policies", params={"type": "OKTA_SIGN_ON"})
    assert [p["name"] for p in policies].count("KMSI pre-authentication") == 1
    posts = [
        e for e in org.api_writes() if e["method"] == "POST" and e["path"] == "/api/v1/policies"
    ]
    assert len(posts) == 1


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        pytest.param(
            {**PARAMS, "groups": ["KMSI Pilots"]},
            "groups[0]",
            "no group named exactly 'KMSI Pilots'",
            id="unknown-group",
        ),
        pytest.param({**PARAMS, "groups": []}, "groups", "at least 1 item", id="no-group"),
        pytest.param(
            {**PARAMS, "factor_lifetime_minutes": "200"},
            "factor_lifetime_minutes",
            "must be a whole number of minutes (got '200')",
            id="string-lifetime",
        ),
        pytest.param(
            {**PARAMS, "factor_lifetime_minutes": 0},
            "factor_lifetime_minutes",
            "must be 1 or more",
            id="zero-lifetime",
        ),
        pytest.param(
            {**PARAMS, "app_rule_priority": 99},
            "app_rule_priority",
            "must be 98 or less (got 99)",
            id="priority-of-the-catch-all",
        ),
        pytest.param(
            {**PARAMS, "policy_priority": 30},
            "policy_priority",
            "so that the policy sits above the Default Policy",
            id="priority-below-the-default-policy",
        ),
        pytest.param(
            {**PARAMS, "apps": {"labels": ["Slack", "Wokday"]}},
            "apps.labels[1]",
            "did you mean 'Workday'?",
            id="unknown-app",
        ),
        pytest.param(
            {**PARAMS, "apps": {"ids": []}}, "apps", "choose at least one app", id="no-apps"
        ),
        pytest.param(
            {**PARAMS, "policy_name": "Default Policy"},
            "policy_name",
            "Okta's default policy",
            id="default-policy-name",
        ),
        pytest.param({**PARAMS, "colour": "red"}, "colour", "is not a parameter", id="unknown"),
    ],
)
def test_invalid_parameters_fail_before_any_write(
    org: Org, params: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ParameterError) as info:
        pre_auth.plan(org.client, params)
    assert info.value.field == field
    assert message in info.value.message
    assert org.api_writes() == []


def test_classic_engine_org_is_refused() -> None:
    org = make_org("classic")
    with pytest.raises(ClassicEngineError):
        pre_auth.plan(org.client, PARAMS)
    assert org.api_writes() == []


def test_over_loopback_http_with_the_org_setting_checked() -> None:
    with loopback_org() as org:
        org.sandbox.admin.set_org_settings({"preAuthKmsi": True})
        result = apply_acknowledged(
            pre_auth, org.client, pre_auth.plan(org.client, PARAMS), attestation=ATTESTATION
        )
        assert result.verification.ok, result.verification.to_text()
        assert any(c.name.startswith("org setting") for c in result.verification.checks)
        assert pre_auth.plan(org.client, PARAMS).is_empty


def test_policy_priority_range_and_placement_among_custom_policies(org: Org) -> None:
    """Priorities 1..N+1 are allowed (N other custom policies); the policy lands there."""
    org.client.request(
        "POST",
        "/api/v1/policies",
        json={"type": "OKTA_SIGN_ON", "name": "Other session policy", "status": "ACTIVE"},
    )
    policies = org.client.get_json("/api/v1/policies", params={"type": "OKTA_SIGN_ON"})
    custom = sum(not p["system"] for p in policies)
    with pytest.raises(ParameterError, match=f"between 1 and {custom + 1}"):
        pre_auth.plan(org.client, {**PARAMS, "policy_priority": custom + 2})
    params = {**PARAMS, "policy_priority": custom + 1}
    result = apply_acknowledged(
        pre_auth, org.client, pre_auth.plan(org.client, params), attestation=ATTESTATION
    )
    assert all(c.ok for c in result.verification.checks if "priority" in c.name)
    ordered = sorted(
        org.client.get_json("/api/v1/policies", params={"type": "OKTA_SIGN_ON"}),
        key=lambda p: p["priority"],
    )
    assert [p["name"] for p in ordered][-2:] == ["KMSI pre-authentication", "Default Policy"]
    assert pre_auth.plan(org.client, params).is_empty


def test_org_setting_is_not_checked_on_a_real_org_and_verification_says_so() -> None:
    """Only the sandbox exposes the toggle; elsewhere verification notes it was not checked."""
    from procedure_support import WireRecorder

    from kmsi_lib.okta.auth import SSWSAuth
    from kmsi_lib.okta.client import OktaClient
    from kmsi_lib.sandbox import Sandbox

    sandbox = Sandbox(seed="default")
    wire = WireRecorder(sandbox.transport())
    client = OktaClient("https://acme.okta.com", SSWSAuth(sandbox.token), transport=wire)
    result = apply_acknowledged(
        pre_auth, client, pre_auth.plan(client, PARAMS), attestation=ATTESTATION
    )
    assert result.verification.ok
    assert not any(c.name == pre_auth.ORG_SETTING_CHECK for c in result.verification.checks)
    assert result.verification.notes == [pre_auth.ORG_SETTING_NOTE]
    assert "no public API" in result.to_text()
    assert pre_auth.verify(client, PARAMS).notes == [pre_auth.ORG_SETTING_NOTE]
    assert wire.sent and not any(s.path.startswith("/_sandbox") for s in wire.sent)


def test_rollback_puts_several_shifted_rules_back_in_order(org: Org) -> None:
    """The Dashboard policy has rules at 0 and 1; both move down and both come back."""
    params = {**PARAMS, "apps": {"labels": ["Okta Dashboard"]}}
    policy_id = org.app_policy_id("Okta Dashboard")
    seeded = {r["name"]: r["priority"] for r in org.rules(policy_id) if not r["system"]}
    assert sorted(seeded.values())[:2] == [0, 1]
    before = comparable_snapshot(org.sandbox)
    result = apply_acknowledged(
        pre_auth, org.client, pre_auth.plan(org.client, params), attestation=ATTESTATION
    )
    moved = {r["name"]: r["priority"] for r in org.rules(policy_id)}
    assert all(moved[name] == priority + 1 for name, priority in seeded.items())
    order = next(r for r in result.before_state if r.action == "reorder")
    assert order.ref.parent_id == policy_id
    undo = rollback.plan(org.client, {"apply_result": result.to_dict()})
    assert sum(c.action == "update" for c in undo.changes) == len(seeded)
    rollback.apply(org.client, undo)
    assert comparable_snapshot(org.sandbox) == before


def test_second_apply_with_the_setting_verifiably_on_asks_no_attestation(org: Org) -> None:
    """Nothing to write and the sandbox shows the toggle on: no manual step, nothing to attest."""
    apply_acknowledged(
        pre_auth, org.client, pre_auth.plan(org.client, PARAMS), attestation=ATTESTATION
    )
    again = pre_auth.plan(org.client, PARAMS)
    assert again.is_empty and again.manual_steps == []
    assert pre_auth.ORG_SETTING_ON_NOTE in again.notes
    org.clear_logs()
    result = apply_acknowledged(pre_auth, org.client, again)
    assert result.outcome == "no-op" and result.attestation is None
    setting = [c for c in result.verification.checks if c.name == pre_auth.ORG_SETTING_CHECK]
    assert [c.ok for c in setting] == [True], "the apply read the setting again"
    assert org.api_writes() == []


def test_second_apply_with_the_setting_unverified_takes_the_earlier_attestation(org: Org) -> None:
    """The toggle cannot be shown on (here: no witness, as on a real org): the step stays and
    needs an attestation; the earlier apply's attestation, given again, is recorded with its
    original time."""
    apply_acknowledged(
        pre_auth, org.client, pre_auth.plan(org.client, PARAMS), attestation=ATTESTATION
    )
    witness.install(None)
    again = pre_auth.plan(org.client, PARAMS)
    assert again.is_empty and [s.title for s in again.manual_steps] == [
        pre_auth.ORG_SETTING_STEP.title
    ]
    assert "earlier apply" in again.manual_steps[0].instructions[-1]
    with pytest.raises(ParameterError) as info:
        apply_acknowledged(pre_auth, org.client, again)
    assert info.value.field == "attestation"
    result = apply_acknowledged(pre_auth, org.client, again, attestation=ATTESTATION)
    assert result.outcome == "no-op"
    assert result.attestation is not None and result.attestation.at == ATTESTATION["at"]


def test_a_real_org_keeps_the_manual_step_on_a_second_plan() -> None:
    from procedure_support import WireRecorder

    from kmsi_lib.okta.auth import SSWSAuth
    from kmsi_lib.okta.client import OktaClient
    from kmsi_lib.sandbox import Sandbox

    sandbox = Sandbox(seed="default")
    sandbox.admin.set_org_settings({"preAuthKmsi": True})  # on, but a real org cannot show it
    wire = WireRecorder(sandbox.transport())
    client = OktaClient("https://acme.okta.com", SSWSAuth(sandbox.token), transport=wire)
    apply_acknowledged(pre_auth, client, pre_auth.plan(client, PARAMS), attestation=ATTESTATION)
    again = pre_auth.plan(client, PARAMS)
    assert again.is_empty and again.manual_steps == [pre_auth.ORG_SETTING_STEP]
    assert not any(s.path.startswith("/_sandbox") for s in wire.sent)
