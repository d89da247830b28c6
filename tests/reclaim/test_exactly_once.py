"""Reminders and the release list exactly once, whatever dies between a post and its record.

A campaign runs in the real bot on loopback (signed command in, DMs at the stand-in); the bot
is stopped, and a second instance (``Doomed``: a ``ReclaimService`` whose store raises at one
step, as a kill -9 there would stop it) runs the campaign's step on the same database and dies.
The bot is started again and takes the campaign over: each member has exactly one reminder and
the admins' thread exactly one release list. Days pass on the injected clock.
"""

from __future__ import annotations

import pytest
from slack_sdk import WebClient

from bot.browserstack.models import Product
from bot.browserstack.sandbox import SandboxServer
from bot.clock import ShiftedClock
from bot.reclaim.service import ReclaimPolicy, ReclaimService
from bot.reclaim.store import CLOSED, CLOSING, REMINDED, ReclaimStore
from bot.reports.leases import Leases
from bot.slack.standin import Msg, SlackStandIn
from bot.stack import BOT_TOKEN, LoopbackStack
from bot.storage import open_database
from tests.reclaim.harness import Cast, cast, dms
from tests.slack.harness import ANA, CHANNEL, StackFactory

DAY = 86_400.0


class Killed(Exception):
    """Where the doomed instance stops, as kill -9 would stop it."""


class DiesRecordingReminder(ReclaimStore):
    """Posts the first reminder, then dies before its ts reaches the database."""

    def record_reminder(self, campaign_id: str, email: str, ts: str) -> None:
        raise Killed(email)


class DiesAfterClaimingReminder(ReclaimStore):
    """Claims the first reminder, then dies before posting it."""

    def claim_reminder(self, campaign_id: str, email: str) -> bool:
        assert super().claim_reminder(campaign_id, email)
        raise Killed(email)


class DiesRecordingRelease(ReclaimStore):
    """Posts the release list, then dies before its ts reaches the database."""

    def record_release(self, campaign_id: str, ts: str) -> None:
        raise Killed(campaign_id)


class DiesBeforeRelease(ReclaimStore):
    """Marks the campaign closing, then dies before posting the release list."""

    def update_campaign(self, campaign_id: str, owner: str | None = None, **values: object) -> bool:
        done = super().update_campaign(campaign_id, owner, **values)
        if values.get("state") == CLOSING:
            raise Killed(campaign_id)
        return done


def reminders(standin: SlackStandIn, user_id: str) -> list[Msg]:
    return [m for m in dms(standin, user_id) if "Reminder" in str(m.blocks)]


def release_lists(standin: SlackStandIn) -> list[Msg]:
    return [m for m in standin.channel_messages(CHANNEL) if m.text.startswith("Release list")]


@pytest.fixture
def crew(sandbox: SandboxServer, standin: SlackStandIn, clock: ShiftedClock) -> Cast:
    return cast(sandbox, standin, clock, asked=4)


@pytest.fixture
def asked(
    make_stack: StackFactory, sandbox: SandboxServer, crew: Cast, standin: SlackStandIn
) -> LoopbackStack:
    """A campaign of four members whose DMs are out, its bot stopped."""
    stack = make_stack(
        sandbox, reclaim_admins=ANA, idle_exclude=",".join(crew.exclude), seat_prices="live=29"
    )
    stack.driver.command("reclaim ask", user=ANA, channel=CHANNEL)
    standin.wait_for(lambda s: all(len(dms(s, u)) == 1 for u in crew.user_ids))
    standin.wait_for(
        lambda s: any("*Asked* 4" in str(m.blocks) for m in s.channel_messages(CHANNEL))
    )
    stack.stop()
    return stack


def doomed(
    stack: LoopbackStack, standin: SlackStandIn, clock: ShiftedClock, store: type[ReclaimStore]
) -> ReclaimService:
    """Another instance on the same database and Slack, whose store dies at one step."""
    engine = open_database(stack.database)
    service = ReclaimService(
        engine=engine,
        slack=WebClient(token=BOT_TOKEN, base_url=standin.api_url),
        leases=Leases("doomed", clock),
        clock=clock,
        policy=ReclaimPolicy(prices={Product.LIVE: 29.0}),
        is_admin=lambda _user: True,
    )
    service.store = store(engine)
    return service


def campaign_state(stack: LoopbackStack) -> str | None:
    latest = ReclaimStore(open_database(stack.database)).latest()
    return None if latest is None else latest.state


