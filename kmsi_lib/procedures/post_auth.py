"""Post-authentication KMSI: the "Stay signed in?" prompt shown after sign-in.

Two parts, planned and applied together:

1. The Default Policy's Default Rule (the global session policy every user
   falls back to): no MFA at the global session level, the primary factor,
   and the session idle and lifetime limits, so that the KMSI duration set
   per app is what users get. ``usePersistentCookie`` is read-only on this
   rule: it is sent back exactly as read and never planned as a change.
2. For each chosen app's authentication policy (apps sharing a policy change
   it once), one rule: post-auth KMSI allowed with the prompt frequency, and
   the verification method (``ASSURANCE``, factor mode, re-authentication
   period, and constraints when given; existing constraints are kept
   otherwise). The rule is the one named in ``rule_name``; without a name it
   is the top-priority active rule of that policy whose name is one kmsi
   manages (:data:`MANAGED_RULE_NAMES`: the app rule the pre-auth procedure
   creates), else the Catch-all Rule. The plan notes which rule was chosen
   in each policy and why.

Durations are compared by meaning, so ``P7D`` in the parameters matches
``PT168H`` in the org and plans no change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Literal, TypeVar

import pydantic

from kmsi_lib import engine
from kmsi_lib.durations import IsoDuration
from kmsi_lib.engine import (
    AcknowledgeReach,
    AllowUnusualValues,
    AppSelection,
    Edit,
    Minutes,
    ObjectRef,
    ParamsModel,
    Reader,
    bounds,
)
from kmsi_lib.engine.constraints import check_constraints
from kmsi_lib.errors import ParameterError
from kmsi_lib.jsontypes import JsonMap, JsonObject, text
from kmsi_lib.procedures import pre_auth
from kmsi_lib.procedures.audit import ADMIN_CONSOLE_LABEL

if TYPE_CHECKING:
    from kmsi_lib.okta.client import OktaClient

#: a rule as the caller holds it (choose_rule gives back one of the rules it was given)
RuleT = TypeVar("RuleT", bound=JsonMap)

__all__ = [
    "MANAGED_RULE_NAMES",
    "NAME",
    "PROCEDURE",
    "Params",
    "apply",
    "choose_rule",
    "plan",
    "verify",
]

NAME = "post_auth"

CATCH_ALL = "Catch-all Rule"

#: Names of app sign-in rules kmsi creates and manages (the pre-auth procedure's app rule,
#: by its default name); without ``rule_name`` the top active one of these is changed.
MANAGED_RULE_NAMES: tuple[str, ...] = (str(pre_auth.Params.model_fields["app_rule_name"].default),)


class Params(ParamsModel):
    """Parameters of the post-authentication KMSI procedure."""

    apps: AppSelection = pydantic.Field(
        description="Apps to change: labels, ids, or authentication policy names."
    )
    rule_name: Annotated[str, bounds.NAME] | None = pydantic.Field(
        None,
        min_length=1,
        description="Rule to change in each app's authentication policy; None: the top rule"
        " kmsi manages there, else the Catch-all Rule.",
    )
    prompt_frequency: Annotated[IsoDuration, bounds.PROMPT_FREQUENCY] = pydantic.Field(
        "PT168H", description="How often the 'Stay signed in?' prompt is shown (ISO-8601)."
    )
    factor_mode: Literal["1FA", "2FA"] = pydantic.Field(
        "2FA", description="Factors asked at app sign-in: 2FA two factor types, 1FA any one."
    )
    reauthenticate_in: Annotated[IsoDuration, bounds.REAUTHENTICATE_IN] = pydantic.Field(
        "PT168H", description="How long before users re-authenticate to the app (ISO-8601)."
    )
    constraints: Annotated[list[dict[str, pydantic.JsonValue]], bounds.FEW] | None = pydantic.Field(
        None, description="Authenticator constraints; None keeps the rule's current ones."
    )
    update_default_rule: bool = pydantic.Field(
        True, description="Also set the Default Policy's Default Rule (session limits, no MFA)."
    )
    primary_factor: Literal["PASSWORD_IDP_ANY_FACTOR", "PASSWORD_IDP"] = pydantic.Field(
        "PASSWORD_IDP_ANY_FACTOR",
        description="What starts the Okta session: PASSWORD_IDP_ANY_FACTOR lets any factor"
        " (or an identity provider) come first; PASSWORD_IDP only a password or an identity"
        " provider.",
    )
    max_session_idle_minutes: Annotated[Minutes, bounds.SESSION_IDLE] = pydantic.Field(
        120, ge=1, description="Minutes without activity after which the Okta session ends."
    )
    max_session_lifetime_minutes: Annotated[Minutes, bounds.SESSION_LIFETIME] = pydantic.Field(
        0, description="Maximum Okta session length in minutes; 0 means no limit."
    )
    acknowledge_reach: AcknowledgeReach
    allow_unusual_values: AllowUnusualValues

    @pydantic.model_validator(mode="after")
    def _constraints_follow_the_spec(self) -> Params:
        check_constraints(self.constraints)
        return self


def _default_rule(reader: Reader) -> tuple[JsonObject, JsonObject]:
    policies = reader.policies("OKTA_SIGN_ON")
    default = next((p for p in policies if p.get("system")), None)
    if default is None:
        raise ParameterError(
            "update_default_rule", "this org has no default global session policy to update"
        )
    rules = reader.rules(default["id"])
    rule = next((r for r in rules if r.get("system")), None)
    if rule is None:
        raise ParameterError(
            "update_default_rule",
            f"the default global session policy {default.get('name')!r} has no default rule",
        )
    return default, rule


def _priority(rule: JsonMap) -> int:
    value = rule.get("priority")
    return value if isinstance(value, int) else 10_000


def choose_rule(rules: Sequence[RuleT], rule_name: str | None) -> tuple[RuleT | None, str]:
    """The rule of one authentication policy to change, and why it was chosen.

    A ``rule_name`` is matched exactly. Without one: the top-priority active
    rule named in :data:`MANAGED_RULE_NAMES`, else the Catch-all Rule. None
    when there is no such rule.
    """
    if rule_name is not None:
        found = next((r for r in rules if r.get("name") == rule_name), None)
        return found, "named in rule_name"
    managed = sorted(
        (r for r in rules if r.get("name") in MANAGED_RULE_NAMES and r.get("status") == "ACTIVE"),
        key=_priority,
    )
    if managed:
        return managed[0], (
            f"the top-priority rule kmsi manages in this policy (priority"
            f" {managed[0].get('priority')}; managed rule names: {', '.join(MANAGED_RULE_NAMES)})"
        )
    found = next((r for r in rules if r.get("name") == CATCH_ALL), None)
    return found, "no active rule kmsi manages in this policy, so its Catch-all Rule"


def _draft(client: OktaClient, params: Params, reader: Reader) -> engine.AppDraft:
    draft = engine.AppDraft(engine.resolve_apps(reader, params.apps))
    notes = draft.notes

    if params.update_default_rule:
        default, rule = _default_rule(reader)
        ref = ObjectRef("rule", str(rule["id"]), text(rule.get("name")), str(default["id"]))
        edit = Edit(ref, rule)
        for path, value in (
            ("actions.signon.access", "ALLOW"),
            ("actions.signon.requireFactor", False),
            ("actions.signon.primaryFactor", params.primary_factor),
            ("actions.signon.session.maxSessionIdleMinutes", params.max_session_idle_minutes),
            (
                "actions.signon.session.maxSessionLifetimeMinutes",
                params.max_session_lifetime_minutes,
            ),
        ):
            edit.set(path, value)
        draft.add(edit)
        persistent = engine.get_path(rule, "actions.signon.session.usePersistentCookie")
        if persistent:
            notes.append(
                f"{ref.label()} uses persistent session cookies; that setting is read-only"
                " through the API and is left as it is"
            )

    kmsi_noted = False
    by_policy: dict[str, list[str]] = {}
    for app in draft.apps:
        by_policy.setdefault(app.policy_id, []).append(app.label)
        if ADMIN_CONSOLE_LABEL in app.label:
            notes.append(
                "post-auth KMSI on the Okta Admin Console lets administrators stay signed in;"
                " the audit reports it as a risk"
            )
    for (policy_id, labels), rules in zip(
        by_policy.items(), reader.rules_of(list(by_policy)), strict=True
    ):
        found, why = choose_rule(rules, params.rule_name)
        if found is None:
            names = [str(r.get("name")) for r in rules]
            wanted = (
                f"no rule named {params.rule_name!r}"
                if params.rule_name is not None
                else f"no rule kmsi manages and no {CATCH_ALL!r}; name one in rule_name"
            )
            raise ParameterError(
                "rule_name",
                f"the authentication policy of {', '.join(map(repr, labels))} ({policy_id}) has"
                f" {wanted}; its rules are: {', '.join(names)}",
            )
        if params.rule_name is None:
            notes.append(
                f"authentication policy {policy_id} ({', '.join(map(repr, labels))}): rule"
                f" {found.get('name')!r} chosen, {why}; set rule_name to choose another"
            )
        if len(labels) > 1:
            notes.append(
                f"apps {', '.join(map(repr, labels))} share authentication policy {policy_id};"
                " it is changed once"
            )
        ref = ObjectRef("rule", str(found["id"]), text(found.get("name")), policy_id)
        edit = Edit(ref, found)
        sign_on = "actions.appSignOn"
        if engine.get_path(found, f"{sign_on}.keepMeSignedIn") is None and not kmsi_noted:
            kmsi_noted = True
            notes.append(
                f"{ref.label()} has no keepMeSignedIn settings: Okta leaves them out when the"
                " org does not have the Keep Me Signed In feature, and would then refuse them"
            )
        edit.set(f"{sign_on}.keepMeSignedIn.postAuth", "ALLOWED")
        edit.set(f"{sign_on}.keepMeSignedIn.postAuthPromptFrequency", params.prompt_frequency)
        method: dict[str, object] = {
            "factorMode": params.factor_mode,
            "reauthenticateIn": params.reauthenticate_in,
        }
        if params.constraints is not None:
            method["constraints"] = params.constraints
        edit.set_assurance(f"{sign_on}.verificationMethod", method)
        draft.add(edit, note=f"apps: {', '.join(labels)}")

    return draft


#: The plan, apply and verify: the engine's for app-policy changes, over :func:`_draft`.
CHANGE = engine.AppChange(NAME, Params, _draft)
PROCEDURE = CHANGE.procedure("Post-authentication Keep Me Signed In")
plan, apply, verify = CHANGE.plan, CHANGE.apply, CHANGE.verify
