"""Seed orgs, generated deterministically in code.

``default``: "Acme Corp", an Identity Engine org that looks lived-in: two brands,
20+ apps sharing a handful of app sign-in policies, the built-in Everyone group
plus team groups, 120 users. ``classic``: the same org on the Classic pipeline
(``v1``) without the post-authentication KMSI feature. ``large``: 1,000 apps and
10,000 users for benchmarks.
"""

from __future__ import annotations

import functools
import json
import random
import re
from collections.abc import Callable, Iterable, Mapping
from importlib.resources import files
from typing import NamedTuple

from ._apps import assign_policy
from ._brands import add_brand
from ._catalog import CATALOG
from ._common import clone
from ._ids import PREFIXES, IdFactory, timestamp
from ._pages import DEFAULT_PAGE_CONTENT, DEFAULT_WIDGET_CUSTOMIZATIONS
from ._policies import (
    CONDITIONLESS_TYPES,
    add_catch_all_rule,
    default_access_policy,
    new_policy,
    new_rule,
)
from ._state import Json, OrgState

#: The SAML authentication context the seeded apps ask for.
_SAML_AUTHN_CONTEXT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"

SEEDS = ("default", "classic", "large")
BASE_TIME = "2025-06-26T15:51:35.000Z"
USER_TYPE_ID = "otynkw1sdzpoFCZMq1d7"
USER_SCHEMA_ID = "oscnkw1sdzpoFCZMq1d7"
REALM_ID = "guonkwfhlqM6PFD8m1d7"
USER_STATUSES = (
    "STAGED",
    "PROVISIONED",
    "ACTIVE",
    "RECOVERY",
    "PASSWORD_EXPIRED",
    "LOCKED_OUT",
    "SUSPENDED",
    "DEPROVISIONED",
)


class SeedApp(NamedTuple):
    """One app of the seeded org; ``policy`` None: the default "Any two factors"."""

    label: str
    name: str
    sign_on_mode: str
    policy: str | None
    service: bool  # an OAuth service app: assigned to no app sign-in policy


class SeedData(NamedTuple):
    """The Acme org's content: its groups (name, description), apps and people's names."""

    groups: tuple[tuple[str, str], ...]
    apps: tuple[SeedApp, ...]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    large_app_products: tuple[str, ...]  # the ``large`` seed's extra apps are named after these


def _text(entry: Mapping[str, object], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str):
        raise ValueError(f"seeds/acme.json: {where}.{key} must be a string")
    return value


def _texts(data: Mapping[str, object], key: str) -> tuple[str, ...]:
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"seeds/acme.json: {key} must be a list of strings")
    return tuple(value)


def _entries(data: Mapping[str, object], key: str) -> list[dict[str, object]]:
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ValueError(f"seeds/acme.json: {key} must be a list of objects")
    return value


def _app(entry: Mapping[str, object], where: str) -> SeedApp:
    policy, service = entry.get("policy"), entry.get("service", False)
    if not (policy is None or isinstance(policy, str)) or not isinstance(service, bool):
        raise ValueError(f"seeds/acme.json: {where} needs a policy name or null, service a bool")
    return SeedApp(
        _text(entry, "label", where),
        _text(entry, "name", where),
        _text(entry, "signOnMode", where),
        policy,
        service,
    )


