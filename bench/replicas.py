"""Three ``serve`` replicas on one PostgreSQL; the schedule's holder killed with -9 mid-burst.

    .venv/bin/python bench/replicas.py [--commands 100] [--users 300] [--database URL]

Everything at its production defaults: BrowserStack's limit (a burst of 5, then 15 a minute) in
the sandbox and in the bots, the sandbox's job timings (2 s queued, 3 s processing), the poll
backoff, ``INSTANCE_STALE_SECONDS`` (15). The sandbox and the Slack stand-in run here; each
replica is a real ``python -m bot serve`` process. ``--commands`` commands go round robin to the
replicas, half of them before the kill and half after (to the survivors, as a load balancer
would), and the digest is due (``DIGEST_CRON`` every minute).

Figures: the takeover (kill -> another replica holds the schedule role), requests answered
exactly once, 429s the sandbox sent, digests posted, and the time until all were answered.

Targets (the issue): all answered exactly once, 0 x 429, takeover under 30 s, one digest.
PostgreSQL: ``--database``, else ``TEST_DATABASE_URL``, else the development machines' server;
the run makes a schema of its own and drops it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.browserstack.sandbox import SandboxConfig, SandboxServer
from bot.clock import SystemClock
from bot.reports.store import RequestState, Store, requests
from bot.scheduling import SCHEDULE_ROLE
from bot.slack.standin import SlackStandIn
from bot.stack import BOT_TOKEN, SANDBOX_ACCESS_KEY, SANDBOX_USERNAME, SIGNING_SECRET
from tests.cli import clean_environment
from tests.processes.harness import CHANNEL, ServeProcess, answers_by_request, ask, bot_posts
from tests.slack.harness import PEOPLE

DEFAULT_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TEXTS = ["teams", "idle", "top 5", "team Acme team", "teams last 7d", "teams last 14d"]
TAKEOVER_TARGET = 30.0


def answered(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(
            sa.select(sa.func.count())
            .select_from(requests)
            .where(requests.c.state == RequestState.ANSWERED.value)
        ).scalar_one()


def wait(what: str, until: float, check: object) -> None:
    assert callable(check)
    while not check():
        if time.monotonic() > until:
            raise SystemExit(f"gave up waiting for {what}")
        time.sleep(0.05)


def run(database: str, commands: int, members: int) -> int:
    clock = SystemClock()
    sandbox = SandboxServer(
        SandboxConfig(
            username=SANDBOX_USERNAME,
            access_key=SANDBOX_ACCESS_KEY,
            users=members,
            seed=7,
            clock=clock,
        )
    )
    sandbox.start()
    standin = SlackStandIn(
        bot_token=BOT_TOKEN, users=PEOPLE, member_channels={CHANNEL}, clock=clock
    )
    standin.start()
    engine = sa.create_engine(database)
    # Every other setting at its default, whatever this machine's environment says.
    env = clean_environment(
        {
            "BROWSERSTACK_USERNAME": SANDBOX_USERNAME,
            "BROWSERSTACK_ACCESS_KEY": SANDBOX_ACCESS_KEY,
            "BROWSERSTACK_API_URL": sandbox.url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": standin.api_url,
            "DATABASE_URL": database,
            "PORT": "0",
            "DIGEST_CHANNEL": CHANNEL,
            "DIGEST_CRON": "* * * * *",
        }
    )
    replicas: list[ServeProcess] = []
    started = time.monotonic()
    try:
        replicas = [ServeProcess(env) for _ in range(3)]
        store = Store(engine)

        def holder() -> str | None:
            return store.role_holder(SCHEDULE_ROLE)[0]

        wait("a schedule holder", time.monotonic() + 60, holder)
        leader_id = holder()
        assert leader_id is not None
        (leader,) = [r for r in replicas if f"-{r.process.pid}-" in leader_id]
        survivors = [r for r in replicas if r is not leader]
        texts = [TEXTS[n % len(TEXTS)] for n in range(commands)]
        half = commands // 2
        acks = []
        for number, replica in enumerate(replicas):
            acks += ask(replica.url, standin, texts[number:half:3])
        leader.kill()
        killed = time.monotonic()
        for number, replica in enumerate(survivors):
            acks += ask(replica.url, standin, texts[half + number :: 2])
        wait("the takeover", killed + 120, lambda: holder() not in (None, leader_id))
        takeover = time.monotonic() - killed
        wait("every answer", time.monotonic() + 900, lambda: answered(engine) >= commands)
        all_answered = time.monotonic() - started
        wait("the digest", time.monotonic() + 300, lambda: bot_posts(standin))
        time.sleep(2)  # a second digest, if there were one, would be out by now
        counts = answers_by_request(standin)
        once = sum(1 for n in counts.values() if n == 1)
        twice = sum(1 for n in counts.values() if n > 1)
        digests = bot_posts(standin)
        ok = (
            acks == [200] * commands
            and once == commands
            and twice == 0
            and sandbox.stats.rate_limited == 0
            and takeover < TAKEOVER_TARGET
            and len(digests) == 1
        )
        print(
            f"replicas: 3 on PostgreSQL, {commands} commands, the schedule's holder killed -9;"
            f" {members:,} members in the sandbox's org"
        )
        print(f"  acknowledged             {acks.count(200)}/{commands}")
        print(f"  answered exactly once    {once}/{commands}   (more than once: {twice})")
        print(f"  BrowserStack 429s        {sandbox.stats.rate_limited}   (target 0)")
        print(f"  BrowserStack requests    {sandbox.stats.requests}")
        print(f"  takeover after the kill  {takeover:.1f} s   (target < {TAKEOVER_TARGET:.0f} s)")
        print(f"  digests posted           {len(digests)}   (target 1)")
        print(f"  all answered after       {all_answered:.1f} s from the first start")
        print("  target met" if ok else "  TARGET MISSED")
        return 0 if ok else 1
    finally:
        for replica in replicas:
            replica.stop()
        engine.dispose()
        standin.stop()
        sandbox.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commands", type=int, default=100)
    parser.add_argument("--users", type=int, default=300, help="members of the sandbox's org")
    parser.add_argument("--database", default=os.environ.get("TEST_DATABASE_URL", DEFAULT_DATABASE))
    args = parser.parse_args()
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(args.database)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        return run(f"{args.database}?options=-csearch_path%3D{schema}", args.commands, args.users)
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
