"""Bounds on procedure parameters: Okta's documented limits and usual ceilings.

Each bounded field carries a :class:`Limit` in its annotation::

    factor_lifetime_minutes: Annotated[Minutes, FACTOR_LIFETIME] = 120

A limit has two kinds of bound:

* **hard** bounds (``hard_min``/``hard_max``) are what Okta documents it
  accepts, or a technical limit; a value outside them is always refused.
* **usual** bounds (``usual_min``/``usual_max``) are a stated sane range for
  values Okta documents no limit for (or whose documented limit is far from
  any sane setting). A value outside them is refused unless the params name
  the field in ``allow_unusual_values``, which every procedure's ``Params``
  has: ``allow_unusual_values: [factor_lifetime_minutes]``. The operator
  raises a ceiling explicitly, per run, and the evidence records it.

What a limit measures depends on ``unit``: the number itself (``minutes``,
``priority``, ``workers``), a text's length (``characters``), a list's
length (``entries``) or a duration's length (``duration``, ISO-8601: a
month counts as 28 days against a floor and 31 against a ceiling).

Hard bounds are checked while the field is validated (so they are reported
with pydantic's other errors); usual bounds once the whole model is valid,
because only then is ``allow_unusual_values`` known.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, GetCoreSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

from kmsi_lib import durations
from kmsi_lib.errors import ParameterError

__all__ = [
    "ALLOW_FIELD",
    "CONTROL",
    "Limit",
    "MARKUP",
    "check_usual",
    "raisable_fields",
]

#: The parameter that names the fields whose usual bounds are lifted for this run.
ALLOW_FIELD = "allow_unusual_values"

Unit = Literal["minutes", "priority", "workers", "characters", "entries", "duration"]

_MINUTE = 60
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR

#: Markup in a text shown on the sign-in page: a tag, a comment or a character
#: reference. The widget shows the text as text; markup is a paste mistake or an attack.
MARKUP = re.compile(r"<\s*[A-Za-z/!?]|&(#\d+|#x[0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]*);")
#: Control characters (C0 and C1, DEL) and the Unicode bidi overrides that can disguise text.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _minutes_text(value: int) -> str:
    days, rest = divmod(value, 24 * 60)
    if days and not rest:
        return f"{value} minutes ({days} days)"
    return f"{value} minutes"


def _seconds_text(seconds: int) -> str:
    return durations.Duration(0, seconds).describe()


@dataclass(frozen=True)
class Limit:
    """The bounds of one parameter and where they come from.

    ``source`` is the page documenting the hard bound, or the reason for a
    chosen one. ``also`` lists values accepted whatever the bounds (for a
    duration, compared by meaning), e.g. Okta's "once per session"
    ``PT43800H``. ``text`` makes a ``characters`` limit also refuse markup
    and control characters (texts shown to users).
    """

    unit: Unit
    hard_min: int | None = None
    hard_max: int | None = None
    usual_min: int | None = None
    usual_max: int | None = None
    source: str = ""
    also: tuple[str, ...] = ()
    text: bool = False
    note: str = ""

    @property
    def raisable(self) -> bool:
        """True when a usual bound is tighter than the hard one (naming the field lifts it)."""
        return (self.usual_min is not None and self.usual_min != self.hard_min) or (
            self.usual_max is not None and self.usual_max != self.hard_max
        )

    # ------------------------------------------------------------------ measuring

    def _measure(self, value: object) -> tuple[int, int] | None:
        """(length against a floor, length against a ceiling), None when not measurable."""
        if self.unit == "duration":
            if not isinstance(value, str) or not durations.is_valid(value):
                return None  # the duration validator reports it
            parsed = durations.parse(value)
            return parsed.min_seconds(), parsed.max_seconds()
        if self.unit in ("characters", "entries"):
            if not isinstance(value, str | list | tuple):
                return None
            return len(value), len(value)
        if isinstance(value, bool) or not isinstance(value, int):
            return None
        return value, value

    def _show(self, amount: int) -> str:
        if self.unit == "duration":
            return _seconds_text(amount)
        if self.unit == "minutes":
            return _minutes_text(amount)
        if self.unit in ("characters", "entries"):
            return f"{amount} {self.unit}"
        return str(amount)

    def _got(self, value: object, low: int, high: int) -> str:
        if self.unit == "duration":
            return f"{value} = {_seconds_text(high)}"
        if self.unit in ("characters", "entries"):
            return f"{high} {self.unit}"
        return repr(value)

    def _exempt(self, value: object) -> bool:
        if self.unit == "duration":
            return isinstance(value, str) and any(durations.equal(value, a) for a in self.also)
        return value in self.also

    def _hard_range(self) -> str:
        low = "" if self.hard_min is None else f"at least {self._show(self.hard_min)}"
        high = "" if self.hard_max is None else f"at most {self._show(self.hard_max)}"
        return " and ".join(part for part in (low, high) if part) or "none"

    def _where(self) -> str:
        return f" ({self.source})" if self.source else ""

    def hard_problem(self, value: object) -> str | None:
        """Why ``value`` is outside the hard bounds, or None."""
        if self._exempt(value):
            return None
        if self.text and isinstance(value, str):
            if MARKUP.search(value):
                return (
                    "must be plain text: HTML markup or character references (<b>, &amp;) "
                    "are not allowed; the sign-in page shows the text as it is"
                )
            if CONTROL.search(value):
                return "must be one line of plain text (no control or bidi characters)"
        measured = self._measure(value)
        if measured is None:
            return None
        low, high = measured
        got = self._got(value, low, high)
        if self.hard_min is not None and low < self.hard_min:
            return f"must be at least {self._show(self.hard_min)}{self._where()} (got {got})"
        if self.hard_max is not None and high > self.hard_max:
            return f"must be at most {self._show(self.hard_max)}{self._where()} (got {got})"
        return None

    def usual_problem(self, value: object, field: str) -> str | None:
        """Why ``value`` is outside the usual bounds, or None; says how to lift them."""
        if self._exempt(value):
            return None
        measured = self._measure(value)
        if measured is None:
            return None
        low, high = measured
        got = self._got(value, low, high)
        how = (
            f"if you really mean it, add {field!r} to {ALLOW_FIELD} in the params "
            f"(the hard limit stays: {self._hard_range()})"
        )
        note = f"; {self.note}" if self.note else ""
        if self.usual_min is not None and low < self.usual_min:
            below = self._show(self.usual_min)
            return f"is unusually short: below {below} (got {got}){note}; {how}"
        if self.usual_max is not None and high > self.usual_max:
            above = self._show(self.usual_max)
            return f"is unusually large: above {above} (got {got}){note}; {how}"
        return None

    # ------------------------------------------------------------------ pydantic

    def __get_pydantic_core_schema__(
        self, source: object, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        schema = handler(source)

        def check(value: object) -> object:
            problem = self.hard_problem(value)
            if problem is not None:
                raise PydanticCustomError("kmsi_limit", "{problem}", {"problem": problem})
            return value

        return core_schema.no_info_after_validator_function(check, schema)


def _limits(annotation: object, metadata: list[object]) -> tuple[list[Limit], list[Limit]]:
    """(limits on the value, limits on each list item) of a field's annotation."""
    own = [m for m in metadata if isinstance(m, Limit)]
    items: list[Limit] = []
    stack = [annotation]
    while stack:
        current = stack.pop()
        origin = typing.get_origin(current)
        if origin is typing.Annotated:
            base, *extra = typing.get_args(current)
            own += [m for m in extra if isinstance(m, Limit)]
            stack.append(base)
        elif origin in (list, tuple):
            for arg in typing.get_args(current):
                if typing.get_origin(arg) is typing.Annotated:
                    items += [m for m in typing.get_args(arg)[1:] if isinstance(m, Limit)]
        elif origin is typing.Union or origin is types.UnionType:
            stack += [a for a in typing.get_args(current) if a is not type(None)]
    return own, items


