"""A small "Admin Console" page of the sandbox: Security > General > Organization Security.

Okta has no public API for the org setting that shows "Keep me signed in"
before users sign in: an admin clicks it in the Admin Console. The sandbox
serves a page for that click, so that a trainee practises the manual step of
the pre-auth runbook as it is done on a real org, instead of calling an
endpoint. ``GET /_sandbox/console/security/general`` shows the setting as the
org holds it; the page's Save button posts the form back to the same address,
which changes the same org state as ``PUT /_sandbox/org-settings``
(``preAuthKmsi``). Like every ``/_sandbox/`` endpoint it needs no credentials
and exists only in the sandbox.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from werkzeug.wrappers import Request

from ._common import RawBody, Reply

if TYPE_CHECKING:
    from ._admin import Admin

__all__ = ["CONSOLE_PATH", "page", "serve"]

CONSOLE_PATH = "/_sandbox/console/security/general"
#: The form field of the checkbox (and the org setting it stands for).
FIELD = "preAuthKmsi"

_STYLE = (
    "body{font-family:sans-serif;margin:0;background:#f5f5f6;color:#1d1d21}"
    "header{background:#1d1d21;color:#fff;padding:10px 20px}"
    "main{max-width:46em;margin:20px auto;background:#fff;padding:16px 24px;"
    "border:1px solid #d7d7dc;border-radius:4px}"
    ".crumbs{color:#6e6e78;font-size:90%}.saved{background:#e6f4ea;padding:6px 10px}"
    "label{display:block;margin:8px 0}button{padding:6px 16px}"
)


def page(org_name: str, enabled: bool, *, saved: bool = False) -> str:
    """The page's HTML for an org named ``org_name`` whose setting is ``enabled``."""
    state = "on" if enabled else "off"
    notice = (
        f'<p class="saved" role="status">Saved: "Keep me signed in" before sign-in is now'
        f" {state}.</p>"
        if saved
        else ""
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>Security - General - {escape(org_name)} (sandbox)</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<header><b>Okta Admin Console</b> (sandbox of {escape(org_name)})</header><main>"
        '<p class="crumbs">Security &gt; General</p><h1>General</h1>'
        f"{notice}<h2>Organization Security</h2>"
        f'<form method="post" action="{CONSOLE_PATH}">'
        '<input type="hidden" name="form" value="organization-security">'
        f'<label><input type="checkbox" id="{FIELD}" name="{FIELD}" value="on"'
        f"{' checked' if enabled else ''}> <b>Keep me signed in</b>: show the"
        " 'Keep me signed in' option before users sign in (pre-authentication)</label>"
        f'<p>Currently: <b id="state">{state}</b>.</p>'
        '<button type="submit">Save</button></form></main></body></html>'
    )


def serve(admin: Admin, request: Request) -> Reply:
    """GET: the page; POST (the page's form): set the setting from the checkbox, then the page."""
    saved = False
    if request.method == "POST":
        fields = parse_qs(request.get_data(as_text=True), keep_blank_values=True)
        if fields.get("form") != ["organization-security"]:
            return Reply(400, RawBody("<p>Not the Organization Security form.</p>", "text/html"))
        admin.set_org_settings({FIELD: fields.get(FIELD) == ["on"]})
        saved = True
    settings = admin.org_settings
    body = page(str(settings.get("name") or "the org"), settings.get(FIELD) is True, saved=saved)
    return Reply(200, RawBody(body, "text/html"))
