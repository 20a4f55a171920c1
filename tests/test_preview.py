"""The prompt preview: the Sign-In Widget's "Keep me signed in" prompt, before and after."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import pytest
import wcwidth

from kmsi_lib.engine import (
    FIT_LIMITS,
    PROMPT_PATH,
    WIDGET_DEFAULTS,
    Change,
    FieldDiff,
    ObjectRef,
    PromptTexts,
    bounds,
    change_texts,
    parse_params,
    prompt_preview_html,
    prompt_preview_text,
    prompt_warnings,
    shown_text,
)
from kmsi_lib.errors import ParameterError
from kmsi_lib.okta.client import OktaClient
from kmsi_lib.procedures import prompt_text
from kmsi_lib.sandbox._pages import DEFAULT_WIDGET_CUSTOMIZATIONS

OKTA_DEFAULTS = DEFAULT_WIDGET_CUSTOMIZATIONS["postAuthKeepMeSignedInPrompt"]
FIELDS = ("title", "subtitle", "accept", "reject")
NEW = PromptTexts(
    title="Stay signed in?",
    subtitle="Make your selection below",
    accept="Accept",
    reject="Reject",
)


# --------------------------------------------------------------------------- an HTML reader


@dataclass
class Card:
    version: str
    caption: str = ""
    brand: str = ""
    texts: dict[str, str] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    changed: set[str] = field(default_factory=set)
    defaults: set[str] = field(default_factory=set)


class PreviewReader(HTMLParser):
    """Reads the preview's cards, and every tag and attribute it contains."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.cards: list[Card] = []
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str]] = []
        self.warnings: list[str] = []
        self._stack: list[tuple[str, dict[str, str]]] = []
        self._in_warning = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        self.attributes += list(a.items())
        self._stack.append((tag, a))
        if "data-version" in a:
            self.cards.append(Card(a["data-version"]))
        if "data-field" in a:
            card = self.cards[-1]
            card.order.append(a["data-field"])
            card.texts[a["data-field"]] = ""
            if a.get("data-changed") == "true":
                card.changed.add(a["data-field"])
            if a.get("data-default") == "true":
                card.defaults.add(a["data-field"])
        if tag == "li":
            self.warnings.append("")

    def handle_endtag(self, tag: str) -> None:
        assert self._stack and self._stack[-1][0] == tag, f"</{tag}> closes nothing open"
        self._stack.pop()

    def handle_data(self, data: str) -> None:
        tags = [t for t, _ in self._stack]
        where = [a for _, a in self._stack]
        if "li" in tags:
            self.warnings[-1] += data
        for attributes in reversed(where):
            if "data-field" in attributes:
                self.cards[-1].texts[attributes["data-field"]] += data
                return
            if attributes.get("data-part") == "brand":
                self.cards[-1].brand += data
                return
        if tags and tags[-1] == "figcaption":
            self.cards[-1].caption += data


def read(html: str) -> PreviewReader:
    reader = PreviewReader()
    reader.feed(html)
    reader.close()
    assert not reader._stack, "every element is closed"
    return reader


def cards(html: str) -> dict[str, Card]:
    return {c.version: c for c in read(html).cards}


# --------------------------------------------------------------------------- HTML


def test_html_lays_out_a_card_per_version_with_brand_title_subtitle_and_two_buttons() -> None:
    """Before and after side by side, each captioned, fields in the widget's order."""
    reader = read(prompt_preview_html(WIDGET_DEFAULTS, NEW, brand="Acme Corp"))
    assert [(c.version, c.caption) for c in reader.cards] == [
        ("before", "before"),
        ("after", "after"),
    ]
    before, after = reader.cards
    for card in (before, after):
        assert card.brand == "Acme Corp"
        assert card.order == list(FIELDS)
    assert after.texts == {
        "title": "Stay signed in?",
        "subtitle": "Make your selection below",
        "accept": "Accept",
        "reject": "Reject",
    }
    assert before.texts["reject"] == "Don't stay signed in"


