"""Pre-authentication KMSI: the "Keep me signed in" checkbox shown before sign-in.

Four parts, planned and applied together:

1. The org setting that shows the option before users sign in. Okta offers no
   public API for it, so the plan lists the Admin Console steps and apply
   needs an attestation (who did it, when). Against the sandbox the setting
   can be read back and is verified; there, a plan with nothing else to do
   and the setting already on has no manual step (nothing to attest). On a
   real org a later apply gives the earlier apply's attestation again.
2. A global session policy (``OKTA_SIGN_ON``) for the chosen groups, placed
   at the chosen priority above the Default Policy. It is found by name on
   later runs and adjusted rather than created twice.
3. Its rule: MFA required and asked again only when the MFA lifetime has run
   out (``factorPromptMode: SESSION`` with an integer ``factorLifetime`` in
   minutes), the primary factor, session idle and lifetime limits, and no
   persistent cookie.
4. For each chosen app's authentication policy (apps sharing a policy change
   it once), a rule asking for two factor types only when no Okta session
   exists (``reauthenticateIn: PT43800H``), at the chosen priority. By
   default that rule applies to the same groups as the session policy, so
   other users' app sign-in is not relaxed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

import pydantic
from pydantic import BeforeValidator

from kmsi_lib import engine
from kmsi_lib.engine import (
    AcknowledgeReach,
    AllowUnusualValues,
    AppSelection,
    Check,
    Edit,
    ManualStep,
    Minutes,
    ObjectRef,
    ParamsModel,
    Plan,
    Reader,
    bounds,
    witness,
)
from kmsi_lib.errors import ParameterError

if TYPE_CHECKING:
    from kmsi_lib.okta.client import OktaClient

__all__ = ["NAME", "PROCEDURE", "Params", "apply", "plan", "verify"]

NAME = "pre_auth"

#: "Once per session": re-authenticate only when no Okta global session exists.
ONCE_PER_SESSION = "PT43800H"

_WholePositive = Annotated[int, BeforeValidator(engine.whole_number()), pydantic.Field(ge=1)]
_AppRulePriority = Annotated[
    int, BeforeValidator(engine.whole_number()), pydantic.Field(ge=0, le=98)
]

ORG_SETTING_STEP = ManualStep(
    "Show 'Keep me signed in' before users sign in (Admin Console only)",
    [
        "Sign in to the Okta Admin Console as a super administrator.",
        "Open Security > General and find the Organization Security section.",
        "Click Edit next to 'Keep me signed in'.",
        "Choose the option that shows the 'stay signed in' checkbox before users sign in"
        " ('Before users sign in').",
        "Save, then record who made the change and when in the attestation.",
        "Already done by an earlier apply of this change and still on? Do not redo it: give"
        " that apply's attestation again (same person, time and statement), so that the record"
        " says when the step was really done instead of claiming it was done twice.",
    ],
)

#: The sandbox page of the setting (served under ``/_sandbox/console/``), named by the witness.
CONSOLE_PAGE = "security/general"


def org_setting_step(client: OktaClient) -> ManualStep:
    """The Admin Console step; against the sandbox, it names the sandbox's own page for it,
    so that a trainee does the step as a click (asked of the witness, never of ``client``)."""
    seen = witness.for_client(client)
    url = seen.console_url(CONSOLE_PAGE) if seen is not None else None
    if not url:
        return ORG_SETTING_STEP
    where = (
        f"In the sandbox, its Admin Console page for this setting is {url}: open it, tick"
        " 'Keep me signed in' under Organization Security and click Save."
    )
    return ManualStep(ORG_SETTING_STEP.title, [where, *ORG_SETTING_STEP.instructions])


def refuse_while_setting_off(client: OktaClient, plan: Plan) -> None:
    """Against the sandbox, refuse (``ParameterError`` on ``attestation``, nothing written)
    to apply a plan with the Admin Console step while the sandbox shows the setting still
    off: an attestation must not claim a step nobody did. A real org cannot show the
    setting, so there the attestation stands as the record (unchanged)."""
    if not plan.manual_steps or read_sandbox_org_setting(client) is not False:
        return
    seen = witness.for_client(client)
    url = seen.console_url(CONSOLE_PAGE) if seen is not None else None
    raise ParameterError(
        "attestation",
        "the manual step is not done: the sandbox's Admin Console page"
        + (f" ({url})" if url else "")
        + " still shows 'Keep me signed in' before sign-in as off (Security > General >"
        " Organization Security). Switch it on there and click Save, then apply again;"
        " nothing was written",
    )


ORG_SETTING_ON_NOTE = (
    "the org setting that shows 'Keep me signed in' before sign-in is already on (read from"
    " the sandbox org) and nothing else is to be written: this run has no manual step, so no"
    " attestation is asked; the apply's verification reads the setting again"
)


class Params(ParamsModel):
    """Parameters of the pre-authentication KMSI procedure."""

    groups: Annotated[list[Annotated[str, bounds.NAME]], bounds.FEW] = pydantic.Field(
        min_length=1, description="Exact names of the groups the session policy applies to."
    )
    policy_name: Annotated[str, bounds.NAME] = pydantic.Field(
        "KMSI pre-authentication",
        min_length=1,
        description="Name of the global session policy (found by this name on later runs).",
    )
    policy_description: Annotated[str, bounds.DESCRIPTION] = pydantic.Field(
        "MFA lifetime for pre-authentication Keep Me Signed In",
        description="Description of the session policy, as the Admin Console lists it.",
    )
    policy_priority: Annotated[_WholePositive, bounds.POLICY_PRIORITY] = pydantic.Field(
        1, description="Priority of the session policy; 1 is evaluated first."
    )
    rule_name: Annotated[str, bounds.NAME] = pydantic.Field(
        "KMSI MFA lifetime",
        min_length=1,
        description="Name of the session policy's rule (found by this name on later runs).",
    )
    factor_lifetime_minutes: Annotated[Minutes, pydantic.Field(ge=1), bounds.FACTOR_LIFETIME] = (
        pydantic.Field(120, description="Minutes before MFA is asked again (the MFA lifetime).")
    )
    primary_factor: Literal["PASSWORD_IDP_ANY_FACTOR", "PASSWORD_IDP"] = pydantic.Field(
        "PASSWORD_IDP_ANY_FACTOR",
        description="What starts the Okta session: PASSWORD_IDP_ANY_FACTOR lets any factor"
        " (or an identity provider) come first; PASSWORD_IDP only a password or an identity"
        " provider.",
    )
    max_session_idle_minutes: Annotated[Minutes, pydantic.Field(ge=1), bounds.SESSION_IDLE] = (
        pydantic.Field(
            120, description="Minutes without activity after which the Okta session ends."
        )
    )
    max_session_lifetime_minutes: Annotated[Minutes, bounds.SESSION_LIFETIME] = pydantic.Field(
        0, description="Maximum Okta session length in minutes; 0 means no limit."
    )
    apps: AppSelection = pydantic.Field(
        description="Apps whose authentication policies get the sign-in rule: labels, ids,"
        " or authentication policy names."
    )
    app_rule_name: Annotated[str, bounds.NAME] = pydantic.Field(
        "KMSI pre-auth: once per session",
        min_length=1,
        description="Name of the rule added to each app's authentication policy.",
    )
    app_rule_priority: _AppRulePriority = pydantic.Field(
        0, description="Priority of the app sign-in rule, 0 (first) to 98."
    )
    app_rule_groups_only: bool = pydantic.Field(
        True, description="Limit the app sign-in rule to the same groups as the session policy."
    )
    acknowledge_reach: AcknowledgeReach
    allow_unusual_values: AllowUnusualValues


def _in_org_order(current: object, group_ids: list[str]) -> list[str]:
    """``group_ids``, in the org's order when it holds the same ids (another order is no change)."""
    if isinstance(current, list) and sorted(map(str, current)) == sorted(group_ids):
        return [str(g) for g in current]
    return list(group_ids)


