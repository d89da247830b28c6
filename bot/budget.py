"""BrowserStack's request budget for one account, kept in ``DATABASE_URL``: one for every process.

BrowserStack counts requests per account (a burst of 5, then 15 a minute), whichever process
sends them. A budget in memory would let each process (``serve`` replicas, ``fetch``, ``digest``,
a process restarted a second after the last one spent the burst) believe it owns all of it, and
together they would meet 429s. So the bucket's state is a row in the bot's database, refilled
from the clock and taken in one transaction: every process draws from the same tokens.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.browserstack.ratelimit import Rate, with_margin
from bot.clock import Clock
from bot.redact import redact_url
from bot.settings import Settings
from bot.storage import UTCDateTime, metadata, write

rate_budgets = sa.Table(
    "rate_budgets",
    metadata,
    sa.Column("account", sa.String(200), primary_key=True),  # "host|username", no secrets
    sa.Column("tokens", sa.Float, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# A take waits at most this long for another writer's lock; then the caller tries again later.
LOCK_WAIT = 2.0


class SharedBudget:
    """A token bucket whose tokens live in the database (implements ``ratelimit.Budget``)."""

    def __init__(
        self,
        engine: Engine,
        *,
        account: str,
        burst: int,
        per_minute: float,
        clock: Clock,
    ) -> None:
        self.rate = Rate(burst, per_minute)
        self.engine = engine
        self.account = account
        self.clock = clock

    def take(self) -> float:
        """Take a token now (0.0), or the seconds until one is due (nothing taken)."""
        return self._update(take=True)

    def drain(self) -> None:
        """BrowserStack said 429: every process waits for tokens to refill from now."""
        self._update(drain=True)

    def tokens(self) -> float:
        """What is left now (for reports and tests)."""
        with write(self.engine, timeout=LOCK_WAIT) as tx:
            row = self._row(tx)
        return self.rate.burst if row is None else self._refilled(row.tokens, row.updated_at)

    def _refilled(self, tokens: float, updated_at: dt.datetime) -> float:
        return self.rate.refilled(tokens, (self.clock.now() - updated_at).total_seconds())

    def _row(self, tx: sa.Connection) -> sa.Row[tuple[float, dt.datetime]] | None:
        return tx.execute(
            sa.select(rate_budgets.c.tokens, rate_budgets.c.updated_at)
            .where(rate_budgets.c.account == self.account)
            .with_for_update()  # PostgreSQL: one taker at a time; SQLite: the write lock does it
        ).first()

    def _update(self, *, take: bool = False, drain: bool = False) -> float:
        now = self.clock.now()
        for _ in range(2):  # a first take may race another process's insert of the row
            try:
                with write(self.engine, timeout=LOCK_WAIT) as tx:
                    row = self._row(tx)
                    tokens = float(self.rate.burst) if row is None else self._refilled(*row)
                    if drain:
                        tokens = min(tokens, 0.0)
                    wait = 0.0
                    if take:
                        tokens, wait = self.rate.take(tokens)
                    # A clock behind the last taker's (another replica's) moves nothing back.
                    updated = now if row is None else max(now, row.updated_at)
                    values = {"tokens": tokens, "updated_at": updated}
                    if row is None:
                        tx.execute(sa.insert(rate_budgets).values(account=self.account, **values))
                    else:
                        tx.execute(
                            sa.update(rate_budgets)
                            .where(rate_budgets.c.account == self.account)
                            .values(**values)
                        )
                return wait
            except sa.exc.IntegrityError:
                continue
        raise RuntimeError("the budget row could not be created")  # pragma: no cover


def account_budget(settings: Settings, engine: Engine, *, clock: Clock) -> SharedBudget:
    """The budget of the configured account: BROWSERSTACK_RATE_* with a margin for jitter."""
    settings.require("browserstack")
    host = redact_url(settings.api_url)
    return SharedBudget(
        engine,
        account=f"{host}|{settings.browserstack_username}",
        burst=settings.browserstack_rate_burst,
        per_minute=with_margin(settings.browserstack_rate_per_minute),
        clock=clock,
    )
