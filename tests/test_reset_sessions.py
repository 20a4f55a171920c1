"""Reset KMSI (revoke sessions): list parsing and parameters, then the sandbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from procedure_support import refused_before_any_write, sandbox_writes

from kmsi_lib.engine import Plan, parse_params
from kmsi_lib.errors import (
    ClassicEngineError,
    EvidenceError,
    ParameterError,
    StalePlanError,
)
from kmsi_lib.okta.auth import SSWSAuth
from kmsi_lib.okta.client import OktaClient
from kmsi_lib.procedures import reset_sessions, rollback
from kmsi_lib.sandbox import SANDBOX_URL, Sandbox


def test_user_list_skips_blanks_and_comments_and_keeps_line_numbers() -> None:
    text = (
        "# users from ticket CHG-42\n"
        "alice@example.com\n"
        "\n"
        "   bob@example.com   # on leave\n"
        "00u1abcdEFGH\n"
        "odd#login@example.com\n"
        "\t# indented comment\n"
    )
    assert reset_sessions.parse_user_list(text) == [
        (2, "alice@example.com"),
        (4, "bob@example.com"),
        (5, "00u1abcdEFGH"),
        (6, "odd#login@example.com"),
    ]


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        pytest.param({}, "params", "choose users", id="empty-selection"),
        pytest.param({"users": []}, "params", "choose users", id="empty-list"),
        pytest.param({"users": ["a@example.com", " "]}, "users[1]", "is empty", id="blank-entry"),
        pytest.param({"group": ""}, "group", "is empty", id="blank-group"),
        pytest.param(
            {"users": ["a"], "forget_devices": "maybe"},
            "forget_devices",
            "true or false",
            id="flag-not-bool",
        ),
        pytest.param(
            {"users": ["a"], "max_workers": 0}, "max_workers", "1 or more", id="workers-zero"
        ),
        pytest.param(
            {"users": ["a"], "revoke_everything": True},
            "revoke_everything",
            "not a parameter",
            id="unknown-parameter",
        ),
    ],
)
def test_invalid_parameters_name_the_field(data: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ParameterError) as err:
        parse_params(reset_sessions.Params, data)
    assert err.value.field == field
    assert words in err.value.message


def test_flags_have_explicit_safe_defaults() -> None:
    """forgetDevices defaults differ between engines, so the parameters fix both."""
    p = parse_params(reset_sessions.Params, {"users": ["a@example.com"]})
    assert (p.forget_devices, p.oauth_tokens) == (True, False)


# --------------------------------------------------------------------------- against the sandbox


def _members(sb: Sandbox, group: str) -> list[dict[str, Any]]:
    state = sb.admin.snapshot()
    gid = next(g["id"] for g in state["groups"].values() if g["profile"]["name"] == group)
    return [state["users"][uid] for uid in state["group_members"][gid]]


def _revoked(sb: Sandbox) -> dict[str, tuple[bool, bool]]:
    return {
        r["userId"]: (r["forgetDevices"], r["oauthTokens"]) for r in sb.admin.session_revocations()
    }


def test_plan_resolves_logins_ids_files_and_groups_once_each_and_reports_unknowns(
    sandbox: Sandbox, okta: OktaClient, tmp_path: Path
) -> None:
    pilot = _members(sandbox, "KMSI Pilot")
    assert len(pilot) >= 3
    first, second = pilot[0], pilot[1]
    listing = tmp_path / "users.txt"
    listing.write_text(f"# CHG-1\n{second['profile']['login']}\nnobody@acme.example.com\n")
    params = {
        "users": [first["profile"]["login"], first["id"], "ghost@acme.example.com"],
        "users_file": str(listing),
        "group": "KMSI Pilot",
    }
    with pytest.raises(ParameterError) as refused:
        reset_sessions.plan(okta, params)
    assert refused.value.field == "users[2]" and "1 more not found" in str(refused.value)
    assert "skip_unknown_users" in str(refused.value)
    plan = reset_sessions.plan(okta, {**params, "skip_unknown_users": True})
    assert sandbox_writes(sandbox) == []
    ids = [c.ref.id for c in plan.changes]
    assert sorted(ids) == sorted(u["id"] for u in pilot), "each user once"
    assert ids[:2] == [first["id"], second["id"]], "named users first, in the order given"
    assert all(c.action == "revoke" and c.before is None for c in plan.changes)
    assert plan.changes[0].after == {"oauthTokens": False, "forgetDevices": True}
    assert plan.warnings[:2] == [
        "skipped, not found in this org: 'ghost@acme.example.com' (users[2])",
        "skipped, not found in this org: 'nobody@acme.example.com' (users_file line 3)",
    ]
    assert plan.to_text().splitlines()[1].startswith("ATTENTION: skipped, not found"), (
        "who was skipped is said first"
    )
    assert reset_sessions.NO_ROLLBACK_NOTE in plan.notes
    assert Plan.from_dict(json.loads(json.dumps(plan.to_dict()))).fingerprint == plan.fingerprint


def test_apply_revokes_each_user_with_both_flags_sent_and_records_outcomes(
    sandbox: Sandbox, okta: OktaClient
) -> None:
    pilot = _members(sandbox, "KMSI Pilot")
    params = {"group": "KMSI Pilot", "forget_devices": False, "oauth_tokens": True}
    assert not reset_sessions.verify(okta, params).ok, "nothing revoked yet"
    seen: list[tuple[int, int]] = []
    approved = json.loads(json.dumps(reset_sessions.plan(okta, params).to_dict()))
    result = reset_sessions.apply(
        okta, Plan.from_dict(approved), progress=lambda d, t: seen.append((d, t))
    )
    assert result.outcome == "applied" and result.verification.ok, result.to_text()
    assert _revoked(sandbox) == {u["id"]: (False, True) for u in pilot}
    queries = {r["query"] for r in sandbox.admin.requests() if r["method"] == "DELETE"}
    assert queries == {"oauthTokens=true&forgetDevices=false"}
    assert seen[0] == (0, len(pilot)) and seen[-1] == (len(pilot), len(pilot))
    outcomes = [a.result for a in result.applied]
    assert {o["outcome"] for o in outcomes if o} == {"revoked"}
    assert sorted(o["login"] for o in outcomes if o) == sorted(u["profile"]["login"] for u in pilot)
    assert result.before_state == [] and reset_sessions.NO_ROLLBACK_NOTE in result.notes
    check = reset_sessions.verify(okta, params)
    assert check.ok and len(check.checks) == len(pilot)
    with pytest.raises(ParameterError) as err:
        rollback.plan(okta, {"apply_result": result.to_dict()})
    assert err.value.field == "apply_result" and "cannot be undone" in err.value.message


def test_one_failing_user_does_not_stop_the_batch(sandbox: Sandbox, okta: OktaClient) -> None:
    pilot = _members(sandbox, "KMSI Pilot")
    victim = pilot[1]["id"]
    sandbox.admin.add_fault(
        {
            "match": {"method": "DELETE", "path": f"/api/v1/users/{victim}/sessions"},
            "status": 403,
            "count": 10,
        }
    )
    result = reset_sessions.apply(okta, reset_sessions.plan(okta, {"group": "KMSI Pilot"}))
    assert result.outcome == "failed"
    assert result.error is not None and "1 of" in result.error
    failed = [a.result for a in result.applied if a.result and a.result["outcome"] == "failed"]
    assert [f["id"] for f in failed] == [victim] and failed[0]["error"]
    assert set(_revoked(sandbox)) == {u["id"] for u in pilot} - {victim}


def test_an_unknown_user_is_refused_not_read_as_success(sandbox: Sandbox, okta: OktaClient) -> None:
    """A reset whose only user is misspelled used to say "no changes" and exit 0."""
    with pytest.raises(ParameterError) as err:
        reset_sessions.plan(okta, {"users": ["ghost@acme.example.com"]})
    assert err.value.field == "users[0]" and "no user 'ghost@acme.example.com'" in str(err.value)
    with pytest.raises(ParameterError) as err:
        reset_sessions.plan(okta, {"users": ["ghost@acme.example.com"], "skip_unknown_users": True})
    assert err.value.field == "users" and "resolves to nobody" in str(err.value)
    assert sandbox_writes(sandbox) == []


def test_a_misspelled_login_gets_a_suggestion(sandbox: Sandbox, okta: OktaClient) -> None:
    login = _members(sandbox, "KMSI Pilot")[0]["profile"]["login"]
    typo = login.replace("@", "x@", 1)
    with pytest.raises(ParameterError) as err:
        reset_sessions.plan(okta, {"users": [typo]})
    assert f"did you mean {login!r}?" in str(err.value), str(err.value)


def test_a_misspelled_group_gets_a_suggestion(sandbox: Sandbox, okta: OktaClient) -> None:
    with pytest.raises(ParameterError) as err:
        reset_sessions.plan(okta, {"group": "KMSI Pilto"})
    assert err.value.field == "group" and "did you mean 'KMSI Pilot'?" in str(err.value)
    assert sandbox_writes(sandbox) == []


def test_an_empty_group_is_refused(sandbox: Sandbox, okta: OktaClient) -> None:
    sandbox.admin.add_group("Nobody Here")
    with pytest.raises(ParameterError) as err:
        reset_sessions.plan(okta, {"group": "Nobody Here"})
    assert err.value.field == "group" and "resolves to nobody" in str(err.value)


def test_a_group_plan_says_first_how_many_people_it_reaches(
    sandbox: Sandbox, okta: OktaClient
) -> None:
    pilot = _members(sandbox, "KMSI Pilot")
    plan = reset_sessions.plan(okta, {"group": "KMSI Pilot"})
    assert plan.warnings and f"reaches {len(pilot)} user(s)" in plan.warnings[0]
    assert plan.to_text().splitlines()[1].startswith("ATTENTION:")


def test_apply_refuses_when_the_group_changed_since_the_plan(
    sandbox: Sandbox, okta: OktaClient
) -> None:
    plan = reset_sessions.plan(okta, {"group": "KMSI Pilot"})
    sandbox.admin.add_user("late.joiner@acme.example.com", groups=["KMSI Pilot"])
    sandbox.admin.clear_requests()
    with pytest.raises(StalePlanError) as err:
        reset_sessions.apply(okta, plan)
    assert "KMSI Pilot" in str(err.value)
    assert sandbox_writes(sandbox) == [] and sandbox.admin.session_revocations() == []


def _flip_forget_devices(plan: Plan) -> None:
    query = plan.changes[0].after
    assert query is not None
    query["forgetDevices"] = not query["forgetDevices"]


def _made_for_another_org(plan: Plan) -> None:
    plan.org_url = "https://other.okta.com"
    plan.digest = plan.content_digest()


def _made_by_post_auth(plan: Plan) -> None:
    plan.procedure = "post_auth"
    plan.digest = plan.content_digest()


@pytest.mark.parametrize(
    ("alter", "error", "words"),
    [
        pytest.param(_flip_forget_devices, EvidenceError, "edited after it was made", id="edited"),
        pytest.param(_made_for_another_org, ParameterError, "other.okta.com", id="other-org"),
        pytest.param(_made_by_post_auth, ParameterError, "not a 'reset_sessions'", id="other-proc"),
    ],
)
def test_apply_refuses_an_edited_foreign_or_other_procedures_plan_before_any_revocation(
    sandbox: Sandbox,
    okta: OktaClient,
    alter: Any,
    error: type[Exception],
    words: str,
) -> None:
    """The checks every other procedure's apply makes (digest, org, procedure) apply here too."""
    plan = reset_sessions.plan(okta, {"group": "KMSI Pilot"})
    alter(plan)
    sandbox.admin.clear_requests()
    with pytest.raises(error) as err:
        reset_sessions.apply(okta, plan)
    assert words in str(err.value)
    assert sandbox_writes(sandbox) == [] and sandbox.admin.session_revocations() == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({"group": "KMSI Pilots"}, "group", id="unknown-group"),
        pytest.param({"users": ["a/b@acme.example.com"]}, "users[0]", id="login-with-slash"),
        pytest.param({"users_file": "/nonexistent/users.txt"}, "users_file", id="missing-file"),
        pytest.param({}, "params", id="empty-selection"),
    ],
)
def test_invalid_parameters_fail_before_any_write(
    sandbox: Sandbox, okta: OktaClient, params: dict[str, Any], field: str
) -> None:
    refused_before_any_write(
        sandbox, lambda: reset_sessions.apply(okta, reset_sessions.plan(okta, params)), field
    )


def test_over_loopback(sandbox: Sandbox) -> None:
    admin = "okta.admin@acme.example.com"
    with sandbox.serve(port=0) as url, OktaClient(url, SSWSAuth(sandbox.token)) as okta:
        result = reset_sessions.apply(okta, reset_sessions.plan(okta, {"users": [admin]}))
    assert result.outcome == "applied"
    assert [a.change.ref.name for a in result.applied] == [admin]
    assert len(sandbox.admin.session_revocations()) == 1


def test_classic_org_is_refused_before_any_revocation(sandbox: Sandbox, okta: OktaClient) -> None:
    plan = reset_sessions.plan(okta, {"group": "KMSI Pilot"})
    sandbox.admin.org_settings = {"pipeline": "v1"}
    with OktaClient(SANDBOX_URL, SSWSAuth(sandbox.token), transport=sandbox.transport()) as fresh:
        with pytest.raises(ClassicEngineError):
            reset_sessions.apply(fresh, plan)
    assert sandbox.admin.session_revocations() == []
