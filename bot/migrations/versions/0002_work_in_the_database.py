"""Work in the database: leases, due times and typed questions instead of APScheduler's jobs.

From round 1 to the schema of leased work (``bot/reports/store.py``): who is working
(``instances``) and holds which one-instance role (``roles``), when each dataset's next step is
due and who is taking it, and every request's question as a typed record
(``bot.reports.question.Question`` as JSON) instead of round 1's ``command`` dict; and
BrowserStack's request budget, shared by every process (``rate_budgets``, ``bot/budget.py``).
APScheduler's ``apscheduler_jobs`` goes: its poll jobs are now ``datasets.next_step_at``, and
the digest's schedule is read from the settings.

Every row is kept. Columns that become NOT NULL are added nullable, filled, then altered, so no
server default is left behind; SQLite alters a table by copying it (batch operations).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What a question may say, as of this revision (revisions never import the bot's code).
_VERBS = frozenset({"help", "team", "teams", "user", "me", "idle", "top", "digest"})
_PRODUCTS = frozenset({"live_testing", "automate", "app_live_testing", "app_automate"})
_DEFAULT_TOP = 10
_STATES = frozenset({"waiting", "answering", "answered", "cancelled"})
_OPEN = frozenset({"waiting", "answering"})
# The command dict's keys, as round 1 wrote them (bot/slack/answers.py, command_record).
_COMMAND_KEYS = (
    "verb",
    "target",
    "target_user_id",
    "product",
    "count",
    "thread",
    "public",
    "period_label",
    "describe",
    "source",
)

_datasets = sa.table(
    "datasets",
    sa.column("state", sa.String),
    sa.column("created_at", sa.DateTime),
    sa.column("next_step_at", sa.DateTime),
    sa.column("unanswered_creates", sa.Integer),
    sa.column("delete_job", sa.Boolean),
)
_requests = sa.table(
    "requests",
    sa.column("id", sa.String),
    sa.column("dataset_key", sa.String),
    sa.column("command", sa.Text),
    sa.column("question", sa.Text),
    sa.column("state", sa.String),
    sa.column("created_at", sa.DateTime),
    sa.column("details_posted", sa.Integer),
    sa.column("details_claimed", sa.Boolean),
    sa.column("attempts", sa.Integer),
)


def upgrade() -> None:
    """Round 1 to leased work: new columns and table, requests' commands made questions."""
    op.drop_table("apscheduler_jobs", if_exists=True)
    op.create_table(
        "instances",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("heartbeat_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_instances_heartbeat_at", "instances", ["heartbeat_at"])
    # Work one instance alone must do (the weekly digest), held like a lease.
    op.create_table(
        "roles",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("lease_owner", sa.String(40)),
        sa.Column("lease_until", sa.DateTime),
        sa.Column("since", sa.DateTime),
    )
    # BrowserStack's request budget, shared by every process (bot/budget.py).
    op.create_table(
        "rate_budgets",
        sa.Column("account", sa.String(200), primary_key=True),
        sa.Column("tokens", sa.Float, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    _upgrade_datasets()
    _upgrade_requests()


def _upgrade_datasets() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.add_column(sa.Column("error_kind", sa.String(20)))
        batch.add_column(sa.Column("next_step_at", sa.DateTime))
        batch.add_column(sa.Column("lease_owner", sa.String(40)))
        batch.add_column(sa.Column("lease_until", sa.DateTime))
        batch.add_column(sa.Column("unanswered_creates", sa.Integer))
        batch.add_column(sa.Column("delete_job", sa.Boolean))
    # Round 1 deleted a cancelled dataset's job there and then: none is left to delete.
    op.execute(sa.update(_datasets).values(unanswered_creates=0, delete_job=False))
    # Pending datasets lost their poll jobs with apscheduler_jobs: due since they were created,
    # they are polled at once (oldest first), whatever the clock of the process that runs next.
    op.execute(
        sa.update(_datasets)
        .where(_datasets.c.state == "pending")
        .values(next_step_at=_datasets.c.created_at)
    )
    with op.batch_alter_table("datasets") as batch:
        batch.alter_column("unanswered_creates", existing_type=sa.Integer, nullable=False)
        batch.alter_column("delete_job", existing_type=sa.Boolean, nullable=False)
        batch.create_index("ix_datasets_next_step_at", ["next_step_at"])


def _upgrade_requests() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("question", sa.Text))
        batch.add_column(sa.Column("shared_ts", sa.String(32)))
        batch.add_column(sa.Column("details_posted", sa.Integer))
        batch.add_column(sa.Column("details_claimed", sa.Boolean))
        batch.add_column(sa.Column("lease_owner", sa.String(40)))
        batch.add_column(sa.Column("lease_until", sa.DateTime))
        batch.add_column(sa.Column("attempts", sa.Integer))
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(
            _requests.c.id,
            _requests.c.dataset_key,
            _requests.c.command,
            _requests.c.state,
            _requests.c.created_at,
        )
    ).all()
    changes = [_converted(row) for row in rows]
    if changes:
        connection.execute(
            sa.update(_requests)
            .where(_requests.c.id == sa.bindparam("row_id"))
            .values(
                question=sa.bindparam("new_question"),
                dataset_key=sa.bindparam("new_key"),
                state=sa.bindparam("new_state"),
                attempts=sa.bindparam("new_attempts"),
            ),
            changes,
        )
    op.execute(sa.update(_requests).values(details_posted=0, details_claimed=False))
    with op.batch_alter_table("requests") as batch:
        batch.alter_column("dataset_key", existing_type=sa.String(120), nullable=False)
        batch.alter_column("question", existing_type=sa.Text, nullable=False)
        batch.alter_column("details_posted", existing_type=sa.Integer, nullable=False)
        batch.alter_column("details_claimed", existing_type=sa.Boolean, nullable=False)
        batch.alter_column("attempts", existing_type=sa.Integer, nullable=False)
        batch.drop_column("command")
        batch.create_index("ix_requests_state", ["state"])


def _converted(row: Any) -> dict[str, Any]:
    """One round-1 request's new question, dataset key, state and attempts."""
    try:
        command = json.loads(row.command)
    except (TypeError, ValueError):
        command = None
    if not isinstance(command, dict):
        command = {}
    period = _period(row.dataset_key)
    state = row.state if row.state in _STATES else "cancelled"
    verb = command.get("verb")
    if state in _OPEN and (period is None or verb not in _VERBS):
        # Nothing can answer it: no dataset, so no period (a Cancel click's tombstone, whose
        # command is {}, or a request stored just before a crash), or no question.
        state = "cancelled"
    # A question needs dates: a request that never had a period gets the day it came.
    start, end = period or (row.created_at.date(), row.created_at.date())
    count = command.get("count")
    product = command.get("product")
    question = {  # Question's fields in its order, as msgspec encodes them
        "verb": verb if verb in _VERBS else "help",
        "start": start.isoformat(),
        "end": end.isoformat(),
        "period_label": str(command.get("period_label") or ""),
        "describe": str(command.get("describe") or ""),
        "source": "mention" if command.get("source") == "mention" else "command",
        "target": command.get("target"),
        "target_user_id": command.get("target_user_id"),
        "product": product if product in _PRODUCTS else None,
        "count": count if isinstance(count, int) and not isinstance(count, bool) else _DEFAULT_TOP,
        "thread": bool(command.get("thread")),
        "public": bool(command.get("public")),
    }
    return {
        "row_id": row.id,
        "new_question": json.dumps(question, separators=(",", ":"), ensure_ascii=False),
        "new_key": row.dataset_key or "",
        "new_state": state,
        # As many claims as today's flow would have made: received, then claimed to answer.
        "new_attempts": 2 if state == "answering" else 1,
    }


def _period(key: str | None) -> tuple[dt.date, dt.date] | None:
    """The dates in a dataset key, ``kind:start:end:product``; None without a usable key."""
    parts = (key or "").split(":")
    if len(parts) != 4:
        return None
    try:
        return dt.date.fromisoformat(parts[1]), dt.date.fromisoformat(parts[2])
    except ValueError:
        return None


def downgrade() -> None:
    """Back to round 1: questions made command dicts again; the new columns and tables dropped."""
    # Received requests become waiting ones (round 1 had no such state); leases, due times,
    # ``instances``, ``roles`` and ``rate_budgets`` are lost; round 1's APScheduler makes its
    # table anew.
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("command", sa.Text))
        batch.alter_column("dataset_key", existing_type=sa.String(120), nullable=True)
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(_requests.c.id, _requests.c.question, _requests.c.state)
    ).all()
    changes = [_reverted(row) for row in rows]
    if changes:
        connection.execute(
            sa.update(_requests)
            .where(_requests.c.id == sa.bindparam("row_id"))
            .values(command=sa.bindparam("old_command"), state=sa.bindparam("old_state")),
            changes,
        )
    # Round 1 kept NULL for "no dataset".
    op.execute(sa.update(_requests).where(_requests.c.dataset_key == "").values(dataset_key=None))
    with op.batch_alter_table("requests") as batch:
        batch.drop_index("ix_requests_state")
        batch.alter_column("command", existing_type=sa.Text, nullable=False)
        for column in (
            "question",
            "shared_ts",
            "details_posted",
            "details_claimed",
            "lease_owner",
            "lease_until",
            "attempts",
        ):
            batch.drop_column(column)
    with op.batch_alter_table("datasets") as batch:
        batch.drop_index("ix_datasets_next_step_at")
        for column in (
            "error_kind",
            "next_step_at",
            "lease_owner",
            "lease_until",
            "unanswered_creates",
            "delete_job",
        ):
            batch.drop_column(column)
    op.drop_table("rate_budgets")
    op.drop_table("roles")
    op.drop_index("ix_instances_heartbeat_at", table_name="instances")
    op.drop_table("instances")


def _reverted(row: Any) -> dict[str, Any]:
    """One request's round-1 command dict (sorted keys, as round 1 wrote it) and state."""
    question = json.loads(row.question)
    command = {key: question.get(key) for key in _COMMAND_KEYS}
    return {
        "row_id": row.id,
        "old_command": json.dumps(command, sort_keys=True),
        "old_state": "waiting" if row.state == "received" else row.state,
    }
