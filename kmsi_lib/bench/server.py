"""The sandbox in a process of its own, on loopback, and the admin calls the bench makes.

The org runs as ``python -m kmsi_lib.sandbox`` (its own interpreter, so its
CPU and GIL are not the client's, as with a real org); the bench reads the two
``export`` lines it prints and then sets latency, buckets and objects through
``/_sandbox/`` (admin calls take no latency and are not logged).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from types import TracebackType

import httpx

from kmsi_lib.errors import ConfigError
from kmsi_lib.jsontypes import JsonObject, JsonValue, arr, obj

__all__ = ["SandboxProcess", "child_env"]

_STARTUP_LINES = 2


def child_env(url: str, token: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a measured child process: this one's, pointed at the sandbox.

    Other ``OKTA_*`` variables (an OAuth client, a real org) are dropped, so that a
    child can only ever talk to the sandbox; ``KMSI_INTERACTIVE`` too (headless runs).
    """
    env = {
        k: v
        for k, v in (os.environ if base is None else base).items()
        if not k.startswith("OKTA_") and k != "KMSI_INTERACTIVE"
    }
    env["OKTA_ORG_URL"] = url
    env["OKTA_API_TOKEN"] = token
    return env


class SandboxProcess:
    """``python -m kmsi_lib.sandbox`` started on 127.0.0.1 and stopped on exit.

    ``with SandboxProcess() as sb: sb.url, sb.token, sb.set_latency(100, 20), ...``
    """

    def __init__(self, *, seed: str = "default") -> None:
        self.seed = seed
        self.url = ""
        self.token = ""
        self._proc: subprocess.Popen[str] | None = None
        self._admin: httpx.Client | None = None

    def __enter__(self) -> SandboxProcess:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start the process and read its URL and token from its first two lines."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("OKTA_")}
        self._proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "kmsi_lib.sandbox", "--port", "0", "--seed", self.seed],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        found: dict[str, str] = {}
        assert self._proc.stdout is not None  # noqa: S101 - stdout=PIPE above
        for _ in range(_STARTUP_LINES):
            line = self._proc.stdout.readline().strip()
            name, _, value = line.removeprefix("export ").partition("=")
            found[name] = value
        if not found.get("OKTA_ORG_URL") or not found.get("OKTA_API_TOKEN"):
            self.stop()
            raise ConfigError("the sandbox process did not print its URL and token")
        self.url, self.token = found["OKTA_ORG_URL"], found["OKTA_API_TOKEN"]
        self._admin = httpx.Client(base_url=self.url, timeout=120.0, trust_env=False)

    def stop(self) -> None:
        """Stop the process we started (SIGTERM, then SIGKILL after 10 s)."""
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc is not None and self._proc.stdout is not None:
            self._proc.stdout.close()
        self._proc = None

    # ---- admin calls ---------------------------------------------------------------------
    def _call(self, method: str, path: str, body: JsonValue = None) -> JsonValue:
        if self._admin is None:
            raise ConfigError("the sandbox process is not running")
        response = self._admin.request(method, path, json=body)
        response.raise_for_status()
        if response.status_code == 204 or not response.content:
            return None
        data: JsonValue = response.json()  # the sandbox's own JSON (a boundary)
        return data

    def reset(self, seed: str | None = None) -> None:
        """A fresh copy of the seed (faults and rate limits are the process's, kept)."""
        self._call("POST", "/_sandbox/reset", {"seed": seed or self.seed})

    def set_latency(self, latency_ms: float, jitter_ms: float) -> None:
        """Every API request takes ``latency_ms`` ± ``jitter_ms`` (uniform) more."""
        self._call("DELETE", "/_sandbox/faults")
        if latency_ms > 0:
            self._call(
                "POST", "/_sandbox/faults", {"latency_ms": latency_ms, "jitter_ms": jitter_ms}
            )

    def set_bucket(
        self, bucket: str, limit: int, window_s: float, *, concurrency: int | None
    ) -> None:
        """Set (and so restart) one bucket, and the org's concurrency limit."""
        self._call(
            "PUT",
            "/_sandbox/rate-limits",
            {bucket: {"limit": limit, "window_s": window_s}, "concurrency": concurrency},
        )

    def requests(self) -> list[JsonObject]:
        """The request log, oldest first."""
        return [obj(e) for e in arr(self._call("GET", "/_sandbox/requests"))]

    def clear_requests(self) -> None:
        self._call("DELETE", "/_sandbox/requests")

    def bulk(self, body: JsonObject) -> JsonObject:
        """``POST /_sandbox/bulk``: groups, users and apps in one call; the ids made."""
        return obj(self._call("POST", "/_sandbox/bulk", body))

    def api(self, method: str, path: str, body: JsonValue = None) -> JsonValue:
        """One Okta API call with the sandbox's token (set-up only, e.g. policies)."""
        if self._admin is None:
            raise ConfigError("the sandbox process is not running")
        response = self._admin.request(
            method, path, json=body, headers={"Authorization": f"SSWS {self.token}"}
        )
        response.raise_for_status()
        data: JsonValue = response.json() if response.content else None  # Okta's JSON
        return data
