"""Policy simulation (``POST /api/v1/policies/simulate``): the sandbox's own evaluator.

For one app and a policy context (a user or some groups, and optionally a network
zone, a device and a risk level) it evaluates the org's policies the way a sign-in
would: per policy type, the ACTIVE policies in priority order (an app sign-in policy:
the app's own), each policy's conditions, then its ACTIVE rules in priority order,
the first matching rule deciding. A condition the context cannot decide (no zone
given for a zone condition, an Okta Expression Language condition, ...) makes its
rule ``UNDEFINED``: the rule is listed under ``undefined`` and evaluation carries on
to the next rule. Every choice the evidence left open is in docs/SANDBOX.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from ._apps import get_app_or_404, is_policy_assignable
from ._common import Ctx, Reply, opt_bool, opt_enum, opt_list, opt_obj, opt_str, req_str
from ._errors import malformed, not_found, validation
from ._policies import default_access_policy
from ._state import Json, OrgState

# PolicyTypeSimulation, in the order of a sign-in (and of the spec's response example)
SIMULATED_TYPES = ("OKTA_SIGN_ON", "MFA_ENROLL", "ACCESS_POLICY", "PROFILE_ENROLLMENT")
RISK_LEVELS = ("LOW", "MEDIUM", "HIGH")
# the simulated types whose rules the sandbox stores (MFA_ENROLL, PROFILE_ENROLLMENT: none)
RULED_TYPES = ("OKTA_SIGN_ON", "ACCESS_POLICY")
EXPANDS = ("EVALUATED", "RULE")

MATCH, NOT_MATCH, UNDEFINED = "MATCH", "NOT_MATCH", "UNDEFINED"

# device.platform of the context -> (platform type, os type) of a rule's platform condition
PLATFORMS: dict[str, tuple[str, str]] = {
    "IOS": ("MOBILE", "IOS"),
    "ANDROID": ("MOBILE", "ANDROID"),
    "MOBILE_OTHER": ("MOBILE", "OTHER"),
    "WINDOWS": ("DESKTOP", "WINDOWS"),
    "MACOS": ("DESKTOP", "MACOS"),
    "CHROMEOS": ("DESKTOP", "CHROMEOS"),
    "DESKTOP_OTHER": ("DESKTOP", "OTHER"),
}


@dataclass(frozen=True)
class Context:
    """What the simulated sign-in is known to be; ``None`` where the request said nothing."""

    user_id: str | None = None
    groups: frozenset[str] | None = None  # the subject's groups (Everyone included)
    zones: frozenset[str] | None = None
    ip: str | None = None
    platform: str | None = None
    registered: bool | None = None
    managed: bool | None = None
    assurance_id: str | None = None
    risk: str | None = None


@dataclass
class Verdict:
    """The outcome of one policy or rule: its status and each condition's."""

    status: str
    conditions: list[tuple[str, str]] = field(default_factory=list)


def _combine(conditions: list[tuple[str, str]]) -> Verdict:
    statuses = {status for _, status in conditions}
    status = NOT_MATCH if NOT_MATCH in statuses else UNDEFINED if UNDEFINED in statuses else MATCH
    return Verdict(status, conditions)


# ---- conditions ------------------------------------------------------------------------------


def _member(known: bool, inside: bool) -> str:
    if not known:
        return UNDEFINED
    return MATCH if inside else NOT_MATCH


def _people(cond: Json, ctx: Context, everyone: str | None) -> Iterator[tuple[str, str]]:
    people = cond.get("people") or {}
    users = people.get("users") or {}
    groups = people.get("groups") or {}
    known_user = ctx.user_id is not None
    if users.get("include"):
        yield "people.users.include", _member(known_user, ctx.user_id in users["include"])
    if users.get("exclude"):
        yield "people.users.exclude", _member(known_user, ctx.user_id not in users["exclude"])
    subject = ctx.groups or frozenset()
    include = groups.get("include") or []
    # naming the Everyone group is true of anyone, and not reported (as Okta's examples show)
    if include and everyone not in include:
        yield "people.groups.include", _member(ctx.groups is not None, bool(subject & set(include)))
    if groups.get("exclude"):
        inside = not subject & set(groups["exclude"])
        yield "people.groups.exclude", _member(ctx.groups is not None, inside)


