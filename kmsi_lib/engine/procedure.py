"""What a procedure is, declared once: :class:`Procedure`, and the shared parts of one.

Each module of :mod:`kmsi_lib.procedures` declares ``PROCEDURE = Procedure(...)``: its
name and title, the OAuth scopes it asks for, its ``Params`` model and its plan, apply
and verify. The runbooks find these declarations by name (``procedures.REGISTRY``).

Two parts serve several procedures:

* :class:`Apply`, the apply of a procedure whose plan the engine writes
  (:func:`~.apply.apply_plan`): it refuses another procedure's plan first, and may
  refuse more, add checks, and say what it could not check.
* :class:`AppChange`, the plan, apply and verify of a procedure that changes the
  authentication policies of chosen apps (pre- and post-authentication KMSI): only its
  draft (:class:`~.apply.AppDraft`) is the procedure's own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from kmsi_lib.engine.apply import AppDraft, apply_plan, check_procedure, plan_app_change
from kmsi_lib.engine.model import ApplyResult, Attestation, Check, Plan, Verification
from kmsi_lib.engine.params import ParamsModel
from kmsi_lib.jsontypes import JsonMap, JsonObject

if TYPE_CHECKING:
    from kmsi_lib.engine.reader import Reader
    from kmsi_lib.okta.client import OktaClient

__all__ = ["APP_CHANGE_SCOPES", "AppChange", "Apply", "Procedure", "Report"]

P = TypeVar("P", bound=ParamsModel)

#: What a procedure changing apps' authentication policies asks for: it reads the apps and
#: the policies, writes the policies, names the groups its rules cover in the plan's impact
#: section, and reads the System Log (lost-update detection).
APP_CHANGE_SCOPES: tuple[str, ...] = (
    "okta.apps.read",
    "okta.groups.read",
    "okta.logs.read",
    "okta.policies.manage",
    "okta.policies.read",
)


class Report(Protocol):
    """What a plan step gives: a :class:`Plan`, or a read-only procedure's report."""

    def to_dict(self) -> JsonObject: ...


class PlanStep(Protocol):
    """``plan(client, params)``: reads only; ``params`` are checked against ``Params``."""

    def __call__(self, client: OktaClient, params: ParamsModel | JsonMap, /) -> Report: ...


class ApplyStep(Protocol):
    """``apply(client, plan, *, attestation=None)``: a procedure may take more options
    (``acknowledge_reach``, or ``progress`` where :attr:`Procedure.bulk`)."""

    def __call__(
        self, client: OktaClient, plan: Plan, /, *, attestation: Attestation | JsonMap | None = None
    ) -> ApplyResult: ...


class VerifyStep(Protocol):
    """``verify(client, params)``: the org checked against the parameters (reads only)."""

    def __call__(self, client: OktaClient, params: ParamsModel | JsonMap, /) -> Verification: ...


class EvidenceInputs(Protocol):
    """``verify_evidence_inputs(values, *, evidence_root, expect)`` (see ``kmsi run``)."""

    def __call__(
        self, values: JsonMap, /, *, evidence_root: Path, expect: Sequence[str] = ()
    ) -> dict[str, str]: ...


@dataclass(frozen=True, kw_only=True)
class Procedure:
    """One procedure as the runbooks see it.

    ``writes`` is False for a procedure that only reads (the audit); ``bulk`` True when
    its apply also takes ``progress=(done, total)`` (the session resets).
    ``evidence_files(plan) -> {file name: text}`` gives files a runbook writes beside
    ``result.json``; ``verify_evidence_inputs`` checks parameters that name evidence
    before ``kmsi run`` starts the kernel.
    """

    name: str
    title: str
    #: the smallest set of scopes its reads and writes need (docs/OKTA-API.md §1.3)
    scopes: tuple[str, ...]
    params: type[ParamsModel]
    plan: PlanStep
    apply: ApplyStep
    verify: VerifyStep
    writes: bool = True
    bulk: bool = False
    evidence_files: Callable[[object], Mapping[str, str]] | None = None
    verify_evidence_inputs: EvidenceInputs | None = None


