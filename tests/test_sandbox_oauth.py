"""The sandbox's org authorization server: token endpoint and bearer/DPoP checks.

The pure functions are called with keys generated here; nothing is mocked.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from key_forms import jwk_of
from okta_spec import OAUTH_SPEC_PATH, SpecValidator, load_spec
from sandbox_support import assert_unknown_bearer_refused

from kmsi_lib.sandbox import SANDBOX_URL
from kmsi_lib.sandbox._oauth import (
    CLIENT_ASSERTION_TYPE,
    authenticate_bearer,
    jwk_thumbprint,
    token_endpoint,
)

TOKEN_URL = "https://sandbox.okta.test/oauth2/v1/token"
API_URL = "https://sandbox.okta.test/api/v1/policies"
NOW = 1_800_000_000.0
CLIENT_ID = "0oaservicesandbox001"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _clients(
    key: Any, *, kid: str = "key-1", dpop: bool = False, alg_scopes: list[str] | None = None
) -> dict[str, dict[str, Any]]:
    return {
        CLIENT_ID: {
            "jwks": [jwk_of(key, kid, public=True)],
            "scopes": alg_scopes or ["okta.policies.read", "okta.policies.manage"],
            "dpop": dpop,
        }
    }


def _assertion(key: Any, *, alg: str = "RS256", kid: str | None = "key-1", **overrides: Any) -> str:
    claims: dict[str, Any] = {
        "iss": CLIENT_ID,
        "sub": CLIENT_ID,
        "aud": TOKEN_URL,
        "iat": int(NOW),
        "exp": int(NOW) + 300,
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


def _form(assertion: str, scope: str = "okta.policies.read") -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "scope": scope,
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": assertion,
    }


def _proof(
    key: Any, *, htm: str = "POST", htu: str = TOKEN_URL, alg: str = "ES256", **claims: Any
) -> str:
    body: dict[str, Any] = {"htm": htm, "htu": htu, "iat": int(NOW), "jti": uuid.uuid4().hex}
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    headers = {"typ": "dpop+jwt", "jwk": jwk_of(key, public=True)}
    return jwt.encode(body, key, algorithm=alg, headers=headers)


def _ath(token: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()


# --- token endpoint: client credentials with private_key_jwt ------------------------------


@pytest.mark.parametrize("alg", ["RS256", "RS512", "ES256", "ES384"])
def test_valid_assertion_gets_a_one_hour_bearer_token(
    alg: str, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    """A correctly signed assertion for granted scopes yields a Bearer token recorded in tokens."""
    key: Any = {"RS": rsa_key, "ES256": ec_key}.get(alg[:2] if alg[:2] == "RS" else alg)
    if alg == "ES384":
        key = ec.generate_private_key(ec.SECP384R1())
    tokens: dict[str, dict[str, Any]] = {}
    status, body, headers = token_endpoint(
        _clients(key),
        tokens,
        _form(_assertion(key, alg=alg), "okta.policies.read"),
        {},
        TOKEN_URL,
        NOW,
    )
    assert status == 200, body
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "okta.policies.read"
    assert headers["Cache-Control"] == "no-store"
    record = tokens[body["access_token"]]
    assert record == {
        "client_id": CLIENT_ID,
        "scopes": ["okta.policies.read"],
        "exp": NOW + 3600,
        "dpop_jkt": None,
    }


def _reject(
    key: Any,
    assertion: str,
    *,
    scope: str = "okta.policies.read",
    clients: dict[str, dict[str, Any]] | None = None,
) -> tuple[int, dict[str, Any]]:
    tokens: dict[str, dict[str, Any]] = {}
    status, body, _ = token_endpoint(
        clients or _clients(key), tokens, _form(assertion, scope), {}, TOKEN_URL, NOW
    )
    assert tokens == {}, "a refused request must not issue a token"
    return status, body


def test_assertion_signed_by_another_key_is_invalid_client(
    rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    status, body = _reject(rsa_key, _assertion(other_rsa_key))
    assert (status, body["error"]) == (401, "invalid_client")
    assert "signature" in body["error_description"]


@pytest.mark.parametrize(
    ("overrides", "word"),
    [
        pytest.param({"aud": "https://other.okta.test/oauth2/v1/token"}, "aud", id="wrong-aud"),
        pytest.param(
            {"aud": "https://sandbox.okta.test/oauth2/default/v1/token"}, "aud", id="custom-as-aud"
        ),
        pytest.param({"exp": int(NOW) - 1, "iat": int(NOW) - 301}, "expired", id="expired"),
        pytest.param({"exp": int(NOW) + 3601}, "one hour", id="exp-more-than-1h-after-iat"),
        pytest.param({"iss": "0oasomeoneelse000001"}, "iss", id="iss-not-client"),
        pytest.param({"jti": None}, "jti", id="no-jti"),
        pytest.param({"exp": None}, "exp", id="no-exp"),
    ],
)
def test_bad_assertion_claims_are_invalid_client(
    rsa_key: rsa.RSAPrivateKey, overrides: dict[str, Any], word: str
) -> None:
    status, body = _reject(rsa_key, _assertion(rsa_key, **overrides))
    assert (status, body["error"]) == (401, "invalid_client")
    assert word in body["error_description"]


def test_unknown_kid_is_invalid_client(rsa_key: rsa.RSAPrivateKey) -> None:
    status, body = _reject(rsa_key, _assertion(rsa_key, kid="not-registered"))
    assert (status, body["error"]) == (401, "invalid_client")
    assert "not-registered" in body["error_description"]


def test_unknown_client_is_invalid_client(rsa_key: rsa.RSAPrivateKey) -> None:
    assertion = _assertion(rsa_key, iss="0oaunknown0000000001", sub="0oaunknown0000000001")
    status, body = _reject(rsa_key, assertion)
    assert (status, body["error"]) == (401, "invalid_client")


def test_hmac_signed_assertion_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    """A symmetric algorithm never passes, whatever the secret (alg confusion)."""
    claims = {
        "iss": CLIENT_ID,
        "sub": CLIENT_ID,
        "aud": TOKEN_URL,
        "exp": int(NOW) + 60,
        "jti": "x",
    }
    forged = jwt.encode(
        claims,
        "a-shared-secret-that-is-long-enough-for-hs256",
        algorithm="HS256",
        headers={"kid": "key-1"},
    )
    status, body = _reject(rsa_key, forged)
    assert (status, body["error"]) == (401, "invalid_client")


def test_replayed_assertion_jti_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    clients = _clients(rsa_key)
    tokens: dict[str, dict[str, Any]] = {}
    assertion = _assertion(rsa_key)
    first = token_endpoint(clients, tokens, _form(assertion), {}, TOKEN_URL, NOW)
    second = token_endpoint(clients, tokens, _form(assertion), {}, TOKEN_URL, NOW + 1)
    assert first[0] == 200
    assert (second[0], second[1]["error"]) == (401, "invalid_client")
    assert "already been used" in second[1]["error_description"]
    assert len(tokens) == 1


def test_scope_not_granted_is_invalid_scope(rsa_key: rsa.RSAPrivateKey) -> None:
    status, body = _reject(
        rsa_key, _assertion(rsa_key), scope="okta.policies.read okta.users.manage"
    )
    assert (status, body["error"]) == (400, "invalid_scope")
    assert "okta.users.manage" in body["error_description"]
    assert "okta.policies.read" not in body["error_description"]


def test_no_scope_is_invalid_scope(rsa_key: rsa.RSAPrivateKey) -> None:
    status, body = _reject(rsa_key, _assertion(rsa_key), scope="  ")
    assert body == {"error": "invalid_scope", "error_description": "No scopes were requested."}
    assert status == 400


def test_only_the_requested_scopes_are_granted(rsa_key: rsa.RSAPrivateKey) -> None:
    tokens: dict[str, dict[str, Any]] = {}
    form = _form(_assertion(rsa_key), "okta.policies.manage okta.policies.read okta.policies.read")
    status, body, _ = token_endpoint(_clients(rsa_key), tokens, form, {}, TOKEN_URL, NOW)
    assert status == 200
    assert body["scope"] == "okta.policies.manage okta.policies.read"


@pytest.mark.parametrize(
    ("grant_type", "error"),
    [
        pytest.param("password", "unsupported_grant_type", id="password"),
        pytest.param("authorization_code", "unsupported_grant_type", id="authorization-code"),
        pytest.param("", "invalid_request", id="missing"),
    ],
)
def test_only_client_credentials_is_supported(
    rsa_key: rsa.RSAPrivateKey, grant_type: str, error: str
) -> None:
    form = {**_form(_assertion(rsa_key)), "grant_type": grant_type}
    status, body, _ = token_endpoint(_clients(rsa_key), {}, form, {}, TOKEN_URL, NOW)
    assert (status, body["error"]) == (400, error)


def test_missing_or_wrong_client_authentication(rsa_key: rsa.RSAPrivateKey) -> None:
    no_creds = {"grant_type": "client_credentials", "scope": "okta.policies.read"}
    status, body, _ = token_endpoint(_clients(rsa_key), {}, no_creds, {}, TOKEN_URL, NOW)
    assert (status, body) == (
        401,
        {"error": "invalid_client", "error_description": "No client credentials found"},
    )
    wrong_type = {**_form(_assertion(rsa_key)), "client_assertion_type": "urn:example:other"}
    status, body, _ = token_endpoint(_clients(rsa_key), {}, wrong_type, {}, TOKEN_URL, NOW)
    assert (status, body["error"]) == (400, "invalid_request")


# --- DPoP --------------------------------------------------------------------------------


def test_dpop_client_without_proof_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    status, body, _ = token_endpoint(
        _clients(rsa_key, dpop=True), {}, _form(_assertion(rsa_key)), {}, TOKEN_URL, NOW
    )
    assert (status, body) == (
        400,
        {
            "error": "invalid_dpop_proof",
            "error_description": "The DPoP proof JWT header is missing.",
        },
    )


def _dpop_token(
    rsa_key: rsa.RSAPrivateKey, dpop_key: Any, tokens: dict[str, dict[str, Any]]
) -> str:
    """Run the nonce round trip the way Okta's SDKs do; return the DPoP-bound token."""
    clients = _clients(rsa_key, dpop=True)
    form = _form(_assertion(rsa_key))
    status, body, headers = token_endpoint(
        clients, tokens, form, {"DPoP": _proof(dpop_key)}, TOKEN_URL, NOW
    )
    assert (status, body) == (
        400,
        {
            "error": "use_dpop_nonce",
            "error_description": "Authorization server requires nonce in DPoP proof.",
        },
    )
    nonce = headers["DPoP-Nonce"]
    # The same client assertion is sent again: the nonce answer must not burn its jti.
    status, body, _ = token_endpoint(
        clients, tokens, form, {"dpop": _proof(dpop_key, nonce=nonce)}, TOKEN_URL, NOW + 2
    )
    assert status == 200, body
    assert body["token_type"] == "DPoP"
    return str(body["access_token"])


