"""The impact section of write plans, and the acknowledgement of a wide reach, on the sandbox."""

from __future__ import annotations

from typing import Any

import pytest
from procedure_support import Org, make_org
from rule_support import two_factors

from kmsi_lib.engine import ACKNOWLEDGE_FIELD, Plan, PlanImpact
from kmsi_lib.engine.labels import field_label, value_words
from kmsi_lib.errors import ParameterError, StalePlanError
from kmsi_lib.procedures import post_auth, pre_auth

SALESFORCE: dict[str, Any] = {"apps": {"labels": ["Salesforce.com"]}, "update_default_rule": False}
#: the 16 apps the seed assigns to its default authentication policy "Any two factors"
DEFAULT_POLICY_APPS = sorted(
    [
        "Acme Intranet", "Box", "Confluence", "DocuSign", "Dropbox Business", "Expense Portal",
        "Google Workspace", "Jira Software", "Legacy Timesheets", "Microsoft Office 365",
        "Salesforce.com", "ServiceNow", "Slack", "Tableau Cloud", "Zendesk", "Zoom",
    ]
)  # fmt: skip


@pytest.fixture
def org() -> Org:
    return make_org()


def _impact(plan: Plan) -> PlanImpact:
    assert plan.impact, "a write plan carries an impact section"
    return PlanImpact.from_dict(plan.impact)


def test_the_issue_scenario_names_all_16_apps_and_everyone_first(org: Org) -> None:
    plan = post_auth.plan(org.client, SALESFORCE)
    impact = _impact(plan)
    head = plan.warnings[0]
    assert "16 of the org's" in head and "15 app(s) that were not named" in head
    assert f"{ACKNOWLEDGE_FIELD}: 16" in head
    # the first line names every app the change reaches, and who
    assert all(app in head for app in DEFAULT_POLICY_APPS) and "everyone else (Everyone)" in head
    (policy,) = impact.policies
    assert policy.name == "Any two factors" and policy.kind == "authentication policy"
    assert sorted(a.label for a in policy.apps) == DEFAULT_POLICY_APPS
    assert [a.label for a in policy.apps if a.selected] == ["Salesforce.com"]
    assert [(r.name, r.covers, r.changed) for r in policy.rules] == [
        ("Catch-all Rule", "everyone", True)
    ]
    (cohort,) = impact.cohorts
    assert cohort.cohort.startswith("everyone else") and cohort.app_count == 16
    words = " ".join(cohort.changes)
    assert "PT12H: every 12 hours -> PT168H: every 7 days" in words
    assert "post-auth KMSI prompt not allowed -> allowed" in words
    assert impact.reach == 16 and len(impact.unnamed_apps) == 15
    text = plan.to_text().splitlines()
    assert text[1].startswith(
        "ATTENTION: this plan changes sign-in for everyone else (Everyone) on 16"
    )
    # the impact section comes before the field diff, and the diff reads in names
    body = plan.to_text()
    assert body.index("Impact on people") < body.index("1 change(s):")
    assert "in policy 'Any two factors'" in body
    assert "Re-authenticate after (actions.appSignOn.verificationMethod.reauthenticateIn)" in body
    html = plan._repr_html_()
    assert html.index('class="kmsi-impact"') < html.index('<th style="text-align:left">action')
    assert "Any two factors" in html


def test_apply_refuses_without_the_acknowledgement_and_writes_nothing(org: Org) -> None:
    plan = post_auth.plan(org.client, SALESFORCE)
    org.clear_logs()
    with pytest.raises(ParameterError) as caught:
        post_auth.apply(org.client, plan)
    assert caught.value.field == ACKNOWLEDGE_FIELD and "set it to 16" in str(caught.value)
    assert org.api_writes() == [] and org.wire.sent == []
    wrong = post_auth.plan(org.client, {**SALESFORCE, ACKNOWLEDGE_FIELD: 15})
    assert any("the apply will refuse it" in w for w in wrong.warnings)
    with pytest.raises(ParameterError, match="is 15"):
        post_auth.apply(org.client, wrong)
    assert org.api_writes() == []


def test_apply_with_the_acknowledgement_records_it(org: Org) -> None:
    plan = post_auth.plan(org.client, {**SALESFORCE, ACKNOWLEDGE_FIELD: 16})
    result = post_auth.apply(org.client, plan)
    assert result.outcome == "applied", result.to_text()
    assert any("acknowledged the plan's reach" in n for n in result.notes)
    assert "acknowledged the plan's reach" in str(result.to_dict())
    # at apply (the form's checkbox), the plan's own parameter aside
    other = make_org()
    plan = post_auth.plan(other.client, SALESFORCE)
    done = post_auth.apply(other.client, plan, acknowledge_reach=16)
    assert done.outcome == "applied"
    assert any("(at apply)" in n for n in done.notes)


