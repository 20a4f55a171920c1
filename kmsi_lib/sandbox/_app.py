"""The sandbox's WSGI application: routing, auth, headers, limits, faults, request log.

One :class:`SandboxApp` serves one org. Every ``/api/v1`` response carries
``X-Okta-Request-Id``, ``Date`` and the ``X-Rate-Limit-*`` headers of its bucket;
admin endpoints live under ``/_sandbox/`` and need no auth (see ``docs/SANDBOX.md``).
"""

from __future__ import annotations

import collections
import hmac
import json
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, cast

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request

from . import _admin, _apps, _brands, _directory, _oauth, _policies, _simulate, _syslog
from ._common import Ctx, RawBody, Reply, SandboxConfig
from ._errors import ApiError
from ._faults import DroppedConnection, Fault, FaultTable, InjectedTimeout
from ._ids import http_date, timestamp
from ._limits import ConcurrencyGate, RateLimiter
from ._state import OrgState

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

Handler = Callable[..., Reply]
Wire = tuple[str, list[tuple[str, str]], bytes]  # WSGI status line, headers, body


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Error"


# environ keys set by the in-process transport
INPROCESS = "kmsi_sandbox.inprocess"
READ_TIMEOUT = "kmsi_sandbox.read_timeout"
WINDOW_KEY = "kmsi_sandbox.rate_window"  # set when a request counted in a rate-limit window

ALL_SCOPES = "*"


@dataclass(frozen=True)
class Endpoint:
    handler: Handler
    scope: str  # required OAuth scope; "" = no auth (well-known, token endpoint)
    write: bool = False
    # fixed arguments added to the path's: one handler serves routes that behave alike
    args: Mapping[str, str] = field(default_factory=dict)

    @property
    def audit(self) -> _syslog.Audit | None:
        """How a successful call shows in the System Log (None: it leaves no event)."""
        return _syslog.AUDITS.get(getattr(self.handler, "__name__", "")) if self.write else None


def _token_endpoint(ctx: Ctx) -> Reply:
    """``POST /oauth2/v1/token``: the request handed to the pure :func:`_oauth.token_endpoint`."""
    request = ctx.request
    status, body, headers = _oauth.token_endpoint(
        ctx.state.clients,
        ctx.state.tokens,
        dict(request.form.items()),
        cast(Mapping[str, str], request.headers),
        ctx.url("/oauth2/v1/token"),
        time.time(),
    )
    return Reply(status, body, list(headers.items()))


