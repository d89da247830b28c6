"""Who's who in Slack: the people that answers name, as mentions where Slack knows them.

Views take a ``People`` and ask it, per member shown, for the Slack user id of that member's
BrowserStack email. ``NOBODY`` knows no one, so everyone is named by name and email: the CLI, and
every public post (public answers, shared answers, the digest), since a mention in a channel
notifies that person and usage figures must not ping anyone by surprise. Private answers
(ephemeral, DMs) get a ``SlackPeople.for_answer()``.

``SlackPeople`` asks Slack's ``users.lookupByEmail`` (scope ``users:read.email``) and keeps every
answer in the bot's database (``slack_people``), shared by every process and replica: a member
found is remembered for ``FOUND_TTL``, an email Slack does not know (``users_not_found``) for
``NOT_FOUND_TTL``. Slack allows this method about 50 calls a minute (Tier 3): one answer makes at
most ``FRESH_LOOKUPS_PER_ANSWER`` fresh lookups, and all processes together draw them from one
budget in the database (``bot.budget.SharedBudget``, ``LOOKUP_RATE``); members past either are
named by name and email this time and found by later answers. A 429 is waited out and retried by
the Web client's retry handlers (``delivery.retry_handlers``); any other failure names the member
plainly, uncached.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import OrderedDict
from typing import Protocol

import sqlalchemy as sa
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from bot.budget import SharedBudget
from bot.clock import Clock
from bot.storage import UTCDateTime, metadata, read, write

log = logging.getLogger(__name__)

# What Slack said about an email: its member's user id, or NULL for "no member has it".
slack_people = sa.Table(
    "slack_people",
    metadata,
    sa.Column("email", sa.String(320), primary_key=True),  # lower-cased
    sa.Column("user_id", sa.String(32)),
    sa.Column("checked_at", UTCDateTime, nullable=False),
)

# A member's email rarely moves to another account: a week. Someone not (yet) in Slack may join:
# a day.
FOUND_TTL = dt.timedelta(days=7)
NOT_FOUND_TTL = dt.timedelta(days=1)
# Fresh users.lookupByEmail calls one answer may make, and the pace of all of them together
# (Tier 3: 50 a minute for the app in a workspace, with room for the odd burst).
FRESH_LOOKUPS_PER_ANSWER = 20
LOOKUP_BURST = 20
LOOKUPS_PER_MINUTE = 45.0
# The shared budget's row (``rate_budgets``): one per workspace the token belongs to.
LOOKUP_BUDGET = "slack|users.lookupByEmail"
# Database entries each process keeps in memory too (~150 bytes each).
KNOWN_IN_MEMORY = 4096
_CACHED = sa.select(slack_people.c.user_id, slack_people.c.checked_at).where(
    slack_people.c.email == sa.bindparam("email")
)


class People(Protocol):
    """Maps a BrowserStack member's email to their Slack user id, when they have one."""

    def user_id(self, email: str) -> str | None:
        """The workspace member with this email (None: not in Slack, or not looked up)."""
        ...


class Nobody:
    """Names everyone by name and email: for public posts (no surprise pings) and the CLI."""

    def user_id(self, email: str) -> str | None:
        return None


NOBODY = Nobody()


