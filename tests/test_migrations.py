"""Migrations: an empty database and a round-1 one both reach head, with nothing lost.

A round-1 database is made as round 1 made it: ``create_all`` on round 1's tables (copied here
from ``git show 5497205:bot/reports/store.py`` and ``bot/digest/history.py``), with APScheduler's
``apscheduler_jobs`` beside them and no ``alembic_version``. Each test runs on SQLite and on
PostgreSQL (``database_url``).
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import pkgutil
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

import bot
from bot.browserstack.models import Product, ReportFilters, ReportKind
from bot.clock import ShiftedClock
from bot.migrations import ROUND_ONE, config, current, declared_metadata, head, upgrade
from bot.reports.question import Question, Source, Verb
from bot.reports.store import Lease, RequestState, Store, datasets, requests
from bot.slack.standin import SlackStandIn
from bot.stack import BOT_TOKEN, LoopbackStack
from bot.storage import StorageError, UTCDateTime, create_engine, metadata, open_database
from tests.conftest import FAST_RETRY, SandboxFactory, make_sandbox_client
from tests.slack.harness import ANA, BEN, CHANNEL, FAST, PEOPLE, answers, wait_answer

# Round 1's tables, as its create_all made them.
round_one = sa.MetaData()
sa.Table(
    "datasets",
    round_one,
    sa.Column("key", sa.String(120), primary_key=True),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("start", sa.Date, nullable=False),
    sa.Column("end", sa.Date, nullable=False),
    sa.Column("product", sa.String(20)),
    sa.Column("state", sa.String(12), nullable=False),
    sa.Column("job_id", sa.String(64)),
    sa.Column("job_status", sa.String(40)),
    sa.Column("polls", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("deadline_at", UTCDateTime, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("report", sa.LargeBinary),
    sa.Column("fetched_at", UTCDateTime),
    sa.Column("expires_at", UTCDateTime),
)
sa.Table(
    "requests",
    round_one,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("dataset_key", sa.String(120), index=True),
    sa.Column("command", sa.Text, nullable=False),
    sa.Column("state", sa.String(12), nullable=False),
    sa.Column("user_id", sa.String(32), nullable=False),
    sa.Column("channel_id", sa.String(32), nullable=False),
    sa.Column("team_id", sa.String(32)),
    sa.Column("response_url", sa.Text),
    sa.Column("response_url_uses", sa.Integer, nullable=False, default=0),
    sa.Column("thread_ts", sa.String(32)),
    sa.Column("placeholder_ts", sa.String(32)),
    sa.Column("last_status", sa.String(80)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("answered_at", UTCDateTime),
)
sa.Table(
    "slack_events",
    round_one,
    sa.Column("event_id", sa.String(64), primary_key=True),
    sa.Column("received_at", UTCDateTime, nullable=False),
)
sa.Table(
    "digest_history",
    round_one,
    sa.Column("week", sa.String(10), primary_key=True),
    sa.Column("channel", sa.String(64), primary_key=True),
    sa.Column("state", sa.String(12), nullable=False),
    sa.Column("late", sa.Boolean, nullable=False, default=False),
    sa.Column("claimed_at", UTCDateTime, nullable=False),
    sa.Column("posted_at", UTCDateTime),
    sa.Column("message_ts", sa.String(32)),
    sa.Column("snapshot", sa.LargeBinary),
)
# APScheduler 3's SQLAlchemyJobStore table, which round 1's scheduler kept in the same database.
apscheduler_jobs = sa.Table(
    "apscheduler_jobs",
    sa.MetaData(),
    sa.Column("id", sa.Unicode(191), primary_key=True),
    sa.Column("next_run_time", sa.Float(25), index=True),
    sa.Column("job_state", sa.LargeBinary, nullable=False),
)

WAITING, ANSWERED, TOMBSTONE = "r1waiting", "r1answered", "r1tombstone"


@dataclass(frozen=True)
class RoundOne:
    """What a round-1 database was made with."""

    start: dt.date
    end: dt.date
    pending_key: str
    ready_key: str
    created_at: dt.datetime


def command_json(**fields: Any) -> str:
    """A command dict as round 1 stored it (``answers.command_record``, sorted keys)."""
    command = {
        "verb": "help",
        "target": None,
        "target_user_id": None,
        "product": None,
        "count": 10,
        "thread": False,
        "public": False,
        "period_label": "the last 14 days",
        "describe": "",
        "source": "command",
    }
    return json.dumps({**command, **fields}, sort_keys=True)


def make_round_one(
    url: str,
    *,
    now: dt.datetime,
    response_url: str = "https://hooks.slack.test/commands/1",
    job_id: str | None = None,
) -> RoundOne:
    """Round 1's shape: a waiting request, an answered one, a tombstone, digests, APScheduler."""
    end = now.date()
    start = end - dt.timedelta(days=14)
    made = RoundOne(
        start=start,
        end=end,
        pending_key=f"user:{start}:{end}:all",
        ready_key=f"team:{start}:{end}:all",
        created_at=now - dt.timedelta(minutes=2),
    )
    engine = sa.create_engine(url)
    try:
        round_one.create_all(engine)
        apscheduler_jobs.create(engine)
        t = round_one.tables
        with engine.begin() as tx:
            tx.execute(
                sa.insert(t["datasets"]),
                [
                    {
                        "key": made.pending_key,
                        "kind": "user",
                        "start": start,
                        "end": end,
                        "product": None,
                        "state": "pending",
                        "job_id": job_id,
                        "job_status": "enqueued" if job_id else None,
                        "polls": 1 if job_id else 0,
                        "created_at": made.created_at,
                        "deadline_at": now + dt.timedelta(minutes=30),
                        "error": None,
                        "report": None,
                        "fetched_at": None,
                        "expires_at": None,
                    },
                    {
                        "key": made.ready_key,
                        "kind": "team",
                        "start": start,
                        "end": end,
                        "product": None,
                        "state": "ready",
                        "job_id": "job-team-1",
                        "job_status": "completed",
                        "polls": 3,
                        "created_at": now - dt.timedelta(hours=2),
                        "deadline_at": now - dt.timedelta(hours=1),
                        "error": None,
                        "report": b"\x81\xa5teams\x90",
                        "fetched_at": now - dt.timedelta(hours=2),
                        "expires_at": now - dt.timedelta(hours=1),
                    },
                ],
            )
            base = {
                "team_id": "T0001",
                "thread_ts": None,
                "placeholder_ts": None,
                "last_status": None,
                "answered_at": None,
                "response_url_uses": 0,
            }
            tx.execute(
                sa.insert(t["requests"]),
                [
                    {
                        **base,
                        "id": WAITING,
                        "dataset_key": made.pending_key,
                        "command": command_json(
                            verb="top", product="live_testing", count=5, describe="top live 5"
                        ),
                        "state": "waiting",
                        "user_id": ANA,
                        "channel_id": CHANNEL,
                        "response_url": response_url,
                        "response_url_uses": 1,
                        "last_status": "queued",
                        "created_at": made.created_at,
                    },
                    {
                        **base,
                        "id": ANSWERED,
                        "dataset_key": made.ready_key,
                        "command": command_json(
                            verb="team",
                            target="Acme team",
                            describe="team Acme team",
                            source="mention",
                            public=True,
                        ),
                        "state": "answered",
                        "user_id": BEN,
                        "channel_id": CHANNEL,
                        "response_url": None,
                        "thread_ts": "1700000000.000100",
                        "placeholder_ts": "1700000000.000200",
                        "created_at": now - dt.timedelta(hours=2),
                        "answered_at": now - dt.timedelta(hours=2),
                    },
                    {
                        # Cancel clicked before the request was stored: round 1's tombstone.
                        **base,
                        "id": TOMBSTONE,
                        "dataset_key": None,
                        "command": "{}",
                        "state": "cancelled",
                        "user_id": ANA,
                        "channel_id": CHANNEL,
                        "response_url": "https://hooks.slack.test/actions/2",
                        "created_at": now - dt.timedelta(minutes=5),
                    },
                ],
            )
            tx.execute(
                sa.insert(t["digest_history"]),
                [
                    {
                        "week": "2026-W47",
                        "channel": CHANNEL,
                        "state": "posted",
                        "late": False,
                        "claimed_at": dt.datetime(2026, 11, 16, 9, 0, 1, tzinfo=dt.UTC),
                        "posted_at": dt.datetime(2026, 11, 16, 9, 0, 4, 250000, tzinfo=dt.UTC),
                        "message_ts": "1763283604.000300",
                        "snapshot": zlib.compress(b'{"ana@example.com":["automate"]}'),
                    },
                    {
                        "week": "2026-W48",
                        "channel": CHANNEL,
                        "state": "posted",
                        "late": True,
                        "claimed_at": dt.datetime(2026, 11, 24, 10, 30, tzinfo=dt.UTC),
                        "posted_at": dt.datetime(2026, 11, 24, 10, 30, 7, tzinfo=dt.UTC),
                        "message_ts": "1763980207.000400",
                        "snapshot": zlib.compress(bytes(range(256)) * 40),
                    },
                ],
            )
            tx.execute(sa.insert(t["slack_events"]).values(event_id="Ev01", received_at=now))
            tx.execute(
                sa.insert(apscheduler_jobs),
                [
                    {"id": f"poll:{made.pending_key}", "next_run_time": 1.5e9, "job_state": b"x"},
                    {"id": "weekly-digest", "next_run_time": 1.6e9, "job_state": b"y"},
                ],
            )
    finally:
        engine.dispose()
    return made


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """The bot's own engine on the test's database (nothing created in it yet)."""
    made = create_engine(database_url)
    yield made
    made.dispose()


