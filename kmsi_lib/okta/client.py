"""OktaClient: the only code in kmsi_lib that sends requests to Okta.

A thin loop around :mod:`kmsi_lib.okta.protocol` over an injected
``httpx.BaseTransport``: paced by the :class:`~kmsi_lib.okta.governor.Governor`,
recorded by the :class:`~kmsi_lib.okta.journal.Journal`, retried by
:class:`RetryPolicy`:

* 429: wait ``X-Rate-Limit-Reset - Date + 1`` s (backoff for a concurrency
  rejection or when the headers are missing), then retry with
  ``X-Okta-Retry-For`` / ``X-Okta-Retry-Count``; any method (a 429 was not
  processed).
* 423 ``E0000239`` (policy priorities being reconciled) and connection
  failures before anything was sent: retried with capped exponential
  backoff and jitter, any method.
* 500/502/503/504, read timeouts and dropped connections: retried only for
  idempotent methods (GET, PUT, DELETE). A POST is never retried after such
  an ambiguous failure: the error has ``ambiguous = True`` and the caller
  must look the object up by name before trying again.

Attempts and total time are both bounded. TLS certificates are always
verified; there is deliberately no option to turn that off.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack
from urllib.parse import urlsplit

import httpx

from kmsi_lib import __version__, errors, secret_shapes
from kmsi_lib.jsontypes import JsonMap
from kmsi_lib.okta import protocol as _protocol
from kmsi_lib.okta.auth import Credentials
from kmsi_lib.okta.governor import Governor, bucket_key
from kmsi_lib.okta.journal import Journal

__all__ = ["OktaClient", "OrgInfo", "RetryPolicy"]

#: Query parameters of a request: names to values (a list repeats the name).
QueryValue = str | int | float | bool | None
QueryParams = Mapping[str, QueryValue | Sequence[QueryValue]]

DEFAULT_USER_AGENT = f"kmsi-runbooks/{__version__} httpx/{httpx.__version__}"

# Failures where the request never left us: safe to retry whatever the method.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Failures after the request may have reached Okta.
_MAYBE_SENT = (
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before giving up.

    ``max_attempts`` counts every attempt (1 = never retry);
    ``max_total_seconds`` bounds the time spent on one call including waits
    (a wait that would overrun it is not started).
    """

    max_attempts: int = 6
    max_total_seconds: float = 180.0
    backoff_base: float = 0.5
    backoff_cap: float = 20.0
    retry_statuses: frozenset[int] = _protocol.RETRYABLE_STATUSES


@dataclass(frozen=True)
class OrgInfo:
    """From ``/.well-known/okta-organization``."""

    pipeline: str
    is_identity_engine: bool
    id: str | None = None
    raw: JsonMap | None = None


def _elsewhere(url: str) -> str:
    """The origin of a foreign URL as a message shows it (no user name, password or path)."""
    parts = urlsplit(url)
    return repr(secret_shapes.redact_url(f"{parts.scheme}://{parts.netloc}"))


class ClientOptions(TypedDict, total=False):
    """The keyword options of :class:`OktaClient` that :meth:`OktaClient.from_env` passes on."""

    timeout: float
    retry: RetryPolicy | None
    max_api_capacity: float
    max_concurrency: int
    journal: Journal | None
    user_agent: str
    sleep: Callable[[float], None]
    clock: Callable[[], float]
    rand: Callable[[], float]
    governor: Governor | None


