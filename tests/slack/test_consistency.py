"""Issue 8, items 7 to 9, through the real answer path: signed requests in, the sandbox behind,
messages at the Slack stand-in out.

Periods say exactly which days they count and BrowserStack is asked for those days; placeholders
carry no request id; a date that does not exist is refused with the reason; ``thread`` is honoured
or refused; ``idle`` and the digest count IDLE_DAYS; the ``/usage digest`` preview is the digest
(its period, its sections, its thread behind Details) and says when the scheduled one failed.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest

from bot.digest.post import Route
from bot.reports.question import last_days_label, range_label, range_text
from bot.slack.standin import Msg
from bot.stack import LoopbackStack
from tests.slack.harness import ANA, CHANNEL, StackFactory, wait_answer


def _mrkdwn(blocks: list[dict[str, Any]]) -> str:
    """Every text people read in ``blocks`` (not the buttons' values)."""
    texts: list[str] = []
    for block in blocks:
        if block["type"] == "actions":
            texts += [e["text"]["text"] for e in block["elements"]]
            continue
        if "text" in block:
            texts.append(block["text"]["text"])
        texts += [e.get("text", "") for e in block.get("elements", [])]
        texts += [f["text"] for f in block.get("fields", [])]
    return "\n".join(texts)


def _buttons(message: Msg | dict[str, Any]) -> dict[str, str]:
    blocks = message.blocks if isinstance(message, Msg) else message["blocks"]
    return {
        e["action_id"]: e["value"] for b in blocks if b["type"] == "actions" for e in b["elements"]
    }


def _dates_asked(stack: LoopbackStack) -> list[tuple[dt.date, dt.date]]:
    """The periods BrowserStack was asked for (a team question's two reports share one)."""
    return sorted({(job.start, job.end) for job in stack.sandbox.jobs.all()})


# --- item 7: periods, placeholders, dates ------------------------------------------------------


def test_the_last_14_days_are_14_days_at_browserstack_and_in_the_answer(
    stack: LoopbackStack,
) -> None:
    today = stack.clock.today()
    ack = stack.driver.command("teams", user=ANA, channel=CHANNEL).json()
    start = today - dt.timedelta(days=13)
    label = f"the last 14 days ({range_text(start, today)})"
    assert label in _mrkdwn(ack["blocks"])  # the placeholder names the days
    answer = wait_answer(stack.standin, ANA, "All teams")
    assert label in _mrkdwn(answer.blocks)
    assert _dates_asked(stack) == [(start, today)]  # 14 days, both ends counted


def test_a_placeholder_shows_no_request_id(
    stack: LoopbackStack, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="bot.slack.listeners"):
        ack = stack.driver.command("teams", user=ANA, channel=CHANNEL).json()
    request_id = _buttons(ack)["cancel"]  # the id lives in the button, for the click
    assert len(request_id) == 32
    assert request_id not in _mrkdwn(ack["blocks"])
    assert request_id not in ack["text"]
    assert "Request" not in _mrkdwn(ack["blocks"])
    # Where a human needs it: the log ties the id to who asked what.
    assert f"request {request_id}: /usage teams, from {ANA} in {CHANNEL}" in caplog.text
    wait_answer(stack.standin, ANA, "All teams")


@pytest.mark.parametrize("form", ["", "last 7d", "this month", "last month", "since", "range"])
def test_every_period_form_reads_right_in_the_answer(stack: LoopbackStack, form: str) -> None:
    today = stack.clock.today()
    first = today.replace(day=1)
    month_ago = (first - dt.timedelta(days=1)).replace(day=1)
    words = {
        "since": f"since {month_ago.isoformat()}",
        "range": f"{month_ago.isoformat()}..{(first - dt.timedelta(days=1)).isoformat()}",
    }.get(form, form)
    stack.driver.command(f"teams {words}".strip(), user=ANA, channel=CHANNEL)
    answer = _mrkdwn(wait_answer(stack.standin, ANA, "All teams").blocks)
    ((start, end),) = _dates_asked(stack)
    assert "in since" not in answer  # "2 with no activity in since 1 Oct 2026"
    expected = {
        "": last_days_label(start, end),
        "last 7d": last_days_label(start, end),
        "since": range_label(start, end),
        "range": range_label(start, end),
    }.get(form)
    if expected:
        assert f"with no activity in {expected}." in answer
    if form in ("", "last 7d"):
        assert (end - start).days + 1 == (7 if form else 14)
    if form == "this month":
        assert (start, end) == (first, today)
        assert f"so far ({range_text(first, today)})" in answer
    if form == "since":
        assert (start, end) == (month_ago, today)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("teams since 2026-13-01", "`2026-13-01` is not a date: month 13 does not exist."),
        ("idle 2026-02-01..2026-02-30", "`2026-02-30` is not a date: February 2026 has 28 days."),
    ],
)
def test_a_date_that_does_not_exist_is_refused_with_the_reason(
    stack: LoopbackStack, text: str, reason: str
) -> None:
    ack = stack.driver.command(text, user=ANA, channel=CHANNEL).json()
    assert reason in _mrkdwn(ack["blocks"])
    assert stack.sandbox.stats.requests == 0


