"""One exception tree for everything kmsi_lib raises.

::

    KmsiError
    ├── ConfigError                  environment / org URL / credentials are unusable
    ├── ParameterError               a runbook parameter is wrong (.field, .message)
    ├── OktaApiError                 Okta answered with an error (.status, .error_code, ...)
    │   ├── AuthenticationError      401: token missing, invalid or expired
    │   ├── PermissionDeniedError    403 E0000006 / E0000015: the admin role or org lacks it
    │   ├── InsufficientScopeError   403 insufficient_scope: the OAuth app lacks .scope
    │   ├── NotFoundError            404 E0000007
    │   ├── ValidationError          400: the body was refused (.fields)
    │   ├── ConflictError            409
    │   ├── LockedError              423 E0000239: Okta is reconciling priorities
    │   ├── RateLimitedError         429 after every retry was used
    │   └── ServerError              5xx after every retry was used (or a POST: no retry)
    ├── TransportError               no usable HTTP answer (connect, read, timeout)
    ├── ClassicEngineError           the org runs Classic Engine, KMSI needs Identity Engine
    ├── StalePlanError               the org changed since the plan was made
    └── EvidenceError                evidence could not be written or does not verify

Every message says what to do next and, when Okta sent one, quotes the
``X-Okta-Request-Id`` so that Okta support can find the request.

``ambiguous`` (on ``OktaApiError`` and ``TransportError``) is True when a
non-idempotent request (a POST) may or may not have taken effect: the caller
must look the object up (by name) before trying again.

``apply_result`` (on every ``KmsiError``) is None, except on an error raised
by an apply that had already written something: then it is the partial
:class:`~kmsi_lib.engine.ApplyResult` (outcome ``failed``, with the
before-state of what was written) so that it can be recorded and rolled back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Required, TypedDict, Unpack

if TYPE_CHECKING:  # only for the annotation; errors.py imports nothing from kmsi_lib at run time
    from kmsi_lib.engine import ApplyResult

__all__ = [
    "AuthenticationError",
    "ClassicEngineError",
    "ConfigError",
    "ConflictError",
    "EvidenceError",
    "InsufficientScopeError",
    "KmsiError",
    "LockedError",
    "NotFoundError",
    "OktaApiError",
    "ParameterError",
    "PermissionDeniedError",
    "RateLimitedError",
    "ServerError",
    "StalePlanError",
    "TransportError",
    "ValidationError",
]

#: Ends the message of every ``ambiguous`` error.
AMBIGUOUS_ADVICE = (
    "The request may or may not have taken effect: look the object up by name before sending"
    " it again."
)


class KmsiError(Exception):
    """Root of every error kmsi_lib raises on purpose.

    ``apply_result`` is the partial result of an apply that failed after
    writing (see the module docstring); None otherwise.
    """

    apply_result: ApplyResult | None = None


class ConfigError(KmsiError):
    """The configuration (environment variables, org URL, key files) is unusable."""


class ParameterError(KmsiError):
    """A parameter given to a procedure is wrong; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class ClassicEngineError(KmsiError):
    """The org runs Okta Classic Engine; the KMSI procedures need Identity Engine."""


class StalePlanError(KmsiError):
    """The org changed between plan and apply; make a new plan."""


class EvidenceError(KmsiError):
    """Evidence could not be written, read or verified."""


