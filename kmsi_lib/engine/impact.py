"""What a write plan does to people: the impact section, read as a change board reads it.

A plan lists field diffs; this module says what those diffs mean for the
people who sign in. :func:`plan_impact` reads the org (global session policies
and their rules, the apps and their authentication policies, the rules of the
authentication policies the plan changes, group names), builds two
:class:`~kmsi_lib.engine.evaluate.OrgView` s (as read, and with the plan's
changes laid over it) and asks the evaluator which cohorts' outcomes differ.
The answer is an :class:`PlanImpact` (plain data, JSON round trip): each policy the
plan changes, by name, with every app assigned to it (the selected ones
marked) and whom each of its rules covers, in evaluation order; each cohort
whose outcome changes, before and after in words; warnings on shadowing,
privileged apps and administrator groups; and the reach (the apps and people
touched beyond those named). A plan whose reach is wider than its selection
cannot be applied until the operator acknowledges that reach by naming its
size (:func:`check_acknowledgement`).

The reads here are plain reads, not plan observations: the impact explains a
plan, it does not decide its drift check. This module holds the data and the
acknowledgement check; :mod:`.impact_plan` works the impact out, and
:mod:`.impact_render` renders it (text and HTML).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pydantic
from pydantic import JsonValue  # kmsi_lib.jsontypes' is the same type, not one pydantic can build

from kmsi_lib.engine.jsonmodel import CLOSED_JSON
from kmsi_lib.errors import ParameterError
from kmsi_lib.jsontypes import JsonMap, JsonObject

__all__ = [
    "ACKNOWLEDGE_FIELD",
    "AppEntry",
    "CohortChange",
    "PlanImpact",
    "PolicyEntry",
    "RuleEntry",
    "check_acknowledgement",
    "looks_like_admin_group",
    "privileged_selection",
    "listed",
]

#: The parameter an operator sets to the number of apps a wide plan reaches.
ACKNOWLEDGE_FIELD = "acknowledge_reach"

#: App labels that give administrative power (the audit reports KMSI on them as a risk).
PRIVILEGED_APP_LABELS = ("Okta Admin Console", "Okta Dashboard")
#: The app whose selection a form asks to be acknowledged: administrators sign in there.
ADMIN_CONSOLE_LABEL = "Okta Admin Console"
#: Words that make a group's name read like an administrator group (a name heuristic).
ADMIN_GROUP_WORDS = ("admin", "administrator", "super", "privileged")


def looks_like_admin_group(name: str) -> bool:
    """Whether a group's name reads like an administrator group ("IT Admins", "Superusers")."""
    return any(word in name.lower() for word in ADMIN_GROUP_WORDS)


@pydantic.with_config(CLOSED_JSON)
@dataclass(frozen=True)
class AppEntry:
    """An app assigned to a changed policy; ``selected`` when the operator named it."""

    id: str
    label: str
    selected: bool


@pydantic.with_config(CLOSED_JSON)
@dataclass(frozen=True)
class RuleEntry:
    """One rule of a changed policy, as evaluated after the plan: whom it covers."""

    priority: int | None
    name: str
    status: str
    covers: str
    changed: bool


@pydantic.with_config(CLOSED_JSON)
@dataclass(frozen=True)
class PolicyEntry:
    """A policy the plan changes (or creates), with its apps and rules in evaluation order."""

    id: str
    name: str
    kind: str  # "global session policy" or "authentication policy"
    created: bool
    apps: tuple[AppEntry, ...]  # empty for a global session policy: it applies to every app
    rules: tuple[RuleEntry, ...]


@pydantic.with_config(CLOSED_JSON)
@dataclass(frozen=True)
class CohortChange:
    """One cohort whose sign-in changes, on which apps, in words."""

    cohort: str
    apps: tuple[str, ...]  # app labels; ("every app",) for a global session change
    app_count: int
    changes: tuple[str, ...]


