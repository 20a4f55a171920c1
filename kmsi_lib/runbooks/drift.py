"""``kmsi drift``: has anyone changed what our last applies set, since they were verified?

::

    kmsi drift [--evidence-root evidence] [--json drift.json]

A plan catches drift at apply time only. This command compares the org with
the last verified apply of each procedure recorded in an evidence root:

1. The evidence root's ledger must verify (a chain that does not is not a
   baseline to trust: exit 2).
2. Per procedure (pre-auth, post-auth, prompt text; a rollback counts for the
   procedure it rolled back), the last apply run that succeeded, wrote, and
   whose verification passed is the baseline.
3. Each object it wrote is read again; every field that apply changed (its
   plan's diffs: only the fields the procedure owns) is compared with the
   object as the apply left it (durations by meaning). An object that is gone
   is drift too.
4. Every policy it wrote a rule in is listed again: a rule created since the
   apply finished (from the second its record gives) that neither it nor a later
   recorded apply wrote was added out of band.

The table goes to stdout and, with ``--json``, the findings to a file. Exit 0:
no drift; 1: drift; 2: could not check (no evidence, the ledger does not
verify, credentials, the org cannot be read). Read-only: the client asks for
the read scopes of the procedures only, so the command is safe to run from
cron or CI (``docs/examples/``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kmsi_lib import evidence
from kmsi_lib.engine import ObjectRef, get_kind, get_path, same_value, utc_now
from kmsi_lib.errors import KmsiError
from kmsi_lib.jsontypes import JsonMap, JsonObject, JsonValue, arr, dig, instant, obj
from kmsi_lib.okta.resources import policies as policies_api

if TYPE_CHECKING:
    from kmsi_lib.okta.client import OktaClient

__all__ = ["DriftItem", "DriftReport", "add_arguments", "created_since", "find_drift", "main"]

#: Procedures whose applies leave state in the org (a reset and the audit do not).
TRACKED = ("pre_auth", "post_auth", "prompt_text")
#: Read scopes only: drift never writes.
READ_SCOPES = (
    "okta.apps.read",
    "okta.brands.read",
    "okta.groups.read",
    "okta.policies.read",
)


@dataclass(frozen=True)
class DriftItem:
    """One difference between the org and the last verified apply."""

    procedure: str
    run_id: str
    object: str
    field: str
    expected: JsonValue
    actual: JsonValue
    what: str  # "changed", "deleted" or "rule added out of band"


@dataclass
class DriftReport:
    """What ``kmsi drift`` found (JSON round trip through ``to_dict``)."""

    checked_at: str
    evidence_root: str
    baselines: list[dict[str, str]]
    items: list[DriftItem]
    error: str = ""

    @property
    def status(self) -> str:
        return "error" if self.error else ("drift" if self.items else "none")

    def to_dict(self) -> dict[str, object]:
        """The report for ``--json`` (what ``json.dumps`` writes)."""
        return {
            "checked_at": self.checked_at,
            "evidence_root": self.evidence_root,
            "status": self.status,
            "error": self.error,
            "baselines": self.baselines,
            "drift": [asdict(i) for i in self.items],
        }

    def to_text(self) -> str:
        if self.error:
            return f"kmsi drift: could not check: {self.error}"
        lines = [
            f"kmsi drift at {self.checked_at}: {len(self.baselines)} baseline(s) in"
            f" {self.evidence_root}"
        ]
        lines += [f"  {b['procedure']}: {b['run_id']} ({b['finished_at']})" for b in self.baselines]
        if not self.items:
            lines.append("No drift: the org matches the last verified apply of each procedure.")
            return "\n".join(lines)
        lines.append(f"{len(self.items)} difference(s):")
        rows = [["procedure", "object", "field", "expected", "now", "what"]]
        rows += [
            [i.procedure, i.object, i.field, _show(i.expected), _show(i.actual), i.what]
            for i in self.items
        ]
        widths = [max(len(r[n]) for r in rows) for n in range(len(rows[0]))]
        lines += [
            "  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows
        ]
        return "\n".join(lines)


def _show(value: JsonValue) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."


def _baselines(root: Path) -> list[tuple[str, JsonObject]]:
    """(procedure, record) of the last verified apply per tracked procedure, in ledger order."""
    last: dict[str, JsonObject] = {}
    for entry in evidence.check_ledger(root):
        if entry.get("kind") != "run" or entry.get("mode") != "apply":
            continue
        if entry.get("status") != "succeeded" or entry.get("outcome") != "applied":
            continue
        path = root / str(entry["path"]) / "record.json"
        record = json.loads(path.read_text("utf-8"))
        if not isinstance(record, dict):
            raise KmsiError(f"{path} is not a JSON object")
        if not dig(record, "verification", "ok"):
            continue
        procedure = str(record.get("procedure"))
        if procedure == "rollback":
            procedure = str(dig(record, "plan", "params", "rolls_back", "procedure") or "")
        if procedure in TRACKED:
            last[procedure] = record
    return list(last.items())


def _owned_paths(record: JsonMap) -> dict[tuple[str, str], list[str]]:
    """(kind, name) -> the field paths the apply's plan changed on that object."""
    owned: dict[tuple[str, str], list[str]] = {}
    for change in arr(dig(record, "plan", "changes")):
        ref = obj(dig(change, "ref"))
        key = (str(ref.get("kind")), str(ref.get("name") or ref.get("id")))
        owned.setdefault(key, []).extend(str(obj(d)["path"]) for d in arr(dig(change, "diffs")))
    return owned


