"""The inputs of a runbook form: one widget per parameter, and reading them back.

:func:`field_inputs` makes one :class:`FieldInput` per field of a procedure's
pydantic ``Params`` (a nested model such as ``apps`` gets one per field),
prefilled; :func:`validate_values` reads the widgets back into parameters and
the validation message for each field. :mod:`kmsi_lib.runbooks.forms` lays
them out in the steps of a runbook.
"""

from __future__ import annotations

import enum
import json
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape, unescape
from typing import Literal

import ipywidgets as w
import pydantic

from kmsi_lib.engine import field_messages
from kmsi_lib.engine.labels import param_label, param_value_words
from kmsi_lib.jsontypes import JsonMap, JsonObject, JsonValue

__all__ = ["LABEL", "FieldInput", "Kind", "field_inputs", "field_of", "validate_values", "wide"]

Kind = Literal["bool", "int", "float", "choice", "text", "list", "all_or_list", "json"]

_LIST_HELP = "one per line, or separated by commas"
LABEL = {"description_width": "17em"}  # every input's label column


def wide(width: str = "36em") -> w.Layout:
    return w.Layout(width=width)


def _split(text: str) -> list[str]:
    parts = re.split(r"[\n,]", text)
    return [p.strip() for p in parts if p.strip()]


# An annotation is whatever typing builds at run time (a class, ``list[str]``, a union,
# ``Literal[...]``): it is read through ``typing.get_origin``/``get_args``, so ``object``.


