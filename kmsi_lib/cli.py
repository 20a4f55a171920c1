"""The ``kmsi`` command line.

Each subcommand lives in the module that owns the work; this file only
dispatches, importing the owner lazily so ``kmsi sandbox`` never pays for
papermill and ``kmsi run`` never imports the sandbox.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

# subcommand -> (module, function, one-line help); a registry instead of an if-chain.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": ("kmsi_lib.runner", "demo_main", "start the sandbox and run every runbook against it"),
    "evidence": ("kmsi_lib.evidence", "main", "list or verify recorded evidence (hash chain)"),
    "lab": ("kmsi_lib.lab", "main", "start the sandbox and JupyterLab pointed at it, for training"),
    "run": ("kmsi_lib.runner", "run_main", "execute one runbook headlessly (plan or apply)"),
    "sandbox": ("kmsi_lib.sandbox.__main__", "main", "run the sandbox Okta org on loopback"),
}


def _usage() -> str:
    lines = ["usage: kmsi COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, _, help_) in sorted(COMMANDS.items())]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``kmsi COMMAND ARGS...`` to the owning module; return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    entry = COMMANDS.get(args[0])
    if entry is None:
        print(f"kmsi: unknown command {args[0]!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module, func, _ = entry
    result = getattr(importlib.import_module(module), func)(args[1:])
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
