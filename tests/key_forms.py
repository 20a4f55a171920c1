"""Throw-away keys made by a test, in the forms kmsi_lib reads: a PKCS#8 PEM and a JWK.

The keys themselves are generated at run time (``rsa.generate_private_key``):
nothing here is, or looks like, a committed credential.
"""

from __future__ import annotations

from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


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
