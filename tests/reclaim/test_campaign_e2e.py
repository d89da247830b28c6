"""A reclaim campaign end to end: ``/usage reclaim ask`` in, DMs and the admins' thread out.

The bot is the real one on loopback (signed requests, its work loop, SQLite); BrowserStack is the
sandbox and Slack the stand-in. Days pass on the injected clock, never in sleeps.
"""

from __future__ import annotations

import csv
import io

from bot.browserstack.sandbox import SandboxServer
from bot.clock import ShiftedClock
from bot.slack.standin import Msg, SlackStandIn
from bot.stack import LoopbackStack
from tests.cli import run_bot
from tests.reclaim.harness import Cast, cast, dms
from tests.slack.harness import ANA, BEN, CHANNEL, OTHER_CHANNEL, StackFactory, wait_answer

DAY = 86_400.0


def buttons(msg: Msg) -> list[str]:
    return [e["action_id"] for b in msg.blocks if b["type"] == "actions" for e in b["elements"]] + [
        b["accessory"]["action_id"] for b in msg.blocks if "accessory" in b
    ]


def tally(standin: SlackStandIn) -> Msg:
    found = [m for m in standin.channel_messages(CHANNEL) if m.text.startswith("Seat reclaim")]
    assert found, "no tally"
    return found[0]


def start(
    make_stack: StackFactory, sandbox: SandboxServer, crew: Cast, **extra: object
) -> LoopbackStack:
    return make_stack(
        sandbox,
        reclaim_admins=ANA,
        idle_exclude=",".join(crew.exclude),
        seat_prices="live=29,app_live=39",
        **extra,
    )


