"""Reclaim reminders and release lists exactly once: a reminder's ts, a campaign "closing".

``reclaim_asks.reminder_ts`` holds the ts of a member's reminder, recorded after it is posted
(``reminded`` is set before): a reminder claimed with no ts had a sender that died in between,
so the DM's history is checked for it before it is posted again. Campaigns get a state
``closing`` (set before the release list is posted; the state column needs no change).
Existing reminded rows get no ts: a campaign still reminding checks their DMs first, as after a
crash.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reclaim_asks") as batch:
        batch.add_column(sa.Column("reminder_ts", sa.String(32)))


def downgrade() -> None:
    """A closing campaign goes back to reminded (0006 had no closing): it closes again."""
    op.execute("UPDATE reclaim_campaigns SET state = 'reminded' WHERE state = 'closing'")
    with op.batch_alter_table("reclaim_asks") as batch:
        batch.drop_column("reminder_ts")
