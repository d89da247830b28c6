"""Stored reports compressed: each ready dataset's ``report`` blob becomes zlib over its msgpack.

A 50,000-user report is 27.6 MB of msgpack and 2.2 MB compressed. The code reads both forms
(``bot.reports.store.decode_report`` tells them apart by the first byte: zlib's is 0x78, which
no msgpack map starts with); this revision compresses the blobs already stored, so that old
databases shrink too. The schema does not change. On SQLite the file itself is made
shrinkable (``auto_vacuum=INCREMENTAL``) by one VACUUM right after the upgrade, outside its
transaction (``bot.storage.open_database``): VACUUM cannot run inside one.

The downgrade decompresses them again: earlier releases read bare msgpack only.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As bot/reports/store.py compresses (revisions never import the bot's code).
_LEVEL = 6
_ZLIB_HEADER = b"\x78"

_datasets = sa.table(
    "datasets",
    sa.column("key", sa.String),
    sa.column("report", sa.LargeBinary),
)


def upgrade() -> None:
    _rewrite(lambda blob: blob if _compressed(blob) else zlib.compress(blob, _LEVEL))


def downgrade() -> None:
    _rewrite(lambda blob: zlib.decompress(blob) if _compressed(blob) else blob)


def _compressed(blob: bytes) -> bool:
    return blob[:1] == _ZLIB_HEADER


def _rewrite(change: Callable[[bytes], bytes]) -> None:
    """Apply ``change`` to every stored report, one at a time (each may be 30 MB)."""
    connection = op.get_bind()
    keys = connection.execute(
        sa.select(_datasets.c.key).where(_datasets.c.report.is_not(None))
    ).scalars()
    for key in list(keys):
        blob = bytes(
            connection.execute(
                sa.select(_datasets.c.report).where(_datasets.c.key == key)
            ).scalar_one()
        )
        changed = change(blob)
        if changed != blob:
            connection.execute(
                sa.update(_datasets).where(_datasets.c.key == key).values(report=changed)
            )
