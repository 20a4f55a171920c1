"""``kmsi lab`` and the post-auth runbook's form, driven in JupyterLab by headless Chromium.

The pure parts of :mod:`kmsi_lib.runbooks.lab` are tested first, without a browser.
The browser test (marker ``browser``) starts the sandbox and JupyterLab on
loopback, opens a copy of ``20_post_auth.ipynb`` with ``interactive = True``,
runs it, checks that each step's cell shows its part of the form, fills the
form, plans, enters a ticket, applies, sees the verification, and checks in
the sandbox that the app's rule changed. A second one runs the session reset
runbook and watches its progress bar fill up as the revocations run; a third
runs pre-auth KMSI, whose Admin Console step must be attested before Apply.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from kmsi_lib.runbooks.lab import Lab, free_port, lab_command, lab_environment

if TYPE_CHECKING:
    from playwright.sync_api import Playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
OUTPUT = ROOT / "test-output"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def running(argument: str) -> list[int]:
    """Pids of live processes with ``argument`` on their command line (no pgrep in slim images)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if argument.encode() in args and state != "Z":
            pids.append(int(entry.name))
    return pids


def test_lab_command_listens_on_loopback_and_keeps_the_token_off_it(tmp_path: Path) -> None:
    """A command line is readable by every local user (``ps``): the token goes in the env."""
    command = lab_command(port=8899, root_dir=tmp_path, open_browser=False, as_root=True)
    assert "--ServerApp.ip=127.0.0.1" in command
    assert "--ServerApp.port=8899" in command and "--ServerApp.port_retries=0" in command
    assert not any("token" in part.lower() for part in command)
    assert f"--ServerApp.root_dir={tmp_path}" in command
    assert "--ServerApp.open_browser=False" in command and command[-1] == "--allow-root"
    assert "--allow-root" not in lab_command(
        port=1, root_dir=tmp_path, open_browser=True, as_root=False
    )