def code_metadata() -> sa.MetaData:
    """Every table the code declares, wherever in ``bot`` it is declared."""
    for module in pkgutil.walk_packages(bot.__path__, "bot."):
        if not module.name.startswith(("bot.migrations.", "bot.__main__")):
            importlib.import_module(module.name)
    return metadata


def differences(engine: Engine, target: sa.MetaData) -> list[Any]:
    """Schema differences from ``target``: tables, columns, types, nulls, indexes, defaults."""
    with engine.connect() as connection, connection.begin():
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, target))


def tables(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def rows(engine: Engine, table: str) -> list[tuple[Any, ...]]:
    """A table's rows as the driver returns them (no type processing), in key order."""
    with engine.connect() as connection, connection.begin():
        result = connection.exec_driver_sql(f"SELECT * FROM {table}")  # noqa: S608  # ours
        return sorted(tuple(row) for row in result)


def test_the_migrations_know_every_table_of_the_code() -> None:
    assert set(declared_metadata().tables) == set(code_metadata().tables)


def test_an_empty_database_upgrades_to_the_code_schema(engine: Engine) -> None:
    assert current(engine) is None
    upgrade(engine)
    assert current(engine) == head() == "0008"
    assert differences(engine, code_metadata()) == []


def test_every_revision_from_the_first_makes_the_code_schema(engine: Engine) -> None:
    # A new database is made from the code's tables and stamped head (fast); databases that
    # upgrade run the revisions: both must end with the same schema.
    with engine.begin() as connection:
        command.upgrade(config(connection), "head")
    assert current(engine) == head()
    assert differences(engine, code_metadata()) == []


def test_revision_0001_is_round_one(engine: Engine) -> None:
    with engine.begin() as connection:
        command.upgrade(config(connection), ROUND_ONE)
    target = sa.MetaData()
    for table in round_one.tables.values():
        table.to_metadata(target)
    assert differences(engine, target) == []


def test_a_round_one_database_upgrades_without_losing_anything(
    engine: Engine, database_url: str, clock: ShiftedClock
) -> None:
    now = clock.now()
    made = make_round_one(database_url, now=now)
    digests = rows(engine, "digest_history")
    events = rows(engine, "slack_events")
    assert current(engine) is None  # round 1 had no migrations

    upgrade(engine)

    assert current(engine) == head()
    assert differences(engine, code_metadata()) == []
    assert "apscheduler_jobs" not in tables(engine)
    # The very bytes, and no error (0004's column, last) on digests that were posted.
    assert [row[:-1] for row in rows(engine, "digest_history")] == digests
    assert {row[-1] for row in rows(engine, "digest_history")} <= {None}
    assert rows(engine, "slack_events") == events

    store = Store(engine)
    waiting = store.request(WAITING)
    assert waiting is not None
    assert waiting.state is RequestState.WAITING
    assert waiting.dataset_key == made.pending_key
    assert waiting.question == Question(
        verb=Verb.TOP,
        start=made.start,
        end=made.end,
        period_label="the last 14 days",
        describe="top live 5",
        source=Source.COMMAND,
        product=Product.LIVE,
        count=5,
    )
    assert (waiting.response_url_uses, waiting.last_status, waiting.attempts) == (1, "queued", 1)
    answered = store.request(ANSWERED)
    assert answered is not None
    assert answered.state is RequestState.ANSWERED
    assert (answered.question.verb, answered.question.target) == (Verb.TEAM, "Acme team")
    assert (answered.question.source, answered.question.public) == (Source.MENTION, True)
    assert (answered.thread_ts, answered.placeholder_ts) == (
        "1700000000.000100",
        "1700000000.000200",
    )
    tombstone = store.request(TOMBSTONE)
    assert tombstone is not None
    assert (tombstone.state, tombstone.dataset_key) == (RequestState.CANCELLED, "")
    with engine.connect() as connection, connection.begin():
        for row in connection.execute(sa.select(requests.c.question)):
            Question.decode(row.question)  # every row's question reads back

    pending = store.dataset(made.pending_key)
    assert pending is not None
    assert pending.next_step_at == made.created_at  # due at once, whatever the clock
    assert (pending.unanswered_creates, pending.delete_job) == (0, False)
    ready = store.dataset(made.ready_key)
    assert ready is not None
    assert ready.next_step_at is None
    with engine.connect() as connection, connection.begin():
        blob = connection.execute(
            sa.select(datasets.c.report).where(datasets.c.key == made.ready_key)
        ).scalar()
    assert blob == b"\x81\xa5teams\x90"
    # The work loop sees the dataset as due and the waiting request as waiting on it.
    lease = Lease(owner="test", now=now, until=now + dt.timedelta(seconds=30), live_since=now)
    assert store.due_datasets(lease, limit=10) == [made.pending_key]
    assert [r.id for r in store.waiting_requests(made.pending_key)] == [WAITING]


def test_upgrading_twice_changes_nothing(
    engine: Engine, database_url: str, clock: ShiftedClock
) -> None:
    make_round_one(database_url, now=clock.now())
    upgrade(engine)
    before = {table: rows(engine, table) for table in tables(engine)}
    upgrade(engine)
    assert current(engine) == head()
    assert {table: rows(engine, table) for table in tables(engine)} == before


def assert_upgraded_once(database_url: str, *, requests_kept: int) -> None:
    """At head, with the code's schema and the requests there were."""
    engine = create_engine(database_url)
    try:
        assert current(engine) == head()
        assert differences(engine, code_metadata()) == []
        with engine.connect() as connection, connection.begin():
            count = connection.execute(sa.select(sa.func.count()).select_from(requests))
            assert count.scalar_one() == requests_kept
    finally:
        engine.dispose()


@pytest.mark.parametrize("start", ["empty", "round 1"])
def test_two_threads_upgrading_at_once_both_succeed(
    database_url: str, clock: ShiftedClock, start: str
) -> None:
    if start == "round 1":
        make_round_one(database_url, now=clock.now())
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def start_up() -> None:
        barrier.wait()
        try:
            open_database(database_url).dispose()  # an engine of its own
        except BaseException as error:  # reported below, with the other thread's outcome
            failures.append(error)

    threads = [threading.Thread(target=start_up) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert_upgraded_once(database_url, requests_kept=3 if start == "round 1" else 0)


# Imports, says it is ready, then opens the database when told to: so the processes' upgrades
# start together, not a second apart as their imports would have them.
_STARTER = """
import sys
from bot.storage import open_database
print("ready", flush=True)
sys.stdin.readline()
open_database(sys.argv[1]).dispose()
"""


@pytest.mark.parametrize("start", ["empty", "round 1"])
def test_two_processes_starting_at_once_both_succeed(
    database_url: str, clock: ShiftedClock, start: str
) -> None:
    """Across processes only the database's lock keeps the upgrades apart."""
    if start == "round 1":
        make_round_one(database_url, now=clock.now())
    processes = [
        subprocess.Popen(  # noqa: S603 - our own interpreter, on our own code
            [sys.executable, "-c", _STARTER, database_url],
            cwd=Path(__file__).parents[1],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            assert process.stdout.readline() == "ready\n"
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        for process in processes:
            _, errors = process.communicate(timeout=120)
            assert process.returncode == 0, errors
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert_upgraded_once(database_url, requests_kept=3 if start == "round 1" else 0)


def test_downgrade_to_round_one_and_back_keeps_the_rows(
    engine: Engine, database_url: str, clock: ShiftedClock
) -> None:
    make_round_one(database_url, now=clock.now())
    digests = rows(engine, "digest_history")
    upgrade(engine)
    with engine.begin() as connection:
        command.downgrade(config(connection), ROUND_ONE)
    target = sa.MetaData()
    for table in round_one.tables.values():
        table.to_metadata(target)
    assert differences(engine, target) == []
    with engine.connect() as connection, connection.begin():
        commands = dict(
            connection.exec_driver_sql("SELECT id, command FROM requests").tuples().all()
        )
    assert json.loads(commands[WAITING]) == json.loads(
        command_json(verb="top", product="live_testing", count=5, describe="top live 5")
    )
    upgrade(engine)
    assert differences(engine, code_metadata()) == []
    assert [row[:-1] for row in rows(engine, "digest_history")] == digests
    assert Store(engine).request(WAITING) is not None


def test_a_database_made_before_migrations_with_todays_tables_is_stamped(engine: Engine) -> None:
    code_metadata().create_all(engine)
    upgrade(engine)
    assert current(engine) == head()


def test_a_database_it_cannot_upgrade_is_one_line_naming_database_url(
    engine: Engine, database_url: str
) -> None:
    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
    with pytest.raises(StorageError, match=r"DATABASE_URL \(.*\) cannot be used: .*0099.*newer"):
        open_database(database_url)


def test_tables_of_an_unknown_shape_are_refused(engine: Engine, database_url: str) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE requests (id VARCHAR(32) PRIMARY KEY)")
    with pytest.raises(StorageError, match=r"DATABASE_URL .* not those of any release"):
        open_database(database_url)


def test_a_round_one_request_is_answered_after_the_upgrade(
    database_url: str, clock: ShiftedClock, sandbox_factory: SandboxFactory
) -> None:
    """The bot, upgrading round 1's database as it starts, answers what round 1 left waiting."""
    # From the BrowserStack job round 1 had started, replacing round 1's placeholder.
    sandbox = sandbox_factory(queued_seconds=0.3, processing_seconds=0.2)
    with SlackStandIn(
        bot_token=BOT_TOKEN, users=PEOPLE, member_channels={CHANNEL}, clock=clock
    ) as standin:
        # Round 1 acknowledged the command with a placeholder, then stopped mid-poll.
        response_url = standin.new_response_url(channel=CHANNEL, user=ANA)
        standin.record_ack(response_url, {"text": ":hourglass: Finding the top users"})
        end = clock.now().date()
        with make_sandbox_client(sandbox) as client:
            job_id = client.create_job(
                ReportKind.USER, ReportFilters(start=end - dt.timedelta(days=14), end=end)
            )
        made = make_round_one(
            database_url, now=clock.now(), response_url=response_url, job_id=job_id
        )

        stack = LoopbackStack(
            clock=clock,
            database=database_url,
            sandbox=sandbox,
            standin=standin,
            settings=FAST,
            retry=FAST_RETRY,
        )
        with stack:
            answer = wait_answer(standin, ANA, "Top")
            assert (answer.ephemeral, answer.visible_to) == (True, ANA)
            # The placeholder was replaced in place: one message, the answer.
            assert standin.ephemeral(CHANNEL, ANA) == [answer]
            assert answers(standin, ANA, "Top") == [answer]
            assert sandbox.stats.jobs_created == 1  # round 1's job, not a new one
    # Stopped, so the answer's bookkeeping is done too.
    engine = create_engine(database_url)
    try:
        request = Store(engine).request(WAITING)
        assert request is not None
        assert (request.state, request.dataset_key) == (RequestState.ANSWERED, made.pending_key)
    finally:
        engine.dispose()
