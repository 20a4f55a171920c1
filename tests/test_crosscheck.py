"""engine.crosscheck and policies.simulate: the evaluator checked against the org's simulation."""

from __future__ import annotations

import dataclasses
import json

import httpx
import pytest
from simulated_orgs import Org, OrgSpec, People, PolicySpec, RuleSpec, built, client_of, read_view

from kmsi_lib.engine import CrossCheck, crosscheck, sample_users
from kmsi_lib.engine.evaluate import OrgView
from kmsi_lib.errors import ParameterError
from kmsi_lib.okta.auth import SSWSAuth
from kmsi_lib.okta.client import OktaClient
from kmsi_lib.okta.resources import policies
from kmsi_lib.sandbox import SANDBOX_URL, Sandbox

SPEC = OrgSpec(
    groups=("g0", "g1"),
    users={"u0": ("g0",), "u1": ("g1",), "u2": (), "u3": ("g0", "g1")},
    session_policies=(
        PolicySpec(
            "S0", rules=(RuleSpec("not u3", People(users_exclude=("u3",))),), groups=("g1",)
        ),
    ),
    access_policies=(
        PolicySpec(
            "P0",
            rules=(
                RuleSpec("g0", People(groups_include=("g0",)), priority=1),
                RuleSpec("u2", People(users_include=("u2",)), priority=2),
            ),
        ),
    ),
    apps={"A0": "P0"},
)


@pytest.fixture
def org() -> Org:
    with built(SPEC) as made:
        yield made  # type: ignore[misc]


def _pairs(org: Org) -> list[tuple[str, str]]:
    return [(org.id(u), org.id("A0")) for u in SPEC.users]


def test_the_evaluator_and_the_simulation_agree(org: Org) -> None:
    """On an org read as it is, every sampled user agrees; describe() says so in one line."""
    report = crosscheck(org.client, read_view(org.client), _pairs(org))
    assert report == CrossCheck(available=True, sampled=4, agreed=4)
    assert report.ok
    assert report.describe() == (
        "Okta's policy simulation agrees with the evaluator on 4 of 4 sampled cohorts"
    )
    assert json.loads(json.dumps(report.to_dict()))["summary"] == report.describe()


def _without_rule(view: OrgView, policy_id: str, rule_id: str) -> OrgView:
    """``view`` with one rule deactivated in the view only (the org is untouched)."""
    rules = dict(view.rules)
    rules[policy_id] = tuple(
        {**r, "status": "INACTIVE"} if r["id"] == rule_id else r for r in rules[policy_id]
    )
    return dataclasses.replace(view, rules=rules)


def test_a_doctored_view_disagrees_in_words(org: Org) -> None:
    """The view says the g0 rule is off; Okta still applies it to g0's members: two disagree."""
    doctored = _without_rule(read_view(org.client), *org.rule("P0", "g0"))
    report = crosscheck(org.client, doctored, _pairs(org))
    assert (report.available, report.sampled, report.agreed, report.ok) == (True, 4, 2, False)
    assert {d.user_id for d in report.disagreements} == {org.id("u0"), org.id("u3")}
    first = report.disagreements[0]
    assert first.part == "app sign-in"
    assert first.describe() == (
        f'user {first.user_id}, app "xcheck A0" ({org.id("A0")}): app sign-in: the evaluator says'
        f' "P0" > "Catch-all Rule" ({org.rule("P0", "Catch-all Rule")[1]}), Okta\'s simulation'
        f' says "P0" > "g0" ({org.rule("P0", "g0")[1]})'
    )
    assert report.describe().endswith("on 2 of 4 sampled cohorts")
    assert report.details()[1:] == [d.describe() for d in report.disagreements]


def test_a_zone_rule_agrees_as_undecided(org: Org) -> None:
    """A rule the evaluator leaves to the network zone agrees, counted as undecided."""
    zone = {"network": {"connection": "ZONE", "include": ["nzo1a2b3c4d5e6f7g8h9"]}}
    body = {
        "type": "ACCESS_POLICY",
        "name": "office",
        "priority": 0,
        "conditions": zone,
        "actions": {"appSignOn": {"access": "ALLOW"}},
    }
    policies.create_rule(org.client, org.id("P0"), body)
    report = crosscheck(org.client, read_view(org.client), _pairs(org))
    assert (report.sampled, report.agreed, report.undecided) == (4, 4, 4)


