"""The KMSI posture audit: pure finding rules over literal dicts, then the sandbox."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from procedure_support import sandbox_writes

from kmsi_lib.engine import parse_params, witness
from kmsi_lib.errors import ParameterError
from kmsi_lib.okta.auth import SSWSAuth
from kmsi_lib.okta.client import OktaClient
from kmsi_lib.procedures import audit
from kmsi_lib.sandbox import SANDBOX_URL, Sandbox


def _access_rule(**overrides: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": "rul1",
        "name": "KMSI rule",
        "priority": 0,
        "status": "ACTIVE",
        "type": "ACCESS_POLICY",
        "actions": {
            "appSignOn": {
                "access": "ALLOW",
                "verificationMethod": {
                    "type": "ASSURANCE",
                    "factorMode": "2FA",
                    "reauthenticateIn": "PT12H",
                },
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
        else:
            rule[key] = value
    return rule


def _app_policy(rules: list[dict[str, Any]], apps: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": "rstP",
        "name": "Shared policy",
        "status": "ACTIVE",
        "apps": apps,
        "rules": [audit.summarize_access_rule(r) for r in rules],
    }


ADMIN = {"id": "0oaAdmin", "label": "Okta Admin Console", "name": "saasure"}
SLACK = {"id": "0oaSlack", "label": "Slack", "name": "slack"}


def _codes(findings: list[audit.Finding]) -> list[str]:
    return [f.code for f in findings]


def _risks(
    app_policies: list[dict[str, Any]],
    sign_on: list[dict[str, Any]] | None = None,
    *,
    sensitive: tuple[str, ...] = ("0oaAdmin",),
    pre_auth: bool | None = False,
) -> list[audit.Finding]:
    return audit.find_risks(
        sign_on_policies=sign_on or [],
        app_policies=app_policies,
        sensitive_app_ids=sensitive,
        max_prompt_frequency="P30D",
        pre_auth_setting=pre_auth,
    )


def test_kmsi_allowed_on_the_admin_console_policy_is_a_high_finding() -> None:
    findings = _risks([_app_policy([_access_rule()], [ADMIN, SLACK])])
    assert _codes(findings) == ["kmsi-admin-console"]
    assert findings[0].severity == "high"
    assert findings[0].object_id == "rul1" and findings[0].parent_id == "rstP"


def test_kmsi_not_allowed_or_rule_inactive_is_not_a_finding() -> None:
    not_allowed = _access_rule(postAuth="NOT_ALLOWED")
    inactive = _access_rule(id="rul2", status="INACTIVE")
    assert _risks([_app_policy([not_allowed, inactive], [ADMIN])]) == []


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
    findings = _risks([_app_policy([_access_rule(postAuthPromptFrequency=frequency)], [SLACK])])
    assert ("prompt-frequency-long" in _codes(findings)) is flagged


def test_allowed_without_frequency_uses_okta_default_of_30_days() -> None:
    rule = _access_rule()
    del rule["actions"]["appSignOn"]["keepMeSignedIn"]["postAuthPromptFrequency"]
    summary = audit.summarize_access_rule(rule)
    assert summary["postAuthPromptFrequency"] == "P30D"
    assert _risks([_app_policy([rule], [SLACK])]) == []


def test_unreadable_frequency_is_reported_not_crashed_on() -> None:
    findings = _risks([_app_policy([_access_rule(postAuthPromptFrequency="7 days")], [SLACK])])
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
    findings = _risks([_app_policy([rule], [SLACK])], sensitive=sensitive)
    assert ("reauth-once-per-session-sensitive" in _codes(findings)) is flagged


def _sign_on_policy(**signon: Any) -> dict[str, Any]:
    session = {
        "maxSessionIdleMinutes": 120,
        "maxSessionLifetimeMinutes": 0,
        "usePersistentCookie": signon.pop("usePersistentCookie", False),
    }
    rule = {
        "id": "0prR",
        "name": "MFA lifetime",
        "status": "ACTIVE",
        "actions": {"signon": {"access": "ALLOW", **signon, "session": session}},
    }
    return {
        "id": "00pP",
        "name": "KMSI pre-auth",
        "status": "ACTIVE",
        "rules": [audit.summarize_sign_on_rule(rule)],
    }


def test_persistent_cookie_on_a_global_session_rule_is_a_finding() -> None:
    findings = _risks([], [_sign_on_policy(usePersistentCookie=True)])
    assert _codes(findings) == ["persistent-cookie"]
    assert findings[0].kind == "sign_on_rule" and findings[0].parent_id == "00pP"


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
    findings = _risks(
        [_app_policy([_access_rule()], [SLACK])], [_sign_on_policy(**signon)], pre_auth=pre_auth
    )
    assert ("pre-and-post-auth" in _codes(findings)) is flagged


def test_findings_are_sorted_high_first() -> None:
    rule = _access_rule(postAuthPromptFrequency="P90D", reauthenticateIn="PT43800H")
    findings = _risks([_app_policy([rule], [ADMIN])], [_sign_on_policy(usePersistentCookie=True)])
    assert [f.severity for f in findings] == ["high", "high", "medium", "medium"]


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
    assert [(f.code, f.object_name) for f in report.findings] == []
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
    assert found == {
        ("kmsi-admin-console", catch_all["id"]),
        ("reauth-once-per-session-sensitive", catch_all["id"]),
        ("prompt-frequency-long", catch_all["id"]),
        ("persistent-cookie", default_rule["id"]),
        ("pre-and-post-auth", report.findings[-1].object_id),
    }
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
