"""Secrets, SSWS and OAuth service-app auth, and reading credentials from the environment.

Keys are generated at run time; the fake token endpoint verifies the client
assertion and DPoP proofs with real signatures.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fake_secrets import PEM_BEGIN, fake_pem
from key_forms import jwk_of, pem_of

from kmsi_lib import errors
from kmsi_lib.okta.auth import (
    CLIENT_ASSERTION_TYPE,
    Credentials,
    OAuthServiceAppAuth,
    Secret,
    SSWSAuth,
    load_private_key,
)
from kmsi_lib.okta.client import OktaClient

ORG = "https://example.okta.com"
TOKEN_URL = f"{ORG}/oauth2/v1/token"
CLIENT_ID = "0oaFakeServiceApp01"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ath(token: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()


# ---------------------------------------------------------------- Secret, SSWS


def test_secret_never_shows_its_value() -> None:
    s = Secret("hunter2")
    assert repr(s) == str(s) == "Secret('**********')"
    assert f"{s}" == "Secret('**********')"
    assert "hunter2" not in repr([s, {"k": s}])
    assert s.get_secret_value() == "hunter2"


def test_ssws_auth_sets_the_header_and_hides_the_token() -> None:
    seen: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda r: (seen.append(r), httpx.Response(200, json={}))[1])
    auth = SSWSAuth("00tok")
    with httpx.Client(transport=transport, auth=auth) as http:
        http.get(f"{ORG}/api/v1/users/me")
    assert seen[0].headers["Authorization"] == "SSWS 00tok"
    assert "00tok" not in repr(auth)


# ---------------------------------------------------------------- keys


def test_load_private_key_pem_and_jwk(rsa_key: rsa.RSAPrivateKey) -> None:
    assert load_private_key(pem_of(rsa_key)).algorithm == "RS256"
    loaded = load_private_key(json.dumps(jwk_of(rsa_key, kid="k1")))
    assert (loaded.algorithm, loaded.kid) == ("RS256", "k1")
    ec_key = ec.generate_private_key(ec.SECP256R1())
    assert load_private_key(pem_of(ec_key)).algorithm == "ES256"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("not a key", id="garbage"),
        pytest.param('{"kty": "RSA", "n": "AQAB", "e": "AQAB"}', id="public-jwk"),
        pytest.param(fake_pem("AAAA"), id="bad-pem"),
    ],
)
def test_load_private_key_errors_name_the_variables_and_never_the_key(text: str) -> None:
    with pytest.raises(errors.ConfigError) as info:
        load_private_key(text)
    assert "OKTA_PRIVATE_KEY_FILE" in str(info.value)
    assert "AAAA" not in str(info.value)


# ---------------------------------------------------------------- fake org authorization server


class FakeOrg:
    """Token endpoint + one API endpoint, verifying signatures like Okta does."""

    def __init__(
        self, public_key: Any, *, dpop: bool = False, granted: tuple[str, ...] = ()
    ) -> None:
        self.public_key = public_key
        self.dpop = dpop
        self.granted = set(granted)
        self.nonce = "nonce-1"
        self.token_requests: list[dict[str, str]] = []
        self.api_requests: list[httpx.Request] = []
        self.issued = 0
        self.dpop_jkt: str | None = None
        self.revoked: set[str] = set()
        self.resource_nonce: str | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth2/v1/token":
            return self.token(request)
        return self.api(request)

    def token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        self.token_requests.append(form)
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        assert form["grant_type"] == "client_credentials"
        assert form["client_assertion_type"] == CLIENT_ASSERTION_TYPE
        claims = jwt.decode(
            form["client_assertion"],
            self.public_key,
            algorithms=["RS256"],
            audience=TOKEN_URL,
            leeway=7200,
        )
        assert claims["iss"] == claims["sub"] == CLIENT_ID
        assert 0 < claims["exp"] - claims["iat"] <= 3600
        assert claims["jti"]
        if self.dpop:
            proof = request.headers.get("DPoP")
            if not proof:
                return httpx.Response(400, json={"error": "invalid_dpop_proof"})
            header = jwt.get_unverified_header(proof)
            assert header["typ"] == "dpop+jwt"
            key = jwt.algorithms.ECAlgorithm.from_jwk(header["jwk"])
            body = jwt.decode(proof, key, algorithms=["ES256"])
            assert (body["htm"], body["htu"]) == ("POST", TOKEN_URL)
            if body.get("nonce") != self.nonce:
                return httpx.Response(
                    400, json={"error": "use_dpop_nonce"}, headers={"DPoP-Nonce": self.nonce}
                )
            self.dpop_jkt = json.dumps(header["jwk"], sort_keys=True)
        missing = [s for s in form["scope"].split() if s not in self.granted]
        if missing:
            return httpx.Response(
                400,
                json={
                    "error": "invalid_scope",
                    "error_description": "The following scopes are not granted to the client: "
                    + " ".join(missing),
                },
            )
        self.issued += 1
        return httpx.Response(
            200,
            json={
                "token_type": "DPoP" if self.dpop else "Bearer",
                "expires_in": 3600,
                "access_token": f"at-{self.issued}",
                "scope": form["scope"],
            },
        )

    def api(self, request: httpx.Request) -> httpx.Response:
        self.api_requests.append(request)
        scheme, _, token = request.headers["Authorization"].partition(" ")
        if token in self.revoked:
            challenge = f'{scheme} error="invalid_token", error_description="revoked"'
            return httpx.Response(401, headers={"WWW-Authenticate": challenge})
        if self.dpop:
            assert scheme == "DPoP"
            proof = request.headers["DPoP"]
            header = jwt.get_unverified_header(proof)
            assert json.dumps(header["jwk"], sort_keys=True) == self.dpop_jkt
            body = jwt.decode(
                proof, jwt.algorithms.ECAlgorithm.from_jwk(header["jwk"]), algorithms=["ES256"]
            )
            assert body["htm"] == request.method
            assert body["htu"] == f"{ORG}{request.url.path}"
            assert body["ath"] == ath(token)
            if self.resource_nonce and body.get("nonce") != self.resource_nonce:
                return httpx.Response(
                    401,
                    headers={
                        "WWW-Authenticate": 'DPoP error="use_dpop_nonce"',
                        "DPoP-Nonce": self.resource_nonce,
                    },
                )
        else:
            assert scheme == "Bearer"
        return httpx.Response(200, json={"token": token})


def oauth_client(
    fake: FakeOrg, key: Any, *, scopes: tuple[str, ...], clock: Any = time.time, dpop: bool = False
) -> OktaClient:
    auth = OAuthServiceAppAuth(
        ORG, CLIENT_ID, pem_of(key), scopes=scopes, key_id="kid-1", dpop=dpop, clock=clock
    )
    return OktaClient(ORG, auth, transport=httpx.MockTransport(fake))


def test_oauth_gets_a_token_for_the_scopes_and_caches_it(rsa_key: rsa.RSAPrivateKey) -> None:
    fake = FakeOrg(rsa_key.public_key(), granted=("okta.policies.read", "okta.users.manage"))
    client = oauth_client(fake, rsa_key, scopes=("okta.policies.read", "okta.users.manage"))
    assert client.get_json("/api/v1/policies/p1") == {"token": "at-1"}
    assert client.get_json("/api/v1/policies/p2") == {"token": "at-1"}
    assert len(fake.token_requests) == 1
    assert fake.token_requests[0]["scope"] == "okta.policies.read okta.users.manage"
    assert jwt.get_unverified_header(fake.token_requests[0]["client_assertion"])["kid"] == "kid-1"


def test_oauth_refreshes_shortly_before_expiry(rsa_key: rsa.RSAPrivateKey) -> None:
    now = [time.time()]
    fake = FakeOrg(rsa_key.public_key(), granted=("okta.users.read",))
    client = oauth_client(fake, rsa_key, scopes=("okta.users.read",), clock=lambda: now[0])
    client.get_json("/api/v1/users/u")
    now[0] += 3600 - 61
    assert client.get_json("/api/v1/users/u") == {"token": "at-1"}
    now[0] += 2  # within 60 s of expiry
    assert client.get_json("/api/v1/users/u") == {"token": "at-2"}


def test_oauth_missing_scope_names_it(rsa_key: rsa.RSAPrivateKey) -> None:
    fake = FakeOrg(rsa_key.public_key(), granted=("okta.users.read",))
    client = oauth_client(fake, rsa_key, scopes=("okta.users.read", "okta.users.manage"))
    with pytest.raises(errors.InsufficientScopeError) as info:
        client.get_json("/api/v1/users/u")
    assert info.value.scope == "okta.users.manage"
    assert "grant okta.users.manage to the service app" in str(info.value)


def test_oauth_switches_to_dpop_and_does_the_nonce_dance(rsa_key: rsa.RSAPrivateKey) -> None:
    fake = FakeOrg(rsa_key.public_key(), dpop=True, granted=("okta.policies.read",))
    client = oauth_client(fake, rsa_key, scopes=("okta.policies.read",))
    assert client.get_json("/api/v1/policies?type=ACCESS_POLICY") == {"token": "at-1"}
    # plain -> invalid_dpop_proof, DPoP -> use_dpop_nonce, DPoP + nonce -> token
    assert len(fake.token_requests) == 3
    assert client.get_json("/api/v1/policies/p1") == {"token": "at-1"}


def test_oauth_dpop_from_the_start(rsa_key: rsa.RSAPrivateKey) -> None:
    fake = FakeOrg(rsa_key.public_key(), dpop=True, granted=("okta.policies.read",))
    client = oauth_client(fake, rsa_key, scopes=("okta.policies.read",), dpop=True)
    client.get_json("/api/v1/policies/p1")
    assert len(fake.token_requests) == 2  # use_dpop_nonce, then the token


def test_oauth_requires_scopes(rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(errors.ConfigError, match="scopes"):
        OAuthServiceAppAuth(ORG, CLIENT_ID, pem_of(rsa_key), scopes=())


# ---------------------------------------------------------------- Credentials.from_env


def test_from_env_api_token() -> None:
    creds = Credentials.from_env(
        {"OKTA_ORG_URL": "https://example.okta.com/", "OKTA_API_TOKEN": "00t"}
    )
    assert creds.org_url == ORG
    assert creds.kind == "api_token"
    assert isinstance(creds.auth(), SSWSAuth)
    assert creds.secret_values() == ["00t"]
    assert "00t" not in repr(creds)


def test_from_env_accepts_the_okta_sdk_names_and_a_pasted_scheme() -> None:
    creds = Credentials.from_env({"OKTA_CLIENT_ORGURL": ORG, "OKTA_CLIENT_TOKEN": "SSWS 00t"})
    assert creds.api_token == Secret("00t")


def test_from_env_oauth_with_pem_file(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    pem = pem_of(rsa_key)
    (tmp_path / "key.pem").write_text(pem)
    creds = Credentials.from_env(
        {
            "OKTA_ORG_URL": ORG,
            "OKTA_CLIENT_ID": CLIENT_ID,
            "OKTA_PRIVATE_KEY_FILE": str(tmp_path / "key.pem"),
            "OKTA_KEY_ID": "k9",
            "OKTA_DPOP": "1",
        }
    )
    assert (creds.kind, creds.key_id, creds.dpop) == ("oauth", "k9", True)
    auth = creds.auth(("okta.users.read",))
    assert isinstance(auth, OAuthServiceAppAuth)
    assert pem in creds.secret_values()
    assert "PRIVATE KEY" not in repr(creds) + repr(auth)


def test_from_env_oauth_with_jwk(rsa_key: rsa.RSAPrivateKey) -> None:
    jwk = json.dumps(jwk_of(rsa_key, kid="k1"))
    creds = Credentials.from_env(
        {"OKTA_ORG_URL": ORG, "OKTA_CLIENT_ID": CLIENT_ID, "OKTA_PRIVATE_KEY_JWK": jwk}
    )
    assert json.loads(jwk)["d"] in creds.secret_values()


@pytest.mark.parametrize(
    ("env", "names"),
    [
        pytest.param({}, "OKTA_ORG_URL", id="nothing"),
        pytest.param({"OKTA_ORG_URL": ORG}, "OKTA_API_TOKEN", id="no-credentials"),
        pytest.param(
            {"OKTA_ORG_URL": "http://example.okta.com", "OKTA_API_TOKEN": "t"},
            "OKTA_ORG_URL",
            id="http",
        ),
        pytest.param(
            {"OKTA_CLIENT_ORGURL": "example.okta.com", "OKTA_API_TOKEN": "t"},
            "OKTA_CLIENT_ORGURL",
            id="sdk-url",
        ),
        pytest.param(
            {
                "OKTA_ORG_URL": ORG,
                "OKTA_CLIENT_ORGURL": "https://other.okta.com",
                "OKTA_API_TOKEN": "t",
            },
            "OKTA_CLIENT_ORGURL",
            id="two-urls",
        ),
        pytest.param(
            {
                "OKTA_ORG_URL": ORG,
                "OKTA_API_TOKEN": "t",
                "OKTA_CLIENT_ID": "c",
                "OKTA_PRIVATE_KEY_JWK": "{}",
            },
            "OKTA_CLIENT_ID",
            id="both-kinds",
        ),
        pytest.param(
            {"OKTA_ORG_URL": ORG, "OKTA_CLIENT_ID": "c"}, "OKTA_PRIVATE_KEY_FILE", id="no-key"
        ),
        pytest.param(
            {"OKTA_ORG_URL": ORG, "OKTA_PRIVATE_KEY_JWK": "{}"},
            "OKTA_CLIENT_ID",
            id="key-no-client",
        ),
        pytest.param(
            {
                "OKTA_ORG_URL": ORG,
                "OKTA_CLIENT_ID": "c",
                "OKTA_PRIVATE_KEY_FILE": "/nonexistent/k.pem",
            },
            "OKTA_PRIVATE_KEY_FILE",
            id="missing-file",
        ),
        pytest.param(
            {
                "OKTA_ORG_URL": ORG,
                "OKTA_CLIENT_ID": "c",
                "OKTA_PRIVATE_KEY_FILE": "/x",
                "OKTA_PRIVATE_KEY_JWK": "{}",
            },
            "OKTA_PRIVATE_KEY_JWK",
            id="two-keys",
        ),
    ],
)
def test_from_env_config_errors_name_the_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(errors.ConfigError) as info:
        Credentials.from_env(env)
    assert names in str(info.value)


def test_from_env_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OKTA_ORG_URL", "http://127.0.0.1:9999")
    monkeypatch.setenv("OKTA_API_TOKEN", "sandbox-token")
    monkeypatch.delenv("OKTA_CLIENT_ID", raising=False)
    monkeypatch.delenv("OKTA_CLIENT_TOKEN", raising=False)
    monkeypatch.delenv("OKTA_CLIENT_ORGURL", raising=False)
    assert Credentials.from_env().org_url == "http://127.0.0.1:9999"


def test_oauth_revoked_token_is_replaced_once(rsa_key: rsa.RSAPrivateKey) -> None:
    fake = FakeOrg(rsa_key.public_key(), granted=("okta.users.read",))
    client = oauth_client(fake, rsa_key, scopes=("okta.users.read",))
    assert client.get_json("/api/v1/users/u") == {"token": "at-1"}
    fake.revoked.add("at-1")
    assert client.get_json("/api/v1/users/u") == {"token": "at-2"}
    assert len(fake.token_requests) == 2


def test_oauth_dpop_resource_nonce_is_used_when_asked(rsa_key: rsa.RSAPrivateKey) -> None:
    fake = FakeOrg(rsa_key.public_key(), dpop=True, granted=("okta.users.read",))
    fake.resource_nonce = "rn-1"
    client = oauth_client(fake, rsa_key, scopes=("okta.users.read",), dpop=True)
    assert client.get_json("/api/v1/users/u") == {"token": "at-1"}
    assert len(fake.api_requests) == 2  # refused without the nonce, accepted with it
    assert client.get_json("/api/v1/users/u") == {"token": "at-1"}
    assert len(fake.api_requests) == 3  # the nonce is remembered


def _linked(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception chained to it (what a debugger or error tracker can reach)."""
    out: list[BaseException] = []
    item: BaseException | None = exc
    while item is not None and all(item is not seen for seen in out):
        out.append(item)
        item = item.__cause__ or item.__context__
    return out


