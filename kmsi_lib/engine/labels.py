"""Words for what a person reads in a plan: field labels and values in plain terms.

A plan's diff is keyed by JSON paths (``actions.appSignOn.keepMeSignedIn.postAuth``)
and holds Okta's raw values (``PT43800H``). Reviewers read "Stay-signed-in prompt"
and "5 years, i.e. once per Okta session". :func:`field_label` gives the label
of a path (the path stays beside it, as the secondary reading), and
:func:`value_words` the value with its meaning. The labels follow the Admin
Console's wording where it has one; the rest are ours.
"""

from __future__ import annotations

import json

from kmsi_lib import durations
from kmsi_lib.engine.preview import PROMPT_PATH

__all__ = [
    "FIELD_LABELS",
    "PARAM_LABELS",
    "field_label",
    "labelled",
    "object_label",
    "param_label",
    "param_value_words",
    "value_words",
]

_SIGN_ON = "actions.signon"
_APP = "actions.appSignOn"

FIELD_LABELS: dict[str, str] = {
    "name": "Name",
    "description": "Description",
    "status": "Status",
    "priority": "Priority",
    "type": "Type",
    "conditions.people.groups.include": "Applies to groups",
    "conditions.people.groups.exclude": "Except groups",
    "conditions.people.users.include": "Applies to users",
    "conditions.people.users.exclude": "Except users",
    "conditions.network.connection": "Network (where the user signs in from)",
    f"{_SIGN_ON}.access": "Access",
    f"{_SIGN_ON}.requireFactor": "Require MFA",
    f"{_SIGN_ON}.factorPromptMode": "Prompt for MFA",
    f"{_SIGN_ON}.factorLifetime": "MFA lifetime (minutes)",
    f"{_SIGN_ON}.primaryFactor": "Establish the session with",
    f"{_SIGN_ON}.session.maxSessionIdleMinutes": "Expire the session after idle for (minutes)",
    f"{_SIGN_ON}.session.maxSessionLifetimeMinutes": "Maximum session lifetime (minutes)",
    f"{_SIGN_ON}.session.usePersistentCookie": "Persist the session cookie across browser restarts",
    f"{_APP}.access": "Access to the app",
    f"{_APP}.verificationMethod.type": "Verification method",
    f"{_APP}.verificationMethod.factorMode": "Factors required",
    f"{_APP}.verificationMethod.reauthenticateIn": "Re-authenticate after",
    f"{_APP}.verificationMethod.constraints": "Authenticator constraints",
    f"{_APP}.keepMeSignedIn.postAuth": "Stay-signed-in prompt after sign-in",
    f"{_APP}.keepMeSignedIn.postAuthPromptFrequency": "Show the stay-signed-in prompt again after",
    "settings.contentSecurityPolicySetting": "Content security policy",
    "widgetCustomizations": "Sign-in widget texts",
    f"{PROMPT_PATH}.title": "Stay-signed-in prompt: title",
    f"{PROMPT_PATH}.subtitle": "Stay-signed-in prompt: subtitle",
    f"{PROMPT_PATH}.acceptButtonText": "Stay-signed-in prompt: accept button",
    f"{PROMPT_PATH}.rejectButtonText": "Stay-signed-in prompt: reject button",
}

#: Procedure parameters (dotted for nested models) in the words a form shows beside them.
#: The parameter name stays visible too, smaller: it is what a params file and ``kmsi run``
#: call the field.
PARAM_LABELS: dict[str, str] = {
    "apps.labels": "Apps (by label)",
    "apps.ids": "Apps (by id)",
    "apps.policies": "Apps (by policy name)",
    "groups": "Groups (exact names)",
    "group": "Group (exact name)",
    "users": "Users (logins or ids)",
    "users_file": "File listing the users",
    "brands": "Brands",
    "policy_name": "Session policy name",
    "policy_description": "Session policy description",
    "policy_priority": "Session policy priority",
    "rule_name": "Rule name",
    "factor_lifetime_minutes": "MFA lifetime (minutes)",
    "primary_factor": "Establish the session with",
    "max_session_idle_minutes": "Idle timeout (minutes)",
    "max_session_lifetime_minutes": "Session lifetime (minutes)",
    "app_rule_name": "App sign-in rule name",
    "app_rule_priority": "App sign-in rule priority",
    "app_rule_groups_only": "App rule only for these groups",
    "prompt_frequency": "Prompt shown again after",
    "factor_mode": "Factors required at app sign-in",
    "reauthenticate_in": "Re-authenticate to app after",
    "constraints": "Authenticator constraints (JSON)",
    "update_default_rule": "Also set the Default Policy's rule",
    "title": "Prompt title",
    "subtitle": "Prompt subtitle",
    "accept_button_text": "Accept button text",
    "reject_button_text": "Reject button text",
    "preview_first": "Write to the preview page first",
    "forget_devices": "Also forget remembered devices",
    "oauth_tokens": "Also revoke OAuth tokens",
    "max_workers": "Requests in flight at once",
    "skip_unknown_users": "Skip users that are not found",
    "sensitive_apps": "Sensitive apps",
    "max_prompt_frequency": "Max prompt interval",
    "max_mfa_lifetime_minutes": "Max MFA lifetime (minutes)",
    "reauthenticate_in_threshold": "Re-authentication threshold",
    "admin_groups": "Administrator groups",
    "include_brands": "Read the brands' prompt texts",
    "apply_result": "Apply to roll back",
    "force_objects": "Overwrite anyway (object ids)",
    "acknowledge_reach": "Acknowledged reach (apps)",
    "allow_unusual_values": "Fields allowed unusual values",
}

