"""Shared machinery of the procedures: parameters, plans, apply, verification.

A procedure is a module with ``NAME``, ``TITLE``, ``SCOPES``, ``Params``,
``plan(client, params)``, ``apply(client, plan, *, attestation=None)`` and
``verify(client, params)``. This module gives them one way to do each step:

* :func:`parse_params` validates parameters and turns pydantic's errors into a
  :class:`~kmsi_lib.errors.ParameterError` naming the field and the fix.
* :class:`Reader` performs every read a plan makes and remembers what it saw
  (:class:`Observation`); the plan's ``fingerprint`` is a hash of those
  observations and :func:`apply_plan` re-reads them to refuse a stale plan.
* :class:`Change` is one write: the whole object as read (``before``), the
  whole body to send (``after``, a read-modify-write copy of ``before``) and
  the field-level :class:`FieldDiff` list between them.
* :func:`apply_plan` checks drift, writes the changes in plan order, reads
  every written object back, verifies each planned field and records the
  before-state a rollback needs (:class:`ApplyResult`).

Writes go through an :class:`ObjectKind` per kind of object (``policy``,
``rule`` here; other procedures register theirs with :func:`register_kind`).
Reads that plans make go through lookups registered with
:func:`register_lookup`, so a plan made today can be re-checked at apply time
from its JSON alone.

Plans, apply results and verifications are dataclasses that convert to and
from plain JSON (``to_dict``/``from_dict``) and render as a terminal table
(``to_text``) and an HTML table (``_repr_html_``).
"""

from __future__ import annotations

import contextvars
import copy
import datetime as _dt
import difflib
import hashlib
import html
import importlib
import json
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, cast
from urllib.parse import urlsplit

import pydantic
from pydantic import BaseModel, BeforeValidator, ConfigDict
from pydantic_core import PydanticCustomError

from kmsi_lib import durations
from kmsi_lib.bulk import run_bulk
from kmsi_lib.errors import (
    EvidenceError,
    KmsiError,
    NotFoundError,
    OktaApiError,
    ParameterError,
    StalePlanError,
    TransportError,
)
from kmsi_lib.procedures import _bounds, _conflicts

if TYPE_CHECKING:
    from kmsi_lib.client import OktaClient
else:  # the client is only needed for annotations; importing it here would cost start-up time
    OktaClient = Any

__all__ = [
    "AllowUnusualValues",
    "AppSelection",
    "AppliedChange",
    "ApplyResult",
    "Attestation",
    "BeforeRecord",
    "Change",
    "Check",
    "DURATION_KEYS",
    "Edit",
    "FieldDiff",
    "ManualStep",
    "Minutes",
    "ObjectKind",
    "ObjectRef",
    "Observation",
    "ParamsModel",
    "Plan",
    "READ_ONLY_FIELDS",
    "RULE_ORDER_KIND",
    "Reader",
    "ResolvedApp",
    "VOLATILE_FIELDS",
    "Verification",
    "WriteListener",
    "apply_plan",
    "bulk_values",
    "canonical",
    "check_drift",
    "check_procedure",
    "check_same_org",
    "created_placeholder",
    "diff",
    "field_messages",
    "fingerprint",
    "get_kind",
    "get_path",
    "parse_params",
    "read_sandbox",
    "recover_apply_result",
    "refuse_stale",
    "register_kind",
    "register_lookup",
    "report_write",
    "resolve_apps",
    "resolve_groups",
    "run_lookup",
    "same_value",
    "set_path",
    "start_apply",
    "suggest",
    "suggest_group",
    "unknown_group",
    "utc_now",
    "watch_writes",
    "whole_number",
    "writable",
]

Action = Literal["create", "update", "delete", "assign", "revoke", "manual"]
Outcome = Literal["applied", "no-op", "failed"]

#: Server-maintained fields that are never sent back in a PUT or POST body
#: (recorded PUTs omit them; ``system`` is the guide's mistake, docs/OKTA-API.md §12.1).
READ_ONLY_FIELDS: tuple[str, ...] = (
    "id",
    "created",
    "lastUpdated",
    "_links",
    "_embedded",
    "system",
)

#: Fields ignored when comparing what the plan saw with what the org holds now:
#: ``_links`` carries the host name and ``lastUpdated`` moves on a write that changed nothing.
VOLATILE_FIELDS: tuple[str, ...] = ("_links", "lastUpdated")

#: Keys whose values are ISO-8601 durations; they are compared by meaning.
DURATION_KEYS: frozenset[str] = frozenset(
    {"reauthenticateIn", "postAuthPromptFrequency", "inactivityPeriod"}
)


def utc_now() -> str:
    """The current UTC time as ISO-8601 with a ``Z`` suffix, to the second."""
    now = _dt.datetime.now(_dt.UTC).replace(microsecond=0)
    return now.isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------- parameters


class ParamsModel(BaseModel):
    """Base of every procedure's ``Params``: unknown parameters are refused.

    A model with an ``allow_unusual_values`` field (every procedure's ``Params``)
    also checks the usual bounds of its fields and sections (:mod:`._bounds`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    @pydantic.model_validator(mode="after")
    def _usual_bounds(self) -> Any:
        allowed = getattr(self, _bounds.ALLOW_FIELD, None)
        if isinstance(allowed, list):  # a section is checked by the model holding it
            _bounds.check_usual(self, allowed)
        return self


AllowUnusualValues = Annotated[
    list[Annotated[str, _bounds.NAME]],
    pydantic.Field(
        default_factory=list,
        description="Fields whose usual ceiling or floor is lifted for this run (Okta's "
        "documented limits still apply), e.g. [factor_lifetime_minutes].",
    ),
]
"""The type of ``allow_unusual_values``: field paths, empty by default."""


def whole_number(unit: str = "") -> Callable[[Any], int]:
    """A before-validator accepting only a whole number (not ``"200"``, ``200.5`` or ``True``).

    ``unit`` words the message: ``must be a whole number of minutes (got '200')``.
    """
    wording = f"a whole number of {unit}" if unit else "a whole number"

    def check(value: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise PydanticCustomError(
                "whole_number", f"must be {wording} (got {{got}})", {"got": repr(value)}
            )
        return value

    return check


Minutes = Annotated[int, BeforeValidator(whole_number("minutes")), pydantic.Field(ge=0)]
"""A number of minutes: a whole number, zero or more (``"200"`` as a string is refused)."""

ModelT = TypeVar("ModelT", bound=BaseModel)


def _loc(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


def _model_at(model: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The (nested) model that owns the fields at ``loc``, if it is a plain model field."""
    current = model
    for part in loc:
        if isinstance(part, int):
            continue
        info = current.model_fields.get(part)
        annotation = info.annotation if info is not None else None
        # an optional section (``KnowledgeConstraint | None``) is its model
        models = [a for a in typing.get_args(annotation) if isinstance(a, type)
                  and issubclass(a, BaseModel)]
        if len(models) == 1:
            annotation = models[0]
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        current = annotation
    return current