@pytest.mark.parametrize("store", [DiesRecordingReminder, DiesAfterClaimingReminder])
def test_a_reminder_whose_sender_died_goes_out_exactly_once(
    asked: LoopbackStack,
    crew: Cast,
    standin: SlackStandIn,
    clock: ShiftedClock,
    store: type[ReclaimStore],
) -> None:
    clock.advance(3.5 * DAY + 60)
    with pytest.raises(Killed):
        doomed(asked, standin, clock, store).run()
    posted = 1 if store is DiesRecordingReminder else 0
    assert sum(len(reminders(standin, u)) for u in crew.user_ids) == posted

    asked.start()  # the bot takes the campaign over
    standin.wait_for(lambda s: all(reminders(s, u) for u in crew.user_ids))
    standin.wait_for(lambda s: campaign_state(asked) == REMINDED, recheck=0.05)
    assert [len(reminders(standin, u)) for u in crew.user_ids] == [1, 1, 1, 1]
    assert [len(dms(standin, u)) for u in crew.user_ids] == [2, 2, 2, 2]
    # The claimed reminder without a ts was looked for in its DM (and only that one).
    checked = [c.args.get("channel") for c in standin.calls_to("conversations.history")]
    assert checked == [standin.dm_channel(crew.user_ids[0])]
    # Its ts was recorded (found or posted): a click on it updates the reminder in place.
    reminder = reminders(standin, crew.user_ids[0])[0]
    user = crew.user_ids[0]
    asked.driver.click(
        "reclaim_keep", user=user, channel=standin.dm_channel(user), message_ts=reminder.ts
    )
    channel = standin.dm_channel(user)
    standin.wait_for(lambda s: "You chose *Keep*" in str(s.message(channel, reminder.ts)))
    assert "Reminder" in str(standin.message(channel, reminder.ts))


@pytest.mark.parametrize("store", [DiesRecordingRelease, DiesBeforeRelease])
def test_a_release_list_whose_poster_died_is_posted_exactly_once(
    asked: LoopbackStack,
    crew: Cast,
    standin: SlackStandIn,
    clock: ShiftedClock,
    store: type[ReclaimStore],
) -> None:
    clock.advance(7 * DAY + 60)
    with pytest.raises(Killed):
        doomed(asked, standin, clock, store).run()
    assert campaign_state(asked) == CLOSING
    assert len(release_lists(standin)) == (1 if store is DiesRecordingRelease else 0)

    asked.start()
    standin.wait_for(lambda s: s.files)  # the CSV comes after the list is recorded
    standin.wait_for(lambda s: campaign_state(asked) == CLOSED, recheck=0.05)
    (listed,) = release_lists(standin)
    assert listed.text == "Release list: 4 seats, $116 a month"
    assert listed.thread_ts is not None  # in the tally's thread, where it was looked for
    assert [c.args.get("ts") for c in standin.calls_to("conversations.replies")] == [
        listed.thread_ts
    ]
    assert len(standin.files) == 1
    # Its ts was recorded: Done edits that very message.
    asked.driver.click("reclaim_done_all", user=ANA, channel=CHANNEL, message_ts=listed.ts)
    standin.wait_for(
        lambda s: str(s.message(CHANNEL, listed.ts)).count(":white_check_mark: done") == 4
    )


def test_a_release_list_at_the_channels_top_level_is_looked_for_in_its_history(
    asked: LoopbackStack, crew: Cast, standin: SlackStandIn, clock: ShiftedClock
) -> None:
    # A tally that never got posted: the release list goes to the channel's top level.
    store = ReclaimStore(open_database(asked.database))
    campaign = store.latest()
    assert campaign is not None
    store.update_campaign(campaign.id, tally_ts=None)
    clock.advance(7 * DAY + 60)
    with pytest.raises(Killed):
        doomed(asked, standin, clock, DiesRecordingRelease).run()

    asked.start()
    standin.wait_for(lambda s: s.files)
    standin.wait_for(lambda s: campaign_state(asked) == CLOSED, recheck=0.05)
    (listed,) = release_lists(standin)
    assert listed.thread_ts is None
    assert CHANNEL in [c.args.get("channel") for c in standin.calls_to("conversations.history")]
    assert standin.calls_to("conversations.replies") == []


def test_a_thread_the_bot_cannot_read_does_not_hold_the_release_list_back(
    asked: LoopbackStack, crew: Cast, standin: SlackStandIn, clock: ShiftedClock
) -> None:
    """An app not reinstalled with channels:history yet: the list is posted all the same (at
    worst twice, said in the log), never lost."""
    clock.advance(7 * DAY + 60)
    with pytest.raises(Killed):
        doomed(asked, standin, clock, DiesBeforeRelease).run()
    standin.fail_next("conversations.replies", error="missing_scope")

    asked.start()
    standin.wait_for(lambda s: s.files)
    standin.wait_for(lambda s: campaign_state(asked) == CLOSED, recheck=0.05)
    assert len(release_lists(standin)) == 1
    assert len(standin.calls_to("conversations.replies")) == 1
