"""Fixtures shared by the whole suite: a fresh sandbox org, a client for it, a loopback server.

``spec_transport`` wraps the sandbox's transport so that every JSON response
of the test is validated against Okta's published spec (relaxed as
``reference/okta/README.md`` says); the test fails at teardown if one does not
conform and no recorded departure of real Okta explains it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

# pytest's default "prepend" import mode puts this directory on sys.path, so the helper
# modules next to the tests (okta_spec, recordings) import by name.
from okta_spec import SpecCheckingTransport, Violation, unexcused

from kmsi_lib.engine import witness
from kmsi_lib.sandbox import SANDBOX_URL as SANDBOX_BASE_URL

if TYPE_CHECKING:
    from kmsi_lib.okta.client import OktaClient
    from kmsi_lib.sandbox import Sandbox


@pytest.fixture(autouse=True)
def _no_sandbox_witness_outlives_its_test() -> Iterator[None]:
    """A test starts with no sandbox witness installed; one it installs ends with it."""
    with witness.installed(None):
        yield


def sandbox_witness(sandbox: Sandbox) -> witness.HttpSandboxWitness:
    """What the demo installs, for an in-process sandbox: its admin endpoints, no credentials."""
    return witness.HttpSandboxWitness(SANDBOX_BASE_URL, transport=sandbox.transport())


@pytest.fixture
def sandbox() -> Sandbox:
    """A fresh sandbox org with the default seed."""
    from kmsi_lib.sandbox import Sandbox

    return Sandbox(seed="default")


def _client(sandbox: Sandbox, transport: httpx.BaseTransport) -> httpx.Client:
    return httpx.Client(
        base_url=SANDBOX_BASE_URL,
        transport=transport,
        headers={"Authorization": f"SSWS {sandbox.token}", "Accept": "application/json"},
    )


@pytest.fixture
def client(sb: Sandbox) -> httpx.Client:
    """``sb.client()``: for the sandbox tests, a client on their module's own ``sb`` fixture."""
    return sb.client()


@pytest.fixture
def sandbox_client(sandbox: Sandbox) -> Iterator[httpx.Client]:
    """An httpx client talking to ``sandbox`` in-process, authenticated with its SSWS token."""
    with _client(sandbox, sandbox.transport()) as client:
        yield client


@pytest.fixture
def okta(sandbox: Sandbox) -> Iterator[OktaClient]:
    """A kmsi_lib client of ``sandbox``, in-process, authenticated with its SSWS token.

    The sandbox witness is installed too, as the demo does: verifications may consult
    the sandbox's admin endpoints (without the client's credentials).
    """
    from kmsi_lib.okta.auth import SSWSAuth
    from kmsi_lib.okta.client import OktaClient

    with (
        OktaClient(
            SANDBOX_BASE_URL, SSWSAuth(sandbox.token), transport=sandbox.transport()
        ) as client,
        witness.installed(sandbox_witness(sandbox)),
    ):
        yield client


@pytest.fixture
def live_sandbox(sandbox: Sandbox) -> Iterator[tuple[Sandbox, str]]:
    """``sandbox`` served over real HTTP on 127.0.0.1: yields (sandbox, base url)."""
    with sandbox.serve(port=0) as url:
        yield sandbox, url


@pytest.fixture
def spec_transport(sandbox: Sandbox) -> Iterator[SpecCheckingTransport]:
    """The sandbox's transport, with every JSON response checked against the spec."""
    transport = SpecCheckingTransport(sandbox.transport())
    yield transport
    bad = unexcused(transport.violations)
    if bad:
        listing = "\n".join(f"  {v}" for v in bad[:20])
        pytest.fail(f"{len(bad)} sandbox response(s) do not conform to the spec:\n{listing}")


@pytest.fixture
def spec_client(sandbox: Sandbox, spec_transport: SpecCheckingTransport) -> Iterator[httpx.Client]:
    """Like ``sandbox_client``, but through ``spec_transport``."""
    with _client(sandbox, spec_transport) as client:
        yield client


# --- optional: check every sandbox response of the whole suite against the spec -------------
#
# KMSI_SPEC_CHECK=1 python -m pytest   wraps every Sandbox.transport() the suite creates in a
# SpecCheckingTransport and reports (and fails on) unexplained violations at the end. Off by
# default to keep the suite fast; the fidelity tests always check their own traffic.

_SUITE_CHECK = os.environ.get("KMSI_SPEC_CHECK") == "1"
_suite_checked = [0]
_suite_violations: list[tuple[str, Violation]] = []


@pytest.fixture(autouse=True)
def _spec_check_every_sandbox(request: pytest.FixtureRequest) -> Iterator[None]:
    if not _SUITE_CHECK:
        yield
        return
    from kmsi_lib.sandbox import Sandbox

    original = Sandbox.transport
    made: list[SpecCheckingTransport] = []

    def checked(self: Sandbox) -> SpecCheckingTransport:
        transport = SpecCheckingTransport(original(self))
        made.append(transport)
        return transport

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Sandbox, "transport", checked)
        yield
    for transport in made:
        _suite_checked[0] += transport.checked
        _suite_violations.extend((request.node.nodeid, v) for v in unexcused(transport.violations))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _SUITE_CHECK and _suite_violations and exitstatus == 0:
        session.exitstatus = 1


def _tamper_summary(terminalreporter: Any) -> None:
    """Tests that tamper with evidence tag themselves ``("tamper_scenario", (name, refused))``."""
    seen = {
        name: refused
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "call"
        for key, (name, refused) in (
            p for p in getattr(report, "user_properties", ()) if p[0] == "tamper_scenario"
        )
    }
    if seen:
        accepted = sorted(name for name, refused in seen.items() if not refused)
        terminalreporter.write_line(
            f"evidence tampering: {len(seen)} scenarios, {len(seen) - len(accepted)} refused"
            + (f"; accepted: {', '.join(accepted)}" if accepted else "")
        )


def _reliability_summary(terminalreporter: Any) -> None:
    from reliability import COUNTS

    if not COUNTS:
        return
    terminalreporter.section("reliability counts")
    for key in sorted(COUNTS):
        terminalreporter.write_line(f"{key}: {COUNTS[key]}")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    _tamper_summary(terminalreporter)
    _reliability_summary(terminalreporter)
    if not _SUITE_CHECK:
        return
    terminalreporter.write_line(
        f"spec check: {_suite_checked[0]} sandbox JSON responses checked, "
        f"{len(_suite_violations)} unexplained violation(s)"
    )
    for nodeid, violation in _suite_violations[:50]:
        terminalreporter.write_line(f"  {nodeid}: {violation}")
