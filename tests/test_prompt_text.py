"""The post-auth KMSI prompt text procedure: pure merge and selection, then the sandbox."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest
from procedure_support import org_snapshot, refused_before_any_write, sandbox_writes

from kmsi_lib.engine import ApplyResult, Plan, parse_params
from kmsi_lib.errors import (
    ClassicEngineError,
    ParameterError,
    StalePlanError,
    ValidationError,
)
from kmsi_lib.okta.auth import SSWSAuth
from kmsi_lib.okta.client import OktaClient
from kmsi_lib.procedures import prompt_text, rollback
from kmsi_lib.sandbox import SANDBOX_URL, Sandbox, SandboxConfig

# A page customised out of band with unusual values and a field this library does not know.
ODD_PAGE: dict[str, Any] = {
    "pageContent": "<html><body>{{{SignInWidgetResources}}} custom é ✓</body></html>",
    "widgetVersion": "7.13",
    "contentSecurityPolicySetting": {
        "mode": "enforced",
        "reportUri": "https://csp.example.com/report",
        "srcList": ["https://cdn.example.com"],
    },
    "widgetCustomizations": {
        "signInLabel": "Log on",
        "usernameLabel": None,
        "helpUrl": "",
        "showPasswordVisibilityToggle": False,
        "widgetGeneration": "G3",
        "classicFooterHelpTitle": "Need help? Call 555-0100",
        "futureLabel": {"nested": [1, 2, 3]},
        "postAuthKeepMeSignedInPrompt": {
            "title": "Old title",
            "subtitle": None,
            "acceptButtonText": "Yes",
            "rejectButtonText": "No",
        },
    },
    "futurePageField": "kept",
}


def test_merge_changes_only_the_given_prompt_fields_and_keeps_everything_else() -> None:
    original = copy.deepcopy(ODD_PAGE)
    merged = prompt_text.merge_prompt(ODD_PAGE, {"title": "Stay signed in?"})
    assert ODD_PAGE == original, "the page as read is not mutated"
    expected = copy.deepcopy(ODD_PAGE)
    expected["widgetCustomizations"]["postAuthKeepMeSignedInPrompt"]["title"] = "Stay signed in?"
    assert merged == expected


def test_merge_drops_hypermedia_only() -> None:
    page = {**ODD_PAGE, "_links": {"self": {"href": "x"}}}
    assert "_links" not in prompt_text.merge_prompt(page, {})
    assert prompt_text.merge_prompt(page, {})["futurePageField"] == "kept"


def test_merge_into_a_page_without_widget_customizations() -> None:
    merged = prompt_text.merge_prompt({"pageContent": "<html/>"}, {"subtitle": "Sub"})
    assert merged == {
        "pageContent": "<html/>",
        "widgetCustomizations": {"postAuthKeepMeSignedInPrompt": {"subtitle": "Sub"}},
    }


BRANDS = [
    {"id": "bnd1", "name": "Acme", "isDefault": True},
    {"id": "bnd2", "name": "Acme Partners", "isDefault": False},
]


@pytest.mark.parametrize(
    ("wanted", "ids"),
    [
        pytest.param("all", ["bnd1", "bnd2"], id="all"),
        pytest.param(["Acme Partners"], ["bnd2"], id="by-name"),
        pytest.param(["bnd1"], ["bnd1"], id="by-id"),
        pytest.param(["bnd1", "Acme", "bnd2"], ["bnd1", "bnd2"], id="same-brand-twice-once"),
    ],
)
def test_select_brands(wanted: Any, ids: list[str]) -> None:
    assert [b["id"] for b in prompt_text.select_brands(BRANDS, wanted)] == ids


def test_unknown_brand_names_the_entry_and_suggests() -> None:
    with pytest.raises(ParameterError) as err:
        prompt_text.select_brands(BRANDS, ["Acme", "Acme Partner"])
    assert err.value.field == "brands[1]"
    assert "'Acme Partner'" in err.value.message and "did you mean 'Acme Partners'" in str(
        err.value
    )


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        pytest.param({"brands": "all"}, "params", "at least one of title", id="no-text"),
        pytest.param({"brands": [], "title": "T"}, "brands", "at least one brand", id="no-brand"),
        pytest.param({"title": "T"}, "brands", "required", id="brands-missing"),
        pytest.param(
            {"brands": "all", "title": "  "}, "title", "must not be empty", id="blank-title"
        ),
        pytest.param(
            {"brands": "all", "title": "T", "colour": "red"},
            "colour",
            "not a parameter",
            id="unknown-parameter",
        ),
        pytest.param(
            {"brands": "everything", "title": "T"}, "brands", "", id="brands-not-all-or-list"
        ),
    ],
)
def test_invalid_parameters_name_the_field(data: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ParameterError) as err:
        parse_params(prompt_text.Params, data)
    assert err.value.field.startswith(field)
    assert words in err.value.message


def test_desired_prompt_uses_okta_field_names_and_skips_none() -> None:
    p = parse_params(
        prompt_text.Params, {"brands": "all", "title": "T", "reject_button_text": "No thanks"}
    )
    assert prompt_text.desired_prompt(p) == {"title": "T", "rejectButtonText": "No thanks"}


# --------------------------------------------------------------------------- against the sandbox

PROMPT = "widgetCustomizations.postAuthKeepMeSignedInPrompt"
PARAMS: dict[str, Any] = {
    "brands": "all",
    "title": "Stay signed in?",
    "subtitle": "Make your selection below",
    "accept_button_text": "Accept",
    "reject_button_text": "Reject",
}


def _brand_ids(sb: Sandbox) -> dict[str, str]:
    return {b["name"]: b["id"] for b in sb.admin.snapshot()["brands"].values()}


def _pages(sb: Sandbox) -> dict[str, Any]:
    return dict(sb.admin.snapshot()["sign_in_pages"])


def test_plan_on_a_fresh_org_reads_only_and_lists_each_prompt_field(
    sandbox: Sandbox, okta: OktaClient
) -> None:
    plan = prompt_text.plan(okta, PARAMS)
    assert sandbox_writes(sandbox) == []
    ids = _brand_ids(sandbox)
    by_brand = {c.ref.name: c for c in plan.changes}
    assert set(by_brand) == {"Acme Corp", "Acme Partners"}
    # The default brand has no customized page: the PUT creates one from the default page.
    created = by_brand["Acme Corp"]
    assert (created.action, created.kind, created.before) == ("create", "sign_in_page", None)
    assert created.ref.id == ids["Acme Corp"]
    assert {d.path: (d.before, d.after) for d in created.diffs}[f"{PROMPT}.title"] == (
        "Keep me signed in",
        "Stay signed in?",
    )
    updated = by_brand["Acme Partners"]
    assert updated.action == "update"
    assert [d.path for d in updated.diffs] == [
        f"{PROMPT}.title",
        f"{PROMPT}.subtitle",
        f"{PROMPT}.acceptButtonText",
        f"{PROMPT}.rejectButtonText",
    ]
    assert "Stay signed in?" in plan.to_text() and "Stay signed in?" in plan._repr_html_()
    again = Plan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert again.fingerprint == plan.fingerprint and len(again.changes) == 2


def test_apply_puts_the_whole_page_verify_passes_and_a_second_apply_writes_nothing(
    sandbox: Sandbox, okta: OktaClient
) -> None:
    partner = _brand_ids(sandbox)["Acme Partners"]
    before = _pages(sandbox)[partner]["customized"]
    approved = json.loads(json.dumps(prompt_text.plan(okta, PARAMS).to_dict()))
    result = prompt_text.apply(okta, Plan.from_dict(approved))  # as reloaded from evidence
    assert result.outcome == "applied" and result.verification.ok, result.to_text()
    assert sorted(sandbox_writes(sandbox)) == sorted(
        f"PUT /api/v1/brands/{b}/pages/sign-in/customized" for b in _brand_ids(sandbox).values()
    )
    after = _pages(sandbox)[partner]["customized"]
    # Everything but the prompt survives the full-replace PUT.
    assert after["pageContent"] == before["pageContent"]
    assert after["widgetVersion"] == before["widgetVersion"]
    assert after["widgetCustomizations"]["signInLabel"] == "Acme Partners sign-in"
    assert after["widgetCustomizations"]["postAuthKeepMeSignedInPrompt"] == {
        "title": "Stay signed in?",
        "subtitle": "Make your selection below",
        "acceptButtonText": "Accept",
        "rejectButtonText": "Reject",
    }
    assert prompt_text.verify(okta, PARAMS).ok

    sandbox.admin.clear_requests()
    second = prompt_text.plan(okta, PARAMS)
    assert second.is_empty, second.to_text()
    assert prompt_text.apply(okta, second).outcome == "no-op"
    assert sandbox_writes(sandbox) == []


def test_put_body_is_the_page_as_read_with_only_the_prompt_changed(
    sandbox: Sandbox, okta: OktaClient, sandbox_client: httpx.Client
) -> None:
    """A page customised out of band with odd values survives apply and rollback exactly."""
    partner = _brand_ids(sandbox)["Acme Partners"]
    path = f"/api/v1/brands/{partner}/pages/sign-in/customized"
    assert sandbox_client.put(path, json=ODD_PAGE).status_code == 200
    as_read = sandbox_client.get(path).json()
    original = org_snapshot(sandbox)

    params = {"brands": ["Acme Partners"], "title": "Stay signed in?"}
    result = prompt_text.apply(okta, prompt_text.plan(okta, params))
    assert result.verification.ok, result.to_text()
    sent = [e.request_body for e in okta.journal.entries if e.method == "PUT"]
    expected = copy.deepcopy(as_read)
    expected["widgetCustomizations"]["postAuthKeepMeSignedInPrompt"]["title"] = "Stay signed in?"
    assert sent == [expected]
    page = sandbox_client.get(path).json()
    assert page == expected, "every field as read, only the title changed"
    assert page["pageContent"] == ODD_PAGE["pageContent"]
    assert page["widgetVersion"] == "7.13"
    assert page["contentSecurityPolicySetting"] == ODD_PAGE["contentSecurityPolicySetting"]
    assert page["widgetCustomizations"]["classicFooterHelpTitle"] == "Need help? Call 555-0100"
    assert page["widgetCustomizations"]["postAuthKeepMeSignedInPrompt"]["subtitle"] is None

    undo = rollback.plan(okta, {"apply_result": result.to_dict()})
    assert rollback.apply(okta, undo).verification.ok
    assert org_snapshot(sandbox) == original


def test_fields_unknown_to_the_library_are_sent_back(sandbox: Sandbox, okta: OktaClient) -> None:
    """A future field stored on the page is part of the PUT body (never filtered out), and
    is still in the org with its value after the apply and after the rollback.

    The sandbox plays a newer Okta release that knows these fields (``future_fields``);
    without that it would drop them, as Okta drops fields it does not know.
    """
    sandbox.admin.set_future_fields(
        {"sign-in page": ["futurePageField", "widgetCustomizations.futureLabel"]}
    )
    partner = _brand_ids(sandbox)["Acme Partners"]
    path = f"/api/v1/brands/{partner}/pages/sign-in/customized"
    with sandbox.client() as newer_admin:  # set out of band by a client of the newer release
        assert newer_admin.put(path, json=ODD_PAGE).status_code == 200
    original = org_snapshot(sandbox)

    def assert_org_keeps_them() -> None:
        with sandbox.client() as direct:
            in_org = direct.get(path).json()
        assert in_org["futurePageField"] == "kept"
        assert in_org["widgetCustomizations"]["futureLabel"] == {"nested": [1, 2, 3]}

    params = {"brands": [partner], "title": "Stay signed in?"}  # chosen by id this time
    result = prompt_text.apply(okta, prompt_text.plan(okta, params))
    assert result.outcome == "applied"
    (sent,) = [e.request_body for e in okta.journal.entries if e.method == "PUT"]
    assert sent["futurePageField"] == "kept"
    assert sent["widgetCustomizations"]["futureLabel"] == {"nested": [1, 2, 3]}
    assert_org_keeps_them()

    undo = rollback.plan(okta, {"apply_result": result.to_dict()})
    done = rollback.apply(okta, undo)
    assert done.verification.ok, done.to_text()
    (_, sent) = [e.request_body for e in okta.journal.entries if e.method == "PUT"]
    assert sent["futurePageField"] == "kept"
    assert sent["widgetCustomizations"]["futureLabel"] == {"nested": [1, 2, 3]}
    assert_org_keeps_them()
    assert org_snapshot(sandbox) == original


def test_rollback_deletes_a_customized_page_the_apply_created(
    sandbox: Sandbox, okta: OktaClient
) -> None:
    original = org_snapshot(sandbox)
    result = prompt_text.apply(okta, prompt_text.plan(okta, PARAMS))
    record = ApplyResult.from_dict(json.loads(json.dumps(result.to_dict())))
    default_brand = _brand_ids(sandbox)["Acme Corp"]
    assert _pages(sandbox)[default_brand]["customized"] is not None

    undo = rollback.plan(okta, {"apply_result": record.to_dict()})
    done = rollback.apply(okta, undo)
    assert done.verification.ok, done.to_text()
    deleted = f"DELETE /api/v1/brands/{default_brand}/pages/sign-in/customized"
    assert deleted in sandbox_writes(sandbox)
    assert org_snapshot(sandbox) == original


def test_apply_after_out_of_band_change_refuses_and_writes_nothing(
    sandbox: Sandbox, okta: OktaClient
) -> None:
    plan = prompt_text.plan(okta, PARAMS)
    partner = _brand_ids(sandbox)["Acme Partners"]
    state = sandbox.admin.snapshot()
    state["sign_in_pages"][partner]["customized"]["widgetCustomizations"]["helpLabel"] = "Aide"
    sandbox.admin.load(state)
    sandbox.admin.clear_requests()
    with pytest.raises(StalePlanError) as err:
        prompt_text.apply(okta, plan)
    assert "Acme Partners" in str(err.value) and "helpLabel" in str(err.value)
    assert sandbox_writes(sandbox) == []


def test_apply_refuses_another_procedures_plan(sandbox: Sandbox, okta: OktaClient) -> None:
    plan = prompt_text.plan(okta, PARAMS)
    plan.procedure = "post_auth"
    plan.digest = plan.content_digest()
    sandbox.admin.clear_requests()
    with pytest.raises(ParameterError) as err:
        prompt_text.apply(okta, plan)
    assert err.value.field == "plan" and "not a 'prompt_text' plan" in err.value.message
    assert sandbox_writes(sandbox) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({"brands": ["Acme Partner"], "title": "T"}, "brands[0]", id="unknown-brand"),
        pytest.param({"brands": [], "title": "T"}, "brands", id="empty-selection"),
        pytest.param({"brands": "all"}, "params", id="no-text"),
    ],
)
def test_invalid_parameters_fail_before_any_write(
    sandbox: Sandbox, okta: OktaClient, params: dict[str, Any], field: str
) -> None:
    refused_before_any_write(
        sandbox, lambda: prompt_text.apply(okta, prompt_text.plan(okta, params)), field
    )


def test_preview_first_writes_the_preview_page_and_reports_its_url(
    sandbox: Sandbox, okta: OktaClient
) -> None:
    original = org_snapshot(sandbox)
    params = {**PARAMS, "brands": ["Acme Partners"], "preview_first": True}
    plan = prompt_text.plan(okta, params)
    assert [(c.action, c.kind) for c in plan.changes] == [("create", "sign_in_preview_page")]
    result = prompt_text.apply(okta, plan)
    assert result.verification.ok, result.to_text()
    partner = _brand_ids(sandbox)["Acme Partners"]
    assert sandbox_writes(sandbox) == [f"PUT /api/v1/brands/{partner}/pages/sign-in/preview"]
    pages = _pages(sandbox)[partner]
    assert pages["preview"]["widgetCustomizations"]["postAuthKeepMeSignedInPrompt"]["title"] == (
        "Stay signed in?"
    )
    assert pages["customized"] == original["sign_in_pages"][partner]["customized"]
    assert any(n.startswith("preview of brand 'Acme Partners': http") for n in result.notes)
    assert prompt_text.verify(okta, params).ok
    assert prompt_text.plan(okta, params).is_empty

    rollback.apply(okta, rollback.plan(okta, {"apply_result": result.to_dict()}))
    assert org_snapshot(sandbox) == original


def test_over_loopback(sandbox: Sandbox) -> None:
    with sandbox.serve(port=0) as url, OktaClient(url, SSWSAuth(sandbox.token)) as okta:
        result = prompt_text.apply(okta, prompt_text.plan(okta, PARAMS))
        assert result.outcome == "applied" and result.verification.ok
        assert prompt_text.plan(okta, PARAMS).is_empty


def test_default_brand_without_a_customized_page_gets_no_page_content() -> None:
    """Okta may refuse page content for the default brand (E0000213): it is never sent."""
    sb = Sandbox(seed="default", config=SandboxConfig(default_brand_page_content_forbidden=True))
    with OktaClient(SANDBOX_URL, SSWSAuth(sb.token), transport=sb.transport()) as okta:
        params = {"brands": ["Acme Corp"], "title": "Stay signed in?"}
        plan = prompt_text.plan(okta, params)
        assert "pageContent" not in (plan.changes[0].after or {})
        assert "page content" in plan.changes[0].note
        result = prompt_text.apply(okta, plan)
        assert result.verification.ok, result.to_text()
        assert prompt_text.plan(okta, params).is_empty


def test_classic_org_is_refused_at_plan_time() -> None:
    sb = Sandbox(seed="classic")
    with OktaClient(SANDBOX_URL, SSWSAuth(sb.token), transport=sb.transport()) as okta:
        with pytest.raises(ClassicEngineError):
            prompt_text.plan(okta, PARAMS)
    assert sandbox_writes(sb) == []


def test_preview_of_text_the_live_page_already_shows_is_not_needed(
    sandbox: Sandbox, okta: OktaClient
) -> None:
    partner = {"brands": ["Acme Partners"], "title": "Stay signed in to Acme Partners?"}
    plan = prompt_text.plan(okta, {**partner, "preview_first": True})
    assert plan.is_empty
    assert plan.notes == [
        "brand 'Acme Partners': its customized page already shows this text; nothing to do"
    ]
    assert prompt_text.verify(okta, {**partner, "preview_first": True}).ok


def test_org_without_the_kmsi_feature_is_told_and_nothing_is_written(
    sandbox: Sandbox, okta: OktaClient
) -> None:
    sandbox.admin.org_settings = {"kmsiFeature": False}
    pages = _pages(sandbox)
    plan = prompt_text.plan(okta, {"brands": ["Acme Partners"], "title": "Stay signed in?"})
    assert any("Keep Me Signed In feature" in n for n in plan.notes)
    with pytest.raises(ValidationError):
        prompt_text.apply(okta, plan)
    partner = _brand_ids(sandbox)["Acme Partners"]
    assert sandbox_writes(sandbox) == [f"PUT /api/v1/brands/{partner}/pages/sign-in/customized"]
    assert _pages(sandbox) == pages, "the refused PUT changed nothing"


def test_a_saved_preview_draft_is_replaced_and_rollback_puts_it_back(
    sandbox: Sandbox, okta: OktaClient, sandbox_client: httpx.Client
) -> None:
    partner = _brand_ids(sandbox)["Acme Partners"]
    draft = copy.deepcopy(_pages(sandbox)[partner]["customized"])
    draft["widgetCustomizations"]["helpLabel"] = "Draft help"
    path = f"/api/v1/brands/{partner}/pages/sign-in/preview"
    assert sandbox_client.put(path, json=draft).status_code == 200
    original = org_snapshot(sandbox)

    params = {"brands": ["Acme Partners"], "title": "Stay signed in?", "preview_first": True}
    plan = prompt_text.plan(okta, params)
    (change,) = plan.changes
    assert change.action == "update"
    assert change.note == "the saved preview is replaced by the live page"
    assert {d.path for d in change.diffs} == {"widgetCustomizations.helpLabel", f"{PROMPT}.title"}
    result = prompt_text.apply(okta, plan)
    assert result.verification.ok, result.to_text()
    live_help = _pages(sandbox)[partner]["customized"]["widgetCustomizations"]["helpLabel"]
    assert sandbox_client.get(path).json()["widgetCustomizations"]["helpLabel"] == live_help

    rollback.apply(okta, rollback.plan(okta, {"apply_result": result.to_dict()}))
    assert org_snapshot(sandbox) == original


def test_a_brand_not_named_appearing_is_no_drift(sandbox: Sandbox, okta: OktaClient) -> None:
    named = {"brands": ["Acme Partners"], "title": "Stay signed in?"}
    plan = prompt_text.plan(okta, named)
    every = prompt_text.plan(okta, {**named, "brands": "all"})
    state = sandbox.admin.snapshot()  # the sandbox has no POST /brands: add one out of band
    partner = _brand_ids(sandbox)["Acme Partners"]
    labs = {**state["brands"][partner], "id": "bndLabs0000000000000", "name": "Acme Labs"}
    state["brands"][labs["id"]] = labs
    state["sign_in_pages"][labs["id"]] = {"customized": None, "preview": None}
    sandbox.admin.load(state)
    assert prompt_text.apply(okta, plan).outcome == "applied"
    with pytest.raises(StalePlanError):
        prompt_text.apply(okta, every)
