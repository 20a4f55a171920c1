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

It then asks the policy evaluator (:mod:`kmsi_lib.engine.evaluate`, through
:mod:`kmsi_lib.procedures.audit_reach`) which rules reach which cohort, and
derives *findings* from that with pure functions, so the rules can be tested
with literal dicts: each names its severity, policy, rule, the apps it serves
and the cohorts it reaches (the codes and severities are listed in
:mod:`kmsi_lib.procedures.audit_rules`). Run as a runbook, the audit also
writes the findings as ``findings.json`` and ``findings.csv`` beside
``result.json`` (:func:`evidence_files`, :mod:`kmsi_lib.procedures.audit_table`).
The audit never writes to the org: :func:`apply` refuses.

The reads are shaped for large orgs: apps are listed once (their policy id
comes from ``_links.accessPolicy``) and each distinct policy's rules are read
once, concurrently through :func:`kmsi_lib.okta.bulk.run_bulk`; only the groups
and users the rules name are read (for their names).
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, NoReturn

from pydantic import BeforeValidator, Field

from kmsi_lib import durations
from kmsi_lib.engine import (
    EVERYONE_ELSE,
    AllowUnusualValues,
    Check,
    Cohort,
    Minutes,
    ParamsModel,
    Procedure,
    Verification,
    bounds,
    html_table,
    parse_params,
    timeline_data,
    timeline_lines,
    timeline_section_html,
    utc_now,
    whole_number,
)
from kmsi_lib.engine.evaluate import evaluate
from kmsi_lib.errors import ParameterError
from kmsi_lib.jsontypes import JsonMap, JsonObject, arr, flag, obj
from kmsi_lib.procedures import audit_read
from kmsi_lib.procedures.audit_compliance import (
    COMPLIANCE_JSON,
    FINDINGS_SARIF,
    compliance_document,
    control_results,
    sarif,
)
from kmsi_lib.procedures.audit_reach import OrgReach, org_reach
from kmsi_lib.procedures.audit_rules import (
    ADMIN_CONSOLE_LABEL,
    SEVERITY_ORDER,
    Finding,
    Thresholds,
    find_risks,
    summarize_access_rule,
    summarize_sign_on_rule,
)
from kmsi_lib.procedures.audit_table import (
    FINDING_COLUMNS,
    finding_rows,
    findings_csv,
    findings_files,
    findings_html,
    findings_text,
)

if TYPE_CHECKING:
    from kmsi_lib.okta.client import OktaClient

__all__ = [
    "ADMIN_CONSOLE_LABEL",
    "AuditReport",
    "FINDING_COLUMNS",
    "Finding",
    "NAME",
    "PROCEDURE",
    "Params",
    "Thresholds",
    "evidence_files",
    "find_risks",
    "finding_rows",
    "findings_csv",
    "org_reach",
    "summarize_access_rule",
    "summarize_sign_on_rule",
]

