"""The training exercises' self-checks, both ways, against the sandbox in-process.

Each exercise is set up, checked unsolved, solved through the procedures (plan + apply, with
the reach acknowledged where the plan asks for it) or the Admin Console stand-in, and checked
solved. E1's typical mistake, widening KMSI to the shared policy, gets its own explanation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from procedure_support import ATTESTATION, Org, apply_acknowledged, make_org

from kmsi_lib import training
from kmsi_lib.engine import Attestation
from kmsi_lib.procedures import REGISTRY
from kmsi_lib.training import console
from kmsi_lib.training.exercises import LOST_LAPTOP_USER, SHADOW_RULE


@pytest.fixture
def org() -> Org:
    return make_org()


def run(org: Org, name: str, params: dict[str, Any], **options: Any) -> Any:
    procedure = REGISTRY[name]
    plan = procedure.plan(org.client, params)
    return apply_acknowledged(procedure, org.client, plan, **options)


def start(org: Org, key: str, tmp_path: Path) -> training.Verdict:
    training.setup(key, client=org.client, workdir=tmp_path)
    verdict = training.check(key, client=org.client, workdir=tmp_path)
    assert verdict.solved is False, verdict
    return verdict


def solved(org: Org, key: str, tmp_path: Path) -> training.Verdict:
    verdict = training.check(key, client=org.client, workdir=tmp_path)
    assert verdict.solved is True, str(verdict)
    return verdict


E1_PARAMS = {"apps": {"labels": ["Workday", "GitHub Enterprise Cloud"]}, "prompt_frequency": "P7D"}


def test_e1_solved_with_a_policy_of_their_own(org: Org, tmp_path: Path) -> None:
    """A dedicated policy for the two apps, then the post-auth runbook, solves E1."""
    start(org, "E1", tmp_path)
    console.give_own_policy(
        org.client, ["Workday", "GitHub Enterprise Cloud"], "Workday and GitHub"
    )
    run(org, "post_auth", E1_PARAMS)
    verdict = solved(org, "E1", tmp_path)
    assert any("Workday offers the prompt once a week" in r for r in verdict.right)


def test_e1_widened_to_the_shared_policy_names_the_neighbour(org: Org, tmp_path: Path) -> None:
    """Post-auth on the two apps while they share their policy reaches AWS: the check says so."""
    start(org, "E1", tmp_path)
    run(org, "post_auth", E1_PARAMS)
    verdict = training.check("E1", client=org.client, workdir=tmp_path)
    assert verdict.solved is False
    assert any(
        w.startswith(
            "AWS IAM Identity Center on 'High assurance apps' now also offers the prompt:"
            " KMSI was widened to a shared policy"
        )
        for w in verdict.wrong
    ), verdict.wrong
    assert any("Workday offers the prompt" in r for r in verdict.right)


def test_e1_widened_to_the_default_policy_counts_the_apps(org: Org, tmp_path: Path) -> None:
    """KMSI on Zoom's policy reaches its 15 neighbours: "Box and 15 other apps …"."""
    start(org, "E1", tmp_path)
    run(org, "post_auth", {"apps": {"labels": ["Zoom"]}, "prompt_frequency": "P7D"})
    verdict = training.check("E1", client=org.client, workdir=tmp_path)
    assert any(
        "other apps on 'Any two factors' now also offer the prompt: KMSI was widened" in w
        for w in verdict.wrong
    ), verdict.wrong


def test_e1_setup_is_idempotent_and_undoes_a_dedicated_policy(org: Org, tmp_path: Path) -> None:
    """Setting E1 up again after solving it brings back its start (unsolved)."""
    training.setup("E1", client=org.client, workdir=tmp_path)
    console.give_own_policy(
        org.client, ["Workday", "GitHub Enterprise Cloud"], "Workday and GitHub"
    )
    run(org, "post_auth", E1_PARAMS)
    start(org, "E1", tmp_path)
    start(org, "E1", tmp_path)
    assert org.app_policy_id("Workday") == org.policy("ACCESS_POLICY", "High assurance apps")["id"]


