"""Runbook parameter files (YAML): load, validate and refuse secrets, before any kernel starts.

A params file holds a runbook's procedure parameters, never credentials::

    # params/sandbox/post_auth.yaml
    apps:
      labels: ["Payroll"]
    prompt_frequency: P30D

Checks, each raising :class:`~kmsi_lib.errors.ParameterError` naming the field:

* the file is a YAML mapping of parameter names (``yaml.safe_load``);
* no key is a runner parameter (``mode``, ``change_id``, ... come from ``kmsi run``);
* every key is declared in the notebook's ``parameters`` cell (as
  ``papermill.inspect_notebook`` reads it, imported only then: it costs seconds);
* procedure parameters pass the procedure's pydantic ``Params`` model; other
  notebook parameters match the type the parameters cell declares;
* nothing looks like a secret (key names such as ``token``, values such as
  ``SSWS …``, PEM keys, JWTs, private JWKs or long random strings): secrets
  reach the kernel through the environment (``OKTA_API_TOKEN`` …) only.

Notebook ↔ procedure ↔ params file: ``notebooks/NN_name.ipynb`` runs the
procedure named in its metadata (``metadata.kmsi.procedure``, default
``name``) and its sandbox params are ``params/sandbox/name.yaml``.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from kmsi_lib import secret_shapes
from kmsi_lib.engine import read_text_file
from kmsi_lib.errors import ParameterError
from kmsi_lib.jsontypes import JsonMap, JsonObject
from kmsi_lib.runbooks.contract import RUNNER_PARAMETERS, procedure_name, procedure_of, runbook_name

if TYPE_CHECKING:
    import pydantic
    from yaml.nodes import MappingNode, Node

__all__ = [
    "RUNNER_PARAMETERS",
    "NotebookInfo",
    "Parameter",
    "RunParams",
    "check_no_secrets",
    "effective_params",
    "load_params_file",
    "load_run_params",
    "normalized_params",
    "notebook_info",
    "params_file_for",
    "procedure_name",
    "runbook_name",
    "validate_params",
]

_ENV_HINT = (
    "secrets never go in a params file (they would be copied into the executed notebook "
    "and the evidence); put the credential in the environment instead: OKTA_API_TOKEN, or "
    "OKTA_CLIENT_ID with OKTA_PRIVATE_KEY_FILE / OKTA_PRIVATE_KEY_JWK"
)


def check_no_secrets(data: object, path: str = "") -> None:
    """Raise ParameterError at the first key or value that looks like a credential."""
    if isinstance(data, Mapping):
        if secret_shapes.is_private_jwk(data):
            raise ParameterError(path or "params", f"it is a private JWK; {_ENV_HINT}")
        for key, value in data.items():
            field = f"{path}.{key}" if path else str(key)
            # Only a text value can be a credential: ``oauth_tokens: true`` is a switch.
            if secret_shapes.is_secret_key(str(key)) and secret_shapes.holds_text(value):
                raise ParameterError(field, f"looks like a credential by its name; {_ENV_HINT}")
            check_no_secrets(value, field)
    elif isinstance(data, list):
        for index, item in enumerate(data):
            check_no_secrets(item, f"{path}[{index}]")
    elif isinstance(data, str):
        reason = secret_shapes.secret_reason(data)
        if reason:
            raise ParameterError(path or "params", f"{reason}; {_ENV_HINT}")


# ---------------------------------------------------------------- notebooks


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One line of a parameters cell: ``name: type = default  # help``.

    ``type`` and ``default`` are the cell's text (``"Optional[str]"``, ``"P30D"``
    with its quotes), ``type`` empty when there is no annotation.
    """

    name: str
    type: str
    default: str
    help: str


@dataclasses.dataclass(frozen=True)
class NotebookInfo:
    path: Path
    name: str  # "post_auth" for notebooks/20_post_auth.ipynb
    procedure: str
    parameters: dict[str, Parameter]


def params_file_for(notebook: Path, directory: Path = Path("params/sandbox")) -> Path:
    """The params file that runs ``notebook`` from ``directory`` (``name.yaml``)."""
    return directory / f"{runbook_name(notebook)}.yaml"


