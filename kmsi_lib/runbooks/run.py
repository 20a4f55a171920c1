"""Headless runbook execution with papermill, turned into evidence: ``kmsi run``.

``kmsi run NOTEBOOK -f PARAMS.yaml --mode plan|apply [--change CHG-ID] [--approved-plan EVIDENCE]``

1. refuses a runbook that differs from its committed template
   (:mod:`kmsi_lib.runbooks.templates`), then validates the params file against
   the notebook and its procedure, and the credentials in the environment,
   before any kernel starts;
2. checks the evidence root's ledger (chain, anchor, ``--expect`` hashes); for
   ``--approved-plan`` (and a rollback's ``apply_result``), checks that the run
   is recorded in *that* root and verifies there, and that a plan was made for
   the same change, procedure, parameters and org;
3. executes the notebook with papermill (kernel ``python3``, a per-cell
   timeout, a progress bar); only non-secret parameters are injected, the
   kernel inherits ``OKTA_*`` from the environment, but not ``KMSI_INTERACTIVE``
   (a run from a lab's terminal stays headless);
4. records the evidence (:func:`kmsi_lib.evidence.record_run`), which also
   scans every file for the secrets this process knows.

Exit status: 0 the run succeeded (and, for apply, verified); 1 the run failed
(its evidence is recorded, marked failed); 2 nothing was run (bad arguments,
parameters, credentials or approved plan); 3 a secret was found in the run's
files, which were deleted.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as _dt
import getpass
import io
import logging
import os
import secrets as _secrets
import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kmsi_lib.errors import ConfigError, EvidenceError, ParameterError
from kmsi_lib.jsontypes import JsonObject, JsonValue
from kmsi_lib.runbooks.contract import (
    MODES,
    OUTCOME_FAILED,
    STAGING_DIR,
    change_id_problem,
    procedure_name,
    runbook_name,
)
from kmsi_lib.runbooks.kernel import KERNEL, EarlyKernel
from kmsi_lib.runbooks.startup import skip_unused_format_checkers, warming_imports

# Imported where they are used, after the kernel has been started: evidence,
# approval, interrupts, report, templates, params and the engine cost a few
# tenths of a second that the kernel's start can overlap.
if TYPE_CHECKING:
    from kmsi_lib.okta.auth import Credentials
    from kmsi_lib.runbooks.contract import RunResult
    from kmsi_lib.runbooks.params import RunParams

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_SECRET",
    "EXIT_USAGE",
    "RunReport",
    "add_run_arguments",
    "run_main",
    "run_notebook",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_SECRET = 0, 1, 2, 3


def new_run_id(procedure: str, mode: str) -> str:
    """``20261129T051500Z-post_auth-apply-3f9a1c``: sortable, readable, unique."""
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{procedure}-{mode}-{_secrets.token_hex(3)}"


def operator_name(environ: Mapping[str, str] | None = None) -> str:
    """Who ran it: ``KMSI_OPERATOR`` if set, else the OS user."""
    env = os.environ if environ is None else environ
    named = env.get("KMSI_OPERATOR", "").strip()
    if named:
        return named
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def display_path(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


# ---------------------------------------------------------------- approved plans


@dataclasses.dataclass(frozen=True)
class RunReport:
    """What ``kmsi run`` did: exit code, and where the evidence is."""

    exit_code: int
    run_id: str
    outcome: str
    run_dir: Path | None
    record: JsonObject | None
    message: str


@contextlib.contextmanager
def _captured_papermill_log() -> Iterator[io.StringIO]:
    """Collect papermill's log lines so the secret scan sees them too."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    logger = logging.getLogger("papermill")
    logger.addHandler(handler)
    try:
        yield buffer
    finally:
        logger.removeHandler(handler)


# A kernel that dies before its first reply never ran a cell (typically two kernels
# started at once on a busy machine raced for the same TCP ports): start it again.
_KERNEL_START_FAILURES = ("Kernel died before replying to kernel_info", "Kernel didn't respond in")
KERNEL_START_ATTEMPTS = 3


