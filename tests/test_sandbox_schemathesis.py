"""Property-based: schemathesis drives the sandbox from Okta's published spec.

For every spec operation the sandbox implements, schemathesis generates
requests from the spec as ``tests/okta_spec.py`` loads it, in both of its modes:
*positive* (valid by the spec) and *negative* (violating it somewhere: a wrong
type, a missing required property, an unknown enum value). Path ids are drawn
from the seed org (so rules, apps and pages that exist are reached) or
generated (so unknown and odd ids are too). Policy and rule writes are also
generated from the subtypes of the two policy types the sandbox writes (see
``TYPED``). Requests go in-process to the WSGI app with the SSWS token. For each
answer:

- never a 5xx (a server error is a sandbox bug), always an ``X-Okta-Request-Id``;
- every 4xx is an Okta error object (errorCode, errorSummary, errorId, errorCauses);
- every 2xx JSON body conforms to the spec's response schema (relaxed, with the
  recorded departures of real Okta, as every other spec check in the suite);
- a rejected request changes nothing (the org snapshot is equal before and after).

Generation is deterministic (``derandomize=True``, no example database) and
bounded, so CI sees the same requests every run.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from okta_spec import load_spec, spec_validator, unexcused
from reliability import COUNTS
from schemathesis import GenerationMode

from kmsi_lib.sandbox import Sandbox
from kmsi_lib.sandbox._app import API

Json = dict[str, Any]

# (method, spec path template): the operations of the spec that the sandbox serves.
OPERATIONS: list[tuple[str, str]] = [
    ("GET", "/api/v1/policies"),
    ("POST", "/api/v1/policies"),
    ("POST", "/api/v1/policies/simulate"),
    ("GET", "/api/v1/policies/{policyId}"),
    ("PUT", "/api/v1/policies/{policyId}"),
    ("DELETE", "/api/v1/policies/{policyId}"),
    ("POST", "/api/v1/policies/{policyId}/lifecycle/activate"),
    ("POST", "/api/v1/policies/{policyId}/lifecycle/deactivate"),
    ("GET", "/api/v1/policies/{policyId}/app"),
    ("GET", "/api/v1/policies/{policyId}/mappings"),
    ("POST", "/api/v1/policies/{policyId}/mappings"),
    ("GET", "/api/v1/policies/{policyId}/mappings/{mappingId}"),
    ("DELETE", "/api/v1/policies/{policyId}/mappings/{mappingId}"),
    ("GET", "/api/v1/policies/{policyId}/rules"),
    ("POST", "/api/v1/policies/{policyId}/rules"),
    ("GET", "/api/v1/policies/{policyId}/rules/{ruleId}"),
    ("PUT", "/api/v1/policies/{policyId}/rules/{ruleId}"),
    ("DELETE", "/api/v1/policies/{policyId}/rules/{ruleId}"),
    ("POST", "/api/v1/policies/{policyId}/rules/{ruleId}/lifecycle/activate"),
    ("POST", "/api/v1/policies/{policyId}/rules/{ruleId}/lifecycle/deactivate"),
    ("GET", "/api/v1/apps"),
    ("GET", "/api/v1/apps/{appId}"),
    ("PUT", "/api/v1/apps/{appId}/policies/{policyId}"),
    ("GET", "/api/v1/brands"),
    ("POST", "/api/v1/brands"),
    ("GET", "/api/v1/brands/{brandId}"),
    ("PUT", "/api/v1/brands/{brandId}"),
    ("DELETE", "/api/v1/brands/{brandId}"),
    ("GET", "/api/v1/brands/{brandId}/pages/sign-in"),
    ("GET", "/api/v1/brands/{brandId}/pages/sign-in/customized"),
    ("PUT", "/api/v1/brands/{brandId}/pages/sign-in/customized"),
    ("DELETE", "/api/v1/brands/{brandId}/pages/sign-in/customized"),
    ("GET", "/api/v1/brands/{brandId}/pages/sign-in/default"),
    ("GET", "/api/v1/brands/{brandId}/pages/sign-in/preview"),
    ("PUT", "/api/v1/brands/{brandId}/pages/sign-in/preview"),
    ("DELETE", "/api/v1/brands/{brandId}/pages/sign-in/preview"),
    ("GET", "/api/v1/brands/{brandId}/pages/sign-in/widget-versions"),
    ("GET", "/api/v1/users"),
    ("GET", "/api/v1/users/{id}"),
    ("DELETE", "/api/v1/users/{userId}/sessions"),
    ("GET", "/api/v1/groups"),
    ("GET", "/api/v1/groups/{groupId}"),
    ("GET", "/api/v1/groups/{groupId}/users"),
    ("GET", "/api/v1/logs"),
]
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
MAX_EXAMPLES = 12  # per operation and mode: ~800 requests in all
ERROR_KEYS = {"errorCode", "errorSummary", "errorId", "errorCauses"}
# Every bucket the operations use: the property is about answers, not rate limits.
BUCKETS = (
    "/api/v1/policies",
    "/api/v1/apps",
    "/api/v1/brands",
    "/api/v1/users",
    "/api/v1/groups",
    "/api/v1/logs",
)


def _sandbox_route(template: str) -> str:
    """The sandbox's werkzeug rule for a spec path template (``{policyId}`` -> ``<policy_id>``)."""

    def snake(match: re.Match[str]) -> str:
        name = re.sub(r"(?<!^)([A-Z])", r"_\1", match.group(1)).lower()
        return f"<{'user_id' if name == 'id' else name}>"

    route = re.sub(r"\{([^}]+)\}", snake, template)
    return re.sub(r"/lifecycle/(activate|deactivate)$", "/lifecycle/<action>", route)


