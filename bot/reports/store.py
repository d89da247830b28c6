"""What must survive a restart: report datasets, the requests waiting on them, who is working.

A *dataset* is one BrowserStack report, keyed by (kind, period, product). Every question that can
be answered from the same report shares it: identical requests in flight share one BrowserStack
job, and a finished dataset answers new questions until it expires. A *request* is one person's
question and where to answer it. It is stored before Slack is acknowledged, and moves through

    received ──(checked, attached to its dataset)──> waiting ──(claimed)──> answering ──> answered
        └──────────────(refused, or cancelled)──────────┴──> answered / cancelled

Work is claimed with a *lease*: the claiming process's instance id and an expiry. A lease is
free when it expired or when its owner stopped sending heartbeats (``instances``), so a process
that dies mid-step leaves nothing stranded: another process, or the same one restarted, takes
the step over. Every state change is one conditional UPDATE (``WHERE state = ... AND lease ...``),
so two workers can never both take the same step, on SQLite as on PostgreSQL.

SQLAlchemy Core on ``DATABASE_URL``. On SQLite, write transactions begin ``IMMEDIATE``: a
deferred transaction that reads and then writes fails at once with "database is locked" when
another writer got there first, where an immediate one waits its turn. Times are stored as naive
UTC and returned aware.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import threading
import uuid
import zlib
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.browserstack.models import Product, Report, ReportFilters, ReportKind
from bot.reports.packed import PackedUsers, dump_report, load_report
from bot.reports.question import Question
from bot.storage import UTCDateTime, metadata, read, release_space, serialise, write

__all__ = [
    "Dataset",
    "DatasetState",
    "PendingRequest",
    "RequestState",
    "Store",
    "dataset_key",
    "decode_report",
    "encode_report",
    "new_request_id",
]


datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("key", sa.String(120), primary_key=True),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("start", sa.Date, nullable=False),
    sa.Column("end", sa.Date, nullable=False),
    sa.Column("product", sa.String(20)),
    sa.Column("state", sa.String(12), nullable=False),
    sa.Column("job_id", sa.String(64)),
    sa.Column("job_status", sa.String(40)),
    sa.Column("polls", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("deadline_at", UTCDateTime, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("error_kind", sa.String(20)),
    sa.Column("report", sa.LargeBinary),
    sa.Column("fetched_at", UTCDateTime),
    sa.Column("expires_at", UTCDateTime),
    # When the next step (create, status check, fetch) is due, and who is taking it.
    sa.Column("next_step_at", UTCDateTime, index=True),
    sa.Column("lease_owner", sa.String(40)),
    sa.Column("lease_until", UTCDateTime),
    # Creates whose answer never came: BrowserStack may hold a job we cannot name.
    sa.Column("unanswered_creates", sa.Integer, nullable=False, default=0),
    # The dataset ended (cancelled, failed) while its job still runs at BrowserStack: deleting
    # it is a step of its own, taken when the budget allows, by whichever process survives.
    sa.Column("delete_job", sa.Boolean, nullable=False, default=False),
)

requests = sa.Table(
    "requests",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("dataset_key", sa.String(120), nullable=False, index=True),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("state", sa.String(12), nullable=False, index=True),
    sa.Column("user_id", sa.String(32), nullable=False),
    sa.Column("channel_id", sa.String(32), nullable=False),
    sa.Column("team_id", sa.String(32)),
    sa.Column("response_url", sa.Text),
    sa.Column("response_url_uses", sa.Integer, nullable=False, default=0),
    sa.Column("thread_ts", sa.String(32)),
    # A visible placeholder (public answers, mentions): the answer replaces it in place.
    sa.Column("placeholder_ts", sa.String(32)),
    # The public copy of a private answer its asker shared (Share in channel).
    sa.Column("shared_ts", sa.String(32)),
    # Thread replies already posted under the answer, so that a resumed answer goes on from there.
    sa.Column("details_posted", sa.Integer, nullable=False, default=0),
    # Someone pressed "Details in thread" on the public answer: they are posted once.
    sa.Column("details_claimed", sa.Boolean, nullable=False, default=False),
    sa.Column("last_status", sa.String(80)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("answered_at", UTCDateTime),
    sa.Column("lease_owner", sa.String(40)),
    sa.Column("lease_until", UTCDateTime),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
)

instances = sa.Table(
    "instances",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("heartbeat_at", UTCDateTime, nullable=False, index=True),
)

# Work that one instance alone must do (the schedule: the weekly digest), held like a lease:
# renewed with the holder's heartbeats, free when it lapses or its holder stops beating.
roles = sa.Table(
    "roles",
    metadata,
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("lease_owner", sa.String(40)),
    sa.Column("lease_until", UTCDateTime),
    sa.Column("since", UTCDateTime),  # when its holder took it
)

slack_events = sa.Table(
    "slack_events",
    metadata,
    sa.Column("event_id", sa.String(64), primary_key=True),
    sa.Column("received_at", UTCDateTime, nullable=False),
)


class DatasetState(enum.StrEnum):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RequestState(enum.StrEnum):
    RECEIVED = "received"
    WAITING = "waiting"
    ANSWERING = "answering"
    ANSWERED = "answered"
    CANCELLED = "cancelled"


OPEN_STATES = (RequestState.RECEIVED, RequestState.WAITING, RequestState.ANSWERING)
# ``shared_ts`` while a share is being posted (its real ts once posted).
SHARING = "sharing"


def dataset_key(kind: ReportKind, filters: ReportFilters) -> str:
    """``team:2026-11-11:2026-11-25:all``: the identity of a report."""
    product = filters.product.filter_value if filters.product else "all"
    return f"{kind}:{filters.start}:{filters.end}:{product}"


def new_request_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class Dataset:
    key: str
    kind: ReportKind
    filters: ReportFilters
    state: DatasetState
    job_id: str | None
    job_status: str | None
    polls: int
    created_at: dt.datetime
    deadline_at: dt.datetime
    error: str | None
    error_kind: str | None
    fetched_at: dt.datetime | None
    expires_at: dt.datetime | None
    next_step_at: dt.datetime | None
    unanswered_creates: int
    delete_job: bool

    def fresh(self, now: dt.datetime) -> bool:
        """Ready and not expired: can answer a new question without asking BrowserStack."""
        return self.state is DatasetState.READY and bool(self.expires_at and self.expires_at > now)


@dataclass(frozen=True, slots=True)
class PendingRequest:
    """One person's question, and everything needed to answer it after a restart."""

    id: str
    dataset_key: str
    question: Question
    state: RequestState
    user_id: str
    channel_id: str
    team_id: str | None
    response_url: str | None
    response_url_uses: int
    thread_ts: str | None
    placeholder_ts: str | None
    shared_ts: str | None
    details_posted: int
    last_status: str | None
    created_at: dt.datetime
    attempts: int


