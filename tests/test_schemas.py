"""The committed JSON schemas are current, and real evidence validates against them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from procedure_support import ATTESTATION, apply_acknowledged, make_org

from kmsi_lib.engine import schemas
from kmsi_lib.procedures import pre_auth, reset_sessions

ROOT = Path(__file__).resolve().parent.parent
PRE_AUTH = {"groups": ["KMSI Pilot"], "apps": {"labels": ["Slack"]}, "factor_lifetime_minutes": 200}


@pytest.mark.parametrize("name", sorted(schemas.SCHEMAS))
def test_committed_schema_is_current(name: str) -> None:
    """docs/schemas/<name>.json is what the model generates now."""
    committed = (ROOT / "docs" / "schemas" / f"{name}.json").read_text()
    assert committed == schemas.schema_text(name), (
        f"docs/schemas/{name}.json is stale: run python -m kmsi_lib.engine.schemas docs/schemas"
    )


def _valid(name: str, data: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(schemas.json_schema(name)).validate(
        json.loads(json.dumps(data))
    )


def test_plans_results_and_verifications_of_real_runs_match_their_schemas() -> None:
    """A plan with a manual step, its apply and a bulk reset validate; an edited shape does not."""
    org = make_org()
    org.sandbox.admin.set_org_settings({"preAuthKmsi": True})  # the Admin Console step
    plan = pre_auth.plan(org.client, PRE_AUTH)
    _valid("plan", plan.to_dict())
    result = apply_acknowledged(pre_auth, org.client, plan, attestation=ATTESTATION)
    _valid("apply_result", result.to_dict())
    _valid("verification", pre_auth.verify(org.client, PRE_AUTH).to_dict())
    resets = {"group": "KMSI Pilot", "forget_devices": False, "oauth_tokens": True}
    reset = reset_sessions.apply(org.client, reset_sessions.plan(org.client, resets))
    _valid("apply_result", reset.to_dict())
    with pytest.raises(jsonschema.ValidationError):
        _valid("plan", {**plan.to_dict(), "surprise": 1})
    without = plan.to_dict()
    del without["digest"]
    with pytest.raises(jsonschema.ValidationError):
        _valid("plan", without)
