"""The JSON narrowing helpers: what they return for the shapes Okta's JSON can take."""

from __future__ import annotations

from kmsi_lib.jsontypes import arr, dig, flag, number, obj, text

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