@dataclass(frozen=True, slots=True)
class Origin:
    """Who asked, and where; with a ``response_url`` for slash commands."""

    user_id: str
    channel_id: str
    team_id: str | None = None
    response_url: str | None = None
    thread_ts: str | None = None  # a mention inside a thread


@dataclass(frozen=True, slots=True)
class Lease:
    """Who claims, until when, and which owners still count as alive (``bot.reports.leases``)."""

    owner: str
    now: dt.datetime
    until: dt.datetime
    live_since: dt.datetime  # an owner whose last heartbeat is older is taken for dead


def _dataset(row: Any) -> Dataset:
    product = Product.parse(row.product) if row.product else None
    return Dataset(
        key=row.key,
        kind=ReportKind(row.kind),
        filters=ReportFilters(row.start, row.end, product),
        state=DatasetState(row.state),
        job_id=row.job_id,
        job_status=row.job_status,
        polls=row.polls,
        created_at=row.created_at,
        deadline_at=row.deadline_at,
        error=row.error,
        error_kind=row.error_kind,
        fetched_at=row.fetched_at,
        expires_at=row.expires_at,
        next_step_at=row.next_step_at,
        unanswered_creates=row.unanswered_creates,
        delete_job=bool(row.delete_job),
    )


def _request(row: Any) -> PendingRequest:
    return PendingRequest(
        id=row.id,
        dataset_key=row.dataset_key,
        question=Question.decode(row.question),
        state=RequestState(row.state),
        user_id=row.user_id,
        channel_id=row.channel_id,
        team_id=row.team_id,
        response_url=row.response_url,
        response_url_uses=row.response_url_uses,
        thread_ts=row.thread_ts,
        placeholder_ts=row.placeholder_ts,
        shared_ts=row.shared_ts,
        details_posted=row.details_posted,
        last_status=row.last_status,
        created_at=row.created_at,
        attempts=row.attempts,
    )


# A dataset with steps to take: polls while pending, then deleting its job if it was abandoned.
_has_steps = sa.or_(datasets.c.state == DatasetState.PENDING.value, datasets.c.delete_job.is_(True))
# Every column but the report blob: reading a dataset's state must not read 30 MB.
_DATASET_COLUMNS = [c for c in datasets.c if c.name != "report"]
_report_decoder = msgspec.msgpack.Decoder(Report)
# The first byte of a zlib stream at the default window size; a stored msgpack report starts
# with a map's byte (0x80-0x8f, 0xde, 0xdf), never this (0x78 is the msgpack integer 120).
_ZLIB_HEADER = b"\x78"


def packed(report: Report) -> Report:
    """The report with its members packed (``bot.reports.packed``), as memory and the
    database keep it; a report already packed is returned as it is."""
    if isinstance(report.users, PackedUsers) or not report.users:
        return report
    return msgspec.structs.replace(report, users=PackedUsers(report.users))


def encode_report(report: Report) -> bytes:
    """A report as the database keeps it: its members packed in compressed blocks
    (``dump_report``), so that loading it decodes none of them: 2.9 MB for 50,000 members."""
    return dump_report(report)


def decode_report(blob: bytes) -> Report:
    """A stored report: packed (``encode_report``), or as earlier versions stored it: msgpack
    compressed with zlib (migration 0009), or bare msgpack."""
    loaded = load_report(blob)
    if loaded is not None:
        return loaded
    if blob[:1] == _ZLIB_HEADER:
        blob = zlib.decompress(blob)
    return packed(_report_decoder.decode(blob))


def _new_dataset(kind: ReportKind, filters: ReportFilters, *, now: dt.datetime) -> dict[str, Any]:
    """The columns every new dataset row starts with, whatever its state."""
    return {
        "key": dataset_key(kind, filters),
        "kind": kind.value,
        "start": filters.start,
        "end": filters.end,
        "product": filters.product.filter_value if filters.product else None,
        "polls": 0,
        "created_at": now,
        "unanswered_creates": 0,
        "delete_job": False,
    }


