"""Block Kit → terminal text: ``python -m bot digest``, the demo console, and test failures.

Headers are bold and underlined, context is dim, buttons are numbered so a console can click them
by number. Without ``color`` the text is plain: emphasis markers are dropped, inline code keeps its
backticks and a header is underlined with ``=``. Code blocks are not wrapped: tables stay aligned.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol


class _Message(Protocol):
    """A message object that can say what Slack would store (the stand-in's ``Msg``)."""

    def to_dict(self) -> dict[str, Any]: ...


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_FENCE = re.compile(r"```\n?(.*?)```", re.DOTALL)
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_ANGLE = re.compile(r"<([^<>\n]+)>")
_ENTITY = re.compile(r"&(lt|gt|amp);")
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&"}
# Slack's emphasis needs the marker at a word edge: snake_case_names and 2*3*4 stay as they are.
_EMPHASIS = {
    "bold": re.compile(r"(?<![\w*])\*(?=\S)([^*\n]*?\S)\*(?![\w*])"),
    "italic": re.compile(r"(?<![\w_])_(?=\S)([^_\n]*?\S)_(?![\w_])"),
    "strike": re.compile(r"(?<![\w~])~(?=\S)([^~\n]*?\S)~(?![\w~])"),
}
_SGR = {  # (on, off): specific "off" codes so that styles nest
    "bold": ("1", "22"),
    "italic": ("3", "23"),
    "strike": ("9", "29"),
    "code": ("36", "39"),
    "mention": ("33", "39"),
    "dim": ("2", "22"),
    "header": ("1;4", "22;24"),
    "primary": ("32", "39"),
    "danger": ("31", "39"),
}
_KEEP = "\ue000"  # marks a code-block line, which wrapping leaves alone
_SLOT = re.compile("\ue001(\\d+)\ue002")  # a protected span, restored after emphasis


@dataclass(frozen=True)
class Button:
    """A numbered button: ``buttons[n - 1]`` is the one shown as ``[n]``."""

    action_id: str
    value: str | None
    text: str


def render_message(
    msg: Mapping[str, Any] | _Message, *, width: int = 80, color: bool = False
) -> str:
    """A message as a terminal would show it: its blocks, or its text when it has none."""
    return render_with_buttons(msg, width=width, color=color)[0]


def render_with_buttons(
    msg: Mapping[str, Any] | _Message, *, width: int = 80, color: bool = False
) -> tuple[str, list[Button]]:
    """``render_message`` and the buttons it numbered."""
    data = msg if isinstance(msg, Mapping) else msg.to_dict()
    out = _Renderer(width, color)
    if data.get("blocks"):
        for block in data["blocks"]:
            out.block(block)
    elif data.get("text"):
        out.add(_mrkdwn(str(data["text"]), color))
    for attachment in data.get("attachments") or []:
        text = attachment.get("text") or attachment.get("fallback") or ""
        out.add(f"[attachment] {_mrkdwn(text, color)}".rstrip())
    for file in data.get("files") or []:
        out.add(f"[file: {file.get('name')} — {file.get('title')}]")
    return "\n".join(out.lines), out.buttons


def mrkdwn(text: str, *, color: bool = False) -> str:
    """Slack mrkdwn as terminal text: emphasis, code, links, mentions, quotes, entities."""
    return _mrkdwn(text, color).replace(_KEEP, "")


def _mrkdwn(text: str, color: bool) -> str:
    """``mrkdwn`` with code-block lines marked for ``wrap`` to leave alone."""
    out = ""
    last = 0
    for fence in _FENCE.finditer(text):
        # A code block is a block of its own in Slack, even when written mid-line.
        before = _inline(text[last : fence.start()], color).rstrip(" ")
        out += before + ("\n" if before and not before.endswith("\n") else "")
        code = _unescape(fence[1].rstrip("\n"))
        out += "\n".join(_KEEP + _style(line, "code", color) for line in code.split("\n"))
        out += "\n" if text[fence.end() :].strip(" ")[:1] not in ("", "\n") else ""
        last = fence.end()
        while last < len(text) and text[last] == " ":
            last += 1
    return out + _inline(text[last:], color)


def _inline(text: str, color: bool) -> str:
    protected: list[str] = []

    def protect(rendered: str) -> str:
        protected.append(rendered)
        return f"\ue001{len(protected) - 1}\ue002"

    # Slack shows entities unescaped inside code spans too: `&lt;name&gt;` reads `<name>`.
    text = _INLINE_CODE.sub(
        lambda m: protect(
            _style(_unescape(m[1]), "code", color) if color else f"`{_unescape(m[1])}`"
        ),
        text,
    )
    text = _ANGLE.sub(lambda m: protect(_angle(m[1], color)), text)
    text = "\n".join(
        "│ " + line.removeprefix("&gt;").removeprefix(">").lstrip()
        if line.startswith(("&gt;", ">"))
        else line
        for line in text.split("\n")
    )
    for name, pattern in _EMPHASIS.items():
        text = pattern.sub(functools.partial(_emphasis, name=name, color=color), text)
    text = _unescape(text)
    return _SLOT.sub(lambda m: protected[int(m[1])], text)


def _angle(inner: str, color: bool) -> str:
    """A ``<…>`` token: links become ``label (url)``, mentions ``@U123``; specials stay literal."""
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        return _style(f"@{label or target[1:]}", "mention", color)
    if target.startswith("#"):
        return _style(f"#{label or target[1:]}", "mention", color)
    if target.startswith("!"):
        return _unescape(f"<{inner}>")  # <!channel>, <!here>, <!subteam^…>: show what would ping
    target, label = _unescape(target), _unescape(label)
    return f"{label} ({target})" if label and label != target else target


def _emphasis(match: re.Match[str], *, name: str, color: bool) -> str:
    return _style(match[1], name, color)


def _unescape(text: str) -> str:
    return _ENTITY.sub(lambda m: _ENTITIES[m[1]], text)


def _style(text: str, name: str, color: bool) -> str:
    if not color:
        return text
    on, off = _SGR[name]
    return f"\x1b[{on}m{text}\x1b[{off}m"


def _visible_len(text: str) -> int:
    return len(_ANSI.sub("", text))


def wrap(text: str, width: int) -> list[str]:
    """Greedy word wrap that ignores ANSI codes when measuring; code-block lines stay whole."""
    lines: list[str] = []
    for line in text.split("\n"):
        if line.startswith(_KEEP):
            lines.append(line.replace(_KEEP, ""))
            continue
        line = line.replace(_KEEP, "")
        if _visible_len(line) <= width:
            lines.append(line)
            continue
        current: str | None = None
        for word in _chop(line.split(" "), width):
            if current is None:
                current = word
            elif _visible_len(current) + 1 + _visible_len(word) <= width:
                current = f"{current} {word}"
            else:
                lines.append(current)
                current = word
        lines.append(current or "")
    return lines


def _chop(words: Iterable[str], width: int) -> Iterable[str]:
    """Words longer than a line (URLs, mostly) broken at the width."""
    for word in words:
        if len(word) <= width or "\x1b" in word:
            yield word
        else:
            yield from (word[i : i + width] for i in range(0, len(word), width))


class _Renderer:
    def __init__(self, width: int, color: bool) -> None:
        self.width = max(width, 20)
        self.color = color
        self.lines: list[str] = []
        self.buttons: list[Button] = []

    def add(self, text: str, style: str | None = None, width: int | None = None) -> None:
        for line in wrap(text, width or self.width):
            self.lines.append(_style(line, style, self.color) if style and line else line)

    def text(self, obj: Mapping[str, Any] | None) -> str:
        """A text object as terminal text (plain_text is taken as written)."""
        if not obj:
            return ""
        if obj.get("type") == "mrkdwn":
            return _mrkdwn(str(obj.get("text", "")), self.color)
        return str(obj.get("text", ""))

    def block(self, block: Mapping[str, Any]) -> None:
        kind = block.get("type")
        handler = getattr(self, f"_{kind}", None) if isinstance(kind, str) else None
        if handler is None:
            self.lines.append(f"[{kind} block]")
        else:
            handler(block)

    def _header(self, block: Mapping[str, Any]) -> None:
        title = self.text(block.get("text"))
        if self.color:
            self.add(title, "header")
            return
        start = len(self.lines)
        self.add(title)
        self.lines.append("=" * max(len(line) for line in self.lines[start:]))

    def _section(self, block: Mapping[str, Any]) -> None:
        if block.get("text"):
            self.add(self.text(block["text"]))
        fields = [self.text(f) for f in block.get("fields") or []]
        column = (self.width - 2) // 2
        for i in range(0, len(fields), 2):
            left = wrap(fields[i], column)
            right = wrap(fields[i + 1], column) if i + 1 < len(fields) else []
            for n in range(max(len(left), len(right))):
                cell = left[n] if n < len(left) else ""
                pad = " " * (column - _visible_len(cell))
                row = f"{cell}{pad}  {right[n]}" if n < len(right) else cell
                self.lines.append(row.rstrip())
        if accessory := block.get("accessory"):
            self.add(self._element(accessory))

    def _context(self, block: Mapping[str, Any]) -> None:
        parts = [
            f"[{e.get('alt_text', 'image')}]" if e.get("type") == "image" else self.text(e)
            for e in block.get("elements") or []
        ]
        self.add("  ".join(p for p in parts if p), "dim")

    def _divider(self, block: Mapping[str, Any]) -> None:
        self.lines.append(_style("─" * self.width, "dim", self.color))

    def _actions(self, block: Mapping[str, Any]) -> None:
        self.add("  ".join(self._element(e) for e in block.get("elements") or []))

    def _image(self, block: Mapping[str, Any]) -> None:
        self.add(f"[image: {block.get('alt_text') or block.get('image_url', '')}]")

    def _rich_text(self, block: Mapping[str, Any]) -> None:
        self.add("\n".join(_rich(e) for e in block.get("elements") or []))

    def _element(self, element: Mapping[str, Any]) -> str:
        """An interactive element; buttons are numbered and remembered."""
        if element.get("type") == "button":
            label = self.text(element.get("text"))
            self.buttons.append(Button(element.get("action_id", ""), element.get("value"), label))
            shown = f"[{len(self.buttons)}] {label}"
            style = element.get("style")
            return _style(shown, style, self.color) if style in ("primary", "danger") else shown
        if element.get("type") == "image":
            return f"[image: {element.get('alt_text', '')}]"
        placeholder = self.text(element.get("placeholder"))
        return f"[{element.get('type')}{': ' + placeholder if placeholder else ''}]"


def _rich(element: Mapping[str, Any]) -> str:
    """Plain text of a rich_text element (what people type; styles are not kept)."""
    kind = element.get("type")
    children = element.get("elements") or []
    if kind == "rich_text_list":
        return "\n".join(f"• {_rich(item)}" for item in children)
    if kind == "rich_text_quote":
        return "\n".join(f"│ {line}" for line in _rich({"elements": children}).split("\n"))
    if kind == "rich_text_preformatted":
        return "\n".join(_KEEP + line for line in _rich({"elements": children}).split("\n"))
    if children:
        return "".join(_rich(child) for child in children)
    if kind == "user":
        return f"@{element.get('user_id')}"
    if kind == "channel":
        return f"#{element.get('channel_id')}"
    if kind == "emoji":
        return f":{element.get('name')}:"
    if kind == "broadcast":
        return f"<!{element.get('range')}>"
    if kind == "link":
        return str(element.get("text") or element.get("url", ""))
    return str(element.get("text", ""))
