"""Every read a plan makes, recorded so that apply can replay it.

A lookup is a named read (``register_lookup(op, fn)``); a :class:`Reader`
runs lookups for a plan and keeps each answer as an
:class:`~kmsi_lib.engine.model.Observation`; :func:`check_drift` replays a
plan's observations and names what changed since.
"""

from __future__ import annotations

import copy
import json
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

from kmsi_lib.engine.model import Change, ManualStep, ObjectRef, Observation, Plan
from kmsi_lib.engine.paths import canonical, diff
from kmsi_lib.engine.render import show
from kmsi_lib.errors import KmsiError, NotFoundError
from kmsi_lib.jsontypes import JsonMap, JsonObject, JsonValue, arr, obj
from kmsi_lib.okta.bulk import run_bulk
from kmsi_lib.okta.resources import apps, policies
from kmsi_lib.okta.resources._util import only_match

if TYPE_CHECKING:
    from kmsi_lib.okta.client import OktaClient

T = TypeVar("T")
R = TypeVar("R")

__all__ = [
    "PAGE_MAX",
    "READ_WORKERS",
    "Listing",
    "Lookup",
    "Reader",
    "bulk_values",
    "check_drift",
    "app_summary",
    "or_none",
    "register_listing_lookup",
    "register_lookup",
    "run_lookup",
]

#: How many reads a plan or an apply's drift check makes at once (the client's governor
#: still decides how many are really in flight and how fast they go).
READ_WORKERS = 8

#: The most objects one page of a list endpoint returns (Okta's ``limit`` maximum): what a
#: listing costs at the least, for :meth:`Reader.minimum_requests`.
PAGE_MAX = 200

Lookup = Callable[["OktaClient", Mapping[str, Any]], object]
"""``fn(client, args)`` of :func:`register_lookup`: plain JSON, None when absent."""
_LOOKUPS: dict[str, Lookup] = {}


@dataclass(frozen=True)
class Listing:
    """A lookup answered from one listing of many objects (``register_listing_lookup``).

    ``name(args)`` names the listing (``"apps"``, ``"policies ACCESS_POLICY"``): a
    :class:`Reader` fetches each named listing once and answers every lookup over it
    from that copy. ``fetch(client, args)`` lists the objects (every page);
    ``pick(objects, args)`` is the lookup's value, a pure function of the listing.
    """

    name: Callable[[Mapping[str, object]], str]
    fetch: Callable[[OktaClient, Mapping[str, object]], list[JsonObject]]
    pick: Callable[[Sequence[Mapping[str, object]], Mapping[str, object]], object]


_LISTINGS: dict[str, Listing] = {}


def register_lookup(op: str, fn: Lookup) -> None:
    """Make ``op`` a lookup a :class:`Reader` can record and apply can replay.

    ``fn(client, args)`` returns plain JSON (None when the object is absent).
    """
    _LOOKUPS[op] = fn


def register_listing_lookup(op: str, listing: Listing) -> None:
    """Make ``op`` a lookup answered from a shared listing (see :class:`Listing`).

    Many objects chosen at once (500 apps) are then read with the listing's few
    pages instead of a request each, and the plan's other reads of the same
    listing (the impact section, the reach warnings) cost no request.
    """
    _LISTINGS[op] = listing
    _LOOKUPS[op] = lambda c, a: listing.pick(listing.fetch(c, a), a)


def run_lookup(client: OktaClient, lookup: Mapping[str, object]) -> object:
    """Replay a recorded lookup (``{"op": ..., **args}``)."""
    try:
        fn = _LOOKUPS[str(lookup["op"])]
    except KeyError:
        raise KmsiError(f"unknown lookup {lookup.get('op')!r} in the plan") from None
    return fn(client, lookup)


def _ident(lookup: Mapping[str, object]) -> str:
    return json.dumps(lookup, sort_keys=True)