def test_e2_contractors_session_policy(org: Org, tmp_path: Path) -> None:
    """A pre-auth session policy for Contractors with a short MFA lifetime solves E2."""
    verdict = start(org, "E2", tmp_path)
    assert any("Contractors still sign in under 'Default Policy'" in w for w in verdict.wrong)
    org.sandbox.admin.set_org_settings({"preAuthKmsi": True})
    params = {
        "groups": ["Contractors"],
        "factor_lifetime_minutes": 60,
        "max_session_idle_minutes": 30,
        "apps": {"labels": ["Okta Dashboard"]},
    }
    run(org, "pre_auth", params, attestation=Attestation(**ATTESTATION))
    solved(org, "E2", tmp_path)


def test_e2_too_long_a_lifetime_is_named(org: Org, tmp_path: Path) -> None:
    """An MFA lifetime over the limit is wrong, with the number."""
    start(org, "E2", tmp_path)
    org.sandbox.admin.set_org_settings({"preAuthKmsi": True})
    params = {
        "groups": ["Contractors"],
        "factor_lifetime_minutes": 240,
        "apps": {"labels": ["Okta Dashboard"]},
    }
    run(org, "pre_auth", params, attestation=Attestation(**ATTESTATION))
    verdict = training.check("E2", client=org.client, workdir=tmp_path)
    assert verdict.solved is False
    assert any("after 240 minutes" in w for w in verdict.wrong), verdict.wrong


PARTNER = {
    "title": "Stay signed in to the partner portal?",
    "accept_button_text": "Yes, on this device",
}


def test_e3_partner_brand_only(org: Org, tmp_path: Path) -> None:
    """The prompt text on the partner brand alone solves E3."""
    start(org, "E3", tmp_path)
    run(org, "prompt_text", {"brands": ["Acme Partners"], **PARTNER})
    solved(org, "E3", tmp_path)


def test_e3_all_brands_is_wrong(org: Org, tmp_path: Path) -> None:
    """Naming every brand changes the default brand's prompt too: the check says so."""
    start(org, "E3", tmp_path)
    run(org, "prompt_text", {"brands": "all", **PARTNER})
    verdict = training.check("E3", client=org.client, workdir=tmp_path)
    assert verdict.solved is False
    assert any("'Acme Corp'" in w and "changed too" in w for w in verdict.wrong), verdict.wrong


def _reset_lost_laptop(org: Org, tmp_path: Path, *, forget_devices: bool) -> None:
    """E4 set up, then the lost laptop's user reset (tokens revoked too)."""
    start(org, "E4", tmp_path)
    params = {"users": [LOST_LAPTOP_USER], "forget_devices": forget_devices, "oauth_tokens": True}
    run(org, "reset_sessions", params)


def test_e4_lost_laptop(org: Org, tmp_path: Path) -> None:
    """Revoking one user's sessions, devices and tokens solves E4."""
    _reset_lost_laptop(org, tmp_path, forget_devices=True)
    solved(org, "E4", tmp_path)


def test_e4_remembered_device_kept_is_wrong(org: Org, tmp_path: Path) -> None:
    """Sessions revoked but the device remembered: not solved, and why."""
    _reset_lost_laptop(org, tmp_path, forget_devices=False)
    verdict = training.check("E4", client=org.client, workdir=tmp_path)
    assert verdict.solved is False
    assert any("remembered device" in w for w in verdict.wrong), verdict.wrong


def test_e4_without_the_witness_cannot_decide(org: Org, tmp_path: Path) -> None:
    """With no sandbox witness the check says it cannot decide (no session API in Okta)."""
    from kmsi_lib.engine import witness

    training.setup("E4", client=org.client, workdir=tmp_path)
    with witness.installed(None):
        verdict = training.check("E4", client=org.client, workdir=tmp_path)
    assert verdict.solved is None


def test_e5_shadowed_rule(org: Org, tmp_path: Path) -> None:
    """Moving the Everyone rule below the pilot rule solves E5."""
    verdict = start(org, "E5", tmp_path)
    assert any(SHADOW_RULE in w and "never applies" in w for w in verdict.wrong), verdict.wrong
    console.move_rule(org.client, "Okta Dashboard", SHADOW_RULE, 2)
    solved(org, "E5", tmp_path)