def test_dpop_nonce_dance_binds_the_token_to_the_proof_key(
    rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    tokens: dict[str, dict[str, Any]] = {}
    token = _dpop_token(rsa_key, ec_key, tokens)
    assert tokens[token]["dpop_jkt"] == jwk_thumbprint(jwk_of(ec_key, public=True))


@pytest.mark.parametrize(
    ("claims", "headers_fix"),
    [
        pytest.param({"htm": "GET"}, None, id="wrong-htm"),
        pytest.param(
            {"htu": "https://sandbox.okta.test/oauth2/v1/authorize"}, None, id="wrong-htu"
        ),
        pytest.param({"iat": int(NOW) - 3600}, None, id="stale-iat"),
        pytest.param({}, {"typ": "JWT"}, id="wrong-typ"),
    ],
)
def test_bad_dpop_proof_at_token_endpoint(
    rsa_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
    claims: dict[str, Any],
    headers_fix: dict[str, str] | None,
) -> None:
    if headers_fix:
        body = {"htm": "POST", "htu": TOKEN_URL, "iat": int(NOW), "jti": "j1"}
        proof = jwt.encode(
            body,
            ec_key,
            algorithm="ES256",
            headers={**headers_fix, "jwk": jwk_of(ec_key, public=True)},
        )
    else:
        proof = _proof(ec_key, **claims)
    status, body, _ = token_endpoint(
        _clients(rsa_key, dpop=True),
        {},
        _form(_assertion(rsa_key)),
        {"DPoP": proof},
        TOKEN_URL,
        NOW,
    )
    assert (status, body["error"]) == (400, "invalid_dpop_proof")


def test_rfc7638_thumbprint_example() -> None:
    """The RSA example of RFC 7638 §3.1 has a published thumbprint."""
    jwk = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tS"
        "oc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65Y"
        "GjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrd"
        "kt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnq"
        "DKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


# --- resource requests -----------------------------------------------------------------------


def test_bearer_token_grants_its_scopes(rsa_key: rsa.RSAPrivateKey) -> None:
    tokens: dict[str, dict[str, Any]] = {}
    _, body, _ = token_endpoint(
        _clients(rsa_key), tokens, _form(_assertion(rsa_key)), {}, TOKEN_URL, NOW
    )
    token = body["access_token"]
    assert authenticate_bearer(tokens, "Bearer", token, None, "GET", API_URL, NOW + 10) == (
        ["okta.policies.read"],
        {},
    )


@pytest.mark.parametrize(
    ("token", "at"),
    [
        pytest.param("not-a-token", NOW + 10, id="unknown"),
        pytest.param(None, NOW + 3600, id="expired"),
    ],
)
def test_unknown_or_expired_bearer_token_is_invalid_token(
    rsa_key: rsa.RSAPrivateKey, token: str | None, at: float
) -> None:
    tokens: dict[str, dict[str, Any]] = {}
    _, body, _ = token_endpoint(
        _clients(rsa_key), tokens, _form(_assertion(rsa_key)), {}, TOKEN_URL, NOW
    )
    scopes, headers = authenticate_bearer(
        tokens, "Bearer", token or body["access_token"], None, "GET", API_URL, at
    )
    assert scopes is None
    assert headers == {
        "WWW-Authenticate": 'Bearer error="invalid_token", '
        'error_description="The access token is invalid"'
    }


def test_dpop_bound_token_with_good_proof_and_ath(
    rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    tokens: dict[str, dict[str, Any]] = {}
    token = _dpop_token(rsa_key, ec_key, tokens)
    proof = _proof(ec_key, htm="GET", htu=API_URL + "?type=ACCESS_POLICY", ath=_ath(token))
    scopes, headers = authenticate_bearer(
        tokens, "DPoP", token, proof, "GET", API_URL + "?type=ACCESS_POLICY", NOW + 5
    )
    assert (scopes, headers) == (["okta.policies.read"], {})
    # The same proof cannot be used twice.
    scopes, headers = authenticate_bearer(tokens, "DPoP", token, proof, "GET", API_URL, NOW + 6)
    assert scopes is None
    assert 'error="invalid_dpop_proof"' in headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("bad-ath", "invalid_dpop_proof"),
        ("no-ath", "invalid_dpop_proof"),
        ("no-proof", "invalid_dpop_proof"),
        ("wrong-htu", "invalid_dpop_proof"),
        ("wrong-htm", "invalid_dpop_proof"),
        ("bearer-scheme", "invalid_token"),
        ("other-key", "invalid_token"),
    ],
)
def test_dpop_bound_token_is_refused_without_a_matching_proof(
    rsa_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
    other_rsa_key: rsa.RSAPrivateKey,
    case: str,
    error: str,
) -> None:
    """Bound tokens need scheme DPoP and a proof by the bound key for this request and token."""
    tokens: dict[str, dict[str, Any]] = {}
    token = _dpop_token(rsa_key, ec_key, tokens)
    scheme = "DPoP"
    proof: str | None = {
        "bad-ath": _proof(ec_key, htm="GET", htu=API_URL, ath=_ath(token + "x")),
        "no-ath": _proof(ec_key, htm="GET", htu=API_URL),
        "bearer-scheme": _proof(ec_key, htm="GET", htu=API_URL, ath=_ath(token)),
        "no-proof": None,
        "other-key": _proof(other_rsa_key, alg="RS256", htm="GET", htu=API_URL, ath=_ath(token)),
        "wrong-htu": _proof(ec_key, htm="GET", htu=API_URL + "/x", ath=_ath(token)),
        "wrong-htm": _proof(ec_key, htm="POST", htu=API_URL, ath=_ath(token)),
    }[case]
    if case == "bearer-scheme":
        scheme = "Bearer"
    scopes, headers = authenticate_bearer(tokens, scheme, token, proof, "GET", API_URL, NOW + 5)
    assert scopes is None
    challenge = headers["WWW-Authenticate"]
    assert challenge.startswith('DPoP algs="RS256 RS384 RS512 ES256 ES384 ES512"')
    assert f'error="{error}"' in challenge


