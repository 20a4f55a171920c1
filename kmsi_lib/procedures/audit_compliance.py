"""The audit against a public baseline, and its findings as SARIF.

The baseline is DISA's *Okta Identity as a Service (IDaaS) Security Technical
Implementation Guide* (STIG), release of 2025-05-06, where its checks touch what
this project configures: the global session policy's rules. Three checks read
the same settings KMSI changes; each is cited by its vulnerability id, its STIG
id and the public viewer page we read it from:

* **V-273186** (OKTA-APP-000020): a session is logged out after 15 minutes of
  inactivity ("Maximum Okta global session idle time" 15 minutes).
* **V-273203** (OKTA-APP-001665): the global session lifetime is limited to 18
  hours ("Maximum Okta global session lifetime").
* **V-273206** (OKTA-APP-001710): persistent global session cookies are
  disabled ("Okta global session cookies persist across browser sessions").

The STIG checks the Default Policy's rule at priority 1 that is not the
Default Rule; we check every active rule of every active global session policy,
since each one is the session some people get (a stricter reading, said so in
the result). :func:`control_results` is pure over the audit report's
``sign_on_policies``; :data:`FINDING_CONTROLS` maps the audit's own finding codes
to the controls they bear on. :func:`sarif` writes the findings and the failed
controls as SARIF 2.1.0 (OASIS), so a code-scanning dashboard can show them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from kmsi_lib.jsontypes import JsonMap, JsonObject, JsonValue, arr, obj

if TYPE_CHECKING:
    from kmsi_lib.procedures.audit_rules import Finding

__all__ = [
    "COMPLIANCE_JSON",
    "CONTROLS",
    "FINDING_CONTROLS",
    "FINDINGS_SARIF",
    "Control",
    "ControlResult",
    "compliance_document",
    "control_results",
    "sarif",
]

FINDINGS_SARIF = "findings.sarif"
COMPLIANCE_JSON = "compliance.json"
_VIEWER = "https://stigviewer.cyberprotection.com/stigs/okta_identity_as_a_service_idaas/2025-05-06/finding/"


@dataclass(frozen=True)
class Control:
    """One control of the baseline: ids, what it requires, where it is published."""

    id: str  # the vulnerability id
    stig_id: str
    title: str
    url: str


CONTROLS: tuple[Control, ...] = (
    Control(
        "V-273186",
        "OKTA-APP-000020",
        "Okta must log out a session after a 15-minute period of inactivity.",
        _VIEWER + "V-273186",
    ),
    Control(
        "V-273203",
        "OKTA-APP-001665",
        "Okta must be configured to limit the global session lifetime to 18 hours.",
        _VIEWER + "V-273203",
    ),
    Control(
        "V-273206",
        "OKTA-APP-001710",
        "Okta must be configured to disable persistent global session cookies.",
        _VIEWER + "V-273206",
    ),
)
_BY_ID = {c.id: c for c in CONTROLS}

#: The audit's finding codes and the baseline controls they bear on: a persistent cookie
#: is V-273206's subject; post-auth KMSI keeps a user's session across browser restarts,
#: which is what that control forbids by default; a re-authentication interval beyond the
#: threshold is the "reauthenticate after a fixed period" V-273203 argues for.
FINDING_CONTROLS: dict[str, tuple[str, ...]] = {
    "persistent-cookie": ("V-273206",),
    "kmsi-everyone": ("V-273206",),
    "kmsi-admin-console": ("V-273206",),
    "kmsi-admin-groups": ("V-273206",),
    "reauth-long": ("V-273203",),
    "reauth-once-per-session-sensitive": ("V-273203",),
}

_IDLE_MAX = 15
_LIFETIME_MAX = 18 * 60


@dataclass(frozen=True)
class ControlResult:
    """One control checked on one global session rule."""

    control: str
    stig_id: str
    policy: str
    rule: str
    passed: bool
    expected: str
    actual: str


def _rules(policies: Iterable[JsonMap]) -> Iterable[tuple[str, JsonObject]]:
    for policy in policies:
        if policy.get("status") != "ACTIVE":
            continue
        for rule in map(obj, arr(policy.get("rules"))):
            if rule.get("status") == "ACTIVE" and rule.get("access", "ALLOW") == "ALLOW":
                yield str(policy.get("name")), rule


def control_results(sign_on_policies: Sequence[JsonMap]) -> list[ControlResult]:
    """Each control on each active global session rule (the audit's ``sign_on_policies``)."""
    results: list[ControlResult] = []
    for policy, rule in _rules(sign_on_policies):
        name = str(rule.get("name"))
        idle = rule.get("maxSessionIdleMinutes")
        lifetime = rule.get("maxSessionLifetimeMinutes")
        cookie = rule.get("usePersistentCookie")
        checks = (
            ("V-273186", isinstance(idle, int) and 0 < idle <= _IDLE_MAX, "idle at most 15 min",
             f"{idle} min"),
            ("V-273203", isinstance(lifetime, int) and 0 < lifetime <= _LIFETIME_MAX,
             "lifetime at most 18 h", "no limit" if lifetime == 0 else f"{lifetime} min"),
            ("V-273206", cookie is False, "persistent cookie disabled",
             "enabled" if cookie else ("disabled" if cookie is False else "unknown")),
        )  # fmt: skip
        for control, passed, expected, actual in checks:
            stig = _BY_ID[control].stig_id
            results.append(ControlResult(control, stig, policy, name, passed, expected, actual))
    return results


_LEVELS = {"high": "error", "medium": "warning", "low": "note", "info": "note"}


def sarif(
    findings: Sequence[Finding], results: Sequence[ControlResult], *, org_url: str
) -> JsonObject:
    """The findings and the failed controls as one SARIF 2.1.0 log (a JSON-ready dict)."""
    rules: dict[str, JsonValue] = {}
    out: list[JsonValue] = []
    for finding in findings:
        controls = FINDING_CONTROLS.get(finding.code, ())
        rules.setdefault(
            finding.code,
            {
                "id": finding.code,
                "name": finding.code,
                "shortDescription": {"text": f"kmsi audit: {finding.code}"},
                "properties": {"severity": finding.severity, "stig": list(controls)},
                "relationships": [
                    {"target": {"id": c, "toolComponent": {"name": "DISA Okta IDaaS STIG"}}}
                    for c in controls
                ],
            },
        )
        out.append(
            {
                "ruleId": finding.code,
                "level": _LEVELS.get(finding.severity, "note"),
                "message": {"text": finding.message},
                "locations": [_where(finding.policy_name, finding.object_name, org_url)],
                "properties": {
                    "apps": list(finding.apps),
                    "cohorts": list(finding.cohorts),
                    "objectId": finding.object_id,
                },
            }
        )
    for result in results:
        if result.passed:
            continue
        control = _BY_ID[result.control]
        rules.setdefault(
            control.id,
            {
                "id": control.id,
                "name": control.stig_id,
                "shortDescription": {"text": control.title},
                "helpUri": control.url,
                "properties": {"baseline": "DISA Okta IDaaS STIG 2025-05-06"},
            },
        )
        out.append(
            {
                "ruleId": control.id,
                "level": "warning",
                "message": {
                    "text": f"{control.title} Rule {result.rule!r} of {result.policy!r}:"
                    f" expected {result.expected}, found {result.actual}."
                },
                "locations": [_where(result.policy, result.rule, org_url)],
            }
        )
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "kmsi audit",
                        "rules": list(rules.values()),
                    }
                },
                "results": out,
                "properties": {"org": org_url},
            }
        ],
    }


def _where(policy: str, rule: str, org_url: str) -> JsonObject:
    return {
        "logicalLocations": [
            {"name": rule, "fullyQualifiedName": f"{policy} > {rule}", "kind": "object"}
        ],
        "physicalLocation": {"artifactLocation": {"uri": org_url or "okta:org"}},
    }


def compliance_document(results: Sequence[ControlResult]) -> JsonObject:
    """The control results with the controls they check (``compliance.json``)."""
    return {
        "baseline": "DISA Okta Identity as a Service (IDaaS) STIG, 2025-05-06",
        "reading": "every active global session rule is checked (the STIG names the Default"
        " Policy's priority-1 rule): stricter than the STIG",
        "controls": [asdict(c) for c in CONTROLS],
        "results": [asdict(r) for r in results],
        "failed": sum(1 for r in results if not r.passed),
    }
