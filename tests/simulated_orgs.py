"""Orgs built in the sandbox through its API, read back as the evaluator's view, and simulated.

An :class:`OrgSpec` describes a small org (groups, users and their groups, global
session policies, authentication policies, apps). :func:`build` makes it in a fresh
sandbox the way an admin's tooling would: users and groups through the sandbox's
documented set-up (``sb.admin.add_group`` / ``add_user``: Okta's directory writes are
not emulated), apps likewise, and every policy, rule and app assignment through the
Management API with the library's own resource functions. :func:`read_view` reads
the org back over HTTP with the library's readers into an ``OrgView``, and
:func:`simulated` asks the sandbox's ``POST /api/v1/policies/simulate`` the same
question :func:`kmsi_lib.engine.evaluate.evaluate` answers.

Names in a spec are placeholders (``"g0"``, ``"u1"``, ``"Everyone"``); :class:`Org`
maps them to the ids the sandbox gave.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from kmsi_lib.engine import evaluate as ev
from kmsi_lib.okta.auth import SSWSAuth
from kmsi_lib.okta.client import OktaClient
from kmsi_lib.okta.resources import apps, groups, policies
from kmsi_lib.sandbox import SANDBOX_URL, Sandbox

Json = dict[str, Any]
EVERYONE = "Everyone"


@dataclass(frozen=True)
class People:
    """A people condition over placeholder names (empty lists are left out of the body)."""

    users_include: tuple[str, ...] = ()
    users_exclude: tuple[str, ...] = ()
    groups_include: tuple[str, ...] = ()
    groups_exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleSpec:
    """A rule: its name, requested priority (None: last), status and conditions."""

    name: str
    people: People = People()
    priority: int | None = None
    active: bool = True
    extra_conditions: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PolicySpec:
    """A global session policy (``groups`` of its people condition) or an authentication policy."""

    name: str
    rules: tuple[RuleSpec, ...] = ()
    groups: tuple[str, ...] = (EVERYONE,)
    priority: int | None = None
    active: bool = True


@dataclass(frozen=True)
class OrgSpec:
    """A small org. ``users`` maps a user name to its groups; ``apps`` an app to its policy."""

    groups: tuple[str, ...]
    users: Mapping[str, tuple[str, ...]]
    session_policies: tuple[PolicySpec, ...] = ()
    default_session_rules: tuple[RuleSpec, ...] = ()
    access_policies: tuple[PolicySpec, ...] = ()
    apps: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Org:
    """A built org: the sandbox, a library client of it, and placeholder name -> id."""

    sandbox: Sandbox
    client: OktaClient
    ids: dict[str, str]

    def id(self, name: str) -> str:
        return self.ids[name]

    def rule(self, policy: str, rule: str) -> tuple[str, str]:
        """(policy id, rule id) by names, e.g. ``org.rule("P0", "Catch-all Rule")``."""
        return self.ids[policy], self.ids[f"{policy}/{rule}"]


def client_of(sandbox: Sandbox) -> OktaClient:
    """A library client of ``sandbox``, in-process."""
    return OktaClient(SANDBOX_URL, SSWSAuth(sandbox.token), transport=sandbox.transport())


@contextmanager
def built(spec: OrgSpec) -> Iterator[Org]:
    """:func:`build` as a context manager that closes the client."""
    org = build(spec)
    try:
        yield org
    finally:
        org.client.close()


def build(spec: OrgSpec) -> Org:
    """Make ``spec`` in a fresh default-seed sandbox (its own policies stay, unused by our apps)."""
    sandbox = Sandbox(seed="default")
    ids: dict[str, str] = {}
    state = sandbox.state
    ids[EVERYONE] = next(g for g, v in state.groups.items() if v.get("type") == "BUILT_IN")
    for n, name in enumerate(spec.groups):
        ids[name] = sandbox.admin.add_group(f"xcheck {name} {n}")["id"]
    for name, member_of in spec.users.items():
        made = sandbox.admin.add_user(
            f"xcheck.{name}@example.com", groups=[ids[g] for g in member_of if g != EVERYONE]
        )
        ids[name] = made["id"]
    client = client_of(sandbox)
    default = next(p for p in state.policies.values() if p["type"] == "OKTA_SIGN_ON")
    ids["Default Policy"] = default["id"]
    for rule_id, rule in state.rules[default["id"]].items():
        ids[f"Default Policy/{rule['name']}"] = rule_id
    for policy in spec.session_policies:
        body: Json = {
            "type": "OKTA_SIGN_ON",
            "name": policy.name,
            "status": "ACTIVE" if policy.active else "INACTIVE",
            "conditions": {"people": {"groups": {"include": [ids[g] for g in policy.groups]}}},
        }
        if policy.priority is not None:
            body["priority"] = policy.priority
        ids[policy.name] = policies.create_policy(client, body)["id"]
        _add_rules(client, ids, policy.name, policy.rules, "SIGN_ON")
    _add_rules(client, ids, "Default Policy", spec.default_session_rules, "SIGN_ON")
    for policy in spec.access_policies:
        made = policies.create_policy(client, {"type": "ACCESS_POLICY", "name": policy.name})
        ids[policy.name] = made["id"]
        for rule in policies.list_rules(client, made["id"]):
            ids[f"{policy.name}/{rule['name']}"] = rule["id"]
        _add_rules(client, ids, policy.name, policy.rules, "ACCESS_POLICY")
        if not policy.active:
            policies.deactivate_policy(client, made["id"])
    for app, policy_name in spec.apps.items():
        ids[app] = sandbox.admin.add_app(f"xcheck {app}", sign_on_mode="SAML_2_0")["id"]
        apps.assign_access_policy(client, ids[app], ids[policy_name])
    return Org(sandbox, client, ids)


def _people_body(people: People, ids: Mapping[str, str]) -> Json:
    out: Json = {}
    for key, which, names in (
        ("users", "include", people.users_include),
        ("users", "exclude", people.users_exclude),
        ("groups", "include", people.groups_include),
        ("groups", "exclude", people.groups_exclude),
    ):
        if names:
            out.setdefault(key, {})[which] = [ids[n] for n in names]
    return out


def _add_rules(
    client: OktaClient, ids: dict[str, str], policy: str, rules: Sequence[RuleSpec], kind: str
) -> None:
    for rule in rules:
        conditions: Json = dict(rule.extra_conditions)
        people = _people_body(rule.people, ids)
        if people:
            conditions["people"] = people
        action = (
            {"signon": {"access": "ALLOW", "requireFactor": False}}
            if kind == "SIGN_ON"
            else {"appSignOn": {"access": "ALLOW"}}
        )
        body: Json = {"type": kind, "name": rule.name, "conditions": conditions, "actions": action}
        if rule.priority is not None:
            body["priority"] = rule.priority
        made = policies.create_rule(client, ids[policy], body, activate=rule.active)
        ids[f"{policy}/{rule.name}"] = made["id"]


def read_view(client: OktaClient) -> ev.OrgView:
    """The org as the evaluator sees it, read over HTTP with the library's resource functions.

    Members are read only for the groups some people condition names (the others
    cannot change an outcome), and not for Everyone, which the evaluator adds itself.
    """
    read = [
        *policies.list_policies(client, "OKTA_SIGN_ON"),
        *policies.list_policies(client, "ACCESS_POLICY"),
    ]
    rules = {p["id"]: policies.list_rules(client, p["id"]) for p in read}
    app_list = list(apps.list_apps(client))
    group_list = list(client.paginate("/api/v1/groups"))
    named = {
        str(g)
        for obj in [*read, *(r for found in rules.values() for r in found)]
        for part in ((((obj.get("conditions") or {}).get("people") or {}).get("groups")) or {},)
        for which in ("include", "exclude")
        for g in part.get(which) or []
    }
    memberships: dict[str, list[str]] = {}
    for group in group_list:
        if group["id"] in named and group.get("type") != "BUILT_IN":
            for user in groups.list_group_members(client, group["id"]):
                memberships.setdefault(user["id"], []).append(group["id"])
    return ev.org_view_from(read, rules, app_list, memberships, groups=group_list)


def simulated(client: OktaClient, user_id: str, app_id: str) -> dict[str, Json]:
    """The sandbox's simulation for one user and app, by policy type (``expand=EVALUATED``)."""
    answer = policies.simulate(
        client,
        app_id,
        user_id=user_id,
        policy_types=("OKTA_SIGN_ON", "ACCESS_POLICY"),
        expand=("EVALUATED",),
    )
    return {str(entry["policyType"]): entry for entry in answer}


def matched(entry: Json) -> tuple[str, str] | None:
    """(policy id, rule id) of a simulation entry's result, or None when nothing matched."""
    for policy in entry["result"]["policies"]:
        for rule in policy["rules"]:
            return str(policy["id"]), str(rule["id"])
    return None


def undefined_rules(entry: Json) -> list[str]:
    """Ids of the rules a simulation entry could not decide."""
    return [str(r["id"]) for p in entry["undefined"]["policies"] for r in p["rules"]]


def placed(rule: Any) -> tuple[str, str] | None:
    """(policy id, rule id) of an evaluator rule, or None."""
    return None if rule is None else (rule.policy_id, rule.rule_id)
