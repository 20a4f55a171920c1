"""Brands and their sign-in pages (``/api/v1/brands``).

A sign-in page PUT is a full replace (docs/OKTA-API.md §9.3): every field the body
leaves out comes back ``null`` (``false`` for the two booleans), including the
post-authentication KMSI prompt texts. The PUT response omits
``postAuthKeepMeSignedInPrompt``; a later GET shows it (all ``null`` if unsent).
"""

from __future__ import annotations

import re

from ._common import Ctx, Reply, carry_future_fields, clone, get_or_404, link, paginate
from ._errors import ApiError, not_found, validation
from ._ids import PREFIXES
from ._pages import DEFAULT_PAGE_CONTENT, DEFAULT_WIDGET_CUSTOMIZATIONS, DEFAULT_WIDGET_VERSION
from ._state import Json, OrgState

BRANDS_PAGE_DEFAULT = 20
BRANDS_PAGE_MAX = 200
VERSION = re.compile(r"^(?:\*|\^?\d+(?:\.\d+){0,2})$")
WIDGET_VERSIONS = [
    f"{major}.{minor}" for major, top in ((5, 16), (6, 9), (7, 30)) for minor in range(top + 1)
]

# widgetCustomizations in the order real responses list them; booleans default to false
LABELS = (
    "signInLabel",
    "usernameLabel",
    "usernameInfoTip",
    "passwordLabel",
    "passwordInfoTip",
    "showPasswordVisibilityToggle",
    "showUserIdentifier",
    "forgotPasswordLabel",
    "forgotPasswordUrl",
    "unlockAccountLabel",
    "unlockAccountUrl",
    "helpLabel",
    "helpUrl",
    "customLink1Label",
    "customLink1Url",
    "customLink2Label",
    "customLink2Url",
    "authenticatorPageCustomLinkLabel",
    "authenticatorPageCustomLinkUrl",
    "classicRecoveryFlowEmailOrUsernameLabel",
    "widgetGeneration",
)
BOOLEANS = ("showPasswordVisibilityToggle", "showUserIdentifier")
OPTIONAL = ("classicFooterHelpTitle",)  # echoed only when sent
PROMPT = ("title", "subtitle", "acceptButtonText", "rejectButtonText")
PROMPT_KEY = "postAuthKeepMeSignedInPrompt"


def get_brand_or_404(state: OrgState, brand_id: str) -> Json:
    return get_or_404(state.brands, brand_id, "Brand")


def render_brand(ctx: Ctx, brand: Json) -> Json:
    out = clone(brand)
    href = ctx.url(f"/api/v1/brands/{brand['id']}")
    out["_links"] = {
        "themes": link(f"{href}/themes", ["GET"]),
        "self": link(href, ["GET", "PUT", "DELETE"]),
    }
    return out


def list_brands(ctx: Ctx) -> Reply:
    q = (ctx.arg("q") or "").lower()
    items = [
        b
        for b in sorted(ctx.state.brands.values(), key=lambda b: b["id"])
        if q in b["name"].lower()
    ]
    page, reply = paginate(ctx, items, BRANDS_PAGE_DEFAULT, BRANDS_PAGE_MAX)
    reply.body = [render_brand(ctx, b) for b in page]
    return reply


def get_brand(ctx: Ctx, brand_id: str) -> Reply:
    return Reply(200, render_brand(ctx, get_brand_or_404(ctx.state, brand_id)))


RESERVED_BRAND_NAMES = ("DRAPP_DOMAIN_BRAND",)


def _unique_name(state: OrgState, name: object, brand_id: str | None) -> str:
    """``name`` if not blank and no other brand has it, case-insensitively (409 E0000202)."""
    if not isinstance(name, str) or not name.strip():
        raise validation("name", "The field cannot be left blank.")
    if any(
        b["name"].lower() == name.lower() and b["id"] != brand_id for b in state.brands.values()
    ):
        raise ApiError("E0000202")
    return name


