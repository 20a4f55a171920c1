"""The KMSI posture audit: pure finding rules over literal dicts, then the sandbox."""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Any

import pytest
from procedure_support import sandbox_writes
from rule_support import two_factors

from kmsi_lib.engine import parse_params, witness
from kmsi_lib.errors import ParameterError
from kmsi_lib.okta.auth import SSWSAuth
from kmsi_lib.okta.client import OktaClient
from kmsi_lib.procedures import audit, audit_reach
from kmsi_lib.sandbox import SANDBOX_URL, Sandbox

PILOT = "00gPilot"
GROUPS = [
    {"id": PILOT, "type": "OKTA_GROUP", "profile": {"name": "KMSI Pilot"}},
    {"id": "00gAdmins", "type": "OKTA_GROUP", "profile": {"name": "IT Admins"}},
    {"id": "00gEveryone", "type": "BUILT_IN", "profile": {"name": "Everyone"}},
]


def _access_rule(**overrides: Any) -> dict[str, Any]:
    """An app sign-in rule allowing post-auth KMSI weekly, for the KMSI Pilot group."""
    rule: dict[str, Any] = {
        "id": "rul1",
        "name": "KMSI rule",
        "priority": 0,
        "status": "ACTIVE",
        "type": "ACCESS_POLICY",
        "conditions": {"people": {"groups": {"include": [PILOT]}}},
        "actions": {
            "appSignOn": {
                "access": "ALLOW",
                "verificationMethod": two_factors("PT12H"),
                "keepMeSignedIn": {"postAuth": "ALLOWED", "postAuthPromptFrequency": "PT168H"},
            }
        },
    }
    sign_on = rule["actions"]["appSignOn"]
    for key, value in overrides.items():
        if key in ("postAuth", "postAuthPromptFrequency"):
            sign_on["keepMeSignedIn"][key] = value
        elif key in ("reauthenticateIn", "factorMode"):
            sign_on["verificationMethod"][key] = value
        elif key == "access":
            sign_on["access"] = value
        elif key == "people":
            rule["conditions"]["people"] = value
        else:
            rule[key] = value
    return rule


def _app(app_id: str, label: str, name: str, policy: str = "rstP") -> dict[str, Any]:
    href = f"https://acme.okta.example/api/v1/policies/{policy}"
    return {"id": app_id, "label": label, "name": name, "_links": {"accessPolicy": {"href": href}}}


ADMIN = _app("0oaAdmin", "Okta Admin Console", "saasure")
SLACK = _app("0oaSlack", "Slack", "slack")
ACCESS_POLICY = {"id": "rstP", "name": "Shared policy", "status": "ACTIVE", "type": "ACCESS_POLICY"}


def _codes(findings: list[audit.Finding]) -> list[str]:
    return [f.code for f in findings]


def _risks(
    rules: list[dict[str, Any]],
    apps: list[dict[str, Any]],
    sign_on: list[dict[str, Any]] | None = None,
    *,
    sensitive: tuple[str, ...] = ("0oaAdmin",),
    pre_auth: bool | None = False,
    policy: dict[str, Any] | None = None,
    admin_groups: tuple[str, ...] = ("*admin*",),
    **thresholds: Any,
) -> list[audit.Finding]:
    """The findings for one authentication policy (``rules``, ``apps``) and global session
    policies ``sign_on`` (each with its ``rules`` inline)."""
    access = dict(policy or ACCESS_POLICY)
    gsps = [{k: v for k, v in p.items() if k != "rules"} for p in sign_on or []]
    rules_by_policy = {access["id"]: rules, **{p["id"]: p["rules"] for p in sign_on or []}}
    reach = audit.org_reach(
        [access, *gsps], rules_by_policy, apps, groups=GROUPS, admin_groups=admin_groups
    )
    limits = audit.Thresholds(sensitive_app_ids=frozenset(sensitive), **thresholds)
    return audit.find_risks(reach, limits, pre_auth_setting=pre_auth)


def test_kmsi_allowed_on_the_admin_console_policy_is_a_high_finding() -> None:
    findings = _risks([_access_rule()], [ADMIN, SLACK])
    assert _codes(findings) == ["kmsi-admin-console"]
    finding = findings[0]
    assert finding.severity == "high"
    assert finding.object_id == "rul1" and finding.parent_id == "rstP"
    assert finding.policy_name == "Shared policy" and finding.object_name == "KMSI rule"
    assert finding.apps == ("Okta Admin Console", "Slack")
    assert finding.cohorts == ("KMSI Pilot",) and finding.cohort_ids == (PILOT,)


