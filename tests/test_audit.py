"""The KMSI posture audit: pure finding rules over literal dicts, then the sandbox."""

from __future__ import annotations

from typing import Any

import pytest

from kmsi_lib.procedures import audit


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
        pytest.param(False, {"requireFactor": True, "factorPromptMode": "SESSION"}, False,
                     id="toggle-read-off"),
        pytest.param(None, {"requireFactor": True, "factorPromptMode": "SESSION"}, True,
                     id="toggle-unknown-mfa-lifetime-rule"),
        pytest.param(None, {"requireFactor": True, "factorPromptMode": "ALWAYS"}, False,
                     id="toggle-unknown-mfa-every-time"),
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
