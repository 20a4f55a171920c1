"""What a user meets over two working weeks under one sign-in outcome: a model of Okta's timers.

:func:`timeline` plays a :class:`UsagePattern` (by default Monday to Friday for
two weeks: the app opened at 09:00, work until 17:00 with a lunch break from
12:00 to 13:00, the browser closed at night) against the global session rule
and the app sign-in rule of a :class:`~kmsi_lib.engine.outcome.SignInOutcome`,
for one answer to the "Stay signed in?" prompt, and returns the
:class:`Timeline` of what the user meets: sign-ins, MFA prompts, KMSI prompts,
re-authentications, ends of the Okta session. Pure: no I/O, no clock, no
plotting (the chart is :mod:`kmsi_lib.engine.timeline_chart`).

What Okta documents, and what this module takes from it:

* The global session rule's ``maxSessionIdleMinutes`` ends a session idle that
  long; ``maxSessionLifetimeMinutes`` ends it that long after sign-in, ``0``
  meaning no limit; ``usePersistentCookie`` makes the session cookie outlast
  the browser (management API spec, ``OktaSignOnPolicyRuleSignonSessionActions``;
  docs/OKTA-API.md §7.2).
* The session cookie persists across browser restarts only when persistent
  cookies are on **and** the user chose to stay signed in; without that the
  session ends when the browser closes; a persistent cookie is still valid only
  until the session expires by the global session rule, and administrators never
  get one (Okta support, "Understanding the Behavior of Enabling Okta Global
  Session Cookies Persist Across Browser Sessions",
  https://support.okta.com/help/s/article/understanding-the-behavior-of-enabling-okta-global-session-cookies-persist-across-browser-sessions;
  Okta help, "Stay signed in", which lists enabling ``usePersistentCookie`` as
  the step for staying signed in across browser sessions,
  https://help.okta.com/oie/en-us/Content/Topics/Security/stay-signed-in.htm).
* Users who choose "Keep me signed in" are spared later MFA prompts until the
  MFA lifetime runs out or their cookies are cleared, and are remembered on the
  device for the duration the authentication policy sets; the post-auth prompt
  is set per app in the authentication policy (``keepMeSignedIn.postAuth``) and
  comes back after ``postAuthPromptFrequency`` (default ``P30D``); the guide's
  post-auth setup pairs a global session rule without MFA (idle 120 minutes, no
  lifetime limit, no persistent cookie) with an app rule of two factors,
  re-authentication ``PT168H`` and a ``PT168H`` prompt (Okta developer guide,
  "Configure Keep Me Signed In (KMSI)",
  https://developer.okta.com/docs/guides/keep-me-signed-in/main; Okta help,
  "Keep me signed in",
  https://help.okta.com/oie/en-us/content/topics/security/stay-signed-in.htm;
  spec ``KeepMeSignedIn``; docs/OKTA-API.md §7.3).
* MFA prompt modes: ``ALWAYS`` at every sign-in, ``DEVICE`` with a new device
  cookie, ``SESSION`` once the MFA lifetime has run out (docs/OKTA-API.md
  §7.2); an MFA lifetime shorter than the session does not prompt a user whose
  session is still active (Okta help, HealthInsight "Change the authentication
  frequency",
  https://help.okta.com/oie/en-us/Content/Topics/Security/healthinsight/change-reauthentication.htm).
* The app's ``reauthenticateIn`` asks for authentication again that long after
  the last one, "regardless of user activity"; ``PT0S`` means at every sign-in
  attempt and ``PT43800H`` once per session, when there is no Okta session
  yet (spec ``AssuranceMethod``; the KMSI guide's "when an Okta global session
  doesn't exist").

Our simplifications, said plainly (docs/TIMELINE.md has the longer version):

* One user, one browser, one device, one app; the user opens the app at the
  start of every working block and is active without a pause until its end,
  so idle time counts only in the breaks and at night. A limit that runs out
  during work is met at that minute (the next request); one that runs out at
  the very minute a block ends is met at the next block. Minutes from Monday
  00:00 of week 1; no time zones.
* Only the **post-auth** prompt is modelled (the pre-auth checkbox is an org
  setting the outcome does not hold). The user gives the same answer every
  time the prompt appears; "yes" holds until the prompt comes back.
* "Remembered" (our reading of the pages above): after a "yes", a later
  sign-in skips the global session rule's MFA while the last MFA is younger
  than its MFA lifetime (``SESSION``), always (``DEVICE``), never
  (``ALWAYS``); it skips the app's second factor while the last MFA is
  younger than the app's re-authentication interval or that same window,
  whichever is longer (``PT0S`` and once-per-session give the app no window of
  its own). A re-authentication the app's interval demands always asks the
  app's factors again; one MFA prompt serves both rules at once.
* Not modelled: factor types and the constraints' own ``reauthenticateIn``
  (which win over the method's), ``inactivityPeriod``, device assurance, risk,
  network zones, administrators' sessions (never persistent), cookies cleared
  by the user, Okta's behaviour exactly at a limit.

When the outcome is not decided (a rule that may apply depends on a condition
only a sign-in request settles, so which rule applies is open, or ``session`` or
``app`` is ``None``), a setting the model needs is
missing, or access is denied, the :class:`Timeline` has no events and its
``undecided`` says why; nothing is guessed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from kmsi_lib import durations
from kmsi_lib.engine.outcome import (
    ONCE_PER_SESSION,
    AppRule,
    SessionRule,
    SignInOutcome,
    duration_words,
    minutes_words,
)
from kmsi_lib.errors import ParameterError

__all__ = [
    "EVENT_KINDS",
    "EventKind",
    "Timeline",
    "TimelineEvent",
    "UsagePattern",
    "timeline",
]

EventKind = Literal[
    "app_access", "sign_in", "mfa_prompt", "kmsi_prompt", "reauthenticate", "session_expired"
]
#: Every kind of :class:`TimelineEvent`, in the order charts and summaries list them.
EVENT_KINDS: tuple[EventKind, ...] = (
    "app_access",
    "sign_in",
    "mfa_prompt",
    "kmsi_prompt",
    "reauthenticate",
    "session_expired",
)
_COUNTED: tuple[tuple[EventKind, str], ...] = (
    ("sign_in", "sign-in"),
    ("mfa_prompt", "MFA prompt"),
    ("kmsi_prompt", "KMSI prompt"),
    ("reauthenticate", "re-authentication"),
    ("session_expired", "session end"),
)

DAY = 24 * 60
WEEK = 7 * DAY
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_FOREVER = math.inf
_DEFAULT_KMSI_FREQUENCY = "P30D"  # the spec's default for postAuthPromptFrequency


def clock(minute: int) -> str:
    """``minute`` (from Monday 00:00 of week 1) as ``Mon 09:00, week 1``."""
    week, rest = divmod(minute, WEEK)
    day, rest = divmod(rest, DAY)
    return f"{_DAY_NAMES[day]} {rest // 60:02d}:{rest % 60:02d}, week {week + 1}"


@dataclass(frozen=True)
class UsagePattern:
    """How the user works: which days, which hours, when they pause, whether they close the browser.

    Times of day are minutes after midnight (``9 * 60`` is 09:00); ``workdays``
    counts from Monday = 0. Between the ``breaks`` the user is active without a
    pause; at ``day_end`` the browser is closed when ``close_browser`` is set.
    """

    weeks: int = 2
    workdays: tuple[int, ...] = (0, 1, 2, 3, 4)
    day_start: int = 9 * 60
    day_end: int = 17 * 60
    breaks: tuple[tuple[int, int], ...] = ((12 * 60, 13 * 60),)
    close_browser: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.weeks <= 8:
            raise ParameterError("pattern.weeks", f"{self.weeks}: give 1 to 8 weeks")
        if not self.workdays or list(self.workdays) != sorted(set(self.workdays)):
            raise ParameterError("pattern.workdays", "give days 0-6 (Monday = 0), ascending, once")
        if not set(self.workdays) <= set(range(7)):
            raise ParameterError("pattern.workdays", f"{self.workdays}: days run 0-6")
        if not 0 <= self.day_start < self.day_end <= DAY:
            raise ParameterError("pattern.day_start", "the day must start before it ends")
        edge = self.day_start
        for start, end in self.breaks:
            if not edge < start < end < self.day_end:
                raise ParameterError(
                    "pattern.breaks", "breaks lie inside the working day, ascending, apart"
                )
            edge = end

    @property
    def minutes(self) -> int:
        """The length of the whole pattern in minutes (whole weeks)."""
        return self.weeks * WEEK

    def blocks(self) -> tuple[tuple[int, int, bool], ...]:
        """Each working block as (start, end, browser closed at its end), minutes from the start."""
        edges = [self.day_start, *(m for b in self.breaks for m in b), self.day_end]
        pieces = list(zip(edges[::2], edges[1::2], strict=True))
        found: list[tuple[int, int, bool]] = []
        for week in range(self.weeks):
            for day in self.workdays:
                base = week * WEEK + day * DAY
                for i, (start, end) in enumerate(pieces):
                    last = i == len(pieces) - 1
                    found.append((base + start, base + end, last and self.close_browser))
        return tuple(found)

    def describe(self) -> str:
        """The pattern in words."""
        days = ", ".join(_DAY_NAMES[d] for d in self.workdays)
        hours = f"{_hhmm(self.day_start)}-{_hhmm(self.day_end)}"
        pauses = ", ".join(f"{_hhmm(s)}-{_hhmm(e)}" for s, e in self.breaks) or "none"
        night = "closes the browser at night" if self.close_browser else "leaves the browser open"
        return f"{self.weeks} weeks, {days} {hours} (breaks: {pauses}), {night}"


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class TimelineEvent:
    """One thing the user meets: when (minutes from Monday 00:00 of week 1), what, and why."""

    minute: int
    kind: EventKind
    text: str

    @property
    def when(self) -> str:
        """The time in words, e.g. ``Tue 13:00, week 2``."""
        return clock(self.minute)


@dataclass(frozen=True)
class Timeline:
    """What one user meets under one outcome and one answer to "Stay signed in?".

    ``events`` are in time order. ``undecided`` is empty when the timeline could
    be played; otherwise it says why not (and ``events`` is empty). ``notes``
    say what the model assumed or what the choice does not change.
    """

    label: str
    stay_signed_in: bool
    pattern: UsagePattern
    events: tuple[TimelineEvent, ...]
    undecided: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def decided(self) -> bool:
        """True when the outcome was decided and the timeline played."""
        return not self.undecided

    @property
    def choice(self) -> str:
        """The user's answer in words."""
        return "stays signed in" if self.stay_signed_in else "does not stay signed in"

    def counts(self) -> dict[EventKind, int]:
        """How many events of each kind, every kind of :data:`EVENT_KINDS` listed."""
        return {kind: sum(e.kind == kind for e in self.events) for kind in EVENT_KINDS}

    def summary(self) -> str:
        """The counts in words, e.g. ``10 sign-ins, 2 MFA prompts, 2 KMSI prompts, ...``."""
        if not self.decided:
            return "not played: " + "; ".join(self.undecided)
        counts = self.counts()
        return ", ".join(
            f"{counts[kind]} {noun}{'' if counts[kind] == 1 else 's'}" for kind, noun in _COUNTED
        )

    def describe(self) -> str:
        """In words: what was played, the counts, one line per event (app openings left out)."""
        lines = [f"{self.label}; the user {self.choice}; {self.pattern.describe()}:"]
        lines.append(f"  {self.summary()}")
        shown = (e for e in self.events if e.kind != "app_access")
        lines += [f"  {e.when}: {e.kind.replace('_', ' ')}: {e.text}" for e in shown]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


