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
from typing import TYPE_CHECKING, Any

from kmsi_lib.engine import bulk_values, get_path
from kmsi_lib.errors import InsufficientScopeError, NotFoundError, PermissionDeniedError
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

    session_policies: list[dict[str, Any]]  # by priority
    access_policies: dict[str, dict[str, Any]]
    rules: dict[str, list[dict[str, Any]]]  # by policy id; a policy that is gone is absent
    apps: list[dict[str, Any]]


def read_policies(client: OktaClient, max_workers: int) -> Read:
    policies_api = policies_resource
    session = sorted(
        policies_api.list_policies(client, "OKTA_SIGN_ON"),
        key=lambda p: (p.get("priority") is None, p.get("priority") or 0),
    )
    access = {p["id"]: p for p in policies_api.list_policies(client, "ACCESS_POLICY")}
    apps = list(apps_resource.list_apps(client))
    # Each distinct policy's rules are read once, however many apps share it; an app may
    # name a policy that is not listed (or is gone), so those are read too.
    linked = {pid for a in apps if (pid := apps_resource.access_policy_id(a)) is not None}
    ids = [str(p["id"]) for p in session] + sorted(set(access) | linked)

    def rules_of(policy_id: str) -> list[dict[str, Any]] | None:
        try:
            return list(policies_api.list_rules(client, policy_id))
        except NotFoundError:  # an app linked to a policy that is gone
            return None

    found = bulk_values(ids, rules_of, max_workers=max_workers)
    rules = {pid: rs for pid, rs in zip(ids, found, strict=True) if rs is not None}
    return Read(session, access, rules, apps)


def _by_priority(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rules, key=lambda r: r.get("priority") or 0)


def sign_on_section(read: Read) -> list[dict[str, Any]]:
    return [
        {
            "id": p.get("id"),
            "name": p.get("name"),
            "priority": p.get("priority"),
            "status": p.get("status"),
            "system": bool(p.get("system")),
            "groups": list(get_path(p, "conditions.people.groups.include") or []),
            "rules": [summarize_sign_on_rule(r) for r in _by_priority(read.rules.get(p["id"], []))],
        }
        for p in read.session_policies
    ]


def app_section(read: Read) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(policies with their apps and rules, apps without an authentication policy)."""
    apps_by_policy: dict[str, list[dict[str, Any]]] = {pid: [] for pid in read.access_policies}
    orphans: list[dict[str, Any]] = []
    for app in read.apps:
        entry = {
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
    section = []
    for policy_id, apps in apps_by_policy.items():
        if policy_id not in read.rules:
            continue
        policy = read.access_policies.get(policy_id, {})
        section.append(
            {
                "id": policy_id,
                "name": policy.get("name", f"(policy {policy_id})"),
                "status": policy.get("status", "ACTIVE"),
                "system": bool(policy.get("system")),
                "apps": sorted(apps, key=lambda a: str(a.get("label"))),
                "rules": [summarize_access_rule(r) for r in _by_priority(read.rules[policy_id])],
            }
        )
    section.sort(key=lambda p: (-len(p["apps"]), str(p["name"])))
    return section, orphans


def read_names(
    client: OktaClient, read: Read, max_workers: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str | None]:
    """The groups and users the policies and rules name (for their names), and a note
    when they could not be read (the report then shows their ids)."""
    objects = [*read.session_policies, *read.access_policies.values()]
    objects += [r for rules in read.rules.values() for r in rules]
    group_ids, user_ids = named_people(objects)

    def group(group_id: str) -> dict[str, Any] | None:
        try:
            return groups_resource.get_group(client, group_id)
        except NotFoundError:
            return None

    def user(user_id: str) -> dict[str, Any] | None:
        try:
            return users_resource.get_user(client, user_id)
        except NotFoundError:
            return None

    try:
        groups = bulk_values(sorted(group_ids), group, max_workers=max_workers)
        users = bulk_values(sorted(user_ids), user, max_workers=max_workers)
    except (InsufficientScopeError, PermissionDeniedError) as exc:
        return [], [], f"groups and users are shown by id: their names could not be read ({exc})"
    return [g for g in groups if g], [u for u in users if u], None


def brand_section(client: OktaClient, max_workers: int) -> list[dict[str, Any]]:
    brands = list(brands_resource.list_brands(client))
    pages = bulk_values(
        brands, lambda brand: prompt_text.live_page(client, brand["id"]), max_workers=max_workers
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
    groups: list[dict[str, Any]],
    users: list[dict[str, Any]],
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
