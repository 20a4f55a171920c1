"""What a headless run imports, and when (``kmsi_lib.runbooks.startup``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from kmsi_lib.runbooks import startup


def _python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_papermill_imports_without_rfc3987_syntax_and_notebooks_still_validate() -> None:
    """The grammar package is never loaded, and nbformat still refuses a broken notebook."""
    out = _python(
        """
        import sys
        from kmsi_lib.runbooks.startup import skip_unused_format_checkers
        skip_unused_format_checkers()
        import papermill, nbformat
        good = nbformat.v4.new_notebook()
        nbformat.validate(good)
        bad = nbformat.v4.new_notebook(); bad["cells"] = [{"cell_type": "nonsense"}]
        try:
            nbformat.validate(bad)
        except nbformat.ValidationError:
            refused = True
        else:
            refused = False
        print(sys.modules.get("rfc3987_syntax", "absent"), refused)
        """
    )
    assert out == "None True"


def test_the_skip_does_nothing_once_jsonschema_is_loaded() -> None:
    """A process that already has jsonschema (and its checkers) keeps what it has."""
    out = _python(
        """
        import sys, jsonschema
        had = "rfc3987_syntax" in sys.modules
        from kmsi_lib.runbooks.startup import skip_unused_format_checkers
        skip_unused_format_checkers()
        print(had, sys.modules.get("rfc3987_syntax", "absent") is not None)
        """
    )
    assert out in ("True True", "False False")


def test_warming_imports_are_done_when_the_block_ends() -> None:
    """After the block the HTML exporter is built and the named modules are imported."""
    with startup.warming_imports(("json", "no_such_module_kmsi")):
        pass
    from kmsi_lib.evidence import report

    assert report._html_exporter.cache_info().currsize == 1