def _draft(client: OktaClient, params: Params, reader: Reader) -> engine.AppDraft:
    group_ids = engine.resolve_groups(reader, params.groups)
    draft = engine.AppDraft(engine.resolve_apps(reader, params.apps))

    # (b) the global session policy, adopted by name
    policies = reader.policies("OKTA_SIGN_ON")
    existing = next((p for p in policies if p.get("name") == params.policy_name), None)
    if existing is not None and existing.get("system"):
        raise ParameterError(
            "policy_name", f"{params.policy_name!r} is Okta's default policy; choose another name"
        )
    others = [p for p in policies if not p.get("system") and p is not existing]
    highest = len(others) + 1
    if params.policy_priority > highest:
        raise ParameterError(
            "policy_priority",
            f"must be between 1 and {highest} so that the policy sits above the Default Policy"
            f" (there are {len(others)} other custom session policies; got"
            f" {params.policy_priority})",
        )
    ref = ObjectRef("policy", existing["id"] if existing else None, params.policy_name)
    policy = Edit(
        ref,
        existing,
        {
            "type": "OKTA_SIGN_ON",
            "name": params.policy_name,
            "description": params.policy_description,
            "status": "ACTIVE",
        },
    )
    include_path = "conditions.people.groups.include"
    group_ids = _in_org_order(engine.get_path(existing, include_path), group_ids)
    policy.set(include_path, group_ids)
    policy.set("priority", params.policy_priority)
    policy_ref_id: str | None = ref.id
    if draft.add(policy) is not None and ref.id is None:
        policy_ref_id = engine.created_placeholder(len(draft.changes) - 1)

    # (c) its SIGN_ON rule
    rules = reader.rules(ref.id) if ref.id else []
    rule = next((r for r in rules if r.get("name") == params.rule_name), None)
    rule_ref = ObjectRef("rule", rule["id"] if rule else None, params.rule_name, policy_ref_id)
    sign_on = Edit(
        rule_ref,
        rule,
        {
            "type": "SIGN_ON",
            "name": params.rule_name,
            "priority": 1,
            "conditions": {"network": {"connection": "ANYWHERE"}},
        },
    )
    for path, value in (
        ("actions.signon.access", "ALLOW"),
        ("actions.signon.requireFactor", True),
        ("actions.signon.factorPromptMode", "SESSION"),
        ("actions.signon.factorLifetime", params.factor_lifetime_minutes),
        ("actions.signon.primaryFactor", params.primary_factor),
        ("actions.signon.session.maxSessionIdleMinutes", params.max_session_idle_minutes),
        ("actions.signon.session.maxSessionLifetimeMinutes", params.max_session_lifetime_minutes),
        ("actions.signon.session.usePersistentCookie", False),
    ):
        sign_on.set(path, value)
    draft.add(sign_on)

    # (d) one rule per distinct authentication policy of the chosen apps
    by_policy: dict[str, list[str]] = {}
    for app in draft.apps:
        by_policy.setdefault(app.policy_id, []).append(app.label)
    for (policy_id, labels), app_rules in zip(
        by_policy.items(), reader.rules_of(list(by_policy)), strict=True
    ):
        if len(labels) > 1:
            draft.notes.append(
                f"apps {', '.join(map(repr, labels))} share authentication policy {policy_id};"
                " it is changed once"
            )
        found = next((r for r in app_rules if r.get("name") == params.app_rule_name), None)
        app_ref = ObjectRef(
            "rule", str(found["id"]) if found else None, params.app_rule_name, policy_id
        )
        app_rule = Edit(
            app_ref,
            found,
            {
                "type": "ACCESS_POLICY",
                "name": params.app_rule_name,
                "conditions": {"network": {"connection": "ANYWHERE"}},
                "actions": {"appSignOn": {"access": "ALLOW"}},
            },
        )
        app_rule.set("priority", params.app_rule_priority)
        if params.app_rule_groups_only:
            current = engine.get_path(found, include_path)
            app_rule.set(include_path, _in_org_order(current, group_ids))
        app_rule.set("actions.appSignOn.access", "ALLOW")
        app_rule.set_assurance(
            "actions.appSignOn.verificationMethod",
            {"factorMode": "2FA", "reauthenticateIn": ONCE_PER_SESSION},
        )
        draft.add(app_rule, note=f"apps: {', '.join(labels)}")

    # The manual step stays in the plan unless it is verifiably done and nothing else is to
    # be done: an auditor expects an attestation for every human action a change makes, and
    # none for a run that makes none (the sandbox can show the setting is on; a real org
    # cannot, so there the earlier attestation is given again, as the step's text says).
    draft.manual_steps = [org_setting_step(client)]
    if not draft.changes and read_sandbox_org_setting(client) is True:
        draft.manual_steps = []
        draft.notes.append(ORG_SETTING_ON_NOTE)
    draft.named_group_ids = group_ids
    return draft


