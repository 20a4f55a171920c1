"""The audit's rules: summaries of rules as read, and the findings derived from them.

Pure functions over literal dicts (what :mod:`kmsi_lib.procedures.audit`
reads), so that each rule is tested without an org. Who a rule reaches comes
from the policy evaluator, through :mod:`kmsi_lib.procedures.audit_reach`. The
audit procedure re-exports these names; this module is not a procedure of its own.

Every finding names its policy, its rule, the apps the rule serves and the
cohorts it reaches, by name (ids in :attr:`Finding.ids`). The findings and
their severities:

========================================  ========  =========================================
code                                      severity  when
========================================  ========  =========================================
``kmsi-admin-console``                    high      post-auth KMSI allowed by a rule of a policy
                                                    serving the Okta Admin Console
``kmsi-admin-groups``                     high      post-auth KMSI allowed by a rule reaching an
                                                    administrator group (see ``admin_groups``)
``reauth-once-per-session-sensitive``     high      a sensitive app re-authenticates only once per
                                                    Okta session (``PT43800H`` or longer)
``kmsi-everyone``                         medium    post-auth KMSI allowed on the default
                                                    authentication policy, or for everyone else
``persistent-cookie``                     medium    a global session rule that applies keeps the
                                                    session in a persistent cookie
``prompt-frequency-long``                 medium    the KMSI prompt returns less often than
                                                    ``max_prompt_frequency``
``pre-and-post-auth``                     medium    pre- and post-authentication KMSI both on
``mfa-lifetime-long``                     low       an MFA answer is remembered longer than
                                                    ``max_mfa_lifetime_minutes``
``reauth-long``                           low       re-authentication for an app at or beyond
                                                    ``reauthenticate_in_threshold``
``prompt-frequency-unreadable``           low       a prompt frequency that is not a duration
``rule-never-applies``                    low       a rule shadowed by an earlier one, or in a
                                                    policy never evaluated
``depends-on-conditions``                 info      a rule whose effect depends on conditions
                                                    only a sign-in request decides
========================================  ========  =========================================

Only one KMSI-reach finding is given per rule, the most severe of the first
four that fit. A rule that never applies gets only ``rule-never-applies``;
the setting findings are given for the rules some cohort reaches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from kmsi_lib import durations
from kmsi_lib.engine.evaluate import EVERYONE_ELSE
from kmsi_lib.engine.outcome import duration_words
from kmsi_lib.jsontypes import JsonMap, JsonObject, arr, dig, obj, text
from kmsi_lib.procedures.audit_reach import (
    ADMIN_CONSOLE_LABEL,
    EVERY_APP,
    NeverApplies,
    OrgReach,
    RuleReach,
    is_admin_console,
)
from kmsi_lib.procedures.pre_auth import ONCE_PER_SESSION

__all__ = [
    "ADMIN_CONSOLE_LABEL",
    "FINDING_CODES",
    "SEVERITY_ORDER",
    "Finding",
    "Severity",
    "Thresholds",
    "find_risks",
    "summarize_access_rule",
    "summarize_sign_on_rule",
]

#: ``reauthenticateIn`` that means "only when there is no Okta session" (TF docs).
_ONCE_PER_SESSION = durations.parse(ONCE_PER_SESSION)

Severity = Literal["high", "medium", "low", "info"]
SEVERITY_ORDER: dict[str, int] = {"high": 0, "medium": 1, "low": 2, "info": 3}
_SEVERITIES: tuple[Severity, ...] = ("high", "medium", "low", "info")

#: Every finding code with its severity (the table in the module docstring).
FINDING_CODES: dict[str, Severity] = {
    "kmsi-admin-console": "high",
    "kmsi-admin-groups": "high",
    "reauth-once-per-session-sensitive": "high",
    "kmsi-everyone": "medium",
    "persistent-cookie": "medium",
    "prompt-frequency-long": "medium",
    "pre-and-post-auth": "medium",
    "mfa-lifetime-long": "low",
    "reauth-long": "low",
    "prompt-frequency-unreadable": "low",
    "rule-never-applies": "low",
    "depends-on-conditions": "info",
}


@dataclass(frozen=True)
class Finding:
    """One risk the auditor should look at, tied to the object that carries it.

    ``object_id``/``object_name`` are the rule (``kind`` says which sort),
    ``parent_id``/``policy_name`` its policy; ``apps`` and ``cohorts`` name
    what the rule serves and whom it reaches, ``app_ids`` and ``cohort_ids``
    the same by id, in the same order.
    """

    severity: Severity
    code: str
    kind: str
    object_id: str
    object_name: str
    message: str
    parent_id: str | None = None
    policy_name: str = ""
    apps: tuple[str, ...] = ()
    app_ids: tuple[str, ...] = ()
    cohorts: tuple[str, ...] = ()
    cohort_ids: tuple[str, ...] = ()

    @property
    def ids(self) -> str:
        """The ids behind the names, in one line: rule, policy, apps, cohorts."""
        parts = [f"rule {self.object_id}"]
        if self.parent_id:
            parts.append(f"policy {self.parent_id}")
        if self.app_ids:
            parts.append("apps " + " ".join(self.app_ids))
        if self.cohort_ids:
            parts.append("cohorts " + " ".join(self.cohort_ids))
        return "; ".join(parts)

    def to_dict(self) -> JsonObject:
        return {
            "severity": self.severity,
            "code": self.code,
            "kind": self.kind,
            "object_id": self.object_id,
            "object_name": self.object_name,
            "parent_id": self.parent_id,
            "policy_name": self.policy_name,
            "apps": list(self.apps),
            "app_ids": list(self.app_ids),
            "cohorts": list(self.cohorts),
            "cohort_ids": list(self.cohort_ids),
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, data: JsonMap) -> Finding:
        parent = data.get("parent_id")
        return cls(
            severity=_severity(data["severity"]),
            code=str(data["code"]),
            kind=str(data["kind"]),
            object_id=str(data["object_id"]),
            object_name=str(data["object_name"]),
            message=str(data["message"]),
            parent_id=None if parent is None else str(parent),
            policy_name=str(data.get("policy_name", "")),
            apps=_texts(data.get("apps")),
            app_ids=_texts(data.get("app_ids")),
            cohorts=_texts(data.get("cohorts")),
            cohort_ids=_texts(data.get("cohort_ids")),
        )


def _severity(value: object) -> Severity:
    """A finding's severity read back; ValueError for a word that is not one."""
    for known in _SEVERITIES:
        if value == known:
            return known
    raise ValueError(f"not a finding severity: {value!r}")