# --- item 8: thread, idle's default, the digest preview ------------------------------------


@pytest.mark.parametrize("text", ["me thread", "user steve@example.com thread"])
def test_thread_on_an_answer_without_details_is_refused_with_a_reason(
    stack: LoopbackStack, text: str
) -> None:
    ack = stack.driver.command(text, user=ANA, channel=CHANNEL).json()
    assert "answers in one message, with no details to put in a thread" in _mrkdwn(ack["blocks"])
    assert stack.sandbox.stats.requests == 0


def test_thread_is_honoured_where_there_are_details(stack: LoopbackStack) -> None:
    stack.driver.command("idle thread", user=ANA, channel=CHANNEL)
    dm = stack.standin.dm_channel(ANA)
    summary = stack.standin.wait_for(lambda s: next(iter(s.channel_messages(dm)), None))
    assert stack.standin.wait_for(lambda s: s.thread(dm, summary.ts)[1:])


def test_idle_defaults_to_idle_days_and_help_says_so(make_stack: StackFactory) -> None:
    stack = make_stack(idle_days=21)
    today = stack.clock.today()
    help_text = _mrkdwn(stack.driver.command("help", user=ANA, channel=CHANNEL).json()["blocks"])
    assert "Without a period: the last 21 days, as in the weekly digest." in help_text
    stack.driver.command("idle", user=ANA, channel=CHANNEL)
    answer = wait_answer(stack.standin, ANA, "idle")
    start = today - dt.timedelta(days=20)
    assert _dates_asked(stack) == [(start, today)]
    assert last_days_label(start, today) in _mrkdwn(answer.blocks)


def test_the_digest_preview_is_the_digest(make_stack: StackFactory) -> None:
    stack = make_stack(digest_channel="C0DIGEST", idle_days=30)
    today = stack.clock.today()
    label = last_days_label(today - dt.timedelta(days=29), today)
    ack = stack.driver.command("digest", user=ANA, channel=CHANNEL).json()
    assert label in _mrkdwn(ack["blocks"])
    preview = wait_answer(stack.standin, ANA, "idle seat")
    shown = _mrkdwn(preview.blocks)
    assert label in shown  # the same period in the placeholder and the answer
    assert label in preview.text
    # The digest the scheduler would post, from the same reports and clock.
    digest = stack.bot.digest
    now = stack.clock.now()
    users, teams = digest.fetch(now)
    _, posted = digest.build(users, teams, Route("C0DIGEST"), now=now, chart=False)
    assert preview.text == posted.summary.text  # same figures, same period
    posted_sections = [_mrkdwn([b]) for b in posted.summary.blocks if b["type"] == "section"]
    preview_sections = [_mrkdwn([b]) for b in preview.blocks if b["type"] == "section"]
    for section in preview_sections:
        if not section.startswith(":warning:"):
            assert section in posted_sections
    # Every section, the parallels (from the team report, which the preview reads too) included.
    assert [s for s in posted_sections if s not in preview_sections] == []
    assert any("could be freed" in section for section in preview_sections)
    assert "leaves out" not in shown
    # The thread's content is behind Details, not promised in a thread that never comes.
    assert "In the thread" not in shown
    assert "Under *Details*: idle members by team" in shown
    assert set(_buttons(preview)) == {"share", "details"}
    stack.driver.click("details", user=ANA, channel=CHANNEL)
    dm = stack.standin.dm_channel(ANA)
    summary = stack.standin.wait_for(lambda s: next(iter(s.channel_messages(dm)), None))
    replies = stack.standin.wait_for(lambda s: s.thread(dm, summary.ts)[1:])
    assert "Idle members by team" in str(replies[0].blocks)
    assert stack.standin.channel_messages("C0DIGEST") == []  # a preview posts nothing


def test_the_digest_takes_no_period(stack: LoopbackStack) -> None:
    ack = stack.driver.command("digest last 7d", user=ANA, channel=CHANNEL).json()
    assert "The digest always covers the last 30 days (IDLE_DAYS)" in _mrkdwn(ack["blocks"])


# --- item 9: a digest Slack refuses ------------------------------------------------------------


def test_the_preview_says_why_the_scheduled_digest_was_not_posted(
    make_stack: StackFactory,
) -> None:
    # Due every minute, to a channel the bot was never invited to: the stand-in answers
    # not_in_channel, as Slack does.
    stack = make_stack(digest_channel="C0NOTIN", digest_cron="* * * * *")
    history = stack.bot.digest.history
    stack.standin.wait_for(
        lambda s: (entry := history.latest("C0NOTIN")) is not None and entry.failing,
        recheck=0.05,
        timeout=20,
    )
    stack.driver.command("digest", user=ANA, channel=CHANNEL)
    preview = wait_answer(stack.standin, ANA, "idle seat")
    shown = _mrkdwn(preview.blocks)
    assert "could not be posted to <#C0NOTIN>: Slack said `not_in_channel`" in shown
    assert "invite @usagebot to <#C0NOTIN>" in shown
    assert "tried again every hour until" in shown
    assert stack.standin.channel_messages("C0NOTIN") == []
