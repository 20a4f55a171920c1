"""Sandbox operations: admin endpoints, rate limits, faults, loopback faults, the CLI."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import pytest

from kmsi_lib.sandbox import SANDBOX_URL, Sandbox


@pytest.fixture
def sb() -> Sandbox:
    return Sandbox(seed="default", token="ops-token")


@pytest.fixture
def admin_http(sb: Sandbox) -> httpx.Client:
    """The admin endpoints over the in-process transport, with no credentials at all."""
    return httpx.Client(base_url=SANDBOX_URL, transport=sb.transport())


OKTA_SIGN_ON = {"type": "OKTA_SIGN_ON"}


# ---- admin endpoints ---------------------------------------------------------------------------


def test_state_snapshot_and_load_round_trip(client: httpx.Client, admin_http: httpx.Client) -> None:
    snapshot = admin_http.get("/_sandbox/state").json()
    created = client.post("/api/v1/policies", json={"type": "OKTA_SIGN_ON", "name": "X"}).json()
    assert client.get(f"/api/v1/policies/{created['id']}").status_code == 200
    assert admin_http.post("/_sandbox/load", json=snapshot).status_code == 204
    assert client.get(f"/api/v1/policies/{created['id']}").status_code == 404
    assert admin_http.get("/_sandbox/state").json() == snapshot


def test_reset_to_another_seed(client: httpx.Client, admin_http: httpx.Client) -> None:
    assert client.get("/.well-known/okta-organization").json()["pipeline"] == "idx"
    assert admin_http.post("/_sandbox/reset", json={"seed": "classic"}).status_code == 200
    assert client.get("/.well-known/okta-organization").json()["pipeline"] == "v1"
    r = admin_http.post("/_sandbox/reset", json={"seed": "nope"})
    assert r.status_code == 400 and r.json()["errorCode"] == "E0000001"


def test_request_log_lists_api_calls_only(client: httpx.Client, admin_http: httpx.Client) -> None:
    client.get("/api/v1/policies", params=OKTA_SIGN_ON)
    client.get("/api/v1/policies/00pnope")
    admin_http.get("/_sandbox/state")
    log = admin_http.get("/_sandbox/requests").json()
    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("GET", "/api/v1/policies", 200),
        ("GET", "/api/v1/policies/00pnope", 404),
    ]
    assert log[0]["query"] == "type=OKTA_SIGN_ON" and log[0]["auth"] == "SSWS"
    assert admin_http.delete("/_sandbox/requests").status_code == 204
    assert admin_http.get("/_sandbox/requests").json() == []


def test_faults_list_add_and_clear_over_http(admin_http: httpx.Client) -> None:
    """POST adds a fault and answers the list, GET lists, DELETE clears (204)."""
    assert admin_http.get("/_sandbox/faults").json() == []
    added = admin_http.post("/_sandbox/faults", json={"status": 503, "count": 2})
    assert added.status_code == 200
    assert [(f["status"], f["count"]) for f in added.json()] == [(503, 2)]
    assert admin_http.get("/_sandbox/faults").json() == added.json()
    assert admin_http.delete("/_sandbox/faults").status_code == 204
    assert admin_http.get("/_sandbox/faults").json() == []


def test_admin_methods_without_a_handler_are_405(admin_http: httpx.Client) -> None:
    """An admin path answers only the methods its route table lists; others are Okta's 405."""
    for method, path in (
        ("DELETE", "/_sandbox/state"),
        ("PUT", "/_sandbox/faults"),
        ("GET", "/_sandbox/clients"),
    ):
        r = admin_http.request(method, path)
        assert (r.status_code, r.json()["errorCode"]) == (405, "E0000022"), (method, path)


def test_request_log_has_float_epoch_timestamps(sb: Sandbox, client: httpx.Client) -> None:
    """Each entry's ``ts`` is high-resolution epoch seconds, so windows can be counted."""
    before = time.time()
    for _ in range(3):
        client.get("/api/v1/policies", params=OKTA_SIGN_ON)
    time.sleep(0.05)
    client.get("/api/v1/apps")
    after = time.time()
    log = sb.admin.requests()
    stamps = [e["ts"] for e in log]
    assert all(isinstance(t, float) for t in stamps)
    assert before <= stamps[0] <= stamps[1] <= stamps[2] < stamps[3] <= after
    assert stamps[3] - stamps[2] >= 0.05  # finer than the millisecond-less "time" string
    # the same instant as "time" (which keeps whole seconds only)
    assert all(
        e["time"].startswith(time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(e["ts"]))) for e in log
    )
    # a consumer can count requests per window straight from the log
    window = [e for e in log if e["ts"] >= stamps[3] - 0.01]
    assert [e["path"] for e in window] == ["/api/v1/apps"]
    # over HTTP too (JSON numbers)
    with sb.serve() as url:
        assert isinstance(httpx.get(f"{url}/_sandbox/requests").json()[0]["ts"], float)


