"""Who each rule reaches: the audit's reading of the org through the policy evaluator.

Pure functions over the JSON the audit read (no I/O). :func:`org_reach` builds
an :class:`~kmsi_lib.engine.evaluate.OrgView` and asks
:mod:`kmsi_lib.engine.evaluate` which rules apply to which cohort:

* the **global session rules** for every cohort the global session policies
  name (a group, a user, or everyone else);
* the **app sign-in rules** of each authentication policy for every cohort
  that policy's rules name, evaluated once per policy (every app on a policy
  has the same rules; the report then lists all of them).

A rule *reaches* a cohort when the evaluator lists it as a possibility for
that cohort: it applies, or it applies when a condition the evaluator cannot
decide holds (``depends_on``). A cohort here is a member of one named group
(and of Everyone), so the cohorts a rule reaches are those the org's rules
single out; people in several named groups at once are not enumerated.

A rule **never applies** (:class:`NeverApplies`) when the audit can show it
from the rules alone, without guessing:

* an earlier active rule of the same policy decides on nothing but people
  (no condition left to a request) and its people condition *covers* this
  rule's: it matches everyone, or it names every user and group this rule
  includes, and everyone it excludes this rule excludes too (a conservative
  test: a rule this misses is not reported, a rule it reports is dead);
* the rule's authentication policy is assigned to no app (policies whose
  ``resourceType`` is not ``APP``, such as the Okta Account Management Policy,
  serve Okta itself and are not checked);
* its global session policy comes after one that catches everyone it names
  (same covering test, at policy level, plus a rule of that policy that
  catches them all).

System rules and policies (Catch-all Rule, Default Rule, Default Policy) are
never reported as dead: Okta keeps them last on purpose.

**Administrator groups.** The audit does not read Okta's admin role
assignments (``/api/v1/groups/{id}/roles`` is outside the audit's scopes and
the reference spec the sandbox emulates), so a group counts as an
administrator group when its name or id matches one of the audit's
``admin_groups`` patterns (``fnmatch`` wildcards, case-insensitive; the
default ``*admin*`` matches "IT Admins", "Super Administrators", ...). Only
groups some rule names are considered, since only those are cohorts.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from kmsi_lib.engine.evaluate import (
    EVERYONE_ELSE,
    Cohort,
    OrgView,
    cohorts_for,
    evaluate,
    org_view_from,
)
from kmsi_lib.jsontypes import JsonMap, JsonObject, arr, dig, obj
from kmsi_lib.okta.resources.apps import access_policy_id

__all__ = [
    "ADMIN_CONSOLE_LABEL",
    "EVERY_APP",
    "NeverApplies",
    "OrgReach",
    "RuleReach",
    "is_admin_console",
    "named_people",
    "org_reach",
]

#: Label Okta gives the Admin Console app in every org (its app ``name`` is ``saasure``).
ADMIN_CONSOLE_LABEL = "Okta Admin Console"
_ADMIN_CONSOLE_APP_NAME = "saasure"

#: What a global session rule's "apps" are: it applies before any app is opened.
EVERY_APP = "(every app: global session policy)"

#: An app id no policy is assigned: evaluating it gives the global session rules alone.
_NO_APP = ""


def is_admin_console(app: JsonMap) -> bool:
    """True for the Okta Admin Console app (by its app name ``saasure`` or its label)."""
    return bool(
        app.get("name") == _ADMIN_CONSOLE_APP_NAME or app.get("label") == ADMIN_CONSOLE_LABEL
    )


@dataclass(frozen=True)
class RuleReach:
    """One active rule of an active policy and the cohorts it reaches."""

    kind: Literal["sign_on_rule", "access_policy_rule"]
    policy: JsonObject
    rule: JsonObject
    apps: tuple[JsonMap, ...]  # the policy's apps; empty for a global session rule
    cohorts: tuple[Cohort, ...]  # in evaluation order, everyone else last
    depends_on: tuple[str, ...]  # what the evaluator could not decide for this rule

    @property
    def reached(self) -> bool:
        """Whether any cohort the audit evaluates reaches this rule."""
        return bool(self.cohorts)


@dataclass(frozen=True)
class NeverApplies:
    """A rule the audit can show never applies, and why (see the module docstring)."""

    kind: Literal["sign_on_rule", "access_policy_rule"]
    policy: JsonObject
    rule: JsonObject
    apps: tuple[JsonMap, ...]
    reason: str
    shadowed_by: JsonObject | None = None  # the rule (or policy) that catches its people first


@dataclass(frozen=True)
class OrgReach:
    """The evaluator's view of the org, every rule's reach and the names to report."""

    view: OrgView
    rules: tuple[RuleReach, ...]
    never: tuple[NeverApplies, ...]
    admin_group_ids: frozenset[str]
    user_logins: Mapping[str, str] = field(default_factory=dict)

    def cohort_name(self, cohort: Cohort) -> str:
        """A cohort by name: the group's name, the user's login, or "everyone else"."""
        if cohort.kind == "group" and cohort.id is not None:
            return self.view.group_names.get(cohort.id, cohort.id)
        if cohort.kind == "user" and cohort.id is not None:
            return self.user_logins.get(cohort.id, cohort.id)
        return "everyone else"

    def is_admin(self, cohort: Cohort) -> bool:
        """Whether the cohort is an administrator group (by the ``admin_groups`` patterns)."""
        return cohort.kind == "group" and cohort.id in self.admin_group_ids


def named_people(objects: Iterable[JsonMap]) -> tuple[set[str], set[str]]:
    """The group ids and user ids the people conditions of ``objects`` name."""
    groups: set[str] = set()
    users: set[str] = set()
    for found in objects:
        part = _people(found)
        groups |= part["groups_include"] | part["groups_exclude"]
        users |= part["users_include"] | part["users_exclude"]
    return groups, users


def org_reach(
    policies: Iterable[JsonMap],
    rules_by_policy: Mapping[str, Iterable[JsonMap]],
    apps: Iterable[JsonMap],
    *,
    groups: Iterable[JsonMap] = (),
    users: Iterable[JsonMap] = (),
    admin_groups: Sequence[str] = ("*admin*",),
) -> OrgReach:
    """Evaluate every active rule's reach (pure; Okta's JSON as the API returns it).

    ``policies`` are ``OKTA_SIGN_ON`` and ``ACCESS_POLICY`` policy objects,
    ``rules_by_policy`` their rules, ``apps`` the app objects (their policy is
    read from ``_links.accessPolicy``), ``groups`` and ``users`` the group and
    user objects the rules name (for names; missing ones are shown by id).
    ``admin_groups`` are the patterns that make a group an administrator group.
    """
    app_list: list[JsonMap] = [dict(a) for a in apps]
    group_list: list[JsonMap] = [dict(g) for g in groups]
    view = org_view_from(list(policies), rules_by_policy, app_list, {}, groups=group_list)
    apps_by_policy: dict[str, list[JsonMap]] = {}
    for app in sorted(app_list, key=lambda a: str(a.get("label"))):
        policy_id = access_policy_id(app)
        if policy_id is not None:
            apps_by_policy.setdefault(policy_id, []).append(app)

    reach = list(_session_reach(view))
    app_view = dataclasses.replace(view, session_policies=())
    for policy_id, policy in view.access_policies.items():
        if policy.get("status") == "ACTIVE" and policy_id in apps_by_policy:
            found = tuple(apps_by_policy[policy_id])
            reach += _app_reach(app_view, policy, found)
    never = [*_shadowed(view, apps_by_policy), *_unassigned(view, apps_by_policy)]
    never += _session_policies_shadowed(view)
    dead = {(str(n.policy.get("id")), str(n.rule.get("id"))) for n in never}
    kept = [r for r in reach if (str(r.policy.get("id")), str(r.rule.get("id"))) not in dead]
    return OrgReach(
        view=view,
        rules=tuple(kept),
        never=tuple(never),
        admin_group_ids=_admin_groups(view, admin_groups),
        user_logins={
            str(u["id"]): str(dig(u, "profile", "login") or u["id"]) for u in users if u.get("id")
        },
    )


# --------------------------------------------------------------------------- reach


def _session_reach(view: OrgView) -> Iterable[RuleReach]:
    """Each active global session rule with the cohorts that reach it."""
    cohorts: dict[tuple[str, str], list[Cohort]] = {}
    depends: dict[tuple[str, str], tuple[str, ...]] = {}
    for cohort in cohorts_for(view, _NO_APP):
        for placed in evaluate(view, cohort, _NO_APP).session_rules:
            key = (placed.policy_id, placed.rule_id)
            cohorts.setdefault(key, []).append(cohort)
            depends[key] = placed.depends_on
    for policy in view.session_policies:
        if policy.get("status") != "ACTIVE":
            continue
        for rule in _active_rules(view, policy):
            key = (str(policy.get("id")), str(rule.get("id")))
            yield RuleReach(
                "sign_on_rule",
                policy,
                rule,
                (),
                tuple(cohorts.get(key, ())),
                depends.get(key, ()),
            )


def _app_reach(view: OrgView, policy: JsonObject, apps: tuple[JsonMap, ...]) -> list[RuleReach]:
    """Each active rule of one authentication policy with the cohorts that reach it.

    ``view`` holds no global session policy, so the cohorts are those the
    policy's own rules name (a group named only in a session rule would read
    here as everyone else).
    """
    app_id = str(apps[0]["id"])  # every app of the policy evaluates alike
    cohorts: dict[str, list[Cohort]] = {}
    depends: dict[str, tuple[str, ...]] = {}
    for cohort in cohorts_for(view, app_id):
        for placed in evaluate(view, cohort, app_id).app_rules:
            cohorts.setdefault(placed.rule_id, []).append(cohort)
            depends[placed.rule_id] = placed.depends_on
    return [
        RuleReach(
            "access_policy_rule",
            policy,
            rule,
            apps,
            tuple(cohorts.get(str(rule.get("id")), ())),
            depends.get(str(rule.get("id")), ()),
        )
        for rule in _active_rules(view, policy)
    ]


def _active_rules(view: OrgView, policy: JsonMap) -> list[JsonObject]:
    return [r for r in view.rules.get(str(policy.get("id")), ()) if r.get("status") == "ACTIVE"]


def _admin_groups(view: OrgView, patterns: Sequence[str]) -> frozenset[str]:
    lowered = [p.lower() for p in patterns]
    named, _ = named_people(_every_object(view))
    found = set()
    for group_id in named:
        if group_id == view.everyone_group_id:
            continue
        words = {group_id.lower(), view.group_names.get(group_id, "").lower()} - {""}
        if any(fnmatch.fnmatchcase(w, p) for w in words for p in lowered):
            found.add(group_id)
    return frozenset(found)


def _every_object(view: OrgView) -> Iterable[JsonMap]:
    yield from view.session_policies
    yield from view.access_policies.values()
    for rules in view.rules.values():
        yield from rules


# --------------------------------------------------------------------------- never applies


def _shadowed(view: OrgView, apps_by_policy: Mapping[str, list[JsonMap]]) -> list[NeverApplies]:
    """Rules caught, for everyone they name, by an earlier decided rule of their policy."""
    found: list[NeverApplies] = []
    policies: list[tuple[Literal["sign_on_rule", "access_policy_rule"], JsonObject]] = [
        ("sign_on_rule", p) for p in view.session_policies
    ]
    policies += [("access_policy_rule", p) for p in view.access_policies.values()]
    for kind, policy in policies:
        if policy.get("status") != "ACTIVE":
            continue
        apps = tuple(apps_by_policy.get(str(policy.get("id")), ()))
        catchers: list[JsonObject] = []
        for rule in _active_rules(view, policy):
            by = next((c for c in catchers if _covers(view, c, rule)), None)
            if by is not None and not rule.get("system"):
                reason = (
                    f"rule {by.get('name')!r} (priority {by.get('priority')}) comes first and"
                    " catches everyone this rule names"
                )
                found.append(NeverApplies(kind, policy, rule, apps, reason, by))
            if not _undecided(kind, policy, rule):
                catchers.append(rule)
    return found


def _unassigned(view: OrgView, apps_by_policy: Mapping[str, list[JsonMap]]) -> list[NeverApplies]:
    """Rules of an active app authentication policy that no app is assigned."""
    found: list[NeverApplies] = []
    for policy_id, policy in view.access_policies.items():
        serves_apps = policy.get("resourceType") in (None, "APP")
        if policy.get("status") != "ACTIVE" or policy_id in apps_by_policy or not serves_apps:
            continue
        for rule in _active_rules(view, policy):
            if not rule.get("system"):
                reason = "no app is assigned this authentication policy, so it is never evaluated"
                found.append(NeverApplies("access_policy_rule", policy, rule, (), reason))
    return found


def _session_policies_shadowed(view: OrgView) -> list[NeverApplies]:
    """Rules of a global session policy that an earlier policy catches everyone of."""
    found: list[NeverApplies] = []
    earlier: list[JsonObject] = []
    for policy in view.session_policies:
        if policy.get("status") != "ACTIVE":
            continue
        by = next((p for p in earlier if _covers(view, p, policy)), None)
        if by is not None and not policy.get("system"):
            reason = (
                f"global session policy {by.get('name')!r} comes first and catches everyone"
                " this policy names, so it is never evaluated"
            )
            found += [
                NeverApplies("sign_on_rule", policy, rule, (), reason, by)
                for rule in _active_rules(view, policy)
                if not rule.get("system")
            ]
        decided = not _undecided("sign_on_policy", policy, None)
        catches_all = any(
            _covers(view, rule, policy) and not _undecided("sign_on_rule", policy, rule)
            for rule in _active_rules(view, policy)
        )
        if decided and catches_all:
            earlier.append(policy)
    return found


def _people(found: JsonMap) -> dict[str, frozenset[str]]:
    people = obj(dig(found, "conditions", "people"))
    out: dict[str, frozenset[str]] = {}
    for key in ("users", "groups"):
        part = obj(people.get(key))
        for which in ("include", "exclude"):
            out[f"{key}_{which}"] = frozenset(str(x) for x in arr(part.get(which)))
    return out


def _covers(view: OrgView, first: JsonMap, later: JsonMap) -> bool:
    """Whether everyone ``later``'s people condition matches is matched by ``first``'s."""
    a, b = _people(first), _people(later)
    everyone = {view.everyone_group_id} if view.everyone_group_id else set()
    if not (
        a["users_exclude"] <= b["users_exclude"] and a["groups_exclude"] <= b["groups_exclude"]
    ):
        return False
    if (not a["users_include"] and not a["groups_include"]) or a["groups_include"] & everyone:
        return True
    if (not b["users_include"] and not b["groups_include"]) or b["groups_include"] & everyone:
        return False
    return b["users_include"] <= a["users_include"] and b["groups_include"] <= a["groups_include"]


def _undecided(kind: str, policy: JsonMap, rule: JsonMap | None) -> bool:
    """Whether the conditions (people aside) of ``rule``, or of ``policy`` when ``rule`` is
    None, leave something to the sign-in request.

    The evaluator is asked, so that what counts as undecided is defined once: a
    one-rule view without people conditions, evaluated for everyone else.
    """
    own = rule if rule is not None else policy
    conditions = {k: v for k, v in obj(own.get("conditions")).items() if k != "people"}
    session = kind in ("sign_on_rule", "sign_on_policy")
    probe_policy = {
        "id": "probe-policy",
        "name": "probe",
        "type": "OKTA_SIGN_ON" if session else "ACCESS_POLICY",
        "status": "ACTIVE",
        "conditions": conditions if rule is None else None,
    }
    probe_rule = {
        "id": "probe-rule",
        "name": "probe",
        "status": "ACTIVE",
        "conditions": conditions if rule is not None else {},
    }
    probe = org_view_from(
        [probe_policy], {"probe-policy": [probe_rule]}, {"app": "probe-policy"}, {}
    )
    outcome = evaluate(probe, EVERYONE_ELSE, "app")
    placed = outcome.session_rules if session else outcome.app_rules
    return bool(placed and placed[0].depends_on)
