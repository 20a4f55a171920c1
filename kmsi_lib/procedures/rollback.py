"""Roll back an apply: put every object it wrote back as it was before.

The input is an :class:`~kmsi_lib.engine.ApplyResult`: a path to an
apply run's ``result.json`` or ``record.json`` (or its run directory) in an
evidence root, or, from Python code only, the dict itself. A path is trusted
only once that run's evidence verifies (its root's ledger lists it, the chain
is intact and extends its anchor, the file's sha256 is the ledger's), and the
apply result is parsed from the bytes that were hashed; ``kmsi run`` also
requires the run to be in its own ``--evidence-root``. A dict is taken as
given: the caller vouches for it (tests, or code that just made the apply).
Its ``before_state`` says, per object, what it was before the apply and what
the apply left. The rollback plan

* deletes what the apply created,
* PUTs back the exact before object (read-only server fields removed) of
  everything it updated, and deletes an object that did not exist before,
* puts back the priorities of sibling rules Okta shifted when the apply took
  a priority (writes in ascending priority order, so each lands where it was).

Drift check (the safe choice): if any object now differs from what the apply
left (someone changed it after the apply), the whole rollback is refused
with a :class:`~kmsi_lib.errors.StalePlanError` naming each object and field,
and nothing is written. To overwrite such an object anyway, list its id in
``force_objects``. An object deleted since the apply cannot be restored under
its id and always blocks the rollback. Session revocations cannot be undone.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pydantic

from kmsi_lib import engine, evidence
from kmsi_lib.engine import (
    AllowUnusualValues,
    Apply,
    ApplyResult,
    BeforeRecord,
    Change,
    Check,
    ObjectRef,
    ParamsModel,
    Plan,
    Procedure,
    Reader,
    Verification,
    bounds,
)
from kmsi_lib.errors import EvidenceError, ParameterError, StalePlanError
from kmsi_lib.jsontypes import JsonMap, JsonObject, JsonValue, obj
from kmsi_lib.procedures import REGISTRY
from kmsi_lib.runbooks.contract import APPLIES_DIR, SESSION_APPLY_FILE

if TYPE_CHECKING:
    from kmsi_lib.okta.client import OktaClient

__all__ = [
    "NAME",
    "PROCEDURE",
    "Params",
    "apply",
    "is_session_apply",
    "load_apply_result",
    "plan",
    "verify",
    "verify_evidence_inputs",
]

NAME = "rollback"


class Params(ParamsModel):
    """Parameters of a rollback."""

    # an inline result stays opaque here: ApplyResult.from_dict checks its shape
    apply_result: Annotated[str, bounds.PATH] | dict[str, object] = pydantic.Field(
        description="Path to the apply run's result.json (or record.json) in its evidence; "
        "Python code may pass the apply result dict itself."
    )
    force_objects: Annotated[list[Annotated[str, bounds.NAME]], bounds.FEW] = pydantic.Field(
        default_factory=list,
        description="Ids of objects changed since the apply that may be overwritten anyway.",
    )
    allow_unusual_values: AllowUnusualValues

    @pydantic.field_validator("apply_result")
    @classmethod
    def _named(cls, value: str | dict[str, object]) -> str | dict[str, object]:
        if isinstance(value, str) and value.strip().rstrip("/") in ("", "."):
            raise ValueError(
                "name the apply result to roll back: the path of the apply run's result.json"
                " (or its run directory), or a form session's applies/NN-procedure-result.json"
            )
        return value


def _containing_root(path: Path) -> Path:
    """The evidence root a run's file (or run directory) sits in: ``<root>/<change>/<run>``.

    Taken from the path as written, not resolved: a run directory that is a
    link to another root is then refused as a link, not verified over there.
    """
    absolute = Path(os.path.abspath(path))
    run_dir = absolute if absolute.is_dir() else absolute.parent
    return run_dir.parent.parent


def _verified_apply_run(
    path: Path, *, evidence_root: Path | None, expect: Sequence[str] = ()
) -> evidence.VerifiedRun:
    """The apply run ``path`` names, verified in ``evidence_root`` (default: its own root)."""
    if not path.exists() and not path.is_symlink():
        raise ParameterError("apply_result", f"no file at {str(path)!r}")
    root = _containing_root(path) if evidence_root is None else evidence_root
    try:
        run = evidence.verified_run(root, path, expect=expect)
    except EvidenceError as exc:
        raise ParameterError(
            "apply_result",
            f"{str(path)!r} is not verified evidence of an apply, so its before-state is not "
            f"trusted: {exc}",
        ) from None
    if run.name not in (evidence.RESULT_FILE, evidence.RECORD_FILE):
        raise ParameterError(
            "apply_result", f"name the apply run's result.json or record.json, not {run.name}"
        )
    if run.record.get("mode") != "apply":
        raise ParameterError(
            "apply_result",
            f"the run {run.rel} was a {run.record.get('mode')!r} run, not an apply",
        )
    return run


def verify_evidence_inputs(
    values: JsonMap, *, evidence_root: Path, expect: Sequence[str] = ()
) -> dict[str, str]:
    """For ``kmsi run``: ``apply_result`` must be an apply run recorded in ``evidence_root``.

    Checked before the kernel starts (so before any request to the org);
    returns the verified file's absolute path for the kernel, which checks the
    same evidence again when it reads it.
    """
    value = values.get("apply_result")
    if not isinstance(value, str) or not value:
        raise ParameterError("apply_result", "name the apply run's result.json in the evidence")
    path = Path(value).expanduser()
    run = _verified_apply_run(path, evidence_root=evidence_root, expect=expect)
    return {"apply_result": str(run.run_dir / run.name)}


def _session_apply(path: Path) -> JsonValue:
    """The JSON of a form session's apply file (``applies/NN-procedure-result.json``)."""
    text = engine.read_text_file(
        path, field="apply_result", name="apply result (JSON)", max_bytes=_SESSION_FILE_BYTES
    )
    try:
        decoded: JsonValue = json.loads(text)  # a JSON document decodes to JSON values
    except ValueError as exc:
        raise ParameterError("apply_result", f"{str(path)!r} is not JSON ({exc})") from None
    return decoded