class _BoundLease:
    """A lease whose values are bound when the statement runs (``_leased(lease)``)."""

    owner: sa.BindParameter[str] = sa.bindparam("lease_owner_")
    now: sa.BindParameter[dt.datetime] = sa.bindparam("lease_now")
    until: sa.BindParameter[dt.datetime] = sa.bindparam("lease_until_")
    live_since: sa.BindParameter[dt.datetime] = sa.bindparam("lease_live_since")


# For statements on every answer's path, built once (below, ``functools.cache``): building a
# statement costs ~0.5 ms of SQLAlchemy here, several times what running it costs SQLite, and
# a cached answer takes a dozen of them.
BOUND_LEASE = _BoundLease()


def _leased(lease: Lease, **values: Any) -> dict[str, Any]:
    """The parameters of a statement built with ``BOUND_LEASE``."""
    return {
        "lease_owner_": lease.owner,
        "lease_now": lease.now,
        "lease_until_": lease.until,
        "lease_live_since": lease.live_since,
        **values,
    }


def _free(table: sa.Table, lease: Lease | _BoundLease) -> sa.ColumnElement[bool]:
    """Nobody alive holds this row's lease (a lease with no owner is a retry's "not before").

    The claimer's own leases are never free here: its threads hold them, or they expire.
    """
    live = sa.select(instances.c.id).where(instances.c.heartbeat_at >= lease.live_since)
    return sa.or_(
        table.c.lease_until.is_(None),
        table.c.lease_until < lease.now,
        sa.and_(
            table.c.lease_owner.is_not(None),
            table.c.lease_owner != lease.owner,
            table.c.lease_owner.not_in(live),
        ),
    )


# Statements built once (see BOUND_LEASE), run with parameters; an UPDATE's SET values come
# with the parameters too, by column name.
_REQUEST_ID: sa.BindParameter[str] = sa.bindparam("request_id")
_REQUEST = sa.select(requests).where(requests.c.id == _REQUEST_ID)
_UPDATE_REQUEST = sa.update(requests).where(requests.c.id == _REQUEST_ID)
_UPDATE_REQUEST_RETURNING = _UPDATE_REQUEST.returning(*requests.c)
_INSERT_REQUEST = sa.insert(requests)
_DATASET = sa.select(*_DATASET_COLUMNS).where(datasets.c.key == sa.bindparam("key"))
_FETCHED_AT = sa.select(datasets.c.fetched_at).where(datasets.c.key == sa.bindparam("key"))
_BLOB = sa.select(datasets.c.report).where(datasets.c.key == sa.bindparam("key"))
_EVENT_SEEN = sa.select(slack_events.c.event_id).where(
    slack_events.c.event_id == sa.bindparam("event_id")
)
_INSERT_EVENT = sa.insert(slack_events)
_USE_RESPONSE_URL = _UPDATE_REQUEST.values(
    response_url_uses=requests.c.response_url_uses + 1
).returning(requests.c.response_url_uses)
_RELEASE_REQUEST = _UPDATE_REQUEST.where(requests.c.lease_owner == sa.bindparam("owner"))


@functools.cache
def _in_states(states: tuple[RequestState, ...]) -> sa.ColumnElement[bool]:
    return requests.c.state.in_([state.value for state in states])


@functools.cache
def _attachable() -> sa.Select[Any]:
    """``Store.attach``'s request: received or waiting, its lease the caller's or free."""
    lease = BOUND_LEASE
    return _REQUEST.where(_in_states((RequestState.RECEIVED, RequestState.WAITING))).where(
        sa.or_(requests.c.lease_owner == lease.owner, _free(requests, lease))
    )


@functools.cache
def _claim(states: tuple[RequestState, ...], mine: bool) -> sa.Update:
    """``Store.claim_request``'s one UPDATE, returning the claimed row."""
    lease = BOUND_LEASE
    free = _free(requests, lease)
    again: Any = 1
    if mine:
        own = requests.c.lease_owner == lease.owner
        free = sa.or_(own, free)
        # A hand-over to oneself is not a new attempt.
        again = sa.case((own, 0), else_=1)
    waiting = requests.c.state == RequestState.WAITING.value
    return (
        _UPDATE_REQUEST.where(_in_states(states))
        .where(free)
        .values(
            state=sa.case((waiting, RequestState.ANSWERING.value), else_=requests.c.state),
            lease_owner=lease.owner,
            lease_until=lease.until,
            attempts=requests.c.attempts + again,
        )
        .returning(*requests.c)
    )


@functools.cache
def _due_datasets() -> sa.Select[tuple[str]]:
    """``Store.due_datasets``'s query (every tick of the work loop)."""
    return (
        sa.select(datasets.c.key)
        .where(_has_steps)
        .where(datasets.c.next_step_at <= BOUND_LEASE.now)
        .where(_free(datasets, BOUND_LEASE))
        .order_by(datasets.c.next_step_at)
        .limit(sa.bindparam("limit"))
    )


@functools.cache
def _due_requests() -> sa.Select[tuple[str]]:
    """``Store.due_requests``'s query (every tick of the work loop)."""
    pending = sa.select(datasets.c.key).where(datasets.c.state == DatasetState.PENDING.value)
    return (
        sa.select(requests.c.id)
        .where(
            sa.or_(
                _in_states((RequestState.RECEIVED, RequestState.ANSWERING)),
                sa.and_(
                    requests.c.state == RequestState.WAITING.value,
                    requests.c.dataset_key.not_in(pending),
                ),
            )
        )
        .where(_free(requests, BOUND_LEASE))
        .order_by(requests.c.created_at)
        .limit(sa.bindparam("limit"))
    )


