"""``kmsi lab``: the sandbox org and JupyterLab pointed at it, for training.

::

    kmsi lab [--port 8888] [--no-browser] [--seed default] [--token T] [--notebook-dir DIR]
    kmsi lab --trainee NAME [--workspace-root DIR] [--port N] ...
    kmsi lab --trainee NAME --reset [--exercise ID]

1. The sandbox org is served on 127.0.0.1 (a thread of this process).
2. ``jupyter lab`` starts on 127.0.0.1 in the runbooks folder, with
   ``OKTA_ORG_URL`` and ``OKTA_API_TOKEN`` set to the sandbox in *its*
   environment only (any ``OKTA_*`` variable of the calling shell is dropped,
   so a real org can never be reached by mistake from the lab),
   ``KMSI_SANDBOX_ADMIN_URL`` naming the sandbox (the witness verifications
   may consult, :mod:`kmsi_lib.engine.witness`) and ``KMSI_INTERACTIVE=1``
   (the runbooks show their forms without an edit:
   :data:`~kmsi_lib.runbooks.contract.INTERACTIVE_ENV`).
3. The address to open, with the lab's access token, is printed.
4. Ctrl-C stops JupyterLab (and its kernels) and then the sandbox.

With ``--trainee NAME`` JupyterLab serves the trainee's workspace instead
(:mod:`kmsi_lib.runbooks.workspace`: copies of the runbooks and the training
notebooks, made on first use) and opens on its start-here notebook; the sandbox
org is the trainee's own, kept in the workspace's state file across restarts.
``--reset`` puts the workspace (or one ``--exercise``) and the org back to their
start and exits, whether a lab serves the workspace or not.

:class:`Lab` does the same as a context manager, for tests.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import httpx

from kmsi_lib.engine.witness import ADMIN_URL_ENV
from kmsi_lib.errors import ConfigError, ParameterError
from kmsi_lib.runbooks import workspace as workspaces
from kmsi_lib.runbooks.contract import INTERACTIVE_ENV

if TYPE_CHECKING:
    from kmsi_lib.sandbox import Sandbox

__all__ = ["Lab", "lab_command", "lab_environment", "main", "notebooks_dir"]

LOOPBACK = "127.0.0.1"


def notebooks_dir() -> Path:
    """The runbooks folder: ``./notebooks`` if there is one, else the checkout's."""
    checkout = Path(__file__).resolve().parents[2]
    for candidate in (Path.cwd() / "notebooks", checkout / "notebooks"):
        if candidate.is_dir():
            return candidate
    raise ConfigError(
        "kmsi lab: no notebooks/ folder here; run it from the kmsi-runbooks checkout"
        " or pass --notebook-dir"
    )


def lab_command(*, port: int, root_dir: Path, open_browser: bool, as_root: bool) -> list[str]:
    """The ``jupyter lab`` command line (pure): loopback only, fixed port.

    The access token is not on it (any local user can read a command line in
    ``ps``); :func:`lab_environment` passes it as ``JUPYTER_TOKEN``.
    """
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.ip={LOOPBACK}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root_dir}",
        f"--ServerApp.open_browser={open_browser}",
    ]
    if as_root:
        command.append("--allow-root")
    return command


def lab_environment(
    base: Mapping[str, str],
    *,
    org_url: str,
    api_token: str,
    lab_token: str,
    settings_dir: Path | None = None,
) -> dict[str, str]:
    """The lab's environment: ``base`` without any ``OKTA_*``, plus the sandbox's URL and token.

    ``lab_token`` is JupyterLab's own access token (``JUPYTER_TOKEN``);
    ``KMSI_INTERACTIVE=1`` makes the runbooks show their forms.
    """
    env = {k: v for k, v in base.items() if not k.startswith("OKTA_")}
    env["OKTA_ORG_URL"] = org_url
    env["OKTA_API_TOKEN"] = api_token
    env["JUPYTER_TOKEN"] = lab_token
    env[INTERACTIVE_ENV] = "1"
    if settings_dir is not None:
        env["JUPYTERLAB_SETTINGS_DIR"] = str(settings_dir)
        env["JUPYTERLAB_WORKSPACES_DIR"] = str(settings_dir / "workspaces")
    return env


_QUIET_SETTINGS = (
    # no "would you like news?" pop-up and no update checks: the lab is offline and for training
    '{"fetchNews": "false", "checkForUpdates": false}'
)


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


