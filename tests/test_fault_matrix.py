"""The fault matrix: every writing procedure x every write x every fault, then a rerun.

For each procedure the clean apply is run once to learn its writes and the org
it leaves. Then, on a fresh sandbox per scenario, the n-th write meets one
fault (the sandbox's own fault injection, so Okta's headers and bodies are
real): 429 with a reset time, 500, 503, 423 E0000239, a timeout, a
connection dropped before the request took effect and one dropped after it
did. What must hold:

* the run ends either applied and verified, or failed with an error that names
  what went wrong (and, when it wrote something, a partial result for rollback);
* a rerun (plan again, apply) converges on the org the clean apply leaves;
* no object is created twice.

The counts are printed at the end of the run (tests/reliability.py).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from procedure_support import ATTESTATION, apply_acknowledged, without_keys
from reliability import COUNTS

from kmsi_lib.engine import ApplyResult, Plan
from kmsi_lib.errors import KmsiError
from kmsi_lib.okta.auth import SSWSAuth
from kmsi_lib.okta.client import OktaClient
from kmsi_lib.procedures import post_auth, pre_auth, prompt_text, reset_sessions, rollback
from kmsi_lib.sandbox import SANDBOX_URL, Sandbox

FAULTS: dict[str, dict[str, Any]] = {
    "429": {"status": 429, "retry_after_s": 1},
    "500": {"status": 500},
    "503": {"status": 503},
    "423": {"status": 423},
    "timeout": {"action": "timeout", "seconds": 0.4},
    "drop-before": {"action": "drop"},
    "drop-after": {"action": "drop", "when": "after"},
}


class FaultAt(httpx.BaseTransport):
    """Arms a one-shot sandbox fault on exactly the ``index``-th write (non-GET request)."""

    def __init__(self, sandbox: Sandbox, index: int | None, fault: dict[str, Any]) -> None:
        self.sandbox, self.index, self.fault = sandbox, index, fault
        self.inner = sandbox.transport()
        self.writes = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET":
            if self.writes == self.index:
                self.sandbox.admin.add_fault(
                    {
                        **self.fault,
                        "count": 1,
                        "match": {"method": request.method, "path": request.url.path},
                    }
                )
            self.writes += 1
        return self.inner.handle_request(request)


def _client(transport: httpx.BaseTransport, sandbox: Sandbox) -> OktaClient:
    return OktaClient(
        SANDBOX_URL,
        SSWSAuth(sandbox.token),
        transport=transport,
        timeout=0.2,
        sleep=lambda _s: None,
    )


@dataclass
class Case:
    name: str
    module: Any
    params: dict[str, Any]
    options: dict[str, Any]
    prepare: Callable[[Sandbox], dict[str, Any]] | None = None  # returns extra params

    def run(self, client: OktaClient, extra: dict[str, Any]) -> ApplyResult:
        made = self.module.plan(client, {**self.params, **extra})
        approved = Plan.from_dict(json.loads(json.dumps(made.to_dict())))
        result: ApplyResult = apply_acknowledged(self.module, client, approved, **self.options)
        return result


def _rollback_target(sb: Sandbox) -> dict[str, Any]:
    """An applied post-auth change for the rollback case to undo."""
    client = _client(sb.transport(), sb)
    done = apply_acknowledged(post_auth, client, post_auth.plan(client, POST_AUTH))
    return {"apply_result": json.loads(json.dumps(done.to_dict()))}


POST_AUTH = {
    "apps": {"labels": ["Slack", "Workday", "Okta Dashboard", "Salesforce.com"]},
    "prompt_frequency": "P7D",
    "max_session_idle_minutes": 90,
}
CASES = [
    Case("post_auth", post_auth, POST_AUTH, {}),
    Case(
        "pre_auth",
        pre_auth,
        {"groups": ["KMSI Pilot"], "apps": {"labels": ["Slack"]}},
        {"attestation": ATTESTATION},
    ),
    Case("prompt_text", prompt_text, {"brands": "all", "title": "Stay signed in?"}, {}),
    Case("reset_sessions", reset_sessions, {"group": "KMSI Pilot"}, {}),
    Case("rollback", rollback, {}, {}, prepare=_rollback_target),
]


def _fresh(case: Case) -> tuple[Sandbox, dict[str, Any]]:
    sb = Sandbox(seed="default")
    sb.admin.set_org_settings({"preAuthKmsi": True})  # the Admin Console step, for pre-auth
    extra = case.prepare(sb) if case.prepare else {}
    sb.admin.clear_requests()
    return sb, extra


_VOLATILE = {"id", "created", "lastUpdated", "_links", "lastMembershipUpdated", "ts"}


def _shape(node: Any) -> Any:
    return without_keys(node, _VOLATILE)


def org_shape(sb: Sandbox) -> Any:
    """What a converged org must equal: policies and rules by name (ids and times aside),
    sign-in pages, and for revocations the set of users revoked with their flags."""
    snap = sb.admin.snapshot()
    policies = sorted(
        (p["type"], p["name"], json.dumps(_shape(p), sort_keys=True))
        for p in snap["policies"].values()
    )
    rules = sorted(
        (
            snap["policies"][pid]["name"],
            r["name"],
            r.get("priority"),
            json.dumps(_shape(r), sort_keys=True),
        )
        for pid, table in snap["rules"].items()
        for r in table.values()
    )
    pages = json.dumps(_shape(snap.get("sign_in_pages")), sort_keys=True)
    revoked = sorted(
        {
            (r["userId"], r["forgetDevices"], r["oauthTokens"])
            for r in sb.admin.session_revocations()
        }
    )
    return {"policies": policies, "rules": rules, "pages": pages, "revoked": revoked}


def duplicates(sb: Sandbox) -> list[str]:
    snap = sb.admin.snapshot()
    names = Counter((p["type"], p["name"]) for p in snap["policies"].values())
    rule_names = Counter(
        (pid, r["name"]) for pid, table in snap["rules"].items() for r in table.values()
    )
    return [str(k) for k, n in (names + rule_names).items() if n > 1]


_CLEAN: dict[str, tuple[int, Any]] = {}


def clean(case: Case) -> tuple[int, Any]:
    """The number of writes of a clean apply, and the org it leaves."""
    if case.name not in _CLEAN:
        sb, extra = _fresh(case)
        counting = FaultAt(sb, None, {})
        result = case.run(_client(counting, sb), extra)
        assert result.outcome == "applied" and result.verification.ok, result.to_text()
        _CLEAN[case.name] = (counting.writes, org_shape(sb))
    return _CLEAN[case.name]


def _indexes(case: Case) -> list[int]:
    writes, _ = clean(case)
    if case.module.PROCEDURE.bulk:  # many alike: the first, one in the middle and the last
        return sorted({0, writes // 2, writes - 1})
    return list(range(writes))


SCENARIOS = [
    pytest.param(case, index, fault, id=f"{case.name}-write{index}-{fault}")
    for case in CASES
    for index in _indexes(case)
    for fault in FAULTS
]


@pytest.mark.parametrize(("case", "index", "fault"), SCENARIOS)
def test_a_fault_at_any_write_is_survived_or_reported_and_a_rerun_converges(
    case: Case, index: int, fault: str
) -> None:
    COUNTS["fault matrix: scenarios"] += 1
    _, wanted = clean(case)
    sb, extra = _fresh(case)
    client = _client(FaultAt(sb, index, FAULTS[fault]), sb)
    try:
        first = case.run(client, extra)
        assert sb.admin.faults() == [], "the fault was met"
    except KmsiError as exc:
        assert sb.admin.faults() == [], "the fault was met"
        COUNTS["fault matrix: first run failed, with evidence"] += 1
        assert str(exc), "the error says what went wrong"
        partial = getattr(exc, "apply_result", None)
        if partial is not None:
            assert partial.outcome == "failed" and partial.error
    else:
        if first.outcome == "failed":
            COUNTS["fault matrix: first run failed, with evidence"] += 1
            assert first.error
        else:
            COUNTS["fault matrix: first run survived the fault"] += 1
            assert first.verification.ok, first.to_text()

    rerun = case.run(_client(sb.transport(), sb), extra)
    assert rerun.outcome in ("applied", "no-op") and rerun.verification.ok, rerun.to_text()
    dupes = duplicates(sb)
    COUNTS["fault matrix: duplicates"] += len(dupes)
    assert dupes == [], dupes
    assert org_shape(sb) == wanted, "the rerun converges on the clean apply's org"
    COUNTS["fault matrix: converged after a rerun"] += 1
