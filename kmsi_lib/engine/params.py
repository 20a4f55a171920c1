"""Procedure parameters: one validation, one wording of what is wrong.

:func:`parse_params` validates a procedure's ``Params`` and turns pydantic's
errors into a :class:`~kmsi_lib.errors.ParameterError` naming the field and
the fix; :func:`field_messages` gives forms the same messages per field.
:class:`ParamsModel` is the base of every ``Params`` (unknown parameters are
refused, usual bounds checked: :mod:`kmsi_lib.engine.bounds`).
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Self, TypeVar

import pydantic
from pydantic import BaseModel, BeforeValidator, ConfigDict
from pydantic_core import ErrorDetails, PydanticCustomError

from kmsi_lib.engine import bounds as _bounds
from kmsi_lib.errors import ParameterError
from kmsi_lib.jsontypes import JsonMap

__all__ = [
    "AcknowledgeReach",
    "AllowUnusualValues",
    "Minutes",
    "ParamsModel",
    "field_messages",
    "parse_params",
    "read_text_file",
    "whole_number",
]


class ParamsModel(BaseModel):
    """Base of every procedure's ``Params``: unknown parameters are refused.

    A model with an ``allow_unusual_values`` field (every procedure's ``Params``)
    also checks the usual bounds of its fields and sections (:mod:`kmsi_lib.engine.bounds`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    @pydantic.model_validator(mode="after")
    def _usual_bounds(self) -> Self:
        allowed = getattr(self, _bounds.ALLOW_FIELD, None)
        if isinstance(allowed, list):  # a section is checked by the model holding it
            _bounds.check_usual(self, allowed)
        return self


AllowUnusualValues = Annotated[
    list[Annotated[str, _bounds.NAME]],
    pydantic.Field(
        default_factory=list,
        description="Fields whose usual ceiling or floor is lifted for this run (Okta's "
        "documented limits still apply), e.g. [factor_lifetime_minutes].",
    ),
]
"""The type of ``allow_unusual_values``: field paths, empty by default."""

AcknowledgeReach = Annotated[
    pydantic.StrictInt | None,
    pydantic.Field(
        default=None,
        ge=0,
        description="The number of apps the plan's impact section says it reaches, when that is"
        " more than were named: confirms the reach so that the apply may proceed.",
    ),
]
"""The type of ``acknowledge_reach`` (see :func:`kmsi_lib.engine.impact.check_acknowledgement`)."""


def whole_number(unit: str = "") -> Callable[[object], int]:
    """A before-validator accepting only a whole number (not ``"200"``, ``200.5`` or ``True``).

    ``unit`` words the message: ``must be a whole number of minutes (got '200')``.
    """
    wording = f"a whole number of {unit}" if unit else "a whole number"

    def check(value: object) -> int:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise PydanticCustomError(
                "whole_number", f"must be {wording} (got {{got}})", {"got": repr(value)}
            )
        return value

    return check


Minutes = Annotated[int, BeforeValidator(whole_number("minutes")), pydantic.Field(ge=0)]
"""A number of minutes: a whole number, zero or more (``"200"`` as a string is refused)."""

ModelT = TypeVar("ModelT", bound=BaseModel)


def _loc(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


def _model_at(model: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The (nested) model that owns the fields at ``loc``, if it is a plain model field."""
    current = model
    for part in loc:
        if isinstance(part, int):
            continue
        info = current.model_fields.get(part)
        annotation = info.annotation if info is not None else None
        # an optional section (``KnowledgeConstraint | None``) is its model
        models = [
            a
            for a in typing.get_args(annotation)
            if isinstance(a, type) and issubclass(a, BaseModel)
        ]
        if len(models) == 1:
            annotation = models[0]
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        current = annotation
    return current


def _message(error: ErrorDetails, model: type[BaseModel]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    got = error.get("input")
    if kind == "missing":
        owner = _model_at(model, error["loc"][:-1])
        field = owner.model_fields.get(str(error["loc"][-1])) if owner is not None else None
        what = f" ({field.description.rstrip('.')})" if field and field.description else ""
        return (
            f"is required{what}: nothing is chosen for you; name it in the params file"
            " (or the form)"
        )
    if kind == "extra_forbidden":
        owner = _model_at(model, error["loc"][:-1])
        if owner is None:
            return "is not a known parameter"
        known = ", ".join(sorted(owner.model_fields))
        where = "this procedure" if owner is model else "this section"
        return f"is not a parameter of {where}; the parameters are: {known}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be a whole number (got {got!r})"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false (got {got!r})"
    if kind in ("string_type",):
        return f"must be text (got {got!r})"
    if kind == "greater_than_equal":
        return f"must be {ctx['ge']} or more (got {got!r})"
    if kind == "less_than_equal":
        return f"must be {ctx['le']} or less (got {got!r})"
    if kind == "greater_than":
        return f"must be more than {ctx['gt']} (got {got!r})"
    if kind == "less_than":
        return f"must be less than {ctx['lt']} (got {got!r})"
    if kind in ("literal_error", "enum"):
        return f"must be one of {ctx.get('expected')} (got {got!r})"
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length')} item(s) (got {got!r})"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    if kind == "assertion_error":
        return str(error["msg"]).removeprefix("Assertion failed, ")
    if kind in ("whole_number",) or kind.startswith("kmsi_"):
        return str(error["msg"])
    return f"{error['msg']} (got {got!r})"


def field_messages(model: type[BaseModel], data: JsonMap) -> dict[str, str]:
    """Validate ``data`` against ``model``; the message for each wrong field, {} when valid.

    Keys are field paths as :func:`parse_params` names them (``apps.labels[2]``),
    ``""`` for a problem that belongs to no single field; messages have the
    same wording as a headless run (the first one per field). A
    :class:`ParameterError` a model validator raises is reported under its
    ``field``. Forms show these next to their inputs.
    """
    try:
        model.model_validate(dict(data))
    except pydantic.ValidationError as exc:
        messages: dict[str, str] = {}
        for error in exc.errors():
            messages.setdefault(_loc(error["loc"]), _message(error, model))
        return messages
    except ParameterError as exc:  # raised by a model validator, naming the field itself
        return {exc.field: exc.message}
    return {}


def parse_params(model: type[ModelT], data: JsonMap | BaseModel) -> ModelT:
    """Validate ``data`` against a procedure's ``Params`` model.

    Raises :class:`ParameterError` whose ``field`` is the first wrong field
    (dotted, with list indexes: ``apps.labels[2]``) and whose message lists
    every wrong field with what to do. A model instance passes through (another model is
    read by its fields: a procedure's declaration takes any procedure's parameters).
    """
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(dict(data))
    except pydantic.ValidationError as exc:
        problems = [(_loc(e["loc"]) or "params", _message(e, model)) for e in exc.errors()]
    first_field, first_message = problems[0]
    if len(problems) == 1:
        raise ParameterError(first_field, first_message) from None
    rest = "; ".join(f"{name}: {message}" for name, message in problems[1:])
    raise ParameterError(first_field, f"{first_message}; also {rest}") from None


def read_text_file(path: Path, *, field: str, name: str, max_bytes: int, hint: str = "") -> str:
    """The text of a file an operator names (a params file, a users list).

    Refused with ``ParameterError(field)`` naming the file and the fix: missing, a
    directory, not a regular file (``/dev/zero`` or a pipe would never end), more
    than ``max_bytes``, UTF-16/UTF-32 or binary, or not UTF-8 (a UTF-8 byte-order
    mark is allowed, as Windows editors write one). ``name`` says what kind of
    file is expected ("params file"), ``hint`` adds an example. The offending bytes
    are never shown: they may be part of a pasted credential.
    """
    shown = str(path)
    try:
        if path.is_dir():
            raise ParameterError(field, f"{shown}: is a directory; give a {name}{hint}")
        if path.exists() and not path.is_file():
            raise ParameterError(field, f"{shown}: is not a regular file; give a {name}")
        with path.open("rb") as stream:
            raw = stream.read(max_bytes + 1)
    except FileNotFoundError:
        raise ParameterError(field, f"{shown}: cannot read it: no such {name}") from None
    except OSError as exc:
        raise ParameterError(field, f"{shown}: cannot read it ({exc.strerror})") from None
    if len(raw) > max_bytes:
        raise ParameterError(
            field,
            f"{shown}: is more than {max_bytes} bytes, too big for a {name}; is it the right file?",
        )
    if raw.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")) or b"\x00" in raw:
        raise ParameterError(
            field, f"{shown}: is UTF-16 or UTF-32 text (or binary); save it as UTF-8"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParameterError(
            field,
            f"{shown}: is not UTF-8 text (byte {exc.start} cannot be decoded); save it as UTF-8",
        ) from None