def test_kmsi_not_allowed_or_rule_inactive_is_not_a_finding() -> None:
    not_allowed = _access_rule(postAuth="NOT_ALLOWED")
    inactive = _access_rule(id="rul2", status="INACTIVE")
    assert _risks([not_allowed, inactive], [ADMIN]) == []


@pytest.mark.parametrize(
    ("frequency", "flagged"),
    [
        pytest.param("PT720H", False, id="30-days-in-hours-is-the-limit"),
        pytest.param("P30D", False, id="30-days"),
        pytest.param("PT721H", True, id="one-hour-over"),
        pytest.param("P5W", True, id="five-weeks"),
        pytest.param("P1M", False, id="one-month-may-be-30-days-so-not-certainly-longer"),
        pytest.param("P2M", True, id="two-months"),
    ],
)
def test_prompt_frequency_above_the_limit_is_compared_by_meaning(
    frequency: str, flagged: bool
) -> None:
    findings = _risks([_access_rule(postAuthPromptFrequency=frequency)], [SLACK])
    assert ("prompt-frequency-long" in _codes(findings)) is flagged


def test_allowed_without_frequency_uses_okta_default_of_30_days() -> None:
    rule = _access_rule()
    del rule["actions"]["appSignOn"]["keepMeSignedIn"]["postAuthPromptFrequency"]
    summary = audit.summarize_access_rule(rule)
    assert summary["postAuthPromptFrequency"] == "P30D"
    assert _risks([rule], [SLACK]) == []


def test_unreadable_frequency_is_reported_not_crashed_on() -> None:
    findings = _risks([_access_rule(postAuthPromptFrequency="7 days")], [SLACK])
    assert _codes(findings) == ["prompt-frequency-unreadable"]


@pytest.mark.parametrize(
    ("reauth", "sensitive", "flagged"),
    [
        pytest.param("PT43800H", ("0oaSlack",), True, id="once-per-session-on-sensitive"),
        pytest.param("P1825D", ("0oaSlack",), True, id="same-span-in-days"),
        pytest.param("PT12H", ("0oaSlack",), False, id="twelve-hours"),
        pytest.param("PT43800H", (), False, id="app-not-sensitive"),
    ],
)
def test_reauthenticate_once_per_session_on_sensitive_apps(
    reauth: str, sensitive: tuple[str, ...], flagged: bool
) -> None:
    rule = _access_rule(postAuth="NOT_ALLOWED", reauthenticateIn=reauth)
    findings = _risks([rule], [SLACK], sensitive=sensitive)
    assert ("reauth-once-per-session-sensitive" in _codes(findings)) is flagged


@pytest.mark.parametrize(
    ("reauth", "threshold", "flagged"),
    [
        pytest.param("PT43800H", "PT43800H", True, id="once-per-session-at-the-default"),
        pytest.param("PT12H", "PT43800H", False, id="twelve-hours-under-the-default"),
        pytest.param("P7D", "PT168H", True, id="seven-days-at-a-weekly-threshold"),
        pytest.param("PT167H", "P7D", False, id="one-hour-under"),
    ],
)
def test_reauthentication_at_or_beyond_the_threshold_is_a_low_finding(
    reauth: str, threshold: str, flagged: bool
) -> None:
    rule = _access_rule(postAuth="NOT_ALLOWED", reauthenticateIn=reauth)
    findings = _risks([rule], [SLACK], reauthenticate_in_threshold=threshold)
    assert _codes(findings) == (["reauth-long"] if flagged else [])
    assert all(f.severity == "low" and f.apps == ("Slack",) for f in findings)


def _sign_on_policy(
    policy_id: str = "00pP", *, people: dict[str, Any] | None = None, **signon: Any
) -> dict[str, Any]:
    session = {
        "maxSessionIdleMinutes": 120,
        "maxSessionLifetimeMinutes": 0,
        "usePersistentCookie": signon.pop("usePersistentCookie", False),
    }
    rule = {
        "id": f"0pr{policy_id}",
        "name": "MFA lifetime",
        "status": "ACTIVE",
        "priority": 1,
        "actions": {"signon": {"access": "ALLOW", **signon, "session": session}},
    }
    return {
        "id": policy_id,
        "name": f"KMSI pre-auth {policy_id}",
        "type": "OKTA_SIGN_ON",
        "status": "ACTIVE",
        "priority": 1,
        "conditions": {"people": people} if people else None,
        "rules": [rule],
    }


