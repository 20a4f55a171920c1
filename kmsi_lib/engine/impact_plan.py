"""Working out a plan's impact: reads of the org, the evaluator, before and after.

:func:`plan_impact` reads the org (global session policies and their rules,
the apps and their authentication policies, the rules of the authentication
policies the plan changes, the names of the groups rules name), lays the
plan's changes over a copy, and asks :mod:`.evaluate` which cohorts' sign-in
differs. :func:`with_impact` puts the answer into a plan (the reach first when
it is wider than named); :func:`recheck_reach` refuses an apply whose reach
moved since the plan. The data it makes is :class:`~.impact.PlanImpact`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kmsi_lib.engine.crosscheck import crosscheck_cohorts
from kmsi_lib.engine.evaluate import (
    EVERYONE_ELSE,
    Cohort,
    OrgView,
    cohorts_for,
    evaluate,
    org_view_from,
)
from kmsi_lib.engine.impact import (
    ACKNOWLEDGE_FIELD,
    PRIVILEGED_APP_LABELS,
    AppEntry,
    CohortChange,
    PlanImpact,
    PolicyEntry,
    RuleEntry,
    listed,
    looks_like_admin_group,
)
from kmsi_lib.engine.impact_timeline import timeline_data
from kmsi_lib.errors import KmsiError, StalePlanError
from kmsi_lib.jsontypes import JsonMap, JsonObject, JsonValue, arr, dig, obj
from kmsi_lib.okta.resources import groups as groups_api
from kmsi_lib.okta.resources import policies as policies_api

if TYPE_CHECKING:
    from kmsi_lib.engine.model import Change, ManualStep, Plan
    from kmsi_lib.engine.reader import Reader
    from kmsi_lib.engine.select import ResolvedApp
    from kmsi_lib.okta.client import OktaClient

__all__ = ["app_plan", "plan_impact", "recheck_reach", "with_impact"]

_NO_APP = ""  # evaluating the global session part alone: no app policy in the view


# ---- building the impact from the org and the plan's changes ------------------------------


@dataclass
class _Org:
    """What :func:`plan_impact` read: JSON as the API returned it."""

    session: list[JsonObject] = field(default_factory=list)
    access: dict[str, JsonObject] = field(default_factory=dict)
    rules: dict[str, list[JsonObject]] = field(default_factory=dict)
    apps: list[JsonObject] = field(default_factory=list)
    groups: dict[str, JsonObject] = field(default_factory=dict)


def plan_impact(
    client: OktaClient,
    changes: Sequence[Change],
    *,
    selected_app_ids: Iterable[str],
    selected_policy_ids: Iterable[str] = (),
    named_group_ids: Iterable[str] | None = None,
    cross_check: bool = True,
    reader: Reader | None = None,
) -> PlanImpact:
    """The impact of ``changes`` on the org behind ``client`` (reads only).

    ``selected_app_ids`` are the apps the operator named (``selected_policy_ids``
    the authentication policies named, which name all their apps); ``named_group_ids``
    the groups, for a procedure that names people (None: it names none, so a
    change to whom a rule covers is not "beyond" a selection of people). A read
    that fails gives an :class:`PlanImpact` whose ``error`` says so: such a plan
    counts as wider than named, so it needs an acknowledgement. ``cross_check``
    asks Okta's policy simulation about a few of the affected cohorts
    (:data:`CROSSCHECK_SAMPLES`). ``reader`` shares the plan's (or the drift check's)
    reads: what it has read already costs no request.
    """
    selected = set(selected_app_ids)
    try:
        org = _read(client, changes, reader)
    except KmsiError as exc:
        return PlanImpact(error=f"reading the org failed: {exc}")
    before = _view(org, ())
    after = _view(org, changes)
    session_ids = {str(p["id"]) for p in org.session} | {
        _new_id(changes, n) for n, c in enumerate(changes) if _is_session_policy(c)
    }
    labels = {str(a["id"]): str(a.get("label") or a["id"]) for a in org.apps}
    access_changed = [
        pid
        for pid in dict.fromkeys(_policy_of(c, n, changes) for n, c in enumerate(changes))
        if pid not in session_ids
    ]
    session_changed = any(_policy_of(c, n, changes) in session_ids for n, c in enumerate(changes))

    named_groups = set(named_group_ids) if named_group_ids is not None else None
    cohorts: list[CohortChange] = []
    featured: tuple[Cohort, str] | None = None  # the cohort and app the timeline shows
    reached: set[str] = set()
    beyond: set[str] = set()  # reached apps that count as not named
    people: list[Cohort] = []
    if session_changed:
        session_after = _view(org, changes, access=False)
        found = _changed_cohorts(before, session_after, _NO_APP)
        for cohort in found:
            lines = _lines(before, session_after, cohort, _NO_APP)
            cohorts.append(CohortChange(cohort.label(after), ("every app",), len(labels), lines))
        if found:
            pick = sorted(labels, key=lambda a: (a not in selected, labels[a]))
            featured = (found[0], pick[0]) if pick else None
            reached |= set(labels)
            people += found
            if named_groups is None or any(not _named(c, named_groups) for c in found):
                beyond |= set(labels)
    app_only = _view(
        org, [c for n, c in enumerate(changes) if _policy_of(c, n, changes) not in session_ids]
    )
    grouped: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for policy_id in access_changed:
        chosen = policy_id in set(selected_policy_ids)
        for app_id in sorted(i for i, p in after.app_policy.items() if p == policy_id):
            if chosen:
                selected.add(app_id)
            for cohort in _changed_cohorts(before, app_only, app_id):
                key = (cohort.label(after), _lines(before, app_only, cohort, app_id))
                grouped.setdefault(key, []).append(app_id)
                if featured is None or (app_id in selected and featured[1] not in selected):
                    featured = (cohort, app_id)  # a named app shows best what was asked
                reached.add(app_id)
                beyond.add(app_id)
                people.append(cohort)
    for (label, lines), app_ids in grouped.items():
        app_ids.sort(key=lambda a: labels.get(a, a))
        shown = tuple(labels.get(a, a) + (" (named)" if a in selected else "") for a in app_ids)
        cohorts.append(CohortChange(label, shown, len(app_ids), lines))

    unnamed_people: list[str] = []
    if named_groups is not None:
        unnamed_people = list(
            dict.fromkeys(c.label(after) for c in people if not _named(c, named_groups))
        )
    order = [str(a["id"]) for a in org.apps]
    reached_ids = sorted((a for a in order if a in reached), key=lambda a: labels[a])
    return PlanImpact(
        policies=tuple(_policy_entries(org, changes, after, selected, labels, session_ids)),
        cohorts=tuple(cohorts),
        warnings=tuple(_warnings(after, changes, labels, reached_ids, people))
        + (
            ()
            if cohorts or not changes
            else (
                "nobody's sign-in changes with this plan: the rules it changes are not the"
                " ones that apply (see the rules in evaluation order above)",
            )
        ),
        reached_apps=tuple(labels[a] for a in reached_ids),
        unnamed_apps=tuple(labels[a] for a in reached_ids if a in beyond and a not in selected),
        unnamed_people=tuple(unnamed_people),
        total_apps=len(labels),
        selected_app_ids=tuple(sorted(selected)),
        named_group_ids=None if named_groups is None else tuple(sorted(named_groups)),
        group_names=dict(after.group_names),
        timeline=_timeline(before, after, featured, labels),
        crosscheck=(
            _crosscheck(client, before, featured, people, reached_ids) if cross_check else {}
        ),
    )


#: How many (cohort, app) samples a plan asks Okta's policy simulation about.
CROSSCHECK_SAMPLES = 4


def _crosscheck(
    client: OktaClient,
    before: OrgView,
    featured: tuple[Cohort, str] | None,
    people: Sequence[Cohort],
    reached: Sequence[str],
) -> JsonObject:
    """The "before" evaluation of a few affected cohorts, checked with Okta's simulation.

    Never raises: an org without the API gives a report that says so.
    """
    if featured is None:
        return {}
    cohorts = list(dict.fromkeys([featured[0], *people]))
    apps = list(dict.fromkeys([featured[1], *reached]))
    samples = [(c, apps[n % len(apps)]) for n, c in enumerate(cohorts)][:CROSSCHECK_SAMPLES]
    return crosscheck_cohorts(client, before, samples).to_dict()


def _timeline(
    before: OrgView, after: OrgView, featured: tuple[Cohort, str] | None, labels: Mapping[str, str]
) -> JsonObject:
    """The featured cohort's two weeks on one app, before and after (empty: nobody changes)."""
    if featured is None:
        return {}
    cohort, app_id = featured
    title = f"{cohort.label(after)} on {labels.get(app_id, app_id)}"
    return timeline_data(
        evaluate(before, cohort, app_id), evaluate(after, cohort, app_id), title=title
    )