class Lab:
    """The sandbox and a JupyterLab server, started together and stopped together.

    >>> with Lab(port=0, open_browser=False) as lab:     # doctest: +SKIP
    ...     print(lab.url)           # http://127.0.0.1:NNNN/lab?token=...

    With ``trainee`` (and ``workspace_root``, default the checkout's ``training/``),
    ``root_dir`` is that trainee's workspace, made or completed at start, the
    sandbox org is loaded from and saved to its state file (unless ``sandbox``
    is given), and :attr:`url` opens the start-here notebook.
    """

    def __init__(
        self,
        *,
        port: int = 8888,
        seed: str = "default",
        token: str = "",
        root_dir: Path | None = None,
        open_browser: bool = True,
        startup_timeout: float = 90.0,
        sandbox: Sandbox | None = None,
        output: int | None = None,
        extra_args: Sequence[str] = (),
        trainee: str | None = None,
        workspace_root: Path | None = None,
    ) -> None:
        self.port = port or free_port()
        self.seed = seed
        self.token = token or secrets.token_urlsafe(18)
        self.workspace = (
            None if trainee is None else workspaces.workspace_for(trainee, workspace_root)
        )
        if self.workspace is not None:
            self.root_dir = self.workspace.path
        else:
            self.root_dir = (root_dir or notebooks_dir()).resolve()
        self.open_browser = open_browser
        self.startup_timeout = startup_timeout
        self.sandbox = sandbox
        self.output = output
        self.extra_args = list(extra_args)
        self.sandbox_url = ""
        self.process: subprocess.Popen[bytes] | None = None
        self._stack = ExitStack()

    @property
    def base_url(self) -> str:
        """JupyterLab's address on loopback, without the token."""
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def url(self) -> str:
        """The address to open (it carries the lab's access token), on the start notebook."""
        start = self.workspace.start_notebook if self.workspace is not None else None
        page = "/lab" if start is None else f"/lab/tree/{start}"
        return f"{self.base_url}{page}?token={self.token}"

    def start(self) -> Lab:
        """Serve the sandbox, start JupyterLab against it and wait until it answers."""
        from kmsi_lib.sandbox import Sandbox

        space = self.workspace
        if space is not None:
            other = workspaces.running_lab(space)
            if other is not None:  # two labs would save one org over the other's
                raise ConfigError(
                    f"{space.trainee}'s workspace is already served by a running lab"
                    f" (its sandbox: {other}); stop that one first"
                )
            workspaces.create_workspace(
                space.trainee, workspace_root=space.path.parent, seed=self.seed
            )
        if self.sandbox is None:
            try:
                if space is not None:  # the trainee's own org, as the last lab left it
                    self.sandbox = Sandbox.from_state_file(space.state_file, seed=space.seed())
                else:
                    self.sandbox = Sandbox(seed=self.seed)
            except ValueError as exc:  # an unknown seed name, a broken state file
                raise ConfigError(str(exc)) from None
            if space is not None:
                self._stack.enter_context(self.sandbox.saving_to(space.state_file))
        self.sandbox_url = self._stack.enter_context(self.sandbox.serve(port=0))
        if space is not None:  # a facilitator's reset finds the running sandbox through it
            workspaces.note_lab(space, self.sandbox_url)
            self._stack.callback(workspaces.forget_lab, space)
        settings = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="kmsi-lab-")))
        plugin = settings / "@jupyterlab" / "apputils-extension"
        plugin.mkdir(parents=True)
        (plugin / "notification.jupyterlab-settings").write_text(_QUIET_SETTINGS)
        env = lab_environment(
            os.environ,
            org_url=self.sandbox_url,
            api_token=self.sandbox.token,
            lab_token=self.token,
            settings_dir=settings,
        )
        # the lab knows its org is the sandbox: its kernels may consult the admin endpoints
        env[ADMIN_URL_ENV] = self.sandbox_url
        if space is not None:  # whom a reset button in a training notebook resets
            env[workspaces.TRAINEE_ENV] = space.trainee
            env[workspaces.WORKSPACE_ROOT_ENV] = str(space.path.parent)
        command = lab_command(
            port=self.port,
            root_dir=self.root_dir,
            open_browser=self.open_browser,
            as_root=_is_root(),
        )
        command += self.extra_args
        # its own session: Ctrl-C reaches us only, and we stop JupyterLab cleanly
        self.process = subprocess.Popen(  # noqa: S603  (our own interpreter, fixed arguments)
            command,
            env=env,
            start_new_session=True,
            stdout=self.output,
            stderr=self.output,
        )
        self._stack.callback(self.stop)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ConfigError(
                    f"JupyterLab exited with status {self.process.returncode}"
                    f" before it was ready (is port {self.port} free?)"
                )
            try:
                status = httpx.get(
                    f"{self.base_url}/api/status",
                    headers={"Authorization": f"token {self.token}"},
                    timeout=2,
                )
                if status.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise ConfigError(
            f"JupyterLab did not answer on {self.base_url} within {self.startup_timeout:.0f}s"
        )

    def stop(self) -> None:
        """Stop JupyterLab (SIGTERM: it shuts its kernels down), then kill it if it hangs."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def close(self) -> None:
        """Stop JupyterLab, then the sandbox."""
        self._stack.close()

    def __enter__(self) -> Lab:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of ``kmsi lab`` (wired by :mod:`kmsi_lib.cli`)."""
    p.description = (
        "Start the sandbox Okta org and JupyterLab pointed at it, to learn the"
        " runbooks without touching a real org."
    )
    p.add_argument("--port", type=int, default=8888, help="JupyterLab port on 127.0.0.1")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.add_argument("--seed", default="default", help="sandbox seed: default, classic or large")
    p.add_argument("--token", default="", help="JupyterLab access token (default: a random one)")
    p.add_argument(
        "--notebook-dir",
        type=Path,
        default=None,
        help="folder JupyterLab opens (default: the runbooks in notebooks/)",
    )
    p.add_argument(
        "--trainee",
        default=None,
        metavar="NAME",
        help="serve NAME's workspace (made on first use: copies of the runbooks and the"
        " training notebooks) with NAME's own sandbox org, and open the start-here notebook",
    )
    p.add_argument(
        "--workspace-root",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder of the trainees' workspaces (default: training/ in the checkout)",
    )
    p.add_argument(
        "--reset",
        action="store_true",
        help="with --trainee: put the workspace's notebooks and the trainee's org back to"
        " their start (the running lab's org too), then exit",
    )
    p.add_argument(
        "--exercise",
        default=None,
        metavar="ID",
        help="with --reset: restore only this exercise's notebook (number or name)",
    )


