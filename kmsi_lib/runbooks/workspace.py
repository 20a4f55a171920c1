"""A trainee's workspace: copies of the runbooks and training notebooks, and a sandbox org.

``kmsi lab --trainee NAME`` (:mod:`kmsi_lib.runbooks.lab`) serves
``<root>/<NAME>/`` (``root`` is ``--workspace-root``, by default the checkout's
``training/``), which :func:`create_workspace` fills, once, with:

* a copy of every runbook (``notebooks/NN_*.ipynb``);
* a copy of every training notebook (``training/notebooks/*.ipynb``: the
  start-here notebook :data:`START_NOTEBOOK` and the exercises);
* a copy of ``params/`` (the sandbox's and the example params files);
* hidden (JupyterLab does not list them): :data:`STATE_FILE`, the trainee's
  sandbox org, saved after every change so that it survives a restart of the
  lab; :data:`WORKSPACE_FILE`, the trainee and the seed; and, while a lab
  serves the workspace, :data:`LAB_FILE` (its sandbox's admin URL and pid).

Files already there are left alone, so a restart keeps the trainee's work.
Nothing is linked: what a trainee saves changes only the copy, and ``kmsi run``
refuses a copy that differs from its template (:mod:`kmsi_lib.runbooks.templates`).
The checkout's ``.gitignore`` ignores ``training/*`` but ``training/notebooks/``.

The facilitator's reset, :func:`reset_trainee` (``kmsi lab --trainee NAME --reset
[--exercise ID]``, and the reset button of the training notebooks), copies the
templates over the trainee's copies (all of them, or one exercise's notebook)
and puts the trainee's sandbox org back to its seed: through the running lab's
``POST /_sandbox/reset`` when a lab serves the workspace, else by rewriting the
state file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from pathlib import Path

import httpx

from kmsi_lib.errors import ConfigError, ParameterError
from kmsi_lib.okta.protocol import is_local_host

__all__ = [
    "LAB_FILE",
    "START_NOTEBOOK",
    "STATE_FILE",
    "TRAINEE_ENV",
    "TRAINEE_PATTERN",
    "WORKSPACE_FILE",
    "ResetReport",
    "Templates",
    "Workspace",
    "check_trainee",
    "create_workspace",
    "find_exercise",
    "forget_lab",
    "note_lab",
    "repository_root",
    "reset_sandbox",
    "reset_trainee",
    "restore",
    "running_lab",
    "templates",
    "workspace_for",
]

#: A trainee's name: it names a folder, so letters, digits, ``-`` and ``_`` only.
TRAINEE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
#: The notebook JupyterLab opens first, in the workspace.
START_NOTEBOOK = "00_start_here.ipynb"
#: The trainee's sandbox org (a ``kmsi sandbox --state`` snapshot), hidden in the workspace.
STATE_FILE = ".sandbox-state.json"
#: ``{"trainee", "seed"}``: who the workspace is for and the seed its org starts from.
WORKSPACE_FILE = ".workspace.json"
#: ``{"admin_url", "pid"}`` of the lab serving the workspace, while it runs.
LAB_FILE = ".lab.json"
#: Set by ``kmsi lab --trainee`` for JupyterLab: the trainee's name (``KMSI_WORKSPACE_ROOT``:
#: the folder of the workspaces), so that a reset button knows whom to reset.
TRAINEE_ENV = "KMSI_TRAINEE"
WORKSPACE_ROOT_ENV = "KMSI_WORKSPACE_ROOT"

_RUNBOOKS = "[0-9][0-9]_*.ipynb"


def repository_root() -> Path:
    """The checkout whose templates the workspaces copy: this package's, else the cwd."""
    checkout = Path(__file__).resolve().parents[2]
    for candidate in (checkout, Path.cwd()):
        if (candidate / "notebooks").is_dir():
            return candidate
    raise ConfigError(
        "no notebooks/ folder beside kmsi_lib or here: run it from the kmsi-runbooks checkout"
    )


def check_trainee(name: str) -> str:
    """``name`` if it can name a workspace, else a ParameterError saying what can."""
    if not TRAINEE_PATTERN.match(name or ""):
        raise ParameterError(
            "trainee",
            "a name of letters, digits, '-' and '_' (starting with a letter or digit,"
            f" at most 64), such as t1 or alice (got {name!r})",
        )
    return name


@dataclasses.dataclass(frozen=True)
class Templates:
    """What a workspace is made of, by file name: runbooks, training notebooks, params."""

    runbooks: dict[str, Path]
    training: dict[str, Path]
    params: Path | None

    def notebooks(self) -> dict[str, Path]:
        """Every notebook a workspace holds (a training notebook wins a name clash)."""
        return {**self.runbooks, **self.training}