def _network(cond: Json, ctx: Context) -> Iterator[tuple[str, str]]:
    network = cond.get("network") or {}
    if network.get("connection", "ANYWHERE") == "ANYWHERE":
        return
    zones = ctx.zones or frozenset()
    # an IP address alone cannot be placed in a zone: the sandbox has no network zones
    known = ctx.zones is not None
    if network.get("include"):
        yield "network.include", _member(known, bool(zones & set(network["include"])))
    if network.get("exclude"):
        yield "network.exclude", _member(known, not zones & set(network["exclude"]))


def _platform_entry_matches(entry: Json, platform: tuple[str, str]) -> bool | None:
    """Whether a platform condition entry covers the device (None: cannot tell)."""
    os_ = entry.get("os") or {}
    if "expression" in os_:
        return None
    kind_ok = entry.get("type", "ANY") in ("ANY", platform[0])
    os_ok = os_.get("type", "ANY") in ("ANY", platform[1])
    return kind_ok and os_ok


def _platform(cond: Json, ctx: Context) -> Iterator[tuple[str, str]]:
    platform_cond = cond.get("platform") or {}
    device = PLATFORMS.get(ctx.platform or "")
    for key in ("include", "exclude"):
        entries = platform_cond.get(key) or []
        if not entries:
            continue
        answers = [None if device is None else _platform_entry_matches(e, device) for e in entries]
        if any(a is True for a in answers):
            inside: bool | None = True
        elif any(a is None for a in answers):
            inside = None
        else:
            inside = False
        if inside is None:
            yield f"platform.{key}", UNDEFINED
        else:
            yield f"platform.{key}", MATCH if inside == (key == "include") else NOT_MATCH


def _device(cond: Json, ctx: Context) -> Iterator[tuple[str, str]]:
    device = cond.get("device") or {}
    for key, have in (("registered", ctx.registered), ("managed", ctx.managed)):
        if key in device:
            yield f"device.{key}", _member(have is not None, have == device[key])
    assurance = (device.get("assurance") or {}).get("include") or []
    if assurance:
        have_id = ctx.assurance_id
        yield "device.assurance.include", _member(have_id is not None, have_id in assurance)


def _risk(cond: Json, ctx: Context) -> Iterator[tuple[str, str]]:
    level = (cond.get("riskScore") or {}).get("level", "ANY")
    if level != "ANY":
        yield "riskScore", _member(ctx.risk is not None, ctx.risk == level)
    if (cond.get("risk") or {}).get("behaviors"):
        yield "risk.behaviors", UNDEFINED  # behaviours are not part of a policy context
    if cond.get("elCondition"):
        yield "elCondition", UNDEFINED  # the Access Testing Tool does not evaluate Okta EL


def _sign_on_only(cond: Json) -> Iterator[tuple[str, str]]:
    # a simulation is a browser sign-in with Okta: other contexts cannot be decided
    if (cond.get("authContext") or {}).get("authType", "ANY") != "ANY":
        yield "authContext", UNDEFINED
    if (cond.get("identityProvider") or {}).get("provider", "ANY") != "ANY":
        yield "identityProvider", UNDEFINED
    user_type = cond.get("userType") or {}
    if user_type.get("include") or user_type.get("exclude"):
        yield "userType", UNDEFINED  # user types are not modelled


KNOWN_CONDITIONS = (
    "people",
    "network",
    "platform",
    "device",
    "riskScore",
    "risk",
    "elCondition",
    "authContext",
    "identityProvider",
    "userType",
)


def evaluate(conditions: Json | None, ctx: Context, everyone: str | None) -> Verdict:
    """The verdict on a policy's or rule's stored ``conditions`` for ``ctx``."""
    cond = conditions or {}
    found = [
        *_people(cond, ctx, everyone),
        *_network(cond, ctx),
        *_platform(cond, ctx),
        *_device(cond, ctx),
        *_risk(cond, ctx),
        *_sign_on_only(cond),
        *((key, UNDEFINED) for key in cond if key not in KNOWN_CONDITIONS and cond[key]),
    ]
    return _combine(found)


