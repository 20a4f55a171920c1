"""The runner ↔ notebook contract in one place (docs/ARCHITECTURE.md, its section of that name).

``kmsi run`` (:mod:`kmsi_lib.runbooks.run`) injects the runner parameters into a
runbook's ``parameters`` cell; the runbook (:mod:`kmsi_lib.runbooks.runbook`) writes
``result.json`` with :data:`RESULT_KEYS` into the run directory, plus
:data:`PROGRESS_FILE` during an apply; the evidence (:mod:`kmsi_lib.evidence`)
reads both back. Every side imports the names from here, so that the contract
changes in one file. Pure constants: this module imports nothing from kmsi_lib.
"""

from __future__ import annotations

import re

__all__ = [
    "ATTESTATION_PARAMETERS",
    "CHANGE_ID_PATTERN",
    "INTERACTIVE_ENV",
    "MODES",
    "OUTCOMES",
    "OUTCOME_FAILED",
    "PROGRESS_FILE",
    "RESULT_FILE",
    "RESULT_KEYS",
    "RUNNER_PARAMETERS",
]

#: What ``kmsi run --mode`` accepts and a runbook's ``mode`` parameter holds.
MODES = ("plan", "apply")

#: A change ticket: what ``kmsi run --change`` and a runbook's ``change_id`` accept.
CHANGE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

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

#: ``result.json``'s ``outcome``: an audit, a plan (with or without changes), an apply.
OUTCOMES: tuple[str, ...] = ("audited", "planned", "no-op", "applied", "failed")
#: The outcome of a run that did not go through; also what a run without an outcome counts as.
OUTCOME_FAILED = "failed"

#: Written beside ``result.json`` during an apply, a line per write (``Runbook._log_write``).
PROGRESS_FILE = "apply-progress.jsonl"
