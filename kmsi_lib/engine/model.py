"""The plan and result model: what a procedure will do, did, and found.

:class:`Plan` (with its :class:`Change` list, :class:`ManualStep` list and the
:class:`Observation` list behind its ``fingerprint`` and ``digest``),
:class:`ApplyResult` (:class:`AppliedChange`, :class:`BeforeRecord`,
:class:`Attestation`) and :class:`Verification` (:class:`Check`) are pydantic
models (:class:`~kmsi_lib.engine.jsonmodel.JsonModel`) that convert to and from
plain JSON (``to_dict``/``from_dict`` over ``model_dump``/``model_validate``). That
JSON is the evidence and ``Plan.digest`` hashes it, so its keys, their order and
the keys left out are those the dataclasses wrote (``tests/test_model_json.py``).
They render as text and HTML (:mod:`kmsi_lib.engine.render`). Constructors take
the fields by position, as the dataclasses did; JSON from Okta (``before``,
``after``, an answer, an observed value) is typed JSON but held as given
(``SkipValidation``): the model keeps what was read, uncopied.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Literal

from pydantic import (
    ConfigDict,
    Field,
    JsonValue,
    SkipValidation,
    computed_field,
)

from kmsi_lib.engine import render
from kmsi_lib.engine.jsonmodel import JsonModel, positional
from kmsi_lib.engine.paths import FieldDiff, diff, writable
from kmsi_lib.errors import EvidenceError, ParameterError
from kmsi_lib.jsontypes import JsonMap, JsonObject

__all__ = [
    "Action",
    "AppliedChange",
    "ApplyResult",
    "Attestation",
    "BeforeRecord",
    "Change",
    "Check",
    "FieldDiff",
    "ManualStep",
    "ObjectRef",
    "Observation",
    "Outcome",
    "Plan",
    "Verification",
    "created_placeholder",
    "fingerprint",
    "utc_now",
]

Action = Literal["create", "update", "delete", "assign", "revoke", "manual"]
Outcome = Literal["applied", "no-op", "failed"]
#: JSON read from Okta or written to it, held as given (see the module docstring).
_Json = SkipValidation[JsonValue]
_JsonObj = SkipValidation[dict[str, JsonValue]]


def utc_now() -> str:
    """The current UTC time as ISO-8601 with a ``Z`` suffix, to the second."""
    now = _dt.datetime.now(_dt.UTC).replace(microsecond=0)
    return now.isoformat().replace("+00:00", "Z")


def _required_id(value: str | None) -> str:
    if not isinstance(value, str) or not value:
        raise ParameterError("id", f"expected a non-empty id, got {value!r}")
    return value


def created_placeholder(index: int) -> str:
    """Stands for the id of the object created by ``plan.changes[index]`` (e.g. a new policy)."""
    return f"$created:{index}"


class ObjectRef(JsonModel):
    """Which object a change is about: its kind, id, name and parent's id.

    ``id`` is None for an object a plan will create; ``parent_id`` is the
    policy id of a rule (or a :func:`created_placeholder` when the policy is
    created by an earlier change of the same plan).
    """

    model_config = ConfigDict(frozen=True)

    kind: str
    id: str | None = None
    name: str | None = None
    parent_id: str | None = None

    @positional
    def __init__(
        self,
        kind: str,
        id: str | None = None,  # noqa: A002 - the field's name in the evidence
        name: str | None = None,
        parent_id: str | None = None,
    ) -> None:
        super().__init__(kind=kind, id=id, name=name, parent_id=parent_id)

    def label(self) -> str:
        """Human reading, e.g. ``rule 'KMSI pre-auth' (0pr1…) in 00p2…``."""
        text = self.kind
        if self.name:
            text += f" {self.name!r}"
        if self.id:
            text += f" ({self.id})"
        if self.parent_id and self.parent_id.startswith("$created:"):
            index = int(self.parent_id.split(":", 1)[1])
            text += f" in the object created by change {index + 1}"
        elif self.parent_id:
            text += f" in {self.parent_id}"
        return text

    def require_id(self) -> str:
        """The id a request needs; the same ParameterError a resource gives for a missing one."""
        return _required_id(self.id)

    def require_parent_id(self) -> str:
        """The parent's id a request needs (a rule's policy)."""
        return _required_id(self.parent_id)


class Change(JsonModel):
    """One write a plan will make.

    ``before`` is the whole object as read (None for a create); ``after`` is
    the whole body that will be sent (None for a delete): a copy of
    ``before`` with only the fields the procedure owns changed, read-only
    server fields removed, every other field kept as read.
    """

    action: Action
    kind: str
    ref: ObjectRef
    before: _JsonObj | None = None
    after: _JsonObj | None = None
    diffs: list[FieldDiff] = Field(default_factory=list)
    note: str = ""

    @positional
    def __init__(
        self,
        action: Action,
        kind: str,
        ref: ObjectRef,
        before: JsonObject | None,
        after: JsonObject | None,
        diffs: list[FieldDiff] | None = None,
        note: str = "",
    ) -> None:
        super().__init__(
            action=action,
            kind=kind,
            ref=ref,
            before=before,
            after=after,
            diffs=[] if diffs is None else diffs,
            note=note,
        )

    @classmethod
    def update(
        cls, ref: ObjectRef, before: Mapping[str, JsonValue], after: JsonObject, note: str = ""
    ) -> Change:
        """A full-replace update; diffs are taken against the writable part of ``before``."""
        return cls(
            "update", ref.kind, ref, dict(before), after, diff(writable(before), after), note
        )

    @classmethod
    def create(cls, ref: ObjectRef, body: JsonObject, note: str = "") -> Change:
        """A create; every field of ``body`` is listed as a diff from absent."""
        return cls("create", ref.kind, ref, None, body, diff({}, body), note)

    @classmethod
    def delete(cls, ref: ObjectRef, before: Mapping[str, JsonValue], note: str = "") -> Change:
        """A delete of the object as read."""
        return cls("delete", ref.kind, ref, dict(before), None, [], note)

    def with_ref(self, ref: ObjectRef) -> Change:
        """The same change about ``ref`` (a placeholder id resolved once the object exists)."""
        return self.model_copy(update={"ref": ref})


class ManualStep(JsonModel):
    """A step an admin does by hand (no public API); apply needs an attestation for it."""

    title: str
    instructions: list[str] = Field(default_factory=list)

    @positional
    def __init__(self, title: str, instructions: list[str]) -> None:
        super().__init__(title=title, instructions=list(instructions))


class Observation(JsonModel):
    """One read a plan made: a lookup that can be replayed and the value it returned.

    ``value`` is stored in :func:`canonical` form; ``key`` names the object
    for messages (``rule 'Catch-all Rule' of policy rst…``).
    """

    key: str
    lookup: _JsonObj
    value: _Json = None

    @positional
    def __init__(self, key: str, lookup: JsonObject, value: JsonValue) -> None:
        super().__init__(key=key, lookup=lookup, value=value)


def _sha256_json(value: object) -> str:
    """``sha256:<hex>`` over ``value`` as compact JSON with sorted keys."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def fingerprint(observations: Iterable[Observation]) -> str:
    """sha256 over the canonical JSON of what a plan read (absences included)."""
    return _sha256_json([[o.key, o.lookup, o.value] for o in observations])


