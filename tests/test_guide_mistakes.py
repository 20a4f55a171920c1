"""The KMSI guide's mistakes (docs/OKTA-API.md §12.1): the procedures send the correct form.

One test per row of the table that applies to our procedures. Each inspects
the requests as they reached the sandbox transport (``WireRecorder``, below
the client), so what is asserted is what Okta would have received.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from procedure_support import ATTESTATION, Org, Sent, apply_acknowledged, make_org

from kmsi_lib import durations
from kmsi_lib.procedures import post_auth, pre_auth

PRE_AUTH: dict[str, Any] = {
    "groups": ["KMSI Pilot"],
    "factor_lifetime_minutes": 200,
    "apps": {"labels": ["Slack"]},
}
POST_AUTH: dict[str, Any] = {
    "apps": {"labels": ["Okta Dashboard"]},
    "prompt_frequency": "PT168H",
    "reauthenticate_in": "PT168H",
    "constraints": [{"knowledge": {"types": ["password"]}}],
    "max_session_idle_minutes": 240,
}


@pytest.fixture(scope="module")
def pre_auth_org() -> Org:
    org = make_org()
    org.sandbox.admin.set_org_settings({"preAuthKmsi": True})  # the Admin Console step
    apply_acknowledged(
        pre_auth, org.client, pre_auth.plan(org.client, PRE_AUTH), attestation=ATTESTATION
    )
    return org


@pytest.fixture(scope="module")
def post_auth_org() -> Org:
    org = make_org()
    apply_acknowledged(post_auth, org.client, post_auth.plan(org.client, POST_AUTH))
    return org


def _keys(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from _keys(value)
    elif isinstance(node, list):
        for item in node:
            yield from _keys(item)


def _policy_post(org: Org) -> Sent:
    (sent,) = [s for s in org.wire.writes() if s.method == "POST" and s.path == "/api/v1/policies"]
    return sent


def _sign_on_rule_post(org: Org) -> Sent:
    return next(
        s
        for s in org.wire.writes()
        if s.method == "POST" and s.body and s.body.get("type") == "SIGN_ON"
    )


def _access_rule_writes(org: Org) -> list[Sent]:
    return [s for s in org.wire.writes() if s.body and s.body.get("type") == "ACCESS_POLICY"]


def test_policy_create_does_not_rely_on_activate(pre_auth_org: Org) -> None:
    """Guide: POST ?activate=true. Reality: Classic only; OIE takes status from the body."""
    sent = _policy_post(pre_auth_org)
    assert "activate" not in sent.query
    assert sent.body["status"] == "ACTIVE"


def test_system_is_never_sent(pre_auth_org: Org, post_auth_org: Org) -> None:
    """Guide: "system": true in the policy body. Reality: only Okta creates system objects."""
    writes = pre_auth_org.wire.writes() + post_auth_org.wire.writes()
    assert writes
    assert all("system" not in (s.body or {}) for s in writes)


def test_no_id_on_create(pre_auth_org: Org) -> None:
    """Guide: "Provide a value for id" when creating rules. Reality: id is read-only."""
    posts = [s for s in pre_auth_org.wire.writes() if s.method == "POST"]
    assert len(posts) == 3
    assert all("id" not in s.body for s in posts)


def test_signon_is_spelled_right(pre_auth_org: Org) -> None:
    """Guide: "the singon object". Reality: actions.signon."""
    body = _sign_on_rule_post(pre_auth_org).body
    assert "signon" in body["actions"]
    assert "singon" not in set(_keys(body))


def test_factor_lifetime_is_an_integer(pre_auth_org: Org) -> None:
    """Guide: "factorLifetime": "200". Reality: an integer number of minutes."""
    lifetime = _sign_on_rule_post(pre_auth_org).body["actions"]["signon"]["factorLifetime"]
    assert lifetime == 200 and type(lifetime) is int


def test_mfa_lifetime_uses_session_prompt_mode(pre_auth_org: Org) -> None:
    """Guide: factorPromptMode DEVICE with a lifetime. Reality: the lifetime applies to SESSION."""
    signon = _sign_on_rule_post(pre_auth_org).body["actions"]["signon"]
    assert signon["factorPromptMode"] == "SESSION"
    assert signon["requireFactor"] is True


def test_sign_on_rule_has_no_status_or_zone_lists(pre_auth_org: Org) -> None:
    """Guide: "status":"ACTIVE" and network.include [] with ANYWHERE. Reality: omit both."""
    body = _sign_on_rule_post(pre_auth_org).body
    assert "status" not in body
    assert body["conditions"]["network"] == {"connection": "ANYWHERE"}
    assert "priority" in body, "the rule states where it goes"


def test_factor_mode_and_reauthentication_nest_under_verification_method(
    pre_auth_org: Org, post_auth_org: Org
) -> None:
    """Guide: factorMode/reauthenticateIn in appSignOn. Reality: in appSignOn.verificationMethod."""
    writes = _access_rule_writes(pre_auth_org) + _access_rule_writes(post_auth_org)
    assert len(writes) == 2
    for sent in writes:
        sign_on = sent.body["actions"]["appSignOn"]
        assert "factorMode" not in sign_on and "reauthenticateIn" not in sign_on
        assert sign_on["verificationMethod"]["type"] == "ASSURANCE"
        assert sign_on["verificationMethod"]["factorMode"] == "2FA"
    pre = _access_rule_writes(pre_auth_org)[0].body["actions"]["appSignOn"]
    assert pre["verificationMethod"]["reauthenticateIn"] == "PT43800H"


def test_keep_me_signed_in_is_inside_app_sign_on(post_auth_org: Org) -> None:
    """Guide: keepMeSignedIn/verificationMethod as siblings of appSignOn. Reality: inside it."""
    (sent,) = _access_rule_writes(post_auth_org)
    assert set(sent.body["actions"]) == {"appSignOn"}
    assert sent.body["actions"]["appSignOn"]["keepMeSignedIn"]["postAuth"] == "ALLOWED"


def test_constraints_are_spelled_right_and_an_array(post_auth_org: Org) -> None:
    """Guide: "contraints": []. Reality: constraints, an array of objects."""
    (sent,) = _access_rule_writes(post_auth_org)
    method = sent.body["actions"]["appSignOn"]["verificationMethod"]
    assert "contraints" not in set(_keys(sent.body))
    assert method["constraints"] == [{"knowledge": {"types": ["password"]}}]


def test_persistent_cookie_name_and_read_only_value(post_auth_org: Org) -> None:
    """Guide: userPersistentCookie, set on the Default Rule. Reality: usePersistentCookie,
    read-only there, so it is sent back exactly as read."""
    org = post_auth_org
    default = org.policy("OKTA_SIGN_ON", "Default Policy")
    (sent,) = [s for s in org.wire.writes() if s.method == "PUT" and default["id"] in s.path]
    session = sent.body["actions"]["signon"]["session"]
    assert "userPersistentCookie" not in set(_keys(sent.body))
    read = org.rule(default["id"], "Default Rule")["actions"]["signon"]["session"]
    assert session["usePersistentCookie"] == read["usePersistentCookie"]
    assert session["maxSessionIdleMinutes"] == 240


def test_prompt_frequency_is_an_iso_8601_duration(post_auth_org: Org) -> None:
    """Guide: PT168H as a "Java ChronoUnit". Reality: an ISO-8601 duration string."""
    (sent,) = _access_rule_writes(post_auth_org)
    frequency = sent.body["actions"]["appSignOn"]["keepMeSignedIn"]["postAuthPromptFrequency"]
    assert durations.parse(frequency) == durations.parse("P7D")


def test_every_request_carries_an_authorization_scheme(pre_auth_org: Org) -> None:
    """Guide: 'Authorization: YOUR_API_KEY_HERE'. Reality: 'SSWS <token>' or 'Bearer <token>'."""
    assert pre_auth_org.wire.sent
    assert {s.scheme for s in pre_auth_org.wire.sent} == {"SSWS"}


@pytest.mark.parametrize("procedure", [pre_auth, post_auth], ids=["pre_auth", "post_auth"])
def test_oauth_bearer_with_exactly_the_procedure_scopes(procedure: Any) -> None:
    """With an OAuth service app the scheme is Bearer, and the procedure's SCOPES suffice."""
    import json

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm
    from procedure_support import SANDBOX_URL, WireRecorder

    from kmsi_lib.okta.auth import OAuthServiceAppAuth
    from kmsi_lib.okta.client import OktaClient
    from kmsi_lib.sandbox import Sandbox

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key())) | {"kid": "k1"}
    sandbox = Sandbox(seed="default")
    sandbox.admin.register_client("0oaKmsiRunbooks", jwk, list(procedure.PROCEDURE.scopes))
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    auth = OAuthServiceAppAuth(
        SANDBOX_URL, "0oaKmsiRunbooks", pem, scopes=procedure.PROCEDURE.scopes, key_id="k1"
    )
    wire = WireRecorder(sandbox.transport())
    client = OktaClient(SANDBOX_URL, auth, transport=wire)
    params = PRE_AUTH if procedure is pre_auth else POST_AUTH
    result = apply_acknowledged(
        procedure, client, procedure.plan(client, params), attestation=ATTESTATION
    )
    assert result.outcome == "applied"
    api = [s for s in wire.sent if s.path.startswith("/api/")]
    assert api and {s.scheme for s in api} == {"Bearer"}


