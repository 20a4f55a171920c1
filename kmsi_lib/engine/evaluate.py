"""Which global session rule and which app sign-in rule apply to whom: the policy evaluator.

Pure functions over the JSON the client read (no I/O). An :class:`OrgView` holds
an org's global session policies (``OKTA_SIGN_ON``), its authentication
policies (``ACCESS_POLICY``), their rules, which policy each app is assigned
and who is in which group; :func:`org_view_from` builds one from Okta's JSON as
the API returns it. :func:`evaluate` answers, for one :class:`Cohort` and one
app, the rules Okta applies and what they mean (:class:`SignInOutcome`, read in
words by its ``describe()``); :func:`evaluate_all` does so for every cohort that
matters for the app, and :func:`impact` lists the cohorts whose outcome differs
between two views (before and after a plan).

How Okta evaluates, as its documentation states it and as this module does:

* Identity Engine evaluates the **global session policy** once the user is
  identified, then the **authentication policy** of the app being opened; both
  must be satisfied (Okta help, "Okta policies and rules",
  https://help.okta.com/oie/en-us/content/Topics/identity-engine/policies/about-policies.htm;
  "Authentication policies", every app has one, shared or not,
  https://help.okta.com/oie/en-us/Content/Topics/identity-engine/policies/about-app-sign-on-policies.htm;
  "How authentication works for Okta Identity Engine enabled tenants",
  https://support.okta.com/help/s/article/how-authentication-works-for-okta-identity-engine-enabled-tenants).
* Policies of a type are considered **in priority order**; a policy whose own
  conditions are not met is passed over; inside a policy the rules are
  considered in priority order and the **first rule whose conditions are all
  met** applies; when none matches, the next policy is considered; a policy
  with no rules is never applied (Policy API, "Policy evaluation",
  https://developer.okta.com/docs/api/resources/policy and
  https://developer.okta.com/docs/api/openapi/okta-management/management/tags/policy;
  the same text in ``reference/okta/docs/legacy-policy-api-reference.md``,
  lines 753-758). Only ``ACTIVE`` policies and rules take part.
* The default global session policy comes last and its **Default Rule** is its
  last rule; every authentication policy ends with the system **Catch-all
  Rule** (priority 99) "that ensures an outcome if no other rules match"
  ("Policy and rule prioritization",
  https://developer.okta.com/docs/guides/policy-rule-prioritization/main;
  "Global session policy evaluation",
  https://help.okta.com/oie/en-us/content/topics/identity-engine/policies/osop-evaluation.htm).
  Here a ``system`` policy or rule sorts after the others, then priority decides.
* The people condition (``conditions.people``): ``users.exclude`` and
  ``groups.exclude`` rule a person out; with no ``include`` at all the
  condition holds for everyone left, otherwise the person must be named in
  ``users.include`` or be in a group of ``groups.include``. That the two
  includes combine as "either" is our reading of the Admin Console (users and
  groups "used together", legacy reference line 1013), not a documented rule.
  Every user is in the built-in group Everyone.

What the evaluator does **not** decide, and says so: conditions that only a
sign-in request can settle (network zones, device state and assurance,
platform, risk and risk score, user type, identity provider and
authentication context, ``elCondition`` expressions, authenticator enrollment,
and any condition it does not know). A rule with one of them is reported as a
possibility that "depends on" it, and evaluation goes on to the next rule as
the alternative; the outcome lists them in ``depends_on``. It also does not
guess an app's policy when the view has none for it (an API service app takes
none), nor what Okta does with an ``INACTIVE`` authentication policy.

A group cohort stands for a member of that group (and of Everyone) who is in
no other group a rule names and not named as a user; a user cohort is one
user with the groups the view gives them; "everyone else" is a member of
Everyone only. Outcomes are compared by their effect (settings and the
conditions they depend on), not by rule ids or names.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from kmsi_lib.engine.outcome import AppRule, SessionRule, SignInOutcome
from kmsi_lib.jsontypes import JsonMap, JsonObject, arr, dig, obj
from kmsi_lib.okta.resources.apps import access_policy_id

__all__ = [
    "EVERYONE_ELSE",
    "Cohort",
    "Impact",
    "OrgView",
    "cohorts_for",
    "evaluate",
    "evaluate_all",
    "impact",
    "org_view_from",
]

#: Okta objects as a list, or as a collection keyed by id.
Objects: TypeAlias = Iterable[JsonMap] | Mapping[str, JsonMap]

_SESSION = "OKTA_SIGN_ON"
_ACCESS = "ACCESS_POLICY"
_LAST = 10**6  # a rule or policy without a priority sorts after the numbered ones


@dataclass(frozen=True)
class OrgView:
    """What the evaluator knows of an org; build it with :func:`org_view_from`.

    ``session_policies`` are in evaluation order, ``rules`` maps a policy id to
    its rules in evaluation order. The JSON is the evaluator's own deep copy.
    """

    session_policies: tuple[JsonObject, ...]
    access_policies: Mapping[str, JsonObject]
    rules: Mapping[str, tuple[JsonObject, ...]]
    app_policy: Mapping[str, str]
    memberships: Mapping[str, frozenset[str]]
    everyone_group_id: str | None = None
    group_names: Mapping[str, str] = field(default_factory=dict)
    app_labels: Mapping[str, str] = field(default_factory=dict)

    def group_label(self, group_id: str) -> str:
        """The group's name and id, or the id alone when the view has no name for it."""
        name = self.group_names.get(group_id)
        return f'group "{name}" ({group_id})' if name else f"group {group_id}"

    def app_label(self, app_id: str) -> str:
        """The app's label and id, or the id alone."""
        label = self.app_labels.get(app_id)
        return f'app "{label}" ({app_id})' if label else f"app {app_id}"