# ---- policies --------------------------------------------------------------------------------


def _candidates(state: OrgState, ptype: str, app: Json) -> list[Json]:
    if ptype == "ACCESS_POLICY":
        if not is_policy_assignable(app):
            return []
        mapping = state.app_policy.get(app["id"])
        policy = state.policies.get(mapping["policyId"]) if mapping else None
        policy = policy or default_access_policy(state)
        return [policy] if policy is not None and policy["status"] == "ACTIVE" else []
    policies = (p for p in state.policies.values() if p["type"] == ptype)
    active = [p for p in policies if p["status"] == "ACTIVE"]
    return sorted(active, key=lambda p: (p["system"], p["priority"]))


def _rule_entry(rule: Json, verdict: Verdict, detail: bool) -> Json:
    shown = verdict.conditions if detail or verdict.status == MATCH else []
    if not detail and verdict.status == UNDEFINED:
        shown = [c for c in verdict.conditions if c[1] == UNDEFINED]
    return {
        "id": rule["id"],
        "name": rule["name"],
        "status": verdict.status,
        "conditions": [{"type": t, "status": s} for t, s in shown],
    }


def _policy_entry(policy: Json, verdict: Verdict, rules: list[Json]) -> Json:
    return {
        "id": policy["id"],
        "name": policy["name"],
        "status": verdict.status,
        # a matched policy lists no conditions (as both of Okta's examples show)
        "conditions": [{"type": t, "status": s} for t, s in verdict.conditions if s != MATCH],
        "rules": rules,
    }


def simulate_type(
    state: OrgState, ptype: str, app: Json, ctx: Context, expand: frozenset[str]
) -> Json:
    """One ``SimulatePolicyEvaluations`` entry: the evaluation of one policy type."""
    everyone = _everyone(state)
    detail = "RULE" in expand
    result: list[Json] = []
    evaluated: list[Json] = []
    undefined: list[Json] = []
    for policy in _candidates(state, ptype, app):
        own = evaluate(policy.get("conditions"), ctx, everyone)
        if own.status != MATCH:
            entry = _policy_entry(policy, own, [])
            (undefined if own.status == UNDEFINED else evaluated).append(entry)
            if own.status == UNDEFINED and "EVALUATED" in expand:
                evaluated.append(entry)
            continue
        rules = sorted(
            (r for r in state.rules.get(policy["id"], {}).values() if r["status"] == "ACTIVE"),
            key=lambda r: r["priority"],
        )
        seen: list[Json] = []
        unsure: list[Json] = []
        matched: Json | None = None
        for rule in rules:
            verdict = evaluate(rule.get("conditions"), ctx, everyone)
            seen.append(_rule_entry(rule, verdict, detail))
            if verdict.status == UNDEFINED:
                unsure.append(_rule_entry(rule, verdict, detail))
            if verdict.status == MATCH:
                matched = seen[-1]
                break
        if unsure:
            undefined.append(_policy_entry(policy, own, unsure))
        # "Policies that have no Rules aren't considered during evaluation and are never
        # applied" (Policy API, "Policy evaluation"): a global session or app sign-in policy
        # with no active rule is passed over. Only the types whose rules the sandbox does
        # not store are decided by the policy's own conditions.
        decided = matched is not None or (not rules and ptype not in RULED_TYPES)
        status = Verdict(MATCH if decided else NOT_MATCH)
        evaluated.append(_policy_entry(policy, status, seen))
        if decided:
            result.append(_policy_entry(policy, status, [matched] if matched else []))
            break
    return {
        "status": None,
        "policyType": ptype,
        "result": {"policies": result},
        "undefined": {"policies": undefined},
        "evaluated": {"policies": evaluated if "EVALUATED" in expand else []},
    }


