"""The audit's rules: summaries of rules as read, and the findings derived from them.

Pure functions over literal dicts (what :mod:`kmsi_lib.procedures.audit`
reads), so that each rule is tested without an org. The audit procedure
re-exports these names; this module is not a procedure of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from kmsi_lib import durations
from kmsi_lib.engine import get_path
from kmsi_lib.procedures.pre_auth import ONCE_PER_SESSION

__all__ = [
    "ADMIN_CONSOLE_LABEL",
    "SEVERITY_ORDER",
    "Finding",
    "Severity",
    "find_risks",
    "summarize_access_rule",
    "summarize_sign_on_rule",
]

#: Label Okta gives the Admin Console app in every org (its app ``name`` is ``saasure``).
ADMIN_CONSOLE_LABEL = "Okta Admin Console"
_ADMIN_CONSOLE_APP_NAME = "saasure"

#: ``reauthenticateIn`` that means "only when there is no Okta session" (TF docs).
_ONCE_PER_SESSION = durations.parse(ONCE_PER_SESSION)

Severity = Literal["high", "medium", "low", "info"]
SEVERITY_ORDER: dict[str, int] = {"high": 0, "medium": 1, "low": 2, "info": 3}


@dataclass(frozen=True)
class Finding:
    """One risk the auditor should look at, tied to the object that carries it."""

    severity: Severity
    code: str
    kind: str
    object_id: str
    object_name: str
    message: str
    parent_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "code": self.code,
            "kind": self.kind,
            "object_id": self.object_id,
            "object_name": self.object_name,
            "parent_id": self.parent_id,
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        return cls(
            severity=data["severity"],
            code=data["code"],
            kind=data["kind"],
            object_id=data["object_id"],
            object_name=data["object_name"],
            message=data["message"],
            parent_id=data.get("parent_id"),
        )


# --------------------------------------------------------------------------- pure summaries


def summarize_sign_on_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """The KMSI-relevant fields of a global session policy (``SIGN_ON``) rule."""
    signon = get_path(rule, "actions.signon") or {}
    session = signon.get("session") or {}
    return {
        "id": rule.get("id"),
        "name": rule.get("name"),
        "priority": rule.get("priority"),
        "status": rule.get("status"),
        "system": bool(rule.get("system")),
        "access": signon.get("access"),
        "requireFactor": signon.get("requireFactor"),
        "factorPromptMode": signon.get("factorPromptMode"),
        "factorLifetime": signon.get("factorLifetime"),
        "primaryFactor": signon.get("primaryFactor"),
        "maxSessionIdleMinutes": session.get("maxSessionIdleMinutes"),
        "maxSessionLifetimeMinutes": session.get("maxSessionLifetimeMinutes"),
        "usePersistentCookie": session.get("usePersistentCookie"),
    }


def summarize_access_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """The KMSI-relevant fields of an app sign-in policy (``ACCESS_POLICY``) rule."""
    sign_on = get_path(rule, "actions.appSignOn") or {}
    kmsi = sign_on.get("keepMeSignedIn") or {}
    method = sign_on.get("verificationMethod") or {}
    post_auth = kmsi.get("postAuth") or "NOT_ALLOWED"
    return {
        "id": rule.get("id"),
        "name": rule.get("name"),
        "priority": rule.get("priority"),
        "status": rule.get("status"),
        "system": bool(rule.get("system")),
        "access": sign_on.get("access"),
        "postAuth": post_auth,
        # Okta's default frequency when KMSI is allowed and none is set (spec: P30D).
        "postAuthPromptFrequency": (
            (kmsi.get("postAuthPromptFrequency") or "P30D") if post_auth == "ALLOWED" else None
        ),
        "verificationType": method.get("type"),
        "factorMode": method.get("factorMode"),
        "reauthenticateIn": method.get("reauthenticateIn"),
    }


def _active(item: Mapping[str, Any]) -> bool:
    # Rules and policies without a status are treated as active (Okta always sends one).
    return bool(item.get("status", "ACTIVE") == "ACTIVE")


def _is_admin_console(app: Mapping[str, Any]) -> bool:
    return bool(
        app.get("name") == _ADMIN_CONSOLE_APP_NAME or app.get("label") == ADMIN_CONSOLE_LABEL
    )


def _longer(text: str | None, limit: durations.Duration) -> bool | None:
    """True/False when ``text`` is a valid duration longer/not longer; None when unparseable."""
    if text is None or not durations.is_valid(text):
        return None
    return durations.parse(text).longer_than(limit)


def _at_least(text: str | None, limit: durations.Duration) -> bool:
    if text is None or not durations.is_valid(text):
        return False
    return bool(durations.parse(text).min_seconds() >= limit.min_seconds())


def find_risks(
    *,
    sign_on_policies: Sequence[Mapping[str, Any]],
    app_policies: Sequence[Mapping[str, Any]],
    sensitive_app_ids: Iterable[str],
    max_prompt_frequency: str,
    pre_auth_setting: bool | None,
) -> list[Finding]:
    """Derive the findings from the report's summaries (pure; literal dicts in tests).

    ``sign_on_policies``: ``{"id", "name", "status", "rules": [summarize_sign_on_rule…]}``.
    ``app_policies``: ``{"id", "name", "status", "apps": [{"id", "label", "name"}…],
    "rules": [summarize_access_rule…]}``. ``pre_auth_setting`` is the org's
    pre-authentication toggle, or None when it cannot be read (real Okta).
    Inactive policies and rules never produce findings.
    """
    limit = durations.parse(max_prompt_frequency)
    sensitive = set(sensitive_app_ids)
    findings: list[Finding] = []

    mfa_lifetime_rules: list[tuple[Mapping[str, Any], Mapping[str, Any]]] = []
    for policy in sign_on_policies:
        if not _active(policy):
            continue
        for rule in policy.get("rules", []):
            if not _active(rule):
                continue
            if rule.get("usePersistentCookie") is True:
                findings.append(
                    Finding(
                        "medium",
                        "persistent-cookie",
                        "sign_on_rule",
                        str(rule.get("id")),
                        str(rule.get("name")),
                        "Persistent session cookies are on: an Okta session survives closing"
                        " the browser, so KMSI-like behaviour applies to every user this"
                        f" rule matches (policy {policy.get('name')!r}).",
                        parent_id=policy.get("id"),
                    )
                )
            if rule.get("requireFactor") is True and rule.get("factorPromptMode") == "SESSION":
                mfa_lifetime_rules.append((policy, rule))

    post_auth_rules: list[tuple[Mapping[str, Any], Mapping[str, Any]]] = []
    for policy in app_policies:
        if not _active(policy):
            continue
        apps = list(policy.get("apps", []))
        admin_console = [a for a in apps if _is_admin_console(a)]
        sensitive_here = [a for a in apps if a.get("id") in sensitive]
        for rule in policy.get("rules", []):
            if not _active(rule):
                continue
            ref = ("access_policy_rule", str(rule.get("id")), str(rule.get("name")))
            allowed = rule.get("postAuth") == "ALLOWED" and rule.get("access") != "DENY"
            if allowed:
                post_auth_rules.append((policy, rule))
            if allowed and admin_console:
                findings.append(
                    Finding(
                        "high",
                        "kmsi-admin-console",
                        *ref,
                        "Post-authentication KMSI is allowed in the sign-in policy of the"
                        f" Okta Admin Console (policy {policy.get('name')!r}): administrators"
                        " can skip MFA on remembered devices.",
                        parent_id=policy.get("id"),
                    )
                )
            frequency = rule.get("postAuthPromptFrequency")
            longer = _longer(frequency, limit) if allowed else False
            if longer:
                findings.append(
                    Finding(
                        "medium",
                        "prompt-frequency-long",
                        *ref,
                        f"The KMSI prompt is shown only every {frequency}"
                        f" ({durations.parse(str(frequency)).describe()}), longer than"
                        f" {max_prompt_frequency} (policy {policy.get('name')!r}).",
                        parent_id=policy.get("id"),
                    )
                )
            elif longer is None:
                findings.append(
                    Finding(
                        "low",
                        "prompt-frequency-unreadable",
                        *ref,
                        f"postAuthPromptFrequency {frequency!r} is not an ISO-8601 duration.",
                        parent_id=policy.get("id"),
                    )
                )
            if (
                sensitive_here
                and rule.get("access") != "DENY"
                and _at_least(rule.get("reauthenticateIn"), _ONCE_PER_SESSION)
            ):
                labels = ", ".join(sorted(str(a.get("label")) for a in sensitive_here))
                findings.append(
                    Finding(
                        "high",
                        "reauth-once-per-session-sensitive",
                        *ref,
                        f"Sensitive app(s) {labels} re-authenticate only when no Okta session"
                        f" exists (reauthenticateIn {rule.get('reauthenticateIn')}), so a"
                        " long or kept session gives access without a new sign-in.",
                        parent_id=policy.get("id"),
                    )
                )

    pre_auth_on = pre_auth_setting is True or (
        pre_auth_setting is None and bool(mfa_lifetime_rules)
    )
    if pre_auth_on and post_auth_rules:
        how = (
            "the org setting shows the option before sign-in"
            if pre_auth_setting
            else "the org setting cannot be read through the API, but a global session rule"
            " re-prompts for MFA only after the MFA lifetime"
        )
        policy, rule = post_auth_rules[0]
        findings.append(
            Finding(
                "medium",
                "pre-and-post-auth",
                "access_policy_rule",
                str(rule.get("id")),
                str(rule.get("name")),
                f"Pre-authentication KMSI appears on ({how}) and post-authentication KMSI is"
                f" allowed in {len(post_auth_rules)} rule(s): users may be offered to stay"
                " signed in twice; pick one model.",
                parent_id=policy.get("id"),
            )
        )

    findings.sort(key=lambda f: (SEVERITY_ORDER[f.severity], f.code, f.object_name))
    return findings
