"""The ipywidgets forms, driven without a browser: set values, click, assert on the state."""

from __future__ import annotations

import enum
import json
from html import escape
from pathlib import Path
from typing import Any

import ipywidgets as w
import pydantic
import pytest

from kmsi_lib.okta.client import OktaClient, RetryPolicy
from kmsi_lib.procedures import REGISTRY
from kmsi_lib.runbooks.forms import RunbookForm, field_inputs, validate_values
from kmsi_lib.runbooks.runbook import Runbook
from kmsi_lib.sandbox import SANDBOX_URL, Sandbox

POST_AUTH = {"apps": {"labels": ["Salesforce.com"]}, "prompt_frequency": "P7D"}


@pytest.fixture
def sb() -> Sandbox:
    return Sandbox(seed="default")


def form_for(
    sb: Sandbox,
    tmp_path: Path,
    procedure: str = "post_auth",
    params: dict[str, Any] | None = None,
    **kw: Any,
) -> RunbookForm:
    env = {"OKTA_ORG_URL": SANDBOX_URL, "OKTA_API_TOKEN": sb.token}
    client = OktaClient.from_env(
        env=env, transport=sb.transport(), retry=RetryPolicy(max_attempts=1)
    )
    rb = Runbook(
        procedure,
        params=POST_AUTH if params is None else params,
        evidence_dir=str(tmp_path),
        client=client,
        interactive=True,
        display=lambda _obj: None,
        **kw,
    )
    return rb.show_form()


def html_of(output: w.Output) -> str:
    return "".join(o["data"].get("text/html", "") for o in output.outputs)


def text_of(output: w.Output) -> str:
    return "".join(o["data"]["text/plain"] for o in output.outputs)


def test_inputs_match_the_parameter_types() -> None:
    """Each parameter gets the input its type calls for, prefilled from the given values."""
    inputs = {
        i.name: i
        for i in field_inputs(REGISTRY["post_auth"].params, {"apps": {"labels": ["A", "B"]}})
    }
    assert isinstance(inputs["update_default_rule"].widget, w.Checkbox)
    assert isinstance(inputs["max_session_idle_minutes"].widget, w.IntText)
    assert isinstance(inputs["factor_mode"].widget, w.Dropdown)
    assert inputs["factor_mode"].widget.options == ("1FA", "2FA")
    assert inputs["apps.labels"].widget.value == "A\nB"
    assert inputs["apps.labels"].value() == ["A", "B"]
    assert inputs["rule_name"].widget.value == "" and inputs["rule_name"].value() is None
    assert inputs["constraints"].kind == "json" and inputs["constraints"].value() is None
    brands = {i.name: i for i in field_inputs(REGISTRY["prompt_text"].params, {"brands": "all"})}
    assert brands["brands"].value() == "all"
    brands["brands"].widget.value = "Acme Corp, Acme Partners"
    assert brands["brands"].value() == ["Acme Corp", "Acme Partners"]
    assert brands["title"].value() is None  # empty optional text means "leave as is"


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Sample(pydantic.BaseModel):
    colour: Colour = Colour.BLUE
    ratio: float = 0.5
    names: list[str] = pydantic.Field(default_factory=list)
    extra: dict[str, int] | None = None
    limit: int | None = None


def test_enums_floats_and_json_inputs() -> None:
    """Enums become dropdowns of their values; anything else unusual is JSON text."""
    inputs = {i.name: i for i in field_inputs(Sample, {"colour": "red"})}
    assert isinstance(inputs["colour"].widget, w.Dropdown)
    assert inputs["colour"].widget.options == ("red", "blue")
    assert inputs["colour"].value() == "red"
    assert isinstance(inputs["ratio"].widget, w.FloatText)
    inputs["extra"].widget.value = '{"a": 1}'
    assert inputs["extra"].value() == {"a": 1}
    values, messages, general = validate_values(Sample, list(inputs.values()))
    assert values == {"colour": "red", "ratio": 0.5, "names": [], "extra": {"a": 1}, "limit": None}
    inputs["limit"].widget.value = "7"
    assert inputs["limit"].value() == 7
    assert messages == {} and general == ""


def test_validation_message_sits_beside_the_field(sb: Sandbox, tmp_path: Path) -> None:
    """A wrong value shows its message next to that field only, as soon as it is typed."""
    form = form_for(sb, tmp_path)
    assert all(not i.error for i in form.inputs)
    form.by_name("max_session_idle_minutes").widget.value = 0
    form.by_name("prompt_frequency").widget.value = "seven days"
    assert "1 or more" in form.by_name("max_session_idle_minutes").error
    assert form.by_name("prompt_frequency").error
    assert not form.by_name("rule_name").error
    form.by_name("constraints").widget.value = "[{"
    assert "must be JSON" in form.by_name("constraints").error


