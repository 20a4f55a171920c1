"""Validate JSON responses against Okta's published Management API spec.

The spec (``reference/okta/openapi/management-minimal.yaml``, ~90k lines) is
parsed once per process and relaxed exactly as ``reference/okta/README.md``
says real Okta requires:

1. ``TimeDuration.pattern`` is replaced by the intended ISO-8601 regex (the
   published one only matches ``"P"``);
2. every object property may be ``null`` (real Okta sends nulls for many
   fields the spec does not mark nullable);
3. ``_embedded.resourceType`` may be a string (it is, in ``GET
   /api/v1/policies?type=ACCESS_POLICY``).

The relaxed spec is cached as JSON in the temp directory (keyed by the spec's
hash), which brings the load from ~2 s of YAML parsing to ~0.1 s.

Besides what ``openapi-schema-validator`` checks, a ``discriminator`` on a
plain object schema (``Policy``, ``PolicyRule``) dispatches to the mapped
subtype, so a policy rule is checked against ``AccessPolicyRule`` or
``OktaSignOnPolicyRule`` and not only against the common base.

``SpecCheckingTransport(inner)`` wraps any httpx transport and records a
:class:`Violation` for every response that does not validate.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml
from jsonschema import validators
from jsonschema.exceptions import ValidationError, best_match
from openapi_schema_validator import OAS30Validator, oas30_format_checker

SPEC_PATH = Path(
    os.environ.get(
        "KMSI_OKTA_SPEC",
        Path(__file__).resolve().parents[1] / "reference/okta/openapi/management-minimal.yaml",
    )
)
# The org authorization server (/oauth2/v1/token), a separate spec file.
OAUTH_SPEC_PATH = SPEC_PATH.with_name("oauth-minimal.yaml")
# The pattern okta-sdk-python bundles (README "Known defects of the published spec").
CORRECTED_DURATION_PATTERN = r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$"
# Bump when relax() changes so that a stale cached copy is not reused.
_RELAXATION_VERSION = 1
_NULL_ONLY: dict[str, Any] = {"enum": [None]}


# --- loading and relaxing ---------------------------------------------------------------------


def _make_nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """Return a schema accepting what ``schema`` accepts, and null."""
    if schema.get("nullable") is True and "enum" not in schema:
        return schema
    if "type" in schema and "enum" not in schema and "$ref" not in schema:
        return {**schema, "nullable": True}
    # $ref siblings are ignored and enum must list null itself, so wrap instead.
    return {"anyOf": [schema, _NULL_ONLY]}


def _relax_properties(node: Any) -> None:
    """Depth first: make every property schema under ``node`` nullable."""
    if isinstance(node, dict):
        for value in node.values():
            _relax_properties(value)
        properties = node.get("properties")
        if isinstance(properties, dict):
            for name, schema in list(properties.items()):
                if isinstance(schema, dict):
                    properties[name] = _make_nullable(schema)
    elif isinstance(node, list):
        for item in node:
            _relax_properties(item)


def _relax_embedded_resource_type(node: Any) -> None:
    """Where ``_embedded`` maps names to objects, let ``resourceType`` be a string too."""
    if isinstance(node, dict):
        properties = node.get("properties")
        if isinstance(properties, dict):
            embedded = properties.get("_embedded")
            if isinstance(embedded, dict) and isinstance(
                embedded.get("additionalProperties"), dict
            ):
                own = embedded.setdefault("properties", {})
                if "resourceType" not in own:
                    own["resourceType"] = {"anyOf": [{"type": "object"}, {"type": "string"}]}
        for value in node.values():
            _relax_embedded_resource_type(value)
    elif isinstance(node, list):
        for item in node:
            _relax_embedded_resource_type(item)


def relax(spec: dict[str, Any]) -> dict[str, Any]:
    """Apply the three documented relaxations to a parsed spec (in place; returns it)."""
    relaxed = spec
    schemas = relaxed["components"]["schemas"]
    if "TimeDuration" in schemas:
        schemas["TimeDuration"]["pattern"] = CORRECTED_DURATION_PATTERN
    _relax_embedded_resource_type(relaxed["components"])
    _relax_embedded_resource_type(relaxed["paths"])
    _relax_properties(relaxed["components"])
    _relax_properties(relaxed["paths"])
    return relaxed


def _yaml_loader() -> Any:
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def _parse_yaml(path: Path) -> str:
    """The spec parsed from YAML (the slow part, ~2-3 s), as JSON text."""
    parsed = yaml.load(path.read_bytes(), Loader=_yaml_loader())  # noqa: S506 - safe loader
    return json.dumps(parsed)


@functools.cache
def load_spec(path: Path = SPEC_PATH, *, relaxed: bool = True) -> dict[str, Any]:
    """The spec as a dict, relaxed by default; parsed once per process, cached on disk."""
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()[:16]
    flavour = f"relaxed{_RELAXATION_VERSION}" if relaxed else "strict"
    cache = Path(tempfile.gettempdir()) / f"kmsi-okta-spec-{digest}-{flavour}.json"
    try:
        cached: dict[str, Any] = json.loads(cache.read_text(encoding="utf-8"))
        return cached
    except (OSError, ValueError):
        pass
    # A JSON round trip is a fast deep copy of the parsed YAML, shared by both flavours.
    spec: dict[str, Any] = json.loads(_parse_yaml(path))
    if relaxed:
        spec = relax(spec)
    else:
        # Even the strict flavour needs the duration fix, or no KMSI rule could ever pass.
        schemas = spec["components"]["schemas"]
        if "TimeDuration" in schemas:
            schemas["TimeDuration"]["pattern"] = CORRECTED_DURATION_PATTERN
    temporary = cache.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        temporary.write_text(json.dumps(spec), encoding="utf-8")
        os.replace(temporary, cache)  # atomic: parallel test processes may race here
    except OSError:
        temporary.unlink(missing_ok=True)
    return spec


# --- a validator that also honours a discriminator on a plain object --------------------------

_dispatching = threading.local()


def _discriminator(
    validator: Any, discriminator: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    # With allOf/anyOf/oneOf alongside, openapi-schema-validator already dispatches.
    if any(k in schema for k in ("allOf", "anyOf", "oneOf")) or not isinstance(instance, dict):
        return
    value = instance.get(discriminator.get("propertyName", ""))
    ref = discriminator.get("mapping", {}).get(value) if isinstance(value, str) else None
    if not isinstance(ref, str):
        return  # an unknown value is the business of the property's own enum
    active: set[tuple[int, str]] = _dispatching.__dict__.setdefault("active", set())
    key = (id(instance), ref)
    if key in active:
        return  # we are inside the subtype, which refers back to this base schema
    active.add(key)
    try:
        errors = list(validator.descend(instance, {"$ref": ref}))
    finally:
        active.discard(key)
    yield from errors


_Validator: Any = validators.extend(OAS30Validator, {"discriminator": _discriminator})


# --- matching a response to its operation -----------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One leaf schema failure: where in the body, which keyword, and the offending value."""

    path: tuple[str | int, ...]
    keyword: str
    message: str
    value: Any = field(repr=False, compare=False)

    @property
    def where(self) -> str:
        return "/".join(str(p) for p in self.path) or "(body)"


