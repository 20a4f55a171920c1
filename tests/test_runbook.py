"""The notebook-side driver: each step against the sandbox org in-process, and its result.json."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from kmsi_lib.engine import ApplyResult, Plan
from kmsi_lib.errors import (
    ClassicEngineError,
    EvidenceError,
    KmsiError,
    ParameterError,
    StalePlanError,
)
from kmsi_lib.okta.client import OktaClient, RetryPolicy
from kmsi_lib.runbooks import contract
from kmsi_lib.runbooks.runbook import RUNNER_PARAMETERS, Runbook, check_change_id
from kmsi_lib.sandbox import SANDBOX_URL, Sandbox

#: Salesforce.com shares "Any two factors" with 15 other apps: the plan reaches 16
POST_AUTH = {
    "apps": {"labels": ["Salesforce.com"]},
    "prompt_frequency": "P7D",
    "acknowledge_reach": 16,
}
CONTRACT_KEYS = set(contract.RESULT_KEYS)  # their order is pinned in test_contract.py


def client_for(sb: Sandbox) -> OktaClient:
    env = {"OKTA_ORG_URL": SANDBOX_URL, "OKTA_API_TOKEN": sb.token}
    # no retries: a fault injected by a test is final at once instead of after back-off sleeps
    return OktaClient.from_env(
        env=env, transport=sb.transport(), max_api_capacity=1.0, retry=RetryPolicy(max_attempts=1)
    )


def make(sb: Sandbox, tmp_path: Path, procedure: str = "post_auth", **kw: Any) -> Runbook:
    kw.setdefault("params", POST_AUTH)
    shown: list[Any] = []
    rb = Runbook(
        procedure, evidence_dir=str(tmp_path), client=client_for(sb), display=shown.append, **kw
    )
    rb.shown = shown  # type: ignore[attr-defined]  # what the notebook would display
    return rb


def result(tmp_path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((tmp_path / "result.json").read_text())
    return data


def journal(tmp_path: Path) -> list[dict[str, Any]]:
    """The journal file of a run, as ``result.json``'s summary names it."""
    from kmsi_lib.evidence import read_journal

    return read_journal(tmp_path, result(tmp_path)["journal"])


def app_rule(sb: Sandbox, label: str = "Salesforce.com") -> dict[str, Any]:
    """The Catch-all rule of the app's authentication policy, read straight from the sandbox."""
    with httpx.Client(
        base_url=SANDBOX_URL,
        transport=sb.transport(),
        headers={"Authorization": f"SSWS {sb.token}"},
    ) as http:
        app = next(a for a in http.get("/api/v1/apps").json() if a["label"] == label)
        policy_id = app["_links"]["accessPolicy"]["href"].rsplit("/", 1)[-1]
        rules = http.get(f"/api/v1/policies/{policy_id}/rules").json()
    rule: dict[str, Any] = next(r for r in rules if r["name"] == "Catch-all Rule")
    return rule


@pytest.fixture
def sb() -> Sandbox:
    return Sandbox(seed="default")


def test_plan_mode_plans_writes_result_and_changes_nothing(sb: Sandbox, tmp_path: Path) -> None:
    """In plan mode the plan is shown and recorded; apply and verify write and check nothing."""
    before = app_rule(sb)
    rb = make(sb, tmp_path)
    rb.connect()
    assert result(tmp_path)["org"] == {
        "url": SANDBOX_URL,
        "pipeline": "idx",
        "type": "Identity Engine",
    }
    plan = rb.plan()
    assert isinstance(plan, Plan) and plan.changes
    assert rb.apply() is None and rb.verify() is None
    out = rb.finish()
    data = result(tmp_path)
    assert set(data) >= CONTRACT_KEYS
    assert data == json.loads(json.dumps(out))
    assert data["outcome"] == "planned" and data["error"] is None
    assert data["plan"]["fingerprint"] == plan.fingerprint
    assert data["apply_result"] is None and data["verification"] is None
    reads = [e for e in journal(tmp_path) if "/api/v1/policies/simulate" not in e["path"]]
    assert all(e["method"] == "GET" for e in reads) and reads  # simulation: a POST that reads
    assert app_rule(sb) == before
    assert plan in rb.shown  # type: ignore[attr-defined]


