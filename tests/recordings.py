"""Real Okta traffic recorded by terraform-provider-okta (go-vcr v2 cassettes), as plain data.

``load_recordings()`` parses every ``*.yaml`` cassette under
``reference/okta/recordings`` once per process. Each interaction keeps the
request (method, URL, body) and the real response (status, body, headers);
the JSON bodies are decoded lazily.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

RECORDINGS_DIR = Path(
    os.environ.get(
        "KMSI_OKTA_RECORDINGS", Path(__file__).resolve().parents[1] / "reference/okta/recordings"
    )
)
# The recorder rewrote the real org's host to this one.
RECORDED_HOST = "oie-00.dne-okta.com"

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Interaction:
    """One recorded request and the real org's answer."""

    index: int
    method: str
    url: str
    request_body: str
    status: int
    response_body: str
    response_headers: dict[str, list[str]] = field(repr=False)

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.url).query, keep_blank_values=True)

    @property
    def response_content_type(self) -> str:
        for name, values in self.response_headers.items():
            if name.lower() == "content-type" and values:
                return values[0]
        return ""

    def request_json(self) -> Any:
        """The request body decoded, or None when it is empty."""
        return json.loads(self.request_body) if self.request_body.strip() else None

    def response_json(self) -> Any:
        """The response body decoded, or None when it is empty or not JSON."""
        if not self.response_body.strip() or "json" not in self.response_content_type:
            return None
        return json.loads(self.response_body)


@dataclass(frozen=True)
class Recording:
    """One cassette: the test it came from and its interactions, in order."""

    name: str
    path: Path
    interactions: tuple[Interaction, ...]


def _test_name(path: Path) -> str:
    # "TestAccResourceOktaAppSignOnPolicyRule_crud.oie-00.yaml" -> "...Rule_crud"
    return path.name.split(".", 1)[0]


def parse_cassette(path: Path) -> Recording:
    """Parse one go-vcr v2 cassette."""
    with path.open(encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=_Loader)  # noqa: S506 - a safe loader (C or Python)
    if document.get("version") != 2:
        raise ValueError(f"{path}: not a go-vcr v2 cassette")
    interactions = []
    for position, raw in enumerate(document.get("interactions") or []):
        request, response = raw["request"], raw["response"]
        interactions.append(
            Interaction(
                index=int(raw.get("id", position)),
                method=str(request["method"]).upper(),
                url=str(request["url"]),
                request_body=str(request.get("body") or ""),
                status=int(response["code"]),
                response_body=str(response.get("body") or ""),
                response_headers={
                    str(k): [str(v) for v in vs]
                    for k, vs in (response.get("headers") or {}).items()
                },
            )
        )
    return Recording(name=_test_name(path), path=path, interactions=tuple(interactions))


@functools.cache
def load_recordings(directory: Path = RECORDINGS_DIR) -> tuple[Recording, ...]:
    """Every cassette in ``directory``, sorted by name (parsed once per process)."""
    return tuple(parse_cassette(p) for p in sorted(directory.glob("*.yaml")))


# --- comparing a recorded response with the sandbox's -----------------------------------------

# Every id of the recorded org ends in its cell suffix "1d7" (20 base62 characters).
RECORDED_ID = re.compile(r"^[0-9A-Za-z]{17}1d7$")
RECORDED_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])[0-9A-Za-z]{17}1d7(?![0-9A-Za-z])")
OKTA_ID = re.compile(r"^[0-9A-Za-z]{20}$")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


class IdMap:
    """Recorded-org ids <-> sandbox ids, learned as they show up side by side."""

    def __init__(self) -> None:
        self.to_sandbox: dict[str, str] = {}
        self.to_recorded: dict[str, str] = {}

    def learn(self, recorded: str, sandbox: str) -> bool:
        """Pair two ids; False if either is already paired with another id."""
        known = self.to_sandbox.get(recorded)
        if known is not None or sandbox in self.to_recorded:
            return known == sandbox and self.to_recorded.get(sandbox) == recorded
        self.to_sandbox[recorded] = sandbox
        self.to_recorded[sandbox] = recorded
        return True

    def translate(self, text: str) -> str:
        """Replace every known recorded id in a URL or body by its sandbox id."""
        return RECORDED_ID_IN_TEXT.sub(lambda m: self.to_sandbox.get(m[0], m[0]), text)


@dataclass(frozen=True)
class Difference:
    """Where a sandbox response departs from the recorded one."""

    path: str
    what: str
    recorded: Any = None
    sandbox: Any = None

    def __str__(self) -> str:
        where = self.path or "(body)"
        return f"{where}: {self.what} (recorded {self.recorded!r}, sandbox {self.sandbox!r})"


