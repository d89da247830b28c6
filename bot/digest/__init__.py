"""The weekly idle-seat digest: its rules (pure), its history (posted once per week and channel),
its chart and its messages. Scheduling and posting are built on this API elsewhere.

Typical use, once a week per channel::

    week = week_key(now, tz)
    if history.claim(week, channel, now=now, late=late):
        start, end = digest_period(now, idle_days=settings_idle_days)
        ...  # fetch the user (and team) report for start..end
        previous = history.previous_snapshot(channel, week)
        digest, messages = prepare(users, teams, start=start, end=end, now=now, previous=previous)
        ...  # post messages.summary, then messages.details, csv and chart in its thread
        history.finish(week, channel, now=now, snapshot=digest.snapshot, message_ts=ts)
"""

from bot.digest.history import DigestEntry, DigestHistory, DigestState
from bot.digest.render import DigestMessages, ImageFile, prepare, render_digest
from bot.digest.rules import (
    DEFAULT_IDLE_DAYS,
    Digest,
    SeatCost,
    Snapshot,
    TeamSeats,
    WeekChange,
    build_digest,
    digest_period,
    week_key,
)

__all__ = [
    "DEFAULT_IDLE_DAYS",
    "Digest",
    "DigestEntry",
    "DigestHistory",
    "DigestMessages",
    "DigestState",
    "ImageFile",
    "SeatCost",
    "Snapshot",
    "TeamSeats",
    "WeekChange",
    "build_digest",
    "digest_period",
    "prepare",
    "render_digest",
    "week_key",
]
