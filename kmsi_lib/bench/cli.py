"""``kmsi bench``: the library against its physical limits, in one run, with baselines.

``kmsi bench [--quick] [--latency MS] [--json FILE] [--only SCENARIO,...]`` starts the
sandbox in a separate process on loopback, injects latency (100 ms ± 20 ms by
default; ``--latency 1100`` is the median of the recorded real traffic), sets a known
users bucket, and measures the scenarios of :mod:`kmsi_lib.bench.scenarios`. The
terminal gets a table (each figure beside its baseline or limit from the same run);
``--json FILE`` gets every figure. ``--quick`` (small N, fewer scenarios) takes
under a minute; the test suite runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from kmsi_lib.bench import scenarios
from kmsi_lib.bench.scenarios import Settings
from kmsi_lib.bench.server import SandboxProcess
from kmsi_lib.errors import KmsiError
from kmsi_lib.jsontypes import JsonObject, JsonValue, arr, number, obj

__all__ = ["SCENARIOS", "add_arguments", "main", "run_bench", "settings_from", "table"]

SCENARIOS = ("reset", "scaling", "rollout", "overhead")

#: ``--quick``: small N, one share, one run of each command (the test suite runs it).
QUICK = Settings(
    users=100,
    shares=(0.5,),
    scaling=(100, 200),
    apps=20,
    policies=5,
    loop_sample=10,
    repeats=1,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``kmsi bench`` (wired by :mod:`kmsi_lib.cli`)."""
    parser.description = __doc__.split("\n\n")[1].replace("\n", " ") if __doc__ else None
    default = Settings()
    parser.add_argument("--quick", action="store_true", help="small N, fewer scenarios (<1 min)")
    parser.add_argument(
        "--latency", type=float, default=None, metavar="MS", help="injected latency (ms; 100)"
    )
    parser.add_argument(
        "--jitter",
        type=float,
        default=None,
        metavar="MS",
        help="± jitter (ms; a fifth of the latency)",
    )
    parser.add_argument(
        "--users", type=int, default=None, help=f"users of the reset cases ({default.users})"
    )
    parser.add_argument(
        "--bucket",
        default=None,
        metavar="LIMIT/SECONDS",
        help=f"the users bucket ({default.bucket_limit}/{default.bucket_window_s:g})",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help=f"the org's concurrency limit ({default.concurrency})",
    )
    parser.add_argument(
        "--only",
        default=None,
        metavar="LIST",
        help=f"comma-separated scenarios to run, of {', '.join(SCENARIOS)} (all)",
    )
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="write the figures")


def settings_from(args: argparse.Namespace) -> Settings:
    """The run's settings: ``--quick``'s or the defaults, then the options given."""
    st = QUICK if args.quick else Settings()
    if args.latency is not None:
        st = replace(st, latency_ms=args.latency, jitter_ms=args.latency / 5)
    if args.jitter is not None:
        st = replace(st, jitter_ms=args.jitter)
    if args.users is not None:
        st = replace(st, users=args.users)
    if args.concurrency is not None:
        st = replace(st, concurrency=args.concurrency)
    if args.bucket is not None:
        limit, _, window = str(args.bucket).partition("/")
        st = replace(st, bucket_limit=int(limit), bucket_window_s=float(window or 60))
    return st