def _named(cohort: Cohort, named_groups: set[str]) -> bool:
    return cohort.kind == "group" and cohort.id in named_groups


def _lines(before: OrgView, after: OrgView, cohort: Cohort, app_id: str) -> tuple[str, ...]:
    return tuple(evaluate(before, cohort, app_id).changes_to(evaluate(after, cohort, app_id)))


def _read(client: OktaClient, changes: Sequence[Change], reader: Reader | None = None) -> _Org:
    from kmsi_lib.engine.reader import Reader

    shared = reader if reader is not None else Reader(client)
    org = _Org()
    org.session = shared.fetch_objects("policies", type="OKTA_SIGN_ON")
    session_ids = [str(p["id"]) for p in org.session]
    access_ids = list(
        dict.fromkeys(
            pid
            for n, change in enumerate(changes)
            if (pid := _policy_of(change, n, changes)) not in session_ids
            and not pid.startswith("$")
        )
    )
    ids = session_ids + access_ids
    for policy_id, rules in zip(ids, shared.fetch_rules(ids), strict=True):
        if rules is None:
            raise KmsiError(f"policy {policy_id} is gone")
        org.rules[policy_id] = rules
    org.apps = shared.all_apps()
    if access_ids:
        listed = {str(p.get("id")): p for p in shared.all_policies("ACCESS_POLICY")}
        for policy_id in access_ids:
            listed_policy = listed.get(policy_id)
            org.access[policy_id] = (
                dict(listed_policy)
                if listed_policy is not None
                else policies_api.get_policy(client, policy_id)
            )
    named: set[str] = set()
    for found in [
        *org.session,
        *org.access.values(),
        *(r for rs in org.rules.values() for r in rs),
    ]:
        named |= _group_ids(found)
    for change in changes:
        named |= _group_ids(change.after or {})
    for group_id in sorted(named):
        org.groups[group_id] = groups_api.get_group(client, group_id)
    everyone = groups_api.find_group_by_name(client, "Everyone")
    if everyone is not None:
        org.groups[str(everyone["id"])] = everyone
    return org