def _texts(value: object) -> tuple[str, ...]:
    return tuple(str(item) for item in arr(value))


@dataclass(frozen=True)
class Thresholds:
    """The limits past which a setting is a finding (the audit's parameters)."""

    max_prompt_frequency: str = "P30D"
    max_mfa_lifetime_minutes: int = 720
    reauthenticate_in_threshold: str = ONCE_PER_SESSION
    sensitive_app_ids: frozenset[str] = field(default_factory=frozenset)


# --------------------------------------------------------------------------- pure summaries


def _rule_head(rule: JsonMap) -> JsonObject:
    """The fields every rule summary starts with: id, name, priority, status, system."""
    return {
        "id": dig(rule, "id"),
        "name": dig(rule, "name"),
        "priority": dig(rule, "priority"),
        "status": dig(rule, "status"),
        "system": bool(rule.get("system")),
    }


def summarize_sign_on_rule(rule: JsonMap) -> JsonObject:
    """The KMSI-relevant fields of a global session policy (``SIGN_ON``) rule."""
    signon = obj(dig(rule, "actions", "signon"))
    session = obj(signon.get("session"))
    return {
        **_rule_head(rule),
        "access": signon.get("access"),
        "requireFactor": signon.get("requireFactor"),
        "factorPromptMode": signon.get("factorPromptMode"),
        "factorLifetime": signon.get("factorLifetime"),
        "primaryFactor": signon.get("primaryFactor"),
        "maxSessionIdleMinutes": session.get("maxSessionIdleMinutes"),
        "maxSessionLifetimeMinutes": session.get("maxSessionLifetimeMinutes"),
        "usePersistentCookie": session.get("usePersistentCookie"),
    }


