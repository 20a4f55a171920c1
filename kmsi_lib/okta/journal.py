"""The request journal: what the run sent to Okta and what came back, redacted.

:class:`Journal` plugs into an ``httpx.Client`` as event hooks
(:meth:`Journal.event_hooks`), so every request is recorded, including the
OAuth token request made inside the auth flow. Secrets (the
``Authorization`` and ``DPoP`` headers are never stored at all; client
assertions, tokens, private keys, passwords) are removed *before* an entry is
stored. The evidence writer consumes :meth:`Journal.to_dicts`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import httpx

from kmsi_lib import secret_shapes
from kmsi_lib.jsontypes import JsonObject, JsonValue
from kmsi_lib.okta import protocol as _protocol

__all__ = ["Journal", "JournalEntry"]

log = logging.getLogger("kmsi_lib.http")

_START = "kmsi_journal_start"


@dataclass(frozen=True)
class JournalEntry:
    """One HTTP exchange (or one attempt that got no response)."""

    started_at: str  # ISO-8601 UTC
    method: str
    path: str  # path and query, secrets removed
    status: int | None  # None: no response (see ``error``)
    duration_ms: float | None
    request_id: str | None
    retry_count: int
    request_body: JsonValue = None
    response_body: JsonValue = None
    error: str | None = None
    rate_limit: dict[str, str] | None = None

    def to_dict(self) -> JsonObject:
        """The entry as a JSON-serialisable dict."""
        return asdict(self)

    def line(self) -> str:
        """The one-line log form."""
        outcome = str(self.status) if self.status is not None else f"error: {self.error}"
        took = f"{self.duration_ms:.0f} ms" if self.duration_ms is not None else "-"
        extra = f" retry={self.retry_count}" if self.retry_count else ""
        rid = f" request-id={self.request_id}" if self.request_id else ""
        return f"{self.method} {self.path} -> {outcome} ({took}){rid}{extra}"


def _body(content: bytes, content_type: str, secrets: Iterable[str]) -> JsonValue:
    """JSON bodies as redacted JSON, form bodies as a redacted dict, others summarised."""
    if not content:
        return None
    ctype = content_type.split(";")[0].strip().lower()
    if ctype == "application/x-www-form-urlencoded":
        form: JsonObject = {
            k: v
            for k, v in _protocol.redact_form(content.decode("utf-8", "replace"), secrets).items()
        }
        return form
    if ctype.endswith("json") or content[:1] in (b"{", b"["):
        try:
            # json.loads is where the bytes become JSON; redaction keeps the shape.
            redacted: JsonValue = secret_shapes.redact_mapping(json.loads(content), secrets)
        except ValueError:
            pass
        else:
            return redacted
    return f"<{len(content)} bytes of {ctype or 'unknown type'}>"


def _request_body(request: httpx.Request, secrets: Iterable[str]) -> JsonValue:
    try:
        content = request.content
    except httpx.RequestNotRead:
        return "<streamed body, not recorded>"
    return _body(content, request.headers.get("content-type", ""), secrets)


class Journal:
    """Thread-safe, redacted record of HTTP exchanges.

    ``secrets`` is a callable returning the secret strings currently known
    (API token, private key, issued access tokens); they are scrubbed from
    every stored string in addition to the generic rules.
    """

    def __init__(self, *, secrets: Callable[[], Iterable[str]] | None = None) -> None:
        self._lock = threading.Lock()
        self._entries: list[JournalEntry] = []
        self._secrets = secrets or (lambda: ())

    def set_secret_source(self, secrets: Callable[[], Iterable[str]]) -> None:
        """Where the known secret strings come from (the client sets its own)."""
        self._secrets = secrets

    @property
    def entries(self) -> list[JournalEntry]:
        """A copy of the entries, oldest first."""
        with self._lock:
            return list(self._entries)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()

    def to_dicts(self) -> list[JsonObject]:
        """JSON-serialisable copy of every entry."""
        return [entry.to_dict() for entry in self.entries]

    def add(self, entry: JournalEntry) -> None:
        """Store an already-redacted entry and log its one-line form."""
        with self._lock:
            self._entries.append(entry)
        log.info("%s", entry.line())

    # -- httpx event hooks ---------------------------------------------------

    def event_hooks(self) -> dict[str, list[Callable[..., object]]]:
        """The hooks to pass as ``httpx.Client(event_hooks=...)``."""
        return {"request": [self._on_request], "response": [self._on_response]}

    def _on_request(self, request: httpx.Request) -> None:
        request.extensions = {**request.extensions, _START: (time.monotonic(), time.time())}

    def _on_response(self, response: httpx.Response) -> None:
        response.read()
        self.add(self.entry_for(response.request, response=response))

    def entry_for(
        self,
        request: httpx.Request,
        *,
        response: httpx.Response | None = None,
        error: BaseException | None = None,
    ) -> JournalEntry:
        """Build the redacted entry for a request and its response or failure."""
        secrets = list(self._secrets())
        mono, wall = request.extensions.get(_START, (time.monotonic(), time.time()))
        retry = request.headers.get("x-okta-retry-count", "0")
        rate: dict[str, str] | None = None
        if response is not None:
            rate = {
                k: v
                for k, v in _protocol.redact_headers(response.headers).items()
                if k.startswith("x-rate-limit-")
            } or None
        return JournalEntry(
            started_at=dt.datetime.fromtimestamp(wall, dt.UTC).isoformat(timespec="milliseconds"),
            method=request.method,
            path=_protocol.redact_url(str(request.url), secrets),
            status=response.status_code if response is not None else None,
            duration_ms=round((time.monotonic() - mono) * 1000, 1),
            request_id=response.headers.get("x-okta-request-id") if response is not None else None,
            retry_count=int(retry) if retry.isdigit() else 0,
            request_body=_request_body(request, secrets),
            response_body=(
                _body(response.content, response.headers.get("content-type", ""), secrets)
                if response is not None
                else None
            ),
            error=(
                secret_shapes.redact_text(f"{type(error).__name__}: {error}", secrets)
                if error is not None
                else None
            ),
            rate_limit=rate,
        )

    def record_failure(self, request: httpx.Request, error: BaseException) -> None:
        """Record an attempt that got no response (connect error, timeout, dropped)."""
        self.add(self.entry_for(request, error=error))