class Plan(JsonModel):
    """What a procedure will do, computed from reads only. Plain data, JSON round-trip."""

    # only when there are any: plans recorded before these existed keep their digest
    omitted_when_empty = ("warnings", "impact")

    procedure: str
    params: _JsonObj = Field(default_factory=dict)
    org_url: str = ""
    created_at: str = Field(default_factory=utc_now)
    fingerprint: str = ""
    digest: str = ""
    changes: list[Change] = Field(default_factory=list)
    manual_steps: list[ManualStep] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    observations: list[Observation] = Field(default_factory=list)
    #: What the operator must see first: the plan reaches more apps or people than were
    #: named, or named entries were skipped. Rendered above the changes.
    warnings: list[str] = Field(default_factory=list)
    #: What the plan does to people (:class:`~kmsi_lib.engine.impact.Impact` as a dict);
    #: empty for a procedure that has none. Rendered above the changes.
    impact: _JsonObj = Field(default_factory=dict)

    @positional
    def __init__(
        self,
        procedure: str,
        params: JsonObject,
        org_url: str,
        changes: list[Change] | None = None,
        manual_steps: list[ManualStep] | None = None,
        notes: list[str] | None = None,
        observations: list[Observation] | None = None,
        created_at: str | None = None,
        fingerprint: str = "",
        digest: str = "",
        warnings: list[str] | None = None,
        impact: JsonObject | None = None,
    ) -> None:
        super().__init__(
            procedure=procedure,
            params=params,
            org_url=org_url,
            changes=[] if changes is None else changes,
            manual_steps=[] if manual_steps is None else manual_steps,
            notes=[] if notes is None else notes,
            observations=[] if observations is None else observations,
            created_at=utc_now() if created_at is None else created_at,
            fingerprint=fingerprint,
            digest=digest,
            warnings=[] if warnings is None else warnings,
            impact={} if impact is None else impact,
        )

    def model_post_init(self, context: object, /) -> None:
        """Take the fingerprint and the digest of a plan made without them."""
        if not self.fingerprint:
            self.fingerprint = fingerprint(self.observations)
        if not self.digest:
            self.digest = self.content_digest()

    def content_digest(self) -> str:
        """sha256 over everything the plan holds (``digest`` aside), as canonical JSON.

        The plan's ``digest`` is this value taken when the plan was made; it
        differs from a fresh one once anything (a change's body, the
        parameters, a manual step, an observation, the org) was edited.
        """
        content = self.to_dict()
        del content["digest"]
        # exact values, not canonical(): a duration rewritten in another form is an edit too
        return _sha256_json(content)

    def check_digest(self) -> None:
        """Raise :class:`EvidenceError` unless the plan is exactly as it was made."""
        if not self.digest:
            raise EvidenceError(
                "the plan has no digest, so nothing shows it is the plan that was made and"
                " approved. Make a new plan."
            )
        if self.digest != self.content_digest():
            raise EvidenceError(
                "the plan was edited after it was made: its content (procedure, parameters,"
                " org, observations, changes or manual steps) no longer matches its digest"
                f" {self.digest}. Make a new plan."
            )

    def edited(self, *, warnings: list[str], impact: JsonObject) -> Plan:
        """A copy with other warnings and impact, digested anew (the plan as now made)."""
        made = self.model_copy(update={"warnings": warnings, "impact": impact, "digest": ""})
        made.digest = made.content_digest()
        return made

    @property
    def is_empty(self) -> bool:
        """True when the plan writes nothing through the API (manual steps aside)."""
        return not self.changes

    @classmethod
    def from_dict(cls, data: JsonMap) -> Plan:
        """Rebuild a plan from :meth:`to_dict` output; it must be exactly as it was made.

        A fingerprint that no longer matches the observations is a
        :class:`ParameterError` (``plan``); any other edit (a change, the
        parameters, the org, a manual step) or a missing digest is an
        :class:`EvidenceError`.
        """
        # what a plan read back lacks is empty, not made now (created_at) nor taken anew
        plan = cls.model_validate(
            {
                "created_at": "",
                **data,
                "params": data.get("params") or {},
                "impact": data.get("impact") or {},
                "digest": "",
            }
        )
        plan.digest = str(data.get("digest") or "")  # the one it was made with, checked below
        expected = fingerprint(plan.observations)
        if plan.fingerprint != expected:
            raise ParameterError(
                "plan",
                "the plan's fingerprint does not match what it recorded; it was edited after"
                " it was made. Make a new plan.",
            )
        plan.check_digest()
        return plan

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        """(action, object, field, before, after) rows for rendering."""
        return render.change_rows(self.changes, render.policy_names(self))

    def to_text(self) -> str:
        return render.plan_text(self)

    def _repr_html_(self) -> str:
        return render.plan_html(self)


