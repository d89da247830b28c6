"""Block Kit → terminal text: a golden message, mrkdwn conversions, wrapping, colour, buttons."""

from __future__ import annotations

import re

import pytest

from bot.slack.standin import Button, Msg, UploadedFile, mrkdwn, render_message
from bot.slack.standin import render_with_buttons as render_buttons

ANSI = re.compile(r"\x1b\[[0-9;]*m")

MESSAGE = {
    "text": "Team usage for Acme",  # the notification fallback: not shown when there are blocks
    "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": "Team usage: Acme"}},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": "*42* of 50 seats used by _Acme &amp; Co_ in `Automate`; see "
                "<https://www.browserstack.com/accounts/usage|the usage page> or ask <@U0001>.",
            },
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": "*Live*\n12 seats"},
                {"type": "mrkdwn", "text": "*Automate*\n30 parallels, peak 28"},
                {"type": "mrkdwn", "text": "*Idle*\n3 people"},
            ],
        },
        {"type": "divider"},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "```name  minutes\nana      1200```"},
        },
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": "2024-11-11 to 2024-11-24 &lt;UTC&gt;"}],
        },
        {"type": "image", "image_url": "https://example.com/chart.png", "alt_text": "usage chart"},
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": "share",
                    "value": "team:acme",
                    "style": "primary",
                    "text": {"type": "plain_text", "text": "Share in channel"},
                },
                {
                    "type": "button",
                    "action_id": "cancel",
                    "value": "job-7",
                    "text": {"type": "plain_text", "text": "Cancel"},
                },
            ],
        },
        {"type": "video", "title": {"type": "plain_text", "text": "How to"}},
    ],
}

GOLDEN = """\
Team usage: Acme
================
42 of 50 seats used by Acme & Co in `Automate`; see the usage page
(https://www.browserstack.com/accounts/usage) or ask @U0001.
Live                              Automate
12 seats                          30 parallels, peak 28
Idle
3 people
──────────────────────────────────────────────────────────────────
name  minutes
ana      1200
2024-11-11 to 2024-11-24 <UTC>
[image: usage chart]
[1] Share in channel  [2] Cancel
[video block]"""


def test_a_representative_message_renders_as_golden() -> None:
    text, buttons = render_buttons(MESSAGE, width=66)
    assert text == GOLDEN
    assert buttons == [
        Button("share", "team:acme", "Share in channel"),
        Button("cancel", "job-7", "Cancel"),
    ]


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("*bold* and _italic_ and ~struck~", "bold and italic and struck"),
        ("`code *not bold*`", "`code *not bold*`"),
        ("<https://example.com|Example>", "Example (https://example.com)"),
        ("<https://example.com>", "https://example.com"),
        ("<mailto:a@example.com|a@example.com>", "a@example.com (mailto:a@example.com)"),
        ("ping <@U123> and <@U456|bo> in <#C0001|general>", "ping @U123 and @bo in #general"),
        ("<!channel> <!here> <!subteam^S0001>", "<!channel> <!here> <!subteam^S0001>"),
        ("a &lt;b&gt; &amp;amp; c", "a <b> &amp; c"),
        ("snake_case_name and 2*3*4", "snake_case_name and 2*3*4"),
        ("&gt; quoted\nnot quoted", "│ quoted\nnot quoted"),
        ("before ```x = 1``` after", "before\nx = 1\nafter"),
    ],
)
def test_mrkdwn_becomes_plain_terminal_text(source: str, shown: str) -> None:
    assert mrkdwn(source) == shown


def test_colour_uses_ansi_styles_that_nest() -> None:
    assert mrkdwn("*bold _both_*", color=True) == "\x1b[1mbold \x1b[3mboth\x1b[23m\x1b[22m"
    assert mrkdwn("`x`", color=True) == "\x1b[36mx\x1b[39m"
    text = render_message(MESSAGE, width=66, color=True)
    assert "\x1b[1;4mTeam usage: Acme\x1b[22;24m" in text
    plain = ANSI.sub("", text)
    assert "Acme & Co in Automate; see" in plain  # code shows in colour, not in backticks
    assert max(len(line) for line in plain.split("\n")) == 66


@pytest.mark.parametrize("color", [False, True])
def test_long_lines_wrap_to_the_width_but_code_blocks_do_not(color: bool) -> None:
    words = " ".join(["*usage*"] * 40)
    table = "```" + "x" * 50 + "```"
    msg = {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": words + table}}]}
    lines = ANSI.sub("", render_message(msg, width=30, color=color)).split("\n")
    assert all(len(line) <= 30 for line in lines[:-1])
    assert lines[-1] == "x" * 50
    assert " ".join(lines[:-1]) == " ".join(["usage"] * 40)


def test_a_url_longer_than_the_width_is_broken() -> None:
    msg = {"text": "see https://example.com/" + "a" * 40}
    assert [len(line) for line in render_message(msg, width=20).split("\n")] == [3, 20, 20, 20]


def test_text_is_shown_when_there_are_no_blocks_and_files_are_listed() -> None:
    file = UploadedFile("F1", "usage.csv", "Usage", "C1", None, "Details", b"a,b\n")
    msg = Msg("1.000000", "C1", "UBOT", "*Details* for <@U0001>", [], files=(file,))
    assert render_message(msg) == "Details for @U0001\n[file: usage.csv — Usage]"


def test_accessory_buttons_and_menus_are_numbered_in_order() -> None:
    msg = {
        "blocks": [
            {
                "type": "section",
                "text": {"type": "plain_text", "text": "Pick one"},
                "accessory": {
                    "type": "button",
                    "action_id": "more",
                    "text": {"type": "plain_text", "text": "More"},
                },
            },
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "static_select",
                        "action_id": "period",
                        "placeholder": {"type": "plain_text", "text": "Period"},
                    },
                    {
                        "type": "button",
                        "action_id": "go",
                        "value": "1",
                        "text": {"type": "plain_text", "text": "Go"},
                    },
                ],
            },
        ]
    }
    text, buttons = render_buttons(msg)
    assert text == "Pick one\n[1] More\n[static_select: Period]  [2] Go"
    assert buttons == [Button("more", None, "More"), Button("go", "1", "Go")]


def test_rich_text_as_people_write_it() -> None:
    msg = {
        "blocks": [
            {
                "type": "rich_text",
                "elements": [
                    {
                        "type": "rich_text_section",
                        "elements": [
                            {"type": "user", "user_id": "UBOT"},
                            {"type": "text", "text": " team "},
                            {"type": "link", "url": "https://acme.test", "text": "Acme"},
                        ],
                    },
                    {
                        "type": "rich_text_list",
                        "elements": [
                            {
                                "type": "rich_text_section",
                                "elements": [{"type": "text", "text": "a"}],
                            }
                        ],
                    },
                ],
            }
        ]
    }
    assert render_message(msg) == "@UBOT team Acme\n• a"
