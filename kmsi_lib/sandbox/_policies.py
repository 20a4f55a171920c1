"""Policies, policy rules and policy mappings (``/api/v1/policies``).

Fully modelled: ``OKTA_SIGN_ON`` (global session policy) with ``SIGN_ON`` rules and
``ACCESS_POLICY`` (app sign-in policy) with ``ACCESS_POLICY`` rules. Other policy
types are listable and readable. Defaults and normalisation follow the recorded
responses (docs/OKTA-API.md §7.2, §7.3, §13.1).
"""

from __future__ import annotations

from collections.abc import Iterable

from . import _apps
from ._common import (
    Ctx,
    Reply,
    carry_future_fields,
    clone,
    cursor_start,
    get_or_404,
    link,
    opt_bool,
    opt_duration,
    opt_enum,
    opt_int,
    opt_list,
    opt_obj,
    opt_str,
    paginate,
    req_str,
    self_link_only,
)
from ._errors import ApiError, not_found, validation
from ._ids import PREFIXES, timestamp
from ._state import Json, OrgState

POLICY_TYPES = (
    "ACCESS_POLICY",
    "ENTITY_RISK",
    "IDP_DISCOVERY",
    "MFA_ENROLL",
    "OKTA_SIGN_ON",
    "PASSWORD",
    "POST_AUTH_SESSION",
    "PROFILE_ENROLLMENT",
    "DEVICE_SIGNAL_COLLECTION",
    "SESSION_VIOLATION_DETECTION",
    "CLIENT_UPDATE",
    "IDENTITY_CLAIM_SOURCING",
)
# Types the sandbox can create and whose rules it models.
WRITABLE_TYPES = ("OKTA_SIGN_ON", "ACCESS_POLICY")
RULE_TYPE = {
    "OKTA_SIGN_ON": "SIGN_ON",
    "ACCESS_POLICY": "ACCESS_POLICY",
    "PASSWORD": "PASSWORD",
    "MFA_ENROLL": "MFA_ENROLL",
}
RULE_PREFIX = {
    "OKTA_SIGN_ON": "0pr",
    "ACCESS_POLICY": "rul",
    "PASSWORD": "0pr",
    "MFA_ENROLL": "mpr",
}

# Policies whose conditions are always null: app sign-in policies (their rules carry the
# conditions) and profile enrollment ("Policy conditions aren't supported for this policy
# type", ProfileEnrollmentPolicy in the spec).
CONDITIONLESS_TYPES = ("ACCESS_POLICY", "PROFILE_ENROLLMENT")

ACCESS_MAX_RULES = 100
ACCESS_CATCH_ALL_PRIORITY = 99
ACCESS_LAST_SLOT = 98  # highest priority number a non-system ACCESS_POLICY rule can hold

SIGN_ON_CONDITIONS = ("people", "network", "authContext", "identityProvider", "risk", "riskScore")
ACCESS_CONDITIONS = (
    "people",
    "network",
    "device",
    "platform",
    "elCondition",
    "riskScore",
    "userType",
    "risk",
)


# ---- lookups -------------------------------------------------------------------------------


def get_policy_or_404(state: OrgState, policy_id: str) -> Json:
    return get_or_404(state.policies, policy_id, "Policy")


def get_rule_or_404(state: OrgState, policy_id: str, rule_id: str) -> Json:
    return get_or_404(state.rules.get(policy_id, {}), rule_id, "PolicyRule")


def default_access_policy(state: OrgState) -> Json | None:
    """The org's default app sign-in policy ("Any two factors" in a new org)."""
    for policy in state.policies.values():
        if (
            policy["type"] == "ACCESS_POLICY"
            and policy["system"]
            and policy.get("resourceType", "APP") == "APP"
        ):
            return policy
    return None


def is_read_only(policy: Json) -> bool:
    return bool(policy.get("resourceType") == "END_USER_ACCOUNT_MANAGEMENT")


# ---- stored records (keys in the order Okta returns them) ---------------------------------


def new_policy(
    state: OrgState,
    ptype: str,
    name: str,
    *,
    now: str,
    status: str = "ACTIVE",
    description: str | None = None,
    priority: int = 1,
    system: bool = False,
    conditions: Json | None = None,
) -> Json:
    """Store a policy of ``ptype`` with no rules yet; the caller places it."""
    policy: Json = {"id": state.ids.new(PREFIXES[ptype]), "status": status, "name": name}
    if description is not None:
        policy["description"] = description
    policy.update(
        {
            "priority": priority,
            "system": system,
            "conditions": conditions,
            "created": now,
            "lastUpdated": now,
            "type": ptype,
        }
    )
    state.policies[policy["id"]] = policy
    state.rules[policy["id"]] = {}
    return policy


def new_rule(
    state: OrgState,
    policy: Json,
    name: str,
    *,
    now: str,
    priority: int,
    conditions: Json | None,
    actions: Json,
    system: bool = False,
    status: str = "ACTIVE",
) -> Json:
    """Store a rule of ``policy`` (of its rule type); the caller places it."""
    rule: Json = {
        "id": state.ids.new(RULE_PREFIX[policy["type"]]),
        "status": status,
        "name": name,
        "priority": priority,
        "created": now,
        "lastUpdated": now,
        "system": system,
        "conditions": conditions,
        "actions": actions,
        "type": RULE_TYPE[policy["type"]],
    }
    state.rules.setdefault(policy["id"], {})[rule["id"]] = rule
    return rule


# ---- rendering ----------------------------------------------------------------------------


