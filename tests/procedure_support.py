"""Test support for the procedure tests: a sandbox org, a client, and a wire witness.

:class:`WireRecorder` wraps the sandbox transport and keeps every request as it
left the client (method, path, query, Authorization scheme, JSON body). It is
the independent witness of what a procedure sent: it sits below the client,
so the client's own journal cannot hide or reshape anything.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from kmsi_lib.engine import witness
from kmsi_lib.errors import ParameterError
from kmsi_lib.okta.auth import SSWSAuth
from kmsi_lib.okta.client import OktaClient
from kmsi_lib.sandbox import SANDBOX_URL, Sandbox

ATTESTATION = {
    "by": "ann.admin@example.com",
    "at": "2026-11-29T06:00:00Z",
    "statement": "Turned on 'Keep me signed in' before sign-in in Security > General.",
}


@dataclass
class Sent:
    """One request as it reached the transport."""

    method: str
    path: str
    query: str
    scheme: str
    body: Any

    @property
    def is_write(self) -> bool:
        return self.method not in ("GET", "HEAD", "OPTIONS") and self.path != SIMULATE


#: Okta's policy simulation is a POST that changes nothing (a plan asks it to cross-check
#: the evaluator): not a write.
SIMULATE = "/api/v1/policies/simulate"


class WireRecorder(httpx.BaseTransport):
    """Records each request, then hands it to the wrapped transport."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.sent: list[Sent] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raw = request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:  # the OAuth token request is form-encoded
            body = raw.decode()
        scheme = request.headers.get("Authorization", "").partition(" ")[0]
        self.sent.append(
            Sent(request.method, request.url.path, request.url.query.decode(), scheme, body)
        )
        return self.inner.handle_request(request)

    def writes(self) -> list[Sent]:
        return [s for s in self.sent if s.is_write]

    def clear(self) -> None:
        self.sent.clear()


@dataclass
class Org:
    """A sandbox org, a client talking to it in-process, and the wire witness."""

    sandbox: Sandbox
    client: OktaClient
    wire: WireRecorder
    extra: dict[str, Any] = field(default_factory=dict)

    def api_writes(self) -> list[dict[str, Any]]:
        """Non-GET requests the sandbox logged under /api/ (its own witness)."""
        return [
            e
            for e in self.sandbox.admin.requests()
            if e["method"] != "GET" and e["path"].startswith("/api/") and e["path"] != SIMULATE
        ]

    def clear_logs(self) -> None:
        self.sandbox.admin.clear_requests()
        self.wire.clear()

    def policy(self, type: str, name: str) -> dict[str, Any]:
        found = [
            p
            for p in self.client.get_json("/api/v1/policies", params={"type": type})
            if p["name"] == name
        ]
        assert len(found) == 1, f"expected one {type} policy named {name!r}"
        return dict(found[0])

    def rules(self, policy_id: str) -> list[dict[str, Any]]:
        return list(self.client.get_json(f"/api/v1/policies/{policy_id}/rules"))

    def rule(self, policy_id: str, name: str) -> dict[str, Any]:
        found = [r for r in self.rules(policy_id) if r["name"] == name]
        assert len(found) == 1, f"expected one rule named {name!r} in {policy_id}"
        return dict(found[0])

    def app_policy_id(self, label: str) -> str:
        apps = [a for a in self.client.get_json("/api/v1/apps") if a["label"] == label]
        assert len(apps) == 1
        href: str = apps[0]["_links"]["accessPolicy"]["href"]
        return href.rsplit("/", 1)[-1]

    def edit_app_rule(
        self, label: str, name: str, edit: Callable[[dict[str, Any]], object]
    ) -> tuple[str, dict[str, Any]]:
        """An out-of-band change to the rule ``name`` of app ``label``'s policy: ``edit``
        changes the rule as read from the org, :meth:`replace_rule` writes it back, and the
        logs start empty after it. Returns the policy id and the rule as edited."""
        policy_id = self.app_policy_id(label)
        rule = self.rule(policy_id, name)
        edit(rule)
        self.replace_rule(policy_id, rule)
        self.clear_logs()
        return policy_id, rule

    def replace_rule(self, policy_id: str, rule: dict[str, Any]) -> dict[str, Any]:
        """An out-of-band edit through the API, as another admin would make it."""
        body = {
            k: v
            for k, v in rule.items()
            if k not in ("id", "created", "lastUpdated", "_links", "system")
        }
        response = self.client.request(
            "PUT", f"/api/v1/policies/{policy_id}/rules/{rule['id']}", json=body
        )
        return dict(response.json())


def sandbox_writes(sandbox: Sandbox) -> list[str]:
    """``METHOD /path`` of every request other than a GET the sandbox logged."""
    return [f"{r['method']} {r['path']}" for r in sandbox.admin.requests() if r["method"] != "GET"]


def refused_before_any_write(sandbox: Sandbox, attempt: Callable[[], object], field: str) -> None:
    """``attempt()`` raises ParameterError naming ``field``, and the sandbox saw no write."""
    with pytest.raises(ParameterError) as err:
        attempt()
    assert err.value.field == field
    assert sandbox_writes(sandbox) == []


