"""A reclaim campaign survives kill -9 of a real ``python -m bot serve`` in the middle of its DMs,
of its reminders and of its release list.

Slack (the stand-in) answers chat.postMessage a second late, after the DM is posted: the kill
lands while a DM is in Slack but its ts is not in the database yet, the one window where a naive
sender would post it again. After the restart every member has exactly one DM.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import sqlalchemy as sa

from bot.browserstack.sandbox import SandboxServer
from bot.clock import SystemClock
from bot.reclaim.store import reclaim_campaigns
from bot.slack.standin import AppDriver, Msg, SlackStandIn
from bot.stack import SIGNING_SECRET
from bot.storage import create_engine
from tests.processes.harness import CHANNEL, ServeProcess
from tests.reclaim.harness import cast
from tests.slack.harness import ANA


def test_kill_in_the_middle_of_the_dms_sends_each_member_exactly_one(
    start_bot: Callable[..., ServeProcess],
    world: tuple[SandboxServer, SlackStandIn],
) -> None:
    sandbox, standin = world
    crew = cast(sandbox, standin, SystemClock())
    env = {"RECLAIM_ADMINS": ANA, "IDLE_EXCLUDE": ",".join(crew.exclude)}
    first = start_bot(**env)
    standin.slow_down("chat.postMessage", 1.0)

    def dm_count(s: SlackStandIn) -> int:
        return sum(1 for u in crew.user_ids if s.channel_messages(s.dm_channel(u)))

    with AppDriver(first.url, SIGNING_SECRET, standin) as driver:
        assert driver.command("reclaim ask", user=ANA, channel=CHANNEL).status_code == 200
    standin.wait_for(lambda s: dm_count(s) >= 3, timeout=60, recheck=0.02)
    first.kill()  # the third DM is posted; its ts never reached the database
    assert dm_count(standin) < len(crew.user_ids)

    standin.slow_down("chat.postMessage", 0.0)
    start_bot(**env)
    standin.wait_for(lambda s: dm_count(s) == len(crew.user_ids), timeout=60, recheck=0.05)
    standin.wait_for(
        lambda s: any("*Asked* 10" in str(m.blocks) for m in s.channel_messages(CHANNEL)),
        timeout=60,
        recheck=0.05,
    )
    per_member = {u: len(standin.channel_messages(standin.dm_channel(u))) for u in crew.user_ids}
    assert per_member == dict.fromkeys(crew.user_ids, 1)
    # The restarted bot found the DM posted at the kill in its channel's history.
    assert standin.calls_to("conversations.history")


def test_kill_in_the_middle_of_the_reminders_and_of_the_release_list_repeats_neither(
    start_bot: Callable[..., ServeProcess],
    world: tuple[SandboxServer, SlackStandIn],
    bot_database: str,
) -> None:
    """Reminders and the release list are recorded after their post, like the DMs: killed in
    between (Slack a second late again), the next bot finds them in Slack and posts neither
    again. The campaign's days pass in its row (the processes run on the real clock)."""
    sandbox, standin = world
    crew = cast(sandbox, standin, SystemClock())
    env = {"RECLAIM_ADMINS": ANA, "IDLE_EXCLUDE": ",".join(crew.exclude)}
    engine = create_engine(bot_database)

    def move(column: str) -> None:
        """Make the campaign's reminder time or deadline now."""
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        with engine.begin() as tx:
            tx.execute(sa.update(reclaim_campaigns).values({column: past}))

    def state() -> str:
        with engine.connect() as tx:
            return str(tx.execute(sa.select(reclaim_campaigns.c.state)).scalar_one())

    def reminders(s: SlackStandIn) -> dict[str, int]:
        return {
            u: sum("Reminder" in str(m.blocks) for m in s.channel_messages(s.dm_channel(u)))
            for u in crew.user_ids
        }

    def release_lists(s: SlackStandIn) -> list[Msg]:
        return [m for m in s.channel_messages(CHANNEL) if m.text.startswith("Release list")]

    first = start_bot(**env)
    with AppDriver(first.url, SIGNING_SECRET, standin) as driver:
        assert driver.command("reclaim ask", user=ANA, channel=CHANNEL).status_code == 200
    standin.wait_for(
        lambda s: all(s.channel_messages(s.dm_channel(u)) for u in crew.user_ids), timeout=60
    )
    standin.slow_down("chat.postMessage", 1.0)
    move("remind_at")
    standin.wait_for(lambda s: sum(reminders(s).values()) >= 2, timeout=60, recheck=0.02)
    first.kill()  # the second reminder is posted; its ts never reached the database
    assert sum(reminders(standin).values()) < len(crew.user_ids)

    move("deadline")
    second = start_bot(**env)  # reminds the rest, then posts the release list, and is killed
    standin.wait_for(lambda s: release_lists(s), timeout=60, recheck=0.02)
    second.kill()
    assert state() == "closing"

    standin.slow_down("chat.postMessage", 0.0)
    start_bot(**env)
    standin.wait_for(lambda s: s.files, timeout=60, recheck=0.05)  # the CSV: after the record
    assert state() == "closed"
    assert reminders(standin) == dict.fromkeys(crew.user_ids, 1)
    assert len(release_lists(standin)) == 1
    assert standin.calls_to("conversations.replies")
