"""Shared procedure machinery: parameters, diffs, plans, apply engine, rendering.

The apply engine is exercised here against an in-memory object kind (a
dictionary standing in for an API), so that its ordering, drift and
failure rules are pinned without a sandbox; the procedure tests run the same
engine against the sandbox.
"""

from __future__ import annotations

import copy
import json
import types
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from kmsi_lib import engine as base
from kmsi_lib.durations import IsoDuration
from kmsi_lib.engine import (
    Attestation,
    Change,
    FieldDiff,
    ManualStep,
    Minutes,
    ObjectRef,
    ParamsModel,
    Plan,
    Reader,
)
from kmsi_lib.errors import (
    EvidenceError,
    KmsiError,
    ParameterError,
    StalePlanError,
    TransportError,
)
from kmsi_lib.procedures import NAMES, REGISTRY

# --------------------------------------------------------------------------- parameters


class _Params(ParamsModel):
    factor_lifetime_minutes: Minutes = 15
    frequency: IsoDuration = "P7D"
    labels: list[str] = []
    enabled: bool = True


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        pytest.param(
            {"factor_lifetime_minutes": "200"},
            "factor_lifetime_minutes",
            "must be a whole number of minutes (got '200')",
            id="string-minutes",
        ),
        pytest.param(
            {"factor_lifetime_minutes": True},
            "factor_lifetime_minutes",
            "must be a whole number of minutes (got True)",
            id="bool-minutes",
        ),
        pytest.param(
            {"factor_lifetime_minutes": -1},
            "factor_lifetime_minutes",
            "must be 0 or more (got -1)",
            id="negative-minutes",
        ),
        pytest.param(
            {"frequency": "7 days"},
            "frequency",
            "'7 days' is not an ISO-8601 duration",
            id="bad-duration",
        ),
        pytest.param(
            {"labels": ["Slack", 3]}, "labels[1]", "must be text (got 3)", id="list-index"
        ),
        pytest.param(
            {"frequncy": "P7D"},
            "frequncy",
            "is not a parameter of this procedure; the parameters are: enabled, factor_lifetime",
            id="unknown-parameter",
        ),
    ],
)
def test_parse_params_names_the_field_and_the_fix(
    data: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ParameterError) as info:
        base.parse_params(_Params, data)
    assert info.value.field == field
    assert message in info.value.message
    assert str(info.value).startswith(f"{field}: ")


def test_parse_params_reports_every_wrong_field() -> None:
    with pytest.raises(ParameterError) as info:
        base.parse_params(_Params, {"factor_lifetime_minutes": "x", "frequency": "P"})
    assert info.value.field == "factor_lifetime_minutes"
    assert "also frequency: 'P' is not an ISO-8601 duration" in info.value.message


def test_parse_params_accepts_valid_data_and_models() -> None:
    params = base.parse_params(_Params, {"factor_lifetime_minutes": 200, "frequency": "PT168H"})
    assert params.factor_lifetime_minutes == 200
    assert params.frequency == "PT168H"
    assert base.parse_params(_Params, params) is params


# --------------------------------------------------------------------------- object helpers


def test_writable_strips_read_only_fields_and_keeps_unknown_ones() -> None:
    rule = {
        "id": "0pr1",
        "created": "x",
        "lastUpdated": "y",
        "system": True,
        "_links": {"self": {}},
        "name": "Default Rule",
        "futureField": {"keep": [1, 2]},
    }
    body = base.writable(rule)
    assert body == {"name": "Default Rule", "futureField": {"keep": [1, 2]}}
    body["futureField"]["keep"].append(3)
    assert rule["futureField"] == {"keep": [1, 2]}, "writable returns a deep copy"


def test_get_and_set_path() -> None:
    obj: dict[str, Any] = {"actions": {"signon": None}}
    assert base.get_path(obj, "actions.signon.session.maxSessionIdleMinutes") is None
    base.set_path(obj, "actions.signon.session.maxSessionIdleMinutes", 120)
    assert obj == {"actions": {"signon": {"session": {"maxSessionIdleMinutes": 120}}}}
    assert base.get_path(obj, "actions.signon.session.maxSessionIdleMinutes") == 120