def render_policy(ctx: Ctx, policy: Json, *, embedded: bool = False) -> Json:
    out = clone(policy)
    ptype = out.pop("type")
    href = ctx.url(f"/api/v1/policies/{policy['id']}")
    links: Json = {}
    if is_read_only(policy):
        # the Okta account management policy: readable, its rules editable, nothing else
        links["self"] = link(href, ["GET"])
        links["rules"] = link(f"{href}/rules", ["GET", "POST"])
        out["_links"] = links
        if embedded:
            out["_embedded"] = {"resourceType": policy["resourceType"]}
        out.pop("resourceType", None)
        out["type"] = ptype
        return out
    if not policy["system"]:
        links["mappings"] = link(f"{href}/mappings", ["GET", "POST"])
        links["self"] = link(href, ["GET", "PUT", "DELETE"])
    else:
        links["self"] = link(href, ["GET", "PUT"])
    links["rules"] = link(f"{href}/rules", ["GET", "POST"])
    if not policy["system"]:
        verb = "deactivate" if policy["status"] == "ACTIVE" else "activate"
        links[verb] = link(f"{href}/lifecycle/{verb}", ["POST"])
    out["_links"] = links
    if embedded and ptype == "ACCESS_POLICY":
        out["_embedded"] = {"resourceType": policy.get("resourceType", "APP")}
    out.pop("resourceType", None)
    out["type"] = ptype
    return out


def render_rule(ctx: Ctx, policy_id: str, rule: Json) -> Json:
    out = clone(rule)
    rtype = out.pop("type")
    href = ctx.url(f"/api/v1/policies/{policy_id}/rules/{rule['id']}")
    links: Json = {}
    if rule["system"]:
        links["self"] = link(href, ["GET", "PUT"])
    else:
        links["self"] = link(href, ["GET", "PUT", "DELETE"])
        verb = "deactivate" if rule["status"] == "ACTIVE" else "activate"
        links[verb] = link(f"{href}/lifecycle/{verb}", ["POST"])
    out["_links"] = links
    out["type"] = rtype
    if not ctx.state.kmsi_feature and out.get("actions"):
        # without the feature the org has no post-auth KMSI to report
        out["actions"].get("appSignOn", {}).pop("keepMeSignedIn", None)
    return out


# ---- priorities ----------------------------------------------------------------------------


def _place(items: list[Json], moving: Json, requested: int | None) -> None:
    """Numbered 1..n (policies, SIGN_ON rules): ``moving`` takes the requested slot.

    ``items`` excludes ``moving``; the holder of the slot and those after it move
    down by one, and numbers are then closed up to 1..n. No priority means last.
    """
    ordered = sorted(items, key=lambda r: r["priority"])
    last = len(ordered) + 1
    slot = last if requested is None else max(1, min(requested, last))
    ordered.insert(slot - 1, moving)
    for n, item in enumerate(ordered):
        item["priority"] = n + 1


def _place_sparse(others: list[Json], moving: Json, requested: int | None) -> None:
    """ACCESS_POLICY rules: numbers stay as sent; a taken number pushes its run down.

    Recorded (Rules_keep_me_signed_in #61-#67): re-sending a rule's own priority
    counts its old slot as taken, so the rules packed right behind it move down
    by one; sending a free number moves nothing.
    """
    old = moving.pop("_old_priority", None)
    if requested is None:
        requested = max((r["priority"] for r in others), default=-1) + 1
    requested = min(requested, ACCESS_LAST_SLOT)
    taken = {r["priority"] for r in others}
    if old is not None:
        taken.add(old)
    end = requested
    while end in taken:
        end += 1
    if end > requested:
        for r in others:
            if requested <= r["priority"] < end:
                r["priority"] += 1
    moving["priority"] = requested
    if any(r["priority"] > ACCESS_LAST_SLOT for r in others):
        # no room left below the catch-all rule: close the gaps, keeping the order
        merged = sorted([*others, moving], key=lambda r: (r["priority"], r is not moving))
        for n, r in enumerate(merged):
            r["priority"] = n


def _place_dense(
    others: list[Json], system: list[Json], moving: Json, requested: int | None
) -> None:
    """Policies and SIGN_ON rules: ``moving`` placed among ``others``, the system ones last."""
    if moving["system"]:
        moving["priority"] = len(others) + 1
        return
    _place(others, moving, requested)
    for n, item in enumerate(system):
        item["priority"] = len(others) + 2 + n


def _renumber(items: Iterable[Json]) -> None:
    """Close numbers up to 1..n after a delete, the system ones last."""
    for n, item in enumerate(sorted(items, key=lambda r: (r["system"], r["priority"]))):
        item["priority"] = n + 1


def _ordered_policies(state: OrgState, ptype: str) -> list[Json]:
    return sorted(
        (p for p in state.policies.values() if p["type"] == ptype),
        key=lambda p: (p["system"], p["priority"]),
    )


def _place_policy(state: OrgState, policy: Json, requested: int | None) -> None:
    if policy["type"] == "ACCESS_POLICY":
        policy["priority"] = 1  # priority means nothing between app sign-in policies
        return
    ordered = _ordered_policies(state, policy["type"])
    _place_dense(
        [p for p in ordered if p["id"] != policy["id"] and not p["system"]],
        [p for p in ordered if p["system"]],
        policy,
        requested,
    )


def _place_rule(state: OrgState, policy: Json, rule: Json, requested: int | None) -> None:
    rules = state.rules.setdefault(policy["id"], {}).values()
    others = [r for r in rules if r["id"] != rule["id"] and not r["system"]]
    if policy["type"] != "ACCESS_POLICY":
        _place_dense(others, [r for r in rules if r["system"]], rule, requested)
    elif rule["system"]:
        rule["priority"] = ACCESS_CATCH_ALL_PRIORITY
    else:
        _place_sparse(others, rule, requested)


