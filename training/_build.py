"""Build the training notebooks from their reviewable sources in ``training/src/``.

``training/jupytext.toml`` pairs each ``notebooks/NAME.ipynb`` with ``src/NAME.py`` in
jupytext's percent format. With ``notebooks/_build.py``'s code, this adds kernelspec ``python3``,
``metadata.kmsi.training`` (the exercise key, or ``start``) and stable cell ids
``<stem>-NN``; notebooks are committed without outputs.

    python training/_build.py          # write every notebook
    python training/_build.py --check  # exit 1 if a notebook differs from its source
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "src"
NOTEBOOKS = HERE / "notebooks"

# the runbooks' build script does the conversion, metadata, cell ids and the sync
_spec = importlib.util.spec_from_file_location(
    "_runbooks_build", HERE.parent / "notebooks" / "_build.py"
)
assert _spec is not None and _spec.loader is not None
runbooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(runbooks)


def key_of(path: Path) -> str:
    """``E1_post_auth_two_apps.py`` -> ``E1``; ``00_start_here.py`` -> ``start``."""
    head = path.stem.split("_", 1)[0]
    return head if head.startswith("E") else "start"


def targets() -> dict[Path, str]:
    """Every notebook path and the text it should have."""
    return {
        NOTEBOOKS / f"{src.stem}.ipynb": runbooks.render(
            runbooks.build(src, {"training": key_of(src)})
        )
        for src in sorted(SOURCES.glob("*.py"))
    }


def main(argv: list[str] | None = None) -> int:
    args = runbooks.parse(argv, __doc__ or "")
    return int(runbooks.sync(targets(), check=args.check, command="python training/_build.py"))


if __name__ == "__main__":
    sys.exit(main())
