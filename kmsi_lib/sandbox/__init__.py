"""The sandbox org: a stateful emulator of the Okta Management API used by KMSI runbooks.

Built only from ``docs/OKTA-API.md`` and ``reference/okta`` (the OpenAPI spec and recorded real
traffic); it imports nothing else from ``kmsi_lib`` so it stays an independent
witness of the client's behaviour.

In-process (no socket)::

    sb = Sandbox(seed="default")
    client = httpx.Client(base_url=SANDBOX_URL, transport=sb.transport(),
                          headers={"Authorization": f"SSWS {sb.token}"})

Over loopback::

    with sb.serve(port=0) as url:
        httpx.get(f"{url}/api/v1/policies?type=OKTA_SIGN_ON", headers=...)

Admin endpoints (no auth; ``sb.admin`` is the Python twin of each)::

    GET    /_sandbox/state                 snapshot of the whole org (JSON)
    POST   /_sandbox/reset                 {"seed": "default"|"classic"|"large"}
    POST   /_sandbox/load                  a snapshot taken from /_sandbox/state
    GET    /_sandbox/requests              request log (DELETE clears it)
    GET    /_sandbox/org-settings          {"preAuthKmsi", "kmsiFeature", "pipeline", ...}
    PUT    /_sandbox/org-settings          change some of them
    GET    /_sandbox/session-revocations   what DELETE /api/v1/users/{id}/sessions recorded
    GET    /_sandbox/faults                active faults
    POST   /_sandbox/faults                {"match": {"method", "path"}, "status", "count"} or
                                           {"action": "drop"|"timeout", ...} or
                                           {"latency_ms", "jitter_ms"}
    DELETE /_sandbox/faults                clear every fault
    GET    /_sandbox/rate-limits           buckets and concurrency limit
    PUT    /_sandbox/rate-limits           {"<bucket>": {"limit", "window_s"}, "concurrency": n}
    POST   /_sandbox/clients               {"client_id", "jwk", "scopes", "dpop"}
    POST   /_sandbox/apps|users|groups     {"label"|"login"|"name", ...} test set-up
    POST   /_sandbox/brands                {"name"} (a non-default brand)
    GET    /_sandbox/future-fields         fields of a "newer Okta release" the org keeps
    PUT    /_sandbox/future-fields         {"ACCESS_POLICY rule": ["actions.appSignOn.x"], ...}

See ``docs/SANDBOX.md`` for behaviour choices and their evidence.
"""

from __future__ import annotations

import io
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypedDict, Unpack

import httpx
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from ._admin import Admin
from ._app import INPROCESS, READ_TIMEOUT, SandboxApp
from ._common import SandboxConfig, check_future_fields
from ._faults import DroppedConnection, InjectedTimeout
from ._seed import SEEDS, build
from ._state import OrgState
from ._statefile import TempFileGuard, load_state, remove_stale_temp_files, save_atomically

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["SANDBOX_URL", "SEEDS", "Sandbox", "SandboxConfig", "SandboxTransport"]

SANDBOX_URL = "http://sandbox.okta.test"


class ClientOptions(TypedDict, total=False):
    """What :meth:`Sandbox.client` hands on to ``httpx.Client``; ``headers`` are added to
    (and may replace) the SSWS ``Authorization`` and the JSON ``Accept`` header."""

    headers: Mapping[str, str]
    params: Mapping[str, str]
    timeout: float | httpx.Timeout | None
    follow_redirects: bool


