"""The apply engine: refuse a stale plan, write in plan order, read back, verify.

:func:`apply_plan` is what every writing procedure's ``apply`` calls
(:func:`start_apply` and :func:`refuse_stale` for those that write their own
way, like the bulk session resets). Rule priorities that Okta shifts are
recorded as ``rule_order`` before-records so that rollback can restore them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar, cast
from urllib.parse import urlsplit

from kmsi_lib.engine import conflicts as _conflicts
from kmsi_lib.engine.impact import check_acknowledgement
from kmsi_lib.engine.impact_plan import app_plan, recheck_reach
from kmsi_lib.engine.kinds import ObjectKind, get_kind
from kmsi_lib.engine.labels import labelled
from kmsi_lib.engine.model import (
    AppliedChange,
    ApplyResult,
    Attestation,
    BeforeRecord,
    Change,
    Check,
    ObjectRef,
    Plan,
    Verification,
    created_placeholder,
    utc_now,
)
from kmsi_lib.engine.params import ParamsModel, parse_params
from kmsi_lib.engine.paths import get_path, same_value
from kmsi_lib.engine.progress import report_write
from kmsi_lib.engine.reader import Reader, check_drift, register_lookup
from kmsi_lib.errors import KmsiError, OktaApiError, ParameterError, StalePlanError, TransportError
from kmsi_lib.jsontypes import JsonMap, JsonObject
from kmsi_lib.okta import protocol as _protocol
from kmsi_lib.okta.resources import policies

if TYPE_CHECKING:
    from kmsi_lib.engine.edit import Edit
    from kmsi_lib.engine.model import ManualStep
    from kmsi_lib.engine.select import ResolvedApp
    from kmsi_lib.okta.client import OktaClient

P = TypeVar("P", bound=ParamsModel)

__all__ = [
    "RULE_ORDER_KIND",
    "apply_plan",
    "check_procedure",
    "check_same_org",
    "is_local",
    "AppDraft",
    "plan_app_change",
    "refuse_stale",
    "start_apply",
]


@dataclass
class AppDraft:
    """What a procedure that changes chosen apps' authentication policies worked out:
    the apps, the changes, a check per owned field, notes, manual steps, the named groups
    (:meth:`add` takes each object's :class:`~.edit.Edit`)."""

    apps: Sequence[ResolvedApp]
    changes: list[Change] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    manual_steps: Sequence[ManualStep] = ()
    named_group_ids: list[str] | None = None

    def add(self, edit: Edit, note: str = "") -> Change | None:
        """Take one object's edit: its checks (an existing object must be active, noted if
        not), and its change when anything differs (that change, else None)."""
        edit.require_active(self.notes)
        self.checks += edit.checks
        change = edit.change(note=note)
        if change is not None:
            self.changes.append(change)
        return change


def plan_app_change(
    client: OktaClient,
    procedure: str,
    model: type[P],
    params: ParamsModel | JsonMap,
    draft: Callable[[OktaClient, P, Reader], AppDraft],
    *,
    impact: bool = True,
) -> tuple[Plan, list[Check]]:
    """The plan and checks of a procedure that changes the authentication policies of chosen
    apps: ``params`` checked against ``model`` (:class:`ParameterError`), then
    ``draft(client, params, reader)`` made into a plan (:func:`~.impact_plan.app_plan`).

    With ``impact`` (a plan, not a verification) a Classic Engine org is refused first,
    the plan gets its impact section, and it notes the requests it made (all of them,
    through ``reader``) and the fewest it needed. Reads only.
    """
    checked = parse_params(model, params)
    reader = Reader(client)
    if impact:
        client.require_identity_engine()
    found = draft(client, checked, reader)
    plan = app_plan(
        client,
        reader,
        procedure=procedure,
        params=checked.model_dump(mode="json"),
        apps=found.apps,
        changes=found.changes,
        notes=found.notes,
        manual_steps=found.manual_steps,
        named_group_ids=found.named_group_ids,
        impact=impact,
    )
    if impact:  # the note is part of what is approved: a new digest
        plan = plan.model_copy(update={"notes": [*plan.notes, reader.request_note()]})
        plan.digest = plan.content_digest()
    return plan, found.checks


def _resolve(ref: ObjectRef, ids: Mapping[str, str]) -> ObjectRef:
    return ObjectRef(
        ref.kind,
        ids.get(ref.id, ref.id) if ref.id else None,
        ref.name,
        ids.get(ref.parent_id, ref.parent_id) if ref.parent_id else None,
    )


def _create(kind: ObjectKind, client: OktaClient, ref: ObjectRef, body: JsonObject) -> JsonObject:
    try:
        return kind.create(client, ref, copy.deepcopy(body))
    except (OktaApiError, TransportError) as exc:
        if not exc.ambiguous:
            raise
        # The POST may have landed: adopt what is there rather than create a twin.
        existing = kind.find_by_name(client, ref, body)
        if existing is not None:
            return existing
        return kind.create(client, ref, copy.deepcopy(body))


def _verify_change(change: Change, now: JsonMap | None) -> list[Check]:
    label = change.ref.label()
    if change.action == "delete":
        return [
            Check(
                f"{label} is deleted",
                now is None,
                "(absent)",
                "(absent)" if now is None else "present",
            )
        ]
    if now is None:
        return [Check(f"{label} exists", False, "present", "(absent)")]
    checks = []
    for d in change.diffs:
        actual = get_path(now, d.path)
        checks.append(
            Check(
                f"{label} {labelled(d.path)}", same_value(d.path, actual, d.after), d.after, actual
            )
        )
    return checks


def is_local(url: str) -> bool:
    """Is ``url`` on a loopback address or the in-process sandbox host?"""
    return _protocol.is_local_host(urlsplit(url).hostname or "")


def check_procedure(plan: Plan, name: str) -> None:
    """Refuse (ParameterError on ``plan``) a plan made by another procedure than ``name``."""
    if plan.procedure != name:
        raise ParameterError("plan", f"this is a {plan.procedure!r} plan, not a {name!r} plan")


def check_same_org(client: OktaClient, org_url: str, *, field: str = "plan") -> None:
    """Refuse to act on another org's plan or apply result (ParameterError on ``field``).

    Loopback and in-process sandbox URLs are not compared: a sandbox served
    again gets a new port but is the same org.
    """
    here = str(getattr(client, "org_url", ""))
    if not org_url or not here or (is_local(org_url) and is_local(here)):
        return
    if org_url.rstrip("/").lower() != here.rstrip("/").lower():
        raise ParameterError(
            field, f"was made for {org_url}, but this client is connected to {here}"
        )


def start_apply(
    client: OktaClient,
    plan: Plan,
    attestation: Attestation | JsonMap | None,
    *,
    acknowledge_reach: int | None = None,
) -> ApplyResult:
    """The checks every apply makes before it reads the org; the (empty) result to fill.

    Refuses a plan edited after it was made (:class:`EvidenceError`), a plan
    with manual steps but no ``attestation`` and a plan made for another org
    (:class:`ParameterError`), and a plan whose reach is wider than what was named
    unless ``acknowledge_reach`` (or the plan's own parameter of that name) gives
    its size; the acknowledgement is noted in the result.
    """
    plan.check_digest()
    if isinstance(attestation, Mapping):
        attestation = Attestation.from_dict(attestation)
    if plan.manual_steps and attestation is None:
        steps = "; ".join(s.title for s in plan.manual_steps)
        raise ParameterError(
            "attestation",
            f"this plan has manual steps ({steps}); do them, then pass an attestation"
            " saying who did them, when, and what was done",
        )
    acknowledged = check_acknowledgement(plan.impact, plan.params, given=acknowledge_reach)
    check_same_org(client, plan.org_url)
    result = ApplyResult(plan=plan, attestation=attestation)
    if acknowledged:
        result.notes.append(acknowledged)
    return result


def refuse_stale(
    client: OktaClient,
    plan: Plan,
    what: str = "the org changed since the plan was made, so nothing was written",
    *,
    reader: Reader | None = None,
) -> None:
    """Refuse a Classic Engine org, and a plan whose reads no longer match the org.

    The :class:`StalePlanError` starts with ``what`` and names each changed object.
    With ``reader``, what the check read stays in it for the apply's later reads.
    """
    client.require_identity_engine()
    problems = check_drift(client, plan, reader)
    if problems:
        raise StalePlanError(f"{what}; make a new plan. Changed: " + "; ".join(problems))


def _may_have_landed(
    result: ApplyResult,
    written: list[tuple[Change, ObjectRef]],
    in_flight: tuple[Change, ObjectRef],
    why: str,
) -> None:
    """Count a write that was sent and never answered as written: it may have landed."""
    change, ref = in_flight
    result.notes.append(f"{change.action} of {ref.label()} {why}: it may have landed")
    result.applied.append(AppliedChange(change.with_ref(ref), None))
    written.append(in_flight)


def apply_plan(
    client: OktaClient,
    plan: Plan,
    *,
    attestation: Attestation | JsonMap | None = None,
    extra_checks: Callable[[OktaClient, ApplyResult], list[Check]] | None = None,
    acknowledge_reach: int | None = None,
) -> ApplyResult:
    """Apply ``plan``: refuse a stale plan, write each change in plan order, verify.

    * A plan with manual steps needs an ``attestation``
      (:class:`ParameterError` on ``attestation`` otherwise); it is recorded.
    * Every lookup the plan made is replayed first; if anything differs, a
      :class:`StalePlanError` names each object and field, and nothing is
      written. An empty plan writes nothing at all.
    * Changes are written in the order the plan lists them (procedures order
      them so that rule priorities land where intended); a change whose ref
      uses :func:`created_placeholder` gets the id created earlier.
    * A create whose answer was lost (``ambiguous`` error) is looked up by
      name and adopted if found, instead of being sent twice.
    * After all writes, every written object is read back: each planned field
      is checked (durations by meaning), and ``before_state`` records the
      object before and as left by the apply, for rollback.

    If a write fails, the error is raised with the partial :class:`ApplyResult`
    (outcome ``failed``) attached as ``error.apply_result`` so that what was
    already written can be rolled back.

    A plan edited after it was made (its :attr:`Plan.digest` no longer
    matches, e.g. a change's body altered in a notebook) is refused with an
    :class:`EvidenceError` before anything is read or written.
    """
    result = start_apply(client, plan, attestation, acknowledge_reach=acknowledge_reach)
    if plan.is_empty:
        result.outcome = "no-op"
        result.finished_at = utc_now()
        if extra_checks is not None:
            result.verification = Verification(extra_checks(client, result))
        return result

    # Okta's own record of who wrote what, noted before the drift check (lost-update detection)
    seen = Reader(client)  # counts the apply's requests from here
    witness = _conflicts.open_witness(client, [t.id for t in _witness_targets(plan.changes)])
    mark = len(client.journal.entries)
    # the drift check's reads answer the reach re-check and the rule orders (no second read)
    refuse_stale(client, plan, reader=seen)
    recheck_reach(client, plan, seen)
    reordered = _reordered_policies(plan)
    orders = {
        pid: _priorities(rules or [])
        for pid, rules in zip(reordered, seen.fetch_rules(reordered), strict=True)
    }
    ids: dict[str, str] = {}
    written: list[tuple[Change, ObjectRef]] = []
    in_flight: tuple[Change, ObjectRef] | None = None  # sent, not yet answered
    try:
        for index, change in enumerate(plan.changes):
            kind = get_kind(change.kind)
            ref = _resolve(change.ref, ids)
            body = copy.deepcopy(change.after) if change.after is not None else None
            answer: JsonObject | None
            if change.action != "manual":
                report_write("sending", index, change, ref)
                in_flight = (change, ref)
            if change.action == "create":
                assert body is not None, "a create change carries the body to send"
                answer = _create(kind, client, ref, body)
                new_id = answer.get("id") if answer else None
                if isinstance(new_id, str):
                    ids[created_placeholder(index)] = new_id
                    ref = ObjectRef(ref.kind, new_id, ref.name, ref.parent_id)
                    result.created.append(ref)
            elif change.action == "update":
                assert body is not None, "an update change carries the body to send"
                answer = kind.update(client, ref, body)
            elif change.action == "delete":
                kind.delete(client, ref)
                answer = None
            elif change.action == "manual":
                continue
            else:
                answer = kind.perform(client, change, ref)
            # the evidence keeps the real ids (a created object's, a new parent's)
            result.applied.append(AppliedChange(change.with_ref(ref), answer))
            written.append((change, ref))
            in_flight = None
            report_write("landed", index, change, ref, answer=answer)
    except KmsiError as exc:
        result.outcome = "failed"
        result.error = str(exc)
        if in_flight is not None and getattr(exc, "ambiguous", False):
            # sent, answer lost: the read-back and a rollback cover it too
            _may_have_landed(result, written, in_flight, "got no answer; its state is read back")
        _record_before_state(client, result, written, orders)
        result.finished_at = utc_now()
        exc.apply_result = result  # partial result for rollback
        raise
    except BaseException as exc:  # an interrupt (a cell timeout, Ctrl-C): no more requests
        result.outcome = "failed"
        result.error = f"interrupted ({type(exc).__name__}) after {len(written)} write(s)"
        if in_flight is not None:
            _may_have_landed(result, written, in_flight, "was being sent when the apply stopped")
        result.before_state = [
            BeforeRecord(ref, change.action, change.before, answer.result)
            for (change, ref), answer in zip(written, result.applied, strict=True)
            if change.action in ("create", "update", "delete")
        ]
        result.notes.append(
            "interrupted: the before-state is the plan's reading (confirmed by the drift check);"
            " nothing was read back"
        )
        result.finished_at = utc_now()
        exc.apply_result = result  # type: ignore[attr-defined]  # partial result for rollback
        raise

    _record_before_state(client, result, written, orders)
    checks: list[Check] = []
    for (change, ref), record in zip(written, result.before_state[: len(written)], strict=True):
        if change.action in ("create", "update", "delete"):
            checks.extend(_verify_change(change.with_ref(ref), record.after_written))
    checks.extend(_conflicts.rewritten_after_us(result.applied, result.before_state))
    targets = _witness_targets([change.with_ref(ref) for change, ref in written])
    others, notes = _conflicts.close_witness(
        client, witness, targets, client.journal.entries[mark:], record=result.system_log
    )
    checks.extend(others)
    result.notes.extend(notes)
    if extra_checks is not None:
        checks.extend(extra_checks(client, result))
    result.verification = Verification(checks)
    writes = sum(1 for c in plan.changes if c.action != "manual")
    least = seen.minimum_requests(plan.observations) + writes + len(orders)
    result.notes.append(
        f"requests made {seen.requests_made()} (minimum {least}: the plan's reads again,"
        f" {writes} write(s)"
        + (f", the rule order of {len(orders)} policies after them" if orders else "")
        + "; the others are the System Log witness and the reach re-check)"
    )
    result.outcome = "applied"
    result.finished_at = utc_now()
    return result


def _witness_targets(changes: Iterable[Change]) -> list[_conflicts.Target]:
    """The objects whose System Log events tell whether someone else wrote them meanwhile."""
    targets: dict[str, _conflicts.Target] = {}
    for change in changes:
        ref = change.ref
        if change.action == "manual" or not ref.id or ref.id.startswith("$created:"):
            continue
        targets.setdefault(
            ref.id, _conflicts.Target(ref.id, ref.label(), ref.kind in _conflicts.PRIMARY_ONLY)
        )
    return list(targets.values())


#: Kind of the :class:`BeforeRecord` that keeps a policy's rule priorities
#: (``before``/``after_written`` are ``{"priorities": {rule_id: priority}}``).
RULE_ORDER_KIND = "rule_order"


def _reordered_policies(plan: Plan) -> list[str]:
    """Existing policies whose rule priorities the plan's writes may shift."""
    out: list[str] = []
    for change in plan.changes:
        parent = change.ref.parent_id
        if change.kind != "rule" or not parent or parent.startswith("$created:"):
            continue
        moves = change.action in ("create", "delete") or any(
            d.path == "priority" for d in change.diffs
        )
        if moves and parent not in out:
            out.append(parent)
    return out


def _rule_orders(client: OktaClient, policy_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """``{policy_id: {rule_id: priority}}``: Okta shifts other rules when a priority is taken,
    so rollback needs the order of every rule, not only of the rules written."""
    return {pid: _priorities(policies.list_rules(client, pid)) for pid in policy_ids}


def _priorities(rules: Iterable[JsonMap]) -> dict[str, int]:
    return {str(r["id"]): cast("int", r.get("priority")) for r in rules}


def _order_record(order: Mapping[str, int]) -> JsonObject:
    """A rule order as a before-state record holds it."""
    return {"priorities": {rule_id: priority for rule_id, priority in order.items()}}


def _record_before_state(
    client: OktaClient,
    result: ApplyResult,
    written: Sequence[tuple[Change, ObjectRef]],
    orders: Mapping[str, Mapping[str, int]] | None = None,
) -> None:
    result.before_state = []
    answers = [a.result for a in result.applied]
    for n, (change, ref) in enumerate(written):
        now: JsonObject | None = change.after
        answer = answers[n] if n < len(answers) else None
        if change.action in ("create", "update", "delete"):
            try:
                kind = get_kind(change.kind)
                if change.action != "delete" and kind.answer_is_object and isinstance(answer, dict):
                    # Okta answers the write with the object as it stored it: that is the
                    # read-back (a later write by someone else is the System Log witness's)
                    now = copy.deepcopy(answer)
                else:
                    now = kind.read(client, ref)
            except KmsiError as exc:  # keep what we know; rollback re-reads anyway
                result.notes.append(f"could not read back {ref.label()}: {exc}")
        result.before_state.append(BeforeRecord(ref, change.action, change.before, now))
    if not orders:
        return
    try:
        after = _rule_orders(client, list(orders))
    except KmsiError as exc:
        result.notes.append(f"could not read back rule priorities: {exc}")
        return
    for pid, before in orders.items():
        if dict(before) != after.get(pid):
            result.before_state.append(
                BeforeRecord(
                    ObjectRef(RULE_ORDER_KIND, None, "rule priorities", pid),
                    "reorder",
                    _order_record(before),
                    _order_record(after.get(pid, {})),
                )
            )


def _lookup_rule_order(c: OktaClient, a: JsonMap) -> object:
    policy_id = str(a["policy_id"])
    return _rule_orders(c, [policy_id])[policy_id]


# rollback re-reads the rule priorities an apply recorded through this
register_lookup("rule_order", _lookup_rule_order)