@dataclass(frozen=True)
class _Timers:
    """The settings the model plays, in minutes (``None``: the setting has no timer)."""

    mfa_required: bool
    prompt_mode: str | None
    mfa_lifetime: int
    idle: int
    lifetime: int
    persistent_cookie: bool
    two_factors: bool
    reauth: int | None  # None: once per session
    reauth_words: str
    kmsi_every: int | None  # None: post-auth KMSI not allowed

    @property
    def session_window(self) -> float:
        """How long after an MFA a remembered device spares the global session rule's MFA."""
        if not self.mfa_required:
            return 0
        return {"DEVICE": _FOREVER, "SESSION": self.mfa_lifetime}.get(self.prompt_mode or "", 0)

    @property
    def app_window(self) -> float:
        """How long after an MFA a remembered device spares the app's second factor."""
        return max(self.reauth or 0, self.session_window)


def _minutes(iso: str) -> int | None:
    """Whole minutes of an exact ISO duration (a part minute counts as one), else None."""
    if not durations.is_valid(iso):
        return None
    parsed = durations.parse(iso)
    return math.ceil(parsed.seconds / 60) if parsed.is_exact else None


def _undecided(outcome: SignInOutcome) -> list[str]:
    """Why ``outcome`` cannot be played: no rule for a part, or rules depending on a condition."""
    reasons: list[str] = []
    for part, rules in (
        ("global session rule", outcome.session_rules),
        ("app sign-in rule", outcome.app_rules),
    ):
        if not rules:
            reasons.append(f"no {part} applies ({'; '.join(outcome.notes) or 'none found'})")
        depends = list(dict.fromkeys(c for rule in rules for c in rule.depends_on))
        if depends:
            names = " or ".join(f'"{rule.rule_name}"' for rule in rules)
            reasons.append(f"the {part} depends on {', '.join(depends)} ({names})")
    return reasons


