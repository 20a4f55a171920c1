"""Policies and policy rules: ``/api/v1/policies`` (scopes okta.policies.read/.manage).

PUT is a full replace: pass the whole object (read, modify, write).
Creating a policy sends no ``activate`` parameter: Identity Engine takes the
status from the body (the parameter is Classic-only).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from kmsi_lib import errors
from kmsi_lib.okta.resources._util import as_dict, only_match, seg

if TYPE_CHECKING:
    from kmsi_lib.okta.client import OktaClient

__all__ = [
    "activate_policy",
    "activate_rule",
    "create_policy",
    "create_rule",
    "deactivate_policy",
    "deactivate_rule",
    "delete_policy",
    "delete_rule",
    "find_policy_by_name",
    "find_rule_by_name",
    "get_policy",
    "get_rule",
    "list_policies",
    "list_policy_app_ids",
    "list_rules",
    "replace_policy",
    "replace_rule",
    "simulate",
]

BASE = "/api/v1/policies"


def list_policies(
    c: OktaClient, type: str, *, status: str | None = None, q: str | None = None
) -> list[dict[str, Any]]:
    """Every policy of ``type`` (e.g. ``OKTA_SIGN_ON``, ``ACCESS_POLICY``)."""
    params: dict[str, str] = {"type": type}
    if status:
        params["status"] = status
    if q:
        params["q"] = q
    return list(c.paginate(BASE, params))


def find_policy_by_name(c: OktaClient, type: str, name: str) -> dict[str, Any] | None:
    """The policy of ``type`` named exactly ``name`` (case-sensitive), or None.

    ``q`` is only a prefix filter on the server; the exact comparison is ours.
    """
    matches = [p for p in list_policies(c, type, q=name) if p.get("name") == name]
    return only_match(matches, f"{name!r} ({type} policy)")


def get_policy(c: OktaClient, policy_id: str) -> dict[str, Any]:
    """A policy by id."""
    return as_dict(c.get_json(f"{BASE}/{seg(policy_id)}"), "a policy")


def create_policy(c: OktaClient, body: dict[str, Any]) -> dict[str, Any]:
    """POST a new policy. Not retried after an ambiguous failure: look it up by name."""
    return as_dict(c.request("POST", BASE, json=body).json(), "a created policy")


def replace_policy(c: OktaClient, policy_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Replace a policy (PUT is a full replace: send the whole object)."""
    return as_dict(
        c.request("PUT", f"{BASE}/{seg(policy_id)}", json=body).json(), "a replaced policy"
    )


def delete_policy(c: OktaClient, policy_id: str) -> None:
    """Delete a policy."""
    c.request("DELETE", f"{BASE}/{seg(policy_id)}")


def activate_policy(c: OktaClient, policy_id: str) -> None:
    """Activate a policy (safe to repeat, so retried)."""
    c.request("POST", f"{BASE}/{seg(policy_id)}/lifecycle/activate", idempotent=True)


def deactivate_policy(c: OktaClient, policy_id: str) -> None:
    """Deactivate a policy (safe to repeat, so retried)."""
    c.request("POST", f"{BASE}/{seg(policy_id)}/lifecycle/deactivate", idempotent=True)


def list_rules(c: OktaClient, policy_id: str) -> list[dict[str, Any]]:
    """Every rule of a policy, in Okta's order."""
    return list(c.paginate(f"{BASE}/{seg(policy_id)}/rules"))


def find_rule_by_name(c: OktaClient, policy_id: str, name: str) -> dict[str, Any] | None:
    """The rule of the policy named exactly ``name`` (case-sensitive), or None."""
    matches = [r for r in list_rules(c, policy_id) if r.get("name") == name]
    return only_match(matches, f"{name!r} (rule of policy {policy_id})")


def get_rule(c: OktaClient, policy_id: str, rule_id: str) -> dict[str, Any]:
    """One rule of a policy."""
    return as_dict(c.get_json(f"{BASE}/{seg(policy_id)}/rules/{seg(rule_id)}"), "a rule")