# --- end to end through the sandbox's in-process transport ----------------------------------


@functools.cache
def _oauth_spec() -> SpecValidator:
    return SpecValidator(load_spec(OAUTH_SPEC_PATH))


def _assert_token_response_conforms(response: httpx.Response) -> None:
    """Token endpoint answers follow oauth-minimal.yaml, bar one documented departure.

    The spec's token_type enum is Bearer|N_A, but a DPoP-bound token is typed "DPoP"
    (RFC 9449 section 5; Okta's DPoP guide shows the same), so that value alone is allowed.
    """
    violations = _oauth_spec().validate_response(response)
    allowed = [("token_type", "DPoP")]
    assert all(
        v.problems and [(p.where, p.value) for p in v.problems] == allowed for v in violations
    ), [str(v) for v in violations]
    assert response.headers["content-type"].startswith("application/json")


def _sandbox_token(
    sandbox: Any, key: Any, scope: str, *, dpop_key: Any = None
) -> tuple[httpx.Client, dict[str, Any]]:
    client = httpx.Client(base_url=SANDBOX_URL, transport=sandbox.transport())
    token_url = f"{SANDBOX_URL}/oauth2/v1/token"
    now = int(time.time())
    assertion = _assertion(key, aud=token_url, iat=now, exp=now + 300)
    headers: dict[str, str] = {}
    if dpop_key is not None:
        proof = _proof(dpop_key, htu=token_url, iat=now)
        first = client.post(
            "/oauth2/v1/token", data=_form(assertion, scope), headers={"DPoP": proof}
        )
        assert first.status_code == 400
        assert first.json()["error"] == "use_dpop_nonce"
        _assert_token_response_conforms(first)
        nonce = first.headers["DPoP-Nonce"]
        headers["DPoP"] = _proof(dpop_key, htu=token_url, iat=now, nonce=nonce)
    response = client.post("/oauth2/v1/token", data=_form(assertion, scope), headers=headers)
    assert response.status_code == 200, response.text
    _assert_token_response_conforms(response)
    return client, response.json()


