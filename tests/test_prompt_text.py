"""The post-auth KMSI prompt text procedure: pure merge and selection, then the sandbox."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kmsi_lib.errors import ParameterError
from kmsi_lib.procedures import prompt_text
from kmsi_lib.procedures._base import parse_params

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
        pytest.param({"brands": "all", "title": "  "}, "title", "must not be empty",
                     id="blank-title"),
        pytest.param({"brands": "all", "title": "T", "colour": "red"}, "colour",
                     "not a parameter", id="unknown-parameter"),
        pytest.param({"brands": "everything", "title": "T"}, "brands", "",
                     id="brands-not-all-or-list"),
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
