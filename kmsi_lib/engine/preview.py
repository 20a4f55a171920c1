"""A preview of the post-authentication "Keep me signed in" prompt, before and after.

The prompt_text procedure changes four texts of a brand's sign-in page
(``widgetCustomizations.postAuthKeepMeSignedInPrompt``: ``title``,
``subtitle``, ``acceptButtonText``, ``rejectButtonText``). A reviewer approves
wording by looking at it, so this module draws the prompt the way the Okta
Sign-In Widget lays it out: as HTML (:func:`prompt_preview_html`, inline CSS,
no script, no external resource) and as a boxed card for a terminal
(:func:`prompt_preview_text`), with :func:`prompt_warnings` for texts that
will not show as meant. Everything here is pure: no I/O.

What the widget does, from its source (okta/okta-signin-widget):

* The prompt is the ``PostAuthKeepMeSignedInView`` (2nd generation,
  ``src/v2/view-builder/views/keep-me-signed-in/``) or
  ``transformKeepMeSignedIn`` (3rd generation, ``src/v3/src/transformer/
  layout/keepMeSignedIn/``): a title, a subtitle and two buttons, accept
  above reject. Both generations draw *both* buttons in the secondary style
  (white, blue outline); neither is a primary button. The brand's logo sits
  above the form; this preview writes the brand's name there instead of
  loading an image.
* The texts are the i18n keys ``oie.kmsi.title``, ``oie.kmsi.subtitle``,
  ``oie.kmsi.accept`` and ``oie.kmsi.reject``, whose defaults
  (``packages/@okta/i18n/src/properties/login.properties``) are
  :data:`WIDGET_DEFAULTS`: "Keep me signed in", "Sign in and enter security
  methods less frequently.", "Stay signed in", "Don't stay signed in". A
  brand's prompt texts override those keys; Okta's default sign-in page
  carries the same four texts (the recording
  ``TestAccDataSourceOktaDefaultSigninPage_read``, docs/OKTA-API.md §9.2). A
  text that is None here is shown as the widget's default: what Okta's
  hosted page shows for a prompt field left null is not recorded.
* The widget's ``loc()`` (``src/util/loc.ts``) returns ``L10N_ERROR[key]``
  for an empty text, and for a text holding a placeholder such as ``{0}``
  (it has no value to put there). The preview shows that, as the page would.
* Markup: the 2nd generation escapes every text (Handlebars). The 3rd
  generation shows the title and the buttons as text (Preact children) but
  renders the subtitle as HTML after DOMPurify sanitizes it
  (``InformationalText`` and ``parseHtmlContent``). This preview always shows
  markup as text, and :func:`prompt_warnings` says what each generation does.

Limits. Okta documents none (the spec's ``PostAuthKeepMeSignedInPrompt`` has
plain strings). The limits prompt_text enforces are those of
:mod:`kmsi_lib.engine.bounds` (``TITLE``, ``SUBTITLE``, ``BUTTON``: a hard
ceiling, a usual ceiling lifted by ``allow_unusual_values``, no markup, no
control characters); :func:`prompt_warnings` reports them from those very
objects. Below them, :data:`FIT_LIMITS` are ours: how much text fits the
prompt without crowding it, estimated from the widget's 400 px card (316 px
inside its 42 px padding): a title of about two lines, a subtitle of about
four, a button label of one line (2nd-generation buttons are sized for one).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import wcwidth

from kmsi_lib.engine import bounds
from kmsi_lib.engine.paths import get_path
from kmsi_lib.errors import ParameterError
from kmsi_lib.jsontypes import JsonMap, text

if TYPE_CHECKING:  # the model renders through render, which shows previews
    from kmsi_lib.engine.model import Change

__all__ = [
    "FIT_LIMITS",
    "PROMPT_FIELDS",
    "PROMPT_PATH",
    "WIDGET_DEFAULTS",
    "PromptTexts",
    "change_texts",
    "prompt_preview_html",
    "prompt_preview_text",
    "prompt_warnings",
    "shown_text",
]

#: Where a SignInPage holds the prompt (not at its top level, as Okta's guide shows it).
PROMPT_PATH = "widgetCustomizations.postAuthKeepMeSignedInPrompt"


@dataclass(frozen=True)
class PromptTexts:
    """The four texts of the prompt; None means the brand sets none (the widget's default).

    Build it from Okta's JSON with :meth:`from_prompt` (the
    ``postAuthKeepMeSignedInPrompt`` object) or :meth:`from_page` (a whole
    sign-in page), or from a prompt_text plan's change with :func:`change_texts`.
    """

    title: str | None = None
    subtitle: str | None = None
    accept: str | None = None
    reject: str | None = None

    @classmethod
    def from_prompt(cls, prompt: JsonMap | None) -> PromptTexts:
        """From a ``postAuthKeepMeSignedInPrompt`` object (Okta's field names).

        A field that is absent or null is None. Note that prompt_text's
        ``desired_prompt(params)`` holds only the fields to change: a field it
        leaves out keeps the page's text, it does not return to the default.
        """
        prompt = prompt if isinstance(prompt, Mapping) else {}
        values: dict[str, str | None] = {}
        for spec in _FIELDS:
            value = prompt.get(spec.okta)
            values[spec.name] = None if value is None else str(value)
        return cls(**values)

    @classmethod
    def from_page(cls, page: JsonMap | None) -> PromptTexts:
        """From a whole SignInPage (customized, preview or default), as read or as planned."""
        found = get_path(page, PROMPT_PATH) if page is not None else None
        return cls.from_prompt(found if isinstance(found, Mapping) else None)

    def to_prompt(self) -> dict[str, str | None]:
        """The texts under Okta's field names (``acceptButtonText``, ...)."""
        return {spec.okta: getattr(self, spec.name) for spec in _FIELDS}


@dataclass(frozen=True)
class _Field:
    name: str  # attribute of PromptTexts
    okta: str  # field of PostAuthKeepMeSignedInPrompt
    default: str  # the widget's text (login.properties)
    limit: bounds.Limit  # what prompt_text's Params enforce

    @property
    def key(self) -> str:
        """The widget's i18n key."""
        return f"oie.kmsi.{self.name}"

    @property
    def label(self) -> str:
        return self.name if self.name in ("title", "subtitle") else f"{self.name} button"

    @property
    def param(self) -> str:
        """prompt_text's parameter name (``acceptButtonText`` -> ``accept_button_text``)."""
        return re.sub(r"[A-Z]", lambda m: "_" + m.group().lower(), self.okta)


_FIELDS = (
    _Field("title", "title", "Keep me signed in", bounds.TITLE),
    _Field(
        "subtitle",
        "subtitle",
        "Sign in and enter security methods less frequently.",
        bounds.SUBTITLE,
    ),
    _Field("accept", "acceptButtonText", "Stay signed in", bounds.BUTTON),
    _Field("reject", "rejectButtonText", "Don't stay signed in", bounds.BUTTON),
)

#: prompt_text's parameter name -> the field of ``PostAuthKeepMeSignedInPrompt`` it sets.
PROMPT_FIELDS: Mapping[str, str] = {f.param: f.okta for f in _FIELDS}

#: The Sign-In Widget's own texts (login.properties, ``oie.kmsi.*``).
WIDGET_DEFAULTS = PromptTexts(**{f.name: f.default for f in _FIELDS})

#: Ours, not Okta's: characters that fit each text comfortably (see the module docstring).
#: Each stays below the usual ceiling prompt_text enforces (bounds.TITLE, SUBTITLE, BUTTON).
FIT_LIMITS: Mapping[str, int] = {"title": 60, "subtitle": 150, "accept": 30, "reject": 30}

# What the widget's loc() takes for a placeholder it must fill (src/util/loc.ts: /\{[\d+]\}/).
_PLACEHOLDER = re.compile(r"\{[\d+]\}")


def _spec(name: str) -> _Field:
    return next(f for f in _FIELDS if f.name == name)


def shown_text(texts: PromptTexts, name: str) -> str:
    """The text the widget shows for ``name`` (``title``, ``subtitle``, ``accept``, ``reject``).

    None gives the widget's default; an empty text, or one with a
    placeholder such as ``{0}``, gives the widget's ``L10N_ERROR[key]``.
    """
    spec = _spec(name)
    value = getattr(texts, name)
    if value is None:
        return spec.default
    if value == "" or _PLACEHOLDER.search(value):
        return f"L10N_ERROR[{spec.key}]"
    return str(value)


def _visible(text: str) -> str:
    """Control and bidi characters spelled out (``\\x1b``, ``\\u202e``), so none can act."""
    return bounds.CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


# --------------------------------------------------------------------------- warnings


def _markup_warning(spec: _Field, found: str) -> str:
    if spec.name == "subtitle":
        effect = (
            "this preview and the 2nd-generation widget (G2) show it as text; the"
            " 3rd generation (G3) renders the subtitle as HTML once DOMPurify has"
            " sanitized it, so its tags take effect there"
        )
    else:
        effect = "the Sign-In Widget (G2 and G3) shows it as text, as this preview does"
    return (
        f"{spec.label}: contains markup ({found!r}): {effect}; the prompt_text procedure"
        " does not accept markup in a new text"
    )


def _length_warning(spec: _Field, value: str) -> str | None:
    size = len(value)  # characters, as bounds.Limit counts them
    limit = spec.limit
    if limit.hard_max is not None and size > limit.hard_max:
        return (
            f"{spec.label}: {size} characters; the prompt_text procedure refuses more than"
            f" {limit.hard_max}"
        )
    if limit.usual_max is not None and size > limit.usual_max:
        return (
            f"{spec.label}: {size} characters, above the usual {limit.usual_max}; the"
            f" prompt_text procedure refuses it unless {spec.param!r} is named in"
            f" {bounds.ALLOW_FIELD}"
        )
    fits = FIT_LIMITS[spec.name]
    if size > fits:
        room = {
            "title": "two lines of the title",
            "subtitle": "about four lines under the title",
        }.get(spec.name, "one line of the button")
        return (
            f"{spec.label}: {size} characters; about {fits} fit ({room} in the widget's"
            " 400 px card); it may wrap or be cut off"
        )
    return None


def _field_warnings(spec: _Field, value: str) -> list[str]:
    out: list[str] = []
    if value == "":
        out.append(
            f"{spec.label}: empty; the Sign-In Widget takes an empty text for a missing one"
            f" and shows L10N_ERROR[{spec.key}] in its place"
        )
        return out
    if not value.strip():
        out.append(f"{spec.label}: only whitespace; the prompt shows nothing there")
    elif value != value.strip():
        out.append(
            f"{spec.label}: starts or ends with whitespace, which the page does not show"
            " but Okta stores (and verification compares) as part of the text"
        )
    placeholder = _PLACEHOLDER.search(value)
    if placeholder:
        out.append(
            f"{spec.label}: contains {placeholder.group()!r}, which the widget reads as a"
            f" placeholder it has no value for: it shows L10N_ERROR[{spec.key}] instead"
        )
    markup = bounds.MARKUP.search(value)
    if markup:
        end = value.find(">", markup.start())
        found = (
            value[markup.start() : end + 1] if 0 <= end - markup.start() < 40 else markup.group()
        )
        out.append(_markup_warning(spec, _visible(found)))
    control = bounds.CONTROL.search(value)
    if control:
        out.append(
            f"{spec.label}: contains a control or bidi character"
            f" ({_visible(control.group())}), invisible on the page or reordering the"
            " text around it; the preview spells it out"
        )
    length = _length_warning(spec, value)
    if length:
        out.append(length)
    return out


def prompt_warnings(texts: PromptTexts) -> list[str]:
    """What in ``texts`` will not show as meant, one sentence per problem.

    Each warning starts with the field ("title: ..."). Checked: empty and
    whitespace-only texts, leading or trailing whitespace, ``{0}``-style
    placeholders, markup (what each widget generation does with it),
    control and bidi characters, lengths (prompt_text's hard and usual
    ceilings from :mod:`~kmsi_lib.engine.bounds`, then our
    :data:`FIT_LIMITS`), and two buttons that say the same. A None field is
    the widget's default and has nothing to warn about.
    """
    out: list[str] = []
    for spec in _FIELDS:
        value = getattr(texts, spec.name)
        if value is not None:
            out.extend(_field_warnings(spec, value))
    accept, reject = shown_text(texts, "accept"), shown_text(texts, "reject")
    if (texts.accept is not None or texts.reject is not None) and (
        accept.strip().casefold() == reject.strip().casefold()
    ):
        out.append(
            f"accept and reject buttons: both say {accept.strip()!r}; users cannot tell them apart"
        )
    return out


def _all_warnings(before: PromptTexts | None, after: PromptTexts) -> list[str]:
    """The after texts' warnings, then those of the before texts that the after ones lack."""
    now = prompt_warnings(after)
    if before is None:
        return now
    was = [w for w in prompt_warnings(before) if w not in now]
    return now + [f"before: {w}" for w in was]


def _changed(before: PromptTexts | None, after: PromptTexts) -> set[str]:
    """Fields whose shown text differs (None and the default text look the same)."""
    if before is None:
        return set()
    return {f.name for f in _FIELDS if shown_text(before, f.name) != shown_text(after, f.name)}


def _labels(names: set[str]) -> str:
    return ", ".join(f.label for f in _FIELDS if f.name in names)


# --------------------------------------------------------------------------- HTML

_FONT = "Inter, Arial, Helvetica, sans-serif"  # the widget's stack, without its web font
_ROW = f"display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start;font-family:{_FONT}"
_FIGURE = "margin:0;width:400px;max-width:100%"
_CAPTION = (
    "font-size:12px;font-weight:600;letter-spacing:.06em;text-transform:uppercase;"
    "color:#5e5e5e;margin:0 0 6px"
)
_CARD = (
    "box-sizing:border-box;width:400px;max-width:100%;background:#fff;color:#6e6e78;"
    "border:1px solid #d8d8d8;border-radius:3px;box-shadow:0 2px 0 rgba(175,175,175,.12);"
    "font-size:14px;line-height:1.4;text-align:center;overflow-wrap:anywhere"
)
_HEADER = (
    "padding:30px 42px 25px;border-bottom:1px solid #ddd;font-size:18px;font-weight:600;"
    "color:#1d1d21"
)
_CONTENT = "padding:20px 42px 30px"
_STYLES: dict[str, str] = {
    "title": "font-size:20px;font-weight:600;line-height:1.5;color:#1d1d21;margin:10px 0 8px",
    "subtitle": "margin:0 0 20px",
    "button": (
        "display:block;box-sizing:border-box;width:100%;min-height:50px;margin-top:15px;"
        "padding:14px 12px;border:1px solid #1662dd;border-radius:4px;background:#fff;"
        "color:#1662dd;font-size:14px;line-height:1.4"
    ),
}
_HIGHLIGHT = ";background:#fff1b8;outline:2px dashed #b7791f;outline-offset:2px"
_LEGEND = "font-size:12px;color:#5e5e5e;margin:8px 0 0"
_WARNINGS = (
    f"margin:16px 0 0;padding:8px 12px;border-left:4px solid #b7791f;background:#fffbeb;"
    f"color:#1d1d21;font-family:{_FONT};font-size:13px"
)


def _escaped(text: str) -> str:
    return html.escape(_visible(text), quote=True)


def _html_field(spec: _Field, texts: PromptTexts, changed: bool) -> str:
    style = _STYLES["button" if spec.name in ("accept", "reject") else spec.name]
    attributes = f' data-field="{spec.name}"'
    if changed:
        style += _HIGHLIGHT
        attributes += ' data-changed="true"'
    if getattr(texts, spec.name) is None:
        attributes += ' data-default="true"'
    if spec.name == "title":
        # a heading by role only: a real <h2> would land in the notebook's table of contents
        attributes += ' role="heading" aria-level="2"'
    return f'<div{attributes} style="{style}">{_escaped(shown_text(texts, spec.name))}</div>'


def _html_card(version: str, texts: PromptTexts, brand: str, changed: set[str]) -> str:
    body = "".join(_html_field(spec, texts, spec.name in changed) for spec in _FIELDS)
    legend = []
    if changed:
        legend.append(f"Highlighted: the texts that change ({_labels(changed)}).")
    defaults = {f.name for f in _FIELDS if getattr(texts, f.name) is None}
    if defaults:
        legend.append(f"The widget's default text: {_labels(defaults)}.")
    notes = "".join(f'<p style="{_LEGEND}">{html.escape(line)}</p>' for line in legend)
    return (
        f'<figure data-version="{version}" style="{_FIGURE}">'
        f'<figcaption style="{_CAPTION}">{version}</figcaption>'
        f'<div data-part="card" style="{_CARD}">'
        f'<div data-part="brand" style="{_HEADER}">{_escaped(brand)}</div>'
        f'<div data-part="form" style="{_CONTENT}">{body}</div>'
        f"</div>{notes}</figure>"
    )


def prompt_preview_html(before: PromptTexts | None, after: PromptTexts, *, brand: str) -> str:
    """The prompt as the Sign-In Widget lays it out, before and after, as an HTML fragment.

    Side by side: a card per version (captioned "before" and "after"; only
    "after" when ``before`` is None) with the brand's name, the title, the
    subtitle and the accept and reject buttons. In the after card, the texts
    that change are highlighted (``data-changed="true"``); fields the brand
    does not set show the widget's default (``data-default="true"``). Every
    text is escaped (markup shows as text) and control characters are spelled
    out; the warnings of :func:`prompt_warnings` follow the cards. Inline
    styles only: no script, no link, no image, nothing loaded from elsewhere.
    Each field carries ``data-field`` (``title``, ``subtitle``, ``accept``,
    ``reject``), each card ``data-version``, for tests and for the form.
    """
    changed = _changed(before, after)
    cards = []
    if before is not None:
        cards.append(_html_card("before", before, brand, changed))
    cards.append(_html_card("after", after, brand, changed))
    out = f'<div data-part="kmsi-prompt-preview" style="{_ROW}">{"".join(cards)}</div>'
    warnings = _all_warnings(before, after)
    if warnings:
        items = "".join(f"<li>{_escaped(w)}</li>" for w in warnings)
        out += (
            f'<div data-part="warnings" role="note" style="{_WARNINGS}">'
            f'<b>Check the wording:</b><ul style="margin:4px 0 0;padding-left:20px">{items}'
            "</ul></div>"
        )
    return f"<div>{out}</div>"


# --------------------------------------------------------------------------- text

_INNER = 32  # columns of text inside a card
_BUTTON = _INNER - 2  # inside a button's box


def _wrap(text: str, width: int) -> list[str]:
    return wcwidth.wrap(text, width) or [""]


def _text_card(texts: PromptTexts, brand: str, changed: set[str]) -> tuple[list[str], list[bool]]:
    """The card's lines and, for each, whether it shows a changed text."""
    lines: list[str] = []
    marks: list[bool] = []

    def add(content: str, mark: bool = False) -> None:
        lines.append(f"│ {wcwidth.center(content, _INNER)} │")
        marks.append(mark)

    rule = "─" * (_INNER + 2)
    lines.append(f"┌{rule}┐")
    marks.append(False)
    for part in _wrap(_visible(brand), _INNER):
        add(part)
    lines.append(f"├{rule}┤")
    marks.append(False)
    add("")
    for name in ("title", "subtitle"):
        for part in _wrap(_visible(shown_text(texts, name)), _INNER):
            add(part, name in changed)
        add("")
    for name in ("accept", "reject"):
        mark = name in changed
        add("┌" + "─" * _BUTTON + "┐", mark)
        for part in _wrap(_visible(shown_text(texts, name)), _BUTTON - 2):
            add("│ " + wcwidth.center(part, _BUTTON - 2) + " │", mark)
        add("└" + "─" * _BUTTON + "┘", mark)
    lines.append(f"└{rule}┘")
    marks.append(False)
    return lines, marks


def prompt_preview_text(before: PromptTexts | None, after: PromptTexts, *, brand: str) -> str:
    """The prompt as boxed cards for a terminal: before and after side by side (77 columns).

    Lines showing a text that changes carry a ``*`` beside the card; a legend
    names the changed fields and those showing the widget's default text, and
    the warnings of :func:`prompt_warnings` follow. Control and bidi
    characters are spelled out (``\\x1b``), so a text cannot drive the terminal.
    """
    changed = _changed(before, after)
    after_lines, after_marks = _text_card(after, brand, changed)
    width = wcwidth.width(after_lines[0])
    out: list[str] = []
    if before is None:
        out.append("after")
        out += [
            line + (" *" if mark else "")
            for line, mark in zip(after_lines, after_marks, strict=True)
        ]
    else:
        before_lines, before_marks = _text_card(before, brand, changed)
        height = max(len(before_lines), len(after_lines))
        blank = " " * width
        before_lines += [blank] * (height - len(before_lines))
        after_lines += [blank] * (height - len(after_lines))
        before_marks += [False] * (height - len(before_marks))
        after_marks += [False] * (height - len(after_marks))
        out.append(wcwidth.ljust("before", width) + "   after")
        for i in range(height):
            gap = " * " if before_marks[i] else "   "
            tail = " *" if after_marks[i] else ""
            out.append(f"{before_lines[i]}{gap}{after_lines[i]}{tail}".rstrip())
    if changed:
        out.append(f"* changed: {_labels(changed)}")
    for version, texts in (("before", before), ("after", after)):
        if texts is None:
            continue
        defaults = {f.name for f in _FIELDS if getattr(texts, f.name) is None}
        if defaults:
            out.append(f"{version}, the widget's default text: {_labels(defaults)}")
    warnings = _all_warnings(before, after)
    if warnings:
        out.append("Check the wording:")
        out += [f"  - {_visible(w)}" for w in warnings]
    return "\n".join(out)


# --------------------------------------------------------------------------- plans


def change_texts(change: Change) -> tuple[PromptTexts | None, PromptTexts]:
    """The prompt before and after one change of a prompt_text plan.

    ``after`` comes from the page the change will send (``change.after``).
    ``before`` comes from the page as read (``change.before``, an update); for
    a create (``before`` None: the brand had no customized or preview page
    yet) the texts users see now are the diffs' ``before`` values over the
    after texts, since a field without a diff does not change. None when a
    create has no prompt diff at all. A change without an ``after`` (a
    delete, as a rollback plans) has no prompt to show: ParameterError.
    """
    if change.after is None:
        raise ParameterError(
            "change", f"a {change.action} of {change.ref.name or change.ref.id} sends no page"
        )
    after = PromptTexts.from_page(change.after)
    if change.before is not None:
        return PromptTexts.from_page(change.before), after
    values = after.to_prompt()
    touched = False
    for item in change.diffs:
        okta = item.path.removeprefix(f"{PROMPT_PATH}.")
        if okta in values and item.path != okta:
            values[okta] = text(item.before)
            touched = True
    return (PromptTexts.from_prompt(values) if touched else None), after
