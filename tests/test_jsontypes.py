"""The JSON narrowing helpers: what they return for the shapes Okta's JSON can take."""

from __future__ import annotations

from kmsi_lib.jsontypes import arr, dig, flag, instant, number, obj, text

RULE = {"actions": {"signon": {"session": {"maxSessionIdleMinutes": 120}}}, "conditions": None}


def test_dig_follows_keys_and_indexes() -> None:
    assert dig(RULE, "actions", "signon", "session", "maxSessionIdleMinutes") == 120
    assert dig({"a": [{"b": 1}, {"b": 2}]}, "a", 1, "b") == 2
    assert dig({"a": [1]}, "a", -1) == 1


def test_dig_gives_none_where_the_path_ends() -> None:
    assert dig(RULE, "conditions", "people") is None
    assert dig(RULE, "actions", "missing", "x") is None
    assert dig({"a": [1]}, "a", 3) is None
    assert dig({"a": "text"}, "a", 0) is None  # a string is not an array
    assert dig(RULE, 0) is None


def test_obj_and_arr_keep_the_value_or_give_a_fresh_empty_one() -> None:
    inner = RULE["actions"]
    assert obj(inner) is inner
    assert obj(None) == {} and obj([1]) == {}
    first, second = obj(None), obj(None)
    first["x"] = 1
    assert second == {}  # never shared
    items = [1, 2]
    assert arr(items) is items
    assert arr({"a": 1}) == [] and arr("ab") == []


def test_scalars() -> None:
    assert text("x") == "x" and text(1) is None
    assert number(3) == 3 and number(2.5) == 2.5
    assert number(True) is None and number("3") is None  # a boolean is not a number
    assert flag(False) is False and flag(0) is None


def test_instant_reads_times_that_name_their_zone() -> None:
    """Okta's milliseconds and a record's whole seconds compare as times; a time without a
    zone, or anything not a time, is None (nothing should be decided on it)."""
    okta, record = instant("2026-12-02T06:26:56.500Z"), instant("2026-12-02T06:26:56Z")
    assert okta is not None and record is not None and okta > record
    assert instant("2026-12-02T07:26:56+01:00") == record
    assert instant("2026-12-02T06:26:56") is None
    assert instant("soon") is None and instant(None) is None and instant(1764656816) is None
