"""Forms a new admin understands: labels, help and words, suggestions, tickets, privileged
selections, failed checks first, one recorded result per apply, the pre-auth toggle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest
from procedure_support import comparable_snapshot
from test_forms import form_for, html_of, text_of

from kmsi_lib.engine import Check, Verification, privileged_selection
from kmsi_lib.engine.labels import param_label
from kmsi_lib.engine.render import verification_html, verification_text
from kmsi_lib.errors import ParameterError
from kmsi_lib.procedures import REGISTRY, rollback
from kmsi_lib.runbooks import contract
from kmsi_lib.runbooks.session import list_applies
from kmsi_lib.sandbox import SANDBOX_URL, Sandbox

CONSOLE = f"{SANDBOX_URL}/_sandbox/console/security/general"


@pytest.fixture
def sb() -> Sandbox:
    return Sandbox(seed="default")


def _names(model: type[pydantic.BaseModel], prefix: str = "") -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for name, info in model.model_fields.items():
        if isinstance(info.annotation, type) and issubclass(info.annotation, pydantic.BaseModel):
            found += _names(info.annotation, f"{prefix}{name}.")
        else:
            found.append((f"{prefix}{name}", info))
    return found


@pytest.mark.parametrize("procedure", sorted(REGISTRY))
def test_every_parameter_has_a_plain_label_and_a_description(procedure: str) -> None:
    """No field of any procedure is shown as its bare name or without help text."""
    for name, info in _names(REGISTRY[procedure].params):
        assert info.description, f"{procedure}.{name} has no description"
        assert param_label(name) != name, f"{procedure}.{name} has no label in words"


def test_a_field_shows_its_label_help_and_parameter_name(sb: Sandbox, tmp_path: Path) -> None:
    """The label in words, the description under it, and the parameter name in a label of its
    own (what a params file calls it, and what the browser tests find a field by)."""
    form = form_for(sb, tmp_path)
    apps = form.by_name("apps.labels")
    assert apps.widget.description == "Apps (by label)"
    assert apps.help is not None
    assert 'style="font-family:monospace">apps.labels</label>' in apps.help.value
    assert "Admin Console shows it" in apps.help.value  # its description
    assert apps.widget.tooltip == apps.description
    assert form.by_name("prompt_frequency").widget.description == "Prompt shown again after"


def test_durations_are_shown_in_words_as_they_are_typed(sb: Sandbox, tmp_path: Path) -> None:
    form = form_for(sb, tmp_path)
    field = form.by_name("prompt_frequency")
    assert field.help is not None
    assert "P7D: 7 days" in field.help.value
    field.widget.value = "PT43800H"
    assert "PT43800H: 5 years, i.e. once per Okta session" in field.help.value
    field.widget.value = "every week"  # not a duration: no words, the error says why
    assert 'class="kmsi-words"' not in field.help.value and field.error
    lifetime = form.by_name("max_session_lifetime_minutes")
    assert lifetime.help is not None and "0: no limit" in lifetime.help.value
    lifetime.widget.value = 600
    assert "600 minutes (10 hours)" in lifetime.help.value


@pytest.mark.parametrize(
    ("procedure", "params", "field", "suggested"),
    [
        pytest.param(
            "pre_auth",
            {"groups": ["KMSI pilot"], "apps": {"labels": ["Slack"]}},
            "groups",
            "KMSI Pilot",
            id="group",
        ),
        pytest.param(
            "reset_sessions",
            {"users": ["nadia.petrov@acme.exampel.com"]},
            "users",
            "nadia.petrov@acme.example.com",
            id="user",
        ),
        pytest.param("reset_sessions", {"group": "KMSI Pilots"}, "group", "KMSI Pilot", id="group"),
        pytest.param("post_auth", {"apps": {"labels": ["Slak"]}}, "apps.labels", "Slack", id="app"),
    ],
)
def test_a_near_miss_name_gets_its_suggestion_beside_the_field(
    sb: Sandbox, tmp_path: Path, procedure: str, params: dict[str, Any], field: str, suggested: str
) -> None:
    form = form_for(sb, tmp_path, procedure=procedure, params=params)
    assert form.on_plan() is None
    assert f"did you mean {suggested!r}" in form.by_name(field).error


# ---- the change ticket -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ticket", "pattern", "ok"),
    [
        pytest.param("CHG-1234", "", True, id="default"),
        pytest.param("x", "", False, id="too-short"),
        pytest.param("chg-12", "", False, id="lower-case"),
        pytest.param("CHG-12/..", "", False, id="path"),
        pytest.param("OPS1234567", r"^OPS\d{7}$", True, id="org-pattern"),
        pytest.param("CHG-1234", r"^OPS\d{7}$", False, id="not-the-org-pattern"),
        pytest.param("OPS 1", r"^OPS.*$", False, id="org-pattern-but-no-spaces"),
    ],
)
def test_change_ticket_pattern(ticket: str, pattern: str, ok: bool) -> None:
    env = {contract.CHANGE_PATTERN_ENV: pattern} if pattern else {}
    assert (contract.change_id_problem(ticket, env) == "") is ok


def test_a_broken_org_pattern_refuses_every_ticket_and_says_why() -> None:
    problem = contract.change_id_problem("CHG-1", {contract.CHANGE_PATTERN_ENV: "^(CHG"})
    assert contract.CHANGE_PATTERN_ENV in problem and "not a regular expression" in problem


def test_the_form_asks_for_the_org_pattern(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(contract.CHANGE_PATTERN_ENV, r"^OPS\d{4}$")
    form = form_for(sb, tmp_path)
    form.on_plan()
    form.reach_ack.value = True
    form.ticket.value = "CHG-1"
    assert form.apply_button.disabled and r"^OPS\d{4}$" in form.apply_hint.value
    form.ticket.value = "OPS0042"
    assert not form.apply_button.disabled


def _apply(form: Any, ticket: str) -> Any:
    form.on_plan()
    form.reach_ack.value = True
    form.ticket.value = ticket
    assert not form.apply_button.disabled, form.apply_hint.value
    return form.on_apply()


def test_a_ticket_is_never_reused_silently(sb: Sandbox, tmp_path: Path) -> None:
    """After an apply the ticket box is empty; the same ticket again needs the box ticked, and
    the apply result says it was used again."""
    form = form_for(sb, tmp_path)
    assert _apply(form, "CHG-11") is not None
    assert form.ticket.value == "" and form.used_tickets == ["CHG-11"]
    form.by_name("prompt_frequency").widget.value = "P1D"
    form.on_plan()
    form.reach_ack.value = True
    assert form.apply_button.disabled and "change ticket" in form.apply_hint.value
    form.ticket.value = "CHG-11"
    assert form.reuse_box.layout.display == ""
    assert form.apply_button.disabled and "earlier apply" in form.apply_hint.value
    form.reuse_ack.value = True
    assert not form.apply_button.disabled
    form.on_apply()
    notes = json.loads((tmp_path / "result.json").read_text())["apply_result"]["notes"]
    assert any("'CHG-11' approved an earlier apply" in n for n in notes)
    form.by_name("prompt_frequency").widget.value = "P2D"
    form.on_plan()
    form.ticket.value = "CHG-12"  # a new ticket: no confirmation asked
    assert form.reuse_box.layout.display == "none"


# ---- privileged selections ---------------------------------------------------------------


def test_privileged_selections_are_recognised() -> None:
    assert privileged_selection({"apps": {"labels": ["Okta Admin Console"]}}, None)
    assert privileged_selection({"groups": ["KMSI Pilot", "IT Admins"]}, None) == [
        "the group 'IT Admins' (its name reads like an administrator group)"
    ]
    assert privileged_selection({"group": "Super Users"}, None)
    assert privileged_selection({"apps": {"labels": ["Slack"]}, "groups": ["Sales"]}, None) == []


def test_the_admin_console_needs_an_explicit_acknowledgement(sb: Sandbox, tmp_path: Path) -> None:
    form = form_for(sb, tmp_path, params={"apps": {"labels": ["Okta Admin Console"]}})
    form.on_plan()
    form.reach_ack.value = True
    form.ticket.value = "CHG-20"
    assert form.privileged_box.layout.display == ""
    assert "Okta Admin Console" in form.privileged_text.value
    assert form.apply_button.disabled and "privileged" in form.apply_hint.value
    form.privileged_ack.value = True
    assert not form.apply_button.disabled
    assert form.on_apply() is not None
    notes = json.loads((tmp_path / "result.json").read_text())["apply_result"]["notes"]
    assert any("acknowledged privileged selections" in n and "Admin Console" in n for n in notes)
    form.on_plan()  # a new plan: the box must be ticked again
    assert not form.privileged_ack.value


def test_an_ordinary_selection_asks_no_privileged_acknowledgement(
    sb: Sandbox, tmp_path: Path
) -> None:
    form = form_for(sb, tmp_path)
    form.on_plan()
    assert form.privileged == [] and form.privileged_box.layout.display == "none"


# ---- failed checks first, with expected and actual ----------------------------------------


def test_failed_checks_come_first_with_expected_and_actual() -> None:
    checks = [Check(f"check {n}", True, n, n) for n in range(11)]
    checks.append(Check("rule 'KMSI' postAuthPromptFrequency", False, "PT168H", "PT24H"))
    verification = Verification(checks)
    text = verification_text(verification).splitlines()
    assert text[1].strip() == "FAILED  rule 'KMSI' postAuthPromptFrequency"
    assert "expected PT168H, found PT24H" in text[2]
    markup = verification_html(verification)
    assert markup.index("postAuthPromptFrequency") < markup.index("check 0")
    assert 'class="kmsi-check-failed"' in markup and "#b3261e" in markup
    assert "1 of 12 checks did not pass" in markup


def test_a_failed_verify_in_the_form_names_expected_and_actual(sb: Sandbox, tmp_path: Path) -> None:
    """The field another admin changed after the apply: the verify step says so first, with
    the value it expected and the one it found, then the table with that check on top."""
    form = form_for(sb, tmp_path)
    _apply(form, "CHG-30")
    rb = form.runbook
    assert rb.client is not None
    change = rb.last_plan.changes[-1]
    path = f"/api/v1/policies/{change.ref.parent_id}/rules/{change.ref.id}"
    rule = rb.client.get_json(path)
    rule["actions"]["appSignOn"]["keepMeSignedIn"]["postAuthPromptFrequency"] = "PT24H"
    body = {k: v for k, v in rule.items() if k not in ("id", "created", "lastUpdated", "_links")}
    rb.client.request("PUT", path, json=body)
    form.on_verify()
    shown = text_of(form.verify_output)
    assert shown.index("verify failed") < shown.index("Verification: FAILED")
    assert "1 of 12 checks did not pass" in shown and "expected P7D, found PT24H" in shown
    assert 'class="kmsi-check-failed"' in html_of(form.verify_output)


# ---- one recorded result per apply, and rolling them back ---------------------------------


def test_each_apply_is_recorded_and_rolled_back_to_the_start(sb: Sandbox, tmp_path: Path) -> None:
    """Two applies of one form session leave two results; the rollback form lists them, newest
    first, chooses the last; rolling back both, newest first, restores the starting org."""
    start = comparable_snapshot(sb)
    form = form_for(sb, tmp_path)
    _apply(form, "CHG-41")
    form.by_name("prompt_frequency").widget.value = "P1D"
    _apply(form, "CHG-42")
    applies = list_applies(tmp_path / contract.APPLIES_DIR)
    assert [(a.number, a.change_id, a.outcome) for a in applies] == [
        (2, "CHG-42", "applied"),
        (1, "CHG-41", "applied"),
    ]
    latest = json.loads((tmp_path / "result.json").read_text())
    assert latest == json.loads(applies[0].path.read_text())
    assert json.loads(applies[1].path.read_text())["change_id"] == "CHG-41"

    undo = form_for(sb, tmp_path, procedure="rollback", params={})
    assert undo.picker is not None
    assert undo.by_name("apply_result").widget.value == str(applies[0].path)
    assert "newest first" in undo.picker.text.value
    for n, item in enumerate(applies):
        undo.picker.refresh()
        undo.picker.choice.value = str(item.path)
        assert undo.by_name("apply_result").widget.value == str(item.path)
        _apply(undo, f"CHG-5{n}")
        assert "Verification: passed" in text_of(undo.verify_output)
    assert comparable_snapshot(sb) == start


def test_rollback_with_no_path_says_what_to_name(sb: Sandbox, tmp_path: Path) -> None:
    form = form_for(sb, tmp_path, procedure="rollback", params={})
    assert form.picker is not None and "No apply recorded" in form.picker.text.value
    for value in ("", ".", "./"):
        form.by_name("apply_result").widget.value = value
        assert form.on_plan() is None
        assert "name the apply result to roll back" in form.by_name("apply_result").error


def test_a_session_result_is_not_evidence_for_a_real_org(tmp_path: Path) -> None:
    path = tmp_path / contract.APPLIES_DIR / "01-post_auth-result.json"
    path.parent.mkdir()
    path.write_text("{}")
    with pytest.raises(ParameterError, match="only the sandbox"):
        rollback.load_apply_result(str(path))


# ---- the pre-auth toggle, as a trainee does it ---------------------------------------------


def test_pre_auth_form_refuses_until_the_toggle_is_clicked_on(sb: Sandbox, tmp_path: Path) -> None:
    """The plan names the sandbox's Admin Console page; Apply with an attestation but the toggle
    off writes nothing and says so; after Save on that page, the same plan applies."""
    from kmsi_lib.engine import witness

    params = {"groups": ["KMSI Pilot"], "apps": {"labels": ["Slack"]}}
    with witness.installed(witness.HttpSandboxWitness(SANDBOX_URL, transport=sb.transport())):
        form = form_for(sb, tmp_path, procedure="pre_auth", params=params)
        form.on_plan()
        assert CONSOLE in html_of(form.plan_output)
        form.attest_by.value = "trainee"
        form.attest_statement.value = "Ticked it in Security > General."
        form.reach_ack.value = True
        form.ticket.value = "CHG-60"
        sb.admin.clear_requests()
        assert form.on_apply() is None
        assert "still shows" in text_of(form.apply_output)
        assert not [r for r in sb.admin.requests() if r["method"] in ("POST", "PUT", "DELETE")]
        with httpx.Client(transport=sb.transport()) as browser:
            saved = browser.post(
                CONSOLE, data={"form": "organization-security", "preAuthKmsi": "on"}
            )
        assert saved.status_code == 200 and sb.admin.org_settings["preAuthKmsi"] is True
        assert form.on_apply() is not None
        assert "Verification: passed" in text_of(form.verify_output)


def test_the_audit_form_says_no_findings_when_there_are_none(sb: Sandbox, tmp_path: Path) -> None:
    """The seeded org's one finding fixed out of band: the form says so in words, not with an
    empty table."""
    form = form_for(sb, tmp_path, procedure="audit", params={})
    rb = form.runbook
    rb.connect()
    assert rb.client is not None
    policy = next(
        p
        for p in rb.client.get_json("/api/v1/policies", params={"type": "ACCESS_POLICY"})
        if p["name"] == "Okta Dashboard"
    )
    path = f"/api/v1/policies/{policy['id']}/rules"
    rule = next(r for r in rb.client.get_json(path) if r["name"] == "KMSI pilot: stay signed in")
    rule["actions"]["appSignOn"]["verificationMethod"]["reauthenticateIn"] = "PT12H"
    body = {k: v for k, v in rule.items() if k not in ("id", "created", "lastUpdated", "_links")}
    rb.client.request("PUT", f"{path}/{rule['id']}", json=body)
    form.on_plan()
    assert "No findings." in text_of(form.plan_output)
    assert "<p>No findings.</p>" in html_of(form.plan_output)
    assert "Verification: passed" in text_of(form.verify_output)


def test_the_session_directory_is_shared_by_the_runbooks_of_a_session(tmp_path: Path) -> None:
    """One place for every runbook of a session: the variable, else the trainee's workspace,
    else the runbook's own evidence directory."""
    from kmsi_lib.runbooks.session import applies_dir
    from kmsi_lib.runbooks.workspace import TRAINEE_ENV, WORKSPACE_ROOT_ENV

    own = tmp_path / "run"
    assert applies_dir(own, {}) == own / "applies"
    shared = {contract.SESSION_DIR_ENV: str(tmp_path / "s")}
    assert applies_dir(own, shared) == tmp_path / "s" / "applies"
    trainee = {TRAINEE_ENV: "t1", WORKSPACE_ROOT_ENV: str(tmp_path / "training")}
    assert applies_dir(own, trainee) == (tmp_path / "training").resolve() / "t1/.session/applies"
    assert applies_dir(own, {**trainee, TRAINEE_ENV: "../x"}) == own / "applies"