def _answering(status: int, body: object) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers={"X-Okta-Request-Id": "req-1"})

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [
        pytest.param(
            404,
            {"errorCode": "E0000007", "errorSummary": "Not found: Resource not found: simulate"},
            "404 E0000007",
            id="404",
        ),
        pytest.param(
            403,
            {
                "errorCode": "E0000015",
                "errorSummary": "You do not have permission to access the feature you are"
                " requesting",
            },
            "403 E0000015",
            id="feature-not-enabled",
        ),
        pytest.param(
            401, {"errorCode": "E0000011", "errorSummary": "Invalid token"}, "401", id="401"
        ),
    ],
)
def test_an_org_without_the_api_is_reported_not_crashed(
    org: Org, status: int, body: object, said: str
) -> None:
    """An org that refuses the simulation: available=False, with Okta's reason, no exception."""
    view = read_view(org.client)
    with OktaClient(SANDBOX_URL, SSWSAuth("t"), transport=_answering(status, body)) as refusing:
        report = crosscheck(refusing, view, _pairs(org))
    assert (report.available, report.sampled, report.ok) == (False, 0, False)
    assert report.reason is not None and report.reason.startswith(said)
    assert report.describe().startswith(
        f"Okta's policy simulation API is not available on this org ({said}"
    )
    assert report.describe().endswith("): not cross-checked")


def test_a_later_refusal_leaves_only_that_sample_unchecked(org: Org) -> None:
    """Once the API answered, a refused sample (an unknown user) is listed, not counted."""
    view = read_view(org.client)
    pairs = [_pairs(org)[0], ("00uNoSuchUser0000000", org.id("A0")), _pairs(org)[1]]
    report = crosscheck(org.client, view, pairs)
    assert (report.available, report.sampled, report.agreed) == (True, 2, 2)
    (unchecked,) = report.unchecked
    assert unchecked.startswith("user 00uNoSuchUser0000000, app ") and "404 E0000007" in unchecked
    assert report.describe().endswith("on 2 of 2 sampled cohorts (1 more not checked)")


def test_sample_users_picks_one_user_per_cohort(org: Org) -> None:
    """Named users first, then a member of each named group, then someone in none of them."""
    view = read_view(org.client)
    app = org.id("A0")
    samples = sample_users(view, app)
    users = [u for u, _ in samples]
    assert {a for _, a in samples} == {app}
    assert set(users[:2]) == {org.id("u3"), org.id("u2")}  # named by id in a rule
    assert len(users) == len(set(users))
    for group in ("g0", "g1"):  # a member of each group a rule names
        assert any(org.id(group) in view.memberships.get(u, frozenset()) for u in users)
    named = {org.id("g0"), org.id("g1")}
    assert any(not view.memberships.get(u, frozenset()) & named for u in users[2:])
    assert len(sample_users(view, app, limit=2)) == 2
    assert crosscheck(org.client, view, samples).ok


# ---- the resource function ----------------------------------------------------------------


def test_simulate_for_groups_and_the_bare_array_answer(org: Org) -> None:
    """A group context is sent as groups.ids; a bare array (the schema's shape) is read too."""
    (entry,) = policies.simulate(
        org.client, org.id("A0"), group_ids=[org.id("g0")], policy_types=["ACCESS_POLICY"]
    )
    assert entry["result"]["policies"][0]["rules"][0]["id"] == org.rule("P0", "g0")[1]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[{"policyType": "ACCESS_POLICY", "result": {}}])

    with OktaClient(SANDBOX_URL, SSWSAuth("t"), transport=httpx.MockTransport(handler)) as c:
        assert policies.simulate(c, "0oa1", user_id="00u1", expand=("EVALUATED", "RULE")) == [
            {"policyType": "ACCESS_POLICY", "result": {}}
        ]
    (request,) = seen
    assert request.url.params["expand"] == "EVALUATED,RULE"
    assert json.loads(request.content) == {
        "appInstance": "0oa1",
        "policyContext": {"user": {"id": "00u1"}},
    }


def test_simulate_refuses_a_user_and_groups_together() -> None:
    """Okta takes a user or groups, not both: refused before any request."""
    with client_of(Sandbox()) as c, pytest.raises(ParameterError) as caught:
        policies.simulate(c, "0oa1", user_id="00u1", group_ids=["00g1"])
    assert caught.value.field == "policyContext"
