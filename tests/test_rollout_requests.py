"""A rollout over many apps makes about the fewest requests the change needs, concurrently.

The sandbox serves real HTTP on loopback with a little injected latency; its own
request log (not the client's journal) is the witness of what was sent.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from kmsi_lib.engine import PlanImpact, witness
from kmsi_lib.errors import StalePlanError
from kmsi_lib.okta.auth import SSWSAuth
from kmsi_lib.okta.client import OktaClient
from kmsi_lib.procedures import post_auth, pre_auth
from kmsi_lib.sandbox import Sandbox

APPS, POLICIES = 100, 20
RULES = re.compile(r"^/api/v1/policies/([^/]+)/rules$")
SIMULATE = "/api/v1/policies/simulate"


@pytest.fixture
def rollout() -> Iterator[tuple[Sandbox, OktaClient, list[str]]]:
    """A sandbox with 100 apps on 20 authentication policies (5 apps each), served on
    loopback with 5 ms ± 2 ms latency; the client and the app ids."""
    sb = Sandbox(seed="default")
    raw = sb.client()
    policy_ids = [
        raw.post("/api/v1/policies", json={"type": "ACCESS_POLICY", "name": f"Rollout {n}"}).json()[
            "id"
        ]
        for n in range(POLICIES)
    ]
    app_ids = [
        str(sb.admin.add_app(f"Rollout app {n}", policy_id=policy_ids[n % POLICIES])["id"])
        for n in range(APPS)
    ]
    with sb.serve(port=0) as url:
        sb.admin.add_fault(latency_ms=5, jitter_ms=2)
        with OktaClient(url, SSWSAuth(sb.token)) as client:
            with witness.installed(witness.HttpSandboxWitness(url)):
                yield sb, client, app_ids


def _minimum_reads(sb: Sandbox) -> int:
    """What a post-auth plan over every chosen app must read at the least: the app
    listing's pages (200 a page), each authentication policy's rules, and the session
    policies with the default policy's rules."""
    apps = len(sb.admin.snapshot()["apps"])
    return math.ceil(apps / 200) + POLICIES + 2


def _log(sb: Sandbox) -> list[dict[str, Any]]:
    found = [e for e in sb.admin.requests() if not e["path"].startswith("/_sandbox")]
    sb.admin.clear_requests()
    return found


def _writes(log: list[dict[str, Any]]) -> list[str]:
    return [
        f"{e['method']} {e['path']}" for e in log if e["method"] != "GET" and e["path"] != SIMULATE
    ]


def _rule_reads(log: list[dict[str, Any]]) -> Counter[str]:
    return Counter(
        m.group(1) for e in log if e["method"] == "GET" and (m := RULES.match(e["path"]))
    )


def _most_at_once(log: list[dict[str, Any]]) -> int:
    """The most requests of ``log`` the sandbox was serving at the same moment."""
    edges = sorted(
        [(e["ts"], 1) for e in log] + [(e["ts"] + e["ms"] / 1000, -1) for e in log],
        key=lambda edge: (edge[0], edge[1]),
    )
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def _apply(module: Any, client: OktaClient, plan: Any, **options: Any) -> Any:
    impact = PlanImpact.from_dict(plan.impact) if plan.impact else None
    if impact is not None and impact.wider_than_named:
        options["acknowledge_reach"] = impact.reach
    return module.apply(client, plan, **options)


def _params(app_ids: list[str]) -> dict[str, Any]:
    return {"apps": {"ids": app_ids}, "prompt_frequency": "P7D", "reauthenticate_in": "PT12H"}