def _machine() -> JsonObject:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def run_bench(
    st: Settings,
    *,
    only: tuple[str, ...] = SCENARIOS,
    quick: bool = False,
    say: Callable[[str], None] = lambda line: None,
    save: Callable[[JsonObject], None] = lambda out: None,
) -> JsonObject:
    """Run the scenarios in ``only`` against a fresh sandbox process; every figure as JSON.

    ``save(out)`` is called after each scenario with the figures so far (``--json`` writes
    them, so a long run stopped half-way keeps what it measured).
    """
    out: JsonObject = {
        "settings": st.to_dict(),
        "machine": _machine(),
        "quick": quick,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    began = time.perf_counter()
    with SandboxProcess() as sb:
        loop: JsonObject = {}
        if "reset" in only or "scaling" in only:
            say(f"loop baseline: {st.loop_sample} revocations one at a time")
            loop = scenarios.loop_baseline(sb, st, st.loop_sample)
            out["loop"] = loop
            save(out)
        if "reset" in only:
            cases: list[JsonValue] = []
            for how in st.by:
                for share in st.shares:
                    say(f"reset {st.users} users by {how}, share {share}")
                    cases.append(
                        scenarios.reset_case(
                            sb, st, how=how, users=st.users, share=share, loop=loop
                        )
                    )
                    out["reset"] = cases
                    save(out)
        if "scaling" in only:
            out["scaling"] = scenarios.scaling(sb, st, loop, on_point=say)
            save(out)
        if "rollout" in only:
            say(f"rollout: post_auth over {st.apps} apps on {st.policies} policies")
            out["rollout"] = scenarios.rollout(sb, st)
            save(out)
        if "overhead" in only:
            say("runbook overhead: kmsi run vs papermill vs the direct call")
            out["overhead"] = scenarios.overhead(sb, st)
    out["seconds"] = time.perf_counter() - began
    save(out)
    return out


# ---------------------------------------------------------------- the table


def _f(value: object, fmt: str = "{:.2f}") -> str:
    found = number(value)
    return "-" if found is None else fmt.format(found)


def _reset_rows(case: JsonObject) -> list[tuple[str, str, str, str]]:
    name = f"reset {case.get('users')} by {case.get('how')}, share {case.get('share')}"
    return [
        (
            name,
            "writes/s",
            _f(case.get("writes_per_s"), "{:.1f}"),
            f"allowed {_f(case.get('allowed_per_s'), '{:.1f}')}/s:"
            f" {_f(case.get('of_allowed'))} of it (of min(allowed, concurrency/latency):"
            f" {_f(case.get('of_limit'))})",
        ),
        (
            "",
            "fullest server window",
            _f(case.get("max_window_share")),
            f"the share {case.get('share')} ({case.get('windows')} windows)",
        ),
        (
            "",
            "429s / failed items",
            f"{case.get('rate_limited_429')} / {case.get('failed')}",
            "0 / 0",
        ),
        (
            "",
            "requests (plan + apply)",
            f"{obj(case.get('requests')).get('plan')} + {obj(case.get('requests')).get('apply')}",
            f"minimum {case.get('minimum_requests')}: {_f(case.get('requests_vs_minimum'))}x",
        ),
        (
            "",
            "plan / apply s",
            f"{_f(case.get('plan_s'), '{:.1f}')} / {_f(case.get('apply_s'), '{:.1f}')}",
            f"loop, extrapolated: {_f(case.get('loop_seconds_extrapolated'), '{:.0f}')} s",
        ),
        (
            "",
            "speedup over the loop",
            f"{_f(case.get('speedup_writes'), '{:.1f}')}x writes/s,"
            f" {_f(case.get('speedup_end_to_end'), '{:.1f}')}x end to end",
            f"loop {_f(case.get('loop_writes_per_s'), '{:.1f}')} writes/s (timed on a sample)",
        ),
    ]


def table(out: JsonObject) -> str:
    """The figures as a plain-text table: scenario, figure, measured, baseline or limit."""
    rows: list[tuple[str, str, str, str]] = [("scenario", "figure", "measured", "baseline / limit")]
    loop = obj(out.get("loop"))
    if loop:
        rows.append(
            (
                f"one-at-a-time loop ({loop.get('sample')} users)",
                "writes/s",
                _f(loop.get("writes_per_s"), "{:.1f}"),
                "timed on this sample; extrapolated below",
            )
        )
    for case in arr(out.get("reset")):
        rows += _reset_rows(obj(case))
    scale = obj(out.get("scaling"))
    for point in arr(scale.get("points")):
        p = obj(point)
        rows.append(
            (
                f"scaling {p.get('users')} users (by group, defaults)",
                "ms per user / MB per 1,000",
                f"{_f(p.get('ms_per_user'), '{:.1f}')} / {_f(p.get('mb_per_1000_users'))}",
                f"peak RSS {_f(p.get('rss_peak_mb'), '{:.0f}')} MB, failed {p.get('failed')}",
            )
        )
    if scale:
        rows.append(
            ("", "time per user spread", _f(scale.get("ms_per_user_spread")), "flat: <= 0.20")
        )
    roll = obj(out.get("rollout"))
    if roll:
        minimum = obj(roll.get("minimum_requests"))
        made = obj(roll.get("requests"))
        rows += [
            (
                f"rollout {roll.get('apps')} apps / {roll.get('policies')} policies",
                "requests (plan + apply)",
                f"{made.get('plan')} + {made.get('apply')}",
                f"minimum {minimum.get('plan')} + {minimum.get('apply')}:"
                f" {_f(roll.get('requests_vs_minimum'))}x",
            ),
            (
                "",
                "plan / apply s",
                f"{_f(roll.get('plan_s'), '{:.1f}')} / {_f(roll.get('apply_s'), '{:.1f}')}",
                f"{roll.get('writes_first_apply')} writes, {roll.get('rate_limited_429')} 429s",
            ),
            ("", "writes on a second apply", str(roll.get("writes_second_apply")), "0"),
        ]
    over = obj(out.get("overhead"))
    if over.get("skipped"):
        rows.append(("runbook overhead", "skipped", str(over.get("skipped")), ""))
    elif over:
        secs = obj(over.get("seconds"))
        rows += [
            (
                "runbook overhead (no latency)",
                "kmsi run 20_post_auth plan s",
                _f(secs.get("kmsi_run")),
                f"papermill, empty notebook {_f(secs.get('papermill_empty'))} s:"
                f" {_f(over.get('vs_papermill_empty'))}x",
            ),
            (
                "",
                "the procedure called directly s",
                _f(secs.get("direct")),
                f"kmsi run is {_f(over.get('vs_direct'))}x it",
            ),
        ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3] for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    """``kmsi bench``: 0 when every scenario ran, 1 when one failed, 2 on bad arguments."""
    try:
        st = settings_from(args)
    except ValueError as exc:
        print(f"kmsi bench: {exc}", file=sys.stderr)
        return 2
    only = SCENARIOS if not args.only else tuple(s.strip() for s in args.only.split(","))
    unknown = [s for s in only if s not in SCENARIOS]
    if unknown:
        print(
            f"kmsi bench: unknown scenario(s) {unknown}; of {', '.join(SCENARIOS)}", file=sys.stderr
        )
        return 2
    latency = f"{st.latency_ms:g} ms ± {st.jitter_ms:g} ms"
    print(f"# kmsi bench: sandbox in its own process on loopback, latency {latency},", flush=True)
    print(
        f"# users bucket {st.bucket_limit} per {st.bucket_window_s:g} s,"
        f" concurrency limit {st.concurrency}",
        flush=True,
    )

    def save(out: JsonObject) -> None:
        if args.json is not None:
            args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")

    try:
        out = run_bench(
            st,
            only=only,
            quick=args.quick,
            say=lambda line: print(f"# {line}", flush=True),
            save=save,
        )
    except KmsiError as exc:
        print(f"kmsi bench: failed: {exc}", file=sys.stderr)
        return 1
    print(table(out))
    print(f"# {out.get('seconds', 0):.0f} s in all; loop figures are extrapolated from a sample")
    if args.json is not None:
        print(f"# figures written to {args.json}")
    return 0
