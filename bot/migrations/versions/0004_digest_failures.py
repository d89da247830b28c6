"""Digest failures: why the last post of a week's digest failed, kept until it is posted.

``digest_history.error`` holds Slack's error ("not_in_channel") of a digest that could not be
posted (state ``failed``): the row stays so that every process waits an hour before trying again,
and ``/usage digest`` can say why the digest is missing. Existing rows have no error.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("digest_history") as batch:
        batch.add_column(sa.Column("error", sa.String(100)))


def downgrade() -> None:
    """Failed digests become released weeks (round 2 had no such state): the next run posts."""
    op.execute("DELETE FROM digest_history WHERE state = 'failed'")
    with op.batch_alter_table("digest_history") as batch:
        batch.drop_column("error")