def test_diff_lists_each_changed_field_and_ignores_meaning_preserving_changes() -> None:
    before = {
        "name": "r",
        "priority": 1,
        "lastUpdated": "then",
        "actions": {
            "appSignOn": {
                "keepMeSignedIn": {"postAuth": "NOT_ALLOWED"},
                "verificationMethod": {"reauthenticateIn": "PT12H", "factorMode": "2FA"},
            }
        },
    }
    after = copy.deepcopy(before)
    after["lastUpdated"] = "now"
    after["actions"]["appSignOn"]["verificationMethod"]["reauthenticateIn"] = "P0DT12H"
    after["actions"]["appSignOn"]["keepMeSignedIn"]["postAuthPromptFrequency"] = "P30D"
    assert base.diff(before, after) == [], "same meaning: no change"

    after["priority"] = 0
    after["actions"]["appSignOn"]["keepMeSignedIn"]["postAuth"] = "ALLOWED"
    assert base.diff(before, after) == [
        FieldDiff("priority", 1, 0),
        FieldDiff("actions.appSignOn.keepMeSignedIn.postAuth", "NOT_ALLOWED", "ALLOWED"),
        FieldDiff("actions.appSignOn.keepMeSignedIn.postAuthPromptFrequency", None, "P30D"),
    ]


def test_canonical_compares_durations_by_meaning() -> None:
    a = {"keepMeSignedIn": {"postAuth": "ALLOWED", "postAuthPromptFrequency": "P7D"}}
    b = {"keepMeSignedIn": {"postAuth": "ALLOWED", "postAuthPromptFrequency": "PT168H"}}
    c = {"keepMeSignedIn": {"postAuth": "ALLOWED", "postAuthPromptFrequency": "PT169H"}}
    assert base.canonical(a) == base.canonical(b)
    assert base.canonical(a) != base.canonical(c)
    assert base.same_value("x.postAuthPromptFrequency", "P30D", "PT720H")
    assert not base.same_value("x.name", "P30D", "PT720H"), "only duration fields by meaning"


# --------------------------------------------------------------------------- plan data


def _sample_plan() -> Plan:
    before = {"id": "r1", "name": "Catch-all Rule", "priority": 99, "futureField": "<keep>"}
    after = base.writable(before) | {"priority": 0}
    return Plan(
        procedure="post_auth",
        params={"apps": ["Slack <b>"]},
        org_url="http://sandbox.okta.test",
        changes=[Change.update(ObjectRef("rule", "r1", "Catch-all Rule", "p1"), before, after)],
        manual_steps=[ManualStep("Turn on <pre-auth>", ["Security > General"])],
        notes=["a note & more"],
        observations=[base.Observation("rule r1", {"op": "rule", "id": "r1"}, before)],
    )


def test_plan_round_trips_through_json() -> None:
    plan = _sample_plan()
    data = json.loads(json.dumps(plan.to_dict()))
    again = Plan.from_dict(data)
    assert again == plan
    assert again.fingerprint.startswith("sha256:")


def test_plan_fingerprint_depends_on_what_was_seen() -> None:
    plan = _sample_plan()
    other = _sample_plan()
    other.observations[0].value = {**other.observations[0].value, "priority": 98}
    other.fingerprint = base.fingerprint(other.observations)
    assert plan.fingerprint != other.fingerprint


def test_edited_plan_is_refused() -> None:
    data = _sample_plan().to_dict()
    data["observations"][0]["value"]["priority"] = 5
    with pytest.raises(ParameterError, match="fingerprint") as info:
        Plan.from_dict(data)
    assert info.value.field == "plan"


def test_plan_renders_each_field_as_text_and_escaped_html() -> None:
    plan = _sample_plan()
    text = plan.to_text()
    assert "rule 'Catch-all Rule' in p1 (r1)" in text
    assert "priority" in text and "99" in text and " 0" in text
    assert "Turn on <pre-auth>" in text
    page = plan._repr_html_()
    cell = '<td style="text-align:left">'
    assert f"{cell}Priority (priority)</td>{cell}99</td>{cell}0</td>" in page
    assert "Turn on &lt;pre-auth&gt;" in page
    assert "a note &amp; more" in page
    assert "<pre-auth>" not in page