def test_a_campaign_asks_reminds_closes_and_counts_what_was_saved(
    make_stack: StackFactory,
    sandbox: SandboxServer,
    standin: SlackStandIn,
    clock: ShiftedClock,
) -> None:
    crew = cast(sandbox, standin, clock)
    stack = start(make_stack, sandbox, crew)

    acked = stack.driver.command("reclaim ask", user=ANA, channel=CHANNEL)
    assert "Getting the idle seats" in acked.json()["text"]

    # One DM per member in Slack, none for the guest, the outsider or the excluded member.
    standin.wait_for(lambda s: all(len(dms(s, u)) == 1 for u in crew.user_ids))
    standin.wait_for(lambda s: "Not in Slack* 1" in str(tally(s).blocks))
    first = dms(standin, crew.user_ids[0])[0]
    assert "Live" in first.text
    assert buttons(first) == ["reclaim_keep", "reclaim_release"]
    assert "idle in the last weeks (last test" in str(first.blocks)
    assert "U0MGUEST" not in {c.args.get("users") for c in standin.calls_to("conversations.open")}
    opened = {c.args.get("users") for c in standin.calls_to("conversations.open")}
    assert opened == set(crew.user_ids)
    board = str(tally(standin).blocks)
    assert "*Asked* 10" in board
    assert "Guests (not asked)* 1" in board
    assert crew.outsider.email in board
    assert crew.excluded.email not in board

    # 2 keep, 3 release, 5 silent; a click from someone else is refused.
    keepers, releasers, silent = crew.user_ids[:2], crew.user_ids[2:5], crew.user_ids[5:]
    stranger = stack.driver.click(
        "reclaim_keep",
        user=BEN,
        channel=standin.dm_channel(keepers[0]),
        message_ts=dms(standin, keepers[0])[0].ts,
    )
    assert stranger.status_code == 200
    refused = standin.wait_for(
        lambda s: [m for m in s.visible_to(BEN, s.dm_channel(keepers[0])) if m.ephemeral]
    )
    assert "only the person this message was sent to" in refused[0].text
    assert "You chose" not in str(dms(standin, keepers[0])[0].blocks)
    for user_id in keepers:
        stack.driver.click("reclaim_keep", user=user_id, channel=standin.dm_channel(user_id))
    for user_id in releasers:
        stack.driver.click("reclaim_release", user=user_id, channel=standin.dm_channel(user_id))
    standin.wait_for(lambda s: "*Kept* 2 · *Released* 3 · *No answer* 5" in str(tally(s).blocks))
    assert "You chose *Keep*" in str(dms(standin, keepers[0])[0].blocks)
    # The choice can change until the deadline.
    stack.driver.click("reclaim_release", user=keepers[1], channel=standin.dm_channel(keepers[1]))
    standin.wait_for(lambda s: "You chose *Release*" in str(dms(s, keepers[1])[0].blocks))
    stack.driver.click("reclaim_keep", user=keepers[1], channel=standin.dm_channel(keepers[1]))
    standin.wait_for(lambda s: "*Kept* 2 · *Released* 3" in str(tally(s).blocks))

    # Halfway: one reminder, to the five who did not answer only.
    clock.advance(3.5 * DAY + 60)
    standin.wait_for(lambda s: all(len(dms(s, u)) == 2 for u in silent))
    assert "Reminder" in str(dms(standin, silent[0])[1].blocks)
    assert all(len(dms(standin, u)) == 1 for u in keepers + releasers)

    # The deadline: the release list (3 release + 5 silent) in the admins' thread, with a CSV.
    clock.advance(3.5 * DAY)
    board_ts = tally(standin).ts
    release = standin.wait_for(
        lambda s: next(
            (m for m in s.thread(CHANNEL, board_ts) if m.text.startswith("Release list")), None
        )
    )
    assert release.text == "Release list: 8 seats, $232 a month"
    assert buttons(release).count("reclaim_done") == 8
    assert "reclaim_done_all" in buttons(release)
    assert "manage-users" in str(release.blocks)
    upload = standin.wait_for(lambda s: s.files)[0]
    rows = list(csv.DictReader(io.StringIO(upload.content.decode())))
    assert len(rows) == 8
    assert {r["product"] for r in rows} == {"Live"}
    assert {r["email"] for r in rows} == {crew.members[i].email for i in range(2, 10)}
    # Clicks after the deadline are refused.
    stack.driver.click("reclaim_keep", user=silent[0], channel=standin.dm_channel(silent[0]))
    standin.wait_for(
        lambda s: any(
            "deadline" in m.text
            for m in s.visible_to(silent[0], s.dm_channel(silent[0]))
            if m.ephemeral
        )
    )

    # An admin marks one Done (who then keeps the seat); a non-admin cannot.
    stubborn = crew.members[9]
    done_value = next(
        b["accessory"]["value"]
        for b in release.blocks
        if stubborn.email in str(b) and "accessory" in b
    )
    stack.driver.click("reclaim_done", done_value, user=BEN, channel=CHANNEL, message_ts=release.ts)
    standin.wait_for(
        lambda s: any("RECLAIM_ADMINS" in m.text for m in s.visible_to(BEN, CHANNEL) if m.ephemeral)
    )
    stack.driver.click("reclaim_done", done_value, user=ANA, channel=CHANNEL, message_ts=release.ts)
    standin.wait_for(lambda s: ":white_check_mark: done" in str(s.message(CHANNEL, release.ts)))

    stack.driver.click("reclaim_done_all", user=ANA, channel=CHANNEL, message_ts=release.ts)
    standin.wait_for(
        lambda s: str(s.message(CHANNEL, release.ts)).count(":white_check_mark: done") == 8
    )

    # `/usage reclaim` shows the campaign to admins only.
    status = stack.driver.command("reclaim", user=ANA, channel=CHANNEL).json()["text"]
    assert "released 3" in status
    assert "Release list: 8 seats" in status
    assert f"{stubborn.email} · Live · $29 (done)" in status
    refusal = stack.driver.command("reclaim", user=BEN, channel=CHANNEL).json()["text"]
    assert "RECLAIM_ADMINS" in refusal

    # BrowserStack admins remove 6 of the 8 seats; the next report confirms them, and the member
    # marked Done who still holds the seat is listed again.
    for member in crew.members[2:8]:
        assert sandbox.revoke(member.email, "live_testing")
    stack.driver.command("digest", user=ANA, channel=CHANNEL)
    preview = wait_answer(standin, ANA, "Weekly idle-seat digest")
    shown = str(preview.blocks)
    assert "Reclaimed this month: 6 Live seats, $174 a month" in shown
    held = f"{crew.members[8].email} (Live), {stubborn.email} (Live)"
    assert f"listed again: {held}" in shown
    status = stack.driver.command("reclaim", user=ANA, channel=CHANNEL).json()["text"]
    assert f"{stubborn.email} · Live · $29\n" in status + "\n"
    assert "Verified by a later report: 6 seats reclaimed, $174 a month" in status
    # The terminal prints the same.
    printed = run_bot(
        "reclaim", "status", env={"DATABASE_URL": stack.database, "SEAT_PRICES": "live=29"}
    )
    assert printed.returncode == 0
    assert printed.stdout.strip() == status
    # Still idle: 2 silent members with seats, the guest, the outsider; the keepers are snoozed.
    assert "Ask 4 idle members…" in shown

    # A second campaign from the digest's button never asks the keepers again.
    stack.driver.click("reclaim_start", user=BEN, channel=CHANNEL, message_ts=preview.ts)
    standin.wait_for(
        lambda s: any(
            "RECLAIM_ADMINS" in m.text
            for m in s.visible_to(BEN, CHANNEL)
            if "reclaim" not in m.text
        )
    )
    stack.driver.click("reclaim_start", user=ANA, channel=CHANNEL, message_ts=preview.ts)
    standin.wait_for(lambda s: all(len(dms(s, u)) == 3 for u in crew.user_ids[8:]))
    assert all(len(dms(standin, u)) == 1 for u in keepers)
    # No seat left to ask about: only their first campaign's DM (and reminder).
    assert [len(dms(standin, u)) for u in crew.user_ids[2:8]] == [1, 1, 1, 2, 2, 2]


