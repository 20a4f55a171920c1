"""Lost-update detection: did anyone else write what an apply wrote, while it ran?

Okta's ``PUT`` replaces a whole object and takes no ``If-Match``: two
operators whose applies overlap can each pass their drift check and then
overwrite each other, and each read-back agrees with what that run wrote. So
before an apply claims *verified*, it asks Okta's own record:

1. **Before the drift check**, the System Log events that already target the
   objects the plan will write are noted (their ``uuid``): the *baseline*.
2. **After the read-back**, the events are listed again. An event that is not
   in the baseline and whose ``transaction.id`` is not the request id of one
   of this run's own writes (``X-Okta-Request-Id``, kept by the journal) is
   someone else's write during the apply: a conflict, named by object.
3. The run's own writes must show in the log (Okta publishes events within
   seconds; we wait up to :data:`SYSLOG_WAIT_S`). If they do not, or the log
   cannot be read, the run *cannot show* that nobody else wrote, and says so
   with a failed check instead of claiming verified.
4. Independently of the log, an object whose ``lastUpdated`` at read-back is
   not the one our write's answer carried was written again after us.

A write whose answer was lost (a dropped connection) has no request id; its
event is allowed for once, per lost answer, and the check says so.

Okta documents the System Log API and its event types at
https://developer.okta.com/docs/reference/api/system-log/ and
https://developer.okta.com/docs/reference/api/event-types/; the endpoint is
``GET /api/v1/logs`` (scope ``okta.logs.read``), docs/OKTA-API.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from kmsi_lib.engine.model import Check
from kmsi_lib.errors import KmsiError
from kmsi_lib.jsontypes import JsonMap, JsonObject, JsonValue, arr, dig, obj
from kmsi_lib.okta.resources import logs

if TYPE_CHECKING:
    from kmsi_lib.engine.model import AppliedChange, BeforeRecord
    from kmsi_lib.okta.client import OktaClient
    from kmsi_lib.okta.journal import JournalEntry

__all__ = [
    "PRIMARY_ONLY",
    "SYSLOG_WAIT_S",
    "Target",
    "Witness",
    "close_witness",
    "confirm_writes",
    "find_conflicts",
    "okta_record",
    "open_witness",
    "rewritten_after_us",
]

#: How long the read-back waits for Okta's System Log to show this run's own writes.
SYSLOG_WAIT_S = 15.0
#: How far back the baseline and the final listing start: both use the same window.
_LOOKBACK = timedelta(hours=1)
#: Kinds whose events name them first; a policy is also a second target of its rules'
#: events, which are not writes of the policy itself.
PRIMARY_ONLY = frozenset({"policy"})


@dataclass(frozen=True)
class Target:
    """An object an apply writes: its id, how to name it, whether only primary targets count."""

    id: str
    label: str
    primary_only: bool = False


@dataclass
class Witness:
    """What the System Log showed before the drift check (see the module docstring)."""

    since: str
    baseline: set[str] = field(default_factory=set)
    error: str | None = None


def _targets_of(event: JsonMap) -> list[str]:
    return [str(t.get("id")) for t in arr(event.get("target")) if isinstance(t, Mapping)]


def _writes(event: JsonMap, target: Target) -> bool:
    ids = _targets_of(event)
    if target.primary_only:
        return bool(ids) and ids[0] == target.id
    return target.id in ids


def _request_id(event: JsonMap) -> str | None:
    transaction = event.get("transaction") or {}
    rid = transaction.get("id") if isinstance(transaction, Mapping) else None
    if rid:
        return str(rid)
    found = dig(event, "debugContext", "debugData", "requestId")
    return str(found) if found else None


def _describe(event: JsonMap) -> JsonObject:
    actor = obj(event.get("actor"))
    return {
        "eventType": _value(event.get("eventType")),
        "published": _value(event.get("published")),
        "actor": actor.get("alternateId") or actor.get("id"),
        "requestId": _request_id(event),
    }


def _value(value: object) -> JsonValue:
    """A field of an event as JSON (an event is decoded JSON, so this is the value itself)."""
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    return str(value)


def okta_record(writes: Sequence[JournalEntry], events: Iterable[JsonMap]) -> list[JsonObject]:
    """Pure: each of this run's writes with the System Log events of its request id.

    One entry per answered write (``method``, ``path``, ``request_id``), its events
    (type, actor, time, outcome, the first target) and ``matched``: False flags a
    write Okta's own record does not show.
    """
    by_request: dict[str | None, list[JsonValue]] = {}
    for event in events:
        outcome = event.get("outcome") or {}
        targets = arr(event.get("target"))
        first = obj(targets[0]) if targets else {}
        by_request.setdefault(_request_id(event), []).append(
            {
                **_describe(event),
                "outcome": _value(outcome.get("result")) if isinstance(outcome, Mapping) else None,
                "target": first.get("displayName") or first.get("id"),
            }
        )
    record: list[JsonObject] = []
    for entry in writes:
        if entry.status is None or entry.status >= 400 or not entry.request_id:
            continue
        found = by_request.get(entry.request_id, [])
        record.append(
            {
                "method": entry.method,
                "path": entry.path,
                "request_id": entry.request_id,
                "events": found,
                "matched": bool(found),
            }
        )
    return record


def find_conflicts(
    targets: Sequence[Target],
    events: Iterable[JsonMap],
    *,
    baseline: set[str],
    own_request_ids: set[str],
    lost_answers: int = 0,
) -> tuple[dict[str, list[JsonObject]], list[JsonObject]]:
    """Pure: ``({target id: [foreign events]}, [events taken as our lost answers])``.

    An event in ``baseline`` happened before the apply; one whose request id is
    ours is our own write; up to ``lost_answers`` others are taken as the writes
    whose answers were lost; the rest are someone else's.
    """
    foreign: dict[str, list[JsonObject]] = {t.id: [] for t in targets}
    adopted: list[JsonObject] = []
    allowance = lost_answers
    for event in events:
        if str(event.get("uuid")) in baseline or _request_id(event) in own_request_ids:
            continue
        hit = [t for t in targets if _writes(event, t)]
        if not hit:
            continue
        if allowance > 0:
            allowance -= 1
            adopted.append(_describe(event))
            continue
        for target in hit:
            foreign[target.id].append(_describe(event))
    return foreign, adopted


def open_witness(
    client: OktaClient, target_ids: Sequence[str], *, now: datetime | None = None
) -> Witness:
    """Note the System Log events that already target ``target_ids`` (before the drift check)."""
    since = logs.log_time((now or datetime.now(UTC)) - _LOOKBACK)
    witness = Witness(since)
    if not target_ids:
        return witness
    try:
        events = logs.list_log_events(
            client, since=since, filter=logs.target_filter(target_ids), limit=1000
        )
    except KmsiError as exc:
        witness.error = f"{type(exc).__name__}: {exc}"
        return witness
    witness.baseline = {str(e.get("uuid")) for e in events}
    return witness


def close_witness(
    client: OktaClient,
    witness: Witness,
    targets: Sequence[Target],
    journal: Sequence[JournalEntry],
    *,
    wait_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    record: list[JsonObject] | None = None,
) -> tuple[list[Check], list[str]]:
    """Checks (one per written object) that nobody else wrote it during the apply, and notes.

    ``journal`` is this apply's slice of the client's journal: its non-GET
    entries are the run's own writes (Okta's policy simulation aside: a POST that
    changes nothing, so the System Log has no event for it). ``record``, when
    given, receives :func:`okta_record` of those writes: Okta's own record of them.
    """
    notes: list[str] = []
    if not targets:
        return [], notes
    wait_s = SYSLOG_WAIT_S if wait_s is None else wait_s
    writes, own = _own_writes(journal)
    lost = sum(1 for e in writes if e.status is None)
    name = "nobody else wrote {} while this apply ran (Okta System Log)"
    if witness.error is not None:
        return [
            Check(
                "Okta's System Log could be read, so other writers can be ruled out",
                False,
                "the System Log (okta.logs.read)",
                f"not shown: {witness.error}",
            )
        ], notes
    listed = _listing_of_targets(client, witness.since, [t.id for t in targets])
    try:
        events = _until_shown(listed, own, wait_s=wait_s, sleep=sleep)
    except KmsiError as exc:
        return [
            Check(
                "Okta's System Log could be read, so other writers can be ruled out",
                False,
                "the System Log (okta.logs.read)",
                f"not shown: {type(exc).__name__}: {exc}",
            )
        ], notes
    missing = own - {_request_id(e) for e in events}
    if record is not None:
        record.extend(okta_record(writes, events))
    foreign, adopted = find_conflicts(
        targets, events, baseline=witness.baseline, own_request_ids=own, lost_answers=lost
    )
    checks: list[Check] = []
    if missing:
        checks.append(
            Check(
                "Okta's System Log shows this apply's own writes, so other writers can be"
                " ruled out",
                False,
                sorted(own),
                f"not shown after {wait_s:.0f} s: {sorted(missing)}",
            )
        )
    for target in targets:
        others = foreign[target.id]
        checks.append(
            Check(
                name.format(target.label),
                not others,
                "only this run's writes",
                others or "only this run's writes",
            )
        )
    if adopted:
        notes.append(
            f"{len(adopted)} System Log event(s) with no request id of ours were taken as the"
            f" write(s) whose answer was lost: {adopted}"
        )
    return checks, notes


def rewritten_after_us(
    applied: Sequence[AppliedChange],
    before_state: Sequence[BeforeRecord],
) -> list[Check]:
    """A failed check per object whose ``lastUpdated`` moved on after our own write's answer."""
    checks: list[Check] = []
    for change, record in zip(applied, before_state, strict=False):
        answer = change.result if isinstance(change.result, Mapping) else None
        now = record.after_written if isinstance(record.after_written, Mapping) else None
        if not answer or not now or record.action not in ("create", "update"):
            continue
        ours, theirs = answer.get("lastUpdated"), now.get("lastUpdated")
        if ours and theirs and ours != theirs:
            checks.append(
                Check(
                    f"nobody wrote {record.ref.label()} after this apply's write (lastUpdated)",
                    False,
                    ours,
                    theirs,
                )
            )
    return checks


