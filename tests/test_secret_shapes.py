"""One vocabulary of secrets: what the params loader refuses, the journal redacts and the
evidence scan finds.

The property tests build credential-shaped values at run time (no committed
line holds one) and mix them with ordinary text, switches, numbers, lists and
nested mappings.
"""

from __future__ import annotations

import base64
import json
import string
from typing import Any

import httpx
import pytest
from fake_secrets import PEM_BEGIN, PEM_END
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmsi_lib import evidence, secret_shapes
from kmsi_lib.errors import ParameterError
from kmsi_lib.okta.journal import Journal
from kmsi_lib.runbooks.params import check_no_secrets

_ALNUM = string.ascii_letters + string.digits
_B64URL = _ALNUM + "-_"


def _b64url(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def _mixed_run(size: int) -> st.SearchStrategy[str]:
    """Random letters and digits, all three kinds present, few repeats: a token's body."""
    return (
        st.lists(st.sampled_from(_ALNUM), min_size=size, max_size=size, unique=True)
        .map("".join)
        .filter(lambda s: not s.isalpha() and not s.isdigit() and s.lower() != s != s.upper())
    )


_random_run = _mixed_run(40)
_okta_token = st.text(_B64URL, min_size=40, max_size=40).map(lambda s: "00" + s)
_jwt = st.builds(
    lambda alg, sub, sig: f"{_b64url({'alg': alg})}.{_b64url({'sub': sub})}.{sig}",
    st.sampled_from(["RS256", "ES256", "HS256"]),
    st.text(_ALNUM, min_size=1, max_size=12),
    st.text(_B64URL, max_size=40),
)
_auth = st.builds(
    lambda scheme, sep, cred: f"{scheme}{sep}{cred}",
    st.sampled_from(["SSWS", "Bearer", "DPoP", "Basic", "bearer"]),
    st.sampled_from([" ", "  ", "\t", "+", "%20"]),
    st.one_of(
        _okta_token, _jwt, _mixed_run(12), st.text(_ALNUM + "+/", min_size=8).map(lambda s: s + "1")
    ),
)
_pem = st.builds(
    lambda body, kind: (
        f"{PEM_BEGIN.replace('PRIVATE', kind + 'PRIVATE')}\n{body}\n"
        f"{PEM_END.replace('PRIVATE', kind + 'PRIVATE')}"
    ),
    st.text(_ALNUM + "+/", min_size=4, max_size=80),
    st.sampled_from(["", "RSA ", "EC "]),
)
_jwk_text = st.builds(
    lambda d: json.dumps({"kty": "RSA", "n": "AQAB", "d": d}),
    st.text(_B64URL, min_size=1, max_size=40),
)
#: Values that have a credential's shape.
credential = st.one_of(_random_run, _okta_token, _jwt, _auth, _pem, _jwk_text)
#: A credential inside other text, as a log line or a notebook output holds it.
embedded = st.builds(
    lambda before, value, after: f"{before}{value}{after}",
    st.sampled_from(["", "got ", "token=", "Authorization: ", "key:\n", "(", "'"]),
    credential,
    st.sampled_from(["", " after", "\n", ")", "'", ";"]),
)
ordinary = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "P30D",
            "PT12H",
            "Payroll",
            "0oa1b2c3d4e5f6g7h8i9",
            "true",
            "Bearer tokens",
            "https://example.okta.com/app/payroll/exk1a2b3c4d5e6f7g8h9/sso",
        ]
    ),
)
text_value = st.one_of(credential, embedded, ordinary)

_secret_names = st.sampled_from(
    [
        "token",
        "api_token",
        "apiToken",
        "OKTA_API_TOKEN",
        "api_key",
        "apiKey",
        "x-api-key",
        "client_secret",
        "clientSecret",
        "password",
        "passwd",
        "pwd",
        "passcode",
        "private_key",
        "privateKey",
        "client_assertion",
        "assertion",
        "credentials",
        "refresh_token",
        "answer",
        "recovery_question",
        "bearer",
    ]
)
_plain_names = st.sampled_from(
    [
        "note",
        "name",
        "labels",
        "prompt_frequency",
        "passwordLabel",
        "token_endpoint_auth_method",
        "oauth_tokens",
        "kty",
        "d",
        "n",
        "id",
        "href",
    ]
)
key = st.one_of(_secret_names, _plain_names, st.text(_ALNUM + "_", min_size=1, max_size=12))

