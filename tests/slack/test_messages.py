"""The Jinja environment, its filters, ``validate``'s limits, and the packing of long lists."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jinja2
import pytest

from bot.slack import messages
from bot.slack.messages import (
    ENV,
    Line,
    Message,
    MessageLimitError,
    blocks_json_len,
    escape_mrkdwn,
    fit_lines,
    json_len,
    pack,
    render,
    validate,
)

# --- escaping and filters ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("<!channel>", "&lt;!channel&gt;"),
        ("<@U123>", "&lt;@U123&gt;"),
        ("<https://evil.test|click>", "&lt;https://evil.test|click&gt;"),
        ("A & B", "A &amp; B"),
        ("&amp;", "&amp;amp;"),  # shown as typed, not as "&"
        ("*bold* _it_ `code`", "*bold* _it_ `code`"),  # only the three Slack requires
        ('😀 "q" \\', '😀 "q" \\'),
        ("", ""),
        (None, ""),
    ],
)
def test_escape_mrkdwn(raw: str | None, escaped: str) -> None:
    assert escape_mrkdwn(raw) == escaped


def _filter(expression: str, **context: Any) -> str:
    return ENV.from_string("{{ " + expression + " }}").render(**context)


@pytest.mark.parametrize(
    ("expression", "context", "expected"),
    [
        ("n|num", {"n": 1234567}, "1,234,567"),
        ("n|num", {"n": 0}, "0"),
        ("n|num", {"n": None}, "–"),
        ("n|num", {"n": 2.5}, "2.5"),
        ('n|plural("seat")', {"n": 1}, "1 seat"),
        ('n|plural("seat")', {"n": 3}, "3 seats"),
        ('n|plural("seat")', {"n": 0}, "0 seats"),
        ('n|plural("seat")', {"n": 1200}, "1,200 seats"),
        ('n|plural("person", "people")', {"n": 2}, "2 people"),
        ("s|truncate_chars(5)", {"s": "abcde"}, "abcde"),
        ("s|truncate_chars(5)", {"s": "abcdef"}, "abcd…"),
        ("s|truncate_chars(7)", {"s": "&lt;&lt;&lt;"}, "&lt;…"),  # no half entity
        ("s|oneline", {"s": " a\nb\t\tc  "}, "a b c"),
        ("s|mrkdwn", {"s": "<!here>"}, "&lt;!here&gt;"),
        ("s|code", {"s": "a`b<c>"}, "`aˋb&lt;c&gt;`"),
        ("x|percent", {"x": 0.4}, "40%"),
        ("s|tojson", {"s": 'a"b\\c\n<'}, '"a\\"b\\\\c\\n\\u003c"'),
    ],
)
def test_filters(expression: str, context: dict[str, Any], expected: str) -> None:
    assert _filter(expression, **context) == expected


def test_environment_is_strict_and_finds_the_repository_templates() -> None:
    assert isinstance(ENV.loader, jinja2.FileSystemLoader)
    assert messages.TEMPLATES.name == "templates"
    assert (messages.TEMPLATES / "_blocks.json.j2").is_file()
    assert ENV.autoescape is False
    with pytest.raises(jinja2.UndefinedError):
        render("error", title="t")  # "problem" missing


def test_render_rejects_a_template_that_is_not_json(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ENV.loader is not None
    loader = jinja2.ChoiceLoader(
        [jinja2.DictLoader({"broken.json.j2": '{"text": "x", "blocks": [,]}'}), ENV.loader]
    )
    monkeypatch.setattr(ENV, "loader", loader)
    with pytest.raises(ValueError, match=r"broken.*invalid JSON"):
        render("broken")


def test_render_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    long_header = json.dumps("x" * 151)
    source = '{"text": "x", "blocks": [{"type": "header", "text": {"type": "plain_text", '
    source += f'"text": {long_header}' + "}}]}"
    assert ENV.loader is not None
    loader = jinja2.ChoiceLoader([jinja2.DictLoader({"long.json.j2": source}), ENV.loader])
    monkeypatch.setattr(ENV, "loader", loader)
    with pytest.raises(MessageLimitError, match="150"):
        render("long")


def test_payload() -> None:
    message = Message(text="hi", blocks=[{"type": "divider"}])
    assert message.payload() == {"text": "hi", "blocks": [{"type": "divider"}]}


# --- validate ----------------------------------------------------------------------------------


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def _plain(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}


def _button(i: int, *, text: str = "Go", value: str = "r1") -> dict[str, Any]:
    return {"type": "button", "action_id": f"a{i}", "text": _plain(text), "value": value}


def _message(*blocks: dict[str, Any], text: str = "fallback") -> Message:
    return Message(text=text, blocks=list(blocks))


BAD_MESSAGES = {
    "51 blocks": (_message(*[{"type": "divider"}] * 51), "51 blocks"),
    "section text 3001": (_message(_section("x" * 3001)), "3000"),
    "11 fields": (_message({"type": "section", "fields": [_mrkdwn("f")] * 11}), "10"),
    "field 2001": (_message({"type": "section", "fields": [_mrkdwn("f" * 2001)]}), "2000"),
    "header 151": (_message({"type": "header", "text": _plain("h" * 151)}), "150"),
    "context 11": (_message({"type": "context", "elements": [_mrkdwn("c")] * 11}), "10"),
    "actions 26": (
        _message({"type": "actions", "elements": [_button(i) for i in range(26)]}),
        "25",
    ),
    "button text 76": (
        _message({"type": "actions", "elements": [_button(0, text="b" * 76)]}),
        "75",
    ),
    "button value 151": (
        _message({"type": "actions", "elements": [_button(0, value="v" * 151)]}),
        "150",
    ),
    "fallback 3001": (_message(_section("ok"), text="t" * 3001), "3000"),
    "fallback empty": (_message(_section("ok"), text=" "), "fallback"),
    "blocks JSON over 12k": (_message(*[_section("x" * 2900)] * 5), "12000"),
    "empty text": (_message(_section("")), "empty"),
    "unknown block": (_message({"type": "bogus"}), "not a block"),
    "section without text": (_message({"type": "section"}), "text or fields"),
    "block_id too long": (_message({**_section("ok"), "block_id": "b" * 256}), "255"),
    "blocks not a list": (Message(text="t", blocks={"type": "divider"}), "list"),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("case", BAD_MESSAGES, ids=list(BAD_MESSAGES))
def test_validate_rejects(case: str) -> None:
    message, mentions = BAD_MESSAGES[case]
    with pytest.raises(MessageLimitError, match=mentions):
        validate(message)


GOOD_MESSAGES = {
    "50 blocks": _message(*[{"type": "divider"}] * 50),
    "section text 3000": _message(_section("x" * 3000)),
    "10 fields of 1000": _message({"type": "section", "fields": [_mrkdwn("f" * 1000)] * 10}),
    "field 2000": _message({"type": "section", "fields": [_mrkdwn("f" * 2000)]}),
    "header 150": _message({"type": "header", "text": _plain("h" * 150)}),
    "context 10": _message({"type": "context", "elements": [_mrkdwn("c")] * 10}),
    "actions 25": _message({"type": "actions", "elements": [_button(i) for i in range(25)]}),
    "button 75 / 150": _message(
        {"type": "actions", "elements": [_button(0, text="b" * 75, value="v" * 150)]}
    ),
    "fallback 3000": _message(_section("ok"), text="t" * 3000),
    "blocks JSON just under 12k": _message(*[_section("x" * 2900)] * 4),
}


@pytest.mark.parametrize("case", GOOD_MESSAGES, ids=list(GOOD_MESSAGES))
def test_validate_accepts_what_is_at_the_limits(case: str) -> None:
    message = GOOD_MESSAGES[case]
    assert validate(message) is message


def test_validate_reports_every_problem() -> None:
    message = _message(_section("x" * 3001), {"type": "header", "text": _plain("h" * 151)})
    with pytest.raises(MessageLimitError) as caught:
        validate(message)
    assert "block 0" in str(caught.value)
    assert "block 1" in str(caught.value)


# --- packing -----------------------------------------------------------------------------------


def _section_blocks(sections: tuple[str, ...]) -> list[dict[str, Any]]:
    return [_section(text) for text in sections]


def _assert_within_budget(pages: tuple[tuple[str, ...], ...]) -> None:
    for sections in pages:
        assert 1 <= len(sections) <= messages.PACK_BLOCKS
        assert blocks_json_len(_section_blocks(sections)) <= messages.PACK_JSON
        assert all(0 < len(text) <= messages.MAX_SECTION_TEXT for text in sections)


def test_pack_keeps_every_line_in_order_within_budget() -> None:
    lines = [f"line {i} " + "x" * (i % 300) for i in range(2_000)]
    packed = pack(Line(text) for text in lines)
    _assert_within_budget(packed.pages)
    assert not packed.cut
    assert packed.placed == len(lines)
    assert len(packed.pages) > 1
    joined = [row for sections in packed.pages for text in sections for row in text.split("\n")]
    assert joined == lines


def test_pack_budgets_json_escapes_not_just_characters() -> None:
    # Every quote takes two characters of JSON: a budget on characters alone would overflow.
    lines = [Line('"' * 1000) for _ in range(60)]
    packed = pack(lines)
    _assert_within_budget(packed.pages)
    assert packed.placed == 60


def test_pack_stops_at_max_messages_and_reads_lazily() -> None:
    consumed = 0

    def lines() -> Iterator[Line]:
        nonlocal consumed
        for i in range(50_000):
            consumed += 1
            yield Line(f"member {i} " + "y" * 80)

    packed = pack(lines(), max_messages=3)
    assert packed.cut
    assert len(packed.pages) == 3
    _assert_within_budget(packed.pages)
    rows = sum(text.count("\n") + 1 for sections in packed.pages for text in sections)
    assert rows == packed.placed
    assert consumed == packed.placed + 1  # one line read to learn it does not fit


def test_pack_clips_a_line_too_long_for_a_section() -> None:
    packed = pack([Line("z" * 10_000), Line("next")])
    _assert_within_budget(packed.pages)
    assert packed.pages[0][0].split("\n")[0].endswith("…")
    assert packed.placed == 2


def test_pack_headings_start_sections_and_repeat_when_continued() -> None:
    lines = [Line("*Team A*", heading=True)]
    lines += [Line(f"a{i} " + "x" * 200) for i in range(100)]
    lines += [Line("*Team B*", heading=True), Line("b0")]
    packed = pack(lines)
    _assert_within_budget(packed.pages)
    assert packed.placed == 101  # headings are not items
    assert packed.pages[0][0].startswith("*Team A*\na0 ")
    assert packed.pages[1][0].startswith("*Team A* _(continued)_\n")
    assert packed.pages[-1][-1] == "*Team B*\nb0"


def test_pack_never_ends_a_message_with_a_lone_heading() -> None:
    lines = [Line(f"row {i} " + "x" * 240) for i in range(40)]
    lines += [Line("*Next*", heading=True), Line("n" * 2000)]
    packed = pack(lines, max_messages=1)
    assert packed.cut
    assert all(not text.endswith("*Next*") for text in packed.pages[0])


def test_pack_drops_a_heading_without_lines() -> None:
    packed = pack([Line("only", counted=False), Line("*Empty*", heading=True)])
    assert packed.pages == (("only",),)
    assert packed.placed == 0


def test_fit_lines() -> None:
    lines = [f"row {i}" for i in range(100)]
    assert fit_lines(lines, max_lines=3, max_json=1000) == lines[:3]
    kept = fit_lines(["x" * 100] * 50, max_lines=50, max_json=1000)
    assert len(kept) == 9  # each takes 100 characters and a newline's 2
    assert fit_lines(lines, max_lines=0, max_json=1000) == []
    assert json_len(fit_lines(['"' * 5000], max_lines=1, max_json=1000)[0]) <= 1000