def _plain(annotation: object) -> object:
    """The annotation without ``Annotated`` metadata (bounds), also inside lists and unions."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _plain(args[0])
    if origin is list and args:
        return list[_plain(args[0])]  # type: ignore[misc]  # a type built at run time
    if origin in (typing.Union, types.UnionType):
        return typing.Union[tuple(_plain(a) for a in args)]  # noqa: UP007
    return annotation


def _unwrap(annotation: object) -> tuple[object, bool]:
    """(the annotation without ``None``, whether None is allowed)."""
    annotation = _plain(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(annotation))
        inner = args[0] if len(args) == 1 else typing.Union[tuple(args)]  # noqa: UP007
        return inner, nullable
    return annotation, False


def _literal_values(annotation: object) -> tuple[object, ...] | None:
    if typing.get_origin(annotation) is Literal:
        return typing.get_args(annotation)
    return None


def _kind(annotation: object) -> tuple[Kind, tuple[object, ...]]:
    """Which input suits a (None-stripped) annotation, and the choices of a dropdown."""
    choices = _literal_values(annotation)
    if choices is not None:
        return "choice", choices
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "choice", tuple(member.value for member in annotation)
    if annotation is bool:
        return "bool", ()
    if annotation is int:
        return "int", ()
    if annotation is float:
        return "float", ()
    if annotation is str:
        return "text", ()
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is list and args and args[0] is str:
        return "list", ()
    if origin in (typing.Union, types.UnionType):
        literal = [a for a in args if _literal_values(a) is not None]
        lists = [a for a in args if typing.get_origin(a) is list]
        if literal and lists and len(literal) + len(lists) == len(args):
            return "all_or_list", _literal_values(literal[0]) or ()
        if str in args:
            return "text", ()  # e.g. a path or an inline dict: text, JSON when it looks like it
    return "json", ()


@dataclass
class FieldInput:
    """One parameter's input, its message beside it, and how its text becomes a value.

    The input is labelled in plain words (:func:`~kmsi_lib.engine.labels.param_label`);
    under it, smaller, ``help`` shows the parameter's name (what a params file calls it,
    in a ``<label>`` of its own), its description and, for durations and minutes, what the
    value typed means (``words``, updated as it is typed).
    """

    name: str  # dotted for nested models: "apps.labels"
    kind: Kind
    nullable: bool
    widget: w.ValueWidget
    message: w.HTML
    row: w.VBox
    label: str = ""
    description: str = ""
    help: w.HTML | None = None

    def value(self) -> JsonValue:
        """The parameter value the input holds; ValueError with a message if it cannot be read."""
        raw: JsonValue = self.widget.value  # a checkbox's, number's, dropdown's or text's value
        if self.kind in ("bool", "int", "float", "choice"):
            return raw
        text = str(raw).strip()
        if self.kind == "list":
            return list[JsonValue](_split(text))
        if self.kind == "all_or_list":
            return text if text in ("all",) else list[JsonValue](_split(text))
        if self.kind == "json":
            if not text:
                return None
            try:
                decoded: JsonValue = json.loads(text)
                return decoded
            except json.JSONDecodeError as exc:
                raise ValueError(f"must be JSON ({exc.msg} at line {exc.lineno})") from None
        if not text and self.nullable:
            return None
        if text.startswith("{"):
            try:
                inline: JsonValue = json.loads(text)
                return inline
            except ValueError:
                return text
        return text

    def show(self, message: str) -> None:
        self.message.value = (
            f'<span class="kmsi-field-error" style="color:#b3261e">{escape(message)}</span>'
            if message
            else ""
        )

    @property
    def error(self) -> str:
        return unescape(re.sub(r"<[^>]+>", "", self.message.value))

    @property
    def words(self) -> str:
        """What the value typed means (a duration, minutes), or ``""``."""
        try:
            return param_value_words(self.name, self.value())
        except ValueError:
            return ""

    def refresh_help(self) -> None:
        """Rewrite the line under the input: parameter name, description, value in words."""
        if self.help is None:
            return
        # the name alone in its label (no nested element): what a params file calls the field,
        # and what the browser tests find it by
        parts = [
            f'<label class="kmsi-param" style="font-family:monospace">{escape(self.name)}</label>'
        ]
        if self.description:
            parts.append(f'<span class="kmsi-help">{escape(self.description)}</span>')
        if self.words:
            parts.append(f'<b class="kmsi-words">{escape(self.words)}</b>')
        self.help.value = (
            '<div class="kmsi-field-help" style="font-size:85%;color:#5f6368;'
            'margin:0 0 6px 17.5em;line-height:1.3">' + " &middot; ".join(parts) + "</div>"
        )


def _text_of(kind: Kind, value: object) -> str:
    """What a text input shows for ``value``."""
    if value is None:
        return ""
    if kind in ("list", "all_or_list") and isinstance(value, list | tuple):
        return "\n".join(str(v) for v in value)
    if isinstance(value, dict | list):
        return json.dumps(value, indent=1)
    return str(value)


def _numeric(value: object) -> str | int | float:
    """``value`` as ``int()`` and ``float()`` take it; None (or empty) is 0."""
    if not value:
        return 0
    if isinstance(value, str | int | float):
        return value
    raise TypeError(f"not a number: {value!r}")


def _widget(kind: Kind, choices: tuple[object, ...], value: object, label: str) -> w.ValueWidget:
    common: dict[str, object] = {"description": label, "style": LABEL, "layout": wide()}
    if kind == "bool":
        return w.Checkbox(value=bool(value), indent=True, **common)
    if kind == "int":
        return w.IntText(value=int(_numeric(value)), **common)
    if kind == "float":
        return w.FloatText(value=float(_numeric(value)), **common)
    if kind == "choice":
        options = list(choices)
        return w.Dropdown(
            options=options, value=value if value in options else options[0], **common
        )
    text = _text_of(kind, value)
    if kind in ("list", "json"):
        placeholder = _LIST_HELP if kind == "list" else "JSON; empty for none"
        return w.Textarea(value=text, placeholder=placeholder, rows=3, **common)
    if kind == "all_or_list":
        return w.Textarea(value=text, placeholder=f'"all", or {_LIST_HELP}', rows=2, **common)
    return w.Text(value=text, **common)


def field_inputs(
    model: type[pydantic.BaseModel], values: JsonMap, prefix: str = ""
) -> list[FieldInput]:
    """One :class:`FieldInput` per field of ``model`` (nested models flattened), prefilled."""
    inputs: list[FieldInput] = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        annotation, nullable = _unwrap(info.annotation)
        value: object
        if name in values:
            value = values[name]
        elif info.is_required():
            value = None
        else:
            value = info.get_default(call_default_factory=True)
        if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
            nested = value.model_dump() if isinstance(value, pydantic.BaseModel) else value
            if not nested:
                nested = {}
            if not isinstance(nested, Mapping):
                raise TypeError(f"{path}: expected a mapping, got {type(nested).__name__}")
            inputs += field_inputs(annotation, nested, prefix=f"{path}.")
            continue
        kind, choices = _kind(annotation)
        if nullable and kind in ("int", "float"):
            kind = "json"  # a number box cannot be empty; as text, empty means None
        label = param_label(path)
        widget = _widget(kind, choices, value, label)
        description = info.description or ""
        if description:
            widget.tooltip = description
        message = w.HTML(value="", layout=w.Layout(margin="0 0 0 1em"))
        help_line = w.HTML(value="")
        row = w.VBox([w.HBox([widget, message]), help_line])
        row.add_class("kmsi-field")
        item = FieldInput(path, kind, nullable, widget, message, row, label, description, help_line)
        item.refresh_help()
        widget.observe(lambda _change, item=item: item.refresh_help(), names="value")
        inputs.append(item)
    return inputs


def _set(target: JsonObject, dotted: str, value: JsonValue) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        child = target.setdefault(key, {})
        if not isinstance(child, dict):
            raise TypeError(f"{dotted}: {key} holds {child!r}, not an object")
        target = child
    target[last] = value


def field_of(loc: str, names: list[str]) -> str | None:
    """The input a dotted error location belongs to (``apps.labels[2]`` -> ``apps.labels``)."""
    bare = re.sub(r"\[\d+\]", "", loc)
    for name in sorted(names, key=len, reverse=True):
        if bare == name or bare.startswith(name + "."):
            return name
    # a whole nested model ("apps"): its first input
    return next((name for name in names if name.startswith(bare + ".")), None)


def validate_values(
    model: type[pydantic.BaseModel], inputs: list[FieldInput]
) -> tuple[JsonObject | None, dict[str, str], str]:
    """Read and validate the inputs: (values or None, message per input name, general message).

    Messages use the same wording as a headless run (:func:`~kmsi_lib.engine.parse_params`).
    """
    values: JsonObject = {}
    messages: dict[str, str] = {}
    for item in inputs:
        try:
            _set(values, item.name, item.value())
        except ValueError as exc:
            messages[item.name] = str(exc)
    if messages:
        return None, messages, ""
    general: list[str] = []
    names = [i.name for i in inputs]
    # the same locations and wording as a headless run
    for loc, text in field_messages(model, values).items():
        owner = field_of(loc, names) if loc else None
        if owner is None:
            general.append(f"{loc}: {text}" if loc else text)
        else:
            messages.setdefault(owner, text)
    if messages or general:
        return None, messages, "; ".join(general)
    return values, {}, ""