_jwk = st.fixed_dictionaries(
    {"kty": st.sampled_from(["RSA", "EC", "oct"]), "n": st.just("AQAB")},
    optional={
        m: st.text(_B64URL, min_size=1, max_size=40) for m in secret_shapes.JWK_PRIVATE_MEMBERS
    },
)
leaf = st.one_of(text_value, st.booleans(), st.integers(), st.none())
data = st.recursive(
    leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(key, children, max_size=4),
        _jwk,
    ),
    max_leaves=12,
)
documents = st.dictionaries(key, data, min_size=1, max_size=4)

_settings = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def _refused(value: Any) -> bool:
    try:
        check_no_secrets(value)
    except ParameterError:
        return True
    return False


def _journal_entry(body: Any) -> Any:
    """What the request journal stores for a JSON request with ``body``."""
    request = httpx.Request("POST", "https://example.okta.com/api/v1/x", json=body)
    return Journal().entry_for(request).request_body


@_settings
@given(documents)
def test_the_journal_keeps_nothing_the_params_loader_would_refuse(document: Any) -> None:
    """Whatever the params loader refuses as a secret (by name, shape or JWK), the journal
    redacts: its stored body would pass the params check."""
    stored = _journal_entry(document)
    assert not _refused(stored), json.dumps(stored)
    if _refused(document):
        assert stored != document


@_settings
@given(text_value)
def test_the_evidence_scan_finds_every_value_the_params_loader_refuses(value: str) -> None:
    """A value the params loader refuses by its shape is found by the evidence scan in a
    JSON file (result.json) holding it."""
    if _refused({"note": value}):
        blob = json.dumps({"note": value}).encode()
        assert evidence.scan_for_shapes(blob), value


@_settings
@given(_jwk)
def test_private_jwks_are_refused_redacted_and_found_alike(jwk: dict[str, str]) -> None:
    private = any(m in jwk for m in secret_shapes.JWK_PRIVATE_MEMBERS)
    assert _refused({"key": jwk}) == private
    assert not _refused(_journal_entry({"key": jwk}))
    assert bool(evidence.scan_for_shapes(json.dumps({"key": jwk}).encode())) == private


@_settings
@given(credential)
def test_credentials_are_refused_and_found(value: str) -> None:
    """Every generated credential shape is one the three parts know."""
    assert _refused({"note": value})
    assert secret_shapes.find_secret_shapes(json.dumps({"note": value}))
    redacted = secret_shapes.redact_mapping({"note": value})
    assert not _refused(redacted) and redacted != {"note": value}


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        pytest.param("api_key", True, id="api_key"),
        pytest.param("apiKey", True, id="camel-api-key"),
        pytest.param("OKTA_API_TOKEN", True, id="env-name"),
        pytest.param("clientSecret", True, id="camel-secret"),
        pytest.param("recovery_question", True, id="recovery-question"),
        pytest.param("passwordLabel", False, id="widget-label"),
        pytest.param("token_endpoint_auth_method", False, id="okta-setting"),
        pytest.param("jwk", False, id="public-jwk-name"),
    ],
)
def test_key_names(name: str, secret: bool) -> None:
    assert secret_shapes.is_secret_key(name) is secret


def test_basic_credentials_and_api_keys_are_redacted_as_params_refuse_them() -> None:
    """The disagreement this module ends: params refused these, the journal kept them."""
    basic = "Basic " + base64.b64encode(b"admin:hunter2-hunter2").decode()
    body = {"api_key": "k-123", "header": basic}
    assert _refused({"api_key": "k-123"}) and _refused({"header": basic})
    stored = _journal_entry(body)
    assert stored["api_key"] == secret_shapes.REDACTED
    assert "aHVudGVy" not in json.dumps(stored)
    assert evidence.scan_for_shapes(json.dumps({"header": basic}).encode()) == ["authorization"]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        pytest.param(
            "https://u:p@example.okta.com/?token=abc#frag",
            "https://[redacted]@example.okta.com/?token=[redacted]#[redacted]",
            id="userinfo-query-fragment",
        ),
        pytest.param(
            "https://example.okta.com/api/v1/aZ9Qx7Lm2Vb8Nc4Tr6Yp1Hs3Dg5Fj0Kw9Ez",
            "https://example.okta.com/api/v1/[redacted]",
            id="secret-path-segment",
        ),
        pytest.param(
            "https://example-admin.okta.com:8443",
            "https://example-admin.okta.com:8443",
            id="plain-url",
        ),
        pytest.param("00abc", "[redacted: 5 characters]", id="not-a-url"),
        pytest.param("~/keys/app.pem", "~/keys/app.pem", id="file-path"),
    ],
)
def test_redact_config(value: str, shown: str) -> None:
    assert secret_shapes.redact_config(value) == shown