@dataclass(frozen=True)
class Violation:
    """A response that does not match the spec (or an operation the spec lacks)."""

    method: str
    url: str
    status: int
    template: str | None
    message: str
    problems: tuple[Problem, ...] = ()
    body: Any = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        return f"{self.method} {self.url} -> {self.status}: {self.message}"

    def resource(self, problem: Problem) -> Any:
        """The object the problem is in: the list element for a list response, else the body."""
        if isinstance(self.body, list) and problem.path and isinstance(problem.path[0], int):
            return self.body[problem.path[0]]
        return self.body


@dataclass(frozen=True)
class Departure:
    """A way real Okta itself departs from its spec beyond the README's three relaxations.

    Admissible only with evidence: the recordings self-test proves that every
    departure listed here excuses at least one real recorded response, so none
    is a guess. ``excuses`` decides for one leaf problem.
    """

    name: str
    reason: str
    evidence: str
    excuses: Callable[[Violation, Problem], bool] = field(repr=False)


def _is_app_operation(violation: Violation) -> bool:
    # listPolicyApps returns the same Application objects as the apps API.
    return violation.template in (
        "/api/v1/apps",
        "/api/v1/apps/{appId}",
        "/api/v1/policies/{policyId}/app",
    )


def _lowercase_authenticator_type(violation: Violation, problem: Problem) -> bool:
    path = [str(p) for p in problem.path]
    return (
        problem.keyword == "enum"
        and len(path) >= 4
        and path[-2] == "types"
        and path[-3] in ("knowledge", "possession", "inherence")
        and "constraints" in path
        and isinstance(problem.value, str)
        and problem.value.islower()
        and problem.value.upper() in problem.message
    )


