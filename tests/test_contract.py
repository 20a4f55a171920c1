"""The runner <-> notebook contract is one set of names, and every side uses it."""

from __future__ import annotations

import inspect
from pathlib import Path

from kmsi_lib.runbooks import contract, params, runbook
from kmsi_lib.runbooks import run as runner
from kmsi_lib.runbooks.runbook import Runbook


def test_a_runbook_writes_exactly_the_result_keys(tmp_path: Path) -> None:
    """result.json's keys, in order, are contract.RESULT_KEYS."""
    rb = Runbook("audit", params={}, evidence_dir=str(tmp_path), display=lambda _: None)
    assert tuple(rb.result) == contract.RESULT_KEYS


def test_runner_parameters_are_declared_once() -> None:
    """The params loader, the runbook and the runner name the same runner parameters."""
    assert params.RUNNER_PARAMETERS is contract.RUNNER_PARAMETERS
    assert runbook.RUNNER_PARAMETERS == tuple(contract.RUNNER_PARAMETERS)
    assert runbook.CHANGE_ID_PATTERN is contract.CHANGE_ID_PATTERN
    assert runbook.change_id_problem is runner.change_id_problem is contract.change_id_problem
    assert runbook.MODES is runner.MODES is contract.MODES


def test_the_runner_parameters_are_the_runbook_signature() -> None:
    """Each runner parameter is a keyword of Runbook (what the parameters cell hands over)."""
    accepted = inspect.signature(Runbook).parameters
    assert all(name in accepted for name in contract.RUNNER_PARAMETERS)


def test_outcomes_name_failed() -> None:
    assert contract.OUTCOME_FAILED in contract.OUTCOMES


def test_run_result_model_has_the_contract_keys_in_order() -> None:
    """RunResult writes exactly RESULT_KEYS, in their order, every key always present."""
    from kmsi_lib.runbooks.contract import RESULT_KEYS, RunResult

    assert tuple(RunResult.model_fields) == RESULT_KEYS
    assert tuple(RunResult(procedure="audit").to_dict()) == RESULT_KEYS
