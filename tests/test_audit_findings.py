"""The audit's findings against the sandbox org: names, severities, the files beside the evidence.

Each test changes the seeded org the way an admin would (through a snapshot),
audits it and reads the findings by name, as an auditor would.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from runbook_support import point_at_sandbox

from kmsi_lib import evidence
from kmsi_lib.okta.client import OktaClient
from kmsi_lib.procedures import audit, audit_reach
from kmsi_lib.runbooks.runbook import Runbook
from kmsi_lib.sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent

State = dict[str, Any]


def _policy(state: State, name: str, kind: str = "ACCESS_POLICY") -> str:
    return next(
        p["id"] for p in state["policies"].values() if p["name"] == name and p["type"] == kind
    )


def _rule(state: State, policy_id: str, name: str) -> dict[str, Any]:
    return next(r for r in state["rules"][policy_id].values() if r["name"] == name)


def _apps_of(state: State, policy_id: str) -> tuple[str, ...]:
    ids = [a for a, link in state["app_policy"].items() if link["policyId"] == policy_id]
    return tuple(sorted(state["apps"][a]["label"] for a in ids))


def _group(state: State, name: str) -> str:
    return next(g["id"] for g in state["groups"].values() if g["profile"]["name"] == name)


def _allow_kmsi(rule: dict[str, Any], frequency: str = "P7D") -> None:
    rule["actions"]["appSignOn"]["keepMeSignedIn"] = {
        "postAuth": "ALLOWED",
        "postAuthPromptFrequency": frequency,
    }


def _audit(sandbox: Sandbox, okta: OktaClient, change: Callable[[State], None]) -> Any:
    state = sandbox.admin.snapshot()
    change(state)
    sandbox.admin.load(state)
    return audit.run(okta, {"include_brands": False})


def _clean(state: State) -> None:
    """The seed with its one finding fixed: the KMSI pilot re-authenticates every 12 hours."""
    pilot = _rule(state, _policy(state, "Okta Dashboard"), "KMSI pilot: stay signed in")
    pilot["actions"]["appSignOn"]["verificationMethod"]["reauthenticateIn"] = "PT12H"


def test_kmsi_on_the_default_policy_catch_all_names_every_app_and_everyone_else(
    sandbox: Sandbox, okta: OktaClient
) -> None:
    """The issue's scenario: KMSI on "Any two factors" reaches all 16 apps and everyone."""
    state = sandbox.admin.snapshot()
    default = _policy(state, "Any two factors")

    def change(state: State) -> None:
        _clean(state)
        catch_all = _rule(state, default, "Catch-all Rule")
        _allow_kmsi(catch_all)
        catch_all["actions"]["appSignOn"]["verificationMethod"]["reauthenticateIn"] = "P7D"

    report = _audit(sandbox, okta, change)
    (finding,) = [f for f in report.findings if f.code == "kmsi-everyone"]
    assert (finding.severity, finding.policy_name, finding.object_name) == (
        "medium",
        "Any two factors",
        "Catch-all Rule",
    )
    apps = _apps_of(state, default)
    assert len(apps) == 16 and "Salesforce.com" in apps
    assert finding.apps == apps
    assert finding.cohorts == ("everyone else",)
    assert [f.code for f in report.findings] == ["kmsi-everyone"]
    text = report.to_text()
    assert all(label in text for label in apps) and "everyone else" in text


def test_kmsi_on_the_admin_console_policy_is_high(sandbox: Sandbox, okta: OktaClient) -> None:
    def change(state: State) -> None:
        _clean(state)
        admins = _rule(state, _policy(state, "Okta Admin Console"), "Admins: 2FA every 2 hours")
        _allow_kmsi(admins)

    report = _audit(sandbox, okta, change)
    assert [(f.severity, f.code, f.apps, f.cohorts) for f in report.findings] == [
        ("high", "kmsi-admin-console", ("Okta Admin Console",), ("IT Admins",))
    ]
    assert not audit.verify(okta, {"include_brands": False}).ok


def test_kmsi_for_an_administrator_group_on_other_apps_is_high(
    sandbox: Sandbox, okta: OktaClient
) -> None:
    """A rule for "IT Admins" on the high-assurance apps: the group counts as administrators."""
    state = sandbox.admin.snapshot()
    policy = _policy(state, "High assurance apps")

    def change(state: State) -> None:
        _clean(state)
        rule = _rule(state, policy, "Engineering: phishing-resistant")
        rule["conditions"]["people"]["groups"]["include"] = [_group(state, "IT Admins")]
        _allow_kmsi(rule)

    report = _audit(sandbox, okta, change)
    assert [(f.severity, f.code, f.cohorts) for f in report.findings] == [
        ("high", "kmsi-admin-groups", ("IT Admins",))
    ]
    assert report.findings[0].apps == _apps_of(state, policy)
    assert any("IT Admins" in n and "by name" in n for n in report.notes)


def test_a_rule_below_a_rule_for_everyone_is_found_shadowed(
    sandbox: Sandbox, okta: OktaClient
) -> None:
    """The Dashboard's "Everyone else" moved above the KMSI pilot: the pilot never applies."""

    def change(state: State) -> None:
        dashboard = _policy(state, "Okta Dashboard")
        _rule(state, dashboard, "Everyone else")["priority"] = 0
        _rule(state, dashboard, "KMSI pilot: stay signed in")["priority"] = 1

    report = _audit(sandbox, okta, change)
    assert [(f.severity, f.code, f.object_name) for f in report.findings] == [
        ("low", "rule-never-applies", "KMSI pilot: stay signed in")
    ]
    assert "'Everyone else'" in report.findings[0].message
    assert report.findings[0].apps == ("Okta Dashboard",)


