"""Users, groups, user sessions and the org's well-known document.

``search`` and ``filter`` expressions share Okta's SCIM-like syntax:
``attr op "value"`` or ``attr pr``, joined by ``and``/``or`` (``and`` binds
tighter) and grouped with parentheses. :func:`parse` reads the syntax only; what
each parameter accepts is checked afterwards, term by term:

* users ``search`` (listUsers spec text): any profile attribute (the
  ``UserProfile`` schema's or a custom one an org user has), ``id``, ``status``,
  ``created``, ``activated``, ``statusChanged``, ``lastUpdated`` and ``type.id``;
  ``eq``, ``sw``, ``pr`` and ``gt``/``ge``/``lt``/``le`` (the spec's own examples
  use them on dates and on ``status``), ``co`` only on ``profile.firstName``,
  ``profile.lastName``, ``profile.email`` and ``profile.login``, no ``ne``;
  string values compare case-insensitively; ``sortBy``/``sortOrder`` apply.
* users ``filter``: only ``status``, ``lastUpdated``, ``id``, ``profile.login``,
  ``profile.email``, ``profile.firstName``, ``profile.lastName``; only ``eq``,
  plus ``gt``/``ge``/``lt``/``le`` on ``lastUpdated``; values are case-sensitive.

Attribute names are case-sensitive everywhere; operators and ``and``/``or`` are
not (docs/OKTA-API.md §10.2). A refused user query is 400 ``E0000031`` "Invalid
search criteria." (with no causes: the catalogue's entry carries no message), and
``search`` with
``filter`` is 400 ``E0000033``. Groups keep the looser reading they always had.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from ._common import (
    Ctx,
    Reply,
    clone,
    get_or_404,
    link,
    paginate,
    parse_limit,
    self_link_only,
)
from ._errors import ApiError, not_found
from ._ids import timestamp
from ._state import Json, OrgState

USERS_PAGE_DEFAULT = 200
USERS_PAGE_MAX = 200
USERS_Q_DEFAULT = 10
GROUPS_PAGE_DEFAULT = 10000
GROUPS_PAGE_MAX = 10000
GROUPS_Q_DEFAULT = 300
MEMBERS_PAGE_DEFAULT = 1000
MEMBERS_PAGE_MAX = 1000

USER_FILTER_ATTRS = (
    "status",
    "lastUpdated",
    "id",
    "profile.login",
    "profile.email",
    "profile.firstName",
    "profile.lastName",
)
# the top-level user properties the listUsers spec names as searchable
USER_SEARCH_TOP = (
    "id",
    "status",
    "created",
    "activated",
    "statusChanged",
    "lastUpdated",
    "type.id",
)
USER_DATES = ("created", "activated", "statusChanged", "lastUpdated")
# properties of the spec's UserProfile schema; custom ones are whatever org users carry
USER_PROFILE_ATTRS = (
    "city",
    "costCenter",
    "countryCode",
    "department",
    "displayName",
    "division",
    "email",
    "employeeNumber",
    "firstName",
    "honorificPrefix",
    "honorificSuffix",
    "lastName",
    "locale",
    "login",
    "manager",
    "managerId",
    "middleName",
    "mobilePhone",
    "nickName",
    "organization",
    "postalAddress",
    "preferredLanguage",
    "primaryPhone",
    "profileUrl",
    "secondEmail",
    "state",
    "streetAddress",
    "timezone",
    "title",
    "userType",
    "zipCode",
)
USER_CONTAINS_ATTRS = ("profile.firstName", "profile.lastName", "profile.email", "profile.login")
OPERATORS = ("eq", "ne", "sw", "co", "gt", "ge", "lt", "le", "pr")
_ORDERING = ("gt", "ge", "lt", "le")
# Okta's date form (core API "Operators": YYYY-MM-DDTHH:mm:ss.SSSZ; offsets as in E0000030)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(?:Z|[+-]\d{2}:\d{2})")

_TOKEN = re.compile(r'\s*(?:(\()|(\))|"((?:[^"\\]|\\.)*)"|([A-Za-z_][\w.]*)|(-?\d+(?:\.\d+)?))')

Predicate = Callable[[Json], bool]


class ExpressionError(ValueError):
    pass


@dataclass(frozen=True)
class Term:
    """One comparison: ``attr op literal``; ``kind`` is ``str``, ``num``, ``word`` or ``none``."""

    attr: str
    op: str
    kind: str = "none"
    literal: str = ""


@dataclass(frozen=True)
class Junction:
    """``and``/``or`` over two or more parts."""

    op: str
    parts: tuple[Node, ...]


Node = Term | Junction


def _resolve(obj: Json, attr: str) -> object:
    value: object = obj
    for part in attr.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ExpressionError(f"unexpected text at position {pos}: {text[pos : pos + 10]!r}")
        pos = m.end()
        if m.group(1):
            out.append(("(", "("))
        elif m.group(2):
            out.append((")", ")"))
        elif m.group(3) is not None:
            out.append(("str", re.sub(r"\\(.)", r"\1", m.group(3))))
        elif m.group(4):
            out.append(("word", m.group(4)))
        else:
            out.append(("num", m.group(5)))
    return out


class _Parser:
    def __init__(self, text: str, ops: tuple[str, ...] = OPERATORS) -> None:
        self.toks = _tokens(text)
        self.i = 0
        self.ops = ops

    def _unknown_operator(self, op: str) -> ExpressionError:
        return ExpressionError(f"unsupported operator {op!r}")

    def parse(self) -> Node:
        if not self.toks:
            raise ExpressionError("empty expression")
        node = self._junction("or", self._and)
        if self.i != len(self.toks):
            raise ExpressionError(f"unexpected {self.toks[self.i][1]!r}")
        return node

    def _peek_word(self, word: str) -> bool:
        return (
            self.i < len(self.toks)
            and self.toks[self.i][0] == "word"
            and self.toks[self.i][1].lower() == word
        )

    def _junction(self, op: str, part: Callable[[], Node]) -> Node:
        parts = [part()]
        while self._peek_word(op):
            self.i += 1
            parts.append(part())
        return parts[0] if len(parts) == 1 else Junction(op, tuple(parts))

    def _and(self) -> Node:
        return self._junction("and", self._atom)

    def _atom(self) -> Node:
        if self.i >= len(self.toks):
            raise ExpressionError("expression ends too early")
        kind, value = self.toks[self.i]
        if kind == "(":
            self.i += 1
            inner = self._junction("or", self._and)
            if self.i >= len(self.toks) or self.toks[self.i][0] != ")":
                raise ExpressionError("missing ')'")
            self.i += 1
            return inner
        if kind != "word":
            raise ExpressionError(f"expected an attribute, got {value!r}")
        attr = value
        self.i += 1
        if self.i >= len(self.toks) or self.toks[self.i][0] != "word":
            raise ExpressionError(f"expected an operator after {attr!r}")
        op = self.toks[self.i][1].lower()
        if op not in self.ops:
            raise self._unknown_operator(op)
        self.i += 1
        if op == "pr":
            return Term(attr, op)
        if self.i >= len(self.toks) or self.toks[self.i][0] not in ("str", "num", "word"):
            raise ExpressionError(f"expected a value after {op!r}")
        lit_kind, literal = self.toks[self.i]
        self.i += 1
        return Term(attr, op, lit_kind, literal)


def parse(text: str) -> Node:
    """The syntax tree of a ``search``/``filter`` expression; :class:`ExpressionError` if bad."""
    return _Parser(text).parse()


def terms(node: Node) -> Iterable[Term]:
    if isinstance(node, Term):
        yield node
    else:
        for part in node.parts:
            yield from terms(part)


def compile_node(node: Node, compare: Callable[[Term], Predicate]) -> Predicate:
    if isinstance(node, Term):
        return compare(node)
    parts = [compile_node(p, compare) for p in node.parts]
    if node.op == "and":
        return lambda o: all(p(o) for p in parts)
    return lambda o: any(p(o) for p in parts)


# ---- groups: the loose reading (any attribute and operator, bare words as values) -------------


def _loose_compare(term: Term) -> Predicate:
    attr, op, want = term.attr, term.op, term.literal.lower()
    if op == "pr":
        return lambda o: _resolve(o, attr) not in (None, "")

    def pred(obj: Json) -> bool:
        got = _resolve(obj, attr)
        if got is None:
            return op == "ne"
        have = str(got).lower()
        if op == "eq":
            return have == want
        if op == "ne":
            return have != want
        if op == "sw":
            return have.startswith(want)
        if op == "co":
            return want in have
        return {"gt": have > want, "ge": have >= want, "lt": have < want, "le": have <= want}[op]

    return pred


def parse_expression(text: str, param: str) -> Predicate:
    """A predicate for the loose grammar (groups); 400 ``E0000001`` naming ``param`` if bad."""
    try:
        return compile_node(parse(text), _loose_compare)
    except ExpressionError as exc:
        raise ApiError(
            "E0000001",
            param,
            causes=[{"errorSummary": f"{param}: Invalid search criteria ({exc})."}],
        ) from exc


# ---- users: the documented grammar of listUsers -----------------------------------------------


def invalid_search() -> ApiError:
    """400 E0000031, as Okta refuses a user query (the catalogue gives it no message)."""
    return ApiError("E0000031")


def _date(text: str) -> datetime | None:
    return datetime.fromisoformat(text) if _DATE.fullmatch(text) else None


def _user_attrs(state: OrgState) -> set[str]:
    custom = {key for user in state.users.values() for key in user.get("profile") or {}}
    return set(USER_SEARCH_TOP) | {f"profile.{a}" for a in (*USER_PROFILE_ATTRS, *custom)}


def _check_user_term(term: Term, param: str, attrs: set[str]) -> None:
    if term.attr not in attrs:
        raise ExpressionError(f"{term.attr!r} is not a {param} attribute")
    if param == "filter":
        allowed: tuple[str, ...] = ("eq", *_ORDERING) if term.attr == "lastUpdated" else ("eq",)
    elif term.attr in USER_DATES:
        allowed = ("eq", "pr", *_ORDERING)
    else:
        allowed = ("eq", "sw", "pr", *_ORDERING)
        if term.attr in USER_CONTAINS_ATTRS:
            allowed += ("co",)
    if term.op not in allowed:
        raise ExpressionError(f"{term.op!r} is not allowed on {term.attr!r}")
    if term.op == "pr" or term.kind == "str":
        if term.attr in USER_DATES and term.op != "pr" and _date(term.literal) is None:
            raise ExpressionError(f"{term.literal!r} is not a date like 2026-01-31T00:00:00.000Z")
        return
    # unquoted: a number (eq or an ordering) or true/false (eq), only in search, never a date
    if param == "filter" or term.attr in USER_DATES:
        raise ExpressionError(f"{term.literal!r} is not a quoted string")
    if term.kind == "num" and term.op in ("eq", *_ORDERING):
        return
    if term.kind == "word" and term.literal.lower() in ("true", "false") and term.op == "eq":
        return
    raise ExpressionError(f"{term.literal!r} cannot be compared with {term.op!r}")


# what a filter compares with gt/ge/lt/le: dates, numbers or strings, each with its own kind
_Ordered = TypeVar("_Ordered", datetime, float, str)


def _ordered(have: _Ordered, want: _Ordered, op: str) -> bool:
    if op == "eq":
        return bool(have == want)
    return bool({"gt": have > want, "ge": have >= want, "lt": have < want, "le": have <= want}[op])


def _user_compare(term: Term, fold: bool) -> Predicate:
    """The predicate of one checked term; ``fold``: compare strings case-insensitively."""
    attr, op = term.attr, term.op
    one: Callable[[object], bool]
    if op == "pr":
        return lambda o: _resolve(o, attr) not in (None, "", [], {})
    if attr in USER_DATES:
        when = _date(term.literal)
        if when is None:  # not reached: _check_user_term refuses a date term without a date
            raise ExpressionError(f"{term.literal!r} is not a date")

        def one(got: object) -> bool:
            have = _date(got) if isinstance(got, str) else None
            return have is not None and _ordered(have, when, op)
    elif term.kind == "word":
        flag = term.literal.lower() == "true"

        def one(got: object) -> bool:
            return got is flag
    elif term.kind == "num":
        number = float(term.literal)

        def one(got: object) -> bool:
            if isinstance(got, bool) or not isinstance(got, int | float):
                return False
            return _ordered(float(got), number, op)
    else:
        want = term.literal.lower() if fold else term.literal

        def one(got: object) -> bool:
            if not isinstance(got, str):
                return False
            have = got.lower() if fold else got
            if op == "sw":
                return have.startswith(want)
            if op == "co":
                return want in have
            return _ordered(have, want, op)

    def pred(obj: Json) -> bool:
        got = _resolve(obj, attr)
        if isinstance(got, list):  # an array attribute matches when any element does
            return any(one(g) for g in got)
        return one(got)

    return pred


def user_query(state: OrgState, text: str, param: str) -> Predicate:
    """The predicate of a users ``search`` or ``filter``; 400 ``E0000031`` if Okta refuses it."""
    try:
        node = parse(text)
        attrs = set(USER_FILTER_ATTRS) if param == "filter" else _user_attrs(state)
        for term in terms(node):
            _check_user_term(term, param, attrs)
    except ExpressionError as exc:
        raise invalid_search() from exc
    return compile_node(node, lambda t: _user_compare(t, fold=param == "search"))


def _sort_key(value: object) -> tuple[int, float | datetime | str]:
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None or value == "":
        return (3, "")
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, int | float):
        return (0, float(value))
    when = _date(value) if isinstance(value, str) else None
    if when is not None:
        return (1, when)
    return (2, str(value).lower())


def sort_users(ctx: Ctx, users: list[Json]) -> list[Json]:
    """``sortBy``/``sortOrder`` of a search: by one property, ties by id, no value last.

    Strings sort case-insensitively (search compares them so), dates in time.
    """
    sort_by = ctx.arg("sortBy")
    if not sort_by:
        return users  # sortOrder is ignored without sortBy (spec)
    order = (ctx.arg("sortOrder") or "asc").lower()
    if sort_by not in _user_attrs(ctx.state) or order not in ("asc", "desc"):
        raise invalid_search()
    keyed = [(_sort_key(_resolve(u, sort_by)), u) for u in users]  # users come in id order
    present = [(k, u) for k, u in keyed if k[0] != 3]
    absent = [u for k, u in keyed if k[0] == 3]
    # stable sorts keep id order among equal values, also with reverse=True
    present.sort(key=lambda ku: ku[0], reverse=order == "desc")
    return [u for _, u in present] + absent


# ---- users -------------------------------------------------------------------------------


# lifecycle links a user object offers, by status (as recorded for PROVISIONED)
_USER_ACTIONS = {
    "ACTIVE": ("suspend", "resetPassword", "expirePassword", "resetFactors", "deactivate"),
    "PROVISIONED": ("suspend", "resetPassword", "reactivate", "resetFactors", "deactivate"),
    "STAGED": ("activate", "deactivate"),
    "SUSPENDED": ("unsuspend", "resetPassword", "resetFactors", "deactivate"),
    "LOCKED_OUT": ("unlock", "resetPassword", "resetFactors", "deactivate"),
    "DEPROVISIONED": ("activate",),
}
_ACTION_PATHS = {
    "resetPassword": "reset_password",
    "expirePassword": "expire_password",
    "resetFactors": "reset_factors",
}


def render_user(ctx: Ctx, user: Json) -> Json:
    out = clone(user)
    href = ctx.url(f"/api/v1/users/{user['id']}")
    links: Json = {}
    for action in _USER_ACTIONS.get(user["status"], ("deactivate",)):
        links[action] = {
            "href": f"{href}/lifecycle/{_ACTION_PATHS.get(action, action)}",
            "method": "POST",
        }
    links["schema"] = {"href": ctx.url("/api/v1/meta/schemas/user/oscnkw1sdzpoFCZMq1d7")}
    links["self"] = {"href": href}
    links["type"] = {"href": ctx.url(f"/api/v1/meta/types/user/{user['type']['id']}")}
    out["_links"] = links
    return out


def find_user(state: OrgState, key: str) -> Json | None:
    user = state.users.get(key)
    if user is not None:
        return user
    uid = state.login_index.get(key.lower())
    if uid is not None:
        return state.users[uid]
    if "@" not in key:
        # an unambiguous login short name (the part before "@")
        matches = [u for u in state.login_index if u.split("@")[0] == key.lower()]
        if len(matches) == 1:
            return state.users[state.login_index[matches[0]]]
    return None


def get_user(ctx: Ctx, user_id: str) -> Reply:
    if user_id == "me":
        # the user behind the credential: an API token's owner (the admin who made it);
        # a service app's access token has no user, so there is nobody to be "me"
        owner = (
            None
            if ctx.client_id is not None
            else ctx.state.users.get(str(ctx.state.org.get("apiTokenOwnerId", "")))
        )
        if owner is None:
            raise not_found(user_id, "User")
        return Reply(200, render_user(ctx, owner))
    user = find_user(ctx.state, user_id)
    if user is None:
        raise not_found(user_id, "User")
    return Reply(200, render_user(ctx, user))


def list_users(ctx: Ctx) -> Reply:
    users = sorted(ctx.state.users.values(), key=lambda u: u["id"])
    search, filt, q = ctx.arg("search"), ctx.arg("filter"), ctx.arg("q")
    if search and filt:
        raise ApiError("E0000033")
    if search:
        pred = user_query(ctx.state, search, "search")
        users = sort_users(ctx, [u for u in users if pred(u)])
    elif filt:
        pred = user_query(ctx.state, filt, "filter")
        users = [u for u in users if pred(u)]
    else:
        # without search, Okta leaves deprovisioned users out of the list
        users = [u for u in users if u["status"] != "DEPROVISIONED"]
        if q:
            # q is a prefix match that Okta does not paginate: one page, no rel="next"
            needle = q.lower()
            users = [
                u
                for u in users
                if any(
                    str(u["profile"].get(f) or "").lower().startswith(needle)
                    for f in ("firstName", "lastName", "email")
                )
            ]
            limit = parse_limit(ctx, USERS_Q_DEFAULT, USERS_PAGE_MAX)
            reply = self_link_only(ctx)
            reply.body = [render_user(ctx, u) for u in users[:limit]]
            return reply
    page, reply = paginate(ctx, users, USERS_PAGE_DEFAULT, USERS_PAGE_MAX)
    reply.body = [render_user(ctx, u) for u in page]
    return reply


def revoke_sessions(ctx: Ctx, user_id: str) -> Reply:
    user = get_or_404(ctx.state.users, user_id, "User")
    oauth_tokens = ctx.bool_arg("oauthTokens", False)
    forget_devices = ctx.bool_arg("forgetDevices", ctx.state.identity_engine)
    ctx.state.session_revocations.append(
        {
            "userId": user_id,
            "login": user["profile"]["login"],
            "oauthTokens": oauth_tokens,
            "forgetDevices": forget_devices,
            "oauthTokensSent": ctx.arg("oauthTokens") is not None,
            "forgetDevicesSent": ctx.arg("forgetDevices") is not None,
            "time": timestamp(),
            "epoch": time.time(),
        }
    )
    return Reply(204)


# ---- groups ------------------------------------------------------------------------------


def render_group(ctx: Ctx, group: Json) -> Json:
    out = clone(group)
    href = ctx.url(f"/api/v1/groups/{group['id']}")
    out["_links"] = {
        "logo": [
            {
                "name": "medium",
                "href": ctx.url("/assets/img/logos/groups/okta-medium.png"),
                "type": "image/png",
            },
            {
                "name": "large",
                "href": ctx.url("/assets/img/logos/groups/okta-large.png"),
                "type": "image/png",
            },
        ],
        "owners": {"href": f"{href}/owners"},
        "users": {"href": f"{href}/users"},
        "apps": {"href": f"{href}/apps"},
    }
    if group.get("type") == "BUILT_IN":
        # Everyone has no owners: recorded so in Nov 2025 (GH2494); an Aug 2025 recording
        # (GH2419) still showed the link, so Okta dropped it in between.
        del out["_links"]["owners"]
    return out


def get_group_or_404(state: OrgState, group_id: str) -> Json:
    return get_or_404(state.groups, group_id, "UserGroup")


def get_group(ctx: Ctx, group_id: str) -> Reply:
    return Reply(200, render_group(ctx, get_group_or_404(ctx.state, group_id)))


def list_groups(ctx: Ctx) -> Reply:
    groups = sorted(ctx.state.groups.values(), key=lambda g: g["id"])
    search, q = ctx.arg("search"), ctx.arg("q")
    if search:
        pred = parse_expression(search, "search")
        groups = [g for g in groups if pred(g)]
    elif q:
        # q is a name prefix match, not paginated, at most `limit` (default 300) results
        needle = q.lower()
        groups = [g for g in groups if g["profile"]["name"].lower().startswith(needle)]
        limit = ctx.arg("limit")
        try:
            cap = int(limit) if limit else GROUPS_Q_DEFAULT
        except ValueError:
            cap = GROUPS_Q_DEFAULT
        return Reply(200, [render_group(ctx, g) for g in groups[: max(cap, 0)]])
    page, reply = paginate(ctx, groups, GROUPS_PAGE_DEFAULT, GROUPS_PAGE_MAX)
    reply.body = [render_group(ctx, g) for g in page]
    return reply


def list_group_users(ctx: Ctx, group_id: str) -> Reply:
    get_group_or_404(ctx.state, group_id)
    members = [
        ctx.state.users[u]
        for u in ctx.state.group_members.get(group_id, [])
        if u in ctx.state.users
    ]
    members.sort(key=lambda u: u["id"])
    page, reply = paginate(ctx, members, MEMBERS_PAGE_DEFAULT, MEMBERS_PAGE_MAX)
    reply.body = [render_user(ctx, u) for u in page]
    return reply


# ---- well-known ------------------------------------------------------------------------------


def well_known(ctx: Ctx) -> Reply:
    org = ctx.state.org
    return Reply(
        200,
        {
            "id": org["id"],
            "cell": "sandbox",
            "_links": {"organization": link(ctx.base)},
            "pipeline": org.get("pipeline", "idx"),
            "settings": {
                "analyticsCollectionEnabled": False,
                "bugReportingEnabled": False,
                "omEnabled": False,
                "pssoEnabled": True,
                "desktopMFAEnabled": True,
                "itpEnabled": True,
            },
        },
    )