def test_org_settings_pre_auth_toggle_has_no_public_api(
    admin_http: httpx.Client, client: httpx.Client
) -> None:
    settings = admin_http.get("/_sandbox/org-settings").json()
    assert settings["preAuthKmsi"] is False and settings["pipeline"] == "idx"
    r = admin_http.put("/_sandbox/org-settings", json={"preAuthKmsi": True})
    assert r.json()["preAuthKmsi"] is True
    assert admin_http.put("/_sandbox/org-settings", json={"pipeline": "v2"}).status_code == 400
    assert admin_http.put("/_sandbox/org-settings", json={"bogus": 1}).status_code == 400
    # nothing under /api/v1 exposes it
    assert "preAuthKmsi" not in client.get("/.well-known/okta-organization").text


def test_register_client_and_add_objects_over_http(sb: Sandbox, admin_http: httpx.Client) -> None:
    r = admin_http.post(
        "/_sandbox/clients",
        json={
            "client_id": "0oaservice",
            "jwk": {"kty": "RSA", "n": "x", "e": "AQAB"},
            "scopes": ["okta.policies.read"],
        },
    )
    assert r.status_code == 201
    assert sb.state.clients["0oaservice"] == {
        "jwks": [{"kty": "RSA", "n": "x", "e": "AQAB"}],
        "scopes": ["okta.policies.read"],
        "dpop": False,
    }
    app = admin_http.post("/_sandbox/apps", json={"label": "Test App"}).json()
    user = admin_http.post("/_sandbox/users", json={"login": "t.user@acme.example.com"}).json()
    group = admin_http.post("/_sandbox/groups", json={"name": "Testers"}).json()
    assert app["id"].startswith("0oa") and user["id"].startswith("00u")
    assert group["id"].startswith("00g")
    assert (
        admin_http.post("/_sandbox/users", json={"login": user["profile"]["login"]}).status_code
        == 400
    )


# ---- rate limits -------------------------------------------------------------------------------


