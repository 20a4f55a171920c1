"""The org authorization server of the sandbox: ``POST /oauth2/v1/token`` and token checks.

Pure functions over plain data so that the WSGI app stays a thin adapter and so
that every rule can be tested with literal values:

* :func:`token_endpoint` implements the client-credentials grant with
  ``private_key_jwt`` client authentication (the only method Okta accepts for
  tokens that carry Okta API scopes), with optional DPoP (RFC 9449) including
  the server-nonce round trip that real Okta asks for.
* :func:`authenticate_bearer` checks an ``Authorization: Bearer|DPoP`` token on
  a resource request and returns the scopes it grants.

The state the caller owns is ``clients`` (registered service apps) and
``tokens`` (issued access tokens, mutated here). Two small pieces of state are
kept in this module because they are not part of the org's data: the replay
cache of ``jti`` values (client assertions and DPoP proofs) and the secret that
makes DPoP nonces verifiable without storing them.

Only the standard library, PyJWT and cryptography are used (rule zero of
docs/ARCHITECTURE.md: the sandbox is an independent witness).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

import jwt
from jwt.algorithms import AllowedPublicKeys
from jwt.types import Options

__all__ = [
    "ACCESS_TOKEN_LIFETIME_S",
    "CLIENT_ASSERTION_TYPE",
    "DPOP_ALGORITHMS",
    "authenticate_bearer",
    "jwk_thumbprint",
    "token_endpoint",
]

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Okta's org authorization server issues API access tokens for exactly one hour.
ACCESS_TOKEN_LIFETIME_S = 3600
# A client assertion may live at most one hour (Okta rejects longer ones).
MAX_ASSERTION_LIFETIME_S = 3600
# Asymmetric algorithms only (an HMAC or "none" assertion must never pass): the ones the
# org authorization server advertises (oauth-minimal.yaml, dpop_signing_alg_values_supported).
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512")
DPOP_ALGORITHMS = SIGNING_ALGORITHMS
# How old (or how far in the future, for clock skew) a DPoP proof's iat may be.
DPOP_MAX_AGE_S = 300
CLOCK_SKEW_S = 60
# Nonces are valid in the window they were issued in and the one after it.
NONCE_WINDOW_S = 300

_INVALID_TOKEN_DESCRIPTION = "The access token is invalid"  # noqa: S105 - a message, no secret
_BEARER_INVALID = f'Bearer error="invalid_token", error_description="{_INVALID_TOKEN_DESCRIPTION}"'
_DPOP_ALGS = " ".join(DPOP_ALGORITHMS)
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# Members of a JWK that only a private key has (RFC 7518 §6.2.2 and §6.3.2).
_PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


class _ReplayCache:
    """Remembers ``jti`` values until the token that carried them has expired."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str, str], float] = {}
        self._lock = threading.Lock()

    def seen(self, kind: str, issuer: str, jti: str, now: float) -> bool:
        with self._lock:
            expiry = self._seen.get((kind, issuer, jti))
            return expiry is not None and expiry > now

    def add(self, kind: str, issuer: str, jti: str, expiry: float, now: float) -> bool:
        """Record a jti; False when it was already there (a replay)."""
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen = {k: v for k, v in self._seen.items() if v > now}
            key = (kind, issuer, jti)
            previous = self._seen.get(key)
            if previous is not None and previous > now:
                return False
            self._seen[key] = expiry
            return True


_REPLAY = _ReplayCache()
_NONCE_SECRET = secrets.token_bytes(32)


