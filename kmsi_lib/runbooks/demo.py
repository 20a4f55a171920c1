"""``kmsi demo``: the sandbox org on loopback and every runbook run against it.

:data:`DEMO_STEPS` is the demo's script: the audit, then plan and apply of each
change, the audit again and a rollback; each run goes through
:func:`kmsi_lib.runbooks.run.run_notebook`, so it leaves the same evidence as
``kmsi run``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from kmsi_lib import evidence
from kmsi_lib.errors import ConfigError, KmsiError
from kmsi_lib.runbooks.report import PDF_ENV
from kmsi_lib.runbooks.run import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    RunReport,
    display_path,
    positive_seconds,
    run_notebook,
)

if TYPE_CHECKING:
    from kmsi_lib.sandbox import Sandbox

__all__ = [
    "DEMO_STEPS",
    "DemoRun",
    "DemoStep",
    "add_demo_arguments",
    "demo_main",
    "run_demo",
]


@dataclasses.dataclass(frozen=True)
class DemoStep:
    notebook: str
    mode: str
    before: str = ""  # an action on the sandbox before the run (the admin's manual step)


DEMO_STEPS: tuple[DemoStep, ...] = (
    DemoStep("00_audit.ipynb", "plan"),
    DemoStep("10_pre_auth.ipynb", "plan"),
    DemoStep("10_pre_auth.ipynb", "apply", before="enable-pre-auth-toggle"),
    DemoStep("20_post_auth.ipynb", "plan"),
    DemoStep("20_post_auth.ipynb", "apply"),
    DemoStep("30_prompt_text.ipynb", "plan"),
    DemoStep("30_prompt_text.ipynb", "apply"),
    DemoStep("40_reset_sessions.ipynb", "plan"),
    DemoStep("40_reset_sessions.ipynb", "apply"),
    DemoStep("00_audit.ipynb", "plan"),
    DemoStep("90_rollback.ipynb", "plan", before="rollback-post-auth"),
    DemoStep("90_rollback.ipynb", "apply", before="rollback-post-auth"),
)


def _project_dir() -> Path:
    """The checkout holding notebooks/ and params/ (the current directory, else the package's)."""
    for candidate in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (candidate / "notebooks").is_dir() and (candidate / "params").is_dir():
            return candidate
    raise ConfigError(
        "kmsi demo: run it from the kmsi-runbooks checkout (no notebooks/ and params/ here)"
    )


def add_demo_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of ``kmsi demo`` (wired by :mod:`kmsi_lib.cli`)."""
    p.description = (
        "Start the sandbox org on loopback and run every runbook against it: the "
        "audit, then plan and apply of each change, the audit again and a "
        "rollback."
    )
    p.add_argument("--evidence-root", type=Path, default=Path("evidence"))
    p.add_argument("--timeout", type=positive_seconds, default=300, help="seconds allowed per cell")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


@dataclasses.dataclass(frozen=True)
class DemoRun:
    """One step of the demo: the run's report, or why it was refused before running."""

    step: DemoStep
    report: RunReport | None
    refused: str = ""

    @property
    def ok(self) -> bool:
        return self.report is not None and self.report.exit_code == EXIT_OK


def run_demo(
    sandbox: Sandbox,
    evidence_root: Path,
    *,
    project: Path | None = None,
    timeout: int = 300,
    progress: bool = True,
) -> list[DemoRun]:
    """Serve ``sandbox`` on loopback and run :data:`DEMO_STEPS` against it.

    For the runs, ``OKTA_ORG_URL``/``OKTA_API_TOKEN`` point at the sandbox and
    every other ``OKTA_*`` variable is removed (so a real org is never
    touched), and ``KMSI_SANDBOX_ADMIN_URL`` installs the sandbox witness in the
    kernels (:mod:`kmsi_lib.engine.witness`); the environment is restored afterwards.
    """
    from kmsi_lib.engine.witness import ADMIN_URL_ENV
    from kmsi_lib.runbooks.params import params_file_for, runbook_name

    project = project or _project_dir()
    change_id = f"DEMO-{_dt.datetime.now(_dt.UTC):%Y%m%d}"
    runs: list[DemoRun] = []
    last_apply: dict[str, Path] = {}
    last_plan: dict[str, Path] = {}  # each apply applies the plan run just before it
    saved = {
        k: v
        for k, v in os.environ.items()
        if k.startswith("OKTA_") or k in (ADMIN_URL_ENV, PDF_ENV)
    }
    with sandbox.serve(port=0) as url, tempfile.TemporaryDirectory(prefix="kmsi-demo-") as tmp:
        for key in saved:
            del os.environ[key]
        os.environ["OKTA_ORG_URL"] = url
        os.environ["OKTA_API_TOKEN"] = sandbox.token
        os.environ[ADMIN_URL_ENV] = url  # the demo knows its org is the sandbox
        os.environ[PDF_ENV] = "1"  # every demo run leaves its report as PDF too
        try:
            print(f"sandbox org on {url}; evidence in {evidence_root}/ (change {change_id})")
            for step in DEMO_STEPS:
                notebook = project / "notebooks" / step.notebook
                name = runbook_name(notebook)
                params_file = params_file_for(notebook, project / "params" / "sandbox")
                if step.before == "enable-pre-auth-toggle":
                    print(
                        "(the admin's manual step: the sandbox's pre-auth KMSI toggle is "
                        "switched on through its admin API)"
                    )
                    sandbox.admin.set_org_settings({"preAuthKmsi": True})
                if step.before == "rollback-post-auth":
                    params_file = _rollback_params(
                        params_file, last_apply.get("post_auth"), Path(tmp)
                    )
                # Each apply applies the plan run just before it, as a change board would
                # approve it (the rollback too).
                approved = last_plan.get(name) if step.mode == "apply" else None
                how = f" with the approved plan {approved.name}" if approved else ""
                print(f"\n== {step.notebook} ({step.mode}{how})")
                try:
                    report = run_notebook(
                        notebook,
                        params_file,
                        mode=step.mode,
                        change_id=change_id,
                        approved_plan=approved,
                        evidence_root=evidence_root,
                        timeout=timeout,
                        progress=progress,
                    )
                except KmsiError as exc:
                    runs.append(DemoRun(step, None, str(exc)))
                    print(f"refused: {exc}", file=sys.stderr)
                    continue
                runs.append(DemoRun(step, report))
                if report.exit_code != EXIT_OK:
                    print(report.message, file=sys.stderr)
                if step.mode == "apply" and report.run_dir is not None:
                    last_apply[name] = report.run_dir / evidence.RESULT_FILE
                if step.mode == "plan" and report.exit_code == EXIT_OK and report.run_dir:
                    last_plan[name] = report.run_dir
        finally:
            for key in ("OKTA_ORG_URL", "OKTA_API_TOKEN", ADMIN_URL_ENV, PDF_ENV):
                os.environ.pop(key, None)
            os.environ.update(saved)
    return runs


def demo_main(args: argparse.Namespace) -> int:
    """``kmsi demo``: every runbook against a fresh sandbox; exit 0 when all went as expected."""
    from kmsi_lib.sandbox import Sandbox

    try:
        runs = run_demo(
            Sandbox(seed="default"),
            args.evidence_root,
            timeout=args.timeout,
            progress=not args.no_progress,
        )
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    rows = []
    for run in runs:
        report = run.report
        where = display_path(report.run_dir) if report and report.run_dir else "-"
        outcome = report.outcome if report else f"refused: {run.refused}"
        rows.append([run.step.notebook, run.step.mode, outcome, where])
    print("\n" + evidence.format_table(rows, ["runbook", "mode", "outcome", "evidence"]))
    verified = evidence.verify(args.evidence_root)
    print("\n" + verified.to_text())
    last = next((r[3] for r in reversed(rows) if r[3] != "-"), str(args.evidence_root))
    print(
        f"\nOpen a run's report in a browser, e.g. {last}/report.html (report.pdf beside it;"
        f" notebook.html has every cell); list every run with: kmsi evidence list --root"
        f" {args.evidence_root}"
    )
    return EXIT_OK if all(r.ok for r in runs) and verified.ok else EXIT_FAILED


def _rollback_params(template: Path, apply_result: Path | None, tmp: Path) -> Path:
    """The rollback params for the demo: the committed file, pointed at this demo's apply."""
    from kmsi_lib.runbooks.params import load_params_file

    values = load_params_file(template)
    if apply_result is not None:
        values["apply_result"] = str(apply_result.resolve())
    path = tmp / "rollback.yaml"
    path.write_text(json.dumps(values), encoding="utf-8")  # JSON is YAML
    return path