#: A form session's apply result is a plan, a journal and a verification: a few MB at most.
_SESSION_FILE_BYTES = 32 * 1024 * 1024


def is_session_apply(path: Path) -> bool:
    """Whether ``path`` names a form session's apply file (``applies/NN-procedure-result.json``,
    :data:`~kmsi_lib.runbooks.contract.SESSION_APPLY_FILE`)."""
    return path.parent.name == APPLIES_DIR and SESSION_APPLY_FILE.match(path.name) is not None


def load_apply_result(
    value: str | JsonMap, *, evidence_root: Path | None = None, sandbox: bool = False
) -> ApplyResult:
    """Load an apply result from a dict or a path to verified evidence; ParameterError if unusable.

    A path must name an apply run's result.json or record.json (or its
    directory) whose evidence verifies in its evidence root (``evidence_root``
    when given, else the root the run sits in); the apply result is parsed
    from the hashed bytes. A dict is trusted as given (Python callers only).
    With ``sandbox`` (the org is the sandbox: nothing real can be harmed), a form
    session's own apply file (:func:`is_session_apply`) is read as it is, so a
    trainee rolls back exactly the apply they made; against a real org it is refused.
    The module of the procedure that made it is imported, so that the kinds of
    object it wrote can be read and written again.
    """
    data: object = value
    if isinstance(value, str):
        path = Path(value).expanduser()
        if is_session_apply(path) and not sandbox:
            raise ParameterError(
                "apply_result",
                f"{value!r} is a form session's record, not ledger evidence: only the sandbox"
                " rolls those back; against a real org name a recorded apply run (kmsi run)",
            )
        if is_session_apply(path):
            data = _session_apply(path)
        else:
            data = _verified_apply_run(path, evidence_root=evidence_root).json()
    if isinstance(data, dict) and "apply_result" in data:
        data = data["apply_result"]  # a runbook's result.json or the evidence record.json
    if not isinstance(data, dict):
        raise ParameterError(
            "apply_result", "holds no apply result (was the run only a plan, or did it fail?)"
        )
    try:
        result = ApplyResult.from_dict(data)
    except ParameterError as exc:
        raise ParameterError("apply_result", f"{exc.field}: {exc.message}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise ParameterError(
            "apply_result", f"is not an apply result as kmsi writes it ({exc!r} is wrong)"
        ) from None
    if result.plan.procedure in REGISTRY:
        REGISTRY[result.plan.procedure]  # importing the module registers the kinds it writes
    return result


