"""An interrupted apply still leaves a failed record of every write that landed.

A cell timeout, Ctrl-C or SIGTERM to ``kmsi run``, or a kernel that dies,
can stop an apply between two writes. The evidence must then say which
writes landed, with their before-state (so that a rollback can undo them),
the run must be in the ledger as failed, and nothing may stay in
``.staging``. The sandbox runs on loopback with slow writes so that the stop
lands mid-apply; its own request log is the witness of what landed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kmsi_lib import evidence
from kmsi_lib.engine import Change, ObjectRef, Plan, recover_apply_result
from kmsi_lib.runbooks import run as runner
from kmsi_lib.sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "20_post_auth.ipynb"
PARAMS = {
    "apps": {"labels": ["Slack", "Zoom", "Workday"]},
    "prompt_frequency": "P7D",
    "acknowledge_reach": 19,  # Slack and Zoom share their policy with 14 more apps, Workday with 2
}

pytestmark = pytest.mark.slow


@pytest.fixture()
def org(tmp_path: Path) -> Iterator[tuple[Sandbox, str, Path]]:
    sandbox = Sandbox(seed="default")
    params = tmp_path / "post_auth.yaml"
    params.write_text(json.dumps(PARAMS), encoding="utf-8")
    with sandbox.serve(port=0) as url:
        yield sandbox, url, params


def _env(sandbox: Sandbox, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKTA_")}
    return {**env, "OKTA_ORG_URL": url, "OKTA_API_TOKEN": sandbox.token, "KMSI_OPERATOR": "t"}


def _puts(sandbox: Sandbox) -> list[str]:
    return [
        r["path"]
        for r in sandbox.admin.requests()
        if r["method"] == "PUT" and r["path"].startswith("/api/v1/") and r["status"] == 200
    ]


def _only_run(root: Path) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    assert not any((root / evidence.STAGING_DIR).iterdir()), "nothing left in .staging"
    (entry,) = [e for e in evidence.read_ledger(root) if e["mode"] == "apply"]
    run_dir = root / entry["path"]
    record = json.loads((run_dir / "record.json").read_text())
    result = json.loads((run_dir / "result.json").read_text())
    return run_dir, record, result


def _assert_every_landed_write_is_recorded(sandbox: Sandbox, result: dict[str, Any]) -> None:
    time.sleep(4.5)  # a write still in the server's latency lands now
    landed = _puts(sandbox)
    assert landed, "the stop came after at least one write"
    applied = result["apply_result"]
    recorded = {
        f"/api/v1/policies/{a['change']['ref']['parent_id']}/rules/{a['change']['ref']['id']}"
        for a in applied["applied"]
        if a["change"]["kind"] == "rule"
    }
    recorded |= {
        f"/api/v1/policies/{a['change']['ref']['id']}"
        for a in applied["applied"]
        if a["change"]["kind"] == "policy"
    }
    assert set(landed) <= recorded, (landed, recorded)
    assert applied["outcome"] == "failed"
    befores = {b["ref"]["id"]: b["before"] for b in applied["before_state"]}
    for change in applied["applied"]:
        assert befores[change["change"]["ref"]["id"]] == change["change"]["before"]


def test_a_cell_timeout_mid_apply_leaves_a_failed_record_with_the_writes(
    org: tuple[Sandbox, str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox, url, params = org
    for key, value in _env(sandbox, url).items():
        monkeypatch.setenv(key, value)
    for key in [k for k in os.environ if k.startswith("OKTA_") and k not in _env(sandbox, url)]:
        monkeypatch.delenv(key)
    sandbox.admin.add_fault({"action": "latency", "match": {"method": "PUT"}, "latency_ms": 4000})
    root = tmp_path / "evidence"
    plan = runner.run_notebook(
        NOTEBOOK, params, mode="plan", change_id="CHG-71", evidence_root=root, progress=False
    )
    assert plan.exit_code == 0 and plan.run_dir is not None
    report = runner.run_notebook(
        NOTEBOOK,
        params,
        mode="apply",
        change_id="CHG-71",
        approved_plan=plan.run_dir,
        evidence_root=root,
        timeout=6,
        progress=False,
    )
    assert report.exit_code == runner.EXIT_FAILED, report.message
    run_dir, record, result = _only_run(root)
    assert record["status"] == "failed" and record["outcome"] == "failed"
    assert record["apply_result"] is not None, "the before-state a rollback needs"
    assert (run_dir / "apply-progress.jsonl").is_file()
    _assert_every_landed_write_is_recorded(sandbox, result)
    assert evidence.verify(root).ok

    # a rerun converges: plan again, apply what is left, verified
    sandbox.admin.clear_faults()
    again = runner.run_notebook(
        NOTEBOOK, params, mode="apply", change_id="CHG-72", evidence_root=root, progress=False
    )
    assert again.exit_code == 0, again.message
    assert again.record is not None and again.record["verification"]["ok"]


def _kill_the_kernel(proc: subprocess.Popen[str]) -> None:
    import psutil

    kernels = psutil.Process(proc.pid).children(recursive=True)
    assert kernels, "kmsi run has a kernel"
    for kernel in kernels:
        kernel.kill()


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, None], ids=["SIGINT", "SIGTERM", "kernel-death"]
)
def test_a_signal_to_kmsi_run_mid_apply_still_records_the_run(
    org: tuple[Sandbox, str, Path], tmp_path: Path, sig: signal.Signals | None
) -> None:
    sandbox, url, params = org
    sandbox.admin.add_fault({"action": "latency", "match": {"method": "PUT"}, "latency_ms": 1500})
    root = tmp_path / "evidence"
    kmsi = [
        sys.executable,
        "-m",
        "kmsi_lib.cli",
        "run",
        str(NOTEBOOK),
        "-f",
        str(params),
        "--evidence-root",
        str(root),
        "--no-progress",
    ]
    subprocess.run(
        [*kmsi, "--mode", "plan", "--change", "CHG-73"],
        env=_env(sandbox, url),
        check=True,
        capture_output=True,
        timeout=120,
    )
    proc = subprocess.Popen(
        [*kmsi, "--mode", "apply", "--change", "CHG-73"],
        env=_env(sandbox, url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while not _puts(sandbox) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _puts(sandbox), "the apply never wrote"
        if sig is None:
            _kill_the_kernel(proc)
        else:
            proc.send_signal(sig)
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == runner.EXIT_FAILED, err
    assert "kmsi run: run FAILED" in err, err
    if sig is not None:
        assert "interrupted" in err, err
    # the kernel may log its own shutdown; kmsi itself does not crash
    assert "kmsi_lib" not in err.split("Traceback")[-1] if "Traceback" in err else True, err
    _, record, result = _only_run(root)
    assert record["status"] == "failed" and record["error"]
    _assert_every_landed_write_is_recorded(sandbox, result)
    assert evidence.verify(root).ok


def test_recover_apply_result_lists_landed_and_unanswered_writes() -> None:
    before = {"id": "r1", "name": "x", "priority": 1}
    changes = [
        Change(
            "update",
            "rule",
            ObjectRef("rule", f"r{i}", f"rule {i}", "p1"),
            dict(before),
            {**before, "name": "y"},
            [],
        )
        for i in (1, 2, 3)
    ]
    plan = Plan(procedure="post_auth", params={}, org_url="http://o", changes=changes)
    events = [
        {"event": "sending", "index": 0, "ref": changes[0].ref.to_dict()},
        {"event": "landed", "index": 0, "ref": changes[0].ref.to_dict(), "answer": {"id": "r1"}},
        {"event": "sending", "index": 1, "ref": changes[1].ref.to_dict()},
    ]
    result = recover_apply_result(plan, events, why="interrupted")
    assert [a.change.ref.id for a in result.applied] == ["r1", "r2"]
    assert [b.before for b in result.before_state] == [before, before]
    assert result.before_state[0].after_written == {"id": "r1"}
    assert result.before_state[1].after_written is None
    assert any("may have landed" in n for n in result.notes)
    assert result.outcome == "failed"