@dataclass(frozen=True)
class Cohort:
    """Who is evaluated: a group's members, one user, or everyone else.

    Build one with :meth:`of_group`, :meth:`of_user` or use :data:`EVERYONE_ELSE`.
    """

    kind: Literal["group", "user", "everyone_else"]
    id: str | None = None

    @classmethod
    def of_group(cls, group_id: str) -> Cohort:
        """The members of ``group_id`` (and of Everyone), in no other group a rule names."""
        return cls("group", group_id)

    @classmethod
    def of_user(cls, user_id: str) -> Cohort:
        """One user, with the groups the view's memberships give them."""
        return cls("user", user_id)

    def label(self, view: OrgView) -> str:
        """The cohort in words, e.g. ``group "IT Admins" (00g…)``."""
        if self.kind == "group" and self.id is not None:
            return view.group_label(self.id)
        if self.kind == "user":
            return f"user {self.id}"
        return "everyone else (Everyone)"


EVERYONE_ELSE = Cohort("everyone_else")
"""A member of Everyone who belongs to no group named in any rule."""


@dataclass(frozen=True)
class Impact:
    """One cohort whose outcome for one app differs between two views."""

    app_id: str
    cohort: Cohort
    before: SignInOutcome
    after: SignInOutcome

    def describe(self) -> str:
        """What changes for the cohort, field by field where the rules line up."""
        changes = self.before.changes_to(self.after)
        head = f"{self.after.cohort_label}, {self.after.app_label}:"
        return "\n".join([head, *(f"  {line}" for line in changes)])


