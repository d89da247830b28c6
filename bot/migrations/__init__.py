"""Bring the database's schema up to date: Alembic revisions, run from code (no alembic.ini).

``upgrade(engine)`` runs at every start (``bot.storage.open_database``) and behind
``python -m bot db upgrade``; ``current(engine)`` and ``head()`` say where a database stands.

A database is brought to the newest revision (*head*) whatever it holds:

- nothing of ours: the code's tables are made and stamped head (``test_migrations`` checks that
  running every revision from the first makes the same schema);
- round 1's tables (the first release made them with ``create_all``, before there were
  migrations) and no ``alembic_version``: stamped ``0001``, which is round 1's schema exactly,
  then upgraded;
- today's tables and no ``alembic_version`` (a development copy made by ``create_all`` before
  migrations came): stamped head if they match what the code declares, refused if not;
- an ``alembic_version``: upgraded from there.

Everything happens in one transaction, which holds the database's write lock on SQLite and an
advisory lock on PostgreSQL for its whole length: of two processes starting at once, one
upgrades and the other then finds nothing to do. On PostgreSQL and SQLite DDL is transactional,
so a failed upgrade leaves the database as it was. Other databases get no lock: start one
process first there.

A new revision: ``alembic.command.revision(config(), message="…", rev_id="0005")`` writes
``versions/0005_….py`` from ``script.py.mako``; with ``autogenerate=True`` (and a connection,
``config(connection)``) it drafts the operations from the difference with ``bot.storage.metadata``.
Revisions never import the bot's code: they must still run when that code has moved on.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Connection, Engine

from bot.storage import write

__all__ = [
    "ROUND_ONE",
    "MigrationError",
    "config",
    "current",
    "declared_metadata",
    "head",
    "upgrade",
]

log = logging.getLogger(__name__)

# The revision that is round 1's schema, which round-1 databases are stamped with.
ROUND_ONE = "0001"
_ROUND_ONE_TABLES = frozenset({"datasets", "requests", "slack_events", "digest_history"})
# How long a starting process waits for another one's upgrade: a big SQLite file's tables are
# copied by the batch operations, and that can take minutes.
LOCK_WAIT = 600.0
# Alembic keeps the running migration in module-level proxies (``alembic.op``, ``context``), so
# one upgrade at a time in a process, whatever the database.
_in_process = threading.Lock()


class MigrationError(Exception):
    """The database's schema cannot be brought up to date; the message says why."""


def config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for ``bot/migrations``; revisions run on ``connection``."""
    settings = Config()
    # A configparser value: a "%" in the path would be taken for interpolation.
    settings.set_main_option("script_location", str(Path(__file__).parent).replace("%", "%%"))
    settings.attributes["connection"] = connection
    return settings


@functools.cache
def _scripts() -> ScriptDirectory:
    """The revisions, read once per process (each is a Python file to load and run)."""
    return ScriptDirectory.from_config(config())


def head() -> str:
    """The newest revision: the schema this code needs."""
    newest = _scripts().get_current_head()
    assert newest is not None, "bot/migrations/versions holds no revision"
    return newest


def current(engine: Engine) -> str | None:
    """The revision the database is at; None when it has none (empty, or round 1 unstamped)."""
    with engine.connect() as connection, connection.begin():
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Bring the database to head (see the module's docstring); MigrationError if it cannot."""
    with write(engine, timeout=LOCK_WAIT) as connection:
        if connection.dialect.name == "postgresql":
            # Held until commit; per schema, so that databases in other schemas do not wait.
            connection.exec_driver_sql(
                "SELECT pg_advisory_xact_lock("
                "hashtext('usagebot migrations ' || coalesce(current_schema(), '')))"
            )
        # Taken under the database's lock, never while waiting for it: no deadlock.
        with _in_process:
            _upgrade(connection)


def _upgrade(connection: Connection) -> None:
    settings = config(connection)
    before = MigrationContext.configure(connection).get_current_revision()
    if before == head():
        return  # every start but the first after a release: nothing to read, nothing to run
    try:
        if before is None:
            _adopt(connection, settings)
        _run(connection, settings, lambda revision, _: _scripts()._upgrade_revs("head", revision))
    except CommandError as error:
        # E.g. a revision this code does not know: a newer release upgraded the database.
        raise MigrationError(
            f"{error}; is the database from a newer version of usagebot?"
        ) from None
    after = MigrationContext.configure(connection).get_current_revision()
    if after != before:
        log.info("database schema upgraded from %s to %s", before or "nothing", after)


def _run(
    connection: Connection,
    settings: Config,
    steps: Callable[[Any, MigrationContext], list[Any]],  # (the current heads, the context)
) -> None:
    """What ``alembic.command.upgrade`` and ``stamp`` do, with this process's one copy of the
    revisions, and what ``env.py`` does, inline: on ``connection``, in its transaction.

    ``steps`` is the function the commands pass (``ScriptDirectory._upgrade_revs`` or
    ``_stamp_revs``): private to Alembic, which is pinned; the migration tests run this path.
    """
    with EnvironmentContext(settings, _scripts(), fn=steps) as environment:
        environment.configure(
            connection=connection, target_metadata=declared_metadata(), render_as_batch=True
        )
        with environment.begin_transaction():
            environment.run_migrations()


def _adopt(connection: Connection, settings: Config) -> None:
    """Stamp a database whose tables were made by ``create_all``, before there were migrations."""
    inspector = sa.inspect(connection)
    tables = set(inspector.get_table_names())
    if not tables & _ROUND_ONE_TABLES:
        # Nothing of ours: the code's tables, stamped head, as Alembic's cookbook builds a new
        # database. Running every revision would make the same tables (a test compares them)
        # ten times slower, copying tables for SQLite's sake that hold nothing yet.
        declared_metadata().create_all(connection)
        _run(connection, settings, lambda revision, _: _scripts()._stamp_revs("head", revision))
        return
    columns = (
        {column["name"] for column in inspector.get_columns("requests")}
        if "requests" in tables
        else set()
    )
    if tables >= _ROUND_ONE_TABLES and "command" in columns:
        log.info("database made by round 1 (no migrations then): stamping %s", ROUND_ONE)
        _run(connection, settings, lambda revision, _: _scripts()._stamp_revs(ROUND_ONE, revision))
        return
    if "question" in columns:
        differences = _differences(connection)
        if not differences:
            log.info("database made before migrations with today's schema: stamping head")
            _run(connection, settings, lambda revision, _: _scripts()._stamp_revs("head", revision))
            return
        raise MigrationError(
            "its tables were made by a development version of usagebot, before migrations, and "
            f"differ from today's ({len(differences)} differences, e.g. {differences[0]}); "
            "start on an empty database"
        )
    found = ", ".join(sorted(tables & _ROUND_ONE_TABLES))
    raise MigrationError(f"it holds tables of usagebot's ({found}) but not those of any release")


def _differences(connection: Connection) -> list[object]:
    """How the database's tables differ from the code's (other tables in it are not ours)."""
    metadata = declared_metadata()

    def ours(name: str | None, kind: str, _parent: object) -> bool:
        return kind != "table" or name in metadata.tables

    context = MigrationContext.configure(connection, opts={"include_name": ours})
    return list(compare_metadata(context, metadata))


def declared_metadata() -> sa.MetaData:
    """Every table the code declares (importing their modules declares them)."""
    import bot.budget
    import bot.digest.history
    import bot.home.store
    import bot.reclaim.store
    import bot.reports.durations
    import bot.reports.store
    import bot.slack.people  # noqa: F401
    from bot.storage import metadata

    return metadata
