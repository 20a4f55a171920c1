"""Test support for the runbook tests: an apply run through ``kmsi run``'s runner.

The runner executes the real notebook with papermill in a fresh kernel, against whatever
``OKTA_ORG_URL`` / ``OKTA_API_TOKEN`` the test has set (a sandbox served on loopback).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from kmsi_lib.runbooks import run as runner

ROOT = Path(__file__).resolve().parent.parent


def apply_runbook(
    notebook: str, params: Mapping[str, object], tmp: Path, *, change_id: str
) -> runner.RunReport:
    """Write ``params`` to ``tmp/<notebook>.yaml`` and apply ``notebooks/<notebook>.ipynb``
    with them (evidence under ``tmp/evidence``, three minutes at most); the run succeeded."""
    file = tmp / f"{notebook}.yaml"
    file.write_text(json.dumps(params), encoding="utf-8")
    report = runner.run_notebook(
        ROOT / "notebooks" / f"{notebook}.ipynb",
        file,
        mode="apply",
        change_id=change_id,
        evidence_root=tmp / "evidence",
        timeout=180,
        progress=False,
    )
    assert report.exit_code == 0, report.message
    return report