def bulk_values(items: Sequence[T], fn: Callable[[T], R], *, max_workers: int) -> list[R]:
    """``fn`` over ``items`` concurrently (within the client's governor), values in order.

    For reads whose every answer is needed: the first item's error is raised.
    """
    if not items:
        return []
    values: dict[int, R] = {}  # each thread writes its own key

    def call(index: int) -> None:
        values[index] = fn(items[index])

    result = run_bulk(range(len(items)), call, max_workers=max_workers)
    for item in result.results:
        if item.error is not None:
            raise item.error
    return [values[n] for n in range(len(items))]


def or_none(read: Callable[[], T]) -> T | None:
    """``read()``, or None when Okta answers 404 (an absent object is a value too)."""
    try:
        return read()
    except NotFoundError:
        return None


def _lookup_policy(c: OktaClient, a: JsonMap) -> object:
    return or_none(lambda: policies.get_policy(c, str(a["id"])))


def _lookup_rule(c: OktaClient, a: JsonMap) -> object:
    return or_none(lambda: policies.get_rule(c, str(a["policy_id"]), str(a["id"])))


def _lookup_policy_by_name(c: OktaClient, a: JsonMap) -> object:
    return policies.find_policy_by_name(c, str(a["type"]), str(a["name"]))


def _lookup_rule_by_name(c: OktaClient, a: JsonMap) -> object:
    return policies.find_rule_by_name(c, str(a["policy_id"]), str(a["name"]))


def _lookup_rules(c: OktaClient, a: JsonMap) -> object:
    return or_none(lambda: list(policies.list_rules(c, str(a["policy_id"]))))


def _policies_named(a: Mapping[str, object]) -> str:
    return f"policies {a['type']}"


def _list_policies(c: OktaClient, a: Mapping[str, object]) -> list[JsonObject]:
    return [dict(p) for p in policies.list_policies(c, str(a["type"]))]


def _pick_by_name(found: Sequence[Mapping[str, object]], a: Mapping[str, object]) -> object:
    """``{name: policy or None}`` for each name in ``a["names"]`` (exact, case included)."""
    names = a["names"]
    assert isinstance(names, list), "a policies_by_name lookup names its policies"
    out: dict[str, object] = {}
    for name in names:
        matches = [dict(p) for p in found if p.get("name") == name]
        if len(matches) > 1:  # as find_policy_by_name says it
            only_match(matches, f"{name!r} ({a['type']} policy)")
        out[str(name)] = matches[0] if matches else None
    return out


def app_summary(app: Mapping[str, object]) -> dict[str, object]:
    """What a plan records of a chosen app: id, label, status, authentication policy."""
    return {
        "id": app.get("id"),
        "label": app.get("label"),
        "status": app.get("status"),
        "accessPolicyId": apps.access_policy_id(app),
    }


def _list_apps(c: OktaClient, _a: Mapping[str, object]) -> list[JsonObject]:
    return [dict(app) for app in apps.list_apps(c)]


def _pick_apps(found: Sequence[Mapping[str, object]], a: Mapping[str, object]) -> object:
    """``{app_id: summary or None}`` for each id in ``a["ids"]``."""
    ids = a["ids"]
    assert isinstance(ids, list), "an apps lookup names its apps"
    by_id = {str(app.get("id")): app for app in found}
    return {str(i): (app_summary(by_id[str(i)]) if str(i) in by_id else None) for i in ids}


register_lookup("policy", _lookup_policy)
register_lookup("rule", _lookup_rule)
register_lookup("policy_by_name", _lookup_policy_by_name)
register_lookup("rule_by_name", _lookup_rule_by_name)
register_lookup("rules", _lookup_rules)
#: every policy of a type (one listing, shared by the lookups below and the impact)
POLICIES = Listing(_policies_named, _list_policies, lambda found, _a: [dict(p) for p in found])
register_listing_lookup("policies", POLICIES)
register_listing_lookup("policies_by_name", Listing(_policies_named, _list_policies, _pick_by_name))
#: every app (one listing, its pages): many chosen apps read at once
APPS = Listing(lambda _a: "apps", _list_apps, _pick_apps)
register_listing_lookup("apps", APPS)


