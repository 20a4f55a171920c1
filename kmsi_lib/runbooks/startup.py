"""What a headless run imports, and when: ``kmsi run`` costing little more than papermill.

A plan run's own time is small; most of ``kmsi run`` is papermill's: its import, the
kernel's start, the HTML export. Two things here are ours to cut, measured with
``python -X importtime`` and ``kmsi bench`` (the runbook overhead scenario):

* :func:`skip_unused_format_checkers`: ``rfc3987_syntax`` (about a second) is never
  imported by this process;
* :func:`warming_imports`: what recording the evidence needs (nbconvert, drawsvg)
  is imported on a thread while the kernel runs and this process only waits.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import threading
from collections.abc import Iterator, Sequence

__all__ = ["WARM_IMPORTS", "skip_unused_format_checkers", "warming_imports"]


def skip_unused_format_checkers() -> None:
    """Keep ``rfc3987_syntax`` out of this process: it costs about a second and serves nothing.

    ``import papermill`` imports nbformat, which imports jsonschema, whose format
    module registers IRI checkers when ``rfc3987_syntax`` is installed; importing
    that package compiles 38 lark grammars (most of a second, the largest part of
    ``import papermill``). Notebook validation never checks an IRI format (the
    notebook schema has none) and nothing else here uses jsonschema's format
    checkers, so the package is marked as absent, which jsonschema is written to
    handle (it skips those checkers). Only before jsonschema is first imported;
    the kernel, another process, is not affected.
    """
    if "jsonschema" not in sys.modules and "rfc3987_syntax" not in sys.modules:
        # None in sys.modules is Python's own "this module is absent" (import raises
        # ImportError); typeshed types the mapping's values as modules only
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]


#: What the report's timeline chart imports (drawsvg; the HTML export is warmed apart).
WARM_IMPORTS = ("drawsvg",)


def _warm(modules: Sequence[str]) -> None:
    from kmsi_lib.evidence.report import warm_html_export

    warm_html_export()  # nbconvert imported and its templates compiled
    for name in modules:
        with contextlib.suppress(ImportError):  # drawsvg missing: the report says no chart
            importlib.import_module(name)


@contextlib.contextmanager
def warming_imports(modules: Sequence[str] = WARM_IMPORTS) -> Iterator[None]:
    """Import what the evidence will need while the kernel runs, on a thread of its own.

    This process only waits for the kernel meanwhile, so the imports (most of a second:
    nbconvert with its templates compiled, drawsvg for the report's chart) happen in
    time that is paid anyway. Joined when the body ends, so nothing is left half done.
    """
    thread = threading.Thread(target=_warm, args=(modules,), name="kmsi-warm-imports", daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join()