def test_persistent_cookie_on_a_global_session_rule_is_a_finding() -> None:
    findings = _risks([], [], [_sign_on_policy(usePersistentCookie=True)])
    assert _codes(findings) == ["persistent-cookie"]
    assert findings[0].kind == "sign_on_rule" and findings[0].parent_id == "00pP"
    assert findings[0].cohorts == ("everyone else",)
    assert findings[0].apps == (audit_reach.EVERY_APP,)


@pytest.mark.parametrize(
    ("lifetime", "limit", "flagged"),
    [
        pytest.param(721, 720, True, id="one-minute-over-12-hours"),
        pytest.param(720, 720, False, id="12-hours"),
        pytest.param(200, 120, True, id="lower-limit"),
    ],
)
def test_mfa_lifetime_beyond_the_threshold_is_a_low_finding(
    lifetime: int, limit: int, flagged: bool
) -> None:
    gsp = _sign_on_policy(requireFactor=True, factorPromptMode="SESSION", factorLifetime=lifetime)
    findings = _risks([], [], [gsp], max_mfa_lifetime_minutes=limit)
    assert _codes(findings) == (["mfa-lifetime-long"] if flagged else [])
    assert all(f.severity == "low" for f in findings)


@pytest.mark.parametrize(
    ("pre_auth", "signon", "flagged"),
    [
        pytest.param(True, {}, True, id="toggle-on"),
        pytest.param(
            False,
            {"requireFactor": True, "factorPromptMode": "SESSION"},
            False,
            id="toggle-read-off",
        ),
        pytest.param(
            None,
            {"requireFactor": True, "factorPromptMode": "SESSION"},
            True,
            id="toggle-unknown-mfa-lifetime-rule",
        ),
        pytest.param(
            None,
            {"requireFactor": True, "factorPromptMode": "ALWAYS"},
            False,
            id="toggle-unknown-mfa-every-time",
        ),
    ],
)
def test_pre_and_post_auth_both_on(
    pre_auth: bool | None, signon: dict[str, Any], flagged: bool
) -> None:
    findings = _risks([_access_rule()], [SLACK], [_sign_on_policy(**signon)], pre_auth=pre_auth)
    assert ("pre-and-post-auth" in _codes(findings)) is flagged


def test_findings_are_sorted_high_first() -> None:
    rule = _access_rule(postAuthPromptFrequency="P90D", reauthenticateIn="PT43800H")
    findings = _risks([rule], [ADMIN], [_sign_on_policy(usePersistentCookie=True)])
    assert [f.severity for f in findings] == ["high", "high", "medium", "medium"]


# --------------------------------------------------------------------------- reach (pure)


def test_kmsi_for_an_administrator_group_is_a_high_finding_naming_it() -> None:
    rule = _access_rule(people={"groups": {"include": ["00gAdmins"]}})
    findings = _risks([rule], [SLACK])
    assert [(f.code, f.severity, f.cohorts) for f in findings] == [
        ("kmsi-admin-groups", "high", ("IT Admins",))
    ]
    assert "IT Admins" in findings[0].message


def test_administrator_groups_are_those_the_patterns_name() -> None:
    """With patterns that match no group name, KMSI for "IT Admins" is a pilot like any other."""
    rule = _access_rule(people={"groups": {"include": ["00gAdmins"]}})
    assert _risks([rule], [SLACK], admin_groups=("*root*",)) == []
    assert _codes(_risks([rule], [SLACK], admin_groups=("00gadmins",))) == ["kmsi-admin-groups"]


@pytest.mark.parametrize(
    ("people", "system"),
    [
        pytest.param({}, False, id="everyone-on-a-custom-policy"),
        pytest.param({"groups": {"include": ["00gEveryone"]}}, False, id="the-everyone-group"),
        pytest.param({"groups": {"include": [PILOT]}}, True, id="a-group-on-the-default-policy"),
    ],
)
def test_kmsi_for_everyone_or_on_the_default_policy_is_medium(
    people: dict[str, Any], system: bool
) -> None:
    rule = _access_rule(people=people)
    policy = {**ACCESS_POLICY, "system": system}
    findings = _risks([rule], [SLACK, _app("0oaZoom", "Zoom", "zoom")], policy=policy)
    assert [(f.code, f.severity) for f in findings] == [("kmsi-everyone", "medium")]
    assert findings[0].apps == ("Slack", "Zoom")


