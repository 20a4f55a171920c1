"""Types for the JSON that Okta sends and the evidence stores, and narrowing helpers.

Okta's objects are open: a policy rule has the fields the spec names plus any
that a newer API version adds, and a read-modify-write must keep them all. So
they stay plain JSON (dicts and lists) rather than closed models, but typed as
JSON, not as ``Any``: :data:`JsonValue` is the recursive type of a decoded JSON
document, and the helpers below narrow it where the code reads a field, so that
mypy checks every use instead of trusting it.

* :data:`JsonObject` for an object we own and may change (``dict``);
* :data:`JsonMap` for one we only read (``Mapping``: a ``dict[str, str]`` is one too);
* :func:`obj`, :func:`arr`, :func:`text`, :func:`number`, :func:`flag` narrow a value
  read from JSON to what the code expects, or to an empty/None stand-in when it is
  something else (the shape of Okta's JSON is checked where it enters, not at every read);
* :func:`dig` follows a chain of keys through nested objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TypeAlias

__all__ = [
    "JsonArray",
    "JsonMap",
    "JsonObject",
    "JsonScalar",
    "JsonValue",
    "arr",
    "dig",
    "flag",
    "instant",
    "number",
    "obj",
    "text",
]

JsonScalar: TypeAlias = str | int | float | bool | None
#: Any value of a decoded JSON document.
JsonValue: TypeAlias = JsonScalar | list["JsonValue"] | dict[str, "JsonValue"]
#: A JSON object the code owns (may change).
JsonObject: TypeAlias = dict[str, JsonValue]
#: A JSON array the code owns.
JsonArray: TypeAlias = list[JsonValue]
#: A JSON object the code only reads.
JsonMap: TypeAlias = Mapping[str, object]


def obj(value: object) -> JsonObject:
    """``value`` when it is a JSON object, else a new empty one (never shared)."""
    if isinstance(value, dict):
        return value
    return {}


def arr(value: object) -> JsonArray:
    """``value`` when it is a JSON array, else a new empty one (never shared)."""
    if isinstance(value, list):
        return value
    return []


def text(value: object) -> str | None:
    """``value`` when it is a string, else None."""
    return value if isinstance(value, str) else None


def number(value: object) -> int | float | None:
    """``value`` when it is a number (not a boolean), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def flag(value: object) -> bool | None:
    """``value`` when it is a boolean, else None."""
    return value if isinstance(value, bool) else None


def instant(value: object) -> datetime | None:
    """An ISO 8601 time that names its zone (``...T06:26:56.000Z``, ``...+01:00``) as an
    aware datetime; None for anything else, a time without a zone included (it could be
    read two ways, so no comparison should rest on it)."""
    if not isinstance(value, str):
        return None
    try:
        found = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return found if found.tzinfo is not None else None


def dig(value: object, *keys: str | int) -> JsonValue:
    """Follow ``keys`` (object keys, array indexes) from ``value``; None where one is missing.

    ``dig(rule, "actions", "signon", "session", "maxSessionIdleMinutes")``.
    """
    current: object = value
    for key in keys:
        if isinstance(key, str) and isinstance(current, Mapping):
            current = current.get(key)
        elif (
            isinstance(key, int)
            and isinstance(current, Sequence)
            and not isinstance(current, str)
            and -len(current) <= key < len(current)
        ):
            current = current[key]
        else:
            return None
    return _json(current)


def _json(value: object) -> JsonValue:
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    return None