def _group_ids(found: JsonMap) -> set[str]:
    part = obj(dig(found, "conditions", "people", "groups"))
    return {str(g) for key in ("include", "exclude") for g in arr(part.get(key))}


def _new_id(changes: Sequence[Change], index: int) -> str:
    return changes[index].ref.id or f"$created:{index}"


def _is_session_policy(change: Change) -> bool:
    return (
        change.kind == "policy"
        and (change.after or change.before or {}).get("type") == "OKTA_SIGN_ON"
    )


def _policy_of(change: Change, index: int, changes: Sequence[Change]) -> str:
    """The id of the policy a change is in (itself for a policy change)."""
    if change.kind == "policy":
        return _new_id(changes, index)
    return str(change.ref.parent_id or "")


def _view(org: _Org, changes: Sequence[Change], *, access: bool = True) -> OrgView:
    """The org as read, with ``changes`` laid over it (session-policy changes only if not
    ``access``)."""
    session = copy.deepcopy(org.session)
    acc = copy.deepcopy(org.access)
    rules = copy.deepcopy(org.rules)
    session_ids = {str(p["id"]) for p in session}
    for n, change in enumerate(changes):
        policy_id = _policy_of(change, n, changes)
        is_session = policy_id in session_ids or _is_session_policy(change)
        if not access and not is_session:
            continue
        if change.kind == "policy":
            _lay(session if is_session else None, acc, policy_id, change)
            if is_session:
                session_ids.add(policy_id)
            rules.setdefault(policy_id, [])
            continue
        found = rules.setdefault(policy_id, [])
        merged = _merged(change, f"$rule:{n}")
        found[:] = [r for r in found if r.get("id") != merged.get("id")]
        if change.after is not None:
            # a created or moved rule goes before those of the same priority (Okta shifts them)
            found.insert(0, merged)
    policies: list[JsonObject] = [*session, *acc.values()]
    return org_view_from(policies, rules, org.apps, {}, groups=org.groups.values())


