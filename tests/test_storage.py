"""What ``bot.storage`` promises about SQLite: files that several processes open at once, and
writers that take turns."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.storage import create_engine, write


def test_a_connection_waits_for_the_first_writer_of_a_new_file_then_uses_wal(
    tmp_path: Path,
) -> None:
    """A new file is in rollback-journal mode until its first writer commits; SQLite refuses
    the switch to WAL meanwhile without waiting, so another process starting then must wait."""
    path = tmp_path / "new.sqlite"
    first = sqlite3.connect(path, isolation_level=None)
    first.execute("BEGIN IMMEDIATE")
    first.execute("CREATE TABLE t (x INTEGER)")
    engine = create_engine(f"sqlite:///{path}")
    modes: list[str] = []
    failures: list[BaseException] = []

    def connect() -> None:
        try:
            with engine.connect() as connection:
                modes.append(connection.exec_driver_sql("PRAGMA journal_mode").scalar_one())
        except BaseException as error:  # reported below
            failures.append(error)

    second = threading.Thread(target=connect)
    second.start()
    second.join(timeout=0.5)
    assert second.is_alive(), f"did not wait for the first writer: {failures}"
    first.execute("COMMIT")
    second.join(timeout=30)
    first.close()
    engine.dispose()
    assert failures == []
    assert modes == ["wal"]


def test_sqlite_writers_of_one_process_queue_for_their_turn(tmp_path: Path) -> None:
    """A writer waits on the process's turn, bounded by its timeout, and gets it as soon as the
    writer before it is done (bench/sqlite_writers.py measures what that does to a burst)."""
    engine = create_engine(f"sqlite:///{tmp_path / 'turns.sqlite'}")
    with write(engine) as tx:
        tx.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    inside, done = threading.Event(), threading.Event()

    def long_writer() -> None:
        with write(engine) as tx:
            tx.exec_driver_sql("INSERT INTO t VALUES (1)")
            inside.set()
            done.wait(timeout=30)

    first = threading.Thread(target=long_writer)
    first.start()
    assert inside.wait(timeout=30)
    # Its wait runs out: the error SQLite itself gives, which every caller treats as passing.
    with (
        pytest.raises(sa.exc.OperationalError, match="database is locked"),
        write(engine, timeout=0.05),
    ):
        pass
    done.set()
    with write(engine, timeout=30) as tx:  # the turn is handed over once the first is done
        tx.exec_driver_sql("INSERT INTO t VALUES (2)")
    first.join(timeout=30)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT x FROM t ORDER BY x").scalars().all() == [1, 2]
    engine.dispose()
