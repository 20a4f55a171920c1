"""The ``kmsi`` command line: one argparse parser, a subcommand per task.

``kmsi run | demo | approve | keys new | drift | evidence {list,verify,anchor} | lab |
sandbox | bench``. Each
subcommand's arguments are defined once, by the module that does the work
(an ``add_arguments(parser)`` function), and run by that module's handler
(``main(args) -> int``, the exit code); :data:`COMMANDS` names both. The
owner is imported only when its subcommand is used, so ``kmsi sandbox`` never
pays for papermill and ``kmsi run`` never imports the sandbox; ``kmsi --help``
imports none of them. The sandbox keeps its own ``python -m kmsi_lib.sandbox``
entry, since it imports nothing else of kmsi_lib (this module imports it).

Exit codes: 0 done, 1 failed, 2 refused before anything ran (argparse's usage
errors too), 3 a secret was found in a run's files (``kmsi run``).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import cast

__all__ = ["COMMANDS", "Command", "build_parser", "main"]

EXIT_USAGE = 2


@dataclasses.dataclass(frozen=True)
class Command:
    """A subcommand: its one-line help and where its arguments and its handler live."""

    help: str
    module: str
    add_arguments: str = "add_arguments"
    main: str = "main"

    def resolve(self, name: str) -> Callable[..., object]:
        """The named function of the owning module (imported now)."""
        return cast(Callable[..., object], getattr(importlib.import_module(self.module), name))


# subcommand -> its owner; a registry instead of an if-chain.
COMMANDS: dict[str, Command] = {
    "approve": Command(
        "sign an approval of a recorded plan run (Ed25519; allowed-signers)",
        "kmsi_lib.runbooks.approve",
    ),
    "bench": Command(
        "measure bulk changes, scaling, a rollout and runbook overhead against the sandbox",
        "kmsi_lib.bench.cli",
    ),
    "demo": Command(
        "start the sandbox and run every runbook against it",
        "kmsi_lib.runbooks.demo",
        "add_demo_arguments",
        "demo_main",
    ),
    "drift": Command(
        "compare the org with the last verified apply of each procedure (read-only)",
        "kmsi_lib.runbooks.drift",
    ),
    "evidence": Command("list or verify recorded evidence (hash chain)", "kmsi_lib.evidence.cli"),
    "keys": Command(
        "make an Ed25519 key pair for approvals",
        "kmsi_lib.runbooks.approve",
        "add_keys_arguments",
        "keys_main",
    ),
    "lab": Command(
        "start the sandbox and JupyterLab pointed at it, for training", "kmsi_lib.runbooks.lab"
    ),
    "run": Command(
        "execute one runbook headlessly (plan or apply)",
        "kmsi_lib.runbooks.run",
        "add_run_arguments",
        "run_main",
    ),
    "sandbox": Command("run the sandbox Okta org on loopback", "kmsi_lib.sandbox.__main__"),
}


def build_parser(only: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``kmsi`` parser with every subcommand; the arguments of those in ``only`` (None: all).

    Adding a subcommand's arguments imports its owner: :func:`main` asks only for
    the one on the command line.
    """
    parser = argparse.ArgumentParser(
        prog="kmsi",
        description='Configure Okta "Keep Me Signed In" with runbooks that '
        "plan, apply, verify and record change-managed evidence.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, command in sorted(COMMANDS.items()):
        p = sub.add_parser(name, help=command.help, description=command.help)
        if only is None or name in only:
            command.resolve(command.add_arguments)(p)
            p.set_defaults(handler=command.resolve(command.main))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``kmsi COMMAND ARGS...`` and run the subcommand; return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    name = args[0] if args else None
    if name is not None and not name.startswith("-") and name not in COMMANDS:
        print(
            f"kmsi: unknown command {name!r}\n\n{build_parser(()).format_help()}", file=sys.stderr
        )
        return EXIT_USAGE
    parser = build_parser([name] if name else ())
    try:
        namespace = parser.parse_args(args)
    except SystemExit as exc:  # --help (0) or a usage error (2): argparse has printed it
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if namespace.command is None:  # plain ``kmsi``: the list of subcommands
        parser.print_help()
        return 0
    return int(cast(Callable[[argparse.Namespace], int], namespace.handler)(namespace) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