def main(args: argparse.Namespace) -> int:
    """``kmsi lab``: runs until Ctrl-C; 0 on a clean stop (``--reset``: 0 once reset)."""
    trainee = args.trainee
    if trainee is None and (args.reset or args.exercise or args.workspace_root):
        print(
            "kmsi lab: --reset, --exercise and --workspace-root need --trainee NAME",
            file=sys.stderr,
        )
        return 2
    if args.exercise is not None and not args.reset:
        print("kmsi lab: --exercise goes with --reset", file=sys.stderr)
        return 2
    if args.reset:
        return _reset(args)
    # a SIGTERM (service manager, CI timeout) stops the lab as cleanly as Ctrl-C does
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        lab = Lab(
            port=args.port,
            seed=args.seed,
            token=args.token,
            root_dir=args.notebook_dir,
            # CI machines have no display to open a browser on
            open_browser=not (args.no_browser or os.environ.get("CI")),
            trainee=trainee,
            workspace_root=args.workspace_root,
        )
        with lab:
            assert lab.process is not None
            if lab.workspace is not None:
                print(
                    f"sandbox org of {trainee} ({lab.workspace.seed()} seed) on {lab.sandbox_url}"
                )
            else:
                print(f"sandbox org ({args.seed} seed) on {lab.sandbox_url}")
            print(f"JupyterLab on {lab.base_url}, serving {lab.root_dir}")
            print(f"\n  open: {lab.url}\n")
            start = "the start-here notebook" if lab.workspace is not None else "00_audit.ipynb"
            print(
                f"Start with {start}; the runbooks show their forms (docs/TRAINING.md)."
                " Ctrl-C stops JupyterLab and the sandbox."
            )
            try:
                return lab.process.wait()
            except KeyboardInterrupt:
                print("\nstopping JupyterLab and the sandbox ...")
                return 0
    except (ConfigError, ParameterError) as exc:
        print(f"kmsi lab: {exc}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)


def _reset(args: argparse.Namespace) -> int:
    """``kmsi lab --trainee NAME --reset [--exercise ID]``."""
    try:
        report = workspaces.reset_trainee(args.workspace_root, args.trainee, exercise=args.exercise)
    except (ConfigError, ParameterError) as exc:
        print(f"kmsi lab: reset refused: {exc}", file=sys.stderr)
        return 2
    print(f"kmsi lab: {report.describe()}")
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