def _merged(change: Change, new_id: str) -> JsonObject:
    """The object after the change: read-only fields as read, the sent body over them."""
    merged: JsonObject = dict(change.before or {})
    merged.update(copy.deepcopy(change.after or {}))
    merged.setdefault("id", change.ref.id or new_id)
    merged.setdefault("status", "ACTIVE")
    return merged


def _lay(
    session: list[JsonObject] | None,
    access: dict[str, JsonObject],
    policy_id: str,
    change: Change,
) -> None:
    merged = _merged(change, policy_id)
    if session is None:
        access[policy_id] = merged
        return
    session[:] = [p for p in session if str(p.get("id")) != policy_id]
    if change.after is not None:
        session.insert(0, merged)


def _changed_cohorts(before: OrgView, after: OrgView, app_id: str) -> list[Cohort]:
    cohorts = dict.fromkeys([*cohorts_for(after, app_id), *cohorts_for(before, app_id)])
    cohorts.pop(EVERYONE_ELSE, None)
    return [
        c
        for c in (*cohorts, EVERYONE_ELSE)
        if evaluate(before, c, app_id).effect() != evaluate(after, c, app_id).effect()
    ]


def _covers(view: OrgView, rule: JsonMap) -> str:
    people = obj(dig(rule, "conditions", "people"))
    groups = obj(people.get("groups"))
    users = obj(people.get("users"))

    def names(ids: Iterable[JsonValue]) -> str:
        return ", ".join(
            "Everyone"
            if str(i) == view.everyone_group_id
            else f'"{view.group_names.get(str(i), str(i))}"'
            for i in ids
        )

    parts = []
    if groups.get("include"):
        parts.append(f"groups {names(arr(groups['include']))}")
    if users.get("include"):
        parts.append(f"{len(arr(users['include']))} named user(s)")
    text = " or ".join(parts) if parts else "everyone"
    if groups.get("exclude"):
        text += f", except groups {names(arr(groups['exclude']))}"
    if users.get("exclude"):
        text += f", except {len(arr(users['exclude']))} named user(s)"
    return text


def _priority(rule: JsonMap) -> int | None:
    priority = rule.get("priority")
    return priority if isinstance(priority, int) else None


def _policy_entries(
    org: _Org,
    changes: Sequence[Change],
    after: OrgView,
    selected: set[str],
    labels: Mapping[str, str],
    session_ids: set[str],
) -> Iterable[PolicyEntry]:
    changed_ids = {(c.ref.id or f"$rule:{n}") for n, c in enumerate(changes) if c.kind == "rule"}
    seen: dict[str, None] = {}
    for n, change in enumerate(changes):
        policy_id = _policy_of(change, n, changes)
        if policy_id in seen:
            continue
        seen[policy_id] = None
        is_session = policy_id in session_ids
        policy = (
            next((p for p in after.session_policies if str(p.get("id")) == policy_id), None)
            or after.access_policies.get(policy_id)
            or {}
        )
        rules = tuple(
            RuleEntry(
                _priority(r),
                str(r.get("name")),
                str(r.get("status")),
                _covers(after, r),
                str(r.get("id")) in changed_ids,
            )
            for r in after.rules.get(policy_id, ())
        )
        app_ids = (
            []
            if is_session
            else sorted(
                (a for a, p in after.app_policy.items() if p == policy_id),
                key=lambda a: labels.get(a, a),
            )
        )
        yield PolicyEntry(
            id=policy_id,
            name=str(policy.get("name", policy_id)),
            kind="global session policy" if is_session else "authentication policy",
            created=policy_id.startswith("$"),
            apps=tuple(AppEntry(a, labels.get(a, a), a in selected) for a in app_ids),
            rules=rules,
        )