# ---- policy bodies -----------------------------------------------------------------------


def _policy_conditions(state: OrgState, ptype: str, body: Json) -> Json | None:
    if ptype in CONDITIONLESS_TYPES:
        return None
    cond = opt_obj(body, "conditions", "conditions")
    if cond is None:
        everyone = next((g["id"] for g in state.groups.values() if g["type"] == "BUILT_IN"), None)
        return {"people": {"groups": {"include": [everyone] if everyone else []}}}
    people = opt_obj(cond, "people", "conditions.people") or {}
    groups = opt_obj(people, "groups", "conditions.people.groups") or {}
    include = opt_list(groups, "include", "conditions.people.groups.include") or []
    for gid in include:
        if gid not in state.groups:
            raise validation("conditions.people.groups.include", f"Group not found: {gid}")
    out_groups: Json = {"include": include}
    exclude = opt_list(groups, "exclude", "conditions.people.groups.exclude")
    if exclude is not None:
        out_groups["exclude"] = exclude
    return {"people": {"groups": out_groups}}


def _name(body: Json) -> str:
    """The ``name`` of a policy or rule body: required, at most 255 characters."""
    name = req_str(body, "name", "name")
    if len(name) > 255:
        raise validation("name", "The name must be at most 255 characters.")
    return name


def _policy_fields(state: OrgState, body: Json, ptype: str) -> Json:
    name = _name(body)
    description = opt_str(body, "description", "description")
    fields: Json = {"name": name}
    if description is not None:
        fields["description"] = description
    fields["conditions"] = _policy_conditions(state, ptype, body)
    return fields


def _check_unique_policy_name(state: OrgState, ptype: str, name: str, own_id: str | None) -> None:
    for p in state.policies.values():
        if p["type"] == ptype and p["name"] == name and p["id"] != own_id:
            raise validation("name", "A policy with this name already exists.")


# ---- policy handlers ---------------------------------------------------------------------


# largest page of GET /api/v1/policies?limit=N (the spec gives none; 200 as for other lists)
POLICIES_PAGE_MAX = 200


def list_policies(ctx: Ctx) -> Reply:
    ptype = ctx.arg("type")
    if ptype not in POLICY_TYPES:
        raise ApiError("E0000002", "Invalid policy type specified")
    status = ctx.arg("status")
    if status is not None and status not in ("ACTIVE", "INACTIVE"):
        raise validation("status", f"'{status}' is not one of ACTIVE, INACTIVE.")
    q = (ctx.arg("q") or "").lower()
    items = _ordered_policies(ctx.state, ptype)
    if ptype == "ACCESS_POLICY":
        items = sorted(items, key=lambda p: p["id"])
    items = [
        p
        for p in items
        if (status is None or p["status"] == status) and p["name"].lower().startswith(q)
    ]
    if ctx.arg("limit") is not None:
        # asked for pages: Link rel="self" and, while more follow, rel="next" with a cursor
        items, reply = paginate(ctx, items, POLICIES_PAGE_MAX, POLICIES_PAGE_MAX)
    else:
        # real orgs answer even 60+ app sign-in policies in one page with only rel="self"
        items = items[cursor_start(items, ctx.arg("after")) :]
        reply = self_link_only(ctx)
    reply.body = [render_policy(ctx, p, embedded=True) for p in items]
    return reply


def create_policy(ctx: Ctx) -> Reply:
    body = ctx.object_body()
    ptype = body.get("type")
    if not isinstance(ptype, str) or ptype not in POLICY_TYPES:
        raise validation("type", "Invalid policy type specified.")
    if ptype not in WRITABLE_TYPES:
        raise validation("type", f"The sandbox does not model creating {ptype} policies.")
    fields = _policy_fields(ctx.state, body, ptype)
    _check_unique_policy_name(ctx.state, ptype, fields["name"], None)
    status = opt_enum(body, "status", "status", ("ACTIVE", "INACTIVE"))
    if status is None:
        status = "INACTIVE" if not ctx.bool_arg("activate", True) else "ACTIVE"
    priority = opt_int(body, "priority", "priority", minimum=0)
    if ptype == "ACCESS_POLICY":
        count = sum(1 for p in ctx.state.policies.values() if p["type"] == "ACCESS_POLICY")
        if count >= 5000:
            raise validation("type", "An org can have at most 5000 app sign-in policies.")
    now = timestamp()
    policy = new_policy(
        ctx.state,
        ptype,
        fields["name"],
        now=now,
        status=status,
        description=fields.get("description"),
        conditions=fields["conditions"],
    )
    carry_future_fields(ctx.config, f"{ptype} policy", body, policy)
    _place_policy(ctx.state, policy, priority)
    if ptype == "ACCESS_POLICY":
        add_catch_all_rule(ctx.state, policy, now)
    return Reply(200, render_policy(ctx, policy))


def add_catch_all_rule(state: OrgState, policy: Json, now: str) -> Json:
    return new_rule(
        state,
        policy,
        "Catch-all Rule",
        now=now,
        priority=ACCESS_CATCH_ALL_PRIORITY,
        system=True,
        conditions=None,
        actions={
            "appSignOn": {
                "access": "ALLOW",
                "verificationMethod": {
                    "factorMode": "2FA",
                    "type": "ASSURANCE",
                    "reauthenticateIn": "PT12H",
                    "constraints": [{"possession": {"required": True, "deviceBound": "REQUIRED"}}],
                },
                "keepMeSignedIn": {"postAuth": "NOT_ALLOWED"},
            }
        },
    )