def test_only_an_after_card_when_there_is_no_before() -> None:
    reader = read(prompt_preview_html(None, NEW, brand="Acme Corp"))
    assert [c.caption for c in reader.cards] == ["after"]
    assert reader.cards[0].changed == set(), "nothing to compare with, nothing highlighted"
    assert "before" not in prompt_preview_html(None, NEW, brand="Acme Corp")


def test_changed_texts_are_highlighted_and_equal_ones_are_not() -> None:
    before = PromptTexts(title="Old title", subtitle=None, accept="Yes", reject="No")
    after = PromptTexts(title="New title", subtitle=None, accept="Yes", reject="No thanks")
    shown = cards(prompt_preview_html(before, after, brand="Acme"))
    assert shown["after"].changed == {"title", "reject"}
    assert shown["before"].changed == {"title", "reject"}, "the old texts are marked too"
    html = prompt_preview_html(before, after, brand="Acme")
    assert "Highlighted: the texts that change (title, reject button)." in html


def test_a_default_spelled_out_is_no_change() -> None:
    """None and the widget's own text look the same on the page, so nothing is highlighted."""
    shown = cards(prompt_preview_html(PromptTexts(), WIDGET_DEFAULTS, brand="Acme"))
    assert shown["after"].changed == set()
    assert shown["before"].defaults == set(FIELDS)
    assert shown["after"].defaults == set()


def test_missing_texts_show_the_widget_defaults() -> None:
    """The widget's login.properties texts, which Okta's default sign-in page also carries."""
    assert WIDGET_DEFAULTS == PromptTexts(
        title="Keep me signed in",
        subtitle="Sign in and enter security methods less frequently.",
        accept="Stay signed in",
        reject="Don't stay signed in",
    )
    assert PromptTexts.from_prompt(OKTA_DEFAULTS) == WIDGET_DEFAULTS
    shown = cards(prompt_preview_html(None, PromptTexts(title="Stay signed in?"), brand="A"))
    after = shown["after"]
    assert after.texts["title"] == "Stay signed in?"
    assert after.texts["subtitle"] == WIDGET_DEFAULTS.subtitle
    assert after.texts["accept"] == "Stay signed in"
    assert after.defaults == {"subtitle", "accept", "reject"}
    html = prompt_preview_html(None, PromptTexts(title="Stay signed in?"), brand="A")
    assert "The widget&#x27;s default text: subtitle, accept button, reject button." in html


MARKUP = PromptTexts(
    title="<script>alert(1)</script>",
    subtitle="<b>bold</b> & <a href='https://evil.example'>link</a>",
    accept='Yes" onclick="steal()',
    reject="<img src=https://evil.example/x.png>",
)


def test_markup_is_shown_as_text_never_as_tags() -> None:
    """Every text and the brand are escaped: a parser sees them as text, not elements."""
    html = prompt_preview_html(MARKUP, MARKUP, brand="<i>Acme</i>")
    reader = read(html)
    assert set(reader.tags) <= {"div", "figure", "figcaption", "p", "b", "ul", "li"}
    for card in reader.cards:
        assert card.texts == {
            "title": MARKUP.title,
            "subtitle": MARKUP.subtitle,
            "accept": MARKUP.accept,
            "reject": MARKUP.reject,
        }
        assert card.brand == "<i>Acme</i>"
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>bold" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "<img" not in html and "<i>" not in html
    assert not any(name.startswith("on") for name, _ in reader.attributes)


def test_markup_comes_with_a_warning_in_the_preview() -> None:
    reader = read(prompt_preview_html(None, MARKUP, brand="Acme"))
    assert any(w.startswith("title: contains markup ('<script>')") for w in reader.warnings)
    assert any("G3" in w and w.startswith("subtitle:") for w in reader.warnings)


