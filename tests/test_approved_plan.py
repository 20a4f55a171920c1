"""Approved plans: apply exactly what was approved, refuse anything else.

The refusals are checked against a plan recorded by the ``ok`` fixture
notebook (they happen before any kernel starts); the full flow, including an
org that drifted after the plan, runs the real post-auth runbook against the
sandbox served over loopback.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from runbook_support import point_at_sandbox, served_sandbox

from kmsi_lib import cli, evidence
from kmsi_lib.errors import EvidenceError
from kmsi_lib.runbooks import approval
from kmsi_lib.runbooks import run as runner

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"
ROOT = Path(__file__).resolve().parent.parent
ORG = "http://127.0.0.1:9"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def _recorded_plan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One plan run of the ``ok`` fixture notebook, recorded in its own evidence root."""
    base = tmp_path_factory.mktemp("approved")
    params = base / "params.yaml"
    params.write_text("apps: {labels: [Payroll]}\nrule_name: KMSI for staff\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("OKTA_CLIENT_ID", raising=False)
        mp.setenv("OKTA_ORG_URL", ORG)
        mp.setenv("OKTA_API_TOKEN", "fake-approval-token-0123456789")
        report = runner.run_notebook(
            FIXTURES / "ok.ipynb",
            params,
            change_id="CHG-7",
            evidence_root=base / "evidence",
            progress=False,
        )
    assert report.exit_code == 0 and report.run_dir is not None
    yield base


@pytest.fixture
def plan_run(_recorded_plan: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy of the recorded plan's evidence root; returns the plan's run directory."""
    shutil.copytree(_recorded_plan, tmp_path, dirs_exist_ok=True)
    monkeypatch.delenv("OKTA_CLIENT_ID", raising=False)
    monkeypatch.setenv("OKTA_ORG_URL", ORG)
    monkeypatch.setenv("OKTA_API_TOKEN", "fake-approval-token-0123456789")
    (run_dir,) = (tmp_path / "evidence" / "CHG-7").iterdir()
    return run_dir


def _root_of(run_dir: Path) -> Path:
    return (run_dir if run_dir.is_dir() else run_dir.parent).parent.parent


def _check(
    run_dir: Path,
    *,
    params: dict[str, object] | None = None,
    org: str = ORG,
    procedure: str = "post_auth",
    change_id: str = "CHG-7",
) -> dict[str, object]:
    return approval.check_approved_plan(
        run_dir,
        procedure=procedure,
        params=params or {"apps": {"labels": ["Payroll"]}, "rule_name": "KMSI for staff"},
        org_url=org,
        evidence_root=_root_of(run_dir),
        change_id=change_id,
    ).plan


def test_matching_plan_is_accepted(plan_run: Path) -> None:
    """Same procedure, same parameters (defaults spelled out or not), same org: accepted."""
    plan = _check(plan_run)
    assert plan["procedure"] == "post_auth"
    approved = approval.check_approved_plan(
        plan_run / "record.json",
        procedure="post_auth",
        params={
            "apps": {"labels": ["Payroll"]},
            "rule_name": "KMSI for staff",
            "factor_mode": "2FA",
        },
        org_url=ORG + "/",
        evidence_root=_root_of(plan_run),
        change_id="CHG-7",
    )
    assert approved.plan == plan  # the same plan, with the run it was verified in
    assert approved.run.run_dir == plan_run
    assert approved.run.record["run_id"] == plan_run.name


def _tamper_plan(run_dir: Path) -> None:
    path = run_dir / "record.json"
    record = json.loads(path.read_text())
    record["plan"]["changes"] = [{"action": "delete", "kind": "policy", "ref": {"id": "rst1"}}]
    path.write_text(json.dumps(record))


def _forge_and_rehash(run_dir: Path) -> None:
    """Edit the record, then fix up its ledger line's hashes to match the forgery."""
    _tamper_plan(run_dir)
    root = run_dir.parent.parent
    lines = (root / "ledger.jsonl").read_text().splitlines()
    entry = json.loads(lines[0])
    entry["record_sha256"] = entry["files"]["record.json"] = evidence.sha256_file(
        run_dir / "record.json"
    )
    entry["hash"] = evidence.entry_hash(entry["prev_hash"], entry)
    (root / "ledger.jsonl").write_text("\n".join([json.dumps(entry), *lines[1:]]) + "\n")


@pytest.mark.parametrize(
    ("tamper", "words"),
    [
        pytest.param(_tamper_plan, "does not verify", id="edited-plan"),
        pytest.param(
            lambda d: (d / "notebook.html").unlink(), "does not verify", id="removed-file"
        ),
        pytest.param(
            lambda d: (d.parent.parent / "ledger.jsonl").write_text(""),
            "lines were removed from its end",
            id="ledger-emptied",
        ),
    ],
)
def test_tampered_plan_is_refused(plan_run: Path, tamper: object, words: str) -> None:
    tamper(plan_run)  # type: ignore[operator]
    with pytest.raises(EvidenceError) as info:
        _check(plan_run)
    assert words in str(info.value)


def test_forged_ledger_line_is_refused(plan_run: Path) -> None:
    """Re-hashing a forged line breaks the link to the line recorded after it."""
    evidence.append_ledger(plan_run.parent.parent, {"kind": "note", "run_id": "later"})
    _forge_and_rehash(plan_run)
    with pytest.raises(EvidenceError) as info:
        _check(plan_run)
    assert "prev_hash does not match" in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        pytest.param(
            {"params": {"apps": {"labels": ["Payroll"]}, "rule_name": "Another rule"}},
            "other parameters (differs in: rule_name)",
            id="other-params",
        ),
        pytest.param({"org": "http://127.0.0.1:10"}, "for the org", id="other-org"),
        pytest.param(
            {"procedure": "pre_auth", "params": {"groups": ["x"]}},
            "procedure",
            id="other-procedure",
        ),
    ],
)
def test_plan_for_something_else_is_refused(
    plan_run: Path, kwargs: dict[str, object], words: str
) -> None:
    with pytest.raises(EvidenceError) as info:
        _check(plan_run, **kwargs)  # type: ignore[arg-type]
    assert words in str(info.value)