def _catalog_app_name(violation: Violation, problem: Problem) -> bool:
    app = violation.resource(problem)
    return (
        _is_app_operation(violation)
        and problem.keyword == "enum"
        and len(problem.path) <= 2
        and problem.path[-1:] == ("name",)
        and isinstance(app, dict)
        and isinstance(app.get("name"), str)
    )


def _catalog_app_settings(violation: Violation, problem: Problem) -> bool:
    app = violation.resource(problem)
    inside = [str(p) for p in problem.path]
    return (
        _is_app_operation(violation)
        and problem.keyword == "required"
        and "settings" in inside
        and isinstance(app, dict)
        and app.get("signOnMode") in ("SAML_2_0", "BROWSER_PLUGIN")
    )


KNOWN_DEPARTURES: tuple[Departure, ...] = (
    Departure(
        "lowercase-authenticator-type",
        "Okta accepts and echoes a lower-case authenticator type such as 'password' in "
        "constraints[].knowledge.types although the schema enum is upper case.",
        "TestAccResourceOktaAppSignOnPolicyRule_crud (rule created with types ['password'])",
        _lowercase_authenticator_type,
    ),
    Departure(
        "catalog-app-name",
        "The schema enumerates only the names of custom-app templates per sign-on mode "
        "('oidc_client', 'template_swa', ...); Okta's own apps (Admin Console 'saasure', "
        "Dashboard 'okta_enduser') and catalog apps ('boxnet', 'salesforce') carry their "
        "catalog key as name.",
        "GET /api/v1/apps?limit=200 in TestAccResourceOktaAppSignOnPolicyRule_priority_concurrency",
        _catalog_app_name,
    ),
    Departure(
        "catalog-app-settings",
        "Catalog (OIN) SAML and SWA apps omit settings the schema requires of custom "
        "SAML/SWA apps (assertionSigned, responseSigned, usernameField, url, ...).",
        "GET /api/v1/apps?limit=200 in TestAccResourceOktaAppSignOnPolicyRule_priority_concurrency",
        _catalog_app_settings,
    ),
)


SIMULATE_TEMPLATE = "/api/v1/policies/simulate"
SIMULATED_TYPES = ("ACCESS_POLICY", "MFA_ENROLL", "OKTA_SIGN_ON", "PROFILE_ENROLLMENT")


def _simulation_envelope(violation: Violation, problem: Problem) -> bool:
    """``{"evaluation": [...]}`` whose entries conform once ``policyType`` is a list."""
    body = violation.body
    if not (
        violation.template == SIMULATE_TEMPLATE
        and 200 <= violation.status < 300
        and problem.path == ()
        and problem.keyword == "type"
        and isinstance(body, dict)
        and set(body) == {"evaluation"}
        and isinstance(body["evaluation"], list)
    ):
        return False
    check = spec_validator()._validator_for("#/components/schemas/SimulatePolicyEvaluations")
    for entry in body["evaluation"]:
        if not isinstance(entry, dict) or entry.get("policyType") not in SIMULATED_TYPES:
            return False
        if any(check.iter_errors({**entry, "policyType": [entry["policyType"]]})):
            return False
    return True


