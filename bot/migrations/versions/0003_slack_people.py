"""Slack people: what ``users.lookupByEmail`` said about each member's email, for every process.

``bot/slack/people.py`` names members as Slack mentions in private answers; Slack's answers are
kept here (a user id, or NULL for "no member has this email") with the time they were given, so
that replicas share them and Slack's rate limits are spent once per email and TTL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "slack_people",
        sa.Column("email", sa.String(320), primary_key=True),
        sa.Column("user_id", sa.String(32)),
        sa.Column("checked_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("slack_people")
