"""The runbook notebooks as files: signature, metadata, no outputs, no secrets, short cells."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest

from kmsi_lib.procedures import REGISTRY
from kmsi_lib.runbooks.params import check_no_secrets, notebook_info
from kmsi_lib.runbooks.runbook import ATTESTATION_PARAMETERS, RUNNER_PARAMETERS
from kmsi_lib.runbooks.templates import MANIFEST, check_template, load_manifest, template_digest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
EXPECTED = {"audit", "pre_auth", "post_auth", "prompt_text", "reset_sessions", "rollback"}
SECRET_NAME = re.compile(r"token|secret|passw|private|key|jwk|credential|assertion|bearer", re.I)
MAX_CODE_LINES = 15


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def source(cell: dict[str, Any]) -> str:
    return "".join(cell["source"])


def parameters_cell(nb: dict[str, Any]) -> dict[str, Any]:
    cells = [c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", [])]
    assert len(cells) == 1, "exactly one cell is tagged 'parameters'"
    return cells[0]


def defaults(path: Path) -> dict[str, Any]:
    """The parameters cell's default values (each a Python literal)."""
    return {name: ast.literal_eval(p.default) for name, p in notebook_info(path).parameters.items()}


def test_one_notebook_per_procedure() -> None:
    assert {load(p)["metadata"]["kmsi"]["procedure"] for p in PATHS} == EXPECTED
    assert len(PATHS) == len(EXPECTED)


def test_notebooks_are_built_from_their_sources() -> None:
    """The committed .ipynb files are exactly what notebooks/_build.py makes of src/*.py."""
    spec = importlib.util.spec_from_file_location("_build", NOTEBOOKS / "_build.py")
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    targets = build.targets()
    assert sorted(p for p in targets if p.suffix == ".ipynb") == PATHS
    assert set(targets) - set(PATHS) == {MANIFEST}, "and the template guard's manifest"
    for path, text in targets.items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name}: run notebooks/_build.py"


def test_the_template_manifest_names_every_committed_runbook_as_committed() -> None:
    """templates.json holds each runbook's digest, so kmsi run accepts every one unchanged."""
    manifest = load_manifest()
    assert sorted(manifest) == [p.name for p in PATHS]
    for path in PATHS:
        assert check_template(path) == manifest[path.name] == template_digest(load(path))


def test_jupytext_pairing_round_trips() -> None:
    """Written back through the pairing in notebooks/jupytext.toml, each notebook is its source
    byte for byte, so ``jupytext --sync`` in either direction changes nothing."""
    import jupytext
    from jupytext.config import load_jupytext_config

    config = load_jupytext_config(str(NOTEBOOKS))
    assert config is not None and config.formats == ["ipynb,src//py:percent"]
    for path in PATHS:
        text = jupytext.writes(jupytext.read(path), fmt="py:percent", config=config)
        assert text == (NOTEBOOKS / "src" / f"{path.stem}.py").read_text(encoding="utf-8")


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_metadata_kernel_and_procedure(path: Path) -> None:
    """Papermill needs the kernelspec; the runner finds the procedure in metadata.kmsi."""
    meta = load(path)["metadata"]
    assert meta["kernelspec"]["name"] == "python3"
    assert meta["kernelspec"]["language"] == "python"
    procedure = meta["kmsi"]["procedure"]
    assert procedure in REGISTRY
    assert path.stem.split("_", 1)[1] == procedure
    assert f'Runbook.start("{procedure}", globals())' in "".join(
        source(c) for c in load(path)["cells"]
    )


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_parameters_are_the_procedure_signature(path: Path) -> None:
    """Parameter names are the Params fields plus the runner's (and the attestation's)."""
    import papermill

    procedure = REGISTRY[load(path)["metadata"]["kmsi"]["procedure"]]
    wanted = set(procedure.params.model_fields) | set(RUNNER_PARAMETERS)
    if procedure.name == "pre_auth":  # the one plan with a manual (Admin Console) step
        wanted |= set(ATTESTATION_PARAMETERS)
    info = notebook_info(path)
    assert set(info.parameters) == wanted
    for param in info.parameters.values():
        assert param.type, f"{param.name} has a type annotation"
        assert param.help, f"{param.name} has a help comment"
    # papermill --help-notebook reads the same signature
    assert set(papermill.inspect_notebook(str(path))) == wanted
    values = defaults(path)
    assert values["mode"] == "plan" and values["interactive"] is False
    assert values["change_id"] == values["evidence_dir"] == values["approved_plan"] == ""


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_no_secret_is_a_parameter(path: Path) -> None:
    """No parameter can carry a credential: a secret-sounding name is at most a yes/no flag."""
    values = defaults(path)
    for name, value in values.items():
        if SECRET_NAME.search(name):  # e.g. oauth_tokens: whether to revoke them
            assert isinstance(value, bool), f"{name} looks like it holds a secret"
    check_no_secrets(values)  # the runner's own check on values (raises ParameterError)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_committed_without_outputs_and_cells_are_short(path: Path) -> None:
    import nbformat

    nbformat.validate(nbformat.read(str(path), as_version=4))  # the nbformat 4.5 schema
    nb = load(path)
    assert nb["cells"][0]["cell_type"] == "markdown"
    assert source(nb["cells"][0]).startswith("# ")
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        assert cell["outputs"] == [] and cell["execution_count"] is None
        if cell is not parameters_cell(nb):
            lines = [line for line in source(cell).splitlines() if line.strip()]
            assert len(lines) <= MAX_CODE_LINES, source(cell)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_every_step_is_explained(path: Path) -> None:
    """A markdown cell precedes every code cell after the parameters."""
    cells = load(path)["cells"]
    start = cells.index(parameters_cell(load(path)))
    for before, cell in zip(cells[start:], cells[start + 1 :], strict=False):
        if cell["cell_type"] == "code":
            assert before["cell_type"] == "markdown", source(cell)
    intro = source(cells[0]).lower()
    assert "mfa" in intro, "the intro states the security trade-off"


