"""The package's public surface: sorted, importable, and cheap to import."""

from __future__ import annotations

import subprocess
import sys

import kmsi_lib


def test_all_is_sorted_and_every_name_resolves() -> None:
    """Every name in ``kmsi_lib.__all__`` is importable, and the list is sorted."""
    assert kmsi_lib.__all__ == sorted(kmsi_lib.__all__)
    for name in kmsi_lib.__all__:
        assert getattr(kmsi_lib, name) is not None, name


def test_unknown_attribute_is_an_attribute_error() -> None:
    """A typo gets Python's normal AttributeError, not a silent None."""
    try:
        kmsi_lib.NoSuchThing  # noqa: B018 - the attribute access is the test
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:  # pragma: no cover - only reached if the lazy loader is broken
        raise AssertionError("expected AttributeError")


def test_importing_the_package_and_the_client_does_not_load_papermill() -> None:
    """papermill costs seconds to import; code paths that do not run notebooks never pay it."""
    code = (
        "import sys, kmsi_lib, kmsi_lib.okta.client, kmsi_lib.procedures, kmsi_lib.sandbox;"
        "print('papermill' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