def test_prompt_text_goes_under_widget_customizations_in_a_whole_page_put() -> None:
    """Guide: postAuthKeepMeSignedInPrompt as the whole PUT body. Reality: it lives in
    widgetCustomizations and the PUT replaces the page, so the whole page is sent back."""
    from kmsi_lib.procedures import prompt_text

    org = make_org()
    brands = {b["name"]: b["id"] for b in org.client.get_json("/api/v1/brands")}
    brand_id = brands["Acme Partners"]
    page_path = f"/api/v1/brands/{brand_id}/pages/sign-in/customized"
    page = org.client.get_json(page_path)
    params = {"brands": ["Acme Partners"], "title": "Stay signed in?"}
    prompt_text.apply(org.client, prompt_text.plan(org.client, params))

    (sent,) = [s for s in org.wire.writes() if s.path == page_path]
    assert sent.method == "PUT"
    assert "postAuthKeepMeSignedInPrompt" not in sent.body
    prompt = sent.body["widgetCustomizations"]["postAuthKeepMeSignedInPrompt"]
    assert prompt["title"] == "Stay signed in?"
    assert "pageContent" in page and "widgetVersion" in page
    for key in page.keys() - {"widgetCustomizations", "_links"}:
        assert sent.body[key] == page[key], f"{key} is sent back as read"
    labels = {
        k: v for k, v in page["widgetCustomizations"].items() if k != "postAuthKeepMeSignedInPrompt"
    }
    assert {k: sent.body["widgetCustomizations"][k] for k in labels} == labels


@pytest.mark.parametrize("forget", [True, False], ids=["forget", "keep-devices"])
def test_session_reset_states_forget_devices_and_oauth_tokens(forget: bool) -> None:
    """Guide: relies on forgetDevices defaulting to true. Reality: the default differs between
    engines, so both forgetDevices and oauthTokens are always sent."""
    from kmsi_lib.procedures import reset_sessions

    org = make_org()
    login = org.client.get_json("/api/v1/users", params={"limit": "1"})[0]["profile"]["login"]
    params = {"users": [login], "forget_devices": forget, "oauth_tokens": False}
    reset_sessions.apply(org.client, reset_sessions.plan(org.client, params))
    (sent,) = org.wire.writes()
    assert sent.method == "DELETE" and sent.path.endswith("/sessions")
    query = dict(part.split("=") for part in sent.query.split("&"))
    assert query == {"forgetDevices": str(forget).lower(), "oauthTokens": "false"}