def test_a_second_apply_needs_no_acknowledgement(org: Org) -> None:
    post_auth.apply(org.client, post_auth.plan(org.client, SALESFORCE), acknowledge_reach=16)
    again = post_auth.plan(org.client, SALESFORCE)
    assert again.is_empty and not _impact(again).wider_than_named
    assert post_auth.apply(org.client, again).outcome == "no-op"


def test_apply_refuses_when_the_reach_grew_after_the_plan(org: Org) -> None:
    plan = post_auth.plan(org.client, {**SALESFORCE, ACKNOWLEDGE_FIELD: 16})
    # someone moves Workday onto the default policy after the plan was approved
    apps = org.client.get_json("/api/v1/apps")
    workday = next(a for a in apps if a["label"] == "Workday")
    policy = org.app_policy_id("Salesforce.com")
    org.client.request("PUT", f"/api/v1/apps/{workday['id']}/policies/{policy}")
    org.clear_logs()
    with pytest.raises(StalePlanError, match="reach changed"):
        post_auth.apply(org.client, plan)
    assert org.api_writes() == []


def test_a_policy_named_whole_needs_no_acknowledgement(org: Org) -> None:
    params = {"apps": {"policies": ["High assurance apps"]}, "update_default_rule": False}
    plan = post_auth.plan(org.client, params)
    impact = _impact(plan)
    assert impact.reached_apps == ("AWS IAM Identity Center", "GitHub Enterprise Cloud", "Workday")
    assert not impact.wider_than_named and not plan.warnings
    assert post_auth.apply(org.client, plan).outcome == "applied"
    # one of the three by label: the other two are reached without being named
    other = make_org()
    one = post_auth.plan(
        other.client, {"apps": {"labels": ["Workday"]}, "update_default_rule": False}
    )
    assert _impact(one).unnamed_apps == ("AWS IAM Identity Center", "GitHub Enterprise Cloud")
    assert f"{ACKNOWLEDGE_FIELD}: 3" in one.warnings[0]


def test_a_change_nobody_reaches_says_so(org: Org) -> None:
    # Partner apps: a rule for everyone at priority 0 comes before the Catch-all Rule
    plan = post_auth.plan(
        org.client, {"apps": {"labels": ["Partner Portal"]}, "update_default_rule": False}
    )
    impact = _impact(plan)
    assert impact.cohorts == () and impact.reach == 0 and not impact.wider_than_named
    assert any("comes first and covers everyone" in w for w in impact.warnings)
    assert any("nobody's sign-in changes" in w for w in impact.warnings)


def test_a_higher_rule_that_catches_a_group_first_is_named(org: Org) -> None:
    policy = org.app_policy_id("Salesforce.com")
    admins = next(
        g for g in org.client.get_json("/api/v1/groups") if g["profile"]["name"] == "IT Admins"
    )
    org.client.request(
        "POST",
        f"/api/v1/policies/{policy}/rules",
        json={
            "name": "Admins: 2FA every 2 hours",
            "type": "ACCESS_POLICY",
            "priority": 1,
            "conditions": {"people": {"groups": {"include": [admins["id"]]}}},
            "actions": {
                "appSignOn": {
                    "access": "ALLOW",
                    "verificationMethod": two_factors("PT2H", constraints=[]),
                }
            },
        },
    )
    plan = post_auth.plan(org.client, SALESFORCE)
    impact = _impact(plan)
    assert any(
        "'Admins: 2FA every 2 hours' at priority 1 catches groups \"IT Admins\" first" in w
        for w in impact.warnings
    ), impact.warnings
    (policy_entry,) = impact.policies
    assert [r.name for r in policy_entry.rules] == ["Admins: 2FA every 2 hours", "Catch-all Rule"]
    assert policy_entry.rules[0].covers == 'groups "IT Admins"'
    # IT Admins keep their own rule: only everyone else's sign-in changes
    assert [c.cohort.split(" (")[0] for c in impact.cohorts] == ["everyone else"]


def test_pre_auth_names_the_people_beyond_the_named_groups(org: Org) -> None:
    params = {"groups": ["KMSI Pilot"], "apps": {"labels": ["Partner Portal"]}}
    plan = pre_auth.plan(org.client, params)
    impact = _impact(plan)
    kinds = [p.kind for p in impact.policies]
    assert kinds == ["global session policy", "authentication policy"]
    assert impact.policies[0].created and impact.policies[0].name == "KMSI pre-authentication"
    # the new global session policy is for the pilot group only: nobody else is reached,
    # and the pilot's app rule sits in Partner Portal's own policy
    assert impact.unnamed_people == () and impact.unnamed_apps == ()
    assert not impact.wider_than_named
    assert {c.cohort.split(" (")[0] for c in impact.cohorts} == {'group "KMSI Pilot"'}


