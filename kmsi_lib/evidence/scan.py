"""The secret scan: every file of a run (and the captured output) for credentials.

Two ways to find one: by value (the secrets this process knows, in every usual
encoding) and by shape (a credential the runner never saw, such as an access
token the kernel obtained itself; the shapes are those of
:mod:`kmsi_lib.secret_shapes`, the one secrets vocabulary). A hit names the
file and the kind of secret, never the value.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import gzip
import html
import json
import os
import re
import urllib.parse
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from kmsi_lib import secret_shapes

__all__ = [
    "KEY_FILE_ENV",
    "MIN_SECRET_LENGTH",
    "SHAPE_KINDS",
    "SecretHit",
    "describe_hits",
    "known_secrets",
    "scan_for_secrets",
    "scan_for_shapes",
    "secret_forms",
]

# Shortest value treated as a secret: below this, matches would be noise, and no
# credential Okta issues is that short.
MIN_SECRET_LENGTH = 8


_SECRET_ENV = re.compile(
    r"^OKTA_.*(TOKEN|SECRET|PASSWORD|PRIVATE_KEY|ASSERTION|JWK)(?!.*_(FILE|PATH)$)", re.I
)
KEY_FILE_ENV = secret_shapes.KEY_FILE_ENV


@dataclasses.dataclass(frozen=True)
class SecretHit:
    """A secret found in a file; says which file and which encoding, never the value."""

    file: str
    # A known value's encoding (raw | base64 | base64url | url-encoded | json-escaped
    # | html-escaped | pem-line), or a shape (one of SHAPE_KINDS) for a credential
    # this process never saw.
    form: str

    @property
    def kind(self) -> str:
        """What was found, in words: never the value itself."""
        if self.form in SHAPE_KINDS:
            return SHAPE_KINDS[self.form]
        return f"a known secret value ({self.form} form)"

    def __str__(self) -> str:
        return f"{self.file}: {self.kind}"


# Credentials the runner never saw (an access token the kernel obtained by OAuth,
# a key the notebook read itself) cannot be matched by value, only by shape: the
# shapes are those the params loader refuses (kmsi_lib.secret_shapes).
SHAPE_KINDS = secret_shapes.SHAPE_KINDS


def scan_for_shapes(data: bytes) -> list[str]:
    """The kinds (keys of :data:`SHAPE_KINDS`) of credential-shaped values in ``data``."""
    return secret_shapes.find_secret_shapes(data)


def known_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """Every secret value this process knows: credentials, token variables, key files, JWK parts.

    Sources: ``Credentials.from_env().secret_values()`` when the client's auth
    module can build credentials, plus every ``OKTA_*TOKEN/SECRET/PASSWORD/
    PRIVATE_KEY`` variable, the contents of key files named by ``OKTA_*KEY_FILE``
    variables, and the private members of any JWK among those.
    """
    env = dict(os.environ if environ is None else environ)
    values: list[str] = []
    with contextlib.suppress(Exception):  # no credentials configured is not an error here
        from kmsi_lib.okta.auth import Credentials

        creds = Credentials.from_env(env)
        values += [str(v) for v in creds.secret_values()]
    for name, value in env.items():
        if _SECRET_ENV.search(name) and value:
            values.append(value)
            values += secret_shapes.jwk_private_values(value)
        if KEY_FILE_ENV.search(name) and value:
            with contextlib.suppress(OSError):
                content = Path(value).read_text(encoding="utf-8")
                values.append(content.strip())
                values += secret_shapes.jwk_private_values(content)
    seen: dict[str, None] = {}
    for value in values:
        if len(value) >= MIN_SECRET_LENGTH:
            seen.setdefault(value, None)
    return list(seen)


def _b64_fragments(raw: bytes) -> list[tuple[str, bytes]]:
    """Base64 forms of ``raw`` wherever it sits in a longer encoded string.

    Base64 encodes 3 bytes at a time, so a secret embedded in a longer value
    (``client:secret`` in a Basic header) encodes differently at each of the
    three alignments; the middle of each alignment's encoding is stable.
    """
    out: list[tuple[str, bytes]] = []
    for shift in range(3):
        encoded = base64.b64encode(b"\x00" * shift + raw).rstrip(b"=")
        head = 4 if shift else 0  # the first group mixes in the padding bytes
        tail = 4  # the last group depends on what follows the secret
        core = encoded[head:-tail] if len(encoded) > head + tail + 8 else b""
        if shift == 0:
            out.append(("base64", encoded))
            out.append(("base64url", base64.urlsafe_b64encode(raw).rstrip(b"=")))
        if core:
            out.append(("base64", core))
            out.append(("base64url", core.replace(b"+", b"-").replace(b"/", b"_")))
    return out


def secret_forms(secret: str) -> list[tuple[str, bytes]]:
    """The byte strings to look for: the raw value and its usual encodings."""
    raw = secret.encode("utf-8")
    forms: list[tuple[str, bytes]] = [("raw", raw)]
    forms.append(("url-encoded", urllib.parse.quote(secret, safe="").encode()))
    forms.append(("url-encoded", urllib.parse.quote_plus(secret).encode()))
    forms.append(("json-escaped", json.dumps(secret)[1:-1].encode()))
    forms.append(("json-escaped", json.dumps(secret, ensure_ascii=False)[1:-1].encode()))
    forms.append(("html-escaped", html.escape(secret).encode()))
    forms += _b64_fragments(raw)
    # A PEM key in a notebook output is split into lines (and JSON-escaped):
    # any one body line of it is already a leak.
    if "-----BEGIN" in secret:
        for line in secret.splitlines():
            line = line.strip()
            if len(line) >= 16 and not line.startswith("-----"):
                forms.append(("pem-line", line.encode()))
    unique: dict[bytes, str] = {}
    for form, needle in forms:
        if len(needle) >= MIN_SECRET_LENGTH:
            unique.setdefault(needle, form)
    return [(form, needle) for needle, form in unique.items()]


def _readable(name: str, data: bytes) -> bytes:
    """What a file says: a ``.gz`` file (the run's journal) decompressed, any other as is.

    A ``.gz`` file that does not decompress is scanned as its bytes (verification
    reports it as changed)."""
    if name.endswith(".gz"):
        with contextlib.suppress(OSError, EOFError, zlib.error):
            return gzip.decompress(data)
    return data


def scan_for_secrets(
    paths: Iterable[Path],
    secrets: Sequence[str],
    *,
    extra: Mapping[str, bytes] | None = None,
    base: Path | None = None,
) -> list[SecretHit]:
    """Find every (file, encoding) where a secret occurs; ``extra`` scans captured output too.

    Besides the known ``secrets`` (first hit per file), every blob is scanned for
    credential shapes (:func:`scan_for_shapes`), one hit per file and kind. A ``.gz``
    file is scanned decompressed.
    """
    needles = [pair for secret in secrets for pair in secret_forms(secret)]
    blobs: list[tuple[str, bytes]] = []
    for path in paths:
        name = path.relative_to(base).as_posix() if base else str(path)
        blobs.append((name, _readable(name, path.read_bytes())))
    blobs += list((extra or {}).items())
    hits: list[SecretHit] = []
    for name, data in blobs:
        for form, needle in needles:
            if needle in data:
                hits.append(SecretHit(name, form))
                break
        hits += [SecretHit(name, kind) for kind in scan_for_shapes(data)]
    return hits


def describe_hits(hits: Iterable[SecretHit]) -> str:
    """``file (kind; kind), file (kind)``: where and what, never the value."""
    by_file: dict[str, dict[str, None]] = {}
    for hit in hits:
        by_file.setdefault(hit.file, {})[hit.kind] = None
    return ", ".join(f"{f} ({'; '.join(kinds)})" for f, kinds in sorted(by_file.items()))