def test_a_notebook_starts_connected(tmp_path: Path) -> None:
    """A notebook's first step (Runbook.start) reads the cells' values and shows the org."""
    from kmsi_lib.okta.client import OktaClient
    from kmsi_lib.runbooks.display import Html
    from kmsi_lib.runbooks.runbook import Runbook
    from kmsi_lib.sandbox import Sandbox

    sb = Sandbox(seed="default")
    client = OktaClient.from_env(
        env={"OKTA_ORG_URL": "http://sandbox.okta.test", "OKTA_API_TOKEN": sb.token},
        transport=sb.transport(),
    )
    shown: list[object] = []
    namespace = {**defaults(NOTEBOOKS / "20_post_auth.ipynb"), "evidence_dir": str(tmp_path)}
    rb = Runbook.start("post_auth", namespace, client=client, display=shown.append)
    assert rb.name == "post_auth" and rb.mode == "plan" and rb.client is client
    assert rb.run.org is not None and rb.run.org.url == "http://sandbox.okta.test"
    assert len(shown) == 1 and isinstance(shown[0], Html)
    assert "Connected to http://sandbox.okta.test" in shown[0].to_text()
    assert json.loads((tmp_path / "result.json").read_text())["org"]["type"] == "Identity Engine"


@pytest.mark.parametrize("procedure", ["post_auth", "audit"])
def test_each_form_part_says_how_to_work_it(procedure: str, tmp_path: Path) -> None:
    """How to work a step's form is said once, under the step's heading in the form; no
    notebook repeats it (a notebook's step cells say what is particular to the procedure)."""
    import ipywidgets as w

    from kmsi_lib.runbooks.forms import GUIDANCE, READ_ONLY_GUIDANCE, RunbookForm
    from kmsi_lib.runbooks.runbook import Runbook

    rb = Runbook(procedure, params={}, evidence_dir=str(tmp_path), display=lambda _: None)
    guidance = GUIDANCE if rb.writes else READ_ONLY_GUIDANCE
    form = RunbookForm(rb)
    for step, box in form.steps.items():
        heading, *rest = box.children
        assert isinstance(heading, w.HTML) and heading.value.startswith("<h3>")
        if not guidance[step]:  # the audit has nothing to apply, and says so
            assert procedure == "audit" and step == "apply"
            continue
        guide = rest[0]
        assert isinstance(guide, w.HTML) and guidance[step] in guide.value, step
    said = [f"click **{button}**" for button in ("Plan", "Apply", "Verify")]
    for path in PATHS:
        prose = "".join(source(c) for c in load(path)["cells"] if c["cell_type"] == "markdown")
        assert not [s for s in said if s in " ".join(prose.split())], path.name


#: What each runbook refuses to guess: with no params file, the field that must be named.
UNNAMED_SELECTION = {
    "pre_auth": "groups",
    "post_auth": "apps",
    "prompt_text": "brands",
    "reset_sessions": "params",
    "rollback": "apply_result",
}


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_defaults_choose_nothing(path: Path, tmp_path: Path) -> None:
    """Run with no params file, a writing runbook refuses before any request, naming what to
    choose; only the read-only audit plans (its defaults are thresholds, not selections)."""
    from kmsi_lib.errors import ParameterError
    from kmsi_lib.okta.client import OktaClient
    from kmsi_lib.runbooks.runbook import Runbook
    from kmsi_lib.sandbox import Sandbox

    sb = Sandbox(seed="default")
    client = OktaClient.from_env(
        env={"OKTA_ORG_URL": "http://sandbox.okta.test", "OKTA_API_TOKEN": sb.token},
        transport=sb.transport(),
    )
    namespace = {**defaults(path), "evidence_dir": str(tmp_path)}
    procedure = load(path)["metadata"]["kmsi"]["procedure"]
    rb = Runbook.from_parameters(procedure, namespace, client=client, display=lambda _: None)
    if procedure == "audit":
        assert rb.plan() is not None
        assert json.loads((tmp_path / "result.json").read_text())["outcome"] == "audited"
        return
    with pytest.raises(ParameterError) as err:
        rb.plan()
    assert err.value.field == UNNAMED_SELECTION[procedure], str(err.value)
    assert [r for r in sb.admin.requests() if r["method"] != "GET"] == []


def test_training_notebooks_are_in_sync_with_their_sources() -> None:
    """training/notebooks/*.ipynb are what training/_build.py makes of training/src/*.py."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, str(NOTEBOOKS.parent / "training" / "_build.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
