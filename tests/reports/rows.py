"""Dataset rows written straight into the database, as the work loop would have left them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from bot.browserstack.models import ReportFilters, ReportKind
from bot.reports.store import DatasetState, Store, datasets


def put_dataset(
    store: Store,
    key: str,
    filters: ReportFilters,
    state: DatasetState,
    *,
    created_at: dt.datetime,
    **values: Any,
) -> None:
    """A user-report dataset row in ``state``, created at ``created_at``, with ``values``."""
    with store.engine.begin() as tx:
        tx.execute(
            sa.insert(datasets).values(
                key=key,
                kind=ReportKind.USER.value,
                start=filters.start,
                end=filters.end,
                state=state.value,
                polls=3,
                created_at=created_at,
                deadline_at=created_at + dt.timedelta(minutes=15),
                unanswered_creates=0,
                **{"delete_job": False, **values},
            )
        )