def _check_session(rule: SessionRule, undecided: list[str], notes: list[str]) -> None:
    if rule.access != "ALLOW":
        undecided.append(f"the global session rule does not allow access ({rule.access})")
    if rule.mfa_required and rule.prompt_mode not in ("ALWAYS", "DEVICE", "SESSION"):
        undecided.append(f"MFA is required but its prompt mode is {rule.prompt_mode}")
    lifetime_needed = rule.mfa_required and rule.prompt_mode == "SESSION"
    if lifetime_needed and rule.mfa_lifetime_minutes is None:
        undecided.append("MFA is asked once its lifetime runs out, but the lifetime is not set")
    for name, value in (("idle limit", rule.idle_minutes), ("lifetime", rule.lifetime_minutes)):
        if value is None:
            undecided.append(f"the session {name} is not set")
    if rule.persistent_cookie is None:
        notes.append("the persistent cookie is not set: taken as off (Okta's default)")


def _check_app(rule: AppRule, undecided: list[str]) -> None:
    if rule.access != "ALLOW":
        undecided.append(f"the app sign-in rule does not allow access ({rule.access})")
    if rule.factor_mode not in ("1FA", "2FA"):
        undecided.append(
            f"the app's factor mode is {rule.factor_mode} (only an ASSURANCE method is modelled)"
        )
    iso = rule.reauthenticate_in
    if iso is None or _minutes(iso) is None:
        undecided.append(f"the app's re-authentication interval is {iso} (not an exact duration)")