# Departures that no recording can show (the operation was never recorded), admitted on the
# evidence of Okta's own documentation: tests/test_sandbox_simulate.py proves that each one
# excuses the spec's own response example of its operation, and nothing else there.
DOCUMENTED_DEPARTURES: tuple[Departure, ...] = (
    Departure(
        "simulation-envelope",
        "SimulatePolicyResponse is declared an array of SimulatePolicyEvaluations whose "
        "policyType is an array; the spec's own example and the policy-simulation guide show "
        "an object {evaluation: [...]} whose entries carry policyType as one string.",
        "the SimulatePolicyResponse example of management-minimal.yaml; "
        "developer.okta.com/docs/guides/policy-simulation (both responses)",
        _simulation_envelope,
    ),
)


def departures_for(violation: Violation) -> set[str] | None:
    """Names of the departures that together excuse every problem, or None if one is not."""
    if not violation.problems:
        return None
    used: set[str] = set()
    for problem in violation.problems:
        names = [
            d.name
            for d in (*KNOWN_DEPARTURES, *DOCUMENTED_DEPARTURES)
            if d.excuses(violation, problem)
        ]
        if not names:
            return None
        used.update(names)
    return used


def unexcused(violations: Iterable[Violation]) -> list[Violation]:
    """The violations that no known departure explains."""
    return [v for v in violations if departures_for(v) is None]


def _leaves(error: ValidationError) -> Iterator[ValidationError]:
    if not error.context:
        yield error
        return
    for child in error.context:
        # The null alternative added by relax() never explains a failure; skip its noise.
        if child.validator == "enum" and child.validator_value == [None]:
            continue
        yield from _leaves(child)


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    body = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{body}$")