def _source(cell: JsonMap) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def notebook_info(notebook: Path) -> NotebookInfo:
    """Read a runbook's procedure name and its ``parameters`` cell.

    The parameters are papermill's own reading (``papermill.inspect_notebook``),
    so they are exactly the names papermill injects and ``--help-notebook``
    shows. Papermill is imported here, not at module level: it costs seconds.
    """
    path = Path(notebook)
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParameterError("notebook", f"{path}: no such notebook") from None
    except (OSError, ValueError) as exc:
        raise ParameterError("notebook", f"{path}: not a readable notebook ({exc})") from None
    procedure = procedure_of(nb, path)
    for cell in nb.get("cells", []):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            try:  # papermill reads line by line; a broken cell would only fail in the kernel
                ast.parse(_source(cell))
            except SyntaxError as exc:
                raise ParameterError(
                    "notebook", f"{path}: parameters cell is not valid Python ({exc})"
                ) from None
            break
    if not nb.get("metadata", {}).get("kernelspec", {}).get("name"):
        raise ParameterError(
            "notebook",
            f"{path}: no metadata.kernelspec.name (papermill needs "
            "the kernel to run the notebook: python3)",
        )
    import papermill  # here, not at the top: seconds to import, paid only to read a notebook

    parameters = {
        key: Parameter(
            key,
            "" if p["inferred_type_name"] == "None" else p["inferred_type_name"],
            p["default"],
            p["help"],
        )
        for key, p in papermill.inspect_notebook(str(path)).items()
    }
    return NotebookInfo(path, runbook_name(path), procedure, parameters)


# ---------------------------------------------------------------- params files


def _yaml_problem(exc: Exception) -> str:
    """What is wrong and where, without the snippet of the line that PyYAML quotes.

    A malformed line may hold exactly the credential that must not be there, and
    this message goes to the terminal and CI logs.
    """
    parts = []
    for what, where in (("context", "context_mark"), ("problem", "problem_mark")):
        text, mark = getattr(exc, what, None), getattr(exc, where, None)
        if text:
            at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            parts.append(f"{text}{at}")
    return ": ".join(parts) or type(exc).__name__


#: A params file is a few lines; anything this big is the wrong file.
MAX_PARAMS_BYTES = 1024 * 1024
#: Deepest nesting of lists and mappings in a params file (the procedures need 3).
MAX_PARAMS_DEPTH = 20


class _DuplicateKey(Exception):
    def __init__(self, key: str, first: int, again: int) -> None:
        super().__init__(key)
        self.key, self.first, self.again = key, first, again


def _params_loader() -> type:
    """A SafeLoader that refuses duplicate keys, aliases and deep nesting.

    PyYAML keeps the last of two equal keys (a silent override), expands
    aliases (``*a`` repeated: the "billion laughs") and composes nested nodes
    recursively (a RecursionError). A params file needs none of these.
    """
    import yaml
    from yaml.composer import ComposerError
    from yaml.events import AliasEvent, CollectionStartEvent

    class ParamsLoader(yaml.SafeLoader):
        depth = 0

        def compose_node(self, parent: Node | None, index: int) -> Node | None:
            if self.check_event(AliasEvent):
                event = self.peek_event()  # type: ignore[no-untyped-call]  # PyYAML is untyped
                raise ComposerError(
                    None,
                    None,
                    "aliases (*name) are not allowed in a params file; write the value out",
                    event.start_mark,
                )
            event = self.peek_event()  # type: ignore[no-untyped-call]  # PyYAML is untyped here
            if getattr(event, "anchor", None) is not None:
                raise ComposerError(
                    None,
                    None,
                    "anchors (&name) are not allowed in a params file; write the value out",
                    event.start_mark,
                )
            nested = isinstance(event, CollectionStartEvent)
            if nested:
                self.depth += 1
                if self.depth > MAX_PARAMS_DEPTH:
                    raise ComposerError(
                        None,
                        None,
                        f"nested more than {MAX_PARAMS_DEPTH} levels deep",
                        event.start_mark,
                    )
            try:
                return super().compose_node(parent, index)
            finally:
                if nested:
                    self.depth -= 1

        def construct_mapping(
            self, node: MappingNode, deep: bool = False
        ) -> dict[Hashable, object]:
            seen: dict[Hashable, int] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    if key in seen:
                        raise _DuplicateKey(str(key), seen[key], line)
                    seen[key] = line
                except TypeError:  # an unhashable key: the base class words that error
                    break
            return super().construct_mapping(node, deep=deep)

    return ParamsLoader


def load_params_file(path: Path) -> dict[str, object]:
    """Read a YAML params file (YAML's safe subset); an empty file is no parameters.

    The values are YAML's (a date, a set or bytes too), not only JSON's.
    Refused with a ParameterError naming the file (or the key): a directory, a
    file over :data:`MAX_PARAMS_BYTES`, text that is not UTF-8, invalid YAML,
    a key given twice, aliases or anchors, nesting deeper than
    :data:`MAX_PARAMS_DEPTH`.
    """
    import yaml

    text = read_text_file(
        Path(path),
        field="params",
        name="params file",
        max_bytes=MAX_PARAMS_BYTES,
        hint=" (YAML, e.g. params/sandbox/post_auth.yaml)",
    )
    problem: str | None = None
    try:
        data = yaml.load(text, Loader=_params_loader())  # noqa: S506  # a SafeLoader subclass
    except _DuplicateKey as exc:
        raise ParameterError(
            exc.key, f"{path}: is given twice (lines {exc.first} and {exc.again}); keep one"
        ) from None
    except yaml.YAMLError as exc:
        problem = _yaml_problem(exc)
    except (ValueError, OverflowError, RecursionError) as exc:
        # e.g. an integer of more digits than Python converts; the text is not quoted.
        problem = f"a value cannot be converted ({type(exc).__name__}), e.g. a number too long"
    if problem is not None:
        # Raised here, not chained: the YAML error holds the file's text.
        raise ParameterError("params", f"{path}: not valid YAML ({problem})")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParameterError(
            "params",
            f"{path}: must be a mapping of parameter names to values (got {type(data).__name__})",
        )
    bad = [k for k in data if not isinstance(k, str)]
    if bad:
        raise ParameterError(str(bad[0]), "parameter names must be text")
    return data


