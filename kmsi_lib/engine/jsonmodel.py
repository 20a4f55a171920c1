"""The base of the engine's JSON models: :class:`JsonModel`.

A model's constructor takes the fields by position (:func:`positional`). Its
JSON (``to_dict()``, ``model_dump(mode="json")``) is its fields in the order
they are declared, with two adjustments the subclasses declare as class
variables: ``json_first`` names computed fields that come first (an apply
result opens with its ``procedure``), and ``omitted_when_empty`` names fields
left out when empty (keys added after evidence was first written, so older
plans keep their digest). The JSON schema (``model_json_schema(mode=
"serialization")``) says the same: every key is required but those, and no
other key is allowed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import ClassVar, Protocol, Self, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    JsonValue,
    SerializerFunctionWrapHandler,
    model_serializer,
)
from pydantic.config import JsonDict

from kmsi_lib.jsontypes import JsonObject

__all__ = ["CLOSED_JSON", "JsonModel", "positional"]


class _Printer(Protocol):
    """What :meth:`JsonModel._repr_pretty_` uses of IPython's pretty printer."""

    def text(self, obj: str) -> None: ...


_Init = TypeVar("_Init", bound=Callable[..., None])


def positional(init: _Init) -> _Init:
    """Mark a model's typed ``__init__`` (fields by position, as the dataclasses took them)
    as pydantic's own, the way pydantic's ``RootModel`` marks its: ``model_validate`` then
    checks the JSON against the fields and their defaults, without calling it."""
    setattr(init, "__pydantic_base_init__", True)  # noqa: B010 - the name pydantic looks up
    return init


def _close_schema(schema: JsonDict, cls: type) -> None:
    """Every key required but the ones left out when empty; no other key allowed."""
    optional = set(getattr(cls, "omitted_when_empty", ()))
    required = schema.get("required")
    if isinstance(required, list):
        names: list[JsonValue] = [k for k in sorted(map(str, required)) if k not in optional]
        schema["required"] = names
    schema["additionalProperties"] = False


def _dump(self: JsonModel, handler: SerializerFunctionWrapHandler) -> JsonObject:
    data: JsonObject = handler(self)
    for key in self.omitted_when_empty:
        if key in data and not data[key]:
            del data[key]
    first = {key: data.pop(key) for key in self.json_first if key in data}
    return {**first, **data}


# Without a return annotation pydantic keeps the fields' schema as the JSON schema of the
# serialized model (an annotated return would replace it with that of a plain object).
del _dump.__annotations__["return"]


#: The configuration of JSON that is evidence: its schema requires every key (but those
#: ``omitted_when_empty``) and allows no other. Plain dataclasses take it with
#: ``pydantic.with_config`` (the plan's impact section).
CLOSED_JSON = ConfigDict(
    json_schema_serialization_defaults_required=True,
    json_schema_extra=_close_schema,
)


class JsonModel(BaseModel):
    """A model whose JSON is evidence: fields in order, computed ones first if named so."""

    model_config = CLOSED_JSON

    #: Computed fields written before the declared ones, in this order.
    json_first: ClassVar[tuple[str, ...]] = ()
    #: Fields left out of the JSON when empty (and not required by the schema).
    omitted_when_empty: ClassVar[tuple[str, ...]] = ()

    serialize_json = model_serializer(mode="wrap")(_dump)

    @positional
    def __init__(self, /, **data: object) -> None:
        super().__init__(**data)

    def to_dict(self) -> JsonObject:
        """The JSON of the model (``model_dump(mode="json")``): what the evidence holds."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Self:
        """The model from its JSON, checked against its fields (``model_validate``): a
        missing required field or a wrong value is pydantic's ``ValidationError``."""
        return cls.model_validate(data)

    def _repr_pretty_(self, printer: _Printer, cycle: bool) -> None:
        """A notebook's plain-text form: the model's ``to_text()`` where it has one (a plan,
        an apply result, a verification: bounded however long the change), else its repr."""
        to_text = getattr(self, "to_text", None)
        printer.text(str(to_text()) if callable(to_text) and not cycle else repr(self))