class OktaClient:
    """A careful client for one Okta org. All options are keyword-only.

    >>> client = OktaClient.from_env(scopes=("okta.policies.read",))   # doctest: +SKIP
    """

    def __init__(
        self,
        org_url: str,
        auth: httpx.Auth | None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        max_api_capacity: float = 0.5,
        max_concurrency: int = 64,
        journal: Journal | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
        credentials: Credentials | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        governor: Governor | None = None,
    ) -> None:
        self.org_url = _protocol.validate_org_url(org_url)
        self.auth = auth
        self.retry = retry or RetryPolicy()
        self.credentials = credentials
        self._sleep = sleep
        self._clock = clock
        self._rand = rand
        self.governor = governor or Governor(
            share=max_api_capacity, max_concurrency=max_concurrency, sleep=sleep, clock=clock
        )
        self.journal = journal if journal is not None else Journal()
        self.journal.set_secret_source(self.secret_values)
        self._org_info: OrgInfo | None = None
        self._http = httpx.Client(
            base_url=self.org_url,
            auth=auth,
            transport=transport,
            timeout=timeout,
            headers={"Accept": "application/json", "User-Agent": user_agent},
            event_hooks=self.journal.event_hooks(),
            follow_redirects=False,
            # Proxy and CA-bundle variables (HTTPS_PROXY, SSL_CERT_FILE) matter for a real
            # org behind a corporate proxy; a loopback sandbox must never go through one.
            trust_env=not _protocol.is_local_host(urlsplit(self.org_url).hostname or ""),
        )

    @classmethod
    def from_env(
        cls,
        *,
        scopes: Iterable[str] = (),
        env: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        **options: Unpack[ClientOptions],
    ) -> OktaClient:
        """A client from ``OKTA_*`` variables (see :meth:`Credentials.from_env`)."""
        credentials = Credentials.from_env(env)
        return cls(
            credentials.org_url,
            credentials.auth(scopes),
            transport=transport,
            credentials=credentials,
            **options,
        )

    def __repr__(self) -> str:
        return f"OktaClient(org_url={self.org_url!r}, auth={self.auth!r})"

    def __enter__(self) -> OktaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def secret_values(self) -> list[str]:
        """Every secret this client knows (credentials, issued tokens): for scrubbing."""
        values: list[str] = []
        if self.credentials is not None:
            values += self.credentials.secret_values()
        getter = getattr(self.auth, "secret_values", None)
        if callable(getter):
            values += list(getter())
        return [v for v in values if v]

    # -- requests ---------------------------------------------------------------

    def _target(self, path: str) -> str:
        """Absolute URL for ``path``; absolute URLs must point at the org itself."""
        if path.startswith(("http://", "https://")):
            if not _protocol.same_origin(path, self.org_url):
                raise errors.ConfigError(
                    f"Refusing to send credentials to {_elsewhere(path)}: only"
                    f" {self.org_url} is allowed (a Link header or href pointed elsewhere)."
                )
            return path
        return self.org_url + ("" if path.startswith("/") else "/") + path

    def request(
        self,
        method: str,
        path: str,
        *,
        params: QueryParams | None = None,
        json: object = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Send one API call with retries; return the 2xx response or raise ``errors.*``.

        ``idempotent`` overrides the method's default (True for GET/PUT/DELETE):
        pass True for POSTs that are safe to repeat (lifecycle activate/deactivate).
        """
        method = method.upper()
        url = self._target(path)
        display = urlsplit(url).path
        safe_to_repeat = (
            method in _protocol.IDEMPOTENT_METHODS if idempotent is None else idempotent
        )
        key = bucket_key(display)
        policy = self.retry
        started = self._clock()
        attempt = 0
        retry_for: str | None = None
        maybe_landed = False  # an earlier attempt may have reached Okta and taken effect
        while True:
            attempt += 1
            extra = dict(headers or {})
            if attempt > 1:
                extra["X-Okta-Retry-Count"] = str(attempt - 1)
                if retry_for:
                    extra["X-Okta-Retry-For"] = retry_for
            request = self._http.build_request(method, url, params=params, json=json, headers=extra)
            delay: float
            failure: errors.KmsiError
            # Failures are raised after the ``except`` blocks, never inside them: an
            # exception raised there keeps the httpx error as ``__context__``, and that
            # error's ``.request.headers`` hold the Authorization header.
            fatal = False
            try:
                with self.governor.slot(key) as ticket:
                    response = self._http.send(request)
                    # Counted while still in flight: a new window then holds it exactly once.
                    ticket.done(response.headers)
            except _NOT_SENT as exc:
                self.journal.record_failure(request, exc)
                fatal = "CERTIFICATE_VERIFY_FAILED" in str(exc)
                if fatal:
                    failure = errors.TransportError(
                        f"{method} {display}: the TLS certificate of {self.org_url} could not"
                        " be verified. Verification is always on: check the org URL, or point"
                        " SSL_CERT_FILE at your organisation's CA bundle if a proxy re-signs"
                        " traffic.",
                        method=method,
                        path=display,
                        attempts=attempt,
                    )
                else:
                    failure = errors.TransportError(
                        f"{method} {display}: could not connect to {self.org_url}"
                        f" ({type(exc).__name__}). Check the org URL, the network and any proxy.",
                        method=method,
                        path=display,
                        attempts=attempt,
                    )
                delay = self._backoff(attempt)
            except _MAYBE_SENT as exc:
                self.journal.record_failure(request, exc)
                timed_out = isinstance(exc, httpx.TimeoutException)
                what = "timed out" if timed_out else "lost the connection"
                failure = errors.TransportError(
                    f"{method} {display}: {what} waiting for Okta ({type(exc).__name__})."
                    + (" Try again later; check the network." if safe_to_repeat else ""),
                    method=method,
                    path=display,
                    ambiguous=not safe_to_repeat,
                    attempts=attempt,
                )
                fatal = not safe_to_repeat
                maybe_landed = True
                delay = self._backoff(attempt)
            except httpx.TransportError as exc:
                # Proxy, protocol or URL problems: retrying would not help.
                self.journal.record_failure(request, exc)
                detail = _protocol.redact_text(str(exc), self.secret_values())
                failure = errors.TransportError(
                    f"{method} {display}: {type(exc).__name__}: {detail}. Check the org URL and"
                    " any proxy settings (HTTPS_PROXY, NO_PROXY).",
                    method=method,
                    path=display,
                    ambiguous=not safe_to_repeat,
                    attempts=attempt,
                )
                fatal = True
                delay = 0.0
            else:
                if response.is_success:
                    return response
                status = response.status_code
                if status == 404 and method == "DELETE" and maybe_landed:
                    # The first DELETE landed and its answer was lost: the object is gone,
                    # which is what was asked. Failing here would fail a finished change.
                    return response
                if status >= 500:
                    maybe_landed = True  # a gateway error can follow a request that was done
                retry_for = response.headers.get("x-okta-request-id") or retry_for
                ambiguous = status in policy.retry_statuses and not safe_to_repeat
                failure = _protocol.decode_error(
                    status,
                    response.headers,
                    response.content,
                    method=method,
                    path=display,
                    ambiguous=ambiguous,
                    secrets=self.secret_values(),
                )
                if status == 429:
                    delay = self._delay_429(response, attempt)
                elif _protocol.is_locked_retryable(status, response.content):
                    delay = self._backoff(attempt)
                elif status in policy.retry_statuses and safe_to_repeat:
                    delay = self._backoff(attempt)
                else:
                    raise failure
            if fatal:
                raise failure
            if attempt >= policy.max_attempts:
                raise failure
            if self._clock() - started + delay > policy.max_total_seconds:
                raise failure
            self._sleep(delay)

    def _backoff(self, attempt: int) -> float:
        return _protocol.backoff_delay(
            attempt, base=self.retry.backoff_base, cap=self.retry.backoff_cap, rand=self._rand
        )

    def _delay_429(self, response: httpx.Response, attempt: int) -> float:
        if _protocol.is_concurrency_rejection(response.headers):
            return self._backoff(attempt)
        try:
            return _protocol.retry_delay_429(response.headers)
        except ValueError:
            # Okta always sends Date and X-Rate-Limit-Reset; a proxy may not. Back off instead.
            return self._backoff(attempt)

    def get_json(self, path: str, params: QueryParams | None = None) -> Any:
        """GET ``path`` and decode its JSON body (None for an empty body)."""
        response = self.request("GET", path, params=params)
        return response.json() if response.content else None

    def paginate(
        self, path: str, params: QueryParams | None = None, *, stop_on_empty: bool = False
    ) -> Iterator[Any]:
        """Yield every item of a list endpoint, following ``rel="next"`` verbatim, lazily.

        Stopping the iteration early sends no further requests. ``stop_on_empty`` ends at
        the first empty page even when it has a next link: a System Log polling query
        (no ``until``) has one on every page, however many there are.
        """
        url: str | None = path
        page_params: QueryParams | None = params
        followed: set[str] = set()
        while url is not None:
            response = self.request("GET", url, params=page_params)
            # A next link that points back at a page already read would loop forever.
            followed.add(str(response.request.url))
            page = response.json() if response.content else []
            if not isinstance(page, list):
                raise errors.OktaApiError(
                    status=response.status_code,
                    summary="expected a JSON list from a list endpoint",
                    method="GET",
                    path=urlsplit(str(response.request.url)).path,
                    request_id=response.headers.get("x-okta-request-id"),
                    hint="Check that the path names a list endpoint.",
                )
            yield from page
            if stop_on_empty and not page:
                return
            url = _protocol.next_link(response.headers)
            page_params = None  # the next link already carries the whole query
            if url is not None and str(response.request.url.join(url)) in followed:
                raise errors.OktaApiError(
                    status=response.status_code,
                    summary=f"the next-page link repeats a page already read ({url})",
                    method="GET",
                    path=urlsplit(str(response.request.url)).path,
                    request_id=response.headers.get("x-okta-request-id"),
                    hint="Stopped to avoid an endless loop; report the request id to Okta.",
                )

    # -- org ----------------------------------------------------------------------

    def org_info(self) -> OrgInfo:
        """The org's pipeline (``idx`` = Identity Engine, ``v1`` = Classic); cached."""
        if self._org_info is None:
            data = self.get_json("/.well-known/okta-organization") or {}
            pipeline = str(data.get("pipeline") or "")
            self._org_info = OrgInfo(
                pipeline=pipeline,
                is_identity_engine=pipeline == "idx",
                id=data.get("id"),
                raw=data,
            )
        return self._org_info

    def require_identity_engine(self) -> None:
        """Raise ``ClassicEngineError`` unless the org runs Okta Identity Engine."""
        info = self.org_info()
        if not info.is_identity_engine:
            raise errors.ClassicEngineError(
                f"{self.org_url} runs Okta Classic Engine"
                f" (pipeline {info.pipeline or 'unknown'!r}):"
                " the Keep Me Signed In settings these runbooks manage exist only in Identity"
                " Engine. Upgrade the org to Identity Engine first; nothing was changed."
            )