P, B, D = _policies, _brands, _directory
API: list[tuple[str, dict[str, Endpoint]]] = [
    (
        "/api/v1/policies",
        {
            "GET": Endpoint(P.list_policies, "okta.policies.read"),
            "POST": Endpoint(P.create_policy, "okta.policies.manage", True),
        },
    ),
    # a literal segment: werkzeug tries it before /api/v1/policies/<policy_id>
    ("/api/v1/policies/simulate", {"POST": Endpoint(_simulate.simulate, "okta.policies.read")}),
    (
        "/api/v1/policies/<policy_id>",
        {
            "GET": Endpoint(P.get_policy, "okta.policies.read"),
            "PUT": Endpoint(P.replace_policy, "okta.policies.manage", True),
            "DELETE": Endpoint(P.delete_policy, "okta.policies.manage", True),
        },
    ),
    (
        "/api/v1/policies/<policy_id>/lifecycle/<action>",
        {"POST": Endpoint(P.policy_lifecycle, "okta.policies.manage", True)},
    ),
    (
        "/api/v1/policies/<policy_id>/mappings",
        {
            "GET": Endpoint(P.list_mappings, "okta.policies.read"),
            "POST": Endpoint(P.create_mapping, "okta.policies.manage", True),
        },
    ),
    (
        "/api/v1/policies/<policy_id>/mappings/<mapping_id>",
        {
            "GET": Endpoint(P.get_mapping, "okta.policies.read"),
            "DELETE": Endpoint(P.delete_mapping, "okta.policies.manage", True),
        },
    ),
    (
        "/api/v1/policies/<policy_id>/app",
        {"GET": Endpoint(P.list_policy_apps, "okta.policies.read")},
    ),
    (
        "/api/v1/policies/<policy_id>/rules",
        {
            "GET": Endpoint(P.list_rules, "okta.policies.read"),
            "POST": Endpoint(P.create_rule, "okta.policies.manage", True),
        },
    ),
    (
        "/api/v1/policies/<policy_id>/rules/<rule_id>",
        {
            "GET": Endpoint(P.get_rule, "okta.policies.read"),
            "PUT": Endpoint(P.replace_rule, "okta.policies.manage", True),
            "DELETE": Endpoint(P.delete_rule, "okta.policies.manage", True),
        },
    ),
    (
        "/api/v1/policies/<policy_id>/rules/<rule_id>/lifecycle/<action>",
        {"POST": Endpoint(P.rule_lifecycle, "okta.policies.manage", True)},
    ),
    ("/api/v1/apps", {"GET": Endpoint(_apps.list_apps, "okta.apps.read")}),
    ("/api/v1/apps/<app_id>", {"GET": Endpoint(_apps.get_app, "okta.apps.read")}),
    (
        "/api/v1/apps/<app_id>/policies/<policy_id>",
        {"PUT": Endpoint(_apps.assign_app_policy, "okta.apps.manage", True)},
    ),
    (
        "/api/v1/brands",
        {
            "GET": Endpoint(B.list_brands, "okta.brands.read"),
            "POST": Endpoint(B.create_brand, "okta.brands.manage", True),
        },
    ),
    (
        "/api/v1/brands/<brand_id>",
        {
            "GET": Endpoint(B.get_brand, "okta.brands.read"),
            "PUT": Endpoint(B.replace_brand, "okta.brands.manage", True),
            "DELETE": Endpoint(B.delete_brand, "okta.brands.manage", True),
        },
    ),
    (
        "/api/v1/brands/<brand_id>/pages/sign-in",
        {"GET": Endpoint(B.get_sign_in_root, "okta.brands.read")},
    ),
    # the two editable pages: the spec's replace and delete operations of each behave alike
    *(
        (
            f"/api/v1/brands/<brand_id>/pages/sign-in/{kind}",
            {
                "GET": Endpoint(get, "okta.brands.read"),
                "PUT": Endpoint(B.put_page, "okta.brands.manage", True, {"kind": kind}),
                "DELETE": Endpoint(B.delete_page, "okta.brands.manage", True, {"kind": kind}),
            },
        )
        for kind, get in (("customized", B.get_customized), ("preview", B.get_preview))
    ),
    (
        "/api/v1/brands/<brand_id>/pages/sign-in/default",
        {"GET": Endpoint(B.get_default, "okta.brands.read")},
    ),
    (
        "/api/v1/brands/<brand_id>/pages/sign-in/widget-versions",
        {"GET": Endpoint(B.widget_versions, "okta.brands.read")},
    ),
    ("/api/v1/users", {"GET": Endpoint(D.list_users, "okta.users.read")}),
    ("/api/v1/users/<user_id>", {"GET": Endpoint(D.get_user, "okta.users.read")}),
    (
        "/api/v1/users/<user_id>/sessions",
        {"DELETE": Endpoint(D.revoke_sessions, "okta.users.manage", True)},
    ),
    ("/api/v1/groups", {"GET": Endpoint(D.list_groups, "okta.groups.read")}),
    ("/api/v1/groups/<group_id>", {"GET": Endpoint(D.get_group, "okta.groups.read")}),
    ("/api/v1/groups/<group_id>/users", {"GET": Endpoint(D.list_group_users, "okta.groups.read")}),
    ("/api/v1/logs", {"GET": Endpoint(_syslog.list_logs, "okta.logs.read")}),
    ("/.well-known/okta-organization", {"GET": Endpoint(D.well_known, "")}),
    ("/oauth2/v1/token", {"POST": Endpoint(_token_endpoint, "", True)}),
]


