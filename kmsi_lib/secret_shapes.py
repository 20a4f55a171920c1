"""The one vocabulary of what a secret looks like, and the redaction built on it.

Three parts of the library need to know a credential when they see one, and
they must agree:

* the params loader refuses it (:mod:`kmsi_lib.runbooks.params`),
* the request journal and error messages redact it (:mod:`kmsi_lib.okta.journal`,
  :mod:`kmsi_lib.okta.protocol`),
* the evidence scan finds it in files (:mod:`kmsi_lib.evidence`).

So the key names (:func:`is_secret_key`), the value shapes
(:func:`secret_reason`, :func:`find_secret_shapes`) and the redaction
(:func:`redact_text`, :func:`redact_value`, :func:`redact_mapping`,
:func:`redact_url`, :func:`redact_config`) live here, once. Detection is the
narrow side (what params refuse and the evidence scan reports must not be
noise); redaction is a superset of it: whatever is detected is also redacted.

Named ``secret_shapes`` so that it never shadows the standard library's
``secrets`` inside the package.
"""

from __future__ import annotations

import base64
import functools
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit

if TYPE_CHECKING:  # a base module: nothing of kmsi_lib at run time
    from kmsi_lib.jsontypes import JsonValue

__all__ = [
    "JWK_PRIVATE_MEMBERS",
    "KEY_FILE_ENV",
    "REDACTED",
    "SECRET_HEADERS",
    "SHAPE_KINDS",
    "find_secret_shapes",
    "holds_text",
    "is_private_jwk",
    "is_secret_key",
    "jwk_private_values",
    "looks_random",
    "looks_secret",
    "redact_config",
    "redact_mapping",
    "redact_text",
    "redact_url",
    "redact_value",
    "secret_reason",
]

REDACTED = "[redacted]"

#: Environment variables that name a key file (its path is no secret; its content is).
KEY_FILE_ENV = re.compile(r"^OKTA_.*(KEY_FILE|KEY_PATH|JWK_FILE)$", re.I)

#: Header names whose values never reach a journal or a log.
SECRET_HEADERS = frozenset(
    {"authorization", "dpop", "cookie", "set-cookie", "proxy-authorization", "x-api-key"}
)

#: JWK members that hold private key material (RFC 7518 §6.2.2, §6.3.2, §6.4).
JWK_PRIVATE_MEMBERS: tuple[str, ...] = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")

#: What each shape is, in words (never the value): the kinds :func:`find_secret_shapes` reports.
SHAPE_KINDS: dict[str, str] = {
    "jwt": "a JWT-shaped token",
    "authorization": "an authorization header value (SSWS, Bearer, DPoP or Basic credential)",
    "pem-private-key": "a PEM private key block",
    "okta-token": "an Okta API token",
    "random": "a long random string (a key or token)",
    "private-jwk": "a private JWK member",
}

# ---------------------------------------------------------------- key names

# Key names are compared word by word (camelCase and kebab-case split), on the
# last words: ``client_secret``, ``apiKey`` and ``OKTA_API_TOKEN`` are secrets,
# ``passwordLabel`` and ``token_endpoint_auth_method`` (Okta settings) are not.
# ``jwk`` is not: a public JWK is no secret, a private one is found by its members.
_SECRET_ENDINGS = (
    "token",
    "tokens",
    "secret",
    "secrets",
    "password",
    "passwd",
    "passcode",
    "credential",
    "credentials",
    "assertion",
    "bearer",
    "apikey",
    "privatekey",
)
_SECRET_PAIRS = frozenset({("api", "key"), ("private", "key"), ("recovery", "question")})
_EXACT_SECRET_KEYS = frozenset({"answer", "pwd", "recoveryquestion"})


def _words(key: str) -> list[str]:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


def is_secret_key(key: str) -> bool:
    """True when a JSON, form, query or params key names a secret value."""
    words = _words(str(key))
    if not words:
        return False
    if words[-1] in _EXACT_SECRET_KEYS or words[-1].endswith(_SECRET_ENDINGS):
        return True
    return len(words) >= 2 and (words[-2], words[-1]) in _SECRET_PAIRS


def holds_text(value: object) -> bool:
    """Whether a value under a secret key can be a credential: text, not a switch or a number.

    ``oauth_tokens: true`` is a switch; ``"true"``/``"false"`` are the same in
    a query string. The redaction placeholder holds nothing.
    """
    if isinstance(value, str):
        return bool(value) and value != REDACTED and value.lower() not in {"true", "false"}
    if isinstance(value, list | tuple):
        return any(holds_text(v) for v in value if isinstance(v, str))
    return isinstance(value, Mapping) and bool(value)


