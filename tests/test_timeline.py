"""The timer model and its chart: timelines checked against events worked out by hand.

Every outcome is made by the real evaluator from a small org (one global session
policy with its Default Rule, one app with one authentication policy). The
expected events are written out per day below, from the rules in
docs/TIMELINE.md, not computed by the code under test (the morning sign-in and
the KMSI prompt after it are named once and put together with list literals).
Days count from Monday of week 1 = 0, so week 2's Monday is day 7.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import xml.etree.ElementTree as ET  # noqa: S405 - for the type; parsing is defusedxml
from typing import Any

import pytest
from defusedxml import ElementTree as defused  # nbconvert depends on it

from kmsi_lib.engine import evaluate as ev
from kmsi_lib.engine.outcome import SignInOutcome
from kmsi_lib.engine.timeline import Timeline, UsagePattern, timeline
from kmsi_lib.engine.timeline_chart import timeline_html, timeline_svg
from kmsi_lib.errors import ParameterError

APP = "0oaTIMELINE000000001"
WORKDAYS = (0, 1, 2, 3, 4, 7, 8, 9, 10, 11)


def org_outcome(
    signon: dict[str, Any], app_sign_on: dict[str, Any], *, zone_rule: bool = False
) -> SignInOutcome:
    """The outcome for everyone else of an org with these two rules (JSON as Okta returns it)."""
    policy = {
        "id": "00pDEFAULT0000000001",
        "type": "OKTA_SIGN_ON",
        "name": "Default Policy",
        "status": "ACTIVE",
        "priority": 1,
        "system": True,
        "conditions": {"people": {"groups": {"include": ["00gEVERYONE000000001"]}}},
    }
    default_rule = {
        "id": "0prDEFAULT0000000001",
        "type": "SIGN_ON",
        "name": "Default Rule",
        "status": "ACTIVE",
        "priority": 1,
        "system": True,
        "conditions": {"network": {"connection": "ANYWHERE"}},
        "actions": {"signon": {"primaryFactor": "PASSWORD_IDP_ANY_FACTOR", **signon}},
    }
    app_policy = {
        "id": "rstAPP00000000000001",
        "type": "ACCESS_POLICY",
        "name": "Timeline app",
        "status": "ACTIVE",
        "priority": 1,
        "system": False,
    }
    catch_all = {
        "id": "rulCATCHALL000000001",
        "type": "ACCESS_POLICY",
        "name": "Catch-all Rule",
        "status": "ACTIVE",
        "priority": 99,
        "system": True,
        "conditions": None,
        "actions": {"appSignOn": app_sign_on},
    }
    app_rules = [catch_all]
    if zone_rule:
        app_rules.insert(
            0,
            {
                **catch_all,
                "id": "rulZONE0000000000001",
                "name": "Office network",
                "priority": 0,
                "system": False,
                "conditions": {
                    "network": {"connection": "ZONE", "include": ["nzoOFFICE00000000001"]}
                },
            },
        )
    view = ev.org_view_from(
        [policy, app_policy],
        {policy["id"]: [default_rule], app_policy["id"]: app_rules},
        {APP: app_policy["id"]},
        {},
    )
    return ev.evaluate(view, ev.EVERYONE_ELSE, APP)


def session(
    *,
    mfa: str | None = None,
    lifetime: int = 0,
    idle: int = 120,
    cookie: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """A global session rule's ``actions.signon``; ``mfa`` is the prompt mode (None: no MFA)."""
    signon: dict[str, Any] = {"access": "ALLOW", "requireFactor": mfa is not None, **extra}
    if mfa is not None:
        signon["factorPromptMode"] = mfa
    signon["session"] = {
        "maxSessionIdleMinutes": idle,
        "maxSessionLifetimeMinutes": lifetime,
        "usePersistentCookie": cookie,
    }
    return signon


def app(factors: str, reauth: str, kmsi: str | None) -> dict[str, Any]:
    """An app rule's ``actions.appSignOn``; ``kmsi`` is the prompt frequency (None: not allowed)."""
    keep = {"postAuth": "NOT_ALLOWED"}
    if kmsi is not None:
        keep = {"postAuth": "ALLOWED", "postAuthPromptFrequency": kmsi}
    return {
        "access": "ALLOW",
        "verificationMethod": {
            "type": "ASSURANCE",
            "factorMode": factors,
            "reauthenticateIn": reauth,
        },
        "keepMeSignedIn": keep,
    }