def _is_simulation(path: str) -> bool:
    """Whether a journal path is ``POST /api/v1/policies/simulate`` (a read)."""
    return urlsplit(path).path.rstrip("/").endswith("/api/v1/policies/simulate")


#: How many target ids one System Log query names (its filter grows with each).
CONFIRM_BATCH = 25


def confirm_writes(
    client: OktaClient,
    since: str,
    target_ids: Sequence[str],
    journal: Sequence[JournalEntry],
    *,
    event_type: str | None = None,
    wait_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[list[JsonObject], list[Check]]:
    """Okta's own record of a run's writes to ``target_ids`` since ``since``, and a check.

    For applies without the lost-update witness (the session reset). With
    ``event_type`` (the reset's ``user.session.clear``) the log is listed by that type
    since ``since``, a page of up to 1,000 events per request, and the events are kept
    when one of their targets is one of ``target_ids`` or their request id is one of
    ours: a few requests for thousands of writes. Without it the events of the targets
    are listed, :data:`CONFIRM_BATCH` ids per query. Either way the events are matched
    to the journal's writes by request id (:func:`okta_record`), waiting up to
    ``wait_s`` for the log to show them. The check fails when some write has no
    event, or the log cannot be read.
    """
    writes, own = _own_writes(journal)
    if not target_ids or not writes:
        return [], []
    name = "Okta's System Log shows each write of this apply"
    wait_s = SYSLOG_WAIT_S if wait_s is None else wait_s
    if event_type is not None:
        listed = _listing_of_type(client, since, event_type, target_ids, own)
    else:
        listed = _listing_of_targets(client, since, target_ids)
    try:
        events = _until_shown(listed, own, wait_s=wait_s, sleep=sleep)
    except KmsiError as exc:
        return [], [Check(name, False, "the System Log (okta.logs.read)", f"not shown: {exc}")]
    record = okta_record(writes, events)
    missing = [w["request_id"] for w in record if not w["matched"]]
    actual = f"{len(missing)} not shown after {wait_s:.0f} s: {missing}" if missing else "all"
    return record, [Check(name, not missing, "all", actual)]


def _listing_of_targets(
    client: OktaClient, since: str, target_ids: Sequence[str]
) -> Callable[[], list[JsonObject]]:
    """A listing of the System Log events of ``target_ids`` since ``since`` (a few ids per
    query), for :func:`_until_shown` to call until our writes show. A failed read raises."""

    def listed() -> list[JsonObject]:
        events: list[JsonObject] = []
        for start in range(0, len(target_ids), CONFIRM_BATCH):
            chunk = target_ids[start : start + CONFIRM_BATCH]
            events += logs.list_log_events(
                client, since=since, filter=logs.target_filter(chunk), limit=1000
            )
        return events

    return listed


def _listing_of_type(
    client: OktaClient,
    since: str,
    event_type: str,
    target_ids: Sequence[str],
    request_ids: set[str],
) -> Callable[[], list[JsonObject]]:
    """A listing of the ``event_type`` events since ``since`` that concern ``target_ids`` or
    carry one of ``request_ids``, oldest first, for :func:`_until_shown` to call.

    Listed by type (full pages), then filtered here. Each call lists again from
    ``since`` (an event may be indexed after later ones, so a relisting does not start
    from the last one seen) and keeps the events of every call once, by ``uuid``. A
    failed read raises.
    """
    wanted = set(target_ids)
    escaped = event_type.replace("\\", "\\\\").replace('"', '\\"')
    query = f'eventType eq "{escaped}"'
    found: dict[str, JsonObject] = {}

    def listed() -> list[JsonObject]:
        for event in logs.list_log_events(client, since=since, filter=query, limit=logs.MAX_LIMIT):
            ids = {dig(t, "id") for t in arr(event.get("target"))}
            if _request_id(event) in request_ids or ids & wanted:
                found.setdefault(str(event.get("uuid") or len(found)), event)
        return sorted(found.values(), key=lambda e: str(e.get("published") or ""))

    return listed


def _until_shown(
    listed: Callable[[], list[JsonObject]],
    request_ids: set[str],
    *,
    wait_s: float,
    sleep: Callable[[float], None],
) -> list[JsonObject]:
    """``listed()``, called again with a growing pause (Okta publishes events within
    seconds) until its events carry every one of ``request_ids`` or ``wait_s`` has passed."""
    deadline = time.monotonic() + wait_s
    delay = 0.5
    while True:
        events = listed()
        if request_ids <= {_request_id(e) for e in events} or time.monotonic() >= deadline:
            return events
        sleep(delay)
        delay = min(delay * 2, 4.0)


def _own_writes(journal: Sequence[JournalEntry]) -> tuple[list[JournalEntry], set[str]]:
    """A journal slice's writes (the simulation's read-only POST aside) and the request ids
    of those Okta answered without an error."""
    writes = [e for e in journal if e.method != "GET" and not _is_simulation(e.path)]
    own = {e.request_id for e in writes if e.request_id and e.status is not None and e.status < 400}
    return writes, own