def test_exhausted_bucket_is_429_e0000047(sb: Sandbox, client: httpx.Client) -> None:
    sb.admin.set_rate_limit("/api/v1/policies", 3, 60)
    statuses = [client.get("/api/v1/policies", params=OKTA_SIGN_ON) for _ in range(4)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    last = statuses[-1]
    assert last.json()["errorCode"] == "E0000047"
    assert last.headers["X-Rate-Limit-Limit"] == "3"
    assert last.headers["X-Rate-Limit-Remaining"] == "0"
    assert int(last.headers["X-Rate-Limit-Reset"]) >= int(time.time())
    # other buckets are unaffected
    assert client.get("/api/v1/apps").status_code == 200


def test_bucket_window_resets(sb: Sandbox, client: httpx.Client) -> None:
    sb.admin.set_rate_limit("/api/v1/users", 1, 0.2)
    assert client.get("/api/v1/users", params={"limit": 1}).status_code == 200
    assert client.get("/api/v1/users", params={"limit": 1}).status_code == 429
    time.sleep(0.25)
    assert client.get("/api/v1/users", params={"limit": 1}).status_code == 200


def test_rate_limits_over_admin_http(admin_http: httpx.Client, client: httpx.Client) -> None:
    r = admin_http.put(
        "/_sandbox/rate-limits",
        json={"/api/v1/apps": {"limit": 5, "window_s": 30}, "concurrency": 10},
    )
    assert r.json()["buckets"]["/api/v1/apps"]["limit"] == 5
    assert r.json()["concurrency"] == 10
    assert client.get("/api/v1/apps").headers["X-Rate-Limit-Limit"] == "5"


def test_concurrency_limit_gives_429_with_zero_limit(sb: Sandbox) -> None:
    sb.admin.set_concurrency_limit(1)
    sb.admin.add_fault({"latency_ms": 1000, "match": {"path": "/api/v1/apps"}, "count": 1})
    results: list[httpx.Response] = []

    def slow() -> None:
        with sb.client() as c:
            results.append(c.get("/api/v1/apps"))

    thread = threading.Thread(target=slow)
    thread.start()
    deadline = time.monotonic() + 5
    while sb.app.gate.in_flight == 0 and time.monotonic() < deadline:
        time.sleep(0.005)  # wait until the slow request holds the only slot
    with sb.client() as c:
        blocked = c.get("/api/v1/brands")
    thread.join()
    assert results[0].status_code == 200
    assert blocked.status_code == 429
    assert blocked.headers["X-Rate-Limit-Limit"] == "0"
    assert blocked.headers["X-Rate-Limit-Remaining"] == "0"
    assert blocked.json()["errorCode"] == "E0000047"


def _parallel_gets(url: str, token: str, n: int) -> list[httpx.Response]:
    """``n`` simultaneous GETs over loopback, one connection each, released together."""
    barrier = threading.Barrier(n)
    results: list[httpx.Response] = []
    lock = threading.Lock()

    def one() -> None:
        with httpx.Client(
            base_url=url, headers={"Authorization": f"SSWS {token}"}, timeout=10
        ) as c:
            barrier.wait()
            r = c.get("/api/v1/policies", params=OKTA_SIGN_ON)
        with lock:
            results.append(r)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_slow_requests_hold_concurrency_slots_over_loopback(sb: Sandbox) -> None:
    """Injected latency is served inside the concurrency gate, as a slow Okta request is:
    with 2 slots and 300 ms per request, 6 parallel requests cannot all get in."""
    sb.admin.set_concurrency_limit(2)
    sb.admin.add_fault({"latency_ms": 300, "match": {"path": "/api/v1/policies*"}})
    with sb.serve() as url:
        results = _parallel_gets(url, sb.token, 6)
    statuses = sorted(r.status_code for r in results)
    assert set(statuses) <= {200, 429}, statuses
    rejected = [r for r in results if r.status_code == 429]
    assert rejected and statuses.count(200) >= 2, statuses
    for r in rejected:
        assert r.headers["X-Rate-Limit-Limit"] == "0"
        assert r.headers["X-Rate-Limit-Remaining"] == "0"
        assert r.json()["errorCode"] == "E0000047"
    log = sb.admin.requests()
    assert sum(e["fault"] == "concurrency" for e in log) == len(rejected)
    # the admitted requests really took the injected latency
    assert all(e["ms"] >= 290 for e in log if e["status"] == 200)


def test_okta_client_gets_through_a_concurrency_limit_by_retrying(sb: Sandbox) -> None:
    """kmsi_lib's OktaClient, a consumer here, allowed more parallel requests than the org's
    concurrency limit: it takes Limit 0 / Remaining 0 as a concurrency rejection, backs off and
    retries until every call succeeds."""
    from kmsi_lib.okta.auth import SSWSAuth
    from kmsi_lib.okta.client import OktaClient, RetryPolicy

    sb.admin.set_concurrency_limit(2)
    sb.admin.add_fault({"latency_ms": 300, "match": {"path": "/api/v1/policies*"}})
    n = 6
    barrier = threading.Barrier(n)
    names: list[list[str]] = []
    errors: list[BaseException] = []
    with sb.serve() as url:
        okta = OktaClient(
            url,
            SSWSAuth(sb.token),
            max_concurrency=n,
            timeout=10,
            retry=RetryPolicy(
                max_attempts=20, max_total_seconds=60, backoff_base=0.05, backoff_cap=0.4
            ),
        )

        def one() -> None:
            try:
                barrier.wait()
                policies = okta.get_json("/api/v1/policies", params=OKTA_SIGN_ON)
                names.append([p["name"] for p in policies])
            except BaseException as exc:  # reported below, with the others
                errors.append(exc)

        with okta:
            threads = [threading.Thread(target=one) for _ in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    assert errors == []
    assert len(names) == n and all("Default Policy" in got for got in names)
    log = sb.admin.requests()
    assert sum(e["status"] == 200 for e in log) == n
    assert any(e["fault"] == "concurrency" for e in log)  # the limit was really hit


# ---- faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status,code", [(500, "E0000009"), (503, "E0000181"), (423, "E0000239"), (429, "E0000047")]
)
def test_status_fault_for_next_n_matching_requests(
    sb: Sandbox, client: httpx.Client, status: int, code: str
) -> None:
    sb.admin.add_fault(
        {"match": {"method": "GET", "path": "/api/v1/policies*"}, "status": status, "count": 2}
    )
    assert client.get("/api/v1/apps").status_code == 200  # does not match
    assert client.post("/api/v1/policies", json={}).status_code == 400  # method differs
    for _ in range(2):
        r = client.get("/api/v1/policies", params=OKTA_SIGN_ON)
        assert r.status_code == status
        assert r.json()["errorCode"] == code
        assert r.headers["X-Okta-Request-Id"]
        assert r.headers["X-Rate-Limit-Reset"]
    assert client.get("/api/v1/policies", params=OKTA_SIGN_ON).status_code == 200
    assert sb.admin.faults() == []


def test_429_fault_has_short_reset_for_fast_retries(sb: Sandbox, client: httpx.Client) -> None:
    sb.admin.add_fault({"status": 429, "count": 1, "retry_after_s": 2})
    r = client.get("/api/v1/apps")
    assert r.headers["X-Rate-Limit-Remaining"] == "0"
    assert 0 < int(r.headers["X-Rate-Limit-Reset"]) - int(time.time()) <= 3


@pytest.mark.parametrize("status", [502, 504])
def test_gateway_faults_answer_html(sb: Sandbox, client: httpx.Client, status: int) -> None:
    sb.admin.add_fault({"status": status, "count": 1})
    r = client.get("/api/v1/apps")
    assert r.status_code == status
    assert r.headers["Content-Type"].startswith("text/html")


def _timed(client: httpx.Client) -> float:
    started = time.monotonic()
    assert client.get("/api/v1/apps").status_code == 200
    return time.monotonic() - started


def test_latency_with_jitter(sb: Sandbox, client: httpx.Client) -> None:
    baseline = min(_timed(client) for _ in range(3))
    sb.admin.add_fault({"latency_ms": 200, "jitter_ms": 20})
    slowed = [_timed(client) for _ in range(3)]
    assert all(0.18 <= t < baseline + 2.0 for t in slowed)
    sb.admin.clear_faults()
    assert min(_timed(client) for _ in range(3)) < 0.18


def test_drop_after_applies_the_write(sb: Sandbox, client: httpx.Client) -> None:
    """A connection lost after the write took effect: the client cannot know it succeeded."""
    sb.admin.add_fault(
        {
            "action": "drop",
            "when": "after",
            "count": 1,
            "match": {"method": "POST", "path": "/api/v1/policies"},
        }
    )
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/api/v1/policies", json={"type": "OKTA_SIGN_ON", "name": "Lost reply"})
    names = [p["name"] for p in client.get("/api/v1/policies", params=OKTA_SIGN_ON).json()]
    assert "Lost reply" in names


@pytest.mark.parametrize(
    "fault", [{"status": 200}, {"action": "explode"}, {"count": 0, "status": 500}, {}]
)
def test_bad_fault_specs_are_400(admin_http: httpx.Client, fault: dict[str, Any]) -> None:
    assert admin_http.post("/_sandbox/faults", json=fault).status_code == 400


def test_faults_over_loopback_drop_and_timeout(sb: Sandbox) -> None:
    """Over real HTTP, a drop closes the socket and a timeout really keeps the client waiting."""
    with sb.serve(port=0) as url:
        with httpx.Client(base_url=url, headers={"Authorization": "SSWS ops-token"}) as c:
            httpx.post(f"{url}/_sandbox/faults", json={"action": "drop", "count": 1})
            with pytest.raises(httpx.RemoteProtocolError):
                c.get("/api/v1/apps")
            httpx.post(
                f"{url}/_sandbox/faults", json={"action": "timeout", "seconds": 0.6, "count": 1}
            )
            started = time.monotonic()
            with pytest.raises(httpx.ReadTimeout):
                c.get("/api/v1/apps", timeout=0.3)
            assert time.monotonic() - started >= 0.3
            assert c.get("/api/v1/apps").status_code == 200


# ---- the command line --------------------------------------------------------------------------


def _start(state: pathlib.Path) -> tuple[subprocess.Popen[str], str, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "kmsi_lib.cli", "sandbox", "--port", "0", "--state", str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    first = proc.stdout.readline().strip()
    second = proc.stdout.readline().strip()
    assert first.startswith("export OKTA_ORG_URL=http://127.0.0.1:"), first
    assert second.startswith("export OKTA_API_TOKEN="), second
    return proc, first.split("=", 1)[1], second.split("=", 1)[1]


def _stop(proc: subprocess.Popen[str], signum: int = signal.SIGINT) -> None:
    """Stop ``kmsi sandbox`` with ``signum``: it exits 0; killed and closed whatever happens."""
    proc.send_signal(signum)
    try:
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_cli_serves_http_and_persists_state_across_restarts(tmp_path: pathlib.Path) -> None:
    state = tmp_path / "org.state.json"
    proc, url, token = _start(state)
    try:
        headers = {"Authorization": f"SSWS {token}"}
        r = httpx.post(
            f"{url}/api/v1/policies",
            headers=headers,
            json={"type": "ACCESS_POLICY", "name": "Survives restarts"},
        )
        assert r.status_code == 200
        policy_id = r.json()["id"]
        assert (
            httpx.get(f"{url}/api/v1/apps", headers={"Authorization": "SSWS wrong"}).status_code
            == 401
        )
    finally:
        _stop(proc)
    assert json.loads(state.read_text())["policies"][policy_id]["name"] == "Survives restarts"
    proc, url, token = _start(state)
    try:
        r = httpx.get(
            f"{url}/api/v1/policies/{policy_id}", headers={"Authorization": f"SSWS {token}"}
        )
        assert r.status_code == 200 and r.json()["name"] == "Survives restarts"
    finally:
        _stop(proc)


def test_cli_sigterm_stops_cleanly(tmp_path: pathlib.Path) -> None:
    proc, url, _ = _start(tmp_path / "s.json")
    try:
        assert httpx.get(f"{url}/.well-known/okta-organization").status_code == 200
    finally:
        _stop(proc, signal.SIGTERM)


def _temp_files(folder: pathlib.Path) -> list[str]:
    return sorted(p.name for p in folder.glob(".sandbox-state-*.json"))


def test_cli_sigkill_mid_save_leaves_no_temp_file(tmp_path: pathlib.Path) -> None:
    """SIGKILL while a save's temp file exists: it is gone soon after, and FILE is whole."""
    state = tmp_path / "org.json"
    proc, url, token = _start(state)
    stop = threading.Event()

    def writes() -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"SSWS {token}"}) as c:
            n = 0
            while not stop.is_set():
                try:
                    c.post("/api/v1/policies", json={"type": "ACCESS_POLICY", "name": f"p{n}"})
                except httpx.HTTPError:
                    return  # the server is gone
                n += 1

    writer = threading.Thread(target=writes, daemon=True)
    writer.start()
    try:
        deadline = time.monotonic() + 20
        while not _temp_files(tmp_path):  # wait until a save is under way, then kill
            assert time.monotonic() < deadline, "no save was seen in progress"
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        writer.join(timeout=10)
    deadline = time.monotonic() + 5
    while _temp_files(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _temp_files(tmp_path) == []
    assert json.loads(state.read_text())["version"] == 1
    proc, url, token = _start(state)  # and the org loads from it
    try:
        r = httpx.get(
            f"{url}/api/v1/policies",
            params={"type": "ACCESS_POLICY"},
            headers={"Authorization": f"SSWS {token}"},
        )
        assert r.status_code == 200
    finally:
        _stop(proc)


def test_cli_start_removes_temp_files_of_dead_sandboxes_only(tmp_path: pathlib.Path) -> None:
    """Temp files of a dead pid (and old pid-less ones) go at start; a live pid's stay."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    assert dead.wait() == 0
    stale = tmp_path / f".sandbox-state-{dead.pid}-0badc0de.json"
    old = tmp_path / ".sandbox-state-abcd_123.json"  # a mkstemp name of earlier versions
    live = tmp_path / f".sandbox-state-{os.getpid()}-00c0ffee.json"
    for path in (stale, old, live):
        path.write_text("{")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    proc, _, _ = _start(tmp_path / "org.json")
    _stop(proc)
    assert _temp_files(tmp_path) == [live.name]


def test_a_sandbox_bug_is_a_500_e0000009_not_a_crash(
    sb: Sandbox,
    client: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from kmsi_lib.sandbox import _directory

    def broken(*args: Any) -> Any:
        raise RuntimeError("boom")

    # a helper the well-known handler calls (the route table holds the handler itself)
    monkeypatch.setattr(_directory, "link", broken)
    r = client.get("/.well-known/okta-organization")
    assert r.status_code == 500
    assert r.json()["errorCode"] == "E0000009"
    assert r.headers["X-Okta-Request-Id"]
    assert "RuntimeError: boom" in capsys.readouterr().err
