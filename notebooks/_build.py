"""Build the runbook notebooks from their reviewable sources in ``notebooks/src/``.

Each ``src/NN_name.py`` is Python with cell markers (the "percent" format)::

    # %% [markdown]
    # # Title
    # Some text.
    # %% tags=["parameters"]
    mode: str = "plan"  # plan | apply
    # %%
    rb.connect()

and becomes ``NN_name.ipynb`` with kernelspec ``python3``, no outputs, stable
cell ids, and ``metadata.kmsi.procedure`` set from the file name (``name``).

    python notebooks/_build.py          # write every notebook
    python notebooks/_build.py --check  # exit 1 if a notebook differs from its source
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "src"
_MARKER = re.compile(r"^# %%(?P<markdown> \[markdown\])?(?: tags=(?P<tags>\[.*\]))?\s*$")


def procedure_of(path: Path) -> str:
    """``20_post_auth.py`` -> ``post_auth``."""
    return re.sub(r"^\d+_", "", path.stem)


def _cell(kind: str, lines: list[str], tags: list[str], cell_id: str) -> dict[str, Any]:
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    if kind == "markdown":
        lines = [re.sub(r"^# ?", "", line) for line in lines]
    text = "\n".join(lines)
    source = [line + "\n" for line in text.split("\n")]
    source[-1] = source[-1].removesuffix("\n")
    metadata: dict[str, Any] = {"tags": tags} if tags else {}
    cell: dict[str, Any] = {"cell_type": kind, "id": cell_id, "metadata": metadata,
                            "source": source}
    if kind == "code":
        cell["execution_count"] = None
        cell["outputs"] = []
    return cell


def build(source: Path) -> dict[str, Any]:
    """The notebook (as JSON-ready dict) for one source file."""
    cells: list[dict[str, Any]] = []
    kind: str | None = None
    tags: list[str] = []
    lines: list[str] = []
    stem = source.stem

    def flush() -> None:
        if kind is not None:
            cells.append(_cell(kind, lines, tags, f"{stem}-{len(cells):02d}"))

    for line in source.read_text(encoding="utf-8").splitlines():
        match = _MARKER.match(line)
        if match:
            flush()
            kind = "markdown" if match["markdown"] else "code"
            tags = json.loads(match["tags"]) if match["tags"] else []
            lines = []
        elif kind is not None:
            lines.append(line)
    flush()
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
            "kmsi": {"procedure": procedure_of(source)},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def render(notebook: dict[str, Any]) -> str:
    """The notebook file's text, formatted as Jupyter writes it (indent 1, trailing newline)."""
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def targets() -> dict[Path, str]:
    """Every notebook path and the text it should have."""
    return {HERE / f"{src.stem}.ipynb": render(build(src)) for src in sorted(SOURCES.glob("*.py"))}


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
            path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print("out of date (run python notebooks/_build.py): " + ", ".join(stale))
        return 1
    if not args.check:
        print(f"wrote {len(stale)} notebook(s)" if stale else "notebooks up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
