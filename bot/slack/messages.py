"""Slack messages from Jinja templates: the one environment, its filters, and Block Kit's limits.

Every message type is a template in the repository's ``templates/`` directory that renders JSON
(``{"text": ..., "blocks": [...]}``). Outside strings reach mrkdwn only through the ``mrkdwn``
filter and reach JSON only through ``tojson``; ``render`` then checks the result against every
limit Slack enforces, so an oversized or malformed message fails here rather than in Slack.

Long lists are split by ``pack`` (thread replies) and ``fit_lines`` (a summary's short list).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

from bot.reports import humanize

__all__ = [
    "ENV",
    "Answer",
    "CsvFile",
    "Line",
    "Message",
    "MessageLimitError",
    "Packed",
    "blocks_json_len",
    "escape_mrkdwn",
    "fit_lines",
    "json_len",
    "line",
    "pack",
    "render",
    "validate",
]

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"

# Slack's limits (https://api.slack.com/reference/block-kit/blocks and the chat.postMessage page;
# the 12k-character bound is a margin under msg_blocks_too_long, seen near 13k). slack_sdk
# checks some of them itself.
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 150
MAX_FALLBACK_TEXT = 3000
# Slack has rejected blocks near 13k characters of JSON (msg_blocks_too_long); keep a margin.
MAX_BLOCKS_JSON = 12_000

# What ``pack`` fills a message with, leaving room for the template's header and footer.
PACK_BLOCKS = 45
PACK_JSON = 11_000


# --- messages ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Message:
    """One Slack message: Block Kit blocks and the plain fallback used for notifications."""

    text: str
    blocks: list[dict[str, Any]]

    def payload(self) -> dict[str, Any]:
        """The arguments ``chat.postMessage`` and ``response_url`` take."""
        return {"text": self.text, "blocks": self.blocks}


class CsvFile:
    """A file to upload beside an answer whose list is too long for messages.

    ``content`` may be given as the function that writes it, called when the content is first
    read: an answer is composed for its summary, and only someone asking for its details has
    the CSV uploaded (30,000 idle members take a second to write).
    """

    def __init__(self, filename: str, title: str, content: str | Callable[[], str]) -> None:
        self.filename = filename
        self.title = title
        self._content = content

    @functools.cached_property
    def content(self) -> str:
        return self._content if isinstance(self._content, str) else self._content()

    def __repr__(self) -> str:
        return f"CsvFile({self.filename!r}, {self.title!r})"


Thread = tuple[tuple[Message, ...], "CsvFile | None"]


class Answer:
    """A summary message, its thread replies in order, and the full list as CSV when long.

    The thread may be given as the function that makes it (``thread``), called when it is first
    read: an answer is mostly read for its summary, and a 30,000-member list's thread costs
    more than the summary it hangs under.
    """

    def __init__(
        self,
        summary: Message,
        details: tuple[Message, ...] = (),
        csv: CsvFile | None = None,
        *,
        thread: Callable[[], Thread] | None = None,
    ) -> None:
        self.summary = summary
        self._made: Thread = (details, csv)
        self._make = thread

    @functools.cached_property
    def _thread(self) -> Thread:
        return self._make() if self._make is not None else self._made

    @property
    def details(self) -> tuple[Message, ...]:
        return self._thread[0]

    @property
    def csv(self) -> CsvFile | None:
        return self._thread[1]

    def __repr__(self) -> str:
        return f"Answer({self.summary!r})"


class MessageLimitError(ValueError):
    """A message breaks a Block Kit limit or is not valid Block Kit."""


# --- escaping and filters ----------------------------------------------------------------------


def escape_mrkdwn(text: str | None) -> str:
    """Escape the three characters Slack parses in mrkdwn, so ``<!channel>`` stays text."""
    if not text:
        return ""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _oneline(text: str | None) -> str:
    # A newline in a name would break a list line in two; tabs and runs of spaces look odd too.
    return " ".join(text.split()) if text else ""


# The start of an entity (&amp; &lt; &gt;) that a cut would leave unfinished.
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")


def _truncate_chars(text: str | None, limit: int) -> str:
    text = text or ""
    if len(text) <= limit:
        return text
    # Text may be escaped already: never leave half an entity such as "&l" behind.
    return _PARTIAL_ENTITY.sub("", text[: limit - 1]) + "…"


def _num(value: float | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def _plural(count: float | None, word: str, plural: str | None = None) -> str:
    return f"{_num(count)} {word if count == 1 else plural or word + 's'}"


def _percent(share: float | None) -> str:
    return "–" if share is None else f"{share:.0%}"


def _code(text: str | None) -> str:
    # A backtick inside would end the code span early; the grave-like letter reads the same.
    return "`" + escape_mrkdwn(_oneline(text)).replace("`", "ˋ") + "`"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        # The output is JSON, not HTML: escaping is explicit (mrkdwn, tojson) in every template.
        autoescape=False,  # noqa: S701
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates ship with the code: no stat of their files on every render (a private
        # answer renders a line per member it shows).
        auto_reload=False,
    )
    env.filters.update(
        mrkdwn=escape_mrkdwn,
        oneline=_oneline,
        truncate_chars=_truncate_chars,
        num=_num,
        plural=_plural,
        percent=_percent,
        code=_code,
        duration=humanize.duration,
        money=humanize.money,
    )
    return env


ENV = _environment()


def render(template: str, **context: Any) -> Message:
    """Render ``templates/<template>.json.j2`` into a validated message."""
    source = ENV.get_template(f"{template}.json.j2").render(**context)
    try:
        data = json.loads(source)
    except json.JSONDecodeError as error:
        raise ValueError(f"template {template!r} rendered invalid JSON: {error}") from error
    return validate(Message(text=data["text"], blocks=data["blocks"]))


def line(macro: str, /, *args: Any, **kwargs: Any) -> str:
    """One mrkdwn list line from a macro of ``templates/_lines.json.j2``, escaped there."""
    module = ENV.get_template("_lines.json.j2").module
    return str(getattr(module, macro)(*args, **kwargs)).strip()


# --- limits ------------------------------------------------------------------------------------


def json_len(text: str) -> int:
    """Characters ``text`` takes inside a JSON string, quotes excluded."""
    return len(json.dumps(text, ensure_ascii=False)) - 2


def blocks_json_len(blocks: Sequence[dict[str, Any]]) -> int:
    """Characters of the blocks as compact JSON: what the 12k limit is measured on."""
    return len(json.dumps(blocks, ensure_ascii=False, separators=(",", ":")))


def _too_long(what: str, text: object, limit: int) -> Iterator[str]:
    if isinstance(text, str) and len(text) > limit:
        yield f"{what} has {len(text)} characters (limit {limit})"


def _text_of(node: dict[str, Any]) -> object:
    """The string inside an element's text object, if any."""
    text = node.get("text")
    return text.get("text") if isinstance(text, dict) else None


