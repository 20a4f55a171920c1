"""Canary secrets: a known API token and an OAuth private key never reach evidence or output.

Runs ``kmsi run`` (in-process, so its stdout/stderr and the kernels' stderr are
captured) against the sandbox served over loopback, with a canary SSWS token
and then with an OAuth service app whose key is generated here, across a
successful run and a failed one (a fault injected), and searches every evidence
file, the ledger and the captured output for the secrets in every encoding the
secret scan knows, plus the access tokens the sandbox issued to the kernel.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import string
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from key_forms import jwk_of, pem_of
from runbook_support import point_at_sandbox, served_sandbox

from kmsi_lib import cli, evidence
from kmsi_lib.procedures import REGISTRY
from kmsi_lib.runbooks import run as runner

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "20_post_auth.ipynb"
PARAMS = ROOT / "params" / "sandbox" / "post_auth.yaml"
CANARY = "canary-" + secrets.token_urlsafe(30)
CLIENT_ID = "0oaCanaryRunbooks01"
OKTA_VARS = (
    "OKTA_API_TOKEN",
    "OKTA_CLIENT_ID",
    "OKTA_PRIVATE_KEY_FILE",
    "OKTA_PRIVATE_KEY_JWK",
    "OKTA_CLIENT_TOKEN",
    "OKTA_CLIENT_ORGURL",
    "OKTA_KEY_ID",
    "OKTA_DPOP",
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Any, str]]:
    yield from served_sandbox(CANARY)


@pytest.fixture
def sb(served: tuple[Any, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    sandbox, url = served
    sandbox.admin.reset("default")
    sandbox.admin.clear_faults()
    point_at_sandbox(monkeypatch, url)
    return sandbox


def _everything(root: Path, captured: str) -> list[tuple[str, bytes]]:
    blobs = [(str(p.relative_to(root)), p.read_bytes()) for p in root.rglob("*") if p.is_file()]
    return [*blobs, ("<captured output>", captured.encode())]


def _assert_absent(secret_values: list[str], root: Path, captured: str) -> None:
    for secret in secret_values:
        for form, needle in evidence.secret_forms(secret):
            for name, data in _everything(root, captured):
                assert needle not in data, f"secret ({form}) found in {name}"


def _refuse_rule_writes(sb: Any) -> None:
    """Okta refuses every rule update with 403 (not retried, so the failure comes fast)."""
    sb.admin.add_fault(
        {"match": {"method": "PUT", "path": "/api/v1/policies/*"}, "status": 403, "count": 100}
    )


def _kmsi_run(root: Path, mode: str, capfd: pytest.CaptureFixture[str]) -> tuple[int, str]:
    args = [
        str(NOTEBOOK),
        "-f",
        str(PARAMS),
        "--mode",
        mode,
        "--evidence-root",
        str(root),
        "--no-progress",
    ]
    if mode == "apply":
        args += ["--change", "CHG-4242"]
    code = cli.main(["run", *args])
    out, err = capfd.readouterr()
    return code, out + err


def _plan_then_failed_apply(sb: Any, root: Path, capfd: pytest.CaptureFixture[str]) -> str:
    """A plan run that succeeds, then an apply run that Okta refuses; both runs' output."""
    code, output = _kmsi_run(root, "plan", capfd)
    assert code == 0, output
    _refuse_rule_writes(sb)
    code, more = _kmsi_run(root, "apply", capfd)
    assert code == runner.EXIT_FAILED, more
    return output + more


