"""Rollback of an apply: inputs, drift refusal, forcing, idempotence, partial applies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from procedure_support import (
    ATTESTATION,
    Org,
    apply_acknowledged,
    comparable_snapshot,
    make_org,
    record_apply,
)

from kmsi_lib.engine import Plan
from kmsi_lib.errors import EvidenceError, KmsiError, ParameterError, StalePlanError
from kmsi_lib.procedures import post_auth, pre_auth, rollback

POST_AUTH: dict[str, Any] = {"apps": {"labels": ["Okta Dashboard"]}, "prompt_frequency": "P7D"}
PRE_AUTH: dict[str, Any] = {"groups": ["KMSI Pilot"], "apps": {"labels": ["Slack"]}}


@pytest.fixture
def org() -> Org:
    """The sandbox org, its pre-auth toggle already on (the Admin Console step a pre-auth
    apply needs done against the sandbox)."""
    made = make_org()
    made.sandbox.admin.set_org_settings({"preAuthKmsi": True})
    return made


def _applied(org: Org) -> dict[str, Any]:
    result = apply_acknowledged(post_auth, org.client, post_auth.plan(org.client, POST_AUTH))
    data: dict[str, Any] = json.loads(json.dumps(result.to_dict()))
    return data


@pytest.mark.parametrize("name", ["result.json", "record.json", ""])
def test_apply_result_is_read_from_the_evidence_of_an_apply_run(
    org: Org, tmp_path: Path, name: str
) -> None:
    """result.json, record.json (its before_state is only a summary) or the run directory."""
    before = comparable_snapshot(org.sandbox)
    run_dir = record_apply(tmp_path / "evidence", _applied(org))
    source = str(run_dir / name) if name else str(run_dir)
    plan = rollback.plan(org.client, {"apply_result": source})
    assert plan.params["apply_result"] == source
    assert plan.params["rolls_back"]["procedure"] == "post_auth"
    rollback.apply(org.client, plan)
    assert comparable_snapshot(org.sandbox) == before
    assert rollback.verify(org.client, {"apply_result": source}).ok


def _forge_before_state(run_dir: Path) -> None:
    """Weaken the recorded before-state of the rule: what a rollback would then 'restore'."""
    for name in ("result.json", "record.json"):
        data = json.loads((run_dir / name).read_text())
        for record in data["apply_result"]["before_state"]:
            if record["ref"]["kind"] == "rule" and record["before"]:
                method = record["before"]["actions"]["appSignOn"]["verificationMethod"]
                method.update({"factorMode": "1FA", "reauthenticateIn": "PT43800H"})
        (run_dir / name).write_text(json.dumps(data))


def test_an_edited_before_state_in_the_evidence_is_refused_before_any_request(
    org: Org, tmp_path: Path
) -> None:
    """``kmsi evidence verify`` reports the edit; the rollback refuses it, reading nothing."""
    run_dir = record_apply(tmp_path / "evidence", _applied(org))
    _forge_before_state(run_dir)
    org.clear_logs()
    with pytest.raises(ParameterError) as info:
        rollback.plan(org.client, {"apply_result": str(run_dir / "result.json")})
    assert info.value.field == "apply_result"
    assert "result.json: edited" in info.value.message
    assert org.wire.sent == [] and org.api_writes() == []


@pytest.mark.parametrize(
    ("where", "words"),
    [
        pytest.param("outside", "not in the ledger", id="saved-copy-outside-any-evidence"),
        pytest.param("plan-run", "not an apply", id="a-plan-run"),
        pytest.param("link", "symbolic link", id="run-directory-is-a-link"),
    ],
)
def test_a_path_that_is_not_an_apply_run_s_evidence_is_refused(
    org: Org, tmp_path: Path, where: str, words: str
) -> None:
    data = _applied(org)
    root = tmp_path / "evidence"
    if where == "outside":
        (tmp_path / "saved").mkdir()
        source = tmp_path / "saved" / "result.json"
        source.write_text(json.dumps({"apply_result": data}))
    elif where == "plan-run":
        source = record_apply(root, data, mode="plan") / "result.json"
    else:
        real = record_apply(tmp_path / "elsewhere", data)
        (root / "CHG-1").mkdir(parents=True)
        (root / "CHG-1" / real.name).symlink_to(real, target_is_directory=True)
        source = root / "CHG-1" / real.name / "result.json"
    org.clear_logs()
    with pytest.raises(ParameterError) as info:
        rollback.plan(org.client, {"apply_result": str(source)})
    assert words in info.value.message
    assert org.wire.sent == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("/nonexistent/result.json", "no file at", id="missing-file"),
        pytest.param({"procedure": "post_auth", "apply_result": None}, "holds no apply", id="plan"),
        pytest.param({"before_state": []}, "is not an apply result", id="not-a-result"),
    ],
)
def test_unusable_apply_results_are_refused(org: Org, value: Any, message: str) -> None:
    with pytest.raises(ParameterError) as info:
        rollback.plan(org.client, {"apply_result": value})
    assert info.value.field == "apply_result"
    assert message in info.value.message


def test_an_edited_apply_result_is_refused(org: Org) -> None:
    data = _applied(org)
    data["plan"]["observations"][0]["value"] = {"edited": True}
    with pytest.raises(ParameterError, match="fingerprint"):
        rollback.plan(org.client, {"apply_result": data})


def test_session_revocations_cannot_be_rolled_back(org: Org) -> None:
    data = _applied(org)
    revocation = Plan.from_dict(data["plan"])
    revocation.procedure = "reset_sessions"
    revocation.digest = revocation.content_digest()  # as if reset_sessions had made it
    data["plan"], data["procedure"] = revocation.to_dict(), "reset_sessions"
    with pytest.raises(ParameterError, match="cannot be undone"):
        rollback.plan(org.client, {"apply_result": data})


def test_an_apply_result_whose_plan_was_edited_is_refused(org: Org) -> None:
    data = _applied(org)
    data["plan"]["changes"][0]["after"]["priority"] = 1  # the recorded plan, rewritten
    org.clear_logs()
    with pytest.raises(EvidenceError, match="edited after it was made"):
        rollback.plan(org.client, {"apply_result": data})
    assert org.api_writes() == []


def test_object_changed_after_the_apply_refuses_the_rollback_unless_forced(org: Org) -> None:
    before = comparable_snapshot(org.sandbox)
    data = _applied(org)
    _, rule = org.edit_app_rule(
        "Okta Dashboard",
        "Catch-all Rule",
        lambda rule: rule["actions"]["appSignOn"]["keepMeSignedIn"].update(
            postAuthPromptFrequency="PT50H"
        ),
    )

    with pytest.raises(StalePlanError) as info:
        rollback.plan(org.client, {"apply_result": data})
    message = str(info.value)
    assert f"rule 'Catch-all Rule' ({rule['id']})" in message
    assert "keepMeSignedIn.postAuthPromptFrequency is now 'PT50H'" in message
    assert "force_objects" in message
    assert org.api_writes() == []

    forced = rollback.plan(org.client, {"apply_result": data, "force_objects": [rule["id"]]})
    assert rollback.apply(org.client, forced).verification.ok
    assert comparable_snapshot(org.sandbox) == before


def test_rolling_back_twice_plans_nothing_the_second_time(org: Org) -> None:
    data = _applied(org)
    rollback.apply(org.client, rollback.plan(org.client, {"apply_result": data}))
    org.clear_logs()
    again = rollback.plan(org.client, {"apply_result": data})
    assert again.is_empty
    assert any("already as it was" in n for n in again.notes)
    rollback.apply(org.client, again)
    assert org.api_writes() == []


def test_a_completed_rollback_planned_again_plans_nothing(org: Org) -> None:
    """Before: rule priorities shifted back by the first rollback read as drift, and the
    second plan raised StalePlanError instead of planning nothing."""
    # the Admin Console's policy has a rule besides the catch-all: the new app rule at
    # priority 0 shifts it to 1, and the rollback moves it back to 0
    params = {**PRE_AUTH, "apps": {"labels": ["Okta Admin Console"]}}
    result = apply_acknowledged(
        pre_auth, org.client, pre_auth.plan(org.client, params), attestation=ATTESTATION
    )
    data = json.loads(json.dumps(result.to_dict()))
    assert any(r["action"] == "reorder" for r in data["before_state"]), "the apply shifted rules"
    rollback.apply(org.client, rollback.plan(org.client, {"apply_result": data}))
    org.clear_logs()
    again = rollback.plan(org.client, {"apply_result": data})
    assert again.is_empty, again.to_text()
    assert rollback.apply(org.client, again).outcome == "no-op"
    assert org.api_writes() == []


def test_object_created_by_the_apply_and_deleted_since_is_skipped(org: Org) -> None:
    before = comparable_snapshot(org.sandbox)
    result = apply_acknowledged(
        pre_auth, org.client, pre_auth.plan(org.client, PRE_AUTH), attestation=ATTESTATION
    )
    policy = next(r for r in result.created if r.kind == "policy")
    org.client.request("DELETE", f"/api/v1/policies/{policy.id}")
    undo = rollback.plan(org.client, {"apply_result": result.to_dict()})
    assert all(c.ref.id != policy.id for c in undo.changes)
    assert any("no longer exists" in n for n in undo.notes)
    rollback.apply(org.client, undo)
    assert comparable_snapshot(org.sandbox) == before


def test_a_partly_failed_apply_can_be_rolled_back(org: Org) -> None:
    """The apply fails on its last write; what it already wrote is undone from the error."""
    before = comparable_snapshot(org.sandbox)
    plan = pre_auth.plan(org.client, PRE_AUTH)
    org.sandbox.admin.add_fault(
        {"status": 400, "count": 1, "match": {"method": "POST", "path": "/api/v1/policies/rst*"}}
    )
    with pytest.raises(KmsiError) as info:
        apply_acknowledged(pre_auth, org.client, plan, attestation=ATTESTATION)
    partial = info.value.apply_result  # type: ignore[attr-defined]
    assert partial.outcome == "failed"
    assert [r.ref.kind for r in partial.before_state] == ["policy", "rule"]
    rollback.apply(org.client, rollback.plan(org.client, {"apply_result": partial.to_dict()}))
    assert comparable_snapshot(org.sandbox) == before


def test_rollback_plan_goes_stale_like_any_plan(org: Org) -> None:
    data = _applied(org)
    undo = rollback.plan(org.client, {"apply_result": data})
    org.edit_app_rule(
        "Okta Dashboard",
        "Catch-all Rule",
        lambda rule: rule["actions"]["appSignOn"]["verificationMethod"].update(factorMode="1FA"),
    )
    with pytest.raises(StalePlanError):
        rollback.apply(org.client, undo)
    assert org.api_writes() == []


def test_prompt_text_apply_is_rolled_back_exactly(org: Org) -> None:
    """A brand without a customized page gets it deleted again; the other gets its page back."""
    from kmsi_lib.procedures import prompt_text

    before = comparable_snapshot(org.sandbox)
    params = {"brands": "all", "title": "Stay signed in?", "reject_button_text": "Not now"}
    result = prompt_text.apply(org.client, prompt_text.plan(org.client, params))
    assert result.outcome == "applied"
    undo = rollback.plan(org.client, {"apply_result": json.loads(json.dumps(result.to_dict()))})
    assert sorted(c.action for c in undo.changes) == ["delete", "update"]
    assert rollback.apply(org.client, undo).verification.ok
    assert comparable_snapshot(org.sandbox) == before


def test_an_apply_result_from_another_org_is_refused() -> None:
    """Ids from one org mean nothing in another: the rollback stops before reading anything."""
    from procedure_support import WireRecorder

    from kmsi_lib.okta.auth import SSWSAuth
    from kmsi_lib.okta.client import OktaClient
    from kmsi_lib.sandbox import Sandbox

    sandbox = Sandbox(seed="default")
    wire = WireRecorder(sandbox.transport())
    prod = OktaClient("https://acme.okta.com", SSWSAuth(sandbox.token), transport=wire)
    result = apply_acknowledged(post_auth, prod, post_auth.plan(prod, POST_AUTH))
    other = OktaClient("https://acme-test.okta.com", SSWSAuth(sandbox.token), transport=wire)
    wire.clear()
    with pytest.raises(ParameterError) as info:
        rollback.plan(other, {"apply_result": result.to_dict()})
    assert info.value.field == "apply_result"
    assert "https://acme.okta.com" in info.value.message
    with pytest.raises(ParameterError) as plan_info:
        apply_acknowledged(post_auth, other, post_auth.plan(prod, POST_AUTH))
    assert plan_info.value.field == "plan"
    assert all(not s.is_write for s in wire.sent)


def test_rolling_back_a_no_op_apply_plans_nothing(org: Org) -> None:
    apply_acknowledged(post_auth, org.client, post_auth.plan(org.client, POST_AUTH))
    noop = apply_acknowledged(post_auth, org.client, post_auth.plan(org.client, POST_AUTH))
    assert noop.outcome == "no-op"
    undo = rollback.plan(org.client, {"apply_result": noop.to_dict()})
    assert undo.is_empty
    assert undo.notes == ["the apply wrote nothing, so there is nothing to roll back"]


def test_future_fields_survive_apply_and_rollback(org: Org) -> None:
    """Fields no version of the library knows, on a rule and on a sign-in page, are still in
    the org with their values after the apply and after the rollback, and the rollback
    restores the org exactly. The sandbox plays a newer Okta release that knows these
    fields (``future_fields``); without that it would drop them, as Okta would."""
    from kmsi_lib.procedures import prompt_text

    org.sandbox.admin.set_future_fields(
        {
            "ACCESS_POLICY rule": ["futureField", "actions.appSignOn.futureAction"],
            "sign-in page": ["futurePageField", "widgetCustomizations.futureLabel"],
        }
    )
    policy_id = org.app_policy_id("Okta Dashboard")
    brand_id = next(
        b["id"] for b in org.client.get_json("/api/v1/brands") if b["name"] == "Acme Partners"
    )
    snap = org.sandbox.admin.snapshot()
    rule = next(r for r in snap["rules"][policy_id].values() if r["name"] == "Catch-all Rule")
    rule["futureField"] = {"introduced": "2027.01.0"}
    rule["actions"]["appSignOn"]["futureAction"] = True
    page = snap["sign_in_pages"][brand_id]["customized"]
    page["futurePageField"] = "kept"
    page["widgetCustomizations"]["futureLabel"] = {"nested": [1, 2, 3]}
    org.sandbox.admin.load(snap)
    before = comparable_snapshot(org.sandbox)
    rule_path = f"/api/v1/policies/{policy_id}/rules/{rule['id']}"
    page_path = f"/api/v1/brands/{brand_id}/pages/sign-in/customized"

    def assert_org_keeps_them() -> None:
        with org.sandbox.client() as direct:
            in_org_rule = direct.get(rule_path).json()
            in_org_page = direct.get(page_path).json()
        assert in_org_rule["futureField"] == {"introduced": "2027.01.0"}
        assert in_org_rule["actions"]["appSignOn"]["futureAction"] is True
        assert in_org_page["futurePageField"] == "kept"
        assert in_org_page["widgetCustomizations"]["futureLabel"] == {"nested": [1, 2, 3]}

    applied = [
        apply_acknowledged(post_auth, org.client, post_auth.plan(org.client, POST_AUTH)),
        prompt_text.apply(
            org.client, prompt_text.plan(org.client, {"brands": [brand_id], "title": "Stay?"})
        ),
    ]
    assert [a.outcome for a in applied] == ["applied", "applied"]
    writes = {s.path for s in org.wire.writes() if s.method == "PUT"}
    assert {rule_path, page_path} <= writes  # both objects were really written
    assert_org_keeps_them()

    for result in reversed(applied):
        data = json.loads(json.dumps(result.to_dict()))
        undo = rollback.apply(org.client, rollback.plan(org.client, {"apply_result": data}))
        assert undo.verification.ok, undo.to_text()
    assert_org_keeps_them()
    assert comparable_snapshot(org.sandbox) == before
