"""The database behind ``DATABASE_URL``: engine, schema, transactions, and what can go wrong.

SQLite is the embedded default; any database SQLAlchemy speaks works, PostgreSQL being what real
installs use (``postgresql+psycopg://…``). Every table the bot keeps is in ``metadata``; the
schema is brought up to date by ``open_database`` (Alembic migrations, ``bot/migrations``).

Transactions go through ``read`` and ``write``. On SQLite a write begins ``IMMEDIATE``: it waits
its turn for the single writer's lock (``busy_timeout``) instead of failing with "database is
locked" half-way, which a deferred transaction that reads before writing would. ``timeout``
bounds that wait (and PostgreSQL's lock waits) where a caller cannot wait long: the ack path.
Within one process, SQLite's writers also queue on a lock of ours first: SQLite's own wait polls
with sleeps of up to 100 ms, so under a burst (a hundred commands at once) an unlucky writer
could lose every round for seconds while others got in, and an ack gave up; a lock hands the
turn over as soon as it is free. Other processes on the same file still meet ``busy_timeout``.

SQLite checkpoints its WAL (copies the committed pages home) inside the commit that crosses a
threshold, and here that commit still held our writers' lock: every writer of the process, the
acks included, waited 10-25 ms behind it, once every hundred answers or so. The checkpoints run
on a short-lived thread of their own instead (``_Checkpoints``), after a write has left its turn;
SQLite's own stays, at a higher threshold, as a safety net.

Deleting rows does not shrink a SQLite file by itself: SQLite keeps the freed pages for later
writes. Files are made with ``auto_vacuum=INCREMENTAL`` (an older file is rewritten once, by
``open_database``), and ``release_space`` hands the free pages back after a deletion; PostgreSQL
reuses the space of deleted rows once they are vacuumed, which ``release_space`` asks for too.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import platformdirs
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

metadata = sa.MetaData()

# How long a write waits for another writer's lock, unless the caller says otherwise.
DEFAULT_LOCK_WAIT = 30.0
# Errors that pass: a lock held by another process, a dropped connection, a restarting server.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    sa.exc.DisconnectionError,
)


class StorageError(Exception):
    """The database cannot be used; the message names ``DATABASE_URL`` and the cause."""


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, whatever the database keeps."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


def default_database_url() -> str:
    """The SQLite file used when ``DATABASE_URL`` is unset: in the user's data folder."""
    folder = Path(platformdirs.user_data_dir("usagebot", appauthor=False))
    return f"sqlite:///{folder / 'usagebot.sqlite'}"


def safe_url(url: str) -> str:
    """``url`` fit for a message or a log line: any password replaced by ``***``."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(not a database URL)"


def create_engine(url: str) -> Engine:
    """An engine for ``url``; raise StorageError when the URL or its driver is unusable."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise StorageError(
            "DATABASE_URL is not a database URL; use e.g. sqlite:///path/to/usagebot.sqlite "
            "or postgresql+psycopg://user@host/dbname"
        ) from None
    try:
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_engine(parsed)
        return sa.create_engine(parsed, pool_pre_ping=True)
    except (ImportError, sa.exc.NoSuchModuleError) as error:
        raise StorageError(
            f"DATABASE_URL ({safe_url(url)}) needs a database driver that is not installed: {error}"
        ) from None


# One writer at a time per SQLite engine, in this process (see the module's docstring).
_writers: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
# ``PRAGMA auto_vacuum``'s value for INCREMENTAL.
_INCREMENTAL = 2
# Bytes of WAL file kept after a checkpoint: what 1,000 pages take.
_WAL_LIMIT = 4 * 1024 * 1024
# SQLite's own checkpoint in a commit, only should ours fall behind (its default: 1,000 pages).
_SAFETY_NET_PAGES = 10_000
# Ours, in the background: after this many writes, or the first write this long after the last.
CHECKPOINT_WRITES = 300
CHECKPOINT_SECONDS = 1.0
# How long giving space back waits for the write lock (and, on SQLite, for readers to move
# past the WAL): it runs on the work loop's schedule, and comes again if it gives up.
SPACE_WAIT = 2.0


