"""Params files: loading, validation against the notebook and procedure, refusing secrets."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from fake_secrets import fake_pem, fake_token

from kmsi_lib.errors import ParameterError
from kmsi_lib.runbooks.params import (
    check_no_secrets,
    load_params_file,
    load_run_params,
    normalized_params,
    notebook_info,
    params_file_for,
    runbook_name,
    validate_params,
)

PARAMETERS_CELL = """\
mode: str = "plan"  # plan | apply
change_id: str = ""  # change ticket
evidence_dir: str = ""  # where result.json goes
approved_plan: str = ""  # approved plan JSON
interactive: bool = False  # forms in JupyterLab
apps: dict = {"labels": []}  # which apps
rule_name: str = "KMSI"  # rule to manage
prompt_frequency: str = "P30D"  # how often to ask
note: "Optional[str]" = None  # a notebook-only parameter (papermill reads quoted types)
"""


def _notebook(
    tmp_path: Path,
    name: str = "20_post_auth.ipynb",
    procedure: str | None = None,
    cell: str = PARAMETERS_CELL,
) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Py"}
    params_cell = nbformat.v4.new_code_cell(cell)
    params_cell.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Post-auth"), params_cell]
    if procedure:
        nb.metadata["kmsi"] = {"procedure": procedure}
    path = tmp_path / name
    nbformat.write(nb, str(path))
    return path


def _error(fn: Any, *args: Any) -> ParameterError:
    with pytest.raises(ParameterError) as info:
        fn(*args)
    return info.value


def test_names_map_notebook_to_params_file() -> None:
    assert runbook_name(Path("notebooks/20_post_auth.ipynb")) == "post_auth"
    assert runbook_name(Path("00_audit.ipynb")) == "audit"
    assert params_file_for(Path("notebooks/90_rollback.ipynb")) == Path(
        "params/sandbox/rollback.yaml"
    )


def test_notebook_info_reads_parameters_cell_and_metadata(tmp_path: Path) -> None:
    info = notebook_info(_notebook(tmp_path, "x_custom.ipynb", procedure="post_auth"))
    assert info.procedure == "post_auth" and info.name == "x_custom"
    assert info.parameters["rule_name"].type == "str"
    assert info.parameters["rule_name"].default == '"KMSI"'  # the cell's text
    assert info.parameters["prompt_frequency"].help == "how often to ask"
    assert notebook_info(_notebook(tmp_path)).procedure == "post_auth"  # from the file name


def test_papermill_is_imported_only_to_read_a_notebook(tmp_path: Path) -> None:
    """Papermill costs seconds to import: importing kmsi_lib.runbooks.params does not pay for it,
    reading a notebook's parameters does."""
    code = (
        "import sys, kmsi_lib, kmsi_lib.runbooks.params\n"
        "assert 'papermill' not in sys.modules, 'papermill imported at import time'\n"
        f"kmsi_lib.runbooks.params.notebook_info({str(_notebook(tmp_path))!r})\n"
        "assert 'papermill' in sys.modules\n"
    )
    subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parent.parent
    )


def test_notebook_without_a_kernelspec_is_refused(tmp_path: Path) -> None:
    """Papermill cannot run a notebook that names no kernel; the runner says so first."""
    path = _notebook(tmp_path)
    nb = nbformat.read(str(path), as_version=4)
    del nb.metadata["kernelspec"]
    nbformat.write(nb, str(path))
    err = _error(notebook_info, path)
    assert err.field == "notebook" and "kernelspec" in err.message


def test_valid_params_pass(tmp_path: Path) -> None:
    nb = _notebook(tmp_path)
    params = tmp_path / "p.yaml"
    params.write_text(
        "apps:\n  labels: [Payroll]\nrule_name: KMSI\nprompt_frequency: P7D\nnote: hello\n"
    )
    run = load_run_params(nb, params)
    assert run.procedure == "post_auth"
    assert run.values == {
        "apps": {"labels": ["Payroll"]},
        "rule_name": "KMSI",
        "prompt_frequency": "P7D",
        "note": "hello",
    }


@pytest.mark.parametrize(
    ("yaml_text", "field", "words"),
    [
        pytest.param("rule_nmae: x\n", "rule_nmae", "is not a parameter", id="unknown-key"),
        pytest.param("mode: apply\n", "mode", "--mode", id="runner-parameter"),
        pytest.param("change_id: CHG-1\n", "change_id", "--change", id="runner-change"),
        pytest.param(
            "apps: {labels: [a]}\nprompt_frequency: 30\n", "prompt_frequency", "", id="wrong-type"
        ),
        pytest.param(
            "apps: {labels: [a], colour: red}\n",
            "apps.colour",
            "not a parameter",
            id="unknown-nested-key",
        ),
        pytest.param("note: 5\n", "note", "must be Optional[str]", id="notebook-only-wrong-type"),
        pytest.param("- a\n- b\n", "params", "mapping", id="not-a-mapping"),
        pytest.param("rule_name: [unclosed\n", "params", "not valid YAML", id="bad-yaml"),
    ],
)
def test_bad_params_are_refused_with_the_field(
    tmp_path: Path, yaml_text: str, field: str, words: str
) -> None:
    params = tmp_path / "p.yaml"
    params.write_text(yaml_text)
    err = _error(load_run_params, _notebook(tmp_path), params)
    assert err.field == field
    assert words in err.message


def test_missing_files_are_parameter_errors(tmp_path: Path) -> None:
    assert "no such params file" in _error(load_params_file, tmp_path / "nope.yaml").message
    assert "no such notebook" in _error(notebook_info, tmp_path / "nope.ipynb").message