def _known_ids(state: Any) -> dict[str, list[str]]:
    """Ids in the seed org, by the spec's path-parameter name."""
    users = list(state.users.values())
    return {
        "policyId": list(state.policies),
        "appId": list(state.apps),
        "brandId": list(state.brands),
        "groupId": list(state.groups),
        "userId": [u["id"] for u in users],
        # getUser takes an id or a login
        "id": [u["id"] for u in users[:10]] + [u["profile"]["login"] for u in users[:10]],
    }


def _known_parameters(state: Any, names: list[str], policy_type: str | None = None) -> list[Json]:
    """Path parameters that name objects of the seed org (rules of their own policy, ...).

    With ``policy_type``, only those of policies of that type (and their rules).
    """
    found: list[Json]
    if not names:
        return []
    if set(names) == {"policyId", "ruleId"}:
        found = [{"policyId": p, "ruleId": r} for p, rules in state.rules.items() for r in rules]
    elif set(names) == {"policyId", "mappingId"}:
        found = [
            {"policyId": m["policyId"], "mappingId": m["mappingId"]}
            for m in state.app_policy.values()
        ]
    elif set(names) == {"appId", "policyId"}:
        access = [p for p, policy in state.policies.items() if policy["type"] == "ACCESS_POLICY"]
        found = [{"appId": a, "policyId": p} for a in state.apps for p in access[:3]]
    else:
        (name,) = names
        found = [{name: value} for value in _known_ids(state)[name]]
    if policy_type is not None:
        found = [ids for ids in found if state.policies[ids["policyId"]]["type"] == policy_type]
    return found


@functools.cache
def _schema() -> Any:
    """The spec schemathesis generates requests from (loaded once per process).

    This is the strict flavour of ``load_spec``: it has the corrected ``TimeDuration``
    pattern (without which no valid rule duration could be generated), but not the
    "every property may be null" relaxation, which describes what Okta *answers*;
    generating from it would make most positive request bodies a field of nulls.
    Responses are still checked against the relaxed spec.
    """
    return schemathesis.openapi.from_dict(load_spec(relaxed=False))