def test_the_html_loads_nothing_and_runs_nothing() -> None:
    """No script, style sheet, image or link: inline styles and data attributes only."""
    html = prompt_preview_html(MARKUP, NEW, brand="Acme")
    assert "<script" not in html.lower()
    assert not re.search(r"<[^>]*\b(src|href)\s*=", html, re.IGNORECASE), "escaped text only"
    assert "url(" not in html and "@import" not in html
    reader = read(html)
    names = {name for name, _ in reader.attributes}
    assert names <= {"style", "role", "aria-level"} | {n for n in names if n.startswith("data-")}
    assert not {"script", "style", "link", "img", "iframe", "a", "form"} & set(reader.tags)


def test_control_characters_are_spelled_out() -> None:
    texts = PromptTexts(title="Stay\x1b[31m signed\u202e in")
    html = prompt_preview_html(None, texts, brand="Acme")
    assert "\x1b" not in html and "\u202e" not in html
    assert cards(html)["after"].texts["title"] == "Stay\\x1b[31m signed\\u202e in"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        pytest.param(None, "Keep me signed in", id="none-is-the-default"),
        pytest.param("", "L10N_ERROR[oie.kmsi.title]", id="empty"),
        pytest.param("Stay signed in to {0}?", "L10N_ERROR[oie.kmsi.title]", id="placeholder"),
        pytest.param("Stay {name}", "Stay {name}", id="braces-not-a-placeholder"),
        pytest.param("  ", "  ", id="blank"),
    ],
)
def test_shown_text_is_what_the_widget_shows(value: str | None, shown: str) -> None:
    assert shown_text(PromptTexts(title=value), "title") == shown


# --------------------------------------------------------------------------- warnings


@pytest.mark.parametrize(
    ("texts", "start"),
    [
        pytest.param(PromptTexts(title=""), "title: empty", id="empty"),
        pytest.param(PromptTexts(subtitle="   "), "subtitle: only whitespace", id="blank"),
        pytest.param(
            PromptTexts(accept=" Yes "), "accept button: starts or ends with whitespace", id="ws"
        ),
        pytest.param(
            PromptTexts(reject="No {1}"), "reject button: contains '{1}'", id="placeholder"
        ),
        pytest.param(
            PromptTexts(title="Stay <b>signed</b> in"),
            "title: contains markup ('<b>'): the Sign-In Widget (G2 and G3) shows it as text",
            id="markup-title",
        ),
        pytest.param(
            PromptTexts(subtitle="Tom &amp; Jerry"),
            "subtitle: contains markup ('&amp;'): this preview and the 2nd-generation",
            id="entity-subtitle",
        ),
        pytest.param(
            PromptTexts(title="Stay\tsigned in"),
            "title: contains a control or bidi character (\\t)",
            id="control",
        ),
        pytest.param(
            PromptTexts(accept="OK", reject="ok"),
            "accept and reject buttons: both say 'OK'",
            id="same-buttons",
        ),
    ],
)
def test_warnings(texts: PromptTexts, start: str) -> None:
    warnings = prompt_warnings(texts)
    assert any(w.startswith(start) for w in warnings), warnings


@pytest.mark.parametrize(
    "texts",
    [
        pytest.param(PromptTexts(), id="all-defaults"),
        pytest.param(WIDGET_DEFAULTS, id="the-defaults-spelled-out"),
        pytest.param(NEW, id="plain-texts"),
        pytest.param(PromptTexts(title="Rester connecté ? 保持登录"), id="non-ascii"),
        pytest.param(PromptTexts(title="3 < 4 and 5 > 2"), id="comparison-signs"),
    ],
)
def test_clean_texts_have_no_warnings(texts: PromptTexts) -> None:
    assert prompt_warnings(texts) == []
    assert "Check the wording" not in prompt_preview_html(None, texts, brand="Acme")


def test_before_warnings_are_listed_once_and_marked() -> None:
    before = PromptTexts(title="", accept="Yes ")
    after = PromptTexts(title="Stay signed in?", accept="Yes ")
    warnings = read(prompt_preview_html(before, after, brand="Acme")).warnings
    assert [w.split(":")[0] for w in warnings] == ["accept button", "before"]
    assert warnings[1].startswith("before: title: empty")


# --------------------------------------------------------------------------- lengths

