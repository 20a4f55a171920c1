"""Credentials for the Okta Management API.

Two ways in, both read from the environment in one place,
:meth:`Credentials.from_env`:

* an API token (``OKTA_ORG_URL`` + ``OKTA_API_TOKEN``; the Okta SDK names
  ``OKTA_CLIENT_ORGURL`` / ``OKTA_CLIENT_TOKEN`` work too) sent as
  ``Authorization: SSWS <token>`` by :class:`SSWSAuth`;
* an OAuth 2.0 service app (``OKTA_CLIENT_ID`` + ``OKTA_PRIVATE_KEY_FILE`` or
  ``OKTA_PRIVATE_KEY_JWK``, optional ``OKTA_KEY_ID``, optional ``OKTA_DPOP=1``):
  :class:`OAuthServiceAppAuth` signs a ``private_key_jwt`` client assertion,
  gets an access token for exactly the scopes asked for from the org
  authorization server, caches it until shortly before it expires, and
  speaks DPoP when the app requires it.

Secret values live in :class:`Secret`, whose ``repr``/``str`` never show them.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict
from urllib.parse import urlsplit, urlunsplit

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from kmsi_lib import errors, secret_shapes
from kmsi_lib.okta import protocol as _protocol

__all__ = ["Credentials", "OAuthServiceAppAuth", "SSWSAuth", "Secret", "load_private_key"]

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_PATH = "/oauth2/v1/token"  # noqa: S105  # a URL path, not a password


class Secret:
    """A string that never shows itself in ``repr``/``str``/logs (starlette's idea)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        """The value itself: call only where it is sent (a header, a signature)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)


def _as_secret(value: Secret | str) -> Secret:
    return value if isinstance(value, Secret) else Secret(value)


class SSWSAuth(httpx.Auth):
    """``Authorization: SSWS <API token>``."""

    def __init__(self, token: Secret | str) -> None:
        self._token = _as_secret(token)
        if not self._token.get_secret_value().strip():
            raise errors.ConfigError("The API token is empty: set OKTA_API_TOKEN.")

    def __repr__(self) -> str:
        return "SSWSAuth(token=Secret('**********'))"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the ``Authorization: SSWS`` header."""
        request.headers["Authorization"] = f"SSWS {self._token.get_secret_value()}"
        yield request

    def secret_values(self) -> list[str]:
        """The token, for the journal's and the evidence's secret scrubbing."""
        return [self._token.get_secret_value()]


# ---------------------------------------------------------------- keys


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_EC_ALGS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


class _TokenErrorFields(TypedDict):
    """The keyword arguments of an error from the token endpoint."""

    status: int
    error_code: str | None
    summary: str
    request_id: str | None
    method: str
    path: str


@dataclass(frozen=True)
class _SigningKey:
    key: Any  # an RSA or EC private key object from cryptography
    algorithm: str
    kid: str | None


def load_private_key(text: Secret | str) -> _SigningKey:
    """Load a PEM private key or a private JWK (JSON); pick RS256/ES256/... from its type."""
    raw = _as_secret(text).get_secret_value().strip()
    kid: str | None = None
    problem: str | None = None
    try:
        if raw.startswith("{"):
            jwk = json.loads(raw)
            if not isinstance(jwk, dict) or "d" not in jwk:
                raise ValueError("not a private JWK (no 'd' member)")
            kid = jwk.get("kid") if isinstance(jwk.get("kid"), str) else None
            if jwk.get("kty") == "RSA":
                key: Any = jwt.algorithms.RSAAlgorithm.from_jwk(jwk)
            elif jwk.get("kty") == "EC":
                key = jwt.algorithms.ECAlgorithm.from_jwk(jwk)
            else:
                # Not quoted: the member may hold anything, even the key itself.
                raise ValueError("unsupported key type (not RSA or EC)")
        else:
            key = serialization.load_pem_private_key(raw.encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError, jwt.PyJWTError) as exc:
        # The messages of json, PyJWT and cryptography never contain key material, but
        # the exceptions can (``JSONDecodeError.doc`` is the whole JWK text): the error is
        # raised below, outside this block, so that it does not chain them.
        problem = f"{type(exc).__name__}: {exc}"
    if problem is not None:
        raise errors.ConfigError(
            f"The service app private key could not be read ({problem}); give an unencrypted"
            " PKCS#8/PKCS#1 PEM file (OKTA_PRIVATE_KEY_FILE) or a private JWK"
            " (OKTA_PRIVATE_KEY_JWK)."
        )
    if isinstance(key, rsa.RSAPrivateKey):
        return _SigningKey(key, "RS256", kid)
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in _EC_ALGS:
        return _SigningKey(key, _EC_ALGS[key.curve.name], kid)
    raise errors.ConfigError(
        "The service app private key must be RSA or EC (P-256/384/521) and private;"
        " check OKTA_PRIVATE_KEY_FILE / OKTA_PRIVATE_KEY_JWK."
    )


def _private_parts(text: str) -> list[str]:
    """Secret substrings of a PEM or JWK text, for the evidence scanner."""
    out = [text]
    stripped = text.strip()
    if stripped.startswith("{"):
        out += _protocol.jwk_private_values(stripped)
    else:
        body = "".join(
            line.strip() for line in stripped.splitlines() if line and not line.startswith("-----")
        )
        if body:
            out.append(body)
            # Each base64 line too, in case something re-wraps the PEM.
            out += [ln.strip() for ln in stripped.splitlines() if len(ln.strip()) >= 40]
    return out


def _htu(url: httpx.URL | str) -> str:
    """The DPoP ``htu``: the URL without query and fragment."""
    parts = urlsplit(str(url))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


# ---------------------------------------------------------------- OAuth


class OAuthServiceAppAuth(httpx.Auth):
    """OAuth 2.0 client credentials with ``private_key_jwt``, optionally DPoP-bound.

    The token request goes through the same client (and transport) as the API
    requests, so the request journal records it, redacted.
    """

    requires_response_body = True

    def __init__(
        self,
        org_url: str,
        client_id: str,
        private_key: Secret | str,
        *,
        scopes: Iterable[str],
        key_id: str | None = None,
        dpop: bool = False,
        assertion_lifetime: int = 300,
        refresh_margin: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.org_url = _protocol.validate_org_url(org_url)
        self.client_id = client_id
        self.scopes = tuple(dict.fromkeys(scopes))
        if not self.scopes:
            raise errors.ConfigError(
                "No OAuth scopes were requested: the procedure must name the scopes it needs"
                " (for example okta.policies.read)."
            )
        self._private_key = _as_secret(private_key)
        self._signing = load_private_key(self._private_key)
        self.key_id = key_id or self._signing.kid
        self.dpop = dpop
        self._assertion_lifetime = min(assertion_lifetime, 3600)
        self._refresh_margin = refresh_margin
        self._clock = clock
        self._lock = threading.RLock()
        self._token: Secret | None = None
        self._token_type = "Bearer"  # noqa: S105  # the token scheme name, not a secret
        self._expires_at = 0.0
        self._token_nonce: str | None = None
        self._resource_nonce: str | None = None
        self._dpop_key: ec.EllipticCurvePrivateKey | None = None
        # Every access token and assertion ever issued, so evidence can be scanned for them.
        self._issued: collections.deque[str] = collections.deque(maxlen=64)

    def __repr__(self) -> str:
        return (
            f"OAuthServiceAppAuth(org_url={self.org_url!r}, client_id={self.client_id!r},"
            f" scopes={self.scopes!r}, dpop={self.dpop!r}, private_key=Secret('**********'))"
        )

    @property
    def token_url(self) -> str:
        """The org authorization server's token endpoint."""
        return self.org_url + TOKEN_PATH

    def secret_values(self) -> list[str]:
        """The key's secret parts and every assertion and access token issued so far."""
        values = _private_parts(self._private_key.get_secret_value())
        with self._lock:
            values += list(self._issued)
        return values

    # -- JWTs ---------------------------------------------------------------

    def client_assertion(self) -> str:
        """A fresh signed client assertion (``iss = sub = client_id``, aud = token URL)."""
        now = int(self._clock())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.token_url,
            "iat": now,
            "exp": now + self._assertion_lifetime,
            "jti": str(uuid.uuid4()),
        }
        headers = {"kid": self.key_id} if self.key_id else None
        assertion = jwt.encode(
            claims, self._signing.key, algorithm=self._signing.algorithm, headers=headers
        )
        self._issued.append(assertion)
        return assertion

    def _dpop_private_key(self) -> ec.EllipticCurvePrivateKey:
        if self._dpop_key is None:
            # Ephemeral: lives as long as this object; the token is bound to it.
            self._dpop_key = ec.generate_private_key(ec.SECP256R1())
        return self._dpop_key

    def dpop_proof(
        self,
        method: str,
        url: httpx.URL | str,
        *,
        nonce: str | None = None,
        access_token: str | None = None,
    ) -> str:
        """A DPoP proof JWT for one request (RFC 9449)."""
        key = self._dpop_private_key()
        public_jwk = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
        claims: dict[str, str | int] = {
            "htm": method.upper(),
            "htu": _htu(url),
            "iat": int(self._clock()),
            "jti": str(uuid.uuid4()),
        }
        if nonce:
            claims["nonce"] = nonce
        if access_token is not None:
            claims["ath"] = _b64url(hashlib.sha256(access_token.encode("ascii")).digest())
        return jwt.encode(
            claims, key, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": public_jwk}
        )

    # -- token --------------------------------------------------------------

    def _cached_token(self) -> str | None:
        if self._token is None or self._clock() >= self._expires_at - self._refresh_margin:
            return None
        return self._token.get_secret_value()

    def _token_request(self) -> httpx.Request:
        form = {
            "grant_type": "client_credentials",
            "scope": " ".join(self.scopes),
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": self.client_assertion(),
        }
        request = httpx.Request(
            "POST", self.token_url, data=form, headers={"Accept": "application/json"}
        )
        if self.dpop:
            request.headers["DPoP"] = self.dpop_proof(
                "POST", self.token_url, nonce=self._token_nonce
            )
        return request

    def _token_error(self, response: httpx.Response) -> errors.OktaApiError:
        body = _protocol.parse_error_body(response.content)
        code = str(body.get("error") or "")
        description = _protocol.redact_text(
            str(body.get("error_description") or ""), self.secret_values()
        )
        common: _TokenErrorFields = {
            "status": response.status_code,
            "error_code": code or None,
            "summary": description,
            "request_id": response.headers.get("x-okta-request-id"),
            "method": "POST",
            "path": TOKEN_PATH,
        }
        if code == "invalid_scope":
            missing = description.rpartition(":")[2].strip() if ":" in description else ""
            return errors.InsufficientScopeError(scope=missing or " ".join(self.scopes), **common)
        if response.status_code in {400, 401}:
            return errors.AuthenticationError(
                hint=(
                    f"Okta refused the service app's credentials ({code or 'error'}): check"
                    " OKTA_CLIENT_ID, that the public key (OKTA_KEY_ID) is registered on the app,"
                    " that the app uses private_key_jwt, and the org URL."
                ),
                **common,
            )
        return _protocol.decode_error(
            response.status_code,
            response.headers,
            response.content,
            method="POST",
            path=TOKEN_PATH,
            secrets=self.secret_values(),
        )

    def _fetch_token(self) -> Generator[httpx.Request, httpx.Response, str]:
        # At most: plain -> (invalid_dpop_proof) DPoP -> (use_dpop_nonce) DPoP + nonce.
        for _ in range(4):
            response = yield self._token_request()
            if response.status_code == 200:
                payload = _protocol.parse_error_body(response.content)
                token = payload.get("access_token")
                if not isinstance(token, str) or not token:
                    # Never echo the body: it is the token response.
                    raise errors.AuthenticationError(
                        status=200,
                        summary="the token endpoint answered 200 without an access_token",
                        request_id=response.headers.get("x-okta-request-id"),
                        method="POST",
                        path=TOKEN_PATH,
                        hint="Check that OKTA_ORG_URL is the Okta org itself, not a proxy.",
                    )
                self._token = Secret(token)
                self._issued.append(token)
                self._token_type = str(payload.get("token_type") or "Bearer")
                if self._token_type.lower() == "dpop":
                    self.dpop = True
                expires = payload.get("expires_in") or 3600
                if not isinstance(expires, int | float | str):
                    raise TypeError(f"expires_in is a {type(expires).__name__}, not a number")
                lifetime = float(expires)
                self._expires_at = self._clock() + lifetime
                return token
            body = _protocol.parse_error_body(response.content)
            code = body.get("error")
            nonce = response.headers.get("dpop-nonce")
            if code == "use_dpop_nonce" and nonce:
                self.dpop = True
                self._token_nonce = nonce
                continue
            if code == "invalid_dpop_proof" and not self.dpop:
                self.dpop = True
                continue
            raise self._token_error(response)
        raise errors.AuthenticationError(
            status=400,
            error_code="use_dpop_nonce",
            summary="the token endpoint kept asking for a new DPoP nonce",
            method="POST",
            path=TOKEN_PATH,
        )

    def _authorize(self, request: httpx.Request, token: str) -> None:
        if self.dpop:
            request.headers["Authorization"] = f"DPoP {token}"
            request.headers["DPoP"] = self.dpop_proof(
                request.method, request.url, nonce=self._resource_nonce, access_token=token
            )
        else:
            request.headers["Authorization"] = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Get or reuse a token, authorize, answer DPoP-nonce and revoked-token challenges."""
        with self._lock:
            token = self._cached_token()
            if token is None:
                token = yield from self._fetch_token()
        self._authorize(request, token)
        response = yield request
        if response.status_code != 401:
            return
        challenge = _protocol.parse_www_authenticate(response.headers.get("www-authenticate"))
        error = challenge.error if challenge else None
        if error == "use_dpop_nonce" and response.headers.get("dpop-nonce"):
            self._resource_nonce = response.headers["dpop-nonce"]
            self._authorize(request, token)
            yield request
        elif error == "invalid_token":
            # Revoked or expired early: get a new token once.
            with self._lock:
                if self._token is not None and self._token.get_secret_value() == token:
                    self._token = None
                fresh = self._cached_token()
                if fresh is None:
                    fresh = yield from self._fetch_token()
            self._authorize(request, fresh)
            yield request


# ---------------------------------------------------------------- Credentials


_BOTH_CONFIGURED = (
    "Both an API token (OKTA_API_TOKEN) and an OAuth service app (OKTA_CLIENT_ID) are"
    " configured: unset one of them."
)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Credentials:
    """Where the org is and how to authenticate: read once, from the environment."""

    org_url: str
    api_token: Secret | None = None
    client_id: str | None = None
    private_key: Secret | None = field(default=None, repr=False)
    key_id: str | None = None
    dpop: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "org_url", _protocol.validate_org_url(self.org_url))
        if self.api_token is not None and self.client_id is not None:
            raise errors.ConfigError(_BOTH_CONFIGURED)
        if self.api_token is None and self.client_id is None:
            raise errors.ConfigError(
                "No credentials: set OKTA_API_TOKEN, or OKTA_CLIENT_ID with"
                " OKTA_PRIVATE_KEY_FILE (or OKTA_PRIVATE_KEY_JWK) for an OAuth service app."
            )
        if self.client_id is not None and self.private_key is None:
            raise errors.ConfigError(
                "OKTA_CLIENT_ID is set but no private key: set OKTA_PRIVATE_KEY_FILE to a PEM"
                " file or OKTA_PRIVATE_KEY_JWK to the private JWK."
            )

    @property
    def kind(self) -> str:
        """``"api_token"`` or ``"oauth"``."""
        return "api_token" if self.api_token is not None else "oauth"

    def auth(
        self, scopes: Iterable[str] = (), *, clock: Callable[[], float] = time.time
    ) -> httpx.Auth:
        """The ``httpx.Auth`` for these credentials (OAuth needs the scopes to request)."""
        if self.api_token is not None:
            return SSWSAuth(self.api_token)
        assert self.client_id is not None and self.private_key is not None  # __post_init__
        return OAuthServiceAppAuth(
            self.org_url,
            self.client_id,
            self.private_key,
            scopes=scopes,
            key_id=self.key_id,
            dpop=self.dpop,
            clock=clock,
        )

    def secret_values(self) -> list[str]:
        """Every secret string these credentials hold (for the evidence secret scan)."""
        values: list[str] = []
        if self.api_token is not None:
            values.append(self.api_token.get_secret_value())
        if self.private_key is not None:
            values += _private_parts(self.private_key.get_secret_value())
        return [v for v in values if v]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Credentials:
        """Read the credentials from ``env`` (default ``os.environ``); the only place we do."""
        source = os.environ if env is None else env

        def get(*names: str) -> tuple[str | None, str | None]:
            """(value, variable) of the first non-empty variable; contradictions refused."""
            found = [(n, source[n].strip()) for n in names if source.get(n, "").strip()]
            if len({v for _, v in found}) > 1:
                listed = " and ".join(n for n, _ in found)
                raise errors.ConfigError(f"{listed} are both set to different values: keep one.")
            return (found[0][1], found[0][0]) if found else (None, None)

        org_url, org_var = get("OKTA_ORG_URL", "OKTA_CLIENT_ORGURL")
        if org_url is None:
            raise errors.ConfigError(
                "OKTA_ORG_URL is not set: export OKTA_ORG_URL=https://<your-org>.okta.com"
                " (or start the sandbox with `kmsi sandbox` and use its exports)."
            )
        org_url = _protocol.validate_org_url(org_url, variable=org_var or "OKTA_ORG_URL")
        token, _ = get("OKTA_API_TOKEN", "OKTA_CLIENT_TOKEN")
        client_id, _ = get("OKTA_CLIENT_ID", "OKTA_CLIENT_CLIENTID")
        key_file, _ = get("OKTA_PRIVATE_KEY_FILE")
        key_jwk, _ = get("OKTA_PRIVATE_KEY_JWK")
        key_id, _ = get("OKTA_KEY_ID", "OKTA_CLIENT_KID")
        if token and client_id:
            raise errors.ConfigError(_BOTH_CONFIGURED)
        if key_file and key_jwk:
            raise errors.ConfigError(
                "OKTA_PRIVATE_KEY_FILE and OKTA_PRIVATE_KEY_JWK are both set: keep one."
            )
        if (key_file or key_jwk) and not client_id:
            raise errors.ConfigError(
                "A private key is configured but OKTA_CLIENT_ID is not: set OKTA_CLIENT_ID to"
                " the service app's client id."
            )
        private_key: Secret | None = None
        if key_file:
            unreadable: str | None = None
            try:
                private_key = Secret(Path(key_file).expanduser().read_text(encoding="ascii"))
            except (OSError, UnicodeDecodeError) as exc:
                # Raised below, not chained: UnicodeDecodeError.object is the file's content.
                unreadable = type(exc).__name__
            if unreadable is not None:
                raise errors.ConfigError(
                    f"OKTA_PRIVATE_KEY_FILE={secret_shapes.redact_config(key_file)} cannot be"
                    f" read ({unreadable}):"
                    " point it at the service app's PEM private key file."
                )
        elif key_jwk:
            private_key = Secret(key_jwk)
        if token and token.upper().startswith("SSWS "):
            token = token[5:].strip()
        if private_key is not None:
            load_private_key(private_key)  # fail now, naming the variable, not at first request
        return cls(
            org_url=org_url,
            api_token=Secret(token) if token else None,
            client_id=client_id,
            private_key=private_key,
            key_id=key_id,
            dpop=_truthy(source.get("OKTA_DPOP")),
        )