class Check(JsonModel):
    """One verification: what was expected, what the org holds, and whether they agree."""

    name: str
    ok: bool
    #: shown to the reader as they are (a value, a list of ids, a sentence)
    expected: SkipValidation[object] = None
    actual: SkipValidation[object] = None

    @positional
    def __init__(self, name: str, ok: bool, expected: object = None, actual: object = None) -> None:
        super().__init__(name=name, ok=ok, expected=expected, actual=actual)


class Verification(JsonModel):
    """A list of checks; ``ok`` when every check passed (an empty list is ok)."""

    json_first = ("ok",)

    checks: list[Check] = Field(default_factory=list)
    #: What could not be checked, and why (e.g. a setting with no public API).
    notes: list[str] = Field(default_factory=list)

    @positional
    def __init__(self, checks: list[Check] | None = None, notes: list[str] | None = None) -> None:
        super().__init__(
            checks=[] if checks is None else checks, notes=[] if notes is None else notes
        )

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form for a computed field
    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def rows(self) -> list[tuple[str, str, str, str]]:
        return render.verification_rows(self)

    def to_text(self) -> str:
        return render.verification_text(self)

    def _repr_html_(self) -> str:
        return render.verification_html(self)


class Attestation(JsonModel):
    """An admin's statement that the plan's manual steps were done: who, when, what."""

    model_config = ConfigDict(frozen=True)

    by: str
    at: str
    statement: str

    @positional
    def __init__(self, by: str, at: str, statement: str) -> None:
        super().__init__(by=by, at=at, statement=statement)

    def model_post_init(self, context: object, /) -> None:
        """Refuse an attestation without a name, a statement or an ISO-8601 time."""
        if not self.by.strip():
            raise ParameterError("attestation.by", "name the admin who did the manual steps")
        if not self.statement.strip():
            raise ParameterError("attestation.statement", "say what was done")
        try:
            _dt.datetime.fromisoformat(self.at.replace("Z", "+00:00"))
        except ValueError:
            raise ParameterError(
                "attestation.at",
                f"must be an ISO-8601 time such as 2026-11-29T07:00:00Z (got {self.at!r})",
            ) from None

    @classmethod
    def from_dict(cls, data: JsonMap) -> Attestation:
        """An attestation from its JSON; a missing field is a :class:`ParameterError`."""
        try:
            return cls(str(data["by"]), str(data["at"]), str(data["statement"]))
        except KeyError as exc:
            raise ParameterError(f"attestation.{exc.args[0]}", "is required") from None