# The request bodies of policy and rule writes are the base Policy and PolicyRule, whose
# "type" ranges over a dozen policy types; the sandbox writes two. So that generated writes
# also get past the type check, these operations are also driven from a copy of the spec
# whose body is the subtype the discriminator maps each writable type to.
TYPED: dict[str, tuple[str, str, str]] = {
    # policy type: (policy schema, rule schema, rule type)
    "ACCESS_POLICY": ("AccessPolicy", "AccessPolicyRule", "ACCESS_POLICY"),
    "OKTA_SIGN_ON": ("OktaSignOnPolicy", "OktaSignOnPolicyRule", "SIGN_ON"),
}
TYPED_BODIES: dict[tuple[str, str], int] = {
    # operation: 0 = a policy body, 1 = a rule body
    ("POST", "/api/v1/policies"): 0,
    ("PUT", "/api/v1/policies/{policyId}"): 0,
    ("POST", "/api/v1/policies/{policyId}/rules"): 1,
    ("PUT", "/api/v1/policies/{policyId}/rules/{ruleId}"): 1,
}


@functools.cache
def _typed_schema(policy_type: str) -> Any:
    """The spec with the policy and rule bodies narrowed to ``policy_type``'s subtypes."""
    spec = json.loads(json.dumps(load_spec(relaxed=False)))  # a deep copy
    policy_schema, rule_schema, rule_type = TYPED[policy_type]
    for (method, template), kind in TYPED_BODIES.items():
        name, value = (policy_schema, policy_type) if kind == 0 else (rule_schema, rule_type)
        media = spec["paths"][template][method.lower()]["requestBody"]["content"]
        # the examples are of every type; a narrowed body keeps none
        # and, as Okta requires (docs/OKTA-API.md), a name that is not blank, and a rule's actions
        required = ["name", "type"] if kind == 0 else ["name", "type", "actions"]
        media["application/json"] = {
            "schema": {
                "allOf": [
                    {"$ref": f"#/components/schemas/{name}"},
                    {
                        "type": "object",
                        "required": required,
                        "properties": {
                            "type": {"type": "string", "enum": [value]},
                            "name": {"type": "string", "minLength": 1, "maxLength": 255},
                        },
                    },
                ]
            }
        }
    return schemathesis.openapi.from_dict(spec)


def _problems(sb: Sandbox, method: str, response: Any, before: Json | None) -> list[str]:
    """What is wrong with one answer (empty when the four properties hold)."""
    status = response.status_code
    if status >= 500:
        return [f"server error {status}: {response.content[:300]!r}"]
    content_type = ";".join(response.headers.get("content-type", []))
    try:
        body = json.loads(response.content) if response.content else None
    except ValueError:
        return [f"{status} with a body that is not JSON: {response.content[:200]!r}"]
    if status >= 400:
        problems = []
        if not isinstance(body, dict) or not ERROR_KEYS <= body.keys():
            problems.append(f"{status} is not an Okta error object: {body!r:.300}")
        elif not (
            str(body["errorCode"]).startswith("E0000")
            and str(body["errorId"]).startswith("oae")
            and isinstance(body["errorCauses"], list)
        ):
            problems.append(f"{status} error object malformed: {body!r:.300}")
        if before is not None and sb.admin.snapshot() != before:
            problems.append(f"rejected with {status} but the org changed")
        return problems
    if not response.headers.get("x-okta-request-id"):
        return [f"{status} without X-Okta-Request-Id"]
    if body is None or "json" not in content_type:
        return []
    found = unexcused(spec_validator().validate(method, response.request.url, status, body))
    return [str(v) for v in found]


@dataclass
class _Run:
    """One operation's sandbox, the org to restore after a write, and what was sent."""

    sb: Sandbox
    baseline: Json
    dirty: bool = False
    statuses: list[int] = field(default_factory=list)

    def restore(self) -> None:
        if self.dirty:
            self.sb.admin.load(self.baseline)
            self.dirty = False


def _from(
    schema: Any,
    method: str,
    template: str,
    mode: GenerationMode,
    known: list[Json],
    *,
    made_up_ids: bool = True,
) -> list[Any]:
    """Strategies for one operation of ``schema``: with ids of the org, and with made-up ids."""
    operation = schema[template][method]
    strategies = []
    if known:
        strategies.append(
            st.sampled_from(known).flatmap(
                lambda ids: operation.as_strategy(generation_mode=mode, path_parameters=ids)
            )
        )
    if made_up_ids or not known:
        strategies.append(operation.as_strategy(generation_mode=mode))
    return strategies


