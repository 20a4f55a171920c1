"""Canary secrets: a known API token and an OAuth private key never reach evidence or output.

Runs ``kmsi run`` (in-process, so its stdout/stderr and the kernels' stderr are
captured) against the sandbox served over loopback, with a canary SSWS token
and then with an OAuth service app whose key is generated here, across a
successful run and a failed one (a fault injected), and searches every evidence
file, the ledger and the captured output for the secrets in every encoding the
secret scan knows, plus the access tokens the sandbox issued to the kernel.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from key_forms import jwk_of, pem_of

from kmsi_lib import evidence, runner
from kmsi_lib.procedures import REGISTRY

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "20_post_auth.ipynb"
PARAMS = ROOT / "params" / "sandbox" / "post_auth.yaml"
CANARY = "canary-" + secrets.token_urlsafe(30)
CLIENT_ID = "0oaCanaryRunbooks01"
OKTA_VARS = ("OKTA_API_TOKEN", "OKTA_CLIENT_ID", "OKTA_PRIVATE_KEY_FILE", "OKTA_PRIVATE_KEY_JWK",
             "OKTA_CLIENT_TOKEN", "OKTA_CLIENT_ORGURL", "OKTA_KEY_ID", "OKTA_DPOP")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Any, str]]:
    from kmsi_lib.sandbox import Sandbox

    sb = Sandbox(seed="default", token=CANARY)
    with sb.serve(port=0) as url:
        yield sb, url


@pytest.fixture
def sb(served: tuple[Any, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    sandbox, url = served
    sandbox.admin.reset("default")
    sandbox.admin.clear_faults()
    for name in OKTA_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OKTA_ORG_URL", url)
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
    sb.admin.add_fault({"match": {"method": "PUT", "path": "/api/v1/policies/*"},
                        "status": 403, "count": 100})


def _kmsi_run(root: Path, mode: str, capfd: pytest.CaptureFixture[str]) -> tuple[int, str]:
    args = [str(NOTEBOOK), "-f", str(PARAMS), "--mode", mode, "--evidence-root", str(root),
            "--no-progress"]
    if mode == "apply":
        args += ["--change", "CHG-CANARY"]
    code = runner.run_main(args)
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
    scopes = sorted({s for name in REGISTRY for s in REGISTRY[name].SCOPES})
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