def test_plan_with_errors_does_not_plan(sb: Sandbox, tmp_path: Path) -> None:
    """Plan with an invalid field reads nothing from the org and says what to fix."""
    form = form_for(sb, tmp_path)
    form.by_name("max_session_idle_minutes").widget.value = -5
    assert form.on_plan() is None
    assert "Fix the fields" in text_of(form.plan_output)
    assert form.runbook.client is not None and not form.runbook.client.journal.to_dicts()
    assert form.apply_button.disabled


def test_error_found_while_planning_is_marked_on_the_field(sb: Sandbox, tmp_path: Path) -> None:
    """No app chosen is found by the procedure; the message lands beside the apps inputs."""
    form = form_for(sb, tmp_path)
    form.by_name("apps.labels").widget.value = ""
    assert form.on_plan() is None
    assert "at least one" in form.by_name("apps.labels").error
    assert "Fix" in text_of(form.plan_output)


def test_plan_shows_diff_then_ticket_enables_apply_and_apply_verifies(
    sb: Sandbox, tmp_path: Path
) -> None:
    """The whole happy path: Plan, ticket, Apply, verification shown, org changed, evidence."""
    form = form_for(sb, tmp_path)
    assert form.apply_button.disabled and "Plan" in form.apply_hint.value
    form.on_plan()
    assert "keepMeSignedIn.postAuth" in html_of(form.plan_output)
    assert "<table>" in html_of(form.plan_output)
    assert form.apply_button.disabled  # no ticket yet
    form.ticket.value = "CHG 1"
    assert form.apply_button.disabled and "not a change ticket" in form.apply_hint.value
    form.ticket.value = "CHG-42"
    # Salesforce.com's policy serves 16 apps: the reach is shown, and Apply waits for the box
    assert form.apply_button.disabled and "tick the box" in form.apply_hint.value
    assert form.reach_box.layout.display == "" and "16" in form.reach_text.value
    assert 'class="kmsi-impact"' in html_of(form.plan_output)
    form.reach_ack.value = True
    assert not form.apply_button.disabled
    form.on_apply()
    assert "Apply: post_auth: applied" in text_of(form.apply_output)
    assert "Verification: passed" in text_of(form.verify_output)
    assert form.apply_button.disabled  # one plan, one apply
    data = json.loads((tmp_path / "result.json").read_text())
    assert data["outcome"] == "applied" and data["change_id"] == "CHG-42"
    assert any(
        "acknowledged the plan's reach (at apply)" in n for n in data["apply_result"]["notes"]
    )
    assert data["mode"] == "apply" and data["verification"]["ok"] is True
    # the org itself: the app's rule now allows post-auth KMSI
    rb = form.runbook
    assert rb.client is not None
    rule_id = rb.last_plan.changes[-1].ref.id
    policy_id = rb.last_plan.changes[-1].ref.parent_id
    rule = rb.client.get_json(f"/api/v1/policies/{policy_id}/rules/{rule_id}")
    assert rule["actions"]["appSignOn"]["keepMeSignedIn"]["postAuth"] == "ALLOWED"


def test_changing_the_form_after_planning_disables_apply(sb: Sandbox, tmp_path: Path) -> None:
    """The plan applied must be the plan shown: any edit after Plan needs a new Plan."""
    form = form_for(sb, tmp_path, change_id="CHG-1")
    form.on_plan()
    form.reach_ack.value = True
    assert not form.apply_button.disabled
    form.by_name("prompt_frequency").widget.value = "P1D"
    assert form.apply_button.disabled and form.plan is None
    assert "plan again" in text_of(form.plan_output)
    assert form.on_apply() is None  # a click on a stale form does nothing
    form.on_plan()
    assert "P1D" in html_of(form.plan_output)
    assert form.apply_button.disabled and not form.reach_ack.value  # a new plan: tick again
    form.reach_ack.value = True
    assert not form.apply_button.disabled


def test_unknown_name_from_the_org_is_shown_in_the_plan_output(sb: Sandbox, tmp_path: Path) -> None:
    """An error the org reveals (no such app) is shown where the diff would be."""
    form = form_for(sb, tmp_path, params={"apps": {"labels": ["Salesforce"]}})
    assert form.on_plan() is None
    assert "Salesforce.com" in text_of(form.plan_output)  # the suggestion
    assert form.apply_button.disabled
    assert json.loads((tmp_path / "result.json").read_text())["outcome"] == "failed"