@functools.cache
def _finish(owned: bool) -> sa.Update:
    """``Store.finish_request``'s UPDATE: an open request, held by ``owner`` if ``owned``."""
    query = _UPDATE_REQUEST.where(_in_states(OPEN_STATES))
    return query.where(requests.c.lease_owner == sa.bindparam("owner")) if owned else query


class Store:
    """Datasets, pending requests, instances and handled event ids, in one database."""

    def __init__(self, engine: Engine, *, cached_reports: int = 8) -> None:
        self.engine = engine
        # Recent reports, newest last, their members packed (``bot.reports.packed``: ~3 MB for
        # 50,000 members, where decoded they take ~56 MB): decoding them from the database
        # costs ~0.5 s, and what answers derive from a report stays with it (its index).
        self._reports: OrderedDict[str, Report] = OrderedDict()
        self._cached_reports = cached_reports
        self._lock = threading.Lock()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with read(self.engine) as tx:
            yield tx

    @contextmanager
    def _write(self, *, timeout: float | None = None) -> Iterator[Connection]:
        with write(self.engine, timeout=timeout) as tx:
            yield tx

    # Datasets

    def dataset(self, key: str) -> Dataset | None:
        with self._read() as tx:
            row = tx.execute(_DATASET, {"key": key}).first()
        return _dataset(row) if row else None

    def _ensure_dataset(
        self,
        tx: Connection,
        kind: ReportKind,
        filters: ReportFilters,
        *,
        now: dt.datetime,
        deadline: float,
    ) -> tuple[Dataset, bool]:
        """The live dataset for (kind, filters), created pending unless one exists; is it new?"""
        key = dataset_key(kind, filters)
        serialise(tx, f"dataset {key}")
        row = tx.execute(_DATASET, {"key": key}).first()
        if row is not None:
            existing = _dataset(row)
            if existing.state is DatasetState.PENDING or existing.fresh(now):
                return existing, False
            self._clear_dataset(tx, existing)
        tx.execute(
            sa.insert(datasets).values(
                **_new_dataset(kind, filters, now=now),
                state=DatasetState.PENDING.value,
                deadline_at=now + dt.timedelta(seconds=deadline),
                next_step_at=now,
            )
        )
        with self._lock:
            self._reports.pop(key, None)
        row = tx.execute(_DATASET, {"key": key}).one()
        return _dataset(row), True

    @staticmethod
    def _clear_dataset(tx: Connection, existing: Dataset) -> None:
        """Make room for a new dataset under an ended (or expired) one's key."""
        key = existing.key
        if existing.delete_job and existing.job_id:
            # Its job still waits to be deleted: the row moves aside and keeps that step.
            tx.execute(
                sa.update(datasets)
                .where(datasets.c.key == key)
                .values(key=f"{key}~{existing.job_id}")
            )
        else:
            tx.execute(sa.delete(datasets).where(datasets.c.key == key))

    def fresh_report(
        self, kind: ReportKind, filters: ReportFilters, *, now: dt.datetime
    ) -> Report | None:
        """The report of a fresh dataset of this kind and period, or None."""
        key = dataset_key(kind, filters)
        dataset = self.dataset(key)
        return self.report(key) if dataset is not None and dataset.fresh(now) else None

    def latest_report(self, kind: ReportKind) -> Report | None:
        """The report of the most recently fetched ready dataset of ``kind``, whatever its period
        or age: what a name (a team's) is checked against when no fresh report is at hand."""
        with self._read() as tx:
            key = tx.execute(
                sa.select(datasets.c.key)
                .where(datasets.c.kind == kind.value)
                .where(datasets.c.state == DatasetState.READY.value)
                .order_by(datasets.c.fetched_at.desc())
                .limit(1)
            ).scalar()
        return None if key is None else self.report(key)

    def share_report(
        self,
        kind: ReportKind,
        filters: ReportFilters,
        report: Report,
        *,
        now: dt.datetime,
        ttl: float,
    ) -> bool:
        """Put a report fetched outside the work loop (the posted digest's ``run_report``) in
        the shared datasets, ready for ``ttl`` seconds; False when it was not needed there.

        It takes the place of a missing, expired, failed or cancelled dataset; a fresh one is
        left alone. So is a pending one: its job belongs to the work loop, which polls it under
        a lease, answers the requests waiting on it when it lands and deletes it when it is
        abandoned. Finishing it here instead would mean taking that lease from a live worker
        mid-poll and leaving its BrowserStack job behind; the job is already running, so its
        askers gain little, and the next request after it lands reads it as usual.

        One transaction, ordered with ``_ensure_dataset`` by the same lock (``serialise``): a
        crash leaves the old row or the new one, and a request attaching at the same moment
        finds either the new ready dataset or a pending one that this then leaves alone.
        """
        key = dataset_key(kind, filters)
        # Packed before the transaction: 50,000 members take ~0.4 s, and writers wait on it.
        report = packed(report)
        blob = encode_report(report)
        with self._write() as tx:
            serialise(tx, f"dataset {key}")
            row = tx.execute(sa.select(*_DATASET_COLUMNS).where(datasets.c.key == key)).first()
            if row is not None:
                existing = _dataset(row)
                if existing.state is DatasetState.PENDING or existing.fresh(now):
                    return False
                self._clear_dataset(tx, existing)
            tx.execute(
                sa.insert(datasets).values(
                    **_new_dataset(kind, filters, now=now),
                    state=DatasetState.READY.value,
                    deadline_at=now,
                    report=blob,
                    fetched_at=report.fetched_at,
                    expires_at=now + dt.timedelta(seconds=ttl),
                    next_step_at=None,
                )
            )
        self._remember(key, report)
        return True

    def due_datasets(self, lease: Lease, *, limit: int) -> list[str]:
        """Up to ``limit`` datasets whose next step (a poll, or deleting an abandoned job) is
        due and whose lease is free."""
        with self._read() as tx:
            return list(tx.execute(_due_datasets(), _leased(lease, limit=limit)).scalars())

    def claim_dataset(self, key: str, lease: Lease) -> bool:
        """Take one dataset's lease; False when someone alive holds it or it has no steps left."""
        with self._write() as tx:
            result = tx.execute(
                sa.update(datasets)
                .where(datasets.c.key == key)
                .where(_has_steps)
                .where(_free(datasets, lease))
                .values(lease_owner=lease.owner, lease_until=lease.until)
            )
        return result.rowcount == 1

    def step_done(
        self, key: str, owner: str, *, next_step_at: dt.datetime | None, **values: Any
    ) -> bool:
        """Record a step's outcome and give the lease back; False if the lease was lost."""
        with self._write() as tx:
            result = tx.execute(
                sa.update(datasets)
                .where(datasets.c.key == key)
                .where(datasets.c.lease_owner == owner)
                .values(lease_owner=None, lease_until=None, next_step_at=next_step_at, **values)
            )
        return result.rowcount == 1

    def update_dataset(self, key: str, **values: Any) -> None:
        """Change a dataset whatever its lease (progress fields no one else writes)."""
        with self._write() as tx:
            tx.execute(sa.update(datasets).where(datasets.c.key == key).values(**values))

    def finish_dataset(
        self, key: str, owner: str, report: Report, *, now: dt.datetime, ttl: float
    ) -> bool:
        """Store the finished report; it answers new questions for ``ttl`` seconds."""
        report = packed(report)  # once, for the database and for memory
        done = self.step_done(
            key,
            owner,
            next_step_at=None,
            state=DatasetState.READY.value,
            report=encode_report(report),
            fetched_at=report.fetched_at,
            expires_at=now + dt.timedelta(seconds=ttl),
            error=None,
        )
        if done:
            self._remember(key, report)
        return done

    def report(self, key: str) -> Report | None:
        """The dataset's report, from memory when recently used and still the one stored.

        Another process may have stored a newer report under the same key (a replica's work
        loop, ``share_report`` from ``python -m bot digest``): memory serves only the report
        fetched when the database's was.
        """
        with self._read() as tx:
            fetched_at = tx.execute(_FETCHED_AT, {"key": key}).scalar()
            with self._lock:
                cached = self._reports.get(key)
                if (
                    cached is not None
                    and fetched_at is not None
                    and cached.fetched_at == fetched_at
                ):
                    self._reports.move_to_end(key)
                    return cached
            blob = tx.execute(_BLOB, {"key": key}).scalar()
        if blob is None:
            return None
        return self._remember(key, decode_report(blob))

    def _remember(self, key: str, report: Report) -> Report:
        """Keep the report (its members packed) among the recent ones; the kept one.

        A report of the same fetch already kept stays, and is returned: two threads that loaded
        it at once (one finishing the dataset, one answering from it) must share one object,
        since what answers derive from a report is kept with that object (its index).
        """
        report = packed(report)
        with self._lock:
            kept = self._reports.get(key)
            if kept is not None and kept.fetched_at == report.fetched_at:
                self._reports.move_to_end(key)
                return kept
            self._reports[key] = report
            self._reports.move_to_end(key)
            while len(self._reports) > self._cached_reports:
                self._reports.popitem(last=False)
        return report

    def abandon_dataset(self, key: str, *, waiting_on: Sequence[str] = ()) -> bool:
        """Mark a pending dataset cancelled if, and only if, no open request waits on it (or on
        any of ``waiting_on``: the datasets of one question, which its askers need together).

        One statement, so that a request attaching at the same moment either counts here or, if
        it comes after, finds the dataset cancelled and starts a new one.
        """
        waiting = (
            sa.select(requests.c.id)
            .where(requests.c.dataset_key.in_({key, *waiting_on}))
            .where(requests.c.state.in_([RequestState.RECEIVED, RequestState.WAITING]))
        )
        with self._write() as tx:
            result = tx.execute(
                sa.update(datasets)
                .where(datasets.c.key == key)
                .where(datasets.c.state == DatasetState.PENDING.value)
                .where(~sa.exists(waiting))
                .values(state=DatasetState.CANCELLED.value, next_step_at=None)
            )
        return result.rowcount == 1

    def pending_datasets(self) -> list[Dataset]:
        with self._read() as tx:
            rows = tx.execute(
                sa.select(*_DATASET_COLUMNS)
                .where(datasets.c.state == DatasetState.PENDING.value)
                .order_by(datasets.c.created_at)
            ).all()
        return [_dataset(row) for row in rows]

    def jobs_ahead(self, key: str) -> int:
        """Our own pending datasets created before this one: they share the account's queue."""
        with self._read() as tx:
            created = tx.execute(
                sa.select(datasets.c.created_at).where(datasets.c.key == key)
            ).scalar()
            if created is None:
                return 0
            return tx.execute(
                sa.select(sa.func.count())
                .select_from(datasets)
                .where(datasets.c.state == DatasetState.PENDING.value)
                .where(datasets.c.created_at < created)
            ).scalar_one()

    def prune_datasets(self, *, now: dt.datetime, keep: dt.timedelta) -> int:
        """Delete ended datasets older than ``keep``, with their reports; how many went.

        A dataset's age runs from its fetch (ready) or its creation (failed, cancelled, moved
        aside). Kept whatever their age: pending datasets, those with a job still to delete
        (moved aside or not), leased ones, those an open request is on, fresh ones, and the
        latest ready report of each kind (``latest_report`` checks team names against it). A
        request whose dataset went is attached again when it is next looked at, as after an
        expiry. One statement: a request attaching at the same moment either keeps the row or
        finds it gone and starts a new one. The space is then given back (``release_space``).
        """
        ended = [DatasetState.READY, DatasetState.FAILED, DatasetState.CANCELLED]
        newer = datasets.alias("newer")
        superseded = (
            sa.exists()
            .where(newer.c.kind == datasets.c.kind)
            .where(newer.c.state == DatasetState.READY.value)
            .where(newer.c.fetched_at > datasets.c.fetched_at)
        )
        waited_on = sa.select(requests.c.dataset_key).where(_in_states(OPEN_STATES))
        with self._write() as tx:
            result = tx.execute(
                sa.delete(datasets)
                .where(datasets.c.state.in_([s.value for s in ended]))
                .where(sa.func.coalesce(datasets.c.fetched_at, datasets.c.created_at) < now - keep)
                .where(sa.or_(datasets.c.expires_at.is_(None), datasets.c.expires_at <= now))
                .where(datasets.c.delete_job.is_(False))
                .where(sa.or_(datasets.c.lease_until.is_(None), datasets.c.lease_until < now))
                .where(datasets.c.key.not_in(waited_on))
                .where(sa.or_(datasets.c.state != DatasetState.READY.value, superseded))
            )
        # Every time, not only when rows went: what a busy database kept last time goes now.
        release_space(self.engine, datasets.name)
        pruned: int = result.rowcount
        return pruned

    # Requests

    def prune_requests(self, *, now: dt.datetime, keep: dt.timedelta) -> int:
        """Delete requests answered or cancelled longer than ``keep`` ago, and the Slack event
        ids received before then; how many requests went.

        An old answer's buttons then say the request is no longer known, as they say its
        report expired once its dataset is pruned. Open requests stay, however old. Their
        space is given back with the datasets' (``prune_datasets``, which the work loop runs
        next; on PostgreSQL autovacuum takes these small rows).
        """
        before = now - keep
        with self._write() as tx:
            result = tx.execute(
                sa.delete(requests)
                .where(sa.not_(_in_states(OPEN_STATES)))
                .where(requests.c.answered_at < before)
            )
            tx.execute(sa.delete(slack_events).where(slack_events.c.received_at < before))
        pruned: int = result.rowcount
        return pruned

    def receive(
        self,
        request_id: str,
        question: Question,
        origin: Origin,
        *,
        lease: Lease,
        timeout: float | None = None,
        event_id: str | None = None,
    ) -> PendingRequest | None:
        """Store a question as it is acknowledged, leased to the process that will check it.

        With the ``event_id`` of the Slack event that asked it, in the same transaction: None
        when that event was stored before (Slack sent it again).
        """
        with self._write(timeout=timeout) as tx:
            if event_id is not None and not self._first_time_seen(tx, event_id, now=lease.now):
                return None
            tx.execute(
                _INSERT_REQUEST,
                {
                    "id": request_id,
                    "dataset_key": dataset_key(question.kind, question.filters),
                    "question": question.encode().decode(),
                    "state": RequestState.RECEIVED.value,
                    "user_id": origin.user_id,
                    "channel_id": origin.channel_id,
                    "team_id": origin.team_id,
                    "response_url": origin.response_url,
                    "response_url_uses": 0,
                    "thread_ts": origin.thread_ts,
                    "details_posted": 0,
                    "details_claimed": False,
                    "created_at": lease.now,
                    "lease_owner": lease.owner,
                    "lease_until": lease.until,
                    "attempts": 1,
                },
            )
        # As stored, without reading it back: this is on the path of Slack's 3-second ack.
        return PendingRequest(
            id=request_id,
            dataset_key=dataset_key(question.kind, question.filters),
            question=question,
            state=RequestState.RECEIVED,
            user_id=origin.user_id,
            channel_id=origin.channel_id,
            team_id=origin.team_id,
            response_url=origin.response_url,
            response_url_uses=0,
            thread_ts=origin.thread_ts,
            placeholder_ts=None,
            shared_ts=None,
            details_posted=0,
            last_status=None,
            created_at=lease.now,
            attempts=1,
        )

    def request(self, request_id: str) -> PendingRequest | None:
        with self._read() as tx:
            row = tx.execute(_REQUEST, {"request_id": request_id}).first()
        return _request(row) if row else None

    def update_request(self, request_id: str, **values: Any) -> None:
        with self._write() as tx:
            tx.execute(_UPDATE_REQUEST, {"request_id": request_id, **values})

    def attach(
        self,
        request_id: str,
        lease: Lease,
        *,
        deadline: float,
        hold: bool = False,
        question: Question | None = None,
    ) -> tuple[PendingRequest, Dataset, bool] | None:
        """Put a checked request on its dataset, started if need be: one transaction.

        The request must be received or waiting, and its lease this caller's or free; with
        ``hold`` the caller keeps the lease (until ``release_request``); ``question``, as the
        check completed it (the asker's email for ``me``), replaces the stored one. Returns the
        request, its dataset and whether the dataset is new; None when the request is not the
        caller's to attach (cancelled, or being handled elsewhere). A question that reads several
        reports (``Question.kinds``) has them all started here; ``move_request`` takes it from
        one to the next as they end.
        """
        now = lease.now
        with self._write() as tx:
            row = tx.execute(_attachable(), _leased(lease, request_id=request_id)).first()
            if row is None:
                return None
            completed = {} if question is None else {"question": question.encode().decode()}
            if question is None:
                question = Question.decode(row.question)
            # Every report the answer reads exists (fresh, or being made: all at once); the
            # request waits on the first that is not fresh, or, all fresh, on its own kind's.
            needed = [
                self._ensure_dataset(tx, kind, question.filters, now=now, deadline=deadline)
                for kind in question.kinds
            ]
            dataset = next((d for d, _ in needed if not d.fresh(now)), needed[0][0])
            new = any(made for _, made in needed)
            values = {
                "request_id": request_id,
                "state": RequestState.WAITING.value,
                "dataset_key": dataset.key,
                "lease_owner": lease.owner if hold else None,
                "lease_until": lease.until if hold else None,
                **completed,
            }
            row = tx.execute(_UPDATE_REQUEST_RETURNING, values).one()
        return _request(row), dataset, new

    def move_request(self, request_id: str, lease: Lease, *, from_key: str, to_key: str) -> bool:
        """Move a request whose dataset ended to the next one its answer reads: one UPDATE.

        Only from ``from_key`` and while nobody alive holds it, so of two deliverers one moves
        it; it waits there (and is answered when that dataset ends, or by the work loop if it
        ended meanwhile).
        """
        with self._write() as tx:
            result = tx.execute(
                sa.update(requests)
                .where(requests.c.id == request_id)
                .where(requests.c.dataset_key == from_key)
                .where(requests.c.state.in_([RequestState.WAITING, RequestState.ANSWERING]))
                .where(sa.or_(requests.c.lease_owner == lease.owner, _free(requests, lease)))
                .values(
                    dataset_key=to_key,
                    state=RequestState.WAITING.value,
                    lease_owner=None,
                    lease_until=None,
                )
            )
        return result.rowcount == 1

    def claim_request(
        self,
        request_id: str,
        lease: Lease,
        *,
        states: Sequence[RequestState],
        mine: bool = False,
    ) -> PendingRequest | None:
        """Take a request in one of ``states`` whose lease is free; None when someone else has it.

        ``mine``: a lease this owner already holds counts as free (it hands the work on to
        itself). A waiting request moves to answering; a received one stays received (it is
        being checked). Each claim counts an attempt, so a request that keeps failing can be
        given up.
        """
        claim = _claim(tuple(states), mine)
        with self._write() as tx:
            row = tx.execute(claim, _leased(lease, request_id=request_id)).first()
        return None if row is None else _request(row)

    def hold_request(
        self,
        request_id: str,
        lease: Lease,
        *,
        state: RequestState,
        dataset_key: str | None = None,
        **values: Any,
    ) -> PendingRequest | None:
        """Lease a request in ``state`` (and on ``dataset_key``) that nobody alive holds,
        leaving its state as it is and setting ``values``; None when it has moved on or someone
        holds it. Not an attempt: nothing is answered."""
        query = (
            sa.update(requests)
            .where(requests.c.id == request_id)
            .where(requests.c.state == state.value)
            .where(_free(requests, lease))
        )
        if dataset_key is not None:
            query = query.where(requests.c.dataset_key == dataset_key)
        with self._write() as tx:
            result = tx.execute(
                query.values(lease_owner=lease.owner, lease_until=lease.until, **values)
            )
            if result.rowcount != 1:
                return None
            row = tx.execute(sa.select(requests).where(requests.c.id == request_id)).one()
        return _request(row)

    def release_request(
        self, request_id: str, owner: str, *, retry_at: dt.datetime | None = None
    ) -> None:
        """Give a claimed request back: to be taken at once, or after a failure at ``retry_at``."""
        with self._write() as tx:
            tx.execute(
                _RELEASE_REQUEST,
                {
                    "request_id": request_id,
                    "owner": owner,
                    "lease_until": retry_at,
                    "lease_owner": None,
                },
            )

    def finish_request(
        self, request_id: str, state: RequestState, *, now: dt.datetime, owner: str | None = None
    ) -> bool:
        """Mark a request answered or cancelled; with ``owner``, only while its lease is held."""
        values = {
            "state": state.value,
            "answered_at": now,
            "lease_owner": None,
            "lease_until": None,
        }
        with self._write() as tx:
            result = tx.execute(
                _finish(owner is not None), {"request_id": request_id, "owner": owner, **values}
            )
        return result.rowcount == 1

    def cancel_request(self, request_id: str, *, user_id: str, now: dt.datetime) -> bool:
        """Cancel a request of ``user_id``'s not yet being answered; False when too late."""
        with self._write() as tx:
            result = tx.execute(
                sa.update(requests)
                .where(requests.c.id == request_id)
                .where(requests.c.user_id == user_id)
                .where(requests.c.state.in_([RequestState.RECEIVED, RequestState.WAITING]))
                .values(
                    state=RequestState.CANCELLED.value,
                    answered_at=now,
                    lease_owner=None,
                    lease_until=None,
                )
            )
        return result.rowcount == 1

    def due_requests(self, lease: Lease, *, limit: int) -> list[str]:
        """Requests with work to do that nobody alive is doing, oldest first.

        Received ones not yet checked; waiting ones whose dataset is ready, failed, gone or
        cancelled; answering ones whose answerer died.
        """
        with self._read() as tx:
            return list(tx.execute(_due_requests(), _leased(lease, limit=limit)).scalars())

    def waiting_requests(self, key: str) -> list[PendingRequest]:
        with self._read() as tx:
            rows = tx.execute(
                sa.select(requests)
                .where(requests.c.dataset_key == key)
                .where(requests.c.state == RequestState.WAITING.value)
                .order_by(requests.c.created_at)
            ).all()
        return [_request(row) for row in rows]

    def open_requests(self) -> int:
        """Requests not yet answered: zero when the bot has nothing left to do."""
        with self._read() as tx:
            return tx.execute(
                sa.select(sa.func.count()).select_from(requests).where(_in_states(OPEN_STATES))
            ).scalar_one()

    def claim_details(self, request_id: str) -> bool:
        """Take the right to post a public answer's details: True once, however many click."""
        return self._once(request_id, requests.c.details_claimed.is_(False), details_claimed=True)

    def claim_share(self, request_id: str) -> bool:
        """Take the right to share a request's answer: True once, however many clicks race."""
        return self._once(request_id, requests.c.shared_ts.is_(None), shared_ts=SHARING)

    def _once(self, request_id: str, unset: sa.ColumnElement[bool], **values: Any) -> bool:
        """Set ``values`` on a request where ``unset`` holds: one UPDATE, so one caller wins."""
        with self._write() as tx:
            result = tx.execute(
                sa.update(requests).where(requests.c.id == request_id).where(unset).values(**values)
            )
        return result.rowcount == 1

    def use_response_url(self, request_id: str) -> int:
        """Count one use of the request's response_url (Slack allows 5); return the new count."""
        with self._write() as tx:
            uses: int = tx.execute(_USE_RESPONSE_URL, {"request_id": request_id}).scalar_one()
            return uses

    # Instances

    def heartbeat(self, instance: str, *, now: dt.datetime, timeout: float | None = None) -> None:
        """Say that ``instance`` is alive; its leases hold while it keeps saying so."""
        with self._write(timeout=timeout) as tx:
            result = tx.execute(
                sa.update(instances).where(instances.c.id == instance).values(heartbeat_at=now)
            )
            if result.rowcount == 0:
                tx.execute(
                    sa.insert(instances).values(id=instance, started_at=now, heartbeat_at=now)
                )

    def hold_role(self, name: str, lease: Lease, *, timeout: float | None = None) -> bool:
        """Take or renew the role ``name`` for ``lease.owner``; False while someone alive has it."""
        mine = roles.c.lease_owner == lease.owner
        try:
            with self._write(timeout=timeout) as tx:
                result = tx.execute(
                    sa.update(roles)
                    .where(roles.c.name == name)
                    .where(sa.or_(mine, _free(roles, lease)))
                    .values(
                        lease_owner=lease.owner,
                        lease_until=lease.until,
                        # Kept on a renewal, set on a takeover.
                        since=sa.case((mine, roles.c.since), else_=lease.now),
                    )
                )
                if result.rowcount == 1:
                    return True
                if tx.execute(sa.select(roles.c.name).where(roles.c.name == name)).first():
                    return False
                tx.execute(
                    sa.insert(roles).values(
                        name=name, lease_owner=lease.owner, lease_until=lease.until, since=lease.now
                    )
                )
                return True
        except sa.exc.IntegrityError:
            return False  # another instance made the row first: it holds the role

    def role_holder(self, name: str) -> tuple[str | None, dt.datetime | None]:
        """Who holds ``name`` (perhaps dead: see ``hold_role``) and since when."""
        with self._read() as tx:
            row = tx.execute(
                sa.select(roles.c.lease_owner, roles.c.since).where(roles.c.name == name)
            ).first()
        return (None, None) if row is None else (row.lease_owner, row.since)

    def retire(self, instance: str) -> None:
        """A clean stop: free this instance's leases at once rather than when they go stale."""
        with self._write() as tx:
            for table in (datasets, requests, roles):
                tx.execute(
                    sa.update(table)
                    .where(table.c.lease_owner == instance)
                    .values(lease_owner=None, lease_until=None)
                )
            tx.execute(sa.delete(instances).where(instances.c.id == instance))

    # Slack events

    def first_time_seen(self, event_id: str, *, now: dt.datetime) -> bool:
        """Record an Events API event id; False when it was seen before (a Slack retry)."""
        with self._write() as tx:
            return self._first_time_seen(tx, event_id, now=now)

    @staticmethod
    def _first_time_seen(tx: Connection, event_id: str, *, now: dt.datetime) -> bool:
        if tx.execute(_EVENT_SEEN, {"event_id": event_id}).first() is not None:
            return False
        tx.execute(_INSERT_EVENT, {"event_id": event_id, "received_at": now})
        return True
