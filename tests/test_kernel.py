"""The kernel of a headless run, started while the run is checked (``kmsi_lib.runbooks.kernel``).

A real ``python3`` kernel each time (ipykernel in this venv), talked to with
jupyter_client as papermill does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from jupyter_core.utils import run_sync

from kmsi_lib.errors import ParameterError
from kmsi_lib.runbooks import run as runner
from kmsi_lib.runbooks.kernel import EarlyKernel

ROOT = Path(__file__).resolve().parent.parent


def _ask(kernel: EarlyKernel, code: str) -> str:
    """Run ``code`` in the kernel; what it printed."""
    client = kernel.km.client()
    client.start_channels()
    try:
        run_sync(client.wait_for_ready)(timeout=60)
        printed: list[str] = []

        def keep(msg: dict[str, object]) -> None:
            content = msg.get("content")
            if msg.get("msg_type") == "stream" and isinstance(content, dict):
                printed.append(str(content.get("text", "")))

        run_sync(client.execute_interactive)(code, output_hook=keep, timeout=60)
        return "".join(printed).strip()
    finally:
        client.stop_channels()


@pytest.fixture
def kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EarlyKernel]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KMSI_INTERACTIVE", "1")
    monkeypatch.setenv("OKTA_PRIVATE_KEY_FILE", "keys/service.pem")
    (tmp_path / "run").mkdir()
    started = EarlyKernel.start(tmp_path / "run")
    try:
        yield started
    finally:
        started.stop()


def test_the_kernel_works_in_the_run_directory_with_the_runbook_module_loaded(
    kernel: EarlyKernel, tmp_path: Path
) -> None:
    """Its cwd is the run directory, the first cell's import is already done and leaves
    no name behind, the lab flag is gone and a relative key path is absolute."""
    said = _ask(
        kernel,
        "import os, sys, json\n"
        "print(json.dumps([os.getcwd(), 'kmsi_lib.runbooks.runbook' in sys.modules,"
        " [n for n in globals() if 'kmsi' in n], os.environ.get('KMSI_INTERACTIVE'),"
        " os.environ.get('OKTA_PRIVATE_KEY_FILE')]))",
    )
    cwd, loaded, names, interactive, key_file = json.loads(said)
    assert Path(cwd).resolve() == (tmp_path / "run").resolve()
    assert loaded is True and names == [] and interactive is None
    assert key_file == str(tmp_path / "keys/service.pem")


def _running_children() -> set[int]:
    return {
        p.pid
        for p in psutil.Process().children(recursive=True)
        if p.status() != psutil.STATUS_ZOMBIE
    }


def test_stop_ends_the_kernel_process_asked_or_not(tmp_path: Path) -> None:
    """A kernel asked to exit is gone after stop; so is one never asked (killed)."""
    before = _running_children()
    kernel = EarlyKernel.start(tmp_path)
    assert _ask(kernel, "print(6 * 7)") == "42"
    assert _running_children() - before, "the kernel runs as a child of this process"
    kernel.request_stop()
    kernel.stop()
    assert _running_children() - before == set()
    other = EarlyKernel.start(tmp_path)
    assert _running_children() - before
    other.stop()  # never asked to exit: killed
    assert _running_children() - before == set()
    kernel.stop()  # twice is harmless


def test_restart_puts_a_new_kernel_in_the_same_directory(tmp_path: Path) -> None:
    """What a run does when its kernel dies before the first reply: the old process is
    gone, the new one answers, in the run directory, with the runbook module loaded."""
    before = _running_children()
    kernel = EarlyKernel.start(tmp_path)
    try:
        assert _ask(kernel, "print(1)") == "1"
        first = _running_children() - before
        kernel.restart()
        said = _ask(
            kernel, "import os, sys; print(os.getcwd(), 'kmsi_lib.runbooks.runbook' in sys.modules)"
        )
        cwd, loaded = said.split()
        assert Path(cwd).resolve() == tmp_path.resolve() and loaded == "True"
        now = _running_children() - before
        assert now and not (now & first), "the first kernel is still running"
    finally:
        kernel.stop()
    assert _running_children() - before == set()


def test_a_refused_run_leaves_no_kernel_and_no_evidence_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel starts before the params are checked: a refusal stops it again and
    removes the staging directories the run made."""
    monkeypatch.setenv("OKTA_ORG_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("OKTA_API_TOKEN", "x" * 40)
    params = tmp_path / "bad.yaml"
    params.write_text("no_such_parameter: 1\n", encoding="utf-8")
    before = _running_children()
    with pytest.raises(ParameterError):
        runner.run_notebook(
            ROOT / "notebooks" / "00_audit.ipynb", params, evidence_root=tmp_path / "ev"
        )
    assert _running_children() <= before, "the kernel started for the refused run is still running"
    assert not (tmp_path / "ev").exists()


def test_importing_the_runner_loads_neither_papermill_nor_the_evidence_package() -> None:
    """What ``kmsi run`` imports before it starts the kernel stays small: the heavy parts
    are imported where they are used, after the start."""
    code = textwrap.dedent(
        """
        import sys
        import kmsi_lib.runbooks.run
        heavy = ("papermill", "kmsi_lib.evidence", "kmsi_lib.engine", "jupyter_client",
                 "nbconvert", "kmsi_lib.runbooks.approval")
        print([name for name in heavy if name in sys.modules])
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert done.stdout.strip() == "[]"
