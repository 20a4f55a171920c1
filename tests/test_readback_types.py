"""Data the engine and the audit store as JSON reads back as it was made, and refuses what is not.

Readers narrow JSON values instead of trusting them: a timeline event of an
unknown kind, or a finding of an unknown severity, is refused where it is read,
not passed on to fail later.
"""

from __future__ import annotations

import json

import pytest
from test_timeline import app, org_outcome, session

from kmsi_lib.engine.impact_timeline import timeline_data, timelines_from
from kmsi_lib.procedures.audit_rules import Finding


def test_timeline_data_survives_a_json_round_trip() -> None:
    outcome = org_outcome(session(mfa="ALWAYS"), app("1FA", "PT43800H", "P7D"))
    data = timeline_data(outcome, outcome, title="everyone else on the app")
    before, after = timelines_from(json.loads(json.dumps(data)))
    played_before, played_after = timelines_from(data)
    assert [t.events for t in before] == [t.events for t in played_before]
    assert [t.events for t in after] == [t.events for t in played_after]
    assert after and after[0].events, "the outcome plays: there are events to compare"


def test_a_timeline_event_of_an_unknown_kind_is_refused() -> None:
    outcome = org_outcome(session(), app("1FA", "PT2H", None))
    data = json.loads(json.dumps(timeline_data(None, outcome, title="t")))
    data["after"][0]["events"][0][1] = "teleport"
    with pytest.raises(ValueError, match="not a timeline event"):
        timelines_from(data)


def test_a_finding_reads_back_and_an_unknown_severity_is_refused() -> None:
    finding = Finding(
        "medium",
        "kmsi-everyone",
        "access_policy_rule",
        "rul1",
        "Catch-all Rule",
        "KMSI is allowed for everyone",
        parent_id="rst1",
        policy_name="Default Policy",
        apps=("App",),
        app_ids=("0oa1",),
    )
    stored = json.loads(json.dumps(finding.to_dict()))
    assert Finding.from_dict(stored) == finding
    with pytest.raises(ValueError, match="not a finding severity"):
        Finding.from_dict({**stored, "severity": "critical"})


def test_a_chart_is_drawn_once_for_the_same_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plan's HTML and its evidence file ask for the same chart: drawn once, same bytes."""
    from kmsi_lib.engine import impact_timeline

    outcome = org_outcome(session(mfa="ALWAYS"), app("1FA", "PT43800H", "P7D"))
    data = timeline_data(outcome, outcome, title="cached")
    other = timeline_data(None, outcome, title="another")
    drawn: list[str] = []
    real = impact_timeline._draw

    def counting(found: object) -> bytes:
        drawn.append(str(impact_timeline.obj(found).get("title")))
        return real(impact_timeline.obj(found))

    monkeypatch.setattr(impact_timeline, "_draw", counting)
    first = impact_timeline.timeline_figure(data)
    assert impact_timeline.timeline_figure(json.loads(json.dumps(data))) == first
    assert drawn == ["cached"]
    assert impact_timeline.timeline_figure(other) != first  # other data: drawn anew
    assert drawn == ["cached", "another"]
    assert first == real(data)  # what is given again is what a fresh draw gives