def _execute(
    notebook: Path,
    output: Path,
    parameters: dict[str, Any],
    *,
    timeout: int,
    progress: bool,
    kernel: EarlyKernel,
) -> dict[str, Any] | None:
    """Run the notebook in ``kernel``; returns None on success, else the error as
    {type, message}. A kernel that dies before its first reply is restarted, up to
    :data:`KERNEL_START_ATTEMPTS` in all; the caller stops it afterwards."""
    skip_unused_format_checkers()
    import papermill

    for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
        try:
            papermill.execute_notebook(
                str(notebook),
                str(output),
                parameters=parameters,
                kernel_name=KERNEL,
                execution_timeout=timeout,
                progress_bar=progress,
                log_output=False,
                request_save_on_cell_execute=True,
                km=kernel.km,
                cwd=str(kernel.cwd),  # the kernel's own, as if papermill had started it
            )
        except papermill.PapermillExecutionError as exc:
            return {"type": exc.ename, "message": str(exc.evalue), "cell": exc.exec_count}
        except Exception as exc:  # a dead kernel or a timeout must still leave evidence
            text = str(exc)
            if attempt < KERNEL_START_ATTEMPTS and any(m in text for m in _KERNEL_START_FAILURES):
                logging.getLogger(__name__).warning("kernel failed to start (%s); retrying", text)
                kernel.restart()
                continue
            return {"type": type(exc).__name__, "message": text}
        return None
    raise AssertionError("unreachable")  # pragma: no cover - the loop always returns


def _judge(
    mode: str, procedure: str, result: RunResult | None, error: Mapping[str, JsonValue] | None
) -> JsonObject | None:
    """Decide whether a finished run succeeded; returns the reason it did not, or None.

    The runbook's own error (it names the step) is preferred to papermill's.
    """
    from kmsi_lib import evidence

    reported = result.error if result is not None else None
    if reported:
        return {
            "type": str(reported.get("type", "RunbookError")),
            "message": str(reported.get("message", "")),
            **({"step": reported["step"]} if "step" in reported else {}),
        }
    if error is not None:
        return dict(error)
    if result is None:
        return {"type": "EvidenceError", "message": "the notebook wrote no result.json"}
    if result.procedure not in ("", procedure):  # "": a result that does not say
        return {
            "type": "EvidenceError",
            "message": f"the notebook ran the procedure "
            f"{result.procedure!r}, expected {procedure!r}",
        }
    if result.failed:
        return {"type": "RunbookError", "message": f"outcome {result.outcome!r}"}
    if mode == "apply" and evidence.verification_passed(result) is not True:
        return {
            "type": "VerificationFailed",
            "message": "the apply did not verify (see verification in the record)",
        }
    return None


