"""Sandbox-only administration: ``/_sandbox/*`` endpoints and their Python twin ``sb.admin``.

These exist only in the sandbox (real Okta has nothing like them): reset or load
the org, snapshot it, read the request log, flip org settings that have no public
API (the pre-authentication "stay signed in" option), inject faults, set rate
limits, register OAuth service apps and add objects for test set-up.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request

from . import _console
from ._brands import new_brand
from ._common import JsonValue, Reply, check_future_fields, clone
from ._errors import ApiError, malformed
from ._faults import fault_from_json
from ._seed import build, make_app, make_group, make_user
from ._state import Json, OrgState

if TYPE_CHECKING:
    from ._app import SandboxApp

#: What serves one admin path and method: the request in, the reply out.
AdminHandler = Callable[["Admin", Request], Reply]

ORG_SETTINGS = {
    "preAuthKmsi": bool,
    "kmsiFeature": bool,
    "pipeline": str,
    "riskScoring": bool,
    "name": str,
}


def _bad(message: str) -> ApiError:
    return ApiError("E0000001", message, causes=[{"errorSummary": message}])


class Admin:
    """Python equivalents of the ``/_sandbox/`` endpoints (``Sandbox.admin``)."""

    def __init__(self, app: SandboxApp) -> None:
        self._app = app

    @property
    def _state(self) -> OrgState:
        return self._app.state

    # ---- org lifecycle ---------------------------------------------------------------------
    def reset(self, seed: str = "default") -> None:
        """Replace the org with a fresh copy of a named seed."""
        fresh = build(seed)
        with self._state.lock:
            self._state.copy_from(fresh)
            self._state.written()

    def snapshot(self) -> Json:
        return self._state.snapshot()

    def load(self, data: Json) -> None:
        with self._state.lock:
            self._state.load(data)
            self._state.written()

    def requests(self) -> list[dict[str, object]]:
        """The request log, oldest first (admin endpoints are not logged)."""
        with self._state.lock:
            return [dict(e) for e in self._app.log]

    def clear_requests(self) -> None:
        with self._state.lock:
            self._app.log.clear()

    # ---- org settings ----------------------------------------------------------------------
    @property
    def org_settings(self) -> Json:
        with self._state.lock:
            return {k: self._state.org.get(k) for k in ORG_SETTINGS}

    @org_settings.setter
    def org_settings(self, values: Mapping[str, object]) -> None:
        self.set_org_settings(values)

    def set_org_settings(self, values: Mapping[str, object]) -> Json:
        for key, value in values.items():
            kind = ORG_SETTINGS.get(key)
            if kind is None:
                raise ValueError(f"unknown org setting {key!r}; known: {', '.join(ORG_SETTINGS)}")
            if not isinstance(value, kind):
                raise ValueError(f"org setting {key!r} must be a {kind.__name__}")
            if key == "pipeline" and value not in ("idx", "v1"):
                raise ValueError("pipeline must be 'idx' (Identity Engine) or 'v1' (Classic)")
        with self._state.lock:
            self._state.org.update(values)
            self._state.written()
        return self.org_settings

    def log_events(self) -> list[Json]:
        """The System Log, oldest first: the LogEvent objects ``GET /api/v1/logs`` serves."""
        with self._state.lock:
            return [clone(e["event"]) for e in self._state.log_events]

    def session_revocations(self) -> list[Json]:
        with self._state.lock:
            return [dict(e) for e in self._state.session_revocations]

    # ---- faults and limits ------------------------------------------------------------------
    def add_fault(self, spec: Mapping[str, object] | None = None, **kwargs: object) -> None:
        """Inject a fault; same shape as ``POST /_sandbox/faults`` (dict or keywords)."""
        data = dict(spec or {})
        data.update(kwargs)
        self._app.faults.add(fault_from_json(data))

    def clear_faults(self) -> None:
        self._app.faults.clear()

    def faults(self) -> list[dict[str, object]]:
        return self._app.faults.list()

    def set_rate_limit(self, bucket: str, limit: int, window_s: float = 60.0) -> None:
        self._app.limiter.configure({bucket: (limit, window_s)})

    def set_concurrency_limit(self, n: int | None) -> None:
        self._app.gate.limit = n

    # ---- fields of a newer Okta release -----------------------------------------------------
    def set_future_fields(self, fields: Mapping[str, list[str]]) -> dict[str, list[str]]:
        """Make the org accept, store and return these fields as if from a newer release.

        ``fields`` maps an object kind ("ACCESS_POLICY rule", "SIGN_ON rule", "OKTA_SIGN_ON
        policy", "ACCESS_POLICY policy", "sign-in page", "brand") to dotted paths, e.g.
        ``{"ACCESS_POLICY rule": ["actions.appSignOn.futureSetting"]}``; it replaces the
        previous setting ({} turns it off). Objects already stored are left as they are.
        """
        checked = check_future_fields(dict(fields))
        with self._state.lock:
            self._app.config.future_fields = checked
        return self.future_fields()

    def future_fields(self) -> dict[str, list[str]]:
        with self._state.lock:
            return {k: list(v) for k, v in self._app.config.future_fields.items()}

    def rate_limits(self) -> Json:
        return {"buckets": self._app.limiter.limits(), "concurrency": self._app.gate.limit}

    # ---- objects for tests and training ------------------------------------------------------
    def register_client(
        self,
        client_id: str,
        jwk: Mapping[str, object] | list[Mapping[str, object]],
        scopes: list[str] | tuple[str, ...],
        dpop: bool = False,
    ) -> None:
        """Register an OAuth service app that authenticates with ``private_key_jwt``."""
        jwks = [dict(j) for j in jwk] if isinstance(jwk, list) else [dict(jwk)]
        with self._state.lock:
            self._state.clients[client_id] = {
                "jwks": jwks,
                "scopes": list(scopes),
                "dpop": bool(dpop),
            }
            self._state.written()

    def _add(self, make: Callable[..., Json], *args: object, **fields: object) -> Json:
        """``make(state, *args, **fields)`` under the lock; a copy of the stored object."""
        with self._state.lock:
            made = make(self._state, *args, **fields)
            self._state.written()
            return dict(made)

    def add_app(self, label: str, **fields: object) -> Json:
        return self._add(make_app, label, **fields)

    def add_user(self, login: str, **fields: object) -> Json:
        return self._add(make_user, login, **fields)

    def add_brand(self, name: object) -> Json:
        """Add a non-default brand, as ``POST /api/v1/brands`` does (the stored object)."""
        return self._add(new_brand, name)

    def add_group(self, name: str, **fields: object) -> Json:
        return self._add(make_group, name, **fields)

    def add_bulk(self, body: Mapping[str, object]) -> Json:
        """Add many groups, then users, then apps at once (``POST /_sandbox/bulk``).

        ``body`` holds lists ``groups`` (``{"name", ...}``), ``users`` (``{"login",
        "groups": [name or id], ...}``) and ``apps`` (``{"label", "policy_id", ...}``),
        each entry what the one-object endpoint takes. Under one lock and one save, so
        seeding thousands of users costs one request; answers the ids made, in order.
        A bad entry stops it (400); the entries before it stay made (set-up, not a change).
        """
        kinds: tuple[tuple[str, str, Callable[..., Json], str], ...] = (
            ("groups", "name", make_group, "name"),
            ("users", "login", make_user, "login"),
            ("apps", "label", make_app, "label"),
        )
        unknown = set(body) - {kind for kind, *_ in kinds}
        if unknown:
            raise ValueError(f"unknown list(s) {sorted(unknown)}; give groups, users, apps")
        made: Json = {}
        with self._state.lock:
            for kind, key, make, shown in kinds:
                entries = body.get(kind, [])
                if not isinstance(entries, list):
                    raise ValueError(f"{kind} must be a list")
                out = []
                for entry in entries:
                    if not isinstance(entry, dict) or not isinstance(entry.get(key), str):
                        raise ValueError(f"every entry of {kind} needs {key!r}")
                    fields = {k: v for k, v in entry.items() if k != key}
                    obj = make(self._state, entry[key], **fields)
                    name = obj["profile"][shown] if kind != "apps" else obj[shown]
                    out.append({"id": obj["id"], shown: name})
                made[kind] = out
            self._state.written()
        return made


def _json(request: Request) -> JsonValue:
    data = request.get_data(cache=True)
    if not data.strip():
        return {}
    try:
        # the JSON boundary: json.loads gives a decoded document, typed as one here
        parsed: JsonValue = json.loads(data)
    except ValueError as exc:
        raise malformed() from exc
    return parsed


def _obj(request: Request) -> Json:
    body = _json(request)
    if not isinstance(body, dict):
        raise malformed()
    return body


def _reset(admin: Admin, request: Request) -> Reply:
    seed = _obj(request).get("seed", "default")
    admin.reset(str(seed))
    return Reply(200, {"seed": seed})


def _load(admin: Admin, request: Request) -> Reply:
    admin.load(_obj(request))
    return Reply(204)


def _clear_requests(admin: Admin, _request: Request) -> Reply:
    admin.clear_requests()
    return Reply(204)


def _add_fault(admin: Admin, request: Request) -> Reply:
    admin.add_fault(_obj(request))
    return Reply(200, admin.faults())


def _clear_faults(admin: Admin, _request: Request) -> Reply:
    admin.clear_faults()
    return Reply(204)


def _set_rate_limits(admin: Admin, request: Request) -> Reply:
    for name, value in _obj(request).items():
        if name == "concurrency":
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError("concurrency must be a positive integer or null")
            admin.set_concurrency_limit(value)
            continue
        if not isinstance(value, dict) or not isinstance(value.get("limit"), int):
            raise ValueError(f"bucket {name!r} needs {{'limit': int, 'window_s': n}}")
        admin.set_rate_limit(name, value["limit"], float(value.get("window_s", 60)))
    return Reply(200, admin.rate_limits())


def _register_client(admin: Admin, request: Request) -> Reply:
    body = _obj(request)
    client_id = body.get("client_id")
    if not isinstance(client_id, str) or not client_id:
        raise ValueError("client_id is required")
    jwk = body.get("jwk", body.get("jwks"))
    if not isinstance(jwk, (dict, list)):
        raise ValueError("jwk (a public JWK object) is required")
    scopes = body.get("scopes", [])
    if not isinstance(scopes, list):
        raise ValueError("scopes must be a list")
    admin.register_client(client_id, jwk, scopes, bool(body.get("dpop", False)))
    return Reply(201, {"client_id": client_id})


def _adder(key: str, add: Callable[..., Json]) -> AdminHandler:
    """``POST`` of one object made by ``add(admin, name, **fields)``; ``key`` names it."""

    def handler(admin: Admin, request: Request) -> Reply:
        body = _obj(request)
        value = body.pop(key, None)
        if not isinstance(value, str) or not value:
            raise ValueError(f"{key} is required")
        return Reply(201, add(admin, value, **body))

    return handler


#: Every ``/_sandbox/`` path and, by method, what serves it. The URL map's admin rules are
#: made from this table, so a path answers exactly the methods it has a handler for.
ROUTES: dict[str, dict[str, AdminHandler]] = {
    "/_sandbox/state": {"GET": lambda admin, _: Reply(200, admin.snapshot())},
    "/_sandbox/reset": {"POST": _reset},
    "/_sandbox/load": {"POST": _load},
    "/_sandbox/requests": {
        "GET": lambda admin, _: Reply(200, admin.requests()),
        "DELETE": _clear_requests,
    },
    "/_sandbox/org-settings": {
        "GET": lambda admin, _: Reply(200, admin.org_settings),
        "PUT": lambda admin, request: Reply(200, admin.set_org_settings(_obj(request))),
    },
    "/_sandbox/session-revocations": {
        "GET": lambda admin, _: Reply(200, admin.session_revocations())
    },
    "/_sandbox/faults": {
        "GET": lambda admin, _: Reply(200, admin.faults()),
        "POST": _add_fault,
        "DELETE": _clear_faults,
    },
    "/_sandbox/rate-limits": {
        "GET": lambda admin, _: Reply(200, admin.rate_limits()),
        "PUT": _set_rate_limits,
    },
    "/_sandbox/clients": {"POST": _register_client},
    "/_sandbox/apps": {"POST": _adder("label", Admin.add_app)},
    "/_sandbox/users": {"POST": _adder("login", Admin.add_user)},
    "/_sandbox/groups": {"POST": _adder("name", Admin.add_group)},
    "/_sandbox/brands": {
        "POST": lambda admin, request: Reply(201, admin.add_brand(_obj(request).get("name")))
    },
    "/_sandbox/bulk": {"POST": lambda admin, request: Reply(201, admin.add_bulk(_obj(request)))},
    "/_sandbox/future-fields": {
        "GET": lambda admin, _: Reply(200, admin.future_fields()),
        "PUT": lambda admin, request: Reply(200, admin.set_future_fields(_obj(request))),
    },
    _console.CONSOLE_PATH: {"GET": _console.serve, "POST": _console.serve},
}


def dispatch(app: SandboxApp, request: Request, path: str) -> Reply:
    """Serve one admin request (HEAD as GET, like the API routes)."""
    method = "GET" if request.method == "HEAD" else request.method
    handler = ROUTES.get(path, {}).get(method)
    if handler is None:
        raise ApiError("E0000008")
    try:
        return handler(Admin(app), request)
    except (ValueError, TypeError, KeyError) as exc:
        raise _bad(str(exc)) from exc
