"""Subscriptions and the schedule's claims, in the database every replica shares.

A *subscription* is someone's standing order for a report (one team's, every team's, their
own) on a cadence, posted to a channel or to them in a DM. A *claim* is one row per piece of
scheduled work and period (``sub:12:2026-W48``, ``alert:2026-W48:parallels:Acme:automate``):
inserting it is the one conditional write that decides who does the work, so each runs once
across restarts and replicas, as the digest's history does for the digest.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.storage import UTCDateTime, metadata, read, write

subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.String(32), nullable=False, index=True),
    sa.Column("scope", sa.String(8), nullable=False),  # team, teams, me
    sa.Column("team", sa.String(200)),
    sa.Column("cadence", sa.String(8), nullable=False),  # weekly, monthly
    sa.Column("channel_id", sa.String(32)),  # None: the subscriber's DM
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("removed_at", UTCDateTime),
)

schedule_claims = sa.Table(
    "schedule_claims",
    metadata,
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("claimed_at", UTCDateTime, nullable=False),
    # The request that does the work (a subscription's post, an alert check), once made.
    sa.Column("request_id", sa.String(32)),
)


class Scope(enum.StrEnum):
    TEAM = "team"
    TEAMS = "teams"
    ME = "me"


class Cadence(enum.StrEnum):
    WEEKLY = "weekly"
    MONTHLY = "monthly"


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    user_id: str
    scope: Scope
    team: str | None
    cadence: Cadence
    channel_id: str | None
    created_at: dt.datetime

    @property
    def command(self) -> str:
        """The report it posts, as ``/usage`` words (``team Acme``, ``teams``, ``me``)."""
        return f"team {self.team}" if self.scope is Scope.TEAM else self.scope.value

    @property
    def org_wide(self) -> bool:
        return self.scope is Scope.TEAMS


def _subscription(row: Any) -> Subscription:
    return Subscription(
        id=row.id,
        user_id=row.user_id,
        scope=Scope(row.scope),
        team=row.team,
        cadence=Cadence(row.cadence),
        channel_id=row.channel_id,
        created_at=row.created_at,
    )


class HomeStore:
    """Subscriptions and claims on the bot's database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def subscribe(
        self,
        *,
        user_id: str,
        scope: Scope,
        team: str | None,
        cadence: Cadence,
        channel_id: str | None,
        now: dt.datetime,
    ) -> Subscription:
        """Add a subscription, or return the same one already there (asking twice is harmless)."""
        with write(self.engine) as tx:
            same = (
                (subscriptions.c.user_id == user_id)
                & (subscriptions.c.scope == scope.value)
                & (subscriptions.c.cadence == cadence.value)
                & subscriptions.c.removed_at.is_(None)
                & (subscriptions.c.team.is_(None) if team is None else subscriptions.c.team == team)
                & (
                    subscriptions.c.channel_id.is_(None)
                    if channel_id is None
                    else subscriptions.c.channel_id == channel_id
                )
            )
            row = tx.execute(sa.select(subscriptions).where(same)).first()
            if row is not None:
                return _subscription(row)
            new_id = tx.execute(
                sa.insert(subscriptions).values(
                    user_id=user_id,
                    scope=scope.value,
                    team=team,
                    cadence=cadence.value,
                    channel_id=channel_id,
                    created_at=now,
                )
            ).inserted_primary_key
            assert new_id is not None
            row = tx.execute(sa.select(subscriptions).where(subscriptions.c.id == new_id[0])).one()
            return _subscription(row)

    def active(self, *, user_id: str | None = None) -> list[Subscription]:
        """Subscriptions not removed, oldest first; only ``user_id``'s when given."""
        query = sa.select(subscriptions).where(subscriptions.c.removed_at.is_(None))
        if user_id is not None:
            query = query.where(subscriptions.c.user_id == user_id)
        with read(self.engine) as tx:
            rows = tx.execute(query.order_by(subscriptions.c.id)).all()
        return [_subscription(row) for row in rows]

    def get(self, subscription_id: int) -> Subscription | None:
        with read(self.engine) as tx:
            row = tx.execute(
                sa.select(subscriptions).where(
                    (subscriptions.c.id == subscription_id) & subscriptions.c.removed_at.is_(None)
                )
            ).first()
        return None if row is None else _subscription(row)

    def remove(self, subscription_id: int, *, now: dt.datetime) -> bool:
        """Stop a subscription; False when there was none (or it was removed already)."""
        with write(self.engine) as tx:
            done = tx.execute(
                sa.update(subscriptions)
                .where(
                    (subscriptions.c.id == subscription_id) & subscriptions.c.removed_at.is_(None)
                )
                .values(removed_at=now)
            )
        return bool(done.rowcount)

    # Claims

    def claim(self, key: str, *, now: dt.datetime, request_id: str | None = None) -> bool:
        """Take ``key`` for this process: True once, for whoever inserts it first."""
        try:
            with write(self.engine) as tx:
                tx.execute(
                    sa.insert(schedule_claims).values(
                        key=key, claimed_at=now, request_id=request_id
                    )
                )
        except sa.exc.IntegrityError:
            return False
        return True

    def claimed(self, key: str) -> tuple[dt.datetime, str | None] | None:
        """When ``key`` was claimed and by which request; None if it was not."""
        with read(self.engine) as tx:
            row = tx.execute(
                sa.select(schedule_claims.c.claimed_at, schedule_claims.c.request_id).where(
                    schedule_claims.c.key == key
                )
            ).first()
        return None if row is None else (row.claimed_at, row.request_id)

    def release(self, key: str) -> None:
        """Give ``key`` back (its work failed before anything reached Slack): tried again."""
        with write(self.engine) as tx:
            tx.execute(sa.delete(schedule_claims).where(schedule_claims.c.key == key))
