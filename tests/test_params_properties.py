"""Property: any params file gives validated params or a ParameterError, nothing else.

Never another exception, and fast: arbitrary text (YAML-ish, with the
characters that make YAML interesting) and arbitrary nested data dumped to
YAML go through :func:`load_params_file` and :func:`validate_params` for every
runbook.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmsi_lib.errors import ParameterError
from kmsi_lib.runbooks.params import load_params_file, notebook_info, validate_params

ROOT = Path(__file__).resolve().parent.parent
INFOS = [notebook_info(p) for p in sorted((ROOT / "notebooks").glob("[0-9]*_*.ipynb"))]
FIELDS = sorted({name for info in INFOS for name in info.parameters})

PROPERTY = settings(
    max_examples=150,
    deadline=2000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Pieces of YAML: field names, indicators, durations, and characters YAML treats specially.
_pieces = st.sampled_from(
    [
        *FIELDS,
        *"abcPTHDYM0123456789 :-[]{},&*!|>'\"#?%@`\\",
        "\n",
        "\n  ",
        ": ",
        "- ",
        "\t",
        "&a ",
        "*a",
        "!!python/object:os.system",
        "!!binary ",
        "<<: ",
        "? ",
        "---\n",
        "...\n",
        "\ufeff",
        "\x00",
        "\u202e",
        "P0D",
        "PT43800H",
        "1e400",
        "0x1F",
        "~",
        ".nan",
    ]
)
_yamlish = st.lists(_pieces, max_size=60).map("".join)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=40),
    st.sampled_from(["P0D", "PT43800H", "P9999Y", "all", "PT0S", ""]),
)
_data = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(
            st.one_of(st.sampled_from(FIELDS), st.text(max_size=10)), inner, max_size=5
        ),
    ),
    max_leaves=30,
)
_params = st.dictionaries(st.sampled_from(FIELDS), _data, max_size=6)


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def _outcome(path: Path) -> dict[str, Any] | ParameterError:
    """Load and validate ``path`` for every runbook; the first refusal, else the last params."""
    started = time.monotonic()
    result: dict[str, Any] | ParameterError
    try:
        data = load_params_file(path)
        result = data
        for info in INFOS:
            validated = validate_params(data, info)
            assert isinstance(validated, dict)
    except ParameterError as exc:
        assert exc.field and exc.message
        result = exc
    assert time.monotonic() - started < 1.0, "validation takes under a second"
    return result


@PROPERTY
@given(text=_yamlish)
def test_any_text_gives_params_or_a_parameter_error(text: str, scratch: Path) -> None:
    path = scratch / "params.yaml"
    path.write_text(text, encoding="utf-8")
    _outcome(path)


@PROPERTY
@given(raw=st.binary(max_size=200))
def test_any_bytes_give_params_or_a_parameter_error(raw: bytes, scratch: Path) -> None:
    path = scratch / "params.yaml"
    path.write_bytes(raw)
    _outcome(path)


@PROPERTY
@given(data=_params)
def test_any_nested_data_gives_params_or_a_parameter_error(
    data: dict[str, Any], scratch: Path
) -> None:
    path = scratch / "params.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    _outcome(path)