class _Reject(Exception):
    """Internal: a token request fails with this status, OAuth error and headers."""

    def __init__(
        self, status: int, error: str, description: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.headers = headers or {}


# --- helpers --------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwk_thumbprint(jwk: Mapping[str, object]) -> str:
    """RFC 7638 SHA-256 thumbprint of a public RSA or EC JWK (base64url, no padding)."""
    kty = jwk.get("kty")
    members: tuple[str, ...]
    if kty == "RSA":
        members = ("e", "kty", "n")
    elif kty == "EC":
        members = ("crv", "kty", "x", "y")
    else:
        raise ValueError(f"unsupported key type {kty!r}")
    canonical = json.dumps(
        {m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True
    ).encode()
    return _b64url(hashlib.sha256(canonical).digest())


def _normalise_url(url: str) -> str:
    """Scheme and host lower-cased, default port dropped, no query or fragment (RFC 9449 §4.3)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    if port is not None and not (
        (scheme == "https" and port == 443) or (scheme == "http" and port == 80)
    ):
        host = f"{host}:{port}"
    return urlunsplit((scheme, host, parts.path or "/", "", ""))


def _nonce_for(window: int) -> str:
    mac = hmac.new(_NONCE_SECRET, str(window).encode(), hashlib.sha256).digest()
    return _b64url(mac[:24])


def _current_nonce(now: float) -> str:
    return _nonce_for(int(now // NONCE_WINDOW_S))


def _nonce_is_valid(nonce: str, now: float) -> bool:
    window = int(now // NONCE_WINDOW_S)
    return any(hmac.compare_digest(nonce, _nonce_for(w)) for w in (window, window - 1))


def _key_from_jwk(jwk: Mapping[str, object], algorithm: str) -> AllowedPublicKeys:
    key: AllowedPublicKeys = jwt.PyJWK(dict(jwk), algorithm=algorithm).key
    return key


# Time checks are ours (against the injected ``now``), audience too, so PyJWT
# only checks the signature and the algorithm.
_SIGNATURE_ONLY: Options = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
}


def _numeric(claims: Mapping[str, object], name: str) -> float | None:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


# --- client authentication ------------------------------------------------------------------


def _invalid_client(description: str) -> _Reject:
    return _Reject(401, "invalid_client", description)


def _authenticate_client(
    clients: Mapping[str, Mapping[str, object]], form: Mapping[str, str], token_url: str, now: float
) -> tuple[str, Mapping[str, object], dict[str, object], str]:
    """Verify the client assertion; return (client_id, client, claims, jti). Records nothing."""
    assertion_type = form.get("client_assertion_type")
    assertion = form.get("client_assertion")
    if not assertion and not assertion_type:
        if form.get("client_secret"):
            raise _invalid_client(
                "Client authentication with a secret is not allowed for this client; "
                "use private_key_jwt."
            )
        raise _invalid_client("No client credentials found")
    if assertion_type != CLIENT_ASSERTION_TYPE:
        raise _Reject(400, "invalid_request", "The `client_assertion_type` is invalid.")
    if not assertion:
        raise _invalid_client("No client credentials found")

    try:
        header = jwt.get_unverified_header(assertion)
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise _invalid_client("The client_assertion is not a well-formed JWT.") from None

    client_id = form.get("client_id") or unverified.get("sub") or unverified.get("iss")
    if not isinstance(client_id, str) or client_id not in clients:
        raise _invalid_client("Invalid value for the `client_id` parameter")
    client = clients[client_id]

    alg = header.get("alg")
    if alg not in SIGNING_ALGORITHMS:
        raise _invalid_client(
            f"The client_assertion must be signed with one of: {', '.join(SIGNING_ALGORITHMS)}."
        )
    kid = header.get("kid")
    keys = [
        k
        for k in _array(client.get("jwks"))
        if isinstance(k, dict) and (kid is None or k.get("kid") == kid)
    ]
    if not keys:
        raise _invalid_client(
            f"The client_assertion key id {kid!r} does not match any key registered for the client."
        )

    claims: dict[str, object] | None = None
    for jwk in keys:
        try:
            claims = jwt.decode(
                assertion, _key_from_jwk(jwk, alg), algorithms=[alg], options=_SIGNATURE_ONLY
            )
            break
        except (jwt.PyJWTError, ValueError, TypeError):
            continue
    if claims is None:
        raise _invalid_client("The client_assertion signature is invalid.")

    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise _invalid_client(
            "The iss and sub claims of the client_assertion must both be the client id."
        )
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if not any(
        isinstance(a, str) and _normalise_url(a) == _normalise_url(token_url) for a in audiences
    ):
        raise _invalid_client(
            "The aud claim of the client_assertion must be the token endpoint URL."
        )
    exp = _numeric(claims, "exp")
    if exp is None:
        raise _invalid_client("The client_assertion has no exp claim.")
    if exp <= now:
        raise _invalid_client("The client_assertion has expired.")
    iat = _numeric(claims, "iat")
    if iat is not None and iat > now + CLOCK_SKEW_S:
        raise _invalid_client("The client_assertion iat claim is in the future.")
    if exp - (iat if iat is not None else now) > MAX_ASSERTION_LIFETIME_S:
        raise _invalid_client(
            "The client_assertion expires too far in the future (at most one hour after iat)."
        )
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise _invalid_client("The client_assertion has no jti claim.")
    if _REPLAY.seen("assertion", client_id, jti, now):
        raise _invalid_client("The client_assertion jti has already been used.")
    return client_id, client, claims, jti


# --- DPoP proofs ----------------------------------------------------------------------------


class _BadProof(Exception):
    """Internal: a DPoP proof failed a check (the message says which)."""


def _check_proof(
    proof: str, method: str, url: str, now: float, *, access_token: str | None
) -> tuple[str, dict[str, object], str]:
    """Verify a DPoP proof JWT; return (jwk thumbprint, claims, jti). Records nothing."""
    try:
        header = jwt.get_unverified_header(proof)
    except jwt.PyJWTError:
        raise _BadProof("The DPoP proof is not a well-formed JWT.") from None
    if header.get("typ") != "dpop+jwt":
        raise _BadProof("The DPoP proof typ header must be dpop+jwt.")
    alg = header.get("alg")
    if alg not in DPOP_ALGORITHMS:
        raise _BadProof(f"The DPoP proof must be signed with one of: {_DPOP_ALGS}.")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict) or _PRIVATE_JWK_MEMBERS & jwk.keys():
        raise _BadProof("The DPoP proof jwk header must be a public key.")
    try:
        claims = jwt.decode(
            proof, _key_from_jwk(jwk, alg), algorithms=[alg], options=_SIGNATURE_ONLY
        )
        thumbprint = jwk_thumbprint(jwk)
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        raise _BadProof("The DPoP proof signature is invalid.") from None
    if claims.get("htm") != method.upper():
        raise _BadProof("The DPoP proof htm claim does not match the request method.")
    htu = claims.get("htu")
    if not isinstance(htu, str) or _normalise_url(htu) != _normalise_url(url):
        raise _BadProof("The DPoP proof htu claim does not match the request URL.")
    iat = _numeric(claims, "iat")
    if iat is None or iat > now + CLOCK_SKEW_S or iat < now - DPOP_MAX_AGE_S:
        raise _BadProof("The DPoP proof iat claim is missing or not recent.")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise _BadProof("The DPoP proof has no jti claim.")
    if _REPLAY.seen("dpop", thumbprint, jti, now):
        raise _BadProof("The DPoP proof jti has already been used.")
    if access_token is not None:
        expected = _b64url(hashlib.sha256(access_token.encode("ascii")).digest())
        ath = claims.get("ath")
        if not isinstance(ath, str) or not hmac.compare_digest(ath, expected):
            raise _BadProof("The DPoP proof ath claim does not match the access token.")
    return thumbprint, claims, jti


# --- token endpoint -------------------------------------------------------------------------


def _array(value: object) -> list[object]:
    """``value`` when it is a list (a client's ``jwks``, a token's ``scopes``), else []."""
    return value if isinstance(value, list) else []


def _strings(value: object) -> list[str]:
    """The strings of the list ``value`` (a token's or a client's scopes)."""
    return [item for item in _array(value) if isinstance(item, str)]


def _requested_scopes(form: Mapping[str, str], client: Mapping[str, object]) -> list[str]:
    requested = list(dict.fromkeys((form.get("scope") or "").split()))
    if not requested:
        raise _Reject(400, "invalid_scope", "No scopes were requested.")
    granted = set(_strings(client.get("scopes")))
    missing = [s for s in requested if s not in granted]
    if missing:
        raise _Reject(
            400,
            "invalid_scope",
            "The following scopes are not granted to the client: " + " ".join(missing),
        )
    return requested


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, val in headers.items():
        if key.lower() == lowered:
            return val
    return None


def _check_grant_type(form: Mapping[str, str]) -> None:
    grant_type = form.get("grant_type")
    if grant_type != "client_credentials":
        if not grant_type:
            raise _Reject(400, "invalid_request", "The `grant_type` parameter is required.")
        raise _Reject(
            400, "unsupported_grant_type", "The grant type in the request isn't supported."
        )


def _dpop_binding(
    client: Mapping[str, object], headers: Mapping[str, str], token_url: str, now: float
) -> tuple[str | None, str | None]:
    """The key thumbprint and jti of the DPoP proof a DPoP client sends; (None, None) else."""
    if not client.get("dpop"):
        return None, None
    proof = _header(headers, "DPoP")
    if not proof:
        raise _Reject(400, "invalid_dpop_proof", "The DPoP proof JWT header is missing.")
    try:
        jkt, proof_claims, proof_jti = _check_proof(
            proof, "POST", token_url, now, access_token=None
        )
    except _BadProof as exc:
        raise _Reject(400, "invalid_dpop_proof", str(exc)) from None
    nonce = proof_claims.get("nonce")
    if not isinstance(nonce, str) or not _nonce_is_valid(nonce, now):
        # The client resends the same assertion with a fresh proof, so neither jti
        # is recorded on this answer.
        raise _Reject(
            400,
            "use_dpop_nonce",
            "Authorization server requires nonce in DPoP proof.",
            {"DPoP-Nonce": _current_nonce(now)},
        )
    return jkt, proof_jti


def _spend_jtis(
    client_id: str,
    claims: Mapping[str, object],
    assertion_jti: str,
    jkt: str | None,
    proof_jti: str | None,
    now: float,
) -> None:
    """Record the assertion's jti (and the proof's): each is good for one token only."""
    assertion_expiry = _numeric(claims, "exp") or now
    if not _REPLAY.add("assertion", client_id, assertion_jti, assertion_expiry, now):
        raise _invalid_client("The client_assertion jti has already been used.")
    if jkt is not None and proof_jti is not None:
        if not _REPLAY.add("dpop", jkt, proof_jti, now + DPOP_MAX_AGE_S + CLOCK_SKEW_S, now):
            raise _Reject(400, "invalid_dpop_proof", "The DPoP proof jti has already been used.")


def _issue(
    tokens: dict[str, dict[str, object]],
    client_id: str,
    scopes: list[str],
    jkt: str | None,
    now: float,
) -> dict[str, object]:
    """A new access token, stored in ``tokens``; the token response's body."""
    access_token = secrets.token_urlsafe(48)
    tokens[access_token] = {
        "client_id": client_id,
        "scopes": scopes,
        "exp": now + ACCESS_TOKEN_LIFETIME_S,
        "dpop_jkt": jkt,
    }
    return {
        "token_type": "DPoP" if jkt is not None else "Bearer",
        "expires_in": ACCESS_TOKEN_LIFETIME_S,
        "access_token": access_token,
        "scope": " ".join(scopes),
    }


def token_endpoint(
    clients: dict[str, dict[str, object]],
    tokens: dict[str, dict[str, object]],
    form: dict[str, str],
    headers: Mapping[str, str],
    token_url: str,
    now: float,
) -> tuple[int, Mapping[str, object], dict[str, str]]:
    """Answer ``POST /oauth2/v1/token``: (status, JSON body, extra response headers).

    ``clients`` maps client id to ``{"jwks": [public JWK], "scopes": [granted],
    "dpop": bool}``; an issued token is added to ``tokens`` as ``{"client_id",
    "scopes", "exp", "dpop_jkt"}``. ``token_url`` is the absolute URL the
    request was sent to (the assertion's ``aud`` and the proof's ``htu``).
    """
    try:
        _check_grant_type(form)
        client_id, client, claims, assertion_jti = _authenticate_client(
            clients, form, token_url, now
        )
        jkt, proof_jti = _dpop_binding(client, headers, token_url, now)
        scopes = _requested_scopes(form, client)
        _spend_jtis(client_id, claims, assertion_jti, jkt, proof_jti, now)
    except _Reject as rejection:
        error = {"error": rejection.error, "error_description": rejection.description}
        return rejection.status, error, {**_NO_STORE, **rejection.headers}
    return 200, _issue(tokens, client_id, scopes, jkt, now), dict(_NO_STORE)


# --- resource requests ----------------------------------------------------------------------


def _dpop_challenge(error: str, description: str) -> dict[str, str]:
    return {
        "WWW-Authenticate": (
            f'DPoP algs="{_DPOP_ALGS}", error="{error}", error_description="{description}"'
        )
    }


def authenticate_bearer(
    tokens: dict[str, dict[str, object]],
    scheme: str,
    token: str,
    dpop_proof: str | None,
    method: str,
    url: str,
    now: float,
) -> tuple[list[str] | None, dict[str, str]]:
    """Check an OAuth access token presented on a resource request.

    Returns ``(scopes, {})`` when the token is good, else ``(None, headers)``
    where ``headers`` carries the ``WWW-Authenticate`` challenge for the 401.
    A DPoP-bound token must come with scheme ``DPoP`` and a proof signed by the
    bound key for this method and URL whose ``ath`` is the token's hash.
    """
    record = tokens.get(token)
    is_dpop_scheme = scheme.lower() == "dpop"
    expires = record.get("exp", 0) if record is not None else 0
    if record is None or not isinstance(expires, int | float) or expires <= now:
        if is_dpop_scheme:
            return None, _dpop_challenge("invalid_token", _INVALID_TOKEN_DESCRIPTION)
        return None, {"WWW-Authenticate": _BEARER_INVALID}

    jkt = record.get("dpop_jkt")
    if jkt is None:
        if scheme.lower() != "bearer":
            return None, {"WWW-Authenticate": _BEARER_INVALID}
        return _strings(record.get("scopes")), {}

    if not is_dpop_scheme:
        # A bound token used as a plain bearer token is exactly what DPoP prevents.
        return None, _dpop_challenge("invalid_token", _INVALID_TOKEN_DESCRIPTION)
    if not dpop_proof:
        return None, _dpop_challenge("invalid_dpop_proof", "The DPoP proof JWT header is missing.")
    try:
        thumbprint, _claims, jti = _check_proof(dpop_proof, method, url, now, access_token=token)
    except _BadProof as exc:
        return None, _dpop_challenge("invalid_dpop_proof", str(exc))
    if not hmac.compare_digest(thumbprint, str(jkt)):
        return None, _dpop_challenge(
            "invalid_token", "The DPoP proof key does not match the key the token is bound to."
        )
    if not _REPLAY.add("dpop", thumbprint, jti, now + DPOP_MAX_AGE_S + CLOCK_SKEW_S, now):
        return None, _dpop_challenge(
            "invalid_dpop_proof", "The DPoP proof jti has already been used."
        )
    return _strings(record.get("scopes")), {}