def create_rule(
    c: OktaClient, policy_id: str, body: dict[str, Any], *, activate: bool = True
) -> dict[str, Any]:
    """POST a new rule (``activate`` sent explicitly). Not retried after an ambiguous failure."""
    response = c.request(
        "POST",
        f"{BASE}/{seg(policy_id)}/rules",
        params={"activate": "true" if activate else "false"},
        json=body,
    )
    return as_dict(response.json(), "a created rule")


def replace_rule(
    c: OktaClient, policy_id: str, rule_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    """Replace a rule (PUT is a full replace: send the whole object)."""
    response = c.request("PUT", f"{BASE}/{seg(policy_id)}/rules/{seg(rule_id)}", json=body)
    return as_dict(response.json(), "a replaced rule")


def delete_rule(c: OktaClient, policy_id: str, rule_id: str) -> None:
    """Delete a rule."""
    c.request("DELETE", f"{BASE}/{seg(policy_id)}/rules/{seg(rule_id)}")


def activate_rule(c: OktaClient, policy_id: str, rule_id: str) -> None:
    """Activate a rule (safe to repeat, so retried)."""
    c.request(
        "POST", f"{BASE}/{seg(policy_id)}/rules/{seg(rule_id)}/lifecycle/activate", idempotent=True
    )


def deactivate_rule(c: OktaClient, policy_id: str, rule_id: str) -> None:
    """Deactivate a rule (safe to repeat, so retried)."""
    c.request(
        "POST",
        f"{BASE}/{seg(policy_id)}/rules/{seg(rule_id)}/lifecycle/deactivate",
        idempotent=True,
    )


def list_policy_app_ids(c: OktaClient, policy_id: str) -> list[str]:
    """Ids of the apps mapped to an app sign-in policy (from ``/mappings``)."""
    ids: list[str] = []
    for mapping in c.paginate(f"{BASE}/{seg(policy_id)}/mappings"):
        href = (((mapping.get("_links") or {}).get("application") or {}).get("href")) or ""
        app_id = href.rstrip("/").rpartition("/apps/")[2]
        if app_id and "/" not in app_id:
            ids.append(app_id)
    return ids


def simulate(
    c: OktaClient,
    app_id: str,
    *,
    user_id: str | None = None,
    group_ids: Sequence[str] | None = None,
    policy_types: Sequence[str] | None = None,
    expand: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Okta's policy simulation (``POST /api/v1/policies/simulate``) for one app.

    The policy context is one user (``user_id``, with the groups Okta knows for
    them) or a member of ``group_ids``, never both. ``policy_types`` narrows the
    answer (e.g. ``("OKTA_SIGN_ON", "ACCESS_POLICY")``; None: every type Okta
    simulates); ``expand`` adds ``EVALUATED`` and/or ``RULE``. Returns one
    evaluation per policy type, each with ``policyType``, ``result``,
    ``undefined`` and ``evaluated``. Okta's guide and its example answer
    ``{"evaluation": [...]}`` while the schema says a bare array: both are read.
    It reads only, so it is retried like a GET.
    """
    if user_id is not None and group_ids is not None:
        raise errors.ParameterError(
            "policyContext", "a simulation takes a user or groups, not both"
        )
    context: dict[str, Any] = {}
    if user_id is not None:
        context["user"] = {"id": user_id}
    if group_ids is not None:
        context["groups"] = {"ids": list(group_ids)}
    body: dict[str, Any] = {"appInstance": app_id, "policyContext": context}
    if policy_types is not None:
        body["policyTypes"] = list(policy_types)
    params = {"expand": ",".join(expand)} if expand else None
    answer = c.request("POST", f"{BASE}/simulate", params=params, json=body, idempotent=True)
    found = answer.json()
    if isinstance(found, dict) and isinstance(found.get("evaluation"), list):
        found = found["evaluation"]
    if not isinstance(found, list) or not all(isinstance(e, dict) for e in found):
        raise errors.KmsiError(
            f"Okta returned {type(found).__name__} for a policy simulation,"
            " expected a list of evaluations."
        )
    return found
