"""${message}

Revision ${up_revision}, after ${down_revision | comma,n}; written ${create_date}.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}
revision: str = ${repr(up_revision)}
down_revision: str | Sequence[str] | None = ${repr(down_revision)}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}


def upgrade() -> None:
    """From ${down_revision | comma,n} to ${up_revision}: keep every row (batch operations for SQLite)."""
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    """Back to ${down_revision | comma,n}."""
    ${downgrades if downgrades else "pass"}
