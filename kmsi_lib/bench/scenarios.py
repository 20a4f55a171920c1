"""The scenarios of ``kmsi bench``, each figure next to its baseline from the same run.

* :func:`loop_baseline`: a one-at-a-time httpx loop of session revocations, timed on a
  sample (its rate is extrapolated to the whole population, and said to be);
* :func:`reset_case`: reset_sessions (plan + apply) by group or by id list at a share;
* :func:`scaling`: the same by group at N users, time per user and the client's memory;
* :func:`rollout`: post_auth over many apps on fewer policies, applied twice;
* :func:`overhead`: ``kmsi run 20_post_auth --mode plan`` against papermill executing an
  empty notebook and against calling the procedure directly.

The library runs in :mod:`kmsi_lib.bench.worker` processes; the figures about requests
come from the sandbox's own request log (:mod:`kmsi_lib.bench.measure`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from kmsi_lib.bench import measure
from kmsi_lib.bench.server import SandboxProcess, child_env
from kmsi_lib.errors import KmsiError
from kmsi_lib.jsontypes import JsonObject, JsonValue, arr, number, obj, text

__all__ = [
    "USERS_BUCKET",
    "Settings",
    "loop_baseline",
    "overhead",
    "reset_case",
    "rollout",
    "run_worker",
    "scaling",
]

USERS_BUCKET = "/api/v1/users"
REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "20_post_auth.ipynb"
PARAMS_FILE = REPO / "params" / "sandbox" / "post_auth.yaml"
_REVOKE = "/api/v1/users/{}/sessions?oauthTokens=false&forgetDevices=true"


@dataclass(frozen=True)
class Settings:
    """What one bench run measures, and against which org settings."""

    latency_ms: float = 100.0
    jitter_ms: float = 20.0
    bucket_limit: int = 1000  # the users bucket: requests per window
    bucket_window_s: float = 10.0
    concurrency: int = 75  # the org's concurrency limit (the sandbox's default)
    users: int = 2000
    shares: tuple[float, ...] = (0.5, 1.0)
    by: tuple[str, ...] = ("group", "ids")
    scaling: tuple[int, ...] = (500, 2000, 8000)
    apps: int = 500
    policies: int = 100
    loop_sample: int = 100
    repeats: int = 3  # runs of each overhead command (the median is reported)

    def allowed_rate(self, share: float) -> float:
        """Writes per second the share of the users bucket allows."""
        return share * self.bucket_limit / self.bucket_window_s

    @property
    def concurrency_ceiling(self) -> float | None:
        """Requests per second the concurrency limit allows at this latency (None: no latency)."""
        if self.latency_ms <= 0:
            return None
        return self.concurrency / (self.latency_ms / 1000.0)

    def limit_rate(self, share: float) -> float:
        """The physical limit: the allowed rate or the concurrency ceiling, the lower."""
        ceiling = self.concurrency_ceiling
        allowed = self.allowed_rate(share)
        return allowed if ceiling is None else min(allowed, ceiling)

    def to_dict(self) -> JsonObject:
        return {
            "latency_ms": self.latency_ms,
            "jitter_ms": self.jitter_ms,
            "users_bucket": {"limit": self.bucket_limit, "window_s": self.bucket_window_s},
            "concurrency_limit": self.concurrency,
            "users": self.users,
            "shares": list(self.shares),
            "by": list(self.by),
            "scaling": list(self.scaling),
            "apps": self.apps,
            "policies": self.policies,
            "loop_sample": self.loop_sample,
            "repeats": self.repeats,
        }


# ---------------------------------------------------------------- helpers


def run_worker(sb: SandboxProcess, name: str, job: JsonObject) -> JsonObject:
    """Run one :mod:`kmsi_lib.bench.worker` job against ``sb``; its figures."""
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "kmsi_lib.bench.worker", name],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        env=child_env(sb.url, sb.token),
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = done.stderr.strip().splitlines()[-5:]
        raise KmsiError(f"bench worker {name} failed ({done.returncode}): " + " | ".join(tail))
    return obj(json.loads(lines[-1]))


def _seconds(value: JsonValue) -> float:
    found = number(value)
    if found is None:
        raise KmsiError(f"a worker reported no time ({value!r})")
    return float(found)


def _between(log: Sequence[JsonObject], start: float, end: float) -> list[JsonObject]:
    """The log entries of requests started in [start, end)."""
    return [e for e in log if start <= float(number(e.get("ts")) or 0.0) < end]


def _write_phase(entries: Sequence[JsonObject]) -> tuple[int, float]:
    """(writes, seconds from the first write's start to the last one's end) of a phase."""
    writes = [e for e in entries if e.get("method") in measure.WRITE_METHODS]
    if not writes:
        return 0, 0.0
    starts = [float(number(e.get("ts")) or 0.0) for e in writes]
    ends = [
        s + float(number(e.get("ms")) or 0.0) / 1000 for s, e in zip(starts, writes, strict=True)
    ]
    return len(writes), max(ends) - min(starts)


def _seed_users(sb: SandboxProcess, n: int, tag: str) -> tuple[str, list[str]]:
    """A fresh org with ``n`` users in a group of their own; (group name, user ids)."""
    sb.reset()
    group = f"bench-{tag}"
    made = sb.bulk(
        {
            "groups": [{"name": group}],
            "users": [
                {"login": f"bench.{tag}.{i:05d}@bench.example.com", "groups": [group]}
                for i in range(n)
            ],
        }
    )
    ids = [text(obj(u).get("id")) or "" for u in arr(made.get("users"))]
    return group, ids


# ---------------------------------------------------------------- scenarios


def loop_baseline(sb: SandboxProcess, st: Settings, sample: int) -> JsonObject:
    """A plain one-at-a-time httpx loop of revocations over ``sample`` users, timed.

    This is what a script or an Okta Workflows For-Each does: one DELETE, wait for the
    answer, the next. Its rate is extrapolated to larger populations by the callers.
    """
    _, ids = _seed_users(sb, sample, "loop")
    sb.set_latency(st.latency_ms, st.jitter_ms)
    sb.set_bucket(USERS_BUCKET, st.bucket_limit, st.bucket_window_s, concurrency=st.concurrency)
    statuses: dict[str, int] = {}
    headers = {"Authorization": f"SSWS {sb.token}", "Accept": "application/json"}
    with httpx.Client(base_url=sb.url, headers=headers, trust_env=False, timeout=60) as http:
        started = time.perf_counter()
        for user_id in ids:
            status = str(http.delete(_REVOKE.format(user_id)).status_code)
            statuses[status] = statuses.get(status, 0) + 1
        seconds = time.perf_counter() - started
    return {
        "sample": len(ids),
        "seconds": seconds,
        "writes_per_s": len(ids) / seconds if seconds else None,
        "statuses": dict(statuses),
        "extrapolated": True,
    }


def reset_case(
    sb: SandboxProcess,
    st: Settings,
    *,
    how: str,
    users: int,
    share: float | None,
    loop: JsonObject,
) -> JsonObject:
    """reset_sessions plan + apply over ``users`` users (by ``group`` or ``ids``) at ``share``.

    ``share`` None leaves the client's default. Figures: the write rate over the write
    phase (first to last DELETE in the server's log) against the allowed rate and the
    concurrency ceiling, the fullest server window, 429s, failed items, requests against
    the minimum, and the speedup over the loop (its rate extrapolated to ``users``).
    """
    group, ids = _seed_users(sb, users, f"{how}{users}")
    sb.set_latency(st.latency_ms, st.jitter_ms)
    sb.set_bucket(USERS_BUCKET, st.bucket_limit, st.bucket_window_s, concurrency=st.concurrency)
    sb.clear_requests()
    job: JsonObject = {"how": how, "share": share}
    if how == "group":
        job["group"] = group
    else:
        job["ids"] = list(ids)
    figures = run_worker(sb, "reset", job)
    log = sb.requests()
    plan_at, apply_at = _seconds(figures.get("plan_at")), _seconds(figures.get("apply_at"))
    end_at = _seconds(figures.get("end_at"))
    planned, applied = _between(log, plan_at, apply_at), _between(log, apply_at, end_at + 1)
    writes, write_s = _write_phase(applied)
    rate = writes / write_s if write_s else None
    effective = 0.5 if share is None else share
    windows = measure.window_stats(log, USERS_BUCKET, st.bucket_limit)
    minimum = measure.reset_minimum(users, by_group=how == "group")
    loop_rate = number(loop.get("writes_per_s"))
    plan_s, apply_s = _seconds(figures.get("plan_s")), _seconds(figures.get("apply_s"))
    loop_total = users / float(loop_rate) if loop_rate else None
    return {
        "how": how,
        "users": users,
        "share": share,
        "plan_s": plan_s,
        "apply_s": apply_s,
        "writes": writes,
        "write_phase_s": write_s,
        "writes_per_s": rate,
        "allowed_per_s": st.allowed_rate(effective),
        "concurrency_ceiling_per_s": st.concurrency_ceiling,
        "of_allowed": measure.ratio(rate, st.allowed_rate(effective)),
        "of_limit": measure.ratio(rate, st.limit_rate(effective)),
        "max_window_share": windows.max_share,
        "windows": windows.windows,
        "rate_limited_429": windows.rejected + windows.concurrency_429,
        "failed": figures.get("failed"),
        "outcome": figures.get("outcome"),
        "requests": {"plan": len(planned), "apply": len(applied), "total": len(log)},
        "minimum_requests": minimum,
        "requests_vs_minimum": measure.ratio(len(log), minimum),
        "loop_writes_per_s": loop_rate,
        "speedup_writes": measure.ratio(rate, float(loop_rate) if loop_rate else None),
        "loop_seconds_extrapolated": loop_total,
        "speedup_end_to_end": measure.ratio(loop_total, plan_s + apply_s),
        "rss_start_kb": figures.get("rss_start_kb"),
        "rss_peak_kb": figures.get("rss_peak_kb"),
    }


def scaling(
    sb: SandboxProcess, st: Settings, loop: JsonObject, *, on_point: Callable[[str], None]
) -> JsonObject:
    """Reset by group at each N of ``st.scaling`` with the client's defaults.

    Time per user is (plan + apply) / N; memory is the worker's peak resident set
    less what it had before planning, per 1,000 users.
    """
    points: list[JsonValue] = []
    for n in st.scaling:
        on_point(f"scaling: {n} users")
        case = reset_case(sb, st, how="group", users=n, share=None, loop=loop)
        total = _seconds(case.get("plan_s")) + _seconds(case.get("apply_s"))
        grown = float(number(case.get("rss_peak_kb")) or 0) - float(
            number(case.get("rss_start_kb")) or 0
        )
        points.append(
            {
                "users": n,
                "seconds": total,
                "ms_per_user": 1000 * total / n,
                "writes_per_s": case.get("writes_per_s"),
                "failed": case.get("failed"),
                "rss_peak_mb": float(number(case.get("rss_peak_kb")) or 0) / 1024,
                "rss_growth_mb": grown / 1024,
                "mb_per_1000_users": grown / 1024 / n * 1000,
            }
        )
    per_user = [float(number(obj(p).get("ms_per_user")) or 0) for p in points]
    spread = (max(per_user) / min(per_user) - 1) if per_user and min(per_user) > 0 else None
    return {"points": points, "ms_per_user_spread": spread}


def rollout(sb: SandboxProcess, st: Settings) -> JsonObject:
    """post_auth over ``st.apps`` apps on ``st.policies`` policies, selected by app id.

    Set-up (no latency): the policies through the API, the apps in one bulk call, each
    policy given ``apps / policies`` of them. Then, with latency: plan, apply, and a
    second plan and apply that must write nothing.
    """
    sb.reset()
    sb.set_latency(0, 0)
    policy_ids = []
    for i in range(st.policies):
        policy = obj(
            sb.api(
                "POST",
                "/api/v1/policies",
                {"type": "ACCESS_POLICY", "name": f"Bench policy {i:03d}", "status": "ACTIVE"},
            )
        )
        policy_ids.append(text(policy.get("id")) or "")
    apps = sb.bulk(
        {
            "apps": [
                {"label": f"Bench app {i:04d}", "policy_id": policy_ids[i % st.policies]}
                for i in range(st.apps)
            ]
        }
    )
    app_ids: list[JsonValue] = [text(obj(a).get("id")) or "" for a in arr(apps.get("apps"))]
    sb.set_latency(st.latency_ms, st.jitter_ms)
    sb.clear_requests()
    figures = run_worker(sb, "rollout", {"ids": app_ids})
    log = sb.requests()
    marks = [_seconds(figures.get(k)) for k in ("plan_at", "apply_at", "plan2_at", "apply2_at")]
    marks.append(_seconds(figures.get("end_at")) + 1)
    phases = [_between(log, a, b) for a, b in zip(marks, marks[1:], strict=False)]
    changes = int(number(figures.get("changes")) or 0)
    minimum = measure.rollout_minimum(st.apps, st.policies, changes)
    requested = len(phases[0]) + len(phases[1])
    return {
        "apps": st.apps,
        "policies": st.policies,
        "plan_s": marks[1] - marks[0],
        "apply_s": marks[2] - marks[1],
        "requests": {"plan": len(phases[0]), "apply": len(phases[1])},
        "minimum_requests": dict(minimum),
        "requests_vs_minimum": measure.ratio(requested, minimum["total"]),
        "writes_first_apply": measure.count_requests(phases[1], writes_only=True),
        "changes": changes,
        "second_plan_changes": figures.get("changes_second"),
        "writes_second_apply": measure.count_requests(phases[3], writes_only=True),
        "requests_second_run": len(phases[2]) + len(phases[3]),
        "outcome": figures.get("outcome"),
        "outcome_second": figures.get("outcome_second"),
        "rate_limited_429": measure.count_requests(log, status=429),
    }


def _timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our own interpreter and modules
        command, capture_output=True, text=True, env=env, cwd=cwd, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise KmsiError(f"{' '.join(command[1:4])} failed ({done.returncode}): {tail}")
    return seconds


EMPTY_NOTEBOOK: JsonObject = {
    "cells": [],
    "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}


def overhead(sb: SandboxProcess, st: Settings) -> JsonObject:
    """``kmsi run 20_post_auth --mode plan`` against an empty papermill run and a direct call.

    Each is a fresh process timed from outside (interpreter start and imports
    included), ``st.repeats`` times, median reported, on the default seed with no
    injected latency (the org's answering time is the same for all and is not overhead).
    """
    if not NOTEBOOK.is_file() or not PARAMS_FILE.is_file():
        return {"skipped": f"needs the checkout's {NOTEBOOK.name} and {PARAMS_FILE.name}"}
    sb.reset()
    sb.set_latency(0, 0)
    env = child_env(sb.url, sb.token)
    python = sys.executable
    times: dict[str, list[float]] = {"papermill_empty": [], "kmsi_run": [], "direct": []}
    with tempfile.TemporaryDirectory(prefix="kmsi-bench-") as tmp:
        work = Path(tmp)
        empty = work / "empty.ipynb"
        empty.write_text(json.dumps(EMPTY_NOTEBOOK), encoding="utf-8")
        job = work / "job.json"
        job.write_text(json.dumps({"params_file": str(PARAMS_FILE)}), encoding="utf-8")
        for i in range(st.repeats):
            times["papermill_empty"].append(
                _timed(
                    [python, "-m", "papermill", str(empty), str(work / f"out{i}.ipynb")]
                    + ["--no-progress-bar", "--log-level", "WARNING"],
                    env,
                    work,
                )
            )
            times["kmsi_run"].append(
                _timed(
                    [python, "-m", "kmsi_lib.cli", "run", str(NOTEBOOK), "-f", str(PARAMS_FILE)]
                    + ["--mode", "plan", "--evidence-root", str(work / "evidence")]
                    + ["--no-progress"],
                    env,
                    REPO,
                )
            )
            times["direct"].append(
                _timed(
                    [python, "-c", _DIRECT.format(job=str(job))],
                    env,
                    REPO,
                )
            )
    medians = {k: measure.median(v) for k, v in times.items()}
    return {
        "seconds": dict(medians),
        "runs": {k: list(v) for k, v in times.items()},
        "vs_papermill_empty": measure.ratio(medians["kmsi_run"], medians["papermill_empty"]),
        "vs_direct": measure.ratio(medians["kmsi_run"], medians["direct"]),
        "latency_ms": 0,
    }


# the direct call, as a fresh process: the worker's job read from a file, not stdin
_DIRECT = (
    "import json, pathlib; from kmsi_lib.bench.worker import run_job; "
    "run_job('post_auth_plan', json.loads(pathlib.Path({job!r}).read_text()))"
)