def is_private_jwk(obj: Mapping[str, object]) -> bool:
    """A JWK (has ``kty``) holding a private member that is not redacted."""
    return "kty" in obj and any(
        isinstance(obj.get(m), str) and obj[m] and obj[m] != REDACTED for m in JWK_PRIVATE_MEMBERS
    )


def jwk_private_values(text: str) -> list[str]:
    """The private members of a JWK, or of each key of a JWK set, given as JSON text.

    What a secret scan looks for besides the whole key: a notebook may show one member.
    Text that is not JSON has none.
    """
    try:
        value = json.loads(text)
    except ValueError:
        return []
    keys = value.get("keys", [value]) if isinstance(value, dict) else []
    return [
        key[member]
        for key in keys
        if isinstance(key, dict)
        for member in JWK_PRIVATE_MEMBERS
        if isinstance(key.get(member), str) and key[member]
    ]


# ---------------------------------------------------------------- value shapes

# The armour line of a private key, then a line break (real, JSON- or
# HTML-escaped, or the quotes between a notebook's lines) and base64 body; the
# armour alone in prose ("a key file starts with -----BEGIN ...") is no key.
_PEM_RE = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----"
    r"(?:[ \t]*(?:\r?\n|\\[rn]|&#1[03];)[\s\"',]*)+[A-Za-z0-9+/]{4,}"
)
# Redaction takes the whole block (to the END line, or the end of the text).
_PEM_BLOCK_RE = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----.*?(?:-----END \1-----|$)", re.DOTALL
)
# Where a credential starts: after a character that cannot be part of it, or
# after a JSON escape (\n, \u001f), which ends in a letter yet separates.
_ESCAPE_BEFORE = r"(?<=\\[nrtbf])|(?<=\\u[0-9a-fA-F]{4})"
_WORD_START = r"(?:(?<![A-Za-z0-9])|" + _ESCAPE_BEFORE + ")"
_TOKEN_START = r"(?:(?<![A-Za-z0-9_-])|" + _ESCAPE_BEFORE + ")"
# A scheme, a separator (plain, JSON- or HTML-escaped, or URL-encoded), a credential.
_AUTH_RE = re.compile(
    _WORD_START + r"(SSWS|Bearer|DPoP|Basic)((?:\s|\\[nt]|&#32;|%20|\+)+)([A-Za-z0-9._~+/-]+=*)",
    re.IGNORECASE,
)
_AUTH_MIN = 8
# A compact JWS/JWT: three base64url parts, the first a JSON header ("eyJ").
_JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
_JWT_LOOSE_RE = re.compile(r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*")
# An Okta API token: "00" + 40 url-safe characters, standing alone.
_OKTA_TOKEN_RE = re.compile(_TOKEN_START + r"00[A-Za-z0-9_-]{40}(?![A-Za-z0-9_-])")
# Long runs of letters and digits, judged by :func:`_random_run`.
_RUN_RE = re.compile(r"[A-Za-z0-9]{32,}")
# Shortest random run: Okta request ids (26-27 random characters) are in every
# journal and are not secrets; tokens and keys are longer.
_RANDOM_MIN = 32
_RANDOM_BITS = 3.5  # bits per character; words, ids and hex digests stay below
# Inline images and fonts of an HTML export are base64, not secrets.
_DATA_URI_RE = re.compile(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+")
# A private JWK member as JSON (quotes possibly escaped), inside an object with "kty".
_JSON_OBJECT_RE = re.compile(r"\{[^{}]*\}")
_JWK_MEMBER_RE = re.compile(
    r"(?:\\?\"|&quot;)(?:" + "|".join(JWK_PRIVATE_MEMBERS) + r")(?:\\?\"|&quot;)\s*:\s*"
    r"(?:\\?\"|&quot;)(?!\[redacted\])[^\"\\&]"
)
_KTY_RE = re.compile(r"(?:\\?\"|&quot;)kty(?:\\?\"|&quot;)\s*:")


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _random_run(run: str) -> bool:
    classes = sum(
        [
            any(c.islower() for c in run),
            any(c.isupper() for c in run),
            any(c.isdigit() for c in run),
        ]
    )
    return len(run) >= _RANDOM_MIN and classes == 3 and _entropy(run) >= _RANDOM_BITS


def looks_random(text: str) -> bool:
    """A long run of mixed letters and digits with high entropy: what a token or key looks like.

    Judged on runs of ASCII letters and digits, so a run id such as
    ``20261129T051500Z-post_auth-apply-3f9a1c`` (long, but short words) is not
    random, and neither is an Okta id (20 characters) or a request id.
    """
    return any(_random_run(m.group(0)) for m in _RUN_RE.finditer(_DATA_URI_RE.sub(" ", text)))


def _is_jwt(token: str) -> bool:
    header = token.split(".", 1)[0]
    try:
        value = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except ValueError:
        return False
    return isinstance(value, dict) and "alg" in value


def _is_credential(text: str) -> bool:
    """What follows an auth scheme: long enough, and not a plain word ("Basic authentication")."""
    return len(text.rstrip("=")) >= _AUTH_MIN and not re.fullmatch(r"[A-Za-z][a-z]*", text)


def find_secret_shapes(text: str | bytes) -> list[str]:
    """The kinds (keys of :data:`SHAPE_KINDS`) of credential-shaped values in ``text``, in order.

    What the evidence scan reports for credentials it never saw (an access
    token the kernel obtained, a key a notebook read itself) and what the
    params loader refuses.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    kinds: list[str] = []
    # A long random run inside a credential found as such is that credential,
    # not a second finding: those spans are blanked before looking for runs.
    spans: list[tuple[int, int]] = []
    jwts = [m for m in _JWT_RE.finditer(text) if _is_jwt(m.group(0))]
    if jwts:
        kinds.append("jwt")
        spans += [m.span() for m in jwts]
    auths = [m for m in _AUTH_RE.finditer(text) if _is_credential(m.group(3))]
    if auths:
        kinds.append("authorization")
        spans += [m.span() for m in auths]
    if _PEM_RE.search(text):
        kinds.append("pem-private-key")
        spans += [m.span() for m in _PEM_BLOCK_RE.finditer(text)]
    tokens = list(_OKTA_TOKEN_RE.finditer(text))
    if tokens:
        kinds.append("okta-token")
        spans += [m.span() for m in tokens]
    rest = text
    for start, end in spans:
        rest = rest[:start] + " " * (end - start) + rest[end:]
    if looks_random(rest):
        kinds.append("random")
    if any(_KTY_RE.search(o) and _JWK_MEMBER_RE.search(o) for o in _JSON_OBJECT_RE.findall(text)):
        kinds.append("private-jwk")
    return kinds


_REASONS = {
    "pem-private-key": "it contains a PEM private key",
    "authorization": "it looks like an Authorization header value",
    "jwt": "it contains a JWT",
    "okta-token": "it looks like an Okta API token",
    "random": "it looks like a random key or token (long, high entropy)",
    "private-jwk": "it contains a private JWK",
}


def secret_reason(value: str) -> str | None:
    """Why ``value`` looks like a credential, in words (never the value), or None."""
    order = ("pem-private-key", "authorization", "jwt", "okta-token", "random", "private-jwk")
    kinds = find_secret_shapes(value)
    return next((_REASONS[k] for k in order if k in kinds), None)


def looks_secret(value: str) -> bool:
    """True when ``value`` has any credential shape."""
    return bool(find_secret_shapes(value))


# ---------------------------------------------------------------- redaction


def redact_value(value: object) -> str:
    """What a message shows instead of a secret value: a placeholder and the length."""
    return f"[redacted: {len(str(value))} characters]"


def _auth_sub(match: re.Match[str]) -> str:
    return f"{match.group(1)}{match.group(2)}{REDACTED}"


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with known ``secrets`` and every credential shape replaced by ``[redacted]``.

    Broader than :func:`find_secret_shapes` (any JWT-like string, any value
    after an auth scheme), so whatever is detected is also redacted.
    """
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = _PEM_BLOCK_RE.sub(f"-----{REDACTED} PRIVATE KEY-----", text)
    text = _AUTH_RE.sub(_auth_sub, text)
    text = _JWT_LOOSE_RE.sub(REDACTED, text)
    text = _OKTA_TOKEN_RE.sub(REDACTED, text)
    return _RUN_RE.sub(lambda m: REDACTED if _random_run(m.group(0)) else m.group(0), text)


def redact_mapping(obj: JsonValue, secrets: Iterable[str] = ()) -> JsonValue:
    """A deep copy of ``obj`` with secret values replaced (keys kept, so shape stays visible).

    A value is replaced whole when its key names a secret and it holds text
    (:func:`is_secret_key`, :func:`holds_text`), when it is a private member of
    a JWK, or when the string as a whole has a credential shape; other strings
    have known secrets and credential shapes replaced inside them. A string that
    occurs again (a listing's many equal values) is redacted once.
    """
    return _redacted(obj, tuple(secrets), {})


def _redacted(obj: JsonValue, known: tuple[str, ...], strings: dict[str, str]) -> JsonValue:
    if isinstance(obj, Mapping):
        jwk = "kty" in obj
        out: dict[str, JsonValue] = {}
        for key, value in obj.items():
            skey = str(key)
            secret = (_secret_key(skey) and holds_text(value)) or (
                jwk and skey in JWK_PRIVATE_MEMBERS
            )
            out[skey] = REDACTED if secret else _redacted(value, known, strings)
        return out
    if isinstance(obj, list | tuple):
        return [_redacted(item, known, strings) for item in obj]
    if isinstance(obj, str):
        found = strings.get(obj)
        if found is None:
            text = redact_text(obj, known)
            found = strings[obj] = REDACTED if looks_secret(text) else text
        return found
    return obj


#: :func:`is_secret_key` for the keys of JSON bodies, which repeat in every item of a listing.
_secret_key = functools.lru_cache(maxsize=4096)(is_secret_key)


def _percent_encoded_forms(secrets: Iterable[str]) -> list[str]:
    """Each secret as it may appear in a URL: raw and percent-encoded (both styles)."""
    forms: list[str] = []
    for secret in secrets:
        if secret:
            forms += [secret, quote(secret, safe=""), quote(secret), quote_plus(secret)]
    return forms


def _redact_segments(path: str, sep: str = "/") -> str:
    return sep.join(REDACTED if looks_secret(seg) else seg for seg in path.split(sep))


def redact_url(url: str, secrets: Iterable[str] = (), *, keep_query: bool = False) -> str:
    """``url`` with user name and password dropped, secret-looking path segments replaced,
    query values and the fragment replaced, and known ``secrets`` removed.

    ``keep_query=True`` (the request journal) keeps the values of query
    parameters whose key is not a secret and whose value has no credential
    shape: ``?limit=200&q=Payroll`` is evidence. A URL without scheme and host
    (a path) stays one. Known secrets are looked for percent-encoded too.
    """
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket: nothing of it can be trusted
        return redact_value(url)
    origin = ""
    if parts.scheme or parts.netloc:
        # Judged as written: ``hostname`` is lower-cased, and a random run is mixed-case.
        hostport = parts.netloc.rpartition("@")[2]
        if hostport.startswith("[") and "]" in hostport:
            host = hostport[: hostport.index("]") + 1]
        else:
            host = hostport.partition(":")[0]
        host = ".".join(REDACTED if looks_secret(label) else label for label in host.split("."))
        try:
            port = f":{parts.port}" if parts.port is not None else ""
        except ValueError:
            port = f":{REDACTED}"
        user = f"{REDACTED}@" if parts.username or parts.password else ""
        origin = f"{parts.scheme}://{user}{host}{port}" if parts.netloc else f"{parts.scheme}:"
    path = _redact_segments(parts.path) or ("" if origin else "/")
    text = origin + path
    if parts.query:
        query = parse_qsl(parts.query, keep_blank_values=True)
        if keep_query:
            cleaned = [
                (k, REDACTED if is_secret_key(k) and holds_text(v) or looks_secret(v) else v)
                for k, v in query
            ]
            if cleaned != query:
                text += "?" + urlencode(cleaned)
            else:
                text += "?" + parts.query
        else:
            keys = (REDACTED if looks_secret(k) else k for k, _ in query)
            text += "?" + "&".join(f"{k}={REDACTED}" for k in keys)
    if parts.fragment:
        text += "#" + REDACTED
    return redact_text(text, _percent_encoded_forms(secrets))


def redact_config(value: str) -> str:
    """A configuration value as a message may show it: the one redaction for echoing settings.

    A URL keeps scheme, host, port and ordinary path segments (see
    :func:`redact_url`); a file path keeps its ordinary segments; anything
    else (a token in the wrong variable, a host without a scheme) is shown as
    a placeholder with its length only.
    """
    text = value.strip()
    if "://" in text:
        return redact_url(text)
    if "/" in text or "\\" in text:
        sep = "/" if "/" in text else "\\"
        return redact_text(_redact_segments(text, sep))
    return redact_value(text)
