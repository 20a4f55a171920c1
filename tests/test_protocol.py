"""The pure protocol functions, with literal inputs and recorded samples."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from fake_secrets import fake_pem, fake_token

from kmsi_lib import errors
from kmsi_lib.okta import protocol as p

SAMPLES = Path(__file__).parent / "samples"


def sample(case: str) -> tuple[int, list[tuple[str, str]], bytes]:
    meta_path = next((SAMPLES / case).glob("*.json"))
    meta = json.loads(meta_path.read_text())
    body = meta_path.with_suffix(".body").read_bytes()
    return meta["status"], [tuple(h) for h in meta["headers"]], body  # type: ignore[misc]


# ---------------------------------------------------------------- org URL


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param("https://example.okta.com", "https://example.okta.com", id="plain"),
        pytest.param("https://example.okta.com/", "https://example.okta.com", id="trailing-slash"),
        pytest.param("  https://Example.OKTA.com  ", "https://example.okta.com", id="case-space"),
        pytest.param("http://127.0.0.1:8123", "http://127.0.0.1:8123", id="loopback-v4"),
        pytest.param("http://[::1]:8123/", "http://[::1]:8123", id="loopback-v6"),
        pytest.param("http://localhost:9000", "http://localhost:9000", id="localhost"),
        pytest.param("http://sandbox.okta.test", "http://sandbox.okta.test", id="in-process"),
        pytest.param("https://id.example.com:8443", "https://id.example.com:8443", id="port"),
    ],
)
def test_validate_org_url_accepts(given: str, expected: str) -> None:
    assert p.validate_org_url(given) == expected


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        pytest.param("", "is empty", id="empty"),
        pytest.param("example.okta.com", "is not a URL", id="no-scheme"),
        pytest.param("http://example.okta.com", "plain HTTP", id="http-remote"),
        pytest.param("http://10.0.0.5", "plain HTTP", id="http-private-ip"),
        pytest.param("http://localhost.attacker.example", "plain HTTP", id="http-localhost-prefix"),
        pytest.param("http://127.0.0.1.nip.io", "plain HTTP", id="http-loopback-lookalike"),
        pytest.param("https://example.okta.com/api/v1", "has a path", id="path"),
        pytest.param("https://example-admin.okta.com/admin/dashboard", "has a path", id="admin"),
        pytest.param("https://example.okta.com?x=1", "has a path or query", id="query"),
        pytest.param("ftp://example.okta.com", "is not a URL", id="ftp"),
        pytest.param("https://u:pw@example.okta.com", "user name or password", id="userinfo"),
        pytest.param("https://acme-admin.okta.com", "https://acme.okta.com", id="admin-host"),
    ],
)
def test_validate_org_url_rejects_with_variable_name(given: str, fragment: str) -> None:
    with pytest.raises(errors.ConfigError) as info:
        p.validate_org_url(given)
    assert "OKTA_ORG_URL" in str(info.value)
    assert fragment in str(info.value)


def test_validate_org_url_names_the_variable_it_was_given() -> None:
    with pytest.raises(errors.ConfigError, match="OKTA_CLIENT_ORGURL"):
        p.validate_org_url("http://example.okta.com", variable="OKTA_CLIENT_ORGURL")


def test_same_origin_compares_scheme_host_and_default_port() -> None:
    assert p.same_origin(
        "https://EXAMPLE.okta.com:443/api/v1/x?after=1", "https://example.okta.com"
    )
    assert not p.same_origin("https://evil.example/api/v1/x", "https://example.okta.com")
    assert not p.same_origin("http://example.okta.com/api", "https://example.okta.com")


# ---------------------------------------------------------------- Link


def test_links_from_separate_headers() -> None:
    headers = [
        ("link", '<https://o.okta.com/api/v1/logs?limit=20>; rel="self"'),
        ("link", '<https://o.okta.com/api/v1/logs?limit=20&after=1627500044869_1>; rel="next"'),
    ]
    assert p.parse_links(headers) == {
        "self": "https://o.okta.com/api/v1/logs?limit=20",
        "next": "https://o.okta.com/api/v1/logs?limit=20&after=1627500044869_1",
    }


def test_links_comma_joined_with_commas_inside_urls() -> None:
    """httpx and proxies join repeated headers with ", "; URLs may contain commas too."""
    value = (
        '<https://o.okta.com/api/v1/brands?expand=themes,domains&limit=20>; rel="self", '
        "<https://o.okta.com/api/v1/brands?expand=themes,domains&after=bnd2&limit=20>; rel=next"
    )
    links = p.parse_links({"Link": value})
    assert (
        links["next"]
        == "https://o.okta.com/api/v1/brands?expand=themes,domains&after=bnd2&limit=20"
    )
    assert links["self"].endswith("limit=20")


def test_links_through_httpx_headers_and_end_of_list() -> None:
    headers = httpx.Headers([("Link", '<https://o/x?limit=2>; rel="self"')])
    assert p.next_link(headers) is None
    assert p.next_link(httpx.Headers()) is None


def test_link_with_several_rels_and_other_params() -> None:
    value = '<https://o/x?after=9>; title="n"; rel="next last"'
    assert p.parse_links([("Link", value)]) == {
        "next": "https://o/x?after=9",
        "last": "https://o/x?after=9",
    }


# ---------------------------------------------------------------- WWW-Authenticate


def test_www_authenticate_insufficient_scope() -> None:
    _, headers, _ = sample("insufficient_scope")
    challenge = p.parse_www_authenticate(p.header_value(headers, "WWW-Authenticate"))
    assert challenge is not None
    assert challenge.type == "bearer"  # the scheme, case-insensitive (RFC 9110)
    assert challenge.error == "insufficient_scope"
    assert challenge.scope == "okta.policies.read"
    assert challenge.error_description == (
        "The access token provided does not contain the required scopes."
    )
    assert challenge.parameters["resource"] == "/api/v1/policies"


def test_www_authenticate_dpop_scheme_with_algs_and_escapes() -> None:
    value = 'DPoP algs="RS256 ES256", error="use_dpop_nonce", error_description="say \\"hi\\""'
    challenge = p.parse_www_authenticate(value)
    assert challenge is not None
    assert challenge.type == "dpop"
    assert challenge.parameters["algs"] == "RS256 ES256"
    assert challenge.error == "use_dpop_nonce"
    assert challenge.error_description == 'say "hi"'


@pytest.mark.parametrize("value", [None, "", "   "])
def test_www_authenticate_absent(value: str | None) -> None:
    assert p.parse_www_authenticate(value) is None


# ---------------------------------------------------------------- error decoding


def test_decode_not_found_sample() -> None:
    status, headers, body = sample("user_not_found")
    exc = p.decode_error(status, headers, body, method="GET", path="/api/v1/users/x")
    assert type(exc) is errors.NotFoundError
    assert exc.error_code == "E0000007"
    assert exc.request_id == "aB3dEfGhIjKlMnOp"
    assert "Resource not found: 00uvtzh2lxuzsNmBI1d7 (User)" in str(exc)
    assert "X-Okta-Request-Id: aB3dEfGhIjKlMnOp" in str(exc)
    assert str(exc).startswith("GET /api/v1/users/x: HTTP 404 E0000007")


def test_decode_validation_fields_from_causes() -> None:
    status, headers, body = sample("validation_failed")
    exc = p.decode_error(status, headers, body)
    assert isinstance(exc, errors.ValidationError)
    assert exc.fields == {"conditions": "Invalid condition type specified: riskScore."}
    assert exc.causes == ("conditions: Invalid condition type specified: riskScore.",)


def test_validation_fields_nested_paths_location_and_repeats() -> None:
    causes = [
        {"errorSummary": "actions.signon.factorLifetime: must be an integer"},
        {"errorSummary": "actions.signon.factorLifetime: must be positive"},
        {"errorSummary": "An invalid resource type was supplied.", "location": "resourceType"},
        {"errorSummary": "Something without a field"},
    ]
    assert p.validation_fields(causes) == {
        "actions.signon.factorLifetime": "must be an integer; must be positive",
        "resourceType": "An invalid resource type was supplied.",
    }


def test_decode_insufficient_scope_from_empty_body() -> None:
    status, headers, body = sample("insufficient_scope")
    exc = p.decode_error(status, headers, body, method="GET", path="/api/v1/policies")
    assert isinstance(exc, errors.InsufficientScopeError)
    assert exc.scope == "okta.policies.read"
    assert "grant okta.policies.read to the service app" in str(exc)
    assert "reqScope1" in str(exc)


@pytest.mark.parametrize(
    ("case", "kind"),
    [
        pytest.param("invalid_token", errors.AuthenticationError, id="401"),
        pytest.param("priorities_locked", errors.LockedError, id="423"),
        pytest.param("rate_limited", errors.RateLimitedError, id="429"),
        pytest.param("server_error", errors.ServerError, id="500"),
    ],
)
def test_decode_maps_status_to_exception(case: str, kind: type[errors.OktaApiError]) -> None:
    status, headers, body = sample(case)
    exc = p.decode_error(status, headers, body)
    assert type(exc) is kind
    assert exc.status == status


def test_authentication_error_says_what_to_check() -> None:
    status, headers, body = sample("invalid_token")
    assert "OKTA_API_TOKEN" in str(p.decode_error(status, headers, body))


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        pytest.param(403, b'{"errorCode":"E0000006"}', errors.PermissionDeniedError, id="403"),
        pytest.param(401, b'{"errorCode":"E0000015"}', errors.PermissionDeniedError, id="401"),
        pytest.param(409, b'{"errorCode":"E0000200"}', errors.ConflictError, id="409"),
        pytest.param(405, b"not json", errors.OktaApiError, id="405-garbage"),
        pytest.param(502, b"<html>bad gateway</html>", errors.ServerError, id="502-html"),
    ],
)
def test_decode_other_statuses(status: int, body: bytes, kind: type[errors.OktaApiError]) -> None:
    exc = p.decode_error(status, [], body)
    assert type(exc) is kind


def test_ambiguous_error_tells_to_reconcile() -> None:
    exc = p.decode_error(503, [], b"", method="POST", path="/api/v1/policies", ambiguous=True)
    assert exc.ambiguous
    assert "look the object up by name" in str(exc)


# ---------------------------------------------------------------- retry delays


def test_retry_delay_uses_minimum_reset_relative_to_date() -> None:
    _, headers, _ = sample("rate_limited")
    # Date = Sun, 17 May 2026 13:28:03 GMT = 1779024483; min reset 1779024489.
    assert p.retry_delay_429(headers) == 1779024489 - 1779024483 + 1


def test_retry_delay_comma_joined_resets() -> None:
    headers = {
        "Date": "Sun, 17 May 2026 13:28:03 GMT",
        "X-Rate-Limit-Reset": "1779024500, 1779024493",
    }
    assert p.retry_delay_429(headers) == 11


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"X-Rate-Limit-Reset": "1779024489"}, id="no-date"),
        pytest.param({"Date": "Sun, 17 May 2026 13:28:03 GMT"}, id="no-reset"),
        pytest.param({"Date": "garbage", "X-Rate-Limit-Reset": "1779024489"}, id="bad-date"),
    ],
)
def test_retry_delay_requires_both_headers(headers: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        p.retry_delay_429(headers)


def test_retry_delay_never_below_one_second() -> None:
    headers = {"Date": "Sun, 17 May 2026 13:28:03 GMT", "X-Rate-Limit-Reset": "1779024400"}
    assert p.retry_delay_429(headers) == 1.0


def test_concurrency_rejection() -> None:
    assert p.is_concurrency_rejection({"X-Rate-Limit-Limit": "0", "X-Rate-Limit-Remaining": "0"})
    assert not p.is_concurrency_rejection(
        {"X-Rate-Limit-Limit": "600", "X-Rate-Limit-Remaining": "0"}
    )
    assert not p.is_concurrency_rejection({})


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [
        pytest.param(1, 0.0, 0.25, id="first-low"),
        pytest.param(1, 0.999, 0.49975, id="first-high"),
        pytest.param(3, 0.5, 1.5, id="third-mid"),
        pytest.param(10, 1.0, 8.0, id="capped"),
    ],
)
def test_backoff_is_capped_exponential_with_jitter(
    attempt: int, rand: float, expected: float
) -> None:
    got = p.backoff_delay(attempt, base=0.5, cap=8.0, rand=lambda: rand)
    assert got == pytest.approx(expected)


def test_locked_retryable_only_for_e0000239() -> None:
    _, _, body = sample("priorities_locked")
    assert p.is_locked_retryable(423, body)
    assert not p.is_locked_retryable(423, b'{"errorCode":"E0000123"}')
    assert not p.is_locked_retryable(409, body)


# ---------------------------------------------------------------- redaction

PEM = fake_pem("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC")
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJl"


def test_redact_text_removes_pem_auth_values_jwts_and_known_secrets() -> None:
    token = fake_token(length=16)
    text = f"key {PEM} auth SSWS {token} and Bearer tok.en and {JWT} and hunter2"
    out = p.redact_text(text, ["hunter2"])
    for secret in ("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", token, "tok.en", JWT):
        assert secret not in out
    assert "hunter2" not in out
    assert "SSWS [redacted]" in out


def test_redact_json_keys_and_jwk_private_members() -> None:
    body = {
        "access_token": "at-123",
        "nested": [{"password": {"value": "pw"}, "name": "keep"}],
        "jwk": {"kty": "RSA", "n": "public-n", "e": "AQAB", "d": "private-d", "p": "pp", "qi": "q"},
        "description": f"pem inside {PEM}",
        "priority": 1,
    }
    out = p.redact_json(body)
    assert out["access_token"] == p.REDACTED
    assert out["nested"][0] == {"password": p.REDACTED, "name": "keep"}
    r = p.REDACTED
    assert out["jwk"] == {"kty": "RSA", "n": "public-n", "e": "AQAB", "d": r, "p": r, "qi": r}
    assert "MIIEv" not in out["description"]
    assert out["priority"] == 1
    assert body["access_token"] == "at-123", "the input is not modified"


def test_redact_json_keeps_ordinary_single_letter_keys_outside_jwks() -> None:
    assert p.redact_json({"d": 1, "p": "x"}) == {"d": 1, "p": "x"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            '{"kty": "RSA", "n": "public-n", "d": "private-d", "qi": "private-qi"}',
            ["private-d", "private-qi"],
            id="rsa-jwk",
        ),
        pytest.param(
            '{"keys": [{"kty": "EC", "d": "ec-d"}, {"kty": "oct", "k": "shared-k"}]}',
            ["ec-d", "shared-k"],
            id="jwk-set",
        ),
        pytest.param('{"kty": "RSA", "n": "public-n", "e": "AQAB"}', [], id="public-jwk"),
        pytest.param('{"kty": "RSA", "d": "", "p": 7}', [], id="empty-or-not-text"),
        pytest.param("not json at all", [], id="not-json"),
    ],
)
def test_jwk_private_values_are_the_private_members(text: str, expected: list[str]) -> None:
    """The auth module and the evidence scan take a key's private members from this one helper."""
    assert p.jwk_private_values(text) == expected