def org_view_from(
    policies: Objects,
    rules_by_policy: Mapping[str, Objects],
    app_policy: Mapping[str, str] | Iterable[JsonMap],
    memberships: Mapping[str, Iterable[str]],
    *,
    groups: Objects = (),
) -> OrgView:
    """Build an :class:`OrgView` from Okta's JSON.

    ``policies`` are policy objects of any type (``GET /api/v1/policies?type=…``;
    only ``OKTA_SIGN_ON`` and ``ACCESS_POLICY`` are kept), ``rules_by_policy``
    maps a policy id to its rules (``GET …/rules``), ``app_policy`` maps an app
    id to its policy id or is a list of app objects (``GET /api/v1/apps``, read
    through ``_links.accessPolicy.href``), ``memberships`` maps a user id to
    their group ids. A collection keyed by id is accepted wherever a list is.
    ``groups`` (``GET /api/v1/groups``) gives names and the built-in group
    Everyone; without it, Everyone is taken from the default global session
    policy when that names exactly one group (it does in a new org).
    """
    kept = [_own(p) for p in _objects(policies)]
    session = sorted((p for p in kept if p.get("type") == _SESSION), key=_order)
    access = {str(p["id"]): p for p in kept if p.get("type") == _ACCESS}
    known = {str(p["id"]) for p in session} | set(access)
    rules = {
        policy_id: tuple(sorted((_own(r) for r in _objects(found)), key=_order))
        for policy_id, found in rules_by_policy.items()
        if policy_id in known
    }
    if isinstance(app_policy, Mapping):
        assigned = {str(app): str(policy) for app, policy in app_policy.items()}
        labels: dict[str, str] = {}
    else:
        apps = list(app_policy)
        assigned = {str(a["id"]): p for a in apps if (p := access_policy_id(a)) is not None}
        labels = {str(a["id"]): str(a["label"]) for a in apps if a.get("label")}
    group_list = list(_objects(groups))
    names = {str(g["id"]): str(obj(g.get("profile")).get("name", "")) for g in group_list}
    return OrgView(
        session_policies=tuple(session),
        access_policies=access,
        rules=rules,
        app_policy=assigned,
        memberships={str(u): frozenset(map(str, gs)) for u, gs in memberships.items()},
        everyone_group_id=_everyone(group_list, session),
        group_names={gid: name for gid, name in names.items() if name},
        app_labels=labels,
    )


def evaluate(view: OrgView, cohort: Cohort, app_id: str) -> SignInOutcome:
    """The global session rule and the app sign-in rule that apply to ``cohort`` for ``app_id``.

    Each part is a list of possibilities in evaluation order: every one but the
    last depends on a condition the evaluator cannot decide, the last is the
    rule that applies when none of those conditions holds.
    """
    groups, user_id, notes = _member(view, cohort)
    session: list[SessionRule] = []
    for policy, policy_depends in _candidates(view.session_policies, user_id, groups):
        found, decided = _first_match(view.rules.get(str(policy["id"]), ()), user_id, groups)
        session += [SessionRule.read(policy, r, policy_depends + d) for r, d in found]
        if decided and not policy_depends:
            break
    else:
        notes.append("no global session rule applies without a condition (no Default Rule?)")
    app = _app_rules(view, app_id, user_id, groups, notes)
    return SignInOutcome(
        cohort=cohort,
        cohort_label=cohort.label(view),
        app_id=app_id,
        app_label=view.app_label(app_id),
        session_rules=tuple(session),
        app_rules=tuple(app),
        notes=tuple(notes),
    )


def cohorts_for(view: OrgView, app_id: str) -> tuple[Cohort, ...]:
    """The cohorts that matter for ``app_id``, in evaluation order, everyone else last.

    Every group and user named in the people conditions of the active global
    session policies and rules, then of the active rules of the app's policy
    (Everyone is "everyone else", so it is not listed twice).
    """
    seen: dict[Cohort, None] = {}
    for people in _people_conditions(view, app_id):
        for key, make in (("groups", Cohort.of_group), ("users", Cohort.of_user)):
            part = obj(people.get(key))
            for named in [*arr(part.get("include")), *arr(part.get("exclude"))]:
                if key == "groups" and named == view.everyone_group_id:
                    continue
                seen.setdefault(make(str(named)), None)
    return (*seen, EVERYONE_ELSE)


