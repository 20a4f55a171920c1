"""The plan and result model: what a procedure will do, did, and found.

:class:`Plan` (with its :class:`Change` list, :class:`ManualStep` list and the
:class:`Observation` list behind its ``fingerprint`` and ``digest``),
:class:`ApplyResult` (:class:`AppliedChange`, :class:`BeforeRecord`,
:class:`Attestation`) and :class:`Verification` (:class:`Check`) are
dataclasses that convert to and from plain JSON (``to_dict``/``from_dict``:
that JSON is the evidence, and ``Plan.digest`` is a hash over it) and render
as text and HTML (:mod:`kmsi_lib.engine.render`).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from kmsi_lib.engine import render
from kmsi_lib.engine.paths import FieldDiff, diff, writable
from kmsi_lib.errors import EvidenceError, ParameterError

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


@dataclass(frozen=True)
class ObjectRef:
    """Which object a change is about: its kind, id, name and parent's id.

    ``id`` is None for an object a plan will create; ``parent_id`` is the
    policy id of a rule (or a :func:`created_placeholder` when the policy is
    created by an earlier change of the same plan).
    """

    kind: str
    id: str | None = None
    name: str | None = None
    parent_id: str | None = None

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

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "name": self.name, "parent_id": self.parent_id}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ObjectRef:
        return cls(data["kind"], data.get("id"), data.get("name"), data.get("parent_id"))


@dataclass
class Change:
    """One write a plan will make.

    ``before`` is the whole object as read (None for a create); ``after`` is
    the whole body that will be sent (None for a delete): a copy of
    ``before`` with only the fields the procedure owns changed, read-only
    server fields removed, every other field kept as read.
    """

    action: Action
    kind: str
    ref: ObjectRef
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    diffs: list[FieldDiff] = field(default_factory=list)
    note: str = ""

    @classmethod
    def update(
        cls, ref: ObjectRef, before: Mapping[str, Any], after: dict[str, Any], note: str = ""
    ) -> Change:
        """A full-replace update; diffs are taken against the writable part of ``before``."""
        return cls(
            "update", ref.kind, ref, dict(before), after, diff(writable(before), after), note
        )

    @classmethod
    def create(cls, ref: ObjectRef, body: dict[str, Any], note: str = "") -> Change:
        """A create; every field of ``body`` is listed as a diff from absent."""
        return cls("create", ref.kind, ref, None, body, diff({}, body), note)

    @classmethod
    def delete(cls, ref: ObjectRef, before: Mapping[str, Any], note: str = "") -> Change:
        """A delete of the object as read."""
        return cls("delete", ref.kind, ref, dict(before), None, [], note)

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "kind": self.kind,
            "ref": self.ref.to_dict(),
            "before": self.before,
            "after": self.after,
            "diffs": [d.to_dict() for d in self.diffs],
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Change:
        return cls(
            action=data["action"],
            kind=data["kind"],
            ref=ObjectRef.from_dict(data["ref"]),
            before=data.get("before"),
            after=data.get("after"),
            diffs=[FieldDiff.from_dict(d) for d in data.get("diffs", [])],
            note=data.get("note", ""),
        )


@dataclass
class ManualStep:
    """A step an admin does by hand (no public API); apply needs an attestation for it."""

    title: str
    instructions: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "instructions": list(self.instructions)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ManualStep:
        return cls(data["title"], list(data.get("instructions", [])))


@dataclass
class Observation:
    """One read a plan made: a lookup that can be replayed and the value it returned.

    ``value`` is stored in :func:`canonical` form; ``key`` names the object
    for messages (``rule 'Catch-all Rule' of policy rst…``).
    """

    key: str
    lookup: dict[str, Any]
    value: Any

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "lookup": self.lookup, "value": self.value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Observation:
        return cls(data["key"], dict(data["lookup"]), data.get("value"))


def _sha256_json(value: Any) -> str:
    """``sha256:<hex>`` over ``value`` as compact JSON with sorted keys."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def fingerprint(observations: Iterable[Observation]) -> str:
    """sha256 over the canonical JSON of what a plan read (absences included)."""
    return _sha256_json([[o.key, o.lookup, o.value] for o in observations])