Day = list[tuple[str, str]]


def at(day: int, hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return day * 24 * 60 + int(hours) * 60 + int(minutes)


def expand(days: dict[int, Day]) -> list[tuple[int, str]]:
    """Day-by-day expectations as (minute from the start, kind)."""
    return [(at(day, hhmm), kind) for day, events in sorted(days.items()) for hhmm, kind in events]


def seen(found: Timeline) -> list[tuple[int, str]]:
    return [(e.minute, e.kind) for e in found.events]


# The start of a working day: the user opens the app at 09:00 and signs in to Okta, with or
# without an MFA prompt (a remembered device, or none asked).
SIGN_IN: Day = [("09:00", "app_access"), ("09:00", "sign_in")]
MORNING: Day = [*SIGN_IN, ("09:00", "mfa_prompt")]


def prompted(day: Day) -> Day:
    """``day`` with the KMSI prompt right after its morning sign-in and MFA (``MORNING``): the
    prompt comes once the factors are verified."""
    assert day[:3] == MORNING, day
    return [*MORNING, ("09:00", "kmsi_prompt"), *day[3:]]


def first_and_rest(first: Day, rest: Day, *, again: dict[int, Day] | None = None) -> dict[int, Day]:
    """``first`` on day 0, ``rest`` on the other working days, ``again`` overriding days."""
    days = {day: (first if day == 0 else rest) for day in WORKDAYS}
    days.update(again or {})
    return days


# (a) MFA lifetime 200 minutes in SESSION mode; idle 30 minutes, so the session ends in a break
# from 11:00 to 12:00. At 12:00 the last MFA (09:00) is 180 minutes old: a user who stayed
# signed in is spared the MFA, one who did not is asked again; the next morning it is 24 hours
# old, so both are asked. The prompt (every 30 days) comes once.
BREAK_AT_ELEVEN = UsagePattern(breaks=((11 * 60, 12 * 60),))
MFA_200 = org_outcome(
    session(mfa="SESSION", factorLifetime=200, idle=30), app("1FA", "PT43800H", "P30D")
)
A_YES_REST: Day = [
    *MORNING,
    ("11:30", "session_expired"),
    ("12:00", "app_access"),
    ("12:00", "sign_in"),
    ("17:00", "session_expired"),
]
A_NO_REST: Day = [
    *MORNING,
    ("11:30", "session_expired"),
    ("12:00", "app_access"),
    ("12:00", "sign_in"),
    ("12:00", "mfa_prompt"),
    ("17:00", "session_expired"),
]


def test_mfa_lifetime_200_minutes_in_session_mode() -> None:
    """After "yes", a sign-in within 200 minutes of the MFA skips it; after "no" it never does."""
    yes = timeline(MFA_200, stay_signed_in=True, pattern=BREAK_AT_ELEVEN)
    no = timeline(MFA_200, stay_signed_in=False, pattern=BREAK_AT_ELEVEN)
    assert seen(yes) == expand(first_and_rest(prompted(A_YES_REST), A_YES_REST))
    assert seen(no) == expand(first_and_rest(prompted(A_NO_REST), A_NO_REST))
    assert yes.summary() == (
        "20 sign-ins, 10 MFA prompts, 1 KMSI prompt, 0 re-authentications, 20 session ends"
    )
    assert no.counts()["mfa_prompt"] == 20
    noon = next(e for e in yes.events if e.minute == at(0, "12:00") and e.kind == "sign_in")
    assert "no MFA: the device is remembered" in noon.text
    assert noon.when == "Mon 12:00, week 1"


# (b) The KMSI guide's post-auth setup: no MFA in the global session rule (idle 120, no lifetime
# limit, no persistent cookie), the app asks two factors, re-authentication every 7 days, the
# prompt every 7 days. The browser closed at 17:00 ends every session (the cookie is off), but
# "yes" remembers the device: MFA only when the last one is 7 days old (Monday of week 2).
POST_AUTH_WEEKLY = org_outcome(session(), app("2FA", "PT168H", "PT168H"))
B_MFA: Day = [*MORNING, ("13:00", "app_access"), ("17:00", "session_expired")]
B_PROMPTED = prompted(B_MFA)
B_REMEMBERED: Day = [*SIGN_IN, ("13:00", "app_access"), ("17:00", "session_expired")]


def test_post_auth_kmsi_weekly_without_staying_signed_in() -> None:
    """ "No": a sign-in and an MFA every morning, the prompt on both Mondays."""
    found = timeline(POST_AUTH_WEEKLY, stay_signed_in=False)
    assert seen(found) == expand(first_and_rest(B_PROMPTED, B_MFA, again={7: B_PROMPTED}))
    assert found.summary() == (
        "10 sign-ins, 10 MFA prompts, 2 KMSI prompts, 0 re-authentications, 10 session ends"
    )


def test_post_auth_kmsi_weekly_staying_signed_in() -> None:
    """ "Yes": still a sign-in every morning (cookie off), but MFA only on both Mondays."""
    found = timeline(POST_AUTH_WEEKLY, stay_signed_in=True)
    assert seen(found) == expand(first_and_rest(B_PROMPTED, B_REMEMBERED, again={7: B_PROMPTED}))
    assert found.counts()["mfa_prompt"] == 2
    closed = found.events[5]
    assert (closed.kind, closed.minute) == ("session_expired", at(0, "17:00"))
    assert "persistent cookie is off" in closed.text


def test_post_auth_kmsi_weekly_with_a_persistent_cookie_and_a_day_of_idle() -> None:
    """Cookie on and idle 24 h: "yes" keeps one session all week; it ends on Saturday 17:00."""
    outcome = org_outcome(session(idle=1440, cookie=True), app("2FA", "PT168H", "PT168H"))
    found = timeline(outcome, stay_signed_in=True)
    working: Day = [("09:00", "app_access"), ("13:00", "app_access")]
    monday = prompted([*MORNING, ("13:00", "app_access")])
    days = first_and_rest(monday, working, again={7: monday})
    days[5] = [("17:00", "session_expired")]  # Friday 17:00 + 24 hours idle
    days[12] = [("17:00", "session_expired")]
    assert seen(found) == expand(days)
    assert "idle for 1440 minutes (1 day)" in found.events[-1].text
    # "no" gets nothing from the cookie: the session still ends with the browser
    assert seen(timeline(outcome, stay_signed_in=False)) == seen(
        timeline(POST_AUTH_WEEKLY, stay_signed_in=False)
    )


# (c) Re-authentication once per session (PT43800H): the app asks its two factors at each new
# session and never within one. Here the session lasts at most 300 minutes, so it ends at 14:00
# while the user works and they sign in again at once; without MFA in the global session rule the
# app has no window of its own, so "yes" spares nothing.
ONCE_PER_SESSION = org_outcome(session(lifetime=300), app("2FA", "PT43800H", "P30D"))
C_DAY: Day = [
    *MORNING,
    ("13:00", "app_access"),
    ("14:00", "session_expired"),
    ("14:00", "sign_in"),
    ("14:00", "mfa_prompt"),
    ("17:00", "session_expired"),
]


@pytest.mark.parametrize("stay", [pytest.param(True, id="yes"), pytest.param(False, id="no")])
def test_reauthentication_once_per_session(stay: bool) -> None:
    """Two sign-ins and two MFA prompts a day, whatever the answer; no re-authentication."""
    found = timeline(ONCE_PER_SESSION, stay_signed_in=stay)
    assert seen(found) == expand(first_and_rest(prompted(C_DAY), C_DAY))
    assert found.counts()["reauthenticate"] == 0
    assert "its lifetime is over" in found.events[5].text


def test_once_per_session_with_mfa_per_device() -> None:
    """MFA DEVICE mode: after "yes" the remembered device also covers the app's second factor."""
    outcome = org_outcome(session(mfa="DEVICE"), app("2FA", "PT43800H", "P30D"))
    assert seen(timeline(outcome, stay_signed_in=True)) == expand(
        first_and_rest(B_PROMPTED, B_REMEMBERED)
    )
    assert seen(timeline(outcome, stay_signed_in=False)) == expand(
        first_and_rest(B_PROMPTED, B_MFA)
    )


# (d) Post-auth KMSI not allowed, re-authentication every 2 hours with two factors: the
# interval runs out at 11:00 and 15:00 during work and at 13:00 when the user comes back; the
# 17:00 one coincides with closing the browser. No prompt, so the answer changes nothing, and
# the persistent cookie does not help either.
NO_KMSI = org_outcome(session(cookie=True), app("2FA", "PT2H", None))
D_DAY: Day = [
    *MORNING,
    ("11:00", "reauthenticate"),
    ("11:00", "mfa_prompt"),
    ("13:00", "app_access"),
    ("13:00", "reauthenticate"),
    ("13:00", "mfa_prompt"),
    ("15:00", "reauthenticate"),
    ("15:00", "mfa_prompt"),
    ("17:00", "session_expired"),
]


def test_kmsi_not_allowed() -> None:
    """No prompt ever; "yes" and "no" meet the same events, and a note says why."""
    yes = timeline(NO_KMSI, stay_signed_in=True)
    no = timeline(NO_KMSI, stay_signed_in=False)
    assert seen(yes) == seen(no) == expand(first_and_rest(D_DAY, D_DAY))
    assert yes.summary() == (
        "10 sign-ins, 40 MFA prompts, 0 KMSI prompts, 30 re-authentications, 10 session ends"
    )
    assert any("the choice to stay signed in does not arise" in n for n in yes.notes)
    assert "every 2 hours" in yes.events[3].text


def test_reauthentication_at_every_sign_in() -> None:
    """PT0S: a session that outlives lunch re-authenticates when the app is opened again."""
    found = timeline(org_outcome(session(), app("1FA", "PT0S", None)), stay_signed_in=False)
    day: Day = [
        *SIGN_IN,
        ("13:00", "app_access"),
        ("13:00", "reauthenticate"),
        ("17:00", "session_expired"),
    ]
    assert seen(found) == expand(first_and_rest(day, day))


def test_an_undecided_outcome_is_not_played() -> None:
    """An app rule that depends on the network zone: no events, and the reason is given."""
    outcome = org_outcome(session(), app("2FA", "PT2H", None), zone_rule=True)
    assert outcome.depends_on == ("network zone",)
    found = timeline(outcome, stay_signed_in=True)
    assert found.events == () and not found.decided
    why = 'the app sign-in rule depends on network zone ("Office network" or "Catch-all Rule")'
    assert found.undecided == (why,)
    assert found.summary() == f"not played: {why}"


def test_denied_access_is_not_played() -> None:
    denied = {**app("2FA", "PT2H", None), "access": "DENY"}
    found = timeline(org_outcome(session(), denied), stay_signed_in=False)
    assert found.undecided == ("the app sign-in rule does not allow access (DENY)",)


def test_describe_lists_the_events_in_words() -> None:
    text = timeline(POST_AUTH_WEEKLY, stay_signed_in=True).describe()
    lines = text.splitlines()
    assert lines[0].startswith("everyone else (Everyone), app 0oaTIMELINE000000001; the user stays")
    assert lines[1] == (
        "  10 sign-ins, 2 MFA prompts, 2 KMSI prompts, 0 re-authentications, 10 session ends"
    )
    assert (
        lines[2]
        == "  Mon 09:00, week 1: sign in: signs in to Okta (no Okta session): a new session"
    )
    assert "opens the app" not in text


@pytest.mark.parametrize(
    "fields, field",
    [
        pytest.param({"weeks": 0}, "pattern.weeks", id="no-weeks"),
        pytest.param({"workdays": (4, 1)}, "pattern.workdays", id="unsorted-days"),
        pytest.param({"workdays": (7,)}, "pattern.workdays", id="no-such-day"),
        pytest.param({"day_start": 18 * 60}, "pattern.day_start", id="starts-after-end"),
        pytest.param({"breaks": ((8 * 60, 10 * 60),)}, "pattern.breaks", id="break-before-work"),
        pytest.param(
            {"breaks": ((12 * 60, 13 * 60), (12 * 60 + 30, 14 * 60))},
            "pattern.breaks",
            id="overlapping-breaks",
        ),
    ],
)
def test_a_wrong_usage_pattern_names_its_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ParameterError) as raised:
        UsagePattern(**fields)
    assert raised.value.field == field


