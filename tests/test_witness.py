"""The sandbox witness: the library asks ``/_sandbox/`` only through it, never with credentials."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from procedure_support import ATTESTATION, WireRecorder, apply_acknowledged

from kmsi_lib.engine import witness
from kmsi_lib.errors import ConfigError
from kmsi_lib.okta.auth import SSWSAuth
from kmsi_lib.okta.client import OktaClient
from kmsi_lib.procedures import pre_auth, reset_sessions
from kmsi_lib.sandbox import Sandbox

PRE_AUTH = {
    "groups": ["KMSI Pilot"],
    "apps": {"labels": ["Salesforce.com"]},
    "factor_lifetime_minutes": 120,
}
RESET = {"group": "KMSI Pilot", "forget_devices": False, "oauth_tokens": True}


@contextmanager
def _served() -> Iterator[tuple[Sandbox, str, OktaClient, WireRecorder]]:
    """A sandbox on loopback and an operator's client whose every request is recorded."""
    sandbox = Sandbox(seed="default")
    with sandbox.serve(port=0) as url:
        wire = WireRecorder(httpx.HTTPTransport())
        try:
            with OktaClient(url, SSWSAuth(sandbox.token), transport=wire) as client:
                yield sandbox, url, client, wire
        finally:
            wire.inner.close()


def test_a_loopback_org_without_a_witness_gets_no_request_under_sandbox() -> None:
    """No witness installed: nothing is asked of /_sandbox/, and the verifications say why."""
    with _served() as (sandbox, _url, client, wire):
        sandbox.admin.set_org_settings({"preAuthKmsi": True})
        result = apply_acknowledged(
            pre_auth, client, pre_auth.plan(client, PRE_AUTH), attestation=ATTESTATION
        )
        assert result.verification.ok, result.verification.to_text()
        assert pre_auth.verify(client, PRE_AUTH).notes == [pre_auth.ORG_SETTING_NOTE]
        again = pre_auth.plan(client, PRE_AUTH)
        assert again.manual_steps == [pre_auth.ORG_SETTING_STEP], "the setting cannot be shown"
        reset_sessions.apply(client, reset_sessions.plan(client, RESET))
        check = reset_sessions.verify(client, RESET)
        assert check.ok and check.checks == []
        assert check.notes == [reset_sessions.NO_SESSION_API_NOTE]
        assert wire.sent
        assert [s.path for s in wire.sent if s.path.startswith("/_sandbox")] == []


def test_an_installed_witness_asks_the_admin_endpoints_without_credentials() -> None:
    """With the witness installed the checks are made, by requests carrying no Authorization."""
    with _served() as (sandbox, url, client, wire):
        admin_wire = WireRecorder(httpx.HTTPTransport())
        sandbox.admin.set_org_settings({"preAuthKmsi": True})
        with witness.installed(witness.HttpSandboxWitness(url, transport=admin_wire)):
            result = apply_acknowledged(
                pre_auth, client, pre_auth.plan(client, PRE_AUTH), attestation=ATTESTATION
            )
            names = [c.name for c in result.verification.checks if c.ok]
            assert pre_auth.ORG_SETTING_CHECK in names
            assert pre_auth.plan(client, PRE_AUTH).manual_steps == []
            reset_sessions.apply(client, reset_sessions.plan(client, RESET))
            check = reset_sessions.verify(client, RESET)
            assert check.ok and check.checks and check.notes == []
        admin_wire.inner.close()
        assert {s.path for s in admin_wire.sent} == {
            "/_sandbox/org-settings",
            "/_sandbox/session-revocations",
        }
        assert {s.scheme for s in admin_wire.sent} == {""}, "no credentials to an admin endpoint"
        assert not any(s.path.startswith("/_sandbox") for s in wire.sent)


def test_the_environment_variable_names_the_witness_for_kernels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``KMSI_SANDBOX_ADMIN_URL`` (set by the demo and the lab) gives a credential-less witness."""
    assert witness.current() is None
    monkeypatch.setenv(witness.ADMIN_URL_ENV, "http://127.0.0.1:8123")
    found = witness.current()
    assert isinstance(found, witness.HttpSandboxWitness)
    assert found.admin_url == "http://127.0.0.1:8123"
    monkeypatch.setenv(witness.ADMIN_URL_ENV, "https://acme.okta.com")
    with pytest.raises(ConfigError, match="loopback"):
        witness.current()


def test_a_witness_never_grades_a_real_org() -> None:
    """Installed or not, a client of a real org's URL gets no witness."""

    class Client:
        org_url = "https://acme.okta.com"

    with witness.installed(witness.HttpSandboxWitness("http://127.0.0.1:8123")):
        assert witness.for_client(Client()) is None  # type: ignore[arg-type]


def test_a_witness_that_cannot_answer_says_it_cannot_tell() -> None:
    """An error answer or no answer is None ("cannot check"), never a wrong answer."""

    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"error": "down"})

    local = "http://127.0.0.1:8123"
    down = witness.HttpSandboxWitness(local, transport=httpx.MockTransport(refuse))
    assert down.org_setting("preAuthKmsi") is None
    assert down.session_revocations() is None

    def not_json(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>")

    odd = witness.HttpSandboxWitness(local, transport=httpx.MockTransport(not_json))
    assert odd.org_setting("preAuthKmsi") is None
