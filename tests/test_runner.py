"""The runner on tiny fixture notebooks: validation first, evidence for every outcome, exit codes.

Each fixture notebook (``tests/fixtures/notebooks/``) is one behaviour: ``ok``
reports success, ``fails`` raises after reporting, ``leaks`` prints the token,
``unverified`` applies without verifying. No sandbox is needed: the notebooks
only write result.json.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kmsi_lib import cli, evidence
from kmsi_lib.errors import ConfigError, ParameterError
from kmsi_lib.runbooks import run as runner
from kmsi_lib.runbooks.contract import INTERACTIVE_ENV
from kmsi_lib.runbooks.kernel import kernel_environment
from kmsi_lib.sandbox import Sandbox

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"
TOKEN = "fake-runner-token-0123456789abcdef"

pytestmark = pytest.mark.slow


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Credentials in the environment (the kernel inherits them) and a params file."""
    for name in (
        "OKTA_CLIENT_ID",
        "OKTA_PRIVATE_KEY_FILE",
        "OKTA_PRIVATE_KEY_JWK",
        "OKTA_CLIENT_TOKEN",
        "OKTA_CLIENT_ORGURL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OKTA_ORG_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("OKTA_API_TOKEN", TOKEN)
    monkeypatch.setenv("KMSI_OPERATOR", "test-operator")
    params = tmp_path / "params.yaml"
    params.write_text("apps: {labels: [Payroll]}\nrule_name: KMSI for staff\n")
    return params


def _run(params: Path, tmp_path: Path, name: str = "ok", **kwargs: object) -> runner.RunReport:
    return runner.run_notebook(
        FIXTURES / f"{name}.ipynb",
        params,
        evidence_root=tmp_path / "evidence",
        progress=False,
        **kwargs,
    )  # type: ignore[arg-type]


def test_plan_run_records_evidence(env: Path, tmp_path: Path) -> None:
    """A successful plan exits 0 and its record holds who, what, where, and every file's hash."""
    report = _run(env, tmp_path)
    assert report.exit_code == 0 and report.outcome == "planned"
    assert report.run_dir is not None and report.run_dir.parent.name == "PLAN-ONLY"
    record = json.loads((report.run_dir / "record.json").read_text())
    assert record["status"] == "succeeded" and record["mode"] == "plan"
    assert record["operator"] == "test-operator"
    assert record["parameters"] == {"apps": {"labels": ["Payroll"]}, "rule_name": "KMSI for staff"}
    assert record["org"]["url"] == "http://127.0.0.1:9"
    assert record["notebook"]["template_sha256"] == evidence.sha256_file(FIXTURES / "ok.ipynb")
    assert record["journal"] == [{"method": "GET", "url": "/api/v1/policies", "status": 200}]
    assert set(record["files"]) == {"notebook.ipynb", "notebook.html", "report.html", "result.json"}
    executed = json.loads((report.run_dir / "notebook.ipynb").read_text())
    injected = executed["metadata"]["papermill"]["parameters"]
    assert injected["mode"] == "plan" and injected["rule_name"] == "KMSI for staff"
    from kmsi_lib.procedures import post_auth

    # every procedure parameter is injected (defaults filled in), so no value written in
    # the notebook's parameters cell can take part in the run
    assert set(post_auth.Params.model_fields) <= set(injected)
    assert injected["prompt_frequency"] == post_auth.Params.model_fields["prompt_frequency"].default
    assert TOKEN not in json.dumps(executed)
    assert evidence.verify(tmp_path / "evidence").ok


def test_failing_notebook_leaves_failed_evidence(env: Path, tmp_path: Path) -> None:
    """An exception in a cell: exit 1, evidence recorded and marked failed with the error."""
    report = _run(env, tmp_path, "fails", mode="apply", change_id="CHG-42")
    assert report.exit_code == runner.EXIT_FAILED
    assert report.run_dir is not None and report.run_dir.parent.name == "CHG-42"
    record = json.loads((report.run_dir / "record.json").read_text())
    assert record["status"] == "failed" and record["outcome"] == "failed"
    assert record["error"]["type"] == "RuntimeError"
    assert "the org said no" in record["error"]["message"]
    (entry,) = evidence.read_ledger(tmp_path / "evidence")
    assert entry["outcome"] == "failed" and entry["change_id"] == "CHG-42"
    assert evidence.verify(tmp_path / "evidence").ok


def test_unverified_apply_fails(env: Path, tmp_path: Path) -> None:
    """An apply whose verification did not pass is a failed run."""
    report = _run(env, tmp_path, "unverified", mode="apply", change_id="CHG-1")
    assert report.exit_code == runner.EXIT_FAILED
    assert report.record is not None
    assert report.record["error"]["type"] == "VerificationFailed"
    assert report.record["verification"]["ok"] is False


def test_leaked_token_quarantines_the_run(env: Path, tmp_path: Path) -> None:
    """A notebook that prints the token: its files are deleted and the exit code is 3."""
    report = _run(env, tmp_path, "leaks")
    assert report.exit_code == runner.EXIT_SECRET and report.run_dir is None
    root = tmp_path / "evidence"
    (entry,) = evidence.read_ledger(root)
    assert entry["kind"] == "quarantined"
    leftovers = [p for p in root.rglob("*") if p.is_file()]
    assert all(TOKEN not in p.read_text(errors="replace") for p in leftovers)
    assert not any((root / "PLAN-ONLY").glob("*"))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        pytest.param({"mode": "apply"}, "change", id="apply-without-change"),
        pytest.param({"mode": "apply", "change_id": "CHG 1; rm"}, "change", id="bad-change-id"),
        pytest.param({"mode": "apply", "change_id": "x"}, "change", id="not-the-org-pattern"),
        pytest.param({"mode": "destroy"}, "mode", id="bad-mode"),
        pytest.param({"approved_plan": Path("x")}, "approved-plan", id="plan-with-approval"),
    ],
)
def test_refused_before_any_kernel(
    env: Path, tmp_path: Path, kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(ParameterError) as info:
        _run(env, tmp_path, **kwargs)
    assert info.value.field == field
    assert not (tmp_path / "evidence").exists()


def test_bad_params_file_refused_by_cli(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """kmsi run exits 2 and names the field; nothing is recorded."""
    env.write_text("apps: {labels: [Payroll]}\nrule_name: KMSI\napi_token: abcdefgh\n")
    code = cli.main(
        [
            "run",
            str(FIXTURES / "ok.ipynb"),
            "-f",
            str(env),
            "--evidence-root",
            str(tmp_path / "evidence"),
        ]
    )
    assert code == runner.EXIT_USAGE
    err = capsys.readouterr().err
    assert "api_token" in err and "OKTA_API_TOKEN" in err and "nothing was run" in err
    assert not (tmp_path / "evidence").exists()


def test_missing_credentials_refused(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OKTA_API_TOKEN")
    with pytest.raises(ConfigError):
        _run(env, tmp_path)


def test_operator_name_prefers_kmsi_operator() -> None:
    assert runner.operator_name({"KMSI_OPERATOR": "bob"}) == "bob"
    assert runner.operator_name({}) != ""


def test_run_ids_sort_by_time_and_are_unique() -> None:
    ids = {runner.new_run_id("audit", "plan") for _ in range(50)}
    assert len(ids) == 50
    assert all(i[:8].isdigit() and "-audit-plan-" in i for i in ids)


def test_the_kernel_gets_absolute_key_file_paths_and_no_lab_flag(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The kernel runs in the run directory: a relative key path must still name the file;
    a run from a lab's terminal stays headless."""
    monkeypatch.chdir(tmp_path)
    given = {
        "OKTA_PRIVATE_KEY_FILE": "keys/service.pem",
        "OKTA_ORG_URL": "http://127.0.0.1:9",
        "KMSI_INTERACTIVE": "1",
    }
    assert kernel_environment(given) == {
        "OKTA_PRIVATE_KEY_FILE": str(tmp_path / "keys/service.pem"),
        "OKTA_ORG_URL": "http://127.0.0.1:9",
    }
    assert given["OKTA_PRIVATE_KEY_FILE"] == "keys/service.pem"  # this process's: unchanged


# ---------------------------------------------------------------- the template guard

ROOT = Path(__file__).resolve().parent.parent
AUDIT = ROOT / "notebooks" / "00_audit.ipynb"
AUDIT_PARAMS = ROOT / "params" / "sandbox" / "audit.yaml"


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """A sandbox on loopback, its URL and token in the environment, and KMSI_INTERACTIVE=1
    as in a terminal of ``kmsi lab``."""
    sandbox = Sandbox(seed="default")
    with sandbox.serve(port=0) as url:
        monkeypatch.setenv("OKTA_ORG_URL", url)
        monkeypatch.setenv("OKTA_API_TOKEN", sandbox.token)
        monkeypatch.setenv(INTERACTIVE_ENV, "1")
        yield sandbox


def test_an_edited_runbook_is_refused_before_any_request(
    served: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One cell changed (interactive = True saved from JupyterLab): exit 2, nothing sent."""
    nb = json.loads(AUDIT.read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    text = "".join(cell["source"])
    assert "interactive: bool = False" in text
    cell["source"] = text.replace("interactive: bool = False", "interactive: bool = True")
    edited = tmp_path / "t1" / AUDIT.name
    edited.parent.mkdir()
    edited.write_text(json.dumps(nb, indent=1))
    served.admin.clear_requests()
    code = cli.main(
        ["run", str(edited), "-f", str(AUDIT_PARAMS), "--evidence-root", str(tmp_path / "ev")]
    )
    assert code == runner.EXIT_USAGE
    err = capsys.readouterr().err
    assert "refused, nothing was run" in err
    assert f"{edited} differs from the committed runbook 00_audit.ipynb" in err
    assert "git checkout notebooks/00_audit.ipynb" in err
    assert served.admin.requests() == []
    assert not (tmp_path / "ev").exists()


def test_unchanged_and_executed_copies_run_headless_under_kmsi_interactive(
    served: Sandbox, tmp_path: Path
) -> None:
    """A trainee's unchanged copy runs (with KMSI_INTERACTIVE=1 it stays headless: a form
    would leave no outcome), and so does the executed notebook it left in its evidence."""
    copy = tmp_path / "t1" / AUDIT.name
    copy.parent.mkdir()
    copy.write_bytes(AUDIT.read_bytes())
    first = runner.run_notebook(
        copy, AUDIT_PARAMS, evidence_root=tmp_path / "evidence", progress=False
    )
    assert first.exit_code == runner.EXIT_OK, first.message
    assert first.outcome == "audited"
    assert first.run_dir is not None
    assert os.environ[INTERACTIVE_ENV] == "1", "the runner's own environment is restored"
    executed = json.loads((first.run_dir / "notebook.ipynb").read_text())
    assert any(c.get("outputs") for c in executed["cells"]), "it has outputs"
    copy.write_text(json.dumps(executed))
    again = runner.run_notebook(
        copy, AUDIT_PARAMS, evidence_root=tmp_path / "evidence", progress=False
    )
    assert again.exit_code == runner.EXIT_OK and again.outcome == "audited", again.message