def _cases(method: str, template: str, mode: GenerationMode, state: Any) -> Any:
    names = re.findall(r"\{([^}]+)\}", template)
    strategies = _from(_schema(), method, template, mode, _known_parameters(state, names))
    if (method, template) in TYPED_BODIES:
        for policy_type in TYPED:
            known = _known_parameters(state, names, policy_type)
            if known or not names:
                strategies += _from(
                    _typed_schema(policy_type), method, template, mode, known, made_up_ids=False
                )
    return st.one_of(strategies)


def test_every_listed_operation_is_served_by_the_sandbox() -> None:
    """The list above names only spec operations that the sandbox routes (and misses none)."""
    routes = {(m, path) for path, methods in API for m in methods}
    spec = load_spec()["paths"]
    for method, template in OPERATIONS:
        assert method.lower() in spec[template], (method, template)
        assert (method, _sandbox_route(template)) in routes, (method, template)
    served = {(m, p) for m, p in routes if p.startswith("/api/v1/")}
    listed = {(m, _sandbox_route(t)) for m, t in OPERATIONS}
    assert served == listed


def _negatable(method: str, template: str) -> bool:
    """Whether the operation has a query parameter or a body to break.

    Negative mode does not break path ids (a path segment is any string), so on an
    operation with nothing else it finds no case at all (hypothesis: Unsatisfiable).
    """
    item = load_spec()["paths"][template]
    operation = item[method.lower()]
    parameters = [*item.get("parameters", []), *operation.get("parameters", [])]
    resolved = [_resolve(p) for p in parameters]
    return "requestBody" in operation or any(p.get("in") == "query" for p in resolved)


def _resolve(node: Json) -> Json:
    while "$ref" in node:
        target: Any = load_spec()
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


CASES = [
    pytest.param(method, template, mode, id=f"{method} {template} {mode}")
    for method, template in OPERATIONS
    for mode in MODES
    if mode is GenerationMode.POSITIVE or _negatable(method, template)
]


@pytest.mark.parametrize(("method", "template", "mode"), CASES)
def test_generated_requests_get_okta_answers(
    method: str, template: str, mode: GenerationMode
) -> None:
    """No 5xx; 4xx are Okta errors and change nothing; 2xx conform to the spec."""
    sb = Sandbox(seed="default")
    for bucket in BUCKETS:
        sb.admin.set_rate_limit(bucket, 1_000_000, 60)
    run = _Run(sb, sb.admin.snapshot())
    headers = {"Authorization": f"SSWS {sb.token}", "Accept": "application/json"}

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_cases(method, template, mode, sb.state))
    def check(case: Any) -> None:
        run.restore()
        before = run.baseline
        response = case.call(app=sb.app, headers=headers)
        run.statuses.append(response.status_code)
        if method != "GET" and response.status_code < 400:
            run.dirty = True
        problems = _problems(sb, method, response, before)
        assert not problems, f"{case.as_curl_command(headers=headers)}\n" + "\n".join(problems)

    check()
    assert run.statuses, "schemathesis generated no request"
    COUNTS["schemathesis: requests"] += len(run.statuses)
    COUNTS["schemathesis: 2xx answers"] += sum(s < 300 for s in run.statuses)
    COUNTS["schemathesis: 4xx answers"] += sum(400 <= s < 500 for s in run.statuses)
    COUNTS["schemathesis: server errors"] += sum(s >= 500 for s in run.statuses)


# ---- what the generated requests found, pinned ---------------------------------------------


def test_profile_enrollment_policy_has_null_conditions() -> None:
    """GET of the seed's profile enrollment policy conforms: its ``conditions`` is null.

    ``ProfileEnrollmentPolicy.conditions`` is a nullable string in the spec ("Policy
    conditions aren't supported for this policy type"); the seed used to give it the
    people condition of the other default policies, an object.
    """
    sb = Sandbox(seed="default")
    c = sb.client()
    (policy,) = c.get("/api/v1/policies", params={"type": "PROFILE_ENROLLMENT"}).json()
    r = c.get(f"/api/v1/policies/{policy['id']}")
    assert r.status_code == 200 and r.json()["conditions"] is None
    assert unexcused(spec_validator().validate("GET", str(r.url), 200, r.json())) == []
    assert policy["conditions"] is None
