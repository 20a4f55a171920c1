"""Trainees' workspaces (``kmsi lab --trainee NAME``) and the facilitator's reset, no browser.

A workspace holds copies of the runbooks, the training notebooks and the params
files, and nothing else of the checkout; it survives a restart; the checkout's
``git status`` stays clean; a reset restores the copies (all, or one exercise) and
the trainee's sandbox org, through the running lab when there is one. Also: the
runbooks' forms appear by themselves under ``KMSI_INTERACTIVE=1``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from kmsi_lib import cli
from kmsi_lib.errors import ConfigError, ParameterError
from kmsi_lib.runbooks import workspace as ws
from kmsi_lib.runbooks.contract import INTERACTIVE_ENV
from kmsi_lib.runbooks.lab import Lab
from kmsi_lib.runbooks.runbook import Runbook
from kmsi_lib.sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent
RUNBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
TRAINING = sorted(p.name for p in (ROOT / "training" / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("name", ["t1", "alice", "group-2_b", "X" * 64])
def test_trainee_names_that_name_a_folder(name: str) -> None:
    assert ws.check_trainee(name) == name


@pytest.mark.parametrize("name", ["", "../x", "a b", "t1/..", "-t", ".hidden", "é", "X" * 65])
def test_other_trainee_names_are_refused_saying_what_is_allowed(name: str) -> None:
    with pytest.raises(ParameterError) as refused:
        ws.check_trainee(name)
    assert refused.value.field == "trainee" and "letters, digits, '-' and '_'" in str(refused.value)


def test_the_start_here_template_is_committed_and_a_notebook() -> None:
    assert ws.START_NOTEBOOK in TRAINING
    nb = json.loads((ROOT / "training" / "notebooks" / ws.START_NOTEBOOK).read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


def test_a_workspace_holds_copies_of_what_a_trainee_needs_only(tmp_path: Path) -> None:
    space = ws.create_workspace("t1", workspace_root=tmp_path)
    assert space.path == (tmp_path / "t1").resolve()
    visible = sorted(p.name for p in space.path.iterdir() if not p.name.startswith("."))
    assert visible == sorted({*RUNBOOKS, *TRAINING, "params"})
    for name in RUNBOOKS:
        copy = space.path / name
        assert not copy.is_symlink()
        assert copy.read_bytes() == (ROOT / "notebooks" / name).read_bytes()
    assert (space.path / "params" / "sandbox" / "post_auth.yaml").is_file()
    assert json.loads((space.path / ws.WORKSPACE_FILE).read_text()) == {
        "trainee": "t1",
        "seed": "default",
    }
    assert space.start_notebook == ws.START_NOTEBOOK


def test_a_second_start_keeps_the_trainees_work_and_adds_what_is_missing(tmp_path: Path) -> None:
    space = ws.create_workspace("t1", workspace_root=tmp_path, seed="classic")
    edited = space.path / "20_post_auth.ipynb"
    edited.write_text("my work")
    (space.path / "00_audit.ipynb").unlink()
    again = ws.create_workspace("t1", workspace_root=tmp_path, seed="large")
    assert edited.read_text() == "my work"
    assert (again.path / "00_audit.ipynb").is_file()
    assert again.seed() == "classic", "the seed is the workspace's first"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout


def test_a_training_session_leaves_the_checkout_clean(tmp_path: Path) -> None:
    """In a clone of the checkout: a workspace, its org's state file and a reset later,
    ``git status --porcelain`` is as before, and the training templates stay tracked."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    for name in (".gitignore", *(f"training/notebooks/{n}" for n in TRAINING)):
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name, clone / name)  # this worktree's, committed or not
    _git(clone, "add", "-A")
    before = _git(clone, "status", "--porcelain")
    space = ws.create_workspace("t1", workspace_root=clone / "training", repo=clone)
    (space.path / "20_post_auth.ipynb").write_text("{}")
    (space.path / "evidence").mkdir()
    (space.path / "evidence" / "ledger.jsonl").write_text("")
    report = ws.reset_trainee(clone / "training", "t1", repo=clone)
    assert space.state_file.is_file() and "rewritten" in report.sandbox
    assert _git(clone, "status", "--porcelain") == before
    tracked = _git(clone, "ls-files", "training").split()
    assert tracked == _git(ROOT, "ls-files", "training").split()
    assert all(not t.startswith("training/t1/") for t in tracked)
    assert {f"training/notebooks/{n}" for n in TRAINING} <= set(tracked)


