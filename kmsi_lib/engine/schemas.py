"""JSON schemas of the evidence's data: ``Plan.to_dict()``, ``ApplyResult.to_dict()``, ...

Generated from the pydantic models (:mod:`kmsi_lib.engine.model`, the impact
section's dataclasses, :class:`~kmsi_lib.runbooks.contract.RunResult` and
:class:`~kmsi_lib.runbooks.contract.RunRecord`) as their serialization schemas: the
models say themselves which keys are always written, which are left out when
empty (``Plan.warnings`` and ``Plan.impact``), which are computed
(``Verification.ok``, ``ApplyResult.procedure``), and that no other key is
allowed. The committed copies are ``docs/schemas/<name>.json``; regenerate them
with ``python -m kmsi_lib.engine.schemas docs/schemas`` (a test fails when one
is stale).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pydantic

from kmsi_lib.engine.impact import PlanImpact
from kmsi_lib.engine.model import ApplyResult, Plan, Verification
from kmsi_lib.jsontypes import JsonObject
from kmsi_lib.runbooks.contract import RunRecord, RunResult

__all__ = ["SCHEMAS", "json_schema", "main", "schema_text"]

#: Schema name -> the model whose JSON it describes.
SCHEMAS: dict[str, type[object]] = {
    "apply_result": ApplyResult,
    "impact": PlanImpact,
    "plan": Plan,
    "record": RunRecord,
    "run_result": RunResult,
    "verification": Verification,
}


def json_schema(name: str) -> JsonObject:
    """The JSON schema (draft 2020-12) of ``SCHEMAS[name]``'s JSON."""
    schema: JsonObject = pydantic.TypeAdapter(SCHEMAS[name]).json_schema(mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def schema_text(name: str) -> str:
    """:func:`json_schema` as the committed file holds it."""
    return json.dumps(json_schema(name), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write every schema into the directory named by the first argument."""
    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0] if args else "docs/schemas")
    folder.mkdir(parents=True, exist_ok=True)
    for name in SCHEMAS:
        (folder / f"{name}.json").write_text(schema_text(name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