def run_notebook(
    notebook: Path,
    params_file: Path,
    *,
    mode: str = "plan",
    change_id: str = "",
    approved_plan: Path | None = None,
    evidence_root: Path = Path("evidence"),
    timeout: int = 600,
    progress: bool = True,
    expect: Sequence[str] = (),
) -> RunReport:
    """Validate, execute one runbook and record its evidence (``kmsi run`` without argv).

    Raises ParameterError, ConfigError or EvidenceError when nothing can be
    run; once the notebook starts, every outcome is a RunReport with evidence.
    The kernel (started at once, see :mod:`kmsi_lib.runbooks.kernel`) inherits
    this process's environment (``OKTA_*``): that is the only way credentials
    reach it. ``expect`` are ledger hashes an approver
    saw (``--expect``): each must be in the root's ledger, and an approved
    plan or rolled-back apply must be at or before the last of them.
    """
    skip_unused_format_checkers()  # before anything imports papermill (runbooks.startup)
    if mode not in MODES:
        raise ParameterError("mode", f"must be plan or apply (got {mode!r})")
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
        raise ParameterError(
            "timeout", f"must be a positive whole number of seconds (got {timeout!r})"
        )
    if mode == "apply" and not change_id:
        raise ParameterError("change", "an apply needs a change ticket: --change CHG-ID")
    if change_id and (problem := change_id_problem(change_id)):
        raise ParameterError("change", problem)
    if approved_plan is not None and mode != "apply":
        raise ParameterError("approved-plan", "only an apply uses an approved plan")
    root = Path(evidence_root)
    run_id = new_run_id(procedure_name(notebook) or runbook_name(notebook), mode)
    staging, made = _stage(root / STAGING_DIR / run_id)
    # the kernel boots while the run is checked; no cell runs before every check passed
    kernel = EarlyKernel.start(staging.resolve())
    try:
        from kmsi_lib.runbooks.templates import check_template

        check_template(notebook)  # an edited copy of a runbook is refused before the rest
        prepared = _prepare(
            notebook, params_file, mode, change_id, approved_plan, root, staging, expect
        )
    except BaseException:  # refused: the kernel ran nothing, the run leaves no trace
        kernel.stop()
        _unstage(staging, made)
        raise
    run, credentials, env, approved_meta, parameters = prepared
    from kmsi_lib.engine import utc_now
    from kmsi_lib.runbooks import interrupts

    started = utc_now()
    log = io.StringIO()
    try:
        with (
            interrupts.interrupt_on_sigterm(),
            _captured_papermill_log() as log,
            warming_imports(),
        ):
            error = _execute(
                notebook.resolve(),
                staging.resolve() / "notebook.ipynb",
                parameters,
                timeout=timeout,
                progress=progress,
                kernel=kernel,
            )
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: the evidence is still recorded
        kernel.interrupt_and_stop()  # the step in progress records that it was interrupted
        interrupts.stop_kernels()  # no write may land after the evidence says what landed
        error = {
            "type": "Interrupted",
            "message": f"the run was interrupted ({exc or 'SIGINT'})"
            " while the notebook ran; every write that landed is recorded",
        }
    kernel.request_stop()  # it exits while the evidence is recorded
    try:
        with interrupts.shielded_from_signals():  # recording is not interrupted in turn
            return _record(
                root,
                staging,
                run,
                mode,
                change_id,
                notebook,
                started,
                env,
                credentials.org_url,
                approved_meta,
                error,
                log,
            )
    finally:
        kernel.stop()


def _stage(staging: Path) -> tuple[Path, list[Path]]:
    """Make the run's staging directory; returns it and the directories made (outermost last)."""
    made = []
    for directory in (staging, *staging.parents):
        if directory.exists():
            break
        made.append(directory)
    staging.mkdir(parents=True)
    return staging, made


def _unstage(staging: Path, made: Sequence[Path]) -> None:
    """Remove a refused run's staging directory and the (empty) parents it made."""
    shutil.rmtree(staging, ignore_errors=True)
    for directory in made[1:]:
        with contextlib.suppress(OSError):  # not empty: another run uses it
            directory.rmdir()