def _text_objects(node: object) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("type") in ("mrkdwn", "plain_text"):
            yield node
        for value in node.values():
            yield from _text_objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from _text_objects(value)


def _block_problems(index: int, block: dict[str, Any]) -> Iterator[str]:
    kind = block.get("type")
    where = f"block {index} ({kind})"
    try:
        parsed = Block.parse(block)
        if parsed is None:
            yield f"{where}: not a block type slack_sdk knows"
            return
        parsed.to_dict()
    except SlackObjectFormationError as error:
        yield f"{where}: {error}"
    # slack_sdk drops an empty text object silently; Slack rejects the message.
    for text in _text_objects(block):
        if not isinstance(text.get("text"), str) or not text["text"]:
            yield f"{where}: empty {text.get('type')} text"
    if kind == "section":
        yield from _too_long(f"{where} text", _text_of(block), MAX_SECTION_TEXT)
        fields = block.get("fields") or []
        if len(fields) > MAX_FIELDS:
            yield f"{where} has {len(fields)} fields (limit {MAX_FIELDS})"
        for i, item in enumerate(fields):
            yield from _too_long(f"{where} field {i}", item.get("text"), MAX_FIELD_TEXT)
    elif kind == "header":
        yield from _too_long(f"{where} text", _text_of(block), MAX_HEADER_TEXT)
    elif kind == "context":
        elements = block.get("elements") or []
        if len(elements) > MAX_CONTEXT_ELEMENTS:
            yield f"{where} has {len(elements)} elements (limit {MAX_CONTEXT_ELEMENTS})"
    elif kind == "actions":
        elements = block.get("elements") or []
        if len(elements) > MAX_ACTIONS_ELEMENTS:
            yield f"{where} has {len(elements)} elements (limit {MAX_ACTIONS_ELEMENTS})"
        for i, element in enumerate(elements):
            if element.get("type") == "button":
                label = _text_of(element)
                yield from _too_long(f"{where} button {i} text", label, MAX_BUTTON_TEXT)
                value = element.get("value")
                yield from _too_long(f"{where} button {i} value", value, MAX_BUTTON_VALUE)


