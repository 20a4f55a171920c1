"""The library's evaluator against the sandbox's policy simulation: generated and hand-computed orgs.

Two evaluators written apart, from Okta's documentation: ``kmsi_lib.engine.evaluate`` (pure,
over the JSON the client read) and the sandbox's ``POST /api/v1/policies/simulate``
(``kmsi_lib/sandbox/_simulate.py``, which imports nothing of the library). Every org here
is made in a sandbox through its API, read back over HTTP with the library's readers
(``tests/simulated_orgs.py``), then both are asked, for a user and an app, which global
session policy and rule and which authentication policy rule apply.

The generated orgs hold people conditions only: they are what the evaluator decides.
Conditions only a sign-in request settles are the separate zone test at the end: there
the evaluator must say "depends on" rather than guess, and the simulation, asked without
a zone, must list the rule as undefined and go on to the same alternative.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from simulated_orgs import (
    EVERYONE,
    Org,
    OrgSpec,
    People,
    PolicySpec,
    RuleSpec,
    built,
    matched,
    placed,
    read_view,
    simulated,
    undefined_rules,
)

from kmsi_lib.engine.evaluate import Cohort, OrgView, evaluate

CATCH_ALL = "Catch-all Rule"
DEFAULT_RULE = "Default Rule"
DEFAULT_POLICY = "Default Policy"


def _compare(org: Org, view: OrgView, user: str, app: str) -> list[str]:
    """Where the evaluator and the simulation differ for ``user`` on ``app`` (empty: agree)."""
    outcome = evaluate(view, Cohort.of_user(org.id(user)), org.id(app))
    answer = simulated(org.client, org.id(user), org.id(app))
    problems = []
    if outcome.depends_on:
        problems.append(f"the evaluator depends on {outcome.depends_on}")
    for ptype, ours in (("OKTA_SIGN_ON", outcome.session), ("ACCESS_POLICY", outcome.app)):
        entry = answer[ptype]
        if undefined_rules(entry):
            problems.append(f"{ptype}: the simulation left {undefined_rules(entry)} undefined")
        if placed(ours) != matched(entry):
            names = {v: k for k, v in org.ids.items()}
            theirs = matched(entry)
            problems.append(
                f"{ptype} for {user} on {app}: evaluator {names.get(placed(ours)[1]) if ours else None},"
                f" simulation {names.get(theirs[1]) if theirs else None}"
            )
    if problems:
        problems.append(outcome.describe())
    return problems


def _check_all(org: Org, pairs: Sequence[tuple[str, str]]) -> None:
    view = read_view(org.client)
    problems = [p for user, app in pairs for p in _compare(org, view, user, app)]
    assert not problems, "\n".join(problems)


# ---- generated orgs ---------------------------------------------------------------------------


@st.composite
def _people(draw: st.DrawFn, group_names: Sequence[str], user_names: Sequence[str]) -> People:
    """A people condition: users or groups included (or neither), some users or groups excluded."""
    include = draw(st.sampled_from(["nobody", "users", "groups"]))
    users = st.sampled_from(list(user_names))
    groups_ = st.sampled_from([*group_names, EVERYONE])
    return People(
        users_include=tuple(draw(st.lists(users, min_size=1, max_size=2, unique=True)))
        if include == "users"
        else (),
        users_exclude=tuple(draw(st.lists(users, max_size=2, unique=True))),
        groups_include=tuple(draw(st.lists(groups_, min_size=1, max_size=2, unique=True)))
        if include == "groups"
        else (),
        groups_exclude=tuple(draw(st.lists(st.sampled_from(list(group_names)), max_size=1))),
    )


@st.composite
def _rules(
    draw: st.DrawFn, prefix: str, group_names: Sequence[str], user_names: Sequence[str]
) -> tuple[RuleSpec, ...]:
    count = draw(st.integers(0, 3))
    return tuple(
        RuleSpec(
            name=f"{prefix}r{n}",
            people=draw(_people(group_names, user_names)),
            priority=draw(st.none() | st.integers(0, count + 1)),
            active=draw(st.sampled_from([True, True, False])),
        )
        for n in range(count)
    )


@st.composite
def org_specs(draw: st.DrawFn) -> OrgSpec:
    """A small org: 1-3 groups, 1-4 users, 0-2 extra session policies, 1-2 app policies, 1-2 apps."""
    group_names = tuple(f"g{n}" for n in range(draw(st.integers(1, 3))))
    user_names = tuple(f"u{n}" for n in range(draw(st.integers(1, 4))))
    users = {
        u: tuple(draw(st.lists(st.sampled_from(group_names), max_size=2, unique=True)))
        for u in user_names
    }
    session = tuple(
        PolicySpec(
            name=f"S{n}",
            rules=draw(_rules(f"S{n}", group_names, user_names)),
            groups=tuple(
                draw(
                    st.lists(
                        st.sampled_from([*group_names, EVERYONE]), min_size=1, max_size=2, unique=True
                    )
                )
            ),
            priority=draw(st.none() | st.integers(1, 3)),
            active=draw(st.sampled_from([True, True, False])),
        )
        for n in range(draw(st.integers(0, 2)))
    )
    access = tuple(
        PolicySpec(
            name=f"P{n}",
            rules=draw(_rules(f"P{n}", group_names, user_names)),
            active=draw(st.sampled_from([True, True, True, False])),
        )
        for n in range(draw(st.integers(1, 2)))
    )
    app_policies = st.sampled_from([p.name for p in access])
    return OrgSpec(
        groups=group_names,
        users=users,
        session_policies=session,
        default_session_rules=draw(_rules("D", group_names, user_names).map(lambda r: r[:2])),
        access_policies=access,
        apps={f"A{n}": draw(app_policies) for n in range(draw(st.integers(1, 2)))},
    )


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(spec=org_specs())
def test_the_evaluator_agrees_with_the_simulation_on_generated_orgs(spec: OrgSpec) -> None:
    """For every user and app of a generated org: the same session rule and the same app rule."""
    note(repr(spec))
    with built(spec) as org:
        _check_all(org, [(u, a) for u in spec.users for a in spec.apps])
