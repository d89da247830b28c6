"""Round 1: the schema the first release made with ``create_all``, before there were migrations.

Exactly its tables (``bot/reports/store.py`` and ``bot/digest/history.py`` of that release), so
that a round-1 database is stamped with this revision and upgraded from here. Not
``apscheduler_jobs``: APScheduler made that one itself, and revision 0002 drops it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create round 1's four tables; times are naive UTC (``DateTime``), as then."""
    op.create_table(
        "datasets",
        sa.Column("key", sa.String(120), primary_key=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("start", sa.Date, nullable=False),
        sa.Column("end", sa.Date, nullable=False),
        sa.Column("product", sa.String(20)),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("job_id", sa.String(64)),
        sa.Column("job_status", sa.String(40)),
        sa.Column("polls", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("deadline_at", sa.DateTime, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("report", sa.LargeBinary),
        sa.Column("fetched_at", sa.DateTime),
        sa.Column("expires_at", sa.DateTime),
    )
    op.create_table(
        "requests",
        sa.Column("id", sa.String(32), primary_key=True),
        # NULL until the request joined its dataset; a Cancel tombstone never did.
        sa.Column("dataset_key", sa.String(120)),
        sa.Column("command", sa.Text, nullable=False),  # a JSON dict
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("channel_id", sa.String(32), nullable=False),
        sa.Column("team_id", sa.String(32)),
        sa.Column("response_url", sa.Text),
        sa.Column("response_url_uses", sa.Integer, nullable=False),
        sa.Column("thread_ts", sa.String(32)),
        sa.Column("placeholder_ts", sa.String(32)),
        sa.Column("last_status", sa.String(80)),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("answered_at", sa.DateTime),
    )
    op.create_index("ix_requests_dataset_key", "requests", ["dataset_key"])
    op.create_table(
        "slack_events",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("received_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "digest_history",
        sa.Column("week", sa.String(10), primary_key=True),
        sa.Column("channel", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("late", sa.Boolean, nullable=False),
        sa.Column("claimed_at", sa.DateTime, nullable=False),
        sa.Column("posted_at", sa.DateTime),
        sa.Column("message_ts", sa.String(32)),
        sa.Column("snapshot", sa.LargeBinary),
    )


def downgrade() -> None:
    """Drop round 1's tables, and everything in them."""
    op.drop_table("digest_history")
    op.drop_table("slack_events")
    op.drop_index("ix_requests_dataset_key", table_name="requests")
    op.drop_table("requests")
    op.drop_table("datasets")
