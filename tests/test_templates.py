"""The template guard's digest: what counts as changing a runbook, and what does not.

Running and saving a notebook (outputs, execution counts, widget state, papermill's
injected cell) keeps its digest; changing a cell's source, type or tags, the kernel
or the procedure changes it, and :func:`check_template` then refuses the file by name.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kmsi_lib.errors import ParameterError
from kmsi_lib.runbooks.templates import check_template, load_manifest, template_digest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
POST_AUTH = NOTEBOOKS / "20_post_auth.ipynb"

Edit = Callable[[dict[str, Any]], None]


def committed() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(POST_AUTH.read_text(encoding="utf-8"))
    return data


def parameters(nb: dict[str, Any]) -> dict[str, Any]:
    cell: dict[str, Any] = next(
        c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", [])
    )
    return cell


def _executed(nb: dict[str, Any]) -> None:
    for n, cell in enumerate(c for c in nb["cells"] if c["cell_type"] == "code"):
        cell["execution_count"] = n + 1
        cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["done\n"]}]
        cell["metadata"]["execution"] = {"iopub.status.idle": "2026-12-02T01:00:00Z"}
        cell["id"] = f"changed-{n}"
    nb["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nb["metadata"]["language_info"] = {"name": "python", "version": "3.11.9"}


def _papermill(nb: dict[str, Any]) -> None:
    index = nb["cells"].index(parameters(nb)) + 1
    injected = {
        "cell_type": "code",
        "metadata": {"tags": ["injected-parameters"]},
        "source": 'mode = "apply"\n',
        "outputs": [],
        "execution_count": None,
    }
    nb["cells"].insert(index, injected)
    nb["metadata"]["papermill"] = {"parameters": {"mode": "apply"}}


def _lines_as_one_string(nb: dict[str, Any]) -> None:
    for cell in nb["cells"]:
        cell["source"] = "".join(cell["source"])


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(_executed, id="outputs-counts-ids-widgets"),
        pytest.param(_papermill, id="papermill-injected-cell"),
        pytest.param(_lines_as_one_string, id="source-as-one-string"),
    ],
)
def test_running_and_saving_keeps_the_digest(edit: Edit) -> None:
    nb = committed()
    edit(nb)
    assert template_digest(nb) == template_digest(committed())


def _interactive(nb: dict[str, Any]) -> None:
    cell = parameters(nb)
    text = "".join(cell["source"]).replace("interactive: bool = False", "interactive: bool = True")
    cell["source"] = text


def _untagged(nb: dict[str, Any]) -> None:
    parameters(nb)["metadata"]["tags"] = []


def _markdown(nb: dict[str, Any]) -> None:
    nb["cells"][-1]["cell_type"] = "markdown"


def _kernel(nb: dict[str, Any]) -> None:
    nb["metadata"]["kernelspec"]["name"] = "other"


def _procedure(nb: dict[str, Any]) -> None:
    nb["metadata"]["kmsi"]["procedure"] = "pre_auth"


def _new_cell(nb: dict[str, Any]) -> None:
    nb["cells"].append({"cell_type": "code", "metadata": {}, "source": "print(1)"})


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(_interactive, id="parameter-default"),
        pytest.param(_untagged, id="parameters-tag-removed"),
        pytest.param(_markdown, id="cell-type"),
        pytest.param(_kernel, id="kernel"),
        pytest.param(_procedure, id="procedure"),
        pytest.param(_new_cell, id="cell-added"),
    ],
)
def test_an_edit_changes_the_digest_and_is_refused_by_name(edit: Edit, tmp_path: Path) -> None:
    nb = committed()
    edit(nb)
    assert template_digest(nb) != template_digest(committed())
    copy_path = tmp_path / POST_AUTH.name
    copy_path.write_text(json.dumps(nb))
    with pytest.raises(ParameterError) as refused:
        check_template(copy_path)
    message = str(refused.value)
    assert refused.value.field == "notebook"
    assert f"{copy_path} differs from the committed runbook 20_post_auth.ipynb" in message
    assert "git checkout notebooks/20_post_auth.ipynb" in message
    assert "kmsi lab --trainee NAME --reset" in message


def test_an_unchanged_or_executed_copy_elsewhere_passes(tmp_path: Path) -> None:
    """A trainee's copy (another folder, same name) is the runbook if its cells are."""
    plain = tmp_path / "t1" / POST_AUTH.name
    plain.parent.mkdir()
    plain.write_bytes(POST_AUTH.read_bytes())
    assert check_template(plain) == load_manifest()[POST_AUTH.name]
    nb = committed()
    _executed(nb)
    plain.write_text(json.dumps(nb, indent=2))
    assert check_template(plain) == load_manifest()[POST_AUTH.name]


def test_a_copy_named_like_a_runbook_but_not_one_is_refused(tmp_path: Path) -> None:
    """JupyterLab's Duplicate makes 20_post_auth-Copy1.ipynb: not a committed runbook."""
    duplicate = tmp_path / "20_post_auth-Copy1.ipynb"
    duplicate.write_bytes(POST_AUTH.read_bytes())
    with pytest.raises(ParameterError, match="is not one of the committed runbooks"):
        check_template(duplicate)


def test_other_notebooks_are_not_templates(tmp_path: Path) -> None:
    """Notebooks not named NN_*.ipynb (the runner's test fixtures) are not checked."""
    other = tmp_path / "ok.ipynb"
    nb = copy.deepcopy(committed())
    _interactive(nb)
    other.write_text(json.dumps(nb))
    assert check_template(other) is None
