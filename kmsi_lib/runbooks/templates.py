"""The template guard: ``kmsi run`` runs a committed runbook only as it was committed.

``kmsi_lib/runbooks/templates.json`` (package data, written by ``python
notebooks/_build.py`` and checked by ``_build.py --check``) maps the file name of
each committed runbook (``notebooks/NN_name.ipynb``) to its *template digest*.
Before anything else, :func:`check_template` compares the notebook about to run
with the entry for its file name and refuses one that differs, so that a copy
edited in JupyterLab (a trainee's ``interactive = True``, a changed cell) cannot
be run as if it were the reviewed runbook.

The template digest is the sha256 of the canonical JSON
(:func:`kmsi_lib.evidence.canonical_json`) of what decides what a notebook does::

    {"kernel": metadata.kernelspec.name,
     "kmsi": metadata.kmsi,                      # the procedure it runs
     "cells": [{"cell_type", "source", "tags"}]} # source joined into one string

Outputs, execution counts, cell ids, other cell metadata and other notebook
metadata (``language_info``, widget state, papermill's record) are left out: a
notebook that was run and saved keeps its digest. Cells tagged
``injected-parameters`` are left out too, as papermill replaces them on every
run; an executed copy from the evidence therefore matches its template.

Which notebooks are checked: one whose file name is in the manifest, and any
other named like a runbook (``NN_*.ipynb``: a JupyterLab "Copy1", say), which is
refused as not committed. Other notebooks (test fixtures) are not runbook
templates and are not checked. The byte hash ``template_sha256`` that the
evidence records (:class:`kmsi_lib.evidence.RunMeta`) is unchanged by this.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

from kmsi_lib.errors import ConfigError, ParameterError
from kmsi_lib.evidence import canonical_json, sha256_bytes
from kmsi_lib.jsontypes import JsonMap, JsonObject, JsonValue, arr, dig, obj

__all__ = [
    "MANIFEST",
    "RUNBOOK_NAME",
    "check_template",
    "load_manifest",
    "manifest_for",
    "render_manifest",
    "template_digest",
]

#: The committed runbooks' digests, by file name (package data).
MANIFEST = Path(__file__).with_name("templates.json")

#: The file names of runbooks: two digits, an underscore, a name.
RUNBOOK_NAME = re.compile(r"^\d\d_[^/]*\.ipynb$")

#: Papermill's tag of the cell it injects (and replaces on every run).
INJECTED_TAG = "injected-parameters"


def _joined(source: object) -> str:
    return "".join(source) if isinstance(source, list) else str(source or "")


def template_digest(notebook: JsonMap) -> str:
    """The template digest of a notebook's JSON (see the module docstring for what counts)."""
    metadata = obj(notebook.get("metadata"))
    cells: list[JsonValue] = []
    for cell in arr(notebook.get("cells")):
        tags = list(arr(dig(cell, "metadata", "tags")))
        if INJECTED_TAG in tags:
            continue
        cells.append(
            {
                "cell_type": dig(cell, "cell_type"),
                "source": _joined(dig(cell, "source")),
                "tags": tags,
            }
        )
    form: JsonObject = {
        "kernel": dig(metadata, "kernelspec", "name"),
        "kmsi": metadata.get("kmsi"),
        "cells": cells,
    }
    return sha256_bytes(canonical_json(form).encode("utf-8"))


def manifest_for(notebooks: Mapping[str, JsonMap]) -> dict[str, str]:
    """The manifest of some notebooks (file name -> its JSON): file name -> digest, sorted."""
    return {name: template_digest(nb) for name, nb in sorted(notebooks.items())}


def render_manifest(manifest: Mapping[str, str]) -> str:
    """The manifest file's text (stable: sorted keys, one entry a line)."""
    return json.dumps(dict(manifest), indent=1, sort_keys=True) + "\n"


def load_manifest(path: Path = MANIFEST) -> dict[str, str]:
    """The committed runbooks' digests; ConfigError when the manifest is missing or broken."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot read the runbook manifest {path} ({exc}); run python notebooks/_build.py"
        ) from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ConfigError(f"{path} is not a runbook manifest (file name -> sha256)")
    return dict(data)


def _fresh_copy_hint(name: str) -> str:
    return (
        f"get a fresh copy with `git checkout notebooks/{name}` (in the repository) or"
        " `kmsi lab --trainee NAME --reset` (in a trainee's workspace)"
    )


def check_template(notebook: Path, manifest: Mapping[str, str] | None = None) -> str | None:
    """Refuse a runbook that differs from its committed template; its digest if it is one.

    Returns None for a notebook that is not named like a runbook (not checked).
    Raises :class:`~kmsi_lib.errors.ParameterError` (field ``notebook``) naming
    the file when it differs from the committed runbook of that name, or when a
    runbook-like name is not one of the committed runbooks. A file that cannot
    be read is left to the parameter checks, which say so.
    """
    path = Path(notebook)
    if not RUNBOOK_NAME.match(path.name):
        return None
    known = load_manifest() if manifest is None else manifest
    if path.name not in known:
        raise ParameterError(
            "notebook",
            f"{path} is not one of the committed runbooks ({', '.join(sorted(known))});"
            " kmsi run runs only those, as committed",
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    digest = template_digest(data if isinstance(data, dict) else {})
    if digest != known[path.name]:
        raise ParameterError(
            "notebook",
            f"{path} differs from the committed runbook {path.name} (a cell, its tags or the"
            " kernel was changed, e.g. interactive = True saved from JupyterLab); kmsi run"
            f" runs only committed runbooks: {_fresh_copy_hint(path.name)}",
        )
    return digest