def test_post_auth_over_100_apps_makes_at_most_1_2x_the_minimum_requests(
    rollout: tuple[Sandbox, OktaClient, list[str]],
) -> None:
    """Plan and apply together send at most 1.2x the requests the change needs; each
    policy's rules are read once by the plan and once by the apply; the plan's note
    states the requests it made as the sandbox counted them."""
    sb, client, app_ids = rollout
    _log(sb)
    plan = post_auth.plan(client, _params(app_ids))
    planned = _log(sb)
    result = _apply(post_auth, client, plan)
    applied = _log(sb)
    assert result.outcome == "applied" and result.verification.ok, result.verification.to_text()

    writes = _writes(applied)
    assert len(writes) == len(plan.changes) == POLICIES  # the default rule already matches
    assert _writes(planned) == []
    least = 2 * _minimum_reads(sb) + len(writes)
    assert len(planned) + len(applied) <= 1.2 * least, (
        len(planned),
        len(applied),
        least,
        Counter(f"{e['method']} {e['path'].split('/')[3]}" for e in planned + applied),
    )
    for log in (planned, applied):
        reads = _rule_reads(log)
        assert len(reads) == POLICIES + 1 and set(reads.values()) == {1}, reads
        rule_reads = [e for e in log if e["method"] == "GET" and RULES.match(e["path"])]
        assert _most_at_once(rule_reads) >= 2, "the policies' rules are read concurrently"
    note = next(n for n in plan.notes if n.startswith("requests made"))
    assert note.startswith(f"requests made {len(planned)} (minimum {_minimum_reads(sb)}")
    assert any(n.startswith(f"requests made {len(applied)} (minimum") for n in result.notes)


def test_a_second_post_auth_apply_of_the_same_params_writes_nothing(
    rollout: tuple[Sandbox, OktaClient, list[str]],
) -> None:
    sb, client, app_ids = rollout
    _apply(post_auth, client, post_auth.plan(client, _params(app_ids)))
    _log(sb)
    again = post_auth.plan(client, _params(app_ids))
    result = _apply(post_auth, client, again)
    log = _log(sb)
    assert again.changes == [] and result.outcome == "no-op"
    assert _writes(log) == []
    assert len(log) <= 1.2 * _minimum_reads(sb)


def test_pre_auth_over_100_apps_reads_each_policys_rules_once_per_plan_and_apply(
    rollout: tuple[Sandbox, OktaClient, list[str]],
) -> None:
    """The pre-auth rollout too; its creates may shift rule priorities, so the apply lists
    each changed policy's rules once more after writing (rollback needs the new order)."""
    sb, client, app_ids = rollout
    params = {"groups": ["Everyone"], "apps": {"ids": app_ids}}
    sb.admin.set_org_settings({"preAuthKmsi": True})
    _log(sb)
    plan = pre_auth.plan(client, params)
    planned = _log(sb)
    attestation = {"by": "ann@example.com", "at": "2026-11-29T06:00:00Z", "statement": "done"}
    result = _apply(pre_auth, client, plan, attestation=attestation)
    applied = _log(sb)
    assert result.outcome == "applied" and result.verification.ok, result.verification.to_text()
    assert set(_rule_reads(planned).values()) == {1}
    after = _rule_reads(applied)
    assert len(after) == POLICIES + 1 and set(after.values()) <= {1, 2}, after
    least = 2 * _minimum_reads(sb) + len(_writes(applied)) + POLICIES
    assert len(planned) + len(applied) <= 1.2 * least
    _apply(pre_auth, client, pre_auth.plan(client, params), attestation=attestation)
    assert _writes(_log(sb)) == []


def test_an_app_moved_to_another_policy_after_the_plan_makes_the_apply_refuse(
    rollout: tuple[Sandbox, OktaClient, list[str]],
) -> None:
    """Apps read through one listing are checked as strictly as apps read one by one:
    the drift check names the app whose authentication policy changed, nothing is written."""
    sb, client, app_ids = rollout
    plan = post_auth.plan(client, _params(app_ids))
    other = next(c.ref.parent_id for c in plan.changes if c.ref.parent_id)
    moved = next(
        a
        for a in app_ids
        if client.get_json(f"/api/v1/apps/{a}")["_links"]["accessPolicy"]
        and other not in client.get_json(f"/api/v1/apps/{a}")["_links"]["accessPolicy"]["href"]
    )
    client.request("PUT", f"/api/v1/apps/{moved}/policies/{other}")
    _log(sb)
    with pytest.raises(StalePlanError, match=f"{moved}.accessPolicyId was"):
        _apply(post_auth, client, plan)
    assert _writes(_log(sb)) == []
