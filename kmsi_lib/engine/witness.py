"""The sandbox witness: the one way the library learns what only the sandbox can show.

Two things a verification would like to check have no public Okta API: the
org setting that shows "Keep me signed in" before sign-in (pre_auth) and the
list of a user's sessions (reset_sessions). A real org cannot be asked, so a
real run records the admin's attestation and Okta's answers instead. The
emulated org can show both on its admin endpoints (``/_sandbox/``), but only
the layer that *knows* it talks to the sandbox may ask: the library never
sends anything to ``/_sandbox/`` on its own, and never the operator's
credentials.

That layer installs a :class:`SandboxWitness`, in one of two ways:

* in Python, :func:`install` or ``with installed(witness):`` (tests, in-process);
* for a kernel it starts, the environment variable :data:`ADMIN_URL_ENV`
  (``KMSI_SANDBOX_ADMIN_URL``) naming the sandbox's base URL on a loopback
  address: ``kmsi demo`` and ``kmsi lab`` set it, papermill's kernels inherit
  it, and :func:`current` reads it with :class:`HttpSandboxWitness`, a plain
  httpx client that carries no credentials.

Procedures ask :func:`for_client`, which also requires the client's org to be
the sandbox (a loopback or in-process URL): a witness never grades a real org.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from urllib.parse import urlsplit

import httpx

from kmsi_lib.errors import ConfigError
from kmsi_lib.jsontypes import JsonObject, JsonValue
from kmsi_lib.okta import protocol as _protocol

if TYPE_CHECKING:
    from kmsi_lib.okta.client import OktaClient

__all__ = [
    "ADMIN_URL_ENV",
    "HttpSandboxWitness",
    "SandboxWitness",
    "current",
    "for_client",
    "install",
    "installed",
]

#: The environment variable naming the sandbox admin base URL (``http://127.0.0.1:N``).
ADMIN_URL_ENV = "KMSI_SANDBOX_ADMIN_URL"


@runtime_checkable
class SandboxWitness(Protocol):
    """What the sandbox can show that a real org's API cannot; None means "cannot tell"."""

    def org_setting(self, name: str) -> bool | None:
        """The org setting ``name`` (e.g. ``preAuthKmsi``), or None when it cannot be read."""
        ...

    def session_revocations(self) -> list[JsonObject] | None:
        """Every session revocation the org recorded, oldest first, or None."""
        ...

    def console_url(self, page: str) -> str | None:
        """The address of the sandbox's own "Admin Console" page ``page`` (for example
        ``security/general``, where the pre-auth toggle is clicked), or None."""
        ...


class HttpSandboxWitness:
    """Asks a sandbox's ``/_sandbox/`` endpoints over HTTP with no credentials at all.

    ``transport`` is the test seam (``Sandbox.transport()`` for an in-process
    sandbox). Any failure (no answer, an error status, a body that is not
    JSON) is None: "cannot check", never a wrong answer.
    """

    def __init__(
        self,
        admin_url: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        self.admin_url = admin_url.rstrip("/")
        self._transport = transport
        self._timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"HttpSandboxWitness({self.admin_url!r})"

    def _get(self, path: str) -> JsonValue:
        # a client of its own: nothing of the operator's (auth, headers, journal) is reused
        client = httpx.Client(
            base_url=self.admin_url, transport=self._transport, timeout=self._timeout_s
        )
        try:
            response = client.get(f"/_sandbox/{path}")
            response.raise_for_status()
            body: JsonValue = response.json()  # the boundary: a decoded JSON document
            return body
        except (httpx.HTTPError, ValueError):
            return None
        finally:
            if self._transport is None:  # an injected transport is its owner's to close
                client.close()

    def org_setting(self, name: str) -> bool | None:
        settings = self._get("org-settings")
        value = settings.get(name) if isinstance(settings, dict) else None
        return value if isinstance(value, bool) else None

    def console_url(self, page: str) -> str | None:
        return f"{self.admin_url}/_sandbox/console/{page.strip('/')}"

    def session_revocations(self) -> list[JsonObject] | None:
        data = self._get("session-revocations")
        if not isinstance(data, list):
            return None
        return [dict(item) for item in data if isinstance(item, dict)]


_installed: contextvars.ContextVar[SandboxWitness | None] = contextvars.ContextVar(
    "kmsi_sandbox_witness", default=None
)


def install(witness: SandboxWitness | None) -> contextvars.Token[SandboxWitness | None]:
    """Install ``witness`` for this context (None: none); ``_installed.reset(token)`` undoes it."""
    return _installed.set(witness)


@contextmanager
def installed(witness: SandboxWitness | None) -> Iterator[SandboxWitness | None]:
    """``witness`` installed inside the block, the previous one restored after it."""
    token = install(witness)
    try:
        yield witness
    finally:
        _installed.reset(token)


def _is_local(url: str) -> bool:
    return _protocol.is_local_host(urlsplit(url).hostname or "")


def current() -> SandboxWitness | None:
    """The installed witness, else one for :data:`ADMIN_URL_ENV` if set, else None.

    The variable must name a loopback or in-process sandbox URL
    (:class:`~kmsi_lib.errors.ConfigError` otherwise): the sandbox is never remote.
    """
    witness = _installed.get()
    if witness is not None:
        return witness
    url = os.environ.get(ADMIN_URL_ENV, "").strip()
    if not url:
        return None
    if not _is_local(url):
        raise ConfigError(
            f"{ADMIN_URL_ENV} must name the sandbox on a loopback address such as"
            f" http://127.0.0.1:8000 (got {url!r}); unset it for a real org"
        )
    return HttpSandboxWitness(url)


def for_client(client: OktaClient) -> SandboxWitness | None:
    """The witness for ``client``'s org: :func:`current` when the org is the sandbox, else None."""
    if not _is_local(str(getattr(client, "org_url", ""))):
        return None
    return current()
