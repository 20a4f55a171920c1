"""A corpus of invalid params files: each is refused, naming its field, before any request.

``tests/data/bad_params/<runbook>/<case>.yaml`` holds one wrong params file per
case and ``manifest.yaml`` the field its error must name. Every case goes
through the runner's validation path (:func:`kmsi_lib.runbooks.params.load_run_params`
and :func:`kmsi_lib.runbooks.run.run_notebook` against a served sandbox), and a
sample through ``kmsi run`` in a subprocess: exit 2, the field named, no
traceback, no request to the org and no evidence written.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from runbook_support import served_sandbox

from kmsi_lib.errors import ParameterError
from kmsi_lib.runbooks import run as runner
from kmsi_lib.runbooks.params import load_run_params
from kmsi_lib.sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).parent / "data" / "bad_params"
MANIFEST: dict[str, dict[str, str]] = yaml.safe_load((CORPUS / "manifest.yaml").read_text())
NOTEBOOKS = {p.stem.split("_", 1)[1]: p for p in (ROOT / "notebooks").glob("[0-9]*_*.ipynb")}

# One case per runbook plus the loader's own refusals, through the real command line.
SUBPROCESS_SAMPLE = [
    "post_auth/prompt-frequency-zero",
    "post_auth/duplicate-key",
    "post_auth/alias-bomb",
    "post_auth/deep-nesting",
    "post_auth/utf-16",
    "pre_auth/factor-lifetime-billion",
    "prompt_text/title-100-kilobytes",
    "reset_sessions/users-file-latin-1",
    "audit/max-prompt-frequency-9999-years",
    "rollback/force-objects-101",
]

_rejected: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def _summary(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print how many bad inputs were refused before anything reached the org."""
    yield
    from reliability import COUNTS

    COUNTS["bad inputs: params files"] += len(MANIFEST)
    COUNTS["bad inputs: rejected before any request"] += len(_rejected)
    line = f"bad inputs rejected before write: {len(_rejected)}/{len(MANIFEST)}"
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if capture is None:  # pragma: no cover - running without pytest's capture plugin
        print(line)
        return
    with capture.global_and_fixture_disabled():
        print(f"\n{line}")


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Sandbox, str]]:
    yield from served_sandbox()


@pytest.fixture
def in_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative paths in a case (``users_file``) are relative to the corpus directory."""
    monkeypatch.chdir(CORPUS)


def _case(key: str) -> tuple[Path, Path, dict[str, str]]:
    runbook = key.split("/", 1)[0]
    return NOTEBOOKS[runbook], CORPUS / f"{key}.yaml", MANIFEST[key]


def _assert_names(error: ParameterError, expected: dict[str, str]) -> None:
    assert error.field == expected["field"], str(error)
    if "says" in expected:
        assert expected["says"] in error.message, str(error)


def test_the_corpus_is_large_and_complete() -> None:
    """At least 60 cases, every runbook covered, and every file listed in the manifest."""
    files = {str(p.relative_to(CORPUS).with_suffix("")) for p in CORPUS.glob("*/*.yaml")}
    assert files == set(MANIFEST)
    assert len(MANIFEST) >= 60
    assert {key.split("/")[0] for key in MANIFEST} == set(NOTEBOOKS)


@pytest.mark.usefixtures("in_corpus")
@pytest.mark.parametrize("key", sorted(MANIFEST))
def test_refused_naming_the_field_before_any_request(
    key: str, served: tuple[Sandbox, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox, url = served
    notebook, params, expected = _case(key)
    started = time.monotonic()
    with pytest.raises(ParameterError) as loaded:
        load_run_params(notebook, params)
    assert time.monotonic() - started < 1.0, "validation takes under a second"
    _assert_names(loaded.value, expected)

    monkeypatch.setenv("OKTA_ORG_URL", url)
    monkeypatch.setenv("OKTA_API_TOKEN", sandbox.token)
    sandbox.admin.clear_requests()
    evidence_root = tmp_path / "evidence"
    with pytest.raises(ParameterError) as run:
        runner.run_notebook(notebook, params, evidence_root=evidence_root, progress=False)
    _assert_names(run.value, expected)
    assert sandbox.admin.requests() == [], "validation precedes connecting"
    assert not evidence_root.exists(), "nothing was recorded for a refused run"
    _rejected.append(key)


def _kmsi(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kmsi_lib.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


@pytest.fixture
def cli_env(served: tuple[Sandbox, str]) -> dict[str, str]:
    sandbox, url = served
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKTA_")}
    env.update(
        OKTA_ORG_URL=url,
        OKTA_API_TOKEN=sandbox.token,
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]),
    )
    return env


@pytest.mark.slow
@pytest.mark.parametrize("key", SUBPROCESS_SAMPLE)
def test_kmsi_run_exits_2_without_a_traceback(
    key: str, served: tuple[Sandbox, str], cli_env: dict[str, str], tmp_path: Path
) -> None:
    sandbox, _ = served
    notebook, params, expected = _case(key)
    sandbox.admin.clear_requests()
    started = time.monotonic()
    done = _kmsi(
        "run",
        str(notebook),
        "-f",
        str(params),
        "--evidence-root",
        str(tmp_path / "evidence"),
        "--no-progress",
        env=cli_env,
        cwd=CORPUS,
    )
    assert time.monotonic() - started < 30
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert f"refused, nothing was run: {expected['field']}:" in done.stderr
    assert sandbox.admin.requests() == []
    assert not (tmp_path / "evidence").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "words"),
    [
        pytest.param(["--timeout", "-5"], "--timeout: must be 1 to", id="negative-timeout"),
        pytest.param(["--timeout", "0"], "--timeout: must be 1 to", id="zero-timeout"),
        pytest.param(["--timeout", "soon"], "whole number of seconds", id="timeout-words"),
    ],
)
def test_kmsi_run_refuses_a_bad_timeout(
    args: list[str], words: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    params = ROOT / "params" / "sandbox" / "audit.yaml"
    done = _kmsi(
        "run", str(NOTEBOOKS["audit"]), "-f", str(params), *args, env=cli_env, cwd=tmp_path
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert words in done.stderr


@pytest.mark.slow
def test_kmsi_run_refuses_a_directory_as_params(cli_env: dict[str, str], tmp_path: Path) -> None:
    done = _kmsi("run", str(NOTEBOOKS["audit"]), "-f", str(CORPUS), env=cli_env, cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "is a directory" in done.stderr


def test_run_notebook_refuses_a_non_positive_timeout(tmp_path: Path) -> None:
    with pytest.raises(ParameterError) as err:
        runner.run_notebook(
            NOTEBOOKS["audit"],
            ROOT / "params" / "sandbox" / "audit.yaml",
            evidence_root=tmp_path,
            timeout=-5,
        )
    assert err.value.field == "timeout"