def _walk(model: BaseModel, prefix: str = "") -> Iterator[tuple[str, Limit, object]]:
    """(field path, limit, value) for every bounded value in ``model`` and its sections."""
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        path = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            yield from _walk(value, f"{path}.")
            continue
        own, items = _limits(info.annotation, list(info.metadata))
        for limit in own:
            yield path, limit, value
        if isinstance(value, list):
            for index, item in enumerate(value):
                for limit in items:
                    yield f"{path}[{index}]", limit, item


def raisable_fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    """The field paths of ``model`` that ``allow_unusual_values`` may name."""
    names: list[str] = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names += raisable_fields(annotation, f"{prefix}{name}.")
            continue
        own, items = _limits(annotation, list(info.metadata))
        if any(limit.raisable for limit in own + items):
            names.append(f"{prefix}{name}")
    return names


def check_usual(model: BaseModel, allowed: list[str]) -> None:
    """Raise ParameterError at the first value outside its usual bounds not named in ``allowed``.

    ``allowed`` names fields (``prompt_frequency``, ``apps.labels``); naming a
    list field lifts the usual bounds of its entries too.
    """
    known = raisable_fields(type(model))
    for index, name in enumerate(allowed):
        if name not in known:
            raise ParameterError(
                f"{ALLOW_FIELD}[{index}]",
                f"{name!r} has no usual bound to lift; the fields it may name are: "
                + ", ".join(known),
            )
    for path, limit, value in _walk(model):
        if re.sub(r"\[\d+\]$", "", path) in allowed:
            continue
        problem = limit.usual_problem(value, re.sub(r"\[\d+\]$", "", path))
        if problem is not None:
            raise ParameterError(path, problem)


# --------------------------------------------------------------------------- the limits