def test_failed_or_apply_run_cannot_be_approved(plan_run: Path) -> None:
    """Only a successful plan run is a plan: re-record it as an apply and it is refused."""
    root = plan_run.parent.parent
    record = json.loads((plan_run / "record.json").read_text())
    staged = root / ".staging" / "again"
    staged.mkdir(parents=True)
    for name in ("notebook.ipynb", "result.json"):
        shutil.copy(plan_run / name, staged / name)
    meta = evidence.RunMeta(
        run_id="again",
        change_id="CHG-7",
        mode="apply",
        procedure="post_auth",
        notebook="ok.ipynb",
        template_sha256="0" * 64,
        parameters=record["parameters"],
        started_at="t",
        finished_at="t",
        operator="x",
        org_url=ORG,
    )
    recorded = evidence.record_run(root, staged, meta, succeeded=True)
    assert recorded.run_dir is not None
    with pytest.raises(EvidenceError) as info:
        _check(recorded.run_dir)
    assert "not a successful plan run" in str(info.value)


def test_apply_with_approved_plan_passes_the_plan_to_the_notebook(
    plan_run: Path, tmp_path: Path
) -> None:
    """The verified plan is copied into the apply's evidence and its path given to the notebook."""
    params = tmp_path / "params.yaml"
    params.write_text("apps: {labels: [Payroll]}\nrule_name: KMSI for staff\n")
    report = runner.run_notebook(
        FIXTURES / "ok.ipynb",
        params,
        mode="apply",
        change_id="CHG-7",
        approved_plan=plan_run,
        evidence_root=tmp_path / "evidence",
        progress=False,
    )
    assert report.exit_code == 0 and report.run_dir is not None and report.record is not None
    copied = json.loads((report.run_dir / "approved-plan.json").read_text())
    assert copied == json.loads((plan_run / "record.json").read_text())["plan"]
    # the fixture notebook echoes the approved_plan parameter it was given
    given = report.record["plan"]["approved"]
    assert given.endswith("approved-plan.json") and Path(given).name == "approved-plan.json"
    assert report.record["approved_plan"]["run_id"] == plan_run.name
    assert evidence.verify(tmp_path / "evidence").ok