def test_sandbox_token_then_bearer_call_then_insufficient_scope(
    sandbox: Any, rsa_key: rsa.RSAPrivateKey
) -> None:
    """A service app gets a token, uses it, and is refused (403, empty body) outside its scopes."""
    sandbox.admin.register_client(
        CLIENT_ID, jwk_of(rsa_key, "key-1", public=True), ["okta.policies.read", "okta.users.read"]
    )
    client, token = _sandbox_token(sandbox, rsa_key, "okta.policies.read")
    assert (token["token_type"], token["expires_in"], token["scope"]) == (
        "Bearer",
        3600,
        "okta.policies.read",
    )
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    listed = client.get("/api/v1/policies", params={"type": "ACCESS_POLICY"}, headers=bearer)
    assert listed.status_code == 200
    assert isinstance(listed.json(), list) and listed.json()

    # okta.users.read is granted to the app but was not requested: the token lacks it.
    refused = client.get("/api/v1/users", headers=bearer)
    assert refused.status_code == 403
    assert refused.content == b""
    challenge = refused.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="okta.users.read"' in challenge

    # A write needs okta.policies.manage, which this token does not carry either.
    write = client.post(
        "/api/v1/policies", json={"type": "ACCESS_POLICY", "name": "x"}, headers=bearer
    )
    assert write.status_code == 403
    assert 'scope="okta.policies.manage"' in write.headers["WWW-Authenticate"]

    # A token the org never issued is refused as it is where no service app is registered.
    assert_unknown_bearer_refused(client, "ACCESS_POLICY")