class _Checkpoints:
    """Checkpoints of one SQLite engine's WAL, each on a thread of its own, after writes."""

    def __init__(self, engine: Engine) -> None:
        self._engine = weakref.ref(engine)  # the engine owns this, not the other way round
        self._lock = threading.Lock()
        self._writes = 0
        self._last = time.monotonic()
        self._thread: threading.Thread | None = None
        self.done = 0

    def wrote(self) -> None:
        """Count a write; start a checkpoint when one is due and none is running."""
        with self._lock:
            self._writes += 1
            now = time.monotonic()
            if self._writes < CHECKPOINT_WRITES and now - self._last < CHECKPOINT_SECONDS:
                return
            if self._thread is not None and self._thread.is_alive():
                return
            self._writes, self._last = 0, now
            self._thread = threading.Thread(target=self._run, name="checkpoint", daemon=True)
            self._thread.start()

    def wait(self, timeout: float | None = None) -> None:
        """Until the checkpoint running now (if any) has ended."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        engine = self._engine()
        if engine is None:
            return
        try:
            # PASSIVE: copies what no reader still needs, never waits for a reader or a writer,
            # and writers go on appending to the WAL meanwhile.
            with _bare(engine, 0) as sqlite:
                sqlite.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.done += 1
        except (sa.exc.SQLAlchemyError, sqlite3.Error) as error:
            # The next one, or SQLite's own, copies these pages too.
            log.info("WAL checkpoint skipped (%s)", _cause(error))


_checkpoints: weakref.WeakKeyDictionary[Engine, _Checkpoints] = weakref.WeakKeyDictionary()


def _sqlite_engine(url: sa.engine.URL) -> Engine:
    engine = sa.create_engine(url, connect_args={"check_same_thread": False})
    _writers[engine] = threading.Lock()
    _checkpoints[engine] = _Checkpoints(engine)

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # We begin transactions ourselves (below), so pysqlite must not.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # Only takes effect on a new file, before its first table, and only if set before
        # journal_mode (which writes the file's header): freed pages can then be handed back
        # to the file system (``release_space``). No-op on a file that exists.
        cursor.execute(f"PRAGMA auto_vacuum={_INCREMENTAL}")
        # WAL lets readers go on while a poll writes a report; NORMAL syncs at checkpoints,
        # which survives a killed process (only a power cut can lose the last commits).
        _turn_to_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        # The WAL file keeps the size of its biggest transaction unless told otherwise (a
        # stored report, a VACUUM): back to this after each checkpoint.
        cursor.execute(f"PRAGMA journal_size_limit={_WAL_LIMIT}")
        # Checkpoints run in the background (``_Checkpoints``); SQLite's own is a safety net.
        cursor.execute(f"PRAGMA wal_autocheckpoint={_SAFETY_NET_PAGES}")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        wait = options.get("usagebot_lock_wait") or DEFAULT_LOCK_WAIT
        # Straight to sqlite3 (it cannot fail): through SQLAlchemy, it costs more than most
        # statements of a transaction, and every cached answer takes a dozen transactions.
        sqlite = connection.connection.dbapi_connection
        assert sqlite is not None
        sqlite.cursor().execute(f"PRAGMA busy_timeout={int(wait * 1000)}")
        # Through SQLAlchemy: "database is locked" must come as its OperationalError.
        connection.exec_driver_sql("BEGIN IMMEDIATE" if options.get("usagebot_write") else "BEGIN")

    return engine


def _turn_to_wal(cursor: Any) -> None:
    """``PRAGMA journal_mode=WAL``, waiting as a write would while another process holds the file.

    A brand-new file is still in rollback-journal mode during the first writer's transaction,
    and SQLite refuses the switch at once ("database is locked") without its busy wait: so any
    process that connects while another makes the schema would fail to start.
    """
    deadline = time.monotonic() + DEFAULT_LOCK_WAIT
    pause = 0.02
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(2 * pause, 0.5)


def release_space(engine: Engine, *tables: str) -> None:
    """Give the space of deleted rows back: to the file system on SQLite (the file shrinks),
    to new rows of ``tables`` on PostgreSQL (``VACUUM``, which autovacuum would do only after
    many more deletions). Logged and left to the next call when the database is busy."""
    try:
        if engine.dialect.name == "sqlite":
            with _writer_turn(engine, SPACE_WAIT), _bare(engine, SPACE_WAIT) as sqlite:
                # A checkpoint of ours still running (no new one starts: writers wait for this
                # turn) would leave the WAL file as long as it was: TRUNCATE gives up beside it.
                _checkpoints[engine].wait(SPACE_WAIT)
                # executescript steps the pragma to its end: a plain execute frees one page.
                # The checkpoint then copies the moved pages home and empties the WAL file.
                sqlite.executescript("PRAGMA incremental_vacuum; PRAGMA wal_checkpoint(TRUNCATE);")
        elif engine.dialect.name == "postgresql" and tables:
            with engine.connect() as connection:
                # VACUUM cannot run inside a transaction.
                connection = connection.execution_options(isolation_level="AUTOCOMMIT")
                connection.exec_driver_sql(f"SET lock_timeout = {int(SPACE_WAIT * 1000)}")
                for table in tables:
                    connection.exec_driver_sql(f'VACUUM "{table}"')
    except (sa.exc.SQLAlchemyError, sqlite3.Error) as error:
        # Best effort: the rows are gone already, and the next call frees their space too.
        log.info("space of deleted rows not given back yet (%s)", _cause(error))


@contextmanager
def _bare(engine: Engine, wait: float) -> Iterator[sqlite3.Connection]:
    """The sqlite3 connection under a pooled one, outside any transaction (VACUUM and the
    vacuum pragmas refuse to run in one), waiting ``wait`` seconds for locks."""
    pooled = engine.raw_connection()
    try:
        connection = pooled.driver_connection
        assert isinstance(connection, sqlite3.Connection)
        connection.execute(f"PRAGMA busy_timeout={int(wait * 1000)}")
        yield connection
    finally:
        pooled.close()


def _make_shrinkable(engine: Engine) -> None:
    """Turn a SQLite file made before ``auto_vacuum=INCREMENTAL`` to it: one VACUUM, which
    rewrites the file (a big one takes a while, once, at the first start of this release).

    Not a reason to refuse to start: a file that cannot be rewritten now (locked by another
    process, no disk space for the copy) works as before, and the next start tries again.
    """
    if engine.dialect.name != "sqlite":
        return
    try:
        with _writer_turn(engine, DEFAULT_LOCK_WAIT), _bare(engine, DEFAULT_LOCK_WAIT) as sqlite:
            if sqlite.execute("PRAGMA auto_vacuum").fetchone()[0] == _INCREMENTAL:
                return
            log.info("rewriting the SQLite file once, so that it shrinks when rows are deleted")
            sqlite.execute(f"PRAGMA auto_vacuum={_INCREMENTAL}")
            sqlite.execute("VACUUM")
            sqlite.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except (sa.exc.OperationalError, sqlite3.OperationalError) as error:
        log.warning(
            "the SQLite file could not be rewritten to shrink when rows are deleted (%s); "
            "it works as before, and the next start tries again",
            _cause(error),
        )


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction."""
    with engine.connect() as connection, connection.begin():
        yield connection