_SIMPLE_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "bool": (bool,),
    "int": (int,),
    "float": (int, float),
    "list": (list,),
    "dict": (dict,),
}


def _check_declared_type(param: Parameter, value: object) -> None:
    """Check a non-procedure notebook parameter against its declared (simple) type."""
    names = re.findall(r"\w+", param.type)  # "Optional[list[str]]" -> Optional, list, str
    optional = bool({"Optional", "None"} & set(names))
    names = [n for n in names if n not in ("Optional", "None")]
    allowed = _SIMPLE_TYPES.get(names[0]) if names else None
    if allowed is None or value is None and optional:
        return
    if isinstance(value, bool) and bool not in allowed:
        allowed = ()
    if not isinstance(value, allowed):
        raise ParameterError(param.name, f"must be {param.type} (got {value!r})")


def _params_model(procedure: str) -> type[pydantic.BaseModel]:
    from kmsi_lib.procedures import REGISTRY

    try:
        return REGISTRY[procedure].params
    except KeyError:
        known = ", ".join(REGISTRY)
        raise ParameterError(
            "procedure",
            f"no procedure named {procedure!r} "
            f"(metadata.kmsi.procedure); the procedures are: {known}",
        ) from None


def validate_params(data: JsonMap, info: NotebookInfo) -> dict[str, object]:
    """Validate params for ``info``'s notebook; returns them unchanged when valid."""
    check_no_secrets(data)
    for key in data:
        if key in RUNNER_PARAMETERS:
            raise ParameterError(
                key, f"is set by the runner, not a params file: {RUNNER_PARAMETERS[key]}"
            )
    model = _params_model(info.procedure)
    fields = set(model.model_fields)
    declared = set(info.parameters) - set(RUNNER_PARAMETERS)
    for key in data:
        if key in fields and (key in declared or not declared):
            continue
        if key in declared and key not in fields:
            _check_declared_type(info.parameters[key], data[key])
            continue
        known = sorted(declared or fields)
        raise ParameterError(
            key, f"is not a parameter of {info.path.name}; its parameters are: {', '.join(known)}"
        )
    _parse_procedure_params(model, data)
    return dict(data)


def _parse_procedure_params(model: type[pydantic.BaseModel], data: JsonMap) -> pydantic.BaseModel:
    """The procedure's ``Params`` from those of ``data`` that are its fields."""
    from kmsi_lib.engine import parse_params

    return parse_params(model, {k: v for k, v in data.items() if k in model.model_fields})


def normalized_params(procedure: str, data: JsonMap) -> JsonObject:
    """The procedure parameters with defaults filled in, as JSON: what two runs compare."""
    parsed = _parse_procedure_params(_params_model(procedure), data)
    return dict(parsed.model_dump(mode="json"))


def effective_params(info: NotebookInfo, data: JsonMap) -> dict[str, object]:
    """Every parameter the runbook will use: the procedure's, defaults filled in, plus the
    notebook's own parameters (an attestation) that ``data`` gives.

    This is what ``kmsi run`` injects: papermill only replaces the names it is
    given, so injecting the complete set means no value written in a notebook's
    parameters cell can ever take part in a run.
    """
    effective: dict[str, object] = {**normalized_params(info.procedure, data)}
    fields = _params_model(info.procedure).model_fields
    effective.update({k: v for k, v in data.items() if k not in fields})
    return effective


@dataclasses.dataclass(frozen=True)
class RunParams:
    """A validated params file for a notebook: what the runner passes to papermill.

    ``values`` are the file's own entries (what the operator named);
    ``effective`` is the complete parameter set the run uses (:func:`effective_params`).
    """

    notebook: NotebookInfo
    source: Path
    values: dict[str, object]
    effective: dict[str, object] = dataclasses.field(default_factory=dict)

    @property
    def procedure(self) -> str:
        return self.notebook.procedure


def load_run_params(notebook: Path, params_file: Path) -> RunParams:
    """Load and validate ``params_file`` for ``notebook``; raises ParameterError."""
    info = notebook_info(notebook)
    values = validate_params(load_params_file(params_file), info)
    return RunParams(info, Path(params_file), values, effective_params(info, values))
