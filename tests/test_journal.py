"""The request journal: redacted, JSON-serialisable, thread-safe, logged one line per request."""

from __future__ import annotations

import json
import logging
import threading

import httpx
import pytest

from kmsi_lib.okta.journal import Journal

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"


def client_with(journal: Journal, handler: httpx.MockTransport) -> httpx.Client:
    return httpx.Client(transport=handler, event_hooks=journal.event_hooks())


def test_entry_fields_and_redaction(caplog: pytest.LogCaptureFixture) -> None:
    journal = Journal(secrets=lambda: ["sekrit-value-123"])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={"id": "x", "note": "sekrit-value-123", "jwk": {"kty": "EC", "d": "priv"}},
            headers={"X-Okta-Request-Id": "rid-1", "X-Rate-Limit-Remaining": "9"},
        )

    caplog.set_level(logging.INFO, logger="kmsi_lib.http")
    with client_with(journal, httpx.MockTransport(handler)) as http:
        http.post(
            "https://o.okta.com/api/v1/x?client_secret=abc&limit=2",
            json={"token": "t0k3n", "name": "n", "text": f"Bearer {JWT}"},
            headers={"Authorization": "SSWS sekrit-value-123", "X-Okta-Retry-Count": "2"},
        )
    (entry,) = journal.to_dicts()
    dumped = json.dumps(entry)
    for secret in ("sekrit-value-123", "t0k3n", JWT, "priv", "abc"):
        assert secret not in dumped
    assert entry["method"] == "POST"
    assert entry["path"] == "/api/v1/x?client_secret=%5Bredacted%5D&limit=2"
    assert entry["status"] == 200
    assert entry["request_id"] == "rid-1"
    assert entry["retry_count"] == 2
    assert entry["request_body"]["name"] == "n"
    assert entry["response_body"]["id"] == "x"
    assert entry["rate_limit"] == {"x-rate-limit-remaining": "9"}
    assert entry["duration_ms"] >= 0
    assert entry["started_at"].endswith("+00:00")
    (record,) = [r for r in caplog.records if r.name == "kmsi_lib.http"]
    assert record.getMessage().startswith(
        "POST /api/v1/x?client_secret=%5Bredacted%5D&limit=2 -> 200"
    )
    assert "request-id=rid-1 retry=2" in record.getMessage()


def test_non_json_bodies_are_summarised() -> None:
    journal = Journal()
    handler = httpx.MockTransport(
        lambda r: httpx.Response(200, text="<html>hi</html>", headers={"Content-Type": "text/html"})
    )
    with client_with(journal, handler) as http:
        http.get("https://o.okta.com/x")
    assert journal.entries[0].response_body == "<15 bytes of text/html>"


def test_failures_are_recorded_without_a_status() -> None:
    journal = Journal()
    request = httpx.Request("GET", "https://o.okta.com/api/v1/users")
    journal.record_failure(request, httpx.ConnectError("refused"))
    (entry,) = journal.entries
    assert entry.status is None
    assert entry.error == "ConnectError: refused"
    assert "error: ConnectError" in entry.line()


def test_thread_safe_appends() -> None:
    journal = Journal()
    handler = httpx.MockTransport(lambda r: httpx.Response(204))
    with client_with(journal, handler) as http:
        threads = [
            threading.Thread(target=lambda: [http.get("https://o.okta.com/a") for _ in range(25)])
            for _ in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(journal) == 200
    json.dumps(journal.to_dicts())
    journal.clear()
    assert journal.entries == []