class SlackPeople:
    """The workspace's members by email, from ``users.lookupByEmail``, cached in the database."""

    def __init__(
        self,
        client: WebClient,
        engine: Engine,
        *,
        clock: Clock,
        fresh_lookups: int = FRESH_LOOKUPS_PER_ANSWER,
        budget: SharedBudget | None = None,
    ) -> None:
        self.client = client
        self.engine = engine
        self.clock = clock
        self.fresh_lookups = fresh_lookups
        self.budget = budget or SharedBudget(
            engine,
            account=LOOKUP_BUDGET,
            burst=LOOKUP_BURST,
            per_minute=LOOKUPS_PER_MINUTE,
            clock=clock,
        )
        # When the shared budget said its next token is due: until then no answer of this
        # process asks it again. Each ask is a write transaction, and a hundred answers at once
        # asking for every member they show would crowd out the acks' writes.
        self._spent_until = 0.0
        self._spent_lock = threading.Lock()
        # Entries read from the database, with their expiry: a private answer names up to a
        # few dozen members, each a read transaction otherwise.
        self._known: OrderedDict[str, tuple[str | None, dt.datetime]] = OrderedDict()
        self._known_lock = threading.Lock()

    def for_answer(self) -> AnswerPeople:
        """A People for one answer: cached answers, and at most ``fresh_lookups`` new ones."""
        return AnswerPeople(self, budget=self.fresh_lookups)

    def cached(self, email: str) -> tuple[bool, str | None]:
        """(known, user id) from the database: known while the entry is younger than its TTL."""
        now = self.clock.now()
        with self._known_lock:
            kept = self._known.get(email)
            if kept is not None and now < kept[1]:
                self._known.move_to_end(email)
                return True, kept[0]
        with read(self.engine) as tx:
            row = tx.execute(_CACHED, {"email": email}).first()
        if row is None:
            return False, None
        until = row.checked_at + (FOUND_TTL if row.user_id else NOT_FOUND_TTL)
        if now >= until:
            return False, None
        # Kept here until the entry expires: until then no process stores another for it
        # (``look_up`` only asks for unknown emails), so the database would say the same.
        with self._known_lock:
            self._known[email] = (row.user_id, until)
            while len(self._known) > KNOWN_IN_MEMORY:
                self._known.popitem(last=False)
        return True, row.user_id

    def look_up(self, email: str) -> tuple[bool, str | None]:
        """Ask Slack; (answered, user id). A definite answer is stored for every process.

        Not asked (False) when the shared budget has no lookup left just now.
        """
        with self._spent_lock:
            if time.monotonic() < self._spent_until:
                return False, None
        wait = self.budget.take()
        if wait > 0:
            with self._spent_lock:
                self._spent_until = max(self._spent_until, time.monotonic() + wait)
            return False, None
        try:
            user = self.client.users_lookupByEmail(email=email)["user"]
        except SlackApiError as error:
            code = error.response.get("error")
            if code == "ratelimited":
                self.budget.drain()  # still 429 after the retries: every process waits
            if code != "users_not_found":
                # Not an answer about this email (missing scope, still rate limited after the
                # retries): named plainly this time, asked again next time.
                log.warning("users.lookupByEmail failed: %s", code)
                return False, None
            user_id = None
        else:
            user_id = None if user.get("deleted") or user.get("is_bot") else user.get("id")
        self._remember(email, user_id)
        return True, user_id

    def _remember(self, email: str, user_id: str | None) -> None:
        """Store Slack's answer: one upsert, so two processes storing it at once both succeed."""
        values = {"email": email, "user_id": user_id, "checked_at": self.clock.now()}
        with write(self.engine) as tx:
            changes = {"user_id": user_id, "checked_at": values["checked_at"]}
            if tx.dialect.name == "postgresql":
                upsert = postgresql.insert(slack_people).values(**values)
                tx.execute(upsert.on_conflict_do_update(index_elements=["email"], set_=changes))
                return
            if tx.dialect.name == "sqlite":
                lite = sqlite.insert(slack_people).values(**values)
                tx.execute(lite.on_conflict_do_update(index_elements=["email"], set_=changes))
                return
            updated = tx.execute(
                sa.update(slack_people).where(slack_people.c.email == email).values(**values)
            )
            if updated.rowcount == 0:
                tx.execute(sa.insert(slack_people).values(**values))


class AnswerPeople:
    """The People of one answer: remembers what it found, spends a budget of fresh lookups."""

    def __init__(self, directory: SlackPeople, *, budget: int) -> None:
        self.directory = directory
        self.budget = budget
        self._seen: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def user_id(self, email: str) -> str | None:
        key = email.strip().lower()
        if not key or "@" not in key:
            return None
        with self._lock:
            if key in self._seen:
                return self._seen[key]
        known, user_id = self.directory.cached(key)
        if not known:
            with self._lock:
                spend = self.budget > 0
                self.budget -= 1 if spend else 0
            if not spend:
                return None  # named by name and email this time; a later answer looks them up
            known, user_id = self.directory.look_up(key)
            if not known:
                with self._lock:
                    self.budget = 0  # Slack's budget is spent: the rest by name this time
                return None
        with self._lock:
            self._seen[key] = user_id
        return user_id
