"""A trainee's session in a real JupyterLab and headless Chromium, through the forms.

``kmsi lab --trainee t1`` opens on the start-here notebook. Exercise E1 (post-auth KMSI for
Workday and GitHub only) is first attempted the wrong way, through the post-auth form:
the two apps share "High assurance apps" with AWS, so the self-check explains that KMSI was
widened to a shared policy. Exercise E3 (the partner brand's prompt) is then done through
the prompt-text form and its self-check reports success. The facilitator's reset (the
exercise's button) puts the org back to the exercise's start. Screenshots:
``test-output/browser_training_*.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from test_browser_lab import OUTPUT, browser_page, fill_field, need_chromium, started_lab

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

OPEN_AND_RUN = """async (path) => {
    const app = window.jupyterapp;
    const panel = await app.commands.execute('docmanager:open', {path});
    await panel.context.ready;
    await panel.sessionContext.ready;
    app.shell.activateById(panel.id);
    await app.commands.execute('notebook:run-all-cells');
}"""

OPEN = """async (path) => {
    const app = window.jupyterapp;
    const panel = await app.commands.execute('docmanager:open', {path});
    await panel.context.ready;
    app.shell.activateById(panel.id);
}"""

RUN_CELL = """async (needle) => {
    const app = window.jupyterapp;
    const panel = app.shell.currentWidget;
    const cells = panel.content.widgets;
    const index = cells.findIndex(c => c.model.sharedModel.getSource().includes(needle));
    panel.content.activeCellIndex = index;
    await app.commands.execute('notebook:run-cell');
    return index;
}"""


def _catch_all_post_auth(url: str, token: str, label: str) -> str:
    with httpx.Client(base_url=url, headers={"Authorization": f"SSWS {token}"}) as http:
        app = next(a for a in http.get("/api/v1/apps").json() if a["label"] == label)
        policy_id = app["_links"]["accessPolicy"]["href"].rsplit("/", 1)[-1]
        rules = http.get(f"/api/v1/policies/{policy_id}/rules").json()
    rule = next(r for r in rules if r["name"] == "Catch-all Rule")
    return str(rule["actions"]["appSignOn"].get("keepMeSignedIn", {}).get("postAuth"))


def _exercise_then_runbook(page: Page, exercise: str, runbook: str) -> Locator:
    """Run ``exercise`` (its check says not solved yet), then ``runbook``: its plan form."""
    from playwright.sync_api import expect

    panel = page.locator(".jp-NotebookPanel:visible")
    page.evaluate(OPEN_AND_RUN, f"{exercise}.ipynb")
    expect(panel).to_contain_text("not solved yet", timeout=120_000)
    page.evaluate(OPEN_AND_RUN, f"{runbook}.ipynb")
    plan_form = panel.locator(".kmsi-step-plan")
    expect(plan_form).to_be_visible(timeout=120_000)
    return plan_form


def _apply(page: Any, ticket: str, *, reach: bool = False) -> None:
    from playwright.sync_api import expect

    apply_form = page.locator(".jp-NotebookPanel:visible .kmsi-step-apply")
    apply_form.locator(".widget-text", has_text="Change ticket").locator("input").fill(ticket)
    if reach:
        apply_form.locator(".kmsi-reach input[type=checkbox]").check()
    button = apply_form.locator("button", has_text="Apply")
    expect(button).to_be_enabled(timeout=30_000)
    button.click()
    expect(apply_form).to_contain_text("applied", timeout=90_000)


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(420)
def test_a_trainee_does_exercises_through_the_forms(tmp_path: Path) -> None:
    need_chromium()
    from playwright.sync_api import expect

    OUTPUT.mkdir(exist_ok=True)
    shot = OUTPUT / "browser_training"
    with started_lab(tmp_path, trainee="t1", workspace_root=tmp_path / "training") as (lab, p):
        assert lab.sandbox is not None
        token = lab.sandbox.token
        with browser_page(p, shot) as page:
            panel = page.locator(".jp-NotebookPanel:visible")
            page.goto(lab.url)
            page.wait_for_function("() => window.jupyterapp !== undefined")
            page.wait_for_function(
                "() => window.jupyterapp.shell.currentWidget?.context?.path"
                " === '00_start_here.ipynb'"
            )
            page.screenshot(path=f"{shot}-start.png")

            # E1, the wrong way: KMSI on the two apps' shared policy
            plan_form = _exercise_then_runbook(page, "E1_post_auth_two_apps", "20_post_auth")
            fill_field(plan_form, "apps.labels", "Workday, GitHub Enterprise Cloud")
            plan_form.locator("button", has_text="Plan").click()
            expect(plan_form.locator(".kmsi-impact")).to_contain_text(
                "AWS IAM Identity Center", timeout=60_000
            )
            _apply(page, "CHG-101", reach=True)
            assert _catch_all_post_auth(lab.sandbox_url, token, "Workday") == "ALLOWED"
            # only the check cell: the set-up cell would put the exercise's start back
            page.evaluate(OPEN, "E1_post_auth_two_apps.ipynb")
            page.evaluate(RUN_CELL, "training.check(EXERCISE)")
            expect(panel).to_contain_text("widened to a shared policy", timeout=120_000)
            page.screenshot(path=f"{shot}-e1-wrong.png", full_page=True)

            # the exercise's reset button: the facilitator's reset, then its set-up
            panel.locator("button", has_text="Reset this exercise").click()
            for _ in range(60):
                if _catch_all_post_auth(lab.sandbox_url, token, "Workday") != "ALLOWED":
                    break
                page.wait_for_timeout(1000)
            assert _catch_all_post_auth(lab.sandbox_url, token, "Workday") == "NOT_ALLOWED"

            # E3 through the prompt-text form: the self-check says solved
            plan_form = _exercise_then_runbook(page, "E3_partner_prompt", "30_prompt_text")
            fill_field(plan_form, "brands", "Acme Partners")
            fill_field(plan_form, "title", "Stay signed in to the partner portal?")
            fill_field(plan_form, "accept_button_text", "Yes, on this device")
            plan_form.locator("button", has_text="Plan").click()
            expect(plan_form.locator('[data-version="after"]').first).to_be_visible(timeout=60_000)
            _apply(page, "CHG-103")
            page.evaluate(OPEN, "E3_partner_prompt.ipynb")
            page.evaluate(RUN_CELL, "training.check(EXERCISE)")
            expect(panel).to_contain_text("E3: solved", timeout=120_000)
            page.screenshot(path=f"{shot}-e3-solved.png", full_page=True)
