"""Every read a plan makes, recorded so that apply can replay it.

A lookup is a named read (``register_lookup(op, fn)``); a :class:`Reader`
runs lookups for a plan and keeps each answer as an
:class:`~kmsi_lib.engine.model.Observation`; :func:`check_drift` replays a
plan's observations and names what changed since.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from kmsi_lib.engine.model import ObjectRef, Observation, Plan
from kmsi_lib.engine.paths import canonical, diff
from kmsi_lib.engine.render import show
from kmsi_lib.errors import KmsiError, NotFoundError
from kmsi_lib.okta.bulk import run_bulk
from kmsi_lib.okta.resources import policies

if TYPE_CHECKING:
    from kmsi_lib.okta.client import OktaClient

T = TypeVar("T")

__all__ = [
    "Lookup",
    "Reader",
    "bulk_values",
    "check_drift",
    "or_none",
    "register_lookup",
    "run_lookup",
]

Lookup = Callable[["OktaClient", Mapping[str, Any]], Any]
"""``fn(client, args)`` of :func:`register_lookup`: plain JSON, None when absent."""
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


def or_none(read: Callable[[], T]) -> T | None:
    """``read()``, or None when Okta answers 404 (an absent object is a value too)."""
    try:
        return read()
    except NotFoundError:
        return None


def _lookup_policy(c: OktaClient, a: Mapping[str, Any]) -> Any:
    return or_none(lambda: policies.get_policy(c, a["id"]))


def _lookup_rule(c: OktaClient, a: Mapping[str, Any]) -> Any:
    return or_none(lambda: policies.get_rule(c, a["policy_id"], a["id"]))


def _lookup_policy_by_name(c: OktaClient, a: Mapping[str, Any]) -> Any:
    return policies.find_policy_by_name(c, a["type"], a["name"])


def _lookup_rule_by_name(c: OktaClient, a: Mapping[str, Any]) -> Any:
    return policies.find_rule_by_name(c, a["policy_id"], a["name"])


def _lookup_rules(c: OktaClient, a: Mapping[str, Any]) -> Any:
    return or_none(lambda: list(policies.list_rules(c, a["policy_id"])))


def _lookup_policies(c: OktaClient, a: Mapping[str, Any]) -> Any:
    return list(policies.list_policies(c, a["type"]))


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
                f"{d.path} was {show(d.before)}, now {show(d.after)}" for d in fields[:6]
            )
            more = f" and {len(fields) - 6} more" if len(fields) > 6 else ""
            problems.append(f"{obs.key}: {shown or 'changed'}{more}")
    return problems
