"""Applications (``/api/v1/apps``) and their authentication-policy assignment."""

from __future__ import annotations

import re

from ._catalog import APP_LINK_IDS
from ._common import Ctx, Reply, clone, get_or_404, link, paginate
from ._errors import ApiError, validation
from ._ids import timestamp
from ._state import Json, OrgState

APPS_PAGE_DEFAULT = 200  # spec: limit default -1 (= the maximum page), maximum 200
APPS_PAGE_MAX = 200

_FILTER = re.compile(r'^\s*(status|name|id)\s+eq\s+"([^"]*)"\s*$')


def is_policy_assignable(app: Json) -> bool:
    """Service apps (client credentials) take no authentication policy (docs/OKTA-API.md §8)."""
    oauth = app.get("settings", {}).get("oauthClient") or {}
    return oauth.get("application_type") != "service"


def assign_policy(state: OrgState, app_id: str, policy_id: str) -> None:
    current = state.app_policy.get(app_id)
    if current is not None and current["policyId"] == policy_id:
        return
    state.app_policy[app_id] = {"policyId": policy_id, "mappingId": state.ids.new("rpm")}


def render_app(ctx: Ctx, app: Json) -> Json:
    out = clone(app)
    href = ctx.url(f"/api/v1/apps/{app['id']}")
    links: Json = {}
    if app["signOnMode"] == "SAML_2_0":
        links["help"] = {
            "href": ctx.url(f"/app/{app['name']}/{app['id']}/setup/help/SAML_2_0/instructions"),
            "type": "text/html",
        }
        links["metadata"] = {"href": f"{href}/sso/saml/metadata", "type": "application/xml"}
    links["uploadLogo"] = link(f"{href}/logo", ["POST"])
    link_id = APP_LINK_IDS.get(app["name"], f"aln{app['id'][3:]}")
    links["appLinks"] = [
        {
            "name": name,
            "href": ctx.url(f"/home/{app['name']}/{app['id']}/{link_id}"),
            "type": "text/html",
        }
        for name in app.get("visibility", {}).get("appLinks", {})
    ]
    enrollment = next(
        (
            p["id"]
            for p in ctx.state.policies.values()
            if p["type"] == "PROFILE_ENROLLMENT" and p["system"]
        ),
        None,
    )
    if enrollment is not None:
        links["profileEnrollment"] = {"href": ctx.url(f"/api/v1/policies/{enrollment}")}
    links["policies"] = link(f"{href}/policies", ["PUT"])
    links["groups"] = {"href": f"{href}/groups"}
    links["logo"] = [
        {"name": "medium", "href": ctx.url("/assets/img/logos/default.png"), "type": "image/png"}
    ]
    mapping = ctx.state.app_policy.get(app["id"])
    if mapping is not None and is_policy_assignable(app):
        links["accessPolicy"] = {"href": ctx.url(f"/api/v1/policies/{mapping['policyId']}")}
    links["users"] = {"href": f"{href}/users"}
    verb = "deactivate" if app["status"] == "ACTIVE" else "activate"
    links[verb] = {"href": f"{href}/lifecycle/{verb}"}
    out["_links"] = links
    return out


def get_app_or_404(state: OrgState, app_id: str) -> Json:
    return get_or_404(state.apps, app_id, "AppInstance")


def list_apps(ctx: Ctx) -> Reply:
    q = (ctx.arg("q") or "").lower()
    filt = ctx.arg("filter")
    field = value = None
    if filt:
        m = _FILTER.match(filt)
        if m is None:
            raise ApiError(
                "E0000001",
                "filter",
                causes=[{"errorSummary": f"filter: Unsupported filter expression: {filt}"}],
            )
        field, value = m.group(1), m.group(2)
    items = []
    for app in sorted(ctx.state.apps.values(), key=lambda a: a["id"]):
        if q and not (app["label"].lower().startswith(q) or app["name"].lower().startswith(q)):
            continue
        if field is not None and app.get(field) != value:
            continue
        items.append(app)
    page, reply = paginate(ctx, items, APPS_PAGE_DEFAULT, APPS_PAGE_MAX)
    reply.body = [render_app(ctx, a) for a in page]
    return reply


def get_app(ctx: Ctx, app_id: str) -> Reply:
    return Reply(200, render_app(ctx, get_app_or_404(ctx.state, app_id)))


def assign_app_policy(ctx: Ctx, app_id: str, policy_id: str) -> Reply:
    app = get_app_or_404(ctx.state, app_id)
    policy = get_or_404(ctx.state.policies, policy_id, "Policy")
    if policy["type"] != "ACCESS_POLICY":
        raise validation(
            "policyId", "Only an app sign-in policy (ACCESS_POLICY) can be assigned to an app."
        )
    if not is_policy_assignable(app):
        detail = (
            f'An invalid resource type ("{policy_id}") was supplied in the request body. '
            f"Valid types include {app_id}."
        )
        raise ApiError(
            "E0000001",
            detail,
            causes=[
                {
                    "errorSummary": detail,
                    "reason": "INVALID_VALUE",
                    "location": "resourceType",
                    "locationType": "body",
                    "domain": "policy",
                }
            ],
        )
    assign_policy(ctx.state, app_id, policy_id)
    app["lastUpdated"] = timestamp()
    return Reply(204)
