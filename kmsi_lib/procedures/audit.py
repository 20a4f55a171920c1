"""KMSI posture audit: one read-only report of how "Keep Me Signed In" is set up.

The report gathers, for an auditor:

* every global session policy (``OKTA_SIGN_ON``) and its rules: whether MFA is
  required and for how long it is remembered, the session idle and lifetime
  limits, persistent cookies;
* every app sign-in (authentication) policy, the apps that use it and its
  rules: whether post-authentication KMSI is allowed, how often the prompt is
  shown, the re-authentication period;
* the post-authentication prompt text of every brand;
* the pre-authentication org setting, when the org can tell us (only the
  sandbox can: real Okta has no API for it).

It then derives *findings* (severity, object, message) from that data with
pure functions, so the rules can be tested with literal dicts. The audit never
writes: :func:`apply` refuses.

The reads are shaped for large orgs: apps are listed once (their policy id
comes from ``_links.accessPolicy``) and each distinct policy's rules are read
once, concurrently through :func:`kmsi_lib.okta.bulk.run_bulk`. The rules that
turn what was read into findings are :mod:`kmsi_lib.procedures.audit_rules`.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BeforeValidator, Field

from kmsi_lib import durations
from kmsi_lib.engine import (
    AllowUnusualValues,
    Check,
    ParamsModel,
    Verification,
    bounds,
    bulk_values,
    get_path,
    html_table,
    parse_params,
    utc_now,
    whole_number,
)
from kmsi_lib.errors import NotFoundError, ParameterError
from kmsi_lib.okta.resources import apps as apps_resource
from kmsi_lib.okta.resources import brands as brands_resource
from kmsi_lib.okta.resources import policies as policies_resource
from kmsi_lib.procedures import prompt_text
from kmsi_lib.procedures.audit_rules import (
    ADMIN_CONSOLE_LABEL,
    SEVERITY_ORDER,
    Finding,
    find_risks,
    summarize_access_rule,
    summarize_sign_on_rule,
)
from kmsi_lib.procedures.pre_auth import read_sandbox_org_setting

if TYPE_CHECKING:
    from kmsi_lib.okta.client import OktaClient

__all__ = [
    "ADMIN_CONSOLE_LABEL",
    "AuditReport",
    "Finding",
    "NAME",
    "Params",
    "SCOPES",
    "TITLE",
    "find_risks",
    "summarize_access_rule",
    "summarize_sign_on_rule",
]

NAME = "audit"
TITLE = "KMSI posture audit (read-only)"
WRITES = False  # only reads (also runs on a Classic Engine org)
BULK = False  # apply makes a few ordered writes (no progress callback)
SCOPES: tuple[str, ...] = (
    "okta.apps.read",
    "okta.brands.read",
    "okta.policies.read",
)


class Params(ParamsModel):
    """What the audit looks at and which thresholds make a finding."""

    sensitive_apps: Annotated[list[Annotated[str, bounds.NAME]], bounds.FEW] = Field(
        default_factory=lambda: [ADMIN_CONSOLE_LABEL],
        description=(
            "Apps (label or id) where re-authentication only once per session (PT43800H)"
            " is a finding. Unknown entries are reported, not fatal."
        ),
    )
    max_prompt_frequency: Annotated[durations.IsoDuration, bounds.PROMPT_FREQUENCY] = Field(
        default="P30D",
        description="A post-auth KMSI prompt shown less often than this is a finding.",
    )
    include_brands: bool = Field(
        default=True, description="Also read every brand's sign-in page prompt text."
    )
    max_workers: Annotated[int, BeforeValidator(whole_number())] = Field(
        default=4, ge=1, le=16, description="Concurrent reads (within the rate-limit governor)."
    )
    allow_unusual_values: AllowUnusualValues


# --------------------------------------------------------------------------- the report


@dataclass
class AuditReport:
    """What KMSI looks like in one org, plus the findings (JSON-serialisable)."""

    org_url: str
    created_at: str
    params: dict[str, Any]
    pre_auth_setting: bool | None
    pre_auth_note: str
    sign_on_policies: list[dict[str, Any]]
    app_policies: list[dict[str, Any]]
    brands: list[dict[str, Any]]
    findings: list[Finding]
    notes: list[str] = field(default_factory=list)
    procedure: str = NAME

    def to_dict(self) -> dict[str, Any]:
        return {
            "procedure": self.procedure,
            "org_url": self.org_url,
            "created_at": self.created_at,
            "params": self.params,
            "pre_auth_setting": self.pre_auth_setting,
            "pre_auth_note": self.pre_auth_note,
            "sign_on_policies": self.sign_on_policies,
            "app_policies": self.app_policies,
            "brands": self.brands,
            "findings": [f.to_dict() for f in self.findings],
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuditReport:
        return cls(
            org_url=data["org_url"],
            created_at=data["created_at"],
            params=dict(data["params"]),
            pre_auth_setting=data.get("pre_auth_setting"),
            pre_auth_note=data.get("pre_auth_note", ""),
            sign_on_policies=list(data["sign_on_policies"]),
            app_policies=list(data["app_policies"]),
            brands=list(data["brands"]),
            findings=[Finding.from_dict(f) for f in data["findings"]],
            notes=list(data.get("notes", [])),
            procedure=data.get("procedure", NAME),
        )

    def counts(self) -> dict[str, int]:
        """Number of findings per severity (every severity present, zero included)."""
        out = dict.fromkeys(SEVERITY_ORDER, 0)
        for f in self.findings:
            out[f.severity] += 1
        return out

    # ---- rendering

    def _sections(self) -> list[tuple[str, list[str], list[list[str]]]]:
        sections: list[tuple[str, list[str], list[list[str]]]] = []
        sections.append(
            (
                "Findings",
                ["severity", "code", "object", "message"],
                [
                    [f.severity, f.code, f"{f.kind} {f.object_name!r} ({f.object_id})", f.message]
                    for f in self.findings
                ],
            )
        )
        rows: list[list[str]] = []
        for policy in self.sign_on_policies:
            for rule in policy.get("rules", []):
                rows.append(
                    [
                        f"{policy.get('name')} / {rule.get('name')}",
                        _txt(rule.get("status")),
                        _txt(rule.get("requireFactor")),
                        _txt(rule.get("factorPromptMode")),
                        _txt(rule.get("factorLifetime")),
                        _txt(rule.get("maxSessionIdleMinutes")),
                        _txt(rule.get("maxSessionLifetimeMinutes")),
                        _txt(rule.get("usePersistentCookie")),
                    ]
                )
        sections.append(
            (
                "Global session policies",
                [
                    "policy / rule",
                    "status",
                    "MFA",
                    "prompt mode",
                    "MFA lifetime (min)",
                    "idle (min)",
                    "lifetime (min)",
                    "persistent cookie",
                ],
                rows,
            )
        )
        rows = []
        for policy in self.app_policies:
            apps = policy.get("apps", [])
            shown = ", ".join(str(a.get("label")) for a in apps[:3])
            if len(apps) > 3:
                shown += f" (+{len(apps) - 3} more)"
            for rule in policy.get("rules", []):
                rows.append(
                    [
                        f"{policy.get('name')} / {rule.get('name')}",
                        shown or "(no app)",
                        _txt(rule.get("status")),
                        _txt(rule.get("postAuth")),
                        _txt(rule.get("postAuthPromptFrequency")),
                        _txt(rule.get("factorMode")),
                        _txt(rule.get("reauthenticateIn")),
                    ]
                )
        sections.append(
            (
                "App sign-in policies",
                ["policy / rule", "apps", "status", "KMSI", "prompt every", "factors", "re-auth"],
                rows,
            )
        )
        sections.append(
            (
                "Post-auth prompt text per brand",
                ["brand", "page", "title", "subtitle", "accept", "reject"],
                [
                    [
                        str(b.get("name")),
                        str(b.get("page")),
                        *(_txt((b.get("prompt") or {}).get(k)) for k in _PROMPT_KEYS),
                    ]
                    for b in self.brands
                ],
            )
        )
        return sections

    def to_text(self) -> str:
        """Terminal rendering: a summary line, then one table per section."""
        counts = self.counts()
        lines = [
            f"KMSI posture audit of {self.org_url} at {self.created_at}",
            "Findings: " + ", ".join(f"{n} {sev}" for sev, n in counts.items()),
            "Pre-authentication KMSI setting:"
            f" {_txt(self.pre_auth_setting)} ({self.pre_auth_note})",
        ]
        for title, header, rows in self._sections():
            lines += ["", title, _table(header, rows)]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        counts = self.counts()
        esc = html.escape
        parts = [
            f"<h3>KMSI posture audit of {esc(self.org_url)}</h3>",
            f"<p>{esc(self.created_at)} &middot; findings: "
            + ", ".join(f"{n} {esc(sev)}" for sev, n in counts.items())
            + "</p>",
            f"<p>Pre-authentication KMSI setting: {esc(_txt(self.pre_auth_setting))}"
            f" ({esc(self.pre_auth_note)})</p>",
        ]
        for title, header, rows in self._sections():
            parts.append(f"<h4>{esc(title)}</h4>" + html_table(header, rows))
        parts += [f"<p>note: {esc(n)}</p>" for n in self.notes]
        return "".join(parts)


_PROMPT_KEYS = ("title", "subtitle", "acceptButtonText", "rejectButtonText")


def _txt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    if not rows:
        return "  (none)"
    rows = [[c if len(c) <= 60 else c[:59] + "…" for c in row] for row in rows]
    widths = [min(60, max(len(header[i]), *(len(r[i]) for r in rows))) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))

    return "\n".join(
        [line(header), "  " + "-+-".join("-" * w for w in widths)] + [line(r) for r in rows]
    )


# --------------------------------------------------------------------------- reads


def _sign_on_section(client: OktaClient, max_workers: int) -> list[dict[str, Any]]:
    policies_api = policies_resource
    policies = sorted(
        policies_api.list_policies(client, "OKTA_SIGN_ON"),
        key=lambda p: (p.get("priority") is None, p.get("priority") or 0),
    )
    rules = bulk_values(
        policies, lambda p: list(policies_api.list_rules(client, p["id"])), max_workers=max_workers
    )
    return [
        {
            "id": p.get("id"),
            "name": p.get("name"),
            "priority": p.get("priority"),
            "status": p.get("status"),
            "system": bool(p.get("system")),
            "groups": list(get_path(p, "conditions.people.groups.include") or []),
            "rules": [
                summarize_sign_on_rule(r) for r in sorted(rs, key=lambda r: r.get("priority") or 0)
            ],
        }
        for p, rs in zip(policies, rules, strict=True)
    ]


def _app_section(
    client: OktaClient, max_workers: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(policies with their apps and rules, apps without an authentication policy)."""
    apps_api, policies_api = apps_resource, policies_resource
    policies = {p["id"]: p for p in policies_api.list_policies(client, "ACCESS_POLICY")}
    apps_by_policy: dict[str, list[dict[str, Any]]] = {pid: [] for pid in policies}
    orphans: list[dict[str, Any]] = []
    for app in apps_api.list_apps(client):
        entry = {
            "id": app.get("id"),
            "label": app.get("label"),
            "name": app.get("name"),
            "status": app.get("status"),
        }
        policy_id = apps_api.access_policy_id(app)
        if policy_id is None:
            orphans.append(entry)
        else:
            apps_by_policy.setdefault(policy_id, []).append(entry)

    def rules_of(policy_id: str) -> list[dict[str, Any]] | None:
        try:
            return list(policies_api.list_rules(client, policy_id))
        except NotFoundError:  # an app linked to a policy that is gone
            return None

    # Each distinct policy's rules are read once, however many apps share it.
    ids = list(apps_by_policy)
    rules = bulk_values(ids, rules_of, max_workers=max_workers)
    section = []
    for policy_id, policy_rules in zip(ids, rules, strict=True):
        if policy_rules is None:
            orphans.extend(apps_by_policy[policy_id])
            continue
        policy = policies.get(policy_id, {})
        section.append(
            {
                "id": policy_id,
                "name": policy.get("name", f"(policy {policy_id})"),
                "status": policy.get("status", "ACTIVE"),
                "system": bool(policy.get("system")),
                "apps": sorted(apps_by_policy[policy_id], key=lambda a: str(a.get("label"))),
                "rules": [
                    summarize_access_rule(r)
                    for r in sorted(policy_rules, key=lambda r: r.get("priority") or 0)
                ],
            }
        )
    section.sort(key=lambda p: (-len(p["apps"]), str(p["name"])))
    return section, orphans


