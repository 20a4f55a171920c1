"""Helpers shared by the resource modules."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from kmsi_lib import errors


def seg(value: str) -> str:
    """One path segment, percent-encoded (``/`` included), refusing empty ids."""
    if not isinstance(value, str) or not value:
        raise errors.ParameterError("id", f"expected a non-empty id, got {value!r}")
    return quote(value, safe="")


def as_dict(value: Any, what: str) -> dict[str, Any]:
    """``value`` if Okta answered a JSON object, else a clear error naming ``what``."""
    if not isinstance(value, dict):
        raise errors.KmsiError(
            f"Okta returned {type(value).__name__} for {what}, expected an object."
        )
    return value


def only_match(matches: list[dict[str, Any]], what: str) -> dict[str, Any] | None:
    """The single exact match, None for none; several is an error (never guess)."""
    if not matches:
        return None
    if len(matches) > 1:
        ids = ", ".join(str(m.get("id")) for m in matches)
        raise errors.KmsiError(
            f"{len(matches)} objects are named {what} ({ids}): rename the duplicates in Okta"
            " or refer to the object by id."
        )
    return matches[0]