def test_apply_mode_applies_verifies_and_records(sb: Sandbox, tmp_path: Path) -> None:
    """A full apply run changes the org, verifies it and records the before-state."""
    rb = make(sb, tmp_path, mode="apply", change_id="CHG-1001")
    rb.connect()
    rb.plan()
    applied = rb.apply()
    verification = rb.verify()
    rb.finish()
    assert isinstance(applied, ApplyResult) and applied.outcome == "applied"
    assert verification.ok
    rule = app_rule(sb)
    assert rule["actions"]["appSignOn"]["keepMeSignedIn"]["postAuth"] == "ALLOWED"
    data = result(tmp_path)
    assert data["outcome"] == "applied" and data["change_id"] == "CHG-1001"
    assert data["verification"]["ok"] is True and data["verification"]["checks"]
    assert data["apply_result"]["before_state"]
    assert any(e["method"] == "PUT" for e in journal(tmp_path))
    assert sb.token not in (tmp_path / "result.json").read_text()


@pytest.mark.parametrize(
    ("change_id", "message"),
    [
        pytest.param("", "needs the change ticket", id="missing"),
        pytest.param("CHG 1; rm -rf", "not a change ticket of this org", id="malformed"),
        pytest.param("x", "must match", id="not-the-org-pattern"),
    ],
)
def test_apply_refuses_without_a_valid_change_ticket(
    sb: Sandbox, tmp_path: Path, change_id: str, message: str
) -> None:
    """An apply without a usable ticket fails before any write and records why."""
    before = app_rule(sb)
    rb = make(sb, tmp_path, mode="apply", change_id=change_id)
    rb.plan()
    with pytest.raises(ParameterError, match=message) as caught:
        rb.apply()
    assert caught.value.field == "change_id"
    data = result(tmp_path)
    assert data["outcome"] == "failed"
    assert data["error"]["type"] == "ParameterError" and data["error"]["field"] == "change_id"
    assert app_rule(sb) == before


def test_wrong_parameter_is_named_shown_and_recorded(sb: Sandbox, tmp_path: Path) -> None:
    """A bad parameter fails the plan step with the field named, on screen and in result.json."""
    rb = make(sb, tmp_path, params={"apps": {"labels": ["Salesforce"]}, "factor_mode": "3FA"})
    with pytest.raises(ParameterError) as caught:
        rb.plan()
    assert caught.value.field == "factor_mode"
    error = result(tmp_path)["error"]
    assert error["step"] == "plan" and error["field"] == "factor_mode"
    shown = rb.shown[-1]  # type: ignore[attr-defined]
    assert "factor_mode" in shown.to_text() and "factor_mode" in shown._repr_html_()


def test_unknown_app_is_refused_with_a_suggestion(sb: Sandbox, tmp_path: Path) -> None:
    """A name the org does not have is a ParameterError on the list entry (from the procedure)."""
    rb = make(sb, tmp_path, params={"apps": {"labels": ["Salesforce"]}})
    with pytest.raises(ParameterError, match="Salesforce.com"):
        rb.plan()
    assert result(tmp_path)["error"]["field"] == "apps.labels[0]"


def test_classic_org_refused_for_writing_procedures_but_audited(tmp_path: Path) -> None:
    """A Classic Engine org cannot be changed; the read-only audit still connects."""
    classic = Sandbox(seed="classic")
    rb = make(classic, tmp_path / "w")
    with pytest.raises(ClassicEngineError):
        rb.connect()
    data = result(tmp_path / "w")
    assert data["outcome"] == "failed" and data["org"]["pipeline"] == "v1"
    audit = make(classic, tmp_path / "a", procedure="audit", params={})
    audit.connect()
    assert result(tmp_path / "a")["org"]["type"] == "Classic Engine"


def test_approved_plan_is_used_and_checked(sb: Sandbox, tmp_path: Path) -> None:
    """Apply uses the approved plan file; other parameters or a drifted org are refused."""
    planner = make(sb, tmp_path / "plan")
    planned = planner.plan()
    approved = tmp_path / "plan" / "result.json"

    other = make(
        sb,
        tmp_path / "other",
        mode="apply",
        change_id="CHG-2",
        params={**POST_AUTH, "prompt_frequency": "P1D"},
        approved_plan=str(approved),
    )
    with pytest.raises(ParameterError, match="prompt_frequency"):
        other.plan()

    rb = make(sb, tmp_path / "apply", mode="apply", change_id="CHG-2", approved_plan=str(approved))
    loaded = rb.plan()
    assert loaded.fingerprint == planned.fingerprint
    assert loaded.created_at == planned.created_at  # the approved plan itself, not a new one
    assert rb.apply().outcome == "applied"

    # the org has moved on since the first plan: applying it again is refused
    stale = make(
        sb, tmp_path / "stale", mode="apply", change_id="CHG-3", approved_plan=str(approved)
    )
    stale.plan()
    with pytest.raises(StalePlanError):
        stale.apply()
    assert result(tmp_path / "stale")["error"]["type"] == "StalePlanError"