NAME = "audit"


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
    max_mfa_lifetime_minutes: Annotated[Minutes, bounds.FACTOR_LIFETIME] = Field(
        default=720,
        description="A global session rule remembering MFA longer than this is a finding.",
    )
    reauthenticate_in_threshold: Annotated[durations.IsoDuration, bounds.REAUTHENTICATE_IN] = Field(
        default="PT43800H",
        description=(
            "App re-authentication this rare or rarer is a finding (PT43800H: only once per"
            " Okta session)."
        ),
    )
    admin_groups: Annotated[list[Annotated[str, bounds.NAME]], bounds.FEW] = Field(
        default_factory=lambda: ["*admin*"],
        description=(
            "Administrator groups: names or ids, with * and ? wildcards, case-insensitive."
            " Okta's admin role assignments are not read."
        ),
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
    params: JsonObject
    pre_auth_setting: bool | None
    pre_auth_note: str
    sign_on_policies: list[JsonObject]
    app_policies: list[JsonObject]
    brands: list[JsonObject]
    findings: list[Finding]
    notes: list[str] = field(default_factory=list)
    procedure: str = NAME
    #: two working weeks of everyone else on one app, as the org is (engine.timeline_data)
    timeline: JsonObject = field(default_factory=dict)

    def to_dict(self) -> JsonObject:
        return {
            "procedure": self.procedure,
            "org_url": self.org_url,
            "created_at": self.created_at,
            "params": self.params,
            "pre_auth_setting": self.pre_auth_setting,
            "pre_auth_note": self.pre_auth_note,
            "sign_on_policies": [*self.sign_on_policies],
            "app_policies": [*self.app_policies],
            "brands": [*self.brands],
            "findings": [f.to_dict() for f in self.findings],
            "notes": list(self.notes),
            **({"timeline": self.timeline} if self.timeline else {}),
        }

    @classmethod
    def from_dict(cls, data: JsonMap) -> AuditReport:
        return cls(
            org_url=str(data["org_url"]),
            created_at=str(data["created_at"]),
            params=dict(obj(data["params"])),
            pre_auth_setting=flag(data.get("pre_auth_setting")),
            pre_auth_note=str(data.get("pre_auth_note", "")),
            sign_on_policies=_objects(data["sign_on_policies"]),
            app_policies=_objects(data["app_policies"]),
            brands=_objects(data["brands"]),
            findings=[Finding.from_dict(f) for f in _objects(data["findings"])],
            notes=[str(n) for n in arr(data.get("notes"))],
            procedure=str(data.get("procedure", NAME)),
            timeline=dict(obj(data.get("timeline"))),
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
        rows = [
            [f"{policy.get('name')} / {rule.get('name')}", *_cells(rule, _SESSION_COLUMNS)]
            for policy in self.sign_on_policies
            for rule in _objects(policy.get("rules"))
        ]
        sections.append(("Global session policies", _headers(_SESSION_COLUMNS), rows))
        rows = []
        for policy in self.app_policies:
            apps = _objects(policy.get("apps"))
            shown = ", ".join(str(a.get("label")) for a in apps[:3])
            if len(apps) > 3:
                shown += f" (+{len(apps) - 3} more)"
            for rule in _objects(policy.get("rules")):
                name = f"{policy.get('name')} / {rule.get('name')}"
                rows.append([name, shown or "(no app)", *_cells(rule, _APP_COLUMNS)])
        sections.append(("App sign-in policies", _headers(_APP_COLUMNS, "apps"), rows))
        sections.append(
            (
                "Post-auth prompt text per brand",
                ["brand", "page", "title", "subtitle", "accept", "reject"],
                [
                    [
                        str(b.get("name")),
                        str(b.get("page")),
                        *(_txt(obj(b.get("prompt")).get(k)) for k in _PROMPT_KEYS),
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
            "",
            "Findings",
            findings_text(self.findings),
        ]
        for title, header, rows in self._sections():
            lines += ["", title, _table(header, rows)]
        failed = [r for r in control_results(self.sign_on_policies) if not r.passed]
        lines += ["", f"DISA Okta IDaaS STIG checks: {len(failed)} failed"]
        lines += [
            f"  {r.control} ({r.stig_id}) {r.policy} > {r.rule}: expected {r.expected},"
            f" found {r.actual}"
            for r in failed
        ]
        lines += ["", *timeline_lines(self.timeline)] if self.timeline else []
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
            "<h4>Findings</h4>" + findings_html(self.findings),
        ]
        for title, header, rows in self._sections():
            parts.append(f"<h4>{esc(title)}</h4>" + html_table(header, rows))
        checked = control_results(self.sign_on_policies)
        parts.append(
            "<h4>DISA Okta IDaaS STIG checks</h4>"
            + html_table(
                ("control", "STIG id", "policy > rule", "result", "expected", "found"),
                [
                    (
                        r.control,
                        r.stig_id,
                        f"{r.policy} > {r.rule}",
                        "pass" if r.passed else "FAIL",
                        r.expected,
                        r.actual,
                    )
                    for r in checked
                ],
            )
        )
        if self.timeline:
            parts.append(timeline_section_html(self.timeline))
        parts += [f"<p>note: {esc(n)}</p>" for n in self.notes]
        return "".join(parts)


_PROMPT_KEYS = ("title", "subtitle", "acceptButtonText", "rejectButtonText")


def _objects(value: object) -> list[JsonObject]:
    """The objects of a JSON array of objects (a report section, as made or read back)."""
    return [obj(item) for item in arr(value)]


#: (column header, rule summary field) of the report's session and app rule tables
_SESSION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("status", "status"),
    ("MFA", "requireFactor"),
    ("prompt mode", "factorPromptMode"),
    ("MFA lifetime (min)", "factorLifetime"),
    ("idle (min)", "maxSessionIdleMinutes"),
    ("lifetime (min)", "maxSessionLifetimeMinutes"),
    ("persistent cookie", "usePersistentCookie"),
)
_APP_COLUMNS: tuple[tuple[str, str], ...] = (
    ("status", "status"),
    ("KMSI", "postAuth"),
    ("prompt every", "postAuthPromptFrequency"),
    ("factors", "factorMode"),
    ("re-auth", "reauthenticateIn"),
)


def _headers(columns: Sequence[tuple[str, str]], *leading: str) -> list[str]:
    """A rule table's header: the policy / rule column, ``leading`` ones, then ``columns``."""
    return ["policy / rule", *leading, *(header for header, _ in columns)]


def _cells(rule: JsonMap, columns: Sequence[tuple[str, str]]) -> list[str]:
    """``rule``'s values for ``columns``, as text."""
    return [_txt(rule.get(key)) for _, key in columns]


def _txt(value: object) -> str:
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


# --------------------------------------------------------------------------- procedure


def run(client: OktaClient, params: ParamsModel | JsonMap) -> AuditReport:
    """Read the org's KMSI posture and derive the findings (reads only)."""
    p = parse_params(Params, params)
    read = audit_read.read_policies(client, p.max_workers)
    sign_on = audit_read.sign_on_section(read)
    app_policies, orphans = audit_read.app_section(read)
    brands = audit_read.brand_section(client, p.max_workers) if p.include_brands else []
    pre_auth, pre_auth_note = audit_read.pre_auth_setting(client)
    groups, users, names_note = audit_read.read_names(client, read, p.max_workers)

    notes: list[str] = [names_note] if names_note else []
    info = client.org_info()
    if not info.is_identity_engine:
        notes.append(
            f"the org runs Okta Classic Engine (pipeline {info.pipeline or 'unknown'!r}):"
            " Keep Me Signed In exists only in Identity Engine, so these settings have no"
            " KMSI effect"
        )
    all_apps = [a for policy in app_policies for a in _objects(policy["apps"])] + orphans
    sensitive_ids: list[str] = []
    for entry in p.sensitive_apps:
        matches = [str(a["id"]) for a in all_apps if entry in (a.get("id"), a.get("label"))]
        if not matches:
            notes.append(f"sensitive app {entry!r} is not in this org; not checked")
        sensitive_ids += matches
    if orphans:
        notes.append(
            f"{len(orphans)} app(s) have no readable authentication policy (e.g. API service"
            " apps): " + ", ".join(sorted(str(a.get("label")) for a in orphans)[:10])
        )
    reach = audit_read.reach(read, groups, users, p.admin_groups)
    admins = sorted(reach.cohort_name(Cohort.of_group(g)) for g in reach.admin_group_ids)
    notes.append(
        "administrator groups are recognised by name (patterns "
        + ", ".join(p.admin_groups)
        + "), not by Okta's admin role assignments: "
        + (", ".join(admins) if admins else "none of the groups the rules name matches")
    )
    thresholds = Thresholds(
        max_prompt_frequency=p.max_prompt_frequency,
        max_mfa_lifetime_minutes=p.max_mfa_lifetime_minutes,
        reauthenticate_in_threshold=p.reauthenticate_in_threshold,
        sensitive_app_ids=frozenset(sensitive_ids),
    )
    findings = find_risks(reach, thresholds, pre_auth_setting=pre_auth)
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
        timeline=_timeline(reach),
    )


def _timeline(reach: OrgReach) -> JsonObject:
    """Everyone else's two working weeks on the first app (by label) that offers them the
    post-auth prompt, else on the first app; empty for an org without apps."""
    view = reach.view
    apps = sorted(view.app_policy, key=lambda a: view.app_labels.get(a, a))
    outcomes = [evaluate(view, EVERYONE_ELSE, a) for a in apps]
    offered = [o for o in outcomes if o.app is not None and o.app.kmsi_post_auth == "ALLOWED"]
    if not outcomes:
        return {}
    chosen = (offered or outcomes)[0]
    label = view.app_labels.get(chosen.app_id, chosen.app_id)
    return timeline_data(None, chosen, title=f"everyone else on {label}")


def evidence_files(report: object) -> dict[str, str]:
    """The files a runbook writes beside an audit report's ``result.json``: ``findings.json``,
    ``findings.csv``, ``findings.sarif`` (SARIF 2.1.0) and ``compliance.json`` (the DISA STIG
    checks); none for anything else.

    Both hold the report's findings (the CSV's columns are
    :data:`~kmsi_lib.procedures.audit_table.FINDING_COLUMNS`); the runner's
    ledger hashes them with the run's other files.
    """
    if not isinstance(report, AuditReport):
        return {}
    files = findings_files(report.findings, org_url=report.org_url, created_at=report.created_at)
    results = control_results(report.sign_on_policies)
    files[FINDINGS_SARIF] = json.dumps(
        sarif(report.findings, results, org_url=report.org_url), indent=2, sort_keys=True
    )
    files[COMPLIANCE_JSON] = json.dumps(compliance_document(results), indent=2, sort_keys=True)
    return files


#: The audit's "plan" is its report: it only reads.
plan = run


def apply(client: OktaClient, plan: object, *, attestation: object = None) -> NoReturn:
    """The audit writes nothing, so there is nothing to apply."""
    raise ParameterError(
        "mode", "the KMSI audit is read-only: run it in plan mode; there is nothing to apply"
    )


def verify(client: OktaClient, params: ParamsModel | JsonMap) -> Verification:
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


PROCEDURE = Procedure(
    name=NAME,
    title="KMSI posture audit (read-only)",
    scopes=(
        "okta.apps.read",
        "okta.brands.read",
        "okta.groups.read",
        "okta.policies.read",
        "okta.users.read",
    ),
    params=Params,
    plan=run,
    apply=apply,
    verify=verify,
    writes=False,  # only reads (also runs on a Classic Engine org)
    evidence_files=evidence_files,
)
