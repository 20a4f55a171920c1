"""What the training checks read of the sandbox org, through the library's client.

Only the sandbox: :func:`connect` refuses an org that is not on a loopback address (or the
in-process sandbox), because the exercises write to the org they check. Everything a check
decides about who sees the prompt comes from the engine's evaluator
(:func:`kmsi_lib.engine.evaluate`), read over a :class:`Snapshot` of the org.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from kmsi_lib.engine import EVERYONE_ELSE, Cohort, OrgView, org_view_from
from kmsi_lib.engine.evaluate import cohorts_for, evaluate
from kmsi_lib.errors import ConfigError
from kmsi_lib.jsontypes import JsonObject, JsonValue, dig
from kmsi_lib.okta import protocol
from kmsi_lib.okta.resources import apps as apps_api
from kmsi_lib.okta.resources import brands as brands_api
from kmsi_lib.okta.resources import policies as policies_api

if TYPE_CHECKING:
    from kmsi_lib.okta.client import OktaClient

__all__ = [
    "SCOPES",
    "Offer",
    "Snapshot",
    "comparable_state",
    "connect",
    "is_sandbox",
    "offers",
    "read",
]

#: What the checks and the exercise set-ups need (set-ups write policies and rules).
SCOPES: tuple[str, ...] = (
    "okta.apps.manage",
    "okta.apps.read",
    "okta.brands.read",
    "okta.groups.read",
    "okta.logs.read",
    "okta.policies.manage",
    "okta.policies.read",
    "okta.users.read",
)

_VOLATILE = ("lastUpdated", "created", "_links", "lastMembershipUpdated")


def is_sandbox(url: str) -> bool:
    """True for the in-process sandbox or an org on a loopback address."""
    host = urlsplit(url).hostname or ""
    return protocol.is_local_host(host)


def connect(client: OktaClient | None = None) -> OktaClient:
    """``client``, or one built from ``OKTA_ORG_URL`` / ``OKTA_API_TOKEN`` as the runbooks do.

    Raises :class:`~kmsi_lib.errors.ConfigError` when the org is not the sandbox: the
    exercises set up and change the org they check, so they never run against a real one.
    """
    if client is None:
        url = os.environ.get("OKTA_ORG_URL", "")
        if url and not is_sandbox(url):
            raise ConfigError(
                f"the training exercises run only against the sandbox (got OKTA_ORG_URL={url!r});"
                " start them with `kmsi lab --trainee NAME`"
            )
        from kmsi_lib.okta.client import OktaClient

        client = OktaClient.from_env(scopes=SCOPES)
    if not is_sandbox(str(client.org_url)):
        raise ConfigError(
            f"the training exercises run only against the sandbox, not {client.org_url}"
        )
    return client


@dataclass(frozen=True)
class Snapshot:
    """The objects a check reads: policies, rules, apps, groups, and the evaluator's view."""

    policies: tuple[JsonObject, ...]
    rules: dict[str, list[JsonObject]]
    apps: tuple[JsonObject, ...]
    groups: tuple[JsonObject, ...]
    view: OrgView = field(repr=False)

    def app_id(self, label: str) -> str:
        """The id of the app labelled ``label`` (ConfigError when the org has none)."""
        for app in self.apps:
            if app.get("label") == label:
                return str(app["id"])
        raise ConfigError(f"the sandbox has no app labelled {label!r}: reset the exercise")

    def group_id(self, name: str) -> str:
        """The id of the group named ``name``."""
        for group in self.groups:
            if dig(group, "profile", "name") == name:
                return str(group["id"])
        raise ConfigError(f"the sandbox has no group named {name!r}: reset the exercise")

    def policy(self, type: str, name: str) -> JsonObject | None:
        """The policy of ``type`` named ``name``, or None."""
        return next((p for p in self.policies if p["type"] == type and p["name"] == name), None)

    def policy_name(self, policy_id: str | None) -> str:
        """The name of a policy by id."""
        found = next((p for p in self.policies if p["id"] == policy_id), None)
        return str(found["name"]) if found else str(policy_id)

    def app_policy(self, app_id: str) -> str | None:
        """The id of the authentication policy of ``app_id``."""
        return self.view.app_policy.get(app_id)

    def apps_on(self, policy_id: str) -> list[str]:
        """Labels of the apps assigned to ``policy_id``, sorted."""
        return sorted(
            self.view.app_labels.get(a, a)
            for a, p in self.view.app_policy.items()
            if p == policy_id
        )


def read(client: OktaClient) -> Snapshot:
    """Read the org once (policies of both kinds, their rules, apps, groups)."""
    policies = [
        *policies_api.list_policies(client, "OKTA_SIGN_ON"),
        *policies_api.list_policies(client, "ACCESS_POLICY"),
    ]
    rules = {str(p["id"]): policies_api.list_rules(client, str(p["id"])) for p in policies}
    apps = list(apps_api.list_apps(client))
    groups = list(client.paginate("/api/v1/groups"))
    view = org_view_from(policies, rules, apps, {}, groups=groups)
    return Snapshot(tuple(policies), rules, tuple(apps), tuple(groups), view)


@dataclass(frozen=True)
class Offer:
    """One cohort that is offered the post-auth prompt on one app, and how often."""

    app_id: str
    app_label: str
    cohort: Cohort
    cohort_label: str
    frequency: str | None
    rule: str
    policy: str


def offers(snapshot: Snapshot, app_id: str) -> list[Offer]:
    """Every cohort that may see the post-auth prompt on ``app_id`` (any possibility)."""
    found: list[Offer] = []
    for cohort in cohorts_for(snapshot.view, app_id):
        outcome = evaluate(snapshot.view, cohort, app_id)
        for rule in outcome.app_rules:
            if rule.kmsi_post_auth == "ALLOWED":
                found.append(
                    Offer(
                        app_id,
                        snapshot.view.app_labels.get(app_id, app_id),
                        cohort,
                        outcome.cohort_label,
                        rule.kmsi_prompt_frequency,
                        str(rule.rule_name),
                        str(rule.policy_name),
                    )
                )
                break
    return found


def everyone_else_offer(snapshot: Snapshot, app_id: str) -> Offer | None:
    """The offer to everyone else (members of Everyone in no named group), or None."""
    return next((o for o in offers(snapshot, app_id) if o.cohort == EVERYONE_ELSE), None)


def _strip(node: JsonValue) -> JsonValue:
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k not in _VOLATILE}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def comparable_state(client: OktaClient) -> JsonObject:
    """The org's policies, rules, app assignments and sign-in pages, without timestamps.

    Two equal states mean the same sign-in for everyone: what rolling back is compared on.
    """
    snap = read(client)
    pages: JsonObject = {}
    for brand in brands_api.list_brands(client):
        brand_id = str(brand["id"])
        pages[brand_id] = _strip(brands_api.get_customized_sign_in_page(client, brand_id))
    return {
        "policies": {str(p["id"]): _strip(p) for p in snap.policies},
        "rules": {pid: {str(r["id"]): _strip(r) for r in rs} for pid, rs in snap.rules.items()},
        "app_policy": dict[str, JsonValue](sorted(snap.view.app_policy.items())),
        "sign_in_pages": pages,
    }