def _problems(message: Message) -> Iterator[str]:
    if not isinstance(message.text, str) or not message.text.strip():
        yield "the fallback text is empty"
    else:
        yield from _too_long("the fallback text", message.text, MAX_FALLBACK_TEXT)
    blocks = message.blocks
    if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
        yield "blocks must be a list of objects"
        return
    if len(blocks) > MAX_BLOCKS:
        yield f"{len(blocks)} blocks (limit {MAX_BLOCKS})"
    for index, block in enumerate(blocks):
        yield from _block_problems(index, block)
    size = blocks_json_len(blocks)
    if size > MAX_BLOCKS_JSON:
        yield f"blocks take {size} characters of JSON (limit {MAX_BLOCKS_JSON})"


def validate(message: Message) -> Message:
    """Return ``message`` if Slack would accept it; otherwise raise ``MessageLimitError``."""
    problems = list(_problems(message))
    if problems:
        raise MessageLimitError("; ".join(problems))
    return message


# --- splitting long lists ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Line:
    """One mrkdwn line of a long list (already escaped).

    A heading starts a new section, shown only with its first line, and is repeated atop the next
    message when its lines run over. Counted lines are the list's items, what "N more" counts.
    """

    text: str
    heading: bool = False
    counted: bool = True


@dataclass(frozen=True, slots=True)
class Packed:
    """Section texts per message, how many counted lines they hold, and whether lines were left."""

    pages: tuple[tuple[str, ...], ...]
    placed: int
    cut: bool


# A section block around its text, as compact JSON, plus the comma before it.
_SECTION_JSON = blocks_json_len([{"type": "section", "text": {"type": "mrkdwn", "text": ""}}]) - 1
_NEWLINE_JSON = 2  # "\n" inside a JSON string


