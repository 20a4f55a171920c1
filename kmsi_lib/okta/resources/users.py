"""Users and their sessions (scopes okta.users.read; okta.users.manage to revoke)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from kmsi_lib.errors import NotFoundError, ParameterError
from kmsi_lib.jsontypes import JsonMap, JsonObject, dig, text
from kmsi_lib.okta.resources._util import as_dict, seg

if TYPE_CHECKING:
    from kmsi_lib.okta.client import OktaClient

__all__ = [
    "SEARCH_MAX_CHARS",
    "SEARCH_MAX_TERMS",
    "find_user",
    "get_user",
    "identity_search",
    "logins_starting_with",
    "looks_like_id",
    "match_entries",
    "revoke_sessions",
    "search_users",
]

BASE = "/api/v1/users"

#: Terms of one batched ``search`` (``... or ...``): the spec warns that an overly long or
#: complex search can fail, without a number; this keeps the URL near 4 KB at most.
SEARCH_MAX_TERMS = 100
SEARCH_MAX_CHARS = 2500


def get_user(c: OktaClient, id_or_login: str) -> JsonObject:
    """A user by id or login (the login is percent-encoded into the path).

    Okta cannot look up a login containing ``/`` by path; use the id then.
    Raises ``NotFoundError`` when there is no such user.
    """
    if "/" in id_or_login:
        raise ParameterError(
            "user", f"{id_or_login!r} contains '/': Okta can only find such a user by id"
        )
    return as_dict(c.get_json(f"{BASE}/{seg(id_or_login)}"), "a user")


def find_user(c: OktaClient, id_or_login: str) -> JsonObject | None:
    """Like :func:`get_user`, but None when there is no such user."""
    try:
        return get_user(c, id_or_login)
    except NotFoundError:
        return None


def search_users(c: OktaClient, expr: str) -> Iterator[JsonObject]:
    """Users matching a ``search`` expression, e.g. ``profile.department eq "Sales"`` (lazy)."""
    return c.paginate(BASE, {"search": expr})


def looks_like_id(entry: str) -> bool:
    """Whether ``entry`` has the shape of an Okta user id (``00u`` and 17 more characters)."""
    return len(entry) == 20 and entry.startswith("00u") and entry.isalnum()


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _term(entry: str) -> str:
    return (
        f"id eq {_quoted(entry)}" if looks_like_id(entry) else f"profile.login eq {_quoted(entry)}"
    )


def identity_search(entries: Iterable[str]) -> list[tuple[list[str], str]]:
    """The entries (ids or logins) in batches, each with its ``search`` expression.

    One request per batch finds every user it names: ``id eq "..."`` for what
    looks like an id, ``profile.login eq "..."`` otherwise, joined by ``or``
    (at most :data:`SEARCH_MAX_TERMS` terms and :data:`SEARCH_MAX_CHARS`
    characters). Repeated entries are asked once.
    """
    batches: list[tuple[list[str], str]] = []
    names: list[str] = []
    terms: list[str] = []
    size = 0
    for entry in dict.fromkeys(entries):
        term = _term(entry)
        if terms and (len(terms) >= SEARCH_MAX_TERMS or size + 4 + len(term) > SEARCH_MAX_CHARS):
            batches.append((names, " or ".join(terms)))
            names, terms, size = [], [], 0
        names.append(entry)
        terms.append(term)
        size += len(term) + (4 if len(terms) > 1 else 0)
    if terms:
        batches.append((names, " or ".join(terms)))
    return batches


def match_entries(entries: Iterable[str], users: Iterable[JsonMap]) -> dict[str, JsonMap]:
    """Which user each entry names, from a search's answer: the id exactly, or the login
    ignoring case (as Okta compares logins). Entries matched by nobody are left out."""
    by_id: dict[str, JsonMap] = {}
    by_login: dict[str, JsonMap] = {}
    for user in users:
        uid = text(user.get("id"))
        login = text(dig(user, "profile", "login"))
        if uid:
            by_id[uid] = user
        if login:
            by_login[login.lower()] = user
    found: dict[str, JsonMap] = {}
    for entry in entries:
        match = by_id.get(entry) if looks_like_id(entry) else None
        if match is None:
            match = by_login.get(entry.lower())
        if match is not None:
            found[entry] = match
    return found


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
