"""Job durations: what recent report jobs took, for the learned poll schedule (issue 9).

``job_durations`` holds one row per BrowserStack job the work loop created: kind, period length,
creation time, the last status check that saw it running and the first that saw it done. New;
nothing existing changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_durations",
        sa.Column("job_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("days", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("running_at", sa.DateTime),
        sa.Column("done_at", sa.DateTime),
    )
    op.create_index("ix_job_durations_created_at", "job_durations", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_job_durations_created_at", table_name="job_durations")
    op.drop_table("job_durations")
