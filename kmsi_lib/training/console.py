"""The Admin Console steps our runbooks do not automate, for the sandbox only.

Two fixes in the exercises are clicks in the Okta Admin Console, not runbook changes:
giving apps an authentication policy of their own (Applications > the app > Sign On >
User authentication) and moving or deactivating a rule of a policy (Security >
Authentication Policies). These functions make the same change in the sandbox through the
library's resource functions, so a trainee practises the decision, not the API. They refuse
any org that is not the sandbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from kmsi_lib.errors import ConfigError
from kmsi_lib.jsontypes import JsonObject, JsonValue
from kmsi_lib.okta.resources import apps as apps_api
from kmsi_lib.okta.resources import policies as policies_api
from kmsi_lib.training.org import connect

if TYPE_CHECKING:
    from kmsi_lib.okta.client import OktaClient

__all__ = ["deactivate_rule", "give_own_policy", "move_rule", "writable"]

_READ_ONLY = ("id", "created", "lastUpdated", "_links", "system")


def writable(obj: Mapping[str, JsonValue]) -> JsonObject:
    """The body to send back for ``obj``: without the fields Okta sets itself."""
    return {k: v for k, v in obj.items() if k not in _READ_ONLY}


def _policy(client: OktaClient, name: str) -> JsonObject:
    found = policies_api.find_policy_by_name(client, "ACCESS_POLICY", name)
    if found is None:
        raise ConfigError(f"the sandbox has no authentication policy named {name!r}")
    return found


def give_own_policy(client: OktaClient | None, apps: list[str], policy_name: str) -> str:
    """Move the apps labelled ``apps`` to a new authentication policy ``policy_name``.

    The new policy starts as a copy of the rules of the first app's current policy (so the
    apps keep how they sign in until a runbook changes it); an existing policy of that name
    is reused. Returns what was done, in words.
    """
    client = connect(client)
    by_label = {a["label"]: a for a in apps_api.list_apps(client)}
    missing = [label for label in apps if label not in by_label]
    if missing:
        raise ConfigError(f"no app labelled {', '.join(map(repr, missing))} in the sandbox")
    current_id = apps_api.access_policy_id(by_label[apps[0]])
    target = policies_api.find_policy_by_name(client, "ACCESS_POLICY", policy_name)
    if target is None:
        source = policies_api.get_policy(client, str(current_id))
        body: JsonObject = {
            "type": "ACCESS_POLICY",
            "name": policy_name,
            "description": f"Copied from {source['name']!r} for {', '.join(apps)}",
            "status": "ACTIVE",
        }
        target = policies_api.create_policy(client, body)
        new_rules = {r["name"]: r for r in policies_api.list_rules(client, target["id"])}
        for rule in sorted(
            policies_api.list_rules(client, str(current_id)), key=lambda r: r.get("priority", 99)
        ):
            if rule["name"] in new_rules:  # the catch-all rule Okta created with the policy
                mine = new_rules[rule["name"]]
                same = {**writable(rule), "priority": mine.get("priority")}
                policies_api.replace_rule(client, target["id"], mine["id"], same)
            else:
                policies_api.create_rule(client, target["id"], writable(rule))
    for label in apps:
        apps_api.assign_access_policy(client, by_label[label]["id"], target["id"])
    return f"{', '.join(apps)} now use the authentication policy {policy_name!r}"


def _rule(client: OktaClient, policy: JsonObject, rule_name: str) -> JsonObject:
    rule = policies_api.find_rule_by_name(client, str(policy["id"]), rule_name)
    if rule is None:
        raise ConfigError(f"{policy['name']!r} has no rule named {rule_name!r}")
    return rule


def move_rule(client: OktaClient | None, policy_name: str, rule_name: str, priority: int) -> str:
    """Give a rule of an authentication policy another priority (0 is evaluated first)."""
    client = connect(client)
    policy = _policy(client, policy_name)
    rule = _rule(client, policy, rule_name)
    policies_api.replace_rule(
        client, str(policy["id"]), str(rule["id"]), {**writable(rule), "priority": priority}
    )
    return f"{rule_name!r} of {policy_name!r} now has priority {priority}"


def deactivate_rule(client: OktaClient | None, policy_name: str, rule_name: str) -> str:
    """Deactivate a rule of an authentication policy (it stays, but no longer applies)."""
    client = connect(client)
    policy = _policy(client, policy_name)
    rule = _rule(client, policy, rule_name)
    policies_api.deactivate_rule(client, str(policy["id"]), str(rule["id"]))
    return f"{rule_name!r} of {policy_name!r} is now inactive"
