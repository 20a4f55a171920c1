"""What an evaluated sign-in means, in plain terms: the readings of :mod:`.evaluate`.

A :class:`SessionRule` reads a global session rule's ``actions.signon`` (MFA,
its prompt mode and lifetime, the session's idle and lifetime limits, the
persistent cookie); an :class:`AppRule` reads an app sign-in rule's
``actions.appSignOn`` (access, factor mode, re-authentication interval, the
post-authentication "Keep me signed in" prompt and how often it comes back).
A :class:`SignInOutcome` holds both for one cohort and one app. Durations are
given as Okta wrote them and in words (``PT43800H: once per Okta session``),
parsed by :mod:`kmsi_lib.durations`; nothing here fills in a value the rule
does not hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from kmsi_lib import durations
from kmsi_lib.jsontypes import JsonMap, dig, flag, obj, text

if TYPE_CHECKING:
    from kmsi_lib.engine.evaluate import Cohort

__all__ = [
    "AppRule",
    "PlacedFields",
    "PlacedRule",
    "SessionRule",
    "SignInOutcome",
    "duration_words",
    "minutes_words",
    "placed",
]

#: Okta's "once per session" re-authentication value (docs/OKTA-API.md §7.3).
ONCE_PER_SESSION = "PT43800H"

_PROMPT_MODES = {
    "ALWAYS": "at every sign-in",
    "DEVICE": "when a new device signs in",
    "SESSION": "once the MFA lifetime has run out",
}
_FACTOR_MODES = {"1FA": "one factor", "2FA": "two factors"}


def duration_words(iso: str | None, *, reauthentication: bool = False) -> str:
    """An ISO duration and its meaning, e.g. ``PT168H: every 7 days``.

    For a re-authentication interval ``PT0S`` reads "at every sign-in" and
    ``PT43800H`` "once per Okta session". ``None`` reads "not set".
    """
    if iso is None:
        return "not set"
    if not durations.is_valid(iso):
        return f"{iso} (not an ISO-8601 duration)"
    parsed = durations.parse(iso)
    if reauthentication and parsed == durations.parse("PT0S"):
        return f"{iso}: at every sign-in"
    if reauthentication and parsed == durations.parse(ONCE_PER_SESSION):
        return f"{iso}: once per Okta session"
    return f"{iso}: every {parsed.describe()}"


def minutes_words(minutes: int | None, *, zero: str = "0 minutes") -> str:
    """A number of minutes in words, e.g. ``120 minutes (2 hours)``; ``zero`` names 0."""
    if minutes is None:
        return "not set"
    if minutes == 0:
        return zero
    spelled = durations.parse(f"PT{minutes}M").describe()
    return f"{minutes} minutes" + ("" if minutes < 60 else f" ({spelled})")


def _whole(value: object) -> int | None:
    """``value`` when it is a whole number (not a boolean), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class PlacedFields(TypedDict):
    """The :class:`PlacedRule` fields, as :func:`placed` gives them."""

    policy_id: str
    policy_name: str
    rule_id: str
    rule_name: str
    depends_on: tuple[str, ...]


@dataclass(frozen=True)
class PlacedRule:
    """Where a rule that applies sits, and what it depends on (see :func:`placed`)."""

    policy_id: str
    policy_name: str
    rule_id: str
    rule_name: str
    depends_on: tuple[str, ...]


def placed(policy: JsonMap, rule: JsonMap, depends_on: tuple[str, ...]) -> PlacedFields:
    """The :class:`PlacedRule` fields of ``rule`` in ``policy``, as keyword arguments."""
    return {
        "policy_id": str(policy.get("id")),
        "policy_name": str(policy.get("name")),
        "rule_id": str(rule.get("id")),
        "rule_name": str(rule.get("name")),
        "depends_on": depends_on,
    }


