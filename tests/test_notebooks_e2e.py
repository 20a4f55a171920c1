"""Every runbook executed with papermill against the sandbox served over loopback HTTP.

One sandbox (with a canary token) is served for the module and reset to its
seed before each test. Each test runs ``kmsi run``'s machinery
(:func:`kmsi_lib.runner.run_notebook`) and asserts on the evidence JSON and on
the sandbox's own state: the sandbox is the independent witness.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kmsi_lib import evidence, runner

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
PARAMS = ROOT / "params" / "sandbox"
CANARY = "canary-e2e-" + secrets.token_urlsafe(24)

pytestmark = pytest.mark.slow


def notebook(name: str) -> Path:
    found = sorted(NOTEBOOKS.glob(f"[0-9][0-9]_{name}.ipynb"))
    assert found, f"no runbook notebooks/NN_{name}.ipynb"
    return found[0]


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Any, str]]:
    """One sandbox with a canary token, on 127.0.0.1, with the environment pointing at it."""
    from kmsi_lib.sandbox import Sandbox

    sb = Sandbox(seed="default", token=CANARY)
    with sb.serve(port=0) as url, pytest.MonkeyPatch.context() as mp:
        for name in ("OKTA_CLIENT_ID", "OKTA_PRIVATE_KEY_FILE", "OKTA_PRIVATE_KEY_JWK",
                     "OKTA_CLIENT_TOKEN", "OKTA_CLIENT_ORGURL"):
            mp.delenv(name, raising=False)
        mp.setenv("OKTA_ORG_URL", url)
        mp.setenv("OKTA_API_TOKEN", CANARY)
        mp.setenv("KMSI_OPERATOR", "e2e")
        yield sb, url


@pytest.fixture
def sb(served: tuple[Any, str]) -> Any:
    """The served sandbox, reset to its seed with no faults."""
    sandbox = served[0]
    sandbox.admin.reset("default")
    sandbox.admin.clear_faults()
    return sandbox


def run(name: str, mode: str, root: Path, params: Path | None = None,
        **kwargs: Any) -> tuple[runner.RunReport, dict[str, Any]]:
    """Run a runbook; return the report and the record (asserting the evidence verifies)."""
    report = runner.run_notebook(
        notebook(name), params or PARAMS / f"{name}.yaml", mode=mode,
        change_id="CHG-E2E" if mode == "apply" else kwargs.pop("change_id", ""),
        evidence_root=root, progress=False, timeout=120, **kwargs)
    assert report.run_dir is not None, report.message
    record = json.loads((report.run_dir / "record.json").read_text())
    assert evidence.verify(root).ok, evidence.verify(root).to_text()
    for path in report.run_dir.iterdir():
        assert CANARY not in path.read_text(errors="replace"), f"canary in {path.name}"
    return report, record


def _rule(sb: Any, app_label: str, rule_name: str) -> dict[str, Any]:
    state = sb.admin.snapshot()
    app_id = next(i for i, a in state["apps"].items() if a["label"] == app_label)
    policy_id = state["app_policy"][app_id]["policyId"]
    rules = state["rules"][policy_id]
    return dict(next(r for r in rules.values() if r["name"] == rule_name))


def _kmsi(rule: dict[str, Any]) -> Any:
    return (rule.get("actions", {}).get("appSignOn") or {}).get("keepMeSignedIn")


def test_audit(sb: Any, tmp_path: Path) -> None:
    """The audit reads only, records the org type and reports its checks."""
    report, record = run("audit", "plan", tmp_path)
    assert report.exit_code == 0, report.message
    assert record["outcome"] == "audited" and record["status"] == "succeeded"
    assert record["org"]["type"] == "Identity Engine"
    assert record["journal"] and {e["method"] for e in record["journal"]} == {"GET"}
    assert record["verification"]["checks"]
    assert (report.run_dir / "notebook.html").stat().st_size > 10_000  # type: ignore[operator]


def test_post_auth_plan_apply_and_rollback(sb: Any, tmp_path: Path) -> None:
    """Plan shows diffs and writes nothing; apply writes and verifies; rollback restores."""
    before = _rule(sb, "Slack", "Catch-all Rule")
    report, record = run("post_auth", "plan", tmp_path)
    assert report.exit_code == 0 and record["outcome"] == "planned"
    assert record["change_id"] == "PLAN-ONLY"
    diffs = [d for c in record["plan"]["changes"] for d in c["diffs"]]
    assert any("keepMeSignedIn" in d["path"] for d in diffs)
    assert {e["method"] for e in record["journal"]} == {"GET"}
    assert _rule(sb, "Slack", "Catch-all Rule") == before

    report, record = run("post_auth", "apply", tmp_path)
    assert report.exit_code == 0, report.message
    assert record["outcome"] == "applied" and record["verification"]["ok"] is True
    assert record["change_id"] == "CHG-E2E" and record["before_state"]
    assert "PUT" in {e["method"] for e in record["journal"]}
    kmsi = _kmsi(_rule(sb, "Slack", "Catch-all Rule"))
    assert kmsi == {"postAuth": "ALLOWED", "postAuthPromptFrequency": "P7D"}

    rollback = tmp_path / "rollback.yaml"
    rollback.write_text(json.dumps({"apply_result": str(report.run_dir / "result.json")}))
    report, record = run("rollback", "apply", tmp_path, params=rollback)
    assert report.exit_code == 0, report.message
    assert record["verification"]["ok"] is True
    restored = _rule(sb, "Slack", "Catch-all Rule")
    assert _kmsi(restored) == _kmsi(before)


def test_pre_auth_apply_needs_the_manual_step(sb: Any, tmp_path: Path) -> None:
    """Pre-auth KMSI: with the org toggle switched on and an attestation, apply verifies."""
    report, record = run("pre_auth", "plan", tmp_path)
    assert report.exit_code == 0 and record["plan"]["manual_steps"]
    sb.admin.set_org_settings({"preAuthKmsi": True})
    report, record = run("pre_auth", "apply", tmp_path)
    assert report.exit_code == 0, report.message
    assert record["apply_result"]["attestation"]["by"]
    names = {p["name"] for p in sb.admin.snapshot()["policies"].values()}
    assert "KMSI pre-authentication" in names


def test_prompt_text_apply(sb: Any, tmp_path: Path) -> None:
    report, record = run("prompt_text", "apply", tmp_path)
    assert report.exit_code == 0, report.message
    assert record["verification"]["ok"] is True
    pages = json.dumps(sb.admin.snapshot()["sign_in_pages"])
    assert "Only on a device you alone use" in pages


def test_reset_sessions_plan_then_apply(sb: Any, tmp_path: Path) -> None:
    report, record = run("reset_sessions", "plan", tmp_path)
    assert report.exit_code == 0 and record["plan"]["changes"]
    assert sb.admin.session_revocations() == []
    report, record = run("reset_sessions", "apply", tmp_path)
    assert report.exit_code == 0, report.message
    revoked = sb.admin.session_revocations()
    assert len(revoked) == len(record["plan"]["changes"]) > 0


def test_failing_apply_leaves_failed_evidence(sb: Any, tmp_path: Path) -> None:
    """Okta answering 500 to every rule update: exit 1, evidence recorded and marked failed."""
    sb.admin.add_fault({"match": {"method": "PUT", "path": "/api/v1/policies/*"},
                        "status": 500, "count": 100})
    report, record = run("post_auth", "apply", tmp_path)
    assert report.exit_code == runner.EXIT_FAILED
    assert record["status"] == "failed" and record["outcome"] == "failed"
    assert record["error"]["type"] and record["error"]["message"]
    assert any(e.get("status") == 500 for e in record["journal"])
    (entry,) = evidence.read_ledger(tmp_path)
    assert entry["outcome"] == "failed"
