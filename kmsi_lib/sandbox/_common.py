"""What every handler shares: configuration, the request context, replies,
HAL links, pagination and small body validators."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NoReturn, TypeAlias, TypeVar, overload
from urllib.parse import urlencode

from werkzeug.wrappers import Request

from ._errors import malformed, not_found, validation
from ._state import Json, OrgState

T = TypeVar("T")

# JSON as the sandbox reads and writes it (the sandbox imports nothing from kmsi_lib, so it
# keeps its own aliases): a decoded document, an array of values, an object only read.
JsonScalar: TypeAlias = str | int | float | bool | None
JsonValue: TypeAlias = JsonScalar | list["JsonValue"] | dict[str, "JsonValue"]
JsonArray: TypeAlias = list[JsonValue]
JsonMap: TypeAlias = Mapping[str, object]

# ISO-8601 duration as Okta means it (the published spec's TimeDuration pattern is broken,
# it matches only "P"; this is the intended pattern bundled with okta-sdk-python).
DURATION = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$")


@dataclass
class SandboxConfig:
    """Behaviour switches for the places where real Okta's behaviour is not recorded.

    Each default is the most plausible reading of ``docs/OKTA-API.md``;
    ``docs/SANDBOX.md`` explains every choice.
    """

    # DELETE of a system policy or rule: the error code returned (403 E0000006 by default).
    system_delete_error: str = "E0000006"
    # PUT on the Default Rule that changes usePersistentCookie: "reject" (400 E0000001) or
    # "ignore" (the stored value is kept and the request succeeds).
    default_rule_persistent_cookie: str = "reject"
    # GET .../pages/sign-in/customized with nothing customised: 404 E0000007 (True) or the
    # default page (False).
    customized_404_when_absent: bool = True
    # PUT of pageContent on the default brand's customized page: 403 E0000213 when True.
    default_brand_page_content_forbidden: bool = False
    # Largest request body accepted (bigger ones get 413 + E0000001).
    max_body_bytes: int = 1024 * 1024
    # Global session bounds in minutes (None = no bound beyond idle >= 1, lifetime >= 0).
    max_session_idle_minutes: int | None = None
    max_session_lifetime_minutes: int | None = None
    # Rate limits per bucket: name -> (limit, window seconds).
    rate_limits: dict[str, tuple[int, float]] = field(
        default_factory=lambda: dict(DEFAULT_RATE_LIMITS)
    )
    # Concurrent in-flight API requests allowed (None = unlimited).
    concurrency_limit: int | None = 75
    # Fields of a newer Okta release: object kind -> dotted paths (see FUTURE_KINDS), e.g.
    # {"ACCESS_POLICY rule": ["actions.appSignOn.futureSetting"]}. Such fields are accepted
    # on POST/PUT, stored and returned; a PUT that leaves one out removes it. Others are
    # dropped, as Okta drops fields it does not know.
    future_fields: dict[str, list[str]] = field(default_factory=dict)


# Buckets by endpoint family; values are generous enough for the demo and the test suite.
DEFAULT_RATE_LIMITS: dict[str, tuple[int, float]] = {
    "/api/v1/policies": (1200, 60.0),
    "/api/v1/apps": (1200, 60.0),
    "/api/v1/users": (1200, 60.0),
    "/api/v1/groups": (1200, 60.0),
    "/api/v1/brands": (1200, 60.0),
    # documented: "the rate limit for GET requests to /api/v1/logs ... increased from 60 per
    # minute to 120" (release notes 2018); rl2-token-oauth uses the same 120 as its example
    "/api/v1/logs": (120, 60.0),
    "/oauth2/v1/token": (600, 60.0),
    "/.well-known": (1200, 60.0),
}


@dataclass
class Reply:
    status: int = 200
    body: object = None  # a JSON value or a RawBody; None with status 204 means no body
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class RawBody:
    """A reply body sent as it is (an HTML page), not as JSON."""

    text: str
    content_type: str


def _reject_constant(name: str) -> NoReturn:
    # NaN and Infinity are not JSON; Python's parser accepts them, Okta's does not
    raise ValueError(f"{name} is not valid JSON")


class Ctx:
    """One request as a handler sees it."""

    def __init__(self, request: Request, state: OrgState, config: SandboxConfig) -> None:
        self.request = request
        self.state = state
        self.config = config
        self.base = f"{request.scheme}://{request.host}"
        # the OAuth service app making the request (None for an SSWS API token)
        self.client_id: str | None = None

    def json_body(self) -> JsonValue:
        data = self.request.get_data(cache=True)
        if not data.strip():
            raise malformed()
        try:
            # the JSON boundary: json.loads gives a decoded document, typed as one here
            parsed: JsonValue = json.loads(data, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise malformed() from exc
        return parsed

    def object_body(self) -> Json:
        body = self.json_body()
        if not isinstance(body, dict):
            raise malformed()
        return body

    def arg(self, name: str) -> str | None:
        return self.request.args.get(name)

    def bool_arg(self, name: str, default: bool) -> bool:
        raw = self.request.args.get(name)
        if raw is None or raw == "":
            return default
        if raw.lower() == "true":
            return True
        if raw.lower() == "false":
            return False
        raise validation(name, "must be true or false")

    def url(self, path: str) -> str:
        return self.base + path


def get_or_404(table: dict[str, T], key: str, kind: str) -> T:
    """``table[key]``, or 404 E0000007 naming ``key`` and its Okta type ``kind``."""
    found = table.get(key)
    if found is None:
        raise not_found(key, kind)
    return found


def link(href: str, allow: list[str] | None = None) -> Json:
    out: Json = {"href": href}
    if allow is not None:
        out["hints"] = {"allow": allow}
    return out


def limit_arg(ctx: Ctx) -> int | None:
    """The ``limit`` query parameter as a number; None when absent or empty."""
    raw = ctx.arg("limit")
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise validation("limit", "The limit must be an integer.") from exc


def parse_limit(ctx: Ctx, default: int, maximum: int) -> int:
    value = limit_arg(ctx)
    if value is None:
        return default
    if value == -1:
        return maximum
    if value < 1:
        raise validation("limit", "The limit must be a positive integer.")
    return min(value, maximum)


def cursor_start(items: list[Json], after: str | None) -> int:
    """Where a page after cursor ``after`` (the previous page's last id) starts in ``items``.

    Works for lists in any order (policies come in priority order); when the cursor object
    is gone, the first item with a larger id follows (ids sort in creation order).
    """
    if not after:
        return 0
    for i, item in enumerate(items):
        if item["id"] == after:
            return i + 1
    return next((i for i, item in enumerate(items) if item["id"] > after), len(items))


def paginate(ctx: Ctx, items: list[Json], default: int, maximum: int) -> tuple[list[Json], Reply]:
    """Page through ``items`` (in their given order) with an opaque ``after`` cursor.

    Returns the page and a reply skeleton carrying ``Link`` headers: ``rel="self"``
    always, ``rel="next"`` only when more items follow; both name the ``limit`` used.
    """
    limit = parse_limit(ctx, default, maximum)
    start = cursor_start(items, ctx.arg("after"))
    page = items[start : start + limit]
    query = list(ctx.request.args.items(multi=True))
    if "limit" not in ctx.request.args:
        query.append(("limit", str(limit)))
    url = ctx.url(ctx.request.path)
    reply = Reply(headers=[("Link", f'<{url}?{urlencode(query)}>; rel="self"')])
    if start + limit < len(items) and page:
        nxt = [*((k, v) for k, v in query if k != "after"), ("after", page[-1]["id"])]
        reply.headers.append(("Link", f'<{url}?{urlencode(nxt)}>; rel="next"'))
    return page, reply


def self_link_only(ctx: Ctx) -> Reply:
    query = ctx.request.query_string.decode("latin-1")
    href = ctx.url(ctx.request.path) + (f"?{query}" if query else "")
    return Reply(headers=[("Link", f'<{href}>; rel="self"')])


# ---- body validators: each raises 400 E0000001 naming the field ------------------------------


def opt_str(obj: Json, key: str, path: str, *, allow_null: bool = True) -> str | None:
    value = obj.get(key)
    if value is None:
        if key in obj and not allow_null:
            raise validation(path, "The value may not be null.")
        return None
    if not isinstance(value, str):
        raise validation(path, f"Expected a string, got {type(value).__name__}.")
    return value


def req_str(obj: Json, key: str, path: str) -> str:
    value = opt_str(obj, key, path)
    if value is None or not value.strip():
        raise validation(path, "The field cannot be left blank.")
    return value


def _opt(obj: Json, key: str, path: str, kind: type[T], message: str) -> T | None:
    """``obj[key]``: None when absent or null, else a ``kind`` (400 with ``message``)."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, kind):
        raise validation(path, message)
    return value


def opt_bool(obj: Json, key: str, path: str) -> bool | None:
    return _opt(obj, key, path, bool, "Expected a boolean (true or false).")


def opt_int(
    obj: Json, key: str, path: str, *, minimum: int | None = None, maximum: int | None = None
) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    # bool is an int in Python but not in JSON Schema; a string "200" is not an integer either
    if isinstance(value, bool) or not isinstance(value, int):
        raise validation(path, f"Expected an integer, got {json.dumps(value)}.")
    if minimum is not None and value < minimum:
        raise validation(path, f"The value must be at least {minimum}.")
    if maximum is not None and value > maximum:
        raise validation(path, f"The value must be at most {maximum}.")
    return value


def opt_enum(obj: Json, key: str, path: str, allowed: tuple[str, ...]) -> str | None:
    value = opt_str(obj, key, path)
    if value is None:
        return None
    if value not in allowed:
        raise validation(path, f"'{value}' is not one of {', '.join(allowed)}.")
    return value


def opt_obj(obj: Json, key: str, path: str) -> Json | None:
    return _opt(obj, key, path, dict, "Expected an object.")


@overload
def opt_list(obj: Json, key: str, path: str) -> list[str] | None: ...
@overload
def opt_list(obj: Json, key: str, path: str, item: type[T]) -> list[T] | None: ...
def opt_list(
    obj: Json, key: str, path: str, item: type[T] | type[str] = str
) -> list[T] | list[str] | None:
    """``obj[key]``: None when absent, else an array whose items are all ``item``s."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, item) for v in value):
        raise validation(path, f"Expected an array of {item.__name__}.")
    return value


def opt_duration(obj: Json, key: str, path: str) -> str | None:
    value = opt_str(obj, key, path)
    if value is None:
        return None
    if not DURATION.match(value):
        raise validation(path, f"'{value}' is not a valid ISO-8601 duration.")
    return value


def clone(value: T) -> T:
    """Copy JSON data (dicts, lists, scalars) several times faster than ``copy.deepcopy``."""
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}  # type: ignore[return-value]
    if isinstance(value, list):
        return [clone(v) for v in value]  # type: ignore[return-value]
    return value


# ---- fields of a newer Okta release -------------------------------------------------------

FUTURE_KINDS = (
    "ACCESS_POLICY rule",
    "SIGN_ON rule",
    "OKTA_SIGN_ON policy",
    "ACCESS_POLICY policy",
    "sign-in page",
    "brand",
)
# top-level keys a future field may not take over: identity, hypermedia, server-set fields
_RESERVED_ROOTS = frozenset(
    {"id", "_links", "_embedded", "created", "lastUpdated", "type", "system", "priority", "status"}
)
_SEGMENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def check_future_fields(value: object) -> dict[str, list[str]]:
    """Validate an object-kind -> dotted-paths mapping; ValueError says what is wrong."""
    if not isinstance(value, dict):
        raise ValueError("future fields must be an object: kind -> list of dotted paths")
    out: dict[str, list[str]] = {}
    for kind, paths in value.items():
        if kind not in FUTURE_KINDS:
            raise ValueError(f"unknown object kind {kind!r}; known: {', '.join(FUTURE_KINDS)}")
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise ValueError(f"{kind!r} needs a list of dotted paths")
        for path in paths:
            parts = path.split(".")
            if not all(_SEGMENT.match(part) for part in parts):
                raise ValueError(f"{path!r} is not a dotted path of field names")
            if parts[0] in _RESERVED_ROOTS:
                raise ValueError(f"{path!r}: {parts[0]!r} is a field the sandbox manages")
        out[kind] = list(paths)
    return out


def _lookup(obj: object, parts: list[str]) -> tuple[bool, object]:
    for part in parts:
        if not isinstance(obj, dict) or part not in obj:
            return False, None
        obj = obj[part]
    return True, obj


def carry_future_fields(config: SandboxConfig, kind: str, body: Json, stored: Json) -> None:
    """Full replace of ``kind``'s future fields in ``stored`` from the request ``body``.

    Each configured path is first removed from ``stored`` (a PUT that omits it drops it),
    then copied from ``body`` when the body has it; missing parent objects are created.
    """
    paths = config.future_fields.get(kind)
    if not paths:
        return
    for path in paths:
        *parents, leaf = path.split(".")
        found, parent = _lookup(stored, parents)
        if found and isinstance(parent, dict):
            parent.pop(leaf, None)
    for path in paths:
        parts = path.split(".")
        found, value = _lookup(body, parts)
        if not found:
            continue
        target = stored
        for part in parts[:-1]:
            child = target.get(part)
            if not isinstance(child, dict):
                child = {}
                target[part] = child
            target = child
        target[parts[-1]] = clone(value)
