"""The System Log: ``GET /api/v1/logs`` (scope okta.logs.read).

The engine reads it to prove that nobody else wrote an object between a
drift check and the read-back (lost-update detection): list the events whose
target is one of the objects, and compare their actors and request ids with
the writes of the run.

A query without ``until`` is a *polling* query: Okta gives it a ``rel="next"``
link on every page, so the listing ends at the first empty page. With
``until`` the query is *bounded* and ends where the next link does.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kmsi_lib import errors

if TYPE_CHECKING:
    from kmsi_lib.okta.client import OktaClient

__all__ = ["list_log_events", "log_time", "target_filter"]

BASE = "/api/v1/logs"
#: Okta's page size ceiling for the System Log (the spec: "between 0 and 1000").
MAX_LIMIT = 1000


def log_time(value: datetime | str) -> str:
    """A ``since``/``until`` value: ISO-8601 in UTC with milliseconds, like ``published``.

    A naive datetime is taken as UTC; a string is passed through unchanged.
    """
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def target_filter(target_ids: Iterable[str]) -> str:
    """``target.id eq "a" or target.id eq "b"``: events whose targets include any of the ids.

    Pure; the ids are de-duplicated in their given order. Quotes and backslashes are
    escaped so that an id can never end the string early.
    """
    seen: list[str] = []
    for target_id in target_ids:
        if not isinstance(target_id, str) or not target_id:
            raise errors.ParameterError("target_ids", f"expected non-empty ids, got {target_id!r}")
        if target_id not in seen:
            seen.append(target_id)
    if not seen:
        raise errors.ParameterError("target_ids", "name at least one target id")
    escaped = (i.replace("\\", "\\\\").replace('"', '\\"') for i in seen)
    return " or ".join(f'target.id eq "{i}"' for i in escaped)


def list_log_events(
    c: OktaClient,
    *,
    since: datetime | str,
    until: datetime | str | None = None,
    filter: str | None = None,  # noqa: A002 - Okta's parameter name
    q: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Every System Log event published from ``since`` (up to ``until``), oldest first.

    ``filter`` is Okta's SCIM-like expression (see :func:`target_filter`), ``q`` its
    keyword search, ``limit`` the page size (Okta's default 100, at most 1000).
    """
    if limit is not None and not 1 <= limit <= MAX_LIMIT:
        raise errors.ParameterError("limit", f"expected 1 to {MAX_LIMIT}, got {limit!r}")
    params: dict[str, str] = {"since": log_time(since), "sortOrder": "ASCENDING"}
    if until is not None:
        params["until"] = log_time(until)
    if filter:
        params["filter"] = filter
    if q:
        params["q"] = q
    if limit is not None:
        params["limit"] = str(limit)
    return list(c.paginate(BASE, params, stop_on_empty=True))
