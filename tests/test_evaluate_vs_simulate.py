"""The library's evaluator against the sandbox's policy simulation, on generated and fixed orgs.

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
from typing import Any

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
            ours_name, theirs = names.get((placed(ours) or ("", ""))[1]), matched(entry)
            theirs_name = names.get(theirs[1]) if theirs else None
            problems.append(
                f"{ptype}, {user} on {app}: evaluator {ours_name}, sandbox {theirs_name}"
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
    """An org: 1-3 groups, 1-4 users, 0-2 more session policies, 1-2 app policies, 1-2 apps."""
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
                        st.sampled_from([*group_names, EVERYONE]),
                        min_size=1,
                        max_size=2,
                        unique=True,
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


# ---- hand-computed cases ----------------------------------------------------------------------

_G0_MEMBERS = {"u0": ("g0",), "u1": ("g0",), "u2": ()}


def _spec(*rules: RuleSpec, **parts: Any) -> OrgSpec:
    """Users u0, u1 (in g0) and u2; one app, A0, whose authentication policy P0 has ``rules``."""
    return OrgSpec(
        groups=("g0",),
        users=_G0_MEMBERS,
        access_policies=(PolicySpec("P0", rules=rules),),
        apps={"A0": "P0"},
        **parts,
    )


_DEFAULT = (DEFAULT_POLICY, DEFAULT_RULE)
_CATCH = ("P0", CATCH_ALL)

HAND_CASES = [
    pytest.param(
        _spec(
            RuleSpec("members but u0", People(groups_include=("g0",), users_exclude=("u0",))),
            RuleSpec("members", People(groups_include=("g0",))),
        ),
        {"u0": (_DEFAULT, ("P0", "members")), "u1": (_DEFAULT, ("P0", "members but u0"))},
        id="an-excluded-user-falls-through-to-the-next-rule",
    ),
    pytest.param(
        _spec(
            RuleSpec("everyone, inactive", People(), priority=0, active=False),
            RuleSpec("members", People(groups_include=("g0",)), priority=1),
        ),
        {"u0": (_DEFAULT, ("P0", "members")), "u2": (_DEFAULT, _CATCH)},
        id="an-inactive-higher-rule-is-skipped",
    ),
    pytest.param(
        _spec(RuleSpec("members", People(groups_include=("g0",)), priority=1)),
        {"u1": (_DEFAULT, ("P0", "members")), "u2": (_DEFAULT, _CATCH)},
        id="a-group-rule-shadows-the-catch-all-for-members-only",
    ),
    pytest.param(
        _spec(RuleSpec("u2 by id", People(users_include=("u2",)))),
        {"u2": (_DEFAULT, ("P0", "u2 by id")), "u0": (_DEFAULT, _CATCH)},
        id="a-user-included-by-id",
    ),
    pytest.param(
        _spec(session_policies=(PolicySpec("S0", rules=(RuleSpec("s0"),), groups=("g0",)),)),
        {"u0": (("S0", "s0"), _CATCH), "u2": (_DEFAULT, _CATCH)},
        id="a-session-policy-whose-groups-do-not-match-is-passed-over",
    ),
    pytest.param(
        _spec(
            session_policies=(
                PolicySpec("S0", rules=(RuleSpec("s0"),), groups=("g0",)),
                PolicySpec("S1", rules=(RuleSpec("s1"),), groups=(EVERYONE,), priority=1),
            )
        ),
        {"u0": (("S1", "s1"), _CATCH), "u2": (("S1", "s1"), _CATCH)},
        id="the-session-policy-at-priority-1-comes-first",
    ),
    pytest.param(
        _spec(default_session_rules=(RuleSpec("not g0", People(groups_exclude=("g0",))),)),
        {"u0": (_DEFAULT, _CATCH), "u2": ((DEFAULT_POLICY, "not g0"), _CATCH)},
        id="an-excluded-group-falls-through-to-the-default-rule",
    ),
    pytest.param(
        _spec(
            session_policies=(
                PolicySpec("S0", rules=(RuleSpec("but u0", People(users_exclude=("u0",))),)),
            )
        ),
        {"u0": (_DEFAULT, _CATCH), "u1": (("S0", "but u0"), _CATCH)},
        id="a-policy-none-of-whose-rules-match-is-passed-over",
    ),
    pytest.param(
        _spec(session_policies=(PolicySpec("S0", rules=(RuleSpec("off", active=False),)),)),
        {"u0": (_DEFAULT, _CATCH)},
        id="a-session-policy-with-no-active-rule-is-never-applied",
    ),
]


@pytest.mark.parametrize(("spec", "expected"), HAND_CASES)
def test_hand_computed_cases(
    spec: OrgSpec, expected: dict[str, tuple[tuple[str, str], tuple[str, str]]]
) -> None:
    """The rules worked out by hand are what the evaluator and the simulation both name."""
    with built(spec) as org:
        view = read_view(org.client)
        for user, (session, app) in expected.items():
            outcome = evaluate(view, Cohort.of_user(org.id(user)), org.id("A0"))
            answer = simulated(org.client, org.id(user), org.id("A0"))
            want = org.rule(*session), org.rule(*app)
            assert (placed(outcome.session), placed(outcome.app)) == want, user
            assert (matched(answer["OKTA_SIGN_ON"]), matched(answer["ACCESS_POLICY"])) == want, user


# ---- what the evaluator does not decide ------------------------------------------------------

ZONE = "nzo1a2b3c4d5e6f7g8h9"


def test_a_zone_rule_depends_on_the_network_zone_on_both_sides() -> None:
    """A zone rule: the evaluator says "depends on network zone", the simulation "undefined".

    Both then name the same alternative, the Catch-all Rule; neither claims the zone rule applies.
    """
    zone = {"network": {"connection": "ZONE", "include": [ZONE]}}
    spec = _spec(RuleSpec("office", People(groups_include=("g0",)), extra_conditions=zone))
    with built(spec) as org:
        view = read_view(org.client)
        outcome = evaluate(view, Cohort.of_user(org.id("u0")), org.id("A0"))
        answer = simulated(org.client, org.id("u0"), org.id("A0"))["ACCESS_POLICY"]
        office = org.rule("P0", "office")
        assert [placed(r) for r in outcome.app_rules] == [office, org.rule("P0", CATCH_ALL)]
        assert outcome.app_rules[0].depends_on == ("network zone",)
        assert outcome.depends_on == ("network zone",)
        assert placed(outcome.app) == matched(answer) == org.rule("P0", CATCH_ALL)
        assert undefined_rules(answer) == [office[1]]
        # a non-member is ruled out by the people condition first: nothing depends on the zone
        other = evaluate(view, Cohort.of_user(org.id("u2")), org.id("A0"))
        assert other.depends_on == () and placed(other.app) == org.rule("P0", CATCH_ALL)


@pytest.mark.xfail(
    strict=True,
    reason="users.include with groups.include in one rule: the evaluator reads 'either', the"
    " sandbox 'both'; Okta's documentation says only that they are 'used together'",
)
def test_users_and_groups_included_in_one_rule() -> None:
    """Where the two evaluators are known to differ (kept out of the generated orgs)."""
    both = People(users_include=("u2",), groups_include=("g0",))
    with built(_spec(RuleSpec("both", both))) as org:
        _check_all(org, [("u0", "A0"), ("u2", "A0")])
