"""ISO-8601 durations as Okta uses them (``TimeDuration``), compared by meaning.

Okta writes KMSI and re-authentication periods as ISO-8601 durations
(``PT168H``, ``P30D``, ``PT43800H``) and may echo them in another form than the
one sent (its own example sends ``P30D`` and shows ``PT720H``). So a procedure
never compares two durations as strings: ``P7D`` and ``PT168H`` mean the same
and a plan must not call that a change.

The accepted grammar is the one the Okta SDK bundles (the published spec's
pattern is broken and accepts only ``"P"``; see docs/OKTA-API.md §5): whole numbers
only, designators in the order ``Y M W D T H M S``. A day is 24 hours and a week
is 7 days (Okta's own ``P30D`` -> ``PT720H``). Years and months are calendar
units: a year equals 12 months, but a month has no fixed number of hours, so
``P1M`` is not equal to ``P30D``; :meth:`Duration.min_seconds` and
:meth:`Duration.max_seconds` bound it when an ordering is needed.

This module is pure (no I/O) and raises :class:`ValueError` for text that is
not a duration, like :func:`int` does, so it can serve as a pydantic validator;
parameter parsing turns that into :class:`kmsi_lib.errors.ParameterError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator

__all__ = [
    "Duration",
    "IsoDuration",
    "equal",
    "is_valid",
    "parse",
    "validate",
]

# The corrected TimeDuration pattern from okta-sdk-python's bundled spec, with named groups.
_PATTERN = re.compile(
    r"^P(?!$)"
    r"(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)

_MINUTE = 60
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR
_EXAMPLES = "PT2H, P7D, PT168H or PT43800H"


@dataclass(frozen=True)
class Duration:
    """A duration reduced to calendar months plus exact seconds.

    Two durations are equal (``==``) exactly when they mean the same span:
    ``parse("P7D") == parse("PT168H")`` and ``parse("P1Y") == parse("P12M")``.
    """

    months: int
    seconds: int

    @property
    def is_exact(self) -> bool:
        """True when the duration has no month or year part (its length is fixed)."""
        return self.months == 0

    def total_seconds(self) -> int:
        """Exact length in seconds; raises ValueError when months make it inexact."""
        if self.months:
            raise ValueError(
                f"{self.iso()} contains months or years, which have no fixed length in seconds"
            )
        return self.seconds

    def min_seconds(self) -> int:
        """Shortest length this duration can have (years of 365 days, months of 28)."""
        years, months = divmod(self.months, 12)
        return self.seconds + years * 365 * _DAY + months * 28 * _DAY

    def max_seconds(self) -> int:
        """Longest length this duration can have (years of 366 days, months of 31)."""
        years, months = divmod(self.months, 12)
        return self.seconds + years * 366 * _DAY + months * 31 * _DAY

    def longer_than(self, other: Duration) -> bool:
        """True when this duration is certainly longer than ``other``."""
        return self.min_seconds() > other.max_seconds()

    def iso(self) -> str:
        """Canonical ISO-8601 form: months as ``P…M``, the rest in hours/minutes/seconds.

        Hours are not folded into days, matching how Okta echoes durations
        (``PT720H``, not ``P30D``).
        """
        date = f"{self.months}M" if self.months else ""
        hours, rest = divmod(self.seconds, _HOUR)
        minutes, seconds = divmod(rest, _MINUTE)
        time = "".join(
            f"{value}{unit}"
            for value, unit in ((hours, "H"), (minutes, "M"), (seconds, "S"))
            if value
        )
        if not date and not time:
            return "PT0S"
        return f"P{date}" + (f"T{time}" if time else "")

    def describe(self) -> str:
        """Short English reading for plans and reports, e.g. ``7 days`` or ``30 minutes``."""
        parts: list[str] = []
        years, months = divmod(self.months, 12)
        days, rest = divmod(self.seconds, _DAY)
        hours, rest = divmod(rest, _HOUR)
        minutes, seconds = divmod(rest, _MINUTE)
        for value, unit in (
            (years, "year"),
            (months, "month"),
            (days, "day"),
            (hours, "hour"),
            (minutes, "minute"),
            (seconds, "second"),
        ):
            if value:
                parts.append(f"{value} {unit}" + ("" if value == 1 else "s"))
        return ", ".join(parts) if parts else "0 seconds"

    def __str__(self) -> str:
        return self.iso()


def parse(text: str) -> Duration:
    """Parse an Okta ISO-8601 duration such as ``PT168H`` or ``P7D``.

    Raises ValueError, naming the text and showing valid examples, when the
    text is not a duration Okta accepts (fractions, negative values, lowercase,
    a lone ``P`` or ``PT`` are all refused).
    """
    if not isinstance(text, str):
        raise ValueError(f"must be an ISO-8601 duration string such as {_EXAMPLES} (got {text!r})")
    match = _PATTERN.match(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not an ISO-8601 duration; write whole numbers with the designators "
            f"P, Y, M, W, D, T, H, M, S in that order, e.g. {_EXAMPLES}"
        )
    part = {name: int(value) if value else 0 for name, value in match.groupdict().items()}
    months = part["years"] * 12 + part["months"]
    seconds = (
        (part["weeks"] * 7 + part["days"]) * _DAY
        + part["hours"] * _HOUR
        + part["minutes"] * _MINUTE
        + part["seconds"]
    )
    return Duration(months=months, seconds=seconds)


def is_valid(text: object) -> bool:
    """True when ``text`` is a duration string :func:`parse` accepts."""
    return isinstance(text, str) and _PATTERN.match(text) is not None


def equal(a: str | None, b: str | None) -> bool:
    """Compare two duration strings by meaning.

    ``None`` equals only ``None``. When either side is not a valid duration
    (a value some other tool wrote into the org) the strings are compared
    as they are, so an unexpected server value never crashes a plan.
    """
    if a is None or b is None:
        return a is b
    if is_valid(a) and is_valid(b):
        return parse(a) == parse(b)
    return a == b


def validate(text: str) -> str:
    """Pydantic validator: check ``text`` is a duration and return it unchanged.

    The text is kept as the user wrote it (``P7D`` stays ``P7D``); comparison
    with what the org holds is done by meaning with :func:`equal`.
    """
    parse(text)
    return text


IsoDuration = Annotated[str, AfterValidator(validate)]
"""A ``str`` parameter field that must hold an Okta ISO-8601 duration."""