def get_policy(ctx: Ctx, policy_id: str) -> Reply:
    return Reply(200, render_policy(ctx, get_policy_or_404(ctx.state, policy_id)))


def replace_policy(ctx: Ctx, policy_id: str) -> Reply:
    policy = get_policy_or_404(ctx.state, policy_id)
    body = ctx.object_body()
    ptype = body.get("type", policy["type"])
    if ptype != policy["type"]:
        raise validation("type", "The type of a policy cannot be changed.")
    if policy["type"] not in WRITABLE_TYPES:
        raise validation("type", f"The sandbox does not model replacing {ptype} policies.")
    if is_read_only(policy):
        raise ApiError(ctx.config.system_delete_error)
    fields = _policy_fields(ctx.state, body, ptype)
    _check_unique_policy_name(ctx.state, ptype, fields["name"], policy_id)
    status = opt_enum(body, "status", "status", ("ACTIVE", "INACTIVE"))
    priority = opt_int(body, "priority", "priority", minimum=0)
    if policy["system"] and status == "INACTIVE":
        raise ApiError(ctx.config.system_delete_error)
    policy["name"] = fields["name"]
    policy.pop("description", None)
    if "description" in fields:
        # keep the recorded key order: description follows name
        rest = {k: policy.pop(k) for k in list(policy) if k not in ("id", "status", "name")}
        policy["description"] = fields["description"]
        policy.update(rest)
    policy["conditions"] = fields["conditions"]
    if status is not None:
        policy["status"] = status
    if priority is not None and not policy["system"]:
        _place_policy(ctx.state, policy, priority)
    carry_future_fields(ctx.config, f"{ptype} policy", body, policy)
    policy["lastUpdated"] = timestamp()
    return Reply(200, render_policy(ctx, policy))


def delete_policy(ctx: Ctx, policy_id: str) -> Reply:
    policy = get_policy_or_404(ctx.state, policy_id)
    if policy["system"] or is_read_only(policy):
        raise ApiError(ctx.config.system_delete_error)
    if any(m["policyId"] == policy_id for m in ctx.state.app_policy.values()):
        raise validation(
            "id", "The policy is assigned to one or more apps; assign them another policy first."
        )
    del ctx.state.policies[policy_id]
    ctx.state.rules.pop(policy_id, None)
    if policy["type"] != "ACCESS_POLICY":  # priority means nothing between app sign-in policies
        _renumber(_ordered_policies(ctx.state, policy["type"]))
    return Reply(204)


def _lifecycle(ctx: Ctx, obj: Json, action: str, protected: bool) -> Reply:
    """``POST .../lifecycle/activate|deactivate``; a ``protected`` object stays active."""
    if action not in ("activate", "deactivate"):
        raise not_found(action, "Lifecycle")
    if protected and action == "deactivate":
        raise ApiError(ctx.config.system_delete_error)
    status = "ACTIVE" if action == "activate" else "INACTIVE"
    if obj["status"] != status:
        obj["status"] = status
        obj["lastUpdated"] = timestamp()
    return Reply(204)


def policy_lifecycle(ctx: Ctx, policy_id: str, action: str) -> Reply:
    policy = get_policy_or_404(ctx.state, policy_id)
    return _lifecycle(ctx, policy, action, policy["system"] or is_read_only(policy))


# ---- mappings and apps of a policy ----------------------------------------------------------


def _render_mapping(ctx: Ctx, policy_id: str, app_id: str, mapping_id: str) -> Json:
    return {
        "id": mapping_id,
        "_links": {
            "application": link(ctx.url(f"/api/v1/apps/{app_id}"), ["GET", "PUT", "DELETE"]),
            "policy": link(ctx.url(f"/api/v1/policies/{policy_id}"), ["GET", "PUT", "DELETE"]),
            "self": link(
                ctx.url(f"/api/v1/policies/{policy_id}/mappings/{mapping_id}"), ["GET", "DELETE"]
            ),
        },
    }


def _mapped_apps(state: OrgState, policy_id: str) -> list[tuple[str, str]]:
    pairs = [
        (app_id, m["mappingId"])
        for app_id, m in state.app_policy.items()
        if m["policyId"] == policy_id
    ]
    return sorted(pairs)


def list_mappings(ctx: Ctx, policy_id: str) -> Reply:
    get_policy_or_404(ctx.state, policy_id)
    body = [_render_mapping(ctx, policy_id, a, m) for a, m in _mapped_apps(ctx.state, policy_id)]
    return Reply(200, body)


def get_mapping(ctx: Ctx, policy_id: str, mapping_id: str) -> Reply:
    get_policy_or_404(ctx.state, policy_id)
    for app_id, m in _mapped_apps(ctx.state, policy_id):
        if m == mapping_id:
            return Reply(200, _render_mapping(ctx, policy_id, app_id, m))
    raise not_found(mapping_id, "PolicyMapping")


def create_mapping(ctx: Ctx, policy_id: str) -> Reply:
    policy = get_policy_or_404(ctx.state, policy_id)
    body = ctx.object_body()
    opt_enum(body, "resourceType", "resourceType", ("ACCESS_POLICY",))
    resource_id = req_str(body, "resourceId", "resourceId")
    if policy["type"] != "DEVICE_SIGNAL_COLLECTION":
        raise validation(
            "resourceId",
            "Only a device signal collection policy can be mapped to an app sign-in policy.",
        )
    target = ctx.state.policies.get(resource_id)
    if target is None or target["type"] != "ACCESS_POLICY":
        raise not_found(resource_id, "Policy")
    raise validation("resourceId", "Device signal collection mappings are not modelled.")