def _prepare(
    notebook: Path,
    params_file: Path,
    mode: str,
    change_id: str,
    approved_plan: Path | None,
    root: Path,
    staging: Path,
    expect: Sequence[str],
) -> tuple[RunParams, Credentials, dict[str, str], dict[str, Any] | None, dict[str, Any]]:
    """Every check before the notebook runs; returns what running and recording it need:
    (run params, credentials, environment, approved plan's meta, parameters to inject)."""
    from kmsi_lib import evidence
    from kmsi_lib.okta.auth import Credentials
    from kmsi_lib.runbooks import approval
    from kmsi_lib.runbooks.params import load_run_params

    env = dict(os.environ)
    run = load_run_params(notebook, params_file)
    credentials = Credentials.from_env(env)

    # Evidence this run consumes must be this root's, verified, before the kernel (and
    # so any request to the org) starts; a rewritten ledger stops every run.
    evidence.check_ledger(root, expect=expect)
    approved: dict[str, Any] | None = None
    approved_meta: dict[str, Any] | None = None
    required = approval.approval_required(credentials.org_url, env)
    if mode == "apply" and required and approved_plan is None:
        raise ParameterError(
            "approved-plan",
            "an apply to this org needs the approved plan: --approved-plan naming the plan"
            " run, signed off with kmsi approve by someone other than the operator",
        )
    if approved_plan is not None:
        approved, source = approval.check_approved_plan(
            approved_plan,
            procedure=run.procedure,
            params=run.values,
            org_url=credentials.org_url,
            evidence_root=root,
            change_id=change_id,
            expect=expect,
        )
        approved_meta = {
            "run_id": source.record.get("run_id"),
            "path": display_path(source.run_dir / evidence.RECORD_FILE),
            "record_sha256": source.entry.get("record_sha256"),
            "ledger_hash": source.entry.get("hash"),
            "fingerprint": approved.get("fingerprint"),
            "digest": approved.get("digest"),
            "approval": approval.signed_approval(
                root,
                str(source.record.get("run_id")),
                change_id=change_id,
                plan_digest=str(approved.get("digest", "")),
                operator=operator_name(env),
                operator_public_key=approval.operator_key(env),
                required=required,
            ),
        }
    verified_inputs = _verify_evidence_inputs(run.procedure, run.values, root, expect)
    plan_param = ""
    if approved is not None:
        plan_param = evidence.write_json(staging / "approved-plan.json", approved).name

    # The kernel runs with the run directory as its working directory and gets
    # paths relative to it ("." and "approved-plan.json"): the executed notebook
    # then records paths that stay true after record_run moves the directory
    # from .staging/ to <change>/<run> (an absolute staging path would name a
    # directory that no longer exists). Staging stays a separate directory and
    # the move stays a single rename followed by the ledger append, so `verify`
    # never sees a half-written run outside .staging/.
    parameters = {
        **run.effective,
        **verified_inputs,
        "mode": mode,
        "change_id": change_id,
        "evidence_dir": ".",
        "approved_plan": plan_param,
    }
    return run, credentials, env, approved_meta, parameters


def _record(
    root: Path,
    staging: Path,
    run: Any,
    mode: str,
    change_id: str,
    notebook: Path,
    started: str,
    env: Mapping[str, str],
    org_url: str,
    approved_meta: dict[str, Any] | None,
    error: JsonObject | None,
    log: io.StringIO,
) -> RunReport:
    """Judge the run, record its evidence (never leaving it in staging) and report."""
    from kmsi_lib import evidence
    from kmsi_lib.engine import utc_now
    from kmsi_lib.runbooks import approval, interrupts
    from kmsi_lib.runbooks.report import report_files

    try:
        result = evidence.read_result(staging)
    except EvidenceError as exc:
        result, error = None, error or {"type": "EvidenceError", "message": str(exc)}
    result = interrupts.recover_writes(staging, mode, result, error)
    failure = _judge(mode, run.procedure, result, error)
    run_id = staging.name
    meta = evidence.RunMeta(
        run_id=run_id,
        change_id=change_id or evidence.PLAN_ONLY_CHANGE,
        mode=mode,
        procedure=run.procedure,
        notebook=display_path(notebook),
        template_sha256=evidence.sha256_file(notebook),
        parameters=run.values,
        started_at=started,
        finished_at=utc_now(),
        operator=operator_name(env),
        org_url=org_url,
        approved_plan=approved_meta,
        approval=(
            approved_meta.get("approval")
            if approved_meta
            else (
                {"required": False, "status": "not required: a sandbox org (no approved plan)"}
                if mode == "apply" and not approval.approval_required(org_url, env)
                else None
            )
        ),
    )
    recorded = evidence.record_run(
        root,
        staging,
        meta,
        succeeded=failure is None,
        error=failure,
        secrets=evidence.known_secrets(env),
        captured={"<papermill log>": log.getvalue().encode()},
        report=report_files,
    )
    if recorded.quarantined:
        found = evidence.describe_hits(recorded.secret_hits)
        return RunReport(
            EXIT_SECRET,
            run_id,
            "quarantined",
            None,
            None,
            f"a secret was found in {found}; the run's files were deleted "
            f"(ledger seq {recorded.entry['seq']} records the quarantine)",
        )
    record = recorded.record or {}
    outcome = str(record.get("outcome", OUTCOME_FAILED))
    if failure is not None:
        return RunReport(
            EXIT_FAILED,
            run_id,
            outcome,
            recorded.run_dir,
            record,
            f"run FAILED: {failure['type']}: {failure['message']}",
        )
    return RunReport(EXIT_OK, run_id, outcome, recorded.run_dir, record, f"run {outcome}")