def templates(repo: Path | None = None) -> Templates:
    """The templates in a checkout (``notebooks/``, ``training/notebooks/``, ``params/``)."""
    base = repository_root() if repo is None else Path(repo)
    runbooks = {p.name: p for p in sorted((base / "notebooks").glob(_RUNBOOKS))}
    training_dir = base / "training" / "notebooks"
    training = (
        {p.name: p for p in sorted(training_dir.glob("*.ipynb"))} if training_dir.is_dir() else {}
    )
    params = base / "params"
    return Templates(runbooks, training, params if params.is_dir() else None)


@dataclasses.dataclass(frozen=True)
class Workspace:
    """One trainee's folder (``path``) under the folder of all workspaces."""

    path: Path
    trainee: str

    @property
    def state_file(self) -> Path:
        return self.path / STATE_FILE

    @property
    def lab_file(self) -> Path:
        return self.path / LAB_FILE

    @property
    def start_notebook(self) -> str | None:
        """The notebook to open first: the start-here one if the workspace has it."""
        return START_NOTEBOOK if (self.path / START_NOTEBOOK).is_file() else None

    def seed(self) -> str:
        """The seed the trainee's org starts from (``default`` unless recorded otherwise)."""
        info = _read_json(self.path / WORKSPACE_FILE)
        seed = info.get("seed") if isinstance(info, dict) else None
        return seed if isinstance(seed, str) and seed else "default"


def workspace_for(name: str, workspace_root: Path | None = None) -> Workspace:
    """The workspace of trainee ``name`` (not created): ``<root>/<name>``."""
    root = repository_root() / "training" if workspace_root is None else Path(workspace_root)
    return Workspace(root.resolve() / check_trainee(name), name)


def _copy(source: Path, target: Path, *, overwrite: bool) -> bool:
    if target.exists() and not overwrite:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return True


def _copy_params(source: Path | None, target: Path, *, overwrite: bool) -> list[str]:
    if source is None:
        return []
    copied = []
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        relative = path.relative_to(source)
        if _copy(path, target / relative, overwrite=overwrite):
            copied.append(f"params/{relative.as_posix()}")
    return copied


def create_workspace(
    name: str,
    *,
    workspace_root: Path | None = None,
    repo: Path | None = None,
    seed: str = "default",
) -> Workspace:
    """Make trainee ``name``'s workspace, or add to it what it lacks (nothing is overwritten).

    ``seed`` is recorded for a new workspace only: an existing one keeps its org.
    """
    workspace = workspace_for(name, workspace_root)
    found = templates(repo)
    workspace.path.mkdir(parents=True, exist_ok=True)
    for file_name, source in found.notebooks().items():
        _copy(source, workspace.path / file_name, overwrite=False)
    _copy_params(found.params, workspace.path / "params", overwrite=False)
    info = workspace.path / WORKSPACE_FILE
    if not info.exists():
        info.write_text(json.dumps({"trainee": name, "seed": seed}, indent=1) + "\n")
    return workspace


def find_exercise(exercise: str, found: Templates) -> str:
    """The file name of the notebook ``exercise`` names.

    An exercise is named by its file name or stem (``01_two_apps``), its number
    (``01``) or the rest of its stem (``two_apps``); a runbook by its file name or stem.
    """
    wanted = exercise.strip().removesuffix(".ipynb")
    notebooks = found.notebooks()
    if f"{wanted}.ipynb" in notebooks:
        return f"{wanted}.ipynb"
    matches = [
        name
        for name in found.training
        if name.split("_", 1)[0] == wanted or Path(name).stem.split("_", 1)[-1] == wanted
    ]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(Path(name).stem for name in sorted(found.training)) or "none"
    reason = "names several notebooks" if matches else "is not a training notebook"
    raise ParameterError("exercise", f"{exercise!r} {reason} (the exercises: {known})")


def restore(
    workspace: Workspace, *, exercise: str | None = None, repo: Path | None = None
) -> list[str]:
    """Copy the templates over the trainee's copies: all, or one exercise's notebook.

    Returns the names restored. Files the trainee added are left alone.
    """
    found = templates(repo)
    if exercise is not None:
        name = find_exercise(exercise, found)
        _copy(found.notebooks()[name], workspace.path / name, overwrite=True)
        return [name]
    restored = []
    for name, source in found.notebooks().items():
        _copy(source, workspace.path / name, overwrite=True)
        restored.append(name)
    return restored + _copy_params(found.params, workspace.path / "params", overwrite=True)


def note_lab(workspace: Workspace, admin_url: str) -> None:
    """Record that a lab (this process) serves the workspace's sandbox at ``admin_url``."""
    text = json.dumps({"admin_url": admin_url, "pid": os.getpid()}, indent=1) + "\n"
    workspace.lab_file.write_text(text)