def test_empty_plan_says_so() -> None:
    plan = Plan("post_auth", {}, "http://sandbox.okta.test")
    assert plan.is_empty
    assert "No changes" in plan.to_text()
    assert "No changes" in plan._repr_html_()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        pytest.param({"by": " ", "at": "2026-11-29T07:00:00Z", "statement": "s"}, "attestation.by"),
        pytest.param({"by": "ann", "at": "yesterday", "statement": "s"}, "attestation.at"),
        pytest.param({"by": "ann", "at": "2026-11-29T07:00:00Z"}, "attestation.statement"),
    ],
)
def test_attestation_is_validated(data: dict[str, str], field: str) -> None:
    with pytest.raises(ParameterError) as info:
        Attestation.from_dict(data)
    assert info.value.field == field


# --------------------------------------------------------------------------- apply engine


class _FakeClient:
    """Stands in for OktaClient: only what the engine calls without a kind."""

    def __init__(self) -> None:
        self.identity_engine_checks = 0
        self.journal = types.SimpleNamespace(entries=[])  # no HTTP: nothing journaled
        self.log_queries: list[dict[str, Any]] = []

    def require_identity_engine(self) -> None:
        self.identity_engine_checks += 1

    def paginate(self, path: str, params: dict[str, Any] | None = None, **_: Any) -> Any:
        """The System Log (the engine's lost-update witness): empty, as nobody else wrote."""
        assert path == "/api/v1/logs", path
        self.log_queries.append(dict(params or {}))
        return iter([])


