"""The App Home tab, subscriptions and alerts end to end (issue 12): signed events and commands
in, views and messages at the Slack stand-in out, the sandbox behind, the clock injected."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from bot.browserstack.sandbox import FaultConfig
from bot.clock import ShiftedClock
from bot.home.store import schedule_claims
from bot.stack import LoopbackStack
from tests.conftest import SandboxFactory
from tests.slack.harness import (
    ANA,
    BEN,
    CHANNEL,
    GUEST,
    OTHER_CHANNEL,
    StackFactory,
    wait_answer,
)


def _text(view: dict[str, Any] | None) -> str:
    return str(view["blocks"]) if view else ""


def _wait_view(stack: LoopbackStack, user: str, needle: str, *, after: int = 0) -> dict[str, Any]:
    def found(s: Any) -> dict[str, Any] | None:
        views = s.home_views(user)[after:]
        return next((v for v in reversed(views) if needle in str(v["blocks"])), None)

    return stack.standin.wait_for(found)


def test_member_home_says_refreshing_then_shows_the_numbers(stack: LoopbackStack) -> None:
    assert stack.driver.open_home(user=ANA).status_code == 200
    first = stack.standin.wait_for(lambda s: s.home_view(ANA))
    assert "Refreshing" in _text(first)
    full = _wait_view(stack, ANA, "Me this month")
    assert "Refreshing" not in _text(full)
    assert "My team" in _text(full)
    assert "Last test" in _text(full)
    assert "Organisation (admins)" not in _text(full)  # Ana is no admin
    assert stack.sandbox.stats.jobs_created == 2  # this month's team and user reports


def test_home_from_the_cache_publishes_once_and_asks_nothing(stack: LoopbackStack) -> None:
    stack.driver.open_home(user=ANA)
    _wait_view(stack, ANA, "Me this month")
    jobs, requests = stack.sandbox.stats.jobs_created, stack.sandbox.stats.requests
    seen = len(stack.standin.home_views(BEN))
    stack.driver.open_home(user=BEN)
    view = stack.standin.wait_for(lambda s: s.home_views(BEN)[seen:])
    # From the cache: one publish, the full view at once, and BrowserStack never asked.
    assert len(view) == 1
    assert "Refreshing" not in _text(view[0])
    assert "Me this month" in _text(view[0])
    assert stack.sandbox.stats.jobs_created == jobs
    assert stack.sandbox.stats.requests == requests


def test_admin_home_shows_seats_money_parallels_and_the_digest(make_stack: StackFactory) -> None:
    stack = make_stack(
        reclaim_admins=ANA,
        seat_prices="live=39,app-live=49",
        parallel_prices="automate=150",
        digest_channel=CHANNEL,
    )
    stack.driver.open_home(user=ANA)
    view = _text(_wait_view(stack, ANA, "Licensed seats this month"))
    assert "Licensed seats this month" in view
    assert "Live" in view
    assert "idle of" in view
    assert "a month" in view  # the prices are set: idle seats cost money
    assert "Parallels: peak against allocation" in view
    assert "Weekly digest" in view
    assert "Next:" in view
    assert "home_ask_idle" in view  # the admins' button
    # Ben is no admin: his tab has no admin part, from the same cache.
    stack.driver.open_home(user=BEN)
    ben = _text(_wait_view(stack, BEN, "Me this month"))
    assert "Organisation (admins)" not in ben
    assert "home_ask_idle" not in ben


def _to(clock: ShiftedClock, moment: dt.datetime) -> None:
    clock.advance((moment - clock.now()).total_seconds())


def _next_monday(clock: ShiftedClock, hour: int) -> dt.datetime:
    today = clock.today()
    monday = today + dt.timedelta(days=7 - today.weekday())
    return dt.datetime.combine(monday, dt.time(hour), dt.UTC)


def _posts(stack: LoopbackStack, needle: str) -> list[Any]:
    return [
        m
        for m in stack.standin.channel_messages(CHANNEL)
        if needle in m.text and ":hourglass" not in str(m.blocks) and m.thread_ts is None
    ]


def test_weekly_subscription_posts_once_a_week_across_restarts_until_unsubscribed(
    make_stack: StackFactory, clock: ShiftedClock
) -> None:
    stack = make_stack()
    ack = stack.driver.command(
        f"subscribe team Acme team weekly <#{CHANNEL}|general>", user=ANA, channel=CHANNEL
    ).json()
    assert "Subscribed: #1" in ack["text"]
    assert f"<#{CHANNEL}>" in str(ack["blocks"])

    monday = _next_monday(clock, 10)  # an hour after the 9:00 run
    _to(clock, monday)
    stack.bot.schedule.run_due()
    first = stack.standin.wait_for(lambda s: _posts(stack, "Acme team"))
    assert len(first) == 1
    assert "<@" not in str(first[0].blocks)  # public: people by name, nobody pinged
    stack.bot.schedule.run_due()  # the same week again: already posted
    stack = stack.restart(wait=True)
    stack.bot.schedule.run_due()
    stack.standin.wait_for(lambda s: not stack.bot.worker.busy, recheck=0.05)
    assert len(_posts(stack, "Acme team")) == 1

    # The next Monday's run was missed (the bot was down); it is back within the grace period.
    _to(clock, monday + dt.timedelta(days=7, hours=20))
    stack.bot.schedule.run_due()
    stack.standin.wait_for(lambda s: len(_posts(stack, "Acme team")) == 2)

    ack = stack.driver.command("unsubscribe 1", user=ANA, channel=CHANNEL).json()
    assert "Unsubscribed #1" in ack["text"]
    _to(clock, monday + dt.timedelta(days=14))
    assert stack.bot.schedule.run_due() == []
    assert len(_posts(stack, "Acme team")) == 2


def test_a_run_missed_beyond_the_grace_period_is_skipped(
    make_stack: StackFactory, clock: ShiftedClock
) -> None:
    stack = make_stack()
    stack.driver.command("subscribe me weekly", user=ANA, channel=CHANNEL)
    _to(clock, _next_monday(clock, 9) + dt.timedelta(hours=30))  # grace: 24 h
    assert stack.bot.schedule.run_due() == []
    with stack.bot.engine.connect() as connection:
        assert connection.execute(schedule_claims.select()).all() == []


def test_subscribe_me_posts_to_the_dm(make_stack: StackFactory, clock: ShiftedClock) -> None:
    stack = make_stack()
    stack.driver.command("subscribe me weekly", user=ANA, channel=CHANNEL)
    _to(clock, _next_monday(clock, 9) + dt.timedelta(minutes=5))
    assert stack.bot.schedule.run_due() == [f"sub:1:{_week_before(clock)}"]
    dm = stack.standin.dm_channel(ANA)
    wait_answer(stack.standin, ANA, "Steve", channel=dm)


def _week_before(clock: ShiftedClock) -> str:
    year, week, _ = (clock.today() - dt.timedelta(days=7)).isocalendar()
    return f"{year}-W{week:02d}"


def test_only_admins_subscribe_a_channel_to_every_team(make_stack: StackFactory) -> None:
    stack = make_stack(reclaim_admins=BEN)
    refused = stack.driver.command(
        f"subscribe teams monthly <#{CHANNEL}>", user=ANA, channel=CHANNEL
    )
    assert "Only seat admins" in refused.json()["text"]
    mine = stack.driver.command("subscribe teams monthly", user=ANA, channel=CHANNEL).json()
    assert "Subscribed: #1" in mine["text"]
    admin = stack.driver.command(f"subscribe teams monthly <#{CHANNEL}>", user=BEN, channel=CHANNEL)
    assert "Subscribed: #2" in admin.json()["text"]
    listed = stack.driver.command("subscriptions", user=ANA, channel=CHANNEL).json()
    assert "#1" in str(listed["blocks"])
    assert "#2" not in str(listed["blocks"])
    assert (
        "No subscription #2 of yours"
        in stack.driver.command("unsubscribe 2", user=ANA, channel=CHANNEL).json()["text"]
    )


def test_home_lists_subscriptions_and_removes_one(stack: LoopbackStack) -> None:
    stack.driver.command("subscribe me weekly", user=ANA, channel=CHANNEL)
    stack.driver.open_home(user=ANA)
    view = _wait_view(stack, ANA, "Me this month")
    assert "#1 · my usage · weekly · my DMs" in _text(view)
    seen = len(stack.standin.home_views(ANA))
    assert stack.driver.click_home("home_unsubscribe", "1", user=ANA).status_code == 200
    after = _wait_view(stack, ANA, "My subscriptions", after=seen)
    assert "#1 ·" not in _text(after)
    assert stack.bot.home_store.active(user_id=ANA) == []


def test_home_buttons_answer_in_the_dm(make_stack: StackFactory) -> None:
    stack = make_stack(reclaim_admins=ANA)
    stack.driver.open_home(user=ANA)
    _wait_view(stack, ANA, "Licensed seats")
    dm = stack.standin.dm_channel(ANA)
    stack.driver.click_home("home_teams", user=ANA)
    wait_answer(stack.standin, ANA, "All teams", channel=dm)
    stack.driver.click_home("home_digest", user=ANA)
    wait_answer(stack.standin, ANA, "digest", channel=dm)


def test_ask_idle_members_on_the_home_tab_starts_a_campaign_for_admins_only(
    make_stack: StackFactory,
) -> None:
    stack = make_stack(reclaim_admins=ANA)
    stack.driver.open_home(user=ANA)
    before = _text(_wait_view(stack, ANA, "Licensed seats"))
    assert "Reclaim campaign" not in before
    # Ben is no seat admin (his tab has no such button): a forged click is refused, in his DM,
    # and nothing starts.
    stack.driver.click_home("home_ask_idle", user=BEN, view_of=ANA)
    refusal = wait_answer(
        stack.standin, BEN, "RECLAIM_ADMINS", channel=stack.standin.dm_channel(BEN)
    )
    assert "only the seat admins" in refusal.text
    assert stack.bot.reclaim.summary() is None
    # Ana is: a campaign over the digest's period, its tally in her DM (the tab is no channel).
    stack.driver.click_home("home_ask_idle", user=ANA)
    dm = stack.standin.dm_channel(ANA)
    (tally,) = stack.standin.wait_for(
        lambda s: [m for m in s.channel_messages(dm) if "Seat reclaim" in m.text]
    )
    summary = stack.bot.reclaim.summary()
    assert summary is not None
    assert f"{summary.tally.members} members" in tally.text
    # The tally is edited in place as the DMs go out: in the DM, not at Ana's user id.
    edits = stack.standin.wait_for(lambda s: s.calls_to("chat.update"))
    assert {call.args["channel"] for call in edits} == {dm}
    # Her Home tab now shows the campaign.
    views_before = len(stack.standin.home_views(ANA))
    stack.driver.open_home(user=ANA)
    after = _text(_wait_view(stack, ANA, "Reclaim campaign", after=views_before))
    assert f"Reclaim campaign {summary.id[:8]}" in after


def _alerts(stack: LoopbackStack, needle: str) -> list[Any]:
    return [m for m in stack.standin.channel_messages(CHANNEL) if needle in m.text]


def test_an_alert_fires_once_per_saturated_team_per_week(
    make_stack: StackFactory, clock: ShiftedClock
) -> None:
    stack = make_stack(alert_channel=CHANNEL, alert_idle_seats=5, seat_prices="live=39")
    monday = _next_monday(clock, 12)
    _to(clock, monday)
    assert stack.bot.schedule.run_due() == [f"alert-check:{monday.date()}"]
    first = stack.standin.wait_for(lambda s: _alerts(stack, "Parallels ran full"))
    stack.standin.wait_for(lambda s: not stack.bot.worker.busy, recheck=0.05)
    full = _alerts(stack, "Parallels ran full")
    teams = [m.text for m in full]
    assert len(teams) == len(set(teams))  # one per team and product
    assert any("Loyalty Automation" in t for t in teams)
    assert all(re.search(r"peaked at \*(\d+) of \1\*", str(m.blocks)) for m in full)
    assert "alert_details" in str(first[0].blocks)  # a button to the details
    idle = _alerts(stack, "Idle licensed seats")
    assert len(idle) == 1
    assert "a month" in str(idle[0].blocks)

    # The same day: no second check; the next day: checked again, nothing said twice.
    assert stack.bot.schedule.run_due() == []
    _to(clock, monday + dt.timedelta(days=1))
    assert stack.bot.schedule.run_due() == [f"alert-check:{(monday + dt.timedelta(days=1)).date()}"]
    stack.standin.wait_for(
        lambda s: stack.bot.store.open_requests() == 0 and not stack.bot.worker.busy, recheck=0.05
    )
    assert len(_alerts(stack, "Parallels ran full")) == len(full)
    assert len(_alerts(stack, "Idle licensed seats")) == 1

    # The next week, the same conditions are news again.
    _to(clock, monday + dt.timedelta(days=7))
    stack.bot.schedule.run_due()
    stack.standin.wait_for(lambda s: len(_alerts(stack, "Idle licensed seats")) == 2)


def test_alert_details_button_answers_in_the_dm(make_stack: StackFactory) -> None:
    stack = make_stack(alert_channel=CHANNEL, alert_idle_seats=0)
    stack.bot.schedule.run_due()
    stack.standin.wait_for(lambda s: _alerts(stack, "Idle licensed seats"))
    stack.driver.click("alert_details", "idle", user=BEN, channel=CHANNEL)
    wait_answer(stack.standin, BEN, "idle", channel=stack.standin.dm_channel(BEN))


def test_the_home_refresh_survives_a_restart(
    make_stack: StackFactory, sandbox_factory: SandboxFactory
) -> None:
    stack = make_stack(sandbox_factory(queued_seconds=0.5, processing_seconds=0.3))
    stack.driver.open_home(user=ANA)
    assert "Refreshing" in _text(stack.standin.wait_for(lambda s: s.home_view(ANA)))
    stack = stack.restart(wait=False)  # a crash: the request is left in the database
    _wait_view(stack, ANA, "Me this month")


def test_the_work_loop_posts_a_due_subscription_by_itself(
    make_stack: StackFactory, clock: ShiftedClock
) -> None:
    stack = make_stack()
    stack.driver.command("subscribe team Acme team weekly <#C0001>", user=BEN, channel=CHANNEL)
    _to(clock, _next_monday(clock, 9) + dt.timedelta(minutes=1))
    stack = stack.restart(wait=True)  # its first tick, as the schedule's holder, runs it
    stack.standin.wait_for(lambda s: _posts(stack, "Acme team"))


def test_a_long_list_stays_within_a_view_with_more(stack: LoopbackStack) -> None:
    for n in range(15):
        stack.driver.command(f"subscribe team Team {n} weekly", user=ANA, channel=CHANNEL)
    stack.driver.open_home(user=ANA)
    view = _wait_view(stack, ANA, "Me this month")
    assert len(view["blocks"]) <= 100
    assert "… and 5 more" in _text(view)
    assert _text(view).count("home_unsubscribe") == 10


def test_admin_home_links_the_last_digest(make_stack: StackFactory) -> None:
    stack = make_stack(reclaim_admins=ANA, digest_channel=CHANNEL)
    stack.bot.digest.post_all(now=stack.clock.now(), late=False, week="2026-W01")
    posted = stack.standin.wait_for(lambda s: s.channel_messages(CHANNEL))
    stack.driver.open_home(user=ANA)
    view = _text(_wait_view(stack, ANA, "Licensed seats"))
    assert "Last one: <https://standin.slack.com/archives/" in view
    assert posted[0].ts.replace(".", "") in view


def test_a_guest_gets_a_polite_home_and_no_report(stack: LoopbackStack) -> None:
    stack.driver.open_home(user=GUEST)
    view = _text(stack.standin.wait_for(lambda s: s.home_view(GUEST)))
    assert "guest" in view
    assert "Me this month" not in view
    assert stack.sandbox.stats.requests == 0


def test_the_digest_reads_the_shared_datasets_of_its_period(make_stack: StackFactory) -> None:
    stack = make_stack(digest_channel=CHANNEL)
    stack.driver.command("digest", user=ANA, channel=CHANNEL)  # the preview makes both reports
    wait_answer(stack.standin, ANA, "digest")
    jobs = stack.sandbox.stats.jobs_created
    assert jobs == 2
    stack.bot.digest.post_all(now=stack.clock.now(), late=False, week="2026-W01")
    stack.standin.wait_for(lambda s: s.channel_messages(CHANNEL))
    assert stack.sandbox.stats.jobs_created == jobs  # posted from the same datasets


def test_a_failed_refresh_says_so_on_the_tab(
    make_stack: StackFactory, sandbox_factory: SandboxFactory
) -> None:
    stack = make_stack(sandbox_factory(faults=FaultConfig(fail_rate=1.0)))
    stack.driver.open_home(user=ANA)
    view = _text(_wait_view(stack, ANA, "could not be refreshed"))
    assert "Refreshing" not in view
    assert "My subscriptions" in view  # the rest of the tab is still there
    assert "home_refresh" in view  # and Refresh tries again


def test_a_subscription_the_bot_cannot_post_tells_its_subscriber(
    make_stack: StackFactory, clock: ShiftedClock
) -> None:
    stack = make_stack()
    stack.driver.command(
        f"subscribe team Acme team weekly <#{OTHER_CHANNEL}>", user=BEN, channel=CHANNEL
    )
    _to(clock, _next_monday(clock, 9) + dt.timedelta(minutes=1))
    stack.bot.schedule.run_due()
    note = wait_answer(stack.standin, BEN, "could not post", channel=stack.standin.dm_channel(BEN))
    assert "/invite @usagebot" in note.text
    assert stack.sandbox.stats.jobs_created == 0  # no report made for nobody to read


def test_an_orphaned_claim_is_taken_up_with_its_request_id(
    make_stack: StackFactory, clock: ShiftedClock
) -> None:
    stack = make_stack()
    stack.driver.command("subscribe me weekly", user=ANA, channel=CHANNEL)
    monday = _next_monday(clock, 9)
    _to(clock, monday)
    key = f"sub:1:{_week_before(clock)}"
    # A process claimed the run and died before storing its request.
    assert stack.bot.home_store.claim(key, now=clock.now(), request_id="f" * 32)
    assert stack.bot.schedule.run_due() == []  # too recent: it may still be under way
    _to(clock, monday + dt.timedelta(minutes=10))
    assert stack.bot.schedule.run_due() == [key]
    assert stack.bot.store.request("f" * 32) is not None
    wait_answer(stack.standin, ANA, "Steve", channel=stack.standin.dm_channel(ANA))


def test_subscribe_by_mention_answers_in_the_thread(stack: LoopbackStack) -> None:
    stack.driver.mention("subscribe me weekly", user=ANA, channel=CHANNEL)
    reply = stack.standin.wait_for(
        lambda s: [m for m in s.channel_messages(CHANNEL) if "Subscribed: #1" in m.text]
    )
    assert reply[0].thread_ts is not None
    stack.driver.mention("subscribe me daily", user=ANA, channel=CHANNEL)
    stack.standin.wait_for(
        lambda s: [m for m in s.channel_messages(CHANNEL) if "how often" in str(m.blocks)]
    )
    assert [s.scope.value for s in stack.bot.home_store.active(user_id=ANA)] == ["me"]


def test_what_the_posted_digest_fetched_answers_the_next_questions(
    make_stack: StackFactory,
) -> None:
    """The digest asks BrowserStack itself (nothing fresh of its period yet) and shares what it
    got: ``/usage idle`` (the digest's period, IDLE_DAYS, by default) and the digest preview
    right after are answered from those datasets, with no new job."""
    stack = make_stack(digest_channel=CHANNEL)
    stack.bot.digest.post_all(now=stack.clock.now(), late=False, week="2026-W01")
    stack.standin.wait_for(lambda s: s.channel_messages(CHANNEL))
    assert stack.sandbox.stats.jobs_created == 2  # its user and team reports

    # Asked elsewhere than the digest's channel, so that only the answers match.
    stack.driver.command("idle", user=ANA, channel=OTHER_CHANNEL)
    idle = wait_answer(stack.standin, ANA, "Idle seats", channel=OTHER_CHANNEL)
    stack.driver.command("digest", user=BEN, channel=OTHER_CHANNEL)
    wait_answer(stack.standin, BEN, "digest", channel=OTHER_CHANNEL)

    assert "the last 30 days" in str(idle.blocks)  # the digest's period
    assert stack.sandbox.stats.jobs_created == 2


def test_a_team_is_checked_when_it_is_subscribed_to(stack: LoopbackStack) -> None:
    # Before any team report the name cannot be checked: taken as given.
    ack = stack.driver.command("subscribe team Nobody Here weekly", user=ANA, channel=CHANNEL)
    assert "Subscribed: #1" in ack.json()["text"]
    stack.driver.command("teams", user=ANA, channel=CHANNEL)
    wait_answer(stack.standin, ANA, "All teams")
    # Now it is: a name that matches no team gets the closest ones, and nothing is stored.
    typo = stack.driver.command("subscribe team Acme tem weekly", user=ANA, channel=CHANNEL).json()
    assert "No team matches" in typo["text"]
    assert '`/usage subscribe team "Acme team" weekly`' in typo["blocks"][0]["text"]["text"]
    # A name in other letters is stored as BrowserStack spells it.
    ack = stack.driver.command("subscribe team ACME TEAM weekly", user=ANA, channel=CHANNEL)
    assert "Subscribed: #2" in ack.json()["text"]
    assert [s.team for s in stack.bot.home_store.active(user_id=ANA)] == [
        "Nobody Here",
        "Acme team",
    ]
