"""Every runbook executed with papermill against the sandbox served over loopback HTTP.

The module runs ``kmsi demo``'s sequence once (:func:`kmsi_lib.runbooks.demo.run_demo`:
audit, plan then apply of each change with the plan approved, the audit again
and a rollback) against a sandbox whose API token is a canary, then asserts on
each run's evidence JSON and on the sandbox's own state (the independent
witness). A failing run (a fault injected) is checked on a second sandbox.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from runbook_support import point_at_sandbox

from kmsi_lib import evidence
from kmsi_lib.runbooks import demo as demo_runs
from kmsi_lib.runbooks import run as runner

ROOT = Path(__file__).resolve().parent.parent
CANARY = "canary-e2e-" + secrets.token_urlsafe(24)
OKTA_VARS = (
    "OKTA_CLIENT_ID",
    "OKTA_PRIVATE_KEY_FILE",
    "OKTA_PRIVATE_KEY_JWK",
    "OKTA_CLIENT_TOKEN",
    "OKTA_CLIENT_ORGURL",
    "OKTA_API_TOKEN",
    "OKTA_ORG_URL",
)

pytestmark = pytest.mark.slow


def _rule(state: dict[str, Any], app_label: str, rule_name: str) -> dict[str, Any]:
    app_id = next(i for i, a in state["apps"].items() if a["label"] == app_label)
    policy_id = state["app_policy"][app_id]["policyId"]
    return dict(next(r for r in state["rules"][policy_id].values() if r["name"] == rule_name))


def _kmsi(rule: dict[str, Any]) -> Any:
    return (rule.get("actions", {}).get("appSignOn") or {}).get("keepMeSignedIn")


@dataclass
class Demo:
    sandbox: Any
    root: Path
    runs: list[demo_runs.DemoRun]
    seed_state: dict[str, Any]

    def record(self, name: str, mode: str, nth: int = 0) -> dict[str, Any]:
        found = [
            r
            for r in self.runs
            if r.step.notebook.endswith(f"_{name}.ipynb") and r.step.mode == mode
        ]
        report = found[nth].report
        assert report is not None and report.record is not None, found[nth].refused
        return report.record

    def journal(self, name: str, mode: str) -> list[dict[str, Any]]:
        """The request journal of a run, read from its own file as the record names it."""
        run = next(
            r
            for r in self.runs
            if r.step.notebook.endswith(f"_{name}.ipynb") and r.step.mode == mode
        )
        assert run.report is not None and run.report.run_dir is not None
        return evidence.read_journal(run.report.run_dir, self.record(name, mode)["journal"])


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    from kmsi_lib.sandbox import Sandbox

    sandbox = Sandbox(seed="default", token=CANARY)
    seed_state = sandbox.admin.snapshot()
    root = tmp_path_factory.mktemp("e2e") / "evidence"
    with pytest.MonkeyPatch.context() as mp:
        for name in OKTA_VARS:
            mp.delenv(name, raising=False)
        mp.setenv("KMSI_OPERATOR", "e2e")
        runs = demo_runs.run_demo(sandbox, root, project=ROOT, timeout=120, progress=False)
    yield Demo(sandbox, root, runs, seed_state)


def test_every_runbook_ran_in_plan_and_apply_and_the_evidence_verifies(demo: Demo) -> None:
    assert [(r.step.notebook, r.step.mode, r.ok) for r in demo.runs] == [
        (s.notebook, s.mode, True) for s in demo_runs.DEMO_STEPS
    ]
    names = {r.step.notebook for r in demo.runs}
    assert names == {p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    report = evidence.verify(demo.root)
    assert report.ok and report.runs == len(demo_runs.DEMO_STEPS), report.to_text()
    for entry in evidence.read_ledger(demo.root):
        assert entry["change_id"].startswith("DEMO-") and entry["status"] == "succeeded"


def test_plan_runs_only_read(demo: Demo) -> None:
    """A plan (and the audit) sends nothing but GETs (and Okta's policy simulation, a POST that
    only reads), and says what apply would change."""
    for run in demo.runs:
        if run.step.mode != "plan":
            continue
        assert run.report is not None and run.report.record is not None
        record = run.report.record
        assert run.report.run_dir is not None
        journal = evidence.read_journal(run.report.run_dir, record["journal"])
        sent = {e["method"] for e in journal if "/api/v1/policies/simulate" not in e["path"]}
        assert sent <= {"GET"}, run.step
        assert record["outcome"] in {"planned", "audited"}
        assert record["org"]["type"] == "Identity Engine"
        if record["procedure"] != "audit":
            assert record["plan"]["changes"], run.step
    post = demo.record("post_auth", "plan")
    diffs = [d["path"] for c in post["plan"]["changes"] for d in c["diffs"]]
    assert any("keepMeSignedIn" in path for path in diffs)


def test_apply_runs_wrote_verified_and_applied_the_approved_plan(demo: Demo) -> None:
    for name in ("pre_auth", "post_auth", "prompt_text", "reset_sessions", "rollback"):
        plan, apply = demo.record(name, "plan"), demo.record(name, "apply")
        assert apply["outcome"] == "applied" and apply["verification"]["ok"] is True, name
        assert apply["approved_plan"]["run_id"] == plan["run_id"], name
        assert apply["plan"]["fingerprint"] == plan["plan"]["fingerprint"], name
        assert {"PUT", "POST", "DELETE"} & {e["method"] for e in demo.journal(name, "apply")}, name
        assert apply["before_state"] is not None, name
        assert apply["operator"] == "e2e" and apply["notebook"]["template_sha256"]


def test_injected_paths_name_files_of_the_finished_run(demo: Demo) -> None:
    """evidence_dir and approved_plan, as the executed notebook records them, exist after the move.

    They are relative to the notebook's own directory (where Jupyter starts a
    kernel for it), not the staging directory the run was executed in.
    """
    checked = 0
    for run in demo.runs:
        assert run.report is not None and run.report.run_dir is not None
        run_dir = run.report.run_dir
        executed = json.loads((run_dir / "notebook.ipynb").read_text())
        injected = executed["metadata"]["papermill"]["parameters"]
        assert ".staging" not in json.dumps(injected), run.step
        assert (run_dir / injected["evidence_dir"] / "result.json").is_file(), run.step
        if run.step.mode == "apply" and injected["approved_plan"]:
            plan = json.loads((run_dir / injected["approved_plan"]).read_text())
            assert plan["fingerprint"] == run.report.record["plan"]["fingerprint"], run.step
            checked += 1
        assert ".staging" not in (run_dir / "notebook.html").read_text(), run.step
    assert checked >= 5


def test_pre_auth_needs_the_attested_manual_step(demo: Demo) -> None:
    plan, apply = demo.record("pre_auth", "plan"), demo.record("pre_auth", "apply")
    assert plan["plan"]["manual_steps"]
    assert apply["apply_result"]["attestation"]["by"] == "kmsi demo (sandbox admin)"
    state = demo.sandbox.admin.snapshot()
    assert "KMSI pre-authentication" in {p["name"] for p in state["policies"].values()}
    assert demo.sandbox.admin.org_settings["preAuthKmsi"] is True


def test_post_auth_applied_then_rolled_back(demo: Demo) -> None:
    """The apply set post-auth KMSI on Slack's rule; the rollback put the seed's value back."""
    apply = demo.record("post_auth", "apply")
    written = json.dumps(apply["apply_result"]["applied"])
    assert '"postAuthPromptFrequency": "P7D"' in written
    rollback = demo.record("rollback", "apply")
    assert rollback["verification"]["ok"] is True
    assert rollback["parameters"]["apply_result"].endswith("result.json")
    now = _rule(demo.sandbox.admin.snapshot(), "Slack", "Catch-all Rule")
    seeded = _rule(demo.seed_state, "Slack", "Catch-all Rule")
    assert _kmsi(now) == _kmsi(seeded)


def test_prompt_text_and_session_reset_reached_the_org(demo: Demo) -> None:
    pages = json.dumps(demo.sandbox.admin.snapshot()["sign_in_pages"])
    assert "Only on a device you alone use" in pages
    reset = demo.record("reset_sessions", "apply")
    revoked = demo.sandbox.admin.session_revocations()
    assert len(revoked) == len(reset["plan"]["changes"]) > 0


def test_the_canary_token_is_in_no_evidence_file(demo: Demo) -> None:
    files = [p for p in demo.root.rglob("*") if p.is_file()]
    assert len(files) > 4 * len(demo_runs.DEMO_STEPS)
    assert evidence.scan_for_secrets(files, [CANARY]) == []


def test_failing_apply_leaves_failed_evidence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Okta answering 500 to every rule update: exit 1, evidence recorded and marked failed."""
    from kmsi_lib.sandbox import Sandbox

    sandbox = Sandbox(seed="default")
    sandbox.admin.add_fault(
        {"match": {"method": "PUT", "path": "/api/v1/policies/*"}, "status": 500, "count": 100}
    )
    with sandbox.serve(port=0) as url:
        point_at_sandbox(monkeypatch, url, sandbox.token)
        report = runner.run_notebook(
            ROOT / "notebooks" / "20_post_auth.ipynb",
            ROOT / "params" / "sandbox" / "post_auth.yaml",
            mode="apply",
            change_id="CHG-500",
            evidence_root=tmp_path,
            progress=False,
            timeout=120,
        )
    assert report.exit_code == runner.EXIT_FAILED and report.run_dir is not None
    record = json.loads((report.run_dir / "record.json").read_text())
    assert record["status"] == "failed" and record["outcome"] == "failed"
    assert record["error"]["type"] == "ServerError" and record["error"]["step"] == "apply"
    journal = evidence.read_journal(report.run_dir, record["journal"])
    assert any(e.get("status") == 500 for e in journal)
    (entry,) = evidence.read_ledger(tmp_path)
    assert entry["outcome"] == "failed" and entry["change_id"] == "CHG-500"
    assert evidence.verify(tmp_path).ok