class SandboxTransport(httpx.BaseTransport):
    """An httpx transport that calls the sandbox in-process and emulates network faults.

    A ``drop`` fault raises :class:`httpx.RemoteProtocolError`; a ``timeout`` fault
    longer than the request's read timeout raises :class:`httpx.ReadTimeout`
    at once (no real waiting, so tests stay fast).
    """

    def __init__(self, app: SandboxApp) -> None:
        self._app = app

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout") or {}
        read_timeout = timeouts.get("read")
        app = self._app

        def wsgi(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            environ[INPROCESS] = True
            environ[READ_TIMEOUT] = read_timeout
            # httpx hands PATH_INFO over as decoded text; WSGI (PEP 3333) wants the raw
            # UTF-8 bytes as latin-1, which is also what werkzeug's server passes
            environ["PATH_INFO"] = environ["PATH_INFO"].encode("utf-8").decode("latin-1")
            return app(environ, start_response)

        try:
            return httpx.WSGITransport(app=wsgi).handle_request(request)
        except DroppedConnection as exc:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from exc
        except InjectedTimeout as exc:
            raise httpx.ReadTimeout(f"timed out ({exc})", request=request) from exc


class _KeepAliveHandler(WSGIRequestHandler):
    """Werkzeug's request handler with HTTP/1.1 keep-alive and no access log line.

    Werkzeug's own handler closes every connection after one response. The
    sandbox always knows its whole response before sending it, so this handler
    reads the request body up front, sends a ``Content-Length`` and keeps the
    connection open, which is what real clients (httpx pools) expect of Okta.
    A ``drop`` fault still closes the socket without a response.
    """

    protocol_version = "HTTP/1.1"
    timeout = 60  # seconds an idle keep-alive connection may stay open

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None

    def run_wsgi(self) -> None:
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        if chunked or self.headers.get("Expect", "").lower().strip() == "100-continue":
            self.close_connection = True  # rare for API clients: let werkzeug handle them
            super().run_wsgi()
            self.close_connection = True
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        limit = self.server.app.config.max_body_bytes + 1  # type: ignore[attr-defined]
        body = self.rfile.read(min(length, limit)) if length > 0 else b""
        if length > len(body):
            self.close_connection = True  # the rest of an oversized body is never read
        environ = self.make_environ()
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body)) if length else ""
        started: list[tuple[str, list[tuple[str, str]]]] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: object = None
        ) -> Callable[[bytes], object]:
            started[:] = [(status, headers)]
            return lambda data: None

        try:
            chunks = self.server.app(environ, start_response)
            try:
                payload = b"".join(chunks)
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
        except ConnectionError:
            self.close_connection = True  # a drop fault: no response at all
            return
        ((status, headers),) = started
        code, _, reason = status.partition(" ")
        self.send_response_only(int(code), reason)
        for key, value in headers:
            if key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        # headers and body in one write: two small writes would meet Nagle + delayed ACK
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD":
            self._headers_buffer.append(payload)
        self.flush_headers()

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Sandbox:
    """One emulated Okta org: state, WSGI app, in-process transport and loopback server."""

    def __init__(
        self,
        seed: str = "default",
        token: str | None = None,
        *,
        config: SandboxConfig | None = None,
        state: OrgState | None = None,
    ) -> None:
        self.token = token if token is not None else "sandbox-" + secrets.token_urlsafe(24)
        self.config = config or SandboxConfig()
        self.config.future_fields = check_future_fields(self.config.future_fields)
        self.seed = seed
        self.state = state if state is not None else build(seed)
        self.app = SandboxApp(self.state, self.config, self.token)
        self.admin = Admin(self.app)

    @classmethod
    def from_state_file(
        cls,
        path: str | os.PathLike[str],
        seed: str = "default",
        token: str | None = None,
        *,
        config: SandboxConfig | None = None,
    ) -> Sandbox:
        """The org saved in ``path`` (``--state FILE``), or a fresh ``seed`` if there is none.

        Raises ValueError when the file is not a sandbox snapshot (or ``seed`` is unknown).
        """
        return cls(seed, token, config=config, state=load_state(os.fspath(path)))

    @contextmanager
    def saving_to(self, path: str | os.PathLike[str]) -> Iterator[None]:
        """Save the org to ``path`` now and after every change until the block ends.

        Each save is atomic (``_statefile``): ``path`` is always a whole snapshot,
        and no temp file is left beside it, even if this process is killed.
        """
        target = os.path.abspath(os.fspath(path))
        directory = os.path.dirname(target)
        remove_stale_temp_files(directory)
        guard = TempFileGuard(directory)
        try:
            save_atomically(self.state, target)
            self.state.on_write = lambda s: save_atomically(s, target)
            yield
        finally:
            self.state.on_write = None
            try:
                save_atomically(self.state, target)
            finally:
                guard.close()

    def __repr__(self) -> str:
        return f"Sandbox(seed={self.seed!r}, token='[secure]')"

    def transport(self) -> SandboxTransport:
        """An in-process :class:`httpx.BaseTransport`; point a client at ``SANDBOX_URL``."""
        return SandboxTransport(self.app)

    def client(self, **kwargs: Unpack[ClientOptions]) -> httpx.Client:
        """An ``httpx.Client`` wired to this sandbox in-process with the SSWS token."""
        headers = {"Authorization": f"SSWS {self.token}", "Accept": "application/json"}
        headers.update(kwargs.get("headers", {}))
        return httpx.Client(
            base_url=SANDBOX_URL,
            transport=self.transport(),
            headers=headers,
            params=kwargs.get("params"),
            timeout=kwargs.get("timeout", httpx.Timeout(5.0)),  # httpx's own default
            follow_redirects=kwargs.get("follow_redirects", False),
        )

    @contextmanager
    def serve(self, port: int = 0, host: str = "127.0.0.1") -> Iterator[str]:
        """Serve real HTTP on ``host:port`` in a daemon thread; yields the base URL."""
        server = self.make_server(port, host)
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="kmsi-sandbox",
            daemon=True,
        )
        thread.start()
        try:
            yield f"http://{host}:{server.port}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

    def make_server(self, port: int = 0, host: str = "127.0.0.1") -> BaseWSGIServer:
        return make_server(host, port, self.app, threaded=True, request_handler=_KeepAliveHandler)
