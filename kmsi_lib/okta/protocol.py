"""The Okta protocol without I/O: pure functions over ``(status, headers, body)``.

Everything here is tested with literal values; :mod:`kmsi_lib.okta.client` is a thin
loop around it (the gidgethub ``sansio`` pattern).
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TypedDict
from urllib.parse import SplitResult, parse_qsl, urlsplit, urlunsplit

import httpx
from werkzeug.datastructures import WWWAuthenticate

from kmsi_lib import errors, secret_shapes
from kmsi_lib.jsontypes import JsonMap, JsonObject, arr, obj, text
from kmsi_lib.secret_shapes import JWK_PRIVATE_MEMBERS as JWK_PRIVATE_MEMBERS
from kmsi_lib.secret_shapes import REDACTED as REDACTED
from kmsi_lib.secret_shapes import SECRET_HEADERS as SECRET_HEADERS
from kmsi_lib.secret_shapes import is_secret_key as is_secret_key
from kmsi_lib.secret_shapes import jwk_private_values as jwk_private_values
from kmsi_lib.secret_shapes import redact_text as redact_text

#: Hosts that may be reached over plain HTTP: loopback (the sandbox served on
#: 127.0.0.1) and the sandbox's in-process host name.
PLAIN_HTTP_HOSTS = frozenset({"localhost", "sandbox.okta.test"})

#: Header values of this shape: name-value pairs in ``Headers`` objects, plain
#: mappings, or a list of pairs (repeated names allowed).
HeadersLike = Mapping[str, str] | Iterable[tuple[str, str]]

# ---------------------------------------------------------------- org URL


def engine_name(pipeline: str | None) -> str:
    """Okta's engine from the well-known document's ``pipeline``: ``idx`` is Identity
    Engine, ``v1`` Classic Engine; anything else is ``unknown``."""
    return {"idx": "Identity Engine", "v1": "Classic Engine"}.get(pipeline or "", "unknown")


def is_local_host(host: str) -> bool:
    """Loopback addresses and the in-process sandbox host."""
    if host in PLAIN_HTTP_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_org_url(url: str, *, variable: str = "OKTA_ORG_URL") -> str:
    """Return the org URL normalised (no trailing slash) or raise ``ConfigError``.

    HTTPS is required, except for loopback hosts and the in-process sandbox.
    The URL must be the bare org (no path, query or fragment).
    """
    raw = (url or "").strip()
    example = "for example https://example.okta.com"
    if not raw:
        raise errors.ConfigError(f"{variable} is empty: set it to your Okta org URL, {example}.")
    # Every message shows the value redacted: a mistaken variable may hold the token.
    shown = secret_shapes.redact_config(raw)
    try:
        parts = urlsplit(raw)
    except ValueError:
        parts = urlsplit("")
    host = (parts.hostname or "").lower()
    if parts.scheme not in {"https", "http"} or not host:
        raise errors.ConfigError(
            f"{variable}={shown} is not a URL: set it to your Okta org URL, {example}."
        )
    if parts.username or parts.password:
        raise errors.ConfigError(
            f"{variable} must not contain a user name or password: set it to the bare org URL,"
            f" {example}."
        )
    if parts.path not in {"", "/"} or parts.query or parts.fragment:
        raise errors.ConfigError(
            f"{variable}={shown} has a path or query: use the bare org URL, {example}"
            " (not an admin console or /api/v1 URL)."
        )
    port: int | None = None
    bad_port = False
    try:
        port = parts.port
    except ValueError:
        bad_port = True
    if bad_port:
        # Raised here, not in the handler: the ValueError quotes the port text (anything).
        raise errors.ConfigError(f"{variable}={shown} has an invalid port.")
    origin = secret_shapes.redact_url(f"https://{parts.netloc}")
    if parts.scheme == "http" and not is_local_host(host):
        raise errors.ConfigError(
            f"{variable}={shown} uses plain HTTP: Okta orgs are reached over HTTPS only"
            f" (plain HTTP is accepted for loopback sandboxes); use {origin}."
        )
    if re.search(r"-admin\.(okta|oktapreview|okta-emea|okta-gov|okta-mil)\.com$", host):
        fixed = re.sub(r"-admin\.", ".", origin, count=1, flags=re.IGNORECASE)
        raise errors.ConfigError(
            f"{variable}={shown} is the Admin Console address: use the org URL without"
            f" '-admin', {fixed}."
        )
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return f"{parts.scheme}://{netloc}"


def same_origin(url: str, org_url: str) -> bool:
    """True when ``url`` points at the same scheme, host and port as ``org_url``."""
    a, b = urlsplit(url), urlsplit(org_url)

    def key(p: SplitResult) -> tuple[str, str, int | None]:
        default = {"https": 443, "http": 80}.get(p.scheme)
        return (p.scheme, (p.hostname or "").lower(), p.port or default)

    return key(a) == key(b)


# ---------------------------------------------------------------- headers


def header_items(headers: HeadersLike) -> Iterable[tuple[str, str]]:
    """Every (name, value) pair, repeated headers kept apart (``httpx.Headers.multi_items``)."""
    multi = getattr(headers, "multi_items", None)
    if callable(multi):
        items: Iterable[tuple[str, str]] = multi()
        return items
    if isinstance(headers, Mapping):
        return headers.items()
    return headers


def header_values(headers: HeadersLike, name: str) -> list[str]:
    """Every value of header ``name`` (case-insensitive), repeated headers kept apart."""
    wanted = name.lower()
    return [value for key, value in header_items(headers) if key.lower() == wanted]


def header_value(headers: HeadersLike, name: str) -> str | None:
    """The first value of header ``name``, or None."""
    values = header_values(headers, name)
    return values[0] if values else None


# ---------------------------------------------------------------- Link


def parse_links(headers: HeadersLike) -> dict[str, str]:
    """Map each ``rel`` of the ``Link`` headers to its URL (verbatim), as
    ``httpx.Response.links`` reads them.

    Okta sends one ``Link`` header per relation; httpx joins them with commas
    and splits them again on ``<`` (URLs may contain commas). httpx keys a link
    by its whole ``rel``; one with several (``rel="next last"``) is listed here
    under each, the first link of a relation winning.
    """
    links: dict[str, str] = {}
    for link in httpx.Response(200, headers=list(header_items(headers))).links.values():
        for rel in link.get("rel", "").lower().split():
            links.setdefault(rel, link["url"])
    return links


def next_link(headers: HeadersLike) -> str | None:
    """The ``rel="next"`` URL, or None at the end of the list."""
    return parse_links(headers).get("next")


# ---------------------------------------------------------------- WWW-Authenticate


def parse_www_authenticate(value: str | None) -> WWWAuthenticate | None:
    """The challenge of a ``WWW-Authenticate`` value (werkzeug's parser), or None.

    ``.type`` is the scheme, lower-cased (``bearer``, ``dpop``); ``.parameters``
    holds the unquoted parameters, also readable as ``.error``,
    ``.error_description``, ``.scope`` (None when absent).
    """
    return WWWAuthenticate.from_header(value.strip() if value else None)


# ---------------------------------------------------------------- errors

_CAUSE_FIELD_RE = re.compile(r"^\s*([A-Za-z_][\w.\[\]]*)\s*:\s*(.+)$", re.DOTALL)


def parse_error_body(body: object) -> JsonObject:
    """The Okta error object of ``body`` (bytes, text or already-decoded JSON); {} if none."""
    if isinstance(body, bytes | str):
        if not body:
            return {}
        try:
            decoded = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return {}
        return obj(decoded)
    return obj(body)


def validation_fields(causes: Iterable[JsonMap]) -> dict[str, str]:
    """Field path -> message from ``errorCauses``.

    Okta writes causes as ``"actions.signon.factorLifetime: must be an
    integer"``; newer responses may also carry ``location``.
    """
    fields: dict[str, str] = {}
    for cause in causes:
        summary = str(cause.get("errorSummary") or "")
        location = cause.get("location")
        match = _CAUSE_FIELD_RE.match(summary)
        if match:
            name, message = match.group(1), match.group(2).strip()
        elif isinstance(location, str) and location:
            name, message = location, summary
        else:
            continue
        fields[name] = f"{fields[name]}; {message}" if name in fields else message
    return fields


#: The exception for each error status (400 and 5xx are decided in :func:`decode_error`).
_ERROR_BY_STATUS: dict[int, type[errors.OktaApiError]] = {
    401: errors.AuthenticationError,
    403: errors.PermissionDeniedError,
    404: errors.NotFoundError,
    409: errors.ConflictError,
    423: errors.LockedError,
    429: errors.RateLimitedError,
}


class _ErrorFields(TypedDict):
    """The keyword arguments every :class:`errors.OktaApiError` takes from a response."""

    status: int
    error_code: str | None
    summary: str
    causes: list[str]
    request_id: str | None
    method: str
    path: str
    ambiguous: bool


def decode_error(
    status: int,
    headers: HeadersLike,
    body: object,
    *,
    method: str = "",
    path: str = "",
    ambiguous: bool = False,
    secrets: Iterable[str] = (),
) -> errors.OktaApiError:
    """Turn an error response into the matching exception (returned, not raised).

    Text taken from the response is scrubbed of ``secrets`` and anything
    token- or key-like, in case a server or proxy echoes a credential.
    """
    known = tuple(secrets)
    error = parse_error_body(body)
    code = text(error.get("errorCode"))
    summary = str(error.get("errorSummary") or "")
    cause_dicts = [c for c in arr(error.get("errorCauses")) if isinstance(c, dict)]
    causes = [str(c.get("errorSummary")) for c in cause_dicts if c.get("errorSummary")]
    challenge = parse_www_authenticate(header_value(headers, "www-authenticate"))
    if not summary and challenge is not None and challenge.error_description:
        summary = challenge.error_description
    summary = redact_text(summary, known)
    causes = [redact_text(c, known) for c in causes]
    if not summary and status == 429:
        summary = "API call exceeded rate limit due to too many requests."
    common: _ErrorFields = {
        "status": status,
        "error_code": code,
        "summary": summary,
        "causes": causes,
        "request_id": header_value(headers, "x-okta-request-id"),
        "method": method,
        "path": path,
        "ambiguous": ambiguous,
    }
    if challenge is not None and challenge.error == "insufficient_scope":
        return errors.InsufficientScopeError(scope=challenge.scope, **common)
    if status == 401 and code == "E0000015":
        return errors.PermissionDeniedError(**common)
    if status == 400:
        fields = {k: redact_text(v, known) for k, v in validation_fields(cause_dicts).items()}
        return errors.ValidationError(fields=fields, **common)
    if status >= 500:
        return errors.ServerError(**common)
    return _ERROR_BY_STATUS.get(status, errors.OktaApiError)(**common)


# ---------------------------------------------------------------- retries


def http_date_epoch(value: str | None) -> float | None:
    """Epoch seconds of an HTTP ``Date`` header value, or None if absent/invalid."""
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def header_ints(values: Iterable[str]) -> list[int]:
    """The integers in header values (comma-joined repeats split; anything else skipped)."""
    out: list[int] = []
    for value in values:
        for piece in value.split(","):
            piece = piece.strip()
            if piece.lstrip("-").isdigit():
                out.append(int(piece))
    return out


def rate_limit_reset(headers: HeadersLike) -> int | None:
    """The earliest ``X-Rate-Limit-Reset`` (epoch seconds) among all values, or None."""
    values = header_ints(header_values(headers, "x-rate-limit-reset"))
    return min(values) if values else None


def retry_delay_429(headers: HeadersLike) -> float:
    """Seconds to wait after a 429: ``X-Rate-Limit-Reset - Date + 1``.

    As Okta's SDKs do: the minimum of several ``X-Rate-Limit-Reset`` values,
    relative to the server's ``Date`` (not our clock, which may be skewed).
    Raises ``ValueError`` when either header is missing; the client then
    falls back to exponential backoff.
    """
    reset = rate_limit_reset(headers)
    if reset is None:
        raise ValueError("429 response without X-Rate-Limit-Reset")
    now = http_date_epoch(header_value(headers, "date"))
    if now is None:
        raise ValueError("429 response without a valid Date header")
    return max(float(reset) - now + 1.0, 1.0)


def is_concurrency_rejection(headers: HeadersLike) -> bool:
    """True for a 429 caused by the concurrent-request limit (Limit 0 and Remaining 0)."""
    limits = header_ints(header_values(headers, "x-rate-limit-limit"))
    remaining = header_ints(header_values(headers, "x-rate-limit-remaining"))
    return bool(limits) and limits[0] == 0 and bool(remaining) and remaining[0] == 0


def backoff_delay(
    attempt: int,
    *,
    base: float,
    cap: float,
    rand: Callable[[], float],
) -> float:
    """Capped exponential backoff with "equal jitter" for retry number ``attempt`` (1-based).

    The ceiling is ``min(cap, base * 2**(attempt-1))``; the delay is drawn
    uniformly from its upper half, so retries spread out but never collapse
    to zero. ``rand`` returns a float in [0, 1) and is injected for tests.
    """
    ceiling: float = min(cap, base * 2.0 ** max(attempt - 1, 0))
    return ceiling / 2 + rand() * ceiling / 2


#: Statuses retried for idempotent methods with backoff.
RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def is_locked_retryable(status: int, body: object) -> bool:
    """423 ``E0000239`` (priorities being reconciled): Okta refused, safe to retry."""
    return status == 423 and parse_error_body(body).get("errorCode") in {"E0000239", None}


# ---------------------------------------------------------------- redaction

# The vocabulary of secrets (key names, value shapes, redaction) is
# kmsi_lib.secret_shapes; its names imported at the top stay importable from here.

redact_json = secret_shapes.redact_mapping


def redact_headers(headers: HeadersLike, secrets: Iterable[str] = ()) -> dict[str, str]:
    """Headers as a dict with secret header values replaced."""
    known = tuple(secrets)
    out: dict[str, str] = {}
    for key, value in header_items(headers):
        lkey = key.lower()
        clean = REDACTED if lkey in SECRET_HEADERS else redact_text(value, known)
        out[lkey] = f"{out[lkey]}, {clean}" if lkey in out else clean
    return out


def redact_form(body: str, secrets: Iterable[str] = ()) -> dict[str, str]:
    """A form-encoded body (the token request) as a dict with secrets removed."""
    known = tuple(secrets)
    return {
        key: (
            REDACTED
            if is_secret_key(key) and secret_shapes.holds_text(value)
            else redact_text(value, known)
        )
        for key, value in parse_qsl(body, keep_blank_values=True)
    }


def redact_url(url: str, secrets: Iterable[str] = ()) -> str:
    """Path and query of ``url`` as the request journal records them, secrets removed.

    :func:`kmsi_lib.secret_shapes.redact_url` with ``keep_query=True``: ordinary
    query values stay (they are evidence), secret ones and known secrets go.
    """
    parts = urlsplit(url)
    relative = urlunsplit(("", "", parts.path, parts.query, ""))
    return secret_shapes.redact_url(relative or "/", secrets, keep_query=True)