def test_lab_environment_points_only_at_the_sandbox() -> None:
    """Any OKTA_* of the calling shell (a real org) is dropped from the lab's environment;
    KMSI_INTERACTIVE=1 shows the runbooks' forms."""
    env = lab_environment(
        {"PATH": "/bin", "OKTA_ORG_URL": "https://real.okta.com", "OKTA_CLIENT_ID": "0oa1"},
        org_url="http://127.0.0.1:5000",
        api_token="sandbox-token-x",
        lab_token="lab-t0k",
    )
    assert env == {
        "PATH": "/bin",
        "OKTA_ORG_URL": "http://127.0.0.1:5000",
        "OKTA_API_TOKEN": "sandbox-token-x",
        "JUPYTER_TOKEN": "lab-t0k",
        "KMSI_INTERACTIVE": "1",
    }


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_kmsi_lab_prints_the_address_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    """`kmsi lab` serves a working JupyterLab; Ctrl-C (SIGINT) stops it and exits 0."""
    port = free_port()
    env = {**os.environ, "OKTA_ORG_URL": "https://real-org.example.okta.com"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kmsi_lib.cli",
            "lab",
            "--no-browser",
            "--port",
            str(port),
            "--token",
            "lab-test-token",
            "--notebook-dir",
            str(ROOT / "notebooks"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=tmp_path,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "open:" in line:
                break
        printed = "".join(lines)
        assert f"http://127.0.0.1:{port}/lab?token=lab-test-token" in printed
        sandbox_url = printed.split("sandbox org (default seed) on ", 1)[1].split()[0]
        assert sandbox_url.startswith("http://127.0.0.1:")
        contents = httpx.get(
            f"http://127.0.0.1:{port}/api/contents",
            headers={"Authorization": "token lab-test-token"},
        ).json()
        assert "20_post_auth.ipynb" in {item["name"] for item in contents["content"]}
        assert httpx.get(f"http://127.0.0.1:{port}/api/contents").status_code == 403
        jupyter = running(f"--ServerApp.port={port}")
        assert jupyter, "JupyterLab's process is found by its command line"
        for pid in jupyter:
            assert b"lab-test-token" not in Path(f"/proc/{pid}/cmdline").read_bytes()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
    assert not running(f"--ServerApp.port={port}"), "JupyterLab outlived kmsi lab"
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{sandbox_url}/_sandbox/state", timeout=2)


def test_kmsi_lab_refuses_an_unknown_seed(capsys: pytest.CaptureFixture[str]) -> None:
    from kmsi_lib.cli import main

    assert main(["lab", "--seed", "nope", "--no-browser", "--port", str(free_port())]) == 2
    assert "unknown seed 'nope'" in capsys.readouterr().err


def interactive_copy(directory: Path, evidence: Path, name: str = "20_post_auth") -> Path:
    """A runbook (``20_post_auth.ipynb``) with interactive = True and the evidence dir set."""
    nb = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    text = "".join(cell["source"])
    assert "interactive: bool = False" in text and 'evidence_dir: str = ""' in text
    text = text.replace("interactive: bool = False", "interactive: bool = True")
    text = text.replace('evidence_dir: str = ""', f"evidence_dir: str = {str(evidence)!r}")
    cell["source"] = text.splitlines(keepends=True)
    path = directory / f"{name}.ipynb"
    path.write_text(json.dumps(nb, indent=1))
    return path


def fill_field(form: Any, name: str, text: str) -> None:
    """Type ``text`` into the form's input for the parameter ``name`` (its label, exactly).

    The runbooks choose nothing themselves: a trainee names the apps, groups or users."""
    row = form.locator(".kmsi-field").filter(has=form.page.locator(f'label:text-is("{name}")'))
    row.locator("textarea, input").first.fill(text)


def open_and_run_all(page: Any, base_url: str, token: str, notebook: str) -> None:
    """Open ``notebook`` in JupyterLab, wait for its kernel, then Run All Cells."""
    page.goto(f"{base_url}/lab/tree/{notebook}?token={token}")
    page.wait_for_function("() => window.jupyterapp !== undefined")
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook")
    # the kernel is started and idle before running every cell
    page.evaluate("""async () => {
        const panel = window.jupyterapp.shell.currentWidget;
        await panel.context.ready;
        await panel.sessionContext.ready;
    }""")
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")


@dataclass
class LabRun:
    """A JupyterLab (with its sandbox org) and a chromium page, for one runbook."""

    lab: Lab
    page: Any
    evidence: Path
    notebook: str

    def run_all(self) -> None:
        open_and_run_all(self.page, self.lab.base_url, self.lab.token, self.notebook)

    def api(self) -> httpx.Client:
        """A client of the lab's sandbox org (its token, real HTTP on loopback)."""
        assert self.lab.sandbox is not None
        return httpx.Client(
            base_url=self.lab.sandbox_url,
            headers={"Authorization": f"SSWS {self.lab.sandbox.token}"},
        )

    def result(self) -> dict[str, Any]:
        """The runbook's ``result.json`` (what the forms recorded)."""
        data: dict[str, Any] = json.loads((self.evidence / "result.json").read_text())
        return data


@contextmanager
def browser_page(playwright: Any, shot: Path) -> Iterator[Any]:
    """A Chromium page (1400x1000, 90 s timeouts) for the block; a full-page
    ``<shot>-failed.png`` when the block fails, and the browser closed after it either way."""
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(90_000)
        try:
            yield page
        except Exception:
            page.screenshot(path=f"{shot}-failed.png", full_page=True)
            raise
    finally:
        browser.close()


def need_chromium() -> None:
    """Skip the test when Chromium is not installed (fail it in CI, where it must be)."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("/usr/bin/chromium is missing in CI (.ci/run installs it)")
        pytest.skip("/usr/bin/chromium is not installed")


@contextmanager
def started_lab(
    tmp_path: Path,
    *,
    root_dir: Path | None = None,
    trainee: str | None = None,
    workspace_root: Path | None = None,
) -> Iterator[tuple[Lab, Playwright]]:
    """JupyterLab started by :class:`Lab` (serving ``root_dir``, or ``trainee``'s workspace
    under ``workspace_root``) on a free port, its log in ``tmp_path/jupyterlab.log``, and
    Playwright: yields both; afterwards the log is closed and no JupyterLab runs on that
    port any more."""
    from playwright.sync_api import sync_playwright

    log = (tmp_path / "jupyterlab.log").open("wb")
    lab = Lab(
        port=0,
        open_browser=False,
        output=log.fileno(),
        extra_args=["--LabApp.expose_app_in_browser=True"],
        root_dir=root_dir,
        trainee=trainee,
        workspace_root=workspace_root,
    )
    try:
        with lab, sync_playwright() as p:
            yield lab, p
    finally:
        log.close()
    assert not running(f"--ServerApp.port={lab.port}"), "JupyterLab is still running"


@contextmanager
def lab_run(tmp_path: Path, name: str) -> Iterator[LabRun]:
    """``kmsi lab`` serving an interactive copy of runbook ``name``, opened in chromium.

    The page is saved to ``test-output/browser_lab_<name>.png`` at the end (``-failed``
    when the test fails); JupyterLab and the sandbox are stopped afterwards.
    """
    need_chromium()
    work, evidence = tmp_path / "lab", tmp_path / "evidence"
    work.mkdir()
    notebook = interactive_copy(work, evidence, name).name
    OUTPUT.mkdir(exist_ok=True)
    shot = OUTPUT / f"browser_lab_{name.split('_', 1)[1]}"
    with started_lab(tmp_path, root_dir=work) as (lab, p):
        assert lab.sandbox is not None
        with browser_page(p, shot) as page:
            yield LabRun(lab, page, evidence, notebook)
            page.screenshot(path=f"{shot}.png", full_page=True)
    assert lab.process is None  # stopped


def app_rule_post_auth(run: LabRun, label: str) -> str:
    with run.api() as http:
        app = next(a for a in http.get("/api/v1/apps").json() if a["label"] == label)
        policy_id = app["_links"]["accessPolicy"]["href"].rsplit("/", 1)[-1]
        rules = http.get(f"/api/v1/policies/{policy_id}/rules").json()
    rule = next(r for r in rules if r["name"] == "Catch-all Rule")
    return str(rule["actions"]["appSignOn"]["keepMeSignedIn"]["postAuth"])


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(240)
def test_post_auth_form_in_jupyterlab(tmp_path: Path) -> None:
    """Open, run, fill, Plan, see the diff, ticket, Apply, see the verification; org changed."""
    from playwright.sync_api import expect

    with lab_run(tmp_path, "20_post_auth") as run:
        assert app_rule_post_auth(run, "Salesforce.com") == "NOT_ALLOWED"
        run.run_all()
        page = run.page
        # each step's cell shows its own part of the form, under its narrative
        cells = page.locator(".jp-CodeCell")
        plan_form = page.locator(".kmsi-step-plan")
        apply_form = page.locator(".kmsi-step-apply")
        verify_form = page.locator(".kmsi-step-verify")
        for part, call in (
            (plan_form, "rb.plan()"),
            (apply_form, "rb.apply()"),
            (verify_form, "rb.verify()"),
        ):
            expect(part).to_be_visible(timeout=120_000)
            expect(cells.filter(has=part).locator(".jp-InputArea")).to_contain_text(call)

        fill_field(plan_form, "apps.labels", "Salesforce.com")
        frequency = plan_form.locator(".kmsi-field", has_text="prompt_frequency")
        frequency.locator("input").fill("P7D")
        apply_button = apply_form.locator("button", has_text="Apply")
        expect(apply_button).to_be_disabled()
        verify_button = verify_form.locator("button", has_text="Verify")
        expect(verify_button).to_be_disabled()

        plan_form.locator("button", has_text="Plan").click()
        expect(plan_form.locator("table").last).to_contain_text(
            "keepMeSignedIn.postAuth", timeout=60_000
        )
        expect(plan_form).to_contain_text("P7D")
        expect(apply_button).to_be_disabled()  # no ticket yet
        # the impact comes first: the shared default policy, its 16 apps, everyone else,
        # and two working weeks of them before and after, drawn
        impact = plan_form.locator(".kmsi-impact")
        expect(impact).to_contain_text("Any two factors")
        expect(impact).to_contain_text("everyone else (Everyone)")
        expect(impact).to_contain_text("16 app(s)")
        chart = impact.locator(".kmsi-timeline img")
        expect(chart).to_be_visible()
        # drawn, not a broken image: the SVG decoded to its width (1200 px)
        assert chart.evaluate("img => img.complete && img.naturalWidth") == 1200

        ticket = apply_form.locator(".widget-text", has_text="Change ticket")
        ticket.locator("input").fill("CHG-1001")
        # the reach must be acknowledged before Apply
        reach = apply_form.locator(".kmsi-reach")
        expect(reach).to_be_visible(timeout=30_000)
        expect(reach).to_contain_text("16")
        expect(apply_button).to_be_disabled()
        expect(apply_form).to_contain_text("tick the box")
        reach.locator("input[type=checkbox]").check()
        expect(apply_button).to_be_enabled(timeout=30_000)
        apply_button.click()
        expect(apply_form).to_contain_text("Apply: post_auth: applied", timeout=60_000)
        # the apply's own read-back, then the verify step's check of the org
        expect(apply_form.get_by_text("Verification: passed")).to_have_count(1)
        passed = verify_form.get_by_text("Verification: passed")
        expect(passed).to_have_count(1, timeout=60_000)
        expect(verify_button).to_be_enabled()
        verify_button.click()  # read the org again: still passed
        expect(verify_button).to_be_enabled(timeout=60_000)
        expect(passed).to_have_count(1, timeout=60_000)
        assert app_rule_post_auth(run, "Salesforce.com") == "ALLOWED"
        passed.scroll_into_view_if_needed()
    result = run.result()
    assert result["outcome"] == "applied" and result["change_id"] == "CHG-1001"
    assert result["verification"]["ok"] is True
    assert result["params"]["prompt_frequency"] == "P7D"
    notes = result["apply_result"]["notes"]
    assert any("acknowledged the plan's reach (at apply)" in n for n in notes)


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(240)
def test_reset_sessions_form_shows_progress_in_jupyterlab(tmp_path: Path) -> None:
    """The bulk step in the browser: Plan lists the pilot group's members, Apply fills the
    progress bar to the member count, and the sandbox saw one revocation per member."""
    from playwright.sync_api import expect

    with lab_run(tmp_path, "40_reset_sessions") as run:
        revocations = f"{run.lab.sandbox_url}/_sandbox/session-revocations"
        assert httpx.get(revocations).json() == []
        run.run_all()
        plan_form = run.page.locator(".kmsi-step-plan")
        apply_form = run.page.locator(".kmsi-step-apply")
        expect(apply_form).to_be_visible(timeout=120_000)
        progress = apply_form.locator(".kmsi-progress")
        expect(progress).to_be_hidden()  # shown only while and after a bulk apply

        fill_field(plan_form, "group", "KMSI Pilot")
        plan_form.locator("button", has_text="Plan").click()
        expect(plan_form.locator("table").first).to_be_visible(timeout=60_000)
        ticket = apply_form.locator(".widget-text", has_text="Change ticket")
        ticket.locator("input").fill("CHG-1002")
        apply_button = apply_form.locator("button", has_text="Apply")
        expect(apply_button).to_be_enabled(timeout=30_000)
        apply_button.click()
        expect(apply_form).to_contain_text("Apply: reset_sessions: applied", timeout=60_000)
        expect(progress).to_be_visible()
        total = len(run.result()["plan"]["changes"])
        expect(progress).to_contain_text(f"{total} of {total} done")
        bar = progress.locator(".progress-bar")
        expect(bar).to_have_attribute("style", re.compile(r"width:\s*100(\.0+)?%"))
        progress.scroll_into_view_if_needed()
        seen = httpx.get(revocations).json()
    result = run.result()
    members = result["plan"]["changes"]
    assert result["outcome"] == "applied" and result["change_id"] == "CHG-1002"
    assert len(members) > 1 and len(seen) == len(members)
    assert {e["forgetDevices"] for e in seen} == {True}


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(240)
def test_pre_auth_manual_step_needs_the_attestation_in_jupyterlab(tmp_path: Path) -> None:
    """The Admin Console step in the browser: the plan lists it with the sandbox's page for it,
    Apply stays disabled until someone says who did it and what, an apply before the click
    writes nothing, the trainee clicks the toggle on that page, and the attestation lands in
    the evidence."""
    from playwright.sync_api import expect

    with lab_run(tmp_path, "10_pre_auth") as run:
        console_url = f"{run.lab.sandbox_url}/_sandbox/console/security/general"
        run.run_all()
        plan_form = run.page.locator(".kmsi-step-plan")
        apply_form = run.page.locator(".kmsi-step-apply")
        verify_form = run.page.locator(".kmsi-step-verify")
        expect(verify_form).to_be_visible(timeout=120_000)
        attest_by = apply_form.locator(".widget-text", has_text="Manual steps done by")
        expect(attest_by).to_be_hidden()

        fill_field(plan_form, "groups", "KMSI Pilot")
        fill_field(plan_form, "apps.labels", "Salesforce.com")
        plan_form.locator("button", has_text="Plan").click()
        expect(plan_form).to_contain_text("Admin Console", timeout=60_000)
        apply_form.locator(".widget-text", has_text="Change ticket").locator("input").fill(
            "CHG-1003"
        )
        apply_button = apply_form.locator("button", has_text="Apply")
        expect(attest_by).to_be_visible()
        expect(apply_button).to_be_disabled()
        expect(apply_form).to_contain_text("say who did them")
        attest_by.locator("input").fill("ann.admin")
        apply_form.locator(".widget-textarea", has_text="What was done").locator("textarea").fill(
            "Security > General: showed the stay-signed-in option"
        )
        # a global session policy applies on every app: that reach is acknowledged too
        expect(apply_button).to_be_disabled()
        apply_form.locator(".kmsi-reach input[type=checkbox]").check()
        expect(apply_button).to_be_enabled(timeout=30_000)
        expect(plan_form).to_contain_text(console_url)
        # the attestation says it was done, but the toggle is still off: refused, nothing written
        apply_button.click()
        expect(apply_form).to_contain_text("still shows", timeout=60_000)
        # the trainee plays the admin's part, as a click on the sandbox's Admin Console page
        console = run.page.context.browser.new_page()
        console.goto(console_url)
        console.locator("#preAuthKmsi").check()
        console.locator("button", has_text="Save").click()
        expect(console.locator("#state")).to_have_text("on")
        console.screenshot(path=str(OUTPUT / "browser_lab_admin_console.png"))
        console.close()
        expect(apply_button).to_be_enabled(timeout=30_000)
        apply_button.click()
        expect(apply_form).to_contain_text("Apply: pre_auth: applied", timeout=60_000)
        expect(verify_form.get_by_text("Verification: passed")).to_have_count(1, timeout=60_000)
        with run.api() as http:
            names = [
                x["name"]
                for x in http.get("/api/v1/policies", params={"type": "OKTA_SIGN_ON"}).json()
            ]
        attest_by.scroll_into_view_if_needed()
    assert "KMSI pre-authentication" in names
    result = run.result()
    assert result["outcome"] == "applied" and result["change_id"] == "CHG-1003"
    attestation = result["apply_result"]["attestation"]
    assert attestation["by"] == "ann.admin" and "stay-signed-in" in attestation["statement"]
    assert result["verification"]["ok"] is True


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(240)
def test_prompt_text_form_previews_the_prompt_in_jupyterlab(tmp_path: Path) -> None:
    """The prompt-text plan in the browser shows each brand's prompt before and after, as the
    Sign-In Widget lays it out, with the changed title marked."""
    from playwright.sync_api import expect

    with lab_run(tmp_path, "30_prompt_text") as run:
        run.run_all()
        plan_form = run.page.locator(".kmsi-step-plan")
        expect(plan_form).to_be_visible(timeout=120_000)
        fill_field(plan_form, "brands", "all")
        fill_field(plan_form, "title", "Stay signed in?")
        plan_form.locator("button", has_text="Plan").click()
        after = plan_form.locator('[data-version="after"]')
        expect(after.first).to_be_visible(timeout=60_000)
        expect(after.first.locator('[data-field="title"]')).to_have_text("Stay signed in?")
        expect(after.first.locator('[data-field="title"]')).to_have_attribute(
            "data-changed", "true"
        )
        before = plan_form.locator('[data-version="before"]').first
        expect(before.locator('[data-field="title"]')).to_have_text("Keep me signed in")
        after.first.scroll_into_view_if_needed()


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_trainee_lab_opens_start_here_and_shows_forms_unedited(tmp_path: Path) -> None:
    """``kmsi lab --trainee t1``: JupyterLab serves t1's workspace (the copies only) and
    opens on the start-here notebook; an unedited runbook there shows its forms; saving it
    after the run keeps it a committed runbook for kmsi run; the facilitator's reset puts
    the running lab's org back to its seed. Screenshot: ``browser_lab_trainee.png``."""
    need_chromium()
    from playwright.sync_api import expect

    from kmsi_lib.runbooks import workspace as ws
    from kmsi_lib.runbooks.templates import check_template

    root = tmp_path / "training"
    OUTPUT.mkdir(exist_ok=True)
    shot = OUTPUT / "browser_lab_trainee"
    space = root / "t1"
    with started_lab(tmp_path, trainee="t1", workspace_root=root) as (lab, p):
        assert lab.url.endswith(f"/lab/tree/{ws.START_NOTEBOOK}?token={lab.token}")
        contents = httpx.get(
            f"{lab.base_url}/api/contents",
            headers={"Authorization": f"token {lab.token}"},
        ).json()
        listed = {item["name"] for item in contents["content"]}
        assert listed == {p.name for p in space.iterdir() if not p.name.startswith(".")}
        assert {"20_post_auth.ipynb", ws.START_NOTEBOOK, "params"} <= listed
        assert not listed & {"src", "_build.py", "jupytext.toml", ".sandbox-state.json"}
        assert json.loads((space / ws.LAB_FILE).read_text())["admin_url"] == lab.sandbox_url

        with browser_page(p, shot) as page:
            page.goto(lab.url)
            page.wait_for_function("() => window.jupyterapp !== undefined")
            page.wait_for_function(
                "() => window.jupyterapp.shell.currentWidget?.context?.path"
                f" === {ws.START_NOTEBOOK!r}"
            )
            expect(page.locator(".jp-NotebookPanel .jp-MarkdownOutput").first).to_contain_text(
                "Start here"
            )
            page.screenshot(path=f"{shot}-start.png", full_page=True)

            # the workspace's copy of the runbook, as copied: its forms appear on Run All
            page.evaluate("""async () => {
                const app = window.jupyterapp;
                const panel = await app.commands.execute(
                    'docmanager:open', {path: '20_post_auth.ipynb'});
                await panel.context.ready;
                await panel.sessionContext.ready;
                app.shell.activateById(panel.id);
                await app.commands.execute('notebook:run-all-cells');
            }""")
            expect(page.locator(".kmsi-step-plan")).to_be_visible(timeout=120_000)
            expect(page.locator(".kmsi-step-verify")).to_be_visible(timeout=120_000)
            page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
            page.wait_for_function(
                "() => !window.jupyterapp.shell.currentWidget.context.model.dirty"
            )
            page.screenshot(path=f"{shot}.png", full_page=True)
        saved = json.loads((space / "20_post_auth.ipynb").read_text())
        assert any(c.get("outputs") for c in saved["cells"]), "saved with its outputs"
        assert check_template(space / "20_post_auth.ipynb") is not None

        settings = f"{lab.sandbox_url}/_sandbox/org-settings"
        assert httpx.put(settings, json={"preAuthKmsi": True}).status_code == 200
        report = ws.reset_trainee(root, "t1")
        assert "running lab" in report.sandbox
        assert httpx.get(settings).json()["preAuthKmsi"] is False
    assert not (space / ws.LAB_FILE).exists() and (space / ws.STATE_FILE).is_file()
