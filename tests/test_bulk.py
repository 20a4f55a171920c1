"""run_bulk: every item's outcome collected, failures do not abort, progress reported."""

from __future__ import annotations

import time

import pytest
from clock_support import Peak

from kmsi_lib.okta.bulk import run_bulk, tqdm_progress


def test_results_in_input_order_with_failures_collected() -> None:
    def fn(n: int) -> int:
        if n % 3 == 0:
            raise ValueError(f"bad {n}")
        time.sleep(0.001 * (n % 4))
        return n * 10

    result = run_bulk(range(10), fn, max_workers=4)
    assert [r.item for r in result.results] == list(range(10))
    assert [r.value for r in result.succeeded] == [10, 20, 40, 50, 70, 80]
    assert [str(r.error) for r in result.failed] == ["bad 0", "bad 3", "bad 6", "bad 9"]
    assert not result.ok
    assert result.summary() == "6 succeeded, 4 failed of 10"


def test_progress_goes_from_zero_to_total() -> None:
    calls: list[tuple[int, int]] = []
    run_bulk(["a", "b", "c"], str.upper, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(0, 3), (1, 3), (2, 3), (3, 3)]


def test_workers_are_bounded() -> None:
    peak = Peak()

    def fn(_: int) -> None:
        with peak:
            time.sleep(0.005)

    assert run_bulk(range(30), fn, max_workers=3).ok
    assert peak.peak <= 3


def test_empty_input() -> None:
    calls: list[tuple[int, int]] = []
    assert run_bulk([], str, progress=lambda d, t: calls.append((d, t))).results == []
    assert calls == [(0, 0)]


def test_keyboard_interrupt_is_not_swallowed() -> None:
    def fn(n: int) -> int:
        if n == 2:
            raise KeyboardInterrupt
        return n

    with pytest.raises(KeyboardInterrupt):
        run_bulk(range(5), fn, max_workers=1)


def test_tqdm_progress_counts_and_closes(capsys: pytest.CaptureFixture[str]) -> None:
    update = tqdm_progress(3, "revoking")
    result = run_bulk([1, 2, 3], lambda n: n, progress=update)
    assert result.ok
    assert "revoking" in capsys.readouterr().err