ORG_SETTING_CHECK = "org setting: show 'Keep me signed in' before users sign in"
ORG_SETTING_NOTE = (
    "the org setting that shows 'Keep me signed in' before sign-in has no public API,"
    " so it was not checked; the apply's attestation is the record of it"
)


def org_setting_checks(client: OktaClient) -> list[Check]:
    """The pre-auth org toggle, when the org is the sandbox (no public API elsewhere)."""
    value = read_sandbox_org_setting(client)
    if value is None:
        return []
    return [Check(ORG_SETTING_CHECK, value is True, True, value)]


def read_sandbox_org_setting(client: OktaClient) -> bool | None:
    """``preAuthKmsi`` as the sandbox witness shows it; None when no witness can tell.

    Only a :mod:`~kmsi_lib.engine.witness` installed by the demo, the lab or a
    test is asked (never through ``client``, never with its credentials); a
    real org has no API for the setting.
    """
    seen = witness.for_client(client)
    return seen.org_setting("preAuthKmsi") if seen is not None else None


#: The plan, apply and verify: the engine's for app-policy changes, over :func:`_draft`,
#: with the org setting checked where the sandbox shows it. The apply needs an attestation
#: for the Admin Console step (and, against the sandbox, the setting really on:
#: :func:`refuse_while_setting_off`).
CHANGE = engine.AppChange(
    NAME,
    Params,
    _draft,
    org_checks=org_setting_checks,
    unchecked_note=ORG_SETTING_NOTE,
    refuse=refuse_while_setting_off,
)
PROCEDURE = CHANGE.procedure("Pre-authentication Keep Me Signed In")
plan, apply, verify = CHANGE.plan, CHANGE.apply, CHANGE.verify
