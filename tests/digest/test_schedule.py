"""When the digest is due: its cron read against the clock, lateness, and the grace period."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger

from bot.digest.schedule import due_run, is_late, last_fire_time
from bot.settings import Settings

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY_9 = CronTrigger.from_crontab("0 9 * * mon", timezone=BERLIN)


@pytest.mark.parametrize(
    ("now", "last", "late"),
    [
        (
            dt.datetime(2026, 11, 23, 9, 0, 5, tzinfo=BERLIN),
            dt.datetime(2026, 11, 23, 9, tzinfo=BERLIN),
            False,
        ),
        (
            dt.datetime(2026, 11, 23, 9, 9, tzinfo=BERLIN),
            dt.datetime(2026, 11, 23, 9, tzinfo=BERLIN),
            False,
        ),
        (
            dt.datetime(2026, 11, 23, 13, 0, tzinfo=BERLIN),
            dt.datetime(2026, 11, 23, 9, tzinfo=BERLIN),
            True,
        ),
        (
            dt.datetime(2026, 11, 23, 8, 59, tzinfo=BERLIN),
            dt.datetime(2026, 11, 16, 9, tzinfo=BERLIN),
            True,
        ),
        # 09:00 in Berlin is 08:00 UTC in winter: the time zone is the digest's, not the server's.
        (
            dt.datetime(2026, 11, 23, 8, 5, tzinfo=dt.UTC),
            dt.datetime(2026, 11, 23, 9, tzinfo=BERLIN),
            False,
        ),
        # Across the change to summer time the job still fires at 09:00 local.
        (
            dt.datetime(2026, 3, 30, 9, 1, tzinfo=BERLIN),
            dt.datetime(2026, 3, 30, 9, tzinfo=BERLIN),
            False,
        ),
    ],
)
def test_last_fire_time_and_lateness(now: dt.datetime, last: dt.datetime, late: bool) -> None:
    assert last_fire_time(MONDAY_9, now) == last
    assert is_late(last, now) is late


def _settings(**extra: object) -> Settings:
    values: dict[str, object] = {
        "digest_channel": "C0DIGEST",
        "digest_cron": "0 9 * * mon",
        "digest_timezone": "Europe/Berlin",
    }
    return Settings.from_values({**values, **extra})


@pytest.mark.parametrize(
    ("now", "grace", "due"),
    [
        # On time, and any time within the grace period after it (an outage, then a restart).
        (
            dt.datetime(2026, 11, 23, 9, 0, 30, tzinfo=BERLIN),
            24,
            dt.datetime(2026, 11, 23, 9, tzinfo=BERLIN),
        ),
        (
            dt.datetime(2026, 11, 24, 8, 59, tzinfo=BERLIN),
            24,
            dt.datetime(2026, 11, 23, 9, tzinfo=BERLIN),
        ),
        # Beyond the grace period: skipped, and nothing is due until next Monday.
        (dt.datetime(2026, 11, 24, 9, 11, tzinfo=BERLIN), 24, None),
        (dt.datetime(2026, 11, 23, 12, 0, tzinfo=BERLIN), 2, None),
        # Before the first time of the week: last week's is long past its grace.
        (dt.datetime(2026, 11, 23, 8, 59, tzinfo=BERLIN), 24, None),
        # Across the new year, in ISO week 53.
        (
            dt.datetime(2026, 12, 28, 10, 0, tzinfo=BERLIN),
            24,
            dt.datetime(2026, 12, 28, 9, tzinfo=BERLIN),
        ),
    ],
)
def test_due_run(now: dt.datetime, grace: float, due: dt.datetime | None) -> None:
    assert due_run(_settings(digest_grace_hours=grace), now) == due