def _warnings(
    after: OrgView,
    changes: Sequence[Change],
    labels: Mapping[str, str],
    reached: Sequence[str],
    changed_people: Sequence[Cohort],
) -> Iterable[str]:
    """Privileged apps and administrator groups reached; higher rules that shadow a change."""
    privileged = [labels[a] for a in reached if labels[a] in PRIVILEGED_APP_LABELS]
    if privileged:
        yield (
            f"this plan changes sign-in to {', '.join(privileged)}: administrators use it,"
            " and a longer or remembered session there is a risk"
        )
    admins = [c for c in changed_people if _is_admin(c.label(after))]
    if admins:
        yield (
            "this plan changes sign-in for administrator groups: "
            + ", ".join(dict.fromkeys(c.label(after) for c in admins))
        )
    for n, change in enumerate(changes):
        if change.kind != "rule" or change.after is None:
            continue
        policy_id = _policy_of(change, n, changes)
        ordered = list(after.rules.get(policy_id, ()))
        mine = next(
            (i for i, r in enumerate(ordered) if r.get("id") in (change.ref.id, f"$rule:{n}")),
            None,
        )
        if mine is None:
            continue
        for higher in ordered[:mine]:
            if higher.get("status") != "ACTIVE" or higher.get("system"):
                continue
            covers = _covers(after, higher)
            if covers == "everyone":
                yield (
                    f"rule {higher.get('name')!r} at priority {higher.get('priority')} comes"
                    f" first and covers everyone: rule {change.ref.name!r} only applies when"
                    " its other conditions do not match"
                )
            else:
                yield (
                    f"rule {higher.get('name')!r} at priority {higher.get('priority')}"
                    f" catches {covers} first: they are not affected by the change to rule"
                    f" {change.ref.name!r}"
                )


def _is_admin(label: str) -> bool:
    """Whether a cohort's name reads like an administrator group (a name heuristic)."""
    return looks_like_admin_group(label)


# ---- the plan and the apply ---------------------------------------------------------------


def with_impact(plan: Plan, impact: PlanImpact) -> Plan:
    """``plan`` with its impact section, the reach said first when it is wider than named.

    A new plan (new digest): the impact is part of what is approved.
    """
    warnings = list(plan.warnings)
    head = impact.headline()
    if head:
        warnings.insert(0, head)
        given = plan.params.get(ACKNOWLEDGE_FIELD)
        if given is not None and given != impact.reach:
            warnings.insert(
                1,
                f"{ACKNOWLEDGE_FIELD} is {given}, but this plan reaches {impact.reach} apps:"
                " the apply will refuse it",
            )
    return plan.edited(warnings=warnings, impact=impact.to_dict())


def recheck_reach(client: OktaClient, plan: Plan, reader: Reader | None = None) -> None:
    """Refuse (:class:`StalePlanError`) when the plan's reach changed since it was made.

    The drift check covers what the plan read; the reach also depends on which
    apps use a changed policy, which the plan reads only to explain. A plan
    that would now reach other apps or people is not the one that was approved.
    """
    if not plan.impact:
        return
    seen = PlanImpact.from_dict(plan.impact)
    if seen.error:
        return  # acknowledged as not worked out
    now = plan_impact(
        client,
        plan.changes,
        selected_app_ids=seen.selected_app_ids,
        named_group_ids=seen.named_group_ids,
        cross_check=False,
        reader=reader,
    )
    if (now.reached_apps, now.unnamed_people) != (seen.reached_apps, seen.unnamed_people):
        raise StalePlanError(
            "the plan's reach changed since it was made, so nothing was written: it reached"
            f" {seen.reach} app(s) ({listed(seen.reached_apps)}), now {now.reach}"
            f" ({listed(now.reached_apps)}); make a new plan"
        )


def app_plan(
    client: OktaClient,
    reader: Reader,
    *,
    procedure: str,
    params: Mapping[str, JsonValue],
    apps: Sequence[ResolvedApp],
    changes: list[Change],
    notes: list[str],
    manual_steps: Sequence[ManualStep] = (),
    named_group_ids: Iterable[str] | None = None,
    impact: bool = True,
) -> Plan:
    """The plan of a procedure that changes the authentication policies of chosen apps.

    The shared-policy warnings first (:func:`~.select.reach_warnings`); with
    ``impact``, the impact section and the reach headline too (plain reads: a
    verification, which only compares fields, goes without).
    """
    from kmsi_lib.engine.select import reach_warnings

    parents = {c.ref.parent_id for c in changes if c.ref.parent_id}
    result = reader.plan(
        procedure,
        dict(params),
        changes,
        notes,
        manual_steps=manual_steps,
        warnings=reach_warnings(reader, apps, parents),
    )
    if not impact:
        return result
    found = plan_impact(
        client,
        changes,
        selected_app_ids=[a.id for a in apps if a.id],
        selected_policy_ids=[a.policy_id for a in apps if not a.id],
        named_group_ids=named_group_ids,
        reader=reader,
    )
    return with_impact(result, found)