def test_refused_approval_runs_nothing(
    plan_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("apps: {labels: [Payroll]}\nrule_name: Another rule\n")
    code = cli.main(
        [
            "run",
            str(FIXTURES / "ok.ipynb"),
            "-f",
            str(params),
            "--mode",
            "apply",
            "--change",
            "CHG-7",
            "--approved-plan",
            str(plan_run),
            "--evidence-root",
            str(tmp_path / "evidence"),
        ]
    )
    assert code == runner.EXIT_USAGE
    assert "other parameters" in capsys.readouterr().err
    assert len(evidence.read_ledger(tmp_path / "evidence")) == 1  # only the plan itself
    assert not list((tmp_path / "evidence" / evidence.STAGING_DIR).glob("*")), "no run begun"


# ---------------------------------------------------------------- the real runbook


@pytest.fixture(scope="module")
def _served() -> Iterator[tuple[Any, str]]:
    yield from served_sandbox()


@pytest.fixture
def live(_served: tuple[Any, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    sb, url = _served
    sb.admin.reset("default")
    point_at_sandbox(monkeypatch, url, sb.token)
    return sb


def _post_auth(root: Path, mode: str, approved: Path | None = None) -> runner.RunReport:
    return runner.run_notebook(
        ROOT / "notebooks" / "20_post_auth.ipynb",
        ROOT / "params" / "sandbox" / "post_auth.yaml",
        mode=mode,
        change_id="CHG-100",
        approved_plan=approved,
        evidence_root=root,
        progress=False,
        timeout=120,
    )


def _drift_slack_rule(sb: Any) -> None:
    """Someone edits Slack's catch-all rule in the Admin Console after the plan was made."""
    state = sb.admin.snapshot()
    app_id = next(i for i, a in state["apps"].items() if a["label"] == "Slack")
    policy_id = state["app_policy"][app_id]["policyId"]
    rule_id = next(r for r, v in state["rules"][policy_id].items() if v["name"] == "Catch-all Rule")
    with sb.client() as http:
        path = f"/api/v1/policies/{policy_id}/rules/{rule_id}"
        rule = http.get(path).json()
        rule["actions"]["appSignOn"]["verificationMethod"]["reauthenticateIn"] = "PT1H"
        assert http.put(path, json=rule).status_code == 200


def test_plan_then_apply_exactly_that_plan(live: Any, tmp_path: Path) -> None:
    """The apply runs the approved plan (same fingerprint) and records which plan it was."""
    root = tmp_path / "evidence"
    plan = _post_auth(root, "plan")
    assert plan.exit_code == 0 and plan.run_dir is not None and plan.record is not None
    applied = _post_auth(root, "apply", approved=plan.run_dir)
    assert applied.exit_code == 0, applied.message
    assert applied.record is not None
    assert applied.record["plan"]["fingerprint"] == plan.record["plan"]["fingerprint"]
    assert applied.record["approved_plan"]["run_id"] == plan.run_id
    assert applied.record["verification"]["ok"] is True
    assert evidence.verify(root).ok
    # The same plan, edited afterwards (a change slipped in), is refused before any kernel.
    _tamper_plan(plan.run_dir)
    with pytest.raises(EvidenceError, match="does not verify"):
        _post_auth(root, "apply", approved=plan.run_dir)
    assert len(evidence.read_ledger(root)) == 2


def test_drifted_org_refuses_the_approved_plan(live: Any, tmp_path: Path) -> None:
    """The org changed after the plan: the apply writes nothing, records failure, exits 1."""
    root = tmp_path / "evidence"
    plan = _post_auth(root, "plan")
    assert plan.exit_code == 0 and plan.run_dir is not None
    _drift_slack_rule(live)
    live.admin.clear_requests()
    applied = _post_auth(root, "apply", approved=plan.run_dir)
    assert applied.exit_code == runner.EXIT_FAILED
    assert applied.record is not None and applied.record["status"] == "failed"
    assert applied.record["error"]["type"] == "StalePlanError"
    methods = [r["method"] for r in live.admin.requests()]
    assert "GET" in methods, "the apply re-read the org"
    assert not {"PUT", "POST", "DELETE"} & set(methods), "nothing was written"
    assert evidence.verify(root).ok
