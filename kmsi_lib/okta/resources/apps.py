"""Applications and their authentication policy (scopes okta.apps.read/.manage)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from kmsi_lib.jsontypes import JsonMap
from kmsi_lib.okta.resources._util import as_dict, seg

if TYPE_CHECKING:
    from kmsi_lib.okta.client import OktaClient

__all__ = ["access_policy_id", "assign_access_policy", "get_app", "list_apps"]

BASE = "/api/v1/apps"


def list_apps(c: OktaClient, *, q: str | None = None) -> Iterator[dict[str, Any]]:
    """Every app (lazily, page by page); ``q`` filters by name/label prefix."""
    return c.paginate(BASE, {"q": q} if q else None)


def get_app(c: OktaClient, app_id: str) -> dict[str, Any]:
    """An app by id."""
    return as_dict(c.get_json(f"{BASE}/{seg(app_id)}"), "an app")


def access_policy_id(app: JsonMap) -> str | None:
    """The id of the app's authentication policy, from ``_links.accessPolicy.href``.

    There is no ``GET /apps/{id}/policies``; this link is the only way to read it.
    """
    links = app.get("_links") or {}
    href = (links.get("accessPolicy") or {}).get("href") if isinstance(links, Mapping) else None
    if not isinstance(href, str) or "/policies/" not in href:
        return None
    policy_id = href.split("?")[0].rstrip("/").rpartition("/policies/")[2]
    return policy_id or None


def assign_access_policy(c: OktaClient, app_id: str, policy_id: str) -> None:
    """Make ``policy_id`` the app's authentication policy (PUT, no body, 204)."""
    c.request("PUT", f"{BASE}/{seg(app_id)}/policies/{seg(policy_id)}")
