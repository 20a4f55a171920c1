"""The audit against the DISA Okta IDaaS STIG checks it touches, and its SARIF log."""

from __future__ import annotations

import json

from procedure_support import make_org

from kmsi_lib.procedures import audit
from kmsi_lib.procedures.audit_compliance import (
    CONTROLS,
    FINDINGS_SARIF,
    control_results,
    sarif,
)


def _policy(**rule: object) -> list[dict[str, object]]:
    base = {
        "name": "Default Rule",
        "status": "ACTIVE",
        "access": "ALLOW",
        "maxSessionIdleMinutes": 15,
        "maxSessionLifetimeMinutes": 1080,
        "usePersistentCookie": False,
    }
    return [{"name": "Default Policy", "status": "ACTIVE", "rules": [{**base, **rule}]}]


def test_a_rule_that_meets_the_stig_passes_each_control() -> None:
    results = control_results(_policy())
    assert [(r.control, r.passed) for r in results] == [
        ("V-273186", True),
        ("V-273203", True),
        ("V-273206", True),
    ]


def test_each_control_fails_on_its_own_setting() -> None:
    failed = {
        r.control for r in control_results(_policy(maxSessionIdleMinutes=120)) if not r.passed
    }
    assert failed == {"V-273186"}
    unlimited = control_results(_policy(maxSessionLifetimeMinutes=0))
    assert [r.actual for r in unlimited if not r.passed] == ["no limit"]
    cookie = control_results(_policy(usePersistentCookie=True))
    assert [r.control for r in cookie if not r.passed] == ["V-273206"]
    inactive = _policy(usePersistentCookie=True)
    inactive[0]["status"] = "INACTIVE"
    assert control_results(inactive) == []


def test_every_control_cites_its_published_check() -> None:
    for control in CONTROLS:
        assert control.url.endswith(control.id) and control.stig_id.startswith("OKTA-APP-")


def test_the_audit_writes_sarif_and_the_stig_checks_beside_its_findings() -> None:
    org = make_org()
    report = audit.run(org.client, {})
    files = audit.evidence_files(report)
    log = json.loads(files[FINDINGS_SARIF])
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    (run,) = log["runs"]
    rule_ids = {r["id"] for r in run["tool"]["driver"]["rules"]}
    assert {r["ruleId"] for r in run["results"]} <= rule_ids
    # the seeded Default Rule: idle 120 minutes, no session lifetime limit
    assert {"V-273186", "V-273203"} <= {r["ruleId"] for r in run["results"]}
    assert {f.code for f in report.findings} <= rule_ids
    for result in run["results"]:
        assert result["level"] in ("error", "warning", "note") and result["message"]["text"]
        assert result["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]
    compliance = json.loads(files["compliance.json"])
    assert compliance["failed"] >= 2 and "stricter than the STIG" in compliance["reading"]
    assert "DISA Okta IDaaS STIG checks: " in report.to_text()
    assert "V-273186" in report._repr_html_()


def test_findings_map_to_the_controls_they_bear_on() -> None:
    from kmsi_lib.procedures.audit_rules import Finding

    finding = Finding.from_dict(
        {
            "severity": "medium",
            "code": "persistent-cookie",
            "kind": "sign_on_rule",
            "object_id": "r1",
            "object_name": "Default Rule",
            "message": "persistent cookies",
        }
    )
    log = sarif([finding], [], org_url="https://acme.okta.com")
    (rule,) = log["runs"][0]["tool"]["driver"]["rules"]
    assert rule["properties"]["stig"] == ["V-273206"]
    assert log["runs"][0]["results"][0]["level"] == "warning"