def _reauth(rule: AppRule) -> int | None:
    """The app's re-authentication interval in minutes; None for once per session."""
    iso = rule.reauthenticate_in or ONCE_PER_SESSION
    return None if durations.equal(iso, ONCE_PER_SESSION) else _minutes(iso)


def _kmsi_every(rule: AppRule, undecided: list[str], notes: list[str]) -> int | None:
    """How often the post-auth prompt comes back, in minutes; None when it is not offered."""
    if rule.kmsi_post_auth == "ALLOWED":
        frequency = rule.kmsi_prompt_frequency
        if frequency is None:
            frequency = _DEFAULT_KMSI_FREQUENCY
            notes.append(f"the KMSI prompt frequency is not set: Okta's default {frequency} taken")
        every = _minutes(frequency)
        if every is None:
            undecided.append(f"the KMSI prompt frequency {frequency} is not an exact duration")
        return every
    if rule.kmsi_post_auth != "NOT_ALLOWED":
        notes.append(f"the rule has no post-auth KMSI setting ({rule.kmsi_post_auth})")
    notes.append(
        "post-auth KMSI is not offered: the prompt never appears, so the choice to stay"
        " signed in does not arise"
    )
    return None


def _timers(outcome: SignInOutcome) -> tuple[_Timers | None, tuple[str, ...], tuple[str, ...]]:
    """The model's settings read from ``outcome``, why it cannot be played, and its notes."""
    undecided = _undecided(outcome)
    session, app = outcome.session, outcome.app
    if undecided or session is None or app is None:
        return None, tuple(undecided), ()
    notes: list[str] = []
    _check_session(session, undecided, notes)
    _check_app(app, undecided)
    kmsi_every = _kmsi_every(app, undecided, notes)
    if undecided:
        return None, tuple(undecided), tuple(notes)
    timers = _Timers(
        mfa_required=session.mfa_required,
        prompt_mode=session.prompt_mode,
        mfa_lifetime=session.mfa_lifetime_minutes or 0,
        idle=session.idle_minutes or 0,
        lifetime=session.lifetime_minutes or 0,
        persistent_cookie=session.persistent_cookie is True,
        two_factors=app.factor_mode == "2FA",
        reauth=_reauth(app),
        reauth_words=duration_words(app.reauthenticate_in, reauthentication=True),
        kmsi_every=kmsi_every,
    )
    return timers, (), tuple(notes)


