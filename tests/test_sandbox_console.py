"""The sandbox's "Admin Console" page for the pre-auth toggle: Security > General."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from kmsi_lib.sandbox import SANDBOX_URL, Sandbox

PAGE = "/_sandbox/console/security/general"
FORM = {"form": "organization-security"}


@pytest.fixture
def sb() -> Sandbox:
    return Sandbox(seed="default")


@pytest.fixture
def browser(sb: Sandbox) -> Iterator[httpx.Client]:
    """A client as a browser is one: no credentials at all."""
    with httpx.Client(base_url=SANDBOX_URL, transport=sb.transport()) as client:
        yield client


def test_the_page_shows_the_setting_as_the_org_holds_it(sb: Sandbox, browser: httpx.Client) -> None:
    page = browser.get(PAGE)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Organization Security" in page.text and "Keep me signed in" in page.text
    assert 'id="preAuthKmsi" name="preAuthKmsi" value="on">' in page.text  # not checked
    assert '<b id="state">off</b>' in page.text
    sb.admin.set_org_settings({"preAuthKmsi": True})
    assert 'value="on" checked>' in browser.get(PAGE).text


def test_save_flips_the_same_state_as_the_admin_endpoint(
    sb: Sandbox, browser: httpx.Client
) -> None:
    on = browser.post(PAGE, data={**FORM, "preAuthKmsi": "on"})
    assert on.status_code == 200 and "Saved" in on.text and '<b id="state">on</b>' in on.text
    assert sb.admin.org_settings["preAuthKmsi"] is True
    assert browser.get("/_sandbox/org-settings").json()["preAuthKmsi"] is True
    off = browser.post(PAGE, data=FORM)  # an unticked checkbox is not sent at all
    assert off.status_code == 200 and sb.admin.org_settings["preAuthKmsi"] is False
    # the page's change is an org change: Okta's API side sees nothing of it, as in Okta
    assert not [r for r in sb.admin.requests() if r["path"].startswith("/api/")]


def test_a_post_that_is_not_the_form_changes_nothing(sb: Sandbox, browser: httpx.Client) -> None:
    assert browser.post(PAGE, data={"preAuthKmsi": "on"}).status_code == 400
    assert sb.admin.org_settings["preAuthKmsi"] is False
    assert browser.put(PAGE, data=FORM).status_code == 405


def test_the_org_name_is_escaped(sb: Sandbox, browser: httpx.Client) -> None:
    sb.admin.set_org_settings({"name": "<script>alert(1)</script> & Co"})
    text = browser.get(PAGE).text
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in text


def test_the_page_is_served_over_http_too() -> None:
    sandbox = Sandbox(seed="default")
    with sandbox.serve(port=0) as url:
        saved = httpx.post(f"{url}{PAGE}", data={**FORM, "preAuthKmsi": "on"})
    assert saved.status_code == 200 and sandbox.admin.org_settings["preAuthKmsi"] is True
