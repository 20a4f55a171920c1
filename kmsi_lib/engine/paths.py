"""JSON objects as Okta holds them: dotted paths, comparison by meaning, diffs.

Pure functions over plain JSON (dicts, lists, scalars): :func:`get_path` /
:func:`set_path`, :func:`same_value` (durations by meaning, constraints by
containment), :func:`canonical`, :func:`writable` (the body of a PUT) and
:func:`diff` (field-level :class:`FieldDiff` list).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, TypeGuard

from pydantic import ConfigDict, JsonValue, SkipValidation

from kmsi_lib import durations
from kmsi_lib.engine.jsonmodel import JsonModel, positional
from kmsi_lib.jsontypes import JsonMap, JsonObject, dig

__all__ = [
    "CONTAINS_KEYS",
    "DURATION_KEYS",
    "FieldDiff",
    "READ_ONLY_FIELDS",
    "VOLATILE_FIELDS",
    "canonical",
    "diff",
    "get_path",
    "same_value",
    "set_path",
    "writable",
]

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


class FieldDiff(JsonModel):
    """One field of one object: its dotted ``path``, value before and after (None = absent)."""

    model_config = ConfigDict(frozen=True)

    path: str
    before: SkipValidation[JsonValue] = None
    after: SkipValidation[JsonValue] = None

    @positional
    def __init__(self, path: str, before: JsonValue, after: JsonValue) -> None:
        super().__init__(path=path, before=before, after=after)


def get_path(obj: object, path: str) -> Any:
    """Read a dotted path (``actions.signon.session.maxSessionIdleMinutes``); None if absent
    (Okta treats null and absent alike): :func:`~kmsi_lib.jsontypes.dig` by the path's keys."""
    return dig(obj, *path.split("."))


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


def _contains(actual: object, wanted: object) -> bool:
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


def same_value(key: str, actual: object, wanted: object) -> bool:
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


def writable(obj: Mapping[str, JsonValue]) -> JsonObject:
    """A deep copy of ``obj`` without the read-only server fields (the body for a PUT)."""
    return {k: copy.deepcopy(v) for k, v in obj.items() if k not in READ_ONLY_FIELDS}


def canonical(value: object) -> Any:
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


def _identified(value: object) -> TypeGuard[list[JsonMap]]:
    return isinstance(value, list) and all(
        isinstance(item, Mapping) and isinstance(item.get("id"), str) for item in value
    )


def diff(before: object, after: object, prefix: str = "") -> list[FieldDiff]:
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
    return [FieldDiff(prefix or "(object)", _json_copy(before), _json_copy(after))]


def _json_copy(value: object) -> JsonValue:
    """A deep copy of a value read from JSON (anything else, e.g. a tuple, as its text)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [_json_copy(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _json_copy(item) for key, item in value.items()}
    return str(value)