def new_brand(state: OrgState, name: object) -> Json:
    """Add a non-default brand named ``name``; the caller holds the state lock.

    As recorded (``TestAccResourceOktaCustomizedSignInPage_crud``), a new brand has no
    ``locale`` until a PUT sets one; names are unique, case-insensitively (409 E0000202).
    """
    if name in RESERVED_BRAND_NAMES:
        raise validation("name", f"'{name}' is a reserved brand name.")
    return add_brand(state, _unique_name(state, name, None), is_default=False)


def add_brand(state: OrgState, name: str, *, is_default: bool) -> Json:
    """Store a brand as Okta makes one (no sign-in page customised); no checks."""
    brand: Json = {
        "id": state.ids.new(PREFIXES["brand"]),
        "name": name,
        "removePoweredByOkta": False,
        "customPrivacyPolicyUrl": None,
        "agreeToCustomPrivacyPolicy": False,
        "isDefault": is_default,
        "defaultApp": {"appInstanceId": None, "appLinkName": None, "classicApplicationUri": None},
    }
    state.brands[brand["id"]] = brand
    state.sign_in_pages[brand["id"]] = {"customized": None, "preview": None}
    return brand


def create_brand(ctx: Ctx) -> Reply:
    """``POST /api/v1/brands`` (createBrand): 201 with the new brand."""
    body = ctx.object_body()
    brand = new_brand(ctx.state, body.get("name"))
    carry_future_fields(ctx.config, "brand", body, brand)
    return Reply(201, render_brand(ctx, brand))