def _brand_section(client: OktaClient, max_workers: int) -> list[dict[str, Any]]:
    brands = list(brands_resource.list_brands(client))
    pages = bulk_values(
        brands, lambda brand: prompt_text.live_page(client, brand["id"]), max_workers=max_workers
    )
    return [
        {
            "id": brand.get("id"),
            "name": brand.get("name"),
            "isDefault": bool(brand.get("isDefault")),
            "page": source,
            "prompt": prompt_text.prompt_of(page),
        }
        for brand, (source, page) in zip(brands, pages, strict=True)
    ]


def _pre_auth_setting(client: OktaClient) -> tuple[bool | None, str]:
    """The org's pre-authentication KMSI toggle if it can be read, and how we know."""
    value = read_sandbox_org_setting(client)
    if value is None:
        return None, (
            "Okta has no API for this setting: check Security > General > Organization"
            " Security in the Admin Console"
        )
    return value, "read from the sandbox org's settings"


# --------------------------------------------------------------------------- procedure


def run(client: OktaClient, params: Params | Mapping[str, Any]) -> AuditReport:
    """Read the org's KMSI posture and derive the findings (reads only)."""
    p = parse_params(Params, params)
    sign_on = _sign_on_section(client, p.max_workers)
    app_policies, orphans = _app_section(client, p.max_workers)
    brands = _brand_section(client, p.max_workers) if p.include_brands else []
    pre_auth, pre_auth_note = _pre_auth_setting(client)

    notes: list[str] = []
    info = client.org_info()
    if not info.is_identity_engine:
        notes.append(
            f"the org runs Okta Classic Engine (pipeline {info.pipeline or 'unknown'!r}):"
            " Keep Me Signed In exists only in Identity Engine, so these settings have no"
            " KMSI effect"
        )
    all_apps = [a for policy in app_policies for a in policy["apps"]] + orphans
    sensitive_ids: list[str] = []
    for entry in p.sensitive_apps:
        matches = [a["id"] for a in all_apps if entry in (a.get("id"), a.get("label"))]
        if not matches:
            notes.append(f"sensitive app {entry!r} is not in this org; not checked")
        sensitive_ids += matches
    if orphans:
        notes.append(
            f"{len(orphans)} app(s) have no readable authentication policy (e.g. API service"
            " apps): " + ", ".join(sorted(str(a.get("label")) for a in orphans)[:10])
        )

    findings = find_risks(
        sign_on_policies=sign_on,
        app_policies=app_policies,
        sensitive_app_ids=sensitive_ids,
        max_prompt_frequency=p.max_prompt_frequency,
        pre_auth_setting=pre_auth,
    )
    return AuditReport(
        org_url=str(client.org_url),
        created_at=utc_now(),
        params=p.model_dump(mode="json"),
        pre_auth_setting=pre_auth,
        pre_auth_note=pre_auth_note,
        sign_on_policies=sign_on,
        app_policies=app_policies,
        brands=brands,
        findings=findings,
        notes=notes,
    )


def plan(client: OktaClient, params: Params | Mapping[str, Any]) -> AuditReport:
    """The audit's "plan" is its report: it only reads (same as :func:`run`)."""
    return run(client, params)


def apply(client: OktaClient, plan: Any, *, attestation: Any = None) -> Any:
    """The audit writes nothing, so there is nothing to apply."""
    raise ParameterError(
        "mode", "the KMSI audit is read-only: run it in plan mode; there is nothing to apply"
    )


def verify(client: OktaClient, params: Params | Mapping[str, Any]) -> Verification:
    """Audit, then one failed check per high or medium finding (passes on a clean org)."""
    report = run(client, params)
    counts = report.counts()
    checks = [
        Check(f"no {sev} KMSI findings", counts[sev] == 0, 0, counts[sev])
        for sev in ("high", "medium")
    ]
    checks += [
        Check(f"{f.code}: {f.kind} {f.object_name!r} ({f.object_id})", False, None, f.message)
        for f in report.findings
        if f.severity in ("high", "medium")
    ]
    return Verification(checks)
