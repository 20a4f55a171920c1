"""No secret ever reaches a journal entry, an exception message, a repr or a log line.

Secrets checked: the SSWS token, the private key (PEM text and its base64
body, JWK ``d``/``p``/``q``...), every client assertion and access token
issued. Requests succeed and fail (401, 403 scope, 400, 500 on POST, dropped
connection, token endpoint refusal), and the fake server even echoes the
credentials back in its error bodies to prove the scrubbing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from key_forms import jwk_of, pem_of

from kmsi_lib import errors
from kmsi_lib.okta.auth import Credentials, OAuthServiceAppAuth, SSWSAuth
from kmsi_lib.okta.client import OktaClient, RetryPolicy

ORG = "https://example.okta.com"
SSWS_TOKEN = "00Fake-SSWS-token_for-leak-tests-0123456789"


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class EchoingOrg:
    """A server that answers per path and puts the caller's credentials in its errors."""

    def __init__(self) -> None:
        self.assertions: list[str] = []
        self.tokens: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        auth = request.headers.get("Authorization", "")
        if path == "/oauth2/v1/token":
            form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
            self.assertions.append(form["client_assertion"])
            if "okta.denied" in form["scope"]:
                return httpx.Response(
                    401,
                    json={
                        "error": "invalid_client",
                        "error_description": f"bad assertion {form['client_assertion']}",
                    },
                )
            token = f"eyJ0eXAiOiJhdCJ9.access-{len(self.tokens)}.sig"
            self.tokens.append(token)
            return httpx.Response(
                200,
                json={"token_type": "Bearer", "expires_in": 3600, "access_token": token},
            )
        echo = f"you sent {auth}"
        if path == "/api/v1/ok":
            return httpx.Response(200, json={"ok": True, "access_token": auth.split()[-1]})
        if path == "/api/v1/unauthorized":
            return httpx.Response(
                401, json={"errorCode": "E0000011", "errorSummary": echo, "errorCauses": []}
            )
        if path == "/api/v1/scope":
            return httpx.Response(
                403,
                headers={
                    "WWW-Authenticate": f'Bearer error="insufficient_scope", scope="okta.x", '
                    f'error_description="{echo}"'
                },
            )
        if path == "/api/v1/invalid":
            return httpx.Response(
                400,
                json={
                    "errorCode": "E0000001",
                    "errorSummary": "Api validation failed: name",
                    "errorCauses": [{"errorSummary": f"name: {echo}"}],
                },
            )
        if path == "/api/v1/server":
            return httpx.Response(500, json={"errorCode": "E0000009", "errorSummary": echo})
        if path == "/api/v1/drop":
            raise httpx.RemoteProtocolError(f"peer closed; {echo}")
        raise AssertionError(f"unexpected {path}")


CALLS: list[tuple[str, str, type[Exception] | None]] = [
    ("GET", "/api/v1/ok", None),
    ("POST", "/api/v1/ok", None),
    ("GET", "/api/v1/unauthorized", errors.AuthenticationError),
    ("GET", "/api/v1/scope", errors.InsufficientScopeError),
    ("PUT", "/api/v1/invalid", errors.ValidationError),
    ("POST", "/api/v1/server", errors.ServerError),
    ("POST", "/api/v1/drop", errors.TransportError),
]


def exercise(client: OktaClient) -> list[str]:
    """Run every call; return the text of everything a user could see."""
    seen: list[str] = [repr(client), repr(client.auth), str(client.auth)]
    for method, path, expected in CALLS:
        body = {"name": "x", "client_secret": "also-secret"}
        if expected is None:
            client.request(method, path, json=body)
            continue
        with pytest.raises(expected) as info:
            client.request(method, path, json=body)
        seen += [str(info.value), repr(info.value), repr(info.value.args)]
        seen += [str(getattr(info.value, "fields", ""))]
    seen.append(json.dumps(client.journal.to_dicts()))
    seen += [entry.line() for entry in client.journal.entries]
    return seen


def assert_clean(texts: list[str], secrets: list[str]) -> None:
    assert secrets, "the test must know the secrets it looks for"
    for secret in secrets:
        assert len(secret) >= 8
        for text in texts:
            assert secret not in text


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    yield caplog


def test_ssws_token_never_leaks(logs: pytest.LogCaptureFixture) -> None:
    creds = Credentials.from_env({"OKTA_ORG_URL": ORG, "OKTA_API_TOKEN": SSWS_TOKEN})
    client = OktaClient(
        ORG,
        creds.auth(),
        credentials=creds,
        transport=httpx.MockTransport(EchoingOrg()),
        retry=RetryPolicy(max_attempts=1),
    )
    texts = exercise(client) + [r.getMessage() for r in logs.records] + [repr(creds)]
    assert_clean(texts, [SSWS_TOKEN])
    assert SSWS_TOKEN in creds.secret_values()
    assert len(client.journal) == len(CALLS)


