"""OktaClient over a strict mock (respx): retries, pagination, errors, org type.

Each test scripts the exact exchanges it expects; a request that matches no
scripted exchange fails the test, and so does one never made or made out of order.
Sleeping is injected: the tests never sleep and assert the exact waits.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from clock_support import FakeTime

from kmsi_lib import errors
from kmsi_lib.okta.auth import SSWSAuth
from kmsi_lib.okta.client import OktaClient, RetryPolicy

ORG = "https://example.okta.com"
TOKEN = "00fakeTokenForTests-0123456789"
DATE = "Sun, 17 May 2026 13:28:03 GMT"  # epoch 1779024483

Reply = httpx.Response | Exception


@dataclass
class Script:
    """Expected exchanges, in order, as (method, path-and-query) -> reply, served by a strict
    respx router: a request that matches no route fails, and so does a route never called."""

    router: respx.Router
    expected: list[tuple[str, str]]

    @classmethod
    def of(cls, steps: list[tuple[str, str, Reply]]) -> Script:
        router = respx.Router(base_url=ORG, assert_all_called=True, assert_all_mocked=True)
        replies: dict[tuple[str, str], list[Reply]] = {}
        for method, target, reply in steps:
            replies.setdefault((method, target), []).append(reply)
        for (method, target), answers in replies.items():
            router.route(method=method, url__eq=ORG + target).mock(side_effect=answers)
        return cls(router, [(method, target) for method, target, _ in steps])

    @property
    def seen(self) -> list[httpx.Request]:
        return [call.request for call in self.router.calls]

    def done(self) -> None:
        """Every scripted exchange was made, in order, with the path and query verbatim."""
        self.router.assert_all_called()
        made = [(r.method, r.url.raw_path.decode()) for r in self.seen]
        assert made == self.expected


def make(
    steps: list[tuple[str, str, Reply]],
    *,
    retry: RetryPolicy | None = None,
    rand: Callable[[], float] = lambda: 0.5,
) -> tuple[OktaClient, Script, FakeTime]:
    script = Script.of(steps)
    fake = FakeTime(1000.0)
    client = OktaClient(
        ORG,
        SSWSAuth(TOKEN),
        transport=httpx.MockTransport(script.router.handler),
        retry=retry,
        sleep=fake.sleep,
        clock=fake.clock,
        rand=rand,
    )
    return client, script, fake


def js(status: int, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    content = b"" if body is None else json.dumps(body).encode()
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    return httpx.Response(status, content=content, headers=hdrs)


def rate_limited(
    reset: int | list[int],
    *,
    request_id: str = "req-429",
    date: str | None = DATE,
    limit: str = "600",
) -> httpx.Response:
    headers: list[tuple[str, str]] = [
        ("X-Okta-Request-Id", request_id),
        ("X-Rate-Limit-Limit", limit),
        ("X-Rate-Limit-Remaining", "0"),
    ]
    if date:
        headers.append(("Date", date))
    for value in reset if isinstance(reset, list) else [reset]:
        headers.append(("X-Rate-Limit-Reset", str(value)))
    return httpx.Response(429, headers=headers, json={"errorCode": "E0000047"})


USERS = "/api/v1/users/00u1"


# ---------------------------------------------------------------- 429


def test_429_waits_reset_minus_date_plus_one_and_marks_the_retry() -> None:
    client, script, fake = make(
        [
            ("GET", USERS, rate_limited(1779024489, request_id="reqA")),
            ("GET", USERS, js(200, {"id": "00u1"})),
        ]
    )
    assert client.get_json(USERS) == {"id": "00u1"}
    script.done()
    assert fake.sleeps == [7.0]
    first, retry = script.seen
    assert "x-okta-retry-count" not in first.headers
    assert retry.headers["X-Okta-Retry-For"] == "reqA"
    assert retry.headers["X-Okta-Retry-Count"] == "1"
    assert retry.headers["Authorization"] == f"SSWS {TOKEN}"


def test_429_with_several_reset_headers_waits_for_the_earliest() -> None:
    client, script, fake = make(
        [
            ("GET", USERS, rate_limited([1779024500, 1779024490])),
            ("GET", USERS, js(200, {})),
        ]
    )
    client.get_json(USERS)
    script.done()
    assert fake.sleeps == [8.0]


def test_429_without_date_falls_back_to_backoff() -> None:
    client, script, fake = make(
        [
            ("GET", USERS, rate_limited(1779024489, date=None)),
            ("GET", USERS, js(200, {})),
        ],
        retry=RetryPolicy(backoff_base=2.0),
        rand=lambda: 0.0,
    )
    client.get_json(USERS)
    script.done()
    assert fake.sleeps == [1.0]  # half of the first ceiling (2.0), jitter 0


def test_concurrency_rejection_backs_off_instead_of_waiting_for_reset() -> None:
    client, script, fake = make(
        [
            ("GET", USERS, rate_limited(1779024483 + 50, limit="0")),
            ("GET", USERS, js(200, {})),
        ],
        rand=lambda: 1.0,
    )
    client.get_json(USERS)
    script.done()
    assert fake.sleeps == [0.5]


def test_post_429_is_retried_because_okta_did_not_process_it() -> None:
    client, script, fake = make(
        [
            ("POST", "/api/v1/policies", rate_limited(1779024484)),
            ("POST", "/api/v1/policies", js(200, {"id": "00p1"})),
        ]
    )
    assert client.request("POST", "/api/v1/policies", json={"name": "x"}).json() == {"id": "00p1"}
    script.done()
    assert fake.sleeps == [2.0]
    assert json.loads(script.seen[1].content) == {"name": "x"}


def test_429_storm_exhausts_attempts_and_raises_rate_limited() -> None:
    client, script, fake = make(
        [("GET", USERS, rate_limited(1779024484, request_id=f"r{i}")) for i in range(3)],
        retry=RetryPolicy(max_attempts=3),
    )
    with pytest.raises(errors.RateLimitedError) as info:
        client.get_json(USERS)
    script.done()
    assert fake.sleeps == [2.0, 2.0]
    assert info.value.request_id == "r2"
    assert "[X-Okta-Request-Id: r2]" in str(info.value)
    assert [r.headers.get("x-okta-retry-for") for r in script.seen] == [None, "r0", "r1"]


def test_a_wait_longer_than_the_time_budget_is_not_started() -> None:
    client, script, fake = make(
        [("GET", USERS, rate_limited(1779024483 + 100))],
        retry=RetryPolicy(max_total_seconds=60),
    )
    with pytest.raises(errors.RateLimitedError):
        client.get_json(USERS)
    script.done()
    assert fake.sleeps == []


# ---------------------------------------------------------------- 423 / 5xx


def test_423_priorities_locked_is_retried_with_backoff() -> None:
    locked = js(
        423, {"errorCode": "E0000239", "errorSummary": "Policy priorities are being reconciled."}
    )
    client, script, fake = make(
        [
            ("PUT", "/api/v1/policies/p1/rules/r1", locked),
            ("PUT", "/api/v1/policies/p1/rules/r1", js(200, {"id": "r1"})),
        ],
        rand=lambda: 0.0,
    )
    client.request("PUT", "/api/v1/policies/p1/rules/r1", json={"name": "r"})
    script.done()
    assert fake.sleeps == [0.25]


def test_503_then_success_on_get() -> None:
    client, script, fake = make(
        [
            ("GET", USERS, js(503, {"errorCode": "E0000009"})),
            ("GET", USERS, js(502, None)),
            ("GET", USERS, js(200, {"id": "00u1"})),
        ],
        rand=lambda: 0.0,
    )
    assert client.get_json(USERS) == {"id": "00u1"}
    script.done()
    assert fake.sleeps == [0.25, 0.5]


def test_post_503_is_not_retried_and_is_ambiguous() -> None:
    client, script, fake = make(
        [
            ("POST", "/api/v1/policies", js(503, None, {"X-Okta-Request-Id": "req503"})),
        ]
    )
    with pytest.raises(errors.ServerError) as info:
        client.request("POST", "/api/v1/policies", json={"name": "x"})
    script.done()
    assert info.value.ambiguous
    assert fake.sleeps == []
    assert "look the object up by name" in str(info.value)


def test_idempotent_post_lifecycle_may_be_retried() -> None:
    path = "/api/v1/policies/p1/lifecycle/activate"
    client, script, _ = make([("POST", path, js(500)), ("POST", path, httpx.Response(204))])
    client.request("POST", path, idempotent=True)
    script.done()


def test_max_attempts_bounds_5xx_retries() -> None:
    client, script, fake = make(
        [("DELETE", USERS, js(504)) for _ in range(4)], retry=RetryPolicy(max_attempts=4)
    )
    with pytest.raises(errors.ServerError) as info:
        client.request("DELETE", USERS)
    script.done()
    assert len(fake.sleeps) == 3
    assert not info.value.ambiguous


def test_total_time_budget_bounds_retries() -> None:
    client, script, fake = make(
        [("GET", USERS, js(503)) for _ in range(3)],
        retry=RetryPolicy(max_attempts=50, max_total_seconds=3.0, backoff_base=1.0),
        rand=lambda: 1.0,
    )
    with pytest.raises(errors.ServerError):
        client.get_json(USERS)
    script.done()
    assert fake.sleeps == [1.0, 2.0]  # the next (4 s) would overrun the 3 s budget


def test_client_errors_are_not_retried() -> None:
    body = {"errorCode": "E0000007", "errorSummary": "Not found: Resource not found: x (User)"}
    client, script, fake = make([("GET", USERS, js(404, body, {"X-Okta-Request-Id": "r404"}))])
    with pytest.raises(errors.NotFoundError) as info:
        client.get_json(USERS)
    script.done()
    assert fake.sleeps == []
    assert info.value.request_id == "r404"


# ---------------------------------------------------------------- transport failures


def test_dropped_connection_on_get_is_retried() -> None:
    client, script, _ = make(
        [
            (
                "GET",
                USERS,
                httpx.RemoteProtocolError("Server disconnected without sending a response."),
            ),
            ("GET", USERS, js(200, {"id": "00u1"})),
        ]
    )
    assert client.get_json(USERS) == {"id": "00u1"}
    script.done()


def test_dropped_connection_on_post_is_ambiguous_and_not_retried() -> None:
    client, script, _ = make(
        [
            ("POST", "/api/v1/policies", httpx.ReadError("connection reset")),
        ]
    )
    with pytest.raises(errors.TransportError) as info:
        client.request("POST", "/api/v1/policies", json={"name": "x"})
    script.done()
    assert info.value.ambiguous
    assert "look the object up by name" in str(info.value)


def test_every_ambiguous_transport_error_says_to_look_the_object_up() -> None:
    """A POST that failed in the transport is flagged ambiguous, and its message says so too."""
    client, script, _ = make([("POST", "/api/v1/policies", httpx.ProxyError("proxy hung up"))])
    with pytest.raises(errors.TransportError) as info:
        client.request("POST", "/api/v1/policies", json={"name": "x"})
    script.done()
    assert info.value.ambiguous
    assert str(info.value).endswith(errors.AMBIGUOUS_ADVICE)
    assert "look the object up by name" in str(info.value)


def test_connect_error_on_post_is_retried_because_nothing_was_sent() -> None:
    client, script, _ = make(
        [
            ("POST", "/api/v1/policies", httpx.ConnectError("connection refused")),
            ("POST", "/api/v1/policies", js(200, {"id": "p"})),
        ]
    )
    client.request("POST", "/api/v1/policies", json={"name": "x"})
    script.done()


def test_read_timeouts_exhaust_attempts_into_a_transport_error() -> None:
    client, script, fake = make(
        [("GET", USERS, httpx.ReadTimeout("timed out")) for _ in range(3)],
        retry=RetryPolicy(max_attempts=3),
    )
    with pytest.raises(errors.TransportError) as info:
        client.get_json(USERS)
    script.done()
    assert not info.value.ambiguous
    assert info.value.attempts == 3
    assert len(fake.sleeps) == 2
    assert "timed out" in str(info.value)
    failures = [e for e in client.journal.entries if e.status is None]
    assert [e.retry_count for e in failures] == [0, 1, 2]
    assert all("ReadTimeout" in (e.error or "") for e in failures)


# ---------------------------------------------------------------- pagination


def page(items: list[Any], *links: str) -> httpx.Response:
    return httpx.Response(200, json=items, headers=[("Link", link) for link in links])


def test_paginate_follows_next_links_verbatim_across_separate_headers() -> None:
    nxt = f"{ORG}/api/v1/users?limit=2&after=00u2%3D%3D&search=profile.x+eq+%22y%22"
    client, script, _ = make(
        [
            (
                "GET",
                "/api/v1/users?limit=2",
                page(
                    [{"id": 1}, {"id": 2}],
                    f'<{ORG}/api/v1/users?limit=2>; rel="self"',
                    f'<{nxt}>; rel="next"',
                ),
            ),
            ("GET", nxt.removeprefix(ORG), page([{"id": 3}], f'<{nxt}>; rel="self"')),
        ]
    )
    assert [u["id"] for u in client.paginate("/api/v1/users", {"limit": 2})] == [1, 2, 3]
    script.done()


def test_paginate_comma_joined_link_header() -> None:
    nxt = f"{ORG}/api/v1/groups?after=g2&limit=1"
    client, script, _ = make(
        [
            (
                "GET",
                "/api/v1/groups",
                page([{"id": "g1"}], f'<{ORG}/api/v1/groups>; rel="self", <{nxt}>; rel="next"'),
            ),
            ("GET", "/api/v1/groups?after=g2&limit=1", page([{"id": "g2"}])),
        ]
    )
    assert [g["id"] for g in client.paginate("/api/v1/groups")] == ["g1", "g2"]
    script.done()


def test_paginate_is_lazy_and_stops_early() -> None:
    client, script, _ = make(
        [
            (
                "GET",
                "/api/v1/apps",
                page([{"id": "a1"}, {"id": "a2"}], f'<{ORG}/api/v1/apps?after=a2>; rel="next"'),
            ),
        ]
    )
    items = client.paginate("/api/v1/apps")
    assert script.seen == []  # nothing sent before iteration
    assert next(items)["id"] == "a1"
    items.close()
    script.done()


def test_paginate_refuses_a_next_link_to_another_host() -> None:
    client, script, _ = make(
        [
            (
                "GET",
                "/api/v1/apps",
                page([{"id": "a1"}], '<https://attacker.example/steal>; rel="next"'),
            ),
        ]
    )
    with pytest.raises(errors.ConfigError, match="Refusing to send credentials"):
        list(client.paginate("/api/v1/apps"))
    script.done()


def test_paginate_stops_when_a_next_link_points_back_at_a_page_already_read() -> None:
    """A server bug that links a page to itself ends the listing with an error, not a hang."""
    again = f'<{ORG}/api/v1/apps?after=a1>; rel="next"'
    client, script, _ = make(
        [
            ("GET", "/api/v1/apps", page([{"id": "a1"}], again)),
            ("GET", "/api/v1/apps?after=a1", page([{"id": "a2"}], again)),
        ]
    )
    seen: list[str] = []
    with pytest.raises(errors.OktaApiError, match="repeats a page already read"):
        seen.extend(item["id"] for item in client.paginate("/api/v1/apps"))
    assert seen == ["a1", "a2"]
    script.done()


# ---------------------------------------------------------------- org type


@pytest.mark.parametrize(("pipeline", "ie"), [("idx", True), ("v1", False)])
def test_org_info_is_read_once_and_cached(pipeline: str, ie: bool) -> None:
    client, script, _ = make(
        [
            (
                "GET",
                "/.well-known/okta-organization",
                js(200, {"id": "00o1", "pipeline": pipeline}),
            ),
        ]
    )
    assert client.org_info().is_identity_engine is ie
    assert client.org_info().pipeline == pipeline
    script.done()
    if ie:
        client.require_identity_engine()
    else:
        with pytest.raises(errors.ClassicEngineError, match="Classic Engine"):
            client.require_identity_engine()


# ---------------------------------------------------------------- journal, headers


def test_journal_records_redacted_exchanges() -> None:
    client, script, _ = make(
        [
            (
                "PUT",
                "/api/v1/policies/p1",
                js(200, {"id": "p1", "name": "n"}, {"X-Okta-Request-Id": "rq1"}),
            ),
        ]
    )
    client.request("PUT", "/api/v1/policies/p1", json={"name": "n", "password": "hunter2"})
    script.done()
    (entry,) = client.journal.to_dicts()
    assert entry["method"] == "PUT"
    assert entry["path"] == "/api/v1/policies/p1"
    assert entry["status"] == 200
    assert entry["request_id"] == "rq1"
    assert entry["request_body"] == {"name": "n", "password": "[redacted]"}
    assert entry["response_body"] == {"id": "p1", "name": "n"}
    assert TOKEN not in json.dumps(entry)


def test_requests_carry_accept_and_user_agent() -> None:
    client, script, _ = make([("GET", USERS, js(200, {}))])
    client.get_json(USERS)
    (request,) = script.seen
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"].startswith("kmsi-runbooks/")


def test_client_repr_hides_the_token_and_context_manager_closes() -> None:
    with make([])[0] as client:
        assert TOKEN not in repr(client)
    assert client._http.is_closed


def test_org_url_is_validated() -> None:
    with pytest.raises(errors.ConfigError, match="plain HTTP"):
        OktaClient("http://example.okta.com", SSWSAuth(TOKEN))


def test_public_names_resolve_and_all_is_sorted() -> None:
    import kmsi_lib

    assert kmsi_lib.__all__ == sorted(kmsi_lib.__all__)
    for name in kmsi_lib.__all__:
        assert getattr(kmsi_lib, name) is not None
    assert kmsi_lib.OktaClient is OktaClient


def test_tls_verification_failure_is_not_retried_and_says_why() -> None:
    error = httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    client, script, fake = make([("GET", USERS, error)])
    with pytest.raises(errors.TransportError, match="TLS certificate"):
        client.get_json(USERS)
    script.done()
    assert fake.sleeps == []


def test_proxy_errors_are_transport_errors_not_retried() -> None:
    client, script, _ = make([("GET", USERS, httpx.ProxyError("407 from proxy"))])
    with pytest.raises(errors.TransportError, match="HTTPS_PROXY"):
        client.get_json(USERS)
    script.done()


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 that no trust store knows."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_a_certificate_no_trust_store_knows_is_refused_for_real(tmp_path: Path) -> None:
    """TLS verification is on by default and cannot be skipped: a real handshake fails."""
    import http.server
    import ssl
    import threading

    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        url = f"https://127.0.0.1:{server.server_address[1]}"
        with OktaClient(url, SSWSAuth("fake-token"), retry=RetryPolicy(max_attempts=3)) as client:
            with pytest.raises(errors.TransportError, match="TLS certificate") as info:
                client.get_json("/api/v1/users")
        assert info.value.attempts == 1, "a certificate failure is not retried"
        assert client.journal.entries[0].status is None
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
