"""Reset KMSI (revoke sessions): list parsing and parameters, then the sandbox."""

from __future__ import annotations

from typing import Any

import pytest

from kmsi_lib.errors import ParameterError
from kmsi_lib.procedures import reset_sessions
from kmsi_lib.procedures._base import parse_params


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
        pytest.param({"users": ["a"], "forget_devices": "maybe"}, "forget_devices",
                     "true or false", id="flag-not-bool"),
        pytest.param({"users": ["a"], "max_workers": 0}, "max_workers", "1 or more",
                     id="workers-zero"),
        pytest.param({"users": ["a"], "revoke_everything": True}, "revoke_everything",
                     "not a parameter", id="unknown-parameter"),
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