def _load_seed_data() -> SeedData:
    """``seeds/acme.json`` beside this module: the seeded org's content, kept apart from the
    code that builds the org from it. Apps are listed in the order the recorded org lists
    them (catalog apps take their recorded shapes, ``_catalog.py``)."""
    path = files(__package__).joinpath("seeds").joinpath("acme.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("seeds/acme.json must be an object")
    groups = _entries(data, "groups")
    return SeedData(
        tuple((_text(g, "name", "groups"), _text(g, "description", "groups")) for g in groups),
        tuple(_app(a, f"apps[{n}]") for n, a in enumerate(_entries(data, "apps"))),
        _texts(data, "firstNames"),
        _texts(data, "lastNames"),
        _texts(data, "largeAppProducts"),
    )


SEED_DATA = _load_seed_data()
GROUPS = SEED_DATA.groups


# ---- object factories (also used by the admin API) --------------------------------------


def _ts(state: OrgState) -> str:
    return BASE_TIME if state.org.get("seeding") else timestamp()


def make_group(
    state: OrgState, name: str, description: str = "", type: str = "OKTA_GROUP", **_: object
) -> Json:
    if type not in ("OKTA_GROUP", "APP_GROUP", "BUILT_IN"):
        raise ValueError("type must be OKTA_GROUP, APP_GROUP or BUILT_IN")
    now = _ts(state)
    group: Json = {
        "id": state.ids.new(PREFIXES["group"]),
        "created": now,
        "lastUpdated": now,
        "lastMembershipUpdated": now,
        "objectClass": ["okta:user_group"],
        "type": type,
        "profile": {"name": name, "description": description},
    }
    state.groups[group["id"]] = group
    state.group_members[group["id"]] = []
    return group


def make_user(
    state: OrgState,
    login: str,
    first_name: str | None = None,
    last_name: str | None = None,
    email: str | None = None,
    status: str = "ACTIVE",
    groups: Iterable[str] = (),
    **_: object,
) -> Json:
    if login.lower() in state.login_index:
        raise ValueError(f"a user with login {login!r} already exists")
    local = login.split("@")[0]
    first = first_name or local.split(".")[0].capitalize()
    last = last_name or (local.split(".")[-1].capitalize() if "." in local else "User")
    if status not in USER_STATUSES:
        raise ValueError(f"status must be one of {', '.join(USER_STATUSES)}")
    now = _ts(state)
    has_password = status not in ("STAGED", "PROVISIONED")
    user: Json = {
        "id": state.ids.new(PREFIXES["user"]),
        "status": status,
        "created": now,
        "activated": now if status != "STAGED" else None,
        "statusChanged": now,
        "lastLogin": now if status == "ACTIVE" else None,
        "lastUpdated": now,
        "passwordChanged": now if has_password else None,
        "realmId": REALM_ID,
        "type": {"id": USER_TYPE_ID},
        "profile": {
            "firstName": first,
            "lastName": last,
            "mobilePhone": None,
            "secondEmail": None,
            "login": login,
            "email": email or login,
        },
        "credentials": {"provider": {"type": "OKTA", "name": "OKTA"}},
    }
    if has_password:
        user["credentials"] = {
            "password": {},
            "emails": [{"value": email or login, "status": "VERIFIED", "type": "PRIMARY"}],
            "provider": {"type": "OKTA", "name": "OKTA"},
        }
    state.users[user["id"]] = user
    state.index_user(user)
    everyone = next((g for g in state.groups.values() if g["type"] == "BUILT_IN"), None)
    for gid in ([everyone["id"]] if everyone else []) + list(groups):
        if gid not in state.group_members:
            by_name = [g["id"] for g in state.groups.values() if g["profile"]["name"] == gid]
            if not by_name:
                raise ValueError(f"unknown group {gid!r}")
            gid = by_name[0]
        members = state.group_members[gid]
        if not members or members[-1] != user["id"]:  # a new user: no O(n) membership scan
            members.append(user["id"])
    return user


def make_app(
    state: OrgState,
    label: str,
    name: str | None = None,
    sign_on_mode: str = "SAML_2_0",
    policy_id: str | None = None,
    status: str = "ACTIVE",
    service: bool = False,
    **_: object,
) -> Json:
    now = _ts(state)
    app_id = state.ids.new(PREFIXES["app"])
    if name is None:
        # Okta names custom app instances "<subdomain>_<label letters and digits>_<n>"
        slug = re.sub(r"[^a-z0-9]", "", label.lower()) or "app"
        name = f"{state.org.get('subdomain', 'acme')}_{slug}_{len(state.apps) + 1}"
    app: Json = {
        "id": app_id,
        "orn": f"orn:okta:idp:{state.org.get('id', '')}:apps:{name}:{app_id}",
        "name": name,
        "label": label,
        "status": status,
        "lastUpdated": now,
        "created": now,
        "accessibility": {"selfService": False, "errorRedirectUrl": None, "loginRedirectUrl": None},
        "visibility": {
            "autoLaunch": False,
            "autoSubmitToolbar": False,
            "hide": {"iOS": False, "web": False},
            "appLinks": {f"{name}_link": True},
        },
        "features": [],
        "signOnMode": sign_on_mode,
        "credentials": {
            "userNameTemplate": {"template": "${source.login}", "type": "BUILT_IN"},
            "signing": {"kid": state.ids.token(43)},
        },
        "universalLogout": (
            {"status": "UNSUPPORTED"}
            if name in FIRST_PARTY
            else {
                "status": "DISABLED",
                "supportType": "FULL",
                "identityStack": "NOT_SHARED",
                "protocol": "GLOBAL_TOKEN_REVOCATION",
            }
        ),
        "settings": {
            "app": {},
            "notifications": {
                "vpn": {"network": {"connection": "DISABLED"}, "message": None, "helpUrl": None}
            },
            "manualProvisioning": False,
            "implicitAssignment": False,
            "emOptInStatus": "NONE",
            "notes": {"admin": None, "enduser": None},
        },
    }
    if name in FIRST_PARTY:
        # as recorded: Okta's own apps have no notes, no autoLaunch, their own link names
        del app["settings"]["notes"]
        del app["visibility"]["autoLaunch"]
        app["visibility"]["appLinks"] = {"admin": True} if name == "saasure" else {}
    template = CATALOG.get(name)
    if template is not None:
        app.update(clone(template))
        if app["signOnMode"] == "SAML_2_0":
            app["credentials"]["signing"]["kid"] = state.ids.token(43)
    else:
        _mode_settings(app, name, sign_on_mode, service)
    state.apps[app["id"]] = app
    if not service:
        target = policy_id
        if target is None:
            default = default_access_policy(state)
            target = default["id"] if default else None
        if target is not None:
            if target not in state.policies:
                raise ValueError(f"unknown policy {target!r}")
            assign_policy(state, app["id"], target)
    return app


FIRST_PARTY = ("saasure", "okta_enduser", "okta_browser_plugin")


def _mode_settings(app: Json, name: str, mode: str, service: bool) -> None:
    """Sign-on-mode specific settings, shaped like recorded apps of each kind."""
    site = f"https://{name.replace('_', '-')}.example.com"
    settings = app["settings"]
    if mode == "SAML_2_0":
        settings["signOn"] = {
            "defaultRelayState": None,
            "ssoAcsUrl": f"{site}/sso/saml",
            "idpIssuer": "http://www.okta.com/${org.externalKey}",
            "audience": site,
            "recipient": f"{site}/sso/saml",
            "destination": f"{site}/sso/saml",
            "subjectNameIdTemplate": "${user.userName}",
            "subjectNameIdFormat": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            "responseSigned": True,
            "assertionSigned": True,
            "signatureAlgorithm": "RSA_SHA256",
            "digestAlgorithm": "SHA256",
            "honorForceAuthn": True,
            "authnContextClassRef": _SAML_AUTHN_CONTEXT,
            "requestCompressed": False,
            "allowMultipleAcsEndpoints": False,
            "acsEndpoints": [],
            "samlSignedRequestEnabled": False,
            "spIssuer": None,
            "slo": {"enabled": False},
            "assertionEncryption": {"enabled": False},
            "attributeStatements": [],
            "inlineHooks": [],
        }
    elif mode == "OPENID_CONNECT" and name not in FIRST_PARTY:
        # Okta's own first-party apps carry no oauthClient block (recorded apps list)
        settings["oauthClient"] = {
            "client_uri": None,
            "logo_uri": None,
            "redirect_uris": [] if service else [f"{site}/callback"],
            "response_types": ["token"] if service else ["code"],
            "grant_types": ["client_credentials"] if service else ["authorization_code"],
            "application_type": "service" if service else "browser",
            "consent_method": "REQUIRED",
            "issuer_mode": "DYNAMIC",
        }
        app["credentials"]["oauthClient"] = {
            "autoKeyRotation": True,
            "client_id": app["id"],
            "token_endpoint_auth_method": "private_key_jwt" if service else "none",
            "pkce_required": not service,
        }
    elif mode == "BOOKMARK":
        settings["app"] = {"requestIntegration": False, "url": f"{site}/"}
    elif mode == "BROWSER_PLUGIN":
        settings["app"] = {
            "buttonField": "#login",
            "passwordField": "#password",
            "usernameField": "#username",
            "url": f"{site}/login",
            "loginUrlRegex": None,
        }
        app["credentials"].update({"scheme": "EDIT_USERNAME_AND_PASSWORD", "revealPassword": False})
    elif mode == "WS_FEDERATION":
        settings["app"] = {
            "audienceRestriction": "urn:federation:MicrosoftOnline",
            "groupValueFormat": "windowsDomainQualifiedName",
            "wReplyURL": "https://login.microsoftonline.com/login.srf",
            "nameIDFormat": "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
            "authnContextClassRef": _SAML_AUTHN_CONTEXT,
            "siteURL": "https://www.office.com",
            "usernameAttribute": "username",
            "realm": "urn:federation:acme",
            "wReplyOverride": False,
        }


def _policy(
    state: OrgState,
    ptype: str,
    name: str,
    *,
    system: bool = False,
    description: str | None = None,
    priority: int = 1,
    conditions: Json | None = None,
    resource_type: str | None = None,
) -> Json:
    policy = new_policy(
        state,
        ptype,
        name,
        now=BASE_TIME,
        description=description,
        priority=priority,
        system=system,
        conditions=conditions,
    )
    if resource_type is not None:
        policy["resourceType"] = resource_type
    return policy


# a rule stored at the seed's time; the caller gives priority, conditions and actions
_rule = functools.partial(new_rule, now=BASE_TIME)


def _sign_on_actions(
    idle: int = 120,
    lifetime: int = 0,
    require: bool = False,
    mode: str | None = None,
    factor_lifetime: int | None = None,
    pipeline: str = "idx",
) -> Json:
    signon: Json = {"access": "ALLOW", "requireFactor": require}
    if mode:
        signon["factorPromptMode"] = mode
    if factor_lifetime is not None:
        signon["factorLifetime"] = factor_lifetime
    if pipeline == "idx":
        signon["primaryFactor"] = "PASSWORD_IDP_ANY_FACTOR"
    signon["rememberDeviceByDefault"] = False
    signon["session"] = {
        "usePersistentCookie": False,
        "maxSessionIdleMinutes": idle,
        "maxSessionLifetimeMinutes": lifetime,
    }
    return {"signon": signon}


def _people(groups: list[str] | None) -> Json:
    people: Json = {"users": {"exclude": []}}
    if groups:
        people["groups"] = {"include": groups}
    return people


def _sign_on_conditions(groups: list[str] | None = None) -> Json:
    return {
        "people": _people(groups),
        "network": {"connection": "ANYWHERE"},
        "authContext": {"authType": "ANY"},
        "identityProvider": {"provider": "ANY"},
    }


def _access_actions(
    factor_mode: str = "2FA",
    reauth: str = "PT12H",
    kmsi: str | None = None,
    constraints: list[Json] | None = None,
    kmsi_feature: bool = True,
) -> Json:
    vm: Json = {"factorMode": factor_mode, "type": "ASSURANCE", "reauthenticateIn": reauth}
    if constraints is not None:
        vm["constraints"] = constraints
    app_sign_on: Json = {"access": "ALLOW", "verificationMethod": vm}
    if kmsi_feature:
        app_sign_on["keepMeSignedIn"] = (
            {"postAuth": "ALLOWED", "postAuthPromptFrequency": kmsi}
            if kmsi
            else {"postAuth": "NOT_ALLOWED"}
        )
    return {"appSignOn": app_sign_on}


def _access_conditions(groups: list[str] | None = None) -> Json:
    return {
        "people": _people(groups),
        "network": {"connection": "ANYWHERE"},
        "userType": {"include": [], "exclude": []},
    }


def _catch_all(state: OrgState, policy: Json, kmsi_feature: bool) -> None:
    """The catch-all rule a new app sign-in policy gets, as POST /api/v1/policies makes it."""
    rule = add_catch_all_rule(state, policy, BASE_TIME)
    if not kmsi_feature:
        # seeded without the feature, the org never stored a KMSI setting
        del rule["actions"]["appSignOn"]["keepMeSignedIn"]


class _SeedRule(NamedTuple):
    """A seeded app sign-in rule: for the members of ``group`` (None: everyone)."""

    name: str
    group: str | None
    reauth: str
    factor_mode: str = "2FA"
    kmsi: str | None = None  # postAuthPromptFrequency (with the KMSI feature only)
    constraints: list[Json] | None = None


#: Each app sign-in policy's own rules, by priority; its catch-all rule is made after them.
_APP_POLICY_RULES: tuple[tuple[str, tuple[_SeedRule, ...]], ...] = (
    ("Okta Admin Console", (_SeedRule("Admins: 2FA every 2 hours", "IT Admins", "PT2H"),)),
    (
        "Okta Dashboard",
        (
            _SeedRule("KMSI pilot: stay signed in", "KMSI Pilot", "PT43800H", kmsi="PT168H"),
            _SeedRule("Everyone else", None, "PT12H", factor_mode="1FA"),
        ),
    ),
    ("Okta Browser Plugin", ()),
    (
        "High assurance apps",
        (
            _SeedRule(
                "Engineering: phishing-resistant",
                "Engineering",
                "PT4H",
                constraints=[
                    {
                        "possession": {
                            "required": True,
                            "phishingResistant": "REQUIRED",
                            "deviceBound": "REQUIRED",
                        }
                    }
                ],
            ),
        ),
    ),
    ("Partner apps", (_SeedRule("Partners: every sign-in", None, "PT0S"),)),
)


# ---- seeds ---------------------------------------------------------------------------------


def _base(state: OrgState, pipeline: str, kmsi_feature: bool) -> dict[str, Json]:
    """Org, groups, policies and brands common to every seed; returns policies by name."""
    state.org = {
        "id": state.ids.new(PREFIXES["org"]),
        "name": "Acme Corp",
        "subdomain": "acme",
        "pipeline": pipeline,
        "kmsiFeature": kmsi_feature,
        "preAuthKmsi": False,
        "riskScoring": False,
        "seeding": True,
    }
    everyone = make_group(state, "Everyone", "All users in your organization", "BUILT_IN")
    groups = {name: make_group(state, name, desc) for name, desc in GROUPS}

    by_name: dict[str, Json] = {}
    # the global session policy of a new org: only the system default policy and rule
    default_gsp = _policy(
        state,
        "OKTA_SIGN_ON",
        "Default Policy",
        system=True,
        priority=1,
        description="The default policy applies in all situations if no other policy applies.",
        conditions={"people": {"groups": {"include": [everyone["id"]]}}},
    )
    _rule(
        state,
        default_gsp,
        "Default Rule",
        priority=1,
        conditions=_sign_on_conditions(),
        actions=_sign_on_actions(pipeline=pipeline),
        system=True,
    )
    by_name["Default Policy"] = default_gsp
    for ptype in ("PASSWORD", "MFA_ENROLL", "PROFILE_ENROLLMENT"):
        _policy(
            state,
            ptype,
            "Default Policy",
            system=True,
            description="The default policy applies in all situations if no other policy applies.",
            conditions=None
            if ptype in CONDITIONLESS_TYPES
            else {"people": {"groups": {"include": [everyone["id"]]}}},
        )

    # app sign-in policies, created in the order a new org lists them (by id)
    for name in ("Okta Admin Console", "Okta Dashboard", "Okta Browser Plugin"):
        by_name[name] = _policy(state, "ACCESS_POLICY", name, resource_type="APP")
    default_app = _policy(
        state,
        "ACCESS_POLICY",
        "Any two factors",
        system=True,
        description="Require two factors to access.",
        resource_type="APP",
    )
    # the recorded org's default catch-all rule has no constraints (unlike new policies')
    _rule(
        state,
        default_app,
        "Catch-all Rule",
        priority=99,
        conditions=None,
        actions=_access_actions(kmsi_feature=kmsi_feature),
        system=True,
    )
    by_name["Any two factors"] = default_app
    account = _policy(
        state,
        "ACCESS_POLICY",
        "Okta Account Management Policy",
        description="This policy defines how users must authenticate for "
        "authenticator enrollment, password reset, or unlock account.",
        resource_type="END_USER_ACCOUNT_MANAGEMENT",
    )
    _catch_all(state, account, kmsi_feature)
    for name in ("High assurance apps", "Partner apps"):
        by_name[name] = _policy(state, "ACCESS_POLICY", name, resource_type="APP")
    for policy_name, rules in _APP_POLICY_RULES:
        policy = by_name[policy_name]
        for priority, rule in enumerate(rules):
            _rule(
                state,
                policy,
                rule.name,
                priority=priority,
                conditions=_access_conditions([groups[rule.group]["id"]] if rule.group else None),
                actions=_access_actions(
                    factor_mode=rule.factor_mode,
                    reauth=rule.reauth,
                    kmsi=rule.kmsi if kmsi_feature else None,
                    constraints=clone(rule.constraints) if rule.constraints else None,
                    kmsi_feature=kmsi_feature,
                ),
            )
        _catch_all(state, policy, kmsi_feature)

    # brands: the default brand shows Okta's default page; the partner brand is customised
    add_brand(state, "Acme Corp", is_default=True)
    partner = add_brand(state, "Acme Partners", is_default=False)
    partner["locale"] = "en"  # recorded: only brands created later carry a locale
    page: Json = {
        "pageContent": DEFAULT_PAGE_CONTENT,
        "widgetVersion": "^7",
        "widgetCustomizations": clone(DEFAULT_WIDGET_CUSTOMIZATIONS),
    }
    page["widgetCustomizations"]["signInLabel"] = "Acme Partners sign-in"
    page["widgetCustomizations"]["postAuthKeepMeSignedInPrompt"] = {
        "title": "Stay signed in to Acme Partners?",
        "subtitle": "You will be asked less often on this device.",
        "acceptButtonText": "Yes, stay signed in",
        "rejectButtonText": "No, thanks",
    }
    state.sign_in_pages[partner["id"]]["customized"] = page
    return by_name


def _apps(state: OrgState, policies: dict[str, Json]) -> None:
    for app in SEED_DATA.apps:
        policy_id = policies[app.policy]["id"] if app.policy and not app.service else None
        make_app(
            state,
            app.label,
            name=app.name,
            sign_on_mode=app.sign_on_mode,
            policy_id=policy_id,
            service=app.service,
        )
    dashboard = next(a for a in state.apps.values() if a["name"] == "okta_enduser")
    for brand in state.brands.values():
        if brand["isDefault"]:
            brand["defaultApp"]["appInstanceId"] = dashboard["id"]


def _users(state: OrgState, count: int, rng: random.Random, domain: str) -> None:
    team_groups = [g["id"] for g in state.groups.values() if g["type"] == "OKTA_GROUP"]
    seen: set[str] = set()
    statuses = (
        ["ACTIVE"] * 90
        + ["SUSPENDED"] * 3
        + ["DEPROVISIONED"] * 3
        + ["PROVISIONED"] * 2
        + ["LOCKED_OUT"] * 2
    )
    n = 0
    while n < count:
        first = rng.choice(SEED_DATA.first_names)
        last = rng.choice(SEED_DATA.last_names)
        base = f"{first}.{last}".lower()
        login = f"{base}@{domain}"
        suffix = 2
        while login in seen:
            login = f"{base}{suffix}@{domain}"
            suffix += 1
        seen.add(login)
        groups = rng.sample(team_groups, k=rng.choice((1, 1, 2, 2, 3)))
        make_user(state, login, first, last, status=rng.choice(statuses), groups=groups)
        n += 1


def _admin_user(state: OrgState, domain: str) -> None:
    it_admins = next(g["id"] for g in state.groups.values() if g["profile"]["name"] == "IT Admins")
    admin = make_user(state, f"okta.admin@{domain}", "Okta", "Admin", groups=[it_admins])
    # the sandbox's SSWS token is this admin's: the System Log names them as its actor. The
    # token id (00T...) is derived from the org id, so seeding takes no id from the counter.
    state.org["apiTokenOwnerId"] = admin["id"]
    state.org["apiTokenId"] = "00T" + state.org["id"][3:]


def build(seed: str = "default") -> OrgState:
    """A fresh org for the named seed (deterministic: same seed, same ids and data)."""
    builder = BUILDERS.get(seed)
    if builder is None:
        raise ValueError(f"unknown seed {seed!r}; choose one of {', '.join(SEEDS)}")
    state = OrgState()
    state.ids = IdFactory(seed=42)
    builder(state)
    state.org.pop("seeding", None)
    return state


def _default(state: OrgState, pipeline: str = "idx", kmsi: bool = True) -> None:
    rng = random.Random(42)  # noqa: S311 - deterministic sample data
    policies = _base(state, pipeline, kmsi)
    _apps(state, policies)
    _admin_user(state, "acme.example.com")
    _users(state, 120, rng, "acme.example.com")


def _classic(state: OrgState) -> None:
    _default(state, pipeline="v1", kmsi=False)


def _large(state: OrgState) -> None:
    rng = random.Random(42)  # noqa: S311 - deterministic sample data
    policies = _base(state, "idx", True)
    _apps(state, policies)
    shared = [
        p
        for name, p in policies.items()
        if p["type"] == "ACCESS_POLICY"
        and name not in ("Okta Admin Console", "Okta Dashboard", "Okta Browser Plugin")
    ]
    n = len(state.apps)
    while n < 1000:
        product = rng.choice(SEED_DATA.large_app_products)
        label = f"{product} {n:04d}"
        policy = rng.choice(shared)
        make_app(state, label, name=f"app_{n:04d}", policy_id=policy["id"])
        n += 1
    _admin_user(state, "acme.example.com")
    _users(state, 9999, rng, "acme.example.com")


BUILDERS: dict[str, Callable[[OrgState], None]] = {
    "default": _default,
    "classic": _classic,
    "large": _large,
}
