"""Brands and their sign-in pages (scopes okta.brands.read/.manage).

PUT of a sign-in page is a full replace: the KMSI prompt lives in
``widgetCustomizations.postAuthKeepMeSignedInPrompt`` and an omitted field is
wiped, so callers read the page, change one field and write the whole page.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from kmsi_lib.errors import NotFoundError
from kmsi_lib.jsontypes import JsonObject
from kmsi_lib.okta.resources._util import as_dict, seg

if TYPE_CHECKING:
    from kmsi_lib.okta.client import OktaClient

__all__ = [
    "delete_customized_sign_in_page",
    "delete_preview_sign_in_page",
    "get_brand",
    "get_customized_sign_in_page",
    "get_default_sign_in_page",
    "get_preview_sign_in_page",
    "get_sign_in_page_root",
    "list_brands",
    "replace_customized_sign_in_page",
    "replace_preview_sign_in_page",
]

BASE = "/api/v1/brands"


def _page(brand_id: str, which: str = "") -> str:
    return f"{BASE}/{seg(brand_id)}/pages/sign-in" + (f"/{which}" if which else "")


def list_brands(c: OktaClient) -> list[JsonObject]:
    """Every brand of the org."""
    return list(c.paginate(BASE))


def get_brand(c: OktaClient, brand_id: str) -> JsonObject:
    """One brand by id."""
    return as_dict(c.get_json(f"{BASE}/{seg(brand_id)}"), "a brand")


def get_customized_sign_in_page(c: OktaClient, brand_id: str) -> JsonObject | None:
    """The customized sign-in page, or None when the brand has none (404)."""
    try:
        return as_dict(c.get_json(_page(brand_id, "customized")), "a sign-in page")
    except NotFoundError:
        return None


def get_default_sign_in_page(c: OktaClient, brand_id: str) -> JsonObject:
    """The brand's default sign-in page."""
    return as_dict(c.get_json(_page(brand_id, "default")), "a sign-in page")


def replace_customized_sign_in_page(c: OktaClient, brand_id: str, page: JsonObject) -> JsonObject:
    """PUT the whole customized page (full replace)."""
    response = c.request("PUT", _page(brand_id, "customized"), json=page)
    return as_dict(response.json(), "a sign-in page")


def delete_customized_sign_in_page(c: OktaClient, brand_id: str) -> None:
    """Remove the customization; the default page becomes live."""
    c.request("DELETE", _page(brand_id, "customized"))


def get_preview_sign_in_page(c: OktaClient, brand_id: str) -> JsonObject | None:
    """The preview sign-in page, or None when there is none (404)."""
    try:
        return as_dict(c.get_json(_page(brand_id, "preview")), "a sign-in page")
    except NotFoundError:
        return None


def replace_preview_sign_in_page(c: OktaClient, brand_id: str, page: JsonObject) -> JsonObject:
    """Replace the brand's preview sign-in page (whole object)."""
    response = c.request("PUT", _page(brand_id, "preview"), json=page)
    return as_dict(response.json(), "a sign-in page")


def delete_preview_sign_in_page(c: OktaClient, brand_id: str) -> None:
    """Delete the brand's preview sign-in page."""
    c.request("DELETE", _page(brand_id, "preview"))


def get_sign_in_page_root(
    c: OktaClient,
    brand_id: str,
    expand: Iterable[str] = ("default", "customized", "preview"),
) -> JsonObject:
    """``GET .../pages/sign-in?expand=...``: the page root with the chosen pages embedded."""
    wanted = ",".join(expand)
    return as_dict(
        c.get_json(_page(brand_id), {"expand": wanted} if wanted else None), "a page root"
    )