def summarize_access_rule(rule: JsonMap) -> JsonObject:
    """The KMSI-relevant fields of an app sign-in policy (``ACCESS_POLICY``) rule."""
    sign_on = obj(dig(rule, "actions", "appSignOn"))
    kmsi = obj(sign_on.get("keepMeSignedIn"))
    method = obj(sign_on.get("verificationMethod"))
    post_auth = kmsi.get("postAuth") or "NOT_ALLOWED"
    return {
        **_rule_head(rule),
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


def _longer(value: object, limit: durations.Duration) -> bool | None:
    """True/False when ``value`` is a valid duration longer/not longer; None when unparseable."""
    if not isinstance(value, str) or not durations.is_valid(value):
        return None
    return durations.parse(value).longer_than(limit)


def _at_least(value: object, limit: durations.Duration) -> bool:
    if not isinstance(value, str) or not durations.is_valid(value):
        return False
    return bool(durations.parse(value).min_seconds() >= limit.min_seconds())


class _Findings:
    """Collects the findings of one audit, each naming its rule, apps and cohorts."""

    def __init__(self, reach: OrgReach) -> None:
        self.reach = reach
        self.found: list[Finding] = []

    def add(self, code: str, about: RuleReach | NeverApplies, message: str) -> None:
        policy, rule = about.policy, about.rule
        cohorts = about.cohorts if isinstance(about, RuleReach) else ()
        apps = [str(a.get("label")) for a in about.apps]
        if about.kind == "sign_on_rule":
            apps = [EVERY_APP]
        self.found.append(
            Finding(
                FINDING_CODES[code],
                code,
                about.kind,
                str(rule.get("id")),
                str(rule.get("name")),
                message,
                parent_id=str(policy.get("id")),
                policy_name=str(policy.get("name")),
                apps=tuple(apps),
                app_ids=tuple(str(a.get("id")) for a in about.apps),
                cohorts=tuple(self.reach.cohort_name(c) for c in cohorts),
                cohort_ids=tuple(c.id or "everyone-else" for c in cohorts),
            )
        )


def _where(about: RuleReach) -> str:
    """Where the rule applies, and on what condition, for a message."""
    policy = about.policy.get("name")
    text = f"policy {policy!r}"
    if about.kind == "access_policy_rule":
        text += f", {len(about.apps)} app(s)"
    if about.depends_on:
        text += f"; only when {', '.join(about.depends_on)} match"
    return text


def find_risks(
    reach: OrgReach,
    thresholds: Thresholds = Thresholds(),
    *,
    pre_auth_setting: bool | None,
) -> list[Finding]:
    """Derive the findings from the evaluator's reach (pure; literal dicts in tests).

    ``reach`` is :func:`~kmsi_lib.procedures.audit_reach.org_reach` over what
    the audit read; ``pre_auth_setting`` is the org's pre-authentication
    toggle, or None when it cannot be read (real Okta). Inactive policies and
    rules never produce findings.
    """
    out = _Findings(reach)
    mfa_lifetime_rules: list[RuleReach] = []
    post_auth_rules: list[RuleReach] = []
    for about in reach.rules:
        if about.reached and about.depends_on:
            out.add(
                "depends-on-conditions",
                about,
                f"Whether this rule applies depends on {', '.join(about.depends_on)}, which"
                " only a sign-in request decides: the audit reports it as a possibility,"
                f" and the next rule as the alternative ({_where(about)}).",
            )
        if not about.reached:
            continue
        if about.kind == "sign_on_rule":
            if _session_findings(out, about, thresholds):
                mfa_lifetime_rules.append(about)
        elif _app_findings(out, about, thresholds):
            post_auth_rules.append(about)
    for dead in reach.never:
        out.add(
            "rule-never-applies",
            dead,
            f"This rule never applies: {dead.reason}. Its settings take no effect; remove"
            " it or move it up if it was meant to.",
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
        out.add(
            "pre-and-post-auth",
            post_auth_rules[0],
            f"Pre-authentication KMSI appears on ({how}) and post-authentication KMSI is"
            f" allowed in {len(post_auth_rules)} rule(s): users may be offered to stay"
            " signed in twice; pick one model.",
        )
    findings = out.found
    findings.sort(key=lambda f: (SEVERITY_ORDER[f.severity], f.code, f.policy_name, f.object_name))
    return findings


def _session_findings(out: _Findings, about: RuleReach, limits: Thresholds) -> bool:
    """The findings of one global session rule; True when it remembers MFA for a lifetime."""
    rule = summarize_sign_on_rule(about.rule)
    if rule.get("usePersistentCookie") is True:
        out.add(
            "persistent-cookie",
            about,
            "Persistent session cookies are on: an Okta session survives closing the"
            " browser, so KMSI-like behaviour applies to everyone this rule reaches"
            f" ({_where(about)}).",
        )
    remembers = rule.get("requireFactor") is True and rule.get("factorPromptMode") == "SESSION"
    lifetime = rule.get("factorLifetime")
    if remembers and isinstance(lifetime, int) and lifetime > limits.max_mfa_lifetime_minutes:
        spelled = durations.parse(f"PT{lifetime}M").describe()
        out.add(
            "mfa-lifetime-long",
            about,
            f"An MFA answer is remembered for {lifetime} minutes ({spelled}), longer than"
            f" {limits.max_mfa_lifetime_minutes} minutes ({_where(about)}).",
        )
    return remembers


def _app_findings(out: _Findings, about: RuleReach, limits: Thresholds) -> bool:
    """The findings of one app sign-in rule; True when it allows post-auth KMSI."""
    rule = summarize_access_rule(about.rule)
    allows = rule.get("access") != "DENY"
    kmsi = allows and rule.get("postAuth") == "ALLOWED"
    if kmsi:
        _kmsi_reach(out, about)
    frequency = rule.get("postAuthPromptFrequency")
    longer = _longer(frequency, durations.parse(limits.max_prompt_frequency)) if kmsi else False
    if longer:
        out.add(
            "prompt-frequency-long",
            about,
            f"The KMSI prompt is shown only every {frequency}"
            f" ({durations.parse(str(frequency)).describe()}), longer than"
            f" {limits.max_prompt_frequency} ({_where(about)}).",
        )
    elif longer is None:
        out.add(
            "prompt-frequency-unreadable",
            about,
            f"postAuthPromptFrequency {frequency!r} is not an ISO-8601 duration.",
        )
    reauth = rule.get("reauthenticateIn")
    sensitive = [a for a in about.apps if a.get("id") in limits.sensitive_app_ids]
    if allows and sensitive and _at_least(reauth, _ONCE_PER_SESSION):
        labels = ", ".join(sorted(str(a.get("label")) for a in sensitive))
        out.add(
            "reauth-once-per-session-sensitive",
            about,
            f"Sensitive app(s) {labels} re-authenticate only when no Okta session exists"
            f" (reauthenticateIn {reauth}), so a long or kept session gives access without"
            " a new sign-in.",
        )
    elif allows and _at_least(reauth, durations.parse(limits.reauthenticate_in_threshold)):
        out.add(
            "reauth-long",
            about,
            f"Re-authentication ({duration_words(text(reauth), reauthentication=True)}) is at or"
            f" beyond the audit's threshold {limits.reauthenticate_in_threshold}"
            + ("; with KMSI allowed, a kept session skips it" if kmsi else "")
            + f" ({_where(about)}).",
        )
    return kmsi


def _kmsi_reach(out: _Findings, about: RuleReach) -> None:
    """The one KMSI-reach finding of a rule allowing post-auth KMSI, the most severe."""
    admins = [out.reach.cohort_name(c) for c in about.cohorts if out.reach.is_admin(c)]
    everyone = EVERYONE_ELSE in about.cohorts
    if any(is_admin_console(a) for a in about.apps):
        out.add(
            "kmsi-admin-console",
            about,
            "Post-authentication KMSI is allowed in the sign-in policy of the Okta Admin"
            f" Console ({_where(about)}): administrators can skip MFA on remembered devices.",
        )
    elif admins:
        out.add(
            "kmsi-admin-groups",
            about,
            "Post-authentication KMSI is allowed for administrator group(s) "
            + ", ".join(admins)
            + f" ({_where(about)}): a remembered device of an administrator skips MFA.",
        )
    elif about.policy.get("system") or everyone:
        scope = (
            "the default authentication policy, which new apps are given unless another is assigned"
            if about.policy.get("system")
            else "a rule that catches everyone else"
        )
        out.add(
            "kmsi-everyone",
            about,
            f"Post-authentication KMSI is allowed on {scope}"
            f" ({_where(about)}): it reaches "
            + ("everyone" if everyone else "the cohorts listed")
            + " on every app listed, not a chosen group.",
        )
