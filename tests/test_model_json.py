"""The model's JSON is the evidence: it stays byte for byte what it was.

``tests/fixtures/model/*.json`` were written by the dataclass model (before the
move to pydantic) from real procedure runs against the in-process sandbox: a
pre-auth plan with a manual step, its apply with an attestation and its
verification, a post-auth plan with warnings and an impact and its apply, a
bulk session reset, and a sign-in page text plan (no warnings, no impact). Each
must load, keep its digest, and be written again exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from procedure_support import ATTESTATION, apply_acknowledged, make_org

from kmsi_lib.engine.model import ApplyResult, Attestation, Plan, Verification
from kmsi_lib.errors import EvidenceError
from kmsi_lib.jsontypes import JsonObject
from kmsi_lib.procedures import pre_auth

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "model"
LOADERS = {"plan": Plan, "apply_result": ApplyResult, "verification": Verification}


def _cases() -> list[tuple[str, type[Plan] | type[ApplyResult] | type[Verification]]]:
    cases = []
    for path in sorted(FIXTURES.glob("*.json")):
        kind = next(k for k in LOADERS if path.stem.endswith(k))
        cases.append((path.name, LOADERS[kind]))
    return cases


def _text(data: JsonObject) -> str:
    return json.dumps(data, indent=2) + "\n"


@pytest.mark.parametrize(("name", "model"), _cases())
def test_recorded_json_loads_and_is_written_again_byte_for_byte(
    name: str, model: type[Plan] | type[ApplyResult] | type[Verification]
) -> None:
    """Same keys, same order, same omitted keys: the JSON of a loaded object is the file."""
    text = (FIXTURES / name).read_text()
    loaded = model.from_dict(json.loads(text))
    assert _text(loaded.to_dict()) == text


def test_fixtures_cover_the_optional_keys() -> None:
    """The pins hold a plan with warnings and impact, one without, and an attestation."""
    post = json.loads((FIXTURES / "post_auth_plan.json").read_text())
    text = json.loads((FIXTURES / "prompt_text_plan.json").read_text())
    pre = json.loads((FIXTURES / "pre_auth_plan.json").read_text())
    applied = json.loads((FIXTURES / "pre_auth_apply_result.json").read_text())
    assert post["warnings"] and post["impact"]
    assert "warnings" not in text and "impact" not in text and text["changes"]
    assert pre["manual_steps"]
    assert applied["attestation"] and applied["system_log"]


def test_a_recorded_plan_keeps_its_digest_and_an_edit_is_caught() -> None:
    """The digest recorded by the dataclasses is the digest of the loaded plan."""
    data = json.loads((FIXTURES / "post_auth_plan.json").read_text())
    plan = Plan.from_dict(data)
    assert plan.digest == data["digest"] == plan.content_digest()
    data["notes"] = [*data["notes"], "an edit"]
    with pytest.raises(EvidenceError):
        Plan.from_dict(data)


def _shape(value: object) -> object:
    """Keys in order, all the way down (lists by their first item): what a fixture pins.

    An empty list is ``"list"``, which :func:`_same_shape` takes as matching any list (a
    list that was empty when the fixture was recorded, e.g. ``notes``, may hold items now).
    """
    if isinstance(value, dict):
        return [(k, _shape(v)) for k, v in value.items()]
    if isinstance(value, list) and value:
        return [_shape(value[0])]
    return type(value).__name__


def _same_shape(made: object, recorded: object) -> bool:
    if "list" in (made, recorded) and (isinstance(made, list) or isinstance(recorded, list)):
        return True  # an empty list on one side, a list of items on the other
    if isinstance(made, list) and isinstance(recorded, list):
        return len(made) == len(recorded) and all(
            _same_shape(a, b) for a, b in zip(made, recorded, strict=True)
        )
    if isinstance(made, tuple) and isinstance(recorded, tuple):
        return made[0] == recorded[0] and _same_shape(made[1], recorded[1])
    return made == recorded


def test_a_fresh_plan_apply_and_verification_have_the_recorded_shape() -> None:
    """Made now against the sandbox, the JSON has the keys, in the order, of the fixtures."""
    org = make_org()
    org.sandbox.admin.set_org_settings({"preAuthKmsi": True})
    params = {
        "groups": ["KMSI Pilot"],
        "apps": {"labels": ["Slack"]},
        "factor_lifetime_minutes": 200,
    }
    plan = pre_auth.plan(org.client, params)
    result = apply_acknowledged(pre_auth, org.client, plan, attestation=Attestation(**ATTESTATION))
    verification = pre_auth.verify(org.client, params)
    for name, made in (
        ("pre_auth_plan", plan),
        ("pre_auth_apply_result", result),
        ("pre_auth_verification", verification),
    ):
        recorded = json.loads((FIXTURES / f"{name}.json").read_text())
        assert _same_shape(_shape(made.to_dict()), _shape(recorded)), name
