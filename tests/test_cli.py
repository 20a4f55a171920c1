"""The `kmsi` command: one parser, every subcommand wired, help and unknown commands behave."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kmsi_lib import cli


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_every_subcommand_resolves_to_its_arguments_and_handler(name: str) -> None:
    command = cli.COMMANDS[name]
    assert callable(command.resolve(command.add_arguments))
    assert callable(command.resolve(command.main)) and command.help


def test_one_parser_holds_every_subcommand_and_its_options() -> None:
    """The whole parser builds (no option defined twice) and parses each subcommand."""
    parser = cli.build_parser()
    assert parser.parse_args(["run", "nb.ipynb", "-f", "p.yaml"]).mode == "plan"
    assert parser.parse_args(["demo"]).timeout == 300
    assert parser.parse_args(["evidence", "anchor"]).action == "anchor"
    assert parser.parse_args(["lab", "--no-browser"]).port == 8888
    assert parser.parse_args(["sandbox", "--seed", "large"]).seed == "large"


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {name} " in out for name in cli.COMMANDS)


def test_bare_kmsi_prints_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 0
    assert "  evidence " in capsys.readouterr().out


def test_unknown_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_a_bad_option_exits_2_with_argparse_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "nb.ipynb", "-f", "p.yaml", "--timeout", "0"]) == 2
    assert "--timeout: must be 1 to 86400 seconds" in capsys.readouterr().err


def test_evidence_subcommand_dispatches(
    tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["evidence", "verify", "--root", str(tmp_path)]) == 0
    assert "evidence intact: 0 ledger entries" in capsys.readouterr().out


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter (nothing imported yet) run with ``args``; it must exit 0."""
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done


def test_kmsi_run_help_does_not_import_papermill() -> None:
    """`kmsi run --help` is quick: papermill (seconds to import) loads only to execute."""
    code = (
        "import sys\nfrom kmsi_lib import cli\n"
        "assert cli.main(['run', '--help']) == 0\n"
        "assert 'papermill' not in sys.modules, 'papermill imported'\n"
        "assert 'kmsi_lib.sandbox' not in sys.modules\n"
    )
    done = _python("-c", code)
    assert "--approved-plan" in done.stdout


def test_kmsi_help_imports_no_subcommand() -> None:
    """`kmsi --help` lists the subcommands without importing the modules that own them."""
    code = (
        "import sys\nfrom kmsi_lib import cli\n"
        "assert cli.main(['--help']) == 0\n"
        "loaded = [m for m in ('kmsi_lib.runbooks.run', 'kmsi_lib.runbooks.demo',"
        " 'kmsi_lib.evidence', 'kmsi_lib.runbooks.lab', 'kmsi_lib.sandbox')"
        " if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    _python("-c", code)


def test_python_m_sandbox_keeps_its_own_entry() -> None:
    """`python -m kmsi_lib.sandbox` works on its own (the sandbox imports nothing of kmsi_lib)."""
    done = _python("-m", "kmsi_lib.sandbox", "--help")
    assert "--state FILE" in done.stdout and "export lines for OKTA_ORG_URL" in done.stdout