class _Run:
    """The state of one played timeline: the session, the last MFA, the KMSI answer."""

    def __init__(self, timers: _Timers, stay_signed_in: bool) -> None:
        self.t = timers
        self.stay = stay_signed_in
        self.events: list[TimelineEvent] = []
        self.session_start: int | None = None
        self.last_active = 0
        self.last_auth = 0
        self.last_mfa: int | None = None
        self.last_prompt: int | None = None
        self.kept = False  # the user's last answer to the prompt was "yes"

    def emit(self, minute: int, kind: EventKind, text: str) -> None:
        self.events.append(TimelineEvent(minute, kind, text))

    def _session_end(self) -> tuple[int, str] | None:
        """When the session ends if the user stays away, and why."""
        if self.session_start is None:
            return None
        ends: list[tuple[int, str]] = []
        if self.t.idle:
            ends.append((self.last_active + self.t.idle, f"idle for {minutes_words(self.t.idle)}"))
        if self.t.lifetime:
            words = minutes_words(self.t.lifetime)
            ends.append((self.session_start + self.t.lifetime, f"its lifetime of {words} is over"))
        return min(ends) if ends else None

    def expire_by(self, minute: int) -> None:
        """End the session if it ran out while the user was away, up to ``minute``."""
        end = self._session_end()
        if end is not None and end[0] <= minute:
            self.emit(end[0], "session_expired", f"the Okta session ends: {end[1]}")
            self.session_start = None

    def _remembered(self, minute: int, window: float) -> bool:
        return self.kept and self.last_mfa is not None and minute - self.last_mfa < window

    def _mfa_askers(self, minute: int) -> list[str]:
        t = self.t
        askers: list[str] = []
        if t.mfa_required and not self._remembered(minute, t.session_window):
            askers.append(f"the global session rule ({t.prompt_mode})")
        if t.two_factors and not self._remembered(minute, t.app_window):
            askers.append("the app's two factors")
        return askers

    def sign_in(self, minute: int, why: str) -> None:
        askers = self._mfa_askers(minute)
        spared = not askers and (self.t.mfa_required or self.t.two_factors)
        after = "; no MFA: the device is remembered (the user stayed signed in)" if spared else ""
        self.emit(minute, "sign_in", f"signs in to Okta ({why}): a new session{after}")
        self.session_start = self.last_active = self.last_auth = minute
        if askers:
            self.emit(minute, "mfa_prompt", "MFA asked by " + " and ".join(askers))
            self.last_mfa = minute
        self.offer_kmsi(minute)

    def reauthenticate(self, minute: int) -> None:
        factors = "two factors" if self.t.two_factors else "one factor"
        text = f"the app asks to authenticate again ({self.t.reauth_words}): {factors}"
        self.emit(minute, "reauthenticate", text)
        if self.t.two_factors:
            self.emit(minute, "mfa_prompt", "MFA asked by the app's re-authentication")
            self.last_mfa = minute
        self.last_auth = minute
        self.offer_kmsi(minute)

    def offer_kmsi(self, minute: int) -> None:
        every = self.t.kmsi_every
        if every is None or (self.last_prompt is not None and minute - self.last_prompt < every):
            return
        answer = "yes" if self.stay else "no"
        self.emit(minute, "kmsi_prompt", f'"Stay signed in?" after authenticating: {answer}')
        self.last_prompt = minute
        self.kept = self.stay

    def _deadline(self, after: int) -> tuple[int, bool] | None:
        """The next limit after ``after`` that can run out in work: (minute, is the lifetime)."""
        found: list[tuple[int, int]] = []  # (minute, rank): the lifetime first when both coincide
        if self.session_start is not None and self.t.lifetime:
            found.append((self.session_start + self.t.lifetime, 0))
        if self.t.reauth:  # PT0S asks at every opening of the app, never during work
            found.append((self.last_auth + self.t.reauth, 1))
        later = [limit for limit in found if limit[0] > after]
        return (min(later)[0], min(later)[1] == 0) if later else None

    def work(self, start: int, end: int, close_browser: bool) -> None:
        """One working block: open the app at ``start``, work until ``end``."""
        self.expire_by(start)
        self.emit(start, "app_access", "opens the app")
        if self.session_start is None:
            self.sign_in(start, "no Okta session")
        elif self.t.reauth is not None and self.last_auth + self.t.reauth <= start:
            self.reauthenticate(start)
        now = start
        while (deadline := self._deadline(now)) is not None and deadline[0] < end:
            now, is_lifetime = deadline
            if is_lifetime:
                self.emit(now, "session_expired", "the Okta session ends: its lifetime is over")
                self.sign_in(now, "the session's lifetime was over")
            else:
                self.reauthenticate(now)
        self.last_active = end
        if close_browser and self.session_start is not None:
            if not self.kept:
                self.emit(end, "session_expired", "the browser is closed: the session ends with it")
                self.session_start = None
            elif not self.t.persistent_cookie:
                text = "the browser is closed: the persistent cookie is off, so the session ends"
                self.emit(end, "session_expired", text)
                self.session_start = None


def timeline(
    outcome: SignInOutcome, *, stay_signed_in: bool, pattern: UsagePattern = UsagePattern()
) -> Timeline:
    """Play ``pattern`` against ``outcome`` for a user who answers "Stay signed in?" so.

    ``stay_signed_in`` is the answer the user gives every time the post-auth
    prompt appears. The result's ``undecided`` is non-empty (and it has no
    events) when the outcome depends on conditions a sign-in would decide,
    lacks a setting the model needs, or denies access.
    """
    label = f"{outcome.cohort_label}, {outcome.app_label}"
    timers, undecided, notes = _timers(outcome)
    if timers is None:
        return Timeline(label, stay_signed_in, pattern, (), undecided, notes)
    run = _Run(timers, stay_signed_in)
    for start, end, close_browser in pattern.blocks():
        run.work(start, end, close_browser)
    run.expire_by(pattern.minutes - 1)
    return Timeline(label, stay_signed_in, pattern, tuple(run.events), (), notes)