def evaluate_all(view: OrgView, app_id: str) -> tuple[SignInOutcome, ...]:
    """One :class:`SignInOutcome` per cohort of :func:`cohorts_for`, in that order."""
    return tuple(evaluate(view, cohort, app_id) for cohort in cohorts_for(view, app_id))


def impact(before: OrgView, after: OrgView, app_ids: Iterable[str]) -> tuple[Impact, ...]:
    """The cohorts whose outcome changes from ``before`` to ``after``, app by app.

    The cohorts are those of either view (a group a new rule names counts, and
    so does one a removed rule named); outcomes are compared by effect.
    """
    found: list[Impact] = []
    for app_id in app_ids:
        cohorts = dict.fromkeys([*cohorts_for(after, app_id), *cohorts_for(before, app_id)])
        cohorts.pop(EVERYONE_ELSE)
        for cohort in (*cohorts, EVERYONE_ELSE):
            old, new = evaluate(before, cohort, app_id), evaluate(after, cohort, app_id)
            if old.effect() != new.effect():
                found.append(Impact(app_id, cohort, old, new))
    return tuple(found)


def _objects(found: Objects) -> Iterator[JsonMap]:
    """The objects of a list, or of a collection keyed by id."""
    if isinstance(found, Mapping):
        yield from found.values()
    else:
        yield from found


def _own(found: JsonMap) -> JsonObject:
    """The evaluator's own deep copy of an Okta object."""
    return obj(copy.deepcopy(dict(found)))


def _order(found: JsonMap) -> tuple[int, int]:
    """Sort key: system objects (default policy, Default Rule, Catch-all) last, then priority."""
    priority = found.get("priority")
    return (1 if found.get("system") else 0, priority if isinstance(priority, int) else _LAST)


def _everyone(groups: list[JsonMap], session: list[JsonObject]) -> str | None:
    for group in groups:
        name = dig(group, "profile", "name")
        if group.get("type") == "BUILT_IN" and name == "Everyone":
            return str(group["id"])
    for policy in session:
        if policy.get("system"):
            included = _ids(policy.get("conditions"), "groups", "include")
            if len(included) == 1:
                return next(iter(included))
    return None


def _member(view: OrgView, cohort: Cohort) -> tuple[frozenset[str], str | None, list[str]]:
    """The groups and user id the cohort stands for, with notes on what the view lacked."""
    notes: list[str] = []
    everyone = {view.everyone_group_id} if view.everyone_group_id else set()
    if view.everyone_group_id is None:
        notes.append("the view does not say which group is Everyone")
    if cohort.kind == "group" and cohort.id is not None:
        return frozenset({cohort.id, *everyone}), None, notes
    if cohort.kind == "user" and cohort.id is not None:
        if cohort.id not in view.memberships:
            notes.append(f"user {cohort.id} has no memberships in the view: Everyone only")
        return view.memberships.get(cohort.id, frozenset()) | everyone, cohort.id, notes
    return frozenset(everyone), None, notes


def _ids(conditions: object, key: str, which: str) -> set[str]:
    if not isinstance(conditions, Mapping):
        return set()
    part = arr(dig(conditions, "people", key, which))
    return {str(x) for x in part}


def _people_match(people: object, user_id: str | None, groups: frozenset[str]) -> bool:
    """Whether the people condition holds (see the module docstring)."""
    if not isinstance(people, Mapping):
        return True
    wrapped = {"people": people}
    if user_id in _ids(wrapped, "users", "exclude") or groups & _ids(wrapped, "groups", "exclude"):
        return False
    users, included = _ids(wrapped, "users", "include"), _ids(wrapped, "groups", "include")
    if not users and not included:
        return True
    return user_id in users or bool(groups & included)


