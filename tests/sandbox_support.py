"""Checks of the sandbox org's HTTP answers that several test modules make the same way.

A bearer token the org never issued is refused alike whether or not any service app is
registered: :func:`assert_unknown_bearer_refused` sends one and checks the answer.
"""

from __future__ import annotations

import httpx


def assert_unknown_bearer_refused(client: httpx.Client, policy_type: str) -> None:
    """A policy listing of ``policy_type`` with ``Bearer not-a-token`` is 401, and the
    ``WWW-Authenticate`` challenge names the error ``invalid_token`` (RFC 6750 section 3.1)."""
    r = client.get(
        "/api/v1/policies",
        params={"type": policy_type},
        headers={"Authorization": "Bearer not-a-token"},
    )
    assert r.status_code == 401, r.text
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