@dataclass
class Plan:
    """What a procedure will do, computed from reads only. Plain data, JSON round-trip."""

    procedure: str
    params: dict[str, Any]
    org_url: str
    changes: list[Change] = field(default_factory=list)
    manual_steps: list[ManualStep] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    created_at: str = field(default_factory=utc_now)
    fingerprint: str = ""
    digest: str = ""
    #: What the operator must see first: the plan reaches more apps or people than were
    #: named, or named entries were skipped. Rendered above the changes.
    warnings: list[str] = field(default_factory=list)
    #: What the plan does to people (:class:`~kmsi_lib.engine.impact.Impact` as a dict);
    #: empty for a procedure that has none. Rendered above the changes.
    impact: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
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

    @property
    def is_empty(self) -> bool:
        """True when the plan writes nothing through the API (manual steps aside)."""
        return not self.changes

    def to_dict(self) -> dict[str, Any]:
        return {
            "procedure": self.procedure,
            "params": self.params,
            "org_url": self.org_url,
            "created_at": self.created_at,
            "fingerprint": self.fingerprint,
            "digest": self.digest,
            "changes": [c.to_dict() for c in self.changes],
            "manual_steps": [s.to_dict() for s in self.manual_steps],
            "notes": list(self.notes),
            "observations": [o.to_dict() for o in self.observations],
            # only when there are any: plans recorded before warnings existed keep their digest
            **({"warnings": list(self.warnings)} if self.warnings else {}),
            **({"impact": self.impact} if self.impact else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        """Rebuild a plan from :meth:`to_dict` output; it must be exactly as it was made.

        A fingerprint that no longer matches the observations is a
        :class:`ParameterError` (``plan``); any other edit (a change, the
        parameters, the org, a manual step) or a missing digest is an
        :class:`EvidenceError`.
        """
        plan = cls(
            procedure=data["procedure"],
            params=dict(data.get("params", {})),
            org_url=data.get("org_url", ""),
            changes=[Change.from_dict(c) for c in data.get("changes", [])],
            manual_steps=[ManualStep.from_dict(s) for s in data.get("manual_steps", [])],
            notes=list(data.get("notes", [])),
            observations=[Observation.from_dict(o) for o in data.get("observations", [])],
            created_at=data.get("created_at", ""),
            fingerprint=data.get("fingerprint", ""),
            warnings=list(data.get("warnings", [])),
            impact=dict(data.get("impact") or {}),
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


@dataclass
class Check:
    """One verification: what was expected, what the org holds, and whether they agree."""

    name: str
    ok: bool
    expected: Any = None
    actual: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "expected": self.expected, "actual": self.actual}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Check:
        return cls(data["name"], bool(data["ok"]), data.get("expected"), data.get("actual"))


@dataclass
class Verification:
    """A list of checks; ``ok`` when every check passed (an empty list is ok)."""

    checks: list[Check] = field(default_factory=list)
    #: What could not be checked, and why (e.g. a setting with no public API).
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checks": [c.to_dict() for c in self.checks],
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verification:
        return cls(
            [Check.from_dict(c) for c in data.get("checks", [])], list(data.get("notes", []))
        )

    def rows(self) -> list[tuple[str, str, str, str]]:
        return render.verification_rows(self)

    def to_text(self) -> str:
        return render.verification_text(self)

    def _repr_html_(self) -> str:
        return render.verification_html(self)


@dataclass(frozen=True)
class Attestation:
    """An admin's statement that the plan's manual steps were done: who, when, what."""

    by: str
    at: str
    statement: str

    def __post_init__(self) -> None:
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

    def to_dict(self) -> dict[str, str]:
        return {"by": self.by, "at": self.at, "statement": self.statement}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Attestation:
        try:
            return cls(str(data["by"]), str(data["at"]), str(data["statement"]))
        except KeyError as exc:
            raise ParameterError(f"attestation.{exc.args[0]}", "is required") from None


@dataclass
class AppliedChange:
    """A change as written and the server's answer (None for a DELETE)."""

    change: Change
    result: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {"change": self.change.to_dict(), "result": self.result}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AppliedChange:
        return cls(Change.from_dict(data["change"]), data.get("result"))


@dataclass
class BeforeRecord:
    """What rollback needs for one object: the object before and as the apply left it.

    ``before`` is None for an object the apply created; ``after_written`` is
    the object read back after every write of the apply (None if deleted).
    """

    ref: ObjectRef
    action: str
    before: dict[str, Any] | None
    after_written: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref.to_dict(),
            "action": self.action,
            "before": self.before,
            "after_written": self.after_written,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BeforeRecord:
        return cls(
            ObjectRef.from_dict(data["ref"]),
            data["action"],
            data.get("before"),
            data.get("after_written"),
        )


@dataclass
class ApplyResult:
    """What an apply did: each write, the before-state for rollback, and the verification."""

    plan: Plan
    applied: list[AppliedChange] = field(default_factory=list)
    before_state: list[BeforeRecord] = field(default_factory=list)
    created: list[ObjectRef] = field(default_factory=list)
    verification: Verification = field(default_factory=Verification)
    outcome: Outcome = "no-op"
    attestation: Attestation | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    started_at: str = field(default_factory=utc_now)
    finished_at: str = ""
    #: Okta's own record of the writes: System Log events matched to each one by request
    #: id (:func:`kmsi_lib.engine.conflicts.okta_record`); ``matched`` False flags a write
    #: the log does not show
    system_log: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "procedure": self.plan.procedure,
            "outcome": self.outcome,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "error": self.error,
            "attestation": self.attestation.to_dict() if self.attestation else None,
            "notes": list(self.notes),
            "applied": [a.to_dict() for a in self.applied],
            "before_state": [b.to_dict() for b in self.before_state],
            "created": [r.to_dict() for r in self.created],
            "verification": self.verification.to_dict(),
            "plan": self.plan.to_dict(),
            "system_log": list(self.system_log),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ApplyResult:
        attestation = data.get("attestation")
        return cls(
            plan=Plan.from_dict(data["plan"]),
            applied=[AppliedChange.from_dict(a) for a in data.get("applied", [])],
            before_state=[BeforeRecord.from_dict(b) for b in data.get("before_state", [])],
            created=[ObjectRef.from_dict(r) for r in data.get("created", [])],
            verification=Verification.from_dict(data.get("verification", {})),
            outcome=data.get("outcome", "no-op"),
            attestation=Attestation.from_dict(attestation) if attestation else None,
            notes=list(data.get("notes", [])),
            error=data.get("error"),
            started_at=data.get("started_at", ""),
            finished_at=data.get("finished_at", ""),
            system_log=list(data.get("system_log", [])),
        )

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        return render.change_rows((a.change for a in self.applied), render.policy_names(self.plan))

    def to_text(self) -> str:
        return render.apply_result_text(self)

    def _repr_html_(self) -> str:
        return render.apply_result_html(self)