class Reader:
    """Performs a plan's reads and records each as an :class:`Observation`.

    Everything a plan decides on must be read through a Reader, so that apply
    can tell whether the org still looks the same (the plan's fingerprint).
    Reading the same lookup twice returns the recorded value without a request;
    :meth:`fetch` reads without recording (the impact section, hints) and shares
    the answers with recorded reads, so nothing is asked of Okta twice; listings
    (:class:`Listing`) are fetched once per Reader. A Reader is also what an
    apply's drift check replays the plan's reads into (:func:`check_drift`), so
    that the apply's own later reads are answered from what the check just saw.
    """

    def __init__(self, client: OktaClient) -> None:
        self.client = client
        self.observations: list[Observation] = []
        self._seen: dict[str, object] = {}  # ident -> value, recorded or fetched
        self._recorded: set[str] = set()
        self._listings: dict[str, list[JsonObject]] = {}
        self._lock = threading.Lock()
        self._listing_locks: dict[str, threading.Lock] = {}
        self.started = len(client.journal.entries)  # requests the client made before

    def plan(
        self,
        procedure: str,
        params: JsonObject,
        changes: list[Change],
        notes: list[str],
        *,
        manual_steps: Sequence[ManualStep] = (),
        warnings: Sequence[str] = (),
    ) -> Plan:
        """The plan ``procedure`` made from this Reader's reads: for its client's org, with the
        observations recorded so far (what the fingerprint covers and apply checks again)."""
        return Plan(
            procedure=procedure,
            params=params,
            org_url=str(getattr(self.client, "org_url", "")),
            changes=changes,
            manual_steps=list(manual_steps),
            notes=notes,
            observations=self.observations,
            warnings=list(warnings),
        )

    # ---- what the reads cost --------------------------------------------------------------
    def requests_made(self) -> int:
        """Requests the client has made since this Reader was made (all of them, plain too)."""
        return len(self.client.journal.entries) - self.started

    def minimum_requests(self, observations: Sequence[Observation] | None = None) -> int:
        """The fewest requests that read what ``observations`` (default: this Reader's) hold.

        One per lookup; a listing lookup costs its pages at :data:`PAGE_MAX` objects a
        page; apps read one by one cost no more than the app listing's pages (when this
        Reader listed the apps).
        """
        total = single_apps = 0
        for obs in self.observations if observations is None else observations:
            op = str(obs.lookup.get("op"))
            shared = _LISTINGS.get(op)
            if op == "app":
                single_apps += 1
            elif shared is None:
                total += 1
            else:
                listed = self._listings.get(shared.name(obs.lookup), [])
                total += max(1, math.ceil(len(listed) / PAGE_MAX))
        if single_apps and "apps" in self._listings:
            single_apps = min(
                single_apps, max(1, math.ceil(len(self._listings["apps"]) / PAGE_MAX))
            )
        return total + single_apps

    def request_note(self) -> str:
        """``requests made N (minimum M)`` for a plan's notes (the evidence shows them)."""
        return (
            f"requests made {self.requests_made()} (minimum {self.minimum_requests()}: one per"
            " object or listing page the plan decides on; the others explain its impact)"
        )

    # ---- the shared answers ----------------------------------------------------------------
    def listing(
        self,
        name: str,
        fetch: Callable[[OktaClient], list[JsonObject]],
    ) -> list[JsonObject]:
        """The listing ``name``, fetched with ``fetch(client)`` the first time only."""
        with self._lock:
            lock = self._listing_locks.setdefault(name, threading.Lock())
        with lock:  # two threads wanting the same listing: one fetches it
            if name not in self._listings:
                self._listings[name] = fetch(self.client)
            return self._listings[name]

    def _answer(self, lookup: JsonMap) -> object:
        """The lookup's value from Okta (a listing lookup from the shared listing)."""
        shared = _LISTINGS.get(str(lookup.get("op")))
        if shared is None:
            return run_lookup(self.client, lookup)
        objects = self.listing(shared.name(lookup), lambda c: shared.fetch(c, lookup))
        return shared.pick(objects, lookup)

    def _values(self, lookups: Sequence[JsonMap]) -> list[object]:
        """Every lookup's value (deep copies), those not yet seen read concurrently."""
        idents = [_ident(lookup) for lookup in lookups]
        todo = {i: lookup for i, lookup in zip(idents, lookups, strict=True) if i not in self._seen}
        if len(todo) == 1:  # one read: no threads
            found = [self._answer(next(iter(todo.values())))]
        else:
            found = bulk_values(list(todo.values()), self._answer, max_workers=READ_WORKERS)
        for ident, value in zip(todo, found, strict=True):
            self._seen[ident] = copy.deepcopy(value)
        return [copy.deepcopy(self._seen[i]) for i in idents]

    def fetch(self, op: str, **args: JsonValue) -> object:
        """Lookup ``op``'s value without recording it (a plain read: hints, the impact)."""
        return self._values([{"op": op, **args}])[0]

    def fetch_many(self, op: str, args: Sequence[JsonMap]) -> list[object]:
        """:meth:`fetch` for many lookups of ``op`` at once, concurrently."""
        return self._values([{"op": op, **a} for a in args])

    def fetch_objects(self, op: str, **args: JsonValue) -> list[JsonObject]:
        """:meth:`fetch` of a lookup whose value is a list of objects (policies)."""
        return [obj(item) for item in arr(self.fetch(op, **args))]

    def fetch_rules(self, policy_ids: Sequence[str]) -> list[list[JsonObject] | None]:
        """The rules of each policy (None: the policy is gone), read concurrently, unrecorded
        (shared with the recorded :meth:`rules` reads)."""
        values = self.fetch_many("rules", [{"policy_id": pid} for pid in policy_ids])
        return [None if v is None else [obj(r) for r in arr(v)] for v in values]

    def read_many(self, reads: Sequence[tuple[str, str, Mapping[str, JsonValue]]]) -> list[object]:
        """Many ``(key, op, args)`` reads at once, concurrently; recorded in the order given."""
        lookups = [{"op": op, **args} for _key, op, args in reads]
        values = self._values(lookups)
        for (key, _op, _args), lookup, value in zip(reads, lookups, values, strict=True):
            ident = _ident(lookup)
            if ident not in self._recorded:
                self._recorded.add(ident)
                self.observations.append(Observation(key, lookup, canonical(value)))
        return values

    def read(self, key: str, op: str, **args: Any) -> Any:
        """Run lookup ``op`` with ``args``, record it under the human ``key``, return its value."""
        return self.read_many([(key, op, args)])[0]

    def replay(self, observations: Sequence[Observation]) -> list[object]:
        """Every observation's lookup again (concurrently), kept as this Reader's answers."""
        return self._values([o.lookup for o in observations])

    def rules_of(self, policy_ids: Sequence[str]) -> list[list[JsonObject]]:
        """:meth:`rules` of many policies, read concurrently."""
        values = self.read_many(
            [(f"rules of policy {pid}", "rules", {"policy_id": pid}) for pid in policy_ids]
        )
        return [[obj(r) for r in arr(v)] for v in values]

    def all_apps(self) -> list[JsonObject]:
        """Every app of the org, listed once per Reader (not recorded: hints and impact)."""
        return copy.deepcopy(self.listing("apps", lambda c: _list_apps(c, {})))

    def all_policies(self, policy_type: str) -> list[JsonObject]:
        """Every policy of ``policy_type``, listed once per Reader (not recorded)."""
        args = {"type": policy_type}
        return copy.deepcopy(self.listing(_policies_named(args), lambda c: _list_policies(c, args)))

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
def check_drift(client: OktaClient, plan: Plan, reader: Reader | None = None) -> list[str]:
    """Re-run every lookup of the plan; one message per object that changed since.

    The lookups run concurrently; with ``reader``, their answers stay in it for
    the apply's later reads (the reach re-check reads the same rules and apps).
    """
    replaying = reader if reader is not None else Reader(client)
    problems: list[str] = []
    for obs, value in zip(plan.observations, replaying.replay(plan.observations), strict=True):
        now = canonical(value)
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