#: The longest period Okta itself writes: ``PT43800H`` (5 years), "once per session"
#: (docs/OKTA-API.md §7.3; https://registry.terraform.io/providers/okta/okta/latest/docs/resources/app_signon_policy_rule).
#: Used as the hard ceiling of a period Okta documents no maximum for.
LONGEST_SECONDS = 43800 * _HOUR
LONGEST_MINUTES = 43800 * 60
ONCE_PER_SESSION = "PT43800H"

_SESSION_ARTICLE = (
    "https://support.okta.com/help/s/article/How-to-manage-the-Okta-session-for-end-users"
)
_LIFETIME_PAGE = (
    "https://help.okta.com/oie/en-us/Content/Topics/Security/healthinsight/session-lifetime.htm"
)
_SPEC = "Okta management API spec"
_CHOSEN = "kmsi's bound: Okta documents none"

#: maxSessionIdleMinutes: "Global session idle time - maximum 30 days" (support.okta.com).
SESSION_IDLE = Limit(
    "minutes",
    hard_min=1,
    hard_max=30 * 24 * 60,
    source=f"Okta: at most 30 days, {_SESSION_ARTICLE}",
)

#: maxSessionLifetimeMinutes: 0 is no limit. Okta documents 180 days (Classic support article)
#: and 90 days (Identity Engine help); 90 days is the usual ceiling, 180 the hard one.
SESSION_LIFETIME = Limit(
    "minutes",
    hard_min=0,
    hard_max=180 * 24 * 60,
    usual_max=90 * 24 * 60,
    source=f"Okta: at most 180 days, {_SESSION_ARTICLE}; 90 days on Identity Engine, "
    f"{_LIFETIME_PAGE}",
)

#: factorLifetime: no maximum in the spec or the docs; 30 days is the usual ceiling.
FACTOR_LIFETIME = Limit(
    "minutes",
    hard_min=1,
    hard_max=LONGEST_MINUTES,
    usual_max=30 * 24 * 60,
    source=f"{_CHOSEN}; PT43800H is the longest period Okta itself writes",
)

#: postAuthPromptFrequency: no documented range (docs/OKTA-API.md §13.2); Okta's default is P30D.
PROMPT_FREQUENCY = Limit(
    "duration",
    hard_min=_MINUTE,
    hard_max=LONGEST_SECONDS,
    usual_min=_HOUR,
    usual_max=90 * _DAY,
    source=f"{_CHOSEN}; PT43800H is the longest period Okta itself writes",
)

#: reauthenticateIn: PT0S means every sign-in attempt and PT43800H once per session
#: (Okta's Terraform docs); both are Okta's documented special values. Zero is refused
#: unless named in allow_unusual_values (a zero period is most often a typo).
REAUTHENTICATE_IN = Limit(
    "duration",
    hard_min=0,
    hard_max=LONGEST_SECONDS,
    usual_min=_MINUTE,
    usual_max=90 * _DAY,
    also=(ONCE_PER_SESSION,),
    source=f"{_CHOSEN}; PT43800H is the longest period Okta itself writes",
    note="PT0S means re-authenticate at every sign-in attempt, PT43800H once per session",
)

#: Policy priority: 1 is first; a priority past the last policy puts it last.
POLICY_PRIORITY = Limit("priority", hard_min=1, hard_max=10_000, usual_max=100, source=_CHOSEN)

#: Policy and rule names: Okta's admin console allows 255 characters (GroupProfile too).
NAME = Limit("characters", hard_max=255, source=f"{_CHOSEN} (255 like Okta's names)")
DESCRIPTION = Limit("characters", hard_max=1024, source=_CHOSEN)
#: A login is at most 100 characters (spec UserProfile.login maxLength 100); ids are 20.
LOGIN = Limit("characters", hard_max=100, source=f"{_SPEC}: UserProfile.login maxLength 100")

#: Texts of the "Stay signed in?" prompt (PostAuthKeepMeSignedInPrompt: strings, no maxLength).
TITLE = Limit("characters", hard_max=1000, usual_max=100, text=True, source=_CHOSEN)
SUBTITLE = Limit("characters", hard_max=1000, usual_max=300, text=True, source=_CHOSEN)
BUTTON = Limit("characters", hard_max=1000, usual_max=50, text=True, source=_CHOSEN)

#: Lists of names: a run touching hundreds of objects is unusual for one change.
FEW = Limit(
    "entries",
    hard_max=5000,
    usual_max=100,
    source=f"{_CHOSEN}; 5000 is Okta's app sign-in policy limit ({_SPEC}, Policy tag)",
)
#: Users named in the params (a users_file is for long lists).
USERS = Limit("entries", hard_max=100_000, usual_max=1000, source=_CHOSEN)
#: Filesystem paths.
PATH = Limit("characters", hard_max=4096, source="PATH_MAX on Linux")
#: Concurrent requests: the rate-limit governor keeps them within Okta's limits.
WORKERS = Limit("workers", hard_min=1, hard_max=16, source=_CHOSEN)
