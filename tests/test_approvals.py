"""Signed approvals: an apply to a real org needs one, by someone other than the operator.

A real ``kmsi run`` plan against a served sandbox, with ``KMSI_REQUIRE_APPROVAL=1`` so that
the sandbox asks for what a real org asks for; an Ed25519 key from ``kmsi keys new``; the
evidence root's ``allowed-signers``. Each requirement is refused on its own (none, a bad
signature, an unknown signer, another ticket, expired, approver = operator), a valid
approval is accepted and recorded, and ``kmsi evidence verify`` catches a forged one.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kmsi_lib import evidence
from kmsi_lib.errors import EvidenceError, ParameterError
from kmsi_lib.evidence import approvals
from kmsi_lib.runbooks import approval, approve
from kmsi_lib.runbooks import run as runner
from kmsi_lib.sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent
CHANGE = "CHG-4711"
PARAMS = {"apps": {"labels": ["Partner Portal"]}, "update_default_rule": False}

pytestmark = pytest.mark.slow


class World:
    def __init__(self, tmp: Path, sandbox: Sandbox) -> None:
        self.tmp, self.sandbox, self.root = tmp, sandbox, tmp / "evidence"
        self.params = tmp / "post_auth.yaml"
        self.params.write_text(json.dumps(PARAMS))
        self.ann = tmp / "keys" / "ann"
        self.bob = tmp / "keys" / "bob"
        ann = approvals.new_key(self.ann, comment="ann")
        approvals.new_key(self.bob, comment="bob")
        self.root.mkdir()
        (self.root / approvals.ALLOWED_SIGNERS).write_text(
            "# who may approve KMSI changes\n" + f"ann@acme.example {ann}\n"
        )

    def run(self, mode: str, **options: Any) -> runner.RunReport:
        return runner.run_notebook(
            ROOT / "notebooks" / "20_post_auth.ipynb",
            self.params,
            mode=mode,
            change_id=CHANGE,
            evidence_root=self.root,
            timeout=180,
            progress=False,
            **options,
        )

    def writes(self) -> list[dict[str, Any]]:
        return [
            r
            for r in self.sandbox.admin.requests()
            if r["method"] != "GET"
            and r["path"].startswith("/api/")
            and "simulate" not in r["path"]
        ]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, Path]]:
    sandbox = Sandbox(seed="default")
    tmp = tmp_path_factory.mktemp("approvals")
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith(("OKTA_", "KMSI_"))}
    try:
        with sandbox.serve(port=0) as url:
            os.environ.update(
                OKTA_ORG_URL=url,
                OKTA_API_TOKEN=sandbox.token,
                KMSI_OPERATOR="ops@acme.example",
                KMSI_REQUIRE_APPROVAL="1",
            )
            w = World(tmp, sandbox)
            plan = w.run("plan")
            assert plan.exit_code == 0 and plan.run_dir is not None, plan.message
            yield w, plan.run_dir
    finally:
        for key in [k for k in os.environ if k.startswith(("OKTA_", "KMSI_"))]:
            os.environ.pop(key)
        os.environ.update(saved)


def _check(w: World, run_dir: Path, *, operator: str = "ops@acme.example") -> dict[str, Any]:
    record = json.loads((run_dir / "record.json").read_text())
    return approval.signed_approval(
        w.root,
        record["run_id"],
        change_id=CHANGE,
        plan_digest=record["plan"]["digest"],
        operator=operator,
        operator_public_key=None,
        required=True,
    )


def test_an_apply_without_an_approval_is_refused_before_any_write(
    world: tuple[World, Path],
) -> None:
    w, plan_dir = world
    w.sandbox.admin.clear_requests()
    with pytest.raises(ParameterError, match="needs the approved plan"):
        w.run("apply")
    with pytest.raises(EvidenceError, match="no signed approval"):
        w.run("apply", approved_plan=plan_dir)
    assert w.writes() == []


def test_each_requirement_is_refused_with_its_reason(world: tuple[World, Path]) -> None:
    w, plan_dir = world
    record = json.loads((plan_dir / "record.json").read_text())
    now = _dt.datetime.now(_dt.UTC)
    # an unknown signer: bob's key is not in allowed-signers
    approve.approve(w.root, plan_dir, key_path=w.bob, approver="bob@acme.example")
    with pytest.raises(EvidenceError, match="not in the evidence root's allowed-signers"):
        _check(w, plan_dir)
    # expired: approved two days ago for one hour
    past = now - _dt.timedelta(days=2)
    approve.approve(w.root, plan_dir, key_path=w.ann, approver="ann@acme.example", expires="1h",
                    now=past)  # fmt: skip
    with pytest.raises(EvidenceError, match="expired at"):
        _check(w, plan_dir)
    # another ticket, and a forged signature: entries signed by hand, appended to the chain
    key = approvals.load_private_key(w.ann)
    fields = {
        "kind": approvals.APPROVAL_KIND,
        "run_id": record["run_id"],
        "path": str(plan_dir.relative_to(w.root)),
        "change_id": "CHG-OTHER",
        "plan_digest": record["plan"]["digest"],
        "approver": "ann@acme.example",
        "approved_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "expires_at": (now + _dt.timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    evidence.append_ledger(w.root, approvals.sign_approval(key, fields))
    with pytest.raises(EvidenceError, match="not this run's 'CHG-4711'"):
        _check(w, plan_dir)
    forged = approvals.sign_approval(
        approvals.load_private_key(w.bob), {**fields, "change_id": CHANGE}
    )
    forged["public_key"] = " ".join(
        (w.ann.with_name("ann.pub")).read_text().split()[:2]
    )  # ann's key, bob's signature
    evidence.append_ledger(w.root, forged)
    with pytest.raises(EvidenceError, match="signature does not verify"):
        _check(w, plan_dir)
    report = evidence.verify(w.root)
    assert not report.ok and [p.kind for p in report.problems] == ["approval"]
    # the approver is the operator
    with pytest.raises(EvidenceError, match="segregation of duties"):
        _check(w, plan_dir, operator="ann@acme.example")


def test_a_valid_approval_is_accepted_and_recorded(
    world: tuple[World, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    w, plan_dir = world
    args = argparse.Namespace(
        run_dir=plan_dir, key=w.ann, approver="ann@acme.example", expires="72h",
        evidence_root=w.root,
    )  # fmt: skip
    assert approve.main(args) == 0
    assert "approved" in capsys.readouterr().out
    os.environ["KMSI_REPORT_PDF"] = "1"
    try:
        done = w.run("apply", approved_plan=plan_dir)
    finally:
        os.environ.pop("KMSI_REPORT_PDF")
    assert done.exit_code == 0, done.message
    assert done.record is not None
    granted = done.record["approved_plan"]["approval"]
    assert granted["status"] == "valid" and granted["approver"] == "ann@acme.example"
    assert done.record["approval"] == granted
    # the report: no code, the approval in the banner, covered by the ledger; the PDF too
    assert done.run_dir is not None
    report = (done.run_dir / "report.html").read_text()
    assert "valid signature by ann@acme.example" in report and "rb.plan()" not in report
    assert 'class="kmsi-impact"' in report and "Okta&#x27;s System Log" in report
    assert "Rolling it back" in report
    assert {"report.html", "report.pdf"} <= set(done.record["files"])
    assert (done.run_dir / "report.pdf").read_bytes().startswith(b"%PDF")
    # the report is covered by the ledger like every file; the one problem left is the
    # approval forged in the test above
    assert {p.kind for p in evidence.verify(w.root).problems} <= {"approval"}
    _screenshot_banner(done.run_dir / "report.html")
    # as the operator, ann may not apply what she approved
    os.environ["KMSI_OPERATOR"] = "ann@acme.example"
    try:
        again = w.run("plan")
        assert again.run_dir is not None
        approve.approve(w.root, again.run_dir, key_path=w.ann, approver="ann@acme.example")
        with pytest.raises(EvidenceError, match="segregation of duties"):
            w.run("apply", approved_plan=again.run_dir)
    finally:
        os.environ["KMSI_OPERATOR"] = "ops@acme.example"


def test_keys_new_writes_an_openssh_pair_and_never_overwrites(tmp_path: Path) -> None:
    line = approvals.new_key(tmp_path / "k", comment="me")
    assert line.startswith("ssh-ed25519 ") and line.endswith(" me")
    assert (tmp_path / "k").stat().st_mode & 0o777 == 0o600
    assert b"OPENSSH PRIVATE KEY" in (tmp_path / "k").read_bytes()
    with pytest.raises(Exception, match="exists"):
        approvals.new_key(tmp_path / "k")


def _screenshot_banner(page_path: Path) -> None:
    """The report in headless chromium: its banner shows the approver and the signature."""
    from test_browser_lab import CHROMIUM, CHROMIUM_ARGS, OUTPUT

    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("/usr/bin/chromium is missing in CI")
        return
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(page_path.as_uri())
        expect(page.locator(".kmsi-evidence-header")).to_be_visible()
        approval_row = page.locator(".kmsi-approval")
        expect(approval_row).to_contain_text("valid signature by ann@acme.example")
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUTPUT / "report_banner.png"))
        browser.close()