def test_a_persistent_cookie_on_the_default_rule_names_everyone_else(
    sandbox: Sandbox, okta: OktaClient
) -> None:
    def change(state: State) -> None:
        _clean(state)
        rule = _rule(state, _policy(state, "Default Policy", "OKTA_SIGN_ON"), "Default Rule")
        rule["actions"]["signon"]["session"]["usePersistentCookie"] = True

    report = _audit(sandbox, okta, change)
    assert [(f.severity, f.code, f.apps, f.cohorts) for f in report.findings] == [
        ("medium", "persistent-cookie", (audit_reach.EVERY_APP,), ("everyone else",))
    ]


def test_a_clean_org_says_no_findings(sandbox: Sandbox, okta: OktaClient) -> None:
    report = _audit(sandbox, okta, _clean)
    assert report.findings == []
    assert "Findings\n  No findings." in report.to_text()
    assert "<h4>Findings</h4><p>No findings.</p>" in report._repr_html_()
    assert audit.verify(okta, {}).ok


def test_the_evidence_files_agree_with_the_report(sandbox: Sandbox, okta: OktaClient) -> None:
    report = audit.run(okta, {"include_brands": False})
    files = audit.evidence_files(report)
    assert set(files) == {"findings.json", "findings.csv", "findings.sarif", "compliance.json"}
    document = json.loads(files["findings.json"])
    assert document["findings"] == report.to_dict()["findings"]
    assert document["counts"] == report.counts() and document["org_url"] == report.org_url
    rows = list(csv.DictReader(io.StringIO(files["findings.csv"])))
    assert rows == audit.finding_rows(report.findings) and len(rows) == len(report.findings) == 1


def test_the_runbook_writes_the_findings_beside_result_json(
    sandbox: Sandbox, okta: OktaClient, tmp_path: Path
) -> None:
    rb = Runbook(
        "audit", params={}, client=okta, evidence_dir=str(tmp_path), display=lambda _: None
    )
    rb.plan()
    rb.finish()
    _agree(tmp_path)


def _agree(run_dir: Path) -> list[dict[str, str]]:
    """Assert that findings.json and findings.csv hold result.json's findings; the CSV rows."""
    result = json.loads((run_dir / "result.json").read_text())
    findings = [audit.Finding.from_dict(f) for f in result["plan"]["findings"]]
    document = json.loads((run_dir / "findings.json").read_text(encoding="utf-8"))
    assert document["findings"] == result["plan"]["findings"]
    with (run_dir / "findings.csv").open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames or ()) == audit.FINDING_COLUMNS
        rows = list(reader)
    assert rows == audit.finding_rows(findings)
    return rows


@pytest.mark.slow
def test_the_audit_runbook_files_its_findings_in_the_verified_evidence(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`kmsi run` of the audit notebook: findings.json and .csv are in the run, in the ledger,
    and `kmsi evidence verify` passes (and fails once the CSV is edited)."""
    from kmsi_lib import cli
    from kmsi_lib.runbooks import run as runner

    root = tmp_path / "evidence"
    with sandbox.serve(port=0) as url:
        point_at_sandbox(monkeypatch, url, sandbox.token)
        report = runner.run_notebook(
            ROOT / "notebooks" / "00_audit.ipynb",
            ROOT / "params" / "sandbox" / "audit.yaml",
            evidence_root=root,
            progress=False,
            timeout=120,
        )
    assert report.exit_code == 0 and report.run_dir is not None
    rows = _agree(report.run_dir)
    assert [(r["severity"], r["finding"], r["cohorts"]) for r in rows] == [
        ("low", "reauth-long", "KMSI Pilot")
    ]
    (entry,) = evidence.read_ledger(root)
    assert {"findings.json", "findings.csv", "result.json"} <= set(entry["files"])
    assert evidence.verify(root).ok
    assert cli.main(["evidence", "verify", "--root", str(root)]) == 0
    with (report.run_dir / "findings.csv").open("a", encoding="utf-8") as fh:
        fh.write("high,made-up,,,,,,\n")
    problems = evidence.verify(root).problems
    assert [(p.kind, Path(p.where).name) for p in problems] == [("changed-file", "findings.csv")]
    assert cli.main(["evidence", "verify", "--root", str(root)]) == 1


def test_the_audit_shows_everyone_else_s_two_weeks_on_an_app_that_offers_the_prompt() -> None:
    """After post-auth KMSI on the default policy, the audit's timeline is of an app that
    offers everyone else the prompt, with the prompt in it."""
    from procedure_support import apply_acknowledged, make_org

    from kmsi_lib.procedures import audit, post_auth

    org = make_org()
    fresh = audit.run(org.client, {})
    assert fresh.timeline and "0 KMSI prompts" in fresh.to_text()
    params = {"apps": {"labels": ["Salesforce.com"]}, "update_default_rule": False}
    apply_acknowledged(post_auth, org.client, post_auth.plan(org.client, params))
    report = audit.run(org.client, {})
    assert report.timeline["title"] == "everyone else on Acme Intranet"
    text = report.to_text()
    assert "now, the user stays signed in: 10 sign-ins, 2 MFA prompts, 2 KMSI prompts" in text
    assert "data:image/svg+xml;base64," in report._repr_html_()
    again = audit.AuditReport.from_dict(report.to_dict())
    assert again.timeline == report.timeline
