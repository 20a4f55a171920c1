"""Groups (scope okta.groups.read)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from kmsi_lib.okta.resources._util import as_dict, only_match, seg

if TYPE_CHECKING:
    from kmsi_lib.okta.client import OktaClient

__all__ = [
    "find_group_by_name",
    "get_group",
    "list_group_members",
    "list_groups",
    "search_expression",
]

BASE = "/api/v1/groups"


def search_expression(name: str) -> str:
    """``profile.name eq "<name>"`` with ``\\`` and ``"`` escaped."""
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'profile.name eq "{escaped}"'


def find_group_by_name(c: OktaClient, name: str) -> dict[str, Any] | None:
    """The group named exactly ``name``, or None.

    Uses ``search=profile.name eq "..."`` (exact, paginated), never ``q``
    (a prefix match). Okta compares search values case-insensitively, so the
    returned names are compared again here, exactly (case-sensitive): asking
    for "Sales" does not silently pick a group called "SALES".
    """
    matches = [
        g
        for g in c.paginate(BASE, {"search": search_expression(name)})
        if (g.get("profile") or {}).get("name") == name
    ]
    return only_match(matches, f"{name!r} (group)")


def list_groups(c: OktaClient, *, q: str, limit: int = 200) -> list[dict[str, Any]]:
    """At most ``limit`` groups whose name starts with ``q`` (Okta's ``q``: a prefix match)."""
    out: list[dict[str, Any]] = []
    for group in c.paginate(BASE, {"q": q, "limit": str(min(limit, 200))}):
        out.append(group)
        if len(out) >= limit:
            break
    return out


def get_group(c: OktaClient, group_id: str) -> dict[str, Any]:
    """A group by id."""
    return as_dict(c.get_json(f"{BASE}/{seg(group_id)}"), "a group")


def list_group_members(c: OktaClient, group_id: str) -> Iterator[dict[str, Any]]:
    """The group's users, lazily."""
    return c.paginate(f"{BASE}/{seg(group_id)}/users")
