"""Reclaim campaigns: admins ask idle members whether they still need their seats.

``reclaim_campaigns`` holds one campaign each (its admins' thread, deadline, state);
``reclaim_asks`` one row per member asked, claimed with a lease before its DM is sent and its
ts recorded right after, so that a restart never repeats or loses a DM.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reclaim_campaigns",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("started_by", sa.String(32), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("deadline", sa.DateTime, nullable=False),
        sa.Column("remind_at", sa.DateTime, nullable=False),
        sa.Column("period", sa.String(40), nullable=False),
        sa.Column("products", sa.String(120), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("thread_ts", sa.String(32)),
        sa.Column("tally_ts", sa.String(32)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("release_ts", sa.String(32)),
        sa.Column("lease_owner", sa.String(40)),
        sa.Column("lease_until", sa.DateTime),
        sa.Column("tally_dirty", sa.Boolean, nullable=False),
    )
    op.create_table(
        "reclaim_asks",
        sa.Column("campaign_id", sa.String(36), primary_key=True),
        sa.Column("email", sa.String(320), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("products", sa.String(120), nullable=False),
        sa.Column("last_test", sa.DateTime),
        sa.Column("monthly", sa.Float, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("user_id", sa.String(32)),
        sa.Column("dm_channel", sa.String(32)),
        sa.Column("dm_ts", sa.String(32)),
        sa.Column("error", sa.String(100)),
        sa.Column("choice", sa.String(16)),
        sa.Column("answered_at", sa.DateTime),
        sa.Column("reminded", sa.Boolean, nullable=False),
        sa.Column("done", sa.Boolean, nullable=False),
        sa.Column("reclaimed", sa.String(120)),
        sa.Column("lease_owner", sa.String(40)),
        sa.Column("lease_until", sa.DateTime),
    )


def downgrade() -> None:
    op.drop_table("reclaim_asks")
    op.drop_table("reclaim_campaigns")