class TransportError(KmsiError):
    """No usable HTTP answer: connection refused or dropped, or a timeout.

    ``ambiguous`` is True when the request may have reached Okta (a POST that
    was sent but got no answer): the message then ends with :data:`AMBIGUOUS_ADVICE`.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        path: str = "",
        ambiguous: bool = False,
        attempts: int = 1,
    ) -> None:
        self.method = method
        self.path = path
        self.ambiguous = ambiguous
        self.attempts = attempts
        super().__init__(f"{message} {AMBIGUOUS_ADVICE}" if ambiguous else message)


class _ApiErrorFields(TypedDict, total=False):
    """The keyword arguments of :class:`OktaApiError` (its subclasses pass them on)."""

    status: Required[int]
    error_code: str | None
    summary: str
    causes: Sequence[str]
    request_id: str | None
    method: str
    path: str
    ambiguous: bool
    hint: str | None


class OktaApiError(KmsiError):
    """Okta answered with an error status.

    ``causes`` holds the ``errorSummary`` of each ``errorCauses`` entry;
    ``request_id`` is the response's ``X-Okta-Request-Id``.
    """

    #: What the admin should do next; subclasses override it.
    hint = "Check the request and try again; quote the request id if you contact Okta support."

    def __init__(
        self,
        *,
        status: int,
        error_code: str | None = None,
        summary: str = "",
        causes: Sequence[str] = (),
        request_id: str | None = None,
        method: str = "",
        path: str = "",
        ambiguous: bool = False,
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.error_code = error_code
        self.summary = summary
        self.causes = tuple(causes)
        self.request_id = request_id
        self.method = method
        self.path = path
        self.ambiguous = ambiguous
        if hint is not None:
            self.hint = hint
        super().__init__(self._message())

    def _message(self) -> str:
        where = f"{self.method} {self.path}".strip()
        code = f" {self.error_code}" if self.error_code else ""
        text = f"{where}: HTTP {self.status}{code}" if where else f"HTTP {self.status}{code}"
        if self.summary:
            text += f": {self.summary}"
        if self.causes:
            text += " (" + "; ".join(self.causes) + ")"
        text += f". {self.hint}"
        if self.ambiguous:
            text += f" {AMBIGUOUS_ADVICE}"
        if self.request_id:
            text += f" [X-Okta-Request-Id: {self.request_id}]"
        return text


class AuthenticationError(OktaApiError):
    """401: Okta did not accept the credentials."""

    hint = (
        "Check the API token (OKTA_API_TOKEN) or the OAuth service app credentials"
        " (OKTA_CLIENT_ID and its private key): it may be mistyped, expired or revoked,"
        " or belong to another org."
    )


class PermissionDeniedError(OktaApiError):
    """403 E0000006 (or 401 E0000015): the admin role or the org lacks a permission."""

    hint = (
        "The admin behind the token (or the service app's admin role) lacks permission"
        " for this action, or the org does not have the feature: assign a suitable"
        " admin role (e.g. Super Administrator for policies) and try again."
    )


class InsufficientScopeError(OktaApiError):
    """403 with ``error="insufficient_scope"``: the access token lacks ``scope``."""

    def __init__(self, *, scope: str | None = None, **kwargs: Unpack[_ApiErrorFields]) -> None:
        self.scope = scope
        wanted = scope or "the scope this endpoint requires"
        hint = (
            f"The access token lacks the scope {wanted}: grant {wanted} to the service app"
            " (Okta Admin Console > Applications > the app > Okta API Scopes) and request it."
        )
        kwargs.setdefault("hint", hint)
        super().__init__(**kwargs)


class NotFoundError(OktaApiError):
    """404 E0000007: no such object."""

    hint = "Check the id or name; the object may have been deleted or never existed."


class ValidationError(OktaApiError):
    """400: Okta refused the request body; ``fields`` maps field path to message."""

    hint = "Correct the fields named above and try again."

    def __init__(
        self, *, fields: Mapping[str, str] | None = None, **kwargs: Unpack[_ApiErrorFields]
    ) -> None:
        self.fields: dict[str, str] = dict(fields or {})
        super().__init__(**kwargs)


class ConflictError(OktaApiError):
    """409: the request conflicts with the object's current state."""

    hint = "Re-read the object; its current state does not allow this change."


class LockedError(OktaApiError):
    """423 E0000239: Okta is reconciling policy priorities."""

    hint = "Okta is busy reconciling policy priorities; wait a minute and run the step again."


class RateLimitedError(OktaApiError):
    """429 after every allowed retry: the org's rate limit is exhausted."""

    hint = (
        "The org's rate limit for this endpoint is exhausted; wait for the limit to reset"
        " (or lower the run's share of the rate limit) and run the step again."
    )


class ServerError(OktaApiError):
    """5xx from Okta after every allowed retry."""

    hint = "Okta had a server error; wait a few minutes and try again (check status.okta.com)."