def _build_map() -> tuple[Map, dict[str, dict[str, Endpoint]]]:
    rules = []
    table: dict[str, dict[str, Endpoint]] = {}
    for n, (path, methods) in enumerate(API):
        name = f"api{n}"
        rules.append(Rule(path, endpoint=name, methods=list(methods)))
        table[name] = methods
    for path, handlers in _admin.ROUTES.items():
        rules.append(Rule(path, endpoint=f"admin:{path}", methods=list(handlers)))
    return Map(rules, strict_slashes=False, merge_slashes=False), table


URL_MAP, TABLE = _build_map()


def _match(request: Request) -> tuple[str, Mapping[str, str]]:
    """The route name and path arguments of ``request``; unknown path or method as Okta says."""
    try:
        name, args = URL_MAP.bind_to_environ(request.environ).match()
    except MethodNotAllowed as exc:
        raise ApiError("E0000022") from exc
    except NotFound as exc:
        raise ApiError("E0000008") from exc
    return str(name), args


def _limit_headers(limit: int, remaining: int, reset: int) -> list[tuple[str, str]]:
    return [
        ("X-Rate-Limit-Limit", str(limit)),
        ("X-Rate-Limit-Remaining", str(remaining)),
        ("X-Rate-Limit-Reset", str(reset)),
    ]


def granted(scopes: Iterable[str], required: str) -> bool:
    """Whether ``scopes`` allow ``required``; a ``.manage`` scope includes its ``.read``."""
    have = set(scopes)
    if ALL_SCOPES in have or required in have:
        return True
    if required.endswith(".read"):
        return required[: -len(".read")] + ".manage" in have
    return False