def find_drift(client: OktaClient, root: Path) -> DriftReport:
    """Compare the org behind ``client`` with the baselines in ``root`` (reads only)."""
    import kmsi_lib.procedures  # noqa: F401  (registers the object kinds the procedures write)

    report = DriftReport(utc_now(), str(root), [], [])
    verified = evidence.verify(root)
    if not verified.ok:
        report.error = f"the evidence root does not verify: {verified.problems[0]}"
        return report
    baselines = _baselines(root)
    if not baselines:
        report.error = f"no verified apply of {', '.join(TRACKED)} in {root}"
        return report
    written_later: set[str] = set()
    for procedure, record in reversed(baselines):
        report.baselines.insert(
            0,
            {
                "procedure": procedure,
                "run_id": str(record.get("run_id")),
                "finished_at": str(record.get("finished_at")),
            },
        )
        report.items[:0] = _compare(client, procedure, record, written_later)
        for state in arr(record.get("before_state")):
            after = obj(dig(state, "after_written"))
            if after.get("id"):
                written_later.add(str(after["id"]))
    return report


def _compare(
    client: OktaClient, procedure: str, record: JsonMap, written_later: set[str]
) -> list[DriftItem]:
    run_id = str(record.get("run_id"))
    owned = _owned_paths(record)
    items: list[DriftItem] = []
    policies: set[str] = set()
    ours: set[str] = set()
    for state in arr(record.get("before_state")):
        ref = ObjectRef.from_dict(obj(obj(state)["ref"]))
        after = dig(state, "after_written")
        if not isinstance(after, Mapping) or ref.kind not in ("policy", "rule", "sign_in_page"):
            continue
        obj_id = str(after.get("id") or ref.id or "")
        ours.add(obj_id)
        live = ObjectRef(ref.kind, obj_id or ref.id, ref.name, ref.parent_id)
        if ref.kind == "rule" and ref.parent_id and not ref.parent_id.startswith("$"):
            policies.add(ref.parent_id)
        now = get_kind(ref.kind).read(client, live)
        label = live.label()
        if now is None:
            items.append(DriftItem(procedure, run_id, label, "", "present", None, "deleted"))
            continue
        for path in owned.get((ref.kind, str(ref.name or ref.id)), []):
            expected, actual = get_path(after, path), get_path(now, path)
            if not same_value(path, actual, expected):
                items.append(DriftItem(procedure, run_id, label, path, expected, actual, "changed"))
    finished = record.get("finished_at")
    for policy_id in sorted(policies):
        for rule in policies_api.list_rules(client, policy_id):
            rid = str(rule.get("id"))
            if (
                rid in ours
                or rid in written_later
                or not created_since(rule.get("created"), finished)
            ):
                continue
            label = ObjectRef("rule", rid, str(rule.get("name")), policy_id).label()
            items.append(
                DriftItem(
                    procedure, run_id, label, "", None, rule.get("name"), "rule added out of band"
                )
            )
    return items


def created_since(created: object, finished: object) -> bool:
    """Whether a rule created at ``created`` may have come after an apply that finished at
    ``finished``: anything not known to be older than the second the apply finished in.

    A record's ``finished_at`` is kept to the second, and Okta's ``created`` to the
    millisecond; compared as text, ``...56.500Z`` sorted before ``...56Z`` and a rule
    added in that second was missed. A rule created earlier in that same second is
    reported too: it is not one the apply wrote either. Times that cannot be read
    (:func:`~kmsi_lib.jsontypes.instant`) count as since (reported rather than hidden).
    """
    made, done = instant(created), instant(finished)
    return made is None or done is None or made >= done


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--evidence-root", type=Path, default=Path("evidence"), help="where the runs are recorded"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the findings here")


def main(args: argparse.Namespace) -> int:
    """Exit 0 no drift, 1 drift, 2 could not check."""
    from kmsi_lib.okta.client import OktaClient

    root: Path = args.evidence_root
    try:
        if not (root / "ledger.jsonl").is_file():
            raise KmsiError(f"no evidence ledger at {root / 'ledger.jsonl'}")
        with OktaClient.from_env(scopes=READ_SCOPES) as client:
            report = find_drift(client, root)
    except KmsiError as exc:
        report = DriftReport(utc_now(), str(root), [], [], error=str(exc))
    print(report.to_text())
    if args.json is not None:
        args.json.write_text(json.dumps(report.to_dict(), indent=2, default=str) + "\n")
    sys.stdout.flush()
    return {"none": 0, "drift": 1}.get(report.status, 2)