def _candidates(
    items: Iterable[JsonObject], user_id: str | None, groups: frozenset[str]
) -> Iterator[tuple[JsonObject, tuple[str, ...]]]:
    """The active policies or rules among ``items`` whose people condition holds, in order,
    each with the other conditions only a sign-in request can decide (:func:`_undecided`)."""
    for item in items:
        if item.get("status") != "ACTIVE":
            continue
        conditions = obj(item.get("conditions"))
        if _people_match(conditions.get("people"), user_id, groups):
            yield item, _undecided(conditions)


def _first_match(
    rules: Iterable[JsonObject], user_id: str | None, groups: frozenset[str]
) -> tuple[list[tuple[JsonObject, tuple[str, ...]]], bool]:
    """The rules that may apply, in order, and whether the last of them applies for sure."""
    found: list[tuple[JsonObject, tuple[str, ...]]] = []
    for rule, depends in _candidates(rules, user_id, groups):
        found.append((rule, depends))
        if not depends:
            return found, True
    return found, False


def _app_rules(
    view: OrgView, app_id: str, user_id: str | None, groups: frozenset[str], notes: list[str]
) -> list[AppRule]:
    policy_id = view.app_policy.get(app_id)
    if policy_id is None:
        notes.append("the view assigns the app no authentication policy (not evaluated)")
        return []
    policy = view.access_policies.get(policy_id)
    if policy is None:
        notes.append(f"the app's authentication policy {policy_id} is not in the view")
        return []
    if policy.get("status") != "ACTIVE":
        notes.append(f"the app's authentication policy {policy_id} is {policy.get('status')}")
        return []
    found, decided = _first_match(view.rules.get(policy_id, ()), user_id, groups)
    if not decided:
        notes.append("no app sign-in rule applies without a condition (no Catch-all Rule?)")
    return [AppRule.read(policy, rule, depends) for rule, depends in found]


def _people_conditions(view: OrgView, app_id: str) -> Iterator[JsonMap]:
    policies: list[JsonObject] = list(view.session_policies)
    app_policy = view.access_policies.get(view.app_policy.get(app_id, ""))
    if app_policy is not None:
        policies.append(app_policy)
    for policy in policies:
        if policy.get("status") != "ACTIVE":
            continue
        for found in (policy, *view.rules.get(str(policy["id"]), ())):
            people = obj(found.get("conditions")).get("people")
            if found.get("status") == "ACTIVE" and isinstance(people, Mapping):
                yield people


def _empty(value: object) -> bool:
    if isinstance(value, Mapping):
        return all(_empty(v) for v in value.values())
    if isinstance(value, list | tuple):
        return not value
    return value is None or value == ""


def _is_any(key: str) -> Callable[[object], bool]:
    """A condition whose ``key`` is absent or ``ANY`` puts no constraint."""
    return lambda value: not isinstance(value, Mapping) or value.get(key) in (None, "ANY")


#: condition -> (how a report names it, whether a value of it constrains nothing)
_CONDITIONS: dict[str, tuple[str, Callable[[object], bool]]] = {
    "network": (
        "network zone",
        lambda v: not isinstance(v, Mapping) or v.get("connection") in (None, "ANYWHERE"),
    ),
    "authContext": ("authentication type", _is_any("authType")),
    "identityProvider": ("identity provider", _is_any("provider")),
    "riskScore": ("risk score", _is_any("level")),
    "risk": ("risk behaviors", _empty),
    "device": ("device", _empty),
    "platform": ("platform", _empty),
    "userType": ("user type", _empty),
    "elCondition": ("expression (elCondition)", _empty),
}


def _undecided(conditions: JsonMap) -> tuple[str, ...]:
    """The conditions, other than people, that only a sign-in request can decide."""
    found: list[str] = []
    for key, value in conditions.items():
        if key == "people":
            continue
        name, unconstrained = _CONDITIONS.get(key, (_unknown_name(key), _empty))
        if not unconstrained(value):
            found.append(name)
    return tuple(found)


def _unknown_name(key: str) -> str:
    return "authenticator enrollment" if "authenticator" in key.lower() else key
