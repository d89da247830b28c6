"""Reclaim campaigns in the database: one row per campaign, one per member asked.

Every DM is a row claimed with a lease before it is sent (state ``sending``), its ts recorded
right after ``chat.postMessage``: a process killed between the two leaves a ``sending`` row with
no ts, which the next claimer checks against the DM channel's history before sending again.
Reminders (``reminded`` then ``reminder_ts``) and the release list (state ``closing`` then
``release_ts``) are recorded the same way, before and after their post.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.browserstack.models import Product
from bot.reclaim.rules import AskState, AskView, Candidate, Choice
from bot.reports.store import Lease, instances
from bot.storage import UTCDateTime, metadata, read, serialise, write

reclaim_campaigns = sa.Table(
    "reclaim_campaigns",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("started_by", sa.String(32), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("deadline", UTCDateTime, nullable=False),
    sa.Column("remind_at", UTCDateTime, nullable=False),
    sa.Column("period", sa.String(40), nullable=False),  # "2026-10-01..2026-10-31"
    sa.Column("products", sa.String(120), nullable=False),  # comma-separated product keys
    sa.Column("channel", sa.String(32), nullable=False),  # the admins' thread
    sa.Column("thread_ts", sa.String(32)),
    sa.Column("tally_ts", sa.String(32)),  # the tally message, edited as answers come
    # open -> reminded -> closing (the release list about to be posted) -> closed (posted and
    # recorded): a campaign found closing without a release_ts is checked in its thread first.
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("release_ts", sa.String(32)),
    sa.Column("lease_owner", sa.String(40)),
    sa.Column("lease_until", UTCDateTime),
    sa.Column("tally_dirty", sa.Boolean, nullable=False, default=True),
)

reclaim_asks = sa.Table(
    "reclaim_asks",
    metadata,
    sa.Column("campaign_id", sa.String(36), primary_key=True),
    sa.Column("email", sa.String(320), primary_key=True),  # lower-cased
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("products", sa.String(120), nullable=False),
    sa.Column("last_test", UTCDateTime),
    sa.Column("monthly", sa.Float, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("user_id", sa.String(32)),
    sa.Column("dm_channel", sa.String(32)),
    sa.Column("dm_ts", sa.String(32)),
    sa.Column("error", sa.String(100)),
    sa.Column("choice", sa.String(16)),
    sa.Column("answered_at", UTCDateTime),
    # The reminder: claimed (``reminded``) before it is posted, its ts recorded after; claimed
    # with no ts means its sender died in between, so its DM's history is checked before posting.
    sa.Column("reminded", sa.Boolean, nullable=False, default=False),
    sa.Column("reminder_ts", sa.String(32)),
    sa.Column("done", sa.Boolean, nullable=False, default=False),
    # Products a later report showed gone (comma-separated keys): verified savings.
    sa.Column("reclaimed", sa.String(120)),
    sa.Column("lease_owner", sa.String(40)),
    sa.Column("lease_until", UTCDateTime),
)

OPEN, REMINDED, CLOSING, CLOSED = "open", "reminded", "closing", "closed"


@dataclass(frozen=True, slots=True)
class Campaign:
    id: str
    started_by: str
    started_at: dt.datetime
    deadline: dt.datetime
    remind_at: dt.datetime
    period: str
    products: tuple[Product, ...]
    channel: str
    thread_ts: str | None
    tally_ts: str | None
    state: str
    release_ts: str | None
    tally_dirty: bool


@dataclass(frozen=True, slots=True)
class Ask:
    campaign_id: str
    email: str
    name: str
    products: tuple[Product, ...]
    last_test: dt.datetime | None
    monthly: float
    state: AskState
    user_id: str | None
    dm_channel: str | None
    dm_ts: str | None
    error: str | None
    choice: Choice | None
    answered_at: dt.datetime | None
    reminded: bool
    done: bool
    reclaimed: tuple[Product, ...] = ()
    reminder_ts: str | None = None

    def view(self) -> AskView:
        return AskView(
            email=self.email,
            name=self.name,
            products=self.products,
            last_test=self.last_test,
            monthly=self.monthly,
            state=self.state,
            choice=self.choice,
            user_id=self.user_id,
            done=self.done,
            campaign_id=self.campaign_id,
        )


def _products(text: str) -> tuple[Product, ...]:
    return tuple(Product(p) for p in text.split(",") if p)


def _campaign(row: Any) -> Campaign:
    return Campaign(
        id=row.id,
        started_by=row.started_by,
        started_at=row.started_at,
        deadline=row.deadline,
        remind_at=row.remind_at,
        period=row.period,
        products=_products(row.products),
        channel=row.channel,
        thread_ts=row.thread_ts,
        tally_ts=row.tally_ts,
        state=row.state,
        release_ts=row.release_ts,
        tally_dirty=bool(row.tally_dirty),
    )


def _ask(row: Any) -> Ask:
    return Ask(
        campaign_id=row.campaign_id,
        email=row.email,
        name=row.name,
        products=_products(row.products),
        last_test=row.last_test,
        monthly=row.monthly,
        state=AskState(row.state),
        user_id=row.user_id,
        dm_channel=row.dm_channel,
        dm_ts=row.dm_ts,
        error=row.error,
        choice=Choice(row.choice) if row.choice else None,
        answered_at=row.answered_at,
        reminded=bool(row.reminded),
        done=bool(row.done),
        reclaimed=_products(row.reclaimed or ""),
        reminder_ts=row.reminder_ts,
    )


def _free(table: sa.Table, lease: Lease) -> sa.ColumnElement[bool]:
    """Nobody alive holds the row (as ``bot.reports.store``'s leases)."""
    live = sa.select(instances.c.id).where(instances.c.heartbeat_at >= lease.live_since)
    return sa.or_(
        table.c.lease_until.is_(None),
        table.c.lease_until < lease.now,
        sa.and_(table.c.lease_owner != lease.owner, table.c.lease_owner.not_in(live)),
    )


class ReclaimStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # Campaigns

    def create(
        self,
        candidates: Sequence[Candidate],
        *,
        started_by: str,
        now: dt.datetime,
        deadline: dt.datetime,
        remind_at: dt.datetime,
        period: str,
        products: Iterable[Product],
        channel: str,
        thread_ts: str | None,
    ) -> str | None:
        """A new campaign and its members' rows, in one transaction; None when a campaign is
        already open (checked in the same transaction, so that of two admins starting one at the
        same moment on two replicas, one does)."""
        campaign_id = uuid.uuid4().hex
        with write(self.engine) as tx:
            serialise(tx, "reclaim campaign")
            running = tx.execute(
                sa.select(reclaim_campaigns.c.id).where(reclaim_campaigns.c.state != CLOSED)
            ).first()
            if running is not None:
                return None
            tx.execute(
                sa.insert(reclaim_campaigns).values(
                    id=campaign_id,
                    started_by=started_by,
                    started_at=now,
                    deadline=deadline,
                    remind_at=remind_at,
                    period=period,
                    products=",".join(p.value for p in products),
                    channel=channel,
                    thread_ts=thread_ts,
                    state=OPEN,
                    tally_dirty=True,
                )
            )
            if candidates:
                tx.execute(
                    sa.insert(reclaim_asks),
                    [
                        {
                            "campaign_id": campaign_id,
                            "email": c.email.lower(),
                            "name": c.name,
                            "products": ",".join(p.value for p in c.products),
                            "last_test": c.last_test,
                            "monthly": c.monthly,
                            "state": AskState.PENDING.value,
                            "reminded": False,
                            "done": False,
                        }
                        for c in candidates
                    ],
                )
        return campaign_id

    def campaign(self, campaign_id: str) -> Campaign | None:
        with read(self.engine) as tx:
            row = tx.execute(
                sa.select(reclaim_campaigns).where(reclaim_campaigns.c.id == campaign_id)
            ).first()
        return _campaign(row) if row else None

    def latest(self) -> Campaign | None:
        with read(self.engine) as tx:
            row = tx.execute(
                sa.select(reclaim_campaigns)
                .order_by(reclaim_campaigns.c.started_at.desc(), reclaim_campaigns.c.id)
                .limit(1)
            ).first()
        return _campaign(row) if row else None

    def active(self) -> list[Campaign]:
        """Campaigns whose release list is not posted yet."""
        with read(self.engine) as tx:
            rows = tx.execute(
                sa.select(reclaim_campaigns).where(reclaim_campaigns.c.state != CLOSED)
            ).all()
        return [_campaign(r) for r in rows]

    def closed(self, since: dt.datetime | None = None) -> list[Campaign]:
        query = sa.select(reclaim_campaigns).where(reclaim_campaigns.c.state == CLOSED)
        if since is not None:
            query = query.where(reclaim_campaigns.c.deadline >= since)
        with read(self.engine) as tx:
            return [_campaign(r) for r in tx.execute(query).all()]

    def claim_campaign(self, campaign_id: str, lease: Lease) -> bool:
        with write(self.engine) as tx:
            done = tx.execute(
                sa.update(reclaim_campaigns)
                .where(reclaim_campaigns.c.id == campaign_id)
                .where(_free(reclaim_campaigns, lease))
                .values(lease_owner=lease.owner, lease_until=lease.until)
            )
        return done.rowcount == 1

    def update_campaign(self, campaign_id: str, owner: str | None = None, **values: Any) -> bool:
        """Change a campaign; with ``owner``, only while that owner holds its lease."""
        query = sa.update(reclaim_campaigns).where(reclaim_campaigns.c.id == campaign_id)
        if owner is not None:
            query = query.where(reclaim_campaigns.c.lease_owner == owner)
        with write(self.engine) as tx:
            return tx.execute(query.values(**values)).rowcount == 1

    def set_tally_ts(self, campaign_id: str, ts: str) -> None:
        """The tally's ts, once: a second writer keeps the first."""
        with write(self.engine) as tx:
            tx.execute(
                sa.update(reclaim_campaigns)
                .where(reclaim_campaigns.c.id == campaign_id)
                .where(reclaim_campaigns.c.tally_ts.is_(None))
                .values(tally_ts=ts)
            )

    def mark_dirty(self, campaign_id: str) -> None:
        self.update_campaign(campaign_id, tally_dirty=True)

    # Members

    def asks(self, campaign_id: str) -> list[Ask]:
        with read(self.engine) as tx:
            rows = tx.execute(
                sa.select(reclaim_asks)
                .where(reclaim_asks.c.campaign_id == campaign_id)
                .order_by(reclaim_asks.c.email)
            ).all()
        return [_ask(r) for r in rows]

    def ask(self, campaign_id: str, email: str) -> Ask | None:
        with read(self.engine) as tx:
            row = tx.execute(
                sa.select(reclaim_asks)
                .where(reclaim_asks.c.campaign_id == campaign_id)
                .where(reclaim_asks.c.email == email.lower())
            ).first()
        return _ask(row) if row else None

    def due_asks(self, campaign_id: str, lease: Lease, *, limit: int) -> list[str]:
        """Emails whose DM is to be sent (or whose sender died), oldest first."""
        with read(self.engine) as tx:
            rows = tx.execute(
                sa.select(reclaim_asks.c.email)
                .where(reclaim_asks.c.campaign_id == campaign_id)
                .where(reclaim_asks.c.state.in_([AskState.PENDING.value, AskState.SENDING.value]))
                .where(_free(reclaim_asks, lease))
                .order_by(reclaim_asks.c.email)
                .limit(limit)
            ).all()
        return [r.email for r in rows]

    def claim_ask(self, campaign_id: str, email: str, lease: Lease) -> Ask | None:
        """Take one member's DM: its row, as it was before (a ``sending`` one was taken over)."""
        before = self.ask(campaign_id, email)
        if before is None or before.state not in (AskState.PENDING, AskState.SENDING):
            return None
        with write(self.engine) as tx:
            done = tx.execute(
                sa.update(reclaim_asks)
                .where(reclaim_asks.c.campaign_id == campaign_id)
                .where(reclaim_asks.c.email == email)
                .where(reclaim_asks.c.state.in_([AskState.PENDING.value, AskState.SENDING.value]))
                .where(_free(reclaim_asks, lease))
                .values(
                    lease_owner=lease.owner,
                    lease_until=lease.until,
                    state=AskState.SENDING.value,
                )
            )
        return before if done.rowcount == 1 else None

    def update_ask(
        self, campaign_id: str, email: str, *, owner: str | None = None, **values: Any
    ) -> bool:
        query = (
            sa.update(reclaim_asks)
            .where(reclaim_asks.c.campaign_id == campaign_id)
            .where(reclaim_asks.c.email == email)
        )
        if owner is not None:
            query = query.where(reclaim_asks.c.lease_owner == owner)
        with write(self.engine) as tx:
            return tx.execute(query.values(**values)).rowcount == 1

    def claim_reminder(self, campaign_id: str, email: str) -> bool:
        """Take the one reminder of a member: True once, whichever process asks first."""
        with write(self.engine) as tx:
            return (
                tx.execute(
                    sa.update(reclaim_asks)
                    .where(reclaim_asks.c.campaign_id == campaign_id)
                    .where(reclaim_asks.c.email == email)
                    .where(reclaim_asks.c.reminded.is_(False))
                    .values(reminded=True)
                ).rowcount
                == 1
            )

    def record_reminder(self, campaign_id: str, email: str, ts: str) -> None:
        """The ts of a member's reminder, right after it is posted."""
        self.update_ask(campaign_id, email, reminder_ts=ts)

    def record_release(self, campaign_id: str, ts: str) -> None:
        """The release list's ts, right after it is posted: the campaign is closed."""
        self.update_campaign(campaign_id, state=CLOSED, release_ts=ts, tally_dirty=True)

    def snoozed(self, since: dt.datetime) -> set[str]:
        """Emails that answered "keep" after ``since``, in any campaign."""
        with read(self.engine) as tx:
            rows = tx.execute(
                sa.select(reclaim_asks.c.email)
                .where(reclaim_asks.c.choice == Choice.KEEP.value)
                .where(reclaim_asks.c.answered_at >= since)
            ).all()
        return {r.email for r in rows}

    def mark_done(self, campaign_id: str, email: str | None) -> int:
        """Mark one member (or, with None, everyone on the list) Done."""
        query = sa.update(reclaim_asks).where(reclaim_asks.c.campaign_id == campaign_id)
        if email is not None:
            query = query.where(reclaim_asks.c.email == email.lower())
        with write(self.engine) as tx:
            return tx.execute(query.values(done=True)).rowcount