def test_manual_steps_need_the_attestation_fields(sb: Sandbox, tmp_path: Path) -> None:
    """A pre-auth plan shows the attestation inputs; Apply waits until they are filled."""
    form = form_for(
        sb,
        tmp_path,
        procedure="pre_auth",
        change_id="CHG-8",
        params={"groups": ["KMSI Pilot"], "apps": {"labels": ["Salesforce.com"]}},
    )
    assert form.attestation_box.layout.display == "none"
    form.on_plan()
    assert form.attestation_box.layout.display == ""
    assert form.apply_button.disabled and "manual steps" in form.apply_hint.value
    sb.admin.set_org_settings({"preAuthKmsi": True})
    form.attest_by.value = "ann.admin"
    form.attest_statement.value = "Switched it on in Security > General."
    form.reach_ack.value = True  # a global session policy applies on every app
    assert not form.apply_button.disabled
    form.on_apply()
    assert "Verification: passed" in text_of(form.verify_output)
    data = json.loads((tmp_path / "result.json").read_text())
    assert data["apply_result"]["attestation"]["by"] == "ann.admin"


def test_bulk_apply_moves_the_progress_bar(sb: Sandbox, tmp_path: Path) -> None:
    form = form_for(
        sb, tmp_path, procedure="reset_sessions", change_id="CHG-3", params={"group": "KMSI Pilot"}
    )
    form.on_plan()
    total = len(form.plan.changes)
    assert total > 0
    form.on_apply()
    assert form.progress_box.layout.display == ""
    assert (form.progress.value, form.progress.max) == (total, total)
    assert form.progress_text.value == f"{total} of {total} done"


def test_read_only_audit_form_never_enables_apply(sb: Sandbox, tmp_path: Path) -> None:
    form = form_for(sb, tmp_path, procedure="audit", params={}, change_id="CHG-1")
    form.on_plan()
    assert form.plan is not None and form.apply_button.disabled
    assert "only reads" in form.apply_hint.value


def test_audit_form_shows_the_findings_as_checks(sb: Sandbox, tmp_path: Path) -> None:
    """Plan on the audit's form shows the report and then the verification table, as headless."""
    form = form_for(sb, tmp_path, procedure="audit", params={})
    form.on_plan()
    recorded = form.runbook.result["verification"]
    assert recorded["checks"], recorded
    shown = html_of(form.verify_output)
    assert "<table" in shown
    for check in recorded["checks"]:
        assert check["name"] in shown or escape(check["name"]) in shown, check
    assert form.apply_button.disabled


def test_model_level_error_is_shown_for_the_form(sb: Sandbox, tmp_path: Path) -> None:
    """A rule about several fields together (choose some users) shows under the form."""
    form = form_for(sb, tmp_path, procedure="reset_sessions", params={"group": "KMSI Pilot"})
    form.by_name("group").widget.value = ""
    assert "choose users" in form.general.value


NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9]*.ipynb"))


@pytest.mark.parametrize("with_params_file", [False, True], ids=["defaults", "sandbox-yaml"])
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_runbook_form_round_trips_its_parameters(
    path: Path, with_params_file: bool, sb: Sandbox, tmp_path: Path
) -> None:
    """The form prefilled from a runbook's parameters (and its sandbox params file) reads back
    the same parameters."""
    import ast

    from kmsi_lib.engine import parse_params
    from kmsi_lib.runbooks.params import load_params_file, notebook_info, params_file_for

    info = notebook_info(path)
    namespace = {n: ast.literal_eval(p.default) for n, p in info.parameters.items()}
    if with_params_file:
        namespace.update(load_params_file(path.parent.parent / params_file_for(path)))
    model = REGISTRY[info.procedure].params
    fields = model.model_fields
    params = {
        k: v
        for k, v in namespace.items()
        if k in fields and not (fields[k].is_required() and v is None)
    }
    form = form_for(sb, tmp_path, procedure=info.procedure, params=params)
    values, messages, general = validate_values(model, form.inputs)
    if not with_params_file and info.procedure != "audit":
        # The notebook chooses nothing: without a params file the form asks for the selection.
        assert messages or general, "a runbook's own defaults must not select anything"
        return
    assert (messages, general) == ({}, "")
    assert values is not None
    expected = parse_params(model, params).model_dump(mode="json")
    assert parse_params(model, values).model_dump(mode="json") == expected
