"""Real Okta traffic recorded by terraform-provider-okta (go-vcr v2 cassettes), as plain data.

``load_recordings()`` parses every ``*.yaml`` cassette under
``../shared/okta/recordings`` once per process. Each interaction keeps the
request (method, URL, body) and the real response (status, body, headers);
the JSON bodies are decoded lazily.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

RECORDINGS_DIR = Path(
    os.environ.get(
        "KMSI_OKTA_RECORDINGS", Path(__file__).resolve().parents[2] / "shared/okta/recordings"
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
