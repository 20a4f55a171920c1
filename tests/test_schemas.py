"""The committed JSON schemas are current, and real evidence validates against them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from procedure_support import ATTESTATION, apply_acknowledged, make_org
from runbook_support import point_at_sandbox

from kmsi_lib.engine import schemas
from kmsi_lib.procedures import pre_auth, reset_sessions

ROOT = Path(__file__).resolve().parent.parent
POST_AUTH = {"apps": {"labels": ["Salesforce.com"]}, "prompt_frequency": "P7D"}
PRE_AUTH = {"groups": ["KMSI Pilot"], "apps": {"labels": ["Slack"]}, "factor_lifetime_minutes": 200}


@pytest.mark.parametrize("name", sorted(schemas.SCHEMAS))
def test_committed_schema_is_current(name: str) -> None:
    """docs/schemas/<name>.json is what the model generates now."""
    committed = (ROOT / "docs" / "schemas" / f"{name}.json").read_text()
    assert committed == schemas.schema_text(name), (
        f"docs/schemas/{name}.json is stale: run python -m kmsi_lib.engine.schemas docs/schemas"
    )


def _valid(name: str, data: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(schemas.json_schema(name)).validate(
        json.loads(json.dumps(data))
    )


def test_plans_results_and_verifications_of_real_runs_match_their_schemas() -> None:
    """A plan with a manual step, its apply and a bulk reset validate; an edited shape does not."""
    org = make_org()
    org.sandbox.admin.set_org_settings({"preAuthKmsi": True})  # the Admin Console step
    plan = pre_auth.plan(org.client, PRE_AUTH)
    _valid("plan", plan.to_dict())
    result = apply_acknowledged(pre_auth, org.client, plan, attestation=ATTESTATION)
    _valid("apply_result", result.to_dict())
    _valid("verification", pre_auth.verify(org.client, PRE_AUTH).to_dict())
    resets = {"group": "KMSI Pilot", "forget_devices": False, "oauth_tokens": True}
    reset = reset_sessions.apply(org.client, reset_sessions.plan(org.client, resets))
    _valid("apply_result", reset.to_dict())
    with pytest.raises(jsonschema.ValidationError):
        _valid("plan", {**plan.to_dict(), "surprise": 1})
    without = plan.to_dict()
    del without["digest"]
    with pytest.raises(jsonschema.ValidationError):
        _valid("plan", without)


def _nested_valid(result: dict[str, Any]) -> None:
    """A run's plan, apply result and verification match their own schemas too."""
    if result.get("plan") and result["plan"].get("digest"):  # a Plan (not an audit report)
        _valid("plan", result["plan"])
    if result.get("apply_result"):
        _valid("apply_result", result["apply_result"])
    if result.get("verification"):
        _valid("verification", result["verification"])


@pytest.mark.slow
def test_result_and_record_of_a_real_kmsi_run_match_their_schemas(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`kmsi run` of the post-auth runbook (apply, a real kernel): result.json and record.json
    validate, as do the plan, apply result and verification inside them; an unknown key,
    a missing one or a wrong outcome does not."""
    from kmsi_lib.runbooks import run as runner
    from kmsi_lib.sandbox import Sandbox

    sandbox = Sandbox(seed="default")
    with sandbox.serve(port=0) as url:
        point_at_sandbox(monkeypatch, url, sandbox.token, operator="test")
        params = tmp_path / "post_auth.yaml"
        params.write_text(json.dumps({**POST_AUTH, "acknowledge_reach": 16}), encoding="utf-8")
        report = runner.run_notebook(
            ROOT / "notebooks" / "20_post_auth.ipynb",
            params,
            mode="apply",
            change_id="CHG-7070",
            evidence_root=tmp_path / "evidence",
            timeout=180,
            progress=False,
        )
    assert report.exit_code == 0, report.message
    assert report.run_dir is not None
    result = json.loads((report.run_dir / "result.json").read_text(encoding="utf-8"))
    record = json.loads((report.run_dir / "record.json").read_text(encoding="utf-8"))
    assert result["outcome"] == record["outcome"] == "applied"
    _valid("run_result", result)
    _valid("record", record)
    _nested_valid(result)
    _nested_valid(record)
    for broken in (
        {**result, "surprise": 1},
        {k: v for k, v in result.items() if k != "journal"},
        {**result, "outcome": "done"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            _valid("run_result", broken)
    without_approval = {k: v for k, v in record.items() if k != "approval"}
    _valid("record", without_approval)  # written only when there is one
    with pytest.raises(jsonschema.ValidationError):
        _valid("record", {**record, "status": "maybe"})


def test_result_json_the_runbook_writes_matches_run_result(tmp_path: Path) -> None:
    """In-process (what the notebook runs): plan then apply and verify, result.json after
    each step validates, and it reads back into the same RunResult."""
    from kmsi_lib.evidence import read_result
    from kmsi_lib.runbooks.contract import RunResult
    from kmsi_lib.runbooks.runbook import Runbook

    org = make_org()
    org.sandbox.admin.set_org_settings({"preAuthKmsi": True})
    rb = Runbook(
        "pre_auth",
        params=PRE_AUTH,
        mode="apply",
        change_id="CHG-7071",
        evidence_dir=str(tmp_path),
        client=org.client,
        attestation=ATTESTATION,
        display=lambda _: None,
    )
    rb.plan()
    _valid("run_result", json.loads((tmp_path / "result.json").read_text()))
    rb.acknowledged_reach = len(rb.last_plan.impact["reached_apps"])  # the form's checkbox
    rb.apply()
    rb.verify()
    rb.finish()
    written = json.loads((tmp_path / "result.json").read_text())
    _valid("run_result", written)
    _nested_valid(written)
    loaded = read_result(tmp_path)
    assert isinstance(loaded, RunResult) and loaded == rb.run
    assert loaded.to_dict() == written


def test_older_result_json_loads_with_defaults_and_unknown_keys_ignored(tmp_path: Path) -> None:
    """A result.json without some keys, with nulls and with keys of a newer runner loads."""
    from kmsi_lib.errors import EvidenceError
    from kmsi_lib.evidence import read_result

    (tmp_path / "result.json").write_text(
        json.dumps({"procedure": None, "outcome": "planned", "newer": {"x": 1}, "journal": None})
    )
    loaded = read_result(tmp_path)
    assert loaded is not None
    assert (loaded.procedure, loaded.outcome, loaded.journal, loaded.plan) == (
        "",
        "planned",
        [],
        None,
    )
    (tmp_path / "result.json").write_text(json.dumps({"outcome": "maybe"}))
    with pytest.raises(EvidenceError, match="not a run result"):
        read_result(tmp_path)
