"""Post-authentication KMSI prompt text per brand.

The prompt (title, subtitle, accept and reject button text) lives in a
brand's sign-in page under ``widgetCustomizations.postAuthKeepMeSignedInPrompt``.
Okta's PUT of that page is a full replace (docs/OKTA-API.md §9.3): a field left out of
the body is wiped, ``pageContent``, ``widgetVersion``, the CSP settings and
every label included. So this procedure:

1. reads the brand's customized page, or the default page when the brand has
   none (that is what users see, so it is the base to start from);
2. changes only the prompt fields it was given (``None`` leaves one as is);
3. plans a PUT of the whole page, every other field as read, fields unknown
   to this library included.

With ``preview_first`` the page goes to the brand's *preview* page instead and
the apply result carries the preview URL; run again without it to publish.

Rollback: the plan records the page as it was, or that there was no
customized (or preview) page, in which case a rollback deletes the page the
apply created and the brand falls back to its default page.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, field_validator, model_validator

from kmsi_lib.engine import (
    PROMPT_FIELDS,
    PROMPT_PATH,
    AllowUnusualValues,
    Apply,
    ApplyResult,
    Change,
    Check,
    FieldDiff,
    ObjectKind,
    ObjectRef,
    ParamsModel,
    Plan,
    Procedure,
    Reader,
    Verification,
    bounds,
    canonical,
    diff,
    get_path,
    parse_params,
    register_kind,
    register_lookup,
    same_value,
    suggest,
)
from kmsi_lib.errors import ParameterError
from kmsi_lib.jsontypes import JsonMap, JsonObject, JsonValue, arr, obj
from kmsi_lib.okta.resources import brands as brands_api

if TYPE_CHECKING:
    from kmsi_lib.okta.client import OktaClient

__all__ = [
    "NAME",
    "PROCEDURE",
    "PROMPT_PATH",
    "Params",
    "apply",
    "desired_prompt",
    "live_page",
    "merge_prompt",
    "plan",
    "select_brands",
    "verify",
]

NAME = "prompt_text"

PAGE_KIND = "sign_in_page"
PREVIEW_KIND = "sign_in_preview_page"


class Params(ParamsModel):
    """Which brands get which prompt text. A text left as None is not changed."""

    brands: Literal["all"] | Annotated[list[Annotated[str, bounds.NAME]], bounds.FEW] = Field(
        description='Brand names or ids, or "all" for every brand of the org.'
    )
    title: Annotated[str, bounds.TITLE] | None = Field(
        default=None, description="Prompt title, e.g. 'Stay signed in?'."
    )
    subtitle: Annotated[str, bounds.SUBTITLE] | None = Field(
        default=None, description="Prompt subtitle."
    )
    accept_button_text: Annotated[str, bounds.BUTTON] | None = Field(
        default=None, description="Accept button text."
    )
    reject_button_text: Annotated[str, bounds.BUTTON] | None = Field(
        default=None, description="Reject button text."
    )
    preview_first: bool = Field(
        default=False,
        description="Write to the brand's preview page (and report its URL) instead of live.",
    )
    allow_unusual_values: AllowUnusualValues

    @field_validator("brands")
    @classmethod
    def _some_brand(cls, value: Literal["all"] | list[str]) -> Literal["all"] | list[str]:
        if isinstance(value, list):
            if not value:
                raise ValueError('name at least one brand (name or id), or write "all"')
            for index, item in enumerate(value):
                if not item.strip():
                    raise ValueError(f"entry {index} is empty; give a brand name or id")
        return value

    @field_validator(*PROMPT_FIELDS)
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty; leave it out (None) to keep the current text")
        return value

    @model_validator(mode="after")
    def _some_text(self) -> Params:
        if all(getattr(self, name) is None for name in PROMPT_FIELDS):
            raise ValueError(f"give at least one of {', '.join(PROMPT_FIELDS)}")
        return self


# --------------------------------------------------------------------------- pure


def desired_prompt(params: Params) -> dict[str, str]:
    """The prompt fields to set (Okta's names), only those the parameters give."""
    return {
        okta: value
        for name, okta in PROMPT_FIELDS.items()
        if isinstance(value := getattr(params, name), str)
    }


def merge_prompt(page: Mapping[str, JsonValue], prompt: Mapping[str, str]) -> JsonObject:
    """The whole page with only the given prompt fields changed (a deep copy).

    Every other field is kept as read, unknown ones and nulls included; only
    hypermedia (``_links``, ``_embedded``) is dropped, as it is not part of a
    SignInPage body.
    """
    body = {k: copy.deepcopy(v) for k, v in page.items() if not k.startswith("_")}
    widget = body.get("widgetCustomizations")
    if not isinstance(widget, dict):
        widget = {}
        body["widgetCustomizations"] = widget
    current = widget.get("postAuthKeepMeSignedInPrompt")
    merged: JsonObject = dict(current) if isinstance(current, dict) else {}
    merged.update(prompt)
    widget["postAuthKeepMeSignedInPrompt"] = merged
    return body


def prompt_of(page: JsonMap | None) -> JsonObject:
    """The prompt fields of a page (missing fields as None)."""
    current = obj(get_path(page, PROMPT_PATH))
    return {okta: current.get(okta) for okta in PROMPT_FIELDS.values()}


def select_brands(
    brands: Sequence[Mapping[str, JsonValue]], wanted: Literal["all"] | Sequence[str]
) -> list[JsonObject]:
    """Resolve brand names or ids (exact) to brand objects, in the order given.

    Raises :class:`ParameterError` on ``brands[i]`` for an unknown entry,
    suggesting the closest name. A brand named twice is selected once.
    """
    if wanted == "all":
        if not brands:
            raise ParameterError("brands", "the org has no brand to change")
        return [dict(b) for b in brands]
    by_id = {str(b.get("id")): b for b in brands}
    by_name = {str(b.get("name")): b for b in brands}
    chosen: list[JsonObject] = []
    seen: set[str] = set()
    for index, item in enumerate(wanted):
        brand = by_id.get(item) or by_name.get(item)
        if brand is None:
            names = sorted(by_name)
            hint = suggest(item, names) or f"; the brands are: {names}"
            raise ParameterError(f"brands[{index}]", f"no brand named {item!r} in this org{hint}")
        brand_id = str(brand["id"])
        if brand_id not in seen:
            seen.add(brand_id)
            chosen.append(dict(brand))
    return chosen


# --------------------------------------------------------------------------- reads and writes


def _brand_id(args: JsonMap) -> str:
    """The ``brand_id`` of a lookup's arguments (the error a resource gives for a bad one)."""
    value = args["brand_id"]
    if not isinstance(value, str) or not value:
        raise ParameterError("id", f"expected a non-empty id, got {value!r}")
    return value


def _brand_summaries(c: OktaClient, wanted: object) -> list[JsonObject]:
    """The brands selection depends on: every brand for "all", else those named.

    Only id, name and isDefault are kept: a brand's theme changing, or a brand
    the parameters do not name appearing, is no drift for this plan.
    """
    brands: list[JsonObject] = [
        {"id": b.get("id"), "name": b.get("name"), "isDefault": b.get("isDefault")}
        for b in brands_api.list_brands(c)
    ]
    if wanted == "all":
        return brands
    names = arr(wanted)
    return [b for b in brands if b["id"] in names or b["name"] in names]


def _lookup_brands(c: OktaClient, a: JsonMap) -> JsonValue:
    return list[JsonValue](_brand_summaries(c, a.get("wanted", "all")))


def _lookup_customized(c: OktaClient, a: JsonMap) -> JsonValue:
    return brands_api.get_customized_sign_in_page(c, _brand_id(a))


def _lookup_default(c: OktaClient, a: JsonMap) -> JsonValue:
    return brands_api.get_default_sign_in_page(c, _brand_id(a))


def live_page(client: OktaClient, brand_id: str) -> tuple[str, JsonObject]:
    """The page a brand's users see: ``("customized", page)``, else ``("default", page)``."""
    page = brands_api.get_customized_sign_in_page(client, brand_id)
    if page is not None:
        return "customized", page
    return "default", brands_api.get_default_sign_in_page(client, brand_id)


def _own_preview(c: OktaClient, brand_id: str) -> JsonObject | None:
    """The brand's own preview page, or None when it has none.

    Okta may answer a GET of the preview with the live page when no preview
    was saved (the spec says 404; not recorded). A preview equal to the live
    page is therefore treated as "no preview of its own": deleting it on
    rollback shows exactly the same page.
    """
    preview = brands_api.get_preview_sign_in_page(c, brand_id)
    if preview is None:
        return None
    _, live = live_page(c, brand_id)
    return None if canonical(preview) == canonical(live) else preview


def _lookup_preview(c: OktaClient, a: JsonMap) -> JsonValue:
    return _own_preview(c, _brand_id(a))


register_lookup("brands", _lookup_brands)
register_lookup("customized_sign_in_page", _lookup_customized)
register_lookup("default_sign_in_page", _lookup_default)
register_lookup("preview_sign_in_page", _lookup_preview)


class _CustomizedPage(ObjectKind):
    """A brand's customized sign-in page; ``ref.id`` is the brand id (a page has none)."""

    def read(self, client: OktaClient, ref: ObjectRef) -> JsonObject | None:
        return brands_api.get_customized_sign_in_page(client, ref.require_id())

    def create(self, client: OktaClient, ref: ObjectRef, body: JsonObject) -> JsonObject:
        # There is no POST: the first PUT creates the customized page.
        return self.update(client, ref, body)

    def update(self, client: OktaClient, ref: ObjectRef, body: JsonObject) -> JsonObject:
        return brands_api.replace_customized_sign_in_page(client, ref.require_id(), body)

    def delete(self, client: OktaClient, ref: ObjectRef) -> None:
        brands_api.delete_customized_sign_in_page(client, ref.require_id())

    def find_by_name(self, client: OktaClient, ref: ObjectRef, body: JsonMap) -> JsonObject | None:
        return self.read(client, ref)


class _PreviewPage(_CustomizedPage):
    """A brand's preview sign-in page (what the preview URL shows)."""

    def read(self, client: OktaClient, ref: ObjectRef) -> JsonObject | None:
        return _own_preview(client, ref.require_id())

    def update(self, client: OktaClient, ref: ObjectRef, body: JsonObject) -> JsonObject:
        return brands_api.replace_preview_sign_in_page(client, ref.require_id(), body)

    def delete(self, client: OktaClient, ref: ObjectRef) -> None:
        brands_api.delete_preview_sign_in_page(client, ref.require_id())


register_kind(PAGE_KIND, _CustomizedPage())
register_kind(PREVIEW_KIND, _PreviewPage())


# --------------------------------------------------------------------------- procedure


def plan(client: OktaClient, params: ParamsModel | JsonMap) -> Plan:
    """Plan the prompt text for each chosen brand (reads only).

    Unknown brands fail here as :class:`ParameterError`, before anything is
    written. A brand whose page already shows the wanted text gets no change.
    """
    p = parse_params(Params, params)
    client.require_identity_engine()
    reader = Reader(client)
    prompt = desired_prompt(p)
    named = reader.read("brands of the org", "brands", wanted=p.brands)
    try:
        brands = select_brands(named, p.brands)
    except ParameterError:
        # say which names exist (an unrecorded read: this plan goes no further)
        select_brands(_brand_summaries(client, "all"), p.brands)
        raise
    changes: list[Change] = []
    notes: list[str] = []
    for brand in brands:
        brand_id, brand_name = str(brand["id"]), str(brand["name"])
        customized = reader.read(
            f"customized sign-in page of brand {brand_name!r}",
            "customized_sign_in_page",
            brand_id=brand_id,
        )
        base = customized
        if customized is None:
            base = reader.read(
                f"default sign-in page of brand {brand_name!r}",
                "default_sign_in_page",
                brand_id=brand_id,
            )
        if p.preview_first:
            target = reader.read(
                f"preview sign-in page of brand {brand_name!r}",
                "preview_sign_in_page",
                brand_id=brand_id,
            )
            kind = PREVIEW_KIND
        else:
            target = customized
            kind = PAGE_KIND
        if not isinstance(get_path(base, PROMPT_PATH), Mapping):
            notes.append(
                f"brand {brand_name!r}: its page has no KMSI prompt at all, so the org may not"
                " have the Keep Me Signed In feature; Okta may refuse the text"
            )
        after = merge_prompt(base, prompt)
        template_note = ""
        if customized is None and brand.get("isDefault") and "pageContent" in after:
            # Okta refuses page content for the default brand (E0000213); its live page is
            # Okta's template anyway, which a page without content keeps showing.
            del after["pageContent"]
            template_note = (
                "; the default brand's page content (Okta's template) is not sent, since"
                " Okta refuses page content for the default brand"
            )
        ref = ObjectRef(kind, brand_id, brand_name)
        if target is not None and not diff(merge_prompt(target, {}), after):
            continue
        if target is None and not _prompt_diffs(base, after):
            live = "customized" if customized is not None else "default"
            notes.append(
                f"brand {brand_name!r}: its {live} page already shows this text; nothing to do"
            )
            continue
        diffs = _prompt_diffs(target if target is not None else base, after)
        if target is None:
            what = "preview page" if p.preview_first else "customized page"
            note = (
                f"no {what} yet: the PUT creates one from the"
                f" {'customized' if customized is not None else 'default'} page;"
                " rollback deletes it"
            ) + template_note
            changes.append(Change("create", kind, ref, None, after, diffs, note))
        else:
            # A preview page may differ from the live page in more than the prompt:
            # list every field, since the preview is replaced by the live page + prompt.
            all_diffs = diff(merge_prompt(target, {}), after) if p.preview_first else diffs
            note = "the saved preview is replaced by the live page" if p.preview_first else ""
            changes.append(Change("update", kind, ref, dict(target), after, all_diffs, note))
    return reader.plan(NAME, p.model_dump(mode="json"), changes, notes)


def _prompt_diffs(before: JsonMap | None, after: JsonMap) -> list[FieldDiff]:
    """Diffs of the prompt fields only (the rest of the page is sent back unchanged)."""
    old, new = prompt_of(before), prompt_of(after)
    return [
        FieldDiff(f"{PROMPT_PATH}.{key}", old[key], new[key])
        for key in new
        if not same_value(key, old[key], new[key])
    ]


def _preview_urls(client: OktaClient, result: ApplyResult) -> list[Check]:
    """After the writes: each preview page's URL in the result's notes (no check of its own)."""
    for item in result.applied:
        ref = item.change.ref
        if item.change.kind == PREVIEW_KIND and ref.id:
            url = _preview_url(client, ref.id)
            result.notes.append(f"preview of brand {ref.name!r}: {url or '(no URL given)'}")
    return []


#: Re-checks the pages, PUTs each whole page, reads it back and verifies the prompt; with
#: ``preview_first`` the result's notes carry each brand's preview URL.
apply = Apply(NAME, extra_checks=_preview_urls)


def _preview_url(client: OktaClient, brand_id: str) -> str | None:
    root = brands_api.get_sign_in_page_root(client, brand_id, expand=["previewUrl"])
    url = get_path(root, "_embedded.previewUrl")
    return url if isinstance(url, str) else None


def verify(client: OktaClient, params: ParamsModel | JsonMap) -> Verification:
    """Check that each chosen brand's live (or preview) page shows the wanted text."""
    p = parse_params(Params, params)
    prompt = desired_prompt(p)
    brands = select_brands(_brand_summaries(client, "all"), p.brands)
    checks: list[Check] = []
    for brand in brands:
        brand_id, name = str(brand["id"]), str(brand["name"])
        where, page = live_page(client, brand_id)
        if p.preview_first:
            # what the preview shows: its own page, or the live page when it has none
            page = brands_api.get_preview_sign_in_page(client, brand_id) or page
            where = "preview"
        shown = prompt_of(page)
        for key, wanted in prompt.items():
            checks.append(
                Check(
                    f"brand {name!r} {where} page {PROMPT_PATH}.{key}",
                    shown[key] == wanted,
                    wanted,
                    shown[key],
                )
            )
    return Verification(checks)


PROCEDURE = Procedure(
    name=NAME,
    title="Post-authentication KMSI prompt text per brand",
    scopes=("okta.brands.read", "okta.brands.manage", "okta.logs.read"),
    params=Params,
    plan=plan,
    apply=apply,
    verify=verify,
)