def delete_mapping(ctx: Ctx, policy_id: str, mapping_id: str) -> Reply:
    get_policy_or_404(ctx.state, policy_id)
    for app_id, m in _mapped_apps(ctx.state, policy_id):
        if m == mapping_id:
            fallback = default_access_policy(ctx.state)
            if fallback is None or fallback["id"] == policy_id:
                raise validation("id", "An app must keep an authentication policy.")
            _apps.assign_policy(ctx.state, app_id, fallback["id"])
            return Reply(204)
    raise not_found(mapping_id, "PolicyMapping")


def list_policy_apps(ctx: Ctx, policy_id: str) -> Reply:
    get_policy_or_404(ctx.state, policy_id)
    apps = [
        _apps.render_app(ctx, ctx.state.apps[a])
        for a, _ in _mapped_apps(ctx.state, policy_id)
        if a in ctx.state.apps
    ]
    return Reply(200, apps)


# ---- rule bodies ---------------------------------------------------------------------------


def _people(cond: Json) -> Json:
    people = opt_obj(cond, "people", "conditions.people") or {}
    out: Json = {}
    users = opt_obj(people, "users", "conditions.people.users") or {}
    out_users: Json = {}
    include = opt_list(users, "include", "conditions.people.users.include")
    if include is not None:
        out_users["include"] = include
    out_users["exclude"] = opt_list(users, "exclude", "conditions.people.users.exclude") or []
    out["users"] = out_users
    groups = opt_obj(people, "groups", "conditions.people.groups")
    if groups is not None:
        out_groups: Json = {}
        for key in ("include", "exclude"):
            value = opt_list(groups, key, f"conditions.people.groups.{key}")
            if value is not None:
                out_groups[key] = value
        out["groups"] = out_groups
    return out


def _network(cond: Json, default: bool) -> Json | None:
    network = opt_obj(cond, "network", "conditions.network")
    if network is None:
        return {"connection": "ANYWHERE"} if default else None
    connection = (
        opt_enum(network, "connection", "conditions.network.connection", ("ANYWHERE", "ZONE"))
        or "ANYWHERE"
    )
    out: Json = {"connection": connection}
    include = opt_list(network, "include", "conditions.network.include")
    exclude = opt_list(network, "exclude", "conditions.network.exclude")
    if connection == "ZONE":
        if not include and not exclude:
            raise validation("conditions.network", "A ZONE connection needs include or exclude.")
        if include:
            out["include"] = include
        if exclude:
            out["exclude"] = exclude
    return out


def _risk_score(state: OrgState, cond: Json) -> Json | None:
    risk_score = opt_obj(cond, "riskScore", "conditions.riskScore")
    if not state.org.get("riskScoring", False):
        if risk_score is not None or "risk" in cond:
            kind = "riskScore" if risk_score is not None else "risk"
            raise ApiError(
                "E0000001",
                "conditions",
                causes=[{"errorSummary": f"conditions: Invalid condition type specified: {kind}."}],
            )
        return None
    level = "ANY"
    if risk_score is not None:
        level = (
            opt_enum(
                risk_score, "level", "conditions.riskScore.level", ("ANY", "LOW", "MEDIUM", "HIGH")
            )
            or "ANY"
        )
    return {"level": level}


def _check_condition_types(cond: Json, allowed: tuple[str, ...]) -> None:
    for key in cond:
        if key not in allowed:
            raise ApiError(
                "E0000001",
                "conditions",
                causes=[{"errorSummary": f"conditions: Invalid condition type specified: {key}."}],
            )


def _sign_on_conditions(state: OrgState, body: Json) -> Json:
    cond = opt_obj(body, "conditions", "conditions") or {}
    _check_condition_types(cond, SIGN_ON_CONDITIONS)
    out: Json = {"people": _people(cond), "network": _network(cond, True)}
    auth = opt_obj(cond, "authContext", "conditions.authContext") or {}
    out["authContext"] = {
        "authType": opt_enum(
            auth, "authType", "conditions.authContext.authType", ("ANY", "LDAP_INTERFACE", "RADIUS")
        )
        or "ANY"
    }
    risk_score = _risk_score(state, cond)
    if risk_score is not None:
        risk = opt_obj(cond, "risk", "conditions.risk") or {}
        behaviors = opt_list(risk, "behaviors", "conditions.risk.behaviors") or []
        out["risk"] = {"behaviors": behaviors}
        out["riskScore"] = risk_score
    idp = opt_obj(cond, "identityProvider", "conditions.identityProvider") or {}
    provider = (
        opt_enum(
            idp, "provider", "conditions.identityProvider.provider", ("ANY", "OKTA", "SPECIFIC_IDP")
        )
        or "ANY"
    )
    out_idp: Json = {"provider": provider}
    idp_ids = opt_list(idp, "idpIds", "conditions.identityProvider.idpIds")
    if provider == "SPECIFIC_IDP":
        if not idp_ids:
            raise validation("conditions.identityProvider.idpIds", "Name at least one IdP.")
        out_idp["idpIds"] = idp_ids
    out["identityProvider"] = out_idp
    return out


def _action(body: Json, key: str) -> Json:
    """``actions.<key>`` of a rule body; both objects are required."""
    actions = opt_obj(body, "actions", "actions")
    if actions is None:
        raise validation("actions", "The field cannot be left blank.")
    action = opt_obj(actions, key, f"actions.{key}")
    if action is None:
        raise validation(f"actions.{key}", "The field cannot be left blank.")
    return action