def test_e5_deactivating_also_fixes(org: Org, tmp_path: Path) -> None:
    """Deactivating the shadowing rule is a fix too."""
    start(org, "E5", tmp_path)
    console.deactivate_rule(org.client, "Okta Dashboard", SHADOW_RULE)
    solved(org, "E5", tmp_path)
    start(org, "E5", tmp_path)  # set up again: the shadowing rule is back, active and first


def test_e6_rollback(org: Org, tmp_path: Path) -> None:
    """An apply, then its rollback, brings the org back to the start: E6 solved."""
    verdict = start(org, "E6", tmp_path)
    assert any("nothing has changed" in w for w in verdict.wrong)
    result = run(org, "post_auth", {"apps": {"labels": ["Slack"]}, "prompt_frequency": "P7D"})
    verdict = training.check("E6", client=org.client, workdir=tmp_path)
    assert verdict.solved is False and "not back" in verdict.wrong[0]
    run(org, "rollback", {"apply_result": result.to_dict()})
    solved(org, "E6", tmp_path)


def test_hints_nudge_first_then_the_way(tmp_path: Path) -> None:
    """Level 1 names no parameter value of the solution; the last level does."""
    for key, ex in training.EXERCISES.items():
        first = training.hint(key, workdir=tmp_path)
        assert first.startswith("Hint 1 of"), first
        for giveaway in ("P7D", "console.", "forget_devices", "rule_name", "'Acme Partners'", "60"):
            assert giveaway not in first, (key, first)
        last = training.hint(key, level=len(ex.hints), workdir=tmp_path)
        assert "ask again" not in last
    assert training.Progress.load(tmp_path).exercises["E1"]["hints"] == 1


def test_progress_round_trip(tmp_path: Path) -> None:
    """The progress file keeps checks, hints and the solved time across loads."""
    state = training.Progress.load(tmp_path)
    state.started("E1", {"offers": {}})
    state.checked("E1", False)
    state.checked("E1", True)
    state.hinted("E2")
    path = state.save()
    again = training.Progress.load(tmp_path)
    assert again.exercises == state.exercises
    assert json.loads(path.read_text())["version"] == 1
    table = training.progress(tmp_path)
    assert table.solved == 1
    assert "1 of 6 exercises solved" in str(table)
    assert "<table>" in table._repr_html_()
    rows = {row[0]: row for row in table.rows}
    assert rows["E1"][2].startswith("solved") and rows["E1"][3] == "2"
    assert rows["E3"][2] == "not started"


def test_check_before_setup_asks_for_it(org: Org, tmp_path: Path) -> None:
    """A check with no recorded start cannot decide and says to set up first."""
    verdict = training.check("E3", client=org.client, workdir=tmp_path)
    assert verdict.solved is None and "set up" in verdict.notes[0]


def test_training_refuses_a_real_org(monkeypatch: pytest.MonkeyPatch) -> None:
    """The exercises write to the org they check: never a real one."""
    from kmsi_lib.errors import ConfigError

    monkeypatch.setenv("OKTA_ORG_URL", "https://acme.okta.com")
    with pytest.raises(ConfigError, match="only against the sandbox"):
        training.connect()


# ---- the notebooks ---------------------------------------------------------------------------

TRAINING = Path(__file__).resolve().parent.parent / "training"