def _rule_for(rule_id: str, priority: int, people: dict[str, Any], **conditions: Any) -> Any:
    rule = _access_rule(id=rule_id, name=f"rule {rule_id}", priority=priority, people=people)
    rule["conditions"].update(conditions)
    rule["actions"]["appSignOn"]["keepMeSignedIn"] = {"postAuth": "NOT_ALLOWED"}
    return rule


ZONE = {"network": {"connection": "ZONE", "include": ["nzoOffice"]}}


@pytest.mark.parametrize(
    ("first", "first_conditions", "later", "shadowed"),
    [
        pytest.param({}, {}, {"groups": {"include": [PILOT]}}, True, id="after-a-rule-for-all"),
        pytest.param(
            {"groups": {"include": ["00gEveryone"]}},
            {},
            {"users": {"include": ["00uAnn"]}},
            True,
            id="after-the-everyone-group",
        ),
        pytest.param(
            {"groups": {"include": [PILOT, "00gAdmins"]}},
            {},
            {"groups": {"include": [PILOT]}},
            True,
            id="same-group-named-first",
        ),
        pytest.param(
            {"groups": {"include": [PILOT]}},
            {},
            {"groups": {"include": [PILOT, "00gAdmins"]}},
            False,
            id="names-more-than-the-first",
        ),
        pytest.param({}, ZONE, {"groups": {"include": [PILOT]}}, False, id="first-needs-a-zone"),
        pytest.param(
            {"groups": {"exclude": ["00gAdmins"]}},
            {},
            {"groups": {"include": [PILOT]}},
            False,
            id="first-excludes-some-of-them",
        ),
        pytest.param(
            {"groups": {"exclude": ["00gAdmins"]}},
            {},
            {"groups": {"include": [PILOT], "exclude": ["00gAdmins"]}},
            True,
            id="both-exclude-the-same",
        ),
    ],
)
def test_a_rule_caught_first_by_an_earlier_decided_rule_never_applies(
    first: dict[str, Any], first_conditions: dict[str, Any], later: dict[str, Any], shadowed: bool
) -> None:
    rules = [_rule_for("rulA", 0, first, **first_conditions), _rule_for("rulB", 1, later)]
    findings = [f for f in _risks(rules, [SLACK]) if f.code == "rule-never-applies"]
    assert [(f.object_id, f.severity) for f in findings] == ([("rulB", "low")] if shadowed else [])
    if shadowed:
        assert "'rule rulA'" in findings[0].message and findings[0].apps == ("Slack",)


def test_the_system_catch_all_is_never_reported_as_shadowed() -> None:
    catch_all = {**_rule_for("rulCatch", 99, {}), "system": True, "name": "Catch-all Rule"}
    assert _risks([_rule_for("rulA", 0, {}), catch_all], [SLACK]) == []


@pytest.mark.parametrize(
    ("resource_type", "flagged"),
    [
        pytest.param("APP", True, id="app-policy-without-apps"),
        pytest.param(None, True, id="no-resource-type"),
        pytest.param("END_USER_ACCOUNT_MANAGEMENT", False, id="account-management-policy"),
    ],
)
def test_rules_of_a_policy_no_app_uses_never_apply(
    resource_type: str | None, flagged: bool
) -> None:
    policy = {**ACCESS_POLICY, "resourceType": resource_type}
    findings = _risks([_access_rule()], [], policy=policy)
    assert _codes(findings) == (["rule-never-applies"] if flagged else [])
    if flagged:
        assert "no app is assigned" in findings[0].message


def test_a_global_session_policy_after_one_catching_everyone_is_never_evaluated() -> None:
    first = _sign_on_policy("00pFirst")
    later = _sign_on_policy(
        "00pLater", people={"groups": {"include": [PILOT]}}, usePersistentCookie=True
    )
    later["priority"] = 2
    findings = _risks([], [], [first, later])
    assert [(f.code, f.parent_id) for f in findings] == [("rule-never-applies", "00pLater")]
    assert "'KMSI pre-auth 00pFirst'" in findings[0].message


def test_a_rule_that_depends_on_a_network_zone_is_an_info_finding() -> None:
    rule = _rule_for("rulZone", 0, {"groups": {"include": [PILOT]}}, **ZONE)
    findings = _risks([rule], [SLACK])
    assert [(f.code, f.severity, f.cohorts) for f in findings] == [
        ("depends-on-conditions", "info", ("KMSI Pilot",))
    ]
    assert "network zone" in findings[0].message


