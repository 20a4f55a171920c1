"""The audit's reads: policies, rules, apps, the groups and users the rules name, brands.

Shaped for large orgs: apps are listed once (their policy id comes from
``_links.accessPolicy``) and each distinct policy's rules are read once,
concurrently through :func:`kmsi_lib.engine.bulk_values`; only the groups and
users the rules name are read, for their names. The summaries of the report's
tables are made here from what was read; :func:`reach` hands the same JSON to
the policy evaluator (:mod:`kmsi_lib.procedures.audit_reach`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kmsi_lib.engine import bulk_values
from kmsi_lib.errors import InsufficientScopeError, NotFoundError, PermissionDeniedError
from kmsi_lib.jsontypes import JsonMap, JsonObject, arr, dig, number
from kmsi_lib.okta.resources import apps as apps_resource
from kmsi_lib.okta.resources import brands as brands_resource
from kmsi_lib.okta.resources import groups as groups_resource
from kmsi_lib.okta.resources import policies as policies_resource
from kmsi_lib.okta.resources import users as users_resource
from kmsi_lib.procedures import prompt_text
from kmsi_lib.procedures.audit_reach import OrgReach, named_people, org_reach
from kmsi_lib.procedures.audit_rules import summarize_access_rule, summarize_sign_on_rule
from kmsi_lib.procedures.pre_auth import read_sandbox_org_setting

if TYPE_CHECKING:
    from kmsi_lib.okta.client import OktaClient

__all__ = [
    "Read",
    "app_section",
    "brand_section",
    "pre_auth_setting",
    "reach",
    "read_names",
    "read_policies",
    "sign_on_section",
]


@dataclass
class Read:
    """What the audit read of the policies, as Okta returned it."""

    session_policies: list[JsonObject]  # by priority
    access_policies: dict[str, JsonObject]
    rules: dict[str, list[JsonObject]]  # by policy id; a policy that is gone is absent
    apps: list[JsonObject]


def _priority(found: JsonMap) -> int | float:
    """A policy's or rule's priority for sorting; 0 when it has none."""
    return number(found.get("priority")) or 0


def read_policies(client: OktaClient, max_workers: int) -> Read:
    policies_api = policies_resource
    session: list[JsonObject] = sorted(
        policies_api.list_policies(client, "OKTA_SIGN_ON"),
        key=lambda p: (p.get("priority") is None, _priority(p)),
    )
    access: dict[str, JsonObject] = {
        str(p["id"]): p for p in policies_api.list_policies(client, "ACCESS_POLICY")
    }
    apps: list[JsonObject] = list(apps_resource.list_apps(client))
    # Each distinct policy's rules are read once, however many apps share it; an app may
    # name a policy that is not listed (or is gone), so those are read too.
    linked = {pid for a in apps if (pid := apps_resource.access_policy_id(a)) is not None}
    ids = [str(p["id"]) for p in session] + sorted(set(access) | linked)

    def rules_of(policy_id: str) -> list[JsonObject] | None:
        try:
            return list(policies_api.list_rules(client, policy_id))
        except NotFoundError:  # an app linked to a policy that is gone
            return None

    found: list[list[JsonObject] | None] = bulk_values(ids, rules_of, max_workers=max_workers)
    rules = {pid: rs for pid, rs in zip(ids, found, strict=True) if rs is not None}
    return Read(session, access, rules, apps)


def _by_priority(rules: list[JsonObject]) -> list[JsonObject]:
    return sorted(rules, key=_priority)


def sign_on_section(read: Read) -> list[JsonObject]:
    return [
        {
            "id": p.get("id"),
            "name": p.get("name"),
            "priority": p.get("priority"),
            "status": p.get("status"),
            "system": bool(p.get("system")),
            "groups": list(arr(dig(p, "conditions", "people", "groups", "include"))),
            "rules": [
                summarize_sign_on_rule(r) for r in _by_priority(read.rules.get(str(p["id"]), []))
            ],
        }
        for p in read.session_policies
    ]


def app_section(read: Read) -> tuple[list[JsonObject], list[JsonObject]]:
    """(policies with their apps and rules, apps without an authentication policy)."""
    apps_by_policy: dict[str, list[JsonObject]] = {pid: [] for pid in read.access_policies}
    orphans: list[JsonObject] = []
    for app in read.apps:
        entry: JsonObject = {
            "id": app.get("id"),
            "label": app.get("label"),
            "name": app.get("name"),
            "status": app.get("status"),
        }
        policy_id = apps_resource.access_policy_id(app)
        if policy_id is None or policy_id not in read.rules:
            orphans.append(entry)
        else:
            apps_by_policy.setdefault(policy_id, []).append(entry)
    ranked: list[tuple[int, str, JsonObject]] = []  # most apps first, then by name
    for policy_id, apps in apps_by_policy.items():
        if policy_id not in read.rules:
            continue
        policy = read.access_policies.get(policy_id, {})
        name = policy.get("name", f"(policy {policy_id})")
        entry = {
            "id": policy_id,
            "name": name,
            "status": policy.get("status", "ACTIVE"),
            "system": bool(policy.get("system")),
            "apps": [*sorted(apps, key=lambda a: str(a.get("label")))],
            "rules": [summarize_access_rule(r) for r in _by_priority(read.rules[policy_id])],
        }
        ranked.append((-len(apps), str(name), entry))
    ranked.sort(key=lambda r: r[:2])
    return [entry for _, _, entry in ranked], orphans


def read_names(
    client: OktaClient, read: Read, max_workers: int
) -> tuple[list[JsonObject], list[JsonObject], str | None]:
    """The groups and users the policies and rules name (for their names), and a note
    when they could not be read (the report then shows their ids)."""
    objects = [*read.session_policies, *read.access_policies.values()]
    objects += [r for rules in read.rules.values() for r in rules]
    group_ids, user_ids = named_people(objects)

    def group(group_id: str) -> JsonObject | None:
        try:
            return groups_resource.get_group(client, group_id)
        except NotFoundError:
            return None

    def user(user_id: str) -> JsonObject | None:
        try:
            return users_resource.get_user(client, user_id)
        except NotFoundError:
            return None

    try:
        groups: list[JsonObject | None] = bulk_values(
            sorted(group_ids), group, max_workers=max_workers
        )
        users: list[JsonObject | None] = bulk_values(
            sorted(user_ids), user, max_workers=max_workers
        )
    except (InsufficientScopeError, PermissionDeniedError) as exc:
        return [], [], f"groups and users are shown by id: their names could not be read ({exc})"
    return [g for g in groups if g], [u for u in users if u], None


def brand_section(client: OktaClient, max_workers: int) -> list[JsonObject]:
    brands: list[JsonObject] = list(brands_resource.list_brands(client))
    pages: list[tuple[str, JsonObject]] = bulk_values(
        brands,
        lambda brand: prompt_text.live_page(client, str(brand["id"])),
        max_workers=max_workers,
    )
    return [
        {
            "id": brand.get("id"),
            "name": brand.get("name"),
            "isDefault": bool(brand.get("isDefault")),
            "page": source,
            "prompt": prompt_text.prompt_of(page),
        }
        for brand, (source, page) in zip(brands, pages, strict=True)
    ]


def pre_auth_setting(client: OktaClient) -> tuple[bool | None, str]:
    """The org's pre-authentication KMSI toggle if it can be read, and how we know."""
    value = read_sandbox_org_setting(client)
    if value is None:
        return None, (
            "Okta has no API for this setting: check Security > General > Organization"
            " Security in the Admin Console"
        )
    return value, "read from the sandbox org's settings"


def reach(
    read: Read,
    groups: list[JsonObject],
    users: list[JsonObject],
    admin_groups: list[str],
) -> OrgReach:
    """The evaluator's reach over what was read (policies whose rules are gone left out)."""
    policies = [*read.session_policies, *read.access_policies.values()]
    return org_reach(
        [p for p in policies if p["id"] in read.rules],
        read.rules,
        read.apps,
        groups=groups,
        users=users,
        admin_groups=admin_groups,
    )
