"""The kernel of a headless run, started while the run is still being checked.

papermill starts a kernel only when it begins to execute, so a ``kmsi run`` used
to pay, one after the other: its own checks (the params file, the credentials,
the ledger, an approved plan), papermill's import, the kernel's start (about
0.8 s), and the runbook's first cell importing :mod:`kmsi_lib` (about 0.35 s).
Here the kernel process is launched as soon as the run's directory is known;
it boots, and imports the runbook module (:data:`PRELOAD`), on the machine's
other core while this process does its checks. papermill is then handed the
running kernel (its ``km`` argument) and executes the notebook exactly as it
would have in a kernel of its own.

What the kernel runs before the notebook is only :data:`PRELOAD`, an import
the runbook's first cell makes anyway (IPython's own ``exec_lines`` option,
names removed again, nothing in the history). No cell runs before every
check has passed: a refused run stops the kernel (:meth:`EarlyKernel.stop`)
and nothing was sent to the org. The kernel is stopped when the notebook is
done: the shutdown is asked for at once (:meth:`EarlyKernel.request_stop`) and
awaited only after the evidence is recorded (:meth:`EarlyKernel.stop`), so the
kernel's exit and the recording overlap.

The kernel talks to this process over Unix sockets in a private directory,
not loopback TCP (no other process can race for its ports or connect to it);
Windows has no IPC transport: TCP there.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from kmsi_lib.runbooks.contract import INTERACTIVE_ENV
from kmsi_lib.secret_shapes import KEY_FILE_ENV

if TYPE_CHECKING:
    from jupyter_client.client import KernelClient
    from jupyter_client.manager import AsyncKernelManager

__all__ = ["KERNEL", "PRELOAD", "EarlyKernel", "kernel_environment"]

#: The kernel every runbook declares (``kernelspec.name``).
KERNEL = "python3"

#: What the kernel imports while it waits for the notebook: what the first cell imports.
PRELOAD = "import kmsi_lib.runbooks.runbook as _kmsi_preload; del _kmsi_preload"

_log = logging.getLogger(__name__)


def kernel_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment a run's kernel gets: this process's (``OKTA_*`` included, the only
    way credentials reach it), but without ``KMSI_INTERACTIVE`` (set by ``kmsi lab``: a
    run from a lab's terminal stays headless) and with relative ``OKTA_*KEY_FILE``
    paths made absolute (the kernel works in the run's directory)."""
    return {
        name: os.path.abspath(value)
        if KEY_FILE_ENV.search(name) and value and not os.path.isabs(value)
        else value
        for name, value in environ.items()
        if name != INTERACTIVE_ENV
    }


def _manager(kernel_name: str, made: list[KernelClient], **options: str) -> AsyncKernelManager:
    """A kernel manager whose clients are listed in ``made`` as they are made, so that
    their channels can be closed when the kernel stops (papermill closes its client
    only when it started the kernel itself)."""
    from jupyter_client.asynchronous.client import AsyncKernelClient
    from jupyter_client.manager import AsyncKernelManager

    class ListedClient(AsyncKernelClient):
        def __init__(self, **kwargs: object) -> None:
            super().__init__(**kwargs)
            made.append(self)

    return AsyncKernelManager(kernel_name=kernel_name, client_factory=ListedClient, **options)


