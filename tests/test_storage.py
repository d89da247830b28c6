"""What ``bot.storage`` promises about SQLite: files that several processes open at once, and
writers that take turns."""

from __future__ import annotations

import os
import sqlite3
import struct
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot import storage
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


def wal_frames(database: Path) -> tuple[int, int]:
    """(frames in the WAL, frames already copied home), as the WAL index in the ``-shm`` file
    says: ``mxFrame`` at byte 16, ``nBackfill`` at byte 96, in the machine's byte order
    (https://www.sqlite.org/walformat.html)."""
    index = database.with_name(database.name + "-shm").read_bytes()
    return struct.unpack_from("=I", index, 16)[0], struct.unpack_from("=I", index, 96)[0]


def test_sqlite_checkpoints_the_wal_in_the_background_not_in_a_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint inside a commit held up every other writer of the process (the acks).

    The writes are small enough that SQLite's own checkpoint (the safety net) stays out of it.
    """
    monkeypatch.setattr(storage, "CHECKPOINT_SECONDS", 3600.0)  # by count only, here
    database = tmp_path / "wal.sqlite"
    engine = create_engine(f"sqlite:///{database}")
    checkpoints = storage._checkpoints[engine]
    with write(engine) as tx:
        tx.exec_driver_sql("CREATE TABLE t (x BLOB)")

    def writes(count: int) -> None:
        for _ in range(count):
            with write(engine) as tx:  # some 5 pages each
                tx.exec_driver_sql("INSERT INTO t VALUES (?)", (os.urandom(20_000),))

    writes(storage.CHECKPOINT_WRITES - 2)
    frames, copied = wal_frames(database)
    # Past SQLite's default threshold (1,000 pages), and no commit copied any of it home.
    assert 1_000 < frames < storage._SAFETY_NET_PAGES
    assert (copied, checkpoints.done) == (0, 0)
    writes(1)  # the CHECKPOINT_WRITES-th write starts one, on its own thread
    checkpoints.wait(timeout=30)
    frames, copied = wal_frames(database)
    assert checkpoints.done == 1
    assert copied == frames > 1_000
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT count(*) FROM t").scalar()
    assert rows == storage.CHECKPOINT_WRITES - 1
    engine.dispose()


def test_giving_space_back_waits_for_a_checkpoint_running_in_the_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beside a running checkpoint, the WAL file would keep its length (bench/storage.py saw a
    stored report's worth, 3.3 MB, left over on most days)."""
    monkeypatch.setattr(storage, "CHECKPOINT_SECONDS", 3600.0)
    database = tmp_path / "space.sqlite"
    engine = create_engine(f"sqlite:///{database}")
    with write(engine) as tx:
        tx.exec_driver_sql("CREATE TABLE t (x BLOB)")
    for _ in range(36):  # ~9,000 pages in the WAL, under SQLite's own threshold
        with write(engine) as tx:
            tx.exec_driver_sql("INSERT INTO t VALUES (?)", (os.urandom(1_000_000),))
    monkeypatch.setattr(storage, "CHECKPOINT_WRITES", 1)
    with write(engine) as tx:  # starts a checkpoint of all that, on its own thread
        tx.exec_driver_sql("INSERT INTO t VALUES (1)")
    storage.release_space(engine, "t")
    assert database.with_name(database.name + "-wal").stat().st_size == 0
    assert storage._checkpoints[engine].done == 1
    engine.dispose()
