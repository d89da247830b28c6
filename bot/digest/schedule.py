"""When the weekly digest runs: its cron trigger, and whether a run is late.

The job lives in APScheduler's persistent job store with a fixed id. On start it is added only
when missing or changed: re-adding it unconditionally would move a run missed during an outage
to next week, where keeping it lets APScheduler run it late, within ``DIGEST_GRACE_HOURS``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.settings import Settings

log = logging.getLogger(__name__)

DIGEST_JOB_ID = "weekly-digest"
# A run this much after its time is "on time": the scheduler's own wake-up jitter.
ON_TIME = dt.timedelta(minutes=10)


def digest_trigger(settings: Settings) -> CronTrigger:
    return CronTrigger.from_crontab(settings.digest_cron, timezone=settings.digest_zone)


def last_fire_time(trigger: CronTrigger, now: dt.datetime) -> dt.datetime | None:
    """The latest time at or before ``now`` when ``trigger`` fired (within the past year)."""
    moment = trigger.get_next_fire_time(None, now - dt.timedelta(days=366))
    last = None
    while moment is not None and moment <= now:
        last = moment
        moment = trigger.get_next_fire_time(moment, moment + dt.timedelta(seconds=1))
    return last


def is_late(trigger: CronTrigger, now: dt.datetime) -> bool:
    """Whether a run at ``now`` is a catch-up after a missed time rather than the run itself."""
    last = last_fire_time(trigger, now)
    return last is not None and now - last > ON_TIME


def ensure_digest_job(
    scheduler: BaseScheduler, settings: Settings, job: Callable[[], None]
) -> None:
    """Add the weekly job unless the job store already holds it with the same schedule."""
    trigger = digest_trigger(settings)
    grace = int(settings.digest_grace_hours * 3600) or 1
    existing = scheduler.get_job(DIGEST_JOB_ID)
    if (
        existing is not None
        and str(existing.trigger) == str(trigger)
        and existing.misfire_grace_time == grace
    ):
        return
    scheduler.add_job(
        job,
        trigger=trigger,
        id=DIGEST_JOB_ID,
        name="weekly idle-seat digest",
        replace_existing=True,
        misfire_grace_time=grace,
        coalesce=True,
        max_instances=1,
    )
    log.info("weekly digest scheduled: %s (%s)", settings.digest_cron, settings.digest_timezone)
