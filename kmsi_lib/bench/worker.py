"""One measured library call in a fresh process: ``python -m kmsi_lib.bench.worker JOB``.

The bench runs every library measurement here, in an interpreter of its own,
so that each one starts cold, its peak memory is its own
(``resource.getrusage``: the client side only, the sandbox is another process)
and nothing of one scenario lingers into the next. The job's description is
JSON on stdin; the figures are one JSON object on the last line of stdout.
The org is the one in ``OKTA_ORG_URL`` / ``OKTA_API_TOKEN`` (the bench's
sandbox). The client is built exactly as a runbook builds it
(:meth:`OktaClient.from_env`), with only the share changed when asked, and the
procedures are called through their public ``plan`` and ``apply``.

Jobs: ``reset`` (reset_sessions plan + apply, by ``group`` or by ``ids``),
``rollout`` (post_auth plan + apply, then plan + apply again), ``post_auth_plan``
(the direct call the runbook overhead is compared with).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from kmsi_lib.jsontypes import JsonObject, JsonValue, arr, number, obj, text

if TYPE_CHECKING:
    from types import ModuleType

    from kmsi_lib.engine import Plan
    from kmsi_lib.okta.client import OktaClient

__all__ = ["main", "run_job"]


def _rss_kb() -> int:
    """The peak resident set of this process so far, in KiB (Linux reports KiB)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _client(scopes: tuple[str, ...], share: object) -> OktaClient:
    """The client a runbook builds (``from_env``, the defaults); only the share when given."""
    from kmsi_lib.okta.client import OktaClient

    value = number(share)
    if value is None:
        return OktaClient.from_env(scopes=scopes)
    return OktaClient.from_env(scopes=scopes, max_api_capacity=float(value))


def _plan(procedure: ModuleType, client: OktaClient, params: JsonObject) -> Plan:
    """``procedure.plan``; when the fields ``allow_unusual_values`` lifts have no usual bound
    any more (a library that changed its bounds), planned again without lifting them."""
    from kmsi_lib.errors import ParameterError

    try:
        plan: Plan = procedure.plan(client, params)
    except ParameterError as exc:
        if not exc.field.startswith("allow_unusual_values") or "allow_unusual_values" not in params:
            raise
        plan = procedure.plan(
            client, {k: v for k, v in params.items() if k != "allow_unusual_values"}
        )
    return plan


def _failed_items(result: JsonObject) -> int:
    """Applied changes whose record says they failed (a reset records each user's outcome)."""
    failed = 0
    for applied in arr(result.get("applied")):
        record = obj(obj(applied).get("result"))
        if record.get("outcome") == "failed":
            failed += 1
    return failed


def _reset(job: JsonObject) -> JsonObject:
    from kmsi_lib.procedures import reset_sessions

    started = time.time()
    client = _client(reset_sessions.PROCEDURE.scopes, job.get("share"))
    params: JsonObject = {"forget_devices": True, "oauth_tokens": False}
    if job.get("how") == "group":
        params["group"] = text(job.get("group")) or ""
    else:
        params["users"] = arr(job.get("ids"))
        params["allow_unusual_values"] = ["users"]
    rss_start = _rss_kb()
    t_plan = time.time()
    plan = _plan(reset_sessions, client, params)
    t_apply = time.time()
    result = reset_sessions.apply(client, plan)
    t_end = time.time()
    data = result.to_dict()
    client.close()
    return {
        "started": started,
        "plan_at": t_plan,
        "apply_at": t_apply,
        "end_at": t_end,
        "plan_s": t_apply - t_plan,
        "apply_s": t_end - t_apply,
        "changes": len(plan.changes),
        "outcome": result.outcome,
        "failed": _failed_items(data),
        "journal_entries": len(client.journal.entries),
        "rss_start_kb": rss_start,
        "rss_peak_kb": _rss_kb(),
    }


def _reach(plan: object) -> int | None:
    """The number of apps a plan's impact says it reaches (its acknowledgement), if any."""
    impact = obj(getattr(plan, "impact", None))
    reached = impact.get("reached_apps")
    return len(reached) if isinstance(reached, list) else None


def _rollout(job: JsonObject) -> JsonObject:
    from kmsi_lib.procedures import post_auth

    client = _client(post_auth.PROCEDURE.scopes, job.get("share"))
    params: JsonObject = {
        "apps": {"ids": arr(job.get("ids"))},
        "prompt_frequency": text(job.get("prompt_frequency")) or "P7D",
        "allow_unusual_values": ["apps.ids"],
    }
    marks: JsonObject = {}
    rss_start = _rss_kb()
    marks["plan_at"] = time.time()
    plan = _plan(post_auth, client, params)
    marks["apply_at"] = time.time()
    first = post_auth.apply(client, plan, acknowledge_reach=_reach(plan))
    marks["plan2_at"] = time.time()
    again = _plan(post_auth, client, params)
    marks["apply2_at"] = time.time()
    second = post_auth.apply(client, again, acknowledge_reach=_reach(again))
    marks["end_at"] = time.time()
    client.close()
    return {
        **marks,
        "changes": len(plan.changes),
        "changes_second": len(again.changes),
        "outcome": first.outcome,
        "outcome_second": second.outcome,
        "rss_start_kb": rss_start,
        "rss_peak_kb": _rss_kb(),
    }


def _post_auth_plan(job: JsonObject) -> JsonObject:
    import yaml

    from kmsi_lib.procedures import post_auth

    values = yaml.safe_load(Path(text(job.get("params_file")) or "").read_text(encoding="utf-8"))
    client = _client(post_auth.PROCEDURE.scopes, None)
    t_plan = time.time()
    plan = post_auth.plan(client, values)
    t_end = time.time()
    client.close()
    return {"plan_s": t_end - t_plan, "changes": len(plan.changes)}


JOBS = {"reset": _reset, "rollout": _rollout, "post_auth_plan": _post_auth_plan}


def run_job(name: str, job: Mapping[str, JsonValue]) -> JsonObject:
    """Run one job by name (``reset``, ``rollout``, ``post_auth_plan``); its figures."""
    if name not in JOBS:
        raise SystemExit(f"unknown job {name!r}; one of {', '.join(JOBS)}")
    return JOBS[name](dict(job))


def main(argv: list[str] | None = None) -> int:
    """``python -m kmsi_lib.bench.worker JOB`` < job.json: prints the figures as JSON."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(
            "usage: python -m kmsi_lib.bench.worker reset|rollout|post_auth_plan", file=sys.stderr
        )
        return 2
    job = obj(json.loads(sys.stdin.read() or "{}"))
    print(json.dumps(run_job(args[0], job)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