_MINUTES = {
    f"{_SIGN_ON}.factorLifetime",
    f"{_SIGN_ON}.session.maxSessionIdleMinutes",
    f"{_SIGN_ON}.session.maxSessionLifetimeMinutes",
}
_ONCE_PER_SESSION = "PT43800H"


def field_label(path: str) -> str:
    """The label of a JSON path, or the path itself when it has none."""
    if path in FIELD_LABELS:
        return FIELD_LABELS[path]
    head, _, last = path.rpartition(".")
    if head == "widgetCustomizations":
        return f"Sign-in widget text '{last}'"
    return path


def labelled(path: str) -> str:
    """The label with the path beside it, ``Require MFA (actions.signon.requireFactor)``;
    the path alone when it has no label."""
    label = field_label(path)
    return path if label == path else f"{label} ({path})"


def value_words(path: str, value: object) -> str:
    """A value as a reviewer reads it: durations and minutes spelled out, JSON otherwise.

    ``None`` reads ``(absent)``; a value that is not what the field usually
    holds is shown as it is.
    """
    if value is None:
        return "(absent)"
    if isinstance(value, str) and durations.is_valid(value) and value.startswith("P"):
        spelled = durations.parse(value).describe()
        if durations.parse(value) == durations.parse(_ONCE_PER_SESSION):
            return f"{value}: 5 years, i.e. once per Okta session"
        if durations.parse(value) == durations.parse("PT0S"):
            return f"{value}: at every sign-in"
        return f"{value}: {spelled}"
    if path in _MINUTES and isinstance(value, int) and not isinstance(value, bool):
        if value == 0 and path.endswith("maxSessionLifetimeMinutes"):
            return "0: no limit"
        if value >= 60:
            return f"{value} ({durations.parse(f'PT{value}M').describe()})"
        return str(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def object_label(
    kind: str, name: str | None, obj_id: str | None, parent: str | None, parent_name: str | None
) -> str:
    """An object by name, ids secondary: ``rule 'Catch-all Rule' in policy 'Any two
    factors' (rul…, rst…)``."""
    text = kind + (f" {name!r}" if name else "")
    ids = [i for i in (obj_id,) if i]
    if parent and parent.startswith("$created:"):
        made = f"the object created by change {int(parent.split(':', 1)[1]) + 1}"
        text += f" in policy {parent_name!r} ({made})" if parent_name else f" in {made}"
    elif parent:
        text += f" in policy {parent_name!r}" if parent_name else f" in {parent}"
        if parent_name:
            ids.append(parent)
    return text + (f" ({', '.join(ids)})" if ids else "")


def param_label(name: str) -> str:
    """A parameter's label in plain words (``apps.labels`` -> ``Apps (by label)``); a name
    without one reads as its words (``max_workers`` -> ``Max workers``)."""
    if name in PARAM_LABELS:
        return PARAM_LABELS[name]
    words = name.replace(".", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def param_value_words(name: str, value: object) -> str:
    """What a parameter's value means, for the form to show as it is typed, or ``""``.

    ISO-8601 durations are spelled out (``PT43800H: 5 years, i.e. once per Okta
    session``) and numbers of minutes too (``120 minutes (2 hours)``; a session
    lifetime of 0 is "no limit"); anything else, or a value that is not valid yet,
    has no words (the field's validation message says what is wrong).
    """
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("P") and durations.is_valid(text):
            return value_words(name, text)
        return ""
    if name.endswith("_minutes") and isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            return ""
        if value == 0:
            return "0: no limit" if "lifetime" in name else "0 minutes"
        spelled = durations.parse(f"PT{value}M").describe()
        return f"{value} minutes" + (f" ({spelled})" if value >= 60 else "")
    return ""