def _drift(record: BeforeRecord, current: JsonObject | None) -> str | None:
    if engine.canonical(current) == engine.canonical(record.after_written):
        return None
    if current is None:
        return f"{record.ref.label()}: deleted since the apply"
    fields = engine.diff(record.after_written, current)
    shown = ", ".join(f"{d.path} is now {d.after!r} (the apply left {d.before!r})" for d in fields)
    return f"{record.ref.label()}: {shown or 'changed'}"


def _sort_key(change: Change) -> tuple[int, str, int]:
    # deletes first (they free priorities), then updates by target priority within a policy
    if change.action == "delete":
        return (0, "", 0)
    priority = (change.after or {}).get("priority")
    return (1, change.ref.parent_id or "", priority if isinstance(priority, int) else 10_000)


def _build(client: OktaClient, params: Params, applied: ApplyResult) -> Plan:
    engine.check_same_org(client, applied.plan.org_url, field="apply_result")
    procedure = applied.plan.procedure
    if procedure == "reset_sessions":
        raise ParameterError(
            "apply_result", "a session revocation cannot be undone; there is nothing to roll back"
        )
    reader = Reader(client)
    changes: list[Change] = []
    notes: list[str] = []
    refused: list[str] = []
    blocked: list[str] = []
    touched: set[str] = set()

    def drifted(record: BeforeRecord, current: JsonObject | None) -> bool:
        problem = _drift(record, current)
        if problem is None or (record.ref.id and record.ref.id in params.force_objects):
            return False
        refused.append(problem)
        return True

    if not applied.before_state:
        notes.append("the apply wrote nothing, so there is nothing to roll back")
    orders = [r for r in applied.before_state if r.action == "reorder"]
    for record in reversed(applied.before_state):
        ref = record.ref
        if record.action == "reorder":
            continue
        if record.action not in ("create", "update", "delete"):
            notes.append(f"{ref.label()}: a {record.action} cannot be undone; left as it is")
            continue
        current = reader.object(ref)
        if record.action == "create" or (record.action == "update" and record.before is None):
            if current is None:
                notes.append(f"{ref.label()} no longer exists; nothing to delete")
            elif not drifted(record, current):
                changes.append(Change.delete(ref, current, note="did not exist before the apply"))
                touched.add(ref.id or "")
        elif record.action == "update":
            assert record.before is not None
            want = engine.writable(record.before)
            if current is None:
                blocked.append(f"{ref.label()}: deleted since the apply; it cannot be restored")
            elif not engine.diff(engine.writable(current), want):
                notes.append(f"{ref.label()} is already as it was before the apply")
                touched.add(ref.id or "")
            elif not drifted(record, current):
                change = Change.update(ref, current, want, note="restore the state before")
                touched.add(ref.id or "")
                if change.diffs:
                    changes.append(change)
        else:  # the apply deleted it: create it again (Okta gives it a new id)
            if current is None and record.before is not None:
                new_ref = ObjectRef(ref.kind, None, ref.name, ref.parent_id)
                body = engine.writable(record.before)
                again = engine.get_kind(ref.kind).find_by_name(client, new_ref, body)
                if again is not None:  # recreated by a rollback done before
                    notes.append(f"{ref.label()} was recreated already (now {again.get('id')})")
                    continue
                changes.append(Change.create(new_ref, body, note=f"recreate (was {ref.id})"))

    for record in orders:
        before = obj((record.before or {}).get("priorities"))
        left = obj((record.after_written or {}).get("priorities"))
        pid = record.ref.parent_id or ""
        now = reader.rule_order(pid)
        for rule_id, priority in before.items():
            if rule_id in touched or rule_id not in left:
                continue
            sibling = ObjectRef("rule", rule_id, None, pid)
            if now.get(rule_id) == priority:
                continue  # already back where it was (a rollback done before)
            if now.get(rule_id) != left[rule_id] and rule_id not in params.force_objects:
                refused.append(
                    f"{sibling.label()}: priority is now {now.get(rule_id)!r}"
                    f" (the apply left {left[rule_id]!r})"
                )
                continue
            if left[rule_id] == priority:
                continue
            current = reader.object(sibling)
            if current is None:
                continue
            sibling = ObjectRef("rule", rule_id, current.get("name"), pid)
            want = engine.writable(current) | {"priority": priority}
            changes.append(
                Change.update(sibling, current, want, note="priority Okta shifted during the apply")
            )

    if blocked or refused:
        advice = (
            " To overwrite an object changed since the apply, list its id in force_objects."
            if refused
            else ""
        )
        raise StalePlanError(
            "rollback refused, nothing was written: " + "; ".join(blocked + refused) + "." + advice
        )
    changes.sort(key=_sort_key)
    source = params.apply_result if isinstance(params.apply_result, str) else "(inline)"
    made_with: JsonObject = {
        "apply_result": source,
        "force_objects": list(params.force_objects),
        "allow_unusual_values": list(params.allow_unusual_values),
        "rolls_back": {
            "procedure": procedure,
            "started_at": applied.started_at,
            "plan_fingerprint": applied.plan.fingerprint,
        },
    }
    return reader.plan(NAME, made_with, changes, notes)


