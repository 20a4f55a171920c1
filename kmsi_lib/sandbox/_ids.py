"""Okta-shaped identifiers and timestamps.

Okta object ids are 20 base62 characters: a 3-character type prefix, then
characters that (in real orgs) grow with creation time, then a short cell
suffix. We reproduce that: a base62 counter makes ids sort in creation order,
which is what makes the opaque ``after`` cursor of paginated lists stable.
"""

from __future__ import annotations

import base64
import os
import random
import string
import time

# ASCII order (digits < upper < lower), so string order of ids is creation order
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_OFFSET = 1_900_000_000_000  # ids start mid-range like real ones, not with zeros
_SUFFIX = "1d7"  # every recorded id ends with the org's cell suffix

PREFIXES: dict[str, str] = {
    "OKTA_SIGN_ON": "00p",
    "PASSWORD": "00p",
    "MFA_ENROLL": "00p",
    "SIGN_ON": "0pr",
    "PASSWORD_RULE": "0pr",
    "ACCESS_POLICY": "rst",
    "PROFILE_ENROLLMENT": "rst",
    "ACCESS_POLICY_RULE": "rul",
    "app": "0oa",
    "user": "00u",
    "group": "00g",
    "brand": "bnd",
    "mapping": "rpm",
    "org": "00o",
}


class IdFactory:
    """Makes unique, creation-ordered Okta ids; deterministic for a given seed."""

    def __init__(self, seed: int | None = None, start: int = 0) -> None:
        # ids must be reproducible per seed; they protect nothing
        self._rng = random.Random(seed)  # noqa: S311
        self.counter = start

    def new(self, prefix: str) -> str:
        self.counter += 1
        n = self.counter + _OFFSET
        digits = []
        for _ in range(7):
            n, r = divmod(n, 62)
            digits.append(BASE62[r])
        middle = "".join(reversed(digits))
        noise = "".join(self._rng.choice(BASE62) for _ in range(20 - 3 - 7 - 3))
        return f"{prefix}{middle}{noise}{_SUFFIX}"

    def request_id(self) -> str:
        # unique per request, not reproducible on purpose (like Okta's)
        return base64.urlsafe_b64encode(os.urandom(21)).decode()[:27]

    def token(self, n: int = 42) -> str:
        return "".join(self._rng.choice(BASE62) for _ in range(n))


def timestamp(t: float | None = None) -> str:
    """UTC timestamp as Okta writes it: seconds precision, ``.000Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() if t is None else t))


def http_date(t: float | None = None) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() if t is None else t))
