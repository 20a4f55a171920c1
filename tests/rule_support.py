"""Shapes of Okta policy rules that many tests write out: one builder each.

An app sign-in rule's ``verificationMethod`` of type ``ASSURANCE`` with two factors is
the most common block in the tests; :func:`two_factors` builds it, so that a test names
only what it sets (the re-authentication period, the constraints).
"""

from __future__ import annotations

from kmsi_lib.jsontypes import JsonObject, JsonValue


def two_factors(reauthenticate_in: str, **extra: JsonValue) -> JsonObject:
    """``{"type": "ASSURANCE", "factorMode": "2FA", "reauthenticateIn": ..., **extra}``."""
    return {
        "type": "ASSURANCE",
        "factorMode": "2FA",
        "reauthenticateIn": reauthenticate_in,
        **extra,
    }
