"""Users, groups, user sessions and the org's well-known document.

``search`` and ``filter`` expressions follow Okta's SCIM-like grammar, the
subset a runbook needs: ``attr eq|sw|co|gt|ge|lt|le "value"``, ``attr pr``,
``and``, ``or`` and parentheses. Attribute names are case-sensitive, values
are compared case-insensitively (docs/OKTA-API.md §10.2).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

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

USER_FILTER_ATTRS = ("status", "lastUpdated", "id", "profile.login", "profile.email",
                     "profile.firstName", "profile.lastName")

_TOKEN = re.compile(r'\s*(?:(\()|(\))|"((?:[^"\\]|\\.)*)"|([A-Za-z_][\w.]*)|(-?\d+(?:\.\d+)?))')

Predicate = Callable[[Json], bool]


class ExpressionError(ValueError):
    pass


def _resolve(obj: Json, attr: str) -> Any:
    value: Any = obj
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
            raise ExpressionError(f"unexpected text at position {pos}: {text[pos:pos + 10]!r}")
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
    OPS = ("eq", "ne", "sw", "co", "gt", "ge", "lt", "le", "pr")

    def __init__(self, text: str, attrs: tuple[str, ...] | None, ops: tuple[str, ...]) -> None:
        self.toks = _tokens(text)
        self.i = 0
        self.attrs = attrs
        self.ops = ops

    def parse(self) -> Predicate:
        if not self.toks:
            raise ExpressionError("empty expression")
        pred = self._or()
        if self.i != len(self.toks):
            raise ExpressionError(f"unexpected {self.toks[self.i][1]!r}")
        return pred

    def _peek_word(self, *words: str) -> bool:
        return (self.i < len(self.toks) and self.toks[self.i][0] == "word"
                and self.toks[self.i][1].lower() in words)

    def _or(self) -> Predicate:
        parts = [self._and()]
        while self._peek_word("or"):
            self.i += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (lambda o: any(p(o) for p in parts))

    def _and(self) -> Predicate:
        parts = [self._atom()]
        while self._peek_word("and"):
            self.i += 1
            parts.append(self._atom())
        return parts[0] if len(parts) == 1 else (lambda o: all(p(o) for p in parts))

    def _atom(self) -> Predicate:
        if self.i >= len(self.toks):
            raise ExpressionError("expression ends too early")
        kind, value = self.toks[self.i]
        if kind == "(":
            self.i += 1
            inner = self._or()
            if self.i >= len(self.toks) or self.toks[self.i][0] != ")":
                raise ExpressionError("missing ')'")
            self.i += 1
            return inner
        if kind != "word":
            raise ExpressionError(f"expected an attribute, got {value!r}")
        attr = value
        if self.attrs is not None and attr not in self.attrs:
            raise ExpressionError(f"unsupported attribute {attr!r}")
        self.i += 1
        if self.i >= len(self.toks) or self.toks[self.i][0] != "word":
            raise ExpressionError(f"expected an operator after {attr!r}")
        op = self.toks[self.i][1].lower()
        if op not in self.ops:
            raise ExpressionError(f"unsupported operator {op!r}")
        self.i += 1
        if op == "pr":
            return lambda o: _resolve(o, attr) not in (None, "")
        if self.i >= len(self.toks) or self.toks[self.i][0] not in ("str", "num", "word"):
            raise ExpressionError(f"expected a value after {op!r}")
        literal = self.toks[self.i][1]
        self.i += 1
        return _compare(attr, op, literal)


def _compare(attr: str, op: str, literal: str) -> Predicate:
    want = literal.lower()

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
        return {"gt": have > want, "ge": have >= want, "lt": have < want,
                "le": have <= want}[op]

    return pred


def parse_expression(text: str, param: str, attrs: tuple[str, ...] | None = None,
                     ops: tuple[str, ...] = _Parser.OPS) -> Predicate:
    try:
        return _Parser(text, attrs, ops).parse()
    except ExpressionError as exc:
        raise ApiError("E0000001", param, causes=[
            {"errorSummary": f"{param}: Invalid search criteria ({exc})."}]) from exc


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
_ACTION_PATHS = {"resetPassword": "reset_password", "expirePassword": "expire_password",
                 "resetFactors": "reset_factors"}


def render_user(ctx: Ctx, user: Json) -> Json:
    out = clone(user)
    href = ctx.url(f"/api/v1/users/{user['id']}")
    links: Json = {}
    for action in _USER_ACTIONS.get(user["status"], ("deactivate",)):
        links[action] = {"href": f"{href}/lifecycle/{_ACTION_PATHS.get(action, action)}",
                         "method": "POST"}
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
    user = find_user(ctx.state, user_id)
    if user is None:
        raise not_found(user_id, "User")
    return Reply(200, render_user(ctx, user))


def list_users(ctx: Ctx) -> Reply:
    users = sorted(ctx.state.users.values(), key=lambda u: u["id"])
    search, filt, q = ctx.arg("search"), ctx.arg("filter"), ctx.arg("q")
    if search:
        pred = parse_expression(search, "search")
        users = [u for u in users if pred(u)]
    elif filt:
        pred = parse_expression(filt, "filter", USER_FILTER_ATTRS,
                                ("eq", "gt", "ge", "lt", "le"))
        users = [u for u in users if pred(u)]
    else:
        # without search, Okta leaves deprovisioned users out of the list
        users = [u for u in users if u["status"] != "DEPROVISIONED"]
        if q:
            # q is a prefix match that Okta does not paginate: one page, no rel="next"
            needle = q.lower()
            users = [u for u in users if any(
                str(u["profile"].get(f) or "").lower().startswith(needle)
                for f in ("firstName", "lastName", "email"))]
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
    ctx.state.session_revocations.append({
        "userId": user_id,
        "login": user["profile"]["login"],
        "oauthTokens": oauth_tokens,
        "forgetDevices": forget_devices,
        "oauthTokensSent": ctx.arg("oauthTokens") is not None,
        "forgetDevicesSent": ctx.arg("forgetDevices") is not None,
        "time": timestamp(),
        "epoch": time.time(),
    })
    return Reply(204)


# ---- groups ------------------------------------------------------------------------------


def render_group(ctx: Ctx, group: Json) -> Json:
    out = clone(group)
    href = ctx.url(f"/api/v1/groups/{group['id']}")
    out["_links"] = {
        "logo": [
            {"name": "medium", "href": ctx.url("/assets/img/logos/groups/okta-medium.png"),
             "type": "image/png"},
            {"name": "large", "href": ctx.url("/assets/img/logos/groups/okta-large.png"),
             "type": "image/png"},
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
    members = [ctx.state.users[u] for u in ctx.state.group_members.get(group_id, [])
               if u in ctx.state.users]
    members.sort(key=lambda u: u["id"])
    page, reply = paginate(ctx, members, MEMBERS_PAGE_DEFAULT, MEMBERS_PAGE_MAX)
    reply.body = [render_user(ctx, u) for u in page]
    return reply


# ---- well-known ------------------------------------------------------------------------------


def well_known(ctx: Ctx) -> Reply:
    org = ctx.state.org
    return Reply(200, {
        "id": org["id"],
        "cell": "sandbox",
        "_links": {"organization": link(ctx.base)},
        "pipeline": org.get("pipeline", "idx"),
        "settings": {"analyticsCollectionEnabled": False, "bugReportingEnabled": False,
                     "omEnabled": False, "pssoEnabled": True, "desktopMFAEnabled": True,
                     "itpEnabled": True},
    })
