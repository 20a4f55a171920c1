"""The runner ↔ notebook contract in one place (docs/ARCHITECTURE.md, its section of that name).

``kmsi run`` (:mod:`kmsi_lib.runbooks.run`) injects the runner parameters into a
runbook's ``parameters`` cell; the runbook (:mod:`kmsi_lib.runbooks.runbook`) writes
``result.json`` with :data:`RESULT_KEYS` into the run directory, plus
:data:`PROGRESS_FILE` during an apply; the evidence (:mod:`kmsi_lib.evidence`)
reads both back. Every side imports the names from here, so that the contract
changes in one file. :class:`RunResult` is ``result.json`` as a pydantic model: the
runbook writes it, the runner and the evidence read it (its JSON schema is
``docs/schemas/run_result.json``); :class:`RunRecord` is the evidence's
``record.json`` built from it (``docs/schemas/record.json``). Constants and those
models: this module imports nothing from kmsi_lib (pydantic only), so the engine
and the evidence may both use it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

__all__ = [
    "APPLIES_DIR",
    "ATTESTATION_PARAMETERS",
    "CHANGE_ID_PATTERN",
    "CHANGE_PATTERN_ENV",
    "DEFAULT_CHANGE_PATTERN",
    "INTERACTIVE_ENV",
    "JOURNAL_FILE",
    "JOURNAL_FILES",
    "JOURNAL_GZIP_FILE",
    "JournalSummary",
    "MODES",
    "OUTCOMES",
    "OUTCOME_FAILED",
    "PROGRESS_FILE",
    "RESULT_FILE",
    "RESULT_KEYS",
    "RUNNER_PARAMETERS",
    "RecordNotebook",
    "RunOrg",
    "RunOutcome",
    "RunRecord",
    "RunResult",
    "SESSION_APPLY_FILE",
    "SESSION_DIR_ENV",
    "STAGING_DIR",
    "change_id_pattern",
    "procedure_name",
    "procedure_of",
    "runbook_name",
    "change_id_problem",
]

#: What ``kmsi run --mode`` accepts and a runbook's ``mode`` parameter holds.
MODES = ("plan", "apply")

#: The grammar every change ticket keeps, whatever the org's pattern: it names a directory of
#: the evidence root (``evidence/<change-id>/``), so no '/', no spaces, at most 64 characters.
CHANGE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

#: The environment variable in which an org sets the pattern of its change tickets (a Python
#: regular expression, matched against the whole ticket), e.g. ``^CHG\d{7}$``.
CHANGE_PATTERN_ENV = "KMSI_CHANGE_PATTERN"
#: The pattern when the org sets none: a project key and a number, like ``CHG-1234``.
DEFAULT_CHANGE_PATTERN = r"^[A-Z][A-Z0-9]+-\d+$"


def change_id_pattern(env: Mapping[str, str] | None = None) -> re.Pattern[str]:
    """The org's change-ticket pattern: :data:`CHANGE_PATTERN_ENV` if set, else the default.

    ``env`` is the seam for tests (default ``os.environ``). A pattern that does not
    compile raises ``ValueError`` naming the variable: a typo in it must not let every
    ticket through.
    """
    source = (os.environ if env is None else env).get(CHANGE_PATTERN_ENV, "").strip()
    try:
        return re.compile(source or DEFAULT_CHANGE_PATTERN)
    except re.error as exc:
        raise ValueError(
            f"{CHANGE_PATTERN_ENV}={source!r} is not a regular expression: {exc}"
        ) from None


def change_id_problem(value: str, env: Mapping[str, str] | None = None) -> str:
    """What is wrong with a change ticket, in words, or ``""`` when it is acceptable.

    A ticket must match the org's pattern (:func:`change_id_pattern`) and the
    grammar of :data:`CHANGE_ID_PATTERN`. ``kmsi run --change``, a runbook's
    ``change_id`` and the forms' ticket box all ask this one function.
    """
    ticket = value.strip()
    if not ticket:
        return "an apply needs the change ticket it was approved under"
    try:
        pattern = change_id_pattern(env)
    except ValueError as exc:  # every ticket is refused until the org's pattern is fixed
        return str(exc)
    if not pattern.fullmatch(ticket):
        example = " such as CHG-1234" if pattern.pattern == DEFAULT_CHANGE_PATTERN else ""
        return (
            f"{ticket!r} is not a change ticket of this org: it must match {pattern.pattern}"
            f"{example} (set by {CHANGE_PATTERN_ENV} or the default)"
        )
    if not CHANGE_ID_PATTERN.match(ticket):
        return (
            f"{ticket!r}: letters, digits, '.', '_' and '-' only, at most 64 (the ticket names"
            " a directory of the evidence)"
        )
    return ""


#: Set by ``kmsi run`` itself; a params file may not carry them (name -> what to use instead).
RUNNER_PARAMETERS: dict[str, str] = {
    "mode": "use --mode plan|apply",
    "change_id": "use --change CHG-ID",
    "evidence_dir": "the runner chooses it (--evidence-root)",
    "approved_plan": "use --approved-plan EVIDENCE",
    "interactive": "only JupyterLab (kmsi lab) uses the forms",
}

#: Set to ``1`` by ``kmsi lab`` for JupyterLab: a runbook shows its forms without anyone
#: setting ``interactive = True``. ``kmsi run`` removes it from its kernels' environment,
#: so papermill runs stay headless (:meth:`kmsi_lib.runbooks.runbook.Runbook.from_parameters`).
INTERACTIVE_ENV = "KMSI_INTERACTIVE"

#: Notebook parameters of runbooks whose plans have manual steps (pre-auth KMSI):
#: who did the Admin Console step, when (ISO-8601, empty = at apply time), and what.
ATTESTATION_PARAMETERS: tuple[str, ...] = (
    "attestation_by",
    "attestation_at",
    "attestation_statement",
)

#: The file a runbook writes into ``evidence_dir`` after every step.
RESULT_FILE = "result.json"

#: Where a run's directory is made, inside the evidence root, until it is recorded.
STAGING_DIR = ".staging"

#: The keys of ``result.json``, in the order the runbook writes them.
RESULT_KEYS: tuple[str, ...] = (
    "procedure",
    "mode",
    "change_id",
    "params",
    "org",
    "plan",
    "apply_result",
    "verification",
    "journal",
    "error",
    "outcome",
)

#: The run's request journal, one JSON object a line, written by the runbook beside
#: ``result.json`` (which, like ``record.json``, holds only a :class:`JournalSummary` of it);
#: gzip-compressed under :data:`JOURNAL_GZIP_FILE` once it is large. The evidence hashes it
#: with the other files of the run, verifies it against the summary and scans it.
JOURNAL_FILE = "journal.jsonl"
JOURNAL_GZIP_FILE = "journal.jsonl.gz"
JOURNAL_FILES: tuple[str, ...] = (JOURNAL_FILE, JOURNAL_GZIP_FILE)

#: ``result.json``'s ``outcome``: an audit, a plan (with or without changes), an apply.
RunOutcome = Literal["audited", "planned", "no-op", "applied", "failed"]
OUTCOMES: tuple[RunOutcome, ...] = ("audited", "planned", "no-op", "applied", "failed")
#: The outcome of a run that did not go through; also what a run without an outcome counts as.
OUTCOME_FAILED: RunOutcome = "failed"

#: Written beside ``result.json`` during an apply, a line per write (``Runbook._log_write``).
PROGRESS_FILE = "apply-progress.jsonl"

#: A form session (JupyterLab) records each apply as its own result beside ``result.json``
#: (which stays the latest): ``<session>/applies/<NN>-<procedure>-result.json``, so that a
#: rollback can name exactly the apply it reverses. ``<session>`` is :data:`SESSION_DIR_ENV`
#: when set (``kmsi lab`` may point every runbook of a trainee at one place), else the
#: runbook's ``evidence_dir``. These files are not ledger evidence: a rollback accepts
#: them only against the sandbox (:mod:`kmsi_lib.procedures.rollback`).
APPLIES_DIR = "applies"
SESSION_DIR_ENV = "KMSI_SESSION_DIR"
SESSION_APPLY_FILE = re.compile(r"^(?P<n>\d{2,})-(?P<procedure>[a-z_]+)-result\.json$")


#: JSON written by another layer (a plan's ``to_dict()``, a journal entry): held as read.
_JsonObject = dict[str, JsonValue]


class _Closed(BaseModel):
    """Unknown keys are ignored on read (newer evidence), none are written or allowed by the
    schema; every key is always written (the schema requires them all)."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_serialization_defaults_required=True,
        json_schema_extra={"additionalProperties": False},
    )

    #: Fields that take no null: a null there (a hand-written or older file) reads as the
    #: field's default.
    null_means_default: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _nulls_as_defaults(cls, data: object) -> object:
        if isinstance(data, Mapping):
            return {
                k: v for k, v in data.items() if v is not None or k not in cls.null_means_default
            }
        return data

    def to_dict(self) -> _JsonObject:
        """The JSON the file holds (``model_dump(mode="json")``)."""
        return self.model_dump(mode="json")