def _is_sandbox(client: OktaClient) -> bool:
    """The org is the sandbox (loopback or in-process), as the witness layer decides it."""
    return engine.is_local(str(getattr(client, "org_url", "")))


def plan(client: OktaClient, params: ParamsModel | JsonMap) -> Plan:
    """Plan the reverse of an apply; refuses (StalePlanError) if objects drifted since."""
    checked = engine.parse_params(Params, params)
    # refused before any request to the org
    applied = load_apply_result(checked.apply_result, sandbox=_is_sandbox(client))
    client.require_identity_engine()
    return _build(client, checked, applied)


#: Applies a rollback plan (re-reads first; a stale plan writes nothing).
apply = Apply(NAME)


def verify(client: OktaClient, params: ParamsModel | JsonMap) -> Verification:
    """Check that every object the apply wrote is back as it was before."""
    checked = engine.parse_params(Params, params)
    applied = load_apply_result(checked.apply_result, sandbox=_is_sandbox(client))
    reader = Reader(client)
    checks: list[Check] = []
    for record in applied.before_state:
        ref = record.ref
        if record.action == "reorder":
            pid = ref.parent_id or ""
            now = reader.rule_order(pid)
            for rule_id, priority in obj((record.before or {}).get("priorities")).items():
                actual = now.get(rule_id)
                checks.append(
                    Check(f"rule {rule_id} in {pid} priority", actual == priority, priority, actual)
                )
            continue
        if record.action not in ("create", "update"):
            continue
        current = reader.object(ref)
        if record.before is None:
            checks.append(Check(f"{ref.label()} is absent", current is None, None, current))
        else:
            want = engine.writable(record.before)
            ok = current is not None and not engine.diff(engine.writable(current), want)
            checks.append(Check(f"{ref.label()} is as before the apply", ok, want, current))
    return Verification(checks)


PROCEDURE = Procedure(
    name=NAME,
    title="Roll back an apply",
    # what the reversible procedures (pre_auth, post_auth, prompt_text) write and read
    scopes=(
        "okta.brands.manage",
        "okta.brands.read",
        "okta.logs.read",
        "okta.policies.manage",
        "okta.policies.read",
    ),
    params=Params,
    plan=plan,
    apply=apply,
    verify=verify,
    verify_evidence_inputs=verify_evidence_inputs,
)