def test_unknown_procedure_in_metadata(tmp_path: Path) -> None:
    info = notebook_info(_notebook(tmp_path, procedure="kmsi_everything"))
    err = _error(validate_params, {}, info)
    assert err.field == "procedure" and "post_auth" in err.message


def test_empty_params_file_is_no_parameters(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("# nothing\n")
    assert load_params_file(path) == {}


# Credentials assembled at run time so no credential-shaped literal sits in the repository.
_JWT = ".".join(
    base64.urlsafe_b64encode(json.dumps(p).encode()).decode().rstrip("=")
    for p in ({"alg": "RS256"}, {"sub": "0oa1", "aud": "x"})
)
_PEM = fake_pem("MIIB").replace("PRIVATE", "RSA PRIVATE").strip()
_RANDOM = "q8Zr2LxV9mWb4NcT7yKp1HsD6gFj3QeA5uRt0oIw"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        pytest.param({"api_token": "abc"}, "api_token", id="key-token"),
        pytest.param({"okta": {"client_secret": "abc"}}, "okta.client_secret", id="nested-key"),
        pytest.param({"password": "hunter2"}, "password", id="key-password"),
        pytest.param({"private_key": "x" * 10}, "private_key", id="key-private-key"),
        pytest.param({"client_assertion": "x"}, "client_assertion", id="key-assertion"),
        pytest.param({"note": f"SSWS {fake_token(length=20)}"}, "note", id="ssws-value"),
        pytest.param({"note": f"Bearer {_JWT}"}, "note", id="bearer-value"),
        pytest.param({"users": ["a", _JWT + ".sig"]}, "users[1]", id="jwt-in-list"),
        pytest.param({"note": _PEM}, "note", id="pem"),
        pytest.param({"key": {"kty": "RSA", "n": "abc", "d": "secret"}}, "key", id="private-jwk"),
        pytest.param({"note": "00" + "a1B2c3D4" * 5}, "note", id="okta-token-shape"),
        pytest.param({"note": _RANDOM}, "note", id="high-entropy"),
    ],
)
def test_secrets_are_refused_and_point_to_the_environment(data: dict[str, Any], field: str) -> None:
    err = _error(check_no_secrets, data)
    assert err.field == field
    assert "OKTA_API_TOKEN" in err.message
    assert "hunter2" not in str(err) and _RANDOM not in str(err)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"oauth_tokens": True}, id="switch-named-token"),
        pytest.param({"groups": ["Everyone", "Contractors EMEA"]}, id="names"),
        pytest.param({"ids": ["0oa1b2c3d4e5f6g7h8i9", "00u1abcdEFGH2ijk3l4m"]}, id="okta-ids"),
        pytest.param(
            {
                "title": "Stay signed in? You will not be asked for MFA again on this "
                "device for 30 days."
            },
            id="prose",
        ),
        pytest.param({"prompt_frequency": "P30D", "reauthenticate_in": "PT12H"}, id="durations"),
        pytest.param(
            {"url": "https://example.okta.com/app/payroll/exk1a2b3c4d5e6f7g8h9/sso"}, id="url"
        ),
        pytest.param(
            {"apply_result": "evidence/CHG-1/20261129T051500Z-post_auth-apply-3f9a1c/result.json"},
            id="evidence-path",
        ),
        pytest.param({"names": ["Payroll-Application-Production-2026"]}, id="long-name"),
    ],
)
def test_ordinary_values_are_not_secrets(data: dict[str, Any]) -> None:
    check_no_secrets(data)


def test_normalized_params_fill_defaults() -> None:
    """Two params files that mean the same thing normalise to the same JSON."""
    short = normalized_params("post_auth", {"apps": {"labels": ["Payroll"]}})
    full = normalized_params(
        "post_auth", {"apps": {"labels": ["Payroll"], "ids": []}, "note": "not a procedure field"}
    )
    assert short == full
    assert short["apps"]["labels"] == ["Payroll"]


ROOT = Path(__file__).resolve().parent.parent
RUNBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("folder", ["sandbox", "examples"])
@pytest.mark.parametrize("notebook", RUNBOOKS, ids=[p.stem for p in RUNBOOKS])
def test_committed_params_files_validate_against_their_runbook(notebook: Path, folder: str) -> None:
    """Each runbook has a sandbox and an example params file, and both pass every check."""
    params = params_file_for(notebook, ROOT / "params" / folder)
    run = load_run_params(notebook, params)
    assert run.procedure == notebook_info(notebook).procedure
    assert run.values, f"{params} is empty"


def test_every_params_file_has_a_runbook() -> None:
    names = {runbook_name(p) for p in RUNBOOKS}
    assert len(names) == 6
    for folder in ("sandbox", "examples"):
        assert {p.stem for p in (ROOT / "params" / folder).glob("*.yaml")} == names


@pytest.mark.parametrize(
    "line",
    [
        pytest.param('api_token: "{secret}\n', id="unclosed-quote"),
        pytest.param("api_token: [{secret}\n", id="unclosed-flow"),
        pytest.param("note: {secret}\n  - oops: [\n", id="bad-indent"),
    ],
)
def test_malformed_yaml_error_does_not_quote_the_line(tmp_path: Path, line: str) -> None:
    """PyYAML quotes the broken line; that line may hold the very credential we refuse."""
    secret = "00" + "Zq7Kp2Lm9Xw4" * 3
    path = tmp_path / "p.yaml"
    path.write_text("rule_name: x\n" + line.format(secret=secret))
    err = _error(load_params_file, path)
    assert err.field == "params" and "not valid YAML" in err.message
    assert "line " in err.message
    assert secret[:10] not in str(err)
    assert err.__context__ is None and err.__cause__ is None
