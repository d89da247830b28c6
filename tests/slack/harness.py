"""The people, channels and settings of the end-to-end tests; the stack itself is bot.stack's."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from bot.slack.standin import Msg, SlackStandIn
from bot.stack import LoopbackStack, slack_user

CHANNEL = "C0001"
OTHER_CHANNEL = "C0OUTSIDE"
ANA, BEN, GUEST = "U0ANA", "U0BEN", "U0GUEST"
PEOPLE = {
    ANA: slack_user(ANA, name="ana", email="steve@example.com", real_name="Ana"),
    BEN: slack_user(BEN, name="ben", email="ben@example.com", real_name="Ben"),
    GUEST: slack_user(GUEST, name="gus", email="gus@partner.test", real_name="Gus", guest=True),
}
# Polls and ticks fast enough for tests; a dead instance's work is taken over after 1 s.
FAST = {
    "report_poll_initial_seconds": 0.05,
    "report_poll_max_seconds": 0.2,
    "scheduler_tick_seconds": 0.05,
    "instance_stale_seconds": 1.0,
    "browserstack_rate_burst": 1000,
    "browserstack_rate_per_minute": 600_000,
}

StackFactory = Callable[..., LoopbackStack]


def work_state(stack: LoopbackStack) -> str:
    """The bot's datasets, requests and leases, for a failure report."""
    from bot.reports.store import datasets, instances, requests

    columns = [c for c in datasets.c if c.name != "report"]
    with stack.bot.engine.connect() as connection:
        rows = {
            "datasets": connection.execute(sa.select(*columns)).all(),
            "requests": connection.execute(
                sa.select(
                    requests.c.id,
                    requests.c.state,
                    requests.c.dataset_key,
                    requests.c.lease_owner,
                    requests.c.lease_until,
                )
            ).all(),
            "instances": connection.execute(sa.select(instances)).all(),
        }
    lines = [f"The bot at {stack.clock.now().isoformat()} (busy here: {stack.bot.worker.busy}):"]
    for table, found in rows.items():
        lines += [f"  {table}:"] + [f"    {tuple(row)}" for row in found]
    return "\n".join(lines)


def answers(standin: SlackStandIn, user: str, needle: str, channel: str = CHANNEL) -> list[Msg]:
    """What ``user`` sees in ``channel`` that contains ``needle`` and is not a placeholder."""
    return [
        m
        for m in standin.visible_to(user, channel)
        if needle in m.text and ":hourglass" not in str(m.blocks)
    ]


def wait_answer(standin: SlackStandIn, user: str, needle: str, channel: str = CHANNEL) -> Msg:
    """The latest answer ``user`` sees with ``needle``, once there is one."""

    def latest(s: SlackStandIn) -> Msg | None:
        found = answers(s, user, needle, channel)
        return found[-1] if found else None

    return standin.wait_for(latest)