def _message(error: Mapping[str, Any], model: type[BaseModel]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    got = error.get("input")
    if kind == "missing":
        owner = _model_at(model, error["loc"][:-1])
        field = owner.model_fields.get(str(error["loc"][-1])) if owner is not None else None
        what = f" ({field.description.rstrip('.')})" if field and field.description else ""
        return (f"is required{what}: nothing is chosen for you; name it in the params file"
                " (or the form)")
    if kind == "extra_forbidden":
        owner = _model_at(model, error["loc"][:-1])
        if owner is None:
            return "is not a known parameter"
        known = ", ".join(sorted(owner.model_fields))
        where = "this procedure" if owner is model else "this section"
        return f"is not a parameter of {where}; the parameters are: {known}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be a whole number (got {got!r})"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false (got {got!r})"
    if kind in ("string_type",):
        return f"must be text (got {got!r})"
    if kind == "greater_than_equal":
        return f"must be {ctx['ge']} or more (got {got!r})"
    if kind == "less_than_equal":
        return f"must be {ctx['le']} or less (got {got!r})"
    if kind == "greater_than":
        return f"must be more than {ctx['gt']} (got {got!r})"
    if kind == "less_than":
        return f"must be less than {ctx['lt']} (got {got!r})"
    if kind in ("literal_error", "enum"):
        return f"must be one of {ctx.get('expected')} (got {got!r})"
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length')} item(s) (got {got!r})"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    if kind == "assertion_error":
        return str(error["msg"]).removeprefix("Assertion failed, ")
    if kind in ("whole_number",) or kind.startswith("kmsi_"):
        return str(error["msg"])
    return f"{error['msg']} (got {got!r})"


def field_messages(model: type[BaseModel], data: Mapping[str, Any]) -> dict[str, str]:
    """Validate ``data`` against ``model``; the message for each wrong field, {} when valid.

    Keys are field paths as :func:`parse_params` names them (``apps.labels[2]``),
    ``""`` for a problem that belongs to no single field; messages have the
    same wording as a headless run (the first one per field). A
    :class:`ParameterError` a model validator raises is reported under its
    ``field``. Forms show these next to their inputs.
    """
    try:
        model.model_validate(dict(data))
    except pydantic.ValidationError as exc:
        messages: dict[str, str] = {}
        for error in exc.errors():
            messages.setdefault(_loc(error["loc"]), _message(error, model))
        return messages
    except ParameterError as exc:  # raised by a model validator, naming the field itself
        return {exc.field: exc.message}
    return {}


def parse_params(model: type[ModelT], data: Mapping[str, Any] | ModelT) -> ModelT:
    """Validate ``data`` against a procedure's ``Params`` model.

    Raises :class:`ParameterError` whose ``field`` is the first wrong field
    (dotted, with list indexes: ``apps.labels[2]``) and whose message lists
    every wrong field with what to do. A model instance passes through.
    """
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(dict(cast(Mapping[str, Any], data)))
    except pydantic.ValidationError as exc:
        problems = [(_loc(e["loc"]) or "params", _message(e, model)) for e in exc.errors()]
    first_field, first_message = problems[0]
    if len(problems) == 1:
        raise ParameterError(first_field, first_message) from None
    rest = "; ".join(f"{name}: {message}" for name, message in problems[1:])
    raise ParameterError(first_field, f"{first_message}; also {rest}") from None


# --------------------------------------------------------------------------- object paths


def get_path(obj: Any, path: str) -> Any:
    """Read a dotted path (``actions.signon.session.maxSessionIdleMinutes``); None if absent."""
    node = obj
    for key in path.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return None  # absent reads as None: Okta treats null and absent alike
        node = node[key]
    return node


def set_path(obj: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted path in ``obj``, creating intermediate objects (a None parent too)."""
    keys = path.split(".")
    node = obj
    for key in keys[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[keys[-1]] = value


#: Keys whose wanted value is met when the org's value contains it: Okta fills in
#: defaults inside authenticator constraints (``required: true``), so the org never
#: holds exactly the object sent.
CONTAINS_KEYS: frozenset[str] = frozenset({"constraints"})


def _contains(actual: Any, wanted: Any) -> bool:
    if isinstance(wanted, Mapping):
        return isinstance(actual, Mapping) and all(
            k in actual and _contains(actual[k], v) for k, v in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(wanted)
            and all(_contains(a, w) for a, w in zip(actual, wanted, strict=True))
        )
    return bool(canonical(actual) == canonical(wanted))


def same_value(key: str, actual: Any, wanted: Any) -> bool:
    """Does the org's value (``actual``) already mean ``wanted``?

    Durations are compared by meaning (``P7D`` == ``PT168H``); constraints are
    met when the org's value contains every wanted field (Okta adds defaults);
    everything else is compared in :func:`canonical` form.
    """
    last = key.rsplit(".", 1)[-1]
    if last in DURATION_KEYS and isinstance(actual, str) and isinstance(wanted, str):
        return durations.equal(actual, wanted)
    if last in CONTAINS_KEYS and wanted is not None:
        return _contains(actual, wanted)
    return bool(canonical(actual) == canonical(wanted))


def writable(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``obj`` without the read-only server fields (the body for a PUT)."""
    return {k: copy.deepcopy(v) for k, v in obj.items() if k not in READ_ONLY_FIELDS}


def canonical(value: Any) -> Any:
    """The comparable form of an object: what two equal-in-meaning objects share.

    Drops :data:`VOLATILE_FIELDS`, writes durations in one form, and drops a
    ``postAuthPromptFrequency`` beside ``postAuth: NOT_ALLOWED`` (Okta ignores
    it: NOT_ALLOWED with a frequency means the same as without one).
    """
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in VOLATILE_FIELDS:
                continue
            if key in DURATION_KEYS and durations.is_valid(item):
                out[key] = durations.parse(item).iso()
            else:
                out[key] = canonical(item)
        if out.get("postAuth") == "NOT_ALLOWED":
            out.pop("postAuthPromptFrequency", None)
        return out
    if isinstance(value, list | tuple):
        return [canonical(item) for item in value]
    return value


def _identified(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(item, Mapping) and isinstance(item.get("id"), str) for item in value
    )


def diff(before: Any, after: Any, prefix: str = "") -> list[FieldDiff]:
    """Field-level differences between two JSON objects, by meaning.

    Objects are walked key by key, lists of objects with ids object by object
    (path ``rules['Catch-all Rule'].priority``); any other value is compared
    whole. Volatile fields are ignored. An absent field shows as None.
    """
    if isinstance(before, Mapping) and after is None and prefix:
        after = {}  # an object removed: list each field it had
    if isinstance(after, Mapping) and before is None:
        before = {}  # an object added: list each field it gets
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        changes: list[FieldDiff] = []
        keys = [k for k in before if k not in VOLATILE_FIELDS]
        keys += [k for k in after if k not in before and k not in VOLATILE_FIELDS]
        for key in keys:
            path = f"{prefix}.{key}" if prefix else key
            changes.extend(diff(before.get(key), after.get(key), path))
        # NOT_ALLOWED ignores the frequency: a frequency difference alone is no change
        if canonical(before) == canonical(after):
            return []
        return changes
    if _identified(before) and _identified(after):
        # lists of objects with ids (rules of a policy): compare object by object
        old = {item["id"]: item for item in before}
        new = {item["id"]: item for item in after}
        changes = []
        for ident in [*old, *(i for i in new if i not in old)]:
            item = new.get(ident) or old[ident]
            name = f"{item.get('name')!r}" if item.get("name") else ident
            changes.extend(diff(old.get(ident), new.get(ident), f"{prefix}[{name}]"))
        return changes
    if same_value(prefix, before, after):
        return []
    return [FieldDiff(prefix or "(object)", copy.deepcopy(before), copy.deepcopy(after))]


# --------------------------------------------------------------------------- plan data


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

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "name": self.name, "parent_id": self.parent_id}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ObjectRef:
        return cls(data["kind"], data.get("id"), data.get("name"), data.get("parent_id"))


@dataclass(frozen=True)
class FieldDiff:
    """One field of one object: its dotted ``path``, value before and after (None = absent)."""

    path: str
    before: Any
    after: Any

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "before": self.before, "after": self.after}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FieldDiff:
        return cls(data["path"], data.get("before"), data.get("after"))


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
        return _change_rows(self.changes)

    def to_text(self) -> str:
        lines = [f"Plan: {self.procedure} on {self.org_url} at {self.created_at}"]
        lines.extend(f"ATTENTION: {w}" for w in self.warnings)
        lines.append("parameters in effect: " + _params_text(self.params))
        if self.is_empty:
            lines.append("No changes: the org already matches the parameters.")
        else:
            lines.append(f"{len(self.changes)} change(s):")
            lines.extend(_change_text(self.changes))
        for step in self.manual_steps:
            lines.append(f"manual step (needs an attestation at apply): {step.title}")
            lines.extend(f"    {n}. {text}" for n, text in enumerate(step.instructions, 1))
        lines.extend(f"note: {n}" for n in self.notes)
        lines.append(f"fingerprint: {self.fingerprint}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        parts = [
            f"<p><b>Plan: {html.escape(self.procedure)}</b> on {html.escape(self.org_url)}"
            f" at {html.escape(self.created_at)}</p>"
        ]
        parts.extend(
            '<p class="kmsi-warning" style="background:#fef7e0;padding:4px 8px">'
            f"<b>Attention:</b> {html.escape(w)}</p>"
            for w in self.warnings
        )
        parts.append(
            "<p><b>Parameters in effect</b> (given or the procedure's defaults):"
            f" <code>{html.escape(_params_text(self.params))}</code></p>"
        )
        if self.is_empty:
            parts.append("<p>No changes: the org already matches the parameters.</p>")
        else:
            parts.append(_html_table(_CHANGE_HEADERS, self.rows()))
        for step in self.manual_steps:
            items = "".join(f"<li>{html.escape(t)}</li>" for t in step.instructions)
            parts.append(
                f"<p><b>Manual step</b> (needs an attestation at apply):"
                f" {html.escape(step.title)}</p><ol>{items}</ol>"
            )
        parts.extend(f"<p>Note: {html.escape(n)}</p>" for n in self.notes)
        return "".join(parts)


