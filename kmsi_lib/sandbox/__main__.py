"""``kmsi sandbox``: run the sandbox org on loopback until Ctrl-C or SIGTERM.

The first two lines on stdout are shell ``export`` statements for
``OKTA_ORG_URL`` and ``OKTA_API_TOKEN``, so any tool (ours or Okta's SDKs) can
be pointed at the sandbox. With ``--state FILE`` the org is loaded from FILE at
start (if it exists) and saved to it, atomically, after every change; a
SIGKILL at any moment leaves FILE whole and no temp file next to it
(``_statefile``).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from . import SEEDS, Sandbox
from ._statefile import TempFileGuard, load_state, remove_stale_temp_files, save_atomically


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``kmsi sandbox``: :mod:`kmsi_lib.cli` wires them into the ``kmsi``
    parser (importing this module, never the reverse: the sandbox imports nothing of kmsi_lib)."""
    parser.description = (
        "Serve the sandbox Okta org (an emulator of the Okta Management API) "
        "on loopback. Prints export lines for OKTA_ORG_URL and OKTA_API_TOKEN "
        "first."
    )
    parser.add_argument(
        "--port", type=int, default=0, help="TCP port on 127.0.0.1 (default: 0, any free port)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--token",
        default=None,
        help="API token to accept as 'SSWS <token>' (default: a random one)",
    )
    parser.add_argument(
        "--state",
        default=None,
        metavar="FILE",
        help="load the org from FILE if it exists; save every change to it",
    )
    parser.add_argument(
        "--seed",
        default="default",
        choices=SEEDS,
        help="seed org when no state file exists yet (default: default)",
    )


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(args: argparse.Namespace) -> int:
    """``kmsi sandbox``: serve until Ctrl-C or SIGTERM; 0 on a clean stop, 2 if it cannot start."""
    try:
        state = load_state(args.state) if args.state else None
    except (OSError, ValueError) as exc:
        print(f"kmsi sandbox: cannot load state file {args.state}: {exc}", file=sys.stderr)
        return 2
    sandbox = Sandbox(seed=args.seed, token=args.token, state=state)
    guard = None
    if args.state:
        path = args.state
        directory = os.path.dirname(os.path.abspath(path))
        remove_stale_temp_files(directory)
        guard = TempFileGuard(directory)
        sandbox.state.on_write = lambda s: save_atomically(s, path)
    try:
        return _serve(sandbox, args, state is not None)
    finally:
        if guard is not None:
            guard.close()


def _serve(sandbox: Sandbox, args: argparse.Namespace, loaded: bool) -> int:
    if args.state:
        save_atomically(sandbox.state, args.state)
    try:
        server = sandbox.make_server(args.port, args.host)
    except OSError as exc:
        print(f"kmsi sandbox: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        # inside the try: a caller may stop us as soon as it has read the export lines
        print(f"export OKTA_ORG_URL=http://{args.host}:{server.port}", flush=True)
        print(f"export OKTA_API_TOKEN={sandbox.token}", flush=True)
        origin = f"state file {args.state}" if loaded else f"seed {args.seed!r}"
        print(
            f"# sandbox org from {origin}; admin endpoints under /_sandbox/; Ctrl-C stops it",
            flush=True,
        )
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()
        if args.state:
            save_atomically(sandbox.state, args.state)
    print("# sandbox stopped", file=sys.stderr, flush=True)
    return 0


def _standalone(argv: Sequence[str] | None = None) -> int:
    """``python -m kmsi_lib.sandbox``: the same command without the rest of kmsi_lib."""
    parser = argparse.ArgumentParser(prog="kmsi sandbox")
    add_arguments(parser)
    return main(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(_standalone())
