"""The org's System Log: one event per write the sandbox serves, and ``GET /api/v1/logs``.

Event types come from Okta's event type catalogue (``okta-developer-docs``
``data/event-types.json``, release 2026.08.1); where the catalogue names no event
for a write (the sign-in page *preview*, deleting a policy mapping) the closest
documented one is used, as ``docs/SANDBOX.md`` lists. Only successful writes are
logged: a refused request (4xx) changes nothing and leaves no event.

Query semantics are those of Okta's "System Log query" reference: a *polling*
request (``sortOrder=ASCENDING``, no ``until``) always has a ``rel="next"`` link,
even when no event is left; a *bounded* request has one only while more events
follow. ``since`` defaults to 7 days before ``until``, ``until`` to now; events
older than 90 days are not returned and a ``since`` more than 180 days back is
refused (``E0000053``). ``filter`` takes the SCIM-like grammar (``eq``, ``ne``,
``sw``, ``co``, ``ew``, ``gt``.. ``le``, ``pr``, ``and``, ``or``, parentheses) over
any event attribute (``target.id`` matches any target); ``q`` matches keywords
against the words of the event's values, case-insensitively.
"""

from __future__ import annotations

import random
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from ._common import Ctx, Reply, clone, limit_arg
from ._directory import OPERATORS, ExpressionError, Junction, Node, Term, _Parser
from ._errors import ApiError, validation
from ._policies import default_access_policy
from ._state import Json, OrgState

LOGS_PAGE_DEFAULT = 100
LOGS_PAGE_MAX = 1000
# The sandbox keeps the newest events only (Okta keeps 90 days); a state file stays small.
MAX_EVENTS = 20_000
SINCE_DEFAULT_S = 7 * 86400
RETENTION_S = 90 * 86400
SINCE_MAX_AGE_S = 180 * 86400
Q_MAX_KEYWORDS = 10
Q_MAX_KEYWORD_CHARS = 40

LOG_EVENT_FIELDS = (
    "actor",
    "authenticationContext",
    "client",
    "debugContext",
    "device",
    "displayMessage",
    "eventType",
    "legacyEventType",
    "outcome",
    "published",
    "request",
    "securityContext",
    "severity",
    "target",
    "transaction",
    "uuid",
    "version",
)
_FILTER_OPS = (*OPERATORS, "ew")
_SNAKE = re.compile(r"_([a-z])")
_RNG = random.Random()  # uuid1 node: random, never the host's MAC address  # noqa: S311


# ---- targets -------------------------------------------------------------------------------

Targets = Callable[[OrgState, Mapping[str, str], object], list[Json] | None]


def _target(
    obj_id: str, kind: str, alternate: str, display: str, detail: Json | None = None
) -> Json:
    return {
        "id": obj_id,
        "type": kind,
        "alternateId": alternate,
        "displayName": display,
        "detailEntry": detail,
    }


def _policy(state: OrgState, policy_id: str, **detail: object) -> Json | None:
    policy = state.policies.get(policy_id)
    if policy is None:
        return None
    return _target(
        policy["id"],
        "PolicyEntity",
        "unknown",
        policy["name"],
        {"policyType": policy["type"], **detail},
    )


def _rule(state: OrgState, policy_id: str, rule_id: str) -> Json | None:
    rule = state.rules.get(policy_id, {}).get(rule_id)
    if rule is None:
        return None
    return _target(rule["id"], "PolicyRule", "unknown", rule["name"])


def _app(state: OrgState, app_id: str) -> Json | None:
    app = state.apps.get(app_id)
    if app is None:
        return None
    return _target(app["id"], "AppInstance", app["label"], app["label"])


def _user(user: Json) -> Json:
    profile = user.get("profile", {})
    name = f"{profile.get('firstName') or ''} {profile.get('lastName') or ''}".strip()
    return _target(user["id"], "User", profile.get("login", "unknown"), name or "unknown")


def _brand(state: OrgState, brand_id: str) -> Json | None:
    brand = state.brands.get(brand_id)
    if brand is None:
        return None
    return _target(brand["id"], "Brand", "unknown", brand["name"])


def _all(*targets: Json | None) -> list[Json] | None:
    """The targets, or None (no event) when the first one, the written object, is unknown."""
    if not targets or targets[0] is None:
        return None
    return [t for t in targets if t is not None]


