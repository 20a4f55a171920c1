"""JSON schemas of the evidence's data: ``Plan.to_dict()``, ``ApplyResult.to_dict()``, ...

Generated from the dataclasses of :mod:`kmsi_lib.engine.model` (pydantic's
schema of a dataclass), then fitted to what ``to_dict()`` writes: every field
is always present (``Plan.warnings`` and ``Plan.impact`` only when there are any), a
verification also holds ``ok`` and an apply result ``procedure``; no other
key. The committed copies are ``docs/schemas/<name>.json``; regenerate them
with ``python -m kmsi_lib.engine.schemas docs/schemas`` (a test fails when one
is stale).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pydantic

from kmsi_lib.engine.impact import PlanImpact
from kmsi_lib.engine.model import ApplyResult, Plan, Verification

__all__ = ["SCHEMAS", "json_schema", "main", "schema_text"]

#: Schema name -> the dataclass whose ``to_dict()`` it describes.
SCHEMAS: dict[str, type[Any]] = {
    "apply_result": ApplyResult,
    "impact": PlanImpact,
    "plan": Plan,
    "verification": Verification,
}

#: Keys ``to_dict()`` writes beside the dataclass fields, by class name.
_EXTRA: dict[str, dict[str, Any]] = {
    "ApplyResult": {"procedure": {"title": "Procedure", "type": "string"}},
    "Verification": {"ok": {"title": "Ok", "type": "boolean"}},
}
#: Keys written only when not empty (older evidence lacks them, and keeps its digest).
_OPTIONAL: dict[str, set[str]] = {"Plan": {"impact", "warnings"}}


def _fit(schema: dict[str, Any]) -> None:
    title = str(schema.get("title", ""))
    properties: dict[str, Any] = schema.setdefault("properties", {})
    properties.update(_EXTRA.get(title, {}))
    schema["required"] = sorted(set(properties) - _OPTIONAL.get(title, set()))
    schema["additionalProperties"] = False


def json_schema(name: str) -> dict[str, Any]:
    """The JSON schema (draft 2020-12) of ``SCHEMAS[name]``'s ``to_dict()``."""
    cls = SCHEMAS[name]
    schema: dict[str, Any] = pydantic.TypeAdapter(cls).json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    _fit(schema)
    for definition in schema.get("$defs", {}).values():
        _fit(definition)
    return schema


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