def replace_brand(ctx: Ctx, brand_id: str) -> Reply:
    """``PUT /api/v1/brands/{brandId}`` (replaceBrand): a full replace of the brand's settings.

    As recorded: an empty ``customPrivacyPolicyUrl`` is stored as ``null``, an empty
    ``defaultApp`` as three ``null`` fields, and ``locale`` appears once a PUT sends it.
    """
    brand = get_brand_or_404(ctx.state, brand_id)
    body = ctx.object_body()
    name = _unique_name(ctx.state, body.get("name"), brand_id)
    for key in ("removePoweredByOkta", "agreeToCustomPrivacyPolicy"):
        if body.get(key) is not None and not isinstance(body[key], bool):
            raise validation(key, "Expected a boolean (true or false).")
    for key in ("customPrivacyPolicyUrl", "locale", "emailDomainId"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise validation(key, "Expected a string.")
    app = body.get("defaultApp")
    if app is None:
        app = {}
    if not isinstance(app, dict):
        raise validation("defaultApp", "Expected an object.")
    fields = ("appInstanceId", "appLinkName", "classicApplicationUri")
    for key in fields:
        if app.get(key) is not None and not isinstance(app[key], str):
            raise validation(f"defaultApp.{key}", "Expected a string.")
    updated: Json = {
        "id": brand_id,
        "name": name,
        "removePoweredByOkta": bool(body.get("removePoweredByOkta")),
        "customPrivacyPolicyUrl": body.get("customPrivacyPolicyUrl") or None,
        "agreeToCustomPrivacyPolicy": bool(body.get("agreeToCustomPrivacyPolicy")),
        "isDefault": brand["isDefault"],
    }
    if body.get("locale"):
        updated["locale"] = body["locale"]
    if body.get("emailDomainId"):
        updated["emailDomainId"] = body["emailDomainId"]
    updated["defaultApp"] = {key: app.get(key) or None for key in fields}
    carry_future_fields(ctx.config, "brand", body, updated)
    ctx.state.brands[brand_id] = updated
    return Reply(200, render_brand(ctx, updated))


def delete_brand(ctx: Ctx, brand_id: str) -> Reply:
    """``DELETE /api/v1/brands/{brandId}``: 204; the default brand is kept (409 E0000200)."""
    brand = get_brand_or_404(ctx.state, brand_id)
    if brand["isDefault"]:
        raise ApiError("E0000200")
    del ctx.state.brands[brand_id]
    ctx.state.sign_in_pages.pop(brand_id, None)
    return Reply(204)


# ---- pages ------------------------------------------------------------------------------


def default_page(state: OrgState) -> Json:
    customizations = clone(DEFAULT_WIDGET_CUSTOMIZATIONS)
    if not state.kmsi_feature:
        customizations.pop(PROMPT_KEY, None)
    return {
        "pageContent": DEFAULT_PAGE_CONTENT,
        "widgetVersion": DEFAULT_WIDGET_VERSION,
        "widgetCustomizations": customizations,
    }


def _pages(state: OrgState, brand_id: str) -> Json:
    get_brand_or_404(state, brand_id)
    return state.sign_in_pages.setdefault(brand_id, {"customized": None, "preview": None})


def _for_get(state: OrgState, page: Json) -> Json:
    """A stored page as GET shows it: the KMSI prompt present, with nulls if never set."""
    out = clone(page)
    customizations = out.setdefault("widgetCustomizations", {})
    if state.kmsi_feature:
        customizations.setdefault(PROMPT_KEY, dict.fromkeys(PROMPT))
    else:
        customizations.pop(PROMPT_KEY, None)
    return out


def _normalise_page(ctx: Ctx, body: Json, brand: Json, kind: str) -> Json:
    """The stored form of a PUT body: full replace, unsent fields become null."""
    content = body.get("pageContent")
    if content is not None and not isinstance(content, str):
        raise validation("pageContent", "Expected a string.")
    if (
        content is not None
        and kind == "customized"
        and brand["isDefault"]
        and ctx.config.default_brand_page_content_forbidden
    ):
        raise ApiError("E0000213")
    version = body.get("widgetVersion")
    if version is not None and (not isinstance(version, str) or not VERSION.match(version)):
        raise validation("widgetVersion", f"{version!r} is not a valid widget version.")
    page: Json = {"pageContent": content}
    csp = body.get("contentSecurityPolicySetting")
    if csp is not None:
        if not isinstance(csp, dict):
            raise validation("contentSecurityPolicySetting", "Expected an object.")
        mode = csp.get("mode")
        if mode is not None and mode not in ("enforced", "report_only"):
            raise validation(
                "contentSecurityPolicySetting.mode",
                f"'{mode}' is not one of enforced, report_only.",
            )
        src = csp.get("srcList")
        if src is not None and (
            not isinstance(src, list) or not all(isinstance(s, str) for s in src)
        ):
            raise validation("contentSecurityPolicySetting.srcList", "Expected strings.")
        report = csp.get("reportUri")
        if report is not None and not isinstance(report, str):
            raise validation("contentSecurityPolicySetting.reportUri", "Expected a string.")
        page["contentSecurityPolicySetting"] = {
            "reportUri": report,
            "mode": mode,
            "srcList": src if src is not None else [],
        }
    page["widgetVersion"] = version
    wc = body.get("widgetCustomizations")
    if wc is None:
        wc = {}
    if not isinstance(wc, dict):
        raise validation("widgetCustomizations", "Expected an object.")
    out: Json = {}
    for key in LABELS:
        value = wc.get(key)
        where = f"widgetCustomizations.{key}"
        if key in BOOLEANS:
            if value is not None and not isinstance(value, bool):
                raise validation(where, "Expected a boolean (true or false).")
            out[key] = bool(value)
        elif key == "widgetGeneration":
            if value is not None and value not in ("G2", "G3"):
                raise validation(where, f"'{value}' is not one of G2, G3.")
            out[key] = value
        else:
            if value is not None and not isinstance(value, str):
                raise validation(where, "Expected a string.")
            out[key] = value
    for key in OPTIONAL:
        if wc.get(key) is not None:
            if not isinstance(wc[key], str):
                raise validation(f"widgetCustomizations.{key}", "Expected a string.")
            out[key] = wc[key]
    prompt = wc.get(PROMPT_KEY)
    if prompt is not None:
        if not ctx.state.kmsi_feature:
            raise validation(
                f"widgetCustomizations.{PROMPT_KEY}",
                "Keep Me Signed In is not available for this org.",
            )
        if not isinstance(prompt, dict):
            raise validation(f"widgetCustomizations.{PROMPT_KEY}", "Expected an object.")
        stored: Json = {}
        for key in PROMPT:
            value = prompt.get(key)
            if value is not None and not isinstance(value, str):
                raise validation(f"widgetCustomizations.{PROMPT_KEY}.{key}", "Expected a string.")
            stored[key] = value
        out[PROMPT_KEY] = stored
    page["widgetCustomizations"] = out
    carry_future_fields(ctx.config, "sign-in page", body, page)
    return page


def put_page(ctx: Ctx, brand_id: str, kind: str) -> Reply:
    """PUT of the ``kind`` page (customized or preview: the spec's two replace operations
    take and answer the same ``SignInPage``); the response omits the KMSI prompt (a later
    GET shows it)."""
    pages = _pages(ctx.state, brand_id)
    page = _normalise_page(ctx, ctx.object_body(), ctx.state.brands[brand_id], kind)
    pages[kind] = page
    out = clone(page)
    out.get("widgetCustomizations", {}).pop(PROMPT_KEY, None)
    return Reply(200, out)


def delete_page(ctx: Ctx, brand_id: str, kind: str) -> Reply:
    """DELETE of the ``kind`` page (customized or preview): GET falls back as for a new brand."""
    _pages(ctx.state, brand_id)[kind] = None
    return Reply(204)


def _preview(state: OrgState, pages: Json) -> Json:
    """The preview page as GET shows it: the preview, else the customized, else the default."""
    page = pages["preview"] or pages["customized"]
    return _for_get(state, page) if page else default_page(state)


def get_customized(ctx: Ctx, brand_id: str) -> Reply:
    page = _pages(ctx.state, brand_id)["customized"]
    if page is None:
        if ctx.config.customized_404_when_absent:
            raise not_found(brand_id, "SignInPage")
        return Reply(200, default_page(ctx.state))
    return Reply(200, _for_get(ctx.state, page))


def get_default(ctx: Ctx, brand_id: str) -> Reply:
    get_brand_or_404(ctx.state, brand_id)
    return Reply(200, default_page(ctx.state))


def get_preview(ctx: Ctx, brand_id: str) -> Reply:
    return Reply(200, _preview(ctx.state, _pages(ctx.state, brand_id)))


def widget_versions(ctx: Ctx, brand_id: str) -> Reply:
    get_brand_or_404(ctx.state, brand_id)
    return Reply(200, list(WIDGET_VERSIONS))


def get_sign_in_root(ctx: Ctx, brand_id: str) -> Reply:
    pages = _pages(ctx.state, brand_id)
    expand = {e.strip() for e in (ctx.arg("expand") or "").split(",") if e.strip()}
    allowed = {"default", "customized", "customizedUrl", "preview", "previewUrl"}
    unknown = expand - allowed
    if unknown:
        raise validation("expand", f"Unknown expand value(s): {', '.join(sorted(unknown))}.")
    embedded: dict[str, object] = {}
    if "default" in expand:
        embedded["default"] = default_page(ctx.state)
    if "customized" in expand and pages["customized"] is not None:
        embedded["customized"] = _for_get(ctx.state, pages["customized"])
    if "customizedUrl" in expand:
        embedded["customizedUrl"] = ctx.url("/login/signin")
    if "preview" in expand:
        embedded["preview"] = _preview(ctx.state, pages)
    if "previewUrl" in expand:
        embedded["previewUrl"] = ctx.url(f"/login/preview?brandId={brand_id}")
    base = ctx.url(f"/api/v1/brands/{brand_id}/pages/sign-in")
    body: Json = {}
    if embedded:
        body["_embedded"] = embedded
    body["_links"] = {
        "self": link(base, ["GET"]),
        "default": link(f"{base}/default", ["GET"]),
        "customized": link(f"{base}/customized", ["GET", "PUT", "DELETE"]),
        "preview": link(f"{base}/preview", ["GET", "PUT", "DELETE"]),
    }
    return Reply(200, body)