def test_redact_headers_and_form_and_url() -> None:
    headers = httpx.Headers({"Authorization": "SSWS abc", "DPoP": JWT, "Accept": "text/plain"})
    assert p.redact_headers(headers) == {
        "authorization": p.REDACTED,
        "dpop": p.REDACTED,
        "accept": "text/plain",
    }
    form = "grant_type=client_credentials&scope=okta.users.read&client_assertion=" + JWT
    assert p.redact_form(form) == {
        "grant_type": "client_credentials",
        "scope": "okta.users.read",
        "client_assertion": p.REDACTED,
    }
    assert p.redact_url("https://o/oauth2/v1/token?client_secret=s3&x=1") == (
        "/oauth2/v1/token?client_secret=%5Bredacted%5D&x=1"
    )
    assert p.redact_url("https://o/api/v1/groups?search=profile.name%20eq%20%22A%22") == (
        "/api/v1/groups?search=profile.name%20eq%20%22A%22"
    )


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("https://o/api/v1/users?search=abc%2Fdef%2Bghi%3Djkl0123", id="query-quote"),
        pytest.param("https://o/api/v1/users?q=abc%2Fdef%2Bghi%3Djkl0123", id="query-plus"),
        pytest.param("https://o/api/v1/users/abc%2Fdef%2Bghi%3Djkl0123", id="path-segment"),
        pytest.param("https://o/api/v1/users?q=abc/def%2Bghi%3Djkl0123", id="slash-kept"),
        pytest.param("https://o/api/v1/users?q=abc/def+ghi=jkl0123", id="raw"),
    ],
)
def test_redact_url_finds_known_secrets_percent_encoded(url: str) -> None:
    """A URL carries a value percent-encoded, so the known secret is looked for that way too."""
    secret = "abc/def+ghi=jkl0123"
    out = p.redact_url(url, [secret])
    assert "jkl0123" not in out
    assert out.startswith("/api/v1/users")


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(httpx.Headers([("Link", "a"), ("link", "b"), ("X", "c")]), id="httpx"),
        pytest.param([("Link", "a"), ("link", "b"), ("X", "c")], id="pairs"),
    ],
)
def test_header_values_keep_repeated_headers_apart(headers: p.HeadersLike) -> None:
    assert p.header_values(headers, "LINK") == ["a", "b"]
    assert p.header_value(headers, "x") == "c"
    assert p.header_value({"Date": "d"}, "date") == "d"


def test_header_ints_split_joined_values_and_skip_garbage() -> None:
    assert p.header_ints(["100, 50", "x", " -1 ", ""]) == [100, 50, -1]


@pytest.mark.parametrize(
    ("pipeline", "engine"),
    [
        ("idx", "Identity Engine"),
        ("v1", "Classic Engine"),
        ("", "unknown"),
        (None, "unknown"),
        ("v2", "unknown"),
    ],
)
def test_engine_name_is_the_one_the_runbook_and_the_record_use(
    pipeline: str | None, engine: str
) -> None:
    assert p.engine_name(pipeline) == engine