def _body_id(body: object) -> str:
    return str(body.get("id", "")) if isinstance(body, dict) else ""


def _policy_targets(state: OrgState, args: Mapping[str, str], body: object) -> list[Json] | None:
    return _all(_policy(state, args.get("policy_id") or _body_id(body)))


def _rule_targets(state: OrgState, args: Mapping[str, str], body: object) -> list[Json] | None:
    # Okta lists the policy of a policy.rule event among its targets (System Log query guide)
    policy_id = args["policy_id"]
    rule = _rule(state, policy_id, args.get("rule_id") or _body_id(body))
    return _all(rule, _policy(state, policy_id))


def _assignment_targets(state: OrgState, args: Mapping[str, str], _: object) -> list[Json] | None:
    # policy.mapping.create: "isPreviousPolicy ... denotes whether it was the previous or new
    # policy being mapped" (event type catalogue)
    app_id, policy_id = args["app_id"], args["policy_id"]
    previous = state.app_policy.get(app_id, {}).get("policyId")
    old = (
        _policy(state, previous, isPreviousPolicy=True)
        if previous and previous != policy_id
        else None
    )
    return _all(_policy(state, policy_id, isPreviousPolicy=False), old, _app(state, app_id))


def _unmapping_targets(state: OrgState, args: Mapping[str, str], _: object) -> list[Json] | None:
    # DELETE .../mappings/{id}: the app falls back to the default policy; logged as that
    # mapping (the catalogue has no policy.mapping.delete)
    policy_id, mapping_id = args["policy_id"], args["mapping_id"]
    app_id = next(
        (
            a
            for a, m in state.app_policy.items()
            if m.get("policyId") == policy_id and m.get("mappingId") == mapping_id
        ),
        None,
    )
    if app_id is None:
        return None
    fallback = default_access_policy(state)
    return _all(
        _policy(state, fallback["id"], isPreviousPolicy=False) if fallback else None,
        _policy(state, policy_id, isPreviousPolicy=True),
        _app(state, app_id),
    )


def _brand_targets(state: OrgState, args: Mapping[str, str], body: object) -> list[Json] | None:
    return _all(_brand(state, args.get("brand_id") or _body_id(body)))


def _page_targets(state: OrgState, args: Mapping[str, str], _: object) -> list[Json] | None:
    # a sign-in page has no id of its own: its brand is the target that carries one
    brand, kind = _brand(state, args["brand_id"]), args["kind"]
    return _all(brand, _target(kind, "SignInPage", kind, f"Sign-in page ({kind})"))


def _session_targets(state: OrgState, args: Mapping[str, str], _: object) -> list[Json] | None:
    user = state.users.get(args["user_id"])  # the route takes an id only, as Okta's does
    return _all(_user(user) if user is not None else None)


@dataclass(frozen=True)
class Audit:
    """How a write route shows in the System Log."""

    event_type: str  # "{action}" is filled from the path (lifecycle/activate|deactivate)
    message: str  # displayMessage
    targets: Targets
    before: bool = False  # targets read before the write (the object is gone afterwards)


def _lifecycle(kind: str, targets: Targets) -> Audit:
    return Audit(
        f"policy.{kind}.{{action}}",
        f"{{Action}} policy{' rule' * (kind == 'rule')}",
        targets,
        before=True,
    )


AUDITS: dict[str, Audit] = {
    "create_policy": Audit("policy.lifecycle.create", "Create policy", _policy_targets),
    "replace_policy": Audit("policy.lifecycle.update", "Update policy", _policy_targets),
    "delete_policy": Audit("policy.lifecycle.delete", "Delete policy", _policy_targets, True),
    "policy_lifecycle": _lifecycle("lifecycle", _policy_targets),
    "create_rule": Audit("policy.rule.add", "Add policy rule", _rule_targets),
    "replace_rule": Audit("policy.rule.update", "Update policy rule", _rule_targets),
    "delete_rule": Audit("policy.rule.delete", "Delete policy rule", _rule_targets, True),
    "rule_lifecycle": _lifecycle("rule", _rule_targets),
    "assign_app_policy": Audit(
        "policy.mapping.create", "Create policy mapping", _assignment_targets, True
    ),
    "delete_mapping": Audit(
        "policy.mapping.create", "Create policy mapping", _unmapping_targets, True
    ),
    "create_brand": Audit("system.brand.create", "Create brand", _brand_targets),
    "replace_brand": Audit("system.brand.update", "Update brand", _brand_targets),
    "delete_brand": Audit("system.brand.delete", "Delete brand", _brand_targets, True),
    "put_page": Audit(
        "system.custom_signin.update", "Custom sign-in page is updated", _page_targets
    ),
    "delete_page": Audit(
        "system.custom_signin.delete", "Custom sign-in page is deleted", _page_targets, True
    ),
    "revoke_sessions": Audit("user.session.clear", "Clear user session", _session_targets, True),
}