@contextmanager
def write(engine: Engine, *, timeout: float | None = None) -> Iterator[Connection]:
    """A write transaction that waits at most ``timeout`` seconds for other writers' locks."""
    deadline = None if timeout is None else time.monotonic() + timeout
    with _writer_turn(engine, timeout), engine.connect() as connection:
        # What is left of ``timeout`` after our turn came: the whole wait stays within it.
        left = None if deadline is None else max(0.001, deadline - time.monotonic())
        connection.execution_options(usagebot_write=True, usagebot_lock_wait=left)
        with connection.begin():
            if left is not None and engine.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SET LOCAL lock_timeout = {max(1, int(left * 1000))}")
            yield connection
    # Committed, and out of the writers' turn: a checkpoint now holds none of them up.
    checkpoints = _checkpoints.get(engine)
    if checkpoints is not None:
        checkpoints.wrote()


def serialise(tx: Connection, name: str) -> None:
    """Until ``tx`` ends, others calling this with ``name`` wait: for read-then-write steps.

    SQLite's write transactions run one at a time already (``BEGIN IMMEDIATE``). PostgreSQL's
    run at once: two replicas asked for the same new report (or to start a campaign when none
    is running) would both find no row and both insert one. A transaction-scoped advisory lock
    on the name orders them.
    """
    if tx.dialect.name == "postgresql":
        tx.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(name))))


@contextmanager
def _writer_turn(engine: Engine, timeout: float | None) -> Iterator[None]:
    """This process's turn to write on a SQLite engine (nothing to wait for on other databases)."""
    turn = _writers.get(engine)
    if turn is None:
        yield
        return
    if not turn.acquire(timeout=DEFAULT_LOCK_WAIT if timeout is None else timeout):
        # What SQLite itself says when its wait runs out: callers already handle it as passing.
        locked = sqlite3.OperationalError("database is locked")
        raise sa.exc.OperationalError("BEGIN IMMEDIATE", None, locked)
    try:
        yield
    finally:
        turn.release()


def open_database(url: str) -> Engine:
    """An engine on ``url`` with the schema up to date; StorageError naming the cause if not."""
    # Here, not at the top: Alembic is only loaded by what opens the database.
    from bot.migrations import MigrationError, upgrade

    engine = create_engine(url)
    try:
        if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
            Path(engine.url.database).parent.mkdir(parents=True, exist_ok=True)
        upgrade(engine)
        _make_shrinkable(engine)
    except (sa.exc.SQLAlchemyError, OSError, MigrationError) as error:
        engine.dispose()
        raise unusable(url, error) from None
    return engine


def unusable(url: str, error: BaseException) -> StorageError:
    """The one-line error for a database that cannot be used, in the database's own words."""
    return StorageError(f"DATABASE_URL ({safe_url(url)}) cannot be used: {_cause(error)}")


def _cause(error: BaseException) -> str:
    """The database's own words, on one line, without SQLAlchemy's links and statement dumps."""
    original = getattr(error, "orig", None) or error
    text = " ".join(str(original).split())
    return text.split(" (Background on this error")[0][:300]