LIMITS = {
    "title": bounds.TITLE,
    "subtitle": bounds.SUBTITLE,
    "accept": bounds.BUTTON,
    "reject": bounds.BUTTON,
}
PARAM = {
    "title": "title",
    "subtitle": "subtitle",
    "accept": "accept_button_text",
    "reject": "reject_button_text",
}


def _length_warnings(name: str, size: int) -> list[str]:
    texts = PromptTexts(**{name: "x" * size})
    return [w for w in prompt_warnings(texts) if "characters" in w]


@pytest.mark.parametrize("name", FIELDS)
def test_fit_limits_are_ours_and_below_what_prompt_text_accepts(name: str) -> None:
    limit = LIMITS[name]
    assert limit.usual_max is not None and FIT_LIMITS[name] < limit.usual_max
    assert _length_warnings(name, FIT_LIMITS[name]) == []
    (warning,) = _length_warnings(name, FIT_LIMITS[name] + 1)
    assert f"about {FIT_LIMITS[name]} fit" in warning


@pytest.mark.parametrize("name", FIELDS)
def test_length_warnings_follow_the_limits_prompt_text_enforces(name: str) -> None:
    """The usual and hard ceilings warn exactly where prompt_text's Params refuse."""
    limit = LIMITS[name]
    assert limit.usual_max is not None and limit.hard_max is not None
    param = PARAM[name]

    def refused(size: int, *, allow: bool = False) -> bool:
        data: dict[str, Any] = {"brands": "all", param: "x" * size}
        if allow:
            data["allow_unusual_values"] = [param]
        try:
            parse_params(prompt_text.Params, data)
        except ParameterError:
            return True
        return False

    usual, hard = limit.usual_max, limit.hard_max
    assert not refused(usual) and refused(usual + 1)
    assert "above the usual" not in " ".join(_length_warnings(name, usual))
    (warning,) = _length_warnings(name, usual + 1)
    assert f"above the usual {usual}" in warning and repr(param) in warning
    assert not refused(hard, allow=True) and refused(hard + 1, allow=True)
    (warning,) = _length_warnings(name, hard + 1)
    assert f"refuses more than {hard}" in warning


@pytest.mark.parametrize(
    "value",
    [
        "Stay <b>signed</b> in",
        "Tom &amp; Jerry",
        "a <!-- b -->",
        "Less < more",
        "AT&T",
        "Stay\u202esigned",
        "plain",
    ],
)
def test_markup_and_control_warnings_match_what_prompt_text_refuses(value: str) -> None:
    """The preview flags a text exactly when prompt_text's Params refuse it as not plain."""
    try:
        parse_params(prompt_text.Params, {"brands": "all", "title": value})
        refused = False
    except ParameterError as err:
        refused = "plain text" in err.message
    warned = any(
        "markup" in w or "control or bidi" in w for w in prompt_warnings(PromptTexts(title=value))
    )
    assert warned == refused


# --------------------------------------------------------------------------- text


def test_text_card_side_by_side_with_marks_on_changed_lines() -> None:
    before = PromptTexts(title="Old title")
    out = prompt_preview_text(before, NEW, brand="Acme Corp")
    lines = out.splitlines()
    assert lines[0].split() == ["before", "after"]
    assert all(wcwidth.width(line) <= 80 for line in lines)
    card_lines = [line for line in lines if line.startswith(("┌", "│", "├", "└"))]
    assert sum("Acme Corp" in line for line in card_lines) == 1, "one row, two cards"
    assert any("Old title" in line and "Stay signed in?" in line for line in card_lines)
    marked = [line for line in card_lines if line.endswith(" *")]
    assert any("Stay signed in?" in line for line in marked)
    assert not any("Acme Corp" in line for line in marked)
    assert "* changed: title, subtitle, accept button, reject button" in out
    assert "before, the widget's default text: subtitle, accept button, reject button" in out


def test_text_card_without_before_and_with_unchanged_texts_has_no_marks() -> None:
    out = prompt_preview_text(None, NEW, brand="Acme")
    assert out.splitlines()[0] == "after"
    assert " *" not in out and "changed" not in out
    out = prompt_preview_text(NEW, NEW, brand="Acme")
    assert " *" not in out and "changed" not in out


