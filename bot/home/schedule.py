"""When a subscription posts and which period it covers; the alerts' week. Pure: ``now`` in.

A weekly subscription posts on Mondays at ``hour`` (the digest's timezone) about the week before
(Monday to Sunday); a monthly one on the 1st about the month before. Subscriptions of the same
cadence cover the same dates, so they share their reports (one dataset per kind and period). A
run missed by an outage is still due until ``grace`` after its time; later, it is skipped and the
next period's run comes as usual.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bot.home.store import Cadence
from bot.reports.question import range_text


@dataclass(frozen=True, slots=True)
class Run:
    """One period's post of a subscription: its key in the claims, its dates and its time."""

    key: str  # 2026-W48 (the ISO week of ``start``), 2026-11
    start: dt.date
    end: dt.date
    due_at: dt.datetime

    @property
    def label(self) -> str:
        return range_text(self.start, self.end)


def _at(day: dt.date, hour: int, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), zone).astimezone(dt.UTC)


def _first_of_previous(first: dt.date) -> dt.date:
    return (first - dt.timedelta(days=1)).replace(day=1)


def week_key(day: dt.date) -> str:
    """``2026-W48``: the ISO week ``day`` falls in."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def last_run(cadence: Cadence, now: dt.datetime, *, hour: int, zone: ZoneInfo) -> Run:
    """The latest run whose time is at or before ``now``."""
    today = now.astimezone(zone).date()
    if cadence is Cadence.WEEKLY:
        monday = today - dt.timedelta(days=today.weekday())
        if _at(monday, hour, zone) > now:
            monday -= dt.timedelta(days=7)
        start = monday - dt.timedelta(days=7)
        return Run(week_key(start), start, monday - dt.timedelta(days=1), _at(monday, hour, zone))
    first = today.replace(day=1)
    if _at(first, hour, zone) > now:
        first = _first_of_previous(first)
    start = _first_of_previous(first)
    return Run(
        f"{start.year}-{start.month:02d}",
        start,
        first - dt.timedelta(days=1),
        _at(first, hour, zone),
    )


def next_run_at(cadence: Cadence, now: dt.datetime, *, hour: int, zone: ZoneInfo) -> dt.datetime:
    """When the next run after ``now`` is due."""
    run = last_run(cadence, now, hour=hour, zone=zone)
    local = run.due_at.astimezone(zone).date()
    if cadence is Cadence.WEEKLY:
        return _at(local + dt.timedelta(days=7), hour, zone)
    following = (local.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return _at(following, hour, zone)


def due(run: Run, now: dt.datetime, *, grace: dt.timedelta, since: dt.datetime) -> bool:
    """Whether ``run`` should be posted at ``now`` for a subscription made at ``since``.

    Not before its time, not after its grace period, and not for a period that was over before
    the subscription was made (its first post is the next period's).
    """
    return run.due_at <= now <= run.due_at + grace and since <= run.due_at
