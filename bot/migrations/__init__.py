"""Bring the database's schema up to date."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine


def upgrade(engine: Engine) -> None:
    """Create what is missing (every table the bot keeps is in ``bot.storage.metadata``)."""
    # Imported for their tables.
    import bot.digest.history
    import bot.reports.store  # noqa: F401
    from bot.storage import metadata

    try:
        metadata.create_all(engine)
    except (sa.exc.OperationalError, sa.exc.ProgrammingError):
        # Another process created a table between the check and the CREATE: look again.
        metadata.create_all(engine)