@pydantic.with_config(CLOSED_JSON)
@dataclass(frozen=True)
class PlanImpact:
    """The impact section of a plan (see the module docstring). Plain data."""

    policies: tuple[PolicyEntry, ...] = ()
    cohorts: tuple[CohortChange, ...] = ()
    warnings: tuple[str, ...] = ()
    reached_apps: tuple[str, ...] = ()  # labels of every app whose sign-in changes
    unnamed_apps: tuple[str, ...] = ()  # those of them the operator did not name
    unnamed_people: tuple[str, ...] = ()  # cohorts reached beyond the named groups
    total_apps: int = 0  # apps in the org
    selected_app_ids: tuple[str, ...] = ()  # what the operator named: to re-check at apply
    named_group_ids: tuple[str, ...] | None = None
    group_names: Mapping[str, str] = field(default_factory=dict)  # id -> name, for reading
    #: one cohort's two working weeks before and after (:mod:`.impact_timeline`), or empty
    timeline: Mapping[str, JsonValue] = field(default_factory=dict)
    #: the "before" evaluation against Okta's policy simulation (:mod:`.crosscheck`), or empty
    crosscheck: Mapping[str, JsonValue] = field(default_factory=dict)
    error: str = ""  # why the impact could not be worked out, when it could not

    @property
    def reach(self) -> int:
        """How many apps the plan changes sign-in for: the number to acknowledge."""
        return len(self.reached_apps)

    @property
    def wider_than_named(self) -> bool:
        """True when the plan reaches apps or people beyond those the operator named."""
        return bool(self.unnamed_apps or self.unnamed_people or self.error)

    def headline(self) -> str:
        """The first thing a reader sees when the reach is wider than the selection, or ''."""
        if self.error:
            return (
                f"the impact of this plan could not be worked out ({self.error}); to apply"
                f" anyway, set {ACKNOWLEDGE_FIELD}: {self.reach}"
            )
        if not self.wider_than_named:
            return ""
        who = list(dict.fromkeys(c.cohort for c in self.cohorts)) or ["nobody"]
        named = [a for a in self.reached_apps if a not in set(self.unnamed_apps)]
        parts = []
        if named:
            parts.append(f"{listed(named, HEADLINE_APPS)} (named)")
        if self.unnamed_apps:
            parts.append(
                f"{len(self.unnamed_apps)} app(s) that were not named:"
                f" {listed(self.unnamed_apps, HEADLINE_APPS)}"
            )
        beyond = (
            f"; it reaches people beyond the named groups: {listed(self.unnamed_people)}"
            if self.unnamed_people
            else ""
        )
        return (
            f"this plan changes sign-in for {listed(who)} on {self.reach} of the org's"
            f" {self.total_apps} apps: {'; '.join(parts)}{beyond}. To apply it, acknowledge"
            f" that reach with {ACKNOWLEDGE_FIELD}: {self.reach}"
        )

    def to_dict(self) -> JsonObject:
        """The impact as JSON (tuples as lists), the fields in order: what a plan holds."""
        data: JsonObject = _JSON.dump_python(self, mode="json")
        return data

    @classmethod
    def from_dict(cls, data: JsonMap) -> PlanImpact:
        """The impact from its JSON (lists read as tuples; keys it lacks take defaults)."""
        return _JSON.validate_python(dict(data))


_JSON: pydantic.TypeAdapter[PlanImpact] = pydantic.TypeAdapter(PlanImpact)

#: How many apps a plan's first line names before it says "and N more".
HEADLINE_APPS = 40


def listed(items: Sequence[str], most: int = 6) -> str:
    shown = ", ".join(items[:most])
    return shown + (f" and {len(items) - most} more" if len(items) > most else "")


def check_acknowledgement(
    impact: JsonMap | None, params: JsonMap, *, given: int | None = None
) -> str:
    """Refuse (``ParameterError`` on :data:`ACKNOWLEDGE_FIELD`) a wide plan not acknowledged.

    A plan without an impact section, or whose reach is within what was named,
    needs nothing (``''``). Otherwise the acknowledgement (``given``, e.g. from a
    form's checkbox, else the plan's parameter) must equal the reach the plan
    showed; the note to record is returned.
    """
    if not impact:
        return ""
    seen = PlanImpact.from_dict(impact)
    if not seen.wider_than_named:
        return ""
    value = given if given is not None else params.get(ACKNOWLEDGE_FIELD)
    if value == seen.reach:
        how = "at apply" if given is not None else f"by the parameter {ACKNOWLEDGE_FIELD}"
        return (
            f"the operator acknowledged the plan's reach ({how}): sign-in changes on"
            f" {seen.reach} app(s), {len(seen.unnamed_apps)} of them not named"
            + (
                f"; people beyond the named groups: {listed(seen.unnamed_people)}"
                if seen.unnamed_people
                else ""
            )
        )
    said = "was not given" if value is None else f"is {value}"
    raise ParameterError(
        ACKNOWLEDGE_FIELD,
        f"{seen.headline()}. {ACKNOWLEDGE_FIELD} {said}: read the plan's impact section,"
        f" then set it to {seen.reach} to confirm the reach (nothing was written)",
    )


def _names(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return []


def privileged_selection(params: JsonMap, impact: JsonMap | None) -> list[str]:
    """What a plan's parameters name that is privileged, in words (empty: nothing).

    The Okta Admin Console app named (by label, or by id as the impact section marks
    the selected apps) and groups whose names read like administrator groups
    (:func:`looks_like_admin_group`; ``groups`` and ``group`` parameters). A form asks
    for an explicit acknowledgement of each before it applies.
    """
    found: list[str] = []
    apps = params.get("apps")
    labels = _names(apps.get("labels")) if isinstance(apps, Mapping) else []
    seen = PlanImpact.from_dict(impact) if impact else None
    if seen is not None:
        labels += [a.label for p in seen.policies for a in p.apps if a.selected]
    if ADMIN_CONSOLE_LABEL in labels:
        found.append(f"the {ADMIN_CONSOLE_LABEL} app (administrators sign in there)")
    for key in ("groups", "group"):
        for name in _names(params.get(key)):
            if looks_like_admin_group(name):
                found.append(f"the group {name!r} (its name reads like an administrator group)")
    return list(dict.fromkeys(found))
