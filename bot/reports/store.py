"""What must survive a restart: report datasets, the requests waiting on them, Slack event ids.

A *dataset* is one BrowserStack report, keyed by (kind, period, product). Every question that can
be answered from the same report shares it: identical requests in flight share one BrowserStack
job, and a finished dataset answers new questions until it expires. A *request* is one person's
question and where to answer it; it is answered exactly once (``claim`` moves it out of
``waiting`` in a single UPDATE, so two workers can never both answer it).

SQLAlchemy Core on ``DATABASE_URL``: SQLite by default, any database SQLAlchemy speaks in
production. Times are stored as naive UTC and returned aware.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.browserstack.models import Product, Report, ReportFilters, ReportKind

metadata = sa.MetaData()


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, whatever the database keeps."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


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
    sa.Column("report", sa.LargeBinary),
    sa.Column("fetched_at", UTCDateTime),
    sa.Column("expires_at", UTCDateTime),
)

requests = sa.Table(
    "requests",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("dataset_key", sa.String(120), index=True),
    sa.Column("command", sa.Text, nullable=False),
    sa.Column("state", sa.String(12), nullable=False),
    sa.Column("user_id", sa.String(32), nullable=False),
    sa.Column("channel_id", sa.String(32), nullable=False),
    sa.Column("team_id", sa.String(32)),
    sa.Column("response_url", sa.Text),
    sa.Column("response_url_uses", sa.Integer, nullable=False, default=0),
    sa.Column("thread_ts", sa.String(32)),
    sa.Column("placeholder_ts", sa.String(32)),
    sa.Column("last_status", sa.String(80)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("answered_at", UTCDateTime),
)

slack_events = sa.Table(
    "slack_events",
    metadata,
    sa.Column("event_id", sa.String(64), primary_key=True),
    sa.Column("received_at", UTCDateTime, nullable=False),
)


class RequestExists(Exception):
    """A request with that id is already stored (it was cancelled before it got going)."""


class DatasetState(enum.StrEnum):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RequestState(enum.StrEnum):
    WAITING = "waiting"
    ANSWERING = "answering"
    ANSWERED = "answered"
    CANCELLED = "cancelled"


def dataset_key(kind: ReportKind, filters: ReportFilters) -> str:
    """``team:2026-11-11:2026-11-25:all``: the identity of a report."""
    product = filters.product.filter_value if filters.product else "all"
    return f"{kind}:{filters.start}:{filters.end}:{product}"


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
    fetched_at: dt.datetime | None
    expires_at: dt.datetime | None

    def fresh(self, now: dt.datetime) -> bool:
        """Ready and not expired: can answer a new question without asking BrowserStack."""
        return self.state is DatasetState.READY and bool(self.expires_at and self.expires_at > now)


@dataclass(frozen=True, slots=True)
class PendingRequest:
    """One person's question, and everything needed to answer it after a restart."""

    id: str
    dataset_key: str | None
    command: dict[str, Any]
    state: RequestState
    user_id: str
    channel_id: str
    team_id: str | None
    response_url: str | None
    response_url_uses: int
    thread_ts: str | None
    placeholder_ts: str | None
    last_status: str | None
    created_at: dt.datetime


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
        fetched_at=row.fetched_at,
        expires_at=row.expires_at,
    )


def _request(row: Any) -> PendingRequest:
    return PendingRequest(
        id=row.id,
        dataset_key=row.dataset_key,
        command=json.loads(row.command),
        state=RequestState(row.state),
        user_id=row.user_id,
        channel_id=row.channel_id,
        team_id=row.team_id,
        response_url=row.response_url,
        response_url_uses=row.response_url_uses,
        thread_ts=row.thread_ts,
        placeholder_ts=row.placeholder_ts,
        last_status=row.last_status,
        created_at=row.created_at,
    )


_report_decoder = msgspec.msgpack.Decoder(Report)
_report_encoder = msgspec.msgpack.Encoder()


def new_request_id() -> str:
    """Ids are made before the request is stored: the placeholder's Cancel button carries one."""
    return uuid.uuid4().hex


def create_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets the settings that make it safe across threads."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # WAL lets the listener threads read while a poll job writes a report.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