# ---- recording -----------------------------------------------------------------------------


def published(t: float) -> str:
    """System Log timestamps carry real milliseconds (object timestamps end in ``.000Z``)."""
    ms = int(t * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def _actor(ctx: Ctx) -> tuple[Json, Json]:
    """The actor and the transaction detail of the request's credential."""
    state = ctx.state
    if ctx.client_id is not None:
        # an OAuth service app acts as itself
        app = state.apps.get(ctx.client_id)
        name = app["label"] if app is not None else ctx.client_id
        actor = {
            "id": ctx.client_id,
            "type": "PublicClientApp",
            "alternateId": ctx.client_id,
            "displayName": name,
            "detailEntry": None,
        }
        return actor, {}
    # an API token acts as the admin who created it
    owner = state.users.get(str(state.org.get("apiTokenOwnerId", "")))
    if owner is None:
        actor = _target("unknown", "User", "unknown", "unknown")
    else:
        actor = _user(owner)
    return actor, {"requestApiTokenId": state.org.get("apiTokenId", "unknown")}


def _event(
    ctx: Ctx,
    audit: Audit,
    args: Mapping[str, str],
    targets: list[Json],
    request_id: str,
    now: float,
) -> Json:
    request = ctx.request
    action = args.get("action", "")
    actor, detail = _actor(ctx)
    ip = request.remote_addr or "127.0.0.1"
    query = request.query_string.decode("latin-1")
    return {
        "actor": actor,
        "client": {
            "userAgent": {
                "rawUserAgent": request.headers.get("User-Agent", "unknown"),
                "os": "Unknown",
                "browser": "UNKNOWN",
            },
            "zone": None,
            "device": "Unknown",
            "id": ctx.client_id,
            "ipAddress": ip,
            "geographicalContext": None,
        },
        "authenticationContext": {
            "authenticationProvider": None,
            "credentialProvider": None,
            "credentialType": "OAuth 2.0" if ctx.client_id else None,
            "issuer": None,
            "interface": None,
            "authenticationStep": 0,
            "externalSessionId": None,
        },
        "displayMessage": audit.message.replace("{Action}", action.capitalize()),
        "eventType": audit.event_type.replace("{action}", action),
        "outcome": {"result": "SUCCESS", "reason": None},
        "published": published(now),
        "securityContext": {
            "asNumber": None,
            "asOrg": None,
            "isp": None,
            "domain": None,
            "isProxy": None,
        },
        "severity": "INFO",
        "debugContext": {
            "debugData": {
                "requestId": request_id,
                "requestUri": request.path,
                "url": request.path + (f"?{query}" if query else ""),
            }
        },
        "transaction": {"type": "WEB", "id": request_id, "detail": detail},
        "uuid": str(uuid.uuid1(node=_RNG.getrandbits(48) | 1 << 40)),
        "version": "0",
        "request": {
            "ipChain": [
                {
                    "ip": ip,
                    "geographicalContext": None,
                    "version": "V6" if ":" in ip else "V4",
                    "source": None,
                }
            ]
        },
        "target": targets,
    }


def prepare(audit: Audit, state: OrgState, args: Mapping[str, str]) -> list[Json] | None:
    """Targets read before the write, for the audits that need them (else None)."""
    return audit.targets(state, args, None) if audit.before else None


def record(
    ctx: Ctx,
    audit: Audit,
    args: Mapping[str, str],
    reply: Reply,
    before: list[Json] | None,
    request_id: str,
) -> None:
    """Append the event of a successful write (the caller holds the state lock)."""
    targets = before if audit.before else audit.targets(ctx.state, args, reply.body)
    if not targets:
        return
    now = time.time()
    events = ctx.state.log_events
    seq = events[-1]["seq"] + 1 if events else 1
    events.append(
        {
            "seq": seq,
            "ms": int(now * 1000),
            "event": _event(ctx, audit, args, targets, request_id, now),
        }
    )
    if len(events) > MAX_EVENTS:
        del events[: len(events) - MAX_EVENTS]


# ---- GET /api/v1/logs ----------------------------------------------------------------------


def _parse_time(ctx: Ctx, name: str) -> float | None:
    raw = ctx.arg(name)
    if raw is None or raw == "":
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        parsed = None
    if parsed is None or "T" not in raw:
        unrecognised = (
            f"{name}: The date format in your query is not recognized. Please "
            "enter dates using ISO8601 string format."
        )
        raise ApiError(
            "E0000001",
            f"'{name}': The date format in your query is not recognized. "
            "Please enter dates using ISO8601 string format. "
            f"'{name}': must be a valid date-time or empty.",
            causes=[
                {"errorSummary": unrecognised},
                {"errorSummary": f"{name}: must be a valid date-time or empty."},
            ],
        )
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _limit(ctx: Ctx) -> int:
    value = limit_arg(ctx)
    if value is None:
        return LOGS_PAGE_DEFAULT
    if value < 0:
        raise validation("limit", "The limit must be an integer between 0 and 1000.")
    return min(value, LOGS_PAGE_MAX)


def _resolve(obj: object, path: list[str]) -> list[object]:
    """Every value at ``path``; lists (``target``) fan out, so any element may match."""
    values = [obj]
    for part in path:
        nxt: list[object] = []
        for value in values:
            items = value if isinstance(value, list) else [value]
            nxt += [i[part] for i in items if isinstance(i, dict) and i.get(part) is not None]
        values = nxt
    return [v for value in values for v in (value if isinstance(value, list) else [value])]


def _match(have: object, op: str, want: str) -> bool:
    text = str(have).lower()
    if op == "eq":
        return text == want
    if op == "sw":
        return text.startswith(want)
    if op == "co":
        return want in text
    if op == "ew":
        return text.endswith(want)
    return {"gt": text > want, "ge": text >= want, "lt": text < want, "le": text <= want}[op]


class _LogParser(_Parser):
    """The users' SCIM-like grammar (``and``, ``or``, parentheses) over event attributes."""

    def __init__(self, text: str) -> None:
        super().__init__(text, _FILTER_OPS)

    def _unknown_operator(self, op: str) -> ExpressionError:
        return ExpressionError(
            f"Unrecognized attribute operator '{op}'. Expected: {','.join(self.ops)}"
        )


def _predicate(node: Node) -> Callable[[Json], bool]:
    """An event predicate for a parsed filter.

    Comparisons see through lists, so ``target.id eq "x"`` matches an event when any of
    its targets has that id; ``ne`` holds when none has.
    """
    if isinstance(node, Junction):
        parts = [_predicate(p) for p in node.parts]
        if node.op == "and":
            return lambda e: all(p(e) for p in parts)
        return lambda e: any(p(e) for p in parts)
    assert isinstance(node, Term)
    attr, op = node.attr, node.op
    # the query guide also spells attributes in snake case (event_type)
    path = [_SNAKE.sub(lambda m: m.group(1).upper(), p) for p in attr.split(".")]
    if path[0] not in LOG_EVENT_FIELDS or path[0] == "published":
        raise _InvalidField(f"field is not valid: {attr}")
    if op == "pr":
        return lambda e: any(v not in ("", None) for v in _resolve(e, path))
    want = node.literal.lower()
    if op == "ne":
        return lambda e: not any(str(v).lower() == want for v in _resolve(e, path))
    return lambda e: any(_match(v, op, want) for v in _resolve(e, path))


class _InvalidField(ExpressionError):
    pass


def _compile_filter(text: str) -> Callable[[Json], bool]:
    try:
        return _predicate(_LogParser(text).parse())
    except _InvalidField as exc:
        raise ApiError("E0000053", summary=str(exc)) from exc
    except ExpressionError as exc:
        raise ApiError("E0000053", summary=f"Invalid filter '{text}': {exc}") from exc


_WORD_SPLIT = re.compile(r"\s+")


def _words(value: object, out: set[str]) -> None:
    if isinstance(value, dict):
        for v in value.values():
            _words(v, out)
    elif isinstance(value, list):
        for v in value:
            _words(v, out)
    elif value is not None and not isinstance(value, bool):
        text = str(value).lower()
        out.add(text)
        for word in _WORD_SPLIT.split(text):
            out.add(word)
            out.update(word.split("-"))  # hyphenated values also match by their parts


def _compile_q(raw: str) -> Callable[[Json], bool]:
    keywords = [k.lower() for k in _WORD_SPLIT.split(raw.strip()) if k]
    if any(len(k) > Q_MAX_KEYWORD_CHARS for k in keywords):
        raise ApiError(
            "E0000001",
            "'q': Freeform search cannot contain items longer than 40 "
            "characters. Please shorten the items in your search or use an "
            "advanced filter to query by specific fields.",
        )
    if len(keywords) > Q_MAX_KEYWORDS:
        raise ApiError(
            "E0000001",
            "'q': Freeform search cannot contain more than 10 items. "
            "Please use an advanced filter to query by specific fields.",
        )

    def match(event: Json) -> bool:
        words: set[str] = set()
        _words(event, words)
        return all(k in words for k in keywords)

    return match


def _cursor(entry: Json) -> str:
    return f"{entry['ms']}_{entry['seq']}"


def _after_seq(raw: str | None) -> int | None:
    if not raw:
        return None
    try:
        return int(raw.rsplit("_", 1)[-1])
    except ValueError as exc:
        raise validation("after", "The after cursor is not valid; follow the next link.") from exc


def list_logs(ctx: Ctx) -> Reply:
    now = time.time()
    until = _parse_time(ctx, "until")
    since = _parse_time(ctx, "since")
    sort = ctx.arg("sortOrder") or "ASCENDING"
    if sort not in ("ASCENDING", "DESCENDING"):
        raise validation("sortOrder", f"'{sort}' is not one of ASCENDING, DESCENDING.")
    limit = _limit(ctx)
    polling = sort == "ASCENDING" and until is None
    upper = now if until is None else until
    lower = upper - SINCE_DEFAULT_S if since is None else since
    if lower < now - SINCE_MAX_AGE_S:
        raise ApiError(
            "E0000053",
            summary="Invalid parameter: The since parameter is over 180 "
            "days prior to the current day.",
        )
    lower = max(lower, now - RETENTION_S)
    after = _after_seq(ctx.arg("after"))
    keep: list[Callable[[Json], bool]] = []
    if ctx.arg("filter"):
        keep.append(_compile_filter(str(ctx.arg("filter"))))
    if ctx.arg("q"):
        keep.append(_compile_q(str(ctx.arg("q"))))

    lo_ms, hi_ms = int(lower * 1000), int(upper * 1000)
    entries = ctx.state.log_events
    ordered = entries if sort == "ASCENDING" else list(reversed(entries))
    page: list[Json] = []
    more = False
    last: Json | None = None
    for entry in ordered:
        if after is not None and (
            entry["seq"] <= after if sort == "ASCENDING" else entry["seq"] >= after
        ):
            continue
        if entry["ms"] < lo_ms or (not polling and entry["ms"] >= hi_ms):
            continue
        if not all(k(entry["event"]) for k in keep):
            continue
        if len(page) >= limit:
            more = True
            break
        page.append(entry)
        last = entry

    url = ctx.url(ctx.request.path)
    query = ctx.request.query_string.decode("latin-1")
    reply = Reply(
        200,
        [clone(e["event"]) for e in page],
        [("Link", f'<{url}{"?" + query if query else ""}>; rel="self"')],
    )
    if more or polling:
        params = [(k, v) for k, v in ctx.request.args.items(multi=True) if k != "after"]
        if "limit" not in ctx.request.args:
            params.append(("limit", str(limit)))
        cursor = _cursor(last) if last is not None else ctx.arg("after")
        if cursor:
            params.append(("after", cursor))
        reply.headers.append(("Link", f'<{url}?{urlencode(params)}>; rel="next"'))
    return reply