_CHANGE_HEADERS = ("action", "object", "field", "before", "after")


def _params_text(params: Mapping[str, Any]) -> str:
    """Every parameter of the plan, defaults included, as compact JSON (sorted keys)."""
    return json.dumps(params, sort_keys=True, separators=(", ", ": "), default=str)


def _change_rows(changes: Iterable[Change]) -> list[tuple[str, str, str, str, str]]:
    out: list[tuple[str, str, str, str, str]] = []
    for change in changes:
        label = change.ref.label() + (f" [{change.note}]" if change.note else "")
        if not change.diffs:
            out.append((change.action, label, "", "", ""))
        for d in change.diffs:
            out.append((change.action, label, d.path, _show(d.before), _show(d.after)))
    return out


def _change_text(changes: Iterable[Change]) -> list[str]:
    """Changes grouped by object: a heading line, then ``field: before -> after`` lines."""
    lines: list[str] = []
    for change in changes:
        note = f"  [{change.note}]" if change.note else ""
        lines.append(f"  {change.action} {change.ref.label()}{note}")
        width = max((len(d.path) for d in change.diffs), default=0)
        lines.extend(
            f"      {d.path.ljust(width)}  {_show(d.before)} -> {_show(d.after)}"
            for d in change.diffs
        )
    return lines


def _show(value: Any) -> str:
    if value is None:
        return "(absent)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


# JupyterLab and nbconvert right-align table cells by default; object names and field
# paths read better left-aligned, so every cell says so itself.
_CELL_STYLE = ' style="text-align:left"'


def _html_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """An escaped HTML table with left-aligned cells (plans, results, the audit)."""
    head = "".join(f"<th{_CELL_STYLE}>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td{_CELL_STYLE}>{html.escape(c)}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# --------------------------------------------------------------------------- results


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
        return [
            ("ok" if c.ok else "FAILED", c.name, _show(c.expected), _show(c.actual))
            for c in self.checks
        ]

    def to_text(self) -> str:
        failed = sum(not c.ok for c in self.checks)
        head = f"Verification: {'passed' if self.ok else 'FAILED'} ({len(self.checks)} checks"
        head += f", {failed} failed)" if failed else ")"
        lines = [head]
        for c in self.checks:
            lines.append(f"  {'ok    ' if c.ok else 'FAILED'}  {c.name}")
            if not c.ok:
                lines.append(f"          expected {_show(c.expected)}, found {_show(c.actual)}")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = f"<p><b>Verification: {'passed' if self.ok else 'FAILED'}</b></p>"
        notes = "".join(f"<p>Note: {html.escape(n)}</p>" for n in self.notes)
        return head + _html_table(("result", "check", "expected", "actual"), self.rows()) + notes


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
        )

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        return _change_rows(a.change for a in self.applied)

    def to_text(self) -> str:
        lines = [f"Apply: {self.plan.procedure}: {self.outcome}"]
        if self.error:
            lines.append(f"error: {self.error}")
        if self.attestation:
            a = self.attestation
            lines.append(f"attested by {a.by} at {a.at}: {a.statement}")
        if self.applied:
            lines.append(f"{len(self.applied)} change(s) written:")
            lines.extend(_change_text(a.change for a in self.applied))
        else:
            lines.append("Nothing was written.")
        lines.extend(f"note: {n}" for n in self.notes)
        lines.append(self.verification.to_text())
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        parts = [f"<p><b>Apply: {html.escape(self.plan.procedure)}: {self.outcome}</b></p>"]
        if self.error:
            parts.append(f"<p>Error: {html.escape(self.error)}</p>")
        if self.attestation:
            a = self.attestation
            parts.append(
                f"<p>Attested by {html.escape(a.by)} at {html.escape(a.at)}:"
                f" {html.escape(a.statement)}</p>"
            )
        if self.applied:
            parts.append(_html_table(_CHANGE_HEADERS, self.rows()))
        else:
            parts.append("<p>Nothing was written.</p>")
        parts.extend(f"<p>Note: {html.escape(n)}</p>" for n in self.notes)
        parts.append(self.verification._repr_html_())
        return "".join(parts)


# --------------------------------------------------------------------------- reads (lookups)

Lookup = Callable[["OktaClient", Mapping[str, Any]], Any]
_LOOKUPS: dict[str, Lookup] = {}