class _Packer:
    """Fills section blocks, then messages, line by line.

    A heading waits for its first line, so no message ends with a heading alone; when a group's
    lines run over into the next message, its heading is repeated there, marked continued.
    """

    def __init__(self, *, max_messages: int | None, section: int, blocks: int, size: int) -> None:
        self.max_messages = max_messages
        self.section_limit, self.block_limit, self.json_limit = section, blocks, size
        # A heading and a line always fit in one section of an empty message.
        self.line_chars, self.line_json = section * 4 // 5, size // 2
        self.heading_chars, self.heading_json = section // 5 - 20, size // 8
        self.pages: list[tuple[str, ...]] = []
        self.sections: list[str] = []
        self.lines: list[str] = []
        self.chars = 0  # of the open section's text
        self.size = 0  # JSON characters of the open message's sections
        self.heading: str | None = None
        self.pending = False  # the heading is not placed yet
        self.placed = 0

    def _close_section(self) -> None:
        if self.lines:
            self.sections.append("\n".join(self.lines))
            self.lines, self.chars = [], 0

    def _close_page(self) -> bool:
        """Close the open message; False when no further message is allowed."""
        self._close_section()
        if self.sections:
            self.pages.append(tuple(self.sections))
            self.sections, self.size = [], 0
        return self.max_messages is None or len(self.pages) < self.max_messages

    def _fits_line(self, text: str) -> bool:
        """Whether ``text`` fits at the end of the open section."""
        return (
            bool(self.lines)
            and self.chars + 1 + len(text) <= self.section_limit
            and self.size + _NEWLINE_JSON + json_len(text) <= self.json_limit
        )

    def _fits_section(self, texts: list[str]) -> bool:
        """Whether a new section of ``texts`` fits in the open message."""
        blocks = len(self.sections) + (1 if self.lines else 0) + 1
        size = _SECTION_JSON + sum(map(json_len, texts)) + _NEWLINE_JSON * (len(texts) - 1)
        return blocks <= self.block_limit and self.size + size <= self.json_limit

    def _put_line(self, text: str) -> None:
        self.lines.append(text)
        self.chars += 1 + len(text)
        self.size += _NEWLINE_JSON + json_len(text)

    def _put_section(self, texts: list[str]) -> None:
        self._close_section()
        self.lines = list(texts)
        self.chars = sum(map(len, texts)) + len(texts) - 1
        self.size += _SECTION_JSON + sum(map(json_len, texts)) + _NEWLINE_JSON * (len(texts) - 1)

    def add(self, item: Line) -> bool:
        """Place one line; False when it did not fit in the messages allowed."""
        if item.heading:
            self.heading = _clip(item.text, self.heading_chars, self.heading_json)
            self.pending = True
            return True
        text = _clip(item.text, self.line_chars, self.line_json)
        if self.pending:
            unit = [self.heading or "", text]
        elif self._fits_line(text):
            self._put_line(text)
            self.placed += item.counted
            return True
        else:
            unit = [text]
        if not self._fits_section(unit):
            if not self._close_page():
                return False
            if not self.pending and self.heading is not None:
                unit = [self.heading + " _(continued)_", text]
        self._put_section(unit)
        self.pending = False
        self.placed += item.counted
        return True

    def result(self, *, cut: bool) -> Packed:
        self._close_page()
        return Packed(pages=tuple(self.pages), placed=self.placed, cut=cut)


def _clip(text: str, chars: int, size: int) -> str:
    """Shorten one line to ``chars`` characters and ``size`` characters of JSON."""
    text = _truncate_chars(text, chars)
    while json_len(text) > size and len(text) > 2:
        text = _truncate_chars(text, max(2, len(text) - (json_len(text) - size)))
    return text


def pack(
    lines: Iterable[Line],
    *,
    max_messages: int | None = None,
    section_chars: int = MAX_SECTION_TEXT,
    message_blocks: int = PACK_BLOCKS,
    message_json: int = PACK_JSON,
) -> Packed:
    """Pack lines into section blocks of ≤ ``section_chars``, and those into messages.

    Reads ``lines`` lazily and stops at the first that does not fit in ``max_messages``, so a
    50,000-line list costs only the lines shown. A line too long for a section is cut with "…".
    """
    packer = _Packer(
        max_messages=max_messages, section=section_chars, blocks=message_blocks, size=message_json
    )
    for item in lines:
        if not packer.add(item):
            return packer.result(cut=True)
    return packer.result(cut=False)


def fit_lines(lines: Iterable[str], *, max_lines: int, max_json: int) -> list[str]:
    """The first lines, at most ``max_lines`` of them, that fit ``max_json`` characters of JSON."""
    kept: list[str] = []
    size = 0
    if max_lines <= 0:
        return kept
    for text in lines:
        text = _clip(text, MAX_SECTION_TEXT, max_json)
        size += json_len(text) + _NEWLINE_JSON
        if size > max_json:
            break
        kept.append(text)
        if len(kept) >= max_lines:
            break
    return kept
