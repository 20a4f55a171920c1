"""Credential-shaped test values, assembled at run time.

Secret scanners (ours and the ones that guard a repository) look for key armour
and ``SSWS``/``Bearer``/``DPoP`` values in committed text. The tests need such
shapes, so they build them here from harmless parts: no committed line holds
something that looks like a real credential.
"""

from __future__ import annotations

import string

PEM_BEGIN = "-----BEGIN " + "PRIVATE KEY-----"
PEM_END = "-----END " + "PRIVATE KEY-----"


def fake_pem(body: str) -> str:
    """A PEM private-key block around ``body`` (not a key: the body is made up)."""
    return f"{PEM_BEGIN}\n{body}\n{PEM_END}\n"


def fake_token(prefix: str = "00", length: int = 40) -> str:
    """A deterministic token-shaped string (letters, digits, '-' and '_') of ``length``."""
    alphabet = string.ascii_letters + string.digits + "-_"
    body = "".join(alphabet[(7 * i + 3) % len(alphabet)] for i in range(length - len(prefix)))
    return prefix + body
