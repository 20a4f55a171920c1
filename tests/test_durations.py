"""ISO-8601 durations: Okta's grammar, comparison by meaning, readable errors."""

from __future__ import annotations

import pydantic
import pytest

from kmsi_lib import durations
from kmsi_lib.durations import Duration, IsoDuration


@pytest.mark.parametrize(
    ("text", "months", "seconds"),
    [
        pytest.param("PT0S", 0, 0, id="zero"),
        pytest.param("PT2H", 0, 7_200, id="hours"),
        pytest.param("PT168H", 0, 604_800, id="week-in-hours"),
        pytest.param("P7D", 0, 604_800, id="week-in-days"),
        pytest.param("P1W", 0, 604_800, id="week"),
        pytest.param("P30D", 0, 2_592_000, id="thirty-days"),
        pytest.param("PT43800H", 0, 157_680_000, id="once-per-session"),
        pytest.param("P1DT2H3M4S", 0, 86_400 + 7_200 + 180 + 4, id="all-time-parts"),
        pytest.param("PT90M", 0, 5_400, id="minutes-over-an-hour"),
        pytest.param("P1Y", 12, 0, id="year"),
        pytest.param("P1Y2M3D", 14, 3 * 86_400, id="year-month-day"),
    ],
)
def test_parse_accepts_okta_durations(text: str, months: int, seconds: int) -> None:
    assert durations.parse(text) == Duration(months=months, seconds=seconds)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("P", id="lone-P"),
        pytest.param("PT", id="lone-PT"),
        pytest.param("", id="empty"),
        pytest.param("168H", id="no-P"),
        pytest.param("pt168h", id="lowercase"),
        pytest.param("PT1.5H", id="fraction"),
        pytest.param("-PT1H", id="negative"),
        pytest.param("P1H", id="hours-without-T"),
        pytest.param("PT1D", id="days-after-T"),
        pytest.param("P2D1Y", id="wrong-order"),
        pytest.param("7 days", id="prose"),
        pytest.param("PT168H ", id="trailing-space"),
    ],
)
def test_parse_refuses_what_okta_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="ISO-8601 duration") as info:
        durations.parse(text)
    assert repr(text) in str(info.value)
    assert "PT168H" in str(info.value), "the message shows a valid example"


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        pytest.param("P7D", "PT168H", True, id="days-vs-hours"),
        pytest.param("P30D", "PT720H", True, id="okta-normalisation"),
        pytest.param("P1W", "P7D", True, id="week-vs-days"),
        pytest.param("PT60M", "PT1H", True, id="minutes-vs-hour"),
        pytest.param("P1Y", "P12M", True, id="year-vs-months"),
        pytest.param("P1M", "P30D", False, id="month-is-not-30-days"),
        pytest.param("PT2H", "PT12H", False, id="different"),
        pytest.param(None, None, True, id="both-absent"),
        pytest.param("PT2H", None, False, id="one-absent"),
        pytest.param("garbage", "garbage", True, id="invalid-same-text"),
        pytest.param("garbage", "PT2H", False, id="invalid-vs-valid"),
    ],
)
def test_equal_compares_by_meaning(a: str | None, b: str | None, same: bool) -> None:
    assert durations.equal(a, b) is same
    assert durations.equal(b, a) is same


@pytest.mark.parametrize(
    ("text", "iso", "words"),
    [
        pytest.param("P7D", "PT168H", "7 days", id="days-to-hours"),
        pytest.param("P30D", "PT720H", "30 days", id="thirty-days"),
        pytest.param("PT90M", "PT1H30M", "1 hour, 30 minutes", id="minutes"),
        pytest.param("PT0S", "PT0S", "0 seconds", id="zero"),
        pytest.param("P1Y1M", "P13M", "1 year, 1 month", id="calendar"),
        pytest.param("P1MT1S", "P1MT1S", "1 month, 1 second", id="mixed"),
    ],
)
def test_canonical_form_and_description(text: str, iso: str, words: str) -> None:
    value = durations.parse(text)
    assert value.iso() == iso
    assert str(value) == iso
    assert value.describe() == words
    assert durations.parse(iso) == value, "the canonical form parses back to the same meaning"


def test_months_have_bounds_not_an_exact_length() -> None:
    month = durations.parse("P1M")
    assert not month.is_exact
    with pytest.raises(ValueError, match="no fixed length"):
        month.total_seconds()
    assert month.min_seconds() == 28 * 86_400
    assert month.max_seconds() == 31 * 86_400
    assert durations.parse("P1Y").max_seconds() == 366 * 86_400
    assert durations.parse("PT720H").total_seconds() == 2_592_000


def test_longer_than_is_true_only_when_certain() -> None:
    thirty_days = durations.parse("P30D")
    assert durations.parse("PT721H").longer_than(thirty_days)
    assert not durations.parse("PT720H").longer_than(thirty_days)
    assert durations.parse("P2M").longer_than(thirty_days)
    assert not durations.parse("P1M").longer_than(thirty_days), "a month may be 28 days"
    assert durations.parse("PT43800H").longer_than(durations.parse("P1Y"))


def test_iso_duration_field_keeps_the_text_and_explains_errors() -> None:
    class Model(pydantic.BaseModel):
        frequency: IsoDuration

    assert Model(frequency="P7D").frequency == "P7D"
    with pytest.raises(pydantic.ValidationError) as info:
        Model(frequency="7 days")
    error = info.value.errors()[0]
    assert error["loc"] == ("frequency",)
    assert "'7 days' is not an ISO-8601 duration" in error["msg"]


def test_is_valid() -> None:
    assert durations.is_valid("PT2H")
    assert not durations.is_valid("PT")
    assert not durations.is_valid(7200)