def test_api_token_canary_success_and_failure(
    sb: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OKTA_API_TOKEN", CANARY)
    root = tmp_path / "evidence"
    output = _plan_then_failed_apply(sb, root, capfd)
    outcomes = [e["outcome"] for e in evidence.read_ledger(root)]
    assert outcomes == ["planned", "failed"]
    # the sandbox saw the token: the runs really authenticated with the canary
    assert any(r.get("status") == 200 for r in sb.admin.requests())
    _assert_absent([CANARY], root, output)


def test_oauth_key_canary_success_and_failure(
    sb: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = jwk_of(key, "canary-key", public=True)
    scopes = sorted({s for name in REGISTRY for s in REGISTRY[name].scopes})
    sb.admin.register_client(CLIENT_ID, public, scopes)
    key_file = tmp_path / "app-key.pem"
    key_file.write_text(pem_of(key))
    monkeypatch.setenv("OKTA_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("OKTA_PRIVATE_KEY_FILE", str(key_file))
    monkeypatch.setenv("OKTA_KEY_ID", "canary-key")
    root = tmp_path / "evidence"
    output = _plan_then_failed_apply(sb, root, capfd)

    token_requests = [r for r in sb.admin.requests() if r["path"] == "/oauth2/v1/token"]
    assert token_requests and token_requests[0]["status"] == 200, "OAuth was really used"
    private = jwk_of(key)
    issued = list(sb.admin.snapshot()["tokens"])
    assert issued, "the access tokens the kernels used are among the secrets looked for"
    secret_values = [pem_of(key).strip(), *(private[m] for m in ("d", "p", "q", "dp", "dq", "qi"))]
    secret_values += [t for t in issued if len(t) >= 16]
    _assert_absent(secret_values, root, output)


# ---------------------------------------------------------------- configuration echoes
#
# A canary token put where configuration is read (each OKTA_* variable, swapped
# variables, the org URL's query, path, fragment, port and user info) never comes
# back in a message: not in stdout/stderr, a log record, an exception (str, repr,
# args, chained causes) or an evidence file.


def _okta_shaped_canary() -> str:
    """An Okta-API-token-shaped canary: "00" + 40 letters and digits, all three kinds."""
    alphabet = string.ascii_letters + string.digits
    body = "aZ9" + "".join(secrets.choice(alphabet) for _ in range(37))
    return "00" + body


TOKEN_CANARY = _okta_shaped_canary()
SANDBOX_TOKEN = "sandbox-" + secrets.token_urlsafe(24)
_ORG = "https://example.okta.com"

#: name -> the OKTA_* variables of one probe (all others unset).
CONFIG_PROBES: dict[str, dict[str, str]] = {
    "url-is-token": {"OKTA_ORG_URL": TOKEN_CANARY, "OKTA_API_TOKEN": _ORG},
    "sdk-url-is-token": {"OKTA_CLIENT_ORGURL": TOKEN_CANARY, "OKTA_CLIENT_TOKEN": _ORG},
    "url-query": {"OKTA_ORG_URL": f"{_ORG}/?token={TOKEN_CANARY}", "OKTA_API_TOKEN": "x" * 12},
    "url-query-bare": {"OKTA_ORG_URL": f"{_ORG}?{TOKEN_CANARY}", "OKTA_API_TOKEN": "x" * 12},
    "url-path": {"OKTA_ORG_URL": f"{_ORG}/{TOKEN_CANARY}", "OKTA_API_TOKEN": "x" * 12},
    "url-path-deep": {
        "OKTA_ORG_URL": f"{_ORG}/api/v1/{TOKEN_CANARY}/x",
        "OKTA_API_TOKEN": "x" * 12,
    },
    "url-fragment": {"OKTA_ORG_URL": f"{_ORG}/#{TOKEN_CANARY}", "OKTA_API_TOKEN": "x" * 12},
    "url-password": {
        "OKTA_ORG_URL": f"https://admin:{TOKEN_CANARY}@example.okta.com",
        "OKTA_API_TOKEN": "x" * 12,
    },
    "url-user": {
        "OKTA_ORG_URL": f"https://{TOKEN_CANARY}@example.okta.com",
        "OKTA_API_TOKEN": "x" * 12,
    },
    "url-port": {"OKTA_ORG_URL": f"{_ORG}:{TOKEN_CANARY}", "OKTA_API_TOKEN": "x" * 12},
    "url-plain-http-host": {
        "OKTA_ORG_URL": f"http://{TOKEN_CANARY}.example.com",
        "OKTA_API_TOKEN": "x" * 12,
    },
    "url-admin-host": {
        "OKTA_ORG_URL": f"https://{TOKEN_CANARY}-admin.okta.com",
        "OKTA_API_TOKEN": "x" * 12,
    },
    "url-not-a-url-with-token": {
        "OKTA_ORG_URL": f"example.okta.com/{TOKEN_CANARY}",
        "OKTA_API_TOKEN": TOKEN_CANARY,
    },
    "token-and-sdk-token-differ": {
        "OKTA_ORG_URL": _ORG,
        "OKTA_API_TOKEN": TOKEN_CANARY,
        "OKTA_CLIENT_TOKEN": TOKEN_CANARY[::-1],
    },
    "token-and-client-id": {
        "OKTA_ORG_URL": _ORG,
        "OKTA_API_TOKEN": TOKEN_CANARY,
        "OKTA_CLIENT_ID": "0oaCanary01",
    },
    "client-id-is-token": {"OKTA_ORG_URL": _ORG, "OKTA_CLIENT_ID": TOKEN_CANARY},
    "key-file-is-token": {
        "OKTA_ORG_URL": _ORG,
        "OKTA_CLIENT_ID": "0oaCanary01",
        "OKTA_PRIVATE_KEY_FILE": TOKEN_CANARY,
    },
    "key-file-path-segment": {
        "OKTA_ORG_URL": _ORG,
        "OKTA_CLIENT_ID": "0oaCanary01",
        "OKTA_PRIVATE_KEY_FILE": f"/nonexistent/{TOKEN_CANARY}/key.pem",
    },
    "key-jwk-is-token": {
        "OKTA_ORG_URL": _ORG,
        "OKTA_CLIENT_ID": "0oaCanary01",
        "OKTA_PRIVATE_KEY_JWK": TOKEN_CANARY,
    },
    "key-jwk-members": {
        "OKTA_ORG_URL": _ORG,
        "OKTA_CLIENT_ID": "0oaCanary01",
        "OKTA_PRIVATE_KEY_JWK": json.dumps({"kty": TOKEN_CANARY, "d": TOKEN_CANARY}),
    },
    "key-without-client": {"OKTA_ORG_URL": _ORG, "OKTA_PRIVATE_KEY_JWK": TOKEN_CANARY},
    "both-key-variables": {
        "OKTA_ORG_URL": _ORG,
        "OKTA_CLIENT_ID": "0oaCanary01",
        "OKTA_PRIVATE_KEY_JWK": TOKEN_CANARY,
        "OKTA_PRIVATE_KEY_FILE": TOKEN_CANARY[::-1],
    },
    "key-id-is-token": {
        "OKTA_ORG_URL": _ORG,
        "OKTA_CLIENT_ID": "0oaCanary01",
        "OKTA_KEY_ID": TOKEN_CANARY,
    },
    "dpop-is-token": {"OKTA_ORG_URL": _ORG, "OKTA_API_TOKEN": "", "OKTA_DPOP": TOKEN_CANARY},
    "ssws-prefixed-token-bad-url": {
        "OKTA_ORG_URL": "ftp://example.okta.com",
        "OKTA_API_TOKEN": f"SSWS {TOKEN_CANARY}",
    },
}


def _needles() -> list[bytes]:
    forms = [needle for _, needle in evidence.secret_forms(TOKEN_CANARY)]
    forms += [n for _, n in evidence.secret_forms(TOKEN_CANARY.lower())]
    return list(dict.fromkeys(forms))


NEEDLES = _needles()


def _leaks(text: str | bytes) -> bool:
    data = text.encode("utf-8", "replace") if isinstance(text, str) else text
    return any(needle in data for needle in NEEDLES)


def _exception_texts(exc: BaseException | None) -> list[str]:
    """str, repr and args of an exception and of every exception chained to it."""
    texts: list[str] = []
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        texts += [str(exc), repr(exc), *(repr(a) for a in exc.args)]
        texts += [repr(v) for v in vars(exc).values()] if hasattr(exc, "__dict__") else []
        exc = exc.__cause__ or exc.__context__
    return texts


class _Probes:
    """Counts the places looked at and names those where the canary showed."""

    def __init__(self) -> None:
        self.count = 0
        self.hits: list[str] = []

    def look(self, where: str, text: str | bytes) -> None:
        self.count += 1
        if _leaks(text):
            self.hits.append(where)


def _set_okta_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name in [n for n in os.environ if n.startswith("OKTA_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def _in_process(
    name: str, probes: _Probes, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """Credentials.from_env and OktaClient.from_env: exception texts, logs and output."""
    from kmsi_lib.okta.auth import Credentials
    from kmsi_lib.okta.client import OktaClient

    calls: list[tuple[str, Callable[[], object]]] = [
        ("Credentials.from_env", Credentials.from_env),
        ("OktaClient.from_env", lambda: OktaClient.from_env(scopes=("okta.policies.read",))),
        ("evidence.known_secrets", lambda: len(evidence.known_secrets())),
    ]
    for label, call in calls:
        caplog.clear()
        error: BaseException | None = None
        result: object = None
        try:
            result = call()
        except Exception as exc:  # noqa: BLE001  # every failure is a probe here
            error = exc
        if result is not None and label != "evidence.known_secrets":
            probes.look(f"{name}: repr({label}())", repr(result))
            with contextlib.suppress(Exception):
                result.close()  # type: ignore[attr-defined]
        for i, text in enumerate(_exception_texts(error)):
            probes.look(f"{name}: {label} exception text #{i}", text)
        probes.look(f"{name}: {label} log", "\n".join(r.getMessage() for r in caplog.records))
        out, err = capfd.readouterr()
        probes.look(f"{name}: {label} output", out + err)


def _kmsi(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("OKTA_")}
    full.update(env)
    full["PYTHONPATH"] = os.pathsep.join([str(ROOT), full.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "kmsi_lib.cli", *args],
        env=full,
        cwd=cwd,
        capture_output=True,
        timeout=240,
        check=False,
    )


def _look_at_run(
    where: str, proc: subprocess.CompletedProcess[bytes], root: Path, probes: _Probes
) -> None:
    probes.look(f"{where}: stdout", proc.stdout)
    probes.look(f"{where}: stderr", proc.stderr)
    for path in sorted(root.rglob("*")) if root.exists() else []:
        if path.is_file():
            probes.look(f"{where}: {path.relative_to(root)}", path.read_bytes())


def test_config_canary_never_echoed(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A token in any configuration variable or URL part shows in no message, log or file."""
    caplog.set_level(logging.DEBUG)
    probes = _Probes()
    for name, env in CONFIG_PROBES.items():
        _set_okta_env(monkeypatch, env)
        _in_process(name, probes, caplog, capfd)

    # `kmsi run` in plan mode, in a subprocess: refused before any kernel starts.
    for name, env in CONFIG_PROBES.items():
        root = tmp_path / f"evidence-{name}"
        proc = _kmsi(_plan_run(root), env, tmp_path)
        assert proc.returncode != 0, (name, proc.stdout, proc.stderr)
        _look_at_run(f"{name}: kmsi run", proc, root, probes)

    # Paths that read nothing from the environment but start with it set.
    every = {
        "OKTA_ORG_URL": f"https://u:{TOKEN_CANARY}@example.okta.com/?t={TOKEN_CANARY}",
        "OKTA_API_TOKEN": TOKEN_CANARY,
        "OKTA_CLIENT_ID": TOKEN_CANARY,
    }
    for args in (["--help"], ["lab", "--help"], ["run", "--help"], ["evidence", "--help"]):
        proc = _kmsi(args, every, tmp_path)
        _look_at_run(f"kmsi {' '.join(args)}", proc, tmp_path / "none", probes)

    print(f"canary hits: {len(probes.hits)} of {probes.count} probes")
    _count(probes)
    assert probes.hits == [], "\n".join(probes.hits)


def _plan_run(root: Path) -> list[str]:
    """``kmsi run`` of the post-auth runbook in plan mode, evidence under ``root``."""
    return ["run", str(NOTEBOOK), "-f", str(PARAMS), "--mode", "plan",
            "--evidence-root", str(root), "--no-progress"]  # fmt: skip


def _count(probes: Any) -> None:
    from reliability import COUNTS

    COUNTS["secrets: canary probes"] += probes.count
    COUNTS["secrets: canary hits"] += len(probes.hits)


def test_wrong_token_canary_run_against_sandbox(tmp_path: Path) -> None:
    """A real plan run that Okta refuses (wrong token, the canary): output and evidence clean."""
    from kmsi_lib.sandbox import Sandbox

    probes = _Probes()
    sb = Sandbox(seed="default", token=SANDBOX_TOKEN)
    with sb.serve(port=0) as url:
        for name, env in {
            "token-rejected": {"OKTA_ORG_URL": url, "OKTA_API_TOKEN": TOKEN_CANARY},
            "key-id-and-dpop": {
                "OKTA_ORG_URL": url,
                "OKTA_API_TOKEN": SANDBOX_TOKEN,
                "OKTA_KEY_ID": TOKEN_CANARY,
                "OKTA_DPOP": TOKEN_CANARY,
            },
        }.items():
            root = tmp_path / f"evidence-{name}"
            proc = _kmsi(_plan_run(root), env, tmp_path)
            assert (proc.returncode == 0) == (name == "key-id-and-dpop"), proc.stderr
            assert list(root.rglob("record.json")), "the run left evidence to look at"
            _look_at_run(f"{name}: kmsi run", proc, root, probes)
    print(f"canary hits: {len(probes.hits)} of {probes.count} probes")
    _count(probes)
    assert probes.hits == [], "\n".join(probes.hits)
