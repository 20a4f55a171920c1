"""``python -m kmsi_lib.training``: set up, check or list the exercises from a shell.

For a facilitator (and for ``kmsi lab``'s reset, which can run it without importing the
training package): ``setup E1 --workdir training/t1`` brings the sandbox named by
``OKTA_ORG_URL`` / ``OKTA_API_TOKEN`` to exercise E1's start and records it in that
trainee's progress file; ``check E1 --workdir …`` prints the verdict (exit 0 when solved);
``progress --workdir …`` prints the table.
"""

from __future__ import annotations

import argparse
import sys

from kmsi_lib import training
from kmsi_lib.errors import KmsiError


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; the exit code (2 for a refusal, as the other commands)."""
    parser = argparse.ArgumentParser(
        prog="python -m kmsi_lib.training", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("setup", "check"):
        one = sub.add_parser(name, help=f"{name} one exercise")
        one.add_argument("exercise", choices=sorted(training.EXERCISES))
        one.add_argument("--workdir", default=".", help="the trainee's workspace (progress file)")
    table = sub.add_parser("progress", help="the progress table")
    table.add_argument("--workdir", default=".")
    args = parser.parse_args(argv)
    try:
        if args.command == "setup":
            print(training.setup(args.exercise, workdir=args.workdir))
            return 0
        if args.command == "check":
            verdict = training.check(args.exercise, workdir=args.workdir)
            print(verdict)
            return 0 if verdict.solved else 1
        print(training.progress(args.workdir))
        return 0
    except KmsiError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