class Store:
    """Datasets, pending requests and handled event ids, in one database."""

    def __init__(self, engine: Engine, *, cached_reports: int = 4) -> None:
        self.engine = engine
        metadata.create_all(engine)
        # Decoded reports, newest last: decoding 50k users from the database costs ~0.5 s.
        self._reports: OrderedDict[str, Report] = OrderedDict()
        self._cached_reports = cached_reports
        self._lock = threading.Lock()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as connection:
            yield connection

    # Datasets

    def dataset(self, key: str) -> Dataset | None:
        with self._tx() as tx:
            row = tx.execute(sa.select(datasets).where(datasets.c.key == key)).first()
        return _dataset(row) if row else None

    def start_dataset(
        self, kind: ReportKind, filters: ReportFilters, *, now: dt.datetime, deadline: float
    ) -> tuple[Dataset, bool]:
        """The dataset for (kind, filters), created pending unless a live one exists.

        Returns the dataset and whether it is new, i.e. whether a BrowserStack job must be started.
        """
        key = dataset_key(kind, filters)
        try:
            with self._tx() as tx:
                row = tx.execute(sa.select(datasets).where(datasets.c.key == key)).first()
                if row is not None:
                    existing = _dataset(row)
                    if existing.state is DatasetState.PENDING or existing.fresh(now):
                        return existing, False
                    tx.execute(sa.delete(datasets).where(datasets.c.key == key))
                tx.execute(
                    sa.insert(datasets).values(
                        key=key,
                        kind=kind.value,
                        start=filters.start,
                        end=filters.end,
                        product=filters.product.filter_value if filters.product else None,
                        state=DatasetState.PENDING.value,
                        polls=0,
                        created_at=now,
                        deadline_at=now + dt.timedelta(seconds=deadline),
                    )
                )
        except sa.exc.IntegrityError:
            # The same question asked at the same moment won the insert: share its dataset.
            return self.dataset(key), False  # type: ignore[return-value]
        with self._lock:
            self._reports.pop(key, None)
        return self.dataset(key), True  # type: ignore[return-value]

    def update_dataset(self, key: str, **values: Any) -> None:
        with self._tx() as tx:
            tx.execute(sa.update(datasets).where(datasets.c.key == key).values(**values))

    def finish_dataset(self, key: str, report: Report, *, now: dt.datetime, ttl: float) -> None:
        """Store the finished report; it answers new questions for ``ttl`` seconds."""
        blob = _report_encoder.encode(report)
        self.update_dataset(
            key,
            state=DatasetState.READY.value,
            report=blob,
            fetched_at=report.fetched_at,
            expires_at=now + dt.timedelta(seconds=ttl),
            error=None,
        )
        self._remember(key, report)

    def report(self, key: str) -> Report | None:
        """The dataset's report, from memory when recently used."""
        with self._lock:
            cached = self._reports.get(key)
            if cached is not None:
                self._reports.move_to_end(key)
                return cached
        with self._tx() as tx:
            blob = tx.execute(sa.select(datasets.c.report).where(datasets.c.key == key)).scalar()
        if blob is None:
            return None
        report = _report_decoder.decode(blob)
        self._remember(key, report)
        return report

    def _remember(self, key: str, report: Report) -> None:
        with self._lock:
            self._reports[key] = report
            self._reports.move_to_end(key)
            while len(self._reports) > self._cached_reports:
                self._reports.popitem(last=False)

    def abandon_dataset(self, key: str) -> bool:
        """Mark a pending dataset cancelled if, and only if, no request waits on it.

        One statement, so that a request joining at the same moment either counts here or, if
        it comes after, finds the dataset cancelled and starts a new one.
        """
        waiting = (
            sa.select(requests.c.id)
            .where(requests.c.dataset_key == key)
            .where(requests.c.state == RequestState.WAITING.value)
        )
        with self._tx() as tx:
            result = tx.execute(
                sa.update(datasets)
                .where(datasets.c.key == key)
                .where(datasets.c.state == DatasetState.PENDING.value)
                .where(~sa.exists(waiting))
                .values(state=DatasetState.CANCELLED.value)
            )
        return result.rowcount == 1

    def pending_datasets(self) -> list[Dataset]:
        with self._tx() as tx:
            rows = tx.execute(
                sa.select(datasets)
                .where(datasets.c.state == DatasetState.PENDING.value)
                .order_by(datasets.c.created_at)
            ).all()
        return [_dataset(row) for row in rows]

    def jobs_ahead(self, key: str) -> int:
        """Our own pending datasets created before this one: they share the account's queue."""
        with self._tx() as tx:
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

    # Requests

    def add_request(
        self,
        *,
        command: dict[str, Any],
        user_id: str,
        channel_id: str,
        team_id: str | None,
        response_url: str | None,
        thread_ts: str | None,
        now: dt.datetime,
        dataset_key: str | None = None,
        request_id: str | None = None,
        placeholder_ts: str | None = None,
        state: RequestState = RequestState.WAITING,
    ) -> PendingRequest:
        request_id = request_id or new_request_id()
        try:
            with self._tx() as tx:
                tx.execute(
                    sa.insert(requests).values(
                        id=request_id,
                        dataset_key=dataset_key,
                        command=json.dumps(command, sort_keys=True),
                        state=state.value,
                        user_id=user_id,
                        channel_id=channel_id,
                        team_id=team_id,
                        response_url=response_url,
                        response_url_uses=0,
                        thread_ts=thread_ts,
                        placeholder_ts=placeholder_ts,
                        created_at=now,
                    )
                )
        except sa.exc.IntegrityError:
            raise RequestExists(request_id) from None
        return self.request(request_id)  # type: ignore[return-value]

    def request(self, request_id: str) -> PendingRequest | None:
        with self._tx() as tx:
            row = tx.execute(sa.select(requests).where(requests.c.id == request_id)).first()
        return _request(row) if row else None

    def update_request(self, request_id: str, **values: Any) -> None:
        with self._tx() as tx:
            tx.execute(sa.update(requests).where(requests.c.id == request_id).values(**values))

    def waiting_requests(self, key: str) -> list[PendingRequest]:
        with self._tx() as tx:
            rows = tx.execute(
                sa.select(requests)
                .where(requests.c.dataset_key == key)
                .where(requests.c.state == RequestState.WAITING.value)
                .order_by(requests.c.created_at)
            ).all()
        return [_request(row) for row in rows]

    def claim(self, request_id: str, *, from_state: RequestState = RequestState.WAITING) -> bool:
        """Take a request for answering; False when someone else already did."""
        with self._tx() as tx:
            result = tx.execute(
                sa.update(requests)
                .where(requests.c.id == request_id)
                .where(requests.c.state == from_state.value)
                .values(state=RequestState.ANSWERING.value)
            )
        return result.rowcount == 1

    def mark(self, request_id: str, state: RequestState, *, now: dt.datetime) -> None:
        self.update_request(request_id, state=state.value, answered_at=now)

    def unfinished_answers(self) -> list[PendingRequest]:
        """Requests claimed but not marked answered: the process died while answering them."""
        with self._tx() as tx:
            rows = tx.execute(
                sa.select(requests).where(requests.c.state == RequestState.ANSWERING.value)
            ).all()
        return [_request(row) for row in rows]

    def open_requests(self) -> int:
        """Requests not yet answered: zero when the bot has nothing left to do."""
        open_states = (RequestState.WAITING.value, RequestState.ANSWERING.value)
        with self._tx() as tx:
            return tx.execute(
                sa.select(sa.func.count())
                .select_from(requests)
                .where(requests.c.state.in_(open_states))
            ).scalar_one()

    def use_response_url(self, request_id: str) -> int:
        """Count one use of the request's response_url (Slack allows 5); return the new count."""
        with self._tx() as tx:
            tx.execute(
                sa.update(requests)
                .where(requests.c.id == request_id)
                .values(response_url_uses=requests.c.response_url_uses + 1)
            )
            return tx.execute(
                sa.select(requests.c.response_url_uses).where(requests.c.id == request_id)
            ).scalar_one()

    # Slack events

    def first_time_seen(self, event_id: str, *, now: dt.datetime) -> bool:
        """Record an Events API event id; False when it was seen before (a Slack retry)."""
        try:
            with self._tx() as tx:
                tx.execute(sa.insert(slack_events).values(event_id=event_id, received_at=now))
        except sa.exc.IntegrityError:
            return False
        return True