def test_training_notebooks_are_built_from_their_sources() -> None:
    """Every training notebook matches its source: kernelspec, stable ids, no outputs."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("training_build", TRAINING / "_build.py")
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    assert build.main(["--check"]) == 0
    names = sorted(p.name for p in (TRAINING / "notebooks").glob("*.ipynb"))
    assert names[0] == "00_start_here.ipynb"
    assert {f"{k}_" for k in training.EXERCISES} <= {n[:3] for n in names}
    for name in names:
        notebook = json.loads((TRAINING / "notebooks" / name).read_text())
        assert notebook["metadata"]["kernelspec"]["name"] == "python3"
        assert all(not c.get("outputs") for c in notebook["cells"])
        assert "sandbox-token" not in json.dumps(notebook)


def test_each_exercise_notebook_has_setup_check_hint_and_progress() -> None:
    """An exercise notebook sets up, checks, hints and shows progress for its own key."""
    for key, ex in training.EXERCISES.items():
        text = (TRAINING / "src" / ex.notebook.replace(".ipynb", ".py")).read_text()
        assert f'EXERCISE = "{key}"' in text
        for call in (
            "training.setup(EXERCISE)",
            "training.check(EXERCISE)",
            "training.hint(EXERCISE)",
            "training.progress()",
            "buttons(EXERCISE",
        ):
            assert call in text, (key, call)
        for runbook in ex.runbooks:
            assert runbook in text


@pytest.mark.slow
def test_start_here_and_an_exercise_run_headless(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """papermill runs 00_start_here and E3 against a served sandbox; E3's check says unsolved."""
    import papermill

    from kmsi_lib.sandbox import Sandbox

    sandbox = Sandbox(seed="default")
    for name in [n for n in __import__("os").environ if n.startswith("OKTA_")]:
        monkeypatch.delenv(name)
    root = str(Path(__file__).resolve().parent.parent)
    monkeypatch.setenv("PYTHONPATH", root)
    with sandbox.serve(port=0) as url:
        monkeypatch.setenv("OKTA_ORG_URL", url)
        monkeypatch.setenv("OKTA_API_TOKEN", sandbox.token)
        monkeypatch.setenv("KMSI_SANDBOX_ADMIN_URL", url)
        for name in ("00_start_here.ipynb", "E3_partner_prompt.ipynb"):
            papermill.execute_notebook(
                str(TRAINING / "notebooks" / name),
                str(tmp_path / name),
                cwd=str(tmp_path),
                kernel_name="python3",
                progress_bar=False,
            )
    executed = json.loads((tmp_path / "E3_partner_prompt.ipynb").read_text())
    outputs = json.dumps([c.get("outputs") for c in executed["cells"]])
    assert "E3: not solved yet." in outputs
    assert "Hint 1 of 3" in outputs
    start_here = json.dumps(json.loads((tmp_path / "00_start_here.ipynb").read_text()))
    assert "Global session policies" in start_here and "image/svg+xml" in start_here
    assert sandbox.token not in start_here and sandbox.token not in outputs
    progress = training.Progress.load(tmp_path)
    assert progress.exercises["E3"]["checks"] == 1


def test_the_command_line_sets_up_and_checks(
    org: Org, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``python -m kmsi_lib.training setup/check/progress`` (a facilitator's one command)."""
    from kmsi_lib.training import __main__ as cli

    monkeypatch.setattr(training, "connect", lambda client=None: org.client)
    assert cli.main(["setup", "E3", "--workdir", str(tmp_path)]) == 0
    assert cli.main(["check", "E3", "--workdir", str(tmp_path)]) == 1
    assert "E3: not solved yet." in capsys.readouterr().out
    assert cli.main(["progress", "--workdir", str(tmp_path)]) == 0
    assert "0 of 6 exercises solved" in capsys.readouterr().out


def test_e6_rollback_of_a_prompt_text_change(org: Org, tmp_path: Path) -> None:
    """A sign-in page change rolled back counts as well (its System Log events are seen)."""
    start(org, "E6", tmp_path)
    result = run(org, "prompt_text", {"brands": ["Acme Partners"], **PARTNER})
    assert training.check("E6", client=org.client, workdir=tmp_path).solved is False
    run(org, "rollback", {"apply_result": result.to_dict()})
    solved(org, "E6", tmp_path)


def test_the_buttons_check_hint_and_reset(
    org: Org, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The notebook's buttons call check, hint and the given reset, and show what they return."""
    from kmsi_lib.training.widgets import buttons

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(training, "connect", lambda client=None: org.client)
    resets: list[str] = []
    box = buttons("E3", reset=lambda: resets.append("reset") or "reset done")
    check, hint, reset = box.children[0].children
    training.setup("E3")
    check.click()
    hint.click()
    reset.click()
    entry = training.Progress.load(tmp_path).exercises["E3"]
    assert entry["checks"] == 1 and entry["hints"] == 1
    assert resets == ["reset"]


@pytest.mark.parametrize("key", ["E1", "E2", "E3", "E5"])
def test_setup_twice_is_setup_once(org: Org, key: str) -> None:
    """A set-up repeated leaves the org and the recorded start as one set-up did."""
    from procedure_support import comparable_snapshot

    ex = training.exercise(key)
    first = ex.setup(org.client)
    once = comparable_snapshot(org.sandbox)
    assert ex.setup(org.client) == first
    assert comparable_snapshot(org.sandbox) == once