def forget_lab(workspace: Workspace) -> None:
    """The lab has stopped: remove :data:`LAB_FILE` if it is this process's."""
    info = _read_json(workspace.lab_file)
    if isinstance(info, dict) and info.get("pid") == os.getpid():
        workspace.lab_file.unlink(missing_ok=True)


def _read_json(path: Path) -> object:
    """A small JSON file of the workspace's, None when unreadable (narrowed by its reader)."""
    try:
        decoded: object = json.loads(path.read_text(encoding="utf-8"))
        return decoded
    except (OSError, ValueError):
        return None


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_lab(workspace: Workspace) -> str | None:
    """The sandbox URL of the lab serving the workspace, if one still runs."""
    info = _read_json(workspace.lab_file)
    if not isinstance(info, dict) or not _alive(info.get("pid")):
        return None
    url = info.get("admin_url")
    return url if isinstance(url, str) and url else None


def reset_sandbox(
    workspace: Workspace,
    *,
    admin_url: str | None = None,
    transport: httpx.BaseTransport | None = None,
) -> str:
    """Put the trainee's org back to its seed; says how (``running lab`` or ``state file``).

    ``admin_url`` (a loopback URL) is a sandbox to reset over HTTP; by default the
    one of the lab serving the workspace, if any; with neither, the state file is
    rewritten with the seed's org (the next lab starts from it). ``transport``
    is the test seam for an in-process sandbox.
    """
    seed = workspace.seed()
    url = admin_url or running_lab(workspace)
    if url is not None:
        from urllib.parse import urlsplit

        if transport is None and not is_local_host(urlsplit(url).hostname or ""):
            raise ConfigError(f"the sandbox to reset must be on loopback (got {url!r})")
        try:
            # a client of its own, without credentials: the admin endpoints need none
            with httpx.Client(base_url=url.rstrip("/"), transport=transport, timeout=30) as http:
                http.post("/_sandbox/reset", json={"seed": seed}).raise_for_status()
        except httpx.HTTPError as exc:
            raise ConfigError(f"could not reset the sandbox at {url}: {exc}") from None
        return f"running lab's sandbox ({url}) reset to the {seed!r} seed"
    from kmsi_lib.sandbox import Sandbox

    try:
        fresh = Sandbox(seed=seed)
    except ValueError as exc:
        raise ConfigError(f"{workspace.path / WORKSPACE_FILE}: {exc}") from None
    with fresh.saving_to(workspace.state_file):
        pass
    return f"{workspace.state_file.name} rewritten with the {seed!r} seed"


@dataclasses.dataclass(frozen=True)
class ResetReport:
    """What :func:`reset_trainee` did: the notebooks restored and how the org was reset."""

    workspace: Path
    restored: list[str]
    sandbox: str

    def describe(self) -> str:
        """One line: the workspace, what was restored, how the org was reset."""
        names = self.restored if len(self.restored) <= 3 else [*self.restored[:3], "..."]
        return (
            f"{self.workspace}: restored {len(self.restored)} file(s)"
            f" ({', '.join(names)}); {self.sandbox}"
        )


def reset_trainee(
    root: Path | None,
    name: str | None,
    *,
    exercise: str | None = None,
    admin_url: str | None = None,
    repo: Path | None = None,
) -> ResetReport:
    """Reset trainee ``name`` (all, or one ``exercise``) to the starting state.

    ``root`` is the folder of the workspaces (None: ``KMSI_WORKSPACE_ROOT``, else
    the checkout's ``training/``); ``name`` None is ``KMSI_TRAINEE`` (both set by
    ``kmsi lab --trainee`` for its kernels, so a button in a training notebook
    calls ``reset_trainee(None, None, exercise="01")``). The templates are copied
    over the trainee's copies (:func:`restore`) and the org is reset to its seed
    (:func:`reset_sandbox`: the running lab's sandbox if there is one). A notebook
    open in JupyterLab shows the restored copy after *File > Reload Notebook from Disk*.
    """
    trainee = name if name is not None else os.environ.get(TRAINEE_ENV, "")
    if root is None and os.environ.get(WORKSPACE_ROOT_ENV):
        root = Path(os.environ[WORKSPACE_ROOT_ENV])
    workspace = workspace_for(trainee, root)
    if not workspace.path.is_dir():
        raise ParameterError("trainee", f"no workspace {workspace.path} (start kmsi lab first)")
    restored = restore(workspace, exercise=exercise, repo=repo)
    how = reset_sandbox(workspace, admin_url=admin_url)
    return ResetReport(workspace.path, restored, how)