def test_rollback_is_applied_with_its_approved_plan(sb: Sandbox, tmp_path: Path) -> None:
    """A rollback plan records what it reverses ("rolls_back"); its approval still matches."""
    applier = make(sb, tmp_path / "apply", mode="apply", change_id="CHG-4")
    applier.plan()
    assert applier.apply().outcome == "applied"
    # a path is trusted only as recorded evidence (a run in a ledger), as kmsi run leaves it
    from procedure_support import record_apply

    run_dir = record_apply(
        tmp_path / "evidence", result(tmp_path / "apply")["apply_result"], change_id="CHG-4"
    )
    params = {"apply_result": str(run_dir / "result.json")}
    planner = make(sb, tmp_path / "plan", procedure="rollback", params=params)
    planned = planner.plan()
    assert planned.params["rolls_back"]["procedure"] == "post_auth" and planned.changes
    approved = str(tmp_path / "plan" / "result.json")

    other = make(
        sb,
        tmp_path / "other",
        procedure="rollback",
        mode="apply",
        change_id="CHG-5",
        params={**params, "force_objects": ["0pr-someone-else"]},
        approved_plan=approved,
    )
    with pytest.raises(ParameterError, match=r"differs in: force_objects\)"):
        other.plan()

    rb = make(
        sb,
        tmp_path / "rollback",
        procedure="rollback",
        mode="apply",
        change_id="CHG-5",
        params=params,
        approved_plan=approved,
    )
    loaded = rb.plan()
    assert loaded.created_at == planned.created_at  # the approved plan itself
    done = rb.apply()
    assert done is not None and done.outcome == "applied"
    assert app_rule(sb) == app_rule(Sandbox(seed="default")) | {
        k: app_rule(sb)[k] for k in ("id", "created", "lastUpdated", "_links")
    }
    assert rb.verify().ok and result(tmp_path / "rollback")["verification"]["ok"] is True


def test_approved_plan_edited_after_it_was_made_is_refused(sb: Sandbox, tmp_path: Path) -> None:
    """Without the runner (JupyterLab) the plan's digest still catches an edited change."""
    make(sb, tmp_path / "plan").plan()
    approved = tmp_path / "plan" / "result.json"
    data = json.loads(approved.read_text())
    rule = data["plan"]["changes"][0]["after"]
    rule["actions"]["appSignOn"]["keepMeSignedIn"]["postAuthPromptFrequency"] = "P90D"
    approved.write_text(json.dumps(data))
    sb.admin.clear_requests()
    rb = make(sb, tmp_path / "apply", mode="apply", change_id="CHG-6", approved_plan=str(approved))
    with pytest.raises(EvidenceError, match="edited after it was made"):
        rb.plan()
    assert result(tmp_path / "apply")["error"]["type"] == "EvidenceError"
    assert {r["method"] for r in sb.admin.requests()} <= {"GET"}


def test_manual_steps_need_an_attestation_from_the_parameters(sb: Sandbox, tmp_path: Path) -> None:
    """Pre-auth KMSI has an Admin Console step: apply needs attestation_by and a statement."""
    params = {
        "groups": ["KMSI Pilot"],
        "apps": {"labels": ["Salesforce.com"]},
        "acknowledge_reach": 24,
    }
    rb = make(
        sb, tmp_path / "none", procedure="pre_auth", params=params, mode="apply", change_id="CHG-7"
    )
    rb.plan()
    with pytest.raises(ParameterError) as caught:
        rb.apply()
    assert caught.value.field == "attestation_by"

    sb.admin.set_org_settings({"preAuthKmsi": True})  # the admin's manual step
    namespace = {
        **params,
        "mode": "apply",
        "change_id": "CHG-7",
        "evidence_dir": str(tmp_path / "ok"),
        "approved_plan": "",
        "interactive": False,
        "attestation_by": "ann.admin",
        "attestation_at": "",
        "attestation_statement": "Enabled it in Security > General.",
        "unrelated": 42,
    }
    ok = Runbook.from_parameters(
        "pre_auth", namespace, client=client_for(sb), display=lambda _: None
    )
    assert ok.params == params
    ok.plan(show=False)
    applied = ok.apply(show=False)
    assert applied is not None and applied.attestation is not None
    assert applied.attestation.by == "ann.admin"
    assert ok.verify(show=False).ok
    assert result(tmp_path / "ok")["apply_result"]["attestation"]["statement"].startswith("Enab")