class AppliedChange(JsonModel):
    """A change as written and the server's answer (None for a DELETE)."""

    change: Change
    result: _JsonObj | None = None

    @positional
    def __init__(self, change: Change, result: JsonObject | None) -> None:
        super().__init__(change=change, result=result)


class BeforeRecord(JsonModel):
    """What rollback needs for one object: the object before and as the apply left it.

    ``before`` is None for an object the apply created; ``after_written`` is
    the object read back after every write of the apply (None if deleted).
    """

    ref: ObjectRef
    action: str
    before: _JsonObj | None = None
    after_written: _JsonObj | None = None

    @positional
    def __init__(
        self,
        ref: ObjectRef,
        action: str,
        before: JsonObject | None,
        after_written: JsonObject | None,
    ) -> None:
        super().__init__(ref=ref, action=action, before=before, after_written=after_written)


class ApplyResult(JsonModel):
    """What an apply did: each write, the before-state for rollback, and the verification."""

    json_first = ("procedure",)

    outcome: Outcome = "no-op"
    started_at: str = Field(default_factory=utc_now)
    finished_at: str = ""
    error: str | None = None
    attestation: Attestation | None = None
    notes: list[str] = Field(default_factory=list)
    applied: list[AppliedChange] = Field(default_factory=list)
    before_state: list[BeforeRecord] = Field(default_factory=list)
    created: list[ObjectRef] = Field(default_factory=list)
    verification: Verification = Field(default_factory=Verification)
    plan: Plan
    #: Okta's own record of the writes: System Log events matched to each one by request
    #: id (:func:`kmsi_lib.engine.conflicts.okta_record`); ``matched`` False flags a write
    #: the log does not show
    system_log: list[_JsonObj] = Field(default_factory=list)

    @positional
    def __init__(
        self,
        plan: Plan,
        applied: list[AppliedChange] | None = None,
        before_state: list[BeforeRecord] | None = None,
        created: list[ObjectRef] | None = None,
        verification: Verification | None = None,
        outcome: Outcome = "no-op",
        attestation: Attestation | None = None,
        notes: list[str] | None = None,
        error: str | None = None,
        started_at: str | None = None,
        finished_at: str = "",
        system_log: list[JsonObject] | None = None,
    ) -> None:
        super().__init__(
            plan=plan,
            applied=[] if applied is None else applied,
            before_state=[] if before_state is None else before_state,
            created=[] if created is None else created,
            verification=Verification() if verification is None else verification,
            outcome=outcome,
            attestation=attestation,
            notes=[] if notes is None else notes,
            error=error,
            started_at=utc_now() if started_at is None else started_at,
            finished_at=finished_at,
            system_log=[] if system_log is None else system_log,
        )

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form for a computed field
    @property
    def procedure(self) -> str:
        """The plan's procedure (written first in the JSON)."""
        return self.plan.procedure

    @classmethod
    def from_dict(cls, data: JsonMap) -> ApplyResult:
        """An apply result from its JSON; its plan must be exactly as it was made."""
        plan = data["plan"]
        attestation = data.get("attestation")
        return cls.model_validate(
            {
                "started_at": "",
                **data,
                "plan": Plan.from_dict(plan if isinstance(plan, Mapping) else {}),
                "verification": data.get("verification") or {},
                "attestation": (
                    Attestation.from_dict(attestation)
                    if isinstance(attestation, Mapping) and attestation
                    else None
                ),
            }
        )

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        return render.change_rows((a.change for a in self.applied), render.policy_names(self.plan))

    def to_text(self) -> str:
        return render.apply_result_text(self)

    def _repr_html_(self) -> str:
        return render.apply_result_html(self)
