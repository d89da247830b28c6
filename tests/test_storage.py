"""What ``bot.storage`` promises about SQLite files that several processes open at once."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from bot.storage import create_engine


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