def _sign_on_actions(ctx: Ctx, body: Json, existing: Json | None) -> Json:
    signon = _action(body, "signon")
    p = "actions.signon"
    access = opt_enum(signon, "access", f"{p}.access", ("ALLOW", "DENY")) or "ALLOW"
    require = opt_bool(signon, "requireFactor", f"{p}.requireFactor") or False
    mode = opt_enum(
        signon, "factorPromptMode", f"{p}.factorPromptMode", ("ALWAYS", "DEVICE", "SESSION")
    )
    lifetime = opt_int(signon, "factorLifetime", f"{p}.factorLifetime", minimum=1)
    if require and mode is None:
        raise validation(f"{p}.factorPromptMode", "Required when requireFactor is true.")
    if require and mode == "SESSION" and lifetime is None:
        raise validation(f"{p}.factorLifetime", "Required when factorPromptMode is SESSION.")
    primary = opt_enum(
        signon, "primaryFactor", f"{p}.primaryFactor", ("PASSWORD_IDP", "PASSWORD_IDP_ANY_FACTOR")
    )
    remember = opt_bool(signon, "rememberDeviceByDefault", f"{p}.rememberDeviceByDefault")
    session = opt_obj(signon, "session", f"{p}.session") or {}
    persistent = opt_bool(session, "usePersistentCookie", f"{p}.session.usePersistentCookie")
    idle = opt_int(
        session,
        "maxSessionIdleMinutes",
        f"{p}.session.maxSessionIdleMinutes",
        minimum=1,
        maximum=ctx.config.max_session_idle_minutes,
    )
    life = opt_int(
        session,
        "maxSessionLifetimeMinutes",
        f"{p}.session.maxSessionLifetimeMinutes",
        minimum=0,
        maximum=ctx.config.max_session_lifetime_minutes,
    )
    out: Json = {"access": access, "requireFactor": require}
    if mode is not None:
        out["factorPromptMode"] = mode
    if lifetime is not None:
        out["factorLifetime"] = lifetime
    if ctx.state.identity_engine and access == "ALLOW":
        out["primaryFactor"] = primary or "PASSWORD_IDP_ANY_FACTOR"
    out["rememberDeviceByDefault"] = bool(remember)
    if existing is not None and existing.get("system"):
        current = existing["actions"]["signon"]["session"]["usePersistentCookie"]
        if persistent is not None and persistent != current:
            if ctx.config.default_rule_persistent_cookie == "reject":
                raise validation(
                    f"{p}.session.usePersistentCookie",
                    "This field is read-only on the default rule of the default policy.",
                )
        persistent = current
    out["session"] = {
        "usePersistentCookie": bool(persistent),
        "maxSessionIdleMinutes": 120 if idle is None else idle,
        "maxSessionLifetimeMinutes": 0 if life is None else life,
    }
    return {"signon": out}


def _platform(cond: Json) -> Json | None:
    platform = opt_obj(cond, "platform", "conditions.platform")
    if not platform:
        return None  # an empty platform condition is dropped, as recorded
    out: Json = {}
    for key in ("include", "exclude"):
        entries = opt_list(platform, key, f"conditions.platform.{key}", dict)
        cleaned = []
        for n, entry in enumerate(entries or []):
            where = f"conditions.platform.{key}[{n}]"
            item: Json = {
                "type": opt_enum(entry, "type", f"{where}.type", ("ANY", "DESKTOP", "MOBILE"))
                or "ANY"
            }
            os_ = opt_obj(entry, "os", f"{where}.os")
            if os_ is not None:
                os_out: Json = {
                    "type": opt_enum(
                        os_,
                        "type",
                        f"{where}.os.type",
                        ("ANY", "ANDROID", "CHROMEOS", "IOS", "MACOS", "OTHER", "WINDOWS"),
                    )
                    or "ANY"
                }
                expression = opt_str(os_, "expression", f"{where}.os.expression")
                if expression is not None:
                    os_out["expression"] = expression
                item["os"] = os_out
            cleaned.append(item)
        out[key] = cleaned
    if "include" in out and "exclude" not in out:
        out["exclude"] = []
    return out


def _access_conditions(state: OrgState, body: Json) -> Json:
    cond = opt_obj(body, "conditions", "conditions") or {}
    _check_condition_types(cond, ACCESS_CONDITIONS)
    out: Json = {"people": _people(cond)}
    network = _network(cond, False)
    if network is not None:
        out["network"] = network
    device = opt_obj(cond, "device", "conditions.device")
    if device is not None:
        registered = opt_bool(device, "registered", "conditions.device.registered")
        managed = opt_bool(device, "managed", "conditions.device.managed")
        if managed is not None and registered is not True:
            raise validation("conditions.device.managed", "A managed device must be registered.")
        out_device: Json = {}
        if registered is not None:
            out_device["registered"] = registered
        if managed is not None:
            out_device["managed"] = managed
        assurance = opt_obj(device, "assurance", "conditions.device.assurance")
        if assurance is not None:
            out_device["assurance"] = {
                "include": opt_list(assurance, "include", "conditions.device.assurance.include")
                or []
            }
        out["device"] = out_device
    platform = _platform(cond)
    if platform is not None:
        out["platform"] = platform
    el = opt_obj(cond, "elCondition", "conditions.elCondition")
    if el is not None:
        expression = opt_str(el, "condition", "conditions.elCondition.condition")
        if not expression:
            raise validation("conditions.elCondition.condition", "The expression is empty.")
        out["elCondition"] = {"condition": expression}
    risk_score = _risk_score(state, cond)
    if risk_score is not None:
        out["riskScore"] = risk_score
    user_type = opt_obj(cond, "userType", "conditions.userType") or {}
    out["userType"] = {
        "include": opt_list(user_type, "include", "conditions.userType.include") or [],
        "exclude": opt_list(user_type, "exclude", "conditions.userType.exclude") or [],
    }
    return out