def test_sandbox_refuses_scopes_the_app_was_not_granted(
    sandbox: Any, rsa_key: rsa.RSAPrivateKey
) -> None:
    sandbox.admin.register_client(
        CLIENT_ID, jwk_of(rsa_key, "key-1", public=True), ["okta.policies.read"]
    )
    client = httpx.Client(base_url=SANDBOX_URL, transport=sandbox.transport())
    now = int(time.time())
    assertion = _assertion(rsa_key, aud=f"{SANDBOX_URL}/oauth2/v1/token", iat=now, exp=now + 60)
    response = client.post("/oauth2/v1/token", data=_form(assertion, "okta.policies.manage"))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    _assert_token_response_conforms(response)
    unknown = client.post("/oauth2/v1/token", data=_form(_assertion(rsa_key, kid="nope")))
    assert unknown.status_code == 401
    _assert_token_response_conforms(unknown)


def test_sandbox_dpop_bound_token_round_trip(
    sandbox: Any, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    """DPoP: nonce round trip at the token endpoint, then a resource call with a fresh proof."""
    sandbox.admin.register_client(
        CLIENT_ID, jwk_of(rsa_key, "key-1", public=True), ["okta.policies.read"], dpop=True
    )
    client, token = _sandbox_token(sandbox, rsa_key, "okta.policies.read", dpop_key=ec_key)
    assert token["token_type"] == "DPoP"
    access = token["access_token"]
    url = f"{SANDBOX_URL}/api/v1/policies"
    now = int(time.time())
    good = client.get(
        url,
        params={"type": "ACCESS_POLICY"},
        headers={
            "Authorization": f"DPoP {access}",
            "DPoP": _proof(ec_key, htm="GET", htu=url, iat=now, ath=_ath(access)),
        },
    )
    assert good.status_code == 200, good.text
    as_bearer = client.get(
        url, params={"type": "ACCESS_POLICY"}, headers={"Authorization": f"Bearer {access}"}
    )
    assert as_bearer.status_code == 401
    wrong_ath = client.get(
        url,
        params={"type": "ACCESS_POLICY"},
        headers={
            "Authorization": f"DPoP {access}",
            "DPoP": _proof(ec_key, htm="GET", htu=url, iat=now, ath=_ath("other")),
        },
    )
    assert wrong_ath.status_code == 401
    assert wrong_ath.headers["WWW-Authenticate"].startswith("DPoP ")