def test_a_pattern_without_breaks_and_with_the_browser_left_open() -> None:
    """One block a day; idle 120 minutes ends the session at 19:00 each evening instead."""
    pattern = UsagePattern(breaks=(), close_browser=False, weeks=1)
    found = timeline(
        org_outcome(session(), app("1FA", "PT43800H", None)), stay_signed_in=False, pattern=pattern
    )
    day: Day = [*SIGN_IN, ("19:00", "session_expired")]
    assert seen(found) == expand({d: day for d in range(5)})


# The chart


def _scenarios(outcome: SignInOutcome) -> list[Timeline]:
    return [timeline(outcome, stay_signed_in=stay) for stay in (True, False)]


def _svg_elements(svg: str) -> list[ET.Element]:
    return list(defused.fromstring(svg).iter())  # well-formed XML, or this raises


def test_the_chart_is_an_svg_and_the_same_input_gives_the_same_text() -> None:
    first = timeline_svg(_scenarios(POST_AUTH_WEEKLY), _scenarios(NO_KMSI), title="Before/after")
    again = timeline_svg(_scenarios(POST_AUTH_WEEKLY), _scenarios(NO_KMSI), title="Before/after")
    assert first.startswith("<?xml") and "<svg" in first and first.rstrip().endswith("</svg>")
    assert first == again
    other = timeline_svg(_scenarios(POST_AUTH_WEEKLY), _scenarios(MFA_200), title="Before/after")
    assert other != first