# --------------------------------------------------------------------------- the table


def test_findings_rows_have_the_stable_columns_and_the_csv_reads_back() -> None:
    findings = _risks([_access_rule(postAuthPromptFrequency="P90D")], [ADMIN, SLACK])
    rows = audit.finding_rows(findings)
    assert audit.FINDING_COLUMNS == (
        "severity",
        "finding",
        "policy",
        "rule",
        "apps",
        "cohorts",
        "ids",
        "detail",
    )
    assert rows[0] == {
        "severity": "high",
        "finding": "kmsi-admin-console",
        "policy": "Shared policy",
        "rule": "KMSI rule",
        "apps": "Okta Admin Console; Slack",
        "cohorts": "KMSI Pilot",
        "ids": "rule rul1; policy rstP; apps 0oaAdmin 0oaSlack; cohorts 00gPilot",
        "detail": findings[0].message,
    }
    parsed = list(csv.DictReader(io.StringIO(audit.findings_csv(findings))))
    assert parsed == rows and len(parsed) == 2


def test_no_findings_reads_as_a_header_only_csv() -> None:
    assert audit.findings_csv([]) == ",".join(audit.FINDING_COLUMNS) + "\n"
    assert audit.finding_rows([]) == []


@pytest.mark.parametrize(
    ("data", "field"),
    [
        pytest.param(
            {"max_prompt_frequency": "30 days"}, "max_prompt_frequency", id="bad-duration"
        ),
        pytest.param({"max_workers": 0}, "max_workers", id="workers-zero"),
        pytest.param({"sensitive": ["x"]}, "sensitive", id="unknown-parameter"),
    ],
)
def test_invalid_parameters_name_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ParameterError) as err:
        parse_params(audit.Params, data)
    assert err.value.field == field


# --------------------------------------------------------------------------- against the sandbox


def _policy_named(state: dict[str, Any], name: str) -> str:
    return next(
        p["id"]
        for p in state["policies"].values()
        if p["name"] == name and p["type"] == "ACCESS_POLICY"
    )


def _rule_named(state: dict[str, Any], policy_id: str, name: str) -> dict[str, Any]:
    return next(r for r in state["rules"][policy_id].values() if r["name"] == name)


def test_fresh_default_org_report_and_no_writes(sandbox: Sandbox, okta: OktaClient) -> None:
    report = audit.run(okta, {})
    assert sandbox_writes(sandbox) == []
    # The seed's KMSI pilot re-authenticates only once per session (PT43800H): the one finding.
    assert [(f.severity, f.code, f.object_name, f.cohorts) for f in report.findings] == [
        ("low", "reauth-long", "KMSI pilot: stay signed in", ("KMSI Pilot",))
    ]
    assert report.pre_auth_setting is False
    gsp = [p["name"] for p in report.sign_on_policies]
    assert gsp[-1] == "Default Policy", "ordered by priority, the default last"
    by_name = {p["name"]: p for p in report.app_policies}
    assert [a["label"] for a in by_name["Okta Admin Console"]["apps"]] == ["Okta Admin Console"]
    pilot = next(r for r in by_name["Okta Dashboard"]["rules"] if r["name"].startswith("KMSI"))
    assert (pilot["postAuth"], pilot["postAuthPromptFrequency"]) == ("ALLOWED", "PT168H")
    brands = {b["name"]: b for b in report.brands}
    assert brands["Acme Corp"]["page"] == "default"
    assert brands["Acme Corp"]["prompt"]["title"] == "Keep me signed in"
    assert brands["Acme Partners"]["prompt"]["title"] == "Stay signed in to Acme Partners?"
    data = json.loads(json.dumps(report.to_dict()))
    assert audit.AuditReport.from_dict(data).to_dict() == data
    assert "Findings: 0 high, 0 medium" in report.to_text()
    assert audit.verify(okta, {}).ok


