"""Pure rules of issue 12: when subscriptions run, which alerts hold, what the commands say."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bot.browserstack.models import Product
from bot.home.alerts import alerts
from bot.home.schedule import due, last_run, next_run_at, week_key
from bot.home.store import Cadence
from bot.slack.commands import CommandError, SubscriptionCommand, parse_subscription
from tests.reports.test_analysis import IDLE_ENTRY, parallel_fields, team, use, user

UTC = ZoneInfo("UTC")


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("cadence", "now", "key", "start", "end", "due_at"),
    [
        # Tuesday: last Monday's run, about the week before it.
        (
            Cadence.WEEKLY,
            "2026-12-01 12:00",
            "2026-W48",
            "2026-11-23",
            "2026-11-29",
            "2026-11-30 09:00",
        ),
        # Monday before 9:00: still the run of the Monday before.
        (
            Cadence.WEEKLY,
            "2026-12-07 08:59",
            "2026-W48",
            "2026-11-23",
            "2026-11-29",
            "2026-11-30 09:00",
        ),
        (
            Cadence.WEEKLY,
            "2026-12-07 09:00",
            "2026-W49",
            "2026-11-30",
            "2026-12-06",
            "2026-12-07 09:00",
        ),
        # Across a year: ISO week 53 of 2026 ends on 3 Jan 2027.
        (
            Cadence.WEEKLY,
            "2027-01-04 10:00",
            "2026-W53",
            "2026-12-28",
            "2027-01-03",
            "2027-01-04 09:00",
        ),
        (
            Cadence.MONTHLY,
            "2026-12-01 09:30",
            "2026-11",
            "2026-11-01",
            "2026-11-30",
            "2026-12-01 09:00",
        ),
        (
            Cadence.MONTHLY,
            "2026-12-01 08:00",
            "2026-10",
            "2026-10-01",
            "2026-10-31",
            "2026-11-01 09:00",
        ),
        (
            Cadence.MONTHLY,
            "2027-01-15 08:00",
            "2026-12",
            "2026-12-01",
            "2026-12-31",
            "2027-01-01 09:00",
        ),
    ],
)
def test_last_run(cadence: Cadence, now: str, key: str, start: str, end: str, due_at: str) -> None:
    run = last_run(cadence, at(now), hour=9, zone=UTC)
    assert (run.key, str(run.start), str(run.end), run.due_at) == (key, start, end, at(due_at))


def test_next_run() -> None:
    assert next_run_at(Cadence.WEEKLY, at("2026-12-01 12:00"), hour=9, zone=UTC) == at(
        "2026-12-07 09:00"
    )
    assert next_run_at(Cadence.MONTHLY, at("2026-12-31 12:00"), hour=9, zone=UTC) == at(
        "2027-01-01 09:00"
    )


@pytest.mark.parametrize(
    ("now", "since", "expected"),
    [
        ("2026-12-07 09:00", "2026-12-01 00:00", True),  # on time
        ("2026-12-08 09:00", "2026-12-01 00:00", True),  # missed, back within 24 h
        ("2026-12-08 09:01", "2026-12-01 00:00", False),  # beyond the grace period
        ("2026-12-07 10:00", "2026-12-07 09:30", False),  # subscribed after the run's time
    ],
)
def test_due_within_grace_only(now: str, since: str, expected: bool) -> None:
    run = last_run(Cadence.WEEKLY, at(now), hour=9, zone=UTC)
    assert due(run, at(now), grace=dt.timedelta(hours=24), since=at(since)) is expected


def test_week_key() -> None:
    assert week_key(dt.date(2027, 1, 1)) == "2026-W53"


def test_alerts_saturated_teams_and_idle_seats_over_the_threshold() -> None:
    teams = [
        team("Full", data={Product.AUTOMATE: use(**parallel_fields(5, 5))}),
        team("Room", data={Product.AUTOMATE: use(**parallel_fields(5, 4))}),
    ]
    users = [
        user(f"u{i}@x.test", access=[Product.LIVE], data={Product.LIVE: IDLE_ENTRY})
        for i in range(3)
    ]
    found = alerts(teams, users, idle_threshold=2, since=None, seat_prices={Product.LIVE: 10})
    assert [(a.key, a.peak, a.allocated) for a in found if a.kind == "parallels"] == [
        ("parallels:Full:automate", 5, 5)
    ]
    (idle,) = [a for a in found if a.kind == "idle-seats"]
    assert idle.idle_total == 3
    assert idle.monthly_cost == 30
    assert [a.kind for a in alerts(teams, users, idle_threshold=3, since=None)] == ["parallels"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "subscribe team Mobile QA weekly <#C0QA|qa>",
            SubscriptionCommand("subscribe", "team", "Mobile QA", "weekly", "C0QA"),
        ),
        ("subscribe teams monthly", SubscriptionCommand("subscribe", "teams", None, "monthly")),
        ("Subscribe me Weekly", SubscriptionCommand("subscribe", "me", None, "weekly")),
        ("subscriptions", SubscriptionCommand("subscriptions")),
        ("unsubscribe #3", SubscriptionCommand("unsubscribe", number=3)),
        ("team Acme", None),
        ("", None),
    ],
)
def test_parse_subscription(text: str, expected: SubscriptionCommand | None) -> None:
    assert parse_subscription(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("subscribe team weekly", "needs a team name"),
        ("subscribe me", "how often"),
        ("subscribe me daily", "how often"),
        ("subscribe me weekly <#C0001>", "DMs only"),
        ("subscribe team Acme weekly #qa", "pick it from Slack"),
        ("subscribe everyone weekly", "`team <name>`, `teams` or `me`"),
        ("unsubscribe", "needs the number"),
        ("unsubscribe two", "needs the number"),
        ("subscriptions all", "takes nothing"),
    ],
)
def test_parse_subscription_mistakes(text: str, problem: str) -> None:
    with pytest.raises(CommandError, match=None) as raised:
        parse_subscription(text)
    assert problem in raised.value.problem
    assert raised.value.example
