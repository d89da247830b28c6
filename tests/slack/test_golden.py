"""Golden files made by the real answer path: each is what the bot sends, never a hand-made context.

Every case drives the whole stack (``bot.stack``: the BrowserStack sandbox, the Slack stand-in
and the bot over loopback HTTP): a signed command goes in, and the message is taken as it arrives
at Slack, either the HTTP ack or what the stand-in holds once the placeholder is replaced. Only
what changes from run to run is normalised: request ids (``REQUEST``), message timestamps and
file ids. The clock stands at ``NOW`` (a ``ShiftedClock``, so it still ticks for the work loop),
whatever ``--today`` says: the sandbox's figures and the relative times depend on the date.

Golden files live in ``tests/slack/golden/<name>.json``. After an intended change to what the bot
sends, regenerate them and read the diff::

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/slack/test_golden.py
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.clock import ShiftedClock, SystemClock
from bot.slack.messages import Message, validate
from bot.slack.standin import Msg
from bot.stack import LoopbackStack
from tests.conftest import SandboxFactory
from tests.slack.harness import ANA, CHANNEL, StackFactory, wait_answer

GOLDEN = Path(__file__).parent / "golden"
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
_REQUEST_ID = re.compile(r"\b[0-9a-f]{32}\b")
_VOLATILE = {"ts", "thread_ts", "id", "file_id"}


@pytest.fixture
def clock() -> ShiftedClock:
    """The whole stack's clock at ``NOW``, ticking: the golden files are made on a fixed date."""
    return ShiftedClock(NOW - SystemClock().now())


def normalised(value: Any) -> Any:
    """``value`` with request ids, timestamps and file ids replaced by fixed words."""
    if isinstance(value, dict):
        return {
            key: key.upper() if key in _VOLATILE and isinstance(item, str) else normalised(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [normalised(item) for item in value]
    if isinstance(value, str):
        return _REQUEST_ID.sub("REQUEST", value)
    return value


def message(msg: Msg | dict[str, Any]) -> dict[str, Any]:
    """A message as Slack shows it: its text and blocks (the stand-in checked the blocks)."""
    if isinstance(msg, Msg):
        return {"text": msg.text, "blocks": msg.blocks}
    return {"text": msg.get("text", ""), "blocks": msg.get("blocks", [])}


def with_details(stack: LoopbackStack, summary: Msg) -> dict[str, Any]:
    """The answer, then what its Details button brings: the thread replies and the CSV."""
    if '"action_id": "details"' not in json.dumps(summary.blocks):
        return {"summary": message(summary), "details": [], "csv": []}
    stack.driver.click("details", user=ANA, channel=CHANNEL)
    dm = stack.standin.dm_channel(ANA)
    posted = stack.standin.wait_for(lambda s: next(iter(s.channel_messages(dm)), None))
    stack.stop()  # waits for the work under way: every reply and file is posted
    replies = stack.standin.thread(dm, posted.ts)[1:]
    return {
        "summary": message(summary),
        "details": [message(reply) for reply in replies if not reply.files],
        "csv": [
            {
                "filename": file.filename,
                "title": file.title,
                "content": file.content.decode("utf-8").splitlines(),
            }
            for reply in replies
            for file in reply.files
        ],
    }


def answered(stack: LoopbackStack, text: str, needle: str) -> dict[str, Any]:
    stack.driver.command(text, user=ANA, channel=CHANNEL)
    return with_details(stack, wait_answer(stack.standin, ANA, needle))


def replaced(stack: LoopbackStack, text: str, needle: str) -> dict[str, Any]:
    """The private message that replaces the placeholder (no details)."""
    stack.driver.command(text, user=ANA, channel=CHANNEL)
    return message(wait_answer(stack.standin, ANA, needle))


def acked(stack: LoopbackStack, text: str) -> dict[str, Any]:
    """The ack itself: what Slack shows the moment the command is sent."""
    response = stack.driver.command(text, user=ANA, channel=CHANNEL)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return message(body)


def cancelled(stack: LoopbackStack) -> dict[str, Any]:
    stack.driver.command("teams", user=ANA, channel=CHANNEL)
    stack.standin.wait_for(lambda s: "queued" in str(s.ephemeral(CHANNEL, ANA)[-1].blocks))
    stack.driver.click("cancel", user=ANA, channel=CHANNEL)
    done = stack.standin.wait_for(
        lambda s: [m for m in s.ephemeral(CHANNEL, ANA) if "Cancelled" in m.text]
    )
    return message(done[-1])


def home_tab(stack: LoopbackStack) -> dict[str, Any]:
    """The Home tab once its reports land (a view: blocks, no text)."""
    stack.driver.command("subscribe me weekly", user=ANA, channel=CHANNEL)
    stack.driver.open_home(user=ANA)
    view = stack.standin.wait_for(
        lambda s: next((v for v in s.home_views(ANA) if "Me this month" in str(v)), None)
    )
    return {"text": "(a view has no text)", "blocks": view["blocks"]}


# Each golden file and the flow that produces it; ``slow`` cases need a job that stays queued.
CASES: dict[str, tuple[Callable[[LoopbackStack], dict[str, Any]], bool]] = {
    "team": (lambda s: answered(s, "team Acme team", "Acme team"), False),
    "teams": (lambda s: answered(s, "teams", "All teams"), False),
    "user": (lambda s: answered(s, "user <@U0ANA|ana>", "Steve"), False),
    "idle": (lambda s: answered(s, "idle", "idle"), False),
    "top": (lambda s: answered(s, "top", "Top"), False),
    "not_found": (lambda s: replaced(s, "team Acm", "Acm"), False),
    "error": (lambda s: acked(s, "tem Acme"), False),
    "placeholder": (lambda s: acked(s, "team Acme team last 30d"), False),
    "help": (lambda s: acked(s, "help"), False),
    "subscriptions": (lambda s: acked(s, "subscribe team Acme team weekly <#C0001>"), False),
    "home": (home_tab, False),
    "cancelled": (cancelled, True),
}


def messages_in(golden: Any) -> list[dict[str, Any]]:
    if "summary" in golden:
        return [golden["summary"], *golden["details"]]
    return [golden]


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str, make_stack: StackFactory, sandbox_factory: SandboxFactory) -> None:
    flow, slow = CASES[name]
    stack = make_stack(sandbox_factory(queued_seconds=60) if slow else None)
    actual = normalised(flow(stack))
    path = GOLDEN / f"{name}.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n")
    assert path.exists(), f"no golden file {path.name}: run with UPDATE_GOLDEN=1"
    assert actual == json.loads(path.read_text())
    for sent in messages_in(actual):
        validate(Message(text=sent["text"], blocks=sent["blocks"]))


def test_every_golden_file_comes_from_a_flow() -> None:
    assert {path.stem for path in GOLDEN.glob("*.json")} == set(CASES)