@dataclass(frozen=True)
class SessionRule(PlacedRule):
    """A global session rule as it applies: where it is, what it depends on, what it does."""

    access: str | None
    mfa_required: bool
    prompt_mode: str | None
    mfa_lifetime_minutes: int | None
    idle_minutes: int | None
    lifetime_minutes: int | None
    persistent_cookie: bool | None

    @classmethod
    def read(cls, policy: JsonMap, rule: JsonMap, depends_on: tuple[str, ...]) -> SessionRule:
        """Read ``rule`` (of ``policy``) as Okta returned it."""
        signon = obj(dig(rule, "actions", "signon"))
        session = obj(signon.get("session"))
        return cls(
            **placed(policy, rule, depends_on),
            access=text(signon.get("access")),
            mfa_required=signon.get("requireFactor") is True,
            prompt_mode=text(signon.get("factorPromptMode")),
            mfa_lifetime_minutes=_whole(signon.get("factorLifetime")),
            idle_minutes=_whole(session.get("maxSessionIdleMinutes")),
            lifetime_minutes=_whole(session.get("maxSessionLifetimeMinutes")),
            persistent_cookie=flag(session.get("usePersistentCookie")),
        )

    def settings(self) -> dict[str, str]:
        """Each setting in words, keyed by its plain name (the effect, without ids)."""
        words = {"access": "allowed" if self.access == "ALLOW" else f"{self.access}"}
        if self.mfa_required:
            mode = self.prompt_mode or "not set"
            words["MFA"] = f"required, prompt {mode}: {_PROMPT_MODES.get(mode, mode)}"
            if self.mfa_lifetime_minutes is not None or self.prompt_mode == "SESSION":
                words["MFA lifetime"] = minutes_words(self.mfa_lifetime_minutes)
        else:
            words["MFA"] = "not required"
        words["session idle limit"] = minutes_words(self.idle_minutes)
        words["session lifetime"] = minutes_words(self.lifetime_minutes, zero="0: no limit")
        cookie = self.persistent_cookie
        words["persistent cookie"] = "not set" if cookie is None else ("on" if cookie else "off")
        return words

    def describe(self) -> str:
        """The rule and its settings in one line."""
        said = "; ".join(f"{k} {v}" for k, v in self.settings().items())
        return f'global session "{self.policy_name}" > "{self.rule_name}": {said}'


@dataclass(frozen=True)
class AppRule(PlacedRule):
    """An app sign-in rule as it applies: where it is, what it depends on, what it does."""

    access: str | None
    factor_mode: str | None
    reauthenticate_in: str | None
    kmsi_post_auth: str | None
    kmsi_prompt_frequency: str | None

    @classmethod
    def read(cls, policy: JsonMap, rule: JsonMap, depends_on: tuple[str, ...]) -> AppRule:
        """Read ``rule`` (of ``policy``) as Okta returned it."""
        sign_on = obj(dig(rule, "actions", "appSignOn"))
        method = obj(sign_on.get("verificationMethod"))
        kmsi = obj(sign_on.get("keepMeSignedIn"))
        return cls(
            **placed(policy, rule, depends_on),
            access=text(sign_on.get("access")),
            factor_mode=text(method.get("factorMode")),
            reauthenticate_in=text(method.get("reauthenticateIn")),
            kmsi_post_auth=text(kmsi.get("postAuth")),
            kmsi_prompt_frequency=text(kmsi.get("postAuthPromptFrequency")),
        )

    def settings(self) -> dict[str, str]:
        """Each setting in words, keyed by its plain name (the effect, without ids)."""
        mode = self.factor_mode or "not set"
        words = {
            "access": "allowed" if self.access == "ALLOW" else f"{self.access}",
            "factors": f"{mode}: {_FACTOR_MODES.get(mode, mode)}",
            "re-authentication": duration_words(self.reauthenticate_in, reauthentication=True),
        }
        if self.kmsi_post_auth == "ALLOWED":
            every = duration_words(self.kmsi_prompt_frequency)
            words["post-auth KMSI prompt"] = f"allowed, shown again {every}"
        elif self.kmsi_post_auth == "NOT_ALLOWED":
            words["post-auth KMSI prompt"] = "not allowed"
        else:
            words["post-auth KMSI prompt"] = f"not set ({self.kmsi_post_auth})"
        return words

    def describe(self) -> str:
        """The rule and its settings in one line."""
        said = "; ".join(f"{k} {v}" for k, v in self.settings().items())
        return f'app sign-in "{self.policy_name}" > "{self.rule_name}": {said}'