CONSTRAINT_TYPES = (
    "SECURITY_KEY",
    "PHONE",
    "EMAIL",
    "PASSWORD",
    "SECURITY_QUESTION",
    "APP",
    "FEDERATED",
)
POSSESSION_ENUMS = (
    "deviceBound",
    "hardwareProtection",
    "phishingResistant",
    "userPresence",
    "userVerification",
)


def _constraint(obj: Json, where: str, possession: bool) -> Json:
    out: Json = {}
    excluded = opt_list(
        obj, "excludedAuthenticationMethods", f"{where}.excludedAuthenticationMethods", dict
    )
    required = opt_bool(obj, "required", f"{where}.required")
    out["required"] = (excluded is None) if required is None else required
    types = opt_list(obj, "types", f"{where}.types")
    if types is not None:
        for t in types:
            if t.upper() not in CONSTRAINT_TYPES:
                raise validation(f"{where}.types", f"'{t}' is not a known authenticator type.")
        out["types"] = types
    methods = opt_list(obj, "methods", f"{where}.methods")
    if methods is not None:
        out["methods"] = methods
    for key in ("authenticationMethods", "excludedAuthenticationMethods"):
        entries = opt_list(obj, key, f"{where}.{key}", dict)
        if entries is not None:
            for n, entry in enumerate(entries):
                req_str(entry, "key", f"{where}.{key}[{n}].key")
            out[key] = entries
    reauth = opt_duration(obj, "reauthenticateIn", f"{where}.reauthenticateIn")
    if reauth is not None:
        out["reauthenticateIn"] = reauth
    if possession:
        for key in POSSESSION_ENUMS:
            value = opt_enum(obj, key, f"{where}.{key}", ("OPTIONAL", "REQUIRED"))
            if value is not None:
                out[key] = value
        uvm = opt_list(obj, "userVerificationMethods", f"{where}.userVerificationMethods")
        if uvm is not None:
            out["userVerificationMethods"] = uvm
    return out


def _verification_method(app_sign_on: Json) -> Json:
    p = "actions.appSignOn.verificationMethod"
    vm = opt_obj(app_sign_on, "verificationMethod", p)
    if vm is None:
        return {"factorMode": "2FA", "type": "ASSURANCE", "reauthenticateIn": "PT12H"}
    vtype = opt_enum(vm, "type", f"{p}.type", ("ASSURANCE", "AUTH_METHOD_CHAIN", "ID_PROOFING"))
    vtype = vtype or "ASSURANCE"
    if vtype != "ASSURANCE":
        out_other = clone(vm)
        out_other["type"] = vtype
        return out_other
    out: Json = {
        "factorMode": opt_enum(vm, "factorMode", f"{p}.factorMode", ("1FA", "2FA")) or "2FA",
        "type": "ASSURANCE",
        "reauthenticateIn": opt_duration(vm, "reauthenticateIn", f"{p}.reauthenticateIn")
        or "PT12H",
    }
    inactivity = opt_duration(vm, "inactivityPeriod", f"{p}.inactivityPeriod")
    if inactivity is not None:
        out["inactivityPeriod"] = inactivity
    constraints = opt_list(vm, "constraints", f"{p}.constraints", dict)
    if constraints is not None:
        cleaned = []
        for n, c in enumerate(constraints):
            item: Json = {}
            for kind in ("knowledge", "possession"):
                sub = opt_obj(c, kind, f"{p}.constraints[{n}].{kind}")
                if sub is not None:
                    item[kind] = _constraint(
                        sub, f"{p}.constraints[{n}].{kind}", kind == "possession"
                    )
            cleaned.append(item)
        out["constraints"] = cleaned
    return out


def _access_actions(ctx: Ctx, body: Json) -> Json:
    app_sign_on = _action(body, "appSignOn")
    p = "actions.appSignOn"
    out: Json = {
        "access": opt_enum(app_sign_on, "access", f"{p}.access", ("ALLOW", "DENY")) or "ALLOW"
    }
    out["verificationMethod"] = _verification_method(app_sign_on)
    kmsi = opt_obj(app_sign_on, "keepMeSignedIn", f"{p}.keepMeSignedIn")
    if not ctx.state.kmsi_feature:
        if kmsi is not None:
            raise validation(
                f"{p}.keepMeSignedIn", "Keep Me Signed In is not available for this org."
            )
        return {"appSignOn": out}
    kmsi = kmsi or {}
    post_auth = (
        opt_enum(kmsi, "postAuth", f"{p}.keepMeSignedIn.postAuth", ("ALLOWED", "NOT_ALLOWED"))
        or "NOT_ALLOWED"
    )
    frequency = opt_duration(
        kmsi, "postAuthPromptFrequency", f"{p}.keepMeSignedIn.postAuthPromptFrequency"
    )
    out_kmsi: Json = {"postAuth": post_auth}
    if post_auth == "ALLOWED":
        # the spec's default is P30D, which its own response example writes as PT720H
        out_kmsi["postAuthPromptFrequency"] = frequency or "PT720H"
    out["keepMeSignedIn"] = out_kmsi
    return {"appSignOn": out}