class RunOrg(_Closed):
    """The org a run connected to: its URL, pipeline (``idx`` = Identity Engine) and engine."""

    null_means_default = frozenset({"url", "type"})

    url: str = ""
    pipeline: str | None = None
    type: str = ""


class JournalSummary(_Closed):
    """What ``result.json`` and ``record.json`` say of the request journal: its file (one of
    :data:`JOURNAL_FILES`, beside them) and that file's sha256, how many entries it holds,
    how many by method and by status (``"none"``: no answer), and the first and last
    entry's ``started_at``. Evidence written before the journal had a file of its own holds
    the entries themselves instead (a list): both are read."""

    file: str
    sha256: str
    entries: int
    by_method: dict[str, int] = Field(default_factory=dict)
    by_status: dict[str, int] = Field(default_factory=dict)
    first_at: str | None = None
    last_at: str | None = None


class RunResult(_Closed):
    """``result.json``: what a runbook reports after every step (:data:`RESULT_KEYS`, in order).

    ``plan``, ``apply_result`` and ``verification`` are the engine's ``to_dict()`` JSON
    (``docs/schemas/plan.json`` and its siblings), ``journal`` the summary of the client's
    redacted request journal (:class:`JournalSummary`; the entries themselves in evidence
    written before :data:`JOURNAL_FILE` existed), ``error`` the step that failed (``step``,
    ``type``, ``message``, ``field``).
    An ``outcome`` of None means no step has ended yet. Mutable: the runbook keeps one and
    rewrites the file after each step.
    """

    null_means_default = frozenset({"procedure", "mode", "change_id", "params", "journal"})

    procedure: str = ""
    mode: Literal["plan", "apply"] = "plan"
    change_id: str = ""
    params: _JsonObject = Field(default_factory=dict)
    org: RunOrg | None = None
    plan: _JsonObject | None = None
    apply_result: _JsonObject | None = None
    verification: _JsonObject | None = None
    journal: JournalSummary | list[_JsonObject] = Field(default_factory=list)
    error: _JsonObject | None = None
    outcome: RunOutcome | None = None

    @property
    def failed(self) -> bool:
        """True when the run did not go through (or reported no outcome)."""
        return self.outcome in (None, OUTCOME_FAILED)

    @property
    def verification_reported(self) -> _JsonObject | None:
        """The verification of the run: its own, else the one in its apply result."""
        if self.verification is not None:
            return self.verification
        found = (self.apply_result or {}).get("verification")
        return found if isinstance(found, dict) else None