def test_unreadable_jwk_error_chains_nothing_that_holds_the_key() -> None:
    """``JSONDecodeError.doc`` is the whole JWK text it failed on: it must not be linked."""
    broken = '{"kty": "RSA", "d": "PRIVATE-MEMBER-0123456789", }'
    with pytest.raises(errors.ConfigError) as info:
        load_private_key(broken)
    assert [type(e) for e in _linked(info.value)] == [errors.ConfigError]
    assert "PRIVATE-MEMBER" not in str(info.value)
    assert "OKTA_PRIVATE_KEY_JWK" in str(info.value)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"access_token": "eyJ-PARTIAL-TOKEN-0123456789', id="truncated-json"),
        pytest.param(b'{"token_type": "Bearer"}', id="no-access-token"),
        pytest.param(b"<html>proxy login page</html>", id="not-json"),
    ],
)
def test_token_response_without_a_token_is_an_authentication_error(
    rsa_key: rsa.RSAPrivateKey, body: bytes
) -> None:
    """A 200 that is not a token response fails clearly and never echoes (or chains) the body."""
    auth = OAuthServiceAppAuth(ORG, "0oaX", pem_of(rsa_key), scopes=("okta.users.read",))
    transport = httpx.MockTransport(lambda r: httpx.Response(200, content=body))
    with (
        httpx.Client(transport=transport, auth=auth) as http,
        pytest.raises(errors.AuthenticationError) as info,
    ):
        http.get(ORG + "/api/v1/users/me")
    assert [type(e) for e in _linked(info.value)] == [errors.AuthenticationError]
    assert "PARTIAL-TOKEN" not in str(info.value)
    assert "without an access_token" in str(info.value)


def test_key_file_that_is_not_text_chains_nothing_that_holds_it(tmp_path: Path) -> None:
    """``UnicodeDecodeError.object`` is the whole file: the ConfigError must not link it."""
    path = tmp_path / "key.pem"
    path.write_bytes(PEM_BEGIN.encode() + b"\n\xffKEYBYTES0123456789\n")
    env = {"OKTA_ORG_URL": ORG, "OKTA_CLIENT_ID": "0oaX", "OKTA_PRIVATE_KEY_FILE": str(path)}
    with pytest.raises(errors.ConfigError) as info:
        Credentials.from_env(env)
    assert [type(e) for e in _linked(info.value)] == [errors.ConfigError]
    assert "OKTA_PRIVATE_KEY_FILE" in str(info.value)