class _MemoryKind(base.ObjectKind):
    """Objects in a dict; logs every write; can lose the answer of one create."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.writes: list[tuple[str, str | None, dict[str, Any] | None]] = []
        self.lose_next_create_answer = False
        self._next = 0

    def read(self, client: Any, ref: ObjectRef) -> dict[str, Any] | None:
        found = self.objects.get(ref.id or "")
        return copy.deepcopy(found) if found else None

    def find_by_name(
        self, client: Any, ref: ObjectRef, body: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        for obj in self.objects.values():
            if obj["name"] == body["name"] and obj.get("parent") == ref.parent_id:
                return copy.deepcopy(obj)
        return None

    def create(self, client: Any, ref: ObjectRef, body: dict[str, Any]) -> dict[str, Any]:
        self._next += 1
        obj = {"id": f"m{self._next}", "parent": ref.parent_id, **body}
        self.objects[obj["id"]] = obj
        self.writes.append(("create", ref.parent_id, body))
        if self.lose_next_create_answer:
            self.lose_next_create_answer = False
            raise TransportError("read timed out", method="POST", ambiguous=True)
        return copy.deepcopy(obj)

    def update(self, client: Any, ref: ObjectRef, body: dict[str, Any]) -> dict[str, Any]:
        assert ref.id in self.objects
        self.objects[ref.id] = {"id": ref.id, "parent": ref.parent_id, **body}
        self.writes.append(("update", ref.id, body))
        return copy.deepcopy(self.objects[ref.id])

    def delete(self, client: Any, ref: ObjectRef) -> None:
        del self.objects[ref.id or ""]
        self.writes.append(("delete", ref.id, None))


@pytest.fixture
def memory() -> _MemoryKind:
    kind = _MemoryKind()
    base.register_kind("memory", kind)
    base.register_lookup(
        "memory",
        lambda c, a: copy.deepcopy(kind.objects.get(a["id"])),  # noqa: ARG005
    )
    return kind


def _update_plan(memory: _MemoryKind, client: Any, new_name: str) -> Plan:
    reader = Reader(client)
    before = reader.read("memory object m1", "memory", id="m1")
    after = base.writable(before) | {"name": new_name}
    change = Change.update(ObjectRef("memory", "m1", before["name"]), before, after)
    return Plan("test", {}, "mem://", changes=[change], observations=reader.observations)


def test_apply_writes_verifies_and_records_the_before_state(memory: _MemoryKind) -> None:
    memory.objects["m1"] = {"id": "m1", "name": "old", "future": {"x": 1}, "lastUpdated": "t0"}
    client = _FakeClient()
    plan = _update_plan(memory, client, "new")
    result = base.apply_plan(client, plan)  # type: ignore[arg-type]
    assert result.outcome == "applied"
    assert memory.objects["m1"]["name"] == "new"
    assert memory.objects["m1"]["future"] == {"x": 1}, "unknown fields survive"
    assert client.identity_engine_checks == 1
    assert result.verification.ok
    assert [c.name for c in result.verification.checks] == [
        "memory 'old' (m1) Name (name)",
        "nobody else wrote memory 'old' (m1) while this apply ran (Okta System Log)",
    ]
    assert len(client.log_queries) == 2, "the witness: once before the drift check, once after"
    assert client.log_queries[0]["filter"] == 'target.id eq "m1"'
    record = result.before_state[0]
    assert record.before is not None and record.before["name"] == "old"
    assert record.after_written is not None and record.after_written["name"] == "new"
    again = base.ApplyResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again.to_dict() == result.to_dict()
    assert "name" in result.to_text() and "passed" in result.to_text()


def test_stale_plan_is_refused_before_any_write(memory: _MemoryKind) -> None:
    memory.objects["m1"] = {"id": "m1", "name": "old", "priority": 1}
    client = _FakeClient()
    plan = _update_plan(memory, client, "new")
    memory.objects["m1"]["priority"] = 2  # someone else edits it
    with pytest.raises(StalePlanError) as info:
        base.apply_plan(client, plan)  # type: ignore[arg-type]
    assert "memory object m1: priority was 1, now 2" in str(info.value)
    assert memory.writes == []


def test_only_volatile_changes_do_not_make_a_plan_stale(memory: _MemoryKind) -> None:
    memory.objects["m1"] = {"id": "m1", "name": "old", "lastUpdated": "t0", "_links": {"a": 1}}
    client = _FakeClient()
    plan = _update_plan(memory, client, "new")
    memory.objects["m1"]["lastUpdated"] = "t1"
    memory.objects["m1"]["_links"] = {"a": 2}
    assert base.apply_plan(client, plan).outcome == "applied"  # type: ignore[arg-type]


def test_empty_plan_writes_nothing_and_checks_nothing() -> None:
    client = _FakeClient()
    result = base.apply_plan(client, Plan("test", {}, "mem://"))  # type: ignore[arg-type]
    assert result.outcome == "no-op"
    assert result.applied == [] and result.before_state == []
    assert client.identity_engine_checks == 0


def test_manual_steps_need_an_attestation_which_is_recorded() -> None:
    plan = Plan("test", {}, "mem://", manual_steps=[ManualStep("Turn it on", ["step"])])
    with pytest.raises(ParameterError) as info:
        base.apply_plan(_FakeClient(), plan)  # type: ignore[arg-type]
    assert info.value.field == "attestation"
    assert "Turn it on" in info.value.message
    attestation = {"by": "ann", "at": "2026-11-29T07:00:00Z", "statement": "done"}
    result = base.apply_plan(_FakeClient(), plan, attestation=attestation)  # type: ignore[arg-type]
    assert result.attestation == Attestation("ann", "2026-11-29T07:00:00Z", "done")
    assert result.to_dict()["attestation"]["by"] == "ann"


def test_created_placeholders_resolve_and_ambiguous_creates_are_adopted(
    memory: _MemoryKind,
) -> None:
    """A lost POST answer is followed by a lookup by name, not a second POST."""
    client = _FakeClient()
    memory.lose_next_create_answer = True
    plan = Plan(
        "test",
        {},
        "mem://",
        changes=[
            Change(
                "create", "memory", ObjectRef("memory", None, "parent"), None, {"name": "parent"}
            ),
            Change(
                "create",
                "memory",
                ObjectRef("memory", None, "child", base.created_placeholder(0)),
                None,
                {"name": "child"},
            ),
        ],
    )
    result = base.apply_plan(client, plan)  # type: ignore[arg-type]
    assert [w[0] for w in memory.writes] == ["create", "create"], "no duplicate POST"
    parent, child = result.created
    assert child.parent_id == parent.id == "m1"
    assert memory.objects["m2"]["parent"] == "m1"
    assert result.verification.ok


def test_failed_api_write_keeps_what_was_written_for_rollback(memory: _MemoryKind) -> None:
    client = _FakeClient()

    class _Failing(_MemoryKind):
        def update(self, client: Any, ref: ObjectRef, body: dict[str, Any]) -> dict[str, Any]:
            raise TransportError("connection refused", method="PUT")

    base.register_kind("failing", _Failing())
    plan = Plan(
        "test",
        {},
        "mem://",
        changes=[
            Change("create", "memory", ObjectRef("memory", None, "a"), None, {"name": "a"}),
            Change("update", "failing", ObjectRef("failing", "x", "b"), {}, {"name": "b"}),
        ],
    )
    with pytest.raises(TransportError) as info:
        base.apply_plan(client, plan)  # type: ignore[arg-type]
    partial = info.value.apply_result
    assert partial is not None and partial.outcome == "failed"
    assert [r.ref.id for r in partial.before_state] == ["m1"]
    assert partial.before_state[0].before is None


def test_errors_carry_no_apply_result_unless_an_apply_wrote() -> None:
    assert KmsiError("x").apply_result is None
    assert StalePlanError("drifted").apply_result is None


def test_registry_knows_every_procedure_by_name() -> None:
    assert list(REGISTRY) == list(NAMES)
    assert len(REGISTRY) == 6
    with pytest.raises(KeyError, match="no procedure named 'nope'"):
        REGISTRY["nope"]


def test_edit_changes_only_owned_fields_and_reports_checks() -> None:
    rule = {
        "id": "r1",
        "name": "Catch-all Rule",
        "system": True,
        "_links": {},
        "conditions": None,
        "actions": {
            "appSignOn": {
                "access": "ALLOW",
                "keepMeSignedIn": {"postAuth": "ALLOWED", "postAuthPromptFrequency": "P7D"},
                "verificationMethod": {"type": "ASSURANCE", "factorMode": "2FA"},
            }
        },
    }
    edit = base.Edit(ObjectRef("rule", "r1", "Catch-all Rule", "p1"), rule)
    edit.set("actions.appSignOn.keepMeSignedIn.postAuthPromptFrequency", "PT168H")
    assert edit.change() is None, "same meaning: nothing to write"
    assert edit.checks[0].ok
    edit.set("actions.appSignOn.verificationMethod.factorMode", "1FA")
    change = edit.change()
    assert change is not None and change.action == "update"
    assert change.diffs == [
        FieldDiff("actions.appSignOn.verificationMethod.factorMode", "2FA", "1FA")
    ]
    assert change.after is not None
    assert change.after["conditions"] is None, "unowned fields are sent back as read"
    assert "system" not in change.after and "id" not in change.after
    assert (
        change.after["actions"]["appSignOn"]["keepMeSignedIn"]["postAuthPromptFrequency"] == "P7D"
    )
    assert [c.ok for c in edit.checks] == [True, False]


def test_edit_of_an_absent_object_is_a_create() -> None:
    edit = base.Edit(
        ObjectRef("policy", None, "KMSI"), None, {"name": "KMSI", "type": "OKTA_SIGN_ON"}
    )
    edit.set("priority", 1)
    change = edit.change()
    assert change is not None and change.action == "create"
    assert change.after == {"name": "KMSI", "type": "OKTA_SIGN_ON", "priority": 1}
    assert not edit.checks[0].ok


def test_set_assurance_keeps_an_assurance_methods_other_fields_and_replaces_another_type() -> None:
    """ASSURANCE is set field by field; a method of another type is replaced whole."""
    path = "actions.appSignOn.verificationMethod"
    wanted = {"factorMode": "2FA", "reauthenticateIn": "PT43800H"}
    assurance = {"type": "ASSURANCE", "factorMode": "1FA", "constraints": [{"x": 1}]}
    chain = {"type": "AUTH_METHOD_CHAIN", "chains": [{"authenticationMethods": []}]}

    def rule(method: dict[str, Any]) -> dict[str, Any]:
        return {"actions": {"appSignOn": {"verificationMethod": method}}}

    kept = base.Edit(ObjectRef("rule", "r1"), rule(assurance))
    kept.set_assurance(path, wanted)
    assert base.get_path(kept.after, path) == {**assurance, **wanted}
    assert [c.name.rsplit(" ", 1)[1].strip("()") for c in kept.checks] == [
        f"{path}.type",
        f"{path}.factorMode",
        f"{path}.reauthenticateIn",
    ]
    replaced = base.Edit(ObjectRef("rule", "r2"), rule(chain))
    replaced.set_assurance(path, wanted)
    assert base.get_path(replaced.after, path) == {"type": "ASSURANCE", **wanted}
    assert [c.ok for c in replaced.checks] == [False]


def test_labels_name_new_parents_by_change_and_results_keep_real_ids(memory: _MemoryKind) -> None:
    child = ObjectRef("memory", None, "child", base.created_placeholder(0))
    assert child.label() == "memory 'child' in the object created by change 1"
    plan = Plan(
        "test",
        {},
        "mem://",
        changes=[
            Change.create(ObjectRef("memory", None, "parent"), {"name": "parent"}),
            Change.create(child, {"name": "child"}),
        ],
    )
    result = base.apply_plan(_FakeClient(), plan)  # type: ignore[arg-type]
    refs = [a.change.ref for a in result.applied]
    assert [(r.id, r.parent_id) for r in refs] == [("m1", None), ("m2", "m1")]
    assert "memory 'child' (m2) in m1" in result.to_text()
    assert "in the object created by change 1" in plan.to_text()


def test_unknown_nested_parameter_lists_the_section_fields() -> None:
    class _Outer(ParamsModel):
        apps: base.AppSelection = base.AppSelection(labels=["Slack"])

    with pytest.raises(ParameterError) as info:
        base.parse_params(_Outer, {"apps": {"lables": ["Slack"]}})
    assert info.value.field == "apps.lables"
    assert info.value.message == (
        "is not a parameter of this section; the parameters are: ids, labels, policies"
    )


@pytest.mark.parametrize("name", NAMES)
def test_every_registered_procedure_has_the_common_shape(name: str) -> None:
    import importlib
    import inspect

    import pydantic

    procedure = REGISTRY[name]
    assert isinstance(procedure, base.Procedure)
    assert procedure.name == name
    assert procedure.title and procedure.scopes
    assert all(scope.startswith("okta.") for scope in procedure.scopes)
    assert issubclass(procedure.params, pydantic.BaseModel)
    assert procedure.params.model_config.get("extra") == "forbid"
    module = importlib.import_module(f"kmsi_lib.procedures.{name}")
    assert module.PROCEDURE is procedure and module.Params is procedure.params
    for function in ("plan", "apply", "verify"):
        assert callable(getattr(procedure, function))
        # the module's own function (for Python callers) is the one declared
        assert getattr(module, function) == getattr(procedure, function), function
    assert "attestation" in inspect.signature(procedure.apply).parameters
    # what the runbook and the forms ask the declaration instead of its name
    assert isinstance(procedure.writes, bool) and isinstance(procedure.bulk, bool)
    assert procedure.bulk == ("progress" in inspect.signature(procedure.apply).parameters)
    assert procedure.writes == (name != "audit")  # the audit is the read-only one
    writes = [scope for scope in procedure.scopes if scope.endswith(".manage")]
    assert bool(writes) == procedure.writes, writes


@pytest.mark.parametrize("name", ["pre_auth", "post_auth", "prompt_text", "rollback"])
def test_an_engine_apply_refuses_another_procedures_plan_before_any_request(name: str) -> None:
    """The shared apply checks whose plan it is first: nothing is read or written."""
    plan = _sample_plan().model_copy(update={"procedure": "reset_sessions"})
    with pytest.raises(ParameterError) as info:
        REGISTRY[name].apply(None, plan)  # type: ignore[arg-type]  # no request may be sent
    assert info.value.field == "plan"
    assert info.value.message == f"this is a 'reset_sessions' plan, not a {name!r} plan"


def test_an_engine_apply_notes_what_its_extra_checks_could_not_check() -> None:
    """An apply whose extra checks give nothing says so; one whose checks ran does not."""
    plan = Plan(procedure="p", params={}, org_url="http://sandbox.okta.test", changes=[])
    found = [base.Check("setting", True, True, True)]
    for given, notes in (([], ["not checked"]), (found, [])):
        apply = base.Apply(
            "p", extra_checks=lambda _c, _r, g=given: g, unchecked_note="not checked"
        )
        result = apply(None, plan)  # type: ignore[arg-type]  # an empty plan sends nothing
        assert result.outcome == "no-op"
        assert result.verification.checks == given and result.verification.notes == notes


def test_verification_round_trips_with_notes_and_escapes_html() -> None:
    verification = base.Verification(
        [base.Check("rule <x> priority", False, 0, 1), base.Check("ok one", True, "a", "a")],
        ["toggle <not> checkable"],
    )
    assert not verification.ok
    again = base.Verification.from_dict(json.loads(json.dumps(verification.to_dict())))
    assert again == verification
    text = verification.to_text()
    assert "FAILED (2 checks, 1 failed)" in text
    assert "expected 0, found 1" in text
    page = verification._repr_html_()
    assert "rule &lt;x&gt; priority" in page and "toggle &lt;not&gt; checkable" in page
    assert "<x>" not in page


def _edit_after(data: dict[str, Any]) -> None:
    data["changes"][0]["after"]["priority"] = 1


def _remove_change(data: dict[str, Any]) -> None:
    data["changes"].pop(0)


def _edit_params(data: dict[str, Any]) -> None:
    data["params"]["prompt_frequency"] = "P90D"


def _edit_manual_step(data: dict[str, Any]) -> None:
    data["manual_steps"] = []


def _edit_org(data: dict[str, Any]) -> None:
    data["org_url"] = "https://other.okta.com"


@pytest.mark.parametrize(
    "edit", [_edit_after, _remove_change, _edit_params, _edit_manual_step, _edit_org]
)
def test_plan_edited_outside_the_observations_is_refused(edit: Callable[[Any], None]) -> None:
    """The fingerprint covers what the plan read; the digest covers everything else too."""
    data = json.loads(json.dumps(_sample_plan().to_dict()))
    assert data["digest"].startswith("sha256:")
    edit(data)
    with pytest.raises(EvidenceError, match="edited after it was made"):
        Plan.from_dict(data)


def test_plan_without_a_digest_is_refused() -> None:
    data = _sample_plan().to_dict()
    del data["digest"]
    with pytest.raises(EvidenceError, match="no digest"):
        Plan.from_dict(data)


def test_plan_edited_in_memory_is_not_applied() -> None:
    """In a notebook the plan object itself can be edited: apply refuses before any request."""
    plan = _sample_plan()
    assert plan.changes[0].after is not None
    plan.changes[0].after["priority"] = 1
    with pytest.raises(EvidenceError, match="edited after it was made"):
        base.apply_plan(None, plan)  # type: ignore[arg-type]  # no request may be sent


def test_field_messages_name_each_wrong_field_as_a_headless_run_does() -> None:
    model = REGISTRY["post_auth"].params
    assert base.field_messages(model, {"apps": {"labels": ["Slack"]}}) == {}
    data = {"apps": {"labels": ["Slack"]}, "max_session_idle_minutes": 0, "colour": "red"}
    messages = base.field_messages(model, data)
    assert set(messages) == {"max_session_idle_minutes", "colour"}
    assert messages["max_session_idle_minutes"] == "must be 1 or more (got 0)"
    assert messages["colour"].startswith("is not a parameter of this procedure")
    with pytest.raises(ParameterError) as info:
        base.parse_params(model, data)
    assert info.value.field == "max_session_idle_minutes"
    assert messages["max_session_idle_minutes"] in info.value.message