@dataclass(frozen=True)
class Apply:
    """The apply of procedure ``name``: its plan written by :func:`~.apply.apply_plan`.

    A plan another procedure made is refused first (:class:`ParameterError` on ``plan``),
    then whatever ``refuse(client, plan)`` refuses. ``extra_checks(client, result)`` adds
    to the verification; when it adds none, ``unchecked_note`` (if any) says so.
    """

    name: str
    refuse: Callable[[OktaClient, Plan], None] | None = None
    extra_checks: Callable[[OktaClient, ApplyResult], list[Check]] | None = None
    unchecked_note: str = ""

    def __call__(
        self,
        client: OktaClient,
        plan: Plan,
        *,
        attestation: Attestation | JsonMap | None = None,
        acknowledge_reach: int | None = None,
    ) -> ApplyResult:
        """Apply ``plan`` (re-reads first; a stale plan writes nothing), then verify it."""
        check_procedure(plan, self.name)
        if self.refuse is not None:
            self.refuse(client, plan)
        added: list[Check] = []  # what the extra checks gave, wherever apply_plan asked
        extra = self.extra_checks

        def checks(c: OktaClient, result: ApplyResult) -> list[Check]:
            found = extra(c, result) if extra is not None else []
            added.extend(found)
            return found

        result = apply_plan(
            client,
            plan,
            attestation=attestation,
            extra_checks=checks if extra is not None else None,
            acknowledge_reach=acknowledge_reach,
        )
        if not added and self.unchecked_note:
            result.verification.notes.append(self.unchecked_note)
        return result


@dataclass(frozen=True)
class AppChange(Generic[P]):
    """Plan, apply and verify of a procedure that changes chosen apps' authentication
    policies: ``draft(client, params, reader)`` works out the changes and the checks
    (:func:`~.apply.plan_app_change`).

    ``org_checks(client)`` checks what the plan cannot write through the API (the
    pre-auth org setting, where the sandbox witness shows it), at apply and at verify;
    ``unchecked_note`` says when it could check nothing. ``refuse(client, plan)`` may
    refuse an apply before anything is read (nothing written).
    """

    name: str
    params: type[P]
    draft: Callable[[OktaClient, P, Reader], AppDraft]
    org_checks: Callable[[OktaClient], list[Check]] | None = None
    unchecked_note: str = ""
    refuse: Callable[[OktaClient, Plan], None] | None = None

    def plan(self, client: OktaClient, params: ParamsModel | JsonMap) -> Plan:
        """The plan; reads only, a wrong parameter is a :class:`ParameterError` early."""
        return plan_app_change(client, self.name, self.params, params, self.draft)[0]

    @cached_property
    def apply(self) -> Apply:
        """The apply: re-reads first (a stale plan writes nothing), writes, verifies."""
        org_checks = self.org_checks
        return Apply(
            self.name,
            refuse=self.refuse,
            extra_checks=(lambda c, _result: org_checks(c)) if org_checks is not None else None,
            unchecked_note=self.unchecked_note,
        )

    def verify(self, client: OktaClient, params: ParamsModel | JsonMap) -> Verification:
        """Check the org against the parameters, field by field (reads only)."""
        _, checks = plan_app_change(
            client, self.name, self.params, params, self.draft, impact=False
        )
        if self.org_checks is None:
            return Verification(checks)
        org = self.org_checks(client)
        unchecked = [self.unchecked_note] if self.unchecked_note and not org else []
        return Verification(checks + org, unchecked)

    def procedure(self, title: str) -> Procedure:
        """The declaration of this procedure, titled ``title``."""
        return Procedure(
            name=self.name,
            title=title,
            scopes=APP_CHANGE_SCOPES,
            params=self.params,
            plan=self.plan,
            apply=self.apply,
            verify=self.verify,
        )
