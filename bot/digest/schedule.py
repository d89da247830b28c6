"""When the weekly digest is due: its cron trigger read against the clock, and lateness.

Pure: ``now`` is passed in. The work loop (``bot.scheduling``) asks ``due_run`` once a minute; the
digest's history (one claim per ISO week and channel) makes sure that whichever process asks
first posts, and only once. A run missed during an outage is still due when the bot comes back
within ``DIGEST_GRACE_HOURS``, and is then marked late.
"""

from __future__ import annotations

import datetime as dt

from apscheduler.triggers.cron import CronTrigger

from bot.settings import Settings

# A run this much after its time is "on time": the check runs once a minute.
ON_TIME = dt.timedelta(minutes=10)


def digest_trigger(settings: Settings) -> CronTrigger:
    return CronTrigger.from_crontab(settings.digest_cron, timezone=settings.digest_zone)


def last_fire_time(
    trigger: CronTrigger, now: dt.datetime, *, within: dt.timedelta = dt.timedelta(days=366)
) -> dt.datetime | None:
    """The latest time at or before ``now`` (and no earlier than ``within`` before it) when
    ``trigger`` fired."""
    moment = trigger.get_next_fire_time(None, now - within)
    last = None
    while moment is not None and moment <= now:
        last = moment
        moment = trigger.get_next_fire_time(moment, moment + dt.timedelta(seconds=1))
    return last


def is_late(scheduled: dt.datetime, now: dt.datetime) -> bool:
    """Whether a run at ``now`` is a catch-up after a missed time rather than the run itself."""
    return now - scheduled > ON_TIME


def due_run(settings: Settings, now: dt.datetime) -> dt.datetime | None:
    """The scheduled time whose run is due at ``now``: the last one within the grace period."""
    grace = dt.timedelta(hours=settings.digest_grace_hours) + ON_TIME
    return last_fire_time(digest_trigger(settings), now, within=grace)


def grace_end(settings: Settings, now: dt.datetime) -> dt.datetime | None:
    """Until when the run due at ``now`` may still be posted (or retried); None if none is due."""
    scheduled = due_run(settings, now)
    if scheduled is None:
        return None
    return (scheduled + dt.timedelta(hours=settings.digest_grace_hours) + ON_TIME).astimezone(
        dt.UTC
    )
