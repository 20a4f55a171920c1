"""``kmsi drift``: the org against the last verified apply of each procedure.

Real parts: ``kmsi run`` applies post-auth through papermill against a sandbox served on
loopback; ``kmsi drift`` then reads that sandbox with the same credentials. A hand edit
through the sandbox's API (as an admin clicking in the Admin Console would) is reported
by object and field; a rule added to a managed policy is reported; nothing is reported
when nothing changed; a ledger that does not verify cannot be a baseline (exit 2).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from runbook_support import apply_runbook

from kmsi_lib.runbooks import drift
from kmsi_lib.sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, str, Path]]:
    sandbox = Sandbox(seed="default")
    tmp = tmp_path_factory.mktemp("drift")
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("OKTA_")}
    try:
        with sandbox.serve(port=0) as url:
            os.environ.update(OKTA_ORG_URL=url, OKTA_API_TOKEN=sandbox.token, KMSI_OPERATOR="t")
            body = {"apps": {"labels": ["Salesforce.com"]}, "acknowledge_reach": 16}
            apply_runbook("20_post_auth", body, tmp, change_id="CHG-4545")
            yield sandbox, url, tmp
    finally:
        for key in ("OKTA_ORG_URL", "OKTA_API_TOKEN", "KMSI_OPERATOR"):
            os.environ.pop(key, None)
        os.environ.update(saved)


def _drift(tmp: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, dict[str, object]]:
    out = tmp / "drift.json"
    code = drift.main(argparse.Namespace(evidence_root=tmp / "evidence", json=out))
    return code, capsys.readouterr().out, json.loads(out.read_text())


def _rule(http: httpx.Client, label: str) -> tuple[str, dict[str, object]]:
    app = next(a for a in http.get("/api/v1/apps").json() if a["label"] == label)
    policy_id = app["_links"]["accessPolicy"]["href"].rsplit("/", 1)[-1]
    rules = http.get(f"/api/v1/policies/{policy_id}/rules").json()
    return policy_id, next(r for r in rules if r["name"] == "Catch-all Rule")


def test_no_drift_right_after_the_apply(
    applied: tuple[Sandbox, str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, tmp = applied
    code, text, data = _drift(tmp, capsys)
    assert code == 0, text
    assert "No drift" in text and data["status"] == "none" and data["drift"] == []
    assert [b["procedure"] for b in data["baselines"]] == ["post_auth"]  # type: ignore[index]


def test_a_hand_edit_and_an_added_rule_are_reported(
    applied: tuple[Sandbox, str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox, url, tmp = applied
    headers = {"Authorization": f"SSWS {sandbox.token}"}
    with httpx.Client(base_url=url, headers=headers) as http:
        policy_id, rule = _rule(http, "Salesforce.com")
        body = {
            k: v for k, v in rule.items() if k not in ("id", "created", "lastUpdated", "_links")
        }
        body["actions"]["appSignOn"]["keepMeSignedIn"]["postAuth"] = "NOT_ALLOWED"  # type: ignore[index]
        assert http.put(f"/api/v1/policies/{policy_id}/rules/{rule['id']}", json=body).is_success
        added = {
            "name": "Someone's shortcut",
            "type": "ACCESS_POLICY",
            "priority": 1,
            "actions": {"appSignOn": {"access": "ALLOW", "verificationMethod": {
                "type": "ASSURANCE", "factorMode": "1FA", "reauthenticateIn": "PT12H",
                "constraints": []}}},
        }  # fmt: skip
        assert http.post(f"/api/v1/policies/{policy_id}/rules", json=added).is_success
    code, text, data = _drift(tmp, capsys)
    assert code == 1, text
    found = {(d["field"], d["what"]) for d in data["drift"]}  # type: ignore[union-attr]
    assert ("actions.appSignOn.keepMeSignedIn.postAuth", "changed") in found
    assert ("", "rule added out of band") in found
    assert "Someone's shortcut" in text and "NOT_ALLOWED" in text


def test_a_ledger_that_does_not_verify_is_not_a_baseline(
    applied: tuple[Sandbox, str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _, _, tmp = applied
    copy = tmp_path / "evidence"
    import shutil

    shutil.copytree(tmp / "evidence", copy)
    ledger = copy / "ledger.jsonl"
    ledger.write_text(ledger.read_text().replace("CHG-4545", "CHG-4546"))
    code = drift.main(argparse.Namespace(evidence_root=copy, json=None))
    assert code == 2 and "does not verify" in capsys.readouterr().out
    empty = tmp_path / "none"
    empty.mkdir()
    assert drift.main(argparse.Namespace(evidence_root=empty, json=None)) == 2


@pytest.mark.parametrize(
    ("created", "finished", "since"),
    [
        # the flake: the record keeps seconds, Okta milliseconds; as text "56.500Z" < "56Z"
        pytest.param("2026-12-02T06:26:56.500Z", "2026-12-02T06:26:56Z", True, id="same-second"),
        pytest.param("2026-12-02T06:26:56.000Z", "2026-12-02T06:26:56Z", True, id="that-instant"),
        pytest.param("2026-12-02T06:26:57.000Z", "2026-12-02T06:26:56Z", True, id="a-second-on"),
        pytest.param("2026-12-02T06:26:55.999Z", "2026-12-02T06:26:56Z", False, id="before"),
        pytest.param("2026-12-01T23:00:00.000Z", "2026-12-02T06:26:56Z", False, id="a-day-before"),
        pytest.param("2026-12-02T07:26:56+01:00", "2026-12-02T06:26:56Z", True, id="offset"),
        pytest.param(None, "2026-12-02T06:26:56Z", True, id="no-created: reported"),
        pytest.param("2026-12-02T06:26:56.500Z", None, True, id="no-finish: reported"),
        pytest.param("2026-12-02T05:00:00", "2026-12-02T06:26:56Z", True, id="no-zone: reported"),
    ],
)
def test_a_rule_counts_as_added_since_the_apply_by_time_not_by_text(
    created: object, finished: object, since: bool
) -> None:
    """A rule created in the second the apply finished is reported, one older is not."""
    assert drift.created_since(created, finished) is since
