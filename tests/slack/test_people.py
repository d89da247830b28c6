"""SlackPeople against the Slack stand-in and a real database: who answers may name as mentions.

Each test runs on SQLite and on PostgreSQL (``database_url``): the cache is a table that every
process and replica shares, so two ``SlackPeople`` on one database stand for two replicas.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from slack_sdk import WebClient
from sqlalchemy.engine import Engine

from bot.budget import SharedBudget
from bot.clock import ManualClock, ShiftedClock
from bot.reports.store import Store
from bot.slack.delivery import SlackDelivery, retry_handlers
from bot.slack.people import (
    FOUND_TTL,
    FRESH_LOOKUPS_PER_ANSWER,
    LOOKUP_BUDGET,
    NOBODY,
    NOT_FOUND_TTL,
    AnswerPeople,
    SlackPeople,
    slack_people,
)
from bot.slack.standin import SlackStandIn
from bot.stack import BOT_TOKEN
from bot.storage import open_database
from tests.slack.harness import ANA, BEN, PEOPLE

STEVE = "steve@example.com"  # Ana's Slack email
LOOKUP = "users.lookupByEmail"


@pytest.fixture
def still(clock: ShiftedClock) -> ManualClock:
    return ManualClock(clock.now())


@pytest.fixture
def standin(still: ManualClock) -> Iterator[SlackStandIn]:
    with SlackStandIn(bot_token=BOT_TOKEN, users=PEOPLE, clock=still) as server:
        yield server


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_database(database_url)
    yield engine
    engine.dispose()


def directory(
    standin: SlackStandIn,
    engine: Engine,
    clock: ManualClock,
    *,
    fresh_lookups: int = FRESH_LOOKUPS_PER_ANSWER,
    budget: SharedBudget | None = None,
) -> SlackPeople:
    """One process's SlackPeople: its own Web client, the shared database."""
    client = WebClient(
        token=BOT_TOKEN, base_url=standin.api_url, retry_handlers=retry_handlers(), timeout=5
    )
    return SlackPeople(client, engine, clock=clock, fresh_lookups=fresh_lookups, budget=budget)


def lookups(standin: SlackStandIn) -> list[str]:
    return [str(call.args.get("email")) for call in standin.calls_to(LOOKUP)]


def test_a_member_is_looked_up_once_for_every_process(
    standin: SlackStandIn, engine: Engine, still: ManualClock
) -> None:
    first = directory(standin, engine, still).for_answer()
    assert first.user_id(STEVE) == ANA
    assert first.user_id("Steve@Example.com ") == ANA  # as BrowserStack may spell it
    assert directory(standin, engine, still).for_answer().user_id(STEVE) == ANA  # a replica
    assert lookups(standin) == [STEVE]

    still.advance(FOUND_TTL.total_seconds())
    assert directory(standin, engine, still).for_answer().user_id(STEVE) == ANA
    assert lookups(standin) == [STEVE, STEVE]  # stale: asked again


def test_a_process_keeps_what_it_read_until_the_entry_expires(
    standin: SlackStandIn, engine: Engine, still: ManualClock
) -> None:
    people = directory(standin, engine, still)
    assert people.for_answer().user_id(STEVE) == ANA  # asked Slack, stored
    assert people.for_answer().user_id(STEVE) == ANA  # read from the database, kept
    with engine.begin() as tx:
        tx.execute(sa.delete(slack_people))
    assert people.for_answer().user_id(STEVE) == ANA  # from memory: no read, no lookup
    assert lookups(standin) == [STEVE]

    still.advance(FOUND_TTL.total_seconds())  # expired in memory as in the database
    assert people.for_answer().user_id(STEVE) == ANA
    assert lookups(standin) == [STEVE, STEVE]


def test_an_email_not_in_slack_is_remembered_for_a_day(
    standin: SlackStandIn, engine: Engine, still: ManualClock
) -> None:
    people = directory(standin, engine, still)
    assert people.for_answer().user_id("nobody@example.com") is None
    assert people.for_answer().user_id("nobody@example.com") is None
    assert lookups(standin) == ["nobody@example.com"]

    # They joined the workspace since: found once the negative entry is stale.
    standin.users["U0NEW"] = {
        "id": "U0NEW",
        "name": "new",
        "profile": {"email": "nobody@example.com"},
    }
    still.advance(NOT_FOUND_TTL.total_seconds())
    assert people.for_answer().user_id("nobody@example.com") == "U0NEW"
    assert len(lookups(standin)) == 2


def test_one_answer_makes_at_most_its_share_of_fresh_lookups(
    standin: SlackStandIn, engine: Engine, still: ManualClock
) -> None:
    people = directory(standin, engine, still, fresh_lookups=2)
    answer = people.for_answer()
    assert [answer.user_id(e) for e in ("a@example.com", "b@example.com", STEVE)] == [
        None,
        None,
        None,  # past the cap: named by name and email this time
    ]
    assert len(lookups(standin)) == 2
    assert people.for_answer().user_id(STEVE) == ANA  # the next answer finds them
    assert people.for_answer().user_id("a@example.com") is None  # cached: no lookup spent
    assert len(lookups(standin)) == 3


def test_every_process_draws_lookups_from_one_budget(
    standin: SlackStandIn, engine: Engine, still: ManualClock
) -> None:
    def budget() -> SharedBudget:
        return SharedBudget(engine, account=LOOKUP_BUDGET, burst=2, per_minute=1, clock=still)

    one = directory(standin, engine, still, budget=budget())
    other = directory(standin, engine, still, budget=budget())  # another replica
    assert one.for_answer().user_id("a@example.com") is None
    assert other.for_answer().user_id(STEVE) == ANA
    assert other.for_answer().user_id("ben@example.com") is None  # no lookup left just now
    assert len(lookups(standin)) == 2
    still.advance(60)  # a token back
    assert one.for_answer().user_id("ben@example.com") == BEN
    assert len(lookups(standin)) == 3


def test_rate_limits_are_waited_out_and_failures_not_remembered(
    standin: SlackStandIn, engine: Engine, still: ManualClock
) -> None:
    people = directory(standin, engine, still)
    standin.fail_next(LOOKUP, status=429, retry_after=0)
    assert people.for_answer().user_id(STEVE) == ANA  # the client's retry handler
    assert len(lookups(standin)) == 2

    standin.fail_next(LOOKUP, error="missing_scope")
    assert people.for_answer().user_id("ben@example.com") is None  # named plainly this time
    assert people.for_answer().user_id("ben@example.com") == BEN  # not cached as "not in Slack"


def test_only_private_answers_name_members_as_mentions(
    standin: SlackStandIn, engine: Engine, still: ManualClock
) -> None:
    people = directory(standin, engine, still)
    delivery = SlackDelivery(
        client=people.client, store=Store(engine), clock=still, directory=people
    )
    # A mention in a channel pings that person: public posts name everyone by name and email.
    assert delivery.people(public=True) is NOBODY
    private = delivery.people(public=False)
    assert isinstance(private, AnswerPeople)
    assert private.user_id(STEVE) == ANA
    assert (
        SlackDelivery(client=people.client, store=Store(engine), clock=still).people(public=False)
        is NOBODY
    )  # no directory (the CLI): nobody


def test_no_lookup_without_an_email(
    standin: SlackStandIn, engine: Engine, still: ManualClock
) -> None:
    answer = directory(standin, engine, still).for_answer()
    assert answer.user_id("") is None
    assert answer.user_id("not an email") is None
    assert lookups(standin) == []
    assert dt.timedelta(0) < NOT_FOUND_TTL < FOUND_TTL