def pattern_of(path: str) -> str:
    """A comparison path with list indices folded: 'a[3].b' -> 'a[].b'."""
    return re.sub(r"\[\d+\]", "[]", path)


def _href_parts(href: str) -> tuple[str, str, str]:
    parts = urlsplit(href)
    return parts.netloc, parts.path, parts.query


class Comparer:
    """Compares recorded JSON with the sandbox's, learning id pairs on the way.

    ``value_free`` says, for a folded path, whether only the presence and JSON
    type of the value matter there (org-dependent values); keys are compared
    everywhere.
    """

    def __init__(self, ids: IdMap, value_free: Callable[[str], bool]) -> None:
        self.ids = ids
        self.value_free = value_free

    def compare(self, recorded: Any, sandbox: Any, path: str = "") -> list[Difference]:
        if isinstance(recorded, dict):
            if not isinstance(sandbox, dict):
                return [Difference(path, "type", type(recorded).__name__, type(sandbox).__name__)]
            return self._compare_dicts(recorded, sandbox, path)
        if isinstance(recorded, list):
            if not isinstance(sandbox, list):
                return [Difference(path, "type", "list", type(sandbox).__name__)]
            return self._compare_lists(recorded, sandbox, path)
        return self._compare_scalars(recorded, sandbox, path)

    def _compare_dicts(
        self, recorded: dict[str, Any], sandbox: dict[str, Any], path: str
    ) -> list[Difference]:
        found: list[Difference] = []
        for key in sorted(recorded.keys() - sandbox.keys()):
            found.append(Difference(_join(path, key), "missing in sandbox", recorded[key]))
        for key in sorted(sandbox.keys() - recorded.keys()):
            found.append(Difference(_join(path, key), "only in sandbox", None, sandbox[key]))
        for key in recorded.keys() & sandbox.keys():
            found.extend(self.compare(recorded[key], sandbox[key], _join(path, key)))
        return found

    def _compare_lists(
        self, recorded: list[Any], sandbox: list[Any], path: str
    ) -> list[Difference]:
        found: list[Difference] = []
        if len(recorded) != len(sandbox):
            found.append(Difference(path, "length", len(recorded), len(sandbox)))
        for index, (rec, got) in enumerate(zip(recorded, sandbox, strict=False)):
            found.extend(self.compare(rec, got, f"{path}[{index}]"))
        return found

    def _compare_scalars(self, recorded: Any, sandbox: Any, path: str) -> list[Difference]:
        if type(recorded) is not type(sandbox) and not (
            isinstance(recorded, int | float)
            and isinstance(sandbox, int | float)
            and not isinstance(recorded, bool)
            and not isinstance(sandbox, bool)
        ):
            return [Difference(path, "type", recorded, sandbox)]
        if isinstance(recorded, str):
            return self._compare_strings(recorded, sandbox, path)
        if recorded != sandbox and not self.value_free(pattern_of(path)):
            return [Difference(path, "value", recorded, sandbox)]
        return []

    def _compare_strings(self, recorded: str, sandbox: str, path: str) -> list[Difference]:
        if RECORDED_ID.match(recorded):
            if not OKTA_ID.match(sandbox):
                return [Difference(path, "not an id", recorded, sandbox)]
            if not self.ids.learn(recorded, sandbox):
                return [
                    Difference(path, "different object", self.ids.to_sandbox.get(recorded), sandbox)
                ]
            return []
        if TIMESTAMP.match(recorded):
            return (
                []
                if TIMESTAMP.match(sandbox)
                else [Difference(path, "timestamp", recorded, sandbox)]
            )
        if path.endswith(".href") and recorded.startswith("https://"):
            return self._compare_hrefs(recorded, sandbox, path)
        if recorded != sandbox and not self.value_free(pattern_of(path)):
            return [Difference(path, "value", recorded, sandbox)]
        return []

    def _compare_hrefs(self, recorded: str, sandbox: str, path: str) -> list[Difference]:
        host, rec_path, rec_query = _href_parts(recorded)
        if host != RECORDED_HOST:
            return []  # CDN logos and admin-console pages: not the API's business
        _, got_path, got_query = _href_parts(sandbox)
        rec_segments, got_segments = rec_path.split("/"), got_path.split("/")
        if len(rec_segments) != len(got_segments):
            return [Difference(path, "link", rec_path, got_path)]
        for rec, got in zip(rec_segments, got_segments, strict=True):
            if RECORDED_ID.match(rec) and OKTA_ID.match(got):
                if not self.ids.learn(rec, got):
                    return [Difference(path, "link to a different object", recorded, sandbox)]
            elif rec != got:
                return [Difference(path, "link", rec_path, got_path)]
        if self.ids.translate(rec_query) != got_query:
            return [Difference(path, "link query", rec_query, got_query)]
        return []


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