def test_idle_answers_offer_a_campaign_to_admins_only_and_start_one_for_their_period(
    make_stack: StackFactory,
    sandbox: SandboxServer,
    standin: SlackStandIn,
    clock: ShiftedClock,
) -> None:
    crew = cast(sandbox, standin, clock)
    stack = start(make_stack, sandbox, crew)

    stack.driver.command("idle", user=BEN, channel=CHANNEL)
    assert "reclaim_start" not in str(wait_answer(standin, BEN, "idle seat").blocks)
    stack.driver.command("idle", user=ANA, channel=CHANNEL)
    answer = wait_answer(standin, ANA, "idle seat")
    (offer,) = [
        e
        for b in answer.blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "reclaim_start"
    ]
    # The ten, the guest and the outsider (Slack tells the last two apart when the DM is due).
    assert offer["text"]["text"] == "Ask 12 idle members…"
    assert "12 members with idle Live, App Live seats" in offer["confirm"]["text"]["text"]
    assert ".." in offer["value"]

    stack.driver.click("reclaim_start", user=ANA, channel=CHANNEL, message_ts=answer.ts)
    standin.wait_for(lambda s: all(len(dms(s, u)) == 1 for u in crew.user_ids))
    board = tally(standin)
    assert board.thread_ts is None  # an ephemeral answer has no thread: the tally starts one
    assert offer["value"] in str(board.blocks)


def test_nothing_is_sent_without_seat_admins(
    make_stack: StackFactory,
    sandbox: SandboxServer,
    standin: SlackStandIn,
    clock: ShiftedClock,
) -> None:
    crew = cast(sandbox, standin, clock)
    stack = make_stack(sandbox, idle_exclude=",".join(crew.exclude))
    reply = stack.driver.command("reclaim ask", user=ANA, channel=CHANNEL).json()["text"]
    assert "Nobody administers seats through me yet" in reply
    stack.driver.command("idle", user=ANA, channel=CHANNEL)
    assert "reclaim_start" not in str(wait_answer(standin, ANA, "idle seat").blocks)
    assert standin.calls_to("conversations.open") == []
    assert stack.bot.worker._reclaim is None  # the work loop never looks for campaigns


def test_a_campaign_started_where_the_bot_is_not_reports_in_the_admins_dm(
    make_stack: StackFactory,
    sandbox: SandboxServer,
    standin: SlackStandIn,
    clock: ShiftedClock,
) -> None:
    crew = cast(sandbox, standin, clock)
    stack = start(make_stack, sandbox, crew)
    stack.driver.command("reclaim ask", user=ANA, channel=OTHER_CHANNEL)
    standin.wait_for(lambda s: all(len(dms(s, u)) == 1 for u in crew.user_ids))
    board = standin.wait_for(lambda s: [m for m in dms(s, ANA) if "*Asked* 10" in str(m.blocks)])
    assert board[0].text.startswith("Seat reclaim")
    assert standin.channel_messages(OTHER_CHANNEL) == []


def test_a_campaign_started_from_the_posted_digest_reports_in_its_thread(
    make_stack: StackFactory,
    sandbox: SandboxServer,
    standin: SlackStandIn,
    clock: ShiftedClock,
) -> None:
    crew = cast(sandbox, standin, clock)
    stack = start(make_stack, sandbox, crew, digest_channel=CHANNEL)
    (outcome,) = stack.bot.digest.post_all(now=clock.now())
    assert outcome.posted
    digest = next(m for m in standin.channel_messages(CHANNEL) if "idle-seat digest" in m.text)
    assert "Ask 12 idle members…" in str(digest.blocks)  # the button's confirmation says the rest

    stack.driver.click("reclaim_start", user=BEN, channel=CHANNEL, message_ts=digest.ts)
    standin.wait_for(
        lambda s: any("RECLAIM_ADMINS" in m.text for m in s.visible_to(BEN, CHANNEL) if m.ephemeral)
    )
    assert standin.calls_to("conversations.open") == []
    stack.driver.click("reclaim_start", user=ANA, channel=CHANNEL, message_ts=digest.ts)
    standin.wait_for(lambda s: all(len(dms(s, u)) == 1 for u in crew.user_ids))
    standin.wait_for(lambda s: "*Asked* 10" in str(tally(s).blocks))
    assert tally(standin).thread_ts == digest.ts  # in the digest's thread
    # A second click while it runs asks nobody twice: the admin is told why.
    stack.driver.click("reclaim_start", user=ANA, channel=CHANNEL, message_ts=digest.ts)
    told = standin.wait_for(lambda s: [m for m in dms(s, ANA) if "already running" in m.text])
    assert "/usage reclaim" in told[0].text
    assert all(len(dms(standin, u)) == 1 for u in crew.user_ids)