def test_post_auth_default_rule_reaches_everyone_on_every_app(org: Org) -> None:
    policies = org.client.get_json("/api/v1/policies", params={"type": "OKTA_SIGN_ON"})
    default_policy = next(p for p in policies if p.get("system"))
    default = next(r for r in org.rules(default_policy["id"]) if r.get("system"))
    params = {"apps": {"labels": ["Partner Portal"]}, "max_session_idle_minutes": 60}
    plan = post_auth.plan(org.client, params)
    impact = _impact(plan)
    session = [c for c in impact.cohorts if c.apps == ("every app",)]
    assert session and session[0].cohort.startswith("everyone else")
    assert "120 minutes (2 hours) -> 60 minutes (1 hour)" in " ".join(session[0].changes)
    assert impact.reach == impact.total_apps and impact.wider_than_named
    assert default["name"] in {r.name for p in impact.policies for r in p.rules}


def test_labels_and_words() -> None:
    assert field_label("actions.appSignOn.verificationMethod.reauthenticateIn") == (
        "Re-authenticate after"
    )
    assert field_label("some.unknown.path") == "some.unknown.path"
    assert value_words("x", "PT43800H") == "PT43800H: 5 years, i.e. once per Okta session"
    assert value_words("x", "P7D") == "P7D: 7 days"
    assert value_words("actions.signon.factorLifetime", 200) == "200 (3 hours, 20 minutes)"
    assert value_words("actions.signon.session.maxSessionLifetimeMinutes", 0) == "0: no limit"
    assert value_words("x", None) == "(absent)"


def test_the_impact_round_trips_and_old_plans_keep_their_digest(org: Org) -> None:
    plan = post_auth.plan(org.client, SALESFORCE)
    again = Plan.from_dict(plan.to_dict())
    assert again.impact == plan.impact and again.digest == plan.digest
    bare = Plan(procedure="post_auth", params={}, org_url="https://x.okta.com")
    assert "impact" not in bare.to_dict()


def test_the_plan_shows_two_working_weeks_before_and_after(org: Org) -> None:
    plan = post_auth.plan(org.client, SALESFORCE)
    timeline = _impact(plan).timeline
    assert timeline["title"] == "everyone else (Everyone) on Salesforce.com"
    text = plan.to_text()
    # before: no prompt at all; after, a user who stays signed in meets MFA twice, not ten times
    assert "before, the user stays signed in: 10 sign-ins, 10 MFA prompts, 0 KMSI prompts" in text
    assert "after, the user stays signed in: 10 sign-ins, 2 MFA prompts, 2 KMSI prompts" in text
    page = plan._repr_html_()
    assert '<div class="kmsi-timeline">' in page and "data:image/svg+xml;base64," in page
    assert page.index("kmsi-timeline") < page.index('<th style="text-align:left">action')


def test_the_prompt_text_plan_shows_the_prompt_before_and_after() -> None:
    from kmsi_lib.procedures import prompt_text

    org = make_org()
    params = {"brands": "all", "title": "Stay signed in?", "reject_button_text": "No thanks"}
    plan = prompt_text.plan(org.client, params)
    text = plan.to_text()
    assert text.count("What users will see, brand") == len(plan.changes) == 2
    assert "Keep me signed in" in text and "Stay signed in?" in text
    assert "Stay-signed-in prompt: title" in text
    page = plan._repr_html_()
    assert page.count('data-version="after"') == 2 and 'data-changed="true"' in page
    assert page.index('data-version="after"') < page.index('<th style="text-align:left">action')


def test_the_before_evaluation_is_cross_checked_with_okta_s_simulation(org: Org) -> None:
    plan = post_auth.plan(org.client, SALESFORCE)
    check = _impact(plan).crosscheck
    assert check["available"] and check["sampled"] >= 1 and check["agreed"] == check["sampled"]
    assert "cross-check: Okta's policy simulation agrees" in plan.to_text()
    simulated = [s for s in org.wire.sent if s.path.endswith("/policies/simulate")]
    assert len(simulated) == check["sampled"]


def test_an_org_without_the_simulation_api_is_said_so_and_still_planned() -> None:
    import httpx

    from kmsi_lib.okta.auth import SSWSAuth
    from kmsi_lib.okta.client import OktaClient
    from kmsi_lib.sandbox import SANDBOX_URL, Sandbox

    sandbox = Sandbox(seed="default")
    inner = sandbox.transport()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/policies/simulate"):
            body = {"errorCode": "E0000007", "errorSummary": "Not found: Resource not found"}
            return httpx.Response(404, json=body)
        return inner.handle_request(request)

    client = OktaClient(
        SANDBOX_URL, SSWSAuth(sandbox.token), transport=httpx.MockTransport(handler)
    )
    plan = post_auth.plan(client, SALESFORCE)
    check = _impact(plan).crosscheck
    assert check["available"] is False and "404" in check["reason"]
    assert "not available on this org" in plan.to_text()
    assert _impact(plan).reach == 16