def test_reset_restores_one_exercise_or_everything(tmp_path: Path) -> None:
    space = ws.create_workspace("t1", workspace_root=tmp_path)
    start, runbook = space.path / ws.START_NOTEBOOK, space.path / "20_post_auth.ipynb"
    start.write_text("edited")
    runbook.write_text("edited")
    (space.path / "notes.txt").write_text("mine")
    number = ws.START_NOTEBOOK.split("_", 1)[0]
    report = ws.reset_trainee(tmp_path, "t1", exercise=number)
    assert report.restored == [ws.START_NOTEBOOK]
    assert start.read_bytes() == (ROOT / "training" / "notebooks" / ws.START_NOTEBOOK).read_bytes()
    assert runbook.read_text() == "edited", "only the named exercise"
    ws.reset_trainee(tmp_path, "t1")
    assert runbook.read_bytes() == (ROOT / "notebooks" / "20_post_auth.ipynb").read_bytes()
    assert (space.path / "notes.txt").read_text() == "mine", "the trainee's own files stay"


@pytest.mark.parametrize("exercise", ["00_start_here", "00_start_here.ipynb", "start_here", "00"])
def test_an_exercise_is_named_by_file_stem_number_or_name(exercise: str) -> None:
    assert ws.find_exercise(exercise, ws.templates(ROOT)) == ws.START_NOTEBOOK


def test_an_unknown_exercise_is_refused_listing_the_exercises(tmp_path: Path) -> None:
    ws.create_workspace("t1", workspace_root=tmp_path)
    with pytest.raises(ParameterError) as refused:
        ws.reset_trainee(tmp_path, "t1", exercise="99")
    assert refused.value.field == "exercise" and "00_start_here" in str(refused.value)


def test_reset_of_a_trainee_without_a_workspace_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="no workspace"):
        ws.reset_trainee(tmp_path, "nobody")


def test_the_trainees_org_survives_a_restart_and_a_reset_reseeds_it(tmp_path: Path) -> None:
    """The lab's sandbox saves to the state file; offline, a reset rewrites it with the seed."""
    space = ws.create_workspace("t1", workspace_root=tmp_path)
    sandbox = Sandbox.from_state_file(space.state_file, seed=space.seed())
    seeded = sandbox.admin.snapshot()
    with sandbox.saving_to(space.state_file):
        sandbox.admin.set_org_settings({"preAuthKmsi": True})
    restarted = Sandbox.from_state_file(space.state_file)
    assert restarted.admin.org_settings["preAuthKmsi"] is True
    assert not [p for p in tmp_path.rglob(".sandbox-state-*")], "no temp file is left"
    report = ws.reset_trainee(tmp_path, "t1")
    assert "rewritten" in report.sandbox
    assert Sandbox.from_state_file(space.state_file).admin.snapshot() == seeded


def test_a_reset_goes_to_the_running_labs_sandbox(tmp_path: Path) -> None:
    """With a lab serving the workspace (its .lab.json), the reset is POST /_sandbox/reset."""
    space = ws.create_workspace("t1", workspace_root=tmp_path)
    sandbox = Sandbox.from_state_file(space.state_file)
    with sandbox.saving_to(space.state_file), sandbox.serve(port=0) as url:
        ws.note_lab(space, url)
        sandbox.admin.set_org_settings({"preAuthKmsi": True})
        report = ws.reset_trainee(tmp_path, "t1")
        assert url in report.sandbox and "running lab" in report.sandbox
        assert sandbox.admin.org_settings["preAuthKmsi"] is False
        saved = Sandbox.from_state_file(space.state_file)
        assert saved.admin.org_settings["preAuthKmsi"] is False, "and saved"
        ws.forget_lab(space)
    assert not space.lab_file.exists()


