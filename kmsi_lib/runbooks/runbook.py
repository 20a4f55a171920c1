"""The notebook-side driver of a runbook: connect, plan, apply, verify, finish.

A runbook notebook is a parameters cell plus a few calls::

    rb = Runbook.start("post_auth", globals())  # connects (OKTA_*, smallest scopes), shows the org
    rb.plan()         # validates the parameters, reads the org, shows the diff
    rb.apply()        # apply mode only, needs change_id; uses the approved plan if given
    rb.verify()       # apply mode: reads the org back and checks every field
    rb.finish()       # the outcome and where the evidence is

After every step ``evidence_dir/result.json`` is rewritten with the keys of the
notebook/runner contract (docs/ARCHITECTURE.md), so that a run that stops half
way still leaves what it did. A step that fails records the error (type and
message) and the outcome ``failed``, shows it, and raises again so papermill
marks the run failed.

With ``interactive=True`` (JupyterLab, ``kmsi lab``) each step shows its part
of an ipywidgets form (:mod:`kmsi_lib.runbooks.forms`) instead of running: the plan step
the inputs and Plan, the apply step the ticket and Apply, the verify step a
Verify button. The buttons call the same methods, so the evidence is the same;
each apply made from a form is also kept as its own result
(:mod:`kmsi_lib.runbooks.session`), so a rollback can name exactly that apply.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kmsi_lib.engine import (
    TIMELINE_FILE,
    ApplyResult,
    Attestation,
    Plan,
    parse_params,
    timeline_figure,
    utc_now,
    watch_writes,
)
from kmsi_lib.engine.procedure import Report
from kmsi_lib.engine.render import failed_checks_text
from kmsi_lib.errors import KmsiError, ParameterError
from kmsi_lib.jsontypes import JsonObject, JsonValue, obj
from kmsi_lib.okta.protocol import engine_name
from kmsi_lib.procedures import REGISTRY
from kmsi_lib.runbooks import contract
from kmsi_lib.runbooks.contract import (
    ATTESTATION_PARAMETERS,
    CHANGE_ID_PATTERN,
    MODES,
    OUTCOME_FAILED,
    PROGRESS_FILE,
    RunOrg,
    RunOutcome,
    RunResult,
    change_id_problem,
)
from kmsi_lib.runbooks.display import Html, notice, show
from kmsi_lib.runbooks.session import applies_dir, next_apply_path

if TYPE_CHECKING:
    from kmsi_lib.okta.client import OktaClient
    from kmsi_lib.runbooks.forms import RunbookForm

__all__ = [
    "ATTESTATION_PARAMETERS",
    "CHANGE_ID_PATTERN",
    "MODES",
    "PROGRESS_FILE",
    "RUNNER_PARAMETERS",
    "Runbook",
    "change_id_problem",
    "check_change_id",
    "notice",
    "show",
]

#: Every runbook's parameters besides its procedure's: :data:`.contract.RUNNER_PARAMETERS`.
RUNNER_PARAMETERS: tuple[str, ...] = tuple(contract.RUNNER_PARAMETERS)

Display = Callable[[object], None]


def check_change_id(change_id: str) -> str:
    """Return ``change_id`` stripped, or raise ParameterError saying what a ticket looks like
    (the org's pattern, :func:`~kmsi_lib.runbooks.contract.change_id_problem`)."""
    problem = change_id_problem(change_id)
    if problem:
        raise ParameterError("change_id", problem)
    return change_id.strip()


def _error_dict(exc: BaseException) -> JsonObject:
    message = str(exc)
    if isinstance(exc, KeyboardInterrupt) and not message:
        message = "interrupted (Ctrl-C, SIGTERM or the cell's time limit) before the step ended"
    error: JsonObject = {"type": type(exc).__name__, "message": message}
    if isinstance(exc, ParameterError):
        error["field"] = exc.field
    return error


class Runbook:
    """Drives one procedure from a notebook and keeps its ``result.json`` up to date.

    ``params`` are the procedure's parameters (validated by :meth:`plan`).
    ``attestation`` (``by``, ``statement``, optional ``at``) is what the admin
    says about a plan's manual steps. ``client`` and ``display`` are seams for
    tests: an :class:`~kmsi_lib.okta.client.OktaClient` (default: from the
    environment) and the function that shows results (default :func:`show`).
    """

    def __init__(
        self,
        procedure: str,
        *,
        params: Mapping[str, JsonValue],
        mode: str = "plan",
        change_id: str = "",
        evidence_dir: str = "",
        approved_plan: str = "",
        interactive: bool = False,
        client: OktaClient | None = None,
        attestation: Mapping[str, str] | None = None,
        display: Display | None = None,
    ) -> None:
        if mode not in MODES:
            raise ParameterError("mode", f"must be plan or apply (got {mode!r})")
        try:
            self.procedure = REGISTRY[procedure]
        except KeyError as exc:
            raise ParameterError("procedure", str(exc.args[0])) from None
        self.name = procedure
        self.params = dict(params)
        self.mode = mode
        self.change_id = change_id.strip()
        self.evidence_dir = Path(evidence_dir or tempfile.mkdtemp(prefix="kmsi-evidence-"))
        self.approved_plan = approved_plan
        self.interactive = interactive
        self.client = client
        self.attestation = dict(attestation) if attestation else None
        #: the reach the operator acknowledged at apply (the form's checkbox), if any
        self.acknowledged_reach: int | None = None
        #: what the operator confirmed at apply besides (privileged selections, a ticket used
        #: again): added to the apply result's notes, then cleared
        self.apply_notes: list[str] = []
        #: the session file this apply is recorded in too (forms only; see runbooks.session)
        self.apply_file: Path | None = None
        self.display: Display = display or show
        self.last_plan: Any = None
        self.apply_result: ApplyResult | None = None
        self.form: RunbookForm | None = None
        #: how many journal entries the journal file holds (:meth:`write_result`)
        self._journaled = -1
        #: ``result.json`` as it stands: rewritten after every step (:meth:`write_result`)
        self.run = RunResult(
            procedure=procedure,
            mode="apply" if mode == "apply" else "plan",
            change_id=self.change_id,
            params=dict(params),
        )

    @classmethod
    def from_parameters(
        cls, procedure: str, namespace: Mapping[str, Any], **options: Any
    ) -> Runbook:
        """A runbook from a notebook's namespace (``globals()`` after the parameters cell).

        Takes the procedure's parameters, the runner parameters and the
        attestation parameters by name; anything else in the namespace is ignored.
        The cells' defaults are the model's (a test keeps them equal) and ``kmsi
        run`` injects every procedure parameter, so no value in a notebook is a
        sample that could choose what changes.
        With ``KMSI_INTERACTIVE=1`` in the environment (``kmsi lab`` sets it for
        JupyterLab) the runbook is interactive whatever the ``interactive`` cell says.
        """
        fields = REGISTRY[procedure].params.model_fields
        # A required parameter's cell value is None ("not given"): leaving it out lets the
        # model say it is required, instead of a sample choosing apps, groups or users.
        params = {
            name: namespace[name]
            for name, field in fields.items()
            if name in namespace and not (field.is_required() and namespace[name] is None)
        }
        runner = {name: namespace[name] for name in RUNNER_PARAMETERS if name in namespace}
        if os.environ.get(contract.INTERACTIVE_ENV) == "1":
            # JupyterLab of ``kmsi lab``: the forms without editing the notebook (kmsi run
            # keeps the variable from its kernels, so a papermill run stays headless)
            runner["interactive"] = True
        attestation = {
            name.removeprefix("attestation_"): str(namespace[name])
            for name in ATTESTATION_PARAMETERS
            if namespace.get(name)
        }
        return cls(procedure, params=params, attestation=attestation or None, **runner, **options)

    @classmethod
    def start(cls, procedure: str, namespace: Mapping[str, object], **options: object) -> Runbook:
        """A notebook's first step: :meth:`from_parameters`, then :meth:`connect` (shown)."""
        runbook = cls.from_parameters(procedure, namespace, **options)
        runbook.connect()
        return runbook

    # ------------------------------------------------------------------ evidence

    @property
    def result(self) -> JsonObject:
        """``result.json``'s content now (a copy: the runbook changes :attr:`run`)."""
        return self.run.to_dict()

    @property
    def result_path(self) -> Path:
        return self.evidence_dir / "result.json"

    @property
    def writes(self) -> bool:
        """True for procedures that change the org (everything but the audit)."""
        return self.procedure.writes

    def write_result(self) -> Path:
        """Write ``result.json`` now, and the journal as the client has it (redacted) into its
        own file beside it (``result.json`` holds its summary; rewritten only when the
        client made requests since the last time)."""
        from kmsi_lib.evidence import write_journal, write_result

        if self.client is not None and len(self.client.journal) != self._journaled:
            self.run.journal = write_journal(self.evidence_dir, self.client.journal.to_dicts())
            self._journaled = len(self.client.journal)
        if self.apply_file is not None and self.run.apply_result is not None:
            from kmsi_lib.evidence import write_json

            self.apply_file.parent.mkdir(parents=True, exist_ok=True)
            write_json(self.apply_file, self.run.to_dict())
        return write_result(self.evidence_dir, self.run)

    def _write_procedure_files(self, made: object) -> None:
        """Write the files a run adds beside ``result.json``: a procedure's ``evidence_files``
        (the audit's findings), a plan's timeline chart (``timeline.svg``); the runner
        hashes them into the ledger with the rest of the run."""
        found = self.procedure.evidence_files
        files: dict[str, str | bytes] = dict(found(made)) if found is not None else {}
        timeline = (
            (made.impact or {}).get("timeline")
            if isinstance(made, Plan)
            else getattr(made, "timeline", None)  # the audit's report
        )
        if timeline:
            files[TIMELINE_FILE] = timeline_figure(obj(timeline))
        for name, content in files.items():
            reserved = (contract.RESULT_FILE, PROGRESS_FILE, *contract.JOURNAL_FILES)
            if Path(name).name != name or name in reserved:
                raise KmsiError(f"{self.name} names an evidence file {name!r} it may not write")
            path = self.evidence_dir / name
            partial = path.with_name(f".{name}.partial")
            data = content if isinstance(content, bytes) else str(content).encode("utf-8")
            try:  # whole or not at all: the run may stop at any moment
                partial.write_bytes(data)
                os.replace(partial, path)
            finally:
                partial.unlink(missing_ok=True)

    @property
    def progress_path(self) -> Path:
        """``apply-progress.jsonl``: one line per write as it is sent and as it lands."""
        return self.evidence_dir / PROGRESS_FILE

    def _log_write(self, event: JsonObject) -> None:
        """Append one write event, flushed to disk before the write goes on (see
        :func:`~kmsi_lib.engine.watch_writes`): if the kernel dies, the
        runner still knows which writes landed."""
        line = json.dumps({"at": utc_now(), **event}, default=str, sort_keys=True)
        with self.progress_path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")
            out.flush()
            os.fsync(out.fileno())

    @contextmanager
    def _step(self, name: str) -> Iterator[None]:
        """Record the result after the step; on an error record it, show it and re-raise."""
        try:
            yield
        except BaseException as exc:  # an interrupt (papermill's timeout) is evidence too
            if getattr(exc, "_kmsi_recorded", False):  # by a step inside this one (connect)
                raise
            exc._kmsi_recorded = True  # type: ignore[attr-defined]  # recorded and shown once
            self.run.error = {"step": name, **_error_dict(exc)}
            self.run.outcome = OUTCOME_FAILED
            partial = getattr(exc, "apply_result", None)  # a KmsiError's, or an interrupt's
            if isinstance(partial, ApplyResult):
                self.apply_result = partial
                self.run.apply_result = partial.to_dict()
            self.write_result()
            self.display(self._error_notice(name, exc))
            shown_with = getattr(exc, "shown_with", None)  # e.g. the failed verification
            if shown_with is not None:
                self.display(shown_with)
            raise
        self.write_result()

    def _error_notice(self, step: str, exc: BaseException) -> Html:
        if isinstance(exc, ParameterError):
            return notice(
                "error",
                f"{step}: the parameter {exc.field!r} is wrong",
                f"{exc.message}. "
                + (
                    "Fix it in the form and click Plan again."
                    if self.interactive
                    else "Fix it in the parameters cell (or the params file) and run again."
                ),
            )
        return notice("error", f"{step} failed: {type(exc).__name__}", str(exc))

    # ------------------------------------------------------------------ steps

    def connect(self) -> OktaClient:
        """Connect with the procedure's smallest scope set and show the org and its engine.

        A writing procedure refuses a Classic Engine org (ClassicEngineError):
        KMSI settings exist only in Identity Engine.
        """
        with self._step("connect"):
            if self.client is None:
                from kmsi_lib.okta.client import OktaClient

                self.client = OktaClient.from_env(scopes=self.procedure.scopes)
            info = self.client.org_info()
            engine = engine_name(info.pipeline)  # the name the evidence record uses
            self.run.org = RunOrg(url=self.client.org_url, pipeline=info.pipeline, type=engine)
            if self.writes:
                self.client.require_identity_engine()
            self.display(
                notice(
                    "info",
                    f"Connected to {self.client.org_url} (engine: {engine},"
                    f" pipeline {info.pipeline or 'unknown'})",
                    f"{self.procedure.title}; mode {self.mode}; scopes requested: "
                    + ", ".join(self.procedure.scopes),
                )
            )
        return self.client

    def _client(self) -> OktaClient:
        if self.client is None or self.run.org is None:
            return self.connect()
        return self.client

    def validate(self, params: Mapping[str, JsonValue] | None = None) -> Any:
        """The parameters as the procedure's pydantic model; ParameterError names the field."""
        return parse_params(self.procedure.params, dict(self.params if params is None else params))

    def plan(self, params: Mapping[str, JsonValue] | None = None, *, show: bool = True) -> Any:
        """Validate the parameters, read the org and show what apply would change.

        In interactive mode (and called without ``params``) it shows the form's
        plan step instead and returns None. In apply mode with an approved plan, that
        plan is loaded (and shown) instead of making a new one.
        """
        if self.interactive and params is None:
            self.show_form("plan")
            return None
        self.apply_file = None  # the last apply's own record is complete
        with self._step("plan"):
            if params is not None:
                self.params = dict(params)
                self.run.params = dict(params)
            checked = self.validate()
            client = self._client()
            made: Report
            if self.approved_plan and self.mode == "apply":
                made = self._load_approved_plan(checked)
                title = "Approved plan (loaded from the plan evidence)"
            else:
                made = self.procedure.plan(client, checked)
                title = ""
            self.last_plan = made
            self.run.plan = made.to_dict()
            self._write_procedure_files(made)
            self.run.outcome = self._planned_outcome(made)
            self.run.error = None
        if show:
            if title and isinstance(made, Plan):
                self.display(notice("info", title, f"fingerprint {made.fingerprint}"))
            self.display(made)
        return made

    def _planned_outcome(self, made: object) -> RunOutcome:
        if not self.writes:
            return "audited"
        if isinstance(made, Plan) and made.is_empty and not made.manual_steps:
            return "no-op"
        return "planned"

    def _load_approved_plan(self, checked: Any) -> Plan:
        path = Path(self.approved_plan).expanduser()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ParameterError("approved_plan", f"cannot read {str(path)!r}: {exc}") from None
        if isinstance(data, dict) and "plan" in data and "changes" not in data:
            data = data["plan"]  # a whole result.json or record.json
        plan = Plan.from_dict(data)
        if plan.procedure != self.name:
            raise ParameterError(
                "approved_plan", f"is a {plan.procedure!r} plan, not a {self.name!r} plan"
            )
        # Only the procedure's own parameters are compared: a plan may also record what it
        # derived from them (a rollback names the apply it reverses under "rolls_back"),
        # which is not a parameter the operator gives.
        wanted = checked.model_dump(mode="json")
        missing = object()
        changed = sorted(k for k in wanted if plan.params.get(k, missing) != wanted[k])
        if changed:
            raise ParameterError(
                "approved_plan",
                "was made with other parameters (differs in: " + ", ".join(changed) + ")",
            )
        return plan

    def _attestation(self, plan: Plan) -> Attestation | None:
        if not plan.manual_steps:
            return None
        given = self.attestation or {}
        if not str(given.get("by", "")).strip():
            steps = "; ".join(s.title for s in plan.manual_steps)
            raise ParameterError(
                "attestation_by",
                f"this plan has manual steps ({steps}): do them, then name who did them in"
                " attestation_by and say what was done in attestation_statement",
            )
        if not str(given.get("statement", "")).strip():
            raise ParameterError("attestation_statement", "say what was done in the manual steps")
        return Attestation(
            by=str(given["by"]),
            at=str(given.get("at") or utc_now()),
            statement=str(given["statement"]),
        )

    def apply(
        self,
        plan: Plan | None = None,
        *,
        change_id: str | None = None,
        progress: Callable[[int, int], None] | None = None,
        show: bool = True,
        from_form: bool = False,
    ) -> ApplyResult | None:
        """Apply the plan (apply mode only; needs a change ticket), then show what was written.

        The plan is ``plan``, else the one :meth:`plan` made (or loaded from
        ``approved_plan``), else a new one. The procedure re-reads the org
        first and refuses a stale plan (StalePlanError, nothing written).
        ``progress(done, total)`` is passed to bulk procedures (session resets).
        """
        if not from_form:
            if self.interactive:
                self.show_form("apply")
                return None
            if self.mode != "apply":
                self.display(
                    notice(
                        "info",
                        "Plan mode: nothing was written.",
                        "To make these changes, run again with mode = 'apply' and the change"
                        " ticket that approved this plan.",
                    )
                )
                return None
        with self._step("apply"):
            if change_id is not None:
                self.change_id = change_id.strip()
            self.change_id = check_change_id(self.change_id)
            self.mode = "apply"
            self.run.mode, self.run.change_id = "apply", self.change_id
            client = self._client()
            if plan is None:
                plan = self.last_plan if isinstance(self.last_plan, Plan) else None
            if plan is None:
                self.plan(show=show)
                plan = self.last_plan
            if not isinstance(plan, Plan):
                raise ParameterError("mode", f"the {self.name} procedure has nothing to apply")
            self.run.plan = plan.to_dict()
            options: dict[str, Any] = {"attestation": self._attestation(plan)}
            if progress is not None and self.procedure.bulk:
                options["progress"] = progress
            if self.acknowledged_reach is not None:
                options["acknowledge_reach"] = self.acknowledged_reach
            if from_form:  # each apply of a form session is recorded as its own result
                self.apply_file = next_apply_path(applies_dir(self.evidence_dir), self.name)
                self.run.apply_result = self.run.verification = None
            notes, self.apply_notes = self.apply_notes, []
            with watch_writes(self._log_write):
                outcome = self.procedure.apply(client, plan, **options)
            outcome.notes.extend(notes)
            self.apply_result = outcome
            self.run.apply_result = outcome.to_dict()
            self.run.outcome = outcome.outcome
            if outcome.outcome == "failed":
                raise KmsiError(f"the apply failed: {outcome.error or 'see the apply result'}")
        if show:
            self.display(outcome)
        return outcome

    def verify(
        self,
        params: Mapping[str, JsonValue] | None = None,
        *,
        show: bool = True,
        from_form: bool = False,
    ) -> Any:
        """Read the org and check it against the parameters, field by field.

        Plan mode: nothing changed, so a writing procedure skips this (returns
        None). The audit verifies in any mode (one failed check per serious
        finding) without failing the run: its findings are the report. After
        an apply, a failed check fails the run.
        """
        if self.interactive and not from_form:
            self.show_form("verify")
            return None
        if self.writes and self.mode != "apply":
            if show:
                self.display(
                    notice(
                        "info",
                        "Plan mode: nothing changed, so there is nothing to verify yet.",
                        "After an apply this step reads every changed object back.",
                    )
                )
            return None
        with self._step("verify"):
            checked = self.validate(params)
            verification = self.procedure.verify(self._client(), checked)
            self.run.verification = verification.to_dict()
            if self.writes and not verification.ok:
                failed = [c for c in verification.checks if not c.ok]
                error = KmsiError(
                    f"verification failed: {len(failed)} of {len(verification.checks)} checks"
                    f" did not pass ({failed_checks_text(verification)})"
                )
                error.shown_with = verification  # type: ignore[attr-defined]  # see _step
                raise error
        if show:
            self.display(verification)
        return verification

    def finish(self) -> JsonObject:
        """Write the final ``result.json``, show the outcome and where the evidence is."""
        if self.interactive:
            if self.run.outcome is not None:
                self.write_result()
            self.display(
                notice(
                    "info",
                    "Interactive mode: the forms above record each step as you click.",
                    f"result written to {self.result_path}",
                )
            )
            return self.result
        if self.run.outcome is None:
            self.run.outcome = OUTCOME_FAILED
            self.run.error = {
                "step": "finish",
                "type": "KmsiError",
                "message": "the runbook finished without a plan: run the plan step",
            }
        path = self.write_result()
        ok = self.run.outcome != OUTCOME_FAILED
        self.display(
            notice(
                "ok" if ok else "error",
                f"Outcome: {self.run.outcome}",
                f"result written to {path}",
            )
        )
        if self.client is not None:
            self.client.close()
        return self.result

    # ------------------------------------------------------------------ interactive

    def show_form(self, step: str | None = None) -> RunbookForm:
        """Build (once) and show the ipywidgets form for this runbook.

        ``step`` (``plan``, ``apply`` or ``verify``) shows only that step's part,
        as the notebook's step cells do; None shows the whole form.
        """
        from kmsi_lib.runbooks.forms import RunbookForm

        if self.form is None:
            self.form = RunbookForm(self)
        self.display(self.form.widget if step is None else self.form.steps[step])
        return self.form
