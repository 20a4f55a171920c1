"""Throw-away keys made by a test, in the forms kmsi_lib reads: a PKCS#8 PEM and a JWK.

The keys themselves are generated at run time (``rsa.generate_private_key``):
nothing here is, or looks like, a committed credential.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

if TYPE_CHECKING:
    from kmsi_lib.sandbox import Sandbox


def pem_of(key: Any) -> str:
    """The private key as an unencrypted PKCS#8 PEM: what ``OKTA_PRIVATE_KEY_FILE`` holds."""
    pem: bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem.decode()


def jwk_of(key: Any, kid: str | None = None, *, public: bool = False) -> dict[str, Any]:
    """The private key (or its public half) as a JWK, RSA or EC by the key's type."""
    alg: Any = (
        jwt.algorithms.RSAAlgorithm
        if isinstance(key, rsa.RSAPrivateKey)
        else jwt.algorithms.ECAlgorithm
    )
    data: dict[str, Any] = alg.to_jwk(key.public_key() if public else key, as_dict=True)
    if kid:
        data["kid"] = kid
    return data


def oauth_env(
    sandbox: Sandbox,
    client_id: str,
    key: Any,
    kid: str,
    scopes: Sequence[str],
    *,
    url: str,
    signed_with: Any = None,
    dpop: bool = False,
) -> dict[str, str]:
    """Register the OAuth service app ``client_id`` in ``sandbox`` with the public half of
    ``key`` (key id ``kid``) and ``scopes``; return the environment that makes
    ``OktaClient.from_env`` sign in as it at ``url`` (with the private JWK of ``signed_with``
    instead of ``key`` when given: a key the sandbox does not know)."""
    sandbox.admin.register_client(client_id, jwk_of(key, kid, public=True), list(scopes), dpop=dpop)
    return {
        "OKTA_ORG_URL": url,
        "OKTA_CLIENT_ID": client_id,
        "OKTA_PRIVATE_KEY_JWK": json.dumps(jwk_of(signed_with or key, kid)),
    }