class RecordNotebook(_Closed):
    """The runbook a run executed: its path and the sha256 of the committed template."""

    path: str
    template_sha256: str


def _empty(value: object) -> bool:
    return not value


class RunRecord(_Closed):
    """``record.json``: what the runner knew and the notebook reported, in one object.

    Built by :func:`kmsi_lib.evidence.build_record`; ``plan``, ``apply_result``,
    ``verification``, ``journal`` and ``error`` come from :class:`RunResult` (the
    verification from the apply result when the run reported none of its own),
    ``before_state`` from the apply result (or the plan's changes), ``files`` are the
    sha256 of every other file of the run. ``approval`` is written only when there is one.
    """

    #: the record's format (``kmsi_lib.evidence.files.SCHEMA``); "schema" in the JSON
    record_schema: str = Field(alias="schema")
    run_id: str
    change_id: str
    status: Literal["succeeded", "failed"]
    outcome: RunOutcome
    mode: str
    procedure: str
    started_at: str
    finished_at: str
    operator: str
    org: RunOrg
    notebook: RecordNotebook
    parameters: _JsonObject = Field(default_factory=dict)
    approved_plan: _JsonObject | None = None
    #: the signed approval the apply went ahead on, or why none was needed (the sandbox)
    approval: _JsonObject | None = Field(default=None, exclude_if=_empty)
    plan: _JsonObject | None = None
    before_state: JsonValue = None
    apply_result: _JsonObject | None = None
    verification: _JsonObject | None = None
    journal: JournalSummary | list[_JsonObject] = Field(default_factory=list)
    error: _JsonObject | None = None
    result_reported: bool = False
    files: dict[str, str] = Field(default_factory=dict)

    def to_dict(self) -> _JsonObject:
        """The JSON ``record.json`` holds (``schema`` by its name in the file)."""
        return self.model_dump(mode="json", by_alias=True)


def runbook_name(notebook: Path) -> str:
    """``notebooks/20_post_auth.ipynb`` -> ``post_auth`` (the leading ``NN_`` is ordering)."""
    return re.sub(r"^\d+_", "", Path(notebook).stem)


def procedure_of(nb: Mapping[str, object], path: Path) -> str:
    """The procedure a runbook runs: ``metadata.kmsi.procedure``, else its file name's."""
    metadata = nb.get("metadata")
    kmsi = metadata.get("kmsi") if isinstance(metadata, Mapping) else None
    named = kmsi.get("procedure") if isinstance(kmsi, Mapping) else None
    return str(named or runbook_name(path))


def procedure_name(notebook: Path) -> str | None:
    """The procedure of a runbook, read without papermill; None if it cannot be read.

    :func:`kmsi_lib.runbooks.params.notebook_info` reads the same and says what is
    wrong with a notebook that cannot be read.
    """
    path = Path(notebook)
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return procedure_of(nb, path) if isinstance(nb, dict) else None