def _verify_evidence_inputs(
    procedure: str, values: Mapping[str, Any], root: Path, expect: Sequence[str]
) -> dict[str, Any]:
    """Parameters naming evidence (a rollback's ``apply_result``), checked in ``root``.

    A procedure lists them by declaring ``verify_evidence_inputs(values,
    *, evidence_root, expect)``; it raises when the evidence is not this root's
    or does not verify, and returns the values the kernel gets instead (the
    verified file's absolute path: the kernel runs in the run directory).
    """
    from kmsi_lib.procedures import REGISTRY

    check = REGISTRY[procedure].verify_evidence_inputs
    if check is None:
        return {}
    return dict(check(values, evidence_root=root, expect=expect))


#: The longest --timeout accepted: a day per cell is already no limit at all.
MAX_TIMEOUT_SECONDS = 24 * 60 * 60


def positive_seconds(text: str) -> int:
    """argparse type of ``--timeout``: a whole number of seconds, 1 to a day."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a whole number of seconds (got {text!r})"
        ) from None
    if not 1 <= value <= MAX_TIMEOUT_SECONDS:
        raise argparse.ArgumentTypeError(
            f"must be 1 to {MAX_TIMEOUT_SECONDS} seconds (got {value})"
        )
    return value


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of ``kmsi run`` (wired by :mod:`kmsi_lib.cli`)."""
    p.description = (
        "Execute a runbook headlessly and record its evidence. Credentials come "
        "from the environment (OKTA_ORG_URL + OKTA_API_TOKEN, or the OAuth "
        "variables)."
    )
    p.add_argument("notebook", type=Path, help="the runbook, e.g. notebooks/20_post_auth.ipynb")
    p.add_argument("-f", "--params", type=Path, required=True, help="YAML params file")
    p.add_argument("--mode", choices=("plan", "apply"), default="plan")
    p.add_argument("--change", default="", help="change ticket id (required for apply)")
    p.add_argument(
        "--approved-plan",
        type=Path,
        default=None,
        help="apply exactly this plan: a plan run's record.json or its directory",
    )
    p.add_argument("--evidence-root", type=Path, default=Path("evidence"))
    p.add_argument(
        "--expect",
        action="append",
        default=[],
        metavar="HASH",
        help="a ledger head hash the approver saw: it must be in the ledger, and "
        "the approved plan (or rolled-back apply) at or before it; repeatable",
    )
    p.add_argument("--timeout", type=positive_seconds, default=600, help="seconds allowed per cell")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_main(args: argparse.Namespace) -> int:
    """``kmsi run``: see the module docstring for the exit codes."""
    try:
        report = run_notebook(
            args.notebook,
            args.params,
            mode=args.mode,
            change_id=args.change,
            approved_plan=args.approved_plan,
            evidence_root=args.evidence_root,
            timeout=args.timeout,
            progress=not args.no_progress,
            expect=args.expect,
        )
    except (ParameterError, ConfigError, EvidenceError) as exc:
        print(f"kmsi run: refused, nothing was run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    stream = sys.stdout if report.exit_code == EXIT_OK else sys.stderr
    print(f"kmsi run: {report.message}", file=stream)
    if report.run_dir is not None:
        print(f"evidence: {display_path(report.run_dir)}", file=stream)
    with contextlib.suppress(EvidenceError):
        from kmsi_lib import evidence

        head = evidence.read_anchor(args.evidence_root)
        if head is not None:  # what an approver copies into the ticket, for --expect
            print(f"ledger head: seq {head['seq']} hash {head['hash']}", file=stream)
    return report.exit_code