def test_the_chart_draws_one_marker_per_event_of_its_kind_and_shade_on_weekends() -> None:
    rows = _scenarios(NO_KMSI)
    elements = _svg_elements(timeline_svg(None, rows, title="Two rows <&>"))
    tag = {e: e.tag.rsplit("}", 1)[-1] for e in elements}
    # sign-ins are the only circles (the legend: one more); MFA prompts the only closed
    # paths of three points
    circles = [e for e in elements if tag[e] == "circle"]
    sign_ins = sum(1 for t in rows for e in t.events if e.kind == "sign_in")
    assert sign_ins > 0 and len(circles) == sign_ins + 1
    mfa = sum(1 for t in rows for e in t.events if e.kind == "mfa_prompt")
    closed = [e.get("d", "") for e in elements if tag[e] == "path" and "Z" in e.get("d", "")]
    triangles = [d for d in closed if d.count("L") == 2]
    assert len(triangles) == mfa + 1
    days = rows[0].pattern.minutes // (24 * 60)
    weekend = [e for e in elements if tag[e] == "rect" and e.get("fill") == "#eeeeee"]
    assert len(weekend) == days - len(rows[0].pattern.workdays) * (days // 7)
    texts = " ".join("".join(e.itertext()) for e in elements if tag[e] == "text")
    assert "Two rows <&>" in texts and "Mon" in texts and "w2" in texts
    assert "after: " in texts and '"Stay signed in?" prompt' in texts


def test_the_chart_takes_a_single_timeline_no_before_and_undecided_rows() -> None:
    undecided = timeline(
        org_outcome(session(), app("2FA", "PT2H", None), zone_rule=True), stay_signed_in=True
    )
    svg = timeline_svg(None, [timeline(NO_KMSI, stay_signed_in=True), undecided], title="New")
    assert "not played: " in "".join(defused.fromstring(svg).itertext())
    assert timeline_svg(undecided, timeline(NO_KMSI, stay_signed_in=False), title="x")
    with pytest.raises(ValueError):
        timeline_svg(None, [], title="nothing")


def test_the_engine_imports_drawsvg_only_to_draw_and_a_fresh_process_draws_the_same() -> None:
    """A fresh interpreter: the engine loads no drawing library until it draws, and draws
    the same text as this process (nothing in it depends on the process)."""
    code = (
        "import sys\n"
        "import kmsi_lib.engine, kmsi_lib.engine.timeline_chart\n"
        "assert 'drawsvg' not in sys.modules and 'matplotlib' not in sys.modules\n"
        "from tests.test_timeline import NO_KMSI\n"
        "from kmsi_lib.engine.timeline import timeline\n"
        "found = timeline(NO_KMSI, stay_signed_in=True)\n"
        "svg = kmsi_lib.engine.timeline_svg(None, found, title='t')\n"
        "import hashlib\n"
        "print('drawsvg' in sys.modules, hashlib.sha256(svg.encode()).hexdigest())\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=root
    )
    same = timeline_svg(None, timeline(NO_KMSI, stay_signed_in=True), title="t")
    assert out.stdout.split() == ["True", hashlib.sha256(same.encode()).hexdigest()]


def test_the_html_embeds_the_svg_and_escapes_the_alt_text() -> None:
    svg = timeline_svg(None, timeline(NO_KMSI, stay_signed_in=True), title="t")
    tag = timeline_html(svg, 'Before & after: "KMSI" <weekly>')
    assert tag.startswith('<img src="data:image/svg+xml;base64,')
    assert tag.endswith('" alt="Before &amp; after: &quot;KMSI&quot; &lt;weekly&gt;">')
    data = tag.split("base64,", 1)[1].split('"', 1)[0]
    assert base64.b64decode(data).decode("utf-8") == svg
    with pytest.raises(ValueError):
        timeline_html("GIF89a", "not an svg")
