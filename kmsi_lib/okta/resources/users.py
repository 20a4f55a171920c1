"""Users and their sessions (scopes okta.users.read; okta.users.manage to revoke)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from kmsi_lib.errors import NotFoundError, ParameterError
from kmsi_lib.okta.resources._util import as_dict, seg

if TYPE_CHECKING:
    from kmsi_lib.okta.client import OktaClient

__all__ = ["find_user", "get_user", "logins_starting_with", "revoke_sessions", "search_users"]

BASE = "/api/v1/users"


def get_user(c: OktaClient, id_or_login: str) -> dict[str, Any]:
    """A user by id or login (the login is percent-encoded into the path).

    Okta cannot look up a login containing ``/`` by path; use the id then.
    Raises ``NotFoundError`` when there is no such user.
    """
    if "/" in id_or_login:
        raise ParameterError(
            "user", f"{id_or_login!r} contains '/': Okta can only find such a user by id"
        )
    return as_dict(c.get_json(f"{BASE}/{seg(id_or_login)}"), "a user")


def find_user(c: OktaClient, id_or_login: str) -> dict[str, Any] | None:
    """Like :func:`get_user`, but None when there is no such user."""
    try:
        return get_user(c, id_or_login)
    except NotFoundError:
        return None


def search_users(c: OktaClient, expr: str) -> Iterator[dict[str, Any]]:
    """Users matching a ``search`` expression, e.g. ``profile.department eq "Sales"`` (lazy)."""
    return c.paginate(BASE, {"search": expr})


def logins_starting_with(c: OktaClient, prefix: str, *, limit: int = 200) -> list[str]:
    """Up to ``limit`` logins starting with ``prefix`` (``search=profile.login sw "..."``)."""
    escaped = prefix.replace("\\", "\\\\").replace('"', '\\"')
    out: list[str] = []
    for user in c.paginate(BASE, {"search": f'profile.login sw "{escaped}"', "limit": "200"}):
        out.append(str((user.get("profile") or {}).get("login", "")))
        if len(out) >= limit:
            break
    return out


def revoke_sessions(
    c: OktaClient, user_id: str, *, oauth_tokens: bool, forget_devices: bool
) -> None:
    """End every Okta session of the user (the KMSI reset).

    Both flags are always sent: ``forgetDevices`` defaults to true on Identity
    Engine, so leaving it out would silently forget remembered devices.
    """
    c.request(
        "DELETE",
        f"{BASE}/{seg(user_id)}/sessions",
        params={
            "oauthTokens": "true" if oauth_tokens else "false",
            "forgetDevices": "true" if forget_devices else "false",
        },
    )