def test_text_card_keeps_its_box_with_wide_and_control_characters() -> None:
    texts = PromptTexts(title="ログインしたままにしますか？", reject="\x1b[2J\x07No")
    out = prompt_preview_text(None, texts, brand="Acme")
    assert "\x1b" not in out and "\x07" not in out and "\\x1b[2J\\x07No" in out
    card = [line for line in out.splitlines() if line.startswith(("┌", "│", "├", "└"))]
    assert len({wcwidth.width(line) for line in card}) == 1, "every row of the box lines up"
    assert any("ログイン" in line for line in card)
    assert "Check the wording:" in out and "reject button: contains a control" in out


# --------------------------------------------------------------------------- from prompt_text


def test_the_prompt_path_is_prompt_texts_own() -> None:
    assert PROMPT_PATH == prompt_text.PROMPT_PATH


def test_from_page_and_from_prompt_read_the_same_fields_prompt_text_edits() -> None:
    page = {"widgetCustomizations": {"postAuthKeepMeSignedInPrompt": dict(OKTA_DEFAULTS)}}
    assert PromptTexts.from_page(page) == PromptTexts.from_prompt(prompt_text.prompt_of(page))
    params = parse_params(prompt_text.Params, {"brands": "all", "accept_button_text": "Yes"})
    assert PromptTexts.from_prompt(prompt_text.desired_prompt(params)) == PromptTexts(accept="Yes")
    assert PromptTexts.from_page(None) == PromptTexts() == PromptTexts.from_page({})
    assert set(NEW.to_prompt()) == set(prompt_text.prompt_of(page))


def test_change_texts_of_a_prompt_text_plan(okta: OktaClient) -> None:
    """A create (no customized page yet) and an update: before as users see it, after as sent."""
    params = {
        "brands": "all",
        "title": "Stay signed in?",
        "subtitle": "Make your selection below",
        "accept_button_text": "Accept",
        "reject_button_text": "Reject",
    }
    plan = prompt_text.plan(okta, params)
    by_brand = {c.ref.name: c for c in plan.changes}
    created, updated = by_brand["Acme Corp"], by_brand["Acme Partners"]
    assert created.action == "create" and updated.action == "update"

    before, after = change_texts(created)
    assert before == WIDGET_DEFAULTS, "the default page's texts, from the diffs"
    assert after == NEW
    before, after = change_texts(updated)
    assert before == PromptTexts.from_page(updated.before) and before != NEW
    assert after == NEW
    html = prompt_preview_html(before, after, brand=updated.ref.name or "")
    assert cards(html)["after"].changed == set(FIELDS) - {
        f for f in FIELDS if shown_text(before, f) == shown_text(NEW, f)
    }


def test_change_texts_of_a_create_fills_unchanged_fields_from_after() -> None:
    ref = ObjectRef("sign_in_page", "bnd1", "Acme")
    after = {"widgetCustomizations": {"postAuthKeepMeSignedInPrompt": NEW.to_prompt()}}
    diffs = [
        FieldDiff(f"{PROMPT_PATH}.title", "Keep me signed in", "Stay signed in?"),
        FieldDiff("widgetCustomizations.helpLabel", "Help", "Aide"),
    ]
    before, shown = change_texts(Change("create", "sign_in_page", ref, None, after, diffs))
    assert before == PromptTexts(
        title="Keep me signed in", subtitle=NEW.subtitle, accept="Accept", reject="Reject"
    )
    assert shown == NEW
    no_prompt_diff = Change("create", "sign_in_page", ref, None, after, diffs[1:])
    assert change_texts(no_prompt_diff) == (None, NEW)


def test_change_texts_refuses_a_change_that_sends_no_page() -> None:
    ref = ObjectRef("sign_in_page", "bnd1", "Acme")
    with pytest.raises(ParameterError) as err:
        change_texts(Change("delete", "sign_in_page", ref, {}, None))
    assert err.value.field == "change" and "Acme" in err.value.message