def register_lookup(op: str, fn: Lookup) -> None:
    """Make ``op`` a lookup a :class:`Reader` can record and apply can replay.

    ``fn(client, args)`` returns plain JSON (None when the object is absent).
    """
    _LOOKUPS[op] = fn


def run_lookup(client: OktaClient, lookup: Mapping[str, Any]) -> Any:
    """Replay a recorded lookup (``{"op": ..., **args}``)."""
    try:
        fn = _LOOKUPS[lookup["op"]]
    except KeyError:
        raise KmsiError(f"unknown lookup {lookup.get('op')!r} in the plan") from None
    return fn(client, lookup)


def bulk_values(items: Sequence[Any], fn: Callable[[Any], Any], *, max_workers: int) -> list[Any]:
    """``fn`` over ``items`` concurrently (within the client's governor), values in order.

    For reads whose every answer is needed: the first item's error is raised.
    """
    if not items:
        return []
    result = run_bulk(list(items), fn, max_workers=max_workers)
    out: list[Any] = []
    for item in result.results:
        if item.error is not None:
            raise item.error
        out.append(item.value)
    return out


def _or_none(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except NotFoundError:
        return None


def _policies() -> Any:
    # Imported on first use: plans and results can be loaded and rendered (evidence
    # tooling) without the HTTP client stack.
    return importlib.import_module("kmsi_lib.resources.policies")


def _lookup_policy(c: OktaClient, a: Mapping[str, Any]) -> Any:
    return _or_none(lambda: _policies().get_policy(c, a["id"]))


def _lookup_rule(c: OktaClient, a: Mapping[str, Any]) -> Any:
    return _or_none(lambda: _policies().get_rule(c, a["policy_id"], a["id"]))


def _lookup_policy_by_name(c: OktaClient, a: Mapping[str, Any]) -> Any:
    return _policies().find_policy_by_name(c, a["type"], a["name"])


def _lookup_rule_by_name(c: OktaClient, a: Mapping[str, Any]) -> Any:
    return _policies().find_rule_by_name(c, a["policy_id"], a["name"])


def _lookup_rules(c: OktaClient, a: Mapping[str, Any]) -> Any:
    return _or_none(lambda: list(_policies().list_rules(c, a["policy_id"])))


def _lookup_policies(c: OktaClient, a: Mapping[str, Any]) -> Any:
    return list(_policies().list_policies(c, a["type"]))


register_lookup("policy", _lookup_policy)
register_lookup("rule", _lookup_rule)
register_lookup("policy_by_name", _lookup_policy_by_name)
register_lookup("rule_by_name", _lookup_rule_by_name)
register_lookup("rules", _lookup_rules)
register_lookup("policies", _lookup_policies)


class Reader:
    """Performs a plan's reads and records each as an :class:`Observation`.

    Everything a plan decides on must be read through a Reader, so that apply
    can tell whether the org still looks the same (the plan's fingerprint).
    Reading the same lookup twice returns the recorded value without a request.
    """

    def __init__(self, client: OktaClient) -> None:
        self.client = client
        self.observations: list[Observation] = []
        self._seen: dict[str, Any] = {}

    def read(self, key: str, op: str, **args: Any) -> Any:
        """Run lookup ``op`` with ``args``, record it under the human ``key``, return its value."""
        lookup = {"op": op, **args}
        ident = json.dumps(lookup, sort_keys=True)
        if ident in self._seen:
            return copy.deepcopy(self._seen[ident])
        value = run_lookup(self.client, lookup)
        self._seen[ident] = copy.deepcopy(value)
        self.observations.append(Observation(key, lookup, canonical(value)))
        return value

    def policy(self, policy_id: str) -> dict[str, Any] | None:
        return cast(
            "dict[str, Any] | None", self.read(f"policy {policy_id}", "policy", id=policy_id)
        )

    def rule(self, policy_id: str, rule_id: str) -> dict[str, Any] | None:
        return cast(
            "dict[str, Any] | None",
            self.read(
                f"rule {rule_id} in policy {policy_id}", "rule", policy_id=policy_id, id=rule_id
            ),
        )

    def policy_by_name(self, policy_type: str, name: str) -> dict[str, Any] | None:
        return cast(
            "dict[str, Any] | None",
            self.read(
                f"{policy_type} policy named {name!r}",
                "policy_by_name",
                type=policy_type,
                name=name,
            ),
        )

    def rules(self, policy_id: str) -> list[dict[str, Any]]:
        value = self.read(f"rules of policy {policy_id}", "rules", policy_id=policy_id)
        return cast("list[dict[str, Any]]", value or [])

    def policies(self, policy_type: str) -> list[dict[str, Any]]:
        value = self.read(f"{policy_type} policies", "policies", type=policy_type)
        return cast("list[dict[str, Any]]", value)

    def object(self, ref: ObjectRef) -> dict[str, Any] | None:
        """Any registered kind of object, by ref (rollback re-reads what an apply wrote)."""
        value = self.read(ref.label(), "object", kind=ref.kind, id=ref.id, parent_id=ref.parent_id)
        return value if isinstance(value, dict) else None

    def rule_order(self, policy_id: str) -> dict[str, int]:
        """``{rule_id: priority}`` of every rule of the policy."""
        value = self.read(
            f"rule priorities of policy {policy_id}", "rule_order", policy_id=policy_id
        )
        return cast("dict[str, int]", value or {})


# --------------------------------------------------------------------------- desired state


class Edit:
    """Read-modify-write of one object, recording a verification check per owned field.

    Start from the object as read (``before``; None for an object to create,
    with ``body`` as the starting body); :meth:`set` each field the procedure
    owns. A field already holding the value (by meaning) is left exactly as
    read, so a second run plans nothing. :attr:`checks` says, per owned field,
    whether the org already matches: that is what ``verify()`` reports.
    """

    def __init__(
        self,
        ref: ObjectRef,
        before: Mapping[str, Any] | None,
        body: Mapping[str, Any] | None = None,
    ) -> None:
        self.ref = ref
        self.before = dict(before) if before is not None else None
        start = before if before is not None else (body or {})
        self.after: dict[str, Any] = writable(start)
        self.checks: list[Check] = []

    def set(self, path: str, value: Any) -> None:
        """Own ``path``: make it ``value`` unless it already means the same."""
        current = get_path(self.before, path) if self.before is not None else None
        ok = self.before is not None and same_value(path, current, value)
        self.checks.append(Check(f"{self.ref.label()} {path}", ok, value, current))
        if not same_value(path, get_path(self.after, path), value):
            set_path(self.after, path, copy.deepcopy(value))

    def set_assurance(self, path: str, fields: Mapping[str, Any]) -> None:
        """Own an app sign-in rule's verification method at ``path``: ``ASSURANCE`` with ``fields``.

        A method of another type (e.g. ``AUTH_METHOD_CHAIN``) has fields
        ASSURANCE does not take, so it is replaced whole; otherwise ``type``
        and each of ``fields`` are set and the method's other fields are kept.
        """
        if get_path(self.before, f"{path}.type") not in (None, "ASSURANCE"):
            self.set(path, {"type": "ASSURANCE", **fields})
            return
        self.set(f"{path}.type", "ASSURANCE")
        for key, value in fields.items():
            self.set(f"{path}.{key}", value)

    def require_active(self, notes: list[str]) -> None:
        """Check (not change) that an existing object is ACTIVE; note it if not.

        Status is changed through Okta's lifecycle endpoints, not by a PUT, so
        an inactive object is reported for the admin to activate.
        """
        if self.before is None:
            return
        status = self.before.get("status")
        self.checks.append(
            Check(f"{self.ref.label()} status", status == "ACTIVE", "ACTIVE", status)
        )
        if status != "ACTIVE":
            notes.append(
                f"{self.ref.label()} is {status}: it has no effect until it is activated"
                " (Admin Console, or POST .../lifecycle/activate)"
            )

    def change(self, note: str = "") -> Change | None:
        """The create or update this edit needs, or None when nothing differs."""
        if self.before is None:
            return Change.create(self.ref, self.after, note)
        planned = Change.update(self.ref, self.before, self.after, note)
        return planned if planned.diffs else None


@dataclass(frozen=True)
class ResolvedApp:
    """An app chosen by the parameters, with its authentication policy's id.

    For a selection by policy name, one entry stands for every app using the
    policy: ``id`` is empty and ``label`` says how many apps that is.
    """

    id: str
    label: str
    policy_id: str


class AppSelection(ParamsModel):
    """Apps chosen by label, by id, or as every app using a named authentication policy."""

    labels: Annotated[list[Annotated[str, _bounds.NAME]], _bounds.FEW] = pydantic.Field(
        default_factory=list
    )
    ids: Annotated[list[Annotated[str, _bounds.NAME]], _bounds.FEW] = pydantic.Field(
        default_factory=list
    )
    policies: Annotated[list[Annotated[str, _bounds.NAME]], _bounds.FEW] = pydantic.Field(
        default_factory=list
    )

    @property
    def is_empty(self) -> bool:
        return not (self.labels or self.ids or self.policies)

    @pydantic.model_validator(mode="after")
    def _some_app(self) -> AppSelection:
        if self.is_empty:
            raise ValueError(
                "choose at least one app (by labels, ids, or authentication policy names)"
            )
        return self


def _apps() -> Any:
    return importlib.import_module("kmsi_lib.resources.apps")


def _groups() -> Any:
    return importlib.import_module("kmsi_lib.resources.groups")


def suggest(name: str, candidates: Iterable[str]) -> str:
    """``; did you mean 'X'?`` for the closest candidate, or ``""``."""
    return _suggest(name, candidates)


def _suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _lookup_app(c: OktaClient, a: Mapping[str, Any]) -> Any:
    app = _or_none(lambda: _apps().get_app(c, a["id"]))
    if app is None:
        return None
    return {
        "id": app.get("id"),
        "label": app.get("label"),
        "status": app.get("status"),
        "accessPolicyId": _apps().access_policy_id(app),
    }


def _lookup_group_by_name(c: OktaClient, a: Mapping[str, Any]) -> Any:
    group = _groups().find_group_by_name(c, a["name"])
    if group is None:
        return None
    return {"id": group.get("id"), "name": group.get("profile", {}).get("name")}


register_lookup("app", _lookup_app)
register_lookup("group_by_name", _lookup_group_by_name)


def resolve_apps(
    reader: Reader, selection: AppSelection, *, field: str = "apps"
) -> list[ResolvedApp]:
    """Resolve an :class:`AppSelection` to apps and their authentication policies.

    Every name must match exactly one app (or policy): an unknown label, id or
    policy name, an ambiguous label, an app without an authentication policy,
    or an empty selection raise :class:`ParameterError` naming the entry
    (``apps.labels[2]: no app labelled 'Slak' in this org; did you mean 'Slack'?``).
    Apps chosen twice are returned once; order follows the parameters.
    """
    if selection.is_empty:
        raise ParameterError(
            field, "choose at least one app (by labels, ids, or authentication policy names)"
        )
    chosen: dict[str, ResolvedApp] = {}

    def add(app_id: str, where: str) -> None:
        seen = reader.read(f"app {app_id}", "app", id=app_id)
        if seen is None:
            raise ParameterError(where, f"no app with id {app_id!r} in this org")
        if not seen["accessPolicyId"]:
            raise ParameterError(
                where, f"app {seen['label']!r} ({app_id}) has no authentication policy"
            )
        chosen.setdefault(app_id, ResolvedApp(app_id, seen["label"], seen["accessPolicyId"]))

    if selection.labels:
        by_label: dict[str, list[str]] = {}
        for app in _apps().list_apps(reader.client):
            by_label.setdefault(app.get("label", ""), []).append(app["id"])
        for n, label in enumerate(selection.labels):
            where = f"{field}.labels[{n}]"
            ids = by_label.get(label, [])
            if not ids:
                hint = _suggest(label, by_label)
                raise ParameterError(where, f"no app labelled {label!r} in this org{hint}")
            if len(ids) > 1:
                raise ParameterError(
                    where,
                    f"{len(ids)} apps are labelled {label!r} ({', '.join(ids)}); choose by id",
                )
            add(ids[0], where)
    for n, app_id in enumerate(selection.ids):
        add(app_id, f"{field}.ids[{n}]")
    for n, name in enumerate(selection.policies):
        where = f"{field}.policies[{n}]"
        policy = reader.policy_by_name("ACCESS_POLICY", name)
        if policy is None:
            names = [p.get("name", "") for p in reader.policies("ACCESS_POLICY")]
            raise ParameterError(
                where, f"no authentication policy named {name!r}{_suggest(name, names)}"
            )
        app_ids = _policies().list_policy_app_ids(reader.client, policy["id"])
        if not app_ids:
            raise ParameterError(where, f"no app uses the authentication policy {name!r}")
        # the policy is what changes: no need to read each of its (maybe many) apps
        label = f"the {len(app_ids)} app(s) using policy {name!r}"
        chosen.setdefault(f"policy:{policy['id']}", ResolvedApp("", label, policy["id"]))
    return list(chosen.values())


def suggest_group(client: OktaClient, name: str) -> str:
    """``; did you mean 'KMSI Pilot'?`` for a mistyped group name, from groups whose names
    start like it (Okta's ``q`` is a prefix match on the name), or ``""``."""
    prefix = name.strip()[:2]
    if not prefix:
        return ""
    try:
        found = _groups().list_groups(client, q=prefix, limit=200)
        names = [str((g.get("profile") or {}).get("name", "")) for g in found]
    except KmsiError:  # a hint is a courtesy: never let it hide the real error
        return ""
    return _suggest(name, names) or _suggest(name.lower(), names)


def unknown_group(client: OktaClient, where: str, name: str) -> ParameterError:
    """The error for a group name that matches no group, with a suggestion when one is close."""
    return ParameterError(
        where,
        f"no group named exactly {name!r} in this org{suggest_group(client, name)}"
        " (names are matched exactly, case included)",
    )


def resolve_groups(reader: Reader, names: Sequence[str], *, field: str = "groups") -> list[str]:
    """Group names (exact) to ids; an unknown name raises :class:`ParameterError`."""
    if not names:
        raise ParameterError(field, "name at least one group")
    ids: list[str] = []
    for n, name in enumerate(names):
        group = reader.read(f"group named {name!r}", "group_by_name", name=name)
        if group is None:
            raise unknown_group(reader.client, f"{field}[{n}]", name)
        if group["id"] not in ids:
            ids.append(group["id"])
    return ids


# --------------------------------------------------------------------------- writes (kinds)


class ObjectKind:
    """How to read and write one kind of object. Subclass and :func:`register_kind`.

    Each method gets the change's :class:`ObjectRef` with placeholders already
    replaced by real ids. Unsupported actions raise NotImplementedError.
    """

    def read(self, client: OktaClient, ref: ObjectRef) -> dict[str, Any] | None:
        raise NotImplementedError

    def find_by_name(
        self, client: OktaClient, ref: ObjectRef, body: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """Find the object a possibly-failed create may have made (ambiguous POST)."""
        raise NotImplementedError

    def create(self, client: OktaClient, ref: ObjectRef, body: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def update(self, client: OktaClient, ref: ObjectRef, body: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def delete(self, client: OktaClient, ref: ObjectRef) -> None:
        raise NotImplementedError

    def perform(self, client: OktaClient, change: Change, ref: ObjectRef) -> dict[str, Any] | None:
        """Actions other than create/update/delete (``assign``, ``revoke``)."""
        raise NotImplementedError(f"{change.action} is not supported for {ref.kind}")


class PolicyKind(ObjectKind):
    """Policies (``/api/v1/policies``)."""

    def read(self, client: OktaClient, ref: ObjectRef) -> dict[str, Any] | None:
        return cast("dict[str, Any] | None", _lookup_policy(client, {"id": ref.id}))

    def find_by_name(
        self, client: OktaClient, ref: ObjectRef, body: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        return cast(
            "dict[str, Any] | None",
            _policies().find_policy_by_name(client, body["type"], body["name"]),
        )

    def create(self, client: OktaClient, ref: ObjectRef, body: dict[str, Any]) -> dict[str, Any]:
        return cast("dict[str, Any]", _policies().create_policy(client, body))

    def update(self, client: OktaClient, ref: ObjectRef, body: dict[str, Any]) -> dict[str, Any]:
        return cast("dict[str, Any]", _policies().replace_policy(client, ref.id, body))

    def delete(self, client: OktaClient, ref: ObjectRef) -> None:
        _policies().delete_policy(client, ref.id)


class RuleKind(ObjectKind):
    """Policy rules (``/api/v1/policies/{parent_id}/rules``)."""

    def read(self, client: OktaClient, ref: ObjectRef) -> dict[str, Any] | None:
        return cast(
            "dict[str, Any] | None",
            _lookup_rule(client, {"policy_id": ref.parent_id, "id": ref.id}),
        )

    def find_by_name(
        self, client: OktaClient, ref: ObjectRef, body: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        return cast(
            "dict[str, Any] | None",
            _policies().find_rule_by_name(client, ref.parent_id, body["name"]),
        )

    def create(self, client: OktaClient, ref: ObjectRef, body: dict[str, Any]) -> dict[str, Any]:
        return cast("dict[str, Any]", _policies().create_rule(client, ref.parent_id, body))

    def update(self, client: OktaClient, ref: ObjectRef, body: dict[str, Any]) -> dict[str, Any]:
        return cast("dict[str, Any]", _policies().replace_rule(client, ref.parent_id, ref.id, body))

    def delete(self, client: OktaClient, ref: ObjectRef) -> None:
        _policies().delete_rule(client, ref.parent_id, ref.id)


_KINDS: dict[str, ObjectKind] = {}


def register_kind(name: str, kind: ObjectKind) -> None:
    """Make :func:`apply_plan` able to write changes whose ``kind`` is ``name``."""
    _KINDS[name] = kind


def get_kind(name: str) -> ObjectKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise KmsiError(f"no writer registered for objects of kind {name!r}") from None


register_kind("policy", PolicyKind())
register_kind("rule", RuleKind())


def _lookup_object(c: OktaClient, a: Mapping[str, Any]) -> Any:
    kind = str(a["kind"])
    return get_kind(kind).read(c, ObjectRef(kind, a.get("id"), None, a.get("parent_id")))


def _lookup_rule_order(c: OktaClient, a: Mapping[str, Any]) -> Any:
    return _rule_orders(c, [a["policy_id"]])[a["policy_id"]]


# any registered kind, read by ref (rollback re-reads what an apply wrote through this)
register_lookup("object", _lookup_object)
register_lookup("rule_order", _lookup_rule_order)


# --------------------------------------------------------------------------- apply


def created_placeholder(index: int) -> str:
    """Stands for the id of the object created by ``plan.changes[index]`` (e.g. a new policy)."""
    return f"$created:{index}"


def check_drift(client: OktaClient, plan: Plan) -> list[str]:
    """Re-run every lookup of the plan; one message per object that changed since."""
    problems: list[str] = []
    for obs in plan.observations:
        now = canonical(run_lookup(client, obs.lookup))
        if now == obs.value:
            continue
        if obs.value is None:
            problems.append(f"{obs.key}: did not exist when planned, exists now")
        elif now is None:
            problems.append(f"{obs.key}: existed when planned, is gone now")
        else:
            fields = diff(obs.value, now)
            shown = ", ".join(
                f"{d.path} was {_show(d.before)}, now {_show(d.after)}" for d in fields[:6]
            )
            more = f" and {len(fields) - 6} more" if len(fields) > 6 else ""
            problems.append(f"{obs.key}: {shown or 'changed'}{more}")
    return problems


def _resolve(ref: ObjectRef, ids: Mapping[str, str]) -> ObjectRef:
    return ObjectRef(
        ref.kind,
        ids.get(ref.id, ref.id) if ref.id else None,
        ref.name,
        ids.get(ref.parent_id, ref.parent_id) if ref.parent_id else None,
    )


def _create(kind: ObjectKind, client: OktaClient, ref: ObjectRef, body: dict[str, Any]) -> Any:
    try:
        return kind.create(client, ref, copy.deepcopy(body))
    except (OktaApiError, TransportError) as exc:
        if not exc.ambiguous:
            raise
        # The POST may have landed: adopt what is there rather than create a twin.
        existing = kind.find_by_name(client, ref, body)
        if existing is not None:
            return existing
        return kind.create(client, ref, copy.deepcopy(body))


def _verify_change(change: Change, now: Mapping[str, Any] | None) -> list[Check]:
    label = change.ref.label()
    if change.action == "delete":
        return [
            Check(
                f"{label} is deleted",
                now is None,
                "(absent)",
                "(absent)" if now is None else "present",
            )
        ]
    if now is None:
        return [Check(f"{label} exists", False, "present", "(absent)")]
    checks = []
    for d in change.diffs:
        actual = get_path(now, d.path)
        checks.append(
            Check(f"{label} {d.path}", same_value(d.path, actual, d.after), d.after, actual)
        )
    return checks


def _is_local(url: str) -> bool:
    """Is ``url`` on a loopback address or the in-process sandbox host?"""
    from kmsi_lib import _protocol  # deferred, like the resources

    return _protocol.is_local_host(urlsplit(url).hostname or "")


def read_sandbox(client: OktaClient, path: str) -> Any:
    """GET ``/_sandbox/<path>`` when the org is the sandbox; None otherwise.

    Only asked of an org on a loopback address or the in-process sandbox host
    (a real org has no such endpoint, and nothing is sent to it). Any failure
    (an error answer, a body that is not JSON) also gives None: "cannot
    check", never a wrong answer.
    """
    if not _is_local(str(getattr(client, "org_url", ""))):
        return None
    try:
        return client.get_json("/_sandbox/" + path.lstrip("/"))
    except (KmsiError, ValueError):
        return None


def check_procedure(plan: Plan, name: str) -> None:
    """Refuse (ParameterError on ``plan``) a plan made by another procedure than ``name``."""
    if plan.procedure != name:
        raise ParameterError("plan", f"this is a {plan.procedure!r} plan, not a {name!r} plan")


def check_same_org(client: OktaClient, org_url: str, *, field: str = "plan") -> None:
    """Refuse to act on another org's plan or apply result (ParameterError on ``field``).

    Loopback and in-process sandbox URLs are not compared: a sandbox served
    again gets a new port but is the same org.
    """
    here = str(getattr(client, "org_url", ""))
    if not org_url or not here or (_is_local(org_url) and _is_local(here)):
        return
    if org_url.rstrip("/").lower() != here.rstrip("/").lower():
        raise ParameterError(
            field, f"was made for {org_url}, but this client is connected to {here}"
        )


def start_apply(
    client: OktaClient, plan: Plan, attestation: Attestation | Mapping[str, Any] | None
) -> ApplyResult:
    """The checks every apply makes before it reads the org; the (empty) result to fill.

    Refuses a plan edited after it was made (:class:`EvidenceError`), a plan
    with manual steps but no ``attestation`` and a plan made for another org
    (:class:`ParameterError`).
    """
    plan.check_digest()
    if isinstance(attestation, Mapping):
        attestation = Attestation.from_dict(attestation)
    if plan.manual_steps and attestation is None:
        steps = "; ".join(s.title for s in plan.manual_steps)
        raise ParameterError(
            "attestation",
            f"this plan has manual steps ({steps}); do them, then pass an attestation"
            " saying who did them, when, and what was done",
        )
    check_same_org(client, plan.org_url)
    return ApplyResult(plan=plan, attestation=attestation)


def refuse_stale(
    client: OktaClient,
    plan: Plan,
    what: str = "the org changed since the plan was made, so nothing was written",
) -> None:
    """Refuse a Classic Engine org, and a plan whose reads no longer match the org.

    The :class:`StalePlanError` starts with ``what`` and names each changed object.
    """
    client.require_identity_engine()
    problems = check_drift(client, plan)
    if problems:
        raise StalePlanError(f"{what}; make a new plan. Changed: " + "; ".join(problems))


#: Who hears about each write as it happens (the runbook's ``apply-progress.jsonl``), so
#: that an apply interrupted mid-way (a cell timeout, Ctrl-C, a dead kernel) still leaves
#: a record of every write that landed and its before-state.
WriteListener = Callable[[dict[str, Any]], None]
_write_listener: contextvars.ContextVar[WriteListener | None] = contextvars.ContextVar(
    "kmsi_write_listener", default=None
)


@contextmanager
def watch_writes(listener: WriteListener) -> Iterator[None]:
    """Call ``listener(event)`` for each write of applies run inside the block.

    Events are JSON-ready dicts: ``{"event": "sending"|"landed"|"failed", "index": i,
    "action", "kind", "ref", "answer"?, "error"?}``, ``index`` being the change's
    position in the plan. A listener that raises is ignored (the write goes on).
    """
    token = _write_listener.set(listener)
    try:
        yield
    finally:
        _write_listener.reset(token)


def report_write(event: str, index: int, change: Change, ref: ObjectRef, **extra: Any) -> None:
    """Tell the listener (if any) about one write; see :func:`watch_writes`."""
    listener = _write_listener.get()
    if listener is None:
        return
    payload = {"event": event, "index": index, "action": change.action, "kind": change.kind,
               "ref": ref.to_dict(), **extra}
    try:
        listener(payload)
    except Exception:  # noqa: S110 - a broken listener must not stop or repeat a write
        pass


def recover_apply_result(
    plan: Plan, events: Sequence[Mapping[str, Any]], *, why: str
) -> ApplyResult:
    """The failed :class:`ApplyResult` of an apply that stopped mid-way, from its write events.

    Every write reported ``landed`` is listed with its before-state (the object the plan
    read, which the drift check had just confirmed); one reported ``sending`` and never
    answered may or may not have landed and is listed as such, so a rollback (which
    re-reads every object) can undo it too. No request is made.
    """
    result = ApplyResult(plan=plan, outcome="failed", error=why, notes=[why])
    state: dict[int, Mapping[str, Any]] = {}
    for event in events:
        index = event.get("index")
        if isinstance(index, int) and 0 <= index < len(plan.changes):
            if event.get("event") == "sending" and index in state:
                continue  # a retry of the same write reports again
            state[index] = event
    for index in sorted(state):
        event, change = state[index], plan.changes[index]
        ref = ObjectRef.from_dict(event["ref"]) if isinstance(event.get("ref"), Mapping) \
            else change.ref
        answer = event.get("answer") if isinstance(event.get("answer"), dict) else None
        if event.get("event") == "failed":
            continue
        if event.get("event") == "sending":
            result.notes.append(
                f"{change.action} of {ref.label()} was sent and not answered: it may have"
                " landed; a rollback re-reads it first")
        result.applied.append(AppliedChange(replace(change, ref=ref), answer))
        if change.action in ("create", "update", "delete"):
            result.before_state.append(BeforeRecord(ref, change.action, change.before, answer))
        if change.action == "create" and ref.id:
            result.created.append(ref)
    result.finished_at = utc_now()
    return result


def apply_plan(
    client: OktaClient,
    plan: Plan,
    *,
    attestation: Attestation | Mapping[str, Any] | None = None,
    extra_checks: Callable[[OktaClient, ApplyResult], list[Check]] | None = None,
) -> ApplyResult:
    """Apply ``plan``: refuse a stale plan, write each change in plan order, verify.

    * A plan with manual steps needs an ``attestation``
      (:class:`ParameterError` on ``attestation`` otherwise); it is recorded.
    * Every lookup the plan made is replayed first; if anything differs, a
      :class:`StalePlanError` names each object and field, and nothing is
      written. An empty plan writes nothing at all.
    * Changes are written in the order the plan lists them (procedures order
      them so that rule priorities land where intended); a change whose ref
      uses :func:`created_placeholder` gets the id created earlier.
    * A create whose answer was lost (``ambiguous`` error) is looked up by
      name and adopted if found, instead of being sent twice.
    * After all writes, every written object is read back: each planned field
      is checked (durations by meaning), and ``before_state`` records the
      object before and as left by the apply, for rollback.

    If a write fails, the error is raised with the partial :class:`ApplyResult`
    (outcome ``failed``) attached as ``error.apply_result`` so that what was
    already written can be rolled back.

    A plan edited after it was made (its :attr:`Plan.digest` no longer
    matches, e.g. a change's body altered in a notebook) is refused with an
    :class:`EvidenceError` before anything is read or written.
    """
    result = start_apply(client, plan, attestation)
    if plan.is_empty:
        result.outcome = "no-op"
        result.finished_at = utc_now()
        if extra_checks is not None:
            result.verification = Verification(extra_checks(client, result))
        return result

    # Okta's own record of who wrote what, noted before the drift check (lost-update detection)
    witness = _conflicts.open_witness(client, [t.id for t in _witness_targets(plan.changes)])
    mark = len(client.journal.entries)
    refuse_stale(client, plan)
    orders = _rule_orders(client, _reordered_policies(plan))
    ids: dict[str, str] = {}
    written: list[tuple[Change, ObjectRef]] = []
    in_flight: tuple[Change, ObjectRef] | None = None  # sent, not yet answered
    try:
        for index, change in enumerate(plan.changes):
            kind = get_kind(change.kind)
            ref = _resolve(change.ref, ids)
            body = copy.deepcopy(change.after) if change.after is not None else None
            answer: dict[str, Any] | None
            if change.action != "manual":
                report_write("sending", index, change, ref)
                in_flight = (change, ref)
            if change.action == "create":
                assert body is not None, "a create change carries the body to send"
                answer = _create(kind, client, ref, body)
                new_id = answer.get("id") if answer else None
                if isinstance(new_id, str):
                    ids[created_placeholder(index)] = new_id
                    ref = ObjectRef(ref.kind, new_id, ref.name, ref.parent_id)
                    result.created.append(ref)
            elif change.action == "update":
                assert body is not None, "an update change carries the body to send"
                answer = kind.update(client, ref, body)
            elif change.action == "delete":
                kind.delete(client, ref)
                answer = None
            elif change.action == "manual":
                continue
            else:
                answer = kind.perform(client, change, ref)
            # the evidence keeps the real ids (a created object's, a new parent's)
            result.applied.append(AppliedChange(replace(change, ref=ref), answer))
            written.append((change, ref))
            in_flight = None
            report_write("landed", index, change, ref, answer=answer)
    except KmsiError as exc:
        result.outcome = "failed"
        result.error = str(exc)
        if in_flight is not None and getattr(exc, "ambiguous", False):
            # sent, answer lost: it may have landed, so the read-back and rollback cover it
            result.notes.append(f"{in_flight[0].action} of {in_flight[1].label()} got no"
                                " answer: it may have landed; its state is read back")
            result.applied.append(AppliedChange(replace(in_flight[0], ref=in_flight[1]), None))
            written.append(in_flight)
        _record_before_state(client, result, written, orders)
        result.finished_at = utc_now()
        exc.apply_result = result  # partial result for rollback
        raise
    except BaseException as exc:  # an interrupt (a cell timeout, Ctrl-C): no more requests
        result.outcome = "failed"
        result.error = f"interrupted ({type(exc).__name__}) after {len(written)} write(s)"
        if in_flight is not None:
            result.notes.append(f"{in_flight[0].action} of {in_flight[1].label()} was being"
                                " sent when the apply stopped: it may have landed")
            result.applied.append(AppliedChange(replace(in_flight[0], ref=in_flight[1]), None))
            written.append(in_flight)
        result.before_state = [
            BeforeRecord(ref, change.action, change.before, answer.result)
            for (change, ref), answer in zip(written, result.applied, strict=True)
            if change.action in ("create", "update", "delete")
        ]
        result.notes.append(
            "interrupted: the before-state is the plan's reading (confirmed by the drift check);"
            " nothing was read back")
        result.finished_at = utc_now()
        exc.apply_result = result  # type: ignore[attr-defined]  # partial result for rollback
        raise

    _record_before_state(client, result, written, orders)
    checks: list[Check] = []
    for (change, ref), record in zip(written, result.before_state[: len(written)], strict=True):
        if change.action in ("create", "update", "delete"):
            checks.extend(_verify_change(replace(change, ref=ref), record.after_written))
    checks.extend(
        _conflicts.rewritten_after_us(result.applied, result.before_state, make_check=Check)
    )
    targets = _witness_targets([replace(change, ref=ref) for change, ref in written])
    others, notes = _conflicts.close_witness(
        client, witness, targets, client.journal.entries[mark:], make_check=Check
    )
    checks.extend(others)
    result.notes.extend(notes)
    if extra_checks is not None:
        checks.extend(extra_checks(client, result))
    result.verification = Verification(checks)
    result.outcome = "applied"
    result.finished_at = utc_now()
    return result


def _witness_targets(changes: Iterable[Change]) -> list[_conflicts.Target]:
    """The objects whose System Log events tell whether someone else wrote them meanwhile."""
    targets: dict[str, _conflicts.Target] = {}
    for change in changes:
        ref = change.ref
        if change.action == "manual" or not ref.id or ref.id.startswith("$created:"):
            continue
        targets.setdefault(
            ref.id, _conflicts.Target(ref.id, ref.label(), ref.kind in _conflicts.PRIMARY_ONLY)
        )
    return list(targets.values())


#: Kind of the :class:`BeforeRecord` that keeps a policy's rule priorities
#: (``before``/``after_written`` are ``{"priorities": {rule_id: priority}}``).
RULE_ORDER_KIND = "rule_order"


def _reordered_policies(plan: Plan) -> list[str]:
    """Existing policies whose rule priorities the plan's writes may shift."""
    out: list[str] = []
    for change in plan.changes:
        parent = change.ref.parent_id
        if change.kind != "rule" or not parent or parent.startswith("$created:"):
            continue
        moves = change.action in ("create", "delete") or any(
            d.path == "priority" for d in change.diffs
        )
        if moves and parent not in out:
            out.append(parent)
    return out


def _rule_orders(client: OktaClient, policy_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """``{policy_id: {rule_id: priority}}``: Okta shifts other rules when a priority is taken,
    so rollback needs the order of every rule, not only of the rules written."""
    return {
        pid: {r["id"]: r.get("priority") for r in _policies().list_rules(client, pid)}
        for pid in policy_ids
    }


def _record_before_state(
    client: OktaClient,
    result: ApplyResult,
    written: Sequence[tuple[Change, ObjectRef]],
    orders: Mapping[str, Mapping[str, int]] | None = None,
) -> None:
    result.before_state = []
    for change, ref in written:
        now: dict[str, Any] | None = change.after
        if change.action in ("create", "update", "delete"):
            try:
                now = get_kind(change.kind).read(client, ref)
            except KmsiError as exc:  # keep what we know; rollback re-reads anyway
                result.notes.append(f"could not read back {ref.label()}: {exc}")
        result.before_state.append(BeforeRecord(ref, change.action, change.before, now))
    if not orders:
        return
    try:
        after = _rule_orders(client, list(orders))
    except KmsiError as exc:
        result.notes.append(f"could not read back rule priorities: {exc}")
        return
    for pid, before in orders.items():
        if dict(before) != after.get(pid):
            result.before_state.append(
                BeforeRecord(
                    ObjectRef(RULE_ORDER_KIND, None, "rule priorities", pid),
                    "reorder",
                    {"priorities": dict(before)},
                    {"priorities": after.get(pid, {})},
                )
            )