@pytest.mark.parametrize("form", ["pem", "jwk"])
def test_oauth_key_assertions_and_tokens_never_leak(
    form: str, key: rsa.RSAPrivateKey, logs: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    env = {"OKTA_ORG_URL": ORG, "OKTA_CLIENT_ID": "0oaLeakTest"}
    if form == "pem":
        key_text = pem_of(key)
        (tmp_path / "key.pem").write_text(key_text)
        env["OKTA_PRIVATE_KEY_FILE"] = str(tmp_path / "key.pem")
    else:
        jwk = jwk_of(key)
        key_text = json.dumps(jwk)
        env["OKTA_PRIVATE_KEY_JWK"] = key_text
    creds = Credentials.from_env(env)
    server = EchoingOrg()
    client = OktaClient(
        ORG,
        creds.auth(("okta.users.read",)),
        credentials=creds,
        transport=httpx.MockTransport(server),
        retry=RetryPolicy(max_attempts=1),
    )
    texts = exercise(client)
    # A token endpoint refusal (which echoes the assertion) must not leak either.
    refused = OktaClient(
        ORG,
        OAuthServiceAppAuth(ORG, "0oaLeakTest", key_text, scopes=("okta.denied",)),
        transport=httpx.MockTransport(server),
    )
    with pytest.raises(errors.AuthenticationError) as info:
        refused.get_json("/api/v1/ok")
    texts += [str(info.value), repr(info.value), json.dumps(refused.journal.to_dicts())]
    texts += [r.getMessage() for r in logs.records] + [repr(creds)]

    secrets = [*creds.secret_values(), *server.assertions, *server.tokens]
    if form == "jwk":
        secrets += [jwk[k] for k in ("d", "p", "q", "dp", "dq", "qi")]
    else:
        secrets += [line for line in key_text.splitlines() if len(line) >= 40]
    assert server.tokens and server.assertions
    assert_clean(texts, secrets)
    token_entry = client.journal.to_dicts()[0]
    assert token_entry["path"] == "/oauth2/v1/token"
    assert token_entry["request_body"]["client_assertion"] == "[redacted]"
    assert token_entry["response_body"]["access_token"] == "[redacted]"


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and every exception linked to it (cause and context)."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or any(item is s for s in seen):
            continue
        seen.append(item)
        todo += [item.__cause__, item.__context__]
    return seen


@pytest.mark.parametrize(
    ("method", "failure"),
    [
        pytest.param("POST", httpx.ReadTimeout, id="post-timeout-ambiguous"),
        pytest.param("POST", httpx.RemoteProtocolError, id="post-dropped-ambiguous"),
        pytest.param("GET", httpx.ReadTimeout, id="get-timeouts-exhausted"),
        pytest.param("GET", httpx.ConnectError, id="connect-exhausted"),
        pytest.param("GET", httpx.ProxyError, id="proxy-refused"),
    ],
)
def test_transport_errors_do_not_chain_the_request_with_its_authorization(
    method: str, failure: type[httpx.TransportError]
) -> None:
    """An httpx error carries the request (Authorization header included): ours must not link it."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise failure(f"failed; you sent {request.headers['Authorization']}", request=request)

    client = OktaClient(
        ORG,
        Credentials.from_env({"OKTA_ORG_URL": ORG, "OKTA_API_TOKEN": SSWS_TOKEN}).auth(),
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(max_attempts=2),
        sleep=lambda _: None,
    )
    with pytest.raises(errors.TransportError) as info:
        client.request(method, "/api/v1/policies", json={})
    chain = _chain(info.value)
    assert [type(e) for e in chain] == [errors.TransportError]
    assert SSWS_TOKEN not in str(info.value)


def test_httpx_and_httpcore_debug_logs_over_loopback_hold_no_secret(
    logs: pytest.LogCaptureFixture,
) -> None:
    """Real sockets (httpcore logs its traffic at DEBUG): neither SSWS nor OAuth secrets show."""
    from kmsi_lib.sandbox import Sandbox

    sb = Sandbox(seed="default", token="sandbox-token-DEBUG-LOG-0123456789")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public, private = jwk_of(key, "k1", public=True), jwk_of(key, "k1")
    sb.admin.register_client("0oaDebugLog", public, ["okta.policies.read"], dpop=True)
    with sb.serve(port=0) as url:
        with OktaClient(url, SSWSAuth(sb.token), retry=RetryPolicy(max_attempts=1)) as plain:
            plain.get_json("/api/v1/policies", {"type": "ACCESS_POLICY"})
            with pytest.raises(errors.NotFoundError):
                plain.get_json("/api/v1/policies/00pNoSuchPolicy")
        env = {
            "OKTA_ORG_URL": url,
            "OKTA_CLIENT_ID": "0oaDebugLog",
            "OKTA_PRIVATE_KEY_JWK": json.dumps(private),
        }
        with OktaClient.from_env(scopes=("okta.policies.read",), env=env) as oauth:
            oauth.get_json("/api/v1/policies", {"type": "ACCESS_POLICY"})
            secrets = [sb.token, *oauth.secret_values()]
    names = {r.name.split(".")[0] for r in logs.records}
    assert {"httpx", "httpcore"} <= names, "the DEBUG logs of both libraries were captured"
    issued = [s for s in secrets if s.count(".") == 2]
    assert len(issued) >= 2, "at least one assertion and the access token are checked"
    text = "\n".join(f"{r.getMessage()} {r.args!r}" for r in logs.records)
    for secret in secrets:
        assert secret not in text