def test_failed_write_leaves_partial_evidence(sb: Sandbox, tmp_path: Path) -> None:
    """A server error on the write fails the step; result.json keeps the error and journal."""
    sb.admin.add_fault(
        {"match": {"method": "PUT", "path": "/api/v1/policies/*"}, "status": 500, "count": 50}
    )
    rb = make(sb, tmp_path, mode="apply", change_id="CHG-9")
    rb.plan()
    with pytest.raises(KmsiError):
        rb.apply()
    data = result(tmp_path)
    assert data["outcome"] == "failed" and data["error"]["step"] == "apply"
    assert any(e["method"] == "PUT" and e["status"] == 500 for e in journal(tmp_path))


def test_interrupt_is_recorded_and_propagates(sb: Sandbox, tmp_path: Path) -> None:
    """An interrupt (how papermill stops a cell that timed out) still leaves the evidence."""
    rb = make(sb, tmp_path)

    def interrupted(*_args: Any) -> Any:
        raise KeyboardInterrupt

    rb.procedure = dataclasses.replace(rb.procedure, title="slow", scopes=(), plan=interrupted)
    with pytest.raises(KeyboardInterrupt):
        rb.plan()
    data = result(tmp_path)
    assert data["outcome"] == "failed"
    assert data["error"] == {
        "step": "plan",
        "type": "KeyboardInterrupt",
        "message": "interrupted (Ctrl-C, SIGTERM or the cell's time limit) before the step ended",
    }


def test_connect_failure_inside_plan_is_recorded_once(tmp_path: Path) -> None:
    """Plan connects on demand; a refused connection is reported as the connect step, once."""
    rb = make(Sandbox(seed="classic"), tmp_path)
    with pytest.raises(ClassicEngineError):
        rb.plan()
    assert result(tmp_path)["error"]["step"] == "connect"
    errors = [s for s in rb.shown if "ClassicEngineError" in s.to_text()]  # type: ignore[attr-defined]
    assert len(errors) == 1


def test_audit_outcome_and_findings_do_not_fail_the_run(sb: Sandbox, tmp_path: Path) -> None:
    """The audit's plan is its report (outcome audited); its verification is recorded."""
    rb = make(sb, tmp_path, procedure="audit", params={})
    report = rb.plan()
    verification = rb.verify()
    rb.finish()
    data = result(tmp_path)
    assert data["outcome"] == "audited"
    assert data["plan"] == json.loads(json.dumps(report.to_dict()))
    assert data["verification"]["ok"] == verification.ok


def test_bulk_progress_is_reported(sb: Sandbox, tmp_path: Path) -> None:
    """Session resets report progress (done, total) to the caller as users complete."""
    rb = make(
        sb,
        tmp_path,
        procedure="reset_sessions",
        mode="apply",
        change_id="CHG-5",
        params={"group": "KMSI Pilot"},
    )
    plan = rb.plan()
    calls: list[tuple[int, int]] = []
    rb.apply(progress=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1] == (len(plan.changes), len(plan.changes))
    assert result(tmp_path)["outcome"] == "applied"


def test_text_display_outside_ipython(
    sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without IPython the steps print plain text: the connection and the plan table."""
    rb = Runbook("post_auth", params=POST_AUTH, evidence_dir=str(tmp_path), client=client_for(sb))
    rb.connect()
    rb.plan()
    out = capsys.readouterr().out
    assert f"Connected to {SANDBOX_URL}" in out
    assert "keepMeSignedIn.postAuth" in out and "<table>" not in out


def test_empty_evidence_dir_means_a_temporary_one(sb: Sandbox) -> None:
    rb = Runbook("audit", params={}, client=client_for(sb), display=lambda _: None)
    rb.connect()
    assert rb.result_path.is_file()


def test_runner_parameters_match_the_contract() -> None:
    from kmsi_lib.runbooks.params import RUNNER_PARAMETERS as RUNNER_SIDE

    assert set(RUNNER_PARAMETERS) == set(RUNNER_SIDE)


@pytest.mark.parametrize("value", ["CHG-1", "OPS2-77", "DEMO-20261202"])
def test_change_ids_accepted(value: str) -> None:
    assert check_change_id(f" {value} ") == value


def test_unknown_procedure_and_mode() -> None:
    with pytest.raises(ParameterError, match="procedures are"):
        Runbook("nope", params={})
    with pytest.raises(ParameterError) as caught:
        Runbook("audit", params={}, mode="yolo")
    assert caught.value.field == "mode"