class SandboxApp:
    """The WSGI callable plus the runtime machinery around one :class:`OrgState`."""

    def __init__(self, state: OrgState, config: SandboxConfig, token: str) -> None:
        self.state = state
        self.config = config
        self.token = token
        self.faults = FaultTable()
        self.limiter = RateLimiter(config.rate_limits)
        self.gate = ConcurrencyGate(config.concurrency_limit)
        self.log: collections.deque[dict[str, object]] = collections.deque(maxlen=10_000)
        self._log_seq = 0

    # ---- WSGI entry point ----------------------------------------------------------------
    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        request.max_content_length = self.config.max_body_bytes
        try:
            status, headers, data = self.dispatch(request)
        except (ConnectionError, InjectedTimeout):
            raise  # injected network faults: the transport or server acts on them
        except Exception:  # a sandbox bug: answer as Okta would, and say where it broke
            traceback.print_exc(file=sys.stderr)
            request_id = self.state.ids.request_id()
            status, headers, data = self._respond(
                self._error_reply(ApiError("E0000009"), request_id), request_id
            )
        start_response(status, headers)
        return [data]

    def dispatch(self, request: Request) -> Wire:
        path = request.path
        if path.startswith("/_sandbox/") or path == "/_sandbox":
            return self._admin(request)
        request_id = self.state.ids.request_id()
        bucket = self.limiter.bucket_for(path)
        started = time.time()
        if not self.gate.enter():
            reply = self._error_reply(ApiError("E0000047"), request_id)
            reply.headers += _limit_headers(0, 0, int(time.time()) + 1)
            self._record(request, request_id, 429, bucket, started, "concurrency")
            return self._respond(reply, request_id)
        # injected latency and timeouts happen inside the gate: a slow request holds its slot
        try:
            delay, fault = self.faults.take(request.method, path)
            if delay:
                time.sleep(delay)
            drop_after = False
            if fault is not None:
                if fault.action == "drop":
                    if fault.when == "after":
                        drop_after = True
                    else:
                        self._record(request, request_id, 0, bucket, started, "drop")
                        self._drop(request)
                elif fault.action == "timeout":
                    self._timeout(request, fault)
                elif fault.action == "status":
                    reply = self._fault_reply(fault, bucket, request_id)
                    self._record(request, request_id, fault.status, bucket, started, "status")
                    return self._respond(reply, request_id)
            reply = self._handle_api(request, bucket, request_id)
        finally:
            self.gate.leave()
        self._record(
            request, request_id, reply.status, bucket, started, "drop-after" if drop_after else None
        )
        if drop_after:
            self._drop(request)
        return self._respond(reply, request_id)

    # ---- API requests --------------------------------------------------------------------
    def _handle_api(self, request: Request, bucket: str | None, request_id: str) -> Reply:
        limit_headers: list[tuple[str, str]] = []
        try:
            name, args = _match(request)
            if name.startswith("admin:"):
                raise ApiError("E0000008")
            endpoint = TABLE[name][request.method if request.method != "HEAD" else "GET"]
            args = {**args, **endpoint.args}
            if bucket is not None:
                verdict = self.limiter.hit(bucket)
                request.environ[WINDOW_KEY] = verdict.window
                limit_headers = _limit_headers(verdict.limit, verdict.remaining, verdict.reset)
                if not verdict.allowed:
                    raise ApiError("E0000047")
            ctx = Ctx(request, self.state, self.config)
            if endpoint.scope:
                denied = self._authorize(request, ctx, endpoint.scope)
                if denied is not None:
                    denied.headers += limit_headers
                    return denied
            if (request.content_length or 0) > self.config.max_body_bytes:
                raise ApiError(
                    "E0000001",
                    "body",
                    status=413,
                    causes=[
                        {
                            "errorSummary": f"body: The request body exceeds "
                            f"{self.config.max_body_bytes} bytes."
                        }
                    ],
                )
            audit = endpoint.audit
            with self.state.lock:
                before = _syslog.prepare(audit, self.state, args) if audit else None
                reply = endpoint.handler(ctx, **args)
                if endpoint.write and reply.status < 400:
                    if audit is not None:
                        _syslog.record(ctx, audit, args, reply, before, request_id)
                    self.state.written()
        except ApiError as exc:
            reply = self._error_reply(exc, request_id)
        except RequestEntityTooLarge:
            reply = self._error_reply(ApiError("E0000001", "body", status=413), request_id)
        reply.headers += limit_headers
        return reply

    def _authorize(self, request: Request, ctx: Ctx, scope: str) -> Reply | None:
        header = request.headers.get("Authorization", "")
        scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        if scheme == "SSWS":
            if credential and hmac.compare_digest(credential.encode(), self.token.encode()):
                return None
            raise ApiError("E0000011")
        if scheme in ("Bearer", "DPoP") and credential:
            scopes, headers = _oauth.authenticate_bearer(
                self.state.tokens,
                scheme,
                credential,
                request.headers.get("DPoP"),
                request.method,
                ctx.url(request.path),
                time.time(),
            )
            if scopes is None:
                raise ApiError("E0000011", headers=headers)
            if granted(scopes, scope):
                ctx.client_id = str(self.state.tokens[credential].get("client_id", "")) or None
                return None
            algs = f'algs="{" ".join(_oauth.DPOP_ALGORITHMS)}", ' if scheme == "DPoP" else ""
            challenge = (
                f'{scheme} {algs}authorization_uri="{ctx.base}/oauth2/v1/authorize", '
                f'realm="{ctx.base}", scope="{scope}", error="insufficient_scope", '
                'error_description="The access token provided does not contain the required '
                f'scopes.", resource="{request.path}"'
            )
            return Reply(403, None, [("WWW-Authenticate", challenge)])
        raise ApiError("E0000011")

    # ---- faults ------------------------------------------------------------------------------
    def _drop(self, request: Request) -> None:
        sock = request.environ.get("werkzeug.socket")
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        raise DroppedConnection("sandbox fault: connection dropped")

    def _timeout(self, request: Request, fault: Fault) -> None:
        if request.environ.get(INPROCESS):
            read_timeout = request.environ.get(READ_TIMEOUT)
            if read_timeout is not None and fault.seconds > read_timeout:
                raise InjectedTimeout(fault.seconds)
        time.sleep(fault.seconds)

    def _fault_reply(self, fault: Fault, bucket: str | None, request_id: str) -> Reply:
        status = fault.status
        if status in (502, 504):
            # gateways answer with their own HTML, not an Okta error object
            text = "Bad Gateway" if status == 502 else "Gateway Timeout"
            body = f"<html><body><h1>{status} {text}</h1></body></html>"
            return Reply(status, RawBody(body, "text/html"))
        code = {
            429: "E0000047",
            500: "E0000009",
            503: "E0000181",
            423: "E0000239",
            401: "E0000011",
            403: "E0000006",
            404: "E0000008",
        }.get(status, "E0000009")
        reply = self._error_reply(ApiError(code, status=status), request_id)
        if status == 429:
            limit = self.limiter.peek(bucket).limit if bucket else 0
            reply.headers += _limit_headers(limit, 0, int(time.time()) + fault.retry_after_s)
        elif bucket is not None:
            v = self.limiter.peek(bucket)
            reply.headers += _limit_headers(v.limit, v.remaining, v.reset)
        return reply

    # ---- admin -------------------------------------------------------------------------------
    def _admin(self, request: Request) -> Wire:
        request_id = self.state.ids.request_id()
        try:
            name, _args = _match(request)
            reply = _admin.dispatch(self, request, name[len("admin:") :])
        except ApiError as exc:
            reply = self._error_reply(exc, request_id)
        except HTTPException as exc:  # e.g. a body over the size limit
            reply = self._error_reply(ApiError("E0000001", "body", status=exc.code), request_id)
        return self._respond(reply, request_id)

    # ---- responses ---------------------------------------------------------------------------
    def _error_reply(self, exc: ApiError, request_id: str) -> Reply:
        error_id = "oae" + request_id[:22].ljust(22, "0")
        return Reply(exc.status, exc.body(error_id), list(exc.headers.items()))

    def _respond(self, reply: Reply, request_id: str) -> Wire:
        headers = [("X-Okta-Request-Id", request_id), ("Date", http_date()), *reply.headers]
        if isinstance(reply.body, RawBody):
            data = reply.body.text.encode()
            headers.append(("Content-Type", f"{reply.body.content_type}; charset=utf-8"))
        elif reply.body is None or reply.status == 204:
            data = b""
        else:
            data = json.dumps(reply.body, separators=(",", ":")).encode()
            headers.append(("Content-Type", "application/json"))
        headers.append(("Content-Length", str(len(data))))
        return _status_line(reply.status), headers, data

    def _record(
        self,
        request: Request,
        request_id: str,
        status: int,
        bucket: str | None,
        started: float,
        fault: str | None,
    ) -> None:
        auth = request.headers.get("Authorization", "").partition(" ")[0] or None
        entry = {
            "seq": 0,
            "requestId": request_id,
            "time": timestamp(started),
            "ts": started,  # epoch seconds as a float: per-window usage checks
            "method": request.method,
            "path": request.path,
            "query": request.query_string.decode("latin-1"),
            "status": status,
            "bucket": bucket,
            "auth": auth,
            "fault": fault,
            "ms": round((time.time() - started) * 1000, 2),
            # the rate-limit window it counted in (its start, epoch seconds); None: not counted
            "window": request.environ.get(WINDOW_KEY),
        }
        with self.state.lock:
            self._log_seq += 1
            entry["seq"] = self._log_seq
            self.log.append(entry)