def test_a_reset_button_finds_its_trainee_in_the_kernels_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws.create_workspace("t2", workspace_root=tmp_path)
    monkeypatch.setenv(ws.TRAINEE_ENV, "t2")
    monkeypatch.setenv(ws.WORKSPACE_ROOT_ENV, str(tmp_path))
    report = ws.reset_trainee(None, None, exercise="00")
    assert report.workspace == (tmp_path / "t2").resolve()


def test_a_sandbox_to_reset_must_be_on_loopback(tmp_path: Path) -> None:
    space = ws.create_workspace("t1", workspace_root=tmp_path)
    with pytest.raises(ConfigError, match="loopback"):
        ws.reset_sandbox(space, admin_url="https://acme.okta.com")


def test_a_stale_lab_file_is_ignored(tmp_path: Path) -> None:
    """A lab killed with SIGKILL left .lab.json behind: its pid is gone, the file is used."""
    space = ws.create_workspace("t1", workspace_root=tmp_path)
    space.lab_file.write_text(json.dumps({"admin_url": "http://127.0.0.1:9", "pid": 2**22 + 1}))
    assert "rewritten" in ws.reset_sandbox(space)


def test_kmsi_lab_reset_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws.create_workspace("t1", workspace_root=tmp_path)
    args = ["lab", "--trainee", "t1", "--workspace-root", str(tmp_path), "--reset"]
    assert cli.main([*args, "--exercise", "00"]) == 0
    assert "restored 1 file(s) (00_start_here.ipynb)" in capsys.readouterr().out
    assert cli.main([*args, "--exercise", "nope"]) == 2
    assert "reset refused: exercise:" in capsys.readouterr().err
    assert cli.main(["lab", "--reset"]) == 2
    assert "need --trainee NAME" in capsys.readouterr().err
    assert cli.main(["lab", "--trainee", "../up", "--no-browser"]) == 2
    assert "trainee:" in capsys.readouterr().err


def test_the_lab_of_a_trainee_serves_the_workspace_and_opens_start_here(tmp_path: Path) -> None:
    lab = Lab(port=1, token="tok", trainee="t1", workspace_root=tmp_path)
    assert lab.root_dir == (tmp_path / "t1").resolve()
    ws.create_workspace("t1", workspace_root=tmp_path)
    assert lab.url == f"http://127.0.0.1:1/lab/tree/{ws.START_NOTEBOOK}?token=tok"
    assert Lab(port=1, token="tok", root_dir=tmp_path).url == "http://127.0.0.1:1/lab?token=tok"


@pytest.mark.parametrize(
    ("value", "interactive"),
    [
        pytest.param("1", True, id="set"),
        pytest.param(None, False, id="unset"),
        pytest.param("0", False, id="zero"),
    ],
)
def test_forms_appear_by_themselves_in_the_lab(
    value: str | None, interactive: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """KMSI_INTERACTIVE=1 (kmsi lab) makes a runbook interactive with its cell unedited."""
    if value is None:
        monkeypatch.delenv(INTERACTIVE_ENV, raising=False)
    else:
        monkeypatch.setenv(INTERACTIVE_ENV, value)
    namespace = {"mode": "plan", "evidence_dir": str(tmp_path), "interactive": False}
    assert Runbook.from_parameters("audit", namespace).interactive is interactive


def test_a_second_lab_for_the_same_trainee_is_refused(tmp_path: Path) -> None:
    """Two labs would save two orgs into one state file: the second one does not start."""
    space = ws.create_workspace("t1", workspace_root=tmp_path)
    ws.note_lab(space, "http://127.0.0.1:9")  # this (live) process serves it
    lab = Lab(port=1, trainee="t1", workspace_root=tmp_path, open_browser=False)
    with pytest.raises(ConfigError, match="already served by a running lab"):
        lab.start()
    lab.close()
    assert ws.running_lab(space) == "http://127.0.0.1:9"
