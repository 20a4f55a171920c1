"""Fixtures shared by the whole suite: a fresh sandbox org, a client for it, a loopback server.

``spec_transport`` wraps the sandbox's transport so that every JSON response
of the test is validated against Okta's published spec (relaxed as
``../shared/okta/README.md`` says); the test fails at teardown if one does not
conform and no recorded departure of real Okta explains it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

# pytest's default "prepend" import mode puts this directory on sys.path, so the helper
# modules next to the tests (okta_spec, recordings) import by name.
from okta_spec import SpecCheckingTransport, unexcused

if TYPE_CHECKING:
    from kmsi_lib.sandbox import Sandbox

SANDBOX_BASE_URL = "http://sandbox.okta.test"


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
def sandbox_client(sandbox: Sandbox) -> Iterator[httpx.Client]:
    """An httpx client talking to ``sandbox`` in-process, authenticated with its SSWS token."""
    with _client(sandbox, sandbox.transport()) as client:
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