def _rule_fields(ctx: Ctx, policy: Json, body: Json, existing: Json | None) -> Json:
    rtype = RULE_TYPE.get(policy["type"])
    if policy["type"] not in WRITABLE_TYPES or rtype is None:
        raise validation("type", f"The sandbox does not model rules of {policy['type']} policies.")
    given_type = body.get("type")
    if given_type is not None and given_type != rtype:
        raise validation("type", f"A {policy['type']} policy takes {rtype} rules.")
    name = _name(body)
    system = bool(existing and existing["system"])
    if rtype == "SIGN_ON":
        conditions: Json | None = _sign_on_conditions(ctx.state, body)
        actions = _sign_on_actions(ctx, body, existing)
    else:
        if system:
            if body.get("conditions") is not None:
                raise validation("conditions", "Conditions cannot be set on the catch-all rule.")
            conditions = None
        else:
            conditions = _access_conditions(ctx.state, body)
        actions = _access_actions(ctx, body)
    return {"name": name, "conditions": conditions, "actions": actions, "type": rtype}


def _rule_priority(policy: Json, body: Json) -> int | None:
    if policy["type"] == "ACCESS_POLICY":
        return opt_int(body, "priority", "priority", minimum=0, maximum=ACCESS_CATCH_ALL_PRIORITY)
    return opt_int(body, "priority", "priority", minimum=0)


def _check_unique_rule_name(state: OrgState, policy_id: str, name: str, own: str | None) -> None:
    for r in state.rules.get(policy_id, {}).values():
        if r["name"] == name and r["id"] != own:
            raise validation("name", "A rule with this name already exists in the policy.")


# ---- rule handlers ------------------------------------------------------------------------


def list_rules(ctx: Ctx, policy_id: str) -> Reply:
    policy = get_policy_or_404(ctx.state, policy_id)
    rules = sorted(ctx.state.rules.get(policy_id, {}).values(), key=lambda r: r["priority"])
    raw_limit = ctx.arg("limit")
    if raw_limit:
        try:
            rules = rules[: max(int(raw_limit), 0)]
        except ValueError as exc:
            raise validation("limit", "The limit must be an integer.") from exc
    return Reply(200, [render_rule(ctx, policy["id"], r) for r in rules])


def create_rule(ctx: Ctx, policy_id: str) -> Reply:
    policy = get_policy_or_404(ctx.state, policy_id)
    body = ctx.object_body()
    fields = _rule_fields(ctx, policy, body, None)
    priority = _rule_priority(policy, body)
    _check_unique_rule_name(ctx.state, policy_id, fields["name"], None)
    rules = ctx.state.rules.setdefault(policy_id, {})
    if policy["type"] == "ACCESS_POLICY" and len(rules) >= ACCESS_MAX_RULES:
        raise validation("priority", f"A policy can have at most {ACCESS_MAX_RULES} rules.")
    activate = ctx.arg("activate")
    if activate is not None:
        status = "ACTIVE" if ctx.bool_arg("activate", True) else "INACTIVE"
    else:
        status = opt_enum(body, "status", "status", ("ACTIVE", "INACTIVE")) or "ACTIVE"
    rule = new_rule(
        ctx.state,
        policy,
        fields["name"],
        now=timestamp(),
        status=status,
        priority=0,
        conditions=fields["conditions"],
        actions=fields["actions"],
    )
    carry_future_fields(ctx.config, f"{fields['type']} rule", body, rule)
    _place_rule(ctx.state, policy, rule, priority)
    return Reply(200, render_rule(ctx, policy_id, rule))


def get_rule(ctx: Ctx, policy_id: str, rule_id: str) -> Reply:
    get_policy_or_404(ctx.state, policy_id)
    return Reply(200, render_rule(ctx, policy_id, get_rule_or_404(ctx.state, policy_id, rule_id)))


def replace_rule(ctx: Ctx, policy_id: str, rule_id: str) -> Reply:
    policy = get_policy_or_404(ctx.state, policy_id)
    rule = get_rule_or_404(ctx.state, policy_id, rule_id)
    body = ctx.object_body()
    fields = _rule_fields(ctx, policy, body, rule)
    priority = _rule_priority(policy, body)
    if rule["system"]:
        fields["name"] = rule["name"]  # system rules keep their names
    _check_unique_rule_name(ctx.state, policy_id, fields["name"], rule_id)
    rule["name"] = fields["name"]
    rule["conditions"] = fields["conditions"]
    rule["actions"] = fields["actions"]
    if priority is not None and not rule["system"]:
        rule["_old_priority"] = rule["priority"]
        _place_rule(ctx.state, policy, rule, priority)
        rule.pop("_old_priority", None)
    carry_future_fields(ctx.config, f"{fields['type']} rule", body, rule)
    rule["lastUpdated"] = timestamp()
    return Reply(200, render_rule(ctx, policy_id, rule))


def delete_rule(ctx: Ctx, policy_id: str, rule_id: str) -> Reply:
    policy = get_policy_or_404(ctx.state, policy_id)
    rule = get_rule_or_404(ctx.state, policy_id, rule_id)
    if rule["system"]:
        raise ApiError(ctx.config.system_delete_error)
    del ctx.state.rules[policy_id][rule_id]
    if policy["type"] != "ACCESS_POLICY":  # ACCESS_POLICY rules keep their (sparse) numbers
        _renumber(ctx.state.rules[policy_id].values())
    return Reply(204)


def rule_lifecycle(ctx: Ctx, policy_id: str, rule_id: str, action: str) -> Reply:
    get_policy_or_404(ctx.state, policy_id)
    rule = get_rule_or_404(ctx.state, policy_id, rule_id)
    return _lifecycle(ctx, rule, action, rule["system"])