class SpecValidator:
    """Finds the operation for a request and validates a response body against it."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        # Literal segments beat parameters: /api/v1/users/me before /api/v1/users/{id}.
        self._paths = sorted(
            ((_template_regex(t), t, item) for t, item in spec["paths"].items()),
            key=lambda entry: (entry[1].count("{"), -len(entry[1])),
        )
        self._validators: dict[tuple[str, str, str], Any] = {}
        self._lock = threading.Lock()

    def match(self, path: str) -> tuple[str, dict[str, Any]] | None:
        """(path template, path item) for a request path, or None."""
        for regex, template, item in self._paths:
            if regex.match(path):
                return template, item
        return None

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target: Any = self.spec
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    def _schema_pointer(
        self, template: str, method: str, status: int
    ) -> tuple[str | None, str | None]:
        """(JSON pointer to the response schema, problem) for an operation and status."""
        item = self.spec["paths"][template]
        operation = item.get(method.lower())
        if operation is None:
            if status == 405:
                return "#/components/schemas/Error", None
            return None, f"the spec has no {method} operation on {template}"
        responses = operation.get("responses", {})
        key = next(
            (k for k in (str(status), f"{str(status)[0]}XX", "default") if k in responses), None
        )
        if key is None:
            if status >= 400:
                # Real Okta answers e.g. 401 E0000011 on operations that do not list it.
                return "#/components/schemas/Error", None
            return None, f"status {status} is not documented for {method} {template}"
        response = self._resolve(responses[key])
        if "application/json" not in response.get("content", {}):
            return None, None
        escaped = template.replace("~", "~0").replace("/", "~1")
        if "$ref" in responses[key]:
            base = responses[key]["$ref"]
            return f"{base}/content/application~1json/schema", None
        return (
            f"#/paths/{escaped}/{method.lower()}/responses/{key}/content/application~1json/schema",
            None,
        )

    def _validator_for(self, pointer: str) -> Any:
        with self._lock:
            found = self._validators.get((pointer, "", ""))
            if found is None:
                # The root holds the whole spec so that "#/components/..." refs resolve.
                root = {**self.spec, "$ref": pointer}
                found = _Validator(root, format_checker=oas30_format_checker)
                self._validators[(pointer, "", "")] = found
            return found

    def validate(self, method: str, url: str, status: int, body: Any) -> list[Violation]:
        """Violations for one decoded JSON response body (empty list when it conforms)."""
        path = urlsplit(url).path
        matched = self.match(path)
        if matched is None:
            return [Violation(method, url, status, None, f"path {path} is not in the spec")]
        pointer, problem = self._schema_pointer(matched[0], method, status)
        if problem:
            return [Violation(method, url, status, matched[0], problem)]
        if pointer is None:
            return []
        found = []
        for error in self._validator_for(pointer).iter_errors(body):
            problems = tuple(
                Problem(tuple(leaf.absolute_path), str(leaf.validator), leaf.message, leaf.instance)
                for leaf in _leaves(error)
            )
            worst = best_match([error])
            where = "/".join(str(p) for p in worst.absolute_path) or "(body)"
            message = f"at {where}: {worst.message[:300]}"
            found.append(Violation(method, url, status, matched[0], message, problems, body))
        return found

    def validate_response(self, response: httpx.Response) -> list[Violation]:
        """Violations for an httpx response; non-JSON and empty bodies are out of scope."""
        request = response.request
        content_type = response.headers.get("content-type", "")
        if not response.content or "json" not in content_type:
            return []
        try:
            body = json.loads(response.content)
        except ValueError:
            return [
                Violation(
                    request.method, str(request.url), response.status_code, None, "invalid JSON"
                )
            ]
        return self.validate(request.method, str(request.url), response.status_code, body)


@functools.cache
def spec_validator() -> SpecValidator:
    """The process-wide validator over the relaxed spec."""
    return SpecValidator(load_spec())


# Endpoints that are not part of the Management API spec (the sandbox's own admin API and
# the org authorization server, whose spec is oauth-minimal.yaml).
OUT_OF_SPEC_PREFIXES = ("/_sandbox/", "/oauth2/")


class SpecCheckingTransport(httpx.BaseTransport):
    """Pass requests to ``inner`` and check every JSON response against the spec.

    Responses are captured as they pass and validated when ``violations`` or
    ``checked`` is read, so the check adds no latency to the traffic itself
    (timing tests stay meaningful). ``violations`` lists what failed;
    ``checked`` counts the JSON responses validated (so a test can prove it
    checked something); ``operations`` the spec operations seen.
    """

    def __init__(self, inner: httpx.BaseTransport, validator: SpecValidator | None = None) -> None:
        self.inner = inner
        self.validator = validator or spec_validator()
        self.operations: set[tuple[str, str]] = set()
        self._violations: list[Violation] = []
        self._checked = 0
        self._pending: list[httpx.Response] = []
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        if not request.url.path.startswith(OUT_OF_SPEC_PREFIXES):
            captured = httpx.Response(
                response.status_code,
                headers=response.headers,
                content=response.content,
                request=request,
            )
            with self._lock:
                self._pending.append(captured)
        return response

    def _flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        for response in pending:
            found = self.validator.validate_response(response)
            matched = self.validator.match(response.request.url.path)
            with self._lock:
                self._violations.extend(found)
                if response.content and "json" in response.headers.get("content-type", ""):
                    self._checked += 1
                if matched is not None:
                    self.operations.add((response.request.method, matched[0]))

    @property
    def violations(self) -> list[Violation]:
        self._flush()
        return self._violations

    @property
    def checked(self) -> int:
        self._flush()
        return self._checked

    def close(self) -> None:
        self.inner.close()
