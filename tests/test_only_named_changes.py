"""Only what the operator names changes: no value written in a notebook takes part in a run.

papermill replaces only the parameters it is given; every other name keeps the
value written in the notebook's ``parameters`` cell. These tests pin the two
defences: the cells carry the procedure model's defaults (``None`` for what
is required, so nothing is selected by a notebook), and ``kmsi run`` injects
the complete parameter set. Then each writing runbook runs through papermill
against the sandbox over loopback with a *minimal* params file, and the
sandbox's own request log shows that nothing outside what the file names was
written.
"""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kmsi_lib.procedures import REGISTRY
from kmsi_lib.runbooks import run as runner
from kmsi_lib.runbooks.params import notebook_info
from kmsi_lib.sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
OKTA_VARS = [k for k in os.environ if k.startswith("OKTA_")]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cells_carry_the_models_defaults_and_select_nothing(path: Path) -> None:
    info = notebook_info(path)
    model = REGISTRY[info.procedure].params
    for name, field in model.model_fields.items():
        assert name in info.parameters, f"{path.name} does not declare {name}"
        written = ast.literal_eval(info.parameters[name].default)
        if field.is_required():
            assert written is None, f"{path.name}: {name} is required, the cell must say None"
            assert "required" in info.parameters[name].help, f"{name}: say it is required"
        else:
            default = field.get_default(call_default_factory=True)
            dump = getattr(default, "model_dump", None)
            expected = dump(mode="json") if dump else default
            assert written == expected, f"{path.name}: {name} = {written!r}, model {expected!r}"


@pytest.fixture()
def org(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[Sandbox, Path]]:
    sandbox = Sandbox(seed="default")
    with sandbox.serve(port=0) as url:
        for key in OKTA_VARS:
            monkeypatch.delenv(key, raising=False)
        monkeypatch.setenv("OKTA_ORG_URL", url)
        monkeypatch.setenv("OKTA_API_TOKEN", sandbox.token)
        monkeypatch.setenv("KMSI_OPERATOR", "test")
        yield sandbox, tmp_path


def _run(
    org: tuple[Sandbox, Path], notebook: str, params: dict[str, Any], mode: str = "apply"
) -> runner.RunReport:
    _, tmp = org
    file = tmp / f"{notebook}.yaml"
    file.write_text(json.dumps(params), encoding="utf-8")  # JSON is YAML
    return runner.run_notebook(
        ROOT / "notebooks" / f"{notebook}.ipynb",
        file,
        mode=mode,
        change_id="CHG-5150" if mode == "apply" else "",
        evidence_root=tmp / "evidence",
        timeout=120,
        progress=False,
    )


def _writes(sandbox: Sandbox) -> list[dict[str, Any]]:
    return [
        r
        for r in sandbox.admin.requests()
        if r["method"] != "GET"
        and not r["path"].startswith("/_sandbox")
        and r["path"] != "/api/v1/policies/simulate"  # Okta's policy simulation only reads
    ]


@pytest.mark.slow
def test_reset_of_one_named_user_revokes_exactly_that_user(org: tuple[Sandbox, Path]) -> None:
    """Before: the cell's sample group "KMSI Pilot" applied too and 26 users were signed out."""
    sandbox, _ = org
    report = _run(org, "40_reset_sessions", {"users": ["okta.admin@acme.example.com"]})
    assert report.exit_code == 0, report.message
    revoked = [r["userId"] for r in sandbox.admin.session_revocations()]
    admin = next(
        u["id"]
        for u in sandbox.admin.snapshot()["users"].values()
        if u["profile"]["login"] == "okta.admin@acme.example.com"
    )
    assert revoked == [admin]
    assert [r["method"] for r in _writes(sandbox)] == ["DELETE"]


@pytest.mark.slow
def test_prompt_text_changes_only_the_text_named(org: tuple[Sandbox, Path]) -> None:
    """Before: subtitle and both button texts were overwritten with the cell's samples."""
    sandbox, _ = org
    before = sandbox.admin.snapshot()
    brand = next(i for i, b in before["brands"].items() if b["name"] == "Acme Partners")
    report = _run(org, "30_prompt_text", {"brands": ["Acme Partners"], "title": "Remember me?"})
    assert report.exit_code == 0, report.message
    after = sandbox.admin.snapshot()

    def widget(state: dict[str, Any]) -> dict[str, Any]:
        return dict(state["sign_in_pages"][brand]["customized"]["widgetCustomizations"])

    old, new = widget(before), widget(after)
    prompt = old.pop("postAuthKeepMeSignedInPrompt")
    assert new.pop("postAuthKeepMeSignedInPrompt") == {**prompt, "title": "Remember me?"}
    assert new == old, "nothing else on the page changed"
    assert {r["path"] for r in _writes(sandbox)} == {
        f"/api/v1/brands/{brand}/pages/sign-in/customized"
    }


@pytest.mark.slow
def test_post_auth_without_apps_is_refused_before_anything_runs(org: tuple[Sandbox, Path]) -> None:
    """Before: a params file without apps changed Salesforce.com's rule (the cell's sample)."""
    sandbox, _ = org
    from kmsi_lib.errors import ParameterError

    with pytest.raises(ParameterError) as err:
        _run(org, "20_post_auth", {"prompt_frequency": "P7D"})
    assert err.value.field == "apps" and "required" in err.value.message
    assert sandbox.admin.requests() == []


@pytest.mark.slow
def test_post_auth_for_one_app_writes_only_its_policy_and_the_default_rule(
    org: tuple[Sandbox, Path],
) -> None:
    sandbox, _ = org
    state = sandbox.admin.snapshot()
    slack = next(i for i, a in state["apps"].items() if a["label"] == "Slack")
    slack_policy = state["app_policy"][slack]["policyId"]
    default_policy = next(
        i for i, p in state["policies"].items() if p["type"] == "OKTA_SIGN_ON" and p.get("system")
    )
    report = _run(org, "20_post_auth", {"apps": {"labels": ["Slack"]}, "acknowledge_reach": 16})
    assert report.exit_code == 0, report.message
    touched = {r["path"].split("/")[4] for r in _writes(sandbox)}
    assert touched <= {slack_policy, default_policy}, touched
    assert slack_policy in touched


@pytest.mark.slow
def test_pre_auth_plan_reads_for_writing_only_the_named_app(org: tuple[Sandbox, Path]) -> None:
    sandbox, _ = org
    state = sandbox.admin.snapshot()
    slack = next(i for i, a in state["apps"].items() if a["label"] == "Slack")
    slack_policy = state["app_policy"][slack]["policyId"]
    report = _run(
        org, "10_pre_auth", {"groups": ["KMSI Pilot"], "apps": {"labels": ["Slack"]}}, mode="plan"
    )
    assert report.exit_code == 0, report.message
    assert report.record is not None
    changes = report.record["plan"]["changes"]
    app_rules = [
        c
        for c in changes
        if c["kind"] == "rule" and not str(c["ref"].get("parent_id")).startswith("$created")
    ]
    assert {c["ref"]["parent_id"] for c in app_rules} == {slack_policy}
    assert _writes(sandbox) == []
