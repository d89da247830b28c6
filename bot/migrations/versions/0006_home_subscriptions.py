"""Subscriptions and the schedule's claims (issue 12: the Home tab, subscriptions and alerts).

``subscriptions``: standing orders for a report on a cadence, to a channel or a DM.
``schedule_claims``: one row per piece of scheduled work and period (a subscription's post of
one week, an alert of one week), inserted by whoever does it: it runs once across restarts and
replicas. Both are new; nothing existing changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.String(32), nullable=False, index=True),
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("team", sa.String(200)),
        sa.Column("cadence", sa.String(8), nullable=False),
        sa.Column("channel_id", sa.String(32)),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("removed_at", sa.DateTime),
    )
    op.create_table(
        "schedule_claims",
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("claimed_at", sa.DateTime, nullable=False),
        sa.Column("request_id", sa.String(32)),
    )


def downgrade() -> None:
    op.drop_table("schedule_claims")
    op.drop_table("subscriptions")
