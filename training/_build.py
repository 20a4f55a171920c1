"""Build the training notebooks from their reviewable sources in ``training/src/``.

``training/jupytext.toml`` pairs each ``notebooks/NAME.ipynb`` with ``src/NAME.py`` in
jupytext's percent format. Like ``notebooks/_build.py``, this adds kernelspec ``python3``,
``metadata.kmsi.training`` (the exercise key, or ``start``) and stable cell ids
``<stem>-NN``; notebooks are committed without outputs.

    python training/_build.py          # write every notebook
    python training/_build.py --check  # exit 1 if a notebook differs from its source
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext
from nbformat import NotebookNode

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "src"
NOTEBOOKS = HERE / "notebooks"
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def key_of(path: Path) -> str:
    """``E1_post_auth_two_apps.py`` -> ``E1``; ``00_start_here.py`` -> ``start``."""
    head = path.stem.split("_", 1)[0]
    return head if head.startswith("E") else "start"


def build(source: Path) -> NotebookNode:
    """The notebook for one source file."""
    notebook = jupytext.read(source, fmt="py:percent")
    notebook.metadata = NotebookNode(
        kernelspec=KERNELSPEC, language_info={"name": "python"}, kmsi={"training": key_of(source)}
    )
    for index, cell in enumerate(notebook.cells):
        cell.id = f"{source.stem}-{index:02d}"
    return notebook


def render(notebook: NotebookNode) -> str:
    """The notebook file's text, as Jupyter writes it."""
    return jupytext.writes(notebook, fmt="ipynb").rstrip("\n") + "\n"


def targets() -> dict[Path, str]:
    """Every notebook path and the text it should have."""
    return {
        NOTEBOOKS / f"{src.stem}.ipynb": render(build(src)) for src in sorted(SOURCES.glob("*.py"))
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report notebooks out of date")
    args = parser.parse_args(argv)
    stale = []
    for path, text in targets().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path.name)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print("out of date (run python training/_build.py): " + ", ".join(stale))
        return 1
    if not args.check:
        print(f"wrote {len(stale)} notebook(s)" if stale else "notebooks up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