Rule = SessionRule | AppRule


@dataclass(frozen=True)
class SignInOutcome:
    """The rules that apply to one cohort for one app, in evaluation order.

    ``session_rules`` and ``app_rules`` list possibilities: each but the last
    depends on a condition the evaluator cannot decide (its ``depends_on``);
    the last applies when none of those holds. :attr:`session` and
    :attr:`app` are that last rule when it depends on nothing.
    """

    cohort: Cohort
    cohort_label: str
    app_id: str
    app_label: str
    session_rules: tuple[SessionRule, ...]
    app_rules: tuple[AppRule, ...]
    notes: tuple[str, ...] = ()

    @property
    def session(self) -> SessionRule | None:
        """The global session rule that applies unless an earlier possibility's condition holds."""
        last = self.session_rules[-1] if self.session_rules else None
        return last if last is not None and not last.depends_on else None

    @property
    def app(self) -> AppRule | None:
        """The app sign-in rule that applies unless an earlier possibility's condition holds."""
        last = self.app_rules[-1] if self.app_rules else None
        return last if last is not None and not last.depends_on else None

    @property
    def depends_on(self) -> tuple[str, ...]:
        """Every condition the outcome depends on, in the order first met, each once."""
        seen = [c for rule in self._rules() for c in rule.depends_on]
        return tuple(dict.fromkeys(seen))

    def _rules(self) -> tuple[Rule, ...]:
        return (*self.session_rules, *self.app_rules)

    def effect(self) -> tuple[object, ...]:
        """What the outcome does, without rule ids or names: two equal effects mean the same."""
        return (
            tuple((r.depends_on, tuple(r.settings().items())) for r in self.session_rules),
            tuple((r.depends_on, tuple(r.settings().items())) for r in self.app_rules),
            self.notes,
        )

    def describe(self) -> str:
        """The outcome in words, one line per possibility."""
        lines = [f"{self.cohort_label}, {self.app_label}:"]
        for rule in self._rules():
            lines.append(f"  {_possibility(rule)}")
        lines += [f"  note: {note}" for note in self.notes]
        if self.depends_on:
            lines.append(f"  depends on: {', '.join(self.depends_on)}")
        return "\n".join(lines)

    def changes_to(self, other: SignInOutcome) -> list[str]:
        """The differences to ``other`` in words: field by field where the rules line up."""
        lines: list[str] = []
        pairs: tuple[tuple[str, tuple[Rule, ...], tuple[Rule, ...]], ...] = (
            ("global session", self.session_rules, other.session_rules),
            ("app sign-in", self.app_rules, other.app_rules),
        )
        for kind, mine, theirs in pairs:
            if [r.depends_on for r in mine] != [r.depends_on for r in theirs]:
                lines.append(f"{kind} was: " + " | ".join(_possibility(r) for r in mine))
                lines.append(f"{kind} now: " + " | ".join(_possibility(r) for r in theirs))
                continue
            for old, new in zip(mine, theirs, strict=True):
                before, after = old.settings(), new.settings()
                for key in dict.fromkeys([*before, *after]):
                    if before.get(key) != after.get(key):
                        where = f'{kind} "{new.rule_name}"'
                        was, now = before.get(key, "not set"), after.get(key, "not set")
                        lines.append(f"{where}: {key} {was} -> {now}")
        if self.notes != other.notes:
            lines.append(f"notes {list(self.notes)} -> {list(other.notes)}")
        return lines


def _possibility(rule: Rule) -> str:
    if rule.depends_on:
        return f"if {' and '.join(rule.depends_on)} match: {rule.describe()}; otherwise"
    return rule.describe()
