"""``kmsi bench``: its arithmetic over literal request logs, and a ``--quick`` run's figures.

The quick run asserts that every figure exists and is sane (types, ranges, a
baseline next to it), never how fast anything was: timings depend on the machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kmsi_lib.bench import measure
from kmsi_lib.bench.cli import table
from kmsi_lib.bench.server import child_env
from kmsi_lib.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[1]


def _entry(window: float | None, status: int = 204, method: str = "DELETE") -> dict[str, object]:
    return {"bucket": "/api/v1/users", "window": window, "status": status, "method": method}


def test_window_share_counts_admitted_requests_per_server_window() -> None:
    """The fullest window decides the share; refusals and concurrency 429s are counted apart."""
    log = [
        *[_entry(100.0) for _ in range(5)],
        _entry(100.0, status=429),  # refused by the limiter: counted in no share
        *[_entry(110.0) for _ in range(3)],
        _entry(None, status=429),  # refused at the concurrency gate: no window
        {"bucket": "/api/v1/apps", "window": 100.0, "status": 200},  # another bucket
    ]
    stats = measure.window_stats(log, "/api/v1/users", 10)
    assert stats == measure.WindowStats(
        windows=2, max_allowed=5, max_share=0.5, rejected=1, concurrency_429=1
    )


def test_window_share_of_an_empty_log_is_zero_and_a_zero_limit_is_refused() -> None:
    assert measure.window_stats([], "/api/v1/users", 10).max_share == 0.0
    with pytest.raises(ValueError):
        measure.window_stats([], "/api/v1/users", 0)


@pytest.mark.parametrize(
    ("users", "by_group", "expected"),
    [
        pytest.param(2000, False, 2000, id="ids: one DELETE each"),
        pytest.param(2000, True, 2003, id="group: lookup, two pages of members, DELETEs"),
        pytest.param(10, True, 12, id="group: one page"),
    ],
)
def test_reset_minimum(users: int, by_group: bool, expected: int) -> None:
    assert measure.reset_minimum(users, by_group=by_group) == expected


def test_rollout_minimum_matches_the_issue_for_500_apps_on_100_policies() -> None:
    """3 pages of apps + 100 rule reads + 2 for the default rule; 101 rules read and written."""
    assert measure.rollout_minimum(500, 100, 101) == {"plan": 105, "apply": 202, "total": 307}


def test_requests_are_counted_by_kind_and_ratios_tolerate_missing_values() -> None:
    log = [_entry(1.0), _entry(1.0, method="GET", status=200), _entry(1.0, status=429)]
    assert measure.count_requests(log) == 3
    assert measure.count_requests(log, writes_only=True) == 2
    assert measure.count_requests(log, status=429) == 1
    assert measure.ratio(3.0, 2.0) == 1.5
    assert measure.ratio(None, 2.0) is None
    assert measure.ratio(1.0, 0) is None


def test_a_measured_child_sees_only_the_sandbox_credentials() -> None:
    env = child_env(
        "http://127.0.0.1:1", "t", {"OKTA_CLIENT_ID": "x", "KMSI_INTERACTIVE": "1", "A": "b"}
    )
    assert env == {"A": "b", "OKTA_ORG_URL": "http://127.0.0.1:1", "OKTA_API_TOKEN": "t"}


def test_the_sandbox_seeds_in_bulk_and_logs_each_request_s_rate_limit_window() -> None:
    """``POST /_sandbox/bulk`` makes groups, members and apps at once; the log names windows."""
    sb = Sandbox()
    http = sb.client()
    made = http.post(
        "/_sandbox/bulk",
        json={
            "groups": [{"name": "bench-g"}],
            "users": [
                {"login": f"u{i}@bench.example.com", "groups": ["bench-g"]} for i in range(3)
            ],
            "apps": [{"label": "Bench app"}],
        },
    ).json()
    assert [u["login"] for u in made["users"]] == [f"u{i}@bench.example.com" for i in range(3)]
    group_id = made["groups"][0]["id"]
    members = http.get(f"/api/v1/groups/{group_id}/users").json()
    assert sorted(m["id"] for m in members) == sorted(u["id"] for u in made["users"])
    assert http.get(f"/api/v1/apps/{made['apps'][0]['id']}").status_code == 200
    refused = http.post("/_sandbox/bulk", json={"users": [{"no_login": True}]})
    assert refused.status_code == 400

    sb.admin.set_rate_limit("/api/v1/users", 2, 60.0)
    for _ in range(3):
        http.get("/api/v1/users")
    log = [e for e in sb.admin.requests() if e["path"] == "/api/v1/users"]
    assert len({e["window"] for e in log}) == 1 and log[0]["window"] is not None
    stats = measure.window_stats(log, "/api/v1/users", 2)
    assert (stats.max_allowed, stats.rejected, stats.max_share) == (2, 1, 1.0)


def _number(value: object) -> float:
    assert isinstance(value, int | float) and not isinstance(value, bool), value
    return float(value)


@pytest.mark.slow
def test_quick_bench_reports_every_figure_beside_its_baseline(tmp_path: Path) -> None:
    """``kmsi bench --quick --json FILE``: every scenario's figures exist and are sane."""
    out_file = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "kmsi_lib.cli", "bench", "--quick", "--json", str(out_file)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=child_env("http://unused.invalid", "unused"),
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(out_file.read_text())
    assert "writes/s" in done.stdout and "papermill" in done.stdout  # the table was printed
    assert out["quick"] is True

    loop = out["loop"]
    assert loop["extrapolated"] is True
    assert loop["statuses"] == {"204": loop["sample"]}
    assert _number(loop["writes_per_s"]) > 0

    assert {(c["how"], c["share"]) for c in out["reset"]} == {("group", 0.5), ("ids", 0.5)}
    for case in out["reset"]:
        assert case["failed"] == 0 and case["outcome"] == "applied"
        assert case["writes"] == case["users"]  # one revocation each, none repeated
        assert _number(case["allowed_per_s"]) == pytest.approx(50.0)
        # a quick run fits in one or two windows, where the governor may use the window's
        # share faster than its average rate: the bound is the window share, next line
        assert _number(case["of_allowed"]) > 0
        assert 0 < _number(case["max_window_share"]) <= case["share"]  # never over the share
        assert case["rate_limited_429"] == 0
        assert _number(case["requests_vs_minimum"]) >= 1.0
        assert case["requests"]["plan"] + case["requests"]["apply"] <= case["requests"]["total"]
        assert _number(case["speedup_writes"]) > 0
        assert _number(case["loop_seconds_extrapolated"]) > 0
        assert _number(case["rss_peak_kb"]) >= _number(case["rss_start_kb"]) > 0

    points = out["scaling"]["points"]
    assert [p["users"] for p in points] == [100, 200]
    for point in points:
        assert point["failed"] == 0
        assert _number(point["ms_per_user"]) > 0
        assert _number(point["mb_per_1000_users"]) >= 0
    assert _number(out["scaling"]["ms_per_user_spread"]) >= 0

    roll = out["rollout"]
    assert roll["outcome"] == "applied"
    assert roll["changes"] >= roll["policies"]  # every policy's rule changes
    assert roll["writes_first_apply"] == roll["changes"]
    assert roll["writes_second_apply"] == 0 and roll["second_plan_changes"] == 0
    assert _number(roll["requests_vs_minimum"]) >= 1.0
    assert _number(roll["plan_s"]) > 0 and _number(roll["apply_s"]) > 0

    over = out["overhead"]
    for name in ("papermill_empty", "kmsi_run", "direct"):
        assert _number(over["seconds"][name]) > 0
    assert _number(over["vs_papermill_empty"]) > 0 and _number(over["vs_direct"]) > 0

    assert "rollout 20 apps / 5 policies" in table(out)


def test_kmsi_bench_help_and_a_bad_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    """``kmsi bench --help`` prints the options; an unknown ``--only`` is a usage error (2)."""
    from kmsi_lib import cli

    assert cli.main(["bench", "--help"]) == 0
    assert "--latency" in capsys.readouterr().out
    assert cli.main(["bench", "--only", "nonsense"]) == 2
    assert "unknown scenario" in capsys.readouterr().err
