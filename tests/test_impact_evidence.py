"""The evidence of pre-auth, post-auth and prompt-text applies shows what users will see.

Each apply runs through ``kmsi run`` (papermill, a real kernel) against the sandbox over
loopback. Its evidence HTML (the executed notebook) holds the plan's impact section and
the timeline chart (pre-/post-auth) or the prompt preview (prompt text); ``timeline.svg``
lies beside ``result.json``, is listed in the ledger, and the evidence verifies.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from runbook_support import apply_runbook, point_at_sandbox

from kmsi_lib import evidence
from kmsi_lib.sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.fixture()
def org(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[Sandbox, Path]]:
    sandbox = Sandbox(seed="default")
    sandbox.admin.set_org_settings({"preAuthKmsi": True})  # the pre-auth manual step
    with sandbox.serve(port=0) as url:
        point_at_sandbox(monkeypatch, url, sandbox.token, operator="test")
        yield sandbox, tmp_path


def _apply(org: tuple[Sandbox, Path], notebook: str, params: dict[str, Any]) -> Path:
    _, tmp = org
    report = apply_runbook(notebook, params, tmp, change_id="CHG-6060")
    assert report.run_dir is not None
    return report.run_dir


def _html(run_dir: Path) -> str:
    """The executed notebook's HTML and the report's, together (both hold the impact)."""
    report = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "kmsi-impact" in report or 'data-version="after"' in report
    return (run_dir / "notebook.html").read_text(encoding="utf-8")


def _verified(org: tuple[Sandbox, Path], run_dir: Path) -> None:
    _, tmp = org
    assert evidence.verify(tmp / "evidence").ok
    assert "<svg" in (run_dir / "timeline.svg").read_text(encoding="utf-8")
    ledger = (tmp / "evidence" / "ledger.jsonl").read_text(encoding="utf-8")
    assert "timeline.svg" in ledger


def test_post_auth_apply_evidence_has_the_impact_and_the_timeline(
    org: tuple[Sandbox, Path],
) -> None:
    params = {"apps": {"labels": ["Salesforce.com"]}, "acknowledge_reach": 16}
    run_dir = _apply(org, "20_post_auth", params)
    page = _html(run_dir)
    assert 'class="kmsi-impact"' in page and "Any two factors" in page
    assert "kmsi-timeline" in page and "data:image/svg+xml;base64," in page
    result = json.loads((run_dir / "result.json").read_text(encoding="utf-8"))
    assert result["plan"]["impact"]["reached_apps"][0] == "Acme Intranet"
    assert any("acknowledged the plan's reach" in n for n in result["apply_result"]["notes"])
    _verified(org, run_dir)


def test_pre_auth_apply_evidence_has_the_impact_and_the_timeline(
    org: tuple[Sandbox, Path],
) -> None:
    params = {
        "groups": ["KMSI Pilot"],
        "apps": {"labels": ["Partner Portal"]},
        "attestation_by": "test",
        "attestation_statement": "switched on in the sandbox",
    }
    run_dir = _apply(org, "10_pre_auth", params)
    page = _html(run_dir)
    assert 'class="kmsi-impact"' in page and "KMSI pre-authentication" in page
    assert "kmsi-timeline" in page and "data:image/svg+xml;base64," in page
    _verified(org, run_dir)


def test_prompt_text_apply_evidence_has_the_preview(org: tuple[Sandbox, Path]) -> None:
    run_dir = _apply(org, "30_prompt_text", {"brands": "all", "title": "Stay signed in?"})
    page = _html(run_dir)
    assert 'data-version="after"' in page and "Stay signed in?" in page
    _, tmp = org
    assert evidence.verify(tmp / "evidence").ok