class EarlyKernel:
    """A ``python3`` kernel started now, for papermill to execute a notebook in later.

    ``kernel = EarlyKernel.start(cwd)``; ``papermill.execute_notebook(..., km=kernel.km)``;
    ``kernel.request_stop()`` when it returns; ``kernel.stop()`` at the end (also
    on every path where the notebook is never run). The kernel inherits this
    process's environment as it is at :meth:`start` (:func:`kernel_environment`).
    """

    def __init__(
        self,
        km: AsyncKernelManager,
        cwd: Path,
        private: tempfile.TemporaryDirectory[str] | None,
        clients: list[KernelClient],
        *,
        kernel_name: str = KERNEL,
        preload: str = PRELOAD,
    ) -> None:
        self.km = km
        self.cwd = cwd
        self._kernel_name, self._preload = kernel_name, preload
        self._clients = clients
        self._private = private
        self._stopping = False

    @classmethod
    def start(cls, cwd: Path, *, kernel_name: str = KERNEL, preload: str = PRELOAD) -> EarlyKernel:
        """Launch the kernel process with ``cwd`` as its working directory; returns at once.

        The kernel boots in its own process; papermill waits for it to be ready.
        Raises what jupyter_client raises when the process cannot be launched.
        """
        from jupyter_core.utils import run_sync

        private: tempfile.TemporaryDirectory[str] | None = None
        clients: list[KernelClient] = []
        if os.name == "nt":  # pragma: no cover - no Windows CI
            km = _manager(kernel_name, clients)
        else:
            private = tempfile.TemporaryDirectory(prefix="kmsi-kernel-")
            os.chmod(private.name, 0o700)
            km = _manager(kernel_name, clients, transport="ipc", ip=f"{private.name}/kernel")
        extra = [f"--IPKernelApp.exec_lines={preload}"] if preload else []
        try:
            run_sync(km.start_kernel)(
                cwd=str(cwd), env=kernel_environment(os.environ), extra_arguments=extra
            )
        except BaseException:
            if private is not None:
                private.cleanup()
            raise
        return cls(km, cwd, private, clients, kernel_name=kernel_name, preload=preload)

    def restart(self) -> None:
        """Stop this kernel and start a new one in its place, in the same directory (a
        kernel that died before its first reply); this object then stands for the new one."""
        self.stop()
        fresh = EarlyKernel.start(self.cwd, kernel_name=self._kernel_name, preload=self._preload)
        self.km, self._private, self._clients = fresh.km, fresh._private, fresh._clients
        self._stopping = False

    def request_stop(self) -> None:
        """Ask the kernel to exit (it finishes on its own while this process goes on)."""
        if self._stopping or not self.km.has_kernel:
            return
        from jupyter_core.utils import run_sync

        self._stopping = True
        with contextlib.suppress(Exception):  # a kernel already gone: stop() cleans up
            run_sync(self.km.request_shutdown)()

    def interrupt_and_stop(self) -> None:
        """Interrupt the kernel, ask it to exit and wait (killed after jupyter_client's wait).

        What papermill does with a kernel of its own when the run is interrupted: the
        runbook's step in progress gets a KeyboardInterrupt and records that it was
        interrupted before the kernel goes. Call :meth:`stop` afterwards as always.
        """
        from jupyter_core.utils import run_sync

        self._stopping = True
        try:
            if self.km.has_kernel:
                run_sync(self.km.shutdown_kernel)(now=False)
        except Exception as exc:  # the caller kills what is left (interrupts.stop_kernels)
            _log.warning("the interrupted kernel did not stop cleanly: %s", exc)

    def stop(self) -> None:
        """End the kernel and remove its connection files and sockets. Safe to call twice.

        A kernel asked to exit (:meth:`request_stop`) that is still there by now is
        killed, as is one never asked: it is idle (papermill has every cell's reply,
        the runbook has written its files), so nothing is lost, and the run does not
        wait on the kernel's own tidying up.
        """
        from jupyter_core.utils import run_sync

        try:
            if self.km.has_kernel:
                if self._stopping and not run_sync(self.km.is_alive)():
                    run_sync(self.km.finish_shutdown)()
                    run_sync(self.km.cleanup_resources)()
                else:
                    run_sync(self.km.shutdown_kernel)(now=True)
        except Exception as exc:  # the run's outcome is already decided; say so, go on
            _log.warning("the kernel did not stop cleanly: %s", exc)
        finally:
            self._stopping = True
            for client in self._clients:  # papermill's, and any other
                with contextlib.suppress(Exception):
                    client.stop_channels()
            self._clients.clear()
            if self._private is not None:
                self._private.cleanup()
                self._private = None
