"""The `kmsi` dispatcher: every subcommand resolves, help and unknown commands behave."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from kmsi_lib import cli


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_every_subcommand_resolves_to_a_callable(name: str) -> None:
    module, func, help_ = cli.COMMANDS[name]
    target = getattr(importlib.import_module(module), func)
    assert callable(target) and help_


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {name} " in out for name in cli.COMMANDS)


def test_unknown_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_evidence_subcommand_dispatches(
    tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["evidence", "verify", "--root", str(tmp_path)]) == 0
    assert "evidence intact: 0 ledger entries" in capsys.readouterr().out


def test_kmsi_run_help_does_not_import_papermill() -> None:
    """`kmsi run --help` is quick: papermill (seconds to import) loads only to execute."""
    code = ("import sys\nfrom kmsi_lib import cli\n"
            "try:\n    cli.main(['run', '--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'papermill' not in sys.modules, 'papermill imported'\n"
            "assert 'kmsi_lib.sandbox' not in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--approved-plan" in done.stdout
