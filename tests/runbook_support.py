"""Test support for the runbook tests: an apply run through ``kmsi run``'s runner.

The runner executes the real notebook with papermill in a fresh kernel, against whatever
``OKTA_ORG_URL`` / ``OKTA_API_TOKEN`` the test has set (a sandbox served on loopback).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from kmsi_lib.runbooks import run as runner

if TYPE_CHECKING:
    from kmsi_lib.sandbox import Sandbox

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


def served_sandbox(token: str | None = None) -> Iterator[tuple[Sandbox, str]]:
    """A sandbox seeded ``default`` (with ``token`` as its API token when given) served on a
    free loopback port: yields it and its URL, and stops serving afterwards (``yield from``
    it in a fixture)."""
    from kmsi_lib.sandbox import Sandbox

    sandbox = Sandbox(seed="default", token=token)
    with sandbox.serve(port=0) as url:
        yield sandbox, url


def point_at_sandbox(
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    token: str | None = None,
    *,
    operator: str | None = None,
) -> None:
    """Set the environment a runbook reads to the sandbox at ``url``: every ``OKTA_`` variable
    unset first (no credential of the machine reaches the run), then ``OKTA_ORG_URL``, and
    ``OKTA_API_TOKEN`` / ``KMSI_OPERATOR`` when given."""
    for key in [k for k in os.environ if k.startswith("OKTA_")]:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("OKTA_ORG_URL", url)
    if token is not None:
        monkeypatch.setenv("OKTA_API_TOKEN", token)
    if operator is not None:
        monkeypatch.setenv("KMSI_OPERATOR", operator)