def test_risky_org_findings_name_each_object(sandbox: Sandbox, okta: OktaClient) -> None:
    state = sandbox.admin.snapshot()
    admin_policy = _policy_named(state, "Okta Admin Console")
    catch_all = _rule_named(state, admin_policy, "Catch-all Rule")
    sign_on = catch_all["actions"]["appSignOn"]
    sign_on["keepMeSignedIn"] = {"postAuth": "ALLOWED", "postAuthPromptFrequency": "P90D"}
    sign_on["verificationMethod"]["reauthenticateIn"] = "PT43800H"
    default_gsp = next(
        p["id"]
        for p in state["policies"].values()
        if p["name"] == "Default Policy" and p["type"] == "OKTA_SIGN_ON"
    )
    default_rule = _rule_named(state, default_gsp, "Default Rule")
    default_rule["actions"]["signon"]["session"]["usePersistentCookie"] = True
    sandbox.admin.load(state)
    sandbox.admin.org_settings = {"preAuthKmsi": True}

    report = audit.run(okta, {})
    found = {(f.code, f.object_id) for f in report.findings}
    pilot = _rule_named(state, _policy_named(state, "Okta Dashboard"), "KMSI pilot: stay signed in")
    both = next(f for f in report.findings if f.code == "pre-and-post-auth")
    assert found == {
        ("kmsi-admin-console", catch_all["id"]),
        ("reauth-once-per-session-sensitive", catch_all["id"]),
        ("prompt-frequency-long", catch_all["id"]),
        ("persistent-cookie", default_rule["id"]),
        ("pre-and-post-auth", both.object_id),
        ("reauth-long", pilot["id"]),
    }
    assert both.object_id in {catch_all["id"], pilot["id"]}
    assert [f.severity for f in report.findings][:2] == ["high", "high"]
    html = report._repr_html_()
    assert "kmsi-admin-console" in html and "<script" not in html
    check = audit.verify(okta, {})
    assert not check.ok
    assert {c.name for c in check.checks if not c.ok} >= {"no high KMSI findings"}


def test_names_are_escaped_in_html(sandbox: Sandbox, okta: OktaClient) -> None:
    sandbox.admin.add_app("<script>alert(1)</script>")
    html = audit.run(okta, {})._repr_html_()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_unknown_sensitive_app_is_a_note(sandbox: Sandbox, okta: OktaClient) -> None:
    report = audit.run(okta, {"sensitive_apps": ["Okta Admin Console", "Payroll"]})
    assert "sensitive app 'Payroll' is not in this org; not checked" in report.notes


def test_apply_refuses(okta: OktaClient) -> None:
    with pytest.raises(ParameterError) as err:
        audit.apply(okta, None)
    assert err.value.field == "mode"


@pytest.mark.slow
def test_large_org_reads_each_policy_once() -> None:
    """1,000 apps sharing a few policies: one rules read per distinct policy, in seconds."""
    sb = Sandbox(seed="large")
    with OktaClient(SANDBOX_URL, SSWSAuth(sb.token), transport=sb.transport()) as okta:
        started = time.monotonic()
        report = audit.run(okta, {"include_brands": False})
        took = time.monotonic() - started
    apps = sum(len(p["apps"]) for p in report.app_policies)
    assert apps >= 990
    rule_reads = [r["path"] for r in sb.admin.requests() if r["path"].endswith("/rules")]
    assert len(rule_reads) == len(set(rule_reads))
    assert took < 30, f"audit of the large org took {took:.1f} s"


def test_over_loopback(sandbox: Sandbox) -> None:
    with (
        sandbox.serve(port=0) as url,
        OktaClient(url, SSWSAuth(sandbox.token)) as okta,
        witness.installed(witness.HttpSandboxWitness(url)),
    ):
        report = audit.run(okta, {})
    assert report.pre_auth_setting is False
    assert report.org_url.startswith("http://127.0.0.1")
    assert sandbox_writes(sandbox) == []


def test_classic_org_is_said_to_have_no_kmsi() -> None:
    sb = Sandbox(seed="classic")
    with OktaClient(SANDBOX_URL, SSWSAuth(sb.token), transport=sb.transport()) as okta:
        report = audit.run(okta, {"include_brands": False})
    assert any("Classic Engine" in n for n in report.notes)


def test_app_linked_to_a_missing_policy_is_listed_not_fatal(
    sandbox: Sandbox, okta: OktaClient
) -> None:
    state = sandbox.admin.snapshot()
    slack = next(a["id"] for a in state["apps"].values() if a["label"] == "Slack")
    state["app_policy"][slack]["policyId"] = "rstGone0000000000000"
    sandbox.admin.load(state)
    report = audit.run(okta, {"include_brands": False})
    assert any("Slack" in n and "no readable authentication policy" in n for n in report.notes)
    assert all(p["id"] != "rstGone0000000000000" for p in report.app_policies)