def make_org(seed: str = "default") -> Org:
    """A sandbox org in-process, with the sandbox witness installed for the rest of the test
    (as the demo installs it; conftest uninstalls it when the test ends)."""
    sandbox = Sandbox(seed=seed)
    wire = WireRecorder(sandbox.transport())
    client = OktaClient(SANDBOX_URL, SSWSAuth(sandbox.token), transport=wire)
    witness.install(witness.HttpSandboxWitness(SANDBOX_URL, transport=sandbox.transport()))
    return Org(sandbox, client, wire)


@contextmanager
def loopback_org(seed: str = "default", *, with_witness: bool = True) -> Iterator[Org]:
    """The same over real HTTP on 127.0.0.1 (the wire witness sees nothing here); the
    sandbox witness asks the served admin endpoints unless ``with_witness`` is False."""
    sandbox = Sandbox(seed=seed)
    with sandbox.serve(port=0) as url:
        seen = witness.HttpSandboxWitness(url) if with_witness else None
        with OktaClient(url, SSWSAuth(sandbox.token)) as client, witness.installed(seen):
            yield Org(sandbox, client, WireRecorder(httpx.HTTPTransport()))


#: Fields a correct rollback may leave different, and why:
#: ``lastUpdated`` is stamped by every write (the rollback itself writes);
#: ``idCounter`` only grows: ids of deleted objects are never handed out again;
#: ``log_events`` (the System Log) only grows: a rollback adds events, it removes none.
VOLATILE = ("lastUpdated",)


def org_snapshot(sandbox: Sandbox) -> dict[str, Any]:
    """The sandbox snapshot without its System Log: the org's objects and settings only."""
    snap = copy.deepcopy(sandbox.admin.snapshot())
    snap.pop("log_events", None)
    return snap


def without_keys(node: Any, keys: Collection[str]) -> Any:
    """The JSON ``node`` with ``keys`` left out of every object in it, at any depth."""
    if isinstance(node, dict):
        return {k: without_keys(v, keys) for k, v in node.items() if k not in keys}
    if isinstance(node, list):
        return [without_keys(v, keys) for v in node]
    return node


def comparable_snapshot(sandbox: Sandbox) -> dict[str, Any]:
    """The org snapshot minus the fields listed in :data:`VOLATILE` and idCounter."""
    snap = org_snapshot(sandbox)
    snap.pop("idCounter", None)

    result: dict[str, Any] = without_keys(snap, VOLATILE)
    return result


def record_apply(
    root: Any,
    apply_result: dict[str, Any],
    *,
    run_id: str = "apply-1",
    change_id: str = "CHG-1",
    mode: str = "apply",
) -> Any:
    """Record ``apply_result`` as the evidence of an apply run in ``root``; its run directory.

    What ``kmsi run`` leaves for a rollback to read (result.json, record.json, a
    ledger line), without starting a kernel.
    """
    from pathlib import Path

    from kmsi_lib import evidence

    root = Path(root)
    staging = root / evidence.STAGING_DIR / run_id
    plan = apply_result.get("plan") or {}
    evidence.write_result(
        staging,
        {
            "procedure": plan.get("procedure"),
            "mode": mode,
            "change_id": change_id,
            "params": plan.get("params"),
            "org": {"url": plan.get("org_url"), "pipeline": "idx"},
            "plan": plan,
            "apply_result": apply_result if mode == "apply" else None,
            "verification": apply_result.get("verification"),
            "journal": [],
            "error": None,
            "outcome": apply_result.get("outcome"),
        },
    )
    meta = evidence.RunMeta(
        run_id=run_id,
        change_id=change_id,
        mode=mode,
        procedure=str(plan.get("procedure")),
        notebook="notebooks/20_post_auth.ipynb",
        template_sha256="0" * 64,
        parameters=plan.get("params") or {},
        started_at="t",
        finished_at="t",
        operator="tester",
        org_url=str(plan.get("org_url")),
    )
    recorded = evidence.record_run(root, staging, meta, succeeded=True)
    assert recorded.run_dir is not None
    return recorded.run_dir


def acknowledged(procedure: Any, client: OktaClient, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with ``acknowledge_reach`` set to the reach a plan of them shows now.

    For tests about something else than the acknowledgement (``tests/test_impact.py``
    pins that): one extra plan, reads only.
    """
    from kmsi_lib.engine import ACKNOWLEDGE_FIELD, PlanImpact

    plan = procedure.plan(client, params)
    impact = PlanImpact.from_dict(plan.impact) if plan.impact else None
    if impact is None or not impact.wider_than_named:
        return dict(params)
    return {**params, ACKNOWLEDGE_FIELD: impact.reach}


def apply_acknowledged(procedure: Any, client: OktaClient, plan: Any, **options: Any) -> Any:
    """``procedure.apply`` with the plan's reach acknowledged at apply, as the form's checkbox
    does (for tests about something else; ``tests/test_impact.py`` pins the refusal)."""
    from kmsi_lib.engine import PlanImpact

    impact = PlanImpact.from_dict(plan.impact) if getattr(plan, "impact", None) else None
    if impact is not None and impact.wider_than_named:
        options.setdefault("acknowledge_reach", impact.reach)
    return procedure.apply(client, plan, **options)