def _everyone(state: OrgState) -> str | None:
    return next((g for g, v in state.groups.items() if v.get("type") == "BUILT_IN"), None)


# ---- the request -----------------------------------------------------------------------------


def _context(state: OrgState, body: Json, where: str) -> Context:
    pctx = opt_obj(body, "policyContext", f"{where}policyContext") or {}
    p = f"{where}policyContext"
    user = opt_obj(pctx, "user", f"{p}.user")
    groups = opt_obj(pctx, "groups", f"{p}.groups")
    if user is not None and groups is not None:
        raise validation(p, "Only user IDs or Group IDs are allowed, not both.")
    everyone = _everyone(state)
    base = {everyone} if everyone else set()
    user_id: str | None = None
    subject: frozenset[str] | None = None
    if user is not None:
        user_id = req_str(user, "id", f"{p}.user.id")
        if user_id not in state.users:
            raise not_found(user_id, "User")
        member_of = {g for g, ids in state.group_members.items() if user_id in ids}
        subject = frozenset(member_of | base)
    if groups is not None:
        ids = opt_list(groups, "ids", f"{p}.groups.ids")
        if ids is None:
            raise validation(f"{p}.groups.ids", "The field cannot be left blank.")
        for group_id in ids:
            if group_id not in state.groups:
                raise not_found(group_id, "Group")
        subject = frozenset(set(ids) | base)
    zones = opt_obj(pctx, "zones", f"{p}.zones")
    zone_ids = opt_list(zones, "ids", f"{p}.zones.ids") if zones is not None else None
    device = opt_obj(pctx, "device", f"{p}.device") or {}
    risk = opt_obj(pctx, "risk", f"{p}.risk") or {}
    return Context(
        user_id=user_id,
        groups=subject,
        zones=frozenset(zone_ids) if zone_ids is not None else None,
        ip=opt_str(pctx, "ip", f"{p}.ip"),
        platform=opt_str(device, "platform", f"{p}.device.platform"),
        registered=opt_bool(device, "registered", f"{p}.device.registered"),
        managed=opt_bool(device, "managed", f"{p}.device.managed"),
        assurance_id=opt_str(device, "assuranceId", f"{p}.device.assuranceId"),
        risk=opt_enum(risk, "level", f"{p}.risk.level", RISK_LEVELS),
    )


def _types(body: Json, where: str) -> list[str]:
    asked = opt_list(body, "policyTypes", f"{where}policyTypes")
    for value in asked or []:
        if value not in SIMULATED_TYPES:
            raise validation(
                f"{where}policyTypes", f"'{value}' is not one of {', '.join(SIMULATED_TYPES)}."
            )
    # null (and, as the guide's second call sends it, an empty list) means every type
    return [t for t in SIMULATED_TYPES if not asked or t in asked]


def _expand(ctx: Ctx) -> frozenset[str]:
    values = {
        part.strip().upper()
        for raw in ctx.request.args.getlist("expand")
        for part in raw.split(",")
    }
    return frozenset(values & set(EXPANDS))


def _parse(state: OrgState, body: Json, where: str) -> tuple[Json, list[str], Context]:
    app_id = req_str(body, "appInstance", f"{where}appInstance")
    types = _types(body, where)
    context = _context(state, body, where)
    return get_app_or_404(state, app_id), types, context


def simulate(ctx: Ctx) -> Reply:
    """``POST /api/v1/policies/simulate``: ``{"evaluation": [...]}``, one entry per type."""
    raw = ctx.json_body()
    # The guide and the spec's example send one object; the schema says an array of them.
    given = raw if isinstance(raw, list) else [raw]
    bodies = [b for b in given if isinstance(b, dict)]
    if len(bodies) != len(given):
        raise malformed()
    parsed = [
        _parse(ctx.state, body, f"[{n}]." if isinstance(raw, list) else "")
        for n, body in enumerate(bodies)
    ]
    expand = _expand(ctx)
    evaluation = [
        simulate_type(ctx.state, ptype, app, context, expand)
        for app, types, context in parsed
        for ptype in types
    ]
    return Reply(200, {"evaluation": evaluation})
