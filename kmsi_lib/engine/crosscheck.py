"""Cross-check the evaluator against Okta's own policy simulation, on a real org.

:func:`crosscheck` asks Okta's ``POST /api/v1/policies/simulate`` (the API behind the
Admin Console's Access Testing Tool) which global session rule and which app sign-in
rule it would apply to each sampled (user, app), and compares the answer with
:func:`kmsi_lib.engine.evaluate.evaluate` on the :class:`~kmsi_lib.engine.evaluate.OrgView`
the plan read. The result is a :class:`CrossCheck` report; an org without the API (it
answers 404 or 403, or the token lacks the scope) gives ``available=False`` and the
reason, never an exception: a plan goes on without the cross-check.

How the two answers are compared, per policy type:

* The evaluator lists possibilities: rules that depend on a condition only a sign-in
  request decides (network zone, device, risk, ...), then the rule that applies when
  none of those holds. Okta's simulation, asked without a network zone or a device,
  marks such rules ``UNDEFINED`` and goes on to the next one, so its ``result`` is the
  evaluator's last possibility. When Okta decides a condition the evaluator left open
  (it knows the user's type, say), its rule is one of the possibilities: that counts
  as agreement too, since the evaluator said the outcome depends on it.
* No rule on both sides (an API service app has no authentication policy) agrees.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from kmsi_lib import errors
from kmsi_lib.engine.evaluate import Cohort, OrgView, cohorts_for, evaluate
from kmsi_lib.jsontypes import JsonMap, JsonObject, arr, obj
from kmsi_lib.okta.resources import policies

if TYPE_CHECKING:
    from kmsi_lib.engine.outcome import PlacedRule
    from kmsi_lib.okta.client import OktaClient

__all__ = ["CrossCheck", "Disagreement", "crosscheck", "crosscheck_cohorts", "sample_users"]

#: policy type -> the part of a sign-in it decides, as a report names it
PARTS = {"OKTA_SIGN_ON": "global session", "ACCESS_POLICY": "app sign-in"}


@dataclass(frozen=True)
class Disagreement:
    """One sampled (user, app) for which the evaluator and Okta name different rules."""

    user_id: str
    app_id: str
    cohort_label: str
    app_label: str
    part: str
    library: str
    okta: str

    def describe(self) -> str:
        """The disagreement in one line."""
        return (
            f"{self.cohort_label}, {self.app_label}: {self.part}: the evaluator says"
            f" {self.library}, Okta's simulation says {self.okta}"
        )


@dataclass(frozen=True)
class CrossCheck:
    """What Okta's policy simulation said of the evaluator's answers for a sample.

    ``sampled`` counts the (user, app) pairs compared, ``agreed`` those where both
    parts agree; ``undecided`` counts the agreeing ones where the evaluator's answer
    depended on a condition it cannot decide. ``unchecked`` lists samples Okta
    refused (after the first success) with the reason. ``available`` is False, with
    ``reason``, when the API could not be used at all.
    """

    available: bool
    sampled: int = 0
    agreed: int = 0
    undecided: int = 0
    disagreements: tuple[Disagreement, ...] = ()
    unchecked: tuple[str, ...] = ()
    reason: str | None = None

    @property
    def ok(self) -> bool:
        """True when the API answered and agreed on every sample it answered."""
        return self.available and not self.disagreements

    def describe(self) -> str:
        """One line: the agreement, or why there was no cross-check."""
        if not self.available:
            return (
                f"Okta's policy simulation API is not available on this org ({self.reason}):"
                " not cross-checked"
            )
        noun = "cohort" if self.sampled == 1 else "cohorts"
        line = (
            f"Okta's policy simulation agrees with the evaluator on {self.agreed} of"
            f" {self.sampled} sampled {noun}"
        )
        if self.unchecked:
            line += f" ({len(self.unchecked)} more not checked)"
        return line

    def details(self) -> list[str]:
        """:meth:`describe`, then one line per disagreement and per unchecked sample."""
        return [
            self.describe(),
            *(d.describe() for d in self.disagreements),
            *(f"not checked: {u}" for u in self.unchecked),
        ]

    def to_dict(self) -> JsonObject:
        """The report as JSON-ready values."""
        return {
            "available": self.available,
            "reason": self.reason,
            "sampled": self.sampled,
            "agreed": self.agreed,
            "undecided": self.undecided,
            "disagreements": [asdict(d) | {"text": d.describe()} for d in self.disagreements],
            "unchecked": list(self.unchecked),
            "summary": self.describe(),
        }


def crosscheck(client: OktaClient, view: OrgView, samples: Sequence[tuple[str, str]]) -> CrossCheck:
    """Compare the evaluator with Okta's policy simulation on ``samples`` of (user id, app id).

    One simulation request per sample (``OKTA_SIGN_ON`` and ``ACCESS_POLICY``,
    ``expand=EVALUATED``; scope ``okta.policies.read``). If the very first request
    fails with any :class:`~kmsi_lib.errors.KmsiError`, the API is taken as not
    available on this org; a later failure leaves that one sample unchecked.
    """
    return crosscheck_cohorts(client, view, [(Cohort.of_user(u), a) for u, a in samples])


def crosscheck_cohorts(
    client: OktaClient, view: OrgView, samples: Sequence[tuple[Cohort, str]]
) -> CrossCheck:
    """:func:`crosscheck` for cohorts: a user is simulated as that user, a group cohort
    as a member of that group and Everyone only, "everyone else" as a member of Everyone
    only (Okta's simulation takes a set of group ids in place of a user)."""
    sampled = agreed = undecided = 0
    found: list[Disagreement] = []
    unchecked: list[str] = []
    everyone = [view.everyone_group_id] if view.everyone_group_id else []
    for cohort, app_id in samples:
        who: dict[str, Any] = (
            {"user_id": cohort.id}
            if cohort.kind == "user"
            else {"group_ids": [cohort.id, *everyone] if cohort.id else everyone}
        )
        try:
            answer = policies.simulate(
                client, app_id, policy_types=tuple(PARTS), expand=("EVALUATED",), **who
            )
        except errors.KmsiError as exc:
            if sampled == 0:
                return CrossCheck(available=False, reason=_reason(exc))
            unchecked.append(f"{cohort.label(view)}, app {app_id}: {_reason(exc)}")
            continue
        sampled += 1
        differences, depended = _compare(view, cohort, app_id, answer)
        found += differences
        if not differences:
            agreed += 1
            undecided += depended
    return CrossCheck(
        available=True,
        sampled=sampled,
        agreed=agreed,
        undecided=undecided,
        disagreements=tuple(found),
        unchecked=tuple(unchecked),
    )


def sample_users(view: OrgView, app_id: str, *, limit: int = 12) -> list[tuple[str, str]]:
    """Up to ``limit`` (user id, ``app_id``) pairs, one user per cohort the app's rules name.

    Users named in a rule first, then one member of each group a rule names (one
    not yet chosen), then one user in none of those groups ("everyone else").
    Cohorts with no user in the view's memberships are left out.
    """
    chosen: dict[str, None] = {}
    cohorts = cohorts_for(view, app_id)
    named = {c.id for c in cohorts if c.kind == "group" and c.id is not None}
    for cohort in cohorts:
        if cohort.kind == "user" and cohort.id is not None:
            chosen.setdefault(cohort.id, None)
    for cohort in cohorts:
        if cohort.kind == "group":
            member = next(
                (
                    u
                    for u, gs in sorted(view.memberships.items())
                    if cohort.id in gs and u not in chosen
                ),
                None,
            )
            if member is not None:
                chosen.setdefault(member, None)
    outsider = next(
        (u for u, gs in sorted(view.memberships.items()) if not gs & named and u not in chosen),
        None,
    )
    if outsider is not None:
        chosen.setdefault(outsider, None)
    return [(user, app_id) for user in list(chosen)[:limit]]


def _reason(exc: errors.KmsiError) -> str:
    if isinstance(exc, errors.OktaApiError):
        code = f" {exc.error_code}" if exc.error_code else ""
        return f"{exc.status}{code}: {exc.summary}"
    return f"{type(exc).__name__}: {exc}"


def _compare(
    view: OrgView, cohort: Cohort, app_id: str, answer: Iterable[JsonMap]
) -> tuple[list[Disagreement], bool]:
    """The disagreements of one sample, and whether the evaluator's answer depended on something."""
    outcome = evaluate(view, cohort, app_id)
    user_id = (cohort.id or "") if cohort.kind == "user" else ""
    by_type = {_type(entry): entry for entry in answer}
    ours: dict[str, Sequence[PlacedRule]] = {
        "OKTA_SIGN_ON": outcome.session_rules,
        "ACCESS_POLICY": outcome.app_rules,
    }
    found: list[Disagreement] = []
    depended = False
    for ptype, part in PARTS.items():
        possible = ours[ptype]
        theirs = _okta_rule(by_type.get(ptype))
        ids = [(r.policy_id, r.rule_id) for r in possible]
        decided = bool(possible) and not possible[-1].depends_on
        if theirs is None:
            same = not decided
        else:
            same = (theirs[0], theirs[1]) in ids
        depended = depended or any(r.depends_on for r in possible)
        if not same:
            found.append(
                Disagreement(
                    user_id=user_id,
                    app_id=app_id,
                    cohort_label=outcome.cohort_label,
                    app_label=outcome.app_label,
                    part=part,
                    library=_ours_words(possible),
                    okta=_theirs_words(theirs),
                )
            )
    return found, depended


def _type(entry: JsonMap) -> str:
    """An evaluation's policy type (the schema makes ``policyType`` an array, examples a string)."""
    value = entry.get("policyType")
    if isinstance(value, list):
        value = value[0] if value else None
    return str(value)


def _okta_rule(entry: JsonMap | None) -> tuple[str, str, str, str] | None:
    """(policy id, rule id, policy name, rule name) of the simulation's result, or None."""
    if entry is None:
        return None
    for policy in map(obj, arr(obj(entry.get("result")).get("policies"))):
        for rule in map(obj, arr(policy.get("rules"))):
            return (
                str(policy.get("id")),
                str(rule.get("id")),
                str(policy.get("name")),
                str(rule.get("name")),
            )
    return None


def _ours_words(possible: Sequence[PlacedRule]) -> str:
    """The evaluator's possibilities: ``"P" > "Office" (rul1) if network zone; otherwise …``."""
    if not possible:
        return "no rule"
    words = [
        f'"{r.policy_name}" > "{r.rule_name}" ({r.rule_id})'
        + (f" if {' and '.join(r.depends_on)}" if r.depends_on else "")
        for r in possible
    ]
    return "; otherwise ".join(words)


def _theirs_words(rule: tuple[str, str, str, str] | None) -> str:
    if rule is None:
        return "no rule"
    return f'"{rule[2]}" > "{rule[3]}" ({rule[1]})'
