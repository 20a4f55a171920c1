"""Build the runbook notebooks from their reviewable sources in ``notebooks/src/``.

``notebooks/jupytext.toml`` pairs each ``NN_name.ipynb`` with ``src/NN_name.py`` in jupytext's
percent format (``# %%``, ``# %% [markdown]``, ``# %% tags=["parameters"]``). Jupytext does the
conversion; this script adds what a source without a metadata header does not carry:
kernelspec ``python3``, ``metadata.kmsi.procedure`` (``name`` from the file name) and cell ids
``<stem>-NN``, so a rebuild of an unchanged source leaves its notebook unchanged. Notebooks
are committed without outputs. It also writes the template guard's manifest,
``kmsi_lib/runbooks/templates.json`` (each notebook's template digest, by file name:
:mod:`kmsi_lib.runbooks.templates`), which ``kmsi run`` checks a runbook against.

    python notebooks/_build.py          # write every notebook
    python notebooks/_build.py --check  # exit 1 if a notebook (or the manifest) is out of date

``jupytext --sync notebooks/*.ipynb`` keeps an existing pair in step as well (after an edit in
JupyterLab, say); run this script afterwards so that new cells get their ids.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import jupytext
from nbformat import NotebookNode

HERE = Path(__file__).resolve().parent
# this checkout's kmsi_lib, not whichever one the interpreter has installed
sys.path.insert(0, str(HERE.parent))

from kmsi_lib.runbooks.templates import MANIFEST, manifest_for, render_manifest

SOURCES = HERE / "src"
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def procedure_of(path: Path) -> str:
    """``20_post_auth.py`` -> ``post_auth``."""
    return re.sub(r"^\d+_", "", path.stem)


def build(source: Path, kmsi: dict[str, str] | None = None) -> NotebookNode:
    """The notebook for one source file; ``kmsi`` is its ``metadata.kmsi`` (a runbook's
    procedure by default; training/_build.py passes its exercise key)."""
    notebook = jupytext.read(source, fmt="py:percent")
    notebook.metadata = NotebookNode(
        kernelspec=KERNELSPEC,
        language_info={"name": "python"},
        kmsi=kmsi if kmsi is not None else {"procedure": procedure_of(source)},
    )
    for index, cell in enumerate(notebook.cells):
        cell.id = f"{source.stem}-{index:02d}"
    return notebook


def render(notebook: NotebookNode) -> str:
    """The notebook file's text, as Jupyter writes it."""
    return jupytext.writes(notebook, fmt="ipynb").rstrip("\n") + "\n"


def targets() -> dict[Path, str]:
    """Every notebook path and the text it should have, then the manifest of their digests."""
    notebooks = {
        HERE / f"{src.stem}.ipynb": render(build(src)) for src in sorted(SOURCES.glob("*.py"))
    }
    manifest = manifest_for({path.name: json.loads(text) for path, text in notebooks.items()})
    return {**notebooks, MANIFEST: render_manifest(manifest)}


def sync(wanted: dict[Path, str], *, check: bool, command: str) -> int:
    """Write each file whose text differs (or with ``check`` only report them: exit 1)."""
    stale = []
    for path, text in wanted.items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path.name)
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if check and stale:
        print(f"out of date (run {command}): " + ", ".join(stale))
        return 1
    if not check:
        print(f"wrote {', '.join(stale)}" if stale else "notebooks up to date")
    return 0


def parse(argv: list[str] | None, doc: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report notebooks out of date")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv, __doc__ or "")
    return sync(targets(), check=args.check, command="python notebooks/_build.py")


if __name__ == "__main__":
    sys.exit(main())
