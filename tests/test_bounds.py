"""Parameter bounds: documented values keep working, usual ceilings lift only when named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kmsi_lib.engine import field_messages, parse_params
from kmsi_lib.engine.bounds import raisable_fields
from kmsi_lib.errors import ParameterError
from kmsi_lib.procedures import audit, post_auth, pre_auth, prompt_text, reset_sessions
from kmsi_lib.runbooks.params import load_params_file

APPS = {"apps": {"labels": ["Slack"]}}
GROUPS = {"groups": ["KMSI Pilot"], "apps": {"labels": ["Slack"]}}


@pytest.mark.parametrize(
    ("model", "values"),
    [
        pytest.param(
            post_auth.Params, {**APPS, "reauthenticate_in": "PT43800H"}, id="once-per-session"
        ),
        pytest.param(
            post_auth.Params, {**APPS, "reauthenticate_in": "P1825D"}, id="once-per-session-in-days"
        ),
        pytest.param(post_auth.Params, {**APPS, "prompt_frequency": "P90D"}, id="prompt-90-days"),
        pytest.param(post_auth.Params, {**APPS, "prompt_frequency": "P1M"}, id="prompt-a-month"),
        pytest.param(
            post_auth.Params, {**APPS, "max_session_idle_minutes": 43200}, id="idle-30-days"
        ),
        pytest.param(
            post_auth.Params, {**APPS, "max_session_lifetime_minutes": 0}, id="lifetime-no-limit"
        ),
        pytest.param(
            post_auth.Params,
            {
                **APPS,
                "constraints": [
                    {"knowledge": {"types": ["password"], "reauthenticateIn": "PT2H"}},
                    {
                        "possession": {
                            "phishingResistant": "REQUIRED",
                            "userVerification": "REQUIRED",
                            "userVerificationMethods": ["BIOMETRICS"],
                            "authenticationMethods": [
                                {"key": "okta_verify", "method": "signed_nonce"}
                            ],
                        }
                    },
                ],
            },
            id="spec-constraints",
        ),
        pytest.param(
            pre_auth.Params, {**GROUPS, "factor_lifetime_minutes": 43200}, id="mfa-30-days"
        ),
        pytest.param(
            prompt_text.Params,
            {
                "brands": "all",
                "title": "Rester connecté ?",
                "subtitle": "Nur auf Ihrem eigenen Gerät — 5 < 7",
            },
            id="unicode-and-a-lone-less-than",
        ),
        pytest.param(audit.Params, {"max_prompt_frequency": "P30D"}, id="audit-default"),
    ],
)
def test_documented_and_usual_values_are_accepted(model: Any, values: dict[str, Any]) -> None:
    parse_params(model, values)


@pytest.mark.parametrize(
    ("model", "values", "field"),
    [
        pytest.param(
            post_auth.Params,
            {**APPS, "reauthenticate_in": "PT0S"},
            "reauthenticate_in",
            id="every-sign-in",
        ),
        pytest.param(
            post_auth.Params,
            {**APPS, "prompt_frequency": "P180D"},
            "prompt_frequency",
            id="prompt-half-a-year",
        ),
        pytest.param(
            pre_auth.Params,
            {**GROUPS, "factor_lifetime_minutes": 50000},
            "factor_lifetime_minutes",
            id="mfa-35-days",
        ),
        pytest.param(
            pre_auth.Params,
            {**GROUPS, "max_session_lifetime_minutes": 200000},
            "max_session_lifetime_minutes",
            id="lifetime-139-days",
        ),
        pytest.param(
            prompt_text.Params, {"brands": "all", "title": "t" * 200}, "title", id="long-title"
        ),
        pytest.param(
            pre_auth.Params,
            {**GROUPS, "groups": [f"g{i}" for i in range(150)]},
            "groups",
            id="many-groups",
        ),
    ],
)
def test_an_unusual_value_passes_only_when_named(
    model: Any, values: dict[str, Any], field: str
) -> None:
    with pytest.raises(ParameterError) as err:
        parse_params(model, values)
    assert err.value.field == field
    assert f"add {field!r} to allow_unusual_values" in err.value.message
    parse_params(model, {**values, "allow_unusual_values": [field]})


def test_naming_a_field_does_not_lift_okta_s_limit() -> None:
    """allow_unusual_values lifts the usual ceiling, never the documented one."""
    values = {
        **GROUPS,
        "max_session_lifetime_minutes": 10**12,
        "allow_unusual_values": ["max_session_lifetime_minutes"],
    }
    with pytest.raises(ParameterError) as err:
        parse_params(pre_auth.Params, values)
    assert err.value.field == "max_session_lifetime_minutes"
    assert "support.okta.com" in err.value.message


def test_the_fields_that_may_be_named_are_listed() -> None:
    assert "prompt_frequency" in raisable_fields(post_auth.Params)
    assert "max_session_idle_minutes" not in raisable_fields(post_auth.Params)  # Okta's own
    with pytest.raises(ParameterError) as err:
        parse_params(
            post_auth.Params, {**APPS, "allow_unusual_values": ["max_session_idle_minutes"]}
        )
    assert err.value.field == "allow_unusual_values[0]"
    assert "prompt_frequency" in err.value.message


def test_forms_show_a_bound_next_to_its_field() -> None:
    messages = field_messages(post_auth.Params, {**APPS, "prompt_frequency": "P0D"})
    assert list(messages) == ["prompt_frequency"]


def test_pre_auth_still_writes_once_per_session() -> None:
    """The procedure's own PT43800H is not a parameter and is untouched by the bounds."""
    assert pre_auth.ONCE_PER_SESSION == "PT43800H"


def test_a_users_file_with_a_utf8_bom_is_read(tmp_path: Path) -> None:
    listing = tmp_path / "users.txt"
    listing.write_bytes("\ufeffann@acme.example.com\n".encode())
    assert reset_sessions.read_user_file(str(listing)) == "ann@acme.example.com\n"


def test_a_params_file_with_a_utf8_bom_is_read(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_bytes("\ufeffgroups: [KMSI Pilot]\n".encode())
    assert load_params_file(path) == {"groups": ["KMSI Pilot"]}


def test_a_duplicate_key_names_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("groups: [a]\nfactor_lifetime_minutes: 1\ngroups: [b]\n")
    with pytest.raises(ParameterError) as err:
        load_params_file(path)
    assert err.value.field == "groups" and "lines 1 and 3" in err.value.message
