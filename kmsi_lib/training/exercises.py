"""The six guided exercises: each one's start state (``setup``) and its self-check.

Every check reads the sandbox through the library's client and decides who is offered the
"Stay signed in?" prompt, and which rules apply, with the engine's evaluator; it compares
with the start its ``setup`` recorded. It says what is right and what is wrong and why, in
words a new admin can act on, without spelling out the parameters (the hints do that, on
request, one level at a time).
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import TYPE_CHECKING

from kmsi_lib import durations
from kmsi_lib.engine import EVERYONE_ELSE, Cohort, diff, witness
from kmsi_lib.engine.evaluate import evaluate
from kmsi_lib.errors import ConfigError
from kmsi_lib.jsontypes import JsonMap, JsonObject, JsonValue, arr, dig, number, obj
from kmsi_lib.okta.resources import apps as apps_api
from kmsi_lib.okta.resources import brands as brands_api
from kmsi_lib.okta.resources import logs as logs_api
from kmsi_lib.okta.resources import policies as policies_api
from kmsi_lib.okta.resources import users as users_api
from kmsi_lib.training.console import writable
from kmsi_lib.training.org import Snapshot, comparable_state, everyone_else_offer, offers, read
from kmsi_lib.training.progress import now
from kmsi_lib.training.verdict import Exercise, Marks, Verdict

if TYPE_CHECKING:
    from kmsi_lib.engine import SignInOutcome
    from kmsi_lib.okta.client import OktaClient

__all__ = ["EXERCISES", "LOST_LAPTOP_USER", "SHADOW_RULE", "TARGET_APPS"]

SHARED_POLICY = "High assurance apps"
TARGET_APPS = ("Workday", "GitHub Enterprise Cloud")
NEIGHBOUR_APP = "AWS IAM Identity Center"
WEEKLY = "P7D"
CONTRACTORS = "Contractors"
MFA_MAX_MINUTES = 60
IDLE_MAX_MINUTES = 30
PARTNER_BRAND = "Acme Partners"
PARTNER_PROMPT = {
    "title": "Stay signed in to the partner portal?",
    "acceptButtonText": "Yes, on this device",
}
SEED_PARTNER_PROMPT = {
    "title": "Stay signed in to Acme Partners?",
    "subtitle": "You will be asked less often on this device.",
    "acceptButtonText": "Yes, stay signed in",
    "rejectButtonText": "No, thanks",
}
LOST_LAPTOP_USER = "elena.kim@acme.example.com"
DASHBOARD = "Okta Dashboard"
PILOT_GROUP = "KMSI Pilot"
PILOT_RULE = "KMSI pilot: stay signed in"
SHADOW_RULE = "Help desk: everyone, one factor"


def _key(cohort: Cohort) -> str:
    return f"{cohort.kind}:{cohort.id or ''}"


def _all_offers(snap: Snapshot) -> dict[str, list[str]]:
    return {
        a: sorted(_key(o.cohort) for o in offers(snap, a)) for a in sorted(snap.view.app_policy)
    }


def _listed(labels: list[str]) -> str:
    labels = sorted(labels)
    if len(labels) == 1:
        return labels[0]
    if len(labels) == 2:
        return f"{labels[0]} and {labels[1]}"
    return f"{labels[0]} and {len(labels) - 1} other apps"


# ---- E1: KMSI for two apps, not for their neighbour ----------------------------------------


def _setup_e1(client: OktaClient) -> JsonObject:
    shared = policies_api.find_policy_by_name(client, "ACCESS_POLICY", SHARED_POLICY)
    if shared is None:
        raise ConfigError(f"the sandbox has no policy {SHARED_POLICY!r}: reseed it first")
    moved_from: set[str] = set()
    for app in apps_api.list_apps(client):
        if app["label"] in (*TARGET_APPS, NEIGHBOUR_APP):
            current = apps_api.access_policy_id(app)
            if current != shared["id"]:
                moved_from.add(str(current))
                apps_api.assign_access_policy(client, app["id"], shared["id"])
    snap = read(client)
    for policy_id in moved_from:  # a policy a trainee made for the two apps, now empty again
        policy = next((p for p in snap.policies if p["id"] == policy_id), None)
        if policy and not policy.get("system") and not snap.apps_on(policy_id):
            policies_api.delete_policy(client, policy_id)
    for rule in policies_api.list_rules(client, shared["id"]):
        if dig(rule, "actions", "appSignOn", "keepMeSignedIn", "postAuth") == "ALLOWED":
            body = writable(rule)
            sign_on = obj(obj(body["actions"])["appSignOn"])
            sign_on["keepMeSignedIn"] = {"postAuth": "NOT_ALLOWED"}
            policies_api.replace_rule(client, shared["id"], rule["id"], body)
    return {"offers": {a: list[JsonValue](c) for a, c in _all_offers(read(client)).items()}}


def _check_e1(client: OktaClient, start: JsonObject) -> Verdict:
    snap = read(client)
    marks = Marks("E1")
    targets = {snap.app_id(label): label for label in TARGET_APPS}
    for app_id, label in targets.items():
        offer = everyone_else_offer(snap, app_id)
        where = f"policy {snap.policy_name(snap.app_policy(app_id))!r}"
        if offer is None:
            marks.wrong.append(
                f"{label}: users are not offered 'Stay signed in?' yet: the rule that applies"
                f" to them in {where} does not allow post-auth KMSI"
            )
        elif not durations.equal(offer.frequency, WEEKLY):
            marks.wrong.append(
                f"{label}: the prompt is shown again every {offer.frequency}, the task asks for"
                " once a week"
            )
        else:
            marks.right.append(
                f"{label} offers the prompt once a week ({where}, rule {offer.rule!r})"
            )
    before = obj(start.get("offers"))
    widened: dict[str, list[str]] = defaultdict(list)
    for app_id, cohorts in _all_offers(snap).items():
        if app_id in targets:
            continue
        if set(cohorts) - set(arr(before.get(app_id))):
            widened[str(snap.app_policy(app_id))].append(snap.view.app_labels.get(app_id, app_id))
    target_policies = {snap.app_policy(a) for a in targets}
    for policy_id, labels in sorted(widened.items()):
        name = snap.policy_name(policy_id)
        reason = "KMSI was widened to a shared policy"
        if policy_id in target_policies:
            reason += (
                f" (a rule of {name!r} applies to every app on it, and"
                f" {' and '.join(TARGET_APPS)} still share it with {_listed(labels)})"
            )
        else:
            reason += f" (every app assigned to {name!r} follows its rules)"
        verb = "offers" if len(labels) == 1 else "offer"
        marks.wrong.append(f"{_listed(labels)} on {name!r} now also {verb} the prompt: {reason}")
    if not widened:
        marks.right.append("no other app offers the prompt that did not at the start")
    return marks.verdict()


# ---- E2: a stricter global session policy for Contractors ---------------------------------


def _on_dashboard(snap: Snapshot, cohort: Cohort | str) -> SignInOutcome:
    """How ``cohort`` (or the members of the group named so) sign in to the dashboard app.

    The global session policy is the same on every app, so E2 judges it there too.
    """
    if isinstance(cohort, str):
        cohort = Cohort.of_group(snap.group_id(cohort))
    return evaluate(snap.view, cohort, snap.app_id(DASHBOARD))


def _session_words(snap: Snapshot, cohort: Cohort) -> list[JsonValue]:
    outcome = _on_dashboard(snap, cohort)
    words: list[JsonValue] = [
        {"policy": str(r.policy_name), **r.settings()} for r in outcome.session_rules
    ]
    return words


def _setup_e2(client: OktaClient) -> JsonObject:
    snap = read(client)
    contractors = snap.group_id(CONTRACTORS)
    for policy in snap.policies:
        included = dig(policy, "conditions", "people", "groups", "include")
        if policy["type"] == "OKTA_SIGN_ON" and not policy.get("system"):
            if contractors in arr(included):
                policies_api.delete_policy(client, str(policy["id"]))
    return {"everyone_else": _session_words(read(client), EVERYONE_ELSE)}


def _check_e2(client: OktaClient, start: JsonObject) -> Verdict:
    snap = read(client)
    marks = Marks("E2")
    rule = _on_dashboard(snap, CONTRACTORS).session
    system = {str(p["id"]) for p in snap.policies if p.get("system")}
    if rule is None or rule.policy_id in system:
        name = rule.policy_name if rule else "no policy"
        marks.wrong.append(
            f"Contractors still sign in under {name!r}, the same global session policy as"
            " everyone else: they need a policy of their own, evaluated before the default"
        )
    else:
        marks.right.append(f"Contractors have their own global session policy {rule.policy_name!r}")
        # the task's two ceilings, in minutes: (value, ceiling, said when met, said when not)
        limits = [
            (
                rule.idle_minutes,
                IDLE_MAX_MINUTES,
                "idle sessions end after {} minutes",
                "an idle session lasts {} minutes; the task asks for at most {}",
            )
        ]
        if rule.mfa_required:
            limits.insert(
                0,
                (
                    rule.mfa_lifetime_minutes,
                    MFA_MAX_MINUTES,
                    "MFA is asked again after {} minutes",
                    "MFA is asked again only after {} minutes; the task asks for at most {}",
                ),
            )
        else:
            marks.wrong.append(
                f"{rule.policy_name!r} > {rule.rule_name!r} does not ask for MFA at all"
            )
        for minutes, ceiling, met, unmet in limits:
            marks.judge(
                minutes is not None and minutes <= ceiling,
                right=met.format(minutes),
                wrong=unmet.format(minutes, ceiling),
            )
    now_else = _session_words(snap, EVERYONE_ELSE)
    marks.judge(
        now_else == start.get("everyone_else"),
        right="everyone else keeps the global session they had at the start",
        wrong="everyone else's global session changed too (now "
        f"{now_else[-1] if now_else else 'none'}): the stricter policy must name Contractors only",
    )
    return marks.verdict()


# ---- E3: the prompt text of the second brand ----------------------------------------------


def _prompt(page: JsonMap | None) -> JsonObject | None:
    found = dig(page, "widgetCustomizations", "postAuthKeepMeSignedInPrompt")
    return dict(found) if isinstance(found, dict) else None


def _brand(client: OktaClient, name: str) -> JsonObject:
    for brand in brands_api.list_brands(client):
        if brand.get("name") == name:
            return brand
    raise ConfigError(f"the sandbox has no brand named {name!r}")


def _setup_e3(client: OktaClient) -> JsonObject:
    partner = _brand(client, PARTNER_BRAND)
    partner_id = str(partner["id"])
    page = brands_api.get_customized_sign_in_page(client, partner_id)
    if page is not None and _prompt(page) != SEED_PARTNER_PROMPT:
        page = writable(page)
        widget = page.setdefault("widgetCustomizations", {})
        if not isinstance(widget, dict):
            raise ConfigError(f"the sign-in page of {PARTNER_BRAND!r} has no widget settings")
        widget["postAuthKeepMeSignedInPrompt"] = dict(SEED_PARTNER_PROMPT)
        brands_api.replace_customized_sign_in_page(client, partner_id, page)
    others: JsonObject = {
        str(b["id"]): _prompt(brands_api.get_customized_sign_in_page(client, str(b["id"])))
        for b in brands_api.list_brands(client)
        if b["id"] != partner["id"]
    }
    return {"others": others}


def _check_e3(client: OktaClient, start: JsonObject) -> Verdict:
    marks = Marks("E3")
    partner = _brand(client, PARTNER_BRAND)
    partner_id = str(partner["id"])
    live = _prompt(brands_api.get_customized_sign_in_page(client, partner_id)) or {}
    for field, wanted in PARTNER_PROMPT.items():
        if live.get(field) == wanted:
            marks.right.append(f"{PARTNER_BRAND}: {field} reads {wanted!r}")
        else:
            marks.wrong.append(
                f"{PARTNER_BRAND}: {field} reads {live.get(field)!r}, the task asks for {wanted!r}"
            )
    if marks.wrong:
        preview = _prompt(brands_api.get_preview_sign_in_page(client, partner_id)) or {}
        if all(preview.get(f) == w for f, w in PARTNER_PROMPT.items()):
            marks.wrong.append("the new text is on the preview page only: users do not see it yet")
    for brand in brands_api.list_brands(client):
        if brand["id"] == partner["id"]:
            continue
        brand_id = str(brand["id"])
        marks.judge(
            _prompt(brands_api.get_customized_sign_in_page(client, brand_id))
            == obj(start.get("others")).get(brand_id),
            right=f"{brand['name']!r} keeps its prompt text",
            wrong=f"the prompt on {brand['name']!r}'s sign-in page changed too: the change was"
            " meant for the partner brand only (naming 'all' brands reaches every sign-in page)",
        )
    return marks.verdict()


# ---- E4: a lost laptop ---------------------------------------------------------------------


def _setup_e4(client: OktaClient) -> JsonObject:
    user = users_api.find_user(client, LOST_LAPTOP_USER)
    if user is None:
        raise ConfigError(f"the sandbox has no user {LOST_LAPTOP_USER!r}: reseed it first")
    return {"user_id": user["id"], "since": time.time()}


def _check_e4(client: OktaClient, start: JsonObject) -> Verdict:
    seen = witness.for_client(client)
    revocations = seen.session_revocations() if seen is not None else None
    if revocations is None:
        return Verdict(
            "E4",
            None,
            notes=(
                "Okta has no API that lists sessions; this check reads the sandbox's record of"
                f" revocations ({witness.ADMIN_URL_ENV} is not set: open the exercise from"
                " `kmsi lab`)",
            ),
        )
    since = number(start.get("since")) or 0
    recent = [r for r in revocations if (number(r.get("epoch")) or 0) >= since]
    mine = [r for r in recent if r.get("userId") == start.get("user_id")]
    others = sorted(
        {str(r.get("login")) for r in recent if r.get("userId") != start.get("user_id")}
    )
    marks = Marks("E4")
    if not mine:
        marks.wrong.append(
            f"{LOST_LAPTOP_USER}'s sessions are not revoked yet: whoever holds the laptop still"
            " gets in while the Okta session lasts"
        )
    else:
        marks.right.append(f"{LOST_LAPTOP_USER}'s Okta sessions were revoked")
        if any(r.get("forgetDevices") for r in mine):
            marks.right.append("the laptop is no longer a remembered device")
        else:
            marks.wrong.append(
                "the laptop is still a remembered device: its next sign-in can skip MFA, which is"
                " the very risk of a lost device"
            )
        if any(r.get("oauthTokens") for r in mine):
            marks.right.append("the apps' OAuth tokens on the laptop were revoked too")
        else:
            marks.wrong.append(
                "apps holding OAuth tokens on the laptop keep working until those tokens expire"
            )
    if others:
        marks.wrong.append(
            f"{len(others)} other user(s) were signed out as well (e.g. {others[0]}): only one"
            " person lost a laptop"
        )
    return marks.verdict()


# ---- E5: a shadowed rule --------------------------------------------------------------------


def _app_words(snap: Snapshot, cohort: Cohort) -> JsonObject | None:
    rule = _on_dashboard(snap, cohort).app
    return {**rule.settings()} if rule else None


def _priority(snap: Snapshot, policy_id: str, rule_id: str) -> JsonValue:
    found = [r for r in snap.rules.get(policy_id, []) if r["id"] == rule_id]
    return found[0].get("priority") if found else None


def _setup_e5(client: OktaClient) -> JsonObject:
    snap = read(client)
    policy = snap.policy("ACCESS_POLICY", DASHBOARD)
    if policy is None:
        raise ConfigError(f"the sandbox has no policy {DASHBOARD!r}: reseed it first")
    policy_id = str(policy["id"])
    rules = snap.rules[policy_id]
    model = next(r for r in rules if r["name"] == "Everyone else")
    body = writable(model)
    body.update({"name": SHADOW_RULE, "priority": 0})
    conditions = body["conditions"]
    if not isinstance(conditions, dict):
        raise ConfigError(f"the rule 'Everyone else' of {DASHBOARD!r} has no conditions")
    conditions["people"] = {
        "groups": {"include": [snap.group_id("Everyone")]},
        "users": {"exclude": []},
    }
    shadow = next((r for r in rules if r["name"] == SHADOW_RULE), None)
    if shadow is None:
        policies_api.create_rule(client, policy_id, body)
    else:
        current = {k: shadow.get(k) for k in ("priority", "conditions", "actions")}
        if current != {k: body.get(k) for k in current}:
            policies_api.replace_rule(client, policy_id, str(shadow["id"]), body)
        if shadow.get("status") != "ACTIVE":
            policies_api.activate_rule(client, policy_id, str(shadow["id"]))
    return {"everyone_else": _app_words(read(client), EVERYONE_ELSE)}


def _check_e5(client: OktaClient, start: JsonObject) -> Verdict:
    snap = read(client)
    marks = Marks("E5")
    rule = _on_dashboard(snap, PILOT_GROUP).app
    if rule is not None and rule.rule_name == PILOT_RULE and rule.kmsi_post_auth == "ALLOWED":
        marks.right.append(
            f"KMSI Pilot members reach {PILOT_RULE!r} again and are offered the prompt"
        )
    else:
        got = (
            f"{rule.rule_name!r} (priority {_priority(snap, rule.policy_id, rule.rule_id)})"
            if rule
            else "no rule"
        )
        marks.wrong.append(
            f"KMSI Pilot members signing in to the {DASHBOARD} still get {got}, not"
            f" {PILOT_RULE!r}: a rule for Everyone above it matches them first, so the pilot"
            " rule never applies"
        )
    now_else = _app_words(snap, EVERYONE_ELSE)
    marks.judge(
        now_else == start.get("everyone_else"),
        right="everyone else signs in to the dashboard as before",
        wrong=f"everyone else's sign-in to the {DASHBOARD} changed (now {now_else}): the fix"
        " is for the pilot group, the others should sign in as before",
    )
    return marks.verdict()


# ---- E6: roll a change back -----------------------------------------------------------------


def _setup_e6(client: OktaClient) -> JsonObject:
    return {"state": comparable_state(client), "since": now()}


def _check_e6(client: OktaClient, start: JsonObject) -> Verdict:
    state = comparable_state(client)
    events = logs_api.list_log_events(client, since=str(start["since"]))
    written = [
        e
        for e in events
        if str(e.get("eventType", "")).startswith(("policy.", "application.", "system."))
    ]
    if state == start.get("state"):
        if not written:
            return Verdict(
                "E6",
                False,
                wrong=(
                    "nothing has changed since the start: apply a change first, then roll it back",
                ),
            )
        return Verdict(
            "E6",
            True,
            right=(f"the org is back where the exercise started, after {len(written)} write(s)",),
        )
    wrong = [
        f"{d.path} differs from the start: {d.before!r} then, {d.after!r} now"
        for d in diff(start.get("state"), state)[:8]
    ]
    wrong.insert(0, "the org is not back at the exercise's start yet")
    return Verdict("E6", False, wrong=tuple(wrong))


EXERCISES: dict[str, Exercise] = {
    e.key: e
    for e in (
        Exercise(
            "E1",
            "Post-auth KMSI for Workday and GitHub only",
            "Offer the 'Stay signed in?' prompt, once a week, on Workday and GitHub Enterprise"
            " Cloud, and on no other app.",
            ("20_post_auth.ipynb",),
            (
                "Plan before you apply and read the plan's impact section: which apps does a"
                " change to a rule of their authentication policy reach?",
                f"Workday and GitHub share {SHARED_POLICY!r} with {NEIGHBOUR_APP}, and a policy's"
                " rules apply to all of its apps. Give the two apps a policy of their own first"
                " (an Admin Console step: `console.give_own_policy` in this notebook), then run"
                " the post-auth runbook for those two apps.",
                "console.give_own_policy(None, ['Workday', 'GitHub Enterprise Cloud'], 'Workday"
                " and GitHub'); then 20_post_auth with apps labels Workday and GitHub Enterprise"
                " Cloud, prompt_frequency P7D, and acknowledge the reach the plan shows.",
            ),
            _setup_e1,
            _check_e1,
            "E1_post_auth_two_apps.ipynb",
        ),
        Exercise(
            "E2",
            "A stricter global session for Contractors",
            f"Contractors must give MFA again after at most {MFA_MAX_MINUTES} minutes and be"
            f" signed out after {IDLE_MAX_MINUTES} idle minutes; nobody else changes.",
            ("10_pre_auth.ipynb",),
            (
                "Global session policies are evaluated top down, for the groups they name; the"
                " Default Policy is last.",
                "The pre-auth runbook makes a global session policy for the groups you name,"
                " with an MFA lifetime and idle limit; turn the org's 'Keep me signed in' setting"
                " on first (its manual step).",
                f"10_pre_auth with groups [{CONTRACTORS}], factor_lifetime_minutes"
                f" {MFA_MAX_MINUTES}, max_session_idle_minutes {IDLE_MAX_MINUTES}, apps e.g."
                " Okta Dashboard; attest the org setting and acknowledge the reach.",
            ),
            _setup_e2,
            _check_e2,
            "E2_contractors_session.ipynb",
        ),
        Exercise(
            "E3",
            "The prompt text of the partner brand",
            f"On the {PARTNER_BRAND} sign-in page only, the prompt's title must read"
            f" {PARTNER_PROMPT['title']!r} and its accept button"
            f" {PARTNER_PROMPT['acceptButtonText']!r}.",
            ("30_prompt_text.ipynb",),
            (
                "Each brand has its own sign-in page, and the prompt text lives on that page.",
                "The prompt-text runbook changes the brands you name; name the partner brand,"
                " not 'all', and leave the texts you do not change empty.",
                f"30_prompt_text with brands [{PARTNER_BRAND!r}], title and accept_button_text as"
                " the task says, preview_first false.",
            ),
            _setup_e3,
            _check_e3,
            "E3_partner_prompt.ipynb",
        ),
        Exercise(
            "E4",
            "A lost laptop",
            f"{LOST_LAPTOP_USER} lost a laptop that stays signed in. Make sure it cannot get in"
            " any more, without signing anyone else out.",
            ("40_reset_sessions.ipynb",),
            (
                "Revoking the Okta session is one part; think about what else the laptop"
                " remembers.",
                "The reset-sessions runbook revokes the sessions of the users you name; it can"
                " also forget remembered devices and revoke OAuth tokens.",
                f"40_reset_sessions with users [{LOST_LAPTOP_USER}], forget_devices true,"
                " oauth_tokens true.",
            ),
            _setup_e4,
            _check_e4,
            "E4_lost_laptop.ipynb",
        ),
        Exercise(
            "E5",
            "Find and fix a shadowed rule",
            "KMSI Pilot members say the 'Stay signed in?' prompt vanished from the Okta"
            " Dashboard. Find out why and fix it, without changing sign-in for anyone else.",
            ("00_audit.ipynb",),
            (
                "Run the audit: it lists rules that can never apply, and the rule above them.",
                f"In {DASHBOARD!r} a rule for Everyone sits above {PILOT_RULE!r}, and the first"
                " matching rule wins. Move it below the pilot rule (an Admin Console step:"
                " `console.move_rule` in this notebook) or deactivate it.",
                f"console.move_rule(None, {DASHBOARD!r}, {SHADOW_RULE!r}, 2)",
            ),
            _setup_e5,
            _check_e5,
            "E5_shadowed_rule.ipynb",
        ),
        Exercise(
            "E6",
            "Roll a change back",
            "Apply a change with any runbook (for example the post-auth prompt on Slack), then"
            " undo it so that the org is exactly where this exercise started.",
            ("20_post_auth.ipynb", "90_rollback.ipynb"),
            (
                "Every apply keeps what it overwrote in its evidence: that is what a rollback"
                " restores.",
                "Open the rollback runbook and give it the result.json of the apply you want to"
                " undo.",
                "90_rollback with apply_result set to the apply run's result.json (or its run"
                " directory); force_objects stays empty.",
            ),
            _setup_e6,
            _check_e6,
            "E6_rollback.ipynb",
        ),
    )
}
